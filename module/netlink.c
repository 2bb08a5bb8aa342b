// SPDX-License-Identifier: GPL-2.0
/*
 * The generic-netlink family "cowsnap": policies and handlers.  Handlers only
 * translate attributes and call the objects (sets, trackers); the protocol is
 * documented in uapi/linux/cowsnap.h.
 */
#include <linux/capability.h>
#include <linux/module.h>
#include <net/genetlink.h>

#include "netlink.h"

static struct genl_family cowsnap_family;

/*
 * GENL_ADMIN_PERM already refuses senders without CAP_NET_ADMIN before the
 * attributes are parsed; snapshots of block devices need CAP_SYS_ADMIN too.
 */
static int check_perm(struct sk_buff *skb, struct genl_info *info)
{
	if (netlink_capable(skb, CAP_SYS_ADMIN))
		return 0;
	GENL_SET_ERR_MSG(info, "cowsnap needs CAP_SYS_ADMIN");
	return -EPERM;
}

static int cmd_get_version(struct sk_buff *skb, struct genl_info *info)
{
	struct sk_buff *msg;
	void *hdr;
	int ret;

	ret = check_perm(skb, info);
	if (ret)
		return ret;

	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &cowsnap_family, 0,
				COWSNAP_CMD_GET_VERSION);
	if (!hdr)
		goto nospace;
	if (nla_put_string(msg, COWSNAP_A_VERSION, COWSNAP_VERSION) ||
	    nla_put_u32(msg, COWSNAP_A_PROTO_VERSION, COWSNAP_GENL_VERSION))
		goto nospace;
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

nospace:
	nlmsg_free(msg);
	return -EMSGSIZE;
}

/* GET_VERSION takes no attributes: an empty policy rejects any. */
static const struct nla_policy empty_policy[COWSNAP_A_MAX + 1] = {
};

static const struct genl_ops cowsnap_ops[] = {
	{
		.cmd = COWSNAP_CMD_GET_VERSION,
		.doit = cmd_get_version,
		.policy = empty_policy,
		.maxattr = COWSNAP_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
};

static const struct genl_multicast_group cowsnap_mcgrps[] = {
	{ .name = COWSNAP_GENL_MCGRP_EVENTS, },
};

static struct genl_family cowsnap_family __ro_after_init = {
	.name = COWSNAP_GENL_NAME,
	.version = COWSNAP_GENL_VERSION,
	.maxattr = COWSNAP_A_MAX,
	.module = THIS_MODULE,
	.ops = cowsnap_ops,
	.n_ops = ARRAY_SIZE(cowsnap_ops),
	.mcgrps = cowsnap_mcgrps,
	.n_mcgrps = ARRAY_SIZE(cowsnap_mcgrps),
};

int __init cs_netlink_init(void)
{
	return genl_register_family(&cowsnap_family);
}

void cs_netlink_exit(void)
{
	genl_unregister_family(&cowsnap_family);
}
