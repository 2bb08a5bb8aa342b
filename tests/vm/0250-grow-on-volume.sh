#!/bin/bash
# Growth on the snapshotted volume (issue 12): an ext4 volume holding its
# own set's storage directory, a first storage file far smaller than what
# is then written.  Right after the take cowsnapd reads what was free in
# the image's filesystem (GETFSMAP on a detached read-only mount) and the
# module reads it as zeros in the image; growth files on the volume are
# given only where they lie in that free space.  Under a load that deletes
# and recreates files (so the filesystem reuses blocks freed since the
# take, which the image still uses: the case that broke before), the set
# grows several times on the volume and stays valid; the image's files are
# as at the take (checksums), it is fsck-clean, two full reads of it are
# identical with heavy origin writes and growth between them, a file
# deleted just before the take reads as zeros in it (free at the take),
# the origin keeps every write.  Then the filesystem fills up: the set
# turns invalid, its storage files go with it, and the origin is writable
# and fsck-clean.
# tier: once 6.12 7.x
# cost: 420
# timeout: 900
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.bash"

printf 'set-size 4M\ngrow-size 8M\nmax-percent 50\n' > "$CONF/storage.conf"
load_module
start_daemon --config-dir "$CONF"
on_exit delete_all_sets

# recreate DIR ROUND: every file of DIR deleted and written anew (other
# sizes each round), one at a time with fsync and a pause, so that the
# daemon can grow the set between them
recreate() {
	local i
	for ((i = 1; i <= 24; i++)); do
		rm -f "$1/f$i"
		head -c $(( ((i + $2 * 7) % 24 + 1) * 12 * 1024 )) /dev/urandom > "$1/f$i.new"
		mv "$1/f$i.new" "$1/f$i"
		sync "$1/f$i"
		sleep 0.2
	done
	sync
}

stores() {	# DIR ID: the set's storage files
	ls "$1" | grep -c "^cowsnap-$2-[0-9]*\.store$"
}

on_volume() {	# FSTYPE
	local fs=$1 dev m img id out err rc a b f n gone_ext st len r i
	make_loop dev $([ "$fs" = xfs ] && echo 320 || echo 128)
	case $fs in
	ext4) mkfs_ext4 -E lazy_itable_init=0,lazy_journal_init=0 "$dev" ;;
	xfs) mkfs.xfs -q "$dev" ;;
	esac
	m=$(mktemp -d /tmp/cs0250.XXXXXX)
	mount "$dev" "$m"
	on_exit "umount $m 2>/dev/null"
	mkdir -m 700 "$m/.cowsnap-storage"
	run_rc out err rc "$SNAPCTL" storage add "$m/.cowsnap-storage"
	check_eq "$rc" 0 "$fs: storage add on the volume (stderr: $err)"
	mkdir "$m/data"
	recreate "$m/data" 0
	(cd "$m/data" && sha256sum f*) > /tmp/cs0250-take

	# a file deleted before the take: its blocks are free at the take and
	# still hold its bytes on the disk
	head -c 16M /dev/urandom > "$m/gone"
	sync
	filefrag -v -b512 "$m/gone" | awk -F: '$1 ~ /^ *[0-9]+$/ {
		split($3, p, /\.\./); n = p[2] - p[1] + 1; if (n >= 4096) print p[1] + 0, n }' \
		> /tmp/cs0250-gone
	[ -s /tmp/cs0250-gone ] || fail "$fs: no large extent: $(filefrag -v -b512 "$m/gone")"
	rm "$m/gone"
	sync

	run_rc out err rc "$SNAPCTL" create "$m"
	check_eq "$rc" 0 "$fs: create with storage on the volume itself (stderr: $err)"
	id=$(echo "$out" | sed -n 1p)
	img=$(echo "$out" | sed -n 2p | awk '{ print $2 }')
	[ -b "$img" ] || fail "$fs: no image in: $out"
	grep -q "set $id: [0-9]* MiB of .* free at the take" "$DAEMON_LOG" ||
		{ show_log; fail "$fs: no free map for set $id"; }
	check_eq "$(stores "$m/.cowsnap-storage" "$id")" 1 "$fs: storage files after the take"

	# the deleted file's blocks read as zeros in the image
	while read -r st len; do
		n=$(dd if="$img" bs=512 skip="$st" count="$len" status=none | tr -d '\000' | wc -c)
		check_eq "$n" 0 "$fs: image bytes in a range free at the take ($st+$len)"
	done < /tmp/cs0250-gone

	# the load: files deleted and recreated, blocks freed since the take reused
	# (until the set grew once at least: at most 8 rounds)
	for ((r = 1; r <= 8; r++)); do
		recreate "$m/data" "$r"
		[ "$r" -ge 3 ] && [ "$(stores "$m/.cowsnap-storage" "$id")" -ge 2 ] && break
	done
	"$SNAPCTL" show "$id" | grep -q "^  state:    taken$" ||
		{ show_log; fail "$fs: set $id: $("$SNAPCTL" show "$id")"; }
	n=$(stores "$m/.cowsnap-storage" "$id")
	[ "$n" -ge 2 ] || { show_log; fail "$fs: the set did not grow on its volume ($n file(s))"; }

	# heavy origin writes and growth between two full reads of the image
	a=$(sha256sum < "$img")
	# (until it grew again: at most 8 rounds; each with 4 MiB more in
	# places not written since the take, where xfs's reuse of its own
	# freed blocks copies nothing new)
	for ((r = 11; r <= 18; r++)); do
		recreate "$m/data" "$r"
		for ((i = 0; i < 16; i++)); do
			dd if=/dev/urandom of="$m/n$r" bs=256K seek=$i count=1 conv=notrunc,fsync \
				status=none
			sleep 0.1
		done
		[ "$r" -ge 12 ] && [ "$(stores "$m/.cowsnap-storage" "$id")" -gt "$n" ] && break
	done
	(cd "$m/data" && sha256sum f*) > /tmp/cs0250-after
	b=$(sha256sum < "$img")
	check_eq "$b" "$a" "$fs: two full reads of the image"
	"$SNAPCTL" show "$id" | grep -q "^  state:    taken$" ||
		{ show_log; fail "$fs: set $id: $("$SNAPCTL" show "$id")"; }
	f=$(stores "$m/.cowsnap-storage" "$id")
	[ "$f" -gt "$n" ] || { show_log; fail "$fs: no growth between the reads ($n, then $f files)"; }
	[ "$f" -ge 3 ] || { show_log; fail "$fs: fewer than two growths on the volume ($f files)"; }
	grep -q "set $id ran low on storage: 8 MiB added" "$DAEMON_LOG" || { show_log; fail "$fs: no growth logged"; }
	# what the module was given: the first file and the growths
	given=$("$SNAPCTL" --json show "$id" | tr -d ' \n' | grep -o '"storage_sectors":[0-9]*' |
		cut -d: -f2)
	[ "$given" -gt $((4 * 2048 + 4 * 2048)) ] || fail "$fs: the module has $given sectors of storage"

	# the image: fsck-clean, the files as at the take, the free range zeros
	mkdir -p /tmp/cs0250-img
	case $fs in
	ext4)
		out=$(e2fsck -fn "$img" 2>&1) || fail "$fs: e2fsck of the image: $out"
		mount -o ro,noload "$img" /tmp/cs0250-img ;;
	xfs)
		cat "$img" > /tmp/cs0250-xfs.img
		mount -o nouuid /tmp/cs0250-xfs.img /tmp/cs0250-img
		umount /tmp/cs0250-img
		out=$(xfs_repair -n /tmp/cs0250-xfs.img 2>&1) ||
			fail "$fs: xfs_repair of the image: $out"
		rm /tmp/cs0250-xfs.img
		mount -o ro,nouuid,norecovery "$img" /tmp/cs0250-img ;;
	esac
	out=$(cd /tmp/cs0250-img/data && sha256sum -c --quiet /tmp/cs0250-take 2>&1) ||
		{ umount /tmp/cs0250-img; fail "$fs: files in the image not as at the take: $out"; }
	umount /tmp/cs0250-img
	while read -r st len; do
		n=$(dd if="$img" bs=512 skip="$st" count="$len" status=none | tr -d '\000' | wc -c)
		check_eq "$n" 0 "$fs: image bytes in a range free at the take, at the end"
	done < /tmp/cs0250-gone

	# the origin: what was written, read from the disk
	echo 3 > /proc/sys/vm/drop_caches
	out=$(cd "$m/data" && sha256sum -c --quiet /tmp/cs0250-after 2>&1) ||
		fail "$fs: origin files lost writes: $out"

	# the filesystem fills up: the set runs out of storage and turns invalid
	dd if=/dev/urandom of="$m/fill" bs=1M conv=fsync status=none 2>/dev/null || true
	sync
	for ((n = 0; n < 60; n++)); do
		"$SNAPCTL" show "$id" | grep -q "^  state:    invalid" && break
		sleep 1
	done
	"$SNAPCTL" show "$id" | grep -q "^  state:    invalid" ||
		{ show_log; fail "$fs: a full filesystem left the set valid: $("$SNAPCTL" show "$id")"; }
	"$SNAPCTL" delete "$id" > /dev/null
	check_eq "$(stores "$m/.cowsnap-storage" "$id")" 0 "$fs: storage files after delete"
	rm "$m/fill"
	head -c 4M /dev/urandom > "$m/after-release" || fail "$fs: the origin is not writable"
	sync
	"$SNAPCTL" storage remove "$m/.cowsnap-storage" > /dev/null
	umount "$m"
	case $fs in
	ext4) out=$(e2fsck -fn "$dev" 2>&1) || fail "$fs: the origin is not clean: $out" ;;
	xfs) out=$(xfs_repair -n "$dev" 2>&1) || fail "$fs: the origin is not clean: $out" ;;
	esac
}

on_volume ext4
if [ -n "${CS0250_XFS:-1}" ] && command -v mkfs.xfs > /dev/null && modprobe xfs 2>/dev/null; then
	on_volume xfs
else
	note "no xfs here: only ext4 checked"
fi
