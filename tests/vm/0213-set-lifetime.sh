#!/bin/bash
# A set made without --persistent goes when cowsnapd stops (its netlink
# socket owns it); a --persistent one survives, and a restarted daemon lists
# it, keeps its storage ranges taken (storage.state) and can delete it.
# tier: once
# cost: 12
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.bash"

make_loop st 128
make_loop a 16
make_loop b 16
printf 'set-size 24M\ndevice %s\n' "$st" > "$CONF/storage.conf"
load_module
start_daemon --config-dir "$CONF"
on_exit delete_all_sets

run_rc out err rc "$SNAPCTL" create "$a"
skip_if_unsupported "$err"
check_eq "$rc" 0 "create $a (stderr: $err)"
auto=$(echo "$out" | sed -n 1p)
pers=$("$SNAPCTL" create --persistent "$b" | sed -n 1p) || fail "create --persistent $b"
check_eq "$("$SNAPCTL" list sets | tail -n +2 | wc -l)" 2 "sets before the restart"

stop_daemon
start_daemon --config-dir "$CONF"
sets=$("$SNAPCTL" list sets | tail -n +2)
check_eq "$(echo "$sets" | awk '{print $1}')" "$pers" "sets after a restart"
echo "$sets" | grep -Eq "^$pers +- +taken +persistent .* $b=/dev/cowsnap[0-9]+$" || fail "persistent set: $sets"
used=$(storage_used)
check_eq "$used" 49152 "storage still held by the persistent set only"
grep -q "^$pers " /run/cowsnap/storage.state || fail "storage.state lacks set $pers"
grep -q "^$auto " /run/cowsnap/storage.state && fail "storage.state still has set $auto"

# a new set does not get the persistent set's ranges
out=$("$SNAPCTL" create "$a") || fail "create after the restart"
check_eq "$(storage_used)" 98304 "storage used by two sets"
check_eq "$("$SNAPCTL" delete "$pers")" "deleted set $pers" "delete after a restart"
