// SPDX-License-Identifier: GPL-2.0
/* The line syntax shared by cowsnapd's configuration files. */
#include <errno.h>
#include <string.h>

#include "conf.h"

int cs_conf_split(char *line, const char *file, unsigned int lineno,
		  char **key, char **val, struct cs_error *err)
{
	char *save, *extra;

	line[strcspn(line, "#\n")] = '\0';
	*key = strtok_r(line, " \t", &save);
	if (!*key)
		return 0;
	*val = strtok_r(NULL, " \t", &save);
	extra = strtok_r(NULL, " \t", &save);
	if (!*val || extra) {
		cs_error_set(err, EINVAL, "%s:%u: `%s' takes one value", file, lineno, *key);
		return -EINVAL;
	}
	return 1;
}
