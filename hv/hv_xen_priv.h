/*
 * hv_xen_priv.h - what the files of the Xen driver share (hv_xen.c: the
 * ops and the toolstack part of a restore; hv_xen_stream.c: PV guests
 * moved through libxenguest's own stream).  Not for other modules.
 */
#ifndef HV_XEN_PRIV_H
#define HV_XEN_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <xenctrl.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
#include <xenstore.h>
#include <xentoollog.h>

#include "hv_driver.h"
#include "hv_xen_internal.h"

/* Routes the Xen libraries' messages into our log at debug level: what
 * went wrong is reported once, by us, through xt_error. */
struct xen_logger {
    xentoollog_logger ops;      /* first: the libraries hold &ops */
    struct xt_ctx *ctx;         /* owned: logging only, never reported
                                 * into */
};

/* A domain this handle created: its pfn space, in lazy mode which pfns
 * have been populated, and what the xenstore introduction writes. */
struct created_dom {
    struct created_dom *next;
    uint32_t domid;
    uint64_t nr_pages;
    uint64_t *populated;        /* NULL: all populated (eager) */
    char name[HV_NAME_MAX];     /* "" if the spec had none */
    struct xt_uuid uuid;
    enum hv_xen_guest_type type;
    bool introduced;            /* in xenstore: destroy removes its tree */
};

struct xen_priv {
    struct xen_logger logger;
    struct hv_xen_opts opts;
    xc_interface *xch;
    xenforeignmemory_handle *fmem;
    struct xs_handle *xsh;
    xenevtchn_handle *xce;      /* for the suspend event channel (later) */
    pthread_mutex_t lock;       /* guards created and the reaper */
    struct created_dom *created;
    /* The reaper (hv/xm_xen_reaper.c): destroys the domains this handle
     * created and never ran if this process goes away.  -1 / 0 until the
     * first create. */
    int reaper_fd;
    pid_t reaper_pid;
    /* Domains whose log-dirty mode this handle turned on (there is no Xen
     * call to ask); bits updated atomically. */
    uint64_t logdirty[XT_BITMAP_WORDS(DOMID_FIRST_RESERVED)];
};

struct hv_mapping {
    void *base;
    size_t count;
};

/* The rc for a failed Xen library call: -errno, -EIO if errno says
 * nothing.  Call it first, before anything can clobber errno. */
int hv_xen_lib_rc(void);

struct xen_priv *hv_xen_priv(struct hv_handle *h);

/* One domain's getdomaininfo record; -ESRCH (reported) when there is no
 * such domain.  op names the operation for the message. */
int hv_xen_dominfo(struct hv_handle *h, const char *op, uint32_t domid,
                   xc_domaininfo_t *di);

/* -ENOTSUP (reported) when the domain has devices other than its console
 * in xenstore (vbd, vif, ...), whose backends a migration would drop. */
int hv_xen_check_devices(struct hv_handle *h, const char *op, uint32_t domid);

/*
 * A new, paused, empty domain of the given type (PV or PVH): createdomain
 * with libxl's defaults for that type, vCPUs, memory limit, paging pool,
 * TSC mode per the options.  The domain is registered as created by this
 * handle (lazy population, destroy of a half-built domain by the reaper if
 * this process dies before hv_unpause).  PV domains get no memory here
 * (libxenguest's restore populates them).  On failure nothing is left.
 */
int hv_xen_make_domain(struct hv_handle *h, const struct hv_create_spec *spec,
                       enum hv_xen_guest_type type, uint32_t *domid_r);

/* Fresh unbound event channels in domid for xenstored and xenconsoled
 * (both in dom0), store first as libxl does. */
int hv_xen_alloc_channels(struct hv_handle *h, uint32_t domid,
                          uint32_t *store_port_r, uint32_t *console_port_r);

/*
 * The toolstack's part of finishing a restored domain this handle created:
 * for PVH the event channel HVM params; the grant table's reserved
 * entries for the console and xenstore rings (xc_dom_gnttab_seed); the
 * domain's xenstore tree (name, domid, vm, control/ and the other
 * guest-writable directories, console/ for xenconsoled); then
 * xs_introduce_domain.  The domain stays paused.
 */
int hv_xen_introduce(struct hv_handle *h, uint32_t domid,
                     uint64_t store_gfn, uint32_t store_port,
                     uint64_t console_gfn, uint32_t console_port);

/* The suspend and resume of the ops table (control/shutdown = suspend and
 * wait for SHUTDOWN_suspend; xc_domain_resume(fast)). */
int hv_xen_suspend(struct hv_handle *h, uint32_t domid);
int hv_xen_resume(struct hv_handle *h, uint32_t domid);

/* The boot op (hv_xen_boot.c): `xl create` of the spec, see hv.h. */
int hv_xen_boot(struct hv_handle *h, const struct hv_boot_spec *spec,
                uint32_t *domid_r);

/* The opaque-stream ops for PV guests (hv_xen_stream.c): libxenguest's
 * xc_domain_save / xc_domain_restore, see hv.h. */
int hv_xen_stream_save(struct hv_handle *h, uint32_t domid, int fd,
                       const struct hv_stream_policy *policy);
int hv_xen_stream_restore(struct hv_handle *h,
                          const struct hv_create_spec *spec, int fd,
                          uint32_t *domid_r);

#endif /* HV_XEN_PRIV_H */
