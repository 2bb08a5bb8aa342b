#!/bin/bash
# The MySQL/MariaDB hook writer (tools/writers/mysql) with a MariaDB server
# of the test's own (an empty datadir on a small ext4 volume, without grant
# tables, to start fast in the slow guest) under a continuous load: per
# number i, one InnoDB transaction of two rows (b = i, b = -i) into t, then
# one row into the MyISAM table m.  `snapctl backup' with the writer: the
# command copies the image out with snapread while the load goes on (the
# read lock was released at thaw).  A second server on the copy recovers;
# CHECK TABLE passes for both tables (the MyISAM one was flushed and closed
# by FLUSH TABLES WITH READ LOCK), and the image holds exactly what was
# committed while the writer held the lock: t the transactions 1..N, m the
# rows 1..M, N and M as the writer read them under the lock.  A freeze
# that cannot get the lock in lock-wait-timeout fails the backup cleanly.
# timeout: 420
# tier: once
# cost: 82
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.bash"

mysqld=$(command -v mariadbd || command -v mysqld || true)
[ -n "$mysqld" ] || skip "no MariaDB/MySQL server (install mariadb-server)"
client=$(command -v mariadb || command -v mysql || true)
[ -n "$client" ] || skip "no MariaDB/MySQL client (install mariadb-client)"
cd /tmp

make_loop st 64
make_loop vol 64
mkfs_ext4 -E nodiscard,lazy_itable_init=1,lazy_journal_init=1 "$vol"
mkdir -p /tmp/my-mnt /tmp/my-run /tmp/my-copy
mount "$vol" /tmp/my-mnt
on_exit "umount /tmp/my-mnt"
mkdir /tmp/my-mnt/data

# my_start DATADIR NAME: a server on socket /tmp/my-run/NAME.sock
my_start() {
	"$mysqld" --no-defaults --user=root --datadir="$1" --socket="/tmp/my-run/$2.sock" \
		--pid-file="/tmp/my-run/$2.pid" --log-error="/tmp/my-run/$2.err" \
		--skip-networking --skip-grant-tables --innodb-buffer-pool-size=16M \
		--innodb-log-file-size=4M --innodb-flush-log-at-trx-commit=1 &
	wait_for 60 my "$2" "SELECT 1" > /dev/null 2>&1
}
# my_stop NAME
my_stop() {
	local pid
	pid=$(cat "/tmp/my-run/$1.pid" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null
	wait_for 60 sh -c "! kill -0 $pid 2>/dev/null"
}
# my NAME SQL: run SQL on the server NAME, rows tab-separated
my() {
	"$client" --batch --skip-column-names -S "/tmp/my-run/$1.sock" -e "$2"
}

my_start /tmp/my-mnt/data orig || fail "the server does not start: $(cat /tmp/my-run/orig.err)"
on_exit "my_stop orig"
my orig "CREATE DATABASE app; CREATE TABLE app.t(id int AUTO_INCREMENT PRIMARY KEY, a int NOT NULL, b int NOT NULL, KEY(a)) ENGINE=InnoDB; CREATE TABLE app.m(a int NOT NULL PRIMARY KEY) ENGINE=MyISAM"

printf 'set-size 32M\ndevice %s\n' "$st" > "$CONF/storage.conf"
mkdir -p "$CONF/writers.d"
printf 'exec %s\norder back-end\nfreeze-timeout 60s\nevent-timeout 60s\n' \
	"$TOP/tools/writers/mysql" > "$CONF/writers.d/db.conf"
printf 'socket /tmp/my-run/orig.sock\nlock-wait-timeout 20\n' > "$CONF/writers.d/db.settings"
export COWSNAP_MYSQL_SETTINGS=$CONF/writers.d/db.settings
export COWSNAP_MYSQL_MARK=/tmp/my-mark
export COWSNAP_MYSQL_MARK_QUERY="SELECT CONCAT((SELECT coalesce(max(a), 0) FROM app.t), ' ', (SELECT count(*) FROM app.m))"
load_module
start_daemon --config-dir "$CONF"
on_exit delete_all_sets

# the load: one client session
rm -f /tmp/load-stop
mkfifo /tmp/my-load.fifo
"$client" --batch -S /tmp/my-run/orig.sock app < /tmp/my-load.fifo > /tmp/my-load.log 2>&1 &
loadsql=$!
(
	i=0
	while [ ! -e /tmp/load-stop ]; do
		i=$((i + 1))
		echo "BEGIN; INSERT INTO t(a, b) VALUES($i, $i); INSERT INTO t(a, b) VALUES($i, -$i); COMMIT; INSERT INTO m VALUES($i);"
	done > /tmp/my-load.fifo
) &
gen=$!
on_exit "touch /tmp/load-stop; kill $loadsql 2>/dev/null; wait $gen $loadsql 2>/dev/null"
wait_for 30 sh -c "[ \$(\"$client\" -N -S /tmp/my-run/orig.sock -e 'SELECT count(*) FROM app.m') -ge 20 ] 2>/dev/null" ||
	fail "the load does not run: $(cat /tmp/my-load.log)"

# the backup command: copy the image out, and see the load go on meanwhile
cat > /tmp/my-backup.sh <<EOS
#!/bin/bash
set -eu
max() { "$client" -N -S /tmp/my-run/orig.sock -e 'SELECT max(a) FROM app.t'; }
a0=\$(max)
"$TOP/tools/read/snapread" -q -f "\${COWSNAP_SNAPSHOTS#*=}" /tmp/my-img.ext4
end=\$((SECONDS + 30))
while [ "\$(max)" -le "\$a0" ] && [ "\$SECONDS" -lt "\$end" ]; do
	sleep 0.2
done
a1=\$(max)
echo "\$a0 \$a1" > /tmp/my-during
[ "\$a1" -gt "\$a0" ]
EOS
chmod +x /tmp/my-backup.sh

rm -f /tmp/my-mark
run_rc out err rc "$SNAPCTL" backup --exec /tmp/my-backup.sh /tmp/my-mnt
skip_if_unsupported "$err"
check_eq "$rc" 0 "backup with the MySQL writer (stderr: $err; during: $(cat /tmp/my-during 2>/dev/null))"
read -r mark_t mark_m < /tmp/my-mark || fail "the writer recorded no mark"
[ "$mark_t" -gt 0 ] && [ "$mark_m" -gt 0 ] || fail "mark $mark_t $mark_m"
kill -0 "$loadsql" 2>/dev/null || fail "the load stopped: $(cat /tmp/my-load.log)"
touch /tmp/load-stop
kill "$loadsql"
wait "$gen" "$loadsql" 2>/dev/null || true
check_eq "$(grep -v '^Terminated' /tmp/my-load.log || true)" "" "errors of the load"

# a second server on the copy of the image
tab=$'\t'
mount -o loop /tmp/my-img.ext4 /tmp/my-copy || fail "cannot mount the copy of the image"
on_exit "my_stop copy; umount /tmp/my-copy"
my_start /tmp/my-copy/data copy || fail "the server does not start on the image: $(cat /tmp/my-run/copy.err)"
check=$(my copy "CHECK TABLE app.t, app.m EXTENDED")
check_eq "$(echo "$check" | cut -f3,4 | sort -u)" "status${tab}OK" "CHECK TABLE on the image: $check"
check_eq "$(my copy "SELECT count(*) FROM (SELECT a FROM app.t GROUP BY a HAVING count(*) <> 2 OR sum(b) <> 0) x")" \
	0 "half transactions in the image"
check_eq "$(my copy "SELECT count(DISTINCT a), coalesce(max(a), 0), count(*) FROM app.t")" \
	"$mark_t$tab$mark_t$tab$((2 * mark_t))" "InnoDB rows in the image (committed under the lock: 1..$mark_t)"
check_eq "$(my copy "SELECT count(*), coalesce(max(a), 0) FROM app.m")" \
	"$mark_m$tab$mark_m" "MyISAM rows in the image (under the lock: 1..$mark_m)"
note "the image holds transactions 1..$mark_t and MyISAM rows 1..$mark_m, as under the lock; during the copy: $(cat /tmp/my-during)"
my_stop copy

# a freeze that cannot get the lock: the backup fails, nothing is left
# locked or taken
my orig "SELECT 1" > /dev/null
"$client" -S /tmp/my-run/orig.sock app -e "LOCK TABLES t WRITE; SELECT SLEEP(120)" > /dev/null 2>&1 &
locker=$!
on_exit "kill $locker 2>/dev/null"
wait_for 30 sh -c "[ -n \"\$(\"$client\" -N -S /tmp/my-run/orig.sock -e \"SELECT id FROM information_schema.processlist WHERE info LIKE 'SELECT SLEEP%'\")\" ]" ||
	fail "the session holding a table lock does not run"
printf 'socket /tmp/my-run/orig.sock\nlock-wait-timeout 1\n' > "$COWSNAP_MYSQL_SETTINGS"
run_rc out err rc "$SNAPCTL" backup --exec true /tmp/my-mnt
check_ne "$rc" 0 "backup while the read lock cannot be had"
echo "$err" | grep -qF "writer db failed: freeze" || fail "the failed freeze: $err"
grep -q "mysql writer db: ERROR 1205 .*Lock wait timeout exceeded" "$DAEMON_LOG" ||
	fail "the writer's reason: $(show_log)"
check_eq "$(writer_field db state)" FAILED_AT_FREEZE "writer state"
check_eq "$("$SNAPCTL" list sets | tail -n +2)" "" "sets after the failed freeze"
my orig "KILL $(my orig "SELECT id FROM information_schema.processlist WHERE info LIKE 'SELECT SLEEP%'")"
wait "$locker" || true
check_eq "$(my orig "SET SESSION lock_wait_timeout = 10; INSERT INTO app.m VALUES(-1); SELECT count(*) FROM app.m WHERE a = -1")" \
	1 "a write after the failed freeze"
