#!/bin/bash
# Design rule 6: changed-block tracking.  A volume kept tracked (TRACK) has a
# generation id and a chunk size; CBT_GET tells exactly which chunks were
# written since tracking began (SET_ID 0) or since a set's take, over any
# window of chunks; a volume tracked anew has a new generation.
# tier: full
# cost: 28
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/03-helpers.bash"

need SET_NEW SET_ADD_VOLUME SET_ADD_STORAGE SET_TAKE SET_GET SET_DESTROY VOLUME_GET TRACK UNTRACK CBT_GET
brd 3 64
load_module_03

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
"$NLCTL" track /dev/ram0
line=$("$NLCTL" volume-get /dev/ram0)
[ -n "$line" ] || fail "ram0 not listed after TRACK"
check_eq "$(echo "$line" | field flags)" keep "flags after TRACK"
gen1=$(echo "$line" | field generation)
[[ $gen1 =~ ^[0-9a-f]{32}$ ]] || fail "generation \`$gen1'"
C=$(echo "$line" | field chunk_sectors)
[ "$C" -ge 8 ] || fail "CBT chunk of $C sectors"
N=$((64 * 2048 / C))
note "CBT chunk $C sectors, $N chunks"

# write_chunks FIRST COUNT: one write covering whole chunks.
write_chunks() {
	dd if=/dev/urandom of=/dev/ram0 bs=$((C * 512)) seek="$1" count="$2" oflag=direct status=none
}
# ranges SET [FIRST COUNT]: the "range" lines of CBT_GET, one string.
ranges() {
	"$NLCTL" cbt-get /dev/ram0 "$1" "${2:-0}" "${3:-$N}" > "$T/cbt" || fail "CBT_GET: $(cat "$T/cbt")"
	grep -q "^cbt generation=" "$T/cbt" || fail "CBT_GET output: $(cat "$T/cbt")"
	awk '$1 == "range" { printf "%s%s+%s", sep, $2, $3; sep = " " }' "$T/cbt"
}

check_eq "$(ranges 0)" "" "changed chunks right after TRACK"
write_chunks 3 1
write_chunks 10 1
# A 4 KiB write inside chunk 40 marks that chunk only.
dd if=/dev/urandom of=/dev/ram0 bs=4096 seek=$((40 * C / 8 + (C > 8 ? 1 : 0))) count=1 oflag=direct status=none
write_chunks 50 3
check_eq "$(ranges 0)" "3+1 10+1 40+1 50+3" "chunks changed since tracking began"
# A window of the map: chunk indices stay absolute.
check_eq "$(ranges 0 10 40)" "10+1 40+1" "window 10..49"
grep -q " first=10 " "$T/cbt" || fail "window reply: $(cat "$T/cbt")"
# Reads change nothing.
dd if=/dev/ram0 of=/dev/null bs=1M iflag=direct status=none
check_eq "$(ranges 0)" "3+1 10+1 40+1 50+3" "after reading the whole volume"

sess_start
new_set --persistent
S1=$SET
s add-volume "$S1" /dev/ram0
s add-storage "$S1" /dev/ram1 0 $((64 * 2048))
s take "$S1"
sess_kill
check_eq "$(ranges "$S1")" "" "changed since the take of $S1, right after it"
write_chunks 20 1
write_chunks 3 1
check_eq "$(ranges "$S1")" "3+1 20+1" "changed since the take of $S1"
check_eq "$(ranges 0)" "3+1 10+1 20+1 40+1 50+3" "changed since tracking began"

sess_start
new_set --persistent
S2=$SET
s add-volume "$S2" /dev/ram0
s add-storage "$S2" /dev/ram2 0 $((64 * 2048))
s take "$S2"
sess_kill
write_chunks 30 2
check_eq "$(ranges "$S2")" "30+2" "changed since the take of $S2"
check_eq "$(ranges "$S1")" "3+1 20+1 30+2" "changed since the take of $S1, later"
check_eq "$("$NLCTL" volume-get /dev/ram0 | field generation)" "$gen1" "generation while tracked"

# Bad windows are refused.
expect_fail "$NLCTL" cbt-get /dev/ram0 0 0 0
expect_fail "$NLCTL" cbt-get /dev/ram0 0 0 262145
expect_fail "$NLCTL" cbt-get /dev/ram0 999999 0 8

# Tracking ends when the keep flag and every set are gone; tracked anew,
# the volume gets a new generation.
"$NLCTL" untrack /dev/ram0
check_eq "$("$NLCTL" volume-get /dev/ram0 | field flags)" none "flags after UNTRACK with sets left"
"$NLCTL" destroy "$S1"
"$NLCTL" destroy "$S2"
wait_for 10 sh -c "[ -z \"\$('$NLCTL' volume-get /dev/ram0)\" ]" ||
	fail "ram0 still tracked with no set and no keep flag: $("$NLCTL" volume-get /dev/ram0)"
"$NLCTL" track /dev/ram0
gen2=$("$NLCTL" volume-get /dev/ram0 | field generation)
check_ne "$gen2" "$gen1" "generation after tracking anew"
check_eq "$(ranges 0)" "" "changed chunks after tracking anew"
"$NLCTL" untrack /dev/ram0
