#!/bin/bash
# Writable images (issue 15): a set made with COWSNAP_SET_F_WRITABLE has
# images that take writes, kept in the set's storage, never on the origin.
# Raw: fio's own verifier over random 4 KiB writes on the image, unaligned
# 512-byte writes, origin writes to the same chunks at the same time; the
# image reads back what was written over the take's data elsewhere, the
# origin holds exactly its own writes.  Storage exhausted by image writes:
# that set INVALID (STORAGE_FULL), the write fails with EIO, the origin and
# another set of it go on.  Unknown flag bits and resident storage with a
# writable set are refused.  Through snapctl: ext4 on a writable image
# mounts read-write (journal replay), files written there, e2fsck clean, the
# origin untouched; an XFS image taken while mounted mounts read-write and
# passes xfs_repair -n; an incremental read of a written image equals a full
# read.
# tier: full
# cost: 60
# timeout: 600
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/03-helpers.bash"
. "$(dirname "$0")/daemon-lib.bash"

need SET_NEW SET_ADD_VOLUME SET_ADD_STORAGE SET_TAKE SET_GET SET_DESTROY
brd 4 32
load_module_03
MB=$((1024 * 1024))

# ---- raw, through the protocol ----
dd if=/dev/urandom of=/dev/ram0 bs=1M count=32 oflag=direct status=none
sess_start
sess_run set-new --flags 8
check_eq "$SESS_RC" 95 "an unknown set flag (EOPNOTSUPP)"
new_set --writable
check_eq "$(set_field "$SET" flags)" writable "flags"
s add-volume "$SET" /dev/ram0
s add-storage "$SET" /dev/ram1 0 $((32 * 2048))
s take "$SET"
img=$(image_of "$SET" /dev/ram0)
check_eq "$(blockdev --getro "$img")" 0 "a writable image is not read-only"
dd if="$img" of="$T/take" bs=1M iflag=direct status=none
cmp "$T/take" /dev/ram0 || fail "image differs from the origin right after the take"
cp "$T/take" "$T/want_img"
cp "$T/take" "$T/want_origin"

# origin writes over [16M, 24M) in the background, while the image is written
head -c $((8 * MB)) /dev/urandom > "$T/orand"
dd if="$T/orand" of="$T/want_origin" bs=1M seek=16 conv=notrunc status=none
( dd if="$T/orand" of=/dev/ram0 bs=4k seek=4096 oflag=direct status=none ) &
opid=$!
# fio with its own verifier over [0, 8M) of the image
fio --name=iw --filename="$img" --rw=randwrite --bs=4k --size=8M --direct=1 \
	--ioengine=libaio --iodepth=8 --verify=crc32c --do_verify=1 \
	--verify_fatal=1 --randrepeat=0 --output="$T/fio.out" ||
	fail "fio on the image: $(cat "$T/fio.out")"
dd if="$img" of="$T/fio_region" bs=1M count=8 iflag=direct status=none
# unaligned 512-byte writes and 3-sector runs over [8M, 32M), also in the
# chunks the origin is writing; applied to the expected image too
head -c $((64 * 1536)) /dev/urandom > "$T/irand"
for i in $(seq 0 63); do
	sec=$((16384 + i * 769 + (i % 7)))
	dd if="$T/irand" of="$img" bs=512 skip=$((i * 3)) seek=$sec count=3 \
		oflag=direct conv=notrunc status=none || fail "image write at sector $sec"
	dd if="$T/irand" of="$T/want_img" bs=512 skip=$((i * 3)) seek=$sec count=3 \
		conv=notrunc status=none
done
wait "$opid" || fail "origin writes failed"
# a flush and an FUA write through the block layer
dd if="$T/irand" of="$img" bs=4k count=1 seek=$((30 * 256)) oflag=direct,dsync \
	conv=notrunc,fsync status=none || fail "FUA/flush write to the image"
dd if="$T/irand" of="$T/want_img" bs=4k count=1 seek=$((30 * 256)) conv=notrunc status=none
cmp <(dd if="$img" bs=1M skip=8 iflag=direct status=none) \
	<(dd if="$T/want_img" bs=1M skip=8 status=none) ||
	fail "the image does not read back its writes over the take's data"
cmp "$T/fio_region" <(dd if="$img" bs=1M count=8 iflag=direct status=none) ||
	fail "the fio region changed"
check_eq "$(sha256sum < /dev/ram0)" "$(sha256sum < "$T/want_origin")" \
	"origin: exactly its own writes, none of the image's"
[ "$(set_field "$SET" state)" = TAKEN ] || fail "set state $(set_field "$SET" state)"

# storage exhaustion by image writes: a second writable set, 16 chunks
set1=$SET
new_set --writable
set2=$SET
s add-volume "$set2" /dev/ram0
s add-storage "$set2" /dev/ram2 0 2048
s take "$set2"
img2=$(image_of "$set2" /dev/ram0)
if dd if=/dev/urandom of="$img2" bs=64k count=32 oflag=direct status=none 2> "$T/dd2"; then
	fail "32 chunks written to an image with 16 chunks of storage"
fi
grep -q "Input/output error" "$T/dd2" || fail "not EIO: $(cat "$T/dd2")"
check_eq "$(set_field "$set2" state)" INVALID "set state after exhaustion"
check_eq "$(set_field "$set2" cause)" STORAGE_FULL "cause"
read_fails "$img2"
# the origin goes on, exactly; the first set too
dd if="$T/irand" of=/dev/ram0 bs=4k count=4 seek=100 oflag=direct conv=notrunc status=none ||
	fail "origin write after the exhaustion"
dd if="$T/irand" of="$T/want_origin" bs=4k count=4 seek=100 conv=notrunc status=none
check_eq "$(sha256sum < /dev/ram0)" "$(sha256sum < "$T/want_origin")" "origin after exhaustion"
check_eq "$(set_field "$set1" state)" TAKEN "the other set"
cmp <(dd if="$img" bs=1M skip=8 iflag=direct status=none) \
	<(dd if="$T/want_img" bs=1M skip=8 status=none) || fail "the other set's image changed"
s destroy "$set2"
s destroy "$set1"

# writable and resident storage (a file on the set's volume) are refused
modprobe ext4 2>/dev/null || true
mkfs.ext4 -q -b 4096 /dev/ram3
M=$T/m3
mkdir -p "$M"
mount /dev/ram3 "$M"
on_exit "chattr -i $M/store 2>/dev/null; umount $M 2>/dev/null"
fallocate -l 4M "$M/store"
sync
chattr +i "$M/store"
read -r st len < <(filefrag -v -b512 "$M/store" | awk -F: '$1 ~ /^ *[0-9]+$/ {
	split($3, p, /\.\./); n = p[2] - p[1] + 1; if (n >= 128) { print p[1] + 0, n; exit } }')
[ -n "$len" ] || fail "no extent: $(filefrag -v -b512 "$M/store")"
new_set --writable
s add-volume "$SET" /dev/ram3
sess_run add-storage "$SET" /dev/ram3 "$st" "$len" --in-file
check_eq "$SESS_RC" 22 "resident storage for a writable set (EINVAL)"
grep -q "writable set" <<< "$SESS_OUT" || fail "no extack: $SESS_OUT"
s destroy "$SET"
chattr -i "$M/store"
umount "$M"
sess_kill
destroy_all_sets
quiet_unload
module_loaded && fail "rmmod cowsnap failed after the raw part"
note "raw part done at ${SECONDS}s"

# ---- through cowsnapd and snapctl ----
printf 'set-size 8M\ndevice /dev/ram2\n' > "$CONF/storage.conf"
start_daemon --config-dir "$CONF"
on_exit delete_all_sets
make_set() {	# VOLUME [OPTS]: sets SET and IMG
	local o v=$1
	shift
	o=$("$SNAPCTL" create --no-writers "$@" "$v" 2>&1) || fail "create $v: $o"
	SET=$(echo "$o" | sed -n 1p)
	IMG=$(echo "$o" | sed -n 2p | awk '{ print $2 }')
	[ -b "$IMG" ] || fail "no image device in: $o"
}

# ext4: the image mounts read-write and replays the journal
mkfs.ext4 -q -b 4096 -E lazy_itable_init=0,lazy_journal_init=0 /dev/ram3
mount /dev/ram3 "$M"
for i in 1 2 3 4; do head -c 1M /dev/urandom > "$M/f$i"; done
sync
(cd "$M" && sha256sum f?) > "$T/ext4.sums"
# a file written after the sync: in the journal at the take
head -c 300k /dev/urandom > "$M/late"
make_set "$M" --writable
"$SNAPCTL" show "$SET" | grep -q "writable" || fail "show: $("$SNAPCTL" show "$SET")"
"$SNAPCTL" --json show "$SET" | tr -d ' \n' | grep -q '"writable":true' ||
	fail "show --json: $("$SNAPCTL" --json show "$SET")"
o_sum=$(sha256sum < /dev/ram3)
mkdir -p "$T/i3"
out=$("$SNAPCTL" mount "$SET" /dev/ram3 "$T/i3") || fail "snapctl mount: $out"
grep -q "mounted read-write" <<< "$out" || fail "mount said: $out"
on_exit "umount $T/i3 2>/dev/null"
(cd "$T/i3" && sha256sum -c --quiet "$T/ext4.sums") || fail "image files differ from the take"
head -c 2M /dev/urandom > "$T/new"
cp "$T/new" "$T/i3/new"
rm "$T/i3/f1"
umount "$T/i3"
e2fsck -fn "$IMG" > "$T/fsck" 2>&1 || fail "e2fsck of the written image: $(cat "$T/fsck")"
mount -o ro "$IMG" "$T/i3" || fail "mount the image again"
cmp "$T/new" "$T/i3/new" || fail "file written on the image"
[ ! -e "$T/i3/f1" ] || fail "f1 removed on the image is back"
umount "$T/i3"
check_eq "$(sha256sum < /dev/ram3)" "$o_sum" "the origin, after the image's writes"
(cd "$M" && sha256sum -c --quiet "$T/ext4.sums") || fail "origin files changed"
[ ! -e "$M/new" ] || fail "the image's file is on the origin"
# --read-only keeps today's behaviour
out=$("$SNAPCTL" mount --read-only "$SET" /dev/ram3 "$T/i3") || fail "mount --read-only: $out"
grep -q "mounted read-only" <<< "$out" || fail "mount --read-only said: $out"
touch "$T/i3/x" 2>/dev/null && fail "a --read-only mount took a write"
umount "$T/i3"
"$SNAPCTL" delete "$SET" > /dev/null || fail "delete"
umount "$M"
e2fsck -fn /dev/ram3 > "$T/fsck" 2>&1 || fail "e2fsck of the origin: $(cat "$T/fsck")"

# incremental: base from a first set, then a writable set written on
SNAPREAD=$TOP/tools/read/snapread
dd if=/dev/urandom of=/dev/ram0 bs=1M count=32 oflag=direct status=none
make_set /dev/ram0
base_set=$SET
"$SNAPREAD" -q "$IMG" "$T/base" || fail "full read"
dd if=/dev/urandom of=/dev/ram0 bs=4k count=8 seek=1000 oflag=direct conv=notrunc status=none
make_set /dev/ram0 --writable
"$SNAPCTL" --json list sets | tr -d ' \n' | grep -q '"writable":false' ||
	fail "list --json lacks writable false: $("$SNAPCTL" --json list sets)"
for sec in 777 20001 50000; do
	dd if=/dev/urandom of="$IMG" bs=512 count=5 seek=$sec oflag=direct conv=notrunc \
		status=none || fail "image write"
done
"$SNAPREAD" -q --incremental --base "$T/base" "$IMG" || fail "incremental read"
"$SNAPREAD" -q "$IMG" "$T/full" || fail "full read of the written image"
check_eq "$(sha256sum < "$T/base")" "$(sha256sum < "$T/full")" \
	"incremental of a written image against a full read"
"$SNAPCTL" delete "$SET" > /dev/null
"$SNAPCTL" delete "$base_set" > /dev/null
# xfs: taken while mounted, the image mounts read-write, xfs_repair -n clean
if command -v mkfs.xfs > /dev/null && modprobe xfs 2>/dev/null; then
	# xfsprogs wants 300 MiB at least: a sparse file's loop device
	make_loop xdev 320
	mkfs.xfs -q -f "$xdev" || fail "mkfs.xfs"
	mount "$xdev" "$M"
	for i in 1 2 3; do head -c 1M /dev/urandom > "$M/x$i"; done
	make_set "$M" --writable
	out=$("$SNAPCTL" mount "$SET" "$xdev" "$T/i3") || fail "snapctl mount xfs: $out"
	grep -q "mounted read-write" <<< "$out" || fail "xfs mount said: $out"
	cp "$T/new" "$T/i3/new"
	umount "$T/i3"
	xfs_repair -n "$IMG" > "$T/xr" 2>&1 || fail "xfs_repair -n: $(cat "$T/xr")"
	[ ! -e "$M/new" ] || fail "the image's file is on the xfs origin"
	"$SNAPCTL" delete "$SET" > /dev/null || fail "delete"
	umount "$M"
	xfs_repair -n "$xdev" > "$T/xr" 2>&1 || fail "xfs_repair -n of the origin: $(cat "$T/xr")"
else
	note "no mkfs.xfs or xfs module: XFS part skipped"
fi

echo "ok"
