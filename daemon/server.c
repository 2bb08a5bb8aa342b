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
	cs_buf_free(&c->out);
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

/* Refuse a connection with a reply that says why, then close it: one
 * non-blocking attempt (a new socket's buffer takes the short reply). */
static void refuse(int fd, int code, const char *msg)
{
	struct cs_error e;
	struct cs_buf b = { 0 };

	cs_error_set(&e, code, "%s", msg);
	if (!cs_encode_error(&b, 0, &e))
		cs_frame_write(fd, &b, 0);
	cs_buf_free(&b);
	close(fd);
}


/*
 * What anybody allowed to connect can cause is logged 5 per 10 s at most
 * per kind: refusals, dropped clients (replies not read), idle closes.
 */
struct limited_log {
	struct cs_ratelimit rl;
	const char *what;		/* "refused connection(s)" */
};

static struct limited_log refusals = { { .burst = 5, .period_ms = 10000 },
				       "refused connection(s)" };
static struct limited_log drops = { { .burst = 5, .period_ms = 10000 },
				    "dropped client(s)" };
static struct limited_log idle_closes = { { .burst = 5, .period_ms = 10000 },
					  "idle connection(s) closed" };

static void log_limited(struct limited_log *l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void log_limited(struct limited_log *l, const char *fmt, ...)
{
	unsigned int missed;
	char line[256];
	va_list ap;

	if (!cs_ratelimit(&l->rl, (unsigned long long)cs_now_ms(), &missed)) {
		if (l->rl.missed == 1)
			cs_warn("more %s in the next %u s are not logged", l->what,
				l->rl.period_ms / 1000);
		return;
	}
	if (missed)
		cs_warn("%u %s were not logged", missed, l->what);
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
		log_limited(&refusals, "refused client pid %d uid %u: not root%s%s",
			    (int)cred.pid, (unsigned)cred.uid,
			    d->peers.have_group ? " and not in group " : "",
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
		log_limited(&refusals, "refused client pid %d uid %u: %u connections already, "
			    "%u of them its uid's", (int)cred.pid, (unsigned)cred.uid,
			    d->nclients, clients_of(d, cred.uid));
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
	c->last_input = cs_now_ms();
	c->next = d->clients;
	d->clients = c;
	d->nclients++;
	cs_dbg("client pid %d uid %u connected", (int)c->pid, (unsigned)c->uid);
}

static bool out_pending(const struct cs_client_conn *c)
{
	return c->out_off < c->out.len;
}

/* Send what the socket takes now; -errno when the connection broke. */
static int out_flush(struct cs_client_conn *c)
{
	ssize_t n;

	while (out_pending(c)) {
		n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			c->out_off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		return n < 0 ? -errno : -EPIPE;
	}
	c->out.len = c->out_off = 0;
	c->out_since = 0;
	/* a long reply once is no reason to keep its buffer */
	if (c->out.cap > 65536)
		cs_buf_free(&c->out);
	return 0;
}

/* Append b to c's queue.  What was sent is moved out of the way only when
 * the buffer is full: a queue of megabytes is not moved for every reply. */
static int out_append(struct cs_client_conn *c, const struct cs_buf *b)
{
	size_t left = c->out.len - c->out_off, cap;
	char *p;

	if (c->out_off && c->out.len + b->len > c->out.cap) {
		memmove(c->out.data, c->out.data + c->out_off, left);
		c->out.len = left;
		c->out_off = 0;
	}
	if (c->out.len + b->len > c->out.cap) {
		cap = c->out.cap ? c->out.cap : 4096;
		while (cap < c->out.len + b->len)
			cap *= 2;
		p = realloc(c->out.data, cap);
		if (!p)
			return -ENOMEM;
		c->out.data = p;
		c->out.cap = cap;
	}
	memcpy(c->out.data + c->out.len, b->data, b->len);
	c->out.len += b->len;
	return 0;
}

/*
 * Queue replies for c and send what its socket takes now; false when c
 * must be dropped.  A registered writer must take each reply at once:
 * writers.c writes events to its socket directly, and they must not land
 * between the bytes of a queued reply.
 */
static bool out_queue(struct cs_client_conn *c, const struct cs_buf *b)
{
	size_t queued = c->out.len - c->out_off;
	int ret;

	if (queued + b->len > CS_OUT_MAX) {
		log_limited(&drops, "dropped client pid %d uid %u: it does not read its replies "
			    "(%zu bytes queued, at most %u)", (int)c->pid, (unsigned)c->uid,
			    queued + b->len, CS_OUT_MAX);
		return false;
	}
	if (out_append(c, b)) {
		cs_warn("dropped client pid %d uid %u: out of memory for its replies",
			(int)c->pid, (unsigned)c->uid);
		return false;
	}
	if (!c->out_since)
		c->out_since = cs_now_ms();
	ret = out_flush(c);
	if (ret) {
		cs_dbg("client pid %d: send: %s", (int)c->pid, strerror(-ret));
		return false;
	}
	if (c->writer && out_pending(c)) {
		log_limited(&drops, "dropped writer client pid %d uid %u: its socket did not "
			    "take a reply at once; a writer must read what it is sent",
			    (int)c->pid, (unsigned)c->uid);
		return false;
	}
	return true;
}

/* Answer the whole frames buffered for c (the replies are queued, never
 * waited for); false when c must be closed. */
static bool client_frames(struct cowsnapd *d, struct cs_client_conn *c)
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
	/* a last error reply before a close: one attempt, as refuse() */
	if (out.len && !keep && !out_pending(c))
		cs_frame_write(c->fd, &out, 0);
	else if (out.len && !out_queue(c, &out))
		keep = false;
	cs_buf_free(&out);
	return keep;
}

/* Read what is there and answer every whole frame; false to drop. */
static bool client_input(struct cowsnapd *d, struct cs_client_conn *c)
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
	c->last_input = cs_now_ms();
	cs_framer_filled(&c->in, (size_t)n);
	return client_frames(d, c);
}

/* poll() said c is ready: take its input, send its queue; false to drop. */
static bool client_ready(struct cowsnapd *d, struct cs_client_conn *c, short revents)
{
	if ((revents & POLLOUT) && out_flush(c))
		return false;
	if (revents & (POLLIN | POLLHUP | POLLERR))
		return client_input(d, c);
	return true;
}

/*
 * A client's requests are read only while it takes its replies: one that
 * does not read costs a socket buffer of replies, not a CPU, and is dropped
 * CS_OUT_DRAIN_MS later (expire_clients).
 */
static short client_events(const struct cs_client_conn *c)
{
	return out_pending(c) ? POLLOUT : POLLIN;
}

/*
 * poll() for a session that waits for a writer: meanwhile accept and answer
 * other clients (ops.c answers only what reads, and a second requestor gets
 * EBUSY at once) and send their queued replies.  Nobody is dropped here: a
 * client that closed, or must be dropped, is marked gone and dropped by the
 * main loop, since a session may hold pointers to connections.  The
 * session's requestor and socket writers are left alone.  The module's
 * events are handled too (another set running low on storage must grow
 * while a writer takes its time), unless the session's netlink request is
 * outstanding: handling them needs the netlink socket.
 */
static int session_wait(struct cowsnapd *d, struct pollfd *p, nfds_t n, int timeout_ms)
{
	struct pollfd pfd[CS_MAX_CLIENTS + 8];
	struct cs_client_conn *conns[CS_MAX_CLIENTS];
	int64_t t0;
	nfds_t k, i;
	int ret, left = timeout_ms;

	if (!d->in_session || n > 4 || d->listen_fd < 0)
		return poll(p, n, timeout_ms);
	t0 = cs_now_ms();
	for (;;) {
		struct cs_client_conn *c;
		unsigned nc = 0;

		memcpy(pfd, p, n * sizeof(*p));
		k = n;
		pfd[k++] = (struct pollfd){ .fd = d->listen_fd, .events = POLLIN };
		/* a negative fd is left out by poll() */
		pfd[k++] = (struct pollfd){ .fd = d->events && !d->nl_busy ?
					    cs_nl_events_fd(d->events) : -1, .events = POLLIN };
		for (c = d->clients; c && nc < CS_MAX_CLIENTS; c = c->next) {
			if (c == d->session_owner || c->writer || c->gone)
				continue;
			for (i = 0; i < n; i++)
				if (p[i].fd == c->fd)
					break;
			if (i < n)
				continue;
			conns[nc++] = c;
			pfd[k++] = (struct pollfd){ .fd = c->fd, .events = client_events(c) };
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
			if (pfd[n + 2 + i].revents && !conns[i]->gone &&
			    !client_ready(d, conns[i], pfd[n + 2 + i].revents))
				conns[i]->gone = true;
		if (pfd[n].revents)
			accept_one(d);
		if (pfd[n + 1].revents)
			cs_events_process(d);
		if (ret)
			return ret;
		if (timeout_ms >= 0) {
			left = timeout_ms - (int)(cs_now_ms() - t0);
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
		if (si.ssi_signo == SIGHUP) {
			d->reload = true;
			continue;
		}
		cs_info("signal %u: shutting down", si.ssi_signo);
		d->quit = true;
	}
}

/*
 * May c be closed for sending nothing: not root's (root must always get
 * in, and CS_PEER_ROOT_RESERVE keeps room for it), and nothing of it is in
 * progress: no session, writer, restore or deferred request.
 */
static bool idle_closable(const struct cowsnapd *d, const struct cs_client_conn *c)
{
	return d->idle_timeout_ms && c->uid != 0 && !c->session_set && !c->writer &&
	       !c->restore && !c->deferred && !c->gone && c != d->session_owner;
}

/* When c must have done something, or INT64_MAX. */
static int64_t client_deadline(const struct cowsnapd *d, const struct cs_client_conn *c)
{
	int64_t t = INT64_MAX;

	if (out_pending(c))
		t = c->out_since + CS_OUT_DRAIN_MS;
	if (idle_closable(d, c) && c->last_input + d->idle_timeout_ms < t)
		t = c->last_input + d->idle_timeout_ms;
	return t;
}

/* When the session holding the shadow-set lock must end (--max-session),
 * or INT64_MAX.  Not while its own steps run: their deadlines bound them. */
static int64_t session_deadline(const struct cowsnapd *d)
{
	const struct cs_client_conn *c = d->session_owner;

	if (!c || !d->max_session_ms || d->in_session || c->gone ||
	    (!c->session_set && !c->restore))
		return INT64_MAX;
	return c->session_began + d->max_session_ms;
}

/* End an overdue session, drop the clients whose deadline has passed;
 * returns the poll() timeout until the next deadline (-1: none). */
static int expire_clients(struct cowsnapd *d)
{
	struct cs_client_conn *c, *next;
	int64_t now = cs_now_ms(), first, t;

	if (session_deadline(d) <= now)
		cs_ops_session_expired(d, d->session_owner);
	first = session_deadline(d);

	for (c = d->clients; c; c = next) {
		next = c->next;
		t = client_deadline(d, c);
		if (t > now) {
			first = t < first ? t : first;
			continue;
		}
		if (out_pending(c))
			log_limited(&drops, "dropped client pid %d uid %u: it does not read its "
				    "replies (queued for %d s)", (int)c->pid, (unsigned)c->uid,
				    CS_OUT_DRAIN_MS / 1000);
		else
			log_limited(&idle_closes, "closed idle client pid %d uid %u: nothing "
				    "sent for %u s (--idle-timeout)", (int)c->pid,
				    (unsigned)c->uid, d->idle_timeout_ms / 1000);
		client_drop(d, c);
	}
	if (first == INT64_MAX)
		return -1;
	return first - now > INT32_MAX ? INT32_MAX : (int)(first - now);
}

int cs_server_run(struct cowsnapd *d)
{
	struct pollfd *pfd;
	struct cs_client_conn **conns;
	unsigned n, i;
	int timeout;

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
			if (c->deferred && !client_frames(d, c))
				client_drop(d, c);
		}
		/* never under a session: its writers and storage stay as they were */
		if (d->reload && !d->session_owner && !d->in_session) {
			d->reload = false;
			cs_reload(d);
		}
		timeout = expire_clients(d);
		pfd[0] = (struct pollfd){ .fd = d->signal_fd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = d->listen_fd, .events = POLLIN };
		pfd[2] = (struct pollfd){ .fd = d->events ? cs_nl_events_fd(d->events) : -1,
					  .events = POLLIN };
		n = 3;
		for (c = d->clients; c; c = c->next) {
			conns[n - 3] = c;
			pfd[n++] = (struct pollfd){ .fd = c->fd, .events = client_events(c) };
		}
		if (poll(pfd, n, timeout) < 0) {
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
		/* a session run for one client may mark others gone: not
		 * touched again here, dropped at the top of the loop */
		for (i = 3; i < n; i++) {
			c = conns[i - 3];
			if (!pfd[i].revents || c->gone)
				continue;
			if (!client_ready(d, c, pfd[i].revents))
				client_drop(d, c);
		}
		if (pfd[1].revents)
			accept_one(d);
	}
	free(pfd);
	free(conns);
	return 0;
}
