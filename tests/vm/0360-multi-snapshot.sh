#!/bin/bash
# Issue 3, must hold 6: eight snapshots of one volume, all alive at once,
# each taken after more random writes; each image keeps its own point in
# time (every block at the exact version the origin had at its take), also
# after more writes and after the destruction of some of the others.
# tier: full
# cost: 52
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/03-helpers.bash"

need SET_NEW SET_ADD_VOLUME SET_ADD_STORAGE SET_TAKE SET_GET SET_DESTROY
N=8
# ram0 is the origin, ram1..ram8 the storage of sets 1..8 (each as big as
# the origin: it can never fill).
brd $((N + 1)) 64
load_module_03

"$BLKSTAMP" fill /dev/ram0 --version 1
# Random runs of blocks; each round about 2 MiB of the 64 MiB.
churn() {
	"$BLKSTAMP" write /dev/ram0 --state "$T/st$1" --threads 2 --max-run 4 --writes 100 > /dev/null ||
		fail "writer failed in round $1"
}

for ((i = 1; i <= N; i++)); do
	churn "$i"
	digest[$i]=$("$BLKSTAMP" digest /dev/ram0)
	sess_start
	new_set --persistent --chunk-sectors 16
	s add-volume "$SET" /dev/ram0
	s add-storage "$SET" /dev/ram$i 0 $((64 * 2048))
	s take "$SET"
	sess_kill
	set_id[$i]=$SET
	img[$i]=$(image_of "$SET" /dev/ram0)
done
check_eq "$("$NLCTL" get | grep -c '^set .* state=TAKEN')" "$N" "TAKEN sets"
if "$NLCTL" ops | grep -qx VOLUME_GET; then
	snaps=$("$NLCTL" volume-get /dev/ram0 | sed -n 's/.* snapshots=\([0-9]*\).*/\1/p')
	check_eq "$snaps" "$N" "snapshots of ram0 in VOLUME_GET"
fi
churn final

verify_all() {
	local i
	for ((i = 1; i <= N; i++)); do
		[ -n "${set_id[$i]:-}" ] || continue
		"$BLKSTAMP" verify "${img[$i]}" --exact "$T/st$i.final" > "$T/v" ||
			fail "$1: image $i (${img[$i]}) lost its point in time: $(cat "$T/v")"
		check_eq "$("$BLKSTAMP" digest "${img[$i]}")" "${digest[$i]}" "$1: bytes of image $i"
	done
}
verify_all "all $N alive"
# Distinct points in time really were taken.
[ "${digest[1]}" != "${digest[$N]}" ] || fail "first and last image are alike: the churn wrote nothing"

# Destroy every other one; the rest keep their content through more writes.
for ((i = 2; i <= N; i += 2)); do
	"$NLCTL" destroy "${set_id[$i]}" || fail "destroy of set $i"
	unset "set_id[$i]"
done
churn after
verify_all "after destroying half"
"$BLKSTAMP" verify /dev/ram0 --exact "$T/stafter.final" > /dev/null || fail "origin lost writes"

# Writes of 2 MiB (up to 256 chunks per bio) with four snapshots live:
# more checks than the lock-free pass makes with preemption off (CLEAR_MAX,
# snapshot.c), so the rewrites go under the lock chunk by chunk.  The first pass copies
# what is left, the second finds everything copied; the images keep their
# bytes, the origin has the new ones.
head -c $((64 << 20)) /dev/urandom > "$T/big"
for pass in 1 2; do
	dd if="$T/big" of=/dev/ram0 bs=2M oflag=direct status=none || fail "2 MiB writes, pass $pass"
done
verify_all "after 2 MiB rewrites"
check_eq "$(sha256sum < /dev/ram0)" "$(sha256sum < "$T/big")" "origin after the 2 MiB writes"
