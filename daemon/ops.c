// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Requests from clients: decode (through the protocol library), dispatch to
 * a handler, encode its result or error.  Handlers fill protocol structs;
 * they never see JSON.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <inttypes.h>

#include <json-c/json.h>
#include <linux/cowsnap.h>

#include "cbt.h"
#include "daemon.h"
#include "log.h"
#include "netlink.h"
#include "filestore.h"
#include "reply.h"
#include "session.h"
#include "ramstore.h"
#include "storage.h"
#include "volumes.h"

typedef int (*op_fn)(struct cowsnapd *d, struct cs_client_conn *c,
		     const void *args, void *result, struct cs_error *err);

static int op_version(struct cowsnapd *d, struct cs_client_conn *c,
		      const void *args, void *result, struct cs_error *err)
{
	struct cs_version *v = result;
	struct cs_error nerr = { 0 };

	snprintf(v->daemon_version, sizeof(v->daemon_version), "%s", COWSNAP_VERSION);
	v->proto_version = CS_PROTO_VERSION;
	if (cs_nl_get_version(d->nl, v->module_version, sizeof(v->module_version),
			      &v->module_proto_version, &nerr)) {
		v->module_version[0] = '\0';
		v->module_proto_version = 0;
		snprintf(v->module_error, sizeof(v->module_error), "%s", nerr.message);
	}
	return 0;
}

void cs_ops_explain(struct cs_error *err, int ret, const char *what)
{
	char msg[CS_ERRMSG_MAX];

	snprintf(msg, sizeof(msg), "%s", err->message);
	if (ret == -EOPNOTSUPP)
		cs_error_set(err, EOPNOTSUPP, "%s: the cowsnap module does not support this "
			     "yet (%s)", what, msg);
	else if (ret == -EPERM)
		cs_error_set(err, EPERM, "%s: %s", what, msg);
	else
		cs_error_set(err, -ret, "%s: %s", what, msg);
}

static int op_set_create(struct cowsnapd *d, struct cs_client_conn *c,
			 const void *args, void *result, struct cs_error *err)
{
	return cs_session_create(d, c, args, result, err);
}

/* Every set, with the daemon's storage bookkeeping brought in line. */
static int dump_sets(struct cowsnapd *d, struct cs_set **sets, uint32_t *n,
		     struct cs_error *err)
{
	int ret = cs_nl_set_dump(d->nl, sets, n, err);

	if (ret)
		cs_ops_explain(err, ret, "cannot list sets");
	else
		cs_storage_reconcile(d, *sets, *n);
	return ret;
}

static void free_sets(struct cs_set *sets, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		cs_nl_set_free(&sets[i]);
	free(sets);
}

static int op_set_list(struct cowsnapd *d, struct cs_client_conn *c,
		       const void *args, void *result, struct cs_error *err)
{
	struct cs_set_list_result *r = result;

	return dump_sets(d, &r->sets, &r->nsets, err);
}

static int op_set_show(struct cowsnapd *d, struct cs_client_conn *c,
		       const void *args, void *result, struct cs_error *err)
{
	const struct cs_set_show_args *a = args;
	struct cs_set_result *r = result;
	int ret = cs_nl_set_get(d->nl, a->id, &r->set, err);

	if (ret == -ENOENT)
		cs_error_set(err, ENOENT, "there is no set %" PRIu64 "; see `snapctl list sets'",
			     a->id);
	else if (ret)
		cs_ops_explain(err, ret, "cannot show the set");
	else
		cs_session_describe_storage(d, a->id, r);
	return ret;
}

static int destroy_one(struct cowsnapd *d, struct cs_client_conn *c, uint64_t id,
		       struct cs_set_delete_result *r, struct cs_error *err)
{
	int ret;

	if (!cs_owners_may_delete(&d->owners, id, c->uid)) {
		cs_error_set(err, EACCES, "set %" PRIu64 " was not created by uid %u: only its "
			     "creator or root may delete it", id, (unsigned int)c->uid);
		return -EACCES;
	}
	ret = cs_nl_set_destroy(d->nl, id, err);
	if (ret == -ENOENT) {
		cs_error_set(err, ENOENT, "there is no set %" PRIu64 "; see `snapctl list sets'",
			     id);
		return ret;
	}
	if (ret) {
		cs_ops_explain(err, ret, "cannot delete the set");
		return ret;
	}
	cs_storage_release(d, id);
	cs_owners_del(&d->owners, id);
	r->ids[r->nids++] = id;
	cs_info("set %" PRIu64 " deleted by uid %u", id, (unsigned int)c->uid);
	return 0;
}

static int op_set_delete(struct cowsnapd *d, struct cs_client_conn *c,
			 const void *args, void *result, struct cs_error *err)
{
	const struct cs_set_delete_args *a = args;
	struct cs_set_delete_result *r = result;
	struct cs_resolved vol;
	struct cs_set *sets = NULL, *oldest = NULL;
	uint32_t n = 0;
	int ret;

	if ((a->id != 0) + a->all + (a->oldest[0] != '\0') != 1) {
		cs_error_set(err, EINVAL, "give exactly one of id, all, oldest");
		return -EINVAL;
	}
	if (a->oldest[0]) {
		ret = cs_volume_resolve(a->oldest, &vol, err);
		if (ret)
			return ret;
	}
	if (a->id) {
		r->ids = calloc(1, sizeof(*r->ids));
		if (!r->ids)
			return -ENOMEM;
		return destroy_one(d, c, a->id, r, err);
	}
	ret = dump_sets(d, &sets, &n, err);
	if (ret)
		return ret;
	r->ids = calloc(n ? n : 1, sizeof(*r->ids));
	if (!r->ids) {
		free_sets(sets, n);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < n && !ret; i++) {
		/* all, oldest: of the sets this user may delete */
		if (!cs_owners_may_delete(&d->owners, sets[i].id, c->uid))
			continue;
		if (a->all) {
			ret = destroy_one(d, c, sets[i].id, r, err);
			continue;
		}
		if (sets[i].state == CS_SET_DEFINING)
			continue;
		for (uint32_t j = 0; j < sets[i].nvolumes; j++) {
			const struct cs_set_volume *v = &sets[i].volumes[j];

			if (v->major != vol.major || v->minor != vol.minor)
				continue;
			if (!oldest || sets[i].taken_ns < oldest->taken_ns ||
			    (sets[i].taken_ns == oldest->taken_ns && sets[i].id < oldest->id))
				oldest = &sets[i];
		}
	}
	if (!a->all && !ret) {
		if (oldest) {
			ret = destroy_one(d, c, oldest->id, r, err);
		} else {
			cs_error_set(err, ENOENT, "no set holds a snapshot of %s (%s)", a->oldest,
				     vol.devnode);
			ret = -ENOENT;
		}
	}
	free_sets(sets, n);
	return ret;
}

static int op_volume_list(struct cowsnapd *d, struct cs_client_conn *c,
			  const void *args, void *result, struct cs_error *err)
{
	struct cs_volume_list_result *r = result;

	return cs_volume_list(d->nl, &r->volumes, &r->nvolumes, err);
}

static int op_storage_list(struct cowsnapd *d, struct cs_client_conn *c,
			   const void *args, void *result, struct cs_error *err)
{
	struct cs_storage_list_result *r = result;

	r->set_sectors = d->pool.set_sectors;
	r->grow_sectors = d->pool.grow_sectors;
	r->set_auto = d->pool.set_auto;
	r->grow_auto = d->pool.grow_auto;
	r->max_percent = d->pool.max_percent;
	if (!d->pool.configured)
		snprintf(r->default_directory, sizeof(r->default_directory), "%s",
			 d->default_storage);
	r->devices = calloc(d->pool.ndevs + 1, sizeof(*r->devices));
	if (!r->devices)
		return -ENOMEM;
	for (size_t i = 0; i < d->pool.ndevs; i++) {
		const struct cs_pool_dev *p = &d->pool.devs[i];
		struct cs_storage_dev *s = &r->devices[r->ndevices++];

		strcpy(s->device, p->path);
		s->major = p->major;
		s->minor = p->minor;
		s->sectors = p->sectors;
		s->used = cs_pool_dev_used(p);
		if (p->ram) {
			s->kind = CS_STORAGE_RAM;
			s->memory = cs_ram_memory(d->pool.ram_index);
		}
	}
	/* the directories, and the default places holding storage files */
	return cs_filestore_list(d, &r->devices, &r->ndevices);
}

static int op_storage_add(struct cowsnapd *d, struct cs_client_conn *c,
			  const void *args, void *result, struct cs_error *err)
{
	const struct cs_storage_args *a = args;
	int ret = cs_storage_add(d, a->device, err);

	return ret ? ret : op_storage_list(d, c, NULL, result, err);
}

static int op_storage_remove(struct cowsnapd *d, struct cs_client_conn *c,
			     const void *args, void *result, struct cs_error *err)
{
	const struct cs_storage_args *a = args;
	int ret = cs_storage_remove(d, a->device, err);

	return ret ? ret : op_storage_list(d, c, NULL, result, err);
}

static int op_writer_list(struct cowsnapd *d, struct cs_client_conn *c,
			  const void *args, void *result, struct cs_error *err)
{
	struct cs_writer_list_result *r = result;

	r->writers = calloc(d->writers.n ? d->writers.n : 1, sizeof(*r->writers));
	if (!r->writers)
		return -ENOMEM;
	for (size_t i = 0; i < d->writers.n; i++) {
		const struct cs_writer *w = &d->writers.w[i];
		struct cs_writer_info *o = &r->writers[r->nwriters++];

		strcpy(o->name, w->name);
		strcpy(o->exec, w->exec);
		o->kind = w->kind;
		if (w->kind == CS_WRITER_SOCKET) {
			o->pid = (uint32_t)w->pid;
			o->connected = w->conn != NULL;
			strcpy(o->class_id, w->wmd.class_id);
			strcpy(o->instance, w->wmd.instance);
			o->components = w->wmd.ncomponents;
		}
		o->order = w->order;
		o->state = w->state;
		o->last_error = w->error;
		snprintf(o->message, sizeof(o->message), "%s", w->last_message);
		o->freeze_timeout_ms = w->freeze_timeout_ms;
		o->event_timeout_ms = w->event_timeout_ms;
	}
	return 0;
}

static int end_restore(struct cowsnapd *d, struct cs_client_conn *c, bool success,
		       struct cs_error *err)
{
	int ret;

	c->restore = false;
	c->session_env.success = success ? "1" : "0";
	d->in_session = true;
	ret = cs_writers_post_restore(d, &c->session_env, err);
	d->in_session = false;
	if (d->session_owner == c)
		d->session_owner = NULL;
	cs_info("restore session of pid %d %s", (int)c->pid,
		success ? "completed" : "completed as failed");
	return ret;
}

void cs_ops_client_gone(struct cowsnapd *d, struct cs_client_conn *c)
{
	struct cs_error e;

	if (c->session_set)
		cs_session_end(d, c, CS_SESSION_GONE, false, NULL);
	/* a requestor that goes away mid-restore: the restore failed */
	if (c->restore)
		end_restore(d, c, false, &e);
	if (c->writer)
		cs_writers_conn_gone(d, c);
	if (d->session_owner == c)
		d->session_owner = NULL;
}

void cs_ops_session_expired(struct cowsnapd *d, struct cs_client_conn *c)
{
	struct cs_error e;

	if (c->session_set) {
		cs_warn("backup session of set %" PRIu64 " (pid %d) held the shadow-set lock "
			"for --max-session (%u s) without completing: ending it",
			c->session_set, (int)c->pid, d->max_session_ms / 1000);
		c->session_expired = c->session_set;
		cs_session_end(d, c, CS_SESSION_EXPIRED, false, NULL);
	}
	if (c->restore) {
		cs_warn("restore session of pid %d held the shadow-set lock for --max-session "
			"(%u s) without ending: the writers get post-restore as failed",
			(int)c->pid, d->max_session_ms / 1000);
		c->restore_expired = true;
		end_restore(d, c, false, &e);
	}
	if (d->session_owner == c)
		d->session_owner = NULL;
}

static int op_writer_register(struct cowsnapd *d, struct cs_client_conn *c,
			      const void *args, void *result, struct cs_error *err)
{
	/* the writer takes over the document's arrays; the request's copy is
	 * left empty for cs_request_free */
	struct cs_wmd *wmd = (struct cs_wmd *)args;
	int ret;

	if (c->writer) {
		cs_error_set(err, EEXIST, "this connection has registered a writer already; "
			     "one connection per writer");
		return -EEXIST;
	}
	if (c->session_set || c->restore) {
		cs_error_set(err, EBUSY, "this connection is a requestor in a session; "
			     "register writers on a connection of their own");
		return -EBUSY;
	}
	ret = cs_writers_register(d, c, c->pid, wmd, err);
	if (!ret)
		c->writer = true;
	return ret;
}

static int op_restore_begin(struct cowsnapd *d, struct cs_client_conn *c,
			    const void *args, void *result, struct cs_error *err)
{
	const struct cs_restore_args *a = args;
	struct cs_restore_result *r = result;
	struct cs_resolved vols[CS_MAX_VOLUMES];
	struct cs_component_ref *refs;
	uint32_t n = 0;
	int ret;

	if (c->restore || c->session_set) {
		cs_error_set(err, EBUSY, "this connection has a session already; end it first");
		return -EBUSY;
	}
	if (!a->nwriters && !a->nvolumes) {
		cs_error_set(err, EINVAL, "restore_begin names no writer and no volume: give "
			     "the backup's writers (its metadata) or the volumes restored");
		return -EINVAL;
	}
	if (!a->nwriters && a->ncomponents) {
		cs_error_set(err, EINVAL, "restore_begin names components but not their writers");
		return -EINVAL;
	}
	/* the volumes, resolved before anything is selected */
	for (uint32_t i = 0; i < a->nvolumes; i++) {
		ret = cs_volume_resolve(a->volumes[i].spec, &vols[i], err);
		if (ret)
			return ret;
	}
	ret = cs_session_may_start(d, c, err);
	if (ret)
		return ret;
	if (!a->nwriters) {
		struct cs_volume_places *places = cs_volume_places_new(vols, a->nvolumes);

		if (!places) {
			cs_error_set(err, ENOMEM, "out of memory");
			return -ENOMEM;
		}
		ret = cs_writers_select_files(d, a->backup_type, cs_volume_places_hold, places,
					      err);
		cs_volume_places_free(places);
		if (ret < 0)
			return ret;
		n = (uint32_t)ret;
		goto selected;
	}
	/* every writer of the backup, with its components when they are named */
	refs = calloc(a->nwriters + a->ncomponents, sizeof(*refs));
	if (!refs) {
		cs_error_set(err, ENOMEM, "out of memory");
		return -ENOMEM;
	}
	ret = cs_restore_refs(a, refs, a->nwriters + a->ncomponents, err);
	if (ret < 0) {
		free(refs);
		return ret;
	}
	n = (uint32_t)ret;
	ret = cs_writers_select(d, refs, n, a->backup_type, false, err);
	free(refs);
	n = ret > 0 ? (uint32_t)ret : 0;
	if (ret < 0) {
		char msg[CS_ERRMSG_MAX];

		snprintf(msg, sizeof(msg), "%s", err->message);
		cs_error_set(err, -ret, "cannot restore: %.400s (a writer of the backup must be "
			     "running or configured)", msg);
		return ret;
	}
selected:
	memset(&c->session_env, 0, sizeof(c->session_env));
	c->session_env.backup_type = cs_backup_type_names[a->backup_type];
	c->session_env.set_id = a->set_id;
	for (uint32_t i = 0; i < a->nvolumes; i++) {
		ret = cs_session_env_add_volume(&c->session_env, vols[i].devnode);
		if (ret) {
			cs_error_set(err, -ret, "cannot pass %s to the writers in COWSNAP_VOLUMES",
				     vols[i].devnode);
			return ret;
		}
	}
	d->session_owner = c;
	d->in_session = true;
	ret = cs_writers_pre_restore(d, &c->session_env, err);
	d->in_session = false;
	if (ret) {
		struct cs_error e;

		/* the writers that got pre-restore hear it failed */
		c->session_env.success = "0";
		d->in_session = true;
		cs_writers_post_restore(d, &c->session_env, &e);
		d->in_session = false;
		d->session_owner = NULL;
		return ret;
	}
	c->restore = true;
	c->restore_expired = false;
	c->session_began = cs_now_ms();
	r->writers = (uint32_t)n;
	cs_info("restore session of pid %d: %u writer(s) ready", (int)c->pid, n);
	return 0;
}

static int op_restore_end(struct cowsnapd *d, struct cs_client_conn *c,
			  const void *args, void *result, struct cs_error *err)
{
	const struct cs_restore_end_args *a = args;

	if (c->restore_expired) {
		c->restore_expired = false;
		cs_error_set(err, ETIMEDOUT, "the restore session was not ended within "
			     "cowsnapd's --max-session of %u s: the writers got post-restore "
			     "as failed", d->max_session_ms / 1000);
		return -ETIMEDOUT;
	}
	if (!c->restore) {
		cs_error_set(err, ESTALE, "this connection has no restore session");
		return -ESTALE;
	}
	return end_restore(d, c, a->success, err);
}

static int op_backup_complete(struct cowsnapd *d, struct cs_client_conn *c,
			      const void *args, void *result, struct cs_error *err)
{
	const struct cs_backup_complete_args *a = args;

	if (c->session_expired && c->session_expired == a->id) {
		cs_error_set(err, ETIMEDOUT, "the backup session of set %" PRIu64 " was not "
			     "completed within cowsnapd's --max-session of %u s: the writers "
			     "got backup-shutdown%s", a->id, d->max_session_ms / 1000,
			     c->session_persistent ? "" : " and the set was deleted");
		return -ETIMEDOUT;
	}
	if (!c->session_set || c->session_set != a->id) {
		cs_error_set(err, ESTALE, "set %" PRIu64 " has no backup session on this "
			     "connection", a->id);
		return -ESTALE;
	}
	c->session_env.failed = a->failed;
	c->session_env.nfailed = a->nfailed;
	return cs_session_end(d, c, CS_SESSION_COMPLETED, a->success, err);
}

static int op_volume_track(struct cowsnapd *d, struct cs_client_conn *c,
			   const void *args, void *result, struct cs_error *err)
{
	return cs_cbt_track(d, args, true, result, err);
}

static int op_volume_untrack(struct cowsnapd *d, struct cs_client_conn *c,
			     const void *args, void *result, struct cs_error *err)
{
	return cs_cbt_track(d, args, false, result, err);
}

static int op_cbt_get(struct cowsnapd *d, struct cs_client_conn *c,
		      const void *args, void *result, struct cs_error *err)
{
	return cs_cbt_get(d, args, result, err);
}

static const op_fn handlers[__CS_OP_COUNT] = {
	[CS_OP_VOLUME_TRACK] = op_volume_track,
	[CS_OP_VOLUME_UNTRACK] = op_volume_untrack,
	[CS_OP_CBT_GET] = op_cbt_get,
	[CS_OP_BACKUP_COMPLETE] = op_backup_complete,
	[CS_OP_WRITER_REGISTER] = op_writer_register,
	[CS_OP_RESTORE_BEGIN] = op_restore_begin,
	[CS_OP_RESTORE_END] = op_restore_end,
	[CS_OP_WRITER_LIST] = op_writer_list,
	[CS_OP_VERSION] = op_version,
	[CS_OP_SET_CREATE] = op_set_create,
	[CS_OP_SET_DELETE] = op_set_delete,
	[CS_OP_SET_LIST] = op_set_list,
	[CS_OP_SET_SHOW] = op_set_show,
	[CS_OP_VOLUME_LIST] = op_volume_list,
	[CS_OP_STORAGE_LIST] = op_storage_list,
	[CS_OP_STORAGE_ADD] = op_storage_add,
	[CS_OP_STORAGE_REMOVE] = op_storage_remove,
};

static bool is_list(enum cs_op op)
{
	const struct cs_field *items, *next;

	return !cs_list_fields(op, &items, &next);
}

enum cs_handled cs_ops_handle(struct cowsnapd *d, struct cs_client_conn *c,
		   const char *body, size_t len, struct cs_buf *out)
{
	struct cs_request req;
	struct cs_error err = { 0 };
	void *result = NULL;
	int ret;

	/* a writer's late answer to an event that timed out */
	if (c->writer && cs_frame_is_reply(body, len))
		return CS_HANDLED_OK;
	ret = cs_decode_request(body, len, &req, &err);
	if (ret) {
		cs_dbg("client pid %d: bad request: %s", (int)c->pid, err.message);
		cs_encode_error(out, req.have_id ? req.id : 0, &err);
		/* the stream is still in step: the client may go on */
		return CS_HANDLED_OK;
	}
	if (!handlers[req.op]) {
		cs_error_set(&err, EOPNOTSUPP, "operation `%s' is not implemented by this cowsnapd",
			     cs_ops[req.op].name);
		ret = -EOPNOTSUPP;
		goto reply;
	}
	if (!cs_peer_may(req.op, c->uid)) {
		cs_error_set(&err, EACCES, "permission denied: `%s' is root's (difference storage, "
			     "writer registration and restores); uid %u may back up, list, and "
			     "delete its own sets", cs_ops[req.op].name, (unsigned int)c->uid);
		ret = -EACCES;
		goto reply;
	}
	/*
	 * While a session's netlink request is outstanding, a request that may
	 * need the module waits (the socket carries one request at a time);
	 * one that needs the set lock is refused at once below.
	 */
	if (d->nl_busy && req.op != CS_OP_SET_CREATE && req.op != CS_OP_RESTORE_BEGIN) {
		cs_dbg("client pid %d: %s waits for the module", (int)c->pid, cs_ops[req.op].name);
		cs_request_free(&req);
		return CS_HANDLED_DEFER;
	}
	/* answered while a session waits for a writer: only what reads */
	if (d->in_session && req.op != CS_OP_VERSION && req.op != CS_OP_SET_LIST &&
	    req.op != CS_OP_SET_SHOW && req.op != CS_OP_VOLUME_LIST &&
	    req.op != CS_OP_STORAGE_LIST && req.op != CS_OP_WRITER_LIST &&
	    /* ending a backup session without writers waits for nobody */
	    !(req.op == CS_OP_BACKUP_COMPLETE && c->session_set && !c->session_writers)) {
		if (req.op == CS_OP_SET_CREATE || req.op == CS_OP_RESTORE_BEGIN)
			cs_error_set(&err, EBUSY, "another shadow copy set is being created (by "
				     "pid %d); try again when it is done, or wait with --wait",
				     d->session_owner ? (int)d->session_owner->pid : 0);
		else
			cs_error_set(&err, EBUSY, "cowsnapd is busy with a shadow copy set being "
				     "created; try again when it is done");
		ret = -EBUSY;
		goto reply;
	}
	result = calloc(1, cs_ops[req.op].result->size);
	if (!result) {
		cs_error_set(&err, ENOMEM, "out of memory");
		ret = -ENOMEM;
		goto reply;
	}
	ret = handlers[req.op](d, c, req.args, result, &err);
	if (!ret && is_list(req.op))
		ret = cs_reply_page(req.op, result, ((const struct cs_list_args *)req.args)->from,
				    CS_PAGE_BUDGET, &err);
	if (!ret)
		ret = cs_encode_reply(out, req.id, req.op, result, &err);
reply:
	if (ret) {
		if (!err.code)
			cs_error_set(&err, -ret, "%s failed: %s", cs_ops[req.op].name,
				     strerror(-ret));
		cs_dbg("client pid %d: %s: %s", (int)c->pid, cs_ops[req.op].name, err.message);
		cs_encode_error(out, req.id, &err);
	}
	if (result) {
		cs_schema_free(cs_ops[req.op].result, result);
		free(result);
	}
	cs_request_free(&req);
	return CS_HANDLED_OK;
}
