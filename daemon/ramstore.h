/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef COWSNAPD_RAMSTORE_H
#define COWSNAPD_RAMSTORE_H

#include <stdbool.h>
#include <stdint.h>

#include "proto.h"

/*
 * RAM storage (`ram SIZE' in storage.conf): a zram device cowsnapd makes
 * through /sys/class/zram-control (loading zram first when it must) and
 * removes again; storage.c puts it in the pool as a device (through a loop
 * device: cs_ram_attach).  zram devices are /dev/zramN, N their index.  Its data is lost at reboot, as are the
 * sets whose storage it holds.
 */

/* The host's memory (MemTotal), for cs_pool_ram_fits. */
int cs_ram_mem_total(uint64_t *bytes, struct cs_error *err);
/* Whether zram device index is there, of `bytes', and not swap: the one
 * cowsnapd made before (its state file says which). */
bool cs_ram_is(int index, uint64_t bytes);
/* A new zram device of `bytes' (lz4 when the kernel has it); its index in
 * *index.  err says why not: no zram in this kernel, no memory... */
int cs_ram_make(uint64_t bytes, int *index, struct cs_error *err);
/*
 * The block device sets get for zram device index: a loop device on it
 * with 512-byte sectors, found again when there is one (its major:minor).
 * zram's sectors are 4096 bytes, and the module reads storage down to a
 * volume's logical block size: most volumes' is 512.
 */
int cs_ram_attach(int index, uint32_t *major, uint32_t *minor, struct cs_error *err);
/* Its loop device detached, then zram device index reset (its memory
 * freed) and removed; -EBUSY while the module holds the loop device (sets
 * use it). */
int cs_ram_remove(int index, struct cs_error *err);
/* The memory zram takes for device index now (mm_stat's mem_used_total);
 * 0 when unknown. */
uint64_t cs_ram_memory(int index);

#endif
