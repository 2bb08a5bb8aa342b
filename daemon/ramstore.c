// SPDX-License-Identifier: GPL-2.0-or-later
/* RAM storage: zram devices made and removed through sysfs, each behind a
 * loop device (see ramstore.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <linux/loop.h>

#include "log.h"
#include "modload.h"
#include "ramstore.h"

#define ZRAM_CONTROL	"/sys/class/zram-control"

/* A sysfs file's first line, without its newline; -errno. */
static int read_line(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	if (n < 0) {
		n = -errno;
		close(fd);
		return (int)n;
	}
	close(fd);
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* sysfs takes a value in one write; -errno (EBUSY from reset while open) */
static int write_str(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	size_t len = strlen(val);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, val, len);
	if (n < 0) {
		n = -errno;
		close(fd);
		return (int)n;
	}
	close(fd);
	return (size_t)n == len ? 0 : -EIO;
}

static void attr(int index, const char *name, char *path, size_t size)
{
	snprintf(path, size, "/sys/block/zram%d/%s", index, name);
}

int cs_ram_mem_total(uint64_t *bytes, struct cs_error *err)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[128];
	unsigned long long kb;

	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "MemTotal: %llu kB", &kb) == 1) {
			fclose(f);
			*bytes = (uint64_t)kb << 10;
			return 0;
		}
	}
	if (f)
		fclose(f);
	cs_error_set(err, EIO, "cannot tell this host's memory: no MemTotal in /proc/meminfo");
	return -EIO;
}

/* whether something sits on it: swap, a mapping (holders) */
static bool in_use(int index)
{
	char path[64], line[256], name[32];
	bool used = false;
	struct dirent *e;
	FILE *f;
	DIR *dir;

	snprintf(name, sizeof(name), "/dev/zram%d", index);
	f = fopen("/proc/swaps", "re");
	while (f && fgets(line, sizeof(line), f))
		used |= !strncmp(line, name, strlen(name)) &&
			(line[strlen(name)] == ' ' || line[strlen(name)] == '\t');
	if (f)
		fclose(f);
	attr(index, "holders", path, sizeof(path));
	dir = opendir(path);
	while (dir && (e = readdir(dir)))
		used |= e->d_name[0] != '.';
	if (dir)
		closedir(dir);
	return used;
}

bool cs_ram_is(int index, uint64_t bytes)
{
	char path[64], val[64];
	unsigned long long size;

	if (index < 0)
		return false;
	/* mm_stat: a zram device, not some other zramN */
	attr(index, "mm_stat", path, sizeof(path));
	if (access(path, R_OK))
		return false;
	attr(index, "disksize", path, sizeof(path));
	if (read_line(path, val, sizeof(val)) || sscanf(val, "%llu", &size) != 1 ||
	    size != bytes)
		return false;
	return !in_use(index);
}

/* zram-control there, loading zram (with no device of its own) if need be */
static int have_zram(struct cs_error *err)
{
	struct cs_error e;
	int ret;

	if (!access(ZRAM_CONTROL "/hot_add", F_OK))
		return 0;
	ret = cs_module_probe("zram", "num_devices=0", &e);
	if (!ret && !access(ZRAM_CONTROL "/hot_add", F_OK))
		return 0;
	if (ret == -ENOENT || !ret)
		cs_error_set(err, ENODEV, "RAM storage needs zram, which this kernel has "
			     "neither built in nor as a module (CONFIG_ZRAM; on Debian and "
			     "Ubuntu it is in the kernel's package, on some others in "
			     "linux-modules-extra); use a device or a directory instead "
			     "(snapctl storage add DEVICE|DIRECTORY)");
	else
		cs_error_set(err, -ret, "RAM storage needs zram: %s", e.message);
	return ret ? ret : -ENODEV;
}

int cs_ram_make(uint64_t bytes, int *index, struct cs_error *err)
{
	char path[64], val[256], *p;
	int ret, n;

	ret = have_zram(err);
	if (ret)
		return ret;
	ret = read_line(ZRAM_CONTROL "/hot_add", val, sizeof(val));
	if (ret || sscanf(val, "%d", &n) != 1 || n < 0) {
		ret = ret ? ret : -EIO;
		cs_error_set(err, -ret, "cannot add a zram device (" ZRAM_CONTROL "/hot_add): %s",
			     strerror(-ret));
		return ret;
	}
	/* lz4 where zram has it: fast, and the default in many kernels anyway */
	attr(n, "comp_algorithm", path, sizeof(path));
	if (!read_line(path, val, sizeof(val))) {
		for (p = strtok(val, " []"); p; p = strtok(NULL, " []"))
			if (!strcmp(p, "lz4") && write_str(path, "lz4"))
				cs_dbg("zram%d: lz4 not taken; the default compression stays", n);
	}
	snprintf(val, sizeof(val), "%" PRIu64, bytes);
	attr(n, "disksize", path, sizeof(path));
	ret = write_str(path, val);
	if (ret) {
		cs_error_set(err, -ret, "cannot size zram%d to %" PRIu64 " MiB: %s%s", n,
			     bytes >> 20, strerror(-ret), ret == -ENOMEM ?
			     " (not enough memory for its tables; give a smaller ram:SIZE)" : "");
		snprintf(val, sizeof(val), "%d", n);
		write_str(ZRAM_CONTROL "/hot_remove", val);
		return ret;
	}
	*index = n;
	cs_info("zram%d made: %" PRIu64 " MiB of RAM storage", n, bytes >> 20);
	return 0;
}

/* /dev/NAME for block device NAME (zram3, loop7), made when devtmpfs has
 * not; its major:minor */
static int node(const char *name, uint32_t *major, uint32_t *minor, struct cs_error *err)
{
	char sys[96], path[64], val[32];
	unsigned ma, mi;
	struct stat st;
	int ret;

	snprintf(sys, sizeof(sys), "/sys/block/%s/dev", name);
	ret = read_line(sys, val, sizeof(val));
	if (ret || sscanf(val, "%u:%u", &ma, &mi) != 2) {
		cs_error_set(err, ENODEV, "%s is gone (%s)", name, sys);
		return -ENODEV;
	}
	snprintf(path, sizeof(path), "/dev/%s", name);
	/* devtmpfs makes the node as the device appears; without it, udev may
	 * lag: a second, then it is made here */
	for (int i = 0; i < 50; i++) {
		if (!stat(path, &st) && S_ISBLK(st.st_mode) && st.st_rdev == makedev(ma, mi))
			goto found;
		nanosleep(&(struct timespec){ 0, 20000000 }, NULL);
	}
	unlink(path);
	if (mknod(path, S_IFBLK | 0660, makedev(ma, mi))) {
		cs_error_set(err, errno, "cannot make %s: %s", path, strerror(errno));
		return -errno;
	}
found:
	*major = ma;
	*minor = mi;
	return 0;
}

/* the loop device on /dev/zram<index>, -1: none */
static int loop_of(int index)
{
	char want[32], path[300], val[256];
	DIR *dir = opendir("/sys/block");
	struct dirent *e;
	int n = -1;

	snprintf(want, sizeof(want), "/dev/zram%d", index);
	while (dir && n < 0 && (e = readdir(dir))) {
		if (strncmp(e->d_name, "loop", 4))
			continue;
		snprintf(path, sizeof(path), "/sys/block/%s/loop/backing_file", e->d_name);
		if (!read_line(path, val, sizeof(val)) && !strcmp(val, want))
			n = atoi(e->d_name + 4);
	}
	if (dir)
		closedir(dir);
	return n;
}

/* a new loop device of 512-byte sectors on /dev/zram<index>; its number */
static int loop_make(int index, struct cs_error *err)
{
	struct loop_config cfg = { .block_size = 512 };
	char name[32], path[64];
	uint32_t ma, mi;
	int ctl, zfd, lfd, n = -1, ret;

	snprintf(name, sizeof(name), "zram%d", index);
	ret = node(name, &ma, &mi, err);
	if (ret)
		return ret;
	if (access("/dev/loop-control", F_OK))
		cs_module_probe("loop", NULL, NULL);
	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0) {
		cs_error_set(err, errno, "RAM storage needs a loop device (CONFIG_BLK_DEV_LOOP): "
			     "/dev/loop-control: %s", strerror(errno));
		return -errno;
	}
	snprintf(path, sizeof(path), "/dev/%s", name);
	zfd = open(path, O_RDWR | O_CLOEXEC);
	if (zfd < 0) {
		ret = -errno;
		cs_error_set(err, errno, "cannot open %s: %s", path, strerror(errno));
		close(ctl);
		return ret;
	}
	cfg.fd = (uint32_t)zfd;
	/* another program may take the free one first */
	ret = -EBUSY;
	for (int i = 0; i < 10 && ret == -EBUSY; i++) {
		n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0) {
			ret = -errno;
			break;
		}
		snprintf(name, sizeof(name), "loop%d", n);
		ret = node(name, &ma, &mi, err);
		if (ret)
			break;
		snprintf(path, sizeof(path), "/dev/%s", name);
		lfd = open(path, O_RDWR | O_CLOEXEC);
		if (lfd < 0) {
			ret = -errno;
			break;
		}
		ret = ioctl(lfd, LOOP_CONFIGURE, &cfg) ? -errno : 0;
		close(lfd);
	}
	close(zfd);
	close(ctl);
	if (ret) {
		cs_error_set(err, -ret, "cannot set up a loop device on zram%d: %s", index,
			     strerror(-ret));
		return ret;
	}
	return n;
}

int cs_ram_attach(int index, uint32_t *major, uint32_t *minor, struct cs_error *err)
{
	int n = loop_of(index);
	char name[32];

	if (n < 0)
		n = loop_make(index, err);
	if (n < 0)
		return n;
	snprintf(name, sizeof(name), "loop%d", n);
	return node(name, major, minor, err);
}

/* the loop device on zram<index> detached, when nobody has it open */
static int loop_drop(int index)
{
	int n = loop_of(index), fd, ret = 0;
	char path[64];

	if (n < 0)
		return 0;
	snprintf(path, sizeof(path), "/dev/loop%d", n);
	/* O_EXCL: refused while the module holds it */
	fd = open(path, O_RDWR | O_EXCL | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (ioctl(fd, LOOP_CLR_FD))
		ret = -errno;
	close(fd);
	return ret;
}

int cs_ram_remove(int index, struct cs_error *err)
{
	char path[64], val[16];
	int ret;

	ret = loop_drop(index);
	attr(index, "reset", path, sizeof(path));
	/* the loop device lets go of zram as its last user closes it */
	for (int i = 0; !ret && i < 50; i++) {
		ret = write_str(path, "1");
		if (ret != -EBUSY || i == 49)
			break;
		ret = 0;
		nanosleep(&(struct timespec){ 0, 20000000 }, NULL);
	}
	if (!ret) {
		snprintf(val, sizeof(val), "%d", index);
		ret = write_str(ZRAM_CONTROL "/hot_remove", val);
	}
	if (ret) {
		cs_error_set(err, -ret, "cannot remove zram%d: %s%s", index, strerror(-ret),
			     ret == -EBUSY ? " (it is open: in use)" : "");
		return ret;
	}
	cs_info("zram%d removed", index);
	return 0;
}

uint64_t cs_ram_memory(int index)
{
	char path[64], val[256];
	unsigned long long orig, compr, used;

	attr(index, "mm_stat", path, sizeof(path));
	if (read_line(path, val, sizeof(val)) ||
	    sscanf(val, "%llu %llu %llu", &orig, &compr, &used) != 3)
		return 0;
	return used;
}
