#!/bin/bash
# A process without CAP_SYS_ADMIN / CAP_NET_ADMIN gets EPERM for every
# command, and the module keeps answering root afterwards.
# tier: core
# cost: 8
. "$(dirname "$0")/lib.sh"

load_module
set +e
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$NLCTL" version 2>&1)
rc=$?
set -e
check_eq "$rc" 1 "exit status (EPERM) of nlctl as nobody"
echo "$out" | grep -q "Operation not permitted" || fail "no EPERM message: $out"

# root without CAP_SYS_ADMIN (but with CAP_NET_ADMIN) is refused too.
set +e
out=$(setpriv --inh-caps=-sys_admin --bounding-set=-sys_admin "$NLCTL" version 2>&1)
rc=$?
set -e
check_eq "$rc" 1 "exit status of nlctl without CAP_SYS_ADMIN"
echo "$out" | grep -q "CAP_SYS_ADMIN" || fail "no extack naming CAP_SYS_ADMIN: $out"

out=$("$NLCTL" version) || fail "root refused after the refusals"

# Issue 10, item 13: the events group names sets and devices; a process
# without CAP_SYS_ADMIN cannot subscribe to it.
set +e
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$NLCTL" events --count 1 --timeout 2 2>&1)
rc=$?
set -e
check_ne "$rc" 0 "nlctl events as nobody"
grep -q '^listening' <<< "$out" && fail "nobody subscribed to the events group: $out"
grep -q "Operation not permitted" <<< "$out" || fail "no EPERM message for the subscription: $out"
out=$("$NLCTL" events --count 0 --timeout 1 2>&1) || true
grep -q '^listening' <<< "$out" || fail "root cannot subscribe to the events group: $out"
