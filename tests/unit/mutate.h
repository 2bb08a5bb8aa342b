/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The mutation engine of the fuzz harnesses (fuzz-proto, fuzz-docs): a
 * seeded xorshift generator, and mutations of a seed: bit flips,
 * punctuation, truncation, deleted and duplicated ranges, inserted tokens
 * and splices from another seed.  Header-only: each harness is one program.
 */
#ifndef COWSNAP_TESTS_MUTATE_H
#define COWSNAP_TESTS_MUTATE_H

#include <stdint.h>
#include <string.h>

static uint64_t fz_state = 88172645463325252ULL;

static inline void fz_seed_rng(uint64_t seed)
{
	fz_state = seed | 1;
}

static inline uint64_t fz_rnd(void)
{
	fz_state ^= fz_state << 13;
	fz_state ^= fz_state >> 7;
	fz_state ^= fz_state << 17;
	return fz_state;
}

static inline size_t fz_rndn(size_t n)
{
	return n ? (size_t)(fz_rnd() % n) : 0;
}

struct fz_seed {
	const char *data;
	size_t len;
};

/* What mutations draw from: the seeds, single bytes (NULs may be among
 * them: npunct counts them) and tokens of the input's language. */
struct fz_dict {
	const struct fz_seed *seeds;
	size_t nseeds;
	const char *punct;
	size_t npunct;
	const char *const *tokens;
	size_t ntokens;
};

static inline void fz_insert(char *buf, size_t cap, size_t *len, size_t at, const char *s,
			     size_t k)
{
	if (*len + k > cap)
		return;
	memmove(buf + at + k, buf + at, *len - at);
	memmove(buf + at, s, k);
	*len += k;
}

/* A mutated seed in buf (cap bytes, no seed longer); returns its length. */
static inline size_t fz_mutate(const struct fz_dict *d, char *buf, size_t cap)
{
	const struct fz_seed *s = &d->seeds[fz_rndn(d->nseeds)];
	size_t len = s->len, n = 1 + fz_rndn(8);

	memcpy(buf, s->data, len);
	while (n--) {
		size_t at = fz_rndn(len + 1), k;

		switch (fz_rndn(7)) {
		case 0:		/* bit flip */
			if (len)
				buf[fz_rndn(len)] ^= (char)(1 << fz_rndn(8));
			break;
		case 1:		/* punctuation */
			if (len)
				buf[fz_rndn(len)] = d->punct[fz_rndn(d->npunct)];
			break;
		case 2:		/* truncate */
			len = at;
			break;
		case 3:		/* delete a range */
			k = fz_rndn(len - at + 1);
			memmove(buf + at, buf + at + k, len - at - k);
			len -= k;
			break;
		case 4: {	/* insert a token */
			const char *t = d->tokens[fz_rndn(d->ntokens)];

			fz_insert(buf, cap, &len, at, t, strlen(t));
			break;
		}
		case 5:		/* duplicate a range */
			k = fz_rndn(len - at + 1);
			fz_insert(buf, cap, &len, at, buf + at, k);
			break;
		case 6: {	/* splice from another seed */
			const struct fz_seed *o = &d->seeds[fz_rndn(d->nseeds)];
			size_t from = fz_rndn(o->len + 1);

			k = o->len - from;
			if (at + k > cap)
				break;
			memcpy(buf + at, o->data + from, k);
			len = at + k;
			break;
		}
		}
	}
	return len;
}

#endif
