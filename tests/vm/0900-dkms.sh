#!/bin/bash
# DKMS: the module's sources install into /usr/src, dkms builds and installs
# them for the running kernel, and modprobe loads the result, whose version
# matches the tree.  (The guest's root is a throw-away overlay.)
# timeout: 900
. "$(dirname "$0")/lib.sh"

command -v dkms > /dev/null || fail "dkms is not installed (make deps)"
# Compiling under software emulation takes minutes: by default this runs on
# the 6.12 guest only (COWSNAP_DKMS_ALL=1 runs it on every kernel).
case "$KVER" in
6.12.*) ;;
*) [ "${COWSNAP_DKMS_ALL:-0}" = 1 ] || skip "dkms build runs on the 6.12 guest (COWSNAP_DKMS_ALL=1 for all)" ;;
esac
ver=$(cat "$TOP/VERSION")
# A writable copy: dkms and make write next to the sources.
work=$(mktemp -d)
on_exit "rm -rf '$work'"
cp -a "$TOP/Makefile" "$TOP/Kbuild" "$TOP/VERSION" "$TOP/dkms.conf" "$TOP/module" "$TOP/uapi" "$work/"
make -s -C "$work" dkms-src DESTDIR= > "$work/log" 2>&1 || { cat "$work/log"; fail "make dkms-src"; }
[ -f "/usr/src/cowsnap-$ver/dkms.conf" ] || fail "no /usr/src/cowsnap-$ver/dkms.conf"
grep -q "PACKAGE_VERSION=\"$ver\"" "/usr/src/cowsnap-$ver/dkms.conf" || fail "dkms.conf version not filled in"

dkms add "cowsnap/$ver" > "$work/log" 2>&1 || { cat "$work/log"; fail "dkms add"; }
on_exit "dkms remove 'cowsnap/$ver' --all > /dev/null 2>&1"
if ! dkms install "cowsnap/$ver" -k "$KVER" > "$work/log" 2>&1; then
	cat "$work/log"
	cat "/var/lib/dkms/cowsnap/$ver/build/make.log" 2>/dev/null
	fail "dkms install for $KVER"
fi
dkms status cowsnap | grep -q "cowsnap/$ver, $KVER, x86_64: installed" ||
	fail "dkms status: $(dkms status cowsnap)"

modprobe cowsnap || fail "modprobe cowsnap after dkms install"
check_eq "$(cat /sys/module/cowsnap/version)" "$ver" "loaded module version"
modinfo -n cowsnap | grep -q "/updates/dkms/" || fail "modprobe did not pick the dkms module: $(modinfo -n cowsnap)"
out=$("$NLCTL" version) || fail "the dkms-built module does not answer"
check_eq "$out" "$ver 1" "GET_VERSION of the dkms-built module"
rmmod cowsnap || fail "rmmod"
