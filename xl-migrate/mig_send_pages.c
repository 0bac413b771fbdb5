/*
 * mig_send_pages.c - the page mode of the sender (mig_internal.h, struct
 * mig_xfer_ops): pre-copy rounds driven by log-dirty, stop-and-copy, the
 * state record.
 *
 * Page data flows through one worker thread per stream; the control
 * thread harvests, asks the policy (mig_policy.c), queues work, and alone
 * writes control records on the main connection, only while the workers
 * are idle.  Workers read guest pages after the harvest that queued them,
 * so a write after a read is caught by a later harvest; the last harvest
 * happens with the source paused.
 *
 * Pages go out of the guest's memory as they are (sendmsg of the batch's
 * arrays and the mapped pages, no copy of ours), each with the hash it had
 * when we read it: a page the guest changes while it is on its way is
 * dirty again, sent again in a later round, and the receiver, whose hash
 * of it differs, waits for that copy (docs/specs section 7).  A page that
 * cannot be mapped when its round comes is deferred to the final round,
 * where the source is paused; unmappable then, it fails the migration.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "mig_internal.h"

#define QUEUE_MAX       256u
/* Pages per batch we send: smaller than the stream's maximum so that the
 * receiver works on one batch while the next is on the wire. */
#define SEND_BATCH      256u

enum job_kind {
    JOB_PAGES = 0,
    JOB_ROUND_END,
    JOB_END,
};

struct job {
    enum job_kind kind;
    uint32_t round;
    const uint64_t *pfns;       /* JOB_PAGES: the control thread's, valid
                                 * until the workers are idle */
    uint32_t count;
};

struct worker {
    struct pages *p;
    unsigned index;
    struct mig_chan *chan;      /* stream 0 is s->main (not owned) */
    struct xt_ctx *ctx;
    struct hv_handle *h;        /* this thread's view */
    pthread_t thread;
    bool started;
    /* queue, guarded by p->qlock */
    struct job q[QUEUE_MAX];
    unsigned head, len;
    bool busy;
    /* the thread's own */
    uint64_t round_pages;       /* sent in the current round */
    struct mig_buf meta, raw, packed;
};

struct pages {
    struct mig_sender *s;
    struct worker w[MIG_MAX_STREAMS];
    pthread_mutex_t qlock;
    pthread_cond_t qcv;
    bool quit;
    bool final;                 /* the last round: the source is paused */
    uint64_t *deferred;         /* bitmap, under qlock */
    uint64_t *bm;               /* the control thread's */
    uint64_t *pfns;
    uint64_t npfns;             /* in pfns: this round's */
    uint32_t round;             /* the round being sent */
    uint64_t zero_hash;         /* of a zero page */
    bool logdirty;
    unsigned throttle;
    struct mig_meter meter;
};

static struct pages *P(struct mig_sender *s)
{
    return s->xfer_priv;
}

/* ---- workers ----------------------------------------------------------- */

/* The pages of j that could not be mapped: deferred, or, paused, fatal. */
static int defer(struct worker *w, const struct job *j, void *const *pages)
{
    struct pages *p = w->p;
    uint32_t i, n = 0;

    for (i = 0; i < j->count; i++)
        if (!pages[i]) {
            if (p->final)
                return xt_error(w->ctx, -EFAULT, "page %#llx of domain %u "
                                "cannot be mapped with the source paused",
                                (unsigned long long)j->pfns[i],
                                p->s->domid);
            n++;
        }
    pthread_mutex_lock(&p->qlock);
    for (i = 0; i < j->count; i++)
        if (!pages[i])
            xt_bitmap_set(p->deferred, j->pfns[i]);
    pthread_mutex_unlock(&p->qlock);
    pthread_mutex_lock(&p->s->lock);
    p->s->pages_deferred += n;
    pthread_mutex_unlock(&p->s->lock);
    return 0;
}

static const uint8_t zero_page[MIG_PAGE_SIZE];

static bool page_is_zero(const void *page)
{
    return memcmp(page, zero_page, MIG_PAGE_SIZE) == 0;
}

/* What one batch holds, once typed. */
struct batch {
    uint64_t pfns[SEND_BATCH];
    uint8_t types[SEND_BATCH];
    uint64_t hashes[SEND_BATCH];
    struct iovec iov[SEND_BATCH + 2];
    uint32_t count, nonzero, skipped;
};

/* Whether a page is zero, and its hash when hashing (one pass over the
 * page: its hash equals the zero page's only if it is zero, or on a
 * collision, which the comparison then rules out). */
static bool zero_or_hash(const void *page, bool hash, uint64_t zero_hash,
                         uint64_t *hash_r)
{
    if (!hash)
        return page_is_zero(page);
    *hash_r = mig_page_hash(page);
    return *hash_r == zero_hash && page_is_zero(page);
}

/* Types the mapped pages of j: zero pages as ZERO (round 0 of a zeroed
 * destination: not at all), the others NORMAL with their hash. */
static void type_pages(struct worker *w, const struct job *j,
                       void *const *pages, struct batch *b)
{
    const struct mig_send_opts *o = w->p->s->o;
    bool skip_zero = j->round == 0 && !hv_is_sparse(w->h);
    uint64_t h = 0;
    uint32_t i;

    b->count = b->nonzero = b->skipped = 0;
    for (i = 0; i < j->count; i++) {
        if (!pages[i])
            continue;       /* deferred */
        if (zero_or_hash(pages[i], o->checksum, w->p->zero_hash, &h)) {
            if (skip_zero) {
                b->skipped++;
                continue;
            }
            b->types[b->count] = MIG_PAGE_ZERO;
        } else {
            b->types[b->count] = MIG_PAGE_NORMAL;
            b->hashes[b->nonzero] = h;
            b->iov[1 + b->nonzero].iov_base = pages[i];
            b->iov[1 + b->nonzero].iov_len = MIG_PAGE_SIZE;
            b->nonzero++;
        }
        b->pfns[b->count++] = j->pfns[i];
    }
}

/* Compression: the non-zero pages packed (copied once), hashed from that
 * copy, compressed; raw when that does not shrink them.  *payload_len_r
 * and b->iov[1] describe what goes out. */
static int pack(struct worker *w, struct batch *b, enum mig_compress *c_r,
                uint32_t *payload_len_r)
{
    const struct mig_send_opts *o = w->p->s->o;
    size_t raw_len = (size_t)b->nonzero * MIG_PAGE_SIZE, clen = 0;
    uint32_t i;
    int rc;

    w->raw.len = 0;
    rc = mig_buf_reserve(&w->raw, raw_len);
    if (rc < 0)
        return xt_error(w->ctx, rc, "stream %u: packing %u pages", w->index,
                        b->nonzero);
    for (i = 0; i < b->nonzero; i++) {
        memcpy(w->raw.data + (size_t)i * MIG_PAGE_SIZE, b->iov[1 + i].iov_base,
               MIG_PAGE_SIZE);
        if (o->checksum)
            b->hashes[i] = mig_page_hash(w->raw.data +
                                         (size_t)i * MIG_PAGE_SIZE);
    }
    rc = mig_batch_deflate(w->ctx, (enum mig_compress)o->compression,
                           o->level, w->raw.data, raw_len, &w->packed, &clen);
    if (rc < 0)
        return rc;
    *c_r = clen ? (enum mig_compress)o->compression : MIG_COMPRESS_NONE;
    for (i = 0; clen && i < b->count; i++)
        if (b->types[i] == MIG_PAGE_NORMAL)
            b->types[i] = MIG_PAGE_COMPRESSED;
    b->iov[1].iov_base = clen ? w->packed.data : w->raw.data;
    b->iov[1].iov_len = clen ? clen : raw_len;
    *payload_len_r = (uint32_t)b->iov[1].iov_len;
    pthread_mutex_lock(&w->p->s->lock);
    w->p->s->raw_bytes += raw_len;
    w->p->s->wire_payload += b->iov[1].iov_len;
    if (clen)
        w->p->s->pages_compressed += b->nonzero;
    else
        w->p->s->pages_normal += b->nonzero;
    pthread_mutex_unlock(&w->p->s->lock);
    return 0;
}

/* Sends the typed batch: its arrays, then the pages where they are. */
static int send_typed(struct worker *w, struct batch *b, uint32_t round)
{
    static const uint8_t zero_pad[8];
    const struct mig_send_opts *o = w->p->s->o;
    enum mig_compress c = MIG_COMPRESS_NONE;
    uint32_t payload_len = b->nonzero * MIG_PAGE_SIZE;
    int niov = 1 + (int)b->nonzero, rc;
    size_t pad;

    if (o->compression != MIG_COMP_NONE && b->nonzero) {
        rc = pack(w, b, &c, &payload_len);
        if (rc < 0)
            return rc;
        niov = 2;
    } else {
        pthread_mutex_lock(&w->p->s->lock);
        w->p->s->pages_normal += b->nonzero;
        w->p->s->raw_bytes += payload_len;
        w->p->s->wire_payload += payload_len;
        pthread_mutex_unlock(&w->p->s->lock);
    }
    /* Fault injection: a hash that the page does not have. */
    if (o->checksum && b->nonzero &&
        xt_fault(w->ctx, "mig.send.batch") == XT_FAULT_CORRUPT)
        b->hashes[0] ^= 0x5a;
    w->meta.len = 0;
    rc = mig_batch_meta_append(&w->meta, round, b->pfns, b->types, b->count,
                               o->checksum ? b->hashes : NULL, b->nonzero, c,
                               payload_len);
    if (rc < 0)
        return xt_error(w->ctx, rc, "stream %u: a batch of %u pages",
                        w->index, b->count);
    b->iov[0].iov_base = w->meta.data;
    b->iov[0].iov_len = w->meta.len;
    pad = mig_rec_pad(w->meta.len - sizeof(struct mig_rec_hdr) +
                      payload_len);
    if (pad) {
        b->iov[niov].iov_base = (void *)zero_pad;
        b->iov[niov++].iov_len = pad;
    }
    mig_send_limit(w->p->s, w->meta.len + payload_len + pad);
    rc = mig_chan_writev(w->chan, b->iov, niov);
    if (rc < 0)
        return xt_error(w->ctx, rc, "stream %u: sending a page batch to %s",
                        w->index, mig_chan_peer(w->chan));
    mig_send_count(w->p->s, w->meta.len + payload_len + pad);
    return 0;
}

/* Round 0 sends every page once and takes most of the time: a report
 * every ROUND0_REPORT_NS of how far it got, so that a progress bar moves
 * (its pages_sent share of the first 90%, pages_precopy says the rest).
 * Caller holds s->lock; true with *prog the report to post. */
#define ROUND0_REPORT_NS (200 * 1000 * 1000ull)
#define ROUND0_SHARE     90.0

static bool round0_progress(struct mig_sender *s, struct mig_progress *prog)
{
    uint64_t now = xt_now_ns(), sent = s->prog.pages_sent;

    if (now - s->round0_posted_ns < ROUND0_REPORT_NS || !s->nr_pages)
        return false;
    s->round0_posted_ns = now;
    *prog = s->prog;
    prog->bytes_sent = s->bytes;
    prog->percent = ROUND0_SHARE *
                    (double)(sent < s->nr_pages ? sent : s->nr_pages) /
                    (double)s->nr_pages;
    return true;
}

/* One batch of pages: map, type, send, unmap (after the send: the pages
 * go out of the mapping). */
static int send_pages(struct worker *w, const struct job *j)
{
    struct mig_sender *s = w->p->s;
    struct mig_progress prog;
    bool post;
    void *pages[SEND_BATCH];
    struct hv_mapping *m = NULL;
    struct batch *b = NULL;
    int rc;

    b = malloc(sizeof(*b));
    if (!b)
        return xt_error(w->ctx, -ENOMEM, "stream %u: a batch", w->index);
    rc = hv_map_batch(w->h, s->domid, HV_MAP_READ, j->pfns, j->count, pages,
                      &m);
    if (rc == -EFAULT)      /* which pages, is ours to say (hv.h) */
        rc = defer(w, j, pages);
    if (rc < 0)
        goto out;
    type_pages(w, j, pages, b);
    if (b->count)
        rc = send_typed(w, b, j->round);
    if (rc < 0)
        goto out;
    pthread_mutex_lock(&s->lock);
    s->pages_zero += b->count - b->nonzero + b->skipped;
    s->prog.pages_sent += j->count;
    post = j->round == 0 && round0_progress(s, &prog);
    pthread_mutex_unlock(&s->lock);
    if (post)
        mig_reporter_post(&s->rep, &prog);
    w->round_pages += b->count;     /* what the batches carried */
out:
    hv_unmap(w->h, m);
    free(b);
    return rc;
}

static int send_round_end(struct worker *w, uint32_t round)
{
    struct mig_round_end re = { .round = round, .pages = w->round_pages };

    w->round_pages = 0;
    return mig_send_rec(w->p->s, w->ctx, w->chan, MIG_REC_ROUND_END, 0, &re,
                        sizeof(re));
}

static int run_job(struct worker *w, const struct job *j)
{
    switch (j->kind) {
    case JOB_PAGES:
        return send_pages(w, j);
    case JOB_ROUND_END:
        return send_round_end(w, j->round);
    case JOB_END:
        return mig_send_rec(w->p->s, w->ctx, w->chan, MIG_REC_END, 0, NULL,
                            0);
    }
    return -EINVAL;
}

/* Takes the next job; false when told to quit. */
static bool next_job(struct worker *w, struct job *j)
{
    struct pages *p = w->p;
    bool ok;

    pthread_mutex_lock(&p->qlock);
    while (!w->len && !p->quit) {
        w->busy = false;
        pthread_cond_broadcast(&p->qcv);
        pthread_cond_wait(&p->qcv, &p->qlock);
    }
    ok = !p->quit;
    if (ok) {
        *j = w->q[w->head];
        w->head = (w->head + 1) % QUEUE_MAX;
        w->len--;
        w->busy = true;
    } else {
        w->busy = false;
    }
    pthread_cond_broadcast(&p->qcv);
    pthread_mutex_unlock(&p->qlock);
    return ok;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct job j;
    int rc;

    while (next_job(w, &j)) {
        if (mig_send_failed(w->p->s))
            continue;       /* drain: the control thread stops us */
        rc = run_job(w, &j);
        if (rc < 0) {
            mig_send_fail(w->p->s, w->ctx, rc);
            pthread_mutex_lock(&w->p->qlock);
            pthread_cond_broadcast(&w->p->qcv);
            pthread_mutex_unlock(&w->p->qlock);
        }
    }
    return NULL;
}

/* ---- the control thread's side of the queues --------------------------- */

static void push(struct pages *p, struct worker *w, const struct job *j)
{
    pthread_mutex_lock(&p->qlock);
    while (w->len == QUEUE_MAX && !mig_send_failed(p->s))
        pthread_cond_wait(&p->qcv, &p->qlock);
    if (w->len < QUEUE_MAX) {
        w->q[(w->head + w->len) % QUEUE_MAX] = *j;
        w->len++;
        w->busy = true;
        pthread_cond_broadcast(&p->qcv);
    }
    pthread_mutex_unlock(&p->qlock);
}

/* Waits until every worker has drained its queue: 0 or the failure. */
static int wait_idle(struct pages *p)
{
    struct mig_sender *s = p->s;
    unsigned i;
    bool idle;
    int rc;

    pthread_mutex_lock(&p->qlock);
    for (;;) {
        idle = true;
        for (i = 0; i < s->nstreams; i++)
            idle &= !p->w[i].len && !p->w[i].busy;
        if (idle || mig_send_failed(s))
            break;
        pthread_cond_wait(&p->qcv, &p->qlock);
    }
    pthread_mutex_unlock(&p->qlock);
    pthread_mutex_lock(&s->lock);
    rc = !s->failed ? 0 : s->err.rc ? s->err.rc : -EIO;
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* Queues pfns[0..n) of a round, batch by batch, on the streams in turn
 * from *k (left where the next batch goes).  pfns must stay valid until
 * the workers are idle. */
static int push_pages(struct pages *p, uint32_t round, const uint64_t *pfns,
                      uint64_t n, unsigned *k)
{
    struct mig_sender *s = p->s;
    uint64_t off;

    for (off = 0; off < n && !mig_send_failed(s); off += SEND_BATCH) {
        struct job j = {
            .kind = JOB_PAGES,
            .round = round,
            .pfns = pfns + off,
            .count = (uint32_t)(n - off < SEND_BATCH ? n - off : SEND_BATCH),
        };

        push(p, &p->w[*k], &j);
        *k = (*k + 1) % s->nstreams;
        if (!p->final && mig_send_cancelled(s))
            return mig_send_fail(s, s->ctx, xt_error(s->ctx, -ECANCELED,
                                 "migration cancelled"));
        if ((off / SEND_BATCH) % 256 == 255)
            mig_send_report(s);
    }
    return 0;
}

/* ROUND_END on each stream; returns once the round is on the wire. */
static int end_round(struct pages *p, uint32_t round)
{
    unsigned i;

    for (i = 0; i < p->s->nstreams; i++) {
        struct job j = { .kind = JOB_ROUND_END, .round = round };

        push(p, &p->w[i], &j);
    }
    return wait_idle(p);
}

/* Sends pfns[0..n) as one round over all streams. */
static int send_round(struct pages *p, uint32_t round, const uint64_t *pfns,
                      uint64_t n)
{
    unsigned k = 0;
    int rc;

    p->round = round;
    rc = push_pages(p, round, pfns, n, &k);
    return rc < 0 ? rc : end_round(p, round);
}

static int start_workers(struct pages *p)
{
    struct mig_sender *s = p->s;
    unsigned i;
    int rc, e;

    for (i = 0; i < s->nstreams; i++) {
        struct worker *w = &p->w[i];

        w->p = p;
        w->index = i;
        w->ctx = mig_thread_ctx(s->ctx, "mig-send");
        if (!w->ctx)
            return xt_error(s->ctx, -ENOMEM, "stream context");
        rc = hv_view(s->h, w->ctx, &w->h);
        if (rc == 0 && i == 0)
            w->chan = s->main;
        else if (rc == 0)
            rc = mig_send_open_stream(s, w->ctx, i, &w->chan);
        if (rc < 0)
            return mig_send_fail(s, w->ctx, rc);
        e = pthread_create(&w->thread, NULL, worker_main, w);
        if (e)
            return xt_error(s->ctx, -e, "starting stream %u", i);
        w->started = true;
    }
    return 0;
}

static void stop_workers(struct pages *p)
{
    struct mig_sender *s = p->s;
    unsigned i;

    pthread_mutex_lock(&p->qlock);
    p->quit = true;
    pthread_cond_broadcast(&p->qcv);
    pthread_mutex_unlock(&p->qlock);
    for (i = 0; i < s->nstreams; i++) {
        struct worker *w = &p->w[i];

        /* A worker blocked on a dead peer is woken by the shutdown. */
        if (w->started && mig_send_failed(s))
            mig_chan_abort(w->chan);
        if (w->started)
            pthread_join(w->thread, NULL);
        w->started = false;
        if (i > 0)
            mig_chan_close(w->chan);
        w->chan = NULL;
        hv_close(w->h);
        w->h = NULL;
        mig_buf_free(&w->meta);
        mig_buf_free(&w->raw);
        mig_buf_free(&w->packed);
        xt_ctx_free(w->ctx);
        w->ctx = NULL;
    }
}

/* ---- pre-copy ---------------------------------------------------------- */

/* The dirty set since the last harvest into p->pfns. */
static int harvest(struct pages *p)
{
    struct mig_sender *s = p->s;
    uint64_t dirty = 0, q, n = 0;
    int rc;

    rc = hv_dirty_harvest(s->h, s->domid, p->bm, s->nr_pages, &dirty);
    if (rc < 0)
        return rc;
    for (q = xt_bitmap_find_next(p->bm, s->nr_pages, 0); q < s->nr_pages;
         q = xt_bitmap_find_next(p->bm, s->nr_pages, q + 1))
        p->pfns[n++] = q;
    p->npfns = n;
    return 0;
}

/*
 * Round 0: every page that may hold data.  Pages the hypervisor says were
 * never written read as zero and are not even touched (reading them would
 * allocate them; a sparse destination has them as holes too).  The pfn
 * space is probed a range at a time, each range's pages queued before the
 * next is probed: the first batch leaves at once however large the space
 * (a PVH guest's spans 4 GiB of mostly holes), and the probing overlaps
 * the sending.
 */
static int send_round0(struct pages *p)
{
    struct mig_sender *s = p->s;
    uint64_t chunk = s->o->probe_pages ? s->o->probe_pages
                                       : MIG_DEFAULT_PROBE_PAGES;
    uint64_t base, q, start, populated;
    unsigned k = 0;
    int rc = 0;

    p->round = 0;
    p->npfns = 0;
    if (!hv_has(s->h, HV_CAP_POPULATED)) {
        for (q = 0; q < s->nr_pages; q++)
            p->pfns[q] = q;
        p->npfns = s->nr_pages;
        return send_round(p, 0, p->pfns, p->npfns);
    }
    for (base = 0; base < s->nr_pages && rc == 0 && !mig_send_failed(s);
         base += chunk) {
        uint64_t n = s->nr_pages - base < chunk ? s->nr_pages - base : chunk;
        uint64_t t = xt_now_ns();

        rc = hv_populated(s->h, s->domid, base, n, p->bm, &populated);
        if (rc < 0)
            return rc;
        xt_debug(s->ctx, "round 0: pfns %#llx+%llu: %llu pages (probed in "
                 "%.1f ms)", (unsigned long long)base, (unsigned long long)n,
                 (unsigned long long)populated, (xt_now_ns() - t) / 1e6);
        start = p->npfns;
        for (q = xt_bitmap_find_next(p->bm, n, 0); q < n;
             q = xt_bitmap_find_next(p->bm, n, q + 1))
            p->pfns[p->npfns++] = base + q;
        rc = push_pages(p, 0, p->pfns + start, p->npfns - start, &k);
    }
    pthread_mutex_lock(&s->lock);
    s->pages_zero += s->nr_pages - p->npfns;
    pthread_mutex_unlock(&s->lock);
    return rc < 0 ? rc : end_round(p, 0);
}

/* Before the receiver has taken the VM (its domain build overlaps this):
 * the bitmaps, log-dirty on, a clean start. */
static int pages_prepare(struct mig_sender *s)
{
    struct pages *p = calloc(1, sizeof(*p));
    uint64_t dirty = 0;
    int rc;

    if (!p)
        return xt_error(s->ctx, -ENOMEM, "page mode");
    s->xfer_priv = p;
    p->s = s;
    p->zero_hash = mig_page_hash(zero_page);
    pthread_mutex_init(&p->qlock, NULL);
    pthread_cond_init(&p->qcv, NULL);
    p->bm = xt_bitmap_alloc(s->nr_pages);
    p->deferred = xt_bitmap_alloc(s->nr_pages);
    p->pfns = malloc(s->nr_pages * sizeof(*p->pfns));
    if (!p->bm || !p->deferred || !p->pfns)
        return xt_error(s->ctx, -ENOMEM, "bitmaps for %llu pages",
                        (unsigned long long)s->nr_pages);
    if (!hv_has(s->h, HV_CAP_POPULATED) && hv_is_sparse(s->h))
        return xt_error(s->ctx, -ENOTSUP, "the %s driver is sparse but "
                        "cannot say which pages exist", hv_name(s->h));
    rc = hv_logdirty(s->h, s->domid, true);
    if (rc < 0)
        return rc;
    p->logdirty = true;
    /* Start clean: what is written from here on is in a later harvest. */
    return hv_dirty_harvest(s->h, s->domid, p->bm, s->nr_pages, &dirty);
}

/* Applies the policy's throttle, where the driver can. */
static int apply_throttle(struct pages *p, unsigned pct)
{
    struct mig_sender *s = p->s;
    int rc;

    if (pct == p->throttle || !hv_has(s->h, HV_CAP_THROTTLE))
        return 0;
    rc = hv_throttle(s->h, s->domid, pct);
    if (rc < 0)
        return rc;
    p->throttle = pct;
    s->prog.throttle_pct = pct;
    if (pct > s->st->throttle_pct)
        s->st->throttle_pct = pct;
    return 0;
}

/* After a round: harvest, ask the policy; *stop_r: stop-and-copy now. */
static int next_round(struct pages *p, uint32_t round, bool *stop_r)
{
    struct mig_sender *s = p->s;
    struct mig_round_info ri;
    struct mig_decision dec;
    uint64_t sent;
    int rc;

    rc = harvest(p);
    if (rc == 0)
        rc = mig_fault(s->ctx, "mig.send.precopy", &s->main, 1);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&s->lock);
    sent = s->prog.pages_sent;
    pthread_mutex_unlock(&s->lock);
    mig_meter_round(&p->meter, round, p->npfns, sent, xt_now_ns(),
                    p->throttle, &ri);
    memset(&dec, 0, sizeof(dec));
    (s->o->policy ? s->o->policy : mig_policy_default)(s->o, &ri, &dec);
    s->prog.round = round;
    s->prog.remaining_pages = p->npfns;
    s->prog.dirty_pages_s = ri.dirty_pages_s;
    s->prog.bandwidth_bytes_s = ri.bandwidth_bytes_s;
    s->prog.eta_ms = dec.expected_downtime_ns / 1000000;
    s->prog.percent = ROUND0_SHARE + (100.0 - ROUND0_SHARE) *
                      (1.0 - (double)p->npfns / (double)s->nr_pages);
    s->st->final_dirty_pages_s = ri.dirty_pages_s;
    mig_send_report(s);
    *stop_r = dec.stop_and_copy;
    if (dec.stop_and_copy) {
        s->st->forced_stop = dec.forced;
        return 0;
    }
    return apply_throttle(p, dec.throttle_pct);
}

static int pages_precopy(struct mig_sender *s)
{
    struct pages *p = P(s);
    uint64_t t0;
    uint32_t round;
    bool stop = false;
    int rc;

    rc = start_workers(p);
    if (rc < 0)
        return rc;
    s->prog.phase = MIG_PHASE_PRECOPY;
    t0 = xt_now_ns();
    rc = send_round0(p);
    mig_meter_init(&p->meter, s->t_start, t0, p->npfns);
    for (round = 1; rc == 0; round++) {
        rc = next_round(p, round, &stop);
        if (rc < 0 || stop)
            break;
        rc = send_round(p, round, p->pfns, p->npfns);
    }
    p->round = round;
    return rc;
}

/* ---- stop-and-copy ----------------------------------------------------- */

/* Waits until the receiver has applied round `round` everywhere, so that
 * the pause that follows is not spent waiting for it to work through what
 * is still in the socket buffers. */
static int wait_round_ack(struct mig_sender *s, uint32_t round)
{
    struct mig_round_end ack;
    int rc;

    do {
        rc = mig_expect(s->ctx, &s->rd, MIG_REC_ROUND_ACK, &ack, sizeof(ack),
                        NULL);
        if (rc < 0)
            return rc;
    } while (ack.round < round);
    return 0;
}

/* The final set, the source paused: what was harvested but not sent (the
 * last pre-copy harvest), what it dirtied since, what was deferred. */
static int final_set(struct pages *p)
{
    struct mig_sender *s = p->s;
    uint64_t *all = xt_bitmap_alloc(s->nr_pages), dirty = 0, q, n = 0;
    int rc;

    if (!all)
        return xt_error(s->ctx, -ENOMEM, "final bitmap");
    for (q = 0; q < p->npfns; q++)
        xt_bitmap_set(all, p->pfns[q]);
    rc = hv_dirty_harvest(s->h, s->domid, p->bm, s->nr_pages, &dirty);
    if (rc == 0) {
        xt_bitmap_or(all, p->bm, s->nr_pages);
        xt_bitmap_or(all, p->deferred, s->nr_pages);
        for (q = xt_bitmap_find_next(all, s->nr_pages, 0); q < s->nr_pages;
             q = xt_bitmap_find_next(all, s->nr_pages, q + 1))
            p->pfns[n++] = q;
        p->npfns = n;
    }
    free(all);
    return rc;
}

/* The state record, then END on every stream (the extra ones first). */
static int send_state_and_end(struct pages *p)
{
    struct mig_sender *s = p->s;
    void *blob = NULL;
    size_t len = 0;
    unsigned i;
    int rc;

    rc = hv_state_save(s->h, s->domid, &blob, &len);
    if (rc == 0)
        rc = mig_send_rec(s, s->ctx, s->main, MIG_REC_STATE, 0, blob, len);
    free(blob);
    if (rc < 0)
        return rc;
    for (i = 1; i < s->nstreams; i++) {
        struct job j = { .kind = JOB_END };

        push(p, &p->w[i], &j);
    }
    rc = wait_idle(p);
    if (rc == 0)
        rc = mig_send_rec(s, s->ctx, s->main, MIG_REC_END, 0, NULL, 0);
    return rc;
}

static int pages_stopcopy(struct mig_sender *s)
{
    struct pages *p = P(s);
    uint64_t t;
    int rc;

    rc = wait_idle(p);
    if (rc == 0)
        rc = wait_round_ack(s, p->round - 1);
    if (rc == 0)
        rc = mig_send_rec(s, s->ctx, s->main, MIG_REC_STOPCOPY,
                          MIG_REC_OPTIONAL, NULL, 0);
    if (rc < 0)
        return rc;
    t = xt_now_ns();
    rc = hv_suspend(s->h, s->domid);
    if (rc < 0)
        return rc;
    mig_send_paused(s, t);
    p->final = true;
    rc = mig_fault(s->ctx, "mig.send.paused", &s->main, 1);
    if (rc == 0)
        rc = final_set(p);
    xt_debug(s->ctx, "stop-and-copy: paused and harvested at +%.3f ms, %llu "
             "pages", (xt_now_ns() - s->t_pause) / 1e6,
             (unsigned long long)p->npfns);
    if (rc == 0)
        rc = send_round(p, p->round, p->pfns, p->npfns);
    if (rc < 0)
        return rc;
    s->st->rounds = p->round + 1;
    xt_debug(s->ctx, "stop-and-copy: pages sent at +%.3f ms",
             (xt_now_ns() - s->t_pause) / 1e6);
    rc = send_state_and_end(p);
    xt_debug(s->ctx, "stop-and-copy: state and end sent at +%.3f ms",
             (xt_now_ns() - s->t_pause) / 1e6);
    return rc;
}

/* ---- after a failure, the digest, the end ------------------------------ */

/* What we turned on, we turn off: the source runs on as it was. */
static void undo_source(struct pages *p)
{
    struct mig_sender *s = p->s;

    if (p->throttle && hv_throttle(s->h, s->domid, 0) == 0)
        p->throttle = 0;
    if (p->logdirty && hv_logdirty(s->h, s->domid, false) == 0)
        p->logdirty = false;
}

static void pages_abort(struct mig_sender *s)
{
    struct pages *p = P(s);

    if (!p)
        return;
    stop_workers(p);
    undo_source(p);
}

/* Memory digest of the (paused) source.  Never-written pages hash as zero
 * pages without being touched; holes hash as the destination has them. */
static int pages_digest(struct mig_sender *s, uint64_t *digest_r)
{
    uint64_t *hashes = malloc(s->nr_pages * sizeof(*hashes));
    uint64_t *pop = xt_bitmap_alloc(s->nr_pages);
    uint64_t pfns[MIG_BATCH_MAX], q, i, zh = mig_page_hash(zero_page), count;
    void *pages[MIG_BATCH_MAX];
    int rc = 0;

    if (!hashes || !pop) {
        rc = xt_error(s->ctx, -ENOMEM, "digest");
        goto out;
    }
    if (hv_has(s->h, HV_CAP_POPULATED))
        rc = hv_populated(s->h, s->domid, 0, s->nr_pages, pop, &count);
    else
        xt_bitmap_fill(pop, s->nr_pages);
    for (q = 0; q < s->nr_pages && rc == 0; ) {
        struct hv_mapping *m = NULL;
        uint64_t n = 0;

        for (; q < s->nr_pages && n < MIG_BATCH_MAX; q++) {
            if (xt_bitmap_test(pop, q))
                pfns[n++] = q;
            else
                hashes[q] = zh;
        }
        if (!n)
            continue;
        rc = hv_map_batch(s->h, s->domid, HV_MAP_READ, pfns, n, pages, &m);
        if (rc == -EFAULT && hv_is_sparse(s->h))
            rc = 0;     /* a hole: zero, as the destination has it */
        else if (rc == -EFAULT)
            rc = xt_error(s->ctx, rc, "digest: pages of domain %u cannot "
                          "be mapped", s->domid);
        for (i = 0; rc == 0 && i < n; i++)
            hashes[pfns[i]] = pages[i] ? mig_page_hash(pages[i]) : zh;
        hv_unmap(s->h, m);
    }
    if (rc == 0)
        *digest_r = mig_digest(hashes, s->nr_pages);
out:
    free(pop);
    free(hashes);
    return rc;
}

static void pages_fini(struct mig_sender *s)
{
    struct pages *p = P(s);

    if (!p)
        return;
    stop_workers(p);
    /* Handed over, the source is gone with what we turned on. */
    if (s->state != MIG_SRC_HANDED_OVER)
        undo_source(p);
    free(p->bm);
    free(p->deferred);
    free(p->pfns);
    pthread_cond_destroy(&p->qcv);
    pthread_mutex_destroy(&p->qlock);
    free(p);
    s->xfer_priv = NULL;
}

const struct mig_xfer_ops mig_pages_send_ops = {
    .name = "pages",
    .prepare = pages_prepare,
    .precopy = pages_precopy,
    .stopcopy = pages_stopcopy,
    .abort = pages_abort,
    .digest = pages_digest,
    .fini = pages_fini,
};
