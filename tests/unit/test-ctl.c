// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Check tests of snapctl's own helpers (tools/ctl): the text it puts on the
 * terminal, and the --exec command's life, which must end with snapctl's.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "snapctl.h"

START_TEST(term_text_escapes)
{
	static const struct {
		const char *in, *out;
	} c[] = {
		{ "writer db1 vetoed: disk full", "writer db1 vetoed: disk full" },
		{ "\x1b]0;pwned\x07\x1b[2J", "\\x1b]0;pwned\\x07\\x1b[2J" },
		{ "line\nnext\rover\ttab", "line\\x0anext\\x0dover\\x09tab" },
		{ "del\x7f", "del\\x7f" },
		/* UTF-8 stays; C1 controls (U+009B is CSI) and stray bytes do not */
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x92\xbe",
		  "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x92\xbe" },
		{ "\xc2\x9b" "31m", "\\xc2\\x9b31m" },
		{ "\x9b" "31m \xff \xc3", "\\x9b31m \\xff \\xc3" },
		{ "\xe0\x80\xaf \xed\xa0\x80", "\\xe0\\x80\\xaf \\xed\\xa0\\x80" },
		{ "", "" },
	};
	char buf[TERM_TEXT_MAX], small[12], msg[CS_ERRMSG_MAX];

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		ck_assert_str_eq(term_text(c[i].in, buf, sizeof(buf)), c[i].out);
	/* too long for the buffer: cut, and said so */
	ck_assert_str_eq(term_text("\x1b\x1b\x1b", small, sizeof(small)), "\\x1b\\x1b...");
	ck_assert_str_eq(term_text("abcdefghijklmnop", small, sizeof(small)), "abcdefgh...");
	/* the longest message, all escapes, fits TERM_TEXT_MAX */
	memset(msg, '\x1b', sizeof(msg) - 1);
	msg[sizeof(msg) - 1] = '\0';
	ck_assert_uint_eq(strlen(term_text(msg, buf, sizeof(buf))), 4 * (sizeof(msg) - 1));
}
END_TEST

/* A stand-in for snapctl running CMD: a child that runs it through run_cmd
 * and exits with what run_cmd returned.  CMD writes its shell's pid to
 * pidfile first; the pid of that shell comes back in *sh. */
static pid_t start_snapctl(const char *cmd, const char *pidfile, pid_t *sh)
{
	const char *const env[] = { "PIDFILE", pidfile, NULL };
	pid_t p = fork();
	FILE *f;

	ck_assert_int_ge(p, 0);
	if (p == 0) {
		/* as snapctl starts: Check's own handlers are not snapctl's */
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		_exit(run_cmd(cmd, env) & 0xff);
	}
	for (int i = 0; i < 500; i++) {
		f = fopen(pidfile, "r");
		if (f && fscanf(f, "%d", sh) == 1) {
			fclose(f);
			return p;
		}
		if (f)
			fclose(f);
		usleep(10000);
	}
	ck_abort_msg("the command did not start");
	return -1;
}

/* Every process of the command is gone within 5 s: once the stand-in is
 * reaped they would be this test's children (it is a subreaper), so it has
 * none left. */
static void check_gone(void)
{
	for (int i = 0; i < 500; i++) {
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		if (waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD)
			return;
		usleep(10000);
	}
	ck_abort_msg("the command's processes still run");
}

static void tmp_pidfile(char *path, size_t size)
{
	snprintf(path, size, "/tmp/test-ctl.%d.%ld", (int)getpid(), (long)time(NULL));
	unlink(path);
}

/* snapctl killed with SIGTERM (or SIGINT, SIGHUP): the command, a pipeline
 * here, is stopped and waited for, and run_cmd says how it ended. */
START_TEST(exec_dies_with_snapctl_term)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	char pidfile[64];
	pid_t p, sh;
	int status;

	prctl(PR_SET_CHILD_SUBREAPER, 1);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		tmp_pidfile(pidfile, sizeof(pidfile));
		p = start_snapctl("echo $$ > \"$PIDFILE\"; sleep 30 | sleep 30; sleep 30", pidfile,
				  &sh);
		ck_assert_int_eq(kill(p, sigs[i]), 0);
		ck_assert_int_eq(waitpid(p, &status, 0), p);
		/* the stand-in lived on to report: 128 + the signal */
		ck_assert_msg(WIFEXITED(status), "snapctl died of signal %d",
			      WIFSIGNALED(status) ? WTERMSIG(status) : 0);
		ck_assert_int_eq(WEXITSTATUS(status), 128 + sigs[i]);
		check_gone();
		unlink(pidfile);
	}
}
END_TEST

/* snapctl killed with SIGKILL: the command gets SIGTERM from the kernel. */
START_TEST(exec_dies_with_snapctl_kill)
{
	char pidfile[64];
	pid_t p, sh;

	prctl(PR_SET_CHILD_SUBREAPER, 1);
	tmp_pidfile(pidfile, sizeof(pidfile));
	p = start_snapctl("echo $$ > \"$PIDFILE\"; exec sleep 30", pidfile, &sh);
	ck_assert_int_eq(kill(p, SIGKILL), 0);
	ck_assert_int_eq(waitpid(p, NULL, 0), p);
	check_gone();
	unlink(pidfile);
}
END_TEST

/* An ordinary command: its exit status, its environment. */
START_TEST(exec_status)
{
	const char *const env[] = { "X", "7", NULL };

	ck_assert_int_eq(run_cmd("exit $X", env), 7);
	ck_assert_int_eq(run_cmd("true", env), 0);
	ck_assert_int_eq(run_cmd("kill -9 $$", env), 128 + SIGKILL);
}
END_TEST

static Suite *ctl_suite(void)
{
	Suite *s = suite_create("snapctl");
	TCase *t = tcase_create("term");

	tcase_add_test(t, term_text_escapes);
	suite_add_tcase(s, t);
	t = tcase_create("exec");
	tcase_set_timeout(t, 20);
	tcase_add_test(t, exec_status);
	tcase_add_test(t, exec_dies_with_snapctl_term);
	tcase_add_test(t, exec_dies_with_snapctl_kill);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ctl_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
