/*
 * test_evac.c - the evacuation planner: largest first, spread by free
 * memory, what each VM may use respected, the memory of the VMs placed
 * before counted, the room reported for a VM that does not fit; the
 * schedule: the batch shared among the destinations.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>

#include "pool.h"
#include "../../tap.h"

#define MiB (1ull << 20)

/* batch-size=auto: moves of 100 MB ending one per second per stream
 * (each stream adds rate while the link has room), then a link that is
 * full (no gain), then pauses over the target. */
static void test_auto(void)
{
    struct pool_evac_auto a;
    const uint64_t s = 1000000000ull, MB = 1000000;
    uint64_t now = 0;
    unsigned w, i;

    pool_evac_auto_init(&a, 10, 100, now);
    tap_is_int(a.window, 1, "auto starts with one move in flight");
    now += s;
    w = pool_evac_auto_ended(&a, 100 * MB, 20, now);
    tap_is_int(w, 2, "the first epoch sets the rate: one more stream");
    /* Two streams, twice the rate: two moves end within the next second. */
    now += s / 2;
    tap_is_int(pool_evac_auto_ended(&a, 100 * MB, 20, now), 2,
               "mid-epoch: the window holds");
    now += s / 2;
    w = pool_evac_auto_ended(&a, 100 * MB, 20, now);
    tap_is_int(w, 3, "twice the rate at 2: a third stream");
    /* The link is full: three streams share it, no gain. */
    for (i = 0; i < 3; i++) {
        now += s * 2 / 3;
        w = pool_evac_auto_ended(&a, 200 * MB / 3, 20, now);
    }
    tap_is_int(w, 2, "no gain at 3: back to 2, the best");
    tap_ok(a.settled, "and it stays (settled)");
    for (i = 0; i < 2; i++) {
        now += s;
        w = pool_evac_auto_ended(&a, 200 * MB, 20, now);
    }
    tap_is_int(w, 2, "settled: a rate like the best keeps it at 2");
    now += s;
    pool_evac_auto_ended(&a, 100 * MB, 20, now);
    now += s;
    w = pool_evac_auto_ended(&a, 100 * MB, 250, now);
    tap_is_int(w, 1, "a pause over the 100 ms target: one stream fewer");
    now += s;
    w = pool_evac_auto_ended(&a, 100 * MB, 250, now);
    tap_is_int(w, 1, "never below one");
    /* A full link from the start: the second stream is as fast (3%
     * less), not faster; it stays, and no third comes. */
    pool_evac_auto_init(&a, 10, 100, 0);
    now = s;
    pool_evac_auto_ended(&a, 100 * MB, 20, now);
    now += s;
    pool_evac_auto_ended(&a, 97 * MB / 2, 20, now);
    w = pool_evac_auto_ended(&a, 97 * MB / 2, 20, now);
    tap_ok(w == 2 && a.settled, "as fast at 2 (a full link): it keeps 2 "
           "and settles (%u)", w);
    pool_evac_auto_init(&a, 2, 100, 0);
    for (i = 0, now = 0; i < 8; i++) {
        now += s / (a.window ? a.window : 1) / (i + 1);
        w = pool_evac_auto_ended(&a, 100 * MB, 10, now);
    }
    tap_ok(w <= 2, "never above its cap (2): %u", w);
}

/* The ETA model: one stream, a shared link, dirtying guests, set-up. */
static void test_eta(void)
{
    const double M = 1e6;
    struct pool_evac_eta_vm a[2] = { { 100 * M, 0, 0 }, { 100 * M, 0, 0 } };
    struct pool_evac_eta_vm d = { 100 * M, 50 * M, 0 };
    struct pool_evac_eta_vm f = { 100 * M, 120 * M, 0 };
    struct pool_evac_eta_vm s = { 100 * M, 0, 0.5 };

#define NEAR(x, y) ((x) > (y) - 1e-6 && (x) < (y) + 1e-6)
    tap_ok(NEAR(pool_evac_eta(a, 1, 1, 0, 100 * M), 1.0),
           "100 MB at 100 MB/s: 1 s");
    tap_ok(NEAR(pool_evac_eta(a, 2, 1, 0, 100 * M), 2.0),
           "two, one at a time: 2 s");
    tap_ok(NEAR(pool_evac_eta(a, 2, 2, 0, 100 * M), 1.0),
           "two at once, no link limit: 1 s");
    tap_ok(NEAR(pool_evac_eta(a, 2, 2, 100 * M, 100 * M), 2.0),
           "two at once sharing a 100 MB/s link: 2 s");
    tap_ok(NEAR(pool_evac_eta(&d, 1, 1, 0, 100 * M), 2.0),
           "a guest dirtying 50 MB/s: data / (rate - dirty), 2 s");
    tap_ok(NEAR(pool_evac_eta(&f, 1, 1, 0, 100 * M), 2.0),
           "one dirtying faster than its stream: throttled, half the rate");
    tap_ok(NEAR(pool_evac_eta(&s, 1, 1, 0, 100 * M), 1.5),
           "a move's set-up counts: 1.5 s");
    tap_ok(pool_evac_eta(a, 1, 1, 0, 0) < 0, "no stream rate known: -1");
#undef NEAR
}

int main(void)
{
    static const bool all[3] = { true, true, true }, only0[3] = { true },
                      none[3] = { false };
    uint64_t fr[3] = { 1024 * MiB, 768 * MiB, 512 * MiB };
    struct pool_evac_vm v[6] = {
        { .need = 256 * MiB, .can = all },
        { .need = 512 * MiB, .can = all },
        { .need = 512 * MiB, .can = all },
        { .need = 128 * MiB, .can = only0 },
        { .need = 64 * MiB, .can = none },
        { .need = 4096 * MiB, .can = all },
    };

    tap_is_int(pool_evac_plan(fr, 3, v, 6), 0, "a plan");
    /* 4096 fits nowhere; 512 (v1) -> host 0 (1024), 512 (v2) -> host 1
     * (768 > 512), 256 (v0) -> host 0 or 2: 512 each, the lower index;
     * 128 (v3) may use host 0 only: 256 left, it fits. */
    tap_is_int(v[1].dest, 0, "the largest goes where most is free");
    tap_is_int(v[2].dest, 1, "the next is spread to another host");
    tap_is_int(v[0].dest, 0, "on a tie, the lower index");
    tap_is_int(v[3].dest, 0, "a VM that may use one host only goes there");
    tap_ok(v[4].dest == -1 && v[4].room == 0,
           "a VM that may use no host: none, no room");
    tap_ok(v[5].dest == -1 && v[5].room == 1024 * MiB,
           "too big everywhere: none, the most free of its hosts (%llu)",
           (unsigned long long)v[5].room);
    tap_ok(fr[0] == 128 * MiB && fr[1] == 256 * MiB && fr[2] == 512 * MiB,
           "what is left is counted (%llu %llu %llu MiB)",
           (unsigned long long)(fr[0] / MiB),
           (unsigned long long)(fr[1] / MiB),
           (unsigned long long)(fr[2] / MiB));
    tap_is_int(pool_evac_plan(fr, 3, v, 0), 0, "no VM: nothing to do");

    /* The schedule: 4 VMs to hosts 0, 1, 0, 1; a batch of 2. */
    {
        struct pool_evac_vm w[4] = {
            { .dest = 0 }, { .dest = 1 }, { .dest = 0 }, { .dest = 1 },
        };
        bool waiting[4] = { true, true, true, true };
        unsigned in[2] = { 0, 0 }, per = pool_evac_per_host(w, waiting, 4,
                                                           2, 2);

        tap_is_int((int)per, 1, "a batch of 2 over 2 hosts: 1 each");
        tap_is_int(pool_evac_next(w, waiting, 4, in, 2, per), 0,
                   "the first VM starts first");
        waiting[0] = false;
        in[0] = 1;
        tap_is_int(pool_evac_next(w, waiting, 4, in, 2, per), 1,
                   "host 0 busy: the next goes to host 1, not host 0");
        waiting[1] = false;
        in[1] = 1;
        tap_is_int(pool_evac_next(w, waiting, 4, in, 2, per), -1,
                   "both busy: none starts, though the batch is not the "
                   "limit of 2 alone");
        in[1] = 0;
        tap_is_int(pool_evac_next(w, waiting, 4, in, 2, per), 3,
                   "host 1 done first: its next VM starts, host 0's waits");
        waiting[2] = waiting[3] = false;
        tap_is_int((int)pool_evac_per_host(w, waiting, 4, 2, 2), 2,
                   "no VM waiting: the whole batch");
        w[2].dest = 0;
        waiting[2] = true;
        tap_is_int((int)pool_evac_per_host(w, waiting, 4, 2, 3), 3,
                   "the VMs left all go to one host: all of a batch of 3");
    }
    test_auto();
    test_eta();
    return tap_done();
}
