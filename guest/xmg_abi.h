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

#define XMG_ABI_VERSION     4u
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
#define XMG_PORT_DISK_MISMATCH 0xee /* outl: low 32 bits of the block */
#define XMG_PORT_DISK_ERROR 0xef    /* outl: the disk index; a request
                                     * failed, the disk workload stopped */
/* (version 4) outl: microseconds the guest has nothing to do; the host
 * may stop the vCPU that long (at most XMG_IDLE_MAX_US), or less.  Away
 * from 0xe9..0xef: under QEMU an outl is split into four byte writes. */
#define XMG_PORT_IDLE       0xe0
#define XMG_IDLE_MAX_US     2000u
#define XMG_IDLE_MIN_US     50u     /* shorter waits spin with pause */

/*
 * The disk hot-plug controller (version 3, docs/specs/guest-abi.md 6.7):
 * 32-bit registers at XMG_PORT_HP + XMG_HP_*.  Bit s of a mask is the
 * disk in slot s (its PCI device number, 1..XMG_HP_SLOTS).
 */
#define XMG_PORT_HP         0xae00
#define XMG_HP_GEN          0x00    /* in: changes at every plug, eject
                                     * request and removal */
#define XMG_HP_PRESENT      0x04    /* in: slots holding a device */
#define XMG_HP_EJECT_REQ    0x08    /* in: slots the host asks back */
#define XMG_HP_EJECT_ACK    0x0c    /* out: slots released (quiesced) */
#define XMG_HP_EJECT_REFUSE 0x10    /* out: slots the guest keeps */
#define XMG_HP_SIZE         0x14
#define XMG_HP_SLOTS        8u
#define XMG_HP_SLOT_MASK    0x1feu  /* bits 1..8: what a mask may hold */

/* Exit codes on XMG_PORT_EXIT. */
#define XMG_EXIT_OK         0u
#define XMG_EXIT_BAD_PARAMS 1u      /* params/cmdline unusable */
#define XMG_EXIT_NO_MEMORY  2u      /* working set does not fit */
#define XMG_EXIT_NO_DISK    3u      /* disk workload asked, no usable disk */
#define XMG_EXIT_DISK_ERROR 4u      /* a disk request failed while
                                     * disk_stop_after was set */

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
#define XMG_SEL_TSS         0x28    /* a 64-bit TSS, 16-byte descriptor */
/* The guest's TSS (xmg_header.tss_gpa): 104 bytes, I/O map base 104, an
 * I/O bitmap allowing every port, a final 0xff byte; TR's limit. */
#define XMG_TSS_LIMIT       (104u + 8192u)

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
    /* version 2: a 64-bit TSS (limit XMG_TSS_LIMIT) whose I/O bitmap
     * allows every port, for TR: ring-3 port I/O is checked against TR's
     * bitmap on our platform, IOPL 3 or not (a loader may build its own) */
    uint64_t tss_gpa;
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

/* Disks: legacy virtio-blk PCI devices on bus 0 (docs/specs/guest-abi.md
 * section 6.5), at most XMG_MAX_DISKS of them, written in 4 KiB blocks. */
#define XMG_MAX_DISKS       4u
#define XMG_DISK_BLOCK      4096u
#define XMG_DISK_BLOCK_SECTORS 8u           /* 512-byte sectors */
#define XMG_DISK_BATCH_MAX  8u              /* blocks per request batch */
#define XMG_DISK_FLUSH_EVERY 256u           /* writes between flushes */
/* "XMDISKB1": word 0 of a stamped block */
#define XMG_DISK_MAGIC      0x31424b5349444d58ull
/* st->disk_phase: what the next disk operation does */
#define XMG_DISK_OFF        0u      /* no disk workload */
#define XMG_DISK_CHECK      1u      /* read the next batch, check it */
#define XMG_DISK_WRITE      2u      /* write the next batch */
#define XMG_DISK_FLUSH      3u      /* flush the disks written to */
#define XMG_DISK_DONE       4u      /* disk_stop_after reached */
#define XMG_DISK_FAILED     5u      /* a request failed: stopped */

/* The latency histogram: log-linear, XMG_LAT_SUB buckets per power of two
 * (ticks 0-7 one bucket each, then [8 << e, 9 << e), [9 << e, 10 << e),
 * ...), so a bucket is at most 1/8 as wide as its lower bound.  256
 * buckets reach 16 << 30 ticks (seconds); longer latencies go in the last
 * one. */
#define XMG_LAT_SUB_BITS    3u
#define XMG_LAT_SUB         (1u << XMG_LAT_SUB_BITS)
#define XMG_LAT_BUCKETS     256u

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
    /* the disk workload (all 0 without one) */
    uint64_t nr_disks;      /* disks the workload uses */
    uint64_t disk_map;      /* byte k: env disk index of workload disk k */
    uint64_t disk_flush_mask;   /* bit k: workload disk k has FLUSH */
    uint64_t disk_ws_blocks;    /* blocks used per disk, from block 0 */
    uint64_t disk_ledger_gpa;   /* uint32_t gen[nr_disks * disk_ws_blocks],
                                 * by global index, page aligned */
    uint64_t disk_buf_gpa;  /* XMG_DISK_BATCH_MAX block buffers */
    uint64_t disk_rate;     /* blocks per second, 0 none, XMG_RATE_MAX */
    uint64_t disk_batch;    /* blocks per request batch */
    uint64_t disk_nonce;    /* this boot's nonce, never 0 */
    uint64_t disk_stop_after;   /* exit after this many writes, 0 never */
    uint64_t disk_phase;    /* XMG_DISK_* */
    uint64_t disk_cursor;   /* global index of the next block */
    uint64_t disk_credit_tsc;   /* rate limiter of block writes */
    uint64_t disk_unflushed;    /* writes since the last flush */
    uint64_t disk_dirty_mask;   /* bit k: disk k written since its flush */
    uint64_t disk_writes;   /* block writes completed since boot */
    uint64_t disk_reads;    /* block reads checked since boot */
    uint64_t disk_flushes;
    uint64_t disk_mismatches;
    uint64_t last_disk_mismatch_disk;   /* env disk index */
    uint64_t last_disk_mismatch_block;
    uint64_t disk_errors;   /* failed requests (the workload stops) */
    uint64_t prefill_left;  /* prefill=1: working-set pages still to write
                             * once, in order, at full speed (0 after; a
                             * reserved word before, 0 in older guests) */
    uint64_t reserved[15];
    /* appended to version 2 (all 0 in an older guest): the disk
     * workload's timing, in TSC ticks (section 6.6) */
    uint64_t disk_t0_tsc;   /* the first disk operation's submit, 0 none */
    uint64_t disk_t1_tsc;   /* the latest disk operation's completion */
    uint64_t disk_wlat_batches; /* write batches timed */
    uint64_t disk_wlat_sum; /* their latencies added up */
    uint64_t disk_wlat_max; /* the longest */
    /* write-batch latency, submit to all-complete: bucket b counts those
     * in [xmg_lat_lo(b), xmg_lat_lo(b + 1)) (the last one: above too) */
    uint64_t disk_wlat_hist[XMG_LAT_BUCKETS];
    /* version 3: disk hot-plug (section 6.7) */
    uint64_t disk_hp_gen_seen;  /* the controller's GEN last handled */
    uint64_t disk_hp_slots;     /* slots of the disks the guest uses */
    uint64_t disk_hp_attached;  /* disks attached while running */
    uint64_t disk_hp_ejected;   /* eject requests acknowledged */
    uint64_t disk_hp_refused;   /* eject requests refused */
    uint64_t disk_hp_stamps;    /* stamps written and read back */
    uint64_t disk_hp_present;   /* PRESENT as last handled */
    uint64_t disk_hp_next_tsc;  /* TSC of the next controller poll */
    uint64_t disk_hp_flags;     /* XMG_HP_F_* */
    uint64_t disk_hp_buf_gpa;   /* two block buffers (disk_hp_stamp=1) */
    uint64_t disk_hp_map;       /* byte s - 1: disk number + 1 of slot s's
                                 * disk, 0 none */
    uint64_t disk_hp_ledger;    /* slots of the disk workload's disks */
};

/* st->disk_hp_flags */
#define XMG_HP_F_ON         0x1u    /* a controller answered: polled */
#define XMG_HP_F_STAMP      0x2u    /* disk_hp_stamp=1 */

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

/* The disk stamp (section 6.5): 512 little-endian words of a 4 KiB block.
 * Words 0-4 are magic, nonce, disk, block, gen; word 5 their check; word
 * k >= 6 is xmg_disk_word(seed, k) with seed = xmg_disk_seed(...). */
#define XMG_STAMP_HDR_WORDS 6u

static inline uint64_t xmg_disk_mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t xmg_disk_seed(uint64_t nonce, uint64_t disk,
                                     uint64_t block, uint32_t gen)
{
    return xmg_disk_mix(xmg_disk_mix(xmg_disk_mix(nonce ^ disk) ^ block) ^
                        gen);
}

static inline uint64_t xmg_disk_word(uint64_t seed, uint64_t k)
{
    return xmg_disk_mix(seed + k);
}

#endif /* XMG_ABI_H */
