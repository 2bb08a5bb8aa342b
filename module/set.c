// SPDX-License-Identifier: GPL-2.0
/*
 * Shadow copy sets: DEFINING -> TAKEN -> (INVALID) -> destroyed.  Only one
 * set may be DEFINING at a time; its volumes are marked.  The set's owner is
 * the netlink socket that created it: when that socket closes, a DEFINING
 * set is aborted and an AUTO_RELEASE set destroyed.
 *
 * Take (rule 3): freeze every volume's filesystem, hold new writes on every
 * volume, drain the writes in flight, start copy-on-write on every volume,
 * release the held writes, thaw.  Every step is undone on any failure, and
 * nothing stays frozen or held past the take.
 */
#include <linux/completion.h>
#include <linux/jiffies.h>
#include <linux/module.h>
#include <linux/netlink.h>
#include <linux/notifier.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/timekeeping.h>
#include <net/net_namespace.h>

#include "cs.h"

DEFINE_MUTEX(cs_lock);
static LIST_HEAD(sets);		/* cs_lock */
static u64 next_set_id = 1;	/* cs_lock */
/*
 * portid -> number of sets it owns; changed under cs_lock, read lock-free
 * by urelease(), which runs for every generic-netlink socket that closes
 * and must not wait for cs_lock (held through a take) unless the socket
 * owns a set.
 */
static DEFINE_XARRAY(owners);

static int owner_add(u32 portid)
{
	unsigned long n = xa_to_value(xa_load(&owners, portid) ?: xa_mk_value(0));

	lockdep_assert_held(&cs_lock);
	return xa_err(xa_store(&owners, portid, xa_mk_value(n + 1), GFP_KERNEL));
}

static void owner_drop(u32 portid)
{
	unsigned long n = xa_to_value(xa_load(&owners, portid) ?: xa_mk_value(0));

	lockdep_assert_held(&cs_lock);
	if (n > 1)
		xa_store(&owners, portid, xa_mk_value(n - 1), GFP_KERNEL);
	else
		xa_erase(&owners, portid);
}

void cs_set_get(struct cs_set *set)
{
	kref_get(&set->kref);
}

static void set_free_work(struct work_struct *work)
{
	struct cs_set *set = container_of(work, struct cs_set, free_work);

	struct cs_resident *res = rcu_dereference_protected(set->resident, true), *older;

	cs_storage_release(&set->storage);
	for (; res; res = older) {
		older = res->older;
		kvfree(res);
	}
	kfree(set);
}

/* Storage devices are closed from a work item, as origins are. */
static void set_free(struct kref *kref)
{
	struct cs_set *set = container_of(kref, struct cs_set, kref);

	INIT_WORK(&set->free_work, set_free_work);
	queue_work(cs_wq, &set->free_work);
}

void cs_set_put(struct cs_set *set)
{
	kref_put(&set->kref, set_free);
}

int cs_set_state(const struct cs_set *set)
{
	return atomic_read(&set->cause) ? COWSNAP_SET_INVALID : set->state;
}

/*
 * The set's events, in a fixed order whatever the contexts that asked for
 * them: STORAGE_LOW before SET_INVALID.  Two work items on the unbound
 * workqueue ran in either order, and the copy that found the storage full
 * could even ask before the one that had crossed the low water (preempted
 * between its slot and its request).  So SET_INVALID first tells a low
 * water the storage crossed and nobody told yet (low_gen), and that
 * crossing is told once; SET_INVALID is told once, once there is a
 * cause.  A work item never runs beside itself: low_told and invalid_told
 * need no lock.
 */
static void event_work(struct work_struct *work)
{
	struct cs_set *set = container_of(work, struct cs_set, event_work);
	u32 gen = READ_ONCE(set->storage.low_gen);

	if (gen != set->low_told) {
		set->low_told = gen;
		cs_netlink_event(COWSNAP_CMD_EVENT_STORAGE_LOW, set, NULL, GFP_NOIO);
	}
	if (atomic_read(&set->cause) && !set->invalid_told) {
		set->invalid_told = true;
		pr_warn("set %llu is invalid (cause %d)\n", set->id, atomic_read(&set->cause));
		cs_netlink_event(COWSNAP_CMD_EVENT_SET_INVALID, set, NULL, GFP_NOIO);
	}
	cs_set_put(set);
}

/* Run event_work(); it holds a reference while queued. */
static void set_event(struct cs_set *set)
{
	cs_set_get(set);
	if (!queue_work(cs_wq, &set->event_work))
		cs_set_put(set);
}

/*
 * The set's copy-on-write stops (every path checks cause) and its images
 * fail reads from now on.  Any context.
 */
void cs_set_invalidate(struct cs_set *set, int cause)
{
	if (atomic_cmpxchg(&set->cause, 0, cause))
		return;
	set_event(set);
}

/* The storage crossed the low water (cs_storage_alloc() said so). */
void cs_set_storage_low(struct cs_set *set)
{
	set_event(set);
}

struct cs_set *cs_set_find(u64 id)
{
	struct cs_set *set;

	lockdep_assert_held(&cs_lock);
	list_for_each_entry(set, &sets, node)
		if (set->id == id)
			return set;
	return NULL;
}

/* The set with the smallest id > after, for dumps. */
struct cs_set *cs_set_next(u64 after)
{
	struct cs_set *set;

	lockdep_assert_held(&cs_lock);
	list_for_each_entry(set, &sets, node)	/* ids ascend along the list */
		if (set->id > after)
			return set;
	return NULL;
}


int cs_set_new(u32 flags, u32 chunk_sectors, u32 hold_ms, const char *name,
	       const struct nlattr *name_attr, u32 portid, struct net *net,
	       struct netlink_ext_ack *extack, u64 *id)
{
	struct cs_set *set;

	lockdep_assert_held(&cs_lock);
	if (name && !cowsnap_set_name_valid(name)) {
		NL_SET_ERR_MSG_ATTR(extack, name_attr, "invalid set name: 1 to 64 of "
				    "A-Z a-z 0-9 _ . + -, not starting with - or ., "
				    "not only digits");
		return -EINVAL;
	}
	if ((flags & COWSNAP_SET_F_AUTO_RELEASE) && (flags & COWSNAP_SET_F_PERSISTENT)) {
		NL_SET_ERR_MSG(extack, "a set cannot be both auto-release and persistent");
		return -EINVAL;
	}
	if (!is_power_of_2(chunk_sectors) || chunk_sectors < 8 || chunk_sectors > 131072) {
		NL_SET_ERR_MSG(extack, "chunk size must be a power of two, 8..131072 sectors");
		return -EINVAL;
	}
	list_for_each_entry(set, &sets, node) {
		if (set->state == COWSNAP_SET_DEFINING) {
			NL_SET_ERR_MSG(extack, "another set is being defined");
			return -EBUSY;
		}
	}
	/* the name is unique among the sets not yet destroyed */
	list_for_each_entry(set, &sets, node) {
		if (name && !strcmp(set->name, name)) {
			NL_SET_ERR_MSG_ATTR(extack, name_attr, "another set has this name");
			return -EEXIST;
		}
	}
	set = kzalloc(sizeof(*set), GFP_KERNEL);
	if (!set)
		return -ENOMEM;
	if (portid && owner_add(portid)) {
		kfree(set);
		return -ENOMEM;
	}
	kref_init(&set->kref);
	set->id = next_set_id++;
	if (name)
		strscpy(set->name, name, sizeof(set->name));
	set->state = COWSNAP_SET_DEFINING;
	set->flags = flags;
	set->chunk_sectors = chunk_sectors;
	set->hold_ms = hold_ms;
	set->owner_portid = portid;
	set->owner_net = net;
	set->created_ns = ktime_get_real_ns();
	cs_storage_init(&set->storage, chunk_sectors);
	INIT_WORK(&set->event_work, event_work);
	atomic_set(&set->copies, 0);
	init_waitqueue_head(&set->copies_wq);
	list_add_tail(&set->node, &sets);
	*id = set->id;
	return 0;
}

static bool set_has(struct cs_set *set, struct cs_tracker *t)
{
	unsigned int i;

	for (i = 0; i < set->nvol; i++)
		if (set->vols[i].t == t)
			return true;
	return false;
}

int cs_set_add_volume(struct cs_set *set, dev_t dev, struct netlink_ext_ack *extack)
{
	struct cs_storage *holder;
	struct cs_tracker *t;
	int ret;

	lockdep_assert_held(&cs_lock);
	if (set->state != COWSNAP_SET_DEFINING || atomic_read(&set->cause)) {
		NL_SET_ERR_MSG(extack, "set is not being defined");
		return -ESTALE;
	}
	if (set->nvol == CS_MAX_VOLUMES) {
		NL_SET_ERR_MSG(extack, "too many volumes in one set");
		return -ENOSPC;
	}
	t = cs_tracker_get_or_create(dev, set->chunk_sectors, extack);
	if (IS_ERR(t))
		return PTR_ERR(t);
	ret = -EEXIST;
	if (set_has(set, t)) {
		NL_SET_ERR_MSG(extack, "volume is already in this set");
		goto err;
	}
	ret = -EBUSY;
	if (t->mark_set_id && t->mark_set_id != set->id) {
		NL_SET_ERR_MSG(extack, "volume is marked by another set");
		goto err;
	}
	if (atomic_read(&t->gone)) {
		ret = -ENODEV;
		NL_SET_ERR_MSG(extack, "volume is being deleted");
		goto err;
	}
	ret = -ENOSPC;
	if (t->nsnap >= READ_ONCE(cs_max_snapshots_per_volume)) {
		NL_SET_ERR_MSG(extack, "volume has max_snapshots_per_volume snapshots");
		goto err;
	}
	ret = -EINVAL;
	if (cs_storage_lbs(&set->storage) > bdev_logical_block_size(t->origin.bdev)) {
		NL_SET_ERR_MSG(extack, "volume has smaller logical blocks than the set's storage");
		goto err;
	}
	ret = -EBUSY;
	holder = cs_storage_overlaps(t->origin.bdev, 0, bdev_nr_sectors(t->origin.bdev), NULL);
	if (holder == &set->storage) {
		NL_SET_ERR_MSG(extack, "volume holds this set's storage: add the volumes "
			       "before the storage");
		goto err;
	}
	if (holder) {
		NL_SET_ERR_MSG(extack, "volume holds another set's difference storage (files "
			       "on its filesystem, or the device itself): delete that set "
			       "first, or keep its storage elsewhere");
		goto err;
	}
	cs_tracker_use(t);
	t->mark_set_id = set->id;
	set->vols[set->nvol++].t = t;
	return 0;
err:
	if (!t->users)
		cs_tracker_unuse(t);
	return ret;
}

/*
 * Whether [start, start + len) of bdev lies inside the set's zero table
 * (places are merged: one place must hold all of it).
 */
static bool zero_covers(struct cs_set *set, struct block_device *bdev, sector_t start,
			sector_t len)
{
	const struct cs_resident *res = rcu_dereference_protected(set->resident,
								  lockdep_is_held(&cs_lock));
	sector_t at = start + bdev->bd_start_sect;
	unsigned int i;

	for (i = 0; res && i < res->n; i++)
		if (res->p[i].disk == bdev->bd_disk && res->p[i].start <= at &&
		    at + len <= res->p[i].end)
			return true;
	return false;
}

/*
 * Where storage may lie.  Copies are written to storage past the filter,
 * never copied on write themselves: so storage must not lie on a tracked
 * volume, except a pinned file's extent on a volume of its own set that no
 * other set holds ("resident" storage: only this set's images see those
 * sectors, and they read them as zeros).  Such a volume then stays out of
 * other sets (cs_set_add_volume()) while this one lives.
 */
static int storage_place_ok(void *arg, struct cs_storage_range *r,
			    struct netlink_ext_ack *extack)
{
	struct cs_set *set = arg;
	unsigned long index = 0;
	struct cs_tracker *t;

	lockdep_assert_held(&cs_lock);
	for (; (t = cs_tracker_next(&index)); index++) {
		if (!cs_same_place(r->dev.bdev, r->start, r->len, t->origin.bdev, 0,
				   bdev_nr_sectors(t->origin.bdev)))
			continue;
		if (!r->in_file || !set_has(set, t)) {
			NL_SET_ERR_MSG(extack, "storage range overlaps a tracked volume");
			return -EBUSY;
		}
		/*
		 * After the take, a file's new extents may be blocks the image
		 * still uses (freed on the origin since): copies there would
		 * overwrite them.  Not where the image reads zeros whatever
		 * lies there: free at the take (SET_ADD_FREE), or this set's
		 * storage.
		 */
		if (set->state != COWSNAP_SET_DEFINING &&
		    !zero_covers(set, r->dev.bdev, r->start, r->len)) {
			NL_SET_ERR_MSG(extack, "storage added after the take may lie on a "
				       "volume of the set only where the image reads zeros "
				       "(free at the take, SET_ADD_FREE): its other blocks may "
				       "still hold the image's data; grow on another device or "
				       "filesystem");
			return -EBUSY;
		}
		/*
		 * The image reads these sectors as zeros (cs_snapshot_read()):
		 * writes there would not read back.
		 */
		if (set->flags & COWSNAP_SET_F_WRITABLE) {
			NL_SET_ERR_MSG(extack, "a writable set cannot keep its storage in files on "
				       "its own volumes: keep it on another device or filesystem");
			return -EINVAL;
		}
		/* users: every set holding t, and one more while CBT keeps it */
		if (t->users - t->keep > 1) {
			NL_SET_ERR_MSG(extack, "storage file lies on a volume that another set "
				       "holds too: keep this set's storage elsewhere");
			return -EBUSY;
		}
		r->resident = true;
	}
	return 0;
}

static int resident_cmp(const void *a, const void *b)
{
	const struct cs_resident_place *x = a, *y = b;

	if (x->disk != y->disk)
		return x->disk < y->disk ? -1 : 1;
	return x->start < y->start ? -1 : x->start > y->start;
}

/*
 * Publish the set's zero table with n more places (any order, may overlap
 * each other and the table): sorted by disk and start, overlapping and
 * touching places merged, so that cs_snapshot_read()'s binary search and
 * zero_covers() see disjoint places.  The superseded table stays, linked
 * from the new one, until the set is freed: an image read may still be
 * using it (it may sleep holding it), and as places are only ever added,
 * what it says is still true.
 */
static int zero_publish(struct cs_set *set, const struct cs_resident_place *add,
			unsigned int n, struct netlink_ext_ack *extack)
{
	struct cs_resident *old = rcu_dereference_protected(set->resident,
							    lockdep_is_held(&cs_lock));
	unsigned int have = old ? old->n : 0, i, k;
	struct cs_resident *res;

	lockdep_assert_held(&cs_lock);
	res = kvmalloc(struct_size(res, p, have + n), GFP_KERNEL);
	if (!res)
		return -ENOMEM;
	if (have)
		memcpy(res->p, old->p, have * sizeof(res->p[0]));
	memcpy(res->p + have, add, n * sizeof(res->p[0]));
	sort(res->p, have + n, sizeof(res->p[0]), resident_cmp, NULL);
	for (i = 0, k = 0; i < have + n; i++) {
		if (k && res->p[k - 1].disk == res->p[i].disk &&
		    res->p[i].start <= res->p[k - 1].end) {
			res->p[k - 1].end = max(res->p[k - 1].end, res->p[i].end);
			continue;
		}
		res->p[k++] = res->p[i];
	}
	if (k > COWSNAP_ZERO_PLACES_MAX) {
		kvfree(res);
		NL_SET_ERR_MSG(extack, "too many places in the set's zero table");
		return -ENOSPC;
	}
	res->n = k;
	res->older = old;
	rcu_assign_pointer(set->resident, res);
	return 0;
}

int cs_set_add_storage(struct cs_set *set, dev_t dev, sector_t start,
		       sector_t len, bool in_file, struct netlink_ext_ack *extack)
{
	int state = cs_set_state(set);
	unsigned int i, max_lbs = UINT_MAX;
	struct cs_storage_range *r;

	lockdep_assert_held(&cs_lock);
	if (state != COWSNAP_SET_DEFINING && state != COWSNAP_SET_TAKEN) {
		NL_SET_ERR_MSG(extack, "set is invalid");
		return -ESTALE;
	}
	for (i = 0; i < set->nvol; i++)
		max_lbs = min(max_lbs, bdev_logical_block_size(set->vols[i].t->origin.bdev));
	r = cs_storage_prepare(&set->storage, dev, start, len, in_file, max_lbs,
			       storage_place_ok, set, extack);
	if (IS_ERR(r))
		return PTR_ERR(r);
	/* after the take it lies inside the zero table already */
	if (r->resident && set->state == COWSNAP_SET_DEFINING) {
		struct cs_resident_place p = {
			.disk = r->dev.bdev->bd_disk,
			.start = r->start + r->dev.bdev->bd_start_sect,
			.end = r->start + r->dev.bdev->bd_start_sect + r->len,
		};
		int ret = zero_publish(set, &p, 1, extack);

		if (ret) {
			cs_storage_drop(r);
			return ret;
		}
	}
	cs_storage_commit(&set->storage, r);
	return 0;
}

int cs_set_add_free(struct cs_set *set, dev_t dev, const struct cowsnap_range *rg,
		    unsigned int n, const struct nlattr *attr, struct netlink_ext_ack *extack)
{
	struct cs_resident_place *add;
	struct block_device *bdev;
	struct cs_snapshot *s = NULL;
	unsigned int i;
	int ret;

	lockdep_assert_held(&cs_lock);
	if (cs_set_state(set) != COWSNAP_SET_TAKEN) {
		NL_SET_ERR_MSG(extack, "set is not taken (or is invalid)");
		return -ESTALE;
	}
	/* an image that keeps its own writes must read them back, zeros never */
	if (set->flags & COWSNAP_SET_F_WRITABLE) {
		NL_SET_ERR_MSG(extack, "a writable set's images read back their own writes: "
			       "their free space cannot read as zeros");
		return -EINVAL;
	}
	for (i = 0; i < set->nvol; i++)
		if (set->vols[i].t->devt == dev)
			s = set->vols[i].s;
	if (!s) {
		NL_SET_ERR_MSG(extack, "device is not a volume of the set");
		return -EINVAL;
	}
	bdev = s->t->origin.bdev;
	for (i = 0; i < n; i++) {
		if (!rg[i].len || rg[i].start >= s->sectors ||
		    rg[i].len > s->sectors - rg[i].start) {
			NL_SET_ERR_MSG_ATTR(extack, attr, "free range empty or past the end of "
					    "the volume at the take");
			return -EINVAL;
		}
	}
	add = kvmalloc_array(n, sizeof(*add), GFP_KERNEL);
	if (!add)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		add[i].disk = bdev->bd_disk;
		add[i].start = rg[i].start + bdev->bd_start_sect;
		add[i].end = add[i].start + rg[i].len;
	}
	ret = zero_publish(set, add, n, extack);
	kvfree(add);
	return ret;
}

int cs_set_get_zero(struct cs_set *set, dev_t dev, u64 *from, struct cowsnap_range *out,
		    unsigned int max, struct netlink_ext_ack *extack)
{
	const struct cs_resident *res = rcu_dereference_protected(set->resident,
								  lockdep_is_held(&cs_lock));
	struct block_device *bdev = NULL;
	sector_t first, end, at;
	unsigned int i, lo, hi, n = 0;

	lockdep_assert_held(&cs_lock);
	for (i = 0; i < set->nvol; i++)
		if (set->vols[i].t->devt == dev)
			bdev = set->vols[i].t->origin.bdev;
	if (!bdev) {
		NL_SET_ERR_MSG(extack, "device is not a volume of the set");
		return -EINVAL;
	}
	/* the volume's part of its disk, as the table counts sectors */
	first = bdev->bd_start_sect;
	end = first + bdev_nr_sectors(bdev);
	at = *from < end - first ? first + *from : end;
	*from = 0;
	if (!res || at >= end)
		return 0;
	/* the first place on the disk that ends after at (places are disjoint
	 * and sorted by disk and start, so by end too within a disk) */
	lo = 0;
	hi = res->n;
	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;
		const struct cs_resident_place *p = &res->p[mid];

		if (p->disk < bdev->bd_disk || (p->disk == bdev->bd_disk && p->end <= at))
			lo = mid + 1;
		else
			hi = mid;
	}
	for (i = lo; i < res->n && res->p[i].disk == bdev->bd_disk && res->p[i].start < end;
	     i++) {
		sector_t s = max(res->p[i].start, at), e = min(res->p[i].end, end);

		if (n == max) {
			*from = s - first;
			break;
		}
		out[n].start = s - first;
		out[n].len = e - s;
		n++;
	}
	return n;
}

/* Thaw the first n volumes of order, last frozen first. */
static void thaw(struct cs_set *set, const u8 *order, unsigned int n)
{
	while (n--) {
		struct cs_tracker *t = set->vols[order[n]].t;
		int ret = bdev_thaw(t->origin.bdev);

		if (ret && ret != -EINVAL)
			pr_warn("thawing %s failed: %d\n", t->name, ret);
	}
}

struct cs_freeze {
	struct work_struct work;
	struct block_device *bdev;
	struct completion done;
	int ret;
};

static void freeze_work(struct work_struct *work)
{
	struct cs_freeze *f = container_of(work, struct cs_freeze, work);

	f->ret = bdev_freeze(f->bdev);
	complete(&f->done);
}

/* How long the next step of a take may wait: the set's hold time, and no
 * later than end; 0 once end has passed. */
static unsigned long step_wait(const struct cs_set *set, unsigned long end)
{
	unsigned long wait = msecs_to_jiffies(set->hold_ms);

	if (!time_before(jiffies, end))
		return 0;
	return min(wait, end - jiffies);
}

/*
 * Freeze the volumes' filesystems one at a time, in an order that works.
 * A volume can depend on another of the set: a loop device backed by a
 * file on it cannot freeze (its filesystem's last writes go to that file)
 * once the other is frozen.  Each freeze runs in a work item and gets the
 * hold time; one that does not finish by then is stuck behind a volume
 * frozen before it: the volumes frozen so far are thawed (which lets it
 * finish), it is thawed too, and the round starts again with it first.
 * After as many rounds as volumes, or past end (the take's bound), the take
 * fails.  Nothing stays frozen on any path.  On success order[] is the
 * order the volumes were frozen in.
 */
static int freeze_ordered(struct cs_set *set, u8 *order, unsigned long end,
			  struct netlink_ext_ack *extack)
{
	unsigned long wait;
	unsigned int round, k, j;
	struct cs_freeze f;

	for (round = 0; round < set->nvol; round++) {
		for (k = 0; k < set->nvol; k++) {
			struct cs_tracker *t = set->vols[order[k]].t;

			wait = step_wait(set, end);
			if (!wait) {
				thaw(set, order, k);
				NL_SET_ERR_MSG(extack, "freezing the volumes did not finish within "
					       "the take's bound");
				return -ETIMEDOUT;
			}
			INIT_WORK_ONSTACK(&f.work, freeze_work);
			init_completion(&f.done);
			f.bdev = t->origin.bdev;
			queue_work(system_unbound_wq, &f.work);
			if (wait_for_completion_timeout(&f.done, wait)) {
				flush_work(&f.work);
				destroy_work_on_stack(&f.work);
				if (!f.ret)
					continue;
				thaw(set, order, k);
				NL_SET_ERR_MSG(extack, "freezing a volume failed");
				return f.ret;
			}
			pr_info("set %llu: freezing %s waits for a volume frozen before it; trying it first\n",
				set->id, t->name);
			thaw(set, order, k);
			wait_for_completion(&f.done);
			flush_work(&f.work);
			destroy_work_on_stack(&f.work);
			if (!f.ret)
				bdev_thaw(t->origin.bdev);
			j = order[k];
			memmove(order + 1, order, k);
			order[0] = j;
			break;
		}
		if (k == set->nvol)
			return 0;
	}
	NL_SET_ERR_MSG(extack, "freezing the volumes did not finish in any order (a volume depends on another?)");
	return -ETIMEDOUT;
}

/*
 * Freeze every volume's filesystem: all at once first, each in its own work
 * item, so that a take waits for the slowest freeze rather than their sum.
 * When every freeze is done within the hold time, that is all (order[]
 * stays as it is: independent volumes, any order is one).  A freeze that
 * fails thaws the others and fails the take.  A freeze not done by then
 * waits for a volume that froze beside it (a loop device on another
 * volume's filesystem): the frozen ones are thawed, which lets it finish,
 * it is thawed too, and freeze_ordered() takes over with the volumes that
 * waited first.  Nothing stays frozen on any path.
 */
static int freeze_all(struct cs_set *set, u8 *order, unsigned long end,
		      struct netlink_ext_ack *extack)
{
	unsigned int i, nstuck = 0, left, n = set->nvol;
	bool waits[CS_MAX_VOLUMES] = { };
	u8 stuck[CS_MAX_VOLUMES];
	unsigned long deadline;
	struct cs_freeze *f;
	int ret = 0;

	if (n == 1 || !step_wait(set, end))
		return freeze_ordered(set, order, end, extack);
	f = kcalloc(n, sizeof(*f), GFP_KERNEL);
	if (!f)
		return freeze_ordered(set, order, end, extack);
	deadline = jiffies + step_wait(set, end);
	for (i = 0; i < n; i++) {
		INIT_WORK(&f[i].work, freeze_work);
		init_completion(&f[i].done);
		f[i].bdev = set->vols[order[i]].t->origin.bdev;
		queue_work(system_unbound_wq, &f[i].work);
	}
	for (i = 0; i < n; i++) {
		unsigned long now = jiffies;

		if (!wait_for_completion_timeout(&f[i].done,
						 time_before(now, deadline) ? deadline - now : 1)) {
			waits[i] = true;
			stuck[nstuck++] = order[i];
		} else if (f[i].ret && !ret) {
			ret = f[i].ret;
		}
	}
	if (!nstuck && !ret) {
		kfree(f);
		return 0;
	}
	if (nstuck)
		pr_info("set %llu: %u of %u volumes did not freeze beside the others; freezing them one at a time\n",
			set->id, nstuck, n);
	/*
	 * Thaw what froze in time, then each volume that was still freezing as
	 * soon as its freeze is done: it may be what another one waits for.
	 */
	for (i = 0; i < n; i++)
		if (!waits[i] && !f[i].ret)
			bdev_thaw(f[i].bdev);
	for (left = nstuck; left; ) {
		for (i = 0; i < n; i++) {
			if (!waits[i] || !wait_for_completion_timeout(&f[i].done, HZ / 50))
				continue;
			waits[i] = false;
			left--;
			if (!f[i].ret)
				bdev_thaw(f[i].bdev);
			else if (!ret)
				ret = f[i].ret;
		}
	}
	for (i = 0; i < n; i++)
		flush_work(&f[i].work);
	kfree(f);
	if (ret) {
		NL_SET_ERR_MSG(extack, "freezing a volume failed");
		return ret;
	}
	/* the volumes that waited first, the others after them */
	for (i = 0; i < n; i++)
		if (!memchr(stuck, order[i], nstuck))
			stuck[nstuck++] = order[i];
	memcpy(order, stuck, n);
	return freeze_ordered(set, order, end, extack);
}

struct cs_take_map {
	u8 *map;
	sector_t sectors;
};

/* Maps prepared and not used, or replaced at the take. */
static void free_maps(struct cs_take_map *maps, unsigned int n)
{
	while (n--)
		cs_tracker_free_map(maps[n].map);
	kfree(maps);
}

int cs_set_take(struct cs_set *set, u32 flags, u32 bound_ms, struct netlink_ext_ack *extack)
{
	struct cs_take_map *maps;
	u8 order[CS_MAX_VOLUMES];
	unsigned int i, frozen = 0;
	unsigned long deadline, end;
	int ret;

	lockdep_assert_held(&cs_lock);
	if (set->state != COWSNAP_SET_DEFINING || atomic_read(&set->cause)) {
		NL_SET_ERR_MSG(extack, "set is not being defined");
		return -ESTALE;
	}
	if (!set->nvol) {
		NL_SET_ERR_MSG(extack, "set has no volume");
		return -EINVAL;
	}
	if (!READ_ONCE(set->storage.total_slots)) {
		NL_SET_ERR_MSG(extack, "set has no storage");
		return -EINVAL;
	}
	/* a new changed-block map for each origin that changed size */
	maps = kcalloc(set->nvol, sizeof(*maps), GFP_KERNEL);
	if (!maps)
		return -ENOMEM;
	for (i = 0; i < set->nvol; i++) {
		struct cs_tracker *t = set->vols[i].t;
		struct cs_snapshot *s;

		maps[i].sectors = bdev_nr_sectors(t->origin.bdev);
		maps[i].map = cs_cbt_prepare(&t->cbt, maps[i].sectors);
		if (maps[i].sectors != t->cbt.sectors && !maps[i].map) {
			ret = -ENOMEM;
			goto err_snap;
		}
		s = cs_snapshot_create(set, t);
		if (IS_ERR(s)) {
			ret = PTR_ERR(s);
			goto err_snap;
		}
		set->vols[i].s = s;
	}

	for (i = 0; i < set->nvol; i++)
		order[i] = i;
	/* without a bound for the whole take, each step has the hold time */
	end = jiffies + (bound_ms ? msecs_to_jiffies(bound_ms) : MAX_JIFFY_OFFSET);
	if (!(flags & COWSNAP_TAKE_F_NO_FREEZE)) {
		ret = freeze_all(set, order, end, extack);
		if (ret)
			goto err_thaw;
		frozen = set->nvol;
	}
	/* the hold is bounded from here, and by the take's bound */
	deadline = jiffies + step_wait(set, end);
	for (i = 0; i < set->nvol; i++)
		cs_tracker_hold(set->vols[i].t);
	ret = 0;
	for (i = 0; i < set->nvol && !ret; i++)
		ret = cs_tracker_drain(set->vols[i].t, deadline);
	if (ret) {
		NL_SET_ERR_MSG(extack, "writes in flight did not drain within hold_ms");
	} else {
		/* the instant of the snapshot, for every volume at once */
		for (i = 0; i < set->nvol; i++) {
			struct cs_snapshot *s = set->vols[i].s;
			struct cs_tracker *t = s->t;

			s->sectors = bdev_nr_sectors(t->origin.bdev);
			s->nr_chunks = (s->sectors + set->chunk_sectors - 1) >>
				       t->chunk_shift;
			if (maps[i].map)
				maps[i].map = cs_cbt_switch(&t->cbt, maps[i].map,
							    maps[i].sectors);
			s->cbt_seq = cs_cbt_take(&t->cbt, &s->cbt_generation);
			cs_tracker_add_snapshot(t, s);
		}
		set->state = COWSNAP_SET_TAKEN;
		set->taken_ns = ktime_get_real_ns();
	}
	for (i = 0; i < set->nvol; i++)
		cs_tracker_release_held(set->vols[i].t);
err_thaw:
	thaw(set, order, frozen);
	if (ret)
		goto err_snap;

	for (i = 0; i < set->nvol; i++) {
		struct cs_tracker *t = set->vols[i].t;

		t->mark_set_id = 0;
		t->nsnap++;
	}
	for (i = 0; i < set->nvol; i++) {
		ret = cs_image_add(set->vols[i].s);
		if (ret) {
			NL_SET_ERR_MSG(extack, "cannot create the image disk");
			cs_set_invalidate(set, COWSNAP_INVALID_NOMEM);
			free_maps(maps, set->nvol);
			return ret;
		}
	}
	free_maps(maps, set->nvol);
	pr_info("set %llu taken: %u volume(s)\n", set->id, set->nvol);
	cs_netlink_event(COWSNAP_CMD_EVENT_SET_TAKEN, set, NULL, GFP_KERNEL);
	return 0;

err_snap:
	for (i = 0; i < set->nvol; i++) {
		if (set->vols[i].s) {
			cs_snapshot_put(set->vols[i].s);
			set->vols[i].s = NULL;
		}
	}
	free_maps(maps, set->nvol);
	return ret;
}

/*
 * A writable set's images turn read-only for good (auto-recovery done).
 * Under cs_lock: the flags change here only, the image disks live while
 * the set is TAKEN.  Image writes that read the flag before it left go on
 * (cs_snapshot_write()); later ones take the read path, which fails them.
 */
int cs_set_seal(struct cs_set *set, struct netlink_ext_ack *extack)
{
	unsigned int i;

	lockdep_assert_held(&cs_lock);
	if (cs_set_state(set) != COWSNAP_SET_TAKEN) {
		NL_SET_ERR_MSG(extack, "only a taken set can be sealed");
		return -ESTALE;
	}
	if (!(set->flags & COWSNAP_SET_F_WRITABLE))
		return 0;
	WRITE_ONCE(set->flags, set->flags & ~COWSNAP_SET_F_WRITABLE);
	for (i = 0; i < set->nvol; i++)
		if (set->vols[i].s && set->vols[i].s->disk)
			set_disk_ro(set->vols[i].s->disk, true);
	return 0;
}

/* Destroy a set in any state. */
void cs_set_destroy(struct cs_set *set)
{
	unsigned int i;

	lockdep_assert_held(&cs_lock);
	WRITE_ONCE(set->dead, true);
	list_del_init(&set->node);
	if (set->owner_portid) {
		owner_drop(set->owner_portid);
		set->owner_portid = 0;
	}
	for (i = 0; i < set->nvol; i++) {
		struct cs_tracker *t = set->vols[i].t;
		struct cs_snapshot *s = set->vols[i].s;

		if (s) {
			cs_tracker_remove_snapshot(t, s);
			cs_image_remove(s);
			t->nsnap--;
			set->vols[i].s = NULL;
			cs_snapshot_put(s);
		}
		if (t->mark_set_id == set->id)
			t->mark_set_id = 0;
		set->vols[i].t = NULL;
		cs_tracker_unuse(t);
	}
	/*
	 * No copy picks this set any more (its snapshots left the trackers);
	 * the ones that did may still be writing to its storage.  Only after
	 * them may the ranges be given to another set.  An image write counts
	 * itself in copies before it reads dead: pairs with the barrier in
	 * cs_snapshot_write_go(), so that one of the two sees the other.
	 */
	smp_mb();
	wait_event(set->copies_wq, !atomic_read(&set->copies));
	cs_storage_unlist(&set->storage);
	cs_netlink_event(COWSNAP_CMD_EVENT_SET_DESTROYED, set, NULL, GFP_KERNEL);
	cs_set_put(set);
}

/* An origin was deleted: every set holding it is invalid. */
void cs_set_volume_gone(struct cs_tracker *t)
{
	struct cs_set *set;

	mutex_lock(&cs_lock);
	list_for_each_entry(set, &sets, node)
		if (set_has(set, t))
			cs_set_invalidate(set, COWSNAP_INVALID_VOLUME_GONE);
	mutex_unlock(&cs_lock);
}

int cs_volume_track(dev_t dev, struct netlink_ext_ack *extack)
{
	struct cs_tracker *t;

	lockdep_assert_held(&cs_lock);
	/* an existing tracker keeps its chunk size */
	t = cs_tracker_lookup(dev);
	if (!t)
		t = cs_tracker_get_or_create(dev, READ_ONCE(cs_chunk_sectors), extack);
	if (IS_ERR(t))
		return PTR_ERR(t);
	if (t->keep)
		return 0;
	t->keep = true;
	cs_tracker_use(t);
	return 0;
}

int cs_volume_untrack(dev_t dev, struct netlink_ext_ack *extack)
{
	struct cs_tracker *t;

	lockdep_assert_held(&cs_lock);
	t = cs_tracker_lookup(dev);
	if (!t) {
		NL_SET_ERR_MSG(extack, "volume is not tracked");
		return -ENOENT;
	}
	if (!t->keep)
		return 0;
	t->keep = false;
	cs_tracker_unuse(t);
	return 0;
}

static int urelease(struct notifier_block *nb, unsigned long event, void *ptr)
{
	struct netlink_notify *n = ptr;
	struct cs_set *set, *tmp;

	if (event != NETLINK_URELEASE || n->protocol != NETLINK_GENERIC)
		return NOTIFY_DONE;
	/* a set_new of this socket cannot run now: it holds the file */
	if (!xa_load(&owners, n->portid))
		return NOTIFY_DONE;
	mutex_lock(&cs_lock);
	list_for_each_entry_safe(set, tmp, &sets, node) {
		if (!set->owner_portid || set->owner_portid != n->portid ||
		    !net_eq(set->owner_net, n->net))
			continue;
		if (set->state == COWSNAP_SET_DEFINING) {
			pr_info("set %llu aborted: its owner went away\n", set->id);
			cs_set_destroy(set);
		} else if (set->flags & COWSNAP_SET_F_AUTO_RELEASE) {
			pr_info("set %llu released with its owner\n", set->id);
			cs_set_destroy(set);
		} else {
			owner_drop(set->owner_portid);
			set->owner_portid = 0;
		}
	}
	mutex_unlock(&cs_lock);
	return NOTIFY_DONE;
}

static struct notifier_block urelease_nb = {
	.notifier_call = urelease,
};

int cs_set_init(void)
{
	return netlink_register_notifier(&urelease_nb);
}

/* Module unload: every set and every kept tracker goes. */
void cs_set_exit(void)
{
	struct cs_set *set, *tmp;
	struct cs_tracker *t;
	unsigned long index = 0;

	netlink_unregister_notifier(&urelease_nb);
	mutex_lock(&cs_lock);
	list_for_each_entry_safe(set, tmp, &sets, node)
		cs_set_destroy(set);
	while ((t = cs_tracker_next(&index))) {
		index++;
		if (t->keep) {
			t->keep = false;
			cs_tracker_unuse(t);
		}
	}
	mutex_unlock(&cs_lock);
}
