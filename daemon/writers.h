/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef COWSNAPD_WRITERS_H
#define COWSNAPD_WRITERS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto.h"

struct cowsnapd;

/*
 * Hook writers: CONFIG_DIR/writers.d/NAME.conf, one per application.
 *
 *	exec PATH              run as `PATH EVENT' for every event (required)
 *	order ORDER            front-end | back-end | system (default back-end);
 *	                       freeze goes in this order, thaw in reverse
 *	freeze-timeout DUR     how long the writer may take to freeze and stay
 *	                       frozen (default 60s)
 *	event-timeout DUR      any other event (default 30s)
 *
 * Events: prepare-backup, prepare-snapshot, freeze, thaw, post-snapshot,
 * backup-complete, abort, backup-shutdown.  The hook's environment carries COWSNAP_EVENT,
 * COWSNAP_WRITER, COWSNAP_SET_ID (once known), COWSNAP_VOLUMES (the origin
 * devices, space-separated), COWSNAP_BACKUP_TYPE, and for backup-complete
 * COWSNAP_BACKUP_SUCCESS (1 or 0).  Exit 0 is success, 75
 * (EX_TEMPFAIL) a retryable veto, anything else a non-retryable one.
 *
 * freeze may hold the application frozen across the take: it prints a line
 * `frozen' on stdout and keeps running; at thaw cowsnapd closes the hook's
 * stdin and the hook must then release and exit.  If cowsnapd dies the
 * hook sees the same end of file, so an application is never left frozen
 * for longer than the hook's own wait.  A freeze hook that simply exits 0
 * is frozen as well (it must then thaw on the thaw event).
 */

enum cs_writer_order { CS_ORDER_FRONT_END, CS_ORDER_BACK_END, CS_ORDER_SYSTEM };

/* the index names match cs_writer_state_names / cs_writer_error_names */
enum cs_writer_state {
	CS_WS_STABLE,
	CS_WS_WAITING_FOR_FREEZE,
	CS_WS_WAITING_FOR_THAW,
	CS_WS_WAITING_FOR_POST_SNAPSHOT,
	CS_WS_WAITING_FOR_BACKUP_COMPLETE,
	CS_WS_FAILED_AT_PREPARE_BACKUP,
	CS_WS_FAILED_AT_PREPARE_SNAPSHOT,
	CS_WS_FAILED_AT_FREEZE,
	CS_WS_FAILED_AT_THAW,
	CS_WS_FAILED_AT_POST_SNAPSHOT,
	CS_WS_FAILED_AT_BACKUP_COMPLETE,
};

enum cs_writer_error {
	CS_WE_NONE,
	CS_WE_TIMEOUT,
	CS_WE_RETRYABLE,
	CS_WE_NONRETRYABLE,
	CS_WE_INCONSISTENT_SNAPSHOT,
	CS_WE_OUT_OF_RESOURCES,
};

struct cs_writer {
	char name[CS_NAME_MAX + 1];
	char exec[CS_PATH_MAX + 1];
	int order;
	unsigned freeze_timeout_ms, event_timeout_ms;
	int state;			/* enum cs_writer_state */
	int error;			/* enum cs_writer_error */
	char last_message[CS_ERRMSG_MAX];
	/* a freeze hook holding the application frozen */
	pid_t hold_pid;
	int hold_stdin;
};

struct cs_writer_set {
	struct cs_writer *w;
	size_t n;
};

/* Parse one writer's configuration (pure; err names file and line). */
int cs_writer_conf_parse(FILE *f, const char *file, struct cs_writer *w,
			 struct cs_error *err);
/* "60s", "500ms", "2m" -> milliseconds; -EINVAL otherwise. */
int cs_parse_duration(const char *s, unsigned *ms);

/* Read CONFIG_DIR/writers.d/ (a writer that does not parse is logged and
 * left out). */
int cs_writers_load(struct cowsnapd *d, struct cs_error *err);
void cs_writers_free(struct cowsnapd *d);

/* Run the writer sequence around take().  take() is called with every
 * writer frozen; returns its result.  On any writer failure the writers
 * get abort (and thaw), *writer_failed is set, err names the writer. */
struct cs_session_env {
	uint64_t set_id;
	char volumes[1024];
	const char *backup_type;
	const char *success;		/* backup-complete: "1" or "0" */
};
int cs_writers_prepare(struct cowsnapd *d, struct cs_session_env *env,
		       struct cs_error *err);
int cs_writers_freeze(struct cowsnapd *d, struct cs_session_env *env,
		      struct cs_error *err);
/* Always thaws every writer that is frozen; -errno when one failed. */
int cs_writers_thaw(struct cowsnapd *d, struct cs_session_env *env,
		    struct cs_error *err);
int cs_writers_post_snapshot(struct cowsnapd *d, struct cs_session_env *env,
			     struct cs_error *err);
int cs_writers_complete(struct cowsnapd *d, struct cs_session_env *env,
			struct cs_error *err);
/* The requestor went away: backup-shutdown to every writer. */
void cs_writers_shutdown(struct cowsnapd *d, struct cs_session_env *env);
/* abort to every writer not stable-and-untouched; also thaws. */
void cs_writers_abort(struct cowsnapd *d, struct cs_session_env *env);

#endif
