// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The Unix socket: listening, peer credentials, reading frames, the poll
 * loop.  What a frame means is ops.c's business.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "netlink.h"

static int mkdir_p(const char *dir, mode_t mode)
{
	char tmp[4096], *p;

	if (snprintf(tmp, sizeof(tmp), "%s", dir) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	for (p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) && errno != EEXIST)
		return -errno;
	return 0;
}

/* The pid file beside the socket, locked for the daemon's lifetime: a
 * second daemon finds it locked instead of stealing the socket. */
static int lock_pidfile(struct cowsnapd *d, struct cs_error *err)
{
	char dir[4096], buf[32];
	ssize_t n;

	snprintf(dir, sizeof(dir), "%s", d->socket_path);
	snprintf(d->pid_path, sizeof(d->pid_path), "%s/cowsnapd.pid", dirname(dir));
	d->pid_fd = open(d->pid_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (d->pid_fd < 0) {
		cs_error_set(err, errno, "cannot open %s: %s", d->pid_path, strerror(errno));
		return -errno;
	}
	if (flock(d->pid_fd, LOCK_EX | LOCK_NB)) {
		n = pread(d->pid_fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		cs_error_set(err, EBUSY, "cowsnapd is already running (pid %s, %s)",
			     buf[0] ? buf : "?", d->pid_path);
		close(d->pid_fd);
		d->pid_fd = -1;
		return -EBUSY;
	}
	return 0;
}

int cs_server_write_pid(struct cowsnapd *d)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());

	if (ftruncate(d->pid_fd, 0) || pwrite(d->pid_fd, buf, (size_t)n, 0) != n)
		return -errno;
	return 0;
}

int cs_server_open(struct cowsnapd *d, struct cs_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[4096];
	sigset_t mask;
	int ret;

	d->listen_fd = d->signal_fd = d->pid_fd = -1;
	if (strlen(d->socket_path) >= sizeof(sa.sun_path)) {
		cs_error_set(err, ENAMETOOLONG, "socket path %s is too long", d->socket_path);
		return -ENAMETOOLONG;
	}
	snprintf(dir, sizeof(dir), "%s", d->socket_path);
	ret = mkdir_p(dirname(dir), 0755);
	if (ret) {
		cs_error_set(err, -ret, "cannot create the directory of %s: %s",
			     d->socket_path, strerror(-ret));
		return ret;
	}
	ret = lock_pidfile(d, err);
	if (ret)
		return ret;

	d->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (d->listen_fd < 0)
		goto fail;
	strcpy(sa.sun_path, d->socket_path);
	/* we hold the pid lock: a socket file left there is stale */
	if (unlink(d->socket_path) && errno != ENOENT)
		goto fail;
	if (bind(d->listen_fd, (struct sockaddr *)&sa, sizeof(sa)))
		goto fail;
	/*
	 * Anyone may connect; whether the daemon talks to them is decided per
	 * connection from SO_PEERCRED (cs_peer_allowed), which lets a refused
	 * user get an answer that says why instead of a bare EACCES.
	 */
	if (chmod(d->socket_path, 0666))
		goto fail;
	if (listen(d->listen_fd, 64))
		goto fail;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	d->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->signal_fd < 0)
		goto fail;
	return 0;
fail:
	ret = -errno;
	cs_error_set(err, errno, "cannot listen on %s: %s", d->socket_path, strerror(errno));
	cs_server_close(d);
	return ret;
}

static void client_free(struct cs_client_conn *c)
{
	close(c->fd);
	cs_framer_free(&c->in);
	free(c);
}

static void client_drop(struct cowsnapd *d, struct cs_client_conn *c)
{
	struct cs_client_conn **pp;

	for (pp = &d->clients; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	cs_dbg("client pid %d uid %u disconnected", (int)c->pid, (unsigned)c->uid);
	cs_ops_client_gone(d, c);
	client_free(c);
	d->nclients--;
}

void cs_server_close(struct cowsnapd *d)
{
	while (d->clients)
		client_drop(d, d->clients);
	if (d->listen_fd >= 0) {
		close(d->listen_fd);
		unlink(d->socket_path);
	}
	if (d->signal_fd >= 0)
		close(d->signal_fd);
	if (d->pid_fd >= 0) {
		unlink(d->pid_path);
		close(d->pid_fd);
	}
	d->listen_fd = d->signal_fd = d->pid_fd = -1;
}

/* Refuse a connection with a reply that says why, then close it. */
static void refuse(int fd, int code, const char *msg)
{
	struct cs_error e;
	struct cs_buf b = { 0 };

	cs_error_set(&e, code, "%s", msg);
	if (!cs_encode_error(&b, 0, &e))
		cs_frame_write(fd, &b, 200);
	cs_buf_free(&b);
	close(fd);
}

/* Refusals are logged 5 per 10 s at most: anybody may connect. */
static struct cs_ratelimit refusals = { .burst = 5, .period_ms = 10000 };

static void log_refusal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void log_refusal(const char *fmt, ...)
{
	struct timespec ts;
	unsigned int missed;
	char line[256];
	va_list ap;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (!cs_ratelimit(&refusals, (unsigned long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
			  &missed)) {
		if (refusals.missed == 1)
			cs_warn("more refused connections in the next %u s are not logged",
				refusals.period_ms / 1000);
		return;
	}
	if (missed)
		cs_warn("%u refused connection(s) were not logged", missed);
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	cs_warn("%s", line);
}

static unsigned int clients_of(const struct cowsnapd *d, uid_t uid)
{
	unsigned int n = 0;

	for (const struct cs_client_conn *c = d->clients; c; c = c->next)
		n += c->uid == uid;
	return n;
}

static void accept_one(struct cowsnapd *d)
{
	struct cs_client_conn *c;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	gid_t groups[256];
	socklen_t glen = sizeof(groups);
	char msg[256];
	int fd, ngroups;

	fd = accept4(d->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR)
			cs_warn("accept: %s", strerror(errno));
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len)) {
		cs_warn("SO_PEERCRED: %s", strerror(errno));
		close(fd);
		return;
	}
	ngroups = 0;
	if (!getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen))
		ngroups = (int)(glen / sizeof(gid_t));
	if (!cs_peer_allowed(&d->peers, cred.uid, cred.gid, groups, ngroups)) {
		log_refusal("refused client pid %d uid %u: not root%s%s", (int)cred.pid,
			    (unsigned)cred.uid, d->peers.have_group ? " and not in group " : "",
			    d->peers.have_group ? d->peers.group_name : "");
		snprintf(msg, sizeof(msg),
			 "permission denied: uid %u is not root%s%s; run as root%s%s",
			 (unsigned)cred.uid,
			 d->peers.have_group ? " and not in group " : "",
			 d->peers.have_group ? d->peers.group_name : "",
			 d->peers.have_group ? " or as a member of " : "",
			 d->peers.have_group ? d->peers.group_name : "");
		refuse(fd, EACCES, msg);
		return;
	}
	if (!cs_peer_admit(d->nclients, clients_of(d, cred.uid), cred.uid)) {
		log_refusal("refused client pid %d uid %u: %u connections already, %u of them "
			    "its uid's", (int)cred.pid, (unsigned)cred.uid, d->nclients,
			    clients_of(d, cred.uid));
		snprintf(msg, sizeof(msg), "too many connections to cowsnapd (%u, at most %u "
			 "per user, and the last %u are root's); close some or try again later",
			 d->nclients, CS_PEER_MAX_PER_UID, CS_PEER_ROOT_RESERVE);
		refuse(fd, EAGAIN, msg);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->fd = fd;
	c->pid = cred.pid;
	c->uid = cred.uid;
	c->gid = cred.gid;
	cs_framer_init(&c->in);
	c->next = d->clients;
	d->clients = c;
	d->nclients++;
	cs_dbg("client pid %d uid %u connected", (int)c->pid, (unsigned)c->uid);
}

/* Answer the whole frames buffered for c, taking at most send_ms to send
 * the replies; false when c must be closed. */
static bool client_frames(struct cowsnapd *d, struct cs_client_conn *c, int send_ms)
{
	struct cs_buf out = { 0 };
	const char *body;
	size_t len;
	int ret;
	bool keep = true;

	c->deferred = false;
	while (keep && (ret = cs_framer_next(&c->in, &body, &len)) != 0) {
		if (ret < 0) {
			struct cs_error e;

			if (ret == -EMSGSIZE)
				cs_error_set(&e, EMSGSIZE, "frame longer than %d bytes",
					     CS_FRAME_MAX);
			else
				cs_error_set(&e, EINVAL, "frame shorter than 2 bytes");
			cs_dbg("client pid %d: %s", (int)c->pid, e.message);
			cs_encode_error(&out, 0, &e);
			keep = false;
			break;
		}
		switch (cs_ops_handle(d, c, body, len, &out)) {
		case CS_HANDLED_CLOSE:
			keep = false;
			break;
		case CS_HANDLED_OK:
			break;
		case CS_HANDLED_DEFER:
			/* the main loop hands it in again (cs_server_run) */
			cs_framer_unget(&c->in);
			c->deferred = true;
			goto out;
		}
	}
out:
	if (out.len && cs_frame_write(c->fd, &out, send_ms))
		keep = false;
	cs_buf_free(&out);
	return keep;
}

/* Read what is there and answer every whole frame; false to drop. */
static bool client_input(struct cowsnapd *d, struct cs_client_conn *c, int send_ms)
{
	size_t room;
	ssize_t n;
	char *p;

	p = cs_framer_space(&c->in, 4096, &room);
	if (!p)
		return false;
	n = recv(c->fd, p, room, 0);
	if (n == 0)
		return false;
	if (n < 0)
		return errno == EAGAIN || errno == EINTR;
	cs_framer_filled(&c->in, (size_t)n);
	return client_frames(d, c, send_ms);
}

static int ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (int)((t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000);
}

/*
 * How long a reply to another client may take within a wait of timeout_ms
 * that began at t0: briefly, and never past the wait's end.  A client that
 * does not read its replies is dropped instead of holding off a writer's
 * deadline and every other client; one that reads gets a reply of any size
 * through a socket buffer well within it.
 */
static int send_budget(const struct timespec *t0, int timeout_ms)
{
	int left;

	if (timeout_ms < 0)
		return CS_SESSION_SEND_MS;
	left = timeout_ms - ms_since(t0);
	return left <= 0 ? 0 : left < CS_SESSION_SEND_MS ? left : CS_SESSION_SEND_MS;
}

/*
 * poll() for a session that waits for a writer: meanwhile accept and answer
 * other clients (ops.c answers only what reads, and a second requestor gets
 * EBUSY at once).  Nobody is dropped here: a client that closed is marked
 * gone and dropped by the main loop, since a session may hold pointers to
 * connections; so is one that does not take its reply before the wait ends
 * (send_budget).  The session's requestor and socket writers are left alone.
 */
static int session_wait(struct cowsnapd *d, struct pollfd *p, nfds_t n, int timeout_ms)
{
	struct pollfd pfd[CS_MAX_CLIENTS + 8];
	struct cs_client_conn *conns[CS_MAX_CLIENTS];
	struct timespec t0;
	nfds_t k, i;
	int ret, left = timeout_ms;

	if (!d->in_session || n > 4 || d->listen_fd < 0)
		return poll(p, n, timeout_ms);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct cs_client_conn *c;
		unsigned nc = 0;

		memcpy(pfd, p, n * sizeof(*p));
		k = n;
		pfd[k++] = (struct pollfd){ .fd = d->listen_fd, .events = POLLIN };
		for (c = d->clients; c && nc < CS_MAX_CLIENTS; c = c->next) {
			if (c == d->session_owner || c->writer || c->gone)
				continue;
			for (i = 0; i < n; i++)
				if (p[i].fd == c->fd)
					break;
			if (i < n)
				continue;
			conns[nc++] = c;
			pfd[k++] = (struct pollfd){ .fd = c->fd, .events = POLLIN };
		}
		ret = poll(pfd, k, left);
		if (ret < 0)
			return ret;
		ret = 0;
		for (i = 0; i < n; i++) {
			p[i].revents = pfd[i].revents;
			if (p[i].revents)
				ret++;
		}
		for (i = 0; i < nc; i++)
			if (pfd[n + 1 + i].revents &&
			    !client_input(d, conns[i], send_budget(&t0, timeout_ms)))
				conns[i]->gone = true;
		if (pfd[n].revents)
			accept_one(d);
		if (ret)
			return ret;
		if (timeout_ms >= 0) {
			left = timeout_ms - ms_since(&t0);
			if (left <= 0)
				return 0;
		}
	}
}

/*
 * netlink.c calls this before it receives a reply: within a session, other
 * clients are answered meanwhile (session_wait), so that a second requestor
 * hears at once that a set is being created, even while the module takes
 * one; what needs the module is deferred until the reply is in.
 */
static int nl_wait(void *arg, int fd)
{
	struct cowsnapd *d = arg;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int ret;

	if (!d->in_session || d->nl_busy)
		return 0;
	d->nl_busy = true;
	do {
		ret = cs_daemon_wait(d, &p, 1, -1);
	} while (ret == 0 || (ret < 0 && errno == EINTR));
	d->nl_busy = false;
	return ret < 0 ? -errno : 0;
}

static void handle_signals(struct cowsnapd *d)
{
	struct signalfd_siginfo si;

	while (read(d->signal_fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP)
			continue;
		cs_info("signal %u: shutting down", si.ssi_signo);
		d->quit = true;
	}
}

int cs_server_run(struct cowsnapd *d)
{
	struct pollfd *pfd;
	struct cs_client_conn **conns;
	unsigned n, i;

	pfd = calloc(CS_MAX_CLIENTS + 3, sizeof(*pfd));
	conns = calloc(CS_MAX_CLIENTS, sizeof(*conns));
	if (!pfd || !conns) {
		free(pfd);
		free(conns);
		return -ENOMEM;
	}
	d->wait_fn = session_wait;
	if (d->nl)
		cs_nl_set_wait(d->nl, nl_wait, d);
	while (!d->quit) {
		struct cs_client_conn *c, *next;

		/* closed while a session ran (session_wait) */
		for (c = d->clients; c; c = next) {
			next = c->next;
			if (c->gone)
				client_drop(d, c);
		}
		/* requests left while the module was busy with a session */
		for (c = d->clients; c; c = next) {
			next = c->next;
			if (c->deferred && !client_frames(d, c, CS_SEND_TIMEOUT_MS))
				client_drop(d, c);
		}
		pfd[0] = (struct pollfd){ .fd = d->signal_fd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = d->listen_fd, .events = POLLIN };
		pfd[2] = (struct pollfd){ .fd = d->events ? cs_nl_events_fd(d->events) : -1,
					  .events = POLLIN };
		n = 3;
		for (c = d->clients; c; c = c->next) {
			conns[n - 3] = c;
			pfd[n++] = (struct pollfd){ .fd = c->fd, .events = POLLIN };
		}
		if (poll(pfd, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			cs_err("poll: %s", strerror(errno));
			break;
		}
		if (pfd[0].revents)
			handle_signals(d);
		/* events first: a set may have gone since a request was sent */
		if (pfd[2].revents)
			cs_events_process(d);
		for (i = 3; i < n; i++) {
			if (!pfd[i].revents)
				continue;
			if (!client_input(d, conns[i - 3], CS_SEND_TIMEOUT_MS))
				client_drop(d, conns[i - 3]);
		}
		if (pfd[1].revents)
			accept_one(d);
	}
	free(pfd);
	free(conns);
	return 0;
}
