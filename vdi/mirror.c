/*
 * mirror.c - the mirrored-block engine (mirror.h, docs/specs/mirror.md).
 *
 * One mutex (m->lock) guards the bitmaps, the state and the counters; the
 * condition variable m->cond is broadcast at every change a thread may
 * wait for (a granule no longer busy, new dirty granules, a state or a
 * generation change).  Three bitmaps of granules:
 *   dirty  the target may differ from the source there
 *   busy   a worker copies it, or a write-blocking write writes it, now:
 *          nobody else touches the target there meanwhile
 *   sent   the target may hold data there (a hole need not be zeroed
 *          on a fresh target elsewhere)
 * A worker clears a run's dirty bits before it reads the source, so a
 * write that lands during the copy sets them again and is copied again:
 * no write is lost, whatever the order.  Each connection has one request
 * in flight at a time (the workers give the parallelism), run with
 * libnbd's asynchronous calls so that a request has a deadline.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libnbd.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mirror.h"

#define ACTIVE_TIMEOUT_MS   2000u   /* a write-blocking write's target
                                     * request: a guest write waits no
                                     * longer for a dead target */
#define MAX_PASSES          8u      /* then write-blocking regardless */
#define ZERO_MAX            (1ull << 30)
#define STATE_MAGIC         0x524f52494d4d58ull     /* "XMMIROR" */
#define STATE_VERSION       1u
#define REFUSED_RETRIES     100u    /* a handshake the server ended: */
#define REFUSED_WAIT_MS     50      /* tried again so often, so apart */

enum op { OP_WRITE, OP_ZERO, OP_TRIM, OP_FLUSH };

struct io_wait {
    bool done;
    int err;
};

struct conn {
    struct mirror *m;
    struct xt_ctx *ctx;         /* this worker's (fault points' log) */
    struct nbd_handle *h;
    pthread_mutex_t fd_lock;    /* fd: its closing against a kick */
    int fd;                     /* its socket: shut down to unblock it */
    struct io_wait io;          /* the one request in flight */
    pthread_t th;
    bool started;
    void *buf;                  /* chunk bytes */
};

struct mirror {
    struct sr_vdi *src;
    char *uri;
    char *state_file;
    uint64_t size, nr;          /* bytes; granules */
    uint32_t granule, chunk;
    unsigned conns, stall_ms;
    uint64_t max_bps;
    bool target_zeroed;

    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint64_t *dirty, *busy, *sent;
    uint64_t ndirty, nbusy;
    uint64_t cursor;
    bool pass_work;             /* a run was taken since the pass began */
    uint64_t pass_dirty;        /* ndirty when the pass began */
    enum mirror_state state;
    uint64_t gen;
    bool stop;                  /* mirror_free: the monitor exits */
    struct mirror_status st;    /* the counters (state, gen, dirty and
                                 * inflight are filled when read) */
    uint64_t progress_ns;       /* last time a request completed */
    uint64_t bw_t0, bw_bytes;

    struct conn conn[MIRROR_CONNS_MAX];
    pthread_mutex_t active_lock;    /* the write-blocking connection */
    struct conn active;
    pthread_t monitor;
    bool monitor_started;
    uint64_t saved_gen;         /* what the state file holds */
    enum mirror_state saved_state;
};

static bool live(const struct mirror *m)
{
    return m->state == MIRROR_COPYING || m->state == MIRROR_SYNCED;
}

static bool actively_synced(const struct mirror *m)
{
    return m->state == MIRROR_SYNCED && !m->ndirty && !m->nbusy;
}

/* ---- the target's connections ---------------------------------------- */

static int done_cb(void *user_data, int *error)
{
    struct io_wait *w = user_data;

    w->done = true;
    w->err = *error;
    return 1;
}

/* Closes c; an idle connection says goodbye first (NBD_CMD_DISC, the TLS
 * close), one whose request failed is dropped. */
static void conn_close_idle(struct conn *c, bool idle)
{
    pthread_mutex_lock(&c->fd_lock);
    c->fd = -1;
    if (c->h && idle && nbd_aio_is_ready(c->h) == 1 &&
        nbd_shutdown(c->h, 0) == 0)
        while (nbd_aio_is_closed(c->h) != 1 && nbd_aio_is_dead(c->h) != 1 &&
               nbd_poll(c->h, 1000) > 0)
            ;
    if (c->h)
        nbd_close(c->h);
    c->h = NULL;
    pthread_mutex_unlock(&c->fd_lock);
}

static void conn_close(struct conn *c)
{
    conn_close_idle(c, false);
}

/* Makes c's request in flight fail now (another thread's). */
static void conn_kick(struct conn *c)
{
    pthread_mutex_lock(&c->fd_lock);
    if (c->fd >= 0)
        shutdown(c->fd, SHUT_RDWR);
    pthread_mutex_unlock(&c->fd_lock);
}

/* Whether a failed connect is a server that ended the handshake at once
 * (ended_handshake): libnbd says errno 0, or, when the close comes
 * before its connect completed, EINVAL ("external event ... invalid in
 * state CONNECT.START"), or a reset. */
static bool ended_handshake(int err)
{
    return err == 0 || err == EINVAL || err == ECONNRESET || err == EPIPE;
}

/*
 * Connects c to uri; why gets the reason on failure.  A server that ends
 * the handshake at once is tried again for up to REFUSED_RETRIES *
 * REFUSED_WAIT_MS: it is one that still counts the connections we just
 * closed (nbdkit's limit filter on a peer's export drops a client beyond
 * its limit so, and forgets a closed one only once its thread has
 * ended).
 */
static int conn_open(struct conn *c, const char *uri, uint64_t size,
                     char *why, size_t why_size)
{
    unsigned tries = 0;
    int64_t tsize;
    int rc;

    for (;;) {
        c->h = nbd_create();
        if (!c->h) {
            snprintf(why, why_size, "%s", nbd_get_error());
            return -ENOMEM;
        }
        nbd_set_uri_allow_local_file(c->h, true);   /* tls-psk-file= */
        if (nbd_connect_uri(c->h, uri) == 0)
            break;
        if (!ended_handshake(nbd_get_errno()) || ++tries > REFUSED_RETRIES)
            goto fail;
        nbd_close(c->h);
        c->h = NULL;
        poll(NULL, 0, REFUSED_WAIT_MS);
    }
    tsize = nbd_get_size(c->h);
    if (tsize < 0)
        goto fail;
    if ((uint64_t)tsize < size || nbd_is_read_only(c->h) == 1) {
        snprintf(why, why_size, "the target %s is %s", uri,
                 (uint64_t)tsize < size ? "smaller than the source" :
                                          "read-only");
        conn_close(c);
        return -EINVAL;
    }
    pthread_mutex_lock(&c->fd_lock);
    c->fd = nbd_aio_get_fd(c->h);
    pthread_mutex_unlock(&c->fd_lock);
    return 0;
fail:
    rc = nbd_get_errno() ? -nbd_get_errno() : -EIO;
    snprintf(why, why_size, "%s: %s", uri, nbd_get_error());
    conn_close(c);
    return rc;
}

/* One request on c, waited for at most timeout_ms; a request that is
 * not answered in time takes the connection down with it. */
static int conn_io(struct conn *c, enum op op, const void *buf, uint64_t len,
                   uint64_t off, bool fua, unsigned timeout_ms, char *why,
                   size_t why_size)
{
    nbd_completion_callback cb = { .callback = done_cb, .user_data = &c->io };
    uint32_t fl = fua ? LIBNBD_CMD_FLAG_FUA : 0;
    uint64_t deadline = xt_now_ns() + (uint64_t)timeout_ms * 1000000u;
    int64_t cookie = -1;

    if (!c->h) {
        snprintf(why, why_size, "no connection to the target");
        return -ENOTCONN;
    }
    c->io = (struct io_wait){ 0 };
    if (op == OP_WRITE)
        cookie = nbd_aio_pwrite(c->h, buf, len, off, cb, fl);
    else if (op == OP_ZERO)
        cookie = nbd_aio_zero(c->h, len, off, cb, fl);
    else if (op == OP_TRIM)
        cookie = nbd_aio_trim(c->h, len, off, cb, fl);
    else
        cookie = nbd_aio_flush(c->h, cb, 0);
    while (cookie >= 0 && !c->io.done) {
        uint64_t now = xt_now_ns();

        if (now >= deadline) {
            snprintf(why, why_size, "the target did not answer in %u ms",
                     timeout_ms);
            conn_close(c);
            return -ETIMEDOUT;
        }
        if (nbd_poll(c->h, (int)((deadline - now) / 1000000u) + 1) < 0)
            cookie = -1;
    }
    if (cookie < 0) {
        int e = nbd_get_errno();

        snprintf(why, why_size, "%s", nbd_get_error());
        conn_close(c);
        return e ? -e : -EIO;
    }
    if (c->io.err) {
        snprintf(why, why_size, "the target answered %s",
                 strerror(c->io.err));
        return -c->io.err;
    }
    return 0;
}

/* ---- state changes (m->lock held) ------------------------------------ */

static void fail_locked(struct mirror *m, int rc, const char *why)
{
    unsigned i;

    if (!live(m))
        return;
    m->state = MIRROR_FAILED;
    m->gen++;
    snprintf(m->st.reason, sizeof(m->st.reason), "%.255s",
             why && *why ? why : strerror(-rc));
    /* Wake the workers out of their requests: they stop. */
    for (i = 0; i < m->conns; i++)
        conn_kick(&m->conn[i]);
    pthread_cond_broadcast(&m->cond);
}

static void set_range(struct mirror *m, uint64_t *bm, uint64_t *count,
                      uint64_t g0, uint64_t g1, bool on)
{
    for (uint64_t g = g0; g < g1; g++) {
        if (xt_bitmap_test(bm, g) == on)
            continue;
        if (on)
            xt_bitmap_set(bm, g);
        else
            xt_bitmap_clear(bm, g);
        if (count)
            *count += on ? 1 : (uint64_t)-1;
    }
    (void)m;
}

static bool range_busy(const struct mirror *m, uint64_t g0, uint64_t g1)
{
    for (uint64_t g = g0; g < g1; g++)
        if (xt_bitmap_test(m->busy, g))
            return true;
    return false;
}

/* The end of a pass over the bitmap: write-blocking once the backlog
 * stops shrinking. */
static void end_of_pass(struct mirror *m)
{
    bool stuck = false;

    if (m->pass_work) {
        m->pass_work = false;
        m->st.passes++;
        stuck = m->ndirty >= m->pass_dirty || m->st.passes >= MAX_PASSES;
        m->pass_dirty = m->ndirty;
    }
    if (m->state == MIRROR_COPYING && (m->ndirty == 0 || stuck)) {
        m->state = MIRROR_SYNCED;
        pthread_cond_broadcast(&m->cond);
    }
}

/* The first dirty granule >= from that nobody copies, or m->nr. */
static uint64_t next_free_dirty(const struct mirror *m, uint64_t from)
{
    uint64_t w = from / 64, words = XT_BITMAP_WORDS(m->nr);

    if (from >= m->nr)
        return m->nr;
    for (; w < words; w++) {
        uint64_t bits = m->dirty[w] & ~m->busy[w];

        if (w == from / 64)
            bits &= ~0ull << (from % 64);
        if (bits) {
            uint64_t g = w * 64 + (uint64_t)__builtin_ctzll(bits);

            return g < m->nr ? g : m->nr;
        }
    }
    return m->nr;
}

/* Takes the next run of dirty granules for a worker: busy, not dirty. */
static bool take_run(struct mirror *m, uint64_t *g0_r, uint64_t *n_r)
{
    uint64_t g = next_free_dirty(m, m->cursor), n, max;

    if (g == m->nr) {
        end_of_pass(m);
        m->cursor = 0;
        g = next_free_dirty(m, 0);
        if (g == m->nr)
            return false;
    }
    max = m->chunk / m->granule;
    for (n = 1; n < max && g + n < m->nr &&
         xt_bitmap_test(m->dirty, g + n) && !xt_bitmap_test(m->busy, g + n);
         n++)
        ;
    set_range(m, m->dirty, &m->ndirty, g, g + n, false);
    set_range(m, m->busy, &m->nbusy, g, g + n, true);
    m->cursor = g + n;
    m->pass_work = true;
    *g0_r = g;
    *n_r = n;
    return true;
}

/* ---- the workers ----------------------------------------------------- */

/* Sleeps as long as the bandwidth cap asks before len more bytes. */
static void throttle(struct mirror *m, uint64_t len)
{
    uint64_t due, now;

    if (!m->max_bps)
        return;
    pthread_mutex_lock(&m->lock);
    now = xt_now_ns();
    if (!m->bw_t0)
        m->bw_t0 = now;
    due = m->bw_t0 + m->bw_bytes * 1000000000ull / m->max_bps;
    m->bw_bytes += len;
    pthread_mutex_unlock(&m->lock);
    if (due > now) {
        struct timespec ts = { (time_t)((due - now) / 1000000000u),
                               (long)((due - now) % 1000000000u) };

        nanosleep(&ts, NULL);
    }
}

struct run {
    struct conn *c;
    bool zero_holes;            /* the target may hold data here */
    uint64_t sent, zeroed, requests;
    int rc;
    char why[200];
};

/* One extent of a run: its data copied, or a hole made a hole. */
static int copy_extent(void *opaque, uint64_t off, uint64_t len, bool hole)
{
    struct run *r = opaque;
    struct mirror *m = r->c->m;
    uint64_t done = 0;

    while (done < len) {
        uint64_t n = len - done;
        int rc;

        if (hole && !r->zero_holes)
            return 0;
        if (hole) {
            n = n > ZERO_MAX ? ZERO_MAX : n;
            rc = conn_io(r->c, OP_ZERO, NULL, n, off + done, false,
                         m->stall_ms, r->why, sizeof(r->why));
            r->zeroed += rc == 0 ? n : 0;
        } else {
            n = n > m->chunk ? m->chunk : n;
            throttle(m, n);
            rc = sr_vdi_pread(m->src, r->c->buf, n, off + done);
            if (rc < 0)
                snprintf(r->why, sizeof(r->why), "reading the source");
            /* A test stops, fails or drops the copy here, mid-pass. */
            switch (xt_fault(r->c->ctx, "vdi.mirror.copy")) {
            case XT_FAULT_FAIL:
                rc = rc ?: -EIO;
                snprintf(r->why, sizeof(r->why), "fault point");
                break;
            case XT_FAULT_DROP:
                conn_kick(r->c);
                break;
            default:
                break;
            }
            rc = rc ?: conn_io(r->c, OP_WRITE, r->c->buf, n, off + done,
                               false, m->stall_ms, r->why, sizeof(r->why));
            r->sent += rc == 0 ? n : 0;
        }
        if (rc < 0)
            return r->rc = rc;
        r->requests++;
        done += n;
    }
    return 0;
}

/* Copies granules [g0, g0 + n) (the caller made them busy). */
static int copy_run(struct conn *c, uint64_t g0, uint64_t n, struct run *r)
{
    struct mirror *m = c->m;
    uint64_t off = g0 * m->granule, len = n * m->granule;
    int rc;

    if (off + len > m->size)
        len = m->size - off;
    pthread_mutex_lock(&m->lock);
    r->zero_holes = !m->target_zeroed;
    for (uint64_t g = g0; g < g0 + n && !r->zero_holes; g++)
        r->zero_holes = xt_bitmap_test(m->sent, g);
    pthread_mutex_unlock(&m->lock);
    rc = sr_vdi_extents(m->src, off, len, copy_extent, r);
    if (rc < 0 && r->rc == 0)
        snprintf(r->why, sizeof(r->why), "the source's extents");
    return rc;
}

static void *worker_main(void *arg)
{
    struct conn *c = arg;
    struct mirror *m = c->m;
    uint64_t g0, n;
    bool failed;

    pthread_mutex_lock(&m->lock);
    while (live(m)) {
        struct run r = { .c = c };
        int rc;

        if (!take_run(m, &g0, &n)) {
            pthread_cond_wait(&m->cond, &m->lock);
            continue;
        }
        pthread_mutex_unlock(&m->lock);
        rc = copy_run(c, g0, n, &r);
        pthread_mutex_lock(&m->lock);
        set_range(m, m->busy, &m->nbusy, g0, g0 + n, false);
        if (rc < 0) {
            set_range(m, m->dirty, &m->ndirty, g0, g0 + n, true);
            fail_locked(m, rc, r.why);
        } else {
            if (r.sent)
                set_range(m, m->sent, NULL, g0, g0 + n, true);
            m->st.sent_bytes += r.sent;
            m->st.zero_bytes += r.zeroed;
            m->st.requests += r.requests;
            m->progress_ns = xt_now_ns();
        }
        pthread_cond_broadcast(&m->cond);
    }
    failed = m->state == MIRROR_FAILED;
    pthread_mutex_unlock(&m->lock);
    /* A failed mirror lets go of its target at once, the write-blocking
     * connection too (no write uses it now): nbdkit stops on SIGTERM only
     * once its clients have gone (the daemon stops and starts a
     * destination's backend before a resume), and a peer's export counts
     * them against its limit. */
    if (failed) {
        conn_close_idle(c, true);
        pthread_mutex_lock(&m->active_lock);
        conn_close_idle(&m->active, true);
        pthread_mutex_unlock(&m->active_lock);
    }
    return NULL;
}

/* ---- the state file -------------------------------------------------- */

struct state_hdr {
    uint64_t magic;
    uint32_t version;
    uint32_t state;
    uint64_t size;
    uint32_t granule;
    uint32_t passes;
    uint64_t gen;
    uint64_t sent_bytes;
    uint64_t dirty;             /* granules; then the dirty words, then
                                 * the sent words */
};

/* Writes the state file (m->lock held): tmp file, then rename. */
static void save_state(struct mirror *m, bool durable)
{
    char tmp[4096];
    uint64_t words = XT_BITMAP_WORDS(m->nr), *d;
    struct state_hdr h = {
        .magic = STATE_MAGIC, .version = STATE_VERSION, .state = m->state,
        .size = m->size, .granule = m->granule, .passes = m->st.passes,
        .gen = m->gen, .sent_bytes = m->st.sent_bytes,
    };
    int fd, ok;

    if (!m->state_file ||
        (size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", m->state_file) >=
        sizeof(tmp))
        return;
    d = malloc(words * 8);
    if (!d)
        return;
    /* What is being copied now is not on the target yet. */
    for (uint64_t w = 0; w < words; w++)
        d[w] = m->dirty[w] | m->busy[w];
    h.dirty = xt_bitmap_popcount(d, m->nr);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ok = fd >= 0 && xt_write_full(fd, &h, sizeof(h), -1) == 0 &&
         xt_write_full(fd, d, words * 8, -1) == 0 &&
         xt_write_full(fd, m->sent, words * 8, -1) == 0 &&
         (!durable || fdatasync(fd) == 0);
    if (fd >= 0)
        close(fd);
    if (ok && rename(tmp, m->state_file) == 0) {
        m->saved_gen = m->gen;
        m->saved_state = m->state;
    } else {
        unlink(tmp);
    }
    free(d);
}

/* Loads the bitmaps of an earlier run of this mirror (same size and
 * granule): true when it did. */
static bool load_state(struct mirror *m)
{
    uint64_t words = XT_BITMAP_WORDS(m->nr);
    struct state_hdr h;
    bool ok = false;
    int fd;

    if (!m->state_file)
        return false;
    fd = open(m->state_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    if (xt_read_full(fd, &h, sizeof(h), -1, NULL) == 0 &&
        h.magic == STATE_MAGIC && h.version == STATE_VERSION &&
        h.size == m->size && h.granule == m->granule &&
        h.state != MIRROR_COMPLETED && h.state != MIRROR_CANCELLED &&
        xt_read_full(fd, m->dirty, words * 8, -1, NULL) == 0 &&
        xt_read_full(fd, m->sent, words * 8, -1, NULL) == 0) {
        m->ndirty = xt_bitmap_popcount(m->dirty, m->nr);
        m->st.sent_bytes = h.sent_bytes;
        m->gen = h.gen;
        ok = true;
    }
    close(fd);
    if (!ok) {
        xt_bitmap_zero(m->dirty, m->nr);
        xt_bitmap_zero(m->sent, m->nr);
    }
    return ok;
}

/* ---- the monitor: stalls, the state file ----------------------------- */

static void *monitor_main(void *arg)
{
    struct mirror *m = arg;
    uint64_t last_save = 0;

    pthread_mutex_lock(&m->lock);
    while (!m->stop) {
        struct timespec ts;
        uint64_t now = xt_now_ns();

        if (live(m) && (m->ndirty || m->nbusy) &&
            now - m->progress_ns > (uint64_t)m->stall_ms * 1000000u) {
            char why[64];

            snprintf(why, sizeof(why), "no progress for %u ms",
                     m->stall_ms);
            fail_locked(m, -ETIMEDOUT, why);
        }
        if (m->gen != m->saved_gen || m->state != m->saved_state ||
            now - last_save > 1000000000ull) {
            save_state(m, m->state != MIRROR_COPYING &&
                          m->state != MIRROR_SYNCED);
            last_save = now;
        }
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&m->cond, &m->lock, &ts);
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

/* ---- start, resume, free --------------------------------------------- */

static void join_workers(struct mirror *m)
{
    for (unsigned i = 0; i < m->conns; i++) {
        struct conn *c = &m->conn[i];

        if (c->started)
            pthread_join(c->th, NULL);
        c->started = false;
        conn_close_idle(c, true);
    }
}

/* Connects every connection and starts the workers (m->lock not held,
 * no worker running). */
static int connect_all(struct xt_ctx *ctx, struct mirror *m)
{
    char why[512];
    unsigned i;
    int rc = 0;

    for (i = 0; i < m->conns && rc == 0; i++)
        rc = conn_open(&m->conn[i], m->uri, m->size, why, sizeof(why));
    pthread_mutex_lock(&m->active_lock);
    rc = rc ?: conn_open(&m->active, m->uri, m->size, why, sizeof(why));
    pthread_mutex_unlock(&m->active_lock);
    if (rc < 0) {
        for (i = 0; i < m->conns; i++)
            conn_close(&m->conn[i]);
        return xt_error(ctx, rc, "mirror target: %s", why);
    }
    for (i = 0; i < m->conns && rc == 0; i++) {
        rc = -pthread_create(&m->conn[i].th, NULL, worker_main, &m->conn[i]);
        m->conn[i].started = rc == 0;
    }
    if (rc < 0) {
        pthread_mutex_lock(&m->lock);
        fail_locked(m, rc, "starting the copy threads");
        pthread_mutex_unlock(&m->lock);
        join_workers(m);
        return xt_error(ctx, rc, "mirror: copy threads");
    }
    return 0;
}

static int mark_extent(void *opaque, uint64_t off, uint64_t len, bool hole)
{
    struct mirror *m = opaque;

    if (!hole || !m->target_zeroed)
        set_range(m, m->dirty, &m->ndirty, off / m->granule,
                  (off + len + m->granule - 1) / m->granule, true);
    return 0;
}

static int check_cfg(struct xt_ctx *ctx, const struct mirror_cfg *cfg)
{
    uint32_t g = cfg->granule ? cfg->granule : MIRROR_GRANULE_DEFAULT;

    if (!cfg->uri || !*cfg->uri)
        return xt_error(ctx, -EINVAL, "mirror: no target URI");
    if (g < 4096 || (g & (g - 1)) || (cfg->chunk && cfg->chunk < g) ||
        cfg->conns > MIRROR_CONNS_MAX ||
        (cfg->chunk && cfg->chunk > (32u << 20)))
        return xt_error(ctx, -EINVAL, "mirror: granule %u (a power of 2 "
                        ">= 4096), chunk %u (granule..32 MiB), conns %u "
                        "(1..%u)", g, cfg->chunk, cfg->conns,
                        MIRROR_CONNS_MAX);
    return 0;
}

/* The fields of a new m from cfg; its bitmaps allocated. */
static int mirror_init(struct xt_ctx *ctx, struct mirror *m,
                       struct sr_vdi *src, const struct mirror_cfg *cfg)
{
    m->src = src;
    m->size = sr_vdi_size(src);
    m->granule = cfg->granule ? cfg->granule : MIRROR_GRANULE_DEFAULT;
    m->chunk = cfg->chunk ? cfg->chunk : MIRROR_CHUNK_DEFAULT;
    if (m->chunk < m->granule)
        m->chunk = m->granule;
    m->conns = cfg->conns ? cfg->conns : MIRROR_CONNS_DEFAULT;
    m->stall_ms = cfg->stall_ms ? cfg->stall_ms : MIRROR_STALL_DEFAULT_MS;
    m->max_bps = cfg->max_bps;
    m->target_zeroed = cfg->target_zeroed;
    m->nr = (m->size + m->granule - 1) / m->granule;
    m->uri = strdup(cfg->uri);
    m->state_file = cfg->state_file ? strdup(cfg->state_file) : NULL;
    m->dirty = xt_bitmap_alloc(m->nr ? m->nr : 1);
    m->busy = xt_bitmap_alloc(m->nr ? m->nr : 1);
    m->sent = xt_bitmap_alloc(m->nr ? m->nr : 1);
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->cond, NULL);
    pthread_mutex_init(&m->active_lock, NULL);
    m->active.m = m;
    m->active.fd = -1;
    pthread_mutex_init(&m->active.fd_lock, NULL);
    for (unsigned i = 0; i < MIRROR_CONNS_MAX; i++) {
        m->conn[i].m = m;
        m->conn[i].fd = -1;
        pthread_mutex_init(&m->conn[i].fd_lock, NULL);
    }
    for (unsigned i = 0; i < m->conns; i++)
        if (!(m->conn[i].buf = malloc(m->chunk)) ||
            !(m->conn[i].ctx = xt_ctx_new("mirror")))
            return xt_error(ctx, -ENOMEM, "mirror buffers");
    if (!m->uri || (cfg->state_file && !m->state_file) || !m->dirty ||
        !m->busy || !m->sent)
        return xt_error(ctx, -ENOMEM, "mirror");
    return 0;
}

int mirror_prepare(struct xt_ctx *ctx, struct sr_vdi *src,
                   const struct mirror_cfg *cfg, struct mirror **m_r)
{
    struct mirror *m;
    int rc = check_cfg(ctx, cfg);

    *m_r = NULL;
    if (rc < 0)
        return rc;
    m = calloc(1, sizeof(*m));
    if (!m)
        return xt_error(ctx, -ENOMEM, "mirror");
    rc = mirror_init(ctx, m, src, cfg);
    if (rc < 0)
        goto fail;
    /* A restarted service goes on from its state file; else everything
     * the source holds is to copy. */
    if (!load_state(m)) {
        rc = sr_vdi_extents(src, 0, m->size, mark_extent, m);
        if (rc < 0) {
            xt_error(ctx, rc, "mirror: the source's extents");
            goto fail;
        }
    }
    m->pass_dirty = m->ndirty;
    m->st.started_ns = m->progress_ns = xt_now_ns();
    m->saved_state = m->state = MIRROR_COPYING;
    m->saved_gen = m->gen;
    *m_r = m;
    return 0;
fail:
    mirror_free(m);
    return rc;
}

int mirror_run(struct xt_ctx *ctx, struct mirror *m)
{
    int rc = connect_all(ctx, m);

    if (rc == 0 && !m->monitor_started) {
        rc = -pthread_create(&m->monitor, NULL, monitor_main, m);
        if (rc < 0)
            xt_error(ctx, rc, "mirror: monitor thread");
        m->monitor_started = rc == 0;
    }
    if (rc < 0) {
        pthread_mutex_lock(&m->lock);
        fail_locked(m, rc, ctx->err_msg);
        pthread_mutex_unlock(&m->lock);
    }
    return rc;
}

int mirror_start(struct xt_ctx *ctx, struct sr_vdi *src,
                 const struct mirror_cfg *cfg, struct mirror **m_r)
{
    int rc = mirror_prepare(ctx, src, cfg, m_r);

    if (rc == 0 && (rc = mirror_run(ctx, *m_r)) < 0) {
        mirror_free(*m_r);
        *m_r = NULL;
    }
    return rc;
}

int mirror_resume(struct xt_ctx *ctx, struct mirror *m, const char *uri)
{
    char *u = NULL;
    int rc;

    pthread_mutex_lock(&m->lock);
    if (m->state != MIRROR_FAILED) {
        enum mirror_state s = m->state;

        pthread_mutex_unlock(&m->lock);
        return xt_error(ctx, -EINVAL, "mirror is %s, not failed",
                        mirror_state_name(s));
    }
    pthread_mutex_unlock(&m->lock);
    if (uri && !(u = strdup(uri)))
        return xt_error(ctx, -ENOMEM, "mirror");
    join_workers(m);            /* they left when it failed */
    pthread_mutex_lock(&m->active_lock);
    conn_close_idle(&m->active, true);
    pthread_mutex_unlock(&m->active_lock);
    if (u) {
        free(m->uri);
        m->uri = u;
    }
    pthread_mutex_lock(&m->lock);
    m->state = MIRROR_COPYING;
    m->st.reason[0] = '\0';
    m->pass_dirty = m->ndirty;
    m->progress_ns = xt_now_ns();
    pthread_mutex_unlock(&m->lock);
    rc = connect_all(ctx, m);
    if (rc < 0) {
        /* Failed again, at once: not copying with nobody to copy until
         * the stall timer says so. */
        pthread_mutex_lock(&m->lock);
        fail_locked(m, rc, ctx->err_msg);
        pthread_mutex_unlock(&m->lock);
    }
    return rc;
}

/* Stops the workers, the mirror ending in end unless it has ended. */
static void stop_all(struct mirror *m, enum mirror_state end)
{
    pthread_mutex_lock(&m->lock);
    if (m->state != MIRROR_COMPLETED && m->state != MIRROR_CANCELLED)
        m->state = end;
    for (unsigned i = 0; i < m->conns; i++)
        conn_kick(&m->conn[i]);
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
    join_workers(m);
}

void mirror_cancel(struct mirror *m)
{
    stop_all(m, MIRROR_CANCELLED);
}

void mirror_free(struct mirror *m)
{
    if (!m)
        return;
    /* A mirror still going is interrupted, not ended: its state file
     * says failed, and a restarted service goes on from it. */
    if (m->dirty && m->busy)
        stop_all(m, MIRROR_FAILED);
    pthread_mutex_lock(&m->lock);
    m->stop = true;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
    if (m->monitor_started)
        pthread_join(m->monitor, NULL);
    if (m->dirty && m->busy && m->sent) {
        pthread_mutex_lock(&m->lock);
        save_state(m, true);
        pthread_mutex_unlock(&m->lock);
    }
    pthread_mutex_lock(&m->active_lock);
    conn_close_idle(&m->active, true);
    pthread_mutex_unlock(&m->active_lock);
    for (unsigned i = 0; i < MIRROR_CONNS_MAX; i++) {
        free(m->conn[i].buf);
        xt_ctx_free(m->conn[i].ctx);
        pthread_mutex_destroy(&m->conn[i].fd_lock);
    }
    pthread_mutex_destroy(&m->active.fd_lock);
    pthread_mutex_destroy(&m->active_lock);
    pthread_cond_destroy(&m->cond);
    pthread_mutex_destroy(&m->lock);
    free(m->dirty);
    free(m->busy);
    free(m->sent);
    free(m->uri);
    free(m->state_file);
    free(m);
}

/* ---- the service's writes -------------------------------------------- */

static int source_op(struct mirror *m, enum op op, const void *buf,
                     uint64_t len, uint64_t off, bool flag, bool fua)
{
    int rc;

    if (op == OP_WRITE)
        return sr_vdi_pwrite(m->src, buf, len, off, fua);
    rc = op == OP_ZERO ? sr_vdi_zero(m->src, off, len, flag) :
                         sr_vdi_trim(m->src, off, len);
    return rc == 0 && fua ? sr_vdi_flush(m->src) : rc;
}

static void count_write(struct mirror *m, bool synced, uint64_t t0)
{
    uint64_t ns = xt_now_ns() - t0;

    m->st.writes[synced]++;
    m->st.write_ns[synced] += ns;
    if (ns > m->st.write_max_ns[synced])
        m->st.write_max_ns[synced] = ns;
}

/* A write-blocking write of [g0, g1) (busy, ours): the target after the
 * source; its failure fails the mirror, not the write. */
static void write_target(struct mirror *m, enum op op, const void *buf,
                         uint64_t len, uint64_t off, bool fua,
                         uint64_t g0, uint64_t g1)
{
    char why[200];
    int rc;

    pthread_mutex_lock(&m->active_lock);
    rc = conn_io(&m->active, op, buf, len, off, fua, ACTIVE_TIMEOUT_MS, why,
                 sizeof(why));
    pthread_mutex_unlock(&m->active_lock);
    pthread_mutex_lock(&m->lock);
    set_range(m, m->busy, &m->nbusy, g0, g1, false);
    if (rc < 0) {
        set_range(m, m->dirty, &m->ndirty, g0, g1, true);
        fail_locked(m, rc, why);
    } else {
        /* Whole granules written are the same on both sides now. */
        uint64_t f0 = (off + m->granule - 1) / m->granule;
        uint64_t f1 = (off + len) / m->granule;

        if (off + len == m->size)
            f1 = m->nr;
        if (f1 > f0)
            set_range(m, m->dirty, &m->ndirty, f0, f1, false);
        if (op == OP_WRITE)
            set_range(m, m->sent, NULL, g0, g1, true);
        m->st.requests++;
        m->st.sent_bytes += op == OP_WRITE ? len : 0;
        m->st.zero_bytes += op == OP_WRITE ? 0 : len;
        m->progress_ns = xt_now_ns();
    }
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
}

struct range {
    uint64_t g0, g1;
};

/* Nothing to wait for: not write-blocking, or [g0, g1) not busy. */
static bool range_free(struct mirror *m, const void *arg)
{
    const struct range *r = arg;

    return m->state != MIRROR_SYNCED || !range_busy(m, r->g0, r->g1);
}

static bool wait_until(struct mirror *m, bool (*pred)(struct mirror *,
                                                      const void *),
                       const void *arg, uint64_t deadline_ns);

static int mirrored_op(struct mirror *m, enum op op, const void *buf,
                       uint64_t len, uint64_t off, bool flag, bool fua)
{
    uint64_t g0 = off / m->granule, t0 = xt_now_ns();
    uint64_t g1 = (off + len + m->granule - 1) / m->granule;
    bool blocking;
    int rc;

    if (len == 0 || off + len > m->size)
        return source_op(m, op, buf, len, off, flag, fua);
    pthread_mutex_lock(&m->lock);
    /* A copy of these blocks in flight: wait for it, as long as a
     * write-blocking write may wait for the target, then give up on the
     * mirror rather than hold the guest. */
    if (!wait_until(m, range_free, &(struct range){ g0, g1 },
                    t0 + ACTIVE_TIMEOUT_MS * 1000000ull))
        fail_locked(m, -ETIMEDOUT, "a write waited 2 s for the copy of its "
                    "blocks");
    blocking = m->state == MIRROR_SYNCED;
    if (blocking)
        set_range(m, m->busy, &m->nbusy, g0, g1, true);
    pthread_mutex_unlock(&m->lock);
    rc = source_op(m, op, buf, len, off, flag, fua);
    if (blocking && rc == 0) {
        write_target(m, op, buf, len, off, fua, g0, g1);
    } else {
        pthread_mutex_lock(&m->lock);
        if (blocking)
            set_range(m, m->busy, &m->nbusy, g0, g1, false);
        /* Written here only: to copy (a failed write may have written
         * part of it). */
        if (m->state != MIRROR_COMPLETED && m->state != MIRROR_CANCELLED)
            set_range(m, m->dirty, &m->ndirty, g0, g1, true);
        pthread_cond_broadcast(&m->cond);
        pthread_mutex_unlock(&m->lock);
    }
    pthread_mutex_lock(&m->lock);
    count_write(m, blocking, t0);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

int mirror_pwrite(struct mirror *m, const void *buf, size_t len,
                  uint64_t off, bool fua)
{
    return mirrored_op(m, OP_WRITE, buf, len, off, false, fua);
}

int mirror_zero(struct mirror *m, uint64_t off, uint64_t len, bool may_trim,
                bool fua)
{
    return mirrored_op(m, OP_ZERO, NULL, len, off, may_trim, fua);
}

int mirror_trim(struct mirror *m, uint64_t off, uint64_t len, bool fua)
{
    return mirrored_op(m, OP_TRIM, NULL, len, off, false, fua);
}

int mirror_flush(struct mirror *m)
{
    char why[200];
    bool synced;
    int rc = sr_vdi_flush(m->src), r;

    pthread_mutex_lock(&m->lock);
    synced = m->state == MIRROR_SYNCED;
    pthread_mutex_unlock(&m->lock);
    if (rc < 0 || !synced)
        return rc;
    /* Write-blocking: what the guest flushes is durable on both sides. */
    pthread_mutex_lock(&m->active_lock);
    r = conn_io(&m->active, OP_FLUSH, NULL, 0, 0, false, ACTIVE_TIMEOUT_MS,
                why, sizeof(why));
    pthread_mutex_unlock(&m->active_lock);
    if (r < 0) {
        pthread_mutex_lock(&m->lock);
        fail_locked(m, r, why);
        pthread_mutex_unlock(&m->lock);
    }
    return rc;
}

/* ---- status, wait, complete ------------------------------------------ */

static void status_locked(struct mirror *m, struct mirror_status *st)
{
    *st = m->st;
    st->state = m->state;
    st->gen = m->gen;
    st->size = m->size;
    st->dirty_bytes = m->ndirty * m->granule;
    st->inflight_bytes = m->nbusy * m->granule;
    st->actively_synced = actively_synced(m);
    if (st->actively_synced && !m->st.synced_ns)
        m->st.synced_ns = st->synced_ns = xt_now_ns();
}

void mirror_get_status(struct mirror *m, struct mirror_status *st)
{
    pthread_mutex_lock(&m->lock);
    status_locked(m, st);
    pthread_mutex_unlock(&m->lock);
}

/* Waits on m->cond until pred or the deadline (m->lock held). */
static bool wait_until(struct mirror *m, bool (*pred)(struct mirror *,
                                                      const void *),
                       const void *arg, uint64_t deadline_ns)
{
    while (!pred(m, arg)) {
        uint64_t now = xt_now_ns(), left;
        struct timespec ts;

        if (now >= deadline_ns)
            return false;
        left = deadline_ns - now;
        if (left > 100000000u)
            left = 100000000u;  /* the clocks differ: wake up to check */
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += (time_t)(left / 1000000000u);
        ts.tv_nsec += (long)(left % 1000000000u);
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&m->cond, &m->lock, &ts);
    }
    return true;
}

struct seen {
    enum mirror_state state;
    uint64_t gen;
    bool synced;
};

static bool changed(struct mirror *m, const void *arg)
{
    const struct seen *s = arg;

    return m->state != s->state || m->gen != s->gen ||
           actively_synced(m) != s->synced;
}

void mirror_wait(struct mirror *m, enum mirror_state state, uint64_t gen,
                 bool synced, unsigned timeout_ms, struct mirror_status *st)
{
    struct seen s = { state, gen, synced };

    pthread_mutex_lock(&m->lock);
    wait_until(m, changed, &s, xt_now_ns() +
               (uint64_t)timeout_ms * 1000000u);
    status_locked(m, st);
    pthread_mutex_unlock(&m->lock);
}

static bool drained(struct mirror *m, const void *arg)
{
    (void)arg;
    return !live(m) || (!m->ndirty && !m->nbusy);
}

int mirror_complete(struct xt_ctx *ctx, struct mirror *m, uint64_t gen,
                    unsigned timeout_ms)
{
    char why[200];
    bool ok;
    int rc;

    pthread_mutex_lock(&m->lock);
    if (m->state == MIRROR_COPYING) {
        m->state = MIRROR_SYNCED;   /* no write comes now: drain it all */
        pthread_cond_broadcast(&m->cond);
    }
    ok = wait_until(m, drained, NULL, xt_now_ns() +
                    (uint64_t)timeout_ms * 1000000u);
    rc = m->state != MIRROR_SYNCED || m->gen != gen ? -ESTALE :
         ok ? 0 : -ETIMEDOUT;
    pthread_mutex_unlock(&m->lock);
    if (rc < 0)
        return xt_error(ctx, rc, "mirror cannot complete: %s",
                        rc == -ETIMEDOUT ? "not drained in time" :
                        "it failed since generation was seen");
    pthread_mutex_lock(&m->active_lock);
    rc = conn_io(&m->active, OP_FLUSH, NULL, 0, 0, false, m->stall_ms, why,
                 sizeof(why));
    pthread_mutex_unlock(&m->active_lock);
    pthread_mutex_lock(&m->lock);
    if (rc < 0)
        fail_locked(m, rc, why);
    else if (m->gen != gen || m->state != MIRROR_SYNCED)
        rc = -ESTALE;
    else
        m->state = MIRROR_COMPLETED;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
    if (rc < 0)
        return xt_error(ctx, rc == -ESTALE ? rc : -ESTALE, "mirror cannot "
                        "complete: %s", rc == -ESTALE ? "it failed" : why);
    join_workers(m);
    return 0;
}
