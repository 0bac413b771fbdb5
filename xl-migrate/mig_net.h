/*
 * mig_net.h - TCP helpers of the migration engine.  Internal.
 */
#ifndef MIG_NET_H
#define MIG_NET_H

#include "xt.h"

/* Connects to host:port (numeric or name), TCP_NODELAY, large buffers;
 * timeout_ms bounds the connect. */
int mig_net_connect(struct xt_ctx *ctx, const char *host, const char *port,
                    int timeout_ms, int *fd_r);
/* Accepts one connection within timeout_ms (< 0: forever). */
int mig_net_accept(struct xt_ctx *ctx, int listen_fd, int timeout_ms,
                   int *fd_r);
/* Socket options for bulk transfer. */
void mig_net_tune(int fd);

#endif /* MIG_NET_H */
