#!/bin/bash
# cowsnapd --max-session bounds how long a backup session with writers
# holds the shadow-set lock: past it the session ends as if its requestor
# had gone (writers get backup-shutdown, the set is deleted), another
# create gets the lock at once, and the requestor's backup_complete says
# why its backup failed.  Its images were intact until then.
# tier: once
# cost: 30
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.bash"

make_loop st 64
make_loop raw 8
printf 'set-size 16M\ndevice %s\n' "$st" > "$CONF/storage.conf"
add_writer "$CONF" app back-end ''
dd if=/dev/urandom of="$raw" bs=1M count=8 oflag=direct status=none
sum=$(sha256sum < "$raw")
rm -f "$EVENTS"
load_module
start_daemon --config-dir "$CONF" --max-session 5s
on_exit delete_all_sets

# the backup command: checks its image, then outlives the session
cat > /tmp/backup-cmd.sh <<EOS
#!/bin/bash
set -e
echo "\$COWSNAP_SET_ID" > /tmp/backup-set
img=\${COWSNAP_SNAPSHOTS#*=}
[ "\$(sha256sum < "\$img")" = "$sum" ]
echo "app cmd-checked" >> $EVENTS
sleep 12
EOS
chmod +x /tmp/backup-cmd.sh
"$SNAPCTL" backup --exec /tmp/backup-cmd.sh "$raw" > /tmp/backup.out 2> /tmp/backup.err &
bpid=$!

# while the session is young, the lock is held
wait_for 20 test -s /tmp/backup-set || fail "the backup command did not start: $(cat /tmp/backup.err)"
run_rc out err rc "$SNAPCTL" create "$raw"
skip_if_unsupported "$err"
check_eq "$rc" 1 "create while the backup session holds the lock"
echo "$err" | grep -qF "another shadow copy set is being created" || fail "young session: $err"

# past --max-session it is gone, and the lock with it
wait_for 20 grep -qx "app backup-shutdown" "$EVENTS" ||
	fail "writer not shut down: $(cat "$EVENTS"); $(show_log)"
id=$(cat /tmp/backup-set)
"$SNAPCTL" list sets | awk 'NR > 1 { print $1 }' | grep -qx "$id" &&
	fail "set $id of the expired session is still there"
run_rc out err rc "$SNAPCTL" create --no-writers "$raw"
check_eq "$rc" 0 "create after the session expired (stderr: $err)"
grep -qF "held the shadow-set lock for --max-session (5 s)" "$DAEMON_LOG" ||
	fail "no log line: $(show_log)"

# the requestor learns why, once its command is done
rc=0
wait "$bpid" || rc=$?
check_eq "$rc" 1 "snapctl backup after its session expired"
grep -qF "was not completed within cowsnapd's --max-session of 5 s: the writers got backup-shutdown and the set was deleted" \
	/tmp/backup.err || fail "backup's error: $(cat /tmp/backup.err)"
grep -qx "app cmd-checked" "$EVENTS" || fail "the image was not intact: $(cat /tmp/backup.err)"
grep -qx "app backup-complete" "$EVENTS" && fail "backup-complete after the session expired"
delete_all_sets
check_eq "$(storage_used)" 0 "storage after the expired session"
stop_daemon
