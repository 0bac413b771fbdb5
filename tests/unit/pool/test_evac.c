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
    return tap_done();
}
