# tests/vm/03-io-matrix.bash: the method of issue 10's real-world I/O
# matrix (0395 raw devices, 0396 a loop device and filesystems, 0397
# discards, dm and md), sourced after lib.sh and 03-helpers.bash.  Not a
# test itself (the runner takes [0-9]*.sh only).
#
# What servers do on a snapshotted origin, checked by content with
# verifiers that are not the project's own: fio's crc32c verify (fio exits
# 0 with err=0 in every job: every write acknowledged; it reads back what
# it wrote; a second pass, verify_only with O_DIRECT, re-reads the origin),
# sha256sum of files, fsck, cmp with /dev/zero, and a CRC-32 per MiB of a
# whole device read with O_DIRECT (python).  A case fills its origin,
# takes a set (the origin as volume, a range of $STORE as storage, 64 KiB
# chunks), runs the I/O, and checks the origin has what was written and
# the image reads as at the take (twice, the second time after
# drop_caches), its set TAKEN with chunks copied.  Each case runs in a
# subshell with its own cleanups, so that all run and report (a summary
# at the end); the test fails if any case failed.  A fio that does not
# finish within $FIO_LIMIT seconds is killed and fails its case.
#
#   matrix_start       after the test's devices and the module: fio in
#                      tmpfs, the digest server; call before the cases
#   run_case NAME FN [ARG...]   run case NAME (FN ARG...); COWSNAP_CASES
#                      (names, space-separated) runs only those
#   report             the outcomes; fails if any case failed
#   mix FILE ENGINE IODEPTH DIRECT [OPTION...]
#                      fio's job file of the mix (below) on FILE
#   fio_case DEV ENGINE IODEPTH DIRECT [OPTION...]
#                      a whole raw case on DEV with that mix
#   run_fio WHAT JOBFILE   fio must succeed, every job err=0, in time
#   take VOL...        a set of the volumes, taken; images in IMG[VOL]
#   image_check VOL    after the I/O: the image as at the take, chunks copied
#   image_recheck VOL...   again, after drop_caches
#   release            destroy the set, end the session
#   digests DEV        "MIB CRC32" per MiB of DEV
#   nullb NAME ATTR=VALUE...   a null_blk disk through configfs: $NULLB
#   tmpfs_loop SIZE    a loop device over a tmpfs file: $LOOP
#   step WHAT          a note with the time into the case
#
# The mix: random 4k, sequential 64k, 1M and 96k (across chunk edges)
# writes, all at once, 9.5 MiB in the first 12.5 MiB of the device
# (divided by MIX_DIV).

type -P fio > /dev/null || skip "no fio"
MiB=$((1024 * 1024))
FIO_LIMIT=120

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

step() {
	note "$CASE: $* (${SECONDS}s)"
}

# inflight DEV...: "dev: reads writes" in flight, for a failure message.
inflight() {
	local d n
	for d; do
		n=$(basename "$(readlink -f "$d")")
		[ -r "/sys/class/block/$n/inflight" ] || continue
		printf '%s in flight: %s; ' "$n" "$(tr -s ' ' < "/sys/class/block/$n/inflight" | sed 's/^ //')"
	done
}

run_fio() {
	local out=$T/fio.out rc=0 pid wd done= devs
	devs=$(sed -n 's/^filename=//p' "$2")
	fio --output="$out" "$2" > "$out.stderr" 2>&1 &
	pid=$!
	sleep "$FIO_LIMIT" > /dev/null 2>&1 &
	wd=$!
	wait -n -p done "$pid" "$wd" && rc=0 || rc=$?
	if [ "$done" != "$pid" ]; then
		fail "$CASE: $1: fio did not finish within ${FIO_LIMIT}s (I/O that never completes?): $(
			inflight $devs)fio in $(cat "/proc/$pid/wchan" 2> /dev/null || echo ?); $(
			kill -9 "$pid" 2> /dev/null || true
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

tmpfs_loop() {
	local f
	f=$(mktemp "$T/loop.XXXXXX")
	truncate -s "$1" "$f"
	LOOP=$(losetup --find --show "$f") || fail "$CASE: losetup $f"
	on_exit "losetup -d $LOOP; rm -f $f"
}

# A case's output is shown as it comes, prefixed with its name; the
# outcome goes to CASES and FAILED.
CASES=() FAILED=()
run_case() {
	local name=$1 rc t0=$SECONDS log=$T/case.$1 why
	shift
	if [ -n "${COWSNAP_CASES:-}" ] && [[ " $COWSNAP_CASES " != *" $name "* ]]; then
		CASES+=("$name: not run (COWSNAP_CASES)")
		return 0
	fi
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

report() {
	local c
	note "cases (setup ${SETUP_SECONDS}s, all ${SECONDS}s):"
	for c in "${CASES[@]}"; do
		note "  $c"
	done
	[ ${#FAILED[@]} = 0 ] || fail "${#FAILED[@]} of ${#CASES[@]} cases failed: ${FAILED[*]}"
}

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
size=$((2048 / d))k
[seq64k]
rw=write
bs=64k
offset=3m
size=$((2048 / d))k
[seq1m]
rw=write
bs=1m
offset=6m
size=$((4096 / d))k
[seq96k]
rw=write
bs=96k
offset=11m
size=$((1536 / d))k
EOF
}

fio_case() {
	local dev=$1 engine=$2 depth=$3 direct=$4 w
	shift 4
	test -b "$dev" || fail "$CASE: $dev is not a block device"
	"$BLKSTAMP" fill "$dev" --version 1 > /dev/null || fail "$CASE: filling $dev"
	STAMPED=1
	take "$dev"
	step "taken"
	mix "$dev" "$engine" "$depth" "$direct" "$@" > "$T/mix.fio"
	run_fio "writes after the take ($engine, iodepth $depth, direct=$direct${*:+, $*})" "$T/mix.fio"
	w=$(sed -n 's/.*WRITE: .*io=\([0-9.]*\)\(KiB\|MiB\).*/\1 \2/p' "$T/fio.out")
	step "fio wrote $w of $((9728 / ${MIX_DIV:-1})) KiB"
	# O_DIRECT reads bypass the page cache (after writing back what it
	# holds); psync: the offsets and data do not depend on the engine.
	mix "$dev" psync 1 1 verify_only=1 > "$T/verify.fio"
	run_fio "the origin re-read with O_DIRECT (verify_only)" "$T/verify.fio"
	image_check "$dev"
	image_recheck "$dev"
	release
}

matrix_start() {
	# fio and its 60-odd libraries (80 MB) in tmpfs: otherwise every fio
	# after a drop_caches re-reads them over 9p (8 s under emulation).
	FIO=$T/fio
	mkdir "$FIO"
	cp -L "$(type -P fio)" $(ldd "$(type -P fio)" | awk '$3 ~ /^\// { print $3 }') "$FIO/"
	digest_server
	on_exit "rmmod null_blk 2> /dev/null || true"
	SETUP_SECONDS=$SECONDS
}

fio() {
	LD_LIBRARY_PATH=$FIO "$FIO/fio" "$@"
}
