/*
 * xt_config.c - `key = value` configuration files.
 *
 * A config is a flat list of entries, each remembering the line it came
 * from so that a bad value can be reported as "PATH:LINE: key: ...".
 * Files are small: lookups are linear.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xt.h"

/* Larger files are refused: a config is a handful of lines. */
#define CONFIG_MAX_SIZE (1024 * 1024)

struct config_entry {
    char *key;
    char *value;
    unsigned int line;      /* 0 when set by xt_config_set() */
};

struct xt_config {
    char *name;             /* file name used in messages */
    struct config_entry *entries;
    size_t n, cap;
};

static struct xt_config *config_new(const char *name)
{
    struct xt_config *cfg;

    cfg = calloc(1, sizeof(*cfg));
    if (!cfg)
        return NULL;
    cfg->name = strdup(name ? name : "<config>");
    if (!cfg->name) {
        free(cfg);
        return NULL;
    }
    return cfg;
}

void xt_config_free(struct xt_config *cfg)
{
    size_t i;

    if (!cfg)
        return;
    for (i = 0; i < cfg->n; i++) {
        free(cfg->entries[i].key);
        free(cfg->entries[i].value);
    }
    free(cfg->entries);
    free(cfg->name);
    free(cfg);
}

static struct config_entry *find_entry(const struct xt_config *cfg,
                                       const char *key)
{
    size_t i;

    if (!cfg || !key)
        return NULL;
    for (i = 0; i < cfg->n; i++) {
        if (strcmp(cfg->entries[i].key, key) == 0)
            return &cfg->entries[i];
    }
    return NULL;
}

/* Sets key to value (both copied), replacing an earlier one. */
static int set_entry(struct xt_config *cfg, const char *key, size_t keylen,
                     const char *value, unsigned int line)
{
    struct config_entry *e, *grown;
    char *k = NULL, *v = NULL;
    size_t cap;
    int rc;

    k = strndup(key, keylen);
    v = strdup(value);
    if (!k || !v) {
        rc = -ENOMEM;
        goto out;
    }

    e = find_entry(cfg, k);
    if (e) {
        free(e->value);
        e->value = v;
        e->line = line;
        v = NULL;
        rc = 0;
        goto out;
    }

    if (cfg->n == cfg->cap) {
        cap = cfg->cap ? cfg->cap * 2 : 16;
        grown = reallocarray(cfg->entries, cap, sizeof(*grown));
        if (!grown) {
            rc = -ENOMEM;
            goto out;
        }
        cfg->entries = grown;
        cfg->cap = cap;
    }
    e = &cfg->entries[cfg->n++];
    e->key = k;
    e->value = v;
    e->line = line;
    k = NULL;
    v = NULL;
    rc = 0;

out:
    free(k);
    free(v);
    return rc;
}

int xt_config_set(struct xt_config *cfg, const char *key, const char *value)
{
    return set_entry(cfg, key, strlen(key), value, 0);
}

static bool is_key_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-';
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/*
 * Parses one line (without its '\n', NUL-terminated in place) into cfg.
 * val is scratch space at least as long as the line.  Reports and returns
 * -EINVAL on a malformed line.
 */
static int parse_line(struct xt_ctx *ctx, struct xt_config *cfg,
                      unsigned int lineno, char *line, char *val)
{
    char *p = line, *key, *eq, *end;
    size_t keylen, n = 0;

    while (is_blank(*p))
        p++;
    if (*p == '\0' || *p == '#')
        return 0;

    key = p;
    eq = strchr(p, '=');
    if (!eq)
        return xt_error(ctx, -EINVAL, "%s:%u: expected 'key = value'",
                        cfg->name, lineno);
    end = eq;
    while (end > key && is_blank(end[-1]))
        end--;
    keylen = (size_t)(end - key);
    if (keylen == 0)
        return xt_error(ctx, -EINVAL, "%s:%u: empty key", cfg->name, lineno);
    for (p = key; p < end; p++) {
        if (!is_key_char(*p))
            return xt_error(ctx, -EINVAL,
                            "%s:%u: invalid character '%c' in key '%.*s'",
                            cfg->name, lineno, isprint((unsigned char)*p) ?
                            *p : '?', (int)keylen, key);
    }

    p = eq + 1;
    while (is_blank(*p))
        p++;
    if (*p == '"') {
        for (p++; *p != '"'; p++) {
            if (*p == '\0')
                return xt_error(ctx, -EINVAL, "%s:%u: unterminated quote",
                                cfg->name, lineno);
            if (*p == '\\') {
                p++;
                if (*p == '\0')
                    return xt_error(ctx, -EINVAL,
                                    "%s:%u: unterminated quote",
                                    cfg->name, lineno);
                if (*p != '"' && *p != '\\')
                    return xt_error(ctx, -EINVAL,
                                    "%s:%u: invalid escape in quoted value"
                                    " (only \\\" and \\\\)",
                                    cfg->name, lineno);
            }
            val[n++] = *p;
        }
        for (p++; is_blank(*p); p++)
            ;
        if (*p != '\0' && *p != '#')
            return xt_error(ctx, -EINVAL,
                            "%s:%u: unexpected text after quoted value",
                            cfg->name, lineno);
    } else {
        /* '#' starts a comment only after white space: "a=b#c" keeps
         * "b#c", "a= #c" is empty. */
        for (; *p != '\0'; p++) {
            if (*p == '#' && is_blank(p[-1]))
                break;
            val[n++] = *p;
        }
        while (n > 0 && is_blank(val[n - 1]))
            n--;
    }
    val[n] = '\0';

    if (set_entry(cfg, key, keylen, val, lineno) < 0)
        return xt_error(ctx, -ENOMEM, "%s:%u: out of memory", cfg->name,
                        lineno);
    return 0;
}

int xt_config_parse(struct xt_ctx *ctx, const char *name, const char *text,
                    struct xt_config **cfg_r)
{
    struct xt_config *cfg = NULL;
    char *copy = NULL, *scratch = NULL, *line, *nl;
    unsigned int lineno = 0;
    size_t len;
    int rc;

    *cfg_r = NULL;
    cfg = config_new(name);
    if (!cfg) {
        rc = xt_error(ctx, -ENOMEM, "%s: out of memory",
                      name ? name : "<config>");
        goto out;
    }
    if (!text)
        text = "";
    len = strlen(text);
    copy = strdup(text);
    scratch = malloc(len + 1);
    if (!copy || !scratch) {
        rc = xt_error(ctx, -ENOMEM, "%s: out of memory", cfg->name);
        goto out;
    }

    for (line = copy; line; line = nl) {
        nl = strchr(line, '\n');
        if (nl)
            *nl++ = '\0';
        else if (*line == '\0')
            break;      /* after the final newline */
        lineno++;
        rc = parse_line(ctx, cfg, lineno, line, scratch);
        if (rc < 0)
            goto out;
    }

    *cfg_r = cfg;
    cfg = NULL;
    rc = 0;

out:
    free(scratch);
    free(copy);
    xt_config_free(cfg);
    return rc;
}

/* Reads the whole file into a NUL-terminated buffer; reports errors. */
static int read_file(struct xt_ctx *ctx, const char *path, bool missing_ok,
                     char **text_r)
{
    char *buf = NULL;
    size_t len = 0, cap = 4096;
    ssize_t r;
    int fd = -1;
    int rc;

    *text_r = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        if (rc == -ENOENT && missing_ok)
            goto out;
        xt_error(ctx, rc, "cannot open config file %s", path);
        goto out;
    }

    buf = malloc(cap);
    if (!buf) {
        rc = xt_error(ctx, -ENOMEM, "%s: out of memory", path);
        goto out;
    }
    for (;;) {
        if (len + 1 == cap) {
            char *grown;

            if (cap >= CONFIG_MAX_SIZE) {
                rc = xt_error(ctx, -EFBIG, "%s: larger than %d bytes",
                              path, CONFIG_MAX_SIZE);
                goto out;
            }
            grown = realloc(buf, cap * 2);
            if (!grown) {
                rc = xt_error(ctx, -ENOMEM, "%s: out of memory", path);
                goto out;
            }
            buf = grown;
            cap *= 2;
        }
        r = read(fd, buf + len, cap - 1 - len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = xt_error(ctx, -errno, "cannot read config file %s", path);
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    if (memchr(buf, '\0', len)) {
        rc = xt_error(ctx, -EINVAL, "%s: contains a NUL byte", path);
        goto out;
    }
    buf[len] = '\0';

    *text_r = buf;
    buf = NULL;
    rc = 0;

out:
    free(buf);
    if (fd >= 0)
        close(fd);
    return rc;
}

int xt_config_load(struct xt_ctx *ctx, const char *path, bool missing_ok,
                   struct xt_config **cfg_r)
{
    char *text = NULL;
    int rc;

    *cfg_r = NULL;
    if (!path) {
        path = getenv("XM_POOL_CONF");
        if (!path || !*path)
            path = XT_CONFIG_DEFAULT_PATH;
    }

    rc = read_file(ctx, path, missing_ok, &text);
    if (rc == -ENOENT && missing_ok) {
        *cfg_r = config_new(path);
        rc = *cfg_r ? 0 : xt_error(ctx, -ENOMEM, "%s: out of memory", path);
        goto out;
    }
    if (rc < 0)
        goto out;

    rc = xt_config_parse(ctx, path, text, cfg_r);

out:
    free(text);
    return rc;
}

const char *xt_config_get(const struct xt_config *cfg, const char *key)
{
    const struct config_entry *e = find_entry(cfg, key);

    return e ? e->value : NULL;
}

/* Reports a bad value of e, naming where it was set. */
static int bad_value(struct xt_ctx *ctx, const struct xt_config *cfg,
                     const struct config_entry *e, const char *what)
{
    if (e->line == 0)
        return xt_error(ctx, -EINVAL, "%s: %s (set as an override): "
                        "invalid %s '%s'", cfg->name, e->key, what,
                        e->value);
    return xt_error(ctx, -EINVAL, "%s:%u: %s: invalid %s '%s'", cfg->name,
                    e->line, e->key, what, e->value);
}

int xt_config_get_str(struct xt_ctx *ctx, const struct xt_config *cfg,
                      const char *key, const char *def, const char **val_r)
{
    const struct config_entry *e = find_entry(cfg, key);

    *val_r = e ? e->value : def;
    return 0;
}

/*
 * Decimal, or hexadecimal after "0x": digits only, no sign, no white
 * space, no overflow (strtoull() lets all of these through).
 */
static int parse_u64(const char *s, uint64_t *val_r)
{
    unsigned int base = 10, d;
    uint64_t v = 0;

    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    if (*s == '\0')
        return -EINVAL;
    for (; *s; s++) {
        if (*s >= '0' && *s <= '9')
            d = (unsigned int)(*s - '0');
        else if (base == 16 && *s >= 'a' && *s <= 'f')
            d = (unsigned int)(*s - 'a' + 10);
        else if (base == 16 && *s >= 'A' && *s <= 'F')
            d = (unsigned int)(*s - 'A' + 10);
        else
            return -EINVAL;
        if (v > (UINT64_MAX - d) / base)
            return -ERANGE;
        v = v * base + d;
    }
    *val_r = v;
    return 0;
}

int xt_config_get_u64(struct xt_ctx *ctx, const struct xt_config *cfg,
                      const char *key, uint64_t def, uint64_t *val_r)
{
    const struct config_entry *e = find_entry(cfg, key);
    uint64_t v;

    if (!e) {
        *val_r = def;
        return 0;
    }
    if (parse_u64(e->value, &v) < 0)
        return bad_value(ctx, cfg, e, "unsigned integer");
    *val_r = v;
    return 0;
}

int xt_config_get_bool(struct xt_ctx *ctx, const struct xt_config *cfg,
                       const char *key, bool def, bool *val_r)
{
    static const char *const yes[] = { "1", "true", "yes", "on" };
    static const char *const no[] = { "0", "false", "no", "off" };
    const struct config_entry *e = find_entry(cfg, key);
    size_t i;

    if (!e) {
        *val_r = def;
        return 0;
    }
    for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(e->value, yes[i]) == 0) {
            *val_r = true;
            return 0;
        }
        if (strcasecmp(e->value, no[i]) == 0) {
            *val_r = false;
            return 0;
        }
    }
    return bad_value(ctx, cfg, e, "boolean");
}

int xt_config_error(struct xt_ctx *ctx, const struct xt_config *cfg,
                    const char *key, const char *fmt, ...)
{
    const struct config_entry *e = find_entry(cfg, key);
    const char *name = cfg && cfg->name ? cfg->name : "<config>";
    char msg[XT_ERRMSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!e)
        return xt_error(ctx, -EINVAL, "%s: %s: %s", name, key, msg);
    if (e->line == 0)
        return xt_error(ctx, -EINVAL, "%s: %s (set as an override): %s",
                        name, key, msg);
    return xt_error(ctx, -EINVAL, "%s:%u: %s: %s", name, e->line, key, msg);
}

int xt_config_check_keys(struct xt_ctx *ctx, const struct xt_config *cfg,
                         const char *const *known)
{
    const struct config_entry *e;
    size_t i, k;

    for (i = 0; cfg && i < cfg->n; i++) {
        e = &cfg->entries[i];
        for (k = 0; known[k]; k++) {
            if (strcmp(e->key, known[k]) == 0)
                break;
        }
        if (known[k])
            continue;
        if (e->line == 0)
            return xt_error(ctx, -EINVAL, "%s: unknown key '%s' (set as an "
                            "override)", cfg->name, e->key);
        return xt_error(ctx, -EINVAL, "%s:%u: unknown key '%s'", cfg->name,
                        e->line, e->key);
    }
    return 0;
}
