// SPDX-License-Identifier: GPL-2.0-or-later
/* Volumes: from what admins type to block devices, with libblkid and
 * /proc/self/mountinfo. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mntent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <blkid.h>
#include <linux/cowsnap.h>

#include "imagefs.h"
#include "log.h"
#include "mountinfo.h"
#include "netlink.h"
#include "cbt.h"
#include "volumes.h"

static int read_line(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");
	int ret = 0;

	if (!f)
		return -errno;
	if (!fgets(buf, (int)size, f))
		ret = -EIO;
	else
		buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
	return ret;
}

uint64_t cs_volume_sectors(uint32_t major, uint32_t minor)
{
	char path[64], buf[32], *end;
	unsigned long long v;

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/size", major, minor);
	if (read_line(path, buf, sizeof(buf)))
		return 0;
	v = strtoull(buf, &end, 10);
	return *end ? 0 : v;
}

/* The kernel's name of a block device number, from sysfs. */
static int dev_name(uint32_t major, uint32_t minor, char *name, size_t size)
{
	char link[64], target[PATH_MAX];
	ssize_t n;
	const char *base;

	snprintf(link, sizeof(link), "/sys/dev/block/%u:%u", major, minor);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (strlen(base) >= size)
		return -ENAMETOOLONG;
	strcpy(name, base);
	return 0;
}

/* "/dev/" and any name fit devnode whole: COWSNAP_VOLUMES is sized on it */
_Static_assert(sizeof("/dev/") - 1 + sizeof(((struct cs_resolved *)0)->name) <=
	       CS_DEVNODE_SIZE, "devnode cannot hold /dev/NAME");

static int set_resolved(uint32_t major, uint32_t minor, const char *spec,
			struct cs_resolved *out, struct cs_error *err)
{
	out->major = major;
	out->minor = minor;
	if (dev_name(major, minor, out->name, sizeof(out->name))) {
		cs_error_set(err, ENODEV, "`%s' is on device %u:%u, which is not a block device",
			     spec, major, minor);
		return -ENODEV;
	}
	if (!strncmp(out->name, COWSNAP_IMAGE_NAME, strlen(COWSNAP_IMAGE_NAME))) {
		cs_error_set(err, EINVAL, "`%s' is a cowsnap snapshot image (%s); snapshots of "
			     "snapshots are not supported", spec, out->name);
		return -EINVAL;
	}
	snprintf(out->devnode, sizeof(out->devnode), "/dev/%s", out->name);
	return 0;
}

static bool is_tag(const char *spec)
{
	static const char *const tags[] = { "UUID=", "LABEL=", "PARTUUID=", "PARTLABEL=" };

	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++)
		if (!strncmp(spec, tags[i], strlen(tags[i])))
			return true;
	return false;
}

int cs_volume_resolve(const char *spec, struct cs_resolved *out, struct cs_error *err)
{
	char real[PATH_MAX], line[8192];
	struct cs_mount m;
	struct stat st;
	FILE *f;
	int ret;

	memset(out, 0, sizeof(*out));
	if (is_tag(spec)) {
		char *dev = blkid_evaluate_tag(spec, NULL, NULL);

		if (!dev) {
			cs_error_set(err, ENODEV, "no block device has %s", spec);
			return -ENODEV;
		}
		ret = stat(dev, &st);
		if (ret || !S_ISBLK(st.st_mode)) {
			cs_error_set(err, ENODEV, "%s names %s, which is not a block device",
				     spec, dev);
			free(dev);
			return -ENODEV;
		}
		free(dev);
		return set_resolved(major(st.st_rdev), minor(st.st_rdev), spec, out, err);
	}
	if (spec[0] != '/') {
		cs_error_set(err, EINVAL, "`%s' is not a volume: give a device, an absolute "
			     "path or mount point, UUID=, LABEL=, PARTUUID= or PARTLABEL=", spec);
		return -EINVAL;
	}
	if (!realpath(spec, real) || stat(real, &st)) {
		cs_error_set(err, errno, "cannot resolve `%s': %s", spec, strerror(errno));
		return -errno;
	}
	if (S_ISBLK(st.st_mode))
		return set_resolved(major(st.st_rdev), minor(st.st_rdev), spec, out, err);
	if (!dev_name(major(st.st_dev), minor(st.st_dev), out->name, sizeof(out->name)))
		return set_resolved(major(st.st_dev), minor(st.st_dev), spec, out, err);
	/* btrfs and friends report an anonymous st_dev: ask mountinfo which
	 * device the filesystem holding the path was mounted from */
	f = fopen("/proc/self/mountinfo", "re");
	if (!f) {
		cs_error_set(err, errno, "cannot read /proc/self/mountinfo: %s", strerror(errno));
		return -errno;
	}
	ret = cs_mountinfo_find(f, real, line, sizeof(line), &m);
	fclose(f);
	if (ret) {
		cs_error_set(err, ENODEV, "`%s' is on no mounted filesystem", spec);
		return -ENODEV;
	}
	if (m.source[0] == '/' && !stat(m.source, &st) && S_ISBLK(st.st_mode))
		return set_resolved(major(st.st_rdev), minor(st.st_rdev), spec, out, err);
	cs_error_set(err, ENOTBLK, "`%s' is on a %s filesystem (%s at %s), not on a block device",
		     spec, m.fstype, m.source, m.mountpoint);
	return -ENOTBLK;
}

/* libblkid's probe of devnode's superblocks, done: NULL when nothing, or
 * more than one thing, was found */
static blkid_probe probed(const char *devnode)
{
	blkid_probe pr = blkid_new_probe_from_filename(devnode);

	if (!pr)
		return NULL;
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_UUID |
					  BLKID_SUBLKS_LABEL);
	if (blkid_do_safeprobe(pr) == 0)
		return pr;
	blkid_free_probe(pr);
	return NULL;
}

/* pr's value of name ("TYPE", "UUID", "LABEL") into buf, left as it is
 * when there is none */
static void found(blkid_probe pr, const char *name, char *buf, size_t size)
{
	const char *val;

	if (!blkid_probe_lookup_value(pr, name, &val, NULL))
		snprintf(buf, size, "%s", val);
}

static void probe(const char *devnode, struct cs_volume *v)
{
	blkid_probe pr = probed(devnode);

	if (!pr)
		return;
	found(pr, "TYPE", v->fstype, sizeof(v->fstype));
	found(pr, "UUID", v->uuid, sizeof(v->uuid));
	found(pr, "LABEL", v->label, sizeof(v->label));
	blkid_free_probe(pr);
}

void cs_volume_fstype(const char *devnode, char *fstype, size_t size)
{
	blkid_probe pr = probed(devnode);

	fstype[0] = '\0';
	if (!pr)
		return;
	found(pr, "TYPE", fstype, size);
	blkid_free_probe(pr);
}

static int cmp_volume(const void *a, const void *b)
{
	const struct cs_volume *x = a, *y = b;

	if (x->major != y->major)
		return x->major < y->major ? -1 : 1;
	return x->minor < y->minor ? -1 : x->minor > y->minor;
}

int cs_volume_list(struct cs_nl *nl, struct cs_volume **vols, uint32_t *n,
		   struct cs_error *err)
{
	struct cs_volume *v = NULL, *tracked = NULL;
	uint32_t count = 0, cap = 0, ntracked = 0;
	struct cs_error nerr;
	struct dirent *de;
	char path[PATH_MAX], buf[64], line[8192];
	unsigned ma, mi;
	DIR *d;

	d = opendir("/sys/class/block");
	if (!d) {
		cs_error_set(err, errno, "cannot read /sys/class/block: %s", strerror(errno));
		return -errno;
	}
	while ((de = readdir(d))) {
		struct cs_volume *e;
		unsigned long long size;
		struct cs_mount m;
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/class/block/%s/dev", de->d_name);
		if (read_line(path, buf, sizeof(buf)) || sscanf(buf, "%u:%u", &ma, &mi) != 2)
			continue;
		snprintf(path, sizeof(path), "/sys/class/block/%s/size", de->d_name);
		if (read_line(path, buf, sizeof(buf)) || sscanf(buf, "%llu", &size) != 1 || !size)
			continue;
		if (count == cap) {
			cap = cap ? cap * 2 : 16;
			e = realloc(v, cap * sizeof(*v));
			if (!e || cap > 4096) {
				free(e ? e : v);
				closedir(d);
				cs_error_set(err, ENOMEM, "too many block devices");
				return -ENOMEM;
			}
			v = e;
		}
		e = &v[count++];
		memset(e, 0, sizeof(*e));
		snprintf(e->device, sizeof(e->device), "/dev/%s", de->d_name);
		e->major = ma;
		e->minor = mi;
		e->sectors = size;
		probe(e->device, e);
		f = fopen("/proc/self/mountinfo", "re");
		if (f) {
			if (!cs_mountinfo_find_dev(f, ma, mi, line, sizeof(line), &m))
				snprintf(e->mountpoint, sizeof(e->mountpoint), "%s", m.mountpoint);
			fclose(f);
		}
	}
	closedir(d);
	/* what the module tracks; a module that cannot tell yet is no error */
	if (nl && !cs_nl_volume_dump(nl, &tracked, &ntracked, &nerr)) {
		for (uint32_t i = 0; i < ntracked; i++) {
			for (uint32_t j = 0; j < count; j++) {
				if (v[j].major == tracked[i].major && v[j].minor == tracked[i].minor) {
					v[j].tracked = true;
					v[j].mark_set_id = tracked[i].mark_set_id;
					v[j].snapshots = tracked[i].snapshots;
					v[j].kept = tracked[i].kept;
					strcpy(v[j].cbt_generation, tracked[i].cbt_generation);
					v[j].cbt_chunk_sectors = tracked[i].cbt_chunk_sectors;
					if (cs_cbt_changed_bytes(nl, v[j].major, v[j].minor,
								 v[j].sectors,
								 v[j].cbt_chunk_sectors,
								 &v[j].changed_bytes, &nerr))
						cs_dbg("%s: no changed bytes: %s", v[j].device,
						       nerr.message);
				}
			}
		}
		free(tracked);
	} else if (nl) {
		cs_dbg("volume list without tracking state: %s", nerr.message);
	}
	if (count)
		qsort(v, count, sizeof(*v), cmp_volume);
	*vols = v;
	*n = count;
	return 0;
}

/* An fstab entry: its mount point, and its volume when that is one of the
 * set's (major 0 otherwise: kept to tell nesting apart). */
struct fstab_place {
	char dir[CS_PATH_MAX + 1];
	uint32_t major, minor;
};

#define FSTAB_MAX	256

struct cs_volume_places {
	const struct cs_resolved *vols;
	uint32_t nvols;
	struct fstab_place *fs;
	size_t nfs;
};

static bool among(const struct cs_volume_places *p, uint32_t major, uint32_t minor)
{
	for (uint32_t i = 0; i < p->nvols; i++)
		if (p->vols[i].major == major && p->vols[i].minor == minor)
			return true;
	return false;
}

struct cs_volume_places *cs_volume_places_new(const struct cs_resolved *vols, uint32_t nvols)
{
	struct cs_volume_places *p = calloc(1, sizeof(*p));
	struct mntent *m;
	FILE *f;

	if (!p)
		return NULL;
	p->vols = vols;
	p->nvols = nvols;
	p->fs = calloc(FSTAB_MAX, sizeof(*p->fs));
	if (!p->fs) {
		free(p);
		return NULL;
	}
	f = setmntent("/etc/fstab", "re");
	while (f && p->nfs < FSTAB_MAX && (m = getmntent(f))) {
		struct fstab_place *e = &p->fs[p->nfs];
		struct cs_resolved v;
		struct cs_error err;

		if (m->mnt_dir[0] != '/' || strlen(m->mnt_dir) > CS_PATH_MAX)
			continue;
		snprintf(e->dir, sizeof(e->dir), "%s", m->mnt_dir);
		e->major = e->minor = 0;
		/* devices only: not a bind mount's directory, not tmpfs, swap */
		if ((!strncmp(m->mnt_fsname, "/dev/", 5) || strchr(m->mnt_fsname, '=')) &&
		    !cs_volume_resolve(m->mnt_fsname, &v, &err) && among(p, v.major, v.minor)) {
			e->major = v.major;
			e->minor = v.minor;
		}
		p->nfs++;
	}
	if (f)
		endmntent(f);
	return p;
}

/* dir is path or one of its parents */
static bool path_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (n == 1)
		return true;
	return !strncmp(path, dir, n) && (path[n] == '/' || !path[n]);
}

bool cs_volume_places_hold(const char *dir, void *places)
{
	const struct cs_volume_places *p = places;
	const struct fstab_place *deepest = NULL;
	struct cs_resolved v;
	struct cs_error err;

	if (!cs_volume_resolve(dir, &v, &err) && among(p, v.major, v.minor))
		return true;
	for (size_t i = 0; i < p->nfs; i++)
		if (path_under(dir, p->fs[i].dir) &&
		    (!deepest || strlen(p->fs[i].dir) > strlen(deepest->dir)))
			deepest = &p->fs[i];
	return deepest && deepest->major;
}

void cs_volume_places_free(struct cs_volume_places *p)
{
	if (p)
		free(p->fs);
	free(p);
}

/*
 * Auto-recovery: the filesystem on image (a writable image) mounted
 * read-write once, so that ext3/ext4 replay their journal and xfs its log,
 * synced, and unmounted.  The mount is detached (fsopen/fsmount): it is in
 * no mount namespace, nobody sees it, and it ends when its descriptors are
 * closed (the superblock is written out then, before close() returns).
 * Other filesystems, and none, are left as they are: *fstype says what was
 * found ("" for nothing).  1 when it was recovered, 0 when left alone.
 */
int cs_volume_recover(const char *image, char *fstype, size_t size, struct cs_error *err)
{
	struct cs_imagefs_fail f;
	char type[64];
	int mnt, dir, ret = 0;

	cs_volume_fstype(image, type, sizeof(type));
	snprintf(fstype, size, "%s", type);
	if (strcmp(type, "ext3") && strcmp(type, "ext4") && strcmp(type, "xfs"))
		return 0;
	mnt = cs_imagefs_mount(image, type, true, MOUNT_ATTR_NOEXEC, &dir, &f);
	if (mnt < 0) {
		if (f.step == CS_IMAGEFS_MOUNT)
			cs_error_set(err, f.err, "cannot recover %s on %s: mounting it read-write: "
				     "%s%s%s%s", type, image, strerror(f.err), f.log[0] ? " (" : "",
				     f.log, f.log[0] ? ")" : "");
		else
			cs_error_set(err, f.err, "cannot recover %s on %s: %s: %s", type, image,
				     f.step == CS_IMAGEFS_FSOPEN ? "fsopen" :
				     f.step == CS_IMAGEFS_FSMOUNT ? "fsmount" : "open",
				     strerror(f.err));
		return mnt;
	}
	if (syncfs(dir)) {
		ret = -errno;
		cs_error_set(err, -ret, "cannot recover %s on %s: syncfs: %s", type, image,
			     strerror(-ret));
	}
	close(dir);
	close(mnt);
	return ret ? ret : 1;
}

