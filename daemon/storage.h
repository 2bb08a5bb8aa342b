/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef COWSNAPD_STORAGE_H
#define COWSNAPD_STORAGE_H

#include "pool.h"

struct cowsnapd;
struct cs_set;

/*
 * The devices behind the pool: CONFIG_DIR/storage.conf names them (and
 * `snapctl storage add/remove' edits it); RUN_DIR/storage.state records
 * which ranges each set holds, so that a restarted daemon neither hands
 * them out twice nor loses them.  The module holds a storage device open
 * while a set uses it.
 */
int cs_storage_load(struct cowsnapd *d, struct cs_error *err);
/* storage.conf read again (SIGHUP): sizes, devices and directories added;
 * those no longer listed dropped unless a set holds storage on them.  A
 * file that does not parse leaves everything as it was. */
int cs_storage_reload(struct cowsnapd *d, struct cs_error *err);
int cs_storage_add(struct cowsnapd *d, const char *path, struct cs_error *err);
int cs_storage_remove(struct cowsnapd *d, const char *path, struct cs_error *err);
/* Give a DEFINING set `sectors' of storage (0: the configured set-size),
 * never on its own volumes; hands each range to the module. */
int cs_storage_give(struct cowsnapd *d, uint64_t set_id, uint64_t sectors,
		    const uint32_t (*avoid)[2], size_t navoid, struct cs_error *err);
void cs_storage_release(struct cowsnapd *d, uint64_t set_id);
/* Release the ranges of sets the module no longer has. */
void cs_storage_reconcile(struct cowsnapd *d, const struct cs_set *sets, uint32_t n);

#endif
