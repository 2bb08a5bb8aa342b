/* SPDX-License-Identifier: LGPL-2.1-or-later OR MIT */
/*
 * cowsnap socket protocol: the only place that knows how messages between
 * cowsnapd and its clients (snapctl, requestors, writers) look on the wire.
 * The daemon and the client library both encode and decode through this
 * file; nothing else builds a message.  docs/socket-protocol.md describes the
 * protocol for people; the schema tables in msgs.c are its exact definition.
 *
 * Framing (SOCK_STREAM Unix socket): every message is
 *
 *	u32 length, big-endian    number of body bytes, 2..CS_FRAME_MAX
 *	body                      one JSON object, UTF-8, no NUL bytes,
 *	                          nothing after the object but whitespace
 *
 * A frame whose length is 0, 1 or above CS_FRAME_MAX is a protocol error:
 * the daemon answers with an error message and closes the connection.
 *
 * Envelope of a request (either side may send requests; the daemon sends
 * them to writers):
 *
 *	{ "proto": 1, "id": N, "op": "NAME", "args": { ... } }
 *
 * and of its reply (same id):
 *
 *	{ "proto": 1, "id": N, "ok": true,  "result": { ... } }
 *	{ "proto": 1, "id": N, "ok": false,
 *	  "error": { "code": "EBUSY", "message": "..." } }
 *
 * "proto" must equal CS_PROTO_VERSION (a peer that speaks another version
 * gets EPROTO).  "id" is chosen by the requester, 0..2^32-1.  Every object,
 * at every depth, is checked against its schema: unknown keys, keys given
 * twice in one object, missing required keys, wrong JSON types, integers
 * out of range, strings too long, arrays too long are rejected with EINVAL
 * and a message that names the offending key path ("args.volumes[2]:
 * string longer than 4095 bytes").  Replies are the one exception: keys
 * this side does not know are skipped there (a newer daemon may add some),
 * so that requestors keep working across an upgrade; the rest is checked.
 * Optional keys that are absent read as 0, false, "" or an empty array, and
 * are left out when encoding such a value.  Integers are JSON integers in
 * 0..2^63-1 (no fractions, no exponents).
 */
#ifndef COWSNAP_PROTO_H
#define COWSNAP_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CS_PROTO_VERSION	1
#define CS_FRAME_HDR		4
#define CS_FRAME_MAX		(256 * 1024)
#define CS_JSON_MAX_DEPTH	16
#define CS_ERRMSG_MAX		512

#define CS_DEFAULT_SOCKET	"/run/cowsnap/cowsnapd.sock"
#define CS_SOCKET_ENV		"COWSNAP_SOCKET"

/* -------------------------------------------------------------------- */
/* Schemas: a table per message struct, driving encoder and decoder.     */

enum cs_ftype {
	CS_F_BOOL,	/* bool */
	CS_F_U32,	/* uint32_t, range min..max */
	CS_F_U64,	/* uint64_t, range min..max (max <= INT64_MAX) */
	CS_F_STR,	/* char[max + 1], at most max bytes, no NUL */
	CS_F_ENUM,	/* int, encoded as one of names[] */
	CS_F_OBJ,	/* embedded struct described by sub */
	CS_F_ARR,	/* pointer to sub->size elements at off, uint32_t
			 * count at count_off, at most max elements */
};

struct cs_schema;

struct cs_field {
	const char *name;
	enum cs_ftype type;
	bool required;
	size_t off;
	uint64_t min, max;
	const struct cs_schema *sub;
	size_t count_off;
	const char *const *names;	/* CS_F_ENUM, NULL-terminated */
};

struct cs_schema {
	const char *name;
	size_t size;
	const struct cs_field *fields;
	size_t nfields;
};

/* -------------------------------------------------------------------- */
/* Errors carried in replies.                                            */

struct cs_error {
	int code;			/* positive errno value */
	char message[CS_ERRMSG_MAX];
};

/* Bytes of the well-formed UTF-8 character at s (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), 0 when it is not one
 * (1 for the NUL that ends s). */
size_t cs_utf8_char(const char *s);
void cs_error_set(struct cs_error *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* "EBUSY" for EBUSY; NULL when the value has no name in the protocol. */
const char *cs_errno_name(int code);
/* EBUSY for "EBUSY"; 0 when unknown. */
int cs_errno_value(const char *name);

/* -------------------------------------------------------------------- */
/* Messages.                                                             */

#define CS_VERSION_MAX		32	/* as COWSNAP_VERSION_MAX_LEN */
#define CS_PATH_MAX		4095
#define CS_NAME_MAX		255
#define CS_UUID_LEN		36	/* 8-4-4-4-12 hex digits */
#define CS_MAX_VOLUMES		64
#define CS_MAX_SETS		4096
#define CS_GENERATION_MAX	36	/* a CBT generation as a UUID string */
#define CS_CBT_MAX_RANGES	4096	/* ranges in one cbt_get reply */
#define CS_SET_NAME_MAX		64	/* as COWSNAP_SET_NAME_MAX_LEN */

/*
 * A set's name (set_create's "name", struct cs_set's): 1 to CS_SET_NAME_MAX
 * bytes of A-Z a-z 0-9 _ . + -, not starting with `-' or `.', not only
 * digits, so that it is never taken for a set id nor an option, and names a
 * directory under /dev/cowsnap/by-name/.  The module checks the same.
 */
#define CS_SET_NAME_RULE	"1 to 64 characters of A-Z a-z 0-9 _ . + -, not " \
				"starting with `-' or `.', not only digits"
bool cs_set_name_valid(const char *name);

enum cs_op {
	CS_OP_VERSION,
	CS_OP_SET_CREATE,
	CS_OP_SET_DELETE,
	CS_OP_SET_LIST,
	CS_OP_SET_SHOW,
	CS_OP_VOLUME_LIST,
	CS_OP_STORAGE_LIST,
	CS_OP_STORAGE_ADD,
	CS_OP_STORAGE_REMOVE,
	CS_OP_WRITER_LIST,
	CS_OP_BACKUP_COMPLETE,
	CS_OP_WRITER_REGISTER,
	CS_OP_WRITER_EVENT,
	CS_OP_RESTORE_BEGIN,
	CS_OP_RESTORE_END,
	CS_OP_VOLUME_TRACK,
	CS_OP_VOLUME_UNTRACK,
	CS_OP_CBT_GET,
	__CS_OP_COUNT
};

struct cs_empty {
	char unused;
};

/* version: result */
struct cs_version {
	char daemon_version[CS_VERSION_MAX + 1];
	uint32_t proto_version;
	char module_version[CS_VERSION_MAX + 1];	/* "" if unknown */
	uint32_t module_proto_version;
	char module_error[CS_ERRMSG_MAX];		/* why it is unknown */
};

/* One volume of a set, as the daemon reports it. */
struct cs_set_volume {
	char origin[CS_PATH_MAX + 1];	/* /dev/NAME of the origin */
	uint32_t major, minor;
	uint64_t sectors;
	char image[CS_PATH_MAX + 1];	/* /dev/cowsnapN once taken */
	uint32_t image_major, image_minor;
	uint64_t chunks_copied;
	/* the changed-block map at the take (taken sets): cbt_get with
	 * since_seq and since_generation asks for what changed since */
	char cbt_generation[CS_GENERATION_MAX + 1];
	uint32_t cbt_seq;
};

enum cs_set_state {
	CS_SET_DEFINING,
	CS_SET_TAKEN,
	CS_SET_INVALID,
	CS_SET_UNKNOWN,
};

struct cs_set {
	uint64_t id;
	char name[CS_SET_NAME_MAX + 1];	/* "" when it has none */
	int state;			/* enum cs_set_state */
	bool persistent, auto_release;
	bool writable;			/* images take writes (kept in storage) */
	char invalid_cause[64];		/* "" when valid */
	uint32_t chunk_sectors;
	uint64_t created_ns, taken_ns;
	uint64_t storage_sectors, storage_used;
	struct cs_set_volume *volumes;
	uint32_t nvolumes;
};

/* set_create: args.  Each volume is a path, mount point, UUID= or LABEL=. */
struct cs_volume_spec {
	char spec[CS_PATH_MAX + 1];
};

struct cs_set_create_args {
	struct cs_volume_spec *volumes;
	uint32_t nvolumes;
	/* the set's name (CS_SET_NAME_RULE), unique among the sets; "": none */
	char name[CS_SET_NAME_MAX + 1];
	bool persistent;
	bool writable;			/* writable images */
	/* each image's ext3/ext4/xfs replays its journal or log once, after
	 * post-snapshot; then the images are sealed read-only unless writable */
	bool auto_recover;
	bool no_writers;
	uint32_t chunk_sectors;		/* 0: module default */
	/* backup session: stop after post-snapshot; the requestor reads the
	 * images, then sends backup_complete on the same connection (closing
	 * it instead sends writers backup-shutdown and destroys the set) */
	bool backup;
	int backup_type;		/* cs_backup_type_names */
	/* only these writers (path "") or components take part; their
	 * components' files add volumes.  None: every writer, all of it. */
	struct cs_component_ref *components;
	uint32_t ncomponents;
};

/* backup_complete: args; result: struct cs_empty */
struct cs_backup_complete_args {
	uint64_t id;
	bool success;
	struct cs_component_ref *failed;	/* components that failed */
	uint32_t nfailed;
};

enum cs_consistency { CS_CONSISTENCY_NONE, CS_CONSISTENCY_CRASH, CS_CONSISTENCY_APPLICATION };

/* set_create, set_show: where a set's difference storage is
 * (cs_set_storage_kind_names) */
enum cs_set_storage_kind { CS_SET_STORAGE_DEVICE, CS_SET_STORAGE_FILE, CS_SET_STORAGE_RAM };
#define CS_MAX_SET_STORAGE	64	/* places in one reply */

struct cs_set_storage {
	char place[CS_PATH_MAX + 1];	/* the device as configured, or the file;
					 * RAM storage: its /dev/zramN */
	int kind;			/* enum cs_set_storage_kind */
	uint64_t sectors;		/* given to the set there */
	/* no storage configured: a place cowsnapd chose itself (JSON
	 * "default") */
	bool is_default;
};

/* set_create and set_show: result */
struct cs_set_result {
	struct cs_set set;
	/* set_create only: "application" when every writer froze and thawed
	 * without error, "crash" when no writer took part */
	int consistency;		/* enum cs_consistency */
	uint32_t writers;		/* writers that took part */
	/* set_create only: their names, the socket writers' metadata and the
	 * selected components (for `snapctl backup --save-metadata') */
	struct cs_volume_spec *writer_names;
	uint32_t nwriter_names;
	struct cs_wmd *metadata;
	uint32_t nmetadata;
	struct cs_component_ref *components;
	uint32_t ncomponents;
	/* where the set's difference storage is, and how much (an older
	 * daemon leaves it out: an empty array) */
	struct cs_set_storage *storage;
	uint32_t nstorage;
};

/* set_delete: args; exactly one of id, all, oldest */
struct cs_set_delete_args {
	uint64_t id;
	bool all;
	char oldest[CS_PATH_MAX + 1];	/* volume spec */
};

struct cs_set_delete_result {
	uint64_t *ids;			/* the sets deleted */
	uint32_t nids;
};

struct cs_set_show_args {
	uint64_t id;
};

/*
 * set_list, volume_list, writer_list: args.  A reply carries as many items
 * as fit in one frame; when more remain, its `next' is the cursor to ask
 * for the rest with (`from'), 0 when it was the last page.  A cursor means
 * nothing to the client: cs_call_list() asks for every page and joins them.
 */
struct cs_list_args {
	uint64_t from;
};

struct cs_set_list_result {
	struct cs_set *sets;		/* by id */
	uint32_t nsets;
	uint64_t next;
};

/* volume_list: result */
struct cs_volume {
	char device[CS_PATH_MAX + 1];	/* /dev/NAME */
	uint32_t major, minor;
	uint64_t sectors;
	char mountpoint[CS_PATH_MAX + 1];	/* first mount point, or "" */
	char fstype[64];
	char uuid[64];
	char label[CS_NAME_MAX + 1];
	bool tracked;			/* the module tracks it */
	uint64_t mark_set_id;		/* DEFINING set marking it */
	uint32_t snapshots;		/* TAKEN sets holding it */
	bool kept;			/* tracked between backups (volume_track) */
	char cbt_generation[CS_GENERATION_MAX + 1];	/* changes on reset */
	uint32_t cbt_chunk_sectors;	/* changed-block map granularity */
	uint64_t changed_bytes;		/* written since tracking began */
};

/* volume_track, volume_untrack: args; result: struct cs_volume */
struct cs_volume_args {
	char volume[CS_PATH_MAX + 1];	/* a volume spec */
};

/*
 * cbt_get: args.  Which chunks of a tracked volume changed since one of:
 * the take of set set_id (which must exist), the take with since_seq in
 * since_generation (a set's cbt_seq and cbt_generation; the set may be
 * gone), or since tracking began.  Chunks first .. first+count-1 (count 0:
 * to the end); a reply holds at most CS_CBT_MAX_RANGES ranges and says in
 * next where to go on.
 */
struct cs_cbt_get_args {
	char volume[CS_PATH_MAX + 1];
	uint64_t set_id;
	uint32_t since_seq;
	char since_generation[CS_GENERATION_MAX + 1];
	bool since_tracking;
	uint64_t first;
	uint64_t count;
};

struct cs_cbt_range {
	uint64_t first, count;		/* chunks */
};

/* cbt_get: result */
struct cs_cbt_result {
	char device[CS_PATH_MAX + 1];	/* /dev/NAME */
	uint32_t major, minor;
	uint64_t sectors;		/* volume size now */
	uint32_t chunk_sectors;
	char generation[CS_GENERATION_MAX + 1];	/* the map's, now */
	uint64_t chunks;		/* chunks of the volume */
	uint64_t set_id;		/* as asked */
	uint32_t set_cbt_seq;		/* with set_id: the set's take */
	char set_generation[CS_GENERATION_MAX + 1];
	uint64_t first, next;		/* the answer covers [first, next) */
	struct cs_cbt_range *ranges;
	uint32_t nranges;
	uint64_t changed;		/* chunks in ranges */
};

struct cs_volume_list_result {
	struct cs_volume *volumes;	/* by major, minor */
	uint32_t nvolumes;
	uint64_t next;
};

/* storage_list: result; storage_add and storage_remove answer the same */
/* storage_list: where storage is (cs_storage_kind_names) */
enum cs_storage_kind { CS_STORAGE_DEVICE, CS_STORAGE_DIRECTORY, CS_STORAGE_RAM };

struct cs_storage_dev {
	char device[CS_PATH_MAX + 1];	/* as configured: a device or a directory;
					 * RAM storage: its /dev/zramN */
	uint32_t major, minor;		/* the device, or the directory's filesystem's */
	uint64_t sectors;		/* usable, whole MiB (a directory: used + free) */
	uint64_t used;			/* given to sets */
	int kind;			/* enum cs_storage_kind */
	/* no storage configured: a directory cowsnapd chose itself, listed
	 * while it holds storage files (JSON "default") */
	bool is_default;
	/* RAM storage: the memory zram takes for it now, compressed (its
	 * mm_stat's mem_used_total); 0 otherwise and from older daemons */
	uint64_t memory;
};

struct cs_storage_list_result {
	struct cs_storage_dev *devices;
	uint32_t ndevices;
	uint64_t set_sectors;		/* given to each new set */
	uint64_t grow_sectors;		/* added when a set runs low */
	/* set_sectors (grow_sectors) is the most: a set gets 10% of the size
	 * of its volumes, at least 16 MiB (no set-size, grow-size) */
	bool set_auto, grow_auto;
	uint32_t max_percent;		/* storage files' share of a filesystem */
	/* no storage configured: where sets get storage files first ("" when
	 * storage is configured) */
	char default_directory[CS_PATH_MAX + 1];
};

/* storage_add, storage_remove: args */
struct cs_storage_args {
	char device[CS_PATH_MAX + 1];
};

/* writer_list: result; names in cs_writer_*_names */
struct cs_writer_info {
	char name[CS_NAME_MAX + 1];
	char exec[CS_PATH_MAX + 1];
	int order;			/* front-end, back-end, system */
	int state;			/* STABLE, WAITING_FOR_FREEZE, ... */
	int last_error;			/* NONE, TIMEOUT, ... */
	char message[CS_ERRMSG_MAX];	/* what went wrong last */
	uint32_t freeze_timeout_ms, event_timeout_ms;
	int kind;			/* CS_WRITER_KIND_HOOK, _SOCKET */
	uint32_t pid;			/* socket writer's process */
	bool connected;			/* socket writer still connected */
	char class_id[CS_UUID_LEN + 1];
	char instance[CS_NAME_MAX + 1];
	uint32_t components;		/* how many it declared */
};

struct cs_writer_list_result {
	struct cs_writer_info *writers;
	uint32_t nwriters;
	uint64_t next;
};

/* ---- socket writers, components, restore (docs/writers.md) ---- */

#define CS_COMPONENT_PATH_MAX	511	/* "logical/path/name" */
#define CS_MAX_COMPONENTS	64	/* per writer */
#define CS_MAX_FILES		64	/* per component */
#define CS_MAX_WRITERS		256
#define CS_MAX_SELECTED		256	/* component references in a request */

/* One file set of a component: files matching filespec in path (and
 * below it when recursive). */
struct cs_wmd_file {
	char path[CS_PATH_MAX + 1];	/* absolute directory */
	char filespec[CS_NAME_MAX + 1];	/* "*.db", "data.mdb" */
	bool recursive;
};

struct cs_wmd_component {
	char logical_path[CS_NAME_MAX + 1];	/* "" or "a/b", no leading '/' */
	char name[CS_NAME_MAX + 1];
	bool selectable;		/* may be selected on its own */
	struct cs_wmd_file *files;
	uint32_t nfiles;
};

/* one element of an array of backup types: cs_backup_type_names */
struct cs_backup_type_item {
	int type;
};

enum cs_writer_kind_value { CS_WRITER_KIND_HOOK, CS_WRITER_KIND_SOCKET };

enum cs_usage { CS_USAGE_USER_DATA, CS_USAGE_BOOTABLE_SYSTEM_STATE,
		CS_USAGE_SYSTEM_SERVICE, CS_USAGE_OTHER };

/* Writer Metadata Document: writer_register's args */
struct cs_wmd {
	char name[CS_NAME_MAX + 1];	/* [A-Za-z0-9._-], unique among writers */
	char class_id[CS_UUID_LEN + 1];	/* the application's UUID */
	char instance[CS_NAME_MAX + 1];	/* which instance of it ("" = the only one) */
	int usage;			/* cs_usage_names */
	int restore_method;		/* cs_restore_method_names */
	int order;			/* cs_writer_order_names, default back-end */
	uint32_t freeze_timeout_ms;	/* 0: 60000 */
	uint32_t event_timeout_ms;	/* 0: 30000 */
	struct cs_backup_type_item *backup_types;
	uint32_t nbackup_types;
	struct cs_wmd_component *components;
	uint32_t ncomponents;
};

/* A component named in a request or an event: "logical/path/name" of
 * writer ("" path: the whole writer). */
struct cs_component_ref {
	char writer[CS_NAME_MAX + 1];
	char path[CS_COMPONENT_PATH_MAX + 1];
	bool failed;			/* backup-complete: this component failed */
};

enum cs_wevent {
	CS_EV_IDENTIFY, CS_EV_PREPARE_BACKUP, CS_EV_PREPARE_SNAPSHOT, CS_EV_FREEZE,
	CS_EV_THAW, CS_EV_POST_SNAPSHOT, CS_EV_BACKUP_COMPLETE, CS_EV_BACKUP_SHUTDOWN,
	CS_EV_ABORT, CS_EV_PRE_RESTORE, CS_EV_POST_RESTORE,
};

/* writer_event's snapshots: /dev/NAME of an origin and of its image */
#define CS_EVENT_DEVNODE_MAX	255
struct cs_event_snapshot {
	char origin[CS_EVENT_DEVNODE_MAX + 1];
	char image[CS_EVENT_DEVNODE_MAX + 1];
};

/* writer_event: args (cowsnapd -> writer); result struct cs_empty.  A
 * veto is an error reply: EAGAIN retryable, ENOMEM/ENOSPC out of
 * resources, anything else non-retryable. */
struct cs_writer_event {
	int event;			/* cs_event_names */
	uint64_t set_id;		/* 0 before the set exists */
	int backup_type;		/* cs_backup_type_names */
	struct cs_volume_spec *volumes;	/* origin devices */
	uint32_t nvolumes;
	struct cs_component_ref *components;	/* this writer's selected ones */
	uint32_t ncomponents;
	bool success;			/* backup-complete, post-restore */
	uint32_t timeout_ms;		/* how long cowsnapd waits for the reply */
	/* post-snapshot and backup-complete: each origin with its image
	 * (the set's volumes), and whether the images take writes now
	 * (--writable, or --auto-recover before the seal) */
	struct cs_event_snapshot *snapshots;
	uint32_t nsnapshots;
	bool images_writable;
};

/* restore_begin: args; result struct cs_restore_result */
struct cs_restore_args {
	struct cs_volume_spec *writers;	/* writer names from the backup */
	uint32_t nwriters;
	struct cs_component_ref *components;
	uint32_t ncomponents;
	int backup_type;
	uint64_t set_id;		/* the backup's set, for the writers */
	/* the volumes restored (in the writers' events); with no writers,
	 * they choose them: those with data there (at least one of the two) */
	struct cs_volume_spec *volumes;
	uint32_t nvolumes;
};

struct cs_restore_result {
	uint32_t writers;		/* writers that got pre-restore */
};

/* restore_end: args; result struct cs_empty */
struct cs_restore_end_args {
	bool success;
};

/* What `snapctl backup --save-metadata' writes and `snapctl restore
 * --metadata' reads (not a message; encoded with cs_backup_doc_schema). */
struct cs_backup_doc {
	uint64_t set_id;
	int backup_type;
	struct cs_volume_spec *writers;	/* every writer that took part */
	uint32_t nwriters;
	struct cs_wmd *metadata;	/* the socket writers' documents */
	uint32_t nmetadata;
	struct cs_component_ref *components;	/* selected components */
	uint32_t ncomponents;
	struct cs_set_volume *volumes;
	uint32_t nvolumes;
};

extern const struct cs_schema cs_backup_doc_schema;
extern const struct cs_schema cs_wmd_schema;
extern const char *const cs_event_names[];
extern const char *const cs_usage_names[];
extern const char *const cs_restore_method_names[];
extern const char *const cs_writer_kind_names[];
extern const char *const cs_storage_kind_names[];
extern const char *const cs_set_storage_kind_names[];

/* Checks beyond the schema (wmd.c): names, UUID, paths, duplicates.
 * 0, or -EINVAL with err naming the offending field. */
int cs_wmd_validate(const struct cs_wmd *w, struct cs_error *err);
/*
 * restore_begin's writers and components as one list of references for the
 * daemon's selection: each writer followed by its components, or alone when
 * none of its components is named.  refs holds max entries (nwriters +
 * ncomponents always suffice); refs NULL: only the checks.  The number of
 * references; -EINVAL with err naming the offending entry when a writer is
 * named twice, a component's writer is not among the writers, a component
 * is named twice or a writer has more than CS_MAX_COMPONENTS; -E2BIG when
 * max is too small.
 */
int cs_restore_refs(const struct cs_restore_args *a, struct cs_component_ref *refs,
		    uint32_t max, struct cs_error *err);
/* A document --save-metadata wrote, strictly decoded into doc (freed with
 * cs_schema_free(&cs_backup_doc_schema, doc)), its writers and components
 * checked as cs_restore_refs checks them.  0, or -errno with err naming the
 * offending key; doc is then empty. */
int cs_backup_doc_decode(const char *text, size_t len, struct cs_backup_doc *doc,
			 struct cs_error *err);
/* "logical/path/name" of a component */
void cs_component_path(const struct cs_wmd_component *c, char *buf, size_t size);
/* true when the frame body is a reply (has "ok"), not a request */
bool cs_frame_is_reply(const char *body, size_t len);

struct cs_op_desc {
	const char *name;
	const struct cs_schema *args;
	const struct cs_schema *result;
};

extern const struct cs_op_desc cs_ops[__CS_OP_COUNT];
extern const char *const cs_set_state_names[];
extern const char *const cs_consistency_names[];
extern const char *const cs_backup_type_names[];
extern const char *const cs_writer_order_names[];
extern const char *const cs_writer_state_names[];
extern const char *const cs_writer_error_names[];

/* -------------------------------------------------------------------- */
/* Generic schema engine (proto.c).                                      */

struct json_object;

/* Fill the struct at obj (zeroed by the caller) from JSON; on error returns
 * -EINVAL and explains in err, naming the key path prefixed by where. */
int cs_schema_decode(const struct cs_schema *s, struct json_object *j,
		     void *obj, const char *where, struct cs_error *err);
/* The same for what a newer peer may have extended (replies): keys the
 * schema does not name are skipped, at every depth, instead of refused. */
int cs_schema_decode_reply(const struct cs_schema *s, struct json_object *j,
			   void *obj, const char *where, struct cs_error *err);
/* Build the JSON object for the struct at obj; -EINVAL (in err) when the
 * struct holds a value its schema does not allow. */
int cs_schema_encode(const struct cs_schema *s, const void *obj,
		     struct json_object **out, struct cs_error *err);
/* Free the arrays a decode allocated; the struct itself stays. */
void cs_schema_free(const struct cs_schema *s, void *obj);

/* A paged list (set_list, volume_list, writer_list): the result's array
 * and its `next' cursor (struct cs_list_args); -EINVAL for other ops. */
int cs_list_fields(enum cs_op op, const struct cs_field **items,
		   const struct cs_field **next);
/* The most items cs_call_list() joins from pages, whatever a daemon sends. */
#define CS_LIST_MAX_ITEMS	(1U << 20)

/* Parse one frame body strictly into a JSON object (refcount 1); a key given
 * twice in one object is refused (EINVAL, the key and its path named). */
int cs_json_parse(const char *body, size_t len, struct json_object **out,
		  struct cs_error *err);

/* -------------------------------------------------------------------- */
/* Frames.                                                               */

struct cs_buf {
	char *data;
	size_t len, cap;
};

void cs_buf_free(struct cs_buf *b);

/* Encoders append one whole frame (header and body) to out. */
int cs_encode_request(struct cs_buf *out, uint32_t id, enum cs_op op,
		      const void *args, struct cs_error *err);
int cs_encode_reply(struct cs_buf *out, uint32_t id, enum cs_op op,
		    const void *result, struct cs_error *err);
int cs_encode_error(struct cs_buf *out, uint32_t id, const struct cs_error *e);

struct cs_request {
	uint32_t id;
	bool have_id;		/* false when the frame was too broken to tell */
	enum cs_op op;
	void *args;		/* struct of cs_ops[op].args, malloc'd */
};

/* Decode a frame body.  On error returns -errno, fills err with what to
 * reply, and sets req->id/have_id if the id could be read. */
int cs_decode_request(const char *body, size_t len, struct cs_request *req,
		      struct cs_error *err);
/* The same for what cowsnapd sends a socket writer (writer_event): like a
 * reply, it may carry keys a newer daemon added, skipped here at every
 * depth, so that a writer built against an older library keeps working. */
int cs_decode_event(const char *body, size_t len, struct cs_request *req,
		    struct cs_error *err);
void cs_request_free(struct cs_request *req);

/* Decode a reply to a request for op.  Returns 0 and fills result (a struct
 * of cs_ops[op].result, zeroed by the caller) on success; -errno with err
 * set either from the peer's error reply (*remote = true) or because the
 * reply is malformed (*remote = false, -EPROTO).  Keys this side does not
 * know, which a newer daemon may send, are skipped at every depth. */
int cs_decode_reply(const char *body, size_t len, enum cs_op op,
		    uint32_t *id, void *result, bool *remote,
		    struct cs_error *err);

/* Incremental frame reader for non-blocking sockets. */
struct cs_framer {
	char *buf;
	size_t len, cap;
	size_t consumed;	/* bytes of the frame last returned */
};

void cs_framer_init(struct cs_framer *f);
void cs_framer_free(struct cs_framer *f);
/* Room for at least want more bytes; returns where to read into. */
char *cs_framer_space(struct cs_framer *f, size_t want, size_t *room);
void cs_framer_filled(struct cs_framer *f, size_t n);
/* 1 with body/len when a whole frame is buffered, 0 when more bytes are
 * needed, -EMSGSIZE or -EINVAL when the header is not acceptable.  The frame
 * stays valid until the next call. */
int cs_framer_next(struct cs_framer *f, const char **body, size_t *len);
/* Put the frame last returned by cs_framer_next() back, to be returned
 * again by the next call. */
void cs_framer_unget(struct cs_framer *f);

/* Blocking I/O on a connected socket; timeout_ms < 0 waits forever. */
int cs_frame_write(int fd, const struct cs_buf *b, int timeout_ms);
int cs_frame_read(int fd, struct cs_framer *f, const char **body, size_t *len,
		  int timeout_ms);

#endif /* COWSNAP_PROTO_H */
