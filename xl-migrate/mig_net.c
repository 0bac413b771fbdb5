/*
 * mig_net.c - the receiver's listening socket (connections themselves are
 * mig_chan.c's).
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
