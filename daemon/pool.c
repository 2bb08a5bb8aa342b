// SPDX-License-Identifier: GPL-2.0-or-later
/* Difference-storage bookkeeping (see pool.h).  Pure logic. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "pool.h"
#include "size.h"

/* set-size and grow-size: cs_size_parse's syntax, whole MiB, not 0. */
static int parse_pool_size(const char *s, uint64_t *sectors)
{
	uint64_t bytes;

	if (cs_size_parse(s, &bytes) || !bytes || bytes % (CS_POOL_ALIGN * 512))
		return -EINVAL;
	*sectors = bytes / 512;
	return 0;
}

void cs_pool_conf_free(struct cs_pool_conf *c)
{
	for (size_t i = 0; i < c->ndevices; i++)
		free(c->devices[i]);
	free(c->devices);
	for (size_t i = 0; i < c->ndirectories; i++)
		free(c->directories[i]);
	free(c->directories);
	memset(c, 0, sizeof(*c));
}

static int push_path(char ***list, size_t *n, const char *path)
{
	char **l = realloc(*list, (*n + 1) * sizeof(*l));

	if (!l)
		return -ENOMEM;
	*list = l;
	l[*n] = strdup(path);
	if (!l[*n])
		return -ENOMEM;
	(*n)++;
	return 0;
}

/*
 * What keeps a storage.conf line from holding path as it is (the syntax
 * has no quoting: blanks separate, `#' comments, the newline ends the line),
 * written to what; 0 when nothing does.
 */
static int path_problem(const char *path, char *what, size_t size)
{
	size_t i;

	if (path[0] != '/') {
		snprintf(what, size, "`%.64s' is not an absolute path", path);
		return -EINVAL;
	}
	for (i = 0; path[i]; i++) {
		unsigned char ch = (unsigned char)path[i];

		if (ch >= 0x20 && ch != 0x7f && ch != ' ' && ch != '#')
			continue;
		if (ch == ' ' || ch == '#')
			snprintf(what, size, "`%.*s%s' is followed by %s", (int)(i < 128 ? i : 128),
				 path, i > 128 ? "..." : "", ch == ' ' ? "a blank" : "`#'");
		else
			snprintf(what, size, "`%.*s%s' is followed by control character 0x%02x",
				 (int)(i < 128 ? i : 128), path, i > 128 ? "..." : "", ch);
		return -EINVAL;
	}
	if (i > CS_PATH_MAX) {
		snprintf(what, size, "`%.64s...' is longer than %d bytes", path, CS_PATH_MAX);
		return -ENAMETOOLONG;
	}
	return 0;
}

int cs_pool_conf_device_line(const char *path, char *buf, size_t size, struct cs_error *err)
{
	char what[CS_ERRMSG_MAX / 2];
	int ret = path_problem(path, what, sizeof(what));

	if (ret) {
		cs_error_set(err, -ret, "storage device path %s, which storage.conf cannot "
			     "hold; name the device by another path (no blanks, `#' or control "
			     "characters), such as one under /dev/disk/by-id/", what);
		return ret;
	}
	if ((size_t)snprintf(buf, size, "device %s\n", path) >= size) {
		cs_error_set(err, ENAMETOOLONG, "storage device path `%.64s...' is too long", path);
		return -ENAMETOOLONG;
	}
	return 0;
}

int cs_pool_conf_directory_line(const char *path, char *buf, size_t size,
				struct cs_error *err)
{
	char what[CS_ERRMSG_MAX / 2];
	int ret = path_problem(path, what, sizeof(what));

	if (ret) {
		cs_error_set(err, -ret, "storage directory path %s, which storage.conf cannot "
			     "hold; use a directory whose path has no blanks, `#' or control "
			     "characters", what);
		return ret;
	}
	if ((size_t)snprintf(buf, size, "directory %s\n", path) >= size) {
		cs_error_set(err, ENAMETOOLONG, "storage directory path `%.64s...' is too long",
			     path);
		return -ENAMETOOLONG;
	}
	return 0;
}

int cs_pool_ram_size(const char *s, uint64_t *bytes, struct cs_error *err)
{
	uint64_t b;

	if (!cs_size_parse(s, &b) && b < CS_POOL_RAM_MIN * 512) {
		cs_error_set(err, EINVAL, "RAM storage of %.64s is too small: a set needs at "
			     "least %lluM; give ram:%lluM or more", s, CS_POOL_RAM_MIN / 2048,
			     CS_POOL_RAM_MIN / 2048);
		return -EINVAL;
	}
	if (cs_size_parse(s, &b) || b % (CS_POOL_ALIGN * 512)) {
		cs_error_set(err, EINVAL, "invalid RAM storage size `%.64s' (a whole number of "
			     "MiB: 64M, 512M, 2G)", s);
		return -EINVAL;
	}
	*bytes = b;
	return 0;
}

int cs_pool_ram_fits(uint64_t bytes, uint64_t mem_total, struct cs_error *err)
{
	uint64_t most = mem_total / CS_POOL_RAM_SHARE / (CS_POOL_ALIGN * 512);

	if (bytes / (CS_POOL_ALIGN * 512) <= most)
		return 0;
	if (most < CS_POOL_RAM_MIN / 2048)
		cs_error_set(err, ERANGE, "RAM storage of %" PRIu64 "M is more than 1/%d of this "
			     "host's memory (%" PRIu64 " MiB), and this host has too little for "
			     "any: use a device or a directory (snapctl storage add "
			     "DEVICE|DIRECTORY)", bytes >> 20, CS_POOL_RAM_SHARE, mem_total >> 20);
	else
		cs_error_set(err, ERANGE, "RAM storage of %" PRIu64 "M is more than 1/%d of this "
			     "host's memory (%" PRIu64 " MiB), which the system needs: give at "
			     "most ram:%" PRIu64 "M, or use a device or a directory (snapctl "
			     "storage add DEVICE|DIRECTORY)", bytes >> 20, CS_POOL_RAM_SHARE,
			     mem_total >> 20, most);
	return -ERANGE;
}

/* max-percent: a whole number, 1..CS_POOL_MAX_PERCENT_MAX */
static int parse_percent(const char *s, unsigned *percent)
{
	unsigned long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	v = strtoul(s, &end, 10);
	if (*end || !v || v > CS_POOL_MAX_PERCENT_MAX)
		return -EINVAL;
	*percent = (unsigned)v;
	return 0;
}

int cs_pool_conf_parse(FILE *f, const char *name, struct cs_pool_conf *c,
		       struct cs_error *err)
{
	char line[CS_PATH_MAX + 64], *key, *val;
	bool set_given = false, grow_given = false;
	unsigned lineno = 0;
	int ret;

	memset(c, 0, sizeof(*c));
	c->set_sectors = CS_POOL_DEFAULT_SET;
	c->max_percent = CS_POOL_MAX_PERCENT;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			cs_error_set(err, EINVAL, "%s:%u: line too long", name, lineno);
			goto fail;
		}
		ret = cs_conf_split(line, name, lineno, &key, &val, err);
		if (ret < 0)
			goto fail;
		if (!ret)
			continue;
		if (!strcmp(key, "device") || !strcmp(key, "directory")) {
			char what[CS_ERRMSG_MAX / 2];

			if (path_problem(val, what, sizeof(what))) {
				cs_error_set(err, EINVAL, "%s:%u: %s %s", name, lineno, key, what);
				goto fail;
			}
			if (key[1] == 'e' ? push_path(&c->devices, &c->ndevices, val) :
			    push_path(&c->directories, &c->ndirectories, val))
				goto nomem;
		} else if (!strcmp(key, "set-size") || !strcmp(key, "grow-size")) {
			uint64_t s;

			if (parse_pool_size(val, &s)) {
				cs_error_set(err, EINVAL, "%s:%u: invalid size `%s' (a whole "
					     "multiple of 1M: 256M, 1536M, 2G)", name, lineno, val);
				goto fail;
			}
			if (key[0] == 's') {
				c->set_sectors = s;
				set_given = true;
			} else {
				c->grow_sectors = s;
				grow_given = true;
			}
		} else if (!strcmp(key, "ram")) {
			struct cs_error e;

			if (c->ram_bytes) {
				cs_error_set(err, EINVAL, "%s:%u: a second `ram' line (RAM storage "
					     "is one device: give its size once)", name, lineno);
				goto fail;
			}
			if (cs_pool_ram_size(val, &c->ram_bytes, &e)) {
				cs_error_set(err, EINVAL, "%s:%u: %s", name, lineno, e.message);
				goto fail;
			}
		} else if (!strcmp(key, "max-percent")) {
			if (parse_percent(val, &c->max_percent)) {
				cs_error_set(err, EINVAL, "%s:%u: invalid max-percent `%s' (a "
					     "whole number from 1 to %d)", name, lineno, val,
					     CS_POOL_MAX_PERCENT_MAX);
				goto fail;
			}
		} else {
			cs_error_set(err, EINVAL, "%s:%u: unknown setting `%s'", name, lineno, key);
			goto fail;
		}
	}
	if (!grow_given)
		c->grow_sectors = c->set_sectors;
	c->set_auto = !set_given;
	c->grow_auto = !set_given && !grow_given;
	return 0;
nomem:
	cs_error_set(err, ENOMEM, "out of memory");
fail:
	cs_pool_conf_free(c);
	return -err->code;
}

void cs_pool_init(struct cs_pool *p)
{
	memset(p, 0, sizeof(*p));
	p->set_sectors = CS_POOL_DEFAULT_SET;
	p->grow_sectors = CS_POOL_DEFAULT_SET;
	p->set_auto = p->grow_auto = true;
	p->max_percent = CS_POOL_MAX_PERCENT;
	p->ram_index = -1;
}

static uint64_t align_up(uint64_t sectors)
{
	return (sectors + CS_POOL_ALIGN - 1) / CS_POOL_ALIGN * CS_POOL_ALIGN;
}

uint64_t cs_pool_auto_sectors(uint64_t vol_sectors)
{
	/* no overflow: a volume has fewer than 2^64 / 100 sectors */
	uint64_t s = align_up(vol_sectors / 100 * CS_POOL_AUTO_PERCENT +
			      vol_sectors % 100 * CS_POOL_AUTO_PERCENT / 100);

	if (s < CS_POOL_AUTO_MIN)
		return CS_POOL_AUTO_MIN;
	return s > CS_POOL_DEFAULT_SET ? CS_POOL_DEFAULT_SET : s;
}

uint64_t cs_pool_first_sectors(const struct cs_pool *p, uint64_t vol_sectors)
{
	return p->set_auto ? cs_pool_auto_sectors(vol_sectors) : align_up(p->set_sectors);
}

uint64_t cs_pool_grow_sectors(const struct cs_pool *p, uint64_t vol_sectors)
{
	return p->grow_auto ? cs_pool_auto_sectors(vol_sectors) : align_up(p->grow_sectors);
}

uint64_t cs_pool_file_room(uint64_t fs_sectors, uint64_t avail_sectors,
			   uint64_t files_sectors, unsigned max_percent, bool *ceiling)
{
	uint64_t keep = fs_sectors / 100 * CS_POOL_KEEP_FREE_PERCENT +
			fs_sectors % 100 * CS_POOL_KEEP_FREE_PERCENT / 100;
	uint64_t cap = fs_sectors / 100 * max_percent + fs_sectors % 100 * max_percent / 100;
	uint64_t by_free = avail_sectors > keep ? avail_sectors - keep : 0;
	uint64_t by_cap = cap > files_sectors ? cap - files_sectors : 0;

	if (ceiling)
		*ceiling = by_cap < by_free;
	return (by_cap < by_free ? by_cap : by_free) / CS_POOL_ALIGN * CS_POOL_ALIGN;
}

void cs_pool_free(struct cs_pool *p)
{
	for (size_t i = 0; i < p->ndevs; i++)
		free(p->devs[i].free);
	free(p->devs);
	free(p->allocs);
	free(p->dirs);
	p->devs = NULL;
	p->allocs = NULL;
	p->dirs = NULL;
	p->ndevs = p->nallocs = p->ndirs = 0;
}

int cs_pool_add_dir(struct cs_pool *p, const char *path, uint32_t major, uint32_t minor,
		    struct cs_error *err)
{
	struct cs_pool_dir *d;

	for (size_t i = 0; i < p->ndirs; i++) {
		if (!strcmp(p->dirs[i].path, path)) {
			cs_error_set(err, EEXIST, "%s is already storage", path);
			return -EEXIST;
		}
	}
	if (strlen(path) > CS_PATH_MAX) {
		cs_error_set(err, ENAMETOOLONG, "%.64s...: path too long", path);
		return -ENAMETOOLONG;
	}
	d = realloc(p->dirs, (p->ndirs + 1) * sizeof(*d));
	if (!d) {
		cs_error_set(err, ENOMEM, "out of memory");
		return -ENOMEM;
	}
	p->dirs = d;
	d = &p->dirs[p->ndirs++];
	strcpy(d->path, path);
	d->major = major;
	d->minor = minor;
	return 0;
}

int cs_pool_remove_dir(struct cs_pool *p, const char *path, struct cs_error *err)
{
	for (size_t i = 0; i < p->ndirs; i++) {
		if (strcmp(p->dirs[i].path, path))
			continue;
		memmove(&p->dirs[i], &p->dirs[i + 1], (p->ndirs - i - 1) * sizeof(p->dirs[0]));
		p->ndirs--;
		return 0;
	}
	cs_error_set(err, ENOENT, "%s is not a storage directory", path);
	return -ENOENT;
}

struct cs_pool_dev *cs_pool_find_dev(struct cs_pool *p, uint32_t major, uint32_t minor)
{
	for (size_t i = 0; i < p->ndevs; i++)
		if (p->devs[i].major == major && p->devs[i].minor == minor)
			return &p->devs[i];
	return NULL;
}

int cs_pool_add_dev(struct cs_pool *p, const char *path, uint32_t major,
		    uint32_t minor, uint64_t sectors, struct cs_error *err)
{
	struct cs_pool_dev *d;
	uint64_t usable = sectors / CS_POOL_ALIGN * CS_POOL_ALIGN;

	if (cs_pool_find_dev(p, major, minor)) {
		cs_error_set(err, EEXIST, "%s (%u:%u) is already storage", path, major, minor);
		return -EEXIST;
	}
	if (strlen(path) > CS_PATH_MAX || !usable) {
		cs_error_set(err, EINVAL, "%s is too small to be storage (less than 1 MiB)", path);
		return -EINVAL;
	}
	d = realloc(p->devs, (p->ndevs + 1) * sizeof(*d));
	if (!d)
		goto nomem;
	p->devs = d;
	d = &p->devs[p->ndevs];
	memset(d, 0, sizeof(*d));
	strcpy(d->path, path);
	d->major = major;
	d->minor = minor;
	d->sectors = usable;
	d->free = malloc(sizeof(*d->free));
	if (!d->free)
		goto nomem;
	d->free[0] = (struct cs_extent){ 0, usable };
	d->nfree = 1;
	p->ndevs++;
	return 0;
nomem:
	cs_error_set(err, ENOMEM, "out of memory");
	return -ENOMEM;
}

int cs_pool_remove_dev(struct cs_pool *p, uint32_t major, uint32_t minor,
		       struct cs_error *err)
{
	struct cs_pool_dev *d = cs_pool_find_dev(p, major, minor);
	size_t i;

	if (!d) {
		cs_error_set(err, ENOENT, "%u:%u is not storage", major, minor);
		return -ENOENT;
	}
	for (i = 0; i < p->nallocs; i++) {
		if (p->allocs[i].major == major && p->allocs[i].minor == minor) {
			cs_error_set(err, EBUSY, "%s holds storage of set %" PRIu64
				     "; delete that set first", d->path, p->allocs[i].set_id);
			return -EBUSY;
		}
	}
	free(d->free);
	i = (size_t)(d - p->devs);
	memmove(d, d + 1, (p->ndevs - i - 1) * sizeof(*d));
	p->ndevs--;
	return 0;
}

uint64_t cs_pool_dev_used(const struct cs_pool_dev *d)
{
	uint64_t f = 0;

	for (size_t i = 0; i < d->nfree; i++)
		f += d->free[i].len;
	return d->sectors - f;
}

/* Take [start, start+len) out of d's free list; it must lie in one extent. */
static int take(struct cs_pool_dev *d, uint64_t start, uint64_t len)
{
	for (size_t i = 0; i < d->nfree; i++) {
		struct cs_extent *e = &d->free[i];
		uint64_t end = start + len, eend = e->start + e->len;

		/* len > eend - start: end would be past eend, or wrap */
		if (start < e->start || start > eend || len > eend - start)
			continue;
		if (start == e->start && end == eend) {
			memmove(e, e + 1, (d->nfree - i - 1) * sizeof(*e));
			d->nfree--;
		} else if (start == e->start) {
			e->start = end;
			e->len -= len;
		} else if (end == eend) {
			e->len -= len;
		} else {
			struct cs_extent *n = realloc(d->free, (d->nfree + 1) * sizeof(*n));

			if (!n)
				return -ENOMEM;
			d->free = n;
			e = &d->free[i];
			memmove(e + 2, e + 1, (d->nfree - i - 1) * sizeof(*e));
			e[1] = (struct cs_extent){ end, eend - end };
			e->len = start - e->start;
			d->nfree++;
		}
		return 0;
	}
	return -EEXIST;
}

/* Put a range back, coalescing with its neighbours. */
static int give_back(struct cs_pool_dev *d, uint64_t start, uint64_t len)
{
	size_t i = 0;
	struct cs_extent *n;

	while (i < d->nfree && d->free[i].start < start)
		i++;
	n = realloc(d->free, (d->nfree + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	d->free = n;
	memmove(&n[i + 1], &n[i], (d->nfree - i) * sizeof(*n));
	n[i] = (struct cs_extent){ start, len };
	d->nfree++;
	if (i + 1 < d->nfree && n[i].start + n[i].len == n[i + 1].start) {
		n[i].len += n[i + 1].len;
		memmove(&n[i + 1], &n[i + 2], (d->nfree - i - 2) * sizeof(*n));
		d->nfree--;
	}
	if (i > 0 && n[i - 1].start + n[i - 1].len == n[i].start) {
		n[i - 1].len += n[i].len;
		memmove(&n[i], &n[i + 1], (d->nfree - i - 1) * sizeof(*n));
		d->nfree--;
	}
	return 0;
}

static bool avoided(const struct cs_pool_dev *d, const uint32_t (*avoid)[2], size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (avoid[i][0] == d->major && avoid[i][1] == d->minor)
			return true;
	return false;
}

static int push_alloc(struct cs_pool *p, const struct cs_alloc *a)
{
	struct cs_alloc *n = realloc(p->allocs, (p->nallocs + 1) * sizeof(*n));

	if (!n)
		return -ENOMEM;
	p->allocs = n;
	n[p->nallocs++] = *a;
	return 0;
}

int cs_pool_alloc(struct cs_pool *p, uint64_t set_id, uint64_t sectors,
		  const uint32_t (*avoid)[2], size_t navoid, size_t *first,
		  struct cs_error *err)
{
	uint64_t want = (sectors + CS_POOL_ALIGN - 1) / CS_POOL_ALIGN * CS_POOL_ALIGN;
	uint64_t avail = 0, left;
	size_t start = p->nallocs;

	for (size_t i = 0; i < p->ndevs; i++)
		if (!avoided(&p->devs[i], avoid, navoid))
			avail += p->devs[i].sectors - cs_pool_dev_used(&p->devs[i]);
	if (!p->ndevs) {
		cs_error_set(err, ENOSPC, "no difference storage is configured; add a device "
			     "or a directory with `snapctl storage add DEVICE|DIRECTORY'");
		return -ENOSPC;
	}
	if (avail < want) {
		cs_error_set(err, ENOSPC, "not enough free difference storage: %" PRIu64
			     " MiB wanted, %" PRIu64 " MiB free; add storage with "
			     "`snapctl storage add DEVICE|DIRECTORY' or delete sets", want / 2048,
			     avail / 2048);
		return -ENOSPC;
	}
	left = want;
	/* first fit, whole extents first so that one set stays in few ranges */
	for (size_t i = 0; i < p->ndevs && left; i++) {
		struct cs_pool_dev *d = &p->devs[i];

		if (avoided(d, avoid, navoid))
			continue;
		while (d->nfree && left) {
			size_t best = 0;
			struct cs_alloc a;

			/* the first extent big enough, else the biggest */
			for (size_t j = 0; j < d->nfree; j++) {
				if (d->free[j].len >= left) {
					best = j;
					break;
				}
				if (d->free[j].len > d->free[best].len)
					best = j;
			}
			a = (struct cs_alloc){ set_id, d->major, d->minor, d->free[best].start,
					       d->free[best].len < left ? d->free[best].len : left };
			if (push_alloc(p, &a))
				goto undo;
			/* from an extent's start: never splits, cannot fail */
			take(d, a.start, a.len);
			left -= a.len;
		}
	}
	*first = start;
	return 0;
undo:
	while (p->nallocs > start) {
		struct cs_alloc *a = &p->allocs[--p->nallocs];

		give_back(cs_pool_find_dev(p, a->major, a->minor), a->start, a->len);
	}
	cs_error_set(err, ENOMEM, "out of memory");
	return -ENOMEM;
}

int cs_pool_reserve(struct cs_pool *p, const struct cs_alloc *a)
{
	struct cs_pool_dev *d = cs_pool_find_dev(p, a->major, a->minor);
	int ret;

	if (!d || !a->len)
		return -ENOENT;
	ret = take(d, a->start, a->len);
	if (ret)
		return ret;
	ret = push_alloc(p, a);
	if (ret)
		give_back(d, a->start, a->len);
	return ret;
}

size_t cs_pool_release(struct cs_pool *p, uint64_t set_id)
{
	size_t n = 0, i = 0;

	while (i < p->nallocs) {
		struct cs_alloc *a = &p->allocs[i];
		struct cs_pool_dev *d;

		if (a->set_id != set_id) {
			i++;
			continue;
		}
		d = cs_pool_find_dev(p, a->major, a->minor);
		if (d)
			give_back(d, a->start, a->len);
		memmove(a, a + 1, (p->nallocs - i - 1) * sizeof(*a));
		p->nallocs--;
		n++;
	}
	return n;
}

int cs_pool_state_write(const struct cs_pool *p, FILE *f)
{
	if (p->ram_index >= 0 &&
	    fprintf(f, "ram %d %" PRIu64 "\n", p->ram_index, p->ram_bytes) < 0)
		return -EIO;
	for (size_t i = 0; i < p->nallocs; i++) {
		const struct cs_alloc *a = &p->allocs[i];

		if (fprintf(f, "%" PRIu64 " %u:%u %" PRIu64 " %" PRIu64 "\n", a->set_id,
			    a->major, a->minor, a->start, a->len) < 0)
			return -EIO;
	}
	return 0;
}

int cs_pool_state_read(struct cs_pool *p, FILE *f, struct cs_error *err)
{
	char line[256];
	unsigned lineno = 0;

	while (fgets(line, sizeof(line), f)) {
		struct cs_pool_dev *d;
		struct cs_alloc a;
		char tail;

		lineno++;
		/* cs_pool_state_ram's */
		if (!strncmp(line, "ram ", 4))
			continue;
		if (sscanf(line, "%" SCNu64 " %u:%u %" SCNu64 " %" SCNu64 " %c", &a.set_id,
			   &a.major, &a.minor, &a.start, &a.len, &tail) != 5 || !a.set_id) {
			cs_error_set(err, EINVAL, "storage state line %u is malformed", lineno);
			return -EINVAL;
		}
		/* a range of a device no longer configured is simply gone */
		d = cs_pool_find_dev(p, a.major, a.minor);
		if (!d)
			continue;
		if (!a.len || a.start >= d->sectors || a.len > d->sectors - a.start) {
			cs_error_set(err, EINVAL, "storage state line %u is beyond the end of %s",
				     lineno, d->path);
			return -EINVAL;
		}
		if (cs_pool_reserve(p, &a)) {
			cs_error_set(err, EEXIST, "storage state line %u overlaps another range",
				     lineno);
			return -EEXIST;
		}
	}
	return 0;
}

int cs_pool_state_ram(FILE *f, int *index, uint64_t *bytes)
{
	char line[256];

	while (fgets(line, sizeof(line), f)) {
		char tail;

		if (sscanf(line, "ram %d %" SCNu64 " %c", index, bytes, &tail) == 2 &&
		    *index >= 0 && *bytes)
			return 0;
	}
	return -ENOENT;
}
