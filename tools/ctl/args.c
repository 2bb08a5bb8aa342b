// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * --json anywhere on the command line: `snapctl list sets --json' as well as
 * `snapctl --json list sets', since a script adds it where it adds options.
 * It is taken out of argv before anything parses it, so that the commands,
 * each with its own getopt, never see it.
 */
#include <string.h>

#include "snapctl.h"

/*
 * The options, global or of a command, whose value is the next word: that
 * word is a value, even when it reads `--json' (`backup --exec --json' runs
 * a command of that name).  Kept in step with the getopt tables of main.c,
 * sets.c, backup.c and table.c; a new such option belongs here too.
 */
static const char *const takes_value[] = {
	"-s", "--socket",
	"--chunk-size",
	"--type", "--exec", "--component", "--save-metadata", "--metadata",
	"--oldest",
	"-o", "--fields",
};

static bool value_follows(const char *arg)
{
	for (size_t i = 0; i < sizeof(takes_value) / sizeof(takes_value[0]); i++)
		if (!strcmp(arg, takes_value[i]))
			return true;
	return false;
}

int take_json(int argc, char **argv, bool *json)
{
	int i, n = 1;

	for (i = 1; i < argc; i++) {
		/* after `--', words are words: a volume may be called --json */
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "-j")) {
			*json = true;
			continue;
		}
		argv[n++] = argv[i];
		if (value_follows(argv[i]) && i + 1 < argc)
			argv[n++] = argv[++i];
	}
	while (i < argc)
		argv[n++] = argv[i++];
	argv[n] = NULL;
	return n;
}
