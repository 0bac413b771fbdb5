/*
 * test_limit.c - the shared bandwidth limit (mig_limit): what it lets
 * through never goes faster than its rate beyond the burst, whether one
 * thread or several take from it; no limit (NULL or rate 0) never waits.
 * Only lower bounds of time are checked: a loaded machine makes the waits
 * longer, never shorter.
 */
#include "config.h"

#include <pthread.h>

#include "mig_internal.h"
#include "../../tap.h"

#define MIB     (1ull << 20)
#define BURST   0.05            /* s of the rate, mig_limit.c */

struct taker {
    struct mig_limit *l;
    unsigned chunks;
};

static void *take_main(void *p)
{
    struct taker *t = p;
    unsigned i;

    for (i = 0; i < t->chunks; i++)
        mig_limit_take(t->l, MIB);
    return NULL;
}

/* Seconds that nthreads taking chunks MiB each in all took. */
static double run(struct mig_limit *l, unsigned nthreads, unsigned chunks)
{
    pthread_t th[4];
    struct taker t = { l, chunks };
    uint64_t t0 = xt_now_ns();
    unsigned i;

    for (i = 0; i < nthreads; i++)
        pthread_create(&th[i], NULL, take_main, &t);
    for (i = 0; i < nthreads; i++)
        pthread_join(th[i], NULL);
    return (double)(xt_now_ns() - t0) / 1e9;
}

int main(void)
{
    struct mig_limit *l = mig_limit_new(100 * MIB);
    double s;

    tap_plan(6);
    tap_ok(l != NULL, "a limit of 100 MiB/s");
    tap_ok(mig_limit_rate(l) == 100 * MIB && mig_limit_rate(NULL) == 0,
           "its rate; none for NULL");
    /* 20 MiB at 100 MiB/s, the burst (5 MiB) free: at least 150 ms. */
    s = run(l, 1, 20);
    tap_ok(s >= (20.0 / 100 - BURST) * 0.98, "one thread: 20 MiB took "
           "%.3f s, no less than the rate allows", s);
    /* 4 threads x 10 MiB share it: at least 350 ms. */
    s = run(l, 4, 10);
    tap_ok(s >= (40.0 / 100 - BURST) * 0.98, "four threads share it: 40 MiB "
           "took %.3f s", s);
    mig_limit_free(l);
    l = mig_limit_new(0);
    s = run(l, 2, 1000);
    tap_ok(s < 1.0, "rate 0: no wait (2000 takes in %.3f s)", s);
    mig_limit_free(l);
    s = run(NULL, 1, 1000);
    tap_ok(s < 1.0, "no limit: no wait (%.3f s)", s);
    return tap_done();
}
