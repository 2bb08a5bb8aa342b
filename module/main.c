// SPDX-License-Identifier: GPL-2.0
/*
 * cowsnap: copy-on-write snapshots of any block device, taken atomically over
 * a set of volumes.  This file is only the init chain and the module
 * parameters; each object lives in its own file.
 */
#include <linux/module.h>
#include <linux/workqueue.h>
#include <net/genetlink.h>

#include "cs.h"
#include "netlink.h"

unsigned int cs_chunk_sectors = 128;
module_param_named(chunk_sectors, cs_chunk_sectors, uint, 0644);
MODULE_PARM_DESC(chunk_sectors, "default copy-on-write chunk, sectors (power of two, 8..131072)");

unsigned int cs_max_snapshots_per_volume = 64;
module_param_named(max_snapshots_per_volume, cs_max_snapshots_per_volume, uint, 0644);
MODULE_PARM_DESC(max_snapshots_per_volume, "live snapshots one volume may have");

unsigned int cs_low_water_percent = 20;
module_param_named(low_water_percent, cs_low_water_percent, uint, 0644);
MODULE_PARM_DESC(low_water_percent, "STORAGE_LOW when free storage falls below this percentage");

unsigned int cs_hold_ms = 10000;
module_param_named(hold_ms, cs_hold_ms, uint, 0644);
MODULE_PARM_DESC(hold_ms, "default bound on the write hold at take, ms (100..60000)");

/* copy-on-write stages, parked writes, events: all in the I/O path */
struct workqueue_struct *cs_wq;

static int __init cowsnap_init(void)
{
	int ret;

	if (!is_power_of_2(cs_chunk_sectors) || cs_chunk_sectors < 8 ||
	    cs_chunk_sectors > 131072 || cs_hold_ms < 100 || cs_hold_ms > 60000 ||
	    cs_low_water_percent > 100) {
		pr_err("invalid module parameter\n");
		return -EINVAL;
	}
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
