#!/bin/bash
# cowsnapd refuses a non-root client (SO_PEERCRED) with a message that says
# why, exit status 4, and keeps serving root.  With --group, members of that
# group are served.
# tier: once
# cost: 20
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.bash"

nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
load_module
start_daemon
ver=$(built_version)

run_rc out err rc "${nobody[@]}" "$SNAPCTL" version
check_eq "$rc" 4 "exit status for uid 65534"
check_eq "$out" "snapctl $ver" "stdout for uid 65534"
echo "$err" | grep -qF "cowsnapd at $SOCK refused: permission denied: uid 65534 is not root" ||
	fail "refusal does not say why: $err"
grep -q "refused client pid [0-9]* uid 65534" "$DAEMON_LOG" || { show_log; fail "refusal not logged"; }
out=$("$SNAPCTL" version) || fail "root refused after a refused client"
check_eq "$(echo "$out" | wc -l)" 3 "root's answer"
stop_daemon

# --group: gid 65534 (nogroup) may talk, other users still may not
group=$(getent group 65534 | cut -d: -f1)
[ -n "$group" ] || skip "no group with gid 65534"
start_daemon --group "$group"
run_rc out err rc "${nobody[@]}" "$SNAPCTL" version
check_eq "$rc" 0 "exit status for a member of $group (stderr: $err)"
check_eq "$(echo "$out" | sed -n 3p)" "cowsnap.ko $(cat /sys/module/cowsnap/version) (netlink protocol 1)" \
	"module line for a member of $group"
run_rc out err rc setpriv --reuid=65534 --regid=65533 --clear-groups "$SNAPCTL" version
check_eq "$rc" 4 "exit status for uid 65534 outside $group"
echo "$err" | grep -qF "not in group $group" || fail "refusal does not name the group: $err"
