#!/bin/bash
# Issue 3, must hold 2: mounted ext4 and xfs under a file-writing load.  The
# take freezes and thaws them itself: every file finished before the take is
# whole in the image (without a freeze, delayed allocation leaves the latest
# ones empty), the origin is writable and not frozen right after; the image
# is clean and mounts read-only.
#   ext4: the frozen image has no needs_recovery, e2fsck -fn is clean, it
#         mounts with -o ro.  Control: a NO_FREEZE take of the same load
#         leaves needs_recovery set, so the check can fail.
#   xfs:  a frozen xfs keeps a dirty log (on 6.1 and 6.12 fsfreeze alike:
#         xfs_repair -n reports it, and a read-only device cannot replay
#         it), so the image mounts with -o ro,norecovery,nouuid, and a
#         writable copy of it replays its log and then passes xfs_repair -n.
# tier: core 6.1 6.12 7.x
# cost: 88
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/03-helpers.bash"

need SET_NEW SET_ADD_VOLUME SET_ADD_STORAGE SET_TAKE SET_GET SET_DESTROY
# xfsprogs refuses filesystems under 300 MiB.  ram2: scratch copy.
brd 3 320
modprobe -a ext4 xfs
load_module_03
M=$T/mnt R=$T/ro
mkdir -p "$M" "$R"
on_exit "umount $R 2>/dev/null; umount $M 2>/dev/null"

# File i: (1 + i % 24) blocks of 4 KiB, each filled with a line naming i;
# bash builtins only, so that the load is fast under emulation.
content() {
	local line blk n
	printf -v line 'file %07d of the load\n' "$1"
	blk=$line
	while [ ${#blk} -lt 4096 ]; do blk=$blk$blk; done
	blk=${blk:0:4096}
	for ((n = 0; n <= $1 % 24; n++)); do
		printf '%s' "$blk"
	done
}

# The load: files written then renamed into place; $T/done lists the
# finished ones.
load() {
	local i=0
	: > "$T/done"
	while [ ! -e "$T/stop" ]; do
		i=$((i + 1))
		content "$i" > "$M/f$i.tmp"
		mv "$M/f$i.tmp" "$M/f$i"
		echo "$i" >> "$T/done"
		if [ $((i % 50)) = 0 ]; then
			rm -f "$M/f$((i - 45))"
		fi
	done
}

take_under_load() {
	local flags=$1
	rm -f "$T/stop"
	load &
	LOAD=$!
	sleep 5
	sess_start
	new_set
	s add-volume "$SET" /dev/ram0
	s add-storage "$SET" /dev/ram1 0 $((320 * 2048))
	DONE_BEFORE=$(wc -l < "$T/done")
	s take "$SET" $flags
	# Thawed: a write goes through at once, and the filesystem is not frozen.
	timeout 20 sh -c "echo after > $M/after && sync -f $M/after" || fail "$FS: origin still frozen after the take"
	if fsfreeze --unfreeze "$M" 2>/dev/null; then
		fail "$FS: the filesystem was still frozen after the take"
	fi
	sleep 2
	touch "$T/stop"
	wait "$LOAD"
	IMG=$(image_of "$SET" /dev/ram0)
	[ "$DONE_BEFORE" -gt 5 ] || fail "$FS: the load wrote only $DONE_BEFORE files before the take"
}

# Files f1..f$DONE_BEFORE were finished before the take: each is in the
# image, whole (the load removes the ones with i % 50 == 5 later on: those
# may be gone, but a present one must be whole too).
check_files() {
	local i n=0
	for ((i = 1; i <= DONE_BEFORE; i++)); do
		if [ ! -e "$R/f$i" ]; then
			[ $((i % 50)) = 5 ] && continue
			fail "$FS: f$i, finished before the take, is missing in the image"
		fi
		cmp -s "$R/f$i" <(content "$i") || fail "$FS: f$i differs in the image"
		n=$((n + 1))
	done
	note "$FS: $n files whole in the image ($DONE_BEFORE finished before the take)"
}

for FS in ext4 xfs; do
	case $FS in
	ext4) mkfs.ext4 -q -F -E nodiscard /dev/ram0 ;;
	xfs) mkfs.xfs -q -f -K /dev/ram0 ;;
	esac
	mount /dev/ram0 "$M"

	if [ "$FS" = ext4 ]; then
		# Control: no freeze, so the journal of the image needs recovery.
		take_under_load --no-freeze
		dumpe2fs -h "$IMG" 2>/dev/null | grep -q needs_recovery ||
			fail "control: an unfrozen ext4 image has no needs_recovery: the check below proves nothing"
		s destroy "$SET"
		sess_kill
	fi

	take_under_load ""
	case $FS in
	ext4)
		if dumpe2fs -h "$IMG" 2>/dev/null | grep -q needs_recovery; then
			fail "ext4: the image's journal needs recovery: not frozen at the take"
		fi
		e2fsck -fn "$IMG" > "$T/fsck" 2>&1 || fail "ext4: e2fsck -fn of the image: $(cat "$T/fsck")"
		mount -o ro "$IMG" "$R" || fail "ext4: the image does not mount read-only"
		;;
	xfs)
		mount -o ro,norecovery,nouuid "$IMG" "$R" || fail "xfs: the image does not mount read-only"
		;;
	esac
	check_files
	umount "$R"
	# The image is unchanged by the load that went on after the take.
	case $FS in
	ext4) e2fsck -fn "$IMG" > /dev/null 2>&1 || fail "ext4: image no longer clean" ;;
	xfs)
		dd if="$IMG" of=/dev/ram2 bs=1M iflag=direct oflag=direct status=none || fail "xfs: copying the image failed"
		mount -o nouuid /dev/ram2 "$R" || fail "xfs: a copy of the image does not mount (log replay)"
		umount "$R"
		xfs_repair -n /dev/ram2 > "$T/fsck" 2>&1 || fail "xfs: xfs_repair -n of the image (log replayed): $(tail -n 5 "$T/fsck")"
		;;
	esac
	s destroy "$SET"
	sess_kill
	umount "$M"
	# The origin itself is intact.
	case $FS in
	ext4) e2fsck -fn /dev/ram0 > "$T/fsck" 2>&1 || fail "ext4: origin damaged: $(cat "$T/fsck")" ;;
	xfs) xfs_repair -n /dev/ram0 > "$T/fsck" 2>&1 || fail "xfs: origin damaged: $(tail -n 5 "$T/fsck")" ;;
	esac
done
