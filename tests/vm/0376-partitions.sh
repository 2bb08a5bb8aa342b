#!/bin/bash
# Issue 10, item 3: disks and partitions.
#  - A whole disk that has partitions is refused (their filesystems would
#    not be frozen with it), with an error that says to snapshot the
#    partitions; a disk and its own partition are never tracked together.
#  - A tracked partition written through its whole disk: the write is
#    copied first like any other; the partition's image does not change,
#    the origin has the new bytes, CBT counts the change.
#  - A write through the whole disk across the partition's edge cannot be
#    copied first: the set turns INVALID (its image fails with EIO), the
#    write is done.
# timeout: 180
# tier: core 6.1 6.12 7.x
# cost: 88
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/03-helpers.bash"

need SET_NEW SET_ADD_VOLUME SET_ADD_STORAGE SET_TAKE SET_GET SET_DESTROY TRACK
command -v sfdisk > /dev/null || skip "no sfdisk"
brd 1 64
modprobe loop
truncate -s 128M "$T/disk"
disk=$(losetup --find --show --partscan "$T/disk") || fail "losetup"
on_exit "losetup -d $disk"
# p1: 1 MiB .. 64 MiB, p2: 64 MiB .. 127 MiB
printf 'start=2048, size=129024\nstart=131072, size=129024\n' | sfdisk -q "$disk" || fail "sfdisk"
partx -u "$disk" 2> /dev/null || true
wait_for 10 test -b "${disk}p2" || fail "no ${disk}p1/p2"
p1=${disk}p1
load_module_03

expect_rc 16 "$NLCTL" track "$disk"
grep -q "partitions" "$T/expect_rc.out" || fail "no message about partitions: $(cat "$T/expect_rc.out")"

"$BLKSTAMP" fill "$p1" --version 1
sess_start
take_one "$p1" /dev/ram0 $((64 * 2048)) --chunk-sectors 128
sum=$(sha256sum < "$img")
# The disk itself cannot join while its partition is tracked.
expect_rc 16 "$NLCTL" track "$disk"

# 4 MiB of p1 written through the disk, at p1's offset + 8 MiB.
dd if=/dev/urandom of="$T/new" bs=1M count=4 status=none
dd if="$T/new" of="$disk" bs=1M seek=$((1 + 8)) oflag=direct conv=notrunc status=none ||
	fail "writing p1 through $disk"
cmp -s "$T/new" <(dd if="$p1" bs=1M skip=8 count=4 iflag=direct status=none) ||
	fail "p1 does not hold what was written through the disk"
"$BLKSTAMP" verify "$img" --version 1 > "$T/v" || fail "p1's image changed by a write through the disk: $(cat "$T/v")"
echo 3 > /proc/sys/vm/drop_caches
check_eq "$(sha256sum < "$img")" "$sum" "p1's image checksum"
copied=$(vol_field "$SET" copied)
check_eq "$copied" 64 "chunks of p1 copied for the write through the disk"

# Across p1's end into p2, through the disk: the set cannot keep its image.
# One 1 MiB write at 63.5 MiB of the disk: half in p1, half in p2.
dd if=/dev/zero of="$disk" bs=1M count=1 seek=$((63 * 1024 * 1024 + 512 * 1024)) \
	oflag=direct,seek_bytes conv=notrunc status=none ||
	fail "a write across p1's edge failed"
check_eq "$(set_field "$SET" state)" INVALID "set state after a write across p1's edge"
read_fails "$img"
s destroy "$SET"
sess_kill
