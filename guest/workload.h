/*
 * workload.h - the test guest's workload: a memory dirtier with a ledger,
 * heartbeats and a rate limiter (docs/specs/guest-abi.md).
 *
 * The same C runs in two places:
 *   - freestanding, in ring 3 of the test guest (guest/guest_main.c), where
 *     guest-physical addresses are virtual addresses (mem_base 0);
 *   - hosted, in a thread of the sim engine over a memfd holding guest RAM
 *     (mem_base = where the memfd is mapped), and in the unit tests.
 * It uses no libc and no inline assembly: everything it needs from its
 * host comes through struct xmg_env.  All workload state lives in struct
 * xmg_status (in guest RAM), so a hosted run can stop between two page
 * operations and continue later, or elsewhere, exactly.
 */
#ifndef XMG_WORKLOAD_H
#define XMG_WORKLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xmg_abi.h"

/* What the workload needs from its host.  Callbacks get env->opaque. */
struct xmg_env {
    /* Host address of guest-physical address 0 (0 in the guest). */
    uintptr_t mem_base;
    /* Required: the time stamp counter (the guest's rdtsc). */
    uint64_t (*tsc)(void *opaque);
    /* Required: port output.  XMG_PORT_CONSOLE takes one character in the
     * low byte (outb); every other port a 32-bit value (outl). */
    void (*out)(void *opaque, uint16_t port, uint32_t val);
    /* Optional (NULL in the guest): polled between page operations and
     * while idle; returning true makes xmg_workload_run() return. */
    bool (*stop)(void *opaque);
    /* Optional: nothing to do before TSC until_tsc; may return at any time
     * earlier (a hosted caller sleeps, the guest executes pause).  NULL:
     * busy-poll the TSC. */
    void (*idle)(void *opaque, uint64_t until_tsc);
    /* Optional: the TSC frequency as the platform reports it (the guest
     * asks CPUID), 0 if unknown.  Asked only when neither params->tsc_khz
     * nor the command line gives one. */
    uint64_t (*tsc_khz)(void *opaque);
    void *opaque;
    /* Optional: the params page (a pointer the caller can use), for the
     * shutdown request word; NULL: no shutdown requests. */
    const struct xmg_params *params;
    /* Guest RAM from image_end up is known to be zero (a fresh memfd):
     * xmg_workload_init() skips scrubbing the ledger and working set. */
    bool mem_zeroed;
};

/* The command line, parsed (docs/specs/guest-abi.md lists the keys). */
struct xmg_config {
    uint64_t ws_pages;      /* working-set pages (ws_pages=, ws_mib=) */
    uint64_t rate;          /* pages per second, 0 idle, XMG_RATE_MAX */
    uint64_t mode;          /* XMG_MODE_* */
    uint64_t pattern;       /* XMG_PATTERN_* */
    uint64_t seed;          /* random-mode seed */
    uint64_t hb_us;         /* heartbeat period, microseconds */
    uint64_t tsc_khz;       /* tsc_khz=, 0 when not given */
};

#define XMG_DEFAULT_WS_MIB  64u
#define XMG_DEFAULT_HB_US   1000u
#define XMG_DEFAULT_SEED    1u
#define XMG_FALLBACK_TSC_KHZ 2000000u
#define XMG_MAX_HB_US       1000000000u     /* 1000 s */
#define XMG_MAX_TSC_KHZ     100000000u      /* 100 GHz */
/* The rate limiter never owes more than this much time in page writes. */
#define XMG_CREDIT_CAP_US   10000u

/*
 * Parses cmdline (at most max bytes, stops at NUL) into *cfg, defaults
 * first.  Returns 0, or XMG_EXIT_BAD_PARAMS with *bad_r (if bad_r) pointing
 * at the offending "key=value" token inside cmdline (it ends at a space or
 * NUL).
 */
int xmg_parse_cmdline(const char *cmdline, size_t max,
                      struct xmg_config *cfg, const char **bad_r);

/*
 * Sets the workload up from params (the loader's) and the image end
 * (page aligned up): parses the command line, lays the ledger out at
 * image_end and the working set right after it, makes both zero (unless
 * env->mem_zeroed), fills *st (magic last), prints the banner and writes
 * XMG_ABI_VERSION to XMG_PORT_READY.  Returns 0, or XMG_EXIT_* after
 * printing why on the console and writing the code to XMG_PORT_EXIT.
 * params and st are pointers the caller can use (host addresses when
 * hosted); env->mem_base is applied to the ledger and working set only.
 */
int xmg_workload_init(const struct xmg_env *env, struct xmg_params *p,
                      struct xmg_status *st, uint64_t image_end);

/*
 * The workload loop: heartbeats and page operations, all state in *st.
 * Returns when env->stop says so (calling it again continues where it
 * stopped), or once env->params->shutdown_req holds XMG_SHUTDOWN_MAGIC
 * (seen at a heartbeat): then it has printed "shutdown requested" and
 * written XMG_EXIT_OK to XMG_PORT_EXIT.
 */
void xmg_workload_run(const struct xmg_env *env, struct xmg_status *st);

/* One page operation on working-set index idx (< st->ws_pages): check the
 * page against the ledger (a mismatch is counted, written to
 * XMG_PORT_MISMATCH and printed), then write the next generation.  Does not
 * move the cursor or rng.  Exposed for tests. */
void xmg_page_op(const struct xmg_env *env, struct xmg_status *st,
                 uint64_t idx);

/* Writes page pfn's pattern for generation gen (gen 0: zeroes). */
void xmg_page_write(void *page, uint64_t pfn, uint32_t gen,
                    uint64_t pattern);

/* Does page hold pfn's pattern for gen (gen 0: all zero)? */
bool xmg_page_check(const void *page, uint64_t pfn, uint32_t gen,
                    uint64_t pattern);

/* Like xmg_page_check(), for a host that does not know the pattern:
 * either pattern is accepted. */
bool xmg_page_verify(const void *page, uint64_t pfn, uint32_t gen);

/* Is *st an initialised status whose ledger and working set lie inside
 * mem_bytes of guest RAM?  (Checks a peer's status before trusting it.) */
bool xmg_status_valid(const struct xmg_status *st, uint64_t mem_bytes);

/*
 * Checks every working-set page against the ledger, for a host holding a
 * paused guest's RAM (mem_base, mem_bytes) and its status page.  Returns 0
 * with the number of bad pages in *bad_r and the first bad pfn (or 0) in
 * *first_bad_pfn_r (either may be NULL), or -EINVAL (-22) if
 * !xmg_status_valid().
 */
int xmg_workload_verify(uintptr_t mem_base, uint64_t mem_bytes,
                        const struct xmg_status *st, uint64_t *bad_r,
                        uint64_t *first_bad_pfn_r);

/* The working-set index the next page operation will touch. */
uint64_t xmg_next_index(const struct xmg_status *st);

#endif /* XMG_WORKLOAD_H */
