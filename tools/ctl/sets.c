// SPDX-License-Identifier: GPL-2.0-or-later
/* snapctl create, delete, show, list sets. */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "snapctl.h"

/* Send a volume spec as the daemon wants it: absolute paths. */
static int volume_arg(struct snapctl *ctl, const char *arg, char *dst, size_t size,
		      const char *usage)
{
	char real[PATH_MAX];

	if (arg[0] != '/' && !strchr(arg, '=')) {
		if (!realpath(arg, real))
			return usage_error(ctl, usage, "invalid volume: `%s'", arg);
		arg = real;
	}
	if (strlen(arg) >= size)
		return usage_error(ctl, usage, "name too long: `%.40s...'", arg);
	strcpy(dst, arg);
	return 0;
}

static int parse_set_id(const char *s, uint64_t *id)
{
	char *end;
	unsigned long long v;

	if (*s < '1' || *s > '9')
		return -1;
	v = strtoull(s, &end, 10);
	if (*end || v > INT64_MAX)
		return -1;
	*id = v;
	return 0;
}

static const char *fmt_time(uint64_t ns, char *buf, size_t size)
{
	time_t t = (time_t)(ns / 1000000000ULL);
	struct tm tm;

	if (!ns)
		return "-";
	localtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
	return buf;
}

static const char *set_flags(const struct cs_set *s)
{
	return s->persistent ? "persistent" : s->auto_release ? "auto-release" : "-";
}

/*
 * Names from the system (a filesystem label or mount point, a device-mapper
 * name) for the terminal: escaped as term_text() does, in one of a few
 * rotating buffers so that a printf can take several.
 */
static const char *safe(const char *s)
{
	static char bufs[4][4 * (CS_PATH_MAX + 1)];
	static unsigned next;

	return term_text(s, bufs[next++ % 4], sizeof(bufs[0]));
}

/* Runs one call (args NULL: a list, all its pages), reports its error;
 * returns an exit code. */
static int call(struct snapctl *ctl, enum cs_op op, const void *args, void *result)
{
	struct cs_client *c;
	struct cs_error err = { 0 };
	int ret;

	ret = connect_daemon(ctl, &c);
	if (ret)
		return ret;
	/* writers' timeouts (60 s per freeze by default) bound a create */
	if (op == CS_OP_SET_CREATE)
		cs_client_set_timeout(c, -1);
	ret = args ? cs_call(c, op, args, result, &err) : cs_call_list(c, op, result, &err);
	if (ret)
		ret = report_error(ctl, c, ret, &err);
	cs_client_close(c);
	return ret;
}

static bool want_help(int argc, char **argv, const char *usage, const char *text,
		      struct snapctl *ctl)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("Usage: %s %s\n%s", ctl->prog, usage, text);
			return true;
		}
	}
	return false;
}

static const char create_usage[] =
	"create [--persistent] [--no-writers] [--chunk-size SIZE] [--wait[=SECONDS]] VOLUME...";

int cmd_create(struct snapctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "persistent", no_argument, NULL, 'p' },
		{ "no-writers", no_argument, NULL, 'W' },
		{ "chunk-size", required_argument, NULL, 'c' },
		{ "wait", optional_argument, NULL, 'w' },
		{ 0 }
	};
	struct cs_set_create_args a = { 0 };
	struct cs_set_result r = { 0 };
	struct cs_error err = { 0 };
	struct cs_client *cl;
	uint64_t chunk;
	int c, ret, wait_s = 0;

	if (want_help(argc, argv, create_usage,
		      "Takes one shadow copy set of the VOLUMEs (devices, mount points, paths,\n"
		      "UUID=, LABEL=, PARTUUID=, PARTLABEL=), at one instant for all of them.\n"
		      "Prints the set id, then one `ORIGIN IMAGE-DEVICE' line per volume.\n"
		      "  --persistent       keep the set until `snapctl delete' (default: the\n"
		      "                     set goes away when cowsnapd stops)\n"
		      "  --no-writers       do not involve writers (crash-consistent)\n"
		      "  --chunk-size SIZE  copy-on-write unit, a power of two, 4K..64M\n"
		      "  --wait[=SECONDS]   when another set is being created, wait for it\n"
		      "                     (default 300 s) instead of failing at once\n", ctl))
		return EXIT_OK;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			a.persistent = true;
			break;
		case 'W':
			a.no_writers = true;
			break;
		case 'c':
			if (cs_size_parse(optarg, &chunk))
				return usage_error(ctl, create_usage, "invalid chunk size: `%s' "
						   "(" CS_SIZE_SYNTAX ")", optarg);
			if (chunk < 4096 || chunk > (64ULL << 20) || (chunk & (chunk - 1)))
				return usage_error(ctl, create_usage, "invalid chunk size: `%s' "
						   "(a power of two from 4K to 64M)", optarg);
			a.chunk_sectors = (uint32_t)(chunk / 512);
			break;
		case 'w':
			if (parse_wait(optarg, &wait_s))
				return usage_error(ctl, create_usage, "invalid wait: `%s' (seconds, "
						   "1..86400)", optarg);
			break;
		default:
			return usage_error(ctl, create_usage, "invalid option: `%s'",
					   argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return usage_error(ctl, create_usage, "no volume given");
	if (argc - optind > CS_MAX_VOLUMES)
		return usage_error(ctl, create_usage, "more than %d volumes", CS_MAX_VOLUMES);
	a.nvolumes = (uint32_t)(argc - optind);
	a.volumes = calloc(a.nvolumes, sizeof(*a.volumes));
	if (!a.volumes)
		return EXIT_FAILED;
	for (uint32_t i = 0; i < a.nvolumes; i++) {
		ret = volume_arg(ctl, argv[optind + (int)i], a.volumes[i].spec,
				 sizeof(a.volumes[i].spec), create_usage);
		if (ret) {
			free(a.volumes);
			return ret;
		}
	}
	ret = connect_daemon(ctl, &cl);
	if (ret) {
		free(a.volumes);
		return ret;
	}
	/* writers' timeouts (60 s per freeze by default) bound a create */
	cs_client_set_timeout(cl, -1);
	ret = call_create(ctl, cl, &a, &r, wait_s, &err);
	free(a.volumes);
	if (ret)
		ret = report_error(ctl, cl, ret, &err);
	cs_client_close(cl);
	if (ret)
		return ret;
	if (r.consistency == CS_CONSISTENCY_CRASH && !a.no_writers)
		fprintf(stderr, "%s: note: set %" PRIu64 " is crash-consistent: no writers are "
			"configured\n", ctl->prog, r.set.id);
	if (ctl->json) {
		print_json(ctl, CS_OP_SET_CREATE, &r);
	} else {
		printf("%" PRIu64 "\n", r.set.id);
		for (uint32_t i = 0; i < r.set.nvolumes; i++)
			printf("%s %s\n", safe(r.set.volumes[i].origin),
			       r.set.volumes[i].image[0] ? safe(r.set.volumes[i].image) : "-");
	}
	cs_result_free(CS_OP_SET_CREATE, &r);
	return EXIT_OK;
}

static const char delete_usage[] = "delete SET | --all | --oldest VOLUME";

int cmd_delete(struct snapctl *ctl, int argc, char **argv)
{
	struct cs_set_delete_args a = { 0 };
	struct cs_set_delete_result r = { 0 };
	int ret;

	if (want_help(argc, argv, delete_usage,
		      "Deletes one set, every set, or the oldest set holding a snapshot of\n"
		      "VOLUME; its image devices go away.  Prints the ids deleted.\n", ctl))
		return EXIT_OK;
	if (argc == 2 && !strcmp(argv[1], "--all")) {
		a.all = true;
	} else if (argc == 3 && !strcmp(argv[1], "--oldest")) {
		ret = volume_arg(ctl, argv[2], a.oldest, sizeof(a.oldest), delete_usage);
		if (ret)
			return ret;
	} else if (argc == 2 && argv[1][0] != '-') {
		if (parse_set_id(argv[1], &a.id))
			return usage_error(ctl, delete_usage, "invalid set id: `%s'", argv[1]);
	} else {
		return usage_error(ctl, delete_usage, argc < 2 ? "no set given" :
				   "invalid arguments: `%s'", argv[argc - 1]);
	}
	ret = call(ctl, CS_OP_SET_DELETE, &a, &r);
	if (ret)
		return ret;
	if (ctl->json)
		print_json(ctl, CS_OP_SET_DELETE, &r);
	else
		for (uint32_t i = 0; i < r.nids; i++)
			printf("deleted set %" PRIu64 "\n", r.ids[i]);
	cs_result_free(CS_OP_SET_DELETE, &r);
	return EXIT_OK;
}

static void print_set(const struct cs_set *s)
{
	char t[64], b1[32], b2[32];

	printf("set %" PRIu64 "\n", s->id);
	printf("  state:    %s%s%s\n", cs_set_state_names[s->state],
	       s->invalid_cause[0] ? ", " : "", s->invalid_cause);
	printf("  flags:    %s\n", set_flags(s));
	printf("  created:  %s\n", fmt_time(s->created_ns, t, sizeof(t)));
	printf("  taken:    %s\n", fmt_time(s->taken_ns, t, sizeof(t)));
	if (s->chunk_sectors)
		printf("  chunk:    %s\n",
		       cs_size_format((uint64_t)s->chunk_sectors << 9, b1, sizeof(b1)));
	printf("  storage:  %s given, %s used\n",
	       cs_size_format(s->storage_sectors << 9, b1, sizeof(b1)),
	       cs_size_format(s->storage_used << 9, b2, sizeof(b2)));
	for (uint32_t i = 0; i < s->nvolumes; i++) {
		const struct cs_set_volume *v = &s->volumes[i];

		printf("  volume:   %s %s (%s, %" PRIu64 " chunks copied)\n", safe(v->origin),
		       v->image[0] ? safe(v->image) : "-",
		       cs_size_format(v->sectors << 9, b1, sizeof(b1)),
		       v->chunks_copied);
	}
}

static const char show_usage[] = "show SET";

int cmd_show(struct snapctl *ctl, int argc, char **argv)
{
	struct cs_set_show_args a = { 0 };
	struct cs_set_result r = { 0 };
	int ret;

	if (want_help(argc, argv, show_usage, "Shows one set and its volumes.\n", ctl))
		return EXIT_OK;
	if (argc != 2)
		return usage_error(ctl, show_usage, argc < 2 ? "no set given" :
				   "unexpected argument `%s'", argv[argc - 1]);
	if (parse_set_id(argv[1], &a.id))
		return usage_error(ctl, show_usage, "invalid set id: `%s'", argv[1]);
	ret = call(ctl, CS_OP_SET_SHOW, &a, &r);
	if (ret)
		return ret;
	if (ctl->json)
		print_json(ctl, CS_OP_SET_SHOW, &r);
	else
		print_set(&r.set);
	cs_result_free(CS_OP_SET_SHOW, &r);
	return EXIT_OK;
}

int list_sets(struct snapctl *ctl)
{
	struct cs_set_list_result r = { 0 };
	char t[64];
	int ret;

	ret = call(ctl, CS_OP_SET_LIST, NULL, &r);
	if (ret)
		return ret;
	if (ctl->json) {
		print_json(ctl, CS_OP_SET_LIST, &r);
	} else {
		printf("%-6s %-9s %-12s %-19s %s\n", "ID", "STATE", "FLAGS", "TAKEN",
		       "VOLUMES (ORIGIN=IMAGE)");
		for (uint32_t i = 0; i < r.nsets; i++) {
			const struct cs_set *s = &r.sets[i];

			printf("%-6" PRIu64 " %-9s %-12s %-19s", s->id,
			       cs_set_state_names[s->state], set_flags(s),
			       fmt_time(s->taken_ns, t, sizeof(t)));
			for (uint32_t j = 0; j < s->nvolumes; j++)
				printf(" %s=%s", safe(s->volumes[j].origin),
				       s->volumes[j].image[0] ? safe(s->volumes[j].image) : "-");
			putchar('\n');
		}
	}
	cs_result_free(CS_OP_SET_LIST, &r);
	return EXIT_OK;
}

/* ------------------------------------------------------------------ */

int list_volumes(struct snapctl *ctl)
{
	struct cs_volume_list_result r = { 0 };
	char b[32], mm[24];
	int ret;

	ret = call(ctl, CS_OP_VOLUME_LIST, NULL, &r);
	if (ret)
		return ret;
	if (ctl->json) {
		print_json(ctl, CS_OP_VOLUME_LIST, &r);
	} else {
		printf("%-16s %-8s %-10s %-8s %-9s %-9s %-10s %s\n", "DEVICE", "MAJ:MIN",
		       "SIZE", "FSTYPE", "TRACKED", "SNAPSHOTS", "CHANGED", "MOUNTPOINT");
		for (uint32_t i = 0; i < r.nvolumes; i++) {
			const struct cs_volume *v = &r.volumes[i];
			char ch[32] = "-";

			if (v->tracked)
				cs_size_format(v->changed_bytes, ch, sizeof(ch));
			snprintf(mm, sizeof(mm), "%u:%u", v->major, v->minor);
			printf("%-16s %-8s %-10s %-8s %-9s %-9u %-10s %s\n", safe(v->device), mm,
			       cs_size_format(v->sectors << 9, b, sizeof(b)),
			       v->fstype[0] ? safe(v->fstype) : "-",
			       v->kept ? "kept" : v->tracked ? "yes" : "no",
			       v->snapshots, ch, v->mountpoint[0] ? safe(v->mountpoint) : "-");
		}
	}
	cs_result_free(CS_OP_VOLUME_LIST, &r);
	return EXIT_OK;
}

static const char track_usage[] = "track VOLUME";
static const char untrack_usage[] = "untrack VOLUME";

static int track(struct snapctl *ctl, int argc, char **argv, bool keep)
{
	const char *usage = keep ? track_usage : untrack_usage;
	struct cs_volume_args a = { 0 };
	struct cs_volume r = { 0 };
	char b[32], c[32];
	int ret;

	if (want_help(argc, argv, usage, keep ?
		      "Keeps VOLUME tracked between backups: the module records which chunks\n"
		      "are written, so that `snapread --incremental' reads only those.  The\n"
		      "record lives until `snapctl untrack', a module reload or a reboot.\n" :
		      "Stops keeping VOLUME tracked; its changed-block record goes once no\n"
		      "set holds a snapshot of it, and the next backup must be a full read.\n",
		      ctl))
		return EXIT_OK;
	if (argc != 2)
		return usage_error(ctl, usage, argc < 2 ? "no volume given" :
				   "unexpected argument `%s'", argv[argc - 1]);
	ret = volume_arg(ctl, argv[1], a.volume, sizeof(a.volume), usage);
	if (ret)
		return ret;
	ret = call(ctl, keep ? CS_OP_VOLUME_TRACK : CS_OP_VOLUME_UNTRACK, &a, &r);
	if (ret)
		return ret;
	if (ctl->json)
		print_json(ctl, keep ? CS_OP_VOLUME_TRACK : CS_OP_VOLUME_UNTRACK, &r);
	else if (keep)
		printf("%s: kept tracked, generation %s, %s chunks, %s changed since "
		       "tracking began\n", safe(r.device), safe(r.cbt_generation),
		       cs_size_format((uint64_t)r.cbt_chunk_sectors << 9, b, sizeof(b)),
		       cs_size_format(r.changed_bytes, c, sizeof(c)));
	else if (r.tracked)
		printf("%s: no longer kept tracked; tracked while sets hold snapshots of "
		       "it (%u)\n", safe(r.device), r.snapshots);
	else
		printf("%s: no longer tracked\n", safe(r.device));
	cs_result_free(keep ? CS_OP_VOLUME_TRACK : CS_OP_VOLUME_UNTRACK, &r);
	return EXIT_OK;
}

int cmd_track(struct snapctl *ctl, int argc, char **argv)
{
	return track(ctl, argc, argv, true);
}

int cmd_untrack(struct snapctl *ctl, int argc, char **argv)
{
	return track(ctl, argc, argv, false);
}

static void print_storage(const struct cs_storage_list_result *r)
{
	char b1[32], b2[32], mm[24];

	printf("%-24s %-8s %-10s %s\n", "DEVICE", "MAJ:MIN", "SIZE", "USED");
	for (uint32_t i = 0; i < r->ndevices; i++) {
		const struct cs_storage_dev *s = &r->devices[i];

		snprintf(mm, sizeof(mm), "%u:%u", s->major, s->minor);
		printf("%-24s %-8s %-10s %s\n", safe(s->device), mm,
		       cs_size_format(s->sectors << 9, b1, sizeof(b1)),
		       cs_size_format(s->used << 9, b2, sizeof(b2)));
	}
	printf("each new set gets %s; a set running low gets %s more\n",
	       cs_size_format(r->set_sectors << 9, b1, sizeof(b1)),
	       cs_size_format(r->grow_sectors << 9, b2, sizeof(b2)));
}

int list_storage(struct snapctl *ctl)
{
	struct cs_empty none = { 0 };
	struct cs_storage_list_result r = { 0 };
	int ret;

	ret = call(ctl, CS_OP_STORAGE_LIST, &none, &r);
	if (ret)
		return ret;
	if (ctl->json)
		print_json(ctl, CS_OP_STORAGE_LIST, &r);
	else
		print_storage(&r);
	cs_result_free(CS_OP_STORAGE_LIST, &r);
	return EXIT_OK;
}

int list_writers(struct snapctl *ctl)
{
	struct cs_writer_list_result r = { 0 };
	int ret;

	ret = call(ctl, CS_OP_WRITER_LIST, NULL, &r);
	if (ret)
		return ret;
	if (ctl->json) {
		print_json(ctl, CS_OP_WRITER_LIST, &r);
	} else {
		printf("%-16s %-12s %-9s %-28s %-13s %s\n", "WRITER", "KIND", "ORDER", "STATE",
		       "LAST ERROR", "MESSAGE");
		for (uint32_t i = 0; i < r.nwriters; i++) {
			const struct cs_writer_info *w = &r.writers[i];
			char kind[32], name[4 * CS_NAME_MAX + 1], msg[TERM_TEXT_MAX];

			if (w->kind == CS_WRITER_KIND_SOCKET && w->connected)
				snprintf(kind, sizeof(kind), "socket:%u", w->pid);
			else if (w->kind == CS_WRITER_KIND_SOCKET)
				snprintf(kind, sizeof(kind), "socket:gone");
			else
				snprintf(kind, sizeof(kind), "hook");
			printf("%-16s %-12s %-9s %-28s %-13s %s\n",
			       term_text(w->name, name, sizeof(name)), kind,
			       cs_writer_order_names[w->order], cs_writer_state_names[w->state],
			       cs_writer_error_names[w->last_error],
			       w->message[0] ? term_text(w->message, msg, sizeof(msg)) : "-");
		}
	}
	cs_result_free(CS_OP_WRITER_LIST, &r);
	return EXIT_OK;
}

static const char list_usage[] = "list writers|sets|volumes|storage";

int cmd_list(struct snapctl *ctl, int argc, char **argv)
{
	if (want_help(argc, argv, list_usage,
		      "Lists writers (state and last error of each), shadow copy sets, block devices (with what the module tracks),\n"
		      "or difference storage.  --json (before the command) for scripts.\n", ctl))
		return EXIT_OK;
	if (argc != 2)
		return usage_error(ctl, list_usage, argc < 2 ? "list what?" :
				   "unexpected argument `%s'", argv[argc - 1]);
	if (!strcmp(argv[1], "writers"))
		return list_writers(ctl);
	if (!strcmp(argv[1], "sets"))
		return list_sets(ctl);
	if (!strcmp(argv[1], "volumes"))
		return list_volumes(ctl);
	if (!strcmp(argv[1], "storage"))
		return list_storage(ctl);
	return usage_error(ctl, list_usage, "cannot list `%s'", argv[1]);
}

static const char storage_usage[] = "storage add DEVICE | remove DEVICE | list";

int cmd_storage(struct snapctl *ctl, int argc, char **argv)
{
	struct cs_storage_args a = { 0 };
	struct cs_storage_list_result r = { 0 };
	enum cs_op op;
	int ret;

	if (want_help(argc, argv, storage_usage,
		      "Difference storage: block devices that cowsnapd carves for sets.\n"
		      "`add' and `remove' also update storage.conf in cowsnapd's\n"
		      "configuration directory.  A device holding storage of a set cannot\n"
		      "be removed.  Everything on an added device is overwritten.  A path\n"
		      "with a blank, `#' or a control character cannot be added (storage.conf\n"
		      "cannot hold it): use another name, e.g. under /dev/disk/by-id/.\n", ctl))
		return EXIT_OK;
	if (argc == 2 && !strcmp(argv[1], "list"))
		return list_storage(ctl);
	if (argc != 3 || (strcmp(argv[1], "add") && strcmp(argv[1], "remove")))
		return usage_error(ctl, storage_usage, argc < 2 ? "no storage command" :
				   "invalid arguments: `%s'", argv[argc - 1]);
	op = argv[1][0] == 'a' ? CS_OP_STORAGE_ADD : CS_OP_STORAGE_REMOVE;
	ret = volume_arg(ctl, argv[2], a.device, sizeof(a.device), storage_usage);
	if (ret)
		return ret;
	ret = call(ctl, op, &a, &r);
	if (ret)
		return ret;
	if (ctl->json)
		print_json(ctl, op, &r);
	else
		print_storage(&r);
	cs_result_free(op, &r);
	return EXIT_OK;
}
