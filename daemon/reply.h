/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef COWSNAPD_REPLY_H
#define COWSNAPD_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* What a page of a list may take of a frame: the rest is the envelope's. */
#define CS_PAGE_BUDGET		(CS_FRAME_MAX - 4096)

/*
 * Cut a list op's whole result (set_list, volume_list, writer_list) to the
 * page after cursor from: its items in cursor order, as many as fit in
 * budget bytes of JSON (at least one), and next set to the cursor of the
 * last one when more remain, 0 when none do.  The items left out are freed.
 */
int cs_reply_page(enum cs_op op, void *result, uint64_t from, size_t budget,
		  struct cs_error *err);

/* The most a reply's envelope (id, ok, the key "result") adds to its result. */
#define CS_REPLY_ENVELOPE	64

/* The bytes a reply carrying result would take in *bytes: -EMSGSIZE, and
 * err says so, when that is more than a frame. */
int cs_reply_fits(enum cs_op op, const void *result, size_t *bytes, struct cs_error *err);

#endif
