// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The command of `snapctl backup --exec' and `snapctl restore --exec'.  It
 * must not outlive snapctl: writers are told the backup or restore is over
 * when snapctl goes, and a command still reading the images or writing the
 * restored files then would race with them.  So it runs in a process group
 * of its own, to which snapctl passes SIGTERM, SIGINT and SIGHUP before it
 * waits for it and reports; if snapctl is killed outright, the kernel sends
 * the command's shell SIGTERM (PR_SET_PDEATHSIG).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "snapctl.h"

static const int forwarded[] = { SIGTERM, SIGINT, SIGHUP };
#define NFORWARDED	(sizeof(forwarded) / sizeof(forwarded[0]))

/* The command's process group while it runs; the signal passed to it. */
static volatile sig_atomic_t cmd_pgid, got_signal;

static void forward(int sig)
{
	got_signal = sig;
	if (cmd_pgid > 0)
		kill(-(pid_t)cmd_pgid, sig);
}

/* The child: its own process group (the terminal's foreground group when
 * snapctl's was), SIGTERM when snapctl dies, the set-up (whose outcome goes
 * to the parent on report, closed at exec), then CMD. */
static void child(const char *cmd, const char *const env[], pid_t parent, bool fg,
		  const sigset_t *mask, struct cmd_setup *setup, int report)
{
	setpgid(0, 0);
	if (fg) {
		signal(SIGTTOU, SIG_IGN);
		tcsetpgrp(STDIN_FILENO, getpid());
		signal(SIGTTOU, SIG_DFL);
	}
	/* snapctl may have died before the request: then getppid() changed */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) || getppid() != parent)
		_exit(128 + SIGTERM);
	if (setup) {
		int ret;

		setup->msg[0] = '\0';
		ret = setup->fn(setup);
		if (ret && !setup->msg[0])
			snprintf(setup->msg, sizeof(setup->msg), "set-up failed");
		if (!ret)
			setup->msg[0] = '\0';
		if (write(report, setup, sizeof(*setup)) != (ssize_t)sizeof(*setup) || ret)
			_exit(127);
	}
	sigprocmask(SIG_SETMASK, mask, NULL);
	for (int i = 0; env[i]; i += 2)
		setenv(env[i], env[i + 1], 1);
	execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
	perror("/bin/sh");
	_exit(127);
}

/* Pass the signals to the command while it runs, those that snapctl does not
 * ignore (nohup's SIGHUP stays ignored, in the command too). */
static void handle_signals(struct sigaction old[NFORWARDED])
{
	struct sigaction sa = { .sa_handler = forward };

	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < NFORWARDED; i++) {
		sigaction(forwarded[i], NULL, &old[i]);
		if (old[i].sa_handler != SIG_IGN)
			sigaction(forwarded[i], &sa, NULL);
	}
}

static void restore_signals(const struct sigaction old[NFORWARDED])
{
	for (size_t i = 0; i < NFORWARDED; i++)
		sigaction(forwarded[i], &old[i], NULL);
}

/* The terminal back to snapctl's process group, when the command had it. */
static void take_terminal(void)
{
	sigset_t ttou, old;

	sigemptyset(&ttou);
	sigaddset(&ttou, SIGTTOU);
	sigprocmask(SIG_BLOCK, &ttou, &old);
	tcsetpgrp(STDIN_FILENO, getpgrp());
	sigprocmask(SIG_SETMASK, &old, NULL);
}

/*
 * The set-up's outcome, which the child writes once (or dies first); the
 * pipe closes at exec or exit.  0 when it succeeded, -1 with setup->msg.
 */
static int read_setup(int fd, struct cmd_setup *setup)
{
	struct cmd_setup got;
	size_t n = 0;
	ssize_t r;

	while (n < sizeof(got)) {
		r = read(fd, (char *)&got + n, sizeof(got) - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	if (n != sizeof(got)) {
		snprintf(setup->msg, sizeof(setup->msg), "the command's set-up ended early");
		return -1;
	}
	setup->token = got.token;
	memcpy(setup->msg, got.msg, sizeof(setup->msg));
	setup->msg[sizeof(setup->msg) - 1] = '\0';
	return setup->msg[0] ? -1 : 0;
}

int run_cmd(const char *cmd, const char *const env[])
{
	return run_cmd_setup(cmd, env, NULL);
}

int run_cmd_setup(const char *cmd, const char *const env[], struct cmd_setup *setup)
{
	bool fg = isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) == getpgrp();
	struct sigaction old_sa[NFORWARDED];
	sigset_t block, mask;
	pid_t parent = getpid(), pid, ret;
	int status = 0, report[2] = { -1, -1 };
	bool setup_failed = false;

	fflush(stdout);
	fflush(stderr);
	if (setup && pipe2(report, O_CLOEXEC)) {
		snprintf(setup->msg, sizeof(setup->msg), "pipe: %s", strerror(errno));
		return CMD_SETUP_FAILED;
	}
	/* no signal is lost between fork and cmd_pgid */
	sigemptyset(&block);
	for (size_t i = 0; i < NFORWARDED; i++)
		sigaddset(&block, forwarded[i]);
	sigprocmask(SIG_BLOCK, &block, &mask);
	got_signal = 0;
	pid = fork();
	if (pid == 0) {
		close(report[0]);
		child(cmd, env, parent, fg, &mask, setup, report[1]);
	}
	if (pid > 0) {
		setpgid(pid, pid);
		cmd_pgid = pid;
		handle_signals(old_sa);
	}
	sigprocmask(SIG_SETMASK, &mask, NULL);
	if (setup) {
		close(report[1]);
		if (pid > 0)
			setup_failed = read_setup(report[0], setup) != 0;
		close(report[0]);
	}
	if (pid < 0)
		return -1;
	while ((ret = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	cmd_pgid = 0;
	restore_signals(old_sa);
	if (fg)
		take_terminal();
	if (setup_failed)
		return CMD_SETUP_FAILED;
	if (got_signal) {
		fprintf(stderr, "%s: %s: stopped the command\n", program_invocation_short_name,
			strsignal(got_signal));
		return 128 + got_signal;
	}
	if (ret != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
