# tests/vm/lib.sh: sourced by every guest test.  A test is a bash script run
# as root inside the guest (scripts/vm); exit 0 = pass, 77 = skip, anything
# else = fail.  tests/vm/run checks the kernel log and unloads the module
# after each test.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
KVER=$(uname -r)
# COWSNAP_BUILD: another build tree (an older module, to see a test fail)
KO=${COWSNAP_BUILD:-$TOP/build}/$KVER/cowsnap.ko
NLCTL=$TOP/tests/tools/nlctl
export TOP KVER KO NLCTL

[ "${COWSNAP_IN_GUEST:-}" = 1 ] || { echo "lib.sh: guest tests run inside scripts/vm" >&2; exit 2; }
[ -f "$KO" ] || { echo "lib.sh: $KO missing: run 'make' first" >&2; exit 2; }

fail() {
	echo "FAIL: $*"
	exit 1
}

skip() {
	echo "SKIP: $*"
	exit 77
}

# nlctl_field KIND SET KEY: KEY=value of the first line of "nlctl get SET"
# that starts with KIND; set_field and vol_field for the set and volume lines.
nlctl_field() {
	"$NLCTL" get "$2" | awk -v t="$1" -v k="$3" '$1 == t {
		for (i = 3; i <= NF; i++) if (index($i, k "=") == 1) { print substr($i, length(k) + 2); exit } }'
}
set_field() { nlctl_field set "$1" "$2"; }
vol_field() { nlctl_field volume "$1" "$2"; }

note() {
	echo "# $*"
}

# check_eq ACTUAL EXPECTED WHAT
check_eq() {
	[ "$1" = "$2" ] || fail "$3: got \`$1', expected \`$2'"
}

# check_ne ACTUAL UNWANTED WHAT
check_ne() {
	[ "$1" != "$2" ] || fail "$3: got \`$1'"
}

# Cleanups run in reverse order of registration when the test exits.
_on_exit=()
on_exit() {
	_on_exit=("$*" "${_on_exit[@]}")
}
_run_on_exit() {
	local rc=$? c
	set +e
	for c in "${_on_exit[@]}"; do
		eval "$c"
	done
	exit $rc
}
trap _run_on_exit EXIT

module_loaded() {
	[ -d /sys/module/cowsnap ]
}

load_module() {
	module_loaded || insmod "$KO" "$@" || fail "insmod $KO failed"
}

unload_module() {
	local i
	module_loaded || return 0
	for i in 1 2 3 4 5 6 7 8 9 10; do
		rmmod cowsnap 2>/dev/null && return 0
		sleep 0.5
	done
	rmmod cowsnap || fail "rmmod cowsnap failed"
}

# expect_fail CMD...: CMD must exit non-zero.
expect_fail() {
	if "$@"; then
		fail "expected failure: $*"
	fi
}

# wait_for SECONDS CMD...: poll CMD until it succeeds.
wait_for() {
	local t=$1 i
	shift
	for ((i = 0; i < t * 10; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

# dm_delay NAME DEV READ_MS WRITE_MS: a dm-delay device over the whole of DEV
# (reads and writes delayed by those many ms), its path in $DM_DEV; removed
# when the test exits.
dm_delay() {
	local sectors
	modprobe dm-delay || fail "no dm-delay module"
	sectors=$(blockdev --getsz "$2") || fail "no size of $2"
	dmsetup create "$1" --table "0 $sectors delay $2 0 $3 $2 0 $4" || fail "dmsetup create $1"
	on_exit "dmsetup remove $1 2>/dev/null"
	dmsetup mknodes "$1"
	DM_DEV=/dev/mapper/$1
	wait_for 5 test -b "$DM_DEV" || fail "no $DM_DEV"
}
