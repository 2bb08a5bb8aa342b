# bench/guest-read.bash: issue 5 ("Speed" of snapread): in one run, on one
# cowsnap image device, snapread, dd and fio read it whole; the same reads
# on its origin; and fio on the image's untouched chunks against the same
# range of the origin.  Sourced by bench/guest-bench (its helpers).
#
# Two passes, each on an origin of $READ_MB MiB filled with random bytes,
# the set's storage on a brd RAM disk (ram1); medians of $READ_REPS:
#   rd  the origin a brd RAM disk (ram0), as the issue asks: every read
#       completes inside its submission, so a reader's speed is the CPU's
#       speed at copying (and checksumming) under emulation
#   lt  the origin a null_blk disk with memory behind it that completes each
#       request $LAT_NS ns after it was queued (a device with latency, where
#       requests in flight are what makes a reader fast)
# The image: a snapshot with 64 KiB chunks, taken, then one 1 MiB write in
# every fourth MiB of the origin's upper half, so that an eighth of its
# chunks are copied (read from the storage) and the lower half is untouched
# (read through to the origin).
#
# Readers, all O_DIRECT, 1 MiB requests (snapread's default), output to
# /dev/null:
#   snapread      its defaults (2 threads, queue depth 8, XXH64 checksum),
#                 and --no-checksum; the figure is its --json bytes / seconds
#   dd            bs=1M iflag=direct (synchronous, one request at a time);
#                 the figure is dd's own bytes / seconds
#   fio           --ioengine=libaio --direct=1 --rw=read at iodepth 1, 4,
#                 16, 32 (the best depth's median counts); on the untouched
#                 lower half (image and origin) at iodepth 1 and 16
# Per repetition every reader runs once on the image, then at once on the
# origin (so that the host's varying load weighs on both alike); the origin
# keeps its snapshot meanwhile (its reads pass cowsnap's hook, as they would
# during a backup).  The image's content is checked against the origin's
# checksum at the take.
# Also, in the first repetition only (time), on the image: snapread with
# other block sizes, queue depths and thread counts (checksum on), to see
# whether its defaults leave speed unused (one run each: a hint, not a
# figure).
READ_MB=${COWSNAP_BENCH_READ_MB:-512}
# reads of a RAM disk last a fraction of a second: more repetitions than the
# other parts
READ_REPS=${COWSNAP_BENCH_READ_REPS:-5}
LAT_NS=${COWSNAP_BENCH_LAT_NS:-1000000}
READ_DEPTHS="1 4 16 32"
LOW_DEPTHS="1 16"
# BLOCK:DEPTH:THREADS
READ_SWEEP="1M:8:1 1M:4:2 1M:16:2 1M:32:4 4M:8:2"
SNAPREAD=$TOP/tools/read/snapread

# rd_fio DEV DEPTH [OFFSET_MB SIZE_MB]: KiB/s of one sequential 1 MiB read
rd_fio() {
	local line
	line=$(fio --name=r --filename="$1" --rw=read --bs=1M --iodepth="$2" \
		--ioengine=libaio --direct=1 --offset="${3:-0}M" --size="${4:-$READ_MB}M" \
		--output-format=terse --terse-version=3 2> "$W/fio.err" | tail -n 1)
	[ -n "$line" ] || { say "fio libaio depth $2 on $1 failed: $(head -n 3 "$W/fio.err")" >&2; return 1; }
	echo "$line" | awk -F';' '{ print $7 }'
}
# rd_dd DEV: KiB/s from dd's own report ("N bytes (...) copied, S s, ...")
rd_dd() {
	LC_ALL=C dd if="$1" of=/dev/null bs=1M iflag=direct 2> "$W/dd.err" ||
		{ say "dd on $1 failed: $(cat "$W/dd.err")" >&2; return 1; }
	awk '/copied/ { for (i = 1; i < NF; i++) if ($i == "copied,") s = $(i + 1);
		if (s > 0) printf "%.0f\n", $1 / 1024 / s }' "$W/dd.err"
}
# rd_snapread DEV [OPTION...]: KiB/s from --json; the checksum in $W/sum
rd_snapread() {
	local dev=$1 j b sec
	shift
	rm -f "$W/sum"
	j=$("$SNAPREAD" --json "$@" "$dev" /dev/null 2> "$W/sr.err") ||
		{ say "snapread $* $dev failed: $(head -n 3 "$W/sr.err")" >&2; return 1; }
	b=$(echo "$j" | grep -o '"bytes_read": *[0-9]*' | grep -o '[0-9]*$')
	sec=$(echo "$j" | grep -o '"seconds": *[0-9.]*' | grep -o '[0-9.]*$')
	echo "$j" | grep -o '"checksum": *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/' > "$W/sum"
	awk -v b="$b" -v s="$sec" 'BEGIN { if (b > 0 && s > 0) printf "%.0f\n", b / 1024 / s }'
}
# rd_add KEY FIGURE: collect (one value per repetition) for report
rd_add() {
	[ -n "$2" ] || return 0
	BW[$1]+="$2 "
	IOPS[$1]+="0 "
	say "$1: $2 KiB/s"
}

# rd_one READER DEV: one reader's KiB/s on DEV
rd_one() {
	case $1 in
	snapread) rd_snapread "$2" ;;
	snapread_nosum) rd_snapread "$2" --no-checksum ;;
	dd) rd_dd "$2" ;;
	fio_qd*) rd_fio "$2" "${1#fio_qd}" ;;
	low_fio_qd*) rd_fio "$2" "${1#low_fio_qd}" 0 $((READ_MB / 2)) ;;
	esac
}

# read_pass P ORIGIN: one pass, keys prefixed P_
read_pass() {
	local P=$1 org=$2 img r sum0 sum_img p bs qd th i readers
	dd if=/dev/urandom of="$org" bs=1M count="$READ_MB" oflag=direct status=none
	# warm-up (code translation), and the origin's checksum at the take
	rd_snapread "$org" > /dev/null || return 1
	sum0=$(cat "$W/sum")
	rd_dd "$org" > /dev/null
	rd_fio "$org" 8 > /dev/null
	insmod "$KO" 2> "$W/insmod.err" || { say "insmod failed: $(cat "$W/insmod.err")"; return 1; }
	sess_start
	if ! { s set-new --chunk-sectors 128 && SET=${OUT%%$'\n'*} &&
		s add-volume "$SET" "$org" &&
		s add-storage "$SET" /dev/ram1 0 $((READ_MB * 2048)) &&
		s take "$SET"; }; then
		say "cowsnap set for the read bench failed: $OUT"
		sess_stop
		rmmod cowsnap 2>/dev/null
		return 1
	fi
	img=$(image_of_set)
	for i in $(seq 50); do [ -b "$img" ] && break; sleep 0.1; done
	for ((i = READ_MB / 2; i < READ_MB; i += 4)); do
		dd if=/dev/urandom of="$org" bs=1M count=1 seek="$i" oflag=direct \
			conv=notrunc status=none
	done
	out "${P}_copied_bytes" $(( $("$NLCTL" get "$SET" | sed -n 's/.* storage_used=\([0-9]*\).*/\1/p') * 512 ))
	rd_snapread "$img" > /dev/null
	rd_fio "$img" 8 > /dev/null
	readers="snapread snapread_nosum dd"
	for qd in $READ_DEPTHS; do readers+=" fio_qd$qd"; done
	for qd in $LOW_DEPTHS; do readers+=" low_fio_qd$qd"; done
	for ((r = 1; r <= READ_REPS; r++)); do
		for p in $readers; do
			rd_add "${P}_img_$p" "$(rd_one "$p" "$img")"
			if [ "$p" = snapread ]; then
				sum_img=$(cat "$W/sum")
				out "${P}_img_sum_ok_$r" "$([ "$sum_img" = "$sum0" ] && echo 1 || echo 0)"
			fi
			rd_add "${P}_org_$p" "$(rd_one "$p" "$org")"
		done
		[ "$r" = 1 ] || continue
		for p in $READ_SWEEP; do
			IFS=: read -r bs qd th <<< "$p"
			rd_add "${P}_img_snapread_b${bs}_d${qd}_t$th" \
				"$(rd_snapread "$img" -b "$bs" -d "$qd" -t "$th")"
		done
	done
	report "${P}_img_snapread" "${P}_org_snapread" "${P}_img_snapread_nosum" \
		"${P}_org_snapread_nosum" "${P}_img_dd" "${P}_org_dd"
	for qd in $READ_DEPTHS; do
		report "${P}_img_fio_qd$qd" "${P}_org_fio_qd$qd"
	done
	for qd in $LOW_DEPTHS; do
		report "${P}_img_low_fio_qd$qd" "${P}_org_low_fio_qd$qd"
	done
	for p in $READ_SWEEP; do
		IFS=: read -r bs qd th <<< "$p"
		report "${P}_img_snapread_b${bs}_d${qd}_t$th"
	done
	s destroy "$SET"
	sess_stop
	rmmod cowsnap 2>/dev/null
	return 0
}

read_part() {
	local nb
	out read_mb "$READ_MB"
	out read_reps "$READ_REPS"
	out read_lat_ns "$LAT_NS"
	out read_depths "${READ_DEPTHS// /,}"
	out read_low_depths "${LOW_DEPTHS// /,}"
	out read_sweep "${READ_SWEEP// /,}"
	[ -x "$SNAPREAD" ] || { say "no $SNAPREAD: run make"; return 1; }
	# RAM disks allocate what is written: ram1, the storage, gets the copied
	# eighth; the null_blk origin's memory is freed before ram0 fills.
	brd_load 2 "$READ_MB" || return 1
	if nb=$(nullb_up "$READ_MB" "$LAT_NS"); then
		read_pass lt "$nb" || say "the null_blk pass did not finish"
	else
		say "no null_blk disk with latency: its pass is skipped"
	fi
	nullb_down
	read_pass rd /dev/ram0 || say "the brd pass did not finish"
	return 0
}
read_part || say "the read part did not finish"
rmmod cowsnap 2>/dev/null
nullb_down
