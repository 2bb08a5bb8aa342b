/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef COWSNAPD_DAEMON_H
#define COWSNAPD_DAEMON_H

#include <stdbool.h>
#include <sys/types.h>

#include "peer.h"
#include "pool.h"
#include "writers.h"
#include "proto.h"

#define CS_MAX_CLIENTS		128
/* a client that does not take a reply within this time is dropped */
#define CS_SEND_TIMEOUT_MS	2000

struct cs_nl;
struct cs_nl_events;

struct cs_client_conn {
	int fd;
	pid_t pid;
	uid_t uid;
	gid_t gid;
	struct cs_framer in;
	/* a backup session waiting for backup_complete (set id, or 0) */
	uint64_t session_set;
	bool session_persistent, session_writers;
	struct cs_session_env session_env;
	struct cs_client_conn *next;
};

struct cowsnapd {
	const char *socket_path;
	const char *module_path;	/* --module FILE, or NULL for modprobe */
	const char *config_dir;		/* storage.conf, writers.d/ */
	struct cs_peer_policy peers;

	struct cs_nl *nl;
	struct cs_nl_events *events;	/* NULL: no module, or no events */
	struct cs_pool pool;
	struct cs_writer_set writers;
	int listen_fd;
	int signal_fd;
	int pid_fd;
	char pid_path[4096];
	bool quit;

	struct cs_client_conn *clients;
	unsigned nclients;
};

/* server.c */
int cs_server_open(struct cowsnapd *d, struct cs_error *err);
void cs_server_close(struct cowsnapd *d);
/* after daemonizing: the pid file gets the daemon's own pid */
int cs_server_write_pid(struct cowsnapd *d);
int cs_server_run(struct cowsnapd *d);
/* events.c: handle what the module multicast */
void cs_events_process(struct cowsnapd *d);
/* ops.c: a client went away (ends its backup session) */
void cs_ops_client_gone(struct cowsnapd *d, struct cs_client_conn *c);
/* ops.c: answer one frame from a client; false when the connection must
 * be closed. */
bool cs_ops_handle(struct cowsnapd *d, struct cs_client_conn *c,
		   const char *body, size_t len, struct cs_buf *out);

#endif
