/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef COWSNAPD_STORAGE_H
#define COWSNAPD_STORAGE_H

#include "pool.h"

struct cowsnapd;
struct cs_set;

/*
 * The devices behind the pool: CONFIG_DIR/storage.conf names them (and
 * `snapctl storage add/remove' edits it), `ram SIZE' a zram device that
 * cowsnapd makes (ramstore.c); RUN_DIR/storage.state records which ranges
 * each set holds, and which zram device is cowsnapd's, so that a restarted
 * daemon neither hands them out twice nor loses them.  The module holds a
 * storage device open while a set uses it.  `add' and `remove' take `ram'
 * and `ram:SIZE' for RAM storage.
 */
int cs_storage_load(struct cowsnapd *d, struct cs_error *err);
/* storage.conf read again (SIGHUP): sizes, devices and directories added;
 * those no longer listed dropped unless a set holds storage on them.  A
 * file that does not parse leaves everything as it was. */
int cs_storage_reload(struct cowsnapd *d, struct cs_error *err);
int cs_storage_add(struct cowsnapd *d, const char *path, struct cs_error *err);
int cs_storage_remove(struct cowsnapd *d, const char *path, struct cs_error *err);
/*
 * Give a set `sectors' of storage (cs_pool_first_sectors, or with grow
 * cs_pool_grow_sectors for a taken set), and each range of it to the
 * module: from the devices, never one of avoid (the set's volumes); else
 * in files in the directories (filestore.c); or, with no device and no
 * directory configured, in files in the default places.
 */
int cs_storage_give(struct cowsnapd *d, uint64_t set_id, uint64_t sectors,
		    const uint32_t (*avoid)[2], size_t navoid, bool grow, struct cs_error *err);
/* Where set_id's storage is, and how much: its devices, then its files,
 * appended to *out (*n of them, at most CS_MAX_SET_STORAGE). */
int cs_storage_describe(struct cowsnapd *d, uint64_t set_id, struct cs_set_storage **out,
			uint32_t *n);
void cs_storage_release(struct cowsnapd *d, uint64_t set_id);
/* Release the ranges of sets the module no longer has. */
void cs_storage_reconcile(struct cowsnapd *d, const struct cs_set *sets, uint32_t n);
/*
 * The daemon stops: cs_storage_stop, while the module is still there to
 * ask, decides whether RAM storage's zram device goes (no set but those
 * released with the daemon has storage in it) or stays for a restarted
 * daemon; cs_storage_close, after the netlink socket is closed (the module
 * has destroyed the auto-release sets then), removes it.
 */
void cs_storage_stop(struct cowsnapd *d);
void cs_storage_close(struct cowsnapd *d);

#endif
