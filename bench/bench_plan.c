/*
 * bench_plan.c - pool.plan of issue 13: the evacuation planner's time
 * (pool/pool_evac.c) for 64 hosts and 4 000 VMs, in process.  One JSON
 * line: the placement (pool_evac_plan), the whole schedule (every VM
 * started in order through pool_evac_per_host / pool_evac_next, batch 10,
 * each move ending as the next starts), and as the baseline a qsort of
 * the same VMs by size, the least any planner that orders them does.
 * What the daemon adds (the checks of each VM on each host against the
 * database) is not in these figures.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "xt.h"

#define HOSTS   64
#define VMS     4000
#define ROUNDS  5
#define MiB     (1ull << 20)

static uint64_t seed = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return seed;
}

static int by_size(const void *a, const void *b)
{
    const struct pool_evac_vm *x = a, *y = b;

    return x->need < y->need ? 1 : x->need > y->need ? -1 : 0;
}

/* The schedule: each VM started in order, batch in flight, the oldest
 * move ending before a new one starts once the window is full. */
static unsigned schedule(struct pool_evac_vm *vms, bool *waiting,
                         unsigned *inflight, int *order)
{
    unsigned started = 0, n_in = 0, head = 0;

    for (;;) {
        unsigned per = pool_evac_per_host(vms, waiting, VMS, HOSTS, 10);
        int i = n_in < 10 ? pool_evac_next(vms, waiting, VMS, inflight,
                                           HOSTS, per) : -1;

        if (i < 0) {
            if (head == started)
                break;              /* nothing in flight: done */
            inflight[vms[order[head++]].dest]--;
            n_in--;
            continue;
        }
        waiting[i] = false;
        inflight[vms[i].dest]++;
        order[started++] = i;
        n_in++;
    }
    return started;
}

int main(void)
{
    static struct pool_evac_vm vms[VMS], copy[VMS];
    static bool can[VMS][HOSTS], waiting[VMS];
    static uint64_t free0[HOSTS], free_bytes[HOSTS];
    static unsigned inflight[HOSTS];
    static int order[VMS];
    double plan_ms = 1e30, sched_ms = 1e30, sort_ms = 1e30;
    unsigned placed = 0, started = 0, r;
    size_t i, h;

    for (h = 0; h < HOSTS; h++)
        free0[h] = (256 + rnd() % 256) * 64 * MiB;  /* 16-32 GiB */
    for (i = 0; i < VMS; i++) {
        for (h = 0; h < HOSTS; h++)
            can[i][h] = rnd() % 16 != 0;            /* 1 in 16 refused */
        vms[i].need = (128 + rnd() % 385) * MiB;    /* 128-512 MiB */
        vms[i].can = can[i];
    }
    for (r = 0; r < ROUNDS; r++) {
        uint64_t t0, t1, t2, t3;

        memcpy(free_bytes, free0, sizeof(free_bytes));
        memcpy(copy, vms, sizeof(copy));
        t0 = xt_now_ns();
        qsort(copy, VMS, sizeof(*copy), by_size);
        t1 = xt_now_ns();
        if (pool_evac_plan(free_bytes, HOSTS, vms, VMS) < 0)
            return 1;
        t2 = xt_now_ns();
        for (i = 0; i < VMS; i++)
            waiting[i] = vms[i].dest >= 0;
        memset(inflight, 0, sizeof(inflight));
        started = schedule(vms, waiting, inflight, order);
        t3 = xt_now_ns();
        sort_ms = (t1 - t0) / 1e6 < sort_ms ? (t1 - t0) / 1e6 : sort_ms;
        plan_ms = (t2 - t1) / 1e6 < plan_ms ? (t2 - t1) / 1e6 : plan_ms;
        sched_ms = (t3 - t2) / 1e6 < sched_ms ? (t3 - t2) / 1e6 : sched_ms;
    }
    for (i = 0; i < VMS; i++)
        placed += vms[i].dest >= 0;
    printf("{\"bench\": \"pool.plan\", \"hosts\": %d, \"vms\": %d, "
           "\"placed\": %u, \"started\": %u, \"plan_ms\": %.3f, "
           "\"schedule_ms\": %.3f, \"baseline_sort_ms\": %.3f, "
           "\"plan_vs_sort\": %.1f, \"best_of\": %d}\n", HOSTS, VMS, placed,
           started, plan_ms, sched_ms, sort_ms,
           sort_ms > 0 ? plan_ms / sort_ms : 0, ROUNDS);
    return 0;
}
