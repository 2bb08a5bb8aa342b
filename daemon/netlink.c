// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * All generic netlink of cowsnapd: requests to the cowsnap module and the
 * parsing of its replies.  One request at a time on one socket; the daemon's
 * event loop is single-threaded, so no locking.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

#include <linux/cowsnap.h>

#include "log.h"
#include "netlink.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

struct cs_nl {
	struct nl_sock *sk;
	int family;
	int (*wait)(void *arg, int fd);	/* NULL: block in the receive */
	void *wait_arg;
};

void cs_nl_set_wait(struct cs_nl *nl, int (*wait)(void *arg, int fd), void *arg)
{
	nl->wait = wait;
	nl->wait_arg = arg;
}

static const char *const cmd_names[] = {
	[COWSNAP_CMD_GET_VERSION] = "GET_VERSION",
	[COWSNAP_CMD_SET_NEW] = "SET_NEW",
	[COWSNAP_CMD_SET_ADD_VOLUME] = "SET_ADD_VOLUME",
	[COWSNAP_CMD_SET_ADD_STORAGE] = "SET_ADD_STORAGE",
	[COWSNAP_CMD_SET_TAKE] = "SET_TAKE",
	[COWSNAP_CMD_SET_DESTROY] = "SET_DESTROY",
	[COWSNAP_CMD_SET_GET] = "SET_GET",
	[COWSNAP_CMD_VOLUME_GET] = "VOLUME_GET",
	[COWSNAP_CMD_TRACK] = "TRACK",
	[COWSNAP_CMD_UNTRACK] = "UNTRACK",
	[COWSNAP_CMD_CBT_GET] = "CBT_GET",
	[COWSNAP_CMD_SET_ADD_FREE] = "SET_ADD_FREE",
	[COWSNAP_CMD_SET_GET_ZERO] = "SET_GET_ZERO",
};

/* What userspace accepts from the module; strict like the module is. */
static struct nla_policy policy[COWSNAP_A_MAX + 1] = {
	[COWSNAP_A_VERSION] = { .type = NLA_NUL_STRING, .maxlen = COWSNAP_VERSION_MAX_LEN },
	[COWSNAP_A_PROTO_VERSION] = { .type = NLA_U32 },
	[COWSNAP_A_SET_ID] = { .type = NLA_U64 },
	[COWSNAP_A_SET_STATE] = { .type = NLA_U32 },
	[COWSNAP_A_SET_FLAGS] = { .type = NLA_U32 },
	[COWSNAP_A_INVALID_CAUSE] = { .type = NLA_U32 },
	[COWSNAP_A_CHUNK_SECTORS] = { .type = NLA_U32 },
	[COWSNAP_A_CREATED_NS] = { .type = NLA_U64 },
	[COWSNAP_A_TAKEN_NS] = { .type = NLA_U64 },
	[COWSNAP_A_DEV_MAJOR] = { .type = NLA_U32 },
	[COWSNAP_A_DEV_MINOR] = { .type = NLA_U32 },
	[COWSNAP_A_DEV_NAME] = { .type = NLA_NUL_STRING, .maxlen = COWSNAP_DEV_NAME_MAX_LEN },
	[COWSNAP_A_SECTORS] = { .type = NLA_U64 },
	[COWSNAP_A_STORAGE_SECTORS] = { .type = NLA_U64 },
	[COWSNAP_A_STORAGE_USED] = { .type = NLA_U64 },
	[COWSNAP_A_VOLUMES] = { .type = NLA_NESTED },
	[COWSNAP_A_IMAGE_MAJOR] = { .type = NLA_U32 },
	[COWSNAP_A_IMAGE_MINOR] = { .type = NLA_U32 },
	[COWSNAP_A_CHUNKS_COPIED] = { .type = NLA_U64 },
	[COWSNAP_A_MARK_SET_ID] = { .type = NLA_U64 },
	[COWSNAP_A_VOLUME_FLAGS] = { .type = NLA_U32 },
	[COWSNAP_A_SNAPSHOTS] = { .type = NLA_U32 },
	[COWSNAP_A_CBT_GENERATION] = { .minlen = COWSNAP_CBT_GENERATION_LEN,
				       .maxlen = COWSNAP_CBT_GENERATION_LEN },
	[COWSNAP_A_CBT_FIRST] = { .type = NLA_U64 },
	[COWSNAP_A_CBT_SEQ] = { .type = NLA_U32 },
	/* libnl's maxlen counts the NUL */
	[COWSNAP_A_SET_NAME] = { .type = NLA_NUL_STRING, .maxlen = COWSNAP_SET_NAME_MAX_LEN + 1 },
	[COWSNAP_A_SECTOR] = { .type = NLA_U64 },
	[COWSNAP_A_FREE_RANGES] = { .maxlen = COWSNAP_ZERO_GET_MAX * sizeof(struct cowsnap_range) },
};

/* A CBT generation as a UUID string, as the socket protocol shows it. */
static void format_generation(const struct nlattr *a, char *out, size_t size)
{
	const uint8_t *g = nla_data(a);

	snprintf(out, size, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x", g[0], g[1], g[2], g[3], g[4], g[5], g[6],
		 g[7], g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15]);
}

struct req {
	int cmd;
	int error;		/* from NLMSG_ERROR, negative */
	bool done;
	char extack[256];
	int (*parse)(struct req *r, struct nlattr **tb);
	void *ctx;
	int parse_err;
};

static int valid_cb(struct nl_msg *msg, void *arg)
{
	struct req *r = arg;
	struct nlattr *tb[COWSNAP_A_MAX + 1];
	int ret;

	ret = genlmsg_parse(nlmsg_hdr(msg), 0, tb, COWSNAP_A_MAX, policy);
	if (ret < 0) {
		r->parse_err = -EPROTO;
		return NL_SKIP;
	}
	if (r->parse && !r->parse_err)
		r->parse_err = r->parse(r, tb);
	return NL_OK;
}

static int finish_cb(struct nl_msg *msg, void *arg)
{
	struct req *r = arg;

	r->done = true;
	return NL_STOP;
}

static int error_cb(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct req *r = arg;
	struct nlmsghdr *nlh = (struct nlmsghdr *)((char *)e - NLMSG_HDRLEN);
	size_t off = sizeof(*e);
	int len;

	r->error = e->error;
	r->done = true;
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return NL_STOP;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - NLMSG_HDRLEN;
	len = (int)nlh->nlmsg_len - NLMSG_HDRLEN - (int)off;
	if (len > 0) {
		struct nlattr *a;
		int rem;

		nla_for_each_attr(a, (struct nlattr *)((char *)e + off), len, rem) {
			if (nla_type(a) == NLMSGERR_ATTR_MSG && nla_len(a) > 0) {
				snprintf(r->extack, sizeof(r->extack), "%.*s",
					 nla_len(a), (const char *)nla_data(a));
				r->extack[strcspn(r->extack, "\n")] = '\0';
			}
		}
	}
	return NL_STOP;
}

static int resolve(struct cs_nl *nl, struct cs_error *err)
{
	int fam = genl_ctrl_resolve(nl->sk, COWSNAP_GENL_NAME);

	if (fam < 0) {
		nl->family = 0;
		if (fam == -NLE_OBJ_NOTFOUND) {
			cs_error_set(err, ENOENT, "the cowsnap module is not loaded "
				     "(no generic netlink family \"" COWSNAP_GENL_NAME "\")");
			return -ENOENT;
		}
		cs_error_set(err, EIO, "cannot resolve generic netlink family \""
			     COWSNAP_GENL_NAME "\": %s", nl_geterror(fam));
		return -EIO;
	}
	nl->family = fam;
	return 0;
}

int cs_nl_open(struct cs_nl **out, struct cs_error *err)
{
	struct cs_nl *nl = calloc(1, sizeof(*nl));
	int one = 1, ret;

	*out = NULL;
	if (!nl) {
		cs_error_set(err, ENOMEM, "out of memory");
		return -ENOMEM;
	}
	nl->sk = nl_socket_alloc();
	if (!nl->sk) {
		free(nl);
		cs_error_set(err, ENOMEM, "out of memory");
		return -ENOMEM;
	}
	ret = genl_connect(nl->sk);
	if (ret < 0) {
		cs_error_set(err, EIO, "cannot open a generic netlink socket: %s",
			     nl_geterror(ret));
		cs_nl_close(nl);
		return -EIO;
	}
	/* best effort: older kernels simply send no extended ack */
	setsockopt(nl_socket_get_fd(nl->sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(nl_socket_get_fd(nl->sk), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	ret = resolve(nl, err);
	if (ret) {
		cs_nl_close(nl);
		return ret;
	}
	*out = nl;
	return 0;
}

void cs_nl_close(struct cs_nl *nl)
{
	if (!nl)
		return;
	nl_socket_free(nl->sk);
	free(nl);
}

static const char *cmd_name(int cmd)
{
	if (cmd > 0 && (size_t)cmd < sizeof(cmd_names) / sizeof(cmd_names[0]) && cmd_names[cmd])
		return cmd_names[cmd];
	return "?";
}

/* Send msg (consumed) and run its replies through r->parse. */
static int transact_now(struct cs_nl *nl, struct nl_msg *msg, struct req *r,
			struct cs_error *err)
{
	struct nl_cb *cb;
	int ret;

	r->done = false;
	r->error = 0;
	r->parse_err = 0;
	r->extack[0] = '\0';
	ret = nl_send_auto(nl->sk, msg);
	nlmsg_free(msg);
	if (ret < 0) {
		cs_error_set(err, EIO, "cowsnap %s: send failed: %s", cmd_name(r->cmd),
			     nl_geterror(ret));
		return -EIO;
	}
	cb = nl_cb_clone(nl_socket_get_cb(nl->sk));
	if (!cb) {
		cs_error_set(err, ENOMEM, "out of memory");
		return -ENOMEM;
	}
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, valid_cb, r);
	nl_cb_set(cb, NL_CB_FINISH, NL_CB_CUSTOM, finish_cb, r);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, finish_cb, r);
	nl_cb_err(cb, NL_CB_CUSTOM, error_cb, r);
	while (!r->done) {
		ret = nl_recvmsgs(nl->sk, cb);
		if (ret < 0 && !r->done) {
			nl_cb_put(cb);
			cs_error_set(err, EIO, "cowsnap %s: receive failed: %s",
				     cmd_name(r->cmd), nl_geterror(ret));
			return -EIO;
		}
	}
	nl_cb_put(cb);
	if (r->error) {
		cs_error_set(err, -r->error, "cowsnap %s: %s%s%s", cmd_name(r->cmd),
			     strerror(-r->error), r->extack[0] ? ": " : "", r->extack);
		return r->error;
	}
	if (r->parse_err) {
		cs_error_set(err, -r->parse_err, "cowsnap %s: malformed reply from the module",
			     cmd_name(r->cmd));
		return r->parse_err;
	}
	return 0;
}

/*
 * The kernel runs a generic-netlink command inside the sender's sendmsg(),
 * so a SET_TAKE blocks its sender for the whole take (up to the hold time).
 * With a wait hook (the daemon in a session), the request runs on a thread
 * of its own while the hook answers other clients; the hook returns when
 * the eventfd says the thread is done.  Only that thread uses the socket
 * meanwhile: the daemon defers every other request that needs the module.
 */
struct transact_job {
	struct cs_nl *nl;
	struct nl_msg *msg;
	struct req *r;
	struct cs_error *err;
	int ret;
	int done_fd;
};

static void *transact_thread(void *arg)
{
	struct transact_job *j = arg;
	uint64_t one = 1;

	j->ret = transact_now(j->nl, j->msg, j->r, j->err);
	if (write(j->done_fd, &one, sizeof(one)) != sizeof(one))
		abort();	/* an eventfd write of 1 cannot fail */
	return NULL;
}

static int transact(struct cs_nl *nl, struct nl_msg *msg, struct req *r,
		    struct cs_error *err)
{
	struct transact_job j = { .nl = nl, .msg = msg, .r = r, .err = err };
	pthread_t th;

	if (!nl->wait)
		return transact_now(nl, msg, r, err);
	j.done_fd = eventfd(0, EFD_CLOEXEC);
	if (j.done_fd < 0)
		return transact_now(nl, msg, r, err);
	if (pthread_create(&th, NULL, transact_thread, &j)) {
		close(j.done_fd);
		return transact_now(nl, msg, r, err);
	}
	nl->wait(nl->wait_arg, j.done_fd);
	pthread_join(th, NULL);
	close(j.done_fd);
	return j.ret;
}

static struct nl_msg *new_msg(struct cs_nl *nl, int cmd, int flags, struct cs_error *err)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (!msg || !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, nl->family, 0, flags,
				 (uint8_t)cmd, COWSNAP_GENL_VERSION)) {
		nlmsg_free(msg);
		cs_error_set(err, ENOMEM, "out of memory");
		return NULL;
	}
	return msg;
}

/*
 * One request with attributes added by put(); the module may have been
 * reloaded since we resolved the family (its id changes), so an -ENOENT is
 * retried once after resolving again when the id moved.
 */
static int request(struct cs_nl *nl, int cmd, int flags,
		   int (*put)(struct nl_msg *msg, const void *arg), const void *arg,
		   struct req *r, struct cs_error *err)
{
	struct nl_msg *msg;
	int ret, fam, tries = 0;

	r->cmd = cmd;
	if (!nl) {
		cs_error_set(err, ENODEV, "cowsnapd runs without the cowsnap module (--no-module)");
		return -ENODEV;
	}
again:
	if (!nl->family) {
		ret = resolve(nl, err);
		if (ret)
			return ret;
	}
	msg = new_msg(nl, cmd, flags, err);
	if (!msg)
		return -ENOMEM;
	if (put && put(msg, arg) < 0) {
		nlmsg_free(msg);
		cs_error_set(err, ENOMEM, "cowsnap %s: message too large", cmd_name(cmd));
		return -ENOMEM;
	}
	ret = transact(nl, msg, r, err);
	if (ret == -ENOENT && !tries++) {
		fam = nl->family;
		if (resolve(nl, err) == -ENOENT)
			return -ENOENT;
		if (nl->family != fam)
			goto again;
		cs_error_set(err, ENOENT, "cowsnap %s: %s%s%s", cmd_name(cmd),
			     strerror(ENOENT), r->extack[0] ? ": " : "", r->extack);
	}
	return ret;
}

/* ---------------------------------------------------------------- */

struct version_ctx {
	char *version;
	size_t size;
	uint32_t *proto;
	bool seen;
};

static int parse_version(struct req *r, struct nlattr **tb)
{
	struct version_ctx *v = r->ctx;

	if (!tb[COWSNAP_A_VERSION] || !tb[COWSNAP_A_PROTO_VERSION])
		return -EPROTO;
	snprintf(v->version, v->size, "%s", nla_get_string(tb[COWSNAP_A_VERSION]));
	*v->proto = nla_get_u32(tb[COWSNAP_A_PROTO_VERSION]);
	v->seen = true;
	return 0;
}

int cs_nl_get_version(struct cs_nl *nl, char *version, size_t size,
		      uint32_t *proto, struct cs_error *err)
{
	struct version_ctx v = { version, size, proto, false };
	struct req r = { .parse = parse_version, .ctx = &v };
	int ret;

	ret = request(nl, COWSNAP_CMD_GET_VERSION, 0, NULL, NULL, &r, err);
	if (!ret && !v.seen) {
		cs_error_set(err, EPROTO, "cowsnap GET_VERSION: the module sent no version");
		ret = -EPROTO;
	}
	return ret;
}

/* ---------------------------------------------------------------- */

struct set_args {
	uint64_t id;
	uint32_t flags, chunk_sectors, major, minor, hold_ms;
	uint64_t sector, sectors;
	const char *name;		/* SET_NEW: NULL or "" for none */
	int attrs;	/* which of the above go out: bits of ATTR_* */
};

enum {
	ATTR_ID = 1 << 0,
	ATTR_SET_FLAGS = 1 << 1,
	ATTR_CHUNK = 1 << 2,
	ATTR_DEV = 1 << 3,
	ATTR_RANGE = 1 << 4,
	ATTR_TAKE_FLAGS = 1 << 5,
	ATTR_HOLD = 1 << 6,
	ATTR_STORAGE_FLAGS = 1 << 7,
	ATTR_SECTOR = 1 << 8,
};

static int put_set_args(struct nl_msg *msg, const void *arg)
{
	const struct set_args *a = arg;

	if ((a->attrs & ATTR_ID) && nla_put_u64(msg, COWSNAP_A_SET_ID, a->id) < 0)
		return -1;
	if (a->name && a->name[0] && nla_put_string(msg, COWSNAP_A_SET_NAME, a->name) < 0)
		return -1;
	if ((a->attrs & ATTR_SET_FLAGS) && nla_put_u32(msg, COWSNAP_A_SET_FLAGS, a->flags) < 0)
		return -1;
	if ((a->attrs & ATTR_TAKE_FLAGS) && nla_put_u32(msg, COWSNAP_A_TAKE_FLAGS, a->flags) < 0)
		return -1;
	if ((a->attrs & ATTR_STORAGE_FLAGS) && a->flags &&
	    nla_put_u32(msg, COWSNAP_A_STORAGE_FLAGS, a->flags) < 0)
		return -1;
	if ((a->attrs & ATTR_HOLD) && a->hold_ms &&
	    nla_put_u32(msg, COWSNAP_A_HOLD_MS, a->hold_ms) < 0)
		return -1;
	if ((a->attrs & ATTR_CHUNK) && a->chunk_sectors &&
	    nla_put_u32(msg, COWSNAP_A_CHUNK_SECTORS, a->chunk_sectors) < 0)
		return -1;
	if ((a->attrs & ATTR_DEV) &&
	    (nla_put_u32(msg, COWSNAP_A_DEV_MAJOR, a->major) < 0 ||
	     nla_put_u32(msg, COWSNAP_A_DEV_MINOR, a->minor) < 0))
		return -1;
	if ((a->attrs & ATTR_SECTOR) && a->sector &&
	    nla_put_u64(msg, COWSNAP_A_SECTOR, a->sector) < 0)
		return -1;
	if ((a->attrs & ATTR_RANGE) &&
	    (nla_put_u64(msg, COWSNAP_A_SECTOR, a->sector) < 0 ||
	     nla_put_u64(msg, COWSNAP_A_SECTORS, a->sectors) < 0))
		return -1;
	return 0;
}

static int parse_set_id(struct req *r, struct nlattr **tb)
{
	if (!tb[COWSNAP_A_SET_ID])
		return -EPROTO;
	*(uint64_t *)r->ctx = nla_get_u64(tb[COWSNAP_A_SET_ID]);
	return 0;
}

int cs_nl_set_new(struct cs_nl *nl, uint32_t flags, uint32_t chunk_sectors,
		  const char *name, uint64_t *id, struct cs_error *err)
{
	struct set_args a = { .flags = flags, .chunk_sectors = chunk_sectors, .name = name,
			      .attrs = ATTR_SET_FLAGS | ATTR_CHUNK };
	struct req r = { .parse = parse_set_id, .ctx = id };
	int ret;

	*id = 0;
	ret = request(nl, COWSNAP_CMD_SET_NEW, 0, put_set_args, &a, &r, err);
	if (!ret && !*id) {
		cs_error_set(err, EPROTO, "cowsnap SET_NEW: the module sent no set id");
		ret = -EPROTO;
	}
	return ret;
}

int cs_nl_set_add_volume(struct cs_nl *nl, uint64_t id, uint32_t major,
			 uint32_t minor, struct cs_error *err)
{
	struct set_args a = { .id = id, .major = major, .minor = minor,
			      .attrs = ATTR_ID | ATTR_DEV };
	struct req r = { 0 };

	return request(nl, COWSNAP_CMD_SET_ADD_VOLUME, 0, put_set_args, &a, &r, err);
}

int cs_nl_set_add_storage(struct cs_nl *nl, uint64_t id, uint32_t major,
			  uint32_t minor, uint64_t sector, uint64_t sectors,
			  uint32_t flags, struct cs_error *err)
{
	struct set_args a = { .id = id, .major = major, .minor = minor,
			      .sector = sector, .sectors = sectors, .flags = flags,
			      .attrs = ATTR_ID | ATTR_DEV | ATTR_RANGE | ATTR_STORAGE_FLAGS };
	struct req r = { 0 };

	return request(nl, COWSNAP_CMD_SET_ADD_STORAGE, 0, put_set_args, &a, &r, err);
}

struct free_args {
	struct set_args a;
	const struct cowsnap_range *r;
	size_t n;
};

static int put_free_args(struct nl_msg *msg, const void *arg)
{
	const struct free_args *f = arg;

	if (put_set_args(msg, &f->a) < 0)
		return -1;
	return nla_put(msg, COWSNAP_A_FREE_RANGES, (int)(f->n * sizeof(*f->r)), f->r);
}

int cs_nl_set_add_free(struct cs_nl *nl, uint64_t id, uint32_t major, uint32_t minor,
		       const struct cowsnap_range *r, size_t n, struct cs_error *err)
{
	struct free_args f = { .a = { .id = id, .major = major, .minor = minor,
				      .attrs = ATTR_ID | ATTR_DEV },
			       .r = r, .n = n };
	struct req q = { 0 };

	return request(nl, COWSNAP_CMD_SET_ADD_FREE, 0, put_free_args, &f, &q, err);
}

struct zero_req {
	struct cowsnap_range *r;
	size_t n, cap;
	uint64_t next;			/* the reply's SECTOR: 0 when it was the last */
	bool seen;
};

static int parse_zero(struct req *r, struct nlattr **tb)
{
	struct zero_req *z = r->ctx;
	struct nlattr *a = tb[COWSNAP_A_FREE_RANGES];
	size_t k, have;

	if (!a || nla_len(a) % sizeof(struct cowsnap_range))
		return -EPROTO;
	k = (size_t)nla_len(a) / sizeof(struct cowsnap_range);
	have = z->n + k;
	if (have > COWSNAP_ZERO_PLACES_MAX)
		return -E2BIG;
	if (have > z->cap) {
		size_t cap = z->cap ? z->cap : 1024;
		struct cowsnap_range *g;

		while (cap < have)
			cap *= 2;
		g = realloc(z->r, cap * sizeof(*g));
		if (!g)
			return -ENOMEM;
		z->r = g;
		z->cap = cap;
	}
	/* the payload is only 4-byte aligned */
	memcpy(z->r + z->n, nla_data(a), k * sizeof(struct cowsnap_range));
	z->n = have;
	z->next = tb[COWSNAP_A_SECTOR] ? nla_get_u64(tb[COWSNAP_A_SECTOR]) : 0;
	z->seen = true;
	return 0;
}

int cs_nl_set_get_zero(struct cs_nl *nl, uint64_t id, uint32_t major, uint32_t minor,
		       struct cowsnap_range **out, size_t *n, struct cs_error *err)
{
	struct zero_req z = { 0 };
	struct set_args a = { .id = id, .major = major, .minor = minor,
			      .attrs = ATTR_ID | ATTR_DEV | ATTR_SECTOR };
	struct req r = { .parse = parse_zero, .ctx = &z };
	int ret;

	do {
		uint64_t at = z.next;

		a.sector = at;
		z.seen = false;
		ret = request(nl, COWSNAP_CMD_SET_GET_ZERO, 0, put_set_args, &a, &r, err);
		if (!ret && !z.seen) {
			cs_error_set(err, EPROTO, "cowsnap SET_GET_ZERO: the module sent no table");
			ret = -EPROTO;
		}
		/* each reply goes on past the last: a cursor that does not move
		 * is a module bug, not a reason to loop */
		if (!ret && z.next && z.next <= at) {
			cs_error_set(err, EPROTO, "cowsnap SET_GET_ZERO: the module's cursor "
				     "went back");
			ret = -EPROTO;
		}
	} while (!ret && z.next);
	if (ret) {
		free(z.r);
		z.r = NULL;
		z.n = 0;
	}
	*out = z.r;
	*n = z.n;
	return ret;
}

int cs_nl_set_destroy(struct cs_nl *nl, uint64_t id, struct cs_error *err)
{
	struct set_args a = { .id = id, .attrs = ATTR_ID };
	struct req r = { 0 };

	return request(nl, COWSNAP_CMD_SET_DESTROY, 0, put_set_args, &a, &r, err);
}

int cs_nl_set_seal(struct cs_nl *nl, uint64_t id, struct cs_error *err)
{
	struct set_args a = { .id = id, .attrs = ATTR_ID };
	struct req r = { 0 };

	return request(nl, COWSNAP_CMD_SET_SEAL, 0, put_set_args, &a, &r, err);
}

static const char *const invalid_causes[] = {
	[COWSNAP_INVALID_NONE] = "",
	[COWSNAP_INVALID_STORAGE_FULL] = "storage-full",
	[COWSNAP_INVALID_STORAGE_IO] = "storage-io-error",
	[COWSNAP_INVALID_ORIGIN_IO] = "origin-io-error",
	[COWSNAP_INVALID_NOMEM] = "out-of-memory",
	[COWSNAP_INVALID_VOLUME_GONE] = "volume-gone",
};

static int parse_set_volume(struct nlattr *nest, struct cs_set_volume *v)
{
	struct nlattr *tb[COWSNAP_A_MAX + 1];

	if (nla_parse_nested(tb, COWSNAP_A_MAX, nest, policy) < 0)
		return -EPROTO;
	if (!tb[COWSNAP_A_DEV_MAJOR] || !tb[COWSNAP_A_DEV_MINOR])
		return -EPROTO;
	v->major = nla_get_u32(tb[COWSNAP_A_DEV_MAJOR]);
	v->minor = nla_get_u32(tb[COWSNAP_A_DEV_MINOR]);
	if (tb[COWSNAP_A_DEV_NAME])
		snprintf(v->origin, sizeof(v->origin), "/dev/%s",
			 nla_get_string(tb[COWSNAP_A_DEV_NAME]));
	else
		snprintf(v->origin, sizeof(v->origin), "/dev/block/%u:%u", v->major, v->minor);
	if (tb[COWSNAP_A_SECTORS])
		v->sectors = nla_get_u64(tb[COWSNAP_A_SECTORS]);
	if (tb[COWSNAP_A_IMAGE_MINOR] && tb[COWSNAP_A_IMAGE_MAJOR]) {
		v->image_major = nla_get_u32(tb[COWSNAP_A_IMAGE_MAJOR]);
		v->image_minor = nla_get_u32(tb[COWSNAP_A_IMAGE_MINOR]);
		snprintf(v->image, sizeof(v->image), "/dev/" COWSNAP_IMAGE_NAME "%u",
			 v->image_minor);
	}
	if (tb[COWSNAP_A_CHUNKS_COPIED])
		v->chunks_copied = nla_get_u64(tb[COWSNAP_A_CHUNKS_COPIED]);
	if (tb[COWSNAP_A_CBT_GENERATION] && tb[COWSNAP_A_CBT_SEQ]) {
		format_generation(tb[COWSNAP_A_CBT_GENERATION], v->cbt_generation,
				  sizeof(v->cbt_generation));
		v->cbt_seq = nla_get_u32(tb[COWSNAP_A_CBT_SEQ]);
	}
	return 0;
}

static int parse_set_into(struct nlattr **tb, struct cs_set *s)
{
	struct nlattr *a;
	uint32_t n = 0, st, flags, cause;
	int rem, ret;

	memset(s, 0, sizeof(*s));
	if (!tb[COWSNAP_A_SET_ID] || !tb[COWSNAP_A_SET_STATE])
		return -EPROTO;
	s->id = nla_get_u64(tb[COWSNAP_A_SET_ID]);
	if (tb[COWSNAP_A_SET_NAME]) {
		a = tb[COWSNAP_A_SET_NAME];
		snprintf(s->name, sizeof(s->name), "%.*s", nla_len(a), (const char *)nla_data(a));
		/* what the module accepts and nothing else reaches clients */
		if (!cs_set_name_valid(s->name))
			return -EPROTO;
	}
	st = nla_get_u32(tb[COWSNAP_A_SET_STATE]);
	s->state = st == COWSNAP_SET_DEFINING ? CS_SET_DEFINING :
		   st == COWSNAP_SET_TAKEN ? CS_SET_TAKEN :
		   st == COWSNAP_SET_INVALID ? CS_SET_INVALID : CS_SET_UNKNOWN;
	flags = tb[COWSNAP_A_SET_FLAGS] ? nla_get_u32(tb[COWSNAP_A_SET_FLAGS]) : 0;
	s->persistent = flags & COWSNAP_SET_F_PERSISTENT;
	s->auto_release = flags & COWSNAP_SET_F_AUTO_RELEASE;
	s->writable = flags & COWSNAP_SET_F_WRITABLE;
	cause = tb[COWSNAP_A_INVALID_CAUSE] ? nla_get_u32(tb[COWSNAP_A_INVALID_CAUSE]) : 0;
	if (cause < sizeof(invalid_causes) / sizeof(invalid_causes[0]))
		snprintf(s->invalid_cause, sizeof(s->invalid_cause), "%s", invalid_causes[cause]);
	else
		snprintf(s->invalid_cause, sizeof(s->invalid_cause), "cause-%u", cause);
	if (tb[COWSNAP_A_CHUNK_SECTORS])
		s->chunk_sectors = nla_get_u32(tb[COWSNAP_A_CHUNK_SECTORS]);
	if (tb[COWSNAP_A_CREATED_NS])
		s->created_ns = nla_get_u64(tb[COWSNAP_A_CREATED_NS]);
	if (tb[COWSNAP_A_TAKEN_NS])
		s->taken_ns = nla_get_u64(tb[COWSNAP_A_TAKEN_NS]);
	if (tb[COWSNAP_A_STORAGE_SECTORS])
		s->storage_sectors = nla_get_u64(tb[COWSNAP_A_STORAGE_SECTORS]);
	if (tb[COWSNAP_A_STORAGE_USED])
		s->storage_used = nla_get_u64(tb[COWSNAP_A_STORAGE_USED]);
	if (!tb[COWSNAP_A_VOLUMES])
		return 0;
	nla_for_each_nested(a, tb[COWSNAP_A_VOLUMES], rem)
		n++;
	if (n > CS_MAX_VOLUMES)
		return -EPROTO;
	s->volumes = calloc(n ? n : 1, sizeof(*s->volumes));
	if (!s->volumes)
		return -ENOMEM;
	nla_for_each_nested(a, tb[COWSNAP_A_VOLUMES], rem) {
		if (nla_type(a) != COWSNAP_A_VOLUME)
			return -EPROTO;
		ret = parse_set_volume(a, &s->volumes[s->nvolumes++]);
		if (ret)
			return ret;
	}
	return 0;
}

void cs_nl_set_free(struct cs_set *set)
{
	free(set->volumes);
	set->volumes = NULL;
	set->nvolumes = 0;
}

static int parse_one_set(struct req *r, struct nlattr **tb)
{
	return parse_set_into(tb, r->ctx);
}

int cs_nl_set_take(struct cs_nl *nl, uint64_t id, uint32_t flags, uint32_t bound_ms,
		   struct cs_set *set, struct cs_error *err)
{
	struct set_args a = { .id = id, .flags = flags, .hold_ms = bound_ms,
			      .attrs = ATTR_ID | ATTR_TAKE_FLAGS | ATTR_HOLD };
	struct req r = { .parse = parse_one_set, .ctx = set };
	int ret;

	memset(set, 0, sizeof(*set));
	ret = request(nl, COWSNAP_CMD_SET_TAKE, 0, put_set_args, &a, &r, err);
	if (ret)
		cs_nl_set_free(set);
	return ret;
}

int cs_nl_set_get(struct cs_nl *nl, uint64_t id, struct cs_set *set,
		  struct cs_error *err)
{
	struct set_args a = { .id = id, .attrs = ATTR_ID };
	struct req r = { .parse = parse_one_set, .ctx = set };
	int ret;

	memset(set, 0, sizeof(*set));
	ret = request(nl, COWSNAP_CMD_SET_GET, 0, put_set_args, &a, &r, err);
	if (!ret && !set->id) {
		cs_error_set(err, EPROTO, "cowsnap SET_GET: empty reply");
		ret = -EPROTO;
	}
	if (ret)
		cs_nl_set_free(set);
	return ret;
}

struct set_list {
	struct cs_set *sets;
	uint32_t n, cap;
};

static int parse_set_entry(struct req *r, struct nlattr **tb)
{
	struct set_list *l = r->ctx;

	if (l->n == l->cap) {
		uint32_t cap = l->cap ? l->cap * 2 : 8;
		struct cs_set *s;

		if (cap > CS_MAX_SETS)
			return -E2BIG;
		s = realloc(l->sets, cap * sizeof(*s));
		if (!s)
			return -ENOMEM;
		l->sets = s;
		l->cap = cap;
	}
	/* count it first so that a failed parse is freed too */
	return parse_set_into(tb, &l->sets[l->n++]);
}

int cs_nl_set_dump(struct cs_nl *nl, struct cs_set **sets, uint32_t *nsets,
		   struct cs_error *err)
{
	struct set_list l = { 0 };
	struct req r = { .parse = parse_set_entry, .ctx = &l };
	int ret;

	ret = request(nl, COWSNAP_CMD_SET_GET, NLM_F_DUMP, NULL, NULL, &r, err);
	if (ret) {
		for (uint32_t i = 0; i < l.n; i++)
			cs_nl_set_free(&l.sets[i]);
		free(l.sets);
		l.sets = NULL;
		l.n = 0;
	}
	*sets = l.sets;
	*nsets = l.n;
	return ret;
}

struct vol_list {
	struct cs_volume *v;
	uint32_t n, cap;
};

static int parse_volume_entry(struct req *r, struct nlattr **tb)
{
	struct vol_list *l = r->ctx;
	struct cs_volume *v;

	if (!tb[COWSNAP_A_DEV_MAJOR] || !tb[COWSNAP_A_DEV_MINOR])
		return -EPROTO;
	if (l->n == l->cap) {
		uint32_t cap = l->cap ? l->cap * 2 : 8;

		if (cap > 4096)
			return -E2BIG;
		v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	v = &l->v[l->n++];
	memset(v, 0, sizeof(*v));
	v->major = nla_get_u32(tb[COWSNAP_A_DEV_MAJOR]);
	v->minor = nla_get_u32(tb[COWSNAP_A_DEV_MINOR]);
	if (tb[COWSNAP_A_DEV_NAME])
		snprintf(v->device, sizeof(v->device), "/dev/%s",
			 nla_get_string(tb[COWSNAP_A_DEV_NAME]));
	v->tracked = true;
	if (tb[COWSNAP_A_SECTORS])
		v->sectors = nla_get_u64(tb[COWSNAP_A_SECTORS]);
	if (tb[COWSNAP_A_MARK_SET_ID])
		v->mark_set_id = nla_get_u64(tb[COWSNAP_A_MARK_SET_ID]);
	if (tb[COWSNAP_A_SNAPSHOTS])
		v->snapshots = nla_get_u32(tb[COWSNAP_A_SNAPSHOTS]);
	if (tb[COWSNAP_A_VOLUME_FLAGS])
		v->kept = nla_get_u32(tb[COWSNAP_A_VOLUME_FLAGS]) & COWSNAP_VOLUME_F_KEEP;
	if (tb[COWSNAP_A_CBT_GENERATION])
		format_generation(tb[COWSNAP_A_CBT_GENERATION], v->cbt_generation,
				  sizeof(v->cbt_generation));
	if (tb[COWSNAP_A_CHUNK_SECTORS])
		v->cbt_chunk_sectors = nla_get_u32(tb[COWSNAP_A_CHUNK_SECTORS]);
	return 0;
}

int cs_nl_volume_dump(struct cs_nl *nl, struct cs_volume **vols, uint32_t *n,
		      struct cs_error *err)
{
	struct vol_list l = { 0 };
	struct req r = { .parse = parse_volume_entry, .ctx = &l };
	int ret;

	ret = request(nl, COWSNAP_CMD_VOLUME_GET, NLM_F_DUMP, NULL, NULL, &r, err);
	if (ret) {
		free(l.v);
		l.v = NULL;
		l.n = 0;
	}
	*vols = l.v;
	*n = l.n;
	return ret;
}

int cs_nl_track(struct cs_nl *nl, uint32_t major, uint32_t minor, bool keep,
		struct cs_error *err)
{
	struct set_args a = { .major = major, .minor = minor, .attrs = ATTR_DEV };
	struct req r = { 0 };

	return request(nl, keep ? COWSNAP_CMD_TRACK : COWSNAP_CMD_UNTRACK, 0, put_set_args,
		       &a, &r, err);
}

struct cbt_req {
	uint32_t major, minor;
	uint64_t set_id, first;
	uint32_t seq, count;
	const uint8_t *since_generation;
	struct cs_nl_cbt *out;
	bool seen;
};

static int put_cbt_args(struct nl_msg *msg, const void *arg)
{
	const struct cbt_req *c = arg;

	if (nla_put_u32(msg, COWSNAP_A_DEV_MAJOR, c->major) < 0 ||
	    nla_put_u32(msg, COWSNAP_A_DEV_MINOR, c->minor) < 0 ||
	    nla_put_u64(msg, COWSNAP_A_CBT_FIRST, c->first) < 0 ||
	    nla_put_u32(msg, COWSNAP_A_CBT_COUNT, c->count) < 0)
		return -1;
	if (c->seq)
		return nla_put_u32(msg, COWSNAP_A_CBT_SEQ, c->seq) < 0 ||
		       nla_put(msg, COWSNAP_A_CBT_GENERATION, COWSNAP_CBT_GENERATION_LEN,
			       c->since_generation) < 0 ? -1 : 0;
	return nla_put_u64(msg, COWSNAP_A_SET_ID, c->set_id) < 0 ? -1 : 0;
}

static int parse_cbt(struct req *r, struct nlattr **tb)
{
	struct cbt_req *c = r->ctx;
	struct nlattr *bm = tb[COWSNAP_A_CBT_BITMAP];

	if (!tb[COWSNAP_A_CBT_GENERATION] || !tb[COWSNAP_A_CHUNK_SECTORS] || !bm ||
	    (size_t)nla_len(bm) != (c->count + 7) / 8)
		return -EPROTO;
	memcpy(c->out->generation, nla_data(tb[COWSNAP_A_CBT_GENERATION]),
	       COWSNAP_CBT_GENERATION_LEN);
	format_generation(tb[COWSNAP_A_CBT_GENERATION], c->out->generation_str,
			  sizeof(c->out->generation_str));
	c->out->chunk_sectors = nla_get_u32(tb[COWSNAP_A_CHUNK_SECTORS]);
	memcpy(c->out->bitmap, nla_data(bm), (size_t)nla_len(bm));
	c->seen = true;
	return 0;
}

int cs_nl_cbt_get(struct cs_nl *nl, uint32_t major, uint32_t minor, uint64_t set_id,
		  uint32_t seq, const uint8_t *since_generation, uint64_t first,
		  uint32_t count, struct cs_nl_cbt *out, struct cs_error *err)
{
	struct cbt_req c = { .major = major, .minor = minor, .set_id = set_id,
			     .first = first, .seq = seq, .count = count,
			     .since_generation = since_generation, .out = out };
	struct req r = { .parse = parse_cbt, .ctx = &c };
	int ret;

	ret = request(nl, COWSNAP_CMD_CBT_GET, 0, put_cbt_args, &c, &r, err);
	if (!ret && !c.seen) {
		cs_error_set(err, EPROTO, "cowsnap CBT_GET: the module sent no map");
		ret = -EPROTO;
	}
	return ret;
}

/* ---------------------------------------------------------------- */

struct cs_nl_events {
	struct nl_sock *sk;
	void (*fn)(void *ctx, const struct cs_event *e);
	void *ctx;
};

static const char *const event_names[] = {
	[COWSNAP_CMD_EVENT_SET_TAKEN] = "SET_TAKEN",
	[COWSNAP_CMD_EVENT_SET_DESTROYED] = "SET_DESTROYED",
	[COWSNAP_CMD_EVENT_STORAGE_LOW] = "STORAGE_LOW",
	[COWSNAP_CMD_EVENT_SET_INVALID] = "SET_INVALID",
	[COWSNAP_CMD_EVENT_VOLUME_GONE] = "VOLUME_GONE",
};

const char *cs_nl_event_name(int cmd)
{
	if (cmd >= COWSNAP_CMD_EVENT_SET_TAKEN && cmd <= COWSNAP_CMD_EVENT_VOLUME_GONE)
		return event_names[cmd];
	return "?";
}

static int event_cb(struct nl_msg *msg, void *arg)
{
	struct cs_nl_events *ev = arg;
	struct nlattr *tb[COWSNAP_A_MAX + 1];
	struct genlmsghdr *gh = nlmsg_data(nlmsg_hdr(msg));
	struct cs_event e = { .cmd = gh->cmd };

	if (genlmsg_parse(nlmsg_hdr(msg), 0, tb, COWSNAP_A_MAX, policy) < 0) {
		cs_warn("malformed event from the module");
		return NL_SKIP;
	}
	if (tb[COWSNAP_A_SET_ID])
		e.set_id = nla_get_u64(tb[COWSNAP_A_SET_ID]);
	if (tb[COWSNAP_A_STORAGE_SECTORS])
		e.storage_sectors = nla_get_u64(tb[COWSNAP_A_STORAGE_SECTORS]);
	if (tb[COWSNAP_A_STORAGE_USED])
		e.storage_used = nla_get_u64(tb[COWSNAP_A_STORAGE_USED]);
	if (tb[COWSNAP_A_INVALID_CAUSE])
		e.invalid_cause = nla_get_u32(tb[COWSNAP_A_INVALID_CAUSE]);
	if (tb[COWSNAP_A_DEV_MAJOR])
		e.major = nla_get_u32(tb[COWSNAP_A_DEV_MAJOR]);
	if (tb[COWSNAP_A_DEV_MINOR])
		e.minor = nla_get_u32(tb[COWSNAP_A_DEV_MINOR]);
	if (tb[COWSNAP_A_DEV_NAME])
		snprintf(e.dev_name, sizeof(e.dev_name), "%s", nla_get_string(tb[COWSNAP_A_DEV_NAME]));
	ev->fn(ev->ctx, &e);
	return NL_OK;
}

int cs_nl_events_open(struct cs_nl_events **out, struct cs_error *err)
{
	struct cs_nl_events *ev = calloc(1, sizeof(*ev));
	int grp, ret;

	*out = NULL;
	if (!ev || !(ev->sk = nl_socket_alloc())) {
		free(ev);
		cs_error_set(err, ENOMEM, "out of memory");
		return -ENOMEM;
	}
	nl_socket_disable_seq_check(ev->sk);
	ret = genl_connect(ev->sk);
	if (ret < 0)
		goto fail;
	grp = genl_ctrl_resolve_grp(ev->sk, COWSNAP_GENL_NAME, COWSNAP_GENL_MCGRP_EVENTS);
	if (grp < 0) {
		ret = grp;
		goto fail;
	}
	ret = nl_socket_add_membership(ev->sk, grp);
	if (ret < 0)
		goto fail;
	nl_socket_set_nonblocking(ev->sk);
	nl_socket_modify_cb(ev->sk, NL_CB_VALID, NL_CB_CUSTOM, event_cb, ev);
	*out = ev;
	return 0;
fail:
	cs_error_set(err, EIO, "cannot subscribe to the module's events: %s", nl_geterror(ret));
	nl_socket_free(ev->sk);
	free(ev);
	return -EIO;
}

void cs_nl_events_close(struct cs_nl_events *ev)
{
	if (!ev)
		return;
	nl_socket_free(ev->sk);
	free(ev);
}

int cs_nl_events_fd(const struct cs_nl_events *ev)
{
	return nl_socket_get_fd(ev->sk);
}

void cs_nl_events_read(struct cs_nl_events *ev,
		       void (*fn)(void *ctx, const struct cs_event *e), void *ctx)
{
	int ret;

	ev->fn = fn;
	ev->ctx = ctx;
	do {
		ret = nl_recvmsgs_default(ev->sk);
	} while (ret >= 0);
	if (ret != -NLE_AGAIN)
		cs_warn("reading module events: %s (events may have been lost)",
			nl_geterror(ret));
}
