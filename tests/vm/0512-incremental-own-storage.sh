#!/bin/bash
# snapread --incremental of an ext4 volume that holds its own sets' storage
# files (issue 12): the copies written into a set's storage file on the
# volume are not changes, so an incremental reads what the filesystem's
# writes changed and little more.  Three rounds: 1 MiB of a file rewritten
# in place while the last set lives (so about 1 MiB of copies land in its
# storage file on the volume), that set deleted, a new one taken (its
# storage file made on the volume), and an incremental update of the
# backup image that reads less than the writes plus 256 KiB of filesystem
# metadata (counting the copies, it would read about twice the writes).
# The chained image is fsck-clean and holds the files of the last take.
# (A byte comparison with the image cannot hold here: free space that held
# the last set's storage file reads as zeros in the chain; storage sectors
# are zeros in an image, and the copies in them are no change.)
# timeout: 400
# tier: once
# cost: 70
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.bash"

SNAPREAD=$TOP/tools/read/snapread
make_loop vol 48
out=$(mktemp -d /var/tmp/incr-own.XXXXXX)
on_exit "rm -rf '$out'"
mkfs_ext4 -E lazy_itable_init=0,lazy_journal_init=0 "$vol"
M=$(mktemp -d /tmp/cs0512.XXXXXX)
mount "$vol" "$M"
on_exit "umount $M"
mkdir -m 700 "$M/.cowsnap-storage"
dd if=/dev/urandom of="$M/data" bs=1M count=12 status=none
mkdir "$M/small"
sync
printf 'set-size 4M\nmax-percent 50\ndirectory %s/.cowsnap-storage\n' "$M" > "$CONF/storage.conf"
# runs after the daemon stops: the module holds the tracked volume open
on_exit unload_module
load_module chunk_sectors=8
start_daemon --config-dir "$CONF"
on_exit delete_all_sets

jfield() {	# FILE KEY: a number from snapread's --json line
	sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" "$1"
}
create() {	# sets SET and IMG; the storage file must be on the volume
	local o
	o=$("$SNAPCTL" create --no-writers "$vol" 2>&1) || fail "create: $o"
	SET=$(echo "$o" | sed -n 1p)
	IMG=$(echo "$o" | sed -n 2p | awk '{ print $2 }')
	[ -b "$IMG" ] || fail "no image device in: $o"
	echo "$o" | grep -q "^storage: .* in $M/.cowsnap-storage/" ||
		fail "the set's storage is not on the volume: $o"
}
fsck_image() {	# WHAT
	local o
	o=$(e2fsck -fn "$out/img" 2>&1) || fail "$1: e2fsck of the chained image: $o"
}

"$SNAPCTL" track "$vol" > /dev/null || fail "snapctl track $vol"
create
"$SNAPREAD" -q "$IMG" "$out/img" || fail "full read"
fsck_image "full image"

for i in 1 2 3; do
	# 1 MiB rewritten in place while set $SET lives: its copies go to its
	# storage file on the volume; a small file made, one removed
	dd if=/dev/urandom of="$M/data" bs=64k count=16 seek=$((i * 40)) conv=notrunc,fsync \
		status=none
	dd if=/dev/urandom of="$M/small/f$i" bs=4k count=3 status=none
	rm -f "$M/small/f$((i - 2))"
	sync
	used=$("$SNAPCTL" list -H -p -o id,used sets | awk -v s="$SET" '$1 == s { print $2 }')
	[ "${used:-0}" -ge $((1024 * 1024)) ] ||
		fail "round $i: set $SET holds ${used:-?} bytes of copies, not the 1 MiB rewritten"
	"$SNAPCTL" delete "$SET" > /dev/null || fail "delete set $SET"
	create
	"$SNAPREAD" --json --incremental --base "$out/img" "$IMG" > "$out/json" ||
		fail "incremental $i: $(cat "$out/json")"
	read_b=$(jfield "$out/json" bytes_read)
	limit=$((1024 * 1024 + 256 * 1024))
	[ -n "$read_b" ] && [ "$read_b" -le "$limit" ] ||
		fail "incremental $i read ${read_b:-?} bytes, more than the 1 MiB rewritten and" \
			"256 KiB of metadata ($limit): the copies in the storage file were counted?" \
			"$(cat "$out/json")"
	note "incremental $i read $read_b bytes (1 MiB rewritten, $used bytes of copies)"
	fsck_image "incremental $i"
done
# The files in the chained image are those of the last take (nothing
# written since).
check_eq "$(debugfs -R "cat /data" "$out/img" 2>/dev/null | sha256sum)" \
	"$(sha256sum < "$M/data")" "data in the chained image"
check_eq "$(debugfs -R "cat /small/f3" "$out/img" 2>/dev/null | sha256sum)" \
	"$(sha256sum < "$M/small/f3")" "small file in the chained image"
debugfs -R "ls /small" "$out/img" 2>/dev/null | grep -q "f1 " && fail "a removed file is in the image"
"$SNAPCTL" delete "$SET" > /dev/null
"$SNAPCTL" untrack "$vol" > /dev/null || fail "untrack"
exit 0
