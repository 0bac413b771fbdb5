/*
 * mig_send.c - the sending side as a state machine (docs/specs/
 * migration-stream.md section 11, docs/design/migration.md): set-up, the
 * transfer mode's pre-copy and stop-and-copy (mig_send_pages.c for pages,
 * mig_opaque.c for the hypervisor's own stream), the commit handshake, and
 * one function, send_recover, that decides from the source's state what a
 * failure means.
 *
 *   SOLE_RUNNING --pause--> SOLE_PAUSED --COMMIT--> COMMIT_SENT
 *        ^                      |                     |      \
 *        +------resume----------+<--positive "no"-----+       \
 *                                          RESUMED / QUERY      no answer
 *                                                 v              v
 *                                            HANDED_OVER      IN_DOUBT
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mig_internal.h"

#define QUERY_TRIES     20u
#define QUERY_DELAY_MS  250u
#define QUERY_WAIT_MS   2000
#define REASON_WAIT_MS  200

const char *mig_phase_name(enum mig_phase p)
{
    switch (p) {
    case MIG_PHASE_SETUP:    return "setup";
    case MIG_PHASE_PRECOPY:  return "pre-copy";
    case MIG_PHASE_STOPCOPY: return "stop-and-copy";
    case MIG_PHASE_COMMIT:   return "commit";
    case MIG_PHASE_DONE:     return "done";
    }
    return "unknown";
}

const char *mig_src_state_name(enum mig_src_state s)
{
    switch (s) {
    case MIG_SRC_SOLE_RUNNING: return "sole-running";
    case MIG_SRC_SOLE_PAUSED:  return "sole-paused";
    case MIG_SRC_COMMIT_SENT:  return "commit-sent";
    case MIG_SRC_IN_DOUBT:     return "in-doubt";
    case MIG_SRC_HANDED_OVER:  return "handed-over";
    }
    return "unknown";
}

void mig_send_opts_init(struct mig_send_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->nstreams = 1;
    o->compression = MIG_COMP_NONE;
    o->checksum = true;
    o->downtime_target_ns = MIG_DEFAULT_DOWNTIME_MS * 1000000ull;
    o->max_rounds = MIG_DEFAULT_MAX_ROUNDS;
    o->max_time_ns = MIG_DEFAULT_MAX_TIME_MS * 1000000ull;
    o->auto_converge = true;
    o->verify_digest = true;
    o->timeout_ms = MIG_DEFAULT_TIMEOUT_MS;
}

/* ---- what the modes and helper threads use ------------------------- */

int mig_send_fail(struct mig_sender *s, struct xt_ctx *ctx, int rc)
{
    pthread_mutex_lock(&s->lock);
    xt_err_take(&s->err, ctx, rc);
    s->failed = true;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

bool mig_send_failed(struct mig_sender *s)
{
    bool f;

    pthread_mutex_lock(&s->lock);
    f = s->failed;
    pthread_mutex_unlock(&s->lock);
    return f;
}

void mig_send_set_state(struct mig_sender *s, enum mig_src_state st)
{
    if (st == s->state)
        return;
    xt_debug(s->ctx, "source domain %u: %s -> %s", s->domid,
             mig_src_state_name(s->state), mig_src_state_name(st));
    /* No outside call of the caller's while the source is paused. */
    mig_reporter_hold(&s->rep, st == MIG_SRC_SOLE_PAUSED ||
                               st == MIG_SRC_COMMIT_SENT);
    s->state = st;
}

void mig_send_paused(struct mig_sender *s, uint64_t t_pause)
{
    s->t_pause = t_pause;
    s->paused = true;
    mig_send_set_state(s, MIG_SRC_SOLE_PAUSED);
    s->prog.phase = MIG_PHASE_STOPCOPY;
    /* Best effort: a guest that cannot say goes unmeasured. */
    if (s->guest_measured &&
        hv_guest_stats(s->h, s->domid, &s->gs_src) < 0)
        s->guest_measured = false;
}

void mig_send_count(struct mig_sender *s, uint64_t bytes)
{
    pthread_mutex_lock(&s->lock);
    s->bytes += bytes;
    pthread_mutex_unlock(&s->lock);
}

void mig_send_limit(struct mig_sender *s, uint64_t bytes)
{
    if (!s->paused)
        mig_limit_take(s->o->limit, bytes);
}

void mig_send_report(struct mig_sender *s)
{
    pthread_mutex_lock(&s->lock);
    s->prog.bytes_sent = s->bytes;
    pthread_mutex_unlock(&s->lock);
    mig_reporter_post(&s->rep, &s->prog);
}

bool mig_send_cancelled(const struct mig_sender *s)
{
    return s->o->cancel && s->o->cancel(s->o->opaque);
}

int mig_send_buf(struct mig_sender *s, struct xt_ctx *ctx,
                 struct mig_chan *c, struct mig_buf *b, int rc,
                 const char *what)
{
    if (rc == 0)
        rc = mig_chan_write(c, b->data, b->len);
    if (rc == 0)
        mig_send_count(s, b->len);
    b->len = 0;
    if (rc < 0)
        return xt_error(ctx, rc, "sending %s to %s", what, mig_chan_peer(c));
    return 0;
}

int mig_send_rec(struct mig_sender *s, struct xt_ctx *ctx,
                 struct mig_chan *c, uint32_t type, uint32_t flags,
                 const void *body, size_t len)
{
    struct mig_buf b = { 0 };
    int rc = mig_rec_append(&b, type, flags, body, len);

    rc = mig_send_buf(s, ctx, c, &b, rc, mig_rec_name(type));
    mig_buf_free(&b);
    return rc;
}

/* Every connection opens with the image header, then STREAM_HELLO. */
static int send_hello(struct mig_sender *s, struct xt_ctx *ctx,
                      struct mig_chan *c, unsigned index)
{
    struct mig_image_hdr ih;
    struct mig_stream_hello hello = {
        .migration_id = s->migration_id,
        .index = index,
        .nstreams = s->nstreams,
    };
    int rc;

    mig_image_hdr_init(&ih, mig_hv_type_of(s->h), s->migration_id);
    if (s->info.opaque_stream)
        ih.flags = MIG_IMG_OPAQUE;
    rc = mig_chan_write(c, &ih, sizeof(ih));
    if (rc < 0)
        return xt_error(ctx, rc, "stream %u: sending the image header",
                        index);
    mig_send_count(s, sizeof(ih));
    if (index == 0 && s->o->token) {
        rc = mig_send_rec(s, ctx, c, MIG_REC_AUTH, 0, s->o->token,
                          strlen(s->o->token));
        if (rc < 0)
            return rc;
    }
    return mig_send_rec(s, ctx, c, MIG_REC_STREAM_HELLO, 0, &hello,
                        sizeof(hello));
}

int mig_send_open_stream(struct mig_sender *s, struct xt_ctx *ctx,
                         unsigned i, struct mig_chan **c_r)
{
    int rc = mig_chan_connect(ctx, s->host, s->port, &s->o->chan,
                              s->o->timeout_ms, c_r);

    if (rc == 0)
        rc = send_hello(s, ctx, *c_r, i);
    if (rc < 0) {
        mig_chan_close(*c_r);
        *c_r = NULL;
    }
    return rc;
}

/* ---- set-up ---------------------------------------------------------- */

static int check_source(struct mig_sender *s)
{
    int rc;

    if (s->nstreams > MIG_MAX_STREAMS)
        return xt_error(s->ctx, -EINVAL, "%u streams: at most %u",
                        s->nstreams, MIG_MAX_STREAMS);
    rc = mig_compression_check(s->ctx, (enum mig_compress)s->o->compression,
                               s->o->level);
    if (rc < 0)
        return rc;
    rc = hv_info(s->h, s->domid, &s->info);
    if (rc < 0)
        return rc;
    if (s->info.state != HV_STATE_RUNNING && s->info.state != HV_STATE_PAUSED)
        return xt_error(s->ctx, -EINVAL, "domain %u is %s: only a running "
                        "or paused domain migrates", s->domid,
                        hv_run_state_name(s->info.state));
    if (s->info.opaque_stream && !hv_has(s->h, HV_CAP_OPAQUE_STREAM))
        return xt_error(s->ctx, -ENOTSUP, "domain %u moves only as its "
                        "hypervisor's own stream, which the %s driver "
                        "cannot save", s->domid, hv_name(s->h));
    /* Before anything is sent: the destination hears nothing of a
     * domain that could not move whole. */
    return hv_can_migrate(s->h, s->domid);
}

/* Connects, says who we are, describes the VM, picks the mode. */
static int send_setup(struct mig_sender *s)
{
    struct mig_vm_config cfg;
    struct mig_buf b = { 0 };
    struct xt_uuid u;
    int rc;

    rc = check_source(s);
    if (rc < 0)
        return rc;
    s->xfer = s->info.opaque_stream ? &mig_opaque_send_ops
                                    : &mig_pages_send_ops;
    if (s->info.opaque_stream)
        s->nstreams = 1;    /* its stream on the main connection alone */
    s->nr_pages = s->info.nr_pages;
    s->prog.nr_pages = s->nr_pages;
    /* A random migration id (never 0): half a fresh UUID. */
    if (xt_uuid_generate(&u) < 0)
        memcpy(u.b, &s->t_start, sizeof(s->t_start));
    memcpy(&s->migration_id, u.b, sizeof(s->migration_id));
    s->migration_id |= 1;

    rc = mig_send_open_stream(s, s->ctx, 0, &s->main);
    if (rc < 0)
        return rc;
    s->rd.chan = s->main;
    s->st->tls = mig_chan_is_tls(s->main);
    s->st->ktls = mig_chan_is_ktls(s->main);
    memset(&cfg, 0, sizeof(cfg));
    memcpy(cfg.uuid, s->info.uuid.b, sizeof(cfg.uuid));
    cfg.nr_pages = s->info.nr_pages;
    cfg.nr_vcpus = s->info.nr_vcpus;
    rc = mig_vm_config_append(&b, &cfg, s->info.name,
                              s->o->devices ? s->o->devices : "");
    rc = mig_send_buf(s, s->ctx, s->main, &b, rc, "the VM configuration");
    mig_buf_free(&b);
    if (rc == 0 && s->xfer->prepare)
        rc = s->xfer->prepare(s);
    if (rc < 0)
        return rc;
    /* The receiver takes it (and us: the token is the VM's) or says why
     * not, before any page goes. */
    rc = mig_expect(s->ctx, &s->rd, MIG_REC_ACCEPTED, NULL, 0, NULL);
    if (rc < 0)
        return rc;
    /* The longest heartbeat gap is measured from here on. */
    if (hv_has(s->h, HV_CAP_GUEST_STATS)) {
        rc = hv_guest_stats_ex(s->h, s->domid, HV_STATS_RESET_GAP,
                               &s->gs_src);
        if (rc < 0)
            return rc;
        s->guest_measured = s->gs_src.is_test_guest;
    }
    s->st->setup_ns = xt_now_ns() - s->t_start;
    return mig_fault(s->ctx, "mig.send.setup", &s->main, 1);
}

/* ---- the commit handshake -------------------------------------------- */

/* READY, then COMMIT, then RESUMED: HANDED_OVER, or the failure with the
 * state saying what it means. */
static int send_commit(struct mig_sender *s)
{
    bool aborted = false;
    int rc;

    s->prog.phase = MIG_PHASE_COMMIT;
    rc = mig_fault(s->ctx, "mig.send.end-sent", &s->main, 1);
    if (rc == 0)
        rc = mig_expect(s->ctx, &s->rd, MIG_REC_READY, &s->ready,
                        sizeof(s->ready), NULL);
    if (rc == 0)
        rc = mig_fault(s->ctx, "mig.send.ready-read", &s->main, 1);
    if (rc < 0)
        return rc;
    xt_debug(s->ctx, "commit: ready at +%.3f ms",
             (xt_now_ns() - s->t_pause) / 1e6);
    if (s->ready.status < 0)
        return xt_error(s->ctx, s->ready.status > -4096 ? s->ready.status
                        : -EIO, "the receiver is not ready");
    if (mig_send_cancelled(s))
        return xt_error(s->ctx, -ECANCELED, "migration cancelled before "
                        "commit");
    if (s->o->precommit) {
        rc = s->o->precommit(s->ctx, s->o->opaque);
        if (rc < 0)
            return rc;          /* the source runs on: nothing committed */
    }
    /* A receiver that hung up after READY cannot take the VM: that stays
     * a plain failure. */
    if (mig_chan_peer_gone(s->main))
        return xt_error(s->ctx, -EPIPE, "the receiver hung up after saying "
                        "ready: not committing");
    /* From the first byte of COMMIT on, the source is not ours to resume
     * without the receiver's word. */
    mig_send_set_state(s, MIG_SRC_COMMIT_SENT);
    rc = mig_send_rec(s, s->ctx, s->main, MIG_REC_COMMIT, 0, NULL, 0);
    if (rc == 0)
        rc = mig_fault(s->ctx, "mig.send.commit-sent", &s->main, 1);
    if (rc == 0)
        rc = mig_expect(s->ctx, &s->rd, MIG_REC_RESUMED, &s->resumed,
                        sizeof(s->resumed), &aborted);
    if (rc == 0 && s->resumed.status < 0) {
        aborted = true;     /* it destroyed its copy and says so */
        rc = xt_error(s->ctx, s->resumed.status > -4096 ?
                      s->resumed.status : -EIO, "the receiver could not "
                      "resume the VM");
    }
    if (aborted) {
        /* A positive answer: the receiver never ran the VM. */
        mig_send_set_state(s, MIG_SRC_SOLE_PAUSED);
        return rc;
    }
    if (rc == 0) {
        mig_send_set_state(s, MIG_SRC_HANDED_OVER);
        /* The receiver need not wait for our question: we know. */
        mig_send_rec(s, s->ctx, s->main, MIG_REC_DONE, MIG_REC_OPTIONAL,
                     NULL, 0);
    }
    return rc;
}

/* ---- recovery ------------------------------------------------------- */

/* In doubt: ask the receiver, on new connections, what became of it
 * (RESUMED: the domain it runs as in *domid_r). */
static enum mig_query_state send_query(struct mig_sender *s,
                                       uint32_t *domid_r)
{
    struct mig_query q = { .migration_id = s->migration_id };
    struct xt_ctx *qctx = mig_thread_ctx(s->ctx, "mig-query");
    enum mig_query_state state = MIG_Q_UNKNOWN;
    unsigned i;

    if (!qctx)
        return MIG_Q_UNKNOWN;
    /* Failed tries are expected (the receiver may be gone): they are the
     * question's, not the migration's errors. */
    qctx->quiet_errors = true;
    for (i = 0; i < QUERY_TRIES && state == MIG_Q_UNKNOWN; i++) {
        struct mig_query_reply qr;
        struct mig_reader r = { 0 };
        int rc;

        if (i)
            usleep(QUERY_DELAY_MS * 1000);
        rc = mig_chan_connect(qctx, s->host, s->port, &s->o->chan,
                              QUERY_WAIT_MS, &r.chan);
        if (rc == 0)
            rc = mig_send_rec(s, qctx, r.chan, MIG_REC_QUERY, 0, &q,
                              sizeof(q));
        if (rc == 0)
            rc = mig_expect(qctx, &r, MIG_REC_QUERY_REPLY, &qr, sizeof(qr),
                            NULL);
        if (rc < 0)
            xt_debug(s->ctx, "query %u: %s", i + 1, qctx->err_msg);
        else if (qr.migration_id == s->migration_id &&
                 (qr.state == MIG_Q_ABORTED || qr.state == MIG_Q_RESUMED)) {
            state = qr.state;
            *domid_r = qr.domid;
        }
        mig_chan_close(r.chan);
        mig_buf_free(&r.body);
    }
    xt_ctx_free(qctx);
    return state;
}

/* The receiver may have said why it failed: its ABORT, if one is there
 * already, is noted with our error. */
static void note_receiver_reason(struct mig_sender *s)
{
    struct mig_rec_hdr hdr;
    struct xt_ctx *rctx;
    uint64_t off;

    if (!s->main || !mig_chan_readable(s->main, REASON_WAIT_MS))
        return;
    rctx = mig_thread_ctx(s->ctx, "mig-send");
    if (!rctx)
        return;
    rctx->quiet_errors = true;
    if (mig_read_record(rctx, &s->rd, &hdr, &off) == 0 &&
        hdr.type == MIG_REC_ABORT) {
        mig_abort_error(rctx, s->rd.body.data, hdr.length, "the receiver");
        pthread_mutex_lock(&s->lock);
        if (s->err.rc && !strstr(s->err.msg, rctx->err_msg)) {
            size_t n = strlen(s->err.msg);

            snprintf(s->err.msg + n, sizeof(s->err.msg) - n, " (%s)",
                     rctx->err_msg);
        }
        pthread_mutex_unlock(&s->lock);
    }
    xt_ctx_free(rctx);
}

/* The source is paused and still the only copy: make it run again. */
static void resume_source(struct mig_sender *s)
{
    if (hv_resume_after_failure(s->h, s->domid) == 0)
        mig_send_set_state(s, MIG_SRC_SOLE_RUNNING);
    else
        xt_warn(s->ctx, "the source domain %u could not be resumed: it "
                "is paused, still the only copy of the VM", s->domid);
}

/*
 * The one place that decides what a failure means: from the state the
 * source is in.  Returns the migration's rc (a commit in doubt that the
 * receiver answers RESUMED is a success after all).
 */
static int send_recover(struct mig_sender *s, int rc)
{
    struct mig_abort ab = { .status = rc };
    enum mig_query_state q;

    mig_send_fail(s, s->ctx, rc);
    if (s->xfer)
        s->xfer->abort(s);
    switch (s->state) {
    case MIG_SRC_SOLE_RUNNING:
    case MIG_SRC_SOLE_PAUSED:
        note_receiver_reason(s);
        if (s->main)
            mig_send_rec(s, s->ctx, s->main, MIG_REC_ABORT, 0, &ab,
                         sizeof(ab));
        if (s->state == MIG_SRC_SOLE_PAUSED)
            resume_source(s);
        return rc;
    case MIG_SRC_COMMIT_SENT:
        xt_warn(s->ctx, "commit sent, no confirmation (%s): asking the "
                "receiver", s->err.msg);
        q = send_query(s, &s->resumed.domid);
        if (q == MIG_Q_RESUMED) {
            xt_info(s->ctx, "the receiver runs the VM: migrated");
            mig_send_set_state(s, MIG_SRC_HANDED_OVER);
            return 0;
        }
        if (q == MIG_Q_ABORTED) {
            mig_send_set_state(s, MIG_SRC_SOLE_PAUSED);
            resume_source(s);
            return rc;
        }
        mig_send_set_state(s, MIG_SRC_IN_DOUBT);
        pthread_mutex_lock(&s->lock);
        {
            char cause[XT_ERRMSG_MAX];

            snprintf(cause, sizeof(cause), "%s", s->err.msg);
            s->err.rc = 0;
            xt_err_set(&s->err, -ENOTRECOVERABLE, "commit in doubt (%.300s)"
                       ": the receiver cannot be reached; the source domain "
                       "%u is left paused (never two copies) until the "
                       "destination is checked", cause, s->domid);
        }
        pthread_mutex_unlock(&s->lock);
        xt_error(s->ctx, -ENOTRECOVERABLE, "%s", s->err.msg);
        return -ENOTRECOVERABLE;
    default:
        return rc;
    }
}

/* ---- the end -------------------------------------------------------- */

/* Downtime and the guest's own view of it, from RESUMED. */
static void measure_downtime(struct mig_sender *s)
{
    const struct mig_resumed *r = &s->resumed;
    struct mig_stats *st = s->st;
    uint64_t now = xt_now_ns(), cross, g;

    st->downtime_ns = r->resume_ns > s->t_pause && r->resume_ns <= now ?
                      r->resume_ns - s->t_pause : now - s->t_pause;
    /* Measurable only when both ends saw heartbeats (a guest paused
     * before its first heartbeat has no "last one before the pause"). */
    if (!s->guest_measured || !r->hb_first_ns || !s->gs_src.hb_count)
        return;
    cross = r->hb_first_ns > s->gs_src.hb_last_ns ?
            r->hb_first_ns - s->gs_src.hb_last_ns : 0;
    g = s->gs_src.hb_max_gap_ns;
    if (cross > g)
        g = cross;
    if (r->hb_max_gap_ns > g)
        g = r->hb_max_gap_ns;
    st->guest_measured = true;
    st->guest_downtime_ns = g;
    st->guest_src_gap_ns = s->gs_src.hb_max_gap_ns;
    st->guest_switch_gap_ns = cross;
    st->guest_dst_gap_ns = r->hb_max_gap_ns;
    st->hb_last_seq_src = s->gs_src.hb_last_seq;
    st->hb_first_seq_dst = r->hb_first_seq;
    st->hb_continuous = r->hb_first_seq == s->gs_src.hb_last_seq + 1;
    st->mismatches = r->mismatches;
}

/* The destination runs the VM: measure, compare digests, destroy the
 * source (paused, no longer the VM). */
static void send_handover(struct mig_sender *s)
{
    struct mig_stats *st = s->st;
    int rc;

    st->committed = true;
    st->dst_domid = s->resumed.domid;
    measure_downtime(s);
    if (!s->xfer->digest) {
        st->digest_src = s->stream_digest;
        st->digest_checked = true;
    } else if (s->o->verify_digest &&
               s->xfer->digest(s, &st->digest_src) == 0) {
        st->digest_checked = true;
    }
    st->digest_dst = s->ready.digest;
    st->digest_equal = st->digest_checked &&
                       st->digest_src == st->digest_dst;
    rc = hv_destroy(s->h, s->domid);
    if (rc < 0)
        xt_warn(s->ctx, "migrated, but destroying the source domain %u "
                "failed: %s", s->domid, s->ctx->err_msg);
    s->prog.phase = MIG_PHASE_DONE;
    s->prog.percent = 100.0;
    mig_send_report(s);
}

static void send_finish(struct mig_sender *s, int rc)
{
    struct mig_stats *st = s->st;

    st->rc = rc;
    st->sender = true;
    st->src_state = s->state;
    st->in_doubt = s->state == MIG_SRC_IN_DOUBT;
    if (!st->committed)
        st->guest_measured = false;     /* no destination to measure */
    st->total_ns = xt_now_ns() - s->t_start;
    pthread_mutex_lock(&s->lock);
    st->bytes_sent = s->bytes;
    st->pages_normal = s->pages_normal;
    st->pages_zero = s->pages_zero;
    st->pages_compressed = s->pages_compressed;
    st->pages_deferred = s->pages_deferred;
    st->pages_sent = s->pages_normal + s->pages_zero + s->pages_compressed;
    st->compression_ratio = s->wire_payload ?
        (double)s->raw_bytes / (double)s->wire_payload : 1.0;
    pthread_mutex_unlock(&s->lock);
    st->nstreams = s->nstreams;
    if (!st->rounds)
        st->rounds = s->prog.round + 1;     /* where a failure stopped it */
    if (st->total_ns)
        st->bandwidth_bytes_s = (double)st->bytes_sent * 1e9 /
                                (double)st->total_ns;
}

int mig_send(struct xt_ctx *ctx, struct hv_handle *h, uint32_t domid,
             const char *host, const char *port,
             const struct mig_send_opts *opts, struct mig_stats *st)
{
    struct mig_sender s;
    int rc;

    memset(&s, 0, sizeof(s));
    memset(st, 0, sizeof(*st));
    s.ctx = ctx;
    s.h = h;
    s.domid = domid;
    s.host = host;
    s.port = port;
    s.o = opts;
    s.st = st;
    s.nstreams = opts->nstreams ? opts->nstreams : 1;
    s.t_start = xt_now_ns();
    s.state = MIG_SRC_SOLE_RUNNING;
    s.prog.phase = MIG_PHASE_SETUP;
    pthread_mutex_init(&s.lock, NULL);

    rc = mig_reporter_start(ctx, &s.rep, opts->progress, opts->opaque);
    if (rc == 0)
        rc = send_setup(&s);
    if (rc == 0)
        rc = s.xfer->precopy(&s);
    if (rc == 0)
        rc = s.xfer->stopcopy(&s);
    if (rc == 0)
        rc = send_commit(&s);
    if (rc < 0)
        rc = send_recover(&s, rc);
    if (s.state == MIG_SRC_HANDED_OVER)
        send_handover(&s);
    /* The mode's threads first: stream 0 is the main connection. */
    if (s.xfer)
        s.xfer->fini(&s);
    mig_chan_close(s.main);
    mig_reporter_stop(&s.rep);
    send_finish(&s, rc);
    if (rc < 0)
        xt_err_put(&s.err, ctx);
    mig_buf_free(&s.rd.body);
    pthread_mutex_destroy(&s.lock);
    return rc;
}
