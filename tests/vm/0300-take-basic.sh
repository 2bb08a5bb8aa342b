#!/bin/bash
# One volume, one set, the whole life cycle through the protocol: SET_NEW
# (and its attribute checks), ADD_VOLUME, ADD_STORAGE, TAKE, GET, DESTROY.
# The image holds the origin's bytes at the take while the origin is
# rewritten; the image is read-only; it disappears with its set.
# tier: core
# cost: 23
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/03-helpers.bash"

need SET_NEW SET_ADD_VOLUME SET_ADD_STORAGE SET_TAKE SET_GET SET_DESTROY
brd 2 64
load_module_03

# Attribute checks of SET_NEW: each refused with an extack message.  Out
# of range: the uapi says EINVAL; the kernel's NLA_POLICY_RANGE answers
# ERANGE: either is accepted here.
expect_rc 22 "$NLCTL" set-new --chunk-sectors 12
grep -q ": .\+" "$T/expect_rc.out" || fail "no extack for a bad chunk size: $(cat "$T/expect_rc.out")"
expect_range() {
	local rc=0
	"$@" > "$T/expect_rc.out" 2>&1 || rc=$?
	[ "$rc" = 22 ] || [ "$rc" = 34 ] || fail "$*: exit $rc, expected EINVAL or ERANGE: $(cat "$T/expect_rc.out")"
	grep -q ": .*: .\+" "$T/expect_rc.out" || fail "$*: no extack: $(cat "$T/expect_rc.out")"
}
expect_range "$NLCTL" set-new --chunk-sectors 4
expect_range "$NLCTL" set-new --chunk-sectors 262144
expect_range "$NLCTL" set-new --hold-ms 50
expect_rc 95 "$NLCTL" set-new --flags 0x80
expect_rc 2 "$NLCTL" get 999999
expect_rc 2 "$NLCTL" destroy 999999

"$BLKSTAMP" fill /dev/ram0 --version 1
sess_start
new_set --chunk-sectors 64
check_eq "$(set_field "$SET" state)" DEFINING "state after SET_NEW"
check_eq "$(set_field "$SET" chunk_sectors)" 64 "chunk size"
# A take without volume or storage fails and leaves the set DEFINING.
sess_run take "$SET"
check_eq "$SESS_RC" 22 "take of a set without volumes"
s add-volume "$SET" /dev/ram0
sess_run add-volume "$SET" /dev/ram0
check_eq "$SESS_RC" 17 "adding a volume twice (EEXIST)"
sess_run take "$SET"
check_eq "$SESS_RC" 22 "take of a set without storage"
# Storage overlapping a volume of the set is refused.
sess_run add-storage "$SET" /dev/ram0 0 8192
check_ne "$SESS_RC" 0 "storage on the set's own volume"
s add-storage "$SET" /dev/ram1 0 $((64 * 2048))
check_eq "$(set_field "$SET" storage_sectors)" $((64 * 2048)) "storage given"
check_eq "$(set_field "$SET" state)" DEFINING "state before take"

before=$("$BLKSTAMP" digest /dev/ram0)
s take "$SET"
grep -q "^set $SET state=TAKEN" <<< "$SESS_OUT" || fail "take reply: $SESS_OUT"
check_eq "$(set_field "$SET" state)" TAKEN "state after take"
[ "$(set_field "$SET" taken_ns)" -gt 0 ] || fail "no taken_ns"
img=$(image_of "$SET" /dev/ram0)
note "image $img"
check_eq "$(blockdev --getsize64 "$img")" "$(blockdev --getsize64 /dev/ram0)" "image size"
check_eq "$("$BLKSTAMP" digest "$img")" "$before" "image bytes right after the take"
sha_before=$(sha256sum < /dev/ram0)

# Rewrite the whole origin: the image keeps version 1 everywhere.
"$BLKSTAMP" fill /dev/ram0 --version 2
"$BLKSTAMP" verify /dev/ram0 --version 2 > /dev/null || fail "origin lost writes"
"$BLKSTAMP" verify "$img" --version 1 || fail "image changed with the origin"
check_eq "$("$BLKSTAMP" digest "$img")" "$before" "image bytes after rewriting the origin"
# Through the page cache as well.
echo 3 > /proc/sys/vm/drop_caches
check_eq "$(sha256sum < "$img")" "$sha_before" "buffered read of the image"
copied=$(vol_field "$SET" copied)
[ "$copied" -gt 0 ] || fail "chunks_copied is $copied after a full rewrite"
[ "$(set_field "$SET" storage_used)" -gt 0 ] || fail "storage_used is 0 after a full rewrite"

# The image is read-only.
if dd if=/dev/zero of="$img" bs=4k count=1 oflag=direct 2>/dev/null; then
	fail "a write to the image succeeded"
fi
"$BLKSTAMP" verify "$img" --version 1 > /dev/null || fail "image changed by a refused write"

# The dump lists the set; DESTROY removes it and its image.
"$NLCTL" get | grep -q "^set $SET state=TAKEN" || fail "dump lacks set $SET"
s destroy "$SET"
expect_rc 2 "$NLCTL" get "$SET"
wait_for 10 test ! -b "$img" || fail "$img still there after destroy"
"$BLKSTAMP" verify /dev/ram0 --version 2 > /dev/null || fail "origin changed by destroy"
