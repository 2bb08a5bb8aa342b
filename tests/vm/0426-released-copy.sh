#!/bin/bash
# Issue 16, first writes: an origin write to a chunk no snapshot has copied
# waits for the old data's read only, not for its write to storage.  The
# copy's pages stay in memory (bounded by cow_buffer_mb) until it is stored,
# and image reads of the chunk are served from them meanwhile.  Made visible
# by suspending the storage (a dm-linear device), so that no storage write
# completes:
#  - origin writes over 1 MiB of uncopied 64 KiB chunks complete, and so do
#    rewrites of some of them; cow_buffer_used_kb shows the 1024 KiB held;
#  - the image there reads as the take's data (from the pages), in whole
#    chunks, in 4 KiB pieces and across untouched chunks;
#  - with cow_buffer_mb 1 (full), a write to another chunk waits for the
#    storage, and completes once it is resumed;
# then, resumed: the whole image is the take's data, the origin holds the
# writes, nothing stays held.  Before the change the first origin write
# waited for the suspended storage (timed out here).
# tier: core 6.1 6.12 7.x
# cost: 25
# timeout: 180
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/04-helpers.bash"

modprobe brd rd_nr=2 rd_size=16384 || fail "modprobe brd"
on_exit "rmmod brd 2>/dev/null"
A=$(mktemp /tmp/cs0426.XXXXXX)
on_exit "rm -f $A $A.*"
dd if=/dev/urandom of="$A" bs=1M count=16 status=none
dd if="$A" of=/dev/ram0 bs=1M oflag=direct status=none || fail "writing the origin"
# before the module: its cleanups run first (sets destroyed, then this)
modprobe dm-mod || fail "no device-mapper"
dmsetup create cs0426 --table "0 32768 linear /dev/ram1 0" || fail "dmsetup create"
on_exit "dmsetup remove cs0426 2>/dev/null"
dmsetup mknodes cs0426
ST=/dev/mapper/cs0426
wait_for 5 test -b "$ST" || fail "no $ST"
load_module_04
par=/sys/module/cowsnap/parameters
take_set /dev/ram0 "$ST" 32768 --chunk-sectors 128
cp "$A" "$A.origin"

# piece FILE BLOCK COUNT [BS]: COUNT blocks of FILE from BLOCK, to stdout
# (a device: O_DIRECT, past the page cache)
piece() {
	local direct=
	[ -b "$1" ] && direct=iflag=direct
	dd if="$1" bs="${4:-64k}" skip="$2" count="$3" $direct status=none
}
# put SRC BLOCK: SRC (64 KiB blocks) to the origin at BLOCK; not done
# within 30 s: the storage is resumed (so that the write can end) and put fails
put() {
	local p
	dd if="$1" of=/dev/ram0 bs=64k seek="$2" oflag=direct conv=notrunc status=none &
	p=$!
	if ! wait_for 30 gone "$p"; then
		dmsetup resume cs0426
		wait "$p"
		return 1
	fi
	wait "$p" || return 1
	dd if="$1" of="$A.origin" bs=64k seek="$2" conv=notrunc status=none
}
gone() { ! kill -0 "$1" 2> /dev/null; }

dmsetup suspend cs0426 || fail "dmsetup suspend"
on_exit "dmsetup resume cs0426 2>/dev/null"
head -c 1M /dev/urandom > "$A.b"
put "$A.b" 16 || fail "an origin write to uncopied chunks waited for the (suspended) storage"
check_eq "$(cat "$par/cow_buffer_used_kb")" 1024 "cow_buffer_used_kb, 16 chunks of 64 KiB held"
head -c 256K /dev/urandom > "$A.c"
put "$A.c" 20 || fail "a rewrite of chunks whose copies are held waited for the storage"
check_eq "$(cat "$par/cow_buffer_used_kb")" 1024 "cow_buffer_used_kb after the rewrite (no copy)"

# the image, from the held copies
piece "$IMG" 16 16 | cmp -s - <(piece "$A" 16 16) ||
	fail "the image's 1 MiB whose copies are held differs from the take"
for b in 256 263 300 383 511; do
	piece "$IMG" "$b" 1 4k | cmp -s - <(piece "$A" "$b" 1 4k) ||
		fail "4 KiB block $b of the image (held copy) differs from the take"
done
piece "$IMG" 8 32 | cmp -s - <(piece "$A" 8 32) ||
	fail "the image from 512 KiB to 2.5 MiB (held and untouched chunks) differs from the take"
piece /dev/ram0 16 16 | cmp -s - "$A.origin" -i 0:$((16 << 16)) -n $((1 << 20)) ||
	fail "the origin does not hold the writes"

# past the bound: the write waits for the storage
echo 1 > "$par/cow_buffer_mb"
head -c 64K /dev/urandom > "$A.d"
dd if="$A.d" of=/dev/ram0 bs=64k seek=48 oflag=direct conv=notrunc status=none &
wp=$!
sleep 2
gone "$wp" && fail "a write past cow_buffer_mb 1 completed while the storage was suspended"
check_eq "$(cat "$par/cow_buffer_used_kb")" 1024 "cow_buffer_used_kb past the bound"
dmsetup resume cs0426 || fail "dmsetup resume"
wait "$wp" || fail "the write past the bound failed once the storage was resumed"
dd if="$A.d" of="$A.origin" bs=64k seek=48 conv=notrunc status=none
echo 64 > "$par/cow_buffer_mb"
wait_for 10 test "$(cat "$par/cow_buffer_used_kb")" = 0 ||
	fail "cow_buffer_used_kb $(cat "$par/cow_buffer_used_kb") once every copy is stored"
check_eq "$(vol_field "$SET" copied)" 17 "chunks copied"
cmp "$IMG" "$A" || fail "the image differs from the take once the copies are stored"
cmp /dev/ram0 "$A.origin" || fail "the origin differs from what was written"
