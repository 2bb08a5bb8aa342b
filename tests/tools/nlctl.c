// SPDX-License-Identifier: GPL-2.0
/*
 * nlctl: a direct netlink client of the cowsnap module for the guest tests.
 * It speaks the whole protocol of uapi/linux/cowsnap.h without the daemon,
 * so the module can be tested on its own.  Not installed; not for admins
 * (use snapctl).  See usage() for the commands.
 *
 * Output is one line per object, "kind id key=value ...", stable so tests
 * can grep and awk it.  On a kernel error it prints
 * "nlctl: <COMMAND>: <strerror>[: extack]" and exits with the errno value
 * (EPERM = 1, ENOENT = 2, EBUSY = 16, EOPNOTSUPP = 95, ...).
 *
 * A set belongs to the netlink socket that created it: a one-shot
 * "nlctl set-new" aborts its set as it exits.  "nlctl session" keeps one
 * socket open and reads commands from standard input, one per line,
 * answering each with its output and a line "done <exit status>".
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

#include <linux/cowsnap.h>

struct ctx {
	struct nl_sock *sk;
	int family;
	int err;
	char extack[256];
	struct nlattr *tb[COWSNAP_A_MAX + 1];
	int (*on_reply)(struct ctx *c);
	int replies;
	/* filter of volume-get: print only this device when dev_set */
	int dev_set;
	unsigned int dev_major, dev_minor;
};

static const char *const cmd_names[] = {
	[COWSNAP_CMD_GET_VERSION] = "GET_VERSION",
	[COWSNAP_CMD_SET_NEW] = "SET_NEW",
	[COWSNAP_CMD_SET_ADD_VOLUME] = "SET_ADD_VOLUME",
	[COWSNAP_CMD_SET_ADD_STORAGE] = "SET_ADD_STORAGE",
	[COWSNAP_CMD_SET_TAKE] = "SET_TAKE",
	[COWSNAP_CMD_SET_DESTROY] = "SET_DESTROY",
	[COWSNAP_CMD_SET_GET] = "SET_GET",
	[COWSNAP_CMD_VOLUME_GET] = "VOLUME_GET",
	[COWSNAP_CMD_TRACK] = "TRACK",
	[COWSNAP_CMD_UNTRACK] = "UNTRACK",
	[COWSNAP_CMD_CBT_GET] = "CBT_GET",
	[COWSNAP_CMD_SET_ADD_FREE] = "SET_ADD_FREE",
	[COWSNAP_CMD_SET_GET_ZERO] = "SET_GET_ZERO",
	[COWSNAP_CMD_EVENT_SET_TAKEN] = "SET_TAKEN",
	[COWSNAP_CMD_EVENT_SET_DESTROYED] = "SET_DESTROYED",
	[COWSNAP_CMD_EVENT_STORAGE_LOW] = "STORAGE_LOW",
	[COWSNAP_CMD_EVENT_SET_INVALID] = "SET_INVALID",
	[COWSNAP_CMD_EVENT_VOLUME_GONE] = "VOLUME_GONE",
};

static const char *cmd_name(unsigned int cmd)
{
	if (cmd < sizeof(cmd_names) / sizeof(cmd_names[0]) && cmd_names[cmd])
		return cmd_names[cmd];
	return "UNKNOWN";
}

static const char *state_name(uint32_t s)
{
	switch (s) {
	case COWSNAP_SET_DEFINING: return "DEFINING";
	case COWSNAP_SET_TAKEN: return "TAKEN";
	case COWSNAP_SET_INVALID: return "INVALID";
	}
	return "UNKNOWN";
}

static const char *cause_name(uint32_t c)
{
	switch (c) {
	case COWSNAP_INVALID_NONE: return "NONE";
	case COWSNAP_INVALID_STORAGE_FULL: return "STORAGE_FULL";
	case COWSNAP_INVALID_STORAGE_IO: return "STORAGE_IO";
	case COWSNAP_INVALID_ORIGIN_IO: return "ORIGIN_IO";
	case COWSNAP_INVALID_NOMEM: return "NOMEM";
	case COWSNAP_INVALID_VOLUME_GONE: return "VOLUME_GONE";
	}
	return "UNKNOWN";
}

/* ---- argument parsing ---- */

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	*v = strtoull(s, &end, 0);
	return (errno || *end) ? -1 : 0;
}

static uint64_t arg_u64(const char *what, const char *s)
{
	uint64_t v;

	if (parse_u64(s, &v)) {
		fprintf(stderr, "nlctl: invalid %s: `%s'\n", what, s ? s : "");
		exit(2);
	}
	return v;
}

static uint32_t arg_u32(const char *what, const char *s)
{
	uint64_t v = arg_u64(what, s);

	if (v > UINT32_MAX) {
		fprintf(stderr, "nlctl: invalid %s: `%s'\n", what, s);
		exit(2);
	}
	return (uint32_t)v;
}

/* A DEV argument: a block device path, or MAJOR:MINOR. */
static void arg_dev(const char *s, uint32_t *maj, uint32_t *min)
{
	struct stat st;
	unsigned int a, b;
	char tail;

	if (s && sscanf(s, "%u:%u%c", &a, &b, &tail) == 2) {
		*maj = a;
		*min = b;
		return;
	}
	if (!s || stat(s, &st)) {
		fprintf(stderr, "nlctl: cannot stat `%s': %s\n", s ? s : "",
			strerror(errno));
		exit(2);
	}
	if (!S_ISBLK(st.st_mode)) {
		fprintf(stderr, "nlctl: `%s' is not a block device\n", s);
		exit(2);
	}
	*maj = major(st.st_rdev);
	*min = minor(st.st_rdev);
}

static void need_args(int argc, int n, const char *usage_line)
{
	if (argc < n) {
		fprintf(stderr, "usage: nlctl %s\n", usage_line);
		exit(2);
	}
}

/* ---- netlink plumbing ---- */

static int on_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct ctx *c = arg;
	struct nlmsghdr *nlh = (struct nlmsghdr *)e - 1;
	struct nlattr *attrs[NLMSGERR_ATTR_MAX + 1];
	int ack_len = sizeof(*nlh) + sizeof(int) + sizeof(*nlh);

	(void)nla;
	c->err = e->error;
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return NL_STOP;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		ack_len += e->msg.nlmsg_len - sizeof(*nlh);
	if (nlh->nlmsg_len <= (unsigned int)ack_len)
		return NL_STOP;
	if (nla_parse(attrs, NLMSGERR_ATTR_MAX, (struct nlattr *)((char *)nlh + ack_len),
		      nlh->nlmsg_len - ack_len, NULL) == 0 && attrs[NLMSGERR_ATTR_MSG])
		snprintf(c->extack, sizeof(c->extack), "%s",
			 nla_get_string(attrs[NLMSGERR_ATTR_MSG]));
	return NL_STOP;
}

static int on_valid(struct nl_msg *msg, void *arg)
{
	struct ctx *c = arg;
	struct genlmsghdr *gh = nlmsg_data(nlmsg_hdr(msg));

	if (nla_parse(c->tb, COWSNAP_A_MAX, genlmsg_attrdata(gh, 0),
		      genlmsg_attrlen(gh, 0), NULL) < 0) {
		fprintf(stderr, "nlctl: cannot parse the reply\n");
		c->err = -EPROTO;
		return NL_STOP;
	}
	c->replies++;
	return c->on_reply ? c->on_reply(c) : NL_OK;
}

static int on_ack(struct nl_msg *msg, void *arg)
{
	(void)msg;
	((struct ctx *)arg)->err = 0;
	return NL_STOP;
}

static int on_finish(struct nl_msg *msg, void *arg)
{
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct ctx *c = arg;

	/* A dump that failed part-way carries its error in NLMSG_DONE. */
	if (nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(int)))
		c->err = *(int *)nlmsg_data(nlh);
	else
		c->err = 0;
	if (c->err > 0)
		c->err = 0;
	return NL_STOP;
}

/* Send msg and run each reply through c->on_reply; returns 0 or -errno. */
static int transact(struct ctx *c, struct nl_msg *msg)
{
	struct nl_cb *cb = nl_cb_alloc(NL_CB_DEFAULT);
	int ret;

	if (!cb)
		return -ENOMEM;
	c->err = 1;
	c->extack[0] = '\0';
	c->replies = 0;
	nl_cb_err(cb, NL_CB_CUSTOM, on_error, c);
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, on_valid, c);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, on_ack, c);
	nl_cb_set(cb, NL_CB_FINISH, NL_CB_CUSTOM, on_finish, c);
	ret = nl_send_auto(c->sk, msg);
	if (ret < 0) {
		nl_cb_put(cb);
		return -EIO;
	}
	while (c->err > 0) {
		ret = nl_recvmsgs(c->sk, cb);
		if (ret < 0 && c->err > 0)
			c->err = -EIO;
	}
	nl_cb_put(cb);
	return c->err;
}

static struct nl_msg *new_msg(struct ctx *c, int cmd, int flags)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (!msg || !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, c->family, 0,
				 flags | NLM_F_ACK, cmd, COWSNAP_GENL_VERSION)) {
		fprintf(stderr, "nlctl: out of memory\n");
		exit(ENOMEM);
	}
	return msg;
}

static void put_u32(struct nl_msg *msg, int type, uint32_t v)
{
	if (nla_put_u32(msg, type, v)) {
		fprintf(stderr, "nlctl: message too long\n");
		exit(EMSGSIZE);
	}
}

static void put_u64(struct nl_msg *msg, int type, uint64_t v)
{
	if (nla_put_u64(msg, type, v)) {
		fprintf(stderr, "nlctl: message too long\n");
		exit(EMSGSIZE);
	}
}

static int report(struct ctx *c, const char *what, int err)
{
	if (!err)
		return 0;
	fprintf(stderr, "nlctl: %s: %s%s%s\n", what, strerror(-err),
		c->extack[0] ? ": " : "", c->extack);
	return -err;
}

/* Send msg, free it, report an error under the command's name. */
static int run(struct ctx *c, struct nl_msg *msg, int cmd,
	       int (*on_reply)(struct ctx *c))
{
	int ret;

	c->on_reply = on_reply;
	ret = transact(c, msg);
	nlmsg_free(msg);
	c->on_reply = NULL;
	return report(c, cmd_name(cmd), ret);
}

static uint32_t get_u32(struct nlattr **tb, int type)
{
	return tb[type] ? nla_get_u32(tb[type]) : 0;
}

static uint64_t get_u64(struct nlattr **tb, int type)
{
	return tb[type] ? nla_get_u64(tb[type]) : 0;
}

static const char *get_str(struct nlattr **tb, int type)
{
	return tb[type] ? nla_get_string(tb[type]) : "-";
}

static void print_hex(const char *key, struct nlattr *a)
{
	const unsigned char *p;
	int i;

	printf(" %s=", key);
	if (!a) {
		printf("-");
		return;
	}
	p = nla_data(a);
	for (i = 0; i < nla_len(a); i++)
		printf("%02x", p[i]);
}

static void print_flags(uint32_t f)
{
	const char *sep = "";

	printf(" flags=");
	if (f & COWSNAP_SET_F_AUTO_RELEASE) {
		printf("%sauto-release", sep);
		sep = ",";
	}
	if (f & COWSNAP_SET_F_PERSISTENT) {
		printf("%spersistent", sep);
		sep = ",";
	}
	if (f & COWSNAP_SET_F_WRITABLE) {
		printf("%swritable", sep);
		sep = ",";
	}
	if (f & ~(uint32_t)__COWSNAP_SET_F_ALL)
		printf("%s0x%x", sep, f & ~(uint32_t)__COWSNAP_SET_F_ALL);
	else if (!f)
		printf("none");
}

/* ---- commands ---- */

static int print_version(struct ctx *c)
{
	if (!c->tb[COWSNAP_A_VERSION] || !c->tb[COWSNAP_A_PROTO_VERSION]) {
		fprintf(stderr, "nlctl: version reply lacks attributes\n");
		c->err = -EPROTO;
		return NL_STOP;
	}
	printf("%s %u\n", nla_get_string(c->tb[COWSNAP_A_VERSION]),
	       nla_get_u32(c->tb[COWSNAP_A_PROTO_VERSION]));
	return NL_OK;
}

static int cmd_version(struct ctx *c, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return run(c, new_msg(c, COWSNAP_CMD_GET_VERSION, 0),
		   COWSNAP_CMD_GET_VERSION, print_version);
}

static int print_set_id(struct ctx *c)
{
	if (!c->tb[COWSNAP_A_SET_ID]) {
		fprintf(stderr, "nlctl: SET_NEW reply lacks SET_ID\n");
		c->err = -EPROTO;
		return NL_STOP;
	}
	printf("%" PRIu64 "\n", nla_get_u64(c->tb[COWSNAP_A_SET_ID]));
	return NL_OK;
}

static int cmd_set_new(struct ctx *c, int argc, char **argv)
{
	uint32_t flags = 0, chunk = 0, hold = 0, raw = 0;
	int have_chunk = 0, have_hold = 0, have_raw = 0, i;
	const char *name = NULL, *name_bytes = NULL;
	struct nl_msg *msg;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--auto-release"))
			flags |= COWSNAP_SET_F_AUTO_RELEASE;
		else if (!strcmp(argv[i], "--persistent"))
			flags |= COWSNAP_SET_F_PERSISTENT;
		else if (!strcmp(argv[i], "--writable"))
			flags |= COWSNAP_SET_F_WRITABLE;
		else if (!strcmp(argv[i], "--chunk-sectors") && i + 1 < argc) {
			chunk = arg_u32("chunk size", argv[++i]);
			have_chunk = 1;
		} else if (!strcmp(argv[i], "--hold-ms") && i + 1 < argc) {
			hold = arg_u32("hold time", argv[++i]);
			have_hold = 1;
		} else if (!strcmp(argv[i], "--flags") && i + 1 < argc) {
			raw = arg_u32("flags", argv[++i]);
			have_raw = 1;
		} else if (!strcmp(argv[i], "--name") && i + 1 < argc) {
			name = argv[++i];
		} else if (!strcmp(argv[i], "--name-bytes") && i + 1 < argc) {
			name_bytes = argv[++i];
		} else {
			fprintf(stderr, "usage: nlctl set-new [--auto-release] [--persistent] "
				"[--writable] [--chunk-sectors N] [--hold-ms N] [--flags RAW] [--name NAME] "
				"[--name-bytes BYTES]\n");
			return 2;
		}
	}
	msg = new_msg(c, COWSNAP_CMD_SET_NEW, 0);
	if (flags || have_raw)
		put_u32(msg, COWSNAP_A_SET_FLAGS, flags | raw);
	if (have_chunk)
		put_u32(msg, COWSNAP_A_CHUNK_SECTORS, chunk);
	if (have_hold)
		put_u32(msg, COWSNAP_A_HOLD_MS, hold);
	/* as it is, NUL-terminated or (--name-bytes, for hostile tests) not */
	if ((name && nla_put_string(msg, COWSNAP_A_SET_NAME, name)) ||
	    (name_bytes && nla_put(msg, COWSNAP_A_SET_NAME, (int)strlen(name_bytes), name_bytes))) {
		fprintf(stderr, "nlctl: message too long\n");
		exit(EMSGSIZE);
	}
	return run(c, msg, COWSNAP_CMD_SET_NEW, print_set_id);
}

static int cmd_add_volume(struct ctx *c, int argc, char **argv)
{
	struct nl_msg *msg;
	uint32_t maj, min;
	uint64_t id;

	need_args(argc, 3, "add-volume SET DEV");
	id = arg_u64("set id", argv[1]);
	arg_dev(argv[2], &maj, &min);
	msg = new_msg(c, COWSNAP_CMD_SET_ADD_VOLUME, 0);
	put_u64(msg, COWSNAP_A_SET_ID, id);
	put_u32(msg, COWSNAP_A_DEV_MAJOR, maj);
	put_u32(msg, COWSNAP_A_DEV_MINOR, min);
	return run(c, msg, COWSNAP_CMD_SET_ADD_VOLUME, NULL);
}

static int cmd_add_storage(struct ctx *c, int argc, char **argv)
{
	struct nl_msg *msg;
	uint32_t maj, min;
	uint64_t id, start, len;
	bool in_file = argc > 5 && !strcmp(argv[5], "--in-file");

	need_args(argc - in_file, 5, "add-storage SET DEV START SECTORS [--in-file]");
	id = arg_u64("set id", argv[1]);
	arg_dev(argv[2], &maj, &min);
	start = arg_u64("start sector", argv[3]);
	len = arg_u64("sector count", argv[4]);
	msg = new_msg(c, COWSNAP_CMD_SET_ADD_STORAGE, 0);
	put_u64(msg, COWSNAP_A_SET_ID, id);
	put_u32(msg, COWSNAP_A_DEV_MAJOR, maj);
	put_u32(msg, COWSNAP_A_DEV_MINOR, min);
	put_u64(msg, COWSNAP_A_SECTOR, start);
	put_u64(msg, COWSNAP_A_SECTORS, len);
	if (in_file)
		put_u32(msg, COWSNAP_A_STORAGE_FLAGS, COWSNAP_STORAGE_F_IN_FILE);
	return run(c, msg, COWSNAP_CMD_SET_ADD_STORAGE, NULL);
}

static int cmd_add_free(struct ctx *c, int argc, char **argv)
{
	struct cowsnap_range r[64];
	struct nl_msg *msg;
	uint32_t maj, min;
	int n = 0;

	if (argc < 5 || argc % 2 == 0 || (argc - 3) / 2 > 64) {
		fprintf(stderr, "usage: nlctl add-free SET DEV START SECTORS [START SECTORS]...\n");
		exit(2);
	}
	arg_dev(argv[2], &maj, &min);
	for (int i = 3; i + 1 < argc; i += 2, n++) {
		r[n].start = arg_u64("start sector", argv[i]);
		r[n].len = arg_u64("sector count", argv[i + 1]);
	}
	msg = new_msg(c, COWSNAP_CMD_SET_ADD_FREE, 0);
	put_u64(msg, COWSNAP_A_SET_ID, arg_u64("set id", argv[1]));
	put_u32(msg, COWSNAP_A_DEV_MAJOR, maj);
	put_u32(msg, COWSNAP_A_DEV_MINOR, min);
	if (nla_put(msg, COWSNAP_A_FREE_RANGES, n * (int)sizeof(r[0]), r) < 0) {
		fprintf(stderr, "nlctl: message too large\n");
		exit(1);
	}
	return run(c, msg, COWSNAP_CMD_SET_ADD_FREE, NULL);
}

/* SET_GET_ZERO's reply: "zero START SECTORS" lines, then "next SECTOR"
 * when more places follow */
static int print_zero(struct ctx *c)
{
	struct nlattr *a = c->tb[COWSNAP_A_FREE_RANGES];
	struct cowsnap_range r;

	if (!a || nla_len(a) % (int)sizeof(r)) {
		fprintf(stderr, "nlctl: SET_GET_ZERO reply lacks its ranges\n");
		c->err = -EPROTO;
		return NL_STOP;
	}
	for (int i = 0; i < nla_len(a) / (int)sizeof(r); i++) {
		memcpy(&r, (const char *)nla_data(a) + i * sizeof(r), sizeof(r));
		printf("zero %" PRIu64 " %" PRIu64 "\n", (uint64_t)r.start, (uint64_t)r.len);
	}
	if (c->tb[COWSNAP_A_SECTOR])
		printf("next %" PRIu64 "\n", get_u64(c->tb, COWSNAP_A_SECTOR));
	return NL_OK;
}

static int cmd_get_zero(struct ctx *c, int argc, char **argv)
{
	struct nl_msg *msg;
	uint32_t maj, min;

	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: nlctl get-zero SET DEV [SECTOR]\n");
		exit(2);
	}
	arg_dev(argv[2], &maj, &min);
	msg = new_msg(c, COWSNAP_CMD_SET_GET_ZERO, 0);
	put_u64(msg, COWSNAP_A_SET_ID, arg_u64("set id", argv[1]));
	put_u32(msg, COWSNAP_A_DEV_MAJOR, maj);
	put_u32(msg, COWSNAP_A_DEV_MINOR, min);
	if (argc == 4)
		put_u64(msg, COWSNAP_A_SECTOR, arg_u64("sector", argv[3]));
	return run(c, msg, COWSNAP_CMD_SET_GET_ZERO, print_zero);
}

/*
 * One set, as two kinds of lines:
 *   set ID state=S flags=F cause=C chunk_sectors=N storage_sectors=N
 *       storage_used=N created_ns=N taken_ns=N volumes=N name=NAME|-
 *   volume ID dev=MAJ:MIN name=NAME sectors=N image=/dev/cowsnapN
 *       image_dev=MAJ:MIN copied=N
 */
static int print_set(struct ctx *c)
{
	struct nlattr **tb = c->tb, *v;
	struct nlattr *vt[COWSNAP_A_MAX + 1];
	uint64_t id = get_u64(tb, COWSNAP_A_SET_ID);
	int rem, n = 0;

	if (!tb[COWSNAP_A_SET_ID]) {
		fprintf(stderr, "nlctl: set reply lacks SET_ID\n");
		c->err = -EPROTO;
		return NL_STOP;
	}
	if (tb[COWSNAP_A_VOLUMES])
		nla_for_each_nested(v, tb[COWSNAP_A_VOLUMES], rem)
			n++;
	printf("set %" PRIu64 " state=%s", id, state_name(get_u32(tb, COWSNAP_A_SET_STATE)));
	print_flags(get_u32(tb, COWSNAP_A_SET_FLAGS));
	printf(" cause=%s chunk_sectors=%u storage_sectors=%" PRIu64
	       " storage_used=%" PRIu64 " created_ns=%" PRIu64 " taken_ns=%" PRIu64
	       " volumes=%d name=%s\n",
	       cause_name(get_u32(tb, COWSNAP_A_INVALID_CAUSE)),
	       get_u32(tb, COWSNAP_A_CHUNK_SECTORS),
	       get_u64(tb, COWSNAP_A_STORAGE_SECTORS),
	       get_u64(tb, COWSNAP_A_STORAGE_USED),
	       get_u64(tb, COWSNAP_A_CREATED_NS), get_u64(tb, COWSNAP_A_TAKEN_NS), n,
	       get_str(tb, COWSNAP_A_SET_NAME));
	if (!tb[COWSNAP_A_VOLUMES])
		return NL_OK;
	nla_for_each_nested(v, tb[COWSNAP_A_VOLUMES], rem) {
		if (nla_parse_nested(vt, COWSNAP_A_MAX, v, NULL) < 0) {
			fprintf(stderr, "nlctl: cannot parse a volume of set %" PRIu64 "\n", id);
			c->err = -EPROTO;
			return NL_STOP;
		}
		printf("volume %" PRIu64 " dev=%u:%u name=%s sectors=%" PRIu64, id,
		       get_u32(vt, COWSNAP_A_DEV_MAJOR), get_u32(vt, COWSNAP_A_DEV_MINOR),
		       get_str(vt, COWSNAP_A_DEV_NAME), get_u64(vt, COWSNAP_A_SECTORS));
		if (vt[COWSNAP_A_IMAGE_MINOR])
			printf(" image=/dev/%s%u image_dev=%u:%u", COWSNAP_IMAGE_NAME,
			       get_u32(vt, COWSNAP_A_IMAGE_MINOR),
			       get_u32(vt, COWSNAP_A_IMAGE_MAJOR),
			       get_u32(vt, COWSNAP_A_IMAGE_MINOR));
		else
			printf(" image=- image_dev=-");
		printf(" copied=%" PRIu64 "\n", get_u64(vt, COWSNAP_A_CHUNKS_COPIED));
	}
	return NL_OK;
}

static int cmd_take(struct ctx *c, int argc, char **argv)
{
	struct nl_msg *msg;
	uint32_t flags = 0;
	int have_flags = 0, i;
	uint64_t id;

	need_args(argc, 2, "take SET [--no-freeze] [--flags RAW]");
	id = arg_u64("set id", argv[1]);
	for (i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--no-freeze")) {
			flags |= COWSNAP_TAKE_F_NO_FREEZE;
			have_flags = 1;
		} else if (!strcmp(argv[i], "--flags") && i + 1 < argc) {
			flags |= arg_u32("flags", argv[++i]);
			have_flags = 1;
		} else {
			fprintf(stderr, "usage: nlctl take SET [--no-freeze] [--flags RAW]\n");
			return 2;
		}
	}
	msg = new_msg(c, COWSNAP_CMD_SET_TAKE, 0);
	put_u64(msg, COWSNAP_A_SET_ID, id);
	if (have_flags)
		put_u32(msg, COWSNAP_A_TAKE_FLAGS, flags);
	return run(c, msg, COWSNAP_CMD_SET_TAKE, print_set);
}

static int cmd_destroy(struct ctx *c, int argc, char **argv)
{
	struct nl_msg *msg;

	need_args(argc, 2, "destroy SET");
	msg = new_msg(c, COWSNAP_CMD_SET_DESTROY, 0);
	put_u64(msg, COWSNAP_A_SET_ID, arg_u64("set id", argv[1]));
	return run(c, msg, COWSNAP_CMD_SET_DESTROY, NULL);
}

static int cmd_get(struct ctx *c, int argc, char **argv)
{
	struct nl_msg *msg;

	if (argc > 1) {
		msg = new_msg(c, COWSNAP_CMD_SET_GET, 0);
		put_u64(msg, COWSNAP_A_SET_ID, arg_u64("set id", argv[1]));
	} else {
		msg = new_msg(c, COWSNAP_CMD_SET_GET, NLM_F_DUMP);
	}
	return run(c, msg, COWSNAP_CMD_SET_GET, print_set);
}

/*
 *   tracked MAJ:MIN name=NAME mark=SETID flags=keep|none snapshots=N
 *       generation=HEX chunk_sectors=N sectors=N
 */
static int print_volume(struct ctx *c)
{
	struct nlattr **tb = c->tb;
	uint32_t maj = get_u32(tb, COWSNAP_A_DEV_MAJOR);
	uint32_t min = get_u32(tb, COWSNAP_A_DEV_MINOR);
	uint32_t f = get_u32(tb, COWSNAP_A_VOLUME_FLAGS);

	if (c->dev_set && (maj != c->dev_major || min != c->dev_minor))
		return NL_OK;
	printf("tracked %u:%u name=%s mark=%" PRIu64 " flags=%s", maj, min,
	       get_str(tb, COWSNAP_A_DEV_NAME), get_u64(tb, COWSNAP_A_MARK_SET_ID),
	       (f & COWSNAP_VOLUME_F_KEEP) ? "keep" : "none");
	printf(" snapshots=%u", get_u32(tb, COWSNAP_A_SNAPSHOTS));
	print_hex("generation", tb[COWSNAP_A_CBT_GENERATION]);
	printf(" chunk_sectors=%u sectors=%" PRIu64 "\n",
	       get_u32(tb, COWSNAP_A_CHUNK_SECTORS), get_u64(tb, COWSNAP_A_SECTORS));
	return NL_OK;
}

static int cmd_volume_get(struct ctx *c, int argc, char **argv)
{
	if (argc > 1) {
		arg_dev(argv[1], &c->dev_major, &c->dev_minor);
		c->dev_set = 1;
	}
	return run(c, new_msg(c, COWSNAP_CMD_VOLUME_GET, NLM_F_DUMP),
		   COWSNAP_CMD_VOLUME_GET, print_volume);
}

static int cmd_track_common(struct ctx *c, int argc, char **argv, int cmd)
{
	struct nl_msg *msg;
	uint32_t maj, min;

	need_args(argc, 2, cmd == COWSNAP_CMD_TRACK ? "track DEV" : "untrack DEV");
	arg_dev(argv[1], &maj, &min);
	msg = new_msg(c, cmd, 0);
	put_u32(msg, COWSNAP_A_DEV_MAJOR, maj);
	put_u32(msg, COWSNAP_A_DEV_MINOR, min);
	return run(c, msg, cmd, NULL);
}

static int cmd_track(struct ctx *c, int argc, char **argv)
{
	return cmd_track_common(c, argc, argv, COWSNAP_CMD_TRACK);
}

static int cmd_untrack(struct ctx *c, int argc, char **argv)
{
	return cmd_track_common(c, argc, argv, COWSNAP_CMD_UNTRACK);
}

/*
 *   cbt generation=HEX chunk_sectors=N first=N count=N changed=N
 *   range FIRST COUNT          (one per run of changed chunks)
 */
static int print_cbt(struct ctx *c)
{
	struct nlattr **tb = c->tb;
	const unsigned char *bm;
	uint64_t first = get_u64(tb, COWSNAP_A_CBT_FIRST), changed = 0;
	long i, n, run_start = -1;

	if (!tb[COWSNAP_A_CBT_BITMAP]) {
		fprintf(stderr, "nlctl: CBT_GET reply lacks the bitmap\n");
		c->err = -EPROTO;
		return NL_STOP;
	}
	bm = nla_data(tb[COWSNAP_A_CBT_BITMAP]);
	n = (long)nla_len(tb[COWSNAP_A_CBT_BITMAP]) * 8;
	for (i = 0; i < n; i++)
		changed += (bm[i / 8] >> (i % 8)) & 1;
	printf("cbt");
	print_hex("generation", tb[COWSNAP_A_CBT_GENERATION]);
	printf(" chunk_sectors=%u first=%" PRIu64 " bits=%ld changed=%" PRIu64 "\n",
	       get_u32(tb, COWSNAP_A_CHUNK_SECTORS), first, n, changed);
	for (i = 0; i <= n; i++) {
		int bit = i < n && ((bm[i / 8] >> (i % 8)) & 1);

		if (bit && run_start < 0)
			run_start = i;
		if (!bit && run_start >= 0) {
			printf("range %" PRIu64 " %ld\n", first + run_start, i - run_start);
			run_start = -1;
		}
	}
	return NL_OK;
}

static int cmd_cbt_get(struct ctx *c, int argc, char **argv)
{
	struct nl_msg *msg;
	uint32_t maj, min;

	need_args(argc, 5, "cbt-get DEV SET FIRST COUNT");
	arg_dev(argv[1], &maj, &min);
	msg = new_msg(c, COWSNAP_CMD_CBT_GET, 0);
	put_u32(msg, COWSNAP_A_DEV_MAJOR, maj);
	put_u32(msg, COWSNAP_A_DEV_MINOR, min);
	put_u64(msg, COWSNAP_A_SET_ID, arg_u64("set id", argv[2]));
	put_u64(msg, COWSNAP_A_CBT_FIRST, arg_u64("first chunk", argv[3]));
	put_u32(msg, COWSNAP_A_CBT_COUNT, arg_u32("chunk count", argv[4]));
	return run(c, msg, COWSNAP_CMD_CBT_GET, print_cbt);
}

/* raw CMD [--dump]: a bare command with no attributes (for EPERM tests). */
static int cmd_raw(struct ctx *c, int argc, char **argv)
{
	uint32_t cmd;
	int flags = 0;

	need_args(argc, 2, "raw CMD [--dump]");
	cmd = arg_u32("command number", argv[1]);
	if (argc > 2 && !strcmp(argv[2], "--dump"))
		flags = NLM_F_DUMP;
	return run(c, new_msg(c, (int)cmd, flags), (int)cmd, NULL);
}

/* ---- events ---- */

static int print_event(struct nl_msg *msg, void *arg)
{
	struct genlmsghdr *gh = nlmsg_data(nlmsg_hdr(msg));
	struct nlattr *tb[COWSNAP_A_MAX + 1];
	int *seen = arg;

	if (nla_parse(tb, COWSNAP_A_MAX, genlmsg_attrdata(gh, 0),
		      genlmsg_attrlen(gh, 0), NULL) < 0) {
		printf("event UNPARSABLE cmd=%u\n", gh->cmd);
		(*seen)++;
		return NL_OK;
	}
	printf("event %s", cmd_name(gh->cmd));
	switch (gh->cmd) {
	case COWSNAP_CMD_EVENT_SET_TAKEN:
	case COWSNAP_CMD_EVENT_SET_DESTROYED:
		printf(" set=%" PRIu64, get_u64(tb, COWSNAP_A_SET_ID));
		break;
	case COWSNAP_CMD_EVENT_STORAGE_LOW:
		printf(" set=%" PRIu64 " storage_sectors=%" PRIu64 " storage_used=%" PRIu64,
		       get_u64(tb, COWSNAP_A_SET_ID), get_u64(tb, COWSNAP_A_STORAGE_SECTORS),
		       get_u64(tb, COWSNAP_A_STORAGE_USED));
		break;
	case COWSNAP_CMD_EVENT_SET_INVALID:
		printf(" set=%" PRIu64 " cause=%s", get_u64(tb, COWSNAP_A_SET_ID),
		       cause_name(get_u32(tb, COWSNAP_A_INVALID_CAUSE)));
		break;
	case COWSNAP_CMD_EVENT_VOLUME_GONE:
		printf(" dev=%u:%u name=%s", get_u32(tb, COWSNAP_A_DEV_MAJOR),
		       get_u32(tb, COWSNAP_A_DEV_MINOR), get_str(tb, COWSNAP_A_DEV_NAME));
		break;
	default:
		printf(" cmd=%u", gh->cmd);
	}
	printf("\n");
	fflush(stdout);
	(*seen)++;
	return NL_OK;
}

static int no_seq_check(struct nl_msg *msg, void *arg)
{
	(void)msg;
	(void)arg;
	return NL_OK;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * events [--count N] [--timeout S]: print one line per event; the first
 * line, "listening", says the subscription is in place.  Exits 0 after N
 * events (or at the timeout when no count was asked), ETIMEDOUT when the
 * timeout passes before N events.
 */
static int cmd_events(struct ctx *c, int argc, char **argv)
{
	double deadline = 0, left;
	long count = 0;
	int grp, seen = 0, i, ret, err;
	struct nl_cb *cb;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--count") && i + 1 < argc)
			count = (long)arg_u32("count", argv[++i]);
		else if (!strcmp(argv[i], "--timeout") && i + 1 < argc)
			deadline = now_s() + (double)arg_u32("timeout", argv[++i]);
		else {
			fprintf(stderr, "usage: nlctl events [--count N] [--timeout S]\n");
			return 2;
		}
	}
	grp = genl_ctrl_resolve_grp(c->sk, COWSNAP_GENL_NAME, COWSNAP_GENL_MCGRP_EVENTS);
	if (grp < 0) {
		fprintf(stderr, "nlctl: no multicast group \"%s\"\n", COWSNAP_GENL_MCGRP_EVENTS);
		return ENOENT;
	}
	nl_socket_disable_seq_check(c->sk);
	err = nl_socket_add_membership(c->sk, grp);
	if (err) {
		fprintf(stderr, "nlctl: cannot join group \"%s\": %s\n",
			COWSNAP_GENL_MCGRP_EVENTS, nl_geterror(err));
		return err == -NLE_PERM ? EPERM : EIO;
	}
	cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!cb)
		return ENOMEM;
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, print_event, &seen);
	/* Events carry sequence number 0: this callback set checks none. */
	nl_cb_set(cb, NL_CB_SEQ_CHECK, NL_CB_CUSTOM, no_seq_check, NULL);
	printf("listening\n");
	fflush(stdout);
	while (!count || seen < count) {
		struct pollfd p = { .fd = nl_socket_get_fd(c->sk), .events = POLLIN };

		left = deadline ? deadline - now_s() : -1;
		if (deadline && left <= 0)
			break;
		ret = poll(&p, 1, deadline ? (int)(left * 1000) + 1 : -1);
		if (ret < 0 && errno != EINTR)
			break;
		if (ret > 0)
			nl_recvmsgs(c->sk, cb);
	}
	nl_cb_put(cb);
	if (count && seen < count) {
		fprintf(stderr, "nlctl: events: %d of %ld events before the timeout\n",
			seen, count);
		return ETIMEDOUT;
	}
	return 0;
}

/* ---- ops: the commands the loaded module's family implements ---- */

static int parse_ops(struct nl_msg *msg, void *arg)
{
	struct genlmsghdr *gh = nlmsg_data(nlmsg_hdr(msg));
	struct nlattr *tb[CTRL_ATTR_MAX + 1], *op, *ot[CTRL_ATTR_OP_MAX + 1];
	int rem;

	(void)arg;
	if (nla_parse(tb, CTRL_ATTR_MAX, genlmsg_attrdata(gh, 0),
		      genlmsg_attrlen(gh, 0), NULL) < 0 || !tb[CTRL_ATTR_OPS])
		return NL_OK;
	nla_for_each_nested(op, tb[CTRL_ATTR_OPS], rem) {
		if (nla_parse_nested(ot, CTRL_ATTR_OP_MAX, op, NULL) < 0 ||
		    !ot[CTRL_ATTR_OP_ID])
			continue;
		printf("%s\n", cmd_name(nla_get_u32(ot[CTRL_ATTR_OP_ID])));
	}
	return NL_OK;
}

/* ops: one line per command the module's family implements, by name. */
static int cmd_ops(struct ctx *c, int argc, char **argv)
{
	struct nl_msg *msg = nlmsg_alloc();
	struct nl_cb *cb;
	int ret;

	(void)argc;
	(void)argv;
	if (!msg || !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, GENL_ID_CTRL, 0, 0,
				 CTRL_CMD_GETFAMILY, 1) ||
	    nla_put_string(msg, CTRL_ATTR_FAMILY_NAME, COWSNAP_GENL_NAME))
		return ENOMEM;
	cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!cb)
		return ENOMEM;
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, parse_ops, NULL);
	ret = nl_send_auto(c->sk, msg);
	if (ret >= 0)
		ret = nl_recvmsgs(c->sk, cb);
	if (ret >= 0)
		ret = nl_wait_for_ack(c->sk);
	nl_cb_put(cb);
	nlmsg_free(msg);
	if (ret < 0) {
		fprintf(stderr, "nlctl: ops: %s\n", nl_geterror(ret));
		return EIO;
	}
	return 0;
}

/* ---- fuzz ---- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

static uint32_t rnd_below(uint32_t n)
{
	return n ? (uint32_t)(rnd() % n) : 0;
}

/* Append random attributes at buf[*off], at most max bytes, nesting up to depth. */
static void fuzz_attrs(unsigned char *buf, size_t *off, size_t max, int depth, int lie)
{
	int n = (int)rnd_below(6), i;

	for (i = 0; i < n && *off + NLA_HDRLEN <= max; i++) {
		struct nlattr *a = (struct nlattr *)(buf + *off);
		size_t start = *off, plen, k;
		uint32_t r = rnd_below(100);

		a->nla_type = r < 85 ? (uint16_t)rnd_below(COWSNAP_A_MAX + 4)
				     : (uint16_t)rnd();
		if (rnd_below(8) == 0)
			a->nla_type |= NLA_F_NESTED;
		*off += NLA_HDRLEN;
		if (depth > 0 && rnd_below(4) == 0) {
			fuzz_attrs(buf, off, max, depth - 1, lie);
		} else {
			static const size_t lens[] = { 0, 1, 2, 3, 4, 5, 7, 8, 9, 12, 16, 17, 32, 33 };

			plen = rnd_below(5) ? lens[rnd_below(sizeof(lens) / sizeof(lens[0]))]
					    : rnd_below(300);
			if (*off + plen > max)
				plen = max - *off;
			for (k = 0; k < plen; k++)
				buf[*off + k] = rnd_below(4) ? (unsigned char)rnd() :
					(unsigned char)(k ? 0 : rnd_below(3));
			*off += plen;
		}
		a->nla_len = (uint16_t)(*off - start);
		/* Sometimes lie about the length. */
		if (lie && rnd_below(12) == 0)
			a->nla_len = (uint16_t)rnd_below(400);
		while ((*off & 3) && *off < max)
			buf[(*off)++] = 0;
	}
}

struct fuzz_stats {
	long sent, errors, valid, dropped, sure, sure_ok, family_ok;
	long by_errno[140];
};

/*
 * Wait for the answer to seq on fd.  Returns 1 when it came (an error, an
 * ack or the end of a dump), 0 on timeout, -1 on a malformed reply.
 */
static int fuzz_wait(int fd, uint32_t seq, int timeout_ms, struct fuzz_stats *st)
{
	static unsigned char rbuf[1 << 17];
	double deadline = now_s() + timeout_ms / 1000.0;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		double left = deadline - now_s();
		struct nlmsghdr *h;
		ssize_t n;
		int len;

		if (left <= 0)
			return 0;
		if (poll(&p, 1, (int)(left * 1000) + 1) <= 0)
			continue;
		n = recv(fd, rbuf, sizeof(rbuf), MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			if (errno == ENOBUFS)
				continue;
			return -1;
		}
		len = (int)n;
		for (h = (struct nlmsghdr *)rbuf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
			int mine = h->nlmsg_seq == seq;

			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(h);

				if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
					return -1;
				if (!mine)
					continue;
				if (e->error) {
					st->errors++;
					if (-e->error > 0 && -e->error < 140)
						st->by_errno[-e->error]++;
				} else {
					st->valid++;
				}
				return 1;
			}
			if (h->nlmsg_type == NLMSG_DONE) {
				if (mine) {
					st->valid++;
					return 1;
				}
				continue;
			}
			/* A data reply: its genl header and attributes must be well formed. */
			if (h->nlmsg_len < NLMSG_LENGTH(GENL_HDRLEN))
				return -1;
			{
				struct nlattr *a = (struct nlattr *)((char *)NLMSG_DATA(h) + GENL_HDRLEN);
				int alen = (int)h->nlmsg_len - NLMSG_LENGTH(GENL_HDRLEN);

				while (alen >= NLA_HDRLEN) {
					if (a->nla_len < NLA_HDRLEN || a->nla_len > alen)
						return -1;
					alen -= NLA_ALIGN(a->nla_len);
					a = (struct nlattr *)((char *)a + NLA_ALIGN(a->nla_len));
				}
			}
			/* A doit reply is followed by its ack (we always ask for one). */
		}
	}
}

/*
 * fuzz [--count N] [--seed S] [--expect-errno E]: send N malformed requests
 * on a raw generic-netlink socket and check that the kernel answers each one
 * it must answer with an error or a well-formed reply.  Exits 1 when the
 * module stops answering, a reply is malformed, or a request with a sure
 * defect (an attribute type past the maximum, trailing bytes, an attribute
 * past the end, a truncated header) is accepted; with --expect-errno, also
 * when any request succeeds.
 */
static int cmd_fuzz(struct ctx *c, int argc, char **argv)
{
	static unsigned char buf[4096];
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	struct fuzz_stats st;
	long count = 1000, i, expect = 0;
	uint64_t seed = (uint64_t)time(NULL);
	uint32_t seq = 1000;
	int fd, one = 1, e;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--count") && i + 1 < argc)
			count = (long)arg_u64("count", argv[++i]);
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = arg_u64("seed", argv[++i]);
		else if (!strcmp(argv[i], "--expect-errno") && i + 1 < argc)
			expect = (long)arg_u32("errno", argv[++i]);
		else {
			fprintf(stderr, "usage: nlctl fuzz [--count N] [--seed S] [--expect-errno E]\n");
			return 2;
		}
	}
	memset(&st, 0, sizeof(st));
	rng_state = seed ? seed : 1;
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (fd < 0) {
		perror("nlctl: fuzz: socket");
		return EIO;
	}
	setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	printf("fuzz seed=%" PRIu64 " count=%ld\n", seed, count);
	fflush(stdout);
	for (i = 0; i < count; i++) {
		struct nlmsghdr *h = (struct nlmsghdr *)buf;
		struct genlmsghdr *g = (struct genlmsghdr *)(h + 1);
		size_t off = NLMSG_HDRLEN + GENL_HDRLEN, sendlen;
		int expect_reply = 1, r, sure;
		uint32_t kind = rnd_below(100);
		long valid_before;

		memset(buf, 0, 64);
		/*
		 * Mostly cowsnap; some to the controller and to an id no family
		 * has.  Never to other families: fuzzing them is not our test.
		 */
		if (kind < 94)
			h->nlmsg_type = (uint16_t)c->family;
		else if (kind < 97)
			h->nlmsg_type = GENL_ID_CTRL;
		else
			h->nlmsg_type = 0x7ff0;
		h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
		if (rnd_below(5) == 0)
			h->nlmsg_flags |= NLM_F_DUMP;
		if (rnd_below(20) == 0)
			h->nlmsg_flags |= (uint16_t)rnd() & ~NLM_F_DUMP;
		h->nlmsg_seq = ++seq;
		g->cmd = rnd_below(10) ? (uint8_t)rnd_below(COWSNAP_CMD_MAX + 3)
				       : (uint8_t)rnd();
		g->version = rnd_below(10) ? COWSNAP_GENL_VERSION : (uint8_t)rnd();
		g->reserved = rnd_below(10) ? 0 : (uint16_t)rnd();
		/*
		 * Nine in ten requests to cowsnap carry a defect that strict
		 * validation must refuse whatever else they hold ("sure"); the
		 * rest are random and may happen to be valid.
		 */
		sure = h->nlmsg_type == c->family && rnd_below(10) != 0;
		fuzz_attrs(buf, &off, sizeof(buf) - 64, 3, !sure);
		sendlen = off;
		if (sure) {
			struct nlattr *a = (struct nlattr *)(buf + off);

			switch (rnd_below(4)) {
			case 0:	/* an attribute type past COWSNAP_A_MAX */
				a->nla_type = (uint16_t)(COWSNAP_A_MAX + 1 + rnd_below(200));
				a->nla_len = NLA_HDRLEN + 4;
				memset(a + 1, 0xa5, 4);
				off += NLA_HDRLEN + 4;
				break;
			case 1:	/* trailing bytes shorter than an attribute header */
				off += 1 + rnd_below(3);
				break;
			case 2:	/* an attribute longer than the message */
				a->nla_type = (uint16_t)rnd_below(COWSNAP_A_MAX + 1);
				a->nla_len = (uint16_t)(NLA_HDRLEN + 8 + rnd_below(64));
				off += NLA_HDRLEN;
				break;
			case 3:	/* a truncated genl header */
				off = NLMSG_HDRLEN + rnd_below(GENL_HDRLEN);
				break;
			}
			h->nlmsg_len = (uint32_t)off;
			sendlen = off;
		} else {
			h->nlmsg_len = (uint32_t)off;
			/* Truncations: of the genl header, of the attributes, of the netlink header. */
			switch (rnd_below(40)) {
			case 0:
				h->nlmsg_len = NLMSG_HDRLEN + rnd_below(GENL_HDRLEN);
				sendlen = h->nlmsg_len;
				break;
			case 1:
				if (off > NLMSG_HDRLEN + GENL_HDRLEN + 1) {
					sendlen = NLMSG_HDRLEN + GENL_HDRLEN +
						rnd_below((uint32_t)(off - NLMSG_HDRLEN - GENL_HDRLEN));
					h->nlmsg_len = (uint32_t)sendlen;
				}
				break;
			case 2:
				/* Shorter than a netlink header: dropped without an answer. */
				sendlen = rnd_below(NLMSG_HDRLEN);
				expect_reply = 0;
				break;
			case 3:
				/* Claims more than was sent: dropped without an answer. */
				h->nlmsg_len = (uint32_t)off + 1 + rnd_below(100);
				expect_reply = 0;
				break;
			}
		}
		if (sendto(fd, buf, sendlen, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
			if (errno == ENOBUFS || errno == EAGAIN) {
				i--;
				continue;
			}
			if (!expect_reply || errno == EINVAL) {
				/* Refused by the socket layer itself: counted as sent. */
				st.sent++;
				st.dropped++;
				continue;
			}
			fprintf(stderr, "nlctl: fuzz: send: %s\n", strerror(errno));
			return EIO;
		}
		st.sent++;
		if (!expect_reply) {
			st.dropped++;
			continue;
		}
		valid_before = st.valid;
		r = fuzz_wait(fd, h->nlmsg_seq, 10000, &st);
		if (r == 0) {
			fprintf(stderr, "nlctl: fuzz: no answer to message %ld (seed %" PRIu64
				", cmd %u, type %u): the kernel stopped answering\n",
				i, seed, g->cmd, h->nlmsg_type);
			return 1;
		}
		if (r < 0) {
			fprintf(stderr, "nlctl: fuzz: malformed reply to message %ld (seed %" PRIu64 ")\n",
				i, seed);
			return 1;
		}
		if (h->nlmsg_type == c->family && st.valid > valid_before)
			st.family_ok++;
		if (sure) {
			st.sure++;
			if (st.valid > valid_before && st.sure_ok++ < 10)
				printf("fuzz accepted a malformed request: message %ld cmd %u flags 0x%x len %u\n",
				       i, g->cmd, h->nlmsg_flags, h->nlmsg_len);
		}
	}
	/* The module still answers a well-formed request afterwards. */
	{
		struct nlmsghdr *h = (struct nlmsghdr *)buf;
		struct genlmsghdr *g = (struct genlmsghdr *)(h + 1);
		struct fuzz_stats probe;

		memset(buf, 0, 64);
		memset(&probe, 0, sizeof(probe));
		h->nlmsg_len = NLMSG_HDRLEN + GENL_HDRLEN;
		h->nlmsg_type = (uint16_t)c->family;
		h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
		h->nlmsg_seq = ++seq;
		g->cmd = COWSNAP_CMD_GET_VERSION;
		g->version = COWSNAP_GENL_VERSION;
		if (sendto(fd, buf, h->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0 ||
		    fuzz_wait(fd, seq, 10000, &probe) != 1) {
			fprintf(stderr, "nlctl: fuzz: GET_VERSION unanswered after fuzzing\n");
			return 1;
		}
		if (probe.errors && !expect) {
			fprintf(stderr, "nlctl: fuzz: GET_VERSION fails after fuzzing\n");
			return 1;
		}
	}
	printf("fuzz sent=%ld errors=%ld ok=%ld cowsnap_ok=%ld unanswered_by_design=%ld malformed=%ld malformed_accepted=%ld\n",
	       st.sent, st.errors, st.valid, st.family_ok, st.dropped, st.sure, st.sure_ok);
	for (e = 1; e < 140; e++)
		if (st.by_errno[e])
			printf("fuzz errno %d (%s) %ld\n", e, strerror(e), st.by_errno[e]);
	if (expect) {
		long other = st.errors - st.by_errno[expect < 140 ? expect : 0] + st.valid;

		/*
		 * Bad headers may fail before the permission check; a success of
		 * a cowsnap request never may (the controller answers anyone).
		 */
		if (st.family_ok) {
			fprintf(stderr, "nlctl: fuzz: %ld cowsnap requests succeeded, expected errno %ld\n",
				st.family_ok, expect);
			return 1;
		}
		printf("fuzz other_than_expected=%ld\n", other);
	}
	close(fd);
	return st.sure_ok ? 1 : 0;
}

/* ---- session ---- */

static int dispatch(struct ctx *c, int argc, char **argv);

/*
 * session: read commands from stdin on one socket (so the sets it creates
 * live as long as it does).  After each command: "done <status>".  Its
 * errors go to stdout too, before the "done" line.  "sleep S" waits, "exit"
 * ends; EOF ends the session (and so closes the socket).
 */
static int cmd_session(struct ctx *c, int argc, char **argv)
{
	char line[4096];

	(void)argc;
	(void)argv;
	dup2(STDOUT_FILENO, STDERR_FILENO);
	setvbuf(stdout, NULL, _IOLBF, 0);
	setvbuf(stderr, NULL, _IOLBF, 0);
	while (fgets(line, sizeof(line), stdin)) {
		char *args[64], *p = line;
		int n = 0, ret;

		while (n < 63) {
			while (isspace((unsigned char)*p))
				p++;
			if (!*p)
				break;
			args[n++] = p;
			while (*p && !isspace((unsigned char)*p))
				p++;
			if (*p)
				*p++ = '\0';
		}
		args[n] = NULL;
		if (!n)
			continue;
		if (!strcmp(args[0], "exit"))
			break;
		if (!strcmp(args[0], "sleep") && n > 1) {
			usleep((useconds_t)(atof(args[1]) * 1e6));
			ret = 0;
		} else if (!strcmp(args[0], "session") || !strcmp(args[0], "events") ||
			   !strcmp(args[0], "fuzz")) {
			fprintf(stderr, "nlctl: %s: not inside a session\n", args[0]);
			ret = 2;
		} else {
			ret = dispatch(c, n, args);
		}
		c->dev_set = 0;
		printf("done %d\n", ret);
		fflush(stdout);
	}
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(struct ctx *c, int argc, char **argv);
	const char *args;
	const char *help;
} commands[] = {
	{ "version", cmd_version, "", "the module's version and protocol version" },
	{ "ops", cmd_ops, "", "the commands the loaded module implements" },
	{ "set-new", cmd_set_new,
	  "[--auto-release] [--persistent] [--chunk-sectors N] [--hold-ms N] [--flags RAW]\n"
	  "              [--name NAME] [--name-bytes BYTES]",
	  "define a set; prints its id" },
	{ "add-volume", cmd_add_volume, "SET DEV", "add a volume to a defining set" },
	{ "add-storage", cmd_add_storage, "SET DEV START SECTORS [--in-file]",
	  "give a set storage (--in-file: a pinned file's extent)" },
	{ "add-free", cmd_add_free, "SET DEV START SECTORS [START SECTORS]...",
	  "ranges of a volume free at the take: its image reads them as zeros" },
	{ "get-zero", cmd_get_zero, "SET DEV [SECTOR]",
	  "where a volume's image reads zeros (the set's zero table there)" },
	{ "take", cmd_take, "SET [--no-freeze] [--flags RAW]", "take a set; prints it" },
	{ "destroy", cmd_destroy, "SET", "destroy a set" },
	{ "get", cmd_get, "[SET]", "print one set or all" },
	{ "volume-get", cmd_volume_get, "[DEV]", "print tracked volumes" },
	{ "track", cmd_track, "DEV", "keep a volume tracked" },
	{ "untrack", cmd_untrack, "DEV", "stop keeping a volume tracked" },
	{ "cbt-get", cmd_cbt_get, "DEV SET FIRST COUNT", "changed chunks since a set's take" },
	{ "events", cmd_events, "[--count N] [--timeout S]", "print events as they come" },
	{ "session", cmd_session, "", "run commands from stdin on one socket" },
	{ "raw", cmd_raw, "CMD [--dump]", "send command number CMD with no attributes" },
	{ "fuzz", cmd_fuzz, "[--count N] [--seed S] [--expect-errno E]",
	  "send malformed requests, check every answer" },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: nlctl COMMAND [ARGS]\n"
		   "DEV is a block device path or MAJOR:MINOR; sizes are 512-byte sectors.\n");
	for (i = 0; i < N_COMMANDS; i++)
		fprintf(f, "  %-11s %-30s %s\n", commands[i].name, commands[i].args,
			commands[i].help);
}

static int dispatch(struct ctx *c, int argc, char **argv)
{
	size_t i;

	for (i = 0; i < N_COMMANDS; i++)
		if (!strcmp(argv[0], commands[i].name)) {
			int ret = commands[i].fn(c, argc, argv);

			fflush(stdout);
			return ret;
		}
	fprintf(stderr, "nlctl: unknown command `%s'\n", argv[0]);
	return 2;
}

int main(int argc, char **argv)
{
	struct ctx c = { 0 };
	int one;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	c.sk = nl_socket_alloc();
	if (!c.sk || genl_connect(c.sk)) {
		fprintf(stderr, "nlctl: cannot open a generic netlink socket\n");
		return 2;
	}
	one = 1;
	setsockopt(nl_socket_get_fd(c.sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	/* Room for big dumps (CBT bitmaps of 32 KiB, many sets). */
	nl_socket_set_msg_buf_size(c.sk, 1 << 17);
	nl_socket_set_buffer_size(c.sk, 1 << 20, 1 << 20);
	c.family = genl_ctrl_resolve(c.sk, COWSNAP_GENL_NAME);
	if (c.family < 0) {
		fprintf(stderr, "nlctl: generic netlink family \"%s\" not found: is the module loaded?\n",
			COWSNAP_GENL_NAME);
		return ENOENT;
	}
	return dispatch(&c, argc - 1, argv + 1);
}
