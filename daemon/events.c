// SPDX-License-Identifier: GPL-2.0-or-later
/* What the daemon does when the module reports something. */
#include <inttypes.h>
#include <stdlib.h>

#include <linux/cowsnap.h>

#include "daemon.h"
#include "filestore.h"
#include "log.h"
#include "netlink.h"
#include "storage.h"

static bool ours(struct cowsnapd *d, uint64_t id)
{
	for (size_t i = 0; i < d->pool.nallocs; i++)
		if (d->pool.allocs[i].set_id == id)
			return true;
	return cs_filestore_holds(d, id);
}

/* Give a set running low grow-size more, unless it already got more since
 * the event was sent (events queue up while storage is being added). */
static void grow(struct cowsnapd *d, const struct cs_event *e)
{
	struct cs_set set;
	struct cs_error err;
	uint32_t (*avoid)[2];

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
	}
	if (!avoid)
		cs_err("set %" PRIu64 ": out of memory growing its storage", e->set_id);
	else if (cs_storage_give(d, e->set_id, d->pool.grow_sectors,
				 (const uint32_t (*)[2])avoid, set.nvolumes, &err))
		cs_err("set %" PRIu64 " runs low on storage (%" PRIu64 " of %" PRIu64
		       " sectors used) and cannot grow: %s; it becomes invalid when storage "
		       "runs out", e->set_id, e->storage_used, e->storage_sectors, err.message);
	else
		cs_info("set %" PRIu64 " ran low on storage: %" PRIu64 " MiB added",
			e->set_id, d->pool.grow_sectors / 2048);
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

void cs_events_process(struct cowsnapd *d)
{
	cs_nl_events_read(d->events, on_event, d);
}
