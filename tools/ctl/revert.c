// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * snapctl revert: a volume back to a set's point in time, in place.  Only
 * what changed since the take is written back: the chunks the changed-block
 * map names (CBT_GET since the set's take), read from the set's image and
 * written to the origin.  Every one of them was copied at its first write
 * after the take, so the image reads it from storage, and the write-back
 * copies-on-write into other live sets like any write; the reverted set
 * stays valid, equal to the origin, and the chunks count as changed.
 *
 * The origin is opened exclusively: nothing may have it mounted or open
 * exclusively meanwhile.  A volume that holds the set's own storage files
 * is refused (writing back the chunks around them would overwrite the
 * copies the image is read from).  An interrupted revert leaves a marker
 * (REVERT_MARK) that `snapctl show' reports; running it again completes it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <json.h>

#include "mountinfo.h"
#include "snapctl.h"

static const char revert_usage[] = "revert [--metadata FILE | --no-writers] SET [VOLUME]...";

#define COPY_BYTES	(1U << 20)

struct rvol {
	const struct cs_set_volume *v;
	int origin, image;
	uint64_t chunks, bytes;
};

/* Where the origin is mounted, for the error that says to unmount it. */
static bool mounted_at(unsigned ma, unsigned mi, char *dir, size_t size)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[8192];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		struct cs_mount m;

		if (!cs_mountinfo_parse(line, &m) && m.major == ma && m.minor == mi) {
			snprintf(dir, size, "%s", m.mountpoint);
			found = true;
		}
	}
	fclose(f);
	return found;
}

/* Open origin and image of one volume; 0 or the exit code after a message. */
static int open_volume(struct snapctl *ctl, const struct cs_set_result *r, struct rvol *rv)
{
	const struct cs_set_volume *v = rv->v;
	char dir[4096];

	for (uint32_t i = 0; i < r->nstorage; i++) {
		struct stat st;

		if (r->storage[i].kind == CS_SET_STORAGE_FILE &&
		    !stat(r->storage[i].place, &st) && major(st.st_dev) == v->major &&
		    minor(st.st_dev) == v->minor)
			return report_failure(ctl, EBUSY, CS_EXIT_FAILED, "%s holds this set's "
					      "storage (%s): writing back to it would overwrite "
					      "the copies the image is read from; it cannot be "
					      "reverted from this set", v->origin,
					      r->storage[i].place);
	}
	rv->image = open(v->image, O_RDONLY | O_CLOEXEC);
	if (rv->image < 0)
		return report_failure(ctl, errno, CS_EXIT_FAILED, "cannot open the image %s: %s",
				      v->image, strerror(errno));
	rv->origin = open(v->origin, O_RDWR | O_EXCL | O_CLOEXEC);
	if (rv->origin < 0 && errno == EBUSY) {
		if (mounted_at(v->major, v->minor, dir, sizeof(dir)))
			return report_failure(ctl, EBUSY, CS_EXIT_FAILED, "%s is mounted at %s: "
					      "unmount it (and stop what uses it) first", v->origin,
					      dir);
		return report_failure(ctl, EBUSY, CS_EXIT_FAILED, "%s is in use (held open "
				      "exclusively: a filesystem, a device-mapper or md device, "
				      "or a program; see /sys/class/block/%s/holders): free it "
				      "first", v->origin, strrchr(v->origin, '/') + 1);
	}
	if (rv->origin < 0)
		return report_failure(ctl, errno, CS_EXIT_FAILED, "cannot open %s: %s", v->origin,
				      strerror(errno));
	return 0;
}

static int copy_range(int from, int to, uint64_t off, uint64_t len, char *buf)
{
	while (len) {
		size_t n = len < COPY_BYTES ? len : COPY_BYTES;
		ssize_t got = pread(from, buf, n, (off_t)off);

		if (got <= 0)
			return got < 0 ? -errno : -EIO;
		if (pwrite(to, buf, (size_t)got, (off_t)off) != got)
			return -errno ?: -EIO;
		off += (uint64_t)got;
		len -= (uint64_t)got;
	}
	return 0;
}

struct revert_walk {
	struct snapctl *ctl;
	struct rvol *rv;
	char *buf;
	bool progress;
};

/* One changed range: from the image to the origin; 0 or the exit code. */
static int revert_range(void *ctx, uint64_t off, uint64_t len, uint64_t chunks)
{
	struct revert_walk *w = ctx;
	struct rvol *rv = w->rv;
	int ret = copy_range(rv->image, rv->origin, off, len, w->buf);

	if (ret)
		return report_failure(w->ctl, -ret, CS_EXIT_FAILED, "reverting %s at byte %"
				      PRIu64 ": %s", rv->v->origin, off, strerror(-ret));
	rv->chunks += chunks;
	rv->bytes += len;
	if (w->progress)
		fprintf(stderr, "\r%s: %" PRIu64 " MiB written back", rv->v->origin,
			rv->bytes >> 20);
	return 0;
}

/*
 * The changed chunks of one volume written back, those past its size at the
 * take left out (nothing to bring back there); 0 or the exit code.
 */
static int revert_volume(struct snapctl *ctl, struct cs_client *c, uint64_t set_id,
			 struct rvol *rv, char *buf, bool progress)
{
	struct cs_cbt_get_args a = { .set_id = set_id };
	struct revert_walk w = { .ctl = ctl, .rv = rv, .buf = buf, .progress = progress };
	struct cs_error err = { 0 };
	int ret;

	snprintf(a.volume, sizeof(a.volume), "%s", rv->v->origin);
	ret = cs_cbt_walk(c, &a, rv->v->sectors << 9, revert_range, &w, NULL, &err);
	if (progress)
		fputc('\n', stderr);
	if (ret < 0)
		return report_error(ctl, c, ret, &err);
	if (!ret && fsync(rv->origin))
		ret = report_failure(ctl, errno, CS_EXIT_FAILED, "%s: fsync: %s", rv->v->origin,
				     strerror(errno));
	return ret;
}

int cmd_revert(struct snapctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "metadata", required_argument, NULL, 'm' },
		{ "no-writers", no_argument, NULL, 'n' },
		{ 0 }
	};
	struct cs_set_show_args sa = { 0 };
	struct cs_set_result r = { 0 };
	struct cs_backup_doc doc = { 0 };
	struct cs_restore_args ra = { 0 };
	struct cs_restore_result rr = { 0 };
	struct cs_volume_spec *vspec = NULL;
	struct cs_restore_end_args end = { 0 };
	struct cs_empty none = { 0 };
	struct cs_error err = { 0 };
	struct cs_client *c = NULL;
	struct rvol *rv = NULL;
	const char *meta = NULL;
	char mark[4096] = "", *buf = NULL;
	struct timespec t0, t1;
	bool session = false, have_doc = false, no_writers = false;
	size_t nrv = 0;
	int opt, ret, fd;

	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		if (!strcmp(argv[i], "--help")) {
			printf("Usage: %s %s\n"
			       "Brings each VOLUME of taken set SET (its id or name; all its\n"
			       "volumes when none is named; a volume as for mount) back to the\n"
			       "set's point in time, in place: the chunks changed since the take\n"
			       "are read from the set's image and written to the origin, nothing\n"
			       "else.  The origin must not be mounted or held open.  Other sets\n"
			       "of the volume keep their own point in time; SET stays, equal to\n"
			       "the origin.  Writers get pre-restore before and post-restore\n"
			       "after (COWSNAP_VOLUMES: the volumes reverted): those with a\n"
			       "component that has files on the volumes, and every hook writer;\n"
			       "with --metadata FILE (what backup --save-metadata wrote), the\n"
			       "writers and components it names.\n"
			       "  --metadata FILE  the backup's writers take part\n"
			       "  --no-writers     no writer takes part\n"
			       "Interrupted, `show SET' says so; run it again to complete it.\n"
			       "With --json, a summary.\n",
			       ctl->prog, revert_usage);
			return CS_EXIT_OK;
		}
	}
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (opt == 'm')
			meta = optarg;
		else if (opt == 'n')
			no_writers = true;
		else
			return usage_error(ctl, revert_usage, "invalid option: `%s'",
					   argv[optind - 1]);
	}
	if (meta && no_writers)
		return usage_error(ctl, revert_usage, "--metadata and --no-writers exclude each "
				   "other");
	if (optind >= argc)
		return usage_error(ctl, revert_usage, "expected SET");
	ret = set_arg(ctl, argv[optind], revert_usage, &sa.id);
	if (ret)
		return ret;
	if (meta) {
		if (load_metadata(ctl, meta, &doc))
			return CS_EXIT_FAILED;
		have_doc = true;
	}
	ret = connect_daemon(ctl, &c);
	if (ret)
		goto out;
	ret = cs_call(c, CS_OP_SET_SHOW, &sa, &r, &err);
	if (ret) {
		ret = report_error(ctl, c, ret, &err);
		goto out;
	}
	if (r.set.state != CS_SET_TAKEN) {
		ret = report_failure(ctl, ESTALE, CS_EXIT_FAILED, "set %" PRIu64 " is %s: only a "
				     "taken set can be reverted from", sa.id,
				     cs_set_state_names[r.set.state]);
		goto out;
	}
	rv = calloc(r.set.nvolumes, sizeof(*rv));
	buf = malloc(COPY_BYTES);
	if (!rv || !buf) {
		ret = report_failure(ctl, ENOMEM, CS_EXIT_FAILED, "out of memory");
		goto out;
	}
	/* the volumes named (each once, in the set's order), or all */
	for (uint32_t i = 0; i < r.set.nvolumes; i++) {
		bool want = optind + 1 >= argc;

		for (int k = optind + 1; k < argc && !want; k++) {
			struct stat st;

			if (stat(argv[k], &st))
				continue;
			want = S_ISBLK(st.st_mode) ?
			       major(st.st_rdev) == r.set.volumes[i].major &&
			       minor(st.st_rdev) == r.set.volumes[i].minor :
			       major(st.st_dev) == r.set.volumes[i].major &&
			       minor(st.st_dev) == r.set.volumes[i].minor;
		}
		if (want) {
			rv[nrv].v = &r.set.volumes[i];
			rv[nrv].origin = rv[nrv].image = -1;
			nrv++;
		}
	}
	for (int k = optind + 1; k < argc; k++) {
		struct stat st;
		bool found = false;

		if (stat(argv[k], &st)) {
			ret = usage_error(ctl, revert_usage, "invalid volume: `%s'", argv[k]);
			goto out;
		}
		for (size_t i = 0; i < nrv; i++) {
			unsigned ma = S_ISBLK(st.st_mode) ? major(st.st_rdev) : major(st.st_dev);
			unsigned mi = S_ISBLK(st.st_mode) ? minor(st.st_rdev) : minor(st.st_dev);

			found |= rv[i].v->major == ma && rv[i].v->minor == mi;
		}
		if (!found) {
			ret = report_failure(ctl, ENOENT, CS_EXIT_FAILED, "%s is not a volume of "
					     "set %" PRIu64 "; see `snapctl show %" PRIu64 "'",
					     argv[k], sa.id, sa.id);
			goto out;
		}
	}
	/* every volume ready before anything is written */
	for (size_t i = 0; i < nrv; i++) {
		ret = open_volume(ctl, &r, &rv[i]);
		if (ret)
			goto out;
	}
	/*
	 * The writers: the backup's (--metadata), or those with data on the
	 * volumes (the daemon chooses); the volumes go in their events.
	 */
	if (!no_writers && (!have_doc || doc.nwriters)) {
		vspec = calloc(nrv, sizeof(*vspec));
		if (!vspec) {
			ret = report_failure(ctl, ENOMEM, CS_EXIT_FAILED, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < nrv; i++)
			snprintf(vspec[i].spec, sizeof(vspec[i].spec), "%s", rv[i].v->origin);
		ra.volumes = vspec;
		ra.nvolumes = (uint32_t)nrv;
		ra.set_id = sa.id;
		if (have_doc)
			restore_args_from_doc(&ra, &doc);
		cs_client_set_timeout(c, -1);
		ret = cs_call(c, CS_OP_RESTORE_BEGIN, &ra, &rr, &err);
		if (ret) {
			ret = report_error(ctl, c, ret, &err);
			goto out;
		}
		session = true;
	}
	/* said by `show' until the revert is complete */
	if (revert_mark_path(sa.id, mark, sizeof(mark)) == 0) {
		fd = open(mark, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd >= 0)
			close(fd);
	} else {
		mark[0] = '\0';
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t i = 0; i < nrv && !ret; i++)
		ret = revert_volume(ctl, c, sa.id, &rv[i], buf, !ctl->json && isatty(2));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (session) {
		int e;

		end.success = !ret;
		e = cs_call(c, CS_OP_RESTORE_END, &end, &none, &err);
		if (e && !ret)
			ret = report_error(ctl, c, e, &err);
	}
	if (ret)
		goto out;
	if (mark[0])
		unlink(mark);
	if (ctl->json) {
		struct json_object *j = json_object_new_object(), *vols = json_object_new_array();
		uint64_t bytes = 0;

		for (size_t i = 0; i < nrv; i++) {
			struct json_object *v = json_object_new_object();

			json_object_object_add(v, "origin", json_object_new_string(rv[i].v->origin));
			json_object_object_add(v, "image", json_object_new_string(rv[i].v->image));
			json_object_object_add(v, "chunks", json_object_new_int64((int64_t)rv[i].chunks));
			json_object_object_add(v, "bytes", json_object_new_int64((int64_t)rv[i].bytes));
			json_object_array_add(vols, v);
			bytes += rv[i].bytes;
		}
		json_object_object_add(j, "set", json_object_new_int64((int64_t)sa.id));
		json_object_object_add(j, "volumes", vols);
		json_object_object_add(j, "bytes", json_object_new_int64((int64_t)bytes));
		json_object_object_add(j, "writers", json_object_new_int64(rr.writers));
		json_object_object_add(j, "seconds", json_object_new_double(
			(double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9));
		put_json(j);
		json_object_put(j);
	} else {
		for (size_t i = 0; i < nrv; i++)
			printf("%s reverted to set %" PRIu64 ": %" PRIu64 " changed chunk(s), %"
			       PRIu64 " bytes written back\n", rv[i].v->origin, sa.id, rv[i].chunks,
			       rv[i].bytes);
		if (session)
			printf("%u writer(s) got pre-restore and post-restore\n", rr.writers);
	}
	ret = CS_EXIT_OK;
out:
	for (size_t i = 0; rv && i < nrv; i++) {
		if (rv[i].origin >= 0)
			close(rv[i].origin);
		if (rv[i].image >= 0)
			close(rv[i].image);
	}
	free(rv);
	free(vspec);
	free(buf);
	cs_client_close(c);
	cs_result_free(CS_OP_SET_SHOW, &r);
	if (have_doc)
		cs_schema_free(&cs_backup_doc_schema, &doc);
	return ret;
}
