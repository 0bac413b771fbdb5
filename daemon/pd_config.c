/*
 * pd_config.c - the daemon's configuration: /etc/xm-pool.conf checked key
 * by key into struct pd_config, defaults derived from state_dir and
 * run_dir.  The keys are documented in man/xm-pool.conf.5.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pd_internal.h"

static const char *const daemon_keys[] = {
    "state_dir", "run_dir", "pid_file",
    "listen_address", "port", "http_port", "allow_plain_http",
    "log", "log_level",
    "tls_cert", "tls_key",
    "users_file", "pool_secret_file", "root_password_file",
    "max_body", "max_connections", "connection_timeout",
    "session_timeout", "max_sessions", "login_delay_ms", "password_cost",
    NULL,
};

void pd_config_free(struct pd_config *cfg)
{
    if (!cfg)
        return;
    xt_config_free(cfg->raw);
    free(cfg->state_dir);
    free(cfg->run_dir);
    free(cfg->pid_file);
    free(cfg->listen_address);
    free(cfg->log_file);
    free(cfg->tls_cert);
    free(cfg->tls_key);
    free(cfg->users_file);
    free(cfg->pool_secret_file);
    free(cfg->root_password_file);
    free(cfg);
}

/* Fails on the first key of raw in neither list. */
static int check_keys(struct xt_ctx *ctx, const struct xt_config *raw,
                      const char *const *extra)
{
    const char **all = NULL;
    size_t n = 0, i, j;
    int rc;

    for (i = 0; daemon_keys[i]; i++)
        n++;
    for (i = 0; extra && extra[i]; i++)
        n++;
    all = calloc(n + 1, sizeof(*all));
    if (!all)
        return xt_error(ctx, -ENOMEM, "out of memory");
    for (i = 0, j = 0; daemon_keys[i]; i++)
        all[j++] = daemon_keys[i];
    for (i = 0; extra && extra[i]; i++)
        all[j++] = extra[i];
    rc = xt_config_check_keys(ctx, raw, all);
    free(all);
    return rc;
}

/*
 * An absolute path: the value of key, else def_dir/def_name (def_dir NULL:
 * def_name itself).  Copied into *path_r.
 */
static int get_path(struct xt_ctx *ctx, const struct xt_config *raw,
                    const char *key, const char *def_dir,
                    const char *def_name, char **path_r)
{
    const char *v = xt_config_get(raw, key);
    int r;

    if (v) {
        if (v[0] != '/')
            return xt_config_error(ctx, raw, key,
                                   "'%s' is not an absolute path", v);
        *path_r = strdup(v);
    } else if (def_dir) {
        r = asprintf(path_r, "%s/%s", def_dir, def_name);
        if (r < 0)
            *path_r = NULL;
    } else {
        *path_r = strdup(def_name);
    }
    if (!*path_r)
        return xt_error(ctx, -ENOMEM, "out of memory");
    return 0;
}

/* An unsigned value of key within [min, max]. */
static int get_range(struct xt_ctx *ctx, const struct xt_config *raw,
                     const char *key, uint64_t def, uint64_t min,
                     uint64_t max, uint64_t *val_r)
{
    int rc;

    rc = xt_config_get_u64(ctx, raw, key, def, val_r);
    if (rc < 0)
        return rc;
    if (*val_r < min || *val_r > max)
        return xt_config_error(ctx, raw, key,
                               "%llu is out of range [%llu, %llu]",
                               (unsigned long long)*val_r,
                               (unsigned long long)min,
                               (unsigned long long)max);
    return 0;
}

static int get_log(struct xt_ctx *ctx, const struct xt_config *raw,
                   struct pd_config *cfg)
{
    const char *v = xt_config_get(raw, "log");
    const char *lvl = xt_config_get(raw, "log_level");

    if (lvl && xt_log_level_parse(lvl, &cfg->log_level) < 0)
        return xt_config_error(ctx, raw, "log_level",
                               "'%s' is not one of error, warn, info, debug",
                               lvl);
    if (!lvl)
        cfg->log_level = XT_LOG_INFO;

    if (!v || strcmp(v, "syslog") == 0) {
        cfg->log_target = PD_LOG_SYSLOG;
    } else if (strcmp(v, "journal") == 0) {
        cfg->log_target = PD_LOG_JOURNAL;
    } else if (strcmp(v, "stderr") == 0) {
        cfg->log_target = PD_LOG_STDERR;
    } else if (v[0] == '/') {
        cfg->log_target = PD_LOG_FILE;
        cfg->log_file = strdup(v);
        if (!cfg->log_file)
            return xt_error(ctx, -ENOMEM, "out of memory");
    } else {
        return xt_config_error(ctx, raw, "log", "'%s' is not syslog, "
                               "journal, stderr or an absolute file path",
                               v);
    }
    return 0;
}

static int get_listen(struct xt_ctx *ctx, const struct xt_config *raw,
                      struct pd_config *cfg)
{
    const char *v = xt_config_get(raw, "listen_address");
    unsigned char buf[sizeof(struct in6_addr)];
    uint64_t port, http_port;
    int rc;

    if (!v)
        v = "0.0.0.0";
    if (inet_pton(AF_INET, v, buf) != 1 && inet_pton(AF_INET6, v, buf) != 1)
        return xt_config_error(ctx, raw, "listen_address", "'%s' is not a "
                               "numeric IPv4 or IPv6 address", v);
    cfg->listen_address = strdup(v);
    if (!cfg->listen_address)
        return xt_error(ctx, -ENOMEM, "out of memory");

    rc = get_range(ctx, raw, "port", PD_DEFAULT_PORT, 0, 65535, &port);
    if (rc < 0)
        return rc;
    rc = get_range(ctx, raw, "http_port", 0, 0, 65535, &http_port);
    if (rc < 0)
        return rc;
    cfg->port = (uint16_t)port;
    cfg->http_port = (uint16_t)http_port;
    cfg->http_enabled = http_port != 0;
    if (cfg->http_enabled && http_port == port)
        return xt_config_error(ctx, raw, "http_port",
                               "%llu is also the HTTPS port",
                               (unsigned long long)http_port);

    rc = xt_config_get_bool(ctx, raw, "allow_plain_http", false,
                            &cfg->allow_plain_http);
    if (rc < 0)
        return rc;
    if (cfg->http_enabled && !cfg->allow_plain_http &&
        !pd_addr_is_loopback(cfg->listen_address))
        return xt_config_error(ctx, raw, "http_port",
                               "plain HTTP would listen on the non-loopback "
                               "address %s: use listen_address = 127.0.0.1 "
                               "or set allow_plain_http = true",
                               cfg->listen_address);
    return 0;
}

static int get_limits(struct xt_ctx *ctx, const struct xt_config *raw,
                      struct pd_config *cfg)
{
    uint64_t v;
    int rc;

    rc = get_range(ctx, raw, "max_body", PD_DEFAULT_MAX_BODY, 1024,
                   1ull << 30, &cfg->max_body);
    if (rc < 0)
        return rc;
    rc = get_range(ctx, raw, "max_connections", 256, 1, 65536, &v);
    if (rc < 0)
        return rc;
    cfg->max_connections = (unsigned int)v;
    rc = get_range(ctx, raw, "connection_timeout", 60, 1, 86400, &v);
    if (rc < 0)
        return rc;
    cfg->connection_timeout = (unsigned int)v;
    rc = get_range(ctx, raw, "session_timeout", 86400, 1,
                   UINT64_MAX / 1000000000ull, &cfg->session_timeout);
    if (rc < 0)
        return rc;
    rc = get_range(ctx, raw, "max_sessions", 4096, 1, 1u << 20, &v);
    if (rc < 0)
        return rc;
    cfg->max_sessions = (unsigned int)v;
    rc = get_range(ctx, raw, "login_delay_ms", 500, 0, 60000, &v);
    if (rc < 0)
        return rc;
    cfg->login_delay_ms = (unsigned int)v;
    rc = get_range(ctx, raw, "password_cost", 0, 0, 11, &v);
    if (rc < 0)
        return rc;
    cfg->password_cost = (unsigned int)v;
    return 0;
}

static int get_paths(struct xt_ctx *ctx, const struct xt_config *raw,
                     struct pd_config *cfg)
{
    int rc;

    rc = get_path(ctx, raw, "state_dir", NULL, PD_DEFAULT_STATE_DIR,
                  &cfg->state_dir);
    if (rc < 0)
        return rc;
    rc = get_path(ctx, raw, "run_dir", NULL, PD_DEFAULT_RUN_DIR,
                  &cfg->run_dir);
    if (rc < 0)
        return rc;
    rc = get_path(ctx, raw, "pid_file", cfg->run_dir, "xm-poold.pid",
                  &cfg->pid_file);
    if (rc < 0)
        return rc;
    rc = get_path(ctx, raw, "tls_cert", cfg->state_dir, "xm-poold.pem",
                  &cfg->tls_cert);
    if (rc < 0)
        return rc;
    rc = get_path(ctx, raw, "tls_key", cfg->state_dir, "xm-poold.key",
                  &cfg->tls_key);
    if (rc < 0)
        return rc;
    rc = get_path(ctx, raw, "users_file", cfg->state_dir, "users",
                  &cfg->users_file);
    if (rc < 0)
        return rc;
    rc = get_path(ctx, raw, "pool_secret_file", cfg->state_dir,
                  "pool-secret", &cfg->pool_secret_file);
    if (rc < 0)
        return rc;
    return get_path(ctx, raw, "root_password_file", cfg->state_dir,
                    "root-password", &cfg->root_password_file);
}

int pd_config_from(struct xt_ctx *ctx, struct xt_config *raw,
                   const char *const *extra_keys, struct pd_config **cfg_r)
{
    struct pd_config *cfg = NULL;
    int rc;

    *cfg_r = NULL;
    cfg = calloc(1, sizeof(*cfg));
    if (!cfg) {
        xt_config_free(raw);
        return xt_error(ctx, -ENOMEM, "out of memory");
    }
    cfg->raw = raw;

    rc = check_keys(ctx, raw, extra_keys);
    if (rc < 0)
        goto out;
    rc = get_paths(ctx, raw, cfg);
    if (rc < 0)
        goto out;
    rc = get_listen(ctx, raw, cfg);
    if (rc < 0)
        goto out;
    rc = get_log(ctx, raw, cfg);
    if (rc < 0)
        goto out;
    rc = get_limits(ctx, raw, cfg);
    if (rc < 0)
        goto out;

    *cfg_r = cfg;
    cfg = NULL;

out:
    pd_config_free(cfg);
    return rc;
}

int pd_config_load(struct xt_ctx *ctx, const char *path,
                   const char *const *overrides,
                   const char *const *extra_keys, struct pd_config **cfg_r)
{
    struct xt_config *raw = NULL;
    const char *eq;
    char *key = NULL;
    bool missing_ok;
    size_t i;
    int rc;

    *cfg_r = NULL;
    /* Only the default file may be missing. */
    missing_ok = !path && !(getenv("XM_POOL_CONF") &&
                            *getenv("XM_POOL_CONF"));
    rc = xt_config_load(ctx, path, missing_ok, &raw);
    if (rc < 0)
        goto out;
    for (i = 0; overrides && overrides[i]; i++) {
        eq = strchr(overrides[i], '=');
        if (!eq || eq == overrides[i]) {
            rc = xt_error(ctx, -EINVAL, "override '%s' is not key=value",
                          overrides[i]);
            goto out;
        }
        key = strndup(overrides[i], (size_t)(eq - overrides[i]));
        if (!key || xt_config_set(raw, key, eq + 1) < 0) {
            rc = xt_error(ctx, -ENOMEM, "out of memory");
            goto out;
        }
        free(key);
        key = NULL;
    }
    rc = pd_config_from(ctx, raw, extra_keys, cfg_r);
    raw = NULL;

out:
    free(key);
    xt_config_free(raw);
    return rc;
}
