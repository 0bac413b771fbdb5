/*
 * hv_xen_internal.h - the pure parts of the Xen driver (hv_xen.c): option
 * parsing, argument checks, the Xen dirty bitmap conversion, domain info
 * and run state mapping, and the layout of the driver's state blob.
 *
 * None of these calls into Xen, so the unit tests (tests/unit/hv/
 * test_hv_xen.c) run them on machines without a hypervisor.  Built only
 * when HAVE_XEN; not for other modules.
 */
#ifndef HV_XEN_INTERNAL_H
#define HV_XEN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <xenctrl.h>

#include "hv.h"

#define HV_XEN_PRIVCMD          "/dev/xen/privcmd"

/*
 * Most pages one map_batch call maps: 2^20 pages (4 GiB of address space).
 * A sanity bound against a wild n, not a tuning knob; the engine's batches
 * are far smaller.
 */
#define HV_XEN_MAP_MAX_PAGES    (1u << 20)

/* Largest pfn space the dirty calls accept: 2^32 pages (16 TiB). */
#define HV_XEN_MAX_PFNS         (1ull << 32)

/* The Xen state blob: version of the layout after struct hv_state_hdr. */
#define HV_XEN_STATE_VERSION    2u
/* Bounds a received blob is held to (it is untrusted input). */
#define HV_XEN_STATE_MAX_PARAMS 32u
#define HV_XEN_STATE_MAX_HVMCTX (16u << 20)
/* CPUID leaves and MSRs of a domain's CPU policy a blob may carry (Xen
 * 4.17 serialises about 120 leaves and a handful of MSRs). */
#define HV_XEN_STATE_MAX_CPUID  4096u
#define HV_XEN_STATE_MAX_MSRS   1024u

/* Xen's TSC modes (xc_domain_set_tsc_info); the public headers of 4.17
 * do not name them. */
#define HV_XEN_TSC_MODE_DEFAULT         0u
#define HV_XEN_TSC_MODE_ALWAYS_EMULATE  1u
#define HV_XEN_TSC_MODE_NATIVE          2u      /* "never emulate" */

/* ---- options ----------------------------------------------------------- */

enum hv_xen_populate {
    HV_XEN_POPULATE_LAZY = 0,   /* create populates a pfn when first mapped */
    HV_XEN_POPULATE_EAGER,      /* create populates pfns 0..nr_pages-1 */
};

enum hv_xen_hap {
    HV_XEN_HAP_AUTO = 0,        /* HAP when Xen reports it (xc_physinfo) */
    HV_XEN_HAP_YES,
    HV_XEN_HAP_NO,
};

struct hv_xen_opts {
    uint32_t suspend_timeout_ms;        /* suspend: ack + shutdown wait */
    enum hv_xen_populate populate;
    enum hv_xen_hap hap;
    bool tsc_mode_set;                  /* create sets tsc_mode */
    uint32_t tsc_mode;                  /* HV_XEN_TSC_MODE_* */
};

#define HV_XEN_SUSPEND_TIMEOUT_MS_DEFAULT  60000u
#define HV_XEN_SUSPEND_TIMEOUT_MS_MAX      3600000u

/* The defaults: 60 s suspend timeout, lazy populate, HAP auto, Xen's
 * default TSC mode. */
void hv_xen_opts_default(struct hv_xen_opts *opts);

/*
 * Parses the driver options, NULL or "key=value,key=value":
 *   suspend_timeout_ms=1..3600000
 *   populate=lazy|eager
 *   hap=auto|yes|no
 *   tsc_mode=default|native|always_emulate
 * A later key overrides an earlier one.  An unknown key, a key without a
 * value, an empty item or a bad value fails with -EINVAL, reported into
 * ctx naming the key.  *opts is filled with the defaults first.
 */
int hv_xen_opts_parse(struct xt_ctx *ctx, const char *args,
                      struct hv_xen_opts *opts);

/* ---- argument checks ---------------------------------------------------- */

/*
 * A domain id an op may act on: below DOMID_FIRST_RESERVED, and not 0 (the
 * control domain we run in) unless allow_dom0.  -EINVAL reported into ctx
 * naming op and domid.
 */
int hv_xen_check_domid(struct xt_ctx *ctx, const char *op, uint32_t domid,
                       bool allow_dom0);

/*
 * map_batch arguments: domid (not dom0), 0 < n <= HV_XEN_MAP_MAX_PAGES,
 * prot HV_MAP_READ and/or HV_MAP_WRITE and nothing else, pfns, pages_r and
 * map_r not NULL.  -EINVAL reported into ctx naming the domain.
 */
int hv_xen_check_batch(struct xt_ctx *ctx, uint32_t domid, int prot,
                       const uint64_t *pfns, size_t n, void **pages_r,
                       struct hv_mapping **map_r);

/* HV_MAP_* to mmap's PROT_*; checked by hv_xen_check_batch first. */
int hv_xen_prot(int prot);

/*
 * dirty_harvest / dirty_peek arguments: domid, bitmap and dirty_r not
 * NULL, 0 < nr_pages <= HV_XEN_MAX_PFNS.  -EINVAL reported naming op and
 * domain.  (That nr_pages covers the domain's pfn space is checked against
 * Xen by the op itself.)
 */
int hv_xen_check_dirty(struct xt_ctx *ctx, const char *op, uint32_t domid,
                       const uint64_t *bitmap, uint64_t nr_pages,
                       const uint64_t *dirty_r);

/* ---- dirty bitmaps ------------------------------------------------------ */

/*
 * Xen's log-dirty bitmap is an array of unsigned long: bit p is bit
 * (p % BITS) of word (p / BITS), words in the host's (little) byte order.
 * word_bits is the size of Xen's word in bits, 32 or 64 (the driver passes
 * sizeof(unsigned long) * CHAR_BIT; tests try both).
 *
 * hv_xen_bitmap_bytes: size of a Xen bitmap of nr_pages bits (whole words).
 * hv_xen_bitmap_to_xt: writes our bitmap of nr_pages bits whole
 * (XT_BITMAP_WORDS(nr_pages) words) from the Xen one, bits at and beyond
 * nr_pages cleared; reads no byte beyond hv_xen_bitmap_bytes().  Returns
 * the number of set bits.
 */
size_t hv_xen_bitmap_bytes(uint64_t nr_pages, unsigned word_bits);
uint64_t hv_xen_bitmap_to_xt(const void *xen_bm, unsigned word_bits,
                             uint64_t *bm, uint64_t nr_pages);

/* ---- domain info -------------------------------------------------------- */

enum hv_xen_guest_type {
    HV_XEN_GUEST_PV = 1,
    HV_XEN_GUEST_PVH,
    HV_XEN_GUEST_HVM,           /* full emulation, needs a device model */
};

const char *hv_xen_guest_type_name(enum hv_xen_guest_type t);

/* PV without XEN_DOMINF_hvm_guest; PVH when the only emulated device is
 * the local APIC; HVM otherwise. */
enum hv_xen_guest_type hv_xen_guest_type(const xc_domaininfo_t *di);

/* The shutdown reason (SHUTDOWN_*) in getdomaininfo flags. */
unsigned hv_xen_shutdown_reason(uint32_t flags);

/*
 * getdomaininfo flags to our run state, first match wins: dying -> DYING;
 * shutdown with reason SHUTDOWN_suspend -> SUSPENDED, SHUTDOWN_crash ->
 * CRASHED, any other reason -> SHUTDOWN; paused -> PAUSED; else RUNNING
 * (blocked and running both mean "scheduled normally").
 */
enum hv_run_state hv_xen_run_state(uint32_t flags);

/* True when the domain has shut down for suspend (what a successful
 * suspend waits for). */
bool hv_xen_is_suspended(uint32_t flags);

/*
 * Fills *info from one getdomaininfo record: domid, uuid (the Xen handle),
 * nr_vcpus (max_vcpu_id + 1, 0 if none), state, nr_pages = nr_gpfns.  name,
 * logdirty and throttle_pct are left as they are (the caller fills them).
 */
void hv_xen_fill_info(const xc_domaininfo_t *di, uint64_t nr_gpfns,
                      struct hv_domain_info *info);

/* control/shutdown after a suspend request: acknowledged when the guest
 * has removed or changed the "suspend" we wrote (val NULL = node gone). */
bool hv_xen_suspend_acked(const char *val);

/*
 * The device kinds under a domain's xenstore device/ directory that this
 * driver cannot move (their backends are not recreated on the
 * destination, so the guest would lose the disk or network it had):
 * everything but "suspend" (the guest's own suspend event channel node).
 * Writes them, comma-separated, into buf (always terminated, truncated to
 * size) and returns how many there are.
 */
unsigned hv_xen_unmovable_devices(const char *const *kinds, unsigned n,
                                  char *buf, size_t size);

/* ---- state blob --------------------------------------------------------- */

/*
 * A Xen state blob (version HV_XEN_STATE_VERSION; docs/specs/xen-state-blob.md):
 *
 *   struct hv_state_hdr        magic, version, "xen", length, checksum
 *   struct hv_xen_state        this header
 *   struct hv_xen_param        nr_params of them
 *   xen_cpuid_leaf_t           nr_cpuid of them  } the domain's CPU policy,
 *   xen_msr_entry_t            nr_msrs of them   } xc_cpu_policy_serialise()
 *   uint8_t[hvm_ctx_len]       xc_domain_hvm_getcontext() output
 *
 * All integers little-endian (the host's: x86-64 only).  The blob is read
 * with memcpy, so it needs no alignment.
 */
struct hv_xen_state {
    uint32_t guest_type;        /* HV_XEN_GUEST_PVH: the only one saved */
    uint32_t nr_params;
    uint32_t hvm_ctx_len;
    uint32_t tsc_mode;          /* xc_domain_get_tsc_info() */
    uint64_t tsc_elapsed_nsec;
    uint32_t tsc_gtsc_khz;
    uint32_t tsc_incarnation;
    uint32_t nr_cpuid;          /* CPUID leaves of the CPU policy */
    uint32_t nr_msrs;           /* MSRs of the CPU policy */
};

/* Byte offsets of a parsed blob's parts. */
struct hv_xen_state_layout {
    size_t params;              /* struct hv_xen_param[nr_params] */
    size_t cpuid;               /* xen_cpuid_leaf_t[nr_cpuid] */
    size_t msrs;                /* xen_msr_entry_t[nr_msrs] */
    size_t hvmctx;              /* hvm_ctx_len bytes */
};

struct hv_xen_param {
    uint32_t index;             /* HVM_PARAM_* */
    uint32_t pad;               /* 0 */
    uint64_t value;
};

/* The HVM params a blob carries (saved when non-zero); a received blob
 * naming any other index is rejected. */
extern const uint32_t hv_xen_state_params[];
extern const size_t hv_xen_state_nr_params;
bool hv_xen_state_param_allowed(uint32_t index);

/* Size of a blob with these counts and hvm_ctx_len bytes of context (no
 * overflow for sizes within the HV_XEN_STATE_MAX_* bounds); *lay, if not
 * NULL, receives where each part starts. */
size_t hv_xen_state_size(uint32_t nr_params, uint32_t nr_cpuid,
                         uint32_t nr_msrs, uint32_t hvm_ctx_len,
                         struct hv_xen_state_layout *lay);

/*
 * Checks a received blob whole: the framing (hv_state_check with driver
 * "xen" and HV_XEN_STATE_VERSION), then the layout: guest type PVH,
 * nr_params <= HV_XEN_STATE_MAX_PARAMS, 0 < nr_cpuid <=
 * HV_XEN_STATE_MAX_CPUID, nr_msrs <= HV_XEN_STATE_MAX_MSRS, 0 <
 * hvm_ctx_len <= HV_XEN_STATE_MAX_HVMCTX, the length exactly what those
 * add up to, every param index allowed and its pad 0, every MSR entry's
 * flags 0.  On success *st receives the header and *lay the byte offsets
 * of the parts in blob.  Errors: as hv_state_check, and -EINVAL naming what is
 * wrong, reported into ctx.
 */
int hv_xen_state_parse(struct xt_ctx *ctx, const void *blob, size_t len,
                       struct hv_xen_state *st,
                       struct hv_xen_state_layout *lay);

#endif /* HV_XEN_INTERNAL_H */
