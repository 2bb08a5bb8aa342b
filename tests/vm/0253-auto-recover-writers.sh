#!/bin/bash
# Writers take part in auto-recovery (issue 15): post-snapshot comes after
# the take and before --auto-recover seals the images, and tells a hook
# writer the images (COWSNAP_SNAPSHOTS, ORIGIN=IMAGE) and that they take
# writes (COWSNAP_IMAGES_WRITABLE=1).  The hook mounts its ext4 image
# read-write (the journal of the filesystem mounted elsewhere replays
# there) and writes a marker file.  After the create: the image is
# read-only (a write fails), holds the marker byte for byte and the files
# as written, e2fsck -fn is clean, and the origin is unchanged (checksum).
# backup-complete of a create comes before the seal (writable 1); that of a
# backup session after it (0).  A plain create tells post-snapshot the
# images with COWSNAP_IMAGES_WRITABLE=0, and the events before the take
# have neither variable.
# tier: full
# cost: 55
# timeout: 300
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.bash"

modprobe loop 2> /dev/null || true
make_loop st 64
printf 'set-size 24M\ndevice %s\n' "$st" > "$CONF/storage.conf"

HM=/tmp/cs0253-hook-mnt
SEEN=/tmp/cs0253-seen
mkdir -p $HM
rm -f $SEEN
head -c 150000 /dev/urandom > /tmp/cs0253-marker
# the hook: every event's variables; at post-snapshot, when the images take
# writes, the marker into each image's filesystem
add_writer "$CONF" recoverer back-end '
echo "$1|${COWSNAP_SNAPSHOTS-unset}|${COWSNAP_IMAGES_WRITABLE-unset}" >> '$SEEN'
if [ "$1" = post-snapshot ] && [ "$COWSNAP_IMAGES_WRITABLE" = 1 ]; then
	for p in $COWSNAP_SNAPSHOTS; do
		mount -t ext4 "${p##*=}" '$HM' || exit 1
		cp /tmp/cs0253-marker '$HM'/marker && sync || { umount '$HM'; exit 1; }
		umount '$HM' || exit 1
	done
fi'
load_module
start_daemon --config-dir "$CONF"
on_exit delete_all_sets
on_exit "umount $HM 2>/dev/null"

# the volume taken ($B) is written through a second loop device on the same
# file ($A, mounted), as in 0252: its journal needs replaying on the image
truncate -s 64M /tmp/cs0253.img
A=$(losetup -f --show /tmp/cs0253.img) || fail "losetup"
on_exit "losetup -d $A"
B=$(losetup -f --show /tmp/cs0253.img) || fail "losetup"
on_exit "losetup -d $B"
mkfs_ext4 -E lazy_itable_init=0,lazy_journal_init=0 "$A"
M=$(mktemp -d /tmp/cs0253.XXXXXX)
mount -o noatime "$A" "$M"
on_exit "umount $M 2>/dev/null"
for i in 1 2 3; do head -c $((i * 50000)) /dev/urandom > "$M/f$i"; done
sync
(cd "$M" && sha256sum f?) > /tmp/cs0253-sums
blockdev --flushbufs "$B"
sha() { sha256sum < "$1" | awk '{ print $1 }'; }
before=$(sha "$B")
marker=$(sha /tmp/cs0253-marker)

create() {	# ARGS...: sets SET and IMG
	local o
	o=$("$SNAPCTL" create "$@" 2>&1) || fail "create $*: $o $(show_log)"
	SET=$(echo "$o" | sed -n 1p)
	IMG=$(echo "$o" | grep -o '/dev/cowsnap[0-9]*' | head -n 1)
	[ -b "$IMG" ] || fail "no image in: $o"
}

# ---- create --auto-recover: the hook writes into the image ----
create --auto-recover "$B"
check_eq "$(cut -d'|' -f1 $SEEN | tr '\n' ' ')" \
	"prepare-backup prepare-snapshot freeze thaw post-snapshot backup-complete " "the hook's events"
check_eq "$(grep -v '^post-snapshot\|^backup-complete' $SEEN | cut -d'|' -f2- | sort -u)" \
	"unset|unset" "the variables before the take"
check_eq "$(grep '^post-snapshot' $SEEN)" "post-snapshot|$B=$IMG|1" "post-snapshot's variables"
check_eq "$(grep '^backup-complete' $SEEN)" "backup-complete|$B=$IMG|1" \
	"backup-complete's variables (a create: before the seal)"
# sealed: read-only for good
"$SNAPCTL" show "$SET" | grep -q writable && fail "the set stayed writable: $("$SNAPCTL" show "$SET")"
check_eq "$(cat /sys/block/${IMG#/dev/}/ro)" 1 "the image's read-only flag"
dd if=/dev/zero of="$IMG" bs=4k count=1 seek=100 oflag=direct conv=notrunc status=none 2> /dev/null &&
	fail "a write to the sealed image succeeded"
out=$(e2fsck -fn "$IMG" 2>&1) || fail "e2fsck -fn of the image: $out"
I=$(mktemp -d /tmp/cs0253i.XXXXXX)
out=$(mount -t ext4 -o ro "$IMG" "$I" 2>&1) || fail "mount -o ro of the image: $out"
check_eq "$(sha "$I/marker")" "$marker" "the hook's marker in the image"
out=$(cd "$I" && sha256sum -c --quiet /tmp/cs0253-sums 2>&1) || fail "the files in the image: $out"
umount "$I"
# the origin: unchanged, and without the marker
check_eq "$(sha "$B")" "$before" "the origin after the hook wrote to the image"
[ -e "$M/marker" ] && fail "the marker is on the origin"
debugfs -R "stat /marker" "$B" 2>&1 | grep -q "File not found" ||
	fail "the origin's filesystem has a marker: $(debugfs -R 'stat /marker' "$B" 2>&1 | head -3)"
grep -q "image $IMG (ext4) recovered" "$DAEMON_LOG" || fail "cowsnapd's log: $(show_log)"
"$SNAPCTL" delete "$SET" > /dev/null

# ---- backup --auto-recover: backup-complete comes after the seal ----
: > $SEEN
run_rc out err rc "$SNAPCTL" backup --auto-recover \
	--exec 'echo "$COWSNAP_SNAPSHOTS" > /tmp/cs0253-cmd; debugfs -R "cat /marker" "${COWSNAP_SNAPSHOTS##*=}" 2>/dev/null | sha256sum > /tmp/cs0253-cmd-marker' "$B"
check_eq "$rc" 0 "backup --auto-recover (stderr: $err)"
cmdsnaps=$(cat /tmp/cs0253-cmd)
check_eq "$(grep '^post-snapshot' $SEEN)" "post-snapshot|$cmdsnaps|1" "a backup's post-snapshot"
check_eq "$(grep '^backup-complete' $SEEN)" "backup-complete|$cmdsnaps|0" \
	"a backup's backup-complete (after the seal)"
check_eq "$(awk '{ print $1 }' /tmp/cs0253-cmd-marker)" "$marker" "the marker, read by the backup command"
check_eq "$(sha "$B")" "$before" "the origin after the backup"

# ---- a plain create: the images named, read-only ----
: > $SEEN
create "$B"
check_eq "$(grep '^post-snapshot' $SEEN)" "post-snapshot|$B=$IMG|0" "post-snapshot of a plain create"
check_eq "$(grep '^backup-complete' $SEEN)" "backup-complete|$B=$IMG|0" \
	"backup-complete of a plain create"
dumpe2fs -h "$IMG" 2>/dev/null | grep -q "needs_recovery" ||
	fail "the plain create's image was recovered (or written)"
debugfs -R "stat /marker" "$IMG" 2>&1 | grep -q "File not found" ||
	fail "the plain create's image has a marker"
"$SNAPCTL" delete "$SET" > /dev/null
check_eq "$(sha "$B")" "$before" "the origin at the end"
exit 0
