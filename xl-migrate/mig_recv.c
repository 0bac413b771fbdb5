/*
 * mig_recv.c - the receiving side as a state machine (docs/specs/
 * migration-stream.md section 11, docs/design/migration.md): accepting
 * the sender (stray and wrong connections are dropped and accepting goes
 * on), the VM's configuration and what the one-time token allows, the
 * transfer mode (mig_recv_pages.c, mig_opaque.c), READY, COMMIT, the
 * resume, and one function, recv_recover, that decides from the state
 * what a failure means; then answering an in-doubt sender's QUERY.
 *
 *   LISTENING --sender--> RECEIVING --END--> READY --COMMIT--> COMMITTED
 *                            |                 |                  |
 *                            +--failure--------+----> DISCARDED <-+ unpause
 *                                                                 | fails
 *                                                    RUNNING <----+ ok
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mig_internal.h"

/* How long to wait for the resumed guest's first heartbeat (a loaded host
 * may take a while to schedule it); the pause is measured either way. */
#define FIRST_HB_WAIT_MS    3000
/* How long a refused sender's data is drained so that it reads our ABORT
 * (a close with data unread would reset the connection and lose it). */
#define ABORT_DRAIN_MS      1000

void mig_recv_opts_init(struct mig_recv_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->timeout_ms = MIG_DEFAULT_TIMEOUT_MS;
    o->accept_ms = MIG_DEFAULT_ACCEPT_MS;
    o->linger_ms = 10000;
    o->stop_fd = -1;
}

const char *mig_dst_state_name(enum mig_dst_state s)
{
    switch (s) {
    case MIG_DST_LISTENING: return "listening";
    case MIG_DST_RECEIVING: return "receiving";
    case MIG_DST_READY:     return "ready";
    case MIG_DST_COMMITTED: return "committed";
    case MIG_DST_RUNNING:   return "running";
    case MIG_DST_DISCARDED: return "discarded";
    }
    return "unknown";
}

int mig_recv_fail(struct mig_receiver *r, struct xt_ctx *ctx, int rc)
{
    pthread_mutex_lock(&r->lock);
    xt_err_take(&r->err, ctx, rc);
    r->failed = true;
    pthread_mutex_unlock(&r->lock);
    return rc;
}

bool mig_recv_failed(struct mig_receiver *r)
{
    bool f;

    pthread_mutex_lock(&r->lock);
    f = r->failed;
    pthread_mutex_unlock(&r->lock);
    return f;
}

void mig_recv_set_state(struct mig_receiver *r, enum mig_dst_state st)
{
    if (st == r->state)
        return;
    xt_debug(r->ctx, "destination: %s -> %s", mig_dst_state_name(r->state),
             mig_dst_state_name(st));
    r->state = st;
}

static int send_rec(struct xt_ctx *ctx, struct mig_chan *c, uint32_t type,
                    const void *body, size_t len)
{
    struct mig_buf b = { 0 };
    int rc = mig_rec_append(&b, type, 0, body, len);

    if (rc == 0)
        rc = mig_chan_write(c, b.data, b.len);
    mig_buf_free(&b);
    if (rc < 0)
        return xt_error(ctx, rc, "sending %s to %s", mig_rec_name(type),
                        mig_chan_peer(c));
    return 0;
}

int mig_recv_stopped(struct mig_receiver *r, struct xt_ctx *ctx)
{
    int rc;

    if (r->o->stop_fd < 0 || !r->main)
        return 0;
    rc = mig_chan_wait(r->main, r->o->stop_fd, r->o->timeout_ms);
    if (rc == -ECANCELED)
        return xt_error(ctx, rc, "the receiver is told to stop");
    return 0;   /* a timeout is the read's to report */
}

/* Waits for a connection on the listening socket, at most wait_ms, or
 * the stop: 0 when one is there, -ETIMEDOUT, -ECANCELED (not reported). */
static int wait_listen(struct mig_receiver *r, int wait_ms)
{
    struct pollfd pfd[2] = {
        { .fd = r->listen_fd, .events = POLLIN },
        { .fd = r->o->stop_fd, .events = POLLIN },
    };
    int n = r->o->stop_fd >= 0 ? 2 : 1, rc;

    do {
        rc = poll(pfd, n, wait_ms);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0)
        return -errno;
    if (rc == 0)
        return -ETIMEDOUT;
    return n == 2 && pfd[1].revents ? -ECANCELED : 0;
}

int mig_recv_accepted(struct mig_receiver *r)
{
    return send_rec(r->ctx, r->main, MIG_REC_ACCEPTED, NULL, 0);
}

static void send_abort(struct xt_ctx *ctx, struct mig_chan *c, int status,
                       const char *msg)
{
    struct mig_buf b = { 0 };
    struct mig_abort ab = { .status = status };

    ab.msg_len = (uint32_t)strnlen(msg, MIG_ABORT_MSG_MAX);
    if (mig_buf_reserve(&b, sizeof(ab) + ab.msg_len) == 0) {
        memcpy(b.data, &ab, sizeof(ab));
        memcpy(b.data + sizeof(ab), msg, ab.msg_len);
        send_rec(ctx, c, MIG_REC_ABORT, b.data, sizeof(ab) + ab.msg_len);
    }
    mig_buf_free(&b);
}

/* ---- accepting ------------------------------------------------------- */

/* Constant-time comparison of the presented token with ours. */
static bool token_ok(const char *want, const void *got, size_t len)
{
    size_t wl = strlen(want), i;
    unsigned char d = wl != len;

    for (i = 0; i < wl; i++)
        d |= (unsigned char)want[i] ^
             (i < len ? ((const unsigned char *)got)[i] : 0);
    return d == 0;
}

/* The main connection's opening: image header, AUTH (with our token when
 * we have one), STREAM_HELLO of stream 0. */
static int read_opening(struct mig_receiver *r, struct xt_ctx *ctx,
                        struct mig_reader *rd, struct mig_image_hdr *ih,
                        struct mig_stream_hello *hello)
{
    struct mig_rec_hdr hdr;
    uint64_t off;
    int rc;

    rc = mig_read_image_hdr(ctx, rd, ih);
    if (rc == 0)
        rc = mig_read_record(ctx, rd, &hdr, &off);
    if (rc == 0 && hdr.type == MIG_REC_AUTH) {
        if (r->o->token && !token_ok(r->o->token, rd->body.data, hdr.length))
            return xt_error(ctx, -EACCES, "migration refused: no valid "
                            "one-time token");
        rc = mig_read_record(ctx, rd, &hdr, &off);
    } else if (rc == 0 && r->o->token) {
        return xt_error(ctx, -EACCES, "migration refused: no valid "
                        "one-time token");
    }
    if (rc < 0)
        return rc;
    if (hdr.type != MIG_REC_STREAM_HELLO || hdr.length != sizeof(*hello))
        return xt_error(ctx, -EPROTO, "%s at offset %llu where the stream "
                        "hello belongs", mig_rec_name(hdr.type),
                        (unsigned long long)off);
    memcpy(hello, rd->body.data, sizeof(*hello));
    if (hello->index != 0 || hello->nstreams == 0 ||
        hello->nstreams > MIG_MAX_STREAMS ||
        hello->migration_id != ih->migration_id ||
        ((ih->flags & MIG_IMG_OPAQUE) && hello->nstreams != 1))
        return xt_error(ctx, -EPROTO, "stream hello at offset %llu: stream "
                        "%u of %u (1..%u streams)", (unsigned long long)off,
                        hello->index, hello->nstreams, MIG_MAX_STREAMS);
    return 0;
}

/* Milliseconds left until deadline (ns), at least 1 while some are. */
static int ms_left(uint64_t deadline)
{
    uint64_t now = xt_now_ns();

    return now >= deadline ? 0 : (int)((deadline - now) / 1000000) + 1;
}

/* Waits for the sender: every connection that is not a valid opening of
 * a migration (no TLS, garbage, a wrong token, a data stream) is dropped
 * with a warning, and accepting goes on until accept_ms. */
static int accept_main(struct mig_receiver *r)
{
    uint64_t deadline = xt_now_ns() + (uint64_t)r->o->accept_ms * 1000000;
    struct xt_ctx *cctx = mig_thread_ctx(r->ctx, "mig-recv");
    struct mig_stream_hello hello;
    int left, rc = -ETIMEDOUT;

    if (!cctx)
        return xt_error(r->ctx, -ENOMEM, "accepting");
    cctx->quiet_errors = true;
    while ((left = ms_left(deadline)) > 0) {
        struct mig_reader rd = { 0 };

        rc = wait_listen(r, left);
        if (rc == -ETIMEDOUT || rc == -ECANCELED)
            break;
        rc = mig_chan_accept(cctx, r->listen_fd, r->tls, 0,
                             r->o->timeout_ms, &rd.chan);
        if (rc == -ETIMEDOUT)
            continue;
        if (rc == 0)
            rc = read_opening(r, cctx, &rd, &r->ih, &hello);
        if (rc == 0) {
            r->main = rd.chan;
            r->rd = rd;
            r->migration_id = r->ih.migration_id;
            r->nstreams = hello.nstreams;
            xt_error_clear(cctx);
            break;
        }
        xt_warn(r->ctx, "dropped a connection%s%s: %s", rd.chan ? " from "
                : "", rd.chan ? mig_chan_peer(rd.chan) : "", cctx->err_msg);
        if (rd.chan && (rc == -EACCES || rc == -EPROTO)) {
            send_abort(cctx, rd.chan, rc, cctx->err_msg);
            mig_chan_close_after(rd.chan, ABORT_DRAIN_MS);
        } else {
            mig_chan_close(rd.chan);
        }
        mig_buf_free(&rd.body);
    }
    xt_ctx_free(cctx);
    if (rc == -ECANCELED)
        return xt_error(r->ctx, rc, "the receiver is told to stop before "
                        "its sender came");
    if (!r->main)
        return xt_error(r->ctx, -ETIMEDOUT, "no valid migration connection "
                        "within %d ms", r->o->accept_ms);
    r->st->tls = mig_chan_is_tls(r->main);
    r->st->ktls = mig_chan_is_ktls(r->main);
    return mig_fault(r->ctx, "mig.recv.accepted", &r->main, 1);
}

/* One extra stream's opening: image header and STREAM_HELLO. */
static int read_stream_opening(struct mig_receiver *r, struct xt_ctx *ctx,
                               struct mig_reader *rd,
                               struct mig_stream_hello *hello)
{
    struct mig_image_hdr ih;
    struct mig_rec_hdr hdr;
    uint64_t off;
    int rc;

    rc = mig_read_image_hdr(ctx, rd, &ih);
    if (rc == 0 && ih.migration_id != r->migration_id)
        rc = xt_error(ctx, -EPROTO, "a stream of another migration");
    if (rc == 0)
        rc = mig_read_record(ctx, rd, &hdr, &off);
    if (rc == 0 && (hdr.type != MIG_REC_STREAM_HELLO ||
                    hdr.length != sizeof(*hello)))
        rc = xt_error(ctx, -EPROTO, "data stream: %s where a stream hello "
                      "belongs", mig_rec_name(hdr.type));
    if (rc < 0)
        return rc;
    memcpy(hello, rd->body.data, sizeof(*hello));
    if (hello->migration_id != r->migration_id ||
        hello->nstreams != r->nstreams || hello->index == 0 ||
        hello->index >= r->nstreams)
        return xt_error(ctx, -EPROTO, "data stream: hello for stream %u/%u "
                        "of another migration", hello->index,
                        hello->nstreams);
    return 0;
}

int mig_recv_accept_stream(struct mig_receiver *r,
                           struct mig_stream_hello *hello_r,
                           struct mig_chan **c_r, struct mig_reader *rd)
{
    uint64_t deadline = xt_now_ns() + (uint64_t)r->o->timeout_ms * 1000000;
    struct xt_ctx *cctx = mig_thread_ctx(r->ctx, "mig-recv");
    int left, rc = -ETIMEDOUT;

    *c_r = NULL;
    if (!cctx)
        return xt_error(r->ctx, -ENOMEM, "accepting");
    cctx->quiet_errors = true;
    while ((left = ms_left(deadline)) > 0) {
        memset(rd, 0, sizeof(*rd));
        rc = wait_listen(r, left);
        if (rc == -ETIMEDOUT || rc == -ECANCELED)
            break;
        rc = mig_chan_accept(cctx, r->listen_fd, r->tls, 0,
                             r->o->timeout_ms, &rd->chan);
        if (rc == -ETIMEDOUT)
            continue;
        if (rc == 0)
            rc = read_stream_opening(r, cctx, rd, hello_r);
        if (rc == 0) {
            *c_r = rd->chan;
            break;
        }
        xt_warn(r->ctx, "dropped a connection%s%s: %s", rd->chan ? " from "
                : "", rd->chan ? mig_chan_peer(rd->chan) : "",
                cctx->err_msg);
        mig_chan_close(rd->chan);
        mig_buf_free(&rd->body);
    }
    xt_ctx_free(cctx);
    if (rc == -ECANCELED)
        return xt_error(r->ctx, rc, "the receiver is told to stop");
    if (!*c_r)
        return xt_error(r->ctx, -ETIMEDOUT, "data streams: only some of "
                        "%u arrived within %d ms", r->nstreams,
                        r->o->timeout_ms);
    return 0;
}

/* ---- the configuration ---------------------------------------------- */

/* What the token was issued for: this VM, of this size. */
static int check_binding(struct mig_receiver *r)
{
    char want[XT_UUID_STRLEN + 1], got[XT_UUID_STRLEN + 1];

    if (!xt_uuid_is_nil(&r->o->vm_uuid) &&
        !xt_uuid_equal(&r->o->vm_uuid, &r->spec.uuid)) {
        xt_uuid_format(&r->o->vm_uuid, want);
        xt_uuid_format(&r->spec.uuid, got);
        return xt_error(r->ctx, -EACCES, "migration refused: the token is "
                        "for VM %s, the sender sends VM %s", want, got);
    }
    if (r->o->nr_pages && r->o->nr_pages != r->spec.nr_pages)
        return xt_error(r->ctx, -EACCES, "migration refused: the token is "
                        "for %llu pages, the sender sends %llu",
                        (unsigned long long)r->o->nr_pages,
                        (unsigned long long)r->spec.nr_pages);
    return 0;
}

static int recv_config(struct mig_receiver *r)
{
    struct mig_vm_config cfg;
    struct mig_rec_hdr hdr;
    char *devices = NULL;
    uint64_t off;
    int rc;

    rc = mig_read_record(r->ctx, &r->rd, &hdr, &off);
    if (rc == 0 && hdr.type != MIG_REC_VM_CONFIG)
        rc = xt_error(r->ctx, -EPROTO, "%s at offset %llu where the VM "
                      "configuration belongs", mig_rec_name(hdr.type),
                      (unsigned long long)off);
    if (rc == 0)
        rc = mig_vm_config_decode(r->ctx, r->rd.body.data, r->rd.body.len,
                                  off, &cfg, &r->name, &devices);
    free(devices);
    if (rc < 0)
        return rc;
    r->spec.name = r->name;
    memcpy(r->spec.uuid.b, cfg.uuid, sizeof(r->spec.uuid.b));
    r->spec.nr_pages = cfg.nr_pages;
    r->spec.nr_vcpus = cfg.nr_vcpus;
    r->spec.disks = r->o->disks;
    r->spec.nr_disks = r->o->nr_disks;
    rc = check_binding(r);
    if (rc < 0)
        return rc;
    if (!(r->ih.flags & MIG_IMG_OPAQUE)) {
        r->xfer = &mig_pages_recv_ops;
        return 0;
    }
    if (r->ih.hv_type != mig_hv_type_of(r->h) ||
        !hv_has(r->h, HV_CAP_OPAQUE_STREAM))
        return xt_error(r->ctx, -EPROTO, "the sender's domain moves only as "
                        "its hypervisor's own stream (hypervisor type %u), "
                        "which the %s driver cannot restore", r->ih.hv_type,
                        hv_name(r->h));
    r->xfer = &mig_opaque_recv_ops;
    return 0;
}

/* ---- READY, COMMIT, RESUMED ------------------------------------------- */

static int recv_ready(struct mig_receiver *r)
{
    struct mig_ready ready = { .digest = r->digest,
                               .pages_received = r->st->pages_sent };
    int rc;

    r->st->digest_dst = r->digest;
    rc = send_rec(r->ctx, r->main, MIG_REC_READY, &ready, sizeof(ready));
    if (rc < 0)
        return rc;
    mig_recv_set_state(r, MIG_DST_READY);
    xt_debug(r->ctx, "commit: ready sent at +%.3f ms",
             (xt_now_ns() - r->t_stop) / 1e6);
    return mig_fault(r->ctx, "mig.recv.ready-sent", &r->main, 1);
}

/* The resumed guest's first heartbeats, for the sender's downtime. */
static void first_heartbeat(struct mig_receiver *r, struct mig_resumed *res)
{
    struct hv_guest_stats gs;
    int waited, rc = 0;

    if (!hv_has(r->h, HV_CAP_GUEST_STATS))
        return;
    for (waited = 0; waited < FIRST_HB_WAIT_MS; waited++) {
        rc = hv_guest_stats(r->h, r->domid, &gs);
        if (rc < 0 || !gs.is_test_guest || gs.hb_count)
            break;
        usleep(1000);
    }
    if (rc < 0 || !gs.is_test_guest || !gs.hb_count)
        return;
    res->hb_first_seq = gs.hb_first_seq;
    res->hb_first_ns = gs.hb_first_ns;
    res->hb_max_gap_ns = gs.hb_max_gap_ns;
    res->mismatches = gs.mismatches;
    r->st->guest_measured = true;
    r->st->hb_first_seq_dst = gs.hb_first_seq;
    r->st->mismatches = gs.mismatches;
}

/* Whether the sender says it read RESUMED (DONE); if it does not, it may
 * ask later (recv_linger answers).  Either way the migration succeeded:
 * what goes wrong here is nobody's error. */
static bool sender_done(struct mig_receiver *r)
{
    struct xt_ctx *qctx = mig_thread_ctx(r->ctx, "mig-recv");
    struct mig_rec_hdr hdr;
    uint64_t off;
    bool done;

    if (!qctx)
        return false;
    qctx->quiet_errors = true;
    done = mig_read_record(qctx, &r->rd, &hdr, &off) == 0 &&
           hdr.type == MIG_REC_DONE;
    xt_ctx_free(qctx);
    return done;
}

/* COMMIT, then the VM is ours: unpause it and say so.  Once it runs a
 * failure to tell the sender is no failure of the migration: the sender
 * asks (QUERY) and we answer RESUMED. */
static int recv_commit(struct mig_receiver *r)
{
    struct mig_resumed res = { 0 };
    struct mig_rec_hdr hdr;
    uint64_t off;
    int rc;

    rc = mig_recv_stopped(r, r->ctx);
    if (rc == 0)
        rc = mig_read_record(r->ctx, &r->rd, &hdr, &off);
    if (rc == 0 && hdr.type == MIG_REC_ABORT)
        rc = mig_abort_error(r->ctx, r->rd.body.data, hdr.length,
                             "the sender");
    else if (rc == 0 && hdr.type != MIG_REC_COMMIT)
        rc = xt_error(r->ctx, -EPROTO, "%s where the commit belongs",
                      mig_rec_name(hdr.type));
    if (rc < 0)
        return rc;
    mig_recv_set_state(r, MIG_DST_COMMITTED);
    rc = mig_fault(r->ctx, "mig.recv.commit-read", &r->main, 1);
    if (rc == 0)
        rc = hv_unpause(r->h, r->domid);
    if (rc < 0)
        return rc;
    res.resume_ns = xt_now_ns();
    res.domid = r->domid;
    mig_recv_set_state(r, MIG_DST_RUNNING);
    r->st->committed = true;
    xt_debug(r->ctx, "commit: resumed at +%.3f ms",
             (res.resume_ns - r->t_stop) / 1e6);
    if (mig_fault(r->ctx, "mig.recv.unpaused", &r->main, 1) < 0)
        return 0;
    first_heartbeat(r, &res);
    if (send_rec(r->ctx, r->main, MIG_REC_RESUMED, &res, sizeof(res)) == 0)
        r->told = sender_done(r);
    return 0;
}

/* ---- recovery and lingering ------------------------------------------ */

/*
 * The one place that decides what a failure means, from the state: before
 * COMMIT, tell the sender why and destroy what was built (it never ran);
 * after COMMIT, an unpause that failed destroys our copy and says so in
 * RESUMED (the sender then resumes the source).
 */
static void recv_recover(struct mig_receiver *r, int rc)
{
    struct mig_resumed res = { .status = rc };

    mig_recv_fail(r, r->ctx, rc);
    if (r->xfer)
        r->xfer->abort(r);
    switch (r->state) {
    case MIG_DST_LISTENING:     /* refused after the opening, if any */
    case MIG_DST_RECEIVING:
    case MIG_DST_READY:
        if (r->main)
            send_abort(r->ctx, r->main, rc, r->err.msg);
        r->aborted = r->main != NULL;
        break;
    case MIG_DST_COMMITTED:
        if (r->main)
            send_rec(r->ctx, r->main, MIG_REC_RESUMED, &res, sizeof(res));
        break;
    default:
        return;
    }
    if (r->have_domain && hv_destroy(r->h, r->domid) == 0)
        r->have_domain = false;
    else if (r->have_domain)
        xt_warn(r->ctx, "the partial domain %u could not be destroyed: it "
                "never ran and goes away with this process", r->domid);
    mig_recv_set_state(r, MIG_DST_DISCARDED);
}

/* Answers in-doubt senders' QUERY on the listening socket for a while. */
static void recv_linger(struct mig_receiver *r)
{
    uint64_t end = xt_now_ns() + (uint64_t)r->o->linger_ms * 1000000ull;
    enum mig_query_state state = r->state == MIG_DST_RUNNING ? MIG_Q_RESUMED
                                                             : MIG_Q_ABORTED;
    struct xt_ctx *qctx = mig_thread_ctx(r->ctx, "mig-recv");
    int left;

    if (!qctx)
        return;
    qctx->quiet_errors = true;      /* strays here are nobody's error */
    while ((left = ms_left(end)) > 0) {
        struct mig_reader rd = { 0 };
        struct mig_rec_hdr hdr;
        struct mig_query q;
        uint64_t off;

        if (wait_listen(r, left) < 0)
            break;      /* its end, or the stop */
        if (mig_chan_accept(qctx, r->listen_fd, r->tls, 0,
                            r->o->timeout_ms, &rd.chan) == -ETIMEDOUT)
            continue;
        if (rd.chan && mig_read_record(qctx, &rd, &hdr, &off) == 0 &&
            hdr.type == MIG_REC_QUERY && hdr.length == sizeof(q)) {
            struct mig_query_reply qr = { 0 };

            memcpy(&q, rd.body.data, sizeof(q));
            qr.migration_id = q.migration_id;
            qr.state = q.migration_id == r->migration_id ? state
                                                         : MIG_Q_UNKNOWN;
            if (qr.state == MIG_Q_RESUMED)
                qr.domid = r->domid;
            send_rec(qctx, rd.chan, MIG_REC_QUERY_REPLY, &qr, sizeof(qr));
            if (qr.state == MIG_Q_RESUMED)
                end = 0;    /* the sender knows now */
        }
        mig_chan_close(rd.chan);
        mig_buf_free(&rd.body);
    }
    xt_ctx_free(qctx);
}

int mig_receive(struct xt_ctx *ctx, struct hv_handle *h, int listen_fd,
                const struct mig_recv_opts *opts, struct mig_stats *st)
{
    struct mig_receiver r;
    uint64_t t0 = xt_now_ns();
    int rc = 0;

    memset(&r, 0, sizeof(r));
    memset(st, 0, sizeof(*st));
    r.ctx = ctx;
    r.h = h;
    r.listen_fd = listen_fd;
    r.o = opts;
    r.st = st;
    r.state = MIG_DST_LISTENING;
    pthread_mutex_init(&r.lock, NULL);

    if (!opts->chan.plain)
        rc = mig_tls_server_new(ctx, opts->chan.cert_pem, opts->chan.key_pem,
                                &r.tls);
    if (rc == 0)
        rc = accept_main(&r);
    if (rc == 0)
        rc = recv_config(&r);
    if (rc == 0)
        rc = r.xfer->receive(&r);
    if (rc == 0)
        rc = recv_ready(&r);
    if (rc == 0)
        rc = recv_commit(&r);
    if (rc < 0)
        recv_recover(&r, rc);
    /* A sender that did not hear how it ended may ask. */
    if (r.main && !r.told)
        recv_linger(&r);
    st->dst_state = r.state;
    st->dst_domid = r.state == MIG_DST_RUNNING ? r.domid : 0;
    st->rc = r.state == MIG_DST_RUNNING ? 0 : r.err.rc;
    st->total_ns = xt_now_ns() - t0;
    if (r.xfer)
        r.xfer->fini(&r);
    if (r.aborted)
        mig_chan_close_after(r.main, ABORT_DRAIN_MS);
    else
        mig_chan_close(r.main);
    mig_buf_free(&r.rd.body);
    mig_tls_server_free(r.tls);
    free(r.name);
    pthread_mutex_destroy(&r.lock);
    if (st->rc < 0)
        xt_err_put(&r.err, ctx);
    return st->rc;
}
