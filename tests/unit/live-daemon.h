/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The real cowsnapd on the host, for the tests that play its peers
 * (test-session, fuzz-writer): --no-module (what they exercise needs no
 * kernel module), in the foreground, with its socket, configuration
 * directory and log (its stderr) in a temporary directory of its own.
 * Header-only, like mutate.h: each test is one program.
 */
#ifndef COWSNAP_TESTS_LIVE_DAEMON_H
#define COWSNAP_TESTS_LIVE_DAEMON_H

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cowsnap.h"

/* how long cowsnapd may take to answer on its socket after exec */
#define LIVE_START_MS	5000
/* how long a signalled process may take to exit before SIGKILL */
#define LIVE_STOP_MS	10000

struct live_daemon {
	char dir[64];		/* removed by live_daemon_remove() */
	char sock[128];
	char log[128];		/* cowsnapd's stderr */
	pid_t pid;
};

static inline int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* $COWSNAPD runs another build (an older one, to see a test fail) */
static inline const char *live_daemon_bin(const char *dflt)
{
	const char *p = getenv("COWSNAPD");

	return p && *p ? p : dflt;
}

/* In the child: become cowsnapd, with up to 7 extra options. */
static inline __attribute__((noreturn)) void
live_daemon_exec(const struct live_daemon *ld, const char *bin, const char *conf,
		 const char *const *opts)
{
	const char *argv[16] = { "cowsnapd", "--no-module", "-f", "-v", "-s", ld->sock,
				 "-c", conf };
	int argc = 8;

	/* a test that dies (a Check timeout, a crash) leaves no daemon behind */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (!freopen(ld->log, "w", stderr))
		_exit(126);
	for (int i = 0; opts && opts[i] && argc < 15; i++)
		argv[argc++] = opts[i];
	execv(bin, (char *const *)argv);
	_exit(127);
}

/* Up to LIVE_START_MS for the socket to answer; gives up at once when
 * cowsnapd exits instead (its status in why). */
static inline int live_daemon_wait_up(struct live_daemon *ld, char *why, size_t size)
{
	struct cs_client *c;
	struct cs_error err;
	int status;

	for (int64_t until = now_ms() + LIVE_START_MS; now_ms() < until; usleep(20000)) {
		if (!cs_client_open(ld->sock, &c, &err)) {
			cs_client_close(c);
			return 0;
		}
		if (waitpid(ld->pid, &status, WNOHANG) == ld->pid) {
			ld->pid = 0;
			snprintf(why, size, "cowsnapd exited at start (status %#x; see "
				 "%s/cowsnapd.log)", status, ld->dir);
			return -1;
		}
	}
	snprintf(why, size, "cowsnapd did not answer on %s/sock (see cowsnapd.log there)",
		 ld->dir);
	return -1;
}

/*
 * Start cowsnapd (bin) in a new directory /tmp/TAG.XXXXXX; populate, when
 * not NULL, fills its configuration directory first; opts are extra
 * options (NULL-terminated, or NULL).  0 once the socket answers, or -1
 * with why (the directory may be left for live_daemon_remove()).
 */
static inline int live_daemon_start(struct live_daemon *ld, const char *tag, const char *bin,
				    void (*populate)(const char *conf),
				    const char *const *opts, char *why, size_t size)
{
	char conf[128];

	memset(ld, 0, sizeof(*ld));
	snprintf(ld->dir, sizeof(ld->dir), "/tmp/%s.XXXXXX", tag);
	if (!mkdtemp(ld->dir)) {
		snprintf(why, size, "mkdtemp %s: %s", ld->dir, strerror(errno));
		ld->dir[0] = '\0';
		return -1;
	}
	snprintf(ld->sock, sizeof(ld->sock), "%s/sock", ld->dir);
	snprintf(ld->log, sizeof(ld->log), "%s/cowsnapd.log", ld->dir);
	snprintf(conf, sizeof(conf), "%s/conf", ld->dir);
	/* a client that drops root must reach the socket */
	if (chmod(ld->dir, 0755) || mkdir(conf, 0755)) {
		snprintf(why, size, "%s: %s", conf, strerror(errno));
		return -1;
	}
	if (populate)
		populate(conf);
	ld->pid = fork();
	if (ld->pid < 0) {
		snprintf(why, size, "fork: %s", strerror(errno));
		ld->pid = 0;
		return -1;
	}
	if (ld->pid == 0)
		live_daemon_exec(ld, bin, conf, opts);
	return live_daemon_wait_up(ld, why, size);
}

/*
 * Send sig to *pid and reap it; one still there LIVE_STOP_MS later gets
 * SIGKILL, so that a hung process cannot hang the test.  Its wait status
 * (0 when there was no process).
 */
static inline int live_stop(pid_t *pid, int sig)
{
	int64_t until = now_ms() + LIVE_STOP_MS;
	int status = 0;

	if (*pid <= 0)
		return 0;
	kill(*pid, sig);
	while (waitpid(*pid, &status, WNOHANG) == 0) {
		if (now_ms() > until) {
			kill(*pid, SIGKILL);
			waitpid(*pid, &status, 0);
			break;
		}
		usleep(5000);
	}
	*pid = 0;
	return status;
}

/* cowsnapd's log contains s */
static inline bool live_daemon_log_has(const struct live_daemon *ld, const char *s)
{
	char line[1024];
	bool found = false;
	FILE *f = fopen(ld->log, "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, s) != NULL;
	fclose(f);
	return found;
}

/* Stop cowsnapd (SIGTERM) if it still runs and remove its directory. */
static inline void live_daemon_remove(struct live_daemon *ld)
{
	char cmd[128];

	live_stop(&ld->pid, SIGTERM);
	if (!ld->dir[0])
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", ld->dir);
	if (system(cmd))
		fprintf(stderr, "could not remove %s\n", ld->dir);
	ld->dir[0] = '\0';
}

#endif
