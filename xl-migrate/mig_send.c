/*
 * mig_send.c - the sending side: pre-copy rounds driven by log-dirty,
 * stop-and-copy, the commit handshake (docs/specs/migration-stream.md).
 *
 * Page data flows through one worker thread per TCP stream; the control
 * thread harvests, decides (mig_policy.c), queues work, and alone writes
 * control records on the main connection, only while the workers are
 * idle.  Workers read guest pages after the harvest that queued them, so
 * any write after a read is caught by a later harvest; the last harvest
 * happens with the source paused.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mig.h"
#include "mig_internal.h"
#include "mig_net.h"
#include "mig_opaque.h"
#include "mig_stream.h"

#define QUEUE_MAX       256u
/* Pages per batch we send: smaller than the stream's maximum so that the
 * receiver works on one batch while the next is on the wire. */
#define SEND_BATCH      256u
#define QUERY_TRIES     20u
#define BW_MIN_BYTES    (4u << 20)
#define QUERY_DELAY_MS  250u

enum job_kind {
    JOB_PAGES = 0,
    JOB_ROUND_END,
    JOB_END,
};

struct job {
    enum job_kind kind;
    uint32_t round;
    const uint64_t *pfns;       /* JOB_PAGES: owned by the control thread,
                                 * valid until the workers are idle */
    uint32_t count;
};

struct worker {
    struct sender *s;
    unsigned index;
    int fd;
    struct xt_ctx *ctx;         /* its own error slot */
    pthread_t thread;
    bool started;
    /* queue, guarded by s->lock */
    struct job q[QUEUE_MAX];
    unsigned head, tail, len;
    bool busy;
    uint64_t round_pages;       /* pages sent in the current round */
    struct mig_buf buf, scratch;
};

struct sender {
    struct xt_ctx *ctx;
    struct hv_handle *h;
    uint32_t domid;
    const struct mig_send_opts *o;
    struct mig_stats *st;
    uint64_t nr_pages;
    uint64_t migration_id;
    unsigned nstreams;
    struct worker w[MIG_MAX_STREAMS];

    pthread_mutex_t lock;
    pthread_cond_t cv;
    int failed;                 /* first worker error, 0 if none */
    bool quit;
    /* counters, guarded by lock */
    uint64_t bytes, pages_normal, pages_zero, pages_compressed;
    uint64_t raw_bytes, wire_payload;
    bool corrupted;             /* fault injection done */

    struct mig_progress prog;
    uint64_t t_start;
};

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

/* Writes a whole buffer to a stream, counting bytes. */
static int send_buf(struct sender *s, int fd, struct mig_buf *b)
{
    int rc = xt_write_full(fd, b->data, b->len, s->o->timeout_ms);

    if (rc == 0) {
        pthread_mutex_lock(&s->lock);
        s->bytes += b->len;
        pthread_mutex_unlock(&s->lock);
    }
    b->len = 0;
    return rc;
}

static int send_rec(struct sender *s, int fd, uint32_t type, uint32_t flags,
                    const void *body, size_t len)
{
    struct mig_buf b = { 0 };
    int rc = mig_rec_append(&b, type, flags, body, len);

    if (rc == 0)
        rc = send_buf(s, fd, &b);
    mig_buf_free(&b);
    if (rc < 0)
        return xt_error(s->ctx, rc, "sending %s", mig_rec_name(type));
    return 0;
}

static bool all_zero(const void *page)
{
    const uint64_t *w = page;
    unsigned i;

    for (i = 0; i < MIG_PAGE_SIZE / 8; i++)
        if (w[i])
            return false;
    return true;
}

/*
 * Maps n pages of the source for reading.  A page that cannot be mapped
 * (NULL in pages, hv_map_batch's -EFAULT) is a hole for a sparse driver
 * -- never populated, or ballooned out since it was dirtied -- with
 * nothing to send; for other drivers it is an error, reported into ctx.
 * *m_r goes to hv_unmap whatever the result.
 */
static int map_source(struct sender *s, struct xt_ctx *ctx,
                      const uint64_t *pfns, size_t n, void **pages,
                      struct hv_mapping **m_r)
{
    int rc = hv_map_batch(s->h, s->domid, HV_MAP_READ, pfns, n, pages, m_r);

    if (rc != -EFAULT)
        return rc;
    if (hv_is_sparse(s->h))
        return 0;
    return xt_error(ctx, rc, "mapping %zu pages of domain %u: some could "
                    "not be mapped", n, s->domid);
}

/* One batch of pages: map, (round 0: drop zero pages), encode, send. */
static int send_pages(struct worker *w, const struct job *j)
{
    struct sender *s = w->s;
    const void *pages[MIG_BATCH_MAX];
    uint64_t pfns[MIG_BATCH_MAX];
    void *mapped[MIG_BATCH_MAX];
    struct hv_mapping *m = NULL;
    struct mig_batch_stats bs;
    uint32_t i, n = 0, skipped = 0;
    int rc;

    rc = map_source(s, w->ctx, j->pfns, j->count, mapped, &m);
    if (rc < 0) {
        hv_unmap(s->h, m);
        return rc;
    }
    for (i = 0; i < j->count; i++) {
        if (!mapped[i]) {
            skipped++;
            continue;
        }
        /* Round 0: the destination starts zeroed, a zero page needs no
         * record at all -- unless the destination starts empty (sparse),
         * where the zero record is what populates the page. */
        if (j->round == 0 && !(hv_is_sparse(s->h)) &&
            all_zero(mapped[i])) {
            skipped++;
            continue;
        }
        pfns[n] = j->pfns[i];
        pages[n++] = mapped[i];
    }
    memset(&bs, 0, sizeof(bs));
    if (n) {
        rc = mig_batch_encode(w->ctx, &w->buf, &w->scratch, j->round, pfns,
                              pages, n,
                              (enum mig_compress)s->o->compression,
                              s->o->level, s->o->checksum, &bs);
        if (rc == 0 && s->o->fault == MIG_FAULT_CORRUPT_BATCH &&
            j->round >= 1) {
            pthread_mutex_lock(&s->lock);
            if (!s->corrupted) {
                /* Flip a payload byte: the checksum must catch it. */
                w->buf.data[w->buf.len - 100] ^= 0x5a;
                s->corrupted = true;
            }
            pthread_mutex_unlock(&s->lock);
        }
    }
    hv_unmap(s->h, m);
    if (rc < 0)
        return rc;
    if (n) {
        rc = send_buf(s, w->fd, &w->buf);
        if (rc < 0)
            return xt_error(w->ctx, rc, "stream %u: sending a page batch",
                            w->index);
    }
    pthread_mutex_lock(&s->lock);
    s->pages_zero += bs.zero + skipped;
    s->pages_normal += bs.normal;
    s->pages_compressed += bs.compressed;
    s->raw_bytes += bs.raw_bytes;
    s->wire_payload += bs.wire_bytes;
    s->prog.pages_sent += j->count;
    pthread_mutex_unlock(&s->lock);
    w->round_pages += j->count;
    return 0;
}

static int send_round_end(struct worker *w, uint32_t round)
{
    struct mig_round_end re = { .round = round, .pages = w->round_pages };
    int rc;

    w->round_pages = 0;
    rc = mig_rec_append(&w->buf, MIG_REC_ROUND_END, 0, &re, sizeof(re));
    if (rc == 0)
        rc = send_buf(w->s, w->fd, &w->buf);
    if (rc < 0)
        return xt_error(w->ctx, rc, "stream %u: sending round end",
                        w->index);
    return 0;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct sender *s = w->s;

    for (;;) {
        struct job j;
        int rc = 0;

        pthread_mutex_lock(&s->lock);
        while (!w->len && !s->quit) {
            w->busy = false;
            pthread_cond_broadcast(&s->cv);
            pthread_cond_wait(&s->cv, &s->lock);
        }
        if (s->quit) {
            w->busy = false;
            pthread_cond_broadcast(&s->cv);
            pthread_mutex_unlock(&s->lock);
            break;
        }
        j = w->q[w->head];
        w->head = (w->head + 1) % QUEUE_MAX;
        w->len--;
        w->busy = true;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->lock);

        if (!s->failed) {
            switch (j.kind) {
            case JOB_PAGES:
                rc = send_pages(w, &j);
                break;
            case JOB_ROUND_END:
                rc = send_round_end(w, j.round);
                break;
            case JOB_END:
                rc = mig_rec_append(&w->buf, MIG_REC_END, 0, NULL, 0);
                if (rc == 0)
                    rc = send_buf(s, w->fd, &w->buf);
                break;
            }
        }
        if (rc < 0) {
            pthread_mutex_lock(&s->lock);
            if (!s->failed) {
                s->failed = rc;
                /* Carry the worker's message to the caller's context. */
                xt_error(s->ctx, rc, "%s", w->ctx->err_msg);
            }
            pthread_mutex_unlock(&s->lock);
        }
    }
    return NULL;
}

static void push(struct sender *s, struct worker *w, const struct job *j)
{
    pthread_mutex_lock(&s->lock);
    while (w->len == QUEUE_MAX && !s->failed)
        pthread_cond_wait(&s->cv, &s->lock);
    if (!s->failed) {
        w->q[w->tail] = *j;
        w->tail = (w->tail + 1) % QUEUE_MAX;
        w->len++;
        w->busy = true;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->lock);
}

/* Waits until every worker has drained its queue. */
static int wait_idle(struct sender *s)
{
    unsigned i;
    bool idle;
    int rc;

    pthread_mutex_lock(&s->lock);
    for (;;) {
        idle = true;
        for (i = 0; i < s->nstreams; i++)
            idle &= !s->w[i].len && !s->w[i].busy;
        if (idle || s->failed)
            break;
        pthread_cond_wait(&s->cv, &s->lock);
    }
    rc = s->failed;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static void report(struct sender *s)
{
    if (!s->o->progress)
        return;
    pthread_mutex_lock(&s->lock);
    s->prog.bytes_sent = s->bytes;
    pthread_mutex_unlock(&s->lock);
    s->o->progress(&s->prog, s->o->opaque);
}

/* Sends pfns[0..n) as one round over all streams, then ROUND_END on each
 * stream; returns once all of it is on the wire. */
static int send_round(struct sender *s, uint32_t round, const uint64_t *pfns,
                      uint64_t n)
{
    uint64_t off;
    unsigned k = 0, i;
    int rc;
    const uint32_t bs = SEND_BATCH;

    for (off = 0; off < n && !s->failed; off += bs) {
        struct job j = {
            .kind = JOB_PAGES,
            .round = round,
            .pfns = pfns + off,
            .count = (uint32_t)(n - off < bs ? n - off : bs),
        };

        push(s, &s->w[k], &j);
        k = (k + 1) % s->nstreams;
        if (s->o->cancel && s->o->cancel(s->o->opaque)) {
            rc = xt_error(s->ctx, -ECANCELED, "migration cancelled");
            pthread_mutex_lock(&s->lock);
            if (!s->failed)
                s->failed = rc;
            pthread_mutex_unlock(&s->lock);
            break;
        }
        if ((off / bs) % 256 == 255)
            report(s);
    }
    for (i = 0; i < s->nstreams; i++) {
        struct job j = { .kind = JOB_ROUND_END, .round = round };

        push(s, &s->w[i], &j);
    }
    return wait_idle(s);
}

static int harvest(struct sender *s, uint64_t *bm, uint64_t *pfns,
                   uint64_t *n_r)
{
    uint64_t dirty = 0, p, n = 0;
    int rc;

    rc = hv_dirty_harvest(s->h, s->domid, bm, s->nr_pages, &dirty);
    if (rc < 0)
        return rc;
    for (p = xt_bitmap_find_next(bm, s->nr_pages, 0); p < s->nr_pages;
         p = xt_bitmap_find_next(bm, s->nr_pages, p + 1))
        pfns[n++] = p;
    *n_r = n;
    return 0;
}

static int start_workers(struct sender *s, const char *host,
                         const char *port, int main_fd)
{
    unsigned i;
    int rc, r;

    for (i = 0; i < s->nstreams; i++) {
        struct worker *w = &s->w[i];

        w->s = s;
        w->index = i;
        w->fd = -1;
        w->ctx = xt_ctx_new("mig-send");
        if (!w->ctx)
            return xt_error(s->ctx, -ENOMEM, "stream context");
        w->ctx->quiet_errors = true;
        if (i == 0) {
            w->fd = main_fd;
        } else {
            struct mig_stream_hello hello = {
                .migration_id = s->migration_id,
                .index = i,
                .nstreams = s->nstreams,
            };

            struct mig_image_hdr ih;

            rc = mig_net_connect(s->ctx, host, port, s->o->timeout_ms,
                                 &w->fd);
            if (rc < 0)
                return rc;
            /* Every connection opens with the image header. */
            mig_image_hdr_init(&ih, mig_hv_type_of(s->h), s->migration_id);
            rc = xt_write_full(w->fd, &ih, sizeof(ih), s->o->timeout_ms);
            if (rc < 0)
                return xt_error(s->ctx, rc, "stream %u: image header", i);
            rc = send_rec(s, w->fd, MIG_REC_STREAM_HELLO, 0, &hello,
                          sizeof(hello));
            if (rc < 0)
                return rc;
        }
        r = pthread_create(&w->thread, NULL, worker_main, w);
        if (r)
            return xt_error(s->ctx, -r, "starting stream %u", i);
        w->started = true;
    }
    return 0;
}

static void stop_workers(struct sender *s)
{
    unsigned i;

    pthread_mutex_lock(&s->lock);
    s->quit = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->lock);
    for (i = 0; i < s->nstreams; i++) {
        struct worker *w = &s->w[i];

        if (w->started) {
            /* A worker blocked on a dead peer is woken by the shutdown. */
            if (s->failed && w->fd >= 0)
                shutdown(w->fd, SHUT_RDWR);
            pthread_join(w->thread, NULL);
            w->started = false;
        }
        if (i > 0 && w->fd >= 0)
            close(w->fd);
        w->fd = -1;
        mig_buf_free(&w->buf);
        mig_buf_free(&w->scratch);
        xt_ctx_free(w->ctx);
        w->ctx = NULL;
    }
}

/*
 * Reads the next receiver record on the main connection, expecting type;
 * an ABORT is turned into the receiver's error.
 */
static int expect(struct sender *s, struct mig_reader *r, uint32_t type,
                  void *body, size_t len)
{
    struct mig_rec_hdr hdr;
    uint64_t off;
    int rc;

    do {
        rc = mig_read_record(s->ctx, r, &hdr, &off);
        if (rc < 0)
            return rc;
        /* Round acknowledgements may precede what we wait for. */
    } while (hdr.type == MIG_REC_ROUND_ACK && type != MIG_REC_ROUND_ACK);
    if (hdr.type == MIG_REC_ABORT && hdr.length >= sizeof(struct mig_abort)) {
        struct mig_abort ab;
        size_t ml;

        memcpy(&ab, r->body.data, sizeof(ab));
        ml = hdr.length - sizeof(ab);
        if (ab.msg_len < ml)
            ml = ab.msg_len;
        return xt_error(s->ctx, ab.status < 0 && ab.status > -4096 ?
                        ab.status : -EIO, "receiver aborted: %.*s", (int)ml,
                        (char *)r->body.data + sizeof(ab));
    }
    if (hdr.type != type || hdr.length != len)
        return xt_error(s->ctx, -EPROTO, "expected %s from the receiver, got "
                        "%s of %llu bytes at offset %llu",
                        mig_rec_name(type), mig_rec_name(hdr.type),
                        (unsigned long long)hdr.length,
                        (unsigned long long)off);
    memcpy(body, r->body.data, len);
    return 0;
}

/*
 * Waits until the receiver has applied round `round` everywhere, so that
 * the pause that follows is not spent waiting for it to work through what
 * is still in the socket buffers.
 */
static int wait_round_ack(struct sender *s, struct mig_reader *r,
                          uint32_t round)
{
    struct mig_round_end ack;
    int rc;

    do {
        rc = expect(s, r, MIG_REC_ROUND_ACK, &ack, sizeof(ack));
        if (rc < 0)
            return rc;
    } while (ack.round < round);
    return 0;
}

/* After a failure the receiver may have said why: read an ABORT if one is
 * already there, without waiting. */
static void receiver_reason(struct sender *s, int fd)
{
    struct mig_reader r = { .fd = fd, .timeout_ms = 200 };
    struct mig_rec_hdr hdr;
    uint64_t off;
    bool quiet = s->ctx->quiet_errors;
    char saved[XT_ERRMSG_MAX];
    int saved_rc = s->ctx->err_rc;

    snprintf(saved, sizeof(saved), "%s", s->ctx->err_msg);
    s->ctx->quiet_errors = true;
    if (mig_read_record(s->ctx, &r, &hdr, &off) == 0 &&
        hdr.type == MIG_REC_ABORT && hdr.length >= sizeof(struct mig_abort)) {
        struct mig_abort ab;

        memcpy(&ab, r.body.data, sizeof(ab));
        s->ctx->quiet_errors = quiet;
        xt_error(s->ctx, saved_rc ? saved_rc : -EIO, "receiver aborted: "
                 "%.*s", (int)(ab.msg_len <= hdr.length - sizeof(ab) ?
                               ab.msg_len : 0),
                 (char *)r.body.data + sizeof(ab));
    } else {
        s->ctx->quiet_errors = quiet;
        s->ctx->err_rc = saved_rc;
        snprintf(s->ctx->err_msg, sizeof(s->ctx->err_msg), "%s", saved);
    }
    mig_buf_free(&r.body);
}

/* Has the peer closed or reset the connection (without waiting)? */
static bool peer_gone(int fd)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLRDHUP };
    char c;

    if (poll(&pfd, 1, 0) <= 0)
        return false;
    if (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR))
        return true;
    return recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

/* Commit in doubt: ask the receiver, on a new connection, what became of
 * the migration. */
static enum mig_query_state query_outcome(struct sender *s, const char *host,
                                          const char *port)
{
    struct mig_query q = { .migration_id = s->migration_id };
    struct mig_query_reply qr;
    unsigned i;

    for (i = 0; i < QUERY_TRIES; i++) {
        struct mig_reader r = { .fd = -1, .timeout_ms = 2000 };
        bool quiet = s->ctx->quiet_errors;
        int rc;

        s->ctx->quiet_errors = true;
        rc = mig_net_connect(s->ctx, host, port, 1000, &r.fd);
        if (rc == 0)
            rc = send_rec(s, r.fd, MIG_REC_QUERY, 0, &q, sizeof(q));
        if (rc == 0)
            rc = expect(s, &r, MIG_REC_QUERY_REPLY, &qr, sizeof(qr));
        s->ctx->quiet_errors = quiet;
        if (r.fd >= 0)
            close(r.fd);
        mig_buf_free(&r.body);
        if (rc == 0 && qr.migration_id == s->migration_id &&
            qr.state != MIG_Q_IN_PROGRESS)
            return qr.state;
        usleep(QUERY_DELAY_MS * 1000);
    }
    return MIG_Q_UNKNOWN;
}

/* Memory digest of the (paused) source.  Never-written pages hash as
 * zero pages without being touched. */
static int source_digest(struct sender *s, uint64_t *digest_r)
{
    static const uint8_t zero[MIG_PAGE_SIZE];
    uint64_t *hashes = malloc(s->nr_pages * sizeof(*hashes));
    uint64_t *pop = xt_bitmap_alloc(s->nr_pages);
    uint64_t pfns[MIG_BATCH_MAX];
    void *pages[MIG_BATCH_MAX];
    uint64_t p, i, zero_hash = mig_page_hash(zero), count;
    bool quiet = s->ctx->quiet_errors;
    int rc = 0;

    if (!hashes || !pop) {
        rc = xt_error(s->ctx, -ENOMEM, "digest");
        goto out;
    }
    s->ctx->quiet_errors = true;
    if (hv_populated(s->h, s->domid, pop, s->nr_pages, &count) < 0)
        xt_bitmap_fill(pop, s->nr_pages);
    s->ctx->quiet_errors = quiet;
    xt_error_clear(s->ctx);
    for (p = 0; p < s->nr_pages && rc == 0; ) {
        struct hv_mapping *m = NULL;
        uint64_t n = 0;

        for (; p < s->nr_pages && n < MIG_BATCH_MAX; p++) {
            if (xt_bitmap_test(pop, p))
                pfns[n++] = p;
            else
                hashes[p] = zero_hash;
        }
        if (!n)
            continue;
        /* A hole was not sent either: it hashes as the destination has
         * it, never written. */
        rc = map_source(s, s->ctx, pfns, n, pages, &m);
        for (i = 0; rc == 0 && i < n; i++)
            hashes[pfns[i]] = pages[i] ? mig_page_hash(pages[i]) : zero_hash;
        hv_unmap(s->h, m);
    }
    if (rc == 0)
        *digest_r = mig_digest(hashes, s->nr_pages);
out:
    free(pop);
    free(hashes);
    return rc;
}

static void finish_stats(struct sender *s)
{
    struct mig_stats *st = s->st;

    pthread_mutex_lock(&s->lock);
    st->bytes_sent = s->bytes;
    st->pages_normal = s->pages_normal;
    st->pages_zero = s->pages_zero;
    st->pages_compressed = s->pages_compressed;
    st->pages_sent = s->pages_normal + s->pages_zero + s->pages_compressed;
    st->compression_ratio = s->wire_payload ?
        (double)s->raw_bytes / (double)s->wire_payload : 1.0;
    pthread_mutex_unlock(&s->lock);
    st->nstreams = s->nstreams;
    if (st->total_ns)
        st->bandwidth_bytes_s = (double)st->bytes_sent * 1e9 /
                                (double)st->total_ns;
}

/*
 * A domain only its hypervisor's library can carry (mig_opaque.c): that
 * library's stream in place of our rounds and STATE, then END; the commit
 * handshake follows as for any migration.  *t_pause_r: when the domain was
 * suspended; *paused_r: whether it is suspended now.
 */
static int send_opaque(struct sender *s, int fd, struct mig_opaque_send *os,
                       uint64_t *t_pause_r, bool *paused_r)
{
    struct mig_stats *st = s->st;
    int rc;

    memset(os, 0, sizeof(*os));
    os->ctx = s->ctx;
    os->h = s->h;
    os->domid = s->domid;
    os->nr_pages = s->nr_pages;
    os->fd = fd;
    os->o = s->o;
    os->t_start = s->t_start;
    st->opaque = true;
    st->setup_ns = xt_now_ns() - s->t_start;
    s->prog.phase = MIG_PHASE_PRECOPY;
    rc = mig_opaque_send(os);
    pthread_mutex_lock(&s->lock);
    s->bytes += os->bytes;
    /* Sent raw by the library: its count before the suspend. */
    s->pages_normal = os->pages_live;
    pthread_mutex_unlock(&s->lock);
    *t_pause_r = os->t_pause;
    *paused_r = os->suspended;
    st->rounds = os->rounds;
    st->forced_stop = os->forced;
    st->final_dirty_pages_s = os->final_dirty_pages_s;
    st->throttle_pct = os->throttle_pct;
    s->prog.throttle_pct = os->throttle_pct;
    if (rc == 0)
        rc = send_rec(s, fd, MIG_REC_END, 0, NULL, 0);
    return rc;
}

int mig_send(struct xt_ctx *ctx, struct hv_handle *h, uint32_t domid,
             const char *host, const char *port,
             const struct mig_send_opts *opts, struct mig_stats *st)
{
    struct sender s;
    struct hv_domain_info info;
    struct hv_guest_stats gs_src;
    struct mig_image_hdr ih;
    struct mig_vm_config cfg;
    struct mig_stream_hello hello;
    struct mig_ready ready;
    struct mig_resumed resumed;
    struct mig_reader rd = { .fd = -1 };
    struct mig_buf b = { 0 };
    struct mig_decision dec;
    struct mig_opaque_send os;
    uint64_t *bm = NULL, *pfns = NULL, n = 0, prev_n = 0;
    uint64_t t_round, t_pause = 0, fixed_cost_ns = 2000000ull;
    uint64_t prev_bytes, prev_sent;
    double bulk_bw = 0;
    bool paused = false, logdirty = false, committed = false, opaque = false;
    uint32_t round;
    void *blob = NULL;
    size_t blob_len = 0;
    int main_fd = -1, rc;

    memset(&s, 0, sizeof(s));
    memset(st, 0, sizeof(*st));
    memset(&gs_src, 0, sizeof(gs_src));
    s.ctx = ctx;
    s.h = h;
    s.domid = domid;
    s.o = opts;
    s.st = st;
    s.nstreams = opts->nstreams ? opts->nstreams : 1;
    s.t_start = xt_now_ns();
    pthread_mutex_init(&s.lock, NULL);
    pthread_cond_init(&s.cv, NULL);
    s.prog.phase = MIG_PHASE_SETUP;

    if (s.nstreams > MIG_MAX_STREAMS) {
        rc = xt_error(ctx, -EINVAL, "%u streams: at most %u", s.nstreams,
                      MIG_MAX_STREAMS);
        goto out;
    }
    rc = hv_info(h, domid, &info);
    if (rc < 0)
        goto out;
    if (info.state != HV_STATE_RUNNING && info.state != HV_STATE_PAUSED) {
        rc = xt_error(ctx, -EINVAL, "domain %u is %s: only a running or "
                      "paused domain migrates", domid,
                      hv_run_state_name(info.state));
        goto out;
    }
    /* Its hypervisor's stream on the main connection alone. */
    opaque = info.opaque_stream;
    if (opaque)
        s.nstreams = 1;
    s.nr_pages = info.nr_pages;
    s.prog.nr_pages = s.nr_pages;
    bm = xt_bitmap_alloc(s.nr_pages);
    pfns = malloc(s.nr_pages * sizeof(*pfns));
    if (!bm || !pfns) {
        rc = xt_error(ctx, -ENOMEM, "bitmaps for %llu pages",
                      (unsigned long long)s.nr_pages);
        goto out;
    }
    {
        struct xt_uuid u;

        /* A random migration id (never 0): half a fresh UUID. */
        if (xt_uuid_generate(&u) < 0)
            memcpy(u.b, &s.t_start, sizeof(s.t_start));
        memcpy(&s.migration_id, u.b, sizeof(s.migration_id));
        s.migration_id |= 1;
    }

    /* Main connection: header, token, stream count, configuration. */
    rc = mig_net_connect(ctx, host, port, opts->timeout_ms, &main_fd);
    if (rc < 0)
        goto out;
    rd.fd = main_fd;
    rd.timeout_ms = opts->timeout_ms;
    mig_image_hdr_init(&ih, mig_hv_type_of(h), s.migration_id);
    if (opaque) {
        ih.version = MIG_VERSION_OPAQUE;
        ih.flags = MIG_IMG_OPAQUE;
    }
    rc = xt_write_full(main_fd, &ih, sizeof(ih), opts->timeout_ms);
    if (rc < 0) {
        xt_error(ctx, rc, "sending the image header");
        goto out;
    }
    s.bytes += sizeof(ih);
    if (opts->token) {
        rc = send_rec(&s, main_fd, MIG_REC_AUTH, 0, opts->token,
                      strlen(opts->token));
        if (rc < 0)
            goto out;
    }
    hello.migration_id = s.migration_id;
    hello.index = 0;
    hello.nstreams = s.nstreams;
    rc = send_rec(&s, main_fd, MIG_REC_STREAM_HELLO, 0, &hello,
                  sizeof(hello));
    if (rc < 0)
        goto out;
    memset(&cfg, 0, sizeof(cfg));
    memcpy(cfg.uuid, info.uuid.b, sizeof(cfg.uuid));
    cfg.nr_pages = info.nr_pages;
    cfg.nr_vcpus = info.nr_vcpus;
    rc = mig_vm_config_append(&b, &cfg, info.name,
                              opts->devices ? opts->devices : "");
    if (rc == 0)
        rc = send_buf(&s, main_fd, &b);
    if (rc < 0) {
        xt_error(ctx, rc, "sending the VM configuration");
        goto out;
    }
    if (opaque) {
        rc = send_opaque(&s, main_fd, &os, &t_pause, &paused);
        if (rc < 0)
            goto fail;
        goto handshake;
    }
    rc = start_workers(&s, host, port, main_fd);
    if (rc < 0)
        goto out;

    /* The longest heartbeat gap is measured from here on. */
    {
        bool quiet = ctx->quiet_errors;     /* optional: no error */

        ctx->quiet_errors = true;
        if (hv_guest_stats_ex(h, domid, HV_STATS_RESET_GAP, &gs_src) == 0)
            st->guest_measured = gs_src.is_test_guest;
        ctx->quiet_errors = quiet;
        xt_error_clear(ctx);
    }

    rc = hv_logdirty(h, domid, true);
    if (rc < 0)
        goto out;
    logdirty = true;
    rc = hv_dirty_harvest(h, domid, bm, s.nr_pages, &n);
    if (rc < 0)
        goto out;

    /* Round 0: every page that may hold data (the workers skip the zero
     * ones).  Pages the hypervisor says were never written read as zero
     * and are not even touched: reading them would allocate them.  A page
     * written from now on is in a later harvest. */
    st->setup_ns = xt_now_ns() - s.t_start;
    s.prog.phase = MIG_PHASE_PRECOPY;
    n = 0;
    {
        uint64_t populated = 0, p;
        bool quiet = ctx->quiet_errors;

        ctx->quiet_errors = true;
        rc = hv_populated(h, domid, bm, s.nr_pages, &populated);
        ctx->quiet_errors = quiet;
        if (rc < 0)
            xt_debug(ctx, "round 0 over every pfn: populated: %s",
                     ctx->err_msg);
        xt_error_clear(ctx);
        if (rc == 0) {
            for (p = xt_bitmap_find_next(bm, s.nr_pages, 0); p < s.nr_pages;
                 p = xt_bitmap_find_next(bm, s.nr_pages, p + 1))
                pfns[n++] = p;
            s.pages_zero += s.nr_pages - n;
        } else {
            for (n = 0; n < s.nr_pages; n++)
                pfns[n] = n;
        }
        rc = 0;
    }
    t_round = xt_now_ns();
    prev_bytes = s.prog.pages_sent;
    rc = send_round(&s, 0, pfns, n);
    if (rc < 0)
        goto fail;
    round = 1;
    prev_n = s.nr_pages;
    for (;;) {
        struct mig_round_info ri;
        uint64_t now = xt_now_ns(), dt = now - t_round;

        rc = harvest(&s, bm, pfns, &n);
        if (rc < 0)
            goto fail;
        /* Bandwidth in guest bytes moved, not wire bytes: what the policy
         * divides by is dirty guest memory, compressed or not. */
        pthread_mutex_lock(&s.lock);
        prev_sent = (s.prog.pages_sent - prev_bytes) * MIG_PAGE_SIZE;
        pthread_mutex_unlock(&s.lock);
        memset(&ri, 0, sizeof(ri));
        ri.round = round;
        ri.dirty_pages = n;
        ri.prev_dirty_pages = prev_n;
        /* A round of a few pages says little about the link: trust the
         * last round that moved at least BW_MIN_BYTES instead. */
        ri.bandwidth_bytes_s = dt ? (double)prev_sent * 1e9 / dt : 0;
        if (prev_sent >= BW_MIN_BYTES)
            bulk_bw = ri.bandwidth_bytes_s;
        else if (bulk_bw > ri.bandwidth_bytes_s)
            ri.bandwidth_bytes_s = bulk_bw;
        ri.dirty_pages_s = dt ? (double)n * 1e9 / dt : 0;
        ri.fixed_cost_ns = fixed_cost_ns;
        ri.elapsed_ns = now - s.t_start;
        ri.throttle_pct = s.prog.throttle_pct;
        memset(&dec, 0, sizeof(dec));
        (opts->policy ? opts->policy : mig_policy_default)(opts, &ri, &dec);

        s.prog.round = round;
        s.prog.remaining_pages = n;
        s.prog.dirty_pages_s = ri.dirty_pages_s;
        s.prog.bandwidth_bytes_s = ri.bandwidth_bytes_s;
        s.prog.eta_ms = dec.expected_downtime_ns / 1000000;
        s.prog.percent = 100.0 * (1.0 - (double)n / (double)s.nr_pages);
        st->final_dirty_pages_s = ri.dirty_pages_s;
        report(&s);
        if (dec.stop_and_copy) {
            st->forced_stop = dec.forced;
            break;
        }
        if (dec.throttle_pct != s.prog.throttle_pct) {
            rc = hv_throttle(h, domid, dec.throttle_pct);
            if (rc < 0 && rc != -ENOTSUP)
                goto fail;
            xt_error_clear(ctx);
            if (rc == 0) {
                s.prog.throttle_pct = dec.throttle_pct;
                if (dec.throttle_pct > st->throttle_pct)
                    st->throttle_pct = dec.throttle_pct;
            }
        }
        t_round = xt_now_ns();
        prev_bytes = s.prog.pages_sent;
        prev_n = n;
        rc = send_round(&s, round, pfns, n);
        if (rc < 0)
            goto fail;
        round++;
    }

    /* Stop-and-copy.  The dirty pages just harvested are resent with the
     * final ones: a page harvested but not yet sent is still in pfns. */
    s.prog.phase = MIG_PHASE_STOPCOPY;
    rc = wait_idle(&s);
    if (rc == 0)
        rc = wait_round_ack(&s, &rd, round - 1);
    if (rc == 0)
        rc = send_rec(&s, main_fd, MIG_REC_STOPCOPY, MIG_REC_OPTIONAL, NULL,
                      0);
    if (rc < 0)
        goto fail;
    t_pause = xt_now_ns();
    rc = hv_suspend(h, domid);
    if (rc < 0)
        goto fail;
    paused = true;
    xt_debug(ctx, "stop-and-copy: paused at +%.3f ms",
             (xt_now_ns() - t_pause) / 1e6);
    if (st->guest_measured)
        hv_guest_stats(h, domid, &gs_src);
    {
        uint64_t *bm2 = xt_bitmap_alloc(s.nr_pages);
        uint64_t dirty = 0, p;

        if (!bm2) {
            rc = xt_error(ctx, -ENOMEM, "final bitmap");
            goto fail;
        }
        for (p = 0; p < n; p++)
            xt_bitmap_set(bm2, pfns[p]);
        rc = hv_dirty_harvest(h, domid, bm, s.nr_pages, &dirty);
        if (rc == 0) {
            xt_bitmap_or(bm2, bm, s.nr_pages);
            n = 0;
            for (p = xt_bitmap_find_next(bm2, s.nr_pages, 0);
                 p < s.nr_pages;
                 p = xt_bitmap_find_next(bm2, s.nr_pages, p + 1))
                pfns[n++] = p;
        }
        free(bm2);
        if (rc < 0)
            goto fail;
    }
    xt_debug(ctx, "stop-and-copy: paused+harvested at +%.3f ms, %llu pages",
             (xt_now_ns() - t_pause) / 1e6, (unsigned long long)n);
    rc = send_round(&s, round, pfns, n);
    if (rc < 0)
        goto fail;
    st->rounds = round + 1;
    xt_debug(ctx, "stop-and-copy: pages sent at +%.3f ms",
             (xt_now_ns() - t_pause) / 1e6);
    rc = hv_state_save(h, domid, &blob, &blob_len);
    if (rc < 0)
        goto fail;
    rc = send_rec(&s, main_fd, MIG_REC_STATE, 0, blob, blob_len);
    if (rc < 0)
        goto fail;
    {
        unsigned i;

        for (i = 1; i < s.nstreams; i++) {
            struct job j = { .kind = JOB_END };

            push(&s, &s.w[i], &j);
        }
        rc = wait_idle(&s);
        if (rc == 0)
            rc = send_rec(&s, main_fd, MIG_REC_END, 0, NULL, 0);
        if (rc < 0)
            goto fail;
    }

handshake:
    /* Commit handshake. */
    s.prog.phase = MIG_PHASE_COMMIT;
    report(&s);
    xt_debug(ctx, "stop-and-copy: state+end sent at +%.3f ms",
             (xt_now_ns() - t_pause) / 1e6);
    rc = expect(&s, &rd, MIG_REC_READY, &ready, sizeof(ready));
    if (rc < 0)
        goto fail;
    xt_debug(ctx, "commit: ready at +%.3f ms", (xt_now_ns() - t_pause) / 1e6);
    if (ready.status < 0) {
        rc = xt_error(ctx, ready.status > -4096 ? ready.status : -EIO,
                      "receiver not ready");
        goto fail;
    }
    if (opts->cancel && opts->cancel(opts->opaque)) {
        rc = xt_error(ctx, -ECANCELED, "migration cancelled before commit");
        goto fail;
    }
    /* A receiver that hung up after READY cannot take the VM: check before
     * committing, so that case stays a plain failure. */
    if (peer_gone(main_fd)) {
        rc = xt_error(ctx, -EPIPE, "the receiver hung up after saying "
                      "ready: not committing");
        goto fail;
    }
    rc = send_rec(&s, main_fd, MIG_REC_COMMIT, 0, NULL, 0);
    if (rc == -EPIPE || rc == -ECONNRESET)
        goto fail;      /* COMMIT never left: nothing was committed */
    /* From here on the source is not ours to resume blindly. */
    committed = true;
    if (rc == 0)
        rc = expect(&s, &rd, MIG_REC_RESUMED, &resumed, sizeof(resumed));
    if (rc == -ECONNRESET) {
        /* A reset, not an orderly close: the receiver's socket was closed
         * with COMMIT still unread in it, so it never acted on it (it
         * resumes only after reading COMMIT). */
        committed = false;
        goto fail;
    }
    if (rc == 0 && resumed.status < 0) {
        /* The receiver could not resume its copy and destroyed it. */
        rc = xt_error(ctx, resumed.status > -4096 ? resumed.status : -EIO,
                      "receiver failed to resume the VM");
        committed = false;
        goto fail;
    }
    if (rc < 0) {
        enum mig_query_state q;

        xt_warn(ctx, "commit sent, no confirmation (%s): asking the "
                "receiver", ctx->err_msg);
        q = query_outcome(&s, host, port);
        if (q == MIG_Q_RESUMED) {
            xt_error_clear(ctx);
            memset(&resumed, 0, sizeof(resumed));
            rc = 0;
        } else if (q == MIG_Q_ABORTED) {
            committed = false;
            rc = xt_error(ctx, -EIO, "receiver did not take the VM after "
                          "commit: resuming the source");
            goto fail;
        } else {
            st->in_doubt = true;
            rc = xt_error(ctx, -ENOTRECOVERABLE, "commit in doubt: the "
                          "receiver cannot be reached; the source domain "
                          "%u is left paused (never two copies) until the "
                          "destination is checked", domid);
            goto out;
        }
    }
    st->committed = true;
    {
        uint64_t now = xt_now_ns();

        st->downtime_ns = resumed.resume_ns > t_pause &&
                          resumed.resume_ns <= now ?
                          resumed.resume_ns - t_pause : now - t_pause;
    }
    /* Measurable only when both ends saw heartbeats (a guest paused
     * before its first heartbeat has no "last one before the pause"). */
    if (st->guest_measured && resumed.hb_first_ns && gs_src.hb_count) {
        uint64_t cross = resumed.hb_first_ns > gs_src.hb_last_ns ?
                         resumed.hb_first_ns - gs_src.hb_last_ns : 0;
        uint64_t g = gs_src.hb_max_gap_ns;

        if (cross > g)
            g = cross;
        if (resumed.hb_max_gap_ns > g)
            g = resumed.hb_max_gap_ns;
        st->guest_downtime_ns = g;
        st->hb_last_seq_src = gs_src.hb_last_seq;
        st->hb_first_seq_dst = resumed.hb_first_seq;
        st->hb_continuous = resumed.hb_first_seq == gs_src.hb_last_seq + 1;
        st->mismatches = resumed.mismatches;
    } else {
        st->guest_measured = false;
    }
    if (opaque) {
        /* What the receiver restored from against what we sent. */
        st->digest_src = os.digest;
        st->digest_dst = ready.digest;
        st->digest_checked = true;
        st->digest_equal = st->digest_src == st->digest_dst;
    } else if (opts->verify_digest) {
        st->digest_dst = ready.digest;
        if (source_digest(&s, &st->digest_src) == 0) {
            st->digest_checked = true;
            st->digest_equal = st->digest_src == st->digest_dst;
        }
    }
    rc = hv_destroy(h, domid);
    if (rc < 0)
        xt_warn(ctx, "migrated, but destroying the source failed: %s",
                ctx->err_msg);
    rc = 0;
    s.prog.phase = MIG_PHASE_DONE;
    s.prog.percent = 100.0;
    report(&s);
    goto out;

fail:
    /* Before the commit: the source is the only copy; make it run. */
    if (!committed) {
        int keep = rc;
        bool quiet = ctx->quiet_errors;
        char msg[XT_ERRMSG_MAX];

        if (main_fd >= 0)
            receiver_reason(&s, main_fd);
        keep = ctx->err_rc ? ctx->err_rc : keep;
        snprintf(msg, sizeof(msg), "%s", ctx->err_msg);
        ctx->quiet_errors = true;
        if (main_fd >= 0) {
            struct mig_abort ab = { .status = keep };

            send_rec(&s, main_fd, MIG_REC_ABORT, 0, &ab, sizeof(ab));
        }
        if (s.prog.throttle_pct)
            hv_throttle(h, domid, 0);
        if (logdirty)
            hv_logdirty(h, domid, false);
        logdirty = false;
        if (paused && hv_resume_after_failure(h, domid) == 0)
            paused = false;
        ctx->quiet_errors = quiet;
        ctx->err_rc = keep;
        snprintf(ctx->err_msg, sizeof(ctx->err_msg), "%s", msg);
        rc = keep;
        if (paused)
            xt_warn(ctx, "could not resume the source domain %u", domid);
    }
out:
    if (main_fd >= 0 && rc < 0)
        shutdown(main_fd, SHUT_RDWR);
    if (!s.failed && rc < 0)
        s.failed = rc;
    stop_workers(&s);
    if (logdirty && !st->committed && !st->in_doubt) {
        bool quiet = ctx->quiet_errors;

        ctx->quiet_errors = true;
        hv_logdirty(h, domid, false);
        ctx->quiet_errors = quiet;
    }
    if (main_fd >= 0)
        close(main_fd);
    st->rc = rc;
    if (!st->committed)
        st->guest_measured = false;     /* no destination to measure */
    st->total_ns = xt_now_ns() - s.t_start;
    if (!st->rounds)
        st->rounds = s.prog.round + 1;
    finish_stats(&s);
    mig_buf_free(&rd.body);
    mig_buf_free(&b);
    free(blob);
    free(bm);
    free(pfns);
    pthread_cond_destroy(&s.cv);
    pthread_mutex_destroy(&s.lock);
    return rc;
}
