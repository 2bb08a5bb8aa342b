// SPDX-License-Identifier: GPL-2.0
/*
 * snapread's read engine.
 *
 * Block number s (counted in the order of the extents) is read into slot
 * s % queue_depth of a ring of aligned buffers.  A few worker threads (the
 * caller is one of them), each with a libaio context of its own, share the
 * work: claim the next blocks whose slots are free and submit them, reap
 * their own completions, and, one worker at a time, hand the completed
 * blocks to the sink strictly in order (checksum, zero detection, output),
 * freeing each slot for the block queue_depth further on.  While one worker
 * is in the sink, the others keep the device busy; and on a device that
 * completes a read inside io_submit() (brd, a bio-based stack on top of it),
 * the copying runs on as many CPUs as there are workers, with no thread of
 * its own for the sink to wait on.
 */
#include <errno.h>
#include <libaio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "copy.h"

#define ALIGN 4096
#define HUGE_ALIGN (2UL << 20)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
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

enum slot_state { SLOT_FREE, SLOT_READING, SLOT_DONE };

struct slot {
	struct iocb cb;
	void *buf;
	off_t off;
	size_t want;		/* bytes the block holds (less at the end) */
	long res;		/* bytes read or -errno */
	enum slot_state state;
};

struct engine {
	/* Set before the workers start, constant after. */
	int fd;
	size_t bs;
	unsigned int qd, per_worker;
	uint64_t size;		/* bytes of all the extents */
	struct sink *sink;
	struct slot *slots;

	/*
	 * lock guards the fields below and every slot's state, off, want and
	 * res.  A slot's buffer belongs to the worker that claimed it until its
	 * read completes, then to the worker that holds `sinking' until that one
	 * sets it SLOT_FREE.  wake is broadcast whenever a worker could find new
	 * work: a slot freed, a read completed, the sink released, the end.
	 */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct cursor cur;
	uint64_t claim_seq;	/* the next block to claim */
	uint64_t sink_seq;	/* the next block for the sink */
	uint64_t sunk;		/* bytes the sink has taken; the worker in the
				 * sink also reads it outside the lock */
	bool sinking;		/* a worker is in the sink, outside the lock */
	int err;		/* the first failure (-errno); everyone stops */
	off_t fail_off;
	double last_progress;	/* the worker in the sink's alone */
};

struct worker {
	struct engine *e;
	pthread_t thread;
	bool started;
	io_context_t ctx;
	unsigned int inflight;	/* the worker's own reads; no lock */
	struct iocb **batch;
	struct io_event *ev;
};

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
	sl->res = 0;
	sl->state = SLOT_READING;
}

/* The first failure wins; under e->lock. */
static void fail(struct engine *e, int err, off_t off)
{
	if (!e->err) {
		e->err = err;
		e->fail_off = off;
	}
	pthread_cond_broadcast(&e->wake);
}

static bool finished(const struct engine *e)
{
	return e->err || e->sunk == e->size;
}

/* Claim the next free slots, up to the worker's share; under e->lock. */
static unsigned int claim(struct engine *e, struct worker *w)
{
	unsigned int n = 0;

	while (!cursor_done(&e->cur) && w->inflight + n < e->per_worker) {
		struct slot *sl = &e->slots[e->claim_seq % e->qd];

		if (sl->state != SLOT_FREE)
			break;
		prep(sl, e->fd, &e->cur, e->bs);
		w->batch[n++] = &sl->cb;
		e->claim_seq++;
	}
	return n;
}

/* Submit n claimed blocks; called and returns with e->lock held. */
static void submit(struct engine *e, struct worker *w, unsigned int n)
{
	unsigned int i = 0, j;
	int k = 0;

	pthread_mutex_unlock(&e->lock);
	while (i < n) {
		k = io_submit(w->ctx, (long)(n - i), w->batch + i);
		if (k > 0) {
			w->inflight += (unsigned int)k;
			i += (unsigned int)k;
		} else if (k != -EINTR) {
			break;
		}
	}
	pthread_mutex_lock(&e->lock);
	/* Not submitted: they fail, and the sink reports the first in order. */
	for (j = i; j < n; j++) {
		struct slot *sl = w->batch[j]->data;

		sl->res = k < 0 ? k : -EIO;
		sl->state = SLOT_DONE;
	}
	if (i < n)
		pthread_cond_broadcast(&e->wake);
}

/* Wait for at least one of the worker's reads; with e->lock held. */
static void reap(struct engine *e, struct worker *w)
{
	int got, i;

	pthread_mutex_unlock(&e->lock);
	do
		got = io_getevents(w->ctx, 1, e->per_worker, w->ev, NULL);
	while (got == -EINTR);
	pthread_mutex_lock(&e->lock);
	if (got < 0) {
		/*
		 * The reads still run into their slots; io_destroy() waits for
		 * them.  The offset is where the sink stands (bytes into the
		 * extents), the nearest known.
		 */
		fail(e, got, (off_t)e->sunk);
		return;
	}
	for (i = 0; i < got; i++) {
		struct slot *sl = w->ev[i].data;

		sl->res = (long)w->ev[i].res;
		sl->state = SLOT_DONE;
	}
	w->inflight -= (unsigned int)got;
	pthread_cond_broadcast(&e->wake);
}

/* Hand the next block (completed) to the sink; with e->lock held. */
static void sink_one(struct engine *e)
{
	struct slot *sl = &e->slots[e->sink_seq % e->qd];
	struct sink *s = e->sink;
	int ret;

	if (sl->res < 0 || (size_t)sl->res < sl->want) {
		fail(e, sl->res < 0 ? (int)sl->res : -EIO, sl->off);
		return;
	}
	e->sinking = true;
	pthread_mutex_unlock(&e->lock);
	ret = s->block(s, sl->buf, sl->off, sl->want);
	if (!ret && s->progress && (now() - e->last_progress >= 0.5 ||
				    e->sunk + sl->want == e->size)) {
		e->last_progress = now();
		s->progress(s, e->sunk + sl->want);
	}
	pthread_mutex_lock(&e->lock);
	e->sinking = false;
	if (ret < 0) {
		fail(e, ret, sl->off);
		return;
	}
	e->sunk += sl->want;
	sl->state = SLOT_FREE;
	e->sink_seq++;
	pthread_cond_broadcast(&e->wake);
}

/*
 * One worker's loop, until everything is in the sink or something failed.
 * In order of preference: feed the sink the next block (while its bytes are
 * still in the cache of the CPU that read them, when it was this worker),
 * refill free slots, reap its own reads, wait for another worker's.
 */
static void work(struct worker *w)
{
	struct engine *e = w->e;
	unsigned int n;

	pthread_mutex_lock(&e->lock);
	while (!finished(e)) {
		if (!e->sinking && e->slots[e->sink_seq % e->qd].state == SLOT_DONE) {
			sink_one(e);
		} else if ((n = claim(e, w))) {
			submit(e, w, n);
		} else if (w->inflight) {
			reap(e, w);
		} else {
			pthread_cond_wait(&e->wake, &e->lock);
		}
	}
	pthread_mutex_unlock(&e->lock);
}

static void *worker_main(void *arg)
{
	work(arg);
	return NULL;
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
	struct engine e = {
		.fd = fd, .bs = o->block_size, .qd = o->queue_depth, .sink = s,
		.cur = { ext, nr, 0, 0 },
		.lock = PTHREAD_MUTEX_INITIALIZER,
		.wake = PTHREAD_COND_INITIALIZER,
		.last_progress = now(),
	};
	unsigned int nr_workers = o->threads ? o->threads : 1, i;
	struct worker *workers = NULL;
	void *ring = NULL;
	size_t ring_bytes;
	int ret = 0;

	for (i = 0; i < nr; i++)
		e.size += ext[i].len;
	while (e.cur.i < nr && !ext[e.cur.i].len)
		e.cur.i++;
	if (nr_workers > e.qd)
		nr_workers = e.qd;
	e.per_worker = (e.qd + nr_workers - 1) / nr_workers;
	*fail_off = 0;

	e.slots = calloc(e.qd, sizeof(*e.slots));
	workers = calloc(nr_workers, sizeof(*workers));
	if (!e.slots || !workers) {
		ret = -ENOMEM;
		goto out;
	}
	/*
	 * One region for all the buffers, in transparent huge pages where the
	 * kernel has them: pinning a read's pages for O_DIRECT then takes a
	 * reference per 2 MiB rather than per 4 KiB.
	 */
	ring_bytes = (size_t)e.qd * e.bs;
	if (posix_memalign(&ring, HUGE_ALIGN, ring_bytes)) {
		ring = NULL;
		ret = -ENOMEM;
		goto out;
	}
	madvise(ring, ring_bytes, MADV_HUGEPAGE);
	for (i = 0; i < e.qd; i++)
		e.slots[i].buf = (char *)ring + (size_t)i * e.bs;
	for (i = 0; i < nr_workers; i++) {
		struct worker *w = &workers[i];

		w->e = &e;
		w->batch = calloc(e.per_worker, sizeof(*w->batch));
		w->ev = calloc(e.per_worker, sizeof(*w->ev));
		if (!w->batch || !w->ev) {
			ret = -ENOMEM;
			goto out;
		}
		ret = io_setup((int)e.per_worker, &w->ctx);
		if (ret < 0)
			goto out;
	}
	/* Worker 0 is this thread; fewer helpers than asked for still do it all. */
	for (i = 1; i < nr_workers; i++)
		if (!pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]))
			workers[i].started = true;
	work(&workers[0]);
	ret = e.err;
	*fail_off = e.fail_off;
out:
	for (i = 1; workers && i < nr_workers; i++)
		if (workers[i].started)
			pthread_join(workers[i].thread, NULL);
	for (i = 0; workers && i < nr_workers; i++) {
		/* waits for any read still in flight before the buffers go */
		if (workers[i].ctx)
			io_destroy(workers[i].ctx);
		free(workers[i].batch);
		free(workers[i].ev);
	}
	free(workers);
	free(ring);
	free(e.slots);
	return ret;
}
