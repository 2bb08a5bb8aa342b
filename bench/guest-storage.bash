# bench/guest-storage.bash: issue 12's "Speed": first writes and rewrites on
# a snapshotted ext4 volume with the set's storage in a file on that very
# volume (resident), beside storage on a separate device, in the same run.
# Sourced by bench/guest-bench (its helpers).
#
# ram0: the origin, ext4 (4 KiB blocks) holding a data file of DATA_MB,
# written once; ram1: the separate storage device.  Each repetition takes
# one set of each kind, in alternating order, each on its own fresh take:
#   dev   storage: ram1, whole
#   file  storage: DIR/store, fallocated, immutable, its extents given as
#         COWSNAP_STORAGE_F_IN_FILE ranges (what cowsnapd does for a
#         storage directory on the volume)
# and runs fio on the data file (O_DIRECT, psync; seq 1 MiB with 64 KiB
# chunks, rand 4 KiB with 4 KiB chunks): first writes, then rewrites.  The
# image's checksum is compared with the origin's at the take (frozen with
# fsfreeze; the storage file's sectors zeroed first, as the image shows them).

ST_MB=${COWSNAP_BENCH_STORAGE_MB:-192}
DATA_MB=$SIZE_MB
brd_load 2 "$ST_MB" || exit 2
modprobe ext4 2>/dev/null
mkfs.ext4 -q -F -b 4096 -E lazy_itable_init=0,lazy_journal_init=0 /dev/ram0 || exit 2
dd if=/dev/zero of=/dev/ram1 bs=1M oflag=direct status=none 2>/dev/null
SM=$W/storage-mnt
mkdir -p "$SM"
mount /dev/ram0 "$SM" || exit 2
dd if=/dev/urandom of="$SM/data" bs=1M count="$DATA_MB" oflag=direct status=none
sync
out storage_data_mb "$DATA_MB"

# Rewrites touch no storage (their chunks are copied): they run LOOPS
# passes over the data file, so that a run lasts seconds, not the 50-500 ms
# of one pass, which made their figures the noise of short runs.
LOOPS=${COWSNAP_BENCH_STORAGE_LOOPS:-8}
out storage_rewrite_loops "$LOOPS"

# fio_file RW BS [LOOPS]: fio on the data file; prints "<KiB/s> <IOPS>"
fio_file() {
	local rw=$1 bs=$2 loops=${3:-1} line
	line=$(fio --name=b --filename="$SM/data" --rw="$rw" --bs="$bs" --size=${DATA_MB}M \
		--loops="$loops" --direct=1 --ioengine=psync --randseed=1234 --randrepeat=1 \
		--output-format=terse --terse-version=3 2> "$W/fio.err" | tail -n 1)
	echo "$line" | awk -F';' '{ print $48, $49 }'
	[ -n "$line" ] || say "fio $rw $bs on $SM/data failed: $(head -n 3 "$W/fio.err")"
}

# extents FILE: "START LEN" of the extents that hold a chunk of 64 KiB
extents() {
	filefrag -v -b512 "$1" | awk -F: '$1 ~ /^ *[0-9]+$/ {
		split($3, p, /\.\./); n = p[2] - p[1] + 1; if (n >= 128) print p[1] + 0, n }'
}

# st_pass KIND PAT CHUNK RW BS REP
st_pass() {
	local kind=$1 pat=$2 chunk=$3 rw=$4 bs=$5 rep=$6 st len sha img
	s set-new --chunk-sectors "$chunk" || { say "set-new: $OUT"; return 1; }
	SET=${OUT%%$'\n'*}
	s add-volume "$SET" /dev/ram0 || { say "add-volume: $OUT"; return 1; }
	if [ "$kind" = dev ]; then
		s add-storage "$SET" /dev/ram1 0 $((ST_MB * 2048)) || { say "storage: $OUT"; return 1; }
	else
		fallocate -l $((ST_MB - DATA_MB - 40))M "$SM/store" || return 1
		sync
		chattr +i "$SM/store"
		extents "$SM/store" > "$W/store.ext"
		while read -r st len; do
			s add-storage "$SET" /dev/ram0 "$st" "$len" --in-file ||
				{ say "in-file storage: $OUT"; return 1; }
			# as the image shows them
			dd if=/dev/zero of=/dev/ram0 bs=1M seek="$((st * 512))" count="$((len * 512))" \
				oflag=direct,seek_bytes iflag=count_bytes status=none
		done < "$W/store.ext"
	fi
	fsfreeze -f "$SM"
	[ "$rep" = 1 ] && sha=$(dd if=/dev/ram0 bs=1M iflag=direct status=none | sha256sum)
	s take "$SET" --no-freeze
	fsfreeze -u "$SM"
	add "st_${kind}_${pat}_first" "$(fio_file "$rw" "$bs")"
	add "st_${kind}_${pat}_rewrite" "$(fio_file "$rw" "$bs" "$LOOPS")"
	if [ "$rep" = 1 ]; then
		img=$(image_of_set)
		if [ "$(dd if="$img" bs=1M iflag=direct status=none | sha256sum)" = "$sha" ]; then
			out "st_${kind}_${pat}_image_ok" 1
		else
			out "st_${kind}_${pat}_image_ok" 0
			say "storage $kind, $pat: the snapshot's content is WRONG after the writes"
		fi
	fi
	s destroy "$SET"
	if [ "$kind" = file ]; then
		chattr -i "$SM/store"
		rm -f "$SM/store"
	fi
}

have_st=0
if [ -d /sys/module/cowsnap ] || insmod "$KO" 2> "$W/insmod.err"; then
	# COWSNAP_STORAGE_F_IN_FILE on a volume of the set: refused by older modules
	have_st=1
fi
if [ "$have_st" = 1 ]; then
	sess_start
	# warm-up, untimed
	fio_file write 1M > /dev/null
	fio_file randwrite 4k > /dev/null
	for ((r = 1; r <= REPS; r++)); do
		for p in "seq 128 write 1M" "rand 8 randwrite 4k"; do
			set -- $p
			if [ $((r % 2)) = 1 ]; then order="dev file"; else order="file dev"; fi
			for kind in $order; do
				st_pass "$kind" "$1" "$2" "$3" "$4" "$r" || have_st=0
			done
		done
	done
	sess_stop
fi
report st_dev_seq_first st_dev_seq_rewrite st_file_seq_first st_file_seq_rewrite \
	st_dev_rand_first st_dev_rand_rewrite st_file_rand_first st_file_rand_rewrite
umount "$SM"
rmmod cowsnap 2>/dev/null
