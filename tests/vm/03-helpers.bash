# tests/vm/03-helpers.bash: helpers of the provider tests (03NN-*.sh), sourced
# after lib.sh.  Not a test itself (the runner takes [0-9]*.sh only).
#
#   need CMD...        skip unless the loaded module implements each command
#                      (names as in the uapi: SET_NEW, SET_TAKE, ...)
#   brd N MIB          N RAM disks /dev/ram0.. of MIB MiB each
#   sess_start         one nlctl session (one netlink socket: the set owner)
#   sess_run CMD...    run CMD in it: $SESS_OUT, $SESS_RC; never fails
#   s CMD...           the same, failing the test unless CMD succeeds
#   sess_kill          kill the session (its socket closes)
#   new_set [OPTS]     s set-new OPTS; the id in $SET
#   image_of ID DEV    /dev/cowsnapN of DEV in set ID
#   events_start F     nlctl events > F in the background, subscribed
#   expect_rc RC CMD   CMD must exit with RC (an errno)
#   read_fails DEV     a direct read of DEV must fail with EIO
BLKSTAMP=$TOP/tests/tools/blkstamp
T=$(mktemp -d /tmp/cowsnap-test.XXXXXX)
export BLKSTAMP T
[ -x "$BLKSTAMP" ] || { echo "03-helpers: $BLKSTAMP missing: run 'make'" >&2; exit 2; }

need() {
	local ops c
	module_loaded || load_module
	ops=$("$NLCTL" ops) || fail "nlctl ops failed"
	for c in "$@"; do
		grep -qx "$c" <<< "$ops" || skip "the module does not implement $c yet"
	done
}

# Destroy every set, then unload the module: registered by load_module_03.
# Cleanups never call fail (that would skip the cleanups after them).
destroy_all_sets() {
	local id
	module_loaded || return 0
	for id in $("$NLCTL" get 2>/dev/null | awk '$1 == "set" { print $2 }'); do
		"$NLCTL" destroy "$id" >/dev/null 2>&1
	done
}

quiet_unload() {
	local i
	for i in 1 2 3 4 5 6 7 8 9 10; do
		module_loaded || return 0
		rmmod cowsnap 2>/dev/null && return 0
		sleep 0.5
	done
	echo "# cleanup: rmmod cowsnap failed"
}

load_module_03() {
	load_module "$@"
	on_exit quiet_unload
	on_exit destroy_all_sets
}

brd() {
	if [ -d /sys/module/brd ] && ! rmmod brd 2>/dev/null; then
		# Left over by an earlier test: free what may hold it.
		dmsetup remove_all 2>/dev/null
		losetup -D 2>/dev/null
		module_loaded && { destroy_all_sets; quiet_unload; }
		rmmod brd || fail "brd is loaded and busy"
	fi
	modprobe brd rd_nr="$1" rd_size=$(($2 * 1024)) || fail "modprobe brd failed"
	on_exit "rmmod brd 2>/dev/null || true"
	wait_for 5 test -b /dev/ram$(($1 - 1)) || fail "no /dev/ram$(($1 - 1))"
}

SESS_MYPID=
sess_start() {
	[ -z "$SESS_MYPID" ] || fail "sess_start: a session is already running"
	coproc SESS { exec "$NLCTL" session; }
	# bash unsets SESS and SESS_PID when the coproc ends: keep copies.
	SESS_IN=${SESS[1]} SESS_OUTFD=${SESS[0]} SESS_MYPID=$SESS_PID
	on_exit sess_kill
}

sess_run() {
	local line
	[ -n "$SESS_MYPID" ] || fail "sess_run: no session"
	printf '%s\n' "$*" >&"$SESS_IN"
	SESS_OUT=
	while :; do
		IFS= read -r -t 120 line <&"$SESS_OUTFD" || fail "nlctl session gave no answer to: $*"
		case $line in
		"done "*) SESS_RC=${line#done }; return 0 ;;
		esac
		SESS_OUT+=$line$'\n'
	done
}

s() {
	sess_run "$@"
	[ "$SESS_RC" = 0 ] || fail "nlctl $*: exit $SESS_RC: $SESS_OUT"
}

sess_kill() {
	[ -n "$SESS_MYPID" ] || return 0
	kill -9 "$SESS_MYPID" 2>/dev/null || true
	wait "$SESS_MYPID" 2>/dev/null || true
	exec {SESS_IN}>&- {SESS_OUTFD}<&- 2>/dev/null || true
	SESS_MYPID=
	return 0
}

new_set() {
	s set-new "$@"
	SET=${SESS_OUT%%$'\n'*}
	[[ $SET =~ ^[0-9]+$ ]] && [ "$SET" != 0 ] || fail "set-new printed \`$SET'"
}

# take_one VOL STORAGE SECTORS [SET-NEW ARGS...]: a set of one volume with
# storage at the start of STORAGE, taken; its id in $SET, the image in $img
take_one() {
	local vol=$1 st=$2 len=$3
	shift 3
	new_set "$@"
	s add-volume "$SET" "$vol"
	s add-storage "$SET" "$st" 0 "$len"
	s take "$SET"
	img=$(image_of "$SET" "$vol")
}

devnum() {
	printf '%d:%d' "0x$(stat -L -c %t "$1")" "0x$(stat -L -c %T "$1")"
}

image_of() {
	local d img
	d=$(devnum "$2")
	img=$("$NLCTL" get "$1" | awk -v d="dev=$d" '$1 == "volume" && $3 == d {
		for (i = 4; i <= NF; i++) if (index($i, "image=") == 1) print substr($i, 7) }')
	[ -n "$img" ] && [ "$img" != - ] || fail "set $1 has no image of $2 ($d)"
	wait_for 10 test -b "$img" || fail "image $img of $2 did not appear"
	echo "$img"
}

EV_PIDS=()
events_start() {
	"$NLCTL" events > "$1" 2>&1 &
	EV_PIDS+=($!)
	on_exit "kill $! 2>/dev/null || true"
	wait_for 10 grep -q '^listening' "$1" || fail "nlctl events did not subscribe: $(cat "$1")"
}

expect_rc() {
	local want=$1 rc=0
	shift
	"$@" > "$T/expect_rc.out" 2>&1 || rc=$?
	[ "$rc" = "$want" ] || fail "$*: exit $rc, expected $want: $(cat "$T/expect_rc.out")"
}

read_fails() {
	local out
	if out=$(dd if="$1" of=/dev/null bs=64k iflag=direct 2>&1); then
		fail "reading $1 succeeded, expected EIO"
	fi
	grep -q "Input/output error" <<< "$out" || fail "reading $1 failed, but not with EIO: $out"
}

on_exit "rm -rf $T"
