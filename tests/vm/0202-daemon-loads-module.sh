#!/bin/bash
# cowsnapd started with the module not loaded loads it (--module FILE, with
# libkmod), then serves the module's version.  Detached (no -f) it returns
# only once it serves, with its pid in the pid file; a second daemon is
# refused while the first runs.
# tier: once
# cost: 10
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.bash"

module_loaded && fail "module loaded before the test"
start_daemon
module_loaded || { show_log; fail "cowsnapd did not load the module"; }
grep -q "loaded kernel module $KO" "$DAEMON_LOG" || { show_log; fail "no load message"; }
mod_ver=$(cat /sys/module/cowsnap/version)
out=$("$SNAPCTL" version) || fail "snapctl version failed"
check_eq "$(echo "$out" | sed -n 3p)" "cowsnap.ko $mod_ver (netlink protocol 1)" "module line"

# a second daemon on the same socket is refused and leaves the first alone
run_rc out err rc "$COWSNAPD" -f --module "$KO"
check_eq "$rc" 1 "exit status of a second cowsnapd"
echo "$err" | grep -qF "cowsnapd is already running (pid $DAEMON_PID, $PIDFILE)" ||
	fail "second daemon: $err"
"$SNAPCTL" version > /dev/null || fail "first daemon hurt by the second"
stop_daemon

# detached: returns 0 when ready; the pid file names the daemon
unload_module
"$COWSNAPD" --module "$KO" || fail "detached cowsnapd failed"
pid=$(cat "$PIDFILE")
on_exit "kill $pid 2>/dev/null"
kill -0 "$pid" || fail "pid file names no live process: $pid"
check_eq "$(cat /proc/$pid/comm)" cowsnapd "process in the pid file"
module_loaded || fail "detached cowsnapd did not load the module"
out=$("$SNAPCTL" version) || fail "snapctl version against the detached daemon"
check_eq "$(echo "$out" | sed -n 3p)" "cowsnap.ko $mod_ver (netlink protocol 1)" "module line (detached)"
kill "$pid"
wait_for 10 sh -c "! kill -0 $pid 2>/dev/null" || fail "detached cowsnapd ignores SIGTERM"
[ ! -e "$SOCK" ] || fail "socket left after SIGTERM"
[ ! -e "$PIDFILE" ] || fail "pid file left after SIGTERM"
