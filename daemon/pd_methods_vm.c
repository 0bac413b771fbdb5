/*
 * pd_methods_vm.c - VM.* and task.cancel on the master: create, destroy,
 * start / start_on, shutdown, assert_can_migrate, pool_migrate
 * (docs/design/pool.md), and the reconciliation after a master restart.
 *
 * An operation on a VM is claimed in one transaction: it checks that
 * current_operations is empty and records itself there, so two calls on
 * one VM cannot both proceed (OTHER_OPERATION_IN_PROGRESS).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hv.h"
#include "pd_shutdown.h"
#include "pd_xenapi.h"

#define HOST_CALL_TIMEOUT_S   60
#define MIGRATE_TIMEOUT_S     600

static struct pool_db *dbof(struct api_call_ctx *call)
{
    return xa_call_of(call)->db;
}

/* The key of this call's entry in current_operations. */
static void op_key(struct api_call_ctx *call, char key[POOL_REF_STRLEN + 1])
{
    struct xt_uuid u;
    char s[XT_UUID_STRLEN + 1];

    if (xa_call_of(call)->task) {
        snprintf(key, POOL_REF_STRLEN + 1, "%s", xa_call_of(call)->task);
        return;
    }
    xt_uuid_generate(&u);
    xt_uuid_format(&u, s);
    snprintf(key, POOL_REF_STRLEN + 1, "OpaqueRef:%s", s);
}

static int get_str(struct pool_db *db, enum pool_class_id c, const char *ref,
                   const char *field, char **s_r)
{
    struct pool_value v = { 0 };
    int rc = pool_db_get_field(db, c, ref, field, &v);

    *s_r = NULL;
    if (rc < 0)
        return rc;
    *s_r = strdup(v.s ? v.s : "");
    pool_value_clear(&v);
    return *s_r ? 0 : -ENOMEM;
}

static int get_int(struct pool_db *db, enum pool_class_id c, const char *ref,
                   const char *field, int64_t *i_r)
{
    struct pool_value v = { 0 };
    int rc = pool_db_get_field(db, c, ref, field, &v);

    if (rc == 0)
        *i_r = v.type == POOL_FT_BOOL ? v.b : v.i;
    pool_value_clear(&v);
    return rc;
}

/*
 * Claims vm for operation op: checks the power state is `want` (NULL: any)
 * and no other operation runs.  Fails with the XenAPI envelope set.
 */
static int claim(struct api_call_ctx *call, const char *vm, const char *want,
                 const char *op, const char *key,
                 struct api_value **result_r)
{
    struct pool_db *db = dbof(call);
    struct pool_value ops = { 0 };
    char *ps = NULL;
    int rc;

    rc = pool_db_begin(db);
    if (rc < 0)
        return rc;
    rc = get_str(db, POOL_CLASS_VM, vm, "power_state", &ps);
    if (rc == -ENOENT)
        *result_r = api_failure("HANDLE_INVALID", "VM", vm, NULL);
    if (rc < 0)
        goto fail;
    if (want && strcmp(ps, want) != 0) {
        *result_r = api_failure("VM_BAD_POWER_STATE", vm, want, ps, NULL);
        rc = xt_error(call->xt, -EPERM, "VM %s is %s", vm, ps);
        goto fail;
    }
    rc = pool_db_get_field(db, POOL_CLASS_VM, vm, "current_operations",
                           &ops);
    if (rc < 0)
        goto fail;
    if (ops.map.n) {
        *result_r = api_failure("OTHER_OPERATION_IN_PROGRESS", "VM", vm,
                                NULL);
        rc = xt_error(call->xt, -EBUSY, "VM %s: %s in progress", vm,
                      ops.map.vals[0]);
        goto fail;
    }
    rc = pool_db_map_put(db, POOL_CLASS_VM, vm, "current_operations", key,
                         op, POOL_DB_INTERNAL);
    rc = rc ?: pool_db_commit(db);
    if (rc < 0)
        goto fail;
    pool_value_clear(&ops);
    free(ps);
    return 0;
fail:
    pool_db_rollback(db);
    pool_value_clear(&ops);
    free(ps);
    return rc;
}

static void release(struct api_call_ctx *call, const char *vm,
                    const char *key)
{
    pool_db_map_remove(dbof(call), POOL_CLASS_VM, vm, "current_operations",
                       key, POOL_DB_INTERNAL);
}

/* Sets the VM's runtime fields in one transaction. */
static int set_running(struct pool_db *db, const char *vm, const char *state,
                       const char *host, int64_t domid)
{
    int rc = pool_db_begin(db);

    if (rc < 0)
        return rc;
    rc = pool_db_set_field(db, POOL_CLASS_VM, vm, "power_state",
                           &POOL_V_ENUM(state), POOL_DB_INTERNAL);
    rc = rc ?: pool_db_set_field(db, POOL_CLASS_VM, vm, "resident_on",
                                 &POOL_V_REF(host), POOL_DB_INTERNAL);
    rc = rc ?: pool_db_set_field(db, POOL_CLASS_VM, vm, "domid",
                                 &POOL_V_INT(domid), POOL_DB_INTERNAL);
    rc = rc ?: pool_db_commit(db);
    if (rc < 0)
        pool_db_rollback(db);
    return rc;
}

/* ---- VM.create / destroy ----------------------------------------------- */

static const char *const create_fields[] = {
    "name_label", "name_description", "is_a_template", "memory_static_max",
    "memory_dynamic_max", "memory_dynamic_min", "memory_static_min",
    "VCPUs_max", "VCPUs_at_startup", "affinity", "other_config", NULL
};

static int vm_create(struct api_call_ctx *call,
                     const struct api_value *params,
                     struct api_value **result_r)
{
    const struct api_value *rec = api_array_get(params, 1);
    const struct pool_class *cls = pool_class_get(POOL_CLASS_VM);
    struct pool_field_init init[16];
    char *ref = NULL;
    size_t i, n = 0;
    int rc = 0;

    if (api_value_type(rec) != API_STRUCT)
        return xt_error(call->xt, -EINVAL, "VM.create(session, record)");
    for (i = 0; create_fields[i]; i++) {
        const struct api_value *a = api_struct_get(rec, create_fields[i]);
        const struct pool_field *f = pool_class_field(cls, create_fields[i]);

        if (!a)
            continue;
        init[n].name = f->name;
        rc = xa_value_from_api(f, a, &init[n].value);
        n++;
        if (rc < 0) {
            *result_r = api_failure("FIELD_TYPE_ERROR", f->name, NULL);
            xt_error(call->xt, -EINVAL, "%s: wrong type", f->name);
            goto out;
        }
    }
    rc = pool_db_create(dbof(call), POOL_CLASS_VM, init, n, &ref);
    if (rc < 0)
        goto out;
    *result_r = api_string(ref);
out:
    for (i = 0; i < n; i++)
        pool_value_clear(&init[i].value);
    free(ref);
    return rc;
}

static int vm_destroy(struct api_call_ctx *call,
                      const struct api_value *params,
                      struct api_value **result_r)
{
    const char *vm = xa_param_str(params, 1);
    char key[POOL_REF_STRLEN + 1];
    int rc;

    if (!vm)
        return xt_error(call->xt, -EINVAL, "VM.destroy(session, vm)");
    op_key(call, key);
    rc = claim(call, vm, "Halted", "destroy", key, result_r);
    if (rc < 0)
        return rc;
    rc = pool_db_destroy(dbof(call), POOL_CLASS_VM, vm);
    if (rc < 0) {
        release(call, vm, key);
        return rc;
    }
    *result_r = api_void();
    return 0;
}

/* ---- start / shutdown -------------------------------------------------- */

static int host_usable(struct api_call_ctx *call, const char *host,
                       struct api_value **result_r)
{
    int64_t live = 0;
    int rc = get_int(dbof(call), POOL_CLASS_HOST, host, "live", &live);

    if (rc == -ENOENT)
        *result_r = api_failure("HANDLE_INVALID", "host", host, NULL);
    if (rc < 0)
        return rc;
    if (!live) {
        *result_r = api_failure("HOST_OFFLINE", host, NULL);
        return xt_error(call->xt, -EHOSTDOWN, "host %s is offline", host);
    }
    return 0;
}

static int do_start(struct api_call_ctx *call, const char *vm,
                    const char *host_arg, bool paused,
                    struct api_value **result_r)
{
    struct xa_call *xc = xa_call_of(call);
    struct pool_db *db = dbof(call);
    struct pool_record *rec = NULL;
    struct api_value *spec = NULL, *params = NULL, *v = NULL;
    const struct pool_value *oc, *aff;
    char key[POOL_REF_STRLEN + 1], *host = NULL, *url = NULL;
    int64_t domid = -1;
    int rc;

    op_key(call, key);
    rc = claim(call, vm, "Halted", "start", key, result_r);
    if (rc < 0)
        return rc;
    rc = pool_db_get_record(db, POOL_CLASS_VM, vm, &rec);
    if (rc < 0)
        goto out;
    aff = pool_record_get(rec, "affinity");
    if (host_arg)
        host = strdup(host_arg);
    else if (aff && !pool_ref_is_null(aff->s))
        host = strdup(aff->s);
    else if ((rc = xa_self_host(xc->xa, db, &host)) < 0)
        goto out;
    if (!host) {
        rc = xt_error(call->xt, -ENOMEM, "start");
        goto out;
    }
    rc = host_usable(call, host, result_r);
    rc = rc ?: xa_host_url(xc->xa, db, host, &url);
    if (rc < 0)
        goto out;
    oc = pool_record_get(rec, "other_config");
    spec = api_struct();
    rc = api_struct_add(spec, "name",
                        api_string(pool_record_get(rec, "name_label")->s));
    rc = rc ?: api_struct_add(spec, "memory", api_int(
            pool_record_get(rec, "memory_static_max")->i));
    rc = rc ?: api_struct_add(spec, "vcpus", api_int(
            pool_record_get(rec, "VCPUs_max")->i));
    if (!rc && pool_value_map_get(oc, POOL_VM_OC_KERNEL))
        rc = api_struct_add(spec, "kernel", api_string(
                pool_value_map_get(oc, POOL_VM_OC_KERNEL)));
    if (!rc && pool_value_map_get(oc, POOL_VM_OC_CMDLINE))
        rc = api_struct_add(spec, "cmdline", api_string(
                pool_value_map_get(oc, POOL_VM_OC_CMDLINE)));
    params = api_array();
    rc = rc ?: api_array_append(params,
                                api_string(pool_record_get(rec, "uuid")->s));
    rc = rc ?: api_array_append(params, spec);
    spec = NULL;
    if (rc < 0) {
        xt_error(call->xt, rc, "start");
        goto out;
    }
    xa_task_progress(xc->xa, db, xc->task, 0.1);
    rc = xa_host_call(xc->xa, call->xt, url, "host_local.vm_start", params,
                      HOST_CALL_TIMEOUT_S, &v, result_r);
    params = NULL;
    if (rc < 0)
        goto out;
    api_value_get_int64(v, &domid);
    /* xm-pool has no paused boot yet: start_paused is refused above the
     * driver rather than ignored. */
    rc = set_running(db, vm, "Running", host, domid);
    if (rc < 0)
        goto out;
    *result_r = api_void();
out:
    (void)paused;
    release(call, vm, key);
    api_value_free(spec);
    api_value_free(params);
    api_value_free(v);
    pool_record_free(rec);
    free(host);
    free(url);
    return rc;
}

static int vm_start(struct api_call_ctx *call, const struct api_value *params,
                    struct api_value **result_r)
{
    const char *vm = xa_param_str(params, 1);
    bool paused = false;

    if (!vm ||
        api_value_get_bool(api_array_get(params, 2), &paused) < 0)
        return xt_error(call->xt, -EINVAL,
                        "VM.start(session, vm, start_paused, force)");
    if (paused) {
        *result_r = api_failure("NOT_IMPLEMENTED", "VM.start paused", NULL);
        return xt_error(call->xt, -ENOTSUP, "start_paused");
    }
    return do_start(call, vm, NULL, paused, result_r);
}

static int vm_start_on(struct api_call_ctx *call,
                       const struct api_value *params,
                       struct api_value **result_r)
{
    const char *vm = xa_param_str(params, 1);
    const char *host = xa_param_str(params, 2);
    bool paused = false;

    if (!vm || !host ||
        api_value_get_bool(api_array_get(params, 3), &paused) < 0)
        return xt_error(call->xt, -EINVAL,
                        "VM.start_on(session, vm, host, start_paused, "
                        "force)");
    if (paused) {
        *result_r = api_failure("NOT_IMPLEMENTED", "VM.start paused", NULL);
        return xt_error(call->xt, -ENOTSUP, "start_paused");
    }
    return do_start(call, vm, host, paused, result_r);
}

static int do_shutdown(struct api_call_ctx *call,
                       const struct api_value *params, bool hard,
                       struct api_value **result_r)
{
    struct xa_call *xc = xa_call_of(call);
    const char *vm = xa_param_str(params, 1);
    struct pool_db *db = dbof(call);
    struct api_value *p = NULL, *v = NULL;
    char key[POOL_REF_STRLEN + 1], *host = NULL, *url = NULL, *uuid = NULL;
    int rc;

    if (!vm)
        return xt_error(call->xt, -EINVAL, "VM shutdown(session, vm)");
    op_key(call, key);
    rc = claim(call, vm, "Running", hard ? "hard_shutdown" : "clean_shutdown",
               key, result_r);
    if (rc < 0)
        return rc;
    rc = get_str(db, POOL_CLASS_VM, vm, "resident_on", &host);
    rc = rc ?: get_str(db, POOL_CLASS_VM, vm, "uuid", &uuid);
    if (rc < 0)
        goto out;
    if (!pool_ref_is_null(host)) {
        rc = xa_host_url(xc->xa, db, host, &url);
        if (rc < 0)
            goto out;
        /* clean: the guest is asked and must stop by itself within
         * PD_CLEAN_SHUTDOWN_TIMEOUT_S (else the call fails and the VM
         * stays Running); hard: the domain is destroyed. */
        if (!hard && !strcmp(url, xc->xa->self_url)) {
            rc = xa_vm_clean_shutdown_here(xc->xa, call->xt, uuid,
                                           PD_CLEAN_SHUTDOWN_TIMEOUT_S, &v);
            if (v) {
                *result_r = v;      /* the failure to answer */
                v = NULL;
            }
        } else {
            p = api_array();
            api_array_append(p, api_string(uuid));
            if (hard)
                api_array_append(p, api_bool(true));
            else
                api_array_append(p, api_int(PD_CLEAN_SHUTDOWN_TIMEOUT_S));
            rc = xa_host_call(xc->xa, call->xt, url,
                              hard ? "host_local.vm_shutdown"
                                   : "host_local.vm_clean_shutdown", p,
                              HOST_CALL_TIMEOUT_S, &v, result_r);
        }
        if (rc < 0)
            goto out;
    }
    rc = set_running(db, vm, "Halted", POOL_NULL_REF, -1);
    if (rc == 0)
        *result_r = api_void();
out:
    release(call, vm, key);
    api_value_free(v);
    free(host);
    free(url);
    free(uuid);
    return rc;
}

static int vm_clean_shutdown(struct api_call_ctx *call,
                             const struct api_value *params,
                             struct api_value **result_r)
{
    return do_shutdown(call, params, false, result_r);
}

static int vm_hard_shutdown(struct api_call_ctx *call,
                            const struct api_value *params,
                            struct api_value **result_r)
{
    return do_shutdown(call, params, true, result_r);
}

/* ---- migration --------------------------------------------------------- */

/* The checks of VM.assert_can_migrate, without claiming.  *src_r: the
 * VM's host (caller frees). */
static int migrate_check(struct api_call_ctx *call, const char *vm,
                         const char *host, char **src_r,
                         struct api_value **result_r)
{
    struct pool_db *db = dbof(call);
    struct pool_value ops = { 0 };
    int64_t need = 0, avail = 0, enabled = 0;
    char *ps = NULL, *src = NULL, nb[32], ab[32];
    int rc;

    *src_r = NULL;
    rc = get_str(db, POOL_CLASS_VM, vm, "power_state", &ps);
    if (rc == -ENOENT)
        *result_r = api_failure("HANDLE_INVALID", "VM", vm, NULL);
    if (rc < 0)
        return rc;
    if (strcmp(ps, "Running") != 0) {
        *result_r = api_failure("VM_BAD_POWER_STATE", vm, "Running", ps,
                                NULL);
        rc = xt_error(call->xt, -EPERM, "VM %s is %s", vm, ps);
        goto out;
    }
    rc = host_usable(call, host, result_r);
    rc = rc ?: get_int(db, POOL_CLASS_HOST, host, "enabled", &enabled);
    if (rc < 0)
        goto out;
    if (!enabled) {
        *result_r = api_failure("HOST_OFFLINE", host, NULL);
        rc = xt_error(call->xt, -EHOSTDOWN, "host %s is disabled", host);
        goto out;
    }
    rc = get_str(db, POOL_CLASS_VM, vm, "resident_on", &src);
    if (rc < 0)
        goto out;
    if (!strcmp(src, host)) {
        *result_r = api_failure("OPERATION_NOT_ALLOWED",
                                "the VM already runs on that host", NULL);
        rc = xt_error(call->xt, -EPERM, "VM %s already on %s", vm, host);
        goto out;
    }
    rc = get_int(db, POOL_CLASS_VM, vm, "memory_static_max", &need);
    rc = rc ?: get_int(db, POOL_CLASS_HOST, host, "memory_free", &avail);
    if (rc < 0)
        goto out;
    if (avail < need) {
        snprintf(nb, sizeof(nb), "%lld", (long long)need);
        snprintf(ab, sizeof(ab), "%lld", (long long)avail);
        *result_r = api_failure("HOST_NOT_ENOUGH_FREE_MEMORY", nb, ab, NULL);
        rc = xt_error(call->xt, -ENOMEM, "host %s: %s bytes free, %s "
                      "needed", host, ab, nb);
        goto out;
    }
    rc = pool_db_get_field(db, POOL_CLASS_VM, vm, "current_operations",
                           &ops);
    if (rc < 0)
        goto out;
    if (ops.map.n) {
        *result_r = api_failure("OTHER_OPERATION_IN_PROGRESS", "VM", vm,
                                NULL);
        rc = xt_error(call->xt, -EBUSY, "VM %s: operation in progress", vm);
        goto out;
    }
    *src_r = src;
    src = NULL;
out:
    pool_value_clear(&ops);
    free(ps);
    free(src);
    return rc;
}

static int vm_assert_can_migrate(struct api_call_ctx *call,
                                 const struct api_value *params,
                                 struct api_value **result_r)
{
    const char *vm = xa_param_str(params, 1);
    const char *host = xa_param_str(params, 2);
    char *src = NULL;
    int rc;

    if (!vm || !host)
        return xt_error(call->xt, -EINVAL, "VM.assert_can_migrate(session, "
                        "vm, host, options)");
    rc = migrate_check(call, vm, host, &src, result_r);
    free(src);
    if (rc == 0)
        *result_r = api_void();
    return rc;
}

/* The failure envelope of a migration, from the peer's or our error. */
static struct api_value *migrate_failure(struct api_call_ctx *call,
                                         const char *vm, const char *src,
                                         const char *dst,
                                         struct api_value *peer)
{
    const char *code = peer ? api_failure_code(peer) : NULL;
    const struct api_value *d = peer ?
        api_struct_get(peer, "ErrorDescription") : NULL;
    const char *msg = call->xt->err_msg;
    struct api_value *r;

    if (code && !strcmp(code, "TASK_CANCELLED")) {
        api_value_free(peer);
        return api_failure("TASK_CANCELLED", xa_call_of(call)->task ?
                           xa_call_of(call)->task : "", NULL);
    }
    if (code && !strcmp(code, "VM_MIGRATE_FAILED") && d &&
        api_value_string(api_array_get(d, 1)))
        msg = api_value_string(api_array_get(d, 1));
    r = api_failure("VM_MIGRATE_FAILED", vm, src, dst, msg, NULL);
    api_value_free(peer);
    return r;
}

/*
 * The option `network`: the target's address on that network, from the
 * network's other_config "xm:address:<host uuid>".  *addr_r: NULL when no
 * network is given, else the address (caller frees).
 */
static int network_address(struct api_call_ctx *call, const char *vm,
                           const char *src, const char *host,
                           const char *net, char **addr_r,
                           struct api_value **result_r)
{
    struct pool_db *db = dbof(call);
    struct pool_value oc = { 0 };
    char *huuid = NULL, key[XT_UUID_STRLEN + 16], why[512];
    const char *a;
    int rc;

    *addr_r = NULL;
    if (!net)
        return 0;
    rc = pool_db_check_ref(db, POOL_CLASS_NETWORK, net);
    if (rc == -ENOENT)
        *result_r = api_failure("HANDLE_INVALID", "network", net, NULL);
    if (rc < 0)
        return rc;
    rc = get_str(db, POOL_CLASS_HOST, host, "uuid", &huuid);
    rc = rc ?: pool_db_get_field(db, POOL_CLASS_NETWORK, net,
                                 "other_config", &oc);
    if (rc < 0)
        goto out;
    snprintf(key, sizeof(key), "%s%s", POOL_NET_OC_ADDRESS, huuid);
    a = pool_value_map_get(&oc, key);
    if (!a || !*a) {
        snprintf(why, sizeof(why), "network %s has no address for host "
                 "%s (other_config %s)", net, huuid, key);
        *result_r = api_failure("VM_MIGRATE_FAILED", vm, src, host, why,
                                NULL);
        rc = xt_error(call->xt, -EADDRNOTAVAIL, "%s", why);
        goto out;
    }
    *addr_r = strdup(a);
    if (!*addr_r)
        rc = xt_error(call->xt, -ENOMEM, "network address");
out:
    pool_value_clear(&oc);
    free(huuid);
    return rc;
}

static int vm_pool_migrate(struct api_call_ctx *call,
                           const struct api_value *params,
                           struct api_value **result_r)
{
    struct xa_call *xc = xa_call_of(call);
    struct pool_db *db = dbof(call);
    const char *vm = xa_param_str(params, 1);
    const char *host = xa_param_str(params, 2);
    const struct api_value *opts = api_array_get(params, 3);
    struct api_value *p = NULL, *prep = NULL, *res = NULL, *fail = NULL;
    struct api_value *sopts = NULL;
    char key[POOL_REF_STRLEN + 1], *src = NULL, *surl = NULL, *durl = NULL;
    char *uuid = NULL, *murl = NULL, *naddr = NULL;
    int64_t pages = 0, vcpus = 1, domid = -1, port = 0;
    const struct api_value *ov;
    size_t i;
    int rc;

    if (!vm || !host || api_value_type(opts) != API_STRUCT)
        return xt_error(call->xt, -EINVAL, "VM.pool_migrate(session, vm, "
                        "host, options)");
    op_key(call, key);
    rc = migrate_check(call, vm, host, &src, result_r);
    rc = rc ?: network_address(call, vm, src, host,
                               api_value_string(api_struct_get(opts,
                                                               "network")),
                               &naddr, result_r);
    if (rc < 0)
        goto out_noclaim;
    rc = claim(call, vm, "Running", "pool_migrate", key, result_r);
    if (rc < 0)
        goto out_noclaim;
    if (xc->task) {
        struct pool_value oc = { .type = POOL_FT_MAP };
        pool_value_map_put(&oc, "xm:vm", vm);
        pool_value_map_put(&oc, "xm:source", src);
        pool_value_map_put(&oc, "xm:destination", host);
        pool_db_set_field(db, POOL_CLASS_TASK, xc->task, "other_config",
                          &oc, POOL_DB_INTERNAL);
        pool_value_clear(&oc);
    }
    rc = get_str(db, POOL_CLASS_VM, vm, "uuid", &uuid);
    rc = rc ?: get_int(db, POOL_CLASS_VM, vm, "memory_static_max", &pages);
    rc = rc ?: get_int(db, POOL_CLASS_VM, vm, "VCPUs_max", &vcpus);
    rc = rc ?: xa_host_url(xc->xa, db, src, &surl);
    rc = rc ?: xa_host_url(xc->xa, db, host, &durl);
    if (rc < 0)
        goto out;
    p = api_array();
    api_array_append(p, api_string(uuid));
    api_array_append(p, api_int(pages / HV_PAGE_SIZE));
    api_array_append(p, api_int(vcpus));
    if (naddr)
        api_array_append(p, api_string(naddr));
    rc = xa_host_call(xc->xa, call->xt, durl, "host_local.migrate_prepare",
                      p, HOST_CALL_TIMEOUT_S, &prep, &fail);
    p = NULL;
    if (rc < 0) {
        *result_r = migrate_failure(call, vm, src, host, fail);
        fail = NULL;
        goto out;
    }
    xa_task_progress(xc->xa, db, xc->task, 0.05);
    api_value_get_int64(api_struct_get(prep, "port"), &port);
    /* The client's options the source acts on; the rest are ours. */
    sopts = api_struct();
    for (i = 0; i < api_value_count(opts); i++) {
        const char *k = api_struct_key(opts, i);

        ov = api_struct_value(opts, i);
        if ((!strcmp(k, "live") || !strcmp(k, "compress")) &&
            (api_value_type(ov) == API_STRING ||
             api_value_type(ov) == API_BOOL))
            api_struct_add(sopts, k, api_value_copy(ov));
    }
    if (xc->task)
        api_struct_add(sopts, "master_url", api_string(xc->xa->self_url));
    /* The destination's key: the source pins it on the channel.  The
     * answer came over the master's pinned channel to that host. */
    api_struct_add(sopts, "pin",
                   api_value_copy(api_struct_get(prep, "pin")));
    p = api_array();
    api_array_append(p, api_string(xc->task ? xc->task : key));
    api_array_append(p, api_string(uuid));
    api_array_append(p, api_value_copy(api_struct_get(prep, "address")));
    api_array_append(p, api_int(port));
    api_array_append(p, api_value_copy(api_struct_get(prep, "token")));
    api_array_append(p, sopts);
    sopts = NULL;
    rc = xa_host_call(xc->xa, call->xt, surl, "host_local.migrate_send", p,
                      MIGRATE_TIMEOUT_S, &res, &fail);
    p = NULL;
    if (rc < 0) {
        *result_r = migrate_failure(call, vm, src, host, fail);
        fail = NULL;
        if (api_failure_code(*result_r) &&
            !strcmp(api_failure_code(*result_r), "TASK_CANCELLED"))
            rc = -ECANCELED;
        goto out;
    }
    api_value_get_int64(api_struct_get(res, "dst_domid"), &domid);
    rc = set_running(db, vm, "Running", host, domid);
    if (rc < 0)
        goto out;
    *result_r = api_string(api_value_string(api_struct_get(res, "stats")));
out:
    release(call, vm, key);
out_noclaim:
    api_value_free(p);
    api_value_free(prep);
    api_value_free(res);
    api_value_free(fail);
    api_value_free(sopts);
    free(src);
    free(surl);
    free(durl);
    free(uuid);
    free(murl);
    free(naddr);
    return rc;
}

/* ---- task.cancel ------------------------------------------------------- */

static int task_cancel(struct api_call_ctx *call,
                       const struct api_value *params,
                       struct api_value **result_r)
{
    struct xa_call *xc = xa_call_of(call);
    struct pool_db *db = dbof(call);
    const char *task = xa_param_str(params, 1);
    struct pool_value oc = { 0 }, st = { 0 };
    struct api_value *p, *v = NULL;
    const char *src;
    char *url = NULL;
    int rc;

    if (!task)
        return xt_error(call->xt, -EINVAL, "task.cancel(session, task)");
    rc = pool_db_get_field(db, POOL_CLASS_TASK, task, "status", &st);
    if (rc == -ENOENT)
        *result_r = api_failure("HANDLE_INVALID", "task", task, NULL);
    if (rc < 0)
        return rc;
    rc = pool_db_get_field(db, POOL_CLASS_TASK, task, "other_config", &oc);
    if (rc < 0)
        goto out;
    src = pool_value_map_get(&oc, "xm:source");
    if (strcmp(st.s, "pending") != 0 || !src) {
        *result_r = api_failure("OPERATION_NOT_ALLOWED",
                                "only a pending VM.pool_migrate task can be "
                                "cancelled", NULL);
        rc = xt_error(call->xt, -EPERM, "task %s cannot be cancelled", task);
        goto out;
    }
    pool_db_set_field(db, POOL_CLASS_TASK, task, "status",
                      &POOL_V_ENUM("cancelling"), POOL_DB_INTERNAL);
    rc = xa_host_url(xc->xa, db, src, &url);
    if (rc < 0)
        goto out;
    p = api_array();
    api_array_append(p, api_string(task));
    rc = xa_host_call(xc->xa, call->xt, url, "host_local.migrate_cancel", p,
                      HOST_CALL_TIMEOUT_S, &v, NULL);
    if (rc == 0)
        *result_r = api_void();
out:
    api_value_free(v);
    pool_value_clear(&oc);
    pool_value_clear(&st);
    free(url);
    return rc;
}

const struct api_method xa_vm_methods[] = {
    { "VM.create", 2, 0, API_METHOD_NO_ASYNC, vm_create },
    { "VM.destroy", 2, 0, API_METHOD_NO_ASYNC, vm_destroy },
    { "VM.start", 4, 0, 0, vm_start },
    { "VM.start_on", 5, 0, 0, vm_start_on },
    { "VM.clean_shutdown", 2, 0, 0, vm_clean_shutdown },
    { "VM.hard_shutdown", 2, 0, 0, vm_hard_shutdown },
    /* the resident host's side of VM.clean_shutdown (pd_shutdown.c) */
    { "host_local.vm_clean_shutdown", 3, 0, API_METHOD_NO_ASYNC,
      xa_host_vm_clean_shutdown },
    { "VM.assert_can_migrate", 4, 0, 0, vm_assert_can_migrate },
    { "VM.pool_migrate", 4, 0, 0, vm_pool_migrate },
    { "task.cancel", 2, 0, API_METHOD_NO_ASYNC, task_cancel },
    { NULL },
};
