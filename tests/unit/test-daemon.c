// SPDX-License-Identifier: GPL-2.0-or-later
/* Check tests of the daemon's pure logic: peer policy, mountinfo. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <check.h>

#include "mountinfo.h"
#include "peer.h"

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
	struct cs_mount m;

	ck_assert_int_eq(cs_mountinfo_parse(line, &m), 0);
	ck_assert_uint_eq(m.major, 98);
	ck_assert_uint_eq(m.minor, 0);
	ck_assert_str_eq(m.root, "/mnt1");
	ck_assert_str_eq(m.mountpoint, "/mnt/parent");
	ck_assert_str_eq(m.fstype, "ext3");
	ck_assert_str_eq(m.source, "/dev/root");
	ck_assert_int_eq(cs_mountinfo_parse(bad1, &m), -EINVAL);
	ck_assert_int_eq(cs_mountinfo_parse(bad2, &m), -EINVAL);
	ck_assert_int_eq(cs_mountinfo_parse(bad3, &m), -EINVAL);
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

int main(void)
{
	Suite *s = suite_create("daemon");
	TCase *t = tcase_create("peer");
	SRunner *sr;
	int failed;

	tcase_add_test(t, peer_root_only);
	tcase_add_test(t, peer_group);
	suite_add_tcase(s, t);
	t = tcase_create("mountinfo");
	tcase_add_test(t, mountinfo_parse_line);
	tcase_add_test(t, mountinfo_longest_prefix);
	tcase_add_test(t, mountinfo_by_dev);
	tcase_add_test(t, path_under);
	suite_add_tcase(s, t);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
