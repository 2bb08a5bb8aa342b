// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * snapctl backup: the whole sequence, with a command run on the images;
 * snapctl restore: PreRestore, a command, PostRestore, from the metadata a
 * backup saved.  Also the shadow-set lock's --wait.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json.h>

#include "snapctl.h"

static const char backup_usage[] =
	"backup [--name NAME] [--type TYPE] [--component WRITER[:PATH]]...\n"
	"       [--save-metadata FILE] [--no-writers] [--persistent] [--writable] [--auto-recover]\n"
	"       [--wait[=SECONDS]] [--mount] --exec CMD [VOLUME]...";
static const char restore_usage[] = "restore --metadata FILE --exec CMD";

/* --wait without a value: five minutes */
#define DEFAULT_WAIT_S	300

int parse_wait(const char *arg, int *wait_s)
{
	char *end;
	long v;

	if (!arg) {
		*wait_s = DEFAULT_WAIT_S;
		return 0;
	}
	v = strtol(arg, &end, 10);
	if (*arg < '0' || *arg > '9' || *end || v < 1 || v > 86400)
		return -1;
	*wait_s = (int)v;
	return 0;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The shadow-set lock answers "... being created": with --wait, ask again
 * until it is free or wait_s is over. */
int call_create(struct snapctl *ctl, struct cs_client *c, const struct cs_set_create_args *a,
		struct cs_set_result *r, int wait_s, struct cs_error *err)
{
	int64_t deadline = mono_ms() + (int64_t)wait_s * 1000;
	unsigned pause_ms = 100;
	char buf[TERM_TEXT_MAX];
	bool told = false;
	int ret;

	for (;;) {
		ret = cs_call(c, CS_OP_SET_CREATE, a, r, err);
		if (ret != -EBUSY || !cs_client_remote(c) || !wait_s ||
		    !strstr(err->message, "being created") || mono_ms() >= deadline)
			return ret;
		if (!told && isatty(STDERR_FILENO))
			fprintf(stderr, "%s: waiting: %s\n", ctl->prog,
				term_text(err->message, buf, sizeof(buf)));
		told = true;
		usleep(pause_ms * 1000);
		if (pause_ms < 1000)
			pause_ms *= 2;
	}
}

static int run_exec(const char *cmd, const struct cs_set *s, const char *type,
		    const char *failed_file, struct cmd_setup *setup)
{
	char *pairs = NULL, id[32];
	size_t len = 0;
	FILE *m = open_memstream(&pairs, &len);
	int ret;

	if (!m)
		return -1;
	for (uint32_t i = 0; i < s->nvolumes; i++)
		fprintf(m, "%s%s=%s", i ? " " : "", s->volumes[i].origin, s->volumes[i].image);
	fclose(m);
	snprintf(id, sizeof(id), "%" PRIu64, s->id);
	{
		const char *const env[] = {
			"COWSNAP_SET_ID", id, "COWSNAP_SET_NAME", s->name, "COWSNAP_SNAPSHOTS", pairs,
			"COWSNAP_BACKUP_TYPE", type,
			"COWSNAP_FAILED_COMPONENTS", failed_file, NULL
		};

		ret = run_cmd_setup(cmd, env, setup);
	}
	free(pairs);
	return ret;
}

/* WRITER or WRITER:PATH */
static int parse_component(const char *arg, struct cs_component_ref *ref)
{
	const char *colon = strchr(arg, ':');
	size_t n = colon ? (size_t)(colon - arg) : strlen(arg);

	memset(ref, 0, sizeof(*ref));
	if (!n || n > CS_NAME_MAX || (colon && (!colon[1] ||
						strlen(colon + 1) > CS_COMPONENT_PATH_MAX)))
		return -1;
	memcpy(ref->writer, arg, n);
	if (colon)
		strcpy(ref->path, colon + 1);
	return 0;
}

/* Lines WRITER[:PATH] that CMD wrote to $COWSNAP_FAILED_COMPONENTS. */
static uint32_t read_failed(const char *file, struct cs_component_ref *out, uint32_t max)
{
	char line[CS_NAME_MAX + CS_COMPONENT_PATH_MAX + 8];
	uint32_t n = 0;
	FILE *f = fopen(file, "re");

	if (!f)
		return 0;
	while (n < max && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (!line[0])
			continue;
		if (parse_component(line, &out[n]) == 0) {
			out[n].failed = true;
			n++;
		}
	}
	fclose(f);
	return n;
}

static int save_metadata(struct snapctl *ctl, const char *file, const struct cs_set_result *r,
			 int type)
{
	struct cs_backup_doc doc = {
		.set_id = r->set.id, .backup_type = type,
		.writers = r->writer_names, .nwriters = r->nwriter_names,
		.metadata = r->metadata, .nmetadata = r->nmetadata,
		.components = r->components, .ncomponents = r->ncomponents,
		.volumes = r->set.volumes, .nvolumes = r->set.nvolumes,
	};
	struct json_object *j;
	struct cs_error err = { 0 };
	const char *text;
	FILE *f;
	int ok;

	if (cs_schema_encode(&cs_backup_doc_schema, &doc, &j, &err)) {
		report_failure(ctl, err.code, CS_EXIT_FAILED,
			       "cannot encode the backup metadata: %s", err.message);
		return -1;
	}
	text = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
	f = fopen(file, "we");
	ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
	if (f && fclose(f))
		ok = 0;
	json_object_put(j);
	if (!ok) {
		report_failure(ctl, errno, CS_EXIT_FAILED,
			       "cannot write the backup metadata to %s: %s", file, strerror(errno));
		return -1;
	}
	return 0;
}

/* What `snapctl backup' was asked to do. */
struct backup_opts {
	struct cs_set_create_args a;
	const char *cmd, *meta;
	int wait_s;
	bool mount;		/* --mount */
};

static bool backup_help(struct snapctl *ctl, int argc, char **argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		if (!strcmp(argv[i], "--help")) {
			printf("Usage: %s %s\n"
			       "Runs a whole backup: writers prepare and freeze, the set is taken,\n"
			       "writers thaw and get post-snapshot, then CMD runs (/bin/sh -c) with\n"
			       "COWSNAP_SET_ID, COWSNAP_SET_NAME (\"\" without --name),\n"
			       "COWSNAP_SNAPSHOTS (`ORIGIN=IMAGE ...'), COWSNAP_BACKUP_TYPE and\n"
			       "COWSNAP_FAILED_COMPONENTS in its environment.\n"
			       "CMD's exit status decides what writers hear in backup-complete;\n"
			       "CMD may list components that failed, one WRITER[:PATH] a line, in\n"
			       "the file $COWSNAP_FAILED_COMPONENTS.  Then the set is deleted\n"
			       "(unless --persistent).  If snapctl dies before that, writers get\n"
			       "backup-shutdown and the set goes.  CMD ends with snapctl:\n"
			       "SIGTERM, SIGINT and SIGHUP are passed to its process group,\n"
			       "SIGKILL of snapctl sends it SIGTERM.  Exits with 0 when CMD and\n"
			       "the writers succeeded, 1 otherwise.\n"
			       "  --name NAME         name the set, as `snapctl create --name' does\n"
			       "  --writable          CMD may write to the images (kept in the set's\n"
			       "                      storage, never on the volumes)\n"
			       "  --auto-recover      each image's ext3/ext4/xfs replays its journal\n"
			       "                      or log once, after post-snapshot and before\n"
			       "                      CMD runs; the images are read-only again then\n"
			       "                      (with --writable: writable)\n"
			       "  --type TYPE         full (default), copy, incremental, differential,\n"
			       "                      log; writers that do not support it are left out\n"
			       "  --component W[:P]   only writer W (all of it, or its component P,\n"
			       "                      `logical/path/name', and those below it) takes\n"
			       "                      part; repeatable.  Unselected writers get no\n"
			       "                      events.  The volumes holding the selected\n"
			       "                      components' files are added to VOLUMEs.\n"
			       "  --save-metadata F   write the writers' metadata and the selected\n"
			       "                      components (JSON) to F before CMD runs; `snapctl\n"
			       "                      restore --metadata F' reads it\n"
			       "  --wait[=SECONDS]    when another set is being created, wait for it\n"
			       "                      (default %d s) instead of failing at once\n"
			       "  --mount             CMD runs in a mount namespace of its own where\n"
			       "                      each image is mounted read-only where its\n"
			       "                      origin is mounted (every mount of it that can\n"
			       "                      be seen, parents first; other filesystems below\n"
			       "                      stay as they are); an image that will not mount\n"
			       "                      fails the backup before CMD runs.  Processes\n"
			       "                      CMD leaves in the namespace are stopped when it\n"
			       "                      ends.  Unmounted volumes stay devices\n",
			       ctl->prog, backup_usage, DEFAULT_WAIT_S);
			return true;
		}
	}
	return false;
}

/* The options and volumes: 0, or snapctl's exit code for bad usage. */
static int backup_options(struct snapctl *ctl, int argc, char **argv, struct backup_opts *o)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "type", required_argument, NULL, 't' },
		{ "no-writers", no_argument, NULL, 'W' },
		{ "persistent", no_argument, NULL, 'p' },
		{ "writable", no_argument, NULL, 'r' },
		{ "auto-recover", no_argument, NULL, 'R' },
		{ "exec", required_argument, NULL, 'e' },
		{ "component", required_argument, NULL, 'c' },
		{ "save-metadata", required_argument, NULL, 'm' },
		{ "wait", optional_argument, NULL, 'w' },
		{ "mount", no_argument, NULL, 'M' },
		{ 0 }
	};
	struct cs_set_create_args *a = &o->a;
	char real[PATH_MAX];
	int opt, ret;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			ret = name_arg(ctl, optarg, a->name, backup_usage);
			if (ret)
				return ret;
			break;
		case 't':
			a->backup_type = -1;
			for (int i = 0; cs_backup_type_names[i]; i++)
				if (!strcmp(cs_backup_type_names[i], optarg))
					a->backup_type = i;
			if (a->backup_type < 0)
				return usage_error(ctl, backup_usage, "invalid backup type: `%s'",
						   optarg);
			break;
		case 'W':
			a->no_writers = true;
			break;
		case 'p':
			a->persistent = true;
			break;
		case 'M':
			o->mount = true;
			break;
		case 'r':
			a->writable = true;
			break;
		case 'R':
			a->auto_recover = true;
			break;
		case 'e':
			o->cmd = optarg;
			break;
		case 'm':
			o->meta = optarg;
			break;
		case 'w':
			if (parse_wait(optarg, &o->wait_s))
				return usage_error(ctl, backup_usage, "invalid wait: `%s' (seconds, "
						   "1..86400)", optarg);
			break;
		case 'c': {
			struct cs_component_ref *n;

			if (a->ncomponents >= CS_MAX_SELECTED)
				return usage_error(ctl, backup_usage, "more than %d --component",
						   CS_MAX_SELECTED);
			n = realloc(a->components, (a->ncomponents + 1) * sizeof(*n));
			if (!n)
				return report_failure(ctl, ENOMEM, CS_EXIT_FAILED, "out of memory");
			a->components = n;
			if (parse_component(optarg, &n[a->ncomponents++]))
				return usage_error(ctl, backup_usage, "invalid component: `%s' "
						   "(WRITER or WRITER:PATH)", optarg);
			break;
		}
		default:
			return usage_error(ctl, backup_usage, "invalid option: `%s'",
					   argv[optind - 1]);
		}
	}
	if (!o->cmd)
		return usage_error(ctl, backup_usage, "--exec CMD is required");
	if (a->ncomponents && a->no_writers)
		return usage_error(ctl, backup_usage, "--component and --no-writers exclude "
				   "each other");
	if (optind >= argc && !a->ncomponents)
		return usage_error(ctl, backup_usage, "no volume given (and no --component)");
	if (argc - optind > CS_MAX_VOLUMES)
		return usage_error(ctl, backup_usage, "more than %d volumes", CS_MAX_VOLUMES);
	a->nvolumes = (uint32_t)(argc - optind);
	a->volumes = calloc(a->nvolumes ? a->nvolumes : 1, sizeof(*a->volumes));
	if (!a->volumes)
		return report_failure(ctl, ENOMEM, CS_EXIT_FAILED, "out of memory");
	for (uint32_t i = 0; i < a->nvolumes; i++) {
		const char *v = argv[optind + (int)i];

		if (v[0] != '/' && !strchr(v, '=')) {
			if (!realpath(v, real))
				return usage_error(ctl, backup_usage, "invalid volume: `%s'", v);
			v = real;
		}
		snprintf(a->volumes[i].spec, sizeof(a->volumes[i].spec), "%s", v);
	}
	return 0;
}

/*
 * The requestor's side of the sequence: the daemon runs it up to
 * post-snapshot (set_create with backup); then the metadata is saved, the
 * command reads the images, and backup_complete tells the writers how it
 * went.  Closing the connection before that makes it backup-shutdown.
 */
static int backup_session(struct snapctl *ctl, struct cs_client *c, const struct backup_opts *o)
{
	struct cs_set_result r = { 0 };
	struct cs_backup_complete_args done = { 0 };
	struct cs_component_ref failed[CS_MAX_SELECTED];
	struct cs_empty none = { 0 };
	struct cs_error err = { 0 };
	char failed_file[] = "/tmp/snapctl-failed.XXXXXX", prefix[64 + CS_SET_NAME_MAX];
	struct ns_plan *plan = NULL;
	struct cmd_setup setup;
	int ret, status, fd;

	/* the writers' timeouts bound the sequence; allow them */
	cs_client_set_timeout(c, -1);
	ret = call_create(ctl, c, &o->a, &r, o->wait_s, &err);
	if (ret)
		return report_error(ctl, c, ret, &err);
	if (r.consistency == CS_CONSISTENCY_CRASH && !o->a.no_writers)
		fprintf(stderr, "%s: note: set %" PRIu64 " is crash-consistent: no writers are "
			"configured\n", ctl->prog, r.set.id);
	/* where its storage went; on stderr: stdout is CMD's (a backup stream) */
	snprintf(prefix, sizeof(prefix), "%s: set %" PRIu64 "%s%s%s: ", ctl->prog, r.set.id,
		 r.set.name[0] ? " (" : "", r.set.name, r.set.name[0] ? ")" : "");
	print_storage_files(stderr, prefix, &r);
	done.id = r.set.id;
	if (o->meta && save_metadata(ctl, o->meta, &r, o->a.backup_type)) {
		/* writers hear the backup failed; the set goes */
		cs_result_free(CS_OP_SET_CREATE, &r);
		cs_call(c, CS_OP_BACKUP_COMPLETE, &done, &none, &err);
		return CS_EXIT_FAILED;
	}
	if (o->mount) {
		ret = ns_plan_make(ctl, &r.set, &plan);
		if (ret) {
			cs_result_free(CS_OP_SET_CREATE, &r);
			cs_call(c, CS_OP_BACKUP_COMPLETE, &done, &none, &err);
			return ret;
		}
		ns_cmd_setup(plan, &setup);
	}
	fd = mkstemp(failed_file);
	if (fd >= 0)
		close(fd);
	status = run_exec(o->cmd, &r.set, cs_backup_type_names[o->a.backup_type],
			  fd >= 0 ? failed_file : "/dev/null", plan ? &setup : NULL);
	/* the images unmounted before the set may go */
	if (plan && ns_end(ctl, setup.token) && !status)
		status = -1;
	ns_plan_free(plan);
	done.success = status == 0;
	if (fd >= 0) {
		done.nfailed = read_failed(failed_file, failed, CS_MAX_SELECTED);
		done.failed = failed;
		unlink(failed_file);
	}
	cs_result_free(CS_OP_SET_CREATE, &r);
	ret = cs_call(c, CS_OP_BACKUP_COMPLETE, &done, &none, &err);
	if (ret)
		return report_error(ctl, c, ret, &err);
	if (status == CMD_SETUP_FAILED)
		return report_failure(ctl, EIO, CS_EXIT_FAILED, "--mount: %s; the backup command "
				      "did not run; writers were told the backup failed",
				      setup.msg);
	if (status)
		return report_failure(ctl, EIO, CS_EXIT_FAILED, "the backup command failed "
				      "(%s %d); writers were told the backup failed",
				      status < 0 ? "cannot run:" : "exit status", status);
	return CS_EXIT_OK;
}

int cmd_backup(struct snapctl *ctl, int argc, char **argv)
{
	struct backup_opts o = { .a.backup = true };
	struct cs_client *c;
	int ret;

	if (backup_help(ctl, argc, argv))
		return CS_EXIT_OK;
	ret = backup_options(ctl, argc, argv, &o);
	if (!ret)
		ret = connect_daemon(ctl, &c);
	if (!ret) {
		ret = backup_session(ctl, c, &o);
		cs_client_close(c);
	}
	free(o.a.volumes);
	free(o.a.components);
	return ret;
}

void restore_args_from_doc(struct cs_restore_args *a, const struct cs_backup_doc *doc)
{
	a->writers = doc->writers;
	a->nwriters = doc->nwriters;
	a->components = doc->components;
	a->ncomponents = doc->ncomponents;
	a->backup_type = doc->backup_type;
	a->set_id = doc->set_id;
}

int load_metadata(struct snapctl *ctl, const char *file, struct cs_backup_doc *doc)
{
	struct cs_error err = { 0 };
	char buf[TERM_TEXT_MAX];
	struct stat st;
	char *text;
	size_t n;
	int ret;
	FILE *f = fopen(file, "re");

	memset(doc, 0, sizeof(*doc));
	if (!f || fstat(fileno(f), &st)) {
		report_failure(ctl, errno, CS_EXIT_FAILED, "cannot read %s: %s", file,
			       strerror(errno));
		if (f)
			fclose(f);
		return -1;
	}
	if (st.st_size < 2 || st.st_size > CS_FRAME_MAX) {
		report_failure(ctl, EINVAL, CS_EXIT_FAILED, "%s is not backup metadata (size %lld)",
			       file, (long long)st.st_size);
		fclose(f);
		return -1;
	}
	text = malloc((size_t)st.st_size);
	n = text ? fread(text, 1, (size_t)st.st_size, f) : 0;
	fclose(f);
	if (n != (size_t)st.st_size) {
		cs_error_set(&err, EIO, "short read");
		ret = -EIO;
	} else {
		ret = cs_backup_doc_decode(text, n, doc, &err);
	}
	free(text);
	if (ret) {
		/* on stderr escaped, as the other messages (term.c); raw in JSON */
		fprintf(stderr, "%s: %s is not backup metadata written by `snapctl backup "
			"--save-metadata': %s\n", ctl->prog, file,
			term_text(err.message, buf, sizeof(buf)));
		snprintf(buf, sizeof(buf), "%s is not backup metadata written by `snapctl "
			 "backup --save-metadata': %s", file, err.message);
		json_error(ctl, -ret, CS_EXIT_FAILED, buf);
		return -1;
	}
	return 0;
}

int cmd_restore(struct snapctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "metadata", required_argument, NULL, 'm' },
		{ "exec", required_argument, NULL, 'e' },
		{ 0 }
	};
	struct cs_backup_doc doc;
	struct cs_restore_args a = { 0 };
	struct cs_restore_result r = { 0 };
	struct cs_restore_end_args end = { 0 };
	struct cs_empty none = { 0 };
	struct cs_error err = { 0 };
	struct cs_client *c = NULL;
	const char *cmd = NULL, *meta = NULL;
	char id[32];
	int opt, ret, status;

	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		if (!strcmp(argv[i], "--help")) {
			printf("Usage: %s %s\n"
			       "Runs a restore session for a backup that `snapctl backup\n"
			       "--save-metadata FILE' described: the writers named in FILE get\n"
			       "pre-restore (each must be running or configured), then CMD runs\n"
			       "(/bin/sh -c) with COWSNAP_RESTORE_METADATA (FILE), COWSNAP_SET_ID\n"
			       "(the backup's set) and COWSNAP_BACKUP_TYPE in its environment, then\n"
			       "the writers get post-restore with CMD's success.  If snapctl dies\n"
			       "before that, writers get post-restore as failed.  CMD ends with\n"
			       "snapctl, as for backup.  Exits with 0 when CMD and the writers\n"
			       "succeeded, 1 otherwise.\n",
			       ctl->prog, restore_usage);
			return CS_EXIT_OK;
		}
	}
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			meta = optarg;
			break;
		case 'e':
			cmd = optarg;
			break;
		default:
			return usage_error(ctl, restore_usage, "invalid option: `%s'",
					   argv[optind - 1]);
		}
	}
	if (!meta || !cmd)
		return usage_error(ctl, restore_usage, "--metadata FILE and --exec CMD are "
				   "required");
	if (optind < argc)
		return usage_error(ctl, restore_usage, "unexpected argument `%s'", argv[optind]);
	if (load_metadata(ctl, meta, &doc))
		return CS_EXIT_FAILED;
	restore_args_from_doc(&a, &doc);
	if (doc.nwriters) {
		ret = connect_daemon(ctl, &c);
		if (ret)
			goto out;
		cs_client_set_timeout(c, -1);
		ret = cs_call(c, CS_OP_RESTORE_BEGIN, &a, &r, &err);
		if (ret) {
			ret = report_error(ctl, c, ret, &err);
			goto out;
		}
	} else {
		fprintf(stderr, "%s: note: no writer took part in that backup; running the "
			"command without writers\n", ctl->prog);
	}
	snprintf(id, sizeof(id), "%" PRIu64, doc.set_id);
	{
		const char *const env[] = {
			"COWSNAP_RESTORE_METADATA", meta, "COWSNAP_SET_ID", id,
			"COWSNAP_BACKUP_TYPE", cs_backup_type_names[doc.backup_type], NULL
		};

		status = run_cmd(cmd, env);
	}
	ret = CS_EXIT_OK;
	if (c) {
		end.success = status == 0;
		ret = cs_call(c, CS_OP_RESTORE_END, &end, &none, &err);
		if (ret) {
			ret = report_error(ctl, c, ret, &err);
			goto out;
		}
	}
	if (status)
		ret = report_failure(ctl, EIO, CS_EXIT_FAILED, "the restore command failed "
				     "(%s %d); writers were told the restore failed",
				     status < 0 ? "cannot run:" : "exit status", status);
out:
	cs_client_close(c);
	cs_schema_free(&cs_backup_doc_schema, &doc);
	return ret;
}
