// SPDX-License-Identifier: GPL-2.0
/*
 * snapread --incremental --base IMAGE SNAPDEV: bring IMAGE, a full copy of
 * an earlier snapshot of a volume, to the content of SNAPDEV, a later
 * snapshot of the same volume, reading from SNAPDEV only the chunks that the
 * volume's changed-block map says were written since IMAGE's snapshot.
 *
 * Everything that decides whether that is sound is checked before IMAGE is
 * touched; then the metadata is marked incomplete, the chunks are written
 * in place, IMAGE is synced, re-read for its checksum, and the metadata
 * names the new snapshot.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json.h>

#include "cowsnap.h"
#include "daemon.h"
#include "meta.h"
#include "report.h"
#include "snapread.h"

#define FULL	"; do a full read (snapread SNAPDEV IMAGE)"

/* A changed block: into IMAGE at the same offset; zeros as a hole. */
static int patch_block(struct sink *s, const void *buf, off_t off, size_t len)
{
	struct copy *c = (struct copy *)s;
	int ret;

	if (all_zero(buf, len) &&
	    !fallocate(c->out_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, (off_t)len)) {
		c->skipped += len;
		return 0;
	}
	ret = write_full(c->out_fd, buf, len, off, true);
	if (!ret)
		c->written += len;
	return ret;
}

static uint64_t mtime_ns(const struct stat *st)
{
	return (uint64_t)st->st_mtim.tv_sec * 1000000000ULL + (uint64_t)st->st_mtim.tv_nsec;
}

/* The checks on IMAGE and its metadata alone. */
static void check_base(const char *base, struct image_meta *m)
{
	char why[PATH_MAX + 128];
	struct stat st;
	int ret;

	ret = meta_read(base, m, why, sizeof(why));
	if (ret == -ENOENT)
		die(CS_EXIT_BASE, "%s has no metadata (%s): it was not written by a full snapread "
		    "of a cowsnap image" FULL, base, why);
	if (ret)
		die(CS_EXIT_BASE, "the metadata of %s cannot be used: %s" FULL, base, why);
	if (!m->complete)
		die(CS_EXIT_BASE, "an earlier update of %s did not finish, so its content is a mix "
		    "of two snapshots" FULL, base);
	if (stat(base, &st))
		die(CS_EXIT_BASE, "cannot stat %s: %s" FULL, base, strerror(errno));
	if (!S_ISREG(st.st_mode))
		die(CS_EXIT_USAGE, "--base %s is not a regular file", base);
	if ((uint64_t)st.st_size != m->image_size || m->image_size != m->size)
		die(CS_EXIT_BASE, "%s is %llu bytes, its metadata says %llu: it was truncated or "
		    "extended since snapread wrote it" FULL, base,
		    (unsigned long long)st.st_size, (unsigned long long)m->size);
	if ((uint64_t)st.st_ino != m->image_ino || mtime_ns(&st) != m->image_mtime_ns)
		die(CS_EXIT_BASE, "%s was modified or replaced since snapread wrote it (its inode "
		    "or modification time differs from its metadata)" FULL, base);
}

/* The checks of SNAPDEV against IMAGE's metadata. */
static void check_snap(const char *snapdev, int fd, const char *base,
		       const struct image_meta *m, struct snap_info *si)
{
	struct cs_error err = { 0 };
	struct stat st;
	uint64_t size;

	if (fstat(fd, &st) || !S_ISBLK(st.st_mode) || !snap_is_image(st.st_rdev))
		die(CS_EXIT_USAGE, "%s is not a cowsnap image device (/dev/cowsnapN)", snapdev);
	if (snap_lookup(st.st_rdev, si, &err))
		die(CS_EXIT_FAILED, "cannot tell which snapshot %s is: %s", snapdev, err.message);
	if (si->state != CS_SET_TAKEN)
		die(CS_EXIT_FAILED, "the snapshot %s (set %llu) is %s%s%s", snapdev,
		    (unsigned long long)si->set_id, cs_set_state_names[si->state],
		    si->invalid_cause[0] ? ": " : "", si->invalid_cause);
	if (si->major != m->major || si->minor != m->minor)
		die(CS_EXIT_BASE, "%s is a copy of %s (%u:%u), but %s is a snapshot of %s (%u:%u)"
		    FULL, base, m->origin, m->major, m->minor, snapdev, si->origin,
		    si->major, si->minor);
	if (strcmp(si->generation, m->generation))
		die(CS_EXIT_BASE, "the changed-block map of %s started over since the snapshot in "
		    "%s (generation %s then, %s now: the volume was not kept tracked, or the "
		    "module was reloaded, or the machine restarted), so what changed since is "
		    "unknown" FULL, si->origin, base, m->generation, si->generation);
	if (si->cbt_seq < m->cbt_seq)
		die(CS_EXIT_BASE, "%s holds a later snapshot of %s (set %llu) than %s (set %llu)"
		    FULL, base, si->origin, (unsigned long long)m->set_id, snapdev,
		    (unsigned long long)si->set_id);
	size = fd_size(fd, snapdev);
	if (size != m->size)
		die(CS_EXIT_BASE, "%s is %llu bytes, the snapshot in %s was %llu: %s changed "
		    "size" FULL, snapdev, (unsigned long long)size, base,
		    (unsigned long long)m->size, si->origin);
}

/* The --json summary of an update: keys and their order in snapread(1). */
static struct json_object *incr_report(const struct copy *c, const struct image_meta *m,
				       const struct image_meta *old, size_t extents, double secs)
{
	struct json_object *j = json_object_new_object();
	char meta_file[PATH_MAX];

	meta_path(c->dst_name, meta_file, sizeof(meta_file));
	json_object_object_add(j, "source", report_str(c->src_name));
	json_object_object_add(j, "output", report_str(c->dst_name));
	json_object_object_add(j, "incremental", json_object_new_boolean(true));
	json_object_object_add(j, "base_set_id", report_u64(old->set_id));
	json_object_object_add(j, "set_id", report_u64(m->set_id));
	json_object_object_add(j, "chunk_bytes", report_u64((uint64_t)m->chunk_sectors << 9));
	json_object_object_add(j, "extents", report_u64(extents));
	json_object_object_add(j, "image_bytes", report_u64(m->size));
	report_transfer(j, c, secs);
	json_object_object_add(j, "checksum", report_str(m->checksum[0] ? m->checksum : NULL));
	json_object_object_add(j, "verified", json_object_new_boolean(false));
	json_object_object_add(j, "metadata", report_str(meta_file));
	return j;
}

int run_incremental(const char *snapdev, const char *base, const struct read_opts *ro,
		    const struct incr_opts *o)
{
	struct copy c = { .sink.block = patch_block, .sink.progress = show_progress,
			  .kind = OUT_FILE, .out_fd = -1 };
	struct cs_error err = { 0 };
	struct image_meta m, old;
	struct snap_info si;
	struct extent *ext = NULL;
	size_t n = 0, i;
	uint32_t chunk_sectors = 0;
	char why[PATH_MAX + 128], sum[SUM_HEX_MAX] = "";
	double secs;
	off_t fail;
	int src_fd, ret;

	check_base(base, &m);
	src_fd = open_source(snapdev, false);
	check_snap(snapdev, src_fd, base, &m, &si);
	ret = snap_changed(&si, m.cbt_seq, m.generation, m.size, &ext, &n, &chunk_sectors,
			   &err);
	if (ret == -ESTALE || ret == -ENOENT)
		die(CS_EXIT_BASE, "%s" FULL, err.message);
	if (ret)
		die(CS_EXIT_FAILED, "cannot read the changed-block map of %s: %s", si.origin,
		    err.message);
	if (chunk_sectors != m.chunk_sectors)
		die(CS_EXIT_BASE, "the changed-block map of %s has %u-sector chunks, %s was read "
		    "with %u" FULL, si.origin, chunk_sectors, base, m.chunk_sectors);

	/* From here on IMAGE changes: until the end it is marked incomplete. */
	old = m;
	m.complete = false;
	if (meta_write(base, &m, why, sizeof(why)))
		die(CS_EXIT_FAILED, "%s; %s was left unchanged", why, base);
	c.out_fd = open(base, O_WRONLY | O_CLOEXEC);
	if (c.out_fd < 0)
		die(CS_EXIT_FAILED, "cannot open %s for writing: %s (it is unchanged, but its "
		    "metadata now says incomplete)" FULL, base, strerror(errno));
	for (i = 0; i < n; i++)
		c.size += ext[i].len;
	c.src_name = snapdev;
	c.dst_name = base;
	c.show_progress = o->progress || (!o->quiet && !o->json && isatty(STDERR_FILENO));
	c.start = now();
	ret = read_extents(src_fd, ext, n, ro, &c.sink, &fail);
	if (!ret && fsync(c.out_fd))
		ret = -errno, fail = 0;
	close(src_fd);
	close(c.out_fd);
	if (ret) {
		if (c.show_progress)
			fputc('\n', stderr);
		fprintf(stderr, "%s: update of %s from %s failed at offset %lld: %s\n", prog,
			base, snapdev, (long long)fail, strerror(-ret));
		if (ret == -EIO)
			fprintf(stderr, "%s: if the snapshot became invalid, see `snapctl list "
				"sets'\n", prog);
		die(CS_EXIT_FAILED, "%s now holds parts of two snapshots and its metadata says "
		    "so" FULL, base);
	}
	if (o->alg != SUM_NONE) {
		/* of the whole image as updated: a re-read */
		ret = hash_file(base, m.size, ro, o->alg, sum, &fail);
		if (ret)
			die(CS_EXIT_FAILED, "cannot re-read %s at offset %lld for its checksum: %s",
			    base, (long long)fail, strerror(-ret));
	}
	secs = now() - c.start;

	strcpy(m.origin, si.origin);
	strcpy(m.generation, si.generation);
	m.cbt_seq = si.cbt_seq;
	m.set_id = si.set_id;
	m.complete = true;
	sum_tag(o->alg, sum, m.checksum, sizeof(m.checksum));
	if (meta_write(base, &m, why, sizeof(why)))
		die(CS_EXIT_FAILED, "%s is updated, but its metadata could not be: %s" FULL, base,
		    why);
	free(ext);

	ret = 0;
	if (o->json)
		ret = report_print(stdout, incr_report(&c, &m, &old, n, secs));
	else if (!o->quiet && o->alg != SUM_NONE)
		ret = report_printf(stdout, "%s  %s\n", sum, snapdev);
	if (ret)
		return output_lost(stdout, ret, "%s is updated, but its %s", base,
				   o->json ? "JSON summary" : "checksum line");
	return CS_EXIT_OK;
}
