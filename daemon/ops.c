// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Requests from clients: decode (through the protocol library), dispatch to
 * a handler, encode its result or error.  Handlers fill protocol structs;
 * they never see JSON.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "netlink.h"

typedef int (*op_fn)(struct cowsnapd *d, struct cs_client_conn *c,
		     const void *args, void *result, struct cs_error *err);

static int op_version(struct cowsnapd *d, struct cs_client_conn *c,
		      const void *args, void *result, struct cs_error *err)
{
	struct cs_version *v = result;
	struct cs_error nerr = { 0 };

	snprintf(v->daemon_version, sizeof(v->daemon_version), "%s", COWSNAP_VERSION);
	v->proto_version = CS_PROTO_VERSION;
	if (cs_nl_get_version(d->nl, v->module_version, sizeof(v->module_version),
			      &v->module_proto_version, &nerr)) {
		v->module_version[0] = '\0';
		v->module_proto_version = 0;
		snprintf(v->module_error, sizeof(v->module_error), "%s", nerr.message);
	}
	return 0;
}

static const op_fn handlers[__CS_OP_COUNT] = {
	[CS_OP_VERSION] = op_version,
};

bool cs_ops_handle(struct cowsnapd *d, struct cs_client_conn *c,
		   const char *body, size_t len, struct cs_buf *out)
{
	struct cs_request req;
	struct cs_error err = { 0 };
	void *result = NULL;
	int ret;

	ret = cs_decode_request(body, len, &req, &err);
	if (ret) {
		cs_dbg("client pid %d: bad request: %s", (int)c->pid, err.message);
		cs_encode_error(out, req.have_id ? req.id : 0, &err);
		/* the stream is still in step: the client may go on */
		return true;
	}
	if (!handlers[req.op]) {
		cs_error_set(&err, EOPNOTSUPP, "operation `%s' is not implemented by this cowsnapd",
			     cs_ops[req.op].name);
		ret = -EOPNOTSUPP;
		goto reply;
	}
	result = calloc(1, cs_ops[req.op].result->size);
	if (!result) {
		cs_error_set(&err, ENOMEM, "out of memory");
		ret = -ENOMEM;
		goto reply;
	}
	ret = handlers[req.op](d, c, req.args, result, &err);
	if (!ret)
		ret = cs_encode_reply(out, req.id, req.op, result, &err);
reply:
	if (ret) {
		if (!err.code)
			cs_error_set(&err, -ret, "%s failed: %s", cs_ops[req.op].name,
				     strerror(-ret));
		cs_dbg("client pid %d: %s: %s", (int)c->pid, cs_ops[req.op].name, err.message);
		cs_encode_error(out, req.id, &err);
	}
	if (result) {
		cs_schema_free(cs_ops[req.op].result, result);
		free(result);
	}
	cs_request_free(&req);
	return true;
}
