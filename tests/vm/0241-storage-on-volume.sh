#!/bin/bash
# Difference storage on the snapshotted volume itself (issue 12): a single
# ext4 volume, then a single xfs volume, each holding its own set's storage
# files in a directory on it, under a file-writing load during and after the
# take.  The image's files are as at the take (checksums), two full reads
# of the image are identical with heavy origin writes between them, the
# image is fsck-clean, the origin's files are what was written (checksums),
# the storage files go with the set, and the origin stays fsck-clean.  A
# second set of that volume is refused while the first holds its storage
# there.  (Growth on the volume after the take is refused by the module:
# 0243.)
# tier: once
# cost: 110
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.bash"

printf 'set-size 24M\nmax-percent 50\n' > "$CONF/storage.conf"
for k in 0 1 2 3; do
	head -c 262144 /dev/urandom > /tmp/cs0241-pat$k
done
pat_sums=$(sha256sum /tmp/cs0241-pat? | awk '{ print $1 }')
load_module
start_daemon --config-dir "$CONF"
on_exit delete_all_sets

# load DIR: rewrites DIR/l0..l15 in place with one of four known patterns
# each, and syncs, until /tmp/cs0241.stop exists
load() {
	local i=0
	while [ ! -e /tmp/cs0241.stop ]; do
		dd if=/tmp/cs0241-pat$((i % 4)) of="$1/l$((i % 16))" bs=64K conv=notrunc,fsync \
			status=none
		i=$((i + 1))
	done
}

# rewrite DIR: every data file gets new bytes (sizes kept)
rewrite() {
	local i
	for ((i = 1; i <= 24; i++)); do
		head -c $((i * 16 * 1024)) /dev/urandom > "$1/f$i"
	done
	sync
}

on_volume() {	# FSTYPE
	local fs=$1 dev m img id out err rc lpid a b f
	# mkfs.xfs wants 300 MiB at least
	make_loop dev $([ "$fs" = xfs ] && echo 320 || echo 96)
	case $fs in
	ext4) mkfs_ext4 -E lazy_itable_init=0,lazy_journal_init=0 "$dev" ;;
	xfs) mkfs.xfs -q "$dev" ;;
	esac
	m=$(mktemp -d /tmp/cs0241.XXXXXX)
	mount "$dev" "$m"
	on_exit "umount $m 2>/dev/null"
	mkdir -m 700 "$m/.cowsnap-storage"
	run_rc out err rc "$SNAPCTL" storage add "$m/.cowsnap-storage"
	check_eq "$rc" 0 "$fs: storage add on the volume (stderr: $err)"
	mkdir "$m/data" "$m/load"
	rewrite "$m/data"
	(cd "$m/data" && sha256sum f*) > /tmp/cs0241-take

	rm -f /tmp/cs0241.stop
	load "$m/load" &
	lpid=$!
	on_exit "touch /tmp/cs0241.stop; wait $lpid 2>/dev/null || true"
	sleep 1
	run_rc out err rc "$SNAPCTL" create "$m"
	check_eq "$rc" 0 "$fs: create with storage on the volume itself (stderr: $err)"
	id=$(echo "$out" | sed -n 1p)
	img=$(echo "$out" | sed -n 2p | awk '{ print $2 }')
	[ -b "$img" ] || fail "$fs: no image in: $out"
	f="$m/.cowsnap-storage/cowsnap-$id-0.store"
	[ -f "$f" ] || fail "$fs: no storage file on the volume: $(ls -la "$m/.cowsnap-storage")"
	lsattr "$f" | grep -q '^----i' || fail "$fs: not immutable: $(lsattr "$f")"

	# a second set of this volume: refused, its storage would lie under the first's
	run_rc out err rc "$SNAPCTL" create --no-writers "$m"
	check_ne "$rc" 0 "$fs: a second set of a volume holding the first's storage"
	echo "$err" | grep -qF "another set's difference storage" ||
		fail "$fs: second set: $err"

	# heavy origin writes between two full reads of the image
	rewrite "$m/data"
	a=$(sha256sum < "$img")
	rewrite "$m/data"
	(cd "$m/data" && sha256sum f*) > /tmp/cs0241-after
	b=$(sha256sum < "$img")
	check_eq "$b" "$a" "$fs: two full reads of the image"
	touch /tmp/cs0241.stop
	wait "$lpid"
	"$SNAPCTL" show "$id" | grep -q "^  state:    taken$" ||
		{ show_log; fail "$fs: set $id: $("$SNAPCTL" show "$id")"; }
	check_eq "$(ls "$m/.cowsnap-storage")" "cowsnap-$id-0.store" "$fs: storage files (no growth)"

	# the image: fsck-clean, the files as at the take
	mkdir -p /tmp/cs0241-img
	case $fs in
	ext4)
		out=$(e2fsck -fn "$img" 2>&1) || fail "$fs: e2fsck of the image: $out"
		mount -o ro,noload "$img" /tmp/cs0241-img ;;
	xfs)
		# a frozen xfs leaves its lazy counters to the log: checked on a
		# copy whose log a mount replayed
		cat "$img" > /tmp/cs0241-xfs.img
		mount -o nouuid /tmp/cs0241-xfs.img /tmp/cs0241-img
		umount /tmp/cs0241-img
		out=$(xfs_repair -n /tmp/cs0241-xfs.img 2>&1) ||
			fail "$fs: xfs_repair of the image: $out"
		rm /tmp/cs0241-xfs.img
		mount -o ro,nouuid,norecovery "$img" /tmp/cs0241-img ;;
	esac
	out=$(cd /tmp/cs0241-img/data && sha256sum -c --quiet /tmp/cs0241-take 2>&1) ||
		{ umount /tmp/cs0241-img; fail "$fs: files in the image not as at the take: $out"; }
	umount /tmp/cs0241-img

	# the origin: what was written, read from the disk
	echo 3 > /proc/sys/vm/drop_caches
	out=$(cd "$m/data" && sha256sum -c --quiet /tmp/cs0241-after 2>&1) ||
		fail "$fs: origin files lost writes: $out"
	for f in "$m"/load/l*; do
		echo "$pat_sums" | grep -qx "$(sha256sum < "$f" | awk '{ print $1 }')" ||
			fail "$fs: $f is none of the load's patterns"
	done

	"$SNAPCTL" delete "$id" > /dev/null
	check_eq "$(ls "$m/.cowsnap-storage")" "" "$fs: storage files after delete"
	"$SNAPCTL" storage remove "$m/.cowsnap-storage" > /dev/null
	umount "$m"
	case $fs in
	ext4) out=$(e2fsck -fn "$dev" 2>&1) || fail "$fs: the origin is not clean: $out" ;;
	xfs) out=$(xfs_repair -n "$dev" 2>&1) || fail "$fs: the origin is not clean: $out" ;;
	esac
}

on_volume ext4
if command -v mkfs.xfs > /dev/null && modprobe xfs 2>/dev/null; then
	on_volume xfs
else
	note "no xfs here: only ext4 checked"
fi
