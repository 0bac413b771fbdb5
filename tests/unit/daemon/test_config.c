/*
 * test_config.c - xm-pool.conf as the daemon reads it: defaults, paths
 * derived from state_dir and run_dir, overrides, errors naming FILE:LINE,
 * the plain-HTTP guard; and the log file target with its reopening.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "poold.h"
#include "../../tap.h"

static int parse(struct xt_ctx *ctx, const char *text,
                 const char *const *extra, struct pd_config **cfg_r)
{
    struct xt_config *raw = NULL;
    int rc;

    *cfg_r = NULL;
    rc = xt_config_parse(ctx, "t.conf", text, &raw);
    if (rc < 0)
        return rc;
    return pd_config_from(ctx, raw, extra, cfg_r);
}

static void test_defaults(struct xt_ctx *ctx)
{
    struct pd_config *cfg = NULL;

    tap_is_int(parse(ctx, "# nothing\n", NULL, &cfg), 0, "empty config");
    if (!cfg) {
        tap_skip(14, "no config");
        return;
    }
    tap_is_str(cfg->state_dir, "/var/lib/xm-pool", "state_dir");
    tap_is_str(cfg->run_dir, "/run/xm-pool", "run_dir");
    tap_is_str(cfg->pid_file, "/run/xm-pool/xm-poold.pid", "pid_file");
    tap_is_str(cfg->listen_address, "0.0.0.0", "listen_address");
    tap_is_int(cfg->port, 443, "port");
    tap_ok(!cfg->http_enabled, "plain HTTP off");
    tap_ok(cfg->log_target == PD_LOG_SYSLOG && cfg->log_level == XT_LOG_INFO,
           "log to syslog at info");
    tap_is_str(cfg->tls_cert, "/var/lib/xm-pool/xm-poold.pem", "tls_cert");
    tap_is_str(cfg->tls_key, "/var/lib/xm-pool/xm-poold.key", "tls_key");
    tap_is_str(cfg->users_file, "/var/lib/xm-pool/users", "users_file");
    tap_is_str(cfg->pool_secret_file, "/var/lib/xm-pool/pool-secret",
               "pool_secret_file");
    tap_is_str(cfg->root_password_file, "/var/lib/xm-pool/root-password",
               "root_password_file");
    tap_is_u64(cfg->max_body, 16u << 20, "max_body 16 MiB");
    tap_ok(cfg->session_timeout == 86400 && cfg->login_delay_ms == 500 &&
           cfg->max_connections == 256 && cfg->connection_timeout == 60 &&
           cfg->max_sessions == 4096 && cfg->password_cost == 0,
           "limits");
    pd_config_free(cfg);
}

static void test_values(struct xt_ctx *ctx)
{
    static const char *const extra[] = { "api.db", NULL };
    static const char text[] =
        "state_dir = /srv/pool\n"
        "run_dir = /tmp/r\n"
        "tls_key = /etc/ssl/private/k.pem\n"
        "listen_address = ::1\n"
        "port = 8443\n"
        "http_port = 8080\n"
        "log = /var/log/xm-poold.log\n"
        "log_level = debug\n"
        "max_body = 0x100000\n"
        "api.db = /srv/pool/db\n";
    struct pd_config *cfg = NULL;

    tap_is_int(parse(ctx, text, extra, &cfg), 0, "config with values");
    if (!cfg) {
        tap_skip(9, "no config");
        return;
    }
    tap_is_str(cfg->tls_cert, "/srv/pool/xm-poold.pem",
               "tls_cert follows state_dir");
    tap_is_str(cfg->tls_key, "/etc/ssl/private/k.pem", "tls_key as set");
    tap_is_str(cfg->pid_file, "/tmp/r/xm-poold.pid", "pid_file follows "
               "run_dir");
    tap_ok(cfg->port == 8443 && cfg->http_enabled && cfg->http_port == 8080,
           "ports");
    tap_ok(cfg->log_target == PD_LOG_FILE &&
           strcmp(cfg->log_file, "/var/log/xm-poold.log") == 0,
           "log to a file");
    tap_ok(cfg->log_level == XT_LOG_DEBUG, "log_level debug");
    tap_is_u64(cfg->max_body, 1u << 20, "max_body in hex");
    tap_is_str(xt_config_get(cfg->raw, "api.db"), "/srv/pool/db",
               "a service key stays readable in raw");
    pd_config_free(cfg);

    tap_ok(parse(ctx, "log = journal\n", NULL, &cfg) == 0 &&
           cfg->log_target == PD_LOG_JOURNAL, "log = journal");
    pd_config_free(cfg);
}

/* The config must fail with an error containing frag. */
static void bad(struct xt_ctx *ctx, const char *text, const char *frag,
                const char *what)
{
    struct pd_config *cfg = NULL;
    int rc;

    rc = parse(ctx, text, NULL, &cfg);
    if (!tap_ok(rc == -EINVAL && !cfg && strstr(ctx->err_msg, frag),
                "%s: \"%s\"", what, frag))
        tap_diag("  rc %d, error \"%s\"", rc, ctx->err_msg);
    pd_config_free(cfg);
}

static void test_errors(struct xt_ctx *ctx)
{
    ctx->quiet_errors = true;
    bad(ctx, "port = 1\n# c\nbogus = 2\n", "t.conf:3: unknown key 'bogus'",
        "unknown key");
    bad(ctx, "\nport = 70000\n", "t.conf:2: port: 70000 is out of range",
        "port out of range");
    bad(ctx, "port = https\n", "t.conf:1: port: invalid", "port not a number");
    bad(ctx, "listen_address = example.com\n",
        "t.conf:1: listen_address: 'example.com' is not a numeric",
        "host name as address");
    bad(ctx, "state_dir = var/lib\n", "t.conf:1: state_dir: 'var/lib' is "
        "not an absolute path", "relative path");
    bad(ctx, "http_port = 8080\n",
        "t.conf:1: http_port: plain HTTP would listen on the non-loopback "
        "address 0.0.0.0", "plain HTTP on 0.0.0.0");
    bad(ctx, "listen_address = 127.0.0.1\nport = 80\nhttp_port = 80\n",
        "t.conf:3: http_port: 80 is also the HTTPS port", "same ports");
    bad(ctx, "log = loud\n", "t.conf:1: log: 'loud' is not syslog",
        "bad log target");
    bad(ctx, "log_level = chatty\n", "t.conf:1: log_level: 'chatty'",
        "bad log level");
    bad(ctx, "allow_plain_http = perhaps\n", "t.conf:1: allow_plain_http: "
        "invalid boolean", "bad boolean");
    bad(ctx, "max_body = 10\n", "t.conf:1: max_body: 10 is out of range",
        "max_body too small");
    bad(ctx, "password_cost = 12\n", "t.conf:1: password_cost",
        "cost too high");
    ctx->quiet_errors = false;
}

static void test_plain_http(struct xt_ctx *ctx)
{
    struct pd_config *cfg = NULL;

    tap_is_int(parse(ctx, "http_port = 8080\nallow_plain_http = true\n",
                     NULL, &cfg), 0, "allow_plain_http lets 0.0.0.0 through");
    pd_config_free(cfg);
    tap_is_int(parse(ctx, "listen_address = 127.0.0.2\nhttp_port = 8080\n",
                     NULL, &cfg), 0, "loopback address with plain HTTP");
    pd_config_free(cfg);
    tap_is_int(parse(ctx, "listen_address = ::1\nhttp_port = 8080\n",
                     NULL, &cfg), 0, "::1 with plain HTTP");
    pd_config_free(cfg);
}

static char *temp_file(const char *text)
{
    char *path;
    FILE *f;
    int fd;

    if (asprintf(&path, "%s/pd-conf-XXXXXX",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp") < 0)
        tap_bail("asprintf failed");
    fd = mkstemp(path);
    if (fd < 0 || !(f = fdopen(fd, "w")) || fputs(text, f) < 0 ||
        fclose(f) != 0)
        tap_bail("cannot write a temporary file");
    return path;
}

static void test_load(struct xt_ctx *ctx)
{
    static const char *const ov[] = { "state_dir=/o", NULL };
    static const char *const bad_ov[] = { "novalue", NULL };
    struct pd_config *cfg = NULL;
    char *path = temp_file("state_dir = /from/file\nport = 444\n");
    char *missing;
    int rc;

    rc = pd_config_load(ctx, path, ov, NULL, &cfg);
    tap_is_int(rc, 0, "load a file with an override");
    tap_ok(cfg && strcmp(cfg->state_dir, "/o") == 0 &&
           strcmp(cfg->users_file, "/o/users") == 0 && cfg->port == 444,
           "the override wins; derived paths follow it");
    pd_config_free(cfg);

    ctx->quiet_errors = true;
    rc = pd_config_load(ctx, path, bad_ov, NULL, &cfg);
    tap_is_int(rc, -EINVAL, "override without '=' refused");

    if (asprintf(&missing, "%s.missing", path) < 0)
        tap_bail("out of memory");
    rc = pd_config_load(ctx, missing, NULL, NULL, &cfg);
    tap_is_int(rc, -ENOENT, "a missing --config file is an error");
    setenv("XM_POOL_CONF", missing, 1);
    rc = pd_config_load(ctx, NULL, NULL, NULL, &cfg);
    tap_is_int(rc, -ENOENT, "a missing $XM_POOL_CONF file too");
    unsetenv("XM_POOL_CONF");
    ctx->quiet_errors = false;

    unlink(path);
    free(path);
    free(missing);
}

static void test_log_file(struct xt_ctx *ctx)
{
    struct pd_config *cfg = NULL;
    struct pd_log *log = NULL;
    char dir[256], text[600], *a, *b, *got;
    size_t n = 0;
    FILE *f;

    snprintf(dir, sizeof(dir), "%s/pd-log-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir))
        tap_bail("mkdtemp failed");
    if (asprintf(&a, "%s/log", dir) < 0 || asprintf(&b, "%s/log.1", dir) < 0)
        tap_bail("out of memory");
    snprintf(text, sizeof(text), "log = %s\nlog_level = warn\n", a);
    if (parse(ctx, text, NULL, &cfg) < 0)
        tap_bail("config failed");

    tap_is_int(pd_log_open(ctx, cfg, &log), 0, "open the log file");
    tap_ok(ctx->log != stderr && ctx->level == XT_LOG_WARN,
           "context logs there at warn");
    xt_warn(ctx, "first %d", 1);
    xt_info(ctx, "not at this level");
    rename(a, b);                       /* as logrotate does */
    tap_is_int(pd_log_reopen(log), 0, "reopen");
    xt_warn(ctx, "second");
    pd_log_close(log);
    tap_ok(ctx->log == stderr, "closing restores stderr");

    got = NULL;
    f = fopen(b, "r");
    if (f && getdelim(&got, &n, '\0', f) < 0) {
        free(got);
        got = NULL;
    }
    if (f)
        fclose(f);
    tap_ok(got && strstr(got, "Z [") && strstr(got, "warning: first 1\n") &&
           !strstr(got, "not at this level") && !strstr(got, "second"),
           "rotated file: a timestamped line, levels filtered");
    free(got);
    got = NULL;
    f = fopen(a, "r");
    if (f && getdelim(&got, &n, '\0', f) < 0) {
        free(got);
        got = NULL;
    }
    if (f)
        fclose(f);
    tap_ok(got && strstr(got, "warning: second\n") && !strstr(got, "first"),
           "new file after the reopen");
    free(got);

    unlink(a);
    unlink(b);
    rmdir(dir);
    free(a);
    free(b);
    pd_config_free(cfg);
}

int main(void)
{
    struct xt_ctx *ctx = xt_ctx_new("test_config");

    if (!ctx)
        tap_bail("out of memory");
    test_defaults(ctx);
    test_values(ctx);
    test_errors(ctx);
    test_plain_http(ctx);
    test_load(ctx);
    test_log_file(ctx);
    xt_ctx_free(ctx);
    return tap_done();
}
