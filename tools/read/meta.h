/* SPDX-License-Identifier: GPL-2.0 */
#ifndef SNAPREAD_META_H
#define SNAPREAD_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "proto.h"

/*
 * IMAGE.cowsnap-meta: what an incremental update of IMAGE needs to know,
 * written beside the image by snapread after a full read of a cowsnap image
 * and after each incremental update.  One "key value" line each:
 *
 *	format 1
 *	origin /dev/NAME              the volume the image is a copy of
 *	origin_dev MAJ:MIN
 *	generation UUID               its changed-block map's generation
 *	cbt_seq N                     the take the image holds, in that map
 *	set_id N                      the set of that take (informative)
 *	chunk_sectors N               the map's chunk
 *	size BYTES                    the volume's size at that take
 *	checksum xxh128:HEX | none    of the image's content
 *	image_size, image_ino, image_mtime_ns
 *	                              the image file as snapread left it
 *	complete 1 | 0                0 while an update is under way
 */
struct image_meta {
	char origin[CS_PATH_MAX + 1];
	uint32_t major, minor;
	char generation[CS_GENERATION_MAX + 1];
	uint32_t cbt_seq;
	uint64_t set_id;
	uint32_t chunk_sectors;
	uint64_t size;
	char checksum[48];
	uint64_t image_size, image_ino, image_mtime_ns;
	bool complete;
};

/* IMAGE.cowsnap-meta; -1 when too long. */
int meta_path(const char *image, char *out, size_t size);
/* 0, or -errno with why; -ENOENT when there is none. */
int meta_read(const char *image, struct image_meta *m, char *why, size_t size);
/* The lines of f (path names it in why) into m; 0, or -EINVAL with why. */
int meta_parse(FILE *f, const char *path, struct image_meta *m, char *why, size_t size);
/* m as meta_parse reads it; 0, or -EIO. */
int meta_print(FILE *f, const struct image_meta *m);
/* Atomically (a temporary file renamed over it), with the image's size,
 * inode and mtime filled in from the file as it is now. */
int meta_write(const char *image, struct image_meta *m, char *why, size_t size);
void meta_remove(const char *image);

#endif /* SNAPREAD_META_H */
