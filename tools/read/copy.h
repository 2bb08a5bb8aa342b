/* SPDX-License-Identifier: GPL-2.0 */
#ifndef SNAPREAD_COPY_H
#define SNAPREAD_COPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * The read engine: reads [0, size) of an O_DIRECT file descriptor with
 * libaio, up to queue_depth requests of block_size bytes in flight, and hands
 * the blocks to a sink strictly in offset order (so that a streaming checksum
 * and a pipe both see the content in order).  `threads' workers (the caller
 * and threads - 1 others) submit and reap the reads; the sink is called by
 * one of them at a time, never concurrently.
 */
struct sink {
	/* Called once per block, in order; returns 0 or -errno. */
	int (*block)(struct sink *s, const void *buf, off_t off, size_t len);
	/* Called about twice a second with the bytes handed over so far. */
	void (*progress)(struct sink *s, uint64_t done);
};

struct read_opts {
	size_t block_size;	/* power of two, multiple of 4096 */
	unsigned int queue_depth;
	unsigned int threads;	/* workers, 1..queue_depth (0: one) */
};

/* A byte range of the source; offsets and lengths multiples of 4096 but
 * for an extent that ends where the source does. */
struct extent {
	uint64_t off, len;
};

/*
 * Returns 0, or -errno with *fail_off set to the offset of the failed
 * read (or write, as the sink reported it).
 */
int read_all(int fd, uint64_t size, const struct read_opts *o, struct sink *s,
	     off_t *fail_off);
/* The same for n extents in increasing order; the sink sees each block at
 * its offset in the source, and progress counts bytes of the extents. */
int read_extents(int fd, const struct extent *ext, size_t n, const struct read_opts *o,
		 struct sink *s, off_t *fail_off);

/* True when len bytes at p are all zero. */
bool all_zero(const void *p, size_t len);

#endif /* SNAPREAD_COPY_H */
