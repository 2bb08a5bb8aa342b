// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Check tests of cowsnapd as a systemd service, with the real daemon on the
 * host (--no-module): it says READY=1 on $NOTIFY_SOCKET once its socket
 * answers (Type=notify), and SIGHUP (ExecReload) reads writers.d and
 * storage.conf again, between RELOADING=1 and READY=1, keeping what it has
 * when storage.conf does not parse.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <check.h>

#include "cowsnap.h"
#include "live-daemon.h"

#ifndef COWSNAPD_BIN
#define COWSNAPD_BIN "../../daemon/cowsnapd"
#endif

static struct live_daemon ld;
static char ndir[64], npath[96];
static int nfd = -1;

/* A datagram socket for sd_notify, named in NOTIFY_SOCKET for cowsnapd. */
static void setup(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	snprintf(ndir, sizeof(ndir), "/tmp/test-service.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(ndir));
	snprintf(npath, sizeof(npath), "%s/notify", ndir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", npath);
	nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(nfd, 0);
	ck_assert_int_eq(bind(nfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", npath, 1), 0);
}

static void teardown(void)
{
	char cmd[128];

	live_daemon_remove(&ld);
	unsetenv("NOTIFY_SOCKET");
	close(nfd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", ndir);
	if (system(cmd))
		fprintf(stderr, "test-service: could not remove %s\n", ndir);
}

/* The next notification, within 5 s ("" when none came). */
static const char *notification(void)
{
	static char buf[512];
	struct timeval tv = { .tv_sec = 5 };
	ssize_t n;

	setsockopt(nfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	n = recv(nfd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void start(void)
{
	char why[256];

	ck_assert_msg(live_daemon_start(&ld, "test-service", live_daemon_bin(COWSNAPD_BIN), NULL,
					NULL, why, sizeof(why)) == 0, "%s", why);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

static uint64_t set_sectors(void)
{
	struct cs_storage_list_result r = { 0 };
	struct cs_client *c;
	struct cs_error err;
	uint64_t s;

	ck_assert_msg(cs_client_open(ld.sock, &c, &err) == 0, "%s", err.message);
	ck_assert_msg(cs_call(c, CS_OP_STORAGE_LIST, &(struct cs_empty){ 0 }, &r, &err) == 0,
		      "%s", err.message);
	s = r.set_sectors;
	cs_result_free(CS_OP_STORAGE_LIST, &r);
	cs_client_close(c);
	return s;
}

static bool writer_listed(const char *name)
{
	struct cs_writer_list_result r = { 0 };
	struct cs_client *c;
	struct cs_error err;
	bool found = false;

	ck_assert_msg(cs_client_open(ld.sock, &c, &err) == 0, "%s", err.message);
	ck_assert_msg(cs_call_list(c, CS_OP_WRITER_LIST, &r, &err) == 0, "%s", err.message);
	for (uint32_t i = 0; i < r.nwriters; i++)
		found |= !strcmp(r.writers[i].name, name);
	cs_result_free(CS_OP_WRITER_LIST, &r);
	cs_client_close(c);
	return found;
}

/* Reload and wait for READY=1 after it. */
static void reload(void)
{
	ck_assert_int_eq(kill(ld.pid, SIGHUP), 0);
	ck_assert_msg(strstr(notification(), "RELOADING=1"), "no RELOADING=1 after SIGHUP");
	ck_assert_msg(strstr(notification(), "READY=1"), "no READY=1 after the reload");
}

START_TEST(ready_when_serving)
{
	start();
	ck_assert_str_eq(notification(), "READY=1\nSTATUS=serving");
	live_stop(&ld.pid, SIGTERM);
	ck_assert_str_eq(notification(), "STOPPING=1");
}
END_TEST

START_TEST(sighup_rereads_the_configuration)
{
	char path[256];

	start();
	ck_assert_str_eq(notification(), "READY=1\nSTATUS=serving");
	ck_assert_uint_eq(set_sectors(), 256 * 2048);
	ck_assert(!writer_listed("late"));

	/* a hook writer and a set size added while it runs */
	snprintf(path, sizeof(path), "%s/conf/writers.d", ld.dir);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/conf/writers.d/late.conf", ld.dir);
	write_file(path, "exec /bin/true\n");
	snprintf(path, sizeof(path), "%s/conf/storage.conf", ld.dir);
	write_file(path, "set-size 64M\n");
	reload();
	ck_assert(writer_listed("late"));
	ck_assert_uint_eq(set_sectors(), 64 * 2048);

	/* a storage.conf that does not parse changes nothing */
	write_file(path, "set-size 64x\n");
	reload();
	ck_assert_uint_eq(set_sectors(), 64 * 2048);
	ck_assert(live_daemon_log_has(&ld, "the storage stays as it was"));

	/* the writer's file removed: so is the writer */
	snprintf(path, sizeof(path), "%s/conf/writers.d/late.conf", ld.dir);
	ck_assert_int_eq(unlink(path), 0);
	reload();
	ck_assert(!writer_listed("late"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("service");
	TCase *tc = tcase_create("systemd");
	SRunner *sr;
	int failed;

	signal(SIGPIPE, SIG_IGN);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, ready_when_serving);
	tcase_add_test(tc, sighup_rereads_the_configuration);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
