// SPDX-License-Identifier: GPL-2.0-or-later
/* snapctl backup: the whole sequence, with a command run on the images. */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "snapctl.h"

static const char backup_usage[] =
	"backup [--type TYPE] [--no-writers] [--persistent] --exec CMD VOLUME...";

static int run_exec(const char *cmd, const struct cs_set *s, const char *type)
{
	char *pairs = NULL, id[32];
	size_t len = 0;
	FILE *m = open_memstream(&pairs, &len);
	int status;
	pid_t pid;

	if (!m)
		return -1;
	for (uint32_t i = 0; i < s->nvolumes; i++)
		fprintf(m, "%s%s=%s", i ? " " : "", s->volumes[i].origin, s->volumes[i].image);
	fclose(m);
	snprintf(id, sizeof(id), "%" PRIu64, s->id);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		setenv("COWSNAP_SET_ID", id, 1);
		setenv("COWSNAP_SNAPSHOTS", pairs, 1);
		setenv("COWSNAP_BACKUP_TYPE", type, 1);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		perror("/bin/sh");
		_exit(127);
	}
	free(pairs);
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int cmd_backup(struct snapctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "type", required_argument, NULL, 't' },
		{ "no-writers", no_argument, NULL, 'W' },
		{ "persistent", no_argument, NULL, 'p' },
		{ "exec", required_argument, NULL, 'e' },
		{ 0 }
	};
	struct cs_set_create_args a = { .backup = true };
	struct cs_set_result r = { 0 };
	struct cs_backup_complete_args done = { 0 };
	struct cs_empty none = { 0 };
	struct cs_error err = { 0 };
	struct cs_client *c;
	const char *cmd = NULL;
	char real[PATH_MAX];
	int opt, ret, status;

	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		if (!strcmp(argv[i], "--help")) {
			printf("Usage: %s %s\n"
			       "Runs a whole backup: writers prepare and freeze, the set is taken,\n"
			       "writers thaw and get post-snapshot, then CMD runs (/bin/sh -c) with\n"
			       "COWSNAP_SET_ID, COWSNAP_SNAPSHOTS (`ORIGIN=IMAGE ...') and\n"
			       "COWSNAP_BACKUP_TYPE in its environment.  CMD's exit status decides\n"
			       "what writers hear in backup-complete; then the set is deleted\n"
			       "(unless --persistent).  If snapctl dies before that, writers get\n"
			       "backup-shutdown and the set goes.  Exits with 0 when CMD and the\n"
			       "writers succeeded, 1 otherwise.\n"
			       "  --type TYPE   full (default), copy, incremental, differential, log\n",
			       ctl->prog, backup_usage);
			return EXIT_OK;
		}
	}
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (opt) {
		case 't':
			a.backup_type = -1;
			for (int i = 0; cs_backup_type_names[i]; i++)
				if (!strcmp(cs_backup_type_names[i], optarg))
					a.backup_type = i;
			if (a.backup_type < 0)
				return usage_error(ctl, backup_usage, "invalid backup type: `%s'",
						   optarg);
			break;
		case 'W':
			a.no_writers = true;
			break;
		case 'p':
			a.persistent = true;
			break;
		case 'e':
			cmd = optarg;
			break;
		default:
			return usage_error(ctl, backup_usage, "invalid option: `%s'",
					   argv[optind - 1]);
		}
	}
	if (!cmd)
		return usage_error(ctl, backup_usage, "--exec CMD is required");
	if (optind >= argc)
		return usage_error(ctl, backup_usage, "no volume given");
	if (argc - optind > CS_MAX_VOLUMES)
		return usage_error(ctl, backup_usage, "more than %d volumes", CS_MAX_VOLUMES);
	a.nvolumes = (uint32_t)(argc - optind);
	a.volumes = calloc(a.nvolumes, sizeof(*a.volumes));
	if (!a.volumes)
		return EXIT_FAILED;
	for (uint32_t i = 0; i < a.nvolumes; i++) {
		const char *v = argv[optind + (int)i];

		if (v[0] != '/' && !strchr(v, '=')) {
			if (!realpath(v, real)) {
				free(a.volumes);
				return usage_error(ctl, backup_usage, "invalid volume: `%s'", v);
			}
			v = real;
		}
		snprintf(a.volumes[i].spec, sizeof(a.volumes[i].spec), "%s", v);
	}
	(void)none;
	ret = connect_daemon(ctl, &c);
	if (ret) {
		free(a.volumes);
		return ret;
	}
	/* the hook writers' timeouts bound the sequence; allow them */
	cs_client_set_timeout(c, -1);
	ret = cs_call(c, CS_OP_SET_CREATE, &a, &r, &err);
	free(a.volumes);
	if (ret) {
		ret = report_error(ctl, c, ret, &err);
		cs_client_close(c);
		return ret;
	}
	if (r.consistency == CS_CONSISTENCY_CRASH && !a.no_writers)
		fprintf(stderr, "%s: note: set %" PRIu64 " is crash-consistent: no writers are "
			"configured\n", ctl->prog, r.set.id);
	status = run_exec(cmd, &r.set, cs_backup_type_names[a.backup_type]);
	done.id = r.set.id;
	done.success = status == 0;
	cs_result_free(CS_OP_SET_CREATE, &r);
	ret = cs_call(c, CS_OP_BACKUP_COMPLETE, &done, &none, &err);
	if (ret) {
		ret = report_error(ctl, c, ret, &err);
		cs_client_close(c);
		return ret;
	}
	cs_client_close(c);
	if (status) {
		fprintf(stderr, "%s: the backup command failed (%s %d); writers were told the "
			"backup failed\n", ctl->prog, status < 0 ? "cannot run:" : "exit status",
			status);
		return EXIT_FAILED;
	}
	return EXIT_OK;
}
