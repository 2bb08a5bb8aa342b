#!/bin/bash
# The PostgreSQL hook writer (tools/writers/postgresql) with a server of the
# test's own (initdb with data checksums, on a small ext4 volume).  A set
# that would hold the data directory but not a tablespace is vetoed with the
# reason.  Under a continuous load of numbered transactions (two rows each,
# b = a and b = -a), `snapctl backup' with the writer in checkpoint mode:
# the command copies the image out with snapread while the load goes on; a
# second server started on the copy recovers, its table passes amcheck
# (heap and both indexes) and holds an unbroken prefix 1..N of the
# transactions, N at least the number committed before the freeze.  Backup
# mode: the label it saves names the set and its start LSN, the writer's
# session is gone after thaw, and the load goes on during the command.
# timeout: 600
# tier: once
# cost: 190
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.bash"
. "$(dirname "$0")/pg-lib.bash"
cd /tmp

make_loop st 64
make_loop vol 80
make_loop tsvol 8
mkfs_ext4 -E nodiscard,lazy_itable_init=1,lazy_journal_init=1 "$vol"
mkfs_ext4 -E nodiscard "$tsvol"
mkdir -p /tmp/pg-mnt /tmp/pg-ts /tmp/pg-sock /tmp/pg-sock2 /tmp/pg-copy
mount "$vol" /tmp/pg-mnt
on_exit "umount /tmp/pg-mnt"
mount "$tsvol" /tmp/pg-ts
on_exit "umount /tmp/pg-ts"
chown postgres: /tmp/pg-mnt /tmp/pg-ts /tmp/pg-sock /tmp/pg-sock2

pg_cluster /tmp/pg-mnt
note "$SECONDS s: start"
pg_start /tmp/pg-mnt/data 5433 /tmp/pg-1.log || { cat /tmp/pg-1.log; fail "the server does not start"; }
on_exit "as_pg $PGBIN/pg_ctl -D /tmp/pg-mnt/data -m immediate stop > /dev/null"
check_eq "$(pg 5433 "SHOW data_checksums")" on "the cluster's data checksums"
pg 5433 "CREATE TABLE t(id bigserial PRIMARY KEY, a int NOT NULL, b int NOT NULL); CREATE INDEX t_a ON t(a)"

printf 'set-size 32M\ndevice %s\n' "$st" > "$CONF/storage.conf"
mkdir -p "$CONF/writers.d"
printf 'exec %s\norder back-end\nfreeze-timeout 60s\nevent-timeout 60s\n' \
	"$TOP/tools/writers/postgresql" > "$CONF/writers.d/pg.conf"
printf 'host /tmp/pg-sock\nport 5433\nuser postgres\ndatabase postgres\nmode checkpoint\n' \
	> "$CONF/writers.d/pg.settings"
export COWSNAP_PG_SETTINGS=$CONF/writers.d/pg.settings
export COWSNAP_PG_MARK=/tmp/pg-mark COWSNAP_PG_MARK_QUERY="SELECT coalesce(max(a), 0) FROM t"
note "$SECONDS s: daemon"
load_module
start_daemon --config-dir "$CONF"
on_exit delete_all_sets

# a tablespace on a volume outside the set: vetoed before the set exists
pg 5433 "CREATE TABLESPACE ts LOCATION '/tmp/pg-ts'"
run_rc out err rc "$SNAPCTL" create /tmp/pg-mnt
skip_if_unsupported "$err"
check_ne "$rc" 0 "create without the tablespace's volume"
echo "$err" | grep -qF "writer pg failed: prepare-snapshot exited with status 1" || fail "veto: $err"
grep -qF "the set holds /tmp/pg-mnt/data /tmp/pg-mnt/data/pg_wal but not /tmp/pg-ts" "$DAEMON_LOG" ||
	fail "the writer's reason for its veto: $(show_log)"
check_eq "$(writer_field pg state)" FAILED_AT_PREPARE_SNAPSHOT "writer state after the veto"
check_eq "$("$SNAPCTL" list sets | tail -n +2)" "" "sets after the veto"
pg 5433 "DROP TABLESPACE ts"

# the load: one psql session, a transaction of two rows per number, from
# the next number on; only while a backup runs (the guest is slow)
load_start() {
	local i
	i=$(pg 5433 "SELECT coalesce(max(a), 0) FROM t")
	rm -f /tmp/load-stop /tmp/pg-load.fifo
	mkfifo /tmp/pg-load.fifo
	psql -X -q -v ON_ERROR_STOP=1 -h /tmp/pg-sock -p 5433 -U postgres < /tmp/pg-load.fifo \
		>> /tmp/pg-load.log 2>&1 &
	LOAD_SQL=$!
	(
		while [ ! -e /tmp/load-stop ]; do
			i=$((i + 1))
			echo "BEGIN; INSERT INTO t(a, b) VALUES($i, $i); INSERT INTO t(a, b) VALUES($i, -$i); COMMIT;"
		done > /tmp/pg-load.fifo
	) &
	LOAD_GEN=$!
	wait_for 30 sh -c "[ \$(psql -X -A -t -h /tmp/pg-sock -p 5433 -U postgres -c 'SELECT count(*) FROM t') -ge $((2 * i + 40)) ] 2>/dev/null" ||
		fail "the load does not run: $(cat /tmp/pg-load.log)"
}
load_stop() {
	[ -n "${LOAD_SQL:-}" ] || return 0
	kill -0 "$LOAD_SQL" 2>/dev/null || fail "the load stopped: $(cat /tmp/pg-load.log)"
	touch /tmp/load-stop
	kill "$LOAD_SQL" 2>/dev/null
	wait "$LOAD_GEN" "$LOAD_SQL" 2> /dev/null || true
	LOAD_SQL=
	check_eq "$(grep -v Terminated /tmp/pg-load.log || true)" "" "errors of the load"
}
on_exit "[ -z \"\${LOAD_SQL:-}\" ] || { touch /tmp/load-stop; kill \$LOAD_SQL; wait \$LOAD_GEN \$LOAD_SQL; }"

# the backup command: copy the image out, and see the load go on meanwhile
cat > /tmp/pg-backup.sh <<'EOS'
#!/bin/bash
set -eu
max() { psql -X -A -t -h /tmp/pg-sock -p 5433 -U postgres -c 'SELECT max(a) FROM t'; }
a0=$(max)
img=${COWSNAP_SNAPSHOTS#*=}
"$TOP/tools/read/snapread" -q -f "$img" /tmp/pg-img.ext4
end=$((SECONDS + 30))
while [ "$(max)" -le "$a0" ] && [ "$SECONDS" -lt "$end" ]; do
	sleep 0.2
done
a1=$(max)
echo "$a0 $a1" > /tmp/pg-during
[ "$a1" -gt "$a0" ]
EOS
chmod +x /tmp/pg-backup.sh

# check_copy TAG: start a server on the copied image, check its table;
# COPY_MAX = its max(a)
on_exit "as_pg $PGBIN/pg_ctl -D /tmp/pg-copy/data -m immediate stop > /dev/null 2>&1; umount /tmp/pg-copy 2>/dev/null"
check_copy() {
	note "$SECONDS s: check $1"
	mount -o loop /tmp/pg-img.ext4 /tmp/pg-copy || fail "$1: cannot mount the copy of the image"
	# the pid file names the origin's running postmaster; a restore drops it
	rm -f /tmp/pg-copy/data/postmaster.pid
	pg_start /tmp/pg-copy/data 5434 /tmp/pg-2.log ||
		fail "$1: the server does not start on the image: $(cat /tmp/pg-2.log)"
	grep -q "database system was not properly shut down; automatic recovery in progress" /tmp/pg-2.log ||
		note "$1: no crash recovery was needed"
	check_eq "$(pg 5434 "SELECT count(*) FROM (SELECT a FROM t GROUP BY a HAVING count(*) <> 2 OR sum(b) <> 0) x")" \
		0 "$1: half transactions in the image"
	check_eq "$(pg 5434 "SELECT count(DISTINCT a) = coalesce(max(a), 0) AND count(*) = 2 * count(DISTINCT a) FROM t")" \
		t "$1: the image's transactions are 1..max"
	pg 5434 "CREATE EXTENSION amcheck" || fail "$1: no amcheck"
	check_eq "$(pg 5434 "SELECT count(*) FROM verify_heapam('t')")" 0 "$1: verify_heapam"
	pg 5434 "SELECT bt_index_check('t_pkey', true), bt_index_check('t_a', true)" > /dev/null ||
		fail "$1: bt_index_check"
	COPY_MAX=$(pg 5434 "SELECT coalesce(max(a), 0) FROM t")
	as_pg "$PGBIN/pg_ctl" -D /tmp/pg-copy/data -m fast stop > /dev/null || fail "$1: stop"
	umount /tmp/pg-copy
}

note "$SECONDS s: backup"
load_start
rm -f /tmp/pg-mark
run_rc out err rc "$SNAPCTL" backup --exec /tmp/pg-backup.sh /tmp/pg-mnt
check_eq "$rc" 0 "backup with the PostgreSQL writer (stderr: $err; during: $(cat /tmp/pg-during 2>/dev/null))"
load_stop
mark=$(cat /tmp/pg-mark) || fail "the writer recorded no mark"
[ "$mark" -gt 0 ] || fail "mark $mark"
after=$(pg 5433 "SELECT max(a) FROM t")
note "$SECONDS s: check"
check_copy checkpoint
got=$COPY_MAX
[ "$got" -ge "$mark" ] && [ "$got" -le "$after" ] ||
	fail "the image holds 1..$got, committed before the freeze: 1..$mark, on the origin now: 1..$after"
note "checkpoint mode: the image holds 1..$got (committed before the freeze: 1..$mark; during the copy: $(cat /tmp/pg-during))"

# backup mode: pg_backup_start held across the take, the label kept, the
# session ended at thaw (the load goes on during the command)
printf 'host /tmp/pg-sock\nport 5433\nmode backup\nlabel-dir /tmp/pg-labels\n' > "$COWSNAP_PG_SETTINGS"
load_start
rm -f /tmp/pg-mark
run_rc out err rc "$SNAPCTL" backup --exec 'echo "$COWSNAP_SET_ID" > /tmp/pg-setid; /tmp/pg-backup.sh' /tmp/pg-mnt
check_eq "$rc" 0 "backup in backup mode (stderr: $err; during: $(cat /tmp/pg-during 2>/dev/null))"
load_stop
setid=$(cat /tmp/pg-setid)
label=/tmp/pg-labels/$setid/backup_label
[ -s "$label" ] || fail "no backup label in /tmp/pg-labels/$setid: $(ls -l /tmp/pg-labels/* 2>&1)"
grep -qx "LABEL: cowsnap $setid" "$label" || fail "label: $(cat "$label")"
grep -q "^START WAL LOCATION: $(cat /tmp/pg-labels/"$setid"/start-lsn) " "$label" ||
	fail "label vs start lsn: $(cat "$label")"
grep -qx "BACKUP METHOD: streamed" "$label" || fail "label: $(cat "$label")"
writer_sessions() {
	[ "$(pg 5433 "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'cowsnap-writer'")" = 0 ]
}
wait_for 10 writer_sessions || fail "the writer's session is still there after the backup"
[ "$(cat /tmp/pg-mark)" -gt "$mark" ] || fail "backup mode: mark $(cat /tmp/pg-mark) after $mark"
note "$SECONDS s: done"
