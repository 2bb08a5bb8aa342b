// SPDX-License-Identifier: GPL-2.0
/*
 * Difference storage: ranges of sectors on block devices, given to a set by
 * userspace, handed out one chunk ("slot") at a time.  Slots are numbered
 * across the set's ranges in the order the ranges were added; a slot never
 * moves, so a chunk map stores only the slot number.
 */
#include <linux/blkdev.h>
#include <linux/rculist.h>
#include <linux/slab.h>

#include "cs.h"

/* Every range given to any set (cs_lock), to refuse overlaps. */
static LIST_HEAD(all_ranges);

/* Storage is opened exclusively with this holder: nobody mounts it. */
static int storage_holder;

void cs_storage_init(struct cs_storage *st, unsigned int chunk_sectors)
{
	spin_lock_init(&st->lock);
	INIT_LIST_HEAD(&st->ranges);
	st->chunk_sectors = chunk_sectors;
}

/* The largest logical block size of the storage's devices (cs_lock). */
unsigned int cs_storage_lbs(struct cs_storage *st)
{
	struct cs_storage_range *r;
	unsigned int lbs = 0;

	lockdep_assert_held(&cs_lock);
	list_for_each_entry(r, &st->ranges, node)
		lbs = max(lbs, bdev_logical_block_size(r->dev.bdev));
	return lbs;
}

bool cs_same_place(struct block_device *a, sector_t as, sector_t alen,
		       struct block_device *b, sector_t bs, sector_t blen)
{
	if (a->bd_disk != b->bd_disk)
		return false;
	as += a->bd_start_sect;
	bs += b->bd_start_sect;
	return as < bs + blen && bs < as + alen;
}

/*
 * The set's storage that [start, start + len) of bdev overlaps, other than
 * except's (NULL: any); NULL when there is none.
 */
struct cs_storage *cs_storage_overlaps(struct block_device *bdev, sector_t start,
				       sector_t len, const struct cs_storage *except)
{
	struct cs_storage_range *r;

	lockdep_assert_held(&cs_lock);
	list_for_each_entry(r, &all_ranges, all)
		if (r->owner != except &&
		    cs_same_place(bdev, start, len, r->dev.bdev, r->start, r->len))
			return r->owner;
	return NULL;
}

/*
 * A range for st, checked but not yet used: cs_storage_commit() hands its
 * slots out, cs_storage_drop() forgets it.  Image reads go down to a
 * volume's logical block size, and a chunk may be read partly from storage:
 * storage with larger logical blocks than the smallest volume's (max_lbs)
 * could not serve them.  overlaps() says whether the range may lie where it
 * does, and may mark it resident.
 */
struct cs_storage_range *cs_storage_prepare(struct cs_storage *st, dev_t dev, sector_t start,
					    sector_t len, bool in_file, unsigned int max_lbs,
					    cs_overlap_fn *overlaps, void *arg,
					    struct netlink_ext_ack *extack)
{
	struct cs_storage_range *r;
	int ret;

	lockdep_assert_held(&cs_lock);
	r = kzalloc(sizeof(*r), GFP_KERNEL);
	if (!r)
		return ERR_PTR(-ENOMEM);
	ret = cs_bdev_open(&r->dev, dev, true, in_file ? NULL : &storage_holder);
	if (ret) {
		if (ret == -ENXIO || ret == -ENOENT)
			ret = -ENODEV;
		if (ret == -EBUSY && in_file)
			NL_SET_ERR_MSG(extack, "this kernel refuses writes to mounted devices "
				       "(CONFIG_BLK_DEV_WRITE_MOUNTED is off): storage in files "
				       "is not possible");
		else if (ret == -EBUSY)
			NL_SET_ERR_MSG(extack, "storage device is in use (mounted?)");
		else
			NL_SET_ERR_MSG(extack, "cannot open the storage device");
		goto err_free;
	}
	ret = -EOPNOTSUPP;
	if (bdev_is_zoned(r->dev.bdev)) {
		NL_SET_ERR_MSG(extack, "zoned block devices cannot hold storage");
		goto err_close;
	}
	ret = -EINVAL;
	if (bdev_logical_block_size(r->dev.bdev) > max_lbs) {
		NL_SET_ERR_MSG(extack, "storage device has larger logical blocks than a volume of the set");
		goto err_close;
	}
	if (start + len < start || start + len > bdev_nr_sectors(r->dev.bdev)) {
		NL_SET_ERR_MSG(extack, "storage range beyond the end of the device");
		goto err_close;
	}
	if (((start | len) << SECTOR_SHIFT) & (bdev_logical_block_size(r->dev.bdev) - 1)) {
		NL_SET_ERR_MSG(extack, "storage range not aligned to the device's logical blocks");
		goto err_close;
	}
	if (len < st->chunk_sectors) {
		NL_SET_ERR_MSG(extack, "storage range shorter than one chunk");
		goto err_close;
	}
	if (cs_storage_overlaps(r->dev.bdev, start, len, NULL)) {
		NL_SET_ERR_MSG(extack, "storage range overlaps storage already given");
		goto err_close;
	}
	r->owner = st;
	r->in_file = in_file;
	r->devt = dev;
	r->start = start;
	r->len = len;
	r->slots = len / st->chunk_sectors;
	ret = overlaps(arg, r, extack);
	if (ret)
		goto err_close;
	return r;

err_close:
	cs_bdev_close(&r->dev);
err_free:
	kfree(r);
	return ERR_PTR(ret);
}

void cs_storage_drop(struct cs_storage_range *r)
{
	cs_bdev_close(&r->dev);
	kfree(r);
}

/* The range's slots are handed out from now on. */
void cs_storage_commit(struct cs_storage *st, struct cs_storage_range *r)
{
	unsigned long flags;

	lockdep_assert_held(&cs_lock);
	list_add_tail(&r->all, &all_ranges);
	spin_lock_irqsave(&st->lock, flags);
	r->first_slot = st->total_slots;
	list_add_tail_rcu(&r->node, &st->ranges);
	WRITE_ONCE(st->total_slots, st->total_slots + r->slots);
	st->low_sent = false;
	spin_unlock_irqrestore(&st->lock, flags);
}

/* The set is destroyed: its ranges may be given again. */
void cs_storage_unlist(struct cs_storage *st)
{
	struct cs_storage_range *r;

	lockdep_assert_held(&cs_lock);
	list_for_each_entry(r, &st->ranges, node)
		list_del_init(&r->all);
}

/* The set is freed: no I/O to its storage remains. */
void cs_storage_release(struct cs_storage *st)
{
	struct cs_storage_range *r, *n;

	list_for_each_entry_safe(r, n, &st->ranges, node) {
		cs_bdev_close(&r->dev);
		kfree(r);
	}
	INIT_LIST_HEAD(&st->ranges);
}

s64 cs_storage_alloc(struct cs_storage *st, bool *low)
{
	unsigned long flags;
	u64 free;
	s64 slot = -ENOSPC;

	*low = false;
	spin_lock_irqsave(&st->lock, flags);
	if (st->next_slot < st->total_slots) {
		slot = st->next_slot++;
		free = st->total_slots - st->next_slot;
		if (!st->low_sent &&
		    free * 100 < (u64)st->total_slots * READ_ONCE(cs_low_water_percent)) {
			st->low_sent = true;
			WRITE_ONCE(st->low_gen, st->low_gen + 1);
			*low = true;
		}
	}
	spin_unlock_irqrestore(&st->lock, flags);
	return slot;
}

struct block_device *cs_storage_locate(struct cs_storage *st, u64 slot,
				       sector_t *sector)
{
	struct cs_storage_range *r;
	struct block_device *bdev = NULL;

	rcu_read_lock();
	list_for_each_entry_rcu(r, &st->ranges, node) {
		if (slot >= r->first_slot && slot < r->first_slot + r->slots) {
			*sector = r->start + (slot - r->first_slot) * st->chunk_sectors;
			bdev = r->dev.bdev;
			break;
		}
	}
	rcu_read_unlock();
	return bdev;
}

struct block_device *cs_storage_dev(struct cs_storage *st, unsigned int i)
{
	struct cs_storage_range *r;
	struct block_device *bdev = NULL;

	rcu_read_lock();
	list_for_each_entry_rcu(r, &st->ranges, node) {
		if (!i--) {
			bdev = r->dev.bdev;
			break;
		}
	}
	rcu_read_unlock();
	/* ranges stay open until the set is freed; the caller holds it */
	return bdev;
}
