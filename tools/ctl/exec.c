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
 * snapctl's was), SIGTERM when snapctl dies, then CMD. */
static void child(const char *cmd, const char *const env[], pid_t parent, bool fg,
		  const sigset_t *mask)
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

int run_cmd(const char *cmd, const char *const env[])
{
	bool fg = isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) == getpgrp();
	struct sigaction old_sa[NFORWARDED];
	sigset_t block, mask;
	pid_t parent = getpid(), pid, ret;
	int status = 0;

	fflush(stdout);
	fflush(stderr);
	/* no signal is lost between fork and cmd_pgid */
	sigemptyset(&block);
	for (size_t i = 0; i < NFORWARDED; i++)
		sigaddset(&block, forwarded[i]);
	sigprocmask(SIG_BLOCK, &block, &mask);
	got_signal = 0;
	pid = fork();
	if (pid == 0)
		child(cmd, env, parent, fg, &mask);
	if (pid > 0) {
		setpgid(pid, pid);
		cmd_pgid = pid;
		handle_signals(old_sa);
	}
	sigprocmask(SIG_SETMASK, &mask, NULL);
	if (pid < 0)
		return -1;
	while ((ret = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	cmd_pgid = 0;
	restore_signals(old_sa);
	if (fg)
		take_terminal();
	if (got_signal) {
		fprintf(stderr, "%s: %s: stopped the command\n", program_invocation_short_name,
			strsignal(got_signal));
		return 128 + got_signal;
	}
	if (ret != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
