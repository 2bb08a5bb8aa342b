/* SPDX-License-Identifier: GPL-2.0 */
#ifndef COWSNAPD_CONF_H
#define COWSNAPD_CONF_H

#include "proto.h"

/*
 * Split one line of a "key value" configuration file in place: comments
 * from '#' on and the newline are cut.  Returns 1 with *key and *val set,
 * 0 for a blank or comment line, -EINVAL (with err naming file:line) when
 * the key has no value or more than one.
 */
int cs_conf_split(char *line, const char *file, unsigned int lineno,
		  char **key, char **val, struct cs_error *err);

#endif /* COWSNAPD_CONF_H */
