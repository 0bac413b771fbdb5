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

/* One block request for env->blk_io (the virtio-blk request types and
 * status values, which any host may use). */
#define XMG_BLK_T_IN        0u      /* read from the disk into buf */
#define XMG_BLK_T_OUT       1u      /* write buf to the disk */
#define XMG_BLK_T_FLUSH     4u      /* make earlier writes durable */
#define XMG_BLK_S_OK        0u
#define XMG_BLK_S_IOERR     1u
#define XMG_BLK_S_UNSUPP    2u
/* env->disk_flags */
#define XMG_BLK_F_FLUSH     0x1u    /* the disk takes XMG_BLK_T_FLUSH */
#define XMG_BLK_F_RO        0x2u    /* the disk refuses writes */
#define XMG_BLK_F_ABSENT    0x4u    /* no disk has this number (a host
                                     * whose numbers have holes) */

struct xmg_blk_req {
    uint32_t type;          /* XMG_BLK_T_* */
    uint32_t status;        /* out: XMG_BLK_S_*, or another device value */
    uint64_t sector;        /* 512-byte sectors (IN, OUT) */
    void *buf;              /* len bytes, a pointer the host can use; in the
                             * guest its address is guest-physical */
    uint32_t len;           /* a multiple of 512 (IN, OUT), 0 (FLUSH) */
};

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
    /* Optional, all four or none: disks (section 6.5 of the spec).  NULL
     * (or 0 disks) means no disks.  nr_disks() may find the disks the
     * first time it is called (only when a disk workload is asked for).
     * Disks are numbered from 0 in a fixed order (the guest: PCI slot). */
    unsigned (*nr_disks)(void *opaque);
    uint64_t (*disk_sectors)(void *opaque, unsigned disk);
    unsigned (*disk_flags)(void *opaque, unsigned disk);   /* XMG_BLK_F_* */
    /* Runs the n requests on disk: submits them all, then returns once
     * every one has completed (in any order) with its status set.  Returns
     * 0 (look at each status), or a negative errno when the disk cannot be
     * used any more (it timed out, the device failed): the statuses are
     * then undefined and the disk is not used again. */
    int (*blk_io)(void *opaque, unsigned disk, struct xmg_blk_req *reqs,
                  unsigned n);
    /*
     * Optional, all five or none (and only with the disk ops): the disk
     * hot-plug controller (section 6.7 of the spec).  hp_in and hp_out
     * read and write its 32-bit registers (XMG_HP_*).  disk_attach sets
     * up the device in slot (1..XMG_HP_SLOTS) and returns its disk number
     * for the disk ops above, or a negative errno; disk_forget lets disk
     * go (the workload never touches it again; its number may come back
     * for another slot); disk_slot is the slot of disk.
     */
    uint32_t (*hp_in)(void *opaque, unsigned reg);
    void (*hp_out)(void *opaque, unsigned reg, uint32_t val);
    int (*disk_attach)(void *opaque, unsigned slot);
    void (*disk_forget)(void *opaque, unsigned disk);
    unsigned (*disk_slot)(void *opaque, unsigned disk);
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
    uint64_t disk_rate;     /* blocks per second, 0 none, XMG_RATE_MAX */
    uint64_t disk_ws_blocks;    /* per disk, 0: the default */
    uint64_t disk_batch;    /* blocks per request batch */
    uint64_t disk_nonce;    /* 0: pick one */
    uint64_t disk_resume;   /* writes an earlier boot made, 0 none */
    uint64_t disk_stop_after;   /* 0: never */
    uint64_t disk_hp_stamp;     /* 1: stamp each disk hot-plugged */
    uint64_t prefill;           /* 1: write the working set once first */
};

#define XMG_DEFAULT_WS_MIB  64u
#define XMG_DEFAULT_HB_US   1000u
#define XMG_DEFAULT_SEED    1u
#define XMG_FALLBACK_TSC_KHZ 2000000u
#define XMG_MAX_HB_US       1000000000u     /* 1000 s */
#define XMG_MAX_TSC_KHZ     100000000u      /* 100 GHz */
#define XMG_DEFAULT_DISK_WS_MIB 64u
#define XMG_DEFAULT_DISK_BATCH 4u
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

/* ---- disk stamps and ledger (section 6.5), pure functions ---- */

/* Fills the XMG_DISK_BLOCK bytes at buf with the stamp of (nonce, disk,
 * block, gen); gen >= 1. */
void xmg_disk_stamp(void *buf, uint64_t nonce, uint64_t disk,
                    uint64_t block, uint32_t gen);

/*
 * Is buf what the ledger says block holds?  gen >= 1: exactly the stamp of
 * (nonce, disk, block, gen).  gen 0 (never written by this boot): anything
 * but a block carrying this boot's magic and nonce.  On false, *word_r (if
 * not NULL) gets the first wrong word (0 or 1 for gen 0).
 */
bool xmg_disk_check(const void *buf, uint64_t nonce, uint64_t disk,
                    uint64_t block, uint32_t gen, size_t *word_r);

/* The ledger generation of global index idx of a disk workload of total
 * blocks after writes block writes in order (disk_resume=). */
uint32_t xmg_disk_resume_gen(uint64_t idx, uint64_t total, uint64_t writes);

/* Where global index idx lies: workload disk k (*k_r) and block (*block_r)
 * for nr disks of ws_blocks blocks in batches of batch (section 6.5). */
void xmg_disk_locate(uint64_t idx, uint64_t nr, uint64_t ws_blocks,
                     uint64_t batch, uint64_t *k_r, uint64_t *block_r);

/* ---- write-latency histogram (section 6.6), pure functions ---- */

/* The bucket of a latency of ticks (the last one for any above it). */
unsigned xmg_lat_bucket(uint64_t ticks);

/* The lowest latency bucket b counts (b <= XMG_LAT_BUCKETS: lo(b + 1) is
 * one past the highest). */
uint64_t xmg_lat_lo(unsigned b);

/* The permille-th quantile (500: the median, 990: p99) of the
 * XMG_LAT_BUCKETS counts of hist: the middle of the bucket holding the
 * smallest rank >= total * permille / 1000 (at least 1), so within 1/16
 * of the true value (the last bucket: its lower bound plus half its width);
 * 0 for an empty histogram. */
uint64_t xmg_lat_percentile(const uint64_t *hist, unsigned permille);

#endif /* XMG_WORKLOAD_H */
