// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <json.h>

#include "snapctl.h"

static const char version_usage[] = "version";

int cmd_version(struct snapctl *ctl, int argc, char **argv)
{
	struct cs_client *c;
	struct cs_version v = { 0 };
	struct cs_error err = { 0 };
	int ret;

	if (argc == 2 && !strcmp(argv[1], "--help")) {
		printf("Usage: %s %s\n"
		       "Prints three lines: snapctl's version, cowsnapd's with its socket\n"
		       "protocol, the cowsnap module's with its netlink protocol.  With\n"
		       "--json, one object; it has an \"error\" too when cowsnapd cannot reach\n"
		       "the module (exit status 1).\n",
		       ctl->prog, version_usage);
		return CS_EXIT_OK;
	}
	if (argc > 1)
		return usage_error(ctl, version_usage, "unexpected argument `%s'", argv[1]);
	if (!ctl->json)
		printf("snapctl %s\n", COWSNAP_VERSION);
	fflush(stdout);
	ret = connect_daemon(ctl, &c);
	if (ret)
		return ret;
	ret = cs_call_version(c, &v, &err);
	if (ret) {
		ret = report_error(ctl, c, ret, &err);
		cs_client_close(c);
		return ret;
	}
	cs_client_close(c);
	if (ctl->json) {
		struct json_object *j = json_object_new_object();

		json_object_object_add(j, "snapctl_version",
				       json_object_new_string(COWSNAP_VERSION));
		json_object_object_add(j, "daemon_version",
				       json_object_new_string(v.daemon_version));
		json_object_object_add(j, "proto_version",
				       json_object_new_int64(v.proto_version));
		json_object_object_add(j, "module_version",
				       v.module_version[0] ? json_object_new_string(v.module_version)
							   : NULL);
		json_object_object_add(j, "module_proto_version",
				       v.module_version[0] ?
				       json_object_new_int64(v.module_proto_version) : NULL);
		json_object_object_add(j, "module_error", json_object_new_string(v.module_error));
		/* the versions known are worth having: the error goes in
		 * with them, so that stdout still holds one JSON text */
		if (!v.module_version[0]) {
			json_object_object_add(j, "error",
					       error_object(ENODEV, CS_EXIT_FAILED,
							    v.module_error[0] ? v.module_error :
							    "cowsnapd cannot reach the cowsnap "
							    "module"));
			ctl->error_shown = true;
		}
		put_json(j);
		json_object_put(j);
	} else {
		printf("cowsnapd %s (socket protocol %u)\n", v.daemon_version, v.proto_version);
		if (v.module_version[0])
			printf("cowsnap.ko %s (netlink protocol %u)\n", v.module_version,
			       v.module_proto_version);
	}
	if (!v.module_version[0]) {
		fprintf(stderr, "%s: cowsnapd cannot reach the cowsnap module: %s\n"
			"%s: load it (`modprobe cowsnap') or restart cowsnapd, which loads it.\n",
			ctl->prog, v.module_error[0] ? v.module_error : "unknown error",
			ctl->prog);
		return CS_EXIT_FAILED;
	}
	return CS_EXIT_OK;
}
