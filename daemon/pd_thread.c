/*
 * pd_thread.c - the XenAPI service's threads: each one's error slot and
 * database connection (xa_thread), the count fini waits for, the
 * service's sleeps.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pd_internal.h"
#include "pd_xenapi.h"

/* ---- threads ----------------------------------------------------------- */

/* CLOCK_MONOTONIC now + ms, for a condition's timed wait. */
static void in_ms(unsigned int ms, struct timespec *ts)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

void xa_thread_free(void *p)
{
    struct xa_thread *t = p;

    if (!t)
        return;
    pool_db_close(t->db);
    xt_ctx_free(t->ctx);
    free(t);
}

struct xa_thread *xa_thread(struct xa *xa)
{
    struct xa_thread *t = pthread_getspecific(xa->thread_key);

    if (t)
        return t;
    t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->ctx = xt_ctx_new("xm-poold");
    if (!t->ctx) {
        free(t);
        return NULL;
    }
    t->ctx->log = xa->log->log;
    t->ctx->level = xa->log->level;
    if (pthread_setspecific(xa->thread_key, t) != 0) {
        xa_thread_free(t);
        return NULL;
    }
    return t;
}

/* Every commit of ours wakes the event waiters (xa_db_wait). */
static void db_committed(void *opaque)
{
    struct xa *xa = opaque;

    pthread_mutex_lock(&xa->db_lock);
    xa->db_gen++;
    pthread_cond_broadcast(&xa->db_changed);
    pthread_mutex_unlock(&xa->db_lock);
}

uint64_t xa_db_gen(struct xa *xa)
{
    uint64_t g;

    pthread_mutex_lock(&xa->db_lock);
    g = xa->db_gen;
    pthread_mutex_unlock(&xa->db_lock);
    return g;
}

bool xa_db_wait(struct xa *xa, uint64_t gen, unsigned int ms)
{
    struct timespec ts;
    bool changed;

    in_ms(ms, &ts);
    pthread_mutex_lock(&xa->db_lock);
    while (xa->db_gen == gen && !xa->stopping &&
           pthread_cond_timedwait(&xa->db_changed, &xa->db_lock, &ts) == 0)
        ;
    changed = xa->db_gen != gen;
    pthread_mutex_unlock(&xa->db_lock);
    return changed;
}

int xa_db(struct xa *xa, struct pool_db **db_r)
{
    struct xa_thread *t = xa_thread(xa);
    int rc;

    *db_r = NULL;
    if (!t)
        return -ENOMEM;
    if (!t->db) {
        rc = pool_db_open(t->ctx, xa->db_path, &t->db);
        if (rc < 0)
            return rc;
        pool_db_on_commit(t->db, db_committed, xa);
    }
    *db_r = t->db;
    return 0;
}

void xa_thread_enter(struct xa *xa)
{
    pthread_mutex_lock(&xa->lock);
    xa->nthreads++;
    pthread_mutex_unlock(&xa->lock);
}

void xa_thread_leave(struct xa *xa)
{
    pthread_mutex_lock(&xa->lock);
    xa->nthreads--;
    pthread_cond_broadcast(&xa->threads_done);
    pthread_mutex_unlock(&xa->lock);
}

void xa_worker_done(struct xa *xa)
{
    xa_thread_free(pthread_getspecific(xa->thread_key));
    pthread_setspecific(xa->thread_key, NULL);
    xa_thread_leave(xa);
}

bool xa_sleep_locked(struct xa *xa, unsigned int ms)
{
    struct timespec ts;

    if (xa->stopping)
        return false;
    in_ms(ms, &ts);
    pthread_cond_timedwait(&xa->changed, &xa->lock, &ts);
    return !xa->stopping;
}

bool xa_sleep(struct xa *xa, unsigned int ms)
{
    bool r;

    pthread_mutex_lock(&xa->lock);
    r = xa_sleep_locked(xa, ms);
    pthread_mutex_unlock(&xa->lock);
    return r;
}

bool xa_is_master(struct xa *xa)
{
    bool m;

    pthread_mutex_lock(&xa->lock);
    m = xa->master;
    pthread_mutex_unlock(&xa->lock);
    return m;
}
