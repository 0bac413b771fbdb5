/*
 * mig_recv_pages.c - the page mode of the receiver (mig_internal.h, struct
 * mig_rxfer_ops): the domain built empty, every stream's batches applied
 * with a barrier at each round end (docs/specs section 10), the state
 * restored, END.
 *
 * A version 3 batch's arrays are read and checked first; then its pages
 * are read from the connection straight into the mapped guest pages and
 * hashed there, in the same pass that the memory digest needs.  A page
 * whose hash differs from the sender's changed while it was sent: it is
 * noted torn and must come again in a later round (the sender sends every
 * page dirtied after it read it); one still torn at the end fails the
 * migration.  Version 1 and 2 batches (hosts not upgraded yet) are read
 * whole, checked, and copied.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "mig_internal.h"

#define META_MAX (sizeof(struct mig_batch_hdr) + MIG_BATCH_MAX * 9 + 8)

struct rstream {
    struct rpages *p;
    unsigned index;
    struct mig_chan *chan;      /* stream 0: r->main (not owned) */
    struct mig_reader rd;       /* stream 0: &r->rd's copy, see rs_reader */
    struct xt_ctx *ctx;
    struct hv_handle *h;        /* this thread's view */
    pthread_t thread;
    bool started;
    struct mig_buf scratch, raw;
    uint8_t meta[META_MAX];
    uint64_t hashes[MIG_BATCH_MAX];
    uint64_t round_pages;       /* counted in the current round */
};

struct rpages {
    struct mig_receiver *r;
    struct rstream s[MIG_MAX_STREAMS];
    uint64_t nr_pages;
    uint64_t *hashes;           /* per pfn: XXH3 of what we wrote */
    uint64_t *torn;             /* bitmap, atomic bit operations */
    uint64_t zero_hash;
    /* under r->lock */
    pthread_cond_t cv;
    int64_t done_round[MIG_MAX_STREAMS];
    uint64_t pages;
    bool stopcopy;
    bool have_state;
};

static struct rpages *RP(struct mig_receiver *r)
{
    return r->xfer_priv;
}

/* Stream 0 reads through the receiver's own reader. */
static struct mig_reader *rs_reader(struct rstream *s)
{
    return s->index ? &s->rd : &s->p->r->rd;
}

/* ---- applying pages --------------------------------------------------- */

static void torn_set(struct rpages *p, uint64_t pfn, bool torn)
{
    uint64_t bit = 1ull << (pfn % 64);

    if (torn)
        __atomic_fetch_or(&p->torn[pfn / 64], bit, __ATOMIC_RELAXED);
    else
        __atomic_fetch_and(&p->torn[pfn / 64], ~bit, __ATOMIC_RELAXED);
}

/* Hashes what landed in each page, against the sender's hash. */
static void note_pages(struct rpages *p, const struct mig_batch_meta *m,
                       void *const *pages, const uint64_t *sent)
{
    uint32_t i, k = 0;

    for (i = 0; i < m->count; i++) {
        uint64_t pfn = m->pfns[i], h;

        if (m->types[i] == MIG_PAGE_ZERO) {
            memset(pages[i], 0, MIG_PAGE_SIZE);
            p->hashes[pfn] = p->zero_hash;
            torn_set(p, pfn, false);
            continue;
        }
        h = mig_page_hash(pages[i]);
        p->hashes[pfn] = h;
        torn_set(p, pfn, sent && sent[k] != h);
        k++;
    }
}

/* The payload of a batch into its pages: straight in when raw, through a
 * decompression when not. */
static int read_payload(struct rstream *s, const struct mig_rec_hdr *hdr,
                        uint64_t off, const struct mig_batch_meta *m,
                        void *const *pages)
{
    struct iovec iov[MIG_BATCH_MAX];
    size_t raw_len = (size_t)m->nonzero * MIG_PAGE_SIZE;
    uint32_t i, n = 0;
    int rc;

    if (m->compression == MIG_COMPRESS_NONE) {
        for (i = 0; i < m->count; i++)
            if (m->types[i] != MIG_PAGE_ZERO) {
                iov[n].iov_base = pages[i];
                iov[n++].iov_len = MIG_PAGE_SIZE;
            }
        return n ? mig_read_into(s->ctx, rs_reader(s), iov, (int)n,
                                 "the pages", off) : 0;
    }
    s->scratch.len = s->raw.len = 0;
    rc = mig_buf_reserve(&s->scratch, m->payload_len);
    if (rc == 0)
        rc = mig_buf_reserve(&s->raw, raw_len);
    if (rc < 0)
        return xt_error(s->ctx, rc, "page batch at offset %llu: no memory",
                        (unsigned long long)off);
    iov[0].iov_base = s->scratch.data;
    iov[0].iov_len = m->payload_len;
    rc = mig_read_into(s->ctx, rs_reader(s), iov, 1, "the payload", off);
    if (rc == 0)
        rc = mig_batch_inflate(s->ctx, (enum mig_compress)m->compression,
                               off, s->scratch.data, m->payload_len,
                               s->raw.data, raw_len);
    for (i = 0; rc == 0 && i < m->count; i++)
        if (m->types[i] != MIG_PAGE_ZERO)
            memcpy(pages[i], s->raw.data + (size_t)n++ * MIG_PAGE_SIZE,
                   MIG_PAGE_SIZE);
    (void)hdr;
    return rc;
}

/* The fault points of a batch of this round. */
static int batch_fault(struct rstream *s, uint32_t round)
{
    struct rpages *p = s->p;
    struct mig_chan *all[MIG_MAX_STREAMS];
    const char *point;
    unsigned i;
    bool stopcopy;

    pthread_mutex_lock(&p->r->lock);
    stopcopy = p->stopcopy;
    pthread_mutex_unlock(&p->r->lock);
    point = stopcopy ? "mig.recv.stopcopy" : round == 0 ? "mig.recv.round0"
                                                        : "mig.recv.precopy";
    for (i = 0; i < p->r->nstreams; i++)
        all[i] = p->s[i].chan;
    return mig_fault(s->ctx, point, all, p->r->nstreams);
}

/* A version 3 batch: its arrays checked, then its pages read where they
 * belong. */
static int recv_batch(struct rstream *s, const struct mig_rec_hdr *hdr,
                      uint64_t off)
{
    struct rpages *p = s->p;
    struct mig_reader *rd = rs_reader(s);
    uint64_t boff = off + sizeof(*hdr);
    struct iovec iov = { s->meta, sizeof(struct mig_batch_hdr) };
    struct mig_batch_hdr bh;
    struct mig_batch_meta m = { 0 };
    struct hv_mapping *map = NULL;
    void *pages[MIG_BATCH_MAX];
    size_t size;
    int rc;

    if (hdr->length < sizeof(bh))
        return xt_error(s->ctx, -EINVAL, "page batch at offset %llu: body "
                        "of %llu bytes is shorter than its header",
                        (unsigned long long)off,
                        (unsigned long long)hdr->length);
    rc = mig_read_into(s->ctx, rd, &iov, 1, "the batch header", off);
    if (rc < 0)
        return rc;
    memcpy(&bh, s->meta, sizeof(bh));
    rc = mig_batch_meta_size(s->ctx, &bh, boff, &size);
    if (rc == 0 && size > hdr->length)
        rc = xt_error(s->ctx, -EINVAL, "page batch at offset %llu: body of "
                      "%llu bytes is too short for %u pages",
                      (unsigned long long)off,
                      (unsigned long long)hdr->length, bh.count);
    iov.iov_base = s->meta + sizeof(bh);
    iov.iov_len = size - sizeof(bh);
    if (rc == 0)
        rc = mig_read_into(s->ctx, rd, &iov, 1, "the page arrays", off);
    if (rc == 0)
        rc = mig_batch_meta_decode(s->ctx, s->meta, size, hdr->length, boff,
                                   p->nr_pages, &m);
    iov.iov_base = s->hashes;
    iov.iov_len = m.hashes_len;
    if (rc == 0 && m.hashes_len)
        rc = mig_read_into(s->ctx, rd, &iov, 1, "the page hashes", off);
    if (rc == 0 && (int64_t)m.round != p->done_round[s->index] + 1)
        rc = xt_error(s->ctx, -EPROTO, "page batch at offset %llu: round %u "
                      "on a stream in round %lld", (unsigned long long)off,
                      m.round, (long long)p->done_round[s->index] + 1);
    if (rc == 0)
        rc = batch_fault(s, m.round);
    if (rc == 0)
        rc = hv_map_batch(s->h, p->r->domid, HV_MAP_WRITE, m.pfns, m.count,
                          pages, &map);
    if (rc == -EFAULT)      /* the driver leaves that one to us (hv.h) */
        rc = xt_error(s->ctx, rc, "page batch at offset %llu: pages of "
                      "domain %u could not be mapped for writing",
                      (unsigned long long)off, p->r->domid);
    if (rc == 0)
        rc = read_payload(s, hdr, off, &m, pages);
    if (rc == 0)
        rc = mig_read_rec_pad(s->ctx, rd, hdr, off);
    if (rc == 0)
        note_pages(p, &m, pages, m.hashes_len ? s->hashes : NULL);
    hv_unmap(s->h, map);
    if (rc == 0)
        s->round_pages += m.count;
    return rc;
}

/* A version 1 or 2 batch: read whole, checked (checksum included), then
 * copied into the pages. */
static int recv_old_batch(struct rstream *s, const struct mig_rec_hdr *hdr,
                          uint64_t off)
{
    struct rpages *p = s->p;
    struct mig_reader *rd = rs_reader(s);
    struct hv_mapping *map = NULL;
    struct mig_batch b;
    void *pages[MIG_BATCH_MAX];
    uint32_t i, k = 0;
    int rc;

    rc = mig_read_rec_body(s->ctx, rd, hdr, off);
    if (rc == 0)
        rc = mig_batch_decode(s->ctx, rd->body.data, hdr->length,
                              off + sizeof(*hdr), p->nr_pages, &s->scratch,
                              &b);
    if (rc == 0)
        rc = batch_fault(s, b.round);
    if (rc == 0)
        rc = hv_map_batch(s->h, p->r->domid, HV_MAP_WRITE, b.pfns, b.count,
                          pages, &map);
    if (rc == -EFAULT)
        rc = xt_error(s->ctx, rc, "page batch at offset %llu: pages of "
                      "domain %u could not be mapped for writing",
                      (unsigned long long)off, p->r->domid);
    for (i = 0; rc == 0 && i < b.count; i++) {
        if (b.types[i] == MIG_PAGE_ZERO) {
            memset(pages[i], 0, MIG_PAGE_SIZE);
            p->hashes[b.pfns[i]] = p->zero_hash;
            continue;
        }
        memcpy(pages[i], b.data + (size_t)k * MIG_PAGE_SIZE, MIG_PAGE_SIZE);
        p->hashes[b.pfns[i]] = b.page_hash[k++];
    }
    hv_unmap(s->h, map);
    if (rc == 0)
        s->round_pages += b.count;
    return rc;
}

/* ---- rounds ----------------------------------------------------------- */

/* Records the failure and wakes every stream waiting at a barrier. */
static int wake_all(struct rpages *p, struct xt_ctx *ctx, int rc)
{
    mig_recv_fail(p->r, ctx, rc);
    pthread_mutex_lock(&p->r->lock);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->r->lock);
    return rc;
}

/* Round `round` ended on stream s: wait until every stream got there. */
static int round_barrier(struct rstream *s, uint32_t round)
{
    struct rpages *p = s->p;
    struct mig_receiver *r = p->r;
    unsigned j;
    bool all;

    pthread_mutex_lock(&r->lock);
    p->done_round[s->index] = round;
    p->pages += s->round_pages;
    pthread_cond_broadcast(&p->cv);
    for (;;) {
        all = true;
        for (j = 0; j < r->nstreams; j++)
            all &= p->done_round[j] >= (int64_t)round;
        if (all || r->failed)
            break;
        pthread_cond_wait(&p->cv, &r->lock);
    }
    all = !r->failed;
    pthread_mutex_unlock(&r->lock);
    return all ? 0 : -ECANCELED;
}

static int round_end(struct rstream *s, const struct mig_rec_hdr *hdr,
                     uint64_t off)
{
    struct mig_receiver *r = s->p->r;
    struct mig_reader *rd = rs_reader(s);
    struct mig_round_end re;
    int rc;

    rc = mig_read_rec_body(s->ctx, rd, hdr, off);
    if (rc == 0 && hdr->length != sizeof(re))
        rc = xt_error(s->ctx, -EINVAL, "round end at offset %llu: %llu "
                      "bytes", (unsigned long long)off,
                      (unsigned long long)hdr->length);
    if (rc < 0)
        return rc;
    memcpy(&re, rd->body.data, sizeof(re));
    if ((int64_t)re.round != s->p->done_round[s->index] + 1 ||
        re.pages != s->round_pages)
        return xt_error(s->ctx, -EPROTO, "round end at offset %llu: round "
                        "%u of %llu pages, after round %lld and %llu pages",
                        (unsigned long long)off, re.round,
                        (unsigned long long)re.pages,
                        (long long)s->p->done_round[s->index],
                        (unsigned long long)s->round_pages);
    rc = round_barrier(s, re.round);
    s->round_pages = 0;
    if (rc < 0 || s->index)
        return rc;
    /* Tell the sender this round is in: it waits for that before
     * pausing, so the pause does not include our backlog. */
    pthread_mutex_lock(&r->lock);
    re.pages = s->p->pages;
    pthread_mutex_unlock(&r->lock);
    {
        struct mig_buf ack = { 0 };

        rc = mig_rec_append(&ack, MIG_REC_ROUND_ACK, MIG_REC_OPTIONAL, &re,
                            sizeof(re));
        if (rc == 0)
            rc = mig_chan_write(s->chan, ack.data, ack.len);
        mig_buf_free(&ack);
    }
    if (rc < 0)
        return xt_error(s->ctx, rc, "sending round %u's ack", re.round);
    return 0;
}

/*
 * A record every stream may carry: PAGE_BATCH, ROUND_END, END and unknown
 * optional ones.  Returns 1 when the record is not one of those (the main
 * connection handles it; its body not read yet), 2 on END, 0 when
 * handled, < 0 on error.
 */
static int stream_record(struct rstream *s, const struct mig_rec_hdr *hdr,
                         uint64_t off)
{
    struct mig_receiver *r = s->p->r;

    switch (hdr->type) {
    case MIG_REC_PAGE_BATCH:
        return r->ih.version >= MIG_VERSION_HASHES ? recv_batch(s, hdr, off)
                                                   : recv_old_batch(s, hdr,
                                                                    off);
    case MIG_REC_ROUND_END:
        return round_end(s, hdr, off);
    case MIG_REC_END:
        return hdr->length ? xt_error(s->ctx, -EINVAL, "END at offset %llu "
                                      "has a body",
                                      (unsigned long long)off)
                           : 2;
    default:
        if (!mig_rec_type_known(hdr->type)) {
            /* optional (the header check said so): skipped */
            int rc = mig_read_rec_body(s->ctx, rs_reader(s), hdr, off);

            return rc < 0 ? rc : 0;
        }
        return 1;
    }
}

/* An extra stream: batches and round ends until END. */
static void *stream_main(void *arg)
{
    struct rstream *s = arg;
    struct mig_rec_hdr hdr;
    uint64_t off;
    int rc;

    for (;;) {
        rc = mig_read_rec_hdr(s->ctx, &s->rd, &hdr, &off);
        if (rc == 0)
            rc = stream_record(s, &hdr, off);
        if (rc == 1)
            rc = xt_error(s->ctx, -EPROTO, "%s at offset %llu on data "
                          "stream %u", mig_rec_name(hdr.type),
                          (unsigned long long)off, s->index);
        if (rc < 0 || rc == 2)
            break;
    }
    if (rc < 0 && rc != -ECANCELED)
        wake_all(s->p, s->ctx, rc);
    return NULL;
}

/* ---- the main connection ---------------------------------------------- */

static int main_stopcopy(struct rpages *p)
{
    struct mig_receiver *r = p->r;
    unsigned i;
    struct mig_chan *all[MIG_MAX_STREAMS];

    pthread_mutex_lock(&r->lock);
    p->stopcopy = true;
    pthread_mutex_unlock(&r->lock);
    r->t_stop = xt_now_ns();
    for (i = 0; i < r->nstreams; i++)
        all[i] = p->s[i].chan;
    return mig_fault(r->ctx, "mig.recv.stopcopy", all, r->nstreams);
}

static int main_state(struct rpages *p, const struct mig_rec_hdr *hdr,
                      uint64_t off)
{
    struct mig_receiver *r = p->r;
    int rc;

    if (p->have_state)
        return xt_error(r->ctx, -EPROTO, "second state record at offset "
                        "%llu", (unsigned long long)off);
    rc = mig_read_rec_body(r->ctx, &r->rd, hdr, off);
    if (rc < 0)
        return rc;
    xt_debug(r->ctx, "stop-and-copy: state arrives at +%.3f ms",
             (xt_now_ns() - r->t_stop) / 1e6);
    rc = hv_state_restore(r->h, r->domid, r->rd.body.data, hdr->length);
    if (rc < 0)
        return xt_error(r->ctx, rc, "state record at offset %llu: %s",
                        (unsigned long long)off, r->ctx->err_msg);
    p->have_state = true;
    return 0;
}

/* The main connection's records up to END. */
static int main_loop(struct rpages *p)
{
    struct mig_receiver *r = p->r;
    struct rstream *m = &p->s[0];
    struct mig_rec_hdr hdr;
    uint64_t off;
    int rc;

    for (;;) {
        rc = mig_recv_stopped(r, m->ctx);
        if (rc == 0)
            rc = mig_read_rec_hdr(m->ctx, &r->rd, &hdr, &off);
        if (rc == 0)
            rc = stream_record(m, &hdr, off);
        if (rc < 0)
            return wake_all(p, m->ctx, rc);
        if (rc == 2) {
            if (!p->have_state)
                return xt_error(r->ctx, -EPROTO, "end at offset %llu "
                                "before the state record",
                                (unsigned long long)off);
            return 0;
        }
        if (rc == 0)
            continue;
        switch (hdr.type) {
        case MIG_REC_STOPCOPY:
            rc = mig_read_rec_body(r->ctx, &r->rd, &hdr, off);
            if (rc == 0)
                rc = main_stopcopy(p);
            break;
        case MIG_REC_STATE:
            rc = main_state(p, &hdr, off);
            break;
        case MIG_REC_ABORT:
            rc = mig_read_rec_body(r->ctx, &r->rd, &hdr, off);
            if (rc == 0)
                rc = mig_abort_error(r->ctx, r->rd.body.data, hdr.length,
                                     "the sender");
            break;
        default:
            rc = xt_error(r->ctx, -EPROTO, "unexpected %s at offset %llu",
                          mig_rec_name(hdr.type), (unsigned long long)off);
        }
        if (rc < 0)
            return wake_all(p, r->ctx, rc);
    }
}

/* ---- the mode ----------------------------------------------------------- */

static int create_domain(struct rpages *p)
{
    struct mig_receiver *r = p->r;
    static const uint8_t zero[MIG_PAGE_SIZE];
    uint64_t q;
    int rc;

    p->nr_pages = r->spec.nr_pages;
    p->hashes = malloc(p->nr_pages * sizeof(*p->hashes));
    p->torn = xt_bitmap_alloc(p->nr_pages);
    if (!p->hashes || !p->torn)
        return xt_error(r->ctx, -ENOMEM, "digest of %llu pages",
                        (unsigned long long)p->nr_pages);
    p->zero_hash = mig_page_hash(zero);
    for (q = 0; q < p->nr_pages; q++)
        p->hashes[q] = p->zero_hash;
    rc = hv_create(r->h, &r->spec, &r->domid);
    if (rc < 0)
        return rc;
    r->have_domain = true;
    mig_recv_set_state(r, MIG_DST_RECEIVING);
    xt_info(r->ctx, "receiving VM '%s' (%llu MiB, %u vCPUs) into domain %u",
            r->spec.name ? r->spec.name : "",
            (unsigned long long)(p->nr_pages >> 8), r->spec.nr_vcpus,
            r->domid);
    return 0;
}

static int stream_init(struct rpages *p, unsigned i)
{
    struct mig_receiver *r = p->r;
    struct rstream *s = &p->s[i];

    s->p = p;
    s->index = i;
    s->ctx = mig_thread_ctx(r->ctx, "mig-recv");
    if (!s->ctx)
        return xt_error(r->ctx, -ENOMEM, "stream context");
    return hv_view(r->h, s->ctx, &s->h);
}

/* Every extra stream connected (in any order), each on its thread. */
static int start_streams(struct rpages *p)
{
    struct mig_receiver *r = p->r;
    unsigned i, got;
    int rc, e;

    for (i = 0; i < r->nstreams; i++) {
        rc = stream_init(p, i);
        if (rc < 0)
            return rc;
    }
    p->s[0].chan = r->main;
    for (got = 1; got < r->nstreams; got++) {
        struct mig_stream_hello hello;
        struct mig_reader rd;
        struct mig_chan *c;

        rc = mig_recv_accept_stream(r, &hello, &c, &rd);
        if (rc < 0)
            return rc;
        if (p->s[hello.index].chan) {
            xt_warn(r->ctx, "dropped a second stream %u", hello.index);
            mig_chan_close(c);
            mig_buf_free(&rd.body);
            got--;
            continue;
        }
        p->s[hello.index].chan = c;
        p->s[hello.index].rd = rd;
    }
    for (i = 1; i < r->nstreams; i++) {
        e = pthread_create(&p->s[i].thread, NULL, stream_main, &p->s[i]);
        if (e)
            return xt_error(r->ctx, -e, "starting stream %u", i);
        p->s[i].started = true;
    }
    return 0;
}

static void stop_streams(struct rpages *p, bool abort)
{
    unsigned i;

    for (i = 1; i < p->r->nstreams; i++) {
        struct rstream *s = &p->s[i];

        if (!s->started)
            continue;
        if (abort)
            mig_chan_abort(s->chan);
        pthread_join(s->thread, NULL);
        s->started = false;
    }
}

/* Every page that came torn came again, intact. */
static int check_torn(struct rpages *p)
{
    uint64_t n = xt_bitmap_popcount(p->torn, p->nr_pages);

    p->r->st->pages_torn = n;
    if (!n)
        return 0;
    return xt_error(p->r->ctx, -EBADMSG, "%llu pages arrived unlike the "
                    "sender's hash and were not sent again (the first: "
                    "pfn %#llx): corrupt data", (unsigned long long)n,
                    (unsigned long long)xt_bitmap_find_next(p->torn,
                                                            p->nr_pages, 0));
}

static int pages_receive(struct mig_receiver *r)
{
    struct rpages *p = calloc(1, sizeof(*p));
    unsigned i;
    int rc;

    if (!p)
        return xt_error(r->ctx, -ENOMEM, "page mode");
    r->xfer_priv = p;
    p->r = r;
    pthread_cond_init(&p->cv, NULL);
    for (i = 0; i < MIG_MAX_STREAMS; i++)
        p->done_round[i] = -1;
    rc = create_domain(p);
    if (rc == 0)
        rc = mig_recv_accepted(r);
    if (rc == 0)
        rc = start_streams(p);
    if (rc == 0)
        rc = main_loop(p);
    if (rc < 0)
        wake_all(p, r->ctx, rc);
    stop_streams(p, rc < 0);
    if (rc == 0 && mig_recv_failed(r))
        rc = r->err.rc;
    if (rc == 0)
        rc = check_torn(p);
    if (rc < 0)
        return rc;
    r->digest = mig_digest(p->hashes, p->nr_pages);
    r->st->pages_sent = p->pages;
    r->st->nstreams = r->nstreams;
    return 0;
}

static void pages_abort(struct mig_receiver *r)
{
    struct rpages *p = RP(r);

    if (p)
        stop_streams(p, true);
}

static void pages_fini(struct mig_receiver *r)
{
    struct rpages *p = RP(r);
    unsigned i;

    if (!p)
        return;
    stop_streams(p, true);
    for (i = 0; i < MIG_MAX_STREAMS; i++) {
        struct rstream *s = &p->s[i];

        if (i > 0)
            mig_chan_close(s->chan);
        mig_buf_free(&s->rd.body);
        mig_buf_free(&s->scratch);
        mig_buf_free(&s->raw);
        hv_close(s->h);
        xt_ctx_free(s->ctx);
    }
    free(p->hashes);
    free(p->torn);
    pthread_cond_destroy(&p->cv);
    free(p);
    r->xfer_priv = NULL;
}

const struct mig_rxfer_ops mig_pages_recv_ops = {
    .name = "pages",
    .receive = pages_receive,
    .abort = pages_abort,
    .fini = pages_fini,
};
