#!/bin/bash
# Issue 16 (memory): max_memory_mb bounds the kernel memory of the
# snapshots' chunk maps; past it the set whose map would grow turns INVALID
# (cause NOMEM), never the origin.
#
# A set with 4 KiB chunks over a 32 GiB origin (a loop device on a sparse
# file in the guest's tmpfs), the module loaded with max_memory_mb=1.  One
# 4 KiB write at a random place in each 16 MiB of the origin (4096 chunks:
# a group of the map (32 bytes), a leaf of its group index (586 bytes) and
# a block of "copied" bits (512 bytes) each, beside a 16 KiB directory of
# the blocks), in random order, O_DIRECT: 2048 writes, 2.2 MiB of map,
# more than 1 MiB holds.  Then: the set is INVALID with cause NOMEM (event and
# state), its image fails reads; every write succeeded and the origin
# holds exactly what was written (each written block read back against the
# write, made again from its seed, and the blocks beside it zeros);
# memory_used_kb stopped within one store of the cap and is 0 once the set
# is gone.  Control, max_memory_mb=64: a set over a 32 MiB loop device
# takes one write per 256 KiB (128 groups of one run, 2 leaves, 2 bit
# blocks and their directory: 6308 bytes), stays TAKEN, memory_used_kb
# shows them (7 KiB), its image's
# sha256 is the origin's at the take, and the origin (read whole) holds the
# writes over what it held then.
# Without the bound (its check disabled) the first set stays TAKEN: the
# test fails at the SET_INVALID wait.
# tier: core 6.1 6.12 7.x
# cost: 35
# timeout: 240
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/03-helpers.bash"

par=/sys/module/cowsnap/parameters
brd 2 64
modprobe loop
load_module_03 max_memory_mb=1
need SET_NEW SET_ADD_VOLUME SET_ADD_STORAGE SET_TAKE SET_GET SET_DESTROY
[ -e "$par/max_memory_mb" ] && [ -e "$par/memory_used_kb" ] ||
	fail "the module has no max_memory_mb or memory_used_kb parameter"
check_eq "$(cat "$par/max_memory_mb")" 1 "max_memory_mb after loading with 1"
check_eq "$(cat "$par/memory_used_kb")" 0 "memory_used_kb before any set"

# rw write|check|check-near DEV SEED RUN [BASE]: one 4 KiB block at a
# random place in each RUN bytes of DEV gets random bytes, in random order
# (both from SEED), O_DIRECT.  write: any failed or short write fails.
# check: DEV holds exactly those writes over BASE (a file as large as DEV,
# the content before them; zeros without it), read whole with O_DIRECT.
# check-near: each written block and the blocks beside it only (zeros).
rw() {
	python3 - "$@" <<'PY'
import mmap, os, random, sys
mode, dev, seed, RUN = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
base = open(sys.argv[5], "rb", buffering=0) if len(sys.argv) > 5 else None
BS, PIECE = 4096, 4 << 20
fd = os.open(dev, (os.O_WRONLY if mode == "write" else os.O_RDONLY) | os.O_DIRECT)
size = os.lseek(fd, 0, os.SEEK_END)
rnd = random.Random(seed)
order = list(range(size // RUN))
rnd.shuffle(order)
writes = {}
for r in order:
    writes[r * RUN + rnd.randrange(RUN // BS) * BS] = rnd.randbytes(BS)
if mode == "write":
    buf = mmap.mmap(-1, BS)
    for off, data in writes.items():
        buf[:] = data
        n = os.pwrite(fd, buf, off)
        if n != BS:
            sys.exit(f"short write at {off}: {n}")
    print(f"# {len(writes)} writes to {dev}")
    sys.exit(0)
if mode == "check-near":
    buf = mmap.mmap(-1, 3 * BS)
    for off, data in writes.items():
        n = os.preadv(fd, [buf], off - BS)
        if n != 3 * BS or buf[BS:2 * BS] != data:
            sys.exit(f"{dev}: the block at byte {off} is not what was written")
        if buf[:BS] != bytes(BS) or buf[2 * BS:] != bytes(BS):
            sys.exit(f"{dev}: a block beside byte {off} is not zeros")
    sys.exit(0)
pieces = {}
for off in writes:
    pieces.setdefault(off // PIECE, []).append(off)
buf = mmap.mmap(-1, PIECE)
for pos in range(0, size, PIECE):
    n = os.preadv(fd, [buf], pos)
    got = buf[:n]
    exp = bytearray(base.read(n)) if base else bytearray(n)
    for off in pieces.get(pos // PIECE, []):
        exp[off - pos:off - pos + BS] = writes[off]
    if got != exp:
        bad = next(o for o in range(0, n, BS) if got[o:o + BS] != exp[o:o + BS])
        sys.exit(f"{dev}: the block at byte {pos + bad} is not what was written")
PY
}

events_start "$T/events"
sess_start

# The cap: 1 MiB.
truncate -s 32G "$T/big"
big=$(losetup --find --show --direct-io=off "$T/big") || fail "losetup $T/big"
on_exit "losetup -d $big"
take_one "$big" /dev/ram1 $((64 * 2048)) --chunk-sectors 8
note "$SECONDS s: 2048 writes under max_memory_mb=1"
rw write "$big" 1 $((16 << 20)) || fail "an origin write failed past the cap"
note "$SECONDS s: written"
wait_for 20 grep -q "^event SET_INVALID set=$SET " "$T/events" ||
	fail "no SET_INVALID event past the cap: $(cat "$T/events"); memory_used_kb $(cat "$par/memory_used_kb")"
grep -q "^event SET_INVALID set=$SET cause=NOMEM" "$T/events" ||
	fail "SET_INVALID with the wrong cause: $(cat "$T/events")"
check_eq "$(set_field "$SET" state)" INVALID "state past the cap"
check_eq "$(set_field "$SET" cause)" NOMEM "cause past the cap"
# charged up to within one store (1130 bytes) of 1024 KiB, never past it
# (rounded up: 1023 or 1024)
used=$(cat "$par/memory_used_kb")
[ "$used" = 1023 ] || [ "$used" = 1024 ] ||
	fail "memory_used_kb past the cap: $used, not within one store of 1024"
read_fails "$img"
rw check-near "$big" 1 $((16 << 20)) || fail "the origin is not what was written to it"
note "$SECONDS s: origin verified"
s destroy "$SET"
wait_for 20 test "$(cat "$par/memory_used_kb")" = 0 ||
	fail "memory_used_kb $(cat "$par/memory_used_kb") after the set was destroyed"

# The control: a generous cap, a set that stays TAKEN.
echo 64 > "$par/max_memory_mb" || fail "max_memory_mb 64 refused"
truncate -s 32M "$T/origin"
loop=$(losetup --find --show "$T/origin") || fail "losetup"
on_exit "losetup -d $loop"
dd if=/dev/urandom of="$loop" bs=1M count=32 oflag=direct status=none || fail "filling $loop"
cp "$T/origin" "$T/take"
take_sum=$(sha256sum < "$T/take")
note "$SECONDS s: control origin filled"
take_one "$loop" /dev/ram1 $((64 * 2048)) --chunk-sectors 8
note "$SECONDS s: 128 writes under max_memory_mb=64"
rw write "$loop" 2 $((256 << 10)) || fail "an origin write failed under the generous cap"
note "$SECONDS s: written"
check_eq "$(set_field "$SET" state)" TAKEN "state of the control set"
used=$(cat "$par/memory_used_kb")
# 128 groups of one run (kmalloc-32), 2 leaves of the group index (5268
# bytes), 2 blocks of bits (1024) and their directory (16): 6308 bytes
check_eq "$used" 7 "memory_used_kb for 128 scattered chunks"
check_eq "$(sha256sum < "$img")" "$take_sum" "sha256 of the control image"
rw check "$loop" 2 $((256 << 10)) "$T/take" || fail "the control origin is not what was written to it"
s destroy "$SET"
wait_for 20 test "$(cat "$par/memory_used_kb")" = 0 ||
	fail "memory_used_kb $(cat "$par/memory_used_kb") after the control set was destroyed"
note "$SECONDS s: done"
sess_kill
