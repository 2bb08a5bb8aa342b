// SPDX-License-Identifier: GPL-2.0-or-later
/* Who may talk to the daemon.  Pure logic, unit-tested on the host. */
#include "peer.h"

bool cs_peer_allowed(const struct cs_peer_policy *p, uid_t uid, gid_t gid,
		     const gid_t *groups, int ngroups)
{
	if (uid == 0)
		return true;
	if (!p->have_group)
		return false;
	if (gid == p->group)
		return true;
	for (int i = 0; i < ngroups; i++)
		if (groups[i] == p->group)
			return true;
	return false;
}
