/* The floor of the load benchmarks: an HTTP "server" that does no work.
 *
 * It answers every read on a keep-alive connection with one fixed response (the bytes
 * oxiresty sends for `ngx.say("hello")`), without parsing anything. What it costs per
 * request under bench/run.py's wrk is the kernel's part (accept once, then recv + send
 * per request, the loopback TCP work, waking wrk, epoll or io_uring) plus almost no user
 * space: no real server can cost less in the same setup.
 *
 * Two event loops, so that the choice between them is measured rather than guessed:
 *   floor epoll PORT   edge-triggered epoll, one recv and one send per request (as nginx
 *                      and tokio do)
 *   floor uring PORT   io_uring: multishot accept, multishot recv into a provided-buffer
 *                      ring, sends queued and submitted in one io_uring_enter per batch
 *                      (single issuer, deferred task work, no completion for sends)
 *   floor proxy PORT UPSTREAM_PORT
 *                      the floor of a proxy (scenario D): each client connection gets its
 *                      own upstream connection for life (no connects while it runs, no
 *                      parsing), and whatever one side sends is passed to the other with
 *                      one recv and one send (level-triggered epoll)
 *   floor proxy-pool PORT UPSTREAM_PORT KEEP
 *                      the same with D's upstream rules: a request takes the most recently
 *                      kept idle upstream connection, or connects when none is idle; the
 *                      answer (one recv: the upstream's 1 KiB comes in one segment) goes
 *                      to the client and the connection back to the pool, which keeps at
 *                      most KEEP idle ones and closes the least recently used beyond that,
 *                      as nginx's `keepalive KEEP`
 *
 * Built by bench/run.py: gcc -O2 -o floor floor.c -luring
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static const char RESPONSE[] =
    "HTTP/1.1 200 OK\r\nServer: floor\r\nDate: Sat, 28 Nov 2026 00:00:00 GMT\r\n"
    "Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"
    "6\r\nhello\n\r\n0\r\n\r\n";
static const int ONE = 1;

static struct sockaddr_in loopback(int port) {
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    return addr;
}

/* Level-triggered read interest in `fd`. */
static void watch(int ep, int fd) {
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static int listener(int port, int flags) {
    int fd = socket(AF_INET, SOCK_STREAM | flags, 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &ONE, sizeof ONE);
    struct sockaddr_in addr = loopback(port);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) || listen(fd, 4096)) {
        perror("floor: listen");
        exit(1);
    }
    return fd;
}

static void run_epoll(int port) {
    int ls = listener(port, SOCK_NONBLOCK), ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls}, events[512];
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    char buf[1024];
    for (;;) {
        int n = epoll_wait(ep, events, 512, -1);
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd, conn;
            if (fd == ls) {
                while ((conn = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &ONE, sizeof ONE);
                    struct epoll_event c = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                            .data.fd = conn};
                    epoll_ctl(ep, EPOLL_CTL_ADD, conn, &c);
                }
                continue;
            }
            if (!(events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)))
                continue;
            ssize_t got = recv(fd, buf, sizeof buf, 0);
            if (got == 0 || (got < 0 && errno != EAGAIN))
                close(fd);
            else if (got > 0)
                send(fd, RESPONSE, sizeof RESPONSE - 1, 0);
        }
    }
}

static void run_proxy(int port, int upstream_port) {
    static int peer[65536];
    int ls = listener(port, SOCK_NONBLOCK), ep = epoll_create1(0);
    struct epoll_event events[512];
    watch(ep, ls);
    struct sockaddr_in up = loopback(upstream_port);
    static char buf[65536];
    for (;;) {
        int n = epoll_wait(ep, events, 512, -1);
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd, conn;
            if (fd == ls) {
                while ((conn = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    int u = socket(AF_INET, SOCK_STREAM, 0);
                    if (u < 0 || u >= 65536 || conn >= 65536 ||
                        connect(u, (struct sockaddr *)&up, sizeof up)) {
                        perror("floor: upstream connect");
                        close(conn);
                        if (u >= 0)
                            close(u);
                        continue;
                    }
                    int flags = SOCK_NONBLOCK;
                    ioctl(u, FIONBIO, &flags);
                    setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &ONE, sizeof ONE);
                    setsockopt(u, IPPROTO_TCP, TCP_NODELAY, &ONE, sizeof ONE);
                    peer[conn] = u;
                    peer[u] = conn;
                    watch(ep, conn);
                    watch(ep, u);
                }
                continue;
            }
            ssize_t got = recv(fd, buf, sizeof buf, 0);
            if (got == 0 || (got < 0 && errno != EAGAIN)) {
                close(peer[fd]);
                close(fd);
            } else if (got > 0) {
                send(peer[fd], buf, got, 0);
            }
        }
    }
}

/* For proxy-pool: fds are clients or upstreams (role), each busy one paired with the
 * other side (pair; -1 when a client waits for nothing, or an upstream idles); idle
 * upstreams in a stack, the most recent on top, the least recent at the bottom. */
enum { NONE, CLIENT, UPSTREAM };
static int role[65536], pair[65536], idle[65536], idle_count;

static void pool_keep(int u, int keep) {
    pair[u] = -1;
    if (keep <= 0) {
        role[u] = NONE;
        close(u);
        return;
    }
    if (idle_count == keep) { /* full: the least recently kept one goes */
        close(idle[0]);
        role[idle[0]] = NONE;
        memmove(idle, idle + 1, (size_t)(idle_count - 1) * sizeof idle[0]);
        idle_count--;
    }
    idle[idle_count++] = u;
}

static int pool_take(int ep, const struct sockaddr_in *up) {
    if (idle_count > 0)
        return idle[--idle_count];
    int u = socket(AF_INET, SOCK_STREAM, 0);
    if (u < 0 || u >= 65536 || connect(u, (const struct sockaddr *)up, sizeof *up)) {
        perror("floor: upstream connect");
        if (u >= 0)
            close(u);
        return -1;
    }
    int flags = 1;
    ioctl(u, FIONBIO, &flags);
    setsockopt(u, IPPROTO_TCP, TCP_NODELAY, &ONE, sizeof ONE);
    role[u] = UPSTREAM;
    watch(ep, u);
    return u;
}

static void run_proxy_pool(int port, int upstream_port, int keep) {
    int ls = listener(port, SOCK_NONBLOCK), ep = epoll_create1(0);
    struct epoll_event events[512];
    watch(ep, ls);
    struct sockaddr_in up = loopback(upstream_port);
    static char buf[65536];
    for (;;) {
        int n = epoll_wait(ep, events, 512, -1);
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd, conn;
            if (fd == ls) {
                while ((conn = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    if (conn >= 65536) {
                        close(conn);
                        continue;
                    }
                    setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &ONE, sizeof ONE);
                    role[conn] = CLIENT;
                    pair[conn] = -1;
                    watch(ep, conn);
                }
                continue;
            }
            if (role[fd] == NONE)
                continue; /* closed earlier in this batch */
            ssize_t got = recv(fd, buf, sizeof buf, 0);
            if (got < 0 && errno == EAGAIN)
                continue;
            if (got <= 0) { /* a client or an upstream went: its pair goes too */
                int other = pair[fd];
                if (role[fd] == UPSTREAM && other < 0) { /* an idle one: out of the pool */
                    for (int k = 0; k < idle_count; k++)
                        if (idle[k] == fd) {
                            memmove(idle + k, idle + k + 1, (size_t)(idle_count - k - 1) * sizeof idle[0]);
                            idle_count--;
                            break;
                        }
                }
                role[fd] = NONE;
                close(fd);
                if (other >= 0) {
                    role[other] = NONE;
                    close(other);
                }
                continue;
            }
            if (role[fd] == CLIENT) {
                int u = pool_take(ep, &up);
                if (u < 0) {
                    role[fd] = NONE;
                    close(fd);
                    continue;
                }
                pair[fd] = u;
                pair[u] = fd;
                send(u, buf, got, 0);
            } else if (pair[fd] >= 0) { /* the answer: to its client, the connection kept */
                int c = pair[fd];
                send(c, buf, got, 0);
                pair[c] = -1;
                pool_keep(fd, keep);
            }
        }
    }
}

enum { ACCEPT = 1, RECV = 2, SEND = 3 };
#define BUFFERS 1024
#define BUFFER_SIZE 1024
#define GROUP 1

static struct io_uring_sqe *next_sqe(struct io_uring *ring) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    if (!sqe) { /* the submission queue is full: hand it to the kernel first */
        io_uring_submit(ring);
        sqe = io_uring_get_sqe(ring);
    }
    return sqe;
}

static void arm_recv(struct io_uring *ring, int fd) {
    struct io_uring_sqe *sqe = next_sqe(ring);
    io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = GROUP;
    io_uring_sqe_set_data64(sqe, ((unsigned long long)RECV << 32) | (unsigned)fd);
}

static int run_uring(int port) {
    int ls = listener(port, 0), err;
    struct io_uring ring;
    struct io_uring_params params = {0};
    params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
    params.cq_entries = 8192;
    if ((err = io_uring_queue_init_params(1024, &ring, &params))) {
        fprintf(stderr, "floor: io_uring_queue_init: %s\n", strerror(-err));
        return 1;
    }
    /* the provided-buffer ring, registered by hand (Debian's liburing 2.3 has no helper) */
    struct io_uring_buf_ring *bufring;
    if (posix_memalign((void **)&bufring, 4096, BUFFERS * sizeof(struct io_uring_buf)))
        return 1;
    struct io_uring_buf_reg reg = {.ring_addr = (unsigned long)bufring, .ring_entries = BUFFERS,
                                   .bgid = GROUP};
    if ((err = io_uring_register_buf_ring(&ring, &reg, 0))) {
        fprintf(stderr, "floor: io_uring_register_buf_ring: %s\n", strerror(-err));
        return 1;
    }
    io_uring_buf_ring_init(bufring);
    char *buffers = malloc(BUFFERS * BUFFER_SIZE);
    int mask = io_uring_buf_ring_mask(BUFFERS);
    for (int i = 0; i < BUFFERS; i++)
        io_uring_buf_ring_add(bufring, buffers + i * BUFFER_SIZE, BUFFER_SIZE, i, mask, i);
    io_uring_buf_ring_advance(bufring, BUFFERS);

    struct io_uring_sqe *sqe = next_sqe(&ring);
    io_uring_prep_multishot_accept(sqe, ls, NULL, NULL, 0);
    io_uring_sqe_set_data64(sqe, (unsigned long long)ACCEPT << 32);
    for (;;) {
        io_uring_submit_and_wait(&ring, 1);
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) {
            seen++;
            int kind = cqe->user_data >> 32, fd = (int)(cqe->user_data & 0xffffffff);
            if (kind == ACCEPT && cqe->res >= 0) {
                setsockopt(cqe->res, IPPROTO_TCP, TCP_NODELAY, &ONE, sizeof ONE);
                arm_recv(&ring, cqe->res);
            } else if (kind == RECV) {
                if (cqe->res <= 0) { /* closed, reset, or out of buffers */
                    close(fd);
                    continue;
                }
                int id = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
                io_uring_buf_ring_add(bufring, buffers + id * BUFFER_SIZE, BUFFER_SIZE, id, mask, 0);
                io_uring_buf_ring_advance(bufring, 1);
                struct io_uring_sqe *send = next_sqe(&ring);
                io_uring_prep_send(send, fd, RESPONSE, sizeof RESPONSE - 1, 0);
                send->flags |= IOSQE_CQE_SKIP_SUCCESS;
                io_uring_sqe_set_data64(send, ((unsigned long long)SEND << 32) | (unsigned)fd);
                if (!(cqe->flags & IORING_CQE_F_MORE))
                    arm_recv(&ring, fd);
            }
        }
        io_uring_cq_advance(&ring, seen);
    }
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "proxy")) {
        run_proxy(atoi(argv[2]), atoi(argv[3]));
        return 0;
    }
    if (argc == 5 && !strcmp(argv[1], "proxy-pool")) {
        run_proxy_pool(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
        return 0;
    }
    if (argc != 3 || (strcmp(argv[1], "epoll") && strcmp(argv[1], "uring"))) {
        fprintf(stderr, "usage: floor epoll|uring PORT | floor proxy PORT UPSTREAM_PORT"
                        " | floor proxy-pool PORT UPSTREAM_PORT KEEP\n");
        return 2;
    }
    int port = atoi(argv[2]);
    if (!strcmp(argv[1], "epoll"))
        run_epoll(port);
    return run_uring(port);
}
