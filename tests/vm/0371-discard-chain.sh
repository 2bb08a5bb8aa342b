#!/bin/bash
# Issue 10, item 1: a long chain of discard bios (blkdiscard on a disk whose
# discards are 4 KiB each: 2048 bios, each chained to the next) whose first
# bios wait for a slow copy.  Every discard must complete, the origin must
# read zeros there, and the image must not change.  The module completes
# such bios through bio_endio() with their own end_io back in place (7.x
# BUGs when bio_chain_endio() is called directly, as the old module did);
# on 6.1 and 6.12 the old module passed this test too: the bios behind the
# waiting ones never completed before them here, so the chain never ended
# in one nested go.
# timeout: 240
# tier: core 6.1 6.12 7.x
# cost: 44
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/03-helpers.bash"
. "$(dirname "$0")/04-scsi-debug.bash"

need SET_NEW SET_ADD_VOLUME SET_ADD_STORAGE SET_TAKE SET_GET SET_DESTROY
brd 1 64
MiB=$((1024 * 1024))
# 4 KiB discard bios: unmap_max_blocks of 8 logical blocks of 512 bytes
scsi_debug_disk dev_size_mb=64 lbpu=1 lbprz=1 unmap_max_blocks=8 unmap_granularity=8
disk=$SD_DISK
q=/sys/block/$(basename "$disk")/queue
check_eq "$(cat "$q/discard_max_bytes")" 4096 "$disk discard_max_bytes"
# Storage behind dm-delay: no delay while the later chunks are copied, then
# 10 s for each write to it.  Made before the module's cleanups are set up,
# so that it is removed after the set that holds it.
sectors=$((64 * 2048))
dm_delay cs-slow /dev/ram0 0 0
slow=$DM_DEV
load_module_03
# the first chunk's bios must wait for its storage write, not only for the
# read of its old data (tests/vm/0426): no copy is released early
echo 0 > /sys/module/cowsnap/parameters/cow_buffer_mb

"$BLKSTAMP" fill "$disk" --version 1
sess_start
take_one "$disk" "$slow" "$sectors" --chunk-sectors 128
sum=$(sha256sum < "$img")

# Every chunk of the first 8 MiB but the first is copied now.
dd if=/dev/urandom of="$disk" bs=64k seek=1 count=127 oflag=direct status=none ||
	fail "writing the origin"
copied=$(vol_field "$SET" copied)
check_eq "$copied" 127 "chunks copied before the discard"
dmsetup suspend cs-slow && dmsetup load cs-slow --table "0 $sectors delay /dev/ram0 0 0 /dev/ram0 0 10000" &&
	dmsetup resume cs-slow || fail "slowing the storage down"

# 2048 bios; the 16 of the first chunk wait 10 s for its copy, the others
# pass at once and complete first (all of them take 1-2 s under emulation).
blkdiscard -o 0 -l $((8 * MiB)) "$disk" || fail "blkdiscard of 8 MiB in 4 KiB bios"
check_eq "$(vol_field "$SET" copied)" 128 "chunks copied after the discard"
cmp -s -n $((8 * MiB)) <(dd if="$disk" bs=1M count=8 iflag=direct status=none) /dev/zero ||
	fail "the origin does not read zeros where it was discarded"
"$BLKSTAMP" verify "$img" --version 1 > "$T/v" || fail "image changed: $(cat "$T/v")"
echo 3 > /proc/sys/vm/drop_caches
check_eq "$(sha256sum < "$img")" "$sum" "image checksum after the discard"
s destroy "$SET"
sess_kill
