#!/bin/bash
# snapctl backup --mount: CMD runs in a mount namespace of its own where each
# image is mounted read-only where its origin is mounted, with the take's
# content while the origins are overwritten after the take (post-snapshot):
# an ext4 volume, an ext4 volume mounted below it, a bind of a subdirectory
# and a second mount of the first one, an xfs volume (nouuid: its origin is
# mounted), a tmpfs below the first one kept live, a raw volume left a
# device.  The host's namespace never sees an image mount, during or after;
# a process CMD leaves in the namespace is stopped, and the set goes.  An
# image that cannot be mounted where its origin is (a bind of a directory
# made after the take) fails the backup before CMD runs, with the reason,
# writers told it failed.  snapctl mount of an xfs image while its origin
# is mounted (nouuid).
# tier: once
# cost: 45
# timeout: 240
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.bash"

T=$(mktemp -d /tmp/cs0249.XXXXXX)
M=/mnt/cs0249
make_loop st 64
make_loop a 32
make_loop b 16
make_loop raw 8
mkfs_ext4 -E lazy_itable_init=0,lazy_journal_init=0 "$a"
mkfs_ext4 -E lazy_itable_init=0,lazy_journal_init=0 "$b"
xfs=
if command -v mkfs.xfs > /dev/null && modprobe xfs 2>/dev/null; then
	make_loop xfs 320	# mkfs.xfs wants 300 MiB at least
	mkfs.xfs -q "$xfs"
else
	note "no xfs: its part is skipped"
fi
printf 'set-size 16M\ndevice %s\n' "$st" > "$CONF/storage.conf"

mkdir -p "$M/data" "$M/bind" "$M/again" "$M/late" "$M/xfs"
on_exit "umount -R $M/data $M/bind $M/again $M/late $M/xfs 2>/dev/null; rm -rf $M"
mount "$a" "$M/data"
mkdir "$M/data/sub" "$M/data/dir" "$M/data/tmp"
mount "$b" "$M/data/sub"
mount -t tmpfs -o size=1m tmpfs "$M/data/tmp"
mount --bind "$M/data/dir" "$M/bind"
mount --bind "$M/data" "$M/again"
echo a-before > "$M/data/file"
echo d-before > "$M/data/dir/f"
echo b-before > "$M/data/sub/file"
echo live > "$M/data/tmp/t"
if [ -n "$xfs" ]; then
	mount "$xfs" "$M/xfs"
	echo x-before > "$M/xfs/file"
fi
dd if=/dev/urandom of="$T/raw" bs=1M count=8 status=none
dd if="$T/raw" of="$raw" bs=1M oflag=direct status=none
sync

# the origins change after the take, before CMD runs; with $T/late, a bind
# of a directory the image does not have
add_writer "$CONF" app back-end "
if [ \"\$1\" = post-snapshot ]; then
	echo a-after > $M/data/file; echo d-after > $M/data/dir/f
	echo b-after > $M/data/sub/file
	[ -z '$xfs' ] || echo x-after > $M/xfs/file
	dd if=/dev/zero of=$raw bs=1M count=1 oflag=direct conv=notrunc status=none
	sync
	if [ -e $T/late ]; then mkdir -p $M/data/late; mount --bind $M/data/late $M/late; fi
fi
if [ \"\$1\" = backup-complete ]; then record \"success=\$COWSNAP_BACKUP_SUCCESS\"; fi"
load_module
start_daemon --config-dir "$CONF"
on_exit delete_all_sets

# What CMD sees, into $T/seen; the host's view meanwhile, into $T/host.
cat > "$T/cmd.sh" <<EOS
#!/bin/bash
exec > $T/seen 2>&1
echo "file \$(cat $M/data/file)"
echo "sub \$(cat $M/data/sub/file)"
echo "bind \$(cat $M/bind/f)"
echo "again \$(cat $M/again/file)"
echo "tmp \$(cat $M/data/tmp/t)"
[ -z '$xfs' ] || echo "xfs \$(cat $M/xfs/file)"
echo "source \$(findmnt -n -o SOURCE $M/data | tail -n 1)"
echo "opts \$(findmnt -n -o OPTIONS $M/data | tail -n 1)"
touch $M/data/new 2> /dev/null && echo "writable"
echo "pwd \$(cat file)"
img=\${COWSNAP_SNAPSHOTS##*$raw=}
img=\${img%% *}
cmp -s $T/raw "\$img" && echo "raw equal"
nsenter --mount=/proc/1/ns/mnt findmnt -rn -o SOURCE | grep -c cowsnap > $T/host
setsid sleep 300 < /dev/null > /dev/null 2>&1 &
echo ran
EOS
chmod +x "$T/cmd.sh"
cd "$M/data"
run_rc out err rc "$SNAPCTL" backup --mount --exec "$T/cmd.sh" "$a" "$b" "$raw" ${xfs:+"$xfs"}
cd /
skip_if_unsupported "$err"
check_eq "$rc" 0 "backup --mount (stderr: $err)"
expected="file a-before
sub b-before
bind d-before
again a-before
tmp live"
[ -z "$xfs" ] || expected+=$'\n'"xfs x-before"
check_eq "$(sed -n "1,$(($(wc -l <<< "$expected")))p" "$T/seen")" "$expected" "what CMD saw"
grep -qx "source /dev/cowsnap[0-9]*" "$T/seen" || fail "image not at $M/data: $(cat "$T/seen")"
grep -q "^opts ro," "$T/seen" || fail "image not read-only: $(cat "$T/seen")"
grep -qx writable "$T/seen" && fail "the image mount was writable"
grep -qx "pwd a-before" "$T/seen" || fail "CMD's working directory is not in the image: $(cat "$T/seen")"
grep -qx "raw equal" "$T/seen" || fail "raw volume's image differs from the take"
grep -qx ran "$T/seen" || fail "CMD did not finish: $(cat "$T/seen")"
check_eq "$(cat "$T/host")" 0 "image mounts seen in the host's namespace while CMD ran"
grep -qF "the command left 1 process in its mount namespace" <<< "$err" ||
	fail "no word of the process left behind: $err"
pgrep -f "sleep 300" > /dev/null && fail "the process CMD left is still running"
check_eq "$(findmnt -rn -o SOURCE | grep -c cowsnap || true)" 0 "image mounts in the host's namespace"
check_eq "$(cat "$M/data/file") $(cat "$M/data/sub/file") $(cat "$M/bind/f")" \
	"a-after b-after d-after" "the origins after the backup"
check_eq "$("$SNAPCTL" list sets | tail -n +2)" "" "sets after the backup"
grep -qx "app success=1" "$EVENTS" || fail "writers not told of success: $(cat "$EVENTS")"

# An image that cannot go where its origin is mounted: CMD does not run.
rm -f "$EVENTS" "$T/seen"
echo a-before > "$M/data/file"
touch "$T/late"
run_rc out err rc "$SNAPCTL" backup --mount --exec "$T/cmd.sh" "$a"
check_eq "$rc" 1 "backup --mount with an image that cannot be mounted"
grep -qE -- "--mount: cannot mount /late of /dev/cowsnap[0-9]+ \(image of $a\) at $M/late: No such file or directory; the backup command did not run; writers were told the backup failed" <<< "$err" ||
	fail "mount failure: $err"
[ -e "$T/seen" ] && fail "CMD ran after the mount failed"
grep -qx "app success=0" "$EVENTS" || fail "writers not told of the failure: $(cat "$EVENTS")"
check_eq "$(findmnt -rn -o SOURCE | grep -c cowsnap || true)" 0 "image mounts in the host's namespace after the failure"
check_eq "$("$SNAPCTL" list sets | tail -n +2)" "" "sets after the failed backup"
umount "$M/late"
rm -f "$T/late"

# snapctl mount: an xfs image beside its mounted origin (nouuid)
if [ -n "$xfs" ]; then
	out=$("$SNAPCTL" create "$xfs") || fail "create $xfs"
	id=$(sed -n 1p <<< "$out")
	echo x-later > "$M/xfs/file"
	mkdir -p "$T/x"
	run_rc out err rc "$SNAPCTL" mount "$id" "$xfs" "$T/x"
	check_eq "$rc" 0 "snapctl mount of an xfs image (stderr: $err)"
	on_exit "umount $T/x 2>/dev/null"
	check_eq "$(cat "$T/x/file")" x-after "file in the mounted xfs image"
	"$SNAPCTL" umount "$T/x" || fail "snapctl umount"
	"$SNAPCTL" delete "$id" > /dev/null || fail "delete $id"
fi
exit 0
