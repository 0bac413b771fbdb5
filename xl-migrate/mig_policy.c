/*
 * mig_policy.c - the default convergence policy: when to stop pre-copy,
 * when to throttle.  Kept apart so it can be replaced (mig_send_opts.policy)
 * and reasoned about on its own.
 *
 * Stop-and-copy once the expected downtime -- the dirty bytes left over
 * the bandwidth just measured, plus the fixed cost of pausing, moving the
 * CPU state and resuming -- is within the target: at once when it is
 * within half of it, otherwise when rounds stop shrinking the dirty set by
 * 30% or more.  When a round
 * does not shrink the dirty set by at least 10% the guest dirties about as
 * fast as we send: auto-converge takes CPU time away from it, in steps,
 * until it converges.  A hard cap on rounds or time ends pre-copy whatever
 * the downtime; the caller reports that honestly (forced).
 */
#include "config.h"

#include <string.h>

#include "mig_internal.h"

#define THROTTLE_FIRST  20u
#define THROTTLE_STEP   20u
#define THROTTLE_MAX    95u
#define MIN_THROTTLE_PAGES 1024u

void mig_policy_default(const struct mig_send_opts *o,
                        const struct mig_round_info *r,
                        struct mig_decision *d)
{
    double bw = r->bandwidth_bytes_s > 1.0 ? r->bandwidth_bytes_s : 1.0;
    double send_ns = (double)r->dirty_pages * 4096.0 / bw * 1e9;

    d->expected_downtime_ns = (uint64_t)send_ns + r->fixed_cost_ns;
    d->throttle_pct = r->throttle_pct;
    d->forced = false;
    /* Within the target: stop at once when well within it, else keep
     * going while rounds still shrink the dirty set (each round then costs
     * the guest nothing and the pause gets shorter). */
    if (d->expected_downtime_ns * 2 <= o->downtime_target_ns ||
        (d->expected_downtime_ns <= o->downtime_target_ns &&
         r->dirty_pages * 10 >= r->prev_dirty_pages * 7)) {
        d->stop_and_copy = true;
        return;
    }
    d->stop_and_copy = false;
    if (r->round >= o->max_rounds || r->elapsed_ns >= o->max_time_ns) {
        d->stop_and_copy = true;
        d->forced = true;
        return;
    }
    /* A few hundred pages are no sign of a guest out-running the link:
     * their round is too short to measure bandwidth well. */
    if (o->auto_converge && r->round >= 2 &&
        r->dirty_pages >= MIN_THROTTLE_PAGES &&
        r->dirty_pages * 10 >= r->prev_dirty_pages * 9) {
        unsigned t = r->throttle_pct ? r->throttle_pct + THROTTLE_STEP
                                     : THROTTLE_FIRST;

        d->throttle_pct = t > THROTTLE_MAX ? THROTTLE_MAX : t;
    }
}

/* ---- the round meter (mig_internal.h) ---------------------------------- */

/* The policy's estimate of pausing, moving the CPU state and resuming, on
 * top of the pages. */
#define FIXED_COST_NS   2000000ull
/* A round must move this much for its bandwidth to be trusted. */
#define BW_MIN_BYTES    (4u << 20)

void mig_meter_init(struct mig_meter *m, uint64_t t_start, uint64_t now_ns,
                    uint64_t round0_pages)
{
    memset(m, 0, sizeof(*m));
    m->t_start = t_start;
    m->t_round = now_ns;
    m->prev_dirty = round0_pages;
}

void mig_meter_round(struct mig_meter *m, uint32_t round, uint64_t dirty,
                     uint64_t sent_pages, uint64_t now_ns,
                     unsigned throttle_pct, struct mig_round_info *ri)
{
    uint64_t dt = now_ns > m->t_round ? now_ns - m->t_round : 0;
    uint64_t moved = (sent_pages > m->sent_before ?
                      sent_pages - m->sent_before : 0) * 4096ull;

    memset(ri, 0, sizeof(*ri));
    ri->round = round;
    ri->dirty_pages = dirty;
    ri->prev_dirty_pages = m->prev_dirty;
    ri->bandwidth_bytes_s = dt ? (double)moved * 1e9 / (double)dt : 0;
    if (moved >= BW_MIN_BYTES)
        m->bulk_bw = ri->bandwidth_bytes_s;
    else if (m->bulk_bw > ri->bandwidth_bytes_s)
        ri->bandwidth_bytes_s = m->bulk_bw;
    ri->dirty_pages_s = dt ? (double)dirty * 1e9 / (double)dt : 0;
    ri->fixed_cost_ns = FIXED_COST_NS;
    ri->elapsed_ns = now_ns > m->t_start ? now_ns - m->t_start : 0;
    ri->throttle_pct = throttle_pct;
    m->t_round = now_ns;
    m->sent_before = sent_pages;
    m->prev_dirty = dirty;
}
