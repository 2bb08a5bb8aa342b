#!/bin/bash
# Origin devices deleted under a live set, while writes run: a scsi_debug
# disk (sysfs delete) and a null_blk disk (configfs power off).  Each set
# turns INVALID with cause VOLUME_GONE, its image fails reads with EIO, the
# module says so in the log, the set can be destroyed, and the module
# unloads cleanly (the runner checks dmesg and rmmod).
# tier: full
# cost: 63
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/04-helpers.bash"

modprobe brd rd_nr=1 rd_size=65536 || fail "modprobe brd"
on_exit "rmmod brd 2>/dev/null"
load_module_04

gone() {	# DEV: write to it, delete it with the rest of the arguments
	local dev=$1 w
	shift
	dd if=/dev/urandom of="$dev" bs=1M count=8 oflag=direct status=none || fail "filling $dev"
	take_set "$dev" /dev/ram0 131072
	dd if="$IMG" of=/dev/null bs=1M count=8 iflag=direct status=none || fail "$IMG unreadable before the removal"
	( while dd if=/dev/urandom of="$dev" bs=64k count=16 seek=$((RANDOM % 64)) oflag=direct status=none 2>/dev/null; do :; done ) &
	w=$!
	sleep 1
	"$@" || fail "removing $dev: $*"
	# A copy-on-write read racing the removal may fail first: then the
	# first cause recorded is ORIGIN_IO; either way the set must die.
	wait_for 20 sh -c "$NLCTL get $SET | grep -Eq ' cause=(VOLUME_GONE|ORIGIN_IO) '" ||
		fail "set $SET after removing $dev: $("$NLCTL" get "$SET")"
	check_eq "$(set_field "$SET" state)" INVALID "state of set $SET after removing $dev"
	kill "$w" 2>/dev/null || true
	wait "$w" 2>/dev/null || true
	eio "$IMG"
	"$NLCTL" destroy "$SET" || fail "destroying set $SET"
	wait_for 10 test ! -b "$IMG" || fail "$IMG still there after destroy"
}

# scsi_debug: the disk goes away with del_gendisk while we hold it open.
if modprobe sd_mod 2>/dev/null && modprobe scsi_debug dev_size_mb=64 2>/dev/null; then
	on_exit "rmmod scsi_debug 2>/dev/null"
	wait_for 10 sh -c 'ls /sys/bus/pseudo/drivers/scsi_debug/adapter*/host*/target*/*/block/ 2>/dev/null | grep -q .' ||
		fail "no scsi_debug disk"
	sd=$(ls /sys/bus/pseudo/drivers/scsi_debug/adapter*/host*/target*/*/block/ | head -n 1)
	gone "/dev/$sd" sh -c "echo 1 > /sys/block/$sd/device/delete"
	grep -q "cowsnap: origin $sd deleted" <(dmesg) || fail "no log line for $sd"
else
	note "no scsi_debug: skipped that part"
fi

# null_blk through configfs: power off deletes the disk.
modprobe null_blk nr_devices=0 || fail "modprobe null_blk"
on_exit "rmmod null_blk 2>/dev/null"
mountpoint -q /sys/kernel/config || mount -t configfs none /sys/kernel/config
nb=/sys/kernel/config/nullb/cs0400
mkdir "$nb" || fail "configfs nullb"
on_exit "rmdir $nb 2>/dev/null"
echo 64 > "$nb/size" && echo 1 > "$nb/memory_backed" && echo 1 > "$nb/power" || fail "nullb power on"
wait_for 10 test -b /dev/cs0400 || fail "no /dev/cs0400"
gone /dev/cs0400 sh -c "echo 0 > $nb/power"
grep -q "cowsnap: origin cs0400 deleted" <(dmesg) || fail "no log line for cs0400"
