// SPDX-License-Identifier: GPL-2.0-or-later
/* What the daemon does when the module reports something. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <linux/cowsnap.h>

#include "daemon.h"
#include "filestore.h"
#include "log.h"
#include "netlink.h"
#include "storage.h"
#include "volumes.h"

static bool ours(struct cowsnapd *d, uint64_t id)
{
	for (size_t i = 0; i < d->pool.nallocs; i++)
		if (d->pool.allocs[i].set_id == id)
			return true;
	return cs_filestore_holds(d, id);
}

/*
 * Give a set running low more storage (grow-size, or by the size of its
 * volumes), unless it already got more since the event was sent (events
 * queue up while storage is being added).  When there is no room left
 * (devices full, the filesystems' max-percent reached or their last 5%),
 * the set runs out: the module makes it invalid, its origins keep working.
 */
static void grow(struct cowsnapd *d, const struct cs_event *e)
{
	struct cs_set set;
	struct cs_error err;
	uint32_t (*avoid)[2];
	uint64_t vol_sectors = 0, more;

	if (!ours(d, e->set_id)) {
		cs_dbg("set %" PRIu64 " runs low on storage but is not cowsnapd's", e->set_id);
		return;
	}
	if (cs_nl_set_get(d->nl, e->set_id, &set, &err)) {
		cs_warn("set %" PRIu64 " runs low on storage: %s", e->set_id, err.message);
		return;
	}
	if (set.storage_sectors > e->storage_sectors || set.state != CS_SET_TAKEN) {
		cs_nl_set_free(&set);
		return;
	}
	avoid = calloc(set.nvolumes ? set.nvolumes : 1, sizeof(*avoid));
	for (uint32_t i = 0; avoid && i < set.nvolumes; i++) {
		avoid[i][0] = set.volumes[i].major;
		avoid[i][1] = set.volumes[i].minor;
		vol_sectors += set.volumes[i].sectors ? set.volumes[i].sectors :
			       cs_volume_sectors(avoid[i][0], avoid[i][1]);
	}
	more = cs_pool_grow_sectors(&d->pool, vol_sectors);
	if (!avoid)
		cs_err("set %" PRIu64 ": out of memory growing its storage", e->set_id);
	else if (cs_storage_give(d, e->set_id, more, (const uint32_t (*)[2])avoid,
				 set.nvolumes, true, &err))
		cs_err("set %" PRIu64 " runs low on storage (%" PRIu64 " of %" PRIu64 " MiB "
		       "used) and cannot grow by %" PRIu64 " MiB: %s; when its storage runs out "
		       "it becomes invalid (storage-full) and its images fail reads, while its "
		       "volumes keep working; its storage is freed when it is deleted",
		       e->set_id, e->storage_used / 2048, e->storage_sectors / 2048,
		       more / 2048, err.message);
	else
		cs_info("set %" PRIu64 " ran low on storage: %" PRIu64 " MiB added",
			e->set_id, more / 2048);
	free(avoid);
	cs_nl_set_free(&set);
}

static void on_event(void *ctx, const struct cs_event *e)
{
	struct cowsnapd *d = ctx;

	cs_dbg("event %s set %" PRIu64, cs_nl_event_name(e->cmd), e->set_id);
	switch (e->cmd) {
	case COWSNAP_CMD_EVENT_STORAGE_LOW:
		grow(d, e);
		break;
	case COWSNAP_CMD_EVENT_SET_DESTROYED:
		cs_storage_release(d, e->set_id);
		break;
	case COWSNAP_CMD_EVENT_SET_INVALID:
		if (e->invalid_cause == COWSNAP_INVALID_STORAGE_FULL)
			cs_warn("set %" PRIu64 " is invalid: its difference storage is full; its "
				"images fail reads, its volumes work on; `snapctl delete %" PRIu64
				"' frees its storage", e->set_id, e->set_id);
		else
			cs_warn("set %" PRIu64 " is invalid (cause %u): its images fail reads",
				e->set_id, e->invalid_cause);
		break;
	case COWSNAP_CMD_EVENT_VOLUME_GONE:
		cs_warn("volume %s (%u:%u) went away", e->dev_name, e->major, e->minor);
		break;
	default:
		break;
	}
}

/* the module's low_water_percent (its default when it cannot be read) */
static unsigned int low_water_percent(void)
{
	FILE *f = fopen("/sys/module/cowsnap/parameters/low_water_percent", "re");
	unsigned int p = 20;

	if (f) {
		if (fscanf(f, "%u", &p) != 1 || p > 100)
			p = 20;
		fclose(f);
	}
	return p;
}

/*
 * The module sends STORAGE_LOW once per fill level (again only after more
 * storage came): one sent while cowsnapd was not running is lost, and the
 * set would run out without growing.  At start, every taken set of ours
 * already below the low-water mark grows as if the event had come.
 */
void cs_events_catch_up(struct cowsnapd *d, const struct cs_set *sets, uint32_t n)
{
	unsigned int pct = low_water_percent();

	for (uint32_t i = 0; i < n; i++) {
		const struct cs_set *s = &sets[i];
		struct cs_event e = { .cmd = COWSNAP_CMD_EVENT_STORAGE_LOW, .set_id = s->id,
				      .storage_sectors = s->storage_sectors,
				      .storage_used = s->storage_used };

		if (s->state != CS_SET_TAKEN || !s->storage_sectors ||
		    s->storage_used > s->storage_sectors ||
		    (s->storage_sectors - s->storage_used) * 100 >= s->storage_sectors * pct ||
		    !ours(d, s->id))
			continue;
		cs_info("set %" PRIu64 ": %" PRIu64 " of %" PRIu64 " MiB of storage used at start, "
			"below the low-water mark: growing it now", s->id, s->storage_used / 2048,
			s->storage_sectors / 2048);
		grow(d, &e);
	}
}

void cs_events_process(struct cowsnapd *d)
{
	cs_nl_events_read(d->events, on_event, d);
}
