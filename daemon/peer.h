/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef COWSNAPD_PEER_H
#define COWSNAPD_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Root always; others only as members (primary or supplementary, as
 * SO_PEERCRED and SO_PEERGROUPS report them) of the configured group. */
struct cs_peer_policy {
	bool have_group;
	gid_t group;
	const char *group_name;
};

bool cs_peer_allowed(const struct cs_peer_policy *p, uid_t uid, gid_t gid,
		     const gid_t *groups, int ngroups);

/*
 * What a group member may do (root may do everything): read (version,
 * lists, show), back up (create sets and end their sessions, changed
 * blocks, keep volumes tracked) and delete the sets it created.  Naming
 * difference storage (the module overwrites it), registering a writer
 * (it would join root's backups) and restoring (writers stop their
 * services for it) stay root's.  op: enum cs_op.
 */
bool cs_peer_may(int op, uid_t uid);

/*
 * Connections: CS_PEER_MAX in all; the last CS_PEER_ROOT_RESERVE of them
 * for root alone, and at most CS_PEER_MAX_PER_UID for any other uid, so
 * that no user's idle connections lock root (or the others) out.  total:
 * connections open now; of_uid: those of uid.
 */
#define CS_PEER_MAX		128
#define CS_PEER_ROOT_RESERVE	8
#define CS_PEER_MAX_PER_UID	32
bool cs_peer_admit(unsigned int total, unsigned int of_uid, uid_t uid);

/* The uid that created each set this daemon created (sets made before
 * a restart, or by nlctl, have none: only root may delete them). */
struct cs_set_owner {
	uint64_t id;
	uid_t uid;
};

struct cs_owners {
	struct cs_set_owner *v;
	size_t n, cap;
};

int cs_owners_add(struct cs_owners *o, uint64_t id, uid_t uid);
void cs_owners_del(struct cs_owners *o, uint64_t id);
/* root always; anyone else only the sets it created */
bool cs_owners_may_delete(const struct cs_owners *o, uint64_t id, uid_t uid);
void cs_owners_free(struct cs_owners *o);

#endif
