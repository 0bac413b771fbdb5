/*
 * pd_liveness.c - the master's check of its members (pool.md, "Host
 * liveness"): every host_check_interval seconds a background thread calls
 * host_local.hello on each other host; after LIVENESS_MISSES missed
 * answers in a row the host's `live` turns false, and true again at its
 * first answer.  Only a master checks; a member's thread sleeps.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pd_xenapi.h"

#define LIVENESS_MISSES    2
#define LIVENESS_TIMEOUT_S 5L     /* at most, for one hello */

/* Missed answers in a row of one host, by ref. */
struct miss {
    char ref[POOL_REF_STRLEN + 1];
    unsigned n;
};

static const struct miss *miss_of(const struct miss *old, size_t nold,
                                  const char *ref)
{
    size_t i;

    for (i = 0; i < nold; i++)
        if (!strcmp(old[i].ref, ref))
            return &old[i];
    return NULL;
}

/* A hello's "started" against the one the host's record keeps: a daemon
 * that started again is enabled again, unless disabled with auto_enable
 * false (xa_host_restarted).  Its version is kept too (a rolling
 * upgrade), and its memory. */
static void seen_start(struct xa *xa, struct pool_db *db,
                       const struct pool_record *host,
                       const struct api_value *hello)
{
    const char *was = pool_value_map_get(pool_record_get(host,
                                         "other_config"), XA_HOST_STARTED);
    int64_t st = 0, tot = 0, fr = 0;
    char now[24];

    xa_host_version_seen(xa, db, host->ref,
                         api_value_string(api_struct_get(hello, "version")));
    api_value_get_int64(api_struct_get(hello, "memory_total"), &tot);
    api_value_get_int64(api_struct_get(hello, "memory_free"), &fr);
    xa_host_memory_seen(db, host->ref, tot, fr);
    xa_host_cpus_seen(db, host->ref, api_struct_get(hello, "cpu_info"));
    if (api_value_get_int64(api_struct_get(hello, "started"), &st) < 0 ||
        !st)
        return;
    snprintf(now, sizeof(now), "%lld", (long long)st);
    if (was && !strcmp(was, now))
        return;
    if (was)
        xa_host_restarted(xa, db, host->ref);
    pool_db_map_put(db, POOL_CLASS_HOST, host->ref, "other_config",
                    XA_HOST_STARTED, now, POOL_DB_INTERNAL);
}

/* One round over the hosts; *m_r and *n_r carry the counts to the next. */
static void check_round(struct xa *xa, struct xt_ctx *ctx,
                        struct pool_db *db, struct miss **m_r, size_t *n_r)
{
    struct pool_record **hosts = NULL;
    struct miss *m = NULL;
    size_t nh = 0, i;
    long timeout_s = xa->check_interval_s < LIVENESS_TIMEOUT_S ?
                     (long)xa->check_interval_s : LIVENESS_TIMEOUT_S;

    if (pool_db_get_all_records(db, POOL_CLASS_HOST, &hosts, &nh) < 0)
        return;
    m = calloc(nh ? nh : 1, sizeof(*m));
    if (!m)
        goto out;
    for (i = 0; i < nh && !xa->stopping; i++) {
        const char *uuid = pool_record_get(hosts[i], "uuid")->s;
        const char *url = pool_value_map_get(
            pool_record_get(hosts[i], "other_config"), "xm:url");
        bool live = pool_record_get(hosts[i], "live")->b, now;
        const struct miss *prev;
        struct api_value *v = NULL;

        snprintf(m[i].ref, sizeof(m[i].ref), "%s", hosts[i]->ref);
        if (!strcmp(uuid, xa->host_uuid)) {
            uint64_t tot, fr;

            xa_memory(xa, &tot, &fr);
            xa_host_memory_seen(db, hosts[i]->ref, (int64_t)tot,
                                (int64_t)fr);
        }
        if (!strcmp(uuid, xa->host_uuid) || !url)
            continue;
        prev = miss_of(*m_r, *n_r, hosts[i]->ref);
        m[i].n = prev ? prev->n : 0;
        if (xa_host_call(xa, ctx, url, "host_local.hello", api_array(),
                         timeout_s, &v, NULL) == 0) {
            m[i].n = 0;
            seen_start(xa, db, hosts[i], v);
        } else {
            m[i].n++;
        }
        api_value_free(v);
        now = m[i].n < LIVENESS_MISSES;
        if (now == live)
            continue;
        if (pool_db_set_field(db, POOL_CLASS_HOST, hosts[i]->ref, "live",
                              &POOL_V_BOOL(now), POOL_DB_INTERNAL) < 0)
            continue;
        xa_host_metrics_sync(db, hosts[i]->ref);
        xt_info(xa->log, "host %s (%s) is %s", uuid, url,
                now ? "live again" : "not live: no answer");
        if (!now)
            xa_message_host_lost(db, hosts[i], m[i].n);
    }
    xa_pifs_sync(db);       /* new hosts, networks, addresses */
    free(*m_r);
    *m_r = m;
    *n_r = nh;
out:
    pool_records_free(hosts, nh);
}

static void *liveness_main(void *p)
{
    struct xa *xa = p;
    struct xa_thread *t = xa_thread(xa);
    struct pool_db *db;
    struct miss *m = NULL;
    size_t n = 0;
    uint64_t i;

    while (t && !xa->stopping) {
        if (xa_is_master(xa) && xa_db(xa, &db) == 0)
            check_round(xa, t->ctx, db, &m, &n);
        for (i = 0; i < xa->check_interval_s * 10 && !xa->stopping; i++)
            usleep(100 * 1000);
    }
    free(m);
    return NULL;
}

int xa_liveness_start(struct xa *xa)
{
    int rc = -pthread_create(&xa->checker, NULL, liveness_main, xa);

    if (rc < 0)
        return xt_error(xa->log, rc, "liveness thread");
    xa->checker_started = true;
    return 0;
}

void xa_liveness_stop(struct xa *xa)
{
    if (!xa->checker_started)
        return;
    xa->stopping = true;
    pthread_join(xa->checker, NULL);
    xa->checker_started = false;
}
