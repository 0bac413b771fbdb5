/*
 * xt_ctx.c - the root context: logging with levels, report-once errors and
 * the monotonic clock.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "xt.h"

static const char *const level_names[] = {
    [XT_LOG_ERROR] = "error",
    [XT_LOG_WARN]  = "warning",
    [XT_LOG_INFO]  = "info",
    [XT_LOG_DEBUG] = "debug",
};

struct xt_ctx *xt_ctx_new(const char *prog)
{
    struct xt_ctx *ctx;

    ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        return NULL;
    ctx->level = XT_LOG_INFO;
    ctx->log = stderr;
    ctx->prog = prog ? prog : "xm-pool";
    return ctx;
}

void xt_ctx_free(struct xt_ctx *ctx)
{
    free(ctx);
}

int xt_log_level_parse(const char *s, enum xt_log_level *level_r)
{
    static const struct {
        const char *name;
        enum xt_log_level level;
    } names[] = {
        { "error", XT_LOG_ERROR }, { "0", XT_LOG_ERROR },
        { "warn", XT_LOG_WARN }, { "warning", XT_LOG_WARN },
        { "1", XT_LOG_WARN },
        { "info", XT_LOG_INFO }, { "2", XT_LOG_INFO },
        { "debug", XT_LOG_DEBUG }, { "3", XT_LOG_DEBUG },
    };
    size_t i;

    if (!s)
        return -EINVAL;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(s, names[i].name) == 0) {
            *level_r = names[i].level;
            return 0;
        }
    }
    return -EINVAL;
}

/*
 * Writes one line "prog: level: message[: suffix]\n" under the stream lock,
 * so lines of concurrent threads sharing a sink do not interleave.
 */
static void log_line(struct xt_ctx *ctx, enum xt_log_level level,
                     const char *msg, const char *suffix)
{
    FILE *f = ctx && ctx->log ? ctx->log : stderr;
    const char *prog = ctx && ctx->prog ? ctx->prog : "xm-pool";

    flockfile(f);
    fprintf(f, "%s: %s: %s", prog, level_names[level], msg);
    if (suffix)
        fprintf(f, ": %s", suffix);
    fputc('\n', f);
    fflush(f);
    funlockfile(f);
}

void xt_log(struct xt_ctx *ctx, enum xt_log_level level, const char *fmt, ...)
{
    char msg[XT_ERRMSG_MAX];
    int saved_errno = errno;
    va_list ap;

    if (level < XT_LOG_ERROR || level > XT_LOG_DEBUG)
        level = XT_LOG_DEBUG;
    if (ctx && level > ctx->level)
        goto out;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_line(ctx, level, msg, NULL);

out:
    errno = saved_errno;
}

int xt_error(struct xt_ctx *ctx, int rc, const char *fmt, ...)
{
    char local[XT_ERRMSG_MAX];
    char errbuf[128];
    char *msg = ctx ? ctx->err_msg : local;
    int saved_errno = errno;
    va_list ap;

    /* A caller passing 0 or a positive value would turn an error into a
     * success on the way up: keep it an error. */
    if (rc >= 0)
        rc = -EIO;

    va_start(ap, fmt);
    vsnprintf(msg, XT_ERRMSG_MAX, fmt, ap);
    va_end(ap);
    if (ctx)
        ctx->err_rc = rc;

    if (!ctx || !ctx->quiet_errors)
        log_line(ctx, XT_LOG_ERROR, msg,
                 strerror_r(-rc, errbuf, sizeof(errbuf)));

    errno = saved_errno;
    return rc;
}

void xt_error_clear(struct xt_ctx *ctx)
{
    if (!ctx)
        return;
    ctx->err_rc = 0;
    ctx->err_msg[0] = '\0';
}

uint64_t xt_now_ns(void)
{
    struct timespec ts;

    /* CLOCK_MONOTONIC cannot fail with a valid clock id and pointer. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
