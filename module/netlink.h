/* SPDX-License-Identifier: GPL-2.0 */
#ifndef COWSNAP_NETLINK_H
#define COWSNAP_NETLINK_H

#include <linux/cowsnap.h>

int cs_netlink_init(void);
void cs_netlink_exit(void);

#endif /* COWSNAP_NETLINK_H */
