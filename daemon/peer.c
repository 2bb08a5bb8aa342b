// SPDX-License-Identifier: GPL-2.0-or-later
/* Who may talk to the daemon.  Pure logic, unit-tested on the host. */
#include <errno.h>
#include <stdlib.h>

#include "peer.h"
#include "proto.h"

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

bool cs_peer_admit(unsigned int total, unsigned int of_uid, uid_t uid)
{
	if (uid == 0)
		return total < CS_PEER_MAX;
	return total < CS_PEER_MAX - CS_PEER_ROOT_RESERVE && of_uid < CS_PEER_MAX_PER_UID;
}

bool cs_peer_may(int op, uid_t uid)
{
	switch (op) {
	case CS_OP_STORAGE_ADD:
	case CS_OP_STORAGE_REMOVE:
	case CS_OP_WRITER_REGISTER:
	case CS_OP_RESTORE_BEGIN:
		return uid == 0;
	default:
		return true;
	}
}

int cs_owners_add(struct cs_owners *o, uint64_t id, uid_t uid)
{
	if (o->n == o->cap) {
		size_t cap = o->cap ? 2 * o->cap : 16;
		struct cs_set_owner *v = reallocarray(o->v, cap, sizeof(*v));

		if (!v)
			return -ENOMEM;
		o->v = v;
		o->cap = cap;
	}
	o->v[o->n++] = (struct cs_set_owner){ .id = id, .uid = uid };
	return 0;
}

void cs_owners_del(struct cs_owners *o, uint64_t id)
{
	for (size_t i = 0; i < o->n; i++) {
		if (o->v[i].id == id) {
			o->v[i] = o->v[--o->n];
			return;
		}
	}
}

bool cs_owners_may_delete(const struct cs_owners *o, uint64_t id, uid_t uid)
{
	if (uid == 0)
		return true;
	for (size_t i = 0; i < o->n; i++)
		if (o->v[i].id == id)
			return o->v[i].uid == uid;
	return false;
}

void cs_owners_free(struct cs_owners *o)
{
	free(o->v);
	*o = (struct cs_owners){ 0 };
}
