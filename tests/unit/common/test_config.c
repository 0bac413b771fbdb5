/*
 * test_config.c - config parsing, typed getters, loading real files.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xt.h"
#include "../../tap.h"

/* Writes text to a new temporary file; returns its malloc'd path. */
static char *temp_file(const char *text)
{
    char *path;
    size_t len = strlen(text);
    int fd;

    if (asprintf(&path, "%s/xt-config-XXXXXX",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp") < 0)
        tap_bail("asprintf failed");
    fd = mkstemp(path);
    if (fd < 0)
        tap_bail("mkstemp failed");
    if (xt_write_full(fd, text, len, -1) < 0)
        tap_bail("cannot write temporary file");
    close(fd);
    return path;
}

/* Checks that the last error was -EINVAL and mentions every fragment. */
static void error_mentions(struct xt_ctx *ctx, const char *what,
                           const char *frag1, const char *frag2)
{
    bool ok = ctx->err_rc == -EINVAL && strstr(ctx->err_msg, frag1) &&
              (!frag2 || strstr(ctx->err_msg, frag2));

    if (!tap_ok(ok, "%s: error names \"%s\"%s%s", what, frag1,
                frag2 ? " and " : "", frag2 ? frag2 : ""))
        tap_diag("  err_rc %d, err_msg \"%s\"", ctx->err_rc, ctx->err_msg);
}

static void test_parse(struct xt_ctx *ctx)
{
    static const char text[] =
        "# a comment\n"
        "\n"
        "   \t\n"
        "   # an indented comment\n"
        "  name = alpha   \n"
        "path=\"/var/lib/x y\"   # trailing comment\n"
        "quoted = \"say \\\"hi\\\" \\\\ back\"\n"
        "hash = a#b\n"
        "hashc = a #b\n"
        "empty =\n"
        "emptyq = \"\"\n"
        "dotted.key-1_X = v\n"
        "qhash = \"x # y\"\n"
        "tabs\t=\tt  v\t\n"
        "eq = a=b\n"
        "crlf = w\r\n"
        "name = beta\n"
        "last = no newline";
    struct xt_config *cfg = NULL;
    int rc;

    rc = xt_config_parse(ctx, "test.conf", text, &cfg);
    if (!tap_is_int(rc, 0, "parse a valid text") || !cfg) {
        tap_diag("  %s", ctx->err_msg);
        tap_skip(16, "parse failed");
        return;
    }
    tap_is_str(xt_config_get(cfg, "name"), "beta", "later key overrides");
    tap_is_str(xt_config_get(cfg, "path"), "/var/lib/x y",
               "quoted value with a space, comment after it");
    tap_is_str(xt_config_get(cfg, "quoted"), "say \"hi\" \\ back",
               "escapes in a quoted value");
    tap_is_str(xt_config_get(cfg, "hash"), "a#b", "'#' inside a word kept");
    tap_is_str(xt_config_get(cfg, "hashc"), "a", "'#' after a space: comment");
    tap_is_str(xt_config_get(cfg, "empty"), "", "empty value");
    tap_is_str(xt_config_get(cfg, "emptyq"), "", "empty quoted value");
    tap_is_str(xt_config_get(cfg, "dotted.key-1_X"), "v",
               "key with . - _ and digits");
    tap_is_str(xt_config_get(cfg, "qhash"), "x # y", "'#' inside quotes");
    tap_is_str(xt_config_get(cfg, "tabs"), "t  v", "tabs trimmed, inner kept");
    tap_is_str(xt_config_get(cfg, "eq"), "a=b", "'=' in a value");
    tap_is_str(xt_config_get(cfg, "crlf"), "w", "CR of CRLF trimmed");
    tap_is_str(xt_config_get(cfg, "last"), "no newline",
               "last line without a newline");
    tap_is_str(xt_config_get(cfg, "missing"), NULL, "absent key is NULL");
    tap_is_str(xt_config_get(cfg, "Name"), NULL, "keys are case-sensitive");
    tap_is_str(xt_config_get(cfg, "a comment"), NULL, "comments not keys");
    xt_config_free(cfg);

    rc = xt_config_parse(ctx, "empty.conf", "", &cfg);
    tap_ok(rc == 0 && cfg && !xt_config_get(cfg, "x"), "empty text");
    xt_config_free(cfg);
    xt_config_free(NULL);
}

static void test_getters(struct xt_ctx *ctx)
{
    static const char text[] =
        "n = 42\n"
        "hex = 0x1F\n"
        "max = 18446744073709551615\n"
        "over = 18446744073709551616\n"
        "neg = -1\n"
        "junk = 12abc\n"
        "blank =\n"
        "hexonly = 0x\n"
        "plus = +3\n"
        "dbl = 0x0x5\n"
        "t1 = yes\n"
        "t2 = TRUE\n"
        "t3 = on\n"
        "t4 = 1\n"
        "f1 = no\n"
        "f2 = false\n"
        "f3 = Off\n"
        "f4 = 0\n"
        "maybe = maybe\n"
        "s = text\n";
    static const char *const bad_u64[] = {
        "over", "neg", "junk", "blank", "hexonly", "plus", "dbl", "maybe",
    };
    static const char *const trues[] = { "t1", "t2", "t3", "t4" };
    static const char *const falses[] = { "f1", "f2", "f3", "f4" };
    struct xt_config *cfg = NULL;
    char where[64];
    const char *s;
    uint64_t v;
    bool b;
    size_t i;
    int rc;

    if (xt_config_parse(ctx, "typed.conf", text, &cfg) < 0)
        tap_bail("cannot parse the getters' text");

    tap_ok(xt_config_get_u64(ctx, cfg, "n", 7, &v) == 0 && v == 42,
           "u64 decimal");
    tap_ok(xt_config_get_u64(ctx, cfg, "hex", 7, &v) == 0 && v == 31,
           "u64 hexadecimal");
    tap_ok(xt_config_get_u64(ctx, cfg, "max", 7, &v) == 0 && v == UINT64_MAX,
           "u64 maximum");
    tap_ok(xt_config_get_u64(ctx, cfg, "absent", 7, &v) == 0 && v == 7,
           "u64 default when absent");
    for (i = 0; i < sizeof(bad_u64) / sizeof(bad_u64[0]); i++) {
        v = 99;
        xt_error_clear(ctx);
        rc = xt_config_get_u64(ctx, cfg, bad_u64[i], 7, &v);
        tap_ok(rc == -EINVAL && v == 99, "u64 '%s' rejected, value untouched",
               xt_config_get(cfg, bad_u64[i]));
    }
    /* "over" is on line 4. */
    xt_config_get_u64(ctx, cfg, "over", 7, &v);
    error_mentions(ctx, "bad u64", "typed.conf:4:", "over");

    for (i = 0; i < 4; i++) {
        b = false;
        rc = xt_config_get_bool(ctx, cfg, trues[i], false, &b);
        tap_ok(rc == 0 && b, "bool '%s' is true",
               xt_config_get(cfg, trues[i]));
        b = true;
        rc = xt_config_get_bool(ctx, cfg, falses[i], true, &b);
        tap_ok(rc == 0 && !b, "bool '%s' is false",
               xt_config_get(cfg, falses[i]));
    }
    tap_ok(xt_config_get_bool(ctx, cfg, "absent", true, &b) == 0 && b,
           "bool default true when absent");
    tap_ok(xt_config_get_bool(ctx, cfg, "absent", false, &b) == 0 && !b,
           "bool default false when absent");
    xt_error_clear(ctx);
    b = true;
    rc = xt_config_get_bool(ctx, cfg, "maybe", false, &b);
    tap_ok(rc == -EINVAL && b, "bool 'maybe' rejected, value untouched");
    error_mentions(ctx, "bad bool", "typed.conf:19:", "maybe");
    xt_error_clear(ctx);
    tap_is_int(xt_config_get_bool(ctx, cfg, "n", false, &b), -EINVAL,
               "bool '42' rejected");

    tap_ok(xt_config_get_str(ctx, cfg, "s", "d", &s) == 0 &&
           strcmp(s, "text") == 0, "str present");
    tap_ok(xt_config_get_str(ctx, cfg, "absent", "d", &s) == 0 &&
           strcmp(s, "d") == 0, "str default");
    tap_ok(xt_config_get_str(ctx, cfg, "absent", NULL, &s) == 0 && !s,
           "str NULL default");

    /* Overrides. */
    tap_is_int(xt_config_set(cfg, "n", "43"), 0, "set replaces a key");
    tap_ok(xt_config_get_u64(ctx, cfg, "n", 7, &v) == 0 && v == 43,
           "replaced value read back");
    tap_is_int(xt_config_set(cfg, "newkey", "on"), 0, "set adds a key");
    tap_ok(xt_config_get_bool(ctx, cfg, "newkey", false, &b) == 0 && b,
           "added value read back");
    for (i = 0; i < 40; i++) {
        snprintf(where, sizeof(where), "grow%zu", i);
        if (xt_config_set(cfg, where, where) < 0)
            break;
    }
    tap_is_str(xt_config_get(cfg, "grow39"), "grow39",
               "many keys (table grows)");
    tap_is_str(xt_config_get(cfg, "grow0"), "grow0", "first of many kept");
    xt_config_set(cfg, "n", "bad");
    xt_error_clear(ctx);
    tap_is_int(xt_config_get_u64(ctx, cfg, "n", 7, &v), -EINVAL,
               "bad override rejected");
    error_mentions(ctx, "bad override", "typed.conf", "n");
    xt_config_free(cfg);
}

static void test_malformed(struct xt_ctx *ctx)
{
    static const struct {
        const char *line;
        const char *what;
    } cases[] = {
        { "novalue", "no '='" },
        { "  novalue # comment", "no '=' before a comment" },
        { "= v", "empty key" },
        { "   = v", "indented empty key" },
        { "ba d = 1", "space in key" },
        { "k$y = 1", "'$' in key" },
        { "k\"ey = 1", "quote in key" },
        { "k = \"unterminated", "unterminated quote" },
        { "k = \"ends in backslash\\", "unterminated after backslash" },
        { "k = \"a\" junk", "text after quoted value" },
        { "k = \"bad \\n escape\"", "unknown escape" },
    };
    struct xt_config *cfg;
    char text[256], frag[64];
    size_t i;
    int rc;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        /* The bad line is line 4, after a comment, a blank and a good
         * line. */
        snprintf(text, sizeof(text), "# c\n\ngood = 1\n%s\nafter = 2\n",
                 cases[i].line);
        cfg = (struct xt_config *)&cfg;
        xt_error_clear(ctx);
        rc = xt_config_parse(ctx, "bad.conf", text, &cfg);
        tap_ok(rc == -EINVAL && cfg == NULL, "%s: -EINVAL, no config",
               cases[i].what);
        snprintf(frag, sizeof(frag), "bad.conf:4:");
        error_mentions(ctx, cases[i].what, frag, NULL);
        if (rc == 0)
            xt_config_free(cfg);
    }
}

static void test_load(struct xt_ctx *ctx)
{
    struct xt_config *cfg = NULL;
    char *good, *bad, *missing, frag[300];
    uint64_t v = 0;
    int rc;

    good = temp_file("# written by test_config\nsize = 4096\n"
                     "label = \"from file\"\n");
    bad = temp_file("ok = 1\nok2 = 2\n\nbroken line\n");
    if (asprintf(&missing, "%s.does-not-exist", good) < 0)
        tap_bail("asprintf failed");

    rc = xt_config_load(ctx, good, false, &cfg);
    tap_is_int(rc, 0, "load a real file");
    tap_ok(cfg && xt_config_get_u64(ctx, cfg, "size", 0, &v) == 0 &&
           v == 4096, "value from the file");
    tap_is_str(cfg ? xt_config_get(cfg, "label") : NULL, "from file",
               "quoted value from the file");
    xt_config_free(cfg);

    xt_error_clear(ctx);
    rc = xt_config_load(ctx, bad, false, &cfg);
    tap_ok(rc == -EINVAL && !cfg, "malformed file fails");
    snprintf(frag, sizeof(frag), "%s:4:", bad);
    error_mentions(ctx, "malformed file", frag, NULL);

    xt_error_clear(ctx);
    cfg = (struct xt_config *)&cfg;
    rc = xt_config_load(ctx, missing, false, &cfg);
    tap_ok(rc == -ENOENT && !cfg, "missing file is -ENOENT");
    tap_ok(ctx->err_rc == -ENOENT && strstr(ctx->err_msg, missing),
           "missing file reported with its path");

    xt_error_clear(ctx);
    rc = xt_config_load(ctx, missing, true, &cfg);
    tap_ok(rc == 0 && cfg && !xt_config_get(cfg, "size"),
           "missing_ok: empty config");
    tap_is_int(ctx->err_rc, 0, "missing_ok: nothing reported");
    xt_config_free(cfg);

    xt_error_clear(ctx);
    rc = xt_config_load(ctx, "/", false, &cfg);
    tap_ok(rc < 0 && !cfg && ctx->err_rc == rc, "a directory fails (%d)",
           rc);

    /* NULL path: $XM_POOL_CONF. */
    setenv("XM_POOL_CONF", good, 1);
    rc = xt_config_load(ctx, NULL, false, &cfg);
    tap_ok(rc == 0 && cfg && xt_config_get_u64(ctx, cfg, "size", 0, &v) == 0
           && v == 4096, "$XM_POOL_CONF names the default file");
    xt_config_free(cfg);

    setenv("XM_POOL_CONF", missing, 1);
    xt_error_clear(ctx);
    rc = xt_config_load(ctx, NULL, false, &cfg);
    tap_ok(rc == -ENOENT && strstr(ctx->err_msg, missing),
           "$XM_POOL_CONF missing: -ENOENT naming it");
    rc = xt_config_load(ctx, NULL, true, &cfg);
    tap_ok(rc == 0 && cfg, "$XM_POOL_CONF missing, missing_ok: empty");
    xt_config_free(cfg);

    unsetenv("XM_POOL_CONF");
    if (access(XT_CONFIG_DEFAULT_PATH, F_OK) == 0) {
        tap_skip(1, XT_CONFIG_DEFAULT_PATH " exists on this host");
    } else {
        xt_error_clear(ctx);
        rc = xt_config_load(ctx, NULL, false, &cfg);
        tap_ok(rc == -ENOENT && strstr(ctx->err_msg, XT_CONFIG_DEFAULT_PATH),
               "no $XM_POOL_CONF: " XT_CONFIG_DEFAULT_PATH);
    }

    unlink(good);
    unlink(bad);
    free(good);
    free(bad);
    free(missing);
}

static void test_check_keys(struct xt_ctx *ctx)
{
    static const char *const known[] = { "alpha", "beta", NULL };
    struct xt_config *cfg = NULL;
    int rc;

    if (xt_config_parse(ctx, "keys.conf", "alpha = 1\n# c\nbeta = 2\n",
                        &cfg) < 0)
        tap_bail("parse failed");
    tap_is_int(xt_config_check_keys(ctx, cfg, known), 0,
               "known keys accepted");
    rc = xt_config_error(ctx, cfg, "beta", "must be %s", "odd");
    tap_is_int(rc, -EINVAL, "xt_config_error returns -EINVAL");
    error_mentions(ctx, "xt_config_error", "keys.conf:3: beta: must be odd",
                   NULL);
    xt_config_error(ctx, cfg, "gamma", "absent");
    error_mentions(ctx, "absent key", "keys.conf: gamma: absent", NULL);
    xt_config_free(cfg);

    if (xt_config_parse(ctx, "keys.conf", "alpha = 1\n\nbogus = 2\n",
                        &cfg) < 0)
        tap_bail("parse failed");
    rc = xt_config_check_keys(ctx, cfg, known);
    tap_is_int(rc, -EINVAL, "unknown key rejected");
    error_mentions(ctx, "unknown key", "keys.conf:3:", "'bogus'");
    xt_config_free(cfg);
}

int main(void)
{
    struct xt_ctx *ctx = xt_ctx_new("test_config");

    if (!ctx)
        tap_bail("xt_ctx_new failed");
    ctx->quiet_errors = true;
    test_parse(ctx);
    test_getters(ctx);
    test_malformed(ctx);
    test_load(ctx);
    test_check_keys(ctx);
    xt_ctx_free(ctx);
    return tap_done();
}
