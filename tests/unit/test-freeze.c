// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Check tests of the bound on how long writers stay frozen (daemon/
 * writers.c): each writer's freeze window (freeze-timeout from its freeze
 * event) and cowsnapd's --max-freeze bound them all, so a writer frozen
 * first cannot be held by the writers after it, nor by a hook that does not
 * let go.  The deadline computation is tested as it is; the rest with hook
 * writers (shell scripts) run through the session's own entry points.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "daemon.h"
#include "writers.h"

/* what a bound may be overrun by on a busy machine */
#define MARGIN_MS	1500

static char dir[64];

/*
 * clock_gettime as the daemon sees it (test-freeze links with
 * --wrap=clock_gettime): with tick_ms set, CLOCK_MONOTONIC moves on that
 * much at every read, as on a slow machine where milliseconds pass between
 * two lines of the session.
 */
static int64_t tick_ms, skew_ms;
int __real_clock_gettime(clockid_t clk, struct timespec *ts);
int __wrap_clock_gettime(clockid_t clk, struct timespec *ts);

int __wrap_clock_gettime(clockid_t clk, struct timespec *ts)
{
	int ret = __real_clock_gettime(clk, ts);

	if (ret || clk != CLOCK_MONOTONIC || !tick_ms)
		return ret;
	skew_ms += tick_ms;
	ts->tv_sec += skew_ms / 1000;
	ts->tv_nsec += (skew_ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

START_TEST(deadline_ceiling_alone)
{
	ck_assert_int_eq(cs_freeze_deadline(1000, 60000, NULL, 0), 61000);
}
END_TEST

START_TEST(deadline_earliest_window)
{
	/* a froze at 1000 for 30 s, b at 5000 for 60 s: a's window ends first */
	struct cs_freeze_window w[] = { { 1000, 30000 }, { 5000, 60000 } };

	ck_assert_int_eq(cs_freeze_deadline(1000, 60000, w, 2), 31000);
	/* a later writer's short window ends before a's */
	w[1].timeout_ms = 2000;
	ck_assert_int_eq(cs_freeze_deadline(1000, 60000, w, 2), 7000);
}
END_TEST

START_TEST(deadline_ceiling_bounds_long_windows)
{
	/* a socket writer may declare 24 h; the ceiling counts from the phase */
	struct cs_freeze_window w[] = { { 2000, 86400000 }, { 9000, 86400000 } };

	ck_assert_int_eq(cs_freeze_deadline(1500, 10000, w, 2), 11500);
	/* monotonic times far from 0 do not overflow */
	w[0].start_ms = w[1].start_ms = INT64_C(1) << 50;
	ck_assert_int_eq(cs_freeze_deadline(INT64_C(1) << 50, 60000, w, 2),
			 (INT64_C(1) << 50) + 60000);
}
END_TEST

/* A socket writer that declares a freeze timeout above the ceiling. */
START_TEST(socket_writer_clamped)
{
	struct cowsnapd d = { .max_freeze_ms = 20000 };
	struct cs_wmd wmd = {
		.name = "long", .class_id = "5f1a0c0e-2b7e-4c11-9a3b-6f0d8e1c2a44",
		.order = 1, .nbackup_types = 1, .freeze_timeout_ms = 86400000,
	};
	struct cs_error err = { 0 };

	/* the writer takes the document's arrays over */
	wmd.backup_types = calloc(1, sizeof(*wmd.backup_types));
	ck_assert_ptr_nonnull(wmd.backup_types);

	ck_assert_msg(cs_writers_register(&d, NULL, 42, &wmd, &err) == 0, "%s", err.message);
	ck_assert_uint_eq(d.writers.n, 1);
	ck_assert_uint_eq(d.writers.w[0].freeze_timeout_ms, 20000);
	cs_writers_free(&d);
}
END_TEST

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/var/tmp/test-freeze.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		fprintf(stderr, "test-freeze: could not remove %s\n", dir);
}

/* Hook writer i of d: logs `NAME EVENT' for every event to dir/log, and
 * runs freeze for its freeze event. */
static void hook(struct cowsnapd *d, size_t i, const char *name, int order,
		 const char *freeze, unsigned freeze_ms, unsigned event_ms)
{
	struct cs_writer *w = &d->writers.w[i];
	FILE *f;

	memset(w, 0, sizeof(*w));
	snprintf(w->exec, sizeof(w->exec), "%s/%s", dir, name);
	f = fopen(w->exec, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "#!/bin/sh\necho \"$COWSNAP_WRITER $1\" >> %s/log\n"
		"[ \"$1\" = freeze ] || exit 0\n%s\n", dir, freeze);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(w->exec, 0755), 0);
	snprintf(w->name, sizeof(w->name), "%s", name);
	w->kind = CS_WRITER_HOOK;
	w->order = order;
	w->freeze_timeout_ms = freeze_ms;
	w->event_timeout_ms = event_ms;
	w->hold_stdin = -1;
	w->selected = true;
}

static void writers(struct cowsnapd *d, size_t n)
{
	d->writers.w = calloc(n, sizeof(*d->writers.w));
	ck_assert_ptr_nonnull(d->writers.w);
	d->writers.n = n;
}

/* dir/log, the events the hooks saw */
static const char *hook_log(void)
{
	static char buf[4096];
	char path[128];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/log", dir);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* A holding writer that lets go at end of file, logging it. */
#define HOLDS "echo frozen\ncat > /dev/null\necho \"$COWSNAP_WRITER let go\" >> ${0%/*}/log"

/*
 * a (front end, freeze-timeout a_window_ms) freezes and holds; b (back
 * end) takes 30 s to freeze, within its 60 s freeze-timeout.  The freeze,
 * aborted when it fails: its result in *ret, how long it took returned.
 */
static int64_t hold_then_slow_freeze(struct cowsnapd *d, uint32_t a_window_ms, int *ret,
				     struct cs_error *err)
{
	struct cs_session_env env = { .volumes = "/dev/vdb" };
	int64_t t0;

	writers(d, 2);
	hook(d, 0, "a", CS_ORDER_FRONT_END, HOLDS, a_window_ms, 10000);
	hook(d, 1, "b", CS_ORDER_BACK_END, "sleep 30\necho frozen", 60000, 10000);
	t0 = now_ms();
	*ret = cs_writers_freeze(d, &env, err);
	if (*ret)
		cs_writers_abort(d, &env);
	return now_ms() - t0;
}

/*
 * a freezes first and holds; b takes 30 s to freeze, within its 60 s
 * freeze-timeout.  With --max-freeze 2 s, a may not stay frozen that long:
 * b's freeze is cut short, the session fails, a lets go and hears thaw and
 * abort, all within the ceiling.
 */
START_TEST(later_writer_cannot_extend_the_hold)
{
	struct cowsnapd d = { .signal_fd = -1, .max_freeze_ms = 2000 };
	struct cs_error err = { 0 };
	int ret;
	int64_t took = hold_then_slow_freeze(&d, 60000, &ret, &err);

	ck_assert_msg(ret == -EIO, "freeze: %d %s", ret, err.message);
	ck_assert_msg(took <= 2000 + MARGIN_MS, "a was held frozen %lld ms, the ceiling is "
		      "2000 ms", (long long)took);
	ck_assert_msg(strstr(err.message, "writer b failed: freeze did not finish within"),
		      "%s", err.message);
	ck_assert_int_eq(d.writers.w[1].state, CS_WS_FAILED_AT_FREEZE);
	ck_assert_int_eq(d.writers.w[1].error, CS_WE_TIMEOUT);
	ck_assert_int_eq(d.writers.w[0].error, CS_WE_NONE);
	ck_assert_str_eq(hook_log(), "a freeze\nb freeze\nb thaw\na let go\na thaw\n"
			 "a abort\nb abort\n");
	cs_writers_free(&d);
}
END_TEST

/* The same with each writer's own window: a's 1 s freeze-timeout ends
 * before the ceiling and bounds b's freeze. */
START_TEST(earlier_window_bounds_later_freeze)
{
	struct cowsnapd d = { .signal_fd = -1, .max_freeze_ms = 60000 };
	struct cs_error err = { 0 };
	int ret;
	int64_t took = hold_then_slow_freeze(&d, 1000, &ret, &err);

	ck_assert_msg(ret == -EIO, "freeze: %d %s", ret, err.message);
	ck_assert_msg(took <= 1000 + MARGIN_MS, "a was held frozen %lld ms, its window is "
		      "1000 ms", (long long)took);
	ck_assert_int_eq(d.writers.w[1].state, CS_WS_FAILED_AT_FREEZE);
	ck_assert_msg(strstr(hook_log(), "a let go\na thaw\na abort\n"), "%s", hook_log());
	cs_writers_free(&d);
}
END_TEST

/*
 * A writer alone, bound by its own freeze-timeout of 1 s, on a machine slow
 * enough that a millisecond passes between two readings of the clock: its
 * freeze gets its whole window and the message names the window, not a
 * freeze bound cut short by the writers before it (there are none).
 */
START_TEST(own_window_on_a_slow_clock)
{
	struct cowsnapd d = { .signal_fd = -1, .max_freeze_ms = 60000 };
	struct cs_session_env env = { .volumes = "/dev/vdb" };
	struct cs_error err = { 0 };
	int ret;

	writers(&d, 1);
	hook(&d, 0, "b", CS_ORDER_BACK_END, "exec sleep 30", 1000, 10000);
	tick_ms = 1;
	ret = cs_writers_freeze(&d, &env, &err);
	tick_ms = 0;
	ck_assert_msg(ret == -EIO, "freeze: %d %s", ret, err.message);
	ck_assert_str_eq(err.message, "writer b failed: freeze did not finish within 1000 ms");
	cs_writers_abort(&d, &env);
	cs_writers_free(&d);
}
END_TEST

/*
 * A freeze hook that says `frozen' and then sleeps instead of letting go at
 * end of file: its event-timeout of 30 s would hold the application that
 * long after thaw; --max-freeze 2 s kills it and fails it at thaw.
 */
START_TEST(hook_that_does_not_let_go)
{
	struct cowsnapd d = { .signal_fd = -1, .max_freeze_ms = 2000 };
	struct cs_session_env env = { .volumes = "/dev/vdb" };
	struct cs_error err = { 0 };
	int64_t t0, took;
	int ret;

	writers(&d, 1);
	hook(&d, 0, "a", CS_ORDER_BACK_END, "echo frozen\nexec sleep 30", 60000, 30000);
	t0 = now_ms();
	ck_assert_msg(cs_writers_freeze(&d, &env, &err) == 0, "%s", err.message);
	ret = cs_writers_thaw(&d, &env, &err);
	took = now_ms() - t0;
	ck_assert_msg(ret == -EIO, "thaw: %d %s", ret, err.message);
	ck_assert_msg(took <= 2000 + MARGIN_MS, "a held frozen for %lld ms, the ceiling is "
		      "2000 ms", (long long)took);
	ck_assert_int_eq(d.writers.w[0].state, CS_WS_FAILED_AT_THAW);
	ck_assert_int_eq(d.writers.w[0].error, CS_WE_TIMEOUT);
	ck_assert_msg(strstr(err.message, "did not let go within 2000 ms of thaw"), "%s",
		      err.message);
	cs_writers_abort(&d, &env);
	cs_writers_free(&d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("freeze");
	TCase *pure = tcase_create("deadline"), *hooks = tcase_create("hooks");
	SRunner *sr;
	int failed;

	tcase_add_test(pure, deadline_ceiling_alone);
	tcase_add_test(pure, deadline_earliest_window);
	tcase_add_test(pure, deadline_ceiling_bounds_long_windows);
	tcase_add_test(pure, socket_writer_clamped);
	suite_add_tcase(s, pure);
	tcase_add_checked_fixture(hooks, setup, teardown);
	tcase_set_timeout(hooks, 60);
	tcase_add_test(hooks, later_writer_cannot_extend_the_hold);
	tcase_add_test(hooks, earlier_window_bounds_later_freeze);
	tcase_add_test(hooks, hook_that_does_not_let_go);
	tcase_add_test(hooks, own_window_on_a_slow_clock);
	suite_add_tcase(s, hooks);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
