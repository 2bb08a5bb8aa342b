/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef COWSNAPD_WRITERS_H
#define COWSNAPD_WRITERS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto.h"
#include "volumes.h"

struct cowsnapd;
struct cs_client_conn;

/*
 * Hook writers: CONFIG_DIR/writers.d/NAME.conf, one per application.
 *
 *	exec PATH              run as `PATH EVENT' for every event (required)
 *	order ORDER            front-end | back-end | system (default back-end);
 *	                       freeze goes in this order, thaw in reverse
 *	freeze-timeout DUR     how long the writer may take to freeze and stay
 *	                       frozen, from its freeze event until thaw
 *	                       (default 60s, at most the daemon's max-freeze)
 *	event-timeout DUR      any other event (default 30s)
 *
 * Events: prepare-backup, prepare-snapshot, freeze, thaw, post-snapshot,
 * backup-complete, abort, backup-shutdown.  The hook's environment carries COWSNAP_EVENT,
 * COWSNAP_WRITER, COWSNAP_SET_ID (once known), COWSNAP_VOLUMES (the origin
 * device nodes, space-separated, whole), COWSNAP_BACKUP_TYPE, for backup-complete
 * COWSNAP_BACKUP_SUCCESS (1 or 0), and for post-snapshot and backup-complete
 * COWSNAP_SNAPSHOTS (ORIGIN=IMAGE ...) and COWSNAP_IMAGES_WRITABLE (1 when
 * the images take writes then: --writable, or --auto-recover until the
 * images are sealed, after post-snapshot).  Exit 0 is success, 75
 * (EX_TEMPFAIL) a retryable veto, anything else a non-retryable one.
 *
 * freeze may hold the application frozen across the take: it prints a line
 * `frozen' on stdout and keeps running; at thaw cowsnapd closes the hook's
 * stdin and the hook must then release and exit.  If cowsnapd dies the
 * hook sees the same end of file, so an application is never left frozen
 * for longer than the hook's own wait.  A freeze hook that simply exits 0
 * is frozen as well (it must then thaw on the thaw event).
 *
 * Socket writers: a process registers a Writer Metadata Document on its
 * connection (writer_register) and answers writer_event requests on it.
 * Its connection closing during a session is a crash: the session fails.
 * Once gone, a writer that failed stays listed (state and error) until the
 * next session starts or a writer of the same name registers.
 *
 * A session selects writers (cs_writers_select); only selected writers get
 * events.  The sequence, per writer: identify (socket writers only),
 * prepare-backup, prepare-snapshot, freeze (front-end, back-end, system),
 * thaw (reverse), post-snapshot, backup-complete or backup-shutdown; abort
 * on a failure before thaw.  Restore: pre-restore, post-restore.
 */

enum cs_writer_order { CS_ORDER_FRONT_END, CS_ORDER_BACK_END, CS_ORDER_SYSTEM };
enum cs_writer_kind { CS_WRITER_HOOK, CS_WRITER_SOCKET };

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
	CS_WS_FAILED_AT_IDENTIFY,
	CS_WS_FAILED_AT_PRE_RESTORE,
	CS_WS_FAILED_AT_POST_RESTORE,
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

	int kind;			/* enum cs_writer_kind */
	/* socket writers: the connection (NULL once it closed), the peer's
	 * pid, its metadata (arrays malloc'd); dead once its connection
	 * failed in a session (no more events go to it) */
	struct cs_client_conn *conn;
	pid_t pid;
	struct cs_wmd wmd;
	bool dead;
	/* the session: selected writers get events; whole, or only the
	 * components in sel */
	bool selected, whole;
	struct cs_component_ref *sel;
	uint32_t nsel;
	/* monotonic ms when it was sent freeze in this session, 0 before */
	int64_t freeze_start;
};

struct cs_writer_set {
	struct cs_writer *w;
	size_t n;
};

/* The ceiling on a writer's freeze: the default of cowsnapd --max-freeze. */
#define CS_MAX_FREEZE_MS	60000

/*
 * Pure: when the writers frozen so far must all be thawed.  Each writer's
 * freeze window runs timeout_ms from start_ms, when it was sent freeze; the
 * daemon's ceiling, ceiling_ms from the start of the freeze phase, bounds
 * them all.  Past the earliest of these the session aborts.
 */
struct cs_freeze_window {
	int64_t start_ms;
	unsigned timeout_ms;
};
int64_t cs_freeze_deadline(int64_t phase_start, unsigned ceiling_ms,
			   const struct cs_freeze_window *w, size_t n);

/* Parse one writer's configuration (pure; err names file and line). */
int cs_writer_conf_parse(FILE *f, const char *file, struct cs_writer *w,
			 struct cs_error *err);
/* "60s", "500ms", "2m", "1h" -> milliseconds, above 0 and at most 24 h
 * (cs_parse_duration), or max_ms ("d" is days); -EINVAL otherwise. */
int cs_parse_duration(const char *s, unsigned *ms);
int cs_parse_duration_max(const char *s, unsigned max_ms, unsigned *ms);

/* Read CONFIG_DIR/writers.d/ (a writer that does not parse is logged and
 * left out).  cs_writers_reload: the hook writers read again (SIGHUP),
 * registered socket writers kept. */
int cs_writers_reload(struct cowsnapd *d, struct cs_error *err);
int cs_writers_load(struct cowsnapd *d, struct cs_error *err);
void cs_writers_free(struct cowsnapd *d);

/* Run the writer sequence around take().  take() is called with every
 * writer frozen; returns its result.  On any writer failure the writers
 * get abort (and thaw), *writer_failed is set, err names the writer. */
struct cs_session_env {
	/* the freeze phase: when it began, and when every writer must be
	 * thawed at the latest (cs_freeze_deadline); 0 outside it */
	int64_t freeze_began, freeze_deadline;
	uint64_t set_id;
	/* COWSNAP_VOLUMES (cs_session_env_add_volume): up to CS_MAX_VOLUMES
	 * device nodes, each followed by a space or the final NUL */
	char volumes[CS_MAX_VOLUMES * CS_DEVNODE_SIZE];
	/* once the set is taken (cs_session_env_add_snapshot): ORIGIN=IMAGE
	 * per volume, space-separated, as snapctl backup's COWSNAP_SNAPSHOTS;
	 * with images_writable (whether the images take writes at that
	 * moment), told at post-snapshot and backup-complete only */
	char snapshots[CS_MAX_VOLUMES * 2 * CS_DEVNODE_SIZE];
	bool images_writable;
	const char *backup_type;
	const char *success;		/* backup-complete: "1" or "0" */
	/* backup-complete: components the requestor says failed */
	const struct cs_component_ref *failed;
	uint32_t nfailed;
};

/* Append one origin device node to env->volumes (COWSNAP_VOLUMES),
 * space-separated, whole or not at all: -EINVAL for "" or a name with a
 * space (a hook would read two), -ENAMETOOLONG when it does not fit (never
 * for CS_MAX_VOLUMES nodes from cs_volume_resolve).  The list is left as
 * it was on error. */
int cs_session_env_add_volume(struct cs_session_env *env, const char *devnode);
/* Append `origin=image' to env->snapshots (COWSNAP_SNAPSHOTS), whole or
 * not at all: -EINVAL for an empty name, a space in either or `=' in the
 * image, -ENAMETOOLONG when it does not fit. */
int cs_session_env_add_snapshot(struct cs_session_env *env, const char *origin,
				const char *image);
/* Does event ev tell the writers the snapshots (post-snapshot,
 * backup-complete)? */
bool cs_event_has_snapshots(int ev);

/* Start a session: forget the last one's failures and gone writers, and
 * select who takes part: with n == 0 every writer, whole; else the named
 * writers (path "") or components (and everything below a logical path).
 * Writers that do not support backup_type are left out (an error when
 * named).  none: nobody.  Returns how many were selected, or -EINVAL. */
int cs_writers_select(struct cowsnapd *d, const struct cs_component_ref *refs,
		      uint32_t n, int backup_type, bool none, struct cs_error *err);
/*
 * Start a restore session without the backup's metadata: select the
 * writers with data where on(dir, ctx) says (the volumes restored).  A
 * socket writer takes part with its components that have a file whose
 * directory on() accepts, whole when such a component is not selectable on
 * its own; a hook writer declares no files: it takes part whole (and reads
 * COWSNAP_VOLUMES).  Writers that do not support backup_type, and socket
 * writers with nothing there, are left out.  Returns how many were
 * selected, or -errno.
 */
int cs_writers_select_files(struct cowsnapd *d, int backup_type,
			    bool (*on)(const char *dir, void *ctx), void *ctx, struct cs_error *err);
/* Is component c of socket writer w selected? */
bool cs_writer_component_selected(const struct cs_writer *w,
				  const struct cs_wmd_component *c);
/* A socket writer registers (takes over wmd's arrays); its connection went. */
int cs_writers_register(struct cowsnapd *d, struct cs_client_conn *c, pid_t pid,
			struct cs_wmd *wmd, struct cs_error *err);
void cs_writers_conn_gone(struct cowsnapd *d, struct cs_client_conn *c);
/* Restore: pre-restore to the selected writers; post-restore. */
int cs_writers_pre_restore(struct cowsnapd *d, struct cs_session_env *env,
			   struct cs_error *err);
int cs_writers_post_restore(struct cowsnapd *d, struct cs_session_env *env,
			    struct cs_error *err);
int cs_writers_prepare(struct cowsnapd *d, struct cs_session_env *env,
		       struct cs_error *err);
int cs_writers_freeze(struct cowsnapd *d, struct cs_session_env *env,
		      struct cs_error *err);
/* -ETIMEDOUT with err saying so once the freeze phase is past its bound
 * (the take must not start then). */
int cs_writers_hold_check(struct cowsnapd *d, struct cs_session_env *env,
			  struct cs_error *err);
/* Always thaws every writer that is frozen; -errno when one failed (one
 * held past its freeze window or the ceiling fails with TIMEOUT). */
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
