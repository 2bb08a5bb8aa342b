// SPDX-License-Identifier: GPL-2.0
/*
 * snapread's checksums: thin wrappers over libxxhash's streaming states, so
 * that the copy, --verify and --incremental share one choice of algorithm.
 */
#include <stdio.h>
#include <string.h>

#include "snapread.h"
#include "sum.h"

int sum_parse(const char *name, enum sum_alg *alg)
{
	if (!strcmp(name, "xxh64"))
		*alg = SUM_XXH64;
	else if (!strcmp(name, "xxh128"))
		*alg = SUM_XXH128;
	else if (!strcmp(name, "none"))
		*alg = SUM_NONE;
	else
		return -1;
	return 0;
}

const char *sum_name(enum sum_alg alg)
{
	switch (alg) {
	case SUM_XXH64: return "xxh64";
	case SUM_XXH128: return "xxh128";
	default: return "none";
	}
}

void sum_init(struct sum *s, enum sum_alg alg)
{
	memset(s, 0, sizeof(*s));
	s->alg = alg;
	if (alg == SUM_XXH64) {
		s->x64 = XXH64_createState();
		if (!s->x64)
			die(CS_EXIT_FAILED, "out of memory");
		XXH64_reset(s->x64, 0);
	} else if (alg == SUM_XXH128) {
		s->x128 = XXH3_createState();
		if (!s->x128)
			die(CS_EXIT_FAILED, "out of memory");
		XXH3_128bits_reset(s->x128);
	}
}

void sum_update(struct sum *s, const void *p, size_t len)
{
	if (s->alg == SUM_XXH64)
		XXH64_update(s->x64, p, len);
	else if (s->alg == SUM_XXH128)
		XXH3_128bits_update(s->x128, p, len);
}

static void hex(const unsigned char *d, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
	out[2 * n] = '\0';
}

void sum_hex(const struct sum *s, char out[SUM_HEX_MAX])
{
	if (s->alg == SUM_XXH64) {
		XXH64_canonical_t c;

		XXH64_canonicalFromHash(&c, XXH64_digest(s->x64));
		hex(c.digest, sizeof(c.digest), out);
	} else if (s->alg == SUM_XXH128) {
		XXH128_canonical_t c;

		XXH128_canonicalFromHash(&c, XXH3_128bits_digest(s->x128));
		hex(c.digest, sizeof(c.digest), out);
	} else {
		out[0] = '\0';
	}
}

void sum_tag(enum sum_alg alg, const char *hex, char *out, size_t size)
{
	if (alg == SUM_NONE)
		out[0] = '\0';
	else
		snprintf(out, size, "%s:%s", sum_name(alg), hex);
}

void sum_free(struct sum *s)
{
	XXH64_freeState(s->x64);
	XXH3_freeState(s->x128);
	s->x64 = NULL;
	s->x128 = NULL;
}
