// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Replies that fit in a frame (CS_FRAME_MAX).  A list (sets, volumes,
 * writers) goes out in pages, each item once, in the order of its cursor;
 * a reply that cannot be paged (set_create's) is measured before the work
 * it reports is done, so a client never gets EMSGSIZE for a set that was
 * taken anyway.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "reply.h"

/*
 * The cursor of an item: above 0 (0 asks for the first page), and rising
 * along the order the page is cut in.  Sets and volumes are keyed by what
 * they are, so a set deleted or a disk added between two pages moves no
 * other item; writers by their place in the daemon's list (sorted by
 * order and name, and rarely changed).
 */
static uint64_t item_key(enum cs_op op, const void *item, size_t index)
{
	switch (op) {
	case CS_OP_SET_LIST:
		return ((const struct cs_set *)item)->id;
	case CS_OP_VOLUME_LIST: {
		const struct cs_volume *v = item;

		return ((uint64_t)v->major << 32 | v->minor) + 1;
	}
	default:
		return index + 1;
	}
}

static int cmp_sets(const void *a, const void *b)
{
	uint64_t x = item_key(CS_OP_SET_LIST, a, 0), y = item_key(CS_OP_SET_LIST, b, 0);

	return x < y ? -1 : x > y;
}

static int cmp_volumes(const void *a, const void *b)
{
	uint64_t x = item_key(CS_OP_VOLUME_LIST, a, 0), y = item_key(CS_OP_VOLUME_LIST, b, 0);

	return x < y ? -1 : x > y;
}

/* The bytes item takes in a reply's JSON, as buf_append_frame writes it. */
static int item_bytes(const struct cs_schema *s, const void *item, size_t *bytes,
		      struct cs_error *err)
{
	json_object *j;
	size_t n = 0;
	int ret = cs_schema_encode(s, item, &j, err);

	if (ret)
		return ret;
	if (!json_object_to_json_string_length(j, JSON_C_TO_STRING_PLAIN |
					       JSON_C_TO_STRING_NOSLASHESCAPE, &n)) {
		json_object_put(j);
		cs_error_set(err, ENOMEM, "out of memory");
		return -ENOMEM;
	}
	json_object_put(j);
	*bytes = n;
	return 0;
}

int cs_reply_page(enum cs_op op, void *result, uint64_t from, size_t budget,
		  struct cs_error *err)
{
	const struct cs_field *f, *nf;
	char *base;
	uint32_t *count;
	size_t size, first, end, used = 0;
	int ret;

	if (cs_list_fields(op, &f, &nf)) {
		cs_error_set(err, EINVAL, "`%s' is not a list", cs_ops[op].name);
		return -EINVAL;
	}
	base = *(char **)((char *)result + f->off);
	count = (uint32_t *)((char *)result + f->count_off);
	size = f->sub->size;
	if (op == CS_OP_SET_LIST && *count)
		qsort(base, *count, size, cmp_sets);
	else if (op == CS_OP_VOLUME_LIST && *count)
		qsort(base, *count, size, cmp_volumes);
	for (first = 0; first < *count; first++)
		if (item_key(op, base + first * size, first) > from)
			break;
	/* as many as fit, and always one: an item alone is bounded by its schema */
	for (end = first; end < *count && end - first < f->max; end++) {
		size_t n;

		ret = item_bytes(f->sub, base + end * size, &n, err);
		if (ret)
			return ret;
		if (end > first && used + n + 1 > budget)
			break;
		used += n + 1;
	}
	*(uint64_t *)((char *)result + nf->off) =
		end < *count ? item_key(op, base + (end - 1) * size, end - 1) : 0;
	/* keep [first, end): free the rest, move the page to the front */
	for (size_t i = 0; i < *count; i++)
		if (i < first || i >= end)
			cs_schema_free(f->sub, base + i * size);
	if (first)
		memmove(base, base + first * size, (end - first) * size);
	*count = (uint32_t)(end - first);
	return 0;
}

int cs_reply_fits(enum cs_op op, const void *result, size_t *bytes, struct cs_error *err)
{
	int ret = item_bytes(cs_ops[op].result, result, bytes, err);

	if (ret)
		return ret;
	*bytes += CS_REPLY_ENVELOPE;
	if (*bytes > CS_FRAME_MAX) {
		cs_error_set(err, EMSGSIZE, "its reply would take %zu bytes, more than one "
			     "message may (%d)", *bytes, CS_FRAME_MAX);
		return -EMSGSIZE;
	}
	return 0;
}
