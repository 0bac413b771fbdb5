/*
 * loopback.c - one whole migration in one process (loopback.h).
 */
#include "config.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loopback.h"
#include "../../tap.h"

struct rx {
    struct hv_handle *h;
    struct xt_ctx *ctx;
    int lfd, rc;
    struct mig_recv_opts o;
    struct mig_stats st;
};

static void *rx_main(void *arg)
{
    struct rx *r = arg;

    r->rc = mig_receive(r->ctx, r->h, r->lfd, &r->o, &r->st);
    return NULL;
}

static struct xt_ctx *quiet_ctx(const char *name)
{
    struct xt_ctx *c = xt_ctx_new(name);

    if (!c)
        tap_bail("no memory");
    c->quiet_errors = true;
    c->level = XT_LOG_WARN;
    return c;
}

void loop_migrate(const struct loop_side *src, uint32_t domid,
                  const struct loop_side *dst,
                  const struct mig_send_opts *so,
                  const struct mig_recv_opts *ro, struct loop_result *out)
{
    struct xt_ctx *sctx = quiet_ctx("src"), *dctx = quiet_ctx("dst");
    struct hv_handle *sh = NULL;
    struct mig_send_opts o;
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    struct rx r;
    pthread_t t;
    char port[16];

    memset(out, 0, sizeof(*out));
    memset(&r, 0, sizeof(r));
    r.ctx = dctx;
    if (hv_open_ops(sctx, src->ops, NULL, src->priv, &sh) < 0 ||
        hv_open_ops(dctx, dst->ops, NULL, dst->priv, &r.h) < 0)
        tap_bail("opening the fake drivers");
    if (ro) {
        r.o = *ro;
    } else {
        mig_recv_opts_init(&r.o);
        r.o.timeout_ms = 5000;
        r.o.linger_ms = 0;
    }
    if (so) {
        o = *so;
    } else {
        mig_send_opts_init(&o);
        o.timeout_ms = 5000;
    }
    /* Between two threads on 127.0.0.1: plain TCP. */
    r.o.chan.plain = o.chan.plain = true;
    if (mig_listen(dctx, "127.0.0.1", "0", &r.lfd) < 0 ||
        getsockname(r.lfd, (struct sockaddr *)&sa, &sl) < 0)
        tap_bail("listen");
    snprintf(port, sizeof(port), "%u", ntohs(sa.sin_port));
    if (pthread_create(&t, NULL, rx_main, &r))
        tap_bail("thread");
    out->src_rc = mig_send(sctx, sh, domid, "127.0.0.1", port, &o,
                           &out->src);
    pthread_join(t, NULL);
    out->dst_rc = r.rc;
    out->dst = r.st;
    snprintf(out->src_msg, sizeof(out->src_msg), "%s", sctx->err_msg);
    snprintf(out->dst_msg, sizeof(out->dst_msg), "%s", dctx->err_msg);
    close(r.lfd);
    hv_close(sh);
    hv_close(r.h);
    xt_ctx_free(sctx);
    xt_ctx_free(dctx);
}
