/*
 * mig_opaque.c - the opaque mode (mig_opaque.h; docs/specs/
 * migration-stream.md section 14): the OPAQUE_DATA / OPAQUE_END codec, the
 * convergence policy asked through struct hv_stream_policy, and the two
 * pumps between the hypervisor's library and our connection.
 *
 * Each side runs the library in a thread of its own, on a copy of the hv
 * handle whose only difference is its error context, so that the library
 * thread and the network thread never report into the same context; the
 * error that caused a failure is then carried into the caller's context
 * once, after the join.  The library thread talks through one end of a
 * socketpair; the network thread owns the other end and shuts it down on
 * any failure, which is what stops the library thread.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <xxhash.h>

#include "mig_opaque.h"

_Static_assert(sizeof(struct mig_opaque_data) == 24, "OPAQUE_DATA layout");
_Static_assert(sizeof(struct mig_opaque_end) == 24, "OPAQUE_END layout");
_Static_assert(sizeof(struct mig_opaque_data) + MIG_OPAQUE_CHUNK_MAX <=
               MIG_REC_MAX, "a whole chunk fits in a record");

/* The policy's estimate of what pausing, moving the CPU state and
 * resuming cost on top of the pages (as mig_send.c's). */
#define FIXED_COST_NS       2000000ull
/* A round must move this much for its bandwidth to be trusted. */
#define BW_MIN_BYTES        (4u << 20)
/* How often the sender looks whether the domain is suspended yet, once
 * the policy has stopped pre-copy, and otherwise. */
#define SUSPEND_POLL_MS     1
#define IDLE_POLL_MS        100

/* ---- codec -------------------------------------------------------------- */

int mig_opaque_tally_init(struct mig_opaque_tally *t)
{
    t->bytes = 0;
    t->xxh = XXH3_createState();
    if (!t->xxh)
        return -ENOMEM;
    XXH3_64bits_reset(t->xxh);
    return 0;
}

void mig_opaque_tally_free(struct mig_opaque_tally *t)
{
    if (!t)
        return;
    XXH3_freeState(t->xxh);
    t->xxh = NULL;
}

uint64_t mig_opaque_tally_digest(const struct mig_opaque_tally *t)
{
    return XXH3_64bits_digest(t->xxh);
}

int mig_opaque_data_append(struct mig_buf *b, struct mig_opaque_tally *t,
                           const void *data, size_t len)
{
    struct mig_opaque_data d = { .offset = t->bytes };
    struct mig_rec_hdr rh = { .type = MIG_REC_OPAQUE_DATA };
    size_t body = sizeof(d) + len, pad = (8 - body % 8) % 8;
    uint8_t *p;
    int rc;

    if (!len || len > MIG_OPAQUE_CHUNK_MAX || !data)
        return -EINVAL;
    rc = mig_buf_reserve(b, sizeof(rh) + body + pad);
    if (rc < 0)
        return rc;
    d.len = (uint32_t)len;
    rh.length = body;
    p = b->data + b->len;
    memcpy(p, &rh, sizeof(rh));
    /* The checksum covers the copy that goes out, not the source, which
     * another thread could still be changing. */
    memcpy(p + sizeof(rh) + sizeof(d), data, len);
    d.checksum = XXH3_64bits(p + sizeof(rh) + sizeof(d), len);
    memcpy(p + sizeof(rh), &d, sizeof(d));
    memset(p + sizeof(rh) + body, 0, pad);
    b->len += sizeof(rh) + body + pad;
    XXH3_64bits_update(t->xxh, p + sizeof(rh) + sizeof(d), len);
    t->bytes += len;
    return 0;
}

int mig_opaque_data_decode(struct xt_ctx *ctx, const void *body, size_t len,
                           uint64_t offset, struct mig_opaque_tally *t,
                           const uint8_t **data_r, size_t *len_r)
{
    const uint8_t *p = body;
    uint64_t boff = offset + sizeof(struct mig_rec_hdr), sum;
    struct mig_opaque_data d;

    *data_r = NULL;
    *len_r = 0;
    if (len < sizeof(d))
        return xt_error(ctx, -EINVAL, "OPAQUE_DATA at offset %" PRIu64
                        ": body of %zu bytes is shorter than its %zu-byte "
                        "header", offset, len, sizeof(d));
    memcpy(&d, p, sizeof(d));
    if (!d.len || d.len > MIG_OPAQUE_CHUNK_MAX)
        return xt_error(ctx, -EINVAL, "OPAQUE_DATA at offset %" PRIu64
                        ": len %" PRIu32 " at offset %" PRIu64 " is not "
                        "1..%u", offset, d.len,
                        boff + offsetof(struct mig_opaque_data, len),
                        MIG_OPAQUE_CHUNK_MAX);
    if (len - sizeof(d) != d.len)
        return xt_error(ctx, -EINVAL, "OPAQUE_DATA at offset %" PRIu64
                        ": len %" PRIu32 " at offset %" PRIu64 " but the "
                        "body holds %zu bytes after the header", offset,
                        d.len, boff + offsetof(struct mig_opaque_data, len),
                        len - sizeof(d));
    if (d.reserved)
        return xt_error(ctx, -EINVAL, "OPAQUE_DATA at offset %" PRIu64
                        ": reserved field at offset %" PRIu64 " is %#"
                        PRIx32 ", not 0", offset,
                        boff + offsetof(struct mig_opaque_data, reserved),
                        d.reserved);
    if (d.offset != t->bytes)
        return xt_error(ctx, -EPROTO, "OPAQUE_DATA at offset %" PRIu64
                        ": chunk for byte %" PRIu64 " of the hypervisor's "
                        "stream (field at offset %" PRIu64 "), but %" PRIu64
                        " bytes came before it", offset, d.offset,
                        boff + offsetof(struct mig_opaque_data, offset),
                        t->bytes);
    sum = XXH3_64bits(p + sizeof(d), d.len);
    if (sum != d.checksum)
        return xt_error(ctx, -EBADMSG, "OPAQUE_DATA at offset %" PRIu64
                        ": checksum mismatch: the %" PRIu32 " bytes hash to "
                        "%#" PRIx64 ", checksum at offset %" PRIu64 " says %#"
                        PRIx64, offset, d.len, sum,
                        boff + offsetof(struct mig_opaque_data, checksum),
                        d.checksum);
    XXH3_64bits_update(t->xxh, p + sizeof(d), d.len);
    t->bytes += d.len;
    *data_r = p + sizeof(d);
    *len_r = d.len;
    return 0;
}

int mig_opaque_end_append(struct mig_buf *b, const struct mig_opaque_tally *t,
                          uint32_t rounds)
{
    struct mig_opaque_end e = {
        .total = t->bytes,
        .digest = mig_opaque_tally_digest(t),
        .rounds = rounds,
    };

    return mig_rec_append(b, MIG_REC_OPAQUE_END, 0, &e, sizeof(e));
}

int mig_opaque_end_check(struct xt_ctx *ctx, const void *body, size_t len,
                         uint64_t offset, const struct mig_opaque_tally *t,
                         uint32_t *rounds_r)
{
    uint64_t boff = offset + sizeof(struct mig_rec_hdr), digest;
    struct mig_opaque_end e;

    if (len != sizeof(e))
        return xt_error(ctx, -EINVAL, "OPAQUE_END at offset %" PRIu64 ": "
                        "%zu bytes, must be %zu", offset, len, sizeof(e));
    memcpy(&e, body, sizeof(e));
    if (e.reserved)
        return xt_error(ctx, -EINVAL, "OPAQUE_END at offset %" PRIu64 ": "
                        "reserved field at offset %" PRIu64 " is %#" PRIx32
                        ", not 0", offset,
                        boff + offsetof(struct mig_opaque_end, reserved),
                        e.reserved);
    if (e.total != t->bytes)
        return xt_error(ctx, -EPROTO, "OPAQUE_END at offset %" PRIu64 ": "
                        "the hypervisor's stream was %" PRIu64 " bytes "
                        "(total at offset %" PRIu64 "), %" PRIu64 " arrived",
                        offset, e.total,
                        boff + offsetof(struct mig_opaque_end, total),
                        t->bytes);
    digest = mig_opaque_tally_digest(t);
    if (e.digest != digest)
        return xt_error(ctx, -EBADMSG, "OPAQUE_END at offset %" PRIu64 ": "
                        "the %" PRIu64 " bytes received hash to %#" PRIx64
                        ", digest at offset %" PRIu64 " says %#" PRIx64,
                        offset, t->bytes, digest,
                        boff + offsetof(struct mig_opaque_end, digest),
                        e.digest);
    if (rounds_r)
        *rounds_r = e.rounds;
    return 0;
}

/* ---- policy ------------------------------------------------------------- */

void mig_opaque_policy_init(struct mig_opaque_policy *p,
                            const struct mig_send_opts *o, uint64_t now_ns)
{
    memset(p, 0, sizeof(*p));
    p->o = o;
    p->t_start = now_ns;
    p->t_round = now_ns;
}

int mig_opaque_policy_decide(struct mig_opaque_policy *p, unsigned round,
                             uint64_t dirty_pages, uint64_t sent_pages,
                             uint64_t now_ns, bool cancel)
{
    struct mig_round_info *ri = &p->last;
    uint64_t dt, moved;

    if (cancel) {
        p->cancelled = true;
        return HV_STREAM_ABORT;
    }
    if (p->rounds < round + 1)
        p->rounds = round + 1;
    if (round == 0) {
        /* The full pass: nothing measured yet, nothing to decide. */
        p->t_round = now_ns;
        p->sent_before = sent_pages;
        p->prev_dirty = dirty_pages;
        return HV_STREAM_CONTINUE;
    }

    /* The round just sent: its bandwidth in guest bytes moved, trusting
     * the last round that moved enough to measure (as mig_send.c). */
    dt = now_ns > p->t_round ? now_ns - p->t_round : 0;
    moved = (sent_pages > p->sent_before ? sent_pages - p->sent_before : 0) *
            MIG_PAGE_SIZE;
    memset(ri, 0, sizeof(*ri));
    ri->round = round;
    ri->dirty_pages = dirty_pages;
    ri->prev_dirty_pages = p->prev_dirty;
    ri->bandwidth_bytes_s = dt ? (double)moved * 1e9 / (double)dt : 0;
    if (moved >= BW_MIN_BYTES)
        p->bulk_bw = ri->bandwidth_bytes_s;
    else if (p->bulk_bw > ri->bandwidth_bytes_s)
        ri->bandwidth_bytes_s = p->bulk_bw;
    ri->dirty_pages_s = dt ? (double)dirty_pages * 1e9 / (double)dt : 0;
    ri->fixed_cost_ns = FIXED_COST_NS;
    ri->elapsed_ns = now_ns > p->t_start ? now_ns - p->t_start : 0;
    ri->throttle_pct = p->throttle_pct;
    memset(&p->dec, 0, sizeof(p->dec));
    (p->o->policy ? p->o->policy : mig_policy_default)(p->o, ri, &p->dec);

    p->t_round = now_ns;
    p->sent_before = sent_pages;
    p->prev_dirty = dirty_pages;
    if (p->dec.stop_and_copy) {
        /* This round is still sent live, then the suspended one. */
        p->stopped = true;
        p->rounds = round + 2;
        return HV_STREAM_STOP;
    }
    return HV_STREAM_CONTINUE;
}

/* ---- common to both sides ----------------------------------------------- */

/* A context for a helper thread: the parent's log settings, errors kept
 * quiet until the parent reports the one that matters. */
static struct xt_ctx *child_ctx(struct xt_ctx *parent, const char *prog)
{
    struct xt_ctx *c = xt_ctx_new(prog);

    if (!c)
        return NULL;
    c->level = parent->level;
    c->log = parent->log;
    c->quiet_errors = true;
    return c;
}

/* Whether the domain is suspended now (false if that cannot be told):
 * asked through probe, a view of the handle that reports into a context
 * of its own, so the question leaves the caller's error alone. */
static bool is_suspended(struct hv_handle *probe, uint32_t domid)
{
    struct hv_domain_info info;

    return hv_info(probe, domid, &info) == 0 &&
           info.state == HV_STATE_SUSPENDED;
}

/* ---- sender ------------------------------------------------------------- */

struct osend {
    struct mig_opaque_send *os;
    struct hv_handle *hs;       /* a view of h for the save thread */
    struct hv_handle *probe;    /* a quiet one, for is_suspended */
    struct xt_ctx *hs_ctx;      /* the context it reports into */
    int sv[2];                  /* [0] ours, [1] the library's */
    pthread_t thread;
    int save_rc;

    /* Shared between the save thread and the pump. */
    pthread_mutex_t lock;
    struct mig_opaque_policy pol;   /* the save thread's */
    bool stop;                  /* the policy stopped pre-copy */
    uint64_t t_stop;
    uint64_t bytes;             /* on the wire so far */
    unsigned max_throttle;
};

/* hv_stream_policy.precopy, in the save thread. */
static int send_precopy(void *arg, unsigned round, uint64_t dirty_pages,
                        uint64_t sent_pages)
{
    struct osend *x = arg;
    const struct mig_send_opts *o = x->os->o;
    bool cancel = o->cancel && o->cancel(o->opaque);
    struct mig_progress prog;
    int d;

    d = mig_opaque_policy_decide(&x->pol, round, dirty_pages, sent_pages,
                                 xt_now_ns(), cancel);
    if (d == HV_STREAM_CONTINUE && hv_has(x->hs, HV_CAP_THROTTLE) &&
        x->pol.dec.throttle_pct != x->pol.throttle_pct) {
        /* Auto-converge, where the driver can; a failure only means the
         * guest keeps its CPU. */
        if (hv_throttle(x->hs, x->os->domid, x->pol.dec.throttle_pct) == 0)
            x->pol.throttle_pct = x->pol.dec.throttle_pct;
        xt_error_clear(x->hs_ctx);
    }
    pthread_mutex_lock(&x->lock);
    if (x->pol.throttle_pct > x->max_throttle)
        x->max_throttle = x->pol.throttle_pct;
    if (d == HV_STREAM_STOP) {
        x->stop = true;
        x->t_stop = xt_now_ns();
    }
    memset(&prog, 0, sizeof(prog));
    prog.bytes_sent = x->bytes;
    pthread_mutex_unlock(&x->lock);
    if (o->progress) {
        prog.phase = d == HV_STREAM_STOP ? MIG_PHASE_STOPCOPY
                                         : MIG_PHASE_PRECOPY;
        prog.round = round;
        prog.nr_pages = x->os->nr_pages;
        prog.pages_sent = sent_pages;
        prog.remaining_pages = dirty_pages;
        prog.dirty_pages_s = x->pol.last.dirty_pages_s;
        prog.bandwidth_bytes_s = x->pol.last.bandwidth_bytes_s;
        prog.eta_ms = x->pol.dec.expected_downtime_ns / 1000000;
        prog.throttle_pct = x->pol.throttle_pct;
        prog.percent = x->os->nr_pages && dirty_pages <= x->os->nr_pages ?
            100.0 * (1.0 - (double)dirty_pages / (double)x->os->nr_pages) : 0;
        o->progress(&prog, o->opaque);
    }
    return d;
}

static void *save_main(void *arg)
{
    struct osend *x = arg;
    struct hv_stream_policy policy = { .precopy = send_precopy, .arg = x };
    sigset_t set;

    /* The library writes with write(): a gone reader must be EPIPE, not a
     * SIGPIPE for the whole process.  Blocked here, a SIGPIPE this thread
     * causes stays pending on it and dies with it. */
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    x->save_rc = hv_stream_save(x->hs, x->os->domid, x->sv[1], &policy);
    /* The pump reads what is buffered, then end of file. */
    shutdown(x->sv[1], SHUT_RDWR);
    return NULL;
}

/* Sends one record whole, counting its bytes. */
static int send_buf(struct osend *x, struct mig_buf *b)
{
    int rc = xt_write_full(x->os->fd, b->data, b->len, x->os->o->timeout_ms);

    if (rc == 0) {
        pthread_mutex_lock(&x->lock);
        x->bytes += b->len;
        pthread_mutex_unlock(&x->lock);
    }
    b->len = 0;
    return rc;
}

/*
 * Once the policy has stopped pre-copy: is the domain suspended yet?  That
 * moment starts the downtime, and a STOPCOPY marker tells the receiver.
 * Looks at most every SUSPEND_POLL_MS (*checked: when it last did); sets
 * *marked once it has seen the suspend.
 */
static int watch_suspend(struct osend *x, struct mig_buf *b,
                         uint64_t *checked, bool *marked, uint64_t bytes)
{
    struct mig_opaque_send *os = x->os;
    uint64_t now = xt_now_ns();
    int rc;

    if (now - *checked < SUSPEND_POLL_MS * 1000000ull)
        return 0;
    *checked = now;
    if (!is_suspended(x->probe, os->domid))
        return 0;
    os->t_pause = now;
    *marked = true;
    rc = mig_rec_append(b, MIG_REC_STOPCOPY, MIG_REC_OPTIONAL, NULL, 0);
    if (rc == 0)
        rc = send_buf(x, b);
    if (rc < 0)
        return xt_error(os->ctx, rc, "sending STOPCOPY");
    xt_debug(os->ctx, "opaque stream: domain %u suspended after %" PRIu64
             " bytes", os->domid, bytes);
    return 0;
}

/* The pump: the library's bytes into OPAQUE_DATA records until it closes
 * its end. */
static int pump(struct osend *x, struct mig_opaque_tally *t)
{
    struct mig_opaque_send *os = x->os;
    struct mig_buf b = { 0 };
    uint8_t *chunk = NULL;
    bool corrupt = os->o->fault == MIG_FAULT_CORRUPT_BATCH, marked = false;
    uint64_t checked = 0;
    int rc = 0;

    chunk = malloc(MIG_OPAQUE_CHUNK_MAX);
    if (!chunk)
        return xt_error(os->ctx, -ENOMEM, "opaque stream buffer");
    for (;;) {
        struct pollfd pfd = { .fd = x->sv[0], .events = POLLIN };
        bool stop;
        ssize_t n;
        int r;

        pthread_mutex_lock(&x->lock);
        stop = x->stop;
        pthread_mutex_unlock(&x->lock);
        if (stop && !marked) {
            rc = watch_suspend(x, &b, &checked, &marked, t->bytes);
            if (rc < 0)
                break;
        }
        r = poll(&pfd, 1, stop && !marked ? SUSPEND_POLL_MS : IDLE_POLL_MS);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = xt_error(os->ctx, -errno, "opaque stream: poll");
            break;
        }
        if (r == 0)
            continue;
        n = read(x->sv[0], chunk, MIG_OPAQUE_CHUNK_MAX);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0) {
            rc = xt_error(os->ctx, -errno, "opaque stream: reading the "
                          "hypervisor's stream");
            break;
        }
        if (n == 0)
            break;      /* the save is over, for better or worse */
        rc = mig_opaque_data_append(&b, t, chunk, (size_t)n);
        if (rc < 0) {
            xt_error(os->ctx, rc, "opaque stream: a %zd-byte chunk", n);
            break;
        }
        if (corrupt && t->bytes > (1u << 20)) {
            /* Fault injection: flip a payload byte after the checksum
             * (b holds this one record). */
            b.data[sizeof(struct mig_rec_hdr) +
                   sizeof(struct mig_opaque_data) + (size_t)n / 2] ^= 0x5a;
            corrupt = false;
        }
        rc = send_buf(x, &b);
        if (rc < 0) {
            xt_error(os->ctx, rc, "sending OPAQUE_DATA at byte %" PRIu64
                     " of the hypervisor's stream", t->bytes - (uint64_t)n);
            break;
        }
    }
    mig_buf_free(&b);
    free(chunk);
    return rc;
}

int mig_opaque_send(struct mig_opaque_send *os)
{
    struct osend x;
    struct mig_opaque_tally t = { 0 };
    struct mig_buf b = { 0 };
    struct xt_ctx *sctx = NULL, *pctx = NULL;
    int rc, e;

    memset(&x, 0, sizeof(x));
    x.os = os;
    x.sv[0] = x.sv[1] = -1;
    pthread_mutex_init(&x.lock, NULL);
    mig_opaque_policy_init(&x.pol, os->o, os->t_start);
    os->bytes = 0;
    os->t_pause = 0;
    os->suspended = false;

    rc = mig_opaque_tally_init(&t);
    if (rc < 0) {
        xt_error(os->ctx, rc, "opaque stream digest");
        goto out;
    }
    sctx = child_ctx(os->ctx, "mig-send");
    if (!sctx) {
        rc = xt_error(os->ctx, -ENOMEM, "opaque stream context");
        goto out;
    }
    pctx = child_ctx(os->ctx, "mig-send");
    if (!pctx) {
        rc = xt_error(os->ctx, -ENOMEM, "opaque stream context");
        goto out;
    }
    x.hs_ctx = sctx;
    rc = hv_view(os->h, sctx, &x.hs);
    if (rc == 0)
        rc = hv_view(os->h, pctx, &x.probe);
    if (rc < 0)
        goto out;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, x.sv) < 0) {
        rc = xt_error(os->ctx, -errno, "opaque stream: socketpair");
        goto out;
    }
    e = pthread_create(&x.thread, NULL, save_main, &x);
    if (e) {
        rc = xt_error(os->ctx, -e, "starting the opaque stream save");
        goto out;
    }

    rc = pump(&x, &t);
    /* A failed pump stops the save: its writes fail from now on. */
    if (rc < 0)
        shutdown(x.sv[0], SHUT_RDWR);
    pthread_join(x.thread, NULL);
    if (rc < 0) {
        if (x.save_rc < 0)
            xt_debug(os->ctx, "opaque stream: the save stopped too: %s",
                     sctx->err_msg);
    } else if (x.save_rc < 0 && x.pol.cancelled) {
        rc = xt_error(os->ctx, -ECANCELED, "migration cancelled");
    } else if (x.save_rc < 0) {
        rc = xt_error(os->ctx, x.save_rc, "%s", sctx->err_msg);
    } else {
        /* The library's stream is complete: seal it. */
        rc = mig_opaque_end_append(&b, &t, x.pol.rounds);
        if (rc == 0)
            rc = send_buf(&x, &b);
        if (rc < 0)
            xt_error(os->ctx, rc, "sending OPAQUE_END");
    }

out:
    os->bytes = x.bytes;
    os->digest = t.xxh ? mig_opaque_tally_digest(&t) : 0;
    os->rounds = x.pol.rounds;
    os->forced = x.pol.stopped && x.pol.dec.forced;
    os->final_dirty_pages_s = x.pol.last.dirty_pages_s;
    os->throttle_pct = x.max_throttle;
    /* The library's count up to the last round it was asked about, and
     * that round, which it sends live after a stop. */
    os->pages_live = x.pol.sent_before +
                     (x.pol.stopped ? x.pol.prev_dirty : 0);
    if (x.stop && !os->t_pause)
        os->t_pause = x.t_stop;     /* never seen suspended: the upper bound */
    /* On success the domain is suspended (hv.h); after a failure it may
     * be, or not. */
    os->suspended = rc == 0 ||
                    (x.stop && x.probe && is_suspended(x.probe, os->domid));
    if (x.sv[0] >= 0)
        close(x.sv[0]);
    if (x.sv[1] >= 0)
        close(x.sv[1]);
    mig_buf_free(&b);
    mig_opaque_tally_free(&t);
    hv_close(x.hs);
    hv_close(x.probe);
    xt_ctx_free(sctx);
    xt_ctx_free(pctx);
    pthread_mutex_destroy(&x.lock);
    return rc;
}

/* ---- receiver ----------------------------------------------------------- */

struct orecv {
    struct mig_opaque_recv *orx;
    struct hv_handle *hr;       /* a view of h for the restore thread */
    int sv[2];                  /* [0] ours, [1] the library's */
    pthread_t thread;
    int restore_rc;
    uint32_t domid;
};

static void *restore_main(void *arg)
{
    struct orecv *x = arg;

    x->restore_rc = hv_stream_restore(x->hr, x->orx->spec, x->sv[1],
                                      &x->domid);
    /* Whatever we still write fails now (EPIPE): data after the end of
     * the library's stream, or a restore that gave up. */
    shutdown(x->sv[1], SHUT_RDWR);
    return NULL;
}

/* Fault injection at point p, once per point. */
static int fault_at(struct mig_opaque_recv *orx, enum mig_fault_point p,
                    bool *fired)
{
    int rc;

    if (*fired || !orx->fault)
        return 0;
    *fired = true;
    rc = orx->fault(orx->fault_arg, p);
    if (rc < 0)
        return xt_error(orx->ctx, rc, "fault injected in the opaque stream");
    return 0;
}

/*
 * Reads records up to OPAQUE_END and feeds the payloads to the restore.
 * -EPIPE from the feeding means the restore has stopped reading: *gone_r.
 */
static int feed(struct orecv *x, struct mig_opaque_tally *t, bool *gone_r)
{
    struct mig_opaque_recv *orx = x->orx;
    struct mig_reader *rd = orx->rd;
    uint64_t limit = orx->spec->nr_pages * MIG_PAGE_SIZE;
    bool f_round0 = false, f_mid = false, f_stop = false, stopcopy = false;
    struct mig_rec_hdr hdr;
    const uint8_t *data;
    size_t len;
    uint64_t off;
    int rc;

    *gone_r = false;
    for (;;) {
        rc = mig_read_record(orx->ctx, rd, &hdr, &off);
        if (rc < 0)
            return rc;
        switch (hdr.type) {
        case MIG_REC_OPAQUE_DATA:
            rc = fault_at(orx, MIG_FAULT_ROUND0, &f_round0);
            if (rc == 0 && !stopcopy && t->bytes > limit)
                rc = fault_at(orx, MIG_FAULT_MIDROUND, &f_mid);
            if (rc == 0 && stopcopy)
                rc = fault_at(orx, MIG_FAULT_STOPCOPY, &f_stop);
            if (rc == 0)
                rc = mig_opaque_data_decode(orx->ctx, rd->body.data,
                                            hdr.length, off, t, &data, &len);
            if (rc < 0)
                return rc;
            rc = xt_write_full(x->sv[0], data, len, orx->timeout_ms);
            if (rc == -EPIPE) {
                *gone_r = true;
                return rc;      /* reported by the caller */
            }
            if (rc < 0)
                return xt_error(orx->ctx, rc, "OPAQUE_DATA at offset %"
                                PRIu64 ": handing %zu bytes to the restore",
                                off, len);
            break;
        case MIG_REC_OPAQUE_END:
            rc = mig_opaque_end_check(orx->ctx, rd->body.data, hdr.length,
                                      off, t, &orx->rounds);
            if (rc < 0)
                return rc;
            xt_debug(orx->ctx, "opaque stream: %" PRIu64 " bytes, %" PRIu32
                     " rounds", t->bytes, orx->rounds);
            return 0;
        case MIG_REC_STOPCOPY:
            stopcopy = true;
            orx->t_stop = xt_now_ns();
            break;
        case MIG_REC_ABORT:
            return xt_error(orx->ctx, -ECONNABORTED, "the sender aborted the "
                            "migration");
        default:
            if (!mig_rec_type_known(hdr.type))
                break;          /* optional, and unknown: skipped */
            return xt_error(orx->ctx, -EPROTO, "%s at offset %" PRIu64
                            " inside the opaque stream",
                            mig_rec_name(hdr.type), off);
        }
    }
}

int mig_opaque_receive(struct mig_opaque_recv *orx)
{
    struct orecv x;
    struct mig_opaque_tally t = { 0 };
    struct xt_ctx *rctx = NULL;
    bool gone = false;
    int rc, e;

    memset(&x, 0, sizeof(x));
    x.orx = orx;
    x.sv[0] = x.sv[1] = -1;
    orx->domid = 0;
    orx->t_stop = 0;

    rc = mig_opaque_tally_init(&t);
    if (rc < 0) {
        xt_error(orx->ctx, rc, "opaque stream digest");
        goto out;
    }
    rctx = child_ctx(orx->ctx, "mig-recv");
    if (!rctx) {
        rc = xt_error(orx->ctx, -ENOMEM, "opaque stream context");
        goto out;
    }
    rc = hv_view(orx->h, rctx, &x.hr);
    if (rc < 0)
        goto out;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, x.sv) < 0) {
        rc = xt_error(orx->ctx, -errno, "opaque stream: socketpair");
        goto out;
    }
    e = pthread_create(&x.thread, NULL, restore_main, &x);
    if (e) {
        rc = xt_error(orx->ctx, -e, "starting the opaque stream restore");
        goto out;
    }

    rc = feed(&x, &t, &gone);
    /* The end of the stream, or a failure: either way the restore reads
     * end of file from here on. */
    shutdown(x.sv[0], rc < 0 ? SHUT_RDWR : SHUT_WR);
    pthread_join(x.thread, NULL);
    if (x.restore_rc < 0) {
        if (rc < 0 && !gone)
            xt_debug(orx->ctx, "opaque stream: the restore stopped too: %s",
                     rctx->err_msg);
        else
            rc = xt_error(orx->ctx, x.restore_rc, "%s", rctx->err_msg);
    } else if (gone) {
        rc = xt_error(orx->ctx, -EPROTO, "opaque stream: data after the "
                      "end of the hypervisor's stream (at byte %" PRIu64 ")",
                      t.bytes);
    }
    if (rc < 0 && x.restore_rc == 0) {
        /* Restored, but what came after says the stream was bad: the
         * domain must not stay. */
        bool quiet = orx->ctx->quiet_errors;
        int keep = orx->ctx->err_rc;
        char msg[XT_ERRMSG_MAX];

        snprintf(msg, sizeof(msg), "%s", orx->ctx->err_msg);
        orx->ctx->quiet_errors = true;
        if (hv_destroy(orx->h, x.domid) < 0)
            xt_warn(orx->ctx, "destroying the restored domain %u failed: "
                    "%s", x.domid, orx->ctx->err_msg);
        orx->ctx->quiet_errors = quiet;
        orx->ctx->err_rc = keep;
        snprintf(orx->ctx->err_msg, sizeof(orx->ctx->err_msg), "%s", msg);
    }
    if (rc == 0) {
        orx->domid = x.domid;
        orx->bytes = t.bytes;
        orx->digest = mig_opaque_tally_digest(&t);
    }

out:
    if (x.sv[0] >= 0)
        close(x.sv[0]);
    if (x.sv[1] >= 0)
        close(x.sv[1]);
    mig_opaque_tally_free(&t);
    hv_close(x.hr);
    xt_ctx_free(rctx);
    return rc;
}
