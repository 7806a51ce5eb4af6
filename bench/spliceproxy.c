/* A userland TCP proxy built the way docker-proxy's TCP proxy is, for the
 * publish step of the benchmark (bench/publish.py): one process for one
 * published port, accepting on the host port and, per connection, dialing
 * the sandbox and copying both ways with splice(2) through a pipe (what
 * Go's io.Copy between two *net.TCPConn does on Linux), TCP_NODELAY on both
 * sockets (Go's default); when one direction ends, its reading side is shut
 * and the other's writing side (docker-proxy's CloseRead/CloseWrite), and
 * both sockets are closed when both directions have ended. Pipes are kept
 * for reuse, as Go keeps them in a pool. One thread and epoll in place of
 * goroutines.
 *
 *   spliceproxy LISTEN_PORT BACKEND_IPV4 BACKEND_PORT
 *
 * Listens on every IPv4 address. Ends by itself after an hour (alarm). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHUNK 65536

struct conn;
struct end {
	struct conn *c;
	int fd, side; /* side 0: the client, 1: the backend */
	unsigned mask;
};
struct conn {
	struct end e[2];
	int pipe[2][2];     /* pipe[d]: bytes from side d on their way to side 1-d */
	size_t pending[2];  /* bytes in pipe[d] */
	int eof[2];         /* side d has nothing more to send */
	int shut[2];        /* side d's writing half is shut */
	int connecting;
	int dead; /* finished: freed after the current batch of events */
};

static int ep;
static struct sockaddr_in backend;
static int pool[1024][2], pooled;
static struct conn *dead[512];
static int ndead;

static void fail(const char *what) {
	perror(what);
	exit(1);
}

static int get_pipe(int p[2]) {
	if (pooled) {
		pooled--;
		p[0] = pool[pooled][0];
		p[1] = pool[pooled][1];
		return 0;
	}
	return pipe2(p, O_NONBLOCK | O_CLOEXEC);
}

static void put_pipe(int p[2], size_t pending) {
	if (pending == 0 && pooled < 1024) {
		pool[pooled][0] = p[0];
		pool[pooled][1] = p[1];
		pooled++;
	} else {
		close(p[0]);
		close(p[1]);
	}
}

static void finish(struct conn *c) {
	for (int s = 0; s < 2; s++) {
		epoll_ctl(ep, EPOLL_CTL_DEL, c->e[s].fd, NULL);
		close(c->e[s].fd);
		put_pipe(c->pipe[s], c->pending[s]);
	}
	c->dead = 1;
	dead[ndead++] = c; /* at most two per event, 256 events a batch */
}

static void watch(struct end *e) {
	struct conn *c = e->c;
	int s = e->side;
	unsigned mask = 0;
	if (c->connecting) {
		mask = s == 1 ? EPOLLOUT : 0;
	} else {
		if (!c->eof[s] && c->pending[s] == 0)
			mask |= EPOLLIN;
		if (c->pending[1 - s] > 0)
			mask |= EPOLLOUT;
	}
	if (mask != e->mask) {
		struct epoll_event ev = {.events = mask, .data.ptr = e};
		epoll_ctl(ep, EPOLL_CTL_MOD, e->fd, &ev);
		e->mask = mask;
	}
}

/* Moves what side d sends to side 1-d until either would block;
 * -1 on an error (the connection is then closed). */
static int relay(struct conn *c, int d) {
	int from = c->e[d].fd, to = c->e[1 - d].fd;
	for (;;) {
		if (c->pending[d] > 0) {
			ssize_t n = splice(c->pipe[d][0], NULL, to, NULL, c->pending[d], SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n < 0)
				return errno == EAGAIN ? 0 : -1;
			c->pending[d] -= n;
			continue;
		}
		if (c->eof[d]) {
			if (!c->shut[1 - d]) {
				shutdown(from, SHUT_RD);
				shutdown(to, SHUT_WR);
				c->shut[1 - d] = 1;
			}
			return 0;
		}
		ssize_t n = splice(from, NULL, c->pipe[d][1], NULL, CHUNK, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n == 0)
			c->eof[d] = 1;
		else if (n < 0)
			return errno == EAGAIN ? 0 : -1;
		else
			c->pending[d] += n;
	}
}

static void nodelay(int fd) {
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void accept_all(int listener) {
	for (;;) {
		int client = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (client < 0)
			return;
		int server = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		struct conn *c = calloc(1, sizeof *c);
		if (server < 0 || !c || get_pipe(c->pipe[0]) || get_pipe(c->pipe[1])) {
			close(client);
			if (server >= 0)
				close(server);
			free(c);
			continue;
		}
		nodelay(client);
		nodelay(server);
		if (connect(server, (struct sockaddr *)&backend, sizeof backend) < 0 && errno != EINPROGRESS) {
			close(client);
			close(server);
			put_pipe(c->pipe[0], 0);
			put_pipe(c->pipe[1], 0);
			free(c);
			continue;
		}
		c->connecting = 1;
		int fds[2] = {client, server};
		for (int s = 0; s < 2; s++) {
			c->e[s] = (struct end){.c = c, .fd = fds[s], .side = s, .mask = s == 1 ? EPOLLOUT : 0};
			struct epoll_event ev = {.events = c->e[s].mask, .data.ptr = &c->e[s]};
			epoll_ctl(ep, EPOLL_CTL_ADD, fds[s], &ev);
		}
	}
}

int main(int argc, char **argv) {
	if (argc != 4) {
		fprintf(stderr, "usage: spliceproxy LISTEN_PORT BACKEND_IPV4 BACKEND_PORT\n");
		return 2;
	}
	alarm(3600);
	backend.sin_family = AF_INET;
	backend.sin_port = htons(atoi(argv[3]));
	if (inet_pton(AF_INET, argv[2], &backend.sin_addr) != 1)
		fail("backend address");
	int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in any = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
	if (bind(listener, (struct sockaddr *)&any, sizeof any) < 0)
		fail("bind");
	if (listen(listener, 4096) < 0)
		fail("listen");
	ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
	struct epoll_event events[256];
	for (;;) {
		int n = epoll_wait(ep, events, 256, -1);
		if (n < 0 && errno != EINTR)
			fail("epoll_wait");
		for (int i = 0; i < n; i++) {
			struct end *e = events[i].data.ptr;
			if (!e) {
				accept_all(listener);
				continue;
			}
			struct conn *c = e->c;
			if (c->dead)
				continue;
			if (c->connecting && e->side == 0) {
				if (events[i].events & (EPOLLERR | EPOLLHUP))
					finish(c);
				continue;
			}
			if (c->connecting) {
				int err = 0;
				socklen_t len = sizeof err;
				getsockopt(e->fd, SOL_SOCKET, SO_ERROR, &err, &len);
				if (err || (events[i].events & EPOLLERR)) {
					finish(c);
					continue;
				}
				c->connecting = 0;
			}
			if (relay(c, 0) < 0 || relay(c, 1) < 0) {
				finish(c);
				continue;
			}
			if (c->eof[0] && c->eof[1] && !c->pending[0] && !c->pending[1]) {
				finish(c);
				continue;
			}
			watch(&c->e[0]);
			watch(&c->e[1]);
		}
		while (ndead)
			free(dead[--ndead]);
	}
}
