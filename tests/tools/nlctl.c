// SPDX-License-Identifier: GPL-2.0
/*
 * nlctl: a small direct netlink client for the guest tests.  It speaks to
 * the cowsnap module without the daemon, so the module's protocol can be
 * tested on its own.  Not installed; not for admins (use snapctl).
 *
 *   nlctl version          print "<module version> <protocol version>"
 *
 * On a kernel error it prints "nlctl: <command>: <strerror> [extack]" and
 * exits with the errno value (EPERM = 1, ...).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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
};

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
	(void)msg;
	((struct ctx *)arg)->err = 0;
	return NL_STOP;
}

/* Send msg and run the reply through c->on_reply; returns 0 or -errno. */
static int transact(struct ctx *c, struct nl_msg *msg)
{
	struct nl_cb *cb = nl_cb_alloc(NL_CB_DEFAULT);
	int ret;

	if (!cb)
		return -ENOMEM;
	c->err = 1;
	c->extack[0] = '\0';
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

static int report(struct ctx *c, const char *what, int err)
{
	if (!err)
		return 0;
	fprintf(stderr, "nlctl: %s: %s%s%s\n", what, strerror(-err),
		c->extack[0] ? ": " : "", c->extack);
	return -err;
}

static int print_version(struct ctx *c)
{
	if (!c->tb[COWSNAP_A_VERSION] || !c->tb[COWSNAP_A_PROTO_VERSION]) {
		fprintf(stderr, "nlctl: version reply lacks attributes\n");
		return NL_STOP;
	}
	printf("%s %u\n", nla_get_string(c->tb[COWSNAP_A_VERSION]),
	       nla_get_u32(c->tb[COWSNAP_A_PROTO_VERSION]));
	return NL_OK;
}

static int cmd_version(struct ctx *c, int argc, char **argv)
{
	struct nl_msg *msg;
	int ret;

	(void)argc;
	(void)argv;
	msg = new_msg(c, COWSNAP_CMD_GET_VERSION, 0);
	c->on_reply = print_version;
	ret = transact(c, msg);
	nlmsg_free(msg);
	return report(c, "GET_VERSION", ret);
}

static const struct {
	const char *name;
	int (*fn)(struct ctx *c, int argc, char **argv);
	const char *help;
} commands[] = {
	{ "version", cmd_version, "print the module's version and protocol version" },
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: nlctl COMMAND [ARGS]\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv)
{
	struct ctx c = { 0 };
	size_t i;
	int one;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	c.sk = nl_socket_alloc();
	if (!c.sk || genl_connect(c.sk)) {
		fprintf(stderr, "nlctl: cannot open a generic netlink socket\n");
		return 2;
	}
	one = 1;
	setsockopt(nl_socket_get_fd(c.sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	c.family = genl_ctrl_resolve(c.sk, COWSNAP_GENL_NAME);
	if (c.family < 0) {
		fprintf(stderr, "nlctl: generic netlink family \"%s\" not found: is the module loaded?\n",
			COWSNAP_GENL_NAME);
		return ENOENT;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(&c, argc - 1, argv + 1);
	fprintf(stderr, "nlctl: unknown command `%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
