/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef COWSNAPD_MOUNTINFO_H
#define COWSNAPD_MOUNTINFO_H

#include <stdbool.h>
#include <stdio.h>

/* One line of /proc/self/mountinfo; the strings point into the line. */
struct cs_mount {
	unsigned id, parent;	/* mount ids: this mount's, its parent's */
	unsigned major, minor;
	char *root;		/* root of the mount within its filesystem */
	char *mountpoint;
	char *fstype;
	char *source;		/* "/dev/sda1", "tmpfs", ... */
};

/* Parse a line in place (octal escapes such as \040 are decoded).
 * Returns 0, or -EINVAL when the line does not have mountinfo's shape. */
int cs_mountinfo_parse(char *line, struct cs_mount *m);

/* Is path at or below mountpoint?  Both absolute and normalized. */
bool cs_path_under(const char *path, const char *mountpoint);

/*
 * The mount that holds the absolute, normalized path: the last mount (in
 * file order, so over-mounts win) with the longest mount point containing
 * path.  Copies that line into line (size bytes) and parses it into m.
 * Returns 0, -ENOENT when none matches, -EINVAL on malformed input.
 */
int cs_mountinfo_find(FILE *f, const char *path, char *line, size_t size,
		      struct cs_mount *m);

/* The first mount of major:minor (for `list volumes'); as above. */
int cs_mountinfo_find_dev(FILE *f, unsigned major, unsigned minor, char *line,
			  size_t size, struct cs_mount *m);

#endif
