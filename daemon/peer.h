/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef COWSNAPD_PEER_H
#define COWSNAPD_PEER_H

#include <stdbool.h>
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

#endif
