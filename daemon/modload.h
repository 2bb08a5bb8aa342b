/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef COWSNAPD_MODLOAD_H
#define COWSNAPD_MODLOAD_H

#include "proto.h"

/* Load the cowsnap module: the file at path when given (insmod), else the
 * module named "cowsnap" from /lib/modules (modprobe).  Already loaded is
 * success.  On failure err says what is missing and what to do. */
int cs_module_load(const char *path, struct cs_error *err);
/* modprobe name, with options (may be NULL) when it is not loaded yet;
 * built in or loaded is success. */
int cs_module_probe(const char *name, const char *options, struct cs_error *err);

#endif
