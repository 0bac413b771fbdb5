/*
 * hv_xen_stream.c - Xen PV guests moved as libxenguest's own migration
 * stream: the opaque-stream ops of hv.h (stream_save, stream_restore).
 *
 * A PV guest's page tables hold machine frame numbers, which differ on
 * every host: only libxenguest knows how to canonicalise them on save
 * (mfn -> pfn) and localise them on restore, so PV guests cannot take the
 * engine's page path.  Save: xc_domain_save, live, with its pre-copy
 * questions answered by the engine's policy (hv_xen_precopy_decide) and
 * the final quiesce done by hv_xen_suspend.  Restore: an empty PV domain
 * from hv_xen_make_domain, its xenstore and console channels, then
 * xc_domain_restore, and hv_xen_introduce finishes what the toolstack owes
 * a restored domain (xenstore tree, console, introduction to xenstored).
 * libxl does the same around its save helper (libxl_dom_save.c,
 * libxl_create.c); its own stream records (xenstore data, device model)
 * are not needed: the engine carries the configuration, and the receiver
 * writes xenstore itself.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hv_xen_priv.h"
#include "hv_xen_stream.h"

/* The domain that runs xenstored and xenconsoled: dom0 here, as in the
 * pool's hosts. */
#define BACKEND_DOMID   0u

int hv_xen_precopy_decide(const struct precopy_stats *stats,
                          const struct hv_stream_policy *policy)
{
    if (stats->dirty_count < 0)
        return XGS_POLICY_CONTINUE_PRECOPY;
    switch (policy->precopy(policy->arg, stats->iteration,
                            (uint64_t)stats->dirty_count,
                            (uint64_t)stats->total_written)) {
    case HV_STREAM_CONTINUE:
        return XGS_POLICY_CONTINUE_PRECOPY;
    case HV_STREAM_STOP:
        return XGS_POLICY_STOP_AND_COPY;
    default:
        return XGS_POLICY_ABORT;
    }
}

/* ---- save --------------------------------------------------------------- */

/* What the save callbacks share (their data argument). */
struct save_state {
    struct hv_handle *h;
    uint32_t domid;
    const struct hv_stream_policy *policy;
    int suspend_rc;             /* hv_xen_suspend's failure (reported) */
    bool aborted;               /* the policy said HV_STREAM_ABORT */
};

static int save_precopy(struct precopy_stats stats, void *data)
{
    struct save_state *s = data;
    int d = hv_xen_precopy_decide(&stats, s->policy);

    if (d == XGS_POLICY_ABORT)
        s->aborted = true;
    return d;
}

/* libxenguest's convention: non-zero is success. */
static int save_suspend(void *data)
{
    struct save_state *s = data;

    s->suspend_rc = hv_xen_suspend(s->h, s->domid);
    return s->suspend_rc == 0;
}

/* Only called for checkpointed (Remus, COLO) streams, which we never ask
 * for: answer "done, resume nothing" (> 0 is success) and "no further
 * checkpoint" (0). */
static int save_postcopy(void *data)
{
    (void)data;
    return 1;
}

static int save_checkpoint(void *data)
{
    (void)data;
    return 0;
}

int hv_xen_stream_save(struct hv_handle *h, uint32_t domid, int fd,
                       const struct hv_stream_policy *policy)
{
    struct xen_priv *p = hv_xen_priv(h);
    struct save_state s = { .h = h, .domid = domid, .policy = policy };
    struct save_callbacks cb;
    xc_domaininfo_t di;
    enum hv_xen_guest_type type;
    int rc;

    rc = hv_xen_check_domid(h->ctx, "stream save", domid, false);
    if (rc < 0)
        return rc;
    rc = hv_xen_dominfo(h, "stream save", domid, &di);
    if (rc < 0)
        return rc;
    type = hv_xen_guest_type(&di);
    if (type != HV_XEN_GUEST_PV)
        return xt_error(h->ctx, -ENOTSUP, "xen stream save of domain %u: a "
                        "%s guest; only PV guests move as libxenguest's "
                        "stream", domid, hv_xen_guest_type_name(type));
    if (di.flags & (XEN_DOMINF_dying | XEN_DOMINF_shutdown))
        return xt_error(h->ctx, -EINVAL, "xen stream save of domain %u: the "
                        "domain is %s", domid,
                        hv_run_state_name(hv_xen_run_state(di.flags)));
    /* Found out now rather than after the whole pre-copy: the guest must
     * run to acknowledge the suspend at the end. */
    if (di.flags & XEN_DOMINF_paused)
        return xt_error(h->ctx, -EBUSY, "xen stream save of domain %u: the "
                        "domain is paused and could not acknowledge the "
                        "final suspend; migrate it running", domid);
    rc = hv_xen_check_devices(h, "stream save", domid);
    if (rc < 0)
        return rc;

    memset(&cb, 0, sizeof(cb));
    cb.suspend = save_suspend;
    cb.precopy_policy = save_precopy;
    cb.postcopy = save_postcopy;
    cb.checkpoint = save_checkpoint;
    cb.data = &s;
    if (xc_domain_save(p->xch, fd, domid, XCFLAGS_LIVE, &cb,
                       XC_STREAM_PLAIN, -1) != 0) {
        rc = hv_xen_lib_rc();
        if (s.suspend_rc < 0)
            return s.suspend_rc;
        if (s.aborted)
            return xt_error(h->ctx, -ECANCELED, "xen stream save of domain "
                            "%u: the pre-copy policy aborted", domid);
        return xt_error(h->ctx, rc, "xen stream save of domain %u: "
                        "xc_domain_save failed", domid);
    }
    return 0;
}

/* ---- restore ------------------------------------------------------------ */

struct restore_state {
    struct hv_handle *h;
    uint32_t domid;
    int rc;                     /* a callback's failure (reported) */
};

/*
 * The stream's static data (CPUID and MSR policies) has been read.  A
 * stream from before Xen 4.14 carries no CPUID policy: give the domain the
 * default one for a restored domain, as libxl does; missing MSRs need
 * nothing.
 */
static int restore_static_data_done(unsigned int missing, void *data)
{
    struct restore_state *s = data;
    struct xen_priv *p = hv_xen_priv(s->h);

    if (!(missing & XGR_SDD_MISSING_CPUID))
        return 0;
    if (xc_cpuid_apply_policy(p->xch, s->domid, true, NULL, 0, true, false,
                              false, NULL, NULL) < 0) {
        s->rc = xt_error(s->h->ctx, hv_xen_lib_rc(), "xen stream restore "
                         "into domain %u: the stream has no CPUID policy "
                         "and xc_cpuid_apply_policy failed", s->domid);
        return -1;
    }
    return 0;
}

int hv_xen_stream_restore(struct hv_handle *h,
                          const struct hv_create_spec *spec, int fd,
                          uint32_t *domid_r)
{
    struct xen_priv *p = hv_xen_priv(h);
    struct restore_state s = { .h = h };
    struct restore_callbacks cb;
    unsigned long store_gfn = 0, console_gfn = 0;
    uint32_t domid = 0, store_port = 0, console_port = 0;
    bool made = false;
    int rc;

    *domid_r = 0;
    rc = hv_xen_make_domain(h, spec, HV_XEN_GUEST_PV, &domid);
    if (rc < 0)
        return rc;
    made = true;
    s.domid = domid;
    rc = hv_xen_alloc_channels(h, domid, &store_port, &console_port);
    if (rc < 0)
        goto out;

    /* The frames of the store and console rings come back through the
     * out parameters (restore_results is for checkpointed streams). */
    memset(&cb, 0, sizeof(cb));
    cb.static_data_done = restore_static_data_done;
    cb.data = &s;
    if (xc_domain_restore(p->xch, fd, domid, store_port, &store_gfn,
                          BACKEND_DOMID, console_port, &console_gfn,
                          BACKEND_DOMID, XC_STREAM_PLAIN, &cb, -1) != 0) {
        rc = hv_xen_lib_rc();
        if (s.rc < 0)
            rc = s.rc;
        else
            xt_error(h->ctx, rc, "xen stream restore into domain %u: "
                     "xc_domain_restore failed", domid);
        goto out;
    }
    rc = hv_xen_introduce(h, domid, store_gfn, store_port, console_gfn,
                          console_port);
    if (rc < 0)
        goto out;
    xt_debug(h->ctx, "xen: domain %u restored from a PV stream (store "
             "%#lx port %u, console %#lx port %u)", domid, store_gfn,
             store_port, console_gfn, console_port);
    *domid_r = domid;
    made = false;
out:
    if (made) {
        /* Nothing may be left (hv.h); keep the error that got us here. */
        bool quiet = h->ctx->quiet_errors;
        int keep = h->ctx->err_rc;
        char msg[XT_ERRMSG_MAX];

        snprintf(msg, sizeof(msg), "%s", h->ctx->err_msg);
        h->ctx->quiet_errors = true;
        if (hv_destroy(h, domid) < 0)
            xt_warn(h->ctx, "xen stream restore: destroying the half-built "
                    "domain %u failed: %s", domid, h->ctx->err_msg);
        h->ctx->quiet_errors = quiet;
        h->ctx->err_rc = keep;
        snprintf(h->ctx->err_msg, sizeof(h->ctx->err_msg), "%s", msg);
    }
    return rc;
}
