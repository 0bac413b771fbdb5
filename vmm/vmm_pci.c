/*
 * vmm_pci.c - PCI bus 0 of xm-vmm: the type-1 configuration mechanism
 * (address latch at 0xcf8, data at 0xcfc..0xcff), no host bridge, one
 * legacy virtio-blk function per disk at device numbers 1.. (function 0),
 * each with one I/O BAR pre-assigned at 0xc000 + 0x40 * i and I/O
 * decoding already enabled.  The guest may size and move the BAR with the
 * standard protocol.  docs/design/vmm-disks.md is the description.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "vmm_blk.h"
#include "vmm_pci.h"

#define PCI_ADDR_PORT       0xcf8u
#define PCI_DATA_PORT       0xcfcu
#define PCI_ADDR_ENABLE     0x80000000u

#define VIRTIO_VENDOR       0x1af4u
#define VIRTIO_BLK_LEGACY   0x1001u
#define VIRTIO_SUBSYS_BLK   0x0002u
#define CLASS_STORAGE_SCSI  0x01000000u     /* class, subclass, prog-if, rev */

#define PCI_CMD_IO          0x0001u
#define PCI_CMD_WRITABLE    0x0007u         /* I/O, memory, bus master */
#define BAR_IO              0x1u
#define BAR_BASE            0xc000u

/*
 * Locks: pci->lock guards the latch and every device's config fields, and
 * is held only briefly; dev->io guards dev->blk, held through a notify's
 * NBD I/O.  Port I/O takes one, then (released) the other; the control
 * thread's state calls nest them, the bus lock first.  So a vCPU waiting
 * for its disk never holds up another vCPU's heartbeat.
 */
struct pci_dev {
    pthread_mutex_t io;
    struct vmm_blk *blk;
    uint16_t command;
    uint8_t int_line;
    uint32_t bar0;              /* address bits (BAR size aligned) */
};

struct vmm_pci {
    struct xt_ctx *ctx;
    pthread_mutex_t lock;
    struct vmm_ram ram;
    uint32_t addr;              /* the 0xcf8 latch */
    unsigned nr;
    struct pci_dev dev[VMM_MAX_DISKS];
};

/* The migrated state: a header, then one record per device. */
struct pci_dev_state {
    uint32_t bar0;
    uint16_t command;
    uint8_t int_line;
    uint8_t pad;
    struct vmm_blk_state blk;
};

struct pci_state {
    uint32_t addr;
    uint32_t nr_disks;
    struct pci_dev_state dev[];
};

struct vmm_pci *vmm_pci_new(struct xt_ctx *ctx, uint8_t *mem,
                            size_t mem_size, const struct vmm_disk_cfg *disks,
                            unsigned nr_disks)
{
    struct vmm_pci *pci;
    unsigned i;

    if (nr_disks > VMM_MAX_DISKS) {
        xt_error(ctx, -EINVAL, "%u disks, at most %u", nr_disks,
                 VMM_MAX_DISKS);
        return NULL;
    }
    pci = calloc(1, sizeof(*pci));
    if (!pci) {
        xt_error(ctx, -ENOMEM, "PCI bus");
        return NULL;
    }
    pci->ctx = ctx;
    pthread_mutex_init(&pci->lock, NULL);
    pci->ram.mem = mem;
    pci->ram.size = mem_size;
    pci->ram.nr_pages = (mem_size + 4095) / 4096;
    pci->ram.dirty = xt_bitmap_alloc(pci->ram.nr_pages);
    if (!pci->ram.dirty) {
        xt_error(ctx, -ENOMEM, "device dirty bitmap");
        goto fail;
    }
    for (i = 0; i < nr_disks; i++) {
        struct pci_dev *d = &pci->dev[i];

        d->blk = vmm_blk_new(ctx, &pci->ram, i, disks[i].uri, disks[i].ro,
                             disks[i].timeout_ms);
        if (!d->blk)
            goto fail;
        pthread_mutex_init(&d->io, NULL);
        d->command = PCI_CMD_IO;
        d->bar0 = BAR_BASE + VMM_BLK_BAR_SIZE * i;
        pci->nr++;
    }
    return pci;
fail:
    vmm_pci_free(pci);
    return NULL;
}

void vmm_pci_free(struct vmm_pci *pci)
{
    unsigned i;

    if (!pci)
        return;
    vmm_pci_disks_release(pci);
    for (i = 0; i < pci->nr; i++) {
        vmm_blk_free(pci->dev[i].blk);
        pthread_mutex_destroy(&pci->dev[i].io);
    }
    free(pci->ram.dirty);
    pthread_mutex_destroy(&pci->lock);
    free(pci);
}

unsigned vmm_pci_nr_disks(const struct vmm_pci *pci)
{
    return pci ? pci->nr : 0;
}

/* The device the latch selects, or NULL (all ones). */
static struct pci_dev *selected(struct vmm_pci *pci)
{
    uint32_t a = pci->addr;
    unsigned bus = (a >> 16) & 0xff, dev = (a >> 11) & 0x1f,
             fn = (a >> 8) & 0x7;

    if (!(a & PCI_ADDR_ENABLE) || bus != 0 || fn != 0 || dev == 0 ||
        dev > pci->nr)
        return NULL;
    return &pci->dev[dev - 1];
}

static uint32_t cfg_dword(const struct pci_dev *d, unsigned reg)
{
    switch (reg) {
    case 0x00: return VIRTIO_BLK_LEGACY << 16 | VIRTIO_VENDOR;
    case 0x04: return d->command;               /* status 0 */
    case 0x08: return CLASS_STORAGE_SCSI;       /* revision 0 */
    case 0x0c: return 0;                        /* header type 0 */
    case 0x10: return d->bar0 | BAR_IO;
    case 0x2c: return VIRTIO_SUBSYS_BLK << 16 | VIRTIO_VENDOR;
    case 0x3c: return 1u << 8 | d->int_line;    /* INTA#, never raised */
    default: return 0;
    }
}

static void cfg_write(struct pci_dev *d, unsigned reg, uint32_t val)
{
    switch (reg) {
    case 0x04:
        d->command = val & PCI_CMD_WRITABLE;
        break;
    case 0x10:
        /* Sizing writes all ones and reads back ~(size - 1) | IO. */
        d->bar0 = val & ~(uint32_t)(VMM_BLK_BAR_SIZE - 1) & ~BAR_IO;
        break;
    case 0x3c:
        d->int_line = val & 0xff;
        break;
    default:
        break;      /* read-only */
    }
}

/* The device whose BAR decodes port, and the offset in it. */
static struct pci_dev *bar_of(struct vmm_pci *pci, uint16_t port,
                              unsigned *off_r)
{
    unsigned i;

    for (i = 0; i < pci->nr; i++) {
        struct pci_dev *d = &pci->dev[i];

        if ((d->command & PCI_CMD_IO) && port >= d->bar0 &&
            port - d->bar0 < VMM_BLK_BAR_SIZE) {
            *off_r = port - d->bar0;
            return d;
        }
    }
    return NULL;
}

bool vmm_pci_port_in(struct vmm_pci *pci, uint16_t port, unsigned size,
                     uint32_t *val_r)
{
    struct pci_dev *d;
    uint32_t mask = size >= 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
    unsigned off;
    bool mine = true;

    if (!pci || (!pci->nr && (port < PCI_ADDR_PORT ||
                              port >= PCI_DATA_PORT + 4)))
        return false;
    pthread_mutex_lock(&pci->lock);
    if (port >= PCI_ADDR_PORT && port < PCI_ADDR_PORT + 4) {
        *val_r = port == PCI_ADDR_PORT && size == 4 ? pci->addr : mask;
    } else if (port >= PCI_DATA_PORT && port < PCI_DATA_PORT + 4) {
        unsigned byte = port - PCI_DATA_PORT;

        d = selected(pci);
        if (!d || byte + size > 4) {
            *val_r = mask;
        } else {
            uint32_t v = cfg_dword(d, pci->addr & 0xfc);

            *val_r = (v >> (8 * byte)) & mask;
        }
    } else if ((d = bar_of(pci, port, &off)) != NULL) {
        pthread_mutex_unlock(&pci->lock);
        pthread_mutex_lock(&d->io);
        *val_r = vmm_blk_reg_read(d->blk, off, size) & mask;
        pthread_mutex_unlock(&d->io);
        return true;
    } else {
        mine = false;
    }
    pthread_mutex_unlock(&pci->lock);
    return mine;
}

bool vmm_pci_port_out(struct vmm_pci *pci, uint16_t port, unsigned size,
                      uint32_t val)
{
    struct pci_dev *d;
    unsigned off;
    bool mine = true;

    if (!pci || (!pci->nr && (port < PCI_ADDR_PORT ||
                              port >= PCI_DATA_PORT + 4)))
        return false;
    pthread_mutex_lock(&pci->lock);
    if (port >= PCI_ADDR_PORT && port < PCI_ADDR_PORT + 4) {
        if (port == PCI_ADDR_PORT && size == 4)
            pci->addr = val;
    } else if (port >= PCI_DATA_PORT && port < PCI_DATA_PORT + 4) {
        unsigned byte = port - PCI_DATA_PORT, reg = pci->addr & 0xfc;

        d = selected(pci);
        if (d && byte + size <= 4) {
            uint32_t mask = size >= 4 ? 0xffffffffu :
                            (1u << (8 * size)) - 1;
            uint32_t v = cfg_dword(d, reg);

            v &= ~(mask << (8 * byte));
            v |= (val & mask) << (8 * byte);
            cfg_write(d, reg, v);
        }
    } else if ((d = bar_of(pci, port, &off)) != NULL) {
        pthread_mutex_unlock(&pci->lock);
        pthread_mutex_lock(&d->io);
        vmm_blk_reg_write(d->blk, off, size, val);
        pthread_mutex_unlock(&d->io);
        return true;
    } else {
        mine = false;
    }
    pthread_mutex_unlock(&pci->lock);
    return mine;
}

int vmm_pci_disks_connect(struct vmm_pci *pci)
{
    bool opened[VMM_MAX_DISKS] = { false };
    unsigned i;
    int rc = 0;

    if (!pci)
        return 0;
    for (i = 0; i < pci->nr && rc == 0; i++) {
        struct pci_dev *d = &pci->dev[i];

        pthread_mutex_lock(&d->io);
        opened[i] = !vmm_blk_connected(d->blk);
        rc = vmm_blk_connect(d->blk);
        pthread_mutex_unlock(&d->io);
    }
    /* All or nothing: a VM left paused holds none of the exports it just
     * took (another VMM may need them back). */
    for (i = 0; rc < 0 && i < pci->nr; i++) {
        struct pci_dev *d = &pci->dev[i];

        pthread_mutex_lock(&d->io);
        if (opened[i] && vmm_blk_connected(d->blk))
            vmm_blk_disconnect(d->blk);
        pthread_mutex_unlock(&d->io);
    }
    return rc;
}

int vmm_pci_disks_release(struct vmm_pci *pci)
{
    unsigned i;
    int rc = 0, r;

    if (!pci)
        return 0;
    for (i = 0; i < pci->nr; i++) {
        pthread_mutex_lock(&pci->dev[i].io);
        r = vmm_blk_release(pci->dev[i].blk);
        pthread_mutex_unlock(&pci->dev[i].io);
        if (r < 0 && rc == 0)
            rc = r;
    }
    return rc;
}

uint64_t vmm_pci_disk_sectors(struct vmm_pci *pci, unsigned disk)
{
    uint64_t n;

    if (!pci || disk >= pci->nr)
        return 0;
    pthread_mutex_lock(&pci->dev[disk].io);
    n = vmm_blk_sectors(pci->dev[disk].blk);
    pthread_mutex_unlock(&pci->dev[disk].io);
    return n;
}

bool vmm_pci_disk_read_only(struct vmm_pci *pci, unsigned disk)
{
    return pci && disk < pci->nr && vmm_blk_read_only(pci->dev[disk].blk);
}

int vmm_pci_disk_io(struct vmm_pci *pci, unsigned disk,
                    struct vmm_blk_io *io, unsigned n)
{
    int rc;

    if (!pci || disk >= pci->nr)
        return -ENODEV;
    pthread_mutex_lock(&pci->dev[disk].io);
    rc = vmm_blk_direct_io(pci->dev[disk].blk, io, n);
    pthread_mutex_unlock(&pci->dev[disk].io);
    return rc;
}

void vmm_pci_dirty_merge(struct vmm_pci *pci, uint64_t *bitmap, bool clear)
{
    uint64_t w, words;

    if (!pci)
        return;
    words = XT_BITMAP_WORDS(pci->ram.nr_pages);
    for (w = 0; w < words; w++) {
        uint64_t *p = &pci->ram.dirty[w];

        if (!__atomic_load_n(p, __ATOMIC_RELAXED))
            continue;
        bitmap[w] |= clear ? __atomic_exchange_n(p, 0, __ATOMIC_ACQ_REL) :
                             __atomic_load_n(p, __ATOMIC_ACQUIRE);
    }
}

void vmm_pci_dirty_reset(struct vmm_pci *pci)
{
    uint64_t w;

    if (!pci)
        return;
    for (w = 0; w < XT_BITMAP_WORDS(pci->ram.nr_pages); w++)
        __atomic_store_n(&pci->ram.dirty[w], 0, __ATOMIC_RELAXED);
}

size_t vmm_pci_state_size(unsigned nr_disks)
{
    return sizeof(struct pci_state) +
           nr_disks * sizeof(struct pci_dev_state);
}

void vmm_pci_state_save(struct vmm_pci *pci, void *buf)
{
    struct pci_state *s = buf;
    unsigned i;

    memset(s, 0, vmm_pci_state_size(vmm_pci_nr_disks(pci)));
    if (!pci)
        return;
    pthread_mutex_lock(&pci->lock);
    s->addr = pci->addr;
    s->nr_disks = pci->nr;
    for (i = 0; i < pci->nr; i++) {
        s->dev[i].bar0 = pci->dev[i].bar0;
        s->dev[i].command = pci->dev[i].command;
        s->dev[i].int_line = pci->dev[i].int_line;
        pthread_mutex_lock(&pci->dev[i].io);
        vmm_blk_state_get(pci->dev[i].blk, &s->dev[i].blk);
        pthread_mutex_unlock(&pci->dev[i].io);
    }
    pthread_mutex_unlock(&pci->lock);
}

int vmm_pci_state_restore(struct vmm_pci *pci, const void *buf, size_t len)
{
    const struct pci_state *s = buf;
    unsigned nr = pci->nr, i;
    int rc = 0;

    if (len < sizeof(*s) || s->nr_disks != nr ||
        len != vmm_pci_state_size(s->nr_disks))
        return xt_error(pci->ctx, -EINVAL, "state blob: %u disk(s) in %zu "
                        "bytes of device state, this VM has %u (--disk)",
                        len >= sizeof(*s) ? s->nr_disks : 0, len, nr);
    pthread_mutex_lock(&pci->lock);
    for (i = 0; i < nr; i++)
        pthread_mutex_lock(&pci->dev[i].io);
    for (i = 0; i < nr && rc == 0; i++)
        rc = vmm_blk_state_check(pci->dev[i].blk, &s->dev[i].blk);
    if (rc == 0) {
        pci->addr = s->addr;
        for (i = 0; i < nr; i++) {
            vmm_blk_state_set(pci->dev[i].blk, &s->dev[i].blk);
            pci->dev[i].bar0 = s->dev[i].bar0 &
                               ~(uint32_t)(VMM_BLK_BAR_SIZE - 1) & ~BAR_IO;
            pci->dev[i].command = s->dev[i].command & PCI_CMD_WRITABLE;
            pci->dev[i].int_line = s->dev[i].int_line;
        }
    }
    for (i = 0; i < nr; i++)
        pthread_mutex_unlock(&pci->dev[i].io);
    pthread_mutex_unlock(&pci->lock);
    return rc;
}
