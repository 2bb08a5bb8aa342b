#!/bin/bash
# The shadow-set lock while the module takes a set: two `snapctl create
# --no-writers' at once on the same volume.  The first one's take waits
# for a write in flight (dm-delay holds it 20 s); meanwhile the second one
# hears "another shadow copy set is being created" at once, and a listing
# asked for meanwhile waits and then answers.  The first one succeeds, and
# its image holds the write it waited for (in flight at the take) and
# nothing written after.
# timeout: 300
# tier: once
# cost: 40
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.bash"

modprobe brd rd_nr=1 rd_size=32768 || fail "modprobe brd"
on_exit "rmmod brd 2>/dev/null"
modprobe dm-delay 2>/dev/null || skip "no dm-delay"
# writes wait 20 s (less than the 30 s hold the module is loaded with),
# reads pass at once: room for a slow guest (memory debugging, a loaded
# host) to start the second snapctl well within the take
dmsetup create cs0230 --table "0 65536 delay /dev/ram0 0 0 /dev/ram0 0 20000" ||
	fail "dmsetup create"
dmsetup mknodes cs0230
on_exit "dmsetup remove cs0230 2>/dev/null"
dev=/dev/mapper/cs0230
wait_for 5 test -b "$dev" || fail "no $dev"
make_loop st 64
printf 'set-size 24M\ndevice %s\n' "$st" > "$CONF/storage.conf"

load_module hold_ms=30000
start_daemon --config-dir "$CONF"
on_exit delete_all_sets

# What the volume holds before: pattern A (straight to the RAM disk).
dd if=/dev/urandom of=/tmp/cs0230-a bs=1M count=32 status=none
dd if=/tmp/cs0230-a of=/dev/ram0 bs=1M oflag=direct status=none
dd if=/dev/urandom of=/tmp/cs0230-w bs=4k count=1 status=none

# Tracked before the write starts, so the take's drain counts it.
"$SNAPCTL" track "$dev" > /dev/null || fail "track $dev"
on_exit "'$SNAPCTL' untrack '$dev' > /dev/null 2>&1"
dd if=/tmp/cs0230-w of="$dev" bs=4k seek=100 oflag=direct status=none &
wpid=$!
sleep 1
note "write started $(date +%s.%N)"

"$SNAPCTL" create --no-writers --persistent "$dev" > /tmp/cs0230-a.out 2> /tmp/cs0230-a.err &
apid=$!
sleep 1
note "list and second create start $(date +%s.%N)"
"$SNAPCTL" list sets > /tmp/cs0230-l.out 2> /tmp/cs0230-l.err &
lpid=$!
t0=$(date +%s%N)
run_rc out err rc "$SNAPCTL" create --no-writers --persistent "$dev"
note "second create answered $(date +%s.%N)"
ms=$((($(date +%s%N) - t0) / 1000000))
note "second create: rc $rc after ${ms} ms: $err"
if [ "$rc" != 1 ]; then
	kill -0 "$apid" 2>/dev/null && note "first create still running" ||
		note "first create: $(cat /tmp/cs0230-a.out /tmp/cs0230-a.err)"
	show_log
	dmesg | tail -n 20
fi
check_eq "$rc" 1 "second create while the first one is taken"
echo "$err" | grep -qF "snapctl: another shadow copy set is being created (by pid " ||
	fail "second create's message: $err"
kill -0 "$apid" 2>/dev/null ||
	fail "the second create was answered only after the first one ended (${ms} ms)"

wait "$apid"
arc=$?
show_log_if() { [ "$1" = 0 ] || show_log; }
show_log_if "$arc"
check_eq "$arc" 0 "first create (stderr: $(cat /tmp/cs0230-a.err))"
wait "$wpid" || fail "the delayed write failed"
note "write done $(date +%s.%N)"
wait "$lpid" || fail "list sets during the take: $(cat /tmp/cs0230-l.err)"
id=$(sed -n 1p /tmp/cs0230-a.out)
img=$(sed -n 2p /tmp/cs0230-a.out | awk '{print $2}')
grep -Eq "^$id +- +taken" /tmp/cs0230-l.out ||
	fail "the listing asked for during the take does not show set $id: $(cat /tmp/cs0230-l.out)"
wait_for 10 test -b "$img" || fail "$img does not appear"

# After the take: pattern B over block 100 and elsewhere.
dd if=/dev/urandom of="$dev" bs=4k seek=100 count=1 oflag=direct status=none
dd if=/dev/urandom of="$dev" bs=4k seek=2000 count=1 oflag=direct status=none

# The image: A, except block 100, which holds the write the take waited for.
cp /tmp/cs0230-a /tmp/cs0230-expect
dd if=/tmp/cs0230-w of=/tmp/cs0230-expect bs=4k seek=100 conv=notrunc status=none
cmp /tmp/cs0230-expect "$img" || fail "image of set $id differs from the volume at the take"
"$SNAPCTL" delete "$id" > /dev/null || fail "delete $id"
rm -f /tmp/cs0230-*
