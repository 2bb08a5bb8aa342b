// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Check tests of snapread's read engine (tools/read/copy.c): every block
 * reaches the sink once, in order, with its content, whatever the number of
 * workers, queue depth and block size; the sink is never entered twice at
 * once; a failing sink, a short read and a read that cannot be submitted end
 * the copy with that error at the right offset, and nothing hangs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "copy.h"

/* A file whose every 8-byte word holds its own offset. */
struct src {
	char path[64];
	int fd;
	uint64_t size;
};

static void src_make(struct src *s, uint64_t size)
{
	uint64_t off, w;
	FILE *f;
	int fd;

	/* /var/tmp: on a disk filesystem, where O_DIRECT works */
	snprintf(s->path, sizeof(s->path), "/var/tmp/test-copy.XXXXXX");
	fd = mkstemp(s->path);
	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	ck_assert_ptr_nonnull(f);
	for (off = 0; off + 8 <= size; off += 8) {
		w = off;
		ck_assert_int_eq(fwrite(&w, 8, 1, f), 1);
	}
	for (; off < size; off++)
		ck_assert_int_ne(fputc(0xa5, f), EOF);
	ck_assert_int_eq(fclose(f), 0);
	s->size = size;
	s->fd = open(s->path, O_RDONLY | O_DIRECT);
	if (s->fd < 0 && errno == EINVAL)	/* a filesystem without O_DIRECT */
		s->fd = open(s->path, O_RDONLY);
	ck_assert_int_ge(s->fd, 0);
}

static void src_drop(struct src *s)
{
	close(s->fd);
	unlink(s->path);
}

struct check_sink {
	struct sink sink;
	const struct extent *ext;	/* what the sink must see, in order */
	size_t n, i;
	uint64_t pos;			/* into ext[i] */
	size_t bs;
	uint64_t file_size;
	atomic_int inside;
	unsigned int blocks, fail_at;	/* fail the fail_at-th block (1-based) */
	int fail_err;
	char why[160];
};

static bool content_ok(const unsigned char *p, off_t off, size_t len, uint64_t file_size)
{
	size_t i;

	for (i = 0; i < len; i++) {
		uint64_t at = (uint64_t)off + i, word = at & ~7ULL;
		unsigned char want = word + 8 <= file_size ?
			(unsigned char)(word >> (8 * (at & 7))) : 0xa5;

		if (p[i] != want)
			return false;
	}
	return true;
}

static int check_block(struct sink *s, const void *buf, off_t off, size_t len)
{
	struct check_sink *c = (struct check_sink *)s;
	const struct extent *e;
	uint64_t left;
	int ret = 0;

	if (atomic_fetch_add(&c->inside, 1) != 0 && !c->why[0])
		snprintf(c->why, sizeof(c->why), "sink entered twice at once");
	c->blocks++;
	if (c->fail_at && c->blocks == c->fail_at) {
		ret = c->fail_err;
		goto out;
	}
	if (c->fail_at && c->blocks > c->fail_at && !c->why[0])
		snprintf(c->why, sizeof(c->why), "sink called after it failed");
	if (c->i >= c->n) {
		if (!c->why[0])
			snprintf(c->why, sizeof(c->why), "a block after the end, at %lld",
				 (long long)off);
		goto out;
	}
	e = &c->ext[c->i];
	left = e->len - c->pos;
	if ((uint64_t)off != e->off + c->pos || len != (left < c->bs ? left : c->bs)) {
		if (!c->why[0])
			snprintf(c->why, sizeof(c->why), "block at %lld+%zu, expected %llu+%llu",
				 (long long)off, len, (unsigned long long)(e->off + c->pos),
				 (unsigned long long)(left < c->bs ? left : c->bs));
		goto out;
	}
	if (!content_ok(buf, off, len, c->file_size) && !c->why[0])
		snprintf(c->why, sizeof(c->why), "wrong bytes in the block at %lld",
			 (long long)off);
	c->pos += len;
	if (c->pos == e->len) {
		c->i++;
		c->pos = 0;
		while (c->i < c->n && !c->ext[c->i].len)
			c->i++;
	}
out:
	atomic_fetch_sub(&c->inside, 1);
	return ret;
}

static void sink_init(struct check_sink *c, const struct extent *ext, size_t n, size_t bs,
		      uint64_t file_size)
{
	memset(c, 0, sizeof(*c));
	c->sink.block = check_block;
	c->ext = ext;
	c->n = n;
	c->bs = bs;
	c->file_size = file_size;
	while (c->i < c->n && !c->ext[c->i].len)
		c->i++;
}

START_TEST(whole_file_in_order)
{
	static const unsigned int threads[] = { 1, 2, 3, 8 }, depths[] = { 1, 2, 5, 8 };
	static const size_t sizes[] = { 4096, 65536, 1 << 20 };
	struct src s;
	size_t t, d, b;

	/* not a multiple of any block size, and a tail shorter than 4 KiB */
	src_make(&s, (3 << 20) + 65536 + 1000);
	for (t = 0; t < 4; t++)
		for (d = 0; d < 4; d++)
			for (b = 0; b < 3; b++) {
				struct read_opts o = { sizes[b], depths[d], threads[t] };
				struct extent all = { 0, s.size };
				struct check_sink c;
				off_t fail = -1;
				int ret;

				sink_init(&c, &all, 1, sizes[b], s.size);
				ret = read_all(s.fd, s.size, &o, &c.sink, &fail);
				ck_assert_msg(ret == 0, "t=%u d=%u b=%zu: %s", threads[t], depths[d],
					      sizes[b], strerror(-ret));
				ck_assert_msg(!c.why[0], "t=%u d=%u b=%zu: %s", threads[t],
					      depths[d], sizes[b], c.why);
				ck_assert_msg(c.i == 1, "t=%u d=%u b=%zu: stopped short at extent "
					      "%zu+%llu", threads[t], depths[d], sizes[b], c.i,
					      (unsigned long long)c.pos);
			}
	src_drop(&s);
}
END_TEST

START_TEST(extents_in_order)
{
	static const struct extent ext[] = {
		{ 0, 0 }, { 4096, 8192 }, { 65536, 0 }, { 131072, 300 << 10 },
		{ 1 << 20, 4096 }, { 2 << 20, (1 << 20) + 4096 }, { 4 << 20, 0 },
	};
	struct src s;
	unsigned int t;

	src_make(&s, 4 << 20);
	for (t = 1; t <= 3; t++) {
		struct read_opts o = { 65536, 4, t };
		struct check_sink c;
		off_t fail = -1;
		int ret;

		sink_init(&c, ext, 7, 65536, s.size);
		ret = read_extents(s.fd, ext, 7, &o, &c.sink, &fail);
		ck_assert_msg(ret == 0, "t=%u: %s", t, strerror(-ret));
		ck_assert_msg(!c.why[0], "t=%u: %s", t, c.why);
		ck_assert_uint_eq(c.i, 7);
	}
	src_drop(&s);
}
END_TEST

/*
 * Read `want' bytes (64 KiB blocks) of a file of `have' bytes with 1 to
 * max_threads workers, the sink failing its fail_at-th block (0: never):
 * the copy ends with err at offset at, after `blocks' calls of the sink.
 */
static void expect_failure(uint64_t have, uint64_t want, unsigned int depth,
			   unsigned int max_threads, unsigned int fail_at, int err,
			   off_t at, unsigned int blocks)
{
	struct src s;
	unsigned int t;

	src_make(&s, have);
	for (t = 1; t <= max_threads; t++) {
		struct read_opts o = { 65536, depth, t };
		struct extent all = { 0, want };
		struct check_sink c;
		off_t fail = -1;

		sink_init(&c, &all, 1, 65536, s.size);
		c.fail_at = fail_at;
		c.fail_err = err;
		ck_assert_int_eq(read_all(s.fd, want, &o, &c.sink, &fail), err);
		ck_assert_int_eq(fail, at);
		ck_assert_uint_eq(c.blocks, blocks);
		ck_assert_msg(!c.why[0], "t=%u: %s", t, c.why);
	}
	src_drop(&s);
}

START_TEST(sink_failure_stops_the_copy)
{
	/* the fifth block fails: four written, none after it */
	expect_failure(2 << 20, 2 << 20, 8, 4, 5, -ENOSPC, 4 * 65536, 5);
}
END_TEST

START_TEST(short_read_is_an_error_at_its_offset)
{
	/* asked for twice the file: the first block past its end reads 0 */
	expect_failure(1 << 20, 2 << 20, 4, 3, 0, -EIO, 1 << 20, 16);
}
END_TEST

START_TEST(unsubmittable_read_fails_cleanly)
{
	struct read_opts o = { 65536, 4, 2 };
	struct check_sink c;
	struct extent all = { 0, 1 << 20 };
	off_t fail = -1;
	struct src s;
	int wfd;

	src_make(&s, 1 << 20);
	wfd = open(s.path, O_WRONLY);
	ck_assert_int_ge(wfd, 0);
	sink_init(&c, &all, 1, 65536, s.size);
	/* reads on a write-only descriptor are refused by io_submit() */
	ck_assert_int_eq(read_all(wfd, 1 << 20, &o, &c.sink, &fail), -EBADF);
	ck_assert_int_eq(fail, 0);
	ck_assert_uint_eq(c.blocks, 0);
	close(wfd);
	src_drop(&s);
}
END_TEST

START_TEST(empty_source)
{
	struct read_opts o = { 65536, 4, 2 };
	struct check_sink c;
	struct extent none = { 0, 0 };
	off_t fail = -1;
	struct src s;

	src_make(&s, 0);
	sink_init(&c, &none, 1, 65536, 0);
	ck_assert_int_eq(read_all(s.fd, 0, &o, &c.sink, &fail), 0);
	ck_assert_uint_eq(c.blocks, 0);
	src_drop(&s);
}
END_TEST

static Suite *copy_suite(void)
{
	Suite *s = suite_create("snapread read engine");
	TCase *tc = tcase_create("engine");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, whole_file_in_order);
	tcase_add_test(tc, extents_in_order);
	tcase_add_test(tc, sink_failure_stops_the_copy);
	tcase_add_test(tc, short_read_is_an_error_at_its_offset);
	tcase_add_test(tc, unsubmittable_read_fails_cleanly);
	tcase_add_test(tc, empty_source);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(copy_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
