/*
 * mig_chan.c - the migration channel (mig_chan.h): TCP set-up, TLS 1.3
 * with the receiver's key pinned in the handshake, and full reads and
 * writes with one timeout per wait.
 *
 * Sockets stay blocking with SO_RCVTIMEO/SO_SNDTIMEO set to the timeout,
 * so the bulk path costs one sendmsg/readv per batch and no poll; an
 * EAGAIN is the timeout.  Only wrapped fds that are not sockets (tests'
 * pipes) are polled.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/socket.h>
#include <gnutls/x509.h>

#include "mig.h"
#include "mig_chan.h"

/* TLS 1.3 only, AES-GCM first (the CPUs we run on have AES-NI). */
#define TLS_PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:" \
                     "+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305"
#define SOCK_BUF        (4 << 20)
#define PEER_MAX        (NI_MAXHOST + NI_MAXSERV + 2)

struct mig_chan {
    int fd;
    bool is_socket;
    int timeout_ms;
    gnutls_session_t tls;               /* NULL: plain */
    gnutls_certificate_credentials_t cred;  /* the client's, owned */
    char peer[PEER_MAX];
    bool aborted;                       /* shut down: no close_notify */
    /* The pin check of a client handshake (verify_pin). */
    const char *want_pin;
    char got_pin[MIG_PIN_STRLEN + 1];
};

struct mig_tls_server {
    gnutls_certificate_credentials_t cred;
};

/* ---- pins ----------------------------------------------------------- */

/* The pin of a DER certificate: "sha256//" + base64(SHA-256(SPKI)). */
static int pin_of_der(const gnutls_datum_t *der, gnutls_x509_crt_fmt_t fmt,
                      char pin[MIG_PIN_STRLEN + 1])
{
    gnutls_x509_crt_t crt = NULL;
    gnutls_pubkey_t pub = NULL;
    gnutls_datum_t spki = { NULL, 0 }, md = { NULL, 32 }, b64 = { NULL, 0 };
    unsigned char h[32];
    int r;

    r = gnutls_x509_crt_init(&crt);
    if (r < 0)
        return r;
    r = gnutls_x509_crt_import(crt, der, fmt);
    if (r >= 0)
        r = gnutls_pubkey_init(&pub);
    if (r >= 0)
        r = gnutls_pubkey_import_x509(pub, crt, 0);
    if (r >= 0)
        r = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &spki);
    if (r >= 0)
        r = gnutls_hash_fast(GNUTLS_DIG_SHA256, spki.data, spki.size, h);
    md.data = h;
    if (r >= 0)
        r = gnutls_base64_encode2(&md, &b64);
    if (r >= 0 && b64.size + 8 > MIG_PIN_STRLEN)
        r = GNUTLS_E_SHORT_MEMORY_BUFFER;
    if (r >= 0)
        snprintf(pin, MIG_PIN_STRLEN + 1, "sha256//%.*s", (int)b64.size,
                 (const char *)b64.data);
    gnutls_free(b64.data);
    gnutls_free(spki.data);
    if (pub)
        gnutls_pubkey_deinit(pub);
    gnutls_x509_crt_deinit(crt);
    return r < 0 ? r : 0;
}

int mig_tls_pin(struct xt_ctx *ctx, const char *cert_pem,
                char pin[MIG_PIN_STRLEN + 1])
{
    gnutls_datum_t d = { (unsigned char *)cert_pem,
                         (unsigned int)strlen(cert_pem) };
    int r = pin_of_der(&d, GNUTLS_X509_FMT_PEM, pin);

    if (r < 0)
        return xt_error(ctx, -EINVAL, "not a PEM certificate with a public "
                        "key: %s", gnutls_strerror(r));
    return 0;
}

/* The client's check, inside the handshake: the receiver's certificate
 * must hold the pinned key; nothing of ours is sent otherwise. */
static int verify_pin(gnutls_session_t s)
{
    struct mig_chan *c = gnutls_session_get_ptr(s);
    const gnutls_datum_t *certs;
    unsigned n = 0;

    certs = gnutls_certificate_get_peers(s, &n);
    if (!certs || !n ||
        pin_of_der(&certs[0], GNUTLS_X509_FMT_DER, c->got_pin) < 0)
        return GNUTLS_E_CERTIFICATE_ERROR;
    if (strcmp(c->got_pin, c->want_pin) != 0)
        return GNUTLS_E_CERTIFICATE_ERROR;
    return 0;
}

/* ---- TLS set-up ----------------------------------------------------- */

static int tls_fail(struct xt_ctx *ctx, int r, const char *what)
{
    return xt_error(ctx, r == GNUTLS_E_MEMORY_ERROR ? -ENOMEM : -EPROTO,
                    "%s: %s", what, gnutls_strerror(r));
}

int mig_tls_server_new(struct xt_ctx *ctx, const char *cert_pem,
                       const char *key_pem, struct mig_tls_server **srv_r)
{
    struct mig_tls_server *srv = calloc(1, sizeof(*srv));
    gnutls_datum_t c = { (unsigned char *)cert_pem,
                         (unsigned int)(cert_pem ? strlen(cert_pem) : 0) };
    gnutls_datum_t k = { (unsigned char *)key_pem,
                         (unsigned int)(key_pem ? strlen(key_pem) : 0) };
    int r, rc;

    *srv_r = NULL;
    if (!srv)
        return xt_error(ctx, -ENOMEM, "TLS credentials");
    if (!cert_pem || !key_pem) {
        rc = xt_error(ctx, -EINVAL, "a TLS receiver needs a certificate and "
                      "its key");
        goto out;
    }
    r = gnutls_certificate_allocate_credentials(&srv->cred);
    if (r < 0) {
        srv->cred = NULL;
        rc = tls_fail(ctx, r, "TLS credentials");
        goto out;
    }
    r = gnutls_certificate_set_x509_key_mem2(srv->cred, &c, &k,
                                             GNUTLS_X509_FMT_PEM, NULL, 0);
    if (r < 0) {
        rc = xt_error(ctx, -EINVAL, "the receiver's certificate and key: %s",
                      gnutls_strerror(r));
        goto out;
    }
    *srv_r = srv;
    srv = NULL;
    rc = 0;
out:
    mig_tls_server_free(srv);
    return rc;
}

void mig_tls_server_free(struct mig_tls_server *srv)
{
    if (!srv)
        return;
    if (srv->cred)
        gnutls_certificate_free_credentials(srv->cred);
    free(srv);
}

/* Starts a session on c->fd: the server's with srv, else the client's. */
static int tls_start(struct xt_ctx *ctx, struct mig_chan *c,
                     const struct mig_tls_server *srv)
{
    unsigned flags = (srv ? GNUTLS_SERVER : GNUTLS_CLIENT) |
                     GNUTLS_NO_TICKETS | GNUTLS_NO_SIGNAL;
    int r;

    r = gnutls_init(&c->tls, flags);
    if (r < 0) {
        c->tls = NULL;
        return tls_fail(ctx, r, "TLS session");
    }
    gnutls_session_set_ptr(c->tls, c);
    r = gnutls_priority_set_direct(c->tls, TLS_PRIORITY, NULL);
    if (r < 0)
        return tls_fail(ctx, r, "TLS priorities");
    if (srv) {
        r = gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE,
                                   srv->cred);
    } else {
        r = gnutls_certificate_allocate_credentials(&c->cred);
        if (r < 0) {
            c->cred = NULL;
            return tls_fail(ctx, r, "TLS credentials");
        }
        gnutls_session_set_verify_function(c->tls, verify_pin);
        r = gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, c->cred);
    }
    if (r < 0)
        return tls_fail(ctx, r, "TLS credentials");
    gnutls_transport_set_int(c->tls, c->fd);
    gnutls_handshake_set_timeout(c->tls, c->timeout_ms > 0 ?
                                 (unsigned)c->timeout_ms : 0);
    do {
        r = gnutls_handshake(c->tls);
    } while (r < 0 && !gnutls_error_is_fatal(r) && r != GNUTLS_E_AGAIN);
    if (r == 0)
        return 0;
    if (!srv && c->got_pin[0] && strcmp(c->got_pin, c->want_pin))
        return xt_error(ctx, -EACCES, "TLS with %s: the receiver's key is "
                        "%s, not the pinned %s: refused before sending "
                        "anything", c->peer, c->got_pin, c->want_pin);
    if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_TIMEDOUT)
        return xt_error(ctx, -ETIMEDOUT, "TLS handshake with %s: no answer "
                        "within %d ms", c->peer, c->timeout_ms);
    return xt_error(ctx, -EPROTO, "TLS handshake with %s: %s", c->peer,
                    gnutls_strerror(r));
}

/* ---- TCP set-up ----------------------------------------------------- */

static void tune(int fd, int timeout_ms)
{
    int one = 1, buf = SOCK_BUF;
    struct timeval tv = {
        .tv_sec = timeout_ms / 1000,
        .tv_usec = (timeout_ms % 1000) * 1000,
    };

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
    if (timeout_ms > 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    }
}

static bool sa_is_loopback(const struct sockaddr_storage *ss)
{
    static const unsigned char v4mapped_lo[16] = {
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127,
    };

    if (ss->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >>
                24) == 127;
    if (ss->ss_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->
                                   sin6_addr;

        return IN6_IS_ADDR_LOOPBACK(a) || !memcmp(a, v4mapped_lo, 13);
    }
    return false;
}

/* c->peer from the connected socket; whether that peer is loopback. */
static bool note_peer(struct mig_chan *c)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char host[NI_MAXHOST], port[NI_MAXSERV];

    memset(&ss, 0, sizeof(ss));
    if (getpeername(c->fd, (struct sockaddr *)&ss, &sl) < 0 ||
        getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port,
                    sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV)) {
        snprintf(c->peer, sizeof(c->peer), "(unknown peer)");
        return false;
    }
    snprintf(c->peer, sizeof(c->peer), "%s:%s", host, port);
    return sa_is_loopback(&ss);
}

static struct mig_chan *chan_new(int fd, int timeout_ms)
{
    struct mig_chan *c = calloc(1, sizeof(*c));

    if (c) {
        c->fd = fd;
        c->is_socket = true;
        c->timeout_ms = timeout_ms;
    }
    return c;
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

static int tcp_connect(struct xt_ctx *ctx, const char *host,
                       const char *port, int timeout_ms, int *fd_r)
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
        tune(fd, timeout_ms);
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

int mig_chan_connect(struct xt_ctx *ctx, const char *host, const char *port,
                     const struct mig_chan_opts *o, int timeout_ms,
                     struct mig_chan **c_r)
{
    struct mig_chan *c = NULL;
    bool loopback;
    int fd = -1, rc;

    *c_r = NULL;
    if (!o->plain && (!o->pin || strncmp(o->pin, "sha256//", 8)))
        return xt_error(ctx, -EINVAL, "a TLS migration to %s:%s needs the "
                        "receiver's key pin (sha256//...)", host, port);
    rc = tcp_connect(ctx, host, port, timeout_ms, &fd);
    if (rc < 0)
        return rc;
    c = chan_new(fd, timeout_ms);
    if (!c) {
        close(fd);
        return xt_error(ctx, -ENOMEM, "migration channel");
    }
    loopback = note_peer(c);
    if (o->plain && !loopback) {
        rc = xt_error(ctx, -EPERM, "plain TCP to %s refused: plain "
                      "migration channels are for loopback tests only",
                      c->peer);
        goto out;
    }
    if (!o->plain) {
        c->want_pin = o->pin;
        rc = tls_start(ctx, c, NULL);
        if (rc < 0)
            goto out;
    }
    *c_r = c;
    c = NULL;
    rc = 0;
out:
    mig_chan_close(c);
    return rc;
}

int mig_chan_accept(struct xt_ctx *ctx, int listen_fd,
                    const struct mig_tls_server *srv, int wait_ms,
                    int timeout_ms, struct mig_chan **c_r)
{
    struct pollfd pfd = { .fd = listen_fd, .events = POLLIN };
    struct mig_chan *c = NULL;
    int fd, r, rc;

    *c_r = NULL;
    do {
        r = poll(&pfd, 1, wait_ms);
    } while (r < 0 && errno == EINTR);
    if (r == 0)
        return xt_error(ctx, -ETIMEDOUT, "no migration connection within "
                        "%d ms", wait_ms);
    if (r < 0)
        return xt_error(ctx, -errno, "waiting for a connection");
    fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return xt_error(ctx, -errno, "accepting a migration connection");
    tune(fd, timeout_ms);
    c = chan_new(fd, timeout_ms);
    if (!c) {
        close(fd);
        return xt_error(ctx, -ENOMEM, "migration channel");
    }
    if (!note_peer(c) && !srv) {
        rc = xt_error(ctx, -EPERM, "plain TCP from %s refused: plain "
                      "migration channels are for loopback tests only",
                      c->peer);
        goto out;
    }
    if (srv) {
        rc = tls_start(ctx, c, srv);
        if (rc < 0) {
            /* A candidate that failed its handshake, even by taking too
             * long: not the listening socket's timeout. */
            rc = -ECONNABORTED;
            goto out;
        }
    }
    *c_r = c;
    c = NULL;
    rc = 0;
out:
    mig_chan_close(c);
    return rc;
}

int mig_chan_wrap(struct xt_ctx *ctx, int fd, int timeout_ms,
                  struct mig_chan **c_r)
{
    struct mig_chan *c = chan_new(fd, timeout_ms);
    struct stat st;

    *c_r = NULL;
    if (!c)
        return xt_error(ctx, -ENOMEM, "migration channel");
    c->is_socket = fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
    if (c->is_socket)
        tune(fd, timeout_ms);
    snprintf(c->peer, sizeof(c->peer), "fd %d", fd);
    *c_r = c;
    return 0;
}

/* ---- I/O ------------------------------------------------------------ */

/* The rc of a failed plain read or write: EAGAIN is SO_*TIMEO's. */
static int io_rc(int e)
{
    if (e == EAGAIN || e == EWOULDBLOCK)
        return -ETIMEDOUT;
    return -e;
}

static int tls_rc(ssize_t r)
{
    switch (r) {
    case GNUTLS_E_AGAIN:
    case GNUTLS_E_TIMEDOUT:
        return -ETIMEDOUT;
    case GNUTLS_E_PUSH_ERROR:
    case GNUTLS_E_PREMATURE_TERMINATION:
        return -EPIPE;
    case GNUTLS_E_PULL_ERROR:
        return -ECONNRESET;
    default:
        return -EIO;
    }
}

/* A wrapped fd that is no socket gets no SO_RCVTIMEO: poll it. */
static int wait_readable(struct mig_chan *c)
{
    struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
    int r;

    if (c->is_socket)
        return 0;
    do {
        r = poll(&pfd, 1, c->timeout_ms > 0 ? c->timeout_ms : -1);
    } while (r < 0 && errno == EINTR);
    if (r == 0)
        return -ETIMEDOUT;
    return r < 0 ? -errno : 0;
}

/* Advances iov[0..n) by done bytes (*iov_r, *n_r point at what is left). */
static void iov_advance(struct iovec *iov, int *first, int n, size_t done)
{
    while (*first < n && done >= iov[*first].iov_len) {
        done -= iov[*first].iov_len;
        (*first)++;
    }
    if (*first < n) {
        iov[*first].iov_base = (char *)iov[*first].iov_base + done;
        iov[*first].iov_len -= done;
    }
}

static int plain_writev(struct mig_chan *c, struct iovec *iov, int n)
{
    int first = 0;

    while (first < n) {
        struct msghdr mh = {
            .msg_iov = iov + first,
            .msg_iovlen = (size_t)(n - first < IOV_MAX ? n - first
                                                        : IOV_MAX),
        };
        ssize_t r = sendmsg(c->fd, &mh, MSG_NOSIGNAL);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return io_rc(errno);
        iov_advance(iov, &first, n, (size_t)r);
    }
    return 0;
}

static int tls_send_all(struct mig_chan *c, const void *buf, size_t len)
{
    const char *p = buf;

    while (len) {
        ssize_t r = gnutls_record_send(c->tls, p, len);

        if (r == GNUTLS_E_INTERRUPTED)
            continue;
        if (r < 0)
            return tls_rc(r);
        p += r;
        len -= (size_t)r;
    }
    return 0;
}

/* Corked: the pieces go out as whole records, then one flush. */
static int tls_writev(struct mig_chan *c, const struct iovec *iov, int n)
{
    int i, rc = 0;
    ssize_t r;

    gnutls_record_cork(c->tls);
    for (i = 0; i < n && rc == 0; i++)
        rc = tls_send_all(c, iov[i].iov_base, iov[i].iov_len);
    do {
        r = gnutls_record_uncork(c->tls, GNUTLS_RECORD_WAIT);
    } while (r == GNUTLS_E_INTERRUPTED);
    if (rc == 0 && r < 0)
        rc = tls_rc(r);
    return rc;
}

int mig_chan_writev(struct mig_chan *c, const struct iovec *iov, int n)
{
    struct iovec local[64], *v = local;
    int rc;

    if (c->tls)
        return tls_writev(c, iov, n);
    /* sendmsg advances through a copy: the caller's iovec stays. */
    if (n > (int)(sizeof(local) / sizeof(local[0]))) {
        v = malloc((size_t)n * sizeof(*v));
        if (!v)
            return -ENOMEM;
    }
    memcpy(v, iov, (size_t)n * sizeof(*v));
    rc = plain_writev(c, v, n);
    if (v != local)
        free(v);
    return rc;
}

int mig_chan_write(struct mig_chan *c, const void *buf, size_t len)
{
    struct iovec iov = { (void *)buf, len };

    if (c->tls)
        return tls_send_all(c, buf, len);
    return plain_writev(c, &iov, 1);
}

static ssize_t chan_recv(struct mig_chan *c, struct iovec *iov, int n)
{
    ssize_t r;
    int rc;

    if (c->tls) {
        do {
            r = gnutls_record_recv(c->tls, iov[0].iov_base, iov[0].iov_len);
        } while (r == GNUTLS_E_INTERRUPTED);
        return r < 0 ? tls_rc(r) : r;
    }
    rc = wait_readable(c);
    if (rc < 0)
        return rc;
    do {
        r = readv(c->fd, iov, n < IOV_MAX ? n : IOV_MAX);
    } while (r < 0 && errno == EINTR);
    return r < 0 ? io_rc(errno) : r;
}

int mig_chan_readv(struct mig_chan *c, const struct iovec *iov, int n,
                   size_t *done_r)
{
    struct iovec local[64], *v = local;
    size_t done = 0;
    int first = 0, rc = 0;

    if (n > (int)(sizeof(local) / sizeof(local[0]))) {
        v = malloc((size_t)n * sizeof(*v));
        if (!v)
            return -ENOMEM;
    }
    memcpy(v, iov, (size_t)n * sizeof(*v));
    while (first < n) {
        ssize_t r;

        if (!v[first].iov_len) {
            first++;
            continue;
        }
        r = chan_recv(c, v + first, n - first);
        if (r < 0) {
            rc = (int)r;
            break;
        }
        if (r == 0) {
            rc = -EPIPE;
            break;
        }
        done += (size_t)r;
        iov_advance(v, &first, n, (size_t)r);
    }
    if (v != local)
        free(v);
    if (done_r)
        *done_r = done;
    return rc;
}

int mig_chan_read(struct mig_chan *c, void *buf, size_t len, size_t *done_r)
{
    struct iovec iov = { buf, len };

    return mig_chan_readv(c, &iov, 1, done_r);
}

/* ---- state ---------------------------------------------------------- */

bool mig_chan_readable(struct mig_chan *c, int wait_ms)
{
    struct pollfd pfd = { .fd = c->fd, .events = POLLIN };

    if (c->tls && gnutls_record_check_pending(c->tls))
        return true;
    return poll(&pfd, 1, wait_ms) == 1;
}

int mig_chan_wait(struct mig_chan *c, int stop_fd, int wait_ms)
{
    struct pollfd pfd[2] = {
        { .fd = c->fd, .events = POLLIN },
        { .fd = stop_fd, .events = POLLIN },
    };
    int r;

    if (c->tls && gnutls_record_check_pending(c->tls))
        return 0;
    do {
        r = poll(pfd, stop_fd >= 0 ? 2 : 1, wait_ms);
    } while (r < 0 && errno == EINTR);
    if (r < 0)
        return -errno;
    if (r == 0)
        return -ETIMEDOUT;
    return stop_fd >= 0 && pfd[1].revents ? -ECANCELED : 0;
}

bool mig_chan_peer_gone(struct mig_chan *c)
{
    struct pollfd pfd = { .fd = c->fd, .events = POLLIN | POLLRDHUP };

    if (poll(&pfd, 1, 0) <= 0)
        return false;
    return pfd.revents & (POLLRDHUP | POLLHUP | POLLERR);
}

void mig_chan_abort(struct mig_chan *c)
{
    if (c && c->fd >= 0) {
        c->aborted = true;
        shutdown(c->fd, SHUT_RDWR);
    }
}

void mig_chan_close(struct mig_chan *c)
{
    if (!c)
        return;
    if (c->tls) {
        /* close_notify, without waiting for the peer's; none on a
         * connection shut down (it could only wait for the timeout). */
        if (!c->aborted)
            gnutls_bye(c->tls, GNUTLS_SHUT_WR);
        gnutls_deinit(c->tls);
    }
    if (c->cred)
        gnutls_certificate_free_credentials(c->cred);
    if (c->fd >= 0)
        close(c->fd);
    free(c);
}

void mig_chan_close_after(struct mig_chan *c, int wait_ms)
{
    uint64_t end = xt_now_ns() + (uint64_t)wait_ms * 1000000ull;
    char buf[4096];

    if (!c)
        return;
    if (c->tls && !c->aborted)
        gnutls_bye(c->tls, GNUTLS_SHUT_WR);
    shutdown(c->fd, SHUT_WR);
    while (xt_now_ns() < end) {
        struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
        int left = (int)((end - xt_now_ns()) / 1000000) + 1;

        if (poll(&pfd, 1, left) != 1 ||
            recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0)
            break;
    }
    c->aborted = true;      /* the close_notify went already */
    mig_chan_close(c);
}

bool mig_chan_is_tls(const struct mig_chan *c)
{
    return c->tls != NULL;
}

bool mig_chan_is_ktls(const struct mig_chan *c)
{
    return c->tls && gnutls_transport_is_ktls_enabled(c->tls) ==
                     GNUTLS_KTLS_DUPLEX;
}

const char *mig_chan_peer(const struct mig_chan *c)
{
    return c->peer;
}
