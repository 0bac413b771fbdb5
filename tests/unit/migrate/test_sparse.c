/*
 * test_sparse.c - the engine over a sparse driver (HV_OPS_SPARSE, as Xen):
 * a whole page-mode migration between two fake in-memory domains whose
 * pfn spaces have holes.
 *
 * The fake source has holes (map_batch gives NULL there and -EFAULT, which
 * the driver does not report, as hv.h says), zero pages and data pages,
 * and no populated op, so round 0 maps every pfn.  The fake destination
 * starts empty: a pfn exists once it is first mapped for writing, as Xen's
 * lazily populated domains.  The migration must skip the holes, send the
 * zero pages (as zero records: they must exist on arrival), copy the rest,
 * and agree on the digest.  The same source behind a driver without
 * HV_OPS_SPARSE must fail with a clear error and keep running.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hv_driver.h"
#include "mig.h"
#include "loopback.h"
#include "../../tap.h"

#define NPAGES  64u
#define SRC_DOM 3u
#define DST_DOM 7u

/* pfn % 8: 5 is a hole, 3 a zero page, the rest hold data. */
static bool is_hole(unsigned p) { return p % 8 == 5; }
static bool is_zero(unsigned p) { return p % 8 == 3; }

struct dom {
    uint8_t mem[NPAGES][HV_PAGE_SIZE];
    bool present[NPAGES];
    enum hv_run_state state;
    bool destroyed;
    /* A source page present but unmappable: while the domain runs
     * (elusive: deferred, then sent paused), or always (stuck); -1 none. */
    int elusive, stuck;
    unsigned probes;            /* populated calls */
};

static struct dom *D(struct hv_handle *h) { return h->priv; }

static int f_info(struct hv_handle *h, uint32_t domid,
                  struct hv_domain_info *info)
{
    memset(info, 0, sizeof(*info));
    info->domid = domid;
    snprintf(info->name, sizeof(info->name), "sparse");
    info->nr_pages = NPAGES;
    info->nr_vcpus = 1;
    info->state = D(h)->state;
    return 0;
}

static int f_create(struct hv_handle *h, const struct hv_create_spec *spec,
                    uint32_t *domid_r)
{
    struct dom *d = D(h);

    if (spec->nr_pages != NPAGES)
        return xt_error(h->ctx, -EINVAL, "fake create: %llu pages",
                        (unsigned long long)spec->nr_pages);
    memset(d->present, 0, sizeof(d->present));
    d->state = HV_STATE_PAUSED;
    *domid_r = DST_DOM;
    return 0;
}

/* Source: holes are NULL (-EFAULT, unreported).  Destination: a write
 * mapping populates the pfn. */
static int f_map(struct hv_handle *h, uint32_t domid, int prot,
                 const uint64_t *pfns, size_t n, void **pages_r,
                 struct hv_mapping **map_r)
{
    struct dom *d = D(h);
    size_t i;
    int rc = 0;

    (void)domid;
    *map_r = NULL;
    for (i = 0; i < n; i++) {
        if (pfns[i] >= NPAGES)
            return xt_error(h->ctx, -EINVAL, "fake map: pfn %llu",
                            (unsigned long long)pfns[i]);
        if (prot & HV_MAP_WRITE)
            d->present[pfns[i]] = true;
        pages_r[i] = d->present[pfns[i]] ? d->mem[pfns[i]] : NULL;
        if ((int)pfns[i] == d->stuck ||
            ((int)pfns[i] == d->elusive && d->state == HV_STATE_RUNNING))
            pages_r[i] = NULL;
        if (!pages_r[i])
            rc = -EFAULT;
    }
    return rc;
}

static int f_populated(struct hv_handle *h, uint32_t domid, uint64_t first,
                       uint64_t nr, uint64_t *bm, uint64_t *count_r)
{
    uint64_t p;

    (void)domid;
    if (first + nr > NPAGES)
        return xt_error(h->ctx, -EINVAL, "fake populated: past the end");
    memset(bm, 0, XT_BITMAP_WORDS(nr) * sizeof(uint64_t));
    *count_r = 0;
    D(h)->probes++;
    for (p = first; p < first + nr; p++)
        if (D(h)->present[p]) {
            xt_bitmap_set(bm, p - first);
            (*count_r)++;
        }
    return 0;
}

static void f_unmap(struct hv_handle *h, struct hv_mapping *m)
{
    (void)h;
    (void)m;
}

static int f_logdirty(struct hv_handle *h, uint32_t domid, bool on)
{
    (void)h, (void)domid, (void)on;
    return 0;
}

/* The guest writes nothing: every harvest is empty. */
static int f_harvest(struct hv_handle *h, uint32_t domid, uint64_t *bm,
                     uint64_t nr, uint64_t *dirty_r)
{
    (void)h, (void)domid;
    memset(bm, 0, XT_BITMAP_WORDS(nr) * sizeof(uint64_t));
    *dirty_r = 0;
    return 0;
}

static int f_pause(struct hv_handle *h, uint32_t domid)
{
    (void)domid;
    D(h)->state = HV_STATE_PAUSED;
    return 0;
}

static int f_unpause(struct hv_handle *h, uint32_t domid)
{
    (void)domid;
    D(h)->state = HV_STATE_RUNNING;
    return 0;
}

static int f_save(struct hv_handle *h, uint32_t domid, void **blob_r,
                  size_t *len_r)
{
    void *b = calloc(1, sizeof(struct hv_state_hdr));

    (void)domid;
    if (!b)
        return xt_error(h->ctx, -ENOMEM, "fake state");
    hv_state_seal(b, sizeof(struct hv_state_hdr), "fake", 1);
    *blob_r = b;
    *len_r = sizeof(struct hv_state_hdr);
    return 0;
}

static int f_restore(struct hv_handle *h, uint32_t domid, const void *blob,
                     size_t len)
{
    (void)domid;
    return hv_state_check(h->ctx, blob, len, "fake", 1);
}

static int f_destroy(struct hv_handle *h, uint32_t domid)
{
    (void)domid;
    D(h)->destroyed = true;
    return 0;
}

#define FAKE_OPS(flag, pop) { \
    .name = "fake", .flags = (flag), .info = f_info, .create = f_create, \
    .populated = (pop), \
    .map_batch = f_map, .unmap = f_unmap, .logdirty = f_logdirty, \
    .dirty_harvest = f_harvest, .pause = f_pause, .unpause = f_unpause, \
    .state_save = f_save, .state_restore = f_restore, \
    .destroy = f_destroy }
static const struct hv_ops sparse_ops = FAKE_OPS(HV_OPS_SPARSE, f_populated);
static const struct hv_ops dense_ops = FAKE_OPS(0, NULL);

/* A driver that says the domain cannot move (a device it would drop). */
static int f_no_move(struct hv_handle *h, uint32_t domid)
{
    return xt_error(h->ctx, -ENOTSUP, "fake: domain %u has a vtpm", domid);
}


static void source_init(struct dom *d)
{
    unsigned p;

    memset(d, 0, sizeof(*d));
    d->state = HV_STATE_RUNNING;
    d->elusive = d->stuck = -1;
    for (p = 0; p < NPAGES; p++) {
        d->present[p] = !is_hole(p);
        if (d->present[p] && !is_zero(p))
            memset(d->mem[p], 0x40 + (int)p, HV_PAGE_SIZE);
    }
}

/* One migration (so NULL: the defaults); returns the sender's rc, *dst_rc
 * the receiver's, msg the sender's error message. */
static int migrate_with(const struct hv_ops *ops,
                        const struct mig_send_opts *so, struct dom *src,
                        struct dom *dst, int *dst_rc, struct mig_stats *st,
                        char *msg, size_t msg_len)
{
    struct loop_side s = { .ops = ops, .priv = src };
    struct loop_side d = { .ops = ops, .priv = dst };
    struct loop_result lr;

    loop_migrate(&s, SRC_DOM, &d, so, NULL, &lr);
    *dst_rc = lr.dst_rc;
    *st = lr.src;
    snprintf(msg, msg_len, "%s", lr.src_msg);
    return lr.src_rc;
}

static int migrate(const struct hv_ops *ops, struct dom *src,
                   struct dom *dst, int *dst_rc, struct mig_stats *st,
                   char *msg, size_t msg_len)
{
    return migrate_with(ops, NULL, src, dst, dst_rc, st, msg, msg_len);
}

/* An empty destination: nothing present, every page mappable. */
static void dest_init(struct dom *d)
{
    memset(d, 0, sizeof(*d));
    d->elusive = d->stuck = -1;
}

/*
 * The receiver's stop (mig_recv_opts.stop_fd) while it waits for COMMIT:
 * the sender is held at mig.send.end-sent (a "wait" fault point) until
 * the stop is asked, so the receiver sees the stop before any COMMIT.
 */
struct stopper {
    char dir[64];
    int efd;
};

static void *stopper_main(void *arg)
{
    struct stopper *st = arg;
    char hit[128], go[128];
    uint64_t one = 1;
    struct stat sb;
    int i, fd;

    snprintf(hit, sizeof(hit), "%s/mig.send.end-sent.hit", st->dir);
    snprintf(go, sizeof(go), "%s/mig.send.end-sent.go", st->dir);
    for (i = 0; i < 10000 && stat(hit, &sb) < 0; i++)
        usleep(1000);
    if (write(st->efd, &one, sizeof(one)) != sizeof(one))
        tap_bail("eventfd");
    fd = open(go, O_WRONLY | O_CREAT, 0644);
    if (fd >= 0)
        close(fd);
    return NULL;
}

static void test_stop(void)
{
    static struct dom src, dst;
    struct loop_side s = { .ops = &sparse_ops, .priv = &src };
    struct loop_side d = { .ops = &sparse_ops, .priv = &dst };
    struct stopper st = { .efd = eventfd(0, EFD_CLOEXEC) };
    struct mig_recv_opts ro;
    struct loop_result lr;
    pthread_t t;

    snprintf(st.dir, sizeof(st.dir), "/tmp/test_sparse.XXXXXX");
    if (st.efd < 0 || !mkdtemp(st.dir))
        tap_bail("set-up of the stop test");
    source_init(&src);
    dest_init(&dst);
    mig_recv_opts_init(&ro);
    ro.timeout_ms = 5000;
    ro.linger_ms = 0;
    ro.stop_fd = st.efd;
    setenv("XM_FAULT_DIR", st.dir, 1);
    setenv("XM_FAULT", "mig.send.end-sent=wait", 1);
    if (pthread_create(&t, NULL, stopper_main, &st))
        tap_bail("thread");
    loop_migrate(&s, SRC_DOM, &d, NULL, &ro, &lr);
    pthread_join(t, NULL);
    unsetenv("XM_FAULT");
    tap_ok(lr.dst_rc == -ECANCELED && lr.dst.dst_state == MIG_DST_DISCARDED,
           "stop: the receiver stops before COMMIT, its copy discarded "
           "(%d: %s)", lr.dst_rc, lr.dst_msg);
    tap_ok(lr.src_rc < 0 && lr.src.src_state == MIG_SRC_SOLE_RUNNING &&
           src.state == HV_STATE_RUNNING && !src.destroyed,
           "stop: the sender hears it and resumes the source (%s)",
           lr.src_msg);
    close(st.efd);
}


/* opts.precommit: asked once, with the source paused, before COMMIT; a
 * no commits nothing (the source runs on), a yes commits. */
struct pc {
    int answer;
    unsigned calls;
    bool src_paused;
    struct dom *src;
};

static int precommit(struct xt_ctx *ctx, void *opaque)
{
    struct pc *pc = opaque;

    pc->calls++;
    pc->src_paused = pc->src->state == HV_STATE_PAUSED;
    return pc->answer < 0 ? xt_error(ctx, pc->answer, "the disks say no")
                          : 0;
}

static void test_precommit(void)
{
    static struct dom src, dst;
    struct pc pc = { .answer = -EIO, .src = &src };
    struct mig_send_opts so;
    struct mig_stats st;
    char msg[XT_ERRMSG_MAX];
    int rc, dst_rc;

    mig_send_opts_init(&so);
    so.timeout_ms = 5000;
    so.precommit = precommit;
    so.opaque = &pc;
    source_init(&src);
    dest_init(&dst);
    rc = migrate_with(&sparse_ops, &so, &src, &dst, &dst_rc, &st, msg,
                      sizeof(msg));
    tap_ok(pc.calls == 1 && pc.src_paused, "precommit: asked once, the "
           "source paused");
    tap_ok(rc == -EIO && strstr(msg, "the disks say no") &&
           st.src_state == MIG_SRC_SOLE_RUNNING && !src.destroyed &&
           src.state == HV_STATE_RUNNING && dst_rc < 0,
           "precommit: a no fails the migration with its error, the source "
           "runs on (%d: %s)", rc, msg);
    pc = (struct pc){ .answer = 0, .src = &src };
    source_init(&src);
    dest_init(&dst);
    rc = migrate_with(&sparse_ops, &so, &src, &dst, &dst_rc, &st, msg,
                      sizeof(msg));
    tap_ok(rc == 0 && pc.calls == 1 && src.destroyed &&
           dst.state == HV_STATE_RUNNING, "precommit: a yes commits");
}

/* The destination matches the source page for page. */
static void check_copy(const char *what, const struct dom *src,
                       const struct dom *dst)
{
    unsigned p, holes_ok = 0, data_ok = 0;

    for (p = 0; p < NPAGES; p++) {
        holes_ok += dst->present[p] == src->present[p];
        data_ok += !src->present[p] ||
                   !memcmp(dst->mem[p], src->mem[p], HV_PAGE_SIZE);
    }
    tap_ok(holes_ok == NPAGES, "%s: the destination has a page exactly "
           "where the source has one (holes stay holes, zero pages exist)",
           what);
    tap_ok(data_ok == NPAGES, "%s: every page arrived with its contents",
           what);
}

/*
 * The driver's can_migrate says no: mig_send fails with its reason before
 * it sends anything, indeed before it connects (nothing listens on the
 * port given), and the source runs on untouched.
 */
static void test_cannot_move(void)
{
    static struct dom src;
    struct hv_ops ops = FAKE_OPS(HV_OPS_SPARSE, f_populated);
    struct xt_ctx *ctx = xt_ctx_new("test_sparse");
    struct hv_handle *h = NULL;
    struct mig_send_opts so;
    struct mig_stats st;
    int rc;

    ops.can_migrate = f_no_move;
    source_init(&src);
    if (!ctx || hv_open_ops(ctx, &ops, NULL, &src, &h) < 0)
        tap_bail("fake driver");
    ctx->quiet_errors = true;
    mig_send_opts_init(&so);
    so.timeout_ms = 2000;
    rc = mig_send(ctx, h, SRC_DOM, "127.0.0.1", "1", &so, &st);
    tap_ok(rc == -ENOTSUP && strstr(ctx->err_msg, "has a vtpm"),
           "can_migrate says no: the migration fails with its reason, "
           "before it connects (%d: %s)", rc, ctx->err_msg);
    tap_ok(src.state == HV_STATE_RUNNING && !src.destroyed,
           "  the source runs on untouched");
    hv_close(h);
    xt_ctx_free(ctx);
}

/* What the progress callback saw (the reporter's thread). */
static struct {
    pthread_mutex_t lock;
    double pct[256];
    uint32_t round[256];
    unsigned n;
} seen = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void on_progress(const struct mig_progress *p, void *opaque)
{
    (void)opaque;
    pthread_mutex_lock(&seen.lock);
    if (seen.n < 256) {
        seen.pct[seen.n] = p->percent;
        seen.round[seen.n++] = p->round;
    }
    pthread_mutex_unlock(&seen.lock);
}

/*
 * Round 0 reports how far it got while it runs: the link is capped so
 * that it lasts over a second (256 KiB at 128 KiB/s), the pfn space
 * probed 7 at a time, so its batches go out one after another; a
 * progress bar then moves through round 0 (below 90%, round 0's share)
 * and never goes back.
 */
static void test_round0_progress(void)
{
    static struct dom src, dst;
    struct mig_send_opts so;
    struct mig_stats st;
    char msg[XT_ERRMSG_MAX];
    bool mid = false, up = true;
    int rc, dst_rc;
    unsigned i;

    source_init(&src);
    dest_init(&dst);
    mig_send_opts_init(&so);
    so.timeout_ms = 10000;
    so.probe_pages = 7;
    so.limit = mig_limit_new(128 << 10);
    so.progress = on_progress;
    rc = migrate_with(&sparse_ops, &so, &src, &dst, &dst_rc, &st, msg,
                      sizeof(msg));
    mig_limit_free(so.limit);
    tap_ok(rc == 0 && dst_rc == 0, "capped: the migration succeeds (%d, %d)",
           rc, dst_rc);
    pthread_mutex_lock(&seen.lock);
    for (i = 0; i < seen.n; i++) {
        mid = mid || (seen.round[i] == 0 && seen.pct[i] > 0 &&
                      seen.pct[i] < 90);
        up = up && (i == 0 || seen.pct[i] >= seen.pct[i - 1]);
    }
    tap_ok(mid, "round 0 reports its progress while it runs (%u reports)",
           seen.n);
    tap_ok(up && seen.n && seen.pct[seen.n - 1] == 100.0,
           "the percentage never goes back, and ends at 100");
    pthread_mutex_unlock(&seen.lock);
}

int main(void)
{
    static struct dom src, dst;
    struct mig_stats st;
    char msg[XT_ERRMSG_MAX];
    int rc, dst_rc;

    tap_plan(31);

    source_init(&src);
    dest_init(&dst);
    rc = migrate(&sparse_ops, &src, &dst, &dst_rc, &st, msg, sizeof(msg));
    tap_ok(rc == 0 && dst_rc == 0, "sparse: the migration succeeds "
           "(sender %d, receiver %d%s%s)", rc, dst_rc, rc ? ": " : "",
           rc ? msg : "");
    tap_ok(st.digest_equal, "sparse: source and destination digests agree");
    tap_ok(st.dst_domid == DST_DOM, "sparse: the sender learns the "
           "destination's domain from RESUMED (%u)", st.dst_domid);
    check_copy("sparse", &src, &dst);
    tap_ok(src.destroyed && dst.state == HV_STATE_RUNNING &&
           st.pages_deferred == 0,
           "sparse: the source is gone, the destination runs");

    /* Round 0 probes the pfn space a range at a time (7 pfns: the last
     * range is short), each range's pages queued before the next. */
    {
        struct mig_send_opts so;

        mig_send_opts_init(&so);
        so.timeout_ms = 5000;
        so.probe_pages = 7;
        source_init(&src);
        dest_init(&dst);
        rc = migrate_with(&sparse_ops, &so, &src, &dst, &dst_rc, &st, msg,
                          sizeof(msg));
        tap_ok(rc == 0 && dst_rc == 0, "ranges: the migration succeeds "
               "(%d, %d%s%s)", rc, dst_rc, rc ? ": " : "", rc ? msg : "");
        /* One probe per range in round 0, one for the digest. */
        tap_is_int((int)src.probes, (NPAGES + 6) / 7 + 1, "ranges: one "
                   "probe per range of 7 pfns, and the digest's");
        check_copy("ranges", &src, &dst);
    }

    /* A page that cannot be mapped while the source runs is deferred to
     * the final round, where the source is paused. */
    source_init(&src);
    src.elusive = 9;
    dest_init(&dst);
    rc = migrate(&sparse_ops, &src, &dst, &dst_rc, &st, msg, sizeof(msg));
    tap_ok(rc == 0 && dst_rc == 0 && st.pages_deferred == 1,
           "deferred: the migration succeeds, one page deferred (%d, %d, "
           "%llu%s%s)", rc, dst_rc, (unsigned long long)st.pages_deferred,
           rc ? ": " : "", rc ? msg : "");
    check_copy("deferred", &src, &dst);
    tap_ok(st.digest_equal, "deferred: the digests agree");

    /* Still unmappable with the source paused: the migration fails (the
     * destination would hold stale memory there), the source runs. */
    source_init(&src);
    src.stuck = 10;
    dest_init(&dst);
    rc = migrate(&sparse_ops, &src, &dst, &dst_rc, &st, msg, sizeof(msg));
    tap_is_int(rc, -EFAULT, "stuck: a page unmappable while paused fails "
               "the migration with -EFAULT");
    tap_ok(strstr(msg, "page 0xa of domain 3 cannot be mapped with the "
                  "source paused") != NULL, "stuck: the error says which "
           "(\"%s\")", msg);
    tap_ok(dst_rc < 0 && !src.destroyed && src.state == HV_STATE_RUNNING,
           "stuck: the receiver fails too (%d), the source runs", dst_rc);

    /* A driver without HV_OPS_SPARSE: its holes are pages that cannot be
     * mapped, deferred, then fatal. */
    source_init(&src);
    dest_init(&dst);
    rc = migrate(&dense_ops, &src, &dst, &dst_rc, &st, msg, sizeof(msg));
    tap_is_int(rc, -EFAULT, "dense: an unmappable page fails the "
               "migration with -EFAULT");
    tap_ok(strstr(msg, "cannot be mapped with the source paused") != NULL,
           "dense: the error says so (\"%s\")", msg);
    tap_ok(dst_rc < 0, "dense: the receiver fails too (%d)", dst_rc);
    tap_ok(!src.destroyed && src.state == HV_STATE_RUNNING,
           "dense: the source keeps running");
    test_stop();
    test_precommit();
    test_round0_progress();
    test_cannot_move();
    return tap_done();
}
