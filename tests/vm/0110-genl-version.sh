#!/bin/bash
# GET_VERSION round trip: the reply carries the module's version string and
# protocol version 1; a request carrying any attribute is rejected with
# EINVAL (strict policy).
# tier: core
# cost: 20
. "$(dirname "$0")/lib.sh"

load_module
out=$("$NLCTL" version) || fail "nlctl version failed"
check_eq "$out" "$(cat "$TOP/VERSION") 1" "GET_VERSION reply"
check_eq "$out" "$(cat /sys/module/cowsnap/version) 1" "GET_VERSION against sysfs"

# The same through the netlink socket, 40 times in a row: no leaks, no
# stale replies.
for i in $(seq 40); do
	o=$("$NLCTL" version) || fail "round $i failed"
	[ "$o" = "$out" ] || fail "round $i: $o"
done
