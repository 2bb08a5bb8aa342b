// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Hook writers (see writers.h): configuration, running hooks with bounded
 * time, and the writer side of a session: prepare, freeze in order, thaw in
 * reverse, post-snapshot and backup-complete, abort on failure.
 * Runs synchronously in the daemon's loop; every wait is bounded by the
 * writer's timeouts.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "daemon.h"
#include "log.h"
#include "writers.h"

int cs_parse_duration(const char *s, unsigned *ms)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	v = strtoull(s, &end, 10);
	if (!strcmp(end, "ms"))
		;
	else if (!strcmp(end, "s") || !*end)
		v *= 1000;
	else if (!strcmp(end, "m"))
		v *= 60000;
	else
		return -EINVAL;
	if (!v || v > 24ULL * 3600 * 1000)
		return -EINVAL;
	*ms = (unsigned)v;
	return 0;
}

int cs_writer_conf_parse(FILE *f, const char *file, struct cs_writer *w,
			 struct cs_error *err)
{
	char line[CS_PATH_MAX + 64], *key, *val;
	unsigned lineno = 0;
	int ret;

	w->order = CS_ORDER_BACK_END;
	w->freeze_timeout_ms = 60000;
	w->event_timeout_ms = 30000;
	w->exec[0] = '\0';
	w->hold_pid = 0;
	w->hold_stdin = -1;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		ret = cs_conf_split(line, file, lineno, &key, &val, err);
		if (ret <= 0) {
			if (ret < 0)
				return ret;
			continue;
		}
		if (!strcmp(key, "exec")) {
			if (val[0] != '/' || strlen(val) > CS_PATH_MAX) {
				cs_error_set(err, EINVAL, "%s:%u: exec `%s' is not an absolute path",
					     file, lineno, val);
				return -EINVAL;
			}
			strcpy(w->exec, val);
		} else if (!strcmp(key, "order")) {
			if (!strcmp(val, "front-end"))
				w->order = CS_ORDER_FRONT_END;
			else if (!strcmp(val, "back-end"))
				w->order = CS_ORDER_BACK_END;
			else if (!strcmp(val, "system"))
				w->order = CS_ORDER_SYSTEM;
			else {
				cs_error_set(err, EINVAL, "%s:%u: order `%s' is not front-end, "
					     "back-end or system", file, lineno, val);
				return -EINVAL;
			}
		} else if (!strcmp(key, "freeze-timeout") || !strcmp(key, "event-timeout")) {
			unsigned ms;

			if (cs_parse_duration(val, &ms)) {
				cs_error_set(err, EINVAL, "%s:%u: invalid duration `%s' (e.g. 60s, "
					     "500ms, 2m)", file, lineno, val);
				return -EINVAL;
			}
			if (key[0] == 'f')
				w->freeze_timeout_ms = ms;
			else
				w->event_timeout_ms = ms;
		} else {
			cs_error_set(err, EINVAL, "%s:%u: unknown setting `%s'", file, lineno, key);
			return -EINVAL;
		}
	}
	if (!w->exec[0]) {
		cs_error_set(err, EINVAL, "%s: no `exec PATH' line", file);
		return -EINVAL;
	}
	return 0;
}

static int cmp_writer(const void *a, const void *b)
{
	const struct cs_writer *x = a, *y = b;

	if (x->order != y->order)
		return x->order - y->order;
	return strcmp(x->name, y->name);
}

void cs_writers_free(struct cowsnapd *d)
{
	for (size_t i = 0; i < d->writers.n; i++) {
		struct cs_writer *w = &d->writers.w[i];

		if (w->hold_stdin >= 0)
			close(w->hold_stdin);
		if (w->hold_pid > 0) {
			kill(-w->hold_pid, SIGTERM);
			waitpid(w->hold_pid, NULL, 0);
		}
	}
	free(d->writers.w);
	d->writers.w = NULL;
	d->writers.n = 0;
}

int cs_writers_load(struct cowsnapd *d, struct cs_error *err)
{
	char dir[PATH_MAX], path[PATH_MAX + 256];
	struct dirent *de;
	DIR *dh;

	snprintf(dir, sizeof(dir), "%s/writers.d", d->config_dir);
	dh = opendir(dir);
	if (!dh)
		return errno == ENOENT ? 0 : (cs_error_set(err, errno, "cannot read %s: %s", dir,
						 strerror(errno)), -errno);
	while ((de = readdir(dh))) {
		size_t len = strlen(de->d_name);
		struct cs_writer w = { 0 }, *n;
		struct cs_error e;
		FILE *f;
		int ret;

		if (len <= 5 || strcmp(de->d_name + len - 5, ".conf") || len - 5 > CS_NAME_MAX)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		memcpy(w.name, de->d_name, len - 5);
		ret = cs_writer_conf_parse(f, path, &w, &e);
		fclose(f);
		if (ret) {
			cs_warn("writer %s left out: %s", w.name, e.message);
			continue;
		}
		n = realloc(d->writers.w, (d->writers.n + 1) * sizeof(*n));
		if (!n)
			break;
		d->writers.w = n;
		n[d->writers.n++] = w;
	}
	closedir(dh);
	if (d->writers.n)
		qsort(d->writers.w, d->writers.n, sizeof(*d->writers.w), cmp_writer);
	cs_info("%zu hook writer(s) from %s", d->writers.n, dir);
	return 0;
}

/* ------------------------------------------------------------------ */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

enum hook_result { HOOK_OK, HOOK_HELD, HOOK_FAILED };

static const char *const event_names[] = {
	"prepare-backup", "prepare-snapshot", "freeze", "thaw", "post-snapshot",
	"backup-complete", "abort", "backup-shutdown",
};
enum { EV_PREPARE_BACKUP, EV_PREPARE_SNAPSHOT, EV_FREEZE, EV_THAW, EV_POST_SNAPSHOT,
       EV_BACKUP_COMPLETE, EV_ABORT, EV_BACKUP_SHUTDOWN };

static void kill_and_reap(pid_t pid)
{
	kill(-pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* Wait for pid (via pidfd) until deadline; 0 with *status, or -ETIMEDOUT. */
static int wait_exit(pid_t pid, int pidfd, int64_t deadline, int *status)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	for (;;) {
		int64_t left = deadline - now_ms();

		if (waitpid(pid, status, WNOHANG) == pid)
			return 0;
		if (left <= 0)
			return -ETIMEDOUT;
		poll(&p, 1, (int)left);
	}
}

static void fail_writer(struct cs_writer *w, int state, int error, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void fail_writer(struct cs_writer *w, int state, int error, const char *fmt, ...)
{
	va_list ap;

	w->state = state;
	w->error = error;
	va_start(ap, fmt);
	vsnprintf(w->last_message, sizeof(w->last_message), fmt, ap);
	va_end(ap);
	cs_warn("writer %s: %s", w->name, w->last_message);
}

/* Classify an exit status into the writer's error; 0 when it succeeded. */
static int status_error(int status)
{
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return CS_WE_NONE;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 75)
		return CS_WE_RETRYABLE;
	return CS_WE_NONRETRYABLE;
}

static void describe_status(int status, char *buf, size_t size)
{
	if (WIFEXITED(status))
		snprintf(buf, size, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, size, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(buf, size, "ended oddly");
}

/*
 * Run `exec EVENT'.  For freeze, the hook may print `frozen' and keep
 * running: HOOK_HELD, with w->hold_pid and w->hold_stdin set.  On failure
 * *error and msg say what happened.
 */
static enum hook_result run_hook(struct cs_writer *w, int ev,
				 const struct cs_session_env *env, int *error,
				 char *msg, size_t msgsize)
{
	unsigned timeout = ev == EV_FREEZE ? w->freeze_timeout_ms : w->event_timeout_ms;
	int64_t deadline = now_ms() + timeout;
	int in[2], out[2], pidfd, status;
	char buf[512], setid[32], why[40];
	size_t got = 0;
	pid_t pid;

	*error = CS_WE_NONE;
	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC)) {
		*error = CS_WE_OUT_OF_RESOURCES;
		snprintf(msg, msgsize, "%s: pipe: %s", event_names[ev], strerror(errno));
		return HOOK_FAILED;
	}
	snprintf(setid, sizeof(setid), "%" PRIu64, env->set_id);
	pid = fork();
	if (pid == 0) {
		setpgid(0, 0);
		dup2(in[0], 0);
		dup2(out[1], 1);
		close_range(3, ~0U, 0);
		setenv("COWSNAP_EVENT", event_names[ev], 1);
		setenv("COWSNAP_WRITER", w->name, 1);
		setenv("COWSNAP_SET_ID", env->set_id ? setid : "", 1);
		setenv("COWSNAP_VOLUMES", env->volumes, 1);
		setenv("COWSNAP_BACKUP_TYPE", env->backup_type ? env->backup_type : "full", 1);
		if (env->success)
			setenv("COWSNAP_BACKUP_SUCCESS", env->success, 1);
		execl(w->exec, w->exec, event_names[ev], (char *)NULL);
		fprintf(stderr, "cowsnapd: writer %s: cannot run %s: %s\n", w->name, w->exec,
			strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	if (pid < 0) {
		close(in[1]);
		close(out[0]);
		*error = CS_WE_OUT_OF_RESOURCES;
		snprintf(msg, msgsize, "%s: fork: %s", event_names[ev], strerror(errno));
		return HOOK_FAILED;
	}
	setpgid(pid, pid);
	pidfd = pidfd_open(pid, 0);
	for (;;) {
		struct pollfd p[2] = { { .fd = out[0], .events = POLLIN },
				       { .fd = pidfd, .events = POLLIN } };
		int64_t left = deadline - now_ms();
		ssize_t n;

		if (left <= 0) {
			kill_and_reap(pid);
			*error = CS_WE_TIMEOUT;
			snprintf(msg, msgsize, "%s did not finish within %u ms", event_names[ev],
				 timeout);
			goto failed;
		}
		if (p[0].fd < 0 && waitpid(pid, &status, WNOHANG) == pid)
			break;
		poll(p, 2, (int)left);
		if (p[0].fd >= 0 && (p[0].revents & (POLLIN | POLLHUP))) {
			n = read(out[0], buf + got, sizeof(buf) - 1 - got);
			if (n <= 0) {
				/* stdout closed: now only the exit matters */
				close(out[0]);
				out[0] = -1;
				continue;
			}
			got += (size_t)n;
			buf[got] = '\0';
			if (ev == EV_FREEZE && (strstr(buf, "frozen\n") == buf ||
						strstr(buf, "\nfrozen\n"))) {
				w->hold_pid = pid;
				w->hold_stdin = in[1];
				close(out[0]);
				close(pidfd);
				return HOOK_HELD;
			}
			if (got == sizeof(buf) - 1)
				got = 0;	/* chatter: keep reading */
		}
		if (out[0] < 0 || (p[1].revents & POLLIN)) {
			if (waitpid(pid, &status, WNOHANG) == pid)
				break;
		}
	}
	close(in[1]);
	if (out[0] >= 0)
		close(out[0]);
	close(pidfd);
	*error = status_error(status);
	if (*error == CS_WE_NONE)
		return HOOK_OK;
	describe_status(status, why, sizeof(why));
	snprintf(msg, msgsize, "%s %s%s", event_names[ev], why,
		 *error == CS_WE_RETRYABLE ? " (retryable veto)" : "");
	return HOOK_FAILED;
failed:
	close(in[1]);
	if (out[0] >= 0)
		close(out[0]);
	close(pidfd);
	return HOOK_FAILED;
}

/* Release a freeze hook that holds its application: end of file on its
 * stdin, then it must exit 0 within event-timeout. */
static int release_hold(struct cs_writer *w, char *msg, size_t msgsize)
{
	int pidfd, status, ret;
	char buf[64];

	if (w->hold_pid <= 0)
		return CS_WE_NONE;
	close(w->hold_stdin);
	w->hold_stdin = -1;
	pidfd = pidfd_open(w->hold_pid, 0);
	ret = wait_exit(w->hold_pid, pidfd, now_ms() + w->event_timeout_ms, &status);
	if (pidfd >= 0)
		close(pidfd);
	if (ret) {
		kill_and_reap(w->hold_pid);
		w->hold_pid = 0;
		snprintf(msg, msgsize, "the freeze hook did not let go within %u ms of thaw",
			 w->event_timeout_ms);
		return CS_WE_TIMEOUT;
	}
	w->hold_pid = 0;
	ret = status_error(status);
	if (ret) {
		describe_status(status, buf, sizeof(buf));
		snprintf(msg, msgsize, "the freeze hook %s at thaw", buf);
	}
	return ret;
}

static const int failed_state[] = {
	[EV_PREPARE_BACKUP] = CS_WS_FAILED_AT_PREPARE_BACKUP,
	[EV_PREPARE_SNAPSHOT] = CS_WS_FAILED_AT_PREPARE_SNAPSHOT,
	[EV_FREEZE] = CS_WS_FAILED_AT_FREEZE,
	[EV_THAW] = CS_WS_FAILED_AT_THAW,
	[EV_POST_SNAPSHOT] = CS_WS_FAILED_AT_POST_SNAPSHOT,
	[EV_BACKUP_COMPLETE] = CS_WS_FAILED_AT_BACKUP_COMPLETE,
};

/* One event to one writer; 0, or -EIO with err naming the writer. */
static int send_event(struct cs_writer *w, int ev, struct cs_session_env *env,
		      int next_state, struct cs_error *err)
{
	char msg[CS_ERRMSG_MAX - 64];
	int error;
	enum hook_result r;

	cs_dbg("writer %s: %s", w->name, event_names[ev]);
	r = run_hook(w, ev, env, &error, msg, sizeof(msg));
	if (r == HOOK_FAILED) {
		fail_writer(w, failed_state[ev], error, "%s", msg);
		cs_error_set(err, EIO, "writer %s failed: %s", w->name, msg);
		return -EIO;
	}
	w->state = next_state;
	return 0;
}

int cs_writers_prepare(struct cowsnapd *d, struct cs_session_env *env,
		       struct cs_error *err)
{
	int ret;

	/* a new session: the last one's failures are history */
	for (size_t i = 0; i < d->writers.n; i++) {
		d->writers.w[i].state = CS_WS_STABLE;
		d->writers.w[i].error = CS_WE_NONE;
		d->writers.w[i].last_message[0] = '\0';
	}
	for (size_t i = 0; i < d->writers.n; i++) {
		ret = send_event(&d->writers.w[i], EV_PREPARE_BACKUP, env, CS_WS_STABLE, err);
		if (ret)
			return ret;
	}
	for (size_t i = 0; i < d->writers.n; i++) {
		ret = send_event(&d->writers.w[i], EV_PREPARE_SNAPSHOT, env,
				 CS_WS_WAITING_FOR_FREEZE, err);
		if (ret)
			return ret;
	}
	return 0;
}

int cs_writers_freeze(struct cowsnapd *d, struct cs_session_env *env,
		      struct cs_error *err)
{
	/* writers are sorted front-end, back-end, system */
	for (size_t i = 0; i < d->writers.n; i++) {
		int ret = send_event(&d->writers.w[i], EV_FREEZE, env, CS_WS_WAITING_FOR_THAW,
				     err);

		if (ret)
			return ret;
	}
	return 0;
}

int cs_writers_thaw(struct cowsnapd *d, struct cs_session_env *env,
		    struct cs_error *err)
{
	int ret = 0;

	for (size_t i = d->writers.n; i-- > 0;) {
		struct cs_writer *w = &d->writers.w[i];
		char msg[CS_ERRMSG_MAX - 64];
		int error;

		if (w->state != CS_WS_WAITING_FOR_THAW && w->state != CS_WS_FAILED_AT_FREEZE &&
		    w->hold_pid <= 0)
			continue;
		error = release_hold(w, msg, sizeof(msg));
		if (error) {
			fail_writer(w, CS_WS_FAILED_AT_THAW, error, "%s", msg);
			if (!ret)
				cs_error_set(err, EIO, "writer %s failed: %s", w->name, msg);
			ret = -EIO;
		}
		/* thaw goes to every writer that got freeze, even if it failed */
		if (send_event(w, EV_THAW, env, error ? w->state :
			       w->state == CS_WS_FAILED_AT_FREEZE ? w->state :
			       CS_WS_WAITING_FOR_POST_SNAPSHOT, err))
			ret = -EIO;
	}
	return ret;
}

int cs_writers_post_snapshot(struct cowsnapd *d, struct cs_session_env *env,
			     struct cs_error *err)
{
	int ret;

	for (size_t i = 0; i < d->writers.n; i++) {
		ret = send_event(&d->writers.w[i], EV_POST_SNAPSHOT, env,
				 CS_WS_WAITING_FOR_BACKUP_COMPLETE, err);
		if (ret)
			return ret;
	}
	return 0;
}

void cs_writers_shutdown(struct cowsnapd *d, struct cs_session_env *env)
{
	for (size_t i = 0; i < d->writers.n; i++) {
		struct cs_writer *w = &d->writers.w[i];
		char msg[CS_ERRMSG_MAX - 64];
		int error;

		if (run_hook(w, EV_BACKUP_SHUTDOWN, env, &error, msg, sizeof(msg)) == HOOK_FAILED)
			cs_warn("writer %s: %s", w->name, msg);
		if (w->error == CS_WE_NONE)
			w->state = CS_WS_STABLE;
	}
}

int cs_writers_complete(struct cowsnapd *d, struct cs_session_env *env,
			struct cs_error *err)
{
	int ret;

	for (size_t i = 0; i < d->writers.n; i++) {
		ret = send_event(&d->writers.w[i], EV_BACKUP_COMPLETE, env, CS_WS_STABLE, err);
		if (ret)
			return ret;
	}
	return 0;
}

void cs_writers_abort(struct cowsnapd *d, struct cs_session_env *env)
{
	struct cs_error e;

	cs_writers_thaw(d, env, &e);
	for (size_t i = 0; i < d->writers.n; i++) {
		struct cs_writer *w = &d->writers.w[i];
		char msg[CS_ERRMSG_MAX - 64];
		int error;

		if (run_hook(w, EV_ABORT, env, &error, msg, sizeof(msg)) == HOOK_FAILED)
			cs_warn("writer %s: %s", w->name, msg);
		/* a failed writer keeps its FAILED_AT state and error */
		if (w->error == CS_WE_NONE)
			w->state = CS_WS_STABLE;
	}
}
