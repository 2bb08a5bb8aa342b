# bench/guest-io.bash: issue 3 ("Speed" of the provider): fio writes and reads on
# brd RAM disks without a snapshot, with cowsnap and with dm-snapshot, take
# latency and kernel memory.  Sourced by bench/guest-bench (its helpers).

# ---- set up ----
brd_load 20 "$SIZE_MB" || exit 2
modprobe dm-snapshot || exit 2
for d in 0 1 2 19; do
	dd if=/dev/zero of=/dev/ram$d bs=1M oflag=direct status=none 2>/dev/null
done
out size_mb "$SIZE_MB"
out reps "$REPS"
out seq_chunk_kib $((SEQ_CHUNK / 2))
out rand_chunk_kib $((RAND_CHUNK / 2))
randomize_origin
# Warm-up: every pattern once, untimed.
for p in "write 1M" "randwrite 4k" "read 1M" "randread 4k"; do
	fio_run /dev/ram0 $p > /dev/null
done

# ---- no snapshot ----
# (write baselines are also run right before each snapshot's first writes,
# so that the host's load, which varies, weighs on both sides alike)
for ((r = 1; r <= REPS; r++)); do
	add base_read_seq "$(fio_run /dev/ram0 read 1M)"
	add base_read_rand "$(fio_run /dev/ram0 randread 4k)"
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
# for ram0, else a slice of ram19 each; the id in $SET.
snap_set() {
	local chunk=$1 i=0 v
	shift
	s set-new --chunk-sectors "$chunk" || return 1
	SET=${OUT%%$'\n'*}
	for v in "$@"; do
		s add-volume "$SET" "$v" || return 1
		if [ "$v" = /dev/ram0 ]; then
			s add-storage "$SET" /dev/ram1 0 "$SECTORS" || return 1
		else
			s add-storage "$SET" /dev/ram19 $((i * SECTORS / 16)) $((SECTORS / 16)) || return 1
		fi
		i=$((i + 1))
	done
}
used_bytes() { echo $(( $("$NLCTL" get "$SET" | sed -n 's/.* storage_used=\([0-9]*\).*/\1/p') * 512 )); }

# cs_pass PAT CHUNK RW BS REP: a fresh set, first writes, rewrites.
cs_pass() {
	local pat=$1 chunk=$2 rw=$3 bs=$4 rep=$5 m0 m1
	add "base_${pat}" "$(fio_run /dev/ram0 "$rw" "$bs")"
	[ "$rep" = 1 ] && randomize_origin
	m0=$(meminfo)
	snap_set "$chunk" /dev/ram0 && s take "$SET" || { say "cowsnap set failed: $OUT"; return 1; }
	add "cs_${pat}_first" "$(fio_run /dev/ram0 "$rw" "$bs")"
	if [ "$rep" = 1 ]; then
		m1=$(meminfo)
		out "cs_${pat}_copied_bytes" "$(used_bytes)"
		out "cs_${pat}_mem_kib" $(( ${m1% *} - ${m0% *} ))
	fi
	add "cs_${pat}_rewrite" "$(fio_run /dev/ram0 "$rw" "$bs")"
	[ "$rep" = 1 ] && check_image "cs_${pat}" "$(image_of_set)"
	s destroy "$SET"
}

if [ "$have_cowsnap" = 1 ]; then
	sess_start
	for ((r = 1; r <= REPS; r++)); do
		cs_pass seq $SEQ_CHUNK write 1M "$r"
		cs_pass rand $RAND_CHUNK randwrite 4k "$r"
	done
	report cs_seq_first cs_seq_rewrite cs_rand_first cs_rand_rewrite
	# Reads of the image, no chunk copied.
	if snap_set $SEQ_CHUNK /dev/ram0 && s take "$SET"; then
		img=$(image_of_set)
		for i in $(seq 50); do [ -b "$img" ] && break; sleep 0.1; done
		fio_run "$img" read 1M > /dev/null
		fio_run "$img" randread 4k > /dev/null
		for ((r = 1; r <= REPS; r++)); do
			add cs_read_seq "$(fio_run "$img" read 1M)"
			add cs_read_rand "$(fio_run "$img" randread 4k)"
		done
		s destroy "$SET"
	else
		say "cowsnap read set failed: $OUT"
	fi
	report cs_read_seq cs_read_rand
	# Take latency: 1, 4, 16 volumes, five takes each, the median.
	for n in 1 4 16; do
		vols=()
		for ((i = 0; i < n; i++)); do vols+=(/dev/ram$((3 + i))); done
		ts=()
		for rep in 1 2 3 4 5; do
			if snap_set $SEQ_CHUNK "${vols[@]}"; then
				t0=$(ms_now)
				s take "$SET" && ts+=($(( $(ms_now) - t0 )))
				s destroy "$SET"
			fi
		done
		if [ "${#ts[@]}" -gt 0 ]; then
			out "cs_take_${n}_ms" "$(median "${ts[*]}")"
			say "take of $n volumes: ${ts[*]} ms"
		else
			out "cs_take_${n}_ms" n/a
		fi
	done
	sess_stop
else
	report cs_seq_first cs_seq_rewrite cs_rand_first cs_rand_rewrite cs_read_seq cs_read_rand
	for k in cs_take_1_ms cs_take_4_ms cs_take_16_ms cs_seq_mem_kib cs_rand_mem_kib; do
		out "$k" n/a
	done
fi
rmmod cowsnap 2>/dev/null

# ---- dm-snapshot, transient exception store ----
# dm_pass PAT CHUNK RW BS REP
dm_pass() {
	local pat=$1 chunk=$2 rw=$3 bs=$4 rep=$5 o st used m0 m1
	add "base_${pat}" "$(fio_run /dev/ram0 "$rw" "$bs")"
	[ "$rep" = 1 ] && randomize_origin
	dd if=/dev/zero of="$COW" bs=1M count=1 oflag=direct status=none
	dmsetup create bench-snap --table "0 $SECTORS snapshot /dev/ram0 $COW N $chunk" || return 1
	dmsetup create bench-origin --table "0 $SECTORS snapshot-origin /dev/ram0" || {
		dmsetup remove bench-snap
		return 1
	}
	# As LVM does: the origin's resume learns the snapshot's chunk size
	# (without it, a 1 MiB write is copied for its first chunk only and
	# the snapshot is silently wrong).
	dmsetup suspend bench-origin && dmsetup resume bench-origin || return 1
	o=/dev/$(dmsetup info -c -o blkdevname --noheadings bench-origin)
	m0=$(meminfo)
	add "dmN_${pat}_first" "$(fio_run "$o" "$rw" "$bs")"
	if [ "$rep" = 1 ]; then
		m1=$(meminfo)
		out "dmN_${pat}_mem_kib" $(( ${m1% *} - ${m0% *} ))
		st=$(dmsetup status bench-snap)
		say "dm-snapshot chunk $chunk after first writes: $st"
		# "<used>/<total> <metadata>" in sectors
		used=$(echo "$st" | awk '{ split($4, a, "/"); print a[1] }')
		[[ $used =~ ^[0-9]+$ ]] && out "dmN_${pat}_copied_bytes" $((used * 512)) ||
			out "dmN_${pat}_copied_bytes" n/a
	fi
	add "dmN_${pat}_rewrite" "$(fio_run "$o" "$rw" "$bs")"
	[ "$rep" = 1 ] && check_image "dmN_${pat}" "/dev/$(dmsetup info -c -o blkdevname --noheadings bench-snap)"
	dmsetup remove bench-snap
	dmsetup remove bench-origin
}
# The exception store: ram2 + ram19, room for a full copy and more.
dmsetup create bench-cow --table "0 $SECTORS linear /dev/ram2 0
$SECTORS $SECTORS linear /dev/ram19 0" || exit 2
COW=/dev/$(dmsetup info -c -o blkdevname --noheadings bench-cow)
for ((r = 1; r <= REPS; r++)); do
	dm_pass seq $SEQ_CHUNK write 1M "$r"
	dm_pass rand $RAND_CHUNK randwrite 4k "$r"
done
report dmN_seq_first dmN_seq_rewrite dmN_rand_first dmN_rand_rewrite base_seq base_rand
dmsetup remove bench-cow
