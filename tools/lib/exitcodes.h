/* SPDX-License-Identifier: LGPL-2.1-or-later OR MIT */
/*
 * The exit codes of cowsnap's command-line tools, snapctl and snapread: one
 * table, so that a script reads a code the same way from either.  0, 1 and 2
 * mean the same in both.  3, 4 and 5 each name a failure of one tool alone:
 * snapctl's when cowsnapd cannot be reached, refuses the user or garbles the
 * exchange (snapread asks cowsnapd only on the way to a copy, and a failure
 * there fails the copy: 1); snapread's when --verify finds a difference,
 * --incremental refuses, or the output is cut short.  So the tools give 3 to
 * 5 different meanings but keep the numbers each always used: new ones would
 * break the scripts that test for them.
 * snapctl(8) and snapread(1) document this table, identically, under EXIT
 * STATUS; tests/unit/test-ctl.c holds them to it.
 */
#ifndef COWSNAP_EXITCODES_H
#define COWSNAP_EXITCODES_H

enum cs_exit {
	CS_EXIT_OK = 0,
	/* snapctl: cowsnapd or the module refused or failed the operation;
	 * snapread: a read or write failed, nothing usable is left */
	CS_EXIT_FAILED = 1,
	CS_EXIT_USAGE = 2,		/* bad command line */

	/* snapctl only */
	CS_EXIT_NO_DAEMON = 3,		/* cowsnapd cannot be reached */
	CS_EXIT_DENIED = 4,		/* cowsnapd refused this user */
	CS_EXIT_PROTO = 5,		/* garbled exchange, version mismatch, timeout */

	/* snapread only */
	CS_EXIT_VERIFY = 3,		/* --verify: OUTPUT differs from what was read */
	CS_EXIT_BASE = 4,		/* --incremental refused: do a full read */
	CS_EXIT_CLOSED = 5,		/* output cut short: a pipe's reader gone, or
					 * the checksum line or JSON summary lost */
};

#endif /* COWSNAP_EXITCODES_H */
