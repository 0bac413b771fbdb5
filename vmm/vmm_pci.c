/*
 * vmm_pci.c - PCI bus 0 of xm-vmm: the type-1 configuration mechanism
 * (address latch at 0xcf8, data at 0xcfc..0xcff), no host bridge, one
 * legacy virtio-blk function per disk in its slot: device number s
 * (1..8, function 0), one I/O BAR pre-assigned at 0xc000 + 0x40 * (s - 1)
 * and I/O decoding already enabled.  The guest may size and move the BAR
 * with the standard protocol.  Disks come and go while the guest runs
 * through the hot-plug controller (ports 0xae00..0xae13, guest ABI 3).
 * docs/design/vmm-disks.md is the description.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "vmm_blk.h"
#include "vmm_pci.h"
#include "xmg_abi.h"

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
 * Locks.  pci->lock guards the latch, every slot's presence and config
 * fields (command, interrupt line, BAR) and the hot-plug controller; it is
 * held only briefly.  dev->io guards dev->blk (the device, and whether the
 * slot holds one) and is held through a notify's NBD I/O.  Port I/O takes
 * one, then (released) the other, so a vCPU waiting for its disk never
 * holds up another vCPU's heartbeat; only the control thread's state calls
 * nest them, the bus lock first.  Hot-plug (control thread) changes a slot
 * in two steps, never holding both: plugging sets dev->blk (io), then
 * present (lock); unplugging clears present (lock), then waits for io (a
 * notify in progress completes first) and takes dev->blk away.  A vCPU
 * that found a slot present under the lock checks dev->blk again under io,
 * so it never touches a device that is gone; at worst it reaches a device
 * that has just left the bus, which the guest had promised (its ack) or
 * been told (a forced removal) not to use.
 */
struct pci_dev {
    pthread_mutex_t io;
    struct vmm_blk *blk;        /* NULL: the slot is empty (io) */
    bool present;               /* on the bus: decoded, in PRESENT (lock) */
    uint16_t command;
    uint8_t int_line;
    uint32_t bar0;              /* address bits (BAR size aligned) */
};

struct vmm_pci {
    struct xt_ctx *ctx;
    pthread_mutex_t lock;
    struct vmm_ram ram;
    uint32_t addr;              /* the 0xcf8 latch */
    unsigned nr;                /* slots present; atomic, written under
                                 * lock (the fast path reads it bare) */
    struct pci_dev dev[VMM_MAX_DISKS];  /* dev[s - 1]: slot s */
    /* The hot-plug controller (XMG_HP_*), under lock. */
    uint32_t hp_gen;
    uint32_t hp_eject_req;      /* slots asked back, not answered yet */
    uint32_t hp_acked;          /* answers the control thread has not */
    uint32_t hp_refused;        /* taken yet (vmm_pci_eject_poll) */
};

/*
 * The migrated state: a header, then one record per device present, in
 * slot order.  Version 2 (kvm blob 2) had the short header and disks at
 * slots 1..n with 0 where the slot is now.
 */
struct pci_dev_state {
    uint32_t bar0;
    uint16_t command;
    uint8_t int_line;
    uint8_t slot;               /* version 2: pad (0) */
    struct vmm_blk_state blk;
};

struct pci_state_v2 {
    uint32_t addr;
    uint32_t nr_disks;
    struct pci_dev_state dev[];
};

struct pci_state {
    uint32_t addr;
    uint32_t nr_disks;
    uint32_t slots;             /* bit s: slot s holds a record */
    uint32_t hp_gen;
    uint32_t hp_eject_req;
    uint32_t pad;
    struct pci_dev_state dev[];
};

#define SLOT_BIT(s)     (1u << (s))

static uint16_t bar_default(unsigned slot)
{
    return BAR_BASE + VMM_BLK_BAR_SIZE * (slot - 1);
}

/* A slot's config as after a reset, on the bus.  Called with pci->lock. */
static void dev_show(struct vmm_pci *pci, struct pci_dev *d, unsigned slot)
{
    d->command = PCI_CMD_IO;
    d->int_line = 0;
    d->bar0 = bar_default(slot);
    d->present = true;
    __atomic_store_n(&pci->nr, pci->nr + 1, __ATOMIC_RELAXED);
}

/* Takes a slot off the bus.  Called with pci->lock. */
static void dev_hide(struct vmm_pci *pci, struct pci_dev *d)
{
    if (!d->present)
        return;
    d->present = false;
    __atomic_store_n(&pci->nr, pci->nr - 1, __ATOMIC_RELAXED);
}

/* The disks' slots: the given ones, 0 meaning position + 1; -EINVAL
 * (reported) for one out of range or given twice. */
static int pick_slots(struct xt_ctx *ctx, const struct vmm_disk_cfg *disks,
                      unsigned nr, unsigned *slots)
{
    uint32_t used = 0;
    unsigned i;

    for (i = 0; i < nr; i++) {
        slots[i] = disks[i].slot ? disks[i].slot : i + 1;
        if (slots[i] > VMM_MAX_DISKS)
            return xt_error(ctx, -EINVAL, "disk %s: slot %u (1..%u)",
                            disks[i].uri, slots[i], VMM_MAX_DISKS);
        if (used & SLOT_BIT(slots[i]))
            return xt_error(ctx, -EINVAL, "disk %s: slot %u is given "
                            "twice", disks[i].uri, slots[i]);
        used |= SLOT_BIT(slots[i]);
    }
    return 0;
}

struct vmm_pci *vmm_pci_new(struct xt_ctx *ctx, uint8_t *mem,
                            size_t mem_size, const struct vmm_disk_cfg *disks,
                            unsigned nr_disks)
{
    unsigned slots[VMM_MAX_DISKS];
    struct vmm_pci *pci;
    unsigned i;

    if (nr_disks > VMM_MAX_DISKS) {
        xt_error(ctx, -EINVAL, "%u disks, at most %u", nr_disks,
                 VMM_MAX_DISKS);
        return NULL;
    }
    if (pick_slots(ctx, disks, nr_disks, slots) < 0)
        return NULL;
    pci = calloc(1, sizeof(*pci));
    if (!pci) {
        xt_error(ctx, -ENOMEM, "PCI bus");
        return NULL;
    }
    pci->ctx = ctx;
    pthread_mutex_init(&pci->lock, NULL);
    for (i = 0; i < VMM_MAX_DISKS; i++)
        pthread_mutex_init(&pci->dev[i].io, NULL);
    pci->ram.mem = mem;
    pci->ram.size = mem_size;
    pci->ram.nr_pages = (mem_size + 4095) / 4096;
    pci->ram.dirty = xt_bitmap_alloc(pci->ram.nr_pages);
    if (!pci->ram.dirty) {
        xt_error(ctx, -ENOMEM, "device dirty bitmap");
        goto fail;
    }
    for (i = 0; i < nr_disks; i++) {
        struct pci_dev *d = &pci->dev[slots[i] - 1];

        /* Messages name disk N = slot - 1 (the VBD's userdevice). */
        d->blk = vmm_blk_new(ctx, &pci->ram, slots[i] - 1, disks[i].uri,
                             disks[i].ro, disks[i].timeout_ms);
        if (!d->blk)
            goto fail;
        dev_show(pci, d, slots[i]);
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
    for (i = 0; i < VMM_MAX_DISKS; i++) {
        vmm_blk_free(pci->dev[i].blk);
        pthread_mutex_destroy(&pci->dev[i].io);
    }
    free(pci->ram.dirty);
    pthread_mutex_destroy(&pci->lock);
    free(pci);
}

unsigned vmm_pci_nr_disks(struct vmm_pci *pci)
{
    return pci ? __atomic_load_n(&pci->nr, __ATOMIC_RELAXED) : 0;
}

/* Slots present.  Called with pci->lock. */
static uint32_t present_mask(const struct vmm_pci *pci)
{
    uint32_t m = 0;
    unsigned i;

    for (i = 0; i < VMM_MAX_DISKS; i++)
        if (pci->dev[i].present)
            m |= SLOT_BIT(i + 1);
    return m;
}

uint32_t vmm_pci_slots(struct vmm_pci *pci)
{
    uint32_t m;

    if (!pci)
        return 0;
    pthread_mutex_lock(&pci->lock);
    m = present_mask(pci);
    pthread_mutex_unlock(&pci->lock);
    return m;
}

uint32_t vmm_pci_ro_slots(struct vmm_pci *pci)
{
    uint32_t m = 0;
    unsigned i;

    for (i = 0; pci && i < VMM_MAX_DISKS; i++)
        if (vmm_pci_disk_read_only(pci, i))
            m |= SLOT_BIT(i + 1);
    return m;
}

/* The device the latch selects, or NULL (all ones). */
static struct pci_dev *selected(struct vmm_pci *pci)
{
    uint32_t a = pci->addr;
    unsigned bus = (a >> 16) & 0xff, dev = (a >> 11) & 0x1f,
             fn = (a >> 8) & 0x7;

    if (!(a & PCI_ADDR_ENABLE) || bus != 0 || fn != 0 || dev == 0 ||
        dev > VMM_MAX_DISKS || !pci->dev[dev - 1].present)
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

    for (i = 0; i < VMM_MAX_DISKS; i++) {
        struct pci_dev *d = &pci->dev[i];

        if (d->present && (d->command & PCI_CMD_IO) && port >= d->bar0 &&
            port - d->bar0 < VMM_BLK_BAR_SIZE) {
            *off_r = port - d->bar0;
            return d;
        }
    }
    return NULL;
}

static bool is_cfg_port(uint16_t port)
{
    return port >= PCI_ADDR_PORT && port < PCI_DATA_PORT + 4;
}

static bool is_hp_port(uint16_t port)
{
    return port >= XMG_PORT_HP && port < XMG_PORT_HP + XMG_HP_SIZE;
}

/* ---- the hot-plug controller (called with pci->lock) -------------------- */

static uint32_t hp_read(struct vmm_pci *pci, unsigned reg)
{
    switch (reg) {
    case XMG_HP_GEN:        return pci->hp_gen;
    case XMG_HP_PRESENT:    return present_mask(pci);
    case XMG_HP_EJECT_REQ:  return pci->hp_eject_req;
    default:                return 0;   /* the answers read 0 */
    }
}

/* The guest's answer to eject requests: only slots asked back count.  An
 * acknowledged device leaves the bus at once (the guest has let it go),
 * so it never reads as a new one; the control thread closes it. */
static void hp_write(struct vmm_pci *pci, unsigned reg, uint32_t val)
{
    uint32_t bits = val & pci->hp_eject_req;
    unsigned s;

    if (!bits || (reg != XMG_HP_EJECT_ACK && reg != XMG_HP_EJECT_REFUSE))
        return;
    pci->hp_eject_req &= ~bits;
    if (reg == XMG_HP_EJECT_ACK) {
        pci->hp_acked |= bits;
        for (s = 1; s <= VMM_MAX_DISKS; s++)
            if (bits & SLOT_BIT(s))
                dev_hide(pci, &pci->dev[s - 1]);
    } else {
        pci->hp_refused |= bits;
    }
    pci->hp_gen++;
}

uint32_t vmm_pci_hp_read(struct vmm_pci *pci, unsigned reg)
{
    uint32_t v;

    if (!pci)
        return 0xffffffff;      /* no controller */
    pthread_mutex_lock(&pci->lock);
    v = hp_read(pci, reg);
    pthread_mutex_unlock(&pci->lock);
    return v;
}

void vmm_pci_hp_write(struct vmm_pci *pci, unsigned reg, uint32_t val)
{
    if (!pci)
        return;
    pthread_mutex_lock(&pci->lock);
    hp_write(pci, reg, val);
    pthread_mutex_unlock(&pci->lock);
}

void vmm_pci_hp_set_gen(struct vmm_pci *pci, uint32_t gen)
{
    if (!pci)
        return;
    pthread_mutex_lock(&pci->lock);
    pci->hp_gen = gen;
    pthread_mutex_unlock(&pci->lock);
}

/* ---- port I/O of the vCPUs --------------------------------------------- */

/* Not the bus's: no lock taken for the guest's other ports while no disk
 * is present (the BARs could be anywhere otherwise). */
static bool not_mine(struct vmm_pci *pci, uint16_t port)
{
    return !pci || (!is_cfg_port(port) && !is_hp_port(port) &&
                    !__atomic_load_n(&pci->nr, __ATOMIC_RELAXED));
}

/* A BAR register access, under the device's own lock: dev->blk is looked
 * at again there (it may have gone since the bus lock was dropped). */
static uint32_t bar_access(struct pci_dev *d, unsigned off, unsigned size,
                           bool write, uint32_t val)
{
    uint32_t r = 0xffffffff;

    pthread_mutex_lock(&d->io);
    if (d->blk && write)
        vmm_blk_reg_write(d->blk, off, size, val);
    else if (d->blk)
        r = vmm_blk_reg_read(d->blk, off, size);
    pthread_mutex_unlock(&d->io);
    return r;
}

bool vmm_pci_port_in(struct vmm_pci *pci, uint16_t port, unsigned size,
                     uint32_t *val_r)
{
    struct pci_dev *d;
    uint32_t mask = size >= 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
    unsigned off;
    bool mine = true;

    if (not_mine(pci, port))
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
    } else if (is_hp_port(port)) {
        off = port - XMG_PORT_HP;
        *val_r = size == 4 && off % 4 == 0 ? hp_read(pci, off) : mask;
    } else if ((d = bar_of(pci, port, &off)) != NULL) {
        pthread_mutex_unlock(&pci->lock);
        *val_r = bar_access(d, off, size, false, 0) & mask;
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

    if (not_mine(pci, port))
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
    } else if (is_hp_port(port)) {
        off = port - XMG_PORT_HP;
        if (size == 4 && off % 4 == 0)
            hp_write(pci, off, val);
    } else if ((d = bar_of(pci, port, &off)) != NULL) {
        pthread_mutex_unlock(&pci->lock);
        bar_access(d, off, size, true, val);
        return true;
    } else {
        mine = false;
    }
    pthread_mutex_unlock(&pci->lock);
    return mine;
}

/* ---- connections --------------------------------------------------------- */

int vmm_pci_disks_connect(struct vmm_pci *pci)
{
    bool opened[VMM_MAX_DISKS] = { false };
    unsigned i;
    int rc = 0;

    if (!pci)
        return 0;
    for (i = 0; i < VMM_MAX_DISKS && rc == 0; i++) {
        struct pci_dev *d = &pci->dev[i];

        pthread_mutex_lock(&d->io);
        if (d->blk) {
            opened[i] = !vmm_blk_connected(d->blk);
            rc = vmm_blk_connect(d->blk);
        }
        pthread_mutex_unlock(&d->io);
    }
    /* All or nothing: a VM left paused holds none of the exports it just
     * took (another VMM may need them back). */
    for (i = 0; rc < 0 && i < VMM_MAX_DISKS; i++) {
        struct pci_dev *d = &pci->dev[i];

        pthread_mutex_lock(&d->io);
        if (opened[i] && d->blk && vmm_blk_connected(d->blk))
            vmm_blk_disconnect(d->blk);
        pthread_mutex_unlock(&d->io);
    }
    return rc;
}

int vmm_pci_disks_release(struct vmm_pci *pci)
{
    unsigned i;
    int rc = 0, r = 0;

    if (!pci)
        return 0;
    for (i = 0; i < VMM_MAX_DISKS; i++) {
        pthread_mutex_lock(&pci->dev[i].io);
        if (pci->dev[i].blk)
            r = vmm_blk_release(pci->dev[i].blk);
        pthread_mutex_unlock(&pci->dev[i].io);
        if (r < 0 && rc == 0)
            rc = r;
    }
    return rc;
}

/* ---- hot-plug (control thread) ------------------------------------------ */

static int check_slot(struct vmm_pci *pci, unsigned slot)
{
    if (slot < 1 || slot > VMM_MAX_DISKS)
        return xt_error(pci->ctx, -EINVAL, "slot %u: disks are in slots "
                        "1..%u", slot, VMM_MAX_DISKS);
    return 0;
}

int vmm_pci_plug(struct vmm_pci *pci, const struct vmm_disk_cfg *cfg)
{
    struct pci_dev *d;
    struct vmm_blk *b = NULL;
    bool busy;
    int rc;

    rc = check_slot(pci, cfg->slot);
    if (rc < 0)
        return rc;
    d = &pci->dev[cfg->slot - 1];
    pthread_mutex_lock(&d->io);
    busy = d->blk != NULL;
    pthread_mutex_unlock(&d->io);
    if (busy)
        return xt_error(pci->ctx, -EEXIST, "slot %u already holds a disk",
                        cfg->slot);
    b = vmm_blk_new(pci->ctx, &pci->ram, cfg->slot - 1, cfg->uri, cfg->ro,
                    cfg->timeout_ms);
    if (!b)
        return -ENOMEM;
    /* Connected before the guest can see it; errors name the disk. */
    rc = vmm_blk_connect(b);
    if (rc < 0) {
        vmm_blk_free(b);
        return rc;
    }
    pthread_mutex_lock(&d->io);
    d->blk = b;
    pthread_mutex_unlock(&d->io);
    pthread_mutex_lock(&pci->lock);
    dev_show(pci, d, cfg->slot);
    pci->hp_eject_req &= ~SLOT_BIT(cfg->slot);
    pci->hp_acked &= ~SLOT_BIT(cfg->slot);
    pci->hp_refused &= ~SLOT_BIT(cfg->slot);
    pci->hp_gen++;
    pthread_mutex_unlock(&pci->lock);
    return 0;
}

int vmm_pci_eject_request(struct vmm_pci *pci, unsigned slot)
{
    int rc = check_slot(pci, slot);

    if (rc < 0)
        return rc;
    pthread_mutex_lock(&pci->lock);
    if (pci->dev[slot - 1].present) {
        pci->hp_eject_req |= SLOT_BIT(slot);
        pci->hp_acked &= ~SLOT_BIT(slot);
        pci->hp_refused &= ~SLOT_BIT(slot);
        pci->hp_gen++;
    } else {
        rc = -ENODEV;
    }
    pthread_mutex_unlock(&pci->lock);
    if (rc < 0)
        return xt_error(pci->ctx, rc, "slot %u holds no disk", slot);
    return 0;
}

enum vmm_eject vmm_pci_eject_poll(struct vmm_pci *pci, unsigned slot,
                                  bool withdraw)
{
    uint32_t bit = SLOT_BIT(slot);
    enum vmm_eject e = VMM_EJECT_PENDING;

    pthread_mutex_lock(&pci->lock);
    if (pci->hp_acked & bit) {
        pci->hp_acked &= ~bit;
        e = VMM_EJECT_ACKED;
    } else if (pci->hp_refused & bit) {
        pci->hp_refused &= ~bit;
        e = VMM_EJECT_REFUSED;
    } else if (withdraw && (pci->hp_eject_req & bit)) {
        pci->hp_eject_req &= ~bit;
        pci->hp_gen++;
    }
    pthread_mutex_unlock(&pci->lock);
    return e;
}

int vmm_pci_unplug(struct vmm_pci *pci, unsigned slot)
{
    struct pci_dev *d;
    struct vmm_blk *b;
    int rc = check_slot(pci, slot);

    if (rc < 0)
        return rc;
    d = &pci->dev[slot - 1];
    /* Off the bus first (a forced removal is an event for the guest)... */
    pthread_mutex_lock(&pci->lock);
    if (d->present) {
        dev_hide(pci, d);
        pci->hp_gen++;
    }
    pci->hp_eject_req &= ~SLOT_BIT(slot);
    pthread_mutex_unlock(&pci->lock);
    /* ...then, once a notify in progress on it has completed, the device
     * is ours alone. */
    pthread_mutex_lock(&d->io);
    b = d->blk;
    d->blk = NULL;
    pthread_mutex_unlock(&d->io);
    if (!b)
        return xt_error(pci->ctx, -ENODEV, "slot %u holds no disk", slot);
    rc = vmm_blk_release(b);    /* flush, close; reports a failure */
    vmm_blk_free(b);
    return rc;
}

int vmm_pci_retarget(struct vmm_pci *pci, unsigned slot, const char *uri,
                     unsigned timeout_ms)
{
    struct pci_dev *d;
    int rc = check_slot(pci, slot);

    if (rc < 0)
        return rc;
    d = &pci->dev[slot - 1];
    /* Under io: no notify can be in progress (the vCPUs are stopped), but
     * the lock keeps dev->blk and its URI consistent for every reader. */
    pthread_mutex_lock(&d->io);
    if (!d->blk)
        rc = xt_error(pci->ctx, -ENODEV, "slot %u holds no disk", slot);
    else
        rc = vmm_blk_retarget(d->blk, uri, timeout_ms);
    pthread_mutex_unlock(&d->io);
    return rc;
}

/* ---- the hosted workload's disks (sim) ---------------------------------- */

uint64_t vmm_pci_disk_sectors(struct vmm_pci *pci, unsigned disk)
{
    uint64_t n = 0;

    if (!pci || disk >= VMM_MAX_DISKS)
        return 0;
    pthread_mutex_lock(&pci->dev[disk].io);
    if (pci->dev[disk].blk)
        n = vmm_blk_sectors(pci->dev[disk].blk);
    pthread_mutex_unlock(&pci->dev[disk].io);
    return n;
}

bool vmm_pci_disk_read_only(struct vmm_pci *pci, unsigned disk)
{
    bool ro = false;

    if (!pci || disk >= VMM_MAX_DISKS)
        return false;
    pthread_mutex_lock(&pci->dev[disk].io);
    ro = pci->dev[disk].blk && vmm_blk_read_only(pci->dev[disk].blk);
    pthread_mutex_unlock(&pci->dev[disk].io);
    return ro;
}

int vmm_pci_disk_io(struct vmm_pci *pci, unsigned disk,
                    struct vmm_blk_io *io, unsigned n)
{
    int rc = -ENODEV;

    if (!pci || disk >= VMM_MAX_DISKS)
        return -ENODEV;
    pthread_mutex_lock(&pci->dev[disk].io);
    if (pci->dev[disk].blk)
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

/* ---- state --------------------------------------------------------------- */

size_t vmm_pci_state_size(unsigned nr_disks)
{
    return sizeof(struct pci_state) +
           nr_disks * sizeof(struct pci_dev_state);
}

size_t vmm_pci_state_size_v2(unsigned nr_disks)
{
    return sizeof(struct pci_state_v2) +
           nr_disks * sizeof(struct pci_dev_state);
}

void vmm_pci_state_save(struct vmm_pci *pci, void *buf)
{
    struct pci_state *s = buf;
    unsigned i, n = 0;

    memset(s, 0, vmm_pci_state_size(vmm_pci_nr_disks(pci)));
    if (!pci)
        return;
    pthread_mutex_lock(&pci->lock);
    s->addr = pci->addr;
    s->slots = present_mask(pci);
    s->hp_gen = pci->hp_gen;
    s->hp_eject_req = pci->hp_eject_req;
    for (i = 0; i < VMM_MAX_DISKS; i++) {
        struct pci_dev *d = &pci->dev[i];
        struct pci_dev_state *r = &s->dev[n];

        if (!d->present)
            continue;
        r->bar0 = d->bar0;
        r->command = d->command;
        r->int_line = d->int_line;
        r->slot = i + 1;
        pthread_mutex_lock(&d->io);
        if (d->blk)
            vmm_blk_state_get(d->blk, &r->blk);
        pthread_mutex_unlock(&d->io);
        n++;
    }
    s->nr_disks = n;
    pthread_mutex_unlock(&pci->lock);
}

/*
 * Checks then takes nr device records, recs[k] for slot slots[k] (every
 * slot present here), and the controller's state.  Called with pci->lock;
 * takes every device's lock (bus lock first).
 */
static int restore_devs(struct vmm_pci *pci, const struct pci_dev_state *recs,
                        const unsigned *slots, unsigned nr, uint32_t addr,
                        uint32_t hp_gen, uint32_t hp_eject_req)
{
    unsigned i;
    int rc = 0;

    for (i = 0; i < VMM_MAX_DISKS; i++)
        pthread_mutex_lock(&pci->dev[i].io);
    for (i = 0; i < nr && rc == 0; i++)
        rc = pci->dev[slots[i] - 1].blk ?
             vmm_blk_state_check(pci->dev[slots[i] - 1].blk, &recs[i].blk) :
             xt_error(pci->ctx, -EINVAL, "state blob: slot %u has no disk",
                      slots[i]);
    for (i = 0; i < nr && rc == 0; i++) {
        struct pci_dev *d = &pci->dev[slots[i] - 1];

        vmm_blk_state_set(d->blk, &recs[i].blk);
        d->bar0 = recs[i].bar0 & ~(uint32_t)(VMM_BLK_BAR_SIZE - 1) &
                  ~BAR_IO;
        d->command = recs[i].command & PCI_CMD_WRITABLE;
        d->int_line = recs[i].int_line;
    }
    if (rc == 0) {
        pci->addr = addr;
        pci->hp_gen = hp_gen;
        pci->hp_eject_req = hp_eject_req & present_mask(pci);
        pci->hp_acked = pci->hp_refused = 0;
    }
    for (i = 0; i < VMM_MAX_DISKS; i++)
        pthread_mutex_unlock(&pci->dev[i].io);
    return rc;
}

static int slots_differ(struct vmm_pci *pci, uint32_t theirs, uint32_t ours)
{
    return xt_error(pci->ctx, -EINVAL, "state blob: the guest had disks in "
                    "slots %#x, this VM has %#x (--disk [SLOT=]URI)",
                    theirs, ours);
}

int vmm_pci_state_restore(struct vmm_pci *pci, const void *buf, size_t len)
{
    const struct pci_state *s = buf;
    unsigned slots[VMM_MAX_DISKS], i, n = 0;
    uint32_t ours;
    int rc;

    if (len < sizeof(*s) || s->nr_disks > VMM_MAX_DISKS ||
        len != vmm_pci_state_size(s->nr_disks))
        return xt_error(pci->ctx, -EINVAL, "state blob: %u disk(s) in %zu "
                        "bytes of device state", len >= sizeof(*s) ?
                        s->nr_disks : 0, len);
    for (i = 0; i < s->nr_disks; i++) {
        unsigned sl = s->dev[i].slot;

        if (sl < 1 || sl > VMM_MAX_DISKS || !(s->slots & SLOT_BIT(sl)) ||
            (n && sl <= slots[n - 1]))
            return xt_error(pci->ctx, -EINVAL, "state blob: device record "
                            "%u has slot %u (slots %#x)", i, sl, s->slots);
        slots[n++] = sl;
    }
    pthread_mutex_lock(&pci->lock);
    ours = present_mask(pci);
    if (ours != s->slots || __builtin_popcount(s->slots) != (int)n)
        rc = slots_differ(pci, s->slots, ours);
    else
        rc = restore_devs(pci, s->dev, slots, n, s->addr, s->hp_gen,
                          s->hp_eject_req);
    pthread_mutex_unlock(&pci->lock);
    return rc;
}

int vmm_pci_state_restore_v2(struct vmm_pci *pci, const void *buf,
                             size_t len)
{
    const struct pci_state_v2 *s = buf;
    unsigned slots[VMM_MAX_DISKS], i;
    uint32_t ours, theirs;
    int rc;

    if (len < sizeof(*s) || s->nr_disks > VMM_MAX_DISKS ||
        len != vmm_pci_state_size_v2(s->nr_disks))
        return xt_error(pci->ctx, -EINVAL, "state blob: %u disk(s) in %zu "
                        "bytes of device state", len >= sizeof(*s) ?
                        s->nr_disks : 0, len);
    /* Version 2 knew no slots: disk i was in slot i + 1. */
    theirs = ((1u << s->nr_disks) - 1) << 1;
    for (i = 0; i < s->nr_disks; i++)
        slots[i] = i + 1;
    pthread_mutex_lock(&pci->lock);
    ours = present_mask(pci);
    if (ours != theirs)
        rc = slots_differ(pci, theirs, ours);
    else
        rc = restore_devs(pci, s->dev, slots, s->nr_disks, s->addr,
                          pci->hp_gen, 0);
    pthread_mutex_unlock(&pci->lock);
    return rc;
}
