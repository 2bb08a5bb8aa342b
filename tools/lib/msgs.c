// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * The messages of the cowsnap socket protocol, as schema tables.  This file
 * is the exact definition of every request's "args" and every reply's
 * "result"; docs/socket-protocol.md describes the same in prose and must be
 * kept in step with it.
 */
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define MEMBER_SIZE(st, m) sizeof(((st *)0)->m)

#define F_BOOL(st, m, req) \
	{ .name = #m, .type = CS_F_BOOL, .required = req, .off = offsetof(st, m) }
#define F_U32(st, m, req, lo, hi) \
	{ .name = #m, .type = CS_F_U32, .required = req, .off = offsetof(st, m), \
	  .min = lo, .max = hi }
#define F_U64(st, m, req, lo, hi) \
	{ .name = #m, .type = CS_F_U64, .required = req, .off = offsetof(st, m), \
	  .min = lo, .max = hi }
#define F_STR(st, m, req) \
	{ .name = #m, .type = CS_F_STR, .required = req, .off = offsetof(st, m), \
	  .max = MEMBER_SIZE(st, m) - 1 }
#define F_ENUM(st, m, req, n) \
	{ .name = #m, .type = CS_F_ENUM, .required = req, .off = offsetof(st, m), \
	  .names = n }
#define F_OBJ(st, m, req, s) \
	{ .name = #m, .type = CS_F_OBJ, .required = req, .off = offsetof(st, m), \
	  .sub = s }
#define F_ARR(st, m, cnt, req, lo, hi, s) \
	{ .name = #m, .type = CS_F_ARR, .required = req, .off = offsetof(st, m), \
	  .count_off = offsetof(st, cnt), .min = lo, .max = hi, .sub = s }

#define SCHEMA(var, st, ...) \
	static const struct cs_field var##_fields[] = { __VA_ARGS__ }; \
	static const struct cs_schema var = { \
		.name = #st, .size = sizeof(st), .fields = var##_fields, \
		.nfields = sizeof(var##_fields) / sizeof(var##_fields[0]) }

#define F_U32ALL(st, m, req)	F_U32(st, m, req, 0, UINT32_MAX)
#define F_U64ALL(st, m, req)	F_U64(st, m, req, 0, INT64_MAX)

static const struct cs_schema empty_schema = {
	.name = "cs_empty", .size = sizeof(struct cs_empty),
};

const char *const cs_set_state_names[] = {
	[CS_SET_DEFINING] = "defining",
	[CS_SET_TAKEN] = "taken",
	[CS_SET_INVALID] = "invalid",
	[CS_SET_UNKNOWN] = "unknown",
	NULL
};

SCHEMA(version_schema, struct cs_version,
	F_STR(struct cs_version, daemon_version, true),
	F_U32ALL(struct cs_version, proto_version, true),
	F_STR(struct cs_version, module_version, false),
	F_U32ALL(struct cs_version, module_proto_version, false),
	F_STR(struct cs_version, module_error, false));

SCHEMA(set_volume_schema, struct cs_set_volume,
	F_STR(struct cs_set_volume, origin, true),
	F_U32ALL(struct cs_set_volume, major, true),
	F_U32ALL(struct cs_set_volume, minor, true),
	F_U64ALL(struct cs_set_volume, sectors, false),
	F_STR(struct cs_set_volume, image, false),
	F_U32ALL(struct cs_set_volume, image_major, false),
	F_U32ALL(struct cs_set_volume, image_minor, false),
	F_U64ALL(struct cs_set_volume, chunks_copied, false),
	F_STR(struct cs_set_volume, cbt_generation, false),
	F_U32(struct cs_set_volume, cbt_seq, false, 0, 255));

SCHEMA(set_schema, struct cs_set,
	F_U64(struct cs_set, id, true, 1, INT64_MAX),
	F_STR(struct cs_set, name, false),
	F_ENUM(struct cs_set, state, true, cs_set_state_names),
	F_BOOL(struct cs_set, persistent, false),
	F_BOOL(struct cs_set, auto_release, false),
	F_BOOL(struct cs_set, writable, false),
	F_STR(struct cs_set, invalid_cause, false),
	F_U32ALL(struct cs_set, chunk_sectors, false),
	F_U64ALL(struct cs_set, created_ns, false),
	F_U64ALL(struct cs_set, taken_ns, false),
	F_U64ALL(struct cs_set, storage_sectors, false),
	F_U64ALL(struct cs_set, storage_used, false),
	F_ARR(struct cs_set, volumes, nvolumes, false, 0, CS_MAX_VOLUMES,
	      &set_volume_schema));

/* an array of bare strings: one unnamed field */
static const struct cs_field volume_spec_fields[] = {
	{ .name = "", .type = CS_F_STR, .required = true, .off = 0,
	  .max = MEMBER_SIZE(struct cs_volume_spec, spec) - 1 },
};
static const struct cs_schema volume_spec_schema = {
	.name = "cs_volume_spec", .size = sizeof(struct cs_volume_spec),
	.fields = volume_spec_fields, .nfields = 1,
};

static const struct cs_field set_id_fields[] = {
	{ .name = "", .type = CS_F_U64, .required = true, .off = 0,
	  .min = 1, .max = INT64_MAX },
};
static const struct cs_schema set_id_schema = {
	.name = "uint64_t", .size = sizeof(uint64_t),
	.fields = set_id_fields, .nfields = 1,
};

const char *const cs_backup_type_names[] = {
	"full", "copy", "incremental", "differential", "log", NULL
};

SCHEMA(component_ref_schema, struct cs_component_ref,
	F_STR(struct cs_component_ref, writer, false),
	F_STR(struct cs_component_ref, path, false),
	F_BOOL(struct cs_component_ref, failed, false));

SCHEMA(backup_complete_args_schema, struct cs_backup_complete_args,
	F_U64(struct cs_backup_complete_args, id, true, 1, INT64_MAX),
	F_BOOL(struct cs_backup_complete_args, success, false),
	F_ARR(struct cs_backup_complete_args, failed, nfailed, false, 0, CS_MAX_SELECTED,
	      &component_ref_schema));

SCHEMA(set_create_args_schema, struct cs_set_create_args,
	F_ARR(struct cs_set_create_args, volumes, nvolumes, false, 0, CS_MAX_VOLUMES,
	      &volume_spec_schema),
	F_STR(struct cs_set_create_args, name, false),
	F_BOOL(struct cs_set_create_args, persistent, false),
	F_BOOL(struct cs_set_create_args, writable, false),
	F_BOOL(struct cs_set_create_args, auto_recover, false),
	F_BOOL(struct cs_set_create_args, no_writers, false),
	F_U32(struct cs_set_create_args, chunk_sectors, false, 0, 131072),
	F_BOOL(struct cs_set_create_args, backup, false),
	F_ENUM(struct cs_set_create_args, backup_type, false, cs_backup_type_names),
	F_ARR(struct cs_set_create_args, components, ncomponents, false, 0, CS_MAX_SELECTED,
	      &component_ref_schema));

const char *const cs_consistency_names[] = { "none", "crash", "application", NULL };

const char *const cs_writer_order_names[] = { "front-end", "back-end", "system", NULL };
const char *const cs_usage_names[] = {
	"user-data", "bootable-system-state", "system-service", "other", NULL
};
const char *const cs_restore_method_names[] = {
	"restore-if-not-there", "restore-if-can-replace", "stop-restore-start",
	"restore-to-alternate-location", "restore-at-reboot",
	"restore-at-reboot-if-cannot-replace", "custom", "restore-stop-start", NULL
};
const char *const cs_writer_kind_names[] = { "hook", "socket", NULL };

SCHEMA(wmd_file_schema, struct cs_wmd_file,
	F_STR(struct cs_wmd_file, path, true),
	F_STR(struct cs_wmd_file, filespec, true),
	F_BOOL(struct cs_wmd_file, recursive, false));

SCHEMA(wmd_component_schema, struct cs_wmd_component,
	F_STR(struct cs_wmd_component, logical_path, false),
	F_STR(struct cs_wmd_component, name, true),
	F_BOOL(struct cs_wmd_component, selectable, false),
	F_ARR(struct cs_wmd_component, files, nfiles, false, 0, CS_MAX_FILES,
	      &wmd_file_schema));

static const struct cs_field backup_type_item_fields[] = {
	{ .name = "", .type = CS_F_ENUM, .required = true, .off = 0,
	  .names = cs_backup_type_names },
};
static const struct cs_schema backup_type_item_schema = {
	.name = "cs_backup_type_item", .size = sizeof(struct cs_backup_type_item),
	.fields = backup_type_item_fields, .nfields = 1,
};

static const struct cs_field wmd_fields[] = {
	F_STR(struct cs_wmd, name, true),
	F_STR(struct cs_wmd, class_id, true),
	F_STR(struct cs_wmd, instance, false),
	F_ENUM(struct cs_wmd, usage, true, cs_usage_names),
	F_ENUM(struct cs_wmd, restore_method, true, cs_restore_method_names),
	F_ENUM(struct cs_wmd, order, false, cs_writer_order_names),
	F_U32(struct cs_wmd, freeze_timeout_ms, false, 0, 86400000),
	F_U32(struct cs_wmd, event_timeout_ms, false, 0, 86400000),
	F_ARR(struct cs_wmd, backup_types, nbackup_types, true, 1, 5,
	      &backup_type_item_schema),
	F_ARR(struct cs_wmd, components, ncomponents, false, 0, CS_MAX_COMPONENTS,
	      &wmd_component_schema),
};
const struct cs_schema cs_wmd_schema = {
	.name = "cs_wmd", .size = sizeof(struct cs_wmd), .fields = wmd_fields,
	.nfields = sizeof(wmd_fields) / sizeof(wmd_fields[0]),
};

const char *const cs_set_storage_kind_names[] = { "device", "file", "ram", NULL };

static const struct cs_field set_storage_fields[] = {
	F_STR(struct cs_set_storage, place, true),
	F_ENUM(struct cs_set_storage, kind, false, cs_set_storage_kind_names),
	F_U64ALL(struct cs_set_storage, sectors, false),
	{ .name = "default", .type = CS_F_BOOL, .required = false,
	  .off = offsetof(struct cs_set_storage, is_default) },
};
static const struct cs_schema set_storage_schema = {
	.name = "cs_set_storage", .size = sizeof(struct cs_set_storage),
	.fields = set_storage_fields,
	.nfields = sizeof(set_storage_fields) / sizeof(set_storage_fields[0]),
};

SCHEMA(set_result_schema, struct cs_set_result,
	F_OBJ(struct cs_set_result, set, true, &set_schema),
	F_ENUM(struct cs_set_result, consistency, false, cs_consistency_names),
	F_U32ALL(struct cs_set_result, writers, false),
	F_ARR(struct cs_set_result, writer_names, nwriter_names, false, 0, CS_MAX_WRITERS,
	      &volume_spec_schema),
	F_ARR(struct cs_set_result, metadata, nmetadata, false, 0, CS_MAX_WRITERS,
	      &cs_wmd_schema),
	F_ARR(struct cs_set_result, components, ncomponents, false, 0, CS_MAX_WRITERS *
	      CS_MAX_COMPONENTS, &component_ref_schema),
	F_ARR(struct cs_set_result, storage, nstorage, false, 0, CS_MAX_SET_STORAGE,
	      &set_storage_schema));

SCHEMA(set_delete_args_schema, struct cs_set_delete_args,
	F_U64ALL(struct cs_set_delete_args, id, false),
	F_BOOL(struct cs_set_delete_args, all, false),
	F_STR(struct cs_set_delete_args, oldest, false));

SCHEMA(set_delete_result_schema, struct cs_set_delete_result,
	F_ARR(struct cs_set_delete_result, ids, nids, false, 0, CS_MAX_SETS,
	      &set_id_schema));

SCHEMA(set_show_args_schema, struct cs_set_show_args,
	F_U64(struct cs_set_show_args, id, true, 1, INT64_MAX));

SCHEMA(list_args_schema, struct cs_list_args,
	F_U64ALL(struct cs_list_args, from, false));

SCHEMA(set_list_result_schema, struct cs_set_list_result,
	F_ARR(struct cs_set_list_result, sets, nsets, false, 0, CS_MAX_SETS,
	      &set_schema),
	F_U64ALL(struct cs_set_list_result, next, false));

SCHEMA(volume_schema, struct cs_volume,
	F_STR(struct cs_volume, device, true),
	F_U32ALL(struct cs_volume, major, true),
	F_U32ALL(struct cs_volume, minor, true),
	F_U64ALL(struct cs_volume, sectors, false),
	F_STR(struct cs_volume, mountpoint, false),
	F_STR(struct cs_volume, fstype, false),
	F_STR(struct cs_volume, uuid, false),
	F_STR(struct cs_volume, label, false),
	F_BOOL(struct cs_volume, tracked, false),
	F_U64ALL(struct cs_volume, mark_set_id, false),
	F_U32ALL(struct cs_volume, snapshots, false),
	F_BOOL(struct cs_volume, kept, false),
	F_STR(struct cs_volume, cbt_generation, false),
	F_U32ALL(struct cs_volume, cbt_chunk_sectors, false),
	F_U64ALL(struct cs_volume, changed_bytes, false));

SCHEMA(volume_args_schema, struct cs_volume_args,
	F_STR(struct cs_volume_args, volume, true));

SCHEMA(cbt_get_args_schema, struct cs_cbt_get_args,
	F_STR(struct cs_cbt_get_args, volume, true),
	F_U64ALL(struct cs_cbt_get_args, set_id, false),
	F_U32(struct cs_cbt_get_args, since_seq, false, 0, 255),
	F_STR(struct cs_cbt_get_args, since_generation, false),
	F_BOOL(struct cs_cbt_get_args, since_tracking, false),
	F_U64ALL(struct cs_cbt_get_args, first, false),
	F_U64ALL(struct cs_cbt_get_args, count, false));

SCHEMA(cbt_range_schema, struct cs_cbt_range,
	F_U64ALL(struct cs_cbt_range, first, true),
	F_U64(struct cs_cbt_range, count, true, 1, INT64_MAX));

SCHEMA(cbt_result_schema, struct cs_cbt_result,
	F_STR(struct cs_cbt_result, device, true),
	F_U32ALL(struct cs_cbt_result, major, true),
	F_U32ALL(struct cs_cbt_result, minor, true),
	F_U64ALL(struct cs_cbt_result, sectors, true),
	F_U32(struct cs_cbt_result, chunk_sectors, true, 1, UINT32_MAX),
	F_STR(struct cs_cbt_result, generation, true),
	F_U64ALL(struct cs_cbt_result, chunks, true),
	F_U64ALL(struct cs_cbt_result, set_id, false),
	F_U32(struct cs_cbt_result, set_cbt_seq, false, 0, 255),
	F_STR(struct cs_cbt_result, set_generation, false),
	F_U64ALL(struct cs_cbt_result, first, false),
	F_U64ALL(struct cs_cbt_result, next, true),
	F_ARR(struct cs_cbt_result, ranges, nranges, false, 0, CS_CBT_MAX_RANGES,
	      &cbt_range_schema),
	F_U64ALL(struct cs_cbt_result, changed, false));

SCHEMA(volume_list_result_schema, struct cs_volume_list_result,
	F_ARR(struct cs_volume_list_result, volumes, nvolumes, false, 0, 4096,
	      &volume_schema),
	F_U64ALL(struct cs_volume_list_result, next, false));

const char *const cs_storage_kind_names[] = { "device", "directory", "ram", NULL };

static const struct cs_field storage_dev_fields[] = {
	F_STR(struct cs_storage_dev, device, true),
	F_U32ALL(struct cs_storage_dev, major, true),
	F_U32ALL(struct cs_storage_dev, minor, true),
	F_U64ALL(struct cs_storage_dev, sectors, true),
	F_U64ALL(struct cs_storage_dev, used, false),
	F_ENUM(struct cs_storage_dev, kind, false, cs_storage_kind_names),
	{ .name = "default", .type = CS_F_BOOL, .required = false,
	  .off = offsetof(struct cs_storage_dev, is_default) },
	F_U64ALL(struct cs_storage_dev, memory, false),
};
static const struct cs_schema storage_dev_schema = {
	.name = "cs_storage_dev", .size = sizeof(struct cs_storage_dev),
	.fields = storage_dev_fields,
	.nfields = sizeof(storage_dev_fields) / sizeof(storage_dev_fields[0]),
};

SCHEMA(storage_list_result_schema, struct cs_storage_list_result,
	F_ARR(struct cs_storage_list_result, devices, ndevices, false, 0, 256,
	      &storage_dev_schema),
	F_U64ALL(struct cs_storage_list_result, set_sectors, false),
	F_U64ALL(struct cs_storage_list_result, grow_sectors, false),
	F_BOOL(struct cs_storage_list_result, set_auto, false),
	F_BOOL(struct cs_storage_list_result, grow_auto, false),
	F_U32(struct cs_storage_list_result, max_percent, false, 0, 100),
	F_STR(struct cs_storage_list_result, default_directory, false));

SCHEMA(storage_args_schema, struct cs_storage_args,
	F_STR(struct cs_storage_args, device, true));

const char *const cs_writer_state_names[] = {
	"STABLE", "WAITING_FOR_FREEZE", "WAITING_FOR_THAW", "WAITING_FOR_POST_SNAPSHOT",
	"WAITING_FOR_BACKUP_COMPLETE", "FAILED_AT_PREPARE_BACKUP", "FAILED_AT_PREPARE_SNAPSHOT",
	"FAILED_AT_FREEZE", "FAILED_AT_THAW", "FAILED_AT_POST_SNAPSHOT",
	"FAILED_AT_BACKUP_COMPLETE", "FAILED_AT_IDENTIFY", "FAILED_AT_PRE_RESTORE",
	"FAILED_AT_POST_RESTORE", NULL
};
const char *const cs_writer_error_names[] = {
	"NONE", "TIMEOUT", "RETRYABLE", "NONRETRYABLE", "INCONSISTENT_SNAPSHOT",
	"OUT_OF_RESOURCES", NULL
};

SCHEMA(writer_info_schema, struct cs_writer_info,
	F_STR(struct cs_writer_info, name, true),
	F_STR(struct cs_writer_info, exec, false),
	F_ENUM(struct cs_writer_info, order, true, cs_writer_order_names),
	F_ENUM(struct cs_writer_info, state, true, cs_writer_state_names),
	F_ENUM(struct cs_writer_info, last_error, true, cs_writer_error_names),
	F_STR(struct cs_writer_info, message, false),
	F_U32ALL(struct cs_writer_info, freeze_timeout_ms, false),
	F_U32ALL(struct cs_writer_info, event_timeout_ms, false),
	F_ENUM(struct cs_writer_info, kind, false, cs_writer_kind_names),
	F_U32ALL(struct cs_writer_info, pid, false),
	F_BOOL(struct cs_writer_info, connected, false),
	F_STR(struct cs_writer_info, class_id, false),
	F_STR(struct cs_writer_info, instance, false),
	F_U32ALL(struct cs_writer_info, components, false));

SCHEMA(writer_list_result_schema, struct cs_writer_list_result,
	F_ARR(struct cs_writer_list_result, writers, nwriters, false, 0, 256,
	      &writer_info_schema),
	F_U64ALL(struct cs_writer_list_result, next, false));

const char *const cs_event_names[] = {
	"identify", "prepare-backup", "prepare-snapshot", "freeze", "thaw", "post-snapshot",
	"backup-complete", "backup-shutdown", "abort", "pre-restore", "post-restore", NULL
};

SCHEMA(event_snapshot_schema, struct cs_event_snapshot,
	F_STR(struct cs_event_snapshot, origin, true),
	F_STR(struct cs_event_snapshot, image, true));

SCHEMA(writer_event_schema, struct cs_writer_event,
	F_ENUM(struct cs_writer_event, event, true, cs_event_names),
	F_U64ALL(struct cs_writer_event, set_id, false),
	F_ENUM(struct cs_writer_event, backup_type, false, cs_backup_type_names),
	F_ARR(struct cs_writer_event, volumes, nvolumes, false, 0, CS_MAX_VOLUMES,
	      &volume_spec_schema),
	F_ARR(struct cs_writer_event, components, ncomponents, false, 0, CS_MAX_COMPONENTS,
	      &component_ref_schema),
	F_BOOL(struct cs_writer_event, success, false),
	F_U32ALL(struct cs_writer_event, timeout_ms, false),
	F_ARR(struct cs_writer_event, snapshots, nsnapshots, false, 0, CS_MAX_VOLUMES,
	      &event_snapshot_schema),
	F_BOOL(struct cs_writer_event, images_writable, false));

SCHEMA(restore_args_schema, struct cs_restore_args,
	F_ARR(struct cs_restore_args, writers, nwriters, false, 0, CS_MAX_WRITERS,
	      &volume_spec_schema),
	F_ARR(struct cs_restore_args, components, ncomponents, false, 0, CS_MAX_WRITERS *
	      CS_MAX_COMPONENTS, &component_ref_schema),
	F_ENUM(struct cs_restore_args, backup_type, false, cs_backup_type_names),
	F_U64ALL(struct cs_restore_args, set_id, false),
	F_ARR(struct cs_restore_args, volumes, nvolumes, false, 0, CS_MAX_VOLUMES,
	      &volume_spec_schema));

SCHEMA(restore_result_schema, struct cs_restore_result,
	F_U32ALL(struct cs_restore_result, writers, false));

SCHEMA(restore_end_args_schema, struct cs_restore_end_args,
	F_BOOL(struct cs_restore_end_args, success, false));

static const struct cs_field backup_doc_fields[] = {
	F_U64ALL(struct cs_backup_doc, set_id, false),
	F_ENUM(struct cs_backup_doc, backup_type, false, cs_backup_type_names),
	F_ARR(struct cs_backup_doc, writers, nwriters, false, 0, CS_MAX_WRITERS,
	      &volume_spec_schema),
	F_ARR(struct cs_backup_doc, metadata, nmetadata, false, 0, CS_MAX_WRITERS,
	      &cs_wmd_schema),
	F_ARR(struct cs_backup_doc, components, ncomponents, false, 0, CS_MAX_WRITERS *
	      CS_MAX_COMPONENTS, &component_ref_schema),
	F_ARR(struct cs_backup_doc, volumes, nvolumes, false, 0, CS_MAX_VOLUMES,
	      &set_volume_schema),
};
const struct cs_schema cs_backup_doc_schema = {
	.name = "cs_backup_doc", .size = sizeof(struct cs_backup_doc),
	.fields = backup_doc_fields,
	.nfields = sizeof(backup_doc_fields) / sizeof(backup_doc_fields[0]),
};

const struct cs_op_desc cs_ops[__CS_OP_COUNT] = {
	[CS_OP_VERSION] = { "version", &empty_schema, &version_schema },
	[CS_OP_SET_CREATE] = { "set_create", &set_create_args_schema, &set_result_schema },
	[CS_OP_SET_DELETE] = { "set_delete", &set_delete_args_schema,
			       &set_delete_result_schema },
	[CS_OP_SET_LIST] = { "set_list", &list_args_schema, &set_list_result_schema },
	[CS_OP_SET_SHOW] = { "set_show", &set_show_args_schema, &set_result_schema },
	[CS_OP_VOLUME_LIST] = { "volume_list", &list_args_schema, &volume_list_result_schema },
	[CS_OP_STORAGE_LIST] = { "storage_list", &empty_schema, &storage_list_result_schema },
	[CS_OP_STORAGE_ADD] = { "storage_add", &storage_args_schema,
				&storage_list_result_schema },
	[CS_OP_STORAGE_REMOVE] = { "storage_remove", &storage_args_schema,
				   &storage_list_result_schema },
	[CS_OP_WRITER_LIST] = { "writer_list", &list_args_schema, &writer_list_result_schema },
	[CS_OP_BACKUP_COMPLETE] = { "backup_complete", &backup_complete_args_schema,
				    &empty_schema },
	[CS_OP_WRITER_REGISTER] = { "writer_register", &cs_wmd_schema, &empty_schema },
	[CS_OP_WRITER_EVENT] = { "writer_event", &writer_event_schema, &empty_schema },
	[CS_OP_RESTORE_BEGIN] = { "restore_begin", &restore_args_schema,
				  &restore_result_schema },
	[CS_OP_RESTORE_END] = { "restore_end", &restore_end_args_schema, &empty_schema },
	[CS_OP_VOLUME_TRACK] = { "volume_track", &volume_args_schema, &volume_schema },
	[CS_OP_VOLUME_UNTRACK] = { "volume_untrack", &volume_args_schema, &volume_schema },
	[CS_OP_CBT_GET] = { "cbt_get", &cbt_get_args_schema, &cbt_result_schema },
};
