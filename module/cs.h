/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Objects of the cowsnap module and how they refer to each other:
 *
 *   cs_set ---- vols[] ----> cs_snapshot ---> cs_tracker (one per origin)
 *     |                        |   ^              |
 *     +-- cs_storage           |   +-- snaps -----+  (live snapshots)
 *                              +-- image gendisk
 *
 * Locks, outermost first:
 *   cs_lock (mutex, set.c): the list of sets, every set's state and volume
 *     list, tracker users/mark/keep/nsnap, the storage overlap list, the
 *     publishing of a set's zero table (cs_resident).  Held by every
 *     netlink command.  Never taken by I/O paths or work items that
 *     I/O waits for.
 *   cs_tracker.lock (spinlock, irq-safe): the tracker's hold gate, held
 *     writes, live snapshot list, busy chunk table.
 *   cs_storage.lock (spinlock, irq-safe, nests inside cs_tracker.lock): the
 *     allocator.
 *   cs_map.lock (mutex, a snapshot's map, taken in process context with
 *     no other lock held): the map's stores and the memory it charged.
 *   spare_lock (spinlock, irq-safe, snapshot.c, takes no other lock): the
 *     pages of finished copies kept for the next ones.
 * Lock-free: the tracker registry (an xarray and a hash of the same
 * trackers, RCU; changed under cs_lock, looked up inside filter_srcu or
 * the hook's RCU section) and its count of trackers per bucket of disks,
 * the set owners (xarray, read by the socket-release notifier), the
 * changed-block map (see cs_cbt), the total memory the maps charged (an
 * atomic64 in map.c), the lookups of a snapshot's map (RCU,
 * cs_map_lookup(); its "copied" bits, cs_map_copied(), release/acquire),
 * the pages of released copies (an atomic in snapshot.c, bounded by
 * cow_buffer_mb), a tracker's count of its released copies (nreleased,
 * changed under its lock) and the per-CPU lists of free records of
 * writes and image reads (cs_stash, this_cpu_cmpxchg()).
 */
#ifndef COWSNAP_CS_H
#define COWSNAP_CS_H

#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/llist.h>
#include <linux/mempool.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#include <linux/spinlock.h>
#include <linux/uuid.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include <net/netlink.h>
#include <linux/cowsnap.h>

#define CS_BUSY_BITS	8
#define CS_INLINE_PAGES	(65536 / PAGE_SIZE)
#define CS_INLINE_TARGETS	2

/* module parameters (main.c) */
extern unsigned int cs_chunk_sectors;
extern unsigned int cs_max_snapshots_per_volume;
extern unsigned int cs_low_water_percent;
extern unsigned int cs_hold_ms;
extern bool cs_test_reserve_only;
extern bool cs_test_copy_reserve_only;
extern unsigned int cs_max_memory_mb;
extern unsigned int cs_cow_buffer_mb;

extern struct workqueue_struct *cs_wq;
extern struct mutex cs_lock;

/*
 * Changed-block map (cbt.c): one byte per chunk, the tracker sequence in
 * which the chunk was last written (0: never since tracking began).  The
 * sequence goes up at each take; past 255 the map resets under a new
 * generation.  Writers store bytes without a lock (a racing store of the same
 * or a newer sequence is harmless); seq and generation change only while the
 * tracker's writes are held and drained.
 */
struct cs_cbt {
	u8 *map;
	u64 chunks;
	sector_t sectors;	/* origin size the map was made for */
	unsigned int shift;	/* chunk = sector >> shift */
	u8 seq;
	uuid_t generation;
};

int cs_cbt_init(struct cs_cbt *cbt, sector_t sectors, unsigned int shift);
void cs_cbt_free(struct cs_cbt *cbt);
u8 *cs_cbt_prepare(const struct cs_cbt *cbt, sector_t sectors);
u8 *cs_cbt_switch(struct cs_cbt *cbt, u8 *map, sector_t sectors);

/*
 * Mark sectors sector..+count written.  Any context, no lock; inline, as
 * it is on every tracked write's path (under emulation a call and its
 * return cost as much as the marking).
 */
static inline void cs_cbt_mark(struct cs_cbt *cbt, sector_t sector, sector_t count)
{
	u64 first, last, c, chunks = READ_ONCE(cbt->chunks);
	u8 seq = READ_ONCE(cbt->seq), *map;

	if (!count)
		return;
	smp_rmb();	/* pairs with cs_cbt_switch() */
	map = READ_ONCE(cbt->map);
	first = sector >> cbt->shift;
	last = (sector + count - 1) >> cbt->shift;
	/* past the end: the origin grew; the next take starts a generation */
	if (first >= chunks)
		return;
	last = min(last, chunks - 1);
	for (c = first; c <= last; c++)
		if (READ_ONCE(map[c]) != seq)
			WRITE_ONCE(map[c], seq);
}
/* at take, writes drained: returns the sequence the snapshot compares with */
u8 cs_cbt_take(struct cs_cbt *cbt, uuid_t *generation);
/* fills bitmap with count bits from first: changed after sequence since */
void cs_cbt_get(const struct cs_cbt *cbt, u64 first, u32 count, u8 since,
		bool all, unsigned long *bitmap);

/*
 * Difference storage of a set: ranges of block devices, handed out one chunk
 * at a time.  ranges only grows while the set lives (list_add_tail_rcu), so
 * lookups walk it without a lock.
 */
struct cs_storage;

struct cs_storage_range {
	struct list_head node;		/* in cs_storage.ranges */
	struct list_head all;		/* in the global overlap list, cs_lock */
	struct cs_storage *owner;
	struct cs_bdev dev;
	dev_t devt;
	sector_t start, len;
	u64 first_slot, slots;		/* chunk slots of this range */
	bool in_file;			/* a pinned file's extent */
	bool resident;			/* on a volume of the owner's set */
};

struct cs_storage {
	spinlock_t lock;		/* next_slot, used, low_sent, low_gen */
	struct list_head ranges;
	unsigned int chunk_sectors;
	u64 total_slots;		/* written under lock, read with READ_ONCE */
	u64 next_slot;
	bool low_sent;
	u32 low_gen;			/* times low_sent turned true; read with READ_ONCE */
};

void cs_storage_init(struct cs_storage *st, unsigned int chunk_sectors);
/* may r lie where it does? 0, or an error with extack set */
typedef int cs_overlap_fn(void *arg, struct cs_storage_range *r,
			  struct netlink_ext_ack *extack);
/* in_file: the range is a pinned file's extent; the device is opened
 * shared with the filesystem mounted from it, not exclusively */
struct cs_storage_range *cs_storage_prepare(struct cs_storage *st, dev_t dev, sector_t start,
					    sector_t len, bool in_file, unsigned int max_lbs,
					    cs_overlap_fn *overlaps, void *arg,
					    struct netlink_ext_ack *extack);
void cs_storage_commit(struct cs_storage *st, struct cs_storage_range *r);
void cs_storage_drop(struct cs_storage_range *r);
unsigned int cs_storage_lbs(struct cs_storage *st);
void cs_storage_unlist(struct cs_storage *st);
void cs_storage_release(struct cs_storage *st);
bool cs_same_place(struct block_device *a, sector_t as, sector_t alen,
		   struct block_device *b, sector_t bs, sector_t blen);
/* returns a slot, or -ENOSPC; *low is set when the low-water mark was crossed */
s64 cs_storage_alloc(struct cs_storage *st, bool *low);
struct block_device *cs_storage_locate(struct cs_storage *st, u64 slot,
				       sector_t *sector);
/* the device of the storage's i-th range, NULL past the last */
struct block_device *cs_storage_dev(struct cs_storage *st, unsigned int i);
struct cs_storage *cs_storage_overlaps(struct block_device *bdev, sector_t start,
				       sector_t len, const struct cs_storage *except);

/*
 * A set's zero table: where its images read zeros, as places on disks,
 * sorted by disk and start, disjoint (touching ones merged).  It holds the
 * set's storage that lies on its own volumes ("resident": files on a
 * filesystem the set snapshots; they hold the set's copies, which bypass
 * copy-on-write), and, once TAKEN, the ranges userspace found free in the
 * image's filesystem at the take (SET_ADD_FREE), where the set may then
 * grow.  Places are only ever added.
 *
 * Lock and lifetime: a new table is built and published whole
 * (rcu_assign_pointer) under cs_lock; readers (image reads, which may sleep
 * while they use it) load the pointer once and use that table to the end of
 * the read without a lock.  A superseded table is never freed before the
 * set (older, freed in set_free_work()): the set outlives every read of its
 * images, and an older table is a subset of the newer, so a read that uses
 * it returns what it returned before the addition.
 */
struct cs_resident {
	struct cs_resident *older;	/* the table this one superseded */
	unsigned int n;
	struct cs_resident_place {
		struct gendisk *disk;
		sector_t start, end;	/* from the disk's first sector */
	} p[];
};

/*
 * One origin device under tracking.  Lifetime: kref; the registry (trackers
 * xarray) holds one reference while users > 0, each snapshot and each
 * copy-on-write operation one more.  Freed after an RCU grace period, because
 * the end_io of a write touches inflight/drain_wq after its last decrement.
 */
struct cs_tracker {
	struct kref kref;
	struct rcu_head rcu;
	dev_t devt;
	struct hlist_node hash_node;	/* tracker.c's hash; cs_lock, RCU */
	struct cs_bdev origin;
	char name[COWSNAP_DEV_NAME_MAX_LEN];
	unsigned int chunk_shift;	/* COW and CBT unit, fixed */

	/* cs_lock */
	unsigned int users;		/* sets holding it, + 1 when keep */
	bool keep;
	u64 mark_set_id;		/* DEFINING set that marked it */
	unsigned int nsnap;		/* TAKEN/INVALID sets holding it */

	/* hold gate: inflight counts writes between filter and completion */
	atomic_t inflight;
	wait_queue_head_t drain_wq;
	bool hold;			/* written under lock, read lock-free */

	spinlock_t lock;
	struct list_head held;		/* lock: cs_wio held at take */
	/* lock: live cs_snapshot.tnode; also walked under RCU (cs_cow_clear) */
	struct list_head snaps;
	unsigned int nlive;		/* lock */
	struct hlist_head busy[1 << CS_BUSY_BITS];	/* lock: cs_chunk */
	/*
	 * busy chunks whose origin writes went on before the copy was
	 * stored (cs_chunk.released): changed under lock, read lock-free by
	 * image reads, which look in the busy table only when it is not 0
	 */
	atomic_t nreleased;
	struct list_head ready;		/* lock: cs_wio to run again */
	struct work_struct ready_work;

	struct cs_cbt cbt;
	atomic_t gone;			/* origin deleted */
	struct work_struct gone_work;
	struct work_struct free_work;
};

/* A write to a tracked volume, from the filter until it completes. */
struct cs_wio {
	struct bio *bio;
	bio_end_io_t *end_io;
	void *private;
	struct cs_tracker *t;
	sector_t offset;		/* bio's sectors -> the tracker's (mod 2^64) */
	u64 next, last;			/* chunks still to check */
	struct list_head node;		/* held, a busy chunk's waiters, ready */
	struct llist_node lnode;	/* completion deferred to endio_work */
	struct cs_chunk *spare;
	/*
	 * Counted and marked by the hook's fast path, which found a chunk
	 * to copy first: cs_filter() goes on with cs_cow_advance().
	 */
	bool handed_over;
	/*
	 * NULL for a write to the origin.  A write to a writable image of
	 * this snapshot (snapshot.c, holds a reference): it copies chunks for
	 * this snapshot only, and once they are copied goes to their slots
	 * (cs_snapshot_write_go()), never to the origin.
	 */
	struct cs_snapshot *image;
};

struct cs_cow_target {
	struct cs_chunk *e;
	struct cs_snapshot *s;
	s64 slot;
	blk_status_t err;
};

/*
 * A chunk of an origin that must not change for now: being copied.  In
 * cs_tracker.busy from the start of the copy until it is in the maps.
 * Once the old data is in its pages and its storage writes are under way
 * it may be "released" (snapshot.c, cow_release()): origin writes to the
 * chunk go on, and image reads of the chunk for its targets are served
 * from the pages until the copy is in the maps.
 */
struct cs_chunk {
	struct hlist_node hnode;	/* tracker lock */
	u64 idx;
	struct list_head waiters;	/* tracker lock: cs_wio */
	/* tracker lock: the copy is for this snapshot only (started by a
	 * write to its image); NULL: for every live snapshot needing it */
	struct cs_snapshot *only;
	/* tracker lock: set once, while targets and pages stay until the
	 * entry leaves the busy table */
	bool released;			/* also: its pages count in cow_buffer_mb */
	/* the copy, and image reads copying from the pages (taken under the
	 * tracker lock while the entry is in the busy table) */
	atomic_t refs;

	/* the copy: owned by the work item while copying */
	struct cs_tracker *t;
	struct list_head start;		/* cs_cow_advance() only */
	struct work_struct work;
	/* what the work does next (0: the read, called directly, never
	 * queued): 1 store (cow_store()), 2 finish
	 * (cow_finish()), 3 write a released copy (cow_write()) */
	int stage;
	atomic_t pending;
	blk_status_t read_err;
	struct page **pages;
	unsigned int npages;
	sector_t len;
	unsigned int ntargets;
	struct cs_cow_target *targets;
	/* no allocation for the usual case: 64 KiB chunks, one or two sets */
	struct page *inline_pages[CS_INLINE_PAGES];
	struct cs_cow_target inline_targets[CS_INLINE_TARGETS];
};


/*
 * A short list of free records on each CPU, before a mempool's slab (the
 * records of tracked writes, tracker.c, and of image reads, snapshot.c):
 * under emulation a slab allocation and free cost more than the rest of a
 * rewrite's or an image read's bookkeeping (bench/NOTES.md, session 26).
 *
 * A list is changed only with this_cpu_cmpxchg(), one instruction that an
 * interrupt on the CPU cannot split, so that no interrupt is ever turned
 * off.  A record is taken only in task context with preemption off, so
 * nothing takes from a list between another taker's read of the head and
 * its cmpxchg (no ABA); records go back from any context (completions run
 * in interrupts), which only adds at the head and makes such a taker try
 * again.  A record freed on another CPU than the one it was taken on goes
 * to that CPU's list; past CS_STASH_MAX records a list sends them back to
 * the pool.  The count is kept beside the list, not with it: it may be off
 * by a few for a moment, which only moves that bound.  The lists are
 * emptied at module exit, once every record is back.
 */
#define CS_STASH_MAX	64

struct cs_stash {
	struct llist_node *head;
	int n;
};

/* a record from this CPU's list, or NULL; preemption off */
static inline struct llist_node *cs_stash_get(struct cs_stash __percpu *st)
{
	struct llist_node *h, *next;

	if (!in_task())
		return NULL;
	do {
		h = this_cpu_read(st->head);
		if (!h)
			return NULL;
		next = h->next;
	} while (this_cpu_cmpxchg(st->head, h, next) != h);
	this_cpu_dec(st->n);
	return h;
}

/*
 * n onto this CPU's list; false when the list is full or pool's reserve
 * is short (the caller gives n to mempool_free(), which refills it).
 * Preemption off.
 */
static inline bool cs_stash_put_pool(struct cs_stash __percpu *st, struct llist_node *n,
				     mempool_t *pool)
{
	struct llist_node *h;

	if (READ_ONCE(pool->curr_nr) < pool->min_nr || this_cpu_read(st->n) >= CS_STASH_MAX)
		return false;
	do {
		h = this_cpu_read(st->head);
		n->next = h;
	} while (this_cpu_cmpxchg(st->head, h, n) != h);
	this_cpu_inc(st->n);
	return true;
}

/*
 * At module exit, every record back: each list's records (their node at
 * offset) to the pool they came from, before it is destroyed.
 */
static inline void cs_stash_drain(struct cs_stash __percpu *st, mempool_t *pool,
				  size_t offset)
{
	struct llist_node *h, *next;
	int cpu;

	for_each_possible_cpu(cpu) {
		struct cs_stash *c = per_cpu_ptr(st, cpu);

		for (h = c->head; h; h = next) {
			next = h->next;
			mempool_free((void *)h - offset, pool);
		}
		c->head = NULL;
		c->n = 0;
	}
}

/*
 * A bio that came back to one of our end_ios, given back its own end_io
 * before bio_endio() is called on it a second time.  What bio_endio() did
 * before the end_io it called (the chain's count, integrity, the trace
 * event) it does once; only the I/O controllers' hook (rq_qos_done_bio():
 * blk-iolatency's in-flight count, blk-iocost's done vtime) looks at
 * flags it leaves set, and would count the bio twice.
 */
static inline void cs_bio_endio_again(struct bio *bio)
{
	bio_clear_flag(bio, BIO_QOS_THROTTLED);
	bio_clear_flag(bio, BIO_QOS_MERGED);
	bio_endio(bio);
}

/* A snapshot's chunk -> slot map (map.c). */
struct cs_map {
	struct mutex lock;		/* stores, bytes */
	struct xarray groups;		/* chunk / 64 -> group; RCU readers */
	/* blocks of "copied" bits (map.c); set once (release) under lock */
	unsigned long **dir;
	u64 ndir;			/* entries of dir, set before it */
	u64 bytes;			/* lock: memory charged for it */
};

/* chunks per block of a map's "copied" bits (map.c) */
#define CS_MAP_BITS_CHUNKS	(512 * BITS_PER_BYTE)

/*
 * Is chunk idx copied (its slot stored)?  Any context, no lock (map.c).
 * Inline: every rewrite of a copied chunk asks it (cs_cow_clear()).
 */
static inline bool cs_map_copied(const struct cs_map *m, u64 idx)
{
	unsigned long **dir = smp_load_acquire(&m->dir);
	const unsigned long *bits;

	if (!dir || idx / CS_MAP_BITS_CHUNKS >= m->ndir)
		return false;
	bits = smp_load_acquire(&dir[idx / CS_MAP_BITS_CHUNKS]);
	return bits && test_bit(idx % CS_MAP_BITS_CHUNKS, bits);
}

/*
 * One volume of a TAKEN set.  Lifetime: kref held by the set, the image
 * disk (until free_disk), and copy-on-write operations writing for it.
 */
struct cs_snapshot {
	struct kref kref;
	struct cs_set *set;		/* holds a reference */
	struct cs_tracker *t;		/* holds a reference */
	struct list_head tnode;		/* tracker lock; RCU readers */
	bool live;			/* tracker lock: on t->snaps */
	struct cs_map map;		/* chunk -> storage slot (map.c) */
	sector_t sectors;		/* origin size at take */
	u64 nr_chunks;
	atomic64_t copied;
	u8 cbt_seq;
	uuid_t cbt_generation;
	struct gendisk *disk;		/* cs_lock */
	int minor;
	struct rcu_work free_work;	/* after a grace period: cs_cow_clear() */
};

struct cs_set_vol {
	struct cs_tracker *t;
	struct cs_snapshot *s;		/* NULL while DEFINING */
};

#define CS_MAX_VOLUMES 64

/* A shadow copy set.  Lifetime: kref (the set list, snapshots, work). */
struct cs_set {
	struct kref kref;
	struct list_head node;		/* cs_lock */
	u64 id;
	/* "" when unnamed; written once in cs_set_new() before the set is
	 * listed, then read-only: read without a lock (sysfs, netlink) */
	char name[COWSNAP_SET_NAME_MAX_LEN + 1];
	int state;			/* cs_lock; INVALID also when cause != 0 */
	atomic_t cause;			/* first invalid cause, set once */
	u32 flags, chunk_sectors, hold_ms;
	u32 owner_portid;		/* cs_lock; 0 once released */
	struct net *owner_net;
	u64 created_ns, taken_ns;
	struct cs_storage storage;
	unsigned int nvol;		/* cs_lock */
	struct cs_set_vol vols[CS_MAX_VOLUMES];
	/*
	 * STORAGE_LOW and SET_INVALID go out from one work item, in that
	 * order: STORAGE_LOW while the storage's low_gen is not low_told,
	 * SET_INVALID once cause is set and not invalid_told (both
	 * event_work() only).
	 */
	struct work_struct event_work;
	u32 low_told;
	bool invalid_told;
	struct work_struct free_work;
	bool dead;			/* cs_lock: destroyed */
	/* zero table: its own storage on its volumes, free at the take */
	struct cs_resident __rcu *resident;
	/*
	 * copies selected to write to this set's storage and not finished,
	 * and writes of its images to their slots (counted before they look
	 * at dead: see cs_snapshot_write_go())
	 */
	atomic_t copies;
	wait_queue_head_t copies_wq;
};

/* set.c */
int cs_set_init(void);
void cs_set_exit(void);
void cs_set_invalidate(struct cs_set *set, int cause);
void cs_set_storage_low(struct cs_set *set);
void cs_set_get(struct cs_set *set);
void cs_set_put(struct cs_set *set);
int cs_set_state(const struct cs_set *set);
struct cs_set *cs_set_find(u64 id);
/* name: NULL for none; a NUL-terminated string the policy bounded */
int cs_set_new(u32 flags, u32 chunk_sectors, u32 hold_ms, const char *name,
	       const struct nlattr *name_attr, u32 portid, struct net *net,
	       struct netlink_ext_ack *extack, u64 *id);
int cs_set_add_volume(struct cs_set *set, dev_t dev, struct netlink_ext_ack *extack);
int cs_set_add_storage(struct cs_set *set, dev_t dev, sector_t start,
		       sector_t len, bool in_file, struct netlink_ext_ack *extack);
/* free at the take: rg[n] in sectors of volume dev; attr for extack */
int cs_set_add_free(struct cs_set *set, dev_t dev, const struct cowsnap_range *rg,
		    unsigned int n, const struct nlattr *attr, struct netlink_ext_ack *extack);
/*
 * At most max places of the set's zero table on volume dev, from sector
 * *from of the volume on, clipped to the volume, in its sectors: into out.
 * *from becomes the sector to go on from when more follow, else 0.
 * Returns how many, or -EINVAL (dev is not a volume of the set).  cs_lock.
 */
int cs_set_get_zero(struct cs_set *set, dev_t dev, u64 *from, struct cowsnap_range *out,
		    unsigned int max, struct netlink_ext_ack *extack);
/* bound_ms: the whole take within it (0: each step within the set's hold) */
int cs_set_take(struct cs_set *set, u32 flags, u32 bound_ms, struct netlink_ext_ack *extack);
int cs_volume_track(dev_t dev, struct netlink_ext_ack *extack);
int cs_volume_untrack(dev_t dev, struct netlink_ext_ack *extack);
void cs_set_destroy(struct cs_set *set);
int cs_set_seal(struct cs_set *set, struct netlink_ext_ack *extack);
struct cs_set *cs_set_next(u64 after);
void cs_set_volume_gone(struct cs_tracker *t);

/* tracker.c */
int cs_tracker_init(void);
void cs_tracker_exit(void);
struct cs_tracker *cs_tracker_get_or_create(dev_t dev, unsigned int chunk_sectors,
					    struct netlink_ext_ack *extack);
struct cs_tracker *cs_tracker_lookup(dev_t dev);
struct cs_tracker *cs_tracker_next(unsigned long *index);
void cs_tracker_use(struct cs_tracker *t);
void cs_tracker_unuse(struct cs_tracker *t);
void cs_tracker_put(struct cs_tracker *t);
void cs_tracker_hold(struct cs_tracker *t);
int cs_tracker_drain(struct cs_tracker *t, unsigned long deadline);
void cs_tracker_release_held(struct cs_tracker *t);
void cs_tracker_add_snapshot(struct cs_tracker *t, struct cs_snapshot *s);
void cs_tracker_remove_snapshot(struct cs_tracker *t, struct cs_snapshot *s);
void cs_submit_own(struct bio *bio);
void cs_tracker_write_ready(struct cs_wio *w);
void cs_wio_may_wait(struct cs_wio *w);
void cs_tracker_free_map(u8 *map);

/* snapshot.c */
int cs_snapshot_init(void);
void cs_snapshot_exit(void);
struct cs_snapshot *cs_snapshot_create(struct cs_set *set, struct cs_tracker *t);
void cs_snapshot_put(struct cs_snapshot *s);
void cs_snapshot_get(struct cs_snapshot *s);
/* write path: returns true when w may be submitted now */
bool cs_cow_advance(struct cs_wio *w);
/* lock-free: no live snapshot needs a copy of chunks first..last */
bool cs_cow_clear(struct cs_tracker *t, u64 first, u64 last);
void cs_snapshot_read(struct cs_snapshot *s, struct bio *bio);
/* pages of copies released and not yet stored (cow_buffer_mb bounds them) */
unsigned long cs_cow_buffered(void);
/* a write to the image of s (its set is COWSNAP_SET_F_WRITABLE) */
void cs_snapshot_write(struct cs_snapshot *s, struct bio *bio);
/* an image write whose chunks are copied: to their slots */
void cs_snapshot_write_go(struct cs_wio *w);

/* map.c */
void cs_map_init(struct cs_map *m);
void cs_map_destroy(struct cs_map *m);
/* the slot of chunk idx, or -1; any context (RCU inside) */
s64 cs_map_lookup(struct cs_map *m, u64 idx);
int cs_map_store(struct cs_map *m, u64 idx, u64 slot, u64 nr_chunks);
/* bytes the chunk maps of all snapshots hold now (max_memory_mb bounds it) */
u64 cs_map_memory(void);
int cs_map_cache_init(void);
void cs_map_cache_exit(void);

/* image.c */
int cs_image_init(void);
void cs_image_exit(void);
int cs_image_add(struct cs_snapshot *s);
void cs_image_remove(struct cs_snapshot *s);
int cs_image_major(void);

/* netlink.c */
void cs_netlink_event(int cmd, struct cs_set *set, struct cs_tracker *t, gfp_t gfp);

#endif /* COWSNAP_CS_H */
