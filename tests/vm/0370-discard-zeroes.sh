#!/bin/bash
# Issue 3, must hold 7: discard and write-zeroes on the origin after the
# take leave the image unchanged.  On a loop device over a tmpfs file (which
# supports both) and, where the kernel's brd supports discard, on brd:
# aligned and unaligned discards, BLKZEROOUT, fallocate zero-range and
# punch-hole; the origin reads zeros there, the image keeps every block.
# tier: core 6.1 6.12 7.x
# cost: 38
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/03-helpers.bash"

need SET_NEW SET_ADD_VOLUME SET_ADD_STORAGE SET_TAKE SET_GET SET_DESTROY
brd 2 64
MiB=$((1024 * 1024))
modprobe loop
truncate -s 64M "$T/origin"
loop=$(losetup --find --show "$T/origin") || fail "losetup"
on_exit "losetup -d $loop"
load_module_03

zero_at() {   # zero_at DEV OFFSET LEN: the range reads as zeros
	cmp -s -n "$3" <(dd if="$1" bs=4096 skip=$(($2 / 4096)) count=$(($3 / 4096)) iflag=direct status=none) /dev/zero ||
		fail "$1: $3 bytes at $2 not zero after discard/zeroing"
}

run_on() {
	local dev=$1 name q img
	name=$(basename "$(readlink -f "$dev")")
	q=/sys/block/$name/queue
	note "$dev: discard_max_bytes=$(cat $q/discard_max_bytes) write_zeroes_max_bytes=$(cat $q/write_zeroes_max_bytes)"
	"$BLKSTAMP" fill "$dev" --version 1
	sess_start
	take_one "$dev" /dev/ram1 $((64 * 2048)) --chunk-sectors 128

	if [ "$(cat $q/discard_max_bytes)" -gt 0 ]; then
		blkdiscard -o 0 -l $((8 * MiB)) "$dev" || fail "$dev: blkdiscard"
		# 4 KiB inside a chunk, and a range across chunk edges.
		blkdiscard -o $((9 * MiB + 4096)) -l 4096 "$dev" || fail "$dev: small blkdiscard"
		blkdiscard -o $((10 * MiB + 12288)) -l $((256 * 1024)) "$dev" || fail "$dev: unaligned blkdiscard"
		# Punch hole on a block device needs WRITE_ZEROES (no fallback).
		if [ "$(cat $q/write_zeroes_max_bytes)" -gt 0 ]; then
			fallocate -p -o $((12 * MiB)) -l $((2 * MiB)) "$dev" || fail "$dev: punch hole"
		fi
		# Discard need not zero; on these devices it does, so check it happened.
		zero_at "$dev" 0 $((8 * MiB))
	fi
	blkdiscard -z -o $((16 * MiB)) -l $((8 * MiB)) "$dev" || fail "$dev: BLKZEROOUT"
	blkdiscard -z -o $((25 * MiB + 8192)) -l 4096 "$dev" || fail "$dev: small BLKZEROOUT"
	fallocate -z -o $((32 * MiB)) -l $((4 * MiB)) "$dev" || fail "$dev: zero range"
	zero_at "$dev" $((16 * MiB)) $((8 * MiB))
	zero_at "$dev" $((32 * MiB)) $((4 * MiB))

	"$BLKSTAMP" verify "$img" --version 1 > "$T/v" || fail "$dev: image changed: $(cat "$T/v")"
	echo 3 > /proc/sys/vm/drop_caches
	"$BLKSTAMP" verify "$img" --version 1 > /dev/null || fail "$dev: image changed (second read)"
	# Writes over the zeroed ranges afterwards do not reach the image either.
	dd if=/dev/urandom of="$dev" bs=1M count=40 oflag=direct status=none
	"$BLKSTAMP" verify "$img" --version 1 > /dev/null || fail "$dev: image changed after rewriting"
	s destroy "$SET"
	sess_kill
}

run_on "$loop"
# brd: discard only where this kernel's brd has it; write-zeroes always
# (the block layer writes zero pages when the driver has no WRITE_ZEROES).
run_on /dev/ram0
