/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef SNAPCTL_H
#define SNAPCTL_H

#include <stdbool.h>

#include "cowsnap.h"

/* Exit codes; documented in `snapctl --help' and docs/snapctl.md. */
enum {
	EXIT_OK = 0,
	EXIT_FAILED = 1,	/* the daemon or the module refused or failed */
	EXIT_USAGE = 2,		/* bad command line */
	EXIT_NO_DAEMON = 3,	/* cowsnapd cannot be reached */
	EXIT_DENIED = 4,	/* cowsnapd refused this user */
	EXIT_PROTO = 5,		/* garbled exchange, version mismatch, timeout */
};

struct snapctl {
	const char *socket;	/* NULL: cs_socket_path() */
	bool json;
	const char *prog;
};

struct command {
	const char *name;
	int (*fn)(struct snapctl *ctl, int argc, char **argv);
	const char *help;
};

/* output.c */
int connect_daemon(struct snapctl *ctl, struct cs_client **c);
/* Print what went wrong on stderr, with what to do; returns the exit code. */
int report_error(struct snapctl *ctl, struct cs_client *c, int ret,
		 const struct cs_error *err);
int usage_error(struct snapctl *ctl, const char *cmd_usage, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void print_json(struct snapctl *ctl, enum cs_op op, const void *result);

/* version.c */
int cmd_version(struct snapctl *ctl, int argc, char **argv);
/* sets.c */
int cmd_list(struct snapctl *ctl, int argc, char **argv);
int cmd_create(struct snapctl *ctl, int argc, char **argv);
int cmd_delete(struct snapctl *ctl, int argc, char **argv);
int cmd_show(struct snapctl *ctl, int argc, char **argv);
int cmd_storage(struct snapctl *ctl, int argc, char **argv);
int cmd_track(struct snapctl *ctl, int argc, char **argv);
int cmd_untrack(struct snapctl *ctl, int argc, char **argv);
/* mount.c */
int cmd_mount(struct snapctl *ctl, int argc, char **argv);
int cmd_umount(struct snapctl *ctl, int argc, char **argv);
/* term.c: s with control characters and bytes that are not UTF-8 shown as
 * `\xHH', into buf of size bytes (TERM_TEXT_MAX holds any cs_error message;
 * cut with "..." when it does not fit); returns buf.  For text that writers
 * and cowsnapd supply, on its way to a terminal. */
#define TERM_TEXT_MAX	(4 * CS_ERRMSG_MAX)
const char *term_text(const char *s, char *buf, size_t size);
/* exec.c: CMD (/bin/sh -c) with env (NAME, VALUE, ..., NULL) added; its exit
 * status, 128 + the signal that killed it, -1 when it cannot run. */
int run_cmd(const char *cmd, const char *const env[]);
/* backup.c */
int cmd_backup(struct snapctl *ctl, int argc, char **argv);
int cmd_restore(struct snapctl *ctl, int argc, char **argv);
/* --wait[=SECONDS]; set_create that waits out the shadow-set lock */
int parse_wait(const char *arg, int *wait_s);
int call_create(struct snapctl *ctl, struct cs_client *c, const struct cs_set_create_args *a,
		struct cs_set_result *r, int wait_s, struct cs_error *err);
int list_sets(struct snapctl *ctl);
int list_writers(struct snapctl *ctl);
int list_volumes(struct snapctl *ctl);
int list_storage(struct snapctl *ctl);

#endif
