/*
 * vmm_blk.c - a legacy virtio-blk device (virtio 0.9.5) over an NBD export
 * through libnbd.  The guest drives it through the registers of its I/O
 * BAR; its one virtqueue lives in guest RAM in the legacy layout
 * (descriptors, avail ring, used ring at the next 4 KiB boundary).
 *
 * A QUEUE_NOTIFY write takes every available request, sends their NBD
 * commands with several in flight, waits for all of them and publishes the
 * used entries before the vCPU returns to the guest: nothing is in flight
 * once the vCPUs are stopped, so a pause needs no draining.  Every guest
 * address and length is checked against guest RAM first; a request that
 * fails a check completes with VIRTIO_BLK_S_IOERR.  Pages the device
 * writes are marked in ram->dirty (KVM's dirty log does not see writes
 * from user space).
 */
#include "config.h"

#include <errno.h>
#include <libnbd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmm_blk.h"

/* Legacy virtio PCI registers (offsets in the I/O BAR, no MSI-X). */
#define REG_HOST_FEATURES   0x00    /* u32 RO */
#define REG_GUEST_FEATURES  0x04    /* u32 */
#define REG_QUEUE_PFN       0x08    /* u32 */
#define REG_QUEUE_NUM       0x0c    /* u16 RO */
#define REG_QUEUE_SEL       0x0e    /* u16 */
#define REG_QUEUE_NOTIFY    0x10    /* u16 WO */
#define REG_STATUS          0x12    /* u8 */
#define REG_ISR             0x13    /* u8 RO, read clears */
#define REG_CONFIG          0x14    /* struct virtio_blk_config */

/* Offsets in the device config (from REG_CONFIG). */
#define CFG_CAPACITY        0x00    /* u64 sectors */
#define CFG_SEG_MAX         0x0c    /* u32 */
#define CFG_BLK_SIZE        0x14    /* u32 */

#define BLK_F_SEG_MAX       (1u << 2)
#define BLK_F_RO            (1u << 5)
#define BLK_F_BLK_SIZE      (1u << 6)
#define BLK_F_FLUSH         (1u << 9)

#define VRING_DESC_F_NEXT       1u
#define VRING_DESC_F_WRITE      2u
#define VRING_DESC_F_INDIRECT   4u
#define VRING_ALIGN             4096u

#define BLK_T_IN            0u
#define BLK_T_OUT           1u
#define BLK_T_FLUSH         4u
#define BLK_T_GET_ID        8u
#define BLK_S_OK            0u
#define BLK_S_IOERR         1u
#define BLK_S_UNSUPP        2u
#define BLK_ID_BYTES        20u

#define SECTOR              512u
#define QSIZE               VMM_BLK_QUEUE_SIZE
#define MAX_IN_FLIGHT       64u             /* NBD commands per disk */
#define NBD_SAFE_MAX        (32u << 20)     /* NBD's default maximum */
#define CONNECT_RETRY_MS 1000u    /* see connect_retrying */
#define CLOSE_WAIT_MS       2000

_Static_assert(sizeof(struct vmm_blk_state) == 32,
               "the blob's device record has no implicit padding");

struct vring_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

struct blk_hdr {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
};

/* One request of a batch. */
struct req {
    struct vmm_blk *b;
    uint16_t head;
    uint8_t status;             /* what to write into *st */
    uint8_t *st;                /* the status byte, NULL if unusable */
    uint32_t written;           /* bytes put into writable buffers */
    unsigned pending;           /* NBD commands in flight */
    int err;                    /* first NBD error */
    unsigned seg0, nseg;        /* its writable ranges in b->seg */
};

struct seg {
    uint64_t gpa;
    uint32_t len;
};

struct vmm_blk {
    struct xt_ctx *ctx;
    struct vmm_ram *ram;
    unsigned idx;
    char *uri;
    bool ro;

    struct nbd_handle *nbd;     /* NULL while released */
    uint64_t max_req;           /* largest NBD request, bytes */
    bool can_flush;
    unsigned pending;           /* NBD commands in flight */
    unsigned timeout_ms;        /* no answer for this long: fail them */

    struct vmm_blk_state s;

    /* Scratch of one notify. */
    struct vring_desc chain[QSIZE];
    struct req reqs[QSIZE];
    struct seg seg[QSIZE];
};

static bool in_ram(const struct vmm_ram *ram, uint64_t gpa, uint64_t len)
{
    return gpa <= ram->size && len <= ram->size - gpa;
}

/* Marks the pages of [gpa, gpa + len) dirty; after the write it covers,
 * so a harvest in between still sees the page dirty afterwards. */
static void mark_dirty(struct vmm_ram *ram, uint64_t gpa, uint64_t len)
{
    uint64_t pfn, last;

    if (!len || !in_ram(ram, gpa, len))
        return;
    last = (gpa + len - 1) >> 12;
    for (pfn = gpa >> 12; pfn <= last; pfn++)
        __atomic_fetch_or(&ram->dirty[pfn / 64], 1ull << (pfn % 64),
                          __ATOMIC_RELEASE);
}

struct vmm_blk *vmm_blk_new(struct xt_ctx *ctx, struct vmm_ram *ram,
                            unsigned idx, const char *uri, bool ro,
                            unsigned timeout_ms)
{
    struct vmm_blk *b = calloc(1, sizeof(*b));

    if (!b || !(b->uri = strdup(uri))) {
        free(b);
        xt_error(ctx, -ENOMEM, "disk %u", idx);
        return NULL;
    }
    b->ctx = ctx;
    b->ram = ram;
    b->idx = idx;
    b->ro = ro;
    b->s.ro = ro;
    b->timeout_ms = timeout_ms ? timeout_ms : VMM_DISK_TIMEOUT_MS;
    return b;
}

static void drop_connection(struct vmm_blk *b)
{
    if (b->nbd)
        nbd_close(b->nbd);
    b->nbd = NULL;
    b->pending = 0;
}

void vmm_blk_disconnect(struct vmm_blk *b)
{
    drop_connection(b);
}

void vmm_blk_free(struct vmm_blk *b)
{
    if (!b)
        return;
    drop_connection(b);
    free(b->uri);
    free(b);
}

bool vmm_blk_connected(const struct vmm_blk *b)
{
    return b->nbd != NULL;
}

int vmm_blk_retarget(struct vmm_blk *b, const char *uri,
                     unsigned timeout_ms)
{
    char *copy;

    /* A connected device would go on with the old export until its next
     * release: refuse rather than change it under a live connection. */
    if (b->nbd)
        return xt_error(b->ctx, -EBUSY, "disk %u: still connected to %s "
                        "(its release at PAUSE failed?): it cannot change "
                        "its export", b->idx, b->uri);
    copy = strdup(uri);
    if (!copy)
        return xt_error(b->ctx, -ENOMEM, "disk %u: retarget", b->idx);
    free(b->uri);
    b->uri = copy;
    if (timeout_ms)
        b->timeout_ms = timeout_ms;
    return 0;
}

const char *vmm_blk_uri(const struct vmm_blk *b)
{
    return b->uri;
}

static int flush_timed(struct vmm_blk *b);

static int nbd_rc(void)
{
    int e = nbd_get_errno();

    return e > 0 ? -e : -EIO;
}

/*
 * A connected handle in *h_r, or the error reported.  A refused connect
 * is retried for up to CONNECT_RETRY_MS: the server of a VDI handed over
 * in a migration drops the previous holder's lock only after it closed
 * that client's socket, so the new holder can arrive a moment early.  A
 * refusal that lasts (the VDI really is held elsewhere) fails after it.
 */
static int connect_retrying(struct vmm_blk *b, struct nbd_handle **h_r)
{
    uint64_t deadline = xt_now_ns() + CONNECT_RETRY_MS * 1000000ull;
    struct nbd_handle *h;
    int rc;

    for (;;) {
        h = nbd_create();
        if (!h)
            return xt_error(b->ctx, nbd_rc(), "disk %u: %s", b->idx,
                            nbd_get_error());
        if (nbd_connect_uri(h, b->uri) == 0) {
            *h_r = h;
            return 0;
        }
        if (xt_now_ns() >= deadline) {
            rc = xt_error(b->ctx, nbd_rc(), "disk %u: connecting to %s: %s",
                          b->idx, b->uri, nbd_get_error());
            nbd_close(h);
            return rc;
        }
        nbd_close(h);
        usleep(2000);
    }
}

int vmm_blk_connect(struct vmm_blk *b)
{
    struct nbd_handle *h = NULL;
    int64_t size, max;
    int rc = 0;

    if (b->nbd)
        return 0;
    rc = connect_retrying(b, &h);
    if (rc < 0)
        return rc;
    size = nbd_get_size(h);
    if (size < 0) {
        rc = xt_error(b->ctx, nbd_rc(), "disk %u: size of %s: %s", b->idx,
                      b->uri, nbd_get_error());
        goto out;
    }
    if (b->s.capacity && (uint64_t)size / SECTOR != b->s.capacity) {
        rc = xt_error(b->ctx, -EINVAL, "disk %u: %s has %llu sectors, the "
                      "guest knows %llu", b->idx, b->uri,
                      (unsigned long long)size / SECTOR,
                      (unsigned long long)b->s.capacity);
        goto out;
    }
    if (!b->ro && nbd_is_read_only(h) == 1) {
        rc = xt_error(b->ctx, -EROFS, "disk %u: %s is read-only, the disk "
                      "is read-write (--disk-ro?)", b->idx, b->uri);
        goto out;
    }
    max = nbd_get_block_size(h, LIBNBD_SIZE_MAXIMUM);
    b->max_req = max > 0 && max < NBD_SAFE_MAX ? (uint64_t)max : NBD_SAFE_MAX;
    b->can_flush = nbd_can_flush(h) == 1;
    b->s.capacity = (uint64_t)size / SECTOR;
    b->nbd = h;
    h = NULL;
out:
    if (h)
        nbd_close(h);
    return rc;
}

int vmm_blk_release(struct vmm_blk *b)
{
    uint64_t deadline;
    int rc;

    if (!b->nbd)
        return 0;
    if (nbd_aio_is_dead(b->nbd) == 1) {
        /* Nothing to keep: what it had not flushed is gone with it. */
        drop_connection(b);
        return xt_error(b->ctx, -EIO, "disk %u: the connection to %s was "
                        "lost, writes since its last flush may be too",
                        b->idx, b->uri);
    }
    if (!b->ro && b->can_flush && (rc = flush_timed(b)) < 0)
        return xt_error(b->ctx, rc, "disk %u: flush before closing %s: %s",
                        b->idx, b->uri, strerror(-rc));
    /* Disconnect cleanly and wait until the server has closed its end:
     * the next holder of the export may be waiting for exactly that. */
    if (nbd_shutdown(b->nbd, 0) == 0) {
        deadline = xt_now_ns() + CLOSE_WAIT_MS * 1000000ull;
        while (nbd_aio_is_closed(b->nbd) != 1 &&
               nbd_aio_is_dead(b->nbd) != 1 && xt_now_ns() < deadline &&
               nbd_poll(b->nbd, 100) >= 0)
            ;
    }
    drop_connection(b);
    return 0;
}

/* ---- registers ---------------------------------------------------------- */

static uint32_t host_features(const struct vmm_blk *b)
{
    return BLK_F_SEG_MAX | BLK_F_BLK_SIZE | BLK_F_FLUSH |
           (b->ro ? BLK_F_RO : 0);
}

static void reset(struct vmm_blk *b)
{
    uint64_t capacity = b->s.capacity;

    memset(&b->s, 0, sizeof(b->s));
    b->s.capacity = capacity;
    b->s.ro = b->ro;
}

/* The BAR as the guest reads it, little-endian. */
static void reg_image(const struct vmm_blk *b, uint8_t img[VMM_BLK_BAR_SIZE])
{
    uint32_t v32;
    uint16_t v16;

    memset(img, 0, VMM_BLK_BAR_SIZE);
    v32 = host_features(b);
    memcpy(img + REG_HOST_FEATURES, &v32, 4);
    memcpy(img + REG_GUEST_FEATURES, &b->s.guest_features, 4);
    v32 = b->s.queue_sel == 0 ? b->s.queue_pfn : 0;
    memcpy(img + REG_QUEUE_PFN, &v32, 4);
    v16 = b->s.queue_sel == 0 ? QSIZE : 0;
    memcpy(img + REG_QUEUE_NUM, &v16, 2);
    memcpy(img + REG_QUEUE_SEL, &b->s.queue_sel, 2);
    img[REG_STATUS] = b->s.status;
    img[REG_ISR] = b->s.isr;
    memcpy(img + REG_CONFIG + CFG_CAPACITY, &b->s.capacity, 8);
    v32 = QSIZE - 2;
    memcpy(img + REG_CONFIG + CFG_SEG_MAX, &v32, 4);
    v32 = SECTOR;
    memcpy(img + REG_CONFIG + CFG_BLK_SIZE, &v32, 4);
}

uint32_t vmm_blk_reg_read(struct vmm_blk *b, unsigned off, unsigned size)
{
    uint8_t img[VMM_BLK_BAR_SIZE];
    uint32_t val = 0xffffffff;

    if (off >= VMM_BLK_BAR_SIZE || size > VMM_BLK_BAR_SIZE - off)
        return val;
    reg_image(b, img);
    memcpy(&val, img + off, size);
    if (off <= REG_ISR && off + size > REG_ISR)
        b->s.isr = 0;
    return val;
}

static void process_queue(struct vmm_blk *b);

void vmm_blk_reg_write(struct vmm_blk *b, unsigned off, unsigned size,
                       uint32_t val)
{
    switch (off) {
    case REG_GUEST_FEATURES:
        b->s.guest_features = val & host_features(b);
        break;
    case REG_QUEUE_PFN:
        if (b->s.queue_sel == 0) {
            b->s.queue_pfn = val;
            b->s.last_avail = 0;
            b->s.broken = 0;
        }
        break;
    case REG_QUEUE_SEL:
        b->s.queue_sel = (uint16_t)val;
        break;
    case REG_QUEUE_NOTIFY:
        if ((uint16_t)val == 0)
            process_queue(b);
        break;
    case REG_STATUS:
        if ((uint8_t)val == 0)
            reset(b);
        else
            b->s.status = (uint8_t)val;
        break;
    default:
        xt_debug(b->ctx, "disk %u: guest wrote %#x (%u bytes) to read-only "
                 "register %#x", b->idx, val, size, off);
        break;
    }
}

/* ---- requests ----------------------------------------------------------- */

static int nbd_done(void *user_data, int *error)
{
    struct req *r = user_data;

    if (*error && !r->err)
        r->err = *error;
    r->pending--;
    r->b->pending--;
    return 1;   /* retire the command */
}

/* Drops a connection that failed: its commands in flight count as
 * failed (err). */
static void fail_in_flight(struct vmm_blk *b, int err)
{
    unsigned i;

    drop_connection(b);
    for (i = 0; i < QSIZE; i++)
        if (b->reqs[i].pending) {
            b->reqs[i].pending = 0;
            b->reqs[i].err = err;
        }
}

/* Waits until at most limit NBD commands are in flight.  When the
 * connection dies, or the server answers nothing for timeout_ms, drops
 * it: its commands count as failed. */
static void wait_in_flight(struct vmm_blk *b, unsigned limit)
{
    uint64_t deadline = xt_now_ns() + b->timeout_ms * 1000000ull;

    while (b->nbd && b->pending > limit) {
        uint64_t now = xt_now_ns();
        unsigned before = b->pending;
        int r;

        if (now >= deadline) {
            xt_log(b->ctx, XT_LOG_ERROR, "disk %u: %s answered none of %u "
                   "requests for %u ms: they fail, and the connection is "
                   "dropped", b->idx, b->uri, b->pending, b->timeout_ms);
            fail_in_flight(b, ETIMEDOUT);
            return;
        }
        r = nbd_poll(b->nbd, (int)((deadline - now) / 1000000 + 1));
        if (r < 0) {
            xt_log(b->ctx, XT_LOG_ERROR, "disk %u: connection to %s lost: "
                   "%s", b->idx, b->uri, nbd_get_error());
            fail_in_flight(b, EIO);
            return;
        }
        /* Progress restarts the clock: the timeout is per answer. */
        if (b->pending < before)
            deadline = xt_now_ns() + b->timeout_ms * 1000000ull;
    }
}

/* A flush in flight and awaited, under the same timeout as other
 * requests; 0 or -errno (not reported). */
static int flush_timed(struct vmm_blk *b)
{
    struct req r = { .b = b };
    nbd_completion_callback cb = { .callback = nbd_done, .user_data = &r };

    if (nbd_aio_flush(b->nbd, cb, 0) < 0)
        return nbd_rc();
    r.pending++;
    b->pending++;
    wait_in_flight(b, 0);
    if (r.pending) {            /* dropped: r is not in b->reqs */
        r.err = r.err ? r.err : ETIMEDOUT;
    }
    return r.err ? -r.err : 0;
}

/* Sends [gpa, gpa + len) at byte offset off in NBD commands of at most
 * max_req bytes; false when one could not be sent. */
static bool submit_rw(struct vmm_blk *b, struct req *r, bool write,
                      uint64_t gpa, uint64_t len, uint64_t off)
{
    while (len) {
        uint64_t n = len < b->max_req ? len : b->max_req;
        nbd_completion_callback cb = { .callback = nbd_done,
                                       .user_data = r };
        uint8_t *buf = b->ram->mem + gpa;
        int64_t cookie;

        wait_in_flight(b, MAX_IN_FLIGHT - 1);
        if (!b->nbd)
            return false;
        cookie = write ? nbd_aio_pwrite(b->nbd, buf, n, off, cb, 0) :
                         nbd_aio_pread(b->nbd, buf, n, off, cb, 0);
        if (cookie < 0) {
            xt_warn(b->ctx, "disk %u: %s of %llu bytes at %llu: %s", b->idx,
                    write ? "write" : "read", (unsigned long long)n,
                    (unsigned long long)off, nbd_get_error());
            return false;
        }
        r->pending++;
        b->pending++;
        gpa += n;
        off += n;
        len -= n;
    }
    return true;
}

/* Reads the chain starting at head into b->chain; its length, or 0 for a
 * chain the guest broke (index out of range, loop, indirect table). */
static unsigned read_chain(struct vmm_blk *b, const struct vring_desc *table,
                           uint16_t head)
{
    unsigned n = 0;
    uint16_t i = head;

    for (;;) {
        struct vring_desc *d = &b->chain[n];

        if (i >= QSIZE || n == QSIZE)
            return 0;
        memcpy(d, &table[i], sizeof(*d));   /* one snapshot, then use it */
        if (d->flags & VRING_DESC_F_INDIRECT)
            return 0;
        n++;
        if (!(d->flags & VRING_DESC_F_NEXT))
            return n;
        i = d->next;
    }
}

static bool desc_ok(const struct vmm_blk *b, const struct vring_desc *d,
                    bool writable)
{
    return in_ram(b->ram, d->addr, d->len) &&
           !!(d->flags & VRING_DESC_F_WRITE) == writable;
}

/* A FLUSH request: everything the guest saw completed is durable
 * afterwards, so earlier requests of this batch finish first. */
static void flush_req(struct vmm_blk *b, struct req *r)
{
    int rc;

    wait_in_flight(b, 0);
    if (!b->nbd)
        return;
    if (!b->ro && b->can_flush && (rc = flush_timed(b)) < 0) {
        xt_warn(b->ctx, "disk %u: flush: %s", b->idx, strerror(-rc));
        return;
    }
    r->status = BLK_S_OK;
}

/* Starts request r on the chain in b->chain[0..n): its NBD commands are
 * sent, or its status is known.  Writable ranges go to b->seg[*nseg..]. */
static void start_req(struct vmm_blk *b, struct req *r, unsigned n,
                      unsigned *nseg)
{
    const struct vring_desc *st = &b->chain[n - 1];
    struct blk_hdr h;
    uint64_t data = 0, off;
    unsigned i;

    r->status = BLK_S_IOERR;
    r->written = 0;
    r->st = NULL;
    r->seg0 = *nseg;
    r->nseg = 0;
    if (n < 2 || !desc_ok(b, st, true) || st->len < 1)
        return;     /* no status byte to write */
    r->st = b->ram->mem + st->addr + st->len - 1;
    r->written = 1;
    b->seg[(*nseg)++] = (struct seg){ st->addr + st->len - 1, 1 };
    r->nseg = 1;
    if (!desc_ok(b, &b->chain[0], false) || b->chain[0].len < sizeof(h))
        return;
    memcpy(&h, b->ram->mem + b->chain[0].addr, sizeof(h));

    switch (h.type) {
    case BLK_T_IN:
    case BLK_T_OUT:
        for (i = 1; i < n - 1; i++) {
            if (!desc_ok(b, &b->chain[i], h.type == BLK_T_IN))
                return;
            data += b->chain[i].len;
        }
        if (data % SECTOR || h.sector > b->s.capacity ||
            data / SECTOR > b->s.capacity - h.sector)
            return;
        if (h.type == BLK_T_OUT && b->ro)
            return;
        if (!b->nbd)
            return;
        off = h.sector * SECTOR;
        for (i = 1; i < n - 1; i++) {
            if (h.type == BLK_T_IN) {
                b->seg[(*nseg)++] = (struct seg){ b->chain[i].addr,
                                                  b->chain[i].len };
                r->nseg++;
            }
            if (!submit_rw(b, r, h.type == BLK_T_OUT, b->chain[i].addr,
                           b->chain[i].len, off)) {
                r->err = EIO;
                break;
            }
            off += b->chain[i].len;
        }
        if (h.type == BLK_T_IN)
            r->written += (uint32_t)data;
        r->status = BLK_S_OK;   /* unless r->err, once all completed */
        return;
    case BLK_T_FLUSH:
        flush_req(b, r);
        return;
    case BLK_T_GET_ID: {
        char id[BLK_ID_BYTES];
        const struct vring_desc *d = &b->chain[1];
        uint32_t len;

        if (n < 3 || !desc_ok(b, d, true))
            return;
        memset(id, 0, sizeof(id));
        snprintf(id, sizeof(id), "xm-vmm-disk%u", b->idx);
        len = d->len < sizeof(id) ? d->len : sizeof(id);
        memcpy(b->ram->mem + d->addr, id, len);
        b->seg[(*nseg)++] = (struct seg){ d->addr, len };
        r->nseg++;
        r->written += len;
        r->status = BLK_S_OK;
        return;
    }
    default:
        r->status = BLK_S_UNSUPP;
        return;
    }
}

/* Takes every available request, completes them all, publishes them in
 * the used ring. */
static void process_queue(struct vmm_blk *b)
{
    struct vmm_ram *ram = b->ram;
    uint64_t base = (uint64_t)b->s.queue_pfn * VRING_ALIGN;
    uint64_t avail_off = QSIZE * sizeof(struct vring_desc);
    uint64_t used_off = (avail_off + 6 + 2 * QSIZE + VRING_ALIGN - 1) &
                        ~(uint64_t)(VRING_ALIGN - 1);
    uint64_t ring_len = used_off + 6 + 8 * QSIZE;
    const struct vring_desc *table;
    uint16_t *avail_idx, *avail_ring, *used_idx;
    uint32_t *used_ring;
    sigset_t all, old;
    uint16_t last;

    if (!b->s.queue_pfn || b->s.broken)
        return;
    if (!in_ram(ram, base, ring_len)) {
        xt_warn(b->ctx, "disk %u: queue at %#llx is outside guest RAM",
                b->idx, (unsigned long long)base);
        b->s.broken = 1;
        return;
    }
    table = (const struct vring_desc *)(ram->mem + base);
    avail_idx = (uint16_t *)(ram->mem + base + avail_off + 2);
    avail_ring = avail_idx + 1;
    used_idx = (uint16_t *)(ram->mem + base + used_off + 2);
    used_ring = (uint32_t *)(used_idx + 1);

    /* A signal (the engine's vCPU kick) must not interrupt libnbd in the
     * middle of a request: it stays pending until the batch is done. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (;;) {
        uint16_t avail = __atomic_load_n(avail_idx, __ATOMIC_ACQUIRE);
        unsigned nreq = 0, nseg = 0, i;

        last = b->s.last_avail;
        if (avail == last)
            break;
        if ((uint16_t)(avail - last) > QSIZE) {
            xt_warn(b->ctx, "disk %u: avail index %u is %u entries ahead "
                    "of %u: the ring is broken until a reset", b->idx,
                    avail, (uint16_t)(avail - last), last);
            b->s.broken = 1;
            break;
        }
        /* A batch: as many requests as the scratch space holds. */
        while (last != avail && nreq < QSIZE) {
            struct req *r = &b->reqs[nreq];
            uint16_t head = __atomic_load_n(&avail_ring[last % QSIZE],
                                            __ATOMIC_RELAXED);
            unsigned n = head < QSIZE ? read_chain(b, table, head) : 0;

            if (nseg + n + 1 > QSIZE && nreq > 0)
                break;  /* the next batch takes it */
            memset(r, 0, sizeof(*r));
            r->b = b;
            r->head = head;
            if (n)
                start_req(b, r, n, &nseg);
            else
                xt_warn(b->ctx, "disk %u: bad descriptor chain at head %u",
                        b->idx, head);
            nreq++;
            last++;
        }
        wait_in_flight(b, 0);
        for (i = 0; i < nreq; i++) {
            struct req *r = &b->reqs[i];
            uint16_t u = (uint16_t)(b->s.last_avail + i) % QSIZE;
            unsigned k;

            if (r->st) {
                if (r->err && r->status == BLK_S_OK)
                    r->status = BLK_S_IOERR;
                if (r->status != BLK_S_OK)
                    r->written = 1;
                *r->st = r->status;
            }
            for (k = 0; k < r->nseg; k++)
                mark_dirty(ram, b->seg[r->seg0 + k].gpa,
                           b->seg[r->seg0 + k].len);
            used_ring[2 * u] = r->head;
            used_ring[2 * u + 1] = r->written;
            mark_dirty(ram, base + used_off + 4 + 8 * u, 8);
        }
        b->s.last_avail = last;
        /* Entries and data first, then the index the guest polls. */
        __atomic_store_n(used_idx, last, __ATOMIC_RELEASE);
        mark_dirty(ram, base + used_off + 2, 2);
        b->s.isr |= 1;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

uint64_t vmm_blk_sectors(const struct vmm_blk *b)
{
    return b->s.capacity;
}

bool vmm_blk_read_only(const struct vmm_blk *b)
{
    return b->ro;
}

/* Starts direct request io as r: sent, or its status known. */
static void start_direct(struct vmm_blk *b, struct req *r,
                         struct vmm_blk_io *io)
{
    uintptr_t p = (uintptr_t)io->buf, base = (uintptr_t)b->ram->mem;
    uint64_t gpa = p - base;

    r->status = BLK_S_IOERR;
    switch (io->type) {
    case BLK_T_IN:
    case BLK_T_OUT:
        if (p < base || !in_ram(b->ram, gpa, io->len) ||
            io->len % SECTOR || io->sector > b->s.capacity ||
            io->len / SECTOR > b->s.capacity - io->sector ||
            (io->type == BLK_T_OUT && b->ro) || !b->nbd)
            return;
        if (!submit_rw(b, r, io->type == BLK_T_OUT, gpa, io->len,
                       io->sector * SECTOR))
            r->err = EIO;
        r->status = BLK_S_OK;   /* unless r->err, once all completed */
        return;
    case BLK_T_FLUSH:
        flush_req(b, r);
        return;
    default:
        r->status = BLK_S_UNSUPP;
        return;
    }
}

int vmm_blk_direct_io(struct vmm_blk *b, struct vmm_blk_io *io, unsigned n)
{
    sigset_t all, old;
    unsigned done, k, batch;

    if (!b->nbd) {
        for (k = 0; k < n; k++)
            io[k].status = BLK_S_IOERR;
        return -ENOTCONN;
    }
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (done = 0; done < n; done += batch) {
        batch = n - done < QSIZE ? n - done : QSIZE;

        for (k = 0; k < batch; k++) {
            memset(&b->reqs[k], 0, sizeof(b->reqs[k]));
            b->reqs[k].b = b;
            start_direct(b, &b->reqs[k], &io[done + k]);
        }
        wait_in_flight(b, 0);
        for (k = 0; k < batch; k++) {
            struct req *r = &b->reqs[k];
            struct vmm_blk_io *x = &io[done + k];

            x->status = r->err && r->status == BLK_S_OK ? BLK_S_IOERR :
                        r->status;
            if (x->type == BLK_T_IN && r->status == BLK_S_OK)
                mark_dirty(b->ram, (uintptr_t)x->buf -
                                   (uintptr_t)b->ram->mem, x->len);
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return b->nbd ? 0 : -ENOTCONN;
}

void vmm_blk_state_get(const struct vmm_blk *b, struct vmm_blk_state *s)
{
    *s = b->s;
}

int vmm_blk_state_check(const struct vmm_blk *b,
                        const struct vmm_blk_state *s)
{
    if (!!s->ro != b->ro)
        return xt_error(b->ctx, -EINVAL, "state blob: disk %u is %s there, "
                        "%s here", b->idx, s->ro ? "read-only" : "read-write",
                        b->ro ? "read-only" : "read-write");
    if (b->nbd && s->capacity && s->capacity != b->s.capacity)
        return xt_error(b->ctx, -EINVAL, "state blob: disk %u had %llu "
                        "sectors, %s has %llu", b->idx,
                        (unsigned long long)s->capacity, b->uri,
                        (unsigned long long)b->s.capacity);
    return 0;
}

void vmm_blk_state_set(struct vmm_blk *b, const struct vmm_blk_state *s)
{
    b->s = *s;
    b->s.ro = b->ro;
    memset(b->s.pad, 0, sizeof(b->s.pad));
}
