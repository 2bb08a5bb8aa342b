#!/bin/bash
# The SQLite hook writer (tools/writers/sqlite) under a continuous
# transaction load: the image's database passes PRAGMA integrity_check and
# holds exactly the transactions committed before the freeze (the writer
# records max(rowid) while it holds BEGIN IMMEDIATE); with --no-writers the
# image's database (after rolling back its hot journal, if any) still passes
# integrity_check and holds only whole transactions.
# tier: once
# cost: 54
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.bash"

command -v sqlite3 >/dev/null || skip "sqlite3 is not installed"
make_loop st 128
make_loop vol 64
mkfs_ext4 "$vol"
mkdir -p /tmp/db-mnt /tmp/db-img
mount "$vol" /tmp/db-mnt
on_exit "umount /tmp/db-mnt"
db=/tmp/db-mnt/app.db
sqlite3 "$db" "CREATE TABLE t(id INTEGER PRIMARY KEY, a INTEGER, b INTEGER);"

printf 'set-size 32M\ndevice %s\n' "$st" > "$CONF/storage.conf"
mkdir -p "$CONF/writers.d"
printf 'exec %s\norder back-end\nfreeze-timeout 30s\n' "$TOP/tools/writers/sqlite" \
	> "$CONF/writers.d/sqlite.conf"
echo "$db" > "$CONF/writers.d/sqlite.dbs"
export COWSNAP_SQLITE_DBS=$CONF/writers.d/sqlite.dbs
export COWSNAP_SQLITE_MARK=/tmp/sqlite-mark COWSNAP_SQLITE_MARK_TABLE=t
load_module
start_daemon --config-dir "$CONF"
on_exit delete_all_sets

# the load: transactions of two rows each (b = a and b = -a), as fast as
# sqlite3 starts
rm -f /tmp/load-stop
(
	i=0
	while [ ! -e /tmp/load-stop ]; do
		i=$((i + 1))
		sqlite3 -cmd ".timeout 30000" "$db" \
			"BEGIN; INSERT INTO t(a, b) VALUES($i, $i); INSERT INTO t(a, b) VALUES($i, -$i); COMMIT;" ||
			echo "load: transaction $i failed"
	done
) &
load=$!
on_exit "touch /tmp/load-stop; wait $load"
wait_for 30 sh -c "[ \$(sqlite3 -cmd '.timeout 5000' $db 'SELECT count(*) FROM t') -ge 20 ]" ||
	fail "the load does not run"

# check_image IMAGE: copy the database out of the image (a hot journal comes
# along and is rolled back on open), check it, print max(rowid)
check_image() {
	mount -o ro,noload "$1" /tmp/db-img || fail "cannot mount $1"
	rm -rf /tmp/db-copy
	mkdir /tmp/db-copy
	cp -a /tmp/db-img/. /tmp/db-copy/
	umount /tmp/db-img
	check_eq "$(sqlite3 /tmp/db-copy/app.db 'PRAGMA integrity_check')" ok "integrity_check of $1"
	check_eq "$(sqlite3 /tmp/db-copy/app.db 'SELECT count(*) FROM (SELECT a FROM t GROUP BY a HAVING count(*) != 2 OR sum(b) != 0)')" \
		0 "half transactions in $1"
	check_eq "$(sqlite3 /tmp/db-copy/app.db 'SELECT count(*) = coalesce(max(id), 0) FROM t')" 1 "rows of $1 are 1..max"
	sqlite3 /tmp/db-copy/app.db 'SELECT coalesce(max(id), 0) FROM t'
}

rm -f "$COWSNAP_SQLITE_MARK"
run_rc out err rc "$SNAPCTL" --json create /tmp/db-mnt
skip_if_unsupported "$err"
check_eq "$rc" 0 "create with the SQLite writer (stderr: $err)"
echo "$out" | grep -q '"consistency":"application"' || fail "not application-consistent: $out"
img=$(echo "$out" | tr -d ' \n' | grep -o '"image":"[^"]*"' | cut -d'"' -f4)
mark=$(cat "$COWSNAP_SQLITE_MARK") || fail "the writer recorded no mark"
[ "$mark" -gt 0 ] || fail "mark $mark"
got=$(check_image "$img")
check_eq "$got" "$mark" "rows in the image vs rows committed before the freeze"
note "image holds $got rows, exactly those committed before the freeze"

run_rc out err rc "$SNAPCTL" --json create --no-writers /tmp/db-mnt
check_eq "$rc" 0 "create --no-writers (stderr: $err)"
img2=$(echo "$out" | tr -d ' \n' | grep -o '"image":"[^"]*"' | cut -d'"' -f4)
got2=$(check_image "$img2")
[ "$got2" -ge "$got" ] || fail "crash-consistent image has fewer rows ($got2) than the earlier one ($got)"

touch /tmp/load-stop
wait "$load"
