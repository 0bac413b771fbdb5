/*
 * pd_upgrade.c - the pool in upgrade mode (docs/design/pool.md, "Rolling
 * pool upgrade"): while its hosts say different software versions, a VM
 * moves only to a host of the same or a newer version, and the operations
 * that would change the pool's shape are refused with
 * NOT_SUPPORTED_DURING_UPGRADE, as XAPI does.  The mode is derived from
 * the hosts' software_version (kept from each daemon's hello), never set
 * by hand; the pool's other_config rolling_upgrade_in_progress says it
 * for clients, as XAPI's does.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pd_xenapi.h"

#define UPGRADE_KEY "rolling_upgrade_in_progress"

/* Refused while the versions differ. */
static const char *const refused[] = {
    "pool.join", "pool.eject", "SR.create", "SR.destroy", "SR.forget",
    "VDI.pool_migrate", "VDI.copy", "VM.migrate_send", NULL
};

int xa_host_version(struct pool_db *db, const char *host, char **v_r)
{
    struct pool_value sw = { 0 };
    const char *v;
    int rc = pool_db_get_field(db, POOL_CLASS_HOST, host, "software_version",
                               &sw);

    *v_r = NULL;
    if (rc < 0)
        return rc;
    v = pool_value_map_get(&sw, "product_version");
    *v_r = strdup(v ? v : "0");
    pool_value_clear(&sw);
    return *v_r ? 0 : -ENOMEM;
}

bool xa_upgrade_mode(struct pool_db *db)
{
    struct pool_strv hosts = { 0 };
    char *first = NULL, *v = NULL;
    bool differ = false;
    size_t i;

    if (pool_db_get_all(db, POOL_CLASS_HOST, &hosts) < 0)
        return false;
    for (i = 0; i < hosts.n && !differ; i++) {
        if (xa_host_version(db, hosts.v[i], &v) < 0)
            continue;
        if (!first)
            first = v;
        else
            differ = xt_version_cmp(first, v) != 0;
        if (v != first)
            free(v);
        v = NULL;
    }
    free(first);
    pool_strv_free(&hosts);
    return differ;
}

int xa_upgrade_check_target(struct api_call_ctx *call, const char *src,
                            const char *dst, struct api_value **result_r)
{
    struct pool_db *db = xa_call_of(call)->db;
    char *vs = NULL, *vd = NULL;
    int rc = 0;

    if (!xa_upgrade_mode(db) || xa_host_version(db, src, &vs) < 0 ||
        xa_host_version(db, dst, &vd) < 0)
        goto out;
    if (xt_version_cmp(vd, vs) < 0) {
        *result_r = api_failure("NOT_SUPPORTED_DURING_UPGRADE", NULL);
        rc = xt_error(call->xt, -EPERM, "the pool is being upgraded: host "
                      "%s (%s) is older than the VM's (%s)", dst, vd, vs);
    }
out:
    free(vs);
    free(vd);
    return rc;
}

int xa_upgrade_refuse(struct api_call_ctx *call, const char *method,
                      struct api_value **result_r)
{
    struct pool_db *db = xa_call_of(call)->db;
    size_t i;

    if (!strncmp(method, "Async.", 6))
        method += 6;
    for (i = 0; refused[i]; i++)
        if (!strcmp(method, refused[i]))
            break;
    if (!refused[i] || !db || !xa_upgrade_mode(db))
        return 0;
    *result_r = api_failure("NOT_SUPPORTED_DURING_UPGRADE", NULL);
    return xt_error(call->xt, -EPERM, "%s: the pool's hosts run different "
                    "versions (a rolling upgrade)", method);
}

/* The pool's other_config says the mode (XAPI's key), written only when
 * it changes (each write is an event for every client). */
void xa_upgrade_note(struct pool_db *db)
{
    struct pool_strv pools = { 0 };
    struct pool_value oc = { 0 };
    bool mode, said;

    if (pool_db_get_all(db, POOL_CLASS_POOL, &pools) < 0 || pools.n != 1 ||
        pool_db_get_field(db, POOL_CLASS_POOL, pools.v[0], "other_config",
                          &oc) < 0)
        goto out;
    mode = xa_upgrade_mode(db);
    said = pool_value_map_get(&oc, UPGRADE_KEY) != NULL;
    if (mode && !said)
        pool_db_map_put(db, POOL_CLASS_POOL, pools.v[0], "other_config",
                        UPGRADE_KEY, "true", POOL_DB_INTERNAL);
    else if (!mode && said)
        pool_db_map_remove(db, POOL_CLASS_POOL, pools.v[0], "other_config",
                           UPGRADE_KEY, POOL_DB_INTERNAL);
out:
    pool_value_clear(&oc);
    pool_strv_free(&pools);
}

void xa_host_version_seen(struct xa *xa, struct pool_db *db,
                          const char *host, const char *version)
{
    char *was = NULL;

    if (!version || !*version || xa_host_version(db, host, &was) < 0)
        return;
    /* The mode can change only with a version (joining and ejecting
     * wait for it to end); the liveness check asks every round. */
    if (strcmp(was, version) != 0) {
        xt_info(xa->log, "host %s runs xm-poold %s now (was %s)", host,
                version, was);
        pool_db_map_put(db, POOL_CLASS_HOST, host, "software_version",
                        "product_version", version, POOL_DB_INTERNAL);
        xa_upgrade_note(db);
    }
    free(was);
}
