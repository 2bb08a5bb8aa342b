/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef COWSNAPD_POOL_H
#define COWSNAPD_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "proto.h"

/*
 * Difference storage: the devices the admin gave (storage.conf), carved into
 * ranges that the daemon hands to the module per set.  Pure bookkeeping, no
 * I/O: storage.c does the devices and files, this file the arithmetic (and
 * is unit-tested on the host).  Sizes and offsets are 512-byte sectors.
 */

/* Ranges are handed out in multiples of this (1 MiB), aligned to it. */
#define CS_POOL_ALIGN		2048ULL
/*
 * A set's first storage, and each growth, unless storage.conf sets them
 * (set-size, grow-size): CS_POOL_AUTO_PERCENT of the size of the set's
 * volumes, at least CS_POOL_AUTO_MIN, at most CS_POOL_DEFAULT_SET.
 */
#define CS_POOL_DEFAULT_SET	(256ULL * 2048)	/* 256 MiB */
#define CS_POOL_AUTO_MIN	(16ULL * 2048)	/* 16 MiB */
#define CS_POOL_AUTO_PERCENT	10
/* max-percent: the storage files of all sets on one filesystem take at
 * most this share of it (1..CS_POOL_MAX_PERCENT_MAX) */
#define CS_POOL_MAX_PERCENT	20
#define CS_POOL_MAX_PERCENT_MAX	90
/* what a filesystem keeps free, whatever storage files may take */
#define CS_POOL_KEEP_FREE_PERCENT	5
/* `ram SIZE': at least a set's least storage, at most 1/CS_POOL_RAM_SHARE
 * of the host's memory (MemTotal) */
#define CS_POOL_RAM_MIN		CS_POOL_AUTO_MIN
#define CS_POOL_RAM_SHARE	2

struct cs_extent {
	uint64_t start, len;
};

struct cs_pool_dev {
	char path[CS_PATH_MAX + 1];	/* as configured */
	uint32_t major, minor;
	uint64_t sectors;
	struct cs_extent *free;		/* sorted by start, coalesced */
	size_t nfree;
	bool ram;			/* the zram device of `ram SIZE' (ramstore.c) */
};

/* A directory for storage files (filestore.c), on the filesystem of the
 * block device major:minor. */
struct cs_pool_dir {
	char path[CS_PATH_MAX + 1];
	uint32_t major, minor;
};

/* One range given to a set. */
struct cs_alloc {
	uint64_t set_id;
	uint32_t major, minor;
	uint64_t start, len;
};

struct cs_pool {
	struct cs_pool_dev *devs;
	size_t ndevs;
	struct cs_alloc *allocs;
	size_t nallocs;
	struct cs_pool_dir *dirs;	/* after the devices: files in them */
	size_t ndirs;
	uint64_t set_sectors;		/* given to a set when created */
	uint64_t grow_sectors;		/* added on STORAGE_LOW */
	/* set_sectors (grow_sectors) is only the most: the size follows the
	 * set's volumes (cs_pool_first_sectors, cs_pool_grow_sectors) */
	bool set_auto, grow_auto;
	unsigned max_percent;		/* max-percent */
	/* storage.conf lists a device, a directory or ram, usable or not:
	 * then sets get no storage in the default places (filestore.c) */
	bool configured;
	/* the zram device cowsnapd made for `ram SIZE' (ramstore.c),
	 * /dev/zram<ram_index> of ram_bytes, -1: none.  Kept in the state
	 * file, so that a restarted daemon finds it again with its sets'
	 * storage in it; in devs (ram) while it is usable. */
	int ram_index;
	uint64_t ram_bytes;
};

/* A parsed storage.conf. */
struct cs_pool_conf {
	char **devices;
	size_t ndevices;
	char **directories;
	size_t ndirectories;
	/* without set-size: CS_POOL_DEFAULT_SET and set_auto; without
	 * grow-size: set_sectors, and grow_auto when set-size is missing too */
	uint64_t set_sectors, grow_sectors;
	bool set_auto, grow_auto;
	unsigned max_percent;		/* CS_POOL_MAX_PERCENT unless given */
	uint64_t ram_bytes;		/* `ram SIZE' (0: none) */
};

/* Lines: `device PATH', `directory PATH', `ram SIZE' (once), `set-size SIZE',
 * `grow-size SIZE', `max-percent N'; `#' comments.
 * err names the file (name) and line on error, a PATH with a control
 * character included. */
int cs_pool_conf_parse(FILE *f, const char *name, struct cs_pool_conf *c,
		       struct cs_error *err);
void cs_pool_conf_free(struct cs_pool_conf *c);
/* storage.conf's line for device path, "device PATH\n", into buf; -EINVAL
 * (err saying what to use instead) when the line cannot hold path as it is:
 * not absolute, a blank, `#' or a control character; -ENAMETOOLONG. */
int cs_pool_conf_device_line(const char *path, char *buf, size_t size, struct cs_error *err);
/* The same for "directory PATH\n". */
int cs_pool_conf_directory_line(const char *path, char *buf, size_t size, struct cs_error *err);
/*
 * RAM storage's size, `ram SIZE' or `snapctl storage add ram:SIZE': s as
 * cs_size_parse takes it, whole MiB, at least CS_POOL_RAM_MIN; -EINVAL
 * with err quoting s and saying what to give.
 */
int cs_pool_ram_size(const char *s, uint64_t *bytes, struct cs_error *err);
/* Whether `bytes' of RAM storage fit a host of mem_total bytes (at most
 * 1/CS_POOL_RAM_SHARE of it); -ERANGE with err saying what to do. */
int cs_pool_ram_fits(uint64_t bytes, uint64_t mem_total, struct cs_error *err);

void cs_pool_init(struct cs_pool *p);
void cs_pool_free(struct cs_pool *p);
int cs_pool_add_dev(struct cs_pool *p, const char *path, uint32_t major,
		    uint32_t minor, uint64_t sectors, struct cs_error *err);
/* Only when no range of it is given to a set. */
int cs_pool_remove_dev(struct cs_pool *p, uint32_t major, uint32_t minor,
		       struct cs_error *err);
struct cs_pool_dev *cs_pool_find_dev(struct cs_pool *p, uint32_t major, uint32_t minor);
uint64_t cs_pool_dev_used(const struct cs_pool_dev *d);
int cs_pool_add_dir(struct cs_pool *p, const char *path, uint32_t major, uint32_t minor,
		    struct cs_error *err);
/* -ENOENT when path is not one of the directories */
int cs_pool_remove_dir(struct cs_pool *p, const char *path, struct cs_error *err);

/*
 * Give set_id `sectors' (rounded up to CS_POOL_ALIGN) from the devices not
 * listed in avoid (the set's own volumes), first fit, in as few ranges as
 * the free space allows.  The new ranges are appended to p->allocs; *first
 * is the index of the first of them.  -ENOSPC (err says how much is free)
 * leaves everything as it was.
 */
int cs_pool_alloc(struct cs_pool *p, uint64_t set_id, uint64_t sectors,
		  const uint32_t (*avoid)[2], size_t navoid, size_t *first,
		  struct cs_error *err);
/* Mark a known range as given (state reload); -EEXIST when not free. */
int cs_pool_reserve(struct cs_pool *p, const struct cs_alloc *a);
/* Return every range of set_id; the number of ranges freed. */
size_t cs_pool_release(struct cs_pool *p, uint64_t set_id);

/*
 * Sizes for a set whose volumes take vol_sectors together: its first
 * storage and each growth, as storage.conf sets them or, where it does
 * not, CS_POOL_AUTO_PERCENT of vol_sectors kept within CS_POOL_AUTO_MIN
 * and CS_POOL_DEFAULT_SET (cs_pool_auto_sectors).  Whole CS_POOL_ALIGN.
 */
uint64_t cs_pool_auto_sectors(uint64_t vol_sectors);
uint64_t cs_pool_first_sectors(const struct cs_pool *p, uint64_t vol_sectors);
uint64_t cs_pool_grow_sectors(const struct cs_pool *p, uint64_t vol_sectors);

/*
 * What more storage files may take on a filesystem of fs_sectors with
 * avail_sectors free, files_sectors of it taken by storage files already:
 * CS_POOL_KEEP_FREE_PERCENT of it stays free, and all storage files
 * together stay within max_percent of it.  Whole CS_POOL_ALIGN; *ceiling
 * (may be NULL) says whether max_percent is what limits it.
 */
uint64_t cs_pool_file_room(uint64_t fs_sectors, uint64_t avail_sectors,
			   uint64_t files_sectors, unsigned max_percent, bool *ceiling);

/* State file lines: "SET_ID MAJOR:MINOR START LEN", and first, while
 * ram_index is not -1, "ram INDEX BYTES".  cs_pool_state_read takes the
 * ranges (of the devices in the pool: the zram device is added before);
 * cs_pool_state_ram only the ram line (-ENOENT: none), from the start of
 * the file. */
int cs_pool_state_write(const struct cs_pool *p, FILE *f);
int cs_pool_state_read(struct cs_pool *p, FILE *f, struct cs_error *err);
int cs_pool_state_ram(FILE *f, int *index, uint64_t *bytes);

#endif
