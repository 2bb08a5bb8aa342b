/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef SNAPCTL_H
#define SNAPCTL_H

#include <stdbool.h>
#include <stdio.h>

#include "cowsnap.h"
#include "exitcodes.h"

/* What -H, -p and -o ask of a `list' table (table.c). */
struct table_opts {
	bool no_header;		/* -H: no header line, one tab between fields */
	bool exact;		/* -p: sizes in bytes, times in seconds since the epoch */
	const char *fields;	/* -o FIELD,...: these columns, in this order */
};

struct snapctl {
	const char *socket;	/* NULL: cs_socket_path() */
	bool json;
	/* with --json: an error object went to stdout, the one JSON text
	 * there may be (see json_error) */
	bool error_shown;
	const char *prog;
	struct table_opts table;
};

struct command {
	const char *name;
	int (*fn)(struct snapctl *ctl, int argc, char **argv);
	const char *help;
};

/* output.c */
int connect_daemon(struct snapctl *ctl, struct cs_client **c);
/* The exit code of a libcowsnap call that failed with ret (-errno); remote:
 * cowsnapd said so (cs_client_remote). */
int call_exit(int ret, bool remote);
/* Print what went wrong on stderr, with what to do (and with --json as an
 * error object on stdout); returns the exit code. */
int report_error(struct snapctl *ctl, struct cs_client *c, int ret,
		 const struct cs_error *err);
int usage_error(struct snapctl *ctl, const char *cmd_usage, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A failure of snapctl's own (not cowsnapd's): `PROG: MESSAGE' on stderr,
 * and with --json the error object (code: an errno value, EIO when there is
 * none); returns exit.  (Not `fail': Check's tests have a macro of that.) */
int report_failure(struct snapctl *ctl, int code, int exit, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* With --json, and only once: {"error": {"code": "EBUSY", "message": ...,
 * "exit": N}} on stdout, so that a script reading stdout gets JSON when
 * snapctl fails too.  The human message is the caller's to print. */
void json_error(struct snapctl *ctl, int code, int exit, const char *message);
/* The inner object of that: {"code": ..., "message": ..., "exit": N} */
struct json_object;
struct json_object *error_object(int code, int exit, const char *message);
/* "EBUSY" for EBUSY: the protocol's name, else glibc's, else "EIO". */
const char *errno_code(int code);
/* The JSON of op's result for --json: what cowsnapd sent, with every key of
 * the schema, zero values included (the protocol leaves those out). */
int json_result(enum cs_op op, const void *result, struct json_object **out,
		struct cs_error *err);
/* A JSON text, pretty-printed, and a newline on stdout. */
void put_json(struct json_object *j);
/* --json's output of a result; an exit code */
int print_json(struct snapctl *ctl, enum cs_op op, const void *result);

/* args.c: --json (or -j) taken out of argv wherever it is before `--', but
 * for the value of an option (--exec CMD, ...); the new argc. */
int take_json(int argc, char **argv, bool *json);

/* table.c: the tables of `list'. */
struct column {
	const char *header;	/* -o's name: in lower case, blanks as `_',
				 * without a remark in parentheses */
	int width;		/* aligned: at least this wide, and its header;
				 * the last column printed is not padded */
};

struct table_def {
	const struct column *cols;
	size_t ncols;
};
#define TABLE_DEF(columns)	{ columns, sizeof(columns) / sizeof((columns)[0]) }

#define TABLE_MAX_FIELDS	32

struct table {
	FILE *f;
	const struct table_opts *o;
	const struct table_def *def;
	size_t sel[TABLE_MAX_FIELDS];	/* the columns to print, in order */
	size_t nsel;
};

/* -H, -p and -o (--no-header, --parsable, --fields) out of argv, anywhere
 * before `--', into ctl->table; argv keeps argv[0] and the other words, in
 * order, *argc their number.  0, or the exit code of a usage error. */
int table_options(struct snapctl *ctl, int *argc, char **argv, const char *usage);
/* t for def on f: -o's names checked (a usage error lists the valid ones);
 * 0, or the exit code. */
int table_init(struct table *t, struct snapctl *ctl, const struct table_def *def, FILE *f,
	       const char *usage);
/* -o's name of a column, into buf */
const char *column_name(const struct column *c, char *buf, size_t size);
/* def's names, "id, state, ...", into buf */
void table_fields(const struct table_def *def, char *buf, size_t size);
void table_header(const struct table *t);
/* cells: one per column of the definition, in its order */
void table_row(const struct table *t, const char *const cells[]);
/* A size (bytes) or a time (ns since the epoch; 0: "-") as the table
 * shows it, in buf. */
const char *table_size(const struct table *t, uint64_t bytes, char *buf, size_t size);
const char *table_time(const struct table *t, uint64_t ns, char *buf, size_t size);

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
/* revert.c */
int cmd_revert(struct snapctl *ctl, int argc, char **argv);
/* output.c: where a revert that has not completed leaves its marker */
#define REVERT_RUN_DIR	"/run/cowsnap"
int revert_mark_path(uint64_t set_id, char *buf, size_t size);
/* backup.c: a --save-metadata document, strictly checked; 0, or -1 after
 * a message */
struct cs_backup_doc;
int load_metadata(struct snapctl *ctl, const char *file, struct cs_backup_doc *doc);
/* restore_begin's writers, components, type and set from such a document
 * (a's arrays point into doc's) */
void restore_args_from_doc(struct cs_restore_args *a, const struct cs_backup_doc *doc);
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
/* Something to do in CMD's process before /bin/sh runs (backup --mount). */
struct cmd_setup {
	/* in the child: 0, or -1 with a message in msg */
	int (*fn)(struct cmd_setup *s);
	void *arg;
	uint64_t token;		/* what fn leaves for the parent */
	char msg[1024];
};
/* run_cmd's result when setup->fn failed (CMD did not run: setup->msg) */
#define CMD_SETUP_FAILED	(-2)
/* run_cmd with setup (NULL: none); setup->token and msg are the child's. */
int run_cmd_setup(const char *cmd, const char *const env[], struct cmd_setup *setup);
/* nsmount.c: backup --mount.  The plan, made in snapctl's namespace, of
 * where s's images go (0, or the exit code after a message); the cmd_setup
 * that carries it out in CMD's process, in a mount namespace of its own;
 * after CMD, the processes it left in that namespace stopped (0, or -1
 * after a message when some would not go). */
struct ns_plan;
int ns_plan_make(struct snapctl *ctl, const struct cs_set *s, struct ns_plan **out);
void ns_plan_free(struct ns_plan *p);
void ns_cmd_setup(struct ns_plan *p, struct cmd_setup *s);
int ns_end(struct snapctl *ctl, uint64_t ns_ino);
/* backup.c */
int cmd_backup(struct snapctl *ctl, int argc, char **argv);
int cmd_restore(struct snapctl *ctl, int argc, char **argv);
/* --wait[=SECONDS]; set_create that waits out the shadow-set lock */
int parse_wait(const char *arg, int *wait_s);
int call_create(struct snapctl *ctl, struct cs_client *c, const struct cs_set_create_args *a,
		struct cs_set_result *r, int wait_s, struct cs_error *err);
/* sets.c: --name NAME checked (CS_SET_NAME_RULE) into dst, of
 * CS_SET_NAME_MAX + 1 bytes; 0, or the exit code of a usage error */
int name_arg(struct snapctl *ctl, const char *arg, char *dst, const char *usage);
/* A SET argument: a set id, or a set's name (asked of cowsnapd); 0, or the
 * exit code after a message */
int set_arg(struct snapctl *ctl, const char *arg, const char *usage, uint64_t *id);
/* sets.c: the lists, and their tables of a result */
extern const struct table_def sets_table, volumes_table, writers_table, storage_table;
int list_sets(struct snapctl *ctl);
int list_writers(struct snapctl *ctl);
int list_volumes(struct snapctl *ctl);
int list_storage(struct snapctl *ctl, const char *usage);
void print_sets(const struct table *t, const struct cs_set_list_result *r);
void print_volumes(const struct table *t, const struct cs_volume_list_result *r);
void print_writers(const struct table *t, const struct cs_writer_list_result *r);
void print_storage(const struct table *t, const struct cs_storage_list_result *r);
/* create's and backup's `storage: SIZE in FILE' lines, for the set's
 * storage in files, each after prefix */
void print_storage_files(FILE *f, const char *prefix, const struct cs_set_result *r);

#endif
