#!/bin/bash
# Issue 10: a real-world I/O matrix, part 3: discards, dm and md (part 1,
# 0395: O_DIRECT fio on raw devices; part 2, 0396: page cache and
# filesystems).
# What servers do on a snapshotted origin, checked by content with
# verifiers that are not the project's own: fio's crc32c verify (fio exits
# 0 with err=0 in every job: every write acknowledged; it reads back what
# it wrote; a second pass, verify_only with O_DIRECT, re-reads the origin),
# sha256sum of files, fsck, cmp with /dev/zero, and a CRC-32 per MiB of a
# whole device read with O_DIRECT (python).  Each case fills its origin,
# takes a set (the origin as volume, a RAM disk range as storage, 64 KiB
# chunks), runs the I/O, and checks the origin has what was written and
# the image reads as at the take (twice, the second time after
# drop_caches), its set TAKEN with chunks copied.  The fio mix: random 4k,
# sequential 64k, 1M and 96k (across chunk edges) writes, 19 MiB in 22.
# Each case runs in a subshell with its own cleanups, so that all run and
# report (a summary at the end); the test fails if any case failed.
# Cases:
#   discard-big: blkdiscard and blkdiscard -z of 16 MiB each (large bios
#       over 256 chunks), and a small discard inside a chunk, on a loop
#       device over a tmpfs file;
#   discard-chain: the same on a scsi_debug disk whose discards are 4 KiB
#       (lbpu=1 unmap_max_blocks=8): 4096 chained discard bios.  Both: the
#       origin reads zeros there and is unchanged elsewhere;
#   dm-linear: the fio mix (O_DIRECT libaio, iodepth 16) through a
#       dm-linear device 8 MiB into a tracked null_blk: dm submits the
#       remapped bios from inside its own submit_bio, and the snapshot of
#       the null_blk must not change (rule 1);
#   md-raid1: the same through an md raid1 whose two members are the
#       volumes of one set: neither member's image may change.
# timeout: 420
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/03-helpers.bash"

need SET_NEW SET_ADD_VOLUME SET_ADD_STORAGE SET_TAKE SET_GET SET_DESTROY
command -v fio > /dev/null || skip "no fio"
MiB=$((1024 * 1024))
# ram0: the storage of every set; the origins are loop, scsi_debug and
# null_blk disks made by the cases.
brd 1 128
STORE=/dev/ram0 STORE_SECTORS=$((128 * 2048))
modprobe -a loop dm-mod raid1
load_module_03

# ---- helpers (the same in 0395, 0396 and 0397) --------------------------

# A CRC-32 per MiB of a whole device, read with O_DIRECT, by one python
# process for the whole test: started once, it is not reloaded over 9p
# after every drop_caches (3 s under emulation).
digest_server() {
	mkfifo "$T/dig.in" "$T/dig.out"
	python3 -u -c '
import mmap, os, sys, zlib
buf = mmap.mmap(-1, 1 << 20)
for line in sys.stdin:
    try:
        fd = os.open(line.rstrip("\n"), os.O_RDONLY | os.O_DIRECT)
        try:
            mib = 0
            while True:
                n = os.readv(fd, [buf])
                if n <= 0:
                    break
                print("%d %08x" % (mib, zlib.crc32(memoryview(buf)[:n])))
                mib += 1
        finally:
            os.close(fd)
        print("end")
    except OSError as e:
        print("error %s" % e)
' < "$T/dig.in" > "$T/dig.out" &
	on_exit "kill $! 2> /dev/null"
	exec {DIG_W}> "$T/dig.in" {DIG_R}< "$T/dig.out"
}

# digests DEV: "MIB CRC32" for each MiB of DEV.
digests() {
	local line
	printf '%s\n' "$1" >&"$DIG_W"
	while IFS= read -r -t 300 line <&"$DIG_R"; do
		case $line in
		end) return 0 ;;
		"error "*) echo "${line#error }" >&2; return 1 ;;
		*) printf '%s\n' "$line" ;;
		esac
	done
	echo "no answer from the digest server" >&2
	return 1
}

# mib_diff A B: the MiB whose CRC differs between two digests files, as
# ranges ("3 7-9"); "all (N vs M MiB)" when the sizes differ.
mib_diff() {
	awk 'NR == FNR { a[$1] = $2; na++; next }
	     { nb++; if (a[$1] != $2) d[n++] = $1 }
	     END {
		if (na != nb) { printf "all (%d vs %d MiB)", na, nb; exit }
		for (i = 0; i < n; i = j) {
			for (j = i + 1; j < n && d[j] == d[j - 1] + 1; j++) ;
			printf "%s%s", (i ? " " : ""), (j - 1 > i ? d[i] "-" d[j - 1] : d[i])
		}
	     }' "$1" "$2"
}

# crcs_match REF DEV WHAT: DEV reads with the digests of file REF ($REF_IS
# says what REF is); with STAMPED=1 (DEV filled by blkstamp) a failure
# names the first bad blocks.
crcs_match() {
	local out=$T/crcs d bad=
	digests "$2" > "$out" 2> "$out.err" ||
		fail "$CASE: reading $2 ($3) failed: $(cat "$out.err")"
	d=$(mib_diff "$1" "$out")
	[ -z "$d" ] && return 0
	if [ "${STAMPED:-}" = 1 ]; then
		bad=" (blkstamp: $({ "$BLKSTAMP" verify "$2" --version 1 || true; } |
			grep -E '^verify bad|^verify blocks' | head -n 3 | sed 's/^verify //' | tr '\n' ';' || true))"
	fi
	fail "$CASE: $3: MiB $d differ from $REF_IS$bad"
}

# take VOL...: one set of the volumes over $STORE, 64 KiB chunks; each
# volume's image in IMG[VOL] and the CRCs of the take in $T/take.<name>:
# the origin's, read before the take, which the image must match; with
# REF=image (a mounted filesystem, an md array: they may write until the
# take freezes or drains them) the image's, read right after the take.
declare -A IMG
take() {
	local v
	if [ "${REF:-origin}" = origin ]; then
		REF_IS="the origin at the take"
		for v; do
			digests "$v" > "$T/take.$(basename "$v")" || fail "$CASE: reading $v before the take"
		done
	else
		REF_IS="the image right after the take"
	fi
	sess_start
	on_exit destroy_all_sets
	new_set --chunk-sectors 128
	for v; do s add-volume "$SET" "$v"; done
	s add-storage "$SET" "$STORE" 0 "$STORE_SECTORS"
	s take "$SET"
	for v; do
		IMG[$v]=$(image_of "$SET" "$v")
		if [ "${REF:-origin}" = origin ]; then
			crcs_match "$T/take.$(basename "$v")" "${IMG[$v]}" "image of $v right after the take"
		else
			digests "${IMG[$v]}" > "$T/take.$(basename "$v")" || fail "$CASE: reading the image of $v"
		fi
	done
}

# image_check DEV: after the I/O, the image of DEV reads as at the take,
# its set is TAKEN and copied chunks of DEV.
image_check() {
	local info line w d state= n=
	info=$("$NLCTL" get "$SET") || fail "$CASE: nlctl get $SET"
	d="dev=$(devnum "$1")"
	while IFS= read -r line; do
		case $line in
		"set "*) for w in $line; do [[ $w != state=* ]] || state=${w#state=}; done ;;
		"volume "*" $d "*) for w in $line; do [[ $w != copied=* ]] || n=${w#copied=}; done ;;
		esac
	done <<< "$info"
	crcs_match "$T/take.$(basename "$1")" "${IMG[$1]}" "image of $1 after the I/O (${n:-?} chunks copied)"
	check_eq "$state" TAKEN "$CASE: set state after the I/O"
	[ "${n:-0}" -gt 0 ] || fail "$CASE: no chunk of $1 copied: the writes did not go through the snapshot"
	note "$CASE: image of $1 as at the take, $n chunks copied"
}

# image_recheck DEV...: after drop_caches, the images read as at the take
# again.
image_recheck() {
	local v
	echo 3 > /proc/sys/vm/drop_caches
	for v; do
		crcs_match "$T/take.$(basename "$v")" "${IMG[$v]}" "image of $v read again after drop_caches"
	done
}

release() {
	s destroy "$SET"
	sess_kill
}

# step WHAT: a note with the time into the case.
step() {
	note "$CASE: $* (${SECONDS}s)"
}

# run_fio WHAT JOBFILE: fio must exit 0 with err=0 in every job, within
# $FIO_LIMIT seconds (else it is killed: I/O that never completes).
FIO_LIMIT=180
run_fio() {
	local out=$T/fio.out rc=0 pid wd done=
	fio --output="$out" "$2" > "$out.stderr" 2>&1 &
	pid=$!
	sleep "$FIO_LIMIT" > /dev/null 2>&1 &
	wd=$!
	wait -n -p done "$pid" "$wd" && rc=0 || rc=$?
	if [ "$done" != "$pid" ]; then
		kill -9 "$pid" 2> /dev/null || true
		fail "$CASE: $1: fio did not finish within ${FIO_LIMIT}s, killed; $(
			grep -E 'WRITE|READ|err=' "$out" 2> /dev/null | head -n 2 | tr '\n' ' ' || true)$(
			tail -n 2 "$out.stderr" | tr '\n' ' ' || true)"
	fi
	kill "$wd" 2> /dev/null || true
	wait "$wd" 2> /dev/null || true
	if [ "$rc" != 0 ] || grep -qE 'err= *[1-9]' "$out"; then
		fail "$CASE: $1: fio exit $rc, $(grep -c 'io_u error' "$out.stderr" || true) I/O errors; $(
			cat "$out.stderr" "$out" | grep -iE 'error|err= *[1-9]|verify|bad' |
			sed 's/^ *//' | awk '!seen[$0]++' | head -n 3 | tr '\n' ' ' || true)"
	fi
}

# nullb NAME ATTR=VALUE...: a null_blk device made through configfs,
# powered on, in $NULLB; removed by a cleanup.
nullb() {
	local name=$1 d=/sys/kernel/config/nullb/$1 a before
	shift
	if [ ! -d /sys/module/null_blk ]; then
		modprobe configfs 2> /dev/null || true
		mountpoint -q /sys/kernel/config || mount -t configfs none /sys/kernel/config ||
			skip "cannot mount configfs"
		modprobe null_blk nr_devices=0 || skip "no null_blk module"
	fi
	[ -d /sys/kernel/config/nullb ] || skip "null_blk has no configfs interface here"
	before=$(ls /sys/block)
	mkdir "$d" || fail "$CASE: mkdir $d"
	on_exit "echo 0 > $d/power 2> /dev/null; rmdir $d"
	for a; do
		echo "${a#*=}" > "$d/${a%%=*}" || skip "null_blk refuses ${a%%=*}=${a#*=}"
	done
	echo 1 > "$d/power" || fail "$CASE: null_blk power on"
	NULLB=$(comm -13 <(echo "$before") <(ls /sys/block) | head -n 1)
	[ -n "$NULLB" ] || fail "$CASE: null_blk $name made no disk"
	wait_for 10 test -b "/dev/$NULLB" || fail "$CASE: no /dev/$NULLB"
}

# run_case NAME FUNCTION [ARG...]: run a case in a subshell with its own
# cleanups (a failure or skip ends the case, not the test); its output
# shown as it comes, prefixed with its name; the outcome in CASES, FAILED.
CASES=() FAILED=()
run_case() {
	local name=$1 rc t0=$SECONDS log=$T/case.$1 why
	shift
	set +e
	(
		set -e
		_on_exit=()
		trap _run_on_exit EXIT
		CASE=$name
		SECONDS=0
		"$@"
	) 2>&1 | tee "$log" | sed -u "s/^/# [$name] /"
	rc=${PIPESTATUS[0]}
	set -e
	case $rc in
	0) CASES+=("$name: ok ($((SECONDS - t0))s)") ;;
	77) CASES+=("$name: skipped: $(sed -n 's/^SKIP: //p' "$log" | head -n 1)") ;;
	*)
		why=$(sed -n 's/^FAIL: //p' "$log" | head -n 1)
		CASES+=("$name: FAILED ($((SECONDS - t0))s): ${why:-exit $rc}")
		FAILED+=("$name")
		;;
	esac
}

# report: the cases' outcomes; fails if any case failed.
report() {
	local c
	note "cases (setup ${SETUP_SECONDS}s, all ${SECONDS}s):"
	for c in "${CASES[@]}"; do
		note "  $c"
	done
	[ ${#FAILED[@]} = 0 ] || fail "${#FAILED[@]} of ${#CASES[@]} cases failed: ${FAILED[*]}"
}

# mix FILE ENGINE IODEPTH DIRECT [OPTION...]: fio's job file of the mix
# over the first 22 MiB of FILE, one job per pattern, all at once; each
# job's size divided by $MIX_DIV (default 1).
mix() {
	local o d=${MIX_DIV:-1}
	printf '[global]\nfilename=%s\nioengine=%s\niodepth=%s\ndirect=%s\n' "$1" "$2" "$3" "$4"
	printf 'verify=crc32c\nverify_fatal=1\ndo_verify=1\nrandrepeat=1\n'
	shift 4
	for o; do echo "$o"; done
	cat <<EOF
[rand4k]
rw=randwrite
bs=4k
offset=0
size=$((4096 / d))k
[seq64k]
rw=write
bs=64k
offset=5m
size=$((4096 / d))k
[seq1m]
rw=write
bs=1m
offset=10m
size=$((8192 / d))k
[seq96k]
rw=write
bs=96k
offset=19m
size=$((3072 / d))k
EOF
}

# fio_case DEV ENGINE IODEPTH DIRECT [OPTION...]: a raw case on DEV: fill
# it (blkstamp), take, the mix with these settings, fio's verify_only, the
# image checked twice.
fio_case() {
	local dev=$1 engine=$2 depth=$3 direct=$4 w
	shift 4
	test -b "$dev" || fail "$CASE: $dev is not a block device"
	"$BLKSTAMP" fill "$dev" --version 1 > /dev/null || fail "$CASE: filling $dev"
	STAMPED=1
	take "$dev"
	step "taken"
	mix "$dev" "$engine" "$depth" "$direct" "$@" > "$T/mix.fio"
	run_fio "writes after the take ($engine, iodepth $depth, direct=$direct)" "$T/mix.fio"
	w=$(sed -n 's/.*WRITE: .*io=\([0-9.]*\)\(KiB\|MiB\).*/\1 \2/p' "$T/fio.out")
	step "fio wrote $w of $((19456 / ${MIX_DIV:-1})) KiB"
	# O_DIRECT reads bypass the page cache (after writing back what it
	# holds); psync: the offsets and data do not depend on the engine.
	mix "$dev" psync 1 1 verify_only=1 > "$T/verify.fio"
	run_fio "the origin re-read with O_DIRECT (verify_only)" "$T/verify.fio"
	image_check "$dev"
	image_recheck "$dev"
	release
}

# mib_same REF DEV WHAT MIB...: DEV's CRCs are REF's at the MiB given (N
# or N-M).
mib_same() {
	local ref=$1 dev=$2 what=$3 out=$T/same d
	shift 3
	digests "$dev" > "$out" || fail "$CASE: reading $dev failed"
	d=$(awk -v sel="$*" 'BEGIN { n = split(sel, r, " ")
		for (i = 1; i <= n; i++) { k = split(r[i], b, "-"); for (m = b[1]; m <= b[k]; m++) want[m] = 1 } }
		NR == FNR { a[$1] = $2; next }
		($1 in want) && a[$1] != $2 { printf "%s ", $1 }' "$ref" "$out")
	[ -z "$d" ] || fail "$CASE: $what: MiB $d changed"
}

# zero_at DEV OFFSET LEN: the range reads as zeros.
zero_at() {
	cmp -s -n "$3" <(dd if="$1" bs=1M skip="$2" count="$3" iflag=direct,skip_bytes,count_bytes status=none) /dev/zero ||
		fail "$CASE: $1: $3 bytes at $2 do not read as zeros after the discard/zeroing"
}

# tmpfs_loop SIZE: a loop device over a new tmpfs file, in $LOOP.
tmpfs_loop() {
	local f
	f=$(mktemp "$T/loop.XXXXXX")
	truncate -s "$1" "$f"
	LOOP=$(losetup --find --show "$f") || fail "$CASE: losetup $f"
	on_exit "losetup -d $LOOP; rm -f $f"
}


# ---- discards ------------------------------------------------------------

# discard_case DEV: blkdiscard [0, 16M), blkdiscard -z [24M, 40M), a
# discard of 8 KiB at 41 MiB + 4 KiB; DEV has 48 MiB.
discard_case() {
	local dev=$1 q
	q=/sys/block/$(basename "$(readlink -f "$dev")")/queue
	note "$CASE: $dev: discard_max_bytes=$(cat "$q/discard_max_bytes") write_zeroes_max_bytes=$(cat "$q/write_zeroes_max_bytes")"
	"$BLKSTAMP" fill "$dev" --version 1 > /dev/null || fail "$CASE: filling $dev"
	STAMPED=1
	take "$dev"
	step "taken"
	blkdiscard -o 0 -l $((16 * MiB)) "$dev" || fail "$CASE: blkdiscard of 16 MiB"
	step "discarded"
	blkdiscard -z -o $((24 * MiB)) -l $((16 * MiB)) "$dev" || fail "$CASE: blkdiscard -z of 16 MiB"
	blkdiscard -o $((41 * MiB + 4096)) -l 8192 "$dev" || fail "$CASE: blkdiscard of 8 KiB"
	step "zeroed"
	zero_at "$dev" 0 $((16 * MiB))
	zero_at "$dev" $((24 * MiB)) $((16 * MiB))
	zero_at "$dev" $((41 * MiB + 4096)) 8192
	mib_same "$T/take.$(basename "$dev")" "$dev" "the origin outside the discarded ranges" 16-23 40 42-47
	image_check "$dev"
	image_recheck "$dev"
	release
}

case_discard_big() {
	tmpfs_loop 48M
	discard_case "$LOOP"
}

case_discard_chain() {
	local d
	modprobe sd_mod 2> /dev/null || true
	# Completions 100 us after submission, from a timer (the default,
	# a jiffy, makes every read of the disk slow under emulation).
	modprobe scsi_debug dev_size_mb=48 lbpu=1 lbprz=1 unmap_max_blocks=8 unmap_granularity=8 \
		ndelay=100000 ||
		skip "no scsi_debug module"
	on_exit "rmmod scsi_debug"
	wait_for 20 eval 'ls /sys/bus/pseudo/drivers/scsi_debug/adapter*/host*/target*/*/block 2> /dev/null | grep -q .' ||
		fail "$CASE: scsi_debug made no disk"
	d=/dev/$(ls /sys/bus/pseudo/drivers/scsi_debug/adapter*/host*/target*/*/block | grep -m 1 '^sd')
	wait_for 10 test -b "$d" || fail "$CASE: no $d"
	check_eq "$(cat "/sys/block/$(basename "$d")/queue/discard_max_bytes")" 4096 "$CASE: $d discard_max_bytes"
	discard_case "$d"
}

# ---- dm and md -----------------------------------------------------------

case_dm_linear() {
	local o dm=cs0396lin d
	nullb cs0396dm size=40 memory_backed=1
	o=/dev/$NULLB
	dmsetup create "$dm" --table "0 $((32 * 2048)) linear $o $((8 * 2048))" || fail "$CASE: dmsetup create"
	on_exit "dmsetup remove --retry $dm"
	# No udev here: the node is /dev/dm-N.
	d=/dev/$(dmsetup info -c -o blkdevname --noheadings "$dm")
	test -b "$d" || fail "$CASE: $d is not the block device of $dm"
	"$BLKSTAMP" fill "$o" --version 1 > /dev/null || fail "$CASE: filling $o"
	STAMPED=1
	take "$o"
	mix "$d" libaio 16 1 > "$T/mix.fio"
	run_fio "writes through dm-linear after the take" "$T/mix.fio"
	step "fio done"
	mix "$d" psync 1 1 verify_only=1 > "$T/verify.fio"
	run_fio "dm-linear re-read (verify_only)" "$T/verify.fio"
	image_check "$o"
	image_recheck "$o"
	release
}

case_md_raid1() {
	local a b md=/dev/md/cs0396
	nullb cs0396md0 size=32 memory_backed=1
	a=/dev/$NULLB
	nullb cs0396md1 size=32 memory_backed=1
	b=/dev/$NULLB
	mdadm --create "$md" --run --metadata=1.2 --level=1 --raid-devices=2 --assume-clean \
		"$a" "$b" > "$T/mdadm.out" 2>&1 || fail "$CASE: mdadm --create: $(cat "$T/mdadm.out")"
	on_exit "mdadm --stop $md > /dev/null 2>&1"
	wait_for 10 test -b "$md" || fail "$CASE: no block device $md"
	"$BLKSTAMP" fill "$md" --version 1 > /dev/null || fail "$CASE: filling $md"
	REF=image take "$a" "$b"
	mix "$md" libaio 16 1 > "$T/mix.fio"
	run_fio "writes through md raid1 after the take" "$T/mix.fio"
	step "fio done"
	mix "$md" psync 1 1 verify_only=1 > "$T/verify.fio"
	run_fio "md raid1 re-read (verify_only)" "$T/verify.fio"
	image_check "$a"
	image_check "$b"
	image_recheck "$a" "$b"
	release
}

# ---- the matrix ----------------------------------------------------------

# fio and its 60-odd libraries (80 MB) in tmpfs: otherwise every fio after
# a drop_caches re-reads them over 9p (8 s under emulation).
FIO=$T/fio
mkdir "$FIO"
cp -L "$(command -v fio)" $(ldd "$(command -v fio)" | awk '$3 ~ /^\// { print $3 }') "$FIO/"
fio() {
	LD_LIBRARY_PATH=$FIO "$FIO/fio" "$@"
}
digest_server
on_exit "rmmod null_blk 2> /dev/null || true"
SETUP_SECONDS=$SECONDS

run_case discard-big case_discard_big
run_case discard-chain case_discard_chain
run_case dm-linear case_dm_linear
run_case md-raid1 case_md_raid1
report
