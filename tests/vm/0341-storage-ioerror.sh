#!/bin/bash
# Issue 3, must hold 4 (storage I/O error): the set's storage is a dm device
# that starts failing every write (dm-flakey, error_writes) after the take.
# The set turns INVALID with cause STORAGE_IO and a SET_INVALID event, image
# reads fail with EIO, and every origin write is there.
# tier: full
# cost: 16
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/03-helpers.bash"

need SET_NEW SET_ADD_VOLUME SET_ADD_STORAGE SET_TAKE SET_GET SET_DESTROY
brd 2 64
modprobe dm-flakey || skip "no dm-flakey"
dm=cowsnap-store-$$
# Registered before the module's cleanup, so it runs after the sets are gone.
on_exit "dmsetup remove --retry $dm 2>/dev/null"
load_module_03
sectors=$((64 * 2048))
dmsetup create "$dm" --table "0 $sectors linear /dev/ram1 0" || fail "dmsetup create"
# No udev in the guest: use the kernel's own node.
store=/dev/$(dmsetup info -c -o blkdevname --noheadings "$dm")
wait_for 10 test -b "$store" || fail "no $store"

"$BLKSTAMP" fill /dev/ram0 --version 1
events_start "$T/events"
sess_start
take_one /dev/ram0 "$store" "$sectors" --chunk-sectors 64
# Some copy-on-write that works.
dd if=/dev/urandom of=/dev/ram0 bs=64k count=16 oflag=direct status=none
"$BLKSTAMP" verify "$img" --version 1 > /dev/null || fail "image wrong before the storage fails"

# From now on every write to the storage fails.
dmsetup suspend "$dm"
dmsetup load "$dm" --table "0 $sectors flakey /dev/ram1 0 0 1 1 error_writes" || fail "dmsetup load flakey"
dmsetup resume "$dm"
"$BLKSTAMP" fill /dev/ram0 --version 2 || fail "an origin write failed with the storage failing"
"$BLKSTAMP" verify /dev/ram0 --version 2 || fail "the origin lost writes when the storage failed"

wait_for 20 grep -q "^event SET_INVALID set=$SET " "$T/events" ||
	fail "no SET_INVALID event: $(cat "$T/events")"
grep -q "^event SET_INVALID set=$SET cause=STORAGE_IO" "$T/events" ||
	fail "SET_INVALID with the wrong cause: $(cat "$T/events")"
check_eq "$(set_field "$SET" state)" INVALID "state after storage errors"
check_eq "$(set_field "$SET" cause)" STORAGE_IO "cause after storage errors"
read_fails "$img"
"$BLKSTAMP" fill /dev/ram0 --version 3 || fail "origin write failed after the storage failed"
"$BLKSTAMP" verify /dev/ram0 --version 3 > /dev/null || fail "origin wrong after the storage failed"
s destroy "$SET"
sess_kill
