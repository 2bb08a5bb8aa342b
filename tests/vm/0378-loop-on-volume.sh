#!/bin/bash
# Issue 10, item 7: a set holding a volume and a loop device backed by a file
# on that volume's filesystem.  Frozen in the order given (the volume first),
# the loop device's filesystem can never freeze: its last writes go to a
# file on a frozen filesystem; the old module hung in the take with the
# volume's filesystem frozen.  The take must finish (here: succeed, by
# freezing the loop device first), leave nothing frozen, and give images
# whose filesystems are clean.  The module freezes all volumes at once
# first and goes one at a time when a freeze does not finish within the
# hold time: a second take, with only the loop device dirty (24 MiB), takes
# that path (its first version left ram0 frozen when ram0's own freeze
# finished late, and hung here).
# timeout: 200
# tier: core 6.1 6.12 7.x
# cost: 30
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/03-helpers.bash"

need SET_NEW SET_ADD_VOLUME SET_ADD_STORAGE SET_TAKE SET_GET SET_DESTROY
brd 2 128
modprobe loop
modprobe ext4
load_module_03
mkdir -p "$T/v" "$T/l"
mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 /dev/ram0 || fail "mkfs on ram0"
mount /dev/ram0 "$T/v" || fail "mount ram0"
on_exit "umount $T/v"
truncate -s 96M "$T/v/disk.img"
mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$T/v/disk.img" || fail "mkfs on the file"
loop=$(losetup --find --show "$T/v/disk.img") || fail "losetup"
on_exit "losetup -d $loop"
mount "$loop" "$T/l" || fail "mount $loop"
on_exit "umount $T/l"
# Dirty data on both, so that each freeze has to write.
dd if=/dev/urandom of="$T/l/a" bs=1M count=8 status=none
dd if=/dev/urandom of="$T/v/b" bs=1M count=8 status=none
sum_a=$(sha256sum < "$T/l/a")

# take_both FILE: take a set of ram0 and the loop device; nothing is left
# frozen, both images are clean, and FILE on the loop device's image is
# what was written (sha256 in $sum); the set is destroyed again.
take_both() {
	local img_v img_l got
	new_set --chunk-sectors 128 --hold-ms 3000
	s add-volume "$SET" /dev/ram0
	s add-volume "$SET" "$loop"
	s add-storage "$SET" /dev/ram1 0 $((128 * 2048))
	s take "$SET"
	img_v=$(image_of "$SET" /dev/ram0)
	img_l=$(image_of "$SET" "$loop")
	# Nothing is left frozen: both filesystems take writes.
	timeout 20 dd if=/dev/zero of="$T/l/c" bs=1M count=1 conv=fsync status=none || fail "$loop's filesystem is not writable after the take"
	timeout 20 dd if=/dev/zero of="$T/v/c" bs=1M count=1 conv=fsync status=none || fail "ram0's filesystem is not writable after the take"
	e2fsck -fn "$img_v" > "$T/fsck" 2>&1 || fail "the volume's image is not clean: $(tail -n 5 "$T/fsck")"
	e2fsck -fn "$img_l" > "$T/fsck" 2>&1 || fail "the loop device's image is not clean: $(tail -n 5 "$T/fsck")"
	mkdir -p "$T/m"
	mount -o ro,noload "$img_l" "$T/m" || fail "mount the loop device's image"
	got=$(sha256sum < "$T/m/$1")
	umount "$T/m"
	check_eq "$got" "$sum" "file $1 in the loop device's image"
	s destroy "$SET"
}

sess_start
sum=$sum_a
take_both a
# Only the loop device dirty, and more of it: its freeze is still writing
# to the file on ram0 when ram0 (nothing to write) is frozen beside it, so
# the take's first try, all at once, gets stuck and it goes one at a time.
dd if=/dev/urandom of="$T/l/d" bs=1M count=24 status=none
sum=$(sha256sum < "$T/l/d")
take_both d
note "$(dmesg | grep -c 'did not freeze beside the others') take(s) went one volume at a time"
sess_kill
