#!/bin/bash
# The hold is bounded: in a set of two volumes, a mounted ext4 and a raw
# dm-delay device whose writes take 8 s, a write in flight on the slow one
# makes the take fail with ETIMEDOUT after HOLD_MS (1 s); the set stays
# DEFINING; the filesystem is thawed; writes held meanwhile go on; once the
# slow write is done, the same set is taken, and its images are right.
# tier: full
# cost: 56
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/04-helpers.bash"

modprobe brd rd_nr=3 rd_size=65536 || fail "modprobe brd"
on_exit "rmmod brd 2>/dev/null"
modprobe dm-delay 2>/dev/null || skip "no dm-delay"
modprobe ext4
dmsetup create cs0430 --table "0 131072 delay /dev/ram0 0 0 /dev/ram0 0 8000" || fail "dmsetup"
dmsetup mknodes cs0430
on_exit "dmsetup remove cs0430 2>/dev/null"
wait_for 5 test -b /dev/mapper/cs0430 || fail "no /dev/mapper/cs0430"
mkfs.ext4 -q /dev/ram2 || fail "mkfs"
load_module_04
M=$(mktemp -d /tmp/cs0430.XXXXXX)
on_exit "umount $M 2>/dev/null; rmdir $M"
mount /dev/ram2 "$M" || fail "mount"
echo before > "$M/before" && sync

# Once the volumes are tracked, a raw O_DIRECT write sits in dm-delay for
# 8 s: it passed the filter when the take starts.
out=$( (printf '%s\n' "set-new --hold-ms 1000" "add-volume 1 /dev/mapper/cs0430" \
	"add-volume 1 /dev/ram2" "add-storage 1 /dev/ram1 0 131072"
	sleep 2
	dd if=/dev/urandom of=/dev/mapper/cs0430 bs=4k count=1 seek=3000 oflag=direct status=none &
	sleep 1
	printf '%s\n' "take 1" "get 1" "sleep 9" "take 1"
	wait) | "$NLCTL" session 2>&1; true)
note "$out"
grep -q "SET_TAKE: Connection timed out" <<< "$out" || fail "the first take did not time out"
grep -q "state=DEFINING" <<< "$out" || fail "the set did not stay DEFINING"
[ "$(grep -c "^done 0" <<< "$out")" = 7 ] || fail "some command other than the first take failed"
# Thawed: a write goes through at once.
timeout 30 sh -c "echo after > $M/after && sync -f $M/after" || fail "filesystem left frozen"
if fsfreeze --unfreeze "$M" 2>/dev/null; then
	fail "the filesystem was still frozen"
fi
check_eq "$(set_field 1 state)" TAKEN "state after the second take"
img=$("$NLCTL" get 1 | awk '$1 == "volume" && /name=ram2/ { for (i = 4; i <= NF; i++) if (index($i, "image=") == 1) print substr($i, 7) }')
[ -b "$img" ] || fail "no image of ram2"
e2fsck -fn "$img" > /dev/null || fail "the image of the ext4 volume is not clean"
