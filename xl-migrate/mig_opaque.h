/*
 * mig_opaque.h - the opaque mode of the migration stream (version 2,
 * docs/specs/migration-stream.md section 14).  A domain whose state only
 * its hypervisor's own library can carry (hv_domain_info.opaque_stream:
 * Xen PV guests, whose page tables libxenguest must canonicalise) moves as
 * that library's stream: hv_stream_save on the source writes it into a
 * socketpair, the sender cuts it into OPAQUE_DATA records on the main
 * connection and closes it with OPAQUE_END; the receiver feeds the
 * payloads to hv_stream_restore through a socketpair of its own.  The
 * image header, AUTH, STREAM_HELLO, VM_CONFIG, END and the commit
 * handshake are those of every migration.  The two sides are transfer
 * modes of the engine (mig_opaque_send_ops, mig_opaque_recv_ops in
 * mig_internal.h).  Internal to xl-migrate/.
 */
#ifndef MIG_OPAQUE_H
#define MIG_OPAQUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv.h"
#include "mig_internal.h"
#include "mig_stream.h"
#include "xt.h"

/* Largest payload of one OPAQUE_DATA record. */
#define MIG_OPAQUE_CHUNK_MAX    (1u << 20)

/* OPAQUE_DATA body: this header, then len bytes of the hypervisor's
 * stream. */
struct mig_opaque_data {
    uint64_t offset;            /* of the payload's first byte in the
                                 * hypervisor's stream */
    uint32_t len;               /* 1..MIG_OPAQUE_CHUNK_MAX */
    uint32_t reserved;          /* 0 */
    uint64_t checksum;          /* XXH3-64 of the payload */
};

/* OPAQUE_END body. */
struct mig_opaque_end {
    uint64_t total;             /* bytes of the hypervisor's stream */
    uint64_t digest;            /* XXH3-64 of all of them, in order */
    uint32_t rounds;            /* rounds the source ran, 0 if unknown */
    uint32_t reserved;          /* 0 */
};

/*
 * What one side has carried of the hypervisor's stream so far: its length
 * and a running XXH3-64 of its bytes.  mig_opaque_tally_init: 0 or
 * -ENOMEM (not reported); free with mig_opaque_tally_free (NULL-safe,
 * also after a failed init).
 */
struct mig_opaque_tally {
    uint64_t bytes;
    struct XXH3_state_s *xxh;
};
int mig_opaque_tally_init(struct mig_opaque_tally *t);
void mig_opaque_tally_free(struct mig_opaque_tally *t);
uint64_t mig_opaque_tally_digest(const struct mig_opaque_tally *t);

/*
 * Appends an OPAQUE_DATA record carrying data[0..len) at offset t->bytes
 * to b and adds the bytes to t.  0, -EINVAL (len 0 or over
 * MIG_OPAQUE_CHUNK_MAX) or -ENOMEM, not reported; on error neither b nor t
 * changes.
 */
int mig_opaque_data_append(struct mig_buf *b, struct mig_opaque_tally *t,
                           const void *data, size_t len);

/*
 * Checks an OPAQUE_DATA body of len bytes (its record at stream offset
 * `offset`): the header fits, len in range, the body exactly header +
 * payload, reserved 0 (-EINVAL); the chunk starts where the previous one
 * ended, t->bytes (-EPROTO); the checksum (-EBADMSG).  On success
 * *data_r / *len_r are the payload (inside body) and t counts it.  Errors
 * are reported as "OPAQUE_DATA at offset N: ...".
 */
int mig_opaque_data_decode(struct xt_ctx *ctx, const void *body, size_t len,
                           uint64_t offset, struct mig_opaque_tally *t,
                           const uint8_t **data_r, size_t *len_r);

/* Appends OPAQUE_END for what t has counted.  0 or -ENOMEM. */
int mig_opaque_end_append(struct mig_buf *b, const struct mig_opaque_tally *t,
                          uint32_t rounds);

/*
 * Checks an OPAQUE_END body against what the receiver counted in t: the
 * size and reserved 0 (-EINVAL), total == t->bytes (-EPROTO: chunks went
 * missing), digest (-EBADMSG).  *rounds_r (may be NULL) gets the rounds.
 */
int mig_opaque_end_check(struct xt_ctx *ctx, const void *body, size_t len,
                         uint64_t offset, const struct mig_opaque_tally *t,
                         uint32_t *rounds_r);

/*
 * The engine's convergence policy (mig_send_opts.policy or
 * mig_policy_default) asked through struct hv_stream_policy.  The
 * hypervisor's library calls before each round with the round number, the
 * pages dirty now and the pages sent so far; the first call (round 0, the
 * full pass) always continues; every later one measures the round just
 * sent (struct mig_meter, as the page mode does) and asks the policy.
 * Pure: time comes in as now_ns, so the tests drive it.
 */
struct mig_opaque_policy {
    const struct mig_send_opts *o;
    uint64_t t_start;           /* the migration's start */
    struct mig_meter meter;
    unsigned throttle_pct;      /* what the caller applied */
    /* Results */
    struct mig_decision dec;    /* the last decision */
    struct mig_round_info last; /* what it was made from */
    uint32_t rounds;            /* rounds started so far, the stop-and-copy
                                 * one included once stopped */
    bool stopped;               /* returned HV_STREAM_STOP */
    bool cancelled;             /* returned HV_STREAM_ABORT on cancel */
};

void mig_opaque_policy_init(struct mig_opaque_policy *p,
                            const struct mig_send_opts *o, uint64_t now_ns);

/*
 * One call of the hypervisor's library: returns HV_STREAM_CONTINUE,
 * HV_STREAM_STOP (a cap or the downtime target says so: the library sends
 * the pages dirty now while the guest runs, suspends it and sends what
 * that round dirtied) or HV_STREAM_ABORT (cancel).  p->dec.throttle_pct is
 * the throttle the policy wants; the caller applies it and records it in
 * p->throttle_pct.
 */
int mig_opaque_policy_decide(struct mig_opaque_policy *p, unsigned round,
                             uint64_t dirty_pages, uint64_t sent_pages,
                             uint64_t now_ns, bool cancel);

#endif /* MIG_OPAQUE_H */
