// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * snapctl backup --mount: CMD runs in a mount namespace of its own, in which
 * each image of the set is mounted read-only exactly where its origin is
 * mounted in snapctl's namespace, so that a file-level backup tool records
 * the original paths and reads the files as they were at the take.
 *
 * The plan is made in snapctl's namespace (ns_plan_make): which mounts of
 * which origin, from /proc/self/mountinfo, only those that can be seen (a
 * mount covered by another one is left out, as it is out of sight on the
 * host), parents before the mounts below them.  CMD's process carries it out
 * before /bin/sh runs (ns_setup, a cmd_setup of exec.c): unshare, every
 * mount private (nothing propagates back to the host, nor in from it), then
 * per mount: the other filesystems mounted below it are cloned (/proc, /dev,
 * a tmpfs, a volume not in the set: they stay as they are, live), the image
 * goes on top of the origin's mount (a bind of a subdirectory gets that
 * subdirectory of the image), and the clones go back on top of the image.
 * A failure there is CMD's failure, and CMD does not run.  After CMD,
 * ns_end stops what CMD left running in the namespace: the namespace, and
 * with it the mounts that keep the images busy, ends with its last process.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "imagefs.h"
#include "mountinfo.h"
#include "snapctl.h"

/* One mount of an origin, to be covered with its image. */
struct ns_entry {
	char *image, *origin, *fstype, *target, *root;
	unsigned id;		/* the origin's mount id in snapctl's namespace */
	int depth;		/* components in target: parents first */
	dev_t live;		/* st_dev at target in snapctl's namespace */
	char **keep;		/* other filesystems' mount points just below */
	size_t nkeep;
};

struct ns_plan {
	struct ns_entry *e;
	size_t n;
};

static int depth(const char *path)
{
	int d = 0;

	for (; *path; path++)
		d += *path == '/' && path[1];
	return d;
}

static void entry_free(struct ns_entry *e)
{
	free(e->image);
	free(e->origin);
	free(e->fstype);
	free(e->target);
	free(e->root);
	for (size_t i = 0; i < e->nkeep; i++)
		free(e->keep[i]);
	free(e->keep);
}

void ns_plan_free(struct ns_plan *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		entry_free(&p->e[i]);
	free(p->e);
	free(p);
}

/* Does mountinfo's m belong to the volume major:minor?  btrfs shows an
 * anonymous device number there: then its source, a block device. */
static bool mount_of(const struct cs_mount *m, unsigned ma, unsigned mi)
{
	struct stat st;

	if (m->major == ma && m->minor == mi)
		return true;
	return m->source[0] == '/' && !stat(m->source, &st) && S_ISBLK(st.st_mode) &&
	       major(st.st_rdev) == ma && minor(st.st_rdev) == mi;
}

/* Is mount m what one sees at its mount point (not covered by another)? */
static bool visible(const struct cs_mount *m)
{
	struct statx stx;

	return !statx(AT_FDCWD, m->mountpoint, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT,
		      STATX_MNT_ID, &stx) && (stx.stx_mask & STATX_MNT_ID) &&
	       stx.stx_mnt_id == m->id;
}

struct minfo {
	char **lines;		/* parsed in place */
	struct cs_mount *m;
	size_t n;
};

static int read_mountinfo(struct minfo *mi)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t size = 0, cap = 0;

	memset(mi, 0, sizeof(*mi));
	if (!f)
		return -errno;
	while (getline(&line, &size, f) > 0) {
		if (mi->n == cap) {
			size_t c = cap ? 2 * cap : 64;
			char **l = realloc(mi->lines, c * sizeof(*l));
			struct cs_mount *m = l ? realloc(mi->m, c * sizeof(*m)) : NULL;

			if (l)
				mi->lines = l;
			if (!m)
				break;
			mi->m = m;
			cap = c;
		}
		mi->lines[mi->n] = strdup(line);
		if (!mi->lines[mi->n])
			break;
		if (cs_mountinfo_parse(mi->lines[mi->n], &mi->m[mi->n]))
			free(mi->lines[mi->n]);
		else
			mi->n++;
	}
	free(line);
	fclose(f);
	return 0;
}

static void free_mountinfo(struct minfo *mi)
{
	for (size_t i = 0; i < mi->n; i++)
		free(mi->lines[i]);
	free(mi->lines);
	free(mi->m);
}

static int add_keep(struct ns_entry *e, const char *path)
{
	char **k;

	for (size_t i = 0; i < e->nkeep; i++)
		if (!strcmp(e->keep[i], path))
			return 0;
	k = realloc(e->keep, (e->nkeep + 1) * sizeof(*k));
	if (!k)
		return -ENOMEM;
	e->keep = k;
	e->keep[e->nkeep] = strdup(path);
	return e->keep[e->nkeep++] ? 0 : -ENOMEM;
}

int ns_plan_make(struct snapctl *ctl, const struct cs_set *s, struct ns_plan **out)
{
	struct ns_plan *p = calloc(1, sizeof(*p));
	struct minfo mi;
	int ret;

	*out = NULL;
	if (!p)
		return report_failure(ctl, ENOMEM, CS_EXIT_FAILED, "out of memory");
	ret = read_mountinfo(&mi);
	if (ret) {
		free(p);
		return report_failure(ctl, -ret, CS_EXIT_FAILED, "/proc/self/mountinfo: %s",
				      strerror(-ret));
	}
	p->e = calloc(mi.n ? mi.n : 1, sizeof(*p->e));
	if (!p->e)
		goto nomem;
	for (size_t i = 0; i < mi.n; i++) {
		const struct cs_mount *m = &mi.m[i];
		const struct cs_set_volume *v = NULL;
		struct ns_entry *e = &p->e[p->n];
		struct stat st;

		for (uint32_t j = 0; j < s->nvolumes && !v; j++)
			if (s->volumes[j].image[0] &&
			    mount_of(m, s->volumes[j].major, s->volumes[j].minor))
				v = &s->volumes[j];
		if (!v)
			continue;
		if (!visible(m)) {
			fprintf(stderr, "%s: note: %s's mount at %s is covered by another mount: "
				"its image is not mounted there\n", ctl->prog, v->origin,
				m->mountpoint);
			continue;
		}
		e->image = strdup(v->image);
		e->origin = strdup(v->origin);
		e->fstype = strdup(m->fstype);
		e->target = strdup(m->mountpoint);
		e->root = strdup(m->root);
		e->id = m->id;
		e->depth = depth(m->mountpoint);
		e->live = stat(m->mountpoint, &st) ? 0 : st.st_dev;
		p->n++;
		if (!e->image || !e->origin || !e->fstype || !e->target || !e->root)
			goto nomem;
	}
	/* parents first; among equals, in mountinfo's order */
	for (size_t i = 1; i < p->n; i++) {
		struct ns_entry t = p->e[i];
		size_t j = i;

		for (; j > 0 && p->e[j - 1].depth > t.depth; j--)
			p->e[j] = p->e[j - 1];
		p->e[j] = t;
	}
	/* below each: the mounts of filesystems not in the plan */
	for (size_t i = 0; i < p->n; i++) {
		for (size_t k = 0; k < mi.n; k++) {
			bool planned = false;

			if (mi.m[k].parent != p->e[i].id || mi.m[k].id == p->e[i].id)
				continue;
			for (size_t j = 0; j < p->n && !planned; j++)
				planned = p->e[j].id == mi.m[k].id;
			if (!planned && add_keep(&p->e[i], mi.m[k].mountpoint))
				goto nomem;
		}
	}
	free_mountinfo(&mi);
	*out = p;
	return 0;
nomem:
	free_mountinfo(&mi);
	ns_plan_free(p);
	return report_failure(ctl, ENOMEM, CS_EXIT_FAILED, "out of memory");
}

/* "TARGET: ERROR", and what the filesystem said (log, or NULL), into msg */
static int fail_with(char *msg, size_t size, const char *log, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail_with(char *msg, size_t size, const char *log, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(msg, size, fmt, ap);
	va_end(ap);
	n = strlen(msg);
	snprintf(msg + n, size - n, ": %s", strerror(saved));
	if (log && log[0]) {
		n = strlen(msg);
		/* "ext4: ...": the kernel's own words */
		snprintf(msg + n, size - n, " (%s)", log);
	}
	return -1;
}

/* A detached mount (fd) on top of target; at /, it becomes the root. */
static int place(int fd, const char *target)
{
	if (move_mount(fd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH))
		return -1;
	if (strcmp(target, "/"))
		return 0;
	/* a mount over / is seen only from a root inside it */
	return fchdir(fd) || chroot(".") || chdir("/") ? -1 : 0;
}

/* The image, read-only: a detached mount, or -1 */
static int image_mount(const struct ns_entry *e, char *msg, size_t size)
{
	struct cs_imagefs_fail f;
	int mnt = cs_imagefs_mount(e->image, e->fstype, false, 0, NULL, &f);

	if (mnt >= 0)
		return mnt;
	errno = f.err;
	if (f.step == CS_IMAGEFS_FSOPEN)
		return fail_with(msg, size, NULL, "cannot mount %s (image of %s) at %s: "
				 "filesystem %s", e->image, e->origin, e->target, e->fstype);
	return fail_with(msg, size, f.log, "cannot mount %s (image of %s, %s) at %s", e->image,
			 e->origin, e->fstype, e->target);
}

static int setup_entry(const struct ns_entry *e, char *msg, size_t size)
{
	int *keep = calloc(e->nkeep ? e->nkeep : 1, sizeof(*keep));
	char sub[2 * PATH_MAX + 2];
	struct stat st;
	int mnt = -1, ret = -1;

	if (!keep) {
		snprintf(msg, size, "out of memory");
		return -1;
	}
	/* what is mounted below, before the image covers it */
	for (size_t k = 0; k < e->nkeep; k++) {
		keep[k] = open_tree(AT_FDCWD, e->keep[k], OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC |
				    AT_RECURSIVE);
		if (keep[k] < 0)
			fprintf(stderr, "%s: note: %s (below %s) cannot be kept in the command's "
				"namespace: %s\n", program_invocation_short_name, e->keep[k],
				e->target, strerror(errno));
	}
	mnt = image_mount(e, msg, size);
	if (mnt < 0)
		goto out;
	/* btrfs gives the mounted filesystem of the same fsid (before 6.7) */
	if (!fstat(mnt, &st) && st.st_dev == e->live) {
		snprintf(msg, size, "mounting %s (image of %s) gave the mounted filesystem "
			 "of %s, not the image's (a %s with the same id as the origin's)",
			 e->image, e->origin, e->target, e->fstype);
		goto out;
	}
	if (place(mnt, e->target)) {
		fail_with(msg, size, NULL, "cannot mount %s (image of %s) at %s", e->image,
			  e->origin, e->target);
		goto out;
	}
	if (strcmp(e->root, "/")) {
		int fd;

		/* a bind of a subdirectory: that subdirectory of the image */
		snprintf(sub, sizeof(sub), "%s%s", strcmp(e->target, "/") ? e->target : "",
			 e->root);
		fd = open_tree(AT_FDCWD, sub, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
		if (fd < 0 || place(fd, e->target)) {
			fail_with(msg, size, NULL, "cannot mount %s of %s (image of %s) at %s",
				  e->root, e->image, e->origin, e->target);
			if (fd >= 0)
				close(fd);
			goto out;
		}
		close(fd);
	}
	for (size_t k = 0; k < e->nkeep; k++)
		if (keep[k] >= 0 && move_mount(keep[k], "", AT_FDCWD, e->keep[k],
					       MOVE_MOUNT_F_EMPTY_PATH))
			fprintf(stderr, "%s: note: %s is not in the command's namespace (the image "
				"of %s has no %s: %s)\n", program_invocation_short_name,
				e->keep[k], e->origin, e->keep[k], strerror(errno));
	ret = 0;
out:
	if (mnt >= 0)
		close(mnt);
	for (size_t k = 0; k < e->nkeep; k++)
		if (keep[k] >= 0)
			close(keep[k]);
	free(keep);
	return ret;
}

/* In CMD's process (exec.c), before /bin/sh. */
static int ns_setup(struct cmd_setup *s)
{
	const struct ns_plan *p = s->arg;
	char cwd[PATH_MAX];
	bool have_cwd = getcwd(cwd, sizeof(cwd)) != NULL;
	struct stat st;

	if (unshare(CLONE_NEWNS))
		return fail_with(s->msg, sizeof(s->msg), NULL, "cannot make a mount namespace");
	/* a copy of the host's mounts, shared with them until this */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return fail_with(s->msg, sizeof(s->msg), NULL, "cannot make the mounts private");
	if (stat("/proc/self/ns/mnt", &st))
		return fail_with(s->msg, sizeof(s->msg), NULL, "/proc/self/ns/mnt");
	s->token = st.st_ino;
	for (size_t i = 0; i < p->n; i++)
		if (setup_entry(&p->e[i], s->msg, sizeof(s->msg)))
			return -1;
	/* the same directory, now with the images */
	if (!have_cwd || chdir(cwd))
		(void)!chdir("/");
	return 0;
}

void ns_cmd_setup(struct ns_plan *p, struct cmd_setup *s)
{
	memset(s, 0, sizeof(*s));
	s->fn = ns_setup;
	s->arg = p;
}

/* The processes in mount namespace ino, their pids into pids (up to max);
 * how many there are. */
static size_t ns_pids(uint64_t ino, pid_t *pids, size_t max)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	size_t n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char path[64], *end;
		struct stat st;
		long pid = strtol(de->d_name, &end, 10);

		if (*end || pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/ns/mnt", pid);
		if (stat(path, &st) || st.st_ino != ino)
			continue;
		if (n < max)
			pids[n] = (pid_t)pid;
		n++;
	}
	closedir(d);
	return n;
}

#define NS_MAX_PIDS	256

/* Wait up to ms for the namespace to empty; how many are left. */
static size_t ns_wait(uint64_t ino, pid_t *pids, int ms)
{
	const struct timespec tick = { 0, 50 * 1000 * 1000 };
	size_t n;

	while ((n = ns_pids(ino, pids, NS_MAX_PIDS)) && ms > 0) {
		nanosleep(&tick, NULL);
		ms -= 50;
	}
	return n;
}

int ns_end(struct snapctl *ctl, uint64_t ino)
{
	pid_t pids[NS_MAX_PIDS];
	size_t n;

	if (!ino)
		return 0;
	n = ns_wait(ino, pids, 200);
	if (!n)
		return 0;
	fprintf(stderr, "%s: the command left %zu process%s in its mount namespace: "
		"stopping %s (SIGTERM, SIGKILL after 5 s)\n", ctl->prog, n, n == 1 ? "" : "es",
		n == 1 ? "it" : "them");
	for (size_t i = 0; i < n && i < NS_MAX_PIDS; i++)
		kill(pids[i], SIGTERM);
	n = ns_wait(ino, pids, 5000);
	/* again while some are left: they may have forked meanwhile */
	for (int round = 0; n && round < 20; round++) {
		for (size_t i = 0; i < n && i < NS_MAX_PIDS; i++)
			kill(pids[i], SIGKILL);
		n = ns_wait(ino, pids, 500);
	}
	if (n) {
		fprintf(stderr, "%s: %zu process%s still in the command's mount namespace "
			"(pid %d): the images stay mounted there\n", ctl->prog, n,
			n == 1 ? "" : "es", (int)pids[0]);
		return -1;
	}
	return 0;
}
