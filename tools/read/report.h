/* SPDX-License-Identifier: GPL-2.0 */
#ifndef SNAPREAD_REPORT_H
#define SNAPREAD_REPORT_H

#include <stdint.h>
#include <stdio.h>

/*
 * What snapread prints for scripts: the --json summary, built with json-c
 * so that every string is escaped, and printed as one object on one line,
 * its keys in the order they were added (json-c keeps it), `/' unescaped.
 *
 * File names are bytes; JSON strings are Unicode.  A name that is not valid
 * UTF-8 shows each invalid sequence (its maximal invalid prefix, as Python's
 * errors="replace" and the WHATWG decoder cut it) as U+FFFD, the
 * replacement character; the files keep the exact names they were given.
 */
struct json_object;

/* A JSON string of s, invalid UTF-8 replaced; NULL (JSON null) for NULL. */
struct json_object *report_str(const char *s);
/* A count, as a JSON integer. */
struct json_object *report_u64(uint64_t v);
/* v as a JSON number with that many decimals ("%.3f"). */
struct json_object *report_fixed(double v, int decimals);

/*
 * Print to f and flush, so that a closed pipe is known here and not lost at
 * exit: 0 or -errno (-EPIPE: the reader exited; SIGPIPE must be ignored).
 * report_print prints j on one line and frees it.
 */
int report_printf(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int report_print(FILE *f, struct json_object *j);

#endif /* SNAPREAD_REPORT_H */
