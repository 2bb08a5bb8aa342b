# bench/guest-io.bash: issue 3 ("Speed" of the provider) and issue 16's
# targets: fio writes and reads on brd RAM disks without a snapshot, with
# cowsnap and with dm-snapshot, and through dm-linear (the floor of one more
# block device); writes to a volume still tracked after its
# snapshot was destroyed; write latency (clat p50/p99) on brd and on a
# null_blk disk with latency; take latency and kernel memory.  Sourced by
# bench/guest-bench (its helpers; the sizes are described there).
IO_MB=${COWSNAP_BENCH_IO_MB:-1024}
IO_SEQ_MB=${COWSNAP_BENCH_SEQ_MB:-$IO_MB}
IO_RAND_MB=${COWSNAP_BENCH_RAND_MB:-512}
IO_SECTORS=$((IO_MB * 2048))
WLAT_NS=${COWSNAP_BENCH_WLAT_NS:-100000}
LT_SEQ_MB=${COWSNAP_BENCH_LT_SEQ_MB:-256}
LT_RAND_MB=${COWSNAP_BENCH_LT_RAND_MB:-16}
ORIGIN=/dev/ram0

# io_run DEV PAT [SEQ_MB RAND_MB]: one timed run of pattern PAT (seq: 1 MiB
# sequential writes, rand: 4 KiB random writes, seq_read, rand_read) over
# the first $IO_MB MiB of DEV; I/O per run SEQ_MB (default $IO_SEQ_MB) or
# RAND_MB (default $IO_RAND_MB)
io_run() {
	local sq=${3:-$IO_SEQ_MB} rn=${4:-$IO_RAND_MB}
	case $2 in
	seq) fio_run "$1" write 1M "$IO_MB" "$sq" ;;
	rand) fio_run "$1" randwrite 4k "$IO_MB" "$rn" ;;
	seq_read) fio_run "$1" read 1M "$IO_MB" "$sq" ;;
	rand_read) fio_run "$1" randread 4k "$IO_MB" "$rn" ;;
	esac
}
chunk_of() { [ "$1" = seq ] && echo $SEQ_CHUNK || echo $RAND_CHUNK; }
# kib_per_gib KIB BYTES: KiB of memory per GiB copied, or nothing
kib_per_gib() {
	[ "${2:-0}" -gt 0 ] 2>/dev/null || return 0
	awk -v k="$1" -v b="$2" 'BEGIN { printf "%.0f", k * 1073741824 / b }'
}
declare -A MEM

# ---- set up ----
brd_load 20 "$IO_MB" || exit 2
modprobe dm-snapshot || exit 2
for d in 0 1 2 19; do
	dd if=/dev/zero of=/dev/ram$d bs=1M oflag=direct status=none 2>/dev/null
done
out size_mb "$SIZE_MB"
out io_mb "$IO_MB"
out io_seq_mb "$IO_SEQ_MB"
out io_rand_mb "$IO_RAND_MB"
out reps "$REPS"
out seq_chunk_kib $((SEQ_CHUNK / 2))
out rand_chunk_kib $((RAND_CHUNK / 2))
# randomize_origin and check_image (guest-bench) cover $SIZE_MB: the io
# origin is bigger
SIZE_MB=$IO_MB randomize_origin
# Warm-up: every pattern once, untimed, 64 MiB each.
for p in "write 1M" "randwrite 4k" "read 1M" "randread 4k"; do
	fio_run /dev/ram0 $p "$IO_MB" 64 > /dev/null
done

# ---- no snapshot ----
stamp "set-up done"
# (write baselines are also run right before each snapshot's first writes,
# so that the host's load, which varies, weighs on both sides alike)
for ((r = 1; r <= REPS; r++)); do
	add base_read_seq "$(io_run /dev/ram0 seq_read)"
	add base_read_rand "$(io_run /dev/ram0 rand_read)"
done
report base_read_seq base_read_rand

# ---- cowsnap ----
have_cowsnap=0
if insmod "$KO" 2> "$W/insmod.err"; then
	ops=$("$NLCTL" ops)
	if grep -qx SET_TAKE <<< "$ops" && grep -qx SET_ADD_STORAGE <<< "$ops"; then
		have_cowsnap=1
	else
		say "the module implements only: $(echo $ops)"
	fi
else
	say "insmod failed: $(cat "$W/insmod.err")"
fi

# snap_set CHUNK VOL... : a defined set over the volumes, storage on ram1
# for $ORIGIN, else a slice of ram19 each; the id in $SET.
snap_set() {
	local chunk=$1 i=0 v
	shift
	s set-new --chunk-sectors "$chunk" || return 1
	SET=${OUT%%$'\n'*}
	for v in "$@"; do
		s add-volume "$SET" "$v" || return 1
		if [ "$v" = "$ORIGIN" ]; then
			s add-storage "$SET" /dev/ram1 0 "$IO_SECTORS" || return 1
		else
			s add-storage "$SET" /dev/ram19 $((i * IO_SECTORS / 16)) $((IO_SECTORS / 16)) || return 1
		fi
		i=$((i + 1))
	done
}
used_bytes() { echo $(( $("$NLCTL" get "$SET" | sed -n 's/.* storage_used=\([0-9]*\).*/\1/p') * 512 )); }

# copies_drain: wait (30 s at most) until the copies that the first writes
# left in memory (cow_buffer_used_kb) are on storage; prints the seconds
# waited, to a tenth.  The rewrites are timed after it, alone.
copies_drain() {
	local p=/sys/module/cowsnap/parameters/cow_buffer_used_kb i d t0=${EPOCHREALTIME//[.,]/}
	for ((i = 0; i < 300; i++)); do
		[ "$(cat "$p" 2> /dev/null || echo 0)" = 0 ] && break
		sleep 0.1
	done
	d=$(( (${EPOCHREALTIME//[.,]/} - t0) / 100000 ))
	echo "$((d / 10)).$((d % 10))"
}
declare -A DRAIN

# cs_pass PAT REP: a fresh set over ram0, taken; first writes, rewrites
# (the same offsets again: every chunk copied); the set destroyed with the
# volume kept tracked (TRACK), writes again (tracked, no live snapshot).
# Kernel memory: the take (a live snapshot, nothing copied yet) and the
# first writes (per GiB copied).
cs_pass() {
	local pat=$1 rep=$2 m0 mt m1 used
	add "base_${pat}" "$(io_run /dev/ram0 "$pat")"
	[ "$rep" = 1 ] && SIZE_MB=$IO_MB randomize_origin
	m0=$(meminfo)
	snap_set "$(chunk_of "$pat")" /dev/ram0 && s take "$SET" || { say "cowsnap set failed: $OUT"; return 1; }
	mt=$(meminfo)
	MEM[cs_${pat}_snap]+="$(( ${mt% *} - ${m0% *} )) "
	s track /dev/ram0 || say "track /dev/ram0: $OUT"
	add "cs_${pat}_first" "$(io_run /dev/ram0 "$pat")"
	m1=$(meminfo)
	used=$(used_bytes)
	MEM[cs_${pat}_gib]+="$(kib_per_gib $(( ${m1% *} - ${mt% *} )) "$used") "
	[ "$rep" = 1 ] && out "cs_${pat}_copied_bytes" "$used"
	DRAIN[$pat]+="$(copies_drain) "
	add "cs_${pat}_rewrite" "$(io_run /dev/ram0 "$pat")"
	[ "$rep" = 1 ] && check_image "cs_${pat}" "$(image_of_set)"
	s destroy "$SET"
	if [ "$rep" = 1 ]; then
		"$NLCTL" volume-get /dev/ram0 > "$W/vol.txt" 2>&1
		say "after the destroy: $(cat "$W/vol.txt")"
	fi
	add "cs_${pat}_tracked" "$(io_run /dev/ram0 "$pat")"
	s untrack /dev/ram0 || say "untrack /dev/ram0: $OUT"
}

# cs_mem KEY MB: one set with 4 KiB chunks, MB MiB of random 4 KiB writes
# spread over the whole origin ($IO_MB: each block once, all of it copied,
# the sparse map at its largest; 128: one chunk in eight copied, the
# sparsest map per byte copied, the issue's worst case).  Kernel memory per
# GiB copied (KEY_mem_per_gib_kib), the taken set's (KEY_snap_kib) and what
# is left after the destroy (KEY_left_kib).  The rand passes above copy
# $IO_RAND_MB MiB.
cs_mem() {
	local key=$1 mb=$2 m0 mt m1 m2 used
	m0=$(meminfo)
	snap_set $RAND_CHUNK /dev/ram0 && s take "$SET" || { say "cowsnap set failed: $OUT"; return 1; }
	mt=$(meminfo)
	fio_run /dev/ram0 randwrite 4k "$IO_MB" "$mb" > /dev/null
	m1=$(meminfo)
	used=$(used_bytes)
	s destroy "$SET"
	m2=$(meminfo)
	out "${key}_copied_bytes" "$used"
	out "${key}_snap_kib" $(( ${mt% *} - ${m0% *} ))
	out "${key}_mem_per_gib_kib" "$(kib_per_gib $(( ${m1% *} - ${mt% *} )) "$used")"
	out "${key}_left_kib" $(( ${m2% *} - ${m0% *} ))
	say "$key: $mb MiB of random writes, $used bytes copied; Slab+VmallocUsed ${m0% *} -> ${mt% *} (taken) -> ${m1% *} (written) -> ${m2% *} KiB (destroyed)"
}
report_mem() { # KEY...: median, min, max of MEM[KEY]
	local k
	for k in "$@"; do
		if [ -n "${MEM[$k]:-}" ]; then
			spread "${k}_kib" "${MEM[$k]}"
		else
			out "${k}_kib" n/a
		fi
	done
}

if [ "$have_cowsnap" = 1 ]; then
	stamp "cowsnap writes"
	sess_start
	for ((r = 1; r <= REPS; r++)); do
		cs_pass seq "$r"
		cs_pass rand "$r"
	done
	report cs_seq_first cs_seq_rewrite cs_seq_tracked cs_rand_first cs_rand_rewrite cs_rand_tracked
	spread cs_seq_drain_s "${DRAIN[seq]}"
	spread cs_rand_drain_s "${DRAIN[rand]}"
	report_mem cs_seq_snap cs_seq_gib cs_rand_snap cs_rand_gib
	stamp "cowsnap full random pass"
	cs_mem cs_full "$IO_MB"
	cs_mem cs_sparse 128
	stamp "cowsnap image reads"
	# Reads of the image, no chunk copied.
	if snap_set $SEQ_CHUNK /dev/ram0 && s take "$SET"; then
		img=$(image_of_set)
		for i in $(seq 50); do [ -b "$img" ] && break; sleep 0.1; done
		fio_run "$img" read 1M "$IO_MB" 64 > /dev/null
		fio_run "$img" randread 4k "$IO_MB" 64 > /dev/null
		# in turn with the origin's own reads, now (the hook attached):
		# runs minutes apart differ by more than the image costs
		for ((r = 1; r <= REPS; r++)); do
			add cs_read_origin_seq "$(io_run /dev/ram0 seq_read)"
			add cs_read_seq "$(io_run "$img" seq_read)"
			add cs_read_origin_rand "$(io_run /dev/ram0 rand_read)"
			add cs_read_rand "$(io_run "$img" rand_read)"
		done
		s destroy "$SET"
	else
		say "cowsnap read set failed: $OUT"
	fi
	report cs_read_origin_seq cs_read_seq cs_read_origin_rand cs_read_rand
	stamp "take latency"
	# Take latency: 1, 4, 16 volumes, five takes each, the median: the
	# round trip of SET_TAKE in the session, timed with the shell's own
	# clock ($EPOCHREALTIME; a date process on each side would add its
	# start-up, tens of ms under emulation), in ms to a tenth.
	for n in 1 4 16; do
		vols=()
		for ((i = 0; i < n; i++)); do vols+=(/dev/ram$((3 + i))); done
		ts=()
		for rep in 1 2 3 4 5; do
			if snap_set $SEQ_CHUNK "${vols[@]}"; then
				t0=${EPOCHREALTIME//[.,]/}
				if s take "$SET"; then
					t1=${EPOCHREALTIME//[.,]/}
					d=$(( (t1 - t0) / 100 ))
					ts+=("$((d / 10)).$((d % 10))")
				fi
				s destroy "$SET"
			fi
		done
		if [ "${#ts[@]}" -gt 0 ]; then
			spread "cs_take_${n}_ms" "${ts[*]}"
			say "take of $n volumes: ${ts[*]} ms"
		else
			out "cs_take_${n}_ms" n/a
		fi
	done
	sess_stop
else
	report cs_seq_first cs_seq_rewrite cs_seq_tracked cs_rand_first cs_rand_rewrite cs_rand_tracked cs_read_origin_seq cs_read_seq cs_read_origin_rand cs_read_rand
	for k in cs_take_1_ms cs_take_4_ms cs_take_16_ms cs_seq_snap_kib cs_seq_gib_kib cs_rand_snap_kib cs_rand_gib_kib cs_full_mem_per_gib_kib cs_sparse_mem_per_gib_kib; do
		out "$k" n/a
	done
fi
rmmod cowsnap 2>/dev/null

# ---- dm-snapshot, transient exception store ----
# dm_pass PAT REP
dm_pass() {
	local pat=$1 rep=$2 chunk o st used m0 m1
	chunk=$(chunk_of "$pat")
	add "base_${pat}" "$(io_run /dev/ram0 "$pat")"
	[ "$rep" = 1 ] && SIZE_MB=$IO_MB randomize_origin
	dd if=/dev/zero of="$COW" bs=1M count=1 oflag=direct status=none
	dmsetup create bench-snap --table "0 $IO_SECTORS snapshot /dev/ram0 $COW N $chunk" || return 1
	dmsetup create bench-origin --table "0 $IO_SECTORS snapshot-origin /dev/ram0" || {
		dmsetup remove bench-snap
		return 1
	}
	# As LVM does: the origin's resume learns the snapshot's chunk size
	# (without it, a 1 MiB write is copied for its first chunk only and
	# the snapshot is silently wrong).
	dmsetup suspend bench-origin && dmsetup resume bench-origin || return 1
	o=/dev/$(dmsetup info -c -o blkdevname --noheadings bench-origin)
	m0=$(meminfo)
	add "dmN_${pat}_first" "$(io_run "$o" "$pat")"
	m1=$(meminfo)
	st=$(dmsetup status bench-snap)
	# "<used>/<total> <metadata>" in sectors
	used=$(echo "$st" | awk '{ split($4, a, "/"); print a[1] }')
	if [[ $used =~ ^[0-9]+$ ]]; then
		MEM[dmN_${pat}_gib]+="$(kib_per_gib $(( ${m1% *} - ${m0% *} )) $((used * 512))) "
		[ "$rep" = 1 ] && out "dmN_${pat}_copied_bytes" $((used * 512))
	fi
	[ "$rep" = 1 ] && say "dm-snapshot chunk $chunk after first writes: $st"
	add "dmN_${pat}_rewrite" "$(io_run "$o" "$pat")"
	[ "$rep" = 1 ] && check_image "dmN_${pat}" "/dev/$(dmsetup info -c -o blkdevname --noheadings bench-snap)"
	dmsetup remove bench-snap
	dmsetup remove bench-origin
}
stamp "dm-snapshot"
# The exception store: ram2 + ram19, room for a full copy and more.
dmsetup create bench-cow --table "0 $IO_SECTORS linear /dev/ram2 0
$IO_SECTORS $IO_SECTORS linear /dev/ram19 0" || exit 2
COW=/dev/$(dmsetup info -c -o blkdevname --noheadings bench-cow)
for ((r = 1; r <= REPS; r++)); do
	dm_pass seq "$r"
	dm_pass rand "$r"
done
report dmN_seq_first dmN_seq_rewrite dmN_rand_first dmN_rand_rewrite base_seq base_rand
report_mem dmN_seq_gib dmN_rand_gib
dmsetup remove bench-cow

# ---- dm-linear: the kernel's simplest stacked device over the origin ----
# What passing one more block device costs here, under emulation: dm-linear
# maps all of ram0 one to one; its reads and writes against ram0's own, in
# turn, each repetition.  The floor of image reads (an image is a bio-based
# device of its own in front of the origin), and a reference for the cost
# of the write filter, which is no device but passes each write once more.
stamp "dm-linear"
if dmsetup create bench-lin --table "0 $IO_SECTORS linear /dev/ram0 0"; then
	LIN=/dev/$(dmsetup info -c -o blkdevname --noheadings bench-lin)
	for ((r = 1; r <= REPS; r++)); do
		for p in seq_read rand_read seq rand; do
			add "lin_base_$p" "$(io_run /dev/ram0 "$p")"
			add "lin_$p" "$(io_run "$LIN" "$p")"
		done
	done
	report lin_base_seq_read lin_seq_read lin_base_rand_read lin_rand_read \
		lin_base_seq lin_seq lin_base_rand lin_rand
	dmsetup remove bench-lin
else
	say "dm-linear over ram0 failed"
fi

# ---- the remap floor: a disk that only remaps ----
# cs_remapfloor.ko (bench/hookfloor/remapfloor.c): a bio-based disk over
# ram0 whose submit_bio hands each bio to ram0 in place (no clone, no
# completion of its own).  What one more bio-based device costs at the
# least: the floor under an image's reads (and dm-linear's).  In turn with
# ram0's reads, each repetition.
stamp "remap floor"
REMAPFLOOR_KO=$(dirname "$KO")/hookfloor/cs_remapfloor.ko
if [ -f "$REMAPFLOOR_KO" ] && insmod "$REMAPFLOOR_KO" target="$(lsblk -dno MAJ:MIN /dev/ram0 | tr -d ' ')"; then
	udevadm settle 2> /dev/null
	for ((r = 1; r <= REPS; r++)); do
		for p in seq_read rand_read; do
			add "rf_base_$p" "$(io_run /dev/ram0 "$p")"
			add "rf_$p" "$(io_run /dev/csremap0 "$p")"
		done
	done
	report rf_base_seq_read rf_seq_read rf_base_rand_read rf_rand_read
	rmmod cs_remapfloor
else
	say "cs_remapfloor over ram0 failed"
fi

# ---- the interception alone: an empty hook ----
# cs_hookfloor.ko (bench/hookfloor/) hooks submit_bio_noacct() as cowsnap
# does (same ftrace flags) and does nothing but look at each bio's op: the
# floor under every path of the write filter.  Per repetition and pattern,
# in turn: no hook, the empty hook, for writes the counting floor (the same
# hook with count=1: a record per write from a slab cache, its end_io
# swapped, a shared in-flight count, what a take's drain needs of every
# write and nothing else), cowsnap with ram0 tracked (no set: the
# fast path of a write that needs no copy, and the hook a read passes).
# Writes also go to another disk, ram2, with no hook and while cowsnap
# tracks ram0 (what every other disk of the machine pays while a volume is
# tracked).  The two modules cannot hook at once (IPMODIFY): each is loaded
# for its run only.
HOOKFLOOR_KO=$(dirname "$KO")/hookfloor/cs_hookfloor.ko
stamp "empty hook"
if [ -f "$HOOKFLOOR_KO" ] && [ "$have_cowsnap" = 1 ]; then
	for ((r = 1; r <= REPS; r++)); do
		for p in rand rand_read seq; do
			add "hk_base_$p" "$(io_run /dev/ram0 "$p")"
			[ "$p" = rand_read ] || add "hk_ubase_$p" "$(io_run /dev/ram2 "$p")"
			if insmod "$HOOKFLOOR_KO"; then
				add "hk_floor_$p" "$(io_run /dev/ram0 "$p")"
				rmmod cs_hookfloor
			fi
			if [ "$p" != rand_read ] && insmod "$HOOKFLOOR_KO" count=1; then
				add "hk_cfloor_$p" "$(io_run /dev/ram0 "$p")"
				rmmod cs_hookfloor
			fi
			if insmod "$KO"; then
				if "$NLCTL" track /dev/ram0 > /dev/null; then
					add "hk_tracked_$p" "$(io_run /dev/ram0 "$p")"
					[ "$p" = rand_read ] ||
						add "hk_untracked_$p" "$(io_run /dev/ram2 "$p")"
					"$NLCTL" untrack /dev/ram0 > /dev/null
				fi
				rmmod cowsnap
			fi
		done
	done
	report hk_base_rand hk_floor_rand hk_cfloor_rand hk_tracked_rand hk_base_rand_read \
		hk_floor_rand_read hk_tracked_rand_read hk_base_seq hk_floor_seq hk_cfloor_seq hk_tracked_seq \
		hk_ubase_rand hk_untracked_rand hk_ubase_seq hk_untracked_seq
else
	say "no empty hook: $HOOKFLOOR_KO missing (make) or cowsnap not loaded"
fi

# ---- write latency on a device with latency ----
# A null_blk origin of $IO_MB MiB with memory, completing each request
# $WLAT_NS ns after it is queued; the set's storage on brd (ram1).  Per
# repetition and pattern: no snapshot, then a fresh set (taken): first
# writes, rewrites.  Fewer bytes per run than on brd (each request waits
# for the device): $LT_SEQ_MB MiB of 1 MiB writes, $LT_RAND_MB MiB of 4 KiB
# random writes.
lt_part() {
	local nb r pat
	out lt_lat_ns "$WLAT_NS"
	out lt_seq_mb "$LT_SEQ_MB"
	out lt_rand_mb "$LT_RAND_MB"
	brd_load 2 "$IO_MB" || return 1
	dd if=/dev/zero of=/dev/ram1 bs=1M oflag=direct status=none 2>/dev/null
	nb=$(nullb_up "$IO_MB" "$WLAT_NS") || { say "no null_blk disk with latency"; return 1; }
	# written once first: every measured write lands on allocated memory
	dd if=/dev/zero of="$nb" bs=1M oflag=direct status=none 2>/dev/null
	insmod "$KO" 2> "$W/insmod.err" || { say "insmod failed: $(cat "$W/insmod.err")"; return 1; }
	ORIGIN=$nb
	sess_start
	for pat in seq rand; do
		io_run "$nb" "$pat" 64 16 > /dev/null
	done
	for ((r = 1; r <= REPS; r++)); do
		for pat in seq rand; do
			add "lt_base_${pat}" "$(io_run "$nb" "$pat" "$LT_SEQ_MB" "$LT_RAND_MB")"
			snap_set "$(chunk_of "$pat")" "$nb" && s take "$SET" || { say "cowsnap set failed: $OUT"; continue; }
			add "lt_cs_${pat}_first" "$(io_run "$nb" "$pat" "$LT_SEQ_MB" "$LT_RAND_MB")"
			add "lt_cs_${pat}_rewrite" "$(io_run "$nb" "$pat" "$LT_SEQ_MB" "$LT_RAND_MB")"
			s destroy "$SET"
		done
	done
	sess_stop
	ORIGIN=/dev/ram0
}
stamp "null_blk latency pass"
if [ "$have_cowsnap" = 1 ]; then
	lt_part || say "the null_blk latency pass did not finish"
	rmmod cowsnap 2>/dev/null
	nullb_down
fi
report lt_base_seq lt_cs_seq_first lt_cs_seq_rewrite lt_base_rand lt_cs_rand_first lt_cs_rand_rewrite
stamp "io part done"
