/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef COWSNAPD_DAEMON_H
#define COWSNAPD_DAEMON_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "peer.h"
#include "pool.h"
#include "writers.h"
#include "proto.h"

#define CS_MAX_CLIENTS		CS_PEER_MAX
/*
 * Replies wait in a client's output queue until its socket takes them; the
 * daemon never blocks on a write.  A client that lets more than CS_OUT_MAX
 * (16 frames of the largest size) pile up, or that leaves its queue
 * undrained for CS_OUT_DRAIN_MS, is dropped.
 */
#define CS_OUT_MAX		(4u << 20)
#define CS_OUT_DRAIN_MS		10000
/* --idle-timeout's default: a non-root connection that has sent nothing for
 * this long, and has nothing in progress, is closed (0: never) */
#define CS_IDLE_TIMEOUT_MS	60000
/* --max-session's default: a backup session with writers, or a restore,
 * holds the shadow-set lock (and keeps its writers waiting) at most this
 * long; then it ends as if its requestor had gone (0: never) */
#define CS_MAX_SESSION_MS	(24u * 3600 * 1000)
/* the most --max-session takes: 30 days */
#define CS_MAX_SESSION_CAP_MS	(30u * 24 * 3600 * 1000)

/* CLOCK_MONOTONIC in ms: every deadline of the daemon */
static inline int64_t cs_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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
	/* monotonic ms: its backup or restore session began (--max-session) */
	int64_t session_began;
	/* the set whose session --max-session ended, for backup_complete's
	 * error (0: none); restore_expired: the same for restore_end */
	uint64_t session_expired;
	bool restore_expired;
	bool writer;			/* a socket writer registered on it */
	bool restore;			/* a restore session waits for restore_end */
	bool gone;			/* closed, seen while a session ran */
	bool deferred;			/* a request waits in `in' for the module */
	/* replies the client has not taken yet: out.data[out_off, out.len) */
	struct cs_buf out;
	size_t out_off;
	int64_t out_since;		/* monotonic ms: queue non-empty since (0: empty) */
	int64_t last_input;		/* monotonic ms: the client last sent bytes */
	struct cs_client_conn *next;
};

struct cowsnapd {
	const char *socket_path;
	const char *module_path;	/* --module FILE, or NULL for modprobe */
	const char *config_dir;		/* storage.conf, writers.d/ */
	/* --default-storage: storage files go there first when storage.conf
	 * configures none (CS_DEFAULT_STORAGE_DIR unless given) */
	const char *default_storage;
	struct cs_peer_policy peers;

	struct cs_nl *nl;
	struct cs_nl_events *events;	/* NULL: no module, or no events */
	struct cs_pool pool;
	struct cs_writer_set writers;
	struct cs_owners owners;	/* who created each set (cs_peer_may) */
	/* free space at the take of sets on their own volumes (freemap.c) */
	struct cs_freemap *freemaps;
	int listen_fd;
	int signal_fd;
	int pid_fd;
	char pid_path[4096];
	bool quit;
	bool reload;			/* SIGHUP seen: re-read the configuration */
	/* stopping: RAM storage goes once the module lets go of it
	 * (cs_storage_stop, cs_storage_close) */
	bool ram_drop;

	struct cs_client_conn *clients;
	unsigned nclients;

	/* the shadow-set lock: the connection whose session defines a set
	 * or whose backup/restore session still involves writers */
	struct cs_client_conn *session_owner;
	bool in_session;		/* inside a session's synchronous steps */
	/* a session's netlink request is outstanding: netlink.c waits for
	 * the answer through cs_daemon_wait(), and other clients' requests
	 * that need the module are deferred (the netlink socket is in use) */
	bool nl_busy;
	uint32_t event_seq;		/* ids of writer_event requests */
	/* --max-freeze: from the first writer's freeze until every writer is
	 * thawed, at most this (0: CS_MAX_FREEZE_MS) */
	unsigned max_freeze_ms;
	/* --idle-timeout (CS_IDLE_TIMEOUT_MS unless given; 0: never) */
	unsigned idle_timeout_ms;
	/* --max-session (CS_MAX_SESSION_MS unless given; 0: never) */
	unsigned max_session_ms;
	/* poll() that answers other clients meanwhile (server.c) */
	int (*wait_fn)(struct cowsnapd *d, struct pollfd *p, nfds_t n, int timeout_ms);
};

/* Wait as poll() does; while a session waits for a writer, the daemon
 * still answers other clients (a second requestor gets EBUSY at once). */
static inline int cs_daemon_wait(struct cowsnapd *d, struct pollfd *p, nfds_t n,
				 int timeout_ms)
{
	return d->wait_fn ? d->wait_fn(d, p, n, timeout_ms) : poll(p, n, timeout_ms);
}

/* server.c */
int cs_server_open(struct cowsnapd *d, struct cs_error *err);
void cs_server_close(struct cowsnapd *d);
/* after daemonizing: the pid file gets the daemon's own pid */
int cs_server_write_pid(struct cowsnapd *d);
int cs_server_run(struct cowsnapd *d);
/* main.c: re-read writers.d and storage.conf (SIGHUP), sets untouched */
void cs_reload(struct cowsnapd *d);
/* events.c: handle what the module multicast */
void cs_events_process(struct cowsnapd *d);
/* events.c: at start, grow the sets that ran low while cowsnapd was away */
struct cs_set;
void cs_events_catch_up(struct cowsnapd *d, const struct cs_set *sets, uint32_t n);
/* ops.c: a client went away (ends its backup session) */
void cs_ops_client_gone(struct cowsnapd *d, struct cs_client_conn *c);
/* ops.c: c's session held the lock for --max-session: end it as if c had
 * gone, c stays connected */
void cs_ops_session_expired(struct cowsnapd *d, struct cs_client_conn *c);
/* ops.c: answer one frame from a client */
enum cs_handled {
	CS_HANDLED_CLOSE,	/* the connection must be closed */
	CS_HANDLED_OK,		/* answered (possibly with an error) */
	CS_HANDLED_DEFER,	/* not now: hand the same frame in again later */
};
enum cs_handled cs_ops_handle(struct cowsnapd *d, struct cs_client_conn *c,
			      const char *body, size_t len, struct cs_buf *out);

#endif
