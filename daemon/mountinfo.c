// SPDX-License-Identifier: GPL-2.0-or-later
/* Reading /proc/self/mountinfo.  Pure logic, unit-tested on the host. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mountinfo.h"

/* Decode mountinfo's octal escapes (\040 space, \011 tab, \012, \134). */
static void unescape(char *s)
{
	char *d = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*d++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 4;
		} else {
			*d++ = *s++;
		}
	}
	*d = '\0';
}

static char *next_field(char **p)
{
	char *s = *p, *e;

	while (*s == ' ')
		s++;
	if (!*s)
		return NULL;
	e = strchr(s, ' ');
	if (e) {
		*e = '\0';
		*p = e + 1;
	} else {
		*p = s + strlen(s);
	}
	return s;
}

/*
 * 36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue
 * (1)(2)(3)   (4)   (5)         (6)       (7...)   (8)(9)  (10)     (11)
 */
int cs_mountinfo_parse(char *line, struct cs_mount *m)
{
	char *p = line, *f, *dev, *end, *id, *parent;
	unsigned long ma, mi;

	line[strcspn(line, "\n")] = '\0';
	id = next_field(&p);
	parent = next_field(&p);
	if (!id || !parent)
		return -EINVAL;
	m->id = (unsigned)strtoul(id, &end, 10);
	if (*end)
		return -EINVAL;
	m->parent = (unsigned)strtoul(parent, &end, 10);
	if (*end)
		return -EINVAL;
	dev = next_field(&p);
	if (!dev)
		return -EINVAL;
	ma = strtoul(dev, &end, 10);
	if (end == dev || *end != ':')
		return -EINVAL;
	mi = strtoul(end + 1, &end, 10);
	if (*end || ma > 0xfff || mi > 0xfffff)
		return -EINVAL;
	m->major = (unsigned)ma;
	m->minor = (unsigned)mi;
	m->root = next_field(&p);
	m->mountpoint = next_field(&p);
	if (!m->root || !m->mountpoint || !next_field(&p))
		return -EINVAL;
	/* optional fields up to the separator */
	do {
		f = next_field(&p);
		if (!f)
			return -EINVAL;
	} while (strcmp(f, "-"));
	m->fstype = next_field(&p);
	m->source = next_field(&p);
	if (!m->fstype || !m->source)
		return -EINVAL;
	unescape(m->root);
	unescape(m->mountpoint);
	unescape(m->source);
	return 0;
}

bool cs_path_under(const char *path, const char *mountpoint)
{
	size_t n = strlen(mountpoint);

	if (!strcmp(mountpoint, "/"))
		return path[0] == '/';
	return !strncmp(path, mountpoint, n) && (path[n] == '\0' || path[n] == '/');
}

int cs_mountinfo_find(FILE *f, const char *path, char *line, size_t size,
		      struct cs_mount *m)
{
	char *buf = malloc(size);
	struct cs_mount cur;
	size_t best = 0;
	bool found = false;

	if (!buf)
		return -ENOMEM;
	while (fgets(buf, (int)size, f)) {
		char *copy = strdup(buf);
		size_t n;

		if (!copy) {
			free(buf);
			return -ENOMEM;
		}
		if (cs_mountinfo_parse(copy, &cur)) {
			free(copy);
			continue;
		}
		n = strlen(cur.mountpoint);
		if (cs_path_under(path, cur.mountpoint) && (!found || n >= best)) {
			best = n;
			found = true;
			strcpy(line, buf);
		}
		free(copy);
	}
	free(buf);
	if (!found)
		return -ENOENT;
	return cs_mountinfo_parse(line, m);
}

int cs_mountinfo_find_dev(FILE *f, unsigned major, unsigned minor, char *line,
			  size_t size, struct cs_mount *m)
{
	while (fgets(line, (int)size, f)) {
		char *copy = strdup(line);
		struct cs_mount cur;
		bool match;

		if (!copy)
			return -ENOMEM;
		match = !cs_mountinfo_parse(copy, &cur) && cur.major == major &&
			cur.minor == minor && !strcmp(cur.root, "/");
		free(copy);
		if (match)
			return cs_mountinfo_parse(line, m);
	}
	return -ENOENT;
}
