// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Text from writers and cowsnapd, made safe for the admin's terminal: a
 * writer's veto message or a hook's output must not move the cursor, set the
 * window title or reprogram keys.  --json output needs none of this: json-c
 * escapes control characters.
 */
#include <stdio.h>
#include <string.h>

#include "snapctl.h"

/* Bytes of the UTF-8 character at s, 0 when it is not one or is a C1
 * control (U+0080..U+009F: terminals may take U+009B as CSI). */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (*s < 0x80)
		return *s < 0x20 || *s == 0x7f ? 0 : 1;
	if (*s >= 0xc2 && *s <= 0xdf)
		n = 2;
	else if (*s >= 0xe0 && *s <= 0xef)
		n = 3;
	else if (*s >= 0xf0 && *s <= 0xf4)
		n = 4;
	else
		return 0;
	/* no C1, no overlong forms, no surrogates, nothing above U+10FFFF */
	if (*s == 0xc2 || *s == 0xe0)
		lo = 0xa0;
	else if (*s == 0xf0)
		lo = 0x90;
	else if (*s == 0xed)
		hi = 0x9f;
	else if (*s == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

const char *term_text(const char *s, char *buf, size_t size)
{
	const unsigned char *p;
	size_t o = 0, n, need = 0, room;

	for (p = (const unsigned char *)s; *p; p += n ? n : 1)
		need += (n = utf8_len(p)) ? n : 4;
	/* "..." in the last bytes when it does not fit */
	room = need < size ? size : size - 3;
	for (p = (const unsigned char *)s; *p; p += n ? n : 1) {
		n = utf8_len(p);
		if (o + (n ? n : 4) >= room)
			break;
		if (n)
			memcpy(buf + o, p, n);
		else
			snprintf(buf + o, 5, "\\x%02x", *p);
		o += n ? n : 4;
	}
	snprintf(buf + o, size - o, "%s", *p ? "..." : "");
	return buf;
}
