#!/bin/bash
# snapread --incremental on a raw volume kept tracked (snapctl track): after
# a full read of a first snapshot, random 4 KiB writes to 1% of the volume
# and a second snapshot, updating the image reads at most 2% of the volume
# and gives exactly the second snapshot (cmp, checksum); five times over, the
# earlier set deleted each time.  A base of another volume, a truncated or
# modified base, a base without metadata or with an unfinished update, and
# a base of an older generation (the volume untracked in between) are
# refused, and the base is left as it was.
# timeout: 400
# tier: once
# cost: 103
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.bash"

SNAPREAD=$TOP/tools/read/snapread
VOL_MB=16
modprobe brd rd_nr=3 rd_size=$((VOL_MB * 1024)) || fail "modprobe brd"
# runs last: the module holds tracked volumes open until it goes
on_exit "unload_module; rmmod brd"
out=$(mktemp -d /var/tmp/incr.XXXXXX)
on_exit "rm -rf '$out'"

printf 'set-size 4M\ndevice /dev/ram2\n' > "$CONF/storage.conf"
BLKSTAMP=$TOP/tests/tools/blkstamp
# self-describing blocks, different on the two volumes
"$BLKSTAMP" fill /dev/ram0 --version 1 > /dev/null || fail "blkstamp fill ram0"
"$BLKSTAMP" fill /dev/ram1 --version 7 > /dev/null || fail "blkstamp fill ram1"
# 4 KiB chunks: the changed-block map as fine as the writes
load_module chunk_sectors=8
start_daemon --config-dir "$CONF"
on_exit delete_all_sets

jfield() {	# FILE KEY: a number from snapread's --json line
	sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" "$1"
}
jsum() {	# FILE: the checksum from snapread's --json line
	sed -n 's/.*"checksum":"xxh64:\([0-9a-f]*\)".*/\1/p' "$1"
}
create() {	# VOLUME: sets SET and IMG
	local o
	o=$("$SNAPCTL" create --no-writers "$1" 2>&1) || fail "create $1: $o"
	SET=$(echo "$o" | sed -n 1p)
	IMG=$(echo "$o" | sed -n 2p | awk '{ print $2 }')
	[ -b "$IMG" ] || fail "no image device in: $o"
}
scribble() {	# 1% of the volume: random 4 KiB blocks, each a new version
	"$BLKSTAMP" write /dev/ram0 --state "$out/stamp" --threads 1 --max-run 1 \
		--writes $((VOL_MB * 256 / 100)) > /dev/null || fail "random writes"
}
refused() {	# WHAT PATTERN CMD...: CMD exits 4 naming PATTERN, says "full read"
	local what=$1 pat=$2 o e rc
	shift 2
	run_rc o e rc "$@"
	check_eq "$rc" 4 "exit status for $what (stderr: $e)"
	echo "$e" | grep -q -- "$pat" || fail "$what: message lacks \`$pat': $e"
	echo "$e" | grep -q "do a full read" || fail "$what: message lacks the advice: $e"
}

out_track=$("$SNAPCTL" track /dev/ram0) || fail "snapctl track: $out_track"
echo "$out_track" | grep -Eq "^/dev/ram0: kept tracked, generation [0-9a-f-]{36}, 4.0KiB chunks" ||
	fail "track output: $out_track"
vol=$("$SNAPCTL" --json list volumes | tr -d ' \n' | grep -o '{"device":"/dev/ram0"[^}]*}')
echo "$vol" | grep -q '"kept":true' || fail "list volumes: ram0 not kept: $vol"
echo "$vol" | grep -q '"cbt_chunk_sectors":8' || fail "list volumes: chunk: $vol"
gen1=$(echo "$vol" | sed -n 's/.*"cbt_generation":"\([^"]*\)".*/\1/p')
"$SNAPCTL" list volumes | grep -Eq '^/dev/ram0 .* kept +0 ' || fail "table: $("$SNAPCTL" list volumes)"

note "setup done at ${SECONDS}s"
# The full backup, with its metadata.
create /dev/ram0
"$SNAPREAD" --json "$IMG" "$out/img" > "$out/json" || fail "full read"
cmp "$IMG" "$out/img" || fail "full image differs from $IMG"
[ -f "$out/img.cowsnap-meta" ] || fail "no metadata beside the full image"
grep -q "\"metadata\":\"$out/img.cowsnap-meta\"" "$out/json" || fail "json: $(cat "$out/json")"
grep -qx "origin_dev 1:0" "$out/img.cowsnap-meta" || fail "meta: $(cat "$out/img.cowsnap-meta")"
grep -qx "generation $gen1" "$out/img.cowsnap-meta" || fail "meta generation: $(cat "$out/img.cowsnap-meta")"
grep -qx "checksum xxh64:$(jsum "$out/json")" "$out/img.cowsnap-meta" || fail "meta checksum"
prev=$SET

# A snapshot of the other volume, for the refusals below.
create /dev/ram1
other_set=$SET other_img=$IMG
"$SNAPREAD" -q "$other_img" "$out/other" || fail "full read of ram1"
# The set of the full backup goes: only the volume stays tracked.
"$SNAPCTL" delete "$prev" > /dev/null || fail "delete set $prev"
prev=

limit=$((VOL_MB * 1024 * 1024 * 2 / 100))
for i in 1 2 3 4 5; do
	scribble
	create /dev/ram0
	"$SNAPREAD" --json --incremental --base "$out/img" "$IMG" > "$out/json" ||
		fail "incremental $i"
	read_b=$(jfield "$out/json" bytes_read)
	[ -n "$read_b" ] && [ "$read_b" -gt 0 ] && [ "$read_b" -le "$limit" ] ||
		fail "incremental $i read ${read_b:-?} bytes, more than 2% ($limit): $(cat "$out/json")"
	cmp "$IMG" "$out/img" || fail "incremental $i: image differs from a full read of $IMG"
	sum=$(jsum "$out/json")
	grep -qx "checksum xxh64:$sum" "$out/img.cowsnap-meta" || fail "meta checksum after $i"
	grep -qx "set_id $SET" "$out/img.cowsnap-meta" || fail "meta set after $i"
	[ "$i" = 1 ] && note "incremental 1 read $read_b of $((VOL_MB << 20)) bytes"
	[ -z "$prev" ] || "$SNAPCTL" delete "$prev" > /dev/null || fail "delete set $prev"
	prev=$SET
done
note "5 incremental updates done at ${SECONDS}s"
# The last one against a full read of the same snapshot, checksum too.
"$SNAPREAD" --json "$IMG" "$out/full" > "$out/fjson" || fail "full read of the last snapshot"
cmp "$out/full" "$out/img" || fail "chained image differs from a full read"
check_eq "$(jsum "$out/fjson")" "$sum" "checksum of the chained image"
# Nothing written since: an update reads nothing.
"$SNAPREAD" --json --incremental --base "$out/img" "$IMG" > "$out/json" || fail "no-op update"
check_eq "$(jfield "$out/json" bytes_read)" 0 "bytes read with nothing changed"
rm -f "$out/full" "$out/full.cowsnap-meta"

# Refusals leave the base as it was.
cp --sparse=always "$out/img" "$out/keep"
cp "$out/img.cowsnap-meta" "$out/keep-meta"
unchanged() {
	cmp "$out/img" "$out/keep" || fail "$1 changed the base"
	cmp "$out/img.cowsnap-meta" "$out/keep-meta" || fail "$1 changed the base's metadata"
}
refused "a base of another volume" "is a copy of /dev/ram1" \
	"$SNAPREAD" --incremental --base "$out/other" "$IMG"
cmp "$other_img" "$out/other" || fail "the refused base of ram1 changed"
refused "a snapshot of another volume" "is a snapshot of /dev/ram1" \
	"$SNAPREAD" --incremental --base "$out/img" "$other_img"
unchanged "a snapshot of another volume"
# Copies of the base with its metadata: truncated, modified, half updated.
for c in trunc mod half; do
	cp --sparse=always "$out/img" "$out/$c"
	cp "$out/img.cowsnap-meta" "$out/$c.cowsnap-meta"
done
truncate -s $(((VOL_MB << 20) - 4096)) "$out/trunc"
cp --sparse=always "$out/trunc" "$out/trunc.keep"
refused "a truncated base" "truncated" "$SNAPREAD" --incremental --base "$out/trunc" "$IMG"
cmp "$out/trunc" "$out/trunc.keep" || fail "the refused truncated base changed"
refused "a base modified since" "was modified or replaced" \
	"$SNAPREAD" --incremental --base "$out/mod" "$IMG"
cmp "$out/mod" "$out/keep" || fail "the refused modified base changed"
sed -i 's/^complete 1$/complete 0/' "$out/half.cowsnap-meta"
refused "a base whose update did not finish" "did not finish" \
	"$SNAPREAD" --incremental --base "$out/half" "$IMG"
cmp "$out/half" "$out/keep" || fail "the refused half-updated base changed"
rm -f "$out"/trunc* "$out"/mod* "$out"/half* "$out/other"*
mv "$out/img.cowsnap-meta" "$out/moved"
refused "a base without metadata" "has no metadata" \
	"$SNAPREAD" --incremental --base "$out/img" "$IMG"
mv "$out/moved" "$out/img.cowsnap-meta"
unchanged "a base without metadata"

# An older generation: untracked with no set left, the map starts over.
"$SNAPCTL" delete --all > /dev/null
"$SNAPCTL" untrack /dev/ram0 | grep -q "no longer tracked" || fail "untrack"
"$SNAPCTL" track /dev/ram0 > /dev/null || fail "track again"
scribble
create /dev/ram0
refused "a base of an older generation" "started over" \
	"$SNAPREAD" --incremental --base "$out/img" "$IMG"
unchanged "a base of an older generation"
# and a full read is the way out
"$SNAPREAD" -q --force "$IMG" "$out/img" || fail "full read after the refusal"
grep -qx "generation $gen1" "$out/img.cowsnap-meta" && fail "metadata keeps the old generation"
"$SNAPCTL" untrack /dev/ram0 > /dev/null || fail "untrack at the end"
exit 0
