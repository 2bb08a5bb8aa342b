#!/bin/bash
# Issue 3, must hold 8: teardown.  Unloading the module while sets exist
# (DEFINING, TAKEN, with an image held open) is refused or tears down
# cleanly, never leaving a broken image.  Deleting the origin device of a
# live set (scsi_debug delete) turns the set INVALID (cause VOLUME_GONE),
# sends VOLUME_GONE and SET_INVALID, and image reads fail with EIO.  rmmod
# works at the end (the runner checks it, and dmesg).
# tier: full
# cost: 30
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/03-helpers.bash"

need SET_NEW SET_ADD_VOLUME SET_ADD_STORAGE SET_TAKE SET_GET SET_DESTROY
brd 3 32
load_module_03

# --- rmmod with a TAKEN set, its image open ---
"$BLKSTAMP" fill /dev/ram0 --version 1
sess_start
new_set --persistent
s add-volume "$SET" /dev/ram0
s add-storage "$SET" /dev/ram1 0 $((32 * 2048))
s take "$SET"
sess_kill
img=$(image_of "$SET" /dev/ram0)
"$BLKSTAMP" fill /dev/ram0 --version 2
exec 7< "$img"
if rmmod cowsnap 2> "$T/rmmod"; then
	fail "rmmod succeeded with $img open"
fi
note "rmmod with an open image: $(cat "$T/rmmod")"
exec 7<&-
"$BLKSTAMP" verify "$img" --version 1 > /dev/null || fail "image damaged by the refused rmmod"

# Closed now: refused (the set still works) or clean (no set, no image).
if rmmod cowsnap 2> "$T/rmmod"; then
	note "rmmod with a TAKEN set: tore down"
	test ! -b "$img" || fail "$img still there after rmmod"
	"$BLKSTAMP" fill /dev/ram0 --version 3 || fail "origin not writable after rmmod"
	"$BLKSTAMP" verify /dev/ram0 --version 3 > /dev/null || fail "origin wrong after rmmod"
	load_module
else
	note "rmmod with a TAKEN set: refused ($(cat "$T/rmmod"))"
	check_eq "$(set_field "$SET" state)" TAKEN "set after a refused rmmod"
	"$BLKSTAMP" verify "$img" --version 1 > /dev/null || fail "image wrong after a refused rmmod"
	"$NLCTL" destroy "$SET"
fi

# --- rmmod with a DEFINING set (its owner alive) ---
sess_start
new_set
s add-volume "$SET" /dev/ram0
if rmmod cowsnap 2> "$T/rmmod"; then
	note "rmmod with a DEFINING set: tore down"
	sess_run get "$SET"
	check_ne "$SESS_RC" 0 "GET after rmmod"
	sess_kill
	load_module
else
	note "rmmod with a DEFINING set: refused"
	check_eq "$(set_field "$SET" state)" DEFINING "set after a refused rmmod"
	sess_kill
fi
wait_for 10 sh -c "! '$NLCTL' get | grep -q '^set '" || fail "sets left: $("$NLCTL" get)"

# --- the origin device disappears under a TAKEN set ---
modprobe sd_mod
modprobe scsi_debug dev_size_mb=32 num_tgts=1 max_luns=1 || skip "no scsi_debug"
on_exit "rmmod scsi_debug 2>/dev/null"
wait_for 20 sh -c 'ls /sys/bus/pseudo/drivers/scsi_debug/adapter*/host*/target*/*/block/ 2>/dev/null | grep -q .' ||
	fail "scsi_debug made no disk"
sd=$(ls /sys/bus/pseudo/drivers/scsi_debug/adapter*/host*/target*/*/block/ | head -n 1)
wait_for 10 test -b "/dev/$sd" || fail "no /dev/$sd"
note "origin /dev/$sd ($(devnum "/dev/$sd"))"
"$BLKSTAMP" fill "/dev/$sd" --version 1
events_start "$T/events"
sess_start
take_one "/dev/$sd" /dev/ram2 $((32 * 2048))
dd if=/dev/urandom of="/dev/$sd" bs=64k count=32 oflag=direct status=none
"$BLKSTAMP" verify "$img" --version 1 > /dev/null || fail "image wrong before the origin went"
d=$(devnum "/dev/$sd")
echo 1 > "/sys/block/$sd/device/delete"
wait_for 20 grep -q "^event VOLUME_GONE dev=$d " "$T/events" || fail "no VOLUME_GONE for $d: $(cat "$T/events")"
wait_for 20 grep -q "^event SET_INVALID set=$SET cause=VOLUME_GONE" "$T/events" ||
	fail "no SET_INVALID with cause VOLUME_GONE: $(cat "$T/events")"
check_eq "$(set_field "$SET" state)" INVALID "state after the origin went"
check_eq "$(set_field "$SET" cause)" VOLUME_GONE "cause after the origin went"
if [ -b "$img" ]; then
	read_fails "$img"
fi
s destroy "$SET"
sess_kill
wait_for 10 test ! -b "$img" || fail "$img still there after destroy"
# The module let go of the dead disk: scsi_debug unloads.
wait_for 10 rmmod scsi_debug || fail "scsi_debug still in use after the set was destroyed"
