/*
 * mig_recv.c - the receiving side: validate every record before it
 * touches guest memory, build the domain through hv, apply pages from
 * every stream with a barrier at each round end, restore the state, and
 * resume only on COMMIT (docs/specs/migration-stream.md).
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mig.h"
#include "mig_internal.h"
#include "mig_net.h"
#include "mig_opaque.h"
#include "mig_stream.h"

/* How long to wait for the resumed guest's first heartbeat (a loaded host
 * may take a while to schedule it); the pause is measured either way. */
#define FIRST_HB_WAIT_MS    3000

struct rstream {
    struct receiver *r;
    unsigned index;
    struct mig_reader rd;
    struct xt_ctx *ctx;         /* its own error slot */
    pthread_t thread;
    bool started;
    struct mig_buf scratch;
};

struct receiver {
    struct xt_ctx *ctx;
    struct hv_handle *h;
    const struct mig_recv_opts *o;
    struct mig_stats *st;
    uint64_t migration_id;
    unsigned nstreams;
    struct rstream s[MIG_MAX_STREAMS];

    uint32_t domid;
    bool have_domain;
    uint64_t nr_pages;
    uint64_t *hashes;           /* per-page XXH3 of what we wrote */
    uint64_t zero_hash;

    pthread_mutex_t lock;
    pthread_cond_t cv;
    int failed;                 /* first error, 0 if none */
    int64_t done_round[MIG_MAX_STREAMS];
    uint64_t pages;             /* applied */
    bool stopcopy;              /* the sender paused the source */
    bool fault_fired;
    bool opaque;                /* the hypervisor's own stream (image
                                 * header MIG_IMG_OPAQUE, mig_opaque.h) */
    uint64_t opaque_digest;     /* its XXH3-64, READY's digest then */
};

void mig_recv_opts_init(struct mig_recv_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->timeout_ms = MIG_DEFAULT_TIMEOUT_MS;
    o->linger_ms = 10000;
}

static void set_failed(struct receiver *r, int rc)
{
    pthread_mutex_lock(&r->lock);
    if (!r->failed)
        r->failed = rc;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->lock);
}

/* Fault injection: die, or drop every connection, at a chosen point. */
static int fault(struct receiver *r, enum mig_fault_point p)
{
    unsigned i;

    pthread_mutex_lock(&r->lock);
    if (r->o->fault != p || r->fault_fired) {
        pthread_mutex_unlock(&r->lock);
        return 0;
    }
    r->fault_fired = true;
    pthread_mutex_unlock(&r->lock);
    if (r->o->fault_action == MIG_FAULT_KILL) {
        xt_warn(r->ctx, "fault injection: receiver dies now");
        kill(getpid(), SIGKILL);
    }
    xt_warn(r->ctx, "fault injection: dropping the connections");
    for (i = 0; i < r->nstreams; i++)
        if (r->s[i].rd.fd >= 0)
            shutdown(r->s[i].rd.fd, SHUT_RDWR);
    return -ECONNABORTED;
}

/* Writes a validated batch into the domain. */
static int apply_batch(struct receiver *r, struct xt_ctx *ctx,
                       const struct mig_batch *b)
{
    void *pages[MIG_BATCH_MAX];
    struct hv_mapping *m = NULL;
    uint32_t i, k = 0;
    int rc;

    rc = hv_map_batch(r->h, r->domid, HV_MAP_WRITE, b->pfns, b->count,
                      pages, &m);
    if (rc == -EFAULT)      /* the driver leaves that one to us (hv.h) */
        rc = xt_error(ctx, rc, "page batch: %u pages of domain %u, some "
                      "could not be mapped for writing", b->count, r->domid);
    if (rc < 0) {
        hv_unmap(r->h, m);
        return rc;
    }
    for (i = 0; i < b->count; i++) {
        if (b->types[i] == MIG_PAGE_ZERO) {
            memset(pages[i], 0, MIG_PAGE_SIZE);
            r->hashes[b->pfns[i]] = r->zero_hash;
        } else {
            const uint8_t *src = b->data + (size_t)k++ * MIG_PAGE_SIZE;

            memcpy(pages[i], src, MIG_PAGE_SIZE);
            r->hashes[b->pfns[i]] = b->page_hash[k - 1];
        }
    }
    hv_unmap(r->h, m);
    pthread_mutex_lock(&r->lock);
    r->pages += b->count;
    pthread_mutex_unlock(&r->lock);
    return 0;
}

/* Round k ended on stream i: wait until every stream got there. */
static int round_barrier(struct receiver *r, unsigned i, uint32_t round)
{
    unsigned j;
    int rc;

    pthread_mutex_lock(&r->lock);
    r->done_round[i] = round;
    pthread_cond_broadcast(&r->cv);
    for (;;) {
        bool all = true;

        for (j = 0; j < r->nstreams; j++)
            all &= r->done_round[j] >= (int64_t)round;
        if (all || r->failed)
            break;
        pthread_cond_wait(&r->cv, &r->lock);
    }
    rc = r->failed;
    pthread_mutex_unlock(&r->lock);
    return rc;
}

/*
 * Handles a record every stream may carry: PAGE_BATCH, ROUND_END, END and
 * unknown optional ones.  Returns 1 when the record was not one of those
 * (the main connection handles it), 2 on END, 0 when handled, < 0 on error.
 */
static int stream_record(struct rstream *s, const struct mig_rec_hdr *hdr,
                         uint64_t off)
{
    struct receiver *r = s->r;
    struct mig_batch b;
    struct mig_round_end re;
    int rc;

    switch (hdr->type) {
    case MIG_REC_PAGE_BATCH:
        if (!r->have_domain)
            return xt_error(s->ctx, -EPROTO, "page batch at offset %llu "
                            "before the VM configuration",
                            (unsigned long long)off);
        rc = mig_batch_decode(s->ctx, s->rd.body.data, hdr->length, off,
                              r->nr_pages, &s->scratch, &b);
        if (rc < 0)
            return rc;
        if (b.round == 0 && (rc = fault(r, MIG_FAULT_ROUND0)) < 0)
            return xt_error(s->ctx, rc, "fault injected in round 0");
        if (b.round >= 1 && !r->stopcopy &&
            (rc = fault(r, MIG_FAULT_MIDROUND)) < 0)
            return xt_error(s->ctx, rc, "fault injected in round %u",
                            b.round);
        if (r->stopcopy && (rc = fault(r, MIG_FAULT_STOPCOPY)) < 0)
            return xt_error(s->ctx, rc, "fault injected in stop-and-copy");
        return apply_batch(r, s->ctx, &b);
    case MIG_REC_ROUND_END:
        if (hdr->length != sizeof(re))
            return xt_error(s->ctx, -EINVAL, "round end at offset %llu: "
                            "%llu bytes", (unsigned long long)off,
                            (unsigned long long)hdr->length);
        memcpy(&re, s->rd.body.data, sizeof(re));
        if ((int64_t)re.round <= r->done_round[s->index])
            return xt_error(s->ctx, -EINVAL, "round end at offset %llu: "
                            "round %u after round %lld",
                            (unsigned long long)off, re.round,
                            (long long)r->done_round[s->index]);
        rc = round_barrier(r, s->index, re.round);
        if (rc == 0 && s->index == 0) {
            /* Tell the sender this round is in: it waits for that before
             * pausing, so the pause does not include our backlog. */
            struct mig_buf ack = { 0 };

            re.pages = r->pages;
            rc = mig_rec_append(&ack, MIG_REC_ROUND_ACK, MIG_REC_OPTIONAL,
                                &re, sizeof(re));
            if (rc == 0)
                rc = xt_write_full(s->rd.fd, ack.data, ack.len,
                                   s->rd.timeout_ms);
            mig_buf_free(&ack);
            if (rc < 0)
                return xt_error(s->ctx, rc, "sending round %u's ack",
                                re.round);
        }
        return rc;
    case MIG_REC_END:
        return 2;
    default:
        if (hdr->type < MIG_REC_VM_CONFIG || hdr->type > MIG_REC_STOPCOPY) {
            if (hdr->flags & MIG_REC_OPTIONAL)
                return 0;       /* an optional record we do not know */
            return xt_error(s->ctx, -EPROTO, "unknown mandatory record "
                            "type %u at offset %llu", hdr->type,
                            (unsigned long long)off);
        }
        return 1;
    }
}

/* An extra stream: page batches and round ends until END. */
static void *stream_main(void *arg)
{
    struct rstream *s = arg;
    struct receiver *r = s->r;
    struct mig_rec_hdr hdr;
    uint64_t off;
    int rc;

    for (;;) {
        rc = mig_read_record(s->ctx, &s->rd, &hdr, &off);
        if (rc < 0)
            break;
        rc = stream_record(s, &hdr, off);
        if (rc == 1)
            rc = xt_error(s->ctx, -EPROTO, "%s at offset %llu on data "
                          "stream %u", mig_rec_name(hdr.type),
                          (unsigned long long)off, s->index);
        if (rc < 0 || rc == 2)
            break;
    }
    if (rc < 0) {
        pthread_mutex_lock(&r->lock);
        if (!r->failed)
            xt_error(r->ctx, rc, "stream %u: %s", s->index, s->ctx->err_msg);
        pthread_mutex_unlock(&r->lock);
        set_failed(r, rc);
    }
    return NULL;
}

static int send_rec(struct receiver *r, int fd, uint32_t type,
                    const void *body, size_t len)
{
    struct mig_buf b = { 0 };
    int rc = mig_rec_append(&b, type, 0, body, len);

    if (rc == 0)
        rc = xt_write_full(fd, b.data, b.len, r->o->timeout_ms);
    mig_buf_free(&b);
    return rc;
}

static void send_abort(struct receiver *r, int fd, int status,
                       const char *msg)
{
    struct mig_buf b = { 0 };
    struct mig_abort ab = { .status = status, .msg_len = strlen(msg) };

    if (mig_buf_reserve(&b, sizeof(ab) + ab.msg_len) == 0) {
        memcpy(b.data, &ab, sizeof(ab));
        memcpy(b.data + sizeof(ab), msg, ab.msg_len);
        send_rec(r, fd, MIG_REC_ABORT, b.data, sizeof(ab) + ab.msg_len);
    }
    mig_buf_free(&b);
}

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

static int accept_streams(struct receiver *r, int listen_fd)
{
    unsigned got = 1;

    while (got < r->nstreams) {
        struct rstream *s;
        struct mig_stream_hello hello;
        struct mig_reader rd = { .fd = -1, .timeout_ms = r->o->timeout_ms };
        struct mig_rec_hdr hdr;
        uint64_t off;
        int rc;

        struct mig_image_hdr ih;

        rc = mig_net_accept(r->ctx, listen_fd, r->o->timeout_ms, &rd.fd);
        if (rc < 0)
            return rc;
        rc = mig_read_image_hdr(r->ctx, &rd, &ih);
        if (rc == 0 && ih.migration_id != r->migration_id)
            rc = xt_error(r->ctx, -EPROTO, "data stream of another "
                          "migration");
        if (rc == 0)
            rc = mig_read_record(r->ctx, &rd, &hdr, &off);
        if (rc == 0 && (hdr.type != MIG_REC_STREAM_HELLO ||
                        hdr.length != sizeof(hello)))
            rc = xt_error(r->ctx, -EPROTO, "data stream: %s where a stream "
                          "hello belongs", mig_rec_name(hdr.type));
        if (rc == 0) {
            memcpy(&hello, rd.body.data, sizeof(hello));
            if (hello.migration_id != r->migration_id ||
                hello.nstreams != r->nstreams || hello.index == 0 ||
                hello.index >= r->nstreams ||
                r->s[hello.index].rd.fd >= 0)
                rc = xt_error(r->ctx, -EPROTO, "data stream: hello for "
                              "stream %u/%u of another migration or twice",
                              hello.index, hello.nstreams);
        }
        if (rc < 0) {
            close(rd.fd);
            mig_buf_free(&rd.body);
            return rc;
        }
        s = &r->s[hello.index];
        s->rd = rd;
        got++;
    }
    return 0;
}

static int start_streams(struct receiver *r)
{
    unsigned i;
    int e;

    for (i = 1; i < r->nstreams; i++) {
        e = pthread_create(&r->s[i].thread, NULL, stream_main, &r->s[i]);
        if (e)
            return xt_error(r->ctx, -e, "starting stream %u", i);
        r->s[i].started = true;
    }
    return 0;
}

static void stop_streams(struct receiver *r)
{
    unsigned i;

    for (i = 1; i < r->nstreams; i++) {
        struct rstream *s = &r->s[i];

        if (s->started) {
            if (r->failed && s->rd.fd >= 0)
                shutdown(s->rd.fd, SHUT_RDWR);
            pthread_join(s->thread, NULL);
            s->started = false;
        }
    }
}

/* mig_opaque_recv.fault: fault() behind a void pointer. */
static int opaque_fault(void *arg, enum mig_fault_point p)
{
    return fault(arg, p);
}

/*
 * The opaque mode: the domain is built by the hypervisor's library from
 * the OPAQUE_DATA that follow VM_CONFIG, up to OPAQUE_END (mig_opaque.c).
 */
static int receive_opaque(struct receiver *r, const struct hv_create_spec *spec)
{
    struct mig_opaque_recv orx = {
        .ctx = r->ctx,
        .h = r->h,
        .spec = spec,
        .rd = &r->s[0].rd,
        .timeout_ms = r->o->timeout_ms,
        .fault = opaque_fault,
        .fault_arg = r,
    };
    int rc;

    xt_info(r->ctx, "receiving VM '%s' (%llu MiB, %u vCPUs) as its "
            "hypervisor's own stream", spec->name ? spec->name : "",
            (unsigned long long)(spec->nr_pages >> 8), spec->nr_vcpus);
    rc = mig_opaque_receive(&orx);
    if (rc < 0)
        return rc;
    r->domid = orx.domid;
    r->have_domain = true;
    r->nr_pages = spec->nr_pages;
    r->opaque_digest = orx.digest;
    r->st->dst_domid = r->domid;
    r->st->opaque = true;
    r->st->rounds = orx.rounds;
    r->st->bytes_sent = orx.bytes;
    xt_info(r->ctx, "restored domain %u from %llu bytes", r->domid,
            (unsigned long long)orx.bytes);
    return 0;
}

static int create_domain(struct receiver *r, uint64_t off)
{
    struct hv_create_spec spec;
    struct mig_vm_config cfg;
    char *name = NULL, *devices = NULL;
    uint64_t p;
    int rc;

    rc = mig_vm_config_decode(r->ctx, r->s[0].rd.body.data,
                              r->s[0].rd.body.len, off, &cfg, &name,
                              &devices);
    if (rc < 0)
        return rc;
    memset(&spec, 0, sizeof(spec));
    spec.name = name;
    memcpy(spec.uuid.b, cfg.uuid, sizeof(spec.uuid.b));
    spec.nr_pages = cfg.nr_pages;
    spec.nr_vcpus = cfg.nr_vcpus;
    if (r->opaque) {
        rc = receive_opaque(r, &spec);
        goto out;
    }
    r->hashes = malloc(cfg.nr_pages * sizeof(*r->hashes));
    if (!r->hashes) {
        rc = xt_error(r->ctx, -ENOMEM, "digest of %llu pages",
                      (unsigned long long)cfg.nr_pages);
        goto out;
    }
    {
        static const uint8_t zero[MIG_PAGE_SIZE];

        r->zero_hash = mig_page_hash(zero);
    }
    for (p = 0; p < cfg.nr_pages; p++)
        r->hashes[p] = r->zero_hash;
    rc = hv_create(r->h, &spec, &r->domid);
    if (rc < 0)
        goto out;
    r->have_domain = true;
    r->nr_pages = cfg.nr_pages;
    r->st->dst_domid = r->domid;
    xt_info(r->ctx, "receiving VM '%s' (%llu MiB, %u vCPUs) into domain %u",
            name, (unsigned long long)(cfg.nr_pages >> 8), cfg.nr_vcpus,
            r->domid);
out:
    free(name);
    free(devices);
    return rc;
}

/* Answers in-doubt senders' QUERY on listen_fd for a while. */
static void linger(struct receiver *r, int listen_fd,
                   enum mig_query_state state)
{
    uint64_t end = xt_now_ns() + (uint64_t)r->o->linger_ms * 1000000ull;
    bool quiet = r->ctx->quiet_errors;

    r->ctx->quiet_errors = true;
    while (xt_now_ns() < end) {
        struct mig_reader rd = { .fd = -1, .timeout_ms = 1000 };
        struct mig_rec_hdr hdr;
        struct mig_query q;
        uint64_t off;
        int left = (int)((end - xt_now_ns()) / 1000000) + 1;

        if (mig_net_accept(r->ctx, listen_fd, left, &rd.fd) < 0)
            break;
        if (mig_read_record(r->ctx, &rd, &hdr, &off) == 0 &&
            hdr.type == MIG_REC_QUERY && hdr.length == sizeof(q)) {
            struct mig_query_reply qr = { 0 };

            memcpy(&q, rd.body.data, sizeof(q));
            qr.migration_id = q.migration_id;
            qr.state = q.migration_id == r->migration_id ? state
                                                         : MIG_Q_UNKNOWN;
            send_rec(r, rd.fd, MIG_REC_QUERY_REPLY, &qr, sizeof(qr));
        }
        close(rd.fd);
        mig_buf_free(&rd.body);
        if (state == MIG_Q_RESUMED)
            break;      /* the sender knows now: nothing left to say */
    }
    r->ctx->quiet_errors = quiet;
}

int mig_receive(struct xt_ctx *ctx, struct hv_handle *h, int listen_fd,
                const struct mig_recv_opts *opts, struct mig_stats *st)
{
    struct receiver r;
    struct rstream *m;
    struct mig_image_hdr ih;
    struct mig_stream_hello hello;
    struct mig_rec_hdr hdr;
    struct mig_ready ready;
    struct mig_resumed resumed;
    enum mig_query_state qstate = MIG_Q_ABORTED;
    bool have_state = false, ended = false, resumed_ok = false;
    uint64_t off, t0 = xt_now_ns(), t_stop = 0;
    unsigned i;
    int rc;

    memset(&r, 0, sizeof(r));
    memset(st, 0, sizeof(*st));
    r.ctx = ctx;
    r.h = h;
    r.o = opts;
    r.st = st;
    pthread_mutex_init(&r.lock, NULL);
    pthread_cond_init(&r.cv, NULL);
    for (i = 0; i < MIG_MAX_STREAMS; i++) {
        r.s[i].r = &r;
        r.s[i].index = i;
        r.s[i].rd.fd = -1;
        r.s[i].rd.timeout_ms = opts->timeout_ms;
        r.done_round[i] = -1;
        r.s[i].ctx = xt_ctx_new("mig-recv");
        if (!r.s[i].ctx) {
            rc = xt_error(ctx, -ENOMEM, "stream contexts");
            goto out;
        }
        r.s[i].ctx->quiet_errors = true;
    }
    m = &r.s[0];
    r.nstreams = 1;

    rc = mig_net_accept(ctx, listen_fd, opts->timeout_ms, &m->rd.fd);
    if (rc < 0)
        goto out;
    rc = mig_read_image_hdr(ctx, &m->rd, &ih);
    if (rc < 0)
        goto fail;
    r.migration_id = ih.migration_id;
    r.opaque = ih.flags & MIG_IMG_OPAQUE;
    if (r.opaque && (ih.hv_type != mig_hv_type_of(h) ||
                     !hv_has(h, HV_CAP_OPAQUE_STREAM))) {
        rc = xt_error(ctx, -EPROTO, "the sender's domain moves only as its "
                      "hypervisor's own stream (hypervisor type %u), which "
                      "the %s driver cannot restore", ih.hv_type,
                      hv_name(h));
        goto fail;
    }
    rc = mig_read_record(ctx, &m->rd, &hdr, &off);
    if (rc < 0)
        goto fail;
    if (opts->token) {
        if (hdr.type != MIG_REC_AUTH ||
            !token_ok(opts->token, m->rd.body.data, hdr.length)) {
            /* Same answer whatever was wrong, after a pause. */
            usleep(200000);
            rc = xt_error(ctx, -EACCES, "migration refused: no valid "
                          "one-time token");
            goto fail;
        }
        rc = mig_read_record(ctx, &m->rd, &hdr, &off);
        if (rc < 0)
            goto fail;
    } else if (hdr.type == MIG_REC_AUTH) {
        rc = mig_read_record(ctx, &m->rd, &hdr, &off);
        if (rc < 0)
            goto fail;
    }
    if (hdr.type != MIG_REC_STREAM_HELLO || hdr.length != sizeof(hello)) {
        rc = xt_error(ctx, -EPROTO, "%s at offset %llu where the stream "
                      "hello belongs", mig_rec_name(hdr.type),
                      (unsigned long long)off);
        goto fail;
    }
    memcpy(&hello, m->rd.body.data, sizeof(hello));
    if (hello.index != 0 || hello.nstreams == 0 ||
        hello.nstreams > MIG_MAX_STREAMS ||
        (r.opaque && hello.nstreams != 1) ||
        hello.migration_id != r.migration_id) {
        rc = xt_error(ctx, -EPROTO, "stream hello at offset %llu: stream "
                      "%u of %u (1..%u streams)", (unsigned long long)off,
                      hello.index, hello.nstreams, MIG_MAX_STREAMS);
        goto fail;
    }
    r.nstreams = hello.nstreams;
    st->nstreams = r.nstreams;
    rc = mig_read_record(ctx, &m->rd, &hdr, &off);
    if (rc < 0)
        goto fail;
    if (hdr.type != MIG_REC_VM_CONFIG) {
        rc = xt_error(ctx, -EPROTO, "%s at offset %llu where the VM "
                      "configuration belongs", mig_rec_name(hdr.type),
                      (unsigned long long)off);
        goto fail;
    }
    rc = create_domain(&r, off);
    if (rc < 0)
        goto fail;
    /* The opaque stream carried the state: END is all that is left. */
    have_state = r.opaque;
    rc = accept_streams(&r, listen_fd);
    if (rc == 0)
        rc = start_streams(&r);
    if (rc < 0)
        goto fail;

    /* The main connection: pages and round ends like the others, then the
     * state and the end. */
    while (!ended) {
        rc = mig_read_record(m->ctx, &m->rd, &hdr, &off);
        if (rc == 0 && r.opaque && hdr.type != MIG_REC_END &&
            hdr.type != MIG_REC_ABORT)
            rc = xt_error(m->ctx, -EPROTO, "%s at offset %llu after the "
                          "opaque stream, where END belongs",
                          mig_rec_name(hdr.type), (unsigned long long)off);
        if (rc == 0)
            rc = stream_record(m, &hdr, off);
        if (rc < 0) {
            set_failed(&r, rc);
            pthread_mutex_lock(&r.lock);
            rc = r.failed;
            pthread_mutex_unlock(&r.lock);
            if (!ctx->err_rc)
                xt_error(ctx, rc, "%s", m->ctx->err_msg);
            goto fail;
        }
        if (rc == 0)
            continue;
        switch (hdr.type) {
        case MIG_REC_END:
            if (!have_state) {
                rc = xt_error(ctx, -EPROTO, "end at offset %llu before the "
                              "state record", (unsigned long long)off);
                goto fail;
            }
            ended = true;
            break;
        case MIG_REC_STOPCOPY:
            pthread_mutex_lock(&r.lock);
            r.stopcopy = true;
            pthread_mutex_unlock(&r.lock);
            t_stop = xt_now_ns();
            break;
        case MIG_REC_STATE:
            rc = fault(&r, MIG_FAULT_STOPCOPY);
            if (rc < 0) {
                xt_error(ctx, rc, "fault injected in stop-and-copy");
                goto fail;
            }
            if (have_state) {
                rc = xt_error(ctx, -EPROTO, "second state record at offset "
                              "%llu", (unsigned long long)off);
                goto fail;
            }
            xt_debug(ctx, "stop-and-copy: state arrives at +%.3f ms",
                     (xt_now_ns() - t_stop) / 1e6);
            rc = hv_state_restore(h, r.domid, m->rd.body.data, hdr.length);
            xt_debug(ctx, "stop-and-copy: state restored at +%.3f ms",
                     (xt_now_ns() - t_stop) / 1e6);
            if (rc < 0) {
                xt_error(ctx, rc, "state record at offset %llu: %s",
                         (unsigned long long)off, ctx->err_msg);
                goto fail;
            }
            have_state = true;
            break;
        case MIG_REC_ABORT:
            rc = xt_error(ctx, -ECONNABORTED, "the sender aborted the "
                          "migration");
            goto fail;
        default:
            rc = xt_error(ctx, -EPROTO, "unexpected %s at offset %llu",
                          mig_rec_name(hdr.type), (unsigned long long)off);
            goto fail;
        }
    }
    stop_streams(&r);
    if (r.failed) {
        rc = r.failed;
        goto fail;
    }

    /* Everything is here and applied: say so, and wait for the commit. */
    memset(&ready, 0, sizeof(ready));
    ready.digest = r.opaque ? r.opaque_digest
                            : mig_digest(r.hashes, r.nr_pages);
    ready.pages_received = r.pages;
    st->digest_dst = ready.digest;
    rc = send_rec(&r, m->rd.fd, MIG_REC_READY, &ready, sizeof(ready));
    if (rc < 0) {
        xt_error(ctx, rc, "sending ready");
        goto fail;
    }
    xt_debug(ctx, "commit: ready sent at +%.3f ms",
             (xt_now_ns() - t_stop) / 1e6);
    rc = fault(&r, MIG_FAULT_AFTER_READY);
    if (rc < 0) {
        xt_error(ctx, rc, "fault injected after ready");
        goto fail;
    }
    rc = mig_read_record(ctx, &m->rd, &hdr, &off);
    if (rc == 0 && hdr.type != MIG_REC_COMMIT)
        rc = xt_error(ctx, hdr.type == MIG_REC_ABORT ? -ECONNABORTED
                                                     : -EPROTO,
                      "%s where the commit belongs",
                      mig_rec_name(hdr.type));
    if (rc < 0)
        goto fail;

    /* Committed: the VM is ours now. */
    memset(&resumed, 0, sizeof(resumed));
    xt_debug(ctx, "commit: commit read at +%.3f ms",
             (xt_now_ns() - t_stop) / 1e6);
    rc = hv_unpause(h, r.domid);
    resumed.resume_ns = xt_now_ns();
    xt_debug(ctx, "commit: resumed at +%.3f ms",
             (resumed.resume_ns - t_stop) / 1e6);
    if (rc < 0) {
        resumed.status = rc;
        send_rec(&r, m->rd.fd, MIG_REC_RESUMED, &resumed, sizeof(resumed));
        goto fail;
    }
    qstate = MIG_Q_RESUMED;
    st->committed = true;
    {
        struct hv_guest_stats gs;
        int waited;
        bool quiet = ctx->quiet_errors;

        ctx->quiet_errors = true;
        for (waited = 0; waited < FIRST_HB_WAIT_MS; waited++) {
            if (hv_guest_stats(h, r.domid, &gs) < 0 || !gs.is_test_guest ||
                gs.hb_count)
                break;
            usleep(1000);
        }
        ctx->quiet_errors = quiet;
        xt_error_clear(ctx);
        if (gs.is_test_guest && gs.hb_count) {
            resumed.hb_first_seq = gs.hb_first_seq;
            resumed.hb_first_ns = gs.hb_first_ns;
            resumed.hb_max_gap_ns = gs.hb_max_gap_ns;
            resumed.mismatches = gs.mismatches;
            st->guest_measured = true;
            st->hb_first_seq_dst = gs.hb_first_seq;
            st->mismatches = gs.mismatches;
        }
    }
    if (send_rec(&r, m->rd.fd, MIG_REC_RESUMED, &resumed,
                 sizeof(resumed)) == 0) {
        /* The sender closes once it has read RESUMED. */
        struct pollfd pfd = { .fd = m->rd.fd, .events = POLLIN };
        char c;

        if (poll(&pfd, 1, opts->timeout_ms) == 1 &&
            recv(m->rd.fd, &c, 1, 0) == 0)
            resumed_ok = true;
    }
    if (!resumed_ok)
        linger(&r, listen_fd, MIG_Q_RESUMED);
    rc = 0;
    st->pages_sent = r.pages;
    goto out;

fail:
    set_failed(&r, rc);
    if (m->rd.fd >= 0)
        send_abort(&r, m->rd.fd, rc, ctx->err_msg);
    for (i = 0; i < r.nstreams; i++)
        if (r.s[i].rd.fd >= 0)
            shutdown(r.s[i].rd.fd, SHUT_RDWR);
    stop_streams(&r);
    if (r.have_domain && qstate != MIG_Q_RESUMED) {
        bool quiet = ctx->quiet_errors;
        char msg[XT_ERRMSG_MAX];
        int keep = ctx->err_rc;

        snprintf(msg, sizeof(msg), "%s", ctx->err_msg);
        ctx->quiet_errors = true;
        hv_destroy(h, r.domid);
        ctx->quiet_errors = quiet;
        ctx->err_rc = keep;
        snprintf(ctx->err_msg, sizeof(ctx->err_msg), "%s", msg);
        r.have_domain = false;
    }
    linger(&r, listen_fd, qstate);
out:
    for (i = 0; i < MIG_MAX_STREAMS; i++) {
        if (r.s[i].rd.fd >= 0)
            close(r.s[i].rd.fd);
        mig_buf_free(&r.s[i].rd.body);
        mig_buf_free(&r.s[i].scratch);
        xt_ctx_free(r.s[i].ctx);
    }
    free(r.hashes);
    st->rc = rc;
    st->total_ns = xt_now_ns() - t0;
    pthread_cond_destroy(&r.cv);
    pthread_mutex_destroy(&r.lock);
    return rc;
}
