# tests/vm/04-scsi-debug.bash: sourced by tests that need a scsi_debug disk.
#
#   scsi_debug_disk OPTS...   load scsi_debug with OPTS; the disk in $SD_DISK
scsi_debug_disk() {
	local d
	modprobe sd_mod && modprobe scsi_debug "$@" || skip "no scsi_debug module here"
	on_exit "rmmod scsi_debug 2>/dev/null || true"
	wait_for 20 sh -c 'ls /sys/bus/pseudo/drivers/scsi_debug/adapter*/host*/target*/*/block 2>/dev/null | grep -q "^sd"' ||
		fail "scsi_debug made no disk"
	d=$(ls /sys/bus/pseudo/drivers/scsi_debug/adapter*/host*/target*/*/block | grep -m1 '^sd')
	wait_for 10 test -b "/dev/$d" || fail "no /dev/$d"
	SD_DISK=/dev/$d
}
