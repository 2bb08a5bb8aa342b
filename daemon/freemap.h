/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef COWSNAPD_FREEMAP_H
#define COWSNAPD_FREEMAP_H

#include <stdbool.h>
#include <stdint.h>

struct cowsnapd;
struct cs_set;

/* Free extents kept per volume: only those of at least CS_FREEMAP_MIN
 * sectors, and of those at most CS_FREEMAP_MAX, the largest. */
#define CS_FREEMAP_MIN		2048		/* 1 MiB */
#define CS_FREEMAP_MAX		16384

/* What was free in a volume's filesystem at a set's take, in sectors of
 * the volume, sorted by start, disjoint.  The module reads it as zeros in
 * the image (COWSNAP_CMD_SET_ADD_FREE), so the set may grow there. */
struct cs_freemap {
	uint64_t set_id;
	uint32_t major, minor;		/* the volume */
	struct cs_freerange {
		uint64_t start, len;
	} *r;
	size_t n;
	struct cs_freemap *next;
};

/*
 * Right after the take of set (before the create returns): for each volume
 * of the set that holds its own storage files, read the free space of the
 * image's filesystem at the take (a detached read-only mount, GETFSMAP),
 * give it to the module and keep it.  Only for a filesystem that is
 * consistent on disk (ext4 without needs_recovery: the take froze it, or
 * it was cleanly unmounted; xfs mounted at the take, so frozen by it);
 * otherwise, or on any failure, nothing (a log line says why): the set
 * does not grow on that volume.
 */
void cs_freemap_after_take(struct cowsnapd *d, const struct cs_set *set);
/*
 * A started cowsnapd finds the free maps of the TAKEN sets that hold
 * storage files on their own volumes again (sets of a daemon that
 * restarted): the module's zero table of each such volume
 * (COWSNAP_CMD_SET_GET_ZERO), less the set's storage files there.  Never
 * from the image: it may have been read since the take, and what the
 * module reads as zeros must not grow after that.
 */
void cs_freemap_recover(struct cowsnapd *d, const struct cs_set *sets, uint32_t n);
/* The free map of set_id on volume major:minor, or NULL. */
const struct cs_freemap *cs_freemap_find(struct cowsnapd *d, uint64_t set_id,
					 uint32_t major, uint32_t minor);
/* Forget set_id's free maps (the set is gone). */
void cs_freemap_forget(struct cowsnapd *d, uint64_t set_id);
/*
 * The parts of [start, start + len) inside fm: appended to *out (*n), in
 * order.  Returns their sectors, or -1 when out of memory.
 */
int64_t cs_freemap_clip(const struct cs_freemap *fm, uint64_t start, uint64_t len,
			struct cs_freerange **out, size_t *n);

#endif
