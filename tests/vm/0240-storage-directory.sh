#!/bin/bash
# Difference storage in files: `snapctl storage add DIR' on an ext4 (and an
# xfs) filesystem mounted from another device.  A set gets a file in DIR,
# allocated, immutable (rm, truncate, writes and mv fail), whose extents the
# module writes under the filesystem; the image reads what the origin held
# at the take while the origin is overwritten, growth adds files, the files
# go with their sets, a daemon killed with SIGKILL leaves none behind after
# its restart, and the filesystem holding them stays fsck-clean.  btrfs,
# tmpfs and a directory others may write are refused with reasons.
# tier: once
# cost: 70
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.bash"

make_loop vol 16
make_loop fsdev 160
mkfs_ext4 "$fsdev"
S=$(mktemp -d /tmp/cs0240.XXXXXX)
mount "$fsdev" "$S"
on_exit "umount $S 2>/dev/null"
mkdir -m 700 "$S/cow"
printf 'set-size 4M\ngrow-size 8M\n' > "$CONF/storage.conf"
load_module
start_daemon --config-dir "$CONF"
on_exit delete_all_sets

run_rc out err rc "$SNAPCTL" storage add "$S/cow"
check_eq "$rc" 0 "storage add DIR (stderr: $err)"
"$SNAPCTL" --json list storage | tr -d ' \n' | grep -qF "\"device\":\"$S/cow\"" ||
	fail "list storage: $("$SNAPCTL" --json list storage)"
"$SNAPCTL" --json list storage | tr -d ' \n' | grep -qF '"kind":"directory"' ||
	fail "list storage kind: $("$SNAPCTL" --json list storage)"
grep -qx "directory $S/cow" "$CONF/storage.conf" || fail "storage.conf: $(cat "$CONF/storage.conf")"

# refusals, each with its reason
chmod 777 "$S/cow"
run_rc out err rc "$SNAPCTL" storage remove "$S/cow"
run_rc out err rc "$SNAPCTL" storage add "$S/cow"
check_eq "$rc" 1 "a directory others may write"
echo "$err" | grep -qF "must be root's and writable by root only" || fail "mode 777: $err"
chmod 700 "$S/cow"
"$SNAPCTL" storage add "$S/cow" > /dev/null
mkdir -p /dev/shm/cs0240 && chmod 700 /dev/shm/cs0240
run_rc out err rc "$SNAPCTL" storage add /dev/shm/cs0240
check_eq "$rc" 1 "a directory on tmpfs"
echo "$err" | grep -qF "other than ext4 or xfs" || fail "tmpfs: $err"
if command -v mkfs.btrfs > /dev/null && modprobe btrfs 2>/dev/null; then
	make_loop bdev 128
	mkfs.btrfs -q "$bdev" > /dev/null
	B=$(mktemp -d /tmp/cs0240b.XXXXXX)
	mount "$bdev" "$B"
	on_exit "umount $B 2>/dev/null"
	run_rc out err rc "$SNAPCTL" storage add "$B"
	check_eq "$rc" 1 "a directory on btrfs"
	echo "$err" | grep -qF "is on btrfs, which moves file extents" || fail "btrfs: $err"
else
	note "no btrfs here: its refusal not checked"
fi

# a set with its storage in a file, its origin overwritten four times over
dd if=/dev/urandom of=/tmp/pattern-a bs=1M count=16 status=none
dd if=/dev/urandom of=/tmp/pattern-b bs=1M count=16 status=none
dd if=/tmp/pattern-a of="$vol" bs=1M oflag=direct status=none
run_rc out err rc "$SNAPCTL" create --chunk-size 64K "$vol"
skip_if_unsupported "$err"
check_eq "$rc" 0 "create with storage in a directory (stderr: $err)"
id=$(echo "$out" | sed -n 1p)
img=$(echo "$out" | sed -n 2p | awk '{print $2}')
f="$S/cow/cowsnap-$id-0.store"
[ -f "$f" ] || fail "no storage file: $(ls -la "$S/cow")"
check_eq "$(stat -c %s "$f")" $((4 << 20)) "storage file size"
lsattr "$f" | grep -q '^----i' || fail "not immutable: $(lsattr "$f")"
rm -f "$f" 2>/dev/null && fail "the storage file could be deleted"
truncate -s 0 "$f" 2>/dev/null && fail "the storage file could be truncated"
( echo x >> "$f" ) 2>/dev/null && fail "the storage file could be written"
mv "$f" "$f.x" 2>/dev/null && fail "the storage file could be moved"
overwrite_slowly /tmp/pattern-b "$vol"
"$SNAPCTL" show "$id" | grep -q "^  state:    taken$" || { show_log; fail "set $id: $("$SNAPCTL" show "$id")"; }
[ -f "$S/cow/cowsnap-$id-1.store" ] || fail "the set did not grow by a file: $(ls "$S/cow")"
cmp /tmp/pattern-a "$img" || fail "image differs from the origin at the take"
cmp /tmp/pattern-a "$img" || fail "second read of the image differs"
cmp /tmp/pattern-b "$vol" || fail "origin lost writes"
"$SNAPCTL" delete "$id" > /dev/null
check_eq "$(ls "$S/cow")" "" "storage files after delete"

# SIGKILL with a set alive: its file goes at the next start
"$SNAPCTL" create "$vol" > /dev/null
ls "$S/cow" | grep -q . || fail "no storage file for the second set"
kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=
start_daemon --config-dir "$CONF"
wait_for 10 sh -c "[ -z \"\$(ls $S/cow)\" ]" || fail "orphan storage files: $(ls -la "$S/cow")"
grep -qF "its set is gone: removed" "$DAEMON_LOG" || fail "no log line for the orphan"

# xfs too, when the guest has it
if command -v mkfs.xfs > /dev/null && modprobe xfs 2>/dev/null; then
	make_loop xdev 320
	mkfs.xfs -q "$xdev"
	X=$(mktemp -d /tmp/cs0240x.XXXXXX)
	mount "$xdev" "$X"
	on_exit "umount $X 2>/dev/null"
	chmod 700 "$X"
	"$SNAPCTL" storage remove "$S/cow" > /dev/null
	"$SNAPCTL" storage add "$X" > /dev/null
	dd if=/tmp/pattern-a of="$vol" bs=1M oflag=direct status=none
	run_rc out err rc "$SNAPCTL" create "$vol"
	check_eq "$rc" 0 "create with storage on xfs (stderr: $err)"
	id=$(echo "$out" | sed -n 1p)
	img=$(echo "$out" | sed -n 2p | awk '{print $2}')
	dd if=/tmp/pattern-b of="$vol" bs=1M count=3 oflag=direct conv=notrunc status=none
	cmp /tmp/pattern-a "$img" || fail "xfs: image differs from the origin at the take"
	"$SNAPCTL" delete "$id" > /dev/null
	check_eq "$(ls "$X")" "" "xfs storage files after delete"
	stop_daemon
	umount "$X"
	xfs_repair -n "$xdev" > /dev/null 2>&1 || fail "the xfs holding storage is not clean"
else
	note "no xfs here: only ext4 checked"
	stop_daemon
fi
umount "$S"
e2fsck -fn "$fsdev" > /dev/null || fail "the ext4 holding storage is not clean"
