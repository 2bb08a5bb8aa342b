#!/bin/bash
# Issue 3, must hold 5: set locking and volume marking.  One DEFINING set at
# a time (EBUSY for a second SET_NEW, from any socket); a volume in a
# defining set is marked (VOLUME_GET) and cannot be added twice; closing the
# owner's socket aborts a DEFINING set and drops its marks; an auto-release
# set dies with its owner's socket (SET_DESTROYED, image gone); a persistent
# one survives its owner, keeps its content, and goes on SET_DESTROY.
# tier: full
# cost: 24
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/03-helpers.bash"

need SET_NEW SET_ADD_VOLUME SET_ADD_STORAGE SET_TAKE SET_GET SET_DESTROY VOLUME_GET
brd 3 32
load_module_03
events_start "$T/events"
"$BLKSTAMP" fill /dev/ram0 --version 1
d0=$(devnum /dev/ram0)

mark_of() {
	"$NLCTL" volume-get "$1" | awk '$1 == "tracked" { for (i = 3; i <= NF; i++) if (index($i, "mark=") == 1) print substr($i, 6) }'
}

# --- the set lock and marks ---
sess_start
new_set
A=$SET
s add-volume "$A" /dev/ram0
check_eq "$(mark_of /dev/ram0)" "$A" "mark of ram0 while in defining set $A"
expect_rc 16 "$NLCTL" set-new
grep -q "Device or resource busy" "$T/expect_rc.out" || fail "no EBUSY message: $(cat "$T/expect_rc.out")"
sess_run set-new
check_eq "$SESS_RC" 16 "second SET_NEW on the owner's own socket"
sess_run add-volume "$A" /dev/ram0
check_eq "$SESS_RC" 17 "adding a marked volume to its own set again"
# Still exactly one set, DEFINING.
check_eq "$("$NLCTL" get | grep -c '^set ')" 1 "sets after the refused SET_NEWs"
check_eq "$(set_field "$A" state)" DEFINING "state of $A"

# --- the owner's socket closes: the DEFINING set is aborted, marks dropped ---
sess_kill
wait_for 10 sh -c "! '$NLCTL' get $A > /dev/null 2>&1" || fail "defining set $A survived its owner"
expect_rc 2 "$NLCTL" get "$A"
m=$(mark_of /dev/ram0)
[ -z "$m" ] || [ "$m" = 0 ] || fail "ram0 still marked ($m) after its set was aborted"
# The lock is free again and ram0 can be added to a new set.
sess_start
new_set
B=$SET
s add-volume "$B" /dev/ram0
check_eq "$(mark_of /dev/ram0)" "$B" "mark of ram0 in set $B"
s destroy "$B"
m=$(mark_of /dev/ram0)
[ -z "$m" ] || [ "$m" = 0 ] || fail "ram0 still marked ($m) after SET_DESTROY"

# --- auto-release: the TAKEN set dies with its owner ---
new_set --auto-release
C=$SET
s add-volume "$C" /dev/ram0
s add-storage "$C" /dev/ram1 0 $((32 * 2048))
s take "$C"
img=$(image_of "$C" /dev/ram0)
m=$(mark_of /dev/ram0)
[ -z "$m" ] || [ "$m" = 0 ] || fail "ram0 still marked ($m) by a TAKEN set"
"$BLKSTAMP" verify "$img" --version 1 > /dev/null || fail "auto-release image wrong"
sess_kill
wait_for 10 sh -c "! '$NLCTL' get $C > /dev/null 2>&1" || fail "auto-release set $C survived its owner"
wait_for 10 test ! -b "$img" || fail "$img still there after its auto-release set went"
wait_for 10 grep -q "^event SET_DESTROYED set=$C\$" "$T/events" || fail "no SET_DESTROYED for $C: $(cat "$T/events")"

# --- persistent: the TAKEN set outlives its owner ---
sess_start
new_set --persistent
P=$SET
s add-volume "$P" /dev/ram0
s add-storage "$P" /dev/ram2 0 $((32 * 2048))
s take "$P"
img=$(image_of "$P" /dev/ram0)
sess_kill
sleep 2
check_eq "$(set_field "$P" state)" TAKEN "persistent set after its owner went"
test -b "$img" || fail "$img gone with the owner of a persistent set"
"$BLKSTAMP" fill /dev/ram0 --version 2
"$BLKSTAMP" verify "$img" --version 1 > /dev/null || fail "persistent image changed"
grep -q "^event SET_DESTROYED set=$P\$" "$T/events" && fail "SET_DESTROYED for persistent set $P"
# Another socket may take the lock meanwhile.
sess_start
new_set
s destroy "$SET"
sess_kill
"$NLCTL" destroy "$P" || fail "SET_DESTROY of the persistent set"
expect_rc 2 "$NLCTL" get "$P"
wait_for 10 test ! -b "$img" || fail "$img still there after SET_DESTROY"
wait_for 10 grep -q "^event SET_DESTROYED set=$P\$" "$T/events" || fail "no SET_DESTROYED for $P: $(cat "$T/events")"
"$BLKSTAMP" verify /dev/ram0 --version 2 > /dev/null || fail "origin wrong at the end"
