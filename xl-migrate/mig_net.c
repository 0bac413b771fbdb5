/*
 * mig_net.c - TCP connect/listen/accept for migration streams.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mig.h"
#include "mig_net.h"

void mig_net_tune(int fd)
{
    int one = 1, buf = 4 << 20;

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
}

static int connect_timeout(int fd, const struct sockaddr *sa, socklen_t len,
                           int timeout_ms)
{
    struct pollfd pfd = { .fd = fd, .events = POLLOUT };
    int flags = fcntl(fd, F_GETFL);
    int err = 0, r;
    socklen_t el = sizeof(err);

    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    r = connect(fd, sa, len);
    if (r < 0 && errno != EINPROGRESS)
        return -errno;
    if (r < 0) {
        do {
            r = poll(&pfd, 1, timeout_ms);
        } while (r < 0 && errno == EINTR);
        if (r == 0)
            return -ETIMEDOUT;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
            return -errno;
        if (err)
            return -err;
    }
    fcntl(fd, F_SETFL, flags);
    return 0;
}

int mig_net_connect(struct xt_ctx *ctx, const char *host, const char *port,
                    int timeout_ms, int *fd_r)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
    struct addrinfo *res = NULL, *ai;
    int fd = -1, rc = -EHOSTUNREACH, r;

    r = getaddrinfo(host, port, &hints, &res);
    if (r)
        return xt_error(ctx, -EHOSTUNREACH, "resolving %s:%s: %s", host,
                        port, gai_strerror(r));
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0) {
            rc = -errno;
            continue;
        }
        mig_net_tune(fd);
        rc = connect_timeout(fd, ai->ai_addr, ai->ai_addrlen, timeout_ms);
        if (rc == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return xt_error(ctx, rc, "connecting to %s:%s", host, port);
    *fd_r = fd;
    return 0;
}

int mig_net_accept(struct xt_ctx *ctx, int listen_fd, int timeout_ms,
                   int *fd_r)
{
    struct pollfd pfd = { .fd = listen_fd, .events = POLLIN };
    int fd, r;

    do {
        r = poll(&pfd, 1, timeout_ms);
    } while (r < 0 && errno == EINTR);
    if (r == 0)
        return xt_error(ctx, -ETIMEDOUT, "no migration connection within "
                        "%d ms", timeout_ms);
    if (r < 0)
        return xt_error(ctx, -errno, "waiting for a connection");
    fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return xt_error(ctx, -errno, "accepting a migration connection");
    mig_net_tune(fd);
    *fd_r = fd;
    return 0;
}

int mig_listen(struct xt_ctx *ctx, const char *host, const char *port,
               int *fd_r)
{
    struct addrinfo hints = {
        .ai_socktype = SOCK_STREAM,
        .ai_flags = AI_PASSIVE,
    };
    struct addrinfo *res = NULL, *ai;
    int fd = -1, rc = -EADDRNOTAVAIL, one = 1, r;

    r = getaddrinfo(host, port, &hints, &res);
    if (r)
        return xt_error(ctx, -EADDRNOTAVAIL, "resolving %s:%s: %s",
                        host ? host : "*", port, gai_strerror(r));
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0) {
            rc = -errno;
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        mig_net_tune(fd);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
            listen(fd, MIG_MAX_STREAMS * 2) == 0)
            break;
        rc = -errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return xt_error(ctx, rc, "listening on %s:%s", host ? host : "*",
                        port);
    *fd_r = fd;
    return 0;
}
