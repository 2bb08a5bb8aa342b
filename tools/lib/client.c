// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cowsnap.h"

struct cs_client {
	int fd;
	uint32_t next_id;
	int timeout_ms;
	bool remote;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct cs_framer in;
};

const char *cs_socket_path(void)
{
	const char *p = getenv(CS_SOCKET_ENV);

	return p && *p ? p : CS_DEFAULT_SOCKET;
}

int cs_client_open(const char *path, struct cs_client **out, struct cs_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct cs_client *c;
	int ret;

	*out = NULL;
	if (!path)
		path = cs_socket_path();
	if (strlen(path) >= sizeof(sa.sun_path)) {
		cs_error_set(err, ENAMETOOLONG, "socket path `%s' is too long", path);
		return -ENAMETOOLONG;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		cs_error_set(err, ENOMEM, "out of memory");
		return -ENOMEM;
	}
	c->next_id = 1;
	c->timeout_ms = 30000;
	strcpy(c->path, path);
	strcpy(sa.sun_path, path);
	cs_framer_init(&c->in);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		ret = -errno;
		cs_error_set(err, errno, "socket: %s", strerror(errno));
		free(c);
		return ret;
	}
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		cs_error_set(err, errno, "cannot connect to cowsnapd at %s: %s",
			     path, strerror(errno));
		close(c->fd);
		free(c);
		return ret;
	}
	*out = c;
	return 0;
}

void cs_client_close(struct cs_client *c)
{
	if (!c)
		return;
	close(c->fd);
	cs_framer_free(&c->in);
	free(c);
}

bool cs_client_remote(const struct cs_client *c)
{
	return c->remote;
}

void cs_client_set_timeout(struct cs_client *c, int timeout_ms)
{
	c->timeout_ms = timeout_ms;
}

void cs_result_free(enum cs_op op, void *result)
{
	if ((unsigned)op < __CS_OP_COUNT)
		cs_schema_free(cs_ops[op].result, result);
}

int cs_call(struct cs_client *c, enum cs_op op, const void *args, void *result,
	    struct cs_error *err)
{
	struct cs_buf b = { 0 };
	const char *body;
	size_t len;
	uint32_t id = c->next_id++, rid = 0;
	int ret, wret;

	c->remote = false;
	ret = cs_encode_request(&b, id, op, args, err);
	if (ret)
		return ret;
	/* The daemon may have answered already and closed (a refused peer):
	 * a failed write still leaves its answer to be read. */
	wret = cs_frame_write(c->fd, &b, c->timeout_ms);
	cs_buf_free(&b);
	for (;;) {
		ret = cs_frame_read(c->fd, &c->in, &body, &len, c->timeout_ms);
		if (ret) {
			if (wret)
				ret = wret;
			if (ret == -ETIMEDOUT)
				cs_error_set(err, ETIMEDOUT,
					     "cowsnapd at %s did not answer within %d ms",
					     c->path, c->timeout_ms);
			else if (ret == -EMSGSIZE || ret == -EINVAL || ret == -EPROTO)
				cs_error_set(err, EPROTO, "cowsnapd at %s sent a broken frame",
					     c->path);
			else
				cs_error_set(err, -ret, "lost the connection to cowsnapd at %s: %s",
					     c->path, strerror(-ret));
			return ret == -EMSGSIZE || ret == -EINVAL ? -EPROTO : ret;
		}
		memset(result, 0, cs_ops[op].result->size);
		rid = 0;
		ret = cs_decode_reply(body, len, op, &rid, result, &c->remote, err);
		/* id 0 carries errors about the connection itself */
		if (rid == id || (rid == 0 && c->remote) || (ret == -EPROTO && !c->remote))
			return ret;
		/* a reply to an earlier request that timed out: skip it */
		if (!ret)
			cs_result_free(op, result);
	}
}

/* Move page's items to the end of result's (page keeps none). */
static int list_append(const struct cs_field *f, char *result, char *page,
		       struct cs_error *err)
{
	char **arr = (char **)(result + f->off), **parr = (char **)(page + f->off);
	uint32_t *n = (uint32_t *)(result + f->count_off);
	uint32_t *pn = (uint32_t *)(page + f->count_off);
	size_t size = f->sub->size;
	char *grown;

	if (!*pn)
		return 0;
	if (*pn > CS_LIST_MAX_ITEMS - *n) {
		cs_error_set(err, E2BIG, "cowsnapd sent a list of more than %u items",
			     CS_LIST_MAX_ITEMS);
		return -E2BIG;
	}
	grown = realloc(*arr, ((size_t)*n + *pn) * size);
	if (!grown) {
		cs_error_set(err, ENOMEM, "out of memory");
		return -ENOMEM;
	}
	memcpy(grown + (size_t)*n * size, *parr, (size_t)*pn * size);
	*arr = grown;
	*n += *pn;
	/* the items are result's now: free only page's array */
	free(*parr);
	*parr = NULL;
	*pn = 0;
	return 0;
}

int cs_call_list(struct cs_client *c, enum cs_op op, void *result, struct cs_error *err)
{
	const struct cs_field *items, *next;
	size_t size;
	uint64_t from = 0, to;
	char *page;
	int ret;

	if (cs_list_fields(op, &items, &next)) {
		cs_error_set(err, EINVAL, "`%s' is not a list", cs_ops[op].name);
		return -EINVAL;
	}
	size = cs_ops[op].result->size;
	memset(result, 0, size);
	page = calloc(1, size);
	if (!page) {
		cs_error_set(err, ENOMEM, "out of memory");
		return -ENOMEM;
	}
	for (bool first = true;; first = false) {
		ret = cs_call(c, op, &(struct cs_list_args){ .from = from }, page, err);
		if (ret)
			break;
		to = *(uint64_t *)(page + next->off);
		if (first) {
			memcpy(result, page, size);
			memset(page, 0, size);
		} else {
			ret = list_append(items, result, page, err);
			cs_result_free(op, page);
			if (ret)
				break;
		}
		if (!to)
			break;
		/* a cursor only goes on: a daemon cannot keep us here */
		if (to <= from) {
			cs_error_set(err, EPROTO, "cowsnapd sent a list page that does not go on");
			ret = -EPROTO;
			break;
		}
		from = to;
	}
	free(page);
	*(uint64_t *)((char *)result + next->off) = 0;
	if (ret)
		cs_result_free(op, result);
	return ret;
}

int cs_cbt_walk(struct cs_client *c, const struct cs_cbt_get_args *args, uint64_t size,
		cs_cbt_range_fn *fn, void *ctx, uint32_t *chunk_sectors, struct cs_error *err)
{
	struct cs_cbt_get_args a = *args;
	uint32_t cs = 0;
	int ret = 0;

	for (;;) {
		struct cs_cbt_result r = { 0 };
		uint64_t cb;

		ret = cs_call(c, CS_OP_CBT_GET, &a, &r, err);
		if (ret)
			break;
		if (cs && r.chunk_sectors != cs) {
			cs_error_set(err, EAGAIN, "the chunk size of %s changed during the query",
				     a.volume);
			ret = -EAGAIN;
		}
		cs = r.chunk_sectors;
		cb = (uint64_t)cs << 9;
		for (uint32_t i = 0; i < r.nranges && !ret; i++) {
			uint64_t off = r.ranges[i].first * cb, len = r.ranges[i].count * cb;

			/* past the size asked for: nothing there to read */
			if (off >= size)
				break;
			if (len > size - off)
				len = size - off;
			ret = fn(ctx, off, len, r.ranges[i].count);
		}
		/* a cursor only goes on: a daemon cannot keep us here */
		if (!ret && r.next <= a.first) {
			cs_error_set(err, EPROTO, "cowsnapd's changed-block answer for %s does "
				     "not advance", a.volume);
			ret = -EPROTO;
		}
		a.first = r.next;
		cs_result_free(CS_OP_CBT_GET, &r);
		if (ret || a.first >= r.chunks || a.first * cb >= size)
			break;
	}
	if (chunk_sectors)
		*chunk_sectors = cs;
	return ret;
}

int cs_client_fd(const struct cs_client *c)
{
	return c->fd;
}

int cs_client_read_frame(struct cs_client *c, const char **body, size_t *len,
			 int timeout_ms)
{
	return cs_frame_read(c->fd, &c->in, body, len, timeout_ms);
}

bool cs_client_buffered(const struct cs_client *c)
{
	return c->in.len > c->in.consumed;
}
