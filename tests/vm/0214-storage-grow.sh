#!/bin/bash
# A set running low on difference storage (the module's STORAGE_LOW event)
# gets grow-size more from cowsnapd, so that it stays valid while its whole
# origin is overwritten: the image still reads what the origin held at the
# take.
# tier: once
# cost: 56
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.bash"

make_loop st 64
make_loop raw 16
printf 'set-size 4M\ngrow-size 8M\ndevice %s\n' "$st" > "$CONF/storage.conf"
load_module
start_daemon --config-dir "$CONF"
on_exit delete_all_sets

dd if=/dev/urandom of=/tmp/pattern-a bs=1M count=16 status=none
dd if=/dev/urandom of=/tmp/pattern-b bs=1M count=16 status=none
dd if=/tmp/pattern-a of="$raw" bs=1M oflag=direct status=none
run_rc out err rc "$SNAPCTL" create --chunk-size 64K "$raw"
skip_if_unsupported "$err"
check_eq "$rc" 0 "create (stderr: $err)"
id=$(echo "$out" | sed -n 1p)
img=$(echo "$out" | sed -n 2p | awk '{print $2}')

# overwrite the origin 256 KiB at a time, slowly enough for the daemon
overwrite_slowly /tmp/pattern-b "$raw"
out=$("$SNAPCTL" show "$id")
echo "$out" | grep -q "^  state:    taken$" || { show_log; fail "set $id not taken any more: $out"; }
given=$("$SNAPCTL" --json show "$id" | tr -d ' \n' | grep -o '"storage_sectors":[0-9]*' | cut -d: -f2)
[ "$given" -ge $(( (4 + 8 + 8) * 2048 )) ] || { show_log; fail "storage did not grow twice: $given sectors"; }
grep -q "set $id ran low on storage: 8 MiB added" "$DAEMON_LOG" || { show_log; fail "no growth logged"; }
cmp /tmp/pattern-a "$img" || fail "image differs from the origin at the take"
cmp /tmp/pattern-b "$raw" || fail "origin lost writes"
check_eq "$(storage_used)" "$given" "storage the daemon counts as given"
