// SPDX-License-Identifier: GPL-2.0-or-later
/* Difference storage devices and directories: configuration, state file,
 * hand-over to the module.  The arithmetic is pool.c's, the files
 * filestore.c's. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <linux/fs.h>

#include "daemon.h"
#include "filestore.h"
#include "log.h"
#include "netlink.h"
#include "storage.h"

static void paths(const struct cowsnapd *d, char *conf, char *state)
{
	char dir[PATH_MAX];

	snprintf(conf, PATH_MAX, "%s/storage.conf", d->config_dir);
	snprintf(dir, sizeof(dir), "%s", d->socket_path);
	snprintf(state, PATH_MAX, "%s/storage.state", dirname(dir));
}

/*
 * A device fit to be storage: a block device, and when `excl' nobody has it
 * open exclusively (mounted, in use by LVM/md...).  Devices already in the
 * configuration are not checked so: the module holds them open while sets
 * use them.
 */
static int probe_dev(const char *path, bool excl, uint32_t *major, uint32_t *minor,
		     uint64_t *sectors, struct cs_error *err)
{
	struct stat st;
	uint64_t bytes;
	int fd;

	if (stat(path, &st)) {
		cs_error_set(err, errno, "storage device %s: %s", path, strerror(errno));
		return -errno;
	}
	if (!S_ISBLK(st.st_mode)) {
		cs_error_set(err, ENOTBLK, "storage %s is not a block device or a "
			     "directory (storage files go in a directory: give the directory)",
			     path);
		return -ENOTBLK;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | (excl ? O_EXCL : 0));
	if (fd < 0) {
		cs_error_set(err, errno, "storage device %s: %s%s", path, strerror(errno),
			     errno == EBUSY ? " (mounted or otherwise in use?)" : "");
		return -errno;
	}
	if (ioctl(fd, BLKGETSIZE64, &bytes)) {
		cs_error_set(err, errno, "storage device %s: size: %s", path, strerror(errno));
		close(fd);
		return -errno;
	}
	close(fd);
	*major = major(st.st_rdev);
	*minor = minor(st.st_rdev);
	*sectors = bytes / 512;
	return 0;
}

static int save_state(struct cowsnapd *d)
{
	char conf[PATH_MAX], state[PATH_MAX], tmp[PATH_MAX + 8];
	FILE *f;

	paths(d, conf, state);
	snprintf(tmp, sizeof(tmp), "%s.new", state);
	f = fopen(tmp, "we");
	if (!f || cs_pool_state_write(&d->pool, f) || fflush(f) || fsync(fileno(f))) {
		cs_err("cannot write %s: %s", tmp, strerror(errno));
		if (f)
			fclose(f);
		return -EIO;
	}
	fclose(f);
	if (rename(tmp, state)) {
		cs_err("cannot rename %s: %s", tmp, strerror(errno));
		return -errno;
	}
	return 0;
}

static bool listed(char *const *paths, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(paths[i], path))
			return true;
	return false;
}

/*
 * storage.conf into the pool: sizes, the devices and directories it lists
 * added (a missing or busy one logged, not fatal: the daemon must come up
 * to release what it can), those it no longer lists dropped unless a set
 * holds storage on them.  A file that does not parse changes nothing.
 */
static int apply_conf(struct cowsnapd *d, struct cs_error *err)
{
	char conf[PATH_MAX], state[PATH_MAX];
	struct cs_pool_conf c = { .set_sectors = CS_POOL_DEFAULT_SET,
				  .grow_sectors = CS_POOL_DEFAULT_SET,
				  .set_auto = true, .grow_auto = true,
				  .max_percent = CS_POOL_MAX_PERCENT };
	uint32_t ma, mi;
	uint64_t sectors;
	FILE *f;
	int ret;

	paths(d, conf, state);
	f = fopen(conf, "re");
	if (!f && errno != ENOENT) {
		cs_error_set(err, errno, "cannot read %s: %s", conf, strerror(errno));
		return -errno;
	}
	if (f) {
		ret = cs_pool_conf_parse(f, conf, &c, err);
		fclose(f);
		if (ret)
			return ret;
	}
	d->pool.set_sectors = c.set_sectors;
	d->pool.grow_sectors = c.grow_sectors;
	d->pool.set_auto = c.set_auto;
	d->pool.grow_auto = c.grow_auto;
	d->pool.max_percent = c.max_percent;
	d->pool.configured = c.ndevices || c.ndirectories;
	for (size_t i = d->pool.ndevs; i-- > 0;) {
		struct cs_pool_dev *dev = &d->pool.devs[i];
		struct cs_error e;

		if (!listed(c.devices, c.ndevices, dev->path) &&
		    cs_pool_remove_dev(&d->pool, dev->major, dev->minor, &e))
			cs_warn("%s: kept: %s", conf, e.message);
	}
	for (size_t i = d->pool.ndirs; i-- > 0;) {
		const struct cs_pool_dir *dir = &d->pool.dirs[i];

		if (listed(c.directories, c.ndirectories, dir->path))
			continue;
		if (cs_filestore_used(dir))
			cs_warn("%s: storage directory %s kept: sets hold files in it", conf,
				dir->path);
		else
			cs_pool_remove_dir(&d->pool, dir->path, NULL);
	}
	for (size_t i = 0; i < c.ndevices; i++) {
		struct cs_error e;
		bool have = false;

		for (size_t j = 0; j < d->pool.ndevs; j++)
			have |= !strcmp(d->pool.devs[j].path, c.devices[i]);
		if (!have && (probe_dev(c.devices[i], false, &ma, &mi, &sectors, &e) ||
			      cs_pool_add_dev(&d->pool, c.devices[i], ma, mi, sectors, &e)))
			cs_warn("%s: %s", conf, e.message);
	}
	for (size_t i = 0; i < c.ndirectories; i++) {
		struct cs_error e;
		bool have = false;

		for (size_t j = 0; j < d->pool.ndirs; j++)
			have |= !strcmp(d->pool.dirs[j].path, c.directories[i]);
		if (!have && (cs_filestore_check_dir(c.directories[i], &ma, &mi, &e) ||
			      cs_pool_add_dir(&d->pool, c.directories[i], ma, mi, &e)))
			cs_warn("%s: %s", conf, e.message);
	}
	cs_pool_conf_free(&c);
	return 0;
}

/* With nothing configured, where storage goes: said once at start and
 * at each reload. */
static void say_defaults(struct cowsnapd *d)
{
	if (d->pool.configured && !d->pool.ndevs && !d->pool.ndirs)
		cs_warn("none of the difference storage storage.conf lists is usable now (see "
			"above): every create fails until some is");
	if (d->pool.configured)
		return;
	cs_info("no difference storage is configured: sets get storage files in %s, or in "
		CS_FS_STORAGE_DIR " at the top of a filesystem of theirs or of the largest "
		"other one (see cowsnap.conf(5))", d->default_storage);
}

int cs_storage_load(struct cowsnapd *d, struct cs_error *err)
{
	char conf[PATH_MAX], state[PATH_MAX];
	FILE *f;
	int ret;

	cs_pool_init(&d->pool);
	ret = apply_conf(d, err);
	if (ret)
		return ret;
	paths(d, conf, state);
	f = fopen(state, "re");
	if (f) {
		struct cs_error e;

		if (cs_pool_state_read(&d->pool, f, &e))
			cs_warn("%s: %s; starting from an empty state", state, e.message);
		fclose(f);
	}
	cs_info("difference storage: %zu device(s), %zu range(s) in use, %zu directory(ies)",
		d->pool.ndevs, d->pool.nallocs, d->pool.ndirs);
	say_defaults(d);
	return 0;
}

int cs_storage_reload(struct cowsnapd *d, struct cs_error *err)
{
	int ret = apply_conf(d, err);

	if (ret)
		return ret;
	if (d->pool.set_auto)
		cs_info("difference storage reloaded: %zu device(s), %zu directory(ies), "
			"set-size %d%% of the volumes (%llu to %llu MiB)", d->pool.ndevs,
			d->pool.ndirs, CS_POOL_AUTO_PERCENT, CS_POOL_AUTO_MIN / 2048,
			CS_POOL_DEFAULT_SET / 2048);
	else
		cs_info("difference storage reloaded: %zu device(s), %zu directory(ies), "
			"set-size %" PRIu64 " MiB", d->pool.ndevs, d->pool.ndirs,
			d->pool.set_sectors / 2048);
	say_defaults(d);
	return 0;
}

/* storage.conf with the line add appended (cs_pool_conf_device_line's or
 * _directory_line's), or with the device drop_major:drop_minor's line, or
 * the directory drop_dir's, deleted */
static int rewrite_conf(struct cowsnapd *d, const char *add, uint32_t drop_major,
			uint32_t drop_minor, const char *drop_dir, struct cs_error *err)
{
	char conf[PATH_MAX], state[PATH_MAX], tmp[PATH_MAX + 8], line[CS_PATH_MAX + 64];
	bool eol = true;	/* the last line kept ends with a newline */
	FILE *in, *out;

	paths(d, conf, state);
	snprintf(tmp, sizeof(tmp), "%s.new", conf);
	if (mkdir(d->config_dir, 0755) && errno != EEXIST) {
		cs_error_set(err, errno, "cannot create %s: %s", d->config_dir, strerror(errno));
		return -errno;
	}
	out = fopen(tmp, "we");
	if (!out) {
		cs_error_set(err, errno, "cannot write %s: %s", tmp, strerror(errno));
		return -errno;
	}
	in = fopen(conf, "re");
	while (in && fgets(line, sizeof(line), in)) {
		char dev[CS_PATH_MAX + 1];
		struct stat st;

		/* keep comments and every other line as the admin wrote them */
		if (!add && !drop_dir && sscanf(line, " device %4095s", dev) == 1 &&
		    !stat(dev, &st) && S_ISBLK(st.st_mode) && major(st.st_rdev) == drop_major &&
		    minor(st.st_rdev) == drop_minor)
			continue;
		if (!add && drop_dir && sscanf(line, " directory %4095s", dev) == 1 &&
		    !strcmp(dev, drop_dir))
			continue;
		fputs(line, out);
		eol = strchr(line, '\n') != NULL;
	}
	if (in)
		fclose(in);
	/* not joined to an admin's last line that has no newline */
	if (add)
		fprintf(out, "%s%s", eol ? "" : "\n", add);
	if (fflush(out) || fsync(fileno(out)) || fclose(out) || rename(tmp, conf)) {
		cs_error_set(err, errno, "cannot write %s: %s", conf, strerror(errno));
		return -errno;
	}
	return 0;
}

/* storage add DIR: storage files go there */
static int add_dir(struct cowsnapd *d, const char *path, struct cs_error *err)
{
	char line[CS_PATH_MAX + 64];
	uint32_t ma, mi;
	int ret;

	ret = cs_pool_conf_directory_line(path, line, sizeof(line), err);
	if (!ret)
		ret = cs_filestore_check_dir(path, &ma, &mi, err);
	if (!ret)
		ret = cs_pool_add_dir(&d->pool, path, ma, mi, err);
	if (ret)
		return ret;
	ret = rewrite_conf(d, line, 0, 0, NULL, err);
	if (ret) {
		cs_pool_remove_dir(&d->pool, path, NULL);
		return ret;
	}
	d->pool.configured = true;
	cs_info("storage directory %s (on %u:%u) added", path, ma, mi);
	return 0;
}

int cs_storage_add(struct cowsnapd *d, const char *path, struct cs_error *err)
{
	char line[CS_PATH_MAX + 64];
	struct stat st;
	uint32_t ma, mi;
	uint64_t sectors;
	int ret;

	if (!lstat(path, &st) && S_ISDIR(st.st_mode))
		return add_dir(d, path, err);
	/* before anything else: a path storage.conf cannot hold is refused */
	ret = cs_pool_conf_device_line(path, line, sizeof(line), err);
	if (ret)
		return ret;
	ret = probe_dev(path, true, &ma, &mi, &sectors, err);
	if (ret)
		return ret;
	ret = cs_pool_add_dev(&d->pool, path, ma, mi, sectors, err);
	if (ret)
		return ret;
	ret = rewrite_conf(d, line, 0, 0, NULL, err);
	if (ret) {
		cs_pool_remove_dev(&d->pool, ma, mi, NULL);
		return ret;
	}
	d->pool.configured = true;
	cs_info("storage device %s (%u:%u, %" PRIu64 " MiB) added", path, ma, mi,
		sectors / 2048);
	return 0;
}

/* After a removal: whether storage.conf still lists storage (a device
 * missing now, say); when it lists none, the default places take over. */
static void recount_conf(struct cowsnapd *d)
{
	char conf[PATH_MAX], state[PATH_MAX];
	struct cs_pool_conf c;
	struct cs_error e;
	FILE *f;

	paths(d, conf, state);
	f = fopen(conf, "re");
	if (!f) {
		d->pool.configured = false;
	} else if (!cs_pool_conf_parse(f, conf, &c, &e)) {
		d->pool.configured = c.ndevices || c.ndirectories;
		cs_pool_conf_free(&c);
	}
	if (f)
		fclose(f);
	say_defaults(d);
}

int cs_storage_remove(struct cowsnapd *d, const char *path, struct cs_error *err)
{
	struct cs_pool_dev *dev = NULL;
	struct stat st;
	uint32_t ma, mi;
	int ret;

	for (size_t i = 0; i < d->pool.ndirs; i++) {
		if (strcmp(d->pool.dirs[i].path, path))
			continue;
		/* files of live sets stay until their sets go (reconcile) */
		ret = cs_pool_remove_dir(&d->pool, path, err);
		if (!ret)
			ret = rewrite_conf(d, NULL, 0, 0, path, err);
		if (!ret) {
			cs_info("storage directory %s removed", path);
			recount_conf(d);
		}
		return ret;
	}
	for (size_t i = 0; i < d->pool.ndevs; i++)
		if (!strcmp(d->pool.devs[i].path, path))
			dev = &d->pool.devs[i];
	if (!dev && !stat(path, &st) && S_ISBLK(st.st_mode))
		dev = cs_pool_find_dev(&d->pool, major(st.st_rdev), minor(st.st_rdev));
	if (!dev) {
		cs_error_set(err, ENOENT, "%s is not difference storage; see `snapctl storage list'",
			     path);
		return -ENOENT;
	}
	ma = dev->major;
	mi = dev->minor;
	ret = cs_pool_remove_dev(&d->pool, ma, mi, err);
	if (ret)
		return ret;
	ret = rewrite_conf(d, NULL, ma, mi, NULL, err);
	if (!ret) {
		cs_info("storage device %s removed", path);
		recount_conf(d);
	}
	return ret;
}

int cs_storage_give(struct cowsnapd *d, uint64_t set_id, uint64_t sectors,
		    const uint32_t (*avoid)[2], size_t navoid, bool grow, struct cs_error *err)
{
	size_t first;
	int ret = -ENOSPC;

	/* devices first; then files, when no device has room; with nothing
	 * configured, files in the default places */
	if (d->pool.ndevs)
		ret = cs_pool_alloc(&d->pool, set_id, sectors, avoid, navoid, &first, err);
	if (ret == -ENOSPC && (d->pool.ndirs || !d->pool.configured))
		return cs_filestore_give(d, set_id, sectors, avoid, navoid, grow, err);
	if (ret == -ENOSPC && !d->pool.ndevs)
		cs_error_set(err, ENOSPC, "no difference storage is usable: what storage.conf "
			     "lists is missing, busy or unfit (cowsnapd's log says why); fix it "
			     "and reload cowsnapd (systemctl reload cowsnapd), or add storage with "
			     "`snapctl storage add DEVICE|DIRECTORY'");
	if (ret)
		return ret;
	for (size_t i = first; i < d->pool.nallocs; i++) {
		const struct cs_alloc *a = &d->pool.allocs[i];

		if (a->set_id != set_id)
			continue;
		ret = cs_nl_set_add_storage(d->nl, set_id, a->major, a->minor, a->start,
					    a->len, 0, err);
		if (ret) {
			/* the module may keep what it got; the set is destroyed by
			 * the caller, and its ranges come back then */
			break;
		}
	}
	save_state(d);
	return ret;
}

int cs_storage_describe(struct cowsnapd *d, uint64_t set_id, struct cs_set_storage **out,
			uint32_t *n)
{
	/* the ranges of each device together, in the order of the devices */
	for (size_t i = 0; i < d->pool.ndevs; i++) {
		const struct cs_pool_dev *dev = &d->pool.devs[i];
		struct cs_set_storage *s;
		uint64_t sectors = 0;

		for (size_t j = 0; j < d->pool.nallocs; j++) {
			const struct cs_alloc *a = &d->pool.allocs[j];

			if (a->set_id == set_id && a->major == dev->major && a->minor == dev->minor)
				sectors += a->len;
		}
		if (!sectors || *n >= CS_MAX_SET_STORAGE)
			continue;
		s = realloc(*out, (*n + 1) * sizeof(*s));
		if (!s)
			return -ENOMEM;
		*out = s;
		s = &s[(*n)++];
		memset(s, 0, sizeof(*s));
		strcpy(s->place, dev->path);
		s->kind = CS_SET_STORAGE_DEVICE;
		s->sectors = sectors;
	}
	return cs_filestore_describe(d, set_id, out, n, CS_MAX_SET_STORAGE);
}

void cs_storage_release(struct cowsnapd *d, uint64_t set_id)
{
	if (cs_pool_release(&d->pool, set_id))
		save_state(d);
	cs_filestore_release(d, set_id);
}

void cs_storage_reconcile(struct cowsnapd *d, const struct cs_set *sets, uint32_t n)
{
	bool changed = false;
	size_t i = 0;

	while (i < d->pool.nallocs) {
		uint64_t id = d->pool.allocs[i].set_id;
		bool live = false;

		for (uint32_t j = 0; j < n; j++)
			live |= sets[j].id == id;
		if (live) {
			i++;
			continue;
		}
		cs_info("set %" PRIu64 " is gone: its storage is free again", id);
		cs_pool_release(&d->pool, id);
		changed = true;
		i = 0;
	}
	if (changed)
		save_state(d);
	cs_filestore_reconcile(d, sets, n);
}
