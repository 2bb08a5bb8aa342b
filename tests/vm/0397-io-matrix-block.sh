#!/bin/bash
# Issue 10: a real-world I/O matrix, part 3: discards, dm and md (part 1,
# 0395: fio on raw devices; part 2, 0396: a loop device and filesystems).
# The method and the fio mix: 03-io-matrix.bash.  Cases:
#   discard-big: blkdiscard and blkdiscard -z of 8 MiB each (large bios
#       over 128 chunks), and a small discard inside a chunk, on a loop
#       device over a tmpfs file;
#   discard-chain: the same on a scsi_debug disk whose discards are 4 KiB
#       (lbpu=1 unmap_max_blocks=8): 2048 chained discard bios.  Both: the
#       origin reads zeros there and is unchanged elsewhere;
#   dm-linear: the fio mix (O_DIRECT libaio, iodepth 16) through a
#       dm-linear device 4 MiB into a tracked null_blk: dm submits the
#       remapped bios from inside its own submit_bio, and the snapshot of
#       the null_blk must not change (rule 1);
#   md-raid1: the same through an md raid1 whose two members are the
#       volumes of one set: neither member's image may change.
# timeout: 400
# tier: once
# cost: 150
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/03-helpers.bash"
. "$(dirname "$0")/04-scsi-debug.bash"
. "$(dirname "$0")/03-io-matrix.bash"

need SET_NEW SET_ADD_VOLUME SET_ADD_STORAGE SET_TAKE SET_GET SET_DESTROY
# ram0: the storage of every set; the origins are loop, scsi_debug and
# null_blk disks made by the cases.
brd 1 48
STORE=/dev/ram0 STORE_SECTORS=$((48 * 2048))
modprobe -a loop dm-mod raid1
load_module_03

# mib_same REF DEV WHAT MIB...: DEV's CRCs are REF's at the MiB given (N
# or N-M).
mib_same() {
	local ref=$1 dev=$2 what=$3 out=$T/same d
	shift 3
	digests "$dev" > "$out" || fail "$CASE: reading $dev failed"
	d=$(awk -v sel="$*" 'BEGIN { n = split(sel, r, " ")
		for (i = 1; i <= n; i++) { k = split(r[i], b, "-"); for (m = b[1]; m <= b[k]; m++) want[m] = 1 } }
		NR == FNR { a[$1] = $2; next }
		($1 in want) && a[$1] != $2 { printf "%s ", $1 }' "$ref" "$out")
	[ -z "$d" ] || fail "$CASE: $what: MiB $d changed"
}

# zero_at DEV OFFSET LEN: the range reads as zeros.
zero_at() {
	cmp -s -n "$3" <(dd if="$1" bs=1M skip="$2" count="$3" iflag=direct,skip_bytes,count_bytes status=none) /dev/zero ||
		fail "$CASE: $1: $3 bytes at $2 do not read as zeros after the discard/zeroing"
}

# ---- discards ------------------------------------------------------------

# discard_case DEV: blkdiscard [0, 8M), blkdiscard -z [12M, 20M), a
# discard of 8 KiB at 21 MiB + 4 KiB; DEV has 24 MiB.
discard_case() {
	local dev=$1 q
	q=/sys/block/$(basename "$(readlink -f "$dev")")/queue
	note "$CASE: $dev: discard_max_bytes=$(cat "$q/discard_max_bytes") write_zeroes_max_bytes=$(cat "$q/write_zeroes_max_bytes")"
	"$BLKSTAMP" fill "$dev" --version 1 > /dev/null || fail "$CASE: filling $dev"
	STAMPED=1
	take "$dev"
	step "taken"
	blkdiscard -o 0 -l $((8 * MiB)) "$dev" || fail "$CASE: blkdiscard of 8 MiB"
	step "discarded"
	blkdiscard -z -o $((12 * MiB)) -l $((8 * MiB)) "$dev" || fail "$CASE: blkdiscard -z of 8 MiB"
	blkdiscard -o $((21 * MiB + 4096)) -l 8192 "$dev" || fail "$CASE: blkdiscard of 8 KiB"
	step "zeroed"
	zero_at "$dev" 0 $((8 * MiB))
	zero_at "$dev" $((12 * MiB)) $((8 * MiB))
	zero_at "$dev" $((21 * MiB + 4096)) 8192
	mib_same "$T/take.$(basename "$dev")" "$dev" "the origin outside the discarded ranges" 8-11 20 22-23
	image_check "$dev"
	image_recheck "$dev"
	release
}

case_discard_big() {
	tmpfs_loop 24M
	discard_case "$LOOP"
}

case_discard_chain() {
	# Completions 100 us after submission, from a timer (the default,
	# a jiffy, makes every read of the disk slow under emulation).
	scsi_debug_disk dev_size_mb=24 lbpu=1 lbprz=1 unmap_max_blocks=8 unmap_granularity=8 \
		ndelay=100000
	check_eq "$(cat "/sys/block/$(basename "$SD_DISK")/queue/discard_max_bytes")" 4096 \
		"$CASE: $SD_DISK discard_max_bytes"
	discard_case "$SD_DISK"
}

# ---- dm and md -----------------------------------------------------------

case_dm_linear() {
	local o dm=cs0397lin d
	nullb cs0397dm size=20 memory_backed=1
	o=/dev/$NULLB
	dmsetup create "$dm" --table "0 $((16 * 2048)) linear $o $((4 * 2048))" || fail "$CASE: dmsetup create"
	on_exit "dmsetup remove --retry $dm"
	# No udev here: the node is /dev/dm-N.
	d=/dev/$(dmsetup info -c -o blkdevname --noheadings "$dm")
	test -b "$d" || fail "$CASE: $d is not the block device of $dm"
	"$BLKSTAMP" fill "$o" --version 1 > /dev/null || fail "$CASE: filling $o"
	STAMPED=1
	take "$o"
	mix "$d" libaio 16 1 > "$T/mix.fio"
	run_fio "writes through dm-linear after the take" "$T/mix.fio"
	step "fio done"
	mix "$d" psync 1 1 verify_only=1 > "$T/verify.fio"
	run_fio "dm-linear re-read (verify_only)" "$T/verify.fio"
	image_check "$o"
	image_recheck "$o"
	release
}

case_md_raid1() {
	local a b md=/dev/md/cs0397
	nullb cs0397md0 size=16 memory_backed=1
	a=/dev/$NULLB
	nullb cs0397md1 size=16 memory_backed=1
	b=/dev/$NULLB
	mdadm --create "$md" --run --metadata=1.2 --level=1 --raid-devices=2 --assume-clean \
		"$a" "$b" > "$T/mdadm.out" 2>&1 || fail "$CASE: mdadm --create: $(cat "$T/mdadm.out")"
	on_exit "mdadm --stop $md > /dev/null 2>&1"
	wait_for 10 test -b "$md" || fail "$CASE: no block device $md"
	"$BLKSTAMP" fill "$md" --version 1 > /dev/null || fail "$CASE: filling $md"
	REF=image take "$a" "$b"
	mix "$md" libaio 16 1 > "$T/mix.fio"
	run_fio "writes through md raid1 after the take" "$T/mix.fio"
	step "fio done"
	mix "$md" psync 1 1 verify_only=1 > "$T/verify.fio"
	run_fio "md raid1 re-read (verify_only)" "$T/verify.fio"
	image_check "$a"
	image_check "$b"
	image_recheck "$a" "$b"
	release
}

matrix_start
run_case discard-big case_discard_big
run_case discard-chain case_discard_chain
run_case dm-linear case_dm_linear
run_case md-raid1 case_md_raid1
report
