// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The backup sequence: one shadow copy set taken with its writers, in the
 * steps of VSS (docs/writers.md), each with its deadline and its undo:
 *
 *   step            what                                   bounded by
 *   name            the set's name: valid, no other set's  -
 *   resolve         the volumes asked for                  -
 *   select          writers, components, their volumes;    -
 *                   the reply measured
 *   prepare         identify, prepare-backup,              event-timeout
 *                   prepare-snapshot
 *   define          SET_NEW, the volumes, storage          the module
 *   freeze          freeze, writer after writer            freeze windows,
 *                                                          --max-freeze
 *   take            the module's take (drain, hold)        its hold time
 *   thaw            right after the take, whatever it gave --max-freeze
 *   post-snapshot   post-snapshot                          event-timeout
 *   complete        backup-complete: at once for a create, event-timeout
 *                   on backup_complete for a backup
 *                   session (which holds the lock until
 *                   then, at most --max-session)
 *
 * A step that fails leaves err set; create() then undoes every step before
 * it in one place (undo()): writers that were prepared hear abort (which
 * thaws the frozen ones first), a defined set is destroyed and its storage
 * released.  A backup session ends in cs_session_end(): backup-complete, or
 * backup-shutdown when its requestor went away or ran out of time.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>

#include <json-c/json.h>
#include <linux/cowsnap.h>

#include "daemon.h"
#include "filestore.h"
#include "freemap.h"
#include "log.h"
#include "netlink.h"
#include "reply.h"
#include "session.h"
#include "storage.h"
#include "volumes.h"

/* COWSNAP_A_HOLD_MS's range (uapi/linux/cowsnap.h) */
#define CS_TAKE_BOUND_MIN_MS	100
#define CS_TAKE_BOUND_MAX_MS	60000

/* One create, from its request to its reply. */
struct create {
	struct cowsnapd *d;
	struct cs_client_conn *c;
	const struct cs_set_create_args *a;
	struct cs_set_result *r;
	struct cs_session_env env;
	struct cs_resolved vols[CS_MAX_VOLUMES];
	uint32_t avoid[CS_MAX_VOLUMES][2];
	uint32_t nvols;
	int nsel;			/* writers selected */
	bool prepared;			/* writers heard prepare: undo sends abort */
	bool frozen;			/* writers were sent freeze */
	uint64_t id;			/* the set defined (0: none) */
};

/* Add the volumes holding the selected components' files (explicit: only
 * when the requestor named components or writers). */
static int component_volumes(struct cowsnapd *d, bool explicit, struct cs_resolved *vols,
			     uint32_t *n, struct cs_error *err)
{
	char cpath[CS_COMPONENT_PATH_MAX + 1];
	struct cs_resolved v;
	int ret;

	if (!explicit)
		return 0;
	for (size_t i = 0; i < d->writers.n; i++) {
		const struct cs_writer *w = &d->writers.w[i];

		if (!w->selected || w->kind != CS_WRITER_SOCKET)
			continue;
		for (uint32_t k = 0; k < w->wmd.ncomponents; k++) {
			const struct cs_wmd_component *cp = &w->wmd.components[k];
			uint32_t j;

			if (!cs_writer_component_selected(w, cp))
				continue;
			for (uint32_t f = 0; f < cp->nfiles; f++) {
				ret = cs_volume_resolve(cp->files[f].path, &v, err);
				if (ret) {
					char msg[CS_ERRMSG_MAX];

					cs_component_path(cp, cpath, sizeof(cpath));
					snprintf(msg, sizeof(msg), "%s", err->message);
					cs_error_set(err, -ret, "component %s:%s: %.300s", w->name,
						     cpath, msg);
					return ret;
				}
				for (j = 0; j < *n; j++)
					if (vols[j].major == v.major && vols[j].minor == v.minor)
						break;
				if (j < *n)
					continue;
				if (*n >= CS_MAX_VOLUMES) {
					cs_error_set(err, E2BIG, "the components span more than %d "
						     "volumes", CS_MAX_VOLUMES);
					return -E2BIG;
				}
				vols[(*n)++] = v;
			}
		}
	}
	return 0;
}

/*
 * auto-recover: after post-snapshot (the writers had their say), each
 * image's filesystem replays its journal or log once (cs_volume_recover()),
 * so that what a backup reads is a clean filesystem; then, unless the
 * requestor asked for writable images too, the images turn read-only for
 * good (SET_SEAL), as VSS's auto-recovered shadow copies do.
 */
static int auto_recover(struct create *s, struct cs_set_result *r, struct cs_error *err)
{
	char fstype[32];
	int ret;

	for (uint32_t i = 0; i < r->set.nvolumes; i++) {
		const struct cs_set_volume *v = &r->set.volumes[i];

		if (!v->image[0])
			continue;
		ret = cs_volume_recover(v->image, fstype, sizeof(fstype), err);
		if (ret < 0)
			return ret;
		if (ret)
			cs_info("set %" PRIu64 ": %s's image %s (%s) recovered", s->id, v->origin,
				v->image, fstype);
		else
			cs_info("set %" PRIu64 ": %s's image %s (%s) left as it is: only ext3, "
				"ext4 and xfs are recovered", s->id, v->origin, v->image,
				fstype[0] ? fstype : "no filesystem known");
	}
	if (s->a->writable)
		return 0;
	ret = cs_nl_set_seal(s->d->nl, s->id, err);
	if (ret) {
		cs_ops_explain(err, ret, "cannot make the recovered images read-only");
	} else {
		r->set.writable = false;
		/* a backup session's backup-complete comes after the seal */
		s->env.images_writable = false;
	}
	return ret;
}

/* set_create's result for --save-metadata: who took part, what. */
static int describe_session(struct cowsnapd *d, struct cs_set_result *r, struct cs_error *err)
{
	char cpath[CS_COMPONENT_PATH_MAX + 1];
	uint32_t nn = 0, nm = 0, nc = 0;
	struct json_object *j;
	int ret;

	for (size_t i = 0; i < d->writers.n; i++) {
		const struct cs_writer *w = &d->writers.w[i];

		if (!w->selected)
			continue;
		nn++;
		if (w->kind == CS_WRITER_SOCKET) {
			nm++;
			nc += w->wmd.ncomponents;
		}
	}
	if (!nn)
		return 0;
	r->writer_names = calloc(nn, sizeof(*r->writer_names));
	r->metadata = calloc(nm ? nm : 1, sizeof(*r->metadata));
	r->components = calloc(nc ? nc : 1, sizeof(*r->components));
	if (!r->writer_names || !r->metadata || !r->components) {
		cs_error_set(err, ENOMEM, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < d->writers.n; i++) {
		const struct cs_writer *w = &d->writers.w[i];
		struct cs_wmd *m;

		if (!w->selected)
			continue;
		snprintf(r->writer_names[r->nwriter_names++].spec, sizeof(r->writer_names[0].spec),
			 "%s", w->name);
		if (w->kind != CS_WRITER_SOCKET)
			continue;
		/* a deep copy, through the schema */
		m = &r->metadata[r->nmetadata++];
		if (cs_schema_encode(&cs_wmd_schema, &w->wmd, &j, err))
			return -EINVAL;
		ret = cs_schema_decode(&cs_wmd_schema, j, m, "metadata", err);
		json_object_put(j);
		if (ret)
			return ret;
		for (uint32_t k = 0; k < w->wmd.ncomponents; k++) {
			struct cs_component_ref *ref;

			if (!cs_writer_component_selected(w, &w->wmd.components[k]))
				continue;
			ref = &r->components[r->ncomponents++];
			cs_component_path(&w->wmd.components[k], cpath, sizeof(cpath));
			snprintf(ref->writer, sizeof(ref->writer), "%s", w->name);
			snprintf(ref->path, sizeof(ref->path), "%s", cpath);
		}
	}
	return 0;
}

/*
 * Whether the reply to a create of nvols volumes with the writers selected
 * can carry what it must (the set, the writers' metadata documents for
 * --save-metadata): measured on a stand-in with every field of the set at
 * its longest, before any writer or the module is asked for anything.
 */
static int create_reply_fits(struct cowsnapd *d, uint32_t nvols, int nsel,
			     struct cs_error *err)
{
	struct cs_set_result r = {
		.set = {
			.id = INT64_MAX, .state = CS_SET_INVALID, .persistent = true,
			.auto_release = true, .writable = true, .chunk_sectors = UINT32_MAX,
			.created_ns = INT64_MAX, .taken_ns = INT64_MAX,
			.storage_sectors = INT64_MAX, .storage_used = INT64_MAX,
			.nvolumes = nvols,
		},
		.consistency = CS_CONSISTENCY_APPLICATION, .writers = (uint32_t)nsel,
	};
	size_t bytes;
	int ret;

	memset(r.set.invalid_cause, 'x', sizeof(r.set.invalid_cause) - 1);
	memset(r.set.name, 'x', sizeof(r.set.name) - 1);
	r.set.volumes = calloc(nvols ? nvols : 1, sizeof(*r.set.volumes));
	if (!r.set.volumes) {
		cs_error_set(err, ENOMEM, "out of memory");
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < nvols; i++) {
		struct cs_set_volume *v = &r.set.volumes[i];

		/* the module names a volume /dev/DISK_NAME, well within these */
		memset(v->origin, 'x', CS_DEVNODE_SIZE - 1);
		memset(v->image, 'x', CS_DEVNODE_SIZE - 1);
		memset(v->cbt_generation, 'x', CS_GENERATION_MAX);
		v->major = v->minor = v->image_major = v->image_minor = UINT32_MAX;
		v->sectors = v->chunks_copied = INT64_MAX;
		v->cbt_seq = 255;
	}
	ret = describe_session(d, &r, err);
	if (!ret && cs_reply_fits(CS_OP_SET_CREATE, &r, &bytes, err) == -EMSGSIZE) {
		cs_error_set(err, EMSGSIZE, "the writers' metadata documents are too large to "
			     "report together (the reply would take %zu bytes, more than one "
			     "message may: %d); nothing was done.  Select fewer writers (snapctl "
			     "backup --component WRITER[:PATH]) or none (--no-writers)", bytes,
			     CS_FRAME_MAX);
		ret = -EMSGSIZE;
	}
	cs_schema_free(cs_ops[CS_OP_SET_CREATE].result, &r);
	return ret;
}

/*
 * Where the set's storage is, for the reply.  What the reply can do
 * without: create_reply_fits measured it without these places, so they
 * are left out when they would not fit.
 */
void cs_session_describe_storage(struct cowsnapd *d, uint64_t id, struct cs_set_result *r)
{
	struct cs_error e;
	size_t bytes;

	if (cs_storage_describe(d, id, &r->storage, &r->nstorage))
		cs_warn("set %" PRIu64 ": out of memory describing its storage", id);
	if (r->nstorage && cs_reply_fits(CS_OP_SET_CREATE, r, &bytes, &e)) {
		cs_warn("set %" PRIu64 ": the places of its storage left out of the reply: %s",
			id, e.message);
		free(r->storage);
		r->storage = NULL;
		r->nstorage = 0;
	}
}

/* The shadow-set lock, and who may take it: EBUSY while another
 * connection's session holds it. */
int cs_session_may_start(struct cowsnapd *d, struct cs_client_conn *c, struct cs_error *err)
{
	if (c->writer) {
		cs_error_set(err, EINVAL, "this connection is a socket writer's; a requestor "
			     "needs a connection of its own");
		return -EINVAL;
	}
	if (d->session_owner) {
		cs_error_set(err, EBUSY, "another shadow copy set is being created (by pid %d); "
			     "try again when it is done (snapctl create and backup wait "
			     "with --wait)", (int)d->session_owner->pid);
		return -EBUSY;
	}
	return 0;
}

/* resolve: every volume asked for, before the module sees anything */
static int resolve(struct create *s, struct cs_error *err)
{
	const struct cs_set_create_args *a = s->a;

	for (uint32_t i = 0; i < a->nvolumes; i++) {
		int ret = cs_volume_resolve(a->volumes[i].spec, &s->vols[i], err);

		if (ret)
			return ret;
		for (uint32_t j = 0; j < i; j++) {
			if (s->vols[j].major == s->vols[i].major &&
			    s->vols[j].minor == s->vols[i].minor) {
				cs_error_set(err, EINVAL, "`%s' and `%s' are the same volume (%s)",
					     a->volumes[j].spec, a->volumes[i].spec,
					     s->vols[i].devnode);
				return -EINVAL;
			}
		}
	}
	s->nvols = a->nvolumes;
	return 0;
}

/* select: the writers and components, the volumes of their files, what
 * the writers are told (COWSNAP_VOLUMES) */
static int select_writers(struct create *s, struct cs_error *err)
{
	struct cowsnapd *d = s->d;
	const struct cs_set_create_args *a = s->a;
	int ret;

	ret = cs_writers_select(d, a->components, a->ncomponents, a->backup_type, a->no_writers,
				err);
	if (ret < 0)
		return ret;
	s->nsel = ret;
	/* as many volumes as a set may have: the components may add some */
	ret = create_reply_fits(d, CS_MAX_VOLUMES, s->nsel, err);
	if (ret)
		return ret;
	ret = component_volumes(d, a->ncomponents > 0, s->vols, &s->nvols, err);
	if (ret)
		return ret;
	if (!s->nvols) {
		cs_error_set(err, EINVAL, "no volume given, and the selected components name "
			     "no files; give the volumes to take");
		return -EINVAL;
	}
	for (uint32_t i = 0; i < s->nvols; i++) {
		s->avoid[i][0] = s->vols[i].major;
		s->avoid[i][1] = s->vols[i].minor;
		ret = cs_session_env_add_volume(&s->env, s->vols[i].devnode);
		if (ret) {
			/* a hook must never see a cut or split name */
			cs_error_set(err, -ret, "cannot pass %s to the writers in "
				     "COWSNAP_VOLUMES: %s", s->vols[i].devnode,
				     ret == -EINVAL ? "not one word" : "the list is too long");
			return ret;
		}
	}
	return 0;
}

/* prepare: before the set exists, so that a veto costs the module nothing */
static int prepare(struct create *s, struct cs_error *err)
{
	if (!s->nsel)
		return 0;
	s->prepared = true;
	return cs_writers_prepare(s->d, &s->env, err);
}

/*
 * The module's EBUSY for a volume, said for admins: in another set being
 * defined; or (the module's message kept) holding another set's storage,
 * with which set's files those are when they are cowsnapd's.
 */
static void volume_busy(struct create *s, uint32_t i, const char *spec, struct cs_error *err)
{
	const struct cs_resolved *v = &s->vols[i];
	char why[sizeof(err->message)], dir[CS_PATH_MAX + 1];
	uint64_t other;

	if (strstr(err->message, "marked by another set")) {
		cs_error_set(err, EBUSY, "%s (%s) is in another shadow copy set being created; "
			     "try again when it is done", spec, v->devnode);
		return;
	}
	snprintf(why, sizeof(why), "%s", err->message);
	other = cs_filestore_set_on(s->d, v->major, v->minor, s->id, dir, sizeof(dir));
	if (other)
		cs_error_set(err, EBUSY, "%s (%s): %.250s; the storage files of set %" PRIu64
			     " are on it (in %.100s): `snapctl delete %" PRIu64 "' frees it",
			     spec, v->devnode, why, other, dir, other);
	else
		cs_error_set(err, EBUSY, "%s (%s): %s", spec, v->devnode, why);
}

/*
 * The set that has name (a set not yet destroyed), as a refusal in err:
 * -EEXIST, or 0 when none has it (or the module cannot tell: its own
 * -EEXIST at SET_NEW stands behind this).
 */
static int name_taken(struct cowsnapd *d, const char *name, struct cs_error *err)
{
	struct cs_set *sets = NULL;
	struct cs_error e;
	uint32_t n = 0;
	uint64_t id = 0;

	if (!d->nl || cs_nl_set_dump(d->nl, &sets, &n, &e))
		return 0;
	for (uint32_t i = 0; i < n; i++) {
		if (!id && !strcmp(sets[i].name, name))
			id = sets[i].id;
		cs_nl_set_free(&sets[i]);
	}
	free(sets);
	if (!id)
		return 0;
	cs_error_set(err, EEXIST, "set %" PRIu64 " is already named `%s': choose another name, "
		     "or delete that set first (`snapctl delete %s')", id, name, name);
	return -EEXIST;
}

/* name: valid, and no other set's, before anyone is asked anything */
static int check_name(struct create *s, struct cs_error *err)
{
	const char *name = s->a->name;

	if (!name[0])
		return 0;
	if (!cs_set_name_valid(name)) {
		cs_error_set(err, EINVAL, "invalid set name `%s': " CS_SET_NAME_RULE, name);
		return -EINVAL;
	}
	return name_taken(s->d, name, err);
}

/* define: the set in the module, its volumes, its difference storage */
static int define(struct create *s, struct cs_error *err)
{
	struct cowsnapd *d = s->d;
	const struct cs_set_create_args *a = s->a;
	uint32_t flags = (a->persistent ? COWSNAP_SET_F_PERSISTENT : COWSNAP_SET_F_AUTO_RELEASE) |
			 (a->writable || a->auto_recover ? COWSNAP_SET_F_WRITABLE : 0);
	uint64_t vol_sectors = 0;
	int ret;

	ret = cs_nl_set_new(d->nl, flags, a->chunk_sectors, a->name, &s->id, err);
	if (ret == -EBUSY)
		cs_error_set(err, EBUSY, "another shadow copy set is being created; try again "
			     "when it is done");
	else if (ret && (ret != -EEXIST || name_taken(d, a->name, err) != -EEXIST))
		cs_ops_explain(err, ret, "cannot start a shadow copy set");
	if (ret)
		return ret;
	s->env.set_id = s->id;
	if (cs_owners_add(&d->owners, s->id, s->c->uid))
		cs_warn("set %" PRIu64 ": out of memory: only root may delete it", s->id);
	for (uint32_t i = 0; i < s->nvols; i++) {
		const char *spec = i < a->nvolumes ? a->volumes[i].spec : s->vols[i].devnode;

		ret = cs_nl_set_add_volume(d->nl, s->id, s->vols[i].major, s->vols[i].minor, err);
		if (ret == -EBUSY)
			volume_busy(s, i, spec, err);
		else if (ret == -ENOSPC)
			cs_error_set(err, ENOSPC, "%s (%s) has as many snapshots as the module "
				     "allows (max_snapshots_per_volume); delete one with "
				     "`snapctl delete --oldest %s'", spec,
				     s->vols[i].devnode, spec);
		else if (ret)
			cs_ops_explain(err, ret, s->vols[i].devnode);
		if (ret)
			return ret;
	}
	for (uint32_t i = 0; i < s->nvols; i++)
		vol_sectors += cs_volume_sectors(s->vols[i].major, s->vols[i].minor);
	ret = cs_storage_give(d, s->id, cs_pool_first_sectors(&d->pool, vol_sectors),
			      (const uint32_t (*)[2])s->avoid, s->nvols, false, err);
	if (ret && ret != -ENOSPC)
		cs_ops_explain(err, ret, "cannot give the set difference storage");
	return ret;
}

/* freeze: every writer, in order, within the freeze bound */
static int freeze(struct create *s, struct cs_error *err)
{
	int ret;

	if (!s->nsel)
		return 0;
	s->frozen = true;
	ret = cs_writers_freeze(s->d, &s->env, err);
	return ret ? ret : cs_writers_hold_check(s->d, &s->env, err);
}

/*
 * take, then thaw at once whatever the take gave.  With writers frozen the
 * take (freezing the filesystems, draining writes) gets what is left of
 * their freeze bound, so that it cannot hold them past it.
 */
static int take_and_thaw(struct create *s, struct cs_error *err)
{
	struct cs_error terr;
	uint32_t bound = 0;
	int ret, tret;

	if (s->frozen) {
		int64_t left = s->env.freeze_deadline - cs_now_ms();

		bound = left > CS_TAKE_BOUND_MAX_MS ? CS_TAKE_BOUND_MAX_MS :
			left < CS_TAKE_BOUND_MIN_MS ? CS_TAKE_BOUND_MIN_MS : (uint32_t)left;
	}
	ret = cs_nl_set_take(s->d->nl, s->id, 0, bound, &s->r->set, err);
	if (s->frozen) {
		tret = cs_writers_thaw(s->d, &s->env, &terr);
		if (!ret && tret) {
			*err = terr;
			return tret;
		}
	}
	if (ret == -ETIMEDOUT && bound)
		cs_error_set(err, ETIMEDOUT, "the take did not finish within what was left of "
			     "the writers' freeze bound (%u ms; cowsnapd --max-freeze, the "
			     "writers' freeze-timeout): writes to the volumes did not drain; the "
			     "set was not taken (try again when the volumes are less busy)",
			     bound);
	else if (ret == -ETIMEDOUT)
		cs_error_set(err, ETIMEDOUT, "writes to the volumes did not drain within the "
			     "hold time; the set was not taken (try again when the volumes "
			     "are less busy)");
	else if (ret)
		cs_ops_explain(err, ret, "cannot take the set");
	return ret;
}

/*
 * The images' device nodes, before anyone is told their names: the
 * writers' post-snapshot may open them, auto_recover() mounts them.
 * devtmpfs makes a node before the module's take returns; a /dev kept by
 * udev alone may lag, so wait for it a little (a second).
 */
static int image_node_ready(const struct cs_set_volume *v, struct cs_error *err)
{
	dev_t want = makedev(v->image_major, v->image_minor);
	struct timespec nap = { 0, 20 * 1000 * 1000 };
	struct stat st;
	int e = ENOENT;

	for (int i = 0; i < 50 && e == ENOENT; i++) {
		if (!stat(v->image, &st)) {
			if (S_ISBLK(st.st_mode) && st.st_rdev == want)
				return 0;
			cs_error_set(err, EEXIST, "%s is not the device node of %s's image "
				     "(%u:%u): remove it, or mount devtmpfs on /dev", v->image,
				     v->origin, v->image_major, v->image_minor);
			return -EEXIST;
		}
		e = errno;
		if (e == ENOENT)
			nanosleep(&nap, NULL);
	}
	cs_error_set(err, e, "%s's image %s has no usable device node: %s (is devtmpfs "
		     "mounted on /dev?)", v->origin, v->image, strerror(e));
	return -e;
}

/*
 * What post-snapshot and backup-complete tell the writers: each origin
 * with its image (COWSNAP_SNAPSHOTS), and whether the images take writes
 * at that moment: --writable, or --auto-recover until auto_recover()
 * seals them, which is after post-snapshot.
 */
static int tell_snapshots(struct create *s, const struct cs_set *set, struct cs_error *err)
{
	int ret;

	s->env.images_writable = s->a->writable || s->a->auto_recover;
	for (uint32_t i = 0; i < set->nvolumes; i++) {
		const struct cs_set_volume *v = &set->volumes[i];

		if (!v->image[0])
			continue;
		if (s->nsel || s->a->auto_recover) {
			ret = image_node_ready(v, err);
			if (ret)
				return ret;
		}
		ret = cs_session_env_add_snapshot(&s->env, v->origin, v->image);
		if (ret) {
			cs_error_set(err, -ret, "cannot pass %s=%s to the writers in "
				     "COWSNAP_SNAPSHOTS: %s", v->origin, v->image,
				     ret == -EINVAL ? "not one word each" : "the list is too long");
			return ret;
		}
	}
	return 0;
}

/* post-snapshot; a create (not a backup session) completes at once */
static int post_snapshot(struct create *s, struct cs_error *err)
{
	int ret;

	if (!s->nsel)
		return 0;
	ret = cs_writers_post_snapshot(s->d, &s->env, err);
	if (ret)
		return ret;
	if (s->a->backup)
		return 0;
	/* backup-complete went to some: no abort after it */
	s->prepared = false;
	return cs_writers_complete(s->d, &s->env, err);
}

/* Every step before the failed one, undone in reverse. */
static void undo(struct create *s)
{
	struct cowsnapd *d = s->d;
	struct cs_error e;

	if (s->prepared)
		cs_writers_abort(d, &s->env);
	if (s->id) {
		if (cs_nl_set_destroy(d->nl, s->id, &e))
			cs_warn("set %" PRIu64 ": cleanup failed: %s", s->id, e.message);
		cs_storage_release(d, s->id);
		cs_owners_del(&d->owners, s->id);
	}
}

/* A backup session: the connection keeps the set (and, with writers, the
 * shadow-set lock) until backup_complete or until it goes. */
static void keep_session(struct create *s)
{
	struct cs_client_conn *c = s->c;

	c->session_set = s->id;
	c->session_expired = 0;
	c->session_began = cs_now_ms();
	c->session_persistent = s->a->persistent;
	c->session_writers = s->nsel > 0;
	c->session_env = s->env;
}

int cs_session_create(struct cowsnapd *d, struct cs_client_conn *c,
		      const struct cs_set_create_args *a, struct cs_set_result *r,
		      struct cs_error *err)
{
	struct create *s;
	int ret;

	if (a->backup && c->session_set) {
		cs_error_set(err, EBUSY, "this connection already has a backup session (set %"
			     PRIu64 "); complete it first", c->session_set);
		return -EBUSY;
	}
	ret = cs_session_may_start(d, c, err);
	if (ret)
		return ret;
	s = calloc(1, sizeof(*s));
	if (!s) {
		cs_error_set(err, ENOMEM, "out of memory");
		return -ENOMEM;
	}
	*s = (struct create){ .d = d, .c = c, .a = a, .r = r,
			      .env.backup_type = cs_backup_type_names[a->backup_type] };
	d->session_owner = c;
	d->in_session = true;
	ret = check_name(s, err);
	if (!ret)
		ret = resolve(s, err);
	if (!ret)
		ret = select_writers(s, err);
	if (!ret)
		ret = prepare(s, err);
	if (!ret)
		ret = define(s, err);
	if (!ret)
		ret = freeze(s, err);
	if (!ret)
		ret = take_and_thaw(s, err);
	/* before anyone has the images' names: free space reads as zeros
	 * from here on (freemap.c) */
	if (!ret)
		cs_freemap_after_take(d, &r->set);
	if (!ret)
		ret = tell_snapshots(s, &r->set, err);
	if (!ret)
		ret = post_snapshot(s, err);
	if (!ret) {
		r->consistency = s->nsel ? CS_CONSISTENCY_APPLICATION : CS_CONSISTENCY_CRASH;
		r->writers = (uint32_t)s->nsel;
		ret = describe_session(d, r, err);
	}
	if (!ret && a->auto_recover)
		ret = auto_recover(s, r, err);
	if (!ret)
		cs_session_describe_storage(d, s->id, r);
	if (ret) {
		cs_nl_set_free(&r->set);
		undo(s);
	} else {
		if (a->backup)
			keep_session(s);
		cs_info("set %" PRIu64 "%s%s%s taken (%u volume(s), %s) for pid %d", s->id,
			a->name[0] ? " (" : "", a->name, a->name[0] ? ")" : "", s->nvols,
			a->persistent ? "persistent" : "auto-release", (int)c->pid);
	}
	d->in_session = false;
	/* a backup session with writers keeps the lock until it ends */
	if (ret || !a->backup || !s->nsel)
		d->session_owner = NULL;
	free(s);
	return ret;
}

int cs_session_end(struct cowsnapd *d, struct cs_client_conn *c, enum cs_session_end how,
		   bool success, struct cs_error *err)
{
	uint64_t id = c->session_set;
	bool gone = how != CS_SESSION_COMPLETED;
	struct cs_error e;
	int ret = 0;

	c->session_set = 0;
	if (c->session_writers) {
		d->in_session = true;
		if (gone) {
			cs_writers_shutdown(d, &c->session_env);
		} else {
			c->session_env.success = success ? "1" : "0";
			ret = cs_writers_complete(d, &c->session_env, err);
		}
		c->session_env.failed = NULL;
		c->session_env.nfailed = 0;
		d->in_session = false;
	}
	if (d->session_owner == c)
		d->session_owner = NULL;
	if (!c->session_persistent) {
		if (cs_nl_set_destroy(d->nl, id, &e))
			cs_warn("set %" PRIu64 ": %s", id, e.message);
		cs_storage_release(d, id);
		cs_owners_del(&d->owners, id);
	}
	cs_info("backup session of set %" PRIu64 " %s", id,
		how == CS_SESSION_GONE ? "ended: the requestor went away" :
		how == CS_SESSION_EXPIRED ? "ended: not completed within --max-session" :
		success ? "completed" : "completed as failed");
	return ret;
}
