# bench/guest-freeze.bash: issue 4 ("Speed" of the coordinator): the freeze
# window of a backup with 3 writers and 4 volumes.  Sourced by
# bench/guest-bench (its helpers).
#
# cowsnapd (-f -v, a configuration directory of its own) with three hook
# writers, web (front-end), db (back-end) and sys (system): each a tiny
# script that appends "NAME EVENT start|end TIME" (`date +%s.%N') for every
# event and exits 0 (a freeze hook that exits 0 counts as frozen).  Four brd
# RAM disks with ext4, mounted; a fifth the difference storage.  Each run is
# `snapctl backup --exec CMD' of the four mount points, CMD saving
# `snapctl --json show' of the set.  From the writers' stamps:
#   window  first writer's freeze start to last writer's thaw end
#   freeze  first freeze start to last freeze end (the writers freezing)
#   take    last freeze end to first thaw start: cowsnapd's take request,
#           the kernel take (filesystems frozen, writes drained, images
#           added) and the start of the first thaw hook; an upper bound of
#           the kernel take
#   thaw    first thaw start to last thaw end
#   instant last freeze end to the set's taken_ns (the module's clock at the
#           snapshot instant, after freezing the filesystems and draining)
#   ktake   the kernel take itself: the time spent in cs_set_take() (the
#           filesystems frozen, writes held and drained, the snapshots
#           live, the image disks added), from the kernel's function_graph
#           tracer; of it kfreeze, the longest freeze_work() (each volume's
#           bdev_freeze() runs in a work item of its own, in parallel), and
#           kimages, the time in cs_image_add() (after the thaw)
#   hook    one writer hook run directly (no cowsnapd): the wall time of
#           `bash HOOK freeze', and of it the start-up (to its first stamp)
#           and the exit (from its last stamp); the window holds six hook
#           runs in sequence, the take phase one exit and one start-up
# Then the same backups with three socket writers in place of the hooks
# (tests/tools/sockwriter --stamps, same names, orders and stamps; keys
# freeze_sock_*, with the window's min and max): what a writer that is a
# running service costs, without a process start per event.
# Every backup runs 18 hook processes (6 events x 3 writers): under emulation
# on a loaded host a backup takes tens of seconds, so there is no untimed
# warm-up backup; the figures are the median of $FREEZE_REPS backups.
FREEZE_REPS=${COWSNAP_BENCH_FREEZE_REPS:-3}
FREEZE_MB=128
FZ_LOG=$W/writer-events.log
FZ_SOCK=/run/cowsnap/cowsnapd.sock
FZ_PID=

# fz_daemon_start CONF LOG: cowsnapd with that configuration directory
fz_daemon_start() {
	local i
	"$TOP/daemon/cowsnapd" -f -v --module "$KO" --config-dir "$1" > "$2" 2>&1 &
	FZ_PID=$!
	for i in $(seq 200); do
		[ -S "$FZ_SOCK" ] && [ "$(cat /run/cowsnap/cowsnapd.pid 2>/dev/null)" = "$FZ_PID" ] && break
		sleep 0.1
	done
	[ -S "$FZ_SOCK" ] || { say "cowsnapd did not start: $(tail -n 5 "$2")"; return 1; }
}

fz_daemon_stop() {
	[ -n "$FZ_PID" ] || return 0
	kill "$FZ_PID" 2>/dev/null
	wait "$FZ_PID" 2>/dev/null
	FZ_PID=
}

fz_cleanup() {
	local i
	[ -n "$FZ_PID" ] && "$TOP/tools/snapctl" delete --all > /dev/null 2>&1
	fz_daemon_stop
	for i in 0 1 2 3; do
		umount "$W/mnt$i" 2>/dev/null
	done
	rmmod cowsnap 2>/dev/null
}

# fz_hook SCRIPT: the hook alone, 3 times; BENCH freeze_hook_{ms,startup_ms,exit_ms}
fz_hook() {
	local i t0 t1 s e all=() st=() ex=()
	for i in 1 2 3; do
		rm -f "$FZ_LOG"
		t0=$EPOCHREALTIME
		COWSNAP_WRITER=probe bash "$1" freeze
		t1=$EPOCHREALTIME
		s=$(awk '$3 == "start" { print $4 }' "$FZ_LOG")
		e=$(awk '$3 == "end" { print $4 }' "$FZ_LOG")
		all+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) * 1000 }')")
		st+=("$(awk -v a="$t0" -v b="$s" 'BEGIN { printf "%.1f", (b - a) * 1000 }')")
		ex+=("$(awk -v a="$e" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) * 1000 }')")
	done
	say "hook alone (ms): ${all[*]}; start-up ${st[*]}; exit ${ex[*]}"
	out freeze_hook_ms "$(median "${all[*]}")"
	out freeze_hook_startup_ms "$(median "${st[*]}")"
	out freeze_hook_exit_ms "$(median "${ex[*]}")"
}

# The duration of cs_set_take() in the module (ktake above) and two of its
# parts, through the kernel's function_graph tracer on those functions
# alone (set_ftrace_filter), so that nothing else is traced: fz_ktake_on
# before a backup, fz_ktake_ms after it.
FZ_TR=/sys/kernel/tracing
fz_ktake_on() {
	local fn
	mountpoint -q "$FZ_TR" || mount -t tracefs none "$FZ_TR" 2>/dev/null || return 0
	{
		echo 0 > "$FZ_TR/tracing_on"
		echo nop > "$FZ_TR/current_tracer"
		echo > "$FZ_TR/set_ftrace_filter"
		echo > "$FZ_TR/set_graph_function"
		for fn in cs_set_take freeze_work:mod:cowsnap cs_image_add; do
			echo "$fn" >> "$FZ_TR/set_ftrace_filter"
		done
		echo 2 > "$FZ_TR/max_graph_depth"
		echo function_graph > "$FZ_TR/current_tracer"
		# the name on a closing brace too (an option of function_graph's)
		echo funcgraph-tail > "$FZ_TR/trace_options"
		echo > "$FZ_TR/trace"
		echo 1 > "$FZ_TR/tracing_on"
	} 2>/dev/null
}
# fz_ktake_ms: "KTAKE FREEZE IMAGES" in ms: the time in cs_set_take(), the
# longest freeze_work() (the volumes freeze in parallel, one work item each:
# the kernel's bdev_freeze(), cowsnap's code is around it), the time in
# cs_image_add() (the image disks added, after the thaw); -1 for what the
# trace did not show
fz_ktake_ms() {
	local ms
	echo 0 > "$FZ_TR/tracing_on" 2>/dev/null || { echo -1 -1 -1; return; }
	ms=$(awk '
		function dur(k) { for (k = 1; k < NF; k++) if ($(k + 1) == "us" && $k ~ /^[0-9.]+$/) return $k; return -1 }
		/cs_set_take/ { d = dur(); if (d >= 0) { t += d; n++ } }
		/freeze_work/ { d = dur(); if (d > f) f = d }
		/cs_image_add/ { d = dur(); if (d >= 0) { im += d; ni++ } }
		END {
			printf "%s %s %s", (n ? sprintf("%.1f", t / 1000) : -1), ((f > 0) ? sprintf("%.1f", f / 1000) : -1),
				(ni ? sprintf("%.1f", im / 1000) : -1)
		}' "$FZ_TR/trace" 2>/dev/null)
	{
		echo nofuncgraph-tail > "$FZ_TR/trace_options"
		echo nop > "$FZ_TR/current_tracer"
		echo > "$FZ_TR/set_ftrace_filter"
	} 2>/dev/null
	echo "${ms:--1 -1 -1}"
}

# fz_one RUN: one backup; prints "window freeze take thaw instant backup
# ktake kfreeze kimages" in ms, or returns 1
fz_one() {
	local t0 t1 rc taken ktake
	# truncated, not removed: socket writers keep it open for appending
	: > "$FZ_LOG"
	rm -f "$W/show.json"
	fz_ktake_on
	t0=$(ms_now)
	"$TOP/tools/snapctl" backup \
		--exec "'$TOP/tools/snapctl' --json show \"\$COWSNAP_SET_ID\" > '$W/show.json'" \
		"$W/mnt0" "$W/mnt1" "$W/mnt2" "$W/mnt3" > "$W/backup.out" 2>&1
	rc=$?
	t1=$(ms_now)
	ktake=$(fz_ktake_ms)
	if [ "$rc" != 0 ]; then
		say "backup $1 failed ($rc): $(head -n 5 "$W/backup.out")" >&2
		return 1
	fi
	taken=$(grep -o '"taken_ns": *[0-9]*' "$W/show.json" | grep -o '[0-9]*$')
	awk -v taken="${taken:-0}" -v backup=$((t1 - t0)) -v ktake="$ktake" '
		$2 == "freeze" && $3 == "start" { nfs++; if (!fs || $4 < fs) { fs = $4; first = $1 } }
		$2 == "freeze" && $3 == "end" { nfe++; if ($4 > fe) fe = $4 }
		$2 == "thaw" && $3 == "start" { nts++; if (!ts || $4 < ts) ts = $4 }
		$2 == "thaw" && $3 == "end" { nte++; if ($4 > te) { te = $4; last = $1 } }
		END {
			if (nfs != 3 || nfe != 3 || nts != 3 || nte != 3 || first != "web" ||
			    last != "web" || !(fs <= fe && fe <= ts && ts <= te)) {
				exit 1
			}
			inst = taken > 0 ? taken / 1e6 - fe * 1000 : -1
			printf "%.1f %.1f %.1f %.1f %.1f %d %s\n", (te - fs) * 1000, (fe - fs) * 1000,
				(ts - fe) * 1000, (te - ts) * 1000, inst, backup, ktake
		}' "$FZ_LOG" || { say "backup $1: writer events not as expected: $(tr '\n' ';' < "$FZ_LOG")" >&2; return 1; }
}

freeze_part() {
	local conf=$W/fz-conf i f
	out freeze_reps "$FREEZE_REPS"
	brd_load 5 "$FREEZE_MB" || return 1
	modprobe ext4 2>/dev/null
	for i in 0 1 2 3; do
		mkfs.ext4 -q -F /dev/ram$i || return 1
		mkdir -p "$W/mnt$i"
		mount /dev/ram$i "$W/mnt$i" || return 1
		head -c 1M /dev/urandom > "$W/mnt$i/data"
	done
	mkdir -p "$conf/writers.d"
	printf 'set-size 64M\ndevice /dev/ram4\n' > "$conf/storage.conf"
	for f in web:front-end db:back-end sys:system; do
		cat > "$conf/writers.d/${f%%:*}.sh" <<EOS
#!/bin/bash
echo "\$COWSNAP_WRITER \$1 start \$(date +%s.%N)" >> $FZ_LOG
echo "\$COWSNAP_WRITER \$1 end \$(date +%s.%N)" >> $FZ_LOG
exit 0
EOS
		chmod +x "$conf/writers.d/${f%%:*}.sh"
		printf 'exec %s\norder %s\n' "$conf/writers.d/${f%%:*}.sh" "${f#*:}" \
			> "$conf/writers.d/${f%%:*}.conf"
	done
	fz_daemon_start "$conf" "$W/cowsnapd.log" || return 1
	say "$("$TOP/tools/snapctl" list writers | tr '\n' ';')"
	fz_hook "$conf/writers.d/web.sh"
	fz_series freeze || return 1
	say "cowsnapd log (tail): $(tail -n 8 "$W/cowsnapd.log" | tr '\n' ';')"
	return 0
}

# fz_series PREFIX: FREEZE_REPS backups, BENCH PREFIX_{runs,window_ms,...}
fz_series() {
	local p=$1 r f win=() frz=() take=() thaw=() inst=() bk=() share=() kt=() kshare=() kf=() ki=()
	for ((r = 1; r <= FREEZE_REPS; r++)); do
		f=$(fz_one "$r") || continue
		say "$p backup $r: window freeze take thaw instant backup ktake kfreeze kimages (ms): $f"
		set -- $f
		win+=("$1") frz+=("$2") take+=("$3") thaw+=("$4") inst+=("$5") bk+=("$6")
		share+=("$(awk -v t="$3" -v w="$1" 'BEGIN { printf "%.3f", (w > 0) ? t / w : 0 }')")
		case $8 in -*) ;; *) kf+=("$8") ;; esac
		case $9 in -*) ;; *) ki+=("$9") ;; esac
		case $7 in -*) ;; *)
			kt+=("$7")
			kshare+=("$(awk -v t="$7" -v w="$1" 'BEGIN { printf "%.3f", (w > 0) ? t / w : 0 }')") ;;
		esac
	done
	out "${p}_runs" "${#win[@]}"
	[ "${#win[@]}" -gt 0 ] || return 1
	out "${p}_window_ms" "$(median "${win[*]}")"
	out "${p}_window_min_ms" "$(printf '%s\n' "${win[@]}" | sort -n | head -n 1)"
	out "${p}_window_max_ms" "$(printf '%s\n' "${win[@]}" | sort -n | tail -n 1)"
	out "${p}_writers_ms" "$(median "${frz[*]}")"
	out "${p}_take_ms" "$(median "${take[*]}")"
	out "${p}_thaw_ms" "$(median "${thaw[*]}")"
	out "${p}_instant_ms" "$(median "${inst[*]}")"
	out "${p}_backup_ms" "$(median "${bk[*]}")"
	out "${p}_take_share" "$(median "${share[*]}")"
	if [ "${#kt[@]}" -gt 0 ]; then
		out "${p}_ktake_ms" "$(median "${kt[*]}")"
		out "${p}_ktake_min_ms" "$(vmin "${kt[*]}")"
		out "${p}_ktake_max_ms" "$(vmax "${kt[*]}")"
		out "${p}_ktake_share" "$(median "${kshare[*]}")"
	else
		say "$p: no kernel take time (function_graph tracer missing?)"
	fi
	[ "${#kf[@]}" -gt 0 ] && out "${p}_kfreeze_ms" "$(median "${kf[*]}")"
	[ "${#ki[@]}" -gt 0 ] && out "${p}_kimages_ms" "$(median "${ki[*]}")"
	return 0
}

# The same backups with socket writers (tests/tools/sockwriter --stamps):
# long-running processes that answer each event over cowsnapd's socket, as
# a database or a service does, in place of a hook process per event.  The
# filesystems and the storage stay; cowsnapd restarts without the hooks.
freeze_sock_part() {
	local conf=$W/fz-sock-conf n i pids=()
	fz_daemon_stop
	mkdir -p "$conf/writers.d"
	printf 'set-size 64M\ndevice /dev/ram4\n' > "$conf/storage.conf"
	fz_daemon_start "$conf" "$W/cowsnapd-sock.log" || return 1
	for n in web:front-end db:back-end sys:system; do
		rm -f "$W/ready-${n%%:*}"
		"$TOP/tests/tools/sockwriter" --name "${n%%:*}" --order "${n#*:}" --stamps \
			--log "$FZ_LOG" --ready "$W/ready-${n%%:*}" 2>> "$W/sockwriter.err" &
		pids+=($!)
	done
	for i in $(seq 100); do
		[ -e "$W/ready-web" ] && [ -e "$W/ready-db" ] && [ -e "$W/ready-sys" ] && break
		sleep 0.1
	done
	if [ -e "$W/ready-web" ] && [ -e "$W/ready-db" ] && [ -e "$W/ready-sys" ]; then
		say "$("$TOP/tools/snapctl" list writers | tr '\n' ';')"
		fz_series freeze_sock
	else
		say "the socket writers did not register: $(head -n 3 "$W/sockwriter.err")"
	fi
	fz_daemon_stop
	kill "${pids[@]}" 2>/dev/null
	wait "${pids[@]}" 2>/dev/null
	return 0
}
freeze_part || say "the freeze part did not finish"
[ -n "$FZ_PID" ] && { freeze_sock_part || say "the socket-writer freeze part did not finish"; }
fz_cleanup
