#!/bin/bash
# A writer frozen for a create is never held past its freeze bound by the
# take: the module's hold (draining writes in flight, 10 s by default) gets
# only what is left of the bound.  A write issued during the freeze to a
# dm-delay volume (6 s per write) cannot drain within --max-freeze 2s: the
# create fails with ETIMEDOUT saying why, the writer is thawed within the
# bound, no set is left, and the slow write lands.
# tier: once
# cost: 40
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.bash"

make_loop st 64
make_loop raw 16
dm_delay cs0233 "$raw" 0 6000
printf 'set-size 16M\ndevice %s\n' "$st" > "$CONF/storage.conf"
# at freeze: a slow write in flight, then frozen until thaw (end of input)
add_writer "$CONF" app front-end '
if [ "$1" = freeze ]; then
	dd if=/dev/urandom of=/tmp/slow-block bs=4k count=1 status=none
	setsid dd if=/tmp/slow-block of='"$DM_DEV"' bs=4k seek=100 count=1 oflag=direct \
		conv=notrunc status=none < /dev/null > /dev/null 2>&1 &
	sleep 0.3
	date +%s%3N > /tmp/frozen-at
	echo frozen
	cat > /dev/null
	date +%s%3N > /tmp/released-at
fi'
rm -f "$EVENTS" /tmp/frozen-at /tmp/released-at
load_module
start_daemon --config-dir "$CONF" --max-freeze 2s
on_exit delete_all_sets

run_rc out err rc "$SNAPCTL" create "$DM_DEV"
skip_if_unsupported "$err"
check_eq "$rc" 1 "create with a write that cannot drain within the freeze bound"
echo "$err" | grep -qF "the take did not finish within what was left of the writers' freeze bound" ||
	fail "create's error: $err"
wait_for 10 test -s /tmp/released-at || fail "the writer was not released"
held=$(( $(cat /tmp/released-at) - $(cat /tmp/frozen-at) ))
note "writer frozen for $held ms (bound 2000 ms)"
[ "$held" -le 3000 ] || fail "the writer was held frozen $held ms, past its 2 s bound"
check_eq "$(grep -E '^app (thaw|abort)$' "$EVENTS" | tr '\n' ' ')" "app thaw app abort " \
	"writer after the failed take"
check_eq "$("$SNAPCTL" list sets | tail -n +2)" "" "sets after the failed create"
check_eq "$(storage_used)" 0 "storage after the failed create"
# the slow write landed
wait_for 15 cmp -s /tmp/slow-block <(dd if="$DM_DEV" bs=4k skip=100 count=1 iflag=direct status=none) ||
	fail "the write held at the take was lost"
stop_daemon
