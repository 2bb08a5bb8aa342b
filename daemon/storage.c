// SPDX-License-Identifier: GPL-2.0-or-later
/* Difference storage devices, directories and RAM: configuration, state
 * file, hand-over to the module.  The arithmetic is pool.c's, the files
 * filestore.c's, the zram devices ramstore.c's. */
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
#include <time.h>
#include <unistd.h>

#include <linux/fs.h>

#include "daemon.h"
#include "filestore.h"
#include "freemap.h"
#include "log.h"
#include "netlink.h"
#include "ramstore.h"
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

/* `ram', `ram:SIZE': RAM storage, not a path */
static bool ram_name(const char *s)
{
	return !strcmp(s, "ram") || !strncmp(s, "ram:", 4);
}

static struct cs_pool_dev *ram_dev(struct cowsnapd *d)
{
	for (size_t i = 0; i < d->pool.ndevs; i++)
		if (d->pool.devs[i].ram)
			return &d->pool.devs[i];
	return NULL;
}

/* a set whose storage is (partly) in RAM, 0: none */
static uint64_t ram_set(struct cowsnapd *d)
{
	const struct cs_pool_dev *dev = ram_dev(d);

	for (size_t i = 0; dev && i < d->pool.nallocs; i++)
		if (d->pool.allocs[i].major == dev->major && d->pool.allocs[i].minor == dev->minor)
			return d->pool.allocs[i].set_id;
	return 0;
}

/*
 * The zram device a daemon made before (the state file's) that is not RAM
 * storage now: removed while it is still there as it was made and unused;
 * forgotten either way.  One that sets of that daemon still use stays.
 */
static void ram_forget(struct cowsnapd *d)
{
	struct cs_error e;

	if (d->pool.ram_index < 0 || ram_dev(d))
		return;
	if (cs_ram_is(d->pool.ram_index, d->pool.ram_bytes) &&
	    cs_ram_remove(d->pool.ram_index, &e))
		cs_warn("zram%d, RAM storage made before, left as it is: %s", d->pool.ram_index,
			e.message);
	d->pool.ram_index = -1;
	d->pool.ram_bytes = 0;
}

/*
 * RAM storage of `bytes' into the pool: the zram device made before
 * (d->pool.ram_index, from the state file) while it is there and of that
 * size, so that sets of a restarted daemon keep their storage; else a new
 * one, within 1/CS_POOL_RAM_SHARE of the host's memory.
 */
static int ram_up(struct cowsnapd *d, uint64_t bytes, struct cs_error *err)
{
	bool reused = d->pool.ram_index >= 0 && cs_ram_is(d->pool.ram_index, bytes);
	int index = d->pool.ram_index, ret;
	uint32_t ma, mi;
	char path[32];
	uint64_t mem;

	if (!reused) {
		ret = cs_ram_mem_total(&mem, err);
		if (!ret)
			ret = cs_pool_ram_fits(bytes, mem, err);
		if (ret)
			return ret;
		ram_forget(d);
		ret = cs_ram_make(bytes, &index, err);
		if (ret)
			return ret;
	}
	/* listed as the zram device; the module gets its loop device */
	snprintf(path, sizeof(path), "/dev/zram%d", index);
	ret = cs_ram_attach(index, &ma, &mi, err);
	if (!ret)
		ret = cs_pool_add_dev(&d->pool, path, ma, mi, bytes / 512, err);
	if (ret) {
		if (!reused)
			cs_ram_remove(index, NULL);
		return ret;
	}
	d->pool.devs[d->pool.ndevs - 1].ram = true;
	d->pool.ram_index = index;
	d->pool.ram_bytes = bytes;
	if (reused)
		cs_info("zram%d, made before, is RAM storage again (%" PRIu64 " MiB)", index,
			bytes >> 20);
	return 0;
}

/* RAM storage out of the pool, its zram device removed (its memory freed);
 * -EBUSY while a set has storage in it */
static int ram_down(struct cowsnapd *d, struct cs_error *err)
{
	struct cs_pool_dev *dev = ram_dev(d);
	uint64_t set = ram_set(d);
	int ret;

	if (set) {
		cs_error_set(err, EBUSY, "RAM storage %s holds storage of set %" PRIu64 "; "
			     "delete that set first", dev->path, set);
		return -EBUSY;
	}
	ret = cs_ram_remove(d->pool.ram_index, err);
	if (ret)
		return ret;
	cs_pool_remove_dev(&d->pool, dev->major, dev->minor, NULL);
	d->pool.ram_index = -1;
	d->pool.ram_bytes = 0;
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
	d->pool.configured = c.ndevices || c.ndirectories || c.ram_bytes;
	for (size_t i = d->pool.ndevs; i-- > 0;) {
		struct cs_pool_dev *dev = &d->pool.devs[i];
		struct cs_error e;

		if (!dev->ram && !listed(c.devices, c.ndevices, dev->path) &&
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
	if (ram_dev(d) && d->pool.ram_bytes != c.ram_bytes) {
		struct cs_error e;

		if (ram_down(d, &e))
			cs_warn("%s: RAM storage kept as it is (%" PRIu64 " MiB): %s", conf,
				d->pool.ram_bytes >> 20, e.message);
	}
	if (c.ram_bytes && !ram_dev(d)) {
		struct cs_error e;

		if (ram_up(d, c.ram_bytes, &e))
			cs_warn("%s: ram %" PRIu64 "M: %s", conf, c.ram_bytes >> 20, e.message);
	} else if (!c.ram_bytes) {
		ram_forget(d);
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
	uint64_t ram_bytes;
	int ram_index;
	FILE *f;
	int ret;

	cs_pool_init(&d->pool);
	paths(d, conf, state);
	/* the zram device made before, to be taken again (apply_conf) before
	 * the ranges in it are */
	f = fopen(state, "re");
	if (f && !cs_pool_state_ram(f, &ram_index, &ram_bytes)) {
		d->pool.ram_index = ram_index;
		d->pool.ram_bytes = ram_bytes;
	}
	ram_index = d->pool.ram_index;
	ret = apply_conf(d, err);
	if (ret) {
		if (f)
			fclose(f);
		return ret;
	}
	if (f) {
		struct cs_error e;

		rewind(f);
		if (cs_pool_state_read(&d->pool, f, &e))
			cs_warn("%s: %s; starting from an empty state", state, e.message);
		fclose(f);
	}
	if (d->pool.ram_index != ram_index)
		save_state(d);
	cs_info("difference storage: %zu device(s)%s, %zu range(s) in use, %zu directory(ies)",
		d->pool.ndevs, ram_dev(d) ? " (one RAM)" : "", d->pool.nallocs, d->pool.ndirs);
	say_defaults(d);
	return 0;
}

int cs_storage_reload(struct cowsnapd *d, struct cs_error *err)
{
	int ret = apply_conf(d, err);

	if (ret)
		return ret;
	save_state(d);
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
 * _directory_line's, or a `ram' line), or with the device
 * drop_major:drop_minor's line, or the directory drop_dir's, deleted; with
 * drop_ram, every `ram' line deleted (before add's), how many in *dropped
 * (may be NULL) */
static int rewrite_conf(struct cowsnapd *d, const char *add, uint32_t drop_major,
			uint32_t drop_minor, const char *drop_dir, bool drop_ram,
			size_t *dropped, struct cs_error *err)
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
		if (!add && !drop_dir && !drop_ram && sscanf(line, " device %4095s", dev) == 1 &&
		    !stat(dev, &st) && S_ISBLK(st.st_mode) && major(st.st_rdev) == drop_major &&
		    minor(st.st_rdev) == drop_minor)
			continue;
		if (!add && drop_dir && sscanf(line, " directory %4095s", dev) == 1 &&
		    !strcmp(dev, drop_dir))
			continue;
		if (drop_ram && sscanf(line, " ram %4095s", dev) == 1) {
			if (dropped)
				(*dropped)++;
			continue;
		}
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
	ret = rewrite_conf(d, line, 0, 0, NULL, false, NULL, err);
	if (ret) {
		cs_pool_remove_dir(&d->pool, path, NULL);
		return ret;
	}
	d->pool.configured = true;
	cs_info("storage directory %s (on %u:%u) added", path, ma, mi);
	return 0;
}

/* storage add ram:SIZE: a zram device of SIZE */
static int add_ram(struct cowsnapd *d, const char *spec, struct cs_error *err)
{
	const struct cs_pool_dev *dev = ram_dev(d);
	char line[64];
	uint64_t bytes;
	int ret;

	if (strncmp(spec, "ram:", 4)) {
		cs_error_set(err, EINVAL, "RAM storage needs its size: ram:SIZE (ram:512M)");
		return -EINVAL;
	}
	ret = cs_pool_ram_size(spec + 4, &bytes, err);
	if (ret)
		return ret;
	if (dev) {
		cs_error_set(err, EEXIST, "there is RAM storage already (%s, %" PRIu64 " MiB), "
			     "and there is one at most; for another size, remove it first "
			     "(snapctl storage remove ram)", dev->path, d->pool.ram_bytes >> 20);
		return -EEXIST;
	}
	ret = ram_up(d, bytes, err);
	if (ret)
		return ret;
	/* a `ram' line whose device did not come up goes: one line at most */
	snprintf(line, sizeof(line), "ram %" PRIu64 "M\n", bytes >> 20);
	ret = rewrite_conf(d, line, 0, 0, NULL, true, NULL, err);
	if (ret) {
		ram_down(d, NULL);
		return ret;
	}
	save_state(d);
	d->pool.configured = true;
	cs_info("RAM storage %s (%" PRIu64 " MiB) added", ram_dev(d)->path, bytes >> 20);
	return 0;
}

int cs_storage_add(struct cowsnapd *d, const char *path, struct cs_error *err)
{
	char line[CS_PATH_MAX + 64];
	struct stat st;
	uint32_t ma, mi;
	uint64_t sectors;
	int ret;

	if (ram_name(path))
		return add_ram(d, path, err);
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
	ret = rewrite_conf(d, line, 0, 0, NULL, false, NULL, err);
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
		d->pool.configured = c.ndevices || c.ndirectories || c.ram_bytes;
		cs_pool_conf_free(&c);
	}
	if (f)
		fclose(f);
	say_defaults(d);
}

/* storage remove ram (ram:SIZE, /dev/zramN): the zram device goes, its
 * memory freed; and the `ram' line, also when its device is not there */
static int remove_ram(struct cowsnapd *d, struct cs_error *err)
{
	const struct cs_pool_dev *dev = ram_dev(d);
	int index = d->pool.ram_index, ret;
	size_t dropped = 0;

	if (dev) {
		ret = ram_down(d, err);
		if (ret)
			return ret;
		save_state(d);
	}
	ret = rewrite_conf(d, NULL, 0, 0, NULL, true, &dropped, err);
	if (ret)
		return ret;
	if (!dev && !dropped) {
		cs_error_set(err, ENOENT, "there is no RAM storage; see `snapctl storage list'");
		return -ENOENT;
	}
	if (dev)
		cs_info("RAM storage /dev/zram%d removed", index);
	else
		cs_info("RAM storage (not made) removed from storage.conf");
	recount_conf(d);
	return 0;
}

int cs_storage_remove(struct cowsnapd *d, const char *path, struct cs_error *err)
{
	struct cs_pool_dev *dev = NULL;
	struct stat st;
	uint32_t ma, mi;
	int ret;

	if (ram_name(path))
		return remove_ram(d, err);

	for (size_t i = 0; i < d->pool.ndirs; i++) {
		if (strcmp(d->pool.dirs[i].path, path))
			continue;
		/* files of live sets stay until their sets go (reconcile) */
		ret = cs_pool_remove_dir(&d->pool, path, err);
		if (!ret)
			ret = rewrite_conf(d, NULL, 0, 0, path, false, NULL, err);
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
	if (dev->ram)
		return remove_ram(d, err);
	ma = dev->major;
	mi = dev->minor;
	ret = cs_pool_remove_dev(&d->pool, ma, mi, err);
	if (ret)
		return ret;
	ret = rewrite_conf(d, NULL, ma, mi, NULL, false, NULL, err);
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
		s->kind = dev->ram ? CS_SET_STORAGE_RAM : CS_SET_STORAGE_DEVICE;
		s->sectors = sectors;
	}
	return cs_filestore_describe(d, set_id, out, n, CS_MAX_SET_STORAGE);
}

void cs_storage_release(struct cowsnapd *d, uint64_t set_id)
{
	if (cs_pool_release(&d->pool, set_id))
		save_state(d);
	cs_filestore_release(d, set_id);
	cs_freemap_forget(d, set_id);
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

void cs_storage_stop(struct cowsnapd *d)
{
	const struct cs_pool_dev *dev = ram_dev(d);
	struct cs_set *sets = NULL;
	uint64_t keep = 0;
	struct cs_error e;
	uint32_t n = 0;

	d->ram_drop = false;
	if (!dev)
		return;
	/* without the module's list, every set it holds storage for stays */
	if (!d->nl || cs_nl_set_dump(d->nl, &sets, &n, &e))
		keep = ram_set(d);
	for (size_t i = 0; !keep && i < d->pool.nallocs; i++) {
		const struct cs_alloc *a = &d->pool.allocs[i];

		for (uint32_t j = 0; j < n; j++)
			if (sets[j].id == a->set_id && !sets[j].auto_release &&
			    a->major == dev->major && a->minor == dev->minor)
				keep = a->set_id;
	}
	for (uint32_t j = 0; j < n; j++)
		cs_nl_set_free(&sets[j]);
	free(sets);
	if (keep)
		cs_info("zram%d left as it is: set %" PRIu64 " has its storage in it (cowsnapd "
			"takes it again when it starts)", d->pool.ram_index, keep);
	else
		d->ram_drop = true;
}

void cs_storage_close(struct cowsnapd *d)
{
	const struct cs_pool_dev *dev = ram_dev(d);
	struct cs_error e;
	int ret = -EBUSY;

	if (!dev || !d->ram_drop)
		return;
	/* the module lets go of the storage as it destroys the sets; a
	 * moment for it */
	for (int i = 0; i < 50 && ret == -EBUSY; i++) {
		ret = cs_ram_remove(d->pool.ram_index, &e);
		if (ret == -EBUSY)
			nanosleep(&(struct timespec){ 0, 20000000 }, NULL);
	}
	if (ret) {
		cs_warn("RAM storage left: %s", e.message);
		return;
	}
	for (size_t i = d->pool.nallocs; i-- > 0;)
		if (d->pool.allocs[i].major == dev->major && d->pool.allocs[i].minor == dev->minor)
			cs_pool_release(&d->pool, d->pool.allocs[i].set_id);
	cs_pool_remove_dev(&d->pool, dev->major, dev->minor, NULL);
	d->pool.ram_index = -1;
	d->pool.ram_bytes = 0;
	save_state(d);
}
