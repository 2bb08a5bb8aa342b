#!/bin/bash
# Issue 10, item 5: copies when memory is exhausted.  The module's test knob
# test_copy_reserve_only leaves the copy path only its page reserve (16
# chunks of 64 KiB), as when the page allocator gives nothing.  The origin
# is a dm-delay device whose reads take 100 ms, so that fio's 64 writes in
# flight to distinct 64 KiB chunks need 64 copies at once: most cannot get
# pages.  Those copies must fail at once, not wait for memory: the set turns
# INVALID with cause NOMEM (event and state), its image fails reads with
# EIO, and every origin write completes with the bytes fio's own crc32c
# verifier expects.  Control, the knob off: the same load leaves a second
# set TAKEN, its image exactly the take.
# tier: full
# cost: 45
# timeout: 300
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/03-helpers.bash"

need SET_NEW SET_ADD_VOLUME SET_ADD_STORAGE SET_TAKE SET_GET SET_DESTROY
type -P fio > /dev/null || skip "no fio"
brd 2 64
dm_delay cs-slow /dev/ram0 100 0
vol=$DM_DEV
load_module_03
[ -e /sys/module/cowsnap/parameters/test_copy_reserve_only ] ||
	fail "the module has no test_copy_reserve_only knob"

# fio and its libraries from tmpfs: loading them over the guest's 9p share
# for each run is slow under emulation.
F=$T/fio
mkdir "$F"
cp -L "$(type -P fio)" $(ldd "$(type -P fio)" | awk '$3 ~ /^\// { print $3 }') "$F/"
# load SEED: 32 MiB of 64 KiB random writes to distinct chunks, 64 in
# flight, then fio reads every block back and checks its crc32c.
load() {
	LD_LIBRARY_PATH=$F "$F/fio" --name=cow --filename="$vol" --rw=randwrite --bs=64k \
		--size=32M --direct=1 --ioengine=libaio --iodepth=64 --randseed="$1" \
		--verify=crc32c --do_verify=1 --verify_fatal=1 --output="$T/fio.out" \
		> "$T/fio.err" 2>&1 || fail "fio (seed $1): an origin write or its verify failed: $(
			cat "$T/fio.err"; grep -E 'err=|verify' "$T/fio.out")"
	grep -q 'err= 0' "$T/fio.out" || fail "fio (seed $1) reports errors: $(cat "$T/fio.out")"
}
# take: a set of $vol with 48 MiB of storage, taken; $img its image, $T/take
# a copy of the volume (read under dm-delay, not through it) made before the take.
take() {
	dd if=/dev/ram0 of="$T/take" bs=4M iflag=direct status=none || fail "copy of $vol"
	take_one "$vol" /dev/ram1 $((48 * 2048)) --chunk-sectors 128
}

dd if=/dev/urandom of="$vol" bs=4M count=16 oflag=direct status=none || fail "filling $vol"
events_start "$T/events"
sess_start

echo 1 > /sys/module/cowsnap/parameters/test_copy_reserve_only
on_exit "echo 0 > /sys/module/cowsnap/parameters/test_copy_reserve_only"
take
note "$SECONDS s: the load with only the copy reserve"
load 1
wait_for 20 grep -q "^event SET_INVALID set=$SET " "$T/events" ||
	fail "no SET_INVALID event with only the copy reserve: $(cat "$T/events")"
grep -q "^event SET_INVALID set=$SET cause=NOMEM" "$T/events" ||
	fail "SET_INVALID with the wrong cause: $(cat "$T/events")"
check_eq "$(set_field "$SET" state)" INVALID "state after copies without memory"
check_eq "$(set_field "$SET" cause)" NOMEM "cause after copies without memory"
read_fails "$img"
# The origin goes on: a second load, verified, with the set still there.
load 2
s destroy "$SET"
echo 0 > /sys/module/cowsnap/parameters/test_copy_reserve_only

take
note "$SECONDS s: the control"
load 3
check_eq "$(set_field "$SET" state)" TAKEN "state of the control set"
dd if="$img" of="$T/img" bs=4M iflag=direct status=none || fail "control: reading $img"
cmp "$T/take" "$T/img" > "$T/v" 2>&1 || fail "control: the image is not the take: $(cat "$T/v")"
note "$SECONDS s: done"
s destroy "$SET"
sess_kill
