// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Check tests of snapctl's own helpers (tools/ctl): the text it puts on the
 * terminal, the --exec command's life, which must end with snapctl's, and
 * its output for scripts: the exit codes it shares with snapread, --json
 * anywhere on the command line, errors in JSON, --json's every key, and the
 * tables' -H, -p and -o; last, the built snapctl against cowsnapd on the
 * host (--no-module).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <json.h>

#include "snapctl.h"

START_TEST(term_text_escapes)
{
	static const struct {
		const char *in, *out;
	} c[] = {
		{ "writer db1 vetoed: disk full", "writer db1 vetoed: disk full" },
		{ "\x1b]0;pwned\x07\x1b[2J", "\\x1b]0;pwned\\x07\\x1b[2J" },
		{ "line\nnext\rover\ttab", "line\\x0anext\\x0dover\\x09tab" },
		{ "del\x7f", "del\\x7f" },
		/* UTF-8 stays; C1 controls (U+009B is CSI) and stray bytes do not */
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x92\xbe",
		  "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x92\xbe" },
		{ "\xc2\x9b" "31m", "\\xc2\\x9b31m" },
		{ "\x9b" "31m \xff \xc3", "\\x9b31m \\xff \\xc3" },
		{ "\xe0\x80\xaf \xed\xa0\x80", "\\xe0\\x80\\xaf \\xed\\xa0\\x80" },
		{ "", "" },
	};
	char buf[TERM_TEXT_MAX], small[12], msg[CS_ERRMSG_MAX];

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		ck_assert_str_eq(term_text(c[i].in, buf, sizeof(buf)), c[i].out);
	/* too long for the buffer: cut, and said so */
	ck_assert_str_eq(term_text("\x1b\x1b\x1b", small, sizeof(small)), "\\x1b\\x1b...");
	ck_assert_str_eq(term_text("abcdefghijklmnop", small, sizeof(small)), "abcdefgh...");
	/* the longest message, all escapes, fits TERM_TEXT_MAX */
	memset(msg, '\x1b', sizeof(msg) - 1);
	msg[sizeof(msg) - 1] = '\0';
	ck_assert_uint_eq(strlen(term_text(msg, buf, sizeof(buf))), 4 * (sizeof(msg) - 1));
}
END_TEST

/* A stand-in for snapctl running CMD: a child that runs it through run_cmd
 * and exits with what run_cmd returned.  CMD writes its shell's pid to
 * pidfile first; the pid of that shell comes back in *sh. */
static pid_t start_snapctl(const char *cmd, const char *pidfile, pid_t *sh)
{
	const char *const env[] = { "PIDFILE", pidfile, NULL };
	pid_t p = fork();
	FILE *f;

	ck_assert_int_ge(p, 0);
	if (p == 0) {
		/* as snapctl starts: Check's own handlers are not snapctl's */
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		_exit(run_cmd(cmd, env) & 0xff);
	}
	for (int i = 0; i < 500; i++) {
		f = fopen(pidfile, "r");
		if (f && fscanf(f, "%d", sh) == 1) {
			fclose(f);
			return p;
		}
		if (f)
			fclose(f);
		usleep(10000);
	}
	ck_abort_msg("the command did not start");
	return -1;
}

/* Every process of the command is gone within 5 s: once the stand-in is
 * reaped they would be this test's children (it is a subreaper), so it has
 * none left. */
static void check_gone(void)
{
	for (int i = 0; i < 500; i++) {
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		if (waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD)
			return;
		usleep(10000);
	}
	ck_abort_msg("the command's processes still run");
}

static void tmp_pidfile(char *path, size_t size)
{
	snprintf(path, size, "/tmp/test-ctl.%d.%ld", (int)getpid(), (long)time(NULL));
	unlink(path);
}

/* snapctl killed with SIGTERM (or SIGINT, SIGHUP): the command, a pipeline
 * here, is stopped and waited for, and run_cmd says how it ended. */
START_TEST(exec_dies_with_snapctl_term)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	char pidfile[64];
	pid_t p, sh;
	int status;

	prctl(PR_SET_CHILD_SUBREAPER, 1);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		tmp_pidfile(pidfile, sizeof(pidfile));
		p = start_snapctl("echo $$ > \"$PIDFILE\"; sleep 30 | sleep 30; sleep 30", pidfile,
				  &sh);
		ck_assert_int_eq(kill(p, sigs[i]), 0);
		ck_assert_int_eq(waitpid(p, &status, 0), p);
		/* the stand-in lived on to report: 128 + the signal */
		ck_assert_msg(WIFEXITED(status), "snapctl died of signal %d",
			      WIFSIGNALED(status) ? WTERMSIG(status) : 0);
		ck_assert_int_eq(WEXITSTATUS(status), 128 + sigs[i]);
		check_gone();
		unlink(pidfile);
	}
}
END_TEST

/* snapctl killed with SIGKILL: the command gets SIGTERM from the kernel. */
START_TEST(exec_dies_with_snapctl_kill)
{
	char pidfile[64];
	pid_t p, sh;

	prctl(PR_SET_CHILD_SUBREAPER, 1);
	tmp_pidfile(pidfile, sizeof(pidfile));
	p = start_snapctl("echo $$ > \"$PIDFILE\"; exec sleep 30", pidfile, &sh);
	ck_assert_int_eq(kill(p, SIGKILL), 0);
	ck_assert_int_eq(waitpid(p, NULL, 0), p);
	check_gone();
	unlink(pidfile);
}
END_TEST

/* An ordinary command: its exit status, its environment. */
START_TEST(exec_status)
{
	const char *const env[] = { "X", "7", NULL };

	ck_assert_int_eq(run_cmd("exit $X", env), 7);
	ck_assert_int_eq(run_cmd("true", env), 0);
	ck_assert_int_eq(run_cmd("kill -9 $$", env), 128 + SIGKILL);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Output for scripts: the exit code table, --json anywhere, the tables'
 * -H, -p and -o, JSON errors, and --json's every key. */

#ifndef TOP_DIR
#define TOP_DIR "../.."
#endif
#define SNAPCTL_BIN	TOP_DIR "/tools/snapctl"
#define COWSNAPD_BIN	TOP_DIR "/daemon/cowsnapd"

/* A file's whole content, NUL-terminated; NULL when it cannot be read. */
static char *slurp(FILE *f)
{
	char *buf = NULL;
	size_t len = 0, n;
	char chunk[4096];
	FILE *m = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(m);
	rewind(f);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, n, m);
	fclose(m);
	return buf;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s;

	ck_assert_msg(f != NULL, "cannot open %s", path);
	s = slurp(f);
	fclose(f);
	return s;
}

/* What this process writes to stdout and stderr between capture_begin()
 * and capture_end(). */
static FILE *cap_file[2];
static int cap_saved[2];

static void capture_begin(void)
{
	fflush(stdout);
	fflush(stderr);
	for (int i = 0; i < 2; i++) {
		cap_file[i] = tmpfile();
		ck_assert_ptr_nonnull(cap_file[i]);
		cap_saved[i] = dup(i + 1);
		dup2(fileno(cap_file[i]), i + 1);
	}
}

static void capture_end(char **out, char **err)
{
	char **to[2] = { out, err };

	fflush(stdout);
	fflush(stderr);
	for (int i = 0; i < 2; i++) {
		dup2(cap_saved[i], i + 1);
		close(cap_saved[i]);
		*to[i] = slurp(cap_file[i]);
		fclose(cap_file[i]);
	}
}

/* The EXIT STATUS section of a man page, up to the next section. */
static char *exit_section(const char *page)
{
	char *text = read_file(page), *start, *end;

	start = strstr(text, "\n.SH EXIT STATUS\n");
	ck_assert_msg(start != NULL, "%s has no EXIT STATUS", page);
	end = strstr(start + 1, "\n.SH ");
	ck_assert_ptr_nonnull(end);
	*end = '\0';
	memmove(text, start, strlen(start) + 1);
	return text;
}

/* One table, the numbers the tools always used, documented alike. */
START_TEST(exit_code_table)
{
	static const struct {
		int ret;
		bool remote;
		int code;
	} calls[] = {
		{ -ENOENT, false, CS_EXIT_NO_DAEMON }, { -ECONNREFUSED, false, CS_EXIT_NO_DAEMON },
		{ -ENOTSOCK, false, CS_EXIT_NO_DAEMON }, { -ECONNRESET, false, CS_EXIT_NO_DAEMON },
		{ -EPIPE, false, CS_EXIT_NO_DAEMON }, { -EACCES, false, CS_EXIT_DENIED },
		{ -EACCES, true, CS_EXIT_DENIED }, { -EPROTO, false, CS_EXIT_PROTO },
		{ -EPROTO, true, CS_EXIT_PROTO }, { -ETIMEDOUT, false, CS_EXIT_PROTO },
		/* the daemon's own timeout (a writer's) is a failure, not garbage */
		{ -ETIMEDOUT, true, CS_EXIT_FAILED }, { -EBUSY, true, CS_EXIT_FAILED },
		{ -ENOENT, true, CS_EXIT_FAILED }, { -ENOMEM, false, CS_EXIT_FAILED },
	};
	char *ctl = exit_section(TOP_DIR "/man/snapctl.8");
	char *rd = exit_section(TOP_DIR "/man/snapread.1");
	char tag[16], *p;

	ck_assert_int_eq(CS_EXIT_OK, 0);
	ck_assert_int_eq(CS_EXIT_FAILED, 1);
	ck_assert_int_eq(CS_EXIT_USAGE, 2);
	ck_assert_int_eq(CS_EXIT_NO_DAEMON, 3);
	ck_assert_int_eq(CS_EXIT_DENIED, 4);
	ck_assert_int_eq(CS_EXIT_PROTO, 5);
	ck_assert_int_eq(CS_EXIT_VERIFY, 3);
	ck_assert_int_eq(CS_EXIT_BASE, 4);
	ck_assert_int_eq(CS_EXIT_CLOSED, 5);
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++)
		ck_assert_msg(call_exit(calls[i].ret, calls[i].remote) == calls[i].code,
			      "%s (remote %d): exit %d, not %d", strerror(-calls[i].ret),
			      calls[i].remote, call_exit(calls[i].ret, calls[i].remote),
			      calls[i].code);
	/* the same text in both pages, every code in it, in order */
	ck_assert_str_eq(ctl, rd);
	p = ctl;
	for (int code = 0; code <= 5; code++) {
		snprintf(tag, sizeof(tag), "\n.B %d\n", code);
		p = strstr(p, tag);
		ck_assert_msg(p != NULL, "EXIT STATUS lacks %d (in order)", code);
	}
	free(ctl);
	free(rd);
}
END_TEST

/* take_json on argv (words, NULL-terminated): the words left, one line. */
static void check_take(const char *const in[], const char *want, bool want_json)
{
	char *argv[32], buf[512] = "";
	bool json = false;
	int argc = 0, n;

	while (in[argc]) {
		argv[argc] = (char *)in[argc];
		argc++;
	}
	argv[argc] = NULL;
	n = take_json(argc, argv, &json);
	for (int i = 0; i < n; i++)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s", i ? " " : "",
			 argv[i]);
	ck_assert_ptr_null(argv[n]);
	ck_assert_str_eq(buf, want);
	ck_assert_int_eq(json, want_json);
}

START_TEST(json_anywhere)
{
#define TAKE(want, json, ...) check_take((const char *const[]){ __VA_ARGS__, NULL }, want, json)
	TAKE("snapctl list sets", true, "snapctl", "--json", "list", "sets");
	TAKE("snapctl list sets", true, "snapctl", "list", "sets", "--json");
	TAKE("snapctl list sets", true, "snapctl", "list", "-j", "sets");
	TAKE("snapctl -s /run/x.sock list -H sets", true,
	     "snapctl", "-s", "/run/x.sock", "list", "--json", "-H", "sets", "--json");
	TAKE("snapctl list sets", false, "snapctl", "list", "sets");
	/* values of options stay, whatever they read */
	TAKE("snapctl backup --exec --json /dev/vdb", false,
	     "snapctl", "backup", "--exec", "--json", "/dev/vdb");
	TAKE("snapctl --socket --json version", false, "snapctl", "--socket", "--json", "version");
	TAKE("snapctl list -o -j sets", false, "snapctl", "list", "-o", "-j", "sets");
	TAKE("snapctl backup --exec=--json /dev/vdb", true,
	     "snapctl", "backup", "--exec=--json", "--json", "/dev/vdb");
	/* `--' still ends options: what follows is left as it is */
	TAKE("snapctl create -- --json", true, "snapctl", "--json", "create", "--", "--json");
	TAKE("snapctl create /dev/vdb -- -j", false, "snapctl", "create", "/dev/vdb", "--", "-j");
	/* a command-line of nothing but the option */
	TAKE("snapctl", true, "snapctl", "--json");
	/* an option taking a value as the last word */
	TAKE("snapctl list -o", true, "snapctl", "-j", "list", "-o");
#undef TAKE
}
END_TEST

/* table_options on argv; the words left, one line, and what it returned */
static int parse_table(struct snapctl *ctl, const char *const in[], char *left, size_t size)
{
	char *argv[32];
	int argc = 0, ret;

	while (in[argc]) {
		argv[argc] = (char *)in[argc];
		argc++;
	}
	argv[argc] = NULL;
	ret = table_options(ctl, &argc, argv, "list [-H] [-p] [-o FIELD,...] WHAT");
	left[0] = '\0';
	for (int i = 0; !ret && i < argc; i++)
		snprintf(left + strlen(left), size - strlen(left), "%s%s", i ? " " : "", argv[i]);
	return ret;
}

START_TEST(table_option_parsing)
{
	struct snapctl ctl = { .prog = "snapctl" };
	char left[256], *out, *err;
	int ret;

	ret = parse_table(&ctl, (const char *const[]){ "list", "sets", "-H", "-p", "-o",
						       "id,taken", NULL }, left, sizeof(left));
	ck_assert_int_eq(ret, 0);
	ck_assert_str_eq(left, "list sets");
	ck_assert(ctl.table.no_header && ctl.table.exact);
	ck_assert_str_eq(ctl.table.fields, "id,taken");

	memset(&ctl.table, 0, sizeof(ctl.table));
	ret = parse_table(&ctl, (const char *const[]){ "list", "--no-header", "volumes",
						       "--fields=device", "--parsable", NULL },
			  left, sizeof(left));
	ck_assert_int_eq(ret, 0);
	ck_assert_str_eq(left, "list volumes");
	ck_assert(ctl.table.no_header && ctl.table.exact);
	ck_assert_str_eq(ctl.table.fields, "device");

	/* after `--', -H is a word (and `list' refuses it) */
	memset(&ctl.table, 0, sizeof(ctl.table));
	ret = parse_table(&ctl, (const char *const[]){ "list", "-p", "--", "-H", NULL },
			  left, sizeof(left));
	ck_assert_int_eq(ret, 0);
	ck_assert_str_eq(left, "list -H");
	ck_assert(!ctl.table.no_header && ctl.table.exact);

	capture_begin();
	ret = parse_table(&ctl, (const char *const[]){ "list", "sets", "-o", NULL },
			  left, sizeof(left));
	capture_end(&out, &err);
	ck_assert_int_eq(ret, CS_EXIT_USAGE);
	ck_assert_str_eq(out, "");
	ck_assert_str_eq(err, "snapctl: option `-o' needs a value\n"
			 "Usage: snapctl list [-H] [-p] [-o FIELD,...] WHAT\n");
	free(out);
	free(err);

	capture_begin();
	ret = parse_table(&ctl, (const char *const[]){ "list", "-x", "sets", NULL },
			  left, sizeof(left));
	capture_end(&out, &err);
	ck_assert_int_eq(ret, CS_EXIT_USAGE);
	ck_assert_str_eq(err, "snapctl: invalid option: `-x'\n"
			 "Usage: snapctl list [-H] [-p] [-o FIELD,...] WHAT\n");
	free(out);
	free(err);

	/* tables' options with --json: refused, in JSON too */
	ctl.json = true;
	memset(&ctl.table, 0, sizeof(ctl.table));
	capture_begin();
	ret = parse_table(&ctl, (const char *const[]){ "list", "sets", "-H", NULL },
			  left, sizeof(left));
	capture_end(&out, &err);
	ck_assert_int_eq(ret, CS_EXIT_USAGE);
	ck_assert_str_eq(out, "{\n"
			 "  \"error\":{\n"
			 "    \"code\":\"EINVAL\",\n"
			 "    \"message\":\"-H, -p and -o shape tables; --json prints every "
			 "field as it is\",\n"
			 "    \"exit\":2\n"
			 "  }\n"
			 "}\n");
	free(out);
	free(err);
}
END_TEST

/* Results to print, of every kind of row. */
static int name_index(const char *const *names, const char *name)
{
	for (int i = 0; names[i]; i++)
		if (!strcmp(names[i], name))
			return i;
	ck_abort_msg("no name %s", name);
	return -1;
}

static struct cs_set_volume set7_vols[] = {
	{ .origin = "/dev/sdb1", .major = 8, .minor = 17, .image = "/dev/cowsnap0" },
	{ .origin = "/dev/mapper/vg0-db", .major = 253, .minor = 1, .image = "/dev/cowsnap1" },
};
static struct cs_set_volume set12_vols[] = {
	{ .origin = "/dev/vdb", .major = 254, .minor = 16 },
};
static struct cs_set sets[] = {
	{ .id = 7, .name = "nightly", .state = CS_SET_TAKEN, .persistent = true,
	  .taken_ns = 1764720007123456789ULL, .volumes = set7_vols, .nvolumes = 2 },
	{ .id = 12, .state = CS_SET_DEFINING, .auto_release = true,
	  .volumes = set12_vols, .nvolumes = 1 },
	{ .id = 13, .state = CS_SET_INVALID },
};
static const struct cs_set_list_result set_list = { .sets = sets, .nsets = 3 };

static struct cs_volume vols[] = {
	{ .device = "/dev/sdb1", .major = 8, .minor = 17, .sectors = 20971520,
	  .mountpoint = "/srv", .fstype = "ext4", .tracked = true, .kept = true,
	  .snapshots = 2, .changed_bytes = 1048576 },
	{ .device = "/dev/vdc", .major = 254, .minor = 32, .sectors = 131072 },
	/* a tab in a mount point must not split a -H line */
	{ .device = "/dev/vdd", .major = 254, .minor = 48, .sectors = 1,
	  .mountpoint = "/mnt/a\tb", .fstype = "xfs", .tracked = true },
};
static const struct cs_volume_list_result volume_list = { .volumes = vols, .nvolumes = 3 };

static struct cs_writer_info writers[3];
static struct cs_writer_list_result writer_list = { .writers = writers, .nwriters = 3 };

static void fill_writers(void)
{
	memset(writers, 0, sizeof(writers));
	strcpy(writers[0].name, "web");
	strcpy(writers[1].name, "sw1");
	writers[1].kind = CS_WRITER_KIND_SOCKET;
	writers[1].connected = true;
	writers[1].pid = 4242;
	writers[1].order = name_index(cs_writer_order_names, "back-end");
	writers[1].state = name_index(cs_writer_state_names, "FAILED_AT_FREEZE");
	writers[1].last_error = name_index(cs_writer_error_names, "NONRETRYABLE");
	strcpy(writers[1].message, "vetoed: disk\nfull");
	strcpy(writers[2].name, "crasher");
	writers[2].kind = CS_WRITER_KIND_SOCKET;
	writers[2].order = name_index(cs_writer_order_names, "system");
}

static struct cs_storage_dev devs[] = {
	{ .device = "/dev/vdc", .major = 254, .minor = 32, .sectors = 131072, .used = 2048 },
};
static const struct cs_storage_list_result storage_list = {
	.devices = devs, .ndevices = 1, .set_sectors = 524288, .grow_sectors = 524288,
};

/* The four tables of the results above, with the options of ctl, in one string. */
static char *tables(struct snapctl *ctl)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct table t;

	ck_assert_ptr_nonnull(f);
	fill_writers();
	ck_assert_int_eq(table_init(&t, ctl, &sets_table, f, "list"), 0);
	print_sets(&t, &set_list);
	ck_assert_int_eq(table_init(&t, ctl, &volumes_table, f, "list"), 0);
	print_volumes(&t, &volume_list);
	ck_assert_int_eq(table_init(&t, ctl, &writers_table, f, "list"), 0);
	print_writers(&t, &writer_list);
	ck_assert_int_eq(table_init(&t, ctl, &storage_table, f, "list"), 0);
	print_storage(&t, &storage_list);
	fclose(f);
	return buf;
}

/* The tables as snapctl printed them before -H, -p and -o: its printf()s,
 * word for word. */
static char *legacy_tables(void)
{
	char *buf = NULL, t[64], b[32], b2[32], mm[24];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	/* but for NAME, which came with set names */
	fprintf(f, "%-6s %-12s %-9s %-12s %-19s %-10s %-10s %s\n", "ID", "NAME", "STATE", "FLAGS",
		"TAKEN", "USED", "ALLOCATED", "VOLUMES (ORIGIN=IMAGE)");
	for (uint32_t i = 0; i < set_list.nsets; i++) {
		const struct cs_set *s = &set_list.sets[i];
		time_t tt = (time_t)(s->taken_ns / 1000000000ULL);
		struct tm tm;

		localtime_r(&tt, &tm);
		strftime(t, sizeof(t), "%Y-%m-%d %H:%M:%S", &tm);
		fprintf(f, "%-6" PRIu64 " %-12s %-9s %-12s %-19s %-10s %-10s", s->id,
			s->name[0] ? s->name : "-", cs_set_state_names[s->state],
			s->persistent ? "persistent" : s->auto_release ? "auto-release" : "-",
			s->taken_ns ? t : "-", cs_size_format(s->storage_used << 9, b, sizeof(b)),
			cs_size_format(s->storage_sectors << 9, b2, sizeof(b2)));
		for (uint32_t j = 0; j < s->nvolumes; j++)
			fprintf(f, " %s=%s", s->volumes[j].origin,
				s->volumes[j].image[0] ? s->volumes[j].image : "-");
		fputc('\n', f);
	}
	fprintf(f, "%-16s %-8s %-10s %-8s %-9s %-9s %-10s %s\n", "DEVICE", "MAJ:MIN",
		"SIZE", "FSTYPE", "TRACKED", "SNAPSHOTS", "CHANGED", "MOUNTPOINT");
	for (uint32_t i = 0; i < volume_list.nvolumes; i++) {
		const struct cs_volume *v = &volume_list.volumes[i];
		char ch[32] = "-";

		if (v->tracked)
			cs_size_format(v->changed_bytes, ch, sizeof(ch));
		snprintf(mm, sizeof(mm), "%u:%u", v->major, v->minor);
		fprintf(f, "%-16s %-8s %-10s %-8s %-9s %-9u %-10s %s\n", v->device, mm,
			cs_size_format(v->sectors << 9, b, sizeof(b)),
			v->fstype[0] ? v->fstype : "-",
			v->kept ? "kept" : v->tracked ? "yes" : "no",
			v->snapshots, ch,
			/* as safe() escaped it */
			!v->mountpoint[0] ? "-" : strchr(v->mountpoint, '\t') ? "/mnt/a\\x09b" :
			v->mountpoint);
	}
	fprintf(f, "%-16s %-12s %-9s %-28s %-13s %s\n", "WRITER", "KIND", "ORDER", "STATE",
		"LAST ERROR", "MESSAGE");
	fprintf(f, "%-16s %-12s %-9s %-28s %-13s %s\n", "web", "hook", "front-end", "STABLE",
		"NONE", "-");
	fprintf(f, "%-16s %-12s %-9s %-28s %-13s %s\n", "sw1", "socket:4242", "back-end",
		"FAILED_AT_FREEZE", "NONRETRYABLE", "vetoed: disk\\x0afull");
	fprintf(f, "%-16s %-12s %-9s %-28s %-13s %s\n", "crasher", "socket:gone", "system",
		"STABLE", "NONE", "-");
	fprintf(f, "%-24s %-8s %-10s %-10s %s\n", "DEVICE", "MAJ:MIN", "SIZE", "USED", "KIND");
	fprintf(f, "%-24s %-8s %-10s %-10s %s\n", "/dev/vdc", "254:32",
		cs_size_format(devs[0].sectors << 9, b, sizeof(b)),
		cs_size_format(devs[0].used << 9, b2, sizeof(b2)), "device");
	fprintf(f, "each new set gets %s; a set running low gets %s more\n",
		cs_size_format(storage_list.set_sectors << 9, b, sizeof(b)),
		cs_size_format(storage_list.grow_sectors << 9, b2, sizeof(b2)));
	fclose(f);
	return buf;
}

/* Without options: the tables of before, byte for byte (guest tests and
 * udev's helper read them), and what they look like. */
START_TEST(table_default)
{
	struct snapctl ctl = { .prog = "snapctl" };
	char *got, *old;

	setenv("TZ", "UTC", 1);
	tzset();
	got = tables(&ctl);
	old = legacy_tables();
	ck_assert_str_eq(got, old);
	ck_assert_str_eq(got,
		"ID     NAME         STATE     FLAGS        TAKEN               USED       "
		"ALLOCATED  VOLUMES (ORIGIN=IMAGE)\n"
		"7      nightly      taken     persistent   2025-12-03 00:00:07 0.0KiB     "
		"0.0KiB     /dev/sdb1=/dev/cowsnap0 /dev/mapper/vg0-db=/dev/cowsnap1\n"
		"12     -            defining  auto-release -                   0.0KiB     "
		"0.0KiB     /dev/vdb=-\n"
		"13     -            invalid   -            -                   0.0KiB     "
		"0.0KiB    \n"
		"DEVICE           MAJ:MIN  SIZE       FSTYPE   TRACKED   SNAPSHOTS CHANGED    "
		"MOUNTPOINT\n"
		"/dev/sdb1        8:17     10.0GiB    ext4     kept      2         1.0MiB     /srv\n"
		"/dev/vdc         254:32   64.0MiB    -        no        0         -          -\n"
		"/dev/vdd         254:48   0.5KiB     xfs      yes       0         0.0KiB     "
		"/mnt/a\\x09b\n"
		"WRITER           KIND         ORDER     STATE                        LAST ERROR    "
		"MESSAGE\n"
		"web              hook         front-end STABLE                       NONE          -\n"
		"sw1              socket:4242  back-end  FAILED_AT_FREEZE             NONRETRYABLE  "
		"vetoed: disk\\x0afull\n"
		"crasher          socket:gone  system    STABLE                       NONE          -\n"
		"DEVICE                   MAJ:MIN  SIZE       USED       KIND\n"
		"/dev/vdc                 254:32   64.0MiB    1.0MiB     device\n"
		"each new set gets 256.0MiB; a set running low gets 256.0MiB more\n");
	free(got);
	free(old);
}
END_TEST

START_TEST(table_no_header_exact)
{
	struct snapctl ctl = { .prog = "snapctl", .table = { .no_header = true } };
	char *got;

	setenv("TZ", "UTC", 1);
	tzset();
	/* -H: rows only, one tab between fields, sizes and times as people read them */
	got = tables(&ctl);
	ck_assert_str_eq(got,
		"7\tnightly\ttaken\tpersistent\t2025-12-03 00:00:07\t0.0KiB\t0.0KiB\t"
		"/dev/sdb1=/dev/cowsnap0 /dev/mapper/vg0-db=/dev/cowsnap1\n"
		"12\t-\tdefining\tauto-release\t-\t0.0KiB\t0.0KiB\t/dev/vdb=-\n"
		"13\t-\tinvalid\t-\t-\t0.0KiB\t0.0KiB\t\n"
		"/dev/sdb1\t8:17\t10.0GiB\text4\tkept\t2\t1.0MiB\t/srv\n"
		"/dev/vdc\t254:32\t64.0MiB\t-\tno\t0\t-\t-\n"
		"/dev/vdd\t254:48\t0.5KiB\txfs\tyes\t0\t0.0KiB\t/mnt/a\\x09b\n"
		"web\thook\tfront-end\tSTABLE\tNONE\t-\n"
		"sw1\tsocket:4242\tback-end\tFAILED_AT_FREEZE\tNONRETRYABLE\tvetoed: disk\\x0afull\n"
		"crasher\tsocket:gone\tsystem\tSTABLE\tNONE\t-\n"
		"/dev/vdc\t254:32\t64.0MiB\t1.0MiB\tdevice\n");
	free(got);

	/* -H -p: and exact numbers, bytes and seconds since the epoch */
	ctl.table.exact = true;
	got = tables(&ctl);
	ck_assert_str_eq(got,
		"7\tnightly\ttaken\tpersistent\t1764720007\t0\t0\t"
		"/dev/sdb1=/dev/cowsnap0 /dev/mapper/vg0-db=/dev/cowsnap1\n"
		"12\t-\tdefining\tauto-release\t-\t0\t0\t/dev/vdb=-\n"
		"13\t-\tinvalid\t-\t-\t0\t0\t\n"
		"/dev/sdb1\t8:17\t10737418240\text4\tkept\t2\t1048576\t/srv\n"
		"/dev/vdc\t254:32\t67108864\t-\tno\t0\t-\t-\n"
		"/dev/vdd\t254:48\t512\txfs\tyes\t0\t0\t/mnt/a\\x09b\n"
		"web\thook\tfront-end\tSTABLE\tNONE\t-\n"
		"sw1\tsocket:4242\tback-end\tFAILED_AT_FREEZE\tNONRETRYABLE\tvetoed: disk\\x0afull\n"
		"crasher\tsocket:gone\tsystem\tSTABLE\tNONE\t-\n"
		"/dev/vdc\t254:32\t67108864\t1048576\tdevice\n");
	free(got);

	/* -p alone: aligned as ever, the line below storage in bytes too */
	ctl.table.no_header = false;
	got = tables(&ctl);
	ck_assert_ptr_nonnull(strstr(got,
		"ID     NAME         STATE     FLAGS        TAKEN               USED       "
		"ALLOCATED  VOLUMES (ORIGIN=IMAGE)\n"
		"7      nightly      taken     persistent   1764720007          0          "
		"0          /dev/sdb1=/dev/cowsnap0 "));
	ck_assert_ptr_nonnull(strstr(got,
		"/dev/sdb1        8:17     10737418240 ext4     kept      2         1048576    /srv\n"));
	ck_assert_ptr_nonnull(strstr(got,
		"DEVICE                   MAJ:MIN  SIZE       USED       KIND\n"
		"/dev/vdc                 254:32   67108864   1048576    device\n"
		"each new set gets 268435456 bytes; a set running low gets 268435456 bytes more\n"));
	free(got);
}
END_TEST

/* -o: the columns named, in that order, each name the header in lower case */
START_TEST(table_field_choice)
{
	struct snapctl ctl = { .prog = "snapctl" };
	char *buf = NULL, *out, *err, name[64];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct table t;
	int ret;

	setenv("TZ", "UTC", 1);
	tzset();
	fill_writers();
	ctl.table.fields = "state,id,volumes";
	ck_assert_int_eq(table_init(&t, &ctl, &sets_table, f, "list"), 0);
	print_sets(&t, &set_list);
	ctl.table.fields = "last_error,writer";
	ck_assert_int_eq(table_init(&t, &ctl, &writers_table, f, "list"), 0);
	print_writers(&t, &writer_list);
	/* a field twice is printed twice; the last is not padded */
	ctl.table.fields = "maj:min,used,used";
	ck_assert_int_eq(table_init(&t, &ctl, &storage_table, f, "list"), 0);
	print_storage(&t, &storage_list);
	ctl.table.no_header = true;
	ctl.table.exact = true;
	ctl.table.fields = "mountpoint,size,device";
	ck_assert_int_eq(table_init(&t, &ctl, &volumes_table, f, "list"), 0);
	print_volumes(&t, &volume_list);
	fclose(f);
	ck_assert_str_eq(buf,
		"STATE     ID     VOLUMES (ORIGIN=IMAGE)\n"
		"taken     7      /dev/sdb1=/dev/cowsnap0 /dev/mapper/vg0-db=/dev/cowsnap1\n"
		"defining  12     /dev/vdb=-\n"
		"invalid   13    \n"
		"LAST ERROR    WRITER\n"
		"NONE          web\n"
		"NONRETRYABLE  sw1\n"
		"NONE          crasher\n"
		"MAJ:MIN  USED       USED\n"
		"254:32   1.0MiB     1.0MiB\n"
		"each new set gets 256.0MiB; a set running low gets 256.0MiB more\n"
		"/srv\t10737418240\t/dev/sdb1\n"
		"-\t67108864\t/dev/vdc\n"
		"/mnt/a\\x09b\t512\t/dev/vdd\n");
	free(buf);

	/* the names: lower case, blanks as `_', no remark in parentheses */
	ck_assert_str_eq(column_name(&(struct column){ "VOLUMES (ORIGIN=IMAGE)", 1 }, name,
				     sizeof(name)), "volumes");
	ck_assert_str_eq(column_name(&(struct column){ "LAST ERROR", 1 }, name, sizeof(name)),
			 "last_error");
	ck_assert_str_eq(column_name(&(struct column){ "MAJ:MIN", 1 }, name, sizeof(name)),
			 "maj:min");

	/* an unknown field: a usage error that lists the valid ones */
	memset(&ctl.table, 0, sizeof(ctl.table));
	ctl.table.fields = "device,frobs";
	capture_begin();
	ret = table_init(&t, &ctl, &volumes_table, stdout, "list [-H] [-p] [-o FIELD,...] WHAT");
	capture_end(&out, &err);
	ck_assert_int_eq(ret, CS_EXIT_USAGE);
	ck_assert_str_eq(out, "");
	ck_assert_str_eq(err, "snapctl: unknown field `frobs'; the fields are: device, maj:min, "
			 "size, fstype, tracked, snapshots, changed, mountpoint\n"
			 "Usage: snapctl list [-H] [-p] [-o FIELD,...] WHAT\n");
	free(out);
	free(err);
	/* an empty one too, and with --json in JSON */
	ctl.json = true;
	ctl.table.fields = "id,";
	capture_begin();
	ret = table_init(&t, &ctl, &sets_table, stdout, "list");
	capture_end(&out, &err);
	ck_assert_int_eq(ret, CS_EXIT_USAGE);
	ck_assert_str_eq(out, "{\n"
			 "  \"error\":{\n"
			 "    \"code\":\"EINVAL\",\n"
			 "    \"message\":\"unknown field `'; the fields are: id, name, state, "
			 "flags, taken, used, allocated, volumes\",\n"
			 "    \"exit\":2\n"
			 "  }\n"
			 "}\n");
	ck_assert_str_eq(err, "snapctl: unknown field `'; the fields are: id, name, state, "
			 "flags, taken, used, allocated, volumes\nUsage: snapctl list\n");
	free(out);
	free(err);
}
END_TEST

/* With --json, a failure is a JSON object on stdout, the human message on
 * stderr as ever; once, whatever fails after. */
START_TEST(json_error_object)
{
	struct snapctl ctl = { .prog = "snapctl", .json = true, .socket = "/run/x.sock" };
	struct cs_error e = { .code = ENOENT };
	char *out, *err;
	int ret;

	strcpy(e.message, "cannot connect to cowsnapd at /run/x.sock: No such file or "
	       "directory");
	capture_begin();
	ret = report_error(&ctl, NULL, -ENOENT, &e);
	/* the first failure is the one told in JSON */
	report_failure(&ctl, EIO, CS_EXIT_FAILED, "later");
	capture_end(&out, &err);
	ck_assert_int_eq(ret, CS_EXIT_NO_DAEMON);
	ck_assert_str_eq(out, "{\n"
			 "  \"error\":{\n"
			 "    \"code\":\"ENOENT\",\n"
			 "    \"message\":\"cannot connect to cowsnapd at /run/x.sock: No such "
			 "file or directory\",\n"
			 "    \"exit\":3\n"
			 "  }\n"
			 "}\n");
	ck_assert_str_eq(err, "snapctl: cannot connect to cowsnapd at /run/x.sock: No such "
			 "file or directory\n"
			 "snapctl: is cowsnapd running? Start it (`cowsnapd', or `systemctl start "
			 "cowsnapd'),\n"
			 "snapctl: or point --socket or $COWSNAP_SOCKET at its socket.\n"
			 "snapctl: later\n");
	free(out);
	free(err);

	/* a message with what a terminal must not get: escaped there, exact in
	 * JSON; an errno the protocol does not name, by glibc's name */
	ctl.error_shown = false;
	strcpy(e.message, "writer \x1b[2Jdb said \"no\"\n");
	capture_begin();
	ret = report_error(&ctl, NULL, -ECONNREFUSED, &e);
	capture_end(&out, &err);
	ck_assert_int_eq(ret, CS_EXIT_NO_DAEMON);
	ck_assert_str_eq(out, "{\n"
			 "  \"error\":{\n"
			 "    \"code\":\"ECONNREFUSED\",\n"
			 "    \"message\":\"writer \\u001b[2Jdb said \\\"no\\\"\\n\",\n"
			 "    \"exit\":3\n"
			 "  }\n"
			 "}\n");
	ck_assert_ptr_nonnull(strstr(err, "snapctl: writer \\x1b[2Jdb said \"no\"\\x0a\n"));
	free(out);
	free(err);

	ctl.error_shown = false;
	capture_begin();
	ret = usage_error(&ctl, "show SET", "invalid set id: `%s'", "x/y");
	capture_end(&out, &err);
	ck_assert_int_eq(ret, CS_EXIT_USAGE);
	ck_assert_str_eq(out, "{\n"
			 "  \"error\":{\n"
			 "    \"code\":\"EINVAL\",\n"
			 "    \"message\":\"invalid set id: `x/y'\",\n"
			 "    \"exit\":2\n"
			 "  }\n"
			 "}\n");
	ck_assert_str_eq(err, "snapctl: invalid set id: `x/y'\nUsage: snapctl show SET\n");
	free(out);
	free(err);

	/* without --json: stderr only, as before */
	ctl.json = false;
	ctl.error_shown = false;
	capture_begin();
	ret = report_failure(&ctl, EBUSY, CS_EXIT_FAILED, "cannot unmount %s", "/mnt");
	capture_end(&out, &err);
	ck_assert_int_eq(ret, CS_EXIT_FAILED);
	ck_assert_str_eq(out, "");
	ck_assert_str_eq(err, "snapctl: cannot unmount /mnt\n");
	free(out);
	free(err);

	ck_assert_str_eq(errno_code(EBUSY), "EBUSY");
	ck_assert_str_eq(errno_code(EPIPE), "EPIPE");
	ck_assert_str_eq(errno_code(0), "EIO");
	ck_assert_str_eq(errno_code(100000), "EIO");
}
END_TEST

static char *json_of(enum cs_op op, const void *result)
{
	struct json_object *j;
	struct cs_error err = { 0 };
	char *s;

	ck_assert_int_eq(json_result(op, result, &j, &err), 0);
	s = strdup(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN |
						  JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(j);
	return s;
}

/* --json: every key of the schema, zero values too; the wire leaves them out */
START_TEST(json_every_key)
{
	struct cs_set_list_result one = { .sets = &sets[2], .nsets = 1 };
	struct cs_set_delete_result none = { 0 };
	struct cs_storage_list_result empty = { 0 };
	uint64_t ids[] = { 7, 12 };
	struct cs_set_delete_result two = { .ids = ids, .nids = 2 };
	struct cs_set_result created = { .set = sets[0], .writers = 0 };
	struct json_object *wire;
	struct cs_error err = { 0 };
	char *s;

	s = json_of(CS_OP_SET_LIST, &one);
	ck_assert_str_eq(s, "{\"sets\":[{\"id\":13,\"name\":\"\",\"state\":\"invalid\","
			 "\"persistent\":false,"
			 "\"auto_release\":false,\"writable\":false,\"invalid_cause\":\"\","
			 "\"chunk_sectors\":0,"
			 "\"created_ns\":0,\"taken_ns\":0,\"storage_sectors\":0,"
			 "\"storage_used\":0,\"volumes\":[]}],\"next\":0}");
	free(s);
	/* what goes on the wire is as it was: zero values left out */
	ck_assert_int_eq(cs_schema_encode(cs_ops[CS_OP_SET_LIST].result, &one, &wire, &err), 0);
	ck_assert_str_eq(json_object_to_json_string_ext(wire, JSON_C_TO_STRING_PLAIN),
			 "{\"sets\":[{\"id\":13,\"state\":\"invalid\"}]}");
	json_object_put(wire);

	s = json_of(CS_OP_SET_DELETE, &none);
	ck_assert_str_eq(s, "{\"ids\":[]}");
	free(s);
	s = json_of(CS_OP_SET_DELETE, &two);
	ck_assert_str_eq(s, "{\"ids\":[7,12]}");
	free(s);
	s = json_of(CS_OP_STORAGE_LIST, &empty);
	ck_assert_str_eq(s, "{\"devices\":[],\"set_sectors\":0,\"grow_sectors\":0,"
			 "\"set_auto\":false,\"grow_auto\":false,\"max_percent\":0,"
			 "\"default_directory\":\"\"}");
	free(s);

	/* nested: the volumes of a set, in create's result */
	s = json_of(CS_OP_SET_CREATE, &created);
	ck_assert_str_eq(s, "{\"set\":{\"id\":7,\"name\":\"nightly\",\"state\":\"taken\","
			 "\"persistent\":true,"
			 "\"auto_release\":false,\"writable\":false,\"invalid_cause\":\"\","
			 "\"chunk_sectors\":0,"
			 "\"created_ns\":0,\"taken_ns\":1764720007123456789,"
			 "\"storage_sectors\":0,\"storage_used\":0,\"volumes\":["
			 "{\"origin\":\"/dev/sdb1\",\"major\":8,\"minor\":17,\"sectors\":0,"
			 "\"image\":\"/dev/cowsnap0\",\"image_major\":0,\"image_minor\":0,"
			 "\"chunks_copied\":0,\"cbt_generation\":\"\",\"cbt_seq\":0},"
			 "{\"origin\":\"/dev/mapper/vg0-db\",\"major\":253,\"minor\":1,"
			 "\"sectors\":0,\"image\":\"/dev/cowsnap1\",\"image_major\":0,"
			 "\"image_minor\":0,\"chunks_copied\":0,\"cbt_generation\":\"\","
			 "\"cbt_seq\":0}]},"
			 "\"consistency\":\"none\",\"writers\":0,\"writer_names\":[],"
			 "\"metadata\":[],\"components\":[],\"storage\":[]}");
	free(s);

	/* a writer: the keys a crashed writer's line is read for */
	fill_writers();
	s = json_of(CS_OP_WRITER_LIST, &writer_list);
	ck_assert_ptr_nonnull(strstr(s, "{\"name\":\"crasher\",\"exec\":\"\",\"order\":\"system\","
				     "\"state\":\"STABLE\",\"last_error\":\"NONE\",\"message\":\"\","
				     "\"freeze_timeout_ms\":0,\"event_timeout_ms\":0,"
				     "\"kind\":\"socket\",\"pid\":0,\"connected\":false,"
				     "\"class_id\":\"\",\"instance\":\"\",\"components\":0}"));
	free(s);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The built snapctl against the real cowsnapd on the host (--no-module:
 * writers and storage need no module). */

static char dmn_dir[64], dmn_sock[128];
static pid_t dmn_pid;

static void start_cowsnapd(void)
{
	char conf[128], path[192], log[128];
	struct cs_client *c;
	struct cs_error err;
	FILE *f;

	snprintf(dmn_dir, sizeof(dmn_dir), "/tmp/test-ctl.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dmn_dir));
	snprintf(dmn_sock, sizeof(dmn_sock), "%s/sock", dmn_dir);
	snprintf(conf, sizeof(conf), "%s/conf", dmn_dir);
	snprintf(log, sizeof(log), "%s/cowsnapd.log", dmn_dir);
	ck_assert_int_eq(mkdir(conf, 0755), 0);
	snprintf(path, sizeof(path), "%s/writers.d", conf);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/hook.sh", dmn_dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("#!/bin/sh\nexit 0\n", f);
	fclose(f);
	ck_assert_int_eq(chmod(path, 0755), 0);
	/* two hook writers, one of each end of the order */
	for (int i = 0; i < 2; i++) {
		char wconf[192];

		snprintf(wconf, sizeof(wconf), "%s/writers.d/%s.conf", conf, i ? "sys" : "web");
		f = fopen(wconf, "w");
		ck_assert_ptr_nonnull(f);
		fprintf(f, "exec %s\norder %s\n", path, i ? "system" : "front-end");
		fclose(f);
	}
	dmn_pid = fork();
	ck_assert_int_ge(dmn_pid, 0);
	if (dmn_pid == 0) {
		/* a failed check ends the test before its teardown: not cowsnapd */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (!freopen(log, "w", stderr))
			_exit(126);
		execl(COWSNAPD_BIN, "cowsnapd", "--no-module", "-f", "-s", dmn_sock, "-c", conf,
		      (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 250; i++, usleep(20000)) {
		if (!cs_client_open(dmn_sock, &c, &err)) {
			cs_client_close(c);
			return;
		}
	}
	ck_abort_msg("cowsnapd did not start on %s (see %s)", dmn_sock, log);
}

static void stop_cowsnapd(void)
{
	char cmd[128];

	if (dmn_pid > 0) {
		kill(dmn_pid, SIGTERM);
		waitpid(dmn_pid, NULL, 0);
		dmn_pid = 0;
	}
	if (dmn_dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dmn_dir);
		if (system(cmd))
			fprintf(stderr, "test-ctl: cannot remove %s\n", dmn_dir);
	}
}

/* snapctl ARGS... (NULL-terminated); its exit status, stdout and stderr */
static int snapctl(char **out, char **err, ...)
{
	const char *argv[32] = { "snapctl" };
	FILE *o = tmpfile(), *e = tmpfile();
	int argc = 1, status;
	va_list ap;
	pid_t p;

	va_start(ap, err);
	while (argc < 31 && (argv[argc] = va_arg(ap, const char *)))
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	ck_assert(o && e);
	p = fork();
	ck_assert_int_ge(p, 0);
	if (p == 0) {
		dup2(fileno(o), 1);
		dup2(fileno(e), 2);
		execv(SNAPCTL_BIN, (char *const *)argv);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(p, &status, 0), p);
	*out = slurp(o);
	*err = slurp(e);
	fclose(o);
	fclose(e);
	ck_assert_msg(WIFEXITED(status), "snapctl died of signal %d", WTERMSIG(status));
	return WEXITSTATUS(status);
}

START_TEST(snapctl_lists)
{
	static const char version_head[] =
		"{\n"
		"  \"snapctl_version\":\"" COWSNAP_VERSION "\",\n"
		"  \"daemon_version\":\"" COWSNAP_VERSION "\",\n"
		"  \"proto_version\":1,\n"
		"  \"module_version\":null,\n"
		"  \"module_proto_version\":null,\n"
		"  \"module_error\":\"";
	static const char error_head[] = "{\n  \"error\":{\n    \"code\":\"E";
	char *out, *err, want[2048];
	int rc;

	rc = snapctl(&out, &err, "-s", dmn_sock, "list", "writers", NULL);
	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(out,
		"WRITER           KIND         ORDER     STATE                        LAST ERROR    "
		"MESSAGE\n"
		"web              hook         front-end STABLE                       NONE          -\n"
		"sys              hook         system    STABLE                       NONE          -\n");
	ck_assert_str_eq(err, "");
	free(out);
	free(err);

	rc = snapctl(&out, &err, "list", "writers", "-H", "-s", dmn_sock, "-o", "writer,order",
		     NULL);
	/* -s after the command is not snapctl's: a usage error of list */
	ck_assert_int_eq(rc, CS_EXIT_USAGE);
	free(out);
	free(err);

	rc = snapctl(&out, &err, "-s", dmn_sock, "list", "-H", "writers", "-o", "order,writer",
		     NULL);
	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(out, "front-end\tweb\nsystem\tsys\n");
	free(out);
	free(err);

	/* no storage: -H prints nothing at all */
	rc = snapctl(&out, &err, "-s", dmn_sock, "storage", "list", "-H", "-p", NULL);
	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(out, "");
	free(out);
	free(err);
	rc = snapctl(&out, &err, "-s", dmn_sock, "list", "storage", "-p", NULL);
	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(out, "DEVICE                   MAJ:MIN  SIZE       USED       KIND\n"
			 "each new set gets 10% of the size of its volumes, 16777216 bytes to "
			 "268435456 bytes; a set running low gets as much again\n"
			 "storage files take at most 20% of a filesystem, and leave 5% of it "
			 "free\n"
			 "no storage is configured: sets get storage files in "
			 "/var/lib/cowsnap/storage, or in .cowsnap-storage at the top of a "
			 "filesystem (cowsnap.conf(5))\n");
	free(out);
	free(err);

	/* --json after the command, every key there */
	rc = snapctl(&out, &err, "-s", dmn_sock, "list", "writers", "--json", NULL);
	ck_assert_int_eq(rc, 0);
	snprintf(want, sizeof(want),
		 "{\n"
		 "  \"writers\":[\n"
		 "    {\n"
		 "      \"name\":\"web\",\n"
		 "      \"exec\":\"%s/hook.sh\",\n"
		 "      \"order\":\"front-end\",\n"
		 "      \"state\":\"STABLE\",\n"
		 "      \"last_error\":\"NONE\",\n"
		 "      \"message\":\"\",\n"
		 "      \"freeze_timeout_ms\":60000,\n"
		 "      \"event_timeout_ms\":30000,\n"
		 "      \"kind\":\"hook\",\n"
		 "      \"pid\":0,\n"
		 "      \"connected\":false,\n"
		 "      \"class_id\":\"\",\n"
		 "      \"instance\":\"\",\n"
		 "      \"components\":0\n"
		 "    },\n"
		 "    {\n"
		 "      \"name\":\"sys\",\n"
		 "      \"exec\":\"%s/hook.sh\",\n"
		 "      \"order\":\"system\",\n"
		 "      \"state\":\"STABLE\",\n"
		 "      \"last_error\":\"NONE\",\n"
		 "      \"message\":\"\",\n"
		 "      \"freeze_timeout_ms\":60000,\n"
		 "      \"event_timeout_ms\":30000,\n"
		 "      \"kind\":\"hook\",\n"
		 "      \"pid\":0,\n"
		 "      \"connected\":false,\n"
		 "      \"class_id\":\"\",\n"
		 "      \"instance\":\"\",\n"
		 "      \"components\":0\n"
		 "    }\n"
		 "  ],\n"
		 "  \"next\":0\n"
		 "}\n", dmn_dir, dmn_dir);
	ck_assert_str_eq(out, want);
	ck_assert_str_eq(err, "");
	free(out);
	free(err);

	/* no module: version's object, with the error in it (one JSON text) */
	rc = snapctl(&out, &err, "-s", dmn_sock, "version", "--json", NULL);
	ck_assert_int_eq(rc, CS_EXIT_FAILED);
	ck_assert_msg(!strncmp(out, version_head, strlen(version_head)), "%s", out);
	ck_assert_ptr_nonnull(strstr(out, "\",\n"
				     "  \"error\":{\n"
				     "    \"code\":\"ENODEV\",\n"
				     "    \"message\":\""));
	ck_assert_ptr_nonnull(strstr(out, "\",\n"
				     "    \"exit\":1\n"
				     "  }\n"
				     "}\n"));
	free(out);
	free(err);

	/* cowsnapd refuses (no module for sets): its error, in JSON */
	rc = snapctl(&out, &err, "-s", dmn_sock, "list", "sets", "--json", NULL);
	ck_assert_int_eq(rc, CS_EXIT_FAILED);
	ck_assert_msg(!strncmp(out, error_head, strlen(error_head)), "%s", out);
	ck_assert_ptr_nonnull(strstr(out, "\",\n    \"exit\":1\n  }\n}\n"));
	ck_assert_ptr_nonnull(strstr(err, "snapctl: "));
	free(out);
	free(err);
}
END_TEST

/* No daemon: exit 3, the error in JSON wherever --json is */
START_TEST(snapctl_no_daemon)
{
	static const char want[] =
		"{\n"
		"  \"error\":{\n"
		"    \"code\":\"ENOENT\",\n"
		"    \"message\":\"cannot connect to cowsnapd at /nonexistent/sock: No such file "
		"or directory\",\n"
		"    \"exit\":3\n"
		"  }\n"
		"}\n";
	char *out, *err;

	ck_assert_int_eq(snapctl(&out, &err, "--json", "-s", "/nonexistent/sock", "list", "sets",
				 NULL), CS_EXIT_NO_DAEMON);
	ck_assert_str_eq(out, want);
	ck_assert_ptr_nonnull(strstr(err, "is cowsnapd running?"));
	free(out);
	free(err);
	ck_assert_int_eq(snapctl(&out, &err, "-s", "/nonexistent/sock", "list", "sets", "-j",
				 NULL), CS_EXIT_NO_DAEMON);
	ck_assert_str_eq(out, want);
	free(out);
	free(err);
	/* without --json, stdout stays empty */
	ck_assert_int_eq(snapctl(&out, &err, "-s", "/nonexistent/sock", "version", NULL),
			 CS_EXIT_NO_DAEMON);
	ck_assert_str_eq(out, "snapctl " COWSNAP_VERSION "\n");
	free(out);
	free(err);
	/* a bad -o is told before cowsnapd is asked */
	ck_assert_int_eq(snapctl(&out, &err, "-s", "/nonexistent/sock", "list", "sets", "-o",
				 "id,nope", NULL), CS_EXIT_USAGE);
	ck_assert_str_eq(err, "snapctl: unknown field `nope'; the fields are: id, name, state, "
			 "flags, taken, used, allocated, volumes\n"
			 "Usage: snapctl list [-H] [-p] [-o FIELD,...] writers|sets|volumes|storage\n");
	free(out);
	free(err);
	/* usage errors of snapctl itself, in JSON */
	ck_assert_int_eq(snapctl(&out, &err, "frobnicate", "--json", NULL), CS_EXIT_USAGE);
	ck_assert_str_eq(out, "{\n"
			 "  \"error\":{\n"
			 "    \"code\":\"EINVAL\",\n"
			 "    \"message\":\"invalid command: `frobnicate'; see `snapctl --help'\",\n"
			 "    \"exit\":2\n"
			 "  }\n"
			 "}\n");
	ck_assert_str_eq(err, "snapctl: invalid command: `frobnicate'; see `snapctl --help'\n");
	free(out);
	free(err);
}
END_TEST

/* Set names on the command line: checked before cowsnapd is asked; a SET
 * that is no id but may be a name is looked up (asking cowsnapd) */
START_TEST(snapctl_set_names)
{
	static const char rule[] = "1 to 64 characters of A-Z a-z 0-9 _ . + -, not starting "
				   "with `-' or `.', not only digits";
	char *out, *err, want[512];
	struct snapctl ctl = { .prog = "snapctl" };
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	struct table t;

	ck_assert_int_eq(snapctl(&out, &err, "-s", "/nonexistent/sock", "create", "--name", "123",
				 "/dev/null", NULL), CS_EXIT_USAGE);
	snprintf(want, sizeof(want), "snapctl: invalid set name: `123' (%s)\n", rule);
	ck_assert_msg(!strncmp(err, want, strlen(want)), "%s", err);
	free(out);
	free(err);
	ck_assert_int_eq(snapctl(&out, &err, "-s", "/nonexistent/sock", "backup", "--name", ".x",
				 "--exec", "true", "/dev/null", NULL), CS_EXIT_USAGE);
	ck_assert_ptr_nonnull(strstr(err, "invalid set name: `.x'"));
	free(out);
	free(err);
	ck_assert_int_eq(snapctl(&out, &err, "-s", "/nonexistent/sock", "create", "--name",
				 "a/b", "/dev/null", "--json", NULL), CS_EXIT_USAGE);
	ck_assert_ptr_nonnull(strstr(out, "\"code\":\"EINVAL\""));
	free(out);
	free(err);
	/* neither an id nor a name: said at once */
	snprintf(want, sizeof(want), "snapctl: invalid set: `a b' (a set id, or a name: %s)\n",
		 rule);
	ck_assert_int_eq(snapctl(&out, &err, "-s", "/nonexistent/sock", "show", "a b", NULL),
			 CS_EXIT_USAGE);
	ck_assert_msg(!strncmp(err, want, strlen(want)), "%s", err);
	free(out);
	free(err);
	ck_assert_int_eq(snapctl(&out, &err, "-s", "/nonexistent/sock", "delete", "0", NULL),
			 CS_EXIT_USAGE);
	ck_assert_ptr_nonnull(strstr(err, "invalid set: `0'"));
	free(out);
	free(err);
	ck_assert_int_eq(snapctl(&out, &err, "-s", "/nonexistent/sock", "revert", "x=y", NULL),
			 CS_EXIT_USAGE);
	ck_assert_ptr_nonnull(strstr(err, "invalid set: `x=y'"));
	free(out);
	free(err);
	ck_assert_int_eq(snapctl(&out, &err, "-s", "/nonexistent/sock", "mount", "x y",
				 "/dev/null", "/tmp", NULL), CS_EXIT_USAGE);
	ck_assert_ptr_nonnull(strstr(err, "invalid set: `x y'"));
	free(out);
	free(err);
	/* a name is looked up: cowsnapd is asked */
	ck_assert_int_eq(snapctl(&out, &err, "-s", "/nonexistent/sock", "show", "nightly", NULL),
			 CS_EXIT_NO_DAEMON);
	free(out);
	free(err);
	ck_assert_int_eq(snapctl(&out, &err, "-s", "/nonexistent/sock", "delete", "nightly", NULL),
			 CS_EXIT_NO_DAEMON);
	free(out);
	free(err);

	/* -o name, as the other fields */
	f = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(f);
	ctl.table.no_header = true;
	ctl.table.fields = "name,id";
	ck_assert_int_eq(table_init(&t, &ctl, &sets_table, f, "list"), 0);
	print_sets(&t, &set_list);
	fclose(f);
	ck_assert_str_eq(buf, "nightly\t7\n-\t12\n-\t13\n");
	free(buf);
}
END_TEST

static Suite *ctl_suite(void)
{
	Suite *s = suite_create("snapctl");
	TCase *t = tcase_create("term");

	tcase_add_test(t, term_text_escapes);
	suite_add_tcase(s, t);
	t = tcase_create("exec");
	tcase_set_timeout(t, 20);
	tcase_add_test(t, exec_status);
	tcase_add_test(t, exec_dies_with_snapctl_term);
	tcase_add_test(t, exec_dies_with_snapctl_kill);
	suite_add_tcase(s, t);
	t = tcase_create("scripts");
	tcase_add_test(t, exit_code_table);
	tcase_add_test(t, json_anywhere);
	tcase_add_test(t, table_option_parsing);
	tcase_add_test(t, table_default);
	tcase_add_test(t, table_no_header_exact);
	tcase_add_test(t, table_field_choice);
	tcase_add_test(t, json_error_object);
	tcase_add_test(t, json_every_key);
	tcase_add_test(t, snapctl_no_daemon);
	tcase_add_test(t, snapctl_set_names);
	suite_add_tcase(s, t);
	t = tcase_create("cowsnapd");
	tcase_set_timeout(t, 20);
	tcase_add_checked_fixture(t, start_cowsnapd, stop_cowsnapd);
	tcase_add_test(t, snapctl_lists);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ctl_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
