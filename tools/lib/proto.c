// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * The schema engine, envelopes and framing of the cowsnap socket protocol
 * (see proto.h).  The message tables themselves live in msgs.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <json.h>
#include <linux/cowsnap.h>

#include "proto.h"

void cs_error_set(struct cs_error *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
}

static const struct {
	int code;
	const char *name;
} errno_names[] = {
	{ EPERM, "EPERM" },		{ ENOENT, "ENOENT" },
	{ EIO, "EIO" },			{ ENXIO, "ENXIO" },
	{ EAGAIN, "EAGAIN" },		{ ENOMEM, "ENOMEM" },
	{ EACCES, "EACCES" },		{ EBUSY, "EBUSY" },
	{ EEXIST, "EEXIST" },		{ ENODEV, "ENODEV" },
	{ EINVAL, "EINVAL" },		{ ENOSPC, "ENOSPC" },
	{ EROFS, "EROFS" },		{ ERANGE, "ERANGE" },
	{ ENOSYS, "ENOSYS" },		{ EPROTO, "EPROTO" },
	{ EMSGSIZE, "EMSGSIZE" },	{ EOPNOTSUPP, "EOPNOTSUPP" },
	{ ETIMEDOUT, "ETIMEDOUT" },	{ ESTALE, "ESTALE" },
	{ ECANCELED, "ECANCELED" },	{ ENOTBLK, "ENOTBLK" },
	{ EINTR, "EINTR" },		{ ENOTDIR, "ENOTDIR" },
};

const char *cs_errno_name(int code)
{
	for (size_t i = 0; i < sizeof(errno_names) / sizeof(errno_names[0]); i++)
		if (errno_names[i].code == code)
			return errno_names[i].name;
	return NULL;
}

int cs_errno_value(const char *name)
{
	for (size_t i = 0; i < sizeof(errno_names) / sizeof(errno_names[0]); i++)
		if (!strcmp(errno_names[i].name, name))
			return errno_names[i].code;
	return 0;
}

/* -------------------------------------------------------------------- */

static const char *jtype_name(json_object *j)
{
	switch (json_object_get_type(j)) {
	case json_type_null: return "null";
	case json_type_boolean: return "a boolean";
	case json_type_double: return "a number with a fraction";
	case json_type_int: return "an integer";
	case json_type_object: return "an object";
	case json_type_array: return "an array";
	case json_type_string: return "a string";
	}
	return "unknown";
}

/* Reads a JSON integer as uint64 in 0..INT64_MAX, refusing what json-c
 * would silently clamp. */
static int get_uint(json_object *j, uint64_t *v)
{
	int64_t s;

	if (!json_object_is_type(j, json_type_int))
		return -1;
	errno = 0;
	s = json_object_get_int64(j);
	if (errno || s < 0)
		return -1;
	/* json-c clamps values above INT64_MAX to INT64_MAX but keeps them
	 * as uint64 internally; refuse anything it cannot represent. */
	if (s == INT64_MAX && json_object_get_uint64(j) != (uint64_t)INT64_MAX)
		return -1;
	*v = (uint64_t)s;
	return 0;
}

static int decode_object(const struct cs_schema *s, json_object *j, void *obj,
			 const char *where, bool strict, struct cs_error *err);

static int decode_field(const struct cs_field *f, json_object *v, char *p,
			const char *path, bool strict, struct cs_error *err)
{
	uint64_t u;

	switch (f->type) {
	case CS_F_BOOL:
		if (!json_object_is_type(v, json_type_boolean))
			goto type;
		*(bool *)(p + f->off) = json_object_get_boolean(v);
		return 0;
	case CS_F_U32:
	case CS_F_U64:
		if (!json_object_is_type(v, json_type_int))
			goto type;
		if (get_uint(v, &u) || u < f->min || u > f->max) {
			cs_error_set(err, EINVAL, "%s: integer out of range %" PRIu64 "..%" PRIu64,
				     path, f->min, f->max);
			return -EINVAL;
		}
		if (f->type == CS_F_U32)
			*(uint32_t *)(p + f->off) = (uint32_t)u;
		else
			*(uint64_t *)(p + f->off) = u;
		return 0;
	case CS_F_STR: {
		const char *s;
		size_t n;

		if (!json_object_is_type(v, json_type_string))
			goto type;
		s = json_object_get_string(v);
		n = (size_t)json_object_get_string_len(v);
		if (n > f->max) {
			cs_error_set(err, EINVAL, "%s: string longer than %" PRIu64 " bytes",
				     path, f->max);
			return -EINVAL;
		}
		if (strlen(s) != n) {
			cs_error_set(err, EINVAL, "%s: string contains a NUL character", path);
			return -EINVAL;
		}
		memcpy(p + f->off, s, n + 1);
		return 0;
	}
	case CS_F_ENUM: {
		const char *s;

		if (!json_object_is_type(v, json_type_string))
			goto type;
		s = json_object_get_string(v);
		for (int i = 0; f->names[i]; i++) {
			if (!strcmp(f->names[i], s)) {
				*(int *)(p + f->off) = i;
				return 0;
			}
		}
		cs_error_set(err, EINVAL, "%s: unknown value `%.64s'", path, s);
		return -EINVAL;
	}
	case CS_F_OBJ:
		return decode_object(f->sub, v, p + f->off, path, strict, err);
	case CS_F_ARR: {
		size_t n, i;
		char *arr;
		char sub[256];
		int ret;

		if (!json_object_is_type(v, json_type_array))
			goto type;
		n = json_object_array_length(v);
		if (n > f->max) {
			cs_error_set(err, EINVAL, "%s: more than %" PRIu64 " elements", path, f->max);
			return -EINVAL;
		}
		if (n < f->min) {
			cs_error_set(err, EINVAL, "%s: fewer than %" PRIu64 " elements", path, f->min);
			return -EINVAL;
		}
		arr = n ? calloc(n, f->sub->size) : NULL;
		if (n && !arr) {
			cs_error_set(err, ENOMEM, "%s: out of memory", path);
			return -ENOMEM;
		}
		*(void **)(p + f->off) = arr;
		*(uint32_t *)(p + f->count_off) = 0;
		for (i = 0; i < n; i++) {
			json_object *e = json_object_array_get_idx(v, i);

			snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
			/* arrays of one scalar field are described by an
			 * element schema with one field named "" */
			if (f->sub->nfields == 1 && !f->sub->fields[0].name[0])
				ret = decode_field(&f->sub->fields[0], e,
						   arr + i * f->sub->size, sub, strict, err);
			else
				ret = decode_object(f->sub, e, arr + i * f->sub->size,
						    sub, strict, err);
			/* count what is filled so that free sees it */
			*(uint32_t *)(p + f->count_off) = (uint32_t)i + 1;
			if (ret)
				return ret;
		}
		return 0;
	}
	}
type:
	cs_error_set(err, EINVAL, "%s: expected %s, got %s", path,
		     f->type == CS_F_BOOL ? "a boolean" :
		     f->type == CS_F_U32 || f->type == CS_F_U64 ? "an integer" :
		     f->type == CS_F_STR || f->type == CS_F_ENUM ? "a string" :
		     f->type == CS_F_ARR ? "an array" : "an object",
		     jtype_name(v));
	return -EINVAL;
}

/* A key of j that s does not name, or NULL. */
static const char *unknown_key(const struct cs_schema *s, json_object *j)
{
	size_t i;

	json_object_object_foreach(j, key, val) {
		(void)val;
		for (i = 0; i < s->nfields; i++)
			if (!strcmp(s->fields[i].name, key))
				break;
		if (i == s->nfields)
			return key;
	}
	return NULL;
}

/*
 * strict: an unknown key is refused, at every depth (requests, documents).
 * Otherwise it is skipped, at every depth too (replies: a newer daemon may
 * add keys); the keys that are known are checked all the same.
 */
static int decode_object(const struct cs_schema *s, json_object *j, void *obj,
			 const char *where, bool strict, struct cs_error *err)
{
	const char *key;
	char path[256];
	size_t i;
	int ret;

	if (!json_object_is_type(j, json_type_object)) {
		cs_error_set(err, EINVAL, "%s: expected an object, got %s", where,
			     jtype_name(j));
		return -EINVAL;
	}
	/* unknown keys first, before any field is filled */
	key = strict ? unknown_key(s, j) : NULL;
	if (key) {
		cs_error_set(err, EINVAL, "%s: unknown field `%.64s'", where, key);
		return -EINVAL;
	}
	for (i = 0; i < s->nfields; i++) {
		const struct cs_field *f = &s->fields[i];
		json_object *v;

		snprintf(path, sizeof(path), "%s.%s", where, f->name);
		if (!json_object_object_get_ex(j, f->name, &v)) {
			if (f->required) {
				cs_error_set(err, EINVAL, "%s: required field missing", path);
				return -EINVAL;
			}
			continue;
		}
		ret = decode_field(f, v, obj, path, strict, err);
		if (ret)
			return ret;
	}
	return 0;
}

int cs_schema_decode(const struct cs_schema *s, json_object *j, void *obj,
		     const char *where, struct cs_error *err)
{
	return decode_object(s, j, obj, where, true, err);
}

int cs_schema_decode_reply(const struct cs_schema *s, json_object *j, void *obj,
			   const char *where, struct cs_error *err)
{
	return decode_object(s, j, obj, where, false, err);
}

static bool field_is_zero(const struct cs_field *f, const char *p)
{
	switch (f->type) {
	case CS_F_BOOL: return !*(const bool *)(p + f->off);
	case CS_F_U32: return !*(const uint32_t *)(p + f->off);
	case CS_F_U64: return !*(const uint64_t *)(p + f->off);
	case CS_F_STR: return !p[f->off];
	case CS_F_ARR: return !*(const uint32_t *)(p + f->count_off);
	case CS_F_ENUM:
	case CS_F_OBJ:
		return false;
	}
	return false;
}

bool cs_set_name_valid(const char *name)
{
	return cowsnap_set_name_valid(name);
}

size_t cs_utf8_char(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (*s < 0x80)
		return 1;
	if (*s >= 0xc2 && *s <= 0xdf)
		n = 2;
	else if (*s >= 0xe0 && *s <= 0xef)
		n = 3;
	else if (*s >= 0xf0 && *s <= 0xf4)
		n = 4;
	else
		return 0;
	if (*s == 0xe0)
		lo = 0xa0;
	else if (*s == 0xed)
		hi = 0x9f;
	else if (*s == 0xf0)
		lo = 0x90;
	else if (*s == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

/*
 * A JSON string of s, each byte that is not part of well-formed UTF-8
 * replaced by U+FFFD: the parsers (ours included) refuse a message that is
 * not UTF-8, so a writer's veto or a file name with stray bytes would
 * otherwise make a frame nobody can read.
 */
static json_object *utf8_string(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t bad = 0, n;
	json_object *j;
	char *fixed, *o;

	for (; *p; p += n ? n : 1)
		if (!(n = cs_utf8_char((const char *)p)))
			bad++;
	if (!bad)
		return json_object_new_string(s);
	fixed = malloc(strlen(s) + 2 * bad + 1);
	if (!fixed)
		return NULL;
	for (p = (const unsigned char *)s, o = fixed; *p; p += n ? n : 1) {
		n = cs_utf8_char((const char *)p);
		if (n) {
			memcpy(o, p, n);
			o += n;
		} else {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
		}
	}
	*o = '\0';
	j = json_object_new_string(fixed);
	free(fixed);
	return j;
}

static int encode_field(const struct cs_field *f, const char *p,
			json_object **out, struct cs_error *err)
{
	uint64_t u;

	*out = NULL;
	switch (f->type) {
	case CS_F_BOOL:
		*out = json_object_new_boolean(*(const bool *)(p + f->off));
		break;
	case CS_F_U32:
	case CS_F_U64:
		u = f->type == CS_F_U32 ? *(const uint32_t *)(p + f->off)
					: *(const uint64_t *)(p + f->off);
		if (u < f->min || u > f->max) {
			cs_error_set(err, EINVAL, "%s: %" PRIu64 " out of range", f->name, u);
			return -EINVAL;
		}
		*out = json_object_new_int64((int64_t)u);
		break;
	case CS_F_STR:
		if (strnlen(p + f->off, f->max + 1) > f->max) {
			cs_error_set(err, EINVAL, "%s: string too long", f->name);
			return -EINVAL;
		}
		*out = utf8_string(p + f->off);
		break;
	case CS_F_ENUM: {
		int v = *(const int *)(p + f->off), n = 0;

		while (f->names[n])
			n++;
		if (v < 0 || v >= n) {
			cs_error_set(err, EINVAL, "%s: value %d has no name", f->name, v);
			return -EINVAL;
		}
		*out = json_object_new_string(f->names[v]);
		break;
	}
	case CS_F_OBJ:
		return cs_schema_encode(f->sub, p + f->off, out, err);
	case CS_F_ARR: {
		uint32_t n = *(const uint32_t *)(p + f->count_off);
		const char *arr = *(char *const *)(p + f->off);
		json_object *a, *e;
		int ret;

		if (n > f->max || n < f->min) {
			cs_error_set(err, EINVAL, "%s: %u elements", f->name, n);
			return -EINVAL;
		}
		a = json_object_new_array_ext((int)n);
		if (!a)
			break;
		for (uint32_t i = 0; i < n; i++) {
			if (f->sub->nfields == 1 && !f->sub->fields[0].name[0])
				ret = encode_field(&f->sub->fields[0], arr + i * f->sub->size,
						   &e, err);
			else
				ret = cs_schema_encode(f->sub, arr + i * f->sub->size, &e, err);
			if (ret) {
				json_object_put(a);
				return ret;
			}
			json_object_array_add(a, e);
		}
		*out = a;
		break;
	}
	}
	if (!*out) {
		cs_error_set(err, ENOMEM, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

int cs_schema_encode(const struct cs_schema *s, const void *obj,
		     json_object **out, struct cs_error *err)
{
	json_object *j = json_object_new_object(), *v;
	int ret;

	if (!j) {
		cs_error_set(err, ENOMEM, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < s->nfields; i++) {
		const struct cs_field *f = &s->fields[i];

		if (!f->required && field_is_zero(f, obj))
			continue;
		ret = encode_field(f, obj, &v, err);
		if (ret) {
			json_object_put(j);
			return ret;
		}
		json_object_object_add(j, f->name, v);
	}
	*out = j;
	return 0;
}

static void free_field(const struct cs_field *f, char *p)
{
	if (f->type == CS_F_OBJ) {
		cs_schema_free(f->sub, p + f->off);
	} else if (f->type == CS_F_ARR) {
		char *arr = *(char **)(p + f->off);
		uint32_t n = *(uint32_t *)(p + f->count_off);

		for (uint32_t i = 0; arr && i < n; i++) {
			if (f->sub->nfields == 1 && !f->sub->fields[0].name[0])
				free_field(&f->sub->fields[0], arr + i * f->sub->size);
			else
				cs_schema_free(f->sub, arr + i * f->sub->size);
		}
		free(arr);
		*(void **)(p + f->off) = NULL;
		*(uint32_t *)(p + f->count_off) = 0;
	}
}

void cs_schema_free(const struct cs_schema *s, void *obj)
{
	if (!obj)
		return;
	for (size_t i = 0; i < s->nfields; i++)
		free_field(&s->fields[i], obj);
}

int cs_list_fields(enum cs_op op, const struct cs_field **items,
		   const struct cs_field **next)
{
	const struct cs_schema *s;

	if (op != CS_OP_SET_LIST && op != CS_OP_VOLUME_LIST && op != CS_OP_WRITER_LIST)
		return -EINVAL;
	s = cs_ops[op].result;
	*items = *next = NULL;
	for (size_t i = 0; i < s->nfields; i++) {
		if (s->fields[i].type == CS_F_ARR)
			*items = &s->fields[i];
		else if (!strcmp(s->fields[i].name, "next") && s->fields[i].type == CS_F_U64)
			*next = &s->fields[i];
	}
	return *items && *next ? 0 : -EINVAL;
}

/* -------------------------------------------------------------------- */

/*
 * json-c accepts more than RFC 8259 even in strict mode (single-quoted
 * strings, for one).  Outside double-quoted strings, only the characters of
 * JSON's own grammar may appear.
 */
static bool plain_json(const char *s, size_t len)
{
	bool in_str = false;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"')
			in_str = true;
		else if (!strchr(" \t\r\n{}[]:,-+.0123456789eEtruefalsn", c))
			return false;
	}
	return true;
}

/*
 * Duplicate keys.  json-c keeps the last value of a key given twice, and
 * says nothing; one reader of such a message would see one thing and the
 * next another, so the protocol refuses it.  The text, which json-c has
 * just parsed, is walked beside the tree: an object holding more keys in
 * the text than in the tree has a key twice.  Its keys are then matched in
 * order against the tree's, which keeps each key where it first appeared:
 * the first text key that is not the tree's next is a repeat.  Objects are
 * only descended into when they have no repeat, so that text and tree
 * agree on every value below.
 */
struct jscan {
	const char *s;
	size_t len, pos;
};

static bool jscan_at(const struct jscan *sc, char c)
{
	return sc->pos < sc->len && sc->s[sc->pos] == c;
}

static void skip_ws(struct jscan *sc)
{
	while (jscan_at(sc, ' ') || jscan_at(sc, '\t') || jscan_at(sc, '\r') ||
	       jscan_at(sc, '\n'))
		sc->pos++;
}

/* From the opening quote of a string to past its closing one. */
static void skip_string(struct jscan *sc)
{
	for (sc->pos++; sc->pos < sc->len && sc->s[sc->pos] != '"'; sc->pos++)
		if (sc->s[sc->pos] == '\\')
			sc->pos++;
	sc->pos++;
}

/* Past one value, containers with all they hold. */
static void skip_value(struct jscan *sc)
{
	int depth = 0;

	skip_ws(sc);
	while (sc->pos < sc->len) {
		char c = sc->s[sc->pos];

		if (c == '"') {
			skip_string(sc);
			if (!depth)
				return;
			continue;
		}
		if (!depth && strchr(",}] \t\r\n", c))
			return;		/* the end of a number or literal */
		sc->pos++;
		if (c == '{' || c == '[')
			depth++;
		else if ((c == '}' || c == ']') && !--depth)
			return;
	}
}

/* Past the next member's key and colon; false at the end of the object.
 * The key's text, quotes included, in *key and *klen. */
static bool next_key(struct jscan *sc, const char **key, size_t *klen)
{
	skip_ws(sc);
	if (jscan_at(sc, ','))
		sc->pos++;
	skip_ws(sc);
	if (!jscan_at(sc, '"'))
		return false;
	*key = sc->s + sc->pos;
	skip_string(sc);
	*klen = sc->s + sc->pos - *key;
	skip_ws(sc);
	sc->pos++;		/* ':' */
	return true;
}

/* Keys of the object whose '{' is at sc->pos. */
static size_t count_keys(struct jscan sc)
{
	const char *key;
	size_t n = 0, klen;

	for (sc.pos++; next_key(&sc, &key, &klen); n++)
		skip_value(&sc);
	return n;
}

/* A key's text, quotes included, as a JSON string (NULL if out of memory). */
static json_object *decode_key(const char *key, size_t klen)
{
	struct json_tokener *tok = json_tokener_new();
	json_object *k;

	if (!tok)
		return NULL;
	k = json_tokener_parse_ex(tok, key, (int)klen);
	json_tokener_free(tok);
	if (k && !json_object_is_type(k, json_type_string)) {
		json_object_put(k);
		k = NULL;
	}
	return k;
}

/* The object at sc->pos has a key twice: name the first repeat. */
static int dup_key(struct jscan *sc, json_object *j, const char *path, struct cs_error *err)
{
	struct json_object_iterator it = json_object_iter_begin(j);
	struct json_object_iterator end = json_object_iter_end(j);
	const char *key, *name = "?";
	json_object *k = NULL;
	size_t klen;

	for (sc->pos++; next_key(sc, &key, &klen); skip_value(sc)) {
		json_object_put(k);
		k = decode_key(key, klen);
		name = k ? json_object_get_string(k) : "?";
		if (!k || json_object_iter_equal(&it, &end) ||
		    strcmp(name, json_object_iter_peek_name(&it)))
			break;
		json_object_iter_next(&it);
	}
	cs_error_set(err, EINVAL, "%s%sfield `%.64s' given twice", path, *path ? ": " : "",
		     name);
	json_object_put(k);
	return -EINVAL;
}

static int scan_value(struct jscan *sc, json_object *j, const char *path, struct cs_error *err);

static int scan_object(struct jscan *sc, json_object *j, const char *path, struct cs_error *err)
{
	struct json_object_iterator it = json_object_iter_begin(j);
	struct json_object_iterator end = json_object_iter_end(j);
	char sub[256];
	const char *key;
	size_t klen;
	int ret;

	if (count_keys(*sc) != (size_t)json_object_object_length(j))
		return dup_key(sc, j, path, err);
	for (sc->pos++; next_key(sc, &key, &klen); json_object_iter_next(&it)) {
		if (json_object_iter_equal(&it, &end))
			break;		/* cannot be: as many keys as in the text */
		snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "",
			 json_object_iter_peek_name(&it));
		ret = scan_value(sc, json_object_iter_peek_value(&it), sub, err);
		if (ret)
			return ret;
	}
	skip_ws(sc);
	sc->pos++;		/* '}' */
	return 0;
}

static int scan_value(struct jscan *sc, json_object *j, const char *path, struct cs_error *err)
{
	char sub[256];
	size_t i = 0;
	int ret;

	skip_ws(sc);
	if (jscan_at(sc, '{') && json_object_is_type(j, json_type_object))
		return scan_object(sc, j, path, err);
	if (!jscan_at(sc, '[') || !json_object_is_type(j, json_type_array)) {
		skip_value(sc);
		return 0;
	}
	for (sc->pos++, skip_ws(sc); !jscan_at(sc, ']') && sc->pos < sc->len; i++) {
		size_t at = sc->pos;

		snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
		ret = scan_value(sc, json_object_array_get_idx(j, i), sub, err);
		if (ret)
			return ret;
		skip_ws(sc);
		if (jscan_at(sc, ','))
			sc->pos++;
		skip_ws(sc);
		if (sc->pos == at)
			break;		/* not JSON: json-c would have said */
	}
	sc->pos++;		/* ']' */
	return 0;
}

int cs_json_parse(const char *body, size_t len, json_object **out,
		  struct cs_error *err)
{
	struct json_tokener *tok;
	json_object *j;
	enum json_tokener_error jerr;
	size_t end;

	*out = NULL;
	if (len > CS_FRAME_MAX) {
		cs_error_set(err, EMSGSIZE, "message of %zu bytes is larger than %d",
			     len, CS_FRAME_MAX);
		return -EMSGSIZE;
	}
	if (memchr(body, '\0', len)) {
		cs_error_set(err, EINVAL, "message contains a NUL byte");
		return -EINVAL;
	}
	if (!plain_json(body, len)) {
		cs_error_set(err, EINVAL, "message is not valid JSON: "
			     "unexpected character outside a string");
		return -EINVAL;
	}
	tok = json_tokener_new_ex(CS_JSON_MAX_DEPTH);
	if (!tok) {
		cs_error_set(err, ENOMEM, "out of memory");
		return -ENOMEM;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	j = json_tokener_parse_ex(tok, body, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!j || jerr != json_tokener_success) {
		json_object_put(j);
		cs_error_set(err, EINVAL, "message is not valid JSON: %s",
			     jerr == json_tokener_continue ? "truncated"
						       : json_tokener_error_desc(jerr));
		return -EINVAL;
	}
	for (; end < len; end++) {
		if (!strchr(" \t\r\n", body[end])) {
			json_object_put(j);
			cs_error_set(err, EINVAL, "trailing data after the JSON object");
			return -EINVAL;
		}
	}
	if (!json_object_is_type(j, json_type_object)) {
		cs_error_set(err, EINVAL, "message is %s, not an object", jtype_name(j));
		json_object_put(j);
		return -EINVAL;
	}
	if (scan_value(&(struct jscan){ .s = body, .len = len }, j, "", err)) {
		json_object_put(j);
		return -EINVAL;
	}
	*out = j;
	return 0;
}

/* -------------------------------------------------------------------- */

void cs_buf_free(struct cs_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

static int buf_append_frame(struct cs_buf *b, json_object *j, struct cs_error *err)
{
	size_t n;
	const char *s = json_object_to_json_string_length(j,
			JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
	uint32_t be;

	if (!s) {
		cs_error_set(err, ENOMEM, "out of memory");
		return -ENOMEM;
	}
	if (n > CS_FRAME_MAX) {
		cs_error_set(err, EMSGSIZE, "message of %zu bytes is larger than %d",
			     n, CS_FRAME_MAX);
		return -EMSGSIZE;
	}
	if (b->cap - b->len < n + CS_FRAME_HDR) {
		size_t cap = b->len + n + CS_FRAME_HDR;
		char *d = realloc(b->data, cap);

		if (!d) {
			cs_error_set(err, ENOMEM, "out of memory");
			return -ENOMEM;
		}
		b->data = d;
		b->cap = cap;
	}
	be = htonl((uint32_t)n);
	memcpy(b->data + b->len, &be, CS_FRAME_HDR);
	memcpy(b->data + b->len + CS_FRAME_HDR, s, n);
	b->len += n + CS_FRAME_HDR;
	return 0;
}

static json_object *envelope(uint32_t id)
{
	json_object *j = json_object_new_object();

	if (!j)
		return NULL;
	json_object_object_add(j, "proto", json_object_new_int(CS_PROTO_VERSION));
	json_object_object_add(j, "id", json_object_new_int64(id));
	return j;
}

int cs_encode_request(struct cs_buf *out, uint32_t id, enum cs_op op,
		      const void *args, struct cs_error *err)
{
	json_object *j, *a;
	int ret;

	if ((unsigned)op >= __CS_OP_COUNT) {
		cs_error_set(err, EINVAL, "no such operation %d", op);
		return -EINVAL;
	}
	ret = cs_schema_encode(cs_ops[op].args, args, &a, err);
	if (ret)
		return ret;
	j = envelope(id);
	if (!j) {
		json_object_put(a);
		cs_error_set(err, ENOMEM, "out of memory");
		return -ENOMEM;
	}
	json_object_object_add(j, "op", json_object_new_string(cs_ops[op].name));
	json_object_object_add(j, "args", a);
	ret = buf_append_frame(out, j, err);
	json_object_put(j);
	return ret;
}

int cs_encode_reply(struct cs_buf *out, uint32_t id, enum cs_op op,
		    const void *result, struct cs_error *err)
{
	json_object *j, *r;
	int ret;

	if ((unsigned)op >= __CS_OP_COUNT) {
		cs_error_set(err, EINVAL, "no such operation %d", op);
		return -EINVAL;
	}
	ret = cs_schema_encode(cs_ops[op].result, result, &r, err);
	if (ret)
		return ret;
	j = envelope(id);
	if (!j) {
		json_object_put(r);
		cs_error_set(err, ENOMEM, "out of memory");
		return -ENOMEM;
	}
	json_object_object_add(j, "ok", json_object_new_boolean(1));
	json_object_object_add(j, "result", r);
	ret = buf_append_frame(out, j, err);
	json_object_put(j);
	return ret;
}

int cs_encode_error(struct cs_buf *out, uint32_t id, const struct cs_error *e)
{
	json_object *j = envelope(id), *o;
	const char *name = cs_errno_name(e->code);
	int ret;

	if (!j)
		return -ENOMEM;
	o = json_object_new_object();
	json_object_object_add(o, "code", json_object_new_string(name ? name : "EIO"));
	json_object_object_add(o, "message", utf8_string(e->message));
	json_object_object_add(j, "ok", json_object_new_boolean(0));
	json_object_object_add(j, "error", o);
	ret = buf_append_frame(out, j, NULL);
	json_object_put(j);
	return ret;
}

/* A request's envelope has fixed keys, checked by hand here since its
 * content (args) depends on op.  A reply's envelope, as its result and
 * error, may carry keys a newer daemon added: those are skipped. */
static const struct cs_field envelope_req_fields[] = {
	{ .name = "proto" }, { .name = "id" }, { .name = "op" }, { .name = "args" },
};

static int check_keys(json_object *j, const struct cs_field *keys, size_t n,
		      struct cs_error *err)
{
	json_object_object_foreach(j, key, val) {
		size_t i;

		(void)val;
		for (i = 0; i < n; i++)
			if (!strcmp(keys[i].name, key))
				break;
		if (i == n) {
			cs_error_set(err, EINVAL, "unknown field `%.64s'", key);
			return -EINVAL;
		}
	}
	return 0;
}

/* proto and id, common to both envelopes */
static int check_head(json_object *j, uint32_t *id, bool *have_id,
		      struct cs_error *err)
{
	json_object *v;
	uint64_t u;

	*have_id = false;
	if (json_object_object_get_ex(j, "id", &v) && !get_uint(v, &u) &&
	    u <= UINT32_MAX) {
		*id = (uint32_t)u;
		*have_id = true;
	}
	if (!json_object_object_get_ex(j, "proto", &v)) {
		cs_error_set(err, EINVAL, "proto: required field missing");
		return -EINVAL;
	}
	if (get_uint(v, &u)) {
		cs_error_set(err, EINVAL, "proto: expected an integer, got %s", jtype_name(v));
		return -EINVAL;
	}
	if (u != CS_PROTO_VERSION) {
		cs_error_set(err, EPROTO,
			     "protocol version %" PRIu64 " is not supported; this side speaks %d",
			     u, CS_PROTO_VERSION);
		return -EPROTO;
	}
	if (!*have_id) {
		cs_error_set(err, EINVAL, "id: required integer 0..%u missing or invalid",
			     UINT32_MAX);
		return -EINVAL;
	}
	return 0;
}

static int decode_request(const char *body, size_t len, bool tolerant,
			  struct cs_request *req, struct cs_error *err)
{
	json_object *j, *v, *args = NULL;
	const char *name;
	int ret, op;

	memset(req, 0, sizeof(*req));
	ret = cs_json_parse(body, len, &j, err);
	if (ret)
		return ret;
	ret = check_head(j, &req->id, &req->have_id, err);
	if (ret)
		goto out;
	ret = tolerant ? 0 : check_keys(j, envelope_req_fields, 4, err);
	if (ret)
		goto out;
	ret = -EINVAL;
	if (!json_object_object_get_ex(j, "op", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		cs_error_set(err, EINVAL, "op: required string missing");
		goto out;
	}
	name = json_object_get_string(v);
	for (op = 0; op < __CS_OP_COUNT; op++)
		if (!strcmp(cs_ops[op].name, name))
			break;
	if (op == __CS_OP_COUNT) {
		cs_error_set(err, EOPNOTSUPP, "unknown operation `%.64s'", name);
		ret = -EOPNOTSUPP;
		goto out;
	}
	req->op = (enum cs_op)op;
	req->args = calloc(1, cs_ops[op].args->size);
	if (!req->args) {
		cs_error_set(err, ENOMEM, "out of memory");
		ret = -ENOMEM;
		goto out;
	}
	if (!json_object_object_get_ex(j, "args", &args)) {
		cs_error_set(err, EINVAL, "args: required field missing");
		goto out;
	}
	ret = tolerant ? cs_schema_decode_reply(cs_ops[op].args, args, req->args, "args", err) :
			 cs_schema_decode(cs_ops[op].args, args, req->args, "args", err);
out:
	if (ret)
		cs_request_free(req);
	json_object_put(j);
	return ret;
}

int cs_decode_request(const char *body, size_t len, struct cs_request *req,
		      struct cs_error *err)
{
	return decode_request(body, len, false, req, err);
}

int cs_decode_event(const char *body, size_t len, struct cs_request *req,
		    struct cs_error *err)
{
	return decode_request(body, len, true, req, err);
}

void cs_request_free(struct cs_request *req)
{
	if (req->args && (unsigned)req->op < __CS_OP_COUNT) {
		cs_schema_free(cs_ops[req->op].args, req->args);
		free(req->args);
	}
	req->args = NULL;
}

int cs_decode_reply(const char *body, size_t len, enum cs_op op, uint32_t *id,
		    void *result, bool *remote, struct cs_error *err)
{
	json_object *j, *v, *e, *c, *m;
	bool have_id;
	int ret;

	*remote = false;
	if ((unsigned)op >= __CS_OP_COUNT) {
		cs_error_set(err, EINVAL, "no such operation %d", op);
		return -EINVAL;
	}
	ret = cs_json_parse(body, len, &j, err);
	if (ret)
		goto proto;
	ret = check_head(j, id, &have_id, err);
	if (ret)
		goto out;
	ret = -EINVAL;
	if (!json_object_object_get_ex(j, "ok", &v) ||
	    !json_object_is_type(v, json_type_boolean)) {
		cs_error_set(err, EINVAL, "ok: required boolean missing");
		goto out;
	}
	if (json_object_get_boolean(v)) {
		if (json_object_object_get_ex(j, "error", &e)) {
			cs_error_set(err, EINVAL, "a successful reply carries an error");
			goto out;
		}
		if (!json_object_object_get_ex(j, "result", &v)) {
			cs_error_set(err, EINVAL, "result: required field missing");
			goto out;
		}
		ret = cs_schema_decode_reply(cs_ops[op].result, v, result, "result", err);
		if (ret)
			cs_schema_free(cs_ops[op].result, result);
		goto out;
	}
	if (json_object_object_get_ex(j, "result", &v) ||
	    !json_object_object_get_ex(j, "error", &e) ||
	    !json_object_is_type(e, json_type_object) ||
	    !json_object_object_get_ex(e, "code", &c) ||
	    !json_object_is_type(c, json_type_string) ||
	    !json_object_object_get_ex(e, "message", &m) ||
	    !json_object_is_type(m, json_type_string)) {
		cs_error_set(err, EINVAL, "malformed error reply");
		goto out;
	}
	ret = cs_errno_value(json_object_get_string(c));
	/* a code this side does not know still carries its message */
	cs_error_set(err, ret ? ret : EIO, "%s", json_object_get_string(m));
	ret = -err->code;
	*remote = true;
out:
	json_object_put(j);
proto:
	if (ret && !*remote) {
		char msg[CS_ERRMSG_MAX];

		snprintf(msg, sizeof(msg), "%s", err ? err->message : "");
		cs_error_set(err, EPROTO, "malformed reply: %s", msg);
		ret = -EPROTO;
	}
	return ret;
}

/* -------------------------------------------------------------------- */

void cs_framer_init(struct cs_framer *f)
{
	memset(f, 0, sizeof(*f));
}

void cs_framer_free(struct cs_framer *f)
{
	free(f->buf);
	memset(f, 0, sizeof(*f));
}

static void framer_drop_consumed(struct cs_framer *f)
{
	if (!f->consumed)
		return;
	memmove(f->buf, f->buf + f->consumed, f->len - f->consumed);
	f->len -= f->consumed;
	f->consumed = 0;
}

char *cs_framer_space(struct cs_framer *f, size_t want, size_t *room)
{
	framer_drop_consumed(f);
	if (f->cap - f->len < want) {
		size_t cap = f->len + want;
		char *b;

		if (cap < 4096)
			cap = 4096;
		if (cap > CS_FRAME_HDR + CS_FRAME_MAX)
			cap = CS_FRAME_HDR + CS_FRAME_MAX;
		if (cap > f->cap) {
			b = realloc(f->buf, cap);
			if (!b)
				return NULL;
			f->buf = b;
			f->cap = cap;
		}
	}
	*room = f->cap - f->len;
	return f->buf + f->len;
}

void cs_framer_filled(struct cs_framer *f, size_t n)
{
	f->len += n;
}

int cs_framer_next(struct cs_framer *f, const char **body, size_t *len)
{
	uint32_t be, n;

	framer_drop_consumed(f);
	if (f->len < CS_FRAME_HDR)
		return 0;
	memcpy(&be, f->buf, CS_FRAME_HDR);
	n = ntohl(be);
	if (n > CS_FRAME_MAX)
		return -EMSGSIZE;
	if (n < 2)
		return -EINVAL;
	if (f->len - CS_FRAME_HDR < n)
		return 0;
	*body = f->buf + CS_FRAME_HDR;
	*len = n;
	f->consumed = CS_FRAME_HDR + n;
	return 1;
}

void cs_framer_unget(struct cs_framer *f)
{
	/* cs_framer_next() moved the frame to the start of buf */
	f->consumed = 0;
}

/* Bytes still wanted to complete the frame being read. */
static size_t framer_want(const struct cs_framer *f)
{
	uint32_t be, n;

	if (f->len - f->consumed < CS_FRAME_HDR)
		return CS_FRAME_HDR - (f->len - f->consumed);
	memcpy(&be, f->buf + f->consumed, CS_FRAME_HDR);
	n = ntohl(be);
	if (n > CS_FRAME_MAX)
		return 1;
	return CS_FRAME_HDR + n - (f->len - f->consumed);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int wait_fd(int fd, short ev, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = ev };
	int ret, t;

	for (;;) {
		t = -1;
		if (deadline >= 0) {
			int64_t left = deadline - now_ms();

			if (left <= 0)
				return -ETIMEDOUT;
			t = (int)left;
		}
		ret = poll(&p, 1, t);
		if (ret > 0)
			return 0;
		if (ret == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

int cs_frame_write(int fd, const struct cs_buf *b, int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	size_t off = 0;
	ssize_t n;
	int ret;

	while (off < b->len) {
		n = send(fd, b->data + off, b->len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		ret = wait_fd(fd, POLLOUT, deadline);
		if (ret)
			return ret;
	}
	return 0;
}

int cs_frame_read(int fd, struct cs_framer *f, const char **body, size_t *len,
		  int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	size_t room;
	ssize_t n;
	char *p;
	int ret;

	for (;;) {
		ret = cs_framer_next(f, body, len);
		if (ret)
			return ret < 0 ? ret : 0;
		p = cs_framer_space(f, framer_want(f), &room);
		if (!p)
			return -ENOMEM;
		n = recv(fd, p, room, MSG_DONTWAIT);
		if (n > 0) {
			cs_framer_filled(f, (size_t)n);
			continue;
		}
		if (n == 0)
			return f->len ? -EPROTO : -ECONNRESET;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		ret = wait_fd(fd, POLLIN, deadline);
		if (ret)
			return ret;
	}
}
