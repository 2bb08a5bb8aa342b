#!/bin/bash
# Difference storage: snapctl storage add/list/remove, kept in storage.conf
# across daemon restarts; devices that cannot be storage are refused with a
# reason; a broken storage.conf stops the daemon with the line named.
# tier: once
# cost: 36
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.bash"

make_loop st 64
make_loop busy 32
load_module
# started from a shell with umask 000: the daemon's files are still 0644
umask 000
start_daemon --config-dir "$CONF"
umask 022

out=$("$SNAPCTL" storage add "$st") || fail "storage add $st failed"
echo "$out" | grep -Eq "^$st +[0-9]+:[0-9]+ +64\.0MiB +0\.0KiB +device$" || fail "storage add output: $out"
grep -qx "device $st" "$CONF/storage.conf" || fail "storage.conf lacks $st: $(cat "$CONF/storage.conf")"
check_eq "$(stat -c %a "$CONF/storage.conf")" 644 "storage.conf's mode (daemon started with umask 000)"
json=$("$SNAPCTL" --json list storage)
echo "$json" | grep -qF "\"device\":\"$st\"" || fail "--json list storage: $json"
echo "$json" | grep -qF "\"sectors\":131072" || fail "--json list storage size: $json"

run_rc out err rc "$SNAPCTL" storage add "$st"
check_eq "$rc" 1 "adding $st twice"
echo "$err" | grep -qF "is already storage" || fail "twice: $err"

mkfs_ext4 "$busy"
mkdir -p /tmp/busy-mnt
mount "$busy" /tmp/busy-mnt
on_exit "umount /tmp/busy-mnt"
run_rc out err rc "$SNAPCTL" storage add "$busy"
check_eq "$rc" 1 "adding a mounted device"
echo "$err" | grep -qF "storage device $busy: Device or resource busy (mounted or otherwise in use?)" ||
	fail "mounted device: $err"
run_rc out err rc "$SNAPCTL" storage add /dev/null
check_eq "$rc" 1 "adding /dev/null"
echo "$err" | grep -qF "is not a block device" || fail "/dev/null: $err"

# the configuration outlives the daemon
stop_daemon
start_daemon --config-dir "$CONF"
"$SNAPCTL" list storage | grep -q "^$st " || fail "storage lost across a restart"

out=$("$SNAPCTL" storage remove "$st") || fail "storage remove failed"
echo "$out" | grep -q "^$st " && fail "still listed after remove: $out"
grep -q "device $st" "$CONF/storage.conf" && fail "storage.conf still has $st"
run_rc out err rc "$SNAPCTL" storage remove "$st"
check_eq "$rc" 1 "removing twice"
echo "$err" | grep -qF "$st is not difference storage" || fail "remove twice: $err"
stop_daemon

# a broken configuration: the daemon says where and exits 1
printf 'device %s\nsize 1G\n' "$st" > "$CONF/storage.conf"
run_rc out err rc timeout 20 "$COWSNAPD" -f --module "$KO" --config-dir "$CONF"
check_eq "$rc" 1 "exit status with a bad storage.conf"
echo "$err" | grep -qF "$CONF/storage.conf:2: unknown setting \`size'" || fail "bad conf: $err"
