// SPDX-License-Identifier: GPL-2.0-or-later
/* Loading kernel modules with libkmod: the provider, and zram for RAM
 * storage (ramstore.c); nothing else here. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <libkmod.h>

#include "log.h"
#include "modload.h"

#define MODULE_NAME "cowsnap"

static void kmod_log(void *data, int priority, const char *file, int line,
		     const char *fn, const char *format, va_list args)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), format, args);
	msg[strcspn(msg, "\n")] = '\0';
	cs_dbg("libkmod: %s", msg);
}

int cs_module_load(const char *path, struct cs_error *err)
{
	struct kmod_ctx *ctx;
	struct kmod_module *mod = NULL;
	int ret;

	ctx = kmod_new(NULL, NULL);
	if (!ctx) {
		cs_error_set(err, ENOMEM,
			     "cannot load kernel module " MODULE_NAME ": libkmod failed to start");
		return -ENOMEM;
	}
	kmod_set_log_fn(ctx, kmod_log, NULL);
	if (path) {
		ret = kmod_module_new_from_path(ctx, path, &mod);
		if (!ret)
			ret = kmod_module_insert_module(mod, 0, NULL);
		if (ret == -EEXIST)
			ret = 0;
		if (ret)
			cs_error_set(err, -ret,
				     "cannot load kernel module " MODULE_NAME " from %s: %s; "
				     "build it (make) and pass its path with --module FILE",
				     path, strerror(-ret));
	} else {
		ret = kmod_module_new_from_name(ctx, MODULE_NAME, &mod);
		if (!ret)
			ret = kmod_module_probe_insert_module(mod, 0, NULL, NULL, NULL, NULL);
		if (ret > 0)	/* blacklisted or otherwise refused by policy */
			ret = -EPERM;
		if (ret)
			cs_error_set(err, -ret,
				     "cannot load kernel module " MODULE_NAME ": %s; "
				     "install it (make install / dkms) or pass --module FILE",
				     ret == -ENOENT ? "not found in /lib/modules" : strerror(-ret));
	}
	if (!ret)
		cs_info("loaded kernel module %s", path ? path : MODULE_NAME);
	kmod_module_unref(mod);
	kmod_unref(ctx);
	return ret;
}

int cs_module_probe(const char *name, const char *options, struct cs_error *err)
{
	struct kmod_ctx *ctx;
	struct kmod_module *mod = NULL;
	int ret;

	ctx = kmod_new(NULL, NULL);
	if (!ctx) {
		cs_error_set(err, ENOMEM, "cannot load kernel module %s: libkmod failed to start",
			     name);
		return -ENOMEM;
	}
	kmod_set_log_fn(ctx, kmod_log, NULL);
	ret = kmod_module_new_from_name(ctx, name, &mod);
	if (!ret)
		ret = kmod_module_probe_insert_module(mod, 0, options, NULL, NULL, NULL);
	if (ret > 0)	/* blacklisted or otherwise refused by policy */
		ret = -EPERM;
	if (ret)
		cs_error_set(err, -ret, "cannot load kernel module %s: %s", name,
			     ret == -ENOENT ? "not found in /lib/modules" : strerror(-ret));
	else
		cs_info("loaded kernel module %s", name);
	kmod_module_unref(mod);
	kmod_unref(ctx);
	return ret;
}
