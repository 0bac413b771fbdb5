/*
 * pd_methods_vm.c - VM.* on the master: create, destroy, start / start_on,
 * shutdown (docs/design/pool.md), and the helpers other VM methods share
 * (claiming a VM for an operation, its runtime fields).  The migration
 * methods are in pd_migrate.c.
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

static struct pool_db *dbof(struct api_call_ctx *call)
{
    return xa_call_of(call)->db;
}

void xa_op_key(struct api_call_ctx *call, char key[POOL_REF_STRLEN + 1])
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

int xa_field_str(struct pool_db *db, enum pool_class_id c, const char *ref,
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

int xa_field_int(struct pool_db *db, enum pool_class_id c, const char *ref,
                 const char *field, int64_t *i_r)
{
    struct pool_value v = { 0 };
    int rc = pool_db_get_field(db, c, ref, field, &v);

    if (rc == 0)
        *i_r = v.type == POOL_FT_BOOL ? v.b : v.i;
    pool_value_clear(&v);
    return rc;
}

/* OTHER_OPERATION_IN_PROGRESS when an operation runs on vm, or (with
 * migrating) when a migration record is left on it. */
static int check_idle(struct api_call_ctx *call, const char *vm,
                      bool migrating, struct api_value **result_r)
{
    struct pool_db *db = dbof(call);
    struct pool_value ops = { 0 }, oc = { 0 };
    const char *mig;
    int rc;

    rc = pool_db_get_field(db, POOL_CLASS_VM, vm, "current_operations",
                           &ops);
    rc = rc ?: pool_db_get_field(db, POOL_CLASS_VM, vm, "other_config", &oc);
    if (rc == -ENOENT)
        *result_r = api_failure("HANDLE_INVALID", "VM", vm, NULL);
    if (rc < 0)
        goto out;
    mig = pool_value_map_get(&oc, XA_MIG_STATE);
    if (ops.map.n || (migrating && mig)) {
        *result_r = api_failure("OTHER_OPERATION_IN_PROGRESS", "VM", vm,
                                NULL);
        rc = xt_error(call->xt, -EBUSY, "VM %s: %s in progress", vm,
                      ops.map.n ? ops.map.vals[0] : "a migration's cleanup");
    }
out:
    pool_value_clear(&ops);
    pool_value_clear(&oc);
    return rc;
}

int xa_vm_claim(struct api_call_ctx *call, const char *vm, const char *want,
                const char *op, const char *key,
                const struct pool_value *record, const char *host,
                struct api_value **result_r)
{
    struct pool_db *db = dbof(call);
    char *ps = NULL;
    size_t i;
    int rc;

    rc = pool_db_begin(db);
    if (rc < 0)
        return rc;
    /* An operation in progress first: while a migration's outcome is
     * unknown, every other operation hears that, whatever the state. */
    rc = check_idle(call, vm, record != NULL, result_r);
    if (rc == 0 && xa_is_control_domain(db, vm)) {
        *result_r = api_failure("OPERATION_NOT_ALLOWED", "a control domain "
                                "is its host: it takes no VM operation",
                                NULL);
        rc = xt_error(call->xt, -EPERM, "VM %s is a control domain", vm);
    }
    rc = rc ?: xa_field_str(db, POOL_CLASS_VM, vm, "power_state", &ps);
    if (rc < 0)
        goto fail;
    if (want && strcmp(ps, want) != 0) {
        *result_r = api_failure("VM_BAD_POWER_STATE", vm, want, ps, NULL);
        rc = xt_error(call->xt, -EPERM, "VM %s is %s", vm, ps);
        goto fail;
    }
    if (host)
        rc = xa_mem_reserve(call, db, vm, host, result_r);
    rc = rc ?: pool_db_map_put(db, POOL_CLASS_VM, vm, "current_operations",
                               key, op, POOL_DB_INTERNAL);
    for (i = 0; rc == 0 && record && i < record->map.n; i++)
        rc = pool_db_map_put(db, POOL_CLASS_VM, vm, "other_config",
                             record->map.keys[i], record->map.vals[i],
                             POOL_DB_INTERNAL);
    rc = rc ?: pool_db_commit(db);
    if (rc < 0)
        goto fail;
    free(ps);
    return 0;
fail:
    pool_db_rollback(db);
    free(ps);
    return rc;
}

static void release(struct api_call_ctx *call, const char *vm,
                    const char *key)
{
    pool_db_map_remove(dbof(call), POOL_CLASS_VM, vm, "current_operations",
                       key, POOL_DB_INTERNAL);
}

int xa_vm_set_running(struct pool_db *db, const char *vm, const char *state,
                      const char *host, int64_t domid)
{
    bool halted = !strcmp(state, "Halted"), was = false;
    char *before = NULL;
    int rc;

    /* A start attaches every disk, a halt detaches them; a VM that keeps
     * running (a migration) keeps the ones it has plugged. */
    rc = xa_field_str(db, POOL_CLASS_VM, vm, "power_state", &before);
    if (rc == 0)
        was = !strcmp(before, "Halted");
    free(before);
    rc = rc ?: pool_db_set_field(db, POOL_CLASS_VM, vm, "power_state",
                                 &POOL_V_ENUM(state), POOL_DB_INTERNAL);
    rc = rc ?: pool_db_set_field(db, POOL_CLASS_VM, vm, "resident_on",
                                 &POOL_V_REF(host), POOL_DB_INTERNAL);
    rc = rc ?: pool_db_set_field(db, POOL_CLASS_VM, vm, "domid",
                                 &POOL_V_INT(domid), POOL_DB_INTERNAL);
    /* Landed (or halted): what was reserved for it is its own now. */
    if (rc == 0)
        xa_mem_release(db, vm);
    if (rc == 0 && (halted || was))
        rc = xa_vbds_attach(db, vm, !halted);
    return rc ?: xa_vm_metrics_sync(db, vm, was && !halted);
}

/* Sets the VM's runtime fields in one transaction. */
static int set_running(struct pool_db *db, const char *vm, const char *state,
                       const char *host, int64_t domid)
{
    int rc = pool_db_begin(db);

    if (rc < 0)
        return rc;
    rc = xa_vm_set_running(db, vm, state, host, domid);
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
    rc = rc ?: xa_vm_metrics_sync(dbof(call), ref, false);
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
    xa_op_key(call, key);
    rc = xa_vm_claim(call, vm, "Halted", "destroy", key, NULL, NULL,
                     result_r);
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

int xa_host_usable(struct api_call_ctx *call, const char *host,
                   struct api_value **result_r)
{
    int64_t live = 0;
    int rc = xa_field_int(dbof(call), POOL_CLASS_HOST, host, "live", &live);

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

/* VM.other_config keys handed to the host agent's vm_start as spec
 * members. */
static const struct {
    const char *oc, *member;
} boot_keys[] = {
    { POOL_VM_OC_KERNEL, "kernel" },
    { POOL_VM_OC_CMDLINE, "cmdline" },
    { POOL_VM_OC_RAMDISK, "ramdisk" },
    { POOL_VM_OC_GUEST_TYPE, "guest_type" },
};

void xa_vdi_in_use_ref(struct pool_db *db, struct api_value **fail,
                       const char *op)
{
    const struct api_value *desc = api_struct_get(*fail, "ErrorDescription");
    const char *code = *fail ? api_failure_code(*fail) : NULL;
    struct pool_strv refs = { 0 };

    if (!code || strcmp(code, "VDI_IN_USE") != 0)
        return;
    if (pool_db_find(db, POOL_CLASS_VDI, "uuid", &POOL_V_STR(
            api_value_string(api_array_get(desc, 1)) ?: ""), &refs) == 0 &&
        refs.n == 1) {
        api_value_free(*fail);
        *fail = api_failure("VDI_IN_USE", refs.v[0], op, NULL);
    }
    pool_strv_free(&refs);
}

/* Whether vm may boot on host now: live (HOST_OFFLINE), enabled
 * (HOST_DISABLED), its memory free (HOST_NOT_ENOUGH_FREE_MEMORY), its
 * disks there and free (VM_REQUIRES_SR, VDI_IN_USE). */
static int boot_check(struct api_call_ctx *call, const char *vm,
                      const char *host, struct api_value **result_r)
{
    struct pool_db *db = dbof(call);
    struct api_value *disks = NULL;
    int64_t enabled = 0;
    int rc = xa_host_usable(call, host, result_r);

    rc = rc ?: xa_field_int(db, POOL_CLASS_HOST, host, "enabled", &enabled);
    if (rc < 0)
        return rc;
    if (!enabled) {
        *result_r = api_failure("HOST_DISABLED", host, NULL);
        return xt_error(call->xt, -EPERM, "host %s is disabled", host);
    }
    rc = xa_mem_check(call, db, vm, host, result_r);
    rc = rc ?: xa_vm_disks(call, vm, host, true, NULL, &disks, result_r);
    api_value_free(disks);
    return rc;
}

struct cand {
    char *ref;
    int64_t fr;
};

static int by_free(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;

    return x->fr != y->fr ? (x->fr > y->fr ? -1 : 1) : strcmp(x->ref, y->ref);
}

/* The hosts vm may boot on (boot_check), the most memory free first;
 * out->v's strings are all's. */
static int possible_hosts(struct api_call_ctx *call, const char *vm,
                          struct pool_strv *all, struct pool_strv *out)
{
    struct pool_db *db = dbof(call);
    struct cand *c;
    size_t i, n = 0;
    int rc = pool_db_get_all(db, POOL_CLASS_HOST, all);

    memset(out, 0, sizeof(*out));
    c = calloc(all->n ? all->n : 1, sizeof(*c));
    out->v = calloc(all->n ? all->n : 1, sizeof(*out->v));
    if (rc == 0 && (!c || !out->v))
        rc = xt_error(call->xt, -ENOMEM, "out of memory");
    for (i = 0; rc == 0 && i < all->n; i++) {
        struct api_value *f = NULL;

        if (boot_check(call, vm, all->v[i], &f) == 0)
            c[n++] = (struct cand){ all->v[i],
                                    xa_host_free(db, all->v[i], vm) };
        api_value_free(f);
        xt_error_clear(call->xt);
    }
    if (rc == 0 && n)
        qsort(c, n, sizeof(*c), by_free);
    for (i = 0; rc == 0 && i < n; i++)
        out->v[out->n++] = c[i].ref;
    free(c);
    return rc;
}

/* Where VM.start without a host boots vm: its affinity, else this host,
 * else the possible host with most memory free.  When none may, the
 * first choice's failure. */
static int start_host(struct api_call_ctx *call, const char *vm,
                      const char *aff, char **host_r,
                      struct api_value **result_r)
{
    struct xa_call *xc = xa_call_of(call);
    struct pool_strv all = { 0 }, ok = { 0 };
    char *first = NULL;
    int rc;

    *host_r = NULL;
    if (aff && !pool_ref_is_null(aff))
        first = strdup(aff);
    else if ((rc = xa_self_host(xc->xa, dbof(call), &first)) < 0)
        return rc;
    if (!first)
        return xt_error(call->xt, -ENOMEM, "out of memory");
    rc = boot_check(call, vm, first, result_r);
    if (rc == 0) {
        *host_r = first;
        return 0;
    }
    if (possible_hosts(call, vm, &all, &ok) == 0 && ok.n) {
        api_value_free(*result_r);
        *result_r = NULL;
        xt_error_clear(call->xt);
        *host_r = strdup(ok.v[0]);
        rc = *host_r ? 0 : xt_error(call->xt, -ENOMEM, "out of memory");
    }
    free(ok.v);
    pool_strv_free(&all);
    free(first);
    return rc;
}

/* vm's memory reserved on host, in a transaction of its own. */
static int start_reserve(struct api_call_ctx *call, const char *vm,
                         const char *host, struct api_value **result_r)
{
    struct pool_db *db = dbof(call);
    int rc = pool_db_begin(db);

    rc = rc ?: xa_mem_reserve(call, db, vm, host, result_r);
    rc = rc ?: pool_db_commit(db);
    if (rc < 0)
        pool_db_rollback(db);
    return rc;
}

static int do_start(struct api_call_ctx *call, const char *vm,
                    const char *host_arg, bool paused,
                    struct api_value **result_r)
{
    struct xa_call *xc = xa_call_of(call);
    struct pool_db *db = dbof(call);
    struct pool_record *rec = NULL;
    struct api_value *spec = NULL, *params = NULL, *v = NULL;
    struct api_value *disks = NULL;
    const struct pool_value *oc, *aff;
    char key[POOL_REF_STRLEN + 1], *host = NULL, *url = NULL;
    int64_t domid = -1;
    size_t i;
    int rc;

    xa_op_key(call, key);
    rc = xa_vm_claim(call, vm, "Halted", "start", key, NULL, NULL, result_r);
    if (rc < 0)
        return rc;
    rc = pool_db_get_record(db, POOL_CLASS_VM, vm, &rec);
    if (rc < 0)
        goto out;
    aff = pool_record_get(rec, "affinity");
    if (host_arg && !(host = strdup(host_arg)))
        rc = xt_error(call->xt, -ENOMEM, "start");
    else if (host_arg)
        rc = boot_check(call, vm, host, result_r);
    else
        rc = start_host(call, vm, aff ? aff->s : NULL, &host, result_r);
    rc = rc ?: start_reserve(call, vm, host, result_r);
    rc = rc ?: xa_host_url(xc->xa, db, host, &url);
    if (rc < 0)
        goto out;
    oc = pool_record_get(rec, "other_config");
    rc = xa_vm_disks(call, vm, host, true, NULL, &disks, result_r);
    if (rc < 0)
        goto out;
    spec = api_struct();
    rc = api_struct_add(spec, "disks", disks);
    disks = NULL;
    rc = rc ?: api_struct_add(spec, "name",
                        api_string(pool_record_get(rec, "name_label")->s));
    rc = rc ?: api_struct_add(spec, "memory", api_int(
            pool_record_get(rec, "memory_static_max")->i));
    rc = rc ?: api_struct_add(spec, "vcpus", api_int(
            pool_record_get(rec, "VCPUs_max")->i));
    for (i = 0; !rc && i < sizeof(boot_keys) / sizeof(boot_keys[0]); i++)
        if (pool_value_map_get(oc, boot_keys[i].oc))
            rc = api_struct_add(spec, boot_keys[i].member, api_string(
                    pool_value_map_get(oc, boot_keys[i].oc)));
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
    /* Checked, not yet asked: a test races another start here. */
    xt_fault(call->xt, "pd.vm-start.checked");
    rc = xa_host_call(xc->xa, call->xt, url, "host_local.vm_start", params,
                      HOST_CALL_TIMEOUT_S, &v, result_r);
    params = NULL;
    if (rc < 0) {
        xa_vdi_in_use_ref(db, result_r, "start");
        goto out;
    }
    api_value_get_int64(v, &domid);
    /* xm-pool has no paused boot yet: start_paused is refused above the
     * driver rather than ignored. */
    rc = set_running(db, vm, "Running", host, domid);
    if (rc < 0)
        goto out;
    *result_r = api_void();
out:
    (void)paused;
    if (rc < 0)
        xa_mem_release(db, vm);
    release(call, vm, key);
    api_value_free(spec);
    api_value_free(disks);
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
    xa_op_key(call, key);
    rc = xa_vm_claim(call, vm, "Running",
                     hard ? "hard_shutdown" : "clean_shutdown", key, NULL,
                     NULL, result_r);
    if (rc < 0)
        return rc;
    rc = xa_field_str(db, POOL_CLASS_VM, vm, "resident_on", &host);
    rc = rc ?: xa_field_str(db, POOL_CLASS_VM, vm, "uuid", &uuid);
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

/* VM.assert_can_boot_here(session, vm, host) */
static int vm_assert_can_boot_here(struct api_call_ctx *call,
                                   const struct api_value *params,
                                   struct api_value **result_r)
{
    const char *vm = xa_param_str(params, 1);
    const char *host = xa_param_str(params, 2);
    int rc;

    if (!vm || !host)
        return xt_error(call->xt, -EINVAL, "VM.assert_can_boot_here("
                        "session, vm, host)");
    if (pool_db_check_ref(dbof(call), POOL_CLASS_VM, vm) < 0) {
        *result_r = api_failure("HANDLE_INVALID", "VM", vm, NULL);
        return xt_error(call->xt, -ENOENT, "no VM %s", vm);
    }
    rc = boot_check(call, vm, host, result_r);
    if (rc == 0)
        *result_r = api_void();
    return rc;
}

/* VM.get_possible_hosts(session, vm): the most memory free first. */
static int vm_get_possible_hosts(struct api_call_ctx *call,
                                 const struct api_value *params,
                                 struct api_value **result_r)
{
    const char *vm = xa_param_str(params, 1);
    struct pool_strv all = { 0 }, ok = { 0 };
    size_t i;
    int rc;

    if (!vm)
        return xt_error(call->xt, -EINVAL, "VM.get_possible_hosts("
                        "session, vm)");
    if (pool_db_check_ref(dbof(call), POOL_CLASS_VM, vm) < 0) {
        *result_r = api_failure("HANDLE_INVALID", "VM", vm, NULL);
        return xt_error(call->xt, -ENOENT, "no VM %s", vm);
    }
    rc = possible_hosts(call, vm, &all, &ok);
    if (rc == 0) {
        *result_r = api_array();
        for (i = 0; i < ok.n; i++)
            api_array_append(*result_r, api_string(ok.v[i]));
    }
    free(ok.v);
    pool_strv_free(&all);
    return rc;
}

const struct api_method xa_vm_methods[] = {
    { "VM.assert_can_boot_here", 3, 0, 0, vm_assert_can_boot_here },
    { "VM.get_possible_hosts", 2, 0, 0, vm_get_possible_hosts },
    { "VM.create", 2, 0, API_METHOD_NO_ASYNC, vm_create },
    { "VM.destroy", 2, 0, API_METHOD_NO_ASYNC, vm_destroy },
    { "VM.start", 4, 0, 0, vm_start },
    { "VM.start_on", 5, 0, 0, vm_start_on },
    { "VM.clean_shutdown", 2, 0, 0, vm_clean_shutdown },
    { "VM.hard_shutdown", 2, 0, 0, vm_hard_shutdown },
    { NULL },
};
