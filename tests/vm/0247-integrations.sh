#!/bin/bash
# The recipes of docs/integrations.md, each checked by content: an ext4
# volume at $M (files with known SHA-256) is overwritten after the take
# (post-snapshot); in one `snapctl backup --mount', borg (file level, and
# the image with --content-from-command and snapread), restic (file level,
# and the image through stdin with the doc's restic-image script),
# qemu-img (qcow2, compared) and partclone.ext4 read the set; then, on the
# host: the borg and restic archives hold the original paths ($M/...) and
# restore the take's files; the images restored from borg, restic and qcow2
# have the image device's SHA-256; partclone's restores to an fsck-clean
# filesystem with the take's files.  restic-image with a reader that fails
# half-way leaves no snapshot.  The doc's Bacula hook scripts, run as the
# file daemon would: the take's files under /mnt/cowsnap/JOB, a second
# before refused, after leaves no mount and no set.  A tool that is not
# installed skips its part (scripts/deps installs them all).
# tier: once
# cost: 130
# timeout: 420
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.bash"

T=$(mktemp -d /tmp/cs0247.XXXXXX)
M=/mnt/cs0247/data
DOC=$TOP/docs/integrations.md
have() {
	command -v "$1" > /dev/null && return 0
	note "$1 is not installed: its part is skipped"
	return 1
}
# doc_script NAME FILE: the code block after `<!-- script: NAME -->' in the doc
doc_script() {
	awk -v n="<!-- script: $1 -->" '$0 == n { s = 1; next }
		s == 1 && /^```/ { s = 2; next } s == 2 && /^```/ { exit } s == 2' "$DOC" > "$2"
	[ -s "$2" ] || fail "no script $1 in $DOC"
	chmod +x "$2"
}
# sums DIR: "SHA-256  ./PATH" of every file below DIR, sorted
sums() {
	(cd "$1" && find . -path ./lost+found -prune -o -type f -print0 | sort -z |
		xargs -0 sha256sum)
}

make_loop st 64
make_loop vol 48
printf 'set-size 24M\ndevice %s\n' "$st" > "$CONF/storage.conf"
mkfs_ext4 -E lazy_itable_init=0,lazy_journal_init=0 "$vol"
mkdir -p "$M"
on_exit "umount -R /mnt/cowsnap/job1 2>/dev/null; umount $M 2>/dev/null; rm -rf /mnt/cs0247"
mount "$vol" "$M"
mkdir "$M/dir"
head -c 3M /dev/urandom > "$M/big"
head -c 100K /dev/urandom > "$M/dir/small"
echo "take" > "$M/dir/text"
sync
sums "$M" > "$T/take.sums"
size=$(blockdev --getsize64 "$vol")

# after the take, before CMD: every file changes on the origin
add_writer "$CONF" app back-end "
if [ \"\$1\" = post-snapshot ]; then
	head -c 3M /dev/urandom > $M/big; date +%s.%N > $M/dir/text
	head -c 100K /dev/urandom > $M/dir/small; sync
fi"
load_module
start_daemon --config-dir "$CONF"
on_exit delete_all_sets

export BORG_BASE_DIR=$T/borg-base BORG_REPO=$T/borg
export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
export RESTIC_PASSWORD=cowsnap-test RESTIC_REPOSITORY=$T/restic RESTIC_CACHE_DIR=$T/restic-cache
tools=
have borg && { borg init -e none "$BORG_REPO" || fail "borg init"; tools+=" borg"; }
have restic && { restic -q init > /dev/null || fail "restic init"; tools+=" restic"; }
have qemu-img && tools+=" qemu"
have partclone.ext4 && tools+=" partclone"
doc_script restic-image "$T/restic-image"
export T M tools PATH="$TOP/tools/read:$PATH"

cat > "$T/cmd.sh" <<'EOS'
#!/bin/bash
# the recipes, as in docs/integrations.md
set -eux
PS4='+ [${SECONDS}s] '
img=${COWSNAP_SNAPSHOTS#*=}
sha256sum < "$img" | cut -d' ' -f1 > "$T/img.sha"
cd "$T"
[ "$(findmnt -n -o SOURCE "$M" | tail -n 1)" = "$img" ]
case $tools in *borg*)
	borg create "::files" "$M"
	borg create --content-from-command --stdin-name data.img "::img" -- \
		snapread -q "$img" - ;;
esac
case $tools in *restic*)
	restic -q backup --tag data "$M"
	"$T/restic-image" "$RESTIC_REPOSITORY" ;;
esac
case $tools in *qemu*)
	qemu-img convert -f raw -O qcow2 "$img" "$T/data.qcow2"
	qemu-img compare -f raw -F qcow2 "$img" "$T/data.qcow2" > "$T/qemu-compare" ;;
esac
echo done > "$T/cmd-done"
EOS
chmod +x "$T/cmd.sh"
run_rc out err rc "$SNAPCTL" backup --mount --exec "$T/cmd.sh" "$M"
skip_if_unsupported "$err"
[ "$rc" = 0 ] || { printf '%s\n' "$err" | tail -n 30; fail "backup --mount with the recipes: exit $rc"; }
[ -e "$T/cmd-done" ] || fail "the recipes did not finish"
note "backup --mount with the recipes done (at ${SECONDS}s)"
grep '^+ \[' <<< "$err" | cut -c1-90 | sed 's/^/#   /' || true
check_eq "$(sums "$M" | grep -c -F -x -f "$T/take.sums" || true)" 0 "origin files still as at the take"
img_sha=$(cat "$T/img.sha")
expected=$(cat "$T/take.sums")

# restored_fs WHAT IMAGE: an ext4 image's files are the take's
restored_fs() {
	mkdir -p "$T/fs"
	mount -o ro,noload,loop "$2" "$T/fs" || fail "$1: cannot mount $2"
	check_eq "$(sums "$T/fs")" "$expected" "$1: files of the restored filesystem"
	umount "$T/fs"
}

if [[ $tools == *borg* ]]; then
	mkdir "$T/bx" && (cd "$T/bx" && borg extract "::files") || fail "borg extract"
	[ -d "$T/bx$M" ] || fail "borg archive without $M: $(cd "$T/bx" && find . | head)"
	check_eq "$(sums "$T/bx$M")" "$expected" "borg: files at the original paths"
	check_eq "$(borg extract --stdout "::img" | sha256sum | cut -d' ' -f1)" "$img_sha" \
		"borg: the image from --content-from-command"
	note "borg: ok (at ${SECONDS}s)"
fi
if [[ $tools == *restic* ]]; then
	restic -q restore latest --tag data --target "$T/rx" || fail "restic restore"
	restic ls latest --tag data > "$T/restic-ls" || fail "restic ls"
	grep -qx "$M/dir/text" "$T/restic-ls" || fail "restic: no $M/dir/text: $(head "$T/restic-ls")"
	check_eq "$(sums "$T/rx$M")" "$expected" "restic: files at the original paths"
	name=$(basename "$vol").img
	check_eq "$(restic dump --tag cowsnap-image latest "/$name" | sha256sum | cut -d' ' -f1)" \
		"$img_sha" "restic: the image through stdin"
	# a reader that fails after 1 MiB: restic saves that much, the script forgets it
	mkdir -p "$T/fakebin"
	printf '#!/bin/sh\nhead -c 1M /dev/urandom\nexit 1\n' > "$T/fakebin/snapread"
	chmod +x "$T/fakebin/snapread"
	before=$(restic snapshots --json | grep -o '"id"' | wc -l)
	run_rc out err rc env PATH="$T/fakebin:$PATH" COWSNAP_SNAPSHOTS="/dev/trunc=/dev/null" \
		"$T/restic-image" "$RESTIC_REPOSITORY"
	check_eq "$rc" 1 "restic-image with a failing reader"
	grep -q "trunc.img failed; its truncated snapshot [0-9a-f]* forgotten" <<< "$err" ||
		fail "restic-image: $err"
	check_eq "$(restic snapshots --json | grep -o '"id"' | wc -l)" "$before" "restic snapshots after a failed reader"
	note "restic: ok (at ${SECONDS}s)"
fi
if [[ $tools == *qemu* ]]; then
	check_eq "$(cat "$T/qemu-compare")" "Images are identical." "qemu-img compare"
	qemu-img convert -f qcow2 -O raw "$T/data.qcow2" "$T/back.raw" || fail "qemu-img convert back"
	check_eq "$(sha256sum < "$T/back.raw" | cut -d' ' -f1)" "$img_sha" "qemu-img: raw from qcow2"
	rm -f "$T/back.raw" "$T/data.qcow2"
	note "qemu-img: ok (at ${SECONDS}s)"
fi
if [[ $tools == *partclone* ]]; then
	# partclone refuses a mounted source: a backup without --mount
	sums "$M" > "$T/take.sums"
	expected=$(cat "$T/take.sums")
	run_rc out err rc "$SNAPCTL" backup --exec "partclone.ext4 -q -c -s \"\${COWSNAP_SNAPSHOTS#*=}\" \
		-o $T/data.pc -L $T/data.pc.log" "$M"
	[ "$rc" = 0 ] || fail "partclone: backup exit $rc: $(tail -n 5 "$T/data.pc.log")"
	check_eq "$(sums "$M" | grep -c -F -x -f "$T/take.sums" || true)" 0 "origin files still as at the take"
	truncate -s "$size" "$T/pc.img"
	partclone.ext4 -q -r -s "$T/data.pc" -O "$T/pc.img" -L "$T/pc.log" > /dev/null 2>&1 ||
		fail "partclone restore: $(tail -n 3 "$T/pc.log")"
	e2fsck -fn "$T/pc.img" > "$T/fsck" 2>&1 || fail "partclone: e2fsck: $(cat "$T/fsck")"
	restored_fs partclone "$T/pc.img"
	rm -f "$T/pc.img" "$T/data.pc"
	note "partclone: ok (at ${SECONDS}s)"
fi

# Bacula's hooks, as its file daemon runs them (%n: job1)
doc_script cowsnap-bacula-before "$T/cowsnap-bacula-before"
doc_script cowsnap-bacula-after "$T/cowsnap-bacula-after"
sums "$M" > "$T/take2.sums"
export PATH="$TOP/tools:$PATH"
"$T/cowsnap-bacula-before" job1 "$M" || fail "bacula before-script"
echo again > "$M/dir/text"
check_eq "$(sums "/mnt/cowsnap/job1$M")" "$(cat "$T/take2.sums")" "bacula: files under /mnt/cowsnap/job1"
run_rc out err rc "$T/cowsnap-bacula-before" job1 "$M"
check_ne "$rc" 0 "a second bacula before-script"
grep -q "still there" <<< "$err" || fail "second before-script: $err"
"$T/cowsnap-bacula-after" job1 || fail "bacula after-script"
check_eq "$(findmnt -rn -o SOURCE | grep -c cowsnap || true)" 0 "image mounts after the after-script"
check_eq "$("$SNAPCTL" list sets | tail -n +2)" "" "sets after the after-script"
exit 0
