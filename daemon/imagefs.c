// SPDX-License-Identifier: GPL-2.0-or-later
/* An image's filesystem, mounted detached: shared by cowsnapd and snapctl. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "imagefs.h"

/*
 * An image is the volume as it was at the take, its journal or log as
 * dirty as the frozen filesystem's: replaying it would write.  And the
 * origin, with the same UUID, may be mounted beside it.
 */
const char *cs_imagefs_ro_options(const char *fstype)
{
	if (!strcmp(fstype, "ext3") || !strcmp(fstype, "ext4"))
		return "noload";
	if (!strcmp(fstype, "xfs"))
		return "norecovery,nouuid";
	return "";
}

static int failed(struct cs_imagefs_fail *f, enum cs_imagefs_step step, int fs)
{
	f->step = step;
	f->err = errno;
	f->log[0] = '\0';
	if (fs >= 0) {
		ssize_t r = read(fs, f->log, sizeof(f->log) - 1);

		/* "e ext4: ...": a letter for the level, a space, the message */
		if (r > 2) {
			f->log[r] = '\0';
			f->log[strcspn(f->log, "\n")] = '\0';
			memmove(f->log, f->log + 2, strlen(f->log + 2) + 1);
		}
	}
	return -f->err;
}

int cs_imagefs_mount(const char *image, const char *fstype, bool writable, unsigned attrs,
		     int *root, struct cs_imagefs_fail *f)
{
	char opts[64], *save = NULL;
	int fs, mnt, ret;

	fs = fsopen(fstype, FSOPEN_CLOEXEC);
	if (fs < 0)
		return failed(f, CS_IMAGEFS_FSOPEN, -1);
	snprintf(opts, sizeof(opts), "%s", !writable ? cs_imagefs_ro_options(fstype) :
		 !strcmp(fstype, "xfs") ? "nouuid" : "");
	if (fsconfig(fs, FSCONFIG_SET_STRING, "source", image, 0) ||
	    (!writable && fsconfig(fs, FSCONFIG_SET_FLAG, "ro", NULL, 0)))
		goto fail;
	for (char *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save))
		if (fsconfig(fs, FSCONFIG_SET_FLAG, o, NULL, 0))
			goto fail;
	if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0))
		goto fail;
	mnt = fsmount(fs, FSMOUNT_CLOEXEC, attrs | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
		      (writable ? 0 : MOUNT_ATTR_RDONLY));
	if (mnt < 0) {
		ret = failed(f, CS_IMAGEFS_FSMOUNT, fs);
		close(fs);
		return ret;
	}
	close(fs);
	if (!root)
		return mnt;
	/* fsmount's descriptor is an O_PATH one */
	*root = openat(mnt, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*root < 0) {
		ret = failed(f, CS_IMAGEFS_ROOT, -1);
		close(mnt);
		return ret;
	}
	return mnt;
fail:
	ret = failed(f, CS_IMAGEFS_MOUNT, fs);
	close(fs);
	return ret;
}
