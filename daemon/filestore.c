// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Difference storage in files (storage.conf `directory DIR').  A set gets
 * DIR/cowsnap-SETID-N.store: created, allocated (fallocate), flushed,
 * mapped (FIEMAP), made immutable, and its extents given to the module as
 * sector ranges of the filesystem's block device, which the module opens
 * shared with the filesystem (COWSNAP_STORAGE_F_IN_FILE).
 *
 * Immutable, the file cannot be written, truncated, deleted or renamed
 * through the filesystem, and ext4's and xfs's extent moves (e4defrag,
 * xfs_fsr) refuse it, so its blocks stay where the module writes.  Only
 * ext4 and xfs are used: btrfs moves extents (balance, relocation) whatever
 * the flag, and tmpfs or network filesystems have no blocks of their own.
 *
 * The files are the state: those of a set that is gone are removed when
 * the daemon reconciles with the module (at start, and at every list), so
 * a daemon killed or a machine crashed leaves nothing behind for long.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <linux/fiemap.h>
#include <linux/fs.h>
#include <linux/cowsnap.h>
#include <linux/magic.h>

#include "daemon.h"
#include "filestore.h"
#include "log.h"
#include "netlink.h"

#define STORE_PREFIX	"cowsnap-"
#define STORE_SUFFIX	".store"
/* what a filesystem keeps free whatever storage files take */
#define KEEP_FREE_PERCENT	5
/* extents mapped at once */
#define FIEMAP_BATCH	256

/* SETID of DIR/cowsnap-SETID-N.store, 0 when name is not one of ours */
static uint64_t store_set_id(const char *name)
{
	size_t len = strlen(name), slen = strlen(STORE_SUFFIX);
	unsigned long long id, n;
	int end = 0;

	if (strncmp(name, STORE_PREFIX, strlen(STORE_PREFIX)) || len <= slen ||
	    strcmp(name + len - slen, STORE_SUFFIX))
		return 0;
	if (sscanf(name + strlen(STORE_PREFIX), "%llu-%llu.store%n", &id, &n, &end) != 2 ||
	    (size_t)end != len - strlen(STORE_PREFIX))
		return 0;
	return id;
}

int cs_filestore_check_dir(const char *path, uint32_t *major, uint32_t *minor,
			   struct cs_error *err)
{
	struct statfs sf;
	struct stat st;

	if (path[0] != '/') {
		cs_error_set(err, EINVAL, "storage directory `%s' is not an absolute path", path);
		return -EINVAL;
	}
	if (lstat(path, &st) || statfs(path, &sf)) {
		cs_error_set(err, errno, "storage directory %s: %s", path, strerror(errno));
		return -errno;
	}
	if (!S_ISDIR(st.st_mode)) {
		cs_error_set(err, ENOTDIR, "storage directory %s is not a directory (a symbolic "
			     "link is not followed: give the directory itself)", path);
		return -ENOTDIR;
	}
	/* others must not plant or swap what the daemon creates and removes */
	if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		cs_error_set(err, EPERM, "storage directory %s must be root's and writable by "
			     "root only (chown root: and chmod go-w it, or use another)", path);
		return -EPERM;
	}
	if (sf.f_type == BTRFS_SUPER_MAGIC) {
		cs_error_set(err, EOPNOTSUPP, "storage directory %s is on btrfs, which moves "
			     "file extents (balance, relocation): use a directory on ext4 or "
			     "xfs, or a device", path);
		return -EOPNOTSUPP;
	}
	if (sf.f_type != EXT4_SUPER_MAGIC && sf.f_type != XFS_SUPER_MAGIC) {
		cs_error_set(err, EOPNOTSUPP, "storage directory %s is on a filesystem other "
			     "than ext4 or xfs (type 0x%lx): storage files need extents on a "
			     "block device that stay put; use a directory on ext4 or xfs, or a "
			     "device", path, (unsigned long)sf.f_type);
		return -EOPNOTSUPP;
	}
	*major = major(st.st_dev);
	*minor = minor(st.st_dev);
	return 0;
}

/* FS_IMMUTABLE_FL on or off */
static int set_immutable(int fd, bool on)
{
	int flags;

	if (ioctl(fd, FS_IOC_GETFLAGS, &flags))
		return -errno;
	flags = on ? flags | FS_IMMUTABLE_FL : flags & ~FS_IMMUTABLE_FL;
	return ioctl(fd, FS_IOC_SETFLAGS, &flags) ? -errno : 0;
}

/* One storage file's extents, physically contiguous ones merged, in
 * 512-byte sectors of the filesystem's device. */
struct extents {
	struct cs_extent *e;
	size_t n;
};

static int map_file(int fd, uint64_t bytes, struct extents *x, const char *path,
		    struct cs_error *err)
{
	const uint32_t bad = FIEMAP_EXTENT_UNKNOWN | FIEMAP_EXTENT_DELALLOC |
			     FIEMAP_EXTENT_ENCODED | FIEMAP_EXTENT_DATA_ENCRYPTED |
			     FIEMAP_EXTENT_NOT_ALIGNED | FIEMAP_EXTENT_DATA_INLINE |
			     FIEMAP_EXTENT_DATA_TAIL | FIEMAP_EXTENT_SHARED;
	size_t size = sizeof(struct fiemap) + FIEMAP_BATCH * sizeof(struct fiemap_extent);
	struct fiemap *fm = calloc(1, size);
	uint64_t at = 0, mapped = 0;
	bool last = false;

	if (!fm) {
		cs_error_set(err, ENOMEM, "out of memory");
		return -ENOMEM;
	}
	while (!last && at < bytes) {
		memset(fm, 0, size);
		fm->fm_start = at;
		fm->fm_length = bytes - at;
		fm->fm_flags = FIEMAP_FLAG_SYNC;
		fm->fm_extent_count = FIEMAP_BATCH;
		if (ioctl(fd, FS_IOC_FIEMAP, fm)) {
			cs_error_set(err, errno, "storage file %s: cannot map its extents: %s",
				     path, strerror(errno));
			free(fm);
			return -errno;
		}
		if (!fm->fm_mapped_extents)
			break;
		for (uint32_t i = 0; i < fm->fm_mapped_extents; i++) {
			const struct fiemap_extent *fe = &fm->fm_extents[i];
			struct cs_extent *grown;

			if ((fe->fe_flags & bad) || (fe->fe_physical | fe->fe_length) % 512) {
				cs_error_set(err, EOPNOTSUPP, "storage file %s has an extent the "
					     "module cannot use (flags 0x%x)", path, fe->fe_flags);
				free(fm);
				return -EOPNOTSUPP;
			}
			last = fe->fe_flags & FIEMAP_EXTENT_LAST;
			at = fe->fe_logical + fe->fe_length;
			mapped += fe->fe_length;
			if (x->n && x->e[x->n - 1].start + x->e[x->n - 1].len ==
				    fe->fe_physical / 512) {
				x->e[x->n - 1].len += fe->fe_length / 512;
				continue;
			}
			grown = realloc(x->e, (x->n + 1) * sizeof(*grown));
			if (!grown) {
				cs_error_set(err, ENOMEM, "out of memory");
				free(fm);
				return -ENOMEM;
			}
			x->e = grown;
			x->e[x->n++] = (struct cs_extent){ fe->fe_physical / 512,
							   fe->fe_length / 512 };
		}
	}
	free(fm);
	if (mapped < bytes) {
		cs_error_set(err, EIO, "storage file %s: only %" PRIu64 " of %" PRIu64
			     " bytes are allocated", path, mapped, bytes);
		return -EIO;
	}
	return 0;
}

/* Remove one storage file: not immutable any more, then gone. */
static void remove_store(int dfd, const char *dir, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	struct stat st;

	if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_uid != 0) {
		if (fd >= 0)
			close(fd);
		cs_warn("%s/%s: not a storage file of cowsnapd: left alone", dir, name);
		return;
	}
	if (set_immutable(fd, false))
		cs_warn("%s/%s: cannot clear immutable: %s", dir, name, strerror(errno));
	close(fd);
	if (unlinkat(dfd, name, 0))
		cs_warn("%s/%s: cannot remove: %s", dir, name, strerror(errno));
}

/* Every storage file in dir whose set keep() refuses is removed; returns
 * the bytes of the files kept (*bytes). */
static void sweep_dir(const char *dir, bool (*keep)(uint64_t id, void *arg), void *arg,
		      uint64_t *bytes)
{
	DIR *dh = opendir(dir);
	struct dirent *de;

	if (!dh)
		return;
	while ((de = readdir(dh))) {
		uint64_t id = store_set_id(de->d_name);
		struct stat st;

		if (!id)
			continue;
		if (keep(id, arg)) {
			if (bytes && !fstatat(dirfd(dh), de->d_name, &st, AT_SYMLINK_NOFOLLOW))
				*bytes += (uint64_t)st.st_size;
			continue;
		}
		cs_info("%s/%s: its set is gone: removed", dir, de->d_name);
		remove_store(dirfd(dh), dir, de->d_name);
	}
	closedir(dh);
}

/*
 * One new storage file of `sectors' in dir for set_id, its extents given
 * to the module.  On error the file is gone again and err says why.
 */
static int give_file(struct cowsnapd *d, const struct cs_pool_dir *dir, uint64_t set_id,
		     uint64_t sectors, struct cs_error *err)
{
	char path[CS_PATH_MAX + 64];
	struct extents x = { 0 };
	uint64_t given = 0, bytes = sectors * 512;
	int fd = -1, ret;

	for (unsigned n = 0; fd < 0 && n < 1000; n++) {
		snprintf(path, sizeof(path), "%s/" STORE_PREFIX "%" PRIu64 "-%u" STORE_SUFFIX,
			 dir->path, set_id, n);
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST) {
			cs_error_set(err, errno, "cannot create %s: %s", path, strerror(errno));
			return -errno;
		}
	}
	if (fd < 0) {
		cs_error_set(err, EEXIST, "set %" PRIu64 " has too many storage files in %s",
			     set_id, dir->path);
		return -EEXIST;
	}
	if (fallocate(fd, 0, 0, (off_t)bytes)) {
		ret = -errno;
		cs_error_set(err, errno, "cannot allocate %" PRIu64 " MiB in %s: %s",
			     bytes >> 20, dir->path, strerror(errno));
		goto fail;
	}
	/* the allocation is on disk before the module writes under it */
	if (fsync(fd)) {
		ret = -errno;
		cs_error_set(err, errno, "%s: fsync: %s", path, strerror(errno));
		goto fail;
	}
	ret = map_file(fd, bytes, &x, path, err);
	if (ret)
		goto fail;
	ret = set_immutable(fd, true);
	if (ret) {
		cs_error_set(err, -ret, "%s: cannot make it immutable: %s", path, strerror(-ret));
		goto fail;
	}
	for (size_t i = 0; i < x.n; i++) {
		struct cs_error e;

		ret = cs_nl_set_add_storage(d->nl, set_id, dir->major, dir->minor, x.e[i].start,
					    x.e[i].len, COWSNAP_STORAGE_F_IN_FILE, &e);
		/* an extent shorter than the set's chunk is of no use: skip it */
		if (ret == -EINVAL && x.e[i].len < 131072) {
			cs_dbg("%s: extent of %" PRIu64 " sectors left out: %s", path, x.e[i].len,
			       e.message);
			continue;
		}
		if (ret) {
			*err = e;
			goto fail;
		}
		given += x.e[i].len;
	}
	if (!given) {
		cs_error_set(err, ENOSPC, "%s: its extents are too small for the set's chunks "
			     "(a fragmented filesystem?)", path);
		ret = -ENOSPC;
		goto fail;
	}
	close(fd);
	free(x.e);
	cs_info("set %" PRIu64 ": %" PRIu64 " MiB of storage in %s (%zu extent(s))", set_id,
		given / 2048, path, x.n);
	return 0;
fail:
	/* the module may keep ranges it got: the caller destroys the set, and the
	 * file goes with its other files */
	if (!given) {
		set_immutable(fd, false);
		unlink(path);
	}
	close(fd);
	free(x.e);
	return ret;
}

static bool on_avoided(const struct cs_pool_dir *dir, const uint32_t (*avoid)[2], size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (avoid[i][0] == dir->major && avoid[i][1] == dir->minor)
			return true;
	return false;
}

int cs_filestore_give(struct cowsnapd *d, uint64_t set_id, uint64_t sectors,
		      const uint32_t (*avoid)[2], size_t navoid, struct cs_error *err)
{
	uint64_t want = (sectors + CS_POOL_ALIGN - 1) / CS_POOL_ALIGN * CS_POOL_ALIGN;
	char why[CS_ERRMSG_MAX] = "";
	int ret = -ENOSPC;

	for (size_t i = 0; i < d->pool.ndirs; i++) {
		const struct cs_pool_dir *dir = &d->pool.dirs[i];
		struct statvfs sv;
		uint64_t avail, keep;

		if (on_avoided(dir, avoid, navoid)) {
			snprintf(why, sizeof(why), "%.200s is on a volume of the set", dir->path);
			continue;
		}
		if (statvfs(dir->path, &sv)) {
			snprintf(why, sizeof(why), "%.200s: %s", dir->path, strerror(errno));
			continue;
		}
		avail = (uint64_t)sv.f_bavail * sv.f_frsize / 512;
		keep = (uint64_t)sv.f_blocks * sv.f_frsize / 512 * KEEP_FREE_PERCENT / 100;
		if (avail < want + keep) {
			snprintf(why, sizeof(why), "%.200s has %" PRIu64 " MiB free, %" PRIu64 " MiB "
				 "wanted and %d%% of the filesystem kept free", dir->path,
				 avail / 2048, want / 2048, KEEP_FREE_PERCENT);
			continue;
		}
		ret = give_file(d, dir, set_id, want, err);
		if (!ret)
			return 0;
		snprintf(why, sizeof(why), "%s", err->message);
	}
	cs_error_set(err, ENOSPC, "not enough free difference storage: %s; add storage with "
		     "`snapctl storage add DEVICE|DIRECTORY' or delete sets",
		     why[0] ? why : "no storage directory");
	return ret == -ENOSPC || ret == 0 ? -ENOSPC : ret;
}

static bool other_set(uint64_t id, void *arg)
{
	return id != *(const uint64_t *)arg;
}

void cs_filestore_release(struct cowsnapd *d, uint64_t set_id)
{
	for (size_t i = 0; i < d->pool.ndirs; i++)
		sweep_dir(d->pool.dirs[i].path, other_set, &set_id, NULL);
}

struct live {
	const struct cs_set *sets;
	uint32_t n;
};

static bool live_set(uint64_t id, void *arg)
{
	const struct live *l = arg;

	for (uint32_t i = 0; i < l->n; i++)
		if (l->sets[i].id == id)
			return true;
	return false;
}

void cs_filestore_reconcile(struct cowsnapd *d, const struct cs_set *sets, uint32_t n)
{
	struct live l = { sets, n };

	for (size_t i = 0; i < d->pool.ndirs; i++)
		sweep_dir(d->pool.dirs[i].path, live_set, &l, NULL);
}

static bool any_set(uint64_t id, void *arg)
{
	return true;
}

struct wanted {
	uint64_t id;
	bool found;
};

/* keeps every file, noting whether one is the wanted set's */
static bool note_set(uint64_t id, void *arg)
{
	struct wanted *w = arg;

	w->found |= id == w->id;
	return true;
}

bool cs_filestore_holds(struct cowsnapd *d, uint64_t set_id)
{
	struct wanted w = { .id = set_id };

	for (size_t i = 0; i < d->pool.ndirs && !w.found; i++)
		sweep_dir(d->pool.dirs[i].path, note_set, &w, NULL);
	return w.found;
}

uint64_t cs_filestore_used(const struct cs_pool_dir *dir)
{
	uint64_t bytes = 0;

	sweep_dir(dir->path, any_set, NULL, &bytes);
	return bytes / 512;
}
