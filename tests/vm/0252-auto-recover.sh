#!/bin/bash
# snapctl create --auto-recover (issue 15): images of filesystems whose
# journal or log still needs replaying come out clean.  The volumes are
# written by a filesystem mounted elsewhere (here through a second loop
# device on the same file, as a virtual machine's disk is by its guest), so
# nothing freezes it at the take: an ext4 image without --auto-recover still
# has needs_recovery; with it, the journal is replayed on the image right
# after the take (needs_recovery gone, e2fsck -fn clean without noload,
# the files as written, the image read-only again: a write to it fails),
# and an xfs image (--auto-recover --writable: it stays writable) mounts
# read-only without norecovery and passes xfs_repair -n.  The origins are
# untouched by the recovery (checksums).
# tier: full
# cost: 70
# timeout: 300
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.bash"

modprobe loop 2> /dev/null || true
make_loop st 96
printf 'set-size 40M\ndevice %s\n' "$st" > "$CONF/storage.conf"
load_module
start_daemon --config-dir "$CONF"
on_exit delete_all_sets

# two_loops FILE MIB: $A (mounted) and $B (the volume taken) on one file
two_loops() {
	truncate -s "$2M" "$1"
	A=$(losetup -f --show "$1") || fail "losetup"
	on_exit "losetup -d $A"
	B=$(losetup -f --show "$1") || fail "losetup"
	on_exit "losetup -d $B"
}
create() {	# ARGS...: sets SET and IMG
	local o
	o=$("$SNAPCTL" create --no-writers "$@" 2>&1) || fail "create $*: $o"
	SET=$(echo "$o" | sed -n 1p)
	IMG=$(echo "$o" | sed -n 2p | awk '{ print $2 }')
	[ -b "$IMG" ] || fail "no image in: $o"
}
sha() { sha256sum < "$1" | awk '{ print $1 }'; }

# ---- ext4 ----
two_loops /tmp/ar-ext4.img 64
mkfs_ext4 -E lazy_itable_init=0,lazy_journal_init=0 "$A"
M=$(mktemp -d /tmp/cs0252.XXXXXX)
mount -o noatime "$A" "$M"
on_exit "umount $M 2>/dev/null"
for i in 1 2 3 4 5 6; do head -c $((i * 40000)) /dev/urandom > "$M/f$i"; done
mkdir "$M/dir"
sync
(cd "$M" && sha256sum f?) > /tmp/cs0252-sums
blockdev --flushbufs "$B"
# the journal holds what sync committed: not yet in place
dumpe2fs -h "$B" 2>/dev/null | grep -q "needs_recovery" ||
	fail "the test's ext4 does not need recovery: $(dumpe2fs -h "$B" 2>&1 | grep features)"
before=$(sha "$B")

create "$B"
dumpe2fs -h "$IMG" 2>/dev/null | grep -q "needs_recovery" ||
	fail "an image taken without --auto-recover was recovered"
"$SNAPCTL" delete "$SET" > /dev/null

create --auto-recover "$B"
# recovered, then read-only for good
"$SNAPCTL" show "$SET" | grep -q writable && fail "--auto-recover left the set writable: $("$SNAPCTL" show "$SET")"
check_eq "$(cat /sys/block/${IMG#/dev/}/ro)" 1 "the recovered image's read-only flag"
dd if=/dev/zero of="$IMG" bs=4k count=1 seek=100 oflag=direct conv=notrunc status=none 2> /dev/null &&
	fail "a write to the sealed image succeeded"
dumpe2fs -h "$IMG" 2>/dev/null | grep -q "needs_recovery" &&
	fail "the ext4 image still needs recovery after --auto-recover"
out=$(e2fsck -fn "$IMG" 2>&1) || fail "e2fsck -fn of the recovered image: $out"
for i in 1 2 3 4 5 6; do
	check_eq "$(debugfs -R "cat /f$i" "$IMG" 2>/dev/null | sha256sum | awk '{ print $1 }')" \
		"$(awk -v f="f$i" '$2 == f { print $1 }' /tmp/cs0252-sums)" "f$i in the recovered image"
done
debugfs -R "ls /" "$IMG" 2>/dev/null | grep -q "dir" || fail "dir is not in the recovered image"
grep -q "image $IMG (ext4) recovered" "$DAEMON_LOG" || fail "cowsnapd's log: $(show_log)"
check_eq "$(sha "$B")" "$before" "the origin after the image's recovery"
"$SNAPCTL" delete "$SET" > /dev/null
umount "$M"

# ---- xfs (mkfs.xfs wants 300 MiB) ----
if command -v mkfs.xfs > /dev/null && modprobe xfs 2> /dev/null; then
	two_loops /tmp/ar-xfs.img 320
	mkfs.xfs -q "$A" || fail "mkfs.xfs"
	mount -o noatime "$A" "$M"
	for i in 1 2 3; do head -c $((i * 50000)) /dev/urandom > "$M/x$i"; done
	sync
	(cd "$M" && sha256sum x?) > /tmp/cs0252-xsums
	blockdev --flushbufs "$B"
	before=$(sha "$B")
	# --writable too: recovered and still writable
	create --auto-recover --writable "$B"
	"$SNAPCTL" show "$SET" | grep -q writable || fail "--auto-recover --writable: $("$SNAPCTL" show "$SET")"
	check_eq "$(cat /sys/block/${IMG#/dev/}/ro)" 0 "the recovered writable image's read-only flag"
	I=$(mktemp -d /tmp/cs0252i.XXXXXX)
	out=$(mount -t xfs -o ro,nouuid "$IMG" "$I" 2>&1) ||
		fail "the recovered xfs image does not mount read-only without norecovery: $out"
	out=$(cd "$I" && sha256sum -c --quiet /tmp/cs0252-xsums 2>&1) || fail "xfs files in the image: $out"
	umount "$I"
	out=$(xfs_repair -n "$IMG" 2>&1) || fail "xfs_repair -n of the recovered image: $out"
	check_eq "$(sha "$B")" "$before" "the xfs origin after the image's recovery"
	"$SNAPCTL" delete "$SET" > /dev/null
	umount "$M"
else
	note "no xfs here: its part not run"
fi
exit 0
