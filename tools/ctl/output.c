// SPDX-License-Identifier: GPL-2.0-or-later
/* Talking to the daemon, telling the admin what went wrong, and --json. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json.h>

#include "snapctl.h"

int connect_daemon(struct snapctl *ctl, struct cs_client **c)
{
	struct cs_error err = { 0 };
	int ret = cs_client_open(ctl->socket, c, &err);

	return ret ? report_error(ctl, NULL, ret, &err) : CS_EXIT_OK;
}

int call_exit(int ret, bool remote)
{
	if (ret == -EACCES)
		return CS_EXIT_DENIED;
	if (ret == -EPROTO || (!remote && ret == -ETIMEDOUT))
		return CS_EXIT_PROTO;
	if (remote)
		return CS_EXIT_FAILED;
	/* no daemon at the socket, or it went away mid-call */
	if (ret == -ENOENT || ret == -ECONNREFUSED || ret == -ENOTSOCK ||
	    ret == -ECONNRESET || ret == -EPIPE)
		return CS_EXIT_NO_DAEMON;
	return CS_EXIT_FAILED;
}

int report_error(struct snapctl *ctl, struct cs_client *c, int ret,
		 const struct cs_error *err)
{
	const char *sock = ctl->socket ? ctl->socket : cs_socket_path();
	bool remote = c && cs_client_remote(c);
	int code = call_exit(ret, remote);
	char buf[TERM_TEXT_MAX];
	/* the daemon's messages quote writers, hooks and other users */
	const char *msg = term_text(err->message, buf, sizeof(buf));

	if (!remote && (ret == -ENOENT || ret == -ECONNREFUSED || ret == -ENOTSOCK))
		fprintf(stderr, "%s: %s\n"
			"%s: is cowsnapd running? Start it (`cowsnapd', or `systemctl start cowsnapd'),\n"
			"%s: or point --socket or $" CS_SOCKET_ENV " at its socket.\n",
			ctl->prog, msg, ctl->prog, ctl->prog);
	else if (!remote && ret == -EACCES)
		fprintf(stderr, "%s: %s\n%s: run snapctl as root.\n", ctl->prog, msg, ctl->prog);
	else if (remote && ret == -EACCES)
		fprintf(stderr, "%s: cowsnapd at %s refused: %s\n", ctl->prog, sock, msg);
	else if (code == CS_EXIT_PROTO)
		fprintf(stderr, "%s: %s\n%s: snapctl and cowsnapd may be of different versions; "
			"see `snapctl version'.\n", ctl->prog, msg, ctl->prog);
	else
		fprintf(stderr, "%s: %s\n", ctl->prog, msg);
	/* JSON escapes what term_text() would: the message goes as it is */
	json_error(ctl, -ret, code, err->message);
	return code;
}

/* fmt and ap as a string to free; NULL when out of memory */
static char *format_message(const char *fmt, va_list ap)
{
	char *msg;

	return vasprintf(&msg, fmt, ap) < 0 ? NULL : msg;
}

int usage_error(struct snapctl *ctl, const char *cmd_usage, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = format_message(fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s\nUsage: %s %s\n", ctl->prog, msg ? msg : "out of memory",
		ctl->prog, cmd_usage);
	json_error(ctl, EINVAL, CS_EXIT_USAGE, msg ? msg : "out of memory");
	free(msg);
	return CS_EXIT_USAGE;
}

int report_failure(struct snapctl *ctl, int code, int exit, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = format_message(fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s\n", ctl->prog, msg ? msg : "out of memory");
	json_error(ctl, code, exit, msg ? msg : "out of memory");
	free(msg);
	return exit;
}

const char *errno_code(int code)
{
	const char *name = cs_errno_name(code);

	if (!name && code > 0)
		name = strerrorname_np(code);
	return name ? name : "EIO";
}

struct json_object *error_object(int code, int exit, const char *message)
{
	struct json_object *e = json_object_new_object();

	if (!e)
		return NULL;
	json_object_object_add(e, "code", json_object_new_string(errno_code(code)));
	json_object_object_add(e, "message", json_object_new_string(message));
	json_object_object_add(e, "exit", json_object_new_int(exit));
	return e;
}

void json_error(struct snapctl *ctl, int code, int exit, const char *message)
{
	struct json_object *j, *e;

	/* one JSON text on stdout: the first failure is the one to tell */
	if (!ctl->json || ctl->error_shown)
		return;
	ctl->error_shown = true;
	j = json_object_new_object();
	e = error_object(code, exit, message);
	if (!j || !e) {
		json_object_put(j);
		json_object_put(e);
		return;
	}
	json_object_object_add(j, "error", e);
	put_json(j);
	json_object_put(j);
}

/* ------------------------------------------------------------------ */

static struct json_object *complete(const struct cs_schema *s, struct json_object *in);

/* A key cs_schema_encode() left out: the value a decoder reads for it. */
static struct json_object *zero_value(const struct cs_field *f)
{
	struct json_object *empty, *v;

	switch (f->type) {
	case CS_F_BOOL:
		return json_object_new_boolean(0);
	case CS_F_U32:
	case CS_F_U64:
		return json_object_new_int64(0);
	case CS_F_STR:
		return json_object_new_string("");
	case CS_F_ENUM:
		return json_object_new_string(f->names[0]);
	case CS_F_ARR:
		return json_object_new_array();
	case CS_F_OBJ:
		empty = json_object_new_object();
		v = empty ? complete(f->sub, empty) : NULL;
		json_object_put(empty);
		return v;
	}
	return NULL;
}

/* An array of s's objects, each completed; bare values as they are. */
static struct json_object *complete_array(const struct cs_schema *s, struct json_object *in)
{
	size_t n = json_object_array_length(in);
	struct json_object *a = json_object_new_array_ext((int)n), *e;

	if (!a)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		e = json_object_array_get_idx(in, i);
		/* an array of bare values: one unnamed field (proto.h) */
		if (s->nfields == 1 && !s->fields[0].name[0])
			e = json_object_get(e);
		else
			e = complete(s, e);
		if (!e || json_object_array_add(a, e)) {
			json_object_put(e);
			json_object_put(a);
			return NULL;
		}
	}
	return a;
}

/*
 * in, as cs_schema_encode() made it for s, with every key of s, in the
 * schema's order.  Done over the encoder's output, not beside it, so that
 * what --json prints is checked exactly as what goes on the wire is; only
 * the keys the wire leaves out for zero values are put back.
 */
static struct json_object *complete(const struct cs_schema *s, struct json_object *in)
{
	struct json_object *out = json_object_new_object(), *v;

	if (!out)
		return NULL;
	for (size_t i = 0; i < s->nfields; i++) {
		const struct cs_field *f = &s->fields[i];

		if (!json_object_object_get_ex(in, f->name, &v))
			v = zero_value(f);
		else if (f->type == CS_F_OBJ)
			v = complete(f->sub, v);
		else if (f->type == CS_F_ARR)
			v = complete_array(f->sub, v);
		else
			v = json_object_get(v);
		if (!v || json_object_object_add(out, f->name, v)) {
			json_object_put(v);
			json_object_put(out);
			return NULL;
		}
	}
	return out;
}

int json_result(enum cs_op op, const void *result, struct json_object **out,
		struct cs_error *err)
{
	struct json_object *j;
	int ret;

	ret = cs_schema_encode(cs_ops[op].result, result, &j, err);
	if (ret)
		return ret;
	*out = complete(cs_ops[op].result, j);
	json_object_put(j);
	if (!*out) {
		cs_error_set(err, ENOMEM, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

void put_json(struct json_object *j)
{
	puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY |
					    JSON_C_TO_STRING_NOSLASHESCAPE));
	fflush(stdout);
}

int print_json(struct snapctl *ctl, enum cs_op op, const void *result)
{
	struct json_object *j;
	struct cs_error err = { 0 };
	int ret;

	ret = json_result(op, result, &j, &err);
	if (ret)
		return report_failure(ctl, -ret, CS_EXIT_FAILED, "%s", err.message);
	put_json(j);
	json_object_put(j);
	return CS_EXIT_OK;
}

int revert_mark_path(uint64_t set_id, char *buf, size_t size)
{
	return snprintf(buf, size, REVERT_RUN_DIR "/revert-%" PRIu64 ".incomplete",
			set_id) >= (int)size ? -ENAMETOOLONG : 0;
}
