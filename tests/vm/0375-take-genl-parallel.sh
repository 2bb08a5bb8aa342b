#!/bin/bash
# Issue 10, item 8: a take that waits (here for a write in flight on a slow
# volume, up to the hold time) must not stop every other generic-netlink
# family of the machine: `genl ctrl list` (the nlctrl family) answers, and
# closes its socket, while the take is still running.  The old module held
# genl_mutex for the take, and its socket-release notifier waited for the
# take's lock on every generic-netlink socket that closed.
# timeout: 120
# tier: full
# cost: 18
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/03-helpers.bash"

need SET_NEW SET_ADD_VOLUME SET_ADD_STORAGE SET_TAKE SET_GET SET_DESTROY
command -v genl > /dev/null || skip "no genl (iproute2)"
brd 2 64
# before the module's cleanups: removed after the set that holds it
dm_delay cs0375 /dev/ram0 0 6000
dev=$DM_DEV
load_module_03

sess_start
new_set --hold-ms 20000
s add-volume "$SET" "$dev"
s add-storage "$SET" /dev/ram1 0 65536
# A write that takes 6 s, counted in flight by the tracker: the take's
# drain waits for it.
dd if=/dev/zero of="$dev" bs=4k count=1 oflag=direct status=none &
dd_pid=$!
sleep 1
printf '%s\n' "take $SET" >&"$SESS_IN"
sleep 1
timeout 30 genl ctrl list > "$T/genl" 2>&1 || fail "genl ctrl list failed: $(head -n 3 "$T/genl")"
grep -q "Name: nlctrl" "$T/genl" || fail "genl ctrl list printed no family: $(head -n 3 "$T/genl")"
# The take's answer must not be there yet: genl answered during the take.
if read -r -t 0.1 line <&"$SESS_OUTFD"; then
	fail "genl ctrl list answered only after the take had ($line): the take blocked other genetlink families"
fi
IFS= read -r -t 60 line <&"$SESS_OUTFD" || fail "the take did not answer"
while [[ $line != "done "* ]]; do
	IFS= read -r -t 60 line <&"$SESS_OUTFD" || fail "the take did not finish"
done
check_eq "$line" "done 0" "the take"
wait "$dd_pid" || fail "the slow write failed"
s destroy "$SET"
sess_kill
