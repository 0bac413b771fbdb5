/*
 * mirror.h - the mirrored-block engine (docs/specs/mirror.md): copies a
 * VDI that is being written to another VDI served over NBD, while the
 * writes go on, until both hold the same blocks.  It runs inside the
 * block service that serves the source VDI (vdi/nbdkit_xmvdi.c), so it
 * sees every write: the service sends its writes through mirror_pwrite
 * & co. while a mirror exists.
 *
 * States (enum mirror_state, named the same in the spec):
 *   COPYING   background copy of the allocated extents, then of the
 *             extents written since (a dirty bitmap of granules); writes
 *             go to the source only and mark their granules dirty
 *   SYNCED    write-blocking: every write goes to both sides before it is
 *             acknowledged, the workers drain what is left dirty.  The
 *             engine enters it by itself when the dirty backlog stops
 *             shrinking (or is empty) at the end of a pass.  "actively
 *             synced" is SYNCED with nothing dirty and nothing in flight.
 *   FAILED    the target failed (an I/O error, or no progress for
 *             stall_ms): the guest's writes still succeed on the source
 *             and mark their granules dirty; the generation went up; the
 *             engine closes its connections to the target.
 *             mirror_resume() reconnects and goes on from the bitmap.
 *   COMPLETED mirror_complete() drained everything into the target and
 *             flushed it: the target is a copy of the source.
 *   CANCELLED mirror_cancel().
 * The generation counts failures: mirror_complete(gen) refuses when the
 * mirror failed since the caller saw gen, so no switch-over can follow a
 * mirror loss unnoticed.
 *
 * Threads: conns worker threads copy, each on its own NBD connection; a
 * monitor thread watches progress and writes the state file; the
 * service's threads call mirror_pwrite & co.  Every call is thread-safe.
 */
#ifndef VDI_MIRROR_H
#define VDI_MIRROR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sr.h"
#include "xt.h"

enum mirror_state {
    MIRROR_COPYING = 0,
    MIRROR_SYNCED,
    MIRROR_FAILED,
    MIRROR_COMPLETED,
    MIRROR_CANCELLED,
};

/* Its name in the spec and on the wire ("copying" ...), "?" if none. */
static inline const char *mirror_state_name(enum mirror_state s)
{
    switch (s) {
    case MIRROR_COPYING:    return "copying";
    case MIRROR_SYNCED:     return "synced";
    case MIRROR_FAILED:     return "failed";
    case MIRROR_COMPLETED:  return "completed";
    case MIRROR_CANCELLED:  return "cancelled";
    }
    return "?";
}

#define MIRROR_GRANULE_DEFAULT  (64u << 10)
#define MIRROR_CHUNK_DEFAULT    (1u << 20)
#define MIRROR_CONNS_DEFAULT    3u
#define MIRROR_CONNS_MAX        8u
#define MIRROR_STALL_DEFAULT_MS 30000u

struct mirror_cfg {
    const char *uri;            /* the target: a libnbd URI (nbds:// with
                                 * tls-psk-file= for a peer's export) */
    uint32_t granule;           /* dirty-bitmap granularity, a power of 2
                                 * >= 4096 (0: MIRROR_GRANULE_DEFAULT) */
    uint32_t chunk;             /* largest copy request (0: default) */
    unsigned conns;             /* copy connections (0: default) */
    uint64_t max_bps;           /* copy bandwidth cap, 0 none */
    unsigned stall_ms;          /* no progress for this long fails the
                                 * mirror (0: default) */
    bool target_zeroed;         /* the target reads as zeros (a fresh
                                 * sparse VDI): holes need no request */
    const char *state_file;     /* where the progress and the bitmap are
                                 * kept (NULL: nowhere) */
};

struct mirror_status {
    enum mirror_state state;
    uint64_t gen;               /* failures so far */
    uint64_t size;
    uint64_t dirty_bytes;       /* granules still to copy, in bytes */
    uint64_t inflight_bytes;    /* being copied now */
    uint64_t sent_bytes;        /* data written to the target */
    uint64_t zero_bytes;        /* ranges made zero on the target */
    uint64_t requests;          /* requests sent to the target */
    unsigned passes;            /* copy passes over the bitmap */
    bool actively_synced;
    uint64_t started_ns, synced_ns; /* xt_now_ns() of those, 0 not yet */
    /* the writes through the mirror: count, and latency (ns) added up
     * and worst, in each of COPYING [0] and SYNCED [1] */
    uint64_t writes[2], write_ns[2], write_max_ns[2];
    char reason[256];           /* FAILED: why */
};

struct mirror;

/*
 * Starts mirroring the open VDI src to cfg->uri: connects (the first
 * failure is reported into ctx and nothing is left), marks the allocated
 * extents dirty (holes too, unless target_zeroed) and starts the
 * workers.  ctx is the caller's for this call only; the engine reports
 * later failures into its own context (their text is in the status).
 * src must stay open until mirror_free.
 */
int mirror_start(struct xt_ctx *ctx, struct sr_vdi *src,
                 const struct mirror_cfg *cfg, struct mirror **m_r);
/*
 * mirror_start in two steps, for a service whose writes must all be seen:
 * mirror_prepare marks what is to copy (no thread, no connection yet;
 * writes through the mirror are tracked from then on), so the service
 * can put the mirror in its write path before anything else happens;
 * mirror_run connects and starts the copy.  A run that fails leaves the
 * mirror FAILED (the reason in its status): mirror_resume() tries again.
 */
int mirror_prepare(struct xt_ctx *ctx, struct sr_vdi *src,
                   const struct mirror_cfg *cfg, struct mirror **m_r);
int mirror_run(struct xt_ctx *ctx, struct mirror *m);
/* Stops the threads, closes the connections; NULL-safe.  No write may be
 * in a mirror_* call. */
void mirror_free(struct mirror *m);

/* The writes of the service while m exists (sr_vdi_* semantics: 0 or
 * -errno of the source; a target failure never fails them). */
int mirror_pwrite(struct mirror *m, const void *buf, size_t len,
                  uint64_t off, bool fua);
int mirror_zero(struct mirror *m, uint64_t off, uint64_t len, bool may_trim,
                bool fua);
int mirror_trim(struct mirror *m, uint64_t off, uint64_t len, bool fua);
int mirror_flush(struct mirror *m);

void mirror_get_status(struct mirror *m, struct mirror_status *st);
/*
 * Waits until m's state, generation or being actively synced differs
 * from what the caller saw (state, gen, synced), or timeout_ms passes;
 * fills *st either way.  The event a controller waits on: a failure is
 * seen at once, not at the next poll.
 */
void mirror_wait(struct mirror *m, enum mirror_state state, uint64_t gen,
                 bool synced, unsigned timeout_ms, struct mirror_status *st);

/*
 * The switch-over's last step, once no write can come any more (the
 * guest's device is stopped): drains every dirty granule, flushes the
 * target and ends in COMPLETED.  -ESTALE when the mirror failed or its
 * generation is not gen (reported into ctx): the target must not be
 * used.  -ETIMEDOUT after timeout_ms.
 */
int mirror_complete(struct xt_ctx *ctx, struct mirror *m, uint64_t gen,
                    unsigned timeout_ms);
/* Ends the mirror (CANCELLED); the target is left as it is. */
void mirror_cancel(struct mirror *m);
/*
 * After FAILED: reconnects (to uri, or the same target when NULL) and
 * goes on copying from the bitmap.  -EINVAL in another state.  A
 * reconnect that fails leaves the mirror FAILED again (the generation
 * up, the reason in its status), ready for another resume.
 */
int mirror_resume(struct xt_ctx *ctx, struct mirror *m, const char *uri);

#endif /* VDI_MIRROR_H */
