# bench/guest-iwrite.bash: issue 15's "Speed": writes to a writable image
# beside writes to the origin with no snapshot.  Sourced by bench/guest-bench
# (its helpers: fio_run, add, report, brd_load).
#
# cowsnapd with a brd RAM disk as storage (ram1, twice the volume); the
# volume is ram0 (SIZE_MB MiB, random bytes, raw).  Per repetition: fio on
# the origin with no snapshot (seq 1 MiB, then rand 4 KiB); then a writable
# set (64 KiB chunks) and fio on its image: first writes (every chunk is
# copied from the origin into the set's storage before the write lands
# there), then the same pass again (rewrites: the chunks have their slots);
# the origin is checked unchanged by the image writes (sha256), the set
# deleted.
#   iw_<origin|first|re>_<seq|rand>_bw/_iops  medians (KiB/s, IOPS)
#   iw_origin_ok   1 when no image write ever reached the origin
IW_SOCK=/run/cowsnap/cowsnapd.sock
IW_PID=

brd_load 2 $((SIZE_MB * 2)) || exit 2
conf=$W/iw-conf
mkdir -p "$conf"
printf 'set-size %dM\ndevice /dev/ram1\n' $((SIZE_MB * 2 - 8)) > "$conf/storage.conf"
[ -d /sys/module/cowsnap ] || insmod "$KO" 2> "$W/insmod.err"
"$TOP/daemon/cowsnapd" -f --module "$KO" --config-dir "$conf" > "$W/iw-cowsnapd.log" 2>&1 &
IW_PID=$!
for _ in $(seq 100); do
	[ -S "$IW_SOCK" ] && break
	sleep 0.1
done
SNAPCTL=$TOP/tools/snapctl
iw_ok=1

if [ -S "$IW_SOCK" ]; then
	dd if=/dev/urandom of=/dev/ram0 bs=1M count="$SIZE_MB" oflag=direct status=none
	for ((r = 0; r <= REPS; r++)); do	# r = 0: warm-up, not counted
		for p in "seq write 1M" "rand randwrite 4k"; do
			set -- $p
			o=$(fio_run /dev/ram0 "$2" "$3")
			[ "$r" = 0 ] || add "iw_origin_$1" "$o"
			sha=$(sha256sum < /dev/ram0)
			o=$("$SNAPCTL" create --writable --no-writers --chunk-size 64K /dev/ram0 2>&1) ||
				{ say "create --writable: $o"; iw_ok=0; continue; }
			set_id=$(echo "$o" | sed -n 1p)
			img=$(echo "$o" | sed -n 2p | awk '{ print $2 }')
			o=$(fio_run "$img" "$2" "$3")
			[ "$r" = 0 ] || add "iw_first_$1" "$o"
			o=$(fio_run "$img" "$2" "$3")
			[ "$r" = 0 ] || add "iw_re_$1" "$o"
			if [ "$(sha256sum < /dev/ram0)" != "$sha" ]; then
				say "the origin changed under writes to the image of set $set_id"
				iw_ok=0
			fi
			"$SNAPCTL" show "$set_id" | grep -q "state: *taken" ||
				say "set $set_id: $("$SNAPCTL" show "$set_id" | grep state)"
			"$SNAPCTL" delete "$set_id" > /dev/null
		done
	done
	report iw_origin_seq iw_first_seq iw_re_seq iw_origin_rand iw_first_rand iw_re_rand
else
	say "cowsnapd did not start: $(tail -n 5 "$W/iw-cowsnapd.log")"
	iw_ok=0
fi
out iw_origin_ok "$iw_ok"
kill "$IW_PID" 2>/dev/null
wait "$IW_PID" 2>/dev/null
rmmod cowsnap 2>/dev/null
