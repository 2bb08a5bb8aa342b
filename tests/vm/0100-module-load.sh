#!/bin/bash
# The module loads, registers its generic-netlink family with the "events"
# group, reports its version in sysfs, and unloads cleanly, several times.
# tier: core
# cost: 15
. "$(dirname "$0")/lib.sh"

want=$(cat "$TOP/VERSION")
for round in 1 2 3; do
	load_module
	check_eq "$(cat /sys/module/cowsnap/version)" "$want" "module version (round $round)"
	grep -q "cowsnap: version $want loaded" <(dmesg) || fail "no load message in dmesg"
	# The controller lists the family and its multicast group.
	fam=$(genl ctrl get name cowsnap) || fail "genl ctrl get name cowsnap failed"
	echo "$fam" | grep -q "Name: cowsnap" || fail "genl ctrl: family missing: $fam"
	echo "$fam" | grep -q "name: events" || fail "genl ctrl: no events group: $fam"
	unload_module
	module_loaded && fail "module still loaded after rmmod (round $round)"
	if "$NLCTL" version 2>/dev/null; then
		fail "family still answers after rmmod"
	fi
done
grep -q "cowsnap: unloaded" <(dmesg) || fail "no unload message in dmesg"
