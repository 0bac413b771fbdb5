/*
 * mig_limit.c - a bandwidth limit that migrations share (a host's link),
 * as QEMU's max-bandwidth is one migration's: a token bucket.  Each batch
 * takes its bytes and, when the bucket is in debt, sleeps until its share
 * of the rate has passed; a burst of 50 ms of the rate is allowed.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "mig_internal.h"

#define BURST_NS    50000000ull

struct mig_limit {
    pthread_mutex_t lock;
    uint64_t rate;              /* bytes/s, 0: none */
    double tokens;              /* bytes that may go now (< 0: debt) */
    uint64_t last_ns;
};

struct mig_limit *mig_limit_new(uint64_t bytes_per_s)
{
    struct mig_limit *l = calloc(1, sizeof(*l));

    if (!l)
        return NULL;
    pthread_mutex_init(&l->lock, NULL);
    l->rate = bytes_per_s;
    l->last_ns = xt_now_ns();
    return l;
}

void mig_limit_free(struct mig_limit *l)
{
    if (!l)
        return;
    pthread_mutex_destroy(&l->lock);
    free(l);
}

uint64_t mig_limit_rate(struct mig_limit *l)
{
    uint64_t r;

    if (!l)
        return 0;
    pthread_mutex_lock(&l->lock);
    r = l->rate;
    pthread_mutex_unlock(&l->lock);
    return r;
}

void mig_limit_take(struct mig_limit *l, uint64_t bytes)
{
    uint64_t now, wait_ns = 0;
    double burst;

    if (!l)
        return;
    pthread_mutex_lock(&l->lock);
    if (l->rate) {
        now = xt_now_ns();
        burst = (double)l->rate * BURST_NS / 1e9;
        l->tokens += (double)(now - l->last_ns) * (double)l->rate / 1e9;
        if (l->tokens > burst)
            l->tokens = burst;
        l->last_ns = now;
        l->tokens -= (double)bytes;
        if (l->tokens < 0)
            wait_ns = (uint64_t)(-l->tokens * 1e9 / (double)l->rate);
    }
    pthread_mutex_unlock(&l->lock);
    if (wait_ns) {
        struct timespec ts = { (time_t)(wait_ns / 1000000000ull),
                               (long)(wait_ns % 1000000000ull) };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
    }
}
