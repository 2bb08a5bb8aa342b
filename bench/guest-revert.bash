# bench/guest-revert.bash: issue 15's "Speed": the time of `snapctl revert'
# against the number of chunks changed since the take, on two volume sizes,
# so that it shows whether it follows the change or the volume.  Sourced by
# bench/guest-bench (its helpers).
#
# cowsnapd with a brd RAM disk as storage (ram2); the volumes are ram0
# (RV_SMALL MiB) and ram1 (RV_LARGE MiB), random bytes, raw.  For each
# volume and each count N of 64 KiB chunks: a set is taken, N chunks spread
# over the volume are rewritten, `snapctl --json revert' is timed (wall
# time, the median of REPS), the origin is checked equal to the take
# (sha256), and the set deleted.
#   revert_<size>_<N>_ms   median wall time of the revert
#   revert_<size>_<N>_ok   1 when every revert brought the take back
RV_SMALL=64
RV_LARGE=256
RV_COUNTS="64 256 1024"
RV_SOCK=/run/cowsnap/cowsnapd.sock
RV_PID=

brd_load 3 "$RV_LARGE" || exit 2
conf=$W/rv-conf
mkdir -p "$conf"
printf 'set-size 128M\ndevice /dev/ram2\n' > "$conf/storage.conf"
[ -d /sys/module/cowsnap ] || insmod "$KO" 2> "$W/insmod.err"
"$TOP/daemon/cowsnapd" -f --module "$KO" --config-dir "$conf" > "$W/rv-cowsnapd.log" 2>&1 &
RV_PID=$!
for _ in $(seq 100); do
	[ -S "$RV_SOCK" ] && break
	sleep 0.1
done
SNAPCTL=$TOP/tools/snapctl

# rv_one DEV MIB N: one revert of N changed chunks; prints "<ms> <ok>"
rv_one() {
	local dev=$1 mib=$2 n=$3 o set take t0 t1 step ok=0
	o=$("$SNAPCTL" create --no-writers --chunk-size 64K "$dev" 2>&1) || { say "create: $o"; echo "n/a 0"; return; }
	set=$(echo "$o" | sed -n 1p)
	take=$(sha256sum < "$dev")
	step=$((mib * 16 / n))
	# one fio pass: a 64 KiB write, then a hole of step - 1 chunks
	fio --name=rv --filename="$dev" --rw=write$([ "$step" -gt 1 ] && echo ":$(((step - 1) * 64))k") \
		--bs=64k --number_ios="$n" --size="${mib}M" --direct=1 --ioengine=psync \
		--buffer_compress_percentage=0 --refill_buffers > "$W/rv-fio.log" 2>&1 ||
		say "fio: $(tail -n 2 "$W/rv-fio.log")"
	t0=$(date +%s%N)
	"$SNAPCTL" --json revert "$set" > "$W/rv.json" 2>&1 || say "revert: $(cat "$W/rv.json")"
	t1=$(date +%s%N)
	[ "$(sha256sum < "$dev")" = "$take" ] && ok=1
	"$SNAPCTL" delete "$set" > /dev/null
	echo "$(((t1 - t0) / 1000000)) $ok"
}

if [ -S "$RV_SOCK" ]; then
	for v in "ram0 $RV_SMALL" "ram1 $RV_LARGE"; do
		set -- $v
		dd if=/dev/urandom of=/dev/$1 bs=1M count="$2" oflag=direct status=none
		rv_one /dev/$1 "$2" 16 > /dev/null	# warm-up
		for n in $RV_COUNTS; do
			all= oks=1
			for ((r = 1; r <= REPS; r++)); do
				read -r ms ok < <(rv_one /dev/$1 "$2" "$n")
				say "revert ${2} MiB, $n chunks: $ms ms (ok $ok)"
				all+="$ms "
				[ "$ok" = 1 ] || oks=0
			done
			out "revert_${2}_${n}_ms" "$(median "$all")"
			out "revert_${2}_${n}_ok" "$oks"
		done
	done
else
	say "cowsnapd did not start: $(tail -n 5 "$W/rv-cowsnapd.log")"
fi
out revert_small_mb "$RV_SMALL"
out revert_large_mb "$RV_LARGE"
kill "$RV_PID" 2>/dev/null
wait "$RV_PID" 2>/dev/null
rmmod cowsnap 2>/dev/null
