// SPDX-License-Identifier: GPL-2.0
/*
 * Changed-block tracking: one byte per chunk holding the tracker sequence in
 * which the chunk was last written.  A snapshot remembers the sequence at its
 * take; "changed since the take" is "byte > that sequence".  Sequences are
 * bytes, so after 255 takes the map resets under a new generation id, and
 * snapshots of the old generation report every chunk as changed.  So does
 * a change of the origin's size, at the first take after it.
 */
#include <linux/bitmap.h>
#include <linux/vmalloc.h>

#include "cs.h"

static u64 chunks_of(sector_t sectors, unsigned int shift)
{
	return (sectors + (1ULL << shift) - 1) >> shift;
}

int cs_cbt_init(struct cs_cbt *cbt, sector_t sectors, unsigned int shift)
{
	cbt->shift = shift;
	cbt->sectors = sectors;
	cbt->chunks = chunks_of(sectors, shift);
	cbt->map = vzalloc(max_t(u64, cbt->chunks, 1));
	if (!cbt->map)
		return -ENOMEM;
	cbt->seq = 1;
	uuid_gen(&cbt->generation);
	return 0;
}

/*
 * The origin is no longer cbt->sectors long (lvextend, losetup -c): a map
 * for the new size, to switch to at the next take.  It has room for the
 * larger of the two sizes, so that a lock-free marker that read either
 * chunk count stays inside it.  NULL when the size did not change.
 */
u8 *cs_cbt_prepare(const struct cs_cbt *cbt, sector_t sectors)
{
	u64 chunks = chunks_of(sectors, cbt->shift);

	if (sectors == cbt->sectors)
		return NULL;
	return vzalloc(max3(chunks, cbt->chunks, 1ULL));
}

/*
 * Writes drained: start a new generation on map, prepared for sectors.
 * Every snapshot of the old generation reports each chunk as changed.
 * Returns the old map, to be freed once no marker can hold it.
 */
u8 *cs_cbt_switch(struct cs_cbt *cbt, u8 *map, sector_t sectors)
{
	u8 *old = cbt->map;

	WRITE_ONCE(cbt->map, map);
	smp_wmb();	/* the map before its new size: see cs_cbt_prepare() */
	WRITE_ONCE(cbt->chunks, chunks_of(sectors, cbt->shift));
	cbt->sectors = sectors;
	cbt->seq = 1;
	uuid_gen(&cbt->generation);
	return old;
}

void cs_cbt_free(struct cs_cbt *cbt)
{
	vfree(cbt->map);
	cbt->map = NULL;
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

		/* beyond the map (grown since the take): not known, so changed */
		if (all || c >= cbt->chunks || READ_ONCE(cbt->map[c]) > since)
			__set_bit(i, bitmap);
	}
}
