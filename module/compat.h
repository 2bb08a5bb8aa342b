/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every difference between the kernels cowsnap supports (Debian's 6.1,
 * 6.12, 6.18 and 7.x) lives here, nowhere else.  The rest of the module is
 * written against the newest API; for older kernels this file supplies the
 * new names.  Kbuild
 * force-includes it before every source file.
 */
#ifndef COWSNAP_COMPAT_H
#define COWSNAP_COMPAT_H

/* every message the module prints starts with "cowsnap: " */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/version.h>

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 1, 0)
#error "cowsnap needs Linux 6.1 or newer"
#endif

#ifndef __ASSEMBLY__
#include <linux/blkdev.h>
#include <linux/blk-mq.h>
#include <linux/fs.h>
#include <linux/ftrace.h>
#include <linux/err.h>
#include <net/genetlink.h>

/*
 * An opened block device.  6.9 replaced blkdev_get_by_dev()/blkdev_put()
 * (6.1) by bdev_file_open_by_dev() returning a struct file.
 */
struct cs_bdev {
	struct block_device *bdev;
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 9, 0)
	struct file *file;
#else
	fmode_t mode;
	void *holder;
#endif
};

/*
 * Open dev for reading (and writing when write).  A non-NULL holder opens
 * exclusively: mounted devices are refused, and every open with the same
 * holder may share the device.
 */
static inline int cs_bdev_open(struct cs_bdev *h, dev_t dev, bool write,
			       void *holder)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 9, 0)
	blk_mode_t mode = BLK_OPEN_READ | (write ? BLK_OPEN_WRITE : 0);
	struct file *f = bdev_file_open_by_dev(dev, mode, holder, NULL);

	if (IS_ERR(f))
		return PTR_ERR(f);
	h->file = f;
	h->bdev = file_bdev(f);
#else
	fmode_t mode = FMODE_READ | (write ? FMODE_WRITE : 0) |
		       (holder ? FMODE_EXCL : 0);
	struct block_device *b = blkdev_get_by_dev(dev, mode, holder);

	if (IS_ERR(b))
		return PTR_ERR(b);
	h->mode = mode;
	h->holder = holder;
	h->bdev = b;
#endif
	return 0;
}

static inline void cs_bdev_close(struct cs_bdev *h)
{
	if (!h->bdev)
		return;
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 9, 0)
	fput(h->file);
	h->file = NULL;
#else
	blkdev_put(h->bdev, h->mode);
#endif
	h->bdev = NULL;
}

/* 6.8 renamed freeze_bdev()/thaw_bdev() to bdev_freeze()/bdev_thaw(). */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 8, 0)
static inline int bdev_freeze(struct block_device *bdev)
{
	return freeze_bdev(bdev);
}

static inline int bdev_thaw(struct block_device *bdev)
{
	return thaw_bdev(bdev);
}
#endif

/*
 * A bio-based disk with the given limits; wc: it has a volatile write
 * cache and takes FUA (so REQ_PREFLUSH and REQ_FUA reach it).  6.9 takes
 * queue_limits at allocation and returns an error pointer; 6.1 returns NULL
 * and sets the limits afterwards.  6.11 moved the write cache and FUA from
 * blk_queue_write_cache() to the limits' features.
 */
static inline struct gendisk *cs_alloc_disk(unsigned int lbs, unsigned int pbs,
					    unsigned int max_sectors, bool wc)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 11, 0)
	struct queue_limits lim = {
		.logical_block_size = lbs,
		.physical_block_size = pbs,
		.max_hw_sectors = max_sectors,
		.features = wc ? BLK_FEAT_WRITE_CACHE | BLK_FEAT_FUA : 0,
	};

	return blk_alloc_disk(&lim, NUMA_NO_NODE);
#elif LINUX_VERSION_CODE >= KERNEL_VERSION(6, 9, 0)
	struct queue_limits lim = {
		.logical_block_size = lbs,
		.physical_block_size = pbs,
		.max_hw_sectors = max_sectors,
	};
	struct gendisk *disk = blk_alloc_disk(&lim, NUMA_NO_NODE);

	if (!IS_ERR(disk))
		blk_queue_write_cache(disk->queue, wc, wc);
	return disk;
#else
	struct gendisk *disk = blk_alloc_disk(NUMA_NO_NODE);

	if (!disk)
		return ERR_PTR(-ENOMEM);
	blk_queue_logical_block_size(disk->queue, lbs);
	blk_queue_physical_block_size(disk->queue, pbs);
	blk_queue_max_hw_sectors(disk->queue, max_sectors);
	blk_queue_write_cache(disk->queue, wc, wc);
	return disk;
#endif
}

/*
 * 6.7 (and the 6.1 stable line since 6.1.67, so every Debian 12 kernel) lets
 * a multicast group ask for CAP_SYS_ADMIN of its subscribers.  An older 6.1
 * has no way for a generic-netlink family to refuse a subscription: there
 * the events group stays open to every local user.
 */
#ifndef GENL_MCAST_CAP_SYS_ADMIN
#define GENL_MCAST_CAP_SYS_ADMIN	0
#endif

/*
 * 6.14 made blk_mq_freeze_queue() return the task's memalloc flags
 * (__must_check), which blk_mq_unfreeze_queue() takes back.  Before, both
 * returned nothing: supply the new signatures.  blk-mq.h is included above,
 * before these macros, so its own prototypes stay as they are.
 */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 14, 0)
static inline unsigned int cs_blk_mq_freeze_queue(struct request_queue *q)
{
	blk_mq_freeze_queue(q);
	return 0;
}

static inline void cs_blk_mq_unfreeze_queue(struct request_queue *q,
					    unsigned int memflags)
{
	blk_mq_unfreeze_queue(q);
}
#define blk_mq_freeze_queue(q)		cs_blk_mq_freeze_queue(q)
#define blk_mq_unfreeze_queue(q, m)	cs_blk_mq_unfreeze_queue(q, m)
#endif

/*
 * The ftrace hooks read their first argument from the ftrace_regs and the
 * write hook moves the instruction pointer.  Where the arch has
 * DYNAMIC_FTRACE_WITH_ARGS (x86-64 on every supported kernel) the plain
 * trampoline saves the argument registers and honours a changed ip, as
 * livepatch relies on, so the ops ask for no full pt_regs: SAVE_REGS would
 * save every register and the flags on each call of submit_bio_noacct().
 * Elsewhere they ask for it.  6.1 has no ftrace_regs_get_argument(); its
 * ftrace_regs is a pt_regs, with or without WITH_ARGS.
 */
#ifdef CONFIG_HAVE_DYNAMIC_FTRACE_WITH_ARGS
#define CS_FTRACE_FL_ARGS	0
#else
#define CS_FTRACE_FL_ARGS	FTRACE_OPS_FL_SAVE_REGS
#endif
#ifndef ftrace_regs_get_argument
#define ftrace_regs_get_argument(fregs, n) \
	regs_get_kernel_argument(&(fregs)->regs, n)
#endif

/*
 * Is addr in this module's core text (where cs_submit_own() is)?  The write
 * hook asks on every write; within_module() walks each of the module's
 * memory regions, init ones included.  6.4 split the layout into mem[].
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 4, 0)
#define cs_own_text(addr)	within_module_mem_type(addr, THIS_MODULE, MOD_TEXT)
#else
#define cs_own_text(addr)	within_module_core(addr, THIS_MODULE)
#endif

/* 6.6 renamed ftrace_instruction_pointer_set(). */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 6, 0)
#define ftrace_regs_set_instruction_pointer(fregs, ip) \
	ftrace_instruction_pointer_set(fregs, ip)
#endif

#endif /* __ASSEMBLY__ */
#endif /* COWSNAP_COMPAT_H */
