#!/bin/bash
# cowsnapd cannot load the module: it exits 1 at once with an error naming
# what is missing and what to do, and leaves no socket behind.
# tier: once
# cost: 14
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.bash"

module_loaded && fail "module loaded before the test"

run_rc out err rc timeout 20 "$COWSNAPD" -f --module /nonexistent/cowsnap.ko
check_eq "$rc" 1 "exit status with a missing module file"
echo "$err" | grep -qF "cannot load kernel module cowsnap from /nonexistent/cowsnap.ko: No such file or directory" ||
	fail "missing file not named: $err"
echo "$err" | grep -qF -- "--module FILE" || fail "does not say what to do: $err"
[ ! -e "$SOCK" ] || fail "socket left behind"
module_loaded && fail "module loaded anyway"

# a file that is not a module
bogus=$(mktemp /tmp/bogus.XXXXXX.ko)
echo "not an ELF file" > "$bogus"
run_rc out err rc timeout 20 "$COWSNAPD" -f --module "$bogus"
check_eq "$rc" 1 "exit status with a bogus module file"
echo "$err" | grep -qF "cannot load kernel module cowsnap from $bogus:" || fail "bogus file: $err"

# without --module: modprobe from /lib/modules, where it is not installed
if modinfo cowsnap >/dev/null 2>&1; then
	note "cowsnap is installed in /lib/modules/$(uname -r): modprobe case not checked"
else
	run_rc out err rc timeout 20 "$COWSNAPD" -f
	check_eq "$rc" 1 "exit status without --module"
	echo "$err" | grep -qF "cannot load kernel module cowsnap: not found in /lib/modules; install it (make install / dkms) or pass --module FILE" ||
		fail "modprobe failure: $err"
fi
[ ! -e "$SOCK" ] || fail "socket left behind"
