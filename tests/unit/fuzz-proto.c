// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuzz-proto: throws mutated frames at the socket protocol's request parser.
 *
 *   fuzz-proto [-n COUNT] [-s SEED]          in-process: framer + decoder,
 *                                            built with ASan/UBSan
 *   fuzz-proto --socket PATH [-n COUNT] ...  at a running cowsnapd: sends
 *                                            COUNT malformed requests and
 *                                            checks it still answers
 *                                            `version' every 1000 of them
 *
 * Mutations start from valid frames of every operation (made by the
 * library's own encoder) and flip bits, splice, truncate, duplicate and
 * insert JSON punctuation.  In-process, every frame the decoder accepts is
 * encoded again and must decode to the same operation and id (stability).
 * Built with -DLIBFUZZER it is a libFuzzer target instead.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cowsnap.h"
#include "proto.h"
#include "mutate.h"

/* A restore request on to the references cowsnapd selects from, in an
 * array sized as cowsnapd sizes it: refused with EINVAL, or no more than fit. */
static void restore_refs(const struct cs_restore_args *a)
{
	uint32_t max = a->nwriters + a->ncomponents;
	struct cs_component_ref *refs = calloc(max ? max : 1, sizeof(*refs));
	struct cs_error err = { 0 };
	int n;

	if (!refs)
		abort();
	n = cs_restore_refs(a, refs, max, &err);
	if (n < 0 ? !err.message[0] || err.code != EINVAL : (uint32_t)n > max)
		abort();
	free(refs);
}

/* The parser under test: returns whether the body was accepted. */
static bool one_input(const char *data, size_t len)
{
	struct cs_request req, again;
	struct cs_error err;
	struct cs_buf b = { 0 };
	bool ok;

	/* the same body read as a writer's answer to an event */
	{
		struct cs_empty none;
		uint32_t id;
		bool remote;

		memset(&err, 0, sizeof(err));
		if (cs_decode_reply(data, len, CS_OP_WRITER_EVENT, &id, &none, &remote, &err) &&
		    (!err.message[0] || !err.code))
			abort();
		cs_frame_is_reply(data, len);
	}
	ok = cs_decode_request(data, len, &req, &err) == 0;
	if (!ok) {
		if (!err.message[0] || !err.code)
			abort();	/* every refusal says why */
		return false;
	}
	/* a registration goes on to the checks beyond the schema */
	if (req.op == CS_OP_WRITER_REGISTER && cs_wmd_validate(req.args, &err) &&
	    (!err.message[0] || err.code != EINVAL))
		abort();
	if (req.op == CS_OP_RESTORE_BEGIN)
		restore_refs(req.args);
	if (cs_encode_request(&b, req.id, req.op, req.args, &err) == 0) {
		if (cs_decode_request(b.data + CS_FRAME_HDR, b.len - CS_FRAME_HDR, &again,
				      &err) != 0 ||
		    again.op != req.op || again.id != req.id)
			abort();
		cs_request_free(&again);
	}
	cs_buf_free(&b);
	cs_request_free(&req);
	return true;
}

#ifdef LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cs_framer f;
	const char *body;
	size_t len, room;
	char *p;

	one_input((const char *)data, size);
	cs_framer_init(&f);
	p = cs_framer_space(&f, size, &room);
	if (p && size <= room) {
		memcpy(p, data, size);
		cs_framer_filled(&f, size);
		while (cs_framer_next(&f, &body, &len) == 1)
			one_input(body, len);
	}
	cs_framer_free(&f);
	return 0;
}
#else

#define NSEEDS 16
static struct cs_buf seeds[NSEEDS];
/* their bodies, without the frame headers, for the mutations */
static struct fz_seed bodies[NSEEDS];

static void make_seeds(void)
{
	struct cs_volume_spec vols[2] = { { "/dev/vdb" }, { "LABEL=data" } };
	struct cs_set_create_args create = { .volumes = vols, .nvolumes = 2,
					     .persistent = true, .chunk_sectors = 64 };
	struct cs_set_delete_args del = { .id = 3 };
	struct cs_set_delete_args del2 = { .oldest = "/srv" };
	struct cs_set_show_args show = { .id = 12 };
	struct cs_empty none = { 0 };
	struct cs_error err;

	cs_encode_request(&seeds[0], 1, CS_OP_VERSION, &none, &err);
	cs_encode_request(&seeds[1], 2, CS_OP_SET_CREATE, &create, &err);
	cs_encode_request(&seeds[2], 3, CS_OP_SET_DELETE, &del, &err);
	cs_encode_request(&seeds[3], 4, CS_OP_SET_DELETE, &del2, &err);
	cs_encode_request(&seeds[4], 5, CS_OP_SET_SHOW, &show, &err);
	cs_encode_request(&seeds[5], 6, CS_OP_SET_LIST, &(struct cs_list_args){ 0 }, &err);
	cs_encode_request(&seeds[6], 7, CS_OP_VOLUME_LIST, &(struct cs_list_args){ .from = 9 },
			  &err);
	create.no_writers = true;
	create.nvolumes = 1;
	cs_encode_request(&seeds[7], 8, CS_OP_SET_CREATE, &create, &err);

	/* socket writers, components, restore */
	struct cs_wmd_file files[1] = { { "/srv/db", "*.db", true } };
	struct cs_wmd_component comps[2] = {
		{ "sales", "orders", true, files, 1 }, { "", "log", false, NULL, 0 },
	};
	struct cs_backup_type_item types[2] = { { 0 }, { 4 } };
	struct cs_wmd wmd = { .name = "db1", .class_id = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9",
			      .usage = 1, .restore_method = 2, .order = 0,
			      .freeze_timeout_ms = 5000, .backup_types = types,
			      .nbackup_types = 2, .components = comps, .ncomponents = 2 };
	struct cs_component_ref refs[2] = { { "db1", "sales/orders", false },
					    { "db1", "log", true } };
	struct cs_component_ref rcomps[5] = {
		{ "db1", "sales/orders", false }, { "db1", "log", false }, { "db1", "a", false },
		{ "db1", "b", false }, { "web", "site", false },
	};
	struct cs_volume_spec rwriters[3] = { { "db1" }, { "web" }, { "db1" } };
	struct cs_writer_event ev = { .event = 3, .set_id = 4, .backup_type = 2,
				      .volumes = vols, .nvolumes = 2, .components = refs,
				      .ncomponents = 2, .success = true, .timeout_ms = 60000 };
	struct cs_restore_args rest = { .writers = vols, .nwriters = 1, .components = refs,
					.ncomponents = 2, .backup_type = 1 };
	struct cs_restore_end_args rend = { .success = true };
	struct cs_backup_complete_args done = { .id = 4, .success = true, .failed = refs,
						.nfailed = 2 };

	cs_encode_request(&seeds[8], 9, CS_OP_WRITER_REGISTER, &wmd, &err);
	cs_encode_request(&seeds[9], 10, CS_OP_WRITER_EVENT, &ev, &err);
	cs_encode_request(&seeds[10], 11, CS_OP_RESTORE_BEGIN, &rest, &err);
	cs_encode_request(&seeds[11], 12, CS_OP_RESTORE_END, &rend, &err);
	create.components = refs;
	create.ncomponents = 2;
	create.nvolumes = 0;
	cs_encode_request(&seeds[12], 13, CS_OP_SET_CREATE, &create, &err);
	cs_encode_request(&seeds[13], 14, CS_OP_BACKUP_COMPLETE, &done, &err);
	/* restores whose components are of their writers, then one that names
	 * a writer twice (2 x 4 + 1 references would not fit in 3 + 5) */
	rest.writers = rwriters;
	rest.nwriters = 2;
	rest.components = rcomps;
	rest.ncomponents = 5;
	cs_encode_request(&seeds[14], 15, CS_OP_RESTORE_BEGIN, &rest, &err);
	rest.nwriters = 3;
	cs_encode_request(&seeds[15], 16, CS_OP_RESTORE_BEGIN, &rest, &err);
	for (int i = 0; i < NSEEDS; i++) {
		if (!seeds[i].len) {
			fprintf(stderr, "fuzz-proto: seed %d does not encode\n", i);
			exit(1);
		}
		bodies[i].data = seeds[i].data + CS_FRAME_HDR;
		bodies[i].len = seeds[i].len - CS_FRAME_HDR;
	}
}

static const char punct[] = "{}[]\":,\\ 0-1e.ntf\x00\xff\xc3u";
static const char *const tokens[] = {
	"null", "true", "1e999", "-1", "18446744073709551616", "\"\\u0000\"",
	"{}", "[]", "\"proto\":2", "\"x\":1", ",\"args\":{}", "\"\\ud800\"",
	"[[[[[[[[[[[[[[[[[[[[", "0.5", "\"op\":\"version\"",
};
static const struct fz_dict dict = {
	bodies, NSEEDS, punct, sizeof(punct) - 1, tokens, sizeof(tokens) / sizeof(tokens[0]),
};

/* Body of a mutated frame in buf (cap bytes); returns its length. */
static size_t mutate(char *buf, size_t cap)
{
	return fz_mutate(&dict, buf, cap);
}

static int run_local(unsigned long count)
{
	static char buf[8192];
	struct cs_framer f;
	unsigned long accepted = 0;

	for (unsigned long i = 0; i < count; i++) {
		size_t len = mutate(buf, sizeof(buf));
		const char *body;
		size_t blen, room;
		uint32_t be;
		char *p;

		accepted += one_input(buf, len);
		/* and through the framer with a header that may lie */
		cs_framer_init(&f);
		be = htonl(fz_rndn(4) ? (uint32_t)len : (uint32_t)fz_rnd());
		p = cs_framer_space(&f, len + 4, &room);
		memcpy(p, &be, 4);
		memcpy(p + 4, buf, len);
		cs_framer_filled(&f, len + 4);
		while (cs_framer_next(&f, &body, &blen) == 1)
			one_input(body, blen);
		cs_framer_free(&f);
	}
	printf("fuzz-proto: %lu inputs, %lu accepted, no crash\n", count, accepted);
	return 0;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		perror(path);
		exit(1);
	}
	return fd;
}

/* Read and throw away whatever the daemon answered so far. */
static void drain(int fd)
{
	char sink[65536];

	while (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0)
		;
}

static int daemon_alive(const char *path)
{
	struct cs_client *c;
	struct cs_version v = { 0 };
	struct cs_error err;

	if (cs_client_open(path, &c, &err) || cs_call_version(c, &v, &err)) {
		fprintf(stderr, "fuzz-proto: cowsnapd stopped answering: %s\n", err.message);
		return 0;
	}
	cs_client_close(c);
	return 1;
}

static int run_socket(const char *path, unsigned long count)
{
	static char buf[8192 + 4];
	unsigned long sent = 0, reconnects = 0;
	int fd = connect_to(path);

	for (unsigned long i = 0; i < count; i++) {
		size_t len = mutate(buf + 4, sizeof(buf) - 4);
		uint32_t be = htonl(fz_rndn(50) ? (uint32_t)len : (uint32_t)fz_rnd());

		memcpy(buf, &be, 4);
		if (send(fd, buf, len + 4, MSG_NOSIGNAL) < 0) {
			/* the daemon closes connections on framing errors */
			close(fd);
			fd = connect_to(path);
			reconnects++;
			continue;
		}
		sent++;
		drain(fd);
		if (fz_rndn(50) == 0 || be != htonl((uint32_t)len)) {
			/* a lying header leaves the stream out of step */
			close(fd);
			fd = connect_to(path);
			reconnects++;
		}
		if (i % 1000 == 999 && !daemon_alive(path))
			return 1;
	}
	close(fd);
	if (!daemon_alive(path))
		return 1;
	printf("fuzz-proto: %lu malformed requests sent to %s (%lu reconnects); "
	       "cowsnapd still answers\n", sent, path, reconnects);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 'S' },
		{ "count", required_argument, NULL, 'n' },
		{ "seed", required_argument, NULL, 's' },
		{ 0 }
	};
	unsigned long count = 100000;
	const char *sock = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "n:s:", opts, NULL)) != -1) {
		switch (c) {
		case 'S':
			sock = optarg;
			break;
		case 'n':
			count = strtoul(optarg, NULL, 0);
			break;
		case 's':
			fz_seed_rng(strtoull(optarg, NULL, 0));
			break;
		default:
			fprintf(stderr, "usage: fuzz-proto [--socket PATH] [-n COUNT] [-s SEED]\n");
			return 2;
		}
	}
	make_seeds();
	return sock ? run_socket(sock, count) : run_local(count);
}
#endif
