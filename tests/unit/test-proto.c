// SPDX-License-Identifier: GPL-2.0-or-later
/* Check tests of the socket protocol library (tools/lib/proto.c, msgs.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <json.h>

#include "cowsnap.h"
#include "proto.h"
#include "size.h"

/* A frame body from a C string. */
static int decode_req(const char *json, struct cs_request *req, struct cs_error *err)
{
	return cs_decode_request(json, strlen(json), req, err);
}

/* Encode a request and take it back out through the framer. */
static void roundtrip_request(enum cs_op op, const void *args, struct cs_request *req)
{
	struct cs_buf b = { 0 };
	struct cs_error err = { 0 };
	struct cs_framer f;
	const char *body;
	size_t len, room;
	char *p;

	ck_assert_int_eq(cs_encode_request(&b, 77, op, args, &err), 0);
	cs_framer_init(&f);
	p = cs_framer_space(&f, b.len, &room);
	ck_assert_ptr_nonnull(p);
	memcpy(p, b.data, b.len);
	cs_framer_filled(&f, b.len);
	ck_assert_int_eq(cs_framer_next(&f, &body, &len), 1);
	ck_assert_uint_eq(len + CS_FRAME_HDR, b.len);
	ck_assert_msg(cs_decode_request(body, len, req, &err) == 0, "%s", err.message);
	ck_assert_uint_eq(req->id, 77);
	ck_assert_int_eq(req->op, op);
	cs_framer_free(&f);
	cs_buf_free(&b);
}

START_TEST(version_request_roundtrip)
{
	struct cs_empty none = { 0 };
	struct cs_request req;

	roundtrip_request(CS_OP_VERSION, &none, &req);
	cs_request_free(&req);
}
END_TEST

START_TEST(version_reply_roundtrip)
{
	struct cs_version v = { .proto_version = 1, .module_proto_version = 1 }, w = { 0 };
	struct cs_buf b = { 0 };
	struct cs_error err = { 0 };
	uint32_t id = 0;
	bool remote;

	strcpy(v.daemon_version, "0.1.0");
	strcpy(v.module_version, "0.1.0-rc1");
	ck_assert_int_eq(cs_encode_reply(&b, 9, CS_OP_VERSION, &v, &err), 0);
	ck_assert_int_eq(cs_decode_reply(b.data + 4, b.len - 4, CS_OP_VERSION, &id, &w,
					 &remote, &err), 0);
	ck_assert_uint_eq(id, 9);
	ck_assert_str_eq(w.daemon_version, "0.1.0");
	ck_assert_str_eq(w.module_version, "0.1.0-rc1");
	ck_assert_uint_eq(w.proto_version, 1);
	ck_assert_uint_eq(w.module_proto_version, 1);
	ck_assert_str_eq(w.module_error, "");
	cs_buf_free(&b);
}
END_TEST

START_TEST(set_create_roundtrip)
{
	struct cs_volume_spec vols[3] = { { "/dev/sda1" }, { "UUID=1234-abcd" }, { "/srv" } };
	struct cs_set_create_args a = { .volumes = vols, .nvolumes = 3, .persistent = true,
					.chunk_sectors = 256 };
	struct cs_set_create_args *b;
	struct cs_request req;

	roundtrip_request(CS_OP_SET_CREATE, &a, &req);
	b = req.args;
	ck_assert_uint_eq(b->nvolumes, 3);
	ck_assert_str_eq(b->volumes[0].spec, "/dev/sda1");
	ck_assert_str_eq(b->volumes[1].spec, "UUID=1234-abcd");
	ck_assert_str_eq(b->volumes[2].spec, "/srv");
	ck_assert(b->persistent);
	ck_assert(!b->no_writers);
	ck_assert_uint_eq(b->chunk_sectors, 256);
	cs_request_free(&req);
}
END_TEST

/* A set's name: the rule of CS_SET_NAME_RULE, which the module checks too */
START_TEST(set_names)
{
	static const char *const good[] = {
		"a", "nightly", "db-2025.01_x+y", "1a", "a1", "0x10", "A_", "_", "+1", "9.",
	};
	static const char *const bad[] = {
		"", "-a", ".a", ".", "..", "-", "1", "123", "007", "a b", "a/b", "a=b", "a:b",
		"a\tb", "a\nb", "caf\xc3\xa9", "\xe9", "a*", "$x", "a\\b",
	};
	char n[CS_SET_NAME_MAX + 2];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ck_assert_msg(cs_set_name_valid(good[i]), "`%s' refused", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(!cs_set_name_valid(bad[i]), "`%s' accepted", bad[i]);
	memset(n, 'x', CS_SET_NAME_MAX);
	n[CS_SET_NAME_MAX] = '\0';
	ck_assert(cs_set_name_valid(n));
	n[CS_SET_NAME_MAX] = 'x';
	n[CS_SET_NAME_MAX + 1] = '\0';
	ck_assert(!cs_set_name_valid(n));
}
END_TEST

/* set_create's name on the wire: there when given, at most 64 bytes; a
 * set's name in a reply, absent when it has none */
START_TEST(set_name_on_the_wire)
{
	struct cs_volume_spec vol = { "/dev/vdb" };
	struct cs_set_create_args a = { .volumes = &vol, .nvolumes = 1, .name = "nightly" };
	struct cs_set_create_args *b;
	struct cs_set sets[2] = {
		{ .id = 3, .name = "db+logs", .state = CS_SET_TAKEN },
		{ .id = 4, .state = CS_SET_TAKEN },
	};
	struct cs_set_list_result r = { .sets = sets, .nsets = 2 }, o = { 0 };
	struct cs_request req;
	struct cs_buf buf = { 0 };
	struct cs_error err = { 0 };
	char json[256], *body;
	uint32_t id;
	bool remote;

	roundtrip_request(CS_OP_SET_CREATE, &a, &req);
	b = req.args;
	ck_assert_str_eq(b->name, "nightly");
	cs_request_free(&req);

	snprintf(json, sizeof(json), "{\"proto\":1,\"id\":1,\"op\":\"set_create\",\"args\":"
		 "{\"volumes\":[\"/dev/vdb\"],\"name\":\"%065d\"}}", 0);
	ck_assert_int_ne(cs_decode_request(json, strlen(json), &req, &err), 0);
	ck_assert_int_eq(err.code, EINVAL);
	ck_assert_msg(strstr(err.message, "args.name") != NULL, "%s", err.message);

	ck_assert_int_eq(cs_encode_reply(&buf, 1, CS_OP_SET_LIST, &r, &err), 0);
	body = strndup(buf.data + 4, buf.len - 4);
	ck_assert_ptr_nonnull(body);
	ck_assert_msg(strstr(body, "\"name\":\"db+logs\"") != NULL, "%s", body);
	/* one name only: the unnamed set's is left out */
	ck_assert_ptr_null(strstr(strstr(body, "db+logs"), "\"name\""));
	free(body);
	ck_assert_msg(cs_decode_reply(buf.data + 4, buf.len - 4, CS_OP_SET_LIST, &id, &o,
				      &remote, &err) == 0, "%s", err.message);
	ck_assert_str_eq(o.sets[0].name, "db+logs");
	ck_assert_str_eq(o.sets[1].name, "");
	cs_schema_free(cs_ops[CS_OP_SET_LIST].result, &o);
	cs_buf_free(&buf);
}
END_TEST

START_TEST(set_list_roundtrip)
{
	struct cs_set_volume sv[2] = {
		{ .origin = "/dev/vda", .major = 254, .minor = 0, .sectors = 1 << 20,
		  .image = "/dev/cowsnap3", .image_major = 250, .image_minor = 3,
		  .chunks_copied = 5 },
		{ .origin = "/dev/vdb1", .major = 254, .minor = 17 },
	};
	struct cs_set sets[2] = {
		{ .id = 1, .state = CS_SET_TAKEN, .persistent = true, .volumes = sv,
		  .nvolumes = 2, .created_ns = 1700000000123456789ULL, .storage_sectors = 99 },
		{ .id = INT64_MAX, .state = CS_SET_INVALID, .invalid_cause = "storage-full" },
	};
	struct cs_set_list_result r = { .sets = sets, .nsets = 2 }, o = { 0 };
	struct cs_buf b = { 0 };
	struct cs_error err = { 0 };
	uint32_t id;
	bool remote;

	ck_assert_int_eq(cs_encode_reply(&b, 1, CS_OP_SET_LIST, &r, &err), 0);
	ck_assert_msg(cs_decode_reply(b.data + 4, b.len - 4, CS_OP_SET_LIST, &id, &o,
				      &remote, &err) == 0, "%s", err.message);
	ck_assert_uint_eq(o.nsets, 2);
	ck_assert_uint_eq(o.sets[0].id, 1);
	ck_assert_int_eq(o.sets[0].state, CS_SET_TAKEN);
	ck_assert(o.sets[0].persistent);
	ck_assert_uint_eq(o.sets[0].created_ns, 1700000000123456789ULL);
	ck_assert_uint_eq(o.sets[0].nvolumes, 2);
	ck_assert_str_eq(o.sets[0].volumes[0].image, "/dev/cowsnap3");
	ck_assert_uint_eq(o.sets[0].volumes[0].sectors, 1 << 20);
	ck_assert_uint_eq(o.sets[0].volumes[1].minor, 17);
	ck_assert_uint_eq(o.sets[1].id, INT64_MAX);
	ck_assert_int_eq(o.sets[1].state, CS_SET_INVALID);
	ck_assert_str_eq(o.sets[1].invalid_cause, "storage-full");
	ck_assert_uint_eq(o.sets[1].nvolumes, 0);
	cs_schema_free(cs_ops[CS_OP_SET_LIST].result, &o);
	cs_buf_free(&b);
}
END_TEST

START_TEST(error_reply_roundtrip)
{
	struct cs_error e, got = { 0 };
	struct cs_buf b = { 0 };
	struct cs_version v = { 0 };
	uint32_t id;
	bool remote;

	cs_error_set(&e, EBUSY, "another shadow copy set is being created");
	ck_assert_int_eq(cs_encode_error(&b, 5, &e), 0);
	ck_assert_int_eq(cs_decode_reply(b.data + 4, b.len - 4, CS_OP_VERSION, &id, &v,
					 &remote, &got), -EBUSY);
	ck_assert(remote);
	ck_assert_uint_eq(id, 5);
	ck_assert_int_eq(got.code, EBUSY);
	ck_assert_str_eq(got.message, "another shadow copy set is being created");
	cs_buf_free(&b);
}
END_TEST

START_TEST(error_unknown_code_keeps_message)
{
	const char *s = "{\"proto\":1,\"id\":3,\"ok\":false,"
			"\"error\":{\"code\":\"EFUTURE\",\"message\":\"from the future\"}}";
	struct cs_error got = { 0 };
	struct cs_version v = { 0 };
	uint32_t id;
	bool remote;

	ck_assert_int_eq(cs_decode_reply(s, strlen(s), CS_OP_VERSION, &id, &v, &remote, &got),
			 -EIO);
	ck_assert(remote);
	ck_assert_str_eq(got.message, "from the future");
}
END_TEST

START_TEST(malformed_replies)
{
	static const char *const bad[] = {
		"{\"proto\":1,\"id\":3,\"ok\":true}",
		"{\"proto\":1,\"id\":3,\"ok\":true,\"result\":{}}",
		"{\"proto\":1,\"id\":3,\"ok\":false}",
		"{\"proto\":1,\"id\":3,\"ok\":false,\"error\":{\"code\":\"EIO\"}}",
		"{\"proto\":1,\"id\":3,\"ok\":\"yes\",\"result\":{}}",
		"{\"proto\":2,\"id\":3,\"ok\":true,\"result\":{}}",
		"[1,2]",
	};
	struct cs_error got;
	struct cs_version v;
	uint32_t id;
	bool remote;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&v, 0, sizeof(v));
		ck_assert_msg(cs_decode_reply(bad[i], strlen(bad[i]), CS_OP_VERSION, &id, &v,
					      &remote, &got) == -EPROTO, "accepted %s", bad[i]);
		ck_assert(!remote);
	}
}
END_TEST

START_TEST(truncated_frames)
{
	struct cs_volume_spec vols[1] = { { "/dev/sda1" } };
	struct cs_set_create_args a = { .volumes = vols, .nvolumes = 1 };
	struct cs_buf b = { 0 };
	struct cs_error err;
	struct cs_request req;
	struct cs_framer f;
	const char *body;
	size_t len, room;

	ck_assert_int_eq(cs_encode_request(&b, 1, CS_OP_SET_CREATE, &a, &err), 0);
	/* every strict prefix of a frame is "need more" */
	for (size_t n = 0; n < b.len; n++) {
		cs_framer_init(&f);
		memcpy(cs_framer_space(&f, b.len, &room), b.data, n);
		cs_framer_filled(&f, n);
		ck_assert_int_eq(cs_framer_next(&f, &body, &len), 0);
		cs_framer_free(&f);
	}
	/* and every strict prefix of a body is refused, never half-read */
	for (size_t n = 0; n < b.len - 4; n++) {
		ck_assert_int_ne(cs_decode_request(b.data + 4, n, &req, &err), 0);
		ck_assert_int_eq(err.code, EINVAL);
	}
	cs_buf_free(&b);
}
END_TEST

START_TEST(framer_byte_by_byte)
{
	struct cs_empty none = { 0 };
	struct cs_buf b = { 0 };
	struct cs_error err;
	struct cs_framer f;
	struct cs_request req;
	const char *body;
	size_t len, room;
	int frames = 0;

	for (uint32_t id = 0; id < 3; id++)
		ck_assert_int_eq(cs_encode_request(&b, id, CS_OP_VERSION, &none, &err), 0);
	cs_framer_init(&f);
	for (size_t i = 0; i < b.len; i++) {
		char *p = cs_framer_space(&f, 1, &room);

		*p = b.data[i];
		cs_framer_filled(&f, 1);
		while (cs_framer_next(&f, &body, &len) == 1) {
			ck_assert_int_eq(cs_decode_request(body, len, &req, &err), 0);
			ck_assert_uint_eq(req.id, (uint32_t)frames);
			cs_request_free(&req);
			frames++;
		}
	}
	ck_assert_int_eq(frames, 3);
	cs_framer_free(&f);
	cs_buf_free(&b);
}
END_TEST

START_TEST(oversize)
{
	struct cs_framer f;
	struct cs_volume_spec *vols = calloc(CS_MAX_VOLUMES, sizeof(*vols));
	struct cs_set_create_args a = { .volumes = vols, .nvolumes = CS_MAX_VOLUMES };
	struct cs_buf b = { 0 };
	struct cs_error err;
	const char *body;
	size_t len, room;
	uint32_t be;
	char *big;

	/* a header announcing more than the limit is refused at once */
	cs_framer_init(&f);
	be = htonl(CS_FRAME_MAX + 1);
	memcpy(cs_framer_space(&f, 4, &room), &be, 4);
	cs_framer_filled(&f, 4);
	ck_assert_int_eq(cs_framer_next(&f, &body, &len), -EMSGSIZE);
	cs_framer_free(&f);
	/* so are lengths 0 and 1 */
	for (uint32_t n = 0; n < 2; n++) {
		cs_framer_init(&f);
		be = htonl(n);
		memcpy(cs_framer_space(&f, 4, &room), &be, 4);
		cs_framer_filled(&f, 4);
		ck_assert_int_eq(cs_framer_next(&f, &body, &len), -EINVAL);
		cs_framer_free(&f);
	}
	/* the encoder refuses to build a frame above the limit */
	for (int i = 0; i < CS_MAX_VOLUMES; i++)
		memset(vols[i].spec, 'a', CS_PATH_MAX);
	ck_assert_int_eq(cs_encode_request(&b, 1, CS_OP_SET_CREATE, &a, &err), -EMSGSIZE);
	ck_assert_uint_eq(b.len, 0);
	/* and the decoder a body above it */
	big = malloc(CS_FRAME_MAX + 2);
	memset(big, ' ', CS_FRAME_MAX + 2);
	big[0] = '{';
	big[CS_FRAME_MAX + 1] = '}';
	ck_assert_int_eq(cs_json_parse(big, CS_FRAME_MAX + 2, (struct json_object **)&body,
				       &err), -EMSGSIZE);
	free(big);
	free(vols);
}
END_TEST

struct bad_case {
	const char *json;
	int code;
	const char *in_message;	/* substring the error must name */
};

static void check_bad(const struct bad_case *c, size_t n)
{
	struct cs_request req;
	struct cs_error err;

	for (size_t i = 0; i < n; i++) {
		memset(&err, 0, sizeof(err));
		ck_assert_msg(decode_req(c[i].json, &req, &err) == -c[i].code,
			      "%s: got %d (%s)", c[i].json, err.code, err.message);
		ck_assert_ptr_null(req.args);
		ck_assert_msg(strstr(err.message, c[i].in_message),
			      "%s: message `%s' lacks `%s'", c[i].json, err.message,
			      c[i].in_message);
	}
}

START_TEST(unknown_fields)
{
	static const struct bad_case c[] = {
		{ "{\"proto\":1,\"id\":1,\"op\":\"version\",\"args\":{},\"x\":1}", EINVAL,
		  "unknown field `x'" },
		{ "{\"proto\":1,\"id\":1,\"op\":\"version\",\"args\":{\"verbose\":true}}", EINVAL,
		  "args: unknown field `verbose'" },
		{ "{\"proto\":1,\"id\":1,\"op\":\"set_create\",\"args\":{\"volumes\":[\"/a\"],"
		  "\"snapshot\":true}}", EINVAL, "unknown field `snapshot'" },
		{ "{\"proto\":1,\"id\":1,\"op\":\"format_disk\",\"args\":{}}", EOPNOTSUPP,
		  "unknown operation `format_disk'" },
	};

	check_bad(c, sizeof(c) / sizeof(c[0]));
}
END_TEST

START_TEST(wrong_types)
{
	static const struct bad_case c[] = {
		{ "{\"proto\":\"1\",\"id\":1,\"op\":\"version\",\"args\":{}}", EINVAL, "proto" },
		{ "{\"proto\":1,\"id\":\"1\",\"op\":\"version\",\"args\":{}}", EINVAL, "id" },
		{ "{\"proto\":1,\"id\":-1,\"op\":\"version\",\"args\":{}}", EINVAL, "id" },
		{ "{\"proto\":1,\"id\":4294967296,\"op\":\"version\",\"args\":{}}", EINVAL, "id" },
		{ "{\"proto\":1,\"id\":1,\"op\":7,\"args\":{}}", EINVAL, "op" },
		{ "{\"proto\":1,\"id\":1,\"op\":\"version\",\"args\":[]}", EINVAL,
		  "args: expected an object, got an array" },
		{ "{\"proto\":1,\"id\":1,\"op\":\"set_create\",\"args\":{\"volumes\":\"/a\"}}",
		  EINVAL, "args.volumes: expected an array, got a string" },
		{ "{\"proto\":1,\"id\":1,\"op\":\"set_create\",\"args\":{\"volumes\":[\"/a\",3]}}",
		  EINVAL, "args.volumes[1]: expected a string, got an integer" },
		{ "{\"proto\":1,\"id\":1,\"op\":\"set_create\",\"args\":{\"volumes\":[\"/a\"],"
		  "\"persistent\":1}}", EINVAL, "args.persistent: expected a boolean" },
		{ "{\"proto\":1,\"id\":1,\"op\":\"set_create\",\"args\":{\"volumes\":[\"/a\"],"
		  "\"chunk_sectors\":8.0}}", EINVAL, "args.chunk_sectors: expected an integer" },
		{ "{\"proto\":1,\"id\":1,\"op\":\"set_create\",\"args\":{\"volumes\":[\"/a\"],"
		  "\"chunk_sectors\":131073}}", EINVAL, "args.chunk_sectors: integer out of range" },
		{ "{\"proto\":1,\"id\":1,\"op\":\"set_show\",\"args\":{\"id\":0}}", EINVAL,
		  "args.id: integer out of range" },
		{ "{\"proto\":1,\"id\":1,\"op\":\"set_show\",\"args\":{\"id\":18446744073709551615}}",
		  EINVAL, "args.id" },
		{ "{\"proto\":1,\"id\":1,\"op\":\"set_show\",\"args\":{\"id\":null}}", EINVAL,
		  "args.id: expected an integer, got null" },
	};

	check_bad(c, sizeof(c) / sizeof(c[0]));
}
END_TEST

/* Writer Metadata Documents: what the schema refuses, then what
 * cs_wmd_validate refuses, each with the offending field named. */
#define WMD_HEAD "{\"proto\":1,\"id\":3,\"op\":\"writer_register\",\"args\":{"
#define WMD_OK_KEYS "\"name\":\"db1\",\"class_id\":\"0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9\"," \
	"\"usage\":\"user-data\",\"restore_method\":\"stop-restore-start\"," \
	"\"backup_types\":[\"full\",\"log\"]"

static const char wmd_good[] = WMD_HEAD WMD_OK_KEYS ",\"order\":\"front-end\","
	"\"freeze_timeout_ms\":5000,\"components\":[{\"logical_path\":\"sales\","
	"\"name\":\"orders\",\"selectable\":true,\"files\":[{\"path\":\"/srv/db\","
	"\"filespec\":\"*.db\",\"recursive\":true}]},{\"name\":\"log\"}]}}";

START_TEST(wmd_valid)
{
	struct cs_request req;
	struct cs_error err = { 0 };
	const struct cs_wmd *w;
	char path[CS_COMPONENT_PATH_MAX + 1];

	ck_assert_int_eq(decode_req(wmd_good, &req, &err), 0);
	ck_assert_int_eq(req.op, CS_OP_WRITER_REGISTER);
	w = req.args;
	ck_assert_int_eq(cs_wmd_validate(w, &err), 0);
	ck_assert_str_eq(w->name, "db1");
	ck_assert_int_eq(w->order, 0);
	ck_assert_uint_eq(w->freeze_timeout_ms, 5000);
	ck_assert_uint_eq(w->nbackup_types, 2);
	ck_assert_int_eq(w->backup_types[1].type, 4);
	ck_assert_uint_eq(w->ncomponents, 2);
	cs_component_path(&w->components[0], path, sizeof(path));
	ck_assert_str_eq(path, "sales/orders");
	ck_assert(w->components[0].selectable);
	ck_assert_str_eq(w->components[0].files[0].filespec, "*.db");
	ck_assert(!w->components[1].selectable);
	ck_assert_uint_eq(w->components[1].nfiles, 0);
	cs_request_free(&req);
}
END_TEST

START_TEST(wmd_schema_refusals)
{
	static const struct bad_case c[] = {
		{ WMD_HEAD WMD_OK_KEYS ",\"colour\":\"red\"}}", EINVAL, "unknown field `colour'" },
		{ WMD_HEAD "\"name\":\"db1\"}}", EINVAL, "args.class_id: required field missing" },
		{ WMD_HEAD WMD_OK_KEYS ",\"usage\":\"games\"}}", EINVAL, "" },
		{ WMD_HEAD WMD_OK_KEYS ",\"order\":\"middle\"}}", EINVAL,
		  "args.order: unknown value `middle'" },
		{ WMD_HEAD WMD_OK_KEYS ",\"freeze_timeout_ms\":-1}}", EINVAL,
		  "args.freeze_timeout_ms: integer out of range" },
		{ WMD_HEAD WMD_OK_KEYS ",\"freeze_timeout_ms\":1.5}}", EINVAL,
		  "args.freeze_timeout_ms" },
		{ WMD_HEAD WMD_OK_KEYS ",\"components\":{}}}", EINVAL,
		  "args.components: expected an array, got an object" },
		{ WMD_HEAD WMD_OK_KEYS ",\"components\":[{\"logical_path\":\"a\"}]}}", EINVAL,
		  "args.components[0].name: required field missing" },
		{ WMD_HEAD WMD_OK_KEYS ",\"components\":[{\"name\":\"a\",\"files\":"
		  "[{\"path\":\"/x\"}]}]}}", EINVAL,
		  "args.components[0].files[0].filespec: required field missing" },
		{ WMD_HEAD WMD_OK_KEYS ",\"components\":[{\"name\":\"a\",\"files\":"
		  "[{\"path\":\"/x\",\"filespec\":\"*\",\"mode\":1}]}]}}", EINVAL,
		  "args.components[0].files[0]: unknown field `mode'" },
		{ WMD_HEAD WMD_OK_KEYS ",\"components\":[{\"name\":\"a\",\"selectable\":\"yes\"}]}}",
		  EINVAL, "args.components[0].selectable: expected a boolean" },
		{ WMD_HEAD "\"name\":\"db1\",\"class_id\":\"0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9\","
		  "\"usage\":\"user-data\",\"restore_method\":\"custom\",\"backup_types\":"
		  "[\"full\",\"weekly\"]}}", EINVAL, "args.backup_types[1]: unknown value `weekly'" },
		{ WMD_HEAD "\"name\":\"db1\",\"class_id\":\"0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9\","
		  "\"usage\":\"user-data\",\"restore_method\":\"custom\",\"backup_types\":"
		  "[\"full\",\"copy\",\"log\",\"full\",\"copy\",\"log\"]}}", EINVAL,
		  "args.backup_types: more than 5" },
	};
	char *big;
	struct cs_request req;
	struct cs_error err;
	size_t off;

	check_bad(c, sizeof(c) / sizeof(c[0]));
	/* more components than allowed */
	big = malloc(64 * 1024);
	off = (size_t)sprintf(big, WMD_HEAD WMD_OK_KEYS ",\"components\":[");
	for (int i = 0; i <= CS_MAX_COMPONENTS; i++)
		off += (size_t)sprintf(big + off, "%s{\"name\":\"c%d\"}", i ? "," : "", i);
	sprintf(big + off, "]}}");
	ck_assert_int_eq(decode_req(big, &req, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.message, "args.components: more than 64"));
	free(big);
}
END_TEST

START_TEST(wmd_semantic_refusals)
{
	static const struct {
		const char *keys;	/* replaced or added to the good ones */
		const char *in_message;
	} c[] = {
		{ "\"name\":\"db 1\"", "name: `db 1' is not a writer name" },
		{ "\"name\":\"..\"", "name: `..' is not a writer name" },
		{ "\"name\":\"\"", "name: `' is not a writer name" },
		{ "\"class_id\":\"0f1e2d3c4b5a497886950a4b3c2d1e0f9\"", "class_id: " },
		{ "\"class_id\":\"0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0fz\"", "is not a UUID" },
		{ "\"freeze_timeout_ms\":5", "freeze_timeout_ms: 5 is below 100 ms" },
		{ "\"backup_types\":[\"log\",\"log\"]", "backup_types[1]: `log' given twice" },
		{ "\"components\":[{\"name\":\"a/b\"}]", "components[0].name: `a/b'" },
		{ "\"components\":[{\"logical_path\":\"/a\",\"name\":\"b\"}]",
		  "components[0].logical_path: `/a'" },
		{ "\"components\":[{\"logical_path\":\"a//b\",\"name\":\"b\"}]",
		  "components[0].logical_path" },
		{ "\"components\":[{\"logical_path\":\"a\",\"name\":\"b\"},"
		  "{\"logical_path\":\"a\",\"name\":\"b\"}]", "components[1]: `a/b' is declared twice" },
		{ "\"components\":[{\"name\":\"b\",\"files\":[{\"path\":\"srv\",\"filespec\":\"*\"}]}]",
		  "components[0].files[0].path: `srv' is not an absolute path" },
		{ "\"components\":[{\"name\":\"b\",\"files\":[{\"path\":\"/srv/../etc\","
		  "\"filespec\":\"*\"}]}]", "components[0].files[0].path" },
		{ "\"components\":[{\"name\":\"b\",\"files\":[{\"path\":\"/srv\",\"filespec\":\"\"}]}]",
		  "components[0].files[0].filespec" },
		{ "\"components\":[{\"name\":\"b\",\"files\":[{\"path\":\"/srv\",\"filespec\":\"a/b\"}]}]",
		  "components[0].files[0].filespec: `a/b'" },
	};
	char json[4096];

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct cs_request req;
		struct cs_error err = { 0 };
		struct json_object *j, *args, *add;

		/* the good document with these keys put in */
		ck_assert_int_eq(cs_json_parse(wmd_good, strlen(wmd_good), &j, &err), 0);
		json_object_object_get_ex(j, "args", &args);
		snprintf(json, sizeof(json), "{%s}", c[i].keys);
		add = json_tokener_parse(json);
		ck_assert_ptr_nonnull(add);
		json_object_object_foreach(add, k, v)
			json_object_object_add(args, k, json_object_get(v));
		json_object_put(add);
		snprintf(json, sizeof(json), "%s", json_object_to_json_string(j));
		json_object_put(j);
		ck_assert_msg(decode_req(json, &req, &err) == 0, "%s: %s", json, err.message);
		ck_assert_msg(cs_wmd_validate(req.args, &err) == -EINVAL, "%s: accepted", json);
		ck_assert_msg(strstr(err.message, c[i].in_message), "%s: message `%s' lacks `%s'",
			      json, err.message, c[i].in_message);
		cs_request_free(&req);
	}
}
END_TEST

START_TEST(writer_event_roundtrip)
{
	struct cs_volume_spec vols[1] = { { "/dev/vdb" } };
	struct cs_component_ref comps[2] = { { .path = "sales/orders" },
					     { .path = "log", .failed = true } };
	struct cs_event_snapshot snaps[1] = { { "/dev/vdb", "/dev/cowsnap3" } };
	struct cs_writer_event a = { .event = CS_EV_BACKUP_COMPLETE, .set_id = 7,
				     .backup_type = 2, .volumes = vols, .nvolumes = 1,
				     .components = comps, .ncomponents = 2, .success = true,
				     .timeout_ms = 30000, .snapshots = snaps, .nsnapshots = 1,
				     .images_writable = true };
	struct cs_buf b = { 0 };
	struct cs_request req;
	struct cs_error err = { 0 };
	const struct cs_writer_event *e;

	ck_assert_int_eq(cs_encode_request(&b, 9, CS_OP_WRITER_EVENT, &a, &err), 0);
	ck_assert(!cs_frame_is_reply(b.data + 4, b.len - 4));
	ck_assert_int_eq(cs_decode_request(b.data + 4, b.len - 4, &req, &err), 0);
	e = req.args;
	ck_assert_str_eq(cs_event_names[e->event], "backup-complete");
	ck_assert_uint_eq(e->set_id, 7);
	ck_assert_str_eq(cs_backup_type_names[e->backup_type], "incremental");
	ck_assert_str_eq(e->components[1].path, "log");
	ck_assert(e->components[1].failed && !e->components[0].failed);
	ck_assert(e->success);
	ck_assert_uint_eq(e->nsnapshots, 1);
	ck_assert_str_eq(e->snapshots[0].origin, "/dev/vdb");
	ck_assert_str_eq(e->snapshots[0].image, "/dev/cowsnap3");
	ck_assert(e->images_writable);
	cs_request_free(&req);
	cs_buf_free(&b);
	ck_assert_int_eq(cs_encode_error(&b, 9, &(struct cs_error){ EAGAIN, "busy" }), 0);
	ck_assert(cs_frame_is_reply(b.data + 4, b.len - 4));
	cs_buf_free(&b);
}
END_TEST

START_TEST(missing_and_limits)
{
	static const struct bad_case c[] = {
		{ "{\"id\":1,\"op\":\"version\",\"args\":{}}", EINVAL, "proto: required" },
		{ "{\"proto\":1,\"op\":\"version\",\"args\":{}}", EINVAL, "id" },
		{ "{\"proto\":1,\"id\":1,\"args\":{}}", EINVAL, "op: required" },
		{ "{\"proto\":1,\"id\":1,\"op\":\"version\"}", EINVAL, "args: required" },
		{ "{\"proto\":1,\"id\":1,\"op\":\"set_show\",\"args\":{}}", EINVAL,
		  "args.id: required field missing" },
		{ "{\"proto\":1,\"id\":1,\"op\":\"writer_register\",\"args\":{\"name\":\"w\","
		  "\"class_id\":\"x\",\"usage\":\"other\",\"restore_method\":\"custom\","
		  "\"backup_types\":[]}}", EINVAL, "args.backup_types: fewer than 1" },
		{ "{\"proto\":1,\"id\":1,\"op\":\"set_create\",\"args\":{\"volumes\":[\"a\\u0000b\"]}}",
		  EINVAL, "NUL" },
		{ "{\"proto\":2,\"id\":1,\"op\":\"version\",\"args\":{}}", EPROTO,
		  "protocol version 2 is not supported" },
		{ "{\"proto\":1,\"id\":1,\"op\":\"version\",\"args\":{}} x", EINVAL, "JSON" },
		{ "{\"proto\":1,\"id\":1,\"op\":\"version\",\"args\":{}}{}", EINVAL, "JSON" },
		{ "{\"proto\":1,\"id\":1,\"op\":\"version\",\"args\":{}", EINVAL, "truncated" },
		{ "[]", EINVAL, "not an object" },
		{ "\"hello\"", EINVAL, "not an object" },
		{ "{'proto':1}", EINVAL, "not valid JSON" },
		{ "{\"proto\":1,\"id\":1,\"op\":\"\xff\",\"args\":{}}", EINVAL, "not valid JSON" },
		{ "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
		  EINVAL, "not valid JSON" },
	};
	struct cs_request req;
	struct cs_error err;
	char buf[64] = "{\"proto\":1,\"id\":1,\"op\":\"version\",\"args\":{}}";
	char *longpath;
	size_t n;

	check_bad(c, sizeof(c) / sizeof(c[0]));
	/* whitespace around the object is fine */
	ck_assert_int_eq(decode_req(" {\"proto\":1,\"id\":1,\"op\":\"version\",\"args\":{}}\n",
				    &req, &err), 0);
	cs_request_free(&req);
	/* a NUL byte inside the frame */
	n = strlen(buf);
	buf[10] = '\0';
	ck_assert_int_eq(cs_decode_request(buf, n, &req, &err), -EINVAL);
	/* a string one byte too long */
	longpath = malloc(CS_PATH_MAX + 200);
	n = (size_t)sprintf(longpath, "{\"proto\":1,\"id\":1,\"op\":\"set_create\","
			    "\"args\":{\"volumes\":[\"");
	memset(longpath + n, 'x', CS_PATH_MAX + 1);
	strcpy(longpath + n + CS_PATH_MAX + 1, "\"]}}");
	ck_assert_int_eq(decode_req(longpath, &req, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.message, "args.volumes[0]: string longer than 4095"));
	/* and exactly at the limit it is fine */
	memmove(longpath + n + CS_PATH_MAX, longpath + n + CS_PATH_MAX + 1, 5);
	ck_assert_msg(decode_req(longpath, &req, &err) == 0, "%s", err.message);
	ck_assert_uint_eq(strlen(((struct cs_set_create_args *)req.args)->volumes[0].spec),
			  CS_PATH_MAX);
	cs_request_free(&req);
	free(longpath);
}
END_TEST

/* json-c keeps the last of a key given twice; the protocol refuses such a
 * message, at any depth, whatever escapes spell the key. */
START_TEST(duplicate_keys)
{
	static const struct bad_case c[] = {
		{ "{\"proto\":1,\"id\":1,\"id\":2,\"op\":\"version\",\"args\":{}}", EINVAL,
		  "field `id' given twice" },
		{ "{\"proto\":1,\"id\":1,\"op\":\"set_delete\",\"args\":{\"id\":3},"
		  "\"op\":\"set_delete\",\"args\":{\"all\":true}}", EINVAL,
		  "field `op' given twice" },
		{ "{\"proto\":1,\"id\":1,\"op\":\"set_create\",\"args\":{\"volumes\":[\"/a\"],"
		  "\"persistent\":false,\"persistent\":true}}", EINVAL,
		  "args: field `persistent' given twice" },
		{ WMD_HEAD WMD_OK_KEYS ",\"components\":[{\"name\":\"a\"},"
		  "{\"name\":\"b\",\"selectable\":true,\"name\":\"c\"}]}}", EINVAL,
		  "args.components[1]: field `name' given twice" },
		{ "{\"proto\":1,\"id\":1,\"op\":\"set_create\",\"args\":{\"volumes\":[\"/a\"],"
		  "\"volu\\u006des\":[\"/b\"]}}", EINVAL, "args: field `volumes' given twice" },
	};
	struct cs_version v = { 0 };
	struct cs_request req;
	struct cs_error err = { 0 };
	const char *rep = "{\"proto\":1,\"id\":5,\"ok\":false,\"ok\":true,\"result\":"
			  "{\"daemon_version\":\"1\",\"proto_version\":1}}";
	uint32_t id;
	bool remote;

	check_bad(c, sizeof(c) / sizeof(c[0]));
	ck_assert_int_eq(cs_decode_reply(rep, strlen(rep), CS_OP_VERSION, &id, &v, &remote,
					 &err), -EPROTO);
	ck_assert_msg(strstr(err.message, "field `ok' given twice"), "%s", err.message);
	/* the same key in different objects is fine */
	ck_assert_msg(decode_req(wmd_good, &req, &err) == 0, "%s", err.message);
	cs_request_free(&req);
	ck_assert_msg(decode_req("{\"proto\":1,\"id\":1,\"op\":\"set_create\",\"args\":"
				 "{\"components\":[{\"writer\":\"a\",\"path\":\"x\"},"
				 "{\"writer\":\"a\",\"path\":\"y\"}]}}", &req, &err) == 0,
		      "%s", err.message);
	cs_request_free(&req);
}
END_TEST

START_TEST(id_kept_on_errors)
{
	struct cs_request req;
	struct cs_error err;

	ck_assert_int_eq(decode_req("{\"proto\":1,\"id\":42,\"op\":\"nope\",\"args\":{}}",
				    &req, &err), -EOPNOTSUPP);
	ck_assert(req.have_id);
	ck_assert_uint_eq(req.id, 42);
	ck_assert_int_eq(decode_req("{\"proto\":1,\"id\":\"x\",\"op\":\"version\",\"args\":{}}",
				    &req, &err), -EINVAL);
	ck_assert(!req.have_id);
}
END_TEST

START_TEST(encoder_refuses_bad_structs)
{
	struct cs_set s = { .id = 0, .state = CS_SET_TAKEN };	/* id must be >= 1 */
	struct cs_set_result r = { .set = s };
	struct cs_buf b = { 0 };
	struct cs_error err;

	ck_assert_int_eq(cs_encode_reply(&b, 1, CS_OP_SET_SHOW, &r, &err), -EINVAL);
	r.set.id = 1;
	r.set.state = 99;
	ck_assert_int_eq(cs_encode_reply(&b, 1, CS_OP_SET_SHOW, &r, &err), -EINVAL);
	ck_assert_uint_eq(b.len, 0);
}
END_TEST

START_TEST(errno_names)
{
	static const int codes[] = { EPERM, EACCES, EBUSY, EINVAL, ENOENT, EPROTO,
				     ETIMEDOUT, EOPNOTSUPP, ESTALE, ENOSPC };

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		ck_assert_int_eq(cs_errno_value(cs_errno_name(codes[i])), codes[i]);
	ck_assert_ptr_null(cs_errno_name(12345));
	ck_assert_int_eq(cs_errno_value("ENOTANERRNO"), 0);
}
END_TEST

/* restore_begin's writers and components, as `snapctl restore --metadata'
 * reads them from a file that travels with backups. */
static void restore_args(struct cs_restore_args *a, const char *const *writers,
			 const char *const *comps)
{
	memset(a, 0, sizeof(*a));
	while (writers[a->nwriters])
		a->nwriters++;
	while (comps[2 * a->ncomponents])
		a->ncomponents++;
	a->writers = calloc(a->nwriters, sizeof(*a->writers));
	a->components = calloc(a->ncomponents ? a->ncomponents : 1, sizeof(*a->components));
	ck_assert(a->writers && a->components);
	for (uint32_t i = 0; i < a->nwriters; i++)
		snprintf(a->writers[i].spec, sizeof(a->writers[i].spec), "%s", writers[i]);
	for (uint32_t k = 0; k < a->ncomponents; k++) {
		snprintf(a->components[k].writer, sizeof(a->components[k].writer), "%s",
			 comps[2 * k]);
		snprintf(a->components[k].path, sizeof(a->components[k].path), "%s",
			 comps[2 * k + 1]);
		a->components[k].failed = true;
	}
}

/* refs sized as cowsnapd sizes them; under ASan an overflow aborts */
static int restore_refs(const struct cs_restore_args *a, struct cs_component_ref **refs,
			struct cs_error *err)
{
	*refs = calloc(a->nwriters + a->ncomponents, sizeof(**refs));
	ck_assert_ptr_nonnull(*refs);
	return cs_restore_refs(a, *refs, a->nwriters + a->ncomponents, err);
}

START_TEST(restore_refs_build)
{
	static const char *const writers[] = { "web", "sw1", "sys", NULL };
	static const char *const comps[] = { "sw1", "db/main", "sys", "", "sw1", "db/logs",
					     NULL };
	static const char *const want[][2] = {
		{ "web", "" }, { "sw1", "db/main" }, { "sw1", "db/logs" }, { "sys", "" },
	};
	struct cs_error err = { 0 };
	struct cs_component_ref *refs;
	struct cs_restore_args a;

	restore_args(&a, writers, comps);
	ck_assert_msg(restore_refs(&a, &refs, &err) == 4, "%s", err.message);
	for (int i = 0; i < 4; i++) {
		ck_assert_str_eq(refs[i].writer, want[i][0]);
		ck_assert_str_eq(refs[i].path, want[i][1]);
		ck_assert(!refs[i].failed);
	}
	/* checks only, as snapctl runs them */
	ck_assert_int_eq(cs_restore_refs(&a, NULL, 0, &err), 4);
	/* never more than max, whatever the request */
	memset(refs, 0, 4 * sizeof(*refs));
	ck_assert_int_eq(cs_restore_refs(&a, refs, 2, &err), -E2BIG);
	ck_assert_str_eq(refs[2].writer, "");
	free(refs);
	free(a.writers);
	free(a.components);
}
END_TEST

START_TEST(restore_refs_refusals)
{
	/* every component would be added once per duplicate: 3 x 16 > 3 + 16 */
	static const char *const dup3[] = { "db", "db", "db", NULL };
	static const char *const db16[] = {
		"db", "c0", "db", "c1", "db", "c2", "db", "c3", "db", "c4", "db", "c5",
		"db", "c6", "db", "c7", "db", "c8", "db", "c9", "db", "c10", "db", "c11",
		"db", "c12", "db", "c13", "db", "c14", "db", "c15", NULL
	};
	static const char *const db[] = { "db", NULL }, *const two[] = { "db", "web", NULL };
	static const char *const none[] = { NULL };
	static const char *const stray[] = { "db", "a", "web", "x", "mail", "y", NULL };
	static const char *const twice[] = { "db", "a/b", "web", "", "db", "a/b", NULL };
	static const char *const dup_json = "{\"proto\":1,\"id\":5,\"op\":\"restore_begin\","
		"\"args\":{\"writers\":[\"db\",\"web\",\"db\"],\"components\":["
		"{\"writer\":\"db\",\"path\":\"a\"},{\"writer\":\"db\",\"path\":\"b\"}]}}";
	static const struct {
		const char *const *writers, *const *comps;
		const char *msg;
	} bad[] = {
		{ dup3, db16, "writers[1]: writer `db' is named twice" },
		{ dup3, none, "writers[1]: writer `db' is named twice" },
		{ db, stray, "components[1]: writer `web' is not among the backup's writers" },
		{ two, twice, "components[2]: component `a/b' of writer db is named twice" },
	};
	struct cs_error err = { 0 };
	struct cs_component_ref *refs;
	struct cs_restore_args a;
	struct cs_request req;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		restore_args(&a, bad[i].writers, bad[i].comps);
		ck_assert_int_eq(restore_refs(&a, &refs, &err), -EINVAL);
		ck_assert_str_eq(err.message, bad[i].msg);
		ck_assert_int_eq(cs_restore_refs(&a, NULL, 0, &err), -EINVAL);
		free(refs);
		free(a.writers);
		free(a.components);
	}
	/* as a client sends it */
	ck_assert_int_eq(decode_req(dup_json, &req, &err), 0);
	ck_assert_int_eq(restore_refs(req.args, &refs, &err), -EINVAL);
	ck_assert_str_eq(err.message, "writers[2]: writer `db' is named twice");
	free(refs);
	cs_request_free(&req);
}
END_TEST

START_TEST(restore_refs_limits)
{
	static const char *const db[] = { "db", NULL }, *const none[] = { NULL };
	const char *many[2 * (CS_MAX_COMPONENTS + 1) + 1];
	char names[CS_MAX_COMPONENTS + 1][8];
	struct cs_error err = { 0 };
	struct cs_component_ref *refs;
	struct cs_restore_args a;

	for (int i = 0; i <= CS_MAX_COMPONENTS; i++) {
		snprintf(names[i], sizeof(names[i]), "c%d", i);
		many[2 * i] = "db";
		many[2 * i + 1] = names[i];
	}
	many[2 * (CS_MAX_COMPONENTS + 1)] = NULL;
	restore_args(&a, db, many);
	ck_assert_int_eq(restore_refs(&a, &refs, &err), -EINVAL);
	ck_assert_str_eq(err.message, "writer db: more than 64 components");
	free(refs);
	/* one fewer is what a writer may declare */
	a.ncomponents--;
	ck_assert_int_eq(restore_refs(&a, &refs, &err), CS_MAX_COMPONENTS);
	free(refs);
	free(a.writers);
	free(a.components);

	restore_args(&a, db, none);
	memset(a.writers[0].spec, 'w', CS_NAME_MAX + 1);
	ck_assert_int_eq(restore_refs(&a, &refs, &err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err.message, "is longer than 255 characters"));
	free(refs);
	a.writers[0].spec[0] = '\0';
	ck_assert_int_eq(restore_refs(&a, &refs, &err), -EINVAL);
	ck_assert_str_eq(err.message, "writers[0]: empty writer name");
	free(refs);
	free(a.writers);
	free(a.components);
}
END_TEST

/* A newer daemon may add keys to its replies: an older client reads on. */
START_TEST(replies_tolerate_new_keys)
{
	static const char ver[] =
		"{\"proto\":1,\"id\":3,\"ok\":true,\"trace\":\"abc\",\"result\":"
		"{\"daemon_version\":\"9.9\",\"proto_version\":1,\"features\":[\"x\"]}}";
	static const char list[] =
		"{\"proto\":1,\"id\":4,\"ok\":true,\"result\":{\"sets\":[{\"id\":7,"
		"\"state\":\"taken\",\"tier\":{\"a\":1},\"volumes\":[{\"origin\":\"/dev/vda\","
		"\"major\":254,\"minor\":0,\"sectors\":2048,\"queue\":3}]}],\"more\":false}}";
	static const char fail[] =
		"{\"proto\":1,\"id\":5,\"ok\":false,\"error\":{\"code\":\"EBUSY\","
		"\"message\":\"busy\",\"retry_ms\":100},\"hint\":1}";
	struct cs_set_list_result o = { 0 };
	struct cs_version v = { 0 };
	struct cs_error err = { 0 };
	uint32_t id;
	bool remote;

	ck_assert_msg(cs_decode_reply(ver, strlen(ver), CS_OP_VERSION, &id, &v, &remote,
				      &err) == 0, "%s", err.message);
	ck_assert_str_eq(v.daemon_version, "9.9");
	ck_assert_uint_eq(v.proto_version, 1);
	ck_assert_msg(cs_decode_reply(list, strlen(list), CS_OP_SET_LIST, &id, &o, &remote,
				      &err) == 0, "%s", err.message);
	ck_assert_uint_eq(o.nsets, 1);
	ck_assert_uint_eq(o.sets[0].id, 7);
	ck_assert_uint_eq(o.sets[0].volumes[0].sectors, 2048);
	cs_schema_free(cs_ops[CS_OP_SET_LIST].result, &o);
	ck_assert_int_eq(cs_decode_reply(fail, strlen(fail), CS_OP_VERSION, &id, &v, &remote,
					 &err), -EBUSY);
	ck_assert(remote);
	ck_assert_str_eq(err.message, "busy");
}
END_TEST

/* Tolerance stops at unknown keys: types, limits and repeats still count. */
START_TEST(replies_still_checked)
{
	static const char *const bad[] = {
		"{\"proto\":1,\"id\":3,\"ok\":true,\"result\":{\"daemon_version\":1,"
		"\"proto_version\":1,\"new\":1}}",
		"{\"proto\":1,\"id\":3,\"ok\":true,\"result\":{\"daemon_version\":\"x\","
		"\"proto_version\":1,\"new\":1,\"new\":2}}",
		"{\"proto\":1,\"id\":3,\"ok\":true,\"result\":{\"new\":1}}",
	};
	struct cs_error got;
	struct cs_version v;
	uint32_t id;
	bool remote;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&v, 0, sizeof(v));
		ck_assert_msg(cs_decode_reply(bad[i], strlen(bad[i]), CS_OP_VERSION, &id, &v,
					      &remote, &got) == -EPROTO, "accepted %s", bad[i]);
	}
}
END_TEST

/* Requests, from older or newer clients alike, stay strict. */
START_TEST(requests_stay_strict)
{
	static const struct bad_case c[] = {
		{ "{\"proto\":1,\"id\":1,\"op\":\"set_list\",\"args\":{\"tier\":1}}", EINVAL,
		  "args: unknown field `tier'" },
		{ "{\"proto\":1,\"id\":1,\"op\":\"set_list\",\"args\":{},\"trace\":\"abc\"}",
		  EINVAL, "unknown field `trace'" },
	};

	check_bad(c, sizeof(c) / sizeof(c[0]));
}
END_TEST

/* What we send is always UTF-8, whatever bytes a string or a veto held:
 * each stray byte becomes U+FFFD, and the frame parses (fuzz-writer found
 * a veto with stray bytes that its daemon could not read). */
START_TEST(strings_sent_as_utf8)
{
	struct cs_version v = { .proto_version = 1 }, back = { 0 };
	struct cs_error e = { 0 }, err = { 0 };
	struct cs_buf b = { 0 };
	uint32_t id;
	bool remote;

	strcpy(v.daemon_version, "x\xff\xc3y\xe2\x82\xac");
	ck_assert_int_eq(cs_encode_reply(&b, 3, CS_OP_VERSION, &v, &err), 0);
	ck_assert_msg(cs_decode_reply(b.data + CS_FRAME_HDR, b.len - CS_FRAME_HDR, CS_OP_VERSION,
				      &id, &back, &remote, &err) == 0, "%s", err.message);
	ck_assert_str_eq(back.daemon_version, "x\xef\xbf\xbd\xef\xbf\xbdy\xe2\x82\xac");
	cs_buf_free(&b);
	cs_error_set(&e, EPERM, "veto: table \xe9t\xe9 locked");
	cs_encode_error(&b, 4, &e);
	ck_assert_int_eq(cs_decode_reply(b.data + CS_FRAME_HDR, b.len - CS_FRAME_HDR, CS_OP_VERSION,
					 &id, &back, &remote, &err), -EPERM);
	ck_assert_str_eq(err.message, "veto: table \xef\xbf\xbdt\xef\xbf\xbd locked");
	cs_buf_free(&b);
}
END_TEST

/* A socket writer reads events as replies: a newer daemon's keys are
 * skipped, what it knows is still checked. */
START_TEST(events_tolerate_new_keys)
{
	static const char ev[] =
		"{\"proto\":1,\"id\":9,\"op\":\"writer_event\",\"trace\":\"t\",\"args\":"
		"{\"event\":\"freeze\",\"set_id\":4,\"deadline_ns\":1,\"volumes\":"
		"[\"/dev/vdb\"],\"components\":[{\"writer\":\"db\",\"path\":\"a\","
		"\"weight\":2}],\"timeout_ms\":500}}";
	static const char bad[] =
		"{\"proto\":1,\"id\":9,\"op\":\"writer_event\",\"args\":"
		"{\"event\":\"melt\",\"extra\":1}}";
	struct cs_request req;
	struct cs_writer_event *e;
	struct cs_error err = { 0 };

	ck_assert_int_eq(cs_decode_request(ev, strlen(ev), &req, &err), -EINVAL);
	ck_assert_msg(cs_decode_event(ev, strlen(ev), &req, &err) == 0, "%s", err.message);
	ck_assert_int_eq(req.op, CS_OP_WRITER_EVENT);
	e = req.args;
	ck_assert_int_eq(e->event, CS_EV_FREEZE);
	ck_assert_uint_eq(e->set_id, 4);
	ck_assert_uint_eq(e->timeout_ms, 500);
	ck_assert_str_eq(e->components[0].path, "a");
	cs_request_free(&req);
	ck_assert_int_eq(cs_decode_event(bad, strlen(bad), &req, &err), -EINVAL);
	ck_assert_msg(strstr(err.message, "melt"), "%s", err.message);
}
END_TEST

struct size_case {
	const char *in;
	int ret;
	uint64_t bytes;
};

/*
 * cs_cbt_walk against a stand-in cowsnapd: a child on a socket of its own
 * that answers each cbt_get with the next of pages[], checking that the
 * request asks from where the last answer ended.
 */
struct cbt_page {
	uint32_t chunk_sectors;
	uint64_t first, next, chunks;
	struct cs_cbt_range ranges[4];
	uint32_t nranges;
};

static void cbt_server(int lfd, const struct cbt_page *pages, size_t npages)
{
	struct cs_framer f;
	int fd = accept(lfd, NULL, NULL);

	cs_framer_init(&f);
	for (size_t i = 0; fd >= 0 && i < npages; i++) {
		struct cs_request req = { 0 };
		struct cs_cbt_result r = { 0 };
		struct cs_error err = { 0 };
		struct cs_buf b = { 0 };
		const struct cs_cbt_get_args *a;
		const char *body;
		size_t len;

		if (cs_frame_read(fd, &f, &body, &len, 5000) ||
		    cs_decode_request(body, len, &req, &err) || req.op != CS_OP_CBT_GET)
			_exit(2);
		a = req.args;
		if (a->first != pages[i].first || strcmp(a->volume, "/dev/vdz"))
			_exit(3);
		r.chunk_sectors = pages[i].chunk_sectors;
		r.chunks = pages[i].chunks;
		r.first = pages[i].first;
		r.next = pages[i].next;
		r.nranges = pages[i].nranges;
		r.ranges = (struct cs_cbt_range *)pages[i].ranges;
		snprintf(r.device, sizeof(r.device), "/dev/vdz");
		if (cs_encode_reply(&b, req.id, CS_OP_CBT_GET, &r, &err) ||
		    cs_frame_write(fd, &b, 5000))
			_exit(4);
		cs_buf_free(&b);
		cs_request_free(&req);
	}
	_exit(0);
}

struct walked {
	uint64_t off[16], len[16], chunks[16];
	size_t n;
	int stop_at;		/* return 7 at this call (1-based), 0: never */
};

static int walk_fn(void *ctx, uint64_t off, uint64_t len, uint64_t chunks)
{
	struct walked *w = ctx;

	ck_assert_uint_lt(w->n, 16);
	w->off[w->n] = off;
	w->len[w->n] = len;
	w->chunks[w->n] = chunks;
	return ++w->n == (size_t)w->stop_at ? 7 : 0;
}

/* Walk pages[] with size; cs_cbt_walk's return, the server's exit status. */
static int cbt_walk_run(const struct cbt_page *pages, size_t npages, uint64_t size,
			struct walked *w, uint32_t *cs, struct cs_error *err, int *server)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct cs_cbt_get_args a = { .set_id = 5 };
	struct cs_client *c;
	pid_t pid;
	int lfd, ret, st;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/cs-cbt-walk.%d", getpid());
	unlink(sa.sun_path);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(lfd, 0);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(lfd, 1), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		cbt_server(lfd, pages, npages);
	close(lfd);
	ck_assert_msg(cs_client_open(sa.sun_path, &c, err) == 0, "%s", err->message);
	snprintf(a.volume, sizeof(a.volume), "/dev/vdz");
	ret = cs_cbt_walk(c, &a, size, walk_fn, w, cs, err);
	cs_client_close(c);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	*server = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
	unlink(sa.sun_path);
	return ret;
}

START_TEST(cbt_walk_pages_and_cut)
{
	/* 100 chunks of 64 KiB in three pages; the volume was 97.5 chunks at the take */
	static const struct cbt_page pages[] = {
		{ 128, 0, 40, 100, { { 1, 2 }, { 30, 5 } }, 2 },
		{ 128, 40, 80, 100, { { 50, 1 } }, 1 },
		{ 128, 80, 100, 100, { { 95, 5 } }, 1 },
	};
	struct walked w = { 0 };
	struct cs_error err = { 0 };
	uint32_t cs = 0;
	int server;

	ck_assert_msg(cbt_walk_run(pages, 3, 97 * 65536 + 32768, &w, &cs, &err, &server) == 0,
		      "%s", err.message);
	ck_assert_int_eq(server, 0);
	ck_assert_uint_eq(cs, 128);
	ck_assert_uint_eq(w.n, 4);
	ck_assert_uint_eq(w.off[0], 65536);
	ck_assert_uint_eq(w.len[0], 2 * 65536);
	ck_assert_uint_eq(w.off[1], 30 * 65536);
	ck_assert_uint_eq(w.len[1], 5 * 65536);
	ck_assert_uint_eq(w.off[2], 50 * 65536);
	/* cut at the size: 2.5 of the last range's 5 chunks */
	ck_assert_uint_eq(w.off[3], 95 * 65536);
	ck_assert_uint_eq(w.len[3], 2 * 65536 + 32768);
	ck_assert_uint_eq(w.chunks[3], 5);

	/* a size that ends in the first page: no second request */
	memset(&w, 0, sizeof(w));
	ck_assert_int_eq(cbt_walk_run(pages, 1, 20 * 65536, &w, &cs, &err, &server), 0);
	ck_assert_int_eq(server, 0);
	ck_assert_uint_eq(w.n, 1);

	/* the callback's non-zero return ends the walk, as it is */
	memset(&w, 0, sizeof(w));
	w.stop_at = 2;
	ck_assert_int_eq(cbt_walk_run(pages, 1, 100 * 65536, &w, &cs, &err, &server), 7);
	ck_assert_uint_eq(w.n, 2);
}
END_TEST

START_TEST(cbt_walk_refuses_bad_answers)
{
	/* a page that does not advance: the walk cannot be kept going */
	static const struct cbt_page stuck[] = {
		{ 128, 0, 40, 100, { { 1, 1 } }, 1 },
		{ 128, 40, 40, 100, { { 0 } }, 0 },
	};
	/* the chunk size differs between pages (the map was remade) */
	static const struct cbt_page resized[] = {
		{ 128, 0, 40, 100, { { 1, 1 } }, 1 },
		{ 256, 40, 50, 50, { { 45, 1 } }, 1 },
	};
	struct walked w = { 0 };
	struct cs_error err = { 0 };
	uint32_t cs;
	int server;

	ck_assert_int_eq(cbt_walk_run(stuck, 2, 100 * 65536, &w, &cs, &err, &server), -EPROTO);
	ck_assert_msg(strstr(err.message, "does not advance"), "%s", err.message);
	ck_assert_uint_eq(w.n, 1);
	memset(&w, 0, sizeof(w));
	ck_assert_int_eq(cbt_walk_run(resized, 2, 100 * 65536, &w, &cs, &err, &server), -EAGAIN);
	ck_assert_msg(strstr(err.message, "chunk size of /dev/vdz changed"), "%s", err.message);
	ck_assert_uint_eq(w.n, 1);
}
END_TEST

START_TEST(size_parse)
{
	static const struct size_case c[] = {
		{ "0", 0, 0 }, { "4096", 0, 4096 }, { "4096B", 0, 4096 },
		{ "4k", 0, 4096 }, { "4K", 0, 4096 }, { "4KiB", 0, 4096 }, { "4kb", 0, 4096 },
		{ "64M", 0, 64 << 20 }, { "64MiB", 0, 64 << 20 }, { "64mib", 0, 64 << 20 },
		{ "2G", 0, 2ULL << 30 }, { "2GB", 0, 2ULL << 30 }, { "1T", 0, 1ULL << 40 },
		{ "1P", 0, 1ULL << 50 }, { "15E", 0, 15ULL << 60 },
		{ "18446744073709551615", 0, UINT64_MAX },
		{ "16E", -ERANGE, 0 }, { "18446744073709551616", -ERANGE, 0 },
		{ "99999999999999999999", -ERANGE, 0 }, { "17179869184T", -ERANGE, 0 },
		{ "", -EINVAL, 0 }, { "M", -EINVAL, 0 }, { "-1", -EINVAL, 0 }, { "-1M", -EINVAL, 0 },
		{ "+1", -EINVAL, 0 }, { " 1M", -EINVAL, 0 }, { "1M ", -EINVAL, 0 }, { "1 M", -EINVAL, 0 },
		{ "1.5G", -EINVAL, 0 }, { "12k3", -EINVAL, 0 }, { "1MM", -EINVAL, 0 },
		{ "1iB", -EINVAL, 0 }, { "1MiBB", -EINVAL, 0 }, { "1X", -EINVAL, 0 },
		{ "0x10", -EINVAL, 0 }, { "1e3", -EINVAL, 0 },
	};
	uint64_t v;

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		v = 12345;
		ck_assert_msg(cs_size_parse(c[i].in, &v) == c[i].ret, "`%s': not %d",
			      c[i].in, c[i].ret);
		ck_assert_msg(v == (c[i].ret ? 12345 : c[i].bytes), "`%s': %llu", c[i].in,
			      (unsigned long long)v);
	}
	ck_assert_int_eq(cs_size_parse(NULL, &v), -EINVAL);
}
END_TEST

START_TEST(size_format)
{
	static const struct { uint64_t bytes; const char *out; } c[] = {
		{ 0, "0.0KiB" }, { 512, "0.5KiB" }, { 4096, "4.0KiB" },
		{ 64ULL << 20, "64.0MiB" }, { 1536ULL << 20, "1.5GiB" },
		{ 16ULL << 20, "16.0MiB" }, { 1ULL << 40, "1.0TiB" },
		{ 1023ULL << 10, "1023.0KiB" }, { UINT64_MAX, "16.0EiB" },
	};
	char buf[16];

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		ck_assert_str_eq(cs_size_format(c[i].bytes, buf, sizeof(buf)), c[i].out);
}
END_TEST

static Suite *proto_suite(void)
{
	Suite *s = suite_create("proto");
	TCase *t = tcase_create("roundtrip");

	tcase_add_test(t, version_request_roundtrip);
	tcase_add_test(t, version_reply_roundtrip);
	tcase_add_test(t, set_create_roundtrip);
	tcase_add_test(t, set_names);
	tcase_add_test(t, set_name_on_the_wire);
	tcase_add_test(t, set_list_roundtrip);
	tcase_add_test(t, error_reply_roundtrip);
	tcase_add_test(t, error_unknown_code_keeps_message);
	tcase_add_test(t, errno_names);
	suite_add_tcase(s, t);

	t = tcase_create("framing");
	tcase_add_test(t, truncated_frames);
	tcase_add_test(t, framer_byte_by_byte);
	tcase_add_test(t, oversize);
	suite_add_tcase(s, t);

	t = tcase_create("strict");
	tcase_add_test(t, unknown_fields);
	tcase_add_test(t, wrong_types);
	tcase_add_test(t, missing_and_limits);
	tcase_add_test(t, id_kept_on_errors);
	tcase_add_test(t, duplicate_keys);
	tcase_add_test(t, malformed_replies);
	tcase_add_test(t, encoder_refuses_bad_structs);
	tcase_add_test(t, wmd_valid);
	tcase_add_test(t, wmd_schema_refusals);
	tcase_add_test(t, wmd_semantic_refusals);
	tcase_add_test(t, writer_event_roundtrip);
	tcase_add_test(t, restore_refs_build);
	tcase_add_test(t, restore_refs_refusals);
	tcase_add_test(t, restore_refs_limits);
	suite_add_tcase(s, t);

	t = tcase_create("compat");
	tcase_add_test(t, replies_tolerate_new_keys);
	tcase_add_test(t, replies_still_checked);
	tcase_add_test(t, requests_stay_strict);
	tcase_add_test(t, events_tolerate_new_keys);
	tcase_add_test(t, strings_sent_as_utf8);
	suite_add_tcase(s, t);

	t = tcase_create("size");
	tcase_add_test(t, cbt_walk_pages_and_cut);
	tcase_add_test(t, cbt_walk_refuses_bad_answers);
	tcase_add_test(t, size_parse);
	tcase_add_test(t, size_format);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(proto_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
