#!/bin/bash
# The interception hook comes and goes while writes run: each round makes
# the only tracker of a written volume (the module attaches its hook on
# submit_bio_noacct) and drops it again (the hook is detached); every other
# round takes a snapshot in between, so writes also pass through
# copy-on-write.  No write is lost, torn or failed across the switches: the
# origin ends with exactly the last acknowledged version of every block, and
# each image holds a whole version of each block, none newer than the take.
# tier: full
# cost: 72
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/03-helpers.bash"

need SET_NEW SET_ADD_VOLUME SET_ADD_STORAGE SET_TAKE SET_GET SET_DESTROY
brd 2 8
load_module_03
ROUNDS=12
st=$T/st

"$BLKSTAMP" write /dev/ram0 --state "$st" --threads 2 --max-run 4 --init > "$st.log" 2>&1 &
w=$!
on_exit "kill $w 2>/dev/null || true"
wait_for 60 test -e "$st.ready" || fail "the writer did not start: $(cat "$st.log")"
sess_start
takes=0
for ((r = 1; r <= ROUNDS; r++)); do
	new_set --chunk-sectors 8
	s add-volume "$SET" /dev/ram0
	if ((r % 2 == 0)); then
		s add-storage "$SET" /dev/ram1 0 $((8 * 2048))
		rm -f "$st.lo.ok" "$st.hi.ok"
		kill -USR1 "$w"
		wait_for 10 test -e "$st.lo.ok" || fail "round $r: the writer did not record lo"
		s take "$SET"
		kill -USR2 "$w"
		wait_for 10 test -e "$st.hi.ok" || fail "round $r: the writer did not record hi"
		"$BLKSTAMP" verify "$(image_of "$SET" /dev/ram0)" --lo "$st.lo" --hi "$st.hi" > "$T/v" ||
			fail "round $r: the image holds versions outside the take: $(tail -n 3 "$T/v")"
		takes=$((takes + 1))
	fi
	s destroy "$SET"
	kill -0 "$w" 2>/dev/null || fail "round $r: the writer died: $(cat "$st.log")"
done
sess_kill
kill -TERM "$w"
wait "$w" || fail "the writer failed: $(cat "$st.log")"
note "$ROUNDS rounds, $takes takes: $(cat "$st.log")"
"$BLKSTAMP" verify /dev/ram0 --exact "$st.final" > "$T/v" ||
	fail "the origin lost or tore acknowledged writes: $(tail -n 3 "$T/v")"
# The check can fail: the writer must have written across the rounds.
writes=$(sed -n 's/.*writes=\([0-9]*\).*/\1/p' "$st.log")
[ "${writes:-0}" -gt $((ROUNDS * 10)) ] || fail "too few writes across the rounds: $(cat "$st.log")"
