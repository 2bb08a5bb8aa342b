// SPDX-License-Identifier: GPL-2.0
/* What snapread prints for scripts: see report.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <json.h>

#include "report.h"

static const char replacement[] = "\xef\xbf\xbd";	/* U+FFFD in UTF-8 */

/*
 * The length of the valid UTF-8 sequence that starts at p; 0 if there is
 * none, *bad then the length of the invalid prefix to replace (at least 1).
 * Overlong forms, surrogates and code points above U+10FFFF are invalid.
 * Stops at the terminating NUL, which is never a continuation byte.
 */
static size_t utf8_seq(const unsigned char *p, size_t *bad)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		n = 0;	/* a continuation byte, 0xc0, 0xc1, 0xf5..0xff */
	if (!n) {
		*bad = 1;
		return 0;
	}
	if (p[0] == 0xe0)
		lo = 0xa0;	/* not overlong */
	else if (p[0] == 0xed)
		hi = 0x9f;	/* not a surrogate */
	else if (p[0] == 0xf0)
		lo = 0x90;	/* not overlong */
	else if (p[0] == 0xf4)
		hi = 0x8f;	/* not above U+10FFFF */
	for (i = 1; i < n; i++) {
		if (p[i] < lo || p[i] > hi) {
			*bad = i;
			return 0;
		}
		lo = 0x80;
		hi = 0xbf;
	}
	return n;
}

static bool utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n, bad;

	for (; *p; p += n) {
		n = utf8_seq(p, &bad);
		if (!n)
			return false;
	}
	return true;
}

/* s with each invalid sequence replaced by U+FFFD; NULL without memory. */
static char *utf8_replace(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	char *out = malloc(strlen(s) * (sizeof(replacement) - 1) + 1), *o = out;
	size_t n, bad;

	if (!out)
		return NULL;
	while (*p) {
		n = utf8_seq(p, &bad);
		if (n) {
			memcpy(o, p, n);
			o += n;
			p += n;
		} else {
			memcpy(o, replacement, sizeof(replacement) - 1);
			o += sizeof(replacement) - 1;
			p += bad;
		}
	}
	*o = '\0';
	return out;
}

struct json_object *report_str(const char *s)
{
	struct json_object *j;
	char *r;

	if (!s)
		return NULL;
	if (utf8_valid(s))
		return json_object_new_string(s);
	r = utf8_replace(s);
	j = r ? json_object_new_string(r) : NULL;
	free(r);
	return j;
}

struct json_object *report_u64(uint64_t v)
{
	/* byte counts: far below INT64_MAX, and json-c before 0.14 has no uint64 */
	return json_object_new_int64((int64_t)v);
}

struct json_object *report_fixed(double v, int decimals)
{
	char text[64];

	snprintf(text, sizeof(text), "%.*f", decimals, v);
	return json_object_new_double_s(v, text);
}

int report_printf(FILE *f, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vfprintf(f, fmt, ap);
	va_end(ap);
	if (n < 0 || fflush(f) == EOF)
		return errno ? -errno : -EIO;
	return 0;
}

int report_print(FILE *f, struct json_object *j)
{
	int ret;

	ret = report_printf(f, "%s\n", json_object_to_json_string_ext(j,
			    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(j);
	return ret;
}
