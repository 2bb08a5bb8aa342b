// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Check tests of snapread's output for scripts, run against the built
 * snapread (make userspace) with a regular file as SOURCE:
 *  - --json is one valid JSON object, keys in their documented order, every
 *    key present, however hostile the file names (a quote, a backslash, a
 *    newline, a byte that is not UTF-8: shown as U+FFFD), and the
 *    replacement of invalid UTF-8 (tools/read/report.c) on its own;
 *  - a closed standard output (`snapread ... | head -c1') ends snapread
 *    with exit status 5 and a message, not a death by SIGPIPE, and leaves no
 *    OUTPUT.partial; nor does a closed standard error kill a copy.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <json-c/json.h>

#include "report.h"

#ifndef SNAPREAD_BIN
#define SNAPREAD_BIN "../../tools/read/snapread"
#endif
/* $SNAPREAD runs another build (an older one, to see a test fail) */
static const char *snapread_bin(void)
{
	const char *p = getenv("SNAPREAD");

	return p && *p ? p : SNAPREAD_BIN;
}

#define SRC_SIZE	(1 << 20)	/* the first half data, the second zeroes */
#define EXIT_CLOSED	5		/* snapread's: output cut short */
#define EXIT_USAGE	2
/* a quote, a backslash, a newline and a byte that is not UTF-8 */
#define HOSTILE		"\"\\\n\xff"
/* ... as the JSON shows it: 0xff replaced by U+FFFD */
#define HOSTILE_JSON	"\"\\\n\xef\xbf\xbd"

static char dir[64], src[256], out[256], partial[PATH_MAX];
static char out_log[PATH_MAX], err_log[PATH_MAX];

static void setup(void)
{
	static char data[SRC_SIZE];
	int fd;

	snprintf(dir, sizeof(dir), "/var/tmp/test-snapread.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(src, sizeof(src), "%s/src" HOSTILE ".img", dir);
	snprintf(out, sizeof(out), "%s/out" HOSTILE ".img", dir);
	snprintf(partial, sizeof(partial), "%s.partial", out);
	snprintf(out_log, sizeof(out_log), "%s/stdout", dir);
	snprintf(err_log, sizeof(err_log), "%s/stderr", dir);
	for (size_t i = 0; i < SRC_SIZE / 2; i++)
		data[i] = (char)(i % 251 + 1);
	fd = open(src, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, sizeof(data)), sizeof(data));
	ck_assert_int_eq(close(fd), 0);
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		fprintf(stderr, "test-snapread: could not remove %s\n", dir);
}

/* Where the child's stdout or stderr goes. */
enum sink_kind { TO_LOG, TO_CLOSED_PIPE };

static void redirect(int fd, enum sink_kind k, const char *log)
{
	int p[2], t;

	if (k == TO_CLOSED_PIPE) {
		if (pipe(p))
			_exit(126);
		close(p[0]);	/* no reader left: a write gets EPIPE, or SIGPIPE */
		t = p[1];
	} else {
		t = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	}
	if (t < 0 || dup2(t, fd) < 0)
		_exit(126);
	close(t);
}

/* Run snapread with argv (NULL-terminated, without argv[0]); its wait status. */
static int run(enum sink_kind o, enum sink_kind e, const char *const *argv)
{
	const char *args[16] = { snapread_bin() };
	int status, i;
	pid_t pid;

	for (i = 0; argv[i]; i++)
		args[i + 1] = argv[i];
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (!pid) {
		/* as a shell runs a pipeline: SIGPIPE as it comes */
		signal(SIGPIPE, SIG_DFL);
		redirect(STDOUT_FILENO, o, out_log);
		redirect(STDERR_FILENO, e, err_log);
		execv(args[0], (char *const *)args);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

/* The whole (short) content of path, or "" */
static const char *slurp(const char *path)
{
	static char buf[2][8192];
	static int which;
	char *b = buf[which ^= 1];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	b[0] = '\0';
	if (fd < 0)
		return b;
	n = read(fd, b, sizeof(buf[0]) - 1);
	close(fd);
	b[n > 0 ? n : 0] = '\0';
	return b;
}

static void assert_exit(int status, int code, const char *what)
{
	ck_assert_msg(WIFEXITED(status), "%s: snapread died by signal %d (stderr: %s)", what,
		      WIFSIGNALED(status) ? WTERMSIG(status) : -1, slurp(err_log));
	ck_assert_msg(WEXITSTATUS(status) == code, "%s: exit status %d, not %d (stderr: %s)",
		      what, WEXITSTATUS(status), code, slurp(err_log));
}

static off_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) ? -1 : st.st_size;
}

/*
 * text is exactly one line, a JSON object with the keys of a full read in
 * their order: parsed strictly, UTF-8 checked.  Returns it (json_object_put).
 */
static struct json_object *parse_summary(const char *text)
{
	static const char *const keys[] = {
		"source", "output", "bytes_read", "bytes_written", "bytes_skipped", "seconds",
		"throughput_bytes_per_second", "checksum", "verified", "metadata",
	};
	struct json_tokener *tok = json_tokener_new();
	struct json_object *j;
	size_t len = strlen(text), i = 0;

	ck_assert_msg(len && text[len - 1] == '\n' && !memchr(text, '\n', len - 1),
		      "not one line: `%s'", text);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	j = json_tokener_parse_ex(tok, text, (int)len - 1);
	ck_assert_msg(j && json_tokener_get_error(tok) == json_tokener_success,
		      "invalid JSON (%s): `%s'",
		      json_tokener_error_desc(json_tokener_get_error(tok)), text);
	ck_assert_int_eq(json_tokener_get_parse_end(tok), len - 1);
	json_tokener_free(tok);
	ck_assert(json_object_is_type(j, json_type_object));
	json_object_object_foreach(j, key, val) {
		(void)val;
		ck_assert_msg(i < sizeof(keys) / sizeof(keys[0]), "extra key %s", key);
		ck_assert_str_eq(key, keys[i]);
		i++;
	}
	ck_assert_uint_eq(i, sizeof(keys) / sizeof(keys[0]));
	return j;
}

static struct json_object *get(struct json_object *j, const char *key, enum json_type t)
{
	struct json_object *v = json_object_object_get(j, key);

	ck_assert_msg(json_object_is_type(v, t), "%s is a %s", key,
		      json_type_to_name(json_object_get_type(v)));
	return v;
}

static void check_str(struct json_object *j, const char *key, const char *want)
{
	ck_assert_str_eq(json_object_get_string(get(j, key, json_type_string)), want);
}

static void check_counts(struct json_object *j, int64_t written, int64_t skipped)
{
	ck_assert_int_eq(json_object_get_int64(get(j, "bytes_read", json_type_int)), SRC_SIZE);
	ck_assert_int_eq(json_object_get_int64(get(j, "bytes_written", json_type_int)),
			 written);
	ck_assert_int_eq(json_object_get_int64(get(j, "bytes_skipped", json_type_int)),
			 skipped);
	ck_assert(json_object_get_double(get(j, "seconds", json_type_double)) >= 0);
	/* a whole number, as before json-c wrote it: "%.0f" */
	ck_assert(json_object_get_int64(get(j, "throughput_bytes_per_second", json_type_int))
		  >= 0);
}

/* "ALG:HEX" with hex digits of the algorithm's length. */
static void check_checksum(struct json_object *j, const char *alg, size_t hex)
{
	const char *s = json_object_get_string(get(j, "checksum", json_type_string));
	size_t n = strlen(alg);

	ck_assert_msg(!strncmp(s, alg, n) && s[n] == ':' && strlen(s + n + 1) == hex &&
		      strspn(s + n + 1, "0123456789abcdef") == hex, "checksum %s", s);
}

START_TEST(json_hostile_names)
{
	const char *argv[] = { "--json", src, out, NULL };
	char want[PATH_MAX];
	struct json_object *j;

	assert_exit(run(TO_LOG, TO_LOG, argv), 0, "--json SRC OUT");
	j = parse_summary(slurp(out_log));
	snprintf(want, sizeof(want), "%s/src" HOSTILE_JSON ".img", dir);
	check_str(j, "source", want);
	snprintf(want, sizeof(want), "%s/out" HOSTILE_JSON ".img", dir);
	check_str(j, "output", want);
	check_counts(j, SRC_SIZE / 2, SRC_SIZE / 2);
	check_checksum(j, "xxh64", 16);
	ck_assert(!json_object_get_boolean(get(j, "verified", json_type_boolean)));
	get(j, "metadata", json_type_null);	/* not a cowsnap image */
	json_object_put(j);
	/* the image itself has the exact name given */
	ck_assert_int_eq(file_size(out), SRC_SIZE);
	ck_assert_int_eq(file_size(partial), -1);
}
END_TEST

/* The image on standard output, the summary on stderr: nulls, not gaps. */
START_TEST(json_stream_no_checksum)
{
	const char *argv[] = { "--json", "--checksum", "none", src, NULL };
	char want[PATH_MAX];
	struct json_object *j;

	assert_exit(run(TO_LOG, TO_LOG, argv), 0, "--json --checksum none SRC");
	ck_assert_int_eq(file_size(out_log), SRC_SIZE);
	j = parse_summary(slurp(err_log));
	snprintf(want, sizeof(want), "%s/src" HOSTILE_JSON ".img", dir);
	check_str(j, "source", want);
	check_str(j, "output", "-");
	check_counts(j, SRC_SIZE, 0);
	get(j, "checksum", json_type_null);
	ck_assert(!json_object_get_boolean(get(j, "verified", json_type_boolean)));
	get(j, "metadata", json_type_null);
	json_object_put(j);
}
END_TEST

START_TEST(json_verify_xxh128)
{
	const char *argv[] = { "--json", "--verify", "--no-sparse", "--checksum", "xxh128",
			       src, out, NULL };
	struct json_object *j;

	assert_exit(run(TO_LOG, TO_LOG, argv), 0, "--json --verify SRC OUT");
	j = parse_summary(slurp(out_log));
	check_counts(j, SRC_SIZE, 0);
	check_checksum(j, "xxh128", 32);
	ck_assert(json_object_get_boolean(get(j, "verified", json_type_boolean)));
	json_object_put(j);
}
END_TEST

/* snapread SRC | head -c1: the image stream is cut short. */
START_TEST(stream_to_closed_stdout)
{
	const char *argv[] = { src, NULL };
	const char *err;

	assert_exit(run(TO_CLOSED_PIPE, TO_LOG, argv), EXIT_CLOSED, "SRC | (closed)");
	err = slurp(err_log);
	ck_assert_msg(strstr(err, "standard output") && strstr(err, "incomplete"),
		      "message: %s", err);
}
END_TEST

/* snapread [--json] SRC OUT | head -c1: OUT is complete, the summary lost. */
START_TEST(summary_to_closed_stdout)
{
	const char *json[] = { "--json", src, out, NULL };
	const char *line[] = { "--force", src, out, NULL };
	const char *err;

	assert_exit(run(TO_CLOSED_PIPE, TO_LOG, json), EXIT_CLOSED, "--json SRC OUT | (closed)");
	err = slurp(err_log);
	ck_assert_msg(strstr(err, "standard output") && strstr(err, "complete"),
		      "message: %s", err);
	ck_assert_int_eq(file_size(out), SRC_SIZE);
	ck_assert_int_eq(file_size(partial), -1);

	assert_exit(run(TO_CLOSED_PIPE, TO_LOG, line), EXIT_CLOSED, "SRC OUT | (closed)");
	err = slurp(err_log);
	ck_assert_msg(strstr(err, "checksum") && strstr(err, "standard output"),
		      "message: %s", err);
	ck_assert_int_eq(file_size(out), SRC_SIZE);
	ck_assert_int_eq(file_size(partial), -1);
}
END_TEST

/* snapread --progress SRC OUT 2>&1 | head -c1: the copy goes on. */
START_TEST(progress_to_closed_stderr)
{
	const char *argv[] = { "--progress", src, out, NULL };

	assert_exit(run(TO_LOG, TO_CLOSED_PIPE, argv), 0, "--progress SRC OUT 2>(closed)");
	ck_assert_int_eq(file_size(out), SRC_SIZE);
	ck_assert_int_eq(file_size(partial), -1);
	/* the checksum line, on stdout */
	ck_assert_msg(strspn(slurp(out_log), "0123456789abcdef") == 16 &&
		      !strncmp(slurp(out_log) + 16, "  ", 2), "stdout: %s", slurp(out_log));
}
END_TEST

START_TEST(help_to_closed_stdout)
{
	const char *help[] = { "--help", NULL };
	const char *version[] = { "--version", NULL };

	assert_exit(run(TO_CLOSED_PIPE, TO_LOG, help), EXIT_CLOSED, "--help | (closed)");
	ck_assert_msg(strstr(slurp(err_log), "standard output"), "message: %s", slurp(err_log));
	assert_exit(run(TO_CLOSED_PIPE, TO_LOG, version), EXIT_CLOSED, "--version | (closed)");
}
END_TEST

/* report_str: each maximal invalid prefix becomes one U+FFFD (as Python's
 * bytes.decode("utf-8", "replace")); valid UTF-8 is kept as it is. */
START_TEST(utf8_replacement)
{
#define R "\xef\xbf\xbd"
	static const char *const cases[][2] = {
		{ "/var/tmp/img", "/var/tmp/img" },
		{ "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" },
		{ "\xe0\xa0\x80\xed\x9f\xbf\xf4\x8f\xbf\xbf", "\xe0\xa0\x80\xed\x9f\xbf\xf4\x8f\xbf\xbf" },
		{ "\xff", R },
		{ "a\x80" "b", "a" R "b" },
		{ "\xc0\x80", R R },			/* overlong */
		{ "\xe0\x80\x80", R R R },		/* overlong */
		{ "\xed\xa0\x80", R R R },		/* a surrogate */
		{ "\xf4\x90\x80\x80", R R R R },	/* above U+10FFFF */
		{ "\xf5\x80", R R },
		{ "\xe2\x82", R },			/* cut short at the end */
		{ "\xe2\x82x", R "x" },
		{ "\xf0\x9f\x98" "A", R "A" },
	};
#undef R
	struct json_object *j;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		j = report_str(cases[i][0]);
		ck_assert_msg(!strcmp(json_object_get_string(j), cases[i][1]), "case %zu", i);
		json_object_put(j);
	}
	ck_assert_ptr_null(report_str(NULL));
}
END_TEST

/* What json-c escapes; `/' and numbers as snapread wrote them before. */
START_TEST(report_escapes)
{
	struct json_object *j = json_object_new_object();
	FILE *f = tmpfile();
	char line[256] = "";

	ck_assert_ptr_nonnull(f);
	json_object_object_add(j, "s", report_str("a/\"\\\n\x01\x7f"));
	json_object_object_add(j, "n", report_u64(1ULL << 40));
	json_object_object_add(j, "t", report_fixed(0.0625, 3));
	json_object_object_add(j, "r", report_fixed(1e9 / 3, 0));
	json_object_object_add(j, "null", report_str(NULL));
	ck_assert_int_eq(report_print(f, j), 0);
	rewind(f);
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
	ck_assert_str_eq(line, "{\"s\":\"a/\\\"\\\\\\n\\u0001\x7f\",\"n\":1099511627776,"
			 "\"t\":0.062,\"r\":333333333,\"null\":null}\n");
	fclose(f);
}
END_TEST

/* -b takes the sizes every tool takes (tools/lib/size.c), and says why not. */
START_TEST(block_sizes)
{
	static const struct { const char *arg, *why; } bad[] = {
		{ "1.5M", "a whole number" }, { "16E", "a whole number" },
		{ " 1M", "a whole number" }, { "1M ", "a whole number" },
		{ "-1", "a whole number" }, { "", "a whole number" },
		{ "3k", "a power of two" }, { "128M", "a power of two" },
	};
	const char *argv[] = { "-b", NULL, "--force", src, out, NULL };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		argv[1] = bad[i].arg;
		assert_exit(run(TO_LOG, TO_LOG, argv), EXIT_USAGE, bad[i].arg);
		ck_assert_msg(strstr(slurp(err_log), "invalid block size") &&
			      strstr(slurp(err_log), bad[i].why), "-b `%s': %s", bad[i].arg,
			      slurp(err_log));
	}
	argv[1] = "64KiB";
	assert_exit(run(TO_LOG, TO_LOG, argv), 0, "-b 64KiB");
	ck_assert_int_eq(file_size(out), SRC_SIZE);
}
END_TEST

static Suite *snapread_suite(void)
{
	Suite *s = suite_create("snapread output");
	TCase *tc = tcase_create("report");

	tcase_add_test(tc, utf8_replacement);
	tcase_add_test(tc, report_escapes);
	suite_add_tcase(s, tc);

	tc = tcase_create("json");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, json_hostile_names);
	tcase_add_test(tc, json_stream_no_checksum);
	tcase_add_test(tc, json_verify_xxh128);
	tcase_add_test(tc, block_sizes);
	suite_add_tcase(s, tc);

	tc = tcase_create("closed output");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, stream_to_closed_stdout);
	tcase_add_test(tc, summary_to_closed_stdout);
	tcase_add_test(tc, progress_to_closed_stderr);
	tcase_add_test(tc, help_to_closed_stdout);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(snapread_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
