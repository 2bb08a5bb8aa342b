#!/bin/bash
# No reordering window between image reads and origin writes: image reads of
# chunks not yet copied race with origin writes to the same chunks (readers
# and writers on the same small device, O_DIRECT both ways); every read of
# the image returns the data of the take, and so do full reads afterwards.
# tier: full
# cost: 50
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/04-helpers.bash"

modprobe brd rd_nr=2 rd_size=16384 || fail "modprobe brd"
on_exit "rmmod brd 2>/dev/null"
load_module_04

A=$(mktemp /tmp/cs0420.XXXXXX)
on_exit "rm -f $A $A.*"
dd if=/dev/urandom of="$A" bs=1M count=16 status=none
dd if="$A" of=/dev/ram0 bs=1M oflag=direct status=none || fail "writing the origin"
take_set /dev/ram0 /dev/ram1 32768 --chunk-sectors 16

command -v fio > /dev/null || skip "no fio"
# Writers: 4 KiB anywhere on the origin, O_DIRECT, for 20 s.
fio --name=w --filename=/dev/ram0 --rw=randwrite --bs=4k --direct=1 --numjobs=2 \
	--time_based --runtime=20 --ioengine=psync --randrepeat=0 > "$A.fio" 2>&1 &
fp=$!
on_exit "kill $fp 2>/dev/null"
sleep 1
# Readers meanwhile: 4 KiB of the image anywhere, O_DIRECT, compared with
# the take's data.
python3 - "$IMG" "$A" <<'PY' || fail "image reads returned data that was not the take's"
import mmap, os, random, sys, time
img = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT)
ref = open(sys.argv[2], "rb").read()
buf = mmap.mmap(-1, 4096)
n = 0
end = time.time() + 15
while time.time() < end:
    b = random.randrange(4096)
    os.preadv(img, [buf], b * 4096)
    if buf[:] != ref[b * 4096:(b + 1) * 4096]:
        print("block %d differs" % b)
        sys.exit(1)
    n += 1
print("# %d image reads checked" % n)
PY
wait "$fp" || fail "fio failed: $(cat "$A.fio")"
copied=$(vol_field "$SET" copied)
[ "${copied:-0}" -gt 1000 ] || fail "only ${copied:-0} chunks copied: the writers did not race"
cmp "$IMG" "$A" || fail "the image differs from the take's data at the end"
