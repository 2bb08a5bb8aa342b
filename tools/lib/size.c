// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/* Sizes as people write them (see size.h). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "size.h"

static const char units[] = "KMGTPE";

/* The power of 1024 a unit stands for, 0 for none; -1 if it is no unit. */
static int unit_shift(const char *u)
{
	const char *p;
	int shift = 0;

	if (*u && (p = strchr(units, toupper((unsigned char)*u)))) {
		shift = 10 * (int)(p - units + 1);
		u++;
		if (!strcasecmp(u, "iB"))
			u += 2;
	}
	if (!strcasecmp(u, "B"))
		u++;
	return *u ? -1 : shift;
}

int cs_size_parse(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;
	int shift;

	/* strtoull would skip blanks and take a sign */
	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	shift = unit_shift(end);
	if (shift < 0)
		return -EINVAL;
	if (errno == ERANGE || v > UINT64_MAX >> shift)
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}

const char *cs_size_format(uint64_t bytes, char *buf, size_t size)
{
	double v = (double)bytes / 1024;
	int u = 0;

	while (v >= 1024 && units[u + 1]) {
		v /= 1024;
		u++;
	}
	snprintf(buf, size, "%.1f%ciB", v, units[u]);
	return buf;
}
