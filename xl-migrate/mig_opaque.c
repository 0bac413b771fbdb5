/*
 * mig_opaque.c - the opaque mode (mig_opaque.h; docs/specs/
 * migration-stream.md section 14): the OPAQUE_DATA / OPAQUE_END codec, the
 * convergence policy asked through struct hv_stream_policy, and the two
 * transfer modes (struct mig_xfer_ops, struct mig_rxfer_ops) that pump
 * the hypervisor's library's stream through our connection.
 *
 * Each side runs the library in a thread of its own, on a view of the hv
 * handle with a context of its own; the control thread pumps.  The
 * library thread talks through one end of a socketpair; the control
 * thread owns the other end and shuts it down on any failure, which is
 * what stops the library thread.  The first error of either goes to the
 * side's xt_err.
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

#include "mig_internal.h"
#include "mig_opaque.h"

_Static_assert(sizeof(struct mig_opaque_data) == 24, "OPAQUE_DATA layout");
_Static_assert(sizeof(struct mig_opaque_end) == 24, "OPAQUE_END layout");
_Static_assert(sizeof(struct mig_opaque_data) + MIG_OPAQUE_CHUNK_MAX <=
               MIG_REC_MAX, "a whole chunk fits in a record");

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
    mig_meter_init(&p->meter, now_ns, now_ns, 0);
}

int mig_opaque_policy_decide(struct mig_opaque_policy *p, unsigned round,
                             uint64_t dirty_pages, uint64_t sent_pages,
                             uint64_t now_ns, bool cancel)
{
    if (cancel) {
        p->cancelled = true;
        return HV_STREAM_ABORT;
    }
    if (p->rounds < round + 1)
        p->rounds = round + 1;
    if (round == 0) {
        /* The full pass: nothing measured yet, nothing to decide. */
        mig_meter_init(&p->meter, p->t_start, now_ns, dirty_pages);
        p->meter.sent_before = sent_pages;
        return HV_STREAM_CONTINUE;
    }
    /* The round just sent, measured as the page mode measures it. */
    mig_meter_round(&p->meter, round, dirty_pages, sent_pages, now_ns,
                    p->throttle_pct, &p->last);
    memset(&p->dec, 0, sizeof(p->dec));
    (p->o->policy ? p->o->policy : mig_policy_default)(p->o, &p->last,
                                                       &p->dec);
    if (p->dec.stop_and_copy) {
        /* This round is still sent live, then the suspended one. */
        p->stopped = true;
        p->rounds = round + 2;
        return HV_STREAM_STOP;
    }
    return HV_STREAM_CONTINUE;
}

/* Whether the domain is suspended now (false if that cannot be told):
 * asked through probe, a view with a context of its own. */
static bool is_suspended(struct hv_handle *probe, uint32_t domid)
{
    struct hv_domain_info info;

    return hv_info(probe, domid, &info) == 0 &&
           info.state == HV_STATE_SUSPENDED;
}

/* ---- sender ------------------------------------------------------------- */

/* How often the pump looks whether the domain is suspended yet, once the
 * policy has stopped pre-copy, and otherwise. */
#define SUSPEND_POLL_MS     1
#define IDLE_POLL_MS        100
/* Fault injection corrupts a chunk beyond this many bytes. */
#define CORRUPT_AFTER       (1u << 20)

struct osend {
    struct mig_sender *s;
    struct hv_handle *hs;       /* the save thread's view */
    struct hv_handle *probe;    /* the pump's, for is_suspended */
    struct xt_ctx *hs_ctx, *probe_ctx;
    int sv[2];                  /* [0] ours, [1] the library's */
    pthread_t thread;
    bool started;
    int save_rc;
    struct mig_opaque_tally t;
    uint8_t *chunk;
    struct mig_buf out;         /* the record being sent */
    bool marked;                /* seen suspended, STOPCOPY sent */
    bool eof;
    uint64_t checked;           /* when we last looked */

    /* Shared between the save thread and the pump. */
    pthread_mutex_t lock;
    struct mig_opaque_policy pol;   /* the save thread's */
    bool stop;                  /* the policy stopped pre-copy */
    uint64_t t_stop;
    unsigned max_throttle;
};

static struct osend *X(struct mig_sender *s)
{
    return s->xfer_priv;
}

/* Auto-converge, where the driver can; a failure only means the guest
 * keeps its CPU (reported into the save thread's context, not ours). */
static void save_throttle(struct osend *x)
{
    unsigned want = x->pol.dec.throttle_pct;

    if (want == x->pol.throttle_pct || !hv_has(x->hs, HV_CAP_THROTTLE))
        return;
    if (hv_throttle(x->hs, x->s->domid, want) == 0)
        x->pol.throttle_pct = want;
    else
        xt_warn(x->hs_ctx, "throttling to %u%% failed: %s", want,
                x->hs_ctx->err_msg);
}

/* hv_stream_policy.precopy, in the save thread. */
static int save_precopy(void *arg, unsigned round, uint64_t dirty_pages,
                        uint64_t sent_pages)
{
    struct osend *x = arg;
    struct mig_sender *s = x->s;
    struct mig_progress prog = { 0 };
    int d;

    d = mig_opaque_policy_decide(&x->pol, round, dirty_pages, sent_pages,
                                 xt_now_ns(), mig_send_cancelled(s));
    if (d == HV_STREAM_CONTINUE)
        save_throttle(x);
    pthread_mutex_lock(&x->lock);
    if (x->pol.throttle_pct > x->max_throttle)
        x->max_throttle = x->pol.throttle_pct;
    if (d == HV_STREAM_STOP) {
        x->stop = true;
        x->t_stop = xt_now_ns();
    }
    pthread_mutex_unlock(&x->lock);
    pthread_mutex_lock(&s->lock);
    prog.bytes_sent = s->bytes;
    pthread_mutex_unlock(&s->lock);
    prog.phase = d == HV_STREAM_STOP ? MIG_PHASE_STOPCOPY : MIG_PHASE_PRECOPY;
    prog.round = round;
    prog.nr_pages = s->nr_pages;
    prog.pages_sent = sent_pages;
    prog.remaining_pages = dirty_pages;
    prog.dirty_pages_s = x->pol.last.dirty_pages_s;
    prog.bandwidth_bytes_s = x->pol.last.bandwidth_bytes_s;
    prog.eta_ms = x->pol.dec.expected_downtime_ns / 1000000;
    prog.throttle_pct = x->pol.throttle_pct;
    prog.percent = s->nr_pages && dirty_pages <= s->nr_pages ?
        100.0 * (1.0 - (double)dirty_pages / (double)s->nr_pages) : 0;
    mig_reporter_post(&s->rep, &prog);
    return d;
}

static void *save_main(void *arg)
{
    struct osend *x = arg;
    struct hv_stream_policy policy = { .precopy = save_precopy, .arg = x };
    sigset_t set;

    /* The library writes with write(): a gone reader must be EPIPE, not a
     * SIGPIPE for the whole process.  Blocked here, a SIGPIPE this thread
     * causes stays pending on it and dies with it. */
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    x->save_rc = hv_stream_save(x->hs, x->s->domid, x->sv[1], &policy);
    /* The pump reads what is buffered, then end of file. */
    shutdown(x->sv[1], SHUT_RDWR);
    return NULL;
}

/*
 * Once the policy has stopped pre-copy: is the domain suspended yet?  That
 * moment starts the downtime, and a STOPCOPY marker tells the receiver.
 * Looks at most every SUSPEND_POLL_MS.
 */
static int watch_suspend(struct osend *x)
{
    struct mig_sender *s = x->s;
    uint64_t now = xt_now_ns();
    int rc;

    if (now - x->checked < SUSPEND_POLL_MS * 1000000ull)
        return 0;
    x->checked = now;
    if (!is_suspended(x->probe, s->domid))
        return 0;
    x->marked = true;
    mig_send_paused(s, now);
    rc = mig_send_rec(s, s->ctx, s->main, MIG_REC_STOPCOPY, MIG_REC_OPTIONAL,
                      NULL, 0);
    if (rc == 0)
        xt_debug(s->ctx, "opaque stream: domain %u suspended after %llu "
                 "bytes", s->domid, (unsigned long long)x->t.bytes);
    return rc;
}

/* One chunk of the library's stream as an OPAQUE_DATA record. */
static int send_chunk(struct osend *x, size_t n)
{
    struct mig_sender *s = x->s;
    int rc;

    rc = mig_opaque_data_append(&x->out, &x->t, x->chunk, n);
    if (rc == 0 && x->t.bytes > CORRUPT_AFTER &&
        xt_fault(s->ctx, "mig.send.batch") == XT_FAULT_CORRUPT)
        /* a payload byte flipped after its checksum */
        x->out.data[sizeof(struct mig_rec_hdr) +
                    sizeof(struct mig_opaque_data) + n / 2] ^= 0x5a;
    return mig_send_buf(s, s->ctx, s->main, &x->out, rc, "OPAQUE_DATA");
}

/* The library's bytes into OPAQUE_DATA records: until the policy stops
 * pre-copy (until_stop), or until the library closes its end. */
static int pump(struct osend *x, bool until_stop)
{
    struct mig_sender *s = x->s;
    int rc = 0;

    while (!x->eof) {
        struct pollfd pfd = { .fd = x->sv[0], .events = POLLIN };
        bool stop;
        ssize_t n;
        int r;

        pthread_mutex_lock(&x->lock);
        stop = x->stop;
        pthread_mutex_unlock(&x->lock);
        if (stop && until_stop)
            return 0;
        if (stop && !x->marked && (rc = watch_suspend(x)) < 0)
            return rc;
        r = poll(&pfd, 1, stop && !x->marked ? SUSPEND_POLL_MS
                                             : IDLE_POLL_MS);
        if (r < 0 && errno != EINTR)
            return xt_error(s->ctx, -errno, "opaque stream: poll");
        if (r <= 0)
            continue;
        n = read(x->sv[0], x->chunk, MIG_OPAQUE_CHUNK_MAX);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0)
            return xt_error(s->ctx, -errno, "opaque stream: reading the "
                            "hypervisor's stream");
        if (n == 0)
            x->eof = true;      /* the save is over, for better or worse */
        else if ((rc = send_chunk(x, (size_t)n)) < 0)
            return rc;
    }
    return 0;
}

static int osend_setup(struct mig_sender *s)
{
    struct osend *x = calloc(1, sizeof(*x));
    int rc, e;

    if (!x)
        return xt_error(s->ctx, -ENOMEM, "opaque mode");
    s->xfer_priv = x;
    x->s = s;
    x->sv[0] = x->sv[1] = -1;
    pthread_mutex_init(&x->lock, NULL);
    mig_opaque_policy_init(&x->pol, s->o, s->t_start);
    x->chunk = malloc(MIG_OPAQUE_CHUNK_MAX);
    x->hs_ctx = mig_thread_ctx(s->ctx, "mig-send");
    x->probe_ctx = mig_thread_ctx(s->ctx, "mig-send");
    if (!x->chunk || !x->hs_ctx || !x->probe_ctx ||
        mig_opaque_tally_init(&x->t) < 0)
        return xt_error(s->ctx, -ENOMEM, "opaque stream buffers");
    x->probe_ctx->quiet_errors = true;  /* a question, not an error */
    rc = hv_view(s->h, x->hs_ctx, &x->hs);
    if (rc == 0)
        rc = hv_view(s->h, x->probe_ctx, &x->probe);
    if (rc < 0)
        return rc;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, x->sv) < 0)
        return xt_error(s->ctx, -errno, "opaque stream: socketpair");
    e = pthread_create(&x->thread, NULL, save_main, x);
    if (e)
        return xt_error(s->ctx, -e, "starting the opaque stream save");
    x->started = true;
    s->st->opaque = true;
    s->prog.phase = MIG_PHASE_PRECOPY;
    return 0;
}

static int osend_precopy(struct mig_sender *s)
{
    int rc = osend_setup(s);

    return rc < 0 ? rc : pump(X(s), true);
}

/* The library's end: its result, and the source as it left it. */
static int osend_join(struct osend *x)
{
    struct mig_sender *s = x->s;

    pthread_join(x->thread, NULL);
    x->started = false;
    if (x->save_rc < 0 && x->pol.cancelled)
        return xt_error(s->ctx, -ECANCELED, "migration cancelled");
    if (x->save_rc < 0)
        return mig_send_fail(s, x->hs_ctx, x->save_rc);
    /* On success the domain is suspended (hv.h): if the pump did not see
     * it happen, the policy's stop is the upper bound of the pause. */
    if (!x->marked) {
        x->marked = true;
        mig_send_paused(s, x->t_stop ? x->t_stop : xt_now_ns());
    }
    return 0;
}

static int osend_stopcopy(struct mig_sender *s)
{
    struct osend *x = X(s);
    struct mig_buf b = { 0 };
    int rc;

    rc = pump(x, false);
    if (rc < 0)
        return rc;
    rc = osend_join(x);
    if (rc == 0)
        rc = mig_fault(s->ctx, "mig.send.paused", &s->main, 1);
    if (rc < 0)
        return rc;
    s->stream_digest = mig_opaque_tally_digest(&x->t);
    rc = mig_opaque_end_append(&b, &x->t, x->pol.rounds);
    rc = mig_send_buf(s, s->ctx, s->main, &b, rc, "OPAQUE_END");
    mig_buf_free(&b);
    return rc < 0 ? rc : mig_send_rec(s, s->ctx, s->main, MIG_REC_END, 0,
                                      NULL, 0);
}

static void osend_abort(struct mig_sender *s)
{
    struct osend *x = X(s);

    if (!x)
        return;
    if (x->started) {
        /* Its writes fail from now on: the save stops. */
        shutdown(x->sv[0], SHUT_RDWR);
        pthread_join(x->thread, NULL);
        x->started = false;
    }
    /* The library may have suspended it without us seeing it. */
    if (s->state == MIG_SRC_SOLE_RUNNING && x->probe && x->stop &&
        is_suspended(x->probe, s->domid))
        mig_send_paused(s, x->t_stop);
}

static void osend_fini(struct mig_sender *s)
{
    struct osend *x = X(s);
    struct mig_stats *st = s->st;

    if (!x)
        return;
    osend_abort(s);
    st->rounds = x->pol.rounds;
    st->forced_stop = x->pol.stopped && x->pol.dec.forced;
    st->final_dirty_pages_s = x->pol.last.dirty_pages_s;
    st->throttle_pct = x->max_throttle;
    /* Sent raw by the library: its count up to the last round it was asked
     * about, and that round, which it sends live after a stop. */
    pthread_mutex_lock(&s->lock);
    s->pages_normal = x->pol.meter.sent_before +
                      (x->pol.stopped ? x->pol.meter.prev_dirty : 0);
    pthread_mutex_unlock(&s->lock);
    if (x->sv[0] >= 0)
        close(x->sv[0]);
    if (x->sv[1] >= 0)
        close(x->sv[1]);
    hv_close(x->hs);
    hv_close(x->probe);
    xt_ctx_free(x->hs_ctx);
    xt_ctx_free(x->probe_ctx);
    mig_opaque_tally_free(&x->t);
    free(x->chunk);
    mig_buf_free(&x->out);
    pthread_mutex_destroy(&x->lock);
    free(x);
    s->xfer_priv = NULL;
}

const struct mig_xfer_ops mig_opaque_send_ops = {
    .name = "opaque",
    .precopy = osend_precopy,
    .stopcopy = osend_stopcopy,
    .abort = osend_abort,
    .fini = osend_fini,
};

/* ---- receiver ----------------------------------------------------------- */

struct orecv {
    struct mig_receiver *r;
    struct hv_handle *hr;       /* the restore thread's view */
    struct xt_ctx *rctx;
    int sv[2];                  /* [0] ours, [1] the library's */
    pthread_t thread;
    bool started;
    int restore_rc;
    uint32_t domid;
    struct mig_opaque_tally t;
    bool f_round0, f_mid;       /* fault points passed */
    bool gone;                  /* the restore stopped reading */
};

static void *restore_main(void *arg)
{
    struct orecv *x = arg;

    x->restore_rc = hv_stream_restore(x->hr, &x->r->spec, x->sv[1],
                                      &x->domid);
    /* Whatever we still write fails now (EPIPE): data after the end of
     * the library's stream, or a restore that gave up. */
    shutdown(x->sv[1], SHUT_RDWR);
    return NULL;
}

/* The fault points of the opaque stream, each once. */
static int chunk_fault(struct orecv *x)
{
    struct mig_receiver *r = x->r;
    uint64_t pass = r->spec.nr_pages * MIG_PAGE_SIZE;

    if (!x->f_round0) {
        x->f_round0 = true;
        return mig_fault(r->ctx, "mig.recv.round0", &r->main, 1);
    }
    if (!x->f_mid && !r->t_stop && x->t.bytes > pass) {
        x->f_mid = true;
        return mig_fault(r->ctx, "mig.recv.precopy", &r->main, 1);
    }
    return 0;
}

/* One OPAQUE_DATA record's payload to the restore. */
static int feed_chunk(struct orecv *x, const struct mig_rec_hdr *hdr,
                      uint64_t off)
{
    struct mig_receiver *r = x->r;
    const uint8_t *data;
    size_t len;
    int rc;

    rc = chunk_fault(x);
    if (rc == 0)
        rc = mig_opaque_data_decode(r->ctx, r->rd.body.data, hdr->length,
                                    off, &x->t, &data, &len);
    if (rc < 0)
        return rc;
    rc = xt_write_full(x->sv[0], data, len, r->o->timeout_ms);
    if (rc == -EPIPE) {
        x->gone = true;
        return rc;      /* reported once the restore has said why */
    }
    if (rc < 0)
        return xt_error(r->ctx, rc, "OPAQUE_DATA at offset %llu: handing "
                        "%zu bytes to the restore", (unsigned long long)off,
                        len);
    return 0;
}

/* Records up to OPAQUE_END, the payloads fed to the restore. */
static int feed(struct orecv *x)
{
    struct mig_receiver *r = x->r;
    struct mig_rec_hdr hdr;
    uint32_t rounds = 0;
    uint64_t off;
    int rc;

    for (;;) {
        rc = mig_recv_stopped(r, r->ctx);
        if (rc == 0)
            rc = mig_read_record(r->ctx, &r->rd, &hdr, &off);
        if (rc < 0)
            return rc;
        switch (hdr.type) {
        case MIG_REC_OPAQUE_DATA:
            rc = feed_chunk(x, &hdr, off);
            break;
        case MIG_REC_OPAQUE_END:
            rc = mig_opaque_end_check(r->ctx, r->rd.body.data, hdr.length,
                                      off, &x->t, &rounds);
            r->st->rounds = rounds;
            return rc;
        case MIG_REC_STOPCOPY:
            r->t_stop = xt_now_ns();
            rc = mig_fault(r->ctx, "mig.recv.stopcopy", &r->main, 1);
            break;
        case MIG_REC_ABORT:
            return mig_abort_error(r->ctx, r->rd.body.data, hdr.length,
                                   "the sender");
        default:
            return xt_error(r->ctx, -EPROTO, "%s at offset %llu inside the "
                            "opaque stream", mig_rec_name(hdr.type),
                            (unsigned long long)off);
        }
        if (rc < 0)
            return rc;
    }
}

/* The end of the restore; its domain is ours (have_domain) if it made one,
 * whatever came after, so that a failure destroys it. */
static int orecv_join(struct orecv *x, int rc)
{
    struct mig_receiver *r = x->r;

    /* The end of the stream, or a failure: either way the restore reads
     * end of file from here on. */
    shutdown(x->sv[0], rc < 0 ? SHUT_RDWR : SHUT_WR);
    pthread_join(x->thread, NULL);
    x->started = false;
    if (x->restore_rc == 0) {
        r->domid = x->domid;
        r->have_domain = true;
    }
    if (x->restore_rc < 0 && (rc == 0 || x->gone))
        return mig_recv_fail(r, x->rctx, x->restore_rc);
    if (rc == 0 && x->gone)
        return xt_error(r->ctx, -EPROTO, "opaque stream: data after the end "
                        "of the hypervisor's stream (at byte %llu)",
                        (unsigned long long)x->t.bytes);
    return rc;
}

static int orecv_start(struct mig_receiver *r)
{
    struct orecv *x = calloc(1, sizeof(*x));
    int rc, e;

    if (!x)
        return xt_error(r->ctx, -ENOMEM, "opaque mode");
    r->xfer_priv = x;
    x->r = r;
    x->sv[0] = x->sv[1] = -1;
    x->rctx = mig_thread_ctx(r->ctx, "mig-recv");
    if (!x->rctx || mig_opaque_tally_init(&x->t) < 0)
        return xt_error(r->ctx, -ENOMEM, "opaque stream");
    rc = hv_view(r->h, x->rctx, &x->hr);
    if (rc < 0)
        return rc;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, x->sv) < 0)
        return xt_error(r->ctx, -errno, "opaque stream: socketpair");
    e = pthread_create(&x->thread, NULL, restore_main, x);
    if (e)
        return xt_error(r->ctx, -e, "starting the opaque stream restore");
    x->started = true;
    mig_recv_set_state(r, MIG_DST_RECEIVING);
    r->st->opaque = true;
    rc = mig_recv_accepted(r);
    if (rc < 0)
        return rc;
    xt_info(r->ctx, "receiving VM '%s' (%llu MiB, %u vCPUs) as its "
            "hypervisor's own stream", r->spec.name ? r->spec.name : "",
            (unsigned long long)(r->spec.nr_pages >> 8), r->spec.nr_vcpus);
    return 0;
}

static int orecv_receive(struct mig_receiver *r)
{
    struct mig_rec_hdr hdr;
    struct orecv *x;
    uint64_t off;
    int rc;

    rc = orecv_start(r);
    if (rc < 0)
        return rc;
    x = r->xfer_priv;
    rc = orecv_join(x, feed(x));
    if (rc < 0)
        return rc;
    /* The opaque stream carried the state: END is all that is left. */
    rc = mig_read_record(r->ctx, &r->rd, &hdr, &off);
    if (rc == 0 && hdr.type != MIG_REC_END)
        rc = xt_error(r->ctx, -EPROTO, "%s at offset %llu after the opaque "
                      "stream, where END belongs", mig_rec_name(hdr.type),
                      (unsigned long long)off);
    if (rc < 0)
        return rc;
    r->digest = mig_opaque_tally_digest(&x->t);
    r->st->bytes_sent = x->t.bytes;
    r->st->nstreams = 1;
    xt_info(r->ctx, "restored domain %u from %llu bytes", r->domid,
            (unsigned long long)x->t.bytes);
    return 0;
}

static void orecv_abort(struct mig_receiver *r)
{
    struct orecv *x = r->xfer_priv;

    if (x && x->started)
        orecv_join(x, -ECANCELED);
}

static void orecv_fini(struct mig_receiver *r)
{
    struct orecv *x = r->xfer_priv;

    if (!x)
        return;
    orecv_abort(r);
    if (x->sv[0] >= 0)
        close(x->sv[0]);
    if (x->sv[1] >= 0)
        close(x->sv[1]);
    hv_close(x->hr);
    xt_ctx_free(x->rctx);
    mig_opaque_tally_free(&x->t);
    free(x);
    r->xfer_priv = NULL;
}

const struct mig_rxfer_ops mig_opaque_recv_ops = {
    .name = "opaque",
    .receive = orecv_receive,
    .abort = orecv_abort,
    .fini = orecv_fini,
};
