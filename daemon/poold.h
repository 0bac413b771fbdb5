/*
 * poold.h - the core of xm-poold, the per-host daemon of a pool: its
 * configuration, logging, TLS certificate, HTTP(S) server, authentication
 * store and lifecycle.  Independent of what the requests mean: the XenAPI
 * dispatch is a handler registered through struct pd_service.
 *
 * Conventions (STYLE.md): actions return 0 or a negative errno, reported
 * once into the caller's context; predicates return bool; constructors
 * return a pointer or NULL; free functions accept NULL.
 *
 * Threads: the server calls the handler from one thread per connection,
 * concurrently.  struct pd_auth is thread-safe; the other objects belong
 * to the thread that made them.  A struct xt_ctx records one error at a
 * time, so each thread passes its own (xt_ctx_new()) to calls that report.
 */
#ifndef POOLD_H
#define POOLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xt.h"

/* ---- configuration ----------------------------------------------------- */

#define PD_DEFAULT_STATE_DIR    "/var/lib/xm-pool"
#define PD_DEFAULT_RUN_DIR      "/run/xm-pool"
#define PD_DEFAULT_PORT         443
#define PD_DEFAULT_MAX_BODY     (16u << 20)

enum pd_log_target {
    PD_LOG_SYSLOG,      /* syslog(3), facility daemon */
    PD_LOG_JOURNAL,     /* stderr lines with sd-daemon "<N>" priorities */
    PD_LOG_STDERR,      /* plain "xm-poold: level: message" on stderr */
    PD_LOG_FILE,        /* appended to log_file with a UTC timestamp */
};

/*
 * The daemon's settings, every default applied and every value checked.
 * Paths are absolute.  The keys of the file are described in
 * xm-pool.conf(5); each field below names its key.
 */
struct pd_config {
    struct xt_config *raw;      /* the file as read (owned): a service
                                 * reads its own keys from it */
    char *state_dir;            /* state_dir */
    char *run_dir;              /* run_dir; VMM sockets in run_dir/vmm */
    char *pid_file;             /* pid_file, default run_dir/xm-poold.pid */
    char *listen_address;       /* listen_address: numeric IPv4 or IPv6 */
    uint16_t port;              /* port: HTTPS; 0 = any free port */
    bool http_enabled;          /* http_port != 0 */
    uint16_t http_port;         /* plain HTTP when enabled; 0 = any free
                                 * port (set only by tests) */
    bool allow_plain_http;      /* allow_plain_http */
    enum pd_log_target log_target;  /* log */
    char *log_file;             /* log, when PD_LOG_FILE */
    enum xt_log_level log_level;    /* log_level */
    char *tls_cert;             /* tls_cert, PEM */
    char *tls_key;              /* tls_key, PEM */
    char *users_file;           /* users_file */
    char *pool_secret_file;     /* pool_secret_file */
    char *root_password_file;   /* root_password_file */
    uint64_t max_body;          /* max_body: bytes of a request body */
    unsigned int max_connections;   /* max_connections */
    unsigned int connection_timeout;/* connection_timeout: seconds idle */
    uint64_t session_timeout;   /* session_timeout: seconds idle */
    unsigned int max_sessions;  /* max_sessions */
    unsigned int login_delay_ms;/* login_delay_ms: a failed login's time */
    unsigned int password_cost; /* password_cost: yescrypt cost, 0 =
                                 * libxcrypt's default */
};

/*
 * Checks raw (which must hold no key other than the daemon's and those in
 * extra_keys, NULL-terminated, may be NULL) and builds *cfg_r, which takes
 * raw over (freed by pd_config_free(), also on failure).  A bad or unknown
 * key fails with -EINVAL reported as "FILE:LINE: ...".
 */
int pd_config_from(struct xt_ctx *ctx, struct xt_config *raw,
                   const char *const *extra_keys, struct pd_config **cfg_r);

/*
 * Loads path (NULL: $XM_POOL_CONF, else /etc/xm-pool.conf, and a missing
 * default file means all defaults), applies overrides, "key=value" strings
 * (NULL-terminated, may be NULL; command-line options such as --state-dir
 * become overrides), then pd_config_from().  Caller frees *cfg_r.
 */
int pd_config_load(struct xt_ctx *ctx, const char *path,
                   const char *const *overrides,
                   const char *const *extra_keys, struct pd_config **cfg_r);
void pd_config_free(struct pd_config *cfg);

/* ---- logging ----------------------------------------------------------- */

struct pd_log;  /* opaque */

/*
 * Points ctx->log at the target of cfg (syslog under ident ctx->prog, the
 * journal, stderr or the log file) and sets ctx->level.  The stream stays
 * valid until pd_log_close(): other contexts may copy ctx->log.
 */
int pd_log_open(struct xt_ctx *ctx, const struct pd_config *cfg,
                struct pd_log **log_r);
/* Reopens the log file (after logrotate moved it); a no-op for the other
 * targets.  Safe while other threads log. */
int pd_log_reopen(struct pd_log *log);
/* Restores ctx->log to stderr and frees log.  NULL-safe. */
void pd_log_close(struct pd_log *log);

/* ---- TLS certificate --------------------------------------------------- */

/* SHA-256 as "AB:CD:...": 32 bytes, 95 characters. */
#define PD_FINGERPRINT_STRLEN 95

struct pd_tls;  /* opaque: a certificate and its key, in PEM */

/*
 * Loads cfg->tls_cert and cfg->tls_key, checking they belong together.
 * When both are missing, first generates a self-signed pair: ECDSA P-256,
 * CN = the host name, subjectAltName = host name, localhost, 127.0.0.1,
 * ::1 and listen_address when it is not a wildcard, valid 10 years; the key
 * is written 0600, the certificate 0644, each atomically.  *created_r (may
 * be NULL) says whether this happened.  One present without the other is
 * -EEXIST.  Caller frees *tls_r with pd_tls_free().
 */
int pd_tls_load_or_create(struct xt_ctx *ctx, const struct pd_config *cfg,
                          struct pd_tls **tls_r, bool *created_r);
/* The certificate's SHA-256 fingerprint; owned by tls. */
const char *pd_tls_fingerprint(const struct pd_tls *tls);
void pd_tls_free(struct pd_tls *tls);

/* Fingerprint of the PEM certificate in path (--print-fingerprint). */
int pd_tls_fingerprint_file(struct xt_ctx *ctx, const char *path,
                            char fp[PD_FINGERPRINT_STRLEN + 1]);

/*
 * The public-key pin of a PEM certificate, as libcurl's
 * CURLOPT_PINNEDPUBLICKEY takes it: "sha256//" and the base64 of the
 * SHA-256 of the DER SubjectPublicKeyInfo (52 characters).  name is used
 * in messages.
 */
#define PD_TLS_PIN_STRLEN 52
int pd_tls_pin_pem(struct xt_ctx *ctx, const char *name, const char *pem,
                   char pin[PD_TLS_PIN_STRLEN + 1]);
/* The same of the certificate in path. */
int pd_tls_pin_file(struct xt_ctx *ctx, const char *path,
                    char pin[PD_TLS_PIN_STRLEN + 1]);

/* ---- HTTP(S) server ---------------------------------------------------- */

/* What a handler answers. */
struct pd_response {
    int status;                 /* HTTP status; 0 means 200 */
    const char *content_type;   /* not freed (a literal); NULL: none */
    char *body;                 /* malloc'd, freed by the server */
    size_t len;                 /* bytes of body */
};

/*
 * Called for each complete POST to one of the server's paths, from the
 * connection's own thread, concurrently with other calls: it must be
 * thread-safe.  path is the URL path without the query; content_type is
 * NULL when the request had none; body holds len bytes followed by a NUL
 * not counted in len (len <= max_body); peer_addr is the numeric client
 * address.  resp arrives zeroed.  Returns 0 to send resp, or a negative
 * errno to send "500 Internal Server Error" (resp->body is freed either
 * way).
 */
typedef int (*pd_handler_fn)(void *opaque, const char *path,
                             const char *content_type, const char *body,
                             size_t len, const char *peer_addr,
                             struct pd_response *resp);

struct pd_server;   /* opaque */

/*
 * Listens on cfg->listen_address: HTTPS on cfg->port with tls, and plain
 * HTTP on cfg->http_port when cfg->http_enabled.  Requests to paths
 * (NULL-terminated; NULL means "/" and "/jsonrpc") go to handler(opaque,
 * ...) when they are POSTs, else get 405; other paths get 404; a body over
 * cfg->max_body gets 413 without being read.  Connections are limited to
 * cfg->max_connections and closed after cfg->connection_timeout idle
 * seconds.  Log lines go to log_ctx, which must outlive the server and is
 * used only to log (never to report) from the server's threads.  cfg and
 * tls may be freed once this returns.  Caller stops it with
 * pd_server_stop().
 */
int pd_server_start(struct xt_ctx *ctx, struct xt_ctx *log_ctx,
                    const struct pd_config *cfg, const struct pd_tls *tls,
                    const char *const *paths, pd_handler_fn handler,
                    void *opaque, struct pd_server **srv_r);
/* The bound ports (useful when configured 0); 0 when HTTP is off. */
uint16_t pd_server_https_port(const struct pd_server *srv);
uint16_t pd_server_http_port(const struct pd_server *srv);
/* Closes the listeners, waits for running handlers, frees.  NULL-safe. */
void pd_server_stop(struct pd_server *srv);

/* ---- authentication ---------------------------------------------------- */

#define PD_USER_NAME_MAX        64      /* [A-Za-z0-9._@-] */
#define PD_PASSWORD_MAX         1024
#define PD_SESSION_PREFIX       "OpaqueRef:"
/* "OpaqueRef:" + UUID + NUL */
#define PD_SESSION_REF_SIZE     (sizeof(PD_SESSION_PREFIX) + XT_UUID_STRLEN)
#define PD_POOL_SECRET_LEN      64      /* 32 random bytes in hex */
#define PD_POOL_USER            "__pool__"  /* user of pool sessions */

struct pd_auth;     /* opaque, thread-safe */

struct pd_session_info {
    char user[PD_USER_NAME_MAX + 1];
    bool pool;                  /* made by pd_auth_login_pool() */
    uint64_t created_ns;        /* on the auth's clock */
    uint64_t last_active_ns;
};

/*
 * Opens the store of cfg->users_file and cfg->pool_secret_file.  On first
 * start (no users file) creates it with the account "root", whose password
 * is $XM_POOL_ROOT_PASSWORD if set (tests), else the first line of
 * cfg->root_password_file; neither is -ENOENT.  Creates the pool secret
 * when its file is missing.  Files are 0600, rewritten atomically (temp
 * file, fsync, rename, fsync of the directory).  Caller frees.
 */
int pd_auth_open(struct xt_ctx *ctx, const struct pd_config *cfg,
                 struct pd_auth **auth_r);
void pd_auth_free(struct pd_auth *auth);

/* Replaces the clock of sessions (default xt_now_ns()); tests. */
void pd_auth_set_clock(struct pd_auth *auth, uint64_t (*now_ns)(void *),
                       void *opaque);

/*
 * Checks name and password and opens a session: its reference
 * "OpaqueRef:<uuid>" goes to ref_r.  A wrong name or password is -EACCES,
 * returned no sooner than cfg->login_delay_ms after the call began, with
 * the same message either way.  When max_sessions are open, the one idle
 * longest is closed.
 */
int pd_auth_login(struct pd_auth *auth, struct xt_ctx *ctx, const char *name,
                  const char *password, char ref_r[PD_SESSION_REF_SIZE]);
/* The same for another pool member presenting the pool secret: a session
 * of PD_POOL_USER with info.pool set.  -EACCES after the delay. */
int pd_auth_login_pool(struct pd_auth *auth, struct xt_ctx *ctx,
                       const char *secret, char ref_r[PD_SESSION_REF_SIZE]);
/* Closes a session; -ENOENT when it is not open. */
int pd_auth_logout(struct pd_auth *auth, struct xt_ctx *ctx, const char *ref);
/*
 * -ENOENT (the API's SESSION_INVALID) unless ref is an open session idle
 * less than session_timeout; then marks it active and, if info_r is not
 * NULL, describes it.
 */
int pd_auth_validate(struct pd_auth *auth, struct xt_ctx *ctx,
                     const char *ref, struct pd_session_info *info_r);
/* The same without marking it active, and without reporting: 0 (and
 * *info_r if not NULL) or -ENOENT.  For looking at another session. */
int pd_auth_peek(struct pd_auth *auth, const char *ref,
                 struct pd_session_info *info_r);
/* Closes the sessions idle too long; returns how many. */
unsigned int pd_auth_expire(struct pd_auth *auth);
/* Open sessions. */
unsigned int pd_auth_session_count(struct pd_auth *auth);

/* Users: -EEXIST / -ENOENT as the names say, -EINVAL for a bad name or
 * an empty or over-long password.  Removing a user closes its sessions. */
int pd_auth_user_add(struct pd_auth *auth, struct xt_ctx *ctx,
                     const char *name, const char *password);
int pd_auth_user_set_password(struct pd_auth *auth, struct xt_ctx *ctx,
                              const char *name, const char *password);
int pd_auth_user_remove(struct pd_auth *auth, struct xt_ctx *ctx,
                        const char *name);
bool pd_auth_user_exists(struct pd_auth *auth, const char *name);

/* Whether presented is the pool secret, in constant time. */
bool pd_pool_secret_check(struct pd_auth *auth, const char *presented);
/* Copies the pool secret (to hand to a joining member). */
void pd_pool_secret_get(struct pd_auth *auth,
                        char secret_r[PD_POOL_SECRET_LEN + 1]);
/* Replaces it (a member adopting its pool's secret): 64 hex digits, else
 * -EINVAL.  Written to pool_secret_file first. */
int pd_pool_secret_set(struct pd_auth *auth, struct xt_ctx *ctx,
                       const char *secret);

/*
 * A yescrypt hash ("$y$...") of password with a fresh salt; cost 0 is
 * libxcrypt's default.  Caller frees *hash_r.
 */
int pd_password_hash(struct xt_ctx *ctx, const char *password,
                     unsigned int cost, char **hash_r);
/* Whether password matches hash (comparison in constant time). */
bool pd_password_verify(const char *password, const char *hash);

/* ---- the daemon -------------------------------------------------------- */

/*
 * What the daemon serves, filled by the program that links libpoold.a
 * with the API layer.  Called in this order: init once the configuration,
 * log, state directory, authentication store and certificate are ready and
 * before listening; handler from the server's threads; stop when the daemon
 * begins to stop; fini after the server stopped.  cfg and auth stay valid
 * until fini returns; ctx is the main thread's (the handler's threads make
 * their own).
 */
struct pd_service {
    /* Keys of the config file the service reads from cfg->raw (NULL-
     * terminated, may be NULL); any other unknown key is an error. */
    const char *const *config_keys;
    /* URL paths served (NULL: "/" and "/jsonrpc"). */
    const char *const *paths;
    /* Optional.  Sets *opaque_r, handed to handler and fini.  0 or a
     * negative errno reported into ctx (startup then fails). */
    int (*init)(struct xt_ctx *ctx, const struct pd_config *cfg,
                struct pd_auth *auth, void **opaque_r);
    /* Required. */
    pd_handler_fn handler;
    /* Optional.  Called once when the daemon begins to stop, before the
     * server stops (which waits for running handlers): what handlers wait
     * for must end at once, long operations are asked to stop. */
    void (*stop)(void *opaque);
    /* Optional. */
    void (*fini)(void *opaque);
};

/*
 * The whole daemon: xm-poold [--config PATH] [--state-dir DIR] [--foreground]
 * [--print-fingerprint] [--version] [--help] (see xm-poold(8)).  Returns
 * the exit status: 0 after a clean shutdown (SIGTERM, SIGINT), 1 on a
 * failure, 2 on a usage error.
 */
int pd_main(int argc, char **argv, const struct pd_service *svc);

#endif /* POOLD_H */
