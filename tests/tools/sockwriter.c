// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sockwriter: a socket writer for tests and an example of the writer API
 * (tools/lib/cowsnap.h).  It registers a Writer Metadata Document, then
 * appends one line per event to a log:
 *
 *	NAME EVENT set=ID type=TYPE success=0|1 components=P1,P2 volumes=V1,V2
 *
 * and, when the event names the snapshots (post-snapshot, backup-complete),
 * ` snapshots=ORIGIN=IMAGE,... images_writable=0|1' at its end
 *
 * (the log is opened for appending, so that several writers, hook writers
 * too, can share one and the order across them shows)
 *
 * and answers it: ok, or as told by --veto / --crash / --hang.
 *
 * --stamps logs, instead of that line, two lines per event with the time
 * (CLOCK_REALTIME, seconds) at which the event arrived and at which it is
 * answered, as the benchmark's hook writers do (bench/guest-freeze.bash):
 *
 *	NAME EVENT start SECONDS.NANOSECONDS
 *	NAME EVENT end SECONDS.NANOSECONDS
 *
 *	sockwriter --name NAME --log FILE [--ready FILE] [--order ORDER]
 *		   [--freeze-timeout MS] [--event-timeout MS] [--types T,T]
 *		   [--component [!]LOGICAL/NAME=DIR]... (! = not selectable)
 *		   [--veto EVENT[:retryable]] [--crash EVENT] [--hang EVENT]
 *		   [--socket PATH] [--stamps]
 *
 * --crash EVENT logs the event, then kills itself with SIGKILL before
 * answering; --hang EVENT logs it and never answers.  --ready FILE is
 * created once registered.  Exits 0 when cowsnapd closes the connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cowsnap.h"

static int event_index(const char *name)
{
	for (int i = 0; cs_event_names[i]; i++)
		if (!strcmp(cs_event_names[i], name))
			return i;
	fprintf(stderr, "sockwriter: unknown event `%s'\n", name);
	exit(2);
}

static void add_component(struct cs_wmd *w, const char *spec)
{
	struct cs_wmd_component *c;
	const char *eq = strchr(spec, '='), *slash;
	bool selectable = spec[0] != '!';

	if (!selectable)
		spec++;
	if (!eq) {
		fprintf(stderr, "sockwriter: --component [!]PATH=DIR, not `%s'\n", spec);
		exit(2);
	}
	w->components = realloc(w->components, (w->ncomponents + 1) * sizeof(*c));
	c = &w->components[w->ncomponents++];
	memset(c, 0, sizeof(*c));
	c->selectable = selectable;
	/* the last part of PATH is the name, the rest the logical path */
	for (slash = eq; slash > spec && *slash != '/'; slash--)
		;
	if (*slash == '/') {
		snprintf(c->logical_path, sizeof(c->logical_path), "%.*s", (int)(slash - spec),
			 spec);
		snprintf(c->name, sizeof(c->name), "%.*s", (int)(eq - slash - 1), slash + 1);
	} else {
		snprintf(c->name, sizeof(c->name), "%.*s", (int)(eq - spec), spec);
	}
	c->files = calloc(1, sizeof(*c->files));
	c->nfiles = 1;
	snprintf(c->files[0].path, sizeof(c->files[0].path), "%s", eq + 1);
	strcpy(c->files[0].filespec, "*");
	c->files[0].recursive = true;
}

static void set_types(struct cs_wmd *w, const char *list)
{
	char buf[256], *tok, *save;

	snprintf(buf, sizeof(buf), "%s", list);
	w->nbackup_types = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int t = -1;

		for (int i = 0; cs_backup_type_names[i]; i++)
			if (!strcmp(cs_backup_type_names[i], tok))
				t = i;
		if (t < 0 || w->nbackup_types >= 5) {
			fprintf(stderr, "sockwriter: invalid backup type `%s'\n", tok);
			exit(2);
		}
		w->backup_types[w->nbackup_types++].type = t;
	}
}

static void log_event(FILE *log, const char *name, const struct cs_writer_event *ev)
{
	fprintf(log, "%s %s set=%llu type=%s success=%d components=", name,
		cs_event_names[ev->event],
		(unsigned long long)ev->set_id, cs_backup_type_names[ev->backup_type],
		ev->success);
	for (uint32_t i = 0; i < ev->ncomponents; i++)
		fprintf(log, "%s%s%s", i ? "," : "", ev->components[i].path,
			ev->components[i].failed ? "(failed)" : "");
	fprintf(log, " volumes=");
	for (uint32_t i = 0; i < ev->nvolumes; i++)
		fprintf(log, "%s%s", i ? "," : "", ev->volumes[i].spec);
	if (ev->nsnapshots) {
		fprintf(log, " snapshots=");
		for (uint32_t i = 0; i < ev->nsnapshots; i++)
			fprintf(log, "%s%s=%s", i ? "," : "", ev->snapshots[i].origin,
				ev->snapshots[i].image);
		fprintf(log, " images_writable=%d", ev->images_writable);
	}
	fputc('\n', log);
	fflush(log);
	fdatasync(fileno(log));
}

static void log_stamp(FILE *log, const char *name, const struct cs_writer_event *ev,
		      const char *what)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	fprintf(log, "%s %s %s %lld.%09ld\n", name, cs_event_names[ev->event], what,
		(long long)ts.tv_sec, ts.tv_nsec);
	fflush(log);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "log", required_argument, NULL, 'l' },
		{ "ready", required_argument, NULL, 'r' },
		{ "order", required_argument, NULL, 'o' },
		{ "freeze-timeout", required_argument, NULL, 'f' },
		{ "event-timeout", required_argument, NULL, 'e' },
		{ "types", required_argument, NULL, 't' },
		{ "component", required_argument, NULL, 'c' },
		{ "veto", required_argument, NULL, 'v' },
		{ "crash", required_argument, NULL, 'k' },
		{ "hang", required_argument, NULL, 'h' },
		{ "socket", required_argument, NULL, 's' },
		{ "stamps", no_argument, NULL, 'S' },
		{ 0 }
	};
	struct cs_backup_type_item types[5];
	struct cs_wmd w = { .usage = CS_USAGE_USER_DATA, .order = 1, .backup_types = types };
	struct cs_writer_client *wc;
	struct cs_writer_event ev;
	struct cs_error err = { 0 };
	const char *log_path = NULL, *ready = NULL, *sock = NULL;
	int veto = -1, crash = -1, hang = -1, opt, ret;
	bool retryable = false, stamps = false;
	unsigned long h = 5381;
	FILE *log;

	set_types(&w, "full,copy,incremental,differential,log");
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			snprintf(w.name, sizeof(w.name), "%s", optarg);
			break;
		case 'l':
			log_path = optarg;
			break;
		case 'r':
			ready = optarg;
			break;
		case 'o':
			w.order = -1;
			for (int i = 0; cs_writer_order_names[i]; i++)
				if (!strcmp(cs_writer_order_names[i], optarg))
					w.order = i;
			if (w.order < 0)
				return 2;
			break;
		case 'f':
			w.freeze_timeout_ms = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'e':
			w.event_timeout_ms = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 't':
			set_types(&w, optarg);
			break;
		case 'c':
			add_component(&w, optarg);
			break;
		case 'v': {
			char *colon = strchr(optarg, ':');

			if (colon) {
				*colon = '\0';
				retryable = !strcmp(colon + 1, "retryable");
			}
			veto = event_index(optarg);
			break;
		}
		case 'k':
			crash = event_index(optarg);
			break;
		case 'h':
			hang = event_index(optarg);
			break;
		case 's':
			sock = optarg;
			break;
		case 'S':
			stamps = true;
			break;
		default:
			fprintf(stderr, "usage: see the comment at the top of sockwriter.c\n");
			return 2;
		}
	}
	if (!w.name[0] || !log_path) {
		fprintf(stderr, "sockwriter: --name and --log are required\n");
		return 2;
	}
	for (const char *p = w.name; *p; p++)
		h = h * 33 + (unsigned char)*p;
	snprintf(w.class_id, sizeof(w.class_id), "5c0a1e27-0000-4000-8000-%012lx",
		 h & 0xffffffffffffUL);
	snprintf(w.instance, sizeof(w.instance), "test instance of %.200s", w.name);
	w.restore_method = 1;
	log = fopen(log_path, "a");
	if (!log) {
		perror(log_path);
		return 1;
	}
	ret = cs_writer_register(sock, &w, &wc, &err);
	if (ret) {
		fprintf(stderr, "sockwriter %s: cannot register: %s\n", w.name, err.message);
		return 1;
	}
	if (ready)
		close(open(ready, O_WRONLY | O_CREAT, 0644));
	for (;;) {
		struct cs_error veto_err;

		ret = cs_writer_next_event(wc, &ev, -1, &err);
		if (ret == -ECONNRESET)
			break;
		if (ret) {
			fprintf(stderr, "sockwriter %s: %s\n", w.name, err.message);
			return 1;
		}
		if (stamps)
			log_stamp(log, w.name, &ev, "start");
		else
			log_event(log, w.name, &ev);
		if (ev.event == crash)
			kill(getpid(), SIGKILL);
		if (ev.event == hang) {
			for (;;)
				pause();
		}
		if (ev.event == veto) {
			cs_error_set(&veto_err, retryable ? EAGAIN : EPERM, "%s refuses %s (test)",
				     w.name, cs_event_names[ev.event]);
			ret = cs_writer_reply(wc, &veto_err, &err);
		} else {
			if (stamps)
				log_stamp(log, w.name, &ev, "end");
			ret = cs_writer_reply(wc, NULL, &err);
		}
		cs_writer_event_free(&ev);
		if (ret) {
			fprintf(stderr, "sockwriter %s: %s\n", w.name, err.message);
			return 1;
		}
	}
	cs_writer_close(wc);
	fclose(log);
	return 0;
}
