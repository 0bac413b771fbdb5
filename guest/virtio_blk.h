/*
 * virtio_blk.h - the test guest's driver of legacy (virtio 0.9.5) virtio-blk
 * PCI devices, run from ring 3 through port I/O (docs/specs/guest-abi.md
 * section 6.5).  Guest build only: it uses in/out and rdtsc directly.
 *
 * The driver takes no interrupts: it asks the device for none
 * (VRING_AVAIL_F_NO_INTERRUPT) and polls the used ring.  All its memory
 * (the vrings, request headers and status bytes) is inside struct
 * vblk_set, which the guest keeps in its bss, below image_end, so it never
 * meets the workload's ledgers and working sets.
 */
#ifndef XMG_VIRTIO_BLK_H
#define XMG_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include "workload.h"

/* The largest queue the driver can lay out (legacy devices choose the
 * size; a device offering more is not used). */
#define VBLK_QUEUE_MAX      1024u
/* Bytes of a legacy vring of VBLK_QUEUE_MAX entries, whole pages. */
#define VBLK_RING_BYTES     (8u * 4096u)
/* Requests one vblk_io() call has in flight at most. */
#define VBLK_REQ_MAX        XMG_DISK_BATCH_MAX
/* Devices the driver can hold: those found at boot (at most
 * XMG_MAX_DISKS) and those hot-plugged later (one per slot). */
#define VBLK_DEVS_MAX       XMG_HP_SLOTS

struct vblk_req_hdr {
    uint32_t type;
    uint32_t ioprio;
    uint64_t sector;
};

struct vblk_disk {
    uint8_t ring[VBLK_RING_BYTES] __attribute__((aligned(4096)));
    struct vblk_req_hdr hdr[VBLK_REQ_MAX];
    uint8_t status[VBLK_REQ_MAX];
    uint64_t sectors;       /* capacity, 512-byte sectors */
    uint32_t features;      /* accepted feature bits */
    uint16_t iobase;        /* BAR0 */
    uint16_t qsize;         /* entries of queue 0 */
    uint16_t last_used;     /* used->idx we have consumed up to */
    uint8_t slot;           /* PCI device number on bus 0 */
    bool broken;            /* timed out or misbehaved: not used again */
    bool live;              /* set up, not forgotten */
};

struct vblk_set {
    struct vblk_disk disk[VBLK_DEVS_MAX];
    unsigned nr;            /* entries ever used: disk[0..nr) */
    bool probed;
    uint64_t timeout_ticks; /* TSC ticks a request batch may take */
    bool hp;                /* the hot-plug controller is there (the
                             * workload found it): a request waits only
                             * while its device is present */
};

/*
 * Finds the legacy virtio-blk devices on PCI bus 0 (devices 0 to 31,
 * function 0), at most XMG_MAX_DISKS, and sets each up (reset, features,
 * queue 0, DRIVER_OK), saying on the console what it found and why a
 * device is not used.  Runs once; later calls return s->nr at once.
 */
unsigned vblk_probe(struct vblk_set *s);

/*
 * Sets up the device in PCI slot (device number) as a new disk, in the
 * lowest free entry; its index, or -ENODEV (no virtio-blk device there),
 * -ENOSPC (no entry left), -EIO (the device is not usable, said why).
 */
int vblk_attach(struct vblk_set *s, unsigned slot);
/* Forgets disk i: never touched again; vblk_io() on it fails at once, and
 * its entry may be taken by a later vblk_attach(). */
void vblk_forget(struct vblk_set *s, unsigned i);

/* XMG_BLK_F_* of disk i. */
unsigned vblk_flags(const struct vblk_set *s, unsigned i);

/*
 * env->blk_io (workload.h): submits the n requests on disk i, notifies
 * the device once (unless it asked for no notifications), and polls the
 * used ring until each has completed, in any order.  0, or -EIO (the
 * device answered nonsense), -ETIMEDOUT (not done within
 * s->timeout_ticks), -ENODEV (the device left the bus meanwhile: the
 * hot-plug controller no longer lists its slot), -EINVAL (bad disk or
 * request): the disk is then broken and every later call fails with -EIO.
 */
int vblk_io(struct vblk_set *s, unsigned i, struct xmg_blk_req *reqs,
            unsigned n);

#endif /* XMG_VIRTIO_BLK_H */
