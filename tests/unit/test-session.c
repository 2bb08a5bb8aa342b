// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Check tests of cowsnapd's deadlines against hostile socket writers: the
 * real daemon runs on the host (--no-module, a socket and configuration in a
 * temporary directory), a writer registers, and a restore (restore_begin
 * sends pre-restore, which needs no module) waits for it.  When the writer
 * answers pre-restore with a flood of frames, the restore must fail within
 * the writer's event timeout plus a margin, and other clients must be
 * answered meanwhile.
 */
#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "cowsnap.h"
#include "live-daemon.h"

#ifndef COWSNAPD_BIN
#define COWSNAPD_BIN "../../daemon/cowsnapd"
#endif

#define EVENT_TIMEOUT_MS	2000
/* the restore must fail within the event timeout plus this, and other
 * clients be answered within it (room for a machine busy with guests) */
#define MARGIN_MS		2000
/* how long a hostile writer keeps flooding at most */
#define FLOOD_MS		20000

static struct live_daemon ld;
static pid_t writer_pid, client_pids[8], rec_pids[2];
static int hostile_clients;
/* called with the configuration directory before cowsnapd starts */
static void (*populate_conf)(const char *conf);

/* cowsnapd with extra options (NULL-terminated) */
static void start_daemon_with(const char *const *opts)
{
	char why[256];

	ck_assert_msg(live_daemon_start(&ld, "test-session", live_daemon_bin(COWSNAPD_BIN),
					populate_conf, opts, why, sizeof(why)) == 0, "%s", why);
}

static void start_daemon(void)
{
	start_daemon_with(NULL);
}

static void teardown(void)
{
	live_stop(&writer_pid, SIGKILL);
	for (int i = 0; i < 2; i++)
		live_stop(&rec_pids[i], SIGKILL);
	for (int i = 0; i < hostile_clients; i++)
		live_stop(&client_pids[i], SIGKILL);
	live_daemon_remove(&ld);
	hostile_clients = 0;
	populate_conf = NULL;
}

enum flood {
	FLOOD_REQUESTS,		/* requests, never reading the replies */
	FLOOD_REPLIES,		/* answers to events never sent, never reading */
	FLOOD_NONE,		/* never answers, sends nothing */
	FLOOD_LEAVE,		/* answers, then exits */
};

/* At least size bytes of frames to send many times: requests (each gets a
 * reply), or answers to an event that was never sent (ignored). */
static int flood_frames(enum flood what, struct cs_buf *b, size_t size)
{
	struct cs_empty none = { 0 };
	struct cs_error err;
	int ret = 0;

	while (!ret && b->len < size)
		ret = what != FLOOD_REPLIES ?
		      cs_encode_request(b, 7, CS_OP_VERSION, &none, &err) :
		      cs_encode_reply(b, 4000000000U, CS_OP_WRITER_EVENT, &none, &err);
	return ret;
}

/*
 * In a child: register writer `flood' and wait for an event; then, instead
 * of the answer, send frames without end (until FLOOD_MS are over or the
 * daemon drops the connection).
 */
static void hostile_writer(enum flood what)
{
	struct cs_backup_type_item types[1] = { { .type = 0 } };
	struct cs_wmd wmd = {
		.name = "flood", .class_id = "5f1a0c0e-2b7e-4c11-9a3b-6f0d8e1c2a44",
		.usage = 0, .restore_method = 0, .order = 1, .backup_types = types,
		.nbackup_types = 1, .event_timeout_ms = EVENT_TIMEOUT_MS,
	};
	struct cs_writer_client *w;
	struct cs_writer_event ev;
	struct cs_error err;
	struct cs_buf many = { 0 };
	int ready[2], fd;
	char c;

	ck_assert_int_eq(pipe(ready), 0);
	writer_pid = fork();
	ck_assert_int_ge(writer_pid, 0);
	if (writer_pid) {
		close(ready[1]);
		ck_assert_int_eq(read(ready[0], &c, 1), 1);
		close(ready[0]);
		return;
	}
	if (cs_writer_register(ld.sock, &wmd, &w, &err)) {
		fprintf(stderr, "test-session: register: %s\n", err.message);
		_exit(1);
	}
	if (write(ready[1], "r", 1) != 1 || cs_writer_next_event(w, &ev, 10000, &err))
		_exit(1);
	fd = cs_writer_fd(w);
	if (what == FLOOD_NONE)
		pause();
	if (what == FLOOD_LEAVE)
		_exit(cs_writer_reply(w, NULL, &err) ? 1 : 0);
	/* 64 KiB per send: more than cowsnapd reads at once, so that its
	 * input is never empty */
	if (flood_frames(what, &many, 65536))
		_exit(1);
	for (int64_t until = now_ms() + FLOOD_MS; now_ms() < until;)
		if (send(fd, many.data, many.len, MSG_NOSIGNAL) < 0)
			break;
	_exit(0);
}

/* Clients that send requests without end once the writer has its event,
 * and never read the replies. */
static void start_hostile_clients(void)
{
	for (int i = 0; i < hostile_clients; i++) {
		struct cs_buf many = { 0 };
		struct cs_client *c;
		struct cs_error err;

		client_pids[i] = fork();
		ck_assert_int_ge(client_pids[i], 0);
		if (client_pids[i])
			continue;
		if (cs_client_open(ld.sock, &c, &err) || flood_frames(FLOOD_REQUESTS, &many, 65536))
			_exit(1);
		for (int64_t until = now_ms() + FLOOD_MS; now_ms() < until;)
			if (send(cs_client_fd(c), many.data, many.len, MSG_NOSIGNAL) < 0)
				break;
		_exit(0);
	}
}

/* Other clients while the restore waits: the longest time a writer_list
 * took, and whether one got no answer at all. */
struct prober {
	int64_t worst_ms;
	int failures;
	volatile bool stop;
};

static void *probe(void *arg)
{
	struct prober *p = arg;

	while (!p->stop) {
		struct cs_writer_list_result r = { 0 };
		struct cs_client *c;
		struct cs_error err;
		int64_t t0 = now_ms(), took;

		if (cs_client_open(ld.sock, &c, &err)) {
			p->failures++;
		} else {
			cs_client_set_timeout(c, MARGIN_MS);
			if (cs_call_list(c, CS_OP_WRITER_LIST, &r, &err))
				p->failures++;
			cs_result_free(CS_OP_WRITER_LIST, &r);
			cs_client_close(c);
		}
		took = now_ms() - t0;
		if (took > p->worst_ms)
			p->worst_ms = took;
		usleep(100000);
	}
	return NULL;
}

/* The writer's state and error after the restore, from writer_list. */
static void writer_outcome(const char **state, const char **error, char *msg, size_t size)
{
	struct cs_writer_list_result r = { 0 };
	struct cs_client *c;
	struct cs_error err;

	ck_assert_msg(cs_client_open(ld.sock, &c, &err) == 0, "%s", err.message);
	ck_assert_msg(cs_call_list(c, CS_OP_WRITER_LIST, &r, &err) == 0,
		      "%s", err.message);
	*state = *error = "(not listed)";
	for (uint32_t i = 0; i < r.nwriters; i++) {
		if (strcmp(r.writers[i].name, "flood"))
			continue;
		*state = cs_writer_state_names[r.writers[i].state];
		*error = cs_writer_error_names[r.writers[i].last_error];
		snprintf(msg, size, "%s", r.writers[i].message);
	}
	cs_result_free(CS_OP_WRITER_LIST, &r);
	cs_client_close(c);
}

/* restore_begin with writer `flood'; returns how long it took. */
static int64_t restore_with_flood(enum flood what, int *ret, struct cs_error *err,
				  struct prober *p)
{
	struct cs_volume_spec name = { .spec = "flood" };
	struct cs_restore_args a = { .writers = &name, .nwriters = 1 };
	struct cs_restore_result r = { 0 };
	struct cs_client *c;
	pthread_t t;
	int64_t t0;

	start_daemon();
	hostile_writer(what);
	ck_assert_msg(cs_client_open(ld.sock, &c, err) == 0, "%s", err->message);
	cs_client_set_timeout(c, FLOOD_MS + 10000);
	ck_assert_int_eq(pthread_create(&t, NULL, probe, p), 0);
	t0 = now_ms();
	start_hostile_clients();
	*ret = cs_call(c, CS_OP_RESTORE_BEGIN, &a, &r, err);
	t0 = now_ms() - t0;
	p->stop = true;
	pthread_join(t, NULL);
	cs_client_close(c);
	return t0;
}

/* ... and other clients answered within slowest_ms each */
static void check_flood(enum flood what, int64_t slowest_ms)
{
	struct prober p = { 0 };
	struct cs_error err = { 0 };
	char msg[CS_ERRMSG_MAX];
	const char *state, *error;
	int ret;
	int64_t took = restore_with_flood(what, &ret, &err, &p);

	ck_assert_msg(ret == -EIO, "restore_begin: %d %s", ret, err.message);
	ck_assert_msg(took <= EVENT_TIMEOUT_MS + MARGIN_MS, "restore_begin took %lld ms, "
		      "the writer's event timeout is %d ms", (long long)took, EVENT_TIMEOUT_MS);
	ck_assert_msg(p.failures == 0 && p.worst_ms <= slowest_ms, "other clients were not answered "
		      "meanwhile: %d unanswered, the slowest after %lld ms", p.failures,
		      (long long)p.worst_ms);
	writer_outcome(&state, &error, msg, sizeof(msg));
	ck_assert_msg(!strcmp(state, "FAILED_AT_PRE_RESTORE"), "writer state %s (%s)", state,
		      msg);
	/* one that does not read the replies to its requests is dropped at once */
	ck_assert_msg(!strcmp(error, what == FLOOD_REQUESTS ? "NONRETRYABLE" : "TIMEOUT"),
		      "writer error %s (%s)", error, msg);
}

/* Floods answers to other events: failed at the deadline (TIMEOUT). */
START_TEST(writer_flooding_answers)
{
	check_flood(FLOOD_REPLIES, MARGIN_MS);
}
END_TEST

/* Floods requests and never reads the EBUSY replies: dropped, not waited for. */
START_TEST(writer_flooding_requests)
{
	check_flood(FLOOD_REQUESTS, MARGIN_MS);
}
END_TEST

/*
 * Other clients flood requests and do not read the replies while the
 * writer keeps silent: each of them held the daemon for the 2 s a reply
 * could take; within a writer's wait, a reply may take 100 ms at most.
 */
START_TEST(clients_flooding_during_a_wait)
{
	hostile_clients = 8;
	check_flood(FLOOD_NONE, MARGIN_MS / 2);
}
END_TEST

/* the slowest answer to other clients while one does not read its replies */
#define NOT_READING_SLOWEST_MS	300

/*
 * A client floods requests and never reads: the daemon used to block up to
 * 2 s on each of its replies, and every other client waited meanwhile.  Its
 * replies are queued now, and it is dropped once they pile up.
 */
START_TEST(client_not_reading)
{
	struct prober p = { .worst_ms = 0 };
	pthread_t t;
	int status;

	start_daemon();
	ck_assert_int_eq(pthread_create(&t, NULL, probe, &p), 0);
	client_pids[0] = fork();
	ck_assert_int_ge(client_pids[0], 0);
	if (client_pids[0] == 0) {
		struct cs_buf many = { 0 };
		struct cs_client *c;
		struct cs_error err;

		if (cs_client_open(ld.sock, &c, &err) || flood_frames(FLOOD_REQUESTS, &many, 65536))
			_exit(1);
		for (int64_t until = now_ms() + FLOOD_MS; now_ms() < until;)
			if (send(cs_client_fd(c), many.data, many.len, MSG_NOSIGNAL) < 0)
				_exit(0);
		_exit(3);	/* never dropped */
	}
	hostile_clients = 1;
	usleep(3000000);
	p.stop = true;
	pthread_join(t, NULL);
	ck_assert_msg(p.failures == 0 && p.worst_ms <= NOT_READING_SLOWEST_MS,
		      "other clients waited for one that does not read: %d unanswered, "
		      "the slowest after %lld ms", p.failures, (long long)p.worst_ms);
	ck_assert_int_eq(waitpid(client_pids[0], &status, 0), client_pids[0]);
	client_pids[0] = 0;
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "the client that does not read was not dropped (status %#x)", status);
	ck_assert_msg(live_daemon_log_has(&ld, "does not read its replies"),
		      "no log line for the drop");
}
END_TEST

/*
 * In a child that is nobody (65534, admitted through --group): one
 * connection talks every 400 ms, another is idle; after 2.4 s with an idle
 * timeout of 1 s, the idle one must be closed and the other not.  Exit 0
 * when so.
 */
static void idle_nobody(void)
{
	struct cs_version v;
	struct cs_client *busy, *idle;
	struct cs_error err;

	if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
	    setresuid(65534, 65534, 65534))
		_exit(10);
	if (cs_client_open(ld.sock, &busy, &err) || cs_client_open(ld.sock, &idle, &err))
		_exit(11);
	cs_client_set_timeout(busy, 1000);
	cs_client_set_timeout(idle, 1000);
	if (cs_call_version(busy, &v, &err) || cs_call_version(idle, &v, &err))
		_exit(12);
	for (int i = 0; i < 6; i++) {
		usleep(400000);
		if (cs_call_version(busy, &v, &err))
			_exit(13);
	}
	if (!cs_call_version(idle, &v, &err))
		_exit(14);
	_exit(0);
}

START_TEST(idle_connections)
{
	static const char *const codes[] = {
		[10] = "cannot become nobody", [11] = "nobody cannot connect",
		[12] = "nobody is not answered", [13] = "a busy connection was closed",
		[14] = "an idle connection was not closed",
	};
	struct group *gr = getgrgid(65534);
	struct cs_version v;
	struct cs_client *root;
	struct cs_error err;
	int status, code;

	ck_assert_ptr_nonnull(gr);
	start_daemon_with((const char *const[]){ "--idle-timeout", "1s", "--group", gr->gr_name,
						 NULL });
	ck_assert_msg(cs_client_open(ld.sock, &root, &err) == 0, "%s", err.message);
	client_pids[0] = fork();
	ck_assert_int_ge(client_pids[0], 0);
	if (client_pids[0] == 0)
		idle_nobody();
	hostile_clients = 1;
	usleep(2500000);
	ck_assert_msg(cs_call_version(root, &v, &err) == 0, "root's idle connection: %s",
		      err.message);
	cs_client_close(root);
	ck_assert_int_eq(waitpid(client_pids[0], &status, 0), client_pids[0]);
	client_pids[0] = 0;
	code = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
	ck_assert_msg(code == 0, "nobody's connections: %s (status %#x)",
		      code >= 10 && code <= 14 ? codes[code] : "?", status);
	ck_assert_msg(live_daemon_log_has(&ld, "closed idle client"),
		      "no log line for the idle close");
}
END_TEST

/* 100 hook writers whose programs lie deep: each listed takes ~3.9 KB */
#define DEEP_WRITERS	100

static void deep_exec(char *path, size_t size, unsigned i)
{
	size_t n = (size_t)snprintf(path, size, "/opt/cowsnap-test");

	while (n + 300 < size - 64)
		n += (size_t)snprintf(path + n, size - n, "/%0250u", i);
	snprintf(path + n, size - n, "/hook%03u", i);
}

static void deep_writers(const char *conf)
{
	char path[CS_PATH_MAX + 1], file[256];

	snprintf(file, sizeof(file), "%s/writers.d", conf);
	ck_assert_int_eq(mkdir(file, 0755), 0);
	for (unsigned i = 0; i < DEEP_WRITERS; i++) {
		FILE *f;

		snprintf(file, sizeof(file), "%s/writers.d/w%03u.conf", conf, i);
		f = fopen(file, "w");
		ck_assert_ptr_nonnull(f);
		deep_exec(path, sizeof(path), i);
		fprintf(f, "exec %s\norder back-end\n", path);
		ck_assert_int_eq(fclose(f), 0);
	}
}

/*
 * writer_list of 100 writers is about 400 KB, more than a frame: cowsnapd
 * answers it in pages (each request gets the items after its cursor) and
 * cs_call_list joins them: every writer once, in the daemon's order.
 */
START_TEST(long_list_in_pages)
{
	struct cs_writer_list_result r = { 0 };
	char path[CS_PATH_MAX + 1];
	struct cs_client *c;
	struct cs_error err;

	populate_conf = deep_writers;
	start_daemon();
	ck_assert_msg(cs_client_open(ld.sock, &c, &err) == 0, "%s", err.message);
	/* one page alone is cut short, and says where to go on */
	ck_assert_msg(cs_call(c, CS_OP_WRITER_LIST, &(struct cs_list_args){ 0 }, &r, &err) == 0,
		      "first page: %s", err.message);
	ck_assert_uint_lt(r.nwriters, DEEP_WRITERS);
	ck_assert_uint_eq(r.next, r.nwriters);
	cs_result_free(CS_OP_WRITER_LIST, &r);
	ck_assert_msg(cs_call_list(c, CS_OP_WRITER_LIST, &r, &err) == 0, "%s", err.message);
	ck_assert_uint_eq(r.nwriters, DEEP_WRITERS);
	ck_assert_uint_eq(r.next, 0);
	for (unsigned i = 0; i < DEEP_WRITERS; i++) {
		char name[16];

		snprintf(name, sizeof(name), "w%03u", i);
		ck_assert_str_eq(r.writers[i].name, name);
		deep_exec(path, sizeof(path), i);
		ck_assert_str_eq(r.writers[i].exec, path);
	}
	cs_result_free(CS_OP_WRITER_LIST, &r);
	cs_client_close(c);
}
END_TEST

/*
 * In a child (client_pids[i]): register socket writer NAME whose metadata
 * takes ~135 KB (60 components, each a file in a long directory), then
 * wait 3 s for an event: exit 0 if none came, 1 if one did.
 */
static void big_writer(int i, const char *name)
{
	struct cs_backup_type_item types[1] = { { .type = 0 } };
	static struct cs_wmd_component comps[60];
	static struct cs_wmd_file files[60];
	struct cs_wmd wmd = {
		.class_id = "5f1a0c0e-2b7e-4c11-9a3b-6f0d8e1c2a45", .order = 1,
		.backup_types = types, .nbackup_types = 1, .components = comps,
		.ncomponents = 60,
	};
	struct cs_writer_client *w;
	struct cs_writer_event ev;
	struct cs_error err;
	int ready[2], ret;
	char c;

	ck_assert_int_eq(pipe(ready), 0);
	client_pids[i] = fork();
	ck_assert_int_ge(client_pids[i], 0);
	if (client_pids[i]) {
		close(ready[1]);
		ck_assert_msg(read(ready[0], &c, 1) == 1, "writer %s did not register", name);
		close(ready[0]);
		return;
	}
	snprintf(wmd.name, sizeof(wmd.name), "%s", name);
	for (int k = 0; k < 60; k++) {
		int n = snprintf(files[k].path, sizeof(files[k].path), "/srv/%s", name);

		memset(files[k].path + n, 'd', 2200);
		snprintf(files[k].filespec, sizeof(files[k].filespec), "table%02d.db", k);
		snprintf(comps[k].name, sizeof(comps[k].name), "component%02d", k);
		comps[k].files = &files[k];
		comps[k].nfiles = 1;
	}
	if (cs_writer_register(ld.sock, &wmd, &w, &err)) {
		fprintf(stderr, "test-session: register %s: %s\n", name, err.message);
		_exit(2);
	}
	if (write(ready[1], "r", 1) != 1)
		_exit(2);
	ret = cs_writer_next_event(w, &ev, 3000, &err);
	_exit(ret == -ETIMEDOUT ? 0 : 1);
}

/*
 * A create's reply carries the metadata of every writer taking part (for
 * --save-metadata): with two writers of ~135 KB each it could not be sent.
 * cowsnapd must say so before it asks a writer or the module anything, not
 * take the set and then fail to answer.
 */
START_TEST(create_reply_measured_first)
{
	struct cs_set_create_args a = { 0 };
	struct cs_set_result r = { 0 };
	struct cs_client *c;
	struct cs_error err = { 0 };
	int ret, status;

	start_daemon();
	hostile_clients = 2;
	big_writer(0, "big0");
	big_writer(1, "big1");
	ck_assert_msg(cs_client_open(ld.sock, &c, &err) == 0, "%s", err.message);
	ret = cs_call(c, CS_OP_SET_CREATE, &a, &r, &err);
	ck_assert_msg(ret == -EMSGSIZE, "create: %d %s", ret, err.message);
	ck_assert_msg(strstr(err.message, "metadata documents are too large") &&
		      strstr(err.message, "nothing was done"), "%s", err.message);
	cs_client_close(c);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(waitpid(client_pids[i], &status, 0), client_pids[i]);
		client_pids[i] = 0;
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			      "writer big%d was sent an event (status %#x)", i, status);
	}
}
END_TEST

/*
 * A writer that answers pre-restore and then goes away misses post-restore:
 * the restore did not go well for it, and restore_end must say so (found
 * by fuzz-writer: cowsnapd answered success).
 */
START_TEST(writer_gone_before_post_restore)
{
	struct cs_volume_spec name = { .spec = "flood" };
	struct cs_restore_args a = { .writers = &name, .nwriters = 1 };
	struct cs_restore_result r = { 0 };
	struct cs_restore_end_args end = { .success = true };
	struct cs_client *c;
	struct cs_error err = { 0 };
	const char *state = "", *error = "";
	char msg[CS_ERRMSG_MAX];
	int ret, status;

	start_daemon();
	hostile_writer(FLOOD_LEAVE);
	ck_assert_msg(cs_client_open(ld.sock, &c, &err) == 0, "%s", err.message);
	ck_assert_msg(cs_call(c, CS_OP_RESTORE_BEGIN, &a, &r, &err) == 0, "%s", err.message);
	ck_assert_int_eq(waitpid(writer_pid, &status, 0), writer_pid);
	writer_pid = 0;
	/* until cowsnapd has seen the connection close */
	for (int64_t until = now_ms() + 5000; now_ms() < until; usleep(50000)) {
		writer_outcome(&state, &error, msg, sizeof(msg));
		if (strcmp(state, "STABLE"))
			break;
	}
	ck_assert_str_eq(state, "FAILED_AT_POST_RESTORE");
	ret = cs_call(c, CS_OP_RESTORE_END, &end, &(struct cs_empty){ 0 }, &err);
	ck_assert_msg(ret == -EIO, "restore_end: %d %s", ret, err.message);
	ck_assert_msg(strstr(err.message, "writer flood failed"), "%s", err.message);
	cs_client_close(c);
}
END_TEST

/*
 * A socket writer in a child that answers every event and writes a line
 * "EVENT VOLUME... | COMPONENT..." for each to log.  Its one component, db,
 * has its files in dir.  Returns once it is registered.
 */
static pid_t recording_writer(const char *name, const char *dir, const char *log)
{
	struct cs_backup_type_item types[1] = { { .type = 0 } };
	struct cs_wmd_file file = { .filespec = "*.db" };
	struct cs_wmd_component comp = { .name = "db", .selectable = true, .files = &file,
					 .nfiles = 1 };
	struct cs_wmd wmd = {
		.class_id = "9a1d7e52-61f0-4d0b-8c3e-2f5b7a9c0d11", .order = 1,
		.backup_types = types, .nbackup_types = 1, .components = &comp,
		.ncomponents = 1,
	};
	struct cs_writer_client *w;
	struct cs_writer_event ev;
	struct cs_error err;
	int ready[2];
	pid_t pid;
	char c;

	snprintf(wmd.name, sizeof(wmd.name), "%s", name);
	snprintf(file.path, sizeof(file.path), "%s", dir);
	ck_assert_int_eq(pipe(ready), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid) {
		close(ready[1]);
		ck_assert_int_eq(read(ready[0], &c, 1), 1);
		close(ready[0]);
		return pid;
	}
	if (cs_writer_register(ld.sock, &wmd, &w, &err)) {
		fprintf(stderr, "test-session: register %s: %s\n", name, err.message);
		_exit(1);
	}
	if (write(ready[1], "r", 1) != 1)
		_exit(1);
	while (!cs_writer_next_event(w, &ev, 30000, &err)) {
		FILE *f = fopen(log, "a");

		if (!f)
			_exit(1);
		fprintf(f, "%s", cs_event_names[ev.event]);
		for (uint32_t i = 0; i < ev.nvolumes; i++)
			fprintf(f, " %s", ev.volumes[i].spec);
		fprintf(f, " |");
		for (uint32_t i = 0; i < ev.ncomponents; i++)
			fprintf(f, " %s", ev.components[i].path);
		fprintf(f, "\n");
		fclose(f);
		cs_writer_event_free(&ev);
		if (cs_writer_reply(w, NULL, &err))
			_exit(1);
	}
	_exit(0);
}

static char hook_log[128];

/* a hook writer that logs each event with its COWSNAP_VOLUMES */
static void hook_writer_conf(const char *conf)
{
	char file[256];
	FILE *f;

	snprintf(file, sizeof(file), "%s/writers.d", conf);
	ck_assert_int_eq(mkdir(file, 0755), 0);
	snprintf(file, sizeof(file), "%s/hook.sh", conf);
	f = fopen(file, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "#!/bin/sh\necho \"$COWSNAP_EVENT $COWSNAP_VOLUMES\" >> %s\n", hook_log);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(file, 0755), 0);
	snprintf(file, sizeof(file), "%s/writers.d/hook1.conf", conf);
	f = fopen(file, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "exec %s/hook.sh\n", conf);
	ck_assert_int_eq(fclose(f), 0);
}

static char *slurp(const char *path)
{
	static char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;

	if (f)
		fclose(f);
	buf[n] = '\0';
	return buf;
}

/*
 * A restore without the backup's metadata (snapctl revert without
 * --metadata) names the volumes restored: the writers with a component
 * that has files there take part with that component, a writer whose files
 * lie elsewhere does not, hook writers take part whole; all of them hear
 * the volumes (COWSNAP_VOLUMES, the events' volumes).
 */
START_TEST(restore_selects_writers_by_volume)
{
	struct cs_volume_spec vol;
	struct cs_restore_args a = { .volumes = &vol, .nvolumes = 1 };
	struct cs_restore_args none = { 0 };
	struct cs_component_ref cref = { .writer = "here", .path = "db" };
	struct cs_restore_args comps_only = { .components = &cref, .ncomponents = 1,
					      .volumes = &vol, .nvolumes = 1 };
	struct cs_restore_result r = { 0 };
	struct cs_restore_end_args end = { .success = true };
	char here_log[160], there_log[160], dev[64], want[64], *got;
	struct cs_client *c;
	struct cs_error err = { 0 };
	struct stat st;

	snprintf(hook_log, sizeof(hook_log), "/tmp/test-session-hook.%d", getpid());
	unlink(hook_log);
	populate_conf = hook_writer_conf;
	start_daemon();
	/* the volume of the daemon's directory; a host whose /tmp is on no
	 * block device (tmpfs, overlay) cannot show the difference */
	ck_assert_int_eq(stat(ld.dir, &st), 0);
	snprintf(dev, sizeof(dev), "/sys/dev/block/%u:%u", major(st.st_dev), minor(st.st_dev));
	if (access(dev, F_OK)) {
		fprintf(stderr, "test-session: restore_selects_writers_by_volume: %s is on no "
			"block device here; not checked\n", ld.dir);
		return;
	}
	snprintf(vol.spec, sizeof(vol.spec), "%s", ld.dir);
	snprintf(here_log, sizeof(here_log), "%s/here.log", ld.dir);
	snprintf(there_log, sizeof(there_log), "%s/there.log", ld.dir);
	rec_pids[0] = recording_writer("here", ld.dir, here_log);
	rec_pids[1] = recording_writer("there", "/dev/shm", there_log);
	ck_assert_msg(cs_client_open(ld.sock, &c, &err) == 0, "%s", err.message);

	/* neither writers nor volumes, or components without their writers */
	ck_assert_int_eq(cs_call(c, CS_OP_RESTORE_BEGIN, &none, &r, &err), -EINVAL);
	ck_assert_msg(strstr(err.message, "names no writer and no volume"), "%s", err.message);
	ck_assert_int_eq(cs_call(c, CS_OP_RESTORE_BEGIN, &comps_only, &r, &err), -EINVAL);
	ck_assert_msg(strstr(err.message, "components but not their writers"), "%s",
		      err.message);

	ck_assert_msg(cs_call(c, CS_OP_RESTORE_BEGIN, &a, &r, &err) == 0, "%s", err.message);
	ck_assert_uint_eq(r.writers, 2);
	ck_assert_msg(cs_call(c, CS_OP_RESTORE_END, &end, &(struct cs_empty){ 0 }, &err) == 0,
		      "%s", err.message);
	cs_client_close(c);

	/* the device node the daemon resolved: the one the events carry */
	got = slurp(here_log);
	ck_assert_msg(!strncmp(got, "pre-restore /dev/", 17), "here heard: %s", got);
	snprintf(want, sizeof(want), "%.*s", (int)strcspn(got + 12, " "), got + 12);
	{
		char line[256];

		snprintf(line, sizeof(line), "pre-restore %s | db\npost-restore %s | db\n", want,
			 want);
		ck_assert_str_eq(got, line);
		ck_assert_str_eq(slurp(there_log), "");
		snprintf(line, sizeof(line), "pre-restore %s\npost-restore %s\n", want, want);
		ck_assert_str_eq(slurp(hook_log), line);
	}
	unlink(hook_log);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("session");
	TCase *tc = tcase_create("hostile writers");
	SRunner *sr;
	int failed;

	signal(SIGPIPE, SIG_IGN);
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, writer_flooding_answers);
	tcase_add_test(tc, writer_flooding_requests);
	tcase_add_test(tc, clients_flooding_during_a_wait);
	tcase_add_test(tc, client_not_reading);
	tcase_add_test(tc, idle_connections);
	tcase_add_test(tc, writer_gone_before_post_restore);
	tcase_add_test(tc, restore_selects_writers_by_volume);
	suite_add_tcase(s, tc);
	tc = tcase_create("replies");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, long_list_in_pages);
	tcase_add_test(tc, create_reply_measured_first);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
