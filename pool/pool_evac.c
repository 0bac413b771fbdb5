/*
 * pool_evac.c - where the VMs of a host being evacuated go (pool.h,
 * docs/design/pool.md "Host evacuation").
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

/* Largest first; the lower index first among equals (qsort is not
 * stable). */
static int by_need(const void *a, const void *b, void *p)
{
    const struct pool_evac_vm *vms = p;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;

    if (vms[i].need != vms[j].need)
        return vms[i].need > vms[j].need ? -1 : 1;
    return i < j ? -1 : i > j;
}

static void place(uint64_t *free_bytes, size_t nhosts,
                  struct pool_evac_vm *vm)
{
    size_t h;

    vm->dest = -1;
    vm->room = 0;
    for (h = 0; h < nhosts; h++) {
        if (!vm->can[h])
            continue;
        if (free_bytes[h] > vm->room)
            vm->room = free_bytes[h];
        if (free_bytes[h] >= vm->need &&
            (vm->dest < 0 || free_bytes[h] > free_bytes[vm->dest]))
            vm->dest = (int)h;
    }
    if (vm->dest >= 0)
        free_bytes[vm->dest] -= vm->need;
}

int pool_evac_plan(uint64_t *free_bytes, size_t nhosts,
                   struct pool_evac_vm *vms, size_t nvms)
{
    size_t *idx = calloc(nvms ? nvms : 1, sizeof(*idx)), i;

    if (!idx)
        return -ENOMEM;
    for (i = 0; i < nvms; i++)
        idx[i] = i;
    qsort_r(idx, nvms, sizeof(*idx), by_need, vms);
    for (i = 0; i < nvms; i++)
        place(free_bytes, nhosts, &vms[idx[i]]);
    free(idx);
    return 0;
}

unsigned pool_evac_per_host(const struct pool_evac_vm *vms,
                            const bool *waiting, size_t nvms, size_t nhosts,
                            unsigned batch)
{
    bool *seen = calloc(nhosts ? nhosts : 1, sizeof(*seen));
    unsigned used = 0;
    size_t h, i;

    if (seen) {
        /* One pass over the VMs: the hosts the waiting ones go to. */
        for (i = 0; i < nvms; i++) {
            int d = vms[i].dest;

            if (waiting[i] && d >= 0 && (size_t)d < nhosts && !seen[d]) {
                seen[d] = true;
                used++;
            }
        }
        free(seen);
    } else {
        for (h = 0; h < nhosts; h++)
            for (i = 0; i < nvms; i++)
                if (waiting[i] && vms[i].dest == (int)h) {
                    used++;
                    break;
                }
    }
    return used ? (batch + used - 1) / used : (batch ? batch : 1);
}

int pool_evac_next(const struct pool_evac_vm *vms, const bool *waiting,
                   size_t nvms, const unsigned *inflight, size_t nhosts,
                   unsigned per_host)
{
    size_t i;

    for (i = 0; i < nvms; i++)
        if (waiting[i] && vms[i].dest >= 0 &&
            (size_t)vms[i].dest < nhosts &&
            inflight[vms[i].dest] < per_host)
            return (int)i;
    return -1;
}

void pool_evac_auto_init(struct pool_evac_auto *a, unsigned max,
                         double target_ms, uint64_t now_ns)
{
    memset(a, 0, sizeof(*a));
    a->window = 1;
    a->best = 1;
    a->max = max ? max : 1;
    a->target_ms = target_ms;
    a->t0_ns = now_ns;
}

unsigned pool_evac_auto_ended(struct pool_evac_auto *a, uint64_t bytes,
                              double downtime_ms, uint64_t now_ns)
{
    double rate;

    a->bytes += bytes;
    if (downtime_ms > a->worst_ms)
        a->worst_ms = downtime_ms;
    if (++a->ended < a->window)
        return a->window;           /* the epoch goes on */
    rate = now_ns > a->t0_ns ? (double)a->bytes * 1e9 /
                               (double)(now_ns - a->t0_ns) : 0;
    if (a->worst_ms > a->target_ms) {
        /* A pause too long: one stream fewer, and that is the best. */
        if (a->window > 1)
            a->window--;
        a->best = a->window;
        a->best_rate = 0;
        a->settled = true;
    } else if (!a->settled && rate > a->best_rate * POOL_EVAC_AUTO_GAIN) {
        a->best_rate = rate;
        a->best = a->window;
        if (a->window < a->max)
            a->window++;
    } else if (!a->settled && rate >= a->best_rate * POOL_EVAC_AUTO_KEEP) {
        /* As fast, not faster (a full link): the stream stays, since it
         * hides each move's set-up behind another's copy; no more. */
        if (rate > a->best_rate)
            a->best_rate = rate;
        a->best = a->window;
        a->settled = true;
    } else {
        /* No gain from the last stream added: back to the best. */
        if (rate > a->best_rate)
            a->best_rate = rate;
        a->window = a->best;
        a->settled = true;
    }
    a->ended = 0;
    a->bytes = 0;
    a->worst_ms = 0;
    a->t0_ns = now_ns;
    return a->window;
}

/* The rate at which move v's data goes down when its stream has r. */
static double net_rate(const struct pool_evac_eta_vm *v, double r)
{
    double net = r - v->dirty;

    return net > r / 2 ? net : r / 2;
}

double pool_evac_eta(const struct pool_evac_eta_vm *vms, size_t n,
                     unsigned batch, double link_bps, double stream_bps)
{
    double left[64], now = 0;
    size_t run[64], k = 0, next = 0, i, first;

    if (stream_bps <= 0)
        return -1;
    if (batch < 1)
        batch = 1;
    if (batch > 64)
        batch = 64;
    /* Each move's fixed cost first, counted as data at its stream's
     * rate alone: a start-up that shares nothing. */
    while (next < n || k) {
        double r, dt;

        while (k < batch && next < n) {
            run[k] = next;
            left[k++] = vms[next].data + vms[next].setup_s *
                        net_rate(&vms[next], stream_bps);
            next++;
        }
        r = link_bps > 0 && link_bps / (double)k < stream_bps ?
            link_bps / (double)k : stream_bps;
        for (i = 0, first = 0; i < k; i++)
            if (left[i] / net_rate(&vms[run[i]], r) <
                left[first] / net_rate(&vms[run[first]], r))
                first = i;
        dt = left[first] / net_rate(&vms[run[first]], r);
        for (i = 0; i < k; i++)
            left[i] -= dt * net_rate(&vms[run[i]], r);
        now += dt;
        run[first] = run[k - 1];
        left[first] = left[k - 1];
        k--;
    }
    return now;
}
