// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Difference storage in files.  A set gets DIR/cowsnap-SETID-N.store:
 * created, allocated (fallocate), flushed, mapped (FIEMAP), made immutable,
 * and its extents given to the module as sector ranges of the filesystem's
 * block device, which the module opens shared with the filesystem
 * (COWSNAP_STORAGE_F_IN_FILE).
 *
 * Where: the directories of storage.conf (`directory DIR'), those on none
 * of the set's volumes first; the module takes files on a volume of the set
 * itself (it reads their sectors as zeros in the image) unless another set
 * holds that volume; after the take only in what was free there at the
 * take (freemap.c).  With no storage configured at all (no device, no
 * directory), the default places: the default directory (cowsnapd
 * --default-storage, CS_DEFAULT_STORAGE_DIR), then CS_FS_STORAGE_DIR at the
 * top of each filesystem of the set's volumes, then of the largest other
 * ext4 or xfs filesystem; each created root's, 0700, when missing.  On any
 * filesystem, the storage files of all sets stay within max-percent of it,
 * and CS_POOL_KEEP_FREE_PERCENT of it stays free.
 *
 * Immutable, the file cannot be written, truncated, deleted or renamed
 * through the filesystem, and ext4's and xfs's extent moves (e4defrag,
 * xfs_fsr) refuse it, so its blocks stay where the module writes.  Only
 * ext4 and xfs are used: btrfs moves extents (balance, relocation) whatever
 * the flag, and tmpfs or network filesystems have no blocks of their own.
 *
 * The files are the state: those of a set that is gone are removed when
 * the daemon reconciles with the module (at start, and at every list), in
 * the configured directories and the default places alike, so a daemon
 * killed or a machine crashed leaves nothing behind for long.
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
#include "freemap.h"
#include "log.h"
#include "mountinfo.h"
#include "netlink.h"

#define STORE_PREFIX	"cowsnap-"
#define STORE_SUFFIX	".store"
/* extents mapped at once */
#define FIEMAP_BATCH	256
/* one place's reason in an error that names every place tried */
#define WHY_MAX		200

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

/* A directory that holds, or may hold, storage files. */
struct place {
	char path[CS_PATH_MAX + 1];
	uint32_t major, minor;		/* its filesystem's device, once checked */
	dev_t dev;			/* the directory itself (0: unknown) */
	ino_t ino;
	bool dflt;			/* a default place, not in storage.conf */
	bool make;			/* created when missing */
};

struct places {
	struct place *p;
	size_t n;
};

/* keep(): whether the file `name' (of set id, bytes long) in place in stays */
typedef bool keep_fn(const struct place *in, uint64_t id, const char *name, uint64_t bytes,
		     void *arg);

/* Every storage file in in->path that keep() refuses is removed. */
static void sweep_dir(const struct place *in, keep_fn *keep, void *arg)
{
	DIR *dh = opendir(in->path);
	struct dirent *de;

	if (!dh)
		return;
	while ((de = readdir(dh))) {
		uint64_t id = store_set_id(de->d_name), bytes = 0;
		struct stat st;

		if (!id)
			continue;
		if (!fstatat(dirfd(dh), de->d_name, &st, AT_SYMLINK_NOFOLLOW) &&
		    S_ISREG(st.st_mode))
			bytes = (uint64_t)st.st_size;
		if (keep(in, id, de->d_name, bytes, arg))
			continue;
		cs_info("%s/%s: its set is gone: removed", in->path, de->d_name);
		remove_store(dirfd(dh), in->path, de->d_name);
	}
	closedir(dh);
}

/* path appended (NULL when it is too long, or out of memory) */
static struct place *push_place(struct places *pl, const char *path, bool dflt)
{
	struct place *p;

	if (strlen(path) > CS_PATH_MAX)
		return NULL;
	p = realloc(pl->p, (pl->n + 1) * sizeof(*p));
	if (!p)
		return NULL;
	pl->p = p;
	p = &pl->p[pl->n++];
	memset(p, 0, sizeof(*p));
	strcpy(p->path, path);
	p->dflt = dflt;
	return p;
}

/* A filesystem storage files may go on. */
struct fs {
	char dir[CS_PATH_MAX + 1];	/* MOUNTPOINT/CS_FS_STORAGE_DIR */
	uint32_t major, minor;
	uint64_t sectors;
};

static int by_size(const void *a, const void *b)
{
	const struct fs *x = a, *y = b;

	return x->sectors < y->sectors ? 1 : x->sectors > y->sectors ? -1 : 0;
}

/*
 * Every ext4 or xfs filesystem mounted read-write from a block device, by
 * the first mount of its root (a bind mount of a directory in it is not
 * its top), largest first; *n of them.  Those whose CS_FS_STORAGE_DIR path
 * would be too long are left out.
 */
static struct fs *local_filesystems(size_t *n)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	struct fs *all = NULL;
	char line[8192];

	*n = 0;
	if (!f)
		return NULL;
	while (fgets(line, sizeof(line), f)) {
		struct cs_mount m;
		struct statvfs sv;
		struct fs *grown;
		bool seen = false;

		if (cs_mountinfo_parse(line, &m) || strcmp(m.root, "/") || !m.major ||
		    (strcmp(m.fstype, "ext4") && strcmp(m.fstype, "ext3") &&
		     strcmp(m.fstype, "ext2") && strcmp(m.fstype, "xfs")))
			continue;
		for (size_t i = 0; i < *n; i++)
			seen |= all[i].major == m.major && all[i].minor == m.minor;
		if (seen || statvfs(m.mountpoint, &sv) || (sv.f_flag & ST_RDONLY) ||
		    strlen(m.mountpoint) + sizeof("/" CS_FS_STORAGE_DIR) > CS_PATH_MAX + 1)
			continue;
		grown = realloc(all, (*n + 1) * sizeof(*all));
		if (!grown)
			break;
		all = grown;
		snprintf(all[*n].dir, sizeof(all[*n].dir), "%s/" CS_FS_STORAGE_DIR,
			 strcmp(m.mountpoint, "/") ? m.mountpoint : "");
		all[*n].major = m.major;
		all[*n].minor = m.minor;
		all[*n].sectors = (uint64_t)sv.f_blocks * sv.f_frsize / 512;
		(*n)++;
	}
	fclose(f);
	if (*n)
		qsort(all, *n, sizeof(*all), by_size);
	return all;
}

/* A default place that exists and passes cs_filestore_check_dir(), once. */
static void add_known(struct places *pl, const char *path)
{
	struct cs_error e;
	struct place *p;
	struct stat st;
	uint32_t ma, mi;

	if (lstat(path, &st) || !S_ISDIR(st.st_mode))
		return;
	for (size_t i = 0; i < pl->n; i++)
		if (pl->p[i].ino && pl->p[i].dev == st.st_dev && pl->p[i].ino == st.st_ino)
			return;
	if (cs_filestore_check_dir(path, &ma, &mi, &e))
		return;
	p = push_place(pl, path, true);
	if (!p)
		return;
	p->major = ma;
	p->minor = mi;
	p->dev = st.st_dev;
	p->ino = st.st_ino;
}

/*
 * Every directory that may hold storage files: the configured ones, then
 * the default places that exist (whatever storage.conf says now: files
 * made while it configured nothing stay theirs until their sets go).
 */
static void known_places(struct cowsnapd *d, struct places *pl)
{
	struct fs *fs;
	size_t nfs;

	for (size_t i = 0; i < d->pool.ndirs; i++) {
		struct place *p = push_place(pl, d->pool.dirs[i].path, false);
		struct stat st;

		if (!p)
			continue;
		p->major = d->pool.dirs[i].major;
		p->minor = d->pool.dirs[i].minor;
		if (!lstat(p->path, &st)) {
			p->dev = st.st_dev;
			p->ino = st.st_ino;
		}
	}
	add_known(pl, d->default_storage);
	fs = local_filesystems(&nfs);
	for (size_t i = 0; i < nfs; i++)
		add_known(pl, fs[i].dir);
	free(fs);
}

/*
 * sweep_dir() over every known place, or only those on the filesystem of
 * on[0]:on[1]; until done(arg) says so, when given.
 */
static void sweep_known(struct cowsnapd *d, const uint32_t *on, keep_fn *keep, void *arg,
			bool (*done)(const void *arg))
{
	struct places known = { 0 };

	known_places(d, &known);
	for (size_t i = 0; i < known.n && !(done && done(arg)); i++)
		if (!on || (known.p[i].major == on[0] && known.p[i].minor == on[1]))
			sweep_dir(&known.p[i], keep, arg);
	free(known.p);
}

static bool on_avoided(uint32_t major, uint32_t minor, const uint32_t (*avoid)[2], size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (avoid[i][0] == major && avoid[i][1] == minor)
			return true;
	return false;
}

/* Where set files go, in order (cs_filestore_give's comment); the
 * device of each, where it is known before the place is checked. */
static void candidates(struct cowsnapd *d, const uint32_t (*avoid)[2], size_t navoid,
		       struct places *pl)
{
	struct place *p;
	struct fs *fs;
	size_t nfs;

	if (d->pool.ndirs) {
		for (int on_set = 0; on_set < 2; on_set++) {
			for (size_t i = 0; i < d->pool.ndirs; i++) {
				const struct cs_pool_dir *dir = &d->pool.dirs[i];

				if (on_avoided(dir->major, dir->minor, avoid, navoid) != on_set)
					continue;
				p = push_place(pl, dir->path, false);
				if (p) {
					p->major = dir->major;
					p->minor = dir->minor;
				}
			}
		}
		return;
	}
	if (d->pool.configured)
		return;
	p = push_place(pl, d->default_storage, true);
	if (p) {
		struct stat st;

		p->make = true;
		if (!lstat(p->path, &st) && S_ISDIR(st.st_mode)) {
			p->major = major(st.st_dev);
			p->minor = minor(st.st_dev);
		}
	}
	fs = local_filesystems(&nfs);
	for (int on_set = 1; on_set >= 0; on_set--) {
		for (size_t i = 0; i < nfs; i++) {
			if (on_avoided(fs[i].major, fs[i].minor, avoid, navoid) != on_set)
				continue;
			p = push_place(pl, fs[i].dir, true);
			if (p) {
				p->make = true;
				p->major = fs[i].major;
				p->minor = fs[i].minor;
			}
		}
	}
	free(fs);
}

/* path and its missing parents: root's, the parents 0755, path 0700 */
static int make_dir(const char *path, struct cs_error *err)
{
	char p[CS_PATH_MAX + 1];
	struct stat st;

	if (!lstat(path, &st))
		return 0;
	snprintf(p, sizeof(p), "%s", path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) && errno != EEXIST)
			goto fail;
		*s = '/';
	}
	if (mkdir(p, 0700) && errno != EEXIST)
		goto fail;
	/* a set-group-id parent gives its group */
	if (chown(p, 0, 0))
		goto fail;
	cs_info("%s created for storage files", path);
	return 0;
fail:
	cs_error_set(err, errno, "cannot create %s: %s", p, strerror(errno));
	return -err->code;
}

static bool count_file(const struct place *in, uint64_t id, const char *name,
		       uint64_t bytes, void *arg)
{
	*(uint64_t *)arg += bytes;
	return true;
}

/* Sectors of the storage files of all sets on the filesystem of major:minor */
static uint64_t files_on(const struct places *known, uint32_t major, uint32_t minor)
{
	uint64_t bytes = 0;

	for (size_t i = 0; i < known->n; i++)
		if (known->p[i].major == major && known->p[i].minor == minor)
			sweep_dir(&known->p[i], count_file, &bytes);
	return bytes / 512;
}

/* What more storage files may take in dir (on major:minor); with why set
 * to the reason when that is less than want (0: no check). */
static uint64_t room_in(struct cowsnapd *d, const struct places *known, const char *dir,
			uint32_t major, uint32_t minor, uint64_t want, char *why, size_t size)
{
	uint64_t fs, avail, files, room;
	struct statvfs sv;
	bool ceiling;

	if (statvfs(dir, &sv)) {
		snprintf(why, size, "%.*s: %s", WHY_MAX / 2, dir, strerror(errno));
		return 0;
	}
	fs = (uint64_t)sv.f_blocks * sv.f_frsize / 512;
	avail = (uint64_t)sv.f_bavail * sv.f_frsize / 512;
	files = files_on(known, major, minor);
	room = cs_pool_file_room(fs, avail, files, d->pool.max_percent, &ceiling);
	if (room >= want)
		return room;
	if (ceiling)
		snprintf(why, size, "%.*s: %" PRIu64 " MiB wanted, but the storage files on its "
			 "filesystem (%" PRIu64 " MiB) may take at most max-percent %u%% of it "
			 "(%" PRIu64 " MiB)", WHY_MAX / 2, dir, want / 2048, files / 2048,
			 d->pool.max_percent, fs / 2048 * d->pool.max_percent / 100);
	else
		snprintf(why, size, "%.*s has %" PRIu64 " MiB free, %" PRIu64 " MiB wanted and "
			 "%d%% of the filesystem kept free", WHY_MAX / 2, dir, avail / 2048,
			 want / 2048, CS_POOL_KEEP_FREE_PERCENT);
	return room;
}

/*
 * A growth file on a volume of its set: only the parts of its extents that
 * were free at the take (the image reads them as zeros) go to the module.
 * When less than half the file is such, it is of too little use (the
 * filesystem is giving back blocks freed since the take): -ENOSPC.
 */
static int clip_to_free(const struct cs_freemap *fm, struct extents *x, uint64_t sectors,
			const char *path, struct cs_error *err)
{
	struct cs_freerange *in = NULL;
	struct cs_extent *e;
	size_t n = 0;
	int64_t got = 0;

	for (size_t i = 0; i < x->n && got >= 0; i++) {
		int64_t g = cs_freemap_clip(fm, x->e[i].start, x->e[i].len, &in, &n);

		got = g < 0 ? g : got + g;
	}
	if (got < 0) {
		free(in);
		cs_error_set(err, ENOMEM, "out of memory");
		return -ENOMEM;
	}
	if ((uint64_t)got < sectors / 2) {
		free(in);
		cs_error_set(err, ENOSPC, "%s: only %" PRIu64 " of its %" PRIu64 " MiB lie in "
			     "what was free at the take (the rest may hold the image's data)",
			     path, (uint64_t)got / 2048, sectors / 2048);
		return -ENOSPC;
	}
	e = malloc((n ? n : 1) * sizeof(*e));
	if (!e) {
		free(in);
		cs_error_set(err, ENOMEM, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		e[i] = (struct cs_extent){ in[i].start, in[i].len };
	free(in);
	free(x->e);
	x->e = e;
	x->n = n;
	return 0;
}

/*
 * One new storage file of `sectors' in dir for set_id, its extents given
 * to the module.  On error err says why, and the file is gone again unless
 * the module took some of its extents (*partial): then it goes with the set.
 */
static int give_file(struct cowsnapd *d, const struct place *dir, uint64_t set_id,
		     uint64_t sectors, bool grow, bool *partial, struct cs_error *err)
{
	/* growing on a volume of the set: only what was free at the take */
	const struct cs_freemap *fm = grow ? cs_freemap_find(d, set_id, dir->major,
							     dir->minor) : NULL;
	char name[64], path[CS_PATH_MAX + 2 + sizeof(name)];
	struct extents x = { 0 };
	uint64_t given = 0, bytes = sectors * 512;
	struct stat st;
	int dfd, fd = -1, ret;

	*partial = false;
	/* the directory checked is the one written: not swapped for a link
	 * since, and on the device the extents are given for */
	dfd = open(dir->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0 || fstat(dfd, &st) || st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) ||
	    st.st_dev != makedev(dir->major, dir->minor)) {
		cs_error_set(err, EAGAIN, "storage directory %s changed while it was checked; "
			     "try again", dir->path);
		if (dfd >= 0)
			close(dfd);
		return -EAGAIN;
	}
	for (unsigned n = 0; fd < 0 && n < 1000; n++) {
		snprintf(name, sizeof(name), STORE_PREFIX "%" PRIu64 "-%u" STORE_SUFFIX, set_id, n);
		fd = openat(dfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST) {
			ret = -errno;
			cs_error_set(err, errno, "cannot create %s/%s: %s", dir->path, name,
				     strerror(errno));
			close(dfd);
			return ret;
		}
	}
	if (fd < 0) {
		cs_error_set(err, EEXIST, "set %" PRIu64 " has too many storage files in %s",
			     set_id, dir->path);
		close(dfd);
		return -EEXIST;
	}
	snprintf(path, sizeof(path), "%s/%s", dir->path, name);
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
	if (fm) {
		ret = clip_to_free(fm, &x, bytes / 512, path, err);
		if (ret)
			goto fail;
	}
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
			const char *msg = e.message;

			if (!strncmp(msg, "cowsnap SET_ADD_STORAGE: ", 25))
				msg += 25;
			cs_error_set(err, e.code, "%s: the module refused it: %s", path, msg);
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
	close(dfd);
	free(x.e);
	cs_info("set %" PRIu64 ": %" PRIu64 " MiB of storage in %s (%zu extent(s))", set_id,
		given / 2048, path, x.n);
	return 0;
fail:
	/* the module may keep ranges it got: the caller destroys the set, and the
	 * file goes with its other files */
	*partial = given > 0;
	if (!given) {
		set_immutable(fd, false);
		unlinkat(dfd, name, 0);
	}
	close(fd);
	close(dfd);
	free(x.e);
	return ret;
}

/* reason appended to why ("; " between), cut to WHY_MAX */
static void add_why(char *why, size_t size, const char *reason)
{
	size_t len = strlen(why);

	if (len + 3 >= size)
		return;
	snprintf(why + len, size - len, "%s%.*s%s", len ? "; " : "", WHY_MAX, reason,
		 strlen(reason) > WHY_MAX ? "..." : "");
}

/* err: ENOSPC, before, why (cut to what fits), after */
static void set_why(struct cs_error *err, const char *before, const char *why,
		    const char *after)
{
	int fixed = snprintf(NULL, 0, "%s%s", before, after);
	int fit = CS_ERRMSG_MAX - 1 - fixed;
	int len = (int)strlen(why);

	if (fit < 4)
		fit = 4;
	if (len > fit)
		cs_error_set(err, ENOSPC, "%s%.*s...%s", before, fit - 3, why, after);
	else
		cs_error_set(err, ENOSPC, "%s%s%s", before, why, after);
}

/* What place_ready() found */
enum readiness {
	PLACE_READY,		/* storage files may go there */
	PLACE_TRIED,		/* a default place on a filesystem tried already */
	PLACE_UNFIT,		/* the place is not fit (reason) */
	PLACE_ON_SET,		/* its filesystem is a volume of a growing set */
};

/*
 * Whether storage files may go in c: not when c is unfit
 * (cs_filestore_check_dir, a default place made first), nor a default
 * place on a filesystem where one was tried already (it would fail alike),
 * nor, for a growing set, on one of its volumes whose free space at the
 * take cowsnapd does not know (freemap.c): after the take their free
 * blocks may still be the image's, so nothing is added there, not even a
 * directory made.  c's device is known before the check for most places,
 * after it for the rest.
 */
static enum readiness place_ready(struct cowsnapd *d, uint64_t set_id, struct place *c,
				  const uint32_t (*avoid)[2], size_t navoid,
				  bool grow, const uint32_t (*tried)[2], size_t ntried,
				  char *reason, size_t size)
{
	struct cs_error e;

	for (int checked = 0; checked < 2; checked++) {
		if (checked && ((c->make && make_dir(c->path, &e)) ||
				cs_filestore_check_dir(c->path, &c->major, &c->minor, &e))) {
			snprintf(reason, size, "%s", e.message);
			return PLACE_UNFIT;
		}
		if (!c->major && !c->minor)
			continue;
		if (c->dflt && on_avoided(c->major, c->minor, tried, ntried))
			return PLACE_TRIED;
		if (grow && on_avoided(c->major, c->minor, avoid, navoid) &&
		    !cs_freemap_find(d, set_id, c->major, c->minor)) {
			snprintf(reason, size, "%.*s is on a volume of the set, which takes "
				 "storage after the take only where it was free at the take, "
				 "and that is not known (not the volume of the set's first "
				 "storage, or not frozen at the take)",
				 WHY_MAX / 2, c->path);
			return PLACE_ON_SET;
		}
	}
	return PLACE_READY;
}

int cs_filestore_give(struct cowsnapd *d, uint64_t set_id, uint64_t sectors,
		      const uint32_t (*avoid)[2], size_t navoid, bool grow,
		      struct cs_error *err)
{
	uint64_t want = (sectors + CS_POOL_ALIGN - 1) / CS_POOL_ALIGN * CS_POOL_ALIGN;
	/*
	 * A size cowsnapd chose itself (no set-size, no grow-size) is a wish:
	 * a place with less room, but CS_POOL_AUTO_MIN at least, gives what
	 * it has (a small filesystem's max-percent).
	 */
	uint64_t least = (grow ? d->pool.grow_auto : d->pool.set_auto) && want > CS_POOL_AUTO_MIN ?
			 CS_POOL_AUTO_MIN : want;
	struct places cand = { 0 }, known = { 0 };
	char why[2 * CS_ERRMSG_MAX] = "", before[128];
	/* filesystems where a default place was tried: the next on the same
	 * one would fail the same way */
	uint32_t (*tried)[2];
	size_t ntried = 0;
	int ret = -ENOSPC;

	candidates(d, avoid, navoid, &cand);
	known_places(d, &known);
	tried = calloc(cand.n + 1, sizeof(*tried));
	if (!tried) {
		cs_error_set(err, ENOMEM, "out of memory");
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < cand.n; i++) {
		struct place *c = &cand.p[i];
		char reason[CS_ERRMSG_MAX];
		struct cs_error e;
		enum readiness ready;
		uint64_t room;
		bool partial;
		int r;

		ready = place_ready(d, set_id, c, avoid, navoid, grow,
				    (const uint32_t (*)[2])tried, ntried, reason, sizeof(reason));
		if (ready == PLACE_TRIED)
			continue;
		if (ready != PLACE_UNFIT) {
			tried[ntried][0] = c->major;
			tried[ntried++][1] = c->minor;
		}
		if (ready != PLACE_READY) {
			add_why(why, sizeof(why), reason);
			cs_info("set %" PRIu64 ": storage place passed over: %s", set_id, reason);
			continue;
		}
		room = room_in(d, &known, c->path, c->major, c->minor, least, reason,
			       sizeof(reason));
		if (room < least) {
			add_why(why, sizeof(why), reason);
			cs_info("set %" PRIu64 ": storage place passed over: %s", set_id, reason);
			continue;
		}
		r = give_file(d, c, set_id, room < want ? room : want, grow, &partial, &e);
		if (!r) {
			ret = 0;
			goto out;
		}
		cs_info("set %" PRIu64 ": storage place passed over: %s", set_id, e.message);
		if (partial) {
			*err = e;
			ret = r;
			goto out;
		}
		add_why(why, sizeof(why), e.message);
		/* a module without files as storage: said so (cs_ops_explain) */
		if (r == -EOPNOTSUPP)
			ret = r;
	}
	if (d->pool.configured) {
		set_why(err, "not enough free difference storage: ", why[0] ? why :
			"no storage directory", "; add storage with `snapctl storage add "
			"DEVICE|DIRECTORY' or delete sets");
	} else {
		snprintf(before, sizeof(before), "not enough free difference storage: none is "
			 "configured, and no default place takes %" PRIu64 " MiB: ", want / 2048);
		set_why(err, before, why[0] ? why : "no place to try", "; configure storage "
			"with `snapctl storage add DEVICE|DIRECTORY' (cowsnap.conf(5))");
	}
	err->code = -ret;
out:
	free(tried);
	free(cand.p);
	free(known.p);
	return ret;
}

static bool other_set(const struct place *in, uint64_t id, const char *name, uint64_t bytes,
		      void *arg)
{
	return id != *(const uint64_t *)arg;
}

void cs_filestore_release(struct cowsnapd *d, uint64_t set_id)
{
	sweep_known(d, NULL, other_set, &set_id, NULL);
}

struct live {
	const struct cs_set *sets;
	uint32_t n;
};

static bool live_set(const struct place *in, uint64_t id, const char *name, uint64_t bytes,
		     void *arg)
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

	sweep_known(d, NULL, live_set, &l, NULL);
}

struct wanted {
	uint64_t id;		/* the set looked for; or, with other, not this one */
	bool other;
	uint64_t found;		/* the set found (0: none) */
	char *dir;		/* where it was found, when given (size bytes) */
	size_t size;
};

/* keeps every file, noting the first that is (or is not) the wanted set's */
static bool note_set(const struct place *in, uint64_t id, const char *name, uint64_t bytes,
		     void *arg)
{
	struct wanted *w = arg;

	if (!w->found && (w->other ? id != w->id : id == w->id)) {
		w->found = id;
		if (w->dir)
			snprintf(w->dir, w->size, "%s", in->path);
	}
	return true;
}

static bool found_one(const void *arg)
{
	return ((const struct wanted *)arg)->found != 0;
}

bool cs_filestore_holds(struct cowsnapd *d, uint64_t set_id)
{
	struct wanted w = { .id = set_id };

	sweep_known(d, NULL, note_set, &w, found_one);
	return w.found != 0;
}

uint64_t cs_filestore_set_on(struct cowsnapd *d, uint32_t major, uint32_t minor,
			     uint64_t except, char *dir, size_t size)
{
	struct wanted w = { .id = except, .other = true, .dir = dir, .size = size };
	const uint32_t on[2] = { major, minor };

	sweep_known(d, on, note_set, &w, found_one);
	return w.found;
}

bool cs_filestore_set_has_on(struct cowsnapd *d, uint64_t set_id, uint32_t major,
			     uint32_t minor)
{
	struct wanted w = { .id = set_id };
	const uint32_t on[2] = { major, minor };

	sweep_known(d, on, note_set, &w, found_one);
	return w.found != 0;
}

struct set_files {
	uint64_t id;
	struct extents x;
	int ret;
	struct cs_error *err;
};

/* keeps every file, mapping those of the set looked for */
static bool map_set_file(const struct place *in, uint64_t id, const char *name,
			 uint64_t bytes, void *arg)
{
	struct set_files *w = arg;
	char path[CS_PATH_MAX + 2 + 64];
	int fd;

	if (id != w->id || w->ret)
		return true;
	snprintf(path, sizeof(path), "%s/%s", in->path, name);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		w->ret = -errno;
		cs_error_set(w->err, errno, "storage file %s: %s", path, strerror(errno));
		return true;
	}
	w->ret = map_file(fd, bytes, &w->x, path, w->err);
	close(fd);
	return true;
}

static bool map_failed(const void *arg)
{
	return ((const struct set_files *)arg)->ret != 0;
}

int cs_filestore_set_extents(struct cowsnapd *d, uint64_t set_id, uint32_t major,
			     uint32_t minor, struct cs_extent **out, size_t *n,
			     struct cs_error *err)
{
	struct set_files w = { .id = set_id, .err = err };
	const uint32_t on[2] = { major, minor };

	sweep_known(d, on, map_set_file, &w, map_failed);
	if (w.ret) {
		free(w.x.e);
		w.x.e = NULL;
		w.x.n = 0;
	}
	*out = w.x.e;
	*n = w.x.n;
	return w.ret;
}

uint64_t cs_filestore_used(const struct cs_pool_dir *dir)
{
	struct place in = { 0 };
	uint64_t bytes = 0;

	snprintf(in.path, sizeof(in.path), "%s", dir->path);
	sweep_dir(&in, count_file, &bytes);
	return bytes / 512;
}

struct describe {
	uint64_t id;
	struct cs_set_storage **out;
	uint32_t *n, max;
};

static bool describe_file(const struct place *in, uint64_t id, const char *name,
			  uint64_t bytes, void *arg)
{
	struct describe *w = arg;
	struct cs_set_storage *s;

	if (id != w->id || *w->n >= w->max ||
	    strlen(in->path) + 1 + strlen(name) > CS_PATH_MAX)
		return true;
	s = realloc(*w->out, (*w->n + 1) * sizeof(*s));
	if (!s)
		return true;
	*w->out = s;
	s = &s[(*w->n)++];
	memset(s, 0, sizeof(*s));
	/* the length was checked above */
	strcpy(s->place, in->path);
	strcat(s->place, "/");
	strcat(s->place, name);
	s->kind = CS_SET_STORAGE_FILE;
	s->sectors = bytes / 512;
	s->is_default = in->dflt;
	return true;
}

int cs_filestore_describe(struct cowsnapd *d, uint64_t set_id, struct cs_set_storage **out,
			  uint32_t *n, uint32_t max)
{
	struct describe w = { .id = set_id, .out = out, .n = n, .max = max };

	sweep_known(d, NULL, describe_file, &w, NULL);
	return 0;
}

int cs_filestore_list(struct cowsnapd *d, struct cs_storage_dev **rows, uint32_t *n)
{
	struct places known = { 0 };
	char why[8];
	int ret = 0;

	known_places(d, &known);
	for (size_t i = 0; i < known.n; i++) {
		const struct place *p = &known.p[i];
		struct cs_storage_dev *s;
		uint64_t bytes = 0;

		sweep_dir(p, count_file, &bytes);
		if (p->dflt && !bytes)
			continue;
		s = realloc(*rows, (*n + 1) * sizeof(*s));
		if (!s) {
			ret = -ENOMEM;
			break;
		}
		*rows = s;
		s = &s[(*n)++];
		memset(s, 0, sizeof(*s));
		strcpy(s->device, p->path);
		s->kind = CS_STORAGE_DIRECTORY;
		s->major = p->major;
		s->minor = p->minor;
		s->used = bytes / 512;
		s->sectors = s->used + room_in(d, &known, p->path, p->major, p->minor, 0, why,
					       sizeof(why));
		s->is_default = p->dflt;
	}
	free(known.p);
	return ret;
}
