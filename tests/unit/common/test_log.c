/*
 * test_log.c - context, log levels, report-once errors, the clock.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "xt.h"
#include "../../tap.h"

/* A context whose log goes to a memory stream. */
struct sink {
    char *buf;
    size_t len;
    FILE *f;
};

static void sink_open(struct sink *s, struct xt_ctx *ctx)
{
    s->buf = NULL;
    s->len = 0;
    s->f = open_memstream(&s->buf, &s->len);
    if (!s->f)
        tap_bail("open_memstream failed");
    ctx->log = s->f;
}

/* What was logged since the last call; the sink keeps running. */
static const char *sink_text(struct sink *s)
{
    fflush(s->f);
    return s->buf ? s->buf : "";
}

static void sink_reset(struct sink *s, struct xt_ctx *ctx)
{
    fclose(s->f);
    free(s->buf);
    sink_open(s, ctx);
}

static void sink_close(struct sink *s, struct xt_ctx *ctx)
{
    fclose(s->f);
    free(s->buf);
    ctx->log = stderr;
}

static void test_defaults(void)
{
    struct xt_ctx *ctx = xt_ctx_new("xm-test");

    if (!tap_ok(ctx != NULL, "xt_ctx_new")) {
        tap_skip(4, "no context");
        return;
    }
    tap_is_int(ctx->level, XT_LOG_INFO, "default level is info");
    tap_ok(ctx->log == stderr, "default sink is stderr");
    tap_is_str(ctx->prog, "xm-test", "prog kept");
    tap_ok(ctx->err_rc == 0 && ctx->err_msg[0] == '\0' &&
           !ctx->quiet_errors, "no error recorded, errors not quiet");
    xt_ctx_free(ctx);
    xt_ctx_free(NULL);
}

static void test_level_parse(void)
{
    static const struct {
        const char *s;
        int rc;
        enum xt_log_level level;
    } cases[] = {
        { "error", 0, XT_LOG_ERROR }, { "warn", 0, XT_LOG_WARN },
        { "info", 0, XT_LOG_INFO }, { "debug", 0, XT_LOG_DEBUG },
        { "DEBUG", 0, XT_LOG_DEBUG }, { "0", 0, XT_LOG_ERROR },
        { "1", 0, XT_LOG_WARN }, { "2", 0, XT_LOG_INFO },
        { "3", 0, XT_LOG_DEBUG }, { "4", -EINVAL, XT_LOG_INFO },
        { "-1", -EINVAL, XT_LOG_INFO }, { "", -EINVAL, XT_LOG_INFO },
        { "verbose", -EINVAL, XT_LOG_INFO }, { "info ", -EINVAL, XT_LOG_INFO },
    };
    enum xt_log_level level;
    size_t i;
    int rc;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        level = XT_LOG_INFO;
        rc = xt_log_level_parse(cases[i].s, &level);
        tap_ok(rc == cases[i].rc && level == cases[i].level,
               "level \"%s\" -> rc %d level %d (got rc %d level %d)",
               cases[i].s, cases[i].rc, cases[i].level, rc, level);
    }
    tap_is_int(xt_log_level_parse(NULL, &level), -EINVAL, "NULL rejected");
}

static void test_levels_filter(struct xt_ctx *ctx)
{
    struct sink s;

    sink_open(&s, ctx);
    ctx->level = XT_LOG_WARN;
    xt_info(ctx, "info %d", 1);
    xt_debug(ctx, "debug %d", 1);
    tap_is_str(sink_text(&s), "", "info and debug dropped at warn level");
    xt_warn(ctx, "careful %s", "now");
    tap_is_str(sink_text(&s), "t: warning: careful now\n",
               "warning logged with prefix");

    sink_reset(&s, ctx);
    ctx->level = XT_LOG_DEBUG;
    xt_debug(ctx, "d");
    xt_info(ctx, "i");
    xt_log(ctx, XT_LOG_ERROR, "e");
    tap_is_str(sink_text(&s), "t: debug: d\nt: info: i\nt: error: e\n",
               "all levels at debug, in order");

    sink_reset(&s, ctx);
    ctx->level = XT_LOG_ERROR;
    xt_warn(ctx, "w");
    xt_log(ctx, XT_LOG_ERROR, "e");
    tap_is_str(sink_text(&s), "t: error: e\n", "only errors at error level");

    sink_reset(&s, ctx);
    ctx->level = XT_LOG_INFO;
    errno = EBADF;
    xt_info(ctx, "keeps errno");
    tap_is_int(errno, EBADF, "xt_log preserves errno");
    sink_close(&s, ctx);
}

static void test_error(struct xt_ctx *ctx)
{
    char longer[2 * XT_ERRMSG_MAX];
    struct sink s;
    int rc;

    sink_open(&s, ctx);
    ctx->level = XT_LOG_ERROR;
    rc = xt_error(ctx, -ENOENT, "no file %s", "x.conf");
    tap_is_int(rc, -ENOENT, "xt_error returns rc");
    tap_is_int(ctx->err_rc, -ENOENT, "err_rc recorded");
    tap_is_str(ctx->err_msg, "no file x.conf", "err_msg recorded");
    tap_is_str(sink_text(&s), "t: error: no file x.conf: No such file or "
               "directory\n", "logged once with strerror");

    xt_error_clear(ctx);
    tap_ok(ctx->err_rc == 0 && ctx->err_msg[0] == '\0', "xt_error_clear");

    sink_reset(&s, ctx);
    ctx->quiet_errors = true;
    errno = EAGAIN;
    rc = xt_error(ctx, -EINVAL, "bad value %d", 7);
    tap_is_int(errno, EAGAIN, "xt_error preserves errno");
    tap_is_int(rc, -EINVAL, "quiet: still returns rc");
    tap_is_int(ctx->err_rc, -EINVAL, "quiet: err_rc recorded");
    tap_is_str(ctx->err_msg, "bad value 7", "quiet: err_msg recorded");
    tap_is_str(sink_text(&s), "", "quiet: nothing logged");

    rc = xt_error(ctx, -EIO, "second");
    tap_ok(rc == -EIO && ctx->err_rc == -EIO &&
           strcmp(ctx->err_msg, "second") == 0, "a later error replaces");

    rc = xt_error(ctx, 0, "not an errno");
    tap_is_int(rc, -EIO, "rc 0 is kept an error (-EIO)");

    memset(longer, 'a', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    xt_error(ctx, -E2BIG, "%s", longer);
    tap_is_int((long long)strlen(ctx->err_msg), XT_ERRMSG_MAX - 1,
               "long message truncated and terminated");
    ctx->quiet_errors = false;
    sink_close(&s, ctx);
}

static void test_clock(void)
{
    struct timespec ts = { .tv_sec = 0, .tv_nsec = 20 * 1000 * 1000 };
    uint64_t t0, t1, t2;

    t0 = xt_now_ns();
    t1 = xt_now_ns();
    nanosleep(&ts, NULL);
    t2 = xt_now_ns();
    tap_ok(t0 > 0 && t1 >= t0, "clock is monotonic");
    tap_ok(t2 - t1 >= 20ull * 1000 * 1000 && t2 - t1 < 5000ull * 1000 * 1000,
           "clock advanced by the sleep (%llu ns)",
           (unsigned long long)(t2 - t1));
}

int main(void)
{
    struct xt_ctx *ctx;

    test_defaults();
    test_level_parse();

    ctx = xt_ctx_new("t");
    if (!ctx)
        tap_bail("xt_ctx_new failed");
    test_levels_filter(ctx);
    test_error(ctx);
    xt_ctx_free(ctx);

    test_clock();
    return tap_done();
}
