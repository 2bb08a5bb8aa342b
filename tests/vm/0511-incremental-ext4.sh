#!/bin/bash
# snapread --incremental on a mounted ext4 volume kept tracked: five rounds
# of changing about 1% of the volume through the filesystem (a file
# rewritten in place at a random offset, a small file created, one
# removed), a snapshot, and an update of the image that reads at most 2% of
# the volume and equals the snapshot (cmp); the chained image is fsck-clean
# and holds the files as they were at the last take.
# timeout: 400
# tier: once
# cost: 88
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.bash"

SNAPREAD=$TOP/tools/read/snapread
VOL_MB=16
make_loop st 64
make_loop vol $VOL_MB
printf 'set-size 8M\ndevice %s\n' "$st" > "$CONF/storage.conf"
out=$(mktemp -d /var/tmp/incr4.XXXXXX)
on_exit "rm -rf '$out'"
# no lazy inode-table or journal init: those background writes after mount
# would count as changes of the first round
mkfs_ext4 -E lazy_itable_init=0,lazy_journal_init=0 "$vol"
mkdir -p /tmp/m4
mount "$vol" /tmp/m4
on_exit "umount /tmp/m4"
dd if=/dev/urandom of=/tmp/m4/data bs=1M count=6 status=none
mkdir /tmp/m4/small
sync
# runs after the daemon stops: the module holds the tracked volume open
on_exit unload_module
load_module chunk_sectors=8
start_daemon --config-dir "$CONF"
on_exit delete_all_sets

jfield() {	# FILE KEY: a number from snapread's --json line
	sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" "$1"
}
create() {	# sets SET and IMG
	local o
	o=$("$SNAPCTL" create --no-writers "$vol" 2>&1) || fail "create: $o"
	SET=$(echo "$o" | sed -n 1p)
	IMG=$(echo "$o" | sed -n 2p | awk '{ print $2 }')
	[ -b "$IMG" ] || fail "no image device in: $o"
}
fsck_image() {	# WHAT
	local o
	o=$(e2fsck -fn "$out/img" 2>&1) || fail "$1: e2fsck of the image: $o"
}

"$SNAPCTL" track "$vol" > /dev/null || fail "snapctl track $vol"
create
"$SNAPREAD" -q "$IMG" "$out/img" || fail "full read"
cmp "$IMG" "$out/img" || fail "full image differs"
fsck_image "full image"
"$SNAPCTL" delete "$SET" > /dev/null
prev=

limit=$((VOL_MB * 1024 * 1024 * 2 / 100))
for i in 1 2 3 4 5; do
	# about 1% of the volume: 128 KiB rewritten in place, 20 KiB new, a file gone
	dd if=/dev/urandom of=/tmp/m4/data bs=4k count=32 seek=$((RANDOM % 1500)) \
		conv=notrunc status=none
	dd if=/dev/urandom of=/tmp/m4/small/f$i bs=4k count=5 status=none
	rm -f /tmp/m4/small/f$((i - 2))
	create
	"$SNAPREAD" --json --incremental --base "$out/img" "$IMG" > "$out/json" ||
		fail "incremental $i"
	read_b=$(jfield "$out/json" bytes_read)
	[ -n "$read_b" ] && [ "$read_b" -le "$limit" ] ||
		fail "incremental $i read ${read_b:-?} bytes, more than 2% ($limit): $(cat "$out/json")"
	[ "$i" = 1 ] && note "incremental 1 read $read_b of $((VOL_MB << 20)) bytes"
	cmp "$IMG" "$out/img" || fail "incremental $i: image differs from the snapshot"
	[ -z "$prev" ] || "$SNAPCTL" delete "$prev" > /dev/null || fail "delete set $prev"
	prev=$SET
done
fsck_image "after five updates"
# nothing was written since the last take
sha_data=$(sha256sum < /tmp/m4/data)
sha_small=$(sha256sum < /tmp/m4/small/f5)
# The files in the chained image are those of the last take.
check_eq "$(debugfs -R "cat /data" "$out/img" 2>/dev/null | sha256sum)" "$sha_data" \
	"data in the chained image"
check_eq "$(debugfs -R "cat /small/f5" "$out/img" 2>/dev/null | sha256sum)" "$sha_small" \
	"small file in the chained image"
debugfs -R "ls /small" "$out/img" 2>/dev/null | grep -q "f3 " && fail "a removed file is in the image"
"$SNAPCTL" untrack "$vol" > /dev/null || fail "untrack"
exit 0
