#!/bin/bash
# Issue 10, item 9: image reads when memory is exhausted.  The module's
# test knob test_reserve_only leaves only the chunk entries' reserve (256),
# as when the slab gives nothing.  Four readers of 1 MiB at a time (256
# chunks each), over an image that is half uncopied, with origin writes all
# along.  (Image reads pinned chunks with those entries until issue 16; they
# take none now, and the writes' copies share the reserve.)  The readers must keep going (no 60 s without one of them reading a
# byte: the machine may be slow, but not stopped), every read must finish
# and return the take exactly (cmp with a copy
# of the origin made before the take), as must reads of other sizes and a
# buffered read, and the module must unload.  (The copies live in the
# guest's tmpfs, which 6.1 cannot open with O_DIRECT: cmp, not blkstamp.)
# tier: full
# cost: 60
# timeout: 420
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/03-helpers.bash"

need SET_NEW SET_ADD_VOLUME SET_ADD_STORAGE SET_TAKE SET_GET SET_DESTROY
brd 2 32
[ -e /sys/module/cowsnap/parameters/test_reserve_only ] ||
	fail "the module has no test_reserve_only knob"

"$BLKSTAMP" fill /dev/ram0 --version 1
dd if=/dev/ram0 of="$T/take" bs=1M iflag=direct status=none || fail "copy of /dev/ram0"
sess_start
take_one /dev/ram0 /dev/ram1 $((32 * 2048)) --chunk-sectors 8
# Every other MiB copied, so reads mix stored chunks and pinned ones.
for i in $(seq 0 2 31); do
	dd if=/dev/urandom of=/dev/ram0 bs=1M seek="$i" count=1 oflag=direct status=none
done
echo 1 > /sys/module/cowsnap/parameters/test_reserve_only
on_exit "echo 0 > /sys/module/cowsnap/parameters/test_reserve_only"
# Origin writes all along the reads, into chunks not copied yet too.
( while :; do
	dd if=/dev/urandom of=/dev/ram0 bs=64k seek=$((RANDOM % 512)) count=1 oflag=direct status=none
  done ) &
writer=$!
on_exit "kill $writer 2>/dev/null"
pids=()
for r in 1 2 3 4; do
	dd if="$img" of="$T/img$r" bs=1M iflag=direct status=none &
	pids+=($!)
done
# read so far by the readers still running, and how many run
progress() {
	local p n=0 sum=0 c
	for p in "${pids[@]}"; do
		c=$(sed -n 's/^rchar: //p' "/proc/$p/io" 2>/dev/null) || continue
		[ -n "$c" ] || continue
		n=$((n + 1)) sum=$((sum + c))
	done
	echo "$n $sum"
}
last=-1 still=0
while read -r running bytes < <(progress) && [ "$running" -gt 0 ]; do
	if [ "$bytes" = "$last" ]; then
		still=$((still + 2))
		[ "$still" -lt 60 ] ||
			fail "the image readers are stuck: $running of 4 read nothing for 60 s (at $bytes bytes)"
	else
		last=$bytes still=0
	fi
	sleep 2
done
for r in 1 2 3 4; do
	wait "${pids[r - 1]}" || fail "reader $r: direct read of $img, bs=1M failed"
	cmp "$T/take" "$T/img$r" > "$T/v" 2>&1 ||
		fail "reader $r: the image read is not the take: $(cat "$T/v")"
	rm -f "$T/img$r"
done
for bs in 4k 64k 2560k; do
	dd if="$img" of="$T/img" bs="$bs" iflag=direct status=none || fail "direct read of $img, bs=$bs"
	cmp "$T/take" "$T/img" > "$T/v" 2>&1 ||
		fail "bs=$bs: the image read is not the take: $(cat "$T/v")"
done
echo 3 > /proc/sys/vm/drop_caches
cmp "$T/take" "$img" > "$T/v" 2>&1 || fail "buffered read: $(cat "$T/v")"
kill "$writer"
wait "$writer" 2>/dev/null || true
echo 0 > /sys/module/cowsnap/parameters/test_reserve_only
s destroy "$SET"
sess_kill
