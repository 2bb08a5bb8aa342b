// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz-docs: throws mutated documents at the parsers of every input that
 * comes from a file or a peer, other than socket requests (fuzz-proto):
 *
 *   wmd            a writer's Writer Metadata Document (writer_register's
 *                  args: cs_schema_decode with cs_wmd_schema, cs_wmd_validate)
 *   backup-doc     what `snapctl restore --metadata FILE' reads
 *                  (cs_backup_doc_decode)
 *   storage-conf   cowsnapd's storage.conf (cs_pool_conf_parse, cs_conf_split)
 *   storage-state  cowsnapd's storage.state (cs_pool_state_read)
 *   meta           snapread's IMAGE.cowsnap-meta (meta_parse)
 *
 *   fuzz-docs [-t TARGET] [-n COUNT] [-s SEED]     COUNT inputs per target
 *                                                  (all targets without -t)
 *
 * Built with ASan/UBSan like fuzz-proto, and in its manner: valid documents
 * of each kind as seeds, then bit flips, punctuation, truncation, deleted,
 * duplicated and spliced ranges and inserted tokens.  Beyond not crashing,
 * each target checks what its parser promises: every refusal says why, and
 * what is accepted comes back the same when written out and read again
 * (storage.state: the pool's free lists and ranges stay consistent).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json.h>

#include "conf.h"
#include "meta.h"
#include "pool.h"
#include "proto.h"
#include "mutate.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

static void fail(const char *target, const char *what, const char *data, size_t len)
{
	fprintf(stderr, "fuzz-docs: %s: %s; input (%zu bytes):\n%.*s\n", target, what, len,
		(int)len, data);
	abort();
}

/* The input as a FILE, for the line parsers. */
static FILE *open_text(const char *data, size_t len)
{
	FILE *f = fmemopen((void *)data, len ? len : 1, "r");

	if (!f)
		abort();
	if (!len)
		fseek(f, 0, SEEK_END);
	return f;
}

/* ---- wmd ---- */

static char *wmd_text(const struct cs_wmd *w)
{
	struct json_object *j;
	struct cs_error err;
	char *s;

	if (cs_schema_encode(&cs_wmd_schema, w, &j, &err))
		return NULL;
	s = strdup(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
	json_object_put(j);
	return s;
}

static int wmd_decode(const char *data, size_t len, struct cs_wmd *w, struct cs_error *err)
{
	struct json_object *j;
	int ret;

	memset(w, 0, sizeof(*w));
	ret = cs_json_parse(data, len, &j, err);
	if (ret)
		return ret;
	ret = cs_schema_decode(&cs_wmd_schema, j, w, "args", err);
	json_object_put(j);
	if (!ret)
		ret = cs_wmd_validate(w, err);
	if (ret)
		cs_schema_free(&cs_wmd_schema, w);
	return ret;
}

static bool one_wmd(const char *data, size_t len)
{
	struct cs_error err = { 0 };
	struct cs_wmd w, again;
	char *s, *t;

	if (wmd_decode(data, len, &w, &err)) {
		if (!err.message[0] || !err.code)
			fail("wmd", "a refusal without a reason", data, len);
		return false;
	}
	/* what cowsnapd accepted, it encodes (writer_list, set_create's result)
	 * and reads back as it was */
	s = wmd_text(&w);
	if (!s)
		fail("wmd", "an accepted document does not encode", data, len);
	if (wmd_decode(s, strlen(s), &again, &err))
		fail("wmd", err.message, s, strlen(s));
	t = wmd_text(&again);
	if (!t || strcmp(s, t))
		fail("wmd", "not the same document once encoded and decoded", data, len);
	free(s);
	free(t);
	cs_schema_free(&cs_wmd_schema, &w);
	cs_schema_free(&cs_wmd_schema, &again);
	return true;
}

static struct cs_wmd_file seed_files[2] = {
	{ "/srv/db", "*.db", true }, { "/var/log/db", "x", false },
};
static struct cs_wmd_component seed_comps[3] = {
	{ "sales", "orders", true, seed_files, 2 }, { "", "log", false, NULL, 0 },
	{ "a/b/c", "d.e_f-g", true, seed_files + 1, 1 },
};
static struct cs_backup_type_item seed_types[3] = { { 0 }, { 2 }, { 4 } };
static struct cs_wmd seed_wmd[2] = {
	{ .name = "db1", .class_id = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", .usage = 1,
	  .restore_method = 2, .order = 0, .freeze_timeout_ms = 5000, .event_timeout_ms = 100,
	  .backup_types = seed_types, .nbackup_types = 3, .components = seed_comps,
	  .ncomponents = 3 },
	{ .name = "web", .class_id = "AAAAAAAA-bbbb-cccc-dddd-000000000000", .instance = "2",
	  .usage = 3, .restore_method = 0, .order = 2, .backup_types = seed_types,
	  .nbackup_types = 1 },
};

static const char *const wmd_texts[] = {
	/* as tests/unit/test-proto.c's wmd_good */
	"{\"name\":\"db1\",\"class_id\":\"0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9\","
	"\"usage\":\"user-data\",\"restore_method\":\"stop-restore-start\","
	"\"backup_types\":[\"full\",\"log\"],\"order\":\"front-end\","
	"\"freeze_timeout_ms\":5000,\"components\":[{\"logical_path\":\"sales\","
	"\"name\":\"orders\",\"selectable\":true,\"files\":[{\"path\":\"/srv/db\","
	"\"filespec\":\"*.db\",\"recursive\":true}]},{\"name\":\"log\"}]}",
	/* escapes, non-ASCII, the largest numbers */
	" {\"name\":\"n\\u0031\",\"class_id\":\"0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9\","
	"\"instance\":\"caf\xc3\xa9 \\\"x\\\"\",\"usage\":\"other\",\"restore_method\":\"custom\","
	"\"backup_types\":[\"copy\"],\"event_timeout_ms\":86400000,\"components\":"
	"[{\"name\":\"c\",\"files\":[{\"path\":\"/\",\"filespec\":\"\\u00e9*\"}]}]}\n",
};

/* ---- backup-doc ---- */

static char *doc_text(const struct cs_backup_doc *d)
{
	struct json_object *j;
	struct cs_error err;
	char *s;

	if (cs_schema_encode(&cs_backup_doc_schema, d, &j, &err))
		return NULL;
	s = strdup(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY |
						  JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(j);
	return s;
}

static bool one_doc(const char *data, size_t len)
{
	struct cs_error err = { 0 };
	struct cs_backup_doc d, again;
	char *s, *t;

	if (cs_backup_doc_decode(data, len, &d, &err)) {
		if (!err.message[0] || !err.code)
			fail("backup-doc", "a refusal without a reason", data, len);
		if (d.nwriters || d.writers || d.nmetadata || d.ncomponents || d.nvolumes)
			fail("backup-doc", "a refusal left arrays behind", data, len);
		return false;
	}
	s = doc_text(&d);
	if (!s)
		fail("backup-doc", "an accepted document does not encode", data, len);
	if (cs_backup_doc_decode(s, strlen(s), &again, &err))
		fail("backup-doc", err.message, s, strlen(s));
	t = doc_text(&again);
	if (!t || strcmp(s, t))
		fail("backup-doc", "not the same document once written and read", data, len);
	free(s);
	free(t);
	cs_schema_free(&cs_backup_doc_schema, &d);
	cs_schema_free(&cs_backup_doc_schema, &again);
	return true;
}

static struct cs_volume_spec seed_writers[3] = { { "db1" }, { "web" }, { "hook-x" } };
static struct cs_component_ref seed_refs[3] = {
	{ "db1", "sales/orders", false }, { "db1", "log", false }, { "web", "", false },
};
static struct cs_set_volume seed_vols[2] = {
	{ .origin = "/dev/vdb", .major = 254, .minor = 16, .sectors = 2097152,
	  .image = "/dev/cowsnap0", .image_major = 250, .chunks_copied = 12,
	  .cbt_generation = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", .cbt_seq = 3 },
	{ .origin = "/dev/mapper/vg-data", .major = 253, .minor = 1, .sectors = 8,
	  .image = "/dev/cowsnap1", .image_major = 250, .image_minor = 1 },
};
static struct cs_backup_doc seed_doc[2] = {
	{ .set_id = 4, .backup_type = 0, .writers = seed_writers, .nwriters = 3,
	  .metadata = seed_wmd, .nmetadata = 2, .components = seed_refs, .ncomponents = 3,
	  .volumes = seed_vols, .nvolumes = 2 },
	{ .set_id = 9223372036854775807ULL, .backup_type = 4, .volumes = seed_vols,
	  .nvolumes = 1 },
};

static const char *const doc_texts[] = { "{}", "{ \"set_id\": 1, \"writers\": [ ] }\n" };

/* ---- storage-conf ---- */

static int conf_parse(const char *data, size_t len, struct cs_pool_conf *c,
		      struct cs_error *err)
{
	FILE *f = open_text(data, len);
	int ret = cs_pool_conf_parse(f, "storage.conf", c, err);

	fclose(f);
	return ret;
}

static bool one_conf(const char *data, size_t len)
{
	struct cs_error err = { 0 };
	struct cs_pool_conf c, again;
	char line[CS_PATH_MAX + 64];

	if (conf_parse(data, len, &c, &err)) {
		if (strncmp(err.message, "storage.conf", 12) && err.code != ENOMEM)
			fail("storage-conf", "a refusal that does not name the file", data, len);
		if (c.devices || c.ndevices)
			fail("storage-conf", "a refusal left devices behind", data, len);
		return false;
	}
	if (!c.set_sectors || !c.grow_sectors || c.set_sectors % CS_POOL_ALIGN ||
	    c.grow_sectors % CS_POOL_ALIGN)
		fail("storage-conf", "sizes that are not whole MiB", data, len);
	/* each device as `snapctl storage add' writes it reads back the same */
	for (size_t i = 0; i < c.ndevices; i++) {
		if (cs_pool_conf_device_line(c.devices[i], line, sizeof(line), &err))
			fail("storage-conf", err.message, data, len);
		if (conf_parse(line, strlen(line), &again, &err) || again.ndevices != 1 ||
		    strcmp(again.devices[0], c.devices[i]))
			fail("storage-conf", "a device line that does not read back", line,
			     strlen(line));
		cs_pool_conf_free(&again);
	}
	cs_pool_conf_free(&c);
	return true;
}

static const char *const conf_texts[] = {
	"# storage\n\ndevice /dev/vdc\n  device\t/dev/vdd # 2nd\nset-size 64M\n",
	"set-size 1G\ngrow-size 256MiB\ndevice /dev/disk/by-id/wwn-0x5000c500a1b2c3d4-part1\n",
	"device /dev/vdc",
	"grow-size 2048K\r\nset-size 1048576\n",
	"device /dev/vdc\ndevice /dev/sdb\r\n",
	"set-size 17179869184T\n",
};

/* ---- storage-state ---- */

/* Free lists sorted, coalesced and within the device; ranges within it,
 * apart from each other and from the free space, adding up to the rest. */
static const char *pool_problem(const struct cs_pool *p)
{
	for (size_t i = 0; i < p->ndevs; i++) {
		const struct cs_pool_dev *d = &p->devs[i];
		uint64_t free_s = 0, given = 0;

		for (size_t k = 0; k < d->nfree; k++) {
			const struct cs_extent *e = &d->free[k];

			if (!e->len || e->start > d->sectors || e->len > d->sectors - e->start)
				return "a free extent outside its device";
			if (k && d->free[k - 1].start + d->free[k - 1].len >= e->start)
				return "free extents out of order or not coalesced";
			free_s += e->len;
		}
		for (size_t a = 0; a < p->nallocs; a++) {
			const struct cs_alloc *x = &p->allocs[a];

			if (x->major != d->major || x->minor != d->minor)
				continue;
			if (!x->len || x->start > d->sectors || x->len > d->sectors - x->start)
				return "a range outside its device";
			for (size_t k = 0; k < d->nfree; k++)
				if (x->start < d->free[k].start + d->free[k].len &&
				    d->free[k].start < x->start + x->len)
					return "a range overlaps free space";
			given += x->len;
		}
		if (free_s + given != d->sectors)
			return "free space and ranges do not add up to the device";
	}
	return NULL;
}

static bool one_state(const char *data, size_t len)
{
	struct cs_error err = { 0 };
	struct cs_pool p;
	const char *why;
	FILE *f = open_text(data, len);
	int ret;

	cs_pool_init(&p);
	if (cs_pool_add_dev(&p, "/dev/vdc", 254, 32, 64 * 2048, &err) ||
	    cs_pool_add_dev(&p, "/dev/sdb", 8, 16, 1024 * 2048 + 1, &err))
		abort();
	ret = cs_pool_state_read(&p, f, &err);
	fclose(f);
	if (ret && !err.message[0])
		fail("storage-state", "a refusal without a reason", data, len);
	why = pool_problem(&p);
	if (why)
		fail("storage-state", why, data, len);
	while (p.nallocs)
		cs_pool_release(&p, p.allocs[0].set_id);
	for (size_t i = 0; i < p.ndevs; i++)
		if (p.devs[i].nfree != 1 || p.devs[i].free[0].len != p.devs[i].sectors)
			fail("storage-state", "not all free once every set is released", data,
			     len);
	cs_pool_free(&p);
	return !ret;
}

static const char *const state_texts[] = {
	"9 254:32 16384 16384\n",
	"1 254:32 0 2048\n1 254:32 2048 4096\n2 8:16 0 2097152\n3 254:32 6144 2048\n",
	"7 8:16 2095104 2048\n7 254:32 129024 2048\n4 9:9 0 2048\n",
	"5 254:32 131071 1\n",
};

/* ---- meta ---- */

static bool one_meta(const char *data, size_t len)
{
	struct image_meta m, again;
	char why[1024] = "", *text = NULL;
	size_t n = 0;
	FILE *f = open_text(data, len);
	int ret = meta_parse(f, "x.cowsnap-meta", &m, why, sizeof(why));

	fclose(f);
	if (ret) {
		if (!why[0])
			fail("meta", "a refusal without a reason", data, len);
		return false;
	}
	/* written out as snapread writes it, it reads back the same */
	f = open_memstream(&text, &n);
	if (!f || meta_print(f, &m) || fclose(f))
		abort();
	f = open_text(text, n);
	if (meta_parse(f, "x.cowsnap-meta", &again, why, sizeof(why)))
		fail("meta", why, text, n);
	fclose(f);
	if (memcmp(&m, &again, sizeof(m)))
		fail("meta", "not the same metadata once written and read", data, len);
	free(text);
	return true;
}

static const char *const meta_texts[] = {
	"# cowsnap image metadata, written by snapread for --incremental\nformat 1\n"
	"origin /dev/vdb\norigin_dev 254:16\ngeneration 0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9\n"
	"cbt_seq 3\nset_id 7\nchunk_sectors 128\nsize 5\nchecksum xxh64:0123456789abcdef\n"
	"image_size 2560\nimage_ino 131\nimage_mtime_ns 1700000000123456789\ncomplete 1\n",
	"complete 0\nimage_mtime_ns 0\nimage_ino 18446744073709551615\nimage_size 0\n"
	"checksum xxh128:00112233445566778899aabbccddeeff\nsize 18446744073709551615\n"
	"chunk_sectors 4294967295\nset_id 1\ncbt_seq 0\n"
	"generation 0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9\norigin_dev 8:0\n"
	"origin /dev/disk/by-id/a b\nformat 1",
};

/* ---- the mutator ---- */

struct target {
	const char *name;
	bool (*one)(const char *data, size_t len);
	const char *const *texts;
	size_t ntexts;
	const char *punct;
	const char *const *tokens;
	size_t ntokens;
};

static const char json_punct[] = "{}[]\":,\\ 0-1e.ntf\x00\xff\xc3u/\n";
static const char line_punct[] = " \t\n\r#:0123456789-+xMGKTiB/\x00\x7f\xff";
static const char *const json_tokens[] = {
	"null", "true", "1e999", "-1", "18446744073709551616", "\"\\u0000\"", "{}", "[]",
	"\"x\":1", "\"\\ud800\"", "[[[[[[[[[[[[[[[[[[[[", "0.5", "\"name\":\"a\"",
	"\"writers\":[\"db1\",\"db1\"]", "{\"writer\":\"zz\",\"path\":\"\"}",
	"\"logical_path\":\"/x\"", "\"path\":\"/a/../b\"", "\"\\u001b[2J\"", "\"..\"",
};
static const char *const line_tokens[] = {
	"device ", "set-size ", "grow-size ", "\n", "#", "18446744073709551615",
	"18446744073709551616", "4294967295", "4294967296", "-1", "99999999999999999999T",
	"1023K", "1048576", "0", "254:32 ", "8:16 ", " 2048 ", "origin ", "complete ",
	"checksum ", "size ", "format 1\n", "\t", "0x10", "1e3",
};

#define MAX_SEEDS	8
#define CAP		16384

static struct fz_seed seeds[MAX_SEEDS];	/* data malloc'd */
static size_t nseeds;

/* data: malloc'd, NUL-terminated */
static void add_seed(char *data)
{
	if (!data || nseeds == MAX_SEEDS || strlen(data) > CAP) {
		fprintf(stderr, "fuzz-docs: a seed does not fit\n");
		exit(1);
	}
	seeds[nseeds].data = data;
	seeds[nseeds++].len = strlen(data);
}

static void make_seeds(const struct target *t)
{
	nseeds = 0;
	for (size_t i = 0; t->one == one_wmd && i < ARRAY_SIZE(seed_wmd); i++)
		add_seed(wmd_text(&seed_wmd[i]));
	for (size_t i = 0; t->one == one_doc && i < ARRAY_SIZE(seed_doc); i++)
		add_seed(doc_text(&seed_doc[i]));
	for (size_t i = 0; i < t->ntexts; i++)
		add_seed(strdup(t->texts[i]));
	/* every seed but the edge cases is accepted */
	for (size_t i = 0; i < nseeds; i++)
		if (!t->one(seeds[i].data, seeds[i].len) && i < 2)
			fail(t->name, "a seed is refused", seeds[i].data, seeds[i].len);
}

static void free_seeds(void)
{
	for (size_t i = 0; i < nseeds; i++)
		free((char *)seeds[i].data);
	nseeds = 0;
}

/* A mutated seed in buf (CAP bytes); returns its length. */
static size_t mutate(const struct target *t, char *buf)
{
	const struct fz_dict d = {
		seeds, nseeds, t->punct, strlen(t->punct) + 1, t->tokens, t->ntokens,
	};

	return fz_mutate(&d, buf, CAP);
}

#define TARGET(n, fn, texts, p, toks) \
	{ n, fn, texts, ARRAY_SIZE(texts), p, toks, ARRAY_SIZE(toks) }

static const struct target targets[] = {
	TARGET("wmd", one_wmd, wmd_texts, json_punct, json_tokens),
	TARGET("backup-doc", one_doc, doc_texts, json_punct, json_tokens),
	TARGET("storage-conf", one_conf, conf_texts, line_punct, line_tokens),
	TARGET("storage-state", one_state, state_texts, line_punct, line_tokens),
	TARGET("meta", one_meta, meta_texts, line_punct, line_tokens),
};

static void run(const struct target *t, unsigned long count)
{
	static char buf[CAP];
	unsigned long accepted = 0;

	make_seeds(t);
	for (unsigned long i = 0; i < count; i++)
		accepted += t->one(buf, mutate(t, buf));
	free_seeds();
	printf("fuzz-docs: %s: %lu inputs, %lu accepted, no crash\n", t->name, count, accepted);
}

int main(int argc, char **argv)
{
	unsigned long count = 100000;
	const char *only = NULL;
	bool found = false;
	int c;

	while ((c = getopt(argc, argv, "t:n:s:")) != -1) {
		switch (c) {
		case 't':
			only = optarg;
			break;
		case 'n':
			count = strtoul(optarg, NULL, 0);
			break;
		case 's':
			fz_seed_rng(strtoull(optarg, NULL, 0));
			break;
		default:
			fprintf(stderr, "usage: fuzz-docs [-t TARGET] [-n COUNT] [-s SEED]\n");
			return 2;
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(targets); i++) {
		if (only && strcmp(only, targets[i].name))
			continue;
		found = true;
		run(&targets[i], count);
	}
	if (!found) {
		fprintf(stderr, "fuzz-docs: no target `%s' (wmd, backup-doc, storage-conf, "
			"storage-state, meta)\n", only);
		return 2;
	}
	return 0;
}
