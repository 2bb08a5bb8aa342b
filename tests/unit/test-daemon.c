// SPDX-License-Identifier: GPL-2.0-or-later
/* Check tests of the daemon's pure logic: peer policy, mountinfo. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <check.h>

#include "log.h"
#include "mountinfo.h"
#include "peer.h"
#include "pool.h"
#include "reply.h"
#include "writers.h"
#include "daemon.h"

START_TEST(peer_root_only)
{
	struct cs_peer_policy p = { 0 };
	gid_t groups[] = { 100, 0 };

	ck_assert(cs_peer_allowed(&p, 0, 0, NULL, 0));
	ck_assert(cs_peer_allowed(&p, 0, 1000, NULL, 0));
	ck_assert(!cs_peer_allowed(&p, 1000, 0, groups, 2));	/* gid 0 is not root */
	ck_assert(!cs_peer_allowed(&p, 65534, 65534, NULL, 0));
}
END_TEST

START_TEST(peer_group)
{
	struct cs_peer_policy p = { .have_group = true, .group = 990, .group_name = "backup" };
	gid_t other[] = { 100, 24 }, member[] = { 100, 990 };

	ck_assert(cs_peer_allowed(&p, 1000, 990, NULL, 0));
	ck_assert(cs_peer_allowed(&p, 1000, 1000, member, 2));
	ck_assert(!cs_peer_allowed(&p, 1000, 1000, other, 2));
	ck_assert(!cs_peer_allowed(&p, 1000, 1000, NULL, 0));
}
END_TEST

START_TEST(peer_ops)
{
	ck_assert(cs_peer_may(CS_OP_STORAGE_ADD, 0));
	ck_assert(!cs_peer_may(CS_OP_STORAGE_ADD, 1000));
	ck_assert(!cs_peer_may(CS_OP_STORAGE_REMOVE, 1000));
	ck_assert(!cs_peer_may(CS_OP_WRITER_REGISTER, 1000));
	ck_assert(!cs_peer_may(CS_OP_RESTORE_BEGIN, 1000));
	ck_assert(cs_peer_may(CS_OP_SET_CREATE, 1000));
	ck_assert(cs_peer_may(CS_OP_SET_DELETE, 1000));
	ck_assert(cs_peer_may(CS_OP_SET_LIST, 1000));
	ck_assert(cs_peer_may(CS_OP_VOLUME_TRACK, 1000));
	ck_assert(cs_peer_may(CS_OP_CBT_GET, 1000));
}
END_TEST

START_TEST(peer_admit)
{
	/* root keeps the last slots; any other uid at most its share */
	ck_assert(cs_peer_admit(CS_PEER_MAX - 1, 0, 0));
	ck_assert(!cs_peer_admit(CS_PEER_MAX, 0, 0));
	ck_assert(cs_peer_admit(CS_PEER_MAX - CS_PEER_ROOT_RESERVE - 1, 0, 1000));
	ck_assert(!cs_peer_admit(CS_PEER_MAX - CS_PEER_ROOT_RESERVE, 0, 1000));
	ck_assert(cs_peer_admit(40, CS_PEER_MAX_PER_UID - 1, 1000));
	ck_assert(!cs_peer_admit(40, CS_PEER_MAX_PER_UID, 1000));
	/* root is not limited per uid */
	ck_assert(cs_peer_admit(100, 100, 0));
}
END_TEST

START_TEST(ratelimit)
{
	struct cs_ratelimit r = { .burst = 3, .period_ms = 1000 };
	unsigned int missed, logged = 0;

	for (int i = 0; i < 10; i++) {
		logged += cs_ratelimit(&r, 5000 + (unsigned long long)i, &missed);
		ck_assert_uint_eq(missed, 0);
	}
	ck_assert_uint_eq(logged, 3);
	/* the next period says how many were dropped */
	ck_assert(cs_ratelimit(&r, 6000, &missed));
	ck_assert_uint_eq(missed, 7);
	ck_assert(cs_ratelimit(&r, 6001, &missed));
	ck_assert_uint_eq(missed, 0);
}
END_TEST

START_TEST(set_owners)
{
	struct cs_owners o = { 0 };

	for (uint64_t id = 1; id <= 40; id++)
		ck_assert_int_eq(cs_owners_add(&o, id, id % 2 ? 1000 : 1001), 0);
	ck_assert(cs_owners_may_delete(&o, 7, 1000));
	ck_assert(!cs_owners_may_delete(&o, 7, 1001));
	ck_assert(cs_owners_may_delete(&o, 8, 1001));
	ck_assert(cs_owners_may_delete(&o, 8, 0));
	/* a set the daemon did not create: root's */
	ck_assert(!cs_owners_may_delete(&o, 99, 1000));
	ck_assert(cs_owners_may_delete(&o, 99, 0));
	cs_owners_del(&o, 7);
	ck_assert(!cs_owners_may_delete(&o, 7, 1000));
	ck_assert(cs_owners_may_delete(&o, 9, 1000));
	ck_assert(cs_owners_may_delete(&o, 40, 1001));
	ck_assert_uint_eq(o.n, 39);
	cs_owners_free(&o);
	ck_assert_ptr_null(o.v);
}
END_TEST

static const char mountinfo[] =
	"21 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro\n"
	"22 21 0:20 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw\n"
	"30 21 254:17 / /srv rw,relatime shared:5 - xfs /dev/vdb1 rw,attr2\n"
	"31 30 7:0 / /srv/my\\040data rw,relatime - ext4 /dev/loop0 rw\n"
	"32 21 254:17 /sub /bind rw,relatime shared:5 - xfs /dev/vdb1 rw\n"
	"33 21 0:40 / /srv2 rw - tmpfs tmpfs rw\n"
	"34 21 7:1 / /srv rw,relatime - ext4 /dev/loop1 rw\n";

static int find(const char *path, struct cs_mount *m, char *line, size_t size)
{
	FILE *f = fmemopen((void *)mountinfo, sizeof(mountinfo) - 1, "r");
	int ret = cs_mountinfo_find(f, path, line, size, m);

	fclose(f);
	return ret;
}

START_TEST(mountinfo_parse_line)
{
	char line[] = "36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 shared:3 - ext3 "
		      "/dev/root rw,errors=continue\n";
	char bad1[] = "36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 ext3 /dev/root rw";
	char bad2[] = "36 35 98x0 / / rw - ext4 /dev/sda1 rw";
	char bad3[] = "";
	char bad4[] = "3x 35 98:0 / / rw - ext4 /dev/sda1 rw";
	struct cs_mount m;

	ck_assert_int_eq(cs_mountinfo_parse(line, &m), 0);
	ck_assert_uint_eq(m.id, 36);
	ck_assert_uint_eq(m.parent, 35);
	ck_assert_uint_eq(m.major, 98);
	ck_assert_uint_eq(m.minor, 0);
	ck_assert_str_eq(m.root, "/mnt1");
	ck_assert_str_eq(m.mountpoint, "/mnt/parent");
	ck_assert_str_eq(m.fstype, "ext3");
	ck_assert_str_eq(m.source, "/dev/root");
	ck_assert_int_eq(cs_mountinfo_parse(bad1, &m), -EINVAL);
	ck_assert_int_eq(cs_mountinfo_parse(bad2, &m), -EINVAL);
	ck_assert_int_eq(cs_mountinfo_parse(bad3, &m), -EINVAL);
	ck_assert_int_eq(cs_mountinfo_parse(bad4, &m), -EINVAL);
}
END_TEST

START_TEST(mountinfo_longest_prefix)
{
	char line[1024];
	struct cs_mount m;

	ck_assert_int_eq(find("/etc/passwd", &m, line, sizeof(line)), 0);
	ck_assert_str_eq(m.mountpoint, "/");
	ck_assert_str_eq(m.source, "/dev/vda1");
	/* escaped space in the mount point */
	ck_assert_int_eq(find("/srv/my data/x", &m, line, sizeof(line)), 0);
	ck_assert_str_eq(m.mountpoint, "/srv/my data");
	ck_assert_uint_eq(m.major, 7);
	/* "/srv2" is not under "/srv" */
	ck_assert_int_eq(find("/srv2/file", &m, line, sizeof(line)), 0);
	ck_assert_str_eq(m.fstype, "tmpfs");
	/* the later over-mount of /srv wins */
	ck_assert_int_eq(find("/srv/a", &m, line, sizeof(line)), 0);
	ck_assert_str_eq(m.source, "/dev/loop1");
	ck_assert_int_eq(find("/bind", &m, line, sizeof(line)), 0);
	ck_assert_str_eq(m.root, "/sub");
}
END_TEST

START_TEST(mountinfo_by_dev)
{
	char line[1024];
	struct cs_mount m;
	FILE *f = fmemopen((void *)mountinfo, sizeof(mountinfo) - 1, "r");

	/* the first mount of the whole filesystem, not the bind mount */
	ck_assert_int_eq(cs_mountinfo_find_dev(f, 254, 17, line, sizeof(line), &m), 0);
	ck_assert_str_eq(m.mountpoint, "/srv");
	rewind(f);
	ck_assert_int_eq(cs_mountinfo_find_dev(f, 8, 1, line, sizeof(line), &m), -ENOENT);
	fclose(f);
}
END_TEST

START_TEST(path_under)
{
	ck_assert(cs_path_under("/", "/"));
	ck_assert(cs_path_under("/a/b", "/"));
	ck_assert(cs_path_under("/a", "/a"));
	ck_assert(cs_path_under("/a/b", "/a"));
	ck_assert(!cs_path_under("/ab", "/a"));
	ck_assert(!cs_path_under("/", "/a"));
}
END_TEST

static int parse_conf(const char *text, struct cs_pool_conf *c, struct cs_error *err)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	int ret = cs_pool_conf_parse(f, "storage.conf", c, err);

	fclose(f);
	return ret;
}

START_TEST(pool_conf)
{
	struct cs_pool_conf c;
	struct cs_error err;

	ck_assert_int_eq(parse_conf("# storage\n\ndevice /dev/vdc\n  device\t/dev/vdd # 2nd\n"
				    "set-size 64M\n", &c, &err), 0);
	ck_assert_uint_eq(c.ndevices, 2);
	ck_assert_str_eq(c.devices[1], "/dev/vdd");
	ck_assert_uint_eq(c.set_sectors, 64 * 2048);
	ck_assert_uint_eq(c.grow_sectors, 64 * 2048);	/* defaults to set-size */
	cs_pool_conf_free(&c);
	ck_assert_int_eq(parse_conf("", &c, &err), 0);
	ck_assert_uint_eq(c.set_sectors, CS_POOL_DEFAULT_SET);
	cs_pool_conf_free(&c);

	ck_assert_int_eq(parse_conf("device /dev/vdc\nsize 1G\n", &c, &err), -EINVAL);
	ck_assert_str_eq(err.message, "storage.conf:2: unknown setting `size'");
	ck_assert_int_eq(parse_conf("set-size 12k3\n", &c, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.message, "storage.conf:1: invalid size `12k3'"));
	ck_assert_int_eq(parse_conf("grow-size 4K\n", &c, &err), -EINVAL);	/* < 1M */
	ck_assert_int_eq(parse_conf("device vdc\n", &c, &err), -EINVAL);
	ck_assert_int_eq(parse_conf("device /dev/a /dev/b\n", &c, &err), -EINVAL);
	ck_assert_str_eq(err.message, "storage.conf:1: `device' takes one value");

	/* directories for storage files, beside devices, in their order */
	ck_assert_int_eq(parse_conf("directory /srv/cow\ndevice /dev/vdc\ndirectory /var/cow\n",
				    &c, &err), 0);
	ck_assert_uint_eq(c.ndevices, 1);
	ck_assert_uint_eq(c.ndirectories, 2);
	ck_assert_str_eq(c.directories[0], "/srv/cow");
	ck_assert_str_eq(c.directories[1], "/var/cow");
	cs_pool_conf_free(&c);
	ck_assert_int_eq(parse_conf("directory srv/cow\n", &c, &err), -EINVAL);
	ck_assert_str_eq(err.message, "storage.conf:1: directory `srv/cow' is not an absolute path");
}
END_TEST

/* The line `snapctl storage add DIR' appends, or why it cannot. */
START_TEST(pool_directory_line)
{
	struct cs_pool p;
	struct cs_error err;
	char line[128];

	ck_assert_int_eq(cs_pool_conf_directory_line("/srv/cow", line, sizeof(line), &err), 0);
	ck_assert_str_eq(line, "directory /srv/cow\n");
	ck_assert_int_eq(cs_pool_conf_directory_line("/srv/my cow", line, sizeof(line), &err),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.message, "is followed by a blank"));
	cs_pool_init(&p);
	ck_assert_int_eq(cs_pool_add_dir(&p, "/srv/cow", 8, 1, &err), 0);
	ck_assert_int_eq(cs_pool_add_dir(&p, "/srv/cow", 8, 1, &err), -EEXIST);
	ck_assert_int_eq(cs_pool_add_dir(&p, "/var/cow", 8, 2, &err), 0);
	ck_assert_int_eq(cs_pool_remove_dir(&p, "/srv/cow", &err), 0);
	ck_assert_uint_eq(p.ndirs, 1);
	ck_assert_str_eq(p.dirs[0].path, "/var/cow");
	ck_assert_int_eq(cs_pool_remove_dir(&p, "/srv/cow", &err), -ENOENT);
	cs_pool_free(&p);
}
END_TEST

/* storage.conf's sizes: cs_size_parse's syntax, in whole MiB, not 0. */
START_TEST(sizes)
{
	static const struct { const char *line; uint64_t sectors; } ok[] = {
		{ "set-size 64M\n", 64 * 2048 }, { "set-size 2GiB\n", 2ULL * 1024 * 2048 },
		{ "set-size 1t\n", 1ULL << 31 }, { "set-size 1048576\n", 2048 },
		{ "set-size 64mb\n", 64 * 2048 }, { "set-size 2048K\n", 2 * 2048 },
	};
	static const char *const bad[] = {
		"set-size 0\n", "set-size 4096\n", "set-size 1000\n", "set-size 1.5G\n",
		"set-size -1M\n", "set-size M\n", "set-size 16E\n",
		"set-size 99999999999999999999\n", "set-size 17179869184T\n",
		"set-size 1M B\n",
	};
	struct cs_pool_conf c;
	struct cs_error err;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ck_assert_msg(parse_conf(ok[i].line, &c, &err) == 0, "%s: %s", ok[i].line,
			      err.message);
		ck_assert_uint_eq(c.set_sectors, ok[i].sectors);
		cs_pool_conf_free(&c);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(parse_conf(bad[i], &c, &err) == -EINVAL, "accepted %s", bad[i]);
		ck_assert_ptr_nonnull(strstr(err.message, "storage.conf:1: "));
	}
}
END_TEST

/* What `snapctl storage add PATH' appends to storage.conf parses back as
 * exactly PATH, and nothing else. */
START_TEST(storage_conf_roundtrip)
{
	static char longest[CS_PATH_MAX + 1];
	const char *const paths[] = {
		"/dev/vdc", "/dev/disk/by-id/wwn-0x5000c500a1b2c3d4-part1",
		"/dev/disk/by-path/pci-0000:00:1f.2-ata-1.0", "/dev/mapper/vg0-cow--snap",
		"/dev/disk/by-partlabel/st\xc3\xb6rage", "/dev/disk/by-label/a\\x20b", longest,
	};
	const size_t n = sizeof(paths) / sizeof(paths[0]);
	char text[16384] = "set-size 64M\n", line[CS_PATH_MAX + 64];
	struct cs_pool_conf c;
	struct cs_error err = { 0 };

	longest[0] = '/';
	memset(longest + 1, 'x', CS_PATH_MAX - 1);
	for (size_t i = 0; i < n; i++) {
		ck_assert_msg(cs_pool_conf_device_line(paths[i], line, sizeof(line), &err) == 0,
			      "%s: %s", paths[i], err.message);
		ck_assert_uint_eq(strlen(line), strlen("device ") + strlen(paths[i]) + 1);
		strcat(text, line);
	}
	ck_assert_msg(parse_conf(text, &c, &err) == 0, "%s", err.message);
	ck_assert_uint_eq(c.ndevices, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_str_eq(c.devices[i], paths[i]);
	ck_assert_uint_eq(c.set_sectors, 64 * 2048);
	ck_assert_uint_eq(c.grow_sectors, 64 * 2048);
	cs_pool_conf_free(&c);
}
END_TEST

/* Paths a storage.conf line cannot hold (it has no quoting) are refused
 * with what to use instead. */
START_TEST(storage_conf_refusals)
{
	static const struct {
		const char *path, *msg;
	} bad[] = {
		{ "/dev/x\nset-size 1T", "`/dev/x' is followed by control character 0x0a" },
		{ "/dev/x\ndevice /dev/sda", "`/dev/x' is followed by control character 0x0a" },
		{ "/dev/my disk", "`/dev/my' is followed by a blank" },
		{ "/dev/my\tdisk", "`/dev/my' is followed by control character 0x09" },
		{ "/dev/sdb#2", "`/dev/sdb' is followed by `#'" },
		{ "/dev/sdb\r", "`/dev/sdb' is followed by control character 0x0d" },
		{ "/dev/sdb\x7f", "`/dev/sdb' is followed by control character 0x7f" },
		{ "dev/sdb", "`dev/sdb' is not an absolute path" },
		{ "", "`' is not an absolute path" },
	};
	char line[CS_PATH_MAX + 64];
	struct cs_error err = { 0 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		strcpy(line, "untouched");
		ck_assert_msg(cs_pool_conf_device_line(bad[i].path, line, sizeof(line), &err) ==
			      -EINVAL, "accepted `%s'", bad[i].path);
		ck_assert_msg(strstr(err.message, bad[i].msg), "`%s': %s", bad[i].path,
			      err.message);
		ck_assert_ptr_nonnull(strstr(err.message, "/dev/disk/by-id/"));
		ck_assert_str_eq(line, "untouched");
	}
}
END_TEST

/* A storage.conf line the loader cannot read as written is an error naming
 * the line, not another device. */
START_TEST(storage_conf_bad_lines)
{
	static const struct {
		const char *text, *msg;
	} lines[] = {
		{ "device /dev/vdc\ndevice /dev/sdb\r\n",
		  "storage.conf:2: device `/dev/sdb' is followed by control character 0x0d" },
		{ "device /dev/s\x01" "db\n",
		  "storage.conf:1: device `/dev/s' is followed by control character 0x01" },
		{ "# x\ndevice /dev/sdb\x7f\n",
		  "storage.conf:2: device `/dev/sdb' is followed by control character 0x7f" },
		{ "device /dev/my disk\n", "storage.conf:1: `device' takes one value" },
	};
	struct cs_pool_conf c;
	struct cs_error err = { 0 };

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		ck_assert_msg(parse_conf(lines[i].text, &c, &err) == -EINVAL, "accepted %s",
			      lines[i].text);
		ck_assert_str_eq(err.message, lines[i].msg);
	}
}
END_TEST

static uint64_t total_free(const struct cs_pool_dev *d)
{
	return d->sectors - cs_pool_dev_used(d);
}

START_TEST(pool_alloc_release)
{
	struct cs_pool p;
	struct cs_error err;
	size_t first;
	uint32_t avoid[1][2] = { { 8, 16 } };

	cs_pool_init(&p);
	ck_assert_int_eq(cs_pool_alloc(&p, 1, 2048, NULL, 0, &first, &err), -ENOSPC);
	ck_assert_ptr_nonnull(strstr(err.message, "no difference storage is configured"));
	/* 10 MiB and a bit: the bit is not usable */
	ck_assert_int_eq(cs_pool_add_dev(&p, "/dev/vdc", 254, 32, 10 * 2048 + 100, &err), 0);
	ck_assert_int_eq(cs_pool_add_dev(&p, "/dev/vdc", 254, 32, 100, &err), -EEXIST);
	ck_assert_int_eq(cs_pool_add_dev(&p, "/dev/tiny", 254, 48, 2047, &err), -EINVAL);
	ck_assert_uint_eq(p.devs[0].sectors, 10 * 2048);

	/* rounded up to 1 MiB */
	ck_assert_int_eq(cs_pool_alloc(&p, 1, 3000, NULL, 0, &first, &err), 0);
	ck_assert_uint_eq(first, 0);
	ck_assert_uint_eq(p.nallocs, 1);
	ck_assert_uint_eq(p.allocs[0].start, 0);
	ck_assert_uint_eq(p.allocs[0].len, 4096);
	ck_assert_int_eq(cs_pool_alloc(&p, 2, 4 * 2048, NULL, 0, &first, &err), 0);
	ck_assert_int_eq(cs_pool_alloc(&p, 3, 2 * 2048, NULL, 0, &first, &err), 0);
	ck_assert_uint_eq(total_free(&p.devs[0]), 2 * 2048);
	ck_assert_int_eq(cs_pool_alloc(&p, 4, 3 * 2048, NULL, 0, &first, &err), -ENOSPC);
	ck_assert_ptr_nonnull(strstr(err.message, "3 MiB wanted, 2 MiB free"));
	ck_assert_uint_eq(p.nallocs, 3);	/* a failure leaves nothing behind */

	/* free the middle set: a hole of 4 MiB, then 2 MiB at the end */
	ck_assert_uint_eq(cs_pool_release(&p, 2), 1);
	ck_assert_uint_eq(p.devs[0].nfree, 2);
	/* 5 MiB only fits in two pieces: the 4 MiB hole first, then the end */
	ck_assert_int_eq(cs_pool_alloc(&p, 5, 5 * 2048, NULL, 0, &first, &err), 0);
	ck_assert_uint_eq(p.nallocs - first, 2);
	ck_assert_uint_eq(p.allocs[first].start, 2 * 2048);
	ck_assert_uint_eq(p.allocs[first].len, 4 * 2048);
	ck_assert_uint_eq(p.allocs[first + 1].len, 2048);
	ck_assert_uint_eq(total_free(&p.devs[0]), 2048);

	/* releasing everything coalesces back to one extent */
	cs_pool_release(&p, 1);
	cs_pool_release(&p, 3);
	cs_pool_release(&p, 5);
	ck_assert_uint_eq(p.nallocs, 0);
	ck_assert_uint_eq(p.devs[0].nfree, 1);
	ck_assert_uint_eq(p.devs[0].free[0].len, 10 * 2048);

	/* a set's own volume is never its storage */
	ck_assert_int_eq(cs_pool_add_dev(&p, "/dev/sdb", 8, 16, 100 * 2048, &err), 0);
	ck_assert_int_eq(cs_pool_alloc(&p, 6, 20 * 2048, (const uint32_t (*)[2])avoid, 1,
				       &first, &err), -ENOSPC);
	ck_assert_int_eq(cs_pool_alloc(&p, 6, 20 * 2048, NULL, 0, &first, &err), 0);
	ck_assert_uint_eq(p.allocs[first].major, 254);	/* first fit: vdc first */
	ck_assert_int_eq(cs_pool_remove_dev(&p, 8, 16, &err), -EBUSY);
	ck_assert_ptr_nonnull(strstr(err.message, "holds storage of set 6"));
	cs_pool_release(&p, 6);
	ck_assert_int_eq(cs_pool_remove_dev(&p, 8, 16, &err), 0);
	ck_assert_uint_eq(p.ndevs, 1);
	cs_pool_free(&p);
}
END_TEST

START_TEST(pool_state)
{
	struct cs_pool p, q;
	struct cs_error err;
	char buf[4096];
	size_t first;
	FILE *f;

	cs_pool_init(&p);
	cs_pool_init(&q);
	ck_assert_int_eq(cs_pool_add_dev(&p, "/dev/vdc", 254, 32, 64 * 2048, &err), 0);
	ck_assert_int_eq(cs_pool_add_dev(&q, "/dev/vdc", 254, 32, 64 * 2048, &err), 0);
	ck_assert_int_eq(cs_pool_alloc(&p, 7, 8 * 2048, NULL, 0, &first, &err), 0);
	ck_assert_int_eq(cs_pool_alloc(&p, 9, 8 * 2048, NULL, 0, &first, &err), 0);
	cs_pool_release(&p, 7);

	f = fmemopen(buf, sizeof(buf), "w");
	ck_assert_int_eq(cs_pool_state_write(&p, f), 0);
	fclose(f);
	ck_assert_str_eq(buf, "9 254:32 16384 16384\n");

	f = fmemopen(buf, strlen(buf), "r");
	ck_assert_int_eq(cs_pool_state_read(&q, f, &err), 0);
	fclose(f);
	ck_assert_uint_eq(q.nallocs, 1);
	ck_assert_uint_eq(cs_pool_dev_used(&q.devs[0]), 8 * 2048);
	/* the same range twice is refused */
	f = fmemopen(buf, strlen(buf), "r");
	ck_assert_int_eq(cs_pool_state_read(&q, f, &err), -EEXIST);
	fclose(f);
	f = fmemopen((void *)"9 254:32 x 1\n", 12, "r");
	ck_assert_int_eq(cs_pool_state_read(&q, f, &err), -EINVAL);
	fclose(f);
	cs_pool_free(&p);
	cs_pool_free(&q);
}
END_TEST

/* A range that runs past the end of its device, or whose end does not fit
 * in 64 bits, is refused and leaves the device's free space as it was (found
 * by fuzz-docs: the end wrapped and corrupted the free list). */
START_TEST(pool_state_bad_ranges)
{
	static const char *const bad[] = {
		"5 8:16 18446744073709551615 2048\n",
		"5 8:16 2048 18446744073709551615\n",
		"5 8:16 2097152 2048\n",
		"5 8:16 2095104 4096\n",
	};
	struct cs_error err;
	struct cs_pool p;
	FILE *f;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cs_pool_init(&p);
		ck_assert_int_eq(cs_pool_add_dev(&p, "/dev/sdb", 8, 16, 1024 * 2048, &err), 0);
		f = fmemopen((void *)bad[i], strlen(bad[i]), "r");
		memset(&err, 0, sizeof(err));
		ck_assert_msg(cs_pool_state_read(&p, f, &err) == -EINVAL, "%s: %s", bad[i],
			      err.message);
		fclose(f);
		ck_assert_msg(strstr(err.message, "line 1 is beyond the end of /dev/sdb"), "%s",
			      err.message);
		ck_assert_uint_eq(p.nallocs, 0);
		ck_assert_uint_eq(p.devs[0].nfree, 1);
		ck_assert_uint_eq(p.devs[0].free[0].start, 0);
		ck_assert_uint_eq(p.devs[0].free[0].len, 1024 * 2048);
		cs_pool_free(&p);
	}
}
END_TEST

static int parse_writer(const char *text, struct cs_writer *w, struct cs_error *err)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	int ret;

	memset(w, 0, sizeof(*w));
	ret = cs_writer_conf_parse(f, "db.conf", w, err);
	fclose(f);
	return ret;
}

/* Socket writer registration and the session's selection of writers and
 * components (pure: no connection is read). */
static const char sel_wmd[] = "{\"proto\":1,\"id\":1,\"op\":\"writer_register\",\"args\":"
	"{\"name\":\"sw1\",\"class_id\":\"0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9\","
	"\"usage\":\"user-data\",\"restore_method\":\"custom\",\"order\":\"system\","
	"\"backup_types\":[\"full\",\"incremental\"],\"components\":["
	"{\"logical_path\":\"db\",\"name\":\"main\",\"selectable\":true},"
	"{\"logical_path\":\"db/main\",\"name\":\"idx\",\"selectable\":true},"
	"{\"logical_path\":\"db\",\"name\":\"log\"}]}}";

static const struct cs_wmd_component *comp(const struct cs_writer *w, const char *name)
{
	for (uint32_t i = 0; i < w->wmd.ncomponents; i++)
		if (!strcmp(w->wmd.components[i].name, name))
			return &w->wmd.components[i];
	ck_abort_msg("no component %s", name);
	return NULL;
}

START_TEST(writer_selection)
{
	struct cowsnapd d = { 0 };
	struct cs_client_conn conn = { .fd = -1 };
	struct cs_request req;
	struct cs_error err = { 0 };
	struct cs_component_ref r[2] = { 0 };
	struct cs_writer *web, *sw1;

	d.writers.w = calloc(1, sizeof(*d.writers.w));
	d.writers.n = 1;
	strcpy(d.writers.w[0].name, "web");
	d.writers.w[0].order = CS_ORDER_FRONT_END;
	d.writers.w[0].hold_stdin = -1;

	ck_assert_int_eq(cs_decode_request(sel_wmd, strlen(sel_wmd), &req, &err), 0);
	ck_assert_int_eq(cs_writers_register(&d, &conn, 42, req.args, &err), 0);
	/* the same name again, and a hook writer's name */
	ck_assert_int_eq(cs_writers_register(&d, &conn, 42, req.args, &err), -EEXIST);
	strcpy(((struct cs_wmd *)req.args)->name, "web");
	ck_assert_int_eq(cs_writers_register(&d, &conn, 42, req.args, &err), -EEXIST);
	ck_assert_ptr_nonnull(strstr(err.message, "configured (hook writer)"));
	strcpy(((struct cs_wmd *)req.args)->name, "bad name");
	ck_assert_int_eq(cs_writers_register(&d, &conn, 42, req.args, &err), -EINVAL);
	cs_request_free(&req);
	ck_assert_uint_eq(d.writers.n, 2);
	/* sorted: front-end before system */
	web = &d.writers.w[0];
	sw1 = &d.writers.w[1];
	ck_assert_str_eq(web->name, "web");
	ck_assert_str_eq(sw1->name, "sw1");
	ck_assert_int_eq(sw1->kind, CS_WRITER_SOCKET);
	ck_assert_uint_eq(sw1->freeze_timeout_ms, 60000);
	ck_assert_uint_eq(sw1->wmd.ncomponents, 3);

	/* nothing named: everyone that supports the type, whole */
	ck_assert_int_eq(cs_writers_select(&d, NULL, 0, 0, false, &err), 2);
	ck_assert(web->selected && sw1->selected && sw1->whole);
	ck_assert(cs_writer_component_selected(sw1, comp(sw1, "log")));
	ck_assert_int_eq(cs_writers_select(&d, NULL, 0, 4 /* log */, false, &err), 1);
	ck_assert(web->selected && !sw1->selected);
	ck_assert_int_eq(cs_writers_select(&d, NULL, 0, 0, true, &err), 0);
	ck_assert(!web->selected && !sw1->selected);

	/* one component: it and what is below it */
	strcpy(r[0].writer, "sw1");
	strcpy(r[0].path, "db/main");
	ck_assert_int_eq(cs_writers_select(&d, r, 1, 2, false, &err), 1);
	ck_assert(!web->selected && sw1->selected && !sw1->whole);
	ck_assert(cs_writer_component_selected(sw1, comp(sw1, "main")));
	ck_assert(cs_writer_component_selected(sw1, comp(sw1, "idx")));
	ck_assert(!cs_writer_component_selected(sw1, comp(sw1, "log")));
	/* two references to one writer count it once */
	strcpy(r[1].writer, "sw1");
	strcpy(r[1].path, "db/main/idx");
	ck_assert_int_eq(cs_writers_select(&d, r, 2, 0, false, &err), 1);

	/* refusals, each saying what */
	strcpy(r[0].path, "db/log");
	ck_assert_int_eq(cs_writers_select(&d, r, 1, 0, false, &err), -EINVAL);
	ck_assert_str_eq(err.message, "component db/log of writer sw1 is not selectable on its "
			 "own; select the writer (`sw1')");
	strcpy(r[0].path, "db/ma");
	ck_assert_int_eq(cs_writers_select(&d, r, 1, 0, false, &err), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err.message, "writer sw1 has no component `db/ma'"));
	strcpy(r[0].path, "");
	ck_assert_int_eq(cs_writers_select(&d, r, 1, 3, false, &err), -EINVAL);
	ck_assert_str_eq(err.message, "writer sw1 does not support differential backups");
	strcpy(r[0].writer, "web");
	strcpy(r[0].path, "x");
	ck_assert_int_eq(cs_writers_select(&d, r, 1, 0, false, &err), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err.message, "hook writers have no components"));
	strcpy(r[0].writer, "nobody");
	ck_assert_int_eq(cs_writers_select(&d, r, 1, 0, false, &err), -ENOENT);
	ck_assert_str_eq(err.message, "there is no writer `nobody'; see `snapctl list writers'");

	/* gone outside a session without a failure: removed */
	cs_writers_conn_gone(&d, &conn);
	ck_assert_uint_eq(d.writers.n, 1);
	ck_assert_str_eq(d.writers.w[0].name, "web");
	cs_writers_free(&d);
}
END_TEST

START_TEST(writer_conf)
{
	struct cs_writer w;
	struct cs_error err;
	unsigned ms;

	ck_assert_int_eq(parse_writer("exec /usr/lib/cowsnap/sqlite # hook\norder front-end\n"
				      "freeze-timeout 5s\nevent-timeout 250ms\n", &w, &err), 0);
	ck_assert_str_eq(w.exec, "/usr/lib/cowsnap/sqlite");
	ck_assert_int_eq(w.order, CS_ORDER_FRONT_END);
	ck_assert_uint_eq(w.freeze_timeout_ms, 5000);
	ck_assert_uint_eq(w.event_timeout_ms, 250);
	ck_assert_int_eq(w.hold_stdin, -1);
	ck_assert_int_eq(parse_writer("exec /bin/true\n", &w, &err), 0);
	ck_assert_int_eq(w.order, CS_ORDER_BACK_END);
	ck_assert_uint_eq(w.freeze_timeout_ms, 60000);
	ck_assert_uint_eq(w.event_timeout_ms, 30000);

	ck_assert_int_eq(parse_writer("order system\n", &w, &err), -EINVAL);
	ck_assert_str_eq(err.message, "db.conf: no `exec PATH' line");
	ck_assert_int_eq(parse_writer("exec bin/x\n", &w, &err), -EINVAL);
	ck_assert_int_eq(parse_writer("exec /x\norder middle\n", &w, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.message, "db.conf:2: order `middle'"));
	ck_assert_int_eq(parse_writer("exec /x\nfreeze-timeout 5x\n", &w, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.message, "invalid duration `5x'"));
	ck_assert_int_eq(parse_writer("exec /x\nfreeze-timeout 25h\n", &w, &err), -EINVAL);
	ck_assert_int_eq(parse_writer("exec /x\nveto always\n", &w, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.message, "unknown setting `veto'"));

	ck_assert_int_eq(cs_parse_duration("2m", &ms), 0);
	ck_assert_uint_eq(ms, 120000);
	ck_assert_int_eq(cs_parse_duration("10", &ms), 0);
	ck_assert_uint_eq(ms, 10000);
	ck_assert_int_eq(cs_parse_duration("0s", &ms), -EINVAL);
	ck_assert_int_eq(cs_parse_duration("s", &ms), -EINVAL);
	ck_assert_int_eq(cs_parse_duration("3 s", &ms), -EINVAL);
	ck_assert_int_eq(cs_parse_duration("1h", &ms), 0);
	ck_assert_uint_eq(ms, 3600000);
	ck_assert_int_eq(cs_parse_duration("1d", &ms), 0);
	ck_assert_int_eq(cs_parse_duration("2d", &ms), -EINVAL);
	/* --max-session's: days, up to its own bound, never wrapping */
	ck_assert_int_eq(cs_parse_duration_max("30d", CS_MAX_SESSION_CAP_MS, &ms), 0);
	ck_assert_uint_eq(ms, 30U * 86400000);
	ck_assert_int_eq(cs_parse_duration_max("31d", CS_MAX_SESSION_CAP_MS, &ms), -EINVAL);
	ck_assert_int_eq(cs_parse_duration_max("721h", CS_MAX_SESSION_CAP_MS, &ms), -EINVAL);
	ck_assert_int_eq(cs_parse_duration_max("18446744073709551617d", CS_MAX_SESSION_CAP_MS,
						&ms), -EINVAL);
	ck_assert_int_eq(cs_parse_duration_max("4294967296ms", CS_MAX_SESSION_CAP_MS, &ms),
			 -EINVAL);
}
END_TEST

/* More hook writers than cowsnapd has room for: the rest are left out at
 * load, as a socket writer past the bound is refused. */
START_TEST(writers_bounded)
{
	char dir[] = "/tmp/test-daemon.XXXXXX", path[128];
	struct cowsnapd d = { .signal_fd = -1, .config_dir = dir };
	struct cs_error err = { 0 };

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/writers.d", dir);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	for (int i = 0; i < CS_MAX_WRITERS + 4; i++) {
		FILE *f;

		snprintf(path, sizeof(path), "%s/writers.d/w%03d.conf", dir, i);
		f = fopen(path, "w");
		ck_assert_ptr_nonnull(f);
		fprintf(f, "exec /bin/true\n");
		ck_assert_int_eq(fclose(f), 0);
	}
	ck_assert_int_eq(cs_writers_load(&d, &err), 0);
	ck_assert_uint_eq(d.writers.n, CS_MAX_WRITERS);
	cs_writers_free(&d);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(path), 0);
}
END_TEST

/*
 * The sets a module could report, ids in a scrambled order: 4096 of them, each
 * with two volumes, about 1.7 MB of JSON, seven times a frame.  skip: ids
 * left out (deleted); every set id is 1 + (i * 2654435761 mod 4096).
 */
static void many_sets(struct cs_set_list_result *r, const bool *skip)
{
	r->sets = calloc(CS_MAX_SETS, sizeof(*r->sets));
	ck_assert_ptr_nonnull(r->sets);
	r->nsets = 0;
	for (uint32_t i = 0; i < CS_MAX_SETS; i++) {
		uint64_t id = 1 + (uint64_t)i * 2654435761u % CS_MAX_SETS;
		struct cs_set *st = &r->sets[r->nsets];

		if (skip && skip[id])
			continue;
		r->nsets++;
		st->id = id;
		st->state = CS_SET_TAKEN;
		st->persistent = true;
		st->created_ns = st->taken_ns = 1700000000000000000ULL + id;
		st->storage_sectors = st->storage_used = 1ULL << 40;
		st->volumes = calloc(2, sizeof(*st->volumes));
		ck_assert_ptr_nonnull(st->volumes);
		st->nvolumes = 2;
		for (int v = 0; v < 2; v++) {
			snprintf(st->volumes[v].origin, sizeof(st->volumes[v].origin),
				 "/dev/mapper/vg%" PRIu64 "-data%d", id, v);
			snprintf(st->volumes[v].image, sizeof(st->volumes[v].image),
				 "/dev/cowsnap%" PRIu64 "-%d", id, v);
			snprintf(st->volumes[v].cbt_generation,
				 sizeof(st->volumes[v].cbt_generation),
				 "7d0c4d38-1f7e-4a52-9d51-3c1b0e1f%04" PRIx64, id);
			st->volumes[v].sectors = 1ULL << 31;
			st->volumes[v].cbt_seq = 1;
		}
	}
}

/*
 * Paging set_list as cowsnapd does for every request: each page fits in a
 * frame and decodes, the pages give every set once, by id, and a set
 * deleted between two pages neither stops the listing nor repeats a set.
 */
START_TEST(list_pages)
{
	static bool seen[CS_MAX_SETS + 1], gone[CS_MAX_SETS + 1];
	struct cs_error err = { 0 };
	uint64_t from = 0, last = 0;
	unsigned pages = 0, total = 0;

	memset(seen, 0, sizeof(seen));
	memset(gone, 0, sizeof(gone));
	do {
		struct cs_set_list_result r = { 0 }, back = { 0 };
		struct cs_buf b = { 0 };
		bool remote;
		uint32_t id;

		many_sets(&r, gone);
		ck_assert_int_eq(cs_reply_page(CS_OP_SET_LIST, &r, from, CS_PAGE_BUDGET, &err), 0);
		ck_assert_msg(cs_encode_reply(&b, 9, CS_OP_SET_LIST, &r, &err) == 0, "page %u: %s",
			      pages, err.message);
		ck_assert_uint_le(b.len - CS_FRAME_HDR, CS_FRAME_MAX);
		ck_assert_int_eq(cs_decode_reply(b.data + CS_FRAME_HDR, b.len - CS_FRAME_HDR,
						 CS_OP_SET_LIST, &id, &back, &remote, &err), 0);
		ck_assert_uint_eq(back.nsets, r.nsets);
		ck_assert_uint_gt(r.nsets, 0);
		for (uint32_t i = 0; i < back.nsets; i++) {
			uint64_t sid = back.sets[i].id;

			ck_assert_uint_gt(sid, last);
			ck_assert_msg(!seen[sid] && !gone[sid], "set %" PRIu64 " twice", sid);
			seen[sid] = true;
			last = sid;
			total++;
		}
		ck_assert_uint_eq(back.next, r.next);
		from = r.next;
		/* between the first pages, a set not listed yet and one listed go */
		if (pages == 0) {
			gone[last + 5] = true;
			gone[1] = true;
		}
		pages++;
		cs_schema_free(cs_ops[CS_OP_SET_LIST].result, &r);
		cs_schema_free(cs_ops[CS_OP_SET_LIST].result, &back);
		cs_buf_free(&b);
	} while (from);
	ck_assert_msg(pages >= 6, "%u pages", pages);
	ck_assert_uint_eq(total, CS_MAX_SETS - 1);	/* all but the one deleted unseen */
	for (uint64_t id = 1; id <= CS_MAX_SETS; id++)
		ck_assert_msg(seen[id] || gone[id], "set %" PRIu64 " never listed", id);
}
END_TEST

/* A page never holds more items than a client decodes (the schema's bound),
 * however small they are, and one item always goes, however large. */
START_TEST(list_page_bounds)
{
	struct cs_writer_list_result r = { 0 };
	struct cs_error err = { 0 };

	r.writers = calloc(CS_MAX_WRITERS + 10, sizeof(*r.writers));
	ck_assert_ptr_nonnull(r.writers);
	r.nwriters = CS_MAX_WRITERS + 10;
	for (uint32_t i = 0; i < r.nwriters; i++)
		snprintf(r.writers[i].name, sizeof(r.writers[i].name), "w%u", i);
	ck_assert_int_eq(cs_reply_page(CS_OP_WRITER_LIST, &r, 0, CS_PAGE_BUDGET, &err), 0);
	ck_assert_uint_eq(r.nwriters, 256);
	ck_assert_uint_eq(r.next, 256);
	ck_assert_str_eq(r.writers[255].name, "w255");
	cs_schema_free(cs_ops[CS_OP_WRITER_LIST].result, &r);

	r.writers = calloc(CS_MAX_WRITERS + 10, sizeof(*r.writers));
	ck_assert_ptr_nonnull(r.writers);
	r.nwriters = CS_MAX_WRITERS + 10;
	for (uint32_t i = 0; i < r.nwriters; i++)
		snprintf(r.writers[i].name, sizeof(r.writers[i].name), "w%u", i);
	ck_assert_int_eq(cs_reply_page(CS_OP_WRITER_LIST, &r, 256, 10, &err), 0);
	ck_assert_uint_eq(r.nwriters, 1);
	ck_assert_str_eq(r.writers[0].name, "w256");
	ck_assert_uint_eq(r.next, 257);
	cs_schema_free(cs_ops[CS_OP_WRITER_LIST].result, &r);
	ck_assert_int_eq(cs_reply_page(CS_OP_SET_SHOW, &r, 0, CS_PAGE_BUDGET, &err), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("daemon");
	TCase *t = tcase_create("peer");
	SRunner *sr;
	int failed;

	tcase_add_test(t, peer_root_only);
	tcase_add_test(t, peer_group);
	tcase_add_test(t, peer_ops);
	tcase_add_test(t, set_owners);
	tcase_add_test(t, peer_admit);
	tcase_add_test(t, ratelimit);
	suite_add_tcase(s, t);
	t = tcase_create("mountinfo");
	tcase_add_test(t, mountinfo_parse_line);
	tcase_add_test(t, mountinfo_longest_prefix);
	tcase_add_test(t, mountinfo_by_dev);
	tcase_add_test(t, path_under);
	suite_add_tcase(s, t);
	t = tcase_create("storage");
	tcase_add_test(t, sizes);
	tcase_add_test(t, pool_conf);
	tcase_add_test(t, pool_directory_line);
	tcase_add_test(t, storage_conf_roundtrip);
	tcase_add_test(t, storage_conf_refusals);
	tcase_add_test(t, storage_conf_bad_lines);
	tcase_add_test(t, pool_alloc_release);
	tcase_add_test(t, pool_state);
	tcase_add_test(t, pool_state_bad_ranges);
	tcase_add_test(t, writer_conf);
	tcase_add_test(t, writer_selection);
	suite_add_tcase(s, t);
	t = tcase_create("replies");
	tcase_set_timeout(t, 60);
	tcase_add_test(t, list_pages);
	tcase_add_test(t, list_page_bounds);
	tcase_add_test(t, writers_bounded);
	suite_add_tcase(s, t);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
