// SPDX-License-Identifier: GPL-2.0-or-later
/* snapctl create, delete, show, list sets. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
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
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end || errno || v > INT64_MAX)
		return -1;
	*id = v;
	return 0;
}

int name_arg(struct snapctl *ctl, const char *arg, char *dst, const char *usage)
{
	if (!cs_set_name_valid(arg))
		return usage_error(ctl, usage, "invalid set name: `%s' (" CS_SET_NAME_RULE ")",
				   arg);
	strcpy(dst, arg);
	return 0;
}

int set_arg(struct snapctl *ctl, const char *arg, const char *usage, uint64_t *id)
{
	struct cs_set_list_result r = { 0 };
	struct cs_client *c;
	struct cs_error err = { 0 };
	int ret;

	*id = 0;
	if (!parse_set_id(arg, id))
		return 0;
	/* a name is never only digits: a number that is no id is no name */
	if (!cs_set_name_valid(arg))
		return usage_error(ctl, usage, "invalid set: `%s' (a set id, or a name: "
				   CS_SET_NAME_RULE ")", arg);
	ret = connect_daemon(ctl, &c);
	if (ret)
		return ret;
	ret = cs_call_list(c, CS_OP_SET_LIST, &r, &err);
	if (ret)
		ret = report_error(ctl, c, ret, &err);
	cs_client_close(c);
	if (ret)
		return ret;
	for (uint32_t i = 0; i < r.nsets && !*id; i++)
		if (!strcmp(r.sets[i].name, arg))
			*id = r.sets[i].id;
	cs_result_free(CS_OP_SET_LIST, &r);
	if (!*id)
		return report_failure(ctl, ENOENT, CS_EXIT_FAILED, "there is no set named `%s'; "
				      "see `snapctl list sets'", arg);
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
	if (s->writable)
		return s->persistent ? "persistent,writable" :
		       s->auto_release ? "auto-release,writable" : "writable";
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
	"create [--name NAME] [--persistent] [--writable] [--auto-recover] [--no-writers]\n"
	"       [--chunk-size SIZE] [--wait[=SECONDS]] VOLUME...";

int cmd_create(struct snapctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "persistent", no_argument, NULL, 'p' },
		{ "writable", no_argument, NULL, 'r' },
		{ "auto-recover", no_argument, NULL, 'R' },
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
		      "Prints the set id (and its name, when it has one), then one\n"
		      "`ORIGIN IMAGE-DEVICE' line per volume, then one `storage: SIZE in\n"
		      "FILE' line per storage file of the set.\n"
		      "  --name NAME        name the set: NAME then stands for its id in\n"
		      "                     show, delete, mount and revert, and its images\n"
		      "                     are /dev/cowsnap/by-name/NAME/ORIGIN too.  No two\n"
		      "                     sets have the same name.  NAME: 1 to 64 of\n"
		      "                     A-Z a-z 0-9 _ . + -, not starting with - or .,\n"
		      "                     not only digits\n"
		      "  --persistent       keep the set until `snapctl delete' (default: the\n"
		      "                     set goes away when cowsnapd stops)\n"
		      "  --writable         images take writes, kept in the set's storage\n"
		      "                     (never on the volume); `snapctl mount' mounts\n"
		      "                     them read-write\n"
		      "  --auto-recover     each image's ext3/ext4/xfs replays its journal or\n"
		      "                     log once, right after the take (after\n"
		      "                     post-snapshot): the image is then a clean\n"
		      "                     filesystem (no noload or norecovery needed), and\n"
		      "                     read-only again (with --writable: writable)\n"
		      "  --no-writers       do not involve writers (crash-consistent)\n"
		      "  --chunk-size SIZE  copy-on-write unit, a power of two, 4K..64M\n"
		      "  --wait[=SECONDS]   when another set is being created, wait for it\n"
		      "                     (default 300 s) instead of failing at once\n", ctl))
		return CS_EXIT_OK;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			ret = name_arg(ctl, optarg, a.name, create_usage);
			if (ret)
				return ret;
			break;
		case 'p':
			a.persistent = true;
			break;
		case 'r':
			a.writable = true;
			break;
		case 'R':
			a.auto_recover = true;
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
		return report_failure(ctl, ENOMEM, CS_EXIT_FAILED, "out of memory");
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
		ret = print_json(ctl, CS_OP_SET_CREATE, &r);
	} else {
		printf("%" PRIu64 "%s%s\n", r.set.id, r.set.name[0] ? " " : "",
		       safe(r.set.name));
		for (uint32_t i = 0; i < r.set.nvolumes; i++)
			printf("%s %s\n", safe(r.set.volumes[i].origin),
			       r.set.volumes[i].image[0] ? safe(r.set.volumes[i].image) : "-");
		print_storage_files(stdout, "", &r);
	}
	cs_result_free(CS_OP_SET_CREATE, &r);
	return ret;
}

static const char delete_usage[] = "delete SET | --all | --oldest VOLUME";

int cmd_delete(struct snapctl *ctl, int argc, char **argv)
{
	struct cs_set_delete_args a = { 0 };
	struct cs_set_delete_result r = { 0 };
	int ret;

	if (want_help(argc, argv, delete_usage,
		      "Deletes one set (SET: its id or name), every set, or the oldest set\n"
		      "holding a snapshot of VOLUME; its image devices go away.  Prints the\n"
		      "ids deleted.\n", ctl))
		return CS_EXIT_OK;
	if (argc == 2 && !strcmp(argv[1], "--all")) {
		a.all = true;
	} else if (argc == 3 && !strcmp(argv[1], "--oldest")) {
		ret = volume_arg(ctl, argv[2], a.oldest, sizeof(a.oldest), delete_usage);
		if (ret)
			return ret;
	} else if (argc == 2 && argv[1][0] != '-') {
		ret = set_arg(ctl, argv[1], delete_usage, &a.id);
		if (ret)
			return ret;
	} else {
		return usage_error(ctl, delete_usage, argc < 2 ? "no set given" :
				   "invalid arguments: `%s'", argv[argc - 1]);
	}
	ret = call(ctl, CS_OP_SET_DELETE, &a, &r);
	if (ret)
		return ret;
	if (ctl->json)
		ret = print_json(ctl, CS_OP_SET_DELETE, &r);
	else
		for (uint32_t i = 0; i < r.nids; i++)
			printf("deleted set %" PRIu64 "\n", r.ids[i]);
	cs_result_free(CS_OP_SET_DELETE, &r);
	return ret;
}

void print_storage_files(FILE *f, const char *prefix, const struct cs_set_result *r)
{
	char b[32];

	for (uint32_t i = 0; i < r->nstorage; i++)
		if (r->storage[i].kind == CS_SET_STORAGE_FILE)
			fprintf(f, "%sstorage: %s in %s\n", prefix,
				cs_size_format(r->storage[i].sectors << 9, b, sizeof(b)),
				safe(r->storage[i].place));
}

static void print_set(const struct cs_set_result *r)
{
	const struct cs_set *s = &r->set;
	char t[64], b1[32], b2[32];

	printf("set %" PRIu64 "\n", s->id);
	printf("  name:     %s\n", s->name[0] ? safe(s->name) : "-");
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
	for (uint32_t i = 0; i < r->nstorage; i++)
		printf("            %s in %s\n",
		       cs_size_format(r->storage[i].sectors << 9, b1, sizeof(b1)),
		       safe(r->storage[i].place));
	for (uint32_t i = 0; i < s->nvolumes; i++) {
		const struct cs_set_volume *v = &s->volumes[i];

		printf("  volume:   %s %s (%s, %" PRIu64 " chunks copied)\n", safe(v->origin),
		       v->image[0] ? safe(v->image) : "-",
		       cs_size_format(v->sectors << 9, b1, sizeof(b1)),
		       v->chunks_copied);
	}
	if (revert_mark_path(s->id, t, sizeof(t)) == 0 && !access(t, F_OK))
		printf("  revert:   incomplete: run `snapctl revert %" PRIu64 "' again\n", s->id);
}

static const char show_usage[] = "show SET";

int cmd_show(struct snapctl *ctl, int argc, char **argv)
{
	struct cs_set_show_args a = { 0 };
	struct cs_set_result r = { 0 };
	int ret;

	if (want_help(argc, argv, show_usage, "Shows one set (SET: its id or name) and its "
		      "volumes.\n", ctl))
		return CS_EXIT_OK;
	if (argc != 2)
		return usage_error(ctl, show_usage, argc < 2 ? "no set given" :
				   "unexpected argument `%s'", argv[argc - 1]);
	ret = set_arg(ctl, argv[1], show_usage, &a.id);
	if (ret)
		return ret;
	ret = call(ctl, CS_OP_SET_SHOW, &a, &r);
	if (ret)
		return ret;
	if (ctl->json)
		ret = print_json(ctl, CS_OP_SET_SHOW, &r);
	else
		print_set(&r);
	cs_result_free(CS_OP_SET_SHOW, &r);
	return ret;
}

static const char list_usage[] =
	"list [-H] [-p] [-o FIELD,...] writers|sets|volumes|storage";

static const struct column set_columns[] = {
	{ "ID", 6 }, { "NAME", 12 }, { "STATE", 9 }, { "FLAGS", 12 }, { "TAKEN", 19 },
	{ "USED", 10 }, { "ALLOCATED", 10 }, { "VOLUMES (ORIGIN=IMAGE)", 22 },
};
const struct table_def sets_table = TABLE_DEF(set_columns);

void print_sets(const struct table *t, const struct cs_set_list_result *r)
{
	char id[24], tm[64], used[32], given[32];

	table_header(t);
	for (uint32_t i = 0; i < r->nsets; i++) {
		const struct cs_set *s = &r->sets[i];
		char *vols = NULL;
		size_t len = 0;
		FILE *m = open_memstream(&vols, &len);

		if (!m)
			return;
		for (uint32_t j = 0; j < s->nvolumes; j++)
			fprintf(m, "%s%s=%s", j ? " " : "", safe(s->volumes[j].origin),
				s->volumes[j].image[0] ? safe(s->volumes[j].image) : "-");
		if (fclose(m)) {
			free(vols);
			return;
		}
		snprintf(id, sizeof(id), "%" PRIu64, s->id);
		{
			const char *const cells[] = {
				id, s->name[0] ? safe(s->name) : "-",
				cs_set_state_names[s->state], set_flags(s),
				table_time(t, s->taken_ns, tm, sizeof(tm)),
				table_size(t, s->storage_used << 9, used, sizeof(used)),
				table_size(t, s->storage_sectors << 9, given, sizeof(given)), vols
			};

			table_row(t, cells);
		}
		free(vols);
	}
}

int list_sets(struct snapctl *ctl)
{
	struct cs_set_list_result r = { 0 };
	struct table t;
	int ret;

	/* a bad -o is told before cowsnapd is asked */
	ret = table_init(&t, ctl, &sets_table, stdout, list_usage);
	if (ret)
		return ret;
	ret = call(ctl, CS_OP_SET_LIST, NULL, &r);
	if (ret)
		return ret;
	if (ctl->json)
		ret = print_json(ctl, CS_OP_SET_LIST, &r);
	else
		print_sets(&t, &r);
	cs_result_free(CS_OP_SET_LIST, &r);
	return ret;
}

/* ------------------------------------------------------------------ */

static const struct column volume_columns[] = {
	{ "DEVICE", 16 }, { "MAJ:MIN", 8 }, { "SIZE", 10 }, { "FSTYPE", 8 },
	{ "TRACKED", 9 }, { "SNAPSHOTS", 9 }, { "CHANGED", 10 }, { "MOUNTPOINT", 16 },
};
const struct table_def volumes_table = TABLE_DEF(volume_columns);

void print_volumes(const struct table *t, const struct cs_volume_list_result *r)
{
	char size[32], mm[24], snaps[16];

	table_header(t);
	for (uint32_t i = 0; i < r->nvolumes; i++) {
		const struct cs_volume *v = &r->volumes[i];
		char ch[32] = "-";

		if (v->tracked)
			table_size(t, v->changed_bytes, ch, sizeof(ch));
		snprintf(mm, sizeof(mm), "%u:%u", v->major, v->minor);
		snprintf(snaps, sizeof(snaps), "%u", v->snapshots);
		{
			const char *const cells[] = {
				safe(v->device), mm,
				table_size(t, v->sectors << 9, size, sizeof(size)),
				v->fstype[0] ? safe(v->fstype) : "-",
				v->kept ? "kept" : v->tracked ? "yes" : "no", snaps, ch,
				v->mountpoint[0] ? safe(v->mountpoint) : "-"
			};

			table_row(t, cells);
		}
	}
}

int list_volumes(struct snapctl *ctl)
{
	struct cs_volume_list_result r = { 0 };
	struct table t;
	int ret;

	ret = table_init(&t, ctl, &volumes_table, stdout, list_usage);
	if (ret)
		return ret;
	ret = call(ctl, CS_OP_VOLUME_LIST, NULL, &r);
	if (ret)
		return ret;
	if (ctl->json)
		ret = print_json(ctl, CS_OP_VOLUME_LIST, &r);
	else
		print_volumes(&t, &r);
	cs_result_free(CS_OP_VOLUME_LIST, &r);
	return ret;
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
		return CS_EXIT_OK;
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
		ret = print_json(ctl, keep ? CS_OP_VOLUME_TRACK : CS_OP_VOLUME_UNTRACK, &r);
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
	return ret;
}

int cmd_track(struct snapctl *ctl, int argc, char **argv)
{
	return track(ctl, argc, argv, true);
}

int cmd_untrack(struct snapctl *ctl, int argc, char **argv)
{
	return track(ctl, argc, argv, false);
}

/* the daemon's sizes for a set that storage.conf does not size
 * (daemon/pool.h: CS_POOL_AUTO_PERCENT, CS_POOL_AUTO_MIN) */
#define STORAGE_AUTO_PERCENT	10
#define STORAGE_AUTO_MIN	(16ULL << 20)

static const struct column storage_columns[] = {
	{ "DEVICE", 24 }, { "MAJ:MIN", 8 }, { "SIZE", 10 }, { "USED", 10 }, { "KIND", 9 },
};
const struct table_def storage_table = TABLE_DEF(storage_columns);

void print_storage(const struct table *t, const struct cs_storage_list_result *r)
{
	const char *unit = t->o->exact ? " bytes" : "";
	const struct cs_storage_dev *ram = NULL;
	char b1[32], b2[32], mm[24];

	table_header(t);
	for (uint32_t i = 0; i < r->ndevices; i++) {
		const struct cs_storage_dev *s = &r->devices[i];

		snprintf(mm, sizeof(mm), "%u:%u", s->major, s->minor);
		if (s->kind == CS_STORAGE_RAM)
			ram = s;
		{
			const char *const cells[] = {
				safe(s->device), mm, table_size(t, s->sectors << 9, b1, sizeof(b1)),
				table_size(t, s->used << 9, b2, sizeof(b2)),
				cs_storage_kind_names[s->kind]
			};

			table_row(t, cells);
		}
	}
	/* not rows: a script asking for rows only (-H) does not get them */
	if (t->o->no_header)
		return;
	if (ram)
		fprintf(t->f, "%s is RAM storage (zram): it takes %s%s of memory now, and is "
			"lost at reboot\n", safe(ram->device),
			table_size(t, ram->memory, b1, sizeof(b1)), unit);
	if (r->set_auto)
		fprintf(t->f, "each new set gets %d%% of the size of its volumes, %s%s to %s%s",
			STORAGE_AUTO_PERCENT,
			table_size(t, STORAGE_AUTO_MIN, b1, sizeof(b1)), unit,
			table_size(t, r->set_sectors << 9, b2, sizeof(b2)), unit);
	else
		fprintf(t->f, "each new set gets %s%s",
			table_size(t, r->set_sectors << 9, b1, sizeof(b1)), unit);
	if (r->grow_auto)
		fprintf(t->f, "; a set running low gets as much again\n");
	else
		fprintf(t->f, "; a set running low gets %s%s more\n",
			table_size(t, r->grow_sectors << 9, b2, sizeof(b2)), unit);
	if (r->max_percent)
		fprintf(t->f, "storage files take at most %u%% of a filesystem, and leave "
			"5%% of it free\n", r->max_percent);
	if (r->default_directory[0])
		fprintf(t->f, "no storage is configured: sets get storage files in %s, or in "
			".cowsnap-storage at the top of a filesystem (cowsnap.conf(5))\n",
			safe(r->default_directory));
}

int list_storage(struct snapctl *ctl, const char *usage)
{
	struct cs_empty none = { 0 };
	struct cs_storage_list_result r = { 0 };
	struct table t;
	int ret;

	ret = table_init(&t, ctl, &storage_table, stdout, usage);
	if (ret)
		return ret;
	ret = call(ctl, CS_OP_STORAGE_LIST, &none, &r);
	if (ret)
		return ret;
	if (ctl->json)
		ret = print_json(ctl, CS_OP_STORAGE_LIST, &r);
	else
		print_storage(&t, &r);
	cs_result_free(CS_OP_STORAGE_LIST, &r);
	return ret;
}

static const struct column writer_columns[] = {
	{ "WRITER", 16 }, { "KIND", 12 }, { "ORDER", 9 }, { "STATE", 28 },
	{ "LAST ERROR", 13 }, { "MESSAGE", 16 },
};
const struct table_def writers_table = TABLE_DEF(writer_columns);

void print_writers(const struct table *t, const struct cs_writer_list_result *r)
{
	table_header(t);
	for (uint32_t i = 0; i < r->nwriters; i++) {
		const struct cs_writer_info *w = &r->writers[i];
		char kind[32], name[4 * CS_NAME_MAX + 1], msg[TERM_TEXT_MAX];

		if (w->kind == CS_WRITER_KIND_SOCKET && w->connected)
			snprintf(kind, sizeof(kind), "socket:%u", w->pid);
		else if (w->kind == CS_WRITER_KIND_SOCKET)
			snprintf(kind, sizeof(kind), "socket:gone");
		else
			snprintf(kind, sizeof(kind), "hook");
		{
			const char *const cells[] = {
				term_text(w->name, name, sizeof(name)), kind,
				cs_writer_order_names[w->order], cs_writer_state_names[w->state],
				cs_writer_error_names[w->last_error],
				w->message[0] ? term_text(w->message, msg, sizeof(msg)) : "-"
			};

			table_row(t, cells);
		}
	}
}

int list_writers(struct snapctl *ctl)
{
	struct cs_writer_list_result r = { 0 };
	struct table t;
	int ret;

	ret = table_init(&t, ctl, &writers_table, stdout, list_usage);
	if (ret)
		return ret;
	ret = call(ctl, CS_OP_WRITER_LIST, NULL, &r);
	if (ret)
		return ret;
	if (ctl->json)
		ret = print_json(ctl, CS_OP_WRITER_LIST, &r);
	else
		print_writers(&t, &r);
	cs_result_free(CS_OP_WRITER_LIST, &r);
	return ret;
}

/* The fields of each list, for the help (the bash completion reads them there) */
static void list_fields(void)
{
	static const struct {
		const char *what;
		const struct table_def *def;
	} lists[] = {
		{ "writers", &writers_table }, { "sets", &sets_table },
		{ "volumes", &volumes_table }, { "storage", &storage_table },
	};
	char buf[512];

	printf("Fields:\n");
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		table_fields(lists[i].def, buf, sizeof(buf));
		printf("  %-8s %s\n", lists[i].what, buf);
	}
}

int cmd_list(struct snapctl *ctl, int argc, char **argv)
{
	int ret;

	if (want_help(argc, argv, list_usage,
		      "Lists writers (state and last error of each), shadow copy sets, block\n"
		      "devices (with what the module tracks), or difference storage, as a table.\n"
		      "  -H, --no-header      no header line, and one tab between fields\n"
		      "  -p, --parsable       exact numbers: sizes in bytes, times in seconds\n"
		      "                       since the epoch\n"
		      "  -o, --fields F,...   only the fields F, in that order: a column's\n"
		      "                       header in lower case, blanks as `_', without what\n"
		      "                       is in parentheses\n"
		      "--json, anywhere on the command line, prints the result as JSON instead.\n",
		      ctl)) {
		list_fields();
		return CS_EXIT_OK;
	}
	ret = table_options(ctl, &argc, argv, list_usage);
	if (ret)
		return ret;
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
		return list_storage(ctl, list_usage);
	return usage_error(ctl, list_usage, "cannot list `%s'", argv[1]);
}

static const char storage_usage[] =
	"storage add DEVICE|DIRECTORY|ram:SIZE | remove DEVICE|DIRECTORY|ram | "
	"list [-H] [-p] [-o FIELD,...]";

int cmd_storage(struct snapctl *ctl, int argc, char **argv)
{
	struct cs_storage_args a = { 0 };
	struct cs_storage_list_result r = { 0 };
	struct table t;
	enum cs_op op;
	int ret;

	if (want_help(argc, argv, storage_usage,
		      "Difference storage: block devices that cowsnapd carves for sets, or\n"
		      "directories on ext4 or xfs (root's, writable by root only) where each\n"
		      "set gets immutable storage files.  With none, sets get storage files\n"
		      "in cowsnapd's default places (/var/lib/cowsnap/storage; cowsnap.conf(5)).\n"
		      "`add' and `remove' also update storage.conf in cowsnapd's\n"
		      "configuration directory.  A device holding storage of a set cannot\n"
		      "be removed.  Everything on an added device is overwritten.  A path\n"
		      "with a blank, `#' or a control character cannot be added (storage.conf\n"
		      "cannot hold it): use another name, e.g. under /dev/disk/by-id/.\n"
		      "ram:SIZE (ram:512M, at least 16M, at most half the memory): storage in\n"
		      "RAM, a compressed zram device cowsnapd makes and removes; lost at\n"
		      "reboot, as the sets are.  `remove ram' removes it (no set may use it).\n"
		      "`list' is `snapctl list storage', with its -H, -p and -o.\n", ctl))
		return CS_EXIT_OK;
	if (argc >= 2 && !strcmp(argv[1], "list")) {
		/* `list' stands for the command name there */
		argc--;
		ret = table_options(ctl, &argc, argv + 1, storage_usage);
		if (ret)
			return ret;
		if (argc != 1)
			return usage_error(ctl, storage_usage, "unexpected argument `%s'",
					   argv[argc]);
		return list_storage(ctl, storage_usage);
	}
	if (argc != 3 || (strcmp(argv[1], "add") && strcmp(argv[1], "remove")))
		return usage_error(ctl, storage_usage, argc < 2 ? "no storage command" :
				   "invalid arguments: `%s'", argv[argc - 1]);
	op = argv[1][0] == 'a' ? CS_OP_STORAGE_ADD : CS_OP_STORAGE_REMOVE;
	/* RAM storage: cowsnapd checks the size (a directory called `ram' is
	 * ./ram) */
	if (!strcmp(argv[2], "ram") || !strncmp(argv[2], "ram:", 4)) {
		if (strlen(argv[2]) >= sizeof(a.device))
			return usage_error(ctl, storage_usage, "invalid size: `%.40s...'",
					   argv[2]);
		strcpy(a.device, argv[2]);
		ret = 0;
	} else {
		ret = volume_arg(ctl, argv[2], a.device, sizeof(a.device), storage_usage);
	}
	if (ret)
		return ret;
	ret = call(ctl, op, &a, &r);
	if (ret)
		return ret;
	if (ctl->json) {
		ret = print_json(ctl, op, &r);
	} else {
		table_init(&t, ctl, &storage_table, stdout, storage_usage);
		print_storage(&t, &r);
	}
	cs_result_free(op, &r);
	return ret;
}
