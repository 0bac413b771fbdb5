/*
 * mig_chan.h - the migration channel: one connection of a migration, over
 * TLS 1.3 (GnuTLS) with the receiver's key pinned, or plain TCP between
 * loopback addresses for tests (docs/design/migration.md, "The channel").  Internal to
 * xl-migrate/.
 *
 * Every wait is bounded by the channel's timeout.  A channel is used by
 * one thread at a time for writing and one for reading; mig_chan_abort
 * may be called from any thread to wake both (it shuts the socket down).
 */
#ifndef MIG_CHAN_H
#define MIG_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "mig.h"
#include "xt.h"

struct mig_chan;

/* The receiver's TLS credentials, made once for all its connections. */
struct mig_tls_server;
int mig_tls_server_new(struct xt_ctx *ctx, const char *cert_pem,
                       const char *key_pem, struct mig_tls_server **srv_r);
void mig_tls_server_free(struct mig_tls_server *srv);

/*
 * Connects to host:port and, unless o->plain, runs the TLS handshake: the
 * receiver's certificate must carry the key o->pin names, checked inside
 * the handshake, before any byte of ours is sent.  A plain channel is
 * refused (-EPERM) unless the peer's address is a loopback one.
 * timeout_ms bounds the connection and the handshake, then every later
 * wait.  *c_r: free with mig_chan_close().
 */
int mig_chan_connect(struct xt_ctx *ctx, const char *host, const char *port,
                     const struct mig_chan_opts *o, int timeout_ms,
                     struct mig_chan **c_r);

/*
 * Accepts one connection on listen_fd within wait_ms (-ETIMEDOUT: none
 * came), then (srv not NULL) its TLS handshake within timeout_ms.  A plain
 * channel (srv NULL) takes loopback peers only.  A candidate that fails is
 * reported and closed (-ECONNABORTED for its handshake, -EPERM for a plain
 * peer not on loopback): the caller may accept again.
 */
int mig_chan_accept(struct xt_ctx *ctx, int listen_fd,
                    const struct mig_tls_server *srv, int wait_ms,
                    int timeout_ms, struct mig_chan **c_r);

/* A plain channel over an fd that is already connected (a pipe, a
 * socketpair: tests).  The channel owns fd from here on. */
int mig_chan_wrap(struct xt_ctx *ctx, int fd, int timeout_ms,
                  struct mig_chan **c_r);

/*
 * Writes everything, or fails: 0, -ETIMEDOUT, -EPIPE (the peer is gone),
 * -ECONNRESET, -EIO; not reported (the caller knows what it was writing).
 * The iovec is not kept.
 */
int mig_chan_write(struct mig_chan *c, const void *buf, size_t len);
int mig_chan_writev(struct mig_chan *c, const struct iovec *iov, int n);

/*
 * Reads exactly len bytes (or fills the iovec): 0, -EPIPE at end of file
 * (*done_r: the bytes that came), -ETIMEDOUT, -ECONNRESET, -EIO; not
 * reported.
 */
int mig_chan_read(struct mig_chan *c, void *buf, size_t len, size_t *done_r);
int mig_chan_readv(struct mig_chan *c, const struct iovec *iov, int n,
                   size_t *done_r);

/* Whether something can be read within wait_ms. */
bool mig_chan_readable(struct mig_chan *c, int wait_ms);
/* Waits until c can be read (0) or stop_fd (-1: none) is readable
 * (-ECANCELED), at most wait_ms (-ETIMEDOUT); not reported. */
int mig_chan_wait(struct mig_chan *c, int stop_fd, int wait_ms);
/* Whether the peer has closed or reset the connection, without waiting. */
bool mig_chan_peer_gone(struct mig_chan *c);
/* Shuts the connection down: blocked reads and writes on it return. */
void mig_chan_abort(struct mig_chan *c);
/* Closes cleanly (TLS: close_notify) and frees; NULL-safe. */
void mig_chan_close(struct mig_chan *c);
/* The same after telling the peer why (an ABORT): our side is shut for
 * writing and what the peer still sends is read and dropped, for at most
 * wait_ms, so that closing does not reset the connection and lose what
 * we said. */
void mig_chan_close_after(struct mig_chan *c, int wait_ms);

/* Whether the channel is TLS, and whether GnuTLS handed its record layer
 * to the kernel (kTLS: only where GnuTLS is configured for it and the
 * kernel has its tls module). */
bool mig_chan_is_tls(const struct mig_chan *c);
bool mig_chan_is_ktls(const struct mig_chan *c);
/* The peer's numeric address, for messages. */
const char *mig_chan_peer(const struct mig_chan *c);

#endif /* MIG_CHAN_H */
