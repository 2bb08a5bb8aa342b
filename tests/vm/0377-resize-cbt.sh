#!/bin/bash
# Issue 10, item 6: a volume that grows while tracked (losetup -c after the
# backing file grew; lvextend alike).  Changes past the old end must not be
# lost for incrementals: the first take after the resize starts a new
# changed-block generation, so a backup based on an earlier take reads
# everything (CBT_GET reports every chunk changed), and the new set's image
# has the new size and the new bytes.
# timeout: 120
# tier: full
# cost: 31
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/03-helpers.bash"

need SET_NEW SET_ADD_VOLUME SET_ADD_STORAGE SET_TAKE SET_GET SET_DESTROY TRACK CBT_GET
brd 1 64
modprobe loop
truncate -s 32M "$T/vol"
dev=$(losetup --find --show "$T/vol") || fail "losetup"
on_exit "losetup -d $dev"
load_module_03
"$NLCTL" track "$dev" > /dev/null || fail "track"

sess_start
new_set --chunk-sectors 128
a=$SET
s add-volume "$a" "$dev"
s add-storage "$a" /dev/ram0 0 32768
s take "$a"
gen_a=$("$NLCTL" cbt-get "$dev" "$a" 0 512 | awk '$1 == "cbt" { print $2 }')

# Grow to 64 MiB and write 1 MiB at 40 MiB, past the old end.
truncate -s 64M "$T/vol"
losetup -c "$dev" || fail "losetup -c"
check_eq "$(blockdev --getsize64 "$dev")" $((64 * 1024 * 1024)) "size after losetup -c"
dd if=/dev/urandom of="$T/new" bs=1M count=1 status=none
dd if="$T/new" of="$dev" bs=1M seek=40 oflag=direct conv=notrunc status=none || fail "writing past the old end"

new_set --chunk-sectors 128
b=$SET
s add-volume "$b" "$dev"
s add-storage "$b" /dev/ram0 32768 32768
s take "$b"
img=$(image_of "$b" "$dev")
check_eq "$(blockdev --getsize64 "$img")" $((64 * 1024 * 1024)) "size of the image taken after the resize"
cmp -s "$T/new" <(dd if="$img" bs=1M skip=40 count=1 iflag=direct status=none) ||
	fail "the new image lacks the bytes written past the old end"

# Changed since a's take, over the new size: the 16 chunks at 40 MiB at
# least; with the new generation, all 1024.
out=$("$NLCTL" cbt-get "$dev" "$a" 0 1024)
gen_b=$("$NLCTL" cbt-get "$dev" "$b" 0 1024 | awk '$1 == "cbt" { print $2 }')
check_ne "$gen_b" "$gen_a" "CBT generation after the resize"
changed=$(awk '$1 == "cbt" { for (i = 2; i <= NF; i++) if ($i ~ /^changed=/) print substr($i, 9) }' <<< "$out")
check_eq "$changed" 1024 "chunks changed since the take before the resize"
s destroy "$a"
s destroy "$b"
sess_kill
