// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Check tests of how cowsnapd runs a hook writer (daemon/writers.c): the
 * daemon blocks SIGTERM, SIGINT and SIGHUP (for its signalfd) and ignores
 * SIGPIPE; a hook must start with no signal blocked or ignored, so that
 * `kill -TERM', `timeout' and shell traps work in it and in what it starts.
 * The hooks are shell scripts, run through the session's own entry point.
 * And what a hook is told: COWSNAP_VOLUMES names every origin whole;
 * COWSNAP_SNAPSHOTS and COWSNAP_IMAGES_WRITABLE come at post-snapshot and
 * backup-complete only.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>

#include "daemon.h"
#include "volumes.h"
#include "writers.h"

static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/var/tmp/test-hook.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		fprintf(stderr, "test-hook: could not remove %s\n", dir);
}

/* What the daemon does to its signals before it runs any hook (server.c). */
static void block_as_the_daemon_does(void)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	ck_assert_int_eq(sigprocmask(SIG_BLOCK, &mask, NULL), 0);
	ck_assert_ptr_ne(signal(SIGPIPE, SIG_IGN), SIG_ERR);
}

/* The file a hook wrote, whole, NUL-terminated, into buf (not empty). */
static void read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	n = read(fd, buf, size - 1);
	close(fd);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
}

/* One selected hook writer running dir/hook, whose prepare-backup is body. */
static void hook_writer(struct cowsnapd *d, const char *body)
{
	struct cs_writer *w = calloc(1, sizeof(*w));
	FILE *f;

	ck_assert_ptr_nonnull(w);
	snprintf(w->exec, sizeof(w->exec), "%s/hook", dir);
	f = fopen(w->exec, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "#!/bin/sh\n[ \"$1\" = prepare-backup ] || exit 0\n%s\n", body);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(w->exec, 0755), 0);
	strcpy(w->name, "hook");
	w->kind = CS_WRITER_HOOK;
	w->order = CS_ORDER_BACK_END;
	w->freeze_timeout_ms = w->event_timeout_ms = 10000;
	w->hold_stdin = -1;
	w->selected = true;
	d->writers.w = w;
	d->writers.n = 1;
}

START_TEST(hook_starts_with_default_signals)
{
	struct cowsnapd d = { .signal_fd = -1 };
	struct cs_session_env env = { .volumes = "/dev/vdb" };
	struct cs_error err = { 0 };
	char body[PATH_MAX + 128], path[PATH_MAX], got[256];
	unsigned long long blk, ign, glibc = 0;

	snprintf(path, sizeof(path), "%s/status", dir);
	/* exec: what is read is the state the hook's commands inherit */
	snprintf(body, sizeof(body), "exec grep -E '^Sig(Blk|Ign):' /proc/self/status > %s",
		 path);
	hook_writer(&d, body);
	block_as_the_daemon_does();
	ck_assert_msg(cs_writers_prepare(&d, &env, &err) == 0, "%s", err.message);
	read_small(path, got, sizeof(got));
	ck_assert_msg(sscanf(got, "SigBlk: %llx SigIgn: %llx", &blk, &ign) == 2, "%s", got);
	/*
	 * glibc keeps the signals below SIGRTMIN to itself (its sigaction
	 * refuses them): they stay as whoever started the test left them.
	 */
	for (int sig = 32; sig < SIGRTMIN; sig++)
		glibc |= 1ULL << (sig - 1);
	ck_assert_msg(blk == 0, "the hook has signals blocked: %s", got);
	ck_assert_msg((ign & ~glibc) == 0, "the hook has signals ignored: %s", got);
	free(d.writers.w);
}
END_TEST

/*
 * The behaviour that matters: what a hook runs can be terminated with
 * SIGTERM.  Not the shell itself: dash waits for its children with every
 * signal unblocked, which hides the blocked mask from a `kill -TERM $$'.
 */
START_TEST(hook_dies_of_sigterm)
{
	struct cowsnapd d = { .signal_fd = -1 };
	struct cs_session_env env = { .volumes = "/dev/vdb" };
	struct cs_error err = { 0 };

	hook_writer(&d, "(sleep 0.2; kill -TERM $$) &\nexec sleep 5");
	block_as_the_daemon_does();
	ck_assert_int_eq(cs_writers_prepare(&d, &env, &err), -EIO);
	ck_assert_msg(strstr(err.message, "writer hook failed: prepare-backup killed by "
			     "signal 15"), "message: %s", err.message);
	free(d.writers.w);
}
END_TEST

/* The longest device node the resolver returns (cs_volume_resolve). */
#define DEVNODE_LEN (sizeof(((struct cs_resolved *)0)->devnode) - 1)

/* Device node i, DEVNODE_LEN long; the number at the end tells them apart,
 * so a name cut short would name another device (or none). */
static void long_devnode(char *name, unsigned i)
{
	memset(name, 'x', DEVNODE_LEN);
	memcpy(name, "/dev/mapper/", strlen("/dev/mapper/"));
	snprintf(name + DEVNODE_LEN - 3, 4, "-%02u", i);
}

/*
 * A set of CS_MAX_VOLUMES volumes whose device nodes are as long as the
 * resolver makes them: the hook's COWSNAP_VOLUMES is the whole list, built
 * as op_set_create builds it (daemon/ops.c), space-separated.
 */
START_TEST(hook_sees_every_volume)
{
	struct cowsnapd d = { .signal_fd = -1 };
	static struct cs_session_env env;
	struct cs_error err = { 0 };
	size_t max = CS_MAX_VOLUMES * (DEVNODE_LEN + 1);
	char body[PATH_MAX + 128], path[PATH_MAX], name[DEVNODE_LEN + 1];
	char *want = calloc(1, max + 1), *got = calloc(1, max + 2);
	size_t wlen = 0, glen = 0;
	ssize_t n;
	int fd;

	ck_assert_ptr_nonnull(want);
	ck_assert_ptr_nonnull(got);
	memset(&env, 0, sizeof(env));
	name[DEVNODE_LEN] = '\0';
	for (unsigned i = 0; i < CS_MAX_VOLUMES; i++) {
		long_devnode(name, i);
		ck_assert_int_eq(cs_session_env_add_volume(&env, name), 0);
		wlen += sprintf(want + wlen, "%s%s", i ? " " : "", name);
	}
	snprintf(path, sizeof(path), "%s/volumes", dir);
	snprintf(body, sizeof(body), "printf '%%s' \"$COWSNAP_VOLUMES\" > %s", path);
	hook_writer(&d, body);
	ck_assert_msg(cs_writers_prepare(&d, &env, &err) == 0, "%s", err.message);
	fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	while ((n = read(fd, got + glen, max + 1 - glen)) > 0)
		glen += n;
	close(fd);
	ck_assert_msg(glen == wlen && !memcmp(got, want, wlen),
		      "the hook saw %zu of %zu bytes; its last volume: `%s'", glen, wlen,
		      strrchr(got, ' ') ? strrchr(got, ' ') + 1 : got);
	free(want);
	free(got);
	free(d.writers.w);
}
END_TEST

/*
 * A hook's environment is built before the fork (the child only execs): the
 * event's variables replace any the daemon had (once each), the daemon's
 * other variables stay, and a program that cannot run is named in the log.
 */
START_TEST(hook_environment)
{
	struct cowsnapd d = { .signal_fd = -1 };
	struct cs_session_env env = { .set_id = 7, .backup_type = "copy", .success = "1" };
	struct cs_error err = { 0 };
	char body[PATH_MAX + 128], path[PATH_MAX], got[4096];

	ck_assert_int_eq(cs_session_env_add_volume(&env, "/dev/vdb"), 0);
	setenv("COWSNAP_EVENT", "stale", 1);
	setenv("COWSNAP_SOCKET", "/run/other.sock", 1);
	snprintf(path, sizeof(path), "%s/env", dir);
	snprintf(body, sizeof(body), "env | grep -E '^(COWSNAP_|PATH=)' | sort > %s", path);
	hook_writer(&d, body);
	ck_assert_msg(cs_writers_prepare(&d, &env, &err) == 0, "%s", err.message);
	read_small(path, got, sizeof(got));
	ck_assert_msg(!strncmp(got, "COWSNAP_BACKUP_SUCCESS=1\nCOWSNAP_BACKUP_TYPE=copy\n"
			       "COWSNAP_EVENT=prepare-backup\nCOWSNAP_SET_ID=7\n"
			       "COWSNAP_SOCKET=/run/other.sock\nCOWSNAP_VOLUMES=/dev/vdb\n"
			       "COWSNAP_WRITER=hook\nPATH=", strlen("COWSNAP_BACKUP_SUCCESS=1\n"
			       "COWSNAP_BACKUP_TYPE=copy\nCOWSNAP_EVENT=prepare-backup\n"
			       "COWSNAP_SET_ID=7\nCOWSNAP_SOCKET=/run/other.sock\n"
			       "COWSNAP_VOLUMES=/dev/vdb\nCOWSNAP_WRITER=hook\nPATH=")),
		      "the hook's environment:\n%s", got);
	unsetenv("COWSNAP_EVENT");
	unsetenv("COWSNAP_SOCKET");
	/* a program that is not there: exit 127, the event fails */
	snprintf(d.writers.w->exec, sizeof(d.writers.w->exec), "%s/missing", dir);
	ck_assert_int_eq(cs_writers_prepare(&d, &env, &err), -EIO);
	ck_assert_msg(strstr(err.message, "status 127"), "%s", err.message);
	free(d.writers.w);
}
END_TEST

/*
 * Once the set is taken, post-snapshot and backup-complete tell a hook the
 * images (COWSNAP_SNAPSHOTS, as snapctl backup's) and whether they take
 * writes at that moment (COWSNAP_IMAGES_WRITABLE); other events have
 * neither, whatever the daemon's own environment holds.
 */
START_TEST(hook_told_snapshots)
{
	struct cowsnapd d = { .signal_fd = -1 };
	static struct cs_session_env env;
	struct cs_error err = { 0 };
	char path[PATH_MAX], log[PATH_MAX], got[4096];
	FILE *f;

	memset(&env, 0, sizeof(env));
	env.set_id = 3;
	ck_assert_int_eq(cs_session_env_add_volume(&env, "/dev/vdb"), 0);
	ck_assert_int_eq(cs_session_env_add_volume(&env, "/dev/vdc1"), 0);
	hook_writer(&d, "true");
	snprintf(path, sizeof(path), "%s/hook", dir);
	snprintf(log, sizeof(log), "%s/events", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "#!/bin/sh\necho \"$1|${COWSNAP_SNAPSHOTS-unset}|"
		"${COWSNAP_IMAGES_WRITABLE-unset}\" >> %s\n", log);
	ck_assert_int_eq(fclose(f), 0);
	setenv("COWSNAP_SNAPSHOTS", "/dev/stale=/dev/cowsnap9", 1);
	setenv("COWSNAP_IMAGES_WRITABLE", "7", 1);

	ck_assert_msg(cs_writers_prepare(&d, &env, &err) == 0, "%s", err.message);
	/* the take: what tell_snapshots() in daemon/session.c adds */
	ck_assert_int_eq(cs_session_env_add_snapshot(&env, "/dev/vdb", "/dev/cowsnap4"), 0);
	ck_assert_int_eq(cs_session_env_add_snapshot(&env, "/dev/vdc1", "/dev/cowsnap5"), 0);
	env.images_writable = true;
	ck_assert_msg(cs_writers_post_snapshot(&d, &env, &err) == 0, "%s", err.message);
	/* a backup session's backup-complete, after --auto-recover sealed them */
	env.images_writable = false;
	env.success = "1";
	ck_assert_msg(cs_writers_complete(&d, &env, &err) == 0, "%s", err.message);
	read_small(log, got, sizeof(got));
	ck_assert_str_eq(got, "prepare-backup|unset|unset\n"
			 "prepare-snapshot|unset|unset\n"
			 "post-snapshot|/dev/vdb=/dev/cowsnap4 /dev/vdc1=/dev/cowsnap5|1\n"
			 "backup-complete|/dev/vdb=/dev/cowsnap4 /dev/vdc1=/dev/cowsnap5|0\n");
	unsetenv("COWSNAP_SNAPSHOTS");
	unsetenv("COWSNAP_IMAGES_WRITABLE");
	free(d.writers.w);
}
END_TEST

/* A pair a hook could not split back is refused; the list stays as it was. */
START_TEST(add_snapshot_refuses_rather_than_cuts)
{
	static struct cs_session_env env;
	char longname[CS_EVENT_DEVNODE_MAX + 2];
	unsigned i;

	memset(&env, 0, sizeof(env));
	ck_assert_int_eq(cs_session_env_add_snapshot(&env, "/dev/vdb", "/dev/cowsnap0"), 0);
	ck_assert_int_eq(cs_session_env_add_snapshot(&env, "/dev/a b", "/dev/cowsnap1"), -EINVAL);
	ck_assert_int_eq(cs_session_env_add_snapshot(&env, "/dev/vdc", "/dev/x=y"), -EINVAL);
	ck_assert_int_eq(cs_session_env_add_snapshot(&env, "", "/dev/cowsnap1"), -EINVAL);
	ck_assert_int_eq(cs_session_env_add_snapshot(&env, "/dev/vdc", ""), -EINVAL);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	ck_assert_int_eq(cs_session_env_add_snapshot(&env, longname, "/dev/cowsnap1"), -EINVAL);
	ck_assert_str_eq(env.snapshots, "/dev/vdb=/dev/cowsnap0");
	/* as many as a set holds, with the longest names the resolver makes */
	memset(&env, 0, sizeof(env));
	for (i = 0; i < CS_MAX_VOLUMES; i++) {
		char o[DEVNODE_LEN + 1], img[CS_DEVNODE_SIZE];

		o[DEVNODE_LEN] = '\0';
		long_devnode(o, i);
		snprintf(img, sizeof(img), "/dev/cowsnap%u", 1000000 + i);
		ck_assert_int_eq(cs_session_env_add_snapshot(&env, o, img), 0);
	}
	ck_assert_uint_eq(strlen(env.snapshots),
			  CS_MAX_VOLUMES * (DEVNODE_LEN + 1 + strlen("/dev/cowsnap1000000")) +
			  CS_MAX_VOLUMES - 1);
}
END_TEST

/* What cannot be passed whole is refused, and the list is left as it was. */
START_TEST(add_volume_refuses_rather_than_cuts)
{
	static struct cs_session_env env;
	char name[DEVNODE_LEN + 1], before[sizeof(env.volumes)];

	memset(&env, 0, sizeof(env));
	ck_assert_int_eq(cs_session_env_add_volume(&env, "/dev/vdb"), 0);
	ck_assert_int_eq(cs_session_env_add_volume(&env, "/dev/odd name"), -EINVAL);
	ck_assert_int_eq(cs_session_env_add_volume(&env, ""), -EINVAL);
	ck_assert_str_eq(env.volumes, "/dev/vdb");

	memset(&env, 0, sizeof(env));
	name[DEVNODE_LEN] = '\0';
	for (unsigned i = 0; i < CS_MAX_VOLUMES; i++) {
		long_devnode(name, i);
		ck_assert_int_eq(cs_session_env_add_volume(&env, name), 0);
	}
	memcpy(before, env.volumes, sizeof(before));
	ck_assert_int_eq(cs_session_env_add_volume(&env, "/dev/vdc"), -ENAMETOOLONG);
	ck_assert_int_eq(memcmp(before, env.volumes, sizeof(before)), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hook");
	TCase *tc = tcase_create("signals");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, hook_starts_with_default_signals);
	tcase_add_test(tc, hook_dies_of_sigterm);
	suite_add_tcase(s, tc);
	tc = tcase_create("volumes");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, hook_sees_every_volume);
	tcase_add_test(tc, hook_environment);
	tcase_add_test(tc, add_volume_refuses_rather_than_cuts);
	tcase_add_test(tc, hook_told_snapshots);
	tcase_add_test(tc, add_snapshot_refuses_rather_than_cuts);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
