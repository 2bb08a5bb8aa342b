#!/bin/bash
# A socket writer that vetoes at freeze, one killed with SIGKILL in the
# middle of its freeze, and one that never answers it, each fail the backup
# cleanly: the frozen hook writer
# is released and thawed, every selected writer that can still hear gets
# abort, no set and no storage are left, and `snapctl --json list writers'
# shows the failed writer's state and error; a crashed writer is shown gone
# until the next session.  While a backup waits for a writer, a second
# requestor gets "another shadow copy set is being created" at once, and
# `create --wait' gets its set once the first is done.
# timeout: 400
# tier: once
# cost: 57
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.bash"

[ -x "$SOCKWRITER" ] || fail "$SOCKWRITER missing: run 'make' first"

make_loop st 64
make_loop vola 8
make_loop volb 8
printf 'set-size 16M\ndevice %s\n' "$st" > "$CONF/storage.conf"
add_writer "$CONF" web front-end '
if [ "$1" = freeze ]; then echo frozen; cat > /dev/null; record released; fi'
add_writer "$CONF" slow back-end 'if [ "$1" = freeze ]; then sleep 12; fi'
rm -f "$EVENTS"
load_module
start_daemon --config-dir "$CONF"
on_exit delete_all_sets

T=$(mktemp -d /tmp/cs-0229.XXXXXX)
# one `snapctl --json list writers' (each snapctl costs time in a slow
# guest); then wf NAME FIELD reads from it, w NAME gives the whole object
writers_now() {
	WRITERS=$("$SNAPCTL" --json list writers | tr -d '\n' | sed 's/} *, *{/}\n{/g')
}
w() { echo "$WRITERS" | grep "\"name\":\"$1\""; }
wf() { w "$1" | grep -o "\"$2\":\"[^\"]*\"" | sed 's/.*:"\(.*\)"/\1/'; }
sockwriter vetoer --order back-end --veto freeze
sockwriter crasher --order system --crash freeze
sockwriter hanger --order back-end --hang freeze --freeze-timeout 1500 --event-timeout 1000

# 1. veto at freeze
: > "$EVENTS"
run_rc out err rc "$SNAPCTL" backup --component web --component vetoer --exec "touch $T/ran" "$vola"
skip_if_unsupported "$err"
check_eq "$rc" 1 "backup with a writer vetoing freeze"
check_eq "$err" "snapctl: writer vetoer failed: freeze vetoed: vetoer refuses freeze (test)" \
	"error of a vetoed backup"
check_eq "$(awk '{print $1, $2}' "$EVENTS")" "vetoer identify
web prepare-backup
vetoer prepare-backup
web prepare-snapshot
vetoer prepare-snapshot
web freeze
vetoer freeze
vetoer thaw
web released
web thaw
web abort
vetoer abort" "events of a backup vetoed at freeze"
[ ! -e "$T/ran" ] || fail "the backup command ran after a veto"
check_eq "$(storage_used)" 0 "storage held after a veto (no set left)"
writers_now
check_eq "$(wf vetoer state)/$(wf vetoer last_error)" FAILED_AT_FREEZE/NONRETRYABLE \
	"state and error of the vetoing writer"
check_eq "$(wf vetoer message)" "freeze vetoed: vetoer refuses freeze (test)" \
	"message of the vetoing writer"
check_eq "$(wf web state)/$(wf web last_error)" STABLE/NONE "the hook writer after the veto"
check_eq "$(wf crasher state)/$(wf crasher last_error)" STABLE/NONE \
	"an unselected writer after the veto"

# 2. a socket writer killed (SIGKILL) in the middle of its freeze
: > "$EVENTS"
run_rc out err rc "$SNAPCTL" backup --component web --component crasher --exec "touch $T/ran" "$vola"
check_eq "$rc" 1 "backup with a writer crashing at freeze"
check_eq "$err" "snapctl: writer crasher failed: freeze: the writer's connection closed (it crashed or exited)" \
	"error of a backup whose writer crashed"
check_eq "$(awk '{print $1, $2}' "$EVENTS")" "crasher identify
web prepare-backup
crasher prepare-backup
web prepare-snapshot
crasher prepare-snapshot
web freeze
crasher freeze
web released
web thaw
web abort" "events of a backup whose writer crashed at freeze"
[ ! -e "$T/ran" ] || fail "the backup command ran after a crash"
check_eq "$(storage_used)" 0 "storage held after a crash (no set left)"
out=$("$SNAPCTL" list writers)
echo "$out" | grep -q '^crasher  *socket:gone  *system  *FAILED_AT_FREEZE  *NONRETRYABLE ' ||
	fail "crashed writer not shown gone: $out"
writers_now
check_eq "$(wf crasher state)/$(wf crasher last_error)/$(wf crasher kind)" \
	FAILED_AT_FREEZE/NONRETRYABLE/socket "the crashed writer in --json"
w crasher | grep -q '"connected":true' && fail "crashed writer shown connected: $(w crasher)"
check_eq "$(wf vetoer state)" STABLE "the last session's failure is history"
# the daemon goes on: the next backup works and forgets the gone writer
: > "$EVENTS"
run_rc out err rc "$SNAPCTL" backup --component web --exec "touch $T/ran" "$vola"
check_eq "$rc" 0 "backup after a crash (stderr: $err)"
[ -e "$T/ran" ] || fail "the backup command did not run"
"$SNAPCTL" list writers | grep -q '^crasher ' && fail "gone writer still listed after the next session"
grep -q '^vetoer' "$EVENTS" && fail "unselected socket writer got events: $(cat "$EVENTS")"

# 3. a socket writer that never answers its freeze: TIMEOUT within its
# freeze window; it stays connected and shows its first failure
: > "$EVENTS"
run_rc out err rc "$SNAPCTL" backup --component web --component hanger --exec "touch $T/ran2" "$vola"
check_eq "$rc" 1 "backup with a writer not answering freeze"
check_eq "$err" "snapctl: writer hanger failed: freeze was not answered within 1500 ms" \
	"error of a backup whose writer timed out"
check_eq "$(awk '{print $1, $2}' "$EVENTS")" "hanger identify
web prepare-backup
hanger prepare-backup
web prepare-snapshot
hanger prepare-snapshot
web freeze
hanger freeze
web released
web thaw
web abort" "events of a backup whose writer timed out at freeze"
[ ! -e "$T/ran2" ] || fail "the backup command ran after a timeout"
check_eq "$(storage_used)" 0 "storage held after a timeout (no set left)"
writers_now
check_eq "$(wf hanger state)/$(wf hanger last_error)" FAILED_AT_FREEZE/TIMEOUT \
	"state and error of the writer that timed out"
w hanger | grep -q '"connected":true' || fail "the writer that timed out is not connected: $(w hanger)"

# 4. the shadow-set lock: at once, or --wait
: > "$EVENTS"
"$SNAPCTL" backup --component slow --exec true "$vola" > "$T/a.out" 2>&1 &
a=$!
wait_for 30 grep -qx "slow freeze" "$EVENTS" || fail "the first backup did not reach freeze"
run_rc out err rc "$SNAPCTL" create --no-writers "$volb"
check_eq "$rc" 1 "create during another backup"
echo "$err" | grep -qF "snapctl: another shadow copy set is being created (by pid " ||
	fail "create during another backup: $err"
# answered at once: while the first backup's writer still freezes (12 s)
writers_now
check_eq "$(wf slow state)" WAITING_FOR_FREEZE "listing served while a writer freezes"
grep -q "^slow thaw" "$EVENTS" && fail "the refusal came only after the first backup's freeze"
run_rc out err rc "$SNAPCTL" create --wait=30 --no-writers "$volb"
check_eq "$rc" 0 "create --wait (stderr: $err)"
wait "$a" || fail "the first backup failed: $(cat "$T/a.out")"
grep -qx "slow backup-complete" "$EVENTS" || fail "the first backup did not complete: $(cat "$EVENTS")"
check_eq "$("$SNAPCTL" list sets | tail -n +2 | wc -l)" 1 "sets after create --wait"
