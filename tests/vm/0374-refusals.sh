#!/bin/bash
# Issue 10, items 11, 12, 15: what the module refuses, with a clear error,
# before it can do harm.
#  - zoned devices (zone resets, finishes and appends cannot be copied
#    first): as volume and as storage, EOPNOTSUPP;
#  - storage with larger logical blocks than a volume of the set (image
#    reads of the volume's small blocks would need them): EINVAL, whichever
#    is added first;
#  - module parameters out of range, at load and through sysfs: refused,
#    the value in use unchanged (chunk_sectors=0 then TRACK was ilog2(0)).
# timeout: 120
# tier: core 6.1 6.12 7.x
# cost: 30
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/03-helpers.bash"
. "$(dirname "$0")/04-scsi-debug.bash"

# Parameters at load.
for p in chunk_sectors=0 chunk_sectors=12 hold_ms=5 low_water_percent=101 max_snapshots_per_volume=0 \
	max_memory_mb=16777217 memory_used_kb=1 cow_buffer_mb=65537 cow_buffer_used_kb=1; do
	if insmod "$KO" "$p" 2> "$T/err"; then
		rmmod cowsnap
		fail "insmod cowsnap $p succeeded"
	fi
done
need SET_NEW SET_ADD_VOLUME SET_ADD_STORAGE TRACK UNTRACK
load_module_03
par=/sys/module/cowsnap/parameters

# Parameters through sysfs.
bad_param() {   # bad_param NAME VALUE: refused, value unchanged
	local before
	before=$(cat "$par/$1")
	if echo "$2" > "$par/$1" 2> /dev/null; then
		fail "writing $2 to $1 succeeded"
	fi
	check_eq "$(cat "$par/$1")" "$before" "$1 after writing $2"
}
bad_param chunk_sectors 0
bad_param chunk_sectors 12
bad_param chunk_sectors 262144
bad_param chunk_sectors x
bad_param hold_ms 99
bad_param hold_ms 60001
bad_param low_water_percent 101
bad_param max_snapshots_per_volume 0
bad_param max_memory_mb 16777217
bad_param max_memory_mb -1
bad_param memory_used_kb 1
bad_param cow_buffer_mb 65537
bad_param cow_buffer_mb -1
bad_param cow_buffer_used_kb 1
echo 256 > "$par/chunk_sectors" || fail "chunk_sectors 256 refused"
check_eq "$(cat "$par/chunk_sectors")" 256 "chunk_sectors after writing 256"
echo 128 > "$par/chunk_sectors"
brd 2 64
# A track after the refusals uses the valid value.
"$NLCTL" track /dev/ram0 > /dev/null || fail "track after refused parameters"
"$NLCTL" untrack /dev/ram0 > /dev/null

# Zoned devices.
if modprobe null_blk nr_devices=1 zoned=1 zone_size=16 gb=1 2> /dev/null; then
	on_exit "rmmod null_blk 2>/dev/null || true"
	wait_for 5 test -b /dev/nullb0 || fail "no /dev/nullb0"
	check_eq "$(cat /sys/block/nullb0/queue/zoned)" host-managed "nullb0 zoned model"
	expect_rc 95 "$NLCTL" track /dev/nullb0
	grep -q "zoned" "$T/expect_rc.out" || fail "no message naming zoned devices: $(cat "$T/expect_rc.out")"
	sess_start
	new_set
	sess_run add-volume "$SET" /dev/nullb0
	check_eq "$SESS_RC" 95 "a zoned volume"
	s add-volume "$SET" /dev/ram0
	sess_run add-storage "$SET" /dev/nullb0 0 65536
	check_eq "$SESS_RC" 95 "zoned storage"
	grep -q "zoned" <<< "$SESS_OUT" || fail "no message naming zoned storage: $SESS_OUT"
	sess_kill
	rmmod null_blk
else
	note "no zoned null_blk on this kernel: zoned cases not run"
fi

# Storage with 4 KiB logical blocks, volumes with 512-byte ones.
scsi_debug_disk dev_size_mb=64 sector_size=4096
check_eq "$(cat /sys/block/$(basename "$SD_DISK")/queue/logical_block_size)" 4096 "$SD_DISK logical block size"
sess_start
new_set
s add-volume "$SET" /dev/ram0
sess_run add-storage "$SET" "$SD_DISK" 0 65536
check_eq "$SESS_RC" 22 "4 KiB storage for a 512-byte volume"
grep -q "logical blocks" <<< "$SESS_OUT" || fail "no message about logical blocks: $SESS_OUT"
sess_kill
sess_start
new_set
s add-storage "$SET" "$SD_DISK" 0 65536
sess_run add-volume "$SET" /dev/ram0
check_eq "$SESS_RC" 22 "a 512-byte volume for 4 KiB storage"
grep -q "logical blocks" <<< "$SESS_OUT" || fail "no message about logical blocks: $SESS_OUT"
# Storage with the volume's block size or smaller is fine.
s add-storage "$SET" /dev/ram1 0 65536
sess_kill
