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

/* Bytes of the UTF-8 character at s, 0 when it is not one or is a control
 * character: C0, DEL, or C1 (U+0080..U+009F: terminals may take U+009B as
 * CSI). */
static size_t utf8_len(const unsigned char *s)
{
	if (*s < 0x80)
		return *s < 0x20 || *s == 0x7f ? 0 : 1;
	if (s[0] == 0xc2 && s[1] < 0xa0)
		return 0;
	return cs_utf8_char((const char *)s);
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
