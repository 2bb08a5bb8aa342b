#!/bin/bash
# snapread copies a snapshot image byte for byte to a file (sparse where the
# data is zero), a block device and a pipe, with the same checksum each
# time; a snapshot that turns INVALID during the read ends in an error and
# leaves no file that looks like an image.
# tier: once
# cost: 120
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/03-helpers.bash"

SNAPREAD=$TOP/tools/read/snapread
need SET_NEW SET_ADD_VOLUME SET_ADD_STORAGE SET_TAKE SET_GET SET_DESTROY
brd 4 64
# The origin of the INVALID case below: ram3 with every read delayed 2 ms
# (dm-delay), so that the read there is surely under way when the test
# stops it (a fast read of 64 MiB could end between two looks).
modprobe dm-delay || fail "no dm-delay module"
dmsetup create cs0500slow --table "0 131072 delay /dev/ram3 0 2 /dev/ram3 0 0" ||
	fail "dmsetup create cs0500slow"
dmsetup mknodes cs0500slow	# no udev in the guest
on_exit "dmsetup remove cs0500slow 2>/dev/null"
wait_for 5 test -b /dev/mapper/cs0500slow || fail "no /dev/mapper/cs0500slow"
load_module_03
out=$(mktemp -d /var/tmp/snapread.XXXXXX)
on_exit "rm -rf '$out'"

# Origin: random data in two places, zeros elsewhere.
dd if=/dev/zero of=/dev/ram0 bs=1M count=64 oflag=direct status=none
dd if=/dev/urandom of=/dev/ram0 bs=1M count=8 oflag=direct status=none
dd if=/dev/urandom of=/dev/ram0 bs=1M seek=40 count=4 oflag=direct status=none
sha_take=$(sha256sum < /dev/ram0 | cut -d' ' -f1)

sess_start
take_one /dev/ram0 /dev/ram1 $((64 * 2048))
# Change the origin everywhere after the take.
dd if=/dev/urandom of=/dev/ram0 bs=1M count=64 oflag=direct status=none

# To a file: identical content, holes for the 52 MiB of zeros.
"$SNAPREAD" --json --verify "$img" "$out/img" > "$out/json" || fail "snapread to a file"
check_eq "$(sha256sum < "$out/img" | cut -d' ' -f1)" "$sha_take" "file copy content"
cmp "$img" "$out/img" || fail "file copy differs from the image"
alloc=$(( $(stat -c %b "$out/img") * $(stat -c %B "$out/img") ))
[ "$alloc" -le $((13 << 20)) ] || fail "file copy is not sparse: $alloc bytes allocated"
grep -q '"bytes_read":67108864' "$out/json" || fail "json bytes_read: $(cat "$out/json")"
grep -q '"bytes_skipped":54525952' "$out/json" || fail "json bytes_skipped: $(cat "$out/json")"
grep -q '"verified":true' "$out/json" || fail "json verified: $(cat "$out/json")"
sum=$(sed -n 's/.*"checksum":"xxh64:\([0-9a-f]\{16\}\)".*/\1/p' "$out/json")
[ -n "$sum" ] || fail "no checksum in $(cat "$out/json")"
# the checksum is XXH64 as xxhsum (another implementation) computes it
check_eq "$(xxhsum < "$out/img" | cut -d' ' -f1)" "$sum" "snapread's XXH64 against xxhsum's"
# An existing file is not replaced without --force.
expect_fail "$SNAPREAD" -q "$img" "$out/img"

# To a block device, with small blocks and a deep queue, from 1 and 4 threads.
for t in 1 4; do
	dd if=/dev/zero of=/dev/ram2 bs=1M count=64 oflag=direct status=none
	"$SNAPREAD" -b 64k -d 32 -t "$t" "$img" /dev/ram2 > "$out/line" ||
		fail "snapread to a device (-t $t)"
	check_eq "$(head -c 64M /dev/ram2 | sha256sum | cut -d' ' -f1)" "$sha_take" \
		"device copy content (-t $t)"
	check_eq "$(cut -d' ' -f1 "$out/line")" "$sum" "checksum of the device copy (-t $t)"
done

# To a pipe: the checksum line goes to stderr, the image to stdout.
"$SNAPREAD" "$img" 2> "$out/err" | sha256sum | cut -d' ' -f1 > "$out/pipe"
check_eq "$(cat "$out/pipe")" "$sha_take" "pipe copy content"
grep -q "^$sum  $img\$" "$out/err" || fail "pipe checksum line: $(cat "$out/err")"
# XXH3-128 on request, as xxh128sum computes it
"$SNAPREAD" --checksum xxh128 -t 3 -d 5 "$img" 2> "$out/err" | cmp - "$out/img" ||
	fail "pipe copy with --checksum xxh128 differs"
check_eq "$(cut -d' ' -f1 "$out/err")" "$(xxh128sum < "$out/img" | cut -d' ' -f1)" \
	"snapread's XXH3-128 against xxh128sum's"

# Bad input is quoted back.
"$SNAPREAD" -b 3k "$img" "$out/x" 2> "$out/err" && fail "a bad block size was accepted"
grep -q "invalid block size: \`3k'" "$out/err" || fail "message: $(cat "$out/err")"
"$SNAPREAD" --checksum md5 "$img" "$out/x" 2> "$out/err" && fail "an unknown checksum was accepted"
grep -q "unknown checksum \`md5': xxh64, xxh128 or none" "$out/err" || fail "message: $(cat "$out/err")"
"$SNAPREAD" -t 0 "$img" "$out/x" 2> "$out/err" && fail "zero threads were accepted"
grep -q "invalid number of threads: \`0'" "$out/err" || fail "message: $(cat "$out/err")"
[ ! -e "$out/x" ] || fail "a refused run left $out/x"

# The snapshot turns INVALID while snapread reads it: storage of 2 MiB,
# slow 4 KiB reads (2 ms each: 30 s for the whole image), the origin
# rewritten meanwhile.
s destroy "$SET"
slow=/dev/mapper/cs0500slow
take_one "$slow" /dev/ram1 4096
"$SNAPREAD" -b 4k -d 1 "$img" "$out/bad" > "$out/badlog" 2>&1 &
reader=$!
wait_for 30 test -e "$out/bad.partial" ||
	fail "snapread did not start: $(kill -0 "$reader" 2>/dev/null || echo "it ended: ")$(cat "$out/badlog")"
# Stop the reader mid-copy, overflow the storage, let it go on.
kill -STOP "$reader"
dd if=/dev/urandom of="$slow" bs=1M count=4 oflag=direct status=none
check_eq "$(set_field "$SET" state)" INVALID "set state after overflowing its storage"
kill -CONT "$reader"
rc=0
wait "$reader" || rc=$?
check_eq "$rc" 1 "snapread exit status on an invalid snapshot"
grep -q "failed at offset" "$out/badlog" || fail "no error message: $(cat "$out/badlog")"
[ ! -e "$out/bad" ] && [ ! -e "$out/bad.partial" ] || fail "a failed copy left a file: $(ls "$out")"
# A read that starts after the set died fails at once, to a device too.
rc=0
"$SNAPREAD" -q "$img" /dev/ram2 > "$out/badlog" 2>&1 || rc=$?
check_eq "$rc" 1 "snapread exit status from an invalid image to a device"
grep -q "wiped the first" "$out/badlog" || fail "no wipe message: $(cat "$out/badlog")"
check_eq "$(head -c 1M /dev/ram2 | tr -d '\0' | wc -c)" 0 "start of the device after a failed copy"
