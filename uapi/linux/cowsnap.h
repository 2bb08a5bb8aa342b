/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * cowsnap: copy-on-write snapshots of block devices, taken atomically over a
 * set of volumes.  This header is the whole generic-netlink protocol between
 * the cowsnap module (the provider) and userspace (cowsnapd).
 *
 * Family "cowsnap" (COWSNAP_GENL_NAME), version 1, multicast group "events".
 * Every command needs CAP_SYS_ADMIN in the initial user namespace; a request
 * without it fails with -EPERM before its attributes are looked at.  Every
 * attribute is checked against a strict policy: unknown attributes, wrong
 * lengths and out-of-range values fail with -EINVAL and an extended-ack
 * message naming the attribute.  Unknown flag bits fail with -EOPNOTSUPP.
 *
 * Volumes are named by device number (COWSNAP_A_DEV_MAJOR/MINOR of the whole
 * disk or partition); userspace resolves paths, UUIDs and labels.  Sizes and
 * offsets are in 512-byte sectors unless the name says otherwise.
 *
 * Commands (attributes marked * are required; replies are on the same
 * sequence number):
 *
 * COWSNAP_CMD_GET_VERSION
 *   request: (none)
 *   reply:   COWSNAP_A_VERSION          string  module version, e.g. "0.1.0"
 *            COWSNAP_A_PROTO_VERSION    u32     COWSNAP_GENL_VERSION
 *
 * COWSNAP_CMD_SET_NEW: start defining a shadow copy set.  Only one set may be
 *   DEFINING at a time: a second SET_NEW fails with -EBUSY.  The requesting
 *   netlink socket becomes the set's owner; if it closes while the set is
 *   DEFINING the set is aborted and its volume marks are dropped.
 *   request: COWSNAP_A_SET_FLAGS        u32     enum cowsnap_set_flags
 *            COWSNAP_A_CHUNK_SECTORS    u32     copy-on-write unit, power of two,
 *                                               8..131072 (default: module
 *                                               parameter chunk_sectors)
 *            COWSNAP_A_HOLD_MS          u32     bound on the write hold at take,
 *                                               100..60000 (default 10000)
 *            COWSNAP_A_SET_NAME         string  the set's name (default: none),
 *                                               fixed for its life: 1 to
 *                                               COWSNAP_SET_NAME_MAX_LEN bytes
 *                                               of A-Z a-z 0-9 _ . + -, not
 *                                               starting with `-' or `.', not
 *                                               only digits (never a set id);
 *                                               -EINVAL otherwise, -EEXIST
 *                                               when a set that is not yet
 *                                               destroyed has it
 *   reply:   COWSNAP_A_SET_ID           u64     non-zero, never reused while
 *                                               the module stays loaded
 *   With COWSNAP_SET_F_WRITABLE the set's images accept writes: each keeps
 *   them in the set's difference storage (a chunk written first gets the
 *   take's data copied into a slot of its own, then the write), reads see
 *   them over the take's data, the origin never sees them.  Chunks written
 *   on an image count as changed in the origin's changed-block map (so an
 *   incremental of that image includes them).  Running out of storage, or
 *   a storage write error, turns the set INVALID and fails the image write
 *   with -EIO; the origin goes on.  Writable images take no discard or
 *   write-zeroes.  A writable set refuses resident storage
 *   (COWSNAP_STORAGE_F_IN_FILE on one of its volumes: -EINVAL).  Modules
 *   older than this flag refuse it with -EOPNOTSUPP.
 *
 * COWSNAP_CMD_SET_ADD_VOLUME: add a volume to a DEFINING set and mark it.
 *   -EBUSY when the volume is marked by another DEFINING set; -ENODEV when
 *   the device does not exist; -EEXIST when it is already in this set;
 *   -ENOSPC past the module parameter max_snapshots_per_volume;
 *   -EOPNOTSUPP for a zoned device; -EBUSY for a whole disk that has
 *   partitions (snapshot the partitions) or a disk one of whose partitions
 *   is tracked (and the other way round); -EINVAL when the set's storage has
 *   larger logical blocks than the volume.
 *   request: COWSNAP_A_SET_ID*          u64
 *            COWSNAP_A_DEV_MAJOR*       u32
 *            COWSNAP_A_DEV_MINOR*       u32
 *
 * COWSNAP_CMD_SET_ADD_STORAGE: give a set a range of sectors of a block
 *   device as difference storage.  Allowed while DEFINING and TAKEN (to grow
 *   a set after COWSNAP_CMD_EVENT_STORAGE_LOW).  The range must not overlap a
 *   volume of the set nor storage already given to any set; the module holds
 *   the device open until the set is gone.  -EOPNOTSUPP for a zoned device;
 *   -EINVAL when its logical blocks are larger than a volume's of the set.
 *   A destroyed set's ranges may be given again once SET_DESTROY returned.
 *   request: COWSNAP_A_SET_ID*          u64
 *            COWSNAP_A_DEV_MAJOR*       u32
 *            COWSNAP_A_DEV_MINOR*       u32
 *            COWSNAP_A_SECTOR*          u64     first sector of the range
 *            COWSNAP_A_SECTORS*         u64     length, at least one chunk
 *            COWSNAP_A_STORAGE_FLAGS    u32     enum cowsnap_storage_flags
 *   The device is opened exclusively (nobody may mount it), unless the range
 *   is COWSNAP_STORAGE_F_IN_FILE: an extent of a file the caller created,
 *   allocated and made immutable on a filesystem mounted from the device,
 *   opened shared with that filesystem (-EBUSY where the kernel refuses
 *   writes to mounted devices, CONFIG_BLK_DEV_WRITE_MOUNTED=n).  Storage
 *   may lie on a tracked volume only as such a file, on a volume of the
 *   same set that no other set holds (-EBUSY otherwise): while the set is
 *   DEFINING anywhere on it (the image of that volume reads its sectors as
 *   zeros, and no other set may add the volume while this one lives:
 *   SET_ADD_VOLUME -EBUSY); once TAKEN only inside what the image already
 *   reads as zeros (that storage, and ranges of SET_ADD_FREE), -EBUSY
 *   otherwise: elsewhere the file may have blocks the filesystem freed
 *   after the take that the image still uses.
 *
 * COWSNAP_CMD_SET_TAKE: take the set.  Freezes the filesystems on all its
 *   volumes (the kernel's own freeze), holds and drains writes on all of
 *   them for at most HOLD_MS, starts copy-on-write on all, releases, thaws.
 *   Afterwards the set is TAKEN and each volume has an image disk
 *   /dev/cowsnapN, read-only unless the set is WRITABLE.  Each freeze gets
 *   HOLD_MS too; one that does not finish (a volume backed by a file on
 *   another volume of the set, frozen before it) is undone and the volumes
 *   are frozen again with it first.  -EINVAL
 *   when the set has no volume or no storage, -ETIMEDOUT when in-flight
 *   writes did not drain within HOLD_MS or the volumes could not be frozen in
 *   any order (the set stays DEFINING and may be taken again or destroyed);
 *   nothing stays frozen or held on any error.
 *   request: COWSNAP_A_SET_ID*          u64
 *            COWSNAP_A_TAKE_FLAGS       u32     enum cowsnap_take_flags
 *            COWSNAP_A_HOLD_MS          u32     bound on this whole take:
 *                                               freezing the volumes and
 *                                               draining writes together
 *                                               end within it, 100..60000
 *                                               (default: none beyond the
 *                                               set's hold time per step)
 *   reply:   the set, as in SET_GET
 *
 * COWSNAP_CMD_SET_DESTROY: destroy a set in any state, drop its marks,
 *   remove its image disks (an image still open is removed when closed; its
 *   reads fail with -EIO from now on, also a read under way at the destroy).
 *   Returns once no copy of the set is still writing to its storage.
 *   request: COWSNAP_A_SET_ID*          u64
 *
 * COWSNAP_CMD_SET_SEAL: a writable set's images turn read-only for good
 *   (after auto-recovery): COWSNAP_SET_F_WRITABLE leaves the set's flags,
 *   each image disk is marked read-only, and image writes submitted from
 *   then on fail with -EIO (writes under way complete).  Nothing to do for
 *   a set that is not writable.  A TAKEN set only (-ESTALE otherwise).
 *   request: COWSNAP_A_SET_ID*          u64
 *
 * COWSNAP_CMD_SET_GET: one set (with SET_ID) or, as a dump, every set.
 *   reply:   COWSNAP_A_SET_ID           u64
 *            COWSNAP_A_SET_NAME         string  only when the set has a name
 *            COWSNAP_A_SET_STATE        u32     enum cowsnap_set_state
 *            COWSNAP_A_SET_FLAGS        u32
 *            COWSNAP_A_INVALID_CAUSE    u32     enum cowsnap_invalid_cause
 *            COWSNAP_A_CHUNK_SECTORS    u32
 *            COWSNAP_A_CREATED_NS       u64     CLOCK_REALTIME at SET_NEW
 *            COWSNAP_A_TAKEN_NS         u64     CLOCK_REALTIME at take (TAKEN)
 *            COWSNAP_A_STORAGE_SECTORS  u64     storage given
 *            COWSNAP_A_STORAGE_USED     u64     storage used, sectors
 *            COWSNAP_A_VOLUMES          nested, one COWSNAP_A_VOLUME each:
 *              COWSNAP_A_VOLUME         nested
 *                COWSNAP_A_DEV_MAJOR    u32     origin
 *                COWSNAP_A_DEV_MINOR    u32
 *                COWSNAP_A_DEV_NAME     string  origin's kernel name ("sda2")
 *                COWSNAP_A_SECTORS      u64     origin size at take
 *                COWSNAP_A_IMAGE_MINOR  u32     N of /dev/cowsnapN (TAKEN)
 *                COWSNAP_A_IMAGE_MAJOR  u32
 *                COWSNAP_A_CHUNKS_COPIED u64    chunks preserved so far
 *                COWSNAP_A_CBT_GENERATION binary 16 bytes: the CBT generation
 *                                               at take (TAKEN)
 *                COWSNAP_A_CBT_SEQ      u32     the CBT sequence of the take
 *                                               (TAKEN): CBT_GET with this
 *                                               SEQ and GENERATION answers
 *                                               "changed since this take"
 *                                               even after the set is gone
 *
 * COWSNAP_CMD_VOLUME_GET: dump of every tracked volume.
 *   reply:   COWSNAP_A_DEV_MAJOR, COWSNAP_A_DEV_MINOR, COWSNAP_A_DEV_NAME
 *            COWSNAP_A_MARK_SET_ID      u64     DEFINING set marking it, or 0
 *            COWSNAP_A_VOLUME_FLAGS     u32     enum cowsnap_volume_flags
 *            COWSNAP_A_SNAPSHOTS        u32     TAKEN sets holding it
 *            COWSNAP_A_CBT_GENERATION   binary  16 bytes; changes on reset
 *            COWSNAP_A_CHUNK_SECTORS    u32     CBT granularity
 *            COWSNAP_A_SECTORS          u64     device size
 *
 * COWSNAP_CMD_TRACK / COWSNAP_CMD_UNTRACK: keep a volume tracked with no set
 *   (for changed-block tracking between backups), or stop.  UNTRACK of a
 *   volume still in a set only drops the keep flag.
 *   request: COWSNAP_A_DEV_MAJOR*, COWSNAP_A_DEV_MINOR*
 *
 * COWSNAP_CMD_CBT_GET: which chunks of a volume changed since the take of a
 *   set (or since tracking began when SET_ID is 0), for a range of chunks.
 *   Instead of SET_ID, CBT_SEQ and CBT_GENERATION (as SET_GET reported them
 *   for a volume of a set, which may be gone since) ask for the chunks
 *   changed since that take; exactly one of SET_ID and CBT_SEQ is required.
 *   A set or a CBT_GENERATION of an older generation than the volume's gets
 *   every chunk as changed (the reply's CBT_GENERATION tells).
 *   request: COWSNAP_A_DEV_MAJOR*, COWSNAP_A_DEV_MINOR*
 *            COWSNAP_A_SET_ID           u64
 *            COWSNAP_A_CBT_SEQ          u32     1..254, with CBT_GENERATION
 *            COWSNAP_A_CBT_GENERATION   binary  16 bytes
 *            COWSNAP_A_CBT_FIRST*       u64     first chunk index
 *            COWSNAP_A_CBT_COUNT*       u32     chunks, at most 262144
 *   reply:   COWSNAP_A_CBT_GENERATION   binary  16 bytes
 *            COWSNAP_A_CHUNK_SECTORS    u32
 *            COWSNAP_A_CBT_FIRST        u64
 *            COWSNAP_A_CBT_BITMAP       binary  bit i (LSB first) = chunk
 *                                               FIRST+i changed
 *
 * COWSNAP_CMD_SET_ADD_FREE: ranges of a volume of a TAKEN set that were
 *   free space of its filesystem at the take (userspace reads that from the
 *   image, e.g. FS_IOC_GETFSMAP on a read-only mount of it).  From this
 *   command on, the image of that volume reads them as zeros, for good;
 *   the set may then grow with storage files on that volume in them
 *   (SET_ADD_STORAGE).  Send it before anyone reads the image: a read
 *   before it may have returned the old free-space contents there.  Ranges
 *   may overlap each other and earlier ones; none is ever taken back.
 *   -ESTALE when the set is not TAKEN (or is invalid), -EINVAL when the set
 *   is WRITABLE (its images read back their own writes), the device is not
 *   a volume of the set or a range is empty or ends past the volume's size
 *   at the take, -ENOSPC past COWSNAP_ZERO_PLACES_MAX places
 *   in the set's zero table (after merging).
 *   request: COWSNAP_A_SET_ID*          u64
 *            COWSNAP_A_DEV_MAJOR*       u32     the volume (origin)
 *            COWSNAP_A_DEV_MINOR*       u32
 *            COWSNAP_A_FREE_RANGES*     binary  1..COWSNAP_FREE_RANGES_MAX
 *                                               struct cowsnap_range, in
 *                                               sectors of the volume
 *
 * COWSNAP_CMD_SET_GET_ZERO: where the image of a volume of a set reads
 *   zeros: the set's zero table on that volume (its storage files on the
 *   volume, and the ranges of SET_ADD_FREE), so that userspace that lost
 *   its copy (cowsnapd restarted) finds it again, without reading the image
 *   anew.  Places in order, disjoint, merged when they touch, clipped to the
 *   volume, from sector SECTOR of the volume on; at most
 *   COWSNAP_ZERO_GET_MAX per reply.  When more follow, the reply's SECTOR
 *   says where to ask next (the table only grows, so the replies together
 *   hold at least the table as it was at the first request).  Any state of
 *   the set; -EINVAL when the device is not a volume of the set.
 *   request: COWSNAP_A_SET_ID*          u64
 *            COWSNAP_A_DEV_MAJOR*       u32     the volume (origin)
 *            COWSNAP_A_DEV_MINOR*       u32
 *            COWSNAP_A_SECTOR           u64     first sector of the volume
 *                                               to report (default 0)
 *   reply:   COWSNAP_A_SET_ID           u64
 *            COWSNAP_A_DEV_MAJOR        u32
 *            COWSNAP_A_DEV_MINOR        u32
 *            COWSNAP_A_FREE_RANGES      binary  0..COWSNAP_ZERO_GET_MAX
 *                                               struct cowsnap_range, in
 *                                               sectors of the volume
 *            COWSNAP_A_SECTOR           u64     only when more places
 *                                               follow: the next request's
 *   Modules older than this command answer -EOPNOTSUPP.
 *
 * Events, multicast on group "events" (COWSNAP_GENL_MCGRP_EVENTS); only a
 * socket with CAP_SYS_ADMIN may join it (-EPERM otherwise):
 *   COWSNAP_CMD_EVENT_SET_TAKEN       SET_ID
 *   COWSNAP_CMD_EVENT_SET_DESTROYED   SET_ID
 *   COWSNAP_CMD_EVENT_STORAGE_LOW     SET_ID, STORAGE_SECTORS, STORAGE_USED
 *                                     (sent when free storage falls below the
 *                                     module parameter low_water_percent;
 *                                     before the set's SET_INVALID, when the
 *                                     storage fell below it first)
 *   COWSNAP_CMD_EVENT_SET_INVALID     SET_ID, INVALID_CAUSE
 *   COWSNAP_CMD_EVENT_VOLUME_GONE     DEV_MAJOR, DEV_MINOR, DEV_NAME
 *
 * Dumps end with NLMSG_DONE as usual.  Errors of note: -EPERM (no
 * CAP_SYS_ADMIN), -ENOENT (no such set), -EBUSY (set lock or mark held),
 * -EINVAL (bad attributes, with extack), -EOPNOTSUPP (unknown flag bits),
 * -ENODEV (no such device), -ESTALE (set not in the state the command needs),
 * -EEXIST (SET_NEW: the name is taken).
 *
 * Each image disk says in sysfs, /sys/block/cowsnapN/cowsnap/, what it is:
 * set_id, set_name (empty when the set has none), origin (the origin's
 * kernel name) and state (taken, invalid, gone).
 */
#ifndef _UAPI_LINUX_COWSNAP_H
#define _UAPI_LINUX_COWSNAP_H

#include <linux/types.h>

#define COWSNAP_GENL_NAME		"cowsnap"
#define COWSNAP_GENL_VERSION		1
#define COWSNAP_GENL_MCGRP_EVENTS	"events"

#define COWSNAP_IMAGE_NAME		"cowsnap"	/* /dev/cowsnapN */
#define COWSNAP_CBT_GENERATION_LEN	16
#define COWSNAP_CBT_MAX_COUNT		262144
#define COWSNAP_VERSION_MAX_LEN		32
#define COWSNAP_DEV_NAME_MAX_LEN	32
#define COWSNAP_SET_NAME_MAX_LEN	64	/* without the NUL */

enum cowsnap_cmd {
	COWSNAP_CMD_UNSPEC,
	COWSNAP_CMD_GET_VERSION,
	COWSNAP_CMD_SET_NEW,
	COWSNAP_CMD_SET_ADD_VOLUME,
	COWSNAP_CMD_SET_ADD_STORAGE,
	COWSNAP_CMD_SET_TAKE,
	COWSNAP_CMD_SET_DESTROY,
	COWSNAP_CMD_SET_GET,
	COWSNAP_CMD_VOLUME_GET,
	COWSNAP_CMD_TRACK,
	COWSNAP_CMD_UNTRACK,
	COWSNAP_CMD_CBT_GET,
	COWSNAP_CMD_EVENT_SET_TAKEN,
	COWSNAP_CMD_EVENT_SET_DESTROYED,
	COWSNAP_CMD_EVENT_STORAGE_LOW,
	COWSNAP_CMD_EVENT_SET_INVALID,
	COWSNAP_CMD_EVENT_VOLUME_GONE,
	COWSNAP_CMD_SET_SEAL,
	COWSNAP_CMD_SET_ADD_FREE,
	COWSNAP_CMD_SET_GET_ZERO,
	__COWSNAP_CMD_MAX
};
#define COWSNAP_CMD_MAX (__COWSNAP_CMD_MAX - 1)

enum cowsnap_attr {
	COWSNAP_A_UNSPEC,
	COWSNAP_A_VERSION,
	COWSNAP_A_PROTO_VERSION,
	COWSNAP_A_SET_ID,
	COWSNAP_A_SET_STATE,
	COWSNAP_A_SET_FLAGS,
	COWSNAP_A_TAKE_FLAGS,
	COWSNAP_A_INVALID_CAUSE,
	COWSNAP_A_CHUNK_SECTORS,
	COWSNAP_A_HOLD_MS,
	COWSNAP_A_CREATED_NS,
	COWSNAP_A_TAKEN_NS,
	COWSNAP_A_DEV_MAJOR,
	COWSNAP_A_DEV_MINOR,
	COWSNAP_A_DEV_NAME,
	COWSNAP_A_SECTOR,
	COWSNAP_A_SECTORS,
	COWSNAP_A_STORAGE_SECTORS,
	COWSNAP_A_STORAGE_USED,
	COWSNAP_A_VOLUMES,
	COWSNAP_A_VOLUME,
	COWSNAP_A_IMAGE_MAJOR,
	COWSNAP_A_IMAGE_MINOR,
	COWSNAP_A_CHUNKS_COPIED,
	COWSNAP_A_MARK_SET_ID,
	COWSNAP_A_VOLUME_FLAGS,
	COWSNAP_A_SNAPSHOTS,
	COWSNAP_A_CBT_GENERATION,
	COWSNAP_A_CBT_FIRST,
	COWSNAP_A_CBT_COUNT,
	COWSNAP_A_CBT_BITMAP,
	COWSNAP_A_PAD,
	COWSNAP_A_CBT_SEQ,
	COWSNAP_A_STORAGE_FLAGS,
	COWSNAP_A_SET_NAME,
	COWSNAP_A_FREE_RANGES,
	__COWSNAP_A_LAST
};
#define COWSNAP_A_MAX (__COWSNAP_A_LAST - 1)

/* COWSNAP_A_FREE_RANGES: an array of these, native byte order */
struct cowsnap_range {
	__u64 start;			/* sector of the volume */
	__u64 len;			/* sectors, not 0 */
};
#define COWSNAP_FREE_RANGES_MAX		4095	/* per message */
#define COWSNAP_ZERO_PLACES_MAX		131072	/* per set */
#define COWSNAP_ZERO_GET_MAX		1024	/* per SET_GET_ZERO reply */

enum cowsnap_set_state {
	COWSNAP_SET_DEFINING = 1,
	COWSNAP_SET_TAKEN = 2,
	COWSNAP_SET_INVALID = 3,
};

enum cowsnap_set_flags {
	/* destroy the TAKEN set when the owner's netlink socket closes */
	COWSNAP_SET_F_AUTO_RELEASE = 1U << 0,
	/* keep the set until SET_DESTROY, whoever goes away */
	COWSNAP_SET_F_PERSISTENT = 1U << 1,
	/* images accept writes, kept in the set's storage (never the origin) */
	COWSNAP_SET_F_WRITABLE = 1U << 2,
	__COWSNAP_SET_F_ALL = COWSNAP_SET_F_AUTO_RELEASE | COWSNAP_SET_F_PERSISTENT |
			      COWSNAP_SET_F_WRITABLE
};

enum cowsnap_storage_flags {
	/* the range is a pinned file's extent on a mounted filesystem */
	COWSNAP_STORAGE_F_IN_FILE = 1U << 0,
	__COWSNAP_STORAGE_F_ALL = COWSNAP_STORAGE_F_IN_FILE
};

enum cowsnap_take_flags {
	/* do not freeze filesystems (the caller guarantees quiescence) */
	COWSNAP_TAKE_F_NO_FREEZE = 1U << 0,
	__COWSNAP_TAKE_F_ALL = COWSNAP_TAKE_F_NO_FREEZE
};

enum cowsnap_volume_flags {
	/* kept tracked by COWSNAP_CMD_TRACK, with no set */
	COWSNAP_VOLUME_F_KEEP = 1U << 0,
	__COWSNAP_VOLUME_F_ALL = COWSNAP_VOLUME_F_KEEP
};

enum cowsnap_invalid_cause {
	COWSNAP_INVALID_NONE = 0,
	COWSNAP_INVALID_STORAGE_FULL = 1,	/* difference storage exhausted */
	COWSNAP_INVALID_STORAGE_IO = 2,		/* write to storage failed */
	COWSNAP_INVALID_ORIGIN_IO = 3,		/* read of old data failed */
	COWSNAP_INVALID_NOMEM = 4,		/* memory for copy-on-write */
	COWSNAP_INVALID_VOLUME_GONE = 5,	/* an origin device went away */
};

/*
 * COWSNAP_A_SET_NAME's rule, one definition for the module and userspace:
 * 1 to COWSNAP_SET_NAME_MAX_LEN bytes of A-Z a-z 0-9 _ . + -, not starting
 * with '-' or '.' (no option, no hidden file, never "." or ".."), not only
 * digits (never taken for a set id).  It names a directory under
 * /dev/cowsnap/by-name/: no '/', nothing udev would mangle.  Plain ASCII
 * tests, not isalnum(): the kernel's takes Latin-1 letters, a locale's
 * others.  Reads at most COWSNAP_SET_NAME_MAX_LEN + 1 bytes of name.
 */
static inline int cowsnap_set_name_valid(const char *name)
{
	int digits = 1, i;

	for (i = 0; name[i]; i++) {
		char c = name[i];
		int digit = c >= '0' && c <= '9';

		if (i == COWSNAP_SET_NAME_MAX_LEN)
			return 0;
		if (!digit && !(c >= 'A' && c <= 'Z') && !(c >= 'a' && c <= 'z') &&
		    c != '_' && c != '.' && c != '+' && c != '-')
			return 0;
		digits &= digit;
	}
	return i && name[0] != '-' && name[0] != '.' && !digits;
}

#endif /* _UAPI_LINUX_COWSNAP_H */
