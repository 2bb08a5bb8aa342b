// SPDX-License-Identifier: GPL-2.0
/*
 * cs_remapfloor: what one more bio-based block device costs a read, for the
 * benchmark.
 *
 * A disk (/dev/csremap0) as big as the device given as target= (dev_t,
 * MAJOR:MINOR), whose submit_bio hands every bio to the target in place:
 * bio_set_dev() and submit_bio_noacct(), no clone, no completion of its
 * own, no accounting.  An image read of an untouched chunk is that plus
 * cowsnap's own work (a clone for the part it reads from the origin, the
 * check at its completion); dm-linear is that plus dm's (a clone, its
 * table); so this is the floor under both.  bench/guest-io.bash reads it
 * in turn with the target's reads.  Built with the module for every
 * kernel (make), never installed.
 */
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/module.h>

static char *target;
module_param(target, charp, 0444);
MODULE_PARM_DESC(target, "the device to remap to, MAJOR:MINOR");

static int major;
static struct cs_bdev tgt;
static struct gendisk *disk;

static void remap_submit_bio(struct bio *bio)
{
	bio_set_dev(bio, tgt.bdev);
	submit_bio_noacct(bio);
}

static const struct block_device_operations remap_fops = {
	.owner = THIS_MODULE,
	.submit_bio = remap_submit_bio,
};

static int __init remap_init(void)
{
	unsigned int maj, min;
	int ret;

	if (!target || sscanf(target, "%u:%u", &maj, &min) != 2)
		return -EINVAL;
	ret = cs_bdev_open(&tgt, MKDEV(maj, min), true, NULL);
	if (ret)
		return ret;
	major = register_blkdev(0, "csremap");
	if (major < 0) {
		ret = major;
		goto err_close;
	}
	disk = cs_alloc_disk(bdev_logical_block_size(tgt.bdev),
			     bdev_physical_block_size(tgt.bdev),
			     queue_max_hw_sectors(bdev_get_queue(tgt.bdev)), false);
	if (IS_ERR(disk)) {
		ret = PTR_ERR(disk);
		goto err_major;
	}
	disk->major = major;
	disk->first_minor = 0;
	disk->minors = 1;
	disk->flags |= GENHD_FL_NO_PART;
	disk->fops = &remap_fops;
	strscpy(disk->disk_name, "csremap0", DISK_NAME_LEN);
	set_capacity(disk, bdev_nr_sectors(tgt.bdev));
	ret = add_disk(disk);
	if (ret)
		goto err_put;
	return 0;

err_put:
	put_disk(disk);
err_major:
	unregister_blkdev(major, "csremap");
err_close:
	cs_bdev_close(&tgt);
	return ret;
}

static void __exit remap_exit(void)
{
	del_gendisk(disk);
	put_disk(disk);
	unregister_blkdev(major, "csremap");
	cs_bdev_close(&tgt);
}

module_init(remap_init);
module_exit(remap_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("cowsnap benchmark: a bio-based disk that only remaps in place");
