#!/bin/bash
# cowsnapd killed with SIGKILL while writers are frozen: the writer holding
# its application frozen is released within 10 s (its stdin ends), the
# kernel aborts the set being defined (no volume stays marked), and a
# restarted daemon frees that set's storage and takes sets again.
# tier: once
# cost: 30
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.bash"

make_loop st 64
make_loop raw 8
printf 'set-size 16M\ndevice %s\n' "$st" > "$CONF/storage.conf"
add_writer "$CONF" db back-end '
if [ "$1" = freeze ]; then echo frozen; cat > /dev/null; record released; fi'
add_writer "$CONF" slow system '
if [ "$1" = freeze ]; then exec sleep 60; fi' 'freeze-timeout 120s'
rm -f "$EVENTS"
load_module
start_daemon --config-dir "$CONF"

"$SNAPCTL" create "$raw" > /tmp/create.out 2> /tmp/create.err &
creator=$!
wait_for 30 grep -qx "slow freeze" "$EVENTS" || fail "slow writer never got freeze"
grep -qx "db freeze" "$EVENTS" || fail "db writer not frozen"
grep -qx "db released" "$EVENTS" && fail "db released before the kill"
kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=
killed=$(date +%s)
wait_for 10 grep -qx "db released" "$EVENTS" || fail "db writer still frozen 10 s after the kill"
echo "# db writer released $(( $(date +%s) - killed )) s after the kill"
set +e
wait "$creator"
rc=$?
set -e
check_eq "$rc" 3 "snapctl's exit status when the daemon dies under it"
pkill -f "sleep 60" || true

# the kernel dropped the defining set: nothing marks the volume
run_rc out err rc "$NLCTL" get
check_eq "$out" "" "sets in the module after the kill"

rm -f /run/cowsnap/cowsnapd.sock
start_daemon --config-dir "$CONF"
check_eq "$(storage_used)" 0 "storage after the restart"
run_rc out err rc "$SNAPCTL" create --no-writers "$raw"
check_eq "$rc" 0 "create after the restart (stderr: $err)"
"$SNAPCTL" delete --all > /dev/null
