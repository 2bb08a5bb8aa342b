#!/bin/bash
# Set names: snapctl create --name and backup --name.  The name is in the
# module (sysfs cowsnap/set_name, SET_GET), so it is shown by list (NAME
# column, -o name, JSON "name"), show and create, stands for the id in show
# and delete, survives a restart of cowsnapd, and gives the image a udev
# link /dev/cowsnap/by-name/NAME/ORIGIN through which it reads as the
# origin did at the take.  A name a set already has is refused saying
# which set has it; bad names are refused by snapctl and, sent raw over
# netlink, by the module.
# tier: once 6.1
# cost: 45
# timeout: 180
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.bash"

make_loop st 96
make_loop a 16
make_loop b 16
printf 'set-size 16M\ndevice %s\n' "$st" > "$CONF/storage.conf"
load_module
start_daemon --config-dir "$CONF"
on_exit delete_all_sets

dd if=/dev/urandom of="$a" bs=1M count=16 oflag=direct status=none
sum_a=$(sha256sum < "$a")

# --- create --name: its output, list, show, JSON, sysfs, the module's reply
name=nightly.db-1
run_rc out err rc "$SNAPCTL" create --persistent --no-writers --name "$name" "$a"
skip_if_unsupported "$err"
check_eq "$rc" 0 "create --name $name (stderr: $err)"
id=$(echo "$out" | sed -n 1p | awk '{print $1}')
[[ "$id" =~ ^[1-9][0-9]*$ ]] || fail "create printed no set id: $out"
check_eq "$(echo "$out" | sed -n 1p)" "$id $name" "create's first line"
img=$(echo "$out" | sed -n 2p | awk '{print $2}')
[[ "$img" =~ ^/dev/cowsnap[0-9]+$ ]] || fail "image name: $out"
wait_for 10 test -b "$img" || fail "$img does not appear"
dd if=/dev/urandom of="$a" bs=1M count=4 oflag=direct conv=notrunc status=none
check_ne "$(sha256sum < "$a")" "$sum_a" "the origin after the take"

"$SNAPCTL" list sets | grep -Eq "^$id +$name +taken +persistent .* $a=$img$" ||
	fail "list sets: $("$SNAPCTL" list sets)"
check_eq "$("$SNAPCTL" list -H -o name,id sets)" "$name	$id" "list -H -o name,id sets"
show=$("$SNAPCTL" show "$name") || fail "show $name"
check_eq "$show" "$("$SNAPCTL" show "$id")" "show by name and by id"
echo "$show" | grep -qx "  name:     $name" || fail "show: $show"
"$SNAPCTL" --json show "$name" | tr -d ' \n' | grep -qF "\"set\":{\"id\":$id,\"name\":\"$name\"" ||
	fail "--json show: $("$SNAPCTL" --json show "$name")"
"$SNAPCTL" --json list sets | tr -d ' \n' | grep -qF "{\"id\":$id,\"name\":\"$name\"" ||
	fail "--json list sets: $("$SNAPCTL" --json list sets)"
check_eq "$(cat "/sys/block/${img#/dev/}/cowsnap/set_name")" "$name" "sysfs set_name of $img"
check_eq "$(set_field "$id" name)" "$name" "the module's SET_GET"

# --- an unnamed set: "-" in the table, "" in JSON and sysfs
out=$("$SNAPCTL" create --no-writers "$b") || fail "create $b"
id2=$(echo "$out" | sed -n 1p)
[[ "$id2" =~ ^[1-9][0-9]*$ ]] || fail "create without --name printed: $out"
img2=$(echo "$out" | sed -n 2p | awk '{print $2}')
wait_for 10 test -b "$img2" || fail "$img2 does not appear"
check_eq "$("$SNAPCTL" list -H -o id,name sets | awk -v i="$id2" '$1 == i { print $2 }')" "-" \
	"NAME of an unnamed set"
"$SNAPCTL" --json show "$id2" | tr -d ' \n' | grep -qF "\"set\":{\"id\":$id2,\"name\":\"\"" ||
	fail "--json show of an unnamed set: $("$SNAPCTL" --json show "$id2")"
check_eq "$(cat "/sys/block/${img2#/dev/}/cowsnap/set_name")" "" "sysfs set_name of $img2"
check_eq "$(set_field "$id2" name)" "-" "SET_GET of an unnamed set"

# --- a name taken: refused, saying by which set and what to do
run_rc out err rc "$SNAPCTL" create --no-writers --name "$name" "$b"
check_eq "$rc" 1 "create with a taken name (stdout: $out)"
check_eq "$err" "snapctl: set $id is already named \`$name': choose another name, or delete that set first (\`snapctl delete $name')" \
	"the refusal of a taken name"
check_eq "$("$SNAPCTL" list -H -o id sets | wc -l)" 2 "sets after the refusal"

# --- bad names: snapctl refuses them before asking anyone
long=$(printf 'x%.0s' {1..65})
for bad in 123 -x .x 'a b' a/b 'a=b' "$long" "$(printf 'caf\xc3\xa9')"; do
	run_rc out err rc "$SNAPCTL" create --no-writers --name "$bad" "$b"
	check_eq "$rc" 2 "create --name '$bad'"
	echo "$err" | grep -qF "invalid set name: \`" || fail "create --name '$bad': $err"
done
run_rc out err rc "$SNAPCTL" show ghost
check_eq "$rc" 1 "show of an unknown name"
check_eq "$err" "snapctl: there is no set named \`ghost'; see \`snapctl list sets'" "show ghost"
run_rc out err rc "$SNAPCTL" delete 'no such'
check_eq "$rc" 2 "delete of a bad name"

# --- and the module refuses them sent raw (22 EINVAL, 17 EEXIST)
nl_refuses() {
	local want=$1 what=$2 rc=0
	shift 2
	"$NLCTL" set-new "$@" > /tmp/cs0246-nl.out 2>&1 || rc=$?
	check_eq "$rc" "$want" "SET_NEW with $what: $(cat /tmp/cs0246-nl.out)"
}
nl_refuses 22 "name 'a b'" --name 'a b'
grep -q "invalid set name" /tmp/cs0246-nl.out || fail "extack: $(cat /tmp/cs0246-nl.out)"
nl_refuses 22 "an empty name" --name ''
nl_refuses 22 "name 123" --name 123
nl_refuses 22 "name -x" --name -x
nl_refuses 22 "a Latin-1 letter" --name "$(printf 'caf\xe9')"
nl_refuses 22 "a 65-byte name" --name "$long"
nl_refuses 22 "a name without its NUL" --name-bytes abc
nl_refuses 17 "a taken name" --name "$name"
grep -q "another set has this name" /tmp/cs0246-nl.out || fail "extack: $(cat /tmp/cs0246-nl.out)"
"$NLCTL" set-new --name "$(printf 'y%.0s' {1..64})" > /dev/null || fail "SET_NEW with a 64-byte name"

# --- udev: the tree's rule names the image by its set's name too
mkdir -p /run/udev/rules.d
sed "s|@LIBEXECDIR@|$TOP/daemon/dist|" "$TOP/daemon/dist/60-cowsnap.rules" \
	> /run/udev/rules.d/60-cowsnap.rules
on_exit "rm -f /run/udev/rules.d/60-cowsnap.rules"
udevadm test --action=add "/sys/block/${img#/dev/}" > /tmp/cs0246-udev.log 2>&1 ||
	{ tail -n 30 /tmp/cs0246-udev.log; fail "udevadm test $img"; }
link=/dev/cowsnap/by-name/$name/${a#/dev/}
grep -qx "DEVLINKS=.*$link.*" /tmp/cs0246-udev.log || { tail -n 30 /tmp/cs0246-udev.log; fail "udev names no $link"; }
grep -qx "DEVLINKS=.*/dev/cowsnap/$id/${a#/dev/}.*" /tmp/cs0246-udev.log || fail "udev lost the id link"
udevadm test --action=add "/sys/block/${img2#/dev/}" > /tmp/cs0246-udev2.log 2>&1 || fail "udevadm test $img2"
grep -q "by-name" /tmp/cs0246-udev2.log && fail "an unnamed set's image got a by-name link"
[ -e "$link" ] || { mkdir -p "$(dirname "$link")"; ln -s "$img" "$link"; note "udevadm test made no link: made by hand"; }
check_eq "$(readlink -f "$link")" "$img" "$link"
check_eq "$(sha256sum < "$link")" "$sum_a" "the image read through $link"
# the helper for a module without sysfs names, asking snapctl
check_eq "$(COWSNAP_SNAPCTL=$SNAPCTL sh "$TOP/daemon/dist/cowsnap-udev-name" "${img#/dev/}")" \
	"COWSNAP_SET_ID=$id
COWSNAP_SET_NAME=$name
COWSNAP_ORIGIN=${a#/dev/}" "cowsnap-udev-name ${img#/dev/}"
check_eq "$(COWSNAP_SNAPCTL=$SNAPCTL sh "$TOP/daemon/dist/cowsnap-udev-name" "${img2#/dev/}")" \
	"COWSNAP_SET_ID=$id2
COWSNAP_ORIGIN=${b#/dev/}" "cowsnap-udev-name ${img2#/dev/}"

# --- cowsnapd restarts: the persistent set keeps its name
stop_daemon
start_daemon --config-dir "$CONF"
check_eq "$("$SNAPCTL" list -H -o id,name sets)" "$id	$name" "sets after a restart"
"$SNAPCTL" show "$name" | grep -qx "set $id" || fail "show $name after a restart"
check_eq "$(sha256sum < "$link")" "$sum_a" "the image after a restart"

# --- delete by name frees the name; backup --name gives it to its set
check_eq "$("$SNAPCTL" delete "$name")" "deleted set $id" "delete $name"
wait_for 10 test ! -e "$img" || fail "$img still there after delete"
check_eq "$("$SNAPCTL" list -H sets)" "" "sets after delete"
out=$("$SNAPCTL" backup --no-writers --name "$name" \
	--exec 'echo "env $COWSNAP_SET_ID $COWSNAP_SET_NAME"; "$SNAPCTL" list -H -o id,name sets' \
	"$b") || fail "backup --name $name: $out"
bid=$(echo "$out" | awk '$1 == "env" { print $2 }')
[[ "$bid" =~ ^[1-9][0-9]*$ ]] || fail "backup: $out"
check_eq "$out" "env $bid $name
$bid	$name" "backup --name: the command's environment and list"
check_eq "$("$SNAPCTL" list -H sets)" "" "sets after the backup"
