/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef COWSNAPD_CBT_H
#define COWSNAPD_CBT_H

#include <stdint.h>

#include "proto.h"

struct cowsnapd;
struct cs_nl;

/*
 * Bytes of a tracked volume (sectors long, map granularity chunk_sectors)
 * written since tracking began, from the module's changed-block map.
 */
int cs_cbt_changed_bytes(struct cs_nl *nl, uint32_t major, uint32_t minor,
			 uint64_t sectors, uint32_t chunk_sectors, uint64_t *bytes,
			 struct cs_error *err);

/* The socket operations volume_track / volume_untrack and cbt_get. */
int cs_cbt_track(struct cowsnapd *d, const struct cs_volume_args *a, bool keep,
		 struct cs_volume *r, struct cs_error *err);
int cs_cbt_get(struct cowsnapd *d, const struct cs_cbt_get_args *a,
	       struct cs_cbt_result *r, struct cs_error *err);

#endif
