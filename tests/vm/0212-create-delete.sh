#!/bin/bash
# snapctl create / show / list sets / delete on a raw device and a mounted
# ext4 volume, checked by content: the image holds what the origin held at
# the take, the origin what was written after; deleting a set removes its
# images and gives its storage back.  Each image says in sysfs which set and
# origin it belongs to (what the udev rule names it by).
# tier: once
# cost: 34
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.bash"

make_loop st 128
make_loop raw 16
make_loop fs 32
printf 'set-size 24M\ndevice %s\n' "$st" > "$CONF/storage.conf"
load_module
start_daemon --config-dir "$CONF"
on_exit delete_all_sets

# --- a raw device: pattern A before the take, B after
dd if=/dev/urandom of=/tmp/pattern-a bs=1M count=16 status=none
dd if=/dev/urandom of=/tmp/pattern-b bs=1M count=16 status=none
dd if=/tmp/pattern-a of="$raw" bs=1M oflag=direct status=none
run_rc out err rc "$SNAPCTL" create --no-writers "$raw"
skip_if_unsupported "$err"
check_eq "$rc" 0 "create $raw (stderr: $err)"
check_eq "$(echo "$out" | wc -l)" 2 "create output lines: $out"
id=$(echo "$out" | sed -n 1p)
[[ "$id" =~ ^[1-9][0-9]*$ ]] || fail "first line is not a set id: $out"
img=$(echo "$out" | sed -n 2p | awk '{print $2}')
check_eq "$(echo "$out" | sed -n 2p | awk '{print $1}')" "$raw" "origin of set $id"
[[ "$img" =~ ^/dev/cowsnap[0-9]+$ ]] || fail "image name: $out"
wait_for 10 test -b "$img" || fail "$img does not appear"
sys=/sys/block/${img#/dev/}/cowsnap
check_eq "$(cat "$sys/set_id") $(cat "$sys/origin") $(cat "$sys/state")" "$id ${raw#/dev/} taken" \
	"sysfs of $img"

dd if=/tmp/pattern-b of="$raw" bs=1M oflag=direct status=none
cmp /tmp/pattern-a "$img" || fail "image of $raw differs from what it held at the take"
cmp /tmp/pattern-b "$raw" || fail "origin $raw lost writes"

out=$("$SNAPCTL" show "$id") || fail "show $id"
echo "$out" | grep -q "^  state:    taken$" || fail "show state: $out"
echo "$out" | grep -q "^  flags:    auto-release$" || fail "show flags: $out"
echo "$out" | grep -q "^  volume:   $raw $img (16.0MiB, [1-9][0-9]* chunks copied)$" || fail "show volume: $out"
"$SNAPCTL" list sets | grep -Eq "^$id +- +taken +auto-release .* $raw=$img$" ||
	fail "list sets: $("$SNAPCTL" list sets)"
"$SNAPCTL" --json show "$id" | grep -qF "\"image\":\"$img\"" || fail "--json show"
used=$(storage_used)
check_eq "$used" 49152 "storage used by one 24 MiB set (sectors)"

# --- a mounted ext4 volume, named by its mount point
mkfs_ext4 "$fs"
mkdir -p /tmp/fs-mnt /tmp/img-mnt
mount "$fs" /tmp/fs-mnt
on_exit "umount /tmp/fs-mnt"
echo before > /tmp/fs-mnt/file
sync
out=$("$SNAPCTL" create --persistent /tmp/fs-mnt) || fail "create /tmp/fs-mnt"
id2=$(echo "$out" | sed -n 1p)
img2=$(echo "$out" | sed -n 2p | awk '{print $2}')
check_eq "$(echo "$out" | sed -n 2p | awk '{print $1}')" "$fs" "origin resolved from the mount point"
echo after > /tmp/fs-mnt/file
sync
wait_for 10 test -b "$img2" || fail "$img2 does not appear"
mount -o ro,noload "$img2" /tmp/img-mnt || fail "cannot mount $img2"
check_eq "$(cat /tmp/img-mnt/file)" before "file in the image"
check_eq "$(cat /tmp/fs-mnt/file)" after "file on the origin"
umount /tmp/img-mnt

# --- a second set of the raw device; --oldest deletes the first
out=$("$SNAPCTL" create "$raw") || fail "second create of $raw"
id3=$(echo "$out" | sed -n 1p)
img3=$(echo "$out" | sed -n 2p | awk '{print $2}')
cmp /tmp/pattern-b "$img3" || fail "second image of $raw"
"$SNAPCTL" --json list volumes | tr -d ' \n' | grep -o "{\"device\":\"$raw\"[^}]*}" |
	grep -qF '"snapshots":2' || fail "list volumes does not count 2 snapshots of $raw"
check_eq "$("$SNAPCTL" delete --oldest "$raw")" "deleted set $id" "delete --oldest"
wait_for 10 test ! -e "$img" || fail "$img still there after delete"
cmp /tmp/pattern-b "$img3" || fail "the newer image changed when the older went"

run_rc out err rc "$SNAPCTL" delete "$id"
check_eq "$rc" 1 "deleting a deleted set"
echo "$err" | grep -qF "there is no set $id" || fail "delete twice: $err"
run_rc out err rc "$SNAPCTL" show "$id"
check_eq "$rc" 1 "show of a deleted set"

out=$("$SNAPCTL" delete --all) || fail "delete --all"
check_eq "$(echo "$out" | sort)" "$(printf 'deleted set %s\n' "$id2" "$id3" | sort)" "delete --all"
check_eq "$("$SNAPCTL" list sets | wc -l)" 1 "list sets after delete --all (header only)"
used=$(storage_used)
check_eq "$used" 0 "storage used after delete --all"
[ ! -e "$img2" ] && [ ! -e "$img3" ] || fail "images left after delete --all"
