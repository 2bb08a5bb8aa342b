// SPDX-License-Identifier: GPL-2.0
/*
 * snapread's questions to cowsnapd, through libcowsnap: where an image
 * device comes from, and the changed-block map of its origin.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <linux/cowsnap.h>

#include "cowsnap.h"
#include "daemon.h"

bool snap_is_image(dev_t rdev)
{
	char link[64], target[PATH_MAX];
	const char *name;
	ssize_t n;

	snprintf(link, sizeof(link), "/sys/dev/block/%u:%u", major(rdev), minor(rdev));
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	name = strrchr(target, '/');
	name = name ? name + 1 : target;
	return !strncmp(name, COWSNAP_IMAGE_NAME, strlen(COWSNAP_IMAGE_NAME));
}

/* One call to cowsnapd (args NULL: a list, all its pages). */
static int call(enum cs_op op, const void *args, void *result, struct cs_error *err)
{
	struct cs_client *c;
	int ret;

	ret = cs_client_open(NULL, &c, err);
	if (ret)
		return ret;
	ret = args ? cs_call(c, op, args, result, err) : cs_call_list(c, op, result, err);
	cs_client_close(c);
	return ret;
}

int snap_lookup(dev_t rdev, struct snap_info *out, struct cs_error *err)
{
	struct cs_set_list_result r = { 0 };
	int ret;

	memset(out, 0, sizeof(*out));
	ret = call(CS_OP_SET_LIST, NULL, &r, err);
	if (ret)
		return ret;
	ret = -ENOENT;
	for (uint32_t i = 0; i < r.nsets && ret; i++) {
		const struct cs_set *s = &r.sets[i];

		for (uint32_t j = 0; j < s->nvolumes; j++) {
			const struct cs_set_volume *v = &s->volumes[j];

			if (!v->image[0] || v->image_major != major(rdev) ||
			    v->image_minor != minor(rdev))
				continue;
			out->set_id = s->id;
			out->state = s->state;
			strcpy(out->invalid_cause, s->invalid_cause);
			strcpy(out->origin, v->origin);
			out->major = v->major;
			out->minor = v->minor;
			out->sectors = v->sectors;
			out->chunk_sectors = s->chunk_sectors;
			strcpy(out->generation, v->cbt_generation);
			out->cbt_seq = v->cbt_seq;
			ret = 0;
			break;
		}
	}
	cs_result_free(CS_OP_SET_LIST, &r);
	if (ret)
		cs_error_set(err, ENOENT, "no set of cowsnapd has the image %u:%u (see "
			     "`snapctl list sets')", major(rdev), minor(rdev));
	else if (!out->generation[0] || !out->cbt_seq)
		cs_error_set(err, ret = -EPROTO, "cowsnapd does not report the changed-block "
			     "sequence of set %llu (an older cowsnapd or module?)",
			     (unsigned long long)out->set_id);
	return ret;
}

int snap_origin_kept(const struct snap_info *si, bool *kept, struct cs_error *err)
{
	struct cs_volume_list_result r = { 0 };
	int ret;

	*kept = false;
	ret = call(CS_OP_VOLUME_LIST, NULL, &r, err);
	if (ret)
		return ret;
	for (uint32_t i = 0; i < r.nvolumes; i++)
		if (r.volumes[i].major == si->major && r.volumes[i].minor == si->minor)
			*kept = r.volumes[i].kept;
	cs_result_free(CS_OP_VOLUME_LIST, &r);
	return 0;
}

struct extents {
	struct extent *e;
	size_t n, cap;
	struct cs_error *err;
};

static int add_extent(void *ctx, uint64_t off, uint64_t len, uint64_t chunks)
{
	struct extents *x = ctx;

	(void)chunks;
	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 256;
		struct extent *ne = realloc(x->e, cap * sizeof(*ne));

		if (!ne) {
			cs_error_set(x->err, ENOMEM, "out of memory");
			return -ENOMEM;
		}
		x->e = ne;
		x->cap = cap;
	}
	x->e[x->n].off = off;
	x->e[x->n].len = len;
	x->n++;
	return 0;
}

int snap_changed(const struct snap_info *si, uint32_t since_seq, const char *since_generation,
		 uint64_t size, struct extent **ext, size_t *n, uint32_t *chunk_sectors,
		 struct cs_error *err)
{
	struct cs_cbt_get_args a = { .since_seq = since_seq };
	struct extents x = { .err = err };
	struct cs_client *c;
	int ret;

	*ext = NULL;
	*n = 0;
	snprintf(a.volume, sizeof(a.volume), "%s", si->origin);
	snprintf(a.since_generation, sizeof(a.since_generation), "%s", since_generation);
	ret = cs_client_open(NULL, &c, err);
	if (ret)
		return ret;
	ret = cs_cbt_walk(c, &a, size, add_extent, &x, chunk_sectors, err);
	cs_client_close(c);
	if (ret) {
		free(x.e);
		return ret;
	}
	*ext = x.e;
	*n = x.n;
	return 0;
}
