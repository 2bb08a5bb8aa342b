#!/bin/bash
# Issue 10: a real-world I/O matrix, part 1: fio on raw devices (part 2,
# 0396: a loop device and filesystems; part 3, 0397: discards, dm and md).
# The method and the fio mix: 03-io-matrix.bash.  Each case fills its
# origin (blkstamp), takes, runs the mix, re-reads the origin with fio's
# verify_only and checks the image reads as the origin did at the take:
#   direct-psync, direct-libaio (iodepth 16), direct-io_uring (iodepth 32)
#       on brd (a bio-based disk);
#   buffered-fsync: the mix through the page cache of brd, fsync every 16
#       writes and at the end;
#   io_uring-short-queue: io_uring, iodepth 32, on a null_blk with
#       hw_queue_depth=2, one submit queue and completions 100 us late (so
#       that requests stay in flight): many REQ_NOWAIT bios find no tag, and
#       EAGAIN must not reach fio ("Resource temporarily unavailable" with a
#       snapshot live).  Control: the same writes without a snapshot pass;
#   io_uring-hipri: polled io_uring writes (--hipri, REQ_POLLED and
#       REQ_NOWAIT) on a null_blk with a poll queue, whose other I/O (the
#       copies) completes from a softirq, so that writes wait for copies;
#       read back by the verify_only pass; skipped when the kernel refuses
#       polled I/O without a snapshot.
# timeout: 400
# tier: core 6.1 6.12 7.x
# cost: 150
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/03-helpers.bash"
. "$(dirname "$0")/03-io-matrix.bash"

need SET_NEW SET_ADD_VOLUME SET_ADD_STORAGE SET_TAKE SET_GET SET_DESTROY
# ram0: origin, ram1: storage
brd 2 16
STORE=/dev/ram1 STORE_SECTORS=$((16 * 2048))
load_module_03

case_direct() {
	fio_case /dev/ram0 "$1" "$2" 1
}

# Brd's page cache, written back by fsync.
case_buffered() {
	fio_case /dev/ram0 psync 1 0 fsync=16 end_fsync=1
}

case_short_queue() {
	nullb cs0395short size=16 memory_backed=1 submit_queues=1 hw_queue_depth=2 \
		irqmode=2 completion_nsec=100000
	check_eq "$(cat "/sys/block/$NULLB/queue/nr_requests")" 2 "$CASE: $NULLB nr_requests"
	# Tag starvation costs much CPU under emulation: half the mix.
	MIX_DIV=2
	# Control: without a snapshot the kernel retries what finds no tag.
	mix "/dev/$NULLB" io_uring 32 1 > "$T/control.fio"
	run_fio "control, the same writes without a snapshot" "$T/control.fio"
	fio_case "/dev/$NULLB" io_uring 32 1
}

case_hipri() {
	local q
	nullb cs0395poll size=16 memory_backed=1 submit_queues=1 poll_queues=1
	q=/sys/block/$NULLB/queue
	[ "$(cat "$q/io_poll")" = 1 ] || skip "$NULLB has no poll queue (io_poll=$(cat "$q/io_poll"))"
	# Polled I/O must work without a snapshot, or the kernel refuses it.
	if ! fio --name=probe --filename="/dev/$NULLB" --ioengine=io_uring --hipri --direct=1 \
		--rw=write --bs=4k --size=64k > "$T/probe.out" 2>&1; then
		skip "the kernel refuses polled io_uring on $NULLB without a snapshot: $(grep -m 1 -i error "$T/probe.out")"
	fi
	# Polled writes only; fio_case's verify_only pass (psync, O_DIRECT)
	# reads them back.  On 6.1 the polled mix with fio's own verify reads
	# does not finish on this null_blk, cowsnap loaded or not (with it, an
	# io-wq worker was seen retrying a polled read on EAGAIN without end),
	# and a snapshot changes nothing for reads of the origin.
	fio_case "/dev/$NULLB" io_uring 32 1 hipri=1 do_verify=0
}

matrix_start
run_case direct-psync case_direct psync 1
run_case direct-libaio case_direct libaio 16
run_case direct-io_uring case_direct io_uring 32
run_case buffered-fsync case_buffered
run_case io_uring-short-queue case_short_queue
# Last: polled I/O that never completes leaves the set impossible to destroy.
run_case io_uring-hipri case_hipri
report
