#!/bin/bash
# While a create waits for a slow writer, another set running low on
# difference storage (STORAGE_LOW) still gets grow-size more: the daemon
# handles the module's events during a session's waits, so the set stays
# valid through a full overwrite of its origin and its image reads what the
# origin held at its take.
# tier: once
# cost: 45
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.bash"

make_loop st 96
make_loop raw 16
make_loop raw2 8
printf 'set-size 4M\ngrow-size 8M\ndevice %s\n' "$st" > "$CONF/storage.conf"
# holds prepare-backup until /tmp/go appears
add_writer "$CONF" slow back-end '
if [ "$1" = prepare-backup ]; then
	for ((i = 0; i < 900; i++)); do [ -e /tmp/go ] && break; sleep 0.1; done
fi' 'event-timeout 120s'
rm -f "$EVENTS" /tmp/go
load_module
start_daemon --config-dir "$CONF"
on_exit delete_all_sets

dd if=/dev/urandom of=/tmp/pattern-a bs=1M count=16 status=none
dd if=/dev/urandom of=/tmp/pattern-b bs=1M count=16 status=none
dd if=/tmp/pattern-a of="$raw" bs=1M oflag=direct status=none
run_rc out err rc "$SNAPCTL" create --no-writers --chunk-size 64K "$raw"
skip_if_unsupported "$err"
check_eq "$rc" 0 "create (stderr: $err)"
id=$(echo "$out" | sed -n 1p)
img=$(echo "$out" | sed -n 2p | awk '{print $2}')

# a second create, held by its writer
"$SNAPCTL" create "$raw2" > /tmp/create2.out 2> /tmp/create2.err &
cpid=$!
wait_for 30 grep -qx "slow prepare-backup" "$EVENTS" || fail "the writer got no prepare-backup"

# meanwhile the first set's origin is overwritten, 4 times its storage
overwrite_slowly /tmp/pattern-b "$raw"
grep -qx "slow prepare-snapshot" "$EVENTS" && fail "the writer let go too early"
touch /tmp/go
rc=0
wait "$cpid" || rc=$?
check_eq "$rc" 0 "the held create (stderr: $(cat /tmp/create2.err))"

out=$("$SNAPCTL" show "$id")
echo "$out" | grep -q "^  state:    taken$" || { show_log; fail "set $id not taken any more: $out"; }
grep -q "set $id ran low on storage: 8 MiB added" "$DAEMON_LOG" || { show_log; fail "no growth logged"; }
cmp /tmp/pattern-a "$img" || fail "image differs from the origin at the take"
cmp /tmp/pattern-b "$raw" || fail "origin lost writes"
delete_all_sets
check_eq "$(storage_used)" 0 "storage after delete"
stop_daemon
