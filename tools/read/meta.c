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
#include "outfile.h"

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

#define ALL_KEYS	((1U << 12) - 1)	/* all required */
#define FORMAT_KEY	(1U << 12)	/* optional */

/* One "key value" line into m: 0, -EEXIST when the key was given before,
 * -EINVAL when the key or value is bad. */
static int parse_line(struct image_meta *m, const char *key, const char *val,
		      unsigned *seen)
{
	unsigned long long v;
	char *end;

	/* KEY(k, bit) { ... }: the block for key k, which marks it seen and
	 * refuses it the second time */
#define KEY(k, bit) \
	if (!strcmp(key, k) && (*seen & (bit))) \
		return -EEXIST; \
	if (!strcmp(key, k) && (*seen |= (bit)))
#define NUM(k, field, bit) \
	KEY(k, bit) { \
		errno = 0; \
		v = strtoull(val, &end, 10); \
		if (errno || *end || end == val) \
			return -EINVAL; \
		m->field = v; \
		return m->field == v ? 0 : -EINVAL; \
	}
#define STR(k, field, bit) \
	KEY(k, bit) { \
		if (strlen(val) >= sizeof(m->field)) \
			return -EINVAL; \
		strcpy(m->field, val); \
		return 0; \
	}
	KEY("format", FORMAT_KEY)
		return strcmp(val, "1") ? -EINVAL : 0;
	STR("origin", origin, 1 << 0)
	KEY("origin_dev", 1 << 1)
		return sscanf(val, "%u:%u", &m->major, &m->minor) == 2 ? 0 : -EINVAL;
	STR("generation", generation, 1 << 2)
	NUM("cbt_seq", cbt_seq, 1 << 3)
	NUM("set_id", set_id, 1 << 4)
	NUM("chunk_sectors", chunk_sectors, 1 << 5)
	NUM("size", size, 1 << 6)
	KEY("checksum", 1 << 7) {
		/* meta_write's "none" for no checksum */
		if (strlen(val) >= sizeof(m->checksum))
			return -EINVAL;
		strcpy(m->checksum, strcmp(val, "none") ? val : "");
		return 0;
	}
	NUM("image_size", image_size, 1 << 8)
	NUM("image_ino", image_ino, 1 << 9)
	NUM("image_mtime_ns", image_mtime_ns, 1 << 10)
	NUM("complete", complete, 1 << 11)
#undef NUM
#undef STR
#undef KEY
	return -EINVAL;
}

/*
 * IMAGE.cowsnap-meta for reading: not through a symlink, and only when
 * IMAGE's owner put it there (snapread writes both as one user), so that
 * someone who may write IMAGE's directory but not IMAGE cannot have the
 * next --incremental trust metadata of theirs.  NULL with errno and why.
 */
static FILE *meta_open(const char *image, const char *path, char *why, size_t size)
{
	struct stat st, ist;
	FILE *f = NULL;
	int fd, ret;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ELOOP) {
		snprintf(why, size, "%s is a symbolic link, not the file snapread wrote: "
			 "remove it", path);
		errno = EPERM;
		return NULL;
	}
	if (fd < 0) {
		errno = -fail(why, size, errno, "cannot open ", path);
		return NULL;
	}
	if (fstat(fd, &st)) {
		ret = fail(why, size, errno, "cannot stat ", path);
	} else if (stat(image, &ist)) {
		ret = fail(why, size, errno, "cannot stat ", image);
	} else if (!S_ISREG(st.st_mode)) {
		snprintf(why, size, "%s is not a regular file: remove it", path);
		ret = -EPERM;
	} else if (st.st_uid != ist.st_uid) {
		snprintf(why, size, "%s is owned by uid %u and %s by uid %u: not the metadata "
			 "snapread wrote with the image; remove it", path, (unsigned)st.st_uid,
			 image, (unsigned)ist.st_uid);
		ret = -EPERM;
	} else {
		f = fdopen(fd, "r");
		if (f)
			return f;
		ret = fail(why, size, errno, "cannot read ", path);
	}
	close(fd);
	errno = -ret;
	return NULL;
}

int meta_parse(FILE *f, const char *path, struct image_meta *m, char *why, size_t size)
{
	char line[PATH_MAX + 64];
	unsigned seen = 0, lineno = 0;
	int ret;

	memset(m, 0, sizeof(*m));
	while (fgets(line, sizeof(line), f)) {
		char *val;

		lineno++;
		line[strcspn(line, "\n")] = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		val = strchr(line, ' ');
		if (val)
			*val++ = '\0';
		ret = val ? parse_line(m, line, val, &seen) : -EINVAL;
		if (ret == -EEXIST) {
			snprintf(why, size, "%s, line %u: `%.80s' given twice", path, lineno, line);
			return -EINVAL;
		}
		if (ret) {
			snprintf(why, size, "%s, line %u: not understood: `%.80s%s%.80s'",
				 path, lineno, line, val ? " " : "", val ? val : "");
			return -EINVAL;
		}
	}
	if ((seen & ALL_KEYS) != ALL_KEYS) {
		snprintf(why, size, "%s is incomplete (keys missing)", path);
		return -EINVAL;
	}
	return 0;
}

int meta_read(const char *image, struct image_meta *m, char *why, size_t size)
{
	char path[PATH_MAX];
	FILE *f;
	int ret;

	memset(m, 0, sizeof(*m));
	if (meta_path(image, path, sizeof(path)))
		return fail(why, size, ENAMETOOLONG, "", image);
	f = meta_open(image, path, why, size);
	if (!f)
		return -errno;
	ret = meta_parse(f, path, m, why, size);
	fclose(f);
	return ret;
}

int meta_print(FILE *f, const struct image_meta *m)
{
	fprintf(f, "# cowsnap image metadata, written by snapread for --incremental\n"
		"format %d\norigin %s\norigin_dev %u:%u\ngeneration %s\ncbt_seq %u\n"
		"set_id %" PRIu64 "\nchunk_sectors %u\nsize %" PRIu64 "\nchecksum %s\n"
		"image_size %" PRIu64 "\nimage_ino %" PRIu64 "\nimage_mtime_ns %" PRIu64
		"\ncomplete %d\n", META_FORMAT, m->origin, m->major, m->minor,
		m->generation, m->cbt_seq, m->set_id, m->chunk_sectors, m->size,
		m->checksum[0] ? m->checksum : "none", m->image_size, m->image_ino,
		m->image_mtime_ns, m->complete ? 1 : 0);
	return ferror(f) ? -EIO : 0;
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
	/* beside IMAGE, perhaps in /tmp: see outfile.h */
	fd = outfile_create(tmp, why, size);
	if (fd < 0)
		return fd;
	f = fdopen(fd, "w");
	if (!f) {
		ret = fail(why, size, errno, "cannot write ", tmp);
		unlink(tmp);
		close(fd);
		return ret;
	}
	meta_print(f, m);
	if (fflush(f) || fsync(fd))
		ret = errno;
	else if (rename(tmp, path))	/* while open, so locked: see outfile.h */
		ret = errno;
	if (ret)
		unlink(tmp);
	fclose(f);			/* flushed and synced: nothing left to fail */
	if (ret)
		return fail(why, size, ret, "cannot write ", path);
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
