# tests/vm/pg-lib.bash: PostgreSQL helpers for the guest tests (0227,
# 0251); sourced after lib.sh.  Not a test: tests/vm/run runs only
# [0-9]*.sh.
#
# On sourcing: skips the test without a postgres account, a server or
# psql; PGBIN is the newest server's bin directory.

id postgres > /dev/null 2>&1 || skip "no postgres account (install postgresql)"
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$PGBIN" ] && [ -x "$PGBIN/initdb" ] || skip "PostgreSQL's server is not installed"
command -v psql > /dev/null || skip "psql is not installed"

# the socket directory of pg and pg_start unless told otherwise
PG_SOCK=/tmp/pg-sock

as_pg() {
	runuser -u postgres -- "$@"
}

# pg_at SOCKDIR PORT SQL: one statement on that server, rows unaligned,
# as the superuser postgres (trust)
pg_at() {
	psql -X -q -A -t -v ON_ERROR_STOP=1 -h "$1" -p "$2" -U postgres -c "$3"
}
# pg PORT SQL: the same on the server whose socket is in $PG_SOCK
pg() {
	pg_at "$PG_SOCK" "$1" "$2"
}

# pg_start DATADIR PORT LOG [SOCKDIR]: a small server, waited for.  The
# guest has no /dev/shm: System V shared memory (initdb on the host chose
# POSIX).
pg_start() {
	local sock=${4:-$PG_SOCK}
	mkdir -p "$sock"
	chown postgres: "$sock"
	as_pg "$PGBIN/pg_ctl" -D "$1" -w -t 120 -l "$3" -o "-k $sock -p $2 \
		-c listen_addresses= -c shared_buffers=8MB -c max_connections=10 \
		-c max_wal_size=24MB -c min_wal_size=4MB -c fsync=on -c autovacuum=off \
		-c dynamic_shared_memory_type=sysv" start > /dev/null
}

# pg_stop DATADIR [MODE]: stop it (fast unless told otherwise)
pg_stop() {
	as_pg "$PGBIN/pg_ctl" -D "$1" -m "${2:-fast}" stop > /dev/null
}

# pg_cluster DIR: a cluster in DIR/data (data checksums on, 1 MiB WAL
# segments, trust), owned by postgres: the one scripts/vmcheck made on the
# host with the same initdb (over 2 min under emulation), or initdb here
# when the test runs alone.
pg_cluster() {
	local fixture=$TOP/build/fixtures/pg-initdb.tar
	if [ -f "$fixture" ]; then
		note "$SECONDS s: the cluster from $fixture"
		tar -C "$1" --same-owner -xf "$fixture" || fail "unpacking $fixture"
		check_eq "$(stat -c %U "$1/data/PG_VERSION")" postgres "the fixture's owner"
	else
		note "$SECONDS s: initdb"
		as_pg "$PGBIN/initdb" -N -k -A trust -U postgres --wal-segsize=1 --no-locale -E UTF8 \
			-D "$1/data" > /tmp/pg-initdb.log 2>&1 ||
			{ cat /tmp/pg-initdb.log; fail "initdb failed"; }
	fi
}
