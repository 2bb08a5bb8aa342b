#!/bin/bash
# Issue 3, must hold 1: immutability on a raw device.  Four threads write
# self-describing blocks with O_DIRECT to an unmounted volume before, during
# and long after the take.  Every block of the image is one whole version,
# acknowledged before the take or in flight during it, never a later one;
# two full reads of the image with heavy origin writes between them give the
# same bytes; the origin ends with every acknowledged write.
# tier: core 6.1 6.12 7.x
# cost: 62
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/03-helpers.bash"

need SET_NEW SET_ADD_VOLUME SET_ADD_STORAGE SET_TAKE SET_GET SET_DESTROY
brd 2 32
load_module_03

round() {
	local chunk=$1 st=$T/st$1 w img d1 d2
	"$BLKSTAMP" write /dev/ram0 --state "$st" --threads 4 --max-run 16 --init > "$st.log" 2>&1 &
	w=$!
	wait_for 60 test -e "$st.ready" || fail "the writer did not start: $(cat "$st.log")"
	sess_start
	new_set --chunk-sectors "$chunk"
	s add-volume "$SET" /dev/ram0
	s add-storage "$SET" /dev/ram1 0 $((32 * 2048))
	sleep 1
	# lo: what was acknowledged before the take; hi: what was submitted
	# before it returned.
	kill -USR1 "$w"
	wait_for 10 test -e "$st.lo.ok" || fail "writer did not record lo"
	s take "$SET"
	kill -USR2 "$w"
	wait_for 10 test -e "$st.hi.ok" || fail "writer did not record hi"
	img=$(image_of "$SET" /dev/ram0)
	sleep 3
	"$BLKSTAMP" verify "$img" --lo "$st.lo" --hi "$st.hi" ||
		fail "chunk $chunk: the image holds versions outside the take"
	d1=$("$BLKSTAMP" digest "$img") || fail "reading $img failed"
	sleep 2
	d2=$("$BLKSTAMP" digest "$img") || fail "reading $img failed"
	check_eq "$d2" "$d1" "chunk $chunk: image digest across heavy origin writes"
	kill -TERM "$w"
	wait "$w" || fail "the writer failed: $(cat "$st.log")"
	note "$(cat "$st.log")"
	"$BLKSTAMP" verify /dev/ram0 --exact "$st.final" ||
		fail "chunk $chunk: the origin lost acknowledged writes"
	"$BLKSTAMP" verify "$img" --lo "$st.lo" --hi "$st.hi" > /dev/null ||
		fail "chunk $chunk: the image changed after the writer stopped"
	check_eq "$("$BLKSTAMP" digest "$img")" "$d1" "chunk $chunk: final image digest"
	# The check can fail: the origin has moved past what the take saw.
	if "$BLKSTAMP" verify /dev/ram0 --lo "$st.lo" --hi "$st.hi" > /dev/null; then
		fail "chunk $chunk: origin still within the take's bounds: the writers wrote too little"
	fi
	[ "$(vol_field "$SET" copied)" -gt 0 ] ||
		fail "chunk $chunk: no chunk copied"
	s destroy "$SET"
	sess_kill
}

# A chunk of one 4 KiB block, and one of 128 KiB that every write shares
# with neighbours written by other threads.
round 8
round 256
