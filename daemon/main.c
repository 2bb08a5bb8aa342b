// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cowsnapd: the cowsnap coordinator.  Start-up order: options, the socket
 * and its pid lock (so a second daemon fails before touching the module),
 * the module and its netlink family, then serve.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/cowsnap.h>
#include <systemd/sd-daemon.h>

#include "cowsnap.h"
#include "daemon.h"
#include "filestore.h"
#include "freemap.h"
#include "log.h"
#include "modload.h"
#include "netlink.h"
#include "storage.h"
#include "writers.h"

/*
 * SIGHUP (systemctl reload): writers.d and storage.conf read again, once no
 * session holds the shadow-set lock (server.c waits for that).  Live sets,
 * their storage and registered socket writers are untouched; a storage.conf
 * that does not parse leaves the storage as it was.
 */
void cs_reload(struct cowsnapd *d)
{
	struct cs_error err = { 0 };

	sd_notify(0, "RELOADING=1\nSTATUS=reloading writers.d and storage.conf");
	if (cs_writers_reload(d, &err))
		cs_warn("reload: %s", err.message);
	if (cs_storage_reload(d, &err))
		cs_err("reload: %s; the storage stays as it was", err.message);
	sd_notify(0, "READY=1\nSTATUS=serving");
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: cowsnapd [OPTION]...\n"
"The cowsnap coordinator: talks to the cowsnap kernel module and serves\n"
"requestors and writers on a Unix socket.\n"
"\n"
"  -f, --foreground     stay in the foreground and log to stderr\n"
"                       (default: detach once listening, log to syslog)\n"
"  -s, --socket PATH    listen on PATH (default: $" CS_SOCKET_ENV " or\n"
"                       " CS_DEFAULT_SOCKET "); the pid file\n"
"                       cowsnapd.pid goes in the same directory\n"
"  -m, --module FILE    load the module from FILE (insmod) when the\n"
"                       \"cowsnap\" netlink family is missing (default:\n"
"                       modprobe cowsnap)\n"
"      --no-module      serve without the module: operations that need it\n"
"                       fail (for testing clients and the socket protocol)\n"
"  -c, --config-dir DIR configuration (storage.conf) in DIR (default:\n"
"                       $COWSNAP_CONFIG_DIR or /etc/cowsnap)\n"
"      --default-storage DIR  with no storage configured in storage.conf,\n"
"                       sets get storage files in DIR first (default\n"
"                       " CS_DEFAULT_STORAGE_DIR ", created when missing)\n"
"  -g, --group GROUP    also serve members of GROUP (default: root only)\n"
"      --max-freeze DUR from the first writer's freeze until every writer\n"
"                       is thawed, at most DUR (e.g. 60s, 500ms, 2m;\n"
"                       default 60s): past it the create aborts\n"
"      --idle-timeout DUR close a non-root connection that sends nothing\n"
"                       for DUR and has no session or writer (default\n"
"                       60s; 0: never)\n"
"      --max-session DUR a backup session with writers, or a restore,\n"
"                       holds the shadow-set lock at most DUR (e.g. 8h,\n"
"                       2d; default 24h, at most 30d; 0: never); then\n"
"                       it ends as if its requestor had gone\n"
"  -v, --verbose        log debug messages\n"
"  -V, --version        print the version and exit\n"
"  -h, --help           print this help and exit\n"
"\n"
"Exit status: 0 after a clean shutdown (SIGTERM, SIGINT), 1 when it cannot\n"
"start or fails, 2 on bad usage.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "socket", required_argument, NULL, 's' },
		{ "module", required_argument, NULL, 'm' },
		{ "group", required_argument, NULL, 'g' },
		{ "config-dir", required_argument, NULL, 'c' },
		{ "default-storage", required_argument, NULL, 'D' },
		{ "no-module", no_argument, NULL, 'N' },
		{ "max-freeze", required_argument, NULL, 'F' },
		{ "idle-timeout", required_argument, NULL, 'I' },
		{ "max-session", required_argument, NULL, 'S' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct cowsnapd d = { .listen_fd = -1, .signal_fd = -1, .pid_fd = -1,
			      .idle_timeout_ms = CS_IDLE_TIMEOUT_MS,
			      .max_session_ms = CS_MAX_SESSION_MS };
	struct cs_error err = { 0 };
	bool foreground = false, verbose = false, no_module = false;
	struct group *gr;
	char ver[CS_VERSION_MAX + 1];
	uint32_t proto;
	int c, ret;

	d.socket_path = cs_socket_path();
	d.config_dir = getenv("COWSNAP_CONFIG_DIR");
	if (!d.config_dir || !*d.config_dir)
		d.config_dir = "/etc/cowsnap";
	d.default_storage = CS_DEFAULT_STORAGE_DIR;
	while ((c = getopt_long(argc, argv, "fs:m:g:c:vVh", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			foreground = true;
			break;
		case 's':
			d.socket_path = optarg;
			break;
		case 'm':
			d.module_path = optarg;
			break;
		case 'g':
			gr = getgrnam(optarg);
			if (!gr) {
				fprintf(stderr, "cowsnapd: unknown group `%s'\n", optarg);
				return 2;
			}
			d.peers.have_group = true;
			d.peers.group = gr->gr_gid;
			d.peers.group_name = optarg;
			break;
		case 'c':
			d.config_dir = optarg;
			break;
		case 'D':
			/* room for the names of the files in it */
			if (optarg[0] != '/' || strlen(optarg) > CS_PATH_MAX - 64) {
				fprintf(stderr, "cowsnapd: invalid --default-storage: `%s' (an "
					"absolute path of at most %d bytes)\n", optarg,
					CS_PATH_MAX - 64);
				return 2;
			}
			d.default_storage = optarg;
			break;
		case 'N':
			no_module = true;
			break;
		case 'F':
			if (cs_parse_duration(optarg, &d.max_freeze_ms)) {
				fprintf(stderr, "cowsnapd: invalid duration for --max-freeze: `%s' "
					"(e.g. 60s, 500ms, 2m)\n", optarg);
				return 2;
			}
			break;
		case 'I':
			/* 0 turns it off; cs_parse_duration takes no 0 */
			if (!strcmp(optarg, "0"))
				d.idle_timeout_ms = 0;
			else if (cs_parse_duration(optarg, &d.idle_timeout_ms)) {
				fprintf(stderr, "cowsnapd: invalid duration for --idle-timeout: "
					"`%s' (e.g. 60s, 5m, 0 for never)\n", optarg);
				return 2;
			}
			break;
		case 'S':
			if (!strcmp(optarg, "0"))
				d.max_session_ms = 0;
			else if (cs_parse_duration_max(optarg, CS_MAX_SESSION_CAP_MS,
						       &d.max_session_ms)) {
				fprintf(stderr, "cowsnapd: invalid duration for --max-session: "
					"`%s' (e.g. 8h, 2d, at most 30d; 0 for never)\n", optarg);
				return 2;
			}
			break;
		case 'v':
			verbose = true;
			break;
		case 'V':
			printf("cowsnapd %s\n", COWSNAP_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "cowsnapd: unexpected argument `%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	/*
	 * Whatever umask started us: storage.conf, storage.state and the pid
	 * file are root's, readable, never writable by others (a world-writable
	 * storage.conf would let anyone name the devices the module overwrites).
	 */
	umask(022);
	cs_log_init(verbose);

	if (cs_server_open(&d, &err)) {
		cs_err("%s", err.message);
		return 1;
	}
	if (no_module) {
		cs_info("cowsnapd %s listening on %s without the module", COWSNAP_VERSION,
			d.socket_path);
		goto serve;
	}
	ret = cs_nl_open(&d.nl, &err);
	if (ret == -ENOENT) {
		cs_info("no netlink family \"cowsnap\": loading the module");
		ret = cs_module_load(d.module_path, &err);
		if (!ret)
			ret = cs_nl_open(&d.nl, &err);
	}
	if (ret) {
		cs_err("%s", err.message);
		goto out;
	}
	ret = cs_nl_get_version(d.nl, ver, sizeof(ver), &proto, &err);
	if (ret) {
		cs_err("%s", err.message);
		goto out;
	}
	if (proto != COWSNAP_GENL_VERSION) {
		cs_err("the cowsnap module %s speaks netlink protocol %u, this cowsnapd speaks %d; "
		       "install matching versions", ver, proto, COWSNAP_GENL_VERSION);
		ret = -EPROTO;
		goto out;
	}
	if (cs_nl_events_open(&d.events, &err))
		cs_warn("%s: storage will not grow when sets run low", err.message);
	cs_info("cowsnapd %s, module %s (netlink protocol %u), listening on %s",
		COWSNAP_VERSION, ver, proto, d.socket_path);

serve:
	ret = cs_storage_load(&d, &err);
	if (ret) {
		cs_err("%s", err.message);
		goto out;
	}
	if (cs_writers_load(&d, &err))
		cs_warn("%s", err.message);
	if (d.nl) {
		struct cs_set *sets;
		uint32_t n;

		/* sets that vanished while we were away free their storage */
		if (!cs_nl_set_dump(d.nl, &sets, &n, &err)) {
			cs_storage_reconcile(&d, sets, n);
			/* sets on their own volumes may grow there again */
			cs_freemap_recover(&d, sets, n);
			/* a STORAGE_LOW sent while we were away */
			cs_events_catch_up(&d, sets, n);
			for (uint32_t i = 0; i < n; i++)
				cs_nl_set_free(&sets[i]);
			free(sets);
		} else {
			cs_dbg("no set list from the module: %s", err.message);
		}
	}
	if (!foreground) {
		if (daemon(0, 0)) {
			cs_err("cannot detach: %s", strerror(errno));
			ret = -errno;
			goto out;
		}
		cs_log_to_syslog();
	}
	cs_server_write_pid(&d);
	/* Type=notify: the socket is served from here on */
	sd_notify(0, "READY=1\nSTATUS=serving");
	ret = cs_server_run(&d);
	sd_notify(0, "STOPPING=1");
out:
	cs_storage_stop(&d);
	cs_server_close(&d);
	cs_writers_free(&d);
	cs_nl_events_close(d.events);
	cs_nl_close(d.nl);
	cs_storage_close(&d);
	cs_pool_free(&d.pool);
	cs_owners_free(&d.owners);
	return ret ? 1 : 0;
}
