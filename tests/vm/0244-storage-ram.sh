#!/bin/bash
# Difference storage in RAM: `snapctl storage add ram:64M' makes a zram
# device of 64 MiB (storage.conf gets `ram 64M'), listed as kind ram, that
# sets get through a loop device of 512-byte sectors; a set of a loop
# volume takes with its storage there, the origin is overwritten
# and the image still reads the origin at the take, twice; the zram device
# stays across a daemon restart while a persistent set uses it (the image
# unchanged) and goes at a stop when none does; `storage remove ram'
# refuses while a set uses it, then removes the device.  Refused with
# reasons: ram:1K (too small), more than half the memory, a second ram.
# tier: once 6.1
# cost: 85
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.bash"

if [ ! -e /sys/class/zram-control ] &&
   ! find "/lib/modules/$(uname -r)/" -name 'zram.ko*' 2>/dev/null | grep -q .; then
	skip "no zram in kernel $(uname -r) (CONFIG_ZRAM)"
fi

# /dev/zramN of the RAM storage cowsnapd lists, or nothing
ram_device() {
	"$SNAPCTL" --json list storage | tr -d ' \n' |
		grep -o '{[^{}]*"kind":"ram"[^{}]*}' | grep -o '"device":"[^"]*"' | cut -d'"' -f4
}

make_loop vol 16
printf 'set-size 32M\n' > "$CONF/storage.conf"
load_module
start_daemon --config-dir "$CONF"
on_exit delete_all_sets
before=$(ls /sys/block | grep -c '^zram' || true)

# refusals first: nothing made for them
run_rc out err rc "$SNAPCTL" storage add ram:1K
check_eq "$rc" 1 "ram:1K"
echo "$err" | grep -qF "RAM storage of 1K is too small: a set needs at least 16M" ||
	fail "ram:1K: $err"
mem=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
big=$((mem / 2 + 64))
run_rc out err rc "$SNAPCTL" storage add "ram:${big}M"
check_eq "$rc" 1 "ram:${big}M on $mem MiB"
echo "$err" | grep -qF "RAM storage of ${big}M is more than 1/2 of this host's memory ($mem MiB)" ||
	fail "ram:${big}M: $err"
echo "$err" | grep -qF "give at most ram:" || fail "no size to give: $err"
check_eq "$(ls /sys/block | grep -c '^zram' || true)" "$before" "zram devices after refusals"
grep -q '^ram' "$CONF/storage.conf" && fail "storage.conf after refusals: $(cat "$CONF/storage.conf")"

run_rc out err rc "$SNAPCTL" storage add ram:64M
check_eq "$rc" 0 "storage add ram:64M (stderr: $err)"
zdev=$(ram_device)
[ -n "$zdev" ] || fail "no ram row: $("$SNAPCTL" --json list storage)"
z=${zdev#/dev/}
[ -b "$zdev" ] || fail "$zdev is not a block device"
check_eq "$(cat /sys/block/$z/disksize)" $((64 << 20)) "$z disksize"
grep -qx "ram 64M" "$CONF/storage.conf" || fail "storage.conf: $(cat "$CONF/storage.conf")"
echo "$out" | grep -qE "^$zdev +[0-9]+:[0-9]+ +64\.0MiB +0\.0KiB +ram$" ||
	fail "storage add's table: $out"
echo "$out" | grep -qF "$zdev is RAM storage (zram)" || fail "no RAM line: $out"
run_rc out err rc "$SNAPCTL" storage add ram:32M
check_eq "$rc" 1 "a second ram"
echo "$err" | grep -qF "there is RAM storage already ($zdev, 64 MiB)" || fail "second ram: $err"

# a set with its storage in RAM, its origin overwritten
dd if=/dev/urandom of=/tmp/pattern-a bs=1M count=16 status=none
dd if=/dev/urandom of=/tmp/pattern-b bs=1M count=16 status=none
dd if=/tmp/pattern-a of="$vol" bs=1M oflag=direct status=none
run_rc out err rc "$SNAPCTL" create --persistent --chunk-size 64K "$vol"
skip_if_unsupported "$err"
check_eq "$rc" 0 "create with storage in RAM (stderr: $err)"
id=$(echo "$out" | sed -n 1p)
img=$(echo "$out" | sed -n 2p | awk '{print $2}')
"$SNAPCTL" show "$id" | grep -qF "32.0MiB in $zdev" ||
	fail "show: not in $zdev: $("$SNAPCTL" show "$id")"
"$SNAPCTL" --json show "$id" | tr -d ' \n' | grep -qF "\"place\":\"$zdev\",\"kind\":\"ram\"" ||
	fail "show --json: $("$SNAPCTL" --json show "$id")"
overwrite_slowly /tmp/pattern-b "$vol"
"$SNAPCTL" show "$id" | grep -q "^  state:    taken$" || { show_log; fail "set $id: $("$SNAPCTL" show "$id")"; }
cmp /tmp/pattern-a "$img" || fail "image differs from the origin at the take"
cmp /tmp/pattern-a "$img" || fail "second read of the image differs"
cmp /tmp/pattern-b "$vol" || fail "origin lost writes"
"$SNAPCTL" list storage | grep -qE "^$zdev +[0-9:]+ +64\.0MiB +32\.0MiB +ram$" ||
	fail "list storage: $("$SNAPCTL" list storage)"
# the loop device's page cache written back: the copies are in zram
sync
read -r orig compr memused rest < "/sys/block/$z/mm_stat"
[ "$orig" -gt $((8 << 20)) ] || fail "$z holds $orig bytes after 16 MiB of copies"
[ "$memused" -gt $((8 << 20)) ] || fail "$z takes $memused bytes of memory for $orig"
"$SNAPCTL" --json list storage | tr -d ' \n' | grep -qE '"kind":"ram"[^}]*"memory":[1-9]' ||
	fail "no memory: $("$SNAPCTL" --json list storage)"

run_rc out err rc "$SNAPCTL" storage remove ram
check_eq "$rc" 1 "remove ram while a set uses it"
echo "$err" | grep -qF "RAM storage $zdev holds storage of set $id; delete that set first" ||
	fail "remove while used: $err"

# a restart with the set alive: the same device, its data there still
stop_daemon
[ -e "/sys/block/$z" ] || fail "$z removed at a stop while set $id uses it"
grep -qF "$z left as it is: set $id has its storage in it" "$DAEMON_LOG" || fail "no log line"
start_daemon --config-dir "$CONF"
check_eq "$(ram_device)" "$zdev" "RAM storage after the restart"
grep -qF "$z, made before, is RAM storage again (64 MiB)" "$DAEMON_LOG" || fail "not reused"
"$SNAPCTL" list storage | grep -qE "^$zdev +[0-9:]+ +64\.0MiB +32\.0MiB +ram$" ||
	fail "set's storage after the restart: $("$SNAPCTL" list storage)"
cmp /tmp/pattern-a "$img" || fail "image after the restart differs"

"$SNAPCTL" delete "$id" > /dev/null
"$SNAPCTL" list storage | grep -qE "^$zdev +[0-9:]+ +64\.0MiB +0\.0KiB +ram$" ||
	fail "storage after delete: $("$SNAPCTL" list storage)"

# no set: a stop removes it, a start makes it again
stop_daemon
[ -e "/sys/block/$z" ] && fail "$z left at a stop with no set"
start_daemon --config-dir "$CONF"
zdev=$(ram_device)
[ -n "$zdev" ] || fail "no RAM storage made at start: $(cat "$DAEMON_LOG")"
z=${zdev#/dev/}

run_rc out err rc "$SNAPCTL" storage remove ram
check_eq "$rc" 0 "storage remove ram (stderr: $err)"
[ -e "/sys/block/$z" ] && fail "$z still there after storage remove ram"
grep -q '^ram' "$CONF/storage.conf" && fail "storage.conf still has ram: $(cat "$CONF/storage.conf")"
[ -z "$(ram_device)" ] || fail "still listed: $("$SNAPCTL" list storage)"
check_eq "$(ls /sys/block | grep -c '^zram' || true)" "$before" "zram devices at the end"
run_rc out err rc "$SNAPCTL" storage remove ram
check_eq "$rc" 1 "removing ram twice"
echo "$err" | grep -qF "there is no RAM storage" || fail "remove twice: $err"
stop_daemon
