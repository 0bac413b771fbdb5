/*
 * vmm_pci.h - inside xm-vmm: PCI bus 0 through the type-1 configuration
 * mechanism (ports 0xcf8/0xcfc) with one legacy virtio-blk device per disk
 * (vmm_pci.c, vmm_blk.c) in stable slots (PCI device numbers 1..8), the
 * hot-plug controller at ports 0xae00..0xae13 (guest ABI 3), and the pages
 * those devices write into guest RAM.  The engine routes port I/O here;
 * the control thread connects and releases the disks, plugs and unplugs
 * them and saves the devices' state.  Every call is thread-safe (a short
 * lock over the bus and the controller, one per device for its I/O; the
 * two are never held together, see vmm_pci.c).
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
    /* Its PCI device number, 1..VMM_MAX_DISKS (0: its position + 1).  A
     * disk's slot never changes while the VM lives. */
    unsigned slot;
};

struct vmm_pci;

/*
 * A bus over guest RAM [mem, mem + mem_size) with disks[0..nr_disks) at
 * their slots, none connected.  NULL on error (reported into ctx: a slot
 * out of range or given twice is -EINVAL).  ctx and mem must outlive it.
 */
struct vmm_pci *vmm_pci_new(struct xt_ctx *ctx, uint8_t *mem,
                            size_t mem_size, const struct vmm_disk_cfg *disks,
                            unsigned nr_disks);
/* Releases every disk (flush, close: failures logged) and frees the bus;
 * NULL-safe.  No vCPU may be inside the bus. */
void vmm_pci_free(struct vmm_pci *pci);

/* Disks present, and their slots as a mask (bit s: slot s). */
unsigned vmm_pci_nr_disks(struct vmm_pci *pci);
uint32_t vmm_pci_slots(struct vmm_pci *pci);
/* Slots whose disk is read-only for the guest (bit s: slot s). */
uint32_t vmm_pci_ro_slots(struct vmm_pci *pci);

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
 * Hot-plug (control thread only; the guest's side is the controller's
 * ports).  vmm_pci_plug() connects cfg's disk (errors as vmm_blk_connect:
 * -ECONNREFUSED, -EROFS, ...), then makes it present in cfg->slot and
 * raises a controller event; -EEXIST when the slot is in use, -EINVAL out
 * of range.
 */
int vmm_pci_plug(struct vmm_pci *pci, const struct vmm_disk_cfg *cfg);

/* What the guest did with an eject request (vmm_pci_eject_poll). */
enum vmm_eject {
    VMM_EJECT_PENDING = 0,      /* no answer yet */
    VMM_EJECT_ACKED,            /* released: the device has left the bus */
    VMM_EJECT_REFUSED,          /* refused: the request is withdrawn */
};
/* Sets slot's eject request and raises an event; -ENODEV when the slot
 * holds no disk. */
int vmm_pci_eject_request(struct vmm_pci *pci, unsigned slot);
/* The guest's answer so far; with withdraw, a request still pending is
 * withdrawn (an event) in the same step, so an answer is never lost. */
enum vmm_eject vmm_pci_eject_poll(struct vmm_pci *pci, unsigned slot,
                                  bool withdraw);
/*
 * Takes the disk in slot off the bus (at once: a forced removal raises an
 * event; the guest sees it vanish), waits for a notify in progress on it,
 * then flushes and closes its connection and frees it.  -ENODEV when the
 * slot is empty.  The device is gone whatever the flush says; a failed
 * flush is reported (its writes since the last flush may be lost).
 */
int vmm_pci_unplug(struct vmm_pci *pci, unsigned slot);

/*
 * Points the disk in slot at the export uri (copied) and, when timeout_ms
 * is not 0, that request timeout, leaving its device state and its place
 * on the bus as they are: the guest sees nothing, the next
 * vmm_pci_disks_connect() connects the new export (control thread only,
 * the vCPUs stopped).  -EINVAL out of range, -ENODEV when the slot holds
 * no disk, -EBUSY while that disk is connected (vmm_blk_retarget).
 */
int vmm_pci_retarget(struct vmm_pci *pci, unsigned slot, const char *uri,
                     unsigned timeout_ms);

/*
 * The controller's registers (XMG_HP_*, guest/xmg_abi.h) as the hosted
 * workload reaches them (the sim engine); the kvm engine's vCPUs reach
 * the same through vmm_pci_port_in/out at XMG_PORT_HP.
 */
uint32_t vmm_pci_hp_read(struct vmm_pci *pci, unsigned reg);
void vmm_pci_hp_write(struct vmm_pci *pci, unsigned reg, uint32_t val);
/* The controller's GEN as a restored guest last knew it (the sim blob;
 * the kvm blob carries it in the device section). */
void vmm_pci_hp_set_gen(struct vmm_pci *pci, uint32_t gen);

/*
 * The disks for a hosted workload (the sim engine), without PCI: disk is
 * the slot - 1 (0..VMM_MAX_DISKS-1).  vmm_pci_disk_io() is
 * vmm_blk_direct_io() (vmm_blk.h): the n requests complete before it
 * returns; -ENOTCONN when the disk is not usable, -ENODEV for a slot that
 * holds no disk.
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

/* Bytes of the device state section for nr_disks disks (kvm blob 3:
 * each record carries its slot, the header the controller's state). */
size_t vmm_pci_state_size(unsigned nr_disks);
/* Writes the section (vmm_pci_state_size(nr disks) bytes) into buf. */
void vmm_pci_state_save(struct vmm_pci *pci, void *buf);
/* Takes a section of len bytes, checked whole first (size, the slots
 * equal this bus's, each disk's read-only flag) so a refused one changes
 * nothing. */
int vmm_pci_state_restore(struct vmm_pci *pci, const void *buf, size_t len);
/* The same for the section of a kvm blob version 2 (no slots: disks at
 * 1..n, no controller state). */
size_t vmm_pci_state_size_v2(unsigned nr_disks);
int vmm_pci_state_restore_v2(struct vmm_pci *pci, const void *buf,
                             size_t len);

#endif /* VMM_PCI_H */
