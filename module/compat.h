/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every difference between the kernels cowsnap supports (Debian's 6.1 and
 * 6.12) lives here, nowhere else.  The rest of the module is written against
 * the 6.12 API; for older kernels this file supplies the new names.  Kbuild
 * force-includes it before every source file.
 */
#ifndef COWSNAP_COMPAT_H
#define COWSNAP_COMPAT_H

/* every message the module prints starts with "cowsnap: " */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/version.h>

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 1, 0)
#error "cowsnap needs Linux 6.1 or newer"
#endif

#endif /* COWSNAP_COMPAT_H */
