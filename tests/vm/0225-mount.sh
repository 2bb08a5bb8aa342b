#!/bin/bash
# snapctl mount SET VOLUME DIR mounts the image of VOLUME read-only (no
# journal replay, nosuid, nodev), showing the volume as it was at the take;
# umount undoes it and refuses a directory where something else is mounted;
# a volume that is not in the set is refused with the reason.
# tier: once
# cost: 15
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.bash"

make_loop st 64
make_loop fs 32
make_loop other 8
printf 'set-size 16M\ndevice %s\n' "$st" > "$CONF/storage.conf"
mkfs_ext4 "$fs"
mkdir -p /tmp/m /tmp/i
mount "$fs" /tmp/m
on_exit "umount /tmp/m"
echo before > /tmp/m/file
load_module
start_daemon --config-dir "$CONF"
on_exit delete_all_sets

run_rc out err rc "$SNAPCTL" create /tmp/m
skip_if_unsupported "$err"
check_eq "$rc" 0 "create (stderr: $err)"
id=$(echo "$out" | sed -n 1p)
img=$(echo "$out" | sed -n 2p | awk '{print $2}')
echo after > /tmp/m/file
sync

out=$("$SNAPCTL" mount "$id" /tmp/m /tmp/i) || fail "snapctl mount"
check_eq "$out" "$img mounted read-only at /tmp/i" "mount output"
on_exit "umount /tmp/i 2>/dev/null"
check_eq "$(cat /tmp/i/file)" before "file in the mounted image"
check_eq "$(cat /tmp/m/file)" after "file on the origin"
touch /tmp/i/new 2>/dev/null && fail "the mounted image is writable"
opts=$(findmnt -n -o OPTIONS /tmp/i)
grep -q '^ro' <<< "$opts" || fail "not mounted read-only: $opts"
grep -qw nosuid <<< "$opts" && grep -qw nodev <<< "$opts" || fail "not nosuid,nodev: $opts"
# umount refuses what is not an image's mount, and leaves it mounted
run_rc out err rc "$SNAPCTL" umount /tmp/m
check_eq "$rc" 1 "snapctl umount of the origin's mount"
echo "$err" | grep -qF "/tmp/m is not a cowsnap image's mount" || fail "umount /tmp/m: $err"
check_eq "$(cat /tmp/m/file)" after "the origin, still mounted"
"$SNAPCTL" umount /tmp/i || fail "snapctl umount"
findmnt /tmp/i > /dev/null && fail "still mounted after umount"

run_rc out err rc "$SNAPCTL" mount "$id" "$other" /tmp/i
check_eq "$rc" 1 "mount of a volume not in the set"
echo "$err" | grep -qF "set $id has no image of $other" || fail "wrong volume: $err"
run_rc out err rc "$SNAPCTL" mount x/y "$fs" /tmp/i
check_eq "$rc" 2 "mount with a set that is neither an id nor a name"
echo "$err" | grep -qF "invalid set: \`x/y'" || fail "bad set: $err"
run_rc out err rc "$SNAPCTL" mount nosuchset "$fs" /tmp/i
check_eq "$rc" 1 "mount with a name no set has"
echo "$err" | grep -qF "there is no set named \`nosuchset'" || fail "unknown name: $err"
