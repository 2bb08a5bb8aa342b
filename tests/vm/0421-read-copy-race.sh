#!/bin/bash
# An image read and a copy-on-write that end on the same chunk at the same
# moment: the chunk is released once, by whichever ends last.  Each round
# takes a fresh set with 4 KiB chunks and, for 3 s, reads the image (libaio,
# depth 16, two jobs) while writing the origin (two jobs), both 4 KiB at
# random over the same 1 MiB, a region of the RAM disk no round touched
# before (so every chunk is uncopied and its pages unallocated: a read of
# the origin is quick, a write slower).  Before the fix, both ends released
# the chunk and the second one crashed the kernel (list poison in
# chunk_release) within three rounds.  After each round the image still
# holds the take's data there: zeros.
# tier: full
# cost: 89
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/04-helpers.bash"

command -v fio > /dev/null || fail "fio is not installed (make deps)"
modprobe brd rd_nr=2 rd_size=16384 || fail "modprobe brd"
on_exit "rmmod brd 2>/dev/null"
load_module_04

A=$(mktemp /tmp/cs0421.XXXXXX)
on_exit "rm -f $A $A.*"
copied_total=0
for r in 1 2 3 4 5 6 7 8 9 10; do
	take_set /dev/ram0 /dev/ram1 32768 --chunk-sectors 8
	fio --name=w --filename=/dev/ram0 --offset=${r}M --size=1M --rw=randwrite --bs=4k \
		--direct=1 --numjobs=2 --time_based --runtime=3 --ioengine=psync \
		--randrepeat=0 > "$A.w" 2>&1 &
	wp=$!
	fio --name=r --filename="$IMG" --offset=${r}M --size=1M --rw=randread --bs=4k \
		--direct=1 --numjobs=2 --time_based --runtime=3 --ioengine=libaio --iodepth=16 \
		--randrepeat=0 > "$A.r" 2>&1 || fail "round $r: image reads failed: $(cat "$A.r")"
	wait "$wp" || fail "round $r: origin writes failed: $(cat "$A.w")"
	cmp -n 1048576 -i $((r << 20)):0 "$IMG" /dev/zero ||
		fail "round $r: the image is not the take's data (zeros)"
	cmp -s -n 1048576 -i $((r << 20)):0 /dev/ram0 /dev/zero &&
		fail "round $r: the origin did not change: nothing raced"
	copied=$(vol_field "$SET" copied)
	copied_total=$((copied_total + ${copied:-0}))
	"$NLCTL" destroy "$SET" > /dev/null || fail "round $r: destroy set $SET"
done
note "$copied_total chunks copied over 10 rounds"
# 256 chunks per round: most of them must have been copied while read
[ "$copied_total" -gt 1000 ] || fail "only $copied_total chunks copied: the writers did not race"
