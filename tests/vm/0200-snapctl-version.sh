#!/bin/bash
# snapctl version with cowsnapd and the module: three lines, each naming the
# right program and carrying the version that program really has (the
# build's version for snapctl and cowsnapd, sysfs for the module); --json
# carries the same values.  Many clients in a row get the same answer.
# tier: once
# cost: 25
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.bash"

load_module
start_daemon

ver=$(built_version)
[ -n "$ver" ] || fail "no built version"
daemon_ver=$("$COWSNAPD" --version)
check_eq "$daemon_ver" "cowsnapd $ver" "cowsnapd --version"
mod_ver=$(cat /sys/module/cowsnap/version)

run_rc out err rc "$SNAPCTL" version
check_eq "$rc" 0 "snapctl version exit status (stderr: $err)"
check_eq "$(echo "$out" | wc -l)" 3 "number of lines"
check_eq "$(echo "$out" | sed -n 1p)" "snapctl $ver" "line 1"
check_eq "$(echo "$out" | sed -n 2p)" "cowsnapd $ver (socket protocol 1)" "line 2"
check_eq "$(echo "$out" | sed -n 3p)" "cowsnap.ko $mod_ver (netlink protocol 1)" "line 3"
check_eq "$err" "" "stderr"

# the same through --socket and through $COWSNAP_SOCKET
check_eq "$("$SNAPCTL" --socket "$SOCK" version)" "$out" "with --socket"
check_eq "$(COWSNAP_SOCKET=$SOCK "$SNAPCTL" version)" "$out" "with COWSNAP_SOCKET"

json=$("$SNAPCTL" --json version)
for kv in "\"snapctl_version\":\"$ver\"" "\"daemon_version\":\"$ver\"" \
	  "\"module_version\":\"$mod_ver\"" '"proto_version":1' '"module_proto_version":1'; do
	echo "$json" | grep -qF "$kv" || fail "--json lacks $kv: $json"
done

for i in $(seq 20); do
	o=$("$SNAPCTL" version) || fail "round $i failed"
	[ "$o" = "$out" ] || fail "round $i: $o"
done
kill -0 "$DAEMON_PID" || fail "cowsnapd died"
