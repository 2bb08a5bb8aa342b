/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef COWSNAPD_SESSION_H
#define COWSNAPD_SESSION_H

#include "daemon.h"

/* How a backup session ends: its requestor says so (backup_complete), goes
 * away, or runs out of time (--max-session). */
enum cs_session_end { CS_SESSION_COMPLETED, CS_SESSION_GONE, CS_SESSION_EXPIRED };

/* The shadow-set lock, and who may take it: EBUSY while another
 * connection's session holds it, EINVAL on a socket writer's connection. */
int cs_session_may_start(struct cowsnapd *d, struct cs_client_conn *c, struct cs_error *err);

/* set_create: the backup sequence (session.c's header comment).  On error
 * nothing is left: no set, no storage, every prepared writer aborted. */
int cs_session_create(struct cowsnapd *d, struct cs_client_conn *c,
		      const struct cs_set_create_args *a, struct cs_set_result *r,
		      struct cs_error *err);

/* End c's backup session: backup-complete with success (completed) or
 * backup-shutdown (gone, expired); then the set goes unless persistent. */
int cs_session_end(struct cowsnapd *d, struct cs_client_conn *c, enum cs_session_end how,
		   bool success, struct cs_error *err);

/* Where set id's storage is, into r (set_create, set_show); left out
 * when the reply could not carry it. */
void cs_session_describe_storage(struct cowsnapd *d, uint64_t id, struct cs_set_result *r);

/* ops.c: the module's errors, said for admins ("what: message") */
void cs_ops_explain(struct cs_error *err, int ret, const char *what);

#endif
