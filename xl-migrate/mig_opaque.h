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
 * handshake are those of every migration.  Internal to xl-migrate/.
 */
#ifndef MIG_OPAQUE_H
#define MIG_OPAQUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv.h"
#include "mig.h"
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
 * sent and asks the policy.  Pure: time comes in as now_ns, so the tests
 * drive it.
 */
struct mig_opaque_policy {
    const struct mig_send_opts *o;
    uint64_t t_start;           /* the migration's start */
    uint64_t t_round;           /* when the round being sent was asked */
    uint64_t sent_before;       /* pages sent when it was asked */
    uint64_t prev_dirty;        /* its dirty pages */
    double bulk_bw;             /* last round that moved >= 4 MiB */
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

/*
 * The sender's part, run by mig_send once VM_CONFIG is on the wire (the
 * image header said MIG_IMG_OPAQUE): hv_stream_save in a thread, its bytes
 * pumped into OPAQUE_DATA records on fd, then OPAQUE_END.  END and the
 * commit handshake are the caller's.  On failure the error is reported
 * into ctx and *suspended says whether the domain was left suspended (the
 * caller resumes it).
 */
struct mig_opaque_send {
    struct xt_ctx *ctx;
    struct hv_handle *h;
    uint32_t domid;
    uint64_t nr_pages;          /* for progress */
    int fd;                     /* the main connection */
    const struct mig_send_opts *o;
    uint64_t t_start;           /* the migration's start */
    /* Results, filled on success and failure alike */
    uint64_t bytes;             /* written to fd */
    uint64_t t_pause;           /* when the domain was seen suspended (or,
                                 * if never seen, when the policy stopped);
                                 * 0 if it never stopped */
    bool suspended;             /* the domain is suspended now */
    uint64_t digest;            /* of the hypervisor's stream */
    uint32_t rounds;
    bool forced;
    double final_dirty_pages_s;
    unsigned throttle_pct;      /* highest applied */
    uint64_t pages_live;        /* pages the library sent before the
                                 * suspend (its own count) */
};
int mig_opaque_send(struct mig_opaque_send *os);

/*
 * The receiver's part, once VM_CONFIG has been read from rd (the main
 * connection): hv_stream_restore of spec in a thread, fed with the
 * OPAQUE_DATA payloads read from rd up to OPAQUE_END.  STOPCOPY markers
 * are noted, an ABORT is -ECONNABORTED, anything else -EPROTO.  fault
 * (may be NULL) is asked at MIG_FAULT_ROUND0 (the first chunk),
 * MIG_FAULT_MIDROUND (the first chunk beyond nr_pages pages of data: a
 * later round) and MIG_FAULT_STOPCOPY (the first chunk after STOPCOPY);
 * it returns < 0 to fail there.  On success the new domain is paused and
 * *domid_r / results are set; on failure nothing is left.
 */
struct mig_opaque_recv {
    struct xt_ctx *ctx;
    struct hv_handle *h;
    const struct hv_create_spec *spec;
    struct mig_reader *rd;
    int timeout_ms;
    int (*fault)(void *arg, enum mig_fault_point p);
    void *fault_arg;
    /* Results */
    uint32_t domid;
    uint64_t bytes;             /* of the hypervisor's stream */
    uint64_t digest;            /* its XXH3-64, as READY carries it */
    uint32_t rounds;            /* as OPAQUE_END says */
    uint64_t t_stop;            /* when STOPCOPY arrived, 0 if not */
};
int mig_opaque_receive(struct mig_opaque_recv *orx);

#endif /* MIG_OPAQUE_H */
