#!/bin/bash
# Socket writers next to hook writers: a backup with two hook writers (front-
# end, system) and a socket writer (back-end) selected by --component gives
# every writer the VSS events in order (identify for the socket writer;
# freeze front-end, back-end, system; thaw in reverse); the writers left out
# (a socket writer and a hook writer) hear nothing.  The selected component's
# files add their volume to the set; the backup type, the volumes and the
# per-component failure CMD reported reach the socket writer.  The saved
# metadata drives a restore session: pre-restore to each writer, the
# command, post-restore with its success.
# timeout: 400
# tier: once
# cost: 54
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.bash"

[ -x "$SOCKWRITER" ] || fail "$SOCKWRITER missing: run 'make' first"

make_loop st 64
make_loop vola 8
make_loop volb 32
printf 'set-size 16M\ndevice %s\n' "$st" > "$CONF/storage.conf"
mkfs_ext4 "$volb"
MNT=$(mktemp -d /tmp/cs-mnt.XXXXXX)
mount "$volb" "$MNT"
on_exit "umount $MNT"
mkdir -p "$MNT/db" "$MNT/log"
echo data > "$MNT/db/main.db"

add_writer "$CONF" web front-end ''
add_writer "$CONF" sys system ''
add_writer "$CONF" idle back-end ''
rm -f "$EVENTS"
load_module
start_daemon --config-dir "$CONF"
on_exit delete_all_sets

T=$(mktemp -d /tmp/cs-0226.XXXXXX)
sockwriter sw1 --order back-end --types full,incremental \
	--component "db/main=$MNT/db" --component "!db/log=$MNT/log"
sockwriter sw2 --order back-end

out=$("$SNAPCTL" list writers)
check_eq "$(echo "$out" | tail -n +2 | awk '{print $1, $2 ~ /^socket:[0-9]+$/ ? "socket" : $2, $3, $4, $5}')" \
	"$(printf 'web hook front-end STABLE NONE\nidle hook back-end STABLE NONE\nsw1 socket back-end STABLE NONE\nsw2 socket back-end STABLE NONE\nsys hook system STABLE NONE')" \
	"list writers with socket writers"
# one `snapctl --json list writers'; wf NAME FIELD reads from it
writers_now() {
	WRITERS=$("$SNAPCTL" --json list writers | tr -d '\n' | sed 's/} *, *{/}\n{/g')
}
wf() { echo "$WRITERS" | grep "\"name\":\"$1\"" | grep -o "\"$2\":\"[^\"]*\"" | sed 's/.*:"\(.*\)"/\1/'; }
writers_now
check_eq "$(wf sw1 kind)/$(wf sw1 class_id | cut -c1-24)" socket/5c0a1e27-0000-4000-8000- \
	"kind and class id of sw1 in --json"
echo "$WRITERS" | grep '"name":"sw1"' | grep -q '"connected":true,.*"components":2' ||
	fail "sw1 not shown connected with 2 components: $WRITERS"

# a component that does not exist, and one that is not selectable
run_rc out err rc "$SNAPCTL" backup --component sw1:nosuch --exec true "$vola"
check_eq "$rc" 1 "backup of an unknown component"
check_eq "$err" "snapctl: writer sw1 has no component \`nosuch'; see \`snapctl --json list writers'" \
	"unknown component error"
run_rc out err rc "$SNAPCTL" backup --component sw1:db/log --exec true "$vola"
check_eq "$rc" 1 "backup of a component that is not selectable"
echo "$err" | grep -qF "component db/log of writer sw1 is not selectable on its own" || fail "$err"
run_rc out err rc "$SNAPCTL" backup --type log --component sw1 --exec true "$vola"
check_eq "$rc" 1 "backup of a type the writer does not support"
echo "$err" | grep -qF "writer sw1 does not support log backups" || fail "$err"
[ ! -s "$EVENTS" ] || fail "refused backups sent events: $(cat "$EVENTS")"

cmd='echo "$COWSNAP_SNAPSHOTS" > '"$T"'/snaps; echo sw1:db/main > "$COWSNAP_FAILED_COMPONENTS"'
run_rc out err rc "$SNAPCTL" backup --type incremental --component web --component sys \
	--component sw1:db/main --save-metadata "$T/meta.json" --exec "$cmd" "$vola"
skip_if_unsupported "$err"
check_eq "$rc" 0 "backup with components (stderr: $err)"
expected="sw1 identify
web prepare-backup
sw1 prepare-backup
sys prepare-backup
web prepare-snapshot
sw1 prepare-snapshot
sys prepare-snapshot
web freeze
sw1 freeze
sys freeze
sys thaw
sw1 thaw
web thaw
web post-snapshot
sw1 post-snapshot
sys post-snapshot
web backup-complete
sw1 backup-complete
sys backup-complete"
check_eq "$(awk '{print $1, $2}' "$EVENTS")" "$expected" "events of a backup, in order"
# what the socket writer was told
check_eq "$(grep '^sw1 prepare-backup' "$EVENTS" | cut -d' ' -f4-)" \
	"type=incremental success=0 components=db/main volumes=$vola,$volb" "sw1's prepare-backup"
# post-snapshot and backup-complete name the images, as the command's
# COWSNAP_SNAPSHOTS does; they are read-only (no --writable)
snaps=$(tr ' ' , < "$T/snaps")
echo "$snaps" | grep -q "^/dev/[^=]*=/dev/cowsnap[0-9]*,/dev/[^=]*=/dev/cowsnap[0-9]*$" ||
	fail "the command's COWSNAP_SNAPSHOTS: $(cat "$T/snaps")"
check_eq "$(grep '^sw1 post-snapshot' "$EVENTS" | cut -d' ' -f4-)" \
	"type=incremental success=0 components=db/main volumes=$vola,$volb snapshots=$snaps images_writable=0" \
	"sw1's post-snapshot"
check_eq "$(grep '^sw1 backup-complete' "$EVENTS" | cut -d' ' -f4-)" \
	"type=incremental success=1 components=db/main(failed) volumes=$vola,$volb snapshots=$snaps images_writable=0" \
	"sw1's backup-complete with the failed component"
setid=$(grep '^sw1 freeze' "$EVENTS" | sed 's/.* set=\([0-9]*\) .*/\1/')
check_eq "$(grep '^sw1 thaw' "$EVENTS" | sed 's/.* set=\([0-9]*\) .*/\1/')" "$setid" "set id at thaw"
[ "$setid" -ge 1 ] || fail "no set id at freeze: $(cat "$EVENTS")"
# the component's volume came into the set
grep -q "$volb=/dev/cowsnap" "$T/snaps" || fail "component volume not in the set: $(cat "$T/snaps")"
grep -q "$vola=/dev/cowsnap" "$T/snaps" || fail "given volume not in the set: $(cat "$T/snaps")"
check_eq "$(storage_used)" 0 "storage held after the backup (no set left)"
writers_now
for w in web sys sw1 sw2 idle; do
	check_eq "$(wf $w state)/$(wf $w last_error)" STABLE/NONE "state and error of $w after the backup"
done
# the metadata document
meta=$(tr -d ' \n' < "$T/meta.json")
echo "$meta" | grep -q "\"set_id\":$setid,\"backup_type\":\"incremental\",\"writers\":\[\"web\",\"sw1\",\"sys\"\]" ||
	fail "metadata header: $meta"
echo "$meta" | grep -q '"metadata":\[{"name":"sw1","class_id":"5c0a1e27-0000-4000-8000-[0-9a-f]*"' ||
	fail "sw1's document in the metadata: $meta"
echo "$meta" | grep -q "\"files\":\[{\"path\":\"$MNT/db\",\"filespec\":\"\*\",\"recursive\":true}\]" ||
	fail "component files in the metadata: $meta"
echo "$meta" | grep -q '"components":\[{"writer":"sw1","path":"db/main"}\]' ||
	fail "selected components in the metadata: $meta"

# restore from that metadata
: > "$EVENTS"
run_rc out err rc "$SNAPCTL" restore --metadata "$T/meta.json" \
	--exec 'echo "cmd $COWSNAP_SET_ID $COWSNAP_BACKUP_TYPE" >> '"$EVENTS"
check_eq "$rc" 0 "restore (stderr: $err)"
check_eq "$(awk '{print $1, $2}' "$EVENTS")" "web pre-restore
sw1 pre-restore
sys pre-restore
cmd $setid
web post-restore
sw1 post-restore
sys post-restore" "events of a restore, in order"
check_eq "$(grep '^sw1 post-restore' "$EVENTS" | cut -d' ' -f3-)" \
	"set=$setid type=incremental success=1 components=db/main volumes=" "sw1's post-restore"
grep -q "^cmd $setid incremental$" "$EVENTS" || fail "restore command environment: $(cat "$EVENTS")"

# a restore whose command fails: post-restore says so
: > "$EVENTS"
run_rc out err rc "$SNAPCTL" restore --metadata "$T/meta.json" --exec 'exit 3'
check_eq "$rc" 1 "restore with a failing command"
check_eq "$(grep '^sw1 post-restore' "$EVENTS" | cut -d' ' -f5)" "success=0" "post-restore after a failed command"

# the restore needs the backup's writers
kill "$PID_sw1"
wait_for 10 sh -c "! \"$SNAPCTL\" list writers | grep -q '^sw1 '" || fail "sw1 still listed after it exited"
run_rc out err rc "$SNAPCTL" restore --metadata "$T/meta.json" --exec true
check_eq "$rc" 1 "restore without a writer of the backup"
echo "$err" | grep -qF "cannot restore: there is no writer \`sw1'" || fail "$err"

# a damaged metadata file
sed 's/"set_id"/"set_idx"/' "$T/meta.json" > "$T/bad.json"
run_rc out err rc "$SNAPCTL" restore --metadata "$T/bad.json" --exec true
check_eq "$rc" 1 "restore with damaged metadata"
echo "$err" | grep -qF "is not backup metadata written by \`snapctl backup --save-metadata': metadata: unknown field \`set_idx'" ||
	fail "$err"
