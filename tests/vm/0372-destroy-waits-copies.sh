#!/bin/bash
# Issue 10, item 14: a destroyed set's storage may be given to another set
# only after the copies writing to it have finished.  Storage behind dm-delay
# (4 s a write); writes to the origin start copies; the set is destroyed
# while they are still on their way to storage.  When SET_DESTROY returns,
# no write of the set may be left in flight on its storage, and a new set
# on the same storage must read its own point in time.
# timeout: 180
# tier: full
# cost: 38
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/03-helpers.bash"

need SET_NEW SET_ADD_VOLUME SET_ADD_STORAGE SET_TAKE SET_GET SET_DESTROY
brd 2 64
# before the module's cleanups: removed after the set that holds it
sectors=$((64 * 2048))
dm_delay cs0372 /dev/ram1 0 4000
slow=$DM_DEV
load_module_03

# writes of the delay target in flight: "0 SECTORS delay READS WRITES ..."
delayed_writes() {
	dmsetup status cs0372 | awk '{ print $5 }'
}

# Kept tracked, so that the destroy does not wait for the origin's writes
# (and with them for the copies) as dropping the last user of a tracker does.
"$NLCTL" track /dev/ram0 > /dev/null || fail "track"
"$BLKSTAMP" fill /dev/ram0 --version 1
sess_start
new_set --chunk-sectors 128
s add-volume "$SET" /dev/ram0
s add-storage "$SET" "$slow" 0 "$sectors"
s take "$SET"
first=$SET
# 8 chunks to copy; the writer waits for the copies (4 s)
dd if=/dev/zero of=/dev/ram0 bs=512k count=1 oflag=direct status=none &
dd_pid=$!
wait_for 3 sh -c "[ \$(dmsetup status cs0372 | awk '{ print \$5 }') -gt 0 ]" ||
	fail "the copies did not reach the storage"
s destroy "$first"
check_eq "$(delayed_writes)" 0 "storage writes of set $first in flight after its destroy"
wait "$dd_pid" || fail "the origin write failed"

# The same storage for a new set: its image is the origin as it is now.
"$BLKSTAMP" fill /dev/ram0 --version 2
take_one /dev/ram0 "$slow" "$sectors" --chunk-sectors 128
dd if=/dev/urandom of=/dev/ram0 bs=1M count=2 oflag=direct status=none || fail "writing the origin"
sleep 5
"$BLKSTAMP" verify "$img" --version 2 > "$T/v" || fail "set $SET's image is not version 2: $(cat "$T/v")"
s destroy "$SET"
sess_kill
