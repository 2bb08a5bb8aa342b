#!/bin/bash
# Issue 10, item 9: an image read that finds no chunk entry free at once
# (memory short) sends what it pinned and goes on from a work item, where it
# may wait without holding pins of I/O not yet sent.  Memory cannot be made
# short on purpose in a stock kernel, so the module's test knob
# test_defer_reads=N makes every Nth pin act as if it were.  Reads of every
# size, direct and buffered, with origin writes running, must return the
# point-in-time image exactly, and the module must unload cleanly.
# timeout: 180
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/03-helpers.bash"

need SET_NEW SET_ADD_VOLUME SET_ADD_STORAGE SET_TAKE SET_GET SET_DESTROY
brd 2 64
rmmod cowsnap
load_module_03 test_defer_reads=3
check_eq "$(cat /sys/module/cowsnap/parameters/test_defer_reads)" 3 "test_defer_reads"

"$BLKSTAMP" fill /dev/ram0 --version 1
sess_start
new_set --chunk-sectors 8
s add-volume "$SET" /dev/ram0
s add-storage "$SET" /dev/ram1 0 $((64 * 2048))
s take "$SET"
img=$(image_of "$SET" /dev/ram0)
# Every other MiB copied, so reads mix stored chunks and pinned ones.
for i in $(seq 0 2 63); do
	dd if=/dev/urandom of=/dev/ram0 bs=1M seek="$i" count=1 oflag=direct status=none
done
# Origin writes all along the reads.
( while :; do
	dd if=/dev/urandom of=/dev/ram0 bs=64k seek=$((RANDOM % 1024)) count=1 oflag=direct status=none
  done ) &
writer=$!
on_exit "kill $writer 2>/dev/null"
for bs in 4k 64k 1M 2560k; do
	dd if="$img" of="$T/img" bs="$bs" iflag=direct status=none || fail "direct read of $img, bs=$bs"
	"$BLKSTAMP" verify "$T/img" --version 1 > "$T/v" || fail "bs=$bs: the image read is not the take: $(cat "$T/v")"
done
echo 3 > /proc/sys/vm/drop_caches
"$BLKSTAMP" verify "$img" --version 1 > "$T/v" || fail "buffered read: $(cat "$T/v")"
kill "$writer"
wait "$writer" 2>/dev/null || true
s destroy "$SET"
sess_kill
