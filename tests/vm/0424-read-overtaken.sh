#!/bin/bash
# Image reads take no lock and pin nothing: a read of a chunk its snapshot
# has not copied reads the origin and looks at the snapshot's map again once
# the data is in; a chunk copied meanwhile (an origin write may have
# overtaken the read) is read again from its slot.  Here the overtaking is
# made common: the origin is a dm-delay device whose reads wait 20 ms and
# whose writes do not, so a read that comes just after a copy of its chunk
# has started is performed after the copy is stored and the write it held
# has landed.  Each round takes a fresh 256 KiB of the origin (64 chunks of
# 4 KiB, none copied yet): two writers rewrite it at random while four
# reader threads read the image there at random, every 4 KiB compared with
# the take's data.  A module that trusts what it read from the origin
# returns the writers' data (the image test of a build without the second
# look failed in the first round).  At the end the whole image is the take's
# data and the origin holds the writes.
# tier: full
# cost: 60
# timeout: 300
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/04-helpers.bash"
command -v fio > /dev/null || fail "fio is not installed (make deps)"
modprobe brd rd_nr=2 rd_size=16384 || fail "modprobe brd"
on_exit "rmmod brd 2>/dev/null"
A=$(mktemp /tmp/cs0424.XXXXXX)
on_exit "rm -f $A $A.*"
dd if=/dev/urandom of="$A" bs=1M count=16 status=none
dd if="$A" of=/dev/ram0 bs=1M oflag=direct status=none || fail "writing the origin"
# before the module: its cleanups (sets destroyed, module unloaded) run
# first, so that the dm device is no longer tracked when it is removed
dm_delay cs0424 /dev/ram0 20 0
load_module_04
take_set "$DM_DEV" /dev/ram1 32768 --chunk-sectors 8
for r in 0 1 2 3 4 5 6 7; do
	fio --name=w --filename="$DM_DEV" --offset=$((r * 2))M --size=256k --rw=randwrite \
		--bs=4k --direct=1 --numjobs=2 --time_based --runtime=3 --ioengine=psync \
		--randrepeat=0 > "$A.w" 2>&1 &
	wp=$!
	python3 - "$IMG" "$A" $((r * 512)) <<'PY' || fail "round $r: an image read returned data that was not the take's"
import mmap, os, random, sys, threading, time
img, ref, first = sys.argv[1], open(sys.argv[2], "rb").read(), int(sys.argv[3])
end = time.time() + 3
bad, count = [], [0]
def reader():
    fd = os.open(img, os.O_RDONLY | os.O_DIRECT)
    buf = mmap.mmap(-1, 4096)
    while time.time() < end and not bad:
        b = first + random.randrange(64)
        os.preadv(fd, [buf], b * 4096)
        if buf[:] != ref[b * 4096:(b + 1) * 4096]:
            bad.append(b)
        count[0] += 1
    os.close(fd)
ts = [threading.Thread(target=reader) for _ in range(4)]
for t in ts:
    t.start()
for t in ts:
    t.join()
if bad:
    print("block %d of the image differs from the take" % bad[0])
    sys.exit(1)
print("# %d image reads checked" % count[0])
PY
	wait "$wp" || fail "round $r: origin writes failed: $(cat "$A.w")"
	cmp -s -n 262144 -i $((r << 21)):$((r << 21)) "$DM_DEV" "$A" &&
		fail "round $r: the origin did not change: nothing raced"
done
copied=$(vol_field "$SET" copied)
note "$copied chunks copied over 8 rounds"
[ "${copied:-0}" -gt 400 ] || fail "only ${copied:-0} chunks copied: the writers did not race"
cmp "$IMG" "$A" || fail "the image differs from the take's data at the end"
