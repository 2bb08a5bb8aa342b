// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Check tests of the shipped hook writers run on the host, as cowsnapd runs
 * them (`PROGRAM EVENT'), without a daemon.
 *
 * tools/writers/qemu-fsfreeze: a hook directory of small scripts in a
 * temporary directory (COWSNAP_QEMU_FSFREEZE_DIR, its state file beside it),
 * each of which logs `NAME ARG' to $HOOK_LOG; the tests check that log, the
 * order of the calls, and the adapter's status and messages.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#ifndef WRITERS_DIR
#error "WRITERS_DIR (tools/writers) must be defined"
#endif

#define ADAPTER WRITERS_DIR "/qemu-fsfreeze"

static char dir[64];
static char hooks[128], logfile[96], errfile[96], outfile[96], state[96];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/var/tmp/test-writers.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(hooks, sizeof(hooks), "%s/hooks", dir);
	snprintf(logfile, sizeof(logfile), "%s/log", dir);
	snprintf(errfile, sizeof(errfile), "%s/stderr", dir);
	snprintf(outfile, sizeof(outfile), "%s/stdout", dir);
	snprintf(state, sizeof(state), "%s/state", dir);
	ck_assert_int_eq(mkdir(hooks, 0755), 0);
	/* whatever the umask: hooks and their directory as a site has them */
	ck_assert_int_eq(chmod(hooks, 0755), 0);
	ck_assert_int_eq(setenv("COWSNAP_QEMU_FSFREEZE_DIR", hooks, 1), 0);
	ck_assert_int_eq(setenv("COWSNAP_QEMU_FSFREEZE_STATE", state, 1), 0);
	ck_assert_int_eq(setenv("HOOK_LOG", logfile, 1), 0);
	ck_assert_int_eq(setenv("COWSNAP_WRITER", "qemu-fsfreeze", 1), 0);
}

static void teardown(void)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "chmod -R u+rwX '%s'; rm -rf '%s'", dir, dir);
	if (system(cmd))
		fprintf(stderr, "test-writers: could not remove %s\n", dir);
}

/*
 * A hook NAME in the hook directory, with MODE: it logs `NAME ARG' and then
 * runs BODY (shell; $1 is freeze or thaw).
 */
static void hook(const char *name, mode_t mode, const char *body)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", hooks, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "#!/bin/sh\necho \"${0##*/} $1\" >> \"$HOOK_LOG\"\n%s\nexit 0\n",
		body ? body : "");
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(path, mode), 0);
}

/* The whole of a file ("" when it does not exist); static, until the next call. */
static const char *slurp(const char *path)
{
	static char buf[8192];
	ssize_t n = 0, r;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	buf[0] = '\0';
	if (fd < 0) {
		ck_assert_int_eq(errno, ENOENT);
		return buf;
	}
	while ((r = read(fd, buf + n, sizeof(buf) - 1 - (size_t)n)) > 0)
		n += r;
	close(fd);
	buf[n] = '\0';
	return buf;
}

/*
 * `qemu-fsfreeze EVENT', stdin /dev/null, stdout and stderr to files of
 * their own: its exit status, or 128 + the signal that killed it.
 */
static int adapter(const char *event)
{
	pid_t pid = fork();
	int status;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int in = open("/dev/null", O_RDONLY);
		int out = open(outfile, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int err = open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 ||
		    dup2(err, 2) < 0)
			_exit(126);
		setenv("COWSNAP_EVENT", event, 1);
		execl(ADAPTER, ADAPTER, event, (char *)NULL);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/* Asserts that the adapter's stderr holds what. */
static void stderr_has(const char *what)
{
	const char *err = slurp(errfile);

	ck_assert_msg(strstr(err, what), "stderr lacks \"%s\": %s", what, err);
}

static void three_hooks(const char *body_b)
{
	hook("10-a.sh", 0755, NULL);
	hook("20-b.sh", 0755, body_b);
	hook("30-c.sh", 0755, NULL);
}

START_TEST(freeze_all_then_thaw_in_reverse)
{
	static const char *const quiet[] = {
		"identify", "prepare-backup", "prepare-snapshot", "post-snapshot",
		"backup-complete", "pre-restore", "post-restore",
	};

	/* a hook's stdout must not reach cowsnapd: `frozen' there means held */
	three_hooks("[ \"$1\" != freeze ] || echo frozen");
	hook("40-d", 0755, NULL);	/* qemu runs hooks without .sh too */
	for (size_t i = 0; i < sizeof(quiet) / sizeof(quiet[0]); i++)
		ck_assert_int_eq(adapter(quiet[i]), 0);
	ck_assert_str_eq(slurp(logfile), "");

	ck_assert_int_eq(adapter("freeze"), 0);
	ck_assert_str_eq(slurp(logfile),
			 "10-a.sh freeze\n20-b.sh freeze\n30-c.sh freeze\n40-d freeze\n");
	ck_assert_str_eq(slurp(outfile), "");
	stderr_has("frozen");
	ck_assert_int_eq(access(state, F_OK), 0);

	ck_assert_int_eq(adapter("post-snapshot"), 0);
	ck_assert_int_eq(adapter("thaw"), 0);
	ck_assert_str_eq(slurp(logfile),
			 "10-a.sh freeze\n20-b.sh freeze\n30-c.sh freeze\n40-d freeze\n"
			 "40-d thaw\n30-c.sh thaw\n20-b.sh thaw\n10-a.sh thaw\n");
	ck_assert_str_eq(slurp(errfile), "");
	ck_assert_int_eq(access(state, F_OK), -1);

	/* thawed once: what follows thaw has nothing left to thaw */
	ck_assert_int_eq(adapter("abort"), 0);
	ck_assert_int_eq(adapter("backup-shutdown"), 0);
	ck_assert_int_eq(adapter("thaw"), 0);
	ck_assert_str_eq(slurp(logfile),
			 "10-a.sh freeze\n20-b.sh freeze\n30-c.sh freeze\n40-d freeze\n"
			 "40-d thaw\n30-c.sh thaw\n20-b.sh thaw\n10-a.sh thaw\n");
}
END_TEST

START_TEST(failed_freeze_thaws_those_that_froze)
{
	three_hooks("[ \"$1\" != freeze ] || exit 3");
	ck_assert_int_eq(adapter("freeze"), 1);
	/* 30-c never ran; 20-b failed, so only 10-a froze and is thawed */
	ck_assert_str_eq(slurp(logfile), "10-a.sh freeze\n20-b.sh freeze\n10-a.sh thaw\n");
	stderr_has("20-b.sh freeze failed (exit status 3)");
	ck_assert_int_eq(access(state, F_OK), -1);

	/* cowsnapd then sends thaw (the writer got freeze) and abort */
	ck_assert_int_eq(adapter("thaw"), 0);
	ck_assert_int_eq(adapter("abort"), 0);
	ck_assert_str_eq(slurp(logfile), "10-a.sh freeze\n20-b.sh freeze\n10-a.sh thaw\n");
}
END_TEST

START_TEST(retryable_veto_stays_retryable)
{
	three_hooks("[ \"$1\" != freeze ] || exit 75");
	ck_assert_int_eq(adapter("freeze"), 75);
	ck_assert_str_eq(slurp(logfile), "10-a.sh freeze\n20-b.sh freeze\n10-a.sh thaw\n");
}
END_TEST

START_TEST(abort_thaws)
{
	three_hooks(NULL);
	ck_assert_int_eq(adapter("freeze"), 0);
	ck_assert_int_eq(adapter("abort"), 0);
	ck_assert_str_eq(slurp(logfile), "10-a.sh freeze\n20-b.sh freeze\n30-c.sh freeze\n"
			 "30-c.sh thaw\n20-b.sh thaw\n10-a.sh thaw\n");
	ck_assert_int_eq(adapter("abort"), 0);
	ck_assert_str_eq(slurp(logfile), "10-a.sh freeze\n20-b.sh freeze\n30-c.sh freeze\n"
			 "30-c.sh thaw\n20-b.sh thaw\n10-a.sh thaw\n");
}
END_TEST

START_TEST(failed_thaw_fails_and_thaws_the_others)
{
	three_hooks("[ \"$1\" != thaw ] || exit 4");
	ck_assert_int_eq(adapter("freeze"), 0);
	ck_assert_int_ne(adapter("thaw"), 0);
	ck_assert_str_eq(slurp(logfile), "10-a.sh freeze\n20-b.sh freeze\n30-c.sh freeze\n"
			 "30-c.sh thaw\n20-b.sh thaw\n10-a.sh thaw\n");
	stderr_has("20-b.sh thaw failed (exit status 4)");
	/* its thaw ran: abort does not run it again */
	ck_assert_int_eq(adapter("abort"), 0);
	ck_assert_str_eq(slurp(logfile), "10-a.sh freeze\n20-b.sh freeze\n30-c.sh freeze\n"
			 "30-c.sh thaw\n20-b.sh thaw\n10-a.sh thaw\n");
}
END_TEST

/* cowsnapd kills a freeze that overruns its freeze-timeout: the hook it
 * was running may have frozen, so the thaw that follows thaws it too */
START_TEST(killed_freeze_is_thawed)
{
	three_hooks("[ \"$1\" != freeze ] || kill -KILL $PPID");
	ck_assert_int_eq(adapter("freeze"), 128 + 9);
	ck_assert_str_eq(slurp(logfile), "10-a.sh freeze\n20-b.sh freeze\n");
	ck_assert_int_eq(adapter("thaw"), 0);
	ck_assert_str_eq(slurp(logfile), "10-a.sh freeze\n20-b.sh freeze\n"
			 "20-b.sh thaw\n10-a.sh thaw\n");
}
END_TEST

/* cowsnapd died between freeze and thaw: the next freeze thaws first */
START_TEST(next_freeze_thaws_what_was_left_frozen)
{
	hook("10-a.sh", 0755, NULL);
	hook("20-b.sh", 0755, NULL);
	ck_assert_int_eq(adapter("freeze"), 0);
	ck_assert_int_eq(adapter("freeze"), 0);
	ck_assert_str_eq(slurp(logfile), "10-a.sh freeze\n20-b.sh freeze\n"
			 "20-b.sh thaw\n10-a.sh thaw\n10-a.sh freeze\n20-b.sh freeze\n");
	stderr_has("never thawed");
	ck_assert_int_eq(adapter("thaw"), 0);
	ck_assert_str_eq(slurp(logfile), "10-a.sh freeze\n20-b.sh freeze\n"
			 "20-b.sh thaw\n10-a.sh thaw\n10-a.sh freeze\n20-b.sh freeze\n"
			 "20-b.sh thaw\n10-a.sh thaw\n");
}
END_TEST

START_TEST(unsafe_directory_is_refused)
{
	char path[256];

	three_hooks(NULL);
	ck_assert_int_eq(chmod(hooks, 0777), 0);
	ck_assert_int_eq(adapter("freeze"), 1);
	ck_assert_str_eq(slurp(logfile), "");
	stderr_has("refusing to run the hooks in");
	stderr_has("is writable by others than its owner (mode 777)");

	/* group-writable, sticky or not, is no better */
	ck_assert_int_eq(chmod(hooks, 01775), 0);
	ck_assert_int_eq(adapter("freeze"), 1);
	ck_assert_str_eq(slurp(logfile), "");
	ck_assert_int_eq(chmod(hooks, 0755), 0);

	/* one hook writable by others: nothing runs, not even the safe ones */
	snprintf(path, sizeof(path), "%s/30-c.sh", hooks);
	ck_assert_int_eq(chmod(path, 0757), 0);
	ck_assert_int_eq(adapter("freeze"), 1);
	ck_assert_str_eq(slurp(logfile), "");
	stderr_has("30-c.sh is writable by others than its owner (mode 757)");
	ck_assert_int_eq(chmod(path, 0755), 0);

	/* a hook owned by another account */
	if (geteuid() == 0) {
		ck_assert_int_eq(chown(path, 12345, 0), 0);
		ck_assert_int_eq(adapter("freeze"), 1);
		ck_assert_str_eq(slurp(logfile), "");
		stderr_has("30-c.sh is owned by uid 12345, not root");
		ck_assert_int_eq(chown(path, 0, 0), 0);
	}

	/* made unsafe between freeze and thaw: thaw refuses, and what it left
	 * frozen is thawed by the abort after it once the directory is safe */
	ck_assert_int_eq(adapter("freeze"), 0);
	ck_assert_int_eq(chmod(hooks, 0777), 0);
	ck_assert_int_eq(adapter("thaw"), 1);
	stderr_has("refusing to run the hooks in");
	ck_assert_str_eq(slurp(logfile), "10-a.sh freeze\n20-b.sh freeze\n30-c.sh freeze\n");
	ck_assert_int_eq(chmod(hooks, 0755), 0);
	ck_assert_int_eq(adapter("abort"), 0);
	ck_assert_str_eq(slurp(logfile), "10-a.sh freeze\n20-b.sh freeze\n30-c.sh freeze\n"
			 "30-c.sh thaw\n20-b.sh thaw\n10-a.sh thaw\n");
}
END_TEST

START_TEST(unsafe_parent_is_refused)
{
	char sub[256];

	/* hooks in a directory whose parent anyone may write (not sticky):
	 * the directory itself could be swapped */
	snprintf(sub, sizeof(sub), "%s/open", dir);
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	ck_assert_int_eq(chmod(sub, 0777), 0);
	snprintf(hooks, sizeof(hooks), "%s/open/hooks", dir);
	ck_assert_int_eq(mkdir(hooks, 0755), 0);
	ck_assert_int_eq(chmod(hooks, 0755), 0);
	ck_assert_int_eq(setenv("COWSNAP_QEMU_FSFREEZE_DIR", hooks, 1), 0);
	three_hooks(NULL);
	ck_assert_int_eq(adapter("freeze"), 1);
	ck_assert_str_eq(slurp(logfile), "");
	stderr_has("its parent");
	/* with the sticky bit (as /tmp) others cannot swap what is not theirs */
	ck_assert_int_eq(chmod(sub, 01777), 0);
	ck_assert_int_eq(adapter("freeze"), 0);
	ck_assert_str_eq(slurp(logfile), "10-a.sh freeze\n20-b.sh freeze\n30-c.sh freeze\n");
	ck_assert_int_eq(adapter("thaw"), 0);
}
END_TEST

START_TEST(non_executables_are_skipped)
{
	char path[256];
	FILE *f;

	hook("10-a.sh", 0755, NULL);
	hook("15-off.sh", 0644, NULL);		/* not executable */
	hook("20-b.sh~", 0755, NULL);		/* backup and package files, as qemu */
	hook("21-b.sh.bak", 0755, NULL);
	hook("22-b.sh.sample", 0755, NULL);
	hook("23-b.sh.dpkg-old", 0755, NULL);
	hook("24-b.sh.rpmnew", 0755, NULL);
	hook(".25-hidden.sh", 0755, NULL);	/* the glob leaves them out */
	hook("30-c.sh", 0755, NULL);
	snprintf(path, sizeof(path), "%s/40-dir.sh", hooks);
	ck_assert_int_eq(mkdir(path, 0755), 0);	/* not a file */
	snprintf(path, sizeof(path), "%s/README", hooks);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("the site's notes\n", f);
	ck_assert_int_eq(fclose(f), 0);
	/* what is not run is not refused: a world-writable non-executable */
	ck_assert_int_eq(chmod(path, 0666), 0);

	ck_assert_int_eq(adapter("freeze"), 0);
	ck_assert_int_eq(adapter("thaw"), 0);
	ck_assert_str_eq(slurp(logfile), "10-a.sh freeze\n30-c.sh freeze\n"
			 "30-c.sh thaw\n10-a.sh thaw\n");
	ck_assert_str_eq(slurp(errfile), "");
}
END_TEST

START_TEST(missing_directory_fails)
{
	char gone[256];

	snprintf(gone, sizeof(gone), "%s/none", dir);
	ck_assert_int_eq(setenv("COWSNAP_QEMU_FSFREEZE_DIR", gone, 1), 0);
	ck_assert_int_eq(adapter("freeze"), 1);
	stderr_has("does not exist");
	ck_assert_int_eq(setenv("COWSNAP_QEMU_FSFREEZE_DIR", "relative/dir", 1), 0);
	ck_assert_int_eq(adapter("freeze"), 1);
	stderr_has("is not an absolute path");
	/* an empty directory: nothing to freeze, nothing to thaw */
	ck_assert_int_eq(setenv("COWSNAP_QEMU_FSFREEZE_DIR", hooks, 1), 0);
	ck_assert_int_eq(adapter("freeze"), 0);
	ck_assert_int_eq(adapter("thaw"), 0);
	ck_assert_str_eq(slurp(errfile), "");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("writers");
	TCase *tc = tcase_create("qemu-fsfreeze");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, freeze_all_then_thaw_in_reverse);
	tcase_add_test(tc, failed_freeze_thaws_those_that_froze);
	tcase_add_test(tc, retryable_veto_stays_retryable);
	tcase_add_test(tc, abort_thaws);
	tcase_add_test(tc, failed_thaw_fails_and_thaws_the_others);
	tcase_add_test(tc, killed_freeze_is_thawed);
	tcase_add_test(tc, next_freeze_thaws_what_was_left_frozen);
	tcase_add_test(tc, unsafe_directory_is_refused);
	tcase_add_test(tc, unsafe_parent_is_refused);
	tcase_add_test(tc, non_executables_are_skipped);
	tcase_add_test(tc, missing_directory_fails);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
