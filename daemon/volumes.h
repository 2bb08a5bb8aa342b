/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef COWSNAPD_VOLUMES_H
#define COWSNAPD_VOLUMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

struct cs_nl;

/* The size of a resolved device node, its NUL included: "/dev/" and a
 * kernel name always fit whole (COWSNAP_VOLUMES is sized on it). */
#define CS_DEVNODE_SIZE 80

/* A volume named by the admin, resolved to the block device holding it. */
struct cs_resolved {
	uint32_t major, minor;
	char name[64];		/* kernel name: "vdb1" */
	char devnode[CS_DEVNODE_SIZE];	/* "/dev/vdb1" */
};

/*
 * Resolve a volume spec: a block device path, UUID=, LABEL=, PARTUUID=,
 * PARTLABEL= (libblkid), or any absolute path of a file, directory or mount
 * point (the block device of the filesystem holding it, from stat() and
 * /proc/self/mountinfo).  err says what could not be resolved and why.
 */
int cs_volume_resolve(const char *spec, struct cs_resolved *out, struct cs_error *err);

/*
 * Which directories lie on a set of volumes, also unmounted ones: a
 * directory is on one of vols where it is now (resolved), or where
 * /etc/fstab mounts one of them (the deepest fstab mount point above it is
 * one of theirs: a revert needs its volumes unmounted, and what the
 * writers' metadata names lies below their usual mount points).
 */
struct cs_volume_places;
struct cs_volume_places *cs_volume_places_new(const struct cs_resolved *vols, uint32_t nvols);
bool cs_volume_places_hold(const char *dir, void *places);
void cs_volume_places_free(struct cs_volume_places *p);

/* The filesystem type libblkid finds on devnode ("ext4", "xfs", ...; ""
 * when it finds none, or more than one), into fstype (size bytes). */
void cs_volume_fstype(const char *devnode, char *fstype, size_t size);

/* Auto-recovery of a writable image: its ext3/ext4/xfs mounted read-write
 * once (journal or log replayed), synced, unmounted, in no namespace.
 * *fstype: what the image holds ("" nothing known; other types are left
 * alone).  1 when recovered, 0 when left alone, or -errno with err saying
 * what failed. */
int cs_volume_recover(const char *image, char *fstype, size_t size, struct cs_error *err);

/* The size of block device major:minor in sectors (sysfs); 0 when it
 * cannot be read. */
uint64_t cs_volume_sectors(uint32_t major, uint32_t minor);

/* Every block device with a size, with what blkid and mountinfo know of it,
 * and the module's tracking state when the module can tell (nl may be
 * NULL).  *vols is malloc'd. */
int cs_volume_list(struct cs_nl *nl, struct cs_volume **vols, uint32_t *n,
		   struct cs_error *err);

#endif
