/*
 * hv.h - the hypervisor driver table.
 *
 * The migration engine and the pool talk to a hypervisor only through this
 * interface.  Drivers: "kvm" (our xm-vmm processes under /dev/kvm), "sim"
 * (xm-vmm processes that run the test workload in a host thread, dirty
 * tracking by userfaultfd write-protect), "xen" (libxenctrl & co).
 * docs/design/hv.md maps every op to Xen and to KVM.
 *
 * Call the hv_*() wrappers, never the ops directly: the wrappers check
 * arguments, answer -ENOTSUP for a missing optional op, and keep errors
 * reported once (a driver reports into h->ctx where the error happens).
 */
#ifndef HV_H
#define HV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xt.h"

#define HV_PAGE_SIZE    4096u
#define HV_PAGE_SHIFT   12u

enum hv_run_state {
    HV_STATE_RUNNING = 0,
    HV_STATE_PAUSED,
    HV_STATE_SUSPENDED,     /* Xen: guest acknowledged a suspend request */
    HV_STATE_SHUTDOWN,
    HV_STATE_CRASHED,
    HV_STATE_DYING,
};

const char *hv_run_state_name(enum hv_run_state s);

#define HV_NAME_MAX 64

struct hv_domain_info {
    uint32_t domid;
    char name[HV_NAME_MAX];     /* "" if the hypervisor keeps none */
    struct xt_uuid uuid;
    uint64_t nr_pages;          /* guest-physical frames: pfns 0..nr_pages-1 */
    uint32_t nr_vcpus;
    enum hv_run_state state;
    bool logdirty;              /* log-dirty mode enabled */
    uint32_t throttle_pct;      /* share of CPU taken away, 0 = none */
    bool opaque_stream;         /* moved only by stream_save/stream_restore
                                 * (Xen PV guests) */
};

/* What a fresh, empty destination domain looks like (hv_create). */
struct hv_create_spec {
    const char *name;           /* may be NULL */
    struct xt_uuid uuid;
    uint64_t nr_pages;
    uint32_t nr_vcpus;
};

/* Boot a new domain running a kernel image (hv_boot; optional). */
struct hv_boot_spec {
    const char *name;
    struct xt_uuid uuid;
    uint64_t nr_pages;
    uint32_t nr_vcpus;
    const char *kernel;         /* path of a Multiboot ELF */
    const char *cmdline;        /* may be NULL */
};

/*
 * What a test guest (guest/xmg_abi.h) reported to its host, as stamped by
 * the host (optional op hv_guest_stats).  Times are CLOCK_MONOTONIC ns.
 */
struct hv_guest_stats {
    bool is_test_guest;         /* false: the other fields are 0 */
    uint64_t hb_count;          /* heartbeats seen by this host */
    uint64_t hb_first_seq, hb_first_ns;   /* first seen by this host */
    uint64_t hb_last_seq, hb_last_ns;     /* last seen */
    uint64_t hb_max_gap_ns;     /* longest gap between consecutive
                                 * heartbeats seen by this host */
    uint64_t hb_seq_breaks;     /* times seq != previous + 1 */
    uint64_t mismatches;        /* ledger mismatches reported */
    uint64_t last_mismatch_pfn;
    uint64_t pages_written;     /* from the guest's status page */
    bool ready;                 /* the workload announced itself */
    bool exited;                /* the guest wrote XMG_PORT_EXIT */
    uint32_t exit_code;
};

/* Blob framing shared by drivers' state_save/state_restore: every blob
 * starts with this header; drivers check all of it. */
#define HV_STATE_MAGIC  0x54534d58u     /* "XMST" */
struct hv_state_hdr {
    uint32_t magic;
    uint32_t version;           /* driver's blob version */
    char driver[8];             /* "kvm", "sim", "xen", NUL padded */
    uint64_t length;            /* whole blob including this header */
    uint64_t checksum;          /* XXH3-64 of the bytes after the header */
};

/*
 * Opaque streams (optional ops stream_save / stream_restore): for guests
 * whose state only the hypervisor's own library can carry (Xen PV: its
 * page tables must be canonicalised, which libxenguest does).  The engine
 * carries the bytes over its own connection and keeps its handshake.
 *
 * precopy is called between pre-copy rounds with the round number (0 =
 * the first), the pages dirty now and the pages sent so far; it returns
 * HV_STREAM_CONTINUE, HV_STREAM_STOP (suspend and send the rest) or
 * HV_STREAM_ABORT (the save fails, the domain keeps running).
 */
enum { HV_STREAM_CONTINUE = 0, HV_STREAM_STOP = 1, HV_STREAM_ABORT = -1 };
struct hv_stream_policy {
    int (*precopy)(void *arg, unsigned round, uint64_t dirty_pages,
                   uint64_t sent_pages);
    void *arg;
};

/* Flags of struct hv_ops. */
/* create makes an empty pfn space, not zeroed pages: every page the source
 * has must be sent, zero ones as zero records, or the destination has a
 * hole there (Xen). */
#define HV_OPS_SPARSE   0x1u

/* Protections for map_batch. */
#define HV_MAP_READ     1
#define HV_MAP_WRITE    2

struct hv_handle;
struct hv_mapping;

/*
 * The driver table.  Required: open, close, list, info, create, map_batch,
 * unmap, logdirty, dirty_harvest, pause, unpause, state_save,
 * state_restore, destroy.  Optional (NULL => -ENOTSUP): boot, dirty_peek,
 * throttle, suspend, guest_stats, resume_after_failure, populated,
 * shutdown_request, stream_save, stream_restore.
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

    /* Sets in bitmap (nr_pages bits, written whole) the pages that may
     * hold data; a clear bit means the page was never written and reads
     * as zero, so a migration's first round can skip it without touching
     * it (reading an unbacked page would allocate it).  *count_r: set
     * bits. */
    int (*populated)(struct hv_handle *h, uint32_t domid, uint64_t *bitmap,
                     uint64_t nr_pages, uint64_t *count_r);

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

    /* Stops and removes the domain and all it holds. */
    int (*destroy)(struct hv_handle *h, uint32_t domid);
};

struct hv_handle {
    const struct hv_ops *ops;
    struct xt_ctx *ctx;         /* errors are reported here; not owned */
    void *priv;                 /* the driver's */
};

/* The drivers built in.  hv_driver_find returns NULL for an unknown name;
 * hv_driver_names lists them ("kvm sim xen"). */
const struct hv_ops *hv_driver_find(const char *name);
const char *hv_driver_names(void);

/*
 * Opens driver `name` with options `args` (NULL for defaults).  Common
 * options of the kvm and sim drivers: run_dir=PATH (where VMM sockets
 * live, default $XM_VMM_RUN_DIR or /run/xm-pool/vmm), vmm=PATH (the xm-vmm
 * binary).  *h_r: caller frees with hv_close() (NULL-safe).
 */
int hv_open(struct xt_ctx *ctx, const char *name, const char *args,
            struct hv_handle **h_r);
void hv_close(struct hv_handle *h);

int hv_list(struct hv_handle *h, struct hv_domain_info **infos_r, size_t *n_r);
int hv_info(struct hv_handle *h, uint32_t domid, struct hv_domain_info *info_r);
int hv_create(struct hv_handle *h, const struct hv_create_spec *spec,
              uint32_t *domid_r);
int hv_boot(struct hv_handle *h, const struct hv_boot_spec *spec,
            uint32_t *domid_r);
int hv_map_batch(struct hv_handle *h, uint32_t domid, int prot,
                 const uint64_t *pfns, size_t n, void **pages_r,
                 struct hv_mapping **map_r);
void hv_unmap(struct hv_handle *h, struct hv_mapping *map);
int hv_logdirty(struct hv_handle *h, uint32_t domid, bool enable);
int hv_dirty_harvest(struct hv_handle *h, uint32_t domid, uint64_t *bitmap,
                     uint64_t nr_pages, uint64_t *dirty_r);
int hv_dirty_peek(struct hv_handle *h, uint32_t domid, uint64_t *bitmap,
                  uint64_t nr_pages, uint64_t *dirty_r);
int hv_pause(struct hv_handle *h, uint32_t domid);
int hv_unpause(struct hv_handle *h, uint32_t domid);
int hv_throttle(struct hv_handle *h, uint32_t domid, unsigned pct);
int hv_suspend(struct hv_handle *h, uint32_t domid);
int hv_resume_after_failure(struct hv_handle *h, uint32_t domid);
int hv_state_save(struct hv_handle *h, uint32_t domid, void **blob_r,
                  size_t *len_r);
int hv_state_restore(struct hv_handle *h, uint32_t domid, const void *blob,
                     size_t len);
int hv_guest_stats(struct hv_handle *h, uint32_t domid,
                   struct hv_guest_stats *stats_r);
#define HV_STATS_RESET_GAP 0x1u
int hv_guest_stats_ex(struct hv_handle *h, uint32_t domid, unsigned flags,
                      struct hv_guest_stats *stats_r);
int hv_populated(struct hv_handle *h, uint32_t domid, uint64_t *bitmap,
                 uint64_t nr_pages, uint64_t *count_r);
int hv_shutdown_request(struct hv_handle *h, uint32_t domid);
int hv_destroy(struct hv_handle *h, uint32_t domid);
int hv_stream_save(struct hv_handle *h, uint32_t domid, int fd,
                   const struct hv_stream_policy *policy);
int hv_stream_restore(struct hv_handle *h, const struct hv_create_spec *spec,
                      int fd, uint32_t *domid_r);
/* The driver's HV_OPS_* flags. */
unsigned hv_flags(const struct hv_handle *h);

/*
 * Reads the xmg_header of a test-guest image file (guest/xmg_abi.h): the
 * addresses in it are absolute, so a host can find the guest's status and
 * params pages without loading the image.  0, -ENOENT when the file holds
 * no header in its first MiB, or -errno.  Does not report.
 */
struct xmg_header;
int hv_guest_image_header(const char *path, struct xmg_header *hdr_r);

/*
 * Blob framing helpers for drivers: hv_state_seal fills the header of a
 * blob of len bytes (magic, version, driver, length, checksum);
 * hv_state_check validates one received (magic, driver, version, length ==
 * len, checksum) and reports what is wrong into ctx: -EINVAL for a bad
 * magic/driver/length/checksum, -EPROTO for a wrong version.
 */
void hv_state_seal(void *blob, size_t len, const char *driver,
                   uint32_t version);
int hv_state_check(struct xt_ctx *ctx, const void *blob, size_t len,
                   const char *driver, uint32_t version);

#endif /* HV_H */
