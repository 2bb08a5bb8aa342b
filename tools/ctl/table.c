// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The tables of `snapctl list', for people and for scripts, in the manner of
 * `zfs list -H -p -o' and `lvs -o': aligned under a header by default; -H
 * drops the header and puts one tab between fields (a field never holds a
 * tab: text from the system and from writers is escaped, see term.c); -p
 * prints sizes in bytes and times in seconds since the epoch; -o chooses the
 * columns, by name, in the order given.  Each list describes its columns
 * once (sets.c) and gives its rows as text; all of the above is done here.
 */
#include <ctype.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "snapctl.h"

int table_options(struct snapctl *ctl, int *argc, char **argv, const char *usage)
{
	static const struct option opts[] = {
		{ "no-header", no_argument, NULL, 'H' },
		{ "parsable", no_argument, NULL, 'p' },
		{ "fields", required_argument, NULL, 'o' },
		{ 0 }
	};
	struct table_opts *o = &ctl->table;
	int c, n = 1;

	/* 0, not 1: glibc's getopt takes '-' (below) only when it starts over,
	 * and main() left it started with '+' */
	optind = 0;
	opterr = 0;
	/* '-': the other words come back in order (as 1), wherever they are */
	while ((c = getopt_long(*argc, argv, "-:Hpo:", opts, NULL)) != -1) {
		switch (c) {
		case 1:
			argv[n++] = optarg;
			break;
		case 'H':
			o->no_header = true;
			break;
		case 'p':
			o->exact = true;
			break;
		case 'o':
			o->fields = optarg;
			break;
		case ':':
			return usage_error(ctl, usage, "option `%s' needs a value",
					   argv[optind - 1]);
		default:
			return usage_error(ctl, usage, "invalid option: `%s'", argv[optind - 1]);
		}
	}
	/* after `--' */
	while (optind < *argc)
		argv[n++] = argv[optind++];
	argv[n] = NULL;
	*argc = n;
	if (ctl->json && (o->no_header || o->exact || o->fields))
		return usage_error(ctl, usage, "-H, -p and -o shape tables; --json prints every "
				   "field as it is");
	return 0;
}

const char *column_name(const struct column *c, char *buf, size_t size)
{
	const char *end = strstr(c->header, " (");
	size_t n = end ? (size_t)(end - c->header) : strlen(c->header);

	if (n >= size)
		n = size - 1;
	for (size_t i = 0; i < n; i++)
		buf[i] = c->header[i] == ' ' ? '_' : (char)tolower((unsigned char)c->header[i]);
	buf[n] = '\0';
	return buf;
}

void table_fields(const struct table_def *def, char *buf, size_t size)
{
	char name[64];
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < def->ncols && len < size; i++)
		len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? ", " : "",
					column_name(&def->cols[i], name, sizeof(name)));
}

int table_init(struct table *t, struct snapctl *ctl, const struct table_def *def, FILE *f,
	       const char *usage)
{
	const char *p = ctl->table.fields;
	char name[64], valid[512];

	memset(t, 0, sizeof(*t));
	t->f = f;
	t->o = &ctl->table;
	t->def = def;
	if (!p) {
		for (size_t i = 0; i < def->ncols; i++)
			t->sel[t->nsel++] = i;
		return 0;
	}
	for (;;) {
		size_t len = strcspn(p, ","), i;

		for (i = 0; i < def->ncols; i++) {
			column_name(&def->cols[i], name, sizeof(name));
			if (strlen(name) == len && !strncmp(p, name, len))
				break;
		}
		if (i == def->ncols) {
			table_fields(def, valid, sizeof(valid));
			return usage_error(ctl, usage, "unknown field `%.*s'; the fields are: %s",
					   (int)len, p, valid);
		}
		if (t->nsel == TABLE_MAX_FIELDS)
			return usage_error(ctl, usage, "more than %d fields", TABLE_MAX_FIELDS);
		t->sel[t->nsel++] = i;
		if (!p[len])
			return 0;
		p += len + 1;
	}
}

/*
 * Aligned, each field is padded to its column's width and followed by a
 * blank, but the last: the tables print as they did before -H, -p and -o,
 * down to the byte (scripts and udev's helper read them).  An empty last
 * field leaves no blank behind.
 */
void table_row(const struct table *t, const char *const cells[])
{
	for (size_t i = 0; i < t->nsel; i++) {
		const struct column *c = &t->def->cols[t->sel[i]];
		const char *s = cells[t->sel[i]];
		bool last = i + 1 == t->nsel;
		int width = c->width;

		/* a header wider than the width given widens the column */
		if (width < (int)strlen(c->header))
			width = (int)strlen(c->header);
		if (t->o->no_header)
			fprintf(t->f, "%s%s", i ? "\t" : "", s);
		else if (last)
			fprintf(t->f, "%s%s", i && *s ? " " : "", s);
		else
			fprintf(t->f, "%s%-*s", i ? " " : "", width, s);
	}
	fputc('\n', t->f);
}

void table_header(const struct table *t)
{
	const char *cells[TABLE_MAX_FIELDS];

	if (t->o->no_header)
		return;
	for (size_t i = 0; i < t->def->ncols && i < TABLE_MAX_FIELDS; i++)
		cells[i] = t->def->cols[i].header;
	table_row(t, cells);
}

const char *table_size(const struct table *t, uint64_t bytes, char *buf, size_t size)
{
	if (!t->o->exact)
		return cs_size_format(bytes, buf, size);
	snprintf(buf, size, "%" PRIu64, bytes);
	return buf;
}

const char *table_time(const struct table *t, uint64_t ns, char *buf, size_t size)
{
	time_t s = (time_t)(ns / 1000000000ULL);
	struct tm tm;

	if (!ns)
		return "-";
	if (t->o->exact) {
		snprintf(buf, size, "%lld", (long long)s);
		return buf;
	}
	localtime_r(&s, &tm);
	strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
	return buf;
}
