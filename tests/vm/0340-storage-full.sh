#!/bin/bash
# Issue 3, must hold 4 (storage full): a set with 4 MiB of storage, then
# 64 MiB written to the origin.  STORAGE_LOW arrives, then SET_INVALID with
# cause STORAGE_FULL; the set is INVALID; image reads fail with EIO; every
# origin write is there (verified by content), and the origin keeps working.
# tier: full
# cost: 20
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/03-helpers.bash"

need SET_NEW SET_ADD_VOLUME SET_ADD_STORAGE SET_TAKE SET_GET SET_DESTROY
brd 2 64
load_module_03

"$BLKSTAMP" fill /dev/ram0 --version 1
events_start "$T/events"
sess_start
take_one /dev/ram0 /dev/ram1 8192 --chunk-sectors 128
# A first read works.
"$BLKSTAMP" verify "$img" --version 1 > /dev/null || fail "image wrong before the overflow"

"$BLKSTAMP" fill /dev/ram0 --version 2 || fail "an origin write failed during the overflow"
"$BLKSTAMP" verify /dev/ram0 --version 2 || fail "the origin lost writes when the storage filled"

wait_for 20 grep -q "^event SET_INVALID set=$SET " "$T/events" ||
	fail "no SET_INVALID event: $(cat "$T/events")"
grep -q "^event SET_INVALID set=$SET cause=STORAGE_FULL" "$T/events" ||
	fail "SET_INVALID with the wrong cause: $(cat "$T/events")"
grep -q "^event STORAGE_LOW set=$SET " "$T/events" || fail "no STORAGE_LOW event: $(cat "$T/events")"
low=$(grep -n "^event STORAGE_LOW set=$SET " "$T/events" | head -n 1 | cut -d: -f1)
inv=$(grep -n "^event SET_INVALID set=$SET " "$T/events" | head -n 1 | cut -d: -f1)
[ "$low" -lt "$inv" ] || fail "STORAGE_LOW came after SET_INVALID: $(cat "$T/events")"
check_eq "$(set_field "$SET" state)" INVALID "state after overflow"
check_eq "$(set_field "$SET" cause)" STORAGE_FULL "cause after overflow"
read_fails "$img"

# The origin goes on at once: a third full rewrite, verified.
"$BLKSTAMP" fill /dev/ram0 --version 3 || fail "origin write failed after the overflow"
"$BLKSTAMP" verify /dev/ram0 --version 3 > /dev/null || fail "origin wrong after the overflow"
read_fails "$img"
s destroy "$SET"
wait_for 10 test ! -b "$img" || fail "$img still there after destroy"
