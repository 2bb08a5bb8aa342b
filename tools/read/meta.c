// SPDX-License-Identifier: GPL-2.0
/* The metadata file beside an image: see meta.h for its format. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "meta.h"

#define META_SUFFIX	".cowsnap-meta"
#define META_FORMAT	1

int meta_path(const char *image, char *out, size_t size)
{
	return snprintf(out, size, "%s" META_SUFFIX, image) >= (int)size ? -1 : 0;
}

/* "WHAT ARG: strerror(err)" into why; returns -err. */
static int fail(char *why, size_t size, int err, const char *what, const char *arg)
{
	snprintf(why, size, "%s%s: %s", what, arg, strerror(err));
	return -err;
}

/* One "key value" line into m; false when the key or value is bad. */
static bool parse_line(struct image_meta *m, const char *key, const char *val,
		       unsigned *seen)
{
	unsigned long long v;
	char *end;

#define NUM(k, field, bit) \
	if (!strcmp(key, k)) { \
		errno = 0; \
		v = strtoull(val, &end, 10); \
		if (errno || *end || end == val) \
			return false; \
		m->field = v; \
		if (m->field != v) \
			return false; \
		*seen |= bit; \
		return true; \
	}
#define STR(k, field, bit) \
	if (!strcmp(key, k)) { \
		if (strlen(val) >= sizeof(m->field)) \
			return false; \
		strcpy(m->field, val); \
		*seen |= bit; \
		return true; \
	}
	if (!strcmp(key, "format"))
		return !strcmp(val, "1");
	STR("origin", origin, 1 << 0)
	if (!strcmp(key, "origin_dev")) {
		if (sscanf(val, "%u:%u", &m->major, &m->minor) != 2)
			return false;
		*seen |= 1 << 1;
		return true;
	}
	STR("generation", generation, 1 << 2)
	NUM("cbt_seq", cbt_seq, 1 << 3)
	NUM("set_id", set_id, 1 << 4)
	NUM("chunk_sectors", chunk_sectors, 1 << 5)
	NUM("size", size, 1 << 6)
	STR("checksum", checksum, 1 << 7)
	NUM("image_size", image_size, 1 << 8)
	NUM("image_ino", image_ino, 1 << 9)
	NUM("image_mtime_ns", image_mtime_ns, 1 << 10)
	NUM("complete", complete, 1 << 11)
#undef NUM
#undef STR
	return false;
}

#define ALL_KEYS	((1U << 12) - 1)

int meta_read(const char *image, struct image_meta *m, char *why, size_t size)
{
	char path[PATH_MAX], line[PATH_MAX + 64];
	unsigned seen = 0, lineno = 0;
	FILE *f;

	memset(m, 0, sizeof(*m));
	if (meta_path(image, path, sizeof(path)))
		return fail(why, size, ENAMETOOLONG, "", image);
	f = fopen(path, "re");
	if (!f)
		return fail(why, size, errno, "cannot open ", path);
	while (fgets(line, sizeof(line), f)) {
		char *val;

		lineno++;
		line[strcspn(line, "\n")] = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		val = strchr(line, ' ');
		if (val)
			*val++ = '\0';
		if (!val || !parse_line(m, line, val, &seen)) {
			fclose(f);
			snprintf(why, size, "%s, line %u: not understood: `%.80s%s%.80s'",
				 path, lineno, line, val ? " " : "", val ? val : "");
			return -EINVAL;
		}
	}
	fclose(f);
	if (seen != ALL_KEYS) {
		snprintf(why, size, "%s is incomplete (keys missing)", path);
		return -EINVAL;
	}
	return 0;
}

int meta_write(const char *image, struct image_meta *m, char *why, size_t size)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8], dir[PATH_MAX];
	struct stat st;
	FILE *f;
	int fd, ret = 0;

	if (meta_path(image, path, sizeof(path)) ||
	    snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return fail(why, size, ENAMETOOLONG, "", image);
	if (stat(image, &st))
		return fail(why, size, errno, "cannot stat ", image);
	m->image_size = (uint64_t)st.st_size;
	m->image_ino = (uint64_t)st.st_ino;
	m->image_mtime_ns = (uint64_t)st.st_mtim.tv_sec * 1000000000ULL +
			    (uint64_t)st.st_mtim.tv_nsec;
	f = fopen(tmp, "we");
	if (!f)
		return fail(why, size, errno, "cannot create ", tmp);
	fprintf(f, "# cowsnap image metadata, written by snapread for --incremental\n"
		"format %d\norigin %s\norigin_dev %u:%u\ngeneration %s\ncbt_seq %u\n"
		"set_id %" PRIu64 "\nchunk_sectors %u\nsize %" PRIu64 "\nchecksum %s\n"
		"image_size %" PRIu64 "\nimage_ino %" PRIu64 "\nimage_mtime_ns %" PRIu64
		"\ncomplete %d\n", META_FORMAT, m->origin, m->major, m->minor,
		m->generation, m->cbt_seq, m->set_id, m->chunk_sectors, m->size,
		m->checksum[0] ? m->checksum : "none", m->image_size, m->image_ino,
		m->image_mtime_ns, m->complete ? 1 : 0);
	if (fflush(f) || fsync(fileno(f)))
		ret = errno;
	if (fclose(f) && !ret)
		ret = errno;
	if (!ret && rename(tmp, path))
		ret = errno;
	if (ret) {
		unlink(tmp);
		return fail(why, size, ret, "cannot write ", path);
	}
	/* the rename itself must last */
	snprintf(dir, sizeof(dir), "%s", path);
	fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	return 0;
}

void meta_remove(const char *image)
{
	char path[PATH_MAX];

	if (!meta_path(image, path, sizeof(path)))
		unlink(path);
}
