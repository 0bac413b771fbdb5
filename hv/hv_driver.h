/*
 * hv_driver.h - what a hypervisor driver implements: the ops table, and
 * the handle as a driver sees it.  For the drivers in hv/ and for tests
 * that plug a fake driver in (hv_open_ops); every other module includes
 * hv.h only and sees an opaque handle.
 */
#ifndef HV_DRIVER_H
#define HV_DRIVER_H

#include <stdatomic.h>

#include "hv.h"

/* Flags of struct hv_ops. */
/* create makes an empty pfn space, not zeroed pages: every page the source
 * has must be sent, zero ones as zero records, or the destination has a
 * hole there (Xen). */
#define HV_OPS_SPARSE   0x1u
/* create and boot take disks (hv_disk): the driver hands each to the
 * domain as a block device served over NBD. */
#define HV_OPS_DISKS    0x2u

/*
 * The driver table.  Required: open, close, list, info, create, map_batch,
 * unmap, logdirty, dirty_harvest, pause, unpause, state_save,
 * state_restore, destroy.  Optional (NULL => -ENOTSUP): boot, dirty_peek,
 * throttle, suspend, guest_stats, resume_after_failure, populated,
 * shutdown_request, stream_save, stream_restore, disk_plug, disk_unplug
 * (both or neither), disk_retarget; a driver with any disk op has
 * HV_OPS_DISKS.  A driver with HV_OPS_SPARSE must have populated (a
 * migration's first round sends only the pages that op names).
 */
struct hv_ops {
    const char *name;
    unsigned flags;             /* HV_OPS_* */

    /* Connects to the hypervisor; sets h->priv.  args: driver options
     * (a "key=value,key=value" string or NULL). */
    int (*open)(struct hv_handle *h, const char *args);
    void (*close)(struct hv_handle *h);

    /* *infos_r: malloc'd array of *n_r entries, caller frees. */
    int (*list)(struct hv_handle *h, struct hv_domain_info **infos_r,
                size_t *n_r);
    int (*info)(struct hv_handle *h, uint32_t domid,
                struct hv_domain_info *info_r);

    /* An empty, paused domain with spec->nr_pages zeroed pages and no
     * vCPU state yet: the target of a migration.  It belongs to this
     * handle until it first runs: if the handle is closed (or its process
     * dies) before hv_unpause succeeds, the domain goes away by itself. */
    int (*create)(struct hv_handle *h, const struct hv_create_spec *spec,
                  uint32_t *domid_r);
    int (*boot)(struct hv_handle *h, const struct hv_boot_spec *spec,
                uint32_t *domid_r);

    /*
     * Maps n guest pages; pages_r[i] receives the address of pfns[i] (each
     * HV_PAGE_SIZE bytes) or NULL where that page could not be mapped (the
     * call then fails with -EFAULT after filling what it could).  That
     * -EFAULT is the one failure a driver does not report: whether a page
     * that cannot be mapped is an error is the caller's to say (a hole in
     * an HV_OPS_SPARSE driver's pfn space is not).  *map_r is the handle
     * to give to unmap, also after -EFAULT (may be NULL for drivers whose
     * memory is mapped for good).  prot: HV_MAP_READ, HV_MAP_WRITE or
     * both.
     */
    int (*map_batch)(struct hv_handle *h, uint32_t domid, int prot,
                     const uint64_t *pfns, size_t n, void **pages_r,
                     struct hv_mapping **map_r);
    void (*unmap)(struct hv_handle *h, struct hv_mapping *map);

    int (*logdirty)(struct hv_handle *h, uint32_t domid, bool enable);
    /* Bitmap of nr_pages bits (XT_BITMAP_WORDS words), written whole.
     * harvest reads and clears (re-arms tracking); peek only reads.
     * *dirty_r: set bits. */
    int (*dirty_harvest)(struct hv_handle *h, uint32_t domid,
                         uint64_t *bitmap, uint64_t nr_pages,
                         uint64_t *dirty_r);
    int (*dirty_peek)(struct hv_handle *h, uint32_t domid,
                      uint64_t *bitmap, uint64_t nr_pages,
                      uint64_t *dirty_r);

    int (*pause)(struct hv_handle *h, uint32_t domid);
    int (*unpause)(struct hv_handle *h, uint32_t domid);
    /* Takes pct percent (0..99) of the domain's CPU time away. */
    int (*throttle)(struct hv_handle *h, uint32_t domid, unsigned pct);
    /* Quiesce for the final copy (Xen: suspend the guest); drivers
     * without a guest protocol leave it NULL and hv_suspend pauses. */
    int (*suspend)(struct hv_handle *h, uint32_t domid);
    /* Undo a suspend after a failed migration (Xen: xc_domain_resume);
     * NULL: hv_resume_after_failure unpauses. */
    int (*resume_after_failure)(struct hv_handle *h, uint32_t domid);

    /* *blob_r: malloc'd, starts with struct hv_state_hdr, caller frees.
     * The domain must be paused. */
    int (*state_save)(struct hv_handle *h, uint32_t domid, void **blob_r,
                      size_t *len_r);
    int (*state_restore)(struct hv_handle *h, uint32_t domid,
                         const void *blob, size_t len);

    /* flags: HV_STATS_RESET_GAP restarts hb_max_gap_ns after reading. */
    int (*guest_stats)(struct hv_handle *h, uint32_t domid, unsigned flags,
                       struct hv_guest_stats *stats_r);

    /* Of pfns first..first+nr-1 (inside the domain's nr_pages), sets in
     * bitmap (nr bits, bit i for pfn first+i, written whole) the pages
     * that may hold data; a clear bit means the page was never written
     * and reads as zero, so a migration's first round can skip it without
     * touching it (reading an unbacked page would allocate it).  A range
     * at a time, so the first round's pages go out while the rest of a
     * large pfn space is still probed.  *count_r: set bits. */
    int (*populated)(struct hv_handle *h, uint32_t domid, uint64_t first,
                     uint64_t nr, uint64_t *bitmap, uint64_t *count_r);

    /* Asks the guest to shut down cleanly (Xen: control/shutdown =
     * "poweroff"; a test guest: its params page's shutdown request word).
     * Returns once asked; the guest stops by itself later (info state
     * HV_STATE_SHUTDOWN), or never if it does not cooperate. */
    int (*shutdown_request)(struct hv_handle *h, uint32_t domid);

    /*
     * Opaque streams (see struct hv_stream_policy).  stream_save writes
     * the live stream of a running domain to fd, quiescing it for the end
     * as suspend does; on success the domain is left suspended (the engine
     * destroys it after its commit, or calls resume_after_failure); on
     * failure it may be suspended too, and the engine resumes it.
     * stream_restore makes a new domain from spec, reads the stream from
     * fd to its end and finishes the domain (Xen: xenstore, console); it
     * is left paused and belongs to the handle until it first runs, as
     * create's.  On failure nothing is left.  Neither closes fd.
     */
    int (*stream_save)(struct hv_handle *h, uint32_t domid, int fd,
                       const struct hv_stream_policy *policy);
    int (*stream_restore)(struct hv_handle *h,
                          const struct hv_create_spec *spec, int fd,
                          uint32_t *domid_r);

    /* Disk hot-plug of a running domain (hv_disk_plug, hv_disk_unplug;
     * the wrappers checked the slot and flags). */
    int (*disk_plug)(struct hv_handle *h, uint32_t domid,
                     const struct hv_disk *disk);
    int (*disk_unplug)(struct hv_handle *h, uint32_t domid, unsigned slot,
                       unsigned flags, unsigned wait_ms);
    /* Another export for the disk at slot of a paused domain, its device
     * state untouched (hv_disk_retarget; the wrapper checked the slot and
     * that uri is not empty). */
    int (*disk_retarget)(struct hv_handle *h, uint32_t domid, unsigned slot,
                         const char *uri);

    /* Stops and removes the domain and all it holds. */
    int (*destroy)(struct hv_handle *h, uint32_t domid);

    /* Optional: 0 when the domain can be migrated as it is (its type, its
     * devices), else the reason reported (-ENOTSUP naming what stays
     * behind).  The engine asks before it sends anything (hv_can_migrate);
     * NULL: every domain can. */
    int (*can_migrate)(struct hv_handle *h, uint32_t domid);
};

/* The connection a handle and its views share (hv_view). */
struct hv_conn {
    atomic_uint refs;           /* handles on it; the last close closes */
};

/*
 * A handle: the driver's connection (priv, shared by every view of it)
 * and the context this handle reports into.  Drivers report every error
 * into h->ctx and keep nothing of it beyond the call: a view used by
 * another thread reports into that thread's context.
 */
struct hv_handle {
    const struct hv_ops *ops;
    struct xt_ctx *ctx;         /* errors are reported here; not owned */
    void *priv;                 /* the driver's, shared by the views */
    struct hv_conn *conn;
};

/*
 * Opens a handle on a driver given by its table rather than its name:
 * tests' fake drivers.  h->priv starts as priv, then ops->open (if any)
 * runs with args.  As hv_open otherwise.
 */
int hv_open_ops(struct xt_ctx *ctx, const struct hv_ops *ops,
                const char *args, void *priv, struct hv_handle **h_r);

#endif /* HV_DRIVER_H */
