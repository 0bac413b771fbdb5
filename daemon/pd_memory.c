/*
 * pd_memory.c - the memory a host may still give a VM, and reservations.
 *
 * A host offers VMs memory_total (its machine's, or vm-memory-mib) and
 * says what its machine has available (memory_free, from each hello).
 * What it may still give is the smaller of memory_free and memory_total
 * less the memory of the VMs it runs and of those scheduled to arrive
 * (VM.scheduled_to_be_resident_on, XAPI's field): a start or a migration
 * reserves its VM's memory on its target when it claims the VM, an
 * evacuation its whole plan before its first move, and the VM's landing
 * anywhere (xa_vm_set_running) ends the reservation.  So a VM started
 * elsewhere cannot take memory a move has been promised.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pd_xenapi.h"

/* Memory that VMs hold on host, or are promised there: each VM counted
 * once, resident (not halted or suspended) or scheduled to arrive.  A
 * reservation of vm itself is not counted (vm NULL: all). */
static int64_t vms_on(struct pool_db *db, const char *host, const char *vm)
{
    struct pool_strv res = { 0 }, sch = { 0 };
    int64_t sum = 0, mem;
    size_t i;

    pool_db_find(db, POOL_CLASS_VM, "resident_on", &POOL_V_REF(host), &res);
    pool_db_find(db, POOL_CLASS_VM, "scheduled_to_be_resident_on",
                 &POOL_V_REF(host), &sch);
    for (i = 0; i < res.n; i++) {
        char *ps = NULL;

        mem = 0;
        if (xa_field_str(db, POOL_CLASS_VM, res.v[i], "power_state",
                         &ps) == 0 && strcmp(ps, "Halted") &&
            strcmp(ps, "Suspended") &&
            xa_field_int(db, POOL_CLASS_VM, res.v[i], "memory_static_max",
                         &mem) == 0)
            sum += mem;
        free(ps);
    }
    for (i = 0; i < sch.n; i++) {
        bool counted = false;
        size_t k;

        if (vm && !strcmp(sch.v[i], vm))
            continue;
        for (k = 0; k < res.n && !counted; k++)
            counted = !strcmp(res.v[k], sch.v[i]);
        mem = 0;
        if (!counted && xa_field_int(db, POOL_CLASS_VM, sch.v[i],
                                     "memory_static_max", &mem) == 0)
            sum += mem;
    }
    pool_strv_free(&res);
    pool_strv_free(&sch);
    return sum;
}

int64_t xa_host_free(struct pool_db *db, const char *host, const char *vm)
{
    int64_t tot = 0, fr = 0, left;

    xa_field_int(db, POOL_CLASS_HOST, host, "memory_total", &tot);
    xa_field_int(db, POOL_CLASS_HOST, host, "memory_free", &fr);
    left = tot - vms_on(db, host, vm);
    if (left > fr)
        left = fr;
    return left > 0 ? left : 0;
}

int xa_mem_check(struct api_call_ctx *call, struct pool_db *db,
                 const char *vm, const char *host,
                 struct api_value **result_r)
{
    int64_t need = 0, avail;
    char nb[24], ab[24];
    int rc = xa_field_int(db, POOL_CLASS_VM, vm, "memory_static_max",
                          &need);

    if (rc < 0)
        return xt_error(call->xt, rc, "VM %s: its memory", vm);
    avail = xa_host_free(db, host, vm);
    if (avail >= need)
        return 0;
    snprintf(nb, sizeof(nb), "%" PRId64, need);
    snprintf(ab, sizeof(ab), "%" PRId64, avail);
    *result_r = api_failure("HOST_NOT_ENOUGH_FREE_MEMORY", nb, ab, NULL);
    return xt_error(call->xt, -ENOMEM, "host %s: %s bytes free, %s needed",
                    host, ab, nb);
}

int xa_mem_reserve(struct api_call_ctx *call, struct pool_db *db,
                   const char *vm, const char *host,
                   struct api_value **result_r)
{
    int rc = xa_mem_check(call, db, vm, host, result_r);

    return rc ?: pool_db_set_field(db, POOL_CLASS_VM, vm,
                                   "scheduled_to_be_resident_on",
                                   &POOL_V_REF(host), POOL_DB_INTERNAL);
}

void xa_mem_release(struct pool_db *db, const char *vm)
{
    pool_db_set_field(db, POOL_CLASS_VM, vm, "scheduled_to_be_resident_on",
                      &POOL_V_REF(POOL_NULL_REF), POOL_DB_INTERNAL);
}

void xa_host_memory_seen(struct pool_db *db, const char *host,
                         int64_t total, int64_t free_now)
{
    int64_t t = -1, f = -1;

    xa_field_int(db, POOL_CLASS_HOST, host, "memory_total", &t);
    xa_field_int(db, POOL_CLASS_HOST, host, "memory_free", &f);
    if (total > 0 && t != total)
        pool_db_set_field(db, POOL_CLASS_HOST, host, "memory_total",
                          &POOL_V_INT(total), POOL_DB_INTERNAL);
    /* Not every wobble of the machine's page cache: 1% of it or more. */
    if (total > 0 && f != free_now &&
        (f < 0 || llabs(f - free_now) * 100 >= total || free_now == total))
        pool_db_set_field(db, POOL_CLASS_HOST, host, "memory_free",
                          &POOL_V_INT(free_now), POOL_DB_INTERNAL);
    xa_host_metrics_sync(db, host);
}

void xa_mem_reconcile(struct xa *xa, struct pool_db *db)
{
    struct pool_record **r = NULL;
    size_t n = 0, i;

    if (pool_db_get_all_records(db, POOL_CLASS_VM, &r, &n) < 0)
        return;
    for (i = 0; i < n; i++) {
        const char *s = pool_record_get(r[i],
                                        "scheduled_to_be_resident_on")->s;

        if (!s || pool_ref_is_null(s) ||
            pool_record_get(r[i], "current_operations")->map.n)
            continue;
        xt_info(xa->log, "VM %s: no operation holds its reservation on "
                "host %s: released", pool_record_get(r[i], "uuid")->s, s);
        xa_mem_release(db, r[i]->ref);
    }
    pool_records_free(r, n);
}
