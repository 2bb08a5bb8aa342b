// SPDX-License-Identifier: GPL-2.0
/*
 * Snapshots and the copy-on-write engine.
 *
 * A write to a tracked origin with live snapshots looks at each chunk it
 * covers.  A chunk some live snapshot has not copied yet gets a cs_chunk in
 * the tracker's busy table and a copy: read the old chunk from the origin,
 * write it to the storage of every live snapshot that needs it, record the
 * slots in the snapshots' maps.  The write waits (parked on the chunk, no
 * thread sleeps) until no chunk it covers is being copied, then goes on; a
 * copy whose old data is read and on its way to storage lets its writes go
 * early ("released", cow_release()), keeping the data in its pages until
 * it is in the maps.  Image reads of a chunk that is not copied read the
 * origin without a lock and look again when the data is in: a write that
 * overtook them was let go only once the chunk's copy was released or in
 * the map, and that part is taken from the copy's pages or read again from
 * the slot (read_overtaken()).  So an image never returns a write that
 * started after its take.
 *
 * Writable images (sets with COWSNAP_SET_F_WRITABLE): a write to the image
 * of snapshot s goes to s's slots, never to the origin.  A chunk s has a
 * slot for takes the write at once (split at chunk boundaries, remapped to
 * the storage device).  A chunk without one is first copied from the origin
 * into a new slot of s alone, by the same machinery as a copy for an
 * origin write: the image write is a cs_wio with ->image set, goes through
 * cs_cow_advance() (which starts copies with ->only = s, and parks the
 * write on the busy chunk), and once none of its chunks is busy any more
 * it goes to the slots (cs_snapshot_write_go()).  So an origin write to the
 * chunk waits for that copy like for any other (it finds the chunk busy),
 * an image read that took the origin's chunk finds the slot when it looks
 * again and reads that, and a partial write lands on a slot that already
 * holds the rest of the chunk.  The slot is published in s's map only after the
 * copy is on storage (cow_finish()), so a write found a slot never races
 * the copy into it.  REQ_PREFLUSH flushes every storage device first; FUA
 * goes with the data.  No slot left or a storage write error: the set turns
 * INVALID and the write fails; the origin is never touched.  Chunks written
 * on an image are marked in the origin's changed-block map, so that an
 * incremental of that image reads them.
 *
 * The chunk states, the image reads' second look and the wait of a write
 * are modelled in
 * model/cowsnap.pml (spin; `make model`), the image write among them (its
 * proctype iwrite; the variant PUBLISH_AFTER_COPY=0 shows what a slot
 * published before its copy would let through): keep the two in step.
 */
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/hash.h>
#include <linux/highmem.h>
#include <linux/mempool.h>
#include <linux/mm.h>
#include <linux/slab.h>

#include "cs.h"

/* chunks a write looks ahead to start copies in parallel */
#define COW_WINDOW	64

/* A write to a writable image, while it copies or flushes first. */
struct cs_iwrite {
	struct cs_wio w;		/* w.image holds a snapshot reference */
	struct work_struct work;	/* goes on after the preflush */
	atomic_t pending;		/* preflush bios + 1 */
	blk_status_t err;
};

/* A part of an image write, to one run of slots. */
struct cs_wclone {
	struct bio *parent;
	struct cs_snapshot *s;		/* holds a reference */
	struct bio clone;		/* last: bio_set front_pad */
};

/* image writes in their copy or flush stage, kept for when the slab has none */
#define CS_IWRITE_RESERVE	16

/* A part of an image read, to one run of the origin or of slots. */
struct cs_read {
	struct bio *parent;
	struct cs_snapshot *s;
	sector_t off, len;		/* of the parent, in sectors */
	u64 check_first, check_count;	/* origin chunks to look at again */
	struct work_struct work;	/* read_again_work() */
	struct bio clone;		/* last: bio_set front_pad */
};

/*
 * An image read whose whole range is one run (the common case: a read
 * within a chunk, or over neighbouring chunks of the origin): the bio
 * itself is sent to the run's device, with no clone, and given back at its
 * end what it had (device, position, end_io) before read_place_end() looks
 * at it as read_end() looks at a clone.  From a per-CPU list (cs_stash)
 * before rplace_pool.
 */
struct cs_rplace {
	struct llist_node lnode;	/* on a CPU's free list */
	struct bio *bio;
	struct cs_snapshot *s;
	struct block_device *bdev;	/* the image's */
	struct bvec_iter iter;
	bio_end_io_t *end_io;
	void *private;
	u64 check_first, check_count;	/* origin chunks to look at again */
	struct work_struct work;	/* read_place_again() */
};

/* in-place reads' records kept for when the slab has none */
#define CS_RPLACE_RESERVE	64

/* chunk entries kept for when the slab gives none */
#define CS_CHUNK_RESERVE	256

/* pages of copies the allocator cannot give at once: 16 chunks of 64 KiB */
#define CS_PAGE_RESERVE	(16 * CS_INLINE_PAGES)

static struct kmem_cache *chunk_cache;
static mempool_t *chunk_pool;
static mempool_t *page_pool;
static struct bio_set cow_bs;		/* copies: reads and writes of chunks */
static struct bio_set read_bs;		/* image reads: clones */
static struct bio_set write_bs;		/* image writes: clones */
static mempool_t *iwrite_pool;
static struct kmem_cache *rplace_cache;
static mempool_t *rplace_pool;
static DEFINE_PER_CPU(struct cs_stash, rplace_stash);
/* the reserves are full: the test knobs may refuse the allocators from now on */
static bool chunk_pool_ready, page_pool_ready;
/* pages of released copies not yet in the maps (cow_release(), cow_buffer_mb) */
static atomic_long_t buffered_pages = ATOMIC_LONG_INIT(0);

static void cow_work(struct work_struct *work);

/*
 * The work item is set up once per allocation, for the one copy an entry
 * makes.  The copy frees its entry from its own work function
 * (cow_finish()), which the workqueue allows: it does not touch an item
 * once the item's function has been called.
 */
static void chunk_init(struct cs_chunk *e)
{
	memset(e, 0, sizeof(*e));
	INIT_LIST_HEAD(&e->waiters);
	INIT_WORK(&e->work, cow_work);
	atomic_set(&e->refs, 1);
}

/*
 * The slab behind chunk_pool.  cs_test_reserve_only (a test knob) makes it
 * give nothing, as when memory is exhausted: only the pool's reserve is
 * left for the copies of origin and image writes.
 */
static void *chunk_slab_alloc(gfp_t gfp, void *cache)
{
	if (READ_ONCE(chunk_pool_ready) && READ_ONCE(cs_test_reserve_only))
		return NULL;
	return kmem_cache_alloc(cache, gfp);
}

static struct cs_chunk *chunk_alloc(void)
{
	struct cs_chunk *e = mempool_alloc(chunk_pool, GFP_NOIO);

	chunk_init(e);
	return e;
}

static struct cs_chunk *chunk_alloc_nowait(void)
{
	struct cs_chunk *e = chunk_slab_alloc(GFP_NOWAIT | __GFP_NOWARN, chunk_cache);

	if (e)
		chunk_init(e);
	return e;
}

static void free_pages_of(struct cs_chunk *e);

/* Drop a reference to e; the last frees its pages and e. */
static void chunk_put(struct cs_chunk *e)
{
	if (!atomic_dec_and_test(&e->refs))
		return;
	free_pages_of(e);
	mempool_free(e, chunk_pool);
}

static struct hlist_head *busy_head(struct cs_tracker *t, u64 idx)
{
	return &t->busy[hash_64(idx, CS_BUSY_BITS)];
}

static struct cs_chunk *busy_find(struct cs_tracker *t, u64 idx)
{
	struct cs_chunk *e;

	lockdep_assert_held(&t->lock);
	hlist_for_each_entry(e, busy_head(t, idx), hnode)
		if (e->idx == idx)
			return e;
	return NULL;
}

/*
 * The first of res's places on the origin o that ends after pos: true with
 * [*zs, *ze) its part from pos on, in the origin's sectors.
 */
static bool resident_next(const struct cs_resident *res, struct block_device *o,
			  sector_t pos, sector_t *zs, sector_t *ze)
{
	sector_t at = pos + o->bd_start_sect, first = o->bd_start_sect;
	unsigned int lo = 0, hi = res->n;
	const struct cs_resident_place *p;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		p = &res->p[mid];
		if (p->disk < o->bd_disk || (p->disk == o->bd_disk && p->end <= at))
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == res->n || res->p[lo].disk != o->bd_disk)
		return false;
	p = &res->p[lo];
	*zs = max(p->start, at) - first;
	*ze = p->end - first;
	return true;
}

/*
 * Whether s's image reads all of chunk idx as zeros: it lies inside one
 * place of the set's zero table (the set's own storage on this origin,
 * what was free at the take), which cs_snapshot_read() serves as zeros
 * whatever the origin holds, so a write there needs no copy.  The table
 * only grows, and a superseded one lives as long as the set (cs_resident):
 * a copy started before a place came is harmless, it is just not needed.
 */
static bool zero_holds(struct cs_snapshot *s, u64 idx)
{
	const struct cs_resident *res = rcu_dereference_raw(s->set->resident);
	struct cs_tracker *t = s->t;
	sector_t pos = (sector_t)idx << t->chunk_shift, end, zs, ze;

	if (!res)
		return false;
	end = min_t(sector_t, pos + (1 << t->chunk_shift), s->sectors);
	return resident_next(res, t->origin.bdev, pos, &zs, &ze) && zs == pos && ze >= end;
}

static bool snap_needs(struct cs_snapshot *s, u64 idx)
{
	return idx < s->nr_chunks && !atomic_read(&s->set->cause) &&
	       !cs_map_copied(&s->map, idx) && !zero_holds(s, idx);
}

/* Does the copy e make (or would make) go to s? */
static bool copy_needs(const struct cs_chunk *e, struct cs_snapshot *s)
{
	return (!e->only || e->only == s) && snap_needs(s, e->idx);
}

/*
 * Must chunk idx be copied before w goes on?  An origin write: for every
 * live snapshot that has not copied it.  An image write: for its own
 * snapshot only, and only while that is live (cow_store() picks its
 * targets among the live ones).
 */
static bool wio_needs(struct cs_tracker *t, struct cs_wio *w, u64 idx)
{
	struct cs_snapshot *s;

	lockdep_assert_held(&t->lock);
	if (w->image)
		return w->image->live && snap_needs(w->image, idx);
	list_for_each_entry(s, &t->snaps, tnode)
		if (snap_needs(s, idx))
			return true;
	return false;
}

/*
 * Checks (chunks times live snapshots) the lock-free pass makes at most:
 * it runs with preemption off, so a longer write, or one to a volume with
 * many snapshots, goes under the lock, chunk by chunk.
 */
#define CLEAR_MAX	256

/*
 * The lock-free pass of an origin write (process_write(), before
 * cs_cow_advance()): true when no live snapshot needs a copy of any chunk
 * first..last, so the write goes to the origin without the tracker lock
 * (the path of every rewrite of copied chunks).  False sends it to
 * cs_cow_advance(), which decides under the lock.  A copy of such a chunk
 * may still be finishing (its entry in the busy table): its data is in
 * every map already, nothing is left to wait for.  An image read of the
 * chunk from the origin that this write overtakes finds the chunk in the
 * map when it looks again (cs_snapshot_read()).  A snapshot taken after
 * this write passed the hold gate is not on the list yet: its take waits
 * for this write to complete.
 *
 * t->snaps is walked under RCU: cs_tracker_remove_snapshot() unlinks with
 * list_del_rcu() and snapshot_free() waits for a grace period, which a
 * section with preemption off holds up as rcu_read_lock() would
 * (rcu_read_lock_sched(), no call out of line: this is every rewrite's
 * path).  Modelled: model/cowsnap.pml, the lock-free pass of proctype
 * write.
 */
bool cs_cow_clear(struct cs_tracker *t, u64 first, u64 last)
{
	unsigned int checks = 0;
	struct cs_snapshot *s;
	bool clear = true;
	u64 c;

	if (last - first >= CLEAR_MAX)
		return false;
	rcu_read_lock_sched();
	list_for_each_entry_rcu(s, &t->snaps, tnode) {
		checks += last - first + 1;
		if (checks > CLEAR_MAX) {
			clear = false;
			break;
		}
		for (c = first; c <= last && clear; c++)
			clear = !snap_needs(s, c);
		if (!clear)
			break;
	}
	rcu_read_unlock_sched();
	return clear;
}

/*
 * Start copying chunk e->idx; e is in the busy table.  The read is issued by
 * the caller once it dropped the tracker lock (cow_read()).
 */
static void cow_start(struct cs_tracker *t, struct cs_chunk *e,
		      struct cs_snapshot *only, struct list_head *start)
{
	lockdep_assert_held(&t->lock);
	e->only = only;
	e->t = t;
	e->stage = 0;
	e->read_err = BLK_STS_OK;
	kref_get(&t->kref);
	list_add_tail(&e->start, start);
}

static void cow_read(struct cs_chunk *e);
static void cow_store(struct cs_chunk *e, bool caller);
static void cow_finish(struct cs_chunk *e);

/* Is the copy e writing (or has written) for s?  Tracker lock, e released. */
static bool chunk_for(const struct cs_chunk *e, const struct cs_snapshot *s)
{
	unsigned int i;

	for (i = 0; i < e->ntargets; i++)
		if (e->targets[i].s == s)
			return true;
	return false;
}

/*
 * May an origin write go past e, whose copy is released (cow_release())?
 * When every live snapshot that has not copied the chunk is one of e's
 * targets: the old data is in e's pages, on its way to their storage.  A
 * snapshot that came live after e picked its targets (the writes e
 * released had completed by its take) is not: a write waits for e to end
 * and copies the chunk again for it.
 */
static bool released_covers(struct cs_tracker *t, struct cs_chunk *e)
{
	struct cs_snapshot *s;

	lockdep_assert_held(&t->lock);
	if (!e->released)
		return false;
	list_for_each_entry(s, &t->snaps, tnode)
		if (snap_needs(s, e->idx) && !chunk_for(e, s))
			return false;
	return true;
}

/*
 * Advance write w (to the origin, or to an image: w->image) over its
 * chunks.  Returns true when it may be submitted;
 * false when it is parked on a busy chunk (it goes on from the tracker's
 * ready work when that chunk's copy lets it go: released or done).
 * Process context: it may wait for memory (GFP_NOIO), never for I/O.
 */
bool cs_cow_advance(struct cs_wio *w)
{
	struct cs_tracker *t = w->t;
	struct cs_chunk *e, *blocked, *n;
	unsigned long flags;
	LIST_HEAD(start);
	bool need_mem;
	u64 c, end;

again:
	blocked = NULL;
	need_mem = false;
	spin_lock_irqsave(&t->lock, flags);
	end = min(w->last, w->next + COW_WINDOW - 1);
	for (c = w->next; c <= end; c++) {
		e = busy_find(t, c);
		if (e && !w->image && released_covers(t, e)) {
			if (!blocked)
				w->next = c + 1;
			continue;
		}
		if (!e) {
			if (!wio_needs(t, w, c)) {
				if (!blocked)
					w->next = c + 1;
				continue;
			}
			if (w->spare) {
				e = w->spare;
				w->spare = NULL;
			} else {
				e = chunk_alloc_nowait();
				if (!e) {
					need_mem = !blocked;
					break;
				}
			}
			e->idx = c;
			hlist_add_head(&e->hnode, busy_head(t, c));
			cow_start(t, e, w->image, &start);
		}
		if (!blocked) {
			blocked = e;
			w->next = c;
		}
	}
	/*
	 * Copies started in this pass run first: on a fast device they are
	 * done when cow_read() returns, and w need not wait at all.
	 */
	if (blocked || need_mem || !list_empty(&start))
		cs_wio_may_wait(w);
	if (blocked && list_empty(&start))
		list_add_tail(&w->node, &blocked->waiters);
	spin_unlock_irqrestore(&t->lock, flags);

	if (!list_empty(&start)) {
		list_for_each_entry_safe(e, n, &start, start) {
			list_del(&e->start);
			cow_read(e);
		}
		goto again;
	}
	/* from here on a parked w may already be running again elsewhere */
	if (blocked)
		return false;
	if (need_mem) {
		/*
		 * Inside a driver's submit_bio the copies that would give a
		 * chunk back may be queued behind us: wait from a work item.
		 */
		if (current->bio_list) {
			cs_tracker_write_ready(w);
			return false;
		}
		w->spare = chunk_alloc();
		goto again;
	}
	if (w->next <= w->last)
		goto again;
	if (w->spare) {
		chunk_put(w->spare);
		w->spare = NULL;
	}
	return true;
}

/* e's copy is done and e out of the busy table: let its waiters go on, free e. */
static void chunk_done(struct cs_chunk *e, struct list_head *waiters)
{
	struct cs_wio *w, *n;

	list_for_each_entry_safe(w, n, waiters, node) {
		list_del_init(&w->node);
		cs_tracker_write_ready(w);
	}
	chunk_put(e);
}

static void cow_read_end(struct bio *bio)
{
	struct cs_chunk *e = bio->bi_private;

	if (bio->bi_status)
		WRITE_ONCE(e->read_err, bio->bi_status);
	bio_put(bio);
	if (atomic_dec_and_test(&e->pending)) {
		e->stage = 1;
		queue_work(cs_wq, &e->work);
	}
}

static void cow_write_end(struct bio *bio)
{
	struct cs_cow_target *tg = bio->bi_private;
	struct cs_chunk *e = tg->e;

	if (bio->bi_status)
		WRITE_ONCE(tg->err, bio->bi_status);
	bio_put(bio);
	if (atomic_dec_and_test(&e->pending)) {
		e->stage = 2;
		queue_work(cs_wq, &e->work);
	}
}

/* Submit e's pages as bios to bdev at sector; e->pending counts them. */
static void cow_submit(struct cs_chunk *e, struct block_device *bdev,
		       sector_t sector, blk_opf_t opf, bio_end_io_t *end_io,
		       void *private)
{
	unsigned int i = 0, n;
	size_t bytes = (size_t)e->len << SECTOR_SHIFT;

	while (i < e->npages) {
		struct bio *bio;

		n = min_t(unsigned int, e->npages - i, BIO_MAX_VECS);
		bio = bio_alloc_bioset(bdev, n, opf, GFP_NOIO, &cow_bs);
		bio->bi_iter.bi_sector = sector;
		bio->bi_end_io = end_io;
		bio->bi_private = private;
		for (; n; n--, i++) {
			size_t len = min_t(size_t, PAGE_SIZE, bytes - (size_t)i * PAGE_SIZE);

			__bio_add_page(bio, e->pages[i], len, 0);
		}
		sector += bio_sectors(bio);
		atomic_inc(&e->pending);
		cs_submit_own(bio);
	}
}

/*
 * Pages of finished copies, kept for the next ones: the page allocator
 * zeroes every page it gives on kernels booted with init_on_alloc (the
 * default of Debian's), which cost a first write as much as the read of
 * its old data.  Up to CS_SPARE_PAGES (4 MiB), freed at module exit.
 * Neither used while cs_test_copy_reserve_only stands for an exhausted
 * allocator.
 */
#define CS_SPARE_PAGES	1024
static DEFINE_SPINLOCK(spare_lock);	/* spare, nspare; any context */
static struct page *spare[CS_SPARE_PAGES];
static unsigned int nspare;

static struct page *spare_get(void)
{
	struct page *page = NULL;
	unsigned long flags;

	spin_lock_irqsave(&spare_lock, flags);
	if (nspare)
		page = spare[--nspare];
	spin_unlock_irqrestore(&spare_lock, flags);
	return page;
}

/* Keep what fits of pages[0..n) (NULL ones skipped); returns how many were looked at. */
static unsigned int spare_put(struct page **pages, unsigned int n)
{
	unsigned long flags;
	unsigned int i = 0;

	if (READ_ONCE(cs_test_copy_reserve_only))
		return 0;
	spin_lock_irqsave(&spare_lock, flags);
	for (; i < n && nspare < CS_SPARE_PAGES; i++)
		if (pages[i])
			spare[nspare++] = pages[i];
	spin_unlock_irqrestore(&spare_lock, flags);
	return i;
}

static void spare_drain(void)
{
	while (nspare)
		__free_page(spare[--nspare]);
}

static void free_pages_of(struct cs_chunk *e)
{
	unsigned int i;

	if (!e->pages)
		return;
	for (i = spare_put(e->pages, e->npages); i < e->npages; i++)
		if (e->pages[i])
			mempool_free(e->pages[i], page_pool);
	if (e->pages != e->inline_pages)
		kfree(e->pages);
	e->pages = NULL;
}

/* Invalidate every live snapshot of t that copy e is still for. */
static void invalidate_needing(struct cs_tracker *t, struct cs_chunk *e, int cause)
{
	struct cs_set *sets[8];
	struct cs_snapshot *s;
	unsigned long flags;
	unsigned int n, i;

	do {
		n = 0;
		spin_lock_irqsave(&t->lock, flags);
		list_for_each_entry(s, &t->snaps, tnode) {
			if (!copy_needs(e, s))
				continue;
			cs_set_get(s->set);
			sets[n++] = s->set;
			if (n == ARRAY_SIZE(sets))
				break;
		}
		spin_unlock_irqrestore(&t->lock, flags);
		for (i = 0; i < n; i++) {
			cs_set_invalidate(sets[i], cause);
			cs_set_put(sets[i]);
		}
	} while (n == ARRAY_SIZE(sets));
}

/*
 * Allocations of the copy path fail fast rather than retry: a write waits
 * for its copy, so a copy stuck in reclaim would hang the origin's writes.
 * What the allocator cannot give at once comes from a small reserve; when
 * that is empty too, the snapshots that needed the copy turn INVALID
 * (NOMEM) and the write goes on.
 */
#define CS_COPY_GFP	(GFP_NOIO | __GFP_NORETRY | __GFP_NOWARN)

/*
 * The page allocator behind page_pool and the copy path's first try: a
 * spare page, else a new one.  cs_test_copy_reserve_only (a test knob)
 * makes it give nothing, as when memory is exhausted: only the pool's
 * reserve is left.
 */
static void *copy_page_get(gfp_t gfp, void *order)
{
	struct page *page;

	if (READ_ONCE(page_pool_ready) && READ_ONCE(cs_test_copy_reserve_only))
		return NULL;
	page = spare_get();
	return page ?: alloc_page(gfp);
}

static struct page *copy_page_alloc(void)
{
	struct page *page = copy_page_get(CS_COPY_GFP, NULL);

	return page ?: mempool_alloc(page_pool, GFP_NOWAIT | __GFP_NOWARN);
}

static void cow_read(struct cs_chunk *e)
{
	struct cs_tracker *t = e->t;
	sector_t start = e->idx << t->chunk_shift;
	sector_t size = bdev_nr_sectors(t->origin.bdev);
	unsigned int i;

	if (start >= size) {
		/* the origin shrank under its snapshots: they cannot be kept */
		invalidate_needing(t, e, COWSNAP_INVALID_ORIGIN_IO);
		e->stage = 2;
		cow_finish(e);
		return;
	}
	e->len = min_t(sector_t, 1U << t->chunk_shift, size - start);
	e->npages = DIV_ROUND_UP((size_t)e->len << SECTOR_SHIFT, PAGE_SIZE);
	if (e->npages <= CS_INLINE_PAGES) {
		e->pages = e->inline_pages;
		memset(e->pages, 0, sizeof(e->inline_pages));
	} else {
		e->pages = kcalloc(e->npages, sizeof(*e->pages), CS_COPY_GFP);
		if (!e->pages)
			goto nomem;
	}
	for (i = 0; i < e->npages; i++) {
		e->pages[i] = copy_page_alloc();
		if (!e->pages[i])
			goto nomem;
	}
	atomic_set(&e->pending, 1);
	e->stage = 1;
	cow_submit(e, t->origin.bdev, start, REQ_OP_READ, cow_read_end, e);
	/* the read completed already (a RAM disk): go on here */
	if (atomic_dec_and_test(&e->pending))
		cow_store(e, true);
	return;

nomem:
	free_pages_of(e);
	invalidate_needing(t, e, COWSNAP_INVALID_NOMEM);
	e->stage = 2;
	cow_finish(e);
}

/*
 * The old data is in e's pages, its targets and their slots are picked,
 * its storage writes not yet submitted (e cannot end before cow_write()):
 * the origin writes waiting for the chunk go on now rather than after the
 * storage writes.  Returns whether they did.  The pages stay until the copy is in the maps (cow_finish()
 * takes e out of the busy table after the map stores); until then an image
 * read of the chunk for a target, which finds no slot, takes the data from
 * the pages (read_fix()).  Image writes wait on: they go to the slot,
 * which is published once the copy is in it.  Bounded by cow_buffer_mb
 * over all copies: past it, writes wait for storage as before.
 */
static bool cow_release(struct cs_chunk *e)
{
	long limit = (long)READ_ONCE(cs_cow_buffer_mb) << (20 - PAGE_SHIFT);
	struct cs_tracker *t = e->t;
	struct cs_wio *w, *n;
	unsigned long flags;
	LIST_HEAD(go);

	if (!e->ntargets)
		return false;
	if (atomic_long_add_return(e->npages, &buffered_pages) > limit) {
		atomic_long_sub(e->npages, &buffered_pages);
		return false;
	}
	spin_lock_irqsave(&t->lock, flags);
	e->released = true;
	atomic_inc(&t->nreleased);
	list_for_each_entry_safe(w, n, &e->waiters, node)
		if (!w->image)
			list_move_tail(&w->node, &go);
	spin_unlock_irqrestore(&t->lock, flags);
	list_for_each_entry_safe(w, n, &go, node) {
		list_del_init(&w->node);
		cs_tracker_write_ready(w);
	}
	return true;
}

/* e's copy to the storage of its targets; e ends when the writes do. */
static void cow_write(struct cs_chunk *e)
{
	unsigned int i;

	atomic_set(&e->pending, 1);
	e->stage = 2;
	for (i = 0; i < e->ntargets; i++) {
		struct cs_cow_target *tg = &e->targets[i];
		struct block_device *bdev;
		sector_t sector;

		if (tg->slot < 0)
			continue;
		bdev = cs_storage_locate(&tg->s->set->storage, tg->slot, &sector);
		if (WARN_ON_ONCE(!bdev)) {
			tg->slot = -EIO;
			cs_set_invalidate(tg->s->set, COWSNAP_INVALID_STORAGE_IO);
			continue;
		}
		cow_submit(e, bdev, sector, REQ_OP_WRITE, cow_write_end, tg);
	}
	if (atomic_dec_and_test(&e->pending))
		cow_finish(e);
}

unsigned long cs_cow_buffered(void)
{
	return atomic_long_read(&buffered_pages);
}

/* chunks from this size on are written to storage from a work item (cow_store()) */
#define CS_HANDOVER_SECTORS	64

/*
 * e's old data is in its pages: pick the targets, give each a slot,
 * release the waiting writes and write the copy.  caller: the read ended
 * in the writer's own context (cs_cow_advance() -> cow_read(): a device
 * that completes in its submission, such as a RAM disk), which goes on
 * once this returns.  A released copy of 32 KiB or more is then written
 * from a work item, beside the writer's own write; a smaller one here,
 * since the hand-over costs more than its copy.
 */
static void cow_store(struct cs_chunk *e, bool caller)
{
	struct cs_tracker *t = e->t;
	struct cs_snapshot *s;
	unsigned long flags;
	unsigned int n = 0, i;

	if (e->read_err) {
		invalidate_needing(t, e, COWSNAP_INVALID_ORIGIN_IO);
		goto done;
	}
	spin_lock_irqsave(&t->lock, flags);
	list_for_each_entry(s, &t->snaps, tnode)
		n += copy_needs(e, s);
	spin_unlock_irqrestore(&t->lock, flags);
	if (!n)
		goto done;
	if (n <= CS_INLINE_TARGETS) {
		e->targets = e->inline_targets;
		memset(e->targets, 0, sizeof(e->inline_targets));
	} else {
		e->targets = kcalloc(n, sizeof(*e->targets), CS_COPY_GFP);
	}
	if (!e->targets) {
		invalidate_needing(t, e, COWSNAP_INVALID_NOMEM);
		goto done;
	}
	/*
	 * A snapshot that goes live meanwhile and is not picked here is
	 * copied again by the next write to the chunk: the origin still holds
	 * the old data, as every write to the chunk waits for this copy until
	 * it is released, and a write released afterwards waits for it to
	 * end (released_covers()).
	 */
	spin_lock_irqsave(&t->lock, flags);
	list_for_each_entry(s, &t->snaps, tnode) {
		if (e->ntargets == n)
			break;
		if (!copy_needs(e, s))
			continue;
		cs_snapshot_get(s);
		/* cs_set_destroy() waits for this before the storage is reused */
		atomic_inc(&s->set->copies);
		e->targets[e->ntargets].s = s;
		e->targets[e->ntargets].e = e;
		e->ntargets++;
	}
	spin_unlock_irqrestore(&t->lock, flags);

	for (i = 0; i < e->ntargets; i++) {
		struct cs_cow_target *tg = &e->targets[i];
		bool low;

		tg->slot = cs_storage_alloc(&tg->s->set->storage, &low);
		if (low)
			cs_set_storage_low(tg->s->set);
		if (tg->slot < 0)
			cs_set_invalidate(tg->s->set, COWSNAP_INVALID_STORAGE_FULL);
	}
	/*
	 * The writes go on before the storage writes are even submitted: on
	 * a RAM disk those complete in the submission.
	 */
	if (cow_release(e) && caller && e->len >= CS_HANDOVER_SECTORS) {
		e->stage = 3;
		queue_work(cs_wq, &e->work);
		return;
	}
	cow_write(e);
	return;
done:
	e->stage = 2;
	cow_finish(e);
}

static void cow_finish(struct cs_chunk *e)
{
	struct cs_tracker *t = e->t;
	unsigned long flags;
	LIST_HEAD(waiters);
	unsigned int i;

	for (i = 0; i < e->ntargets; i++) {
		struct cs_cow_target *tg = &e->targets[i];
		struct cs_snapshot *s = tg->s;

		if (tg->slot >= 0 && tg->err) {
			cs_set_invalidate(s->set, COWSNAP_INVALID_STORAGE_IO);
		} else if (tg->slot >= 0) {
			/* past max_memory_mb too: the set, never the origin */
			if (cs_map_store(&s->map, e->idx, tg->slot, s->nr_chunks))
				cs_set_invalidate(s->set, COWSNAP_INVALID_NOMEM);
			else
				atomic64_inc(&s->copied);
		}
	}

	/*
	 * After the maps: a write the chunk lets go finds them (snap_needs()),
	 * and so does an image read that no longer finds a released e here
	 * (read_fix()).  The targets stay until e is out of the table, since
	 * released_covers() and read_fix() look at them under the lock.
	 */
	spin_lock_irqsave(&t->lock, flags);
	hlist_del(&e->hnode);
	if (e->released) {
		smp_mb__before_atomic();	/* the maps first: see read_overtaken() */
		atomic_dec(&t->nreleased);
	}
	list_splice_init(&e->waiters, &waiters);
	spin_unlock_irqrestore(&t->lock, flags);

	for (i = 0; i < e->ntargets; i++) {
		struct cs_snapshot *s = e->targets[i].s;

		if (atomic_dec_and_test(&s->set->copies))
			wake_up_all(&s->set->copies_wq);
		cs_snapshot_put(s);
	}
	if (e->targets != e->inline_targets)
		kfree(e->targets);
	e->targets = NULL;
	e->ntargets = 0;
	if (e->released)
		atomic_long_sub(e->npages, &buffered_pages);
	/* the pages go with the last reference: a read may be copying them */
	chunk_done(e, &waiters);
	cs_tracker_put(t);
}

static void cow_work(struct work_struct *work)
{
	struct cs_chunk *e = container_of(work, struct cs_chunk, work);

	switch (e->stage) {
	case 0:
		cow_read(e);
		break;
	case 1:
		cow_store(e, false);
		break;
	case 3:
		cow_write(e);
		break;
	default:
		cow_finish(e);
		break;
	}
}

/*
 * Image reads take no lock and pin nothing.  A chunk the snapshot has not
 * copied is read from the origin and looked at again once the data is in
 * (read_end()).  A write that changed such a chunk went on only once the
 * chunk's copy for this snapshot was released (its old data in the pages
 * of a busy entry, cow_release()) or in the map (cow_finish() stores it
 * before the entry leaves the busy table; cs_cow_clear() lets a write pass
 * only when it finds it there), or once the set's zero table held the
 * whole chunk (zero_holds()), or once the set was INVALID or destroyed.
 * So after the read, a chunk it took from the origin that is still in
 * neither the busy table as released for this snapshot, nor the map, nor
 * the zero table, looked at in that order, held the take's data all
 * along.  Released: that part is taken from the entry's pages; in the map
 * or the zero table: the part of the image is read again
 * (read_again_work()), from its slot or as zeros now.  The busy table
 * comes first: an entry leaves it only after its map stores, so a read
 * that no longer finds it finds the slot (the other order could miss
 * both).  A round of reading again finds at least one more chunk copied,
 * and a map only grows: the rounds end.  The set's state is looked at
 * last, after the data: an invalid or destroyed set fails the read, since
 * its writes may have gone through uncopied and its storage to another
 * set.  Modelled: model/cowsnap.pml, proctype reader.
 */

/* The busy entry of chunk c if it is released with a copy for s.  Tracker lock. */
static struct cs_chunk *released_for(struct cs_tracker *t, u64 c, const struct cs_snapshot *s)
{
	struct cs_chunk *e = busy_find(t, c);

	return e && e->released && chunk_for(e, s) ? e : NULL;
}

/*
 * The busy entry of chunk c released with a copy for s, with a reference
 * taken (put it with chunk_put()), or NULL.  Any context.
 */
static struct cs_chunk *read_released(struct cs_snapshot *s, u64 c)
{
	struct cs_tracker *t = s->t;
	struct cs_chunk *e;
	unsigned long flags;

	if (!atomic_read(&t->nreleased))
		return NULL;
	spin_lock_irqsave(&t->lock, flags);
	e = released_for(t, c, s);
	if (e)
		atomic_inc(&e->refs);
	spin_unlock_irqrestore(&t->lock, flags);
	return e;
}

/*
 * Must the read look again, in process context (read_again_work())?  Any
 * context: the busy table under one hold of the lock, then the map.
 */
static bool read_overtaken(struct cs_snapshot *s, u64 first, u64 count)
{
	u64 c, end = first + count;
	struct cs_tracker *t = s->t;
	unsigned long flags;
	bool found = false;

	if (atomic_read(&t->nreleased)) {
		spin_lock_irqsave(&t->lock, flags);
		for (c = first; c < end && !found; c++)
			found = released_for(t, c, s) != NULL;
		spin_unlock_irqrestore(&t->lock, flags);
		if (found)
			return true;
	}
	smp_rmb();	/* the busy table before the map */
	for (c = first; c < end; c++)
		if (cs_map_copied(&s->map, c) || zero_holds(s, c))
			return true;
	return false;
}

/* len sectors of e's pages from sector from of the chunk, into bio at off. */
static void copy_from_pages(struct bio *bio, sector_t off, sector_t len,
			    struct cs_chunk *e, sector_t from)
{
	size_t at = (size_t)from << SECTOR_SHIFT;
	struct bvec_iter iter = bio->bi_iter, it;
	struct bio_vec bv;

	bio_advance_iter(bio, &iter, off << SECTOR_SHIFT);
	iter.bi_size = len << SECTOR_SHIFT;
	__bio_for_each_segment(bv, bio, it, iter) {
		unsigned int done = 0;

		while (done < bv.bv_len) {
			unsigned int in = offset_in_page(at);
			unsigned int n = min_t(unsigned int, bv.bv_len - done, PAGE_SIZE - in);

			memcpy_page(bv.bv_page, bv.bv_offset + done, e->pages[at >> PAGE_SHIFT],
				    in, n);
			done += n;
			at += n;
		}
		flush_dcache_page(bv.bv_page);
	}
}

/*
 * The second look of read_overtaken(), chunk by chunk, in process context,
 * for the part [off, off + len) of parent (sectors from its start) whose
 * chunks first.. (count of them) came from the origin: a chunk released
 * for s is taken from the copy's pages; true when one is in the map or the
 * zero table now, and the part must be read again.
 */
static bool read_fix(struct cs_snapshot *s, struct bio *parent, sector_t off, sector_t len,
		     u64 first, u64 count)
{
	unsigned int shift = s->t->chunk_shift;
	sector_t base = parent->bi_iter.bi_sector;
	u64 c;

	for (c = first; c < first + count; c++) {
		sector_t cs = (sector_t)c << shift;
		sector_t from = max_t(sector_t, cs, base + off);
		sector_t to = min_t(sector_t, cs + (1 << shift), base + off + len);
		struct cs_chunk *e = read_released(s, c);

		if (e && to - cs <= e->len) {
			copy_from_pages(parent, from - base, to - from, e, from - cs);
			chunk_put(e);
			continue;
		}
		if (e)
			chunk_put(e);
		smp_rmb();	/* the busy table before the map */
		if (cs_map_copied(&s->map, c) || zero_holds(s, c))
			return true;
	}
	return false;
}

/* a parent read in place has been to its device once (read_place_again()) */
static void read_again_end(struct bio *again)
{
	struct bio *parent = again->bi_private;

	if (again->bi_status && !parent->bi_status)
		parent->bi_status = again->bi_status;
	bio_put(again);
	cs_bio_endio_again(parent);
}

/*
 * The end of a part of an image read, after its data: an invalid or
 * destroyed set fails it (the comment before read_released()).
 */
static void read_check_set(struct cs_snapshot *s, struct bio *parent)
{
	if (atomic_read(&s->set->cause) || READ_ONCE(s->set->dead))
		parent->bi_status = BLK_STS_IOERR;
}

/* [off, off + len) of parent (sectors from its start) sent to the image again */
static void read_again_submit(struct bio *parent, sector_t off, sector_t len)
{
	struct bio *again = bio_alloc_clone(parent->bi_bdev, parent, GFP_NOIO, &read_bs);

	bio_trim(again, off, len);
	again->bi_opf &= ~REQ_NOWAIT;
	again->bi_private = parent;
	again->bi_end_io = read_again_end;
	submit_bio_noacct(again);
}

/*
 * The part of the parent that r read, looked at again chunk by chunk
 * (read_fix()) and, when a chunk of it is copied now, sent to the image
 * again as a bio of its own, from process context.  r's clone goes back to
 * the bio set before the new one is taken from it.
 */
static void read_again_work(struct work_struct *work)
{
	struct cs_read *r = container_of(work, struct cs_read, work);
	struct bio *parent = r->parent;
	struct cs_snapshot *s = r->s;
	sector_t off = r->off, len = r->len;
	u64 first = r->check_first, count = r->check_count;

	bio_inc_remaining(parent);
	bio_put(&r->clone);
	bio_endio(parent);
	if (!read_fix(s, parent, off, len, first, count)) {
		smp_rmb();	/* the data before the set */
		read_check_set(s, parent);
		bio_endio(parent);
		return;
	}
	read_again_submit(parent, off, len);
}

static void read_end(struct bio *bio)
{
	struct cs_read *r = container_of(bio, struct cs_read, clone);
	struct bio *parent = r->parent;

	if (bio->bi_status && !parent->bi_status)
		parent->bi_status = bio->bi_status;
	smp_rmb();	/* the data before the map, the zero table, the set */
	if (!bio->bi_status && read_overtaken(r->s, r->check_first, r->check_count)) {
		INIT_WORK(&r->work, read_again_work);
		queue_work(cs_wq, &r->work);
		return;
	}
	read_check_set(r->s, parent);
	bio_put(bio);
	bio_endio(parent);
}

/* rp is no longer used: onto this CPU's list, else back to the pool */
static void rplace_free(struct cs_rplace *rp)
{
	preempt_disable();
	if (!cs_stash_put_pool(&rplace_stash, &rp->lnode, rplace_pool))
		mempool_free(rp, rplace_pool);
	preempt_enable();
}

/*
 * read_again_work() for a read sent in place (read_place()): the bio is
 * its own again, looked at chunk by chunk and, when a chunk of it is
 * copied now, sent to the image again as a clone.
 */
static void read_place_again(struct work_struct *work)
{
	struct cs_rplace *rp = container_of(work, struct cs_rplace, work);
	struct bio *bio = rp->bio;
	struct cs_snapshot *s = rp->s;
	u64 first = rp->check_first, count = rp->check_count;

	rplace_free(rp);
	if (!read_fix(s, bio, 0, bio_sectors(bio), first, count)) {
		smp_rmb();	/* the data before the set */
		read_check_set(s, bio);
		cs_bio_endio_again(bio);
		return;
	}
	read_again_submit(bio, 0, bio_sectors(bio));
}

/*
 * The end of a read sent in place: the bio gets back its device, position
 * and end_io (and bio_endio() is called on it again, as on a tracked
 * write: cs_bio_endio_again()), then what read_end() does for a clone.
 * Its blk-cgroup association stays the one bio_set_dev() made for the
 * device it went to (a clone of it, read_place_again(), is associated
 * anew; its owner's bio_put() drops it), as with a driver that remaps in
 * place and never gives the device back.
 */
static void read_place_end(struct bio *bio)
{
	struct cs_rplace *rp = bio->bi_private;
	struct cs_snapshot *s = rp->s;

	/* as bio_set_dev() would, without asking blk-cgroup again */
	bio->bi_bdev = rp->bdev;
	bio_clear_flag(bio, BIO_REMAPPED);
	bio->bi_iter = rp->iter;
	bio->bi_end_io = rp->end_io;
	bio->bi_private = rp->private;
	smp_rmb();	/* the data before the map, the zero table, the set */
	if (!bio->bi_status && rp->check_count &&
	    read_overtaken(s, rp->check_first, rp->check_count)) {
		INIT_WORK(&rp->work, read_place_again);
		queue_work(cs_wq, &rp->work);
		return;
	}
	rplace_free(rp);
	read_check_set(s, bio);
	cs_bio_endio_again(bio);
}

/*
 * All of bio from sector of bdev, the bio itself sent there (struct
 * cs_rplace); its chunks check_first.. (check_count of them) come from the
 * origin and are looked at again at the end.
 */
static void read_place(struct cs_snapshot *s, struct bio *bio, struct block_device *bdev,
		       sector_t sector, u64 check_first, u64 check_count)
{
	struct llist_node *n;
	struct cs_rplace *rp;

	preempt_disable();
	n = cs_stash_get(&rplace_stash);
	preempt_enable();
	rp = n ? llist_entry(n, struct cs_rplace, lnode) : mempool_alloc(rplace_pool, GFP_NOIO);
	rp->bio = bio;
	rp->s = s;
	rp->bdev = bio->bi_bdev;
	rp->iter = bio->bi_iter;
	rp->end_io = bio->bi_end_io;
	rp->private = bio->bi_private;
	rp->check_first = check_first;
	rp->check_count = check_count;
	bio_set_dev(bio, bdev);
	bio->bi_iter.bi_sector = sector;
	bio->bi_end_io = read_place_end;
	bio->bi_private = rp;
	cs_submit_own(bio);
}

/*
 * Read [off, off + len) of the image (sectors from the start of bio) from
 * sector of bdev; chunks check_first.. (check_count of them) come from the
 * origin and are looked at again at the end.
 */
static void read_run(struct cs_snapshot *s, struct bio *bio, sector_t off,
		     sector_t len, struct block_device *bdev, sector_t sector,
		     u64 check_first, u64 check_count)
{
	struct bio *clone = bio_alloc_clone(bdev, bio, GFP_NOIO, &read_bs);
	struct cs_read *r = container_of(clone, struct cs_read, clone);

	r->parent = bio;
	r->s = s;
	r->off = off;
	r->len = len;
	r->check_first = check_first;
	r->check_count = check_count;
	bio_trim(clone, off, len);
	clone->bi_iter.bi_sector = sector;
	clone->bi_end_io = read_end;
	bio_inc_remaining(bio);
	cs_submit_own(clone);
}

/* Zeros in [off, off + len) of bio, sectors from its start. */
static void zero_part(struct bio *bio, sector_t off, sector_t len)
{
	struct bvec_iter iter = bio->bi_iter, it;
	struct bio_vec bv;

	bio_advance_iter(bio, &iter, off << SECTOR_SHIFT);
	iter.bi_size = len << SECTOR_SHIFT;
	__bio_for_each_segment(bv, bio, it, iter)
		memzero_bvec(&bv);
}

/*
 * A read of the image of s: copied chunks come from storage, the others from
 * the origin, checked at the end (read_overtaken()).  Neighbouring chunks
 * with contiguous places are read with one clone.  Nothing here waits but
 * the bio set's allocation.
 *
 * The set's zero table reads as zeros: its own storage on this origin
 * (resident; copies are written there past copy-on-write) and what was free
 * in the filesystem at the take (SET_ADD_FREE).
 */
void cs_snapshot_read(struct cs_snapshot *s, struct bio *bio)
{
	struct cs_tracker *t = s->t;
	sector_t pos = bio->bi_iter.bi_sector, end = bio_end_sector(bio);
	sector_t start = pos, run_pos = pos, run_sector = 0, zs = end, ze = 0;
	const struct cs_resident *res;
	struct block_device *run_bdev = NULL;
	u64 check_first = 0, check_count = 0;

	if (bio_op(bio) != REQ_OP_READ) {
		if (op_is_flush(bio->bi_opf) && !bio_sectors(bio))
			bio_endio(bio);
		else
			bio_io_error(bio);
		return;
	}
	if (atomic_read(&s->set->cause) || READ_ONCE(s->set->dead)) {
		bio_io_error(bio);
		return;
	}
	/*
	 * The table as it is now, for the whole read: it may be superseded
	 * meanwhile (SET_ADD_FREE), never freed before the set (cs_resident).
	 */
	res = rcu_dereference_raw(s->set->resident);
	while (pos < end) {
		u64 c = pos >> t->chunk_shift;
		sector_t cend = min_t(sector_t, end, (c + 1) << t->chunk_shift);
		struct block_device *bdev = t->origin.bdev;
		sector_t sector = pos;
		bool check;
		s64 slot;

		if (res && pos >= ze && !resident_next(res, t->origin.bdev, pos, &zs, &ze)) {
			res = NULL;
			zs = end;
		}
		if (pos >= zs) {
			sector_t zend = min(end, ze);

			if (run_bdev)
				read_run(s, bio, run_pos - start, pos - run_pos, run_bdev,
					 run_sector, check_first, check_count);
			run_bdev = NULL;
			zero_part(bio, pos - start, zend - pos);
			pos = zend;
			continue;
		}
		cend = min(cend, zs);

		/* a stored chunk never moves; any other comes from the origin */
		slot = cs_map_lookup(&s->map, c);
		check = slot < 0;
		if (!check) {
			bdev = cs_storage_locate(&s->set->storage, slot, &sector);
			if (WARN_ON_ONCE(!bdev)) {
				bio->bi_status = BLK_STS_IOERR;
				break;
			}
			sector += pos - (c << t->chunk_shift);
		}
		/*
		 * Continue the run, or send it and start another.  The chunks a
		 * run checks are its first ones, in a row: a slot that happens
		 * to follow them on the same device may join the run, never a
		 * chunk to check after one that is not.
		 */
		if (run_bdev && (bdev != run_bdev ||
				 sector != run_sector + (pos - run_pos) ||
				 (check && check_count && c != check_first + check_count) ||
				 (check && !check_count && pos != run_pos))) {
			read_run(s, bio, run_pos - start, pos - run_pos, run_bdev,
				 run_sector, check_first, check_count);
			run_bdev = NULL;
		}
		if (!run_bdev) {
			run_bdev = bdev;
			run_pos = pos;
			run_sector = sector;
			check_count = 0;
		}
		if (check) {
			if (!check_count)
				check_first = c;
			check_count++;
		}
		pos = cend;
	}
	/* one run from the start to the end: the bio itself goes */
	if (run_bdev && run_pos == start && !bio->bi_status) {
		read_place(s, bio, run_bdev, run_sector, check_first, check_count);
		return;
	}
	if (run_bdev)
		read_run(s, bio, run_pos - start, pos - run_pos, run_bdev, run_sector,
			 check_first, check_count);
	bio_endio(bio);
}

/* The end of an image write: status (or OK), the reference, the record. */
static void iwrite_end(struct cs_iwrite *iw, blk_status_t status)
{
	struct bio *bio = iw->w.bio;

	if (status && !bio->bi_status)
		bio->bi_status = status;
	cs_snapshot_put(iw->w.image);
	mempool_free(iw, iwrite_pool);
	bio_endio(bio);
}

static void wclone_end(struct bio *clone)
{
	struct cs_wclone *wc = container_of(clone, struct cs_wclone, clone);
	struct bio *parent = wc->parent;
	struct cs_set *set = wc->s->set;

	if (clone->bi_status) {
		if (!parent->bi_status)
			parent->bi_status = clone->bi_status;
		cs_set_invalidate(set, COWSNAP_INVALID_STORAGE_IO);
	}
	if (atomic_dec_and_test(&set->copies))
		wake_up_all(&set->copies_wq);
	cs_snapshot_put(wc->s);
	bio_put(clone);
	bio_endio(parent);
}

/* [off, off + len) of the image write, sectors from its start, to sector of bdev. */
static void write_run(struct cs_snapshot *s, struct bio *bio, sector_t off, sector_t len,
		      struct block_device *bdev, sector_t sector)
{
	struct bio *clone = bio_alloc_clone(bdev, bio, GFP_NOIO, &write_bs);
	struct cs_wclone *wc = container_of(clone, struct cs_wclone, clone);

	wc->parent = bio;
	cs_snapshot_get(s);
	wc->s = s;
	atomic_inc(&s->set->copies);
	bio_trim(clone, off, len);
	clone->bi_iter.bi_sector = sector;
	clone->bi_end_io = wclone_end;
	bio_inc_remaining(bio);
	cs_submit_own(clone);
}

/*
 * Every chunk of image write w is copied for its snapshot (or the snapshot
 * is no longer live, or its set INVALID): the write goes to the slots.
 * Neighbouring chunks in contiguous slots take one clone.  The set's
 * copies count covers the write from before it looks at dead until its
 * clones end, so cs_set_destroy() gives the storage to no other set while
 * they may still write to it.
 */
void cs_snapshot_write_go(struct cs_wio *w)
{
	struct cs_iwrite *iw = container_of(w, struct cs_iwrite, w);
	struct cs_snapshot *s = w->image;
	struct cs_set *set = s->set;
	struct bio *bio = w->bio;
	unsigned int shift = s->t->chunk_shift;
	sector_t pos = bio->bi_iter.bi_sector, end = bio_end_sector(bio);
	sector_t start = pos, run_pos = pos, run_sector = 0;
	struct block_device *run_bdev = NULL;
	blk_status_t status = BLK_STS_OK;

	if (w->spare) {
		chunk_put(w->spare);
		w->spare = NULL;
	}
	atomic_inc(&set->copies);
	smp_mb__after_atomic();	/* pairs with the barrier in cs_set_destroy() */
	if (atomic_read(&set->cause) || READ_ONCE(set->dead)) {
		status = BLK_STS_IOERR;
		goto out;
	}
	while (pos < end) {
		u64 c = pos >> shift;
		sector_t cend = min_t(sector_t, end, (c + 1) << shift);
		struct block_device *bdev;
		sector_t sector;
		s64 slot = cs_map_lookup(&s->map, c);

		/* not copied: the set turned INVALID or was destroyed meanwhile */
		if (slot < 0) {
			status = BLK_STS_IOERR;
			break;
		}
		bdev = cs_storage_locate(&set->storage, slot, &sector);
		if (WARN_ON_ONCE(!bdev)) {
			status = BLK_STS_IOERR;
			break;
		}
		sector += pos - (c << shift);
		if (run_bdev && (bdev != run_bdev || sector != run_sector + (pos - run_pos))) {
			write_run(s, bio, run_pos - start, pos - run_pos, run_bdev, run_sector);
			run_bdev = NULL;
		}
		if (!run_bdev) {
			run_bdev = bdev;
			run_pos = pos;
			run_sector = sector;
		}
		pos = cend;
	}
	if (run_bdev)
		write_run(s, bio, run_pos - start, pos - run_pos, run_bdev, run_sector);
out:
	if (atomic_dec_and_test(&set->copies))
		wake_up_all(&set->copies_wq);
	iwrite_end(iw, status);
}

/* Are all of w's chunks copied for its snapshot?  (Then nothing waits.) */
static bool all_copied(struct cs_wio *w)
{
	u64 c;

	for (c = w->next; c <= w->last; c++)
		if (!cs_map_copied(&w->image->map, c))
			return false;
	return true;
}

/* After the preflush, or at once: mark, copy what must be, write. */
static void iwrite_start(struct cs_iwrite *iw)
{
	struct cs_wio *w = &iw->w;
	struct cs_snapshot *s = w->image;
	struct bio *bio = w->bio;
	sector_t n = bio_sectors(bio);

	if (iw->err) {
		cs_set_invalidate(s->set, COWSNAP_INVALID_STORAGE_IO);
		iwrite_end(iw, iw->err);
		return;
	}
	if (!n) {
		iwrite_end(iw, BLK_STS_OK);
		return;
	}
	/* changed since the take, for an incremental of this image */
	cs_cbt_mark(&s->t->cbt, bio->bi_iter.bi_sector, n);
	w->next = bio->bi_iter.bi_sector >> s->t->chunk_shift;
	w->last = (bio_end_sector(bio) - 1) >> s->t->chunk_shift;
	if (all_copied(w) || cs_cow_advance(w))
		cs_snapshot_write_go(w);
}

static void iwrite_work(struct work_struct *work)
{
	iwrite_start(container_of(work, struct cs_iwrite, work));
}

static void iwrite_flush_end(struct bio *bio)
{
	struct cs_iwrite *iw = bio->bi_private;

	if (bio->bi_status)
		WRITE_ONCE(iw->err, bio->bi_status);
	bio_put(bio);
	/* copy-on-write may wait for memory: go on in process context */
	if (atomic_dec_and_test(&iw->pending))
		queue_work(cs_wq, &iw->work);
}

/*
 * A write to the image of s, whose set is writable.  Its data goes to s's
 * slots only (see the top of this file).  REQ_PREFLUSH: every storage
 * device is flushed first, then the data (if any) goes on from a work
 * item; FUA stays on the data's clones.  Discard and write-zeroes are not
 * advertised, and refused if they come anyway.
 */
void cs_snapshot_write(struct cs_snapshot *s, struct bio *bio)
{
	struct cs_iwrite *iw;
	struct block_device *bdev;
	unsigned int i;

	if (bio_op(bio) != REQ_OP_WRITE) {
		bio->bi_status = BLK_STS_NOTSUPP;
		bio_endio(bio);
		return;
	}
	if (atomic_read(&s->set->cause) || READ_ONCE(s->set->dead)) {
		bio_io_error(bio);
		return;
	}
	iw = mempool_alloc(iwrite_pool, GFP_NOIO);
	memset(iw, 0, sizeof(*iw));
	iw->w.bio = bio;
	iw->w.t = s->t;
	INIT_LIST_HEAD(&iw->w.node);
	cs_snapshot_get(s);
	iw->w.image = s;
	if (!(bio->bi_opf & REQ_PREFLUSH)) {
		iwrite_start(iw);
		return;
	}
	bio->bi_opf &= ~REQ_PREFLUSH;
	cs_wio_may_wait(&iw->w);
	INIT_WORK(&iw->work, iwrite_work);
	atomic_set(&iw->pending, 1);
	for (i = 0; (bdev = cs_storage_dev(&s->set->storage, i)); i++) {
		struct bio *flush = bio_alloc_bioset(bdev, 0, REQ_OP_WRITE | REQ_PREFLUSH,
						     GFP_NOIO, &cow_bs);

		flush->bi_end_io = iwrite_flush_end;
		flush->bi_private = iw;
		atomic_inc(&iw->pending);
		cs_submit_own(flush);
	}
	/* the flushes are queued on current->bio_list: they end later */
	if (atomic_dec_and_test(&iw->pending))
		queue_work(cs_wq, &iw->work);
}

void cs_snapshot_get(struct cs_snapshot *s)
{
	kref_get(&s->kref);
}

static void snapshot_free_work(struct work_struct *work)
{
	struct cs_snapshot *s = container_of(to_rcu_work(work), struct cs_snapshot, free_work);

	cs_map_destroy(&s->map);
	cs_tracker_put(s->t);
	cs_set_put(s->set);
	kfree(s);
}

/*
 * The last reference may go in a writer's context (a copy that finished
 * there): free from a work item, away from the writer's locks, and after a
 * grace period, since cs_cow_clear() may still be walking past s on the
 * tracker's list (it takes no reference).
 */
static void snapshot_free(struct kref *kref)
{
	struct cs_snapshot *s = container_of(kref, struct cs_snapshot, kref);

	INIT_RCU_WORK(&s->free_work, snapshot_free_work);
	queue_rcu_work(cs_wq, &s->free_work);
}

void cs_snapshot_put(struct cs_snapshot *s)
{
	kref_put(&s->kref, snapshot_free);
}

struct cs_snapshot *cs_snapshot_create(struct cs_set *set, struct cs_tracker *t)
{
	struct cs_snapshot *s = kzalloc(sizeof(*s), GFP_KERNEL);

	if (!s)
		return ERR_PTR(-ENOMEM);
	kref_init(&s->kref);
	cs_set_get(set);
	s->set = set;
	kref_get(&t->kref);
	s->t = t;
	INIT_LIST_HEAD(&s->tnode);
	cs_map_init(&s->map);
	atomic64_set(&s->copied, 0);
	s->minor = -1;
	return s;
}

int cs_snapshot_init(void)
{
	int ret;

	ret = cs_map_cache_init();
	if (ret)
		return ret;
	chunk_cache = KMEM_CACHE(cs_chunk, 0);
	if (!chunk_cache) {
		ret = -ENOMEM;
		goto err_map;
	}
	chunk_pool = mempool_create(CS_CHUNK_RESERVE, chunk_slab_alloc,
				    mempool_free_slab, chunk_cache);
	if (!chunk_pool) {
		ret = -ENOMEM;
		goto err_cache;
	}
	WRITE_ONCE(chunk_pool_ready, true);
	/* order-0 pages: mempool_free_pages() reads the order from pool_data */
	page_pool = mempool_create(CS_PAGE_RESERVE, copy_page_get, mempool_free_pages,
				   (void *)0);
	if (!page_pool) {
		ret = -ENOMEM;
		goto err_pool;
	}
	WRITE_ONCE(page_pool_ready, true);
	ret = bioset_init(&cow_bs, 64, 0, BIOSET_NEED_BVECS);
	if (ret)
		goto err_pages;
	ret = bioset_init(&read_bs, 64, offsetof(struct cs_read, clone),
			  BIOSET_NEED_RESCUER);
	if (ret)
		goto err_cow;
	ret = bioset_init(&write_bs, 64, offsetof(struct cs_wclone, clone),
			  BIOSET_NEED_RESCUER);
	if (ret)
		goto err_read;
	iwrite_pool = mempool_create_kmalloc_pool(CS_IWRITE_RESERVE,
						  sizeof(struct cs_iwrite));
	if (!iwrite_pool) {
		ret = -ENOMEM;
		goto err_write;
	}
	rplace_cache = KMEM_CACHE(cs_rplace, 0);
	if (!rplace_cache) {
		ret = -ENOMEM;
		goto err_iwrite;
	}
	rplace_pool = mempool_create_slab_pool(CS_RPLACE_RESERVE, rplace_cache);
	if (!rplace_pool) {
		ret = -ENOMEM;
		goto err_rplace;
	}
	return 0;

err_rplace:
	kmem_cache_destroy(rplace_cache);
err_iwrite:
	mempool_destroy(iwrite_pool);
err_write:
	bioset_exit(&write_bs);
err_read:
	bioset_exit(&read_bs);
err_cow:
	bioset_exit(&cow_bs);
err_pages:
	mempool_destroy(page_pool);
err_pool:
	mempool_destroy(chunk_pool);
err_cache:
	kmem_cache_destroy(chunk_cache);
err_map:
	cs_map_cache_exit();
	return ret;
}

void cs_snapshot_exit(void)
{
	/* every snapshot is freed by now (cs_set_exit(), then the workqueue) */
	WARN_ON(cs_map_memory());
	cs_stash_drain(&rplace_stash, rplace_pool, offsetof(struct cs_rplace, lnode));
	mempool_destroy(rplace_pool);
	kmem_cache_destroy(rplace_cache);
	mempool_destroy(iwrite_pool);
	bioset_exit(&write_bs);
	bioset_exit(&read_bs);
	bioset_exit(&cow_bs);
	mempool_destroy(page_pool);
	spare_drain();
	mempool_destroy(chunk_pool);
	kmem_cache_destroy(chunk_cache);
	cs_map_cache_exit();
}
