// SPDX-License-Identifier: GPL-2.0-or-later
/* snapctl: the cowsnap admin tool.  One table of commands, as wg(8) has. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "snapctl.h"

static const struct command commands[] = {
	{ "version", cmd_version, "print the versions of snapctl, cowsnapd and the module" },
	{ "list", cmd_list, "list writers, sets, volumes or difference storage" },
	{ "create", cmd_create, "create a shadow copy set of one or more volumes" },
	{ "delete", cmd_delete, "delete a set, all sets, or the oldest set of a volume" },
	{ "show", cmd_show, "show one set" },
	{ "backup", cmd_backup, "run a backup: writers, take, a command on the images, complete" },
	{ "restore", cmd_restore, "run a restore: writers' pre-restore, a command, post-restore" },
	{ "revert", cmd_revert, "bring volumes back to a set's point in time, in place" },
	{ "mount", cmd_mount, "mount a volume's image of a set (writable ones read-write)" },
	{ "umount", cmd_umount, "unmount an image mounted with mount" },
	{ "storage", cmd_storage, "add, remove or list difference storage (devices, directories, RAM)" },
	{ "track", cmd_track, "keep a volume tracked between backups (changed blocks)" },
	{ "untrack", cmd_untrack, "stop keeping a volume tracked" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f, const char *prog)
{
	fprintf(f, "Usage: %s [--socket PATH] [--json] COMMAND [ARGS]...\n\n"
		"Administers cowsnap shadow copies through the cowsnapd daemon.\n\n"
		"Commands:\n", prog);
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\n`%s COMMAND --help' shows a command's usage.\n\n"
		"Options:\n"
		"  -s, --socket PATH  cowsnapd's socket (default: $" CS_SOCKET_ENV " or\n"
		"                     " CS_DEFAULT_SOCKET ")\n"
		"  -j, --json         machine-readable output, errors included (see\n"
		"                     snapctl(8)); anywhere on the command line before `--'\n"
		"  -h, --help         this help\n"
		"  -V, --version      print snapctl's version only\n\n"
		"Exit status (the table snapread shares):\n"
		"  0  success\n"
		"  1  cowsnapd or the kernel module refused or failed the operation\n"
		"  2  bad usage\n"
		"  3  cowsnapd cannot be reached (not running, wrong socket)\n"
		"  4  cowsnapd refused this user (not root, not in its group)\n"
		"  5  protocol error: versions do not match, garbled reply, timeout\n", prog);
}

/* A bad command line: what is wrong, then the usage, on stderr. */
static int bad_usage(struct snapctl *ctl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int bad_usage(struct snapctl *ctl, const char *fmt, ...)
{
	char msg[TERM_TEXT_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s\n", ctl->prog, msg);
	usage(stderr, ctl->prog);
	json_error(ctl, EINVAL, CS_EXIT_USAGE, msg);
	return CS_EXIT_USAGE;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	struct snapctl ctl = { .prog = "snapctl" };
	int c, ret;

	/* before anything can fail: a failure is told in JSON too */
	argc = take_json(argc, argv, &ctl.json);
	opterr = 0;
	/* '+': options after the command belong to the command */
	while ((c = getopt_long(argc, argv, "+:s:jhV", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			ctl.socket = optarg;
			break;
		case 'j':
			ctl.json = true;
			break;
		case 'h':
			usage(stdout, ctl.prog);
			return CS_EXIT_OK;
		case 'V':
			printf("snapctl %s\n", COWSNAP_VERSION);
			return CS_EXIT_OK;
		case ':':
			return bad_usage(&ctl, "option `%s' needs a value", argv[optind - 1]);
		default:
			return bad_usage(&ctl, "invalid option: `%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc) {
		usage(stderr, ctl.prog);
		json_error(&ctl, EINVAL, CS_EXIT_USAGE, "no command given");
		return CS_EXIT_USAGE;
	}
	for (size_t i = 0; i < NCOMMANDS; i++) {
		if (!strcmp(argv[optind], commands[i].name)) {
			/* each command parses its own argv, argv[0] its name */
			optind++;
			ret = commands[i].fn(&ctl, argc - optind + 1, argv + optind - 1);
			/* every failure tells its own; this is for one that forgot */
			if (ret)
				json_error(&ctl, EIO, ret,
					   "failed; see the message on standard error");
			return ret;
		}
	}
	return report_failure(&ctl, EINVAL, CS_EXIT_USAGE, "invalid command: `%s'; see `%s "
			      "--help'", argv[optind], ctl.prog);
}
