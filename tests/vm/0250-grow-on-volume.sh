#!/bin/bash
# Growth on the snapshotted volume (issue 12): an ext4 (then xfs) volume
# holding its own set's storage directory, a first storage file far
# smaller than what is then written.  Right after the take cowsnapd reads
# what was free in the image's filesystem (GETFSMAP on a detached
# read-only mount) and the module reads it as zeros in the image; growth
# files on the volume are given only where they lie in that free space.
# Under a load that deletes and recreates files (so the filesystem reuses
# blocks freed since the take, which the image still uses: the case that
# broke before) and rewrites a big file in place (writes into what was
# free at the take need no copy: only blocks in use at the take use
# storage), the set grows on the volume and stays valid.  Then
# cowsnapd restarts: it finds the free map again in the module's zero table
# (SET_GET_ZERO, never by reading the image anew), sees that the set fell
# below its low-water mark while it was away (that STORAGE_LOW is sent
# once) and grows it at once, and the set grows there once more, between two full reads of the image with heavy origin writes,
# which are identical.  The image's files are as at the take (checksums),
# it is fsck-clean, a file deleted just before the take reads as zeros in
# it (free at the take), the origin keeps every write.  Then the
# filesystem fills up and the big file is rewritten: the set turns
# invalid, its storage files go with it, and the origin is writable and
# fsck-clean.  The module's
# low_water_percent is 50, so that STORAGE_LOW (and growth) comes early,
# with room to spare while cowsnapd grows the set.
# tier: once 6.12 7.x
# cost: 200
# timeout: 600
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.bash"

printf 'set-size 4M\ngrow-size 8M\nmax-percent 50\n' > "$CONF/storage.conf"
load_module low_water_percent=50
start_daemon --config-dir "$CONF"
on_exit delete_all_sets

stores() {	# DIR ID: the set's storage files
	ls "$1" | grep -c "^cowsnap-$2-[0-9]*\.store$"
}

# rewrite FILE SLOT KIB: KIB KiB of FILE at SLOT * KIB KiB rewritten in
# place (its blocks were in use at the take: copied first)
rewrite() {
	dd if=/dev/urandom of="$1" bs="$3K" seek="$2" count=1 conv=notrunc,fsync status=none
}

# recreate DIR ROUND [STORE_DIR ID FILES]: the files of DIR deleted and
# written anew (other sizes each round), one at a time with fsync, and a
# quarter MiB of DIR/fbig's first 8 MiB rewritten in place each time, with
# a short pause (cowsnapd grows the set meanwhile); with STORE_DIR, only
# until set ID has FILES storage files there
recreate() {
	local i
	for ((i = 1; i <= 12; i++)); do
		rm -f "$1/f$i"
		head -c $(( ((i + $2 * 7) % 24 + 1) * 12 * 1024 )) /dev/urandom > "$1/f$i.new"
		mv "$1/f$i.new" "$1/f$i"
		sync "$1/f$i"
		rewrite "$1/fbig" $(((i + $2 * 12) % 32)) 256
		[ -z "${3:-}" ] || [ "$(stores "$3" "$4")" -lt "$5" ] || break
		sleep 0.05
	done
	sync
}

on_volume() {	# FSTYPE
	local fs=$1 dev m img id out err rc a b f n st len r i s
	make_loop dev $([ "$fs" = xfs ] && echo 320 || echo 128)
	case $fs in
	ext4) mkfs_ext4 -E lazy_itable_init=0,lazy_journal_init=0 "$dev" ;;
	xfs) mkfs.xfs -q "$dev" ;;
	esac
	m=$(mktemp -d /tmp/cs0250.XXXXXX)
	mount "$dev" "$m"
	on_exit "umount $m 2>/dev/null"
	s=$m/.cowsnap-storage
	mkdir -m 700 "$s"
	run_rc out err rc "$SNAPCTL" storage add "$s"
	check_eq "$rc" 0 "$fs: storage add on the volume (stderr: $err)"
	mkdir "$m/data"
	head -c 48M /dev/urandom > "$m/data/fbig"
	recreate "$m/data" 0
	(cd "$m/data" && sha256sum f*) > /tmp/cs0250-take

	# a file deleted before the take: its blocks are free at the take and
	# still hold its bytes on the disk
	head -c 16M < <(yes cowsnap-0250) > "$m/gone"
	sync
	filefrag -v -b512 "$m/gone" | awk -F: '$1 ~ /^ *[0-9]+$/ {
		split($3, p, /\.\./); n = p[2] - p[1] + 1; if (n >= 4096) print p[1] + 0, n }' \
		> /tmp/cs0250-gone
	[ -s /tmp/cs0250-gone ] || fail "$fs: no large extent: $(filefrag -v -b512 "$m/gone")"
	rm "$m/gone"
	sync

	note "$fs: ready for the take at ${SECONDS}s"
	# persistent: it outlives the restart of cowsnapd below
	run_rc out err rc "$SNAPCTL" create --persistent "$m"
	check_eq "$rc" 0 "$fs: create with storage on the volume itself (stderr: $err)"
	id=$(echo "$out" | sed -n 1p)
	img=$(echo "$out" | sed -n 2p | awk '{ print $2 }')
	[ -b "$img" ] || fail "$fs: no image in: $out"
	grep -q "set $id: [0-9]* MiB of .* free at the take" "$DAEMON_LOG" ||
		{ show_log; fail "$fs: no free map for set $id"; }
	check_eq "$(stores "$s" "$id")" 1 "$fs: storage files after the take"

	# the deleted file's blocks read as zeros in the image
	while read -r st len; do
		n=$(dd if="$img" bs=512 skip="$st" count="$len" status=none | tr -d '\000' | wc -c)
		check_eq "$n" 0 "$fs: image bytes in a range free at the take ($st+$len)"
	done < /tmp/cs0250-gone

	# the load: files deleted and recreated, blocks freed since the take
	# reused, until the set grew once (at most 6 rounds)
	for ((r = 1; r <= 6; r++)); do
		recreate "$m/data" "$r" "$s" "$id" 2
		[ "$(stores "$s" "$id")" -ge 2 ] && break
	done
	"$SNAPCTL" show "$id" | grep -q "^  state:    taken$" ||
		{ show_log; fail "$fs: set $id: $("$SNAPCTL" show "$id")"; }
	n=$(stores "$s" "$id")
	[ "$n" -ge 2 ] || { show_log; fail "$fs: the set did not grow on its volume ($n file(s))"; }
	grep -q "set $id ran low on storage: 8 MiB added" "$DAEMON_LOG" ||
		{ show_log; fail "$fs: no growth logged"; }

	note "$fs: grew at ${SECONDS}s"
	# cowsnapd stops; meanwhile the set crosses its low-water mark (the
	# module's one STORAGE_LOW for it goes unheard); cowsnapd starts again:
	# the free map at the take comes back from the module, and the set grows
	# at once
	stop_daemon
	for ((i = 0; i < 40; i++)); do
		used=$(set_field "$id" storage_used) total=$(set_field "$id" storage_sectors)
		[ $(((total - used) * 100)) -lt $((total * 50)) ] && break
		rewrite "$m/data/fbig" $((16 + i)) 256
	done
	[ "$i" -lt 40 ] || fail "$fs: the set did not cross its low-water mark ($used of $total)"
	start_daemon --config-dir "$CONF"
	grep -q "set $id: [0-9]* MiB of .* free at the take (.*) found again in the module's zero table" \
		"$DAEMON_LOG" || { show_log; fail "$fs: no free map for set $id after the restart"; }
	grep -q "set $id: .* below the low-water mark: growing it now" "$DAEMON_LOG" ||
		{ show_log; fail "$fs: set $id, low on storage while cowsnapd was away, did not grow at start"; }
	f=$(stores "$s" "$id")
	[ "$f" -gt "$n" ] || { show_log; fail "$fs: no growth at start ($n, then $f files)"; }
	n=$f

	# heavy origin writes and growth (by the restarted cowsnapd) between two
	# full reads of the image: files recreated, and 4 MiB more of fbig
	# rewritten in place each round past its first 14 MiB (at most 6 rounds)
	a=$(sha256sum < "$img")
	for ((r = 11; r <= 16; r++)); do
		recreate "$m/data" "$r" "$s" "$id" $((n + 1))
		for ((i = 0; i < 8 && $(stores "$s" "$id") <= n; i++)); do
			rewrite "$m/data/fbig" $((28 + ((r - 11) * 8 + i) % 36)) 512
			sleep 0.05
		done
		[ "$(stores "$s" "$id")" -gt "$n" ] && break
	done
	sync
	(cd "$m/data" && sha256sum f*) > /tmp/cs0250-after
	b=$(sha256sum < "$img")
	check_eq "$b" "$a" "$fs: two full reads of the image"
	"$SNAPCTL" show "$id" | grep -q "^  state:    taken$" ||
		{ show_log; fail "$fs: set $id: $("$SNAPCTL" show "$id")"; }
	f=$(stores "$s" "$id")
	[ "$f" -gt "$n" ] ||
		{ show_log; fail "$fs: no growth after cowsnapd restarted ($n, then $f files)"; }
	# what the module was given: the first file and the growths
	given=$("$SNAPCTL" --json show "$id" | tr -d ' \n' | grep -o '"storage_sectors":[0-9]*' |
		cut -d: -f2)
	[ "$given" -gt $((4 * 2048 + 8 * 2048)) ] || fail "$fs: the module has $given sectors of storage"

	note "$fs: grew again at ${SECONDS}s"
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

	note "$fs: image checked at ${SECONDS}s"
	# the filesystem fills up (free space at the take: no copies), then the
	# whole of fbig is rewritten in place, more than the set's storage left
	# can take: the set runs out of storage and turns invalid
	dd if=/dev/zero of="$m/fill" bs=1M conv=fsync status=none 2>/dev/null || true
	sync
	dd if=/dev/urandom of="$m/data/fbig" bs=1M count=48 conv=notrunc,fsync status=none ||
		fail "$fs: rewriting fbig on the full filesystem failed"
	sync
	for ((n = 0; n < 60; n++)); do
		"$SNAPCTL" show "$id" | grep -q "^  state:    invalid" && break
		sleep 1
	done
	"$SNAPCTL" show "$id" | grep -q "^  state:    invalid" ||
		{ show_log; fail "$fs: a full filesystem left the set valid: $("$SNAPCTL" show "$id")"; }
	"$SNAPCTL" delete "$id" > /dev/null
	check_eq "$(stores "$s" "$id")" 0 "$fs: storage files after delete"
	rm "$m/fill"
	head -c 4M /dev/urandom > "$m/after-release" || fail "$fs: the origin is not writable"
	sync
	"$SNAPCTL" storage remove "$s" > /dev/null
	umount "$m"
	note "$fs: invalid, deleted at ${SECONDS}s"
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
