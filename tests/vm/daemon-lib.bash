# tests/vm/daemon-lib.bash: helpers for the daemon/snapctl guest tests
# (tests/vm/02NN-*.sh), sourced after lib.sh.
COWSNAPD=$TOP/daemon/cowsnapd
SNAPCTL=$TOP/tools/snapctl
FUZZ_PROTO=$TOP/tests/unit/fuzz-proto
SOCK=/run/cowsnap/cowsnapd.sock
PIDFILE=/run/cowsnap/cowsnapd.pid
DAEMON_LOG=$(mktemp /tmp/cowsnapd.XXXXXX.log)
DAEMON_PID=
export COWSNAPD SNAPCTL SOCK

[ -x "$COWSNAPD" ] || { echo "daemon-lib: $COWSNAPD missing: run 'make' first" >&2; exit 2; }
[ -x "$SNAPCTL" ] || { echo "daemon-lib: $SNAPCTL missing: run 'make' first" >&2; exit 2; }

# The version the build gave snapctl and cowsnapd (tools/common.mk).
built_version() {
	make -s --no-print-directory -C "$TOP/tools" print-version
}

_daemon_ready() {
	[ -S "$SOCK" ] && [ "$(cat "$PIDFILE" 2>/dev/null)" = "$DAEMON_PID" ]
}

# start_daemon [ARGS...]: cowsnapd -f -v --module $KO ARGS in the background
# (without -v when DAEMON_QUIET is set),
# stopped when the test ends; returns once it serves its socket.
start_daemon() {
	local v=-v
	[ -z "${DAEMON_QUIET:-}" ] || v=
	"$COWSNAPD" -f $v --module "$KO" "$@" >> "$DAEMON_LOG" 2>&1 &
	DAEMON_PID=$!
	on_exit stop_daemon
	if ! wait_for 20 _daemon_ready; then
		echo "# cowsnapd log:"; sed 's/^/#   /' "$DAEMON_LOG"
		fail "cowsnapd did not start"
	fi
}

# stop_daemon: SIGTERM, and it must exit 0 and clean up its socket.
stop_daemon() {
	local rc=0
	[ -n "$DAEMON_PID" ] || return 0
	kill "$DAEMON_PID" 2>/dev/null
	wait "$DAEMON_PID" || rc=$?
	DAEMON_PID=
	[ "$rc" = 0 ] || { sed 's/^/#   /' "$DAEMON_LOG"; fail "cowsnapd exited $rc on SIGTERM"; }
	[ ! -e "$SOCK" ] || fail "cowsnapd left $SOCK behind"
}

# run_rc VAR_OUT VAR_ERR VAR_RC CMD...: run CMD, capturing both outputs and
# the exit status without tripping set -e.
run_rc() {
	local __o=$1 __e=$2 __r=$3 __tmp __out __rc
	shift 3
	__tmp=$(mktemp)
	set +e
	__out=$("$@" 2> "$__tmp")
	__rc=$?
	set -e
	printf -v "$__o" '%s' "$__out"
	printf -v "$__e" '%s' "$(cat "$__tmp")"
	printf -v "$__r" '%s' "$__rc"
	rm -f "$__tmp"
}

show_log() {
	echo "# cowsnapd log:"
	sed 's/^/#   /' "$DAEMON_LOG"
}

# make_loop VAR SIZE_MB: a loop device over a fresh file, removed at exit.
make_loop() {
	local __f __dev
	[ -e /dev/loop-control ] || modprobe loop || fail "modprobe loop failed"
	__f=$(mktemp /tmp/cs-loop.XXXXXX)
	truncate -s "${2}M" "$__f"
	__dev=$(losetup -f --show "$__f") || fail "losetup failed"
	on_exit "losetup -d $__dev; rm -f $__f"
	printf -v "$1" '%s' "$__dev"
}

# A configuration directory of the test's own.
CONF=$(mktemp -d /tmp/cowsnap-conf.XXXXXX)

# skip_if_unsupported OUTPUT: skip when the module answered EOPNOTSUPP.
skip_if_unsupported() {
	if echo "$1" | grep -q "the cowsnap module does not support this yet"; then
		skip "the module does not implement this yet: $1"
	fi
}

# delete_all_sets: registered after start_daemon, so that it runs first.
delete_all_sets() {
	[ -n "$DAEMON_PID" ] && "$SNAPCTL" delete --all > /dev/null 2>&1
	return 0
}

# mkfs_ext4 DEV [ARGS]: ext4 with the module loaded, so that mount finds it.
mkfs_ext4() {
	modprobe ext4 2>/dev/null || true
	mkfs.ext4 -q "$@"
}

# overwrite_slowly SRC DEV: DEV's first 16 MiB from SRC, 256 KiB at a time
# with a pause between, slowly enough for cowsnapd to grow a set's storage
# on STORAGE_LOW meanwhile.
overwrite_slowly() {
	local i
	for ((i = 0; i < 64; i++)); do
		dd if="$1" of="$2" bs=256K skip=$i seek=$i count=1 oflag=direct \
			conv=notrunc status=none
		sleep 0.1
	done
}

# storage_used: sectors of difference storage given to sets.
storage_used() {
	local u
	u=$("$SNAPCTL" --json list storage | tr -d ' \n' | grep -o '"used":[0-9]*' | cut -d: -f2 || true)
	echo "${u:-0}"
}

# add_writer CONFDIR NAME ORDER SCRIPT_BODY [EXTRA_CONF]: a hook writer whose
# script (bash) gets the event as $1; EVENTS (a file) is where the helper
# `record' writes "NAME EVENT" lines.
EVENTS=/tmp/cowsnap-events.log
export EVENTS
add_writer() {
	local dir=$1/writers.d name=$2 order=$3 body=$4 extra=${5:-}
	mkdir -p "$dir"
	cat > "$dir/$name.sh" <<EOS
#!/bin/bash
record() { echo "\$COWSNAP_WRITER \$*" >> "$EVENTS"; }
record "\$1"
$body
exit 0
EOS
	chmod +x "$dir/$name.sh"
	printf 'exec %s\norder %s\n%s\n' "$dir/$name.sh" "$order" "$extra" > "$dir/$name.conf"
}

# writer_field NAME FIELD: from `snapctl --json list writers'
writer_field() {
	"$SNAPCTL" --json list writers | tr -d '\n' | sed 's/},/}\n/g' |
		grep "\"name\": *\"$1\"" | grep -o "\"$2\": *\"[^\"]*\"" | sed 's/.*: *"\(.*\)"/\1/'
}

# sockwriter NAME ARGS...: tests/tools/sockwriter registered as NAME, logging
# its events to $EVENTS, its stderr in $T/NAME.err (T: the test's scratch
# folder), its pid in $PID_NAME; stopped when the test ends.  Returns once
# it is registered.
SOCKWRITER=$TOP/tests/tools/sockwriter
sockwriter() {
	local name=$1
	shift
	"$SOCKWRITER" --name "$name" --log "$EVENTS" --ready "$T/$name.ready" "$@" \
		2>> "$T/$name.err" &
	on_exit "kill $! 2>/dev/null || true"
	printf -v "PID_$name" '%s' "$!"
	wait_for 10 test -e "$T/$name.ready" || fail "socket writer $name did not register: $(cat "$T/$name.err")"
}
