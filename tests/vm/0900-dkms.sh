#!/bin/bash
# DKMS: the module's sources install into /usr/src (make dkms-src), dkms
# registers them and installs a module for the running kernel into
# updates/dkms, and that module loads and answers with the tree's version.
# (The guest's root is a throw-away overlay.)  The compile runs on the host
# (tests/install/run builds with dkms in a private tree and packs the result
# with `dkms mktarball'); here `dkms ldtarball' loads that build.  Without a
# current archive the guest compiles itself, which takes minutes under
# emulation: then only on the 6.12 guest unless COWSNAP_DKMS_ALL=1.
# `dkms install --no-depmod' and insmod of the installed file: depmod -a
# decompresses all 4,000 modules of the 6.12 kernel, four minutes under
# emulation, for the modprobe path that depmod (not cowsnap) provides.
# timeout: 900
# tier: once 6.12 6.1
# cost: 60
. "$(dirname "$0")/lib.sh"

command -v dkms > /dev/null || fail "dkms is not installed (make deps)"
ver=$(cat "$TOP/VERSION")
archive=$TOP/build/dkms/cowsnap-$ver-$KVER.tar.gz
# An archive older than a source of the module is stale: not used.
if [ -f "$archive" ] && [ -z "$(find "$TOP/module" "$TOP/uapi" "$TOP/Kbuild" "$TOP/dkms.conf" "$TOP/Makefile" \
		-newer "$archive" -type f 2>/dev/null)" ]; then
	prebuilt=1
	note "installing the host's dkms build ($archive)"
else
	prebuilt=0
	case "$KVER" in
	6.12.*) ;;
	*) [ "${COWSNAP_DKMS_ALL:-0}" = 1 ] ||
		skip "no current build/dkms archive for $KVER (tests/install/run makes it); a dkms build in the guest runs on the 6.12 guest only (COWSNAP_DKMS_ALL=1 for all)" ;;
	esac
	note "no current $archive: dkms builds in the guest"
fi
# A writable copy: dkms and make write next to the sources.
work=$(mktemp -d)
on_exit "rm -rf '$work'"
cp -a "$TOP/Makefile" "$TOP/Kbuild" "$TOP/VERSION" "$TOP/dkms.conf" "$TOP/module" "$TOP/uapi" "$work/"
make -s -C "$work" dkms-src DESTDIR= > "$work/log" 2>&1 || { cat "$work/log"; fail "make dkms-src"; }
[ -f "/usr/src/cowsnap-$ver/dkms.conf" ] || fail "no /usr/src/cowsnap-$ver/dkms.conf"
grep -q "PACKAGE_VERSION=\"$ver\"" "/usr/src/cowsnap-$ver/dkms.conf" || fail "dkms.conf version not filled in"

on_exit "dkms remove --no-depmod 'cowsnap/$ver' --all > /dev/null 2>&1"
if [ "$prebuilt" = 1 ]; then
	# registers the sources in /usr/src and loads the build beside them
	dkms ldtarball "$archive" > "$work/log" 2>&1 || { cat "$work/log"; fail "dkms ldtarball $archive"; }
	dkms status cowsnap | grep -q "cowsnap/$ver, $KVER, x86_64: built" ||
		fail "after ldtarball, dkms status: $(dkms status cowsnap)"
else
	dkms add "cowsnap/$ver" > "$work/log" 2>&1 || { cat "$work/log"; fail "dkms add"; }
fi
if ! dkms install --no-depmod "cowsnap/$ver" -k "$KVER" > "$work/log" 2>&1; then
	cat "$work/log"
	cat "/var/lib/dkms/cowsnap/$ver/build/make.log" 2>/dev/null
	fail "dkms install for $KVER"
fi
if [ "$prebuilt" = 1 ] && grep -q "^Building module" "$work/log"; then
	fail "dkms install compiled again instead of installing the loaded build: $(cat "$work/log")"
fi
dkms status cowsnap | grep -q "cowsnap/$ver, $KVER, x86_64: installed" ||
	fail "dkms status: $(dkms status cowsnap)"

ko=$(ls "/lib/modules/$KVER/updates/dkms/"cowsnap.ko* 2>/dev/null | head -n 1)
[ -n "$ko" ] || fail "dkms install put no cowsnap.ko* in /lib/modules/$KVER/updates/dkms"
check_eq "$(modinfo -F vermagic "$ko" | cut -d' ' -f1)" "$KVER" "vermagic of the installed module"
insmod "$ko" || fail "insmod $ko"
check_eq "$(cat /sys/module/cowsnap/version)" "$ver" "loaded module version"
out=$("$NLCTL" version) || fail "the dkms-built module does not answer"
check_eq "$out" "$ver 1" "GET_VERSION of the dkms-built module"
rmmod cowsnap || fail "rmmod"
