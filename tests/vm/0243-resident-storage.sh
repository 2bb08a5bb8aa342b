#!/bin/bash
# Storage in a file on the set's own volume, through the protocol (issue 12):
# the extents of an immutable, allocated file on the mounted ext4 volume are
# given as COWSNAP_STORAGE_F_IN_FILE ranges of a set holding that volume.
# Copies land in those sectors of the origin, past copy-on-write: the image
# reads them as zeros whatever they hold, stays what the origin was at the
# take (checksum, fsck, files), and the changed-block map counts none of
# them.  Refused, each with its reason: the same range not as a file's,
# storage on the volume after the take outside what was free at the take
# (its new blocks may be the image's; inside SET_ADD_FREE's ranges it is
# taken, and the image stays what it was), bad free ranges, a second set
# of the volume, and storage there for a set not holding it.  Writes into
# whole chunks of free space are not copied (no storage used).  The zero
# table (the storage file, the free ranges) reads back with SET_GET_ZERO.
# tier: core 6.1 6.12 7.x
# cost: 30
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/03-helpers.bash"

need SET_NEW SET_ADD_VOLUME SET_ADD_STORAGE SET_TAKE CBT_GET
brd 2 64
load_module_03
modprobe ext4 2>/dev/null || true
mkfs.ext4 -q -b 4096 -E lazy_itable_init=0,lazy_journal_init=0 /dev/ram0
M=$T/mnt
mkdir -p "$M" "$T/img"
mount /dev/ram0 "$M"
on_exit "umount $T/img 2>/dev/null; chattr -i $M/store $M/store2 $M/store3 2>/dev/null; umount $M 2>/dev/null"
for i in 1 2 3 4 5 6 7 8; do
	head -c 1M /dev/urandom > "$M/f$i"
done
fallocate -l 16M "$M/store"
sync
chattr +i "$M/store"
(cd "$M" && sha256sum f?) > "$T/take.sums"

# extents FILE: "START LEN" lines, 512-byte sectors of the filesystem's
# device, of the extents that hold a chunk at least (as cowsnapd gives them)
extents() {
	filefrag -v -b512 "$1" | awk -F: '$1 ~ /^ *[0-9]+$/ {
		split($3, p, /\.\./); n = p[2] - p[1] + 1; if (n >= 64) print p[1] + 0, n }'
}
extents "$M/store" > "$T/ext"
[ -s "$T/ext" ] || fail "no extents: $(filefrag -v -b512 "$M/store")"
read -r first_start first_len < "$T/ext"

sess_start
new_set --chunk-sectors 64
s add-volume "$SET" /dev/ram0
sess_run add-storage "$SET" /dev/ram0 "$first_start" "$first_len"
check_eq "$SESS_RC" 16 "a range on the set's volume that is not a file's (EBUSY)"
while read -r st len; do
	s add-storage "$SET" /dev/ram0 "$st" "$len" --in-file
done < "$T/ext"
s take "$SET"
img=$(image_of "$SET" /dev/ram0)
take_sum=$(sha256sum < "$img")

# the origin's files rewritten in place: their old chunks are copied into
# the storage file's sectors
for i in 1 2 3 4 5 6; do
	dd if=/dev/urandom of="$M/f$i" bs=64K count=16 conv=notrunc,fsync status=none
done
(cd "$M" && sha256sum f?) > "$T/after.sums"
check_eq "$(set_field "$SET" state)" TAKEN "state after the writes"
used=$(set_field "$SET" storage_used)
[ "$used" -ge $((6 * 2048)) ] || fail "only $used sectors of storage used"
# the copies are on the origin, inside the file's first extent
cmp -s -n $((used * 512)) <(dd if=/dev/ram0 bs=512 skip="$first_start" count="$used" \
	iflag=direct status=none) /dev/zero && fail "no copy in the storage file's sectors"
# the image reads every storage sector as zeros, and is what it was at the take
while read -r st len; do
	cmp -s -n $((len * 512)) <(dd if="$img" bs=512 skip="$st" count="$len" iflag=direct \
		status=none) /dev/zero || fail "image of storage sectors $st+$len is not zeros"
done < "$T/ext"
check_eq "$(sha256sum < "$img")" "$take_sum" "image after the origin's writes"
out=$(e2fsck -fn "$img" 2>&1) || fail "e2fsck of the image: $out"
mount -o ro,noload "$img" "$T/img"
out=$(cd "$T/img" && sha256sum -c --quiet "$T/take.sums" 2>&1) || fail "image files: $out"
umount "$T/img"

# changed-block map: the files' chunks, none inside the storage file
# (copies counted after the filesystem's last writes: every changed chunk
# was copied by the time its write completed)
sync
used=$(set_field "$SET" storage_used)
"$NLCTL" cbt-get /dev/ram0 "$SET" 0 $((64 * 2048 / 64)) > "$T/cbt" || fail "CBT_GET: $(cat "$T/cbt")"
changed=$(awk '$1 == "cbt" { for (i = 2; i <= NF; i++) if ($i ~ /^changed=/) print substr($i, 9) }' "$T/cbt")
[ "$changed" -le $((used / 64)) ] || fail "$changed chunks changed, only $((used / 64)) copied"
while read -r st len; do
	awk -v s="$st" -v e=$((st + len)) '$1 == "range" && $2 * 64 >= s && ($2 + $3) * 64 <= e {
		print "changed chunks " $2 "+" $3 " lie inside the storage file"; bad = 1 }
		END { exit bad }' "$T/cbt" || fail "storage writes counted as changes"
done < "$T/ext"

# after the take, a new file's blocks may be ones the image still uses:
# refused unless they lie inside what the image reads as zeros (free at
# the take, SET_ADD_FREE; nothing was deleted since the take, so the new
# file's blocks were free then)
fallocate -l 2M "$M/store2"
sync
chattr +i "$M/store2"
read -r st len < <(extents "$M/store2")
sess_run add-storage "$SET" /dev/ram0 "$st" "$len" --in-file
check_eq "$SESS_RC" 16 "storage on the volume after the take, outside the free table (EBUSY)"
grep -qF "after the take" <<< "$SESS_OUT" || fail "growth refusal: $SESS_OUT"
sess_run add-free "$SET" /dev/ram0 0 $((64 * 2048 + 1))
check_eq "$SESS_RC" 22 "a free range past the end of the volume (EINVAL)"
grep -qF "past the end" <<< "$SESS_OUT" || fail "free range past the end: $SESS_OUT"
sess_run add-free "$SET" /dev/ram1 0 2048
check_eq "$SESS_RC" 22 "free ranges of a device not in the set (EINVAL)"
grep -qF "not a volume of the set" <<< "$SESS_OUT" || fail "free ranges elsewhere: $SESS_OUT"
sess_run add-free "$SET" /dev/ram0 "$st" 0
check_eq "$SESS_RC" 22 "an empty free range (EINVAL)"
# half of the file free: still refused
s add-free "$SET" /dev/ram0 "$st" $((len / 2))
sess_run add-storage "$SET" /dev/ram0 "$st" "$len" --in-file
check_eq "$SESS_RC" 16 "storage on the volume half inside the free table (EBUSY)"
# the image reads the free range as zeros; it was zeros at the take too
check_eq "$(dd if="$img" bs=512 skip="$st" count=$((len / 2)) status=none | tr -d '\000' | wc -c)" \
	0 "image bytes in the free range"
check_eq "$(sha256sum < "$img")" "$take_sum" "image after SET_ADD_FREE"
# writes into whole chunks of it are not copied (the image reads zeros
# there whatever the origin holds): no storage used, the image unchanged
a=$(((st + 63) / 64 * 64)) b=$(((st + len / 2) / 64 * 64))
[ $((b - a)) -ge 128 ] || fail "the free range $st+$((len / 2)) holds no two whole chunks"
sync
used=$(set_field "$SET" storage_used)
dd if=/dev/urandom of=/dev/ram0 bs=512 seek="$a" count=$((b - a)) oflag=direct status=none
check_eq "$(set_field "$SET" storage_used)" "$used" \
	"storage used after writing $((b - a)) sectors of whole chunks inside the zero table"
check_eq "$(sha256sum < "$img")" "$take_sum" "image after writes inside the zero table"
# the rest, overlapping the first and with a neighbour: the file is inside
s add-free "$SET" /dev/ram0 $((st + len / 4)) $((len - len / 4)) $((st + len)) 8
s add-storage "$SET" /dev/ram0 "$st" "$len" --in-file
check_eq "$(dd if="$img" bs=512 skip="$st" count="$len" status=none | tr -d '\000' | wc -c)" \
	0 "image bytes in the grown storage"
# the zero table reads back (SET_GET_ZERO): the first storage file's
# extents and the free ranges, in order; from a sector on, clipped there
covers() {	# START SECTORS: a "zero" line of SESS_OUT holds them
	awk -v a="$1" -v b="$2" '$1 == "zero" && $2 <= a && a + b <= $2 + $3 { ok = 1 }
		END { exit !ok }' <<< "$SESS_OUT"
}
sess_run get-zero "$SET" /dev/ram0
check_eq "$SESS_RC" 0 "SET_GET_ZERO (out: $SESS_OUT)"
covers "$st" $((len + 8)) || fail "zero table lacks the free ranges: $SESS_OUT"
while read -r a b; do
	covers "$a" "$b" || fail "zero table lacks storage extent $a+$b: $SESS_OUT"
done < "$T/ext"
sort -c -n -k2 <(grep '^zero ' <<< "$SESS_OUT") || fail "zero table out of order: $SESS_OUT"
sess_run get-zero "$SET" /dev/ram0 $((st + 8))
grep -q "^zero $((st + 8)) " <<< "$SESS_OUT" || fail "zero table from sector $((st + 8)): $SESS_OUT"
sess_run get-zero "$SET" /dev/ram1
check_eq "$SESS_RC" 22 "SET_GET_ZERO of a device not in the set (EINVAL)"
for i in 7 8; do
	dd if=/dev/urandom of="$M/f$i" bs=64K count=16 conv=notrunc,fsync status=none
done
(cd "$M" && sha256sum f?) > "$T/after.sums"
check_eq "$(sha256sum < "$img")" "$take_sum" "image after growth on the volume and more writes"
check_eq "$(set_field "$SET" state)" TAKEN "state after growth on the volume"

# no second set of the volume while this one keeps storage on it, and no
# storage there for a set that does not hold it
SET1=$SET
new_set --chunk-sectors 64
sess_run add-volume "$SET" /dev/ram0
check_eq "$SESS_RC" 16 "a second set of the volume (EBUSY)"
grep -qF "another set's difference storage" <<< "$SESS_OUT" || fail "second set: $SESS_OUT"
s add-volume "$SET" /dev/ram1
fallocate -l 2M "$M/store3"
sync
chattr +i "$M/store3"
read -r st len < <(extents "$M/store3")
sess_run add-storage "$SET" /dev/ram0 "$st" "$len" --in-file
check_eq "$SESS_RC" 16 "a file on a volume of another set (EBUSY)"
s destroy "$SET"
s destroy "$SET1"
chattr -i "$M/store" "$M/store2" "$M/store3"
rm "$M/store" "$M/store2" "$M/store3"
echo 3 > /proc/sys/vm/drop_caches
out=$(cd "$M" && sha256sum -c --quiet "$T/after.sums" 2>&1) || fail "origin files: $out"
umount "$M"
out=$(e2fsck -fn /dev/ram0 2>&1) || fail "e2fsck of the origin: $out"
