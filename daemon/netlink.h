/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef COWSNAPD_NETLINK_H
#define COWSNAPD_NETLINK_H

#include <stdbool.h>
#include <stdint.h>

#include "proto.h"

/*
 * The daemon's only link to the provider: generic netlink family "cowsnap"
 * (uapi/linux/cowsnap.h).  Every function returns 0 or a negative errno
 * value, the kernel's own when it refused, with err naming the command and
 * carrying the kernel's extended-ack message when it sent one.
 */
struct cs_nl;

/* -ENOENT when the family is not registered (module not loaded). */
int cs_nl_open(struct cs_nl **out, struct cs_error *err);
void cs_nl_close(struct cs_nl *nl);
/* With wait set, each request runs on a thread of its own, and
 * wait(arg, fd) returns once fd is readable (the request is done), having
 * done other work meanwhile; or at once, and the request is waited for. */
void cs_nl_set_wait(struct cs_nl *nl, int (*wait)(void *arg, int fd), void *arg);

int cs_nl_get_version(struct cs_nl *nl, char *version, size_t size,
		      uint32_t *proto, struct cs_error *err);

/* name: NULL or "" for none; -EEXIST when a set has it */
int cs_nl_set_new(struct cs_nl *nl, uint32_t flags, uint32_t chunk_sectors,
		  const char *name, uint64_t *id, struct cs_error *err);
int cs_nl_set_add_volume(struct cs_nl *nl, uint64_t id, uint32_t major,
			 uint32_t minor, struct cs_error *err);
/* flags: enum cowsnap_storage_flags */
int cs_nl_set_add_storage(struct cs_nl *nl, uint64_t id, uint32_t major,
			  uint32_t minor, uint64_t sector, uint64_t sectors,
			  uint32_t flags, struct cs_error *err);
/* SET_ADD_FREE: n (at most COWSNAP_FREE_RANGES_MAX) ranges of volume
 * major:minor free at the take of TAKEN set id */
struct cowsnap_range;
int cs_nl_set_add_free(struct cs_nl *nl, uint64_t id, uint32_t major, uint32_t minor,
		       const struct cowsnap_range *r, size_t n, struct cs_error *err);
/* SET_GET_ZERO: the zero table of set id on volume major:minor (where its
 * image reads zeros: its storage there, and what SET_ADD_FREE gave), in
 * order, disjoint; *out (malloc'd, *n ranges) in sectors of the volume.
 * -EOPNOTSUPP from a module older than the command. */
int cs_nl_set_get_zero(struct cs_nl *nl, uint64_t id, uint32_t major, uint32_t minor,
		       struct cowsnap_range **out, size_t *n, struct cs_error *err);
/* On success *set is filled from the reply (arrays freed with
 * cs_schema_free on the cs_set schema, see cs_nl_set_free).  bound_ms
 * (100..60000, 0: none): the whole take, freezing and draining, within it. */
int cs_nl_set_take(struct cs_nl *nl, uint64_t id, uint32_t flags, uint32_t bound_ms,
		   struct cs_set *set, struct cs_error *err);
int cs_nl_set_destroy(struct cs_nl *nl, uint64_t id, struct cs_error *err);
/* A writable set's images read-only from now on (after auto-recovery). */
int cs_nl_set_seal(struct cs_nl *nl, uint64_t id, struct cs_error *err);
int cs_nl_set_get(struct cs_nl *nl, uint64_t id, struct cs_set *set,
		  struct cs_error *err);
int cs_nl_set_dump(struct cs_nl *nl, struct cs_set **sets, uint32_t *nsets,
		   struct cs_error *err);
void cs_nl_set_free(struct cs_set *set);

/* Tracked volumes: fills device, major, minor, sectors, tracked,
 * mark_set_id, snapshots, kept, cbt_generation, cbt_chunk_sectors. */
int cs_nl_volume_dump(struct cs_nl *nl, struct cs_volume **vols, uint32_t *n,
		      struct cs_error *err);

/* TRACK (keep true) or UNTRACK a volume. */
int cs_nl_track(struct cs_nl *nl, uint32_t major, uint32_t minor, bool keep,
		struct cs_error *err);

/* One CBT_GET reply: the map's generation and the bitmap of count chunks. */
struct cs_nl_cbt {
	uint8_t generation[16];
	char generation_str[CS_GENERATION_MAX + 1];
	uint32_t chunk_sectors;
	uint8_t *bitmap;		/* the caller's, (count + 7) / 8 bytes */
};

/*
 * Chunks first .. first+count-1 (count <= COWSNAP_CBT_MAX_COUNT) changed
 * since the take of set_id, or (seq non-zero) since the take with seq in
 * since_generation (16 bytes), or (both 0) since tracking began.
 */
int cs_nl_cbt_get(struct cs_nl *nl, uint32_t major, uint32_t minor, uint64_t set_id,
		  uint32_t seq, const uint8_t *since_generation, uint64_t first,
		  uint32_t count, struct cs_nl_cbt *out, struct cs_error *err);

/* Events from the module's multicast group "events", on a socket of their
 * own so that they never mix with replies. */
struct cs_nl_events;

struct cs_event {
	int cmd;			/* COWSNAP_CMD_EVENT_* */
	uint64_t set_id;
	uint64_t storage_sectors, storage_used;
	uint32_t invalid_cause;
	uint32_t major, minor;
	char dev_name[64];
};

int cs_nl_events_open(struct cs_nl_events **out, struct cs_error *err);
void cs_nl_events_close(struct cs_nl_events *ev);
int cs_nl_events_fd(const struct cs_nl_events *ev);
/* Read what is queued and call fn for each event; never blocks. */
void cs_nl_events_read(struct cs_nl_events *ev,
		       void (*fn)(void *ctx, const struct cs_event *e), void *ctx);
const char *cs_nl_event_name(int cmd);

#endif
