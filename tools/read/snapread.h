/* SPDX-License-Identifier: GPL-2.0 */
#ifndef SNAPREAD_H
#define SNAPREAD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "copy.h"
#include "exitcodes.h"
#include "sum.h"

enum out_kind { OUT_FILE, OUT_BLOCK, OUT_STREAM };

/* A copy in progress: the sink of the read engine and what it counted. */
struct copy {
	struct sink sink;
	const char *src_name, *dst_name;
	enum out_kind kind;
	int out_fd;
	bool sparse, show_progress;
	uint64_t size;
	uint64_t written, skipped;
	struct sum sum;		/* alg SUM_NONE: no checksum */
	double start;
};

extern const char *prog;

void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
double now(void);
void show_progress(struct sink *s, uint64_t done);
int write_full(int fd, const char *p, size_t len, off_t off, bool seekable);
/* Say on stderr that what fmt names could not be written to f (stdout or
 * stderr), err (-errno) why; returns CS_EXIT_CLOSED. */
int output_lost(FILE *f, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Add a copy's figures (bytes read, written, skipped, seconds, throughput)
 * to a --json summary, in snapread(1)'s order. */
struct json_object;
void report_transfer(struct json_object *j, const struct copy *c, double secs);
uint64_t fd_size(int fd, const char *name);
int open_source(const char *name, bool fallback);
/* The checksum (alg) of the first size bytes of path, in hex. */
int hash_file(const char *path, uint64_t size, const struct read_opts *o, enum sum_alg alg,
	      char hex[SUM_HEX_MAX], off_t *fail);

/* incr.c: snapread --incremental --base IMAGE SNAPDEV; returns the exit code. */
struct incr_opts {
	enum sum_alg alg;
	bool json, quiet, progress;
};
int run_incremental(const char *snapdev, const char *base, const struct read_opts *ro,
		    const struct incr_opts *o);

#endif /* SNAPREAD_H */
