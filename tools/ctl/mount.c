// SPDX-License-Identifier: GPL-2.0-or-later
/* snapctl mount / umount: an image at a directory (read-only, or read-write
 * when its set is writable). */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <json.h>

#include "imagefs.h"
#include "mountinfo.h"
#include "snapctl.h"

static int run(const char *const argv[])
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static const char mount_usage[] = "mount [--read-only] SET VOLUME DIR";

int cmd_mount(struct snapctl *ctl, int argc, char **argv)
{
	struct cs_set_show_args a = { 0 };
	struct cs_set_result r = { 0 };
	struct cs_client *c;
	struct cs_error err = { 0 };
	const struct cs_set_volume *v = NULL;
	struct stat st;
	unsigned ma, mi;
	bool read_only = false;
	int ret;

	if (argc == 2 && !strcmp(argv[1], "--help")) {
		printf("Usage: %s %s\n"
		       "Mounts the image of VOLUME (its origin device, a path on it, or its\n"
		       "mount point) in set SET (its id or name) at DIR.  The image of a set\n"
		       "made with --writable is mounted read-write (ext4 and XFS replay their\n"
		       "journal into the image; what is written stays in the set's storage,\n"
		       "never on VOLUME); any other image read-only, without replaying a\n"
		       "journal.  With --json, prints {\"image\": IMAGE, \"dir\": DIR,\n"
		       "\"read_only\": BOOL}.\n"
		       "  --read-only   mount a writable image read-only too\n",
		       ctl->prog, mount_usage);
		return CS_EXIT_OK;
	}
	if (argc > 1 && !strcmp(argv[1], "--read-only")) {
		read_only = true;
		argc--;
		argv++;
	}
	if (argc != 4)
		return usage_error(ctl, mount_usage, "expected SET VOLUME DIR");
	if (stat(argv[2], &st))
		return usage_error(ctl, mount_usage, "invalid volume: `%s'", argv[2]);
	ret = set_arg(ctl, argv[1], mount_usage, &a.id);
	if (ret)
		return ret;
	ma = S_ISBLK(st.st_mode) ? major(st.st_rdev) : major(st.st_dev);
	mi = S_ISBLK(st.st_mode) ? minor(st.st_rdev) : minor(st.st_dev);
	ret = connect_daemon(ctl, &c);
	if (ret)
		return ret;
	ret = cs_call(c, CS_OP_SET_SHOW, &a, &r, &err);
	if (ret) {
		ret = report_error(ctl, c, ret, &err);
		cs_client_close(c);
		return ret;
	}
	cs_client_close(c);
	for (uint32_t i = 0; i < r.set.nvolumes; i++)
		if (r.set.volumes[i].major == ma && r.set.volumes[i].minor == mi)
			v = &r.set.volumes[i];
	if (!v || !v->image[0]) {
		cs_result_free(CS_OP_SET_SHOW, &r);
		return report_failure(ctl, ENOENT, CS_EXIT_FAILED, "set %" PRIu64 " has no image "
				      "of %s (%u:%u); see `snapctl show %" PRIu64 "'", a.id,
				      argv[2], ma, mi, a.id);
	}
	/*
	 * The filesystem is not known here: read-only, try ext3/4's options,
	 * xfs's, then none, quietly but for the last.  An image holds whatever
	 * the volume held: no set-user-ID programs, no device nodes from it.  A
	 * writable image is mounted as it is, so that its journal is replayed.
	 */
	read_only |= !r.set.writable;
	if (!read_only) {
		/* XFS refuses a second filesystem with its origin's UUID without nouuid */
		const char *const cmd[] = { "mount", "-o", "rw,nosuid,nodev", "--", v->image,
					    argv[3], NULL };
		const char *const xfs[] = { "mount", "-o", "rw,nosuid,nodev,nouuid", "--",
					    v->image, argv[3], NULL };
		int saved = dup(2), null = open("/dev/null", 1);

		dup2(null, 2);
		ret = run(cmd);
		dup2(saved, 2);
		close(saved);
		close(null);
		if (ret)
			ret = run(xfs);
	} else {
		const char *const types[] = { "ext4", "xfs", "" };

		ret = -1;
		for (size_t i = 0; i < 3 && ret; i++) {
			char opts[128];
			const char *const cmd[] = { "mount", "-o", opts, "--", v->image,
						    argv[3], NULL };
			int saved = -1, null = -1;

			snprintf(opts, sizeof(opts), "ro,nosuid,nodev%s%s",
				 *cs_imagefs_ro_options(types[i]) ? "," : "",
				 cs_imagefs_ro_options(types[i]));
			if (i < 2) {
				saved = dup(2);
				null = open("/dev/null", O_WRONLY);
				dup2(null, 2);
			}
			ret = run(cmd);
			if (i < 2) {
				dup2(saved, 2);
				close(saved);
				close(null);
			}
		}
	}
	if (ret) {
		ret = report_failure(ctl, EIO, CS_EXIT_FAILED, "cannot mount %s at %s", v->image,
				     argv[3]);
	} else if (ctl->json) {
		struct json_object *j = json_object_new_object();

		json_object_object_add(j, "image", json_object_new_string(v->image));
		json_object_object_add(j, "dir", json_object_new_string(argv[3]));
		json_object_object_add(j, "read_only", json_object_new_boolean(read_only));
		put_json(j);
		json_object_put(j);
	} else {
		printf("%s mounted %s at %s\n", v->image, read_only ? "read-only" : "read-write",
		       argv[3]);
	}
	cs_result_free(CS_OP_SET_SHOW, &r);
	return ret;
}

static const char umount_usage[] = "umount DIR";

/*
 * The image mounted at DIR: its device name ("cowsnap3") in name, when the
 * last mount at DIR (the one umount removes) is of a cowsnap image.
 * 0, or the exit code after a message.
 */
static int image_mounted_at(struct snapctl *ctl, const char *dir, char *name, size_t size)
{
	char *real = realpath(dir, NULL), line[3 * PATH_MAX], link[PATH_MAX], sys[64];
	const char *base;
	struct cs_mount m;
	ssize_t n;
	FILE *f;
	int ret;

	if (!real)
		return report_failure(ctl, errno, CS_EXIT_FAILED, "umount: %s: %s", dir,
				      strerror(errno));
	f = fopen("/proc/self/mountinfo", "re");
	if (!f) {
		ret = errno;
		free(real);
		return report_failure(ctl, ret, CS_EXIT_FAILED, "umount: /proc/self/mountinfo: %s",
				      strerror(ret));
	}
	ret = cs_mountinfo_find(f, real, line, sizeof(line), &m);
	fclose(f);
	if (ret || strcmp(m.mountpoint, real)) {
		ret = report_failure(ctl, EINVAL, CS_EXIT_FAILED,
				     "umount: nothing is mounted at %s", real);
		free(real);
		return ret;
	}
	snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u", m.major, m.minor);
	n = readlink(sys, link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = 0;
	base = strrchr(link, '/');
	base = base ? base + 1 : link;
	if (strncmp(base, "cowsnap", 7) || !isdigit((unsigned char)base[7])) {
		ret = report_failure(ctl, EINVAL, CS_EXIT_FAILED, "umount: %s is not a cowsnap "
				     "image's mount (%s on %s); use umount(8) for it", real,
				     m.fstype, m.source);
		free(real);
		return ret;
	}
	snprintf(name, size, "%.*s", (int)(size - 1), base);
	free(real);
	return 0;
}

int cmd_umount(struct snapctl *ctl, int argc, char **argv)
{
	char name[64];
	int ret;

	if (argc == 2 && !strcmp(argv[1], "--help")) {
		printf("Usage: %s %s\nUnmounts an image mounted with `snapctl mount'; refuses a\n"
		       "directory where something else is mounted.\n", ctl->prog, umount_usage);
		return CS_EXIT_OK;
	}
	if (argc != 2)
		return usage_error(ctl, umount_usage, "expected DIR");
	ret = image_mounted_at(ctl, argv[1], name, sizeof(name));
	if (ret)
		return ret;

	const char *const cmd[] = { "umount", "--", argv[1], NULL };

	if (run(cmd))
		return report_failure(ctl, EIO, CS_EXIT_FAILED, "cannot unmount %s (/dev/%s)",
				      argv[1], name);
	return CS_EXIT_OK;
}
