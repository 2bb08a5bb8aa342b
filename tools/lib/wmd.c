// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Writer Metadata Documents and restore requests: the checks the schema
 * table cannot express.  cowsnapd runs them on every writer_register and
 * restore_begin; a writer may run them before it connects, snapctl before
 * it sends a restore.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <json.h>

#include "proto.h"

static bool name_ok(const char *s)
{
	if (!*s || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' || *s == '-'))
			return false;
	return true;
}

static bool uuid_ok(const char *s)
{
	if (strlen(s) != CS_UUID_LEN)
		return false;
	for (int i = 0; i < CS_UUID_LEN; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		char c = s[i];

		if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
					(c >= 'A' && c <= 'F')))
			return false;
	}
	return true;
}

/* "a/b/c": components that are names, no empty ones */
static bool logical_path_ok(const char *s)
{
	char buf[CS_NAME_MAX + 1], *save, *tok;

	if (!*s)
		return true;
	if (s[0] == '/' || s[strlen(s) - 1] == '/' || strstr(s, "//"))
		return false;
	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, "/", &save); tok; tok = strtok_r(NULL, "/", &save))
		if (!name_ok(tok))
			return false;
	return true;
}

/* absolute, no "." or ".." components, no control characters */
static bool abs_path_ok(const char *s)
{
	const char *p;

	if (s[0] != '/')
		return false;
	for (p = s; *p; p++)
		if ((unsigned char)*p < 0x20)
			return false;
	for (p = s; (p = strchr(p, '/')); p++) {
		if (!strncmp(p, "/./", 3) || !strcmp(p, "/.") || !strncmp(p, "/../", 4) ||
		    !strcmp(p, "/.."))
			return false;
	}
	return true;
}

void cs_component_path(const struct cs_wmd_component *c, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s%s", c->logical_path, c->logical_path[0] ? "/" : "", c->name);
}

int cs_wmd_validate(const struct cs_wmd *w, struct cs_error *err)
{
	char pi[CS_COMPONENT_PATH_MAX + 1], pj[CS_COMPONENT_PATH_MAX + 1];

	if (!name_ok(w->name)) {
		cs_error_set(err, EINVAL, "name: `%.64s' is not a writer name (letters, digits, "
			     "`.', `_', `-')", w->name);
		return -EINVAL;
	}
	if (!uuid_ok(w->class_id)) {
		cs_error_set(err, EINVAL, "class_id: `%.64s' is not a UUID "
			     "(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", w->class_id);
		return -EINVAL;
	}
	for (const char *p = w->instance; *p; p++) {
		if ((unsigned char)*p < 0x20) {
			cs_error_set(err, EINVAL, "instance: control character");
			return -EINVAL;
		}
	}
	if (w->freeze_timeout_ms && w->freeze_timeout_ms < 100) {
		cs_error_set(err, EINVAL, "freeze_timeout_ms: %u is below 100 ms",
			     w->freeze_timeout_ms);
		return -EINVAL;
	}
	if (w->event_timeout_ms && w->event_timeout_ms < 100) {
		cs_error_set(err, EINVAL, "event_timeout_ms: %u is below 100 ms",
			     w->event_timeout_ms);
		return -EINVAL;
	}
	for (uint32_t i = 0; i < w->nbackup_types; i++) {
		for (uint32_t j = 0; j < i; j++) {
			if (w->backup_types[i].type == w->backup_types[j].type) {
				cs_error_set(err, EINVAL, "backup_types[%u]: `%s' given twice", i,
					     cs_backup_type_names[w->backup_types[i].type]);
				return -EINVAL;
			}
		}
	}
	for (uint32_t i = 0; i < w->ncomponents; i++) {
		const struct cs_wmd_component *c = &w->components[i];

		if (!logical_path_ok(c->logical_path)) {
			cs_error_set(err, EINVAL, "components[%u].logical_path: `%.64s' is not "
				     "names separated by `/'", i, c->logical_path);
			return -EINVAL;
		}
		if (!name_ok(c->name)) {
			cs_error_set(err, EINVAL, "components[%u].name: `%.64s' is not a name "
				     "(letters, digits, `.', `_', `-')", i, c->name);
			return -EINVAL;
		}
		cs_component_path(c, pi, sizeof(pi));
		for (uint32_t j = 0; j < i; j++) {
			cs_component_path(&w->components[j], pj, sizeof(pj));
			if (!strcmp(pi, pj)) {
				cs_error_set(err, EINVAL, "components[%u]: `%s' is declared twice",
					     i, pi);
				return -EINVAL;
			}
		}
		for (uint32_t k = 0; k < c->nfiles; k++) {
			const struct cs_wmd_file *f = &c->files[k];

			if (!abs_path_ok(f->path)) {
				cs_error_set(err, EINVAL, "components[%u].files[%u].path: `%.64s' is "
					     "not an absolute path without `.' or `..'", i, k,
					     f->path);
				return -EINVAL;
			}
			if (!f->filespec[0] || strchr(f->filespec, '/')) {
				cs_error_set(err, EINVAL, "components[%u].files[%u].filespec: `%.64s' "
					     "must be a non-empty file name pattern without `/'",
					     i, k, f->filespec);
				return -EINVAL;
			}
		}
	}
	return 0;
}

/* writers[i]: a name that fits a reference, not named before */
static int restore_writer_ok(const struct cs_restore_args *a, uint32_t i, struct cs_error *err)
{
	const char *name = a->writers[i].spec;

	if (!*name) {
		cs_error_set(err, EINVAL, "writers[%u]: empty writer name", i);
		return -EINVAL;
	}
	if (strlen(name) > CS_NAME_MAX) {
		cs_error_set(err, EINVAL, "writers[%u]: `%.64s...' is longer than %d characters, "
			     "not a writer name", i, name, CS_NAME_MAX);
		return -EINVAL;
	}
	for (uint32_t j = 0; j < i; j++) {
		if (!strcmp(a->writers[j].spec, name)) {
			cs_error_set(err, EINVAL, "writers[%u]: writer `%s' is named twice", i,
				     name);
			return -EINVAL;
		}
	}
	return 0;
}

/* components[k]: of one of the writers */
static int restore_component_ok(const struct cs_restore_args *a, uint32_t k,
				struct cs_error *err)
{
	const char *writer = a->components[k].writer;

	for (uint32_t i = 0; i < a->nwriters; i++)
		if (!strcmp(a->writers[i].spec, writer))
			return 0;
	cs_error_set(err, EINVAL, "components[%u]: writer `%s' is not among the backup's writers",
		     k, writer);
	return -EINVAL;
}

/* Appends one reference when there is room; counts it in any case. */
static int restore_add_ref(struct cs_component_ref *refs, uint32_t max, uint32_t *n,
			   const char *writer, const char *path, struct cs_error *err)
{
	if (refs) {
		if (*n >= max) {
			cs_error_set(err, E2BIG, "more than %u component references", max);
			return -E2BIG;
		}
		memset(&refs[*n], 0, sizeof(refs[*n]));
		snprintf(refs[*n].writer, sizeof(refs[*n].writer), "%.*s", CS_NAME_MAX, writer);
		snprintf(refs[*n].path, sizeof(refs[*n].path), "%.*s", CS_COMPONENT_PATH_MAX, path);
	}
	(*n)++;
	return 0;
}

/* writers[i]'s references: its components, each named once, or the writer alone */
static int restore_writer_refs(const struct cs_restore_args *a, uint32_t i,
			       struct cs_component_ref *refs, uint32_t max, uint32_t *n,
			       struct cs_error *err)
{
	const char *name = a->writers[i].spec;
	uint32_t mine[CS_MAX_COMPONENTS], nmine = 0;
	int ret;

	for (uint32_t k = 0; k < a->ncomponents; k++) {
		const char *path = a->components[k].path;

		if (strcmp(a->components[k].writer, name))
			continue;
		for (uint32_t j = 0; j < nmine; j++) {
			if (!strcmp(a->components[mine[j]].path, path)) {
				cs_error_set(err, EINVAL, "components[%u]: component `%s' of "
					     "writer %s is named twice", k, path, name);
				return -EINVAL;
			}
		}
		if (nmine == CS_MAX_COMPONENTS) {
			cs_error_set(err, EINVAL, "writer %s: more than %d components", name,
				     CS_MAX_COMPONENTS);
			return -EINVAL;
		}
		mine[nmine++] = k;
	}
	if (!nmine)
		return restore_add_ref(refs, max, n, name, "", err);
	for (uint32_t j = 0; j < nmine; j++) {
		ret = restore_add_ref(refs, max, n, name, a->components[mine[j]].path, err);
		if (ret)
			return ret;
	}
	return 0;
}

int cs_restore_refs(const struct cs_restore_args *a, struct cs_component_ref *refs,
		    uint32_t max, struct cs_error *err)
{
	uint32_t n = 0;
	int ret;

	for (uint32_t i = 0; i < a->nwriters; i++) {
		ret = restore_writer_ok(a, i, err);
		if (ret)
			return ret;
	}
	for (uint32_t k = 0; k < a->ncomponents; k++) {
		ret = restore_component_ok(a, k, err);
		if (ret)
			return ret;
	}
	for (uint32_t i = 0; i < a->nwriters; i++) {
		ret = restore_writer_refs(a, i, refs, max, &n, err);
		if (ret)
			return ret;
	}
	return (int)n;
}

int cs_backup_doc_decode(const char *text, size_t len, struct cs_backup_doc *doc,
			 struct cs_error *err)
{
	struct cs_restore_args a;
	json_object *j;
	int ret;

	memset(doc, 0, sizeof(*doc));
	ret = cs_json_parse(text, len, &j, err);
	if (ret)
		return ret;
	ret = cs_schema_decode(&cs_backup_doc_schema, j, doc, "metadata", err);
	json_object_put(j);
	if (!ret) {
		a = (struct cs_restore_args){
			.writers = doc->writers, .nwriters = doc->nwriters,
			.components = doc->components, .ncomponents = doc->ncomponents,
		};
		ret = cs_restore_refs(&a, NULL, 0, err);
		ret = ret < 0 ? ret : 0;
	}
	if (ret)
		cs_schema_free(&cs_backup_doc_schema, doc);
	return ret;
}
