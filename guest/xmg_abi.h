/*
 * xmg_abi.h - the contract between the xm-pool test guest and its hosts
 * (our VMM, the sim engine, QEMU).  Specified in docs/specs/guest-abi.md;
 * change both together and bump XMG_ABI_VERSION.
 *
 * This header is included by freestanding guest code, so it uses only
 * <stdint.h> types and no libc.
 */
#ifndef XMG_ABI_H
#define XMG_ABI_H

#include <stdint.h>

#define XMG_ABI_VERSION     1u
#define XMG_PAGE_SIZE       4096u
#define XMG_PAGE_SHIFT      12u

/* "XMGUEST1": struct xmg_header, 8-byte aligned, in the first 32 KiB of the
 * loaded image (right after the Multiboot header). */
#define XMG_HEADER_MAGIC    0x3154534555474d58ull
#define XMG_HEADER_SEARCH   32768u
/* "XMPARAM1", "XMSTATS1" */
#define XMG_PARAMS_MAGIC    0x314d415241504d58ull
#define XMG_STATUS_MAGIC    0x3153544154534d58ull

/* Port I/O from ring 3 (RFLAGS.IOPL = 3). */
#define XMG_PORT_CONSOLE    0xe9    /* outb: one console character */
#define XMG_PORT_HEARTBEAT  0xea    /* outl: low 32 bits of hb_seq */
#define XMG_PORT_MISMATCH   0xeb    /* outl: low 32 bits of the bad pfn */
#define XMG_PORT_EXIT       0xec    /* outl: exit code; the guest stops */
#define XMG_PORT_READY      0xed    /* outl: XMG_ABI_VERSION, once the
                                     * workload is initialised */

/* Exit codes on XMG_PORT_EXIT. */
#define XMG_EXIT_OK         0u
#define XMG_EXIT_BAD_PARAMS 1u      /* params/cmdline unusable */
#define XMG_EXIT_NO_MEMORY  2u      /* working set does not fit */

/* "XMSHUTDN": struct xmg_params.shutdown_req once the host asks the guest
 * to shut down (any other value: no request). */
#define XMG_SHUTDOWN_MAGIC  0x4e44545548534d58ull

/* Page tables the loader (our VMM) or the ring-0 prologue (under QEMU)
 * builds: identity map with 2 MiB pages, U/W/P at every level.  One PML4,
 * one PDPT, XMG_PT_PDS page directories: maps XMG_PT_PDS GiB. */
#define XMG_PT_PDS          16u
#define XMG_PT_PAGES        (2u + XMG_PT_PDS)
#define XMG_MAX_MEM_BYTES   ((uint64_t)XMG_PT_PDS << 30)

/* Segment selectors of the guest's GDT (used by the prologue; our VMM loads
 * the same values into the segment caches directly). */
#define XMG_SEL_CODE64_K    0x08
#define XMG_SEL_DATA_K      0x10
#define XMG_SEL_CODE64_U    0x1b
#define XMG_SEL_DATA_U      0x23

struct xmg_header {
    uint64_t magic;         /* XMG_HEADER_MAGIC */
    uint32_t version;       /* XMG_ABI_VERSION */
    uint32_t size;          /* sizeof(struct xmg_header) */
    uint64_t entry64;       /* 64-bit ring-3 entry (virtual == physical) */
    uint64_t stack_top;     /* initial RSP for ring 3, 16-byte aligned */
    uint64_t params_gpa;    /* struct xmg_params, one page */
    uint64_t status_gpa;    /* struct xmg_status, one page */
    uint64_t pt_gpa;        /* XMG_PT_PAGES zeroed pages for page tables */
    uint64_t image_end;     /* first byte after image + bss, page aligned */
};

#define XMG_CMDLINE_MAX     1024u

/* Written by the loader before the guest runs.  Under QEMU the prologue
 * fills it from the Multiboot information structure. */
struct xmg_params {
    uint64_t magic;         /* XMG_PARAMS_MAGIC */
    uint64_t mem_bytes;     /* guest RAM size in bytes */
    uint64_t tsc_khz;       /* TSC frequency, 0 = unknown */
    /* Written by the host at any time while the guest runs (0 at load):
     * XMG_SHUTDOWN_MAGIC asks the guest to shut down cleanly.  The
     * workload looks at it once per heartbeat. */
    uint64_t shutdown_req;
    uint64_t reserved[4];
    char cmdline[XMG_CMDLINE_MAX]; /* NUL-terminated, see guest-abi.md */
};

/* Workload modes (cmdline "mode="). */
#define XMG_MODE_SEQ        0u      /* pages ws[0], ws[1], ... cyclically */
#define XMG_MODE_RANDOM     1u      /* xorshift64 over the working set */
/* Page patterns (cmdline "pattern="). */
#define XMG_PATTERN_FILL    0u      /* every u64 = xmg_fill_word(pfn, gen) */
#define XMG_PATTERN_RANDOM  1u      /* xorshift64* stream seeded by pfn, gen:
                                     * incompressible */
#define XMG_RATE_MAX        UINT64_MAX  /* "rate=max" */

/* Owned by the guest: all workload state lives here (never in registers
 * only), so a host that stops the workload between two page operations and
 * restarts it from this page (the sim engine) continues exactly. */
struct xmg_status {
    uint64_t magic;         /* XMG_STATUS_MAGIC once initialised */
    uint64_t version;       /* XMG_ABI_VERSION */
    /* configuration, as parsed */
    uint64_t ws_first_pfn;  /* first page of the working set */
    uint64_t ws_pages;      /* working-set size in pages */
    uint64_t ledger_gpa;    /* uint32_t gen[ws_pages], page aligned */
    uint64_t rate;          /* pages per second, 0 idle, XMG_RATE_MAX */
    uint64_t mode;          /* XMG_MODE_* */
    uint64_t pattern;       /* XMG_PATTERN_* */
    uint64_t hb_ticks;      /* TSC ticks between heartbeats */
    uint64_t tsc_khz;       /* TSC frequency used */
    /* progress */
    uint64_t hb_seq;        /* last heartbeat sent (first is 1) */
    uint64_t next_hb_tsc;   /* TSC of the next heartbeat */
    uint64_t pages_written; /* page rewrites since boot */
    uint64_t mismatches;    /* ledger mismatches since boot */
    uint64_t last_mismatch_pfn;
    uint64_t cursor;        /* XMG_MODE_SEQ: index of the next page */
    uint64_t rng;           /* XMG_MODE_RANDOM state (never 0) */
    uint64_t credit_tsc;    /* rate limiter: TSC up to which writes are
                             * paid for */
    uint64_t reserved[16];
};

/* The FILL pattern word of page pfn at generation gen (gen 0 = never
 * written: the page must be all zero). */
static inline uint64_t xmg_fill_word(uint64_t pfn, uint32_t gen)
{
    return ((pfn << 32) | gen) ^ 0x5a5aa5a5c3c33c3cull;
}

/* Seed of the RANDOM pattern stream of page pfn at generation gen; the
 * stream is xorshift64* (x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
 * word = x * 0x2545f4914f6cdd1d). */
static inline uint64_t xmg_random_seed(uint64_t pfn, uint32_t gen)
{
    uint64_t x = (pfn * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)gen << 17) ^
                 0xd1b54a32d192ed03ull;

    return x ? x : 1;
}

#endif /* XMG_ABI_H */
