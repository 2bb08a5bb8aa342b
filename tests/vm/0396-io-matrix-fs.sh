#!/bin/bash
# Issue 10: a real-world I/O matrix, part 2: a loop device and filesystems
# (part 1, 0395: fio on raw devices; part 3, 0397: discards, dm and md).
# The method and the fio mix: 03-io-matrix.bash.  Cases:
#   loop-dio: the mix (io_uring, iodepth 32) on a loop device with direct
#       I/O over a file on ext4 on brd;
#   ext4 (on a null_blk with discard), xfs (on a loop device over a tmpfs
#       file), each:
#     - before the take: the device is stamped (blkstamp) and made with
#       mkfs -nodiscard, so that free space holds data a discard could
#       lose; files of 96 KiB to 768 KiB and small ones written;
#     - the take freezes the filesystem itself;
#     - after it: fio writes files (O_DIRECT libaio, iodepth 16, and
#       buffered with fsync at the end) and verifies them; a file is
#       overwritten in part, one appended to, files are deleted, fstrim -v
#       (must trim); fio re-reads its files with O_DIRECT (verify_only),
#       they are deleted, fstrim -v again;
#     - the origin: fsck clean, its files as expected, the deleted gone;
#     - the image: reads as right after the take (twice), fsck clean (xfs:
#       on a copy, its log replayed: a frozen xfs keeps a dirty log);
#       mounted read-only, its files those of the take.
# timeout: 400
# tier: once
# cost: 150
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/03-helpers.bash"
. "$(dirname "$0")/03-io-matrix.bash"

need SET_NEW SET_ADD_VOLUME SET_ADD_STORAGE SET_TAKE SET_GET SET_DESTROY
# ram0: storage; ram1: ext4 under loop-dio's file.  The filesystems'
# origins are made by their cases.
brd 2 48
STORE=/dev/ram0 STORE_SECTORS=$((48 * 2048))
modprobe -a loop ext4 xfs
load_module_03

# ---- a loop device over a file --------------------------------------------

case_loop_dio() {
	local m=$T/backing loop
	mkfs.ext4 -q -F -m 0 -b 4096 -N 64 -E nodiscard /dev/ram1 || fail "$CASE: mkfs.ext4 /dev/ram1"
	mkdir -p "$m"
	mount /dev/ram1 "$m" || fail "$CASE: mount /dev/ram1"
	on_exit "umount $m"
	fallocate -l 16M "$m/disk" || fail "$CASE: fallocate"
	loop=$(losetup --direct-io=on --find --show "$m/disk") ||
		skip "losetup --direct-io=on refused over a file on ext4"
	on_exit "losetup -d $loop"
	[ "$(cat "/sys/block/$(basename "$loop")/loop/dio")" = 1 ] ||
		skip "$loop runs without direct I/O (loop/dio=0)"
	fio_case "$loop" io_uring 32 1
}

# ---- filesystems ---------------------------------------------------------

# fs_mix DIR VERIFY_ONLY: fio's job file over files in DIR: O_DIRECT random
# 4k writes (libaio, iodepth 16) to two files, buffered 64k writes to one
# with fsync at the end; verified as written; VERIFY_ONLY=1: re-read them
# all with O_DIRECT.
fs_mix() {
	cat <<EOF
[global]
directory=$1
verify=crc32c
verify_fatal=1
do_verify=1
randrepeat=1
verify_only=$2
[dio]
ioengine=libaio
iodepth=16
direct=1
rw=randwrite
bs=4k
size=2m
nrfiles=2
[buf]
ioengine=psync
direct=$2
rw=write
bs=64k
size=2m
end_fsync=1
EOF
}

# fs_check FS DEV DIR SUMS WHAT: DEV has a clean FS whose files are those
# of the sha256sum list SUMS; a read-only mount at DIR.  Image devices
# cannot replay a log: xfs is checked on a copy whose log is replayed, and
# mounted with norecovery.
fs_check() {
	local fs=$1 dev=$2 dir=$3 sums=$4 what=$5 copy=$T/xfs-copy out=$T/fsck.out
	case $fs in
	ext4)
		e2fsck -fn "$dev" > "$out" 2>&1 || fail "$CASE: $what: e2fsck -fn: $(tail -n 4 "$out" | tr '\n' ' ')"
		mount -o ro "$dev" "$dir" || fail "$CASE: $what does not mount read-only"
		;;
	xfs)
		dd if="$dev" of="$copy" bs=1M iflag=direct conv=sparse status=none || fail "$CASE: copying $what"
		mount -o loop,nouuid "$copy" "$dir" || fail "$CASE: a copy of $what does not mount (log replay)"
		umount "$dir"
		xfs_repair -n "$copy" > "$out" 2>&1 ||
			fail "$CASE: $what: xfs_repair -n (log replayed): $(tail -n 4 "$out" | tr '\n' ' ')"
		rm -f "$copy"
		mount -o ro,norecovery,nouuid "$dev" "$dir" || fail "$CASE: $what does not mount read-only"
		;;
	esac
	(cd "$dir" && sha256sum --quiet -c "$sums") > "$out" 2>&1 ||
		{ umount "$dir"; fail "$CASE: $what: files differ: $(head -n 4 "$out" | tr '\n' ' ')"; }
	umount "$dir"
}

# fs_case FS DEV: the filesystem case (see the top) with FS on DEV.
fs_case() {
	local fs=$1 dev=$2 m=$T/$CASE/mnt r=$T/$CASE/ro src=$T/$CASE/src i out bytes
	mkdir -p "$m" "$r" "$src"
	# Free space holds data, so that a discard has something to lose.
	"$BLKSTAMP" fill "$dev" --version 1 > /dev/null || fail "$CASE: filling $dev"
	case $fs in
	ext4) mkfs.ext4 -q -F -E nodiscard,lazy_itable_init=0,lazy_journal_init=0 "$dev" ;;
	# xfsprogs refuses filesystems under 300 MiB, unless run by fstests.
	xfs) TEST_DIR=$T TEST_DEV=$dev QA_CHECK_FS=1 mkfs.xfs -q -f -K "$dev" ;;
	esac > "$T/mkfs.out" 2>&1 || fail "$CASE: mkfs: $(cat "$T/mkfs.out")"
	mount "$dev" "$m" || fail "$CASE: mount $dev"
	on_exit "umount $r 2>/dev/null; umount $m 2>/dev/null"

	# Before the take: files of 96 KiB to 768 KiB and small ones; the
	# sources stay in $src for the expected content.
	for i in $(seq 1 8); do
		head -c $((i * 98304)) /dev/urandom > "$src/pre$i"
	done
	mkdir "$src/dir"
	for i in $(seq 1 24); do
		echo "small file $i of $fs" > "$src/dir/s$i"
	done
	cp -a "$src/." "$m/"
	(cd "$src" && find . -type f | sort | xargs sha256sum) > "$T/take.sums"
	sync
	REF=image take "$dev"
	step "files written, taken"

	# After the take.
	fs_mix "$m" 0 > "$T/fs.fio"
	run_fio "fio on files of the origin" "$T/fs.fio"
	step "fio done"
	head -c 16384 /dev/urandom > "$T/patch"
	for f in "$src/pre3" "$m/pre3"; do
		dd if="$T/patch" of="$f" bs=4k seek=3 conv=notrunc,fsync status=none ||
			fail "$CASE: overwriting $f"
	done
	head -c 200000 /dev/urandom > "$T/tail"
	cat "$T/tail" >> "$src/pre4"
	cat "$T/tail" >> "$m/pre4"
	rm -f "$src"/pre[12568] "$src"/dir/s1* "$m"/pre[12568] "$m"/dir/s1*
	sync -f "$m"
	out=$(fstrim -v "$m" 2>&1) || fail "$CASE: fstrim after deleting files: $out"
	step "$out"
	bytes=$(sed -n 's/.*(\([0-9]*\) bytes) trimmed.*/\1/p' <<< "$out")
	[ "${bytes:-0}" -gt 0 ] || fail "$CASE: the first fstrim trimmed nothing: $out"
	fs_mix "$m" 1 > "$T/fs-verify.fio"
	run_fio "the fio files re-read with O_DIRECT (verify_only)" "$T/fs-verify.fio"
	rm -f "$m"/dio.* "$m"/buf.*
	sync -f "$m"
	out=$(fstrim -v "$m" 2>&1) || fail "$CASE: fstrim after deleting the fio files: $out"
	step "$out"
	(cd "$src" && find . -type f | sort | xargs sha256sum) > "$T/now.sums"

	# The origin: clean, with the expected files.
	umount "$m"
	case $fs in
	ext4) e2fsck -fn "$dev" > "$T/fsck.out" 2>&1 ;;
	xfs) xfs_repair -n "$dev" > "$T/fsck.out" 2>&1 ;;
	esac || fail "$CASE: the origin's $fs is damaged: $(tail -n 4 "$T/fsck.out" | tr '\n' ' ')"
	mount -o ro "$dev" "$m" || fail "$CASE: the origin does not mount again"
	(cd "$m" && sha256sum --quiet -c "$T/now.sums") > "$T/sums.out" 2>&1 ||
		fail "$CASE: the origin's files differ: $(head -n 4 "$T/sums.out" | tr '\n' ' ')"
	for i in 1 2 5 6 8; do
		[ ! -e "$m/pre$i" ] || fail "$CASE: pre$i, deleted, is still on the origin"
	done
	umount "$m"
	step "origin checked"

	# The image: as at the take, clean, with the files of the take.
	image_check "$dev"
	fs_check "$fs" "${IMG[$dev]}" "$r" "$T/take.sums" "the image"
	image_recheck "$dev"
	release
}

case_ext4() {
	nullb cs0396ext4 size=32 memory_backed=1 discard=1
	fs_case ext4 "/dev/$NULLB"
}

case_xfs() {
	tmpfs_loop 48M
	fs_case xfs "$LOOP"
}

matrix_start
run_case loop-dio case_loop_dio
run_case ext4 case_ext4
run_case xfs case_xfs
report
