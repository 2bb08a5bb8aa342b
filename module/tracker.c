// SPDX-License-Identifier: GPL-2.0
/*
 * Trackers: interception of writes to origin devices, the hold/drain gate
 * used at take, the list of live snapshots per origin, changed-block
 * marking, and noticing an origin that is deleted.
 *
 * Interception: an ftrace ops with IPMODIFY on the exported
 * submit_bio_noacct() sees every call made outside this module, also the
 * calls a stacking driver (dm, md) or the block layer's splitting makes from
 * inside a submit_bio (current->bio_list set): a write dm-linear or raid1
 * sends to a tracked device is seen like any other.  Reads go on untouched;
 * a write to a tracked device that needs nothing but counting goes on from
 * the hook (fast_write()); every other write is moved to cs_filter(), which
 * passes anything that is not a write to a tracked device, or that it has
 * seen already (its end_io is ours), straight on with a call of
 * submit_bio_noacct() from here, which the ops lets through.
 *
 * Whatever a write carries, it completes as it would without cowsnap: a
 * write that may wait (held at take, parked on a busy chunk, copied first)
 * loses REQ_NOWAIT before it waits, since it goes on from another context
 * where BLK_STS_AGAIN would fail it; the completion goes through bio_endio()
 * again with the caller's end_io restored, so chained bios complete in the
 * kernel's loop, and completions that nest deeper than CS_ENDIO_NEST on one
 * CPU (a long chain whose first bio finished last) go on from a work item
 * instead of growing the stack.
 *
 * The protocol of the hold gate and the drain is modelled in
 * model/cowsnap.pml (spin; `make model`): keep the two in step.
 */
#include <linux/bio.h>
#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/ftrace.h>
#include <linux/hashtable.h>
#include <linux/llist.h>
#include <linux/mempool.h>
#include <linux/percpu.h>
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/srcu.h>
#include <linux/vmalloc.h>
#include <linux/xarray.h>

#include "cs.h"

/* dev_t -> tracker with users; RCU lookups, stores under cs_lock */
static DEFINE_XARRAY(trackers);
/*
 * What every write asks, without walking the xarray (a dev_t is a 4-level
 * index): the same trackers hashed by dev_t (RCU hlist, changed under
 * cs_lock with the xarray), and per bucket of whole disks' dev_t how many
 * trackers lie on the disks of that bucket (cs_lock, read lock-free).  A
 * write through another device of a tracked disk (the whole disk of a
 * tracked partition, a partition of a tracked whole disk) is looked up by
 * place only when its disk's bucket counts trackers; another disk in the
 * same bucket costs that look, nothing else.
 */
#define TRACKER_HASH_BITS	6
static DEFINE_HASHTABLE(tracker_hash, TRACKER_HASH_BITS);
static unsigned int disk_trackers[1 << TRACKER_HASH_BITS];

/* the tracker of dev, or NULL; inside rcu_read_lock() */
static struct cs_tracker *tracker_find(dev_t dev)
{
	struct cs_tracker *t;

	hash_for_each_possible_rcu(tracker_hash, t, hash_node, dev)
		if (t->devt == dev)
			return t;
	return NULL;
}

/* the count of trackers on disk's bucket of disks */
static unsigned int *disk_bucket(struct gendisk *disk)
{
	return &disk_trackers[hash_32(disk_devt(disk), TRACKER_HASH_BITS)];
}

/* Might trackers lie on disk?  Lock-free. */
static bool disk_may_have_trackers(struct gendisk *disk)
{
	return READ_ONCE(*disk_bucket(disk));
}

/* the filter runs inside this, so that unload can wait for it */
DEFINE_STATIC_SRCU(filter_srcu);
static struct kmem_cache *wio_cache;
static mempool_t *wio_pool;

/*
 * Every write to a tracked volume needs a record (struct cs_wio) from its
 * submission to its completion.  Those of writes that need nothing but
 * counting (a rewrite of copied chunks, a volume with no live snapshot)
 * come from a short list on each CPU (cs_stash) and go back to it, before
 * the slab: under emulation a slab allocation and free cost more than all
 * the rest of such a write's bookkeeping (bench/NOTES.md, session 26).
 * Records chain through lnode, which only a deferred completion uses.
 */
static DEFINE_PER_CPU(struct cs_stash, wio_stash);

/* a record from this CPU's list, or NULL; preemption off */
static struct cs_wio *wio_stash_get(void)
{
	struct llist_node *h = cs_stash_get(&wio_stash);

	return h ? llist_entry(h, struct cs_wio, lnode) : NULL;
}

/*
 * w is no longer used: onto this CPU's list, unless the pool's reserve
 * is short (mempool_free() refills it) or the list is full.  Preemption
 * off.
 */
static void wio_free(struct cs_wio *w)
{
	if (!cs_stash_put_pool(&wio_stash, &w->lnode, wio_pool))
		mempool_free(w, wio_pool);
}

static atomic_t ntrackers = ATOMIC_INIT(0);
static DECLARE_WAIT_QUEUE_HEAD(trackers_wq);

/*
 * Our own I/O goes through here.  The call must not become a tail call:
 * the ftrace ops recognises our I/O by the return address being in this
 * module (Kbuild also disables sibling calls).
 */
noinline void cs_submit_own(struct bio *bio)
{
	submit_bio_noacct(bio);
	barrier();
}

/* completions nested deeper than this on one CPU go on from endio_work */
#define CS_ENDIO_NEST	8

static DEFINE_PER_CPU(unsigned int, endio_depth);
static LLIST_HEAD(endio_later);
static void endio_later_work(struct work_struct *work);
static DECLARE_WORK(endio_work, endio_later_work);

/*
 * A write is no longer in flight.  atomic_dec_and_test() is a full
 * barrier, so waitqueue_active() cannot miss a drain that saw the count
 * nonzero (wait_event() queues itself before it looks), and the common
 * case, nobody draining, takes no lock.
 */
static void inflight_dec(struct cs_tracker *t)
{
	if (atomic_dec_and_test(&t->inflight) && waitqueue_active(&t->drain_wq))
		wake_up_all(&t->drain_wq);
}

/*
 * Give the bio back its own end_io and complete it through bio_endio(),
 * whose loop walks a chain without recursion (and, on newer kernels, is the
 * only caller bio_chain_endio() accepts), a second time
 * (cs_bio_endio_again(): what it did before end_io is done once, the I/O
 * controllers' part too).  w goes back before the inflight count drops,
 * so that nothing of ours is touched once a drain or the module's exit may
 * see zero.  t is freed only after a grace period (tracker_free_work()),
 * which a section with preemption off holds up as rcu_read_lock() would,
 * without a call out of line.
 */
static void wio_complete(struct cs_wio *w)
{
	struct bio *bio = w->bio;
	struct cs_tracker *t = w->t;

	bio->bi_end_io = w->end_io;
	bio->bi_private = w->private;
	rcu_read_lock_sched();
	wio_free(w);
	inflight_dec(t);
	rcu_read_unlock_sched();
	cs_bio_endio_again(bio);
}

/*
 * Every tracked write of a chain has this end_io, so a chain whose bios
 * complete last-to-first would recurse once per bio (thousands for a
 * discard split into small bios).  Past CS_ENDIO_NEST levels on this CPU the
 * rest goes on from a work item.  Preemption is off so that the depth is
 * counted on the CPU it was raised on.
 */
static void wio_end_io(struct bio *bio)
{
	struct cs_wio *w = bio->bi_private;

	preempt_disable();
	if (this_cpu_inc_return(endio_depth) > CS_ENDIO_NEST) {
		if (llist_add(&w->lnode, &endio_later))
			queue_work(cs_wq, &endio_work);
	} else {
		wio_complete(w);
	}
	this_cpu_dec(endio_depth);
	preempt_enable();
}

static void endio_later_work(struct work_struct *work)
{
	struct llist_node *list = llist_reverse_order(llist_del_all(&endio_later));
	struct cs_wio *w, *n;

	llist_for_each_entry_safe(w, n, list, lnode) {
		wio_complete(w);
		cond_resched();
	}
}

/*
 * w may wait from here on (held, parked, copied first): it goes on from
 * another context, where a REQ_NOWAIT write would fail with BLK_STS_AGAIN
 * instead of being retried by its submitter.  Called before w is published
 * anywhere another context can pick it up.
 */
void cs_wio_may_wait(struct cs_wio *w)
{
	w->bio->bi_opf &= ~REQ_NOWAIT;
}

/* Past the hold gate: mark changed blocks, copy on write, then submit. */
static void process_write(struct cs_wio *w)
{
	struct bio *bio = w->bio;
	struct cs_tracker *t = w->t;
	sector_t n = bio_sectors(bio);
	sector_t sector = bio->bi_iter.bi_sector + w->offset;

	if (n)
		cs_cbt_mark(&t->cbt, sector, n);
	if (!n || !READ_ONCE(t->nlive)) {
		cs_submit_own(bio);
		return;
	}
	w->next = sector >> t->chunk_shift;
	w->last = (sector + n - 1) >> t->chunk_shift;
	if (cs_cow_clear(t, w->next, w->last) || cs_cow_advance(w))
		cs_submit_own(bio);
}

/* A write parked on a busy chunk may go on: continue it from a work item. */
void cs_tracker_write_ready(struct cs_wio *w)
{
	struct cs_tracker *t = w->t;
	unsigned long flags;

	spin_lock_irqsave(&t->lock, flags);
	list_add_tail(&w->node, &t->ready);
	spin_unlock_irqrestore(&t->lock, flags);
	queue_work(cs_wq, &t->ready_work);
}

static void ready_work(struct work_struct *work)
{
	struct cs_tracker *t = container_of(work, struct cs_tracker, ready_work);
	unsigned long flags;
	struct cs_wio *w;
	LIST_HEAD(list);

	spin_lock_irqsave(&t->lock, flags);
	list_splice_init(&t->ready, &list);
	spin_unlock_irqrestore(&t->lock, flags);
	while ((w = list_first_entry_or_null(&list, struct cs_wio, node))) {
		list_del_init(&w->node);
		if (!cs_cow_advance(w))
			continue;
		if (w->image)
			cs_snapshot_write_go(w);
		else
			cs_submit_own(w->bio);
	}
}

/* w stands for bio, a write to t, from now on: bio completes through w. */
static void wio_attach(struct cs_wio *w, struct bio *bio, struct cs_tracker *t,
		       sector_t offset)
{
	w->bio = bio;
	w->t = t;
	w->offset = offset;
	w->spare = NULL;
	w->image = NULL;
	w->handed_over = false;
	INIT_LIST_HEAD(&w->node);
	w->end_io = bio->bi_end_io;
	w->private = bio->bi_private;
	bio->bi_end_io = wio_end_io;
	bio->bi_private = w;
}

/*
 * A write to a tracked device: count it in flight, hold it while a take
 * holds the tracker, or go on to copy-on-write.  Inside the filter's SRCU
 * section.
 */
static void filter_write(struct cs_tracker *t, struct bio *bio, sector_t offset)
{
	bool nowait = bio->bi_opf & REQ_NOWAIT;
	struct cs_wio *w;
	unsigned long flags;

	/*
	 * A NOWAIT write may not sleep here: the pool's reserve first, and
	 * only when that is empty too, sleep as a write that waits.  Inside a
	 * driver's submit_bio (current->bio_list), sleeping here could wait
	 * for a wio held by a bio queued on that very list; the reserve is far
	 * larger than what one submit_bio queues.
	 */
	w = mempool_alloc(wio_pool, nowait ? GFP_NOWAIT | __GFP_NOWARN : GFP_NOIO);
	if (!w) {
		bio->bi_opf &= ~REQ_NOWAIT;
		w = mempool_alloc(wio_pool, GFP_NOIO);
	}
	wio_attach(w, bio, t, offset);

	atomic_inc(&t->inflight);
	smp_mb__after_atomic();	/* pairs with cs_tracker_hold() */
	if (READ_ONCE(t->hold)) {
		spin_lock_irqsave(&t->lock, flags);
		if (t->hold) {
			cs_wio_may_wait(w);
			list_add_tail(&w->node, &t->held);
			spin_unlock_irqrestore(&t->lock, flags);
			inflight_dec(t);
			return;
		}
		spin_unlock_irqrestore(&t->lock, flags);
	}
	process_write(w);
}

/*
 * The target of the redirect: same prototype as submit_bio_noacct().  All
 * of it, the submission of what passes included, runs inside filter_srcu,
 * so that module exit (hook_detach()) waits for every task that is in here,
 * also one sleeping in submit_bio_noacct() for a free tag.
 */
/* Every snapshot of t is invalid: a write reached t that cannot be copied. */
static void invalidate_all(struct cs_tracker *t, int cause)
{
	struct cs_snapshot *s;
	unsigned long flags;

	spin_lock_irqsave(&t->lock, flags);
	list_for_each_entry(s, &t->snaps, tnode)
		cs_set_invalidate(s->set, cause);
	spin_unlock_irqrestore(&t->lock, flags);
}

/*
 * A write to an untracked device of a disk that has trackers: the tracker
 * whose place holds it (a tracked partition written through its whole
 * disk, a tracked whole disk written through a partition made after it was
 * tracked), with the offset from the bio's sectors to the tracker's.  A
 * write that covers a tracker only in part (across a partition's edge, rare:
 * a raw copy over the whole disk) cannot be copied first: that tracker's
 * snapshots turn INVALID and the write goes on.  Inside filter_srcu.
 */
static struct cs_tracker *lookup_by_place(struct bio *bio, sector_t *offset)
{
	struct block_device *bdev = bio->bi_bdev;
	sector_t start = bio->bi_iter.bi_sector + bdev->bd_start_sect;
	sector_t end = start + bio_sectors(bio);
	struct cs_tracker *t, *found = NULL;
	unsigned long index;

	xa_for_each(&trackers, index, t) {
		struct block_device *o = t->origin.bdev;
		sector_t ts = o->bd_start_sect, te = ts + bdev_nr_sectors(o);

		if (o->bd_disk != bdev->bd_disk || end <= ts || start >= te)
			continue;
		if (start >= ts && end <= te) {
			*offset = bdev->bd_start_sect - ts;
			found = t;
			continue;
		}
		cs_cbt_mark(&t->cbt, max(start, ts) - ts, min(end, te) - max(start, ts));
		invalidate_all(t, COWSNAP_INVALID_ORIGIN_IO);
	}
	return found;
}

static noinline void cs_filter(struct bio *bio)
{
	struct cs_tracker *t = NULL;
	sector_t offset = 0;
	int idx;

	idx = srcu_read_lock(&filter_srcu);
	if (bio->bi_end_io == wio_end_io) {
		struct cs_wio *w = bio->bi_private;

		/* from fast_write(), with a chunk to copy first */
		if (w->handed_over) {
			w->handed_over = false;
			if (cs_cow_advance(w))
				cs_submit_own(bio);
		} else {
			cs_submit_own(bio);
		}
		srcu_read_unlock(&filter_srcu, idx);
		return;
	}
	if (op_is_write(bio_op(bio)) && bio->bi_bdev) {
		rcu_read_lock();
		t = tracker_find(bio->bi_bdev->bd_dev);
		rcu_read_unlock();
		if (!t && disk_may_have_trackers(bio->bi_bdev->bd_disk))
			t = lookup_by_place(bio, &offset);
	}
	if (t)
		filter_write(t, bio, offset);
	else
		cs_submit_own(bio);
	srcu_read_unlock(&filter_srcu, idx);
}

/*
 * The fast path of a write to a tracked device, taken in the hook itself.
 * The write is counted (the gate's protocol is filter_write()'s: count,
 * full barrier, look at hold), marked and given our end_io here.  One that
 * the gate lets through and whose chunks no live snapshot needs copied (a
 * rewrite of copied chunks, or no live snapshot) goes on into
 * submit_bio_noacct(): no redirect, no SRCU section, no second pass through
 * the hook (returns true).  One with a chunk to copy first is handed over
 * to cs_filter(), which goes on with cs_cow_advance() where the write may
 * sleep (w->handed_over; returns false).  Anything else is undone and
 * redirected to cs_filter(), which decides again from the start: a device
 * not tracked (the registry is looked at again inside filter_srcu, which
 * wait_untracked_writes() relies on), a write held, no wio at once.  A
 * write that is ours already (split by the block layer and submitted
 * again) goes on.  Inside an RCU read-side section with preemption off
 * (rcu_read_lock_sched(): synchronize_rcu() waits for it as for
 * rcu_read_lock(), and it costs no call out of line): cs_tracker_unuse()
 * waits for it before it waits for the writes counted.
 */
static bool fast_write(struct bio *bio)
{
	sector_t n = bio_sectors(bio), sector = bio->bi_iter.bi_sector;
	struct cs_tracker *t;
	struct cs_wio *w;
	bool clear;

	if (bio->bi_end_io == wio_end_io)
		return true;
	if (!bio->bi_bdev)
		return false;
	t = tracker_find(bio->bi_bdev->bd_dev);
	if (!t)
		return false;
	w = wio_stash_get();
	if (!w)
		w = kmem_cache_alloc(wio_cache, GFP_NOWAIT | __GFP_NOWARN);
	if (!w)
		return false;
	atomic_inc(&t->inflight);
	smp_mb__after_atomic();	/* pairs with cs_tracker_hold() */
	if (READ_ONCE(t->hold)) {
		wio_free(w);
		inflight_dec(t);
		return false;
	}
	if (n)
		cs_cbt_mark(&t->cbt, sector, n);
	wio_attach(w, bio, t, 0);
	clear = !n || !READ_ONCE(t->nlive);
	if (!clear) {
		w->next = sector >> t->chunk_shift;
		w->last = (sector + n - 1) >> t->chunk_shift;
		clear = cs_cow_clear(t, w->next, w->last);
	}
	w->handed_over = !clear;
	return clear;
}

/*
 * ftrace calls this directly from its trampoline, in the caller's context
 * (preemptible or not: the ops asks for no recursion guard; nothing in
 * here submits a bio; fast_write() runs with preemption off), and
 * unregister_ftrace_function() waits for a task preempted in here before
 * the module may go.  Reads and our own I/O go on untouched, writes that
 * need nothing but counting go on from fast_write(), the rest is
 * redirected to cs_filter().
 */
static void notrace submit_hook(unsigned long ip, unsigned long parent_ip,
				struct ftrace_ops *ops, struct ftrace_regs *fregs)
{
	struct bio *bio = (struct bio *)ftrace_regs_get_argument(fregs, 0);
	bool pass;

	if (!op_is_write(bio_op(bio)) || cs_own_text(parent_ip))
		return;
	rcu_read_lock_sched();
	pass = fast_write(bio);
	rcu_read_unlock_sched();
	if (!pass)
		ftrace_regs_set_instruction_pointer(fregs, (unsigned long)cs_filter);
}

static struct ftrace_ops submit_ops = {
	.func = submit_hook,
	.flags = CS_FTRACE_FL_ARGS | FTRACE_OPS_FL_IPMODIFY |
		 FTRACE_OPS_FL_PERMANENT,
};

/*
 * The hook is attached while at least one tracker exists (cs_lock), so that
 * no bio pays for it when nothing is tracked, and so that a conflict with
 * another owner of submit_bio_noacct is reported to the command that needed
 * the hook.
 */
static bool hooked;

static int hook_attach(struct netlink_ext_ack *extack)
{
	unsigned long ip = (unsigned long)submit_bio_noacct;
	int ret;

	lockdep_assert_held(&cs_lock);
	if (hooked)
		return 0;
	ret = ftrace_set_filter_ip(&submit_ops, ip, 0, 0);
	if (ret) {
		pr_err("cannot trace submit_bio_noacct: error %d\n", ret);
		NL_SET_ERR_MSG(extack, "cannot trace submit_bio_noacct (ftrace)");
		return ret;
	}
	ret = register_ftrace_function(&submit_ops);
	if (ret) {
		pr_err("cannot intercept submit_bio_noacct (error %d): another module (such as Veeam's blksnap) may own it with FTRACE_OPS_FL_IPMODIFY\n",
		       ret);
		NL_SET_ERR_MSG(extack, "cannot intercept writes: submit_bio_noacct is hooked by another module");
		ftrace_set_filter_ip(&submit_ops, ip, 1, 0);
		return -EBUSY;
	}
	hooked = true;
	return 0;
}

/* After the last tracker left the registry. */
static void hook_detach(void)
{
	lockdep_assert_held(&cs_lock);
	if (!hooked)
		return;
	unregister_ftrace_function(&submit_ops);
	ftrace_set_filter_ip(&submit_ops, (unsigned long)submit_bio_noacct, 1, 0);
	synchronize_srcu(&filter_srcu);
	hooked = false;
}

/* del_gendisk(disk): an origin may be going away.  The caller's context. */
static void notrace del_gendisk_hook(unsigned long ip, unsigned long parent_ip,
				     struct ftrace_ops *ops, struct ftrace_regs *fregs)
{
	struct gendisk *disk = (struct gendisk *)ftrace_regs_get_argument(fregs, 0);
	struct cs_tracker *t;
	unsigned long index;

	rcu_read_lock();
	xa_for_each(&trackers, index, t) {
		struct block_device *bdev = READ_ONCE(t->origin.bdev);

		if (!bdev || bdev->bd_disk != disk || atomic_xchg(&t->gone, 1))
			continue;
		if (kref_get_unless_zero(&t->kref) &&
		    !queue_work(cs_wq, &t->gone_work))
			cs_tracker_put(t);
	}
	rcu_read_unlock();
}

static struct ftrace_ops del_gendisk_ops = {
	.func = del_gendisk_hook,
	.flags = CS_FTRACE_FL_ARGS,
};

static void gone_work(struct work_struct *work)
{
	struct cs_tracker *t = container_of(work, struct cs_tracker, gone_work);

	pr_warn("origin %s deleted: its snapshots are invalid\n", t->name);
	cs_set_volume_gone(t);
	cs_netlink_event(COWSNAP_CMD_EVENT_VOLUME_GONE, NULL, t, GFP_KERNEL);
	cs_tracker_put(t);
}

static void tracker_free_work(struct work_struct *work)
{
	struct cs_tracker *t = container_of(work, struct cs_tracker, free_work);

	cancel_work_sync(&t->ready_work);
	/* del_gendisk_hook() may still look at the origin under RCU */
	synchronize_rcu();
	cs_bdev_close(&t->origin);
	cs_cbt_free(&t->cbt);
	kfree_rcu(t, rcu);
	if (atomic_dec_and_test(&ntrackers))
		wake_up_all(&trackers_wq);
}

/* As for snapshots: never close the origin in a writer's context. */
static void tracker_free(struct kref *kref)
{
	struct cs_tracker *t = container_of(kref, struct cs_tracker, kref);

	INIT_WORK(&t->free_work, tracker_free_work);
	queue_work(cs_wq, &t->free_work);
}

void cs_tracker_put(struct cs_tracker *t)
{
	kref_put(&t->kref, tracker_free);
}

/* t enters (true) or leaves the hot path's view of the registry */
static void tracker_hash_set(struct cs_tracker *t, bool in)
{
	unsigned int *n = disk_bucket(t->origin.bdev->bd_disk);

	lockdep_assert_held(&cs_lock);
	if (in) {
		hash_add_rcu(tracker_hash, &t->hash_node, t->devt);
		WRITE_ONCE(*n, *n + 1);
	} else {
		hash_del_rcu(&t->hash_node);
		WRITE_ONCE(*n, *n - 1);
	}
}

/* Does a tracker other than t lie on bdev's sectors of its disk? */
static bool place_tracked(struct block_device *bdev)
{
	sector_t s = bdev->bd_start_sect, e = s + bdev_nr_sectors(bdev);
	struct cs_tracker *t;
	unsigned long index;

	lockdep_assert_held(&cs_lock);
	xa_for_each(&trackers, index, t) {
		struct block_device *o = t->origin.bdev;

		if (o->bd_disk == bdev->bd_disk && o->bd_start_sect < e &&
		    s < o->bd_start_sect + bdev_nr_sectors(o))
			return true;
	}
	return false;
}

static bool has_partitions(struct gendisk *disk)
{
	unsigned long index = 1;

	return xa_find(&disk->part_tbl, &index, ULONG_MAX, XA_PRESENT);
}

struct cs_tracker *cs_tracker_lookup(dev_t dev)
{
	lockdep_assert_held(&cs_lock);
	return xa_load(&trackers, dev);
}

struct cs_tracker *cs_tracker_next(unsigned long *index)
{
	lockdep_assert_held(&cs_lock);
	return xa_find(&trackers, index, ULONG_MAX, XA_PRESENT);
}

/*
 * Writes submitted before the tracker was in the registry passed the filter
 * uncounted, so a take's drain would not wait for them.  Wait for them once,
 * now that every new write is counted: freezing the origin's queue waits for
 * every request of a blk-mq device and for every bio still inside a
 * bio-based driver's submit_bio (brd).  A bio-based driver that completes
 * bios later (dm, md) keeps its own in-flight I/O, and blk-throttle holds
 * the writes it delays before the queue: module/README.md says to snapshot
 * such a device only with a filesystem on it, whose freeze drains.
 */
static void wait_untracked_writes(struct cs_tracker *t)
{
	struct request_queue *q = bdev_get_queue(t->origin.bdev);
	unsigned int memflags;

	synchronize_srcu(&filter_srcu);
	memflags = blk_mq_freeze_queue(q);
	blk_mq_unfreeze_queue(q, memflags);
}

/*
 * The tracker of dev, created (with no users) when there is none.  The
 * caller adds a user with cs_tracker_use() or drops it with
 * cs_tracker_unuse().
 */
struct cs_tracker *cs_tracker_get_or_create(dev_t dev, unsigned int chunk_sectors,
					    struct netlink_ext_ack *extack)
{
	struct cs_tracker *t;
	int ret;

	lockdep_assert_held(&cs_lock);
	t = xa_load(&trackers, dev);
	if (t) {
		if ((1U << t->chunk_shift) != chunk_sectors) {
			NL_SET_ERR_MSG(extack, "volume is already tracked with another chunk size");
			return ERR_PTR(-EINVAL);
		}
		return t;
	}
	ret = hook_attach(extack);
	if (ret)
		return ERR_PTR(ret);
	ret = -ENOMEM;
	t = kzalloc(sizeof(*t), GFP_KERNEL);
	if (!t)
		goto err_hook;
	ret = cs_bdev_open(&t->origin, dev, false, NULL);
	if (ret) {
		NL_SET_ERR_MSG(extack, "no such block device");
		if (ret != -ENOMEM)
			ret = -ENODEV;
		goto err_free;
	}
	ret = -EOPNOTSUPP;
	if (bdev_is_zoned(t->origin.bdev)) {
		/* zone resets, finishes and appends cannot be copied first */
		NL_SET_ERR_MSG(extack, "zoned block devices cannot be snapshotted");
		goto err_close;
	}
	ret = -EBUSY;
	if (!bdev_is_partition(t->origin.bdev) && has_partitions(t->origin.bdev->bd_disk)) {
		/* their filesystems would not be frozen with the disk */
		NL_SET_ERR_MSG(extack, "the disk has partitions: snapshot the partitions");
		goto err_close;
	}
	if (place_tracked(t->origin.bdev)) {
		NL_SET_ERR_MSG(extack, "a partition or the whole disk of this device is tracked");
		goto err_close;
	}
	kref_init(&t->kref);
	t->devt = dev;
	snprintf(t->name, sizeof(t->name), "%pg", t->origin.bdev);
	t->chunk_shift = ilog2(chunk_sectors);
	atomic_set(&t->inflight, 0);
	atomic_set(&t->nreleased, 0);
	init_waitqueue_head(&t->drain_wq);
	spin_lock_init(&t->lock);
	INIT_LIST_HEAD(&t->held);
	INIT_LIST_HEAD(&t->snaps);
	INIT_LIST_HEAD(&t->ready);
	INIT_WORK(&t->ready_work, ready_work);
	INIT_WORK(&t->gone_work, gone_work);
	ret = cs_cbt_init(&t->cbt, bdev_nr_sectors(t->origin.bdev), t->chunk_shift);
	if (ret)
		goto err_close;
	atomic_inc(&ntrackers);
	ret = xa_insert(&trackers, dev, t, GFP_KERNEL);
	if (ret) {
		atomic_dec(&ntrackers);
		goto err_cbt;
	}
	tracker_hash_set(t, true);
	wait_untracked_writes(t);
	return t;

err_cbt:
	cs_cbt_free(&t->cbt);
err_close:
	cs_bdev_close(&t->origin);
err_free:
	kfree(t);
err_hook:
	if (xa_empty(&trackers))
		hook_detach();
	return ERR_PTR(ret);
}

void cs_tracker_use(struct cs_tracker *t)
{
	lockdep_assert_held(&cs_lock);
	t->users++;
}

/*
 * Drop a user; the last one detaches the tracker: no new write is seen, the
 * writes in flight complete, then the registry's reference goes.
 */
void cs_tracker_unuse(struct cs_tracker *t)
{
	lockdep_assert_held(&cs_lock);
	if (t->users && --t->users)
		return;
	xa_erase(&trackers, t->devt);
	tracker_hash_set(t, false);
	/* the filter, and the hook's fast path (fast_write()), count no more */
	synchronize_srcu(&filter_srcu);
	synchronize_rcu();
	wait_event(t->drain_wq, !atomic_read(&t->inflight));
	cs_tracker_put(t);
	if (xa_empty(&trackers))
		hook_detach();
}

/*
 * A changed-block map replaced at a take: writes made through another device
 * of the disk (lookup_by_place()) mark without the hold gate, inside
 * filter_srcu.  Free it once none can hold it.
 */
void cs_tracker_free_map(u8 *map)
{
	if (!map)
		return;
	synchronize_srcu(&filter_srcu);
	vfree(map);
}

/* Start holding new writes; the caller then drains. */
void cs_tracker_hold(struct cs_tracker *t)
{
	unsigned long flags;

	spin_lock_irqsave(&t->lock, flags);
	WRITE_ONCE(t->hold, true);
	spin_unlock_irqrestore(&t->lock, flags);
	smp_mb();	/* pairs with cs_filter() */
}

/* Wait until no write is between the filter and its completion. */
int cs_tracker_drain(struct cs_tracker *t, unsigned long deadline)
{
	long left = (long)(deadline - jiffies);

	if (left <= 0)
		left = 1;
	if (!wait_event_timeout(t->drain_wq, !atomic_read(&t->inflight), left))
		return -ETIMEDOUT;
	return 0;
}

/* Stop holding; writes held meanwhile go on through copy-on-write. */
void cs_tracker_release_held(struct cs_tracker *t)
{
	unsigned long flags;
	struct cs_wio *w;
	LIST_HEAD(list);

	spin_lock_irqsave(&t->lock, flags);
	WRITE_ONCE(t->hold, false);
	list_splice_init(&t->held, &list);
	spin_unlock_irqrestore(&t->lock, flags);
	while ((w = list_first_entry_or_null(&list, struct cs_wio, node))) {
		list_del_init(&w->node);
		atomic_inc(&t->inflight);
		process_write(w);
	}
}

/* Writes are held and drained: s starts taking copies from now on. */
void cs_tracker_add_snapshot(struct cs_tracker *t, struct cs_snapshot *s)
{
	unsigned long flags;

	spin_lock_irqsave(&t->lock, flags);
	list_add_tail_rcu(&s->tnode, &t->snaps);
	s->live = true;
	WRITE_ONCE(t->nlive, t->nlive + 1);
	spin_unlock_irqrestore(&t->lock, flags);
}

void cs_tracker_remove_snapshot(struct cs_tracker *t, struct cs_snapshot *s)
{
	unsigned long flags;

	spin_lock_irqsave(&t->lock, flags);
	if (s->live) {
		/* cs_cow_clear() may still walk past s: freed after a grace period */
		list_del_rcu(&s->tnode);
		s->live = false;
		WRITE_ONCE(t->nlive, t->nlive - 1);
	}
	spin_unlock_irqrestore(&t->lock, flags);
}

int cs_tracker_init(void)
{
	int ret;

	wio_cache = KMEM_CACHE(cs_wio, 0);
	if (!wio_cache)
		return -ENOMEM;
	wio_pool = mempool_create_slab_pool(256, wio_cache);
	if (!wio_pool) {
		ret = -ENOMEM;
		goto err_cache;
	}

	ret = ftrace_set_filter_ip(&del_gendisk_ops, (unsigned long)del_gendisk, 0, 0);
	if (ret) {
		pr_err("cannot trace del_gendisk: error %d\n", ret);
		goto err_pool;
	}
	ret = register_ftrace_function(&del_gendisk_ops);
	if (ret) {
		pr_err("cannot hook del_gendisk: error %d\n", ret);
		goto err_del_filter;
	}
	return 0;

err_del_filter:
	ftrace_set_filter_ip(&del_gendisk_ops, (unsigned long)del_gendisk, 1, 0);
err_pool:
	mempool_destroy(wio_pool);
err_cache:
	kmem_cache_destroy(wio_cache);
	return ret;
}

/*
 * After every set and kept tracker is gone, so every write we counted has
 * done its inflight_dec().  A completion may still be on its way out of
 * wio_end_io() (preempted in preempt_enable(), say): unregistering
 * del_gendisk_ops, an ops in module data and so dynamic to ftrace, waits
 * for an RCU-tasks grace period, which such a task ends only once it has
 * left our text: the module's text outlives it.
 */
void cs_tracker_exit(void)
{
	unregister_ftrace_function(&del_gendisk_ops);
	ftrace_set_filter_ip(&del_gendisk_ops, (unsigned long)del_gendisk, 1, 0);
	mutex_lock(&cs_lock);
	hook_detach();
	mutex_unlock(&cs_lock);
	synchronize_srcu(&filter_srcu);
	flush_workqueue(cs_wq);
	wait_event(trackers_wq, !atomic_read(&ntrackers));
	rcu_barrier();
	cs_stash_drain(&wio_stash, wio_pool, offsetof(struct cs_wio, lnode));
	mempool_destroy(wio_pool);
	kmem_cache_destroy(wio_cache);
}
