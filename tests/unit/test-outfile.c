// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Check tests of the files snapread creates beside an image, in a directory
 * others may write (tools/read/outfile.c, meta.c): OUTPUT.partial and
 * IMAGE.cowsnap-meta.tmp are never written through a symlink, a hard link
 * or a file someone else put there, and IMAGE.cowsnap-meta is not read
 * through a symlink nor when someone else than IMAGE's owner put it there;
 * a leftover of an interrupted run is replaced; normal
 * use works.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>

#include "meta.h"
#include "outfile.h"

static char dir[64];
static char victim[PATH_MAX], partial[PATH_MAX], image[PATH_MAX];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/var/tmp/test-outfile.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	snprintf(image, sizeof(image), "%s/out.img", dir);
	snprintf(partial, sizeof(partial), "%s/out.img.partial", dir);
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		fprintf(stderr, "test-outfile: could not remove %s\n", dir);
}

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* The whole (short) content of path, or "(none)". */
static const char *get(const char *path)
{
	static char buf[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return "(none)";
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
	return buf;
}

static bool is_symlink(const char *path)
{
	struct stat st;

	return !lstat(path, &st) && S_ISLNK(st.st_mode);
}

START_TEST(partial_created_0600)
{
	char why[PATH_MAX + 128] = "";
	struct stat st;
	int fd;

	fd = outfile_create(partial, why, sizeof(why));
	ck_assert_msg(fd >= 0, "%s", why);
	ck_assert_int_eq(write(fd, "image", 5), 5);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(close(fd), 0);
	ck_assert_str_eq(get(partial), "image");
}
END_TEST

START_TEST(partial_symlink_refused)
{
	char why[PATH_MAX + 128] = "";
	int fd;

	put(victim, "victim data\n");
	ck_assert_int_eq(symlink(victim, partial), 0);
	fd = outfile_create(partial, why, sizeof(why));
	if (fd >= 0)
		ck_assert_int_eq(write(fd, "IMAGE", 5), 5);
	ck_assert_str_eq(get(victim), "victim data\n");
	ck_assert_int_lt(fd, 0);
	ck_assert_msg(strstr(why, partial) && strstr(why, "symbolic link") &&
		      strstr(why, "remove it"), "message: %s", why);
	ck_assert(is_symlink(partial));		/* left for its owner to look at */
}
END_TEST

/* A link to a file that does not exist yet must not create it. */
START_TEST(partial_dangling_symlink_refused)
{
	char why[PATH_MAX + 128] = "";
	int fd;

	ck_assert_int_eq(symlink(victim, partial), 0);
	fd = outfile_create(partial, why, sizeof(why));
	ck_assert_int_lt(fd, 0);
	ck_assert_int_eq(access(victim, F_OK), -1);
	ck_assert_msg(strstr(why, "symbolic link"), "message: %s", why);
}
END_TEST

/* A second name of someone's file: truncating it would clobber the file. */
START_TEST(partial_hard_link_refused)
{
	char why[PATH_MAX + 128] = "";
	int fd;

	put(victim, "victim data\n");
	ck_assert_int_eq(chmod(victim, 0600), 0);
	ck_assert_int_eq(link(victim, partial), 0);
	fd = outfile_create(partial, why, sizeof(why));
	if (fd >= 0)
		ck_assert_int_eq(write(fd, "IMAGE", 5), 5);
	ck_assert_str_eq(get(victim), "victim data\n");
	ck_assert_int_lt(fd, 0);
	ck_assert_msg(strstr(why, "2 links") && strstr(why, "remove it"), "message: %s", why);
}
END_TEST

START_TEST(partial_foreign_refused)
{
	char why[PATH_MAX + 128] = "";
	int fd;

	if (geteuid()) {
		fprintf(stderr, "partial_foreign_refused: not root, cannot give a file away\n");
		return;
	}
	put(partial, "someone's file\n");
	ck_assert_int_eq(chown(partial, 65534, 65534), 0);
	fd = outfile_create(partial, why, sizeof(why));
	if (fd >= 0)
		ck_assert_int_eq(write(fd, "IMAGE", 5), 5);
	ck_assert_str_eq(get(partial), "someone's file\n");
	ck_assert_int_lt(fd, 0);
	ck_assert_msg(strstr(why, "owned by uid 65534") && strstr(why, "remove it"),
		      "message: %s", why);
}
END_TEST

/* A FIFO (opening it for writing would block) or a directory. */
START_TEST(partial_not_regular_refused)
{
	char why[PATH_MAX + 128] = "";
	int fd;

	ck_assert_int_eq(mkfifo(partial, 0600), 0);
	fd = outfile_create(partial, why, sizeof(why));
	ck_assert_int_lt(fd, 0);
	ck_assert_msg(strstr(why, "not a regular file") && strstr(why, "remove it"),
		      "message: %s", why);
	ck_assert_int_eq(unlink(partial), 0);
	ck_assert_int_eq(mkdir(partial, 0700), 0);
	fd = outfile_create(partial, why, sizeof(why));
	ck_assert_int_lt(fd, 0);
	ck_assert_msg(strstr(why, "not a regular file"), "message: %s", why);
}
END_TEST

/* What a snapread killed mid-copy leaves: replaced by a new, empty file. */
START_TEST(partial_leftover_replaced)
{
	char why[PATH_MAX + 128] = "";
	struct stat old, st;
	int fd;

	put(partial, "half an image");
	ck_assert_int_eq(chmod(partial, 0600), 0);
	ck_assert_int_eq(stat(partial, &old), 0);
	fd = outfile_create(partial, why, sizeof(why));
	ck_assert_msg(fd >= 0, "%s", why);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	close(fd);
	ck_assert_str_eq(get(partial), "");
}
END_TEST

/* Two snapreads to one OUTPUT: the second does not remove the first's. */
START_TEST(partial_in_use_refused)
{
	char why[PATH_MAX + 128] = "";
	int fd, fd2;

	fd = outfile_create(partial, why, sizeof(why));
	ck_assert_msg(fd >= 0, "%s", why);
	ck_assert_int_eq(write(fd, "first", 5), 5);
	fd2 = outfile_create(partial, why, sizeof(why));
	ck_assert_int_lt(fd2, 0);
	ck_assert_msg(strstr(why, "another snapread"), "message: %s", why);
	ck_assert_str_eq(get(partial), "first");
	close(fd);
	/* once the first is gone, its file is a leftover */
	fd2 = outfile_create(partial, why, sizeof(why));
	ck_assert_msg(fd2 >= 0, "%s", why);
	close(fd2);
}
END_TEST

static void meta_fill(struct image_meta *m)
{
	memset(m, 0, sizeof(*m));
	strcpy(m->origin, "/dev/vdb");
	m->major = 254;
	m->minor = 16;
	strcpy(m->generation, "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9");
	m->cbt_seq = 3;
	m->set_id = 7;
	m->chunk_sectors = 128;
	m->size = 5;
	strcpy(m->checksum, "xxh64:0123456789abcdef");
	m->complete = true;
}

START_TEST(meta_write_read)
{
	char why[PATH_MAX + 128] = "", path[PATH_MAX];
	struct image_meta m, r;
	struct stat st;

	put(image, "image");
	meta_fill(&m);
	ck_assert_msg(!meta_write(image, &m, why, sizeof(why)), "%s", why);
	ck_assert_msg(!meta_read(image, &r, why, sizeof(why)), "%s", why);
	ck_assert_str_eq(r.generation, m.generation);
	ck_assert_uint_eq(r.cbt_seq, 3);
	ck_assert(r.complete);
	ck_assert_int_eq(meta_path(image, path, sizeof(path)), 0);
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	/* and again over the first: the leftover-free path */
	ck_assert_msg(!meta_write(image, &m, why, sizeof(why)), "%s", why);
}
END_TEST

START_TEST(meta_tmp_symlink_refused)
{
	char why[PATH_MAX + 128] = "", tmp[PATH_MAX + 16], path[PATH_MAX];
	struct image_meta m;

	put(image, "image");
	put(victim, "victim data\n");
	ck_assert_int_eq(meta_path(image, path, sizeof(path)), 0);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	ck_assert_int_eq(symlink(victim, tmp), 0);
	meta_fill(&m);
	ck_assert_int_ne(meta_write(image, &m, why, sizeof(why)), 0);
	ck_assert_str_eq(get(victim), "victim data\n");
	ck_assert_msg(strstr(why, tmp) && strstr(why, "symbolic link"), "message: %s", why);
	ck_assert_int_eq(access(path, F_OK), -1);
}
END_TEST

/* IMAGE.cowsnap-meta planted as a link to metadata of another image. */
START_TEST(meta_read_symlink_refused)
{
	char why[PATH_MAX + 128] = "", path[PATH_MAX], other[PATH_MAX];
	struct image_meta m, r;

	snprintf(other, sizeof(other), "%s/other.img", dir);
	put(other, "image");
	put(image, "image");
	meta_fill(&m);
	ck_assert_msg(!meta_write(other, &m, why, sizeof(why)), "%s", why);
	ck_assert_int_eq(meta_path(image, path, sizeof(path)), 0);
	snprintf(other, sizeof(other), "%s/other.img.cowsnap-meta", dir);
	ck_assert_int_eq(symlink(other, path), 0);
	ck_assert_int_ne(meta_read(image, &r, why, sizeof(why)), 0);
	ck_assert_msg(strstr(why, path) && strstr(why, "symbolic link"), "message: %s", why);
}
END_TEST

/* IMAGE.cowsnap-meta put there by someone else than IMAGE's owner. */
START_TEST(meta_read_foreign_refused)
{
	char why[PATH_MAX + 128] = "", path[PATH_MAX];
	struct image_meta m, r;

	if (geteuid()) {
		fprintf(stderr, "meta_read_foreign_refused: not root, cannot give a file away\n");
		return;
	}
	put(image, "image");
	meta_fill(&m);
	ck_assert_msg(!meta_write(image, &m, why, sizeof(why)), "%s", why);
	ck_assert_int_eq(meta_path(image, path, sizeof(path)), 0);
	ck_assert_int_eq(chown(path, 65534, 65534), 0);
	ck_assert_int_ne(meta_read(image, &r, why, sizeof(why)), 0);
	ck_assert_msg(strstr(why, path) && strstr(why, "uid 65534"), "message: %s", why);
	/* the image given away with it: its metadata again */
	ck_assert_int_eq(chown(image, 65534, 65534), 0);
	ck_assert_msg(!meta_read(image, &r, why, sizeof(why)), "%s", why);
}
END_TEST

/* meta_parse on its own: each key once, and what meta_print writes reads
 * back as it was (found by fuzz-docs: a key given twice was taken, the last
 * one winning; "checksum none" read as the checksum "none"). */
START_TEST(meta_parse_refusals)
{
	static const char good[] = "format 1\norigin /dev/vdb\norigin_dev 254:16\n"
		"generation 0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9\ncbt_seq 3\nset_id 7\n"
		"chunk_sectors 128\nsize 5\nchecksum none\nimage_size 2560\nimage_ino 131\n"
		"image_mtime_ns 17\ncomplete 1\n";
	static const struct {
		const char *extra, *why;
	} bad[] = {
		{ "origin /dev/vdc\n", "line 14: `origin' given twice" },
		{ "size 5\n", "line 14: `size' given twice" },
		{ "format 1\n", "line 14: `format' given twice" },
		{ "colour blue\n", "line 14: not understood: `colour blue'" },
	};
	char text[1024], why[512];
	struct image_meta m;
	FILE *f;
	int ret;

	f = fmemopen((void *)good, strlen(good), "r");
	ck_assert_msg(meta_parse(f, "i.cowsnap-meta", &m, why, sizeof(why)) == 0, "%s", why);
	fclose(f);
	ck_assert_str_eq(m.origin, "/dev/vdb");
	ck_assert_uint_eq(m.image_mtime_ns, 17);
	/* meta_print writes "none" for no checksum: the same read back */
	ck_assert_str_eq(m.checksum, "");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "%s%s", good, bad[i].extra);
		f = fmemopen(text, strlen(text), "r");
		why[0] = '\0';
		ret = meta_parse(f, "i.cowsnap-meta", &m, why, sizeof(why));
		fclose(f);
		ck_assert_int_eq(ret, -EINVAL);
		ck_assert_msg(strstr(why, bad[i].why), "`%s' lacks `%s'", why, bad[i].why);
	}
}
END_TEST

static Suite *outfile_suite(void)
{
	Suite *s = suite_create("outfile");
	TCase *tc = tcase_create("partial");

	tcase_add_checked_fixture(tc, setup, teardown);
	/* a FIFO opened for writing blocks: the timeout catches it */
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, partial_created_0600);
	tcase_add_test(tc, partial_symlink_refused);
	tcase_add_test(tc, partial_dangling_symlink_refused);
	tcase_add_test(tc, partial_hard_link_refused);
	tcase_add_test(tc, partial_foreign_refused);
	tcase_add_test(tc, partial_not_regular_refused);
	tcase_add_test(tc, partial_leftover_replaced);
	tcase_add_test(tc, partial_in_use_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("meta");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, meta_write_read);
	tcase_add_test(tc, meta_tmp_symlink_refused);
	tcase_add_test(tc, meta_read_symlink_refused);
	tcase_add_test(tc, meta_read_foreign_refused);
	tcase_add_test(tc, meta_parse_refusals);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(outfile_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
