#!/bin/bash
# snapctl revert (issue 15, first slice): a volume brought back to a set's
# point in time in place, by writing back only the chunks changed since the
# take.  Raw: after random writes, the origin's checksum equals the take's,
# exactly the chunks written were written back, a second set taken after
# the writes still reads its own point in time, the reverted set stays
# valid and equal to the origin; killed mid-revert and run again, the same.
# ext4: refused while mounted (the error names the mount point), then the
# files are as at the take and the filesystem is fsck-clean.  Writers:
# without --metadata, a hook writer and the socket writer whose component
# has files on the reverted volume (found through /etc/fstab, since the
# volume is unmounted) get pre-restore and post-restore with the volume, a
# socket writer whose files lie elsewhere does not; --no-writers: none.
# tier: full
# cost: 60
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.bash"

T=$(mktemp -d /tmp/cs-0245.XXXXXX)
make_loop st 96
make_loop vol 32
make_loop fsvol 64
printf 'set-size 24M\ndevice %s\n' "$st" > "$CONF/storage.conf"
add_writer "$CONF" rhook back-end 'echo "rhook-volumes $COWSNAP_VOLUMES" >> "$EVENTS"'
: > "$EVENTS"
load_module
start_daemon --config-dir "$CONF"
on_exit delete_all_sets

create() {	# VOLUME: sets SET and IMG
	local o
	o=$("$SNAPCTL" create --no-writers --chunk-size 64K "$1" 2>&1) || fail "create: $o"
	SET=$(echo "$o" | sed -n 1p)
	IMG=$(echo "$o" | sed -n 2p | awk '{ print $2 }')
	[ -b "$IMG" ] || fail "no image in: $o"
}
sha() { sha256sum < "$1" | awk '{ print $1 }'; }

# ---- raw ----
dd if=/dev/urandom of="$vol" bs=1M count=32 oflag=direct status=none
create "$vol"
A=$SET IMG_A=$IMG
take=$(sha "$vol")
check_eq "$(sha "$IMG_A")" "$take" "image A at the take"
# 200 random 4 KiB writes and a 1 MiB run: the chunks they touch
: > /tmp/cs0245-chunks
for ((i = 0; i < 200; i++)); do
	off=$(((RANDOM * 32768 + RANDOM) % 8192))	# a 4 KiB block of the 32 MiB
	dd if=/dev/urandom of="$vol" bs=4K seek="$off" count=1 oflag=direct conv=notrunc \
		status=none
	echo $((off * 4096 / 65536)) >> /tmp/cs0245-chunks
done
dd if=/dev/urandom of="$vol" bs=1M seek=20 count=1 oflag=direct conv=notrunc status=none
for ((c = 320; c < 336; c++)); do echo $c; done >> /tmp/cs0245-chunks
changed=$(sort -un /tmp/cs0245-chunks | wc -l)
check_ne "$(sha "$vol")" "$take" "origin after the writes"
create "$vol"
B=$SET IMG_B=$IMG
later=$(sha "$IMG_B")
check_eq "$later" "$(sha "$vol")" "image B at its take"

run_rc out err rc "$SNAPCTL" --json revert "$A"
check_eq "$rc" 0 "revert A (stderr: $err)"
check_eq "$(sha "$vol")" "$take" "origin after the revert"
check_eq "$(echo "$out" | tr -d ' \n' | grep -o '"writers":[0-9]*')" '"writers":1' \
	"writers in revert's JSON"
check_eq "$(tr '\n' ';' < "$EVENTS")" \
	"rhook pre-restore;rhook-volumes $vol;rhook post-restore;rhook-volumes $vol;" \
	"the hook writer's events and COWSNAP_VOLUMES"
: > "$EVENTS"
check_eq "$(echo "$out" | tr -d ' \n' | grep -o '"chunks":[0-9]*' | cut -d: -f2)" "$changed" \
	"chunks written back (the chunks written since the take)"
check_eq "$(echo "$out" | tr -d ' \n' | grep -o '"bytes":[0-9]*' | head -1 | cut -d: -f2)" \
	$((changed * 65536)) "bytes written back"
check_eq "$(sha "$IMG_B")" "$later" "image B after A's revert (its own point in time)"
check_eq "$(sha "$IMG_A")" "$take" "image A after its revert"
"$SNAPCTL" show "$A" | grep -q "^  state:    taken$" || fail "set A: $("$SNAPCTL" show "$A")"
"$SNAPCTL" show "$A" | grep -q "revert:" && fail "a complete revert still marked"

# killed mid-revert (when it is slow enough to be caught), then again
dd if=/dev/urandom of="$vol" bs=1M count=24 oflag=direct conv=notrunc status=none
timeout -s KILL 0.3 "$SNAPCTL" revert --no-writers "$A" > /dev/null 2>&1 || true
if "$SNAPCTL" show "$A" | grep -q "^  revert:   incomplete"; then
	note "the first revert was killed before it completed"
else
	note "the first revert completed within 0.3 s: interruption not exercised"
fi
run_rc out err rc "$SNAPCTL" revert --no-writers "$A"
check_eq "$rc" 0 "revert A again (stderr: $err)"
[ ! -s "$EVENTS" ] || fail "writers heard a revert --no-writers: $(cat "$EVENTS")"
check_eq "$(sha "$vol")" "$take" "origin after the revert run again"
"$SNAPCTL" show "$A" | grep -q "revert:" && fail "marked incomplete after the second run"
check_eq "$(sha "$IMG_B")" "$later" "image B after both reverts"

# a volume that is not the set's, a set that is not taken
run_rc out err rc "$SNAPCTL" revert "$A" "$fsvol"
check_eq "$rc" 1 "revert of a volume not in the set"
echo "$err" | grep -qF "is not a volume of set $A" || fail "foreign volume: $err"
"$SNAPCTL" delete "$B" > /dev/null
"$SNAPCTL" delete "$A" > /dev/null

# ---- ext4, mounted then not ----
mkfs_ext4 -E lazy_itable_init=0,lazy_journal_init=0 "$fsvol"
M=$(mktemp -d /tmp/cs0245.XXXXXX)
mount "$fsvol" "$M"
on_exit "umount $M 2>/dev/null"
for i in 1 2 3 4 5 6 7 8; do head -c $((i * 100000)) /dev/urandom > "$M/f$i"; done
sync
(cd "$M" && sha256sum f?) > /tmp/cs0245-take
create "$M"
C=$SET
for i in 1 2 3 4; do head -c 50000 /dev/urandom > "$M/f$i"; done
rm "$M/f5"
head -c 300000 /dev/urandom > "$M/new"
sync
run_rc out err rc "$SNAPCTL" revert "$C"
check_eq "$rc" 1 "revert of a mounted origin"
echo "$err" | grep -qF "is mounted at $M" || fail "mounted origin: $err"
umount "$M"
# where the volume is mounted, for the writers' files: fstab
cp /etc/fstab /tmp/cs0245-fstab
on_exit "cp /tmp/cs0245-fstab /etc/fstab"
echo "$fsvol $M ext4 noauto 0 0" >> /etc/fstab
mkdir -p "$M/db"
sockwriter db --component "data/db=$M/db"
sockwriter other --component "x/logs=/var/tmp"
: > "$EVENTS"
run_rc out err rc "$SNAPCTL" revert "$C" "$fsvol"
check_eq "$rc" 0 "revert of the unmounted ext4 origin (stderr: $err)"
echo "$out" | grep -q "reverted to set $C: [0-9]* changed chunk(s)" || fail "revert output: $out"
echo "$out" | grep -qx "2 writer(s) got pre-restore and post-restore" || fail "revert output: $out"
grep -q "^db pre-restore .*components=data/db volumes=$fsvol\$" "$EVENTS" &&
	grep -q "^db post-restore .*success=1 components=data/db volumes=$fsvol\$" "$EVENTS" ||
	fail "the writer with files on $fsvol (by fstab): $(cat "$EVENTS")"
grep -q "^other " "$EVENTS" && fail "a writer with no files on $fsvol took part: $(cat "$EVENTS")"
grep -qx "rhook pre-restore" "$EVENTS" || fail "the hook writer: $(cat "$EVENTS")"
out=$(e2fsck -fn "$fsvol" 2>&1) || fail "e2fsck after the revert: $out"
mount "$fsvol" "$M"
out=$(cd "$M" && sha256sum -c --quiet /tmp/cs0245-take 2>&1) || fail "files after the revert: $out"
[ ! -e "$M/new" ] || fail "a file made after the take is still there"
umount "$M"
