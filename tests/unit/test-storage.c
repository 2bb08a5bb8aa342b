// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Check tests of difference storage without configuration (issue 12): the
 * sizes a set gets when storage.conf sets none (daemon/pool.c), max-percent
 * and what a filesystem keeps free, and the real cowsnapd on the host
 * (--no-module) listing its default directory (--default-storage) while it
 * holds storage files, beside the directories storage.conf names.  RAM
 * storage (`ram SIZE', `snapctl storage add ram:SIZE'): its size, the
 * memory limit, the state file's line, and cowsnapd's refusals, each
 * before any zram device is made (the guest test 0244 makes them).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <linux/magic.h>

#include "cowsnap.h"
#include "live-daemon.h"
#include "pool.h"

#ifndef COWSNAPD_BIN
#define COWSNAPD_BIN "../../daemon/cowsnapd"
#endif

#define MIB	2048ULL		/* sectors */

static int parse_conf(const char *text, struct cs_pool_conf *c, struct cs_error *err)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	int ret = cs_pool_conf_parse(f, "storage.conf", c, err);

	fclose(f);
	return ret;
}

/* 10% of the volumes, 16 MiB to 256 MiB, whole MiB */
START_TEST(auto_size)
{
	static const struct {
		uint64_t vol, want;
	} cases[] = {
		{ 0, 16 * MIB },
		{ 128 * MIB, 16 * MIB },		/* 12.8 MiB: the floor */
		{ 160 * MIB, 16 * MIB },
		{ 170 * MIB, 17 * MIB },
		{ 1024 * MIB, 103 * MIB },		/* 102.4: rounded up */
		{ 2560 * MIB, 256 * MIB },
		{ 100 * 1024 * MIB, 256 * MIB },	/* the ceiling */
		{ UINT64_MAX / 4, 256 * MIB },		/* no overflow */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_msg(cs_pool_auto_sectors(cases[i].vol) == cases[i].want,
			      "volumes of %llu sectors: %llu sectors, want %llu",
			      (unsigned long long)cases[i].vol,
			      (unsigned long long)cs_pool_auto_sectors(cases[i].vol),
			      (unsigned long long)cases[i].want);
}
END_TEST

/* set-size and grow-size, each given or not */
START_TEST(sizes_from_conf)
{
	struct cs_pool_conf c;
	struct cs_error err;
	struct cs_pool p;

	cs_pool_init(&p);
	ck_assert(p.set_auto && p.grow_auto);
	ck_assert_uint_eq(p.max_percent, CS_POOL_MAX_PERCENT);
	ck_assert_uint_eq(cs_pool_first_sectors(&p, 128 * MIB), 16 * MIB);
	ck_assert_uint_eq(cs_pool_grow_sectors(&p, 4096 * MIB), 256 * MIB);

	ck_assert_int_eq(parse_conf("", &c, &err), 0);
	ck_assert(c.set_auto && c.grow_auto);
	ck_assert_uint_eq(c.max_percent, 20);
	cs_pool_conf_free(&c);

	/* set-size alone: growth by as much */
	ck_assert_int_eq(parse_conf("set-size 8M\n", &c, &err), 0);
	ck_assert(!c.set_auto && !c.grow_auto);
	ck_assert_uint_eq(c.grow_sectors, 8 * MIB);
	p.set_auto = c.set_auto;
	p.grow_auto = c.grow_auto;
	p.set_sectors = c.set_sectors;
	p.grow_sectors = c.grow_sectors;
	ck_assert_uint_eq(cs_pool_first_sectors(&p, 4096 * MIB), 8 * MIB);
	ck_assert_uint_eq(cs_pool_grow_sectors(&p, 4096 * MIB), 8 * MIB);
	cs_pool_conf_free(&c);

	/* grow-size alone: the first by the volumes, growth fixed */
	ck_assert_int_eq(parse_conf("grow-size 4M\n", &c, &err), 0);
	ck_assert(c.set_auto && !c.grow_auto);
	ck_assert_uint_eq(c.grow_sectors, 4 * MIB);
	cs_pool_conf_free(&c);
}
END_TEST

START_TEST(max_percent_setting)
{
	static const char *const bad[] = {
		"max-percent 0\n", "max-percent 91\n", "max-percent 20%\n", "max-percent -5\n",
		"max-percent\n", "max-percent 1.5\n", "max-percent 99999999999999999999\n",
	};
	struct cs_pool_conf c;
	struct cs_error err;

	ck_assert_int_eq(parse_conf("# a tenth\nmax-percent 10\n", &c, &err), 0);
	ck_assert_uint_eq(c.max_percent, 10);
	cs_pool_conf_free(&c);
	ck_assert_int_eq(parse_conf("max-percent 1\nmax-percent 90\n", &c, &err), 0);
	ck_assert_uint_eq(c.max_percent, 90);
	cs_pool_conf_free(&c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(parse_conf(bad[i], &c, &err) == -EINVAL, "accepted %s", bad[i]);
		ck_assert_msg(!strncmp(err.message, "storage.conf:1: ", 16), "%s", err.message);
	}
	ck_assert_int_eq(parse_conf("max-percent 95\n", &c, &err), -EINVAL);
	ck_assert_str_eq(err.message, "storage.conf:1: invalid max-percent `95' (a whole number "
			 "from 1 to 90)");
}
END_TEST

/* what storage files may take: the lesser of what keeps 5% free and what
 * keeps them all within max-percent */
START_TEST(file_room)
{
	bool ceiling;

	/* 1000 MiB, all free, none taken: 20% = 200 MiB */
	ck_assert_uint_eq(cs_pool_file_room(1000 * MIB, 1000 * MIB, 0, 20, &ceiling),
			  200 * MIB);
	ck_assert(ceiling);
	/* 150 MiB taken by storage files already: 50 MiB more */
	ck_assert_uint_eq(cs_pool_file_room(1000 * MIB, 850 * MIB, 150 * MIB, 20, &ceiling),
			  50 * MIB);
	ck_assert(ceiling);
	/* a full filesystem: 60 MiB free, 50 kept free: 10 MiB */
	ck_assert_uint_eq(cs_pool_file_room(1000 * MIB, 60 * MIB, 0, 20, &ceiling), 10 * MIB);
	ck_assert(!ceiling);
	/* past the ceiling, or less free than kept free: nothing */
	ck_assert_uint_eq(cs_pool_file_room(1000 * MIB, 900 * MIB, 300 * MIB, 20, NULL), 0);
	ck_assert_uint_eq(cs_pool_file_room(1000 * MIB, 40 * MIB, 0, 90, NULL), 0);
	/* whole MiB */
	ck_assert_uint_eq(cs_pool_file_room(1000 * MIB, 1000 * MIB, 100, 20, NULL),
			  199 * MIB);
	/* a 128 MiB volume holding its own set's first 16 MiB: 20% is 25.6 MiB */
	ck_assert_uint_ge(cs_pool_file_room(128 * MIB, 120 * MIB, 0, 20, NULL),
			  cs_pool_auto_sectors(128 * MIB));
}
END_TEST

/* ram SIZE: whole MiB, at least a set's least; refusals quote it */
START_TEST(ram_size)
{
	struct cs_error err;
	uint64_t b = 0;

	ck_assert_int_eq(cs_pool_ram_size("64M", &b, &err), 0);
	ck_assert_uint_eq(b, 64ULL << 20);
	ck_assert_int_eq(cs_pool_ram_size("16M", &b, &err), 0);
	ck_assert_uint_eq(b, 16ULL << 20);
	ck_assert_int_eq(cs_pool_ram_size("2GiB", &b, &err), 0);
	ck_assert_uint_eq(b, 2ULL << 30);

	ck_assert_int_eq(cs_pool_ram_size("1K", &b, &err), -EINVAL);
	ck_assert_str_eq(err.message, "RAM storage of 1K is too small: a set needs at least "
			 "16M; give ram:16M or more");
	ck_assert_int_eq(cs_pool_ram_size("15M", &b, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.message, "too small"));
	ck_assert_int_eq(cs_pool_ram_size("0", &b, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.message, "too small"));
	ck_assert_int_eq(cs_pool_ram_size("12k3", &b, &err), -EINVAL);
	ck_assert_str_eq(err.message, "invalid RAM storage size `12k3' (a whole number of "
			 "MiB: 64M, 512M, 2G)");
	ck_assert_int_eq(cs_pool_ram_size("16385K", &b, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.message, "invalid RAM storage size `16385K'"));
	ck_assert_int_eq(cs_pool_ram_size("", &b, &err), -EINVAL);
	ck_assert_int_eq(cs_pool_ram_size("-64M", &b, &err), -EINVAL);
	ck_assert_int_eq(cs_pool_ram_size("99999999999999999999M", &b, &err), -EINVAL);
}
END_TEST

/* at most half the host's memory; the refusal says how much may be had */
START_TEST(ram_fits)
{
	struct cs_error err;

	ck_assert_int_eq(cs_pool_ram_fits(4ULL << 30, 8ULL << 30, &err), 0);
	ck_assert_int_eq(cs_pool_ram_fits(4097ULL << 20, 8ULL << 30, &err), -ERANGE);
	ck_assert_str_eq(err.message, "RAM storage of 4097M is more than 1/2 of this host's "
			 "memory (8192 MiB), which the system needs: give at most ram:4096M, "
			 "or use a device or a directory (snapctl storage add "
			 "DEVICE|DIRECTORY)");
	/* MemTotal is a little less than the RAM: rounded down to MiB */
	ck_assert_int_eq(cs_pool_ram_fits(1000ULL << 20, (2001ULL << 20) - 1, &err), 0);
	ck_assert_int_eq(cs_pool_ram_fits(1001ULL << 20, (2001ULL << 20) - 1, &err), -ERANGE);
	ck_assert_int_eq(cs_pool_ram_fits(16ULL << 20, 24ULL << 20, &err), -ERANGE);
	ck_assert_ptr_nonnull(strstr(err.message, "this host has too little for any"));
}
END_TEST

/* storage.conf's `ram SIZE': once, its size checked */
START_TEST(ram_conf)
{
	struct cs_pool_conf c;
	struct cs_error err;

	ck_assert_int_eq(parse_conf("", &c, &err), 0);
	ck_assert_uint_eq(c.ram_bytes, 0);
	cs_pool_conf_free(&c);
	ck_assert_int_eq(parse_conf("# spare memory\nram 64M\nset-size 16M\n", &c, &err), 0);
	ck_assert_uint_eq(c.ram_bytes, 64ULL << 20);
	cs_pool_conf_free(&c);
	ck_assert_int_eq(parse_conf("ram   1G   # a comment\n", &c, &err), 0);
	ck_assert_uint_eq(c.ram_bytes, 1ULL << 30);
	cs_pool_conf_free(&c);

	ck_assert_int_eq(parse_conf("ram 64M\nram 32M\n", &c, &err), -EINVAL);
	ck_assert_str_eq(err.message, "storage.conf:2: a second `ram' line (RAM storage is one "
			 "device: give its size once)");
	ck_assert_int_eq(parse_conf("ram 1K\n", &c, &err), -EINVAL);
	ck_assert_str_eq(err.message, "storage.conf:1: RAM storage of 1K is too small: a set "
			 "needs at least 16M; give ram:16M or more");
	ck_assert_int_eq(parse_conf("ram\n", &c, &err), -EINVAL);
	ck_assert_int_eq(parse_conf("ram lots\n", &c, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.message, "invalid RAM storage size `lots'"));
}
END_TEST

/* the state file names the zram device cowsnapd made, before the ranges */
START_TEST(ram_state)
{
	struct cs_pool p, q;
	struct cs_error err;
	char *buf = NULL;
	size_t len = 0, first;
	uint64_t bytes = 0;
	int index = -1;
	FILE *f;

	cs_pool_init(&p);
	ck_assert_int_eq(p.ram_index, -1);
	ck_assert_int_eq(cs_pool_add_dev(&p, "/dev/zram3", 252, 3, 64 * MIB, &err), 0);
	p.devs[0].ram = true;
	p.ram_index = 3;
	p.ram_bytes = 64ULL << 20;
	ck_assert_int_eq(cs_pool_alloc(&p, 9, 16 * MIB, NULL, 0, &first, &err), 0);
	f = open_memstream(&buf, &len);
	ck_assert_int_eq(cs_pool_state_write(&p, f), 0);
	fclose(f);
	ck_assert_str_eq(buf, "ram 3 67108864\n9 252:3 0 32768\n");

	f = fmemopen(buf, len, "r");
	ck_assert_int_eq(cs_pool_state_ram(f, &index, &bytes), 0);
	ck_assert_int_eq(index, 3);
	ck_assert_uint_eq(bytes, 64ULL << 20);
	rewind(f);
	cs_pool_init(&q);
	ck_assert_int_eq(cs_pool_add_dev(&q, "/dev/zram3", 252, 3, 64 * MIB, &err), 0);
	ck_assert_int_eq(cs_pool_state_read(&q, f, &err), 0);
	fclose(f);
	ck_assert_uint_eq(q.nallocs, 1);
	ck_assert_uint_eq(cs_pool_dev_used(&q.devs[0]), 16 * MIB);
	free(buf);

	/* none: no ram line, and none read */
	p.ram_index = -1;
	buf = NULL;
	f = open_memstream(&buf, &len);
	ck_assert_int_eq(cs_pool_state_write(&p, f), 0);
	fclose(f);
	ck_assert_str_eq(buf, "9 252:3 0 32768\n");
	f = fmemopen(buf, len, "r");
	ck_assert_int_eq(cs_pool_state_ram(f, &index, &bytes), -ENOENT);
	fclose(f);
	free(buf);
	cs_pool_free(&p);
	cs_pool_free(&q);
}
END_TEST

/* ---- the real cowsnapd, --no-module ---- */

static struct live_daemon ld;
static char droot[64];		/* the test's directories */
static char ddir[128];		/* --default-storage */

static bool fit_for_files(const char *path)
{
	struct statfs sf;

	return !geteuid() && !statfs(path, &sf) &&
	       (sf.f_type == EXT4_SUPER_MAGIC || sf.f_type == XFS_SUPER_MAGIC);
}

static void write_file(const char *path, const char *text, size_t bytes)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	for (size_t i = strlen(text); i < bytes; i++)
		fputc(0, f);
	ck_assert_int_eq(fclose(f), 0);
}

static void start(const char *dflt)
{
	const char *const opts[] = { "--default-storage", dflt, NULL };
	char why[256];

	ck_assert_msg(live_daemon_start(&ld, "test-storage", live_daemon_bin(COWSNAPD_BIN), NULL,
					opts, why, sizeof(why)) == 0, "%s", why);
}

static void stop_and_clean(void)
{
	char cmd[128];

	live_daemon_remove(&ld);
	if (droot[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", droot);
		if (system(cmd))
			fprintf(stderr, "test-storage: could not remove %s\n", droot);
		droot[0] = '\0';
	}
}

static void list(struct cs_storage_list_result *r)
{
	struct cs_client *c;
	struct cs_error err;

	memset(r, 0, sizeof(*r));
	ck_assert_msg(cs_client_open(ld.sock, &c, &err) == 0, "%s", err.message);
	ck_assert_msg(cs_call(c, CS_OP_STORAGE_LIST, &(struct cs_empty){ 0 }, r, &err) == 0,
		      "%s", err.message);
	cs_client_close(c);
}

static const struct cs_storage_dev *row(const struct cs_storage_list_result *r,
					const char *path)
{
	for (uint32_t i = 0; i < r->ndevices; i++)
		if (!strcmp(r->devices[i].device, path))
			return &r->devices[i];
	return NULL;
}

/* up to 5 s for cowsnapd's log to hold what */
static void wait_log(const char *what)
{
	for (int i = 0; i < 250; i++) {
		if (live_daemon_log_has(&ld, what))
			return;
		usleep(20000);
	}
	ck_abort_msg("no `%s' in %s", what, ld.log);
}

/* With nothing configured: the default directory is named, and listed
 * while it holds storage files; configured storage takes over. */
START_TEST(default_directory_listed)
{
	struct cs_storage_list_result r;
	const struct cs_storage_dev *s;
	char path[256], conf[256], cfgdir[160];

	snprintf(droot, sizeof(droot), "/tmp/test-storage.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(droot));
	if (!fit_for_files(droot)) {
		fprintf(stderr, "test-storage: %s is not root's ext4 or xfs: default "
			"directory not checked\n", droot);
		return;
	}
	snprintf(ddir, sizeof(ddir), "%s/lib/storage", droot);
	start(ddir);

	/* nothing there yet: named, not listed */
	list(&r);
	ck_assert_str_eq(r.default_directory, ddir);
	ck_assert(r.set_auto && r.grow_auto);
	ck_assert_uint_eq(r.max_percent, 20);
	ck_assert_ptr_null(row(&r, ddir));
	cs_result_free(CS_OP_STORAGE_LIST, &r);

	/* a set's storage file there (as cowsnapd makes it, but writable) */
	snprintf(path, sizeof(path), "%s/lib", droot);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	ck_assert_int_eq(mkdir(ddir, 0700), 0);
	snprintf(path, sizeof(path), "%s/cowsnap-5-0.store", ddir);
	write_file(path, "", 1 << 20);
	snprintf(path, sizeof(path), "%s/not-ours", ddir);
	write_file(path, "x", 4096);
	list(&r);
	s = row(&r, ddir);
	ck_assert_ptr_nonnull(s);
	ck_assert(s->is_default);
	ck_assert_int_eq(s->kind, CS_STORAGE_DIRECTORY);
	ck_assert_uint_eq(s->used, 2048);
	ck_assert_uint_ge(s->sectors, s->used);
	cs_result_free(CS_OP_STORAGE_LIST, &r);

	/* storage.conf names a directory and sizes: the default is no longer
	 * where sets go, but is listed while it holds a file */
	snprintf(cfgdir, sizeof(cfgdir), "%s/cfg", droot);
	ck_assert_int_eq(mkdir(cfgdir, 0700), 0);
	snprintf(conf, sizeof(conf), "%s/conf/storage.conf", ld.dir);
	snprintf(path, sizeof(path), "directory %s\nset-size 32M\nmax-percent 30\n", cfgdir);
	write_file(conf, path, 0);
	ck_assert_int_eq(kill(ld.pid, SIGHUP), 0);
	wait_log("difference storage reloaded");
	list(&r);
	ck_assert_str_eq(r.default_directory, "");
	ck_assert(!r.set_auto && !r.grow_auto);
	ck_assert_uint_eq(r.set_sectors, 32 * MIB);
	ck_assert_uint_eq(r.max_percent, 30);
	ck_assert_ptr_nonnull(row(&r, cfgdir));
	ck_assert(!row(&r, cfgdir)->is_default);
	ck_assert_ptr_nonnull(row(&r, ddir));
	ck_assert(row(&r, ddir)->is_default);
	cs_result_free(CS_OP_STORAGE_LIST, &r);

	/* an invalid max-percent: refused, the storage stays as it was */
	write_file(conf, "max-percent 95\n", 0);
	ck_assert_int_eq(kill(ld.pid, SIGHUP), 0);
	wait_log("invalid max-percent `95' (a whole number from 1 to 90); the storage "
		 "stays as it was");
	list(&r);
	ck_assert_uint_eq(r.max_percent, 30);
	cs_result_free(CS_OP_STORAGE_LIST, &r);
}
END_TEST

/* storage add/remove of RAM storage through the socket; its error */
static int storage_op(enum cs_op op, const char *what, struct cs_error *err)
{
	struct cs_storage_list_result r = { 0 };
	struct cs_storage_args a = { 0 };
	struct cs_client *c;
	int ret;

	snprintf(a.device, sizeof(a.device), "%s", what);
	ck_assert_msg(cs_client_open(ld.sock, &c, err) == 0, "%s", err->message);
	ret = cs_call(c, op, &a, &r, err);
	cs_client_close(c);
	if (!ret)
		cs_result_free(op, &r);
	return ret;
}

/* RAM storage refused with its reasons, before any zram device is made;
 * storage.conf untouched */
START_TEST(ram_refusals)
{
	struct cs_storage_list_result r;
	struct cs_error err;
	char conf[256], text[256];
	FILE *f;

	snprintf(droot, sizeof(droot), "/tmp/test-storage.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(droot));
	snprintf(ddir, sizeof(ddir), "%s/lib/storage", droot);
	start(ddir);

	ck_assert_int_ne(storage_op(CS_OP_STORAGE_ADD, "ram:1K", &err), 0);
	ck_assert_int_eq(err.code, EINVAL);
	ck_assert_str_eq(err.message, "RAM storage of 1K is too small: a set needs at least "
			 "16M; give ram:16M or more");
	ck_assert_int_ne(storage_op(CS_OP_STORAGE_ADD, "ram:12k3", &err), 0);
	ck_assert_msg(strstr(err.message, "invalid RAM storage size `12k3'"), "%s", err.message);
	ck_assert_int_ne(storage_op(CS_OP_STORAGE_ADD, "ram", &err), 0);
	ck_assert_str_eq(err.message, "RAM storage needs its size: ram:SIZE (ram:512M)");
	/* more than half of any host's memory */
	ck_assert_int_ne(storage_op(CS_OP_STORAGE_ADD, "ram:1P", &err), 0);
	ck_assert_int_eq(err.code, ERANGE);
	ck_assert_msg(strstr(err.message, "RAM storage of 1073741824M is more than 1/2 of this "
			     "host's memory ("), "%s", err.message);
	ck_assert_msg(strstr(err.message, "give at most ram:"), "%s", err.message);
	ck_assert_int_ne(storage_op(CS_OP_STORAGE_REMOVE, "ram", &err), 0);
	ck_assert_int_eq(err.code, ENOENT);
	ck_assert_str_eq(err.message, "there is no RAM storage; see `snapctl storage list'");
	ck_assert_int_ne(storage_op(CS_OP_STORAGE_REMOVE, "ram:64M", &err), 0);
	ck_assert_int_eq(err.code, ENOENT);

	list(&r);
	for (uint32_t i = 0; i < r.ndevices; i++)
		ck_assert_int_ne(r.devices[i].kind, CS_STORAGE_RAM);
	ck_assert_str_eq(r.default_directory, ddir);
	cs_result_free(CS_OP_STORAGE_LIST, &r);
	snprintf(conf, sizeof(conf), "%s/conf/storage.conf", ld.dir);
	f = fopen(conf, "r");
	text[0] = '\0';
	if (f) {
		text[fread(text, 1, sizeof(text) - 1, f)] = '\0';
		fclose(f);
	}
	ck_assert_msg(!strstr(text, "ram"), "storage.conf: %s", text);

	/* two `ram' lines: the file is refused, the storage stays as it was */
	write_file(conf, "ram 64M\nram 128M\n", 0);
	ck_assert_int_eq(kill(ld.pid, SIGHUP), 0);
	wait_log("storage.conf:2: a second `ram' line (RAM storage is one device: give its "
		 "size once); the storage stays as it was");
	/* storage remove ram takes the line out, even with no device made */
	write_file(conf, "set-size 16M\nram 64M\n", 0);
	ck_assert_int_eq(storage_op(CS_OP_STORAGE_REMOVE, "ram", &err), 0);
	f = fopen(conf, "r");
	ck_assert_ptr_nonnull(f);
	text[fread(text, 1, sizeof(text) - 1, f)] = '\0';
	fclose(f);
	ck_assert_str_eq(text, "set-size 16M\n");
}
END_TEST

/* --default-storage takes an absolute path */
START_TEST(default_storage_option)
{
	const char *const argv[] = { COWSNAPD_BIN, "--no-module", "-f", "--default-storage",
				     "var/lib/x", NULL };
	char buf[512];
	int p[2], status;
	ssize_t n;
	pid_t pid;

	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (!pid) {
		dup2(p[1], 2);
		execv(live_daemon_bin(COWSNAPD_BIN), (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	n = read(p[0], buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 2);
	ck_assert_msg(strstr(buf, "invalid --default-storage: `var/lib/x' (an absolute path"),
		      "%s", buf);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("storage");
	TCase *pure = tcase_create("sizes");
	TCase *live = tcase_create("cowsnapd");
	SRunner *sr;
	int failed;

	signal(SIGPIPE, SIG_IGN);
	tcase_add_test(pure, auto_size);
	tcase_add_test(pure, sizes_from_conf);
	tcase_add_test(pure, max_percent_setting);
	tcase_add_test(pure, file_room);
	tcase_add_test(pure, ram_size);
	tcase_add_test(pure, ram_fits);
	tcase_add_test(pure, ram_conf);
	tcase_add_test(pure, ram_state);
	suite_add_tcase(s, pure);
	tcase_add_checked_fixture(live, NULL, stop_and_clean);
	tcase_set_timeout(live, 30);
	tcase_add_test(live, default_directory_listed);
	tcase_add_test(live, default_storage_option);
	tcase_add_test(live, ram_refusals);
	suite_add_tcase(s, live);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
