#!/bin/bash
# snapctl list volumes shows what blkid and mountinfo know of each device,
# a mount point that carries terminal escapes made harmless in the table;
# volume specs that cannot be resolved get errors that say why.
# tier: once
# cost: 30
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.bash"

make_loop vol 32
make_loop st 32
make_loop odd 8
mkfs_ext4 -L csvol "$vol"
uuid=$(blkid -o value -s UUID "$vol")
mkdir -p /tmp/vol-mnt
mount "$vol" /tmp/vol-mnt
on_exit "umount /tmp/vol-mnt"
load_module
start_daemon --config-dir "$CONF"

json=$("$SNAPCTL" --json list volumes)
entry=$(echo "$json" | tr -d ' \n' | grep -o "{\"device\":\"$vol\"[^}]*}") ||
	fail "$vol not in list volumes: $json"
for kv in '"fstype":"ext4"' '"label":"csvol"' "\"uuid\":\"$uuid\"" '"mountpoint":"/tmp/vol-mnt"' \
	  '"sectors":65536'; do
	echo "$entry" | grep -qF "$kv" || fail "list volumes entry lacks $kv: $entry"
done
"$SNAPCTL" list volumes | grep -Eq "^$vol +[0-9]+:[0-9]+ +32\.0MiB +ext4 .* /tmp/vol-mnt$" ||
	fail "table: $("$SNAPCTL" list volumes)"

# a mount point that would set the terminal's title and colour
mkfs_ext4 "$odd"
esc=$'/tmp/odd\e]0;owned\a\e[31m'
mkdir -p "$esc"
mount "$odd" "$esc"
on_exit "umount '$esc'"
table=$("$SNAPCTL" list volumes)
echo "$table" | LC_ALL=C grep -q "$(printf '[\001-\010\013-\037\177]')" &&
	fail "control characters in the table: $(echo "$table" | od -c | head -20)"
echo "$table" | grep -qF '/tmp/odd\x1b]0;owned\x07\x1b[31m' || fail "escaped mount point: $table"
"$SNAPCTL" --json list volumes | tr -d ' \n' |
	grep -qF '"mountpoint":"/tmp/odd\u001b]0;owned\u0007\u001b[31m"' ||
	fail "json mount point: $("$SNAPCTL" --json list volumes | grep odd)"

"$SNAPCTL" storage add "$st" > /dev/null
run_rc out err rc "$SNAPCTL" create UUID=00000000-dead-beef-0000-000000000000
check_eq "$rc" 1 "create with an unknown UUID"
echo "$err" | grep -qF "no block device has UUID=00000000-dead-beef-0000-000000000000" || fail "UUID: $err"
run_rc out err rc "$SNAPCTL" create /proc/self
check_eq "$rc" 1 "create of /proc"
echo "$err" | grep -qF "is on a proc filesystem" || fail "/proc: $err"
run_rc out err rc "$SNAPCTL" create no/such/dir
check_eq "$rc" 2 "create of a relative path that does not exist"
echo "$err" | grep -qF "invalid volume: \`no/such/dir'" || fail "relative path: $err"
run_rc out err rc "$SNAPCTL" create /tmp/vol-mnt "$vol"
check_eq "$rc" 1 "the same volume twice"
echo "$err" | grep -qF "are the same volume" || fail "same volume twice: $err"
run_rc out err rc "$SNAPCTL" create "$st"
check_eq "$rc" 1 "the storage device as a volume with no other storage"
echo "$err" | grep -qF "not enough free difference storage" || fail "storage as volume: $err"
