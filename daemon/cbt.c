// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Changed-block tracking for clients: keep a volume tracked between backups
 * (TRACK / UNTRACK), and the module's changed-block bitmaps turned into
 * ranges of chunks, a window of the volume at a time.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/cowsnap.h>

#include "cbt.h"
#include "daemon.h"
#include "log.h"
#include "netlink.h"
#include "volumes.h"

static bool bit(const uint8_t *bm, uint32_t i)
{
	return bm[i / 8] & (1U << (i % 8));
}

int cs_cbt_changed_bytes(struct cs_nl *nl, uint32_t major, uint32_t minor,
			 uint64_t sectors, uint32_t chunk_sectors, uint64_t *bytes,
			 struct cs_error *err)
{
	uint64_t chunks, pos, chunk_bytes = (uint64_t)chunk_sectors << 9;
	struct cs_nl_cbt out;
	int ret = 0;

	*bytes = 0;
	if (!chunk_sectors)
		return 0;
	chunks = (sectors + chunk_sectors - 1) / chunk_sectors;
	out.bitmap = malloc(COWSNAP_CBT_MAX_COUNT / 8);
	if (!out.bitmap) {
		cs_error_set(err, ENOMEM, "out of memory");
		return -ENOMEM;
	}
	for (pos = 0; pos < chunks && !ret; pos += COWSNAP_CBT_MAX_COUNT) {
		uint32_t n = chunks - pos < COWSNAP_CBT_MAX_COUNT ?
			     (uint32_t)(chunks - pos) : COWSNAP_CBT_MAX_COUNT;

		ret = cs_nl_cbt_get(nl, major, minor, 0, 0, NULL, pos, n, &out, err);
		for (uint32_t i = 0; i < n && !ret; i++) {
			uint64_t start = (pos + i) * chunk_bytes, size = sectors << 9;

			if (bit(out.bitmap, i))
				*bytes += size - start < chunk_bytes ? size - start : chunk_bytes;
		}
	}
	free(out.bitmap);
	return ret;
}

/* The module's view of one tracked volume; -ENOENT when it is not tracked. */
static int tracked_volume(struct cowsnapd *d, const struct cs_resolved *res,
			  struct cs_volume *out, struct cs_error *err)
{
	struct cs_volume *v = NULL;
	uint32_t n = 0;
	int ret;

	ret = cs_nl_volume_dump(d->nl, &v, &n, err);
	if (ret)
		return ret;
	ret = -ENOENT;
	for (uint32_t i = 0; i < n; i++) {
		if (v[i].major == res->major && v[i].minor == res->minor) {
			*out = v[i];
			ret = 0;
		}
	}
	free(v);
	if (ret)
		cs_error_set(err, ENOENT, "%s is not tracked, so its changes are not "
			     "recorded; `snapctl track %s' keeps it tracked from now on",
			     res->devnode, res->devnode);
	return ret;
}

int cs_cbt_track(struct cowsnapd *d, const struct cs_volume_args *a, bool keep,
		 struct cs_volume *r, struct cs_error *err)
{
	struct cs_volume *all = NULL;
	struct cs_resolved res;
	uint32_t n = 0;
	int ret;

	ret = cs_volume_resolve(a->volume, &res, err);
	if (ret)
		return ret;
	ret = cs_nl_track(d->nl, res.major, res.minor, keep, err);
	if (ret == -ENOENT && !keep) {
		cs_error_set(err, ENOENT, "%s is not tracked", res.devnode);
		return ret;
	}
	if (ret) {
		char msg[CS_ERRMSG_MAX];

		snprintf(msg, sizeof(msg), "%s", err->message);
		cs_error_set(err, -ret, "cannot %s %s: %s", keep ? "track" : "untrack",
			     res.devnode, msg);
		return ret;
	}
	cs_info("%s %s", res.devnode, keep ? "kept tracked" : "no longer kept tracked");
	/* the volume as volume_list shows it now */
	ret = cs_volume_list(d->nl, &all, &n, err);
	if (ret)
		return ret;
	ret = -ENODEV;
	for (uint32_t i = 0; i < n; i++) {
		if (all[i].major == res.major && all[i].minor == res.minor) {
			*r = all[i];
			ret = 0;
		}
	}
	free(all);
	if (ret)
		cs_error_set(err, ENODEV, "%s went away", res.devnode);
	return ret;
}

static int parse_generation(const char *s, uint8_t g[16])
{
	unsigned int i = 0;

	for (; *s && i < 32; s++) {
		unsigned int v;

		if (*s == '-' && (i == 8 || i == 12 || i == 16 || i == 20))
			continue;
		if (sscanf(s, "%1x", &v) != 1)
			return -1;
		if (i % 2 == 0)
			g[i / 2] = (uint8_t)(v << 4);
		else
			g[i / 2] |= (uint8_t)v;
		i++;
	}
	return i == 32 && !*s ? 0 : -1;
}

/* Append chunk c to the ranges; false when a new range would not fit. */
static bool add_chunk(struct cs_cbt_result *r, uint64_t c)
{
	struct cs_cbt_range *last = r->nranges ? &r->ranges[r->nranges - 1] : NULL;

	if (last && last->first + last->count == c) {
		last->count++;
	} else {
		if (r->nranges == CS_CBT_MAX_RANGES)
			return false;
		r->ranges[r->nranges].first = c;
		r->ranges[r->nranges].count = 1;
		r->nranges++;
	}
	r->changed++;
	return true;
}

int cs_cbt_get(struct cowsnapd *d, const struct cs_cbt_get_args *a,
	       struct cs_cbt_result *r, struct cs_error *err)
{
	uint8_t since_gen[16], first_gen[16];
	struct cs_resolved res;
	struct cs_volume vol;
	struct cs_nl_cbt out = { 0 };
	uint64_t end, pos;
	bool full = false;
	int ret;

	if ((a->set_id != 0) + (a->since_seq != 0) + a->since_tracking != 1) {
		cs_error_set(err, EINVAL, "give exactly one of set_id, since_seq (with "
			     "since_generation) and since_tracking");
		return -EINVAL;
	}
	if ((a->since_seq != 0) != (a->since_generation[0] != '\0')) {
		cs_error_set(err, EINVAL, "since_seq and since_generation go together");
		return -EINVAL;
	}
	if (a->since_seq && parse_generation(a->since_generation, since_gen)) {
		cs_error_set(err, EINVAL, "invalid since_generation: `%s' (a UUID)",
			     a->since_generation);
		return -EINVAL;
	}
	ret = cs_volume_resolve(a->volume, &res, err);
	if (ret)
		return ret;
	ret = tracked_volume(d, &res, &vol, err);
	if (ret)
		return ret;
	if (!vol.cbt_chunk_sectors) {
		cs_error_set(err, EPROTO, "the module did not say the chunk size of %s",
			     res.devnode);
		return -EPROTO;
	}
	snprintf(r->device, sizeof(r->device), "%s", res.devnode);
	r->major = res.major;
	r->minor = res.minor;
	r->sectors = vol.sectors;
	r->chunk_sectors = vol.cbt_chunk_sectors;
	r->chunks = (vol.sectors + vol.cbt_chunk_sectors - 1) / vol.cbt_chunk_sectors;
	r->set_id = a->set_id;
	if (a->set_id) {
		struct cs_set set;

		ret = cs_nl_set_get(d->nl, a->set_id, &set, err);
		if (ret == -ENOENT) {
			cs_error_set(err, ENOENT, "there is no set %" PRIu64 "; see `snapctl "
				     "list sets'", a->set_id);
			return ret;
		}
		if (ret)
			return ret;
		ret = -ENOENT;
		for (uint32_t i = 0; i < set.nvolumes; i++) {
			const struct cs_set_volume *v = &set.volumes[i];

			if (v->major == res.major && v->minor == res.minor && v->cbt_seq) {
				r->set_cbt_seq = v->cbt_seq;
				strcpy(r->set_generation, v->cbt_generation);
				ret = 0;
			}
		}
		cs_nl_set_free(&set);
		if (ret) {
			cs_error_set(err, ENOENT, "set %" PRIu64 " holds no taken snapshot of %s",
				     a->set_id, res.devnode);
			return ret;
		}
	}
	if (a->first > r->chunks) {
		cs_error_set(err, EINVAL, "first chunk %" PRIu64 " is past the end of %s "
			     "(%" PRIu64 " chunks)", a->first, res.devnode, r->chunks);
		return -EINVAL;
	}
	end = a->count && a->count < r->chunks - a->first ? a->first + a->count : r->chunks;
	r->first = a->first;
	r->ranges = calloc(CS_CBT_MAX_RANGES, sizeof(*r->ranges));
	out.bitmap = malloc(COWSNAP_CBT_MAX_COUNT / 8);
	if (!r->ranges || !out.bitmap) {
		free(out.bitmap);
		cs_error_set(err, ENOMEM, "out of memory");
		return -ENOMEM;
	}
	for (pos = a->first; pos < end && !full; ) {
		uint32_t n = end - pos < COWSNAP_CBT_MAX_COUNT ? (uint32_t)(end - pos) :
			     COWSNAP_CBT_MAX_COUNT, i;

		ret = cs_nl_cbt_get(d->nl, res.major, res.minor, a->set_id, a->since_seq,
				    a->since_seq ? since_gen : NULL, pos, n, &out, err);
		if (ret)
			break;
		if (pos == a->first) {
			memcpy(first_gen, out.generation, sizeof(first_gen));
			strcpy(r->generation, out.generation_str);
		} else if (memcmp(first_gen, out.generation, sizeof(first_gen))) {
			cs_error_set(err, EAGAIN, "the changed-block map of %s was reset "
				     "while it was read; ask again", res.devnode);
			ret = -EAGAIN;
			break;
		}
		if (a->since_seq && memcmp(since_gen, out.generation, sizeof(since_gen))) {
			cs_error_set(err, ESTALE, "the changed-block map of %s was reset since "
				     "that snapshot (generation %s, now %s): what changed is "
				     "unknown; do a full read", res.devnode,
				     a->since_generation, out.generation_str);
			ret = -ESTALE;
			break;
		}
		for (i = 0; i < n && !full; i++)
			if (bit(out.bitmap, i) && !add_chunk(r, pos + i))
				full = true;
		pos += full ? i - 1 : n;
	}
	free(out.bitmap);
	if (ret)
		return ret;
	r->next = pos > end ? end : pos;
	if (pos == a->first && a->first == end) {
		/* an empty window still names the generation */
		strcpy(r->generation, vol.cbt_generation);
	}
	return 0;
}
