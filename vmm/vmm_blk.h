/*
 * vmm_blk.h - inside xm-vmm: one legacy virtio-blk device (virtio 0.9.5,
 * the registers of its I/O BAR, one virtqueue in guest RAM) over an NBD
 * export through libnbd (vmm_blk.c).  Used by the PCI bus (vmm_pci.c);
 * docs/design/vmm-disks.md says what the guest sees.
 *
 * Not locked: the bus serialises every call under its lock.
 */
#ifndef VMM_BLK_H
#define VMM_BLK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm_pci.h"          /* VMM_DISK_TIMEOUT_MS */
#include "xt.h"

#define VMM_BLK_BAR_SIZE    0x40u   /* the I/O BAR */
#define VMM_BLK_QUEUE_SIZE  256u

/* Guest RAM as devices see it: the mapping, and the pages devices wrote
 * (bit per page, set atomically; the bus owns and harvests it). */
struct vmm_ram {
    uint8_t *mem;
    size_t size;
    uint64_t nr_pages;
    uint64_t *dirty;
};

/* A device's guest-visible state, as it travels in the kvm state blob
 * (fixed layout, docs/design/vmm-disks.md). */
struct vmm_blk_state {
    uint64_t capacity;          /* sectors the guest was shown; 0: none */
    uint32_t guest_features;
    uint32_t queue_pfn;
    uint16_t queue_sel;
    uint16_t last_avail;        /* next avail entry to take = used idx */
    uint8_t status;
    uint8_t isr;
    uint8_t broken;             /* the guest broke the ring: ignored
                                 * until it resets the device */
    uint8_t ro;
    uint8_t pad[8];
};

struct vmm_blk;

/*
 * A device for disk idx (0-based, for messages) served at the libnbd URI
 * uri (copied), not connected.  A request that gets no answer for
 * timeout_ms (0: VMM_DISK_TIMEOUT_MS) fails with IOERR, and so does every
 * other in flight: the connection is dropped (the next RESUME connects
 * again).  NULL on ENOMEM (reported into ctx).  ctx and ram must outlive
 * it.
 */
struct vmm_blk *vmm_blk_new(struct xt_ctx *ctx, struct vmm_ram *ram,
                            unsigned idx, const char *uri, bool ro,
                            unsigned timeout_ms);
/* Closes the connection without flushing; NULL-safe. */
void vmm_blk_free(struct vmm_blk *b);

/*
 * Connects (no-op when connected).  The export's size must match the
 * capacity the guest already knows, if any.  Errors name the disk.
 */
int vmm_blk_connect(struct vmm_blk *b);
/*
 * Flushes and closes the connection (no-op when closed).  A failed flush
 * keeps the connection (nothing acknowledged may be lost) and fails.
 */
int vmm_blk_release(struct vmm_blk *b);
bool vmm_blk_connected(const struct vmm_blk *b);
/*
 * Points a released device at another export: uri (copied; the old copy
 * is freed) and, when timeout_ms is not 0, that request timeout.  The
 * guest-visible state (capacity, ring, features, read-only flag) stays,
 * so the next connect checks the new export against it.  -EBUSY while
 * connected, -ENOMEM; both reported.
 */
int vmm_blk_retarget(struct vmm_blk *b, const char *uri,
                     unsigned timeout_ms);
/* The URI it connects to (owned by the device; valid until the next
 * retarget or free). */
const char *vmm_blk_uri(const struct vmm_blk *b);
/* Closes the connection at once, without a flush (one just opened). */
void vmm_blk_disconnect(struct vmm_blk *b);

/*
 * Register access at offset off (< VMM_BLK_BAR_SIZE) of the BAR, size 1,
 * 2 or 4 bytes.  A write to QUEUE_NOTIFY processes every available request
 * before it returns.  Guest mistakes are logged, never reported as errors.
 */
uint32_t vmm_blk_reg_read(struct vmm_blk *b, unsigned off, unsigned size);
void vmm_blk_reg_write(struct vmm_blk *b, unsigned off, unsigned size,
                       uint32_t val);

/*
 * A request a hosted workload makes directly, without a vring (the sim
 * engine): type IN (0), OUT (1) or FLUSH (4); status out (virtio's
 * values); buf a host pointer that must lie inside guest RAM.
 */
struct vmm_blk_io {
    uint32_t type;
    uint32_t status;
    uint64_t sector;
    void *buf;
    uint32_t len;
};

/*
 * Runs the n requests with the same checks as the vring's, several in
 * flight, and returns once all are complete, their statuses set.  0, or
 * -ENOTCONN when the disk is not connected or its connection was lost
 * (statuses then IOERR).  Pages IN requests wrote are marked dirty.
 */
int vmm_blk_direct_io(struct vmm_blk *b, struct vmm_blk_io *io, unsigned n);
/* The capacity in sectors the guest knows (0 before a first connect). */
uint64_t vmm_blk_sectors(const struct vmm_blk *b);
bool vmm_blk_read_only(const struct vmm_blk *b);

void vmm_blk_state_get(const struct vmm_blk *b, struct vmm_blk_state *s);
/* Does s fit this device (read-only flag, size when connected)? */
int vmm_blk_state_check(const struct vmm_blk *b,
                        const struct vmm_blk_state *s);
void vmm_blk_state_set(struct vmm_blk *b, const struct vmm_blk_state *s);

#endif /* VMM_BLK_H */
