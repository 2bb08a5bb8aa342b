// SPDX-License-Identifier: GPL-2.0
/*
 * The generic-netlink family "cowsnap": policies and handlers.  Handlers only
 * translate attributes and call the objects (sets, trackers); the protocol is
 * documented in uapi/linux/cowsnap.h.  Every handler takes cs_lock itself
 * (the family has parallel_ops: genl_mutex is not held).
 */
#include <linux/capability.h>
#include <linux/kdev_t.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <net/genetlink.h>

#include "cs.h"
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

static int check_perm_cb(struct netlink_callback *cb)
{
	if (netlink_capable(cb->skb, CAP_SYS_ADMIN))
		return 0;
	NL_SET_ERR_MSG(cb->extack, "cowsnap needs CAP_SYS_ADMIN");
	return -EPERM;
}

/*
 * Attribute types are checked by the policies; value ranges here, so that
 * every out-of-range value fails with -EINVAL as the uapi header promises
 * (range policies would answer -ERANGE).
 */
static const struct {
	u64 min, max;
} ranges[COWSNAP_A_MAX + 1] = {
	[COWSNAP_A_CHUNK_SECTORS] = { 8, 131072 },
	[COWSNAP_A_HOLD_MS] = { 100, 60000 },
	[COWSNAP_A_DEV_MAJOR] = { 0, (1U << (32 - MINORBITS)) - 1 },
	[COWSNAP_A_DEV_MINOR] = { 0, MINORMASK },
	[COWSNAP_A_SECTORS] = { 1, U64_MAX },
	[COWSNAP_A_CBT_COUNT] = { 1, COWSNAP_CBT_MAX_COUNT },
	[COWSNAP_A_CBT_SEQ] = { 1, U8_MAX - 1 },
};

#define POL_SET_ID	[COWSNAP_A_SET_ID] = { .type = NLA_U64 }
#define POL_DEV		[COWSNAP_A_DEV_MAJOR] = { .type = NLA_U32 }, \
			[COWSNAP_A_DEV_MINOR] = { .type = NLA_U32 }

/* The attributes each command needs ("*" in the uapi header). */
static const int required[][6] = {
	[COWSNAP_CMD_SET_ADD_VOLUME] = { COWSNAP_A_SET_ID, COWSNAP_A_DEV_MAJOR,
					 COWSNAP_A_DEV_MINOR },
	[COWSNAP_CMD_SET_ADD_STORAGE] = { COWSNAP_A_SET_ID, COWSNAP_A_DEV_MAJOR,
					  COWSNAP_A_DEV_MINOR, COWSNAP_A_SECTOR,
					  COWSNAP_A_SECTORS },
	[COWSNAP_CMD_SET_TAKE] = { COWSNAP_A_SET_ID },
	[COWSNAP_CMD_SET_ADD_FREE] = { COWSNAP_A_SET_ID, COWSNAP_A_DEV_MAJOR,
				       COWSNAP_A_DEV_MINOR, COWSNAP_A_FREE_RANGES },
	[COWSNAP_CMD_SET_GET_ZERO] = { COWSNAP_A_SET_ID, COWSNAP_A_DEV_MAJOR,
				       COWSNAP_A_DEV_MINOR },
	[COWSNAP_CMD_SET_DESTROY] = { COWSNAP_A_SET_ID },
	[COWSNAP_CMD_SET_SEAL] = { COWSNAP_A_SET_ID },
	[COWSNAP_CMD_TRACK] = { COWSNAP_A_DEV_MAJOR, COWSNAP_A_DEV_MINOR },
	[COWSNAP_CMD_UNTRACK] = { COWSNAP_A_DEV_MAJOR, COWSNAP_A_DEV_MINOR },
	/* and SET_ID or CBT_SEQ with CBT_GENERATION: cmd_cbt_get() */
	[COWSNAP_CMD_CBT_GET] = { COWSNAP_A_DEV_MAJOR, COWSNAP_A_DEV_MINOR,
				  COWSNAP_A_CBT_FIRST, COWSNAP_A_CBT_COUNT },
};

/* CAP_SYS_ADMIN, then the required attributes, with extack. */
static int check_request(struct sk_buff *skb, struct genl_info *info)
{
	u8 cmd = info->genlhdr->cmd;
	unsigned int i;
	int ret;

	ret = check_perm(skb, info);
	if (ret)
		return ret;
	for (i = 0; i <= COWSNAP_A_MAX; i++) {
		struct nlattr *a = info->attrs[i];
		u64 v;

		if (!a || !ranges[i].max)
			continue;
		v = nla_len(a) == sizeof(u64) ? nla_get_u64(a) : nla_get_u32(a);
		if (v < ranges[i].min || v > ranges[i].max) {
			NL_SET_ERR_MSG_ATTR(info->extack, a, "value out of range");
			return -EINVAL;
		}
	}
	if (cmd >= ARRAY_SIZE(required))
		return 0;
	for (i = 0; i < ARRAY_SIZE(required[0]) && required[cmd][i]; i++)
		if (GENL_REQ_ATTR_CHECK(info, required[cmd][i]))
			return -EINVAL;
	return 0;
}

static int cmd_get_version(struct sk_buff *skb, struct genl_info *info)
{
	struct sk_buff *msg;
	void *hdr;
	int ret;

	ret = check_request(skb, info);
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

static dev_t get_dev(struct genl_info *info)
{
	return MKDEV(nla_get_u32(info->attrs[COWSNAP_A_DEV_MAJOR]),
		     nla_get_u32(info->attrs[COWSNAP_A_DEV_MINOR]));
}

static u32 get_u32_or(struct genl_info *info, int attr, u32 def)
{
	return info->attrs[attr] ? nla_get_u32(info->attrs[attr]) : def;
}

/* The set named by SET_ID, or NULL with -ENOENT and extack. */
static struct cs_set *get_set(struct genl_info *info)
{
	struct nlattr *a = info->attrs[COWSNAP_A_SET_ID];
	struct cs_set *set = cs_set_find(nla_get_u64(a));

	if (!set)
		NL_SET_ERR_MSG_ATTR(info->extack, a, "no such set");
	return set;
}

static int put_set(struct sk_buff *msg, struct cs_set *set)
{
	struct nlattr *vols, *vol;
	unsigned int i;
	u64 used;

	lockdep_assert_held(&cs_lock);
	used = min(READ_ONCE(set->storage.next_slot), READ_ONCE(set->storage.total_slots));
	if (nla_put_u64_64bit(msg, COWSNAP_A_SET_ID, set->id, COWSNAP_A_PAD) ||
	    (set->name[0] && nla_put_string(msg, COWSNAP_A_SET_NAME, set->name)) ||
	    nla_put_u32(msg, COWSNAP_A_SET_STATE, cs_set_state(set)) ||
	    nla_put_u32(msg, COWSNAP_A_SET_FLAGS, set->flags) ||
	    nla_put_u32(msg, COWSNAP_A_INVALID_CAUSE, atomic_read(&set->cause)) ||
	    nla_put_u32(msg, COWSNAP_A_CHUNK_SECTORS, set->chunk_sectors) ||
	    nla_put_u64_64bit(msg, COWSNAP_A_CREATED_NS, set->created_ns, COWSNAP_A_PAD) ||
	    nla_put_u64_64bit(msg, COWSNAP_A_STORAGE_SECTORS,
			      READ_ONCE(set->storage.total_slots) * set->chunk_sectors,
			      COWSNAP_A_PAD) ||
	    nla_put_u64_64bit(msg, COWSNAP_A_STORAGE_USED, used * set->chunk_sectors,
			      COWSNAP_A_PAD))
		return -EMSGSIZE;
	if (set->state != COWSNAP_SET_DEFINING &&
	    nla_put_u64_64bit(msg, COWSNAP_A_TAKEN_NS, set->taken_ns, COWSNAP_A_PAD))
		return -EMSGSIZE;
	vols = nla_nest_start(msg, COWSNAP_A_VOLUMES);
	if (!vols)
		return -EMSGSIZE;
	for (i = 0; i < set->nvol; i++) {
		struct cs_tracker *t = set->vols[i].t;
		struct cs_snapshot *s = set->vols[i].s;

		vol = nla_nest_start(msg, COWSNAP_A_VOLUME);
		if (!vol ||
		    nla_put_u32(msg, COWSNAP_A_DEV_MAJOR, MAJOR(t->devt)) ||
		    nla_put_u32(msg, COWSNAP_A_DEV_MINOR, MINOR(t->devt)) ||
		    nla_put_string(msg, COWSNAP_A_DEV_NAME, t->name) ||
		    nla_put_u64_64bit(msg, COWSNAP_A_SECTORS,
				      s ? s->sectors : bdev_nr_sectors(t->origin.bdev),
				      COWSNAP_A_PAD))
			return -EMSGSIZE;
		if (s && (nla_put_u64_64bit(msg, COWSNAP_A_CHUNKS_COPIED,
					    atomic64_read(&s->copied), COWSNAP_A_PAD) ||
			  nla_put(msg, COWSNAP_A_CBT_GENERATION, COWSNAP_CBT_GENERATION_LEN,
				  &s->cbt_generation) ||
			  nla_put_u32(msg, COWSNAP_A_CBT_SEQ, s->cbt_seq) ||
			  (s->minor >= 0 &&
			   (nla_put_u32(msg, COWSNAP_A_IMAGE_MAJOR, cs_image_major()) ||
			    nla_put_u32(msg, COWSNAP_A_IMAGE_MINOR, s->minor)))))
			return -EMSGSIZE;
		nla_nest_end(msg, vol);
	}
	nla_nest_end(msg, vols);
	return 0;
}

static int reply_set(struct genl_info *info, struct cs_set *set, u8 cmd)
{
	struct sk_buff *msg;
	void *hdr;

	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &cowsnap_family, 0, cmd);
	if (!hdr || put_set(msg, set)) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}

static int cmd_set_new(struct sk_buff *skb, struct genl_info *info)
{
	u32 flags = get_u32_or(info, COWSNAP_A_SET_FLAGS, 0);
	struct nlattr *name_attr = info->attrs[COWSNAP_A_SET_NAME];
	char name[COWSNAP_SET_NAME_MAX_LEN + 1];
	struct sk_buff *msg;
	void *hdr;
	u64 id;
	int ret;

	ret = check_request(skb, info);
	if (ret)
		return ret;
	/* the policy bounded it: a NUL within the first MAX_LEN + 1 bytes */
	if (name_attr)
		nla_strscpy(name, name_attr, sizeof(name));
	if (flags & ~__COWSNAP_SET_F_ALL) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[COWSNAP_A_SET_FLAGS],
				    "unknown set flags");
		return -EOPNOTSUPP;
	}
	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	mutex_lock(&cs_lock);
	ret = cs_set_new(flags,
			 get_u32_or(info, COWSNAP_A_CHUNK_SECTORS, READ_ONCE(cs_chunk_sectors)),
			 get_u32_or(info, COWSNAP_A_HOLD_MS, READ_ONCE(cs_hold_ms)),
			 name_attr ? name : NULL, name_attr, info->snd_portid,
			 genl_info_net(info), info->extack, &id);
	mutex_unlock(&cs_lock);
	if (ret)
		goto err;
	ret = -EMSGSIZE;
	hdr = genlmsg_put_reply(msg, info, &cowsnap_family, 0, COWSNAP_CMD_SET_NEW);
	if (!hdr || nla_put_u64_64bit(msg, COWSNAP_A_SET_ID, id, COWSNAP_A_PAD))
		goto err;
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
err:
	nlmsg_free(msg);
	return ret;
}

static int cmd_set_add_volume(struct sk_buff *skb, struct genl_info *info)
{
	struct cs_set *set;
	int ret;

	ret = check_request(skb, info);
	if (ret)
		return ret;
	mutex_lock(&cs_lock);
	ret = -ENOENT;
	set = get_set(info);
	if (set)
		ret = cs_set_add_volume(set, get_dev(info), info->extack);
	mutex_unlock(&cs_lock);
	return ret;
}

static int cmd_set_add_storage(struct sk_buff *skb, struct genl_info *info)
{
	u32 flags = get_u32_or(info, COWSNAP_A_STORAGE_FLAGS, 0);
	struct cs_set *set;
	int ret;

	ret = check_request(skb, info);
	if (ret)
		return ret;
	if (flags & ~__COWSNAP_STORAGE_F_ALL) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[COWSNAP_A_STORAGE_FLAGS],
				    "unknown storage flags");
		return -EOPNOTSUPP;
	}
	mutex_lock(&cs_lock);
	ret = -ENOENT;
	set = get_set(info);
	if (set)
		ret = cs_set_add_storage(set, get_dev(info),
					 nla_get_u64(info->attrs[COWSNAP_A_SECTOR]),
					 nla_get_u64(info->attrs[COWSNAP_A_SECTORS]),
					 flags & COWSNAP_STORAGE_F_IN_FILE, info->extack);
	mutex_unlock(&cs_lock);
	return ret;
}

static int cmd_set_add_free(struct sk_buff *skb, struct genl_info *info)
{
	struct cowsnap_range *rg;
	struct nlattr *a;
	struct cs_set *set;
	int ret;

	ret = check_request(skb, info);
	if (ret)
		return ret;
	a = info->attrs[COWSNAP_A_FREE_RANGES];
	if (!nla_len(a) || nla_len(a) % sizeof(*rg)) {
		NL_SET_ERR_MSG_ATTR(info->extack, a, "free ranges: 1 or more struct cowsnap_range");
		return -EINVAL;
	}
	/* the attribute's payload is only 4-byte aligned */
	rg = kmemdup(nla_data(a), nla_len(a), GFP_KERNEL);
	if (!rg)
		return -ENOMEM;
	mutex_lock(&cs_lock);
	ret = -ENOENT;
	set = get_set(info);
	if (set)
		ret = cs_set_add_free(set, get_dev(info), rg, nla_len(a) / sizeof(*rg), a,
				      info->extack);
	mutex_unlock(&cs_lock);
	kfree(rg);
	return ret;
}

static int cmd_set_get_zero(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *a = info->attrs[COWSNAP_A_SECTOR];
	u64 from = a ? nla_get_u64(a) : 0;
	struct cowsnap_range *rg;
	struct sk_buff *msg;
	struct cs_set *set;
	void *hdr;
	int ret, n;

	ret = check_request(skb, info);
	if (ret)
		return ret;
	rg = kvmalloc_array(COWSNAP_ZERO_GET_MAX, sizeof(*rg), GFP_KERNEL);
	if (!rg)
		return -ENOMEM;
	mutex_lock(&cs_lock);
	n = -ENOENT;
	set = get_set(info);
	if (set)
		n = cs_set_get_zero(set, get_dev(info), &from, rg, COWSNAP_ZERO_GET_MAX,
				    info->extack);
	mutex_unlock(&cs_lock);
	ret = n;
	if (n < 0)
		goto out;
	ret = -ENOMEM;
	msg = genlmsg_new(nla_total_size(n * sizeof(*rg)) + NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		goto out;
	ret = -EMSGSIZE;
	hdr = genlmsg_put_reply(msg, info, &cowsnap_family, 0, COWSNAP_CMD_SET_GET_ZERO);
	if (!hdr ||
	    nla_put_u64_64bit(msg, COWSNAP_A_SET_ID, nla_get_u64(info->attrs[COWSNAP_A_SET_ID]),
			      COWSNAP_A_PAD) ||
	    nla_put_u32(msg, COWSNAP_A_DEV_MAJOR, nla_get_u32(info->attrs[COWSNAP_A_DEV_MAJOR])) ||
	    nla_put_u32(msg, COWSNAP_A_DEV_MINOR, nla_get_u32(info->attrs[COWSNAP_A_DEV_MINOR])) ||
	    nla_put(msg, COWSNAP_A_FREE_RANGES, n * sizeof(*rg), rg) ||
	    (from && nla_put_u64_64bit(msg, COWSNAP_A_SECTOR, from, COWSNAP_A_PAD))) {
		nlmsg_free(msg);
		goto out;
	}
	genlmsg_end(msg, hdr);
	ret = genlmsg_reply(msg, info);
out:
	kvfree(rg);
	return ret;
}

static int cmd_set_take(struct sk_buff *skb, struct genl_info *info)
{
	u32 flags = get_u32_or(info, COWSNAP_A_TAKE_FLAGS, 0);
	u32 bound_ms = get_u32_or(info, COWSNAP_A_HOLD_MS, 0);
	struct cs_set *set;
	int ret;

	ret = check_request(skb, info);
	if (ret)
		return ret;
	if (flags & ~__COWSNAP_TAKE_F_ALL) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[COWSNAP_A_TAKE_FLAGS],
				    "unknown take flags");
		return -EOPNOTSUPP;
	}
	mutex_lock(&cs_lock);
	ret = -ENOENT;
	set = get_set(info);
	if (set)
		ret = cs_set_take(set, flags, bound_ms, info->extack);
	if (!ret)
		ret = reply_set(info, set, COWSNAP_CMD_SET_TAKE);
	mutex_unlock(&cs_lock);
	return ret;
}

static int cmd_set_destroy(struct sk_buff *skb, struct genl_info *info)
{
	struct cs_set *set;
	int ret;

	ret = check_request(skb, info);
	if (ret)
		return ret;
	mutex_lock(&cs_lock);
	ret = -ENOENT;
	set = get_set(info);
	if (set) {
		cs_set_destroy(set);
		ret = 0;
	}
	mutex_unlock(&cs_lock);
	return ret;
}

static int cmd_set_seal(struct sk_buff *skb, struct genl_info *info)
{
	struct cs_set *set;
	int ret;

	ret = check_request(skb, info);
	if (ret)
		return ret;
	mutex_lock(&cs_lock);
	ret = -ENOENT;
	set = get_set(info);
	if (set)
		ret = cs_set_seal(set, info->extack);
	mutex_unlock(&cs_lock);
	return ret;
}

static int cmd_set_get(struct sk_buff *skb, struct genl_info *info)
{
	struct cs_set *set;
	int ret;

	ret = check_request(skb, info);
	if (ret)
		return ret;
	if (GENL_REQ_ATTR_CHECK(info, COWSNAP_A_SET_ID))
		return -EINVAL;
	mutex_lock(&cs_lock);
	ret = -ENOENT;
	set = get_set(info);
	if (set)
		ret = reply_set(info, set, COWSNAP_CMD_SET_GET);
	mutex_unlock(&cs_lock);
	return ret;
}

/* cb->args[0]: id of the last set sent */
static int dump_sets(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct cs_set *set;
	int ret, n = 0;
	void *hdr;

	ret = check_perm_cb(cb);
	if (ret)
		return ret;
	mutex_lock(&cs_lock);
	while ((set = cs_set_next(cb->args[0]))) {
		hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
				  &cowsnap_family, NLM_F_MULTI, COWSNAP_CMD_SET_GET);
		if (!hdr)
			break;
		if (put_set(skb, set)) {
			genlmsg_cancel(skb, hdr);
			break;
		}
		genlmsg_end(skb, hdr);
		cb->args[0] = set->id;
		n++;
	}
	mutex_unlock(&cs_lock);
	/* a set too large for an empty message would loop forever */
	if (!n && set)
		return -EMSGSIZE;
	return skb->len;
}

static int put_volume(struct sk_buff *msg, struct cs_tracker *t)
{
	if (nla_put_u32(msg, COWSNAP_A_DEV_MAJOR, MAJOR(t->devt)) ||
	    nla_put_u32(msg, COWSNAP_A_DEV_MINOR, MINOR(t->devt)) ||
	    nla_put_string(msg, COWSNAP_A_DEV_NAME, t->name) ||
	    nla_put_u64_64bit(msg, COWSNAP_A_MARK_SET_ID, t->mark_set_id, COWSNAP_A_PAD) ||
	    nla_put_u32(msg, COWSNAP_A_VOLUME_FLAGS, t->keep ? COWSNAP_VOLUME_F_KEEP : 0) ||
	    nla_put_u32(msg, COWSNAP_A_SNAPSHOTS, t->nsnap) ||
	    nla_put(msg, COWSNAP_A_CBT_GENERATION, COWSNAP_CBT_GENERATION_LEN,
		    &t->cbt.generation) ||
	    nla_put_u32(msg, COWSNAP_A_CHUNK_SECTORS, 1U << t->chunk_shift) ||
	    nla_put_u64_64bit(msg, COWSNAP_A_SECTORS, bdev_nr_sectors(t->origin.bdev),
			      COWSNAP_A_PAD))
		return -EMSGSIZE;
	return 0;
}

/* cb->args[0]: next dev_t to look at */
static int dump_volumes(struct sk_buff *skb, struct netlink_callback *cb)
{
	unsigned long index = cb->args[0];
	struct cs_tracker *t;
	int ret, n = 0;
	void *hdr;

	ret = check_perm_cb(cb);
	if (ret)
		return ret;
	mutex_lock(&cs_lock);
	while ((t = cs_tracker_next(&index))) {
		hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
				  &cowsnap_family, NLM_F_MULTI, COWSNAP_CMD_VOLUME_GET);
		if (!hdr)
			break;
		if (put_volume(skb, t)) {
			genlmsg_cancel(skb, hdr);
			break;
		}
		genlmsg_end(skb, hdr);
		cb->args[0] = ++index;
		n++;
	}
	mutex_unlock(&cs_lock);
	if (!n && t)
		return -EMSGSIZE;
	return skb->len;
}

static int cmd_volume_get(struct sk_buff *skb, struct genl_info *info)
{
	struct cs_tracker *t;
	struct sk_buff *msg;
	void *hdr;
	int ret;

	ret = check_request(skb, info);
	if (ret)
		return ret;
	if (GENL_REQ_ATTR_CHECK(info, COWSNAP_A_DEV_MAJOR) ||
	    GENL_REQ_ATTR_CHECK(info, COWSNAP_A_DEV_MINOR))
		return -EINVAL;
	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	mutex_lock(&cs_lock);
	ret = -ENOENT;
	t = cs_tracker_lookup(get_dev(info));
	if (!t) {
		NL_SET_ERR_MSG(info->extack, "volume is not tracked");
		goto err;
	}
	ret = -EMSGSIZE;
	hdr = genlmsg_put_reply(msg, info, &cowsnap_family, 0, COWSNAP_CMD_VOLUME_GET);
	if (!hdr || put_volume(msg, t))
		goto err;
	mutex_unlock(&cs_lock);
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
err:
	mutex_unlock(&cs_lock);
	nlmsg_free(msg);
	return ret;
}

static int cmd_track(struct sk_buff *skb, struct genl_info *info)
{
	int ret;

	ret = check_request(skb, info);
	if (ret)
		return ret;
	mutex_lock(&cs_lock);
	if (info->genlhdr->cmd == COWSNAP_CMD_TRACK)
		ret = cs_volume_track(get_dev(info), info->extack);
	else
		ret = cs_volume_untrack(get_dev(info), info->extack);
	mutex_unlock(&cs_lock);
	return ret;
}

static int cmd_cbt_get(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *seq_attr = info->attrs[COWSNAP_A_CBT_SEQ];
	struct nlattr *gen_attr = info->attrs[COWSNAP_A_CBT_GENERATION];
	struct cs_snapshot *s = NULL;
	u64 first, id = 0;
	u32 count;
	u8 since = 0;
	bool all = false;
	unsigned long *bitmap;
	struct cs_tracker *t;
	struct sk_buff *msg;
	unsigned int i;
	void *hdr;
	int ret;

	ret = check_request(skb, info);
	if (ret)
		return ret;
	if (!info->attrs[COWSNAP_A_SET_ID] == !seq_attr) {
		NL_SET_ERR_MSG(info->extack, "give exactly one of SET_ID and CBT_SEQ");
		return -EINVAL;
	}
	if (seq_attr && !gen_attr) {
		NL_SET_ERR_MSG_ATTR(info->extack, seq_attr, "CBT_SEQ needs CBT_GENERATION");
		return -EINVAL;
	}
	if (!seq_attr && gen_attr) {
		NL_SET_ERR_MSG_ATTR(info->extack, gen_attr, "CBT_GENERATION goes with CBT_SEQ");
		return -EINVAL;
	}
	first = nla_get_u64(info->attrs[COWSNAP_A_CBT_FIRST]);
	count = nla_get_u32(info->attrs[COWSNAP_A_CBT_COUNT]);
	if (info->attrs[COWSNAP_A_SET_ID])
		id = nla_get_u64(info->attrs[COWSNAP_A_SET_ID]);
	bitmap = kvcalloc(BITS_TO_LONGS(count), sizeof(long), GFP_KERNEL);
	msg = genlmsg_new(nla_total_size(DIV_ROUND_UP(count, 8)) + 256, GFP_KERNEL);
	ret = -ENOMEM;
	if (!bitmap || !msg)
		goto out;
	mutex_lock(&cs_lock);
	ret = -ENOENT;
	t = cs_tracker_lookup(get_dev(info));
	if (!t) {
		NL_SET_ERR_MSG(info->extack, "volume is not tracked");
		goto unlock;
	}
	if (id) {
		struct cs_set *set = get_set(info);

		if (!set)
			goto unlock;
		for (i = 0; i < set->nvol; i++)
			if (set->vols[i].t == t)
				s = set->vols[i].s;
		if (!s) {
			NL_SET_ERR_MSG(info->extack, "volume has no snapshot in this set");
			goto unlock;
		}
		since = s->cbt_seq;
		all = !uuid_equal(&s->cbt_generation, &t->cbt.generation);
	} else if (seq_attr) {
		since = nla_get_u32(seq_attr);
		all = memcmp(nla_data(gen_attr), &t->cbt.generation,
			     COWSNAP_CBT_GENERATION_LEN);
	}
	cs_cbt_get(&t->cbt, first, count, since, all, bitmap);
	ret = -EMSGSIZE;
	hdr = genlmsg_put_reply(msg, info, &cowsnap_family, 0, COWSNAP_CMD_CBT_GET);
	if (!hdr ||
	    nla_put(msg, COWSNAP_A_CBT_GENERATION, COWSNAP_CBT_GENERATION_LEN,
		    &t->cbt.generation) ||
	    nla_put_u32(msg, COWSNAP_A_CHUNK_SECTORS, 1U << t->chunk_shift) ||
	    nla_put_u64_64bit(msg, COWSNAP_A_CBT_FIRST, first, COWSNAP_A_PAD) ||
	    nla_put(msg, COWSNAP_A_CBT_BITMAP, DIV_ROUND_UP(count, 8), bitmap))
		goto unlock;
	mutex_unlock(&cs_lock);
	genlmsg_end(msg, hdr);
	kvfree(bitmap);
	return genlmsg_reply(msg, info);
unlock:
	mutex_unlock(&cs_lock);
out:
	nlmsg_free(msg);
	kvfree(bitmap);
	return ret;
}

/* false once the family is going away (module unload) */
static bool events_on;

/* Events go to the "events" group; nobody listening is not an error. */
void cs_netlink_event(int cmd, struct cs_set *set, struct cs_tracker *t, gfp_t gfp)
{
	struct sk_buff *msg;
	void *hdr;

	if (!READ_ONCE(events_on))
		return;
	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, gfp);
	if (!msg)
		return;
	hdr = genlmsg_put(msg, 0, 0, &cowsnap_family, 0, cmd);
	if (!hdr)
		goto err;
	if (set && nla_put_u64_64bit(msg, COWSNAP_A_SET_ID, set->id, COWSNAP_A_PAD))
		goto err;
	switch (cmd) {
	case COWSNAP_CMD_EVENT_STORAGE_LOW:
		if (nla_put_u64_64bit(msg, COWSNAP_A_STORAGE_SECTORS,
				      READ_ONCE(set->storage.total_slots) * set->chunk_sectors,
				      COWSNAP_A_PAD) ||
		    nla_put_u64_64bit(msg, COWSNAP_A_STORAGE_USED,
				      min(READ_ONCE(set->storage.next_slot),
					  READ_ONCE(set->storage.total_slots)) *
				      set->chunk_sectors, COWSNAP_A_PAD))
			goto err;
		break;
	case COWSNAP_CMD_EVENT_SET_INVALID:
		if (nla_put_u32(msg, COWSNAP_A_INVALID_CAUSE, atomic_read(&set->cause)))
			goto err;
		break;
	case COWSNAP_CMD_EVENT_VOLUME_GONE:
		if (nla_put_u32(msg, COWSNAP_A_DEV_MAJOR, MAJOR(t->devt)) ||
		    nla_put_u32(msg, COWSNAP_A_DEV_MINOR, MINOR(t->devt)) ||
		    nla_put_string(msg, COWSNAP_A_DEV_NAME, t->name))
			goto err;
		break;
	}
	genlmsg_end(msg, hdr);
	genlmsg_multicast(&cowsnap_family, msg, 0, 0, gfp);
	return;
err:
	nlmsg_free(msg);
}

/* GET_VERSION takes no attributes: an empty policy rejects any. */
static const struct nla_policy empty_policy[COWSNAP_A_MAX + 1] = {
};

static const struct nla_policy set_new_policy[COWSNAP_A_MAX + 1] = {
	[COWSNAP_A_SET_FLAGS] = { .type = NLA_U32 },
	[COWSNAP_A_CHUNK_SECTORS] = { .type = NLA_U32 },
	[COWSNAP_A_HOLD_MS] = { .type = NLA_U32 },
	/* the characters: cs_set_new() */
	[COWSNAP_A_SET_NAME] = { .type = NLA_NUL_STRING, .len = COWSNAP_SET_NAME_MAX_LEN },
};

static const struct nla_policy set_id_policy[COWSNAP_A_MAX + 1] = {
	POL_SET_ID,
};

static const struct nla_policy set_volume_policy[COWSNAP_A_MAX + 1] = {
	POL_SET_ID,
	POL_DEV,
};

static const struct nla_policy set_storage_policy[COWSNAP_A_MAX + 1] = {
	POL_SET_ID,
	POL_DEV,
	[COWSNAP_A_SECTOR] = { .type = NLA_U64 },
	[COWSNAP_A_SECTORS] = { .type = NLA_U64 },
	[COWSNAP_A_STORAGE_FLAGS] = { .type = NLA_U32 },
};

static const struct nla_policy set_free_policy[COWSNAP_A_MAX + 1] = {
	POL_SET_ID,
	POL_DEV,
	[COWSNAP_A_FREE_RANGES] = { .type = NLA_BINARY,
				    .len = COWSNAP_FREE_RANGES_MAX * sizeof(struct cowsnap_range) },
};

static const struct nla_policy set_zero_policy[COWSNAP_A_MAX + 1] = {
	POL_SET_ID,
	POL_DEV,
	[COWSNAP_A_SECTOR] = { .type = NLA_U64 },
};

static const struct nla_policy set_take_policy[COWSNAP_A_MAX + 1] = {
	POL_SET_ID,
	[COWSNAP_A_TAKE_FLAGS] = { .type = NLA_U32 },
	[COWSNAP_A_HOLD_MS] = { .type = NLA_U32 },
};

static const struct nla_policy dev_policy[COWSNAP_A_MAX + 1] = {
	POL_DEV,
};

static const struct nla_policy cbt_get_policy[COWSNAP_A_MAX + 1] = {
	POL_DEV,
	[COWSNAP_A_SET_ID] = { .type = NLA_U64 },
	[COWSNAP_A_CBT_FIRST] = { .type = NLA_U64 },
	[COWSNAP_A_CBT_COUNT] = { .type = NLA_U32 },
	[COWSNAP_A_CBT_SEQ] = { .type = NLA_U32 },
	[COWSNAP_A_CBT_GENERATION] = NLA_POLICY_EXACT_LEN(COWSNAP_CBT_GENERATION_LEN),
};

#define OP(c, fn, pol)	{ .cmd = (c), .doit = (fn), .policy = (pol), \
			  .maxattr = COWSNAP_A_MAX, .flags = GENL_ADMIN_PERM }

static const struct genl_ops cowsnap_ops[] = {
	OP(COWSNAP_CMD_GET_VERSION, cmd_get_version, empty_policy),
	OP(COWSNAP_CMD_SET_NEW, cmd_set_new, set_new_policy),
	OP(COWSNAP_CMD_SET_ADD_VOLUME, cmd_set_add_volume, set_volume_policy),
	OP(COWSNAP_CMD_SET_ADD_STORAGE, cmd_set_add_storage, set_storage_policy),
	OP(COWSNAP_CMD_SET_TAKE, cmd_set_take, set_take_policy),
	OP(COWSNAP_CMD_SET_DESTROY, cmd_set_destroy, set_id_policy),
	OP(COWSNAP_CMD_SET_SEAL, cmd_set_seal, set_id_policy),
	{
		.cmd = COWSNAP_CMD_SET_GET,
		.doit = cmd_set_get,
		.dumpit = dump_sets,
		.policy = set_id_policy,
		.maxattr = COWSNAP_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = COWSNAP_CMD_VOLUME_GET,
		.doit = cmd_volume_get,
		.dumpit = dump_volumes,
		.policy = dev_policy,
		.maxattr = COWSNAP_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
	OP(COWSNAP_CMD_TRACK, cmd_track, dev_policy),
	OP(COWSNAP_CMD_UNTRACK, cmd_track, dev_policy),
	OP(COWSNAP_CMD_CBT_GET, cmd_cbt_get, cbt_get_policy),
	OP(COWSNAP_CMD_SET_ADD_FREE, cmd_set_add_free, set_free_policy),
	OP(COWSNAP_CMD_SET_GET_ZERO, cmd_set_get_zero, set_zero_policy),
};

static const struct genl_multicast_group cowsnap_mcgrps[] = {
	/* events name sets and devices: for CAP_SYS_ADMIN (compat.h on 6.1) */
	{ .name = COWSNAP_GENL_MCGRP_EVENTS, .flags = GENL_MCAST_CAP_SYS_ADMIN, },
};

static struct genl_family cowsnap_family __ro_after_init = {
	.name = COWSNAP_GENL_NAME,
	.version = COWSNAP_GENL_VERSION,
	.maxattr = COWSNAP_A_MAX,
	.module = THIS_MODULE,
	/*
	 * Handlers serialise on cs_lock, not on genl_mutex: a take may hold
	 * cs_lock for the hold time plus the freeze, and every other generic
	 * netlink family of the machine must go on meanwhile.
	 */
	.parallel_ops = true,
	.ops = cowsnap_ops,
	.n_ops = ARRAY_SIZE(cowsnap_ops),
	.mcgrps = cowsnap_mcgrps,
	.n_mcgrps = ARRAY_SIZE(cowsnap_mcgrps),
};

int __init cs_netlink_init(void)
{
	int ret = genl_register_family(&cowsnap_family);

	WRITE_ONCE(events_on, !ret);
	return ret;
}

/*
 * Before the sets are torn down: no command arrives any more, and their
 * teardown sends no event.  A work item racing with this may still multicast
 * to the unregistered group, which reaches nobody; the family is static.
 */
void cs_netlink_exit(void)
{
	WRITE_ONCE(events_on, false);
	genl_unregister_family(&cowsnap_family);
}
