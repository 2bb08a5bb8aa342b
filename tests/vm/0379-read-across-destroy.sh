#!/bin/bash
# Issue 10, item 10: an image read that passed the set's state check and is
# still running when the set is destroyed (or turns INVALID) must not return
# success: once the set is gone its chunks are no longer copied, and its
# storage may go to another set.  The origin under dm-delay (3 s a read):
# a read of the image is under way when SET_DESTROY returns; it must fail
# with EIO.
# timeout: 120
# tier: full
# cost: 17
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/03-helpers.bash"

need SET_NEW SET_ADD_VOLUME SET_ADD_STORAGE SET_TAKE SET_GET SET_DESTROY
brd 2 64
# before the module's cleanups: removed after the set that holds it
dm_delay cs0379 /dev/ram0 3000 0
dev=$DM_DEV
load_module_03

sess_start
take_one "$dev" /dev/ram1 65536 --chunk-sectors 128
dd if="$img" of="$T/out" bs=64k count=1 iflag=direct status=none 2> "$T/err" &
rd=$!
sleep 1
s destroy "$SET"
if wait "$rd"; then
	fail "a read of the image under way across its set's destroy succeeded"
fi
grep -q "Input/output error" "$T/err" || fail "the read failed, but not with EIO: $(cat "$T/err")"
sess_kill
