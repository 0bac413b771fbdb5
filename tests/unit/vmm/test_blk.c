/*
 * test_blk.c - xm-vmm's PCI bus and legacy virtio-blk device (vmm/vmm_pci.c,
 * vmm/vmm_blk.c) driven as a guest driver would, through port I/O, over a
 * guest-RAM buffer holding a vring built here, against a real nbdkit on a
 * unix socket (memory plugin, maximum request 64 KiB enforced by the
 * blocksize-policy filter, so requests over it must be split).
 *
 * Checks: PCI config space and BAR sizing, the virtio registers, data
 * round trips of IN/OUT, batches, FLUSH, GET_ID, UNSUPP, IOERR for requests
 * past the end and descriptors outside RAM, read-only refusal, broken
 * rings, reset, dirty bits for the pages the device wrote, release and
 * reconnect, state save/restore into another bus, connect failures.
 * Skips when nbdkit is not installed.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmm_blk.h"
#include "vmm_pci.h"
#include "xt.h"
#include "../../tap.h"

#define MEM_SIZE    (8u << 20)
#define NPAGES      (MEM_SIZE / 4096)
#define QSIZE       256u
#define DISK_SECTORS ((64u << 20) / 512)

#define VRING_DESC_F_NEXT   1u
#define VRING_DESC_F_WRITE  2u

#define T_IN        0u
#define T_OUT       1u
#define T_FLUSH     4u
#define T_GET_ID    8u
#define S_OK        0u
#define S_IOERR     1u
#define S_UNSUPP    2u
#define S_UNTOUCHED 0xaau

struct desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

/* A guest driver for one device. */
struct drv {
    struct vmm_pci *pci;
    uint8_t *mem;
    unsigned dev;               /* PCI device number */
    uint16_t bar;
    uint64_t ring;              /* guest address of the vring */
    uint16_t avail_idx;
    uint16_t next_desc;
    unsigned nreq;              /* for header/status slots */
};

static struct xt_ctx *ctx;

/* ---- nbdkit ------------------------------------------------------------- */

static pid_t start_nbdkit(const char *sock, char *const args[])
{
    struct stat st;
    pid_t pid;
    int i;

    pid = fork();
    if (pid < 0)
        tap_bail("fork");
    if (pid == 0) {
        char *argv[16] = { "nbdkit", "-f", "--exit-with-parent", "-U",
                           (char *)sock };
        int n = 5;

        for (i = 0; args[i] && n < 15; i++)
            argv[n++] = args[i];
        argv[n] = NULL;
        execvp("nbdkit", argv);
        _exit(127);
    }
    /* Ready once the socket exists (or nbdkit died). */
    for (i = 0; i < 500; i++) {
        int status;

        if (stat(sock, &st) == 0)
            return pid;
        if (waitpid(pid, &status, WNOHANG) == pid)
            return -1;
        usleep(10000);
    }
    kill(pid, SIGTERM);
    return -1;
}

static void stop_nbdkit(pid_t pid)
{
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
}

/* ---- port I/O as a guest ------------------------------------------------ */

static uint32_t in(struct vmm_pci *pci, uint16_t port, unsigned size)
{
    uint32_t v = 0xdeadbeef;

    if (!vmm_pci_port_in(pci, port, size, &v))
        v = 0xffffffff;
    return v;
}

static void out(struct vmm_pci *pci, uint16_t port, unsigned size,
                uint32_t v)
{
    vmm_pci_port_out(pci, port, size, v);
}

static uint32_t cfg_addr(unsigned bus, unsigned dev, unsigned fn,
                         unsigned reg)
{
    return 0x80000000u | bus << 16 | dev << 11 | fn << 8 | (reg & 0xfc);
}

static uint32_t cfg_rd(struct vmm_pci *pci, unsigned bus, unsigned dev,
                       unsigned fn, unsigned reg)
{
    out(pci, 0xcf8, 4, cfg_addr(bus, dev, fn, reg));
    return in(pci, 0xcfc, 4);
}

static void cfg_wr(struct vmm_pci *pci, unsigned dev, unsigned reg,
                   uint32_t v)
{
    out(pci, 0xcf8, 4, cfg_addr(0, dev, 0, reg));
    out(pci, 0xcfc, 4, v);
}

/* ---- the vring ---------------------------------------------------------- */

static struct desc *desc_at(struct drv *d, unsigned i)
{
    return (struct desc *)(d->mem + d->ring) + i;
}

static uint16_t *avail(struct drv *d)
{
    return (uint16_t *)(d->mem + d->ring + QSIZE * 16);
}

static uint16_t used_idx(struct drv *d)
{
    return __atomic_load_n((uint16_t *)(d->mem + d->ring + 8192 + 2),
                           __ATOMIC_ACQUIRE);
}

static void used_elem(struct drv *d, uint16_t i, uint32_t *id, uint32_t *len)
{
    uint32_t *e = (uint32_t *)(d->mem + d->ring + 8192 + 4) + 2 * (i % QSIZE);

    *id = e[0];
    *len = e[1];
}

static void drv_init(struct drv *d, struct vmm_pci *pci, uint8_t *mem,
                     unsigned dev, uint64_t ring)
{
    memset(d, 0, sizeof(*d));
    d->pci = pci;
    d->mem = mem;
    d->dev = dev;
    d->ring = ring;
    d->bar = cfg_rd(pci, 0, dev, 0, 0x10) & ~3u;
    memset(mem + ring, 0, 3 * 4096);
    out(pci, d->bar + 0x12, 1, 0);              /* reset */
    out(pci, d->bar + 0x12, 1, 1 | 2);          /* ACK, DRIVER */
    out(pci, d->bar + 0x04, 4, 1u << 9);        /* FLUSH */
    out(pci, d->bar + 0x0e, 2, 0);
    out(pci, d->bar + 0x08, 4, (uint32_t)(ring / 4096));
    out(pci, d->bar + 0x12, 1, 1 | 2 | 4);      /* DRIVER_OK */
}

static uint16_t add_desc(struct drv *d, uint64_t addr, uint32_t len,
                         uint16_t flags)
{
    uint16_t i = d->next_desc++ % QSIZE;
    struct desc *x = desc_at(d, i);

    x->addr = addr;
    x->len = len;
    x->flags = flags;
    x->next = (uint16_t)((i + 1) % QSIZE);
    return i;
}

/*
 * Queues a request: header, nseg data buffers (device-writable when
 * wdata), status byte.  Returns the status byte's address in mem.
 */
static uint8_t *queue_req(struct drv *d, uint32_t type, uint64_t sector,
                          const uint64_t *gpa, const uint32_t *len,
                          unsigned nseg, bool wdata)
{
    unsigned slot = d->nreq++ % 512;
    uint64_t hdr = d->ring + 0x4000 + slot * 16;
    uint64_t st = d->ring + 0x6000 + slot;
    uint16_t head, i;

    memcpy(d->mem + hdr, &type, 4);
    memset(d->mem + hdr + 4, 0, 4);
    memcpy(d->mem + hdr + 8, &sector, 8);
    d->mem[st] = S_UNTOUCHED;
    head = add_desc(d, hdr, 16, VRING_DESC_F_NEXT);
    for (i = 0; i < nseg; i++)
        add_desc(d, gpa[i], len[i], VRING_DESC_F_NEXT |
                 (wdata ? VRING_DESC_F_WRITE : 0));
    add_desc(d, st, 1, VRING_DESC_F_WRITE);
    avail(d)[2 + d->avail_idx % QSIZE] = head;
    __atomic_store_n(&avail(d)[1], ++d->avail_idx, __ATOMIC_RELEASE);
    return d->mem + st;
}

static void kick(struct drv *d)
{
    out(d->pci, d->bar + 0x10, 2, 0);
}

/* One request, kicked, its status. */
static unsigned one(struct drv *d, uint32_t type, uint64_t sector,
                    uint64_t gpa, uint32_t len, bool wdata)
{
    uint8_t *st = queue_req(d, type, sector, &gpa, &len, len ? 1 : 0,
                            wdata);

    kick(d);
    return *st;
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    size_t i;

    for (i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 7 + seed * 31 + (i >> 9));
}

/* ---- the tests ---------------------------------------------------------- */

static void test_config(struct vmm_pci *pci)
{
    uint32_t bar;

    tap_is_int(cfg_rd(pci, 0, 1, 0, 0), 0x10011af4, "dev 1: virtio vendor, "
               "legacy block device id");
    tap_is_int(cfg_rd(pci, 0, 2, 0, 0), 0x10011af4, "dev 2 present");
    tap_ok(cfg_rd(pci, 0, 0, 0, 0) == 0xffffffff, "dev 0 absent (no host "
           "bridge): all ones");
    tap_ok(cfg_rd(pci, 0, 3, 0, 0) == 0xffffffff, "dev 3 absent");
    tap_ok(cfg_rd(pci, 0, 1, 1, 0) == 0xffffffff, "function 1 absent");
    tap_ok(cfg_rd(pci, 1, 1, 0, 0) == 0xffffffff, "bus 1 absent");
    out(pci, 0xcf8, 4, cfg_addr(0, 1, 0, 0) & ~0x80000000u);
    tap_ok(in(pci, 0xcfc, 4) == 0xffffffff, "enable bit clear: all ones");
    tap_is_int(in(pci, 0xcf8, 4), cfg_addr(0, 1, 0, 0) & ~0x80000000u,
               "the address latch reads back");
    out(pci, 0xcf8, 4, cfg_addr(0, 1, 0, 0));
    tap_is_int(in(pci, 0xcfe, 2), 0x1001, "word read at 0xcfe: device id");
    tap_is_int(cfg_rd(pci, 0, 1, 0, 0x08), 0x01000000, "class 0x010000, "
               "revision 0");
    tap_is_int((cfg_rd(pci, 0, 1, 0, 0x0c) >> 16) & 0xff, 0, "header type 0");
    tap_is_int(cfg_rd(pci, 0, 1, 0, 0x2c), 0x00021af4, "subsystem: virtio, "
               "block (2)");
    tap_is_int(cfg_rd(pci, 0, 1, 0, 0x04) & 1, 1, "I/O decoding enabled");
    tap_is_int(cfg_rd(pci, 0, 1, 0, 0x10), 0xc001, "dev 1 BAR0: I/O at "
               "0xc000");
    tap_is_int(cfg_rd(pci, 0, 2, 0, 0x10), 0xc041, "dev 2 BAR0: I/O at "
               "0xc040");
    tap_is_int(cfg_rd(pci, 0, 1, 0, 0x14), 0, "BAR1 unimplemented");
    bar = cfg_rd(pci, 0, 1, 0, 0x10);
    cfg_wr(pci, 1, 0x10, 0xffffffff);
    tap_is_int(cfg_rd(pci, 0, 1, 0, 0x10), 0xffffffc1, "BAR sizing: 0x40 "
               "bytes of I/O");
    tap_ok(in(pci, 0xc000, 4) == 0xffffffff && in(pci, 0xc000, 4) ==
           0xffffffff, "the BAR decodes nothing while sized");
    cfg_wr(pci, 1, 0x10, 0xd000);
    tap_is_int(in(pci, 0xd00c, 2), QSIZE, "a moved BAR decodes at its new "
               "place");
    cfg_wr(pci, 1, 0x10, bar);
    cfg_wr(pci, 1, 0x04, 0);
    tap_ok(in(pci, 0xc00c, 2) == 0xffffffff, "I/O decoding off: nothing");
    cfg_wr(pci, 1, 0x04, 1);
    tap_is_int(in(pci, 0xc00c, 2), QSIZE, "I/O decoding on again: queue "
               "size 256");
    tap_ok(!vmm_pci_port_in(pci, 0xe9, 1, &bar), "other ports are not the "
           "bus's");
}

static void test_registers(struct vmm_pci *pci)
{
    uint64_t cap;

    tap_is_int(in(pci, 0xc000, 4) & (1u << 9 | 1u << 5), 1u << 9, "disk 0: "
               "FLUSH offered, not RO");
    tap_is_int(in(pci, 0xc040, 4) & (1u << 5), 1u << 5, "disk 1 (--disk-ro): "
               "RO offered");
    cap = in(pci, 0xc014, 4) | (uint64_t)in(pci, 0xc018, 4) << 32;
    tap_is_int((long long)cap, DISK_SECTORS, "capacity in 512-byte sectors "
               "at 0x14");
    tap_is_int(in(pci, 0xc028, 4), 512, "blk_size 512");
    out(pci, 0xc00e, 2, 1);
    tap_is_int(in(pci, 0xc00c, 2), 0, "queue 1 does not exist (size 0)");
    out(pci, 0xc00e, 2, 0);
}

static void test_io(struct drv *d, struct drv *ro, struct vmm_pci *pci)
{
    uint8_t *mem = d->mem;
    uint64_t *bm = xt_bitmap_alloc(NPAGES);
    uint64_t gpa[2] = { 0x100000, 0x100800 }, big = 0x200000;
    uint32_t len[2] = { 2048, 2048 }, id, ulen;
    uint8_t *st[16];
    uint16_t u0;
    unsigned i;
    bool ok;

    if (!bm)
        tap_bail("out of memory");
    fill(mem + 0x100000, 4096, 1);
    st[0] = queue_req(d, T_OUT, 100, gpa, len, 2, false);
    kick(d);
    tap_is_int(*st[0], S_OK, "OUT of 8 sectors in two descriptors");
    tap_is_int(used_idx(d), 1, "used index 1");

    memset(mem + 0x180000, 0, 4096);
    vmm_pci_dirty_merge(pci, bm, true);     /* start clean */
    xt_bitmap_zero(bm, NPAGES);
    tap_is_int(one(d, T_IN, 100, 0x180000, 4096, true), S_OK, "IN of the "
               "same 8 sectors");
    tap_ok(!memcmp(mem + 0x100000, mem + 0x180000, 4096), "data round trip");
    used_elem(d, 1, &id, &ulen);
    tap_is_int(ulen, 4097, "used length: data and status byte");

    vmm_pci_dirty_merge(pci, bm, false);
    tap_ok(xt_bitmap_test(bm, 0x180000 / 4096), "the IN data page is dirty");
    tap_ok(xt_bitmap_test(bm, (d->ring + 0x6000) / 4096), "the status page "
           "is dirty");
    tap_ok(xt_bitmap_test(bm, (d->ring + 8192) / 4096), "the used ring page "
           "is dirty");
    tap_ok(!xt_bitmap_test(bm, 0x100000 / 4096), "the OUT data page (only "
           "read) is not");
    tap_is_int(xt_bitmap_popcount(bm, NPAGES), 3, "nothing else is");
    xt_bitmap_zero(bm, NPAGES);
    vmm_pci_dirty_merge(pci, bm, true);
    tap_is_int(xt_bitmap_popcount(bm, NPAGES), 3, "a peek does not clear");
    xt_bitmap_zero(bm, NPAGES);
    vmm_pci_dirty_merge(pci, bm, true);
    tap_is_int(xt_bitmap_popcount(bm, NPAGES), 0, "a harvest does");

    /* 1 MiB: the server takes at most 64 KiB a request. */
    fill(mem + big, 1u << 20, 2);
    tap_is_int(one(d, T_OUT, 2048, big, 1u << 20, false), S_OK, "OUT of 1 "
               "MiB, split for the server's 64 KiB maximum");
    memset(mem + big + (1u << 20), 0, 1u << 20);
    tap_is_int(one(d, T_IN, 2048, big + (1u << 20), 1u << 20, true), S_OK,
               "IN of 1 MiB");
    tap_ok(!memcmp(mem + big, mem + big + (1u << 20), 1u << 20), "1 MiB "
           "round trip");
    xt_bitmap_zero(bm, NPAGES);
    vmm_pci_dirty_merge(pci, bm, true);
    for (ok = true, i = 0; i < 256; i++)
        ok &= xt_bitmap_test(bm, (big + (1u << 20)) / 4096 + i);
    tap_ok(ok, "all 256 pages of the IN buffer are dirty");

    /* A batch: 16 reads of 4 KiB before one notify. */
    u0 = used_idx(d);
    memset(mem + 0x400000, 0, 16 * 4096);
    for (i = 0; i < 16; i++) {
        uint64_t g = 0x400000 + i * 4096;
        uint32_t l = 4096;

        st[i] = queue_req(d, T_IN, 2048 + i * 8, &g, &l, 1, true);
    }
    kick(d);
    for (ok = true, i = 0; i < 16; i++)
        ok &= *st[i] == S_OK;
    tap_ok(ok, "16 requests of one notify all completed OK");
    tap_is_int((uint16_t)(used_idx(d) - u0), 16, "16 used entries");
    tap_ok(!memcmp(mem + 0x400000, mem + big, 16 * 4096), "their data");

    tap_is_int(one(d, T_IN, DISK_SECTORS - 4, 0x180000, 4096, true),
               S_IOERR, "IN across the disk's end: IOERR");
    tap_is_int(one(d, T_OUT, DISK_SECTORS, 0x180000, 512, false), S_IOERR,
               "OUT past the end: IOERR");
    tap_is_int(one(d, T_IN, ~0ull / 512, 0x180000, 512, true), S_IOERR,
               "a huge sector number: IOERR");
    tap_is_int(one(d, T_IN, 0, MEM_SIZE - 100, 512, true), S_IOERR,
               "IN into a buffer past guest RAM: IOERR");
    tap_is_int(one(d, T_OUT, 0, 1ull << 63, 512, false), S_IOERR,
               "OUT from an address far outside RAM: IOERR");
    tap_is_int(one(d, T_IN, 0, 0x180000, 500, true), S_IOERR,
               "IN of a length that is no multiple of 512: IOERR");
    tap_is_int(one(d, T_IN, 0, 0x180000, 512, false), S_IOERR,
               "IN into a device-readable buffer: IOERR");
    {
        uint8_t *s = queue_req(d, T_IN, 0, gpa, len, 1, true);

        desc_at(d, (uint16_t)(d->next_desc - 3))->addr = MEM_SIZE - 8;
        kick(d);
        tap_is_int(*s, S_IOERR, "a header past guest RAM: IOERR");
    }

    tap_is_int(one(d, T_FLUSH, 0, 0, 0, false), S_OK, "FLUSH");
    memset(mem + 0x180000, 0, 32);
    tap_is_int(one(d, T_GET_ID, 0, 0x180000, 20, true), S_OK, "GET_ID");
    tap_ok(!strcmp((char *)mem + 0x180000, "xm-vmm-disk0"), "its id: '%s'",
           (char *)mem + 0x180000);
    tap_is_int(one(d, 99, 0, 0x180000, 512, true), S_UNSUPP, "an unknown "
               "type: UNSUPP");

    /* The read-only disk sees disk 0's data (one export), refuses writes. */
    memset(mem + 0x190000, 0, 4096);
    tap_is_int(one(ro, T_IN, 100, 0x190000, 4096, true), S_OK, "RO disk: "
               "IN");
    tap_ok(!memcmp(mem + 0x190000, mem + 0x100000, 4096), "RO disk: the data");
    tap_is_int(one(ro, T_OUT, 100, 0x180000, 4096, false), S_IOERR,
               "RO disk: OUT fails with IOERR");
    memset(mem + 0x190000, 0, 4096);
    one(ro, T_IN, 100, 0x190000, 4096, true);
    tap_ok(!memcmp(mem + 0x190000, mem + 0x100000, 4096), "RO disk: the "
           "refused write changed nothing");
    tap_is_int(one(ro, T_FLUSH, 0, 0, 0, false), S_OK, "RO disk: FLUSH");
    free(bm);
}

static void test_broken(struct drv *d)
{
    uint32_t id, ulen;
    uint16_t u0 = used_idx(d), head;
    struct desc *x;

    /* A chain that loops on itself. */
    head = add_desc(d, d->ring + 0x4000, 16, VRING_DESC_F_NEXT);
    x = desc_at(d, head);
    x->next = head;
    avail(d)[2 + d->avail_idx % QSIZE] = head;
    __atomic_store_n(&avail(d)[1], ++d->avail_idx, __ATOMIC_RELEASE);
    kick(d);
    used_elem(d, u0, &id, &ulen);
    tap_ok(used_idx(d) == (uint16_t)(u0 + 1) && id == head && ulen == 0,
           "a looping chain is returned unused (len 0)");
    tap_is_int(one(d, T_IN, 0, 0x180000, 512, true), S_OK, "the next "
               "request works");

    /* An avail index far ahead: the ring is broken until a reset. */
    u0 = used_idx(d);
    __atomic_store_n(&avail(d)[1], (uint16_t)(d->avail_idx + 1000),
                     __ATOMIC_RELEASE);
    kick(d);
    tap_is_int(used_idx(d), u0, "an avail index 1000 ahead: nothing taken");
    __atomic_store_n(&avail(d)[1], d->avail_idx, __ATOMIC_RELEASE);
    queue_req(d, T_IN, 0, (uint64_t[]){ 0x180000 }, (uint32_t[]){ 512 }, 1,
              true);
    kick(d);
    tap_is_int(used_idx(d), u0, "... nor afterwards");

    out(d->pci, d->bar + 0x12, 1, 0);
    tap_ok(in(d->pci, d->bar + 0x08, 4) == 0 &&
           in(d->pci, d->bar + 0x04, 4) == 0 &&
           in(d->pci, d->bar + 0x12, 1) == 0, "status 0 resets: queue PFN, "
           "features, status");
    in(d->pci, d->bar + 0x13, 1);
    tap_is_int(in(d->pci, d->bar + 0x13, 1), 0, "ISR read clears");
    drv_init(d, d->pci, d->mem, d->dev, d->ring);
    tap_is_int(one(d, T_IN, 0, 0x180000, 512, true), S_OK, "after reset and "
               "set-up, requests work");
    tap_is_int(in(d->pci, d->bar + 0x13, 1) & 1, 1, "ISR bit 0 set after "
               "completion");
}

/* The sim engine's path: requests without a vring. */
static void test_direct(struct vmm_pci *pci, uint8_t *mem)
{
    uint64_t *bm = xt_bitmap_alloc(NPAGES);
    struct vmm_blk_io io[3];
    int rc;

    if (!bm)
        tap_bail("out of memory");
    tap_is_int((long long)vmm_pci_disk_sectors(pci, 0), DISK_SECTORS,
               "direct: disk 0's sectors");
    tap_ok(!vmm_pci_disk_read_only(pci, 0) && vmm_pci_disk_read_only(pci, 1),
           "direct: disk 1 is the read-only one");
    fill(mem + 0x500000, 8192, 9);
    memset(mem + 0x510000, 0, 8192);
    io[0] = (struct vmm_blk_io){ T_OUT, 0xaa, 5000, mem + 0x500000, 8192 };
    io[1] = (struct vmm_blk_io){ T_FLUSH, 0xaa, 0, NULL, 0 };
    rc = vmm_pci_disk_io(pci, 0, io, 2);
    tap_ok(rc == 0 && io[0].status == S_OK && io[1].status == S_OK,
           "direct: OUT and FLUSH (%d, %u, %u)", rc, io[0].status,
           io[1].status);
    vmm_pci_dirty_merge(pci, bm, true);
    xt_bitmap_zero(bm, NPAGES);
    io[0] = (struct vmm_blk_io){ T_IN, 0xaa, 5000, mem + 0x510000, 8192 };
    io[1] = (struct vmm_blk_io){ T_IN, 0xaa, DISK_SECTORS - 1,
                                 mem + 0x520000, 1024 };
    io[2] = (struct vmm_blk_io){ T_IN, 0xaa, 0, mem + MEM_SIZE - 512, 1024 };
    rc = vmm_pci_disk_io(pci, 0, io, 3);
    tap_ok(rc == 0 && io[0].status == S_OK && io[1].status == S_IOERR &&
           io[2].status == S_IOERR, "direct: IN OK, past the end and past "
           "RAM IOERR (%u %u %u)", io[0].status, io[1].status, io[2].status);
    tap_ok(!memcmp(mem + 0x500000, mem + 0x510000, 8192), "direct: data "
           "round trip");
    vmm_pci_dirty_merge(pci, bm, true);
    tap_ok(xt_bitmap_test(bm, 0x510000 / 4096) &&
           xt_bitmap_test(bm, 0x511000 / 4096) &&
           xt_bitmap_popcount(bm, NPAGES) == 2, "direct: exactly the two "
           "pages read into are dirty");
    io[0] = (struct vmm_blk_io){ T_OUT, 0xaa, 5000, mem + 0x500000, 512 };
    rc = vmm_pci_disk_io(pci, 1, io, 1);
    tap_ok(rc == 0 && io[0].status == S_IOERR, "direct: OUT on the "
           "read-only disk: IOERR");
    tap_is_int(vmm_pci_disk_io(pci, 2, io, 1), -ENODEV, "direct: no disk "
               "2");
    free(bm);
}

static void test_release(struct drv *d, struct vmm_pci *pci)
{
    tap_is_int(vmm_pci_disks_release(pci), 0, "release (pause): flush, close");
    tap_is_int(one(d, T_IN, 100, 0x180000, 4096, true), S_IOERR, "a request "
               "while released: IOERR");
    {
        struct vmm_blk_io io = { T_IN, 0xaa, 0, d->mem + 0x180000, 512 };

        tap_is_int(vmm_pci_disk_io(pci, 0, &io, 1), -ENOTCONN, "direct: "
                   "while released, -ENOTCONN");
    }
    tap_is_int(vmm_pci_disks_connect(pci), 0, "reconnect (resume)");
    memset(d->mem + 0x180000, 0, 4096);
    tap_is_int(one(d, T_IN, 100, 0x180000, 4096, true), S_OK, "IN after the "
               "reconnect");
    tap_ok(!memcmp(d->mem + 0x100000, d->mem + 0x180000, 4096),
           "the data written before is there");
}

/*
 * Slots in the state: a bus with the second disk in slot 3 refuses the
 * section of one with it in slot 2; a version 2 section (the kvm blob 2:
 * a short header, no slot in the records) is taken as slots 1..n.
 */
static void test_state_slots(struct drv *d, const void *st, size_t len,
                             const struct vmm_disk_cfg *disks)
{
    size_t hdr3 = vmm_pci_state_size(0), hdr2 = vmm_pci_state_size_v2(0);
    size_t rec = (len - hdr3) / 2, len2 = vmm_pci_state_size_v2(2);
    struct vmm_disk_cfg moved[2] = { disks[0], disks[1] };
    uint8_t *v2 = calloc(1, len2);
    struct vmm_pci *p;
    int rc;

    if (!v2)
        tap_bail("out of memory");
    moved[1].slot = 3;
    p = vmm_pci_new(ctx, d->mem, MEM_SIZE, moved, 2);
    rc = p ? vmm_pci_state_restore(p, st, len) : -ENOMEM;
    tap_is_int(rc, -EINVAL, "disks in slots 1, 2 into a bus with 1, 3: "
               "refused");
    tap_ok(strstr(ctx->err_msg, "slots") != NULL, "saying so: %s",
           ctx->err_msg);
    vmm_pci_free(p);

    /* The version 2 section of the same state. */
    memcpy(v2, st, 8);                  /* latch, number of disks */
    memcpy(v2 + hdr2, (const uint8_t *)st + hdr3, 2 * rec);
    v2[hdr2 + 7] = v2[hdr2 + rec + 7] = 0;  /* the slot was a pad */
    p = vmm_pci_new(ctx, d->mem, MEM_SIZE, disks, 2);
    rc = p ? vmm_pci_state_restore_v2(p, v2, len2) : -ENOMEM;
    tap_is_int(rc, 0, "a version 2 section is taken (slots 1, 2)");
    vmm_pci_free(p);
    p = vmm_pci_new(ctx, d->mem, MEM_SIZE, moved, 2);
    rc = p ? vmm_pci_state_restore_v2(p, v2, len2) : -ENOMEM;
    tap_is_int(rc, -EINVAL, "but not into slots 1, 3");
    vmm_pci_free(p);
    free(v2);
}

static void test_state(struct drv *d, struct vmm_pci *pci,
                       const struct vmm_disk_cfg *disks, const char *small)
{
    size_t len = vmm_pci_state_size(2);
    void *st = malloc(len);
    struct vmm_pci *p2, *p1;
    struct vmm_disk_cfg bad[2];
    int rc;

    if (!st)
        tap_bail("out of memory");
    vmm_pci_state_save(pci, st);
    vmm_pci_disks_release(pci);
    p2 = vmm_pci_new(ctx, d->mem, MEM_SIZE, disks, 2);
    tap_ok(p2 != NULL, "a second bus (a migration's destination)");
    tap_is_int(vmm_pci_state_restore(p2, st, len), 0, "state restored");
    tap_is_int(vmm_pci_disks_connect(p2), 0, "its disks connect");
    d->pci = p2;
    memset(d->mem + 0x180000, 0, 4096);
    tap_is_int(one(d, T_IN, 100, 0x180000, 4096, true), S_OK, "the guest's "
               "ring goes on on the second bus");
    tap_ok(!memcmp(d->mem + 0x100000, d->mem + 0x180000, 4096), "with the "
           "data");
    vmm_pci_free(p2);
    d->pci = pci;
    vmm_pci_disks_connect(pci);

    ctx->quiet_errors = true;
    p1 = vmm_pci_new(ctx, d->mem, MEM_SIZE, disks, 1);
    rc = p1 ? vmm_pci_state_restore(p1, st, len) : -ENOMEM;
    tap_is_int(rc, -EINVAL, "restore with 2 disks into a bus with 1: "
               "refused");
    tap_ok(strstr(ctx->err_msg, "--disk") != NULL, "saying so: %s",
           ctx->err_msg);
    vmm_pci_free(p1);
    test_state_slots(d, st, len, disks);

    bad[0] = disks[0];
    bad[1] = (struct vmm_disk_cfg){ disks[1].uri, false, 0, 0 };
    p1 = vmm_pci_new(ctx, d->mem, MEM_SIZE, bad, 2);
    rc = p1 ? vmm_pci_state_restore(p1, st, len) : -ENOMEM;
    tap_is_int(rc, -EINVAL, "restore of a read-only disk into a read-write "
               "one: refused");
    vmm_pci_free(p1);

    bad[1] = (struct vmm_disk_cfg){ small, true, 0, 0 };
    p1 = vmm_pci_new(ctx, d->mem, MEM_SIZE, bad, 2);
    rc = p1 ? vmm_pci_state_restore(p1, st, len) : -ENOMEM;
    if (rc == 0)
        rc = vmm_pci_disks_connect(p1);
    tap_is_int(rc, -EINVAL, "a disk of another size than the guest knows: "
               "connect refused");
    tap_ok(strstr(ctx->err_msg, "disk 1") != NULL, "naming it: %s",
           ctx->err_msg);
    if (p1) {
        /* Disk 0 connected before disk 1 failed: closed again. */
        d->pci = p1;
        tap_is_int(one(d, T_IN, 100, 0x180000, 4096, true), S_IOERR,
                   "all or nothing: disk 0 was disconnected again");
        d->pci = pci;
    }
    vmm_pci_free(p1);
    ctx->quiet_errors = false;
    free(st);
}

static void test_connect_errors(uint8_t *mem, const char *dir,
                                const char *ro_uri)
{
    char uri[512];
    struct vmm_disk_cfg c = { uri, false, 0, 0 };
    struct vmm_pci *p;
    int rc;

    ctx->quiet_errors = true;
    snprintf(uri, sizeof(uri), "nbd+unix:///?socket=%s/nothing.sock", dir);
    p = vmm_pci_new(ctx, mem, MEM_SIZE, &c, 1);
    rc = p ? vmm_pci_disks_connect(p) : -ENOMEM;
    tap_ok(rc < 0, "no server: connect fails (%d)", rc);
    tap_ok(strstr(ctx->err_msg, "disk 0") && strstr(ctx->err_msg, uri),
           "naming the disk and its URI: %s", ctx->err_msg);
    vmm_pci_free(p);

    c.uri = ro_uri;
    p = vmm_pci_new(ctx, mem, MEM_SIZE, &c, 1);
    rc = p ? vmm_pci_disks_connect(p) : -ENOMEM;
    tap_is_int(rc, -EROFS, "a read-write disk on a read-only export: "
               "refused");
    vmm_pci_free(p);
    ctx->quiet_errors = false;
}

/* A server that answers reads after 3 s, a device with a 300 ms timeout:
 * the read fails with IOERR in well under the server's delay, the
 * connection is dropped, and the next request fails at once. */
static void test_timeout(const char *dir)
{
    char *args[] = { "--filter=delay", "memory", "16M", "rdelay=3",
                     NULL };
    char sock[300], uri[340];
    struct vmm_disk_cfg c = { uri, false, 300, 0 };
    struct vmm_pci *p;
    struct drv d;
    uint8_t *mem;
    uint64_t t0, ms;
    pid_t srv;

    snprintf(sock, sizeof(sock), "%s/slow.sock", dir);
    snprintf(uri, sizeof(uri), "nbd+unix:///?socket=%s", sock);
    srv = start_nbdkit(sock, args);
    mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (srv < 0 || mem == MAP_FAILED)
        tap_bail("slow server");
    p = vmm_pci_new(ctx, mem, MEM_SIZE, &c, 1);
    if (!p || vmm_pci_disks_connect(p) < 0)
        tap_bail(ctx->err_msg);
    drv_init(&d, p, mem, 1, 0x10000);
    tap_is_int(one(&d, T_OUT, 0, 0x180000, 4096, false), S_OK,
               "a slow server: writes still complete");
    t0 = xt_now_ns();
    tap_is_int(one(&d, T_IN, 0, 0x180000, 4096, true), S_IOERR,
               "a read it answers after 3 s, with a 300 ms timeout: IOERR");
    ms = (xt_now_ns() - t0) / 1000000;
    tap_ok(ms >= 250 && ms < 2000, "after about the timeout (%llu ms)",
           (unsigned long long)ms);
    t0 = xt_now_ns();
    tap_is_int(one(&d, T_IN, 8, 0x180000, 4096, true), S_IOERR,
               "the connection is dropped: the next read fails too");
    tap_ok((xt_now_ns() - t0) / 1000000 < 250, "at once");
    vmm_pci_free(p);
    munmap(mem, MEM_SIZE);
    stop_nbdkit(srv);
    unlink(sock);
}

int main(void)
{
    char dir[] = "/tmp/test_blk.XXXXXX", sock[256], sock_ro[256];
    char uri[300], uri_ro[300];
    char *args[] = { "--filter=blocksize-policy", "memory", "64M",
                     "blocksize-maximum=65536",
                     "blocksize-error-policy=error", NULL };
    char *args_ro[] = { "-r", "memory", "32M", NULL };
    struct vmm_disk_cfg disks[2];
    struct vmm_pci *pci;
    struct drv d0, d1;
    pid_t srv, srv_ro;
    uint8_t *mem;

    if (system("nbdkit --version >/dev/null 2>&1") != 0)
        tap_skip_all("nbdkit is not installed (Debian package nbdkit)");
    if (!mkdtemp(dir))
        tap_bail("mkdtemp");
    snprintf(sock, sizeof(sock), "%s/disk.sock", dir);
    snprintf(sock_ro, sizeof(sock_ro), "%s/ro.sock", dir);
    srv = start_nbdkit(sock, args);
    srv_ro = start_nbdkit(sock_ro, args_ro);
    if (srv < 0 || srv_ro < 0)
        tap_bail("nbdkit did not start");
    snprintf(uri, sizeof(uri), "nbd+unix:///?socket=%s", sock);
    snprintf(uri_ro, sizeof(uri_ro), "nbd+unix:///?socket=%s", sock_ro);

    ctx = xt_ctx_new("test_blk");
    mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (!ctx || mem == MAP_FAILED)
        tap_bail("set-up");
    disks[0] = (struct vmm_disk_cfg){ uri, false, 0, 0 };
    disks[1] = (struct vmm_disk_cfg){ uri, true, 0, 0 };
    pci = vmm_pci_new(ctx, mem, MEM_SIZE, disks, 2);
    if (!pci)
        tap_bail(ctx->err_msg);
    tap_is_int(vmm_pci_nr_disks(pci), 2, "two disks");

    test_config(pci);
    tap_is_int(vmm_pci_disks_connect(pci), 0, "both disks connect");
    test_registers(pci);
    drv_init(&d0, pci, mem, 1, 0x10000);
    drv_init(&d1, pci, mem, 2, 0x20000);
    test_io(&d0, &d1, pci);
    test_broken(&d0);
    test_direct(pci, mem);
    test_release(&d0, pci);
    test_state(&d0, pci, disks, uri_ro);
    test_connect_errors(mem, dir, uri_ro);
    test_timeout(dir);

    vmm_pci_free(pci);
    munmap(mem, MEM_SIZE);
    xt_ctx_free(ctx);
    stop_nbdkit(srv);
    stop_nbdkit(srv_ro);
    unlink(sock);
    unlink(sock_ro);
    rmdir(dir);
    return tap_done();
}
