#!/bin/bash
# snapctl backup: writers hear the whole sequence; the command runs after
# post-snapshot with the set and its images in its environment and reads
# the images; its exit status is what writers hear in backup-complete; the
# set is gone afterwards.  snapctl killed with SIGKILL during the command:
# writers get backup-shutdown, the set is destroyed, the volume unmarked.
# tier: once
# cost: 29
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.bash"

make_loop st 64
make_loop raw 8
printf 'set-size 16M\ndevice %s\n' "$st" > "$CONF/storage.conf"
add_writer "$CONF" app back-end '
if [ "$1" = backup-complete ]; then record "success=$COWSNAP_BACKUP_SUCCESS type=$COWSNAP_BACKUP_TYPE"; fi'
dd if=/dev/urandom of=/tmp/pattern-a bs=1M count=8 status=none
dd if=/tmp/pattern-a of="$raw" bs=1M oflag=direct status=none
rm -f "$EVENTS"
load_module
start_daemon --config-dir "$CONF"
on_exit delete_all_sets

cat > /tmp/backup-cmd.sh <<EOS
#!/bin/bash
set -e
echo "\$COWSNAP_SET_ID \$COWSNAP_SNAPSHOTS" > /tmp/backup-env
img=\${COWSNAP_SNAPSHOTS#*=}
dd if=/dev/urandom of=$raw bs=1M count=1 oflag=direct conv=notrunc status=none
cmp /tmp/pattern-a "\$img"
echo "app cmd-ran" >> $EVENTS
EOS
chmod +x /tmp/backup-cmd.sh
run_rc out err rc "$SNAPCTL" backup --type copy --exec /tmp/backup-cmd.sh "$raw"
skip_if_unsupported "$err"
check_eq "$rc" 0 "backup exit status (stderr: $err)"
read -r id pairs < /tmp/backup-env
[[ "$pairs" =~ ^$raw=/dev/cowsnap[0-9]+$ ]] || fail "COWSNAP_SNAPSHOTS: $pairs"
expected="app prepare-backup
app prepare-snapshot
app freeze
app thaw
app post-snapshot
app cmd-ran
app backup-complete
app success=1 type=copy"
check_eq "$(cat "$EVENTS")" "$expected" "events of a backup"
check_eq "$("$SNAPCTL" list sets | tail -n +2)" "" "sets after the backup"
check_eq "$(storage_used)" 0 "storage after the backup"

# a failing command: writers hear success=0, snapctl exits 1
rm -f "$EVENTS"
run_rc out err rc "$SNAPCTL" backup --exec "exit 3" "$raw"
check_eq "$rc" 1 "backup exit status with a failing command"
echo "$err" | grep -qF "the backup command failed (exit status 3)" || fail "failing command: $err"
grep -qx "app success=0 type=full" "$EVENTS" || fail "writers not told of the failure: $(cat "$EVENTS")"
check_eq "$("$SNAPCTL" list sets | tail -n +2)" "" "sets after a failed backup"

# snapctl killed during the command
rm -f "$EVENTS"
"$SNAPCTL" backup --exec "sleep 60" "$raw" &
snap=$!
wait_for 30 grep -qx "app post-snapshot" "$EVENTS" || fail "backup did not reach post-snapshot"
sleep 0.5
kill -9 "$snap"
wait "$snap" 2>/dev/null || true
pkill -f "sleep 60" || true
wait_for 10 grep -qx "app backup-shutdown" "$EVENTS" || fail "no backup-shutdown: $(cat "$EVENTS")"
grep -q "backup-complete" "$EVENTS" && fail "backup-complete after the requestor died"
wait_for 10 sh -c "[ -z \"\$(\"$SNAPCTL\" list sets | tail -n +2)\" ]" || fail "set left after snapctl died"
check_eq "$("$NLCTL" volume-get 2>/dev/null | grep -c "mark=[1-9]" || true)" 0 "volumes still marked"
check_eq "$(storage_used)" 0 "storage after snapctl died"
