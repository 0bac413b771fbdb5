/*
 * hv_xen.c - the "xen" hypervisor driver: libxenctrl, libxenguest,
 * libxenstore, libxenforeignmemory and libxenevtchn from a (PV or PVH)
 * control domain.
 *
 * Status: the parts that need no hypervisor (option parsing, argument
 * checks, bitmap conversion, state mapping, blob layout) are unit-tested
 * (tests/unit/hv/test_hv_xen.c).  The calls into Xen have run in the Xen
 * lane (tests/xen, a real Xen 4.17 under QEMU TCG): open, info, populated,
 * map, log-dirty, create and lazy population, and libxenguest's save and
 * restore through hv_xen_stream.c -- but no migration has completed there
 * yet: our stream's checksums stopped every attempt (docs/design/hv.md,
 * "The Xen lane": the emulated host corrupts dom0's memory; whether that
 * explains every mismatch is open).
 *
 * Guest types: PVH through our engine (pages + this driver's state blob),
 * PV through libxenguest's own stream (hv_xen_stream.c).  HVM domains with
 * a device model are refused where QEMU's own state or writes would be
 * missed (logdirty, suspend, state).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>
#include <time.h>

#include <xenctrl.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
#include <xenguest.h>
#include <xenstore.h>
#include <xentoollog.h>
#include <xen/hvm/params.h>

#include "hv_internal.h"
#include "hv_xen_internal.h"
#include "hv_xen_priv.h"

#define XEN_ULONG_BITS  ((unsigned)(sizeof(unsigned long) * CHAR_BIT))

/* xc_domain_getinfolist entries fetched per call by list. */
#define LIST_CHUNK      64u
/* pfns per xc_domain_populate_physmap_exact call. */
#define POPULATE_CHUNK  1024u
/* Most vCPUs a PVH domain may have (Xen 4.17's HVM_MAX_VCPUS). */
#define XEN_MAX_VCPUS   128u
/* Slack on top of the guest's pages in its memory limit, as libxl. */
#define MAXMEM_SLACK_KB 1024u

int hv_xen_lib_rc(void)
{
    return errno > 0 ? -errno : -EIO;
}

struct xen_priv *hv_xen_priv(struct hv_handle *h)
{
    return h->priv;
}

/* ---- options ----------------------------------------------------------- */

void hv_xen_opts_default(struct hv_xen_opts *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->suspend_timeout_ms = HV_XEN_SUSPEND_TIMEOUT_MS_DEFAULT;
    opts->populate = HV_XEN_POPULATE_LAZY;
    opts->hap = HV_XEN_HAP_AUTO;
    opts->tsc_mode_set = false;
    opts->tsc_mode = HV_XEN_TSC_MODE_DEFAULT;
}

static int parse_u32(const char *s, uint32_t min, uint32_t max,
                     uint32_t *val_r)
{
    unsigned long long v;
    char *end;

    if (*s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -EINVAL;
    *val_r = (uint32_t)v;
    return 0;
}

/* Applies one key=value; key and val are NUL-terminated pieces of a copy
 * of the option string. */
static int apply_opt(struct xt_ctx *ctx, const char *key, const char *val,
                     struct hv_xen_opts *opts)
{
    if (!strcmp(key, "suspend_timeout_ms")) {
        if (parse_u32(val, 1, HV_XEN_SUSPEND_TIMEOUT_MS_MAX,
                      &opts->suspend_timeout_ms) < 0)
            return xt_error(ctx, -EINVAL, "xen driver option "
                            "suspend_timeout_ms: '%s' is not a number of "
                            "milliseconds in 1..%u", val,
                            HV_XEN_SUSPEND_TIMEOUT_MS_MAX);
    } else if (!strcmp(key, "populate")) {
        if (!strcmp(val, "lazy"))
            opts->populate = HV_XEN_POPULATE_LAZY;
        else if (!strcmp(val, "eager"))
            opts->populate = HV_XEN_POPULATE_EAGER;
        else
            return xt_error(ctx, -EINVAL, "xen driver option populate: "
                            "'%s' is not lazy or eager", val);
    } else if (!strcmp(key, "hap")) {
        if (!strcmp(val, "auto"))
            opts->hap = HV_XEN_HAP_AUTO;
        else if (!strcmp(val, "yes"))
            opts->hap = HV_XEN_HAP_YES;
        else if (!strcmp(val, "no"))
            opts->hap = HV_XEN_HAP_NO;
        else
            return xt_error(ctx, -EINVAL, "xen driver option hap: '%s' is "
                            "not auto, yes or no", val);
    } else if (!strcmp(key, "tsc_mode")) {
        if (!strcmp(val, "default")) {
            opts->tsc_mode_set = false;
            opts->tsc_mode = HV_XEN_TSC_MODE_DEFAULT;
        } else if (!strcmp(val, "native")) {
            opts->tsc_mode_set = true;
            opts->tsc_mode = HV_XEN_TSC_MODE_NATIVE;
        } else if (!strcmp(val, "always_emulate")) {
            opts->tsc_mode_set = true;
            opts->tsc_mode = HV_XEN_TSC_MODE_ALWAYS_EMULATE;
        } else {
            return xt_error(ctx, -EINVAL, "xen driver option tsc_mode: "
                            "'%s' is not default, native or always_emulate",
                            val);
        }
    } else {
        return xt_error(ctx, -EINVAL, "unknown xen driver option '%s' "
                        "(known: suspend_timeout_ms, populate, hap, "
                        "tsc_mode)", key);
    }
    return 0;
}

int hv_xen_opts_parse(struct xt_ctx *ctx, const char *args,
                      struct hv_xen_opts *opts)
{
    char *copy = NULL, *item, *next, *eq;
    int rc = 0;

    hv_xen_opts_default(opts);
    if (!args || !*args)
        return 0;
    copy = strdup(args);
    if (!copy)
        return xt_error(ctx, -ENOMEM, "xen driver options: copying '%s'",
                        args);
    for (item = copy; item; item = next) {
        next = strchr(item, ',');
        if (next)
            *next++ = '\0';
        if (!*item) {
            rc = xt_error(ctx, -EINVAL, "xen driver options '%s': empty "
                          "option", args);
            goto out;
        }
        eq = strchr(item, '=');
        if (!eq) {
            rc = xt_error(ctx, -EINVAL, "xen driver option '%s' needs a "
                          "value (key=value)", item);
            goto out;
        }
        *eq = '\0';
        if (!*item) {
            rc = xt_error(ctx, -EINVAL, "xen driver options '%s': option "
                          "without a name", args);
            goto out;
        }
        rc = apply_opt(ctx, item, eq + 1, opts);
        if (rc < 0)
            goto out;
    }
out:
    free(copy);
    return rc;
}

/* ---- argument checks ---------------------------------------------------- */

int hv_xen_check_domid(struct xt_ctx *ctx, const char *op, uint32_t domid,
                       bool allow_dom0)
{
    if (domid >= DOMID_FIRST_RESERVED)
        return xt_error(ctx, -EINVAL, "xen %s: domain id %u is out of "
                        "range (ordinary domains are below %u)", op, domid,
                        (unsigned)DOMID_FIRST_RESERVED);
    if (domid == 0 && !allow_dom0)
        return xt_error(ctx, -EINVAL, "xen %s: refusing to act on domain 0 "
                        "(the control domain)", op);
    return 0;
}

int hv_xen_check_batch(struct xt_ctx *ctx, uint32_t domid, int prot,
                       const uint64_t *pfns, size_t n, void **pages_r,
                       struct hv_mapping **map_r)
{
    int rc;

    rc = hv_xen_check_domid(ctx, "map", domid, false);
    if (rc < 0)
        return rc;
    if (n == 0)
        return xt_error(ctx, -EINVAL, "xen map of domain %u: no pages",
                        domid);
    if (n > HV_XEN_MAP_MAX_PAGES)
        return xt_error(ctx, -EINVAL, "xen map of domain %u: %zu pages in "
                        "one batch, at most %u", domid, n,
                        HV_XEN_MAP_MAX_PAGES);
    if (!(prot & (HV_MAP_READ | HV_MAP_WRITE)) ||
        (prot & ~(HV_MAP_READ | HV_MAP_WRITE)))
        return xt_error(ctx, -EINVAL, "xen map of domain %u: bad "
                        "protection %#x", domid, (unsigned)prot);
    if (!pfns || !pages_r || !map_r)
        return xt_error(ctx, -EINVAL, "xen map of domain %u: NULL %s",
                        domid, !pfns ? "pfn array" :
                        !pages_r ? "page array" : "mapping handle");
    return 0;
}

int hv_xen_prot(int prot)
{
    int p = 0;

    if (prot & HV_MAP_READ)
        p |= PROT_READ;
    if (prot & HV_MAP_WRITE)
        p |= PROT_WRITE;
    return p;
}

int hv_xen_check_dirty(struct xt_ctx *ctx, const char *op, uint32_t domid,
                       const uint64_t *bitmap, uint64_t nr_pages,
                       const uint64_t *dirty_r)
{
    int rc;

    rc = hv_xen_check_domid(ctx, op, domid, false);
    if (rc < 0)
        return rc;
    if (!bitmap || !dirty_r)
        return xt_error(ctx, -EINVAL, "xen %s of domain %u: NULL %s", op,
                        domid, !bitmap ? "bitmap" : "dirty count");
    if (nr_pages == 0 || nr_pages > HV_XEN_MAX_PFNS)
        return xt_error(ctx, -EINVAL, "xen %s of domain %u: bitmap of "
                        "%llu pages (want 1..%llu)", op, domid,
                        (unsigned long long)nr_pages,
                        (unsigned long long)HV_XEN_MAX_PFNS);
    return 0;
}

/* ---- dirty bitmaps ------------------------------------------------------ */

size_t hv_xen_bitmap_bytes(uint64_t nr_pages, unsigned word_bits)
{
    uint64_t words = (nr_pages + word_bits - 1) / word_bits;

    return (size_t)(words * (word_bits / 8));
}

uint64_t hv_xen_bitmap_to_xt(const void *xen_bm, unsigned word_bits,
                             uint64_t *bm, uint64_t nr_pages)
{
    const unsigned char *src = xen_bm;
    size_t src_bytes = hv_xen_bitmap_bytes(nr_pages, word_bits);
    uint64_t nwords = XT_BITMAP_WORDS(nr_pages);
    uint64_t i, count = 0;

    for (i = 0; i < nwords; i++) {
        uint64_t w = 0;
        size_t off = (size_t)i * 8;

        if (word_bits == 64) {
            memcpy(&w, src + off, 8);
        } else {
            /* 32-bit words: the low half, then the high half if the Xen
             * bitmap has that word at all. */
            uint32_t lo = 0, hi = 0;

            memcpy(&lo, src + off, 4);
            if (off + 8 <= src_bytes)
                memcpy(&hi, src + off + 4, 4);
            w = (uint64_t)lo | ((uint64_t)hi << 32);
        }
        if (i == nwords - 1 && nr_pages % 64)
            w &= (1ull << (nr_pages % 64)) - 1;
        bm[i] = w;
        count += (uint64_t)__builtin_popcountll(w);
    }
    return count;
}

/* ---- domain info -------------------------------------------------------- */

const char *hv_xen_guest_type_name(enum hv_xen_guest_type t)
{
    switch (t) {
    case HV_XEN_GUEST_PV:  return "PV";
    case HV_XEN_GUEST_PVH: return "PVH";
    case HV_XEN_GUEST_HVM: return "HVM";
    }
    return "unknown";
}

enum hv_xen_guest_type hv_xen_guest_type(const xc_domaininfo_t *di)
{
    if (!(di->flags & XEN_DOMINF_hvm_guest))
        return HV_XEN_GUEST_PV;
    /* A PVH domU emulates the local APIC and nothing else (Xen refuses
     * any other partial set for a domU). */
    if (di->arch_config.emulation_flags == XEN_X86_EMU_LAPIC)
        return HV_XEN_GUEST_PVH;
    return HV_XEN_GUEST_HVM;
}

unsigned hv_xen_shutdown_reason(uint32_t flags)
{
    return (flags >> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask;
}

enum hv_run_state hv_xen_run_state(uint32_t flags)
{
    if (flags & XEN_DOMINF_dying)
        return HV_STATE_DYING;
    if (flags & XEN_DOMINF_shutdown) {
        switch (hv_xen_shutdown_reason(flags)) {
        case SHUTDOWN_suspend: return HV_STATE_SUSPENDED;
        case SHUTDOWN_crash:   return HV_STATE_CRASHED;
        default:               return HV_STATE_SHUTDOWN;
        }
    }
    if (flags & XEN_DOMINF_paused)
        return HV_STATE_PAUSED;
    return HV_STATE_RUNNING;
}

bool hv_xen_is_suspended(uint32_t flags)
{
    return !(flags & XEN_DOMINF_dying) && (flags & XEN_DOMINF_shutdown) &&
           hv_xen_shutdown_reason(flags) == SHUTDOWN_suspend;
}

void hv_xen_fill_info(const xc_domaininfo_t *di, uint64_t nr_gpfns,
                      struct hv_domain_info *info)
{
    info->domid = di->domain;
    memcpy(info->uuid.b, di->handle, sizeof(info->uuid.b));
    info->nr_pages = nr_gpfns;
    info->nr_vcpus = di->max_vcpu_id == XEN_INVALID_MAX_VCPU_ID ? 0 :
                     di->max_vcpu_id + 1;
    info->state = hv_xen_run_state(di->flags);
}

bool hv_xen_suspend_acked(const char *val)
{
    return !val || strcmp(val, "suspend") != 0;
}

unsigned hv_xen_unmovable_devices(const char *const *kinds, unsigned n,
                                  char *buf, size_t size)
{
    unsigned i, count = 0;
    size_t used = 0;
    int w;

    if (size)
        buf[0] = '\0';
    for (i = 0; i < n; i++) {
        if (!strcmp(kinds[i], "suspend"))
            continue;
        if (used < size) {
            w = snprintf(buf + used, size - used, "%s%s", count ? ", " : "",
                         kinds[i]);
            used += w > 0 ? (size_t)w : 0;
        }
        count++;
    }
    return count;
}

/* ---- state blob layout -------------------------------------------------- */

/*
 * HVM params carried with the HVM context: the ones Xen's own HVM save
 * code sends that mean something for a PVH guest without a device model.
 * (The ioreq, paging/monitor/sharing ring params belong to features we do
 * not support; the event channel params are allocated afresh on the
 * destination.)
 */
/* The layout docs/specs/xen-state-blob.md gives. */
_Static_assert(sizeof(struct hv_state_hdr) == 32, "state framing");
_Static_assert(sizeof(struct hv_xen_state) == 40, "xen state header");
_Static_assert(sizeof(struct hv_xen_param) == 16, "xen state param");
_Static_assert(sizeof(xen_cpuid_leaf_t) == 24, "xen_cpuid_leaf_t");
_Static_assert(sizeof(xen_msr_entry_t) == 16, "xen_msr_entry_t");

const uint32_t hv_xen_state_params[] = {
    HVM_PARAM_STORE_PFN,
    HVM_PARAM_CONSOLE_PFN,
    HVM_PARAM_VM86_TSS_SIZED,
    HVM_PARAM_ACPI_IOPORTS_LOCATION,
    HVM_PARAM_VIRIDIAN,
    HVM_PARAM_IDENT_PT,
    HVM_PARAM_VM_GENERATION_ID_ADDR,
    HVM_PARAM_X87_FIP_WIDTH,
    HVM_PARAM_MCA_CAP,
};
const size_t hv_xen_state_nr_params =
    sizeof(hv_xen_state_params) / sizeof(hv_xen_state_params[0]);

bool hv_xen_state_param_allowed(uint32_t index)
{
    size_t i;

    for (i = 0; i < hv_xen_state_nr_params; i++)
        if (hv_xen_state_params[i] == index)
            return true;
    return false;
}

size_t hv_xen_state_size(uint32_t nr_params, uint32_t nr_cpuid,
                         uint32_t nr_msrs, uint32_t hvm_ctx_len,
                         struct hv_xen_state_layout *lay)
{
    struct hv_xen_state_layout l;

    l.params = sizeof(struct hv_state_hdr) + sizeof(struct hv_xen_state);
    l.cpuid = l.params + (size_t)nr_params * sizeof(struct hv_xen_param);
    l.msrs = l.cpuid + (size_t)nr_cpuid * sizeof(xen_cpuid_leaf_t);
    l.hvmctx = l.msrs + (size_t)nr_msrs * sizeof(xen_msr_entry_t);
    if (lay)
        *lay = l;
    return l.hvmctx + hvm_ctx_len;
}

int hv_xen_state_parse(struct xt_ctx *ctx, const void *blob, size_t len,
                       struct hv_xen_state *st,
                       struct hv_xen_state_layout *lay)
{
    const unsigned char *b = blob;
    size_t off, i, want;
    int rc;

    rc = hv_state_check(ctx, blob, len, "xen", HV_XEN_STATE_VERSION);
    if (rc < 0)
        return rc;
    off = sizeof(struct hv_state_hdr);
    if (len - off < sizeof(*st))
        return xt_error(ctx, -EINVAL, "xen state blob: %zu bytes, too "
                        "short for its %zu-byte Xen header", len,
                        off + sizeof(*st));
    memcpy(st, b + off, sizeof(*st));
    if (st->guest_type != HV_XEN_GUEST_PVH)
        return xt_error(ctx, -EINVAL, "xen state blob: guest type %u, "
                        "only PVH (%u) blobs exist", st->guest_type,
                        (unsigned)HV_XEN_GUEST_PVH);
    if (st->nr_params > HV_XEN_STATE_MAX_PARAMS)
        return xt_error(ctx, -EINVAL, "xen state blob: %u HVM params, at "
                        "most %u", st->nr_params, HV_XEN_STATE_MAX_PARAMS);
    if (st->nr_cpuid == 0 || st->nr_cpuid > HV_XEN_STATE_MAX_CPUID)
        return xt_error(ctx, -EINVAL, "xen state blob: a CPU policy of %u "
                        "CPUID leaves (want 1..%u)", st->nr_cpuid,
                        HV_XEN_STATE_MAX_CPUID);
    if (st->nr_msrs > HV_XEN_STATE_MAX_MSRS)
        return xt_error(ctx, -EINVAL, "xen state blob: a CPU policy of %u "
                        "MSRs, at most %u", st->nr_msrs,
                        HV_XEN_STATE_MAX_MSRS);
    if (st->hvm_ctx_len == 0 || st->hvm_ctx_len > HV_XEN_STATE_MAX_HVMCTX)
        return xt_error(ctx, -EINVAL, "xen state blob: HVM context of %u "
                        "bytes (want 1..%u)", st->hvm_ctx_len,
                        HV_XEN_STATE_MAX_HVMCTX);
    want = hv_xen_state_size(st->nr_params, st->nr_cpuid, st->nr_msrs,
                             st->hvm_ctx_len, lay);
    if (len != want)
        return xt_error(ctx, -EINVAL, "xen state blob: %zu bytes, but %u "
                        "params, %u CPUID leaves, %u MSRs and %u bytes of "
                        "HVM context make %zu", len, st->nr_params,
                        st->nr_cpuid, st->nr_msrs, st->hvm_ctx_len, want);
    for (i = 0; i < st->nr_params; i++) {
        struct hv_xen_param p;

        memcpy(&p, b + lay->params + i * sizeof(p), sizeof(p));
        if (!hv_xen_state_param_allowed(p.index) || p.pad)
            return xt_error(ctx, -EINVAL, "xen state blob: param %zu has "
                            "index %u%s, which this driver does not "
                            "restore", i, p.index,
                            p.pad ? " and a non-zero pad" : "");
    }
    for (i = 0; i < st->nr_msrs; i++) {
        xen_msr_entry_t m;

        memcpy(&m, b + lay->msrs + i * sizeof(m), sizeof(m));
        if (m.flags)
            return xt_error(ctx, -EINVAL, "xen state blob: MSR entry %zu "
                            "(%#x) has flags %#x, not 0", i, m.idx,
                            m.flags);
    }
    return 0;
}

/* ---- helpers that call Xen ---------------------------------------------- */

static void logger_vmessage(struct xentoollog_logger *logger,
                            xentoollog_level level, int errnoval,
                            const char *context, const char *format,
                            va_list al)
{
    struct xen_logger *lg = (struct xen_logger *)logger;
    char msg[XT_ERRMSG_MAX];

    if (lg->ctx->level < XT_LOG_DEBUG)
        return;
    vsnprintf(msg, sizeof(msg), format, al);
    if (errnoval > 0)
        xt_debug(lg->ctx, "%s: %s (level %d): %s", context ? context : "xen",
                 msg, (int)level, strerror(errnoval));
    else
        xt_debug(lg->ctx, "%s: %s (level %d)", context ? context : "xen",
                 msg, (int)level);
}

static void logger_destroy(struct xentoollog_logger *logger)
{
    (void)logger;   /* embedded in struct xen_priv: nothing to free */
}

/* One domain's getdomaininfo record; -ESRCH when there is no such domain.
 * op names the operation for the error message. */
int hv_xen_dominfo(struct hv_handle *h, const char *op, uint32_t domid,
                       xc_domaininfo_t *di)
{
    struct xen_priv *p = hv_xen_priv(h);
    int r;

    /* 4.17 has no xc_domain_getinfo_single: ask for one entry starting
     * at domid and check that it is domid (the list skips gaps). */
    r = xc_domain_getinfolist(p->xch, domid, 1, di);
    if (r < 0)
        return xt_error(h->ctx, hv_xen_lib_rc(), "xen %s of domain %u: "
                        "xc_domain_getinfolist failed", op, domid);
    if (r == 0 || di->domain != domid)
        return xt_error(h->ctx, -ESRCH, "xen %s: no domain %u", op, domid);
    return 0;
}

/* Refuses guest types an op cannot handle correctly. */
static int check_guest_type(struct hv_handle *h, const char *op,
                            uint32_t domid, const xc_domaininfo_t *di,
                            bool pv_ok)
{
    enum hv_xen_guest_type t = hv_xen_guest_type(di);

    if (t == HV_XEN_GUEST_HVM)
        return xt_error(h->ctx, -ENOTSUP, "xen %s of domain %u: HVM "
                        "domains with a device model are not supported "
                        "(QEMU's own state and memory writes would be "
                        "missed); PVH and PV are", op, domid);
    if (t == HV_XEN_GUEST_PV && !pv_ok)
        return xt_error(h->ctx, -ENOTSUP, "xen %s of domain %u: a PV "
                        "domain's state is libxenguest's to carry: PV "
                        "domains move as its stream (stream_save), not "
                        "through this op", op, domid);
    return 0;
}

/*
 * Refuses a domain with devices this driver would drop: the destination
 * gets the console and xenstore, not disk or network backends, so a guest
 * with a vbd or vif would resume without them.  Read from the guest's
 * device/ directory in xenstore (what its frontends use); no directory
 * means no devices.
 */
int hv_xen_check_devices(struct hv_handle *h, const char *op, uint32_t domid)
{
    struct xen_priv *p = hv_xen_priv(h);
    char path[64], list[256];
    unsigned n = 0, bad;
    char **kinds;

    snprintf(path, sizeof(path), "/local/domain/%u/device", domid);
    kinds = xs_directory(p->xsh, XBT_NULL, path, &n);
    if (!kinds) {
        if (errno == ENOENT)
            return 0;
        return xt_error(h->ctx, hv_xen_lib_rc(), "xen %s of domain %u: "
                        "reading %s from xenstore failed", op, domid, path);
    }
    bad = hv_xen_unmovable_devices((const char *const *)kinds, n, list,
                                   sizeof(list));
    free(kinds);
    if (bad)
        return xt_error(h->ctx, -ENOTSUP, "xen %s of domain %u: it has "
                        "devices this driver cannot move yet (%s under %s): "
                        "their backends would not exist on the "
                        "destination; only the console and xenstore are "
                        "recreated", op, domid, list, path);
    return 0;
}

/* can_migrate: a PVH or PV domain (no device model) without devices
 * this driver would leave behind. */
static int xen_can_migrate(struct hv_handle *h, uint32_t domid)
{
    xc_domaininfo_t di;
    int rc;

    rc = hv_xen_dominfo(h, "migration", domid, &di);
    rc = rc ?: check_guest_type(h, "migration", domid, &di, true);
    return rc ?: hv_xen_check_devices(h, "migration", domid);
}

static void logdirty_mark(struct xen_priv *p, uint32_t domid, bool on)
{
    uint64_t bit = 1ull << (domid % 64);

    if (domid >= DOMID_FIRST_RESERVED)
        return;
    if (on)
        __atomic_fetch_or(&p->logdirty[domid / 64], bit, __ATOMIC_RELAXED);
    else
        __atomic_fetch_and(&p->logdirty[domid / 64], ~bit,
                           __ATOMIC_RELAXED);
}

static bool logdirty_test(struct xen_priv *p, uint32_t domid)
{
    if (domid >= DOMID_FIRST_RESERVED)
        return false;
    return (__atomic_load_n(&p->logdirty[domid / 64], __ATOMIC_RELAXED) >>
            (domid % 64)) & 1;
}

/*
 * Fills one hv_domain_info.  nr_pages is the domain's pfn space,
 * xc_domain_nr_gpfns() (highest populated pfn + 1), not tot_pages or
 * max_pages: Xen guests' pfn spaces have holes (a PVH guest's special
 * pages sit just below 4 GiB, above its RAM), and pfns 0..nr_pages-1 must
 * cover every frame that can be dirtied and has to be copied.  It is also
 * the size Xen's own save code gives the log-dirty bitmap.  When strict is
 * false (list) or the domain is dying, a failing nr_gpfns falls back to
 * tot_pages.
 */
static int fill_one(struct hv_handle *h, const xc_domaininfo_t *di,
                    struct hv_domain_info *info, bool strict)
{
    struct xen_priv *p = hv_xen_priv(h);
    xen_pfn_t gpfns = 0;
    uint64_t nr;
    char path[64];
    char *name;
    unsigned len = 0;

    if (xc_domain_nr_gpfns(p->xch, di->domain, &gpfns) < 0) {
        int rc = hv_xen_lib_rc();

        if (strict && !(di->flags & XEN_DOMINF_dying))
            return xt_error(h->ctx, rc, "xen info of domain %u: "
                            "xc_domain_nr_gpfns failed", di->domain);
        xt_debug(h->ctx, "xen: domain %u: no pfn space (%s), using "
                 "tot_pages", di->domain, strerror(-rc));
        nr = di->tot_pages;
    } else {
        nr = gpfns;
    }
    hv_xen_fill_info(di, nr, info);
    info->logdirty = logdirty_test(p, di->domain);
    info->throttle_pct = 0;
    info->opaque_stream = hv_xen_guest_type(di) == HV_XEN_GUEST_PV;
    info->name[0] = '\0';
    snprintf(path, sizeof(path), "/local/domain/%u/name", di->domain);
    name = xs_read(p->xsh, XBT_NULL, path, &len);
    if (name) {
        snprintf(info->name, sizeof(info->name), "%.*s", (int)len, name);
        free(name);
    }
    return 0;
}

/* Sleeps a little while polling: 1 ms for the first 100 ms of a wait
 * (suspend latency is downtime), 10 ms after. */
static void poll_nap(uint64_t start_ns)
{
    uint64_t waited = xt_now_ns() - start_ns;
    struct timespec ts = { 0, waited < 100000000ull ? 1000000L : 10000000L };

    nanosleep(&ts, NULL);
}

/* ---- lazy population of created domains --------------------------------- */

static struct created_dom *created_find(struct xen_priv *p, uint32_t domid)
{
    struct created_dom *c;

    for (c = p->created; c; c = c->next)
        if (c->domid == domid)
            return c;
    return NULL;
}

static void created_forget(struct xen_priv *p, uint32_t domid)
{
    struct created_dom **pp, *c;

    pthread_mutex_lock(&p->lock);
    for (pp = &p->created; (c = *pp); pp = &c->next) {
        if (c->domid == domid) {
            *pp = c->next;
            free(c->populated);
            free(c);
            break;
        }
    }
    pthread_mutex_unlock(&p->lock);
}

static int populate_pfns(struct hv_handle *h, uint32_t domid,
                         xen_pfn_t *pfns, unsigned long n)
{
    struct xen_priv *p = hv_xen_priv(h);

    if (xc_domain_populate_physmap_exact(p->xch, domid, n, 0, 0, pfns) < 0)
        return xt_error(h->ctx, hv_xen_lib_rc(), "xen create/map of domain %u: "
                        "xc_domain_populate_physmap_exact of %lu pages "
                        "(first pfn %#lx) failed", domid, n,
                        (unsigned long)pfns[0]);
    return 0;
}

/*
 * Before mapping pages of a domain this handle created: checks the pfns
 * are inside it and, in lazy mode, populates the ones not populated yet
 * (Xen hands out zeroed pages, so a page looks zeroed from its first map
 * on, as hv_create promises).  Other domains: nothing to do.
 */
static int prepare_map(struct hv_handle *h, uint32_t domid,
                       const uint64_t *pfns, size_t n)
{
    struct xen_priv *p = hv_xen_priv(h);
    struct created_dom *c;
    xen_pfn_t *todo = NULL;
    size_t i, nt = 0;
    int rc = 0;

    pthread_mutex_lock(&p->lock);
    c = created_find(p, domid);
    if (!c)
        goto out;
    for (i = 0; i < n; i++) {
        if (pfns[i] >= c->nr_pages) {
            rc = xt_error(h->ctx, -EINVAL, "xen map of domain %u: pfn "
                          "%#llx is beyond its %llu pages", domid,
                          (unsigned long long)pfns[i],
                          (unsigned long long)c->nr_pages);
            goto out;
        }
    }
    if (!c->populated)
        goto out;
    todo = malloc(n * sizeof(*todo));
    if (!todo) {
        rc = xt_error(h->ctx, -ENOMEM, "xen map of domain %u: %zu pfns",
                      domid, n);
        goto out;
    }
    for (i = 0; i < n; i++) {
        if (xt_bitmap_test(c->populated, pfns[i]))
            continue;
        xt_bitmap_set(c->populated, pfns[i]);   /* a batch may repeat one */
        todo[nt++] = pfns[i];
    }
    if (nt) {
        rc = populate_pfns(h, domid, todo, nt);
        if (rc < 0) {
            /* Unknown which ones made it: forget them all; the next map
             * retries (populating a populated pfn fails, which is then
             * reported). */
            for (i = 0; i < nt; i++)
                xt_bitmap_clear(c->populated, todo[i]);
        }
    }
out:
    pthread_mutex_unlock(&p->lock);
    free(todo);
    return rc;
}

/* ---- ops ---------------------------------------------------------------- */

static void xen_close(struct hv_handle *h)
{
    struct xen_priv *p = hv_xen_priv(h);
    struct created_dom *c;

    if (!p)
        return;
    /* The reaper destroys what this handle created and never ran. */
    if (p->reaper_fd >= 0) {
        close(p->reaper_fd);
        waitpid(p->reaper_pid, NULL, 0);
    }
    while ((c = p->created)) {
        p->created = c->next;
        free(c->populated);
        free(c);
    }
    if (p->xce)
        xenevtchn_close(p->xce);
    xs_close(p->xsh);
    if (p->fmem)
        xenforeignmemory_close(p->fmem);
    if (p->xch)
        xc_interface_close(p->xch);
    xt_ctx_free(p->logger.ctx);
    pthread_mutex_destroy(&p->lock);
    free(p);
    h->priv = NULL;
}

static int xen_open(struct hv_handle *h, const char *args)
{
    struct xen_priv *p = NULL;
    struct stat st;
    int rc;

    h->priv = NULL;
    if (stat(HV_XEN_PRIVCMD, &st) < 0)
        return xt_error(h->ctx, -ENODEV, "no Xen hypervisor: "
                        HV_XEN_PRIVCMD " missing (not a Xen control "
                        "domain, or xen-privcmd not loaded)");
    p = calloc(1, sizeof(*p));
    if (!p)
        return xt_error(h->ctx, -ENOMEM, "xen: allocating the driver");
    pthread_mutex_init(&p->lock, NULL);
    p->reaper_fd = -1;
    h->priv = p;
    rc = hv_xen_opts_parse(h->ctx, args, &p->opts);
    if (rc < 0)
        goto out;
    p->logger.ops.vmessage = logger_vmessage;
    p->logger.ops.progress = NULL;
    p->logger.ops.destroy = logger_destroy;
    /* The libraries log through the connection's own context, with the
     * opener's sink and level: the opener's context belongs to its thread
     * and may be gone while views of this connection live on. */
    p->logger.ctx = xt_ctx_new(h->ctx->prog);
    if (!p->logger.ctx) {
        rc = xt_error(h->ctx, -ENOMEM, "xen: the libraries' log");
        goto out;
    }
    p->logger.ctx->log = h->ctx->log;
    p->logger.ctx->level = h->ctx->level;

    p->xch = xc_interface_open(&p->logger.ops, &p->logger.ops, 0);
    if (!p->xch) {
        rc = xt_error(h->ctx, hv_xen_lib_rc(), "xen: libxenctrl: "
                      "xc_interface_open failed");
        goto out;
    }
    p->fmem = xenforeignmemory_open(&p->logger.ops, 0);
    if (!p->fmem) {
        rc = xt_error(h->ctx, hv_xen_lib_rc(), "xen: libxenforeignmemory: "
                      "xenforeignmemory_open failed");
        goto out;
    }
    p->xsh = xs_open(0);
    if (!p->xsh) {
        rc = xt_error(h->ctx, hv_xen_lib_rc(), "xen: libxenstore: xs_open failed "
                      "(is xenstored running?)");
        goto out;
    }
    p->xce = xenevtchn_open(&p->logger.ops, 0);
    if (!p->xce) {
        rc = xt_error(h->ctx, hv_xen_lib_rc(), "xen: libxenevtchn: "
                      "xenevtchn_open failed (is xen-evtchn loaded?)");
        goto out;
    }
    rc = 0;
out:
    if (rc < 0)
        xen_close(h);
    return rc;
}

static int xen_list(struct hv_handle *h, struct hv_domain_info **infos_r,
                    size_t *n_r)
{
    struct xen_priv *p = hv_xen_priv(h);
    xc_domaininfo_t di[LIST_CHUNK];
    struct hv_domain_info *infos = NULL, *grown;
    size_t n = 0, i;
    uint32_t next = 0;
    int r, rc = 0;

    while (next < DOMID_FIRST_RESERVED) {
        r = xc_domain_getinfolist(p->xch, next, LIST_CHUNK, di);
        if (r < 0) {
            rc = xt_error(h->ctx, hv_xen_lib_rc(), "xen list: "
                          "xc_domain_getinfolist from domain %u failed",
                          next);
            goto out;
        }
        if (r == 0)
            break;
        grown = realloc(infos, (n + (size_t)r) * sizeof(*infos));
        if (!grown) {
            rc = xt_error(h->ctx, -ENOMEM, "xen list: %zu domains",
                          n + (size_t)r);
            goto out;
        }
        infos = grown;
        for (i = 0; i < (size_t)r; i++) {
            memset(&infos[n], 0, sizeof(infos[n]));
            rc = fill_one(h, &di[i], &infos[n], false);
            if (rc < 0)
                goto out;
            n++;
        }
        if ((unsigned)r < LIST_CHUNK)
            break;
        next = (uint32_t)di[r - 1].domain + 1;
    }
    *infos_r = infos;
    *n_r = n;
    infos = NULL;
out:
    free(infos);
    return rc;
}

static int xen_info(struct hv_handle *h, uint32_t domid,
                    struct hv_domain_info *info_r)
{
    xc_domaininfo_t di;
    int rc;

    rc = hv_xen_check_domid(h->ctx, "info", domid, true);
    if (rc < 0)
        return rc;
    rc = hv_xen_dominfo(h, "info", domid, &di);
    if (rc < 0)
        return rc;
    return fill_one(h, &di, info_r, true);
}


/* ---- the reaper ------------------------------------------------------- */

static void reaper_path(char *buf, size_t size)
{
    const char *env = getenv("XM_XEN_REAPER");
    const char *bdir = getenv("XM_BUILDDIR");

    if (env && *env)
        snprintf(buf, size, "%s", env);
    else if (bdir && *bdir)
        snprintf(buf, size, "%s/hv/xm-xen-reaper", bdir);
    else
        snprintf(buf, size, "%s/xm-xen-reaper", XM_LIBEXECDIR);
}

/* Starts this handle's reaper if it is not running; p->lock held. */
static int reaper_start(struct hv_handle *h)
{
    struct xen_priv *p = hv_xen_priv(h);
    char path[PATH_MAX];
    int fds[2];
    pid_t pid;

    if (p->reaper_fd >= 0)
        return 0;
    reaper_path(path, sizeof(path));
    if (access(path, X_OK) < 0)
        return xt_error(h->ctx, -errno, "xen create: the reaper %s is not "
                        "executable (set XM_XEN_REAPER): %s", path,
                        strerror(errno));
    if (pipe2(fds, O_CLOEXEC) < 0)
        return xt_error(h->ctx, -errno, "xen create: pipe for the reaper");
    pid = fork();
    if (pid < 0) {
        int e = -errno;

        close(fds[0]);
        close(fds[1]);
        return xt_error(h->ctx, e, "xen create: fork of the reaper");
    }
    if (pid == 0) {
        char *const argv[] = { path, NULL };

        if (dup2(fds[0], 0) < 0)
            _exit(127);
        execv(path, argv);
        _exit(127);
    }
    close(fds[0]);
    p->reaper_fd = fds[1];
    p->reaper_pid = pid;
    return 0;
}

/* Tells the reaper a domain was created ('+') or ran/went ('-'); p->lock
 * held.  A reaper that died cannot be told: created domains would then
 * be left if we die, so a '+' that cannot be written fails. */
static int reaper_tell(struct hv_handle *h, char op, uint32_t domid)
{
    struct xen_priv *p = hv_xen_priv(h);
    char line[24];
    int len;

    if (p->reaper_fd < 0)
        return op == '+' ? xt_error(h->ctx, -EPIPE, "xen: no reaper") : 0;
    len = snprintf(line, sizeof(line), "%c%u\n", op, domid);
    if (xt_write_full(p->reaper_fd, line, (size_t)len, 1000) < 0 && op == '+')
        return xt_error(h->ctx, -EPIPE, "xen create of domain %u: the "
                        "reaper (pid %d) is gone", domid, (int)p->reaper_pid);
    return 0;
}

/* Forgets created domain domid: it ran or was destroyed. */
static void created_release(struct hv_handle *h, uint32_t domid, bool ran)
{
    struct xen_priv *p = hv_xen_priv(h);
    struct created_dom *c;

    pthread_mutex_lock(&p->lock);
    c = created_find(p, domid);
    if (c) {
        reaper_tell(h, '-', domid);
        if (!ran)
            c->domid = DOMID_INVALID;   /* gone: created_forget below */
    }
    pthread_mutex_unlock(&p->lock);
    if (c && !ran)
        created_forget(p, DOMID_INVALID);
}

/* Paging pool for a new domain, as libxl sizes it: 1 MiB per vCPU plus
 * 8 KiB per MiB of guest memory. */
static uint64_t paging_pool_bytes(uint64_t maxmem_kb, uint32_t nr_vcpus)
{
    return 4ull * (256ull * nr_vcpus + 2ull * (maxmem_kb / 1024)) * 1024;
}

int hv_xen_make_domain(struct hv_handle *h, const struct hv_create_spec *spec,
                       enum hv_xen_guest_type type, uint32_t *domid_r)
{
    struct xen_priv *p = hv_xen_priv(h);
    struct xen_domctl_createdomain cfg;
    xc_physinfo_t phys;
    struct created_dom *c = NULL;
    xen_pfn_t *chunk = NULL;
    uint64_t maxmem_kb, pfn;
    uint32_t domid = 0;
    bool hap = false, made = false, pvh = type == HV_XEN_GUEST_PVH;
    unsigned long k, cnt;
    int rc;

    if (!spec || !domid_r)
        return xt_error(h->ctx, -EINVAL, "xen create: NULL %s",
                        !spec ? "spec" : "domid");
    if (!spec->nr_pages || spec->nr_pages > HV_XEN_MAX_PFNS)
        return xt_error(h->ctx, -EINVAL, "xen create: %llu pages (want "
                        "1..%llu)", (unsigned long long)spec->nr_pages,
                        (unsigned long long)HV_XEN_MAX_PFNS);
    if (!spec->nr_vcpus || spec->nr_vcpus > XEN_MAX_VCPUS)
        return xt_error(h->ctx, -EINVAL, "xen create: %u vCPUs (want "
                        "1..%u)", spec->nr_vcpus, XEN_MAX_VCPUS);
    if (type != HV_XEN_GUEST_PVH && type != HV_XEN_GUEST_PV)
        return xt_error(h->ctx, -ENOTSUP, "xen create: %s domains are not "
                        "supported", hv_xen_guest_type_name(type));

    memset(&phys, 0, sizeof(phys));
    if (xc_physinfo(p->xch, &phys) < 0)
        return xt_error(h->ctx, hv_xen_lib_rc(), "xen create: xc_physinfo failed");
    if (pvh && !(phys.capabilities & XEN_SYSCTL_PHYSCAP_hvm))
        return xt_error(h->ctx, -ENOTSUP, "xen create: this Xen cannot run "
                        "PVH guests (no hardware virtualisation reported)");
    if (pvh && p->opts.hap == HV_XEN_HAP_AUTO)
        hap = phys.capabilities & XEN_SYSCTL_PHYSCAP_hap;
    else if (pvh)
        hap = p->opts.hap == HV_XEN_HAP_YES;

    c = calloc(1, sizeof(*c));
    if (!c)
        return xt_error(h->ctx, -ENOMEM, "xen create: bookkeeping");
    c->nr_pages = spec->nr_pages;
    c->type = type;
    c->uuid = spec->uuid;
    if (spec->name)
        snprintf(c->name, sizeof(c->name), "%s", spec->name);
    if (pvh && p->opts.populate == HV_XEN_POPULATE_LAZY) {
        c->populated = xt_bitmap_alloc(spec->nr_pages);
        if (!c->populated) {
            rc = xt_error(h->ctx, -ENOMEM, "xen create: bitmap of %llu "
                          "pages", (unsigned long long)spec->nr_pages);
            goto out;
        }
    }

    memset(&cfg, 0, sizeof(cfg));
    cfg.ssidref = 0;
    memcpy(cfg.handle, spec->uuid.b, sizeof(cfg.handle));
    cfg.flags = pvh ? XEN_DOMCTL_CDF_hvm | (hap ? XEN_DOMCTL_CDF_hap : 0) : 0;
    cfg.max_vcpus = spec->nr_vcpus;
    cfg.max_evtchn_port = 1023;         /* libxl's default */
    cfg.max_grant_frames = 64;          /* libxl's defaults */
    cfg.max_maptrack_frames = 1024;
    cfg.grant_opts = XEN_DOMCTL_GRANT_version(1);
    cfg.arch.emulation_flags = pvh ? XEN_X86_EMU_LAPIC : 0;
    /* The reaper hears of the domain before anything can go wrong with
     * it; under the lock, so a concurrent unpause cannot overtake. */
    pthread_mutex_lock(&p->lock);
    rc = reaper_start(h);
    if (rc == 0) {
        if (xc_domain_create(p->xch, &domid, &cfg) < 0) {
            rc = xt_error(h->ctx, hv_xen_lib_rc(), "xen create: "
                          "xc_domain_create of a %s domain (%u vCPUs%s) "
                          "failed", hv_xen_guest_type_name(type),
                          spec->nr_vcpus,
                          !pvh ? "" : hap ? ", HAP" : ", shadow paging");
        } else {
            made = true;
            rc = reaper_tell(h, '+', domid);
        }
    }
    if (rc == 0) {
        c->domid = domid;
        c->next = p->created;
        p->created = c;
    }
    pthread_mutex_unlock(&p->lock);
    if (rc < 0)
        goto out;
    if (xc_domain_max_vcpus(p->xch, domid, spec->nr_vcpus) < 0) {
        rc = xt_error(h->ctx, hv_xen_lib_rc(), "xen create of domain %u: "
                      "xc_domain_max_vcpus(%u) failed", domid,
                      spec->nr_vcpus);
        goto out;
    }
    maxmem_kb = spec->nr_pages * (HV_PAGE_SIZE / 1024) + MAXMEM_SLACK_KB;
    if (xc_domain_setmaxmem(p->xch, domid, maxmem_kb) < 0) {
        rc = xt_error(h->ctx, hv_xen_lib_rc(), "xen create of domain %u: "
                      "xc_domain_setmaxmem(%llu KiB) failed", domid,
                      (unsigned long long)maxmem_kb);
        goto out;
    }
    /* PV domains have no paging pool until log-dirty or shadow mode
     * makes one (Xen answers EOPNOTSUPP). */
    if (pvh && xc_set_paging_mempool_size(p->xch, domid,
            paging_pool_bytes(maxmem_kb, spec->nr_vcpus)) < 0) {
        rc = xt_error(h->ctx, hv_xen_lib_rc(), "xen create of domain %u: "
                      "xc_set_paging_mempool_size failed", domid);
        goto out;
    }
    if (!pvh && xc_domain_set_memmap_limit(p->xch, domid, maxmem_kb) < 0) {
        rc = xt_error(h->ctx, hv_xen_lib_rc(), "xen create of domain %u: "
                      "xc_domain_set_memmap_limit failed", domid);
        goto out;
    }
    if (p->opts.tsc_mode_set &&
        xc_domain_set_tsc_info(p->xch, domid, p->opts.tsc_mode, 0, 0, 0) < 0) {
        rc = xt_error(h->ctx, hv_xen_lib_rc(), "xen create of domain %u: "
                      "xc_domain_set_tsc_info(mode %u) failed", domid,
                      p->opts.tsc_mode);
        goto out;
    }
    if (pvh && p->opts.populate == HV_XEN_POPULATE_EAGER) {
        chunk = malloc(POPULATE_CHUNK * sizeof(*chunk));
        if (!chunk) {
            rc = xt_error(h->ctx, -ENOMEM, "xen create: populate chunk");
            goto out;
        }
        for (pfn = 0; pfn < spec->nr_pages; pfn += cnt) {
            cnt = spec->nr_pages - pfn < POPULATE_CHUNK ?
                  (unsigned long)(spec->nr_pages - pfn) : POPULATE_CHUNK;
            for (k = 0; k < cnt; k++)
                chunk[k] = (xen_pfn_t)(pfn + k);
            rc = populate_pfns(h, domid, chunk, cnt);
            if (rc < 0)
                goto out;
        }
    }
    c = NULL;
    *domid_r = domid;
    made = false;
    rc = 0;
out:
    if (made) {
        if (xc_domain_destroy(p->xch, domid) < 0)
            xt_warn(h->ctx, "xen create: destroying half-made domain %u "
                    "failed: %s", domid, strerror(errno));
        if (c && c->domid == domid) {
            created_release(h, domid, false);
            c = NULL;       /* freed by created_release */
        }
    }
    if (c)
        free(c->populated);
    free(c);
    free(chunk);
    return rc;
}

/*
 * An empty PVH domain, paused (Xen creates domains paused): see
 * hv_xen_make_domain.  With populate=lazy (the default) each pfn is
 * populated when first mapped (prepare_map), so the holes in the source's
 * pfn space (a PVH guest's special pages sit just below 4 GiB) stay holes
 * here; the engine sends every page the source has (HV_OPS_SPARSE).  The
 * vCPUs get their state, and the domain its xenstore presence, from
 * state_restore.
 */
static int xen_create(struct hv_handle *h, const struct hv_create_spec *spec,
                      uint32_t *domid_r)
{
    return hv_xen_make_domain(h, spec, HV_XEN_GUEST_PVH, domid_r);
}

int hv_xen_alloc_channels(struct hv_handle *h, uint32_t domid,
                          uint32_t *store_port_r, uint32_t *console_port_r)
{
    struct xen_priv *p = hv_xen_priv(h);
    int port;

    port = xc_evtchn_alloc_unbound(p->xch, domid, 0);
    if (port < 0)
        return xt_error(h->ctx, hv_xen_lib_rc(), "xen restore of domain %u: "
                        "xc_evtchn_alloc_unbound for xenstore failed",
                        domid);
    *store_port_r = (uint32_t)port;
    port = xc_evtchn_alloc_unbound(p->xch, domid, 0);
    if (port < 0)
        return xt_error(h->ctx, hv_xen_lib_rc(), "xen restore of domain %u: "
                        "xc_evtchn_alloc_unbound for the console failed",
                        domid);
    *console_port_r = (uint32_t)port;
    return 0;
}

/* One xenstore node with permissions: perms[0] is the owner and the
 * default for everybody else. */
static bool xs_node(struct xen_priv *p, xs_transaction_t t, const char *path,
                    const char *val, struct xs_permissions *perms,
                    unsigned nperms)
{
    if (val ? !xs_write(p->xsh, t, path, val, (unsigned)strlen(val))
            : !xs_mkdir(p->xsh, t, path))
        return false;
    return xs_set_permissions(p->xsh, t, path, perms, nperms);
}

/*
 * The xenstore tree of a restored domain, as libxl writes it for a PV or
 * PVH guest without devices: /local/domain/N readable by the guest, with
 * name, domid, vm, memory, the console ring for xenconsoled, and the
 * directories the guest writes (control/, data/, drivers/, feature/,
 * attr/, error/, device/ read-only).  One transaction, retried on EAGAIN.
 */
static int write_tree(struct hv_handle *h, uint32_t domid,
                      const struct created_dom *c, uint64_t console_gfn,
                      uint32_t console_port, uint64_t mem_kb)
{
    static const char *const guest_rw[] = {
        "control", "control/shutdown", "control/feature-poweroff",
        "control/feature-reboot", "control/feature-suspend",
        "control/sysrq", "data", "drivers", "feature", "attr", "error",
    };
    struct xen_priv *p = hv_xen_priv(h);
    struct xs_permissions ro[2] = {
        { .id = 0, .perms = XS_PERM_NONE },
        { .id = domid, .perms = XS_PERM_READ },
    };
    struct xs_permissions rw[1] = { { .id = domid, .perms = XS_PERM_NONE } };
    struct xs_permissions dom0[1] = { { .id = 0, .perms = XS_PERM_NONE } };
    char dom[40], path[160], val[64], uuid[XT_UUID_STRLEN + 1], vm[80];
    xs_transaction_t t;
    unsigned tries, i;
    bool ok;

    xt_uuid_format(&c->uuid, uuid);
    snprintf(dom, sizeof(dom), "/local/domain/%u", domid);
    snprintf(vm, sizeof(vm), "/vm/%s", uuid);
    for (tries = 0; tries < 16; tries++) {
        t = xs_transaction_start(p->xsh);
        if (t == XBT_NULL)
            return xt_error(h->ctx, hv_xen_lib_rc(), "xen restore of domain "
                            "%u: xenstore transaction failed", domid);
        xs_rm(p->xsh, t, dom);
        ok = xs_node(p, t, dom, NULL, ro, 2);
#define NODE(perms, np, sub, v) do { \
        snprintf(path, sizeof(path), "%s/%s", dom, sub); \
        ok = ok && xs_node(p, t, path, v, perms, np); } while (0)
        snprintf(val, sizeof(val), "%u", domid);
        NODE(ro, 2, "domid", val);
        NODE(ro, 2, "name", c->name[0] ? c->name : uuid);
        NODE(ro, 2, "vm", vm);
        NODE(ro, 2, "memory", NULL);
        snprintf(val, sizeof(val), "%llu", (unsigned long long)mem_kb);
        NODE(ro, 2, "memory/static-max", val);
        NODE(ro, 2, "memory/target", val);
        NODE(ro, 2, "device", NULL);
        for (i = 0; i < sizeof(guest_rw) / sizeof(guest_rw[0]); i++)
            NODE(rw, 1, guest_rw[i], NULL);
        NODE(ro, 2, "console", NULL);
        snprintf(val, sizeof(val), "%llu", (unsigned long long)console_gfn);
        NODE(ro, 2, "console/ring-ref", val);
        snprintf(val, sizeof(val), "%u", console_port);
        NODE(ro, 2, "console/port", val);
        NODE(ro, 2, "console/limit", "1048576");
        NODE(ro, 2, "console/type", "xenconsoled");
        NODE(ro, 2, "console/output", "pty");
        NODE(rw, 1, "console/tty", NULL);
#undef NODE
        if (ok) {
            snprintf(path, sizeof(path), "%s/name", vm);
            ok = xs_node(p, t, vm, NULL, dom0, 1) &&
                 xs_node(p, t, path, c->name[0] ? c->name : uuid, dom0, 1);
            snprintf(path, sizeof(path), "%s/uuid", vm);
            ok = ok && xs_node(p, t, path, uuid, dom0, 1);
        }
        if (!ok) {
            int e = hv_xen_lib_rc();

            xs_transaction_end(p->xsh, t, true);
            return xt_error(h->ctx, e, "xen restore of domain %u: writing "
                            "%s failed", domid, path);
        }
        if (xs_transaction_end(p->xsh, t, false))
            return 0;
        if (errno != EAGAIN)
            return xt_error(h->ctx, hv_xen_lib_rc(), "xen restore of domain "
                            "%u: committing its xenstore tree failed", domid);
    }
    return xt_error(h->ctx, -EAGAIN, "xen restore of domain %u: xenstore "
                    "kept conflicting", domid);
}

int hv_xen_introduce(struct hv_handle *h, uint32_t domid,
                     uint64_t store_gfn, uint32_t store_port,
                     uint64_t console_gfn, uint32_t console_port)
{
    struct xen_priv *p = hv_xen_priv(h);
    struct created_dom c;
    xc_domaininfo_t di;
    int rc;

    pthread_mutex_lock(&p->lock);
    {
        struct created_dom *cd = created_find(p, domid);

        if (cd)
            c = *cd;
        pthread_mutex_unlock(&p->lock);
        if (!cd)
            return xt_error(h->ctx, -EINVAL, "xen restore of domain %u: not "
                            "a domain this handle created", domid);
    }
    rc = hv_xen_dominfo(h, "restore", domid, &di);
    if (rc < 0)
        return rc;
    if (c.type == HV_XEN_GUEST_PVH &&
        (xc_hvm_param_set(p->xch, domid, HVM_PARAM_STORE_EVTCHN,
                          store_port) < 0 ||
         xc_hvm_param_set(p->xch, domid, HVM_PARAM_CONSOLE_EVTCHN,
                          console_port) < 0))
        return xt_error(h->ctx, hv_xen_lib_rc(), "xen restore of domain %u: "
                        "setting the event channel params failed", domid);
    if (xc_dom_gnttab_seed(p->xch, domid, c.type == HV_XEN_GUEST_PVH,
                           console_gfn, store_gfn, 0, 0) < 0)
        return xt_error(h->ctx, hv_xen_lib_rc(), "xen restore of domain %u: "
                        "xc_dom_gnttab_seed (console %#llx, store %#llx) "
                        "failed", domid, (unsigned long long)console_gfn,
                        (unsigned long long)store_gfn);
    rc = write_tree(h, domid, &c, console_gfn, console_port,
                    (uint64_t)di.tot_pages * (HV_PAGE_SIZE / 1024));
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&p->lock);
    {
        struct created_dom *cd = created_find(p, domid);

        if (cd)
            cd->introduced = true;
    }
    pthread_mutex_unlock(&p->lock);
    if (!xs_introduce_domain(p->xsh, domid, store_gfn, store_port))
        return xt_error(h->ctx, hv_xen_lib_rc(), "xen restore of domain %u: "
                        "xs_introduce_domain (store %#llx, port %u) failed",
                        domid, (unsigned long long)store_gfn, store_port);
    return 0;
}

static int xen_map_batch(struct hv_handle *h, uint32_t domid, int prot,
                         const uint64_t *pfns, size_t n, void **pages_r,
                         struct hv_mapping **map_r)
{
    struct xen_priv *p = hv_xen_priv(h);
    struct hv_mapping *m = NULL;
    xen_pfn_t *arr = NULL;
    int *err = NULL;
    void *base;
    size_t i, bad = 0, first_bad = 0;
    int rc;

    rc = hv_xen_check_batch(h->ctx, domid, prot, pfns, n, pages_r, map_r);
    if (rc < 0)
        return rc;
    *map_r = NULL;
    for (i = 0; i < n; i++)
        pages_r[i] = NULL;
    arr = malloc(n * sizeof(*arr));
    err = calloc(n, sizeof(*err));
    m = malloc(sizeof(*m));
    if (!arr || !err || !m) {
        rc = xt_error(h->ctx, -ENOMEM, "xen map of domain %u: arrays for "
                      "%zu pages", domid, n);
        goto out;
    }
    for (i = 0; i < n; i++)
        arr[i] = (xen_pfn_t)pfns[i];
    rc = prepare_map(h, domid, pfns, n);
    if (rc < 0)
        goto out;

    base = xenforeignmemory_map(p->fmem, domid, hv_xen_prot(prot), n, arr,
                                err);
    if (!base) {
        rc = xt_error(h->ctx, hv_xen_lib_rc(), "xen map of domain %u: "
                      "xenforeignmemory_map of %zu pages failed", domid, n);
        goto out;
    }
    for (i = 0; i < n; i++) {
        if (err[i]) {
            if (!bad++)
                first_bad = i;
            continue;
        }
        pages_r[i] = (char *)base + i * HV_PAGE_SIZE;
    }
    m->base = base;
    m->count = n;
    *map_r = m;
    m = NULL;
    if (bad) {
        int e = err[first_bad] < 0 ? -err[first_bad] : err[first_bad];

        /* The mapping stays: the caller unmaps *map_r as usual.  Not an
         * error report: a hole is no error to the engine (hv.h). */
        xt_debug(h->ctx, "xen map of domain %u: %zu of %zu pages not "
                 "mapped (first: pfn %#llx, %s)", domid, bad, n,
                 (unsigned long long)pfns[first_bad], strerror(e));
        rc = -EFAULT;
        goto out;
    }
    rc = 0;
out:
    free(m);
    free(err);
    free(arr);
    return rc;
}

static void xen_unmap(struct hv_handle *h, struct hv_mapping *map)
{
    struct xen_priv *p = hv_xen_priv(h);

    if (!map)
        return;
    if (xenforeignmemory_unmap(p->fmem, map->base, map->count) < 0)
        xt_warn(h->ctx, "xen: unmapping %zu guest pages failed: %s",
                map->count, strerror(errno));
    free(map);
}

/*
 * Log-dirty on: XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY.  If that fails --
 * log-dirty already on, left by an earlier attempt or (HVM) by QEMU's VRAM
 * tracking -- turn it off and on again, as Xen's own save code does.
 * Off: XEN_DOMCTL_SHADOW_OP_OFF (for PV this also leaves shadow mode).
 *
 * Xen's save code does more around this for HVM guests: it asks QEMU to
 * mark the pages its emulated devices write (switch_qemu_logdirty) and
 * harvests the final round with XEN_DOMCTL_SHADOW_LOGDIRTY_FINAL so pages
 * Xen itself keeps mapped writable count as dirty.  PVH has no QEMU (HVM
 * with one is refused here); FINAL is used by dirty_harvest when the
 * domain is paused or suspended.
 */
static int xen_logdirty(struct hv_handle *h, uint32_t domid, bool enable)
{
    struct xen_priv *p = hv_xen_priv(h);
    const char *op = enable ? "logdirty on" : "logdirty off";
    xc_domaininfo_t di;
    int rc, first;

    rc = hv_xen_check_domid(h->ctx, op, domid, false);
    if (rc < 0)
        return rc;
    if (!enable) {
        if (xc_shadow_control(p->xch, domid, XEN_DOMCTL_SHADOW_OP_OFF,
                              NULL, 0) < 0)
            return xt_error(h->ctx, hv_xen_lib_rc(), "xen %s of domain %u: "
                            "XEN_DOMCTL_SHADOW_OP_OFF failed", op, domid);
        logdirty_mark(p, domid, false);
        return 0;
    }
    rc = hv_xen_dominfo(h, op, domid, &di);
    if (rc < 0)
        return rc;
    rc = check_guest_type(h, op, domid, &di, true);
    if (rc < 0)
        return rc;
    rc = hv_xen_check_devices(h, op, domid);
    if (rc < 0)
        return rc;
    if (xc_shadow_control(p->xch, domid,
                          XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY, NULL, 0) < 0) {
        first = errno;
        xt_debug(h->ctx, "xen %s of domain %u: first enable failed (%s), "
                 "turning it off and on", op, domid, strerror(first));
        if (xc_shadow_control(p->xch, domid, XEN_DOMCTL_SHADOW_OP_OFF,
                              NULL, 0) < 0 ||
            xc_shadow_control(p->xch, domid,
                              XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY,
                              NULL, 0) < 0)
            return xt_error(h->ctx, hv_xen_lib_rc(), "xen %s of domain %u: "
                            "XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY failed "
                            "(first try: %s)", op, domid, strerror(first));
    }
    logdirty_mark(p, domid, true);
    return 0;
}

/*
 * CLEAN (harvest) or PEEK into a Xen-sized bitmap of unsigned longs in
 * hypercall-safe memory, then into the caller's uint64 bitmap.  The
 * caller's nr_pages must cover the domain's whole pfn space, or dirty
 * pages above it would be lost: checked against xc_domain_nr_gpfns.
 */
static int xen_dirty(struct hv_handle *h, const char *op, unsigned sop,
                     uint32_t domid, uint64_t *bitmap, uint64_t nr_pages,
                     uint64_t *dirty_r)
{
    struct xen_priv *p = hv_xen_priv(h);
    DECLARE_HYPERCALL_BUFFER(unsigned long, xbm);
    xc_shadow_op_stats_t stats;
    xc_domaininfo_t di;
    xen_pfn_t gpfns = 0;
    unsigned mode = 0;
    size_t bytes;
    int npages, rc;
    long long r;

    rc = hv_xen_check_dirty(h->ctx, op, domid, bitmap, nr_pages, dirty_r);
    if (rc < 0)
        return rc;
    rc = hv_xen_dominfo(h, op, domid, &di);
    if (rc < 0)
        return rc;
    if (xc_domain_nr_gpfns(p->xch, domid, &gpfns) < 0)
        return xt_error(h->ctx, hv_xen_lib_rc(), "xen %s of domain %u: "
                        "xc_domain_nr_gpfns failed", op, domid);
    if (gpfns > nr_pages)
        return xt_error(h->ctx, -ERANGE, "xen %s of domain %u: a bitmap of "
                        "%llu pages does not cover its %llu pfns", op,
                        domid, (unsigned long long)nr_pages,
                        (unsigned long long)gpfns);
    /* The last round runs with the domain stopped: have Xen count the
     * pages it keeps mapped writable, too. */
    if (sop == XEN_DOMCTL_SHADOW_OP_CLEAN &&
        (di.flags & (XEN_DOMINF_paused | XEN_DOMINF_shutdown)))
        mode = XEN_DOMCTL_SHADOW_LOGDIRTY_FINAL;

    bytes = hv_xen_bitmap_bytes(nr_pages, XEN_ULONG_BITS);
    npages = (int)((bytes + XC_PAGE_SIZE - 1) / XC_PAGE_SIZE);
    xbm = xc_hypercall_buffer_alloc_pages(p->xch, xbm, npages);
    if (!xbm)
        return xt_error(h->ctx, -ENOMEM, "xen %s of domain %u: hypercall "
                        "buffer of %d pages", op, domid, npages);
    /* Xen returns success without writing for a dying domain. */
    memset(xbm, 0, (size_t)npages * XC_PAGE_SIZE);
    memset(&stats, 0, sizeof(stats));
    r = xc_logdirty_control(p->xch, domid, sop, HYPERCALL_BUFFER(xbm),
                            (unsigned long)nr_pages, mode, &stats);
    if (r < 0) {
        rc = xt_error(h->ctx, hv_xen_lib_rc(), "xen %s of domain %u: "
                      "xc_logdirty_control(%s) failed", op, domid,
                      sop == XEN_DOMCTL_SHADOW_OP_CLEAN ? "CLEAN" : "PEEK");
        goto out;
    }
    if ((uint64_t)r != nr_pages) {
        rc = xt_error(h->ctx, -EIO, "xen %s of domain %u: Xen returned a "
                      "bitmap of %lld pages, %llu asked", op, domid, r,
                      (unsigned long long)nr_pages);
        goto out;
    }
    *dirty_r = hv_xen_bitmap_to_xt(xbm, XEN_ULONG_BITS, bitmap, nr_pages);
    rc = 0;
out:
    xc_hypercall_buffer_free_pages(p->xch, xbm, npages);
    return rc;
}

static int xen_dirty_harvest(struct hv_handle *h, uint32_t domid,
                             uint64_t *bitmap, uint64_t nr_pages,
                             uint64_t *dirty_r)
{
    return xen_dirty(h, "dirty harvest", XEN_DOMCTL_SHADOW_OP_CLEAN, domid,
                     bitmap, nr_pages, dirty_r);
}

static int xen_dirty_peek(struct hv_handle *h, uint32_t domid,
                          uint64_t *bitmap, uint64_t nr_pages,
                          uint64_t *dirty_r)
{
    return xen_dirty(h, "dirty peek", XEN_DOMCTL_SHADOW_OP_PEEK, domid,
                     bitmap, nr_pages, dirty_r);
}

/* Xen counts controller pauses: each pause needs its unpause. */
static int xen_pause(struct hv_handle *h, uint32_t domid)
{
    struct xen_priv *p = hv_xen_priv(h);
    int rc;

    rc = hv_xen_check_domid(h->ctx, "pause", domid, false);
    if (rc < 0)
        return rc;
    if (xc_domain_pause(p->xch, domid) < 0)
        return xt_error(h->ctx, hv_xen_lib_rc(), "xen pause of domain %u: "
                        "xc_domain_pause failed", domid);
    return 0;
}

static int xen_unpause(struct hv_handle *h, uint32_t domid)
{
    struct xen_priv *p = hv_xen_priv(h);
    int rc;

    rc = hv_xen_check_domid(h->ctx, "unpause", domid, false);
    if (rc < 0)
        return rc;
    if (xc_domain_unpause(p->xch, domid) < 0)
        return xt_error(h->ctx, hv_xen_lib_rc(), "xen unpause of domain %u: "
                        "xc_domain_unpause failed", domid);
    /* A created domain that runs is no longer the reaper's. */
    created_release(h, domid, true);
    return 0;
}

/*
 * After the ack timed out: withdraw the request, unless the guest acked at
 * the last moment (*acked_r).  Read and clear in one transaction so a late
 * ack is not overwritten.
 */
static int cancel_suspend(struct hv_handle *h, uint32_t domid,
                          const char *path, bool *acked_r)
{
    struct xen_priv *p = hv_xen_priv(h);
    xs_transaction_t t;
    unsigned len, tries;
    char *val;
    int e;

    *acked_r = false;
    for (tries = 0; tries < 16; tries++) {
        t = xs_transaction_start(p->xsh);
        if (t == XBT_NULL)
            return xt_error(h->ctx, hv_xen_lib_rc(), "xen suspend of domain %u: "
                            "xenstore transaction to cancel the request "
                            "failed", domid);
        val = xs_read(p->xsh, t, path, &len);
        if (!val && errno != ENOENT) {
            e = hv_xen_lib_rc();
            xs_transaction_end(p->xsh, t, true);
            return xt_error(h->ctx, e, "xen suspend of domain %u: reading "
                            "%s to cancel the request failed", domid, path);
        }
        if (hv_xen_suspend_acked(val)) {
            free(val);
            xs_transaction_end(p->xsh, t, true);
            *acked_r = true;
            return 0;
        }
        free(val);
        if (!xs_write(p->xsh, t, path, "", 0)) {
            e = hv_xen_lib_rc();
            xs_transaction_end(p->xsh, t, true);
            return xt_error(h->ctx, e, "xen suspend of domain %u: clearing "
                            "%s failed", domid, path);
        }
        if (xs_transaction_end(p->xsh, t, false))
            return 0;
        if (errno != EAGAIN)
            return xt_error(h->ctx, hv_xen_lib_rc(), "xen suspend of domain %u: "
                            "committing the cancel failed", domid);
    }
    return xt_error(h->ctx, -EAGAIN, "xen suspend of domain %u: xenstore "
                    "kept conflicting while cancelling the request", domid);
}

/*
 * Cooperative suspend through xenstore, as libxl does for PV and PVH
 * guests: write "suspend" to /local/domain/<domid>/control/shutdown, wait
 * for the guest to acknowledge (it clears the node), then for the domain
 * to shut down with reason SHUTDOWN_suspend; each wait is bounded by
 * suspend_timeout_ms.  A guest that never acks gets its request withdrawn.
 * (A guest advertising device/suspend/event-channel could be notified
 * faster through that event channel: later work.)
 */
int hv_xen_suspend(struct hv_handle *h, uint32_t domid)
{
    struct xen_priv *p = hv_xen_priv(h);
    uint64_t limit_ns, start;
    xc_domaininfo_t di;
    char path[64];
    char *val;
    unsigned len;
    bool acked = false;
    int rc;

    rc = hv_xen_check_domid(h->ctx, "suspend", domid, false);
    if (rc < 0)
        return rc;
    limit_ns = (uint64_t)p->opts.suspend_timeout_ms * 1000000ull;
    rc = hv_xen_dominfo(h, "suspend", domid, &di);
    if (rc < 0)
        return rc;
    rc = check_guest_type(h, "suspend", domid, &di, true);
    if (rc < 0)
        return rc;
    if (hv_xen_is_suspended(di.flags))
        return 0;
    if (di.flags & (XEN_DOMINF_dying | XEN_DOMINF_shutdown))
        return xt_error(h->ctx, -EINVAL, "xen suspend of domain %u: the "
                        "domain is %s", domid,
                        hv_run_state_name(hv_xen_run_state(di.flags)));
    if (di.flags & XEN_DOMINF_paused)
        return xt_error(h->ctx, -EBUSY, "xen suspend of domain %u: the "
                        "domain is paused and could not acknowledge; "
                        "suspend it running", domid);

    snprintf(path, sizeof(path), "/local/domain/%u/control/shutdown", domid);
    if (!xs_write(p->xsh, XBT_NULL, path, "suspend", 7))
        return xt_error(h->ctx, hv_xen_lib_rc(), "xen suspend of domain %u: "
                        "writing 'suspend' to %s failed", domid, path);

    for (start = xt_now_ns(); !acked; poll_nap(start)) {
        val = xs_read(p->xsh, XBT_NULL, path, &len);
        if (!val && errno != ENOENT)
            return xt_error(h->ctx, hv_xen_lib_rc(), "xen suspend of domain %u: "
                            "reading %s failed", domid, path);
        acked = hv_xen_suspend_acked(val);
        free(val);
        if (!acked && xt_now_ns() - start > limit_ns) {
            rc = cancel_suspend(h, domid, path, &acked);
            if (rc < 0)
                return rc;
            if (!acked)
                return xt_error(h->ctx, -ETIMEDOUT, "xen suspend of domain "
                                "%u: the guest did not acknowledge the "
                                "request within %u ms (request withdrawn)",
                                domid, p->opts.suspend_timeout_ms);
        }
    }

    for (start = xt_now_ns();; poll_nap(start)) {
        rc = hv_xen_dominfo(h, "suspend", domid, &di);
        if (rc < 0)
            return rc;
        if (hv_xen_is_suspended(di.flags))
            return 0;
        if (di.flags & (XEN_DOMINF_dying | XEN_DOMINF_shutdown))
            return xt_error(h->ctx, -EIO, "xen suspend of domain %u: the "
                            "guest shut down with reason %u, not suspend",
                            domid, hv_xen_shutdown_reason(di.flags));
        if (xt_now_ns() - start > limit_ns)
            return xt_error(h->ctx, -ETIMEDOUT, "xen suspend of domain %u: "
                            "acknowledged, but not suspended within %u ms",
                            domid, p->opts.suspend_timeout_ms);
    }
}

/*
 * Undo a suspend after a failed migration: xc_domain_resume(fast=1) makes
 * the guest's suspend hypercall return 1 ("cancelled", it keeps its
 * connections) and resumes the domain; xs_resume_domain clears xenstored's
 * shutdown flag for it.  A controller pause left by the engine is undone
 * too, so the guest runs again.  Not suspended: only that unpause.
 */
int hv_xen_resume(struct hv_handle *h, uint32_t domid)
{
    struct xen_priv *p = hv_xen_priv(h);
    xc_domaininfo_t di;
    int rc;

    rc = hv_xen_check_domid(h->ctx, "resume", domid, false);
    if (rc < 0)
        return rc;
    rc = hv_xen_dominfo(h, "resume", domid, &di);
    if (rc < 0)
        return rc;
    if (hv_xen_is_suspended(di.flags)) {
        if (xc_domain_resume(p->xch, domid, 1) < 0)
            return xt_error(h->ctx, hv_xen_lib_rc(), "xen resume of domain %u: "
                            "xc_domain_resume(fast) failed", domid);
        if (!xs_resume_domain(p->xsh, domid))
            return xt_error(h->ctx, hv_xen_lib_rc(), "xen resume of domain %u: "
                            "xs_resume_domain failed", domid);
        rc = hv_xen_dominfo(h, "resume", domid, &di);
        if (rc < 0)
            return rc;
    } else if (di.flags & (XEN_DOMINF_dying | XEN_DOMINF_shutdown)) {
        return xt_error(h->ctx, -EINVAL, "xen resume of domain %u: the "
                        "domain is %s, nothing to resume", domid,
                        hv_run_state_name(hv_xen_run_state(di.flags)));
    }
    if ((di.flags & XEN_DOMINF_paused) && xc_domain_unpause(p->xch, domid) < 0)
        return xt_error(h->ctx, hv_xen_lib_rc(), "xen resume of domain %u: "
                        "xc_domain_unpause failed", domid);
    return 0;
}

/*
 * PVH state: the TSC parameters, the HVM params of hv_xen_state_params
 * that are set, and the HVM context (vCPU registers, LAPICs, MTRRs, ...
 * everything xc_domain_hvm_getcontext returns) in one sealed blob.
 */
/*
 * The domain's CPU policy (CPUID leaves and MSRs) as Xen's own save code
 * sends it for HVM and PVH guests, so the destination offers the guest
 * the same CPU.  *leaves_r and *msrs_r are malloc'd; the caller frees
 * them.
 */
static int cpu_policy_get(struct hv_handle *h, uint32_t domid,
                          xen_cpuid_leaf_t **leaves_r, uint32_t *nr_cpuid_r,
                          xen_msr_entry_t **msrs_r, uint32_t *nr_msrs_r)
{
    struct xen_priv *p = hv_xen_priv(h);
    xc_cpu_policy_t *pol = NULL;
    xen_cpuid_leaf_t *leaves = NULL;
    xen_msr_entry_t *msrs = NULL;
    uint32_t nr_cpuid = 0, nr_msrs = 0;
    int rc;

    *leaves_r = NULL;
    *msrs_r = NULL;
    if (xc_cpu_policy_get_size(p->xch, &nr_cpuid, &nr_msrs) < 0)
        return xt_error(h->ctx, hv_xen_lib_rc(), "xen state save of domain %u: "
                        "xc_cpu_policy_get_size failed", domid);
    if (nr_cpuid == 0 || nr_cpuid > HV_XEN_STATE_MAX_CPUID ||
        nr_msrs > HV_XEN_STATE_MAX_MSRS)
        return xt_error(h->ctx, -EIO, "xen state save of domain %u: Xen "
                        "sizes CPU policies at %u CPUID leaves and %u MSRs, "
                        "beyond this driver's %u and %u", domid, nr_cpuid,
                        nr_msrs, HV_XEN_STATE_MAX_CPUID,
                        HV_XEN_STATE_MAX_MSRS);
    pol = xc_cpu_policy_init();
    leaves = calloc(nr_cpuid, sizeof(*leaves));
    msrs = calloc(nr_msrs ? nr_msrs : 1, sizeof(*msrs));
    if (!pol || !leaves || !msrs) {
        rc = xt_error(h->ctx, -ENOMEM, "xen state save of domain %u: CPU "
                      "policy buffers", domid);
        goto out;
    }
    if (xc_cpu_policy_get_domain(p->xch, domid, pol) < 0) {
        rc = xt_error(h->ctx, hv_xen_lib_rc(), "xen state save of domain %u: "
                      "xc_cpu_policy_get_domain failed", domid);
        goto out;
    }
    if (xc_cpu_policy_serialise(p->xch, pol, leaves, &nr_cpuid, msrs,
                                &nr_msrs) < 0) {
        rc = xt_error(h->ctx, hv_xen_lib_rc(), "xen state save of domain %u: "
                      "xc_cpu_policy_serialise failed", domid);
        goto out;
    }
    if (nr_cpuid == 0) {
        rc = xt_error(h->ctx, -EIO, "xen state save of domain %u: the "
                      "domain's CPU policy has no CPUID leaves", domid);
        goto out;
    }
    *leaves_r = leaves;
    *nr_cpuid_r = nr_cpuid;
    *msrs_r = msrs;
    *nr_msrs_r = nr_msrs;
    leaves = NULL;
    msrs = NULL;
    rc = 0;
out:
    xc_cpu_policy_destroy(pol);
    free(leaves);
    free(msrs);
    return rc;
}

static int xen_state_save(struct hv_handle *h, uint32_t domid, void **blob_r,
                          size_t *len_r)
{
    struct xen_priv *p = hv_xen_priv(h);
    struct hv_xen_param params[HV_XEN_STATE_MAX_PARAMS];
    struct hv_xen_state_layout lay;
    struct hv_xen_state st;
    xc_domaininfo_t di;
    xen_cpuid_leaf_t *leaves = NULL;
    xen_msr_entry_t *msrs = NULL;
    unsigned char *blob = NULL;
    size_t len, i;
    int size, r, rc;

    if (!blob_r || !len_r)
        return xt_error(h->ctx, -EINVAL, "xen state save of domain %u: "
                        "NULL %s", domid, !blob_r ? "blob" : "length");
    *blob_r = NULL;
    *len_r = 0;
    rc = hv_xen_check_domid(h->ctx, "state save", domid, false);
    if (rc < 0)
        return rc;
    rc = hv_xen_dominfo(h, "state save", domid, &di);
    if (rc < 0)
        return rc;
    rc = check_guest_type(h, "state save", domid, &di, false);
    if (rc < 0)
        return rc;
    if (!(di.flags & (XEN_DOMINF_paused | XEN_DOMINF_shutdown)))
        return xt_error(h->ctx, -EBUSY, "xen state save of domain %u: the "
                        "domain is running; pause or suspend it first",
                        domid);

    memset(&st, 0, sizeof(st));
    memset(params, 0, sizeof(params));
    st.guest_type = HV_XEN_GUEST_PVH;
    if (xc_domain_get_tsc_info(p->xch, domid, &st.tsc_mode,
                               &st.tsc_elapsed_nsec, &st.tsc_gtsc_khz,
                               &st.tsc_incarnation) < 0)
        return xt_error(h->ctx, hv_xen_lib_rc(), "xen state save of domain %u: "
                        "xc_domain_get_tsc_info failed", domid);
    for (i = 0; i < hv_xen_state_nr_params; i++) {
        uint64_t v = 0;

        if (xc_hvm_param_get(p->xch, domid, hv_xen_state_params[i], &v) < 0)
            return xt_error(h->ctx, hv_xen_lib_rc(), "xen state save of domain "
                            "%u: xc_hvm_param_get(%u) failed", domid,
                            hv_xen_state_params[i]);
        if (!v)
            continue;
        params[st.nr_params].index = hv_xen_state_params[i];
        params[st.nr_params].value = v;
        st.nr_params++;
    }
    rc = cpu_policy_get(h, domid, &leaves, &st.nr_cpuid, &msrs, &st.nr_msrs);
    if (rc < 0)
        return rc;

    size = xc_domain_hvm_getcontext(p->xch, domid, NULL, 0);
    if (size < 0) {
        rc = xt_error(h->ctx, hv_xen_lib_rc(), "xen state save of domain %u: "
                      "xc_domain_hvm_getcontext (size) failed", domid);
        goto out;
    }
    if (size == 0 || (unsigned)size > HV_XEN_STATE_MAX_HVMCTX) {
        rc = xt_error(h->ctx, -EIO, "xen state save of domain %u: HVM "
                      "context of %d bytes", domid, size);
        goto out;
    }
    len = hv_xen_state_size(st.nr_params, st.nr_cpuid, st.nr_msrs,
                            (uint32_t)size, &lay);
    blob = calloc(1, len);
    if (!blob) {
        rc = xt_error(h->ctx, -ENOMEM, "xen state save of domain %u: "
                      "blob of %zu bytes", domid, len);
        goto out;
    }
    r = xc_domain_hvm_getcontext(p->xch, domid, blob + lay.hvmctx,
                                 (uint32_t)size);
    if (r < 0) {
        rc = xt_error(h->ctx, hv_xen_lib_rc(), "xen state save of domain %u: "
                      "xc_domain_hvm_getcontext failed", domid);
        goto out;
    }
    if (r == 0 || r > size) {
        rc = xt_error(h->ctx, -EIO, "xen state save of domain %u: HVM "
                      "context of %d bytes, %d expected", domid, r, size);
        goto out;
    }
    st.hvm_ctx_len = (uint32_t)r;
    len = hv_xen_state_size(st.nr_params, st.nr_cpuid, st.nr_msrs,
                            st.hvm_ctx_len, NULL);
    memcpy(blob + sizeof(struct hv_state_hdr), &st, sizeof(st));
    memcpy(blob + lay.params, params, st.nr_params * sizeof(params[0]));
    memcpy(blob + lay.cpuid, leaves, st.nr_cpuid * sizeof(*leaves));
    memcpy(blob + lay.msrs, msrs, st.nr_msrs * sizeof(*msrs));
    hv_state_seal(blob, len, "xen", HV_XEN_STATE_VERSION);
    *blob_r = blob;
    *len_r = len;
    blob = NULL;
    rc = 0;
out:
    free(blob);
    free(leaves);
    free(msrs);
    return rc;
}

/*
 * Applies the source's CPU policy to the destination, as Xen's restore
 * does with the stream's CPUID and MSR policy records, before the HVM
 * context (whose MSR and xsave records Xen checks against the policy).
 * Xen refuses a policy this host cannot offer; it names the first leaf or
 * MSR it refused.
 */
static int cpu_policy_set(struct hv_handle *h, uint32_t domid,
                          const unsigned char *b,
                          const struct hv_xen_state *st,
                          const struct hv_xen_state_layout *lay)
{
    struct xen_priv *p = hv_xen_priv(h);
    uint32_t err_leaf = ~0u, err_subleaf = ~0u, err_msr = ~0u;
    xen_cpuid_leaf_t *leaves;
    xen_msr_entry_t *msrs;
    int rc = 0;

    /* The library takes non-const arrays, and the blob has no alignment. */
    leaves = malloc((size_t)st->nr_cpuid * sizeof(*leaves));
    msrs = malloc(((size_t)st->nr_msrs + 1) * sizeof(*msrs));
    if (!leaves || !msrs) {
        rc = xt_error(h->ctx, -ENOMEM, "xen state restore of domain %u: CPU "
                      "policy buffers", domid);
        goto out;
    }
    memcpy(leaves, b + lay->cpuid, (size_t)st->nr_cpuid * sizeof(*leaves));
    memcpy(msrs, b + lay->msrs, (size_t)st->nr_msrs * sizeof(*msrs));
    if (xc_set_domain_cpu_policy(p->xch, domid, st->nr_cpuid, leaves,
                                 st->nr_msrs, msrs, &err_leaf, &err_subleaf,
                                 &err_msr) < 0) {
        rc = hv_xen_lib_rc();
        if (err_leaf != ~0u)
            xt_error(h->ctx, rc, "xen state restore of domain %u: this host "
                     "refuses the guest's CPU policy at CPUID leaf %#x "
                     "subleaf %#x (the guest was given a CPU feature this "
                     "host cannot offer)", domid, err_leaf, err_subleaf);
        else if (err_msr != ~0u)
            xt_error(h->ctx, rc, "xen state restore of domain %u: this host "
                     "refuses the guest's CPU policy at MSR %#x", domid,
                     err_msr);
        else
            xt_error(h->ctx, rc, "xen state restore of domain %u: "
                     "xc_set_domain_cpu_policy of %u CPUID leaves and %u "
                     "MSRs failed", domid, st->nr_cpuid, st->nr_msrs);
        goto out;
    }
out:
    free(leaves);
    free(msrs);
    return rc;
}

/*
 * Into a paused PVH domain (hv_create's): TSC parameters first, then the
 * HVM params, the CPU policy, then the HVM context -- the order of Xen's
 * own restore.  Then what a toolstack adds: event channels, grant
 * seeding, the xenstore tree and the introduction.
 */
static int xen_state_restore(struct hv_handle *h, uint32_t domid,
                             const void *blob, size_t len)
{
    struct xen_priv *p = hv_xen_priv(h);
    const unsigned char *b = blob;
    struct hv_xen_state_layout lay;
    struct hv_xen_state st;
    xc_domaininfo_t di;
    size_t i;
    uint64_t store_gfn = 0, console_gfn = 0;
    uint32_t store_port = 0, console_port = 0;
    uint8_t *hvmctx = NULL;
    int rc;

    rc = hv_xen_check_domid(h->ctx, "state restore", domid, false);
    if (rc < 0)
        return rc;
    if (!blob)
        return xt_error(h->ctx, -EINVAL, "xen state restore of domain %u: "
                        "NULL blob", domid);
    rc = hv_xen_state_parse(h->ctx, blob, len, &st, &lay);
    if (rc < 0)
        return rc;
    rc = hv_xen_dominfo(h, "state restore", domid, &di);
    if (rc < 0)
        return rc;
    rc = check_guest_type(h, "state restore", domid, &di, false);
    if (rc < 0)
        return rc;
    if (!(di.flags & XEN_DOMINF_paused))
        return xt_error(h->ctx, -EBUSY, "xen state restore of domain %u: "
                        "the domain is not paused", domid);

    if (xc_domain_set_tsc_info(p->xch, domid, st.tsc_mode,
                               st.tsc_elapsed_nsec, st.tsc_gtsc_khz,
                               st.tsc_incarnation) < 0)
        return xt_error(h->ctx, hv_xen_lib_rc(), "xen state restore of domain %u: "
                        "xc_domain_set_tsc_info(mode %u) failed", domid,
                        st.tsc_mode);
    for (i = 0; i < st.nr_params; i++) {
        struct hv_xen_param prm;

        memcpy(&prm, b + lay.params + i * sizeof(prm), sizeof(prm));
        if (xc_hvm_param_set(p->xch, domid, prm.index, prm.value) < 0)
            return xt_error(h->ctx, hv_xen_lib_rc(), "xen state restore of domain "
                            "%u: xc_hvm_param_set(%u, %#llx) failed", domid,
                            prm.index, (unsigned long long)prm.value);
        if (prm.index == HVM_PARAM_STORE_PFN)
            store_gfn = prm.value;
        else if (prm.index == HVM_PARAM_CONSOLE_PFN)
            console_gfn = prm.value;
    }
    if (!store_gfn || !console_gfn)
        return xt_error(h->ctx, -EINVAL, "xen state restore of domain %u: "
                        "the blob names no %s page", domid,
                        !store_gfn ? "xenstore" : "console");
    rc = cpu_policy_set(h, domid, b, &st, &lay);
    if (rc < 0)
        return rc;
    /* xc_domain_hvm_setcontext takes a non-const buffer. */
    hvmctx = malloc(st.hvm_ctx_len);
    if (!hvmctx)
        return xt_error(h->ctx, -ENOMEM, "xen state restore of domain %u: "
                        "%u bytes of HVM context", domid, st.hvm_ctx_len);
    memcpy(hvmctx, b + lay.hvmctx, st.hvm_ctx_len);
    if (xc_domain_hvm_setcontext(p->xch, domid, hvmctx, st.hvm_ctx_len) < 0) {
        rc = xt_error(h->ctx, hv_xen_lib_rc(), "xen state restore of domain %u: "
                      "xc_domain_hvm_setcontext of %u bytes failed", domid,
                      st.hvm_ctx_len);
        goto out;
    }
    /* Fresh event channels for xenstored and xenconsoled (the guest
     * rereads their HVM params when it resumes), the grant entries for
     * both rings, the xenstore tree and the introduction.  The rings'
     * pages came with the memory. */
    rc = hv_xen_alloc_channels(h, domid, &store_port, &console_port);
    if (rc < 0)
        goto out;
    rc = hv_xen_introduce(h, domid, store_gfn, store_port, console_gfn,
                          console_port);
    if (rc < 0)
        goto out;
    rc = 0;
out:
    free(hvmctx);
    return rc;
}

/* pfns probed per foreign map by populated. */
#define PROBE_CHUNK     4096u

/*
 * Which pfns of a PVH guest are populated: a foreign mapping of a hole
 * fails for that page (and never allocates one), so the pfn space is
 * probed read-only, PROBE_CHUNK pages per map.  A PVH guest's pfn space
 * is mostly holes (its special pages sit just below 4 GiB), which the
 * engine's first round then skips.  PV guests (mapped by machine frame)
 * are not probed: -ENOTSUP.
 */
static int xen_populated(struct hv_handle *h, uint32_t domid, uint64_t first,
                         uint64_t nr, uint64_t *bitmap, uint64_t *count_r)
{
    struct xen_priv *p = hv_xen_priv(h);
    xen_pfn_t *pfns = NULL;
    xc_domaininfo_t di;
    int *err = NULL;
    uint64_t base, count = 0;
    int rc;

    rc = hv_xen_check_dirty(h->ctx, "populated", domid, bitmap, first + nr,
                            count_r);
    if (rc < 0)
        return rc;
    rc = hv_xen_dominfo(h, "populated", domid, &di);
    if (rc < 0)
        return rc;
    if (hv_xen_guest_type(&di) != HV_XEN_GUEST_PVH)
        return xt_error(h->ctx, -ENOTSUP, "xen populated of domain %u: "
                        "only PVH guests are probed", domid);
    pfns = malloc(PROBE_CHUNK * sizeof(*pfns));
    err = malloc(PROBE_CHUNK * sizeof(*err));
    if (!pfns || !err) {
        rc = xt_error(h->ctx, -ENOMEM, "xen populated of domain %u", domid);
        goto out;
    }
    memset(bitmap, 0, XT_BITMAP_WORDS(nr) * sizeof(uint64_t));
    for (base = 0; base < nr; base += PROBE_CHUNK) {
        size_t n = nr - base < PROBE_CHUNK ? (size_t)(nr - base)
                                           : PROBE_CHUNK, i;
        void *m;

        for (i = 0; i < n; i++) {
            pfns[i] = first + base + i;
            err[i] = 0;
        }
        m = xenforeignmemory_map(p->fmem, domid, PROT_READ, n, pfns, err);
        if (!m) {
            rc = xt_error(h->ctx, hv_xen_lib_rc(), "xen populated of domain "
                          "%u: xenforeignmemory_map of pfns %#llx+%zu "
                          "failed", domid,
                          (unsigned long long)(first + base), n);
            goto out;
        }
        for (i = 0; i < n; i++) {
            if (!err[i]) {
                xt_bitmap_set(bitmap, base + i);
                count++;
            }
        }
        xenforeignmemory_unmap(p->fmem, m, n);
    }
    *count_r = count;
    rc = 0;
out:
    free(pfns);
    free(err);
    return rc;
}

/*
 * xc_domain_destroy (it retries while Xen is still tearing down).  The
 * domain's xenstore directory is removed only for domains this handle
 * created; others belong to the toolstack that made them.
 */
static int xen_destroy(struct hv_handle *h, uint32_t domid)
{
    struct xen_priv *p = hv_xen_priv(h);
    static const char *const dirs[] = { "/local/domain/%u", "/libxl/%u" };
    char path[64];
    unsigned i;
    int rc;

    rc = hv_xen_check_domid(h->ctx, "destroy", domid, false);
    if (rc < 0)
        return rc;
    if (xc_domain_destroy(p->xch, domid) < 0)
        return xt_error(h->ctx, hv_xen_lib_rc(), "xen destroy of domain %u: "
                        "xc_domain_destroy failed", domid);
    /* Its xenstore directories are of no use to anyone now (libxl removes
     * them too).  /vm/<uuid> stays: after a migration to this host the
     * domain that replaced it has the same UUID. */
    for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        snprintf(path, sizeof(path), dirs[i], domid);
        if (!xs_rm(p->xsh, XBT_NULL, path) && errno != ENOENT)
            xt_warn(h->ctx, "xen destroy of domain %u: removing %s from "
                    "xenstore failed: %s", domid, path, strerror(errno));
    }
    created_release(h, domid, false);
    logdirty_mark(p, domid, false);
    return 0;
}

/*
 * throttle stays NULL (-ENOTSUP): a CPU cap is a scheduler parameter
 * (xc_sched_credit_domain_set or xc_sched_credit2_domain_set by the pool's
 * scheduler, cap in % of one pCPU across all vCPUs), which is unproven
 * here; see docs/design/hv.md.  boot and guest_stats are KVM/sim only.
 */
const struct hv_ops hv_xen_ops = {
    .name = "xen",
    .flags = HV_OPS_SPARSE,
    .open = xen_open,
    .close = xen_close,
    .list = xen_list,
    .info = xen_info,
    .create = xen_create,
    .boot = hv_xen_boot,
    .map_batch = xen_map_batch,
    .unmap = xen_unmap,
    .logdirty = xen_logdirty,
    .dirty_harvest = xen_dirty_harvest,
    .dirty_peek = xen_dirty_peek,
    .pause = xen_pause,
    .unpause = xen_unpause,
    .throttle = NULL,
    .suspend = hv_xen_suspend,
    .resume_after_failure = hv_xen_resume,
    .state_save = xen_state_save,
    .state_restore = xen_state_restore,
    .guest_stats = NULL,
    .populated = xen_populated,
    .stream_save = hv_xen_stream_save,
    .stream_restore = hv_xen_stream_restore,
    .destroy = xen_destroy,
    .can_migrate = xen_can_migrate,
};
