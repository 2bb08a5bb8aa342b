#!/bin/bash
# A writer that vetoes, times out at freeze or crashes fails the create
# cleanly: the others get abort (and thaw if they froze), no set is left,
# no storage is held, and `snapctl list writers' shows the failed writer's
# state and error.
# tier: once
# cost: 85
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.bash"

make_loop st 64
make_loop raw 8
load_module

# scenario NAME BODY-OF-BAD-WRITER [EXTRA-CONF]: a good front-end writer
# that holds at freeze, and `bad' (back-end).  Prints create's stderr.
scenario() {
	local conf
	conf=$(mktemp -d /tmp/cowsnap-conf.XXXXXX)
	printf 'set-size 16M\ndevice %s\n' "$st" > "$conf/storage.conf"
	add_writer "$conf" good front-end '
if [ "$1" = freeze ]; then echo frozen; cat > /dev/null; record released; fi'
	add_writer "$conf" bad back-end "$2" "${3:-}"
	rm -f "$EVENTS"
	start_daemon --config-dir "$conf"
	run_rc out err rc "$SNAPCTL" create "$raw"
	skip_if_unsupported "$err"
	check_eq "$rc" 1 "create with a failing writer ($1)"
	check_eq "$("$SNAPCTL" list sets | tail -n +2)" "" "sets left after a failed create ($1)"
	check_eq "$(storage_used)" 0 "storage held after a failed create ($1)"
	grep -qx "good abort" "$EVENTS" || fail "good writer got no abort ($1): $(cat "$EVENTS")"
}

scenario veto 'if [ "$1" = prepare-snapshot ]; then exit 1; fi'
echo "$err" | grep -qF "writer bad failed: prepare-snapshot exited with status 1" || fail "veto: $err"
check_eq "$(writer_field bad state)" FAILED_AT_PREPARE_SNAPSHOT "state after a veto"
check_eq "$(writer_field bad last_error)" NONRETRYABLE "error after a veto"
check_eq "$(writer_field good state)" STABLE "state of the good writer after a veto"
grep -q "freeze" "$EVENTS" && fail "freeze sent after a veto: $(cat "$EVENTS")"
stop_daemon

scenario retryable 'if [ "$1" = prepare-backup ]; then exit 75; fi'
check_eq "$(writer_field bad state)" FAILED_AT_PREPARE_BACKUP "state after a retryable veto"
check_eq "$(writer_field bad last_error)" RETRYABLE "error after a retryable veto"
stop_daemon

scenario timeout 'if [ "$1" = freeze ]; then sleep 30; fi' 'freeze-timeout 1s'
echo "$err" | grep -qF "writer bad failed: freeze did not finish within 1000 ms" || fail "timeout: $err"
check_eq "$(writer_field bad state)" FAILED_AT_FREEZE "state after a freeze timeout"
check_eq "$(writer_field bad last_error)" TIMEOUT "error after a freeze timeout"
# the frozen good writer was released and thawed before the abort
check_eq "$(grep -E '^good (released|thaw|abort)$' "$EVENTS" | tr '\n' ' ')" \
	"good released good thaw good abort " "good writer after the timeout"
pgrep -f "sleep 30" >/dev/null && fail "the timed-out hook is still running"
stop_daemon

scenario crash 'if [ "$1" = freeze ]; then kill -9 $$; fi'
echo "$err" | grep -qF "writer bad failed: freeze killed by signal 9" || fail "crash: $err"
check_eq "$(writer_field bad state)" FAILED_AT_FREEZE "state after a crash"
check_eq "$(writer_field bad last_error)" NONRETRYABLE "error after a crash"
stop_daemon

# the set cannot get its storage after the writers prepared: they hear abort
conf=$(mktemp -d /tmp/cowsnap-conf.XXXXXX)
printf 'set-size 40M\ndevice %s\n' "$st" > "$conf/storage.conf"
add_writer "$conf" good front-end ''
rm -f "$EVENTS"
start_daemon --config-dir "$conf"
run_rc out err rc "$SNAPCTL" create --no-writers --persistent "$raw"
check_eq "$rc" 0 "create holding most of the storage (stderr: $err)"
run_rc out err rc "$SNAPCTL" create "$raw"
check_eq "$rc" 1 "create without room for its storage"
echo "$err" | grep -qF "not enough free difference storage" || fail "no storage: $err"
check_eq "$(grep '^good' "$EVENTS" | tr '\n' ' ')" \
	"good prepare-backup good prepare-snapshot good abort " "writer when the storage ran out"
check_eq "$(writer_field good state)" STABLE "writer state after the abort"
delete_all_sets
stop_daemon
