// SPDX-License-Identifier: GPL-2.0-or-later
#include "snapctl.h"

int cmd_list(struct snapctl *ctl, int argc, char **argv) { return EXIT_USAGE; }
int cmd_create(struct snapctl *ctl, int argc, char **argv) { return EXIT_USAGE; }
int cmd_delete(struct snapctl *ctl, int argc, char **argv) { return EXIT_USAGE; }
int cmd_show(struct snapctl *ctl, int argc, char **argv) { return EXIT_USAGE; }
