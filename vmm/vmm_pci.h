/*
 * vmm_pci.h - inside xm-vmm: PCI bus 0 through the type-1 configuration
 * mechanism (ports 0xcf8/0xcfc) with one legacy virtio-blk device per disk
 * (vmm_pci.c, vmm_blk.c), and the pages those devices write into guest
 * RAM.  The engine routes port I/O here; the control thread connects and
 * releases the disks and saves the devices' state.  Every call is
 * thread-safe (a short lock over the bus, one per device for its I/O).
 */
#ifndef VMM_PCI_H
#define VMM_PCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xt.h"

#define VMM_MAX_DISKS   8u

#define VMM_DISK_TIMEOUT_MS 30000u  /* default disk request timeout */

struct vmm_disk_cfg {
    const char *uri;            /* a libnbd URI */
    bool ro;
    /* A request the server has not answered after this long fails with
     * IOERR and the connection is dropped (0: VMM_DISK_TIMEOUT_MS). */
    unsigned timeout_ms;
};

struct vmm_pci;

/*
 * A bus over guest RAM [mem, mem + mem_size) with disks[0..nr_disks) at
 * device numbers 1..nr_disks, none connected.  NULL on error (reported
 * into ctx).  ctx and mem must outlive it.
 */
struct vmm_pci *vmm_pci_new(struct xt_ctx *ctx, uint8_t *mem,
                            size_t mem_size, const struct vmm_disk_cfg *disks,
                            unsigned nr_disks);
/* Releases every disk (flush, close: failures logged) and frees the bus;
 * NULL-safe.  No vCPU may be inside the bus. */
void vmm_pci_free(struct vmm_pci *pci);

unsigned vmm_pci_nr_disks(const struct vmm_pci *pci);

/*
 * Port I/O of a vCPU (size 1, 2 or 4).  True when the port is the bus's
 * or a device's; an in then fills *val_r.  A write to a device's
 * QUEUE_NOTIFY register completes its requests before returning.
 */
bool vmm_pci_port_in(struct vmm_pci *pci, uint16_t port, unsigned size,
                     uint32_t *val_r);
bool vmm_pci_port_out(struct vmm_pci *pci, uint16_t port, unsigned size,
                      uint32_t val);

/* Connects every disk not connected; the first failure is reported, with
 * the disk's number and URI, and ends the call, closing again the
 * connections this call opened. */
int vmm_pci_disks_connect(struct vmm_pci *pci);
/* Flushes and closes every disk; tries all, reports the first failure
 * (that disk stays connected). */
int vmm_pci_disks_release(struct vmm_pci *pci);

/*
 * The disks for a hosted workload (the sim engine), without PCI: disk is
 * 0..nr_disks-1.  vmm_pci_disk_io() is vmm_blk_direct_io() (vmm_blk.h):
 * the n requests complete before it returns; -ENOTCONN when the disk is
 * not usable, -ENODEV for a disk that does not exist.
 */
struct vmm_blk_io;
uint64_t vmm_pci_disk_sectors(struct vmm_pci *pci, unsigned disk);
bool vmm_pci_disk_read_only(struct vmm_pci *pci, unsigned disk);
int vmm_pci_disk_io(struct vmm_pci *pci, unsigned disk,
                    struct vmm_blk_io *io, unsigned n);

/*
 * ORs the pages devices wrote since the last clearing call into bitmap
 * (one bit per page of guest RAM); clears them when clear.  Lock-free:
 * it may run while vCPUs do I/O.
 */
void vmm_pci_dirty_merge(struct vmm_pci *pci, uint64_t *bitmap, bool clear);
/* Forgets the pages devices wrote (log-dirty mode starts). */
void vmm_pci_dirty_reset(struct vmm_pci *pci);

/* Bytes of the device state section for nr_disks disks. */
size_t vmm_pci_state_size(unsigned nr_disks);
/* Writes the section (vmm_pci_state_size(nr disks) bytes) into buf. */
void vmm_pci_state_save(struct vmm_pci *pci, void *buf);
/* Takes a section of len bytes, checked whole first (size, disk count,
 * each disk's read-only flag) so a refused one changes nothing. */
int vmm_pci_state_restore(struct vmm_pci *pci, const void *buf, size_t len);

#endif /* VMM_PCI_H */
