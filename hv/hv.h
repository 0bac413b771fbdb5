/*
 * hv.h - the hypervisor driver table.
 *
 * The migration engine and the pool talk to a hypervisor only through this
 * interface.  Drivers: "kvm" (our xm-vmm processes under /dev/kvm), "sim"
 * (xm-vmm processes that run the test workload in a host thread, dirty
 * tracking by userfaultfd write-protect), "xen" (libxenctrl & co).
 * docs/design/hv.md maps every op to Xen and to KVM.
 *
 * The handle is opaque: callers use the hv_*() wrappers, which check
 * arguments, answer -ENOTSUP for a missing optional op (ask hv_has()
 * first), and keep errors reported once: the driver reports into the
 * handle's context where the error happens.  Drivers implement
 * hv_driver.h.
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

/* A virtual disk of a domain: where its block service serves it. */
#define HV_MAX_DISKS    8
struct hv_disk {
    const char *uri;            /* libnbd URI (nbd+unix:///?socket=...) */
    bool read_only;
    unsigned slot;              /* 1..HV_MAX_DISKS: its place on the VM's
                                 * bus (kvm: PCI device number), stable
                                 * while the VM lives and across a
                                 * migration; 0: its position in the
                                 * array + 1 */
};

/* What a fresh, empty destination domain looks like (hv_create). */
struct hv_create_spec {
    const char *name;           /* may be NULL */
    struct xt_uuid uuid;
    uint64_t nr_pages;
    uint32_t nr_vcpus;
    /* Its disks, in the source's slots (a migration's destination has
     * the disks the source has now, hot-plugged ones included); drivers
     * without disk support refuse nr_disks > 0 (-ENOTSUP), duplicate or
     * out-of-range slots are -EINVAL. */
    const struct hv_disk *disks;
    unsigned nr_disks;
};

/* Boot a new domain running a kernel image (hv_boot; optional). */
struct hv_boot_spec {
    const char *name;
    struct xt_uuid uuid;
    uint64_t nr_pages;
    uint32_t nr_vcpus;
    const char *kernel;         /* path of a Multiboot ELF (xen: of a
                                 * PV or PVH kernel) */
    const char *cmdline;        /* may be NULL */
    /* Optional, NULL when not given; drivers that cannot use them (kvm,
     * sim) refuse them (-ENOTSUP). */
    const char *ramdisk;        /* path of an initial ramdisk (xen) */
    const char *guest_type;     /* driver-specific (xen: "pv" or "pvh";
                                 * NULL: pv, as xl) */
    const struct hv_disk *disks;    /* as in hv_create_spec */
    unsigned nr_disks;
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
    /* the guest's disk workload, from its status page (ABI 2) */
    uint64_t disk_writes, disk_reads;
    uint64_t disk_mismatches;   /* blocks that read back stale or torn */
    uint64_t last_disk_mismatch_block;
    uint64_t disk_errors;       /* requests the device failed */
    bool ready;                 /* the workload announced itself */
    bool exited;                /* the guest wrote XMG_PORT_EXIT */
    uint32_t exit_code;
    /* disk hot-plug as the guest saw it, from its status page (ABI 3) */
    uint64_t disk_hp_attached;  /* disks it attached while running */
    uint64_t disk_hp_ejected;   /* eject requests it acknowledged */
    uint64_t disk_hp_refused;   /* eject requests it refused */
    uint64_t disk_hp_stamps;    /* stamps written, flushed, read back */
    uint32_t disk_hp_slots;     /* bit s: it uses the disk in slot s */
    /* its idle port (ABI 4): the vCPU slept so often, so long, here */
    uint64_t idle_sleeps, idle_ns;
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

/* Protections for map_batch. */
#define HV_MAP_READ     1
#define HV_MAP_WRITE    2

/* A connection to a hypervisor, as one thread uses it: opaque (the
 * drivers' side is hv_driver.h). */
struct hv_handle;
struct hv_mapping;

/* The drivers built in: whether name is one of them, and their names
 * ("kvm sim xen"). */
bool hv_driver_exists(const char *name);
const char *hv_driver_names(void);

/*
 * Opens driver `name` with options `args` (NULL for defaults).  Common
 * options of the kvm and sim drivers: run_dir=PATH (where VMM sockets
 * live, default $XM_VMM_RUN_DIR or /run/xm-pool/vmm), vmm=PATH (the xm-vmm
 * binary).  *h_r: caller frees with hv_close() (NULL-safe).
 */
int hv_open(struct xt_ctx *ctx, const char *name, const char *args,
            struct hv_handle **h_r);
/*
 * Another handle on h's connection that reports into ctx: what a thread
 * other than h's uses (a handle reports into one context, and a context
 * belongs to one thread).  Views of one connection may be used from
 * different threads at once; the connection, and what belongs to it (the
 * domains it created and has not run yet, see create), lives until its
 * last handle is closed.  *view_r: caller frees with hv_close().
 */
int hv_view(struct hv_handle *h, struct xt_ctx *ctx,
            struct hv_handle **view_r);
void hv_close(struct hv_handle *h);

/* The driver's name: "kvm", "sim", "xen". */
const char *hv_name(const struct hv_handle *h);
/* create makes an empty pfn space (not zeroed pages): a migration must
 * send every page the source has, zero ones as zero records (Xen). */
bool hv_is_sparse(const struct hv_handle *h);

/* What a driver can do beyond the required ops; the wrappers of a missing
 * capability answer -ENOTSUP (reported). */
enum hv_cap {
    HV_CAP_BOOT,                /* hv_boot */
    HV_CAP_DIRTY_PEEK,          /* hv_dirty_peek */
    HV_CAP_THROTTLE,            /* hv_throttle */
    HV_CAP_GUEST_STATS,         /* hv_guest_stats: test guests' figures */
    HV_CAP_POPULATED,           /* hv_populated */
    HV_CAP_SHUTDOWN_REQUEST,    /* hv_shutdown_request */
    HV_CAP_OPAQUE_STREAM,       /* hv_stream_save and hv_stream_restore */
    HV_CAP_DISKS,               /* create/boot specs may carry disks */
    HV_CAP_DISK_HOTPLUG,        /* hv_disk_plug, hv_disk_unplug (kvm,
                                 * sim; not xen) */
    HV_CAP_DISK_RETARGET,       /* hv_disk_retarget (kvm, sim; not
                                 * xen) */
};
bool hv_has(const struct hv_handle *h, enum hv_cap cap);

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
/* 0 when domid can be migrated as it is (the driver's check of its type
 * and devices, when it has one), else the reason reported: the engine
 * asks before it sends anything. */
int hv_can_migrate(struct hv_handle *h, uint32_t domid);
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
/*
 * Disk hot-plug (HV_CAP_DISK_HOTPLUG).  hv_disk_plug adds disk to running
 * domain domid at disk->slot (1..HV_MAX_DISKS, not 0): connects it first,
 * then shows it to the guest.  -EEXIST slot in use, -EAGAIN domain not
 * running (paused, incoming: retry after), -EINVAL bad slot, connect
 * errors as the VMM reports them (-ECONNREFUSED, -EBUSY, -EROFS...).
 */
int hv_disk_plug(struct hv_handle *h, uint32_t domid,
                 const struct hv_disk *disk);
/*
 * Asks the guest to release the disk at slot, waits up to wait_ms (0: the
 * VMM's default, 10 s; at most 25 s) for its answer, then flushes and
 * closes it.  -EBUSY the guest refused (the disk stays, the message says
 * why), -ETIMEDOUT the guest did not answer (the disk stays), -ENODEV no
 * disk at slot, -EAGAIN not running.  HV_UNPLUG_FORCE: removes it at once
 * without asking (the guest sees the device vanish; its requests in
 * flight fail).
 */
#define HV_UNPLUG_FORCE 0x1u
int hv_disk_unplug(struct hv_handle *h, uint32_t domid, unsigned slot,
                   unsigned flags, unsigned wait_ms);
/*
 * Storage live migration's switch-over (HV_CAP_DISK_RETARGET): points the
 * disk at slot of paused (or created, not yet run) domain domid at
 * another export, uri, a libnbd URI (copied), transparently for the
 * guest: same slot, same device state, no hot-plug event; the read-only
 * flag and the request timeout stay the disk's.  The new export is not
 * contacted here: the next hv_unpause connects it, and fails when nothing
 * serves it or its size is not the disk's (the domain stays paused, the
 * error names the disk; retarget again and unpause).  -EBUSY the domain
 * is running (hv_pause first: that flushes and releases its disks),
 * -ENODEV no disk at slot, -EINVAL bad slot or URI, or the domain has
 * stopped (shut down, crashed).
 */
int hv_disk_retarget(struct hv_handle *h, uint32_t domid, unsigned slot,
                     const char *uri);
int hv_populated(struct hv_handle *h, uint32_t domid, uint64_t first,
                 uint64_t nr, uint64_t *bitmap, uint64_t *count_r);
int hv_shutdown_request(struct hv_handle *h, uint32_t domid);
int hv_destroy(struct hv_handle *h, uint32_t domid);
int hv_stream_save(struct hv_handle *h, uint32_t domid, int fd,
                   const struct hv_stream_policy *policy);
int hv_stream_restore(struct hv_handle *h, const struct hv_create_spec *spec,
                      int fd, uint32_t *domid_r);

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
