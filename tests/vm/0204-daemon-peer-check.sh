#!/bin/bash
# cowsnapd refuses a non-root client (SO_PEERCRED) with a message that says
# why, exit status 4, and keeps serving root.  With --group, members of that
# group are served: they may back up and delete the sets they created, but
# not add storage or delete root's sets (refused with exit 4 and the reason).
# tier: once
# cost: 30
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
# refusals are logged 5 per 10 s at most: 12 more, quickly
for i in $(seq 12); do "${nobody[@]}" "$SNAPCTL" version > /dev/null 2>&1 || :; done
n=$(grep -c "refused client pid [0-9]* uid 65534" "$DAEMON_LOG")
[ "$n" -le 5 ] || fail "$n refusals logged within 10 s (at most 5)"
grep -qE "more refused connection.* in the next 10 s are not logged" "$DAEMON_LOG" ||
	{ show_log; fail "no note that refusals are not logged"; }
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

# What the group may do: back up and delete its own sets; storage, other
# users' sets (and writer registration, restores: unit-tested) are root's.
stop_daemon
make_loop st 64
make_loop vol 16
make_loop st2 16
printf 'set-size 16M\ndevice %s\n' "$st" > "$CONF/storage.conf"
start_daemon --group "$group" --config-dir "$CONF"
on_exit delete_all_sets
run_rc out err rc "${nobody[@]}" "$SNAPCTL" storage add "$st2"
check_eq "$rc" 4 "storage add by a member of $group"
echo "$err" | grep -qF "\`storage_add' is root's" || fail "storage add refusal: $err"
grep -qx "device $st2" "$CONF/storage.conf" && fail "a member of $group added storage"
run_rc out err rc "$SNAPCTL" create --no-writers "$vol"
skip_if_unsupported "$err"
check_eq "$rc" 0 "create by root (stderr: $err)"
rootset=$(echo "$out" | sed -n 1p)
run_rc out err rc "${nobody[@]}" "$SNAPCTL" delete "$rootset"
check_eq "$rc" 4 "delete of root's set by a member of $group"
echo "$err" | grep -qF "only its creator or root may delete it" || fail "delete refusal: $err"
run_rc out err rc "${nobody[@]}" "$SNAPCTL" create --no-writers "$vol"
check_eq "$rc" 0 "create by a member of $group (stderr: $err)"
myset=$(echo "$out" | sed -n 1p)
run_rc out err rc "${nobody[@]}" "$SNAPCTL" delete --all
check_eq "$rc" 0 "delete --all by a member of $group (stderr: $err)"
sets=$("$SNAPCTL" list sets | tail -n +2 | awk '{ print $1 }' | tr '\n' ' ')
check_eq "$sets" "$rootset " "sets left after the member's delete --all (its own was $myset)"
"$SNAPCTL" delete "$rootset" > /dev/null || fail "root cannot delete its set"
