#!/bin/bash
# Issue 10, item 4: module unload while a task sleeps inside a submission
# made by the module's filter.  Reads of an untracked null_blk disk with one
# tag whose requests take 4 s: the second read sleeps for the tag inside
# submit_bio_noacct(), called from the filter.  Then the last tracked volume
# goes (the hook is detached) and the module is unloaded.  The sleeping task
# must not return into freed module text: unload waits for it.
# timeout: 120
# tier: core 6.1 6.12 7.x
# cost: 32
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/03-helpers.bash"

need TRACK UNTRACK
brd 1 16
modprobe null_blk nr_devices=1 gb=1 hw_queue_depth=1 submit_queues=1 irqmode=2 \
	completion_nsec=4000000000 || skip "no null_blk with a timer here"
on_exit "rmmod null_blk 2>/dev/null || true"
wait_for 5 test -b /dev/nullb0 || fail "no /dev/nullb0"
load_module_03

"$NLCTL" track /dev/ram0 > /dev/null || fail "track"
pids=()
for i in 1 2; do
	dd if=/dev/nullb0 of=/dev/null bs=4k count=1 skip=$i iflag=direct status=none &
	pids+=($!)
done
sleep 1
"$NLCTL" untrack /dev/ram0 > /dev/null || fail "untrack"
unload_module
for p in "${pids[@]}"; do
	wait "$p" || fail "a read of /dev/nullb0 failed"
done
# Anything left of the module would be run now: one more round of reads.
dd if=/dev/nullb0 of=/dev/null bs=4k count=1 iflag=direct status=none || fail "read after unload"
note "unloaded with a read asleep in the filter's submission; the guest lives"
