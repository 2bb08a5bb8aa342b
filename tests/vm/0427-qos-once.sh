#!/bin/bash
# A write to a tracked volume, and an image read sent to the origin in
# place, pass the block layer's I/O controllers once, as without cowsnap.
# The module completes such a bio through bio_endio() a second time, with
# its own end_io back, and bio_endio() calls the queue's rq_qos done_bio
# hook (blk-iolatency's in-flight count, blk-iocost's done vtime) on every
# pass of a bio marked BIO_QOS_THROTTLED: before the fix each tracked write
# was counted twice.  Counted with the function tracer: calls of
# __rq_qos_done_bio for 4096 direct 4 KiB writes to a scsi_debug disk with
# writeback throttling on (an rq_qos on its queue), untracked and as
# rewrites with a live snapshot; then 4096 reads of the origin and of its
# image where nothing was copied.  Content checked on both.
# tier: core
# cost: 80
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/03-helpers.bash"
. "$(dirname "$0")/04-scsi-debug.bash"

need SET_NEW SET_ADD_VOLUME SET_ADD_STORAGE SET_TAKE SET_GET SET_DESTROY
TR=/sys/kernel/tracing
grep -q '^__rq_qos_done_bio$' "$TR/available_filter_functions" 2> /dev/null ||
	skip "__rq_qos_done_bio cannot be traced here"
brd 1 64
scsi_debug_disk dev_size_mb=64
disk=$SD_DISK
q=/sys/block/$(basename "$disk")/queue
[ -w "$q/wbt_lat_usec" ] || skip "no writeback throttling on $disk"
echo 2000 > "$q/wbt_lat_usec"
load_module_03
on_exit "echo 0 > $TR/tracing_on; echo nop > $TR/current_tracer; echo > $TR/set_ftrace_filter"
echo __rq_qos_done_bio > "$TR/set_ftrace_filter"
echo 0 > "$TR/tracing_on"
echo function > "$TR/current_tracer"

# count CMD...: the calls of __rq_qos_done_bio while CMD runs
count() {
	local n w
	echo > "$TR/trace"
	echo 1 > "$TR/tracing_on"
	"$@" || fail "$*"
	echo 0 > "$TR/tracing_on"
	read -r n w < <(sed -n 's|^# entries-in-buffer/entries-written: \([0-9]*\)/\([0-9]*\).*|\1 \2|p' "$TR/trace")
	[ "$n" = "$w" ] || fail "the trace lost entries ($n of $w kept)"
	grep -c '__rq_qos_done_bio' "$TR/trace"
}
# near A B WHAT: B within a quarter of A (the bug doubles it; a quiet
# guest's other disks add a few)
near() {
	[ "$2" -ge $(($1 * 3 / 4)) ] && [ "$2" -le $(($1 * 5 / 4)) ] ||
		fail "$3: $2 calls of __rq_qos_done_bio against $1 without cowsnap"
	note "$3: $2 calls against $1"
}

MiB=$((1 << 20))
for f in w0 w1 w2; do head -c $((16 * MiB)) /dev/urandom > "$T/$f"; done
wr() { dd if="$T/$1" of="$disk" bs=4k oflag=direct status=none; }
base=$(count wr w0)
[ "$base" -ge 4096 ] || fail "only $base calls of __rq_qos_done_bio for 4096 writes: no rq_qos on $disk"

sess_start
take_one "$disk" /dev/ram0 $((64 * 2048)) --chunk-sectors 8
count wr w1 > /dev/null		# first writes: each copies its chunk
rew=$(count wr w2)
near "$base" "$rew" "rewrites of copied chunks"
check_eq "$(head -c $((16 * MiB)) "$disk" | sha256sum)" "$(sha256sum < "$T/w2")" "origin after the rewrites"
check_eq "$(head -c $((16 * MiB)) "$img" | sha256sum)" "$(sha256sum < "$T/w0")" "image after the rewrites"

# reads where nothing was copied: the last 16 MiB
rd() { dd if="$1" of=/dev/null bs=4k skip=12288 count=4096 iflag=direct status=none; }
orig=$(count rd "$disk")
near "$orig" "$(count rd "$img")" "image reads of untouched chunks"
cmp <(tail -c $((16 * MiB)) "$disk") <(tail -c $((16 * MiB)) "$img") ||
	fail "image and origin differ where nothing was written"
destroy_all_sets
