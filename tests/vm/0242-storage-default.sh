#!/bin/bash
# Difference storage with nothing configured (issue 12): one ext4 volume of
# 128 MiB (the old fixed 256 MiB per set did not fit on it), no
# storage.conf, and cowsnapd's default directory on that volume
# (--default-storage, as /var/lib/cowsnap/storage is on /).  `snapctl
# create MOUNTPOINT' makes the directory (root's, 0700, its parents 0755),
# puts the set's 16 MiB storage file there (10% of the volume, 16 MiB at
# least) and says so; `list storage' shows it as the default.  The image's
# files are as at the take while the origin is rewritten, two reads of the
# image agree, the image is fsck-clean and holds the storage file as an
# immutable file of zeros.  The file goes with its set, and at the next
# start after cowsnapd was killed.  With the default directory unusable
# (on tmpfs) the storage goes to .cowsnap-storage on the volume itself
# (create --json says where); written past its storage, the set turns
# invalid (it cannot grow on its own volume after the take, and there is
# no other filesystem), the origin keeps every write, and stays fsck-clean.
# tier: full
# cost: 45
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.bash"

make_loop dev 128
mkfs_ext4 -E lazy_itable_init=0,lazy_journal_init=0 "$dev"
M=$(mktemp -d /tmp/cs0242.XXXXXX)
mount "$dev" "$M"
on_exit "umount $M 2>/dev/null"
D=$M/var/lib/cowsnap/storage
T=$(mktemp -d /tmp/cs0242t.XXXXXX)
on_exit "umount $T/img 2>/dev/null; rm -rf $T /dev/shm/cs0242"
mkdir "$T/img"
rm -f "$CONF/storage.conf"

# rewrite DIR: 16 files of 128 KiB, new bytes each time
rewrite() {
	local i
	for ((i = 1; i <= 16; i++)); do
		head -c 131072 /dev/urandom > "$1/f$i"
	done
	sync
}
mkdir "$M/data"
rewrite "$M/data"
(cd "$M/data" && sha256sum f*) > "$T/take"

load_module
start_daemon --config-dir "$CONF" --default-storage "$D"
on_exit delete_all_sets
grep -qF "no difference storage is configured: sets get storage files in $D" "$DAEMON_LOG" ||
	{ show_log; fail "no start-up line naming the default directory"; }
[ ! -e "$M/var" ] || fail "the default directory was made before any set needed it"

# --- the default directory, on the volume of the set
run_rc out err rc "$SNAPCTL" create --no-writers "$M"
skip_if_unsupported "$err"
check_eq "$rc" 0 "create with no storage configured (stderr: $err)"
id=$(echo "$out" | sed -n 1p)
img=$(echo "$out" | sed -n 2p | awk '{ print $2 }')
[ -b "$img" ] || fail "no image in: $out"
f=$D/cowsnap-$id-0.store
check_eq "$(echo "$out" | sed -n 3p)" "storage: 16.0MiB in $f" "what create says of its storage"
check_eq "$(echo "$out" | wc -l)" 3 "create's lines: $out"
[ -f "$f" ] || fail "no storage file: $(ls -laR "$M/var")"
check_eq "$(stat -c %s "$f")" $((16 << 20)) "storage file size"
lsattr "$f" | grep -q '^----i' || fail "not immutable: $(lsattr "$f")"
check_eq "$(stat -c '%a %U:%G' "$D")" "700 root:root" "the default directory"
check_eq "$(stat -c '%a %U' "$M/var/lib/cowsnap")" "755 root" "its parent"
"$SNAPCTL" show "$id" | grep -qxF "            16.0MiB in $f" ||
	fail "show: $("$SNAPCTL" show "$id")"
json=$("$SNAPCTL" --json list storage | tr -d ' \n')
echo "$json" | grep -qF "{\"device\":\"$D\",\"major\":$((0x$(stat -c %t "$dev"))),\"minor\":$((0x$(stat -c %T "$dev"))),\"sectors\":" ||
	fail "list storage --json: no row for $D: $json"
echo "$json" | grep -qF "\"used\":32768,\"kind\":\"directory\",\"default\":true," ||
	fail "list storage --json: the default directory's row: $json"
echo "$json" | grep -qF "\"default_directory\":\"$D\"" || fail "list storage --json: $json"
"$SNAPCTL" list storage | grep -qF "no storage is configured: sets get storage files in $D" ||
	fail "list storage: $("$SNAPCTL" list storage)"

# the origin rewritten twice, the image read between
a=$(sha256sum < "$img")
rewrite "$M/data"
rewrite "$M/data"
(cd "$M/data" && sha256sum f*) > "$T/after"
b=$(sha256sum < "$img")
check_eq "$b" "$a" "two full reads of the image"
"$SNAPCTL" show "$id" | grep -q "^  state:    taken$" ||
	{ show_log; fail "set $id: $("$SNAPCTL" show "$id")"; }
out=$(e2fsck -fn "$img" 2>&1) || fail "e2fsck of the image: $out"
mount -o ro,noload "$img" "$T/img"
out=$(cd "$T/img/data" && sha256sum -c --quiet "$T/take" 2>&1) ||
	fail "files in the image not as at the take: $out"
g=$T/img/var/lib/cowsnap/storage/cowsnap-$id-0.store
check_eq "$(stat -c %s "$g")" $((16 << 20)) "the storage file in the image"
lsattr "$g" | grep -q '^----i' || fail "the storage file in the image: $(lsattr "$g")"
cmp -s "$g" <(head -c $((16 << 20)) /dev/zero) || fail "the storage file in the image is not zeros"
umount "$T/img"
echo 3 > /proc/sys/vm/drop_caches
out=$(cd "$M/data" && sha256sum -c --quiet "$T/after" 2>&1) || fail "origin lost writes: $out"

"$SNAPCTL" delete "$id" > /dev/null
check_eq "$(ls -A "$D")" "" "the default directory after delete"
"$SNAPCTL" --json list storage | tr -d ' \n' | grep -qF "\"device\":\"$D\"" &&
	fail "an empty default directory listed: $("$SNAPCTL" --json list storage)"

# --- killed with a set alive: its file goes at the next start
run_rc out err rc "$SNAPCTL" create --no-writers "$M"
check_eq "$rc" 0 "second create (stderr: $err)"
id=$(echo "$out" | sed -n 1p)
[ -f "$D/cowsnap-$id-0.store" ] || fail "no storage file for set $id: $(ls -la "$D")"
kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=

start_daemon --config-dir "$CONF" --default-storage "$D"
wait_for 10 sh -c "[ -z \"\$(ls -A $D)\" ]" || fail "orphan storage file: $(ls -la "$D")"
grep -qF "$D/cowsnap-$id-0.store: its set is gone: removed" "$DAEMON_LOG" ||
	{ show_log; fail "no log line for the orphan"; }
stop_daemon

# --- the default directory unusable (tmpfs): the volume's own
# .cowsnap-storage
mkdir -p -m 700 /dev/shm/cs0242
# a file in use at the take, rewritten below (writes into what was free at
# the take need no copy)
head -c $((24 << 20)) /dev/urandom > "$M/big"
sync
start_daemon --config-dir "$CONF" --default-storage /dev/shm/cs0242
run_rc out err rc "$SNAPCTL" --json create --no-writers "$M"
check_eq "$rc" 0 "create with the default directory on tmpfs (stderr: $err)"
json=$(echo "$out" | tr -d ' \n')
id=$(echo "$json" | grep -o '"id":[0-9]*' | head -n 1 | cut -d: -f2)
img=$(echo "$json" | grep -o '"image":"[^"]*"' | head -n 1 | cut -d'"' -f4)
f=$M/.cowsnap-storage/cowsnap-$id-0.store
echo "$json" | grep -qF "\"storage\":[{\"place\":\"$f\",\"kind\":\"file\",\"sectors\":32768,\"default\":true}]" ||
	fail "create --json does not say where storage went: $json"
[ -f "$f" ] || fail "no storage file on the volume: $(ls -la "$M/.cowsnap-storage")"
check_eq "$(stat -c '%a %U' "$M/.cowsnap-storage")" "700 root" ".cowsnap-storage"
grep -qF "storage directory /dev/shm/cs0242 is on a filesystem other than ext4 or xfs" \
	"$DAEMON_LOG" || { show_log; fail "no reason logged for passing over tmpfs"; }

# its file rewritten in place past its 16 MiB: it cannot grow (on its own volume, where it was
# free at the take, the storage files may take 20% of the filesystem at
# most, max-percent, and the first file has 16 of those 22 MiB; no other
# filesystem here), so it turns invalid; the origin keeps every write
others=$(findmnt -rn -t ext2,ext3,ext4,xfs -o TARGET,OPTIONS | awk -v m="$M" '$1 != m && $2 ~ /^rw/')
if [ -z "$others" ]; then
	# 1 MiB at a time, slowly enough for cowsnapd to try to grow it
	head -c $((24 << 20)) /dev/urandom > "$T/big"
	for ((i = 0; i < 24; i++)); do
		dd if="$T/big" of="$M/big" bs=1M skip=$i seek=$i count=1 conv=notrunc,fsync \
			status=none || fail "origin write $i failed"
		sleep 0.2
	done
	wait_for 20 sh -c "'$SNAPCTL' show $id | grep -q '^  state:    invalid, storage-full$'" ||
		{ show_log; fail "set $id: $("$SNAPCTL" show "$id")"; }
	grep -qF "set $id runs low on storage" "$DAEMON_LOG" ||
		{ show_log; fail "no line for the growth that could not be"; }
	grep -q "$M/.cowsnap-storage: 16 MiB wanted, but the storage files on its filesystem (16 MiB) may take at most max-percent 20% of it" \
		"$DAEMON_LOG" || { show_log; fail "growth: no reason for passing over the volume"; }
	grep -qF "set $id is invalid: its difference storage is full" "$DAEMON_LOG" ||
		{ show_log; fail "no line for the invalid set"; }
	head -c 4096 "$img" > /dev/null 2>&1 && fail "the invalid set's image still reads"
	echo 3 > /proc/sys/vm/drop_caches
	cmp "$T/big" "$M/big" || fail "origin lost writes past the set's storage"
	echo more > "$M/after-invalid" && sync || fail "the origin is not writable"
else
	note "other filesystems the set could grow on: $others; running out not checked"
fi
"$SNAPCTL" delete "$id" > /dev/null
check_eq "$(ls -A "$M/.cowsnap-storage")" "" ".cowsnap-storage after delete"
stop_daemon
umount "$M"
out=$(e2fsck -fn "$dev" 2>&1) || fail "the volume holding the storage is not clean: $out"
