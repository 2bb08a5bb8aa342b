#!/bin/bash
# Hook writers: every event reaches each writer in the VSS order (freeze
# front-end before back-end before system, thaw in reverse); a freeze hook
# holds its application across the take (what it wrote before saying
# `frozen' is in the image, what it writes on release is not); with
# --no-writers no writer hears anything and the set is crash-consistent.
# tier: once
# cost: 60
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.bash"

make_loop st 64
make_loop raw 8
printf 'set-size 16M\ndevice %s\n' "$st" > "$CONF/storage.conf"
head -c 4096 /dev/zero | tr '\0' F > /tmp/pat-frozen
head -c 4096 /dev/zero | tr '\0' R > /tmp/pat-released
export RAW=$raw
add_writer "$CONF" web front-end ''
add_writer "$CONF" db back-end '
if [ "$1" = freeze ]; then
	dd if=/tmp/pat-frozen of=$RAW bs=4096 count=1 oflag=direct conv=notrunc status=none
	echo frozen
	cat > /dev/null          # hold until cowsnapd closes our stdin at thaw
	dd if=/tmp/pat-released of=$RAW bs=4096 count=1 oflag=direct conv=notrunc status=none
	record released
fi'
add_writer "$CONF" sys system ''
rm -f "$EVENTS"
load_module
RAW=$raw start_daemon --config-dir "$CONF"
on_exit delete_all_sets

out=$("$SNAPCTL" list writers)
check_eq "$(echo "$out" | tail -n +2 | awk '{print $1, $2, $3, $4, $5}')" \
	"$(printf 'web hook front-end STABLE NONE\ndb hook back-end STABLE NONE\nsys hook system STABLE NONE')" \
	"list writers before the backup"

run_rc out err rc "$SNAPCTL" create "$raw"
skip_if_unsupported "$err"
check_eq "$rc" 0 "create with writers (stderr: $err)"
check_eq "$err" "" "stderr of an application-consistent create"
img=$(echo "$out" | sed -n 2p | awk '{print $2}')
expected="web prepare-backup
db prepare-backup
sys prepare-backup
web prepare-snapshot
db prepare-snapshot
sys prepare-snapshot
web freeze
db freeze
sys freeze
sys thaw
db released
db thaw
web thaw
web post-snapshot
db post-snapshot
sys post-snapshot
web backup-complete
db backup-complete
sys backup-complete"
check_eq "$(cat "$EVENTS")" "$expected" "events in order"
cmp -n 4096 /tmp/pat-frozen "$img" || fail "the image lacks what the writer wrote before freezing"
cmp -n 4096 /tmp/pat-released "$raw" || fail "the origin lacks what the writer wrote at release"
for w in web db sys; do
	check_eq "$(writer_field $w state)" STABLE "state of $w after the backup"
	check_eq "$(writer_field $w last_error)" NONE "last error of $w"
done

rm -f "$EVENTS"
run_rc out err rc "$SNAPCTL" --json create --no-writers "$raw"
check_eq "$rc" 0 "create --no-writers (stderr: $err)"
echo "$out" | grep -q '"consistency":"crash"' || fail "--no-writers set not crash-consistent: $out"
[ ! -e "$EVENTS" ] || fail "writers heard a --no-writers create: $(cat "$EVENTS")"
run_rc out err rc "$SNAPCTL" --json create "$raw"
echo "$out" | grep -q '"consistency":"application"' || fail "set with writers: $out"
echo "$out" | grep -q '"writers":3' || fail "writer count: $out"
