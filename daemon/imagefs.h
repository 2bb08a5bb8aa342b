/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef COWSNAPD_IMAGEFS_H
#define COWSNAPD_IMAGEFS_H

#include <stdbool.h>

/*
 * An image's filesystem mounted detached (fsopen, fsmount): in no mount
 * namespace, seen by nobody unless the caller moves it somewhere
 * (move_mount), gone when the last descriptor that holds it is closed.
 * cowsnapd reads the free space at the take with it (freemap.c) and
 * recovers writable images (volumes.c); snapctl backup --mount puts images
 * where their origins are mounted (tools/ctl/nsmount.c).
 */

/*
 * The options, flags separated by commas, with which an image of fstype
 * mounts read-only without writing to it: "noload" for ext3/4,
 * "norecovery,nouuid" for xfs, "" for the others.
 */
const char *cs_imagefs_ro_options(const char *fstype);

/* Where cs_imagefs_mount() failed. */
struct cs_imagefs_fail {
	enum cs_imagefs_step {
		CS_IMAGEFS_FSOPEN,	/* no such filesystem type */
		CS_IMAGEFS_MOUNT,	/* the source, the options, the superblock
					 * (FSCONFIG_CMD_CREATE): the filesystem said no */
		CS_IMAGEFS_FSMOUNT,
		CS_IMAGEFS_ROOT,	/* opening its root */
	} step;
	int err;		/* the errno */
	char log[256];		/* the filesystem's own words, the first message of the
				 * fs context's log without its "e " ("ext4: ..."), or "" */
};

/*
 * Mount the filesystem of type fstype on image, detached.  Read-only: flag
 * "ro" and cs_imagefs_ro_options(), MOUNT_ATTR_RDONLY.  Writable: the
 * journal or log is replayed into the image; xfs gets "nouuid" (the origin,
 * with the same UUID, may be mounted beside it).  Always MOUNT_ATTR_NOSUID
 * and MOUNT_ATTR_NODEV (an image holds whatever the volume held), and the
 * MOUNT_ATTR_ flags in attrs.  Returns the mount's descriptor (O_PATH,
 * close-on-exec), or -errno with f saying where it failed.  With root, also
 * the mount's root directory, open (ioctls and syncfs want an open file);
 * the caller closes both.
 */
int cs_imagefs_mount(const char *image, const char *fstype, bool writable, unsigned attrs,
		     int *root, struct cs_imagefs_fail *f);

#endif
