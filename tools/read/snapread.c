// SPDX-License-Identifier: GPL-2.0
/*
 * snapread: copy a snapshot image device (or any block device or file) to a
 * file, a block device or standard output, fast: O_DIRECT reads with libaio,
 * many requests in flight from a few threads, all-zero blocks left as holes
 * in a file, an xxHash checksum of the content, progress on a terminal.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json.h>

#include "copy.h"
#include "daemon.h"
#include "meta.h"
#include "outfile.h"
#include "report.h"
#include "size.h"
#include "snapread.h"

/* Defaults measured in the guest, on brd and on null_blk with 1 ms of
 * latency (bench/RESULTS.md, bench/NOTES.md). */
#define DEFAULT_BLOCK_SIZE	(1U << 20)
#define DEFAULT_QUEUE_DEPTH	8
#define SPARSE_UNIT		4096
#define MAX_QUEUE_DEPTH		1024
#define DEFAULT_THREADS		2
#define MAX_THREADS		64

const char *prog = "snapread";

void die(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "%s: ", prog);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(code);
}

double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int output_lost(FILE *f, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "%s: ", prog);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " could not be written to %s: %s%s\n",
		f == stderr ? "standard error" : "standard output", strerror(-err),
		err == -EPIPE ? " (its reader exited)" : "");
	return CS_EXIT_CLOSED;
}

static int usage(FILE *f)
{
	return report_printf(f,
"usage: snapread [options] SOURCE [OUTPUT]\n"
"       snapread [options] --incremental --base IMAGE SNAPDEV\n"
"\n"
"Copies SOURCE (a snapshot image such as /dev/cowsnap0, any block device or\n"
"file) to OUTPUT: a file (created; all-zero blocks become holes), a block\n"
"device (at least as large), or standard output when OUTPUT is - or absent.\n"
"Prints the XXH64 checksum of the content, as xxhsum would (--checksum).\n"
"\n"
"When SOURCE is a cowsnap image (/dev/cowsnapN) and OUTPUT a file, snapread\n"
"asks cowsnapd which snapshot it is and writes OUTPUT.cowsnap-meta beside\n"
"the image.  With --incremental, snapread updates such an IMAGE in place to\n"
"the content of the later snapshot SNAPDEV of the same volume, reading only\n"
"the chunks written since IMAGE's snapshot (the volume must stay tracked in\n"
"between: `snapctl track VOLUME').  It refuses (exit 4, IMAGE untouched) when\n"
"that cannot be known: metadata missing, IMAGE changed or truncated since,\n"
"SNAPDEV of another volume or of another size, or the volume's changed-block\n"
"map started over (untracked, module reloaded, reboot); do a full read then.\n"
"\n"
"options:\n"
"  -b, --block-size SIZE   bytes per read request (default 1M; 4K..64M,\n"
"                          a power of two; K, M, G, T suffixes of 1024)\n"
"  -d, --queue-depth N     read requests in flight (default %d, 1..%d)\n"
"  -t, --threads N         threads submitting reads and taking turns at the\n"
"                          checksum and output (default %d, 1..%d)\n"
"      --no-sparse         write zero blocks to a file instead of holes\n"
"      --checksum ALG      xxh64 (default, as xxhsum prints it), xxh128 (as\n"
"                          xxh128sum does) or none\n"
"      --no-checksum       the same as --checksum none (no --verify then)\n"
"      --verify            re-read OUTPUT afterwards and compare checksums\n"
"      --incremental       update --base IMAGE from SNAPDEV (see above); the\n"
"                          checksum is of IMAGE as updated, re-read\n"
"      --base IMAGE        the earlier full image to update\n"
"  -f, --force             replace an existing OUTPUT file\n"
"      --json              print a JSON summary on standard output (on\n"
"                          standard error when the image goes there); the\n"
"                          bytes of names that are not UTF-8 show as U+FFFD\n"
"  -q, --quiet             no progress, no checksum line\n"
"      --progress          show progress even when stderr is not a terminal\n"
"  -h, --help              this text\n"
"  -V, --version           print the version\n"
"\n"
"A file OUTPUT is written as OUTPUT.partial and renamed when complete, so a\n"
"failed copy never leaves a file that looks like a good image; a failed\n"
"--incremental leaves IMAGE's metadata marked incomplete, so that the next\n"
"one refuses it.  OUTPUT.partial is created anew, mode 0600, never through\n"
"a symlink: one an interrupted snapread of the same user left is replaced,\n"
"anything else there (a symlink, another user's file) is refused (exit 2).\n"
"A pipe closed by its reader (`snapread ... | head') ends snapread with exit\n"
"5, saying what was cut short: the image, or only the checksum line or JSON\n"
"summary (a file or device OUTPUT is complete then).\n"
"exit status: 0 done, 1 read or write error, 2 bad usage, 3 verify mismatch,\n"
"4 --incremental refused (do a full read), 5 output cut short: a pipe closed\n"
"by its reader, or the checksum line or JSON summary could not be written\n",
		DEFAULT_QUEUE_DEPTH, MAX_QUEUE_DEPTH, DEFAULT_THREADS, MAX_THREADS);
}

/* A count of 1..max in decimal; 0 when s is not one. */
static unsigned int parse_count(const char *s, unsigned int max)
{
	unsigned long v;
	char *end;

	if (*s < '1' || *s > '9')
		return 0;
	errno = 0;
	v = strtoul(s, &end, 10);
	return (errno || *end || v > max) ? 0 : (unsigned int)v;
}

void show_progress(struct sink *s, uint64_t done)
{
	struct copy *c = (struct copy *)s;
	double t = now() - c->start;
	double rate = t > 0 ? done / t : 0;
	char a[32], b[32], r[32], eta[32] = "--:--";

	if (!c->show_progress)
		return;
	cs_size_format(done, a, sizeof(a));
	cs_size_format(c->size, b, sizeof(b));
	cs_size_format((uint64_t)rate, r, sizeof(r));
	if (rate > 0) {
		unsigned long e = (unsigned long)((c->size - done) / rate);

		snprintf(eta, sizeof(eta), "%lu:%02lu", e / 60, e % 60);
	}
	fprintf(stderr, "\r%s / %s  %3.0f%%  %s/s  ETA %s   ", a, b,
		c->size ? 100.0 * done / c->size : 100.0, r, eta);
	if (done == c->size)
		fputc('\n', stderr);
	fflush(stderr);
}

int write_full(int fd, const char *p, size_t len, off_t off, bool seekable)
{
	while (len) {
		ssize_t n = seekable ? pwrite(fd, p, len, off) : write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

static int flush_run(struct copy *c, const char *p, size_t run, off_t off)
{
	int ret;

	if (!run)
		return 0;
	ret = write_full(c->out_fd, p, run, off, true);
	if (!ret)
		c->written += run;
	return ret;
}

/* One block, in order: checksum, then out (holes for zero runs in a file). */
static int copy_block(struct sink *s, const void *buf, off_t off, size_t len)
{
	struct copy *c = (struct copy *)s;
	const char *p = buf;
	size_t i, u, run = 0;
	int ret;

	sum_update(&c->sum, buf, len);
	if (c->out_fd < 0)
		return 0;
	if (c->kind != OUT_FILE || !c->sparse) {
		ret = write_full(c->out_fd, p, len, off, c->kind != OUT_STREAM);
		if (!ret)
			c->written += len;
		return ret;
	}
	/* Write runs of non-zero units; leave zero units as holes. */
	for (i = 0; i < len; i += u) {
		u = len - i < SPARSE_UNIT ? len - i : SPARSE_UNIT;
		if (!all_zero(p + i, u)) {
			run += u;
			continue;
		}
		ret = flush_run(c, p + i - run, run, off + (off_t)(i - run));
		if (ret)
			return ret;
		run = 0;
		c->skipped += u;
	}
	return flush_run(c, p + len - run, run, off + (off_t)(len - run));
}

uint64_t fd_size(int fd, const char *name)
{
	struct stat st;
	uint64_t sz;

	if (fstat(fd, &st))
		die(CS_EXIT_FAILED, "cannot stat %s: %s", name, strerror(errno));
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &sz))
			die(CS_EXIT_FAILED, "cannot get the size of %s: %s", name, strerror(errno));
		return sz;
	}
	if (S_ISREG(st.st_mode))
		return (uint64_t)st.st_size;
	die(CS_EXIT_USAGE, "%s is neither a block device nor a regular file", name);
	return 0;
}

/*
 * O_DIRECT, so that reading a snapshot does not push the page cache out.
 * With fallback (for --verify of a file on tmpfs and the like), a file
 * without direct I/O is read through the page cache, emptied first so that
 * what is compared comes from the file system.
 */
int open_source(const char *name, bool fallback)
{
	int fd = open(name, O_RDONLY | O_DIRECT | O_CLOEXEC);

	if (fd < 0 && errno == EINVAL && fallback) {
		fd = open(name, O_RDONLY | O_CLOEXEC);
		if (fd >= 0)
			posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	}
	if (fd < 0 && errno == EINVAL)
		die(CS_EXIT_USAGE, "%s does not support direct I/O (O_DIRECT); snapread reads "
		    "block devices and files on filesystems that do", name);
	if (fd < 0)
		die(CS_EXIT_FAILED, "cannot open %s: %s", name, strerror(errno));
	return fd;
}

int hash_file(const char *path, uint64_t size, const struct read_opts *o, enum sum_alg alg,
	      char hex[SUM_HEX_MAX], off_t *fail)
{
	struct copy v = { .sink.block = copy_block, .out_fd = -1 };
	int fd, ret;

	sum_init(&v.sum, alg);
	fd = open_source(path, true);
	ret = read_all(fd, size, o, &v.sink, fail);
	close(fd);
	if (!ret)
		sum_hex(&v.sum, hex);
	sum_free(&v.sum);
	return ret;
}

/* Re-read what was written and compare checksums. */
static bool verify(const char *path, uint64_t size, const struct read_opts *o,
		   enum sum_alg alg, const char *want)
{
	char got[SUM_HEX_MAX];
	off_t fail;
	int ret;

	ret = hash_file(path, size, o, alg, got, &fail);
	if (ret)
		die(CS_EXIT_FAILED, "verify: cannot read %s at offset %lld: %s", path,
		    (long long)fail, strerror(-ret));
	if (strcmp(got, want)) {
		fprintf(stderr, "%s: verify: %s has checksum %s, the source had %s\n",
			prog, path, got, want);
		return false;
	}
	return true;
}

/* The copy failed with ret (-errno) at fail: leave nothing usable; the exit code. */
static int copy_failed(struct copy *c, int ret, off_t fail, const char *partial)
{
	if (c->show_progress)
		fputc('\n', stderr);
	if (ret == -EPIPE && c->kind == OUT_STREAM) {
		fprintf(stderr, "%s: %s was closed by its reader before the copy of %s was "
			"complete (writing at offset %lld): the image it got is incomplete\n",
			prog, c->out_fd == STDOUT_FILENO ? "standard output" : c->dst_name,
			c->src_name, (long long)fail);
		return CS_EXIT_CLOSED;
	}
	fprintf(stderr, "%s: copy of %s failed at offset %lld: %s\n", prog, c->src_name,
		(long long)fail, strerror(-ret));
	if (ret == -EIO)
		fprintf(stderr, "%s: if %s is a cowsnap image, its snapshot may have "
			"become invalid (see `snapctl list sets')\n", prog, c->src_name);
	if (c->kind == OUT_FILE) {
		unlink(partial);
		fprintf(stderr, "%s: removed the incomplete %s\n", prog, partial);
	} else if (c->kind == OUT_BLOCK) {
		/* Wipe the start so the device is not taken for a good image. */
		static char zero[1 << 16];
		uint64_t n = c->size < sizeof(zero) * 16 ? c->size : sizeof(zero) * 16;
		uint64_t o;

		for (o = 0; o < n; o += sizeof(zero))
			if (write_full(c->out_fd, zero, sizeof(zero), (off_t)o, true))
				break;
		fsync(c->out_fd);
		fprintf(stderr, "%s: wiped the first %llu KiB of %s: it does not "
			"hold a complete image\n", prog, (unsigned long long)n >> 10, c->dst_name);
	}
	return CS_EXIT_FAILED;
}

/* The --json summary of a full read: keys and their order in snapread(1). */
/* The keys of a copy's figures, shared by the full and incremental summaries. */
void report_transfer(struct json_object *j, const struct copy *c, double secs)
{
	json_object_object_add(j, "bytes_read", report_u64(c->size));
	json_object_object_add(j, "bytes_written", report_u64(c->written));
	json_object_object_add(j, "bytes_skipped", report_u64(c->skipped));
	json_object_object_add(j, "seconds", report_fixed(secs, 3));
	json_object_object_add(j, "throughput_bytes_per_second",
			       report_fixed(secs > 0 ? c->size / secs : 0.0, 0));
}

static struct json_object *full_report(const struct copy *c, double secs, const char *tag,
				       bool verified, const char *meta_file)
{
	struct json_object *j = json_object_new_object();

	json_object_object_add(j, "source", report_str(c->src_name));
	json_object_object_add(j, "output", report_str(c->dst_name));
	report_transfer(j, c, secs);
	json_object_object_add(j, "checksum", report_str(tag[0] ? tag : NULL));
	json_object_object_add(j, "verified", json_object_new_boolean(verified));
	json_object_object_add(j, "metadata", report_str(meta_file[0] ? meta_file : NULL));
	return j;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "block-size", required_argument, NULL, 'b' },
		{ "queue-depth", required_argument, NULL, 'd' },
		{ "no-sparse", no_argument, NULL, 'S' },
		{ "no-checksum", no_argument, NULL, 'C' },
		{ "checksum", required_argument, NULL, 'c' },
		{ "threads", required_argument, NULL, 't' },
		{ "verify", no_argument, NULL, 'v' },
		{ "force", no_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "progress", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "incremental", no_argument, NULL, 'I' },
		{ "base", required_argument, NULL, 'B' },
		{ NULL, 0, NULL, 0 },
	};
	struct read_opts ro = { DEFAULT_BLOCK_SIZE, DEFAULT_QUEUE_DEPTH, DEFAULT_THREADS };
	struct copy c = { .sink.block = copy_block, .sink.progress = show_progress,
			  .sparse = true, .out_fd = -1 };
	enum sum_alg alg = SUM_XXH64;
	bool do_verify = false, force = false, json = false, quiet = false, progress = false;
	bool incremental = false, have_snap = false;
	char partial[PATH_MAX] = "", sum[SUM_HEX_MAX] = "", meta_file[PATH_MAX] = "";
	char tag[SUM_TAG_MAX], why[PATH_MAX + 128];
	const char *src, *dst, *base = NULL;
	struct snap_info si;
	struct stat sst, st_dst;
	int opt, src_fd, ret;
	FILE *out;
	double secs;
	off_t fail;
	uint64_t v;

	/* a closed pipe is an EPIPE to report, the copy cleaned up: not a death */
	signal(SIGPIPE, SIG_IGN);
	while ((opt = getopt_long(argc, argv, "b:d:t:fqhV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'b':
			if (cs_size_parse(optarg, &v))
				die(CS_EXIT_USAGE, "invalid block size: `%s' (" CS_SIZE_SYNTAX ")",
				    optarg);
			if (v < 4096 || v > (64 << 20) || (v & (v - 1)))
				die(CS_EXIT_USAGE, "invalid block size: `%s' (a power of two "
				    "from 4K to 64M)", optarg);
			ro.block_size = (size_t)v;
			break;
		case 'd':
			ro.queue_depth = parse_count(optarg, MAX_QUEUE_DEPTH);
			if (!ro.queue_depth)
				die(CS_EXIT_USAGE, "invalid queue depth: `%s' (1 to %d)", optarg,
				    MAX_QUEUE_DEPTH);
			break;
		case 't':
			ro.threads = parse_count(optarg, MAX_THREADS);
			if (!ro.threads)
				die(CS_EXIT_USAGE, "invalid number of threads: `%s' (1 to %d)",
				    optarg, MAX_THREADS);
			break;
		case 'c':
			if (sum_parse(optarg, &alg))
				die(CS_EXIT_USAGE, "unknown checksum `%s': xxh64, xxh128 or none",
				    optarg);
			break;
		case 'S': c.sparse = false; break;
		case 'C': alg = SUM_NONE; break;
		case 'v': do_verify = true; break;
		case 'f': force = true; break;
		case 'j': json = true; break;
		case 'q': quiet = true; break;
		case 'P': progress = true; break;
		case 'I': incremental = true; break;
		case 'B': base = optarg; break;
		case 'h':
			ret = usage(stdout);
			return ret ? output_lost(stdout, ret, "the usage") : CS_EXIT_OK;
		case 'V':
			ret = report_printf(stdout, "snapread %s\n", COWSNAP_VERSION);
			return ret ? output_lost(stdout, ret, "the version") : CS_EXIT_OK;
		default: usage(stderr); return CS_EXIT_USAGE;
		}
	}
	if (optind >= argc || argc - optind > 2) {
		usage(stderr);
		return CS_EXIT_USAGE;
	}
	src = argv[optind];
	dst = optind + 1 < argc ? argv[optind + 1] : "-";
	if (do_verify && alg == SUM_NONE)
		die(CS_EXIT_USAGE, "--verify needs the checksum: drop --no-checksum or "
		    "--checksum none");
	if (base && !incremental)
		die(CS_EXIT_USAGE, "--base goes with --incremental");
	if (incremental) {
		struct incr_opts io = { .alg = alg, .json = json, .quiet = quiet,
					.progress = progress };

		if (!base)
			die(CS_EXIT_USAGE, "--incremental needs --base IMAGE, the full image to "
			    "update");
		if (argc - optind != 1)
			die(CS_EXIT_USAGE, "--incremental takes one SNAPDEV and no OUTPUT: IMAGE "
			    "(--base) is updated in place");
		if (do_verify || force || !c.sparse)
			die(CS_EXIT_USAGE, "--verify, --force and --no-sparse are for full reads");
		return run_incremental(src, base, &ro, &io);
	}

	src_fd = open_source(src, false);
	c.size = fd_size(src_fd, src);
	c.src_name = src;
	c.dst_name = dst;
	/* a cowsnap image copied to a file: note which snapshot it is */
	if (!fstat(src_fd, &sst) && S_ISBLK(sst.st_mode) && snap_is_image(sst.st_rdev) &&
	    strcmp(dst, "-") && (stat(dst, &st_dst) || S_ISREG(st_dst.st_mode))) {
		struct cs_error err = { 0 };
		bool kept = true;

		if (snap_lookup(sst.st_rdev, &si, &err))
			fprintf(stderr, "%s: note: no metadata for --incremental beside %s: %s\n",
				prog, dst, err.message);
		else
			have_snap = true;
		if (have_snap && !snap_origin_kept(&si, &kept, &err) && !kept && !quiet)
			fprintf(stderr, "%s: note: %s is not kept tracked: once set %llu is gone, "
				"an incremental update of %s needs `snapctl track %s' first, or "
				"a full read\n", prog, si.origin, (unsigned long long)si.set_id,
				dst, si.origin);
	}

	if (!strcmp(dst, "-")) {
		if (isatty(STDOUT_FILENO))
			die(CS_EXIT_USAGE, "refusing to write an image to a terminal: give an "
			    "OUTPUT file or redirect standard output");
		if (do_verify)
			die(CS_EXIT_USAGE, "--verify needs an OUTPUT file or device, not standard "
			    "output");
		c.kind = OUT_STREAM;
		c.out_fd = STDOUT_FILENO;
	} else {
		struct stat st;

		if (!stat(dst, &st) && S_ISBLK(st.st_mode)) {
			c.kind = OUT_BLOCK;
			c.out_fd = open(dst, O_WRONLY | O_CLOEXEC | O_EXCL);
			if (c.out_fd < 0)
				die(CS_EXIT_FAILED, "cannot open %s for writing: %s", dst,
				    strerror(errno));
			if (fd_size(c.out_fd, dst) < c.size)
				die(CS_EXIT_USAGE, "%s is smaller than %s", dst, src);
		} else if (!stat(dst, &st) && !S_ISREG(st.st_mode)) {
			c.kind = OUT_STREAM;	/* /dev/null, a FIFO, ... */
			if (do_verify)
				die(CS_EXIT_USAGE, "--verify needs a regular file or block device "
				    "OUTPUT");
			c.out_fd = open(dst, O_WRONLY | O_CLOEXEC);
			if (c.out_fd < 0)
				die(CS_EXIT_FAILED, "cannot open %s: %s", dst, strerror(errno));
		} else {
			if (!force && !access(dst, F_OK))
				die(CS_EXIT_USAGE, "%s exists; use --force to replace it", dst);
			c.kind = OUT_FILE;
			if (snprintf(partial, sizeof(partial), "%s.partial", dst) >=
			    (int)sizeof(partial))
				die(CS_EXIT_USAGE, "output path too long: `%s'", dst);
			/* not through a link or into a file planted there */
			c.out_fd = outfile_create(partial, why, sizeof(why));
			if (c.out_fd == -EEXIST || c.out_fd == -EBUSY)
				die(CS_EXIT_USAGE, "%s", why);
			if (c.out_fd < 0)
				die(CS_EXIT_FAILED, "%s", why);
		}
	}

	c.show_progress = progress || (!quiet && !json && isatty(STDERR_FILENO));
	sum_init(&c.sum, alg);
	c.start = now();
	ret = read_all(src_fd, c.size, &ro, &c.sink, &fail);
	if (!ret && c.kind == OUT_FILE && ftruncate(c.out_fd, (off_t)c.size))
		ret = -errno, fail = (off_t)c.size;
	if (!ret && c.kind != OUT_STREAM && fsync(c.out_fd))
		ret = -errno, fail = (off_t)c.size;
	secs = now() - c.start;
	close(src_fd);

	if (ret)
		return copy_failed(&c, ret, fail, partial);

	sum_hex(&c.sum, sum);
	sum_tag(alg, sum, tag, sizeof(tag));
	if (c.kind == OUT_FILE || c.kind == OUT_BLOCK) {
		const char *check = c.kind == OUT_FILE ? partial : dst;

		/* a file stays open, so locked, until renamed: see outfile.h */
		if (c.kind == OUT_BLOCK)
			close(c.out_fd);
		if (do_verify && !verify(check, c.size, &ro, alg, sum)) {
			if (c.kind == OUT_FILE)
				unlink(partial);
			return CS_EXIT_VERIFY;
		}
		/* the metadata of the image this one replaces goes first */
		if (c.kind == OUT_FILE)
			meta_remove(dst);
		/* an OUTPUT that is a symlink is replaced, not followed */
		if (c.kind == OUT_FILE && rename(partial, dst))
			die(CS_EXIT_FAILED, "cannot rename %s to %s: %s", partial, dst,
			    strerror(errno));
		if (c.kind == OUT_FILE)
			close(c.out_fd);
	}
	if (c.kind == OUT_FILE && have_snap) {
		struct image_meta m = { .major = si.major, .minor = si.minor,
					.cbt_seq = si.cbt_seq, .set_id = si.set_id,
					.chunk_sectors = si.chunk_sectors, .size = c.size,
					.complete = true };

		strcpy(m.origin, si.origin);
		strcpy(m.generation, si.generation);
		snprintf(m.checksum, sizeof(m.checksum), "%s", tag);
		if (meta_write(dst, &m, why, sizeof(why)))
			fprintf(stderr, "%s: note: no metadata for --incremental: %s\n", prog, why);
		else
			meta_path(dst, meta_file, sizeof(meta_file));
	}

	/* the image goes to standard output: what is said of it to stderr */
	ret = 0;
	out = c.kind == OUT_STREAM && c.out_fd == STDOUT_FILENO ? stderr : stdout;
	if (json)
		ret = report_print(out, full_report(&c, secs, tag, do_verify, meta_file));
	else if (!quiet && alg != SUM_NONE)
		ret = report_printf(out, "%s  %s\n", sum, src);
	sum_free(&c.sum);
	if (ret)
		return output_lost(out, ret, "%s is complete, but its %s", c.kind == OUT_STREAM ?
				   "the copy" : dst, json ? "JSON summary" : "checksum line");
	return CS_EXIT_OK;
}
