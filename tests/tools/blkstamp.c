// SPDX-License-Identifier: GPL-2.0
/*
 * blkstamp: self-describing blocks for the guest tests' content checks.
 *
 * Every block (default 4096 bytes) of a device written by blkstamp holds a
 * stamp: magic, its own block index, a version, the writer's id, and a
 * checksum over the whole block, the rest being filler derived from index
 * and version.  So a reader can tell which version a block holds and whether
 * it holds one whole version (a torn or misplaced block fails the checksum
 * or the index).  All I/O is O_DIRECT.
 *
 *   blkstamp fill DEV [--version V] [--bs B]
 *       write version V (default 1) to every block.
 *   blkstamp write DEV --state P [--threads T] [--seconds S] [--bs B]
 *                  [--max-run N] [--writes N] [--init]
 *       T threads (default 4) rewrite random runs of up to N blocks, each
 *       thread in its own region, each write a new version of its blocks,
 *       until SIGTERM/SIGINT, S seconds, or N writes per thread.  --init
 *       fills version 1 first; without it the device must be stamped.
 *       Keeps per block the last version submitted and the last acknowledged:
 *         SIGUSR1 -> P.lo = last acknowledged, then creates P.lo.ok
 *         SIGUSR2 -> P.hi = last submitted,    then creates P.hi.ok
 *         at the end  P.final = last acknowledged (= last submitted)
 *       P.ready appears once writing has begun.  A block's image taken
 *       between the USR1 and the USR2 must hold a version in [lo, hi].
 *   blkstamp verify DEV (--lo F --hi F | --exact F | --version V) [--bs B]
 *       check every block is a whole stamp within the bounds.  Prints
 *       "verify blocks=N ok=N bad=N digest=HEX"; exits 1 on any bad block.
 *   blkstamp digest DEV [--bs B]
 *       a 64-bit digest of the whole device's bytes, read with O_DIRECT.
 *   blkstamp chain-write DEV... [--threads T] [--seconds S] [--blocks K]
 *       the atomic-set writer: for a block k, write version v of k to the
 *       first device, after its completion to the second, and so on; then
 *       the next block.  The first K blocks of each device (default: all)
 *       are shared out among T threads.  Fills version 1 first on all.
 *       Stops on SIGTERM/SIGINT; creates $BLKSTAMP_READY (if set) when
 *       the fill is done.
 *   blkstamp chain-verify DEV... [--blocks K]
 *       images taken at one instant: for every block, versions never grow
 *       along the chain and differ by at most 1 from first to last.
 *
 * Exit status: 0 ok, 1 content check failed, 2 usage or I/O error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>

#define STAMP_MAGIC 0x31504d5453534343ULL /* "CCSSTMP1" */
#define MAX_DEVS 64

struct stamp {
	uint64_t magic;
	uint64_t index;
	uint64_t version;
	uint32_t writer;
	uint32_t bs;
	uint64_t reserved;
	uint64_t csum;
};

static size_t bs = 4096;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "blkstamp: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static uint64_t hash_words(const uint64_t *w, size_t n, uint64_t h)
{
	size_t i;

	for (i = 0; i < n; i++)
		h = mix(h ^ w[i]) + i;
	return h;
}

static void make_block(void *buf, uint64_t index, uint64_t version, uint32_t writer)
{
	struct stamp *s = buf;
	uint64_t *w = buf, seed = mix(index * 0x9e3779b97f4a7c15ULL ^ version);
	size_t i, nw = bs / 8;

	for (i = sizeof(*s) / 8; i < nw; i++)
		w[i] = mix(seed + i);
	s->magic = STAMP_MAGIC;
	s->index = index;
	s->version = version;
	s->writer = writer;
	s->bs = (uint32_t)bs;
	s->reserved = 0;
	s->csum = 0;
	s->csum = hash_words(w, nw, 0x5eed);
}

/* 0 when buf holds one whole stamp of block index; sets *version. */
static int check_block(void *buf, uint64_t index, uint64_t *version, const char **why)
{
	struct stamp *s = buf;
	uint64_t csum = s->csum, got;
	uint64_t *w = buf, seed;
	size_t i, nw = bs / 8;

	*why = NULL;
	if (s->magic != STAMP_MAGIC) {
		*why = "no stamp";
		return -1;
	}
	if (s->index != index) {
		*why = "stamp of another block";
		return -1;
	}
	if (s->bs != bs) {
		*why = "wrong block size";
		return -1;
	}
	s->csum = 0;
	got = hash_words(w, nw, 0x5eed);
	s->csum = csum;
	if (got != csum) {
		*why = "checksum (torn or mixed block)";
		return -1;
	}
	seed = mix(index * 0x9e3779b97f4a7c15ULL ^ s->version);
	for (i = sizeof(*s) / 8; i < nw; i++)
		if (w[i] != mix(seed + i)) {
			*why = "filler does not match version";
			return -1;
		}
	*version = s->version;
	return 0;
}

static void *alloc_buf(size_t n)
{
	void *p;

	if (posix_memalign(&p, 4096, n))
		die("out of memory");
	memset(p, 0, n);
	return p;
}

static int open_dev(const char *path, int flags, uint64_t *nblocks)
{
	uint64_t bytes;
	struct stat st;
	int fd = open(path, flags | O_DIRECT | O_CLOEXEC);

	if (fd < 0)
		die("cannot open %s: %s", path, strerror(errno));
	if (fstat(fd, &st))
		die("cannot stat %s: %s", path, strerror(errno));
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &bytes))
			die("BLKGETSIZE64 %s: %s", path, strerror(errno));
	} else {
		bytes = (uint64_t)st.st_size;
	}
	*nblocks = bytes / bs;
	if (!*nblocks)
		die("%s is smaller than one block", path);
	return fd;
}

static void pwrite_all(int fd, const void *buf, size_t n, off_t off, const char *what)
{
	while (n) {
		ssize_t r = pwrite(fd, buf, n, off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			die("write to %s at %lld: %s", what, (long long)off,
			    r < 0 ? strerror(errno) : "short write");
		buf = (const char *)buf + r;
		n -= (size_t)r;
		off += r;
	}
}

/* Returns 0, or -errno of a failed read. */
static int pread_all(int fd, void *buf, size_t n, off_t off)
{
	while (n) {
		ssize_t r = pread(fd, buf, n, off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO;
		buf = (char *)buf + r;
		n -= (size_t)r;
		off += r;
	}
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void touch(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		die("cannot create %s: %s", path, strerror(errno));
	close(fd);
}

static void save_u64s(const char *path, _Atomic uint64_t *v, uint64_t n)
{
	char tmp[4096];
	uint64_t i, *copy = malloc(n * sizeof(*copy));
	FILE *f;

	if (!copy)
		die("out of memory");
	/* Copy first: the snapshot of the array is the instant that matters. */
	for (i = 0; i < n; i++)
		copy[i] = atomic_load_explicit(&v[i], memory_order_acquire);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f || fwrite(copy, sizeof(*copy), n, f) != n || fclose(f))
		die("cannot write %s", tmp);
	if (rename(tmp, path))
		die("cannot rename %s: %s", tmp, strerror(errno));
	free(copy);
}

static uint64_t *load_u64s(const char *path, uint64_t n)
{
	uint64_t *v = malloc(n * sizeof(*v));
	FILE *f = fopen(path, "r");

	if (!v || !f)
		die("cannot read %s: %s", path, f ? "out of memory" : strerror(errno));
	if (fread(v, sizeof(*v), n, f) != n)
		die("%s: shorter than %" PRIu64 " blocks", path, n);
	fclose(f);
	return v;
}

/* ---- fill ---- */

static void fill_range(int fd, uint64_t first, uint64_t n, uint64_t version, uint32_t writer,
		       const char *what)
{
	size_t per = 256;
	char *buf = alloc_buf(per * bs);
	uint64_t b = first, end = first + n, k;

	while (b < end) {
		size_t cnt = end - b < per ? (size_t)(end - b) : per;

		for (k = 0; k < cnt; k++)
			make_block(buf + k * bs, b + k, version, writer);
		pwrite_all(fd, buf, cnt * bs, (off_t)(b * bs), what);
		b += cnt;
	}
	free(buf);
}

/* ---- write ---- */

struct writer {
	pthread_t tid;
	int fd;
	uint32_t id;
	uint64_t first, n;
	uint64_t seed;
	const char *dev;
	long writes;
	atomic_int done;
};

static _Atomic uint64_t *submitted, *acked;
static atomic_int stop_flag;
static int max_run = 16;
static int init_fill;
static long writes_per_thread;

static uint64_t xs(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	char *buf = alloc_buf((size_t)max_run * bs);
	uint64_t *ver = calloc(w->n, sizeof(*ver)), k;

	if (!ver)
		die("out of memory");
	if (init_fill) {
		fill_range(w->fd, w->first, w->n, 1, w->id, w->dev);
		for (k = 0; k < w->n; k++) {
			atomic_store(&submitted[w->first + k], 1);
			atomic_store(&acked[w->first + k], 1);
		}
	}
	for (k = 0; k < w->n; k++)
		ver[k] = atomic_load(&acked[w->first + k]);
	while (!atomic_load(&stop_flag) &&
	       (!writes_per_thread || w->writes < writes_per_thread)) {
		uint64_t start = xs(&w->seed) % w->n;
		uint64_t len = 1 + xs(&w->seed) % (uint64_t)max_run;

		if (start + len > w->n)
			len = w->n - start;
		for (k = 0; k < len; k++) {
			uint64_t b = start + k;

			ver[b]++;
			make_block(buf + k * bs, w->first + b, ver[b], w->id);
			atomic_store_explicit(&submitted[w->first + b], ver[b], memory_order_release);
		}
		pwrite_all(w->fd, buf, len * bs, (off_t)((w->first + start) * bs), w->dev);
		for (k = 0; k < len; k++)
			atomic_store_explicit(&acked[w->first + start + k], ver[start + k],
					      memory_order_release);
		w->writes++;
	}
	atomic_store(&w->done, 1);
	free(ver);
	free(buf);
	return NULL;
}

static int all_done(struct writer *ws, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (!atomic_load(&ws[i].done))
			return 0;
	return 1;
}

static int cmd_write(int argc, char **argv)
{
	const char *dev = NULL, *state = NULL;
	int threads = 4, i, sig;
	double seconds = 0, start;
	struct writer *ws;
	uint64_t nblocks;
	char path[4096];
	long total = 0;
	sigset_t set;
	struct timespec ts = { .tv_sec = 0, .tv_nsec = 100000000 };
	int fd;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--state") && i + 1 < argc)
			state = argv[++i];
		else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			threads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = atof(argv[++i]);
		else if (!strcmp(argv[i], "--max-run") && i + 1 < argc)
			max_run = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--init"))
			init_fill = 1;
		else if (!strcmp(argv[i], "--writes") && i + 1 < argc)
			writes_per_thread = atol(argv[++i]);
		else if (!strcmp(argv[i], "--bs") && i + 1 < argc)
			bs = (size_t)atol(argv[++i]);
		else if (!dev && argv[i][0] != '-')
			dev = argv[i];
		else
			die("write: unknown argument `%s'", argv[i]);
	}
	if (!dev || !state || threads < 1 || max_run < 1)
		die("usage: blkstamp write DEV --state P [--threads T] [--seconds S] [--max-run N] [--init]");
	fd = open_dev(dev, O_RDWR, &nblocks);
	if (nblocks < (uint64_t)threads)
		die("write: fewer blocks than threads");
	submitted = calloc(nblocks, sizeof(*submitted));
	acked = calloc(nblocks, sizeof(*acked));
	ws = calloc((size_t)threads, sizeof(*ws));
	if (!submitted || !acked || !ws)
		die("out of memory");
	if (!init_fill) {
		/* Continue from what is on the device: it must be stamped. */
		char *buf = alloc_buf(bs);
		uint64_t b, v;
		const char *why;

		for (b = 0; b < nblocks; b++) {
			if (pread_all(fd, buf, bs, (off_t)(b * bs)) ||
			    check_block(buf, b, &v, &why))
				die("write: block %" PRIu64 " of %s is not stamped (use --init)", b, dev);
			atomic_store(&submitted[b], v);
			atomic_store(&acked[b], v);
		}
		free(buf);
	}
	/* Signals go to this thread only, which waits for them. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	for (i = 0; i < threads; i++) {
		ws[i].fd = fd;
		ws[i].id = (uint32_t)i + 1;
		ws[i].first = nblocks * (uint64_t)i / (uint64_t)threads;
		ws[i].n = nblocks * (uint64_t)(i + 1) / (uint64_t)threads - ws[i].first;
		ws[i].seed = mix((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20) ^ (uint64_t)i) | 1;
		ws[i].dev = dev;
		if (pthread_create(&ws[i].tid, NULL, writer_main, &ws[i]))
			die("cannot start a thread");
	}
	/* Ready once every region has its first fill. */
	if (init_fill) {
		uint64_t b;

		for (b = 0; b < nblocks; b++)
			while (atomic_load(&acked[b]) == 0)
				usleep(10000);
	}
	snprintf(path, sizeof(path), "%s.ready", state);
	touch(path);
	start = now_s();
	for (;;) {
		if (seconds > 0 && now_s() - start >= seconds)
			break;
		if (writes_per_thread && all_done(ws, threads))
			break;
		sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (sig == SIGUSR1 || sig == SIGUSR2) {
			snprintf(path, sizeof(path), "%s.%s", state, sig == SIGUSR1 ? "lo" : "hi");
			save_u64s(path, sig == SIGUSR1 ? acked : submitted, nblocks);
			snprintf(path, sizeof(path), "%s.%s.ok", state, sig == SIGUSR1 ? "lo" : "hi");
			touch(path);
		}
	}
	atomic_store(&stop_flag, 1);
	for (i = 0; i < threads; i++) {
		pthread_join(ws[i].tid, NULL);
		total += ws[i].writes;
	}
	snprintf(path, sizeof(path), "%s.final", state);
	save_u64s(path, acked, nblocks);
	printf("write blocks=%" PRIu64 " threads=%d writes=%ld seconds=%.1f\n", nblocks, threads,
	       total, now_s() - start);
	close(fd);
	return 0;
}

/* ---- verify, digest ---- */

static int cmd_verify(int argc, char **argv)
{
	const char *dev = NULL, *lo_path = NULL, *hi_path = NULL, *exact = NULL;
	uint64_t nblocks, b, *lo = NULL, *hi = NULL, version = 0, bad = 0, ok = 0;
	uint64_t digest = 0x1234, shown = 0, per = 256, k;
	char *buf;
	int fd, i, have_version = 0;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--lo") && i + 1 < argc)
			lo_path = argv[++i];
		else if (!strcmp(argv[i], "--hi") && i + 1 < argc)
			hi_path = argv[++i];
		else if (!strcmp(argv[i], "--exact") && i + 1 < argc)
			exact = argv[++i];
		else if (!strcmp(argv[i], "--version") && i + 1 < argc) {
			version = strtoull(argv[++i], NULL, 0);
			have_version = 1;
		} else if (!strcmp(argv[i], "--bs") && i + 1 < argc)
			bs = (size_t)atol(argv[++i]);
		else if (!dev && argv[i][0] != '-')
			dev = argv[i];
		else
			die("verify: unknown argument `%s'", argv[i]);
	}
	if (!dev || (!exact && !have_version && (!lo_path || !hi_path)))
		die("usage: blkstamp verify DEV (--lo F --hi F | --exact F | --version V)");
	fd = open_dev(dev, O_RDONLY, &nblocks);
	if (exact) {
		lo = load_u64s(exact, nblocks);
		hi = lo;
	} else if (!have_version) {
		lo = load_u64s(lo_path, nblocks);
		hi = load_u64s(hi_path, nblocks);
	}
	buf = alloc_buf(per * bs);
	for (b = 0; b < nblocks; b += per) {
		uint64_t cnt = nblocks - b < per ? nblocks - b : per;
		int r = pread_all(fd, buf, cnt * bs, (off_t)(b * bs));

		if (r) {
			printf("verify read error at block %" PRIu64 ": %s\n", b, strerror(-r));
			printf("verify blocks=%" PRIu64 " ok=%" PRIu64 " bad=read-error digest=-\n",
			       nblocks, ok);
			return 1;
		}
		digest = hash_words((uint64_t *)buf, cnt * bs / 8, digest);
		for (k = 0; k < cnt; k++) {
			uint64_t v, want_lo = lo ? lo[b + k] : version, want_hi = hi ? hi[b + k] : version;
			const char *why;

			if (check_block(buf + k * bs, b + k, &v, &why) == 0) {
				if (v >= want_lo && v <= want_hi) {
					ok++;
					continue;
				}
				why = v < want_lo ? "older than acknowledged before" :
						    "newer than submitted before";
			} else {
				v = 0;
			}
			bad++;
			if (shown++ < 10)
				printf("verify bad block %" PRIu64 ": %s (version %" PRIu64
				       ", allowed %" PRIu64 "..%" PRIu64 ")\n",
				       b + k, why, v, want_lo, want_hi);
		}
	}
	printf("verify blocks=%" PRIu64 " ok=%" PRIu64 " bad=%" PRIu64 " digest=%016" PRIx64 "\n",
	       nblocks, ok, bad, digest);
	close(fd);
	return bad ? 1 : 0;
}

static int cmd_digest(int argc, char **argv)
{
	const char *dev = NULL;
	uint64_t nblocks, b, per = 256, digest = 0x1234;
	char *buf;
	int fd, i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--bs") && i + 1 < argc)
			bs = (size_t)atol(argv[++i]);
		else if (!dev)
			dev = argv[i];
		else
			die("digest: unknown argument `%s'", argv[i]);
	}
	if (!dev)
		die("usage: blkstamp digest DEV");
	fd = open_dev(dev, O_RDONLY, &nblocks);
	buf = alloc_buf(per * bs);
	for (b = 0; b < nblocks; b += per) {
		uint64_t cnt = nblocks - b < per ? nblocks - b : per;
		int r = pread_all(fd, buf, cnt * bs, (off_t)(b * bs));

		if (r) {
			fprintf(stderr, "blkstamp: digest: read %s at block %" PRIu64 ": %s\n",
				dev, b, strerror(-r));
			return 1;
		}
		digest = hash_words((uint64_t *)buf, cnt * bs / 8, digest);
	}
	printf("%016" PRIx64 "\n", digest);
	close(fd);
	return 0;
}

static int cmd_fill(int argc, char **argv)
{
	const char *dev = NULL;
	uint64_t nblocks, version = 1;
	int fd, i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--version") && i + 1 < argc)
			version = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--bs") && i + 1 < argc)
			bs = (size_t)atol(argv[++i]);
		else if (!dev)
			dev = argv[i];
		else
			die("fill: unknown argument `%s'", argv[i]);
	}
	if (!dev)
		die("usage: blkstamp fill DEV [--version V]");
	fd = open_dev(dev, O_RDWR, &nblocks);
	fill_range(fd, 0, nblocks, version, 0, dev);
	if (fsync(fd))
		die("fsync %s: %s", dev, strerror(errno));
	close(fd);
	return 0;
}

/* ---- chain-write, chain-verify ---- */

struct chain {
	pthread_t tid;
	int ndev;
	int *fds;
	char **devs;
	uint64_t first, n;
	uint64_t seed;
	long rounds;
};

static void *chain_main(void *arg)
{
	struct chain *c = arg;
	char *buf = alloc_buf(bs);
	uint64_t *ver = calloc(c->n, sizeof(*ver));
	int d;

	if (!ver)
		die("out of memory");
	while (!atomic_load(&stop_flag)) {
		uint64_t k = xs(&c->seed) % c->n;

		ver[k] = ver[k] ? ver[k] + 1 : 2;
		for (d = 0; d < c->ndev; d++) {
			make_block(buf, c->first + k, ver[k], (uint32_t)d);
			pwrite_all(c->fds[d], buf, bs, (off_t)((c->first + k) * bs), c->devs[d]);
		}
		c->rounds++;
	}
	free(ver);
	free(buf);
	return NULL;
}

static int parse_chain_args(int argc, char **argv, char **devs, int *threads,
			    double *seconds, uint64_t *blocks)
{
	int i, n = 0;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			*threads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			*seconds = atof(argv[++i]);
		else if (!strcmp(argv[i], "--blocks") && i + 1 < argc)
			*blocks = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--bs") && i + 1 < argc)
			bs = (size_t)atol(argv[++i]);
		else if (argv[i][0] != '-' && n < MAX_DEVS)
			devs[n++] = argv[i];
		else
			die("chain: unknown argument `%s'", argv[i]);
	}
	if (n < 2)
		die("chain: give at least two devices");
	return n;
}

static int cmd_chain_write(int argc, char **argv)
{
	char *devs[MAX_DEVS];
	int fds[MAX_DEVS], threads = 4, ndev, i, sig;
	double seconds = 0, start;
	uint64_t blocks = 0, nb, min_nb = UINT64_MAX;
	struct timespec ts = { .tv_sec = 0, .tv_nsec = 100000000 };
	struct chain *cs;
	const char *ready = getenv("BLKSTAMP_READY");
	long total = 0;
	sigset_t set;

	ndev = parse_chain_args(argc, argv, devs, &threads, &seconds, &blocks);
	for (i = 0; i < ndev; i++) {
		fds[i] = open_dev(devs[i], O_RDWR, &nb);
		if (nb < min_nb)
			min_nb = nb;
	}
	if (!blocks || blocks > min_nb)
		blocks = min_nb;
	if (blocks < (uint64_t)threads)
		die("chain-write: fewer blocks than threads");
	for (i = 0; i < ndev; i++)
		fill_range(fds[i], 0, blocks, 1, (uint32_t)i, devs[i]);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	cs = calloc((size_t)threads, sizeof(*cs));
	if (!cs)
		die("out of memory");
	for (i = 0; i < threads; i++) {
		cs[i].ndev = ndev;
		cs[i].fds = fds;
		cs[i].devs = devs;
		cs[i].first = blocks * (uint64_t)i / (uint64_t)threads;
		cs[i].n = blocks * (uint64_t)(i + 1) / (uint64_t)threads - cs[i].first;
		cs[i].seed = mix((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20) ^ (uint64_t)i) | 1;
		if (pthread_create(&cs[i].tid, NULL, chain_main, &cs[i]))
			die("cannot start a thread");
	}
	if (ready)
		touch(ready);
	start = now_s();
	for (;;) {
		if (seconds > 0 && now_s() - start >= seconds)
			break;
		sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT)
			break;
	}
	atomic_store(&stop_flag, 1);
	for (i = 0; i < threads; i++) {
		pthread_join(cs[i].tid, NULL);
		total += cs[i].rounds;
	}
	printf("chain-write devices=%d blocks=%" PRIu64 " threads=%d rounds=%ld seconds=%.1f\n",
	       ndev, blocks, threads, total, now_s() - start);
	return 0;
}

static int cmd_chain_verify(int argc, char **argv)
{
	char *devs[MAX_DEVS];
	int fds[MAX_DEVS], threads = 1, ndev, i;
	double seconds = 0;
	uint64_t blocks = 0, nb, min_nb = UINT64_MAX, b, bad = 0, spread = 0;
	char *buf;

	ndev = parse_chain_args(argc, argv, devs, &threads, &seconds, &blocks);
	for (i = 0; i < ndev; i++) {
		fds[i] = open_dev(devs[i], O_RDONLY, &nb);
		if (nb < min_nb)
			min_nb = nb;
	}
	if (!blocks || blocks > min_nb)
		blocks = min_nb;
	buf = alloc_buf(bs);
	for (b = 0; b < blocks; b++) {
		uint64_t v[MAX_DEVS];
		const char *why;
		int r;

		for (i = 0; i < ndev; i++) {
			r = pread_all(fds[i], buf, bs, (off_t)(b * bs));
			if (r) {
				printf("chain-verify read error on %s at block %" PRIu64 ": %s\n",
				       devs[i], b, strerror(-r));
				return 1;
			}
			if (check_block(buf, b, &v[i], &why)) {
				if (bad++ < 10)
					printf("chain-verify %s block %" PRIu64 ": %s\n", devs[i], b, why);
				v[i] = 0;
			}
		}
		for (i = 1; i < ndev; i++)
			if (v[i] > v[i - 1]) {
				if (bad++ < 10)
					printf("chain-verify block %" PRIu64 ": %s has version %" PRIu64
					       ", newer than %" PRIu64 " on %s before it in the chain\n",
					       b, devs[i], v[i], v[i - 1], devs[i - 1]);
				break;
			}
		if (v[0] >= v[ndev - 1]) {
			uint64_t d = v[0] - v[ndev - 1];

			if (d > 1 && bad++ < 10)
				printf("chain-verify block %" PRIu64 ": %s is %" PRIu64
				       " versions ahead of %s\n", b, devs[0], d, devs[ndev - 1]);
			if (d)
				spread++;
		}
	}
	printf("chain-verify devices=%d blocks=%" PRIu64 " bad=%" PRIu64
	       " in_flight=%" PRIu64 "\n", ndev, blocks, bad, spread);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		die("usage: blkstamp fill|write|verify|digest|chain-write|chain-verify ...");
	if (!strcmp(argv[1], "fill"))
		return cmd_fill(argc - 1, argv + 1);
	if (!strcmp(argv[1], "write"))
		return cmd_write(argc - 1, argv + 1);
	if (!strcmp(argv[1], "verify"))
		return cmd_verify(argc - 1, argv + 1);
	if (!strcmp(argv[1], "digest"))
		return cmd_digest(argc - 1, argv + 1);
	if (!strcmp(argv[1], "chain-write"))
		return cmd_chain_write(argc - 1, argv + 1);
	if (!strcmp(argv[1], "chain-verify"))
		return cmd_chain_verify(argc - 1, argv + 1);
	die("unknown command `%s'", argv[1]);
}
