// SPDX-License-Identifier: GPL-2.0
/*
 * cowsnap: copy-on-write snapshots of any block device, taken atomically over
 * a set of volumes.  This file is only the init chain; each object lives in
 * its own file.
 */
#include <linux/module.h>
#include <net/genetlink.h>

#include "netlink.h"

static int __init cowsnap_init(void)
{
	int ret;

	ret = cs_netlink_init();
	if (ret)
		goto err_netlink;

	pr_info("version %s loaded\n", COWSNAP_VERSION);
	return 0;

err_netlink:
	return ret;
}

static void __exit cowsnap_exit(void)
{
	cs_netlink_exit();
	pr_info("unloaded\n");
}

module_init(cowsnap_init);
module_exit(cowsnap_exit);

MODULE_DESCRIPTION("cowsnap: consistent copy-on-write snapshots of block devices");
MODULE_AUTHOR("The cowsnap developers");
MODULE_LICENSE("GPL");
MODULE_VERSION(COWSNAP_VERSION);
MODULE_ALIAS_GENL_FAMILY(COWSNAP_GENL_NAME);
