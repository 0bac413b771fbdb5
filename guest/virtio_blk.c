/*
 * virtio_blk.c - legacy virtio-blk PCI driver of the test guest (see
 * virtio_blk.h): PCI configuration mechanism #1 (ports 0xcf8/0xcfc), the
 * legacy register block in I/O BAR0, one split virtqueue in the legacy
 * layout, polled.  Freestanding ring-3 code (IOPL 3).
 */
#include <stddef.h>

#include "virtio_blk.h"

/* EIO, EINVAL, ETIMEDOUT on Linux; a freestanding build has no errno.h. */
#define VB_EIO          5
#define VB_ENODEV       19
#define VB_ENOSPC       28
#define VB_EINVAL       22
#define VB_ETIMEDOUT    110

#define PCI_ADDR        0xcf8
#define PCI_DATA        0xcfc
#define PCI_VENDOR_ID   0x00        /* dword: vendor, device */
#define PCI_COMMAND     0x04        /* word; status in the high half */
#define PCI_BAR0        0x10
#define PCI_CMD_IO      0x0001
#define PCI_CMD_MASTER  0x0004
#define VIRTIO_VENDOR   0x1af4
#define VIRTIO_BLK_LEGACY 0x1001

/* Legacy register block (no MSI-X: device config at 0x14). */
#define VR_HOST_FEATURES    0x00
#define VR_GUEST_FEATURES   0x04
#define VR_QUEUE_PFN        0x08
#define VR_QUEUE_SIZE       0x0c
#define VR_QUEUE_SELECT     0x0e
#define VR_QUEUE_NOTIFY     0x10
#define VR_STATUS           0x12
#define VR_CONFIG           0x14    /* virtio-blk: u64 capacity */

#define VS_ACKNOWLEDGE  0x01
#define VS_DRIVER       0x02
#define VS_DRIVER_OK    0x04
#define VS_FAILED       0x80

#define VIRTIO_BLK_F_RO     5
#define VIRTIO_BLK_F_FLUSH  9

#define VRING_DESC_F_NEXT       1
#define VRING_DESC_F_WRITE      2
#define VRING_AVAIL_F_NO_INTERRUPT 1
#define VRING_USED_F_NO_NOTIFY  1
#define VRING_ALIGN             4096u

struct vring_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

struct vring_avail {
    uint16_t flags;
    uint16_t idx;
    uint16_t ring[];
};

struct vring_used_elem {
    uint32_t id;
    uint32_t len;
};

struct vring_used {
    uint16_t flags;
    uint16_t idx;
    struct vring_used_elem ring[];
};

/* ---- port I/O ------------------------------------------------------------ */

static void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %b0, %w1" : : "a"(v), "Nd"(port) : "memory");
}

static void outw(uint16_t port, uint16_t v)
{
    __asm__ volatile("outw %w0, %w1" : : "a"(v), "Nd"(port) : "memory");
}

static void outl(uint16_t port, uint32_t v)
{
    __asm__ volatile("outl %0, %w1" : : "a"(v), "Nd"(port) : "memory");
}

static uint16_t inw(uint16_t port)
{
    uint16_t v;

    __asm__ volatile("inw %w1, %w0" : "=a"(v) : "Nd"(port) : "memory");
    return v;
}

static uint32_t inl(uint16_t port)
{
    uint32_t v;

    __asm__ volatile("inl %w1, %0" : "=a"(v) : "Nd"(port) : "memory");
    return v;
}

static uint64_t rdtsc(void)
{
    uint32_t lo, hi;

    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t)hi << 32 | lo;
}

/* ---- console (the guest's port, for probe messages) ---------------------- */

static void con_puts(const char *s)
{
    while (*s)
        outb(XMG_PORT_CONSOLE, (uint8_t)*s++);
}

static void con_putu(uint64_t v)
{
    char buf[20];
    int n = 0;

    do {
        buf[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        outb(XMG_PORT_CONSOLE, (uint8_t)buf[--n]);
}

static void con_putx(uint64_t v)
{
    char buf[16];
    int n = 0;

    do {
        buf[n++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    con_puts("0x");
    while (n)
        outb(XMG_PORT_CONSOLE, (uint8_t)buf[--n]);
}

/* ---- PCI ----------------------------------------------------------------- */

static uint32_t pci_addr(unsigned slot, unsigned reg)
{
    return 0x80000000u | (slot << 11) | (reg & 0xfc);
}

static uint32_t pci_read(unsigned slot, unsigned reg)
{
    outl(PCI_ADDR, pci_addr(slot, reg));
    return inl(PCI_DATA);
}

static void pci_write(unsigned slot, unsigned reg, uint32_t v)
{
    outl(PCI_ADDR, pci_addr(slot, reg));
    outl(PCI_DATA, v);
}

/* ---- the vring ---------------------------------------------------------- */

static size_t ring_used_off(unsigned q)
{
    size_t n = 16u * q + 2u * (3u + q);

    return (n + VRING_ALIGN - 1) & ~(size_t)(VRING_ALIGN - 1);
}

static size_t ring_bytes(unsigned q)
{
    return ring_used_off(q) + 2u * 3u + 8u * q;
}

static struct vring_desc *ring_desc(struct vblk_disk *d)
{
    return (struct vring_desc *)d->ring;
}

static struct vring_avail *ring_avail(struct vblk_disk *d)
{
    return (struct vring_avail *)(d->ring + 16u * d->qsize);
}

static struct vring_used *ring_used(struct vblk_disk *d)
{
    return (struct vring_used *)(d->ring + ring_used_off(d->qsize));
}

static void say_slot(unsigned slot)
{
    con_puts("xm-guest: virtio-blk at 00:");
    outb(XMG_PORT_CONSOLE, (uint8_t)("0123456789abcdef"[slot >> 4]));
    outb(XMG_PORT_CONSOLE, (uint8_t)("0123456789abcdef"[slot & 15]));
    con_puts(".0: ");
}

/* Sets the device in slot up as d; false (said why, device FAILED) if it
 * cannot be used. */
static bool setup(struct vblk_disk *d, unsigned slot)
{
    uint32_t bar = pci_read(slot, PCI_BAR0);
    uint32_t cmd = pci_read(slot, PCI_COMMAND) & 0xffff;
    uint32_t host;
    uint16_t io, q;
    size_t i;

    say_slot(slot);
    if (!(bar & 1) || (bar & 0xfffc) == 0) {
        con_puts("BAR0 is not an assigned I/O BAR, not used\n");
        return false;
    }
    io = (uint16_t)(bar & 0xfffc);
    /* Decode our port accesses and let the device reach memory; the high
     * half (status) written as 0 clears nothing. */
    if ((cmd & (PCI_CMD_IO | PCI_CMD_MASTER)) !=
        (PCI_CMD_IO | PCI_CMD_MASTER))
        pci_write(slot, PCI_COMMAND, cmd | PCI_CMD_IO | PCI_CMD_MASTER);

    outb(io + VR_STATUS, 0);                    /* reset */
    outb(io + VR_STATUS, VS_ACKNOWLEDGE);
    outb(io + VR_STATUS, VS_ACKNOWLEDGE | VS_DRIVER);
    host = inl(io + VR_HOST_FEATURES);
    d->features = host & ((1u << VIRTIO_BLK_F_FLUSH) |
                          (1u << VIRTIO_BLK_F_RO));
    outl(io + VR_GUEST_FEATURES, d->features);

    outw(io + VR_QUEUE_SELECT, 0);
    q = inw(io + VR_QUEUE_SIZE);
    if (q < 3 || q > VBLK_QUEUE_MAX || (q & (q - 1)) ||
        ring_bytes(q) > VBLK_RING_BYTES) {
        con_puts("queue 0 has ");
        con_putu(q);
        con_puts(" entries (want a power of 2 from 4 to ");
        con_putu(VBLK_QUEUE_MAX);
        con_puts("), not used\n");
        outb(io + VR_STATUS, VS_FAILED);
        return false;
    }
    for (i = 0; i < VBLK_RING_BYTES; i++)
        d->ring[i] = 0;
    d->iobase = io;
    d->qsize = q;
    d->last_used = 0;
    d->slot = (uint8_t)slot;
    d->broken = false;
    d->live = true;
    /* We poll: no interrupts, please. */
    ring_avail(d)->flags = VRING_AVAIL_F_NO_INTERRUPT;
    outl(io + VR_QUEUE_PFN, (uint32_t)((uintptr_t)d->ring >> 12));
    d->sectors = inl(io + VR_CONFIG) |
                 (uint64_t)inl(io + VR_CONFIG + 4) << 32;
    outb(io + VR_STATUS, VS_ACKNOWLEDGE | VS_DRIVER | VS_DRIVER_OK);

    con_puts("io ");
    con_putx(io);
    con_puts(" queue ");
    con_putu(q);
    con_puts(" sectors ");
    con_putu(d->sectors);
    con_puts(" features ");
    con_putx(host);
    if (d->features & (1u << VIRTIO_BLK_F_FLUSH))
        con_puts(" flush");
    if (d->features & (1u << VIRTIO_BLK_F_RO))
        con_puts(" ro");
    outb(XMG_PORT_CONSOLE, '\n');
    return true;
}

static bool is_vblk(unsigned slot)
{
    uint32_t id = pci_read(slot, PCI_VENDOR_ID);

    return (id & 0xffff) == VIRTIO_VENDOR && (id >> 16) == VIRTIO_BLK_LEGACY;
}

int vblk_attach(struct vblk_set *s, unsigned slot)
{
    unsigned i;

    if (slot >= 32 || !is_vblk(slot))
        return -VB_ENODEV;
    for (i = 0; i < VBLK_DEVS_MAX && s->disk[i].live; i++)
        ;
    if (i == VBLK_DEVS_MAX)
        return -VB_ENOSPC;
    if (!setup(&s->disk[i], slot))
        return -VB_EIO;
    if (i >= s->nr)
        s->nr = i + 1;
    return (int)i;
}

void vblk_forget(struct vblk_set *s, unsigned i)
{
    if (i < s->nr)
        s->disk[i].live = false;
}

unsigned vblk_probe(struct vblk_set *s)
{
    unsigned slot;

    if (s->probed)
        return s->nr;
    s->probed = true;
    s->nr = 0;
    for (slot = 0; slot < 32; slot++) {
        if (!is_vblk(slot))
            continue;
        if (s->nr == XMG_MAX_DISKS) {
            say_slot(slot);
            con_puts("over the guest's disks, not used\n");
            continue;
        }
        if (setup(&s->disk[s->nr], slot))
            s->nr++;
    }
    return s->nr;
}

unsigned vblk_flags(const struct vblk_set *s, unsigned i)
{
    unsigned f = 0;

    if (i >= s->nr || !s->disk[i].live)
        return 0;
    if (s->disk[i].features & (1u << VIRTIO_BLK_F_FLUSH))
        f |= XMG_BLK_F_FLUSH;
    if (s->disk[i].features & (1u << VIRTIO_BLK_F_RO))
        f |= XMG_BLK_F_RO;
    return f;
}

/* Queues requests [0, n) (n <= VBLK_REQ_MAX, 3 n <= qsize) with
 * descriptors 3 j .. 3 j + 2 for request j (all free: every earlier
 * request has completed), then notifies. */
static void submit(struct vblk_disk *d, struct xmg_blk_req *r, unsigned n)
{
    struct vring_desc *desc = ring_desc(d);
    struct vring_avail *avail = ring_avail(d);
    uint16_t idx = avail->idx;
    unsigned j;

    for (j = 0; j < n; j++) {
        unsigned h = 3 * j;

        d->hdr[j].type = r[j].type;
        d->hdr[j].ioprio = 0;
        d->hdr[j].sector = r[j].sector;
        d->status[j] = 0xff;            /* a device that says nothing */
        desc[h].addr = (uintptr_t)&d->hdr[j];
        desc[h].len = sizeof(d->hdr[j]);
        desc[h].flags = VRING_DESC_F_NEXT;
        desc[h].next = (uint16_t)(h + 1);
        if (r[j].type == XMG_BLK_T_FLUSH) {
            desc[h].next = (uint16_t)(h + 2);
        } else {
            desc[h + 1].addr = (uintptr_t)r[j].buf;
            desc[h + 1].len = r[j].len;
            desc[h + 1].flags = VRING_DESC_F_NEXT |
                (r[j].type == XMG_BLK_T_IN ? VRING_DESC_F_WRITE : 0);
            desc[h + 1].next = (uint16_t)(h + 2);
        }
        desc[h + 2].addr = (uintptr_t)&d->status[j];
        desc[h + 2].len = 1;
        desc[h + 2].flags = VRING_DESC_F_WRITE;
        desc[h + 2].next = 0;
        avail->ring[(uint16_t)(idx + j) % d->qsize] = (uint16_t)h;
    }
    /* The ring entries before the index; the index before the check of
     * the device's flags (a store then a load: a full fence). */
    __atomic_store_n(&avail->idx, (uint16_t)(idx + n), __ATOMIC_RELEASE);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (!(__atomic_load_n(&ring_used(d)->flags, __ATOMIC_ACQUIRE) &
          VRING_USED_F_NO_NOTIFY))
        outw(d->iobase + VR_QUEUE_NOTIFY, 0);
}

/* Has the device left the bus?  The hot-plug controller (guest ABI 3)
 * no longer lists its slot.  Asked only where the workload found the
 * controller (s->hp). */
static bool gone(const struct vblk_disk *d)
{
    uint32_t present = inl(XMG_PORT_HP + XMG_HP_PRESENT);

    return !(present & ~XMG_HP_SLOT_MASK) && d->slot <= XMG_HP_SLOTS &&
           !(present & (1u << d->slot));
}

/* Polls the used ring until requests [0, n) have completed; with the
 * controller (hp), every 1/1000 of the timeout, looks whether the device
 * is still there (a forced removal completes nothing). */
static int reap(struct vblk_disk *d, struct xmg_blk_req *r, unsigned n,
                uint64_t timeout_ticks, bool hp)
{
    struct vring_used *used = ring_used(d);
    uint64_t t0 = rdtsc(), look = t0 + timeout_ticks / 1000;
    unsigned pending = n, done = 0;

    while (pending) {
        uint16_t uidx = __atomic_load_n(&used->idx, __ATOMIC_ACQUIRE);

        if (uidx == d->last_used) {
            uint64_t now = rdtsc();

            if (now - t0 > timeout_ticks)
                return -VB_ETIMEDOUT;
            if (hp && (int64_t)(now - look) >= 0) {
                if (gone(d))
                    return -VB_ENODEV;
                look = now + timeout_ticks / 1000;
            }
            __asm__ volatile("pause");
            continue;
        }
        while (d->last_used != uidx) {
            uint32_t id = used->ring[d->last_used % d->qsize].id;
            unsigned j = id / 3;

            if (id % 3 || j >= n || (done & (1u << j)) || !pending)
                return -VB_EIO;         /* not a request of ours */
            done |= 1u << j;
            r[j].status = __atomic_load_n(&d->status[j], __ATOMIC_ACQUIRE);
            d->last_used++;
            pending--;
        }
    }
    return 0;
}

int vblk_io(struct vblk_set *s, unsigned i, struct xmg_blk_req *reqs,
            unsigned n)
{
    struct vblk_disk *d;
    unsigned per, j;
    int rc = 0;

    if (i >= s->nr)
        return -VB_EINVAL;
    d = &s->disk[i];
    if (!d->live)
        return -VB_ENODEV;
    if (d->broken)
        return -VB_EIO;
    for (j = 0; j < n; j++) {
        if (reqs[j].type != XMG_BLK_T_FLUSH &&
            (reqs[j].type > XMG_BLK_T_OUT || reqs[j].len == 0 ||
             reqs[j].len % 512)) {
            rc = -VB_EINVAL;
            goto out;
        }
    }
    /* As many at once as the queue and our headers hold. */
    per = d->qsize / 3 < VBLK_REQ_MAX ? d->qsize / 3 : VBLK_REQ_MAX;
    for (j = 0; j < n; j += per) {
        unsigned m = n - j < per ? n - j : per;

        submit(d, reqs + j, m);
        rc = reap(d, reqs + j, m, s->timeout_ticks, s->hp);
        if (rc < 0)
            goto out;
    }
out:
    if (rc < 0)
        d->broken = true;
    return rc;
}
