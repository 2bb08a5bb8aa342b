#!/bin/bash
# The installed tree at work: `make install' into the guest's (throw-away)
# root, systemd-tmpfiles makes /run/cowsnap, the installed cowsnapd and
# snapctl take a set, and the installed udev rule (run by `udevadm test',
# the guest has no udevd) gives the image root:disk 0660 and the name
# /dev/cowsnap/<set>/<origin>, through which the image reads as the origin
# did at the take.  `make uninstall' removes the programs again.
# timeout: 240
# tier: once
# cost: 80
. "$(dirname "$0")/lib.sh"

command -v udevadm > /dev/null || skip "udevadm is not installed"
P=/usr/local
# the binaries are current (make before guest tests); do not rebuild here
make -s -C "$TOP" -o userspace install > /tmp/install.log 2>&1 || { cat /tmp/install.log; fail "make install"; }
on_exit "make -s -C '$TOP' uninstall > /dev/null 2>&1"
for f in sbin/cowsnapd sbin/snapctl bin/snapread lib/cowsnap/cowsnap-udev-name \
	lib/cowsnap/writers/sqlite; do
	[ -x "$P/$f" ] || fail "$P/$f is not installed"
done
[ -f /etc/cowsnap/writers.d/sqlite.conf.sample ] || fail "no sample writer configuration"
grep -qx "exec $P/lib/cowsnap/writers/sqlite" /etc/cowsnap/writers.d/sqlite.conf.sample ||
	fail "the sample names another writer: $(cat /etc/cowsnap/writers.d/sqlite.conf.sample)"

rm -rf /run/cowsnap
systemd-tmpfiles --create cowsnap.conf || fail "systemd-tmpfiles --create cowsnap.conf"
check_eq "$(stat -c '%a %U:%G' /run/cowsnap)" "755 root:root" "/run/cowsnap from the tmpfiles entry"

modprobe loop 2>/dev/null || true
truncate -s 64M /tmp/inst-st
truncate -s 16M /tmp/inst-vol
st=$(losetup -f --show /tmp/inst-st) || fail "losetup"
on_exit "losetup -d $st"
vol=$(losetup -f --show /tmp/inst-vol) || fail "losetup"
on_exit "losetup -d $vol"
dd if=/dev/urandom of="$vol" bs=1M count=16 oflag=direct status=none
sum_before=$(sha256sum < "$vol")
# storage.conf: install makes none (the sample is beside it); the admin's
# setting, then a device added with snapctl storage add
grep -q "^#device" /etc/cowsnap/storage.conf.sample ||
	fail "the sample storage.conf: $(cat /etc/cowsnap/storage.conf.sample)"
[ ! -e /etc/cowsnap/storage.conf ] || fail "make install made a storage.conf: $(cat /etc/cowsnap/storage.conf)"
echo "set-size 16M" > /etc/cowsnap/storage.conf
on_exit "rm -f /etc/cowsnap/storage.conf"
insmod "$KO" || fail "insmod"
"$P/sbin/cowsnapd" --foreground > /tmp/inst-daemon.log 2>&1 &
daemon=$!
on_exit "kill $daemon; wait $daemon"
wait_for 20 test -S /run/cowsnap/cowsnapd.sock || { cat /tmp/inst-daemon.log; fail "the installed cowsnapd does not serve"; }
"$P/sbin/snapctl" storage add "$st" > /dev/null || fail "snapctl storage add"
grep -qx "device $st" /etc/cowsnap/storage.conf || fail "storage add did not reach /etc/cowsnap/storage.conf"
out=$("$P/sbin/snapctl" create --no-writers "$vol") || fail "snapctl create: $out"
on_exit "'$P/sbin/snapctl' delete --all > /dev/null 2>&1"
id=$(echo "$out" | head -n 1)
img=$(echo "$out" | awk -v v="$vol" '$1 == v { print $2 }')
[[ "$img" =~ ^/dev/cowsnap[0-9]+$ ]] || fail "create printed: $out"
dd if=/dev/urandom of="$vol" bs=1M count=4 oflag=direct conv=notrunc status=none

udevadm test --action=add "/sys/block/${img#/dev/}" > /tmp/inst-udev.log 2>&1 ||
	{ cat /tmp/inst-udev.log; fail "udevadm test"; }
link=/dev/cowsnap/$id/${vol#/dev/}
grep -qx "DEVLINKS=.*$link.*" /tmp/inst-udev.log || { tail -n 30 /tmp/inst-udev.log; fail "udev names no $link"; }
check_eq "$(readlink -f "$link")" "$img" "$link"
check_eq "$(stat -c '%a %U:%G' "$img")" "660 root:disk" "owner and mode of $img"
check_eq "$(sha256sum < "$link")" "$sum_before" "the image read through $link"
check_ne "$(sha256sum < "$vol")" "$sum_before" "the origin after the take"

make -s -C "$TOP" uninstall > /dev/null 2>&1 || fail "make uninstall"
for f in sbin/cowsnapd sbin/snapctl bin/snapread lib/udev/rules.d/60-cowsnap.rules; do
	[ ! -e "$P/$f" ] || fail "$P/$f left after make uninstall"
done
grep -qx "device $st" /etc/cowsnap/storage.conf || fail "uninstall removed the edited storage.conf"
