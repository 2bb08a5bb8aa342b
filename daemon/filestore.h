/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef COWSNAPD_FILESTORE_H
#define COWSNAPD_FILESTORE_H

#include <stdbool.h>
#include <stdint.h>

#include "pool.h"

struct cowsnapd;
struct cs_set;

/* With no storage configured: where sets get storage files first
 * (cowsnapd --default-storage changes it), then in CS_FS_STORAGE_DIR at
 * the top of a filesystem of the set's, or of the largest other one. */
#define CS_DEFAULT_STORAGE_DIR	"/var/lib/cowsnap/storage"
#define CS_FS_STORAGE_DIR	".cowsnap-storage"

/* Whether path can hold storage files: an absolute path of a directory,
 * root's and writable by root only, on ext4 or xfs; its filesystem's
 * device in *major:*minor. */
int cs_filestore_check_dir(const char *path, uint32_t *major, uint32_t *minor,
			   struct cs_error *err);
/*
 * A new storage file of `sectors' for set_id, its extents given to the
 * module: in the first configured directory with room, those on none of
 * avoid (the set's volumes) first; or, when storage.conf configures no
 * device and no directory, in the first default place with room (the
 * default directory, then CS_FS_STORAGE_DIR on the set's volumes, then on
 * the largest other filesystem).  Growing a taken set (grow), on one of
 * avoid only with its free map at the take (freemap.c), and only the
 * parts of the file inside it: the module takes no other storage there
 * after the take.
 * -ENOSPC, err saying why for each place, when none can.
 */
int cs_filestore_give(struct cowsnapd *d, uint64_t set_id, uint64_t sectors,
		      const uint32_t (*avoid)[2], size_t navoid, bool grow,
		      struct cs_error *err);
/* Remove set_id's storage files (the module no longer writes them). */
void cs_filestore_release(struct cowsnapd *d, uint64_t set_id);
/* Remove the storage files of every set not in sets, in the configured
 * directories and the default places. */
void cs_filestore_reconcile(struct cowsnapd *d, const struct cs_set *sets, uint32_t n);
/* Whether set_id has storage files. */
bool cs_filestore_holds(struct cowsnapd *d, uint64_t set_id);
/* A set other than except with storage files on the filesystem of
 * major:minor (0: none); its directory in dir. */
uint64_t cs_filestore_set_on(struct cowsnapd *d, uint32_t major, uint32_t minor,
			     uint64_t except, char *dir, size_t size);
/* Whether set_id has storage files on the filesystem of major:minor. */
bool cs_filestore_set_has_on(struct cowsnapd *d, uint64_t set_id, uint32_t major,
			     uint32_t minor);
/* The extents of set_id's storage files on the filesystem of major:minor,
 * in its sectors, in no order: *out (malloc'd, *n of them). */
int cs_filestore_set_extents(struct cowsnapd *d, uint64_t set_id, uint32_t major,
			     uint32_t minor, struct cs_extent **out, size_t *n,
			     struct cs_error *err);
/* Sectors the storage files in dir take. */
uint64_t cs_filestore_used(const struct cs_pool_dir *dir);
/* set_id's storage files appended to *out (*n of them, at most max). */
int cs_filestore_describe(struct cowsnapd *d, uint64_t set_id, struct cs_set_storage **out,
			  uint32_t *n, uint32_t max);
/* `list storage': the configured directories, then the default places
 * that hold storage files, appended to *rows (*n of them): what the files
 * take (used) and may take (sectors, within max-percent and what is kept
 * free). */
int cs_filestore_list(struct cowsnapd *d, struct cs_storage_dev **rows, uint32_t *n);

#endif
