#!/bin/bash
# snapctl without a daemon: its own version still prints, then a clear error
# naming the socket and what to do, exit status 3.  The same for a socket
# path given by --socket / COWSNAP_SOCKET, and for a stale socket file that
# nobody listens on.
# tier: once
# cost: 26
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.bash"

ver=$(built_version)
[ ! -e "$SOCK" ] || fail "$SOCK exists before the test"

run_rc out err rc "$SNAPCTL" version
check_eq "$rc" 3 "exit status without a daemon"
check_eq "$out" "snapctl $ver" "stdout without a daemon"
echo "$err" | grep -qF "cannot connect to cowsnapd at $SOCK: No such file or directory" ||
	fail "error does not name $SOCK: $err"
echo "$err" | grep -qF "is cowsnapd running? Start it" || fail "error does not say what to do: $err"

run_rc out err rc env COWSNAP_SOCKET=/tmp/nowhere.sock "$SNAPCTL" version
check_eq "$rc" 3 "exit status with COWSNAP_SOCKET"
echo "$err" | grep -qF "at /tmp/nowhere.sock:" || fail "error does not name /tmp/nowhere.sock: $err"

# a socket file left behind by a daemon killed with SIGKILL
stale=/tmp/stale/cowsnapd.sock
"$COWSNAPD" -f --no-module --socket "$stale" >> "$DAEMON_LOG" 2>&1 &
pid=$!
wait_for 10 test -S "$stale" || fail "cowsnapd --no-module did not start"
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
[ -S "$stale" ] || fail "no stale socket after SIGKILL"
run_rc out err rc "$SNAPCTL" --socket "$stale" version
check_eq "$rc" 3 "exit status with a stale socket"
echo "$err" | grep -qF "at $stale: Connection refused" || fail "stale socket: $err"

# a new daemon takes the stale socket over
"$COWSNAPD" -f --no-module --socket "$stale" >> "$DAEMON_LOG" 2>&1 &
pid=$!
on_exit "kill $pid 2>/dev/null"
wait_for 10 grep -qx "$pid" /tmp/stale/cowsnapd.pid ||
	{ show_log; fail "restarted cowsnapd did not take over $stale"; }
run_rc out err rc "$SNAPCTL" --socket "$stale" version
check_eq "$(echo "$out" | sed -n 2p)" "cowsnapd $ver (socket protocol 1)" "restarted daemon's line"
check_eq "$rc" 1 "exit status when cowsnapd has no module"
echo "$err" | grep -qF "cowsnapd cannot reach the cowsnap module" || fail "no module error: $err"
kill "$pid"
wait "$pid" || fail "cowsnapd --no-module did not exit 0 on SIGTERM"

# usage errors are not connection errors
run_rc out err rc "$SNAPCTL" frobnicate
check_eq "$rc" 2 "exit status of an unknown command"
echo "$err" | grep -qF "invalid command: \`frobnicate'" || fail "unknown command not quoted: $err"
run_rc out err rc "$SNAPCTL" version extra
check_eq "$rc" 2 "exit status of an extra argument"
echo "$err" | grep -qF "unexpected argument \`extra'" || fail "extra argument not quoted: $err"
"$SNAPCTL" --help | grep -q "^  version " || fail "--help does not list version"
