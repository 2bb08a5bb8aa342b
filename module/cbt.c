// SPDX-License-Identifier: GPL-2.0
/*
 * Changed-block tracking: one byte per chunk holding the tracker sequence in
 * which the chunk was last written.  A snapshot remembers the sequence at its
 * take; "changed since the take" is "byte > that sequence".  Sequences are
 * bytes, so after 255 takes the map resets under a new generation id, and
 * snapshots of the old generation report every chunk as changed.
 */
#include <linux/bitmap.h>
#include <linux/vmalloc.h>

#include "cs.h"

int cs_cbt_init(struct cs_cbt *cbt, sector_t sectors, unsigned int shift)
{
	cbt->shift = shift;
	cbt->chunks = (sectors + (1ULL << shift) - 1) >> shift;
	cbt->map = vzalloc(max_t(u64, cbt->chunks, 1));
	if (!cbt->map)
		return -ENOMEM;
	cbt->seq = 1;
	uuid_gen(&cbt->generation);
	return 0;
}

void cs_cbt_free(struct cs_cbt *cbt)
{
	vfree(cbt->map);
	cbt->map = NULL;
}

void cs_cbt_mark(struct cs_cbt *cbt, sector_t sector, sector_t count)
{
	u64 first, last, c;
	u8 seq = READ_ONCE(cbt->seq);

	if (!count)
		return;
	first = sector >> cbt->shift;
	last = (sector + count - 1) >> cbt->shift;
	if (first >= cbt->chunks)
		return;
	last = min(last, cbt->chunks - 1);
	for (c = first; c <= last; c++)
		if (READ_ONCE(cbt->map[c]) != seq)
			WRITE_ONCE(cbt->map[c], seq);
}

u8 cs_cbt_take(struct cs_cbt *cbt, uuid_t *generation)
{
	u8 seq;

	if (cbt->seq == U8_MAX) {
		memset(cbt->map, 0, cbt->chunks);
		uuid_gen(&cbt->generation);
		cbt->seq = 1;
	}
	seq = cbt->seq;
	uuid_copy(generation, &cbt->generation);
	WRITE_ONCE(cbt->seq, seq + 1);
	return seq;
}

void cs_cbt_get(const struct cs_cbt *cbt, u64 first, u32 count, u8 since,
		bool all, unsigned long *bitmap)
{
	u32 i;

	bitmap_zero(bitmap, count);
	for (i = 0; i < count; i++) {
		u64 c = first + i;

		if (c >= cbt->chunks)
			break;
		if (all || READ_ONCE(cbt->map[c]) > since)
			__set_bit(i, bitmap);
	}
}
