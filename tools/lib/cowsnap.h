/* SPDX-License-Identifier: LGPL-2.1-or-later OR MIT */
/*
 * libcowsnap: the client side of cowsnapd's socket, for snapctl and for
 * third-party requestors and writers.  Each call sends one request and waits
 * for its reply; the message structs are those of proto.h.
 *
 * Every function returns 0 on success or a negative errno value, and fills
 * the struct cs_error it is given with a message fit for a person:
 *   -ENOENT, -ECONNREFUSED   no daemon listens on the socket
 *   -EACCES                  the daemon refused this user
 *   -EPROTO                  the peer speaks another protocol or sent garbage
 *   -ETIMEDOUT               no reply in time
 *   anything else            the daemon's answer (cs_error.message says why)
 * cs_client_remote() tells whether the last error came from the daemon.
 */
#ifndef COWSNAP_H
#define COWSNAP_H

#include "proto.h"
#include "size.h"

struct cs_client;

/* $COWSNAP_SOCKET when set and non-empty, else CS_DEFAULT_SOCKET. */
const char *cs_socket_path(void);

int cs_client_open(const char *path, struct cs_client **out, struct cs_error *err);
void cs_client_close(struct cs_client *c);
bool cs_client_remote(const struct cs_client *c);
/* Timeout for each reply, in ms; < 0 waits forever (default 30000). */
void cs_client_set_timeout(struct cs_client *c, int timeout_ms);

/* Generic call: args is a struct of cs_ops[op].args, result one of
 * cs_ops[op].result, zeroed by the caller and freed with cs_result_free. */
int cs_call(struct cs_client *c, enum cs_op op, const void *args, void *result,
	    struct cs_error *err);
void cs_result_free(enum cs_op op, void *result);
/* A list (set_list, volume_list, writer_list) whole: every page the daemon
 * has, joined into one result whose next is 0. */
int cs_call_list(struct cs_client *c, enum cs_op op, void *result, struct cs_error *err);

/*
 * The changed-block map's answer for args->volume (since args->since_seq,
 * or the take of args->set_id), every page from args->first on, as byte
 * ranges in order, cut at size (a volume's size at the take: chunks past it
 * hold nothing to read): fn(ctx, offset, length, chunks) for each.  A
 * non-zero return of fn ends the walk and is returned as it is; otherwise
 * 0 or -errno with err set (-EPROTO: the answer does not advance, -EAGAIN:
 * the chunk size changed between pages).  *chunk_sectors (may be NULL): the
 * map's chunk size.
 */
typedef int cs_cbt_range_fn(void *ctx, uint64_t off, uint64_t len, uint64_t chunks);
int cs_cbt_walk(struct cs_client *c, const struct cs_cbt_get_args *args, uint64_t size,
		cs_cbt_range_fn *fn, void *ctx, uint32_t *chunk_sectors, struct cs_error *err);

static inline int cs_call_version(struct cs_client *c, struct cs_version *v,
				  struct cs_error *err)
{
	struct cs_empty none = { 0 };

	return cs_call(c, CS_OP_VERSION, &none, v, err);
}

/* The connection's socket (for poll), and one whole frame from it (valid
 * until the next read); cs_client_buffered: bytes already read wait. */
int cs_client_fd(const struct cs_client *c);
int cs_client_read_frame(struct cs_client *c, const char **body, size_t *len,
			 int timeout_ms);
bool cs_client_buffered(const struct cs_client *c);

/*
 * Socket writers (docs/writers.md).  A writer registers its Writer Metadata
 * Document, then answers events one at a time, in the order cowsnapd sends
 * them:
 *
 *	cs_writer_register(NULL, &wmd, &w, &err);
 *	for (;;) {
 *		cs_writer_next_event(w, &ev, -1, &err);	  (-ECONNRESET: cowsnapd is gone)
 *		... ev.event is CS_EV_FREEZE etc. ...
 *		cs_writer_reply(w, NULL, &err);		  (or a veto: an error)
 *		cs_writer_event_free(&ev);
 *	}
 *
 * A veto's code: EAGAIN is a retryable error, ENOMEM or ENOSPC out of
 * resources, any other non-retryable.  Not answering within ev.timeout_ms,
 * or closing the connection during a session, fails the session.
 */
struct cs_writer_client;

int cs_writer_register(const char *path, const struct cs_wmd *wmd,
		       struct cs_writer_client **out, struct cs_error *err);
int cs_writer_fd(const struct cs_writer_client *w);
int cs_writer_next_event(struct cs_writer_client *w, struct cs_writer_event *ev,
			 int timeout_ms, struct cs_error *err);
int cs_writer_reply(struct cs_writer_client *w, const struct cs_error *veto,
		    struct cs_error *err);
void cs_writer_event_free(struct cs_writer_event *ev);
void cs_writer_close(struct cs_writer_client *w);

#endif /* COWSNAP_H */
