#!/bin/bash
# Issue 3, must hold 3: atomic sets.  A writer writes block k to volume A,
# then, after completion, to B (and on along a chain of 8 volumes); in the
# images of a set taken meanwhile, no volume holds a newer k than the volume
# before it in the chain, and first and last differ by at most one version.
# Several takes with two volumes, then with eight.
# tier: full
# cost: 62
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/03-helpers.bash"

need SET_NEW SET_ADD_VOLUME SET_ADD_STORAGE SET_TAKE SET_GET SET_DESTROY
brd 9 32
load_module_03
STORE=/dev/ram8

# round NVOL: chain-write over ram0..ram(NVOL-1), take them as one set.
round() {
	local n=$1 r=$2 i devs=() imgs=() w per
	for ((i = 0; i < n; i++)); do
		devs+=(/dev/ram$i)
	done
	rm -f "$T/ready"
	BLKSTAMP_READY=$T/ready "$BLKSTAMP" chain-write "${devs[@]}" --threads 4 --blocks 512 \
		> "$T/chain.log" 2>&1 &
	w=$!
	wait_for 60 test -e "$T/ready" || fail "chain writer did not start: $(cat "$T/chain.log")"
	sess_start
	new_set --chunk-sectors 8
	per=$((32 * 2048 / n))
	for ((i = 0; i < n; i++)); do
		s add-volume "$SET" "${devs[$i]}"
		s add-storage "$SET" "$STORE" $((i * per)) "$per"
	done
	sleep 1
	s take "$SET"
	sleep 1
	kill -TERM "$w"
	wait "$w" || fail "chain writer failed: $(cat "$T/chain.log")"
	note "$n volumes, round $r: $(cat "$T/chain.log")"
	for ((i = 0; i < n; i++)); do
		imgs+=("$(image_of "$SET" "${devs[$i]}")")
	done
	"$BLKSTAMP" chain-verify "${imgs[@]}" --blocks 512 > "$T/verify" ||
		fail "$n volumes, round $r: the set is not one instant: $(cat "$T/verify")"
	note "$(tail -n 1 "$T/verify")"
	# The origins are all at the same, final version: the writer really wrote.
	"$BLKSTAMP" chain-verify "${devs[@]}" --blocks 512 > "$T/verify" ||
		fail "origins inconsistent: $(cat "$T/verify")"
	grep -q "in_flight=0" "$T/verify" || fail "origins differ after the writer stopped: $(cat "$T/verify")"
	s destroy "$SET"
	sess_kill
}

for r in 1 2; do
	round 2 "$r"
done
for r in 1 2; do
	round 8 "$r"
done
