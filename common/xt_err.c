/*
 * xt_err.c - an operation's first error, kept apart from the contexts its
 * steps report into (xt.h).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "xt.h"

int xt_err_take(struct xt_err *e, const struct xt_ctx *ctx, int rc)
{
    if (e->rc)
        return e->rc;
    e->rc = rc < 0 ? rc : -EIO;
    /* The context's message is this error's only if it says this rc: a
     * step that failed without reporting leaves an older one there. */
    if (ctx && ctx->err_rc == e->rc && ctx->err_msg[0])
        snprintf(e->msg, sizeof(e->msg), "%s", ctx->err_msg);
    else
        snprintf(e->msg, sizeof(e->msg), "%s", strerror(-e->rc));
    return e->rc;
}

int xt_err_set(struct xt_err *e, int rc, const char *fmt, ...)
{
    va_list ap;

    if (e->rc)
        return e->rc;
    e->rc = rc < 0 ? rc : -EIO;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    return e->rc;
}

int xt_err_put(const struct xt_err *e, struct xt_ctx *ctx)
{
    if (ctx && e->rc) {
        ctx->err_rc = e->rc;
        snprintf(ctx->err_msg, sizeof(ctx->err_msg), "%s", e->msg);
    }
    return e->rc;
}
