// SPDX-License-Identifier: GPL-2.0
/*
 * Chunk maps: which storage slot holds the take's copy of a chunk, one map
 * per snapshot.  A map only grows, until its snapshot is freed.
 *
 * The chunks are grouped by 64 (chunk >> 6); an xarray holds the groups
 * that have an entry.  A group is one of two shapes:
 *
 * - sparse: a list of runs, each "chunks first..first+len-1 of the group
 *   are in slots slot..slot+len-1", in the order they were added.  A store
 *   that continues a run (the next chunk, into the next slot: a sequential
 *   copy) lengthens it in place; any other store appends a run, in place
 *   while the allocation has room, else into a copy one size class larger
 *   that replaces the group (the old one is freed after a grace period).
 * - dense: the slot of each of the 64 chunks (slot + 1; 0: not copied).  A
 *   sparse group whose runs would no longer fit in kmalloc-256 (29 runs)
 *   becomes dense; a dense group is only ever written in place.
 *
 * So a chunk costs about 8 bytes when copies are scattered (one run in a
 * small allocation), nothing more when they are in order (a longer run),
 * and a whole group 536 bytes once it is dense.  An xarray with the slot
 * as its value costs a 576-byte node per 64 chunks that have any entry,
 * which is what scattered 4 KiB chunks made of it.
 *
 * Beside the groups, one bit per chunk says "copied" (set once its slot is
 * in its group): the question every origin write and image read asks
 * (cs_map_copied(), and cs_map_lookup() before it walks the xarray) is a
 * load of a directory entry and a bit.  The bits are in blocks of 512
 * bytes, one per 4096 chunks (BITS_CHUNKS, what a leaf of the group index
 * covers), allocated at the first store in their range; the directory (a
 * pointer per block) at the map's first store: 512 bytes per GiB of origin
 * at 4 KiB chunks.  Copies dense in a block's range cost a bit each; the
 * worst, one copy per 4096 chunks, costs a block per copy beside its group
 * and its leaf.
 *
 * Readers take no lock (RCU): a group is published by the xarray store
 * only once it is filled in, a run is appended before the count that makes
 * it visible (release/acquire), and an in-place change is one 64-bit store
 * that covers what the old value covered and one more chunk.  The chunk's
 * bit is set after its slot is visible (smp_mb__before_atomic()), and a
 * directory or a block of bits is published zeroed (release/acquire); both
 * are freed only with the map.  So a reader that finds the bit finds the
 * slot.  A reader racing a store finds the chunk or does not, as with any
 * map store; once cs_map_store() returned, every reader finds it.
 *
 * Locks: cs_map.lock (mutex) serialises a map's stores and its charge; it
 * is taken in process context with no other lock held (cow_finish()).
 * Stores allocate with GFP_NOIO and may wait in reclaim, never for I/O: a
 * store that failed would cost its whole set (INVALID, NOMEM), where a
 * copy's page that the allocator does not give at once has a reserve.
 * The total charge over all maps (map_total) is an atomic64, bounded by
 * max_memory_mb.
 */
#include <linux/bitops.h>
#include <linux/rcupdate.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/xarray.h>

#include "cs.h"

#define GROUP_SHIFT	6
#define GROUP_CHUNKS	(1U << GROUP_SHIFT)

/* a run: bits 0-5 its first chunk in the group, 6-12 its length, 13- its first slot */
#define RUN_LEN_SHIFT	GROUP_SHIFT
#define RUN_SLOT_SHIFT	(RUN_LEN_SHIFT + 7)
#define RUN_SLOT_MAX	(U64_MAX >> RUN_SLOT_SHIFT)
/* largest sparse group: its allocation at most this (kmalloc-256) */
#define SPARSE_MAX_BYTES	256

struct cs_map_group {
	struct rcu_head rcu;
	u32 n;			/* sparse: runs in use (release/acquire) */
	u16 cap;		/* sparse: runs that fit */
	bool dense;
	u64 e[];		/* runs, or GROUP_CHUNKS slots + 1 */
};

#define DENSE_BYTES	(sizeof(struct cs_map_group) + GROUP_CHUNKS * sizeof(u64))
/* what a dense group costs: its share of a slab page */
#define DENSE_COST	(PAGE_SIZE / (PAGE_SIZE / DENSE_BYTES))

/*
 * One xarray leaf holds 64 groups and is allocated with the first of them;
 * above the leaves there is about one interior node per 63 below.
 */
#define LEAF_COST	(sizeof(struct xa_node) + \
			 DIV_ROUND_UP(sizeof(struct xa_node), XA_CHUNK_SIZE - 1))

/* a block of "copied" bits: as many chunks as a leaf of the group index */
#define BITS_CHUNKS	CS_MAP_BITS_CHUNKS
#define BITS_BYTES	(BITS_CHUNKS / BITS_PER_BYTE)

static struct kmem_cache *dense_cache;
static atomic64_t map_total = ATOMIC64_INIT(0);

static u64 run_make(unsigned int first, unsigned int len, u64 slot)
{
	return (slot << RUN_SLOT_SHIFT) | ((u64)len << RUN_LEN_SHIFT) | first;
}

static unsigned int run_first(u64 r)
{
	return r & (GROUP_CHUNKS - 1);
}

static unsigned int run_len(u64 r)
{
	return (r >> RUN_LEN_SHIFT) & 0x7f;
}

static u64 run_slot(u64 r)
{
	return r >> RUN_SLOT_SHIFT;
}

static size_t group_bytes(const struct cs_map_group *g)
{
	return g->dense ? DENSE_COST : struct_size(g, e, g->cap);
}

static void group_free(struct cs_map_group *g)
{
	if (g->dense)
		kmem_cache_free(dense_cache, g);
	else
		kfree(g);
}

static void group_free_rcu(struct rcu_head *rcu)
{
	group_free(container_of(rcu, struct cs_map_group, rcu));
}

/* The slot of chunk off of g, or -1.  Under RCU. */
static s64 group_lookup(const struct cs_map_group *g, unsigned int off)
{
	unsigned int i, n;

	if (g->dense)
		return (s64)READ_ONCE(g->e[off]) - 1;
	n = smp_load_acquire(&g->n);
	for (i = 0; i < n; i++) {
		u64 r = READ_ONCE(g->e[i]);

		if (off - run_first(r) < run_len(r))
			return run_slot(r) + off - run_first(r);
	}
	return -1;
}

s64 cs_map_lookup(struct cs_map *m, u64 idx)
{
	struct cs_map_group *g;
	s64 slot = -1;

	if (!cs_map_copied(m, idx))
		return -1;
	smp_rmb();	/* the bit, then the slot set before it */
	rcu_read_lock();
	g = xa_load(&m->groups, idx >> GROUP_SHIFT);
	if (g)
		slot = group_lookup(g, idx & (GROUP_CHUNKS - 1));
	rcu_read_unlock();
	return slot;
}

/* max_memory_mb, or when that is 0 a quarter of RAM (module/README.md) */
static u64 map_limit(void)
{
	unsigned int mb = READ_ONCE(cs_max_memory_mb);

	if (mb)
		return (u64)mb << 20;
	return ((u64)totalram_pages() << PAGE_SHIFT) / 4;
}

/* Charge m bytes more: false, and nothing charged, past the limit. */
static bool map_charge(struct cs_map *m, s64 bytes)
{
	s64 old = atomic64_read(&map_total);
	u64 limit = map_limit();

	lockdep_assert_held(&m->lock);
	do {
		if (bytes > 0 && old + bytes > limit)
			return false;
	} while (!atomic64_try_cmpxchg(&map_total, &old, old + bytes));
	m->bytes += bytes;
	return true;
}

/* Try to record off -> slot in g in place.  Under m->lock. */
static bool group_store_in_place(struct cs_map_group *g, unsigned int off, u64 slot)
{
	unsigned int i;

	if (g->dense) {
		WRITE_ONCE(g->e[off], slot + 1);
		return true;
	}
	for (i = 0; i < g->n; i++) {
		u64 r = g->e[i];

		if (run_first(r) + run_len(r) == off && run_slot(r) + run_len(r) == slot) {
			WRITE_ONCE(g->e[i], run_make(run_first(r), run_len(r) + 1, run_slot(r)));
			return true;
		}
	}
	if (g->n < g->cap && slot <= RUN_SLOT_MAX) {
		WRITE_ONCE(g->e[g->n], run_make(off, 1, slot));
		smp_store_release(&g->n, g->n + 1);
		return true;
	}
	return false;
}

/*
 * A copy of old (NULL: none) with off -> slot added: one more run, or dense
 * when the runs would not fit a small allocation; nothing charged or
 * published.
 */
static struct cs_map_group *group_grow(const struct cs_map_group *old, unsigned int off,
				       u64 slot)
{
	unsigned int n = old ? old->n : 0, i, k;
	struct cs_map_group *g;
	size_t size = kmalloc_size_roundup(struct_size(g, e, n + 1));

	if (size <= SPARSE_MAX_BYTES && slot <= RUN_SLOT_MAX) {
		g = kmalloc(size, GFP_NOIO | __GFP_NOWARN);
		if (!g)
			return NULL;
		g->n = n + 1;
		g->cap = (size - sizeof(*g)) / sizeof(g->e[0]);
		g->dense = false;
		if (n)
			memcpy(g->e, old->e, n * sizeof(g->e[0]));
		g->e[n] = run_make(off, 1, slot);
		return g;
	}
	g = kmem_cache_zalloc(dense_cache, GFP_NOIO | __GFP_NOWARN);
	if (!g)
		return NULL;
	g->dense = true;
	for (i = 0; i < n; i++)
		for (k = 0; k < run_len(old->e[i]); k++)
			g->e[run_first(old->e[i]) + k] = run_slot(old->e[i]) + k + 1;
	g->e[off] = slot + 1;
	return g;
}

/* what kvcalloc() of n directory entries takes */
static size_t dir_cost(u64 n)
{
	size_t bytes = n * sizeof(unsigned long *);

	return bytes > PAGE_SIZE ? PAGE_ALIGN(bytes) : kmalloc_size_roundup(bytes);
}

/*
 * The block that holds chunk idx's bit, with the directory, allocated,
 * charged and published (zeroed) when missing.  Under m->lock; may wait
 * in reclaim, never for I/O.  0, -ENOSPC past max_memory_mb, -ENOMEM.
 */
static int bits_get(struct cs_map *m, u64 idx, u64 nr_chunks, unsigned long **bitsp)
{
	unsigned long **dir = m->dir, *bits;
	unsigned int noio;

	lockdep_assert_held(&m->lock);
	if (!dir) {
		u64 n = DIV_ROUND_UP(nr_chunks, BITS_CHUNKS);

		if (!map_charge(m, dir_cost(n)))
			return -ENOSPC;
		/* kvcalloc() honours GFP_NOIO only as a scope on older kernels */
		noio = memalloc_noio_save();
		dir = kvcalloc(n, sizeof(*dir), GFP_KERNEL | __GFP_NOWARN);
		memalloc_noio_restore(noio);
		if (!dir) {
			map_charge(m, -(s64)dir_cost(n));
			return -ENOMEM;
		}
		m->ndir = n;
		smp_store_release(&m->dir, dir);
	}
	bits = dir[idx / BITS_CHUNKS];
	if (!bits) {
		if (!map_charge(m, BITS_BYTES))
			return -ENOSPC;
		bits = kzalloc(BITS_BYTES, GFP_NOIO | __GFP_NOWARN);
		if (!bits) {
			map_charge(m, -BITS_BYTES);
			return -ENOMEM;
		}
		smp_store_release(&dir[idx / BITS_CHUNKS], bits);
	}
	*bitsp = bits;
	return 0;
}

/*
 * Record that chunk idx (of nr_chunks, the snapshot's) is in slot.
 * Process context, no lock held: it may wait for memory (GFP_NOIO).
 * Returns 0; -ENOSPC when the memory it needs would take all maps past
 * max_memory_mb (nothing stored); -ENOMEM when the allocator gave
 * nothing.  A chunk is stored once (its copy is busy until then); a second
 * store is a bug and keeps the first slot.
 */
int cs_map_store(struct cs_map *m, u64 idx, u64 slot, u64 nr_chunks)
{
	unsigned long gi = idx >> GROUP_SHIFT, at = round_down(gi, XA_CHUNK_SIZE);
	unsigned int off = idx & (GROUP_CHUNKS - 1);
	struct cs_map_group *old, *g;
	unsigned long *bits;
	s64 cost;
	int ret;

	if (WARN_ON_ONCE(slot >= S64_MAX || idx >= nr_chunks))
		return -EINVAL;
	mutex_lock(&m->lock);
	/* the bit's block first: a store that fails leaves no slot without it */
	ret = bits_get(m, idx, nr_chunks, &bits);
	if (ret)
		goto out;
	old = xa_load(&m->groups, gi);
	if (old && WARN_ON_ONCE(group_lookup(old, off) >= 0))
		goto out;
	if (old && group_store_in_place(old, off, slot))
		goto copied;
	g = group_grow(old, off, slot);
	if (!g) {
		ret = -ENOMEM;
		goto out;
	}
	cost = group_bytes(g) - (old ? group_bytes(old) : 0);
	if (!old && !xa_find(&m->groups, &at, at + XA_CHUNK_SIZE - 1, XA_PRESENT))
		cost += LEAF_COST;
	if (!map_charge(m, cost)) {
		group_free(g);
		ret = -ENOSPC;
		goto out;
	}
	ret = xa_err(xa_store(&m->groups, gi, g, GFP_NOIO | __GFP_NOWARN));
	if (ret) {
		map_charge(m, -cost);
		group_free(g);
		goto out;
	}
	if (old)
		call_rcu(&old->rcu, group_free_rcu);
copied:
	smp_mb__before_atomic();	/* the slot before the bit */
	set_bit(idx % BITS_CHUNKS, bits);
out:
	mutex_unlock(&m->lock);
	return ret;
}

void cs_map_init(struct cs_map *m)
{
	mutex_init(&m->lock);
	xa_init(&m->groups);
	m->dir = NULL;
	m->ndir = 0;
	m->bytes = 0;
}

/* No reader or store left: free the groups and give the charge back. */
void cs_map_destroy(struct cs_map *m)
{
	struct cs_map_group *g;
	unsigned long gi;
	u64 i;

	xa_for_each(&m->groups, gi, g)
		group_free(g);
	xa_destroy(&m->groups);
	for (i = 0; m->dir && i < m->ndir; i++)
		kfree(m->dir[i]);
	kvfree(m->dir);
	m->dir = NULL;
	atomic64_sub(m->bytes, &map_total);
	m->bytes = 0;
	mutex_destroy(&m->lock);
}

u64 cs_map_memory(void)
{
	return atomic64_read(&map_total);
}

int cs_map_cache_init(void)
{
	dense_cache = kmem_cache_create("cowsnap_map_dense", DENSE_BYTES,
					__alignof__(struct cs_map_group), 0, NULL);
	return dense_cache ? 0 : -ENOMEM;
}

/* After every map is destroyed. */
void cs_map_cache_exit(void)
{
	rcu_barrier();	/* groups replaced by stores */
	kmem_cache_destroy(dense_cache);
}
