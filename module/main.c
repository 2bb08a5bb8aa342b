// SPDX-License-Identifier: GPL-2.0
/*
 * cowsnap: copy-on-write snapshots of any block device, taken atomically over
 * a set of volumes.  This file is only the init chain and the module
 * parameters; each object lives in its own file.
 */
#include <linux/kernel.h>
#include <linux/log2.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/sysfs.h>
#include <linux/workqueue.h>
#include <net/genetlink.h>

#include "cs.h"
#include "netlink.h"

/*
 * Every parameter is checked where it is set, at load and through sysfs
 * alike, so a value in use is always valid.
 */
static int set_chunk_sectors(const char *val, const struct kernel_param *kp)
{
	unsigned int v;
	int ret = kstrtouint(val, 0, &v);

	if (ret)
		return ret;
	if (!is_power_of_2(v) || v < 8 || v > 131072) {
		pr_err("chunk_sectors must be a power of two, 8..131072\n");
		return -EINVAL;
	}
	WRITE_ONCE(*(unsigned int *)kp->arg, v);
	return 0;
}

static const struct kernel_param_ops chunk_sectors_ops = {
	.set = set_chunk_sectors,
	.get = param_get_uint,
};

#define RANGED_PARAM(name, min, max)					\
static int set_##name(const char *val, const struct kernel_param *kp)	\
{									\
	int ret = param_set_uint_minmax(val, kp, min, max);		\
									\
	if (ret)							\
		pr_err(#name " must be " #min ".." #max "\n");		\
	return ret;							\
}									\
static const struct kernel_param_ops name##_ops = {			\
	.set = set_##name,						\
	.get = param_get_uint,						\
}

RANGED_PARAM(max_snapshots_per_volume, 1, 65535);
RANGED_PARAM(low_water_percent, 0, 100);
RANGED_PARAM(hold_ms, 100, 60000);
RANGED_PARAM(max_memory_mb, 0, 16777216);
RANGED_PARAM(cow_buffer_mb, 0, 65536);

/* memory_used_kb, cow_buffer_used_kb: read-only views, refused at load too */
static int set_read_only(const char *val, const struct kernel_param *kp)
{
	pr_err("%s is read-only\n", kp->name);
	return -EPERM;
}

static int get_memory_used_kb(char *buffer, const struct kernel_param *kp)
{
	return sysfs_emit(buffer, "%llu\n", (cs_map_memory() + 1023) >> 10);
}

static const struct kernel_param_ops memory_used_kb_ops = {
	.set = set_read_only,
	.get = get_memory_used_kb,
};

static int get_cow_buffer_used_kb(char *buffer, const struct kernel_param *kp)
{
	return sysfs_emit(buffer, "%lu\n", cs_cow_buffered() << (PAGE_SHIFT - 10));
}

static const struct kernel_param_ops cow_buffer_used_kb_ops = {
	.set = set_read_only,
	.get = get_cow_buffer_used_kb,
};

unsigned int cs_chunk_sectors = 128;
module_param_cb(chunk_sectors, &chunk_sectors_ops, &cs_chunk_sectors, 0644);
MODULE_PARM_DESC(chunk_sectors, "default copy-on-write chunk, sectors (power of two, 8..131072)");

unsigned int cs_max_snapshots_per_volume = 64;
module_param_cb(max_snapshots_per_volume, &max_snapshots_per_volume_ops,
		&cs_max_snapshots_per_volume, 0644);
MODULE_PARM_DESC(max_snapshots_per_volume, "live snapshots one volume may have (1..65535)");

unsigned int cs_low_water_percent = 20;
module_param_cb(low_water_percent, &low_water_percent_ops, &cs_low_water_percent, 0644);
MODULE_PARM_DESC(low_water_percent, "STORAGE_LOW when free storage falls below this percentage (0..100)");

unsigned int cs_hold_ms = 10000;
module_param_cb(hold_ms, &hold_ms_ops, &cs_hold_ms, 0644);
MODULE_PARM_DESC(hold_ms, "default bound on the write hold at take, ms (100..60000)");

/*
 * 0: a quarter of RAM.  Bounds what the snapshots' chunk maps may hold,
 * the memory that grows with what is copied (snapshot.c); a copy that
 * would pass it turns its set INVALID (NOMEM), the origin write goes on.
 */
unsigned int cs_max_memory_mb;
module_param_cb(max_memory_mb, &max_memory_mb_ops, &cs_max_memory_mb, 0644);
MODULE_PARM_DESC(max_memory_mb, "bound on the memory of the snapshots' chunk maps, MiB (0..16777216; 0: a quarter of RAM)");

/*
 * Copies read from the origin and not yet on storage that origin writes
 * need not wait for (snapshot.c, cow_release()): past it, writes wait for
 * the storage write too.  0: they always do.
 */
unsigned int cs_cow_buffer_mb = 64;
module_param_cb(cow_buffer_mb, &cow_buffer_mb_ops, &cs_cow_buffer_mb, 0644);
MODULE_PARM_DESC(cow_buffer_mb, "copies held in memory while they are stored, letting origin writes go on, MiB (0..65536; 0: writes wait for storage)");

module_param_cb(cow_buffer_used_kb, &cow_buffer_used_kb_ops, NULL, 0444);
MODULE_PARM_DESC(cow_buffer_used_kb, "copies held in memory now while they are stored, KiB (read-only)");

module_param_cb(memory_used_kb, &memory_used_kb_ops, NULL, 0444);
MODULE_PARM_DESC(memory_used_kb, "memory the snapshots' chunk maps hold now, KiB (read-only)");

bool cs_test_reserve_only;
module_param_named(test_reserve_only, cs_test_reserve_only, bool, 0644);
MODULE_PARM_DESC(test_reserve_only, "for tests: chunk entries come from the 256-entry reserve only, as when memory is exhausted (0: off)");

bool cs_test_copy_reserve_only;
module_param_named(test_copy_reserve_only, cs_test_copy_reserve_only, bool, 0644);
MODULE_PARM_DESC(test_copy_reserve_only, "for tests: copy-on-write pages come from their reserve (16 chunks of 64 KiB) only, as when memory is exhausted (0: off)");

/* copy-on-write stages, parked writes, events: all in the I/O path */
struct workqueue_struct *cs_wq;

static int __init cowsnap_init(void)
{
	int ret;

	cs_wq = alloc_workqueue("cowsnap", WQ_MEM_RECLAIM | WQ_UNBOUND, 0);
	if (!cs_wq)
		return -ENOMEM;
	ret = cs_snapshot_init();
	if (ret)
		goto err_snapshot;
	ret = cs_image_init();
	if (ret)
		goto err_image;
	ret = cs_tracker_init();
	if (ret)
		goto err_tracker;
	ret = cs_set_init();
	if (ret)
		goto err_set;
	ret = cs_netlink_init();
	if (ret)
		goto err_netlink;

	pr_info("version %s loaded\n", COWSNAP_VERSION);
	return 0;

err_netlink:
	cs_set_exit();
err_set:
	cs_tracker_exit();
err_tracker:
	cs_image_exit();
err_image:
	cs_snapshot_exit();
err_snapshot:
	destroy_workqueue(cs_wq);
	return ret;
}

static void __exit cowsnap_exit(void)
{
	cs_netlink_exit();
	cs_set_exit();
	cs_tracker_exit();
	cs_image_exit();
	destroy_workqueue(cs_wq);
	cs_snapshot_exit();
	pr_info("unloaded\n");
}

module_init(cowsnap_init);
module_exit(cowsnap_exit);

MODULE_DESCRIPTION("cowsnap: consistent copy-on-write snapshots of block devices");
MODULE_AUTHOR("The cowsnap developers");
MODULE_LICENSE("GPL");
MODULE_VERSION(COWSNAP_VERSION);
MODULE_ALIAS_GENL_FAMILY(COWSNAP_GENL_NAME);
