/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef COWSNAPD_FILESTORE_H
#define COWSNAPD_FILESTORE_H

#include <stdbool.h>
#include <stdint.h>

#include "pool.h"

struct cowsnapd;
struct cs_set;

/* Whether path can hold storage files: an absolute path of a directory,
 * root's and writable by root only, on ext4 or xfs; its filesystem's
 * device in *major:*minor. */
int cs_filestore_check_dir(const char *path, uint32_t *major, uint32_t *minor,
			   struct cs_error *err);
/* A new storage file of `sectors' for set_id in the first directory with
 * room that is not on one of avoid (the set's volumes), its extents given
 * to the module.  -ENOSPC (err says why for each) when none can. */
int cs_filestore_give(struct cowsnapd *d, uint64_t set_id, uint64_t sectors,
		      const uint32_t (*avoid)[2], size_t navoid, struct cs_error *err);
/* Remove set_id's storage files (the module no longer writes them). */
void cs_filestore_release(struct cowsnapd *d, uint64_t set_id);
/* Remove the storage files of every set not in sets. */
void cs_filestore_reconcile(struct cowsnapd *d, const struct cs_set *sets, uint32_t n);
/* Whether set_id has storage files. */
bool cs_filestore_holds(struct cowsnapd *d, uint64_t set_id);
/* Sectors the storage files in dir take. */
uint64_t cs_filestore_used(const struct cs_pool_dir *dir);

#endif
