/*
 * pd_http.c - the daemon's HTTP(S) server on libmicrohttpd: one listener
 * for HTTPS and, for loopback tests, one for plain HTTP, both running a
 * thread per connection and handing each complete POST body to the
 * service's handler.
 *
 * Request bodies are collected in memory up to max_body. A Content-Length
 * above it is refused with 413: at once, before any of the body is read,
 * when it is over max_body + DISCARD_MAX; otherwise after reading and
 * dropping the body, because a client that sent it without waiting for
 * "100 Continue" (curl below 1 MiB, most XML-RPC libraries) would see the
 * connection reset, not the 413, if it were closed with the body unread.
 * A chunked body that grows past max_body is dropped on the spot (the
 * connection closes, nothing more is read or kept).
 *
 * Stopping stops accepting first, then waits for the requests whose
 * handler was called until their answers are sent (or their connections
 * end), then closes every connection: a call the service woke on its way
 * down still gets its answer.
 */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "pd_internal.h"

#define TLS_PRIORITIES  "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define FIRST_BODY_CAP  4096
#define DISCARD_MAX     (1u << 20)  /* excess body read and dropped for a 413 */
#define PEER_MAX        INET6_ADDRSTRLEN

struct listener {
    struct pd_server *srv;
    struct MHD_Daemon *mhd;
    const char *scheme;         /* "https" or "http" */
    uint16_t port;              /* bound */
};

struct pd_server {
    struct xt_ctx *log_ctx;     /* logging only, from any thread */
    pd_handler_fn handler;
    void *opaque;
    char **paths;               /* NULL-terminated */
    uint64_t max_body;
    char *cert_pem, *key_pem;   /* copies, alive while MHD runs */
    size_t key_len;
    struct listener https, http;
    pthread_mutex_t lock;       /* guards answering */
    pthread_cond_t answered;    /* answering dropped */
    unsigned int answering;     /* requests handled, answer not yet sent */
};

/* The state of one request between MHD's calls. */
struct request {
    char *body;
    size_t len, cap;
    bool too_big;               /* answer 413 once the body is complete */
    bool discard;               /* over max_body by Content-Length: drop */
    bool handled;               /* counted in srv->answering */
};

/* XML-RPC at "/" and "/xmlrpc" (where Xen Orchestra's xen-api posts). */
static const char *const default_paths[] = {
    "/", "/xmlrpc", "/jsonrpc", NULL
};

static bool known_path(const struct pd_server *srv, const char *url)
{
    size_t i;

    for (i = 0; srv->paths[i]; i++) {
        if (strcmp(srv->paths[i], url) == 0)
            return true;
    }
    return false;
}

/* The numeric address of the peer, IPv4-mapped IPv6 shown as IPv4. */
static void peer_address(struct MHD_Connection *conn, char peer[PEER_MAX])
{
    const union MHD_ConnectionInfo *ci;
    const struct sockaddr *sa;
    socklen_t len;

    strcpy(peer, "unknown");
    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return;
    sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        len = sizeof(struct sockaddr_in);
    else if (sa->sa_family == AF_INET6)
        len = sizeof(struct sockaddr_in6);
    else
        return;
    if (getnameinfo(sa, len, peer, PEER_MAX, NULL, 0, NI_NUMERICHOST) != 0)
        strcpy(peer, "unknown");
    else if (strncmp(peer, "::ffff:", 7) == 0 && strchr(peer + 7, '.'))
        memmove(peer, peer + 7, strlen(peer + 7) + 1);
}

/* Queues a response whose body is a literal. */
static enum MHD_Result reply_static(struct MHD_Connection *conn,
                                    unsigned int status, const char *text,
                                    const char *allow)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    resp = MHD_create_response_from_buffer(strlen(text), (void *)text,
                                           MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "text/plain; charset=utf-8");
    if (allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* 413, naming the limit. */
static enum MHD_Result reply_too_big(struct pd_server *srv,
                                     struct MHD_Connection *conn,
                                     const char *peer, const char *url)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    char *text = NULL;
    int n;

    xt_warn(srv->log_ctx, "%s: POST %s: body over max_body (%llu bytes) "
            "refused", peer, url, (unsigned long long)srv->max_body);
    n = asprintf(&text, "request body larger than the limit of %llu bytes "
                 "(max_body)\n", (unsigned long long)srv->max_body);
    if (n < 0)
        return MHD_NO;
    resp = MHD_create_response_from_buffer((size_t)n, text,
                                           MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "text/plain; charset=utf-8");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    ret = MHD_queue_response(conn, MHD_HTTP_CONTENT_TOO_LARGE, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Appends n bytes to the body; false when it would exceed max_body. */
static bool append_body(struct pd_server *srv, struct request *req,
                        const char *data, size_t n)
{
    size_t cap;
    char *grown;

    if (n > srv->max_body - req->len)
        return false;
    if (req->len + n + 1 > req->cap) {
        cap = req->cap ? req->cap : FIRST_BODY_CAP;
        while (cap < req->len + n + 1)
            cap *= 2;
        if (cap > srv->max_body + 1)
            cap = (size_t)srv->max_body + 1;
        grown = realloc(req->body, cap);
        if (!grown)
            return false;
        req->body = grown;
        req->cap = cap;
    }
    memcpy(req->body + req->len, data, n);
    req->len += n;
    req->body[req->len] = '\0';
    return true;
}

/* Runs the handler on a complete request and queues its answer. */
static enum MHD_Result dispatch(struct pd_server *srv,
                                struct MHD_Connection *conn,
                                struct request *req, const char *url,
                                const char *peer)
{
    struct pd_response resp = { 0 };
    struct MHD_Response *mresp;
    const char *ctype;
    enum MHD_Result ret;
    int rc;

    ctype = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                        MHD_HTTP_HEADER_CONTENT_TYPE);
    pthread_mutex_lock(&srv->lock);
    srv->answering++;
    req->handled = true;
    pthread_mutex_unlock(&srv->lock);
    rc = srv->handler(srv->opaque, url, ctype, req->body ? req->body : "",
                      req->len, peer, &resp);
    if (rc < 0 || resp.status < 0 || resp.status > 999 ||
        (!resp.body && resp.len)) {
        xt_warn(srv->log_ctx, "%s: POST %s: handler failed (%d)", peer, url,
                rc);
        free(resp.body);
        return reply_static(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                            "internal server error\n", NULL);
    }
    if (resp.status == 0)
        resp.status = MHD_HTTP_OK;
    xt_debug(srv->log_ctx, "%s: POST %s (%zu bytes): %d (%zu bytes)", peer,
             url, req->len, resp.status, resp.len);
    if (resp.body)
        mresp = MHD_create_response_from_buffer(resp.len, resp.body,
                                                MHD_RESPMEM_MUST_FREE);
    else
        mresp = MHD_create_response_from_buffer(0, (void *)"",
                                                MHD_RESPMEM_PERSISTENT);
    if (!mresp) {
        free(resp.body);
        return MHD_NO;
    }
    if (resp.content_type)
        MHD_add_response_header(mresp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                resp.content_type);
    ret = MHD_queue_response(conn, (unsigned int)resp.status, mresp);
    MHD_destroy_response(mresp);
    return ret;
}

/* MHD calls this once with the headers, once per piece of body, and once
 * more when the body is complete. */
static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn,
                                 const char *url, const char *method,
                                 const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
    struct listener *l = cls;
    struct pd_server *srv = l->srv;
    struct request *req = *con_cls;
    char peer[PEER_MAX];
    const char *clen;
    char *end;
    unsigned long long n;
    bool over = false;

    if (!req) {
        peer_address(conn, peer);
        if (!known_path(srv, url)) {
            xt_debug(srv->log_ctx, "%s: %s %s: 404", peer, method, url);
            return reply_static(conn, MHD_HTTP_NOT_FOUND, "not found\n",
                                NULL);
        }
        if (strcmp(method, MHD_HTTP_METHOD_POST) != 0) {
            xt_debug(srv->log_ctx, "%s: %s %s: 405", peer, method, url);
            return reply_static(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                                "method not allowed: use POST\n", "POST");
        }
        clen = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                           MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (clen) {
            errno = 0;
            n = strtoull(clen, &end, 10);
            if (errno == ERANGE || (end != clen &&
                                    n > srv->max_body + DISCARD_MAX))
                return reply_too_big(srv, conn, peer, url);
            over = end != clen && n > srv->max_body;
        }
        req = calloc(1, sizeof(*req));
        if (!req)
            return MHD_NO;
        req->discard = req->too_big = over;
        *con_cls = req;
        return MHD_YES;
    }

    if (*upload_size && req->discard) {
        *upload_size = 0;       /* bounded by Content-Length */
        return MHD_YES;
    }
    if (*upload_size) {
        if (!req->too_big && !append_body(srv, req, upload, *upload_size)) {
            /* Chunked and too big (or out of memory): keep nothing and
             * read no more; MHD closes the connection. */
            peer_address(conn, peer);
            xt_warn(srv->log_ctx, "%s: POST %s: chunked body over max_body "
                    "(%llu bytes), connection closed", peer, url,
                    (unsigned long long)srv->max_body);
            req->too_big = true;
            free(req->body);
            req->body = NULL;
            req->len = req->cap = 0;
            return MHD_NO;
        }
        *upload_size = 0;
        return MHD_YES;
    }

    peer_address(conn, peer);
    if (req->too_big)
        return reply_too_big(srv, conn, peer, url);
    return dispatch(srv, conn, req, url, peer);
}

static void on_completed(void *cls, struct MHD_Connection *conn,
                         void **con_cls, enum MHD_RequestTerminationCode toe)
{
    struct pd_server *srv = cls;
    struct request *req = *con_cls;

    if (!req)
        return;
    if (req->handled) {
        pthread_mutex_lock(&srv->lock);
        srv->answering--;
        pthread_cond_broadcast(&srv->answered);
        pthread_mutex_unlock(&srv->lock);
    }
    free(req->body);
    free(req);
    *con_cls = NULL;
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    struct pd_server *srv = cls;
    char msg[XT_ERRMSG_MAX];
    size_t n;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    xt_info(srv->log_ctx, "libmicrohttpd: %s", msg);
}

/* Parses the listen address and port into a socket address. */
static int make_addr(struct xt_ctx *ctx, const char *addr, uint16_t port,
                     struct sockaddr_storage *ss, bool *v6_r)
{
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        *v6_r = false;
        return 0;
    }
    if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        *v6_r = true;
        return 0;
    }
    return xt_error(ctx, -EINVAL, "'%s' is not a numeric IP address", addr);
}

static int start_listener(struct xt_ctx *ctx, struct pd_server *srv,
                          const struct pd_config *cfg, struct listener *l,
                          bool tls, uint16_t port)
{
    const union MHD_DaemonInfo *info;
    struct sockaddr_storage ss;
    unsigned int flags;
    bool v6 = false;
    int rc;

    rc = make_addr(ctx, cfg->listen_address, port, &ss, &v6);
    if (rc < 0)
        return rc;
    l->srv = srv;
    l->scheme = tls ? "https" : "http";
    /* ITC: the listener can be quiesced (pd_server_stop). */
    flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
            MHD_USE_ERROR_LOG | MHD_USE_ITC;
    if (tls)
        flags |= MHD_USE_TLS;
    if (v6)
        flags |= strcmp(cfg->listen_address, "::") == 0 ?
                 MHD_USE_DUAL_STACK : MHD_USE_IPv6;

    errno = 0;
    l->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, on_access, l,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, srv,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)cfg->max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cfg->connection_timeout,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        /* The TLS options last: for plain HTTP the list ends here. */
        tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, srv->key_pem,
        MHD_OPTION_HTTPS_MEM_CERT, srv->cert_pem,
        MHD_OPTION_HTTPS_PRIORITIES, TLS_PRIORITIES,
        MHD_OPTION_END);
    if (!l->mhd)
        return xt_error(ctx, errno > 0 ? -errno : -EADDRNOTAVAIL,
                        "cannot listen for %s on %s port %u",
                        l->scheme, cfg->listen_address, (unsigned int)port);
    info = MHD_get_daemon_info(l->mhd, MHD_DAEMON_INFO_BIND_PORT);
    l->port = info && info->port ? info->port : port;
    xt_info(srv->log_ctx, "listening on %s://%s%s%s:%u/", l->scheme,
            v6 ? "[" : "", cfg->listen_address, v6 ? "]" : "",
            (unsigned int)l->port);
    return 0;
}

static int copy_paths(struct xt_ctx *ctx, struct pd_server *srv,
                      const char *const *paths)
{
    size_t n = 0, i;

    if (!paths)
        paths = default_paths;
    while (paths[n])
        n++;
    srv->paths = calloc(n + 1, sizeof(*srv->paths));
    if (!srv->paths)
        return xt_error(ctx, -ENOMEM, "out of memory");
    for (i = 0; i < n; i++) {
        if (paths[i][0] != '/')
            return xt_error(ctx, -EINVAL, "path '%s' does not start with /",
                            paths[i]);
        srv->paths[i] = strdup(paths[i]);
        if (!srv->paths[i])
            return xt_error(ctx, -ENOMEM, "out of memory");
    }
    return 0;
}

int pd_server_start(struct xt_ctx *ctx, struct xt_ctx *log_ctx,
                    const struct pd_config *cfg, const struct pd_tls *tls,
                    const char *const *paths, pd_handler_fn handler,
                    void *opaque, struct pd_server **srv_r)
{
    struct pd_server *srv = NULL;
    int rc;

    *srv_r = NULL;
    if (!handler || !tls)
        return xt_error(ctx, -EINVAL, "server needs a handler and a "
                        "certificate");
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
        return xt_error(ctx, -ENOTSUP, "libmicrohttpd was built without "
                        "TLS support");
    srv = calloc(1, sizeof(*srv));
    if (!srv)
        return xt_error(ctx, -ENOMEM, "out of memory");
    pthread_mutex_init(&srv->lock, NULL);
    pthread_cond_init(&srv->answered, NULL);
    srv->log_ctx = log_ctx;
    srv->handler = handler;
    srv->opaque = opaque;
    srv->max_body = cfg->max_body;
    rc = copy_paths(ctx, srv, paths);
    if (rc < 0)
        goto out;
    srv->cert_pem = strdup(pd_tls_cert_pem(tls));
    srv->key_pem = strdup(pd_tls_key_pem(tls));
    if (!srv->cert_pem || !srv->key_pem) {
        rc = xt_error(ctx, -ENOMEM, "out of memory");
        goto out;
    }
    srv->key_len = strlen(srv->key_pem);

    rc = start_listener(ctx, srv, cfg, &srv->https, true, cfg->port);
    if (rc < 0)
        goto out;
    if (cfg->http_enabled) {
        rc = start_listener(ctx, srv, cfg, &srv->http, false,
                            cfg->http_port);
        if (rc < 0)
            goto out;
    }
    *srv_r = srv;
    srv = NULL;

out:
    pd_server_stop(srv);
    return rc;
}

uint16_t pd_server_https_port(const struct pd_server *srv)
{
    return srv->https.port;
}

uint16_t pd_server_http_port(const struct pd_server *srv)
{
    return srv->http.mhd ? srv->http.port : 0;
}

void pd_server_stop(struct pd_server *srv)
{
    struct listener *ls[2];
    MHD_socket fds[2];
    size_t i;

    if (!srv)
        return;
    ls[0] = &srv->http;
    ls[1] = &srv->https;
    /* No new connection, then the answers under way, then the rest. */
    for (i = 0; i < 2; i++)
        fds[i] = ls[i]->mhd ? MHD_quiesce_daemon(ls[i]->mhd)
                            : MHD_INVALID_SOCKET;
    pthread_mutex_lock(&srv->lock);
    while (srv->answering)
        pthread_cond_wait(&srv->answered, &srv->lock);
    pthread_mutex_unlock(&srv->lock);
    for (i = 0; i < 2; i++) {
        if (ls[i]->mhd)
            MHD_stop_daemon(ls[i]->mhd);
        if (fds[i] != MHD_INVALID_SOCKET)
            close(fds[i]);
    }
    for (i = 0; srv->paths && srv->paths[i]; i++)
        free(srv->paths[i]);
    free(srv->paths);
    free(srv->cert_pem);
    if (srv->key_pem)
        pd_wipe(srv->key_pem, srv->key_len);
    free(srv->key_pem);
    pthread_cond_destroy(&srv->answered);
    pthread_mutex_destroy(&srv->lock);
    free(srv);
}
