/* SPDX-License-Identifier: LGPL-2.1-or-later OR MIT */
/*
 * Sizes as people write them, for every tool and for storage.conf.
 *
 * A size is a whole number of bytes in decimal, optionally followed by a
 * unit: K, M, G, T, P or E, each a power of 1024 (K = KiB = 1024), in
 * either case, optionally followed by "iB" or "B" ("64M", "64MiB", "64mb"
 * are one size).  A bare trailing "B" means bytes ("4096B").  Nothing else
 * is accepted: no sign, no blanks, no fractions ("1.5G": write 1536M), no
 * other base.
 */
#ifndef COWSNAP_SIZE_H
#define COWSNAP_SIZE_H

#include <stddef.h>
#include <stdint.h>

/* For messages that quote a refused size back. */
#define CS_SIZE_SYNTAX	"a whole number with an optional K, M, G or T, e.g. 64K or 1536M"

/* 0 and the size in bytes in *out; -EINVAL when s is not a size, -ERANGE
 * when it is larger than 2^64-1 bytes.  *out is left alone on error. */
int cs_size_parse(const char *s, uint64_t *out);

/* "64.0MiB": one decimal, the largest unit from KiB up that keeps the
 * number below 1024 (sizes under 1 KiB read "0.5KiB").  Returns buf. */
const char *cs_size_format(uint64_t bytes, char *buf, size_t size);

#endif
