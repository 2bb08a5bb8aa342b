// SPDX-License-Identifier: GPL-2.0
/*
 * Image disks: /dev/cowsnapN, one bio-based gendisk per snapshot, read-only
 * unless its set is COWSNAP_SET_F_WRITABLE (then with a write cache and FUA,
 * and no discard or write-zeroes: see cs_snapshot_write()).
 * The disk holds a reference on its snapshot until free_disk, so reads of an
 * image whose set was destroyed fail cleanly with EIO.  Each disk says what
 * it is in sysfs, /sys/block/cowsnapN/cowsnap/: set_id, set_name (empty
 * when the set has none), origin (the kernel name of the origin) and state
 * (taken, invalid, gone), so that udev names it without asking the daemon.
 */
#include <linux/blkdev.h>
#include <linux/idr.h>
#include <linux/module.h>

#include "cs.h"

#define CS_IMAGE_MINORS	(1U << MINORBITS)
#define CS_IMAGE_MAX_SECTORS	2560U

static int image_major;
static DEFINE_IDA(image_ida);

static void image_submit_bio(struct bio *bio)
{
	struct cs_snapshot *s = bio->bi_bdev->bd_disk->private_data;

	/* the flags never change once the set exists */
	/* WRITABLE may leave the flags (cs_set_seal()), never come back */
	if (bio_op(bio) != REQ_OP_READ && (READ_ONCE(s->set->flags) & COWSNAP_SET_F_WRITABLE))
		cs_snapshot_write(s, bio);
	else
		cs_snapshot_read(s, bio);
}

static void image_free_disk(struct gendisk *disk)
{
	struct cs_snapshot *s = disk->private_data;

	ida_free(&image_ida, disk->first_minor);
	cs_snapshot_put(s);
}

static const struct block_device_operations image_fops = {
	.owner = THIS_MODULE,
	.submit_bio = image_submit_bio,
	.free_disk = image_free_disk,
};

/* The snapshot holds its set and tracker, the disk the snapshot: all three
 * outlive every sysfs read (del_gendisk waits for them). */
static struct cs_snapshot *dev_snapshot(struct device *dev)
{
	return dev_to_disk(dev)->private_data;
}

static ssize_t set_id_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n", dev_snapshot(dev)->set->id);
}
static DEVICE_ATTR_RO(set_id);

/* the name never changes once the set exists: no lock */
static ssize_t set_name_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%s\n", dev_snapshot(dev)->set->name);
}
static DEVICE_ATTR_RO(set_name);

static ssize_t origin_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%s\n", dev_snapshot(dev)->t->name);
}
static DEVICE_ATTR_RO(origin);

static ssize_t state_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	const struct cs_set *set = dev_snapshot(dev)->set;

	if (READ_ONCE(set->dead))
		return sysfs_emit(buf, "gone\n");
	return sysfs_emit(buf, "%s\n", cs_set_state(set) == COWSNAP_SET_INVALID ? "invalid" :
			  "taken");
}
static DEVICE_ATTR_RO(state);

static struct attribute *image_attrs[] = {
	&dev_attr_set_id.attr,
	&dev_attr_set_name.attr,
	&dev_attr_origin.attr,
	&dev_attr_state.attr,
	NULL,
};

static const struct attribute_group image_group = {
	.name = "cowsnap",
	.attrs = image_attrs,
};

static const struct attribute_group *image_groups[] = {
	&image_group,
	NULL,
};

int cs_image_major(void)
{
	return image_major;
}

/* Called after the take, with cs_lock held. */
int cs_image_add(struct cs_snapshot *s)
{
	struct block_device *origin = s->t->origin.bdev;
	bool writable = s->set->flags & COWSNAP_SET_F_WRITABLE;
	struct gendisk *disk;
	int minor, ret;

	lockdep_assert_held(&cs_lock);
	minor = ida_alloc_max(&image_ida, CS_IMAGE_MINORS - 1, GFP_KERNEL);
	if (minor < 0)
		return minor;
	disk = cs_alloc_disk(bdev_logical_block_size(origin),
			     bdev_physical_block_size(origin), CS_IMAGE_MAX_SECTORS, writable);
	if (IS_ERR(disk)) {
		ida_free(&image_ida, minor);
		return PTR_ERR(disk);
	}
	disk->major = image_major;
	disk->first_minor = minor;
	disk->minors = 1;
	disk->flags |= GENHD_FL_NO_PART;
	disk->fops = &image_fops;
	cs_snapshot_get(s);
	disk->private_data = s;
	snprintf(disk->disk_name, DISK_NAME_LEN, COWSNAP_IMAGE_NAME "%d", minor);
	set_capacity(disk, s->sectors);
	set_disk_ro(disk, !writable);
	ret = device_add_disk(NULL, disk, image_groups);
	if (ret) {
		/* free_disk is only called for disks that were added */
		put_disk(disk);
		ida_free(&image_ida, minor);
		cs_snapshot_put(s);
		return ret;
	}
	s->disk = disk;
	s->minor = minor;
	return 0;
}

void cs_image_remove(struct cs_snapshot *s)
{
	lockdep_assert_held(&cs_lock);
	if (!s->disk)
		return;
	del_gendisk(s->disk);
	put_disk(s->disk);
	s->disk = NULL;
}

int cs_image_init(void)
{
	image_major = register_blkdev(0, COWSNAP_IMAGE_NAME);
	return image_major < 0 ? image_major : 0;
}

void cs_image_exit(void)
{
	unregister_blkdev(image_major, COWSNAP_IMAGE_NAME);
	ida_destroy(&image_ida);
}
