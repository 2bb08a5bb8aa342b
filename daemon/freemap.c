// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Free space at the take, for growth on a set's own volume.
 *
 * A storage file made after the take on a volume of the set may get blocks
 * the filesystem freed since the take, which the image still uses: the
 * module's copies would overwrite them.  Blocks that were free at the take
 * are no part of the image's filesystem: once the module reads them as
 * zeros in the image (they are free there: nothing in the image refers to
 * them), copies may go there.  So right after the take, before `snapctl
 * create' or `backup' returns, cowsnapd reads the free space of each
 * volume that holds the set's storage from the image itself: a detached
 * read-only mount (fsopen, fsmount; no mount namespace changes), GETFSMAP's
 * FMR_OWN_FREE records (ext4 reads them from the block bitmaps, xfs from
 * its free-space btrees or the gaps of its reverse-map btree), closed at
 * once.  The bitmaps tell the truth only when no journal is left to
 * replay: ext4 clears needs_recovery when the take freezes it (and on a
 * clean unmount); xfs quiesces its log on freeze, and is used only when
 * it was mounted at the take (cowsnapd always takes with freezing).
 *
 * The map lives in cowsnapd's memory only.  A restarted cowsnapd gets it
 * back from the module (cs_freemap_recover: SET_GET_ZERO, the set's zero
 * table on the volume, less the set's storage files there), never from the
 * image again: the image may have been read meanwhile, and the module must
 * not start reading as zeros what a read has already returned.
 *
 * The window: a read of the image between the take and SET_ADD_FREE may
 * see the old contents of free space that later reads see as zeros.  Only
 * the daemon's own probe and mount read the image then, and udev's probes
 * (libblkid's probes read superblocks, which are never free); nobody has
 * the image's name yet.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <linux/fsmap.h>
#include <linux/cowsnap.h>

#include "daemon.h"
#include "filestore.h"
#include "freemap.h"
#include "imagefs.h"
#include "log.h"
#include "mountinfo.h"
#include "netlink.h"
#include "volumes.h"

#define FSMAP_BATCH	1024
/* ranges per SET_ADD_FREE: within libnl's default socket buffer */
#define FREE_PER_MSG	1500

_Static_assert(sizeof(struct cs_freerange) == sizeof(struct cowsnap_range),
	       "a free map is sent as it is");

/* the module's encoding of a dev_t in fmr_device (new_encode_dev) */
static uint32_t encode_dev(dev_t dev)
{
	unsigned ma = major(dev), mi = minor(dev);

	return (mi & 0xff) | (ma << 8) | ((mi & ~0xffu) << 12);
}

enum fstype { FS_OTHER, FS_EXT4, FS_XFS };

/* The image's filesystem, as libblkid finds it: ext2 and ext3 are mounted
 * with ext4's driver too. */
static enum fstype probe(const char *image)
{
	char type[64];

	cs_volume_fstype(image, type, sizeof(type));
	if (!strcmp(type, "xfs"))
		return FS_XFS;
	if (!strcmp(type, "ext2") || !strcmp(type, "ext3") || !strcmp(type, "ext4"))
		return FS_EXT4;
	return FS_OTHER;
}

/* Is ext2/3/4's journal clean?  libblkid does not say: needs_recovery is
 * EXT4_FEATURE_INCOMPAT_RECOVER (0x4) in s_feature_incompat, a little-endian
 * word at 1024 + 0x60. */
static bool ext4_clean(int fd)
{
	unsigned char incompat[4];

	if (pread(fd, incompat, sizeof(incompat), 1024 + 0x60) != (ssize_t)sizeof(incompat))
		return false;
	return !(incompat[0] & 0x4);
}

static bool mounted(uint32_t major, uint32_t minor)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[8192];
	struct cs_mount m;
	bool found;

	if (!f)
		return false;
	found = !cs_mountinfo_find_dev(f, major, minor, line, sizeof(line), &m);
	fclose(f);
	return found;
}

static int by_len_desc(const void *a, const void *b)
{
	const struct cs_freerange *x = a, *y = b;

	return x->len < y->len ? 1 : x->len > y->len ? -1 : 0;
}

static int by_start(const void *a, const void *b)
{
	const struct cs_freerange *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* Keep the CS_FREEMAP_MAX largest of *n; returns the smallest length kept. */
static uint64_t keep_largest(struct cs_freerange *r, size_t *n)
{
	qsort(r, *n, sizeof(*r), by_len_desc);
	if (*n > CS_FREEMAP_MAX)
		*n = CS_FREEMAP_MAX;
	return *n == CS_FREEMAP_MAX ? r[*n - 1].len : CS_FREEMAP_MIN;
}

/* GETFSMAP's free records of the filesystem mounted at dir, on dev. */
static int read_free(int dir, dev_t dev, struct cs_freemap *fm, char *why, size_t size)
{
	size_t bytes = sizeof(struct fsmap_head) + FSMAP_BATCH * sizeof(struct fsmap);
	struct fsmap_head *h = calloc(1, bytes);
	uint64_t least = CS_FREEMAP_MIN;
	size_t cap = 0;
	int ret = 0;

	if (!h)
		return -ENOMEM;
	h->fmh_keys[1].fmr_device = UINT32_MAX;
	h->fmh_keys[1].fmr_physical = UINT64_MAX;
	h->fmh_keys[1].fmr_owner = UINT64_MAX;
	h->fmh_keys[1].fmr_offset = UINT64_MAX;
	h->fmh_keys[1].fmr_flags = UINT32_MAX;
	for (;;) {
		const struct fsmap *last;

		h->fmh_count = FSMAP_BATCH;
		if (ioctl(dir, FS_IOC_GETFSMAP, h)) {
			ret = -errno;
			snprintf(why, size, "GETFSMAP: %s", strerror(errno));
			break;
		}
		if (!h->fmh_entries)
			break;
		for (uint32_t i = 0; i < h->fmh_entries; i++) {
			const struct fsmap *m = &h->fmh_recs[i];
			uint64_t s = (m->fmr_physical + 511) / 512;
			uint64_t e = (m->fmr_physical + m->fmr_length) / 512;

			if (!(m->fmr_flags & FMR_OF_SPECIAL_OWNER) || m->fmr_owner != FMR_OWN_FREE ||
			    m->fmr_device != encode_dev(dev) || e <= s || e - s < least)
				continue;
			if (fm->n == cap) {
				struct cs_freerange *g;

				if (cap >= 4 * CS_FREEMAP_MAX) {
					least = keep_largest(fm->r, &fm->n);
					if (e - s < least)
						continue;
				} else {
					cap = cap ? 2 * cap : 1024;
					g = realloc(fm->r, cap * sizeof(*g));
					if (!g) {
						ret = -ENOMEM;
						goto out;
					}
					fm->r = g;
				}
			}
			fm->r[fm->n++] = (struct cs_freerange){ s, e - s };
		}
		last = &h->fmh_recs[h->fmh_entries - 1];
		if (last->fmr_flags & FMR_OF_LAST)
			break;
		h->fmh_keys[0] = *last;
	}
out:
	free(h);
	if (ret)
		return ret;
	if (fm->n > CS_FREEMAP_MAX)
		keep_largest(fm->r, &fm->n);
	qsort(fm->r, fm->n, sizeof(*fm->r), by_start);
	return 0;
}

/* A detached read-only mount of image (type t), GETFSMAP, gone again. */
static int map_image(const char *image, dev_t dev, enum fstype t, struct cs_freemap *fm,
		     char *why, size_t size)
{
	const char *type = t == FS_XFS ? "xfs" : "ext4";
	struct cs_imagefs_fail f;
	int mnt, dir, ret;

	mnt = cs_imagefs_mount(image, type, false, MOUNT_ATTR_NOEXEC, &dir, &f);
	if (mnt < 0) {
		switch (f.step) {
		case CS_IMAGEFS_FSOPEN:
			snprintf(why, size, "fsopen %s: %s", type, strerror(f.err));
			break;
		case CS_IMAGEFS_MOUNT:
			snprintf(why, size, "cannot mount it read-only: %s%s%s%s", strerror(f.err),
				 f.log[0] ? " (" : "", f.log, f.log[0] ? ")" : "");
			break;
		case CS_IMAGEFS_FSMOUNT:
			snprintf(why, size, "fsmount: %s", strerror(f.err));
			break;
		case CS_IMAGEFS_ROOT:
			snprintf(why, size, "cannot open its root: %s", strerror(f.err));
			break;
		}
		return mnt;
	}
	ret = read_free(dir, dev, fm, why, size);
	close(dir);
	/* the last reference: the detached mount goes */
	close(mnt);
	return ret;
}

static int give(struct cowsnapd *d, const struct cs_freemap *fm, struct cs_error *err)
{
	for (size_t at = 0; at < fm->n; at += FREE_PER_MSG) {
		size_t n = fm->n - at < FREE_PER_MSG ? fm->n - at : FREE_PER_MSG;
		int ret = cs_nl_set_add_free(d->nl, fm->set_id, fm->major, fm->minor,
					     (const struct cowsnap_range *)(fm->r + at), n, err);

		if (ret)
			return ret;
	}
	return 0;
}

static void one_volume(struct cowsnapd *d, const struct cs_set *set,
		       const struct cs_set_volume *v)
{
	struct cs_freemap *fm = calloc(1, sizeof(*fm));
	char why[512] = "";
	uint64_t sectors = 0;
	enum fstype t;
	struct stat st;
	struct cs_error err;
	int fd, ret = -EINVAL;

	if (!fm)
		return;
	fm->set_id = set->id;
	fm->major = v->major;
	fm->minor = v->minor;
	fd = open(v->image, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) || !S_ISBLK(st.st_mode) ||
	    st.st_rdev != makedev(v->image_major, v->image_minor)) {
		snprintf(why, sizeof(why), "%.200s is not the image's device node", v->image);
		goto out;
	}
	t = probe(v->image);
	if (t == FS_OTHER) {
		snprintf(why, sizeof(why), "its filesystem is neither ext4 nor xfs");
		goto out;
	}
	if (t == FS_EXT4 && !ext4_clean(fd)) {
		snprintf(why, sizeof(why), "its ext4 journal needs recovery (the filesystem "
			 "was neither frozen at the take nor cleanly unmounted)");
		goto out;
	}
	if (t == FS_XFS && !mounted(v->major, v->minor)) {
		snprintf(why, sizeof(why), "its xfs was not mounted at the take (not frozen "
			 "by it): its log may hold allocations");
		goto out;
	}
	ret = map_image(v->image, st.st_rdev, t, fm, why, sizeof(why));
	if (ret)
		goto out;
	if (!fm->n) {
		snprintf(why, sizeof(why), "no free extent of 1 MiB or more");
		ret = -ENOSPC;
		goto out;
	}
	ret = give(d, fm, &err);
	if (ret) {
		snprintf(why, sizeof(why), "%s", err.message);
		goto out;
	}
	for (size_t i = 0; i < fm->n; i++)
		sectors += fm->r[i].len;
	fm->next = d->freemaps;
	d->freemaps = fm;
	cs_info("set %" PRIu64 ": %" PRIu64 " MiB of %s free at the take (%zu extent(s)) read "
		"as zeros in its image; the set may grow there", set->id, sectors / 2048,
		v->origin, fm->n);
	fm = NULL;
out:
	if (fd >= 0)
		close(fd);
	if (ret)
		cs_info("set %" PRIu64 ": %s holds its storage, but the free space at the take "
			"is not known (%s): the set will not grow there", set->id, v->origin, why);
	if (fm) {
		free(fm->r);
		free(fm);
	}
}

void cs_freemap_after_take(struct cowsnapd *d, const struct cs_set *set)
{
	for (uint32_t i = 0; i < set->nvolumes; i++) {
		const struct cs_set_volume *v = &set->volumes[i];

		if (v->image[0] && cs_filestore_set_has_on(d, set->id, v->major, v->minor))
			one_volume(d, set, v);
	}
}

static int ext_by_start(const void *a, const void *b)
{
	const struct cs_extent *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/*
 * The zero table's ranges z[nz] (sorted, disjoint) less the extents x[nx]
 * (any order), those of CS_FREEMAP_MIN sectors at least, into fm.
 */
static int subtract(struct cs_freemap *fm, const struct cowsnap_range *z, size_t nz,
		    struct cs_extent *x, size_t nx)
{
	size_t cap = 0, k = 0;

	qsort(x, nx, sizeof(*x), ext_by_start);
	for (size_t i = 0; i < nz; i++) {
		uint64_t at = z[i].start, end = z[i].start + z[i].len;

		/* the extents that end before this range are behind us for good */
		while (k < nx && x[k].start + x[k].len <= at)
			k++;
		for (size_t j = k; at < end; j++) {
			uint64_t stop = end;

			if (j < nx && x[j].start < end)
				stop = x[j].start > at ? x[j].start : at;
			if (stop - at >= CS_FREEMAP_MIN && fm->n < CS_FREEMAP_MAX) {
				if (fm->n == cap) {
					struct cs_freerange *g;

					cap = cap ? 2 * cap : 256;
					g = realloc(fm->r, cap * sizeof(*g));
					if (!g)
						return -ENOMEM;
					fm->r = g;
				}
				fm->r[fm->n++] = (struct cs_freerange){ at, stop - at };
			}
			if (j >= nx || x[j].start >= end)
				break;
			if (x[j].start + x[j].len > at)
				at = x[j].start + x[j].len;
		}
	}
	return 0;
}

/* set's free map on volume v, from the module's zero table (see freemap.h) */
static void recover_volume(struct cowsnapd *d, const struct cs_set *set,
			   const struct cs_set_volume *v)
{
	struct cs_freemap *fm = calloc(1, sizeof(*fm));
	struct cowsnap_range *z = NULL;
	struct cs_extent *x = NULL;
	size_t nz = 0, nx = 0;
	uint64_t sectors = 0;
	struct cs_error err;
	int ret = -ENOMEM;

	if (!fm) {
		cs_error_set(&err, ENOMEM, "out of memory");
		goto out;
	}
	fm->set_id = set->id;
	fm->major = v->major;
	fm->minor = v->minor;
	/* the set's storage files there: none, nothing to grow beside; the
	 * zero table holds them too, and they are not free */
	ret = cs_filestore_set_extents(d, set->id, v->major, v->minor, &x, &nx, &err);
	if (ret || !nx)
		goto out;
	ret = cs_nl_set_get_zero(d->nl, set->id, v->major, v->minor, &z, &nz, &err);
	if (ret) {
		if (ret == -EOPNOTSUPP)
			cs_error_set(&err, EOPNOTSUPP, "the cowsnap module cannot say where its "
				     "image reads zeros (SET_GET_ZERO): load the module that "
				     "came with this cowsnapd");
		goto out;
	}
	ret = subtract(fm, z, nz, x, nx);
	if (ret) {
		cs_error_set(&err, ENOMEM, "out of memory");
		goto out;
	}
	if (!fm->n) {
		cs_info("set %" PRIu64 ": %s holds its storage, and nothing of it was free at "
			"the take as far as the module knows: the set will not grow there",
			set->id, v->origin);
		goto out;
	}
	for (size_t i = 0; i < fm->n; i++)
		sectors += fm->r[i].len;
	fm->next = d->freemaps;
	d->freemaps = fm;
	fm = NULL;
	cs_info("set %" PRIu64 ": %" PRIu64 " MiB of %s free at the take (%zu extent(s)) "
		"found again in the module's zero table; the set may grow there", set->id,
		sectors / 2048, v->origin, d->freemaps->n);
out:
	if (ret)
		cs_warn("set %" PRIu64 ": %s holds its storage, but the free space at its take "
			"cannot be found again (%s): the set will not grow there", set->id,
			v->origin, err.message);
	free(z);
	free(x);
	if (fm) {
		free(fm->r);
		free(fm);
	}
}

void cs_freemap_recover(struct cowsnapd *d, const struct cs_set *sets, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		const struct cs_set *set = &sets[i];

		/* a writable set has no free map: its images read their writes */
		if (set->state != CS_SET_TAKEN || set->writable)
			continue;
		for (uint32_t j = 0; j < set->nvolumes; j++) {
			const struct cs_set_volume *v = &set->volumes[j];

			if (!cs_freemap_find(d, set->id, v->major, v->minor))
				recover_volume(d, set, v);
		}
	}
}

const struct cs_freemap *cs_freemap_find(struct cowsnapd *d, uint64_t set_id,
					 uint32_t major, uint32_t minor)
{
	for (const struct cs_freemap *fm = d->freemaps; fm; fm = fm->next)
		if (fm->set_id == set_id && fm->major == major && fm->minor == minor)
			return fm;
	return NULL;
}

void cs_freemap_forget(struct cowsnapd *d, uint64_t set_id)
{
	struct cs_freemap **p = &d->freemaps;

	while (*p) {
		struct cs_freemap *fm = *p;

		if (fm->set_id != set_id) {
			p = &fm->next;
			continue;
		}
		*p = fm->next;
		free(fm->r);
		free(fm);
	}
}

int64_t cs_freemap_clip(const struct cs_freemap *fm, uint64_t start, uint64_t len,
			struct cs_freerange **out, size_t *n)
{
	uint64_t end = start + len, got = 0;
	size_t lo = 0, hi = fm->n;

	/* the first range that ends after start */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (fm->r[mid].start + fm->r[mid].len <= start)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < fm->n && fm->r[i].start < end; i++) {
		uint64_t s = fm->r[i].start > start ? fm->r[i].start : start;
		uint64_t e = fm->r[i].start + fm->r[i].len < end ? fm->r[i].start + fm->r[i].len :
			     end;
		struct cs_freerange *g = realloc(*out, (*n + 1) * sizeof(*g));

		if (!g)
			return -1;
		*out = g;
		g[(*n)++] = (struct cs_freerange){ s, e - s };
		got += e - s;
	}
	return (int64_t)got;
}
