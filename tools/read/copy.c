// SPDX-License-Identifier: GPL-2.0
/*
 * snapread's read engine: a ring of queue_depth aligned buffers, each read
 * with one libaio request; completed blocks go to the sink in offset order,
 * and each buffer is refilled with the next unread block as soon as the sink
 * has it.  The device thus always has up to queue_depth requests in flight,
 * while the sink (checksum, zero detection, output) works on the oldest.
 */
#include <ctype.h>
#include <errno.h>
#include <libaio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "copy.h"

#define ALIGN 4096

enum slot_state { SLOT_FREE, SLOT_READING, SLOT_DONE };

struct slot {
	struct iocb cb;
	void *buf;
	off_t off;
	size_t want;		/* bytes the block holds (less at the end) */
	long res;		/* bytes read or -errno */
	enum slot_state state;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int64_t parse_size(const char *s)
{
	char *end;
	unsigned long long v;
	int shift = 0;

	if (!s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	default: return -1;
	}
	if (*end == 'i' && end[1] == 'B')
		end += 2;
	else if (*end == 'B' && shift)
		end++;
	if (*end || v > (unsigned long long)(INT64_MAX >> shift))
		return -1;
	return (int64_t)(v << shift);
}

bool all_zero(const void *p, size_t len)
{
	const unsigned char *c = p;
	const uint64_t *w;
	size_t i;

	/* Head and tail bytewise, the aligned middle a word at a time. */
	while (len && ((uintptr_t)c & 7)) {
		if (*c++)
			return false;
		len--;
	}
	w = (const uint64_t *)c;
	for (i = 0; i < len / 8; i++)
		if (w[i])
			return false;
	c += (len / 8) * 8;
	for (i = 0; i < len % 8; i++)
		if (c[i])
			return false;
	return true;
}

/* Where the next block starts: an extent and an offset in it. */
struct cursor {
	const struct extent *ext;
	size_t n, i;
	uint64_t pos;		/* bytes into ext[i] */
};

static bool cursor_done(const struct cursor *c)
{
	return c->i >= c->n;
}

/* Claim the next block (at most bs bytes, within one extent). */
static void cursor_next(struct cursor *c, size_t bs, off_t *off, size_t *want)
{
	const struct extent *e = &c->ext[c->i];
	uint64_t left = e->len - c->pos;

	*off = (off_t)(e->off + c->pos);
	*want = left < bs ? (size_t)left : bs;
	c->pos += *want;
	if (c->pos == e->len) {
		c->i++;
		c->pos = 0;
		while (c->i < c->n && !c->ext[c->i].len)
			c->i++;
	}
}

static void prep(struct slot *sl, int fd, struct cursor *cur, size_t bs)
{
	off_t off;
	size_t want;
	size_t len;

	cursor_next(cur, bs, &off, &want);
	/* O_DIRECT needs whole aligned units; a file's tail reads short. */
	len = (want + ALIGN - 1) & ~(size_t)(ALIGN - 1);

	io_prep_pread(&sl->cb, fd, sl->buf, len, off);
	sl->cb.data = sl;
	sl->off = off;
	sl->want = want;
	sl->state = SLOT_READING;
}

int read_all(int fd, uint64_t size, const struct read_opts *o, struct sink *s,
	     off_t *fail_off)
{
	struct extent all = { 0, size };

	return read_extents(fd, &all, 1, o, s, fail_off);
}

int read_extents(int fd, const struct extent *ext, size_t nr, const struct read_opts *o,
		 struct sink *s, off_t *fail_off)
{
	unsigned int qd = o->queue_depth, head = 0, i, inflight = 0;
	size_t bs = o->block_size;
	struct io_event *ev = NULL;
	struct slot *slots = NULL;
	io_context_t ctx = 0;
	struct cursor cur = { ext, nr, 0, 0 };
	uint64_t size = 0, done = 0;
	double last = now();
	int ret;

	for (i = 0; i < nr; i++)
		size += ext[i].len;
	while (cur.i < nr && !ext[cur.i].len)
		cur.i++;

	*fail_off = 0;
	ret = io_setup(qd, &ctx);
	if (ret < 0)
		return ret;
	slots = calloc(qd, sizeof(*slots));
	ev = calloc(qd, sizeof(*ev));
	if (!slots || !ev) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < qd; i++) {
		if (posix_memalign(&slots[i].buf, ALIGN, bs)) {
			ret = -ENOMEM;
			goto out;
		}
	}

	/* Fill the ring, then keep it full. */
	for (i = 0; i < qd && !cursor_done(&cur); i++) {
		struct iocb *cb = &slots[i].cb;

		prep(&slots[i], fd, &cur, bs);
		ret = io_submit(ctx, 1, &cb);
		if (ret != 1) {
			*fail_off = slots[i].off;
			ret = ret < 0 ? ret : -EIO;
			goto out;
		}
		inflight++;
	}

	while (done < size) {
		struct slot *sl = &slots[head];

		while (sl->state != SLOT_DONE) {
			int n = io_getevents(ctx, 1, qd, ev, NULL);

			if (n == -EINTR)
				continue;
			if (n < 0) {
				ret = n;
				*fail_off = sl->off;
				goto out;
			}
			for (i = 0; i < (unsigned int)n; i++) {
				struct slot *d = ev[i].data;

				d->res = (long)ev[i].res;
				d->state = SLOT_DONE;
				inflight--;
			}
		}
		if (sl->res < 0 || (size_t)sl->res < sl->want) {
			*fail_off = sl->off;
			ret = sl->res < 0 ? (int)sl->res : -EIO;
			goto out;
		}
		ret = s->block(s, sl->buf, sl->off, sl->want);
		if (ret < 0) {
			*fail_off = sl->off;
			goto out;
		}
		done += sl->want;
		sl->state = SLOT_FREE;
		if (!cursor_done(&cur)) {
			struct iocb *cb = &sl->cb;

			prep(sl, fd, &cur, bs);
			ret = io_submit(ctx, 1, &cb);
			if (ret != 1) {
				*fail_off = sl->off;
				ret = ret < 0 ? ret : -EIO;
				goto out;
			}
			inflight++;
		}
		head = (head + 1) % qd;
		if (s->progress && now() - last >= 0.5) {
			last = now();
			s->progress(s, done);
		}
	}
	ret = 0;
	if (s->progress)
		s->progress(s, done);
out:
	/* Reap what is still in flight before the buffers go away. */
	while (inflight > 0) {
		int n = io_getevents(ctx, 1, qd, ev, NULL);

		if (n < 0 && n != -EINTR)
			break;
		if (n > 0)
			inflight -= (unsigned int)n;
	}
	if (ctx)
		io_destroy(ctx);
	if (slots)
		for (i = 0; i < qd; i++)
			free(slots[i].buf);
	free(slots);
	free(ev);
	return ret;
}
