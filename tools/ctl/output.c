// SPDX-License-Identifier: GPL-2.0-or-later
/* Talking to the daemon, and telling the admin what went wrong. */
#include <errno.h>
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

	return ret ? report_error(ctl, NULL, ret, &err) : EXIT_OK;
}

int report_error(struct snapctl *ctl, struct cs_client *c, int ret,
		 const struct cs_error *err)
{
	const char *sock = ctl->socket ? ctl->socket : cs_socket_path();
	bool remote = c && cs_client_remote(c);
	char buf[TERM_TEXT_MAX];
	/* the daemon's messages quote writers, hooks and other users */
	const char *msg = term_text(err->message, buf, sizeof(buf));

	if (!remote && (ret == -ENOENT || ret == -ECONNREFUSED || ret == -ENOTSOCK)) {
		fprintf(stderr, "%s: %s\n"
			"%s: is cowsnapd running? Start it (`cowsnapd', or `systemctl start cowsnapd'),\n"
			"%s: or point --socket or $" CS_SOCKET_ENV " at its socket.\n",
			ctl->prog, msg, ctl->prog, ctl->prog);
		return EXIT_NO_DAEMON;
	}
	if (!remote && ret == -EACCES) {
		fprintf(stderr, "%s: %s\n%s: run snapctl as root.\n", ctl->prog, msg, ctl->prog);
		return EXIT_DENIED;
	}
	if (remote && ret == -EACCES) {
		fprintf(stderr, "%s: cowsnapd at %s refused: %s\n", ctl->prog, sock, msg);
		return EXIT_DENIED;
	}
	if (remote && ret != -EPROTO) {
		fprintf(stderr, "%s: %s\n", ctl->prog, msg);
		return EXIT_FAILED;
	}
	if (ret == -EPROTO || ret == -ETIMEDOUT) {
		fprintf(stderr, "%s: %s\n%s: snapctl and cowsnapd may be of different versions; "
			"see `snapctl version'.\n", ctl->prog, msg, ctl->prog);
		return EXIT_PROTO;
	}
	if (!remote) {
		fprintf(stderr, "%s: %s\n", ctl->prog, msg);
		return ret == -ECONNRESET || ret == -EPIPE ? EXIT_NO_DAEMON : EXIT_FAILED;
	}
	fprintf(stderr, "%s: %s\n", ctl->prog, msg);
	return EXIT_FAILED;
}

int usage_error(struct snapctl *ctl, const char *cmd_usage, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", ctl->prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nUsage: %s %s\n", ctl->prog, cmd_usage);
	return EXIT_USAGE;
}

void print_json(struct snapctl *ctl, enum cs_op op, const void *result)
{
	struct json_object *j;
	struct cs_error err = { 0 };

	if (cs_schema_encode(cs_ops[op].result, result, &j, &err)) {
		fprintf(stderr, "%s: %s\n", ctl->prog, err.message);
		return;
	}
	puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY |
					    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(j);
}
