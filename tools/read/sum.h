/* SPDX-License-Identifier: GPL-2.0 */
#ifndef SNAPREAD_SUM_H
#define SNAPREAD_SUM_H

#include <stddef.h>
#include <xxhash.h>

/*
 * The checksum of an image's content, streamed in order: xxHash's XXH64 (the
 * default, what `xxhsum' prints) or XXH3-128 (what `xxh128sum' prints).
 */
enum sum_alg { SUM_NONE, SUM_XXH64, SUM_XXH128 };

#define SUM_HEX_MAX	33	/* 32 hex digits and the NUL */
#define SUM_TAG_MAX	(sizeof("xxh128:") + SUM_HEX_MAX)

struct sum {
	enum sum_alg alg;
	XXH64_state_t *x64;
	XXH3_state_t *x128;
};

/* "xxh64", "xxh128" or "none"; -1 for anything else. */
int sum_parse(const char *name, enum sum_alg *alg);
/* "xxh64", "xxh128" ("none" for SUM_NONE). */
const char *sum_name(enum sum_alg alg);
/* A fresh state for alg; exits when there is no memory for it. */
void sum_init(struct sum *s, enum sum_alg alg);
void sum_update(struct sum *s, const void *p, size_t len);
/* The digest so far in canonical (big-endian) hex, as xxhsum prints it. */
void sum_hex(const struct sum *s, char out[SUM_HEX_MAX]);
/* "ALG:HEX" as the JSON summary and IMAGE.cowsnap-meta name a checksum;
 * "" for SUM_NONE. */
void sum_tag(enum sum_alg alg, const char *hex, char *out, size_t size);
void sum_free(struct sum *s);

#endif /* SNAPREAD_SUM_H */
