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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "daemon.h"
#include "log.h"
#include "writers.h"

static void writer_release(struct cs_writer *w);

int cs_parse_duration(const char *s, unsigned *ms)
{
	return cs_parse_duration_max(s, 24U * 3600 * 1000, ms);
}

int cs_parse_duration_max(const char *s, unsigned max_ms, unsigned *ms)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || v > max_ms)
		return -EINVAL;
	if (!strcmp(end, "ms"))
		;
	else if (!strcmp(end, "s") || !*end)
		v *= 1000;
	else if (!strcmp(end, "m"))
		v *= 60000;
	else if (!strcmp(end, "h"))
		v *= 3600000;
	else if (!strcmp(end, "d"))
		v *= 86400000;
	else
		return -EINVAL;
	if (!v || v > max_ms)
		return -EINVAL;
	*ms = (unsigned)v;
	return 0;
}

int64_t cs_freeze_deadline(int64_t phase_start, unsigned ceiling_ms,
			   const struct cs_freeze_window *w, size_t n)
{
	int64_t end = phase_start + ceiling_ms;

	for (size_t i = 0; i < n; i++)
		if (w[i].start_ms + w[i].timeout_ms < end)
			end = w[i].start_ms + w[i].timeout_ms;
	return end;
}

static unsigned max_freeze(const struct cowsnapd *d)
{
	return d->max_freeze_ms ? d->max_freeze_ms : CS_MAX_FREEZE_MS;
}

/* A freeze timeout above the ceiling could never be used: say so. */
static void clamp_freeze(const struct cowsnapd *d, struct cs_writer *w)
{
	if (w->freeze_timeout_ms <= max_freeze(d))
		return;
	cs_info("writer %s: freeze timeout of %u ms cut to cowsnapd's --max-freeze of %u ms",
		w->name, w->freeze_timeout_ms, max_freeze(d));
	w->freeze_timeout_ms = max_freeze(d);
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
		writer_release(w);
	}
	free(d->writers.w);
	d->writers.w = NULL;
	d->writers.n = 0;
}

int cs_writers_reload(struct cowsnapd *d, struct cs_error *err)
{
	size_t k = 0;

	/* socket writers stay registered; hook writers are read again */
	for (size_t i = 0; i < d->writers.n; i++) {
		struct cs_writer *w = &d->writers.w[i];

		if (w->kind == CS_WRITER_HOOK) {
			writer_release(w);
			continue;
		}
		if (k != i)
			d->writers.w[k] = *w;
		k++;
	}
	d->writers.n = k;
	return cs_writers_load(d, err);
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
		if (d->writers.n >= CS_MAX_WRITERS) {
			cs_warn("writer %s left out: more than %d writers", w.name,
				CS_MAX_WRITERS);
			writer_release(&w);
			continue;
		}
		clamp_freeze(d, &w);
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


enum hook_result { HOOK_OK, HOOK_HELD, HOOK_FAILED };

/*
 * How long a writer has for an event: freeze, no longer than the writers
 * frozen before it may wait (env->freeze_deadline).  Its freeze window
 * starts at w->freeze_start, which the deadline counts from: measured from
 * a later reading of the clock, a writer bound by its own window would lose
 * the milliseconds in between and be told the bound was cut short.
 */
static unsigned event_timeout(const struct cs_writer *w, int ev,
			      const struct cs_session_env *env)
{
	int64_t left;

	if (ev != CS_EV_FREEZE)
		return w->event_timeout_ms;
	left = env->freeze_deadline - (w->freeze_start ? w->freeze_start : cs_now_ms());
	if (!env->freeze_deadline || left >= w->freeze_timeout_ms)
		return w->freeze_timeout_ms;
	return left > 0 ? (unsigned)left : 0;
}

/* Why an event's time was short, for the message of its timeout. */
static const char *timeout_why(const struct cs_writer *w, int ev, unsigned timeout)
{
	if (ev == CS_EV_FREEZE && timeout < w->freeze_timeout_ms)
		return " (what was left of the freeze bound: cowsnapd's --max-freeze and "
		       "the freeze windows of the writers frozen before)";
	return "";
}

#define event_names cs_event_names

static void kill_and_reap(pid_t pid)
{
	kill(-pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* Wait for pid (via pidfd) until deadline; 0 with *status, or -ETIMEDOUT. */
static int wait_exit(struct cowsnapd *d, pid_t pid, int pidfd, int64_t deadline,
		     int *status)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	for (;;) {
		int64_t left = deadline - cs_now_ms();

		if (waitpid(pid, status, WNOHANG) == pid)
			return 0;
		if (left <= 0)
			return -ETIMEDOUT;
		cs_daemon_wait(d, &p, 1, (int)left);
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
 * A hook gets the signal state of a fresh process.  The daemon blocks
 * SIGTERM, SIGINT and SIGHUP (they are read from its signalfd) and ignores
 * SIGPIPE; both would pass through exec to the hook and to every process it
 * starts, where `kill', `timeout' and traps would then do nothing.  exec
 * resets handlers but not ignored signals, so every signal goes to SIG_DFL
 * (SIGKILL, SIGSTOP and glibc's internal ones refuse, harmlessly).
 */
static void default_signals(void)
{
	struct sigaction sa = { .sa_handler = SIG_DFL };
	sigset_t none;

	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* A hook's environment: the daemon's, and the event's COWSNAP_* variables
 * in place of any the daemon had itself. */
struct hook_env {
	char **envp;
	char vars[6][64 + CS_MAX_VOLUMES * CS_DEVNODE_SIZE];
	char snapshots[64 + CS_MAX_VOLUMES * 2 * CS_DEVNODE_SIZE];
	char writable[64];
	char fail[64 + CS_NAME_MAX + CS_PATH_MAX];	/* when exec fails */
};

static bool event_var(const char *e)
{
	static const char *const names[] = {
		"COWSNAP_EVENT=", "COWSNAP_WRITER=", "COWSNAP_SET_ID=", "COWSNAP_VOLUMES=",
		"COWSNAP_BACKUP_TYPE=", "COWSNAP_RESTORE_SUCCESS=", "COWSNAP_BACKUP_SUCCESS=",
		"COWSNAP_SNAPSHOTS=", "COWSNAP_IMAGES_WRITABLE=",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strncmp(e, names[i], strlen(names[i])))
			return true;
	return false;
}

/* Built before fork: between fork and exec the child only calls what is
 * async-signal-safe (the daemon may have a netlink thread running). */
static int hook_env_build(struct hook_env *h, const struct cs_writer *w, int ev,
			  const struct cs_session_env *env)
{
	size_t n = 0, k = 0;

	for (char **e = environ; *e; e++)
		n++;
	h->envp = calloc(n + sizeof(h->vars) / sizeof(h->vars[0]) + 3, sizeof(*h->envp));
	if (!h->envp)
		return -ENOMEM;
	for (char **e = environ; *e; e++)
		if (!event_var(*e))
			h->envp[k++] = *e;
	snprintf(h->vars[0], sizeof(h->vars[0]), "COWSNAP_EVENT=%s", event_names[ev]);
	snprintf(h->vars[1], sizeof(h->vars[1]), "COWSNAP_WRITER=%s", w->name);
	if (env->set_id)
		snprintf(h->vars[2], sizeof(h->vars[2]), "COWSNAP_SET_ID=%" PRIu64, env->set_id);
	else
		snprintf(h->vars[2], sizeof(h->vars[2]), "COWSNAP_SET_ID=");
	snprintf(h->vars[3], sizeof(h->vars[3]), "COWSNAP_VOLUMES=%s", env->volumes);
	snprintf(h->vars[4], sizeof(h->vars[4]), "COWSNAP_BACKUP_TYPE=%s",
		 env->backup_type ? env->backup_type : "full");
	for (size_t i = 0; i < 5; i++)
		h->envp[k++] = h->vars[i];
	if (env->success) {
		snprintf(h->vars[5], sizeof(h->vars[5]), "%s=%s",
			 ev == CS_EV_POST_RESTORE ? "COWSNAP_RESTORE_SUCCESS" :
			 "COWSNAP_BACKUP_SUCCESS", env->success);
		h->envp[k++] = h->vars[5];
	}
	if (cs_event_has_snapshots(ev) && env->snapshots[0]) {
		snprintf(h->snapshots, sizeof(h->snapshots), "COWSNAP_SNAPSHOTS=%s",
			 env->snapshots);
		snprintf(h->writable, sizeof(h->writable), "COWSNAP_IMAGES_WRITABLE=%d",
			 env->images_writable ? 1 : 0);
		h->envp[k++] = h->snapshots;
		h->envp[k++] = h->writable;
	}
	h->envp[k] = NULL;
	snprintf(h->fail, sizeof(h->fail), "cowsnapd: writer %s: cannot run %s: errno ",
		 w->name, w->exec);
	return 0;
}

/* In the forked child: `exec EVENT', stdin from in, stdout to out, in a
 * process group of its own (kill_and_reap kills the group).  Only
 * async-signal-safe calls: no malloc, no stdio. */
static __attribute__((noreturn)) void exec_hook(const struct cs_writer *w, int ev,
						const struct hook_env *h, int in, int out)
{
	char *const argv[] = { (char *)w->exec, (char *)event_names[ev], NULL };
	char num[16];
	size_t i = sizeof(num);
	int e;

	default_signals();
	setpgid(0, 0);
	dup2(in, 0);
	dup2(out, 1);
	close_range(3, ~0U, 0);
	execve(w->exec, argv, h->envp);
	/* "... errno N\n" for the log, by hand */
	e = errno;
	num[--i] = '\n';
	do {
		num[--i] = (char)('0' + e % 10);
		e /= 10;
	} while (e && i);
	if (write(2, h->fail, strlen(h->fail)) >= 0 && write(2, num + i, sizeof(num) - i) >= 0)
		_exit(127);
	_exit(127);
}

/*
 * Run `exec EVENT'.  For freeze, the hook may print `frozen' and keep
 * running: HOOK_HELD, with w->hold_pid and w->hold_stdin set.  On failure
 * *error and msg say what happened.
 */
static enum hook_result run_hook(struct cowsnapd *d, struct cs_writer *w, int ev,
				 const struct cs_session_env *env, int *error,
				 char *msg, size_t msgsize)
{
	unsigned timeout = event_timeout(w, ev, env);
	int64_t deadline = cs_now_ms() + timeout;
	int in[2], out[2], pidfd, status;
	char buf[512], why[40];
	struct hook_env *he;
	size_t got = 0;
	pid_t pid;

	*error = CS_WE_NONE;
	he = malloc(sizeof(*he));
	if (!he || hook_env_build(he, w, ev, env)) {
		free(he);
		*error = CS_WE_OUT_OF_RESOURCES;
		snprintf(msg, msgsize, "%s: out of memory", event_names[ev]);
		return HOOK_FAILED;
	}
	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC)) {
		free(he->envp);
		free(he);
		*error = CS_WE_OUT_OF_RESOURCES;
		snprintf(msg, msgsize, "%s: pipe: %s", event_names[ev], strerror(errno));
		return HOOK_FAILED;
	}
	pid = fork();
	if (pid == 0)
		exec_hook(w, ev, he, in[0], out[1]);
	free(he->envp);
	free(he);
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
		int64_t left = deadline - cs_now_ms();
		ssize_t n;

		if (left <= 0) {
			kill_and_reap(pid);
			*error = CS_WE_TIMEOUT;
			snprintf(msg, msgsize, "%s did not finish within %u ms%s", event_names[ev],
				 timeout, timeout_why(w, ev, timeout));
			goto failed;
		}
		if (p[0].fd < 0 && waitpid(pid, &status, WNOHANG) == pid)
			break;
		cs_daemon_wait(d, p, 2, (int)left);
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
			if (ev == CS_EV_FREEZE && (strstr(buf, "frozen\n") == buf ||
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
 * stdin, then it must exit 0 within event-timeout, and never takes longer
 * than the ceiling on a freeze to let go. */
static int release_hold(struct cowsnapd *d, struct cs_writer *w, char *msg, size_t msgsize)
{
	unsigned wait_ms = w->event_timeout_ms < max_freeze(d) ? w->event_timeout_ms :
			   max_freeze(d);
	int pidfd, status, ret;
	char buf[64];

	if (w->hold_pid <= 0)
		return CS_WE_NONE;
	close(w->hold_stdin);
	w->hold_stdin = -1;
	pidfd = pidfd_open(w->hold_pid, 0);
	ret = wait_exit(d, w->hold_pid, pidfd, cs_now_ms() + wait_ms, &status);
	if (pidfd >= 0)
		close(pidfd);
	if (ret) {
		kill_and_reap(w->hold_pid);
		w->hold_pid = 0;
		snprintf(msg, msgsize, "the freeze hook did not let go within %u ms of thaw",
			 wait_ms);
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

/* ------------------------------------------------------------------ */
/* Socket writers                                                       */

/* A veto's error code, as docs/writers.md lists them. */
static int veto_error(int code)
{
	switch (code) {
	case EAGAIN:
		return CS_WE_RETRYABLE;
	case ENOMEM:
	case ENOSPC:
		return CS_WE_OUT_OF_RESOURCES;
	default:
		return CS_WE_NONRETRYABLE;
	}
}

static bool ref_covers(const char *sel, const char *path)
{
	size_t n = strlen(sel);

	/* "" is the whole writer; "a/b" covers "a/b" and "a/b/..." */
	return !n || (!strncmp(sel, path, n) && (path[n] == '\0' || path[n] == '/'));
}

bool cs_writer_component_selected(const struct cs_writer *w,
				  const struct cs_wmd_component *c)
{
	char path[CS_COMPONENT_PATH_MAX + 1];

	if (w->whole)
		return true;
	cs_component_path(c, path, sizeof(path));
	for (uint32_t i = 0; i < w->nsel; i++)
		if (ref_covers(w->sel[i].path, path))
			return true;
	return false;
}

/* The components an event names: the selected ones, with backup-complete
 * marking those the requestor said failed. */
static uint32_t event_components(const struct cs_writer *w, const struct cs_session_env *env,
				 struct cs_component_ref *out)
{
	char path[CS_COMPONENT_PATH_MAX + 1];
	uint32_t n = 0;

	for (uint32_t i = 0; i < w->wmd.ncomponents && n < CS_MAX_COMPONENTS; i++) {
		const struct cs_wmd_component *c = &w->wmd.components[i];

		if (!cs_writer_component_selected(w, c))
			continue;
		cs_component_path(c, path, sizeof(path));
		memset(&out[n], 0, sizeof(out[n]));
		snprintf(out[n].path, sizeof(out[n].path), "%s", path);
		for (uint32_t j = 0; j < env->nfailed; j++)
			if (!strcmp(env->failed[j].writer, w->name) &&
			    ref_covers(env->failed[j].path, path))
				out[n].failed = true;
		n++;
	}
	return n;
}

/* The connection closed or broke while cowsnapd talked to the writer. */
static enum hook_result sock_gone(struct cs_writer *w, int ev, int *error, char *msg,
				  size_t msgsize, const char *why)
{
	w->dead = true;
	*error = CS_WE_NONRETRYABLE;
	snprintf(msg, msgsize, "%s: the writer's connection %s (it crashed or exited)",
		 event_names[ev], why);
	return HOOK_FAILED;
}

/*
 * Close a socket writer's connection that cannot be trusted any more: a
 * frame went out in part, the writer sent garbage, or it does not read what
 * cowsnapd sends.  Waiting for such a peer would hold every other writer and
 * client; it hears no more events, and the main loop drops the connection
 * (c->gone: the session may still hold pointers to it).
 */
static enum hook_result sock_drop(struct cs_writer *w, int ev, int *error, char *msg,
				  size_t msgsize, const char *why)
{
	w->dead = true;
	if (w->conn) {
		shutdown(w->conn->fd, SHUT_RDWR);
		w->conn->gone = true;
	}
	*error = CS_WE_NONRETRYABLE;
	snprintf(msg, msgsize, "%s: %s; cowsnapd closed its connection", event_names[ev], why);
	return HOOK_FAILED;
}

/*
 * Send an event by the deadline.  While the writer's socket is full, other
 * clients are answered (cs_daemon_wait), as while waiting for its answer.
 * 0, or -ETIMEDOUT / -errno with *sent bytes gone out.
 */
static int sock_send(struct cowsnapd *d, int fd, const struct cs_buf *b, int64_t deadline,
		     size_t *sent)
{
	*sent = 0;
	while (*sent < b->len) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		ssize_t n = send(fd, b->data + *sent, b->len - *sent, MSG_NOSIGNAL | MSG_DONTWAIT);
		int64_t left;

		if (n > 0) {
			*sent += (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		left = deadline - cs_now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		cs_daemon_wait(d, &p, 1, (int)left);
	}
	return 0;
}

/* No answer from the writer yet (sock_answer, sock_frames). */
enum { SOCK_WAIT = 1 };

/* The writer asks something while it owes an answer: EBUSY, into out. */
static void sock_refuse(int ev, const char *body, size_t len, struct cs_buf *out)
{
	struct cs_request req;
	struct cs_error e;

	cs_decode_request(body, len, &req, &e);
	cs_request_free(&req);
	cs_error_set(&e, EBUSY, "cowsnapd waits for your answer to %s", event_names[ev]);
	cs_encode_error(out, req.have_id ? req.id : 0, &e);
}

/* Go through the frames buffered from the writer, the deadline checked
 * after each: 0 for an ok answer to event id, SOCK_WAIT, -ETIMEDOUT, or
 * -EIO with *error and msg set (a veto, a bad answer). */
static int sock_answer(struct cs_writer *w, int ev, uint32_t id, int64_t deadline,
		       struct cs_buf *out, int *error, char *msg, size_t msgsize)
{
	struct cs_client_conn *c = w->conn;
	struct cs_empty none;
	struct cs_error e;
	const char *body;
	uint32_t rid;
	bool remote;
	size_t len;
	int ret;

	while ((ret = cs_framer_next(&c->in, &body, &len)) != 0) {
		if (ret < 0) {
			sock_drop(w, ev, error, msg, msgsize, "the writer sent a broken frame");
			return -EIO;
		}
		if (!cs_frame_is_reply(body, len)) {
			sock_refuse(ev, body, len, out);
		} else {
			rid = 0;
			ret = cs_decode_reply(body, len, CS_OP_WRITER_EVENT, &rid, &none, &remote,
					      &e);
			if (rid == id && !ret)
				return 0;
			if (rid == id) {
				*error = remote ? veto_error(e.code) : CS_WE_NONRETRYABLE;
				snprintf(msg, msgsize, "%s %s: %.300s", event_names[ev],
					 remote ? (*error == CS_WE_RETRYABLE ?
						   "vetoed (retryable)" : "vetoed")
						: "answered with a malformed reply", e.message);
				return -EIO;
			}
			/* a late answer to an earlier event */
		}
		if (cs_now_ms() >= deadline)
			return -ETIMEDOUT;
	}
	return SOCK_WAIT;
}

/*
 * What the writer sent since the last read, and the EBUSY replies to its
 * requests among it, sent at once without waiting: a writer that does not
 * take them (it floods faster than it reads, or not at all) would make
 * cowsnapd wait for it, so its connection goes instead.
 */
static int sock_frames(struct cs_writer *w, int ev, uint32_t id, int64_t deadline,
		       int *error, char *msg, size_t msgsize)
{
	struct cs_buf out = { 0 };
	int ret = sock_answer(w, ev, id, deadline, &out, error, msg, msgsize);

	if (out.len && !w->dead && cs_frame_write(w->conn->fd, &out, 0)) {
		sock_drop(w, ev, error, msg, msgsize, "the writer sends requests instead of "
			  "its answer and does not read the replies");
		ret = -EIO;
	}
	cs_buf_free(&out);
	return ret;
}

/* env->snapshots (`origin=image ...', as cs_session_env_add_snapshot
 * made it) as the event's pairs; how many */
static uint32_t event_snapshots(const struct cs_session_env *env,
				struct cs_event_snapshot *snaps)
{
	char buf[sizeof(env->snapshots)], *tok, *save, *eq;
	uint32_t n = 0;

	snprintf(buf, sizeof(buf), "%s", env->snapshots);
	for (tok = strtok_r(buf, " ", &save); tok && n < CS_MAX_VOLUMES;
	     tok = strtok_r(NULL, " ", &save)) {
		eq = strrchr(tok, '=');
		if (!eq)
			continue;
		*eq = '\0';
		snprintf(snaps[n].origin, sizeof(snaps[n].origin), "%s", tok);
		snprintf(snaps[n].image, sizeof(snaps[n].image), "%s", eq + 1);
		n++;
	}
	return n;
}

static enum hook_result sock_event(struct cowsnapd *d, struct cs_writer *w, int ev,
				   const struct cs_session_env *env, int *error, char *msg,
				   size_t msgsize)
{
	unsigned timeout = event_timeout(w, ev, env);
	int64_t deadline = cs_now_ms() + timeout;
	struct cs_component_ref comps[CS_MAX_COMPONENTS];
	struct cs_volume_spec vols[CS_MAX_VOLUMES];
	struct cs_event_snapshot snaps[CS_MAX_VOLUMES];
	struct cs_writer_event a = {
		.event = ev, .set_id = env->set_id, .volumes = vols, .components = comps,
		.success = env->success && !strcmp(env->success, "1"), .timeout_ms = timeout,
		.snapshots = snaps,
	};
	struct cs_client_conn *c = w->conn;
	struct cs_buf b = { 0 };
	struct cs_error e;
	char vbuf[sizeof(env->volumes)], *tok, *save;
	size_t sent;
	uint32_t id;
	int ret;

	*error = CS_WE_NONE;
	if (!c)
		return sock_gone(w, ev, error, msg, msgsize, "is gone");
	for (int i = 0; env->backup_type && cs_backup_type_names[i]; i++)
		if (!strcmp(cs_backup_type_names[i], env->backup_type))
			a.backup_type = i;
	snprintf(vbuf, sizeof(vbuf), "%s", env->volumes);
	for (tok = strtok_r(vbuf, " ", &save); tok && a.nvolumes < CS_MAX_VOLUMES;
	     tok = strtok_r(NULL, " ", &save))
		snprintf(vols[a.nvolumes++].spec, sizeof(vols[0].spec), "%s", tok);
	if (cs_event_has_snapshots(ev) && env->snapshots[0]) {
		a.nsnapshots = event_snapshots(env, snaps);
		a.images_writable = env->images_writable;
	}
	a.ncomponents = event_components(w, env, comps);

	id = ++d->event_seq;
	if (cs_encode_request(&b, id, CS_OP_WRITER_EVENT, &a, &e)) {
		*error = CS_WE_OUT_OF_RESOURCES;
		snprintf(msg, msgsize, "%s: %.300s", event_names[ev], e.message);
		return HOOK_FAILED;
	}
	ret = sock_send(d, c->fd, &b, deadline, &sent);
	cs_buf_free(&b);
	if (ret && sent)
		return sock_drop(w, ev, error, msg, msgsize, "the writer did not read the "
				 "event in time");
	if (ret == -ETIMEDOUT)
		goto timeout;
	if (ret)
		return sock_gone(w, ev, error, msg, msgsize, "broke");
	/* a flood of frames cannot hold the deadline off: checked after each */
	for (;;) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		size_t room;
		ssize_t n;
		char *buf;

		ret = sock_frames(w, ev, id, deadline, error, msg, msgsize);
		if (ret == 0)
			return HOOK_OK;
		if (ret == -ETIMEDOUT)
			goto timeout;
		if (ret < 0)
			return HOOK_FAILED;
		if (cs_now_ms() >= deadline)
			goto timeout;
		/* others are served between two reads, however busy the writer */
		cs_daemon_wait(d, &p, 1, (int)(deadline - cs_now_ms()));
		if (!p.revents)
			continue;
		buf = cs_framer_space(&c->in, 4096, &room);
		if (!buf) {
			*error = CS_WE_OUT_OF_RESOURCES;
			snprintf(msg, msgsize, "%s: out of memory", event_names[ev]);
			return HOOK_FAILED;
		}
		n = recv(c->fd, buf, room, MSG_DONTWAIT);
		if (n > 0)
			cs_framer_filled(&c->in, (size_t)n);
		else if (n == 0)
			return sock_gone(w, ev, error, msg, msgsize, "closed");
		else if (errno != EAGAIN && errno != EINTR)
			return sock_gone(w, ev, error, msg, msgsize, "broke");
	}
timeout:
	*error = CS_WE_TIMEOUT;
	snprintf(msg, msgsize, "%s was not answered within %u ms%s", event_names[ev], timeout,
		 timeout_why(w, ev, timeout));
	return HOOK_FAILED;
}

/* ------------------------------------------------------------------ */
/* The session                                                          */

static const int failed_state[] = {
	[CS_EV_IDENTIFY] = CS_WS_FAILED_AT_IDENTIFY,
	[CS_EV_PREPARE_BACKUP] = CS_WS_FAILED_AT_PREPARE_BACKUP,
	[CS_EV_PREPARE_SNAPSHOT] = CS_WS_FAILED_AT_PREPARE_SNAPSHOT,
	[CS_EV_FREEZE] = CS_WS_FAILED_AT_FREEZE,
	[CS_EV_THAW] = CS_WS_FAILED_AT_THAW,
	[CS_EV_POST_SNAPSHOT] = CS_WS_FAILED_AT_POST_SNAPSHOT,
	[CS_EV_BACKUP_COMPLETE] = CS_WS_FAILED_AT_BACKUP_COMPLETE,
	[CS_EV_BACKUP_SHUTDOWN] = CS_WS_FAILED_AT_BACKUP_COMPLETE,
	[CS_EV_ABORT] = CS_WS_STABLE,
	[CS_EV_PRE_RESTORE] = CS_WS_FAILED_AT_PRE_RESTORE,
	[CS_EV_POST_RESTORE] = CS_WS_FAILED_AT_POST_RESTORE,
};

static enum hook_result deliver(struct cowsnapd *d, struct cs_writer *w, int ev,
				const struct cs_session_env *env, int *error, char *msg,
				size_t msgsize)
{
	cs_dbg("writer %s: %s", w->name, event_names[ev]);
	if (w->kind == CS_WRITER_SOCKET)
		return sock_event(d, w, ev, env, error, msg, msgsize);
	return run_hook(d, w, ev, env, error, msg, msgsize);
}

/* One event to one writer; 0, or -EIO with err naming the writer.  A
 * socket writer whose connection already failed hears nothing more. */
static int send_event(struct cowsnapd *d, struct cs_writer *w, int ev,
		      struct cs_session_env *env, int next_state, struct cs_error *err)
{
	char msg[CS_ERRMSG_MAX - 64];
	int error;
	enum hook_result r;

	/* gone since an earlier step (a backup or restore session waits for
	 * its requestor between steps): this step failed for it too */
	if (w->dead) {
		cs_error_set(err, EIO, "writer %s failed: %.400s", w->name, w->last_message);
		return -EIO;
	}
	r = deliver(d, w, ev, env, &error, msg, sizeof(msg));
	if (r == HOOK_FAILED && w->error != CS_WE_NONE) {
		/* a writer that failed already (thaw after a failed freeze):
		 * its first failure is what it shows */
		cs_warn("writer %s: %s", w->name, msg);
		return -EIO;
	}
	if (r == HOOK_FAILED) {
		fail_writer(w, failed_state[ev], error, "%s", msg);
		cs_error_set(err, EIO, "writer %s failed: %s", w->name, msg);
		return -EIO;
	}
	w->state = next_state;
	return 0;
}

/* An event whose failure does not fail the session (abort, shutdown). */
static void notify(struct cowsnapd *d, struct cs_writer *w, int ev,
		   struct cs_session_env *env)
{
	char msg[CS_ERRMSG_MAX - 64];
	int error;

	if (w->dead)
		return;
	if (deliver(d, w, ev, env, &error, msg, sizeof(msg)) == HOOK_FAILED)
		cs_warn("writer %s: %s", w->name, msg);
}

#define for_each_selected(d, w) \
	for (struct cs_writer *w = (d)->writers.w; w < (d)->writers.w + (d)->writers.n; w++) \
		if (w->selected)

static void writer_release(struct cs_writer *w)
{
	if (w->kind == CS_WRITER_SOCKET)
		cs_schema_free(&cs_wmd_schema, &w->wmd);
	free(w->sel);
	w->sel = NULL;
	w->nsel = 0;
}

static void writer_remove(struct cowsnapd *d, size_t i)
{
	writer_release(&d->writers.w[i]);
	memmove(&d->writers.w[i], &d->writers.w[i + 1],
		(d->writers.n - i - 1) * sizeof(*d->writers.w));
	d->writers.n--;
}

static bool supports(const struct cs_writer *w, int type)
{
	if (w->kind == CS_WRITER_HOOK)
		return true;
	for (uint32_t i = 0; i < w->wmd.nbackup_types; i++)
		if (w->wmd.backup_types[i].type == type)
			return true;
	return false;
}

static struct cs_writer *find_writer(struct cowsnapd *d, const char *name)
{
	for (size_t i = 0; i < d->writers.n; i++)
		if (!strcmp(d->writers.w[i].name, name))
			return &d->writers.w[i];
	return NULL;
}

int cs_writers_select(struct cowsnapd *d, const struct cs_component_ref *refs,
		      uint32_t n, int backup_type, bool none, struct cs_error *err)
{
	char path[CS_COMPONENT_PATH_MAX + 1];
	int count = 0;

	/* a new session: the last one's failures are history */
	for (size_t i = d->writers.n; i-- > 0;) {
		struct cs_writer *w = &d->writers.w[i];

		if (w->kind == CS_WRITER_SOCKET && !w->conn) {
			writer_remove(d, i);
			continue;
		}
		w->state = CS_WS_STABLE;
		w->error = CS_WE_NONE;
		w->last_message[0] = '\0';
		w->selected = w->whole = w->dead = false;
		free(w->sel);
		w->sel = NULL;
		w->nsel = 0;
	}
	if (none)
		return 0;
	/* check every reference before selecting anything */
	for (uint32_t i = 0; i < n; i++) {
		struct cs_writer *w = find_writer(d, refs[i].writer);
		bool found = false;

		if (!w) {
			cs_error_set(err, ENOENT, "there is no writer `%s'; see `snapctl list "
				     "writers'", refs[i].writer);
			return -ENOENT;
		}
		if (!supports(w, backup_type)) {
			cs_error_set(err, EINVAL, "writer %s does not support %s backups",
				     w->name, cs_backup_type_names[backup_type]);
			return -EINVAL;
		}
		if (!refs[i].path[0])
			continue;
		for (uint32_t k = 0; k < w->wmd.ncomponents; k++) {
			const struct cs_wmd_component *c = &w->wmd.components[k];

			cs_component_path(c, path, sizeof(path));
			if (!strcmp(path, refs[i].path) && !c->selectable) {
				cs_error_set(err, EINVAL, "component %s of writer %s is not "
					     "selectable on its own; select the writer (`%s')",
					     path, w->name, w->name);
				return -EINVAL;
			}
			if (ref_covers(refs[i].path, path))
				found = true;
		}
		if (!found) {
			cs_error_set(err, ENOENT, "writer %s has no component `%s'%s", w->name,
				     refs[i].path, w->kind == CS_WRITER_HOOK ?
				     " (hook writers have no components; name the writer alone)" :
				     "; see `snapctl --json list writers'");
			return -ENOENT;
		}
	}
	for (size_t i = 0; i < d->writers.n; i++) {
		struct cs_writer *w = &d->writers.w[i];

		if (!n) {
			if (!supports(w, backup_type)) {
				cs_info("writer %s left out: it does not support %s backups",
					w->name, cs_backup_type_names[backup_type]);
				continue;
			}
			w->selected = w->whole = true;
			count++;
			continue;
		}
		for (uint32_t k = 0; k < n; k++) {
			struct cs_component_ref *s;

			if (strcmp(refs[k].writer, w->name))
				continue;
			if (!refs[k].path[0])
				w->whole = true;
			s = realloc(w->sel, (w->nsel + 1) * sizeof(*s));
			if (!s) {
				cs_error_set(err, ENOMEM, "out of memory");
				return -ENOMEM;
			}
			w->sel = s;
			s[w->nsel++] = refs[k];
			if (!w->selected)
				count++;
			w->selected = true;
		}
	}
	/* a writer's components that are not selectable go with it */
	return count;
}

/*
 * Where the volumes are mounted by /etc/fstab (a revert needs its origins
 * unmounted, so a component's files are no longer on them): the entries
 * whose device (a /dev path, UUID=, LABEL=, PARTUUID=, PARTLABEL=)
 * resolves to one of vols, and, to tell nesting apart, every other entry's
 * mount point too (major 0).
 */
/* Has component cp a file whose directory on(dir, ctx) accepts? */
static bool component_on(const struct cs_wmd_component *cp,
			 bool (*on)(const char *dir, void *ctx), void *ctx)
{
	for (uint32_t f = 0; f < cp->nfiles; f++)
		if (on(cp->files[f].path, ctx))
			return true;
	return false;
}

int cs_writers_select_files(struct cowsnapd *d, int backup_type,
			    bool (*on)(const char *dir, void *ctx), void *ctx, struct cs_error *err)
{
	char path[CS_COMPONENT_PATH_MAX + 1];
	struct cs_component_ref *refs;
	uint32_t n = 0;
	size_t max = 1;
	int ret;

	for (size_t i = 0; i < d->writers.n; i++)
		max += 1 + d->writers.w[i].wmd.ncomponents;
	refs = calloc(max, sizeof(*refs));
	if (!refs) {
		cs_error_set(err, ENOMEM, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < d->writers.n; i++) {
		const struct cs_writer *w = &d->writers.w[i];
		bool whole = w->kind == CS_WRITER_HOOK;
		uint32_t first = n;

		if ((w->kind == CS_WRITER_SOCKET && !w->conn) || !supports(w, backup_type))
			continue;
		for (uint32_t k = 0; w->kind == CS_WRITER_SOCKET && k < w->wmd.ncomponents; k++) {
			const struct cs_wmd_component *cp = &w->wmd.components[k];

			if (!component_on(cp, on, ctx))
				continue;
			if (!cp->selectable) {
				whole = true;
				break;
			}
			cs_component_path(cp, path, sizeof(path));
			snprintf(refs[n].writer, sizeof(refs[n].writer), "%s", w->name);
			snprintf(refs[n].path, sizeof(refs[n].path), "%s", path);
			n++;
		}
		if (whole) {
			n = first;
			snprintf(refs[n].writer, sizeof(refs[n].writer), "%s", w->name);
			refs[n].path[0] = '\0';
			n++;
		}
	}
	/* nobody has data there: nobody (n == 0 would select every writer) */
	ret = cs_writers_select(d, refs, n, backup_type, n == 0, err);
	free(refs);
	return ret;
}

int cs_writers_register(struct cowsnapd *d, struct cs_client_conn *c, pid_t pid,
			struct cs_wmd *wmd, struct cs_error *err)
{
	struct cs_writer *w = find_writer(d, wmd->name), *n;
	int ret = cs_wmd_validate(wmd, err);

	if (ret)
		return ret;
	if (w && (w->kind == CS_WRITER_HOOK || w->conn)) {
		cs_error_set(err, EEXIST, "a writer named %s is already %s; choose another name",
			     wmd->name, w->kind == CS_WRITER_HOOK ? "configured (hook writer)" :
			     "registered");
		return -EEXIST;
	}
	if (w) {
		if (w->selected) {
			cs_error_set(err, EBUSY, "writer %s is still part of a session; register "
				     "again when it is over", wmd->name);
			return -EBUSY;
		}
		writer_remove(d, (size_t)(w - d->writers.w));
	}
	if (d->writers.n >= CS_MAX_WRITERS) {
		cs_error_set(err, ENOSPC, "%d writers already", CS_MAX_WRITERS);
		return -ENOSPC;
	}
	n = realloc(d->writers.w, (d->writers.n + 1) * sizeof(*n));
	if (!n) {
		cs_error_set(err, ENOMEM, "out of memory");
		return -ENOMEM;
	}
	d->writers.w = n;
	w = &n[d->writers.n++];
	memset(w, 0, sizeof(*w));
	snprintf(w->name, sizeof(w->name), "%s", wmd->name);
	w->kind = CS_WRITER_SOCKET;
	w->order = wmd->order;
	w->freeze_timeout_ms = wmd->freeze_timeout_ms ? wmd->freeze_timeout_ms : 60000;
	w->event_timeout_ms = wmd->event_timeout_ms ? wmd->event_timeout_ms : 30000;
	clamp_freeze(d, w);
	w->hold_stdin = -1;
	w->conn = c;
	w->pid = pid;
	/* take over the document's arrays */
	w->wmd = *wmd;
	wmd->components = NULL;
	wmd->ncomponents = 0;
	wmd->backup_types = NULL;
	wmd->nbackup_types = 0;
	qsort(d->writers.w, d->writers.n, sizeof(*d->writers.w), cmp_writer);
	cs_info("socket writer %s registered (pid %d, %u component(s), %s)", wmd->name,
		(int)pid, w->wmd.ncomponents, cs_writer_order_names[w->order]);
	return 0;
}

void cs_writers_conn_gone(struct cowsnapd *d, struct cs_client_conn *c)
{
	for (size_t i = 0; i < d->writers.n; i++) {
		struct cs_writer *w = &d->writers.w[i];

		if (w->conn != c)
			continue;
		bool active = w->selected && d->session_owner;

		w->conn = NULL;
		if (active && !w->dead) {
			/* between two steps of a session that waits for its requestor */
			fail_writer(w, w->state == CS_WS_WAITING_FOR_BACKUP_COMPLETE ?
				    CS_WS_FAILED_AT_BACKUP_COMPLETE :
				    d->session_owner->restore ? CS_WS_FAILED_AT_POST_RESTORE :
				    w->state, CS_WE_NONRETRYABLE, "the writer's connection closed "
				    "during the session (it crashed or exited)");
			w->dead = true;
		}
		cs_info("socket writer %s went away", w->name);
		/* a writer that failed stays listed until the next session */
		if (!active && w->error == CS_WE_NONE)
			writer_remove(d, i);
		return;
	}
}

int cs_session_env_add_volume(struct cs_session_env *env, const char *devnode)
{
	size_t len = strlen(env->volumes), n = strlen(devnode), sep = len ? 1 : 0;

	if (!n || strchr(devnode, ' '))
		return -EINVAL;
	if (sep + n >= sizeof(env->volumes) - len)
		return -ENAMETOOLONG;
	if (sep)
		env->volumes[len] = ' ';
	memcpy(env->volumes + len + sep, devnode, n + 1);
	return 0;
}

int cs_session_env_add_snapshot(struct cs_session_env *env, const char *origin,
				const char *image)
{
	size_t len = strlen(env->snapshots), no = strlen(origin), ni = strlen(image);
	size_t sep = len ? 1 : 0;

	/* a hook splits at spaces and at the last `=', a socket writer's
	 * event carries each name whole */
	if (!no || !ni || strchr(origin, ' ') || strchr(image, ' ') || strchr(image, '=') ||
	    no > CS_EVENT_DEVNODE_MAX || ni > CS_EVENT_DEVNODE_MAX)
		return -EINVAL;
	if (sep + no + 1 + ni >= sizeof(env->snapshots) - len)
		return -ENAMETOOLONG;
	if (sep)
		env->snapshots[len] = ' ';
	memcpy(env->snapshots + len + sep, origin, no);
	env->snapshots[len + sep + no] = '=';
	memcpy(env->snapshots + len + sep + no + 1, image, ni + 1);
	return 0;
}

bool cs_event_has_snapshots(int ev)
{
	return ev == CS_EV_POST_SNAPSHOT || ev == CS_EV_BACKUP_COMPLETE;
}

int cs_writers_prepare(struct cowsnapd *d, struct cs_session_env *env,
		       struct cs_error *err)
{
	int ret;

	for_each_selected(d, w) {
		if (w->kind != CS_WRITER_SOCKET)
			continue;
		ret = send_event(d, w, CS_EV_IDENTIFY, env, CS_WS_STABLE, err);
		if (ret)
			return ret;
	}
	for_each_selected(d, w) {
		ret = send_event(d, w, CS_EV_PREPARE_BACKUP, env, CS_WS_STABLE, err);
		if (ret)
			return ret;
	}
	for_each_selected(d, w) {
		ret = send_event(d, w, CS_EV_PREPARE_SNAPSHOT, env, CS_WS_WAITING_FOR_FREEZE, err);
		if (ret)
			return ret;
	}
	return 0;
}

/* When the writers sent freeze so far must all be thawed. */
static int64_t freeze_deadline(struct cowsnapd *d, const struct cs_session_env *env)
{
	struct cs_freeze_window win[CS_MAX_WRITERS];
	size_t n = 0;

	for_each_selected(d, w)
		if (w->freeze_start && n < CS_MAX_WRITERS)
			win[n++] = (struct cs_freeze_window){ w->freeze_start, w->freeze_timeout_ms };
	return cs_freeze_deadline(env->freeze_began, max_freeze(d), win, n);
}

/*
 * Freeze in order.  Every writer frozen waits for the ones after it, so a
 * writer's freeze gets no more time than the bound of those frozen before
 * it (their windows, the ceiling) leaves.
 */
int cs_writers_freeze(struct cowsnapd *d, struct cs_session_env *env,
		      struct cs_error *err)
{
	env->freeze_began = cs_now_ms();
	for_each_selected(d, w)
		w->freeze_start = 0;
	/* writers are sorted front-end, back-end, system */
	for_each_selected(d, w) {
		int ret;

		if (w->dead)
			continue;
		w->freeze_start = cs_now_ms();
		env->freeze_deadline = freeze_deadline(d, env);
		if (!event_timeout(w, CS_EV_FREEZE, env)) {
			fail_writer(w, CS_WS_FAILED_AT_FREEZE, CS_WE_TIMEOUT, "freeze not sent: "
				    "no time was left%s", timeout_why(w, CS_EV_FREEZE, 0));
			cs_error_set(err, EIO, "writer %s failed: %s", w->name, w->last_message);
			return -EIO;
		}
		ret = send_event(d, w, CS_EV_FREEZE, env, CS_WS_WAITING_FOR_THAW, err);
		if (ret)
			return ret;
	}
	return 0;
}

int cs_writers_hold_check(struct cowsnapd *d, struct cs_session_env *env,
			  struct cs_error *err)
{
	if (!env->freeze_deadline || cs_now_ms() < env->freeze_deadline)
		return 0;
	cs_error_set(err, ETIMEDOUT, "the writers were frozen for %" PRId64 " ms, as long as "
		     "they may be (cowsnapd --max-freeze, the writers' freeze-timeout); the set "
		     "was not taken", cs_now_ms() - env->freeze_began);
	return -ETIMEDOUT;
}

/* Held frozen past its window or the ceiling: msg says which. */
static bool held_too_long(struct cowsnapd *d, const struct cs_writer *w,
			  const struct cs_session_env *env, char *msg, size_t msgsize)
{
	int64_t now = cs_now_ms();

	if (!w->freeze_start)
		return false;
	if (now - w->freeze_start > (int64_t)w->freeze_timeout_ms) {
		snprintf(msg, msgsize, "held frozen for %" PRId64 " ms, longer than its freeze "
			 "window of %u ms", now - w->freeze_start, w->freeze_timeout_ms);
		return true;
	}
	if (now - env->freeze_began > (int64_t)max_freeze(d)) {
		snprintf(msg, msgsize, "held frozen for %" PRId64 " ms, longer than cowsnapd's "
			 "--max-freeze of %u ms", now - env->freeze_began, max_freeze(d));
		return true;
	}
	return false;
}

/*
 * Thaw in reverse order.  After a take, a writer held past its bound fails
 * (its image may not be consistent as it expects); when the session aborts
 * it has failed already, and the writers only need to let go.
 */
static int thaw_all(struct cowsnapd *d, struct cs_session_env *env, bool check,
		    struct cs_error *err)
{
	int ret = 0;

	for (size_t i = d->writers.n; i-- > 0;) {
		struct cs_writer *w = &d->writers.w[i];
		char msg[CS_ERRMSG_MAX - 64];
		int error = CS_WE_NONE;

		if (!w->selected || w->dead)
			continue;
		if (w->state != CS_WS_WAITING_FOR_THAW && w->state != CS_WS_FAILED_AT_FREEZE &&
		    w->hold_pid <= 0)
			continue;
		if (w->kind == CS_WRITER_HOOK)
			error = release_hold(d, w, msg, sizeof(msg));
		if (!error && check && w->state == CS_WS_WAITING_FOR_THAW &&
		    held_too_long(d, w, env, msg, sizeof(msg)))
			error = CS_WE_TIMEOUT;
		if (error) {
			fail_writer(w, CS_WS_FAILED_AT_THAW, error, "%s", msg);
			if (!ret)
				cs_error_set(err, EIO, "writer %s failed: %s", w->name, msg);
			ret = -EIO;
		}
		/* thaw goes to every writer that got freeze, even if it failed */
		if (send_event(d, w, CS_EV_THAW, env, error ? w->state :
			       w->state == CS_WS_FAILED_AT_FREEZE ? w->state :
			       CS_WS_WAITING_FOR_POST_SNAPSHOT, err))
			ret = -EIO;
	}
	return ret;
}

int cs_writers_thaw(struct cowsnapd *d, struct cs_session_env *env,
		    struct cs_error *err)
{
	return thaw_all(d, env, true, err);
}

int cs_writers_post_snapshot(struct cowsnapd *d, struct cs_session_env *env,
			     struct cs_error *err)
{
	for_each_selected(d, w) {
		int ret = send_event(d, w, CS_EV_POST_SNAPSHOT, env,
				     CS_WS_WAITING_FOR_BACKUP_COMPLETE, err);

		if (ret)
			return ret;
	}
	return 0;
}

void cs_writers_shutdown(struct cowsnapd *d, struct cs_session_env *env)
{
	for_each_selected(d, w) {
		notify(d, w, CS_EV_BACKUP_SHUTDOWN, env);
		if (w->error == CS_WE_NONE)
			w->state = CS_WS_STABLE;
	}
}

int cs_writers_complete(struct cowsnapd *d, struct cs_session_env *env,
			struct cs_error *err)
{
	struct cs_error e;
	int ret = 0;

	/* every writer hears it, whoever failed before; the first failure is
	 * the answer */
	for_each_selected(d, w)
		if (send_event(d, w, CS_EV_BACKUP_COMPLETE, env, CS_WS_STABLE, ret ? &e : err))
			ret = -EIO;
	return ret;
}

void cs_writers_abort(struct cowsnapd *d, struct cs_session_env *env)
{
	struct cs_error e;

	thaw_all(d, env, false, &e);
	for_each_selected(d, w) {
		notify(d, w, CS_EV_ABORT, env);
		/* a failed writer keeps its FAILED_AT state and error */
		if (w->error == CS_WE_NONE)
			w->state = CS_WS_STABLE;
	}
}

int cs_writers_pre_restore(struct cowsnapd *d, struct cs_session_env *env,
			   struct cs_error *err)
{
	for_each_selected(d, w) {
		int ret = send_event(d, w, CS_EV_PRE_RESTORE, env, CS_WS_STABLE, err);

		if (ret)
			return ret;
	}
	return 0;
}

int cs_writers_post_restore(struct cowsnapd *d, struct cs_session_env *env,
			    struct cs_error *err)
{
	struct cs_error e;
	int ret = 0;

	/* every writer that took part hears how the restore went */
	for_each_selected(d, w) {
		if (w->error != CS_WE_NONE && w->state == CS_WS_FAILED_AT_PRE_RESTORE)
			continue;
		if (send_event(d, w, CS_EV_POST_RESTORE, env, CS_WS_STABLE, ret ? &e : err))
			ret = -EIO;
	}
	return ret;
}
