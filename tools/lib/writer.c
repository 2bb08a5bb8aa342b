// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * The writer side of cowsnapd's socket: register a Writer Metadata
 * Document, then take events and answer them (cowsnap.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cowsnap.h"

struct cs_writer_client {
	struct cs_client *c;
	uint32_t event_id;
	bool pending;		/* an event waits for its reply */
};

bool cs_frame_is_reply(const char *body, size_t len)
{
	struct json_object *j, *v;
	struct cs_error e;
	bool ret;

	if (cs_json_parse(body, len, &j, &e))
		return false;
	ret = json_object_object_get_ex(j, "ok", &v);
	json_object_put(j);
	return ret;
}

int cs_writer_register(const char *path, const struct cs_wmd *wmd,
		       struct cs_writer_client **out, struct cs_error *err)
{
	struct cs_writer_client *w;
	struct cs_empty none;
	int ret;

	*out = NULL;
	ret = cs_wmd_validate(wmd, err);
	if (ret)
		return ret;
	w = calloc(1, sizeof(*w));
	if (!w) {
		cs_error_set(err, ENOMEM, "out of memory");
		return -ENOMEM;
	}
	ret = cs_client_open(path, &w->c, err);
	if (!ret)
		ret = cs_call(w->c, CS_OP_WRITER_REGISTER, wmd, &none, err);
	if (ret) {
		cs_client_close(w->c);
		free(w);
		return ret;
	}
	*out = w;
	return 0;
}

int cs_writer_fd(const struct cs_writer_client *w)
{
	return cs_client_fd(w->c);
}

static int send_error(struct cs_writer_client *w, uint32_t id, const struct cs_error *e)
{
	struct cs_buf b = { 0 };
	int ret = cs_encode_error(&b, id, e);

	if (!ret)
		ret = cs_frame_write(cs_client_fd(w->c), &b, 10000);
	cs_buf_free(&b);
	return ret;
}

int cs_writer_next_event(struct cs_writer_client *w, struct cs_writer_event *ev,
			 int timeout_ms, struct cs_error *err)
{
	struct cs_request req;
	struct cs_error e;
	const char *body;
	size_t len;
	int ret;

	memset(ev, 0, sizeof(*ev));
	for (;;) {
		ret = cs_client_read_frame(w->c, &body, &len, timeout_ms);
		if (ret == -ETIMEDOUT) {
			cs_error_set(err, ETIMEDOUT, "no event within %d ms", timeout_ms);
			return ret;
		}
		if (ret) {
			cs_error_set(err, ret == -ECONNRESET ? ECONNRESET : EPROTO,
				     "lost the connection to cowsnapd: %s", strerror(-ret));
			return ret == -ECONNRESET ? ret : -EPROTO;
		}
		/* a late reply to something of ours: nothing to do */
		if (cs_frame_is_reply(body, len))
			continue;
		ret = cs_decode_event(body, len, &req, &e);
		if (!ret && req.op != CS_OP_WRITER_EVENT) {
			cs_error_set(&e, EOPNOTSUPP, "a writer answers only writer_event");
			cs_request_free(&req);
			ret = -EOPNOTSUPP;
		}
		if (ret) {
			if (send_error(w, req.have_id ? req.id : 0, &e)) {
				cs_error_set(err, EPROTO, "lost the connection to cowsnapd");
				return -EPROTO;
			}
			continue;
		}
		memcpy(ev, req.args, sizeof(*ev));
		free(req.args);
		w->event_id = req.id;
		w->pending = true;
		return 0;
	}
}

int cs_writer_reply(struct cs_writer_client *w, const struct cs_error *veto,
		    struct cs_error *err)
{
	struct cs_buf b = { 0 };
	struct cs_empty none = { 0 };
	int ret;

	if (!w->pending) {
		cs_error_set(err, EINVAL, "no event waits for a reply");
		return -EINVAL;
	}
	w->pending = false;
	ret = veto ? cs_encode_error(&b, w->event_id, veto)
		   : cs_encode_reply(&b, w->event_id, CS_OP_WRITER_EVENT, &none, err);
	if (!ret)
		ret = cs_frame_write(cs_client_fd(w->c), &b, 10000);
	cs_buf_free(&b);
	if (ret && ret != -EINVAL)
		cs_error_set(err, -ret, "cannot answer cowsnapd: %s", strerror(-ret));
	return ret;
}

void cs_writer_event_free(struct cs_writer_event *ev)
{
	cs_schema_free(cs_ops[CS_OP_WRITER_EVENT].args, ev);
}

void cs_writer_close(struct cs_writer_client *w)
{
	if (!w)
		return;
	cs_client_close(w->c);
	free(w);
}
