#!/bin/bash
# PostgreSQL on writable images (issue 15): data and WAL on two ext4
# volumes, a server under a load of numbered transactions (two rows each,
# b = a and b = -a).  A crash-consistent set of both volumes (--no-writers
# --writable) is taken mid-load; a second server starts directly on the
# images (snapctl mount mounts them read-write; pg_wal's link in the data
# image is pointed at the WAL image), recovers, and answers: no half
# transaction, transactions 1..N unbroken with N between what was committed
# before the create and after it, amcheck clean, and it takes writes of its
# own.  Meanwhile the first server goes on on the origins (its load
# continues), and nothing the second wrote reaches them: the origins' table
# has none of its rows and still checks out.
# timeout: 600
# tier: once
# cost: 110
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.bash"

id postgres > /dev/null 2>&1 || skip "no postgres account (install postgresql)"
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$pgbin" ] && [ -x "$pgbin/initdb" ] || skip "PostgreSQL's server is not installed"
command -v psql > /dev/null || skip "psql is not installed"
cd /tmp

make_loop st 96
make_loop dvol 64
make_loop wvol 32
mkfs_ext4 -E nodiscard,lazy_itable_init=1,lazy_journal_init=1 "$dvol"
mkfs_ext4 -E nodiscard,lazy_itable_init=1,lazy_journal_init=1 "$wvol"
D=/tmp/pgi-d W=/tmp/pgi-w ID=/tmp/pgi-id IW=/tmp/pgi-iw
mkdir -p $D $W $ID $IW /tmp/pg-sock
mount "$dvol" $D
on_exit "umount $D"
mount "$wvol" $W
on_exit "umount $W"
chown postgres: $D $W /tmp/pg-sock

as_pg() {
	runuser -u postgres -- "$@"
}
pg() {	# PORT SQL: one statement, rows unaligned
	psql -X -q -A -t -v ON_ERROR_STOP=1 -h /tmp/pg-sock -p "$1" -U postgres -c "$2"
}
# the guest has no /dev/shm: System V shared memory
pg_start() {	# DATADIR PORT LOG
	as_pg "$pgbin/pg_ctl" -D "$1" -w -t 120 -l "$3" -o "-k /tmp/pg-sock -p $2 \
		-c listen_addresses= -c shared_buffers=8MB -c max_connections=10 \
		-c max_wal_size=24MB -c min_wal_size=4MB -c fsync=on -c autovacuum=off \
		-c dynamic_shared_memory_type=sysv" start > /dev/null
}

# the cluster scripts/vmcheck made on the host (initdb is minutes here)
fixture=$TOP/build/fixtures/pg-initdb.tar
if [ -f "$fixture" ]; then
	tar -C $D --same-owner -xf "$fixture" || fail "unpacking $fixture"
else
	as_pg "$pgbin/initdb" -N -k -A trust -U postgres --wal-segsize=1 --no-locale -E UTF8 \
		-D $D/data > /tmp/pgi-initdb.log 2>&1 || { cat /tmp/pgi-initdb.log; fail "initdb failed"; }
fi
# the WAL on a volume of its own (what initdb --waldir makes)
mv $D/data/pg_wal $W/pg_wal || fail "moving pg_wal"
ln -s $W/pg_wal $D/data/pg_wal
chown -h postgres: $D/data/pg_wal
pg_start $D/data 5441 /tmp/pgi-1.log || { cat /tmp/pgi-1.log; fail "the server does not start"; }
on_exit "as_pg $pgbin/pg_ctl -D $D/data -m immediate stop > /dev/null 2>&1"
pg 5441 "CREATE TABLE t(id bigserial PRIMARY KEY, a int NOT NULL, b int NOT NULL); CREATE INDEX t_a ON t(a)"

printf 'set-size 64M\ndevice %s\n' "$st" > "$CONF/storage.conf"
load_module
start_daemon --config-dir "$CONF"
on_exit delete_all_sets

# the load: one psql session, a transaction of two rows per number
rm -f /tmp/load-stop /tmp/pgi-load.fifo
mkfifo /tmp/pgi-load.fifo
psql -X -q -v ON_ERROR_STOP=1 -h /tmp/pg-sock -p 5441 -U postgres < /tmp/pgi-load.fifo \
	>> /tmp/pgi-load.log 2>&1 &
LOAD_SQL=$!
(
	i=0
	while [ ! -e /tmp/load-stop ]; do
		i=$((i + 1))
		echo "BEGIN; INSERT INTO t(a, b) VALUES($i, $i); INSERT INTO t(a, b) VALUES($i, -$i); COMMIT;"
	done > /tmp/pgi-load.fifo
) &
LOAD_GEN=$!
on_exit "touch /tmp/load-stop; kill $LOAD_SQL 2>/dev/null; wait $LOAD_GEN $LOAD_SQL 2>/dev/null"
maxa() { pg 5441 "SELECT coalesce(max(a), 0) FROM t"; }
wait_for 60 sh -c "[ \$(psql -X -A -t -h /tmp/pg-sock -p 5441 -U postgres -c 'SELECT count(*) FROM t') -ge 80 ] 2>/dev/null" ||
	fail "the load does not run: $(cat /tmp/pgi-load.log)"

# the crash-consistent take, mid-load: both volumes, writable images
m0=$(maxa)
out=$("$SNAPCTL" create --writable --no-writers $D $W 2>&1) || fail "create --writable: $out"
m1=$(maxa)
SET=$(echo "$out" | sed -n 1p)
"$SNAPCTL" show "$SET" | grep -q "writable" || fail "the set is not writable: $("$SNAPCTL" show "$SET")"

# the images, read-write where the second server wants them
out=$("$SNAPCTL" mount "$SET" $D $ID 2>&1) || fail "mount of the data image: $out"
echo "$out" | grep -q "mounted read-write at $ID" || fail "the data image: $out"
on_exit "umount $ID 2>/dev/null"
out=$("$SNAPCTL" mount "$SET" $W $IW 2>&1) || fail "mount of the WAL image: $out"
on_exit "umount $IW 2>/dev/null"
check_eq "$(readlink $ID/data/pg_wal)" "$W/pg_wal" "pg_wal's link in the image"
ln -sfn $IW/pg_wal $ID/data/pg_wal
chown -h postgres: $ID/data/pg_wal
# the pid file names the origin's running postmaster
rm -f $ID/data/postmaster.pid
pg_start $ID/data 5442 /tmp/pgi-2.log || fail "the server does not start on the images: $(cat /tmp/pgi-2.log)"
on_exit "as_pg $pgbin/pg_ctl -D $ID/data -m immediate stop > /dev/null 2>&1"
grep -q "database system was not properly shut down; automatic recovery in progress" /tmp/pgi-2.log ||
	fail "no crash recovery on the images: $(cat /tmp/pgi-2.log)"

check_table() {	# PORT WHAT
	check_eq "$(pg "$1" "SELECT count(*) FROM (SELECT a FROM t WHERE a > 0 GROUP BY a HAVING count(*) <> 2 OR sum(b) <> 0) x")" \
		0 "$2: half transactions"
	check_eq "$(pg "$1" "SELECT count(DISTINCT a) = coalesce(max(a), 0) AND count(*) = 2 * count(DISTINCT a) FROM t WHERE a > 0")" \
		t "$2: transactions 1..max"
	check_eq "$(pg "$1" "SELECT count(*) FROM verify_heapam('t')")" 0 "$2: verify_heapam"
	pg "$1" "SELECT bt_index_check('t_pkey', true), bt_index_check('t_a', true)" > /dev/null ||
		fail "$2: bt_index_check"
}
pg 5442 "CREATE EXTENSION amcheck" || fail "no amcheck on the images"
check_table 5442 "the server on the images"
n=$(pg 5442 "SELECT coalesce(max(a), 0) FROM t")
[ "$n" -ge "$m0" ] && [ "$n" -le "$m1" ] ||
	fail "the images hold 1..$n; committed before the create: 1..$m0, after it: 1..$m1"
note "the images hold transactions 1..$n (before the create: $m0, after: $m1)"
# the second server writes: to the images' storage, never to the origins
pg 5442 "INSERT INTO t(a, b) SELECT -g, 0 FROM generate_series(1, 2000) g; CHECKPOINT"
check_eq "$(pg 5442 "SELECT count(*) FROM t WHERE a < 0")" 2000 "the second server's own rows"

# the first server went on meanwhile, and saw none of it
m2=$(maxa)
[ "$m2" -gt "$m1" ] || fail "the load on the origins stopped: max $m2, $m1 at the create"
touch /tmp/load-stop
kill "$LOAD_SQL" 2>/dev/null
wait "$LOAD_GEN" "$LOAD_SQL" 2> /dev/null || true
check_eq "$(grep -v Terminated /tmp/pgi-load.log || true)" "" "errors of the load"
check_eq "$(pg 5441 "SELECT count(*) FROM t WHERE a < 0")" 0 "the second server's rows on the origins"
pg 5441 "CREATE EXTENSION amcheck" || fail "no amcheck on the origins"
as_pg "$pgbin/pg_ctl" -D $ID/data -m fast stop > /dev/null || fail "stopping the server on the images"
umount $ID
umount $IW
check_table 5441 "the server on the origins, after the images' server wrote"
as_pg "$pgbin/pg_ctl" -D $D/data -m fast stop > /dev/null || fail "stopping the server on the origins"
"$SNAPCTL" delete "$SET" > /dev/null || fail "delete"
exit 0
