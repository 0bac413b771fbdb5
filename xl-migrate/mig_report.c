/*
 * mig_report.c - the reporter thread (mig_internal.h): progress reaches
 * the caller's callback from here, never from the engine's threads, so a
 * callback that blocks (an HTTPS call to the master) costs the migration
 * nothing, and nothing at all is delivered while the source is paused.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "mig_internal.h"

static void *reporter_main(void *arg)
{
    struct mig_reporter *r = arg;
    struct mig_progress p;

    pthread_mutex_lock(&r->lock);
    for (;;) {
        while (!r->quit && (!r->pending || r->held))
            pthread_cond_wait(&r->cv, &r->lock);
        if (!r->pending || r->held)
            break;      /* quitting with nothing (deliverable) left */
        p = r->next;
        r->pending = false;
        pthread_mutex_unlock(&r->lock);
        r->fn(&p, r->opaque);
        pthread_mutex_lock(&r->lock);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

int mig_reporter_start(struct xt_ctx *ctx, struct mig_reporter *r,
                       mig_progress_fn fn, void *opaque)
{
    int e;

    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->fn = fn;
    r->opaque = opaque;
    if (!fn)
        return 0;
    e = pthread_create(&r->thread, NULL, reporter_main, r);
    if (e)
        return xt_error(ctx, -e, "starting the progress reporter");
    r->started = true;
    return 0;
}

void mig_reporter_post(struct mig_reporter *r, const struct mig_progress *p)
{
    if (!r->started)
        return;
    pthread_mutex_lock(&r->lock);
    r->next = *p;
    r->pending = true;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->lock);
}

void mig_reporter_hold(struct mig_reporter *r, bool held)
{
    pthread_mutex_lock(&r->lock);
    r->held = held;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->lock);
}

void mig_reporter_stop(struct mig_reporter *r)
{
    if (r->started) {
        pthread_mutex_lock(&r->lock);
        r->quit = true;
        pthread_cond_signal(&r->cv);
        pthread_mutex_unlock(&r->lock);
        pthread_join(r->thread, NULL);
        r->started = false;
    }
}
