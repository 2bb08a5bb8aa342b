/* SPDX-License-Identifier: GPL-2.0 */
#ifndef SNAPREAD_DAEMON_H
#define SNAPREAD_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "copy.h"
#include "proto.h"

/*
 * What snapread asks cowsnapd (through libcowsnap, never the module):
 * which set and volume an image device belongs to, and which chunks of a
 * volume changed since a take.
 */
struct snap_info {
	uint64_t set_id;
	int state;				/* enum cs_set_state */
	char invalid_cause[64];
	char origin[CS_PATH_MAX + 1];		/* /dev/NAME */
	uint32_t major, minor;			/* of the origin */
	uint64_t sectors;			/* origin size at take */
	uint32_t chunk_sectors;
	char generation[CS_GENERATION_MAX + 1];	/* CBT generation at take */
	uint32_t cbt_seq;			/* CBT sequence of the take */
};

/* True when the block device rdev is a /dev/cowsnapN image. */
bool snap_is_image(dev_t rdev);

/* The set and volume whose image is rdev; -errno with err set. */
int snap_lookup(dev_t rdev, struct snap_info *out, struct cs_error *err);

/* Whether cowsnapd keeps the origin of si tracked between backups. */
int snap_origin_kept(const struct snap_info *si, bool *kept, struct cs_error *err);

/*
 * The byte extents of the origin of si (size bytes) changed since the take
 * with since_seq in since_generation, in chunks of *chunk_sectors; *ext is
 * malloc'd.  -ESTALE when the map started over since, -ENOENT when the
 * origin is not tracked.
 */
int snap_changed(const struct snap_info *si, uint32_t since_seq, const char *since_generation,
		 uint64_t size, struct extent **ext, size_t *n, uint32_t *chunk_sectors,
		 struct cs_error *err);

#endif /* SNAPREAD_DAEMON_H */
