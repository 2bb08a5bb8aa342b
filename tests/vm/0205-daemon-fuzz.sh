#!/bin/bash
# 100,000 malformed requests (mutated frames, lying length headers) leave
# cowsnapd up and answering; the fuzzer checks it every 1,000 of them.
# tier: once
# cost: 70
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.bash"

[ -x "$FUZZ_PROTO" ] || fail "$FUZZ_PROTO missing: make -C tests/unit"
load_module
DAEMON_QUIET=1 start_daemon

"$FUZZ_PROTO" --socket "$SOCK" -n 100000 -s "$RANDOM" || { show_log; fail "fuzz-proto failed"; }
kill -0 "$DAEMON_PID" || { show_log; fail "cowsnapd died"; }
out=$("$SNAPCTL" version) || fail "snapctl version after the fuzzing"
check_eq "$(echo "$out" | sed -n 3p)" "cowsnap.ko $(cat /sys/module/cowsnap/version) (netlink protocol 1)" \
	"module line after fuzzing"
