/*
 * test_policy.c - the convergence policy (mig_policy_default) as a
 * decision table: each row a round's measurements and the options, and
 * the decision it must give (stop, forced, throttle, expected downtime);
 * then the round meter (mig_meter_round) that both transfer modes feed it
 * from.
 */
#include "config.h"

#include <string.h>

#include "mig_internal.h"
#include "../../tap.h"

#define MS  1000000ull
#define MIB (1024.0 * 1024.0)

struct row {
    const char *what;
    /* the options */
    unsigned target_ms, max_rounds, max_time_ms;
    bool auto_converge;
    /* the round */
    uint32_t round;
    uint64_t dirty, prev_dirty;
    double bw_mib_s;
    unsigned elapsed_ms, throttle;
    /* the decision */
    bool stop, forced;
    unsigned want_throttle;
    uint64_t downtime_ms;       /* expected, rounded down */
};

/* 2 ms of fixed cost in every row, as the meter says. */
static const struct row rows[] = {
    /* 2560 pages = 10 MiB at 1000 MiB/s: 10 ms + 2 ms */
    { "well within half the target: stop", 30, 30, 120000, true,
      3, 2560, 10000, 1000, 500, 0, true, false, 0, 12 },
    { "within the target, the set shrinks < 30 %: stop", 20, 30, 120000,
      true, 3, 2560, 3000, 1000, 500, 0, true, false, 0, 12 },
    { "within the target, still shrinking >= 30 %: go on", 20, 30, 120000,
      true, 3, 2560, 4000, 1000, 500, 0, false, false, 0, 12 },
    { "over the target: go on", 10, 30, 120000, true,
      3, 25600, 40000, 1000, 500, 0, false, false, 0, 102 },
    { "over the target at the round cap: forced stop", 10, 3, 120000, true,
      3, 25600, 40000, 1000, 500, 0, true, true, 0, 102 },
    { "over the target at the time cap: forced stop", 10, 30, 1000, true,
      3, 25600, 40000, 1000, 1000, 0, true, true, 0, 102 },
    { "not shrinking 10 %: auto-converge starts at 20 %", 10, 30, 120000,
      true, 3, 25600, 26000, 1000, 500, 0, false, false, 20, 102 },
    { "still not shrinking: 20 % more", 10, 30, 120000, true,
      4, 25600, 26000, 1000, 500, 20, false, false, 40, 102 },
    { "the throttle's cap is 95 %", 10, 30, 120000, true,
      9, 25600, 26000, 1000, 500, 80, false, false, 95, 102 },
    { "round 1 never throttles", 10, 30, 120000, true,
      1, 25600, 26000, 1000, 500, 0, false, false, 0, 102 },
    { "a few hundred pages never throttle", 1, 30, 120000, true,
      3, 1000, 1000, 1, 500, 0, false, false, 0, 3908 },
    { "auto-converge off: no throttle", 10, 30, 120000, false,
      3, 25600, 26000, 1000, 500, 0, false, false, 0, 102 },
    { "shrinking 10 % or more: the throttle stays", 10, 30, 120000, true,
      3, 25600, 30000, 1000, 500, 40, false, false, 40, 102 },
    { "a target below the fixed cost never converges", 1, 30, 120000,
      false, 3, 1, 1, 1000, 500, 0, false, false, 0, 2 },
    { "no bandwidth measured yet: no stop", 10, 30, 120000, true,
      2, 256, 256, 0, 500, 0, false, false, 0, 1048576002 },
};

static void check_row(const struct row *r)
{
    struct mig_send_opts o;
    struct mig_round_info ri;
    struct mig_decision d;

    mig_send_opts_init(&o);
    o.downtime_target_ns = r->target_ms * MS;
    o.max_rounds = r->max_rounds;
    o.max_time_ns = r->max_time_ms * MS;
    o.auto_converge = r->auto_converge;
    memset(&ri, 0, sizeof(ri));
    ri.round = r->round;
    ri.dirty_pages = r->dirty;
    ri.prev_dirty_pages = r->prev_dirty;
    ri.bandwidth_bytes_s = r->bw_mib_s * MIB;
    ri.fixed_cost_ns = 2 * MS;
    ri.elapsed_ns = r->elapsed_ms * MS;
    ri.throttle_pct = r->throttle;
    memset(&d, 0xa5, sizeof(d));
    mig_policy_default(&o, &ri, &d);
    tap_ok(d.stop_and_copy == r->stop && d.forced == r->forced &&
           d.throttle_pct == r->want_throttle &&
           d.expected_downtime_ns / MS == r->downtime_ms,
           "%s (stop %d forced %d throttle %u%% downtime %llu ms)",
           r->what, d.stop_and_copy, d.forced, d.throttle_pct,
           (unsigned long long)(d.expected_downtime_ns / MS));
}

static void test_meter(void)
{
    struct mig_meter m;
    struct mig_round_info ri;
    uint64_t t = 1000 * MS;

    /* Round 0: 262144 pages; 1 GiB sent in 1 s. */
    mig_meter_init(&m, t - 5 * MS, t, 262144);
    mig_meter_round(&m, 1, 4096, 262144, t + 1000 * MS, 0, &ri);
    tap_ok(ri.round == 1 && ri.dirty_pages == 4096 &&
           ri.prev_dirty_pages == 262144,
           "round 1 knows round 0's pages as the previous dirty set");
    tap_ok(ri.bandwidth_bytes_s > 1023 * MIB &&
           ri.bandwidth_bytes_s < 1025 * MIB,
           "1 GiB in 1 s is 1024 MiB/s (%.1f)", ri.bandwidth_bytes_s / MIB);
    tap_ok(ri.dirty_pages_s > 4095 && ri.dirty_pages_s < 4097,
           "4096 pages dirtied over 1 s (%.1f/s)", ri.dirty_pages_s);
    tap_ok(ri.elapsed_ns == 1005 * MS && ri.fixed_cost_ns == 2 * MS,
           "elapsed since the start, 2 ms of fixed cost");
    /* Round 1 moved 16 MiB in 100 ms: trusted (>= 4 MiB). */
    mig_meter_round(&m, 2, 100, 262144 + 4096, t + 1100 * MS, 20, &ri);
    tap_ok(ri.bandwidth_bytes_s > 159 * MIB &&
           ri.bandwidth_bytes_s < 161 * MIB && ri.throttle_pct == 20,
           "16 MiB in 100 ms: 160 MiB/s (%.1f), the throttle passed on",
           ri.bandwidth_bytes_s / MIB);
    /* Round 2 moved 100 pages in 100 ms: too few, the last bulk one
     * counts. */
    mig_meter_round(&m, 3, 10, 262144 + 4196, t + 1200 * MS, 20, &ri);
    tap_ok(ri.bandwidth_bytes_s > 159 * MIB &&
           ri.bandwidth_bytes_s < 161 * MIB && ri.prev_dirty_pages == 100,
           "a round of 100 pages keeps the bulk bandwidth (%.1f)",
           ri.bandwidth_bytes_s / MIB);
}

int main(void)
{
    size_t i;

    tap_plan((int)(sizeof(rows) / sizeof(rows[0])) + 6);
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        check_row(&rows[i]);
    test_meter();
    return tap_done();
}
