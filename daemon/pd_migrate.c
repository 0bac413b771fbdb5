/*
 * pd_migrate.c - VM.assert_can_migrate, VM.pool_migrate and task.cancel
 * on the master (docs/design/pool.md, "VM.pool_migrate").
 *
 * A migration is claimed in one transaction with its record (the VM's
 * other_config xm:migration*, pd_settle.c), so that a restarted master
 * knows what it was doing.  The source is told to start only once the
 * record says "sending"; from then on only a positive answer ends the
 * migration: a lost one is unknown, and pd_settle.c asks both hosts until
 * it knows.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hv.h"
#include "pd_xenapi.h"

#define HOST_CALL_TIMEOUT_S   60
/* migrate_send answers once the sender thread runs. */
#define SEND_TIMEOUT_S        30

/* One VM.pool_migrate on the master. */
struct migration {
    struct xa_pm pm;
    char *surl, *durl;          /* the hosts' URLs */
    char *naddr;                /* the target's address on `network` */
    int64_t pages, vcpus;
    struct api_value *disks;    /* the VM's disks on the target */
    struct api_value *prep;     /* migrate_prepare's answer */
    const struct api_value *vdi_map;    /* disks moved with it, or NULL */
    struct xa_sxm_opts so;      /* their mirrors' options */
    struct xa_sxm *sxm;         /* their motion (pd_motion.c) */
    struct xa_xpool *xp;        /* to another pool (pd_xpool.c), or NULL */
    bool rollback;              /* an evacuation's rollback: its own
                                 * disabled host may take the VM */
};

static struct pool_db *dbof(struct api_call_ctx *call)
{
    return xa_call_of(call)->db;
}

static void migration_clear(struct migration *m)
{
    free(m->surl);
    free(m->durl);
    free(m->naddr);
    api_value_free(m->disks);
    api_value_free(m->prep);
    xa_sxm_free(m->sxm);
}

/* ---- checks ------------------------------------------------------------ */

/* OTHER_OPERATION_IN_PROGRESS while an operation runs on vm or the last
 * migration's record is still there. */
static int check_idle(struct api_call_ctx *call, const char *vm,
                      struct api_value **result_r)
{
    struct pool_db *db = dbof(call);
    struct pool_value ops = { 0 }, oc = { 0 };
    int rc;

    rc = pool_db_get_field(db, POOL_CLASS_VM, vm, "current_operations",
                           &ops);
    rc = rc ?: pool_db_get_field(db, POOL_CLASS_VM, vm, "other_config", &oc);
    if (rc == -ENOENT)
        *result_r = api_failure("HANDLE_INVALID", "VM", vm, NULL);
    if (rc == 0 && xa_is_control_domain(db, vm)) {
        *result_r = api_failure("OPERATION_NOT_ALLOWED", "a control domain "
                                "is its host: it does not migrate", NULL);
        rc = xt_error(call->xt, -EPERM, "VM %s is a control domain", vm);
    } else if (rc == 0 &&
               (ops.map.n || pool_value_map_get(&oc, XA_MIG_STATE))) {
        *result_r = api_failure("OTHER_OPERATION_IN_PROGRESS", "VM", vm,
                                NULL);
        rc = xt_error(call->xt, -EBUSY, "VM %s: operation in progress", vm);
    }
    pool_value_clear(&ops);
    pool_value_clear(&oc);
    return rc;
}

/* The target: live, enabled (disabled_ok: or disabled, an evacuation's
 * rollback), not the VM's host, with the VM's memory free. */
static int check_target(struct api_call_ctx *call, const char *vm,
                        const char *host, const char *src, bool disabled_ok,
                        struct api_value **result_r)
{
    struct pool_db *db = dbof(call);
    int64_t enabled = 0;
    int rc;

    rc = xa_host_usable(call, host, result_r);
    rc = rc ?: xa_field_int(db, POOL_CLASS_HOST, host, "enabled", &enabled);
    if (rc < 0)
        return rc;
    if (!enabled && !disabled_ok) {
        *result_r = api_failure("HOST_OFFLINE", host, NULL);
        return xt_error(call->xt, -EHOSTDOWN, "host %s is disabled", host);
    }
    if (!strcmp(src, host)) {
        *result_r = api_failure("OPERATION_NOT_ALLOWED",
                                "the VM already runs on that host", NULL);
        return xt_error(call->xt, -EPERM, "VM %s already on %s", vm, host);
    }
    rc = xa_mem_check(call, db, vm, host, result_r);
    if (rc < 0)
        return rc;
    /* A rolling upgrade: never to an older version. */
    return xa_upgrade_check_target(call, src, host, result_r);
}

/* The checks of VM.assert_can_migrate, without claiming.  *src_r: the
 * VM's host (caller frees); *disks_r (if not NULL): its disks as the
 * target reaches them (VM_REQUIRES_SR if it cannot: a disk on a local
 * SR moves with storage migration, not with the VM); disabled_ok: see
 * check_target. */
static int migrate_check(struct api_call_ctx *call, const char *vm,
                         const char *host, const struct api_value *vdi_map,
                         bool disabled_ok, char **src_r,
                         struct api_value **disks_r,
                         struct api_value **result_r)
{
    struct pool_db *db = dbof(call);
    struct api_value *disks = NULL;
    char *ps = NULL, *src = NULL;
    int rc;

    *src_r = NULL;
    rc = check_idle(call, vm, result_r);
    rc = rc ?: xa_field_str(db, POOL_CLASS_VM, vm, "power_state", &ps);
    if (rc < 0)
        return rc;
    if (strcmp(ps, "Running") != 0) {
        *result_r = api_failure("VM_BAD_POWER_STATE", vm, "Running", ps,
                                NULL);
        rc = xt_error(call->xt, -EPERM, "VM %s is %s", vm, ps);
        goto out;
    }
    rc = xa_field_str(db, POOL_CLASS_VM, vm, "resident_on", &src);
    rc = rc ?: check_target(call, vm, host, src, disabled_ok, result_r);
    rc = rc ?: xa_vm_disks(call, vm, host, false, vdi_map, &disks,
                           result_r);
    if (rc < 0)
        goto out;
    *src_r = src;
    src = NULL;
    if (disks_r) {
        *disks_r = disks;
        disks = NULL;
    }
out:
    api_value_free(disks);
    free(ps);
    free(src);
    return rc;
}

/* ---- prechecks: every failure at once, and the plan ------------------- */

/* Whether host has plugged sr. */
static bool sr_on(struct pool_db *db, const char *sr, const char *host)
{
    char *pbd = NULL;
    bool on = xa_pbd_on(db, sr, host, &pbd) == 0 && pbd;

    free(pbd);
    return on;
}

void xa_add_failure(struct api_call_ctx *call, struct api_value *fails,
                    struct api_value *f)
{
    const struct api_value *d;

    if (!f)
        f = api_failure_errno(call->xt->err_rc ? call->xt->err_rc : -EIO,
                              call->xt->err_msg);
    d = api_struct_get(f, "ErrorDescription");
    if (d)
        api_array_append(fails, api_value_copy(d));
    api_value_free(f);
    xt_error_clear(call->xt);
}

struct api_value *xa_sr_full(struct pool_db *db, const char *sr, int64_t size)
{
    int64_t psize = 0, used = 0;
    char a[32], b[32];

    if (xa_field_int(db, POOL_CLASS_SR, sr, "physical_size", &psize) < 0 ||
        xa_field_int(db, POOL_CLASS_SR, sr, "physical_utilisation",
                     &used) < 0 || psize <= 0 || psize - used >= size)
        return NULL;
    snprintf(a, sizeof(a), "%lld", (long long)size);
    snprintf(b, sizeof(b), "%lld", (long long)(psize - used));
    return api_failure("SR_FULL", a, b, NULL);
}

int xa_net_address(struct pool_db *db, const char *net, const char *host,
                   char **addr_r)
{
    struct pool_value oc = { 0 };
    char *huuid = NULL, key[XT_UUID_STRLEN + 16];
    const char *a;
    int rc;

    *addr_r = NULL;
    rc = xa_field_str(db, POOL_CLASS_HOST, host, "uuid", &huuid);
    rc = rc ?: pool_db_get_field(db, POOL_CLASS_NETWORK, net, "other_config",
                                 &oc);
    if (rc == 0) {
        snprintf(key, sizeof(key), "%s%s", POOL_NET_OC_ADDRESS, huuid);
        a = pool_value_map_get(&oc, key);
        if (a && *a && !(*addr_r = strdup(a)))
            rc = -ENOMEM;
    }
    pool_value_clear(&oc);
    free(huuid);
    return rc;
}

struct api_value *xa_failure_of_desc(const struct api_value *d)
{
    const char *p[16];
    size_t n = api_value_count(d), i;

    for (i = 1; i < n && i <= 16; i++)
        p[i - 1] = api_value_string(api_array_get(d, i)) ?: "";
    return api_failure_array(api_value_string(api_array_get(d, 0)) ?: "?",
                             p, i - 1);
}

/* One disk of the plan: where it is and where it goes; its failures into
 * fails (to another pool, fails is NULL: that pool checks its SRs). */
static struct api_value *plan_disk(struct api_call_ctx *call, const char *vm,
                                   const char *vbd, const char *host,
                                   const struct api_value *vdi_map,
                                   struct api_value *fails)
{
    struct pool_db *db = dbof(call);
    char *vdi = NULL, *ud = NULL, *sr = NULL;
    const char *to;
    struct api_value *d = api_struct(), *full;
    int64_t size = 0;

    xa_field_str(db, POOL_CLASS_VBD, vbd, "VDI", &vdi);
    xa_field_str(db, POOL_CLASS_VBD, vbd, "userdevice", &ud);
    if (!vdi || pool_ref_is_null(vdi) ||
        xa_field_str(db, POOL_CLASS_VDI, vdi, "SR", &sr) < 0)
        goto out;
    xa_field_int(db, POOL_CLASS_VDI, vdi, "virtual_size", &size);
    to = api_value_string(api_struct_get(vdi_map, vdi));
    if (!to)
        to = sr;
    api_struct_add(d, "device", api_string(ud ? ud : "?"));
    api_struct_add(d, "VDI", api_string(vdi));
    api_struct_add(d, "SR", api_string(sr));
    api_struct_add(d, "to_SR", api_string(to));
    api_struct_add(d, "moves", api_bool(strcmp(to, sr) != 0));
    if (!fails)
        goto out;
    if (!sr_on(db, to, host))
        xa_add_failure(call, fails, api_failure("VM_REQUIRES_SR", vm, to,
                                             NULL));
    if (strcmp(to, sr) != 0 && (full = xa_sr_full(db, to, size)))
        xa_add_failure(call, fails, full);
out:
    free(vdi);
    free(ud);
    free(sr);
    return d;
}

/*
 * Every check of a migration of vm to host with vdi_map, none stopping
 * at the first: *fails_r an array of [code, params...] (empty: it can
 * go), *plan_r one entry per disk { device, VDI, SR, to_SR, moves }.
 * No side effect anywhere.
 */
static int precheck(struct api_call_ctx *call, const char *vm,
                    const char *host, const struct api_value *vdi_map,
                    const struct xa_xpool *xp, struct api_value **fails_r,
                    struct api_value **plan_r)
{
    struct pool_db *db = dbof(call);
    struct api_value *fails = api_array(), *plan = api_array(), *f = NULL;
    struct pool_strv vbds = { 0 };
    char *ps = NULL, *src = NULL;
    size_t i;
    int rc;

    if (check_idle(call, vm, &f) < 0)
        xa_add_failure(call, fails, f);
    f = NULL;
    rc = xa_field_str(db, POOL_CLASS_VM, vm, "power_state", &ps);
    rc = rc ?: xa_field_str(db, POOL_CLASS_VM, vm, "resident_on", &src);
    if (rc < 0)
        goto out;
    if (strcmp(ps, "Running") != 0)
        xa_add_failure(call, fails, api_failure("VM_BAD_POWER_STATE", vm,
                                             "Running", ps, NULL));
    if (xp) {
        char *s2 = NULL;

        rc = xa_xpool_check(call, xp, vm, vdi_map, &s2, fails);
        free(s2);
    } else if (check_target(call, vm, host, src, false, &f) < 0) {
        xa_add_failure(call, fails, f);
    }
    rc = rc ?: pool_db_find(db, POOL_CLASS_VBD, "VM", &POOL_V_REF(vm),
                            &vbds);
    for (i = 0; rc == 0 && i < vbds.n; i++) {
        int64_t att = 0;

        xa_field_int(db, POOL_CLASS_VBD, vbds.v[i], "currently_attached",
                     &att);
        if (att)
            api_array_append(plan, plan_disk(call, vm, vbds.v[i], host,
                                             vdi_map, xp ? NULL : fails));
    }
out:
    pool_strv_free(&vbds);
    free(ps);
    free(src);
    if (rc < 0) {
        api_value_free(fails);
        api_value_free(plan);
        return rc;
    }
    *fails_r = fails;
    *plan_r = plan;
    return 0;
}

/* The host of a dest map (Host.migrate_receive's), or NULL. */
static const char *dest_host(const struct api_value *dest)
{
    return api_value_string(api_struct_get(dest, "xm:host"));
}

/*
 * VM.migrate_precheck(session, vm, dest, vdi_map, options), xm-pool's:
 * { can_migrate, failures: [[code, params...]...], plan: [...] } — what
 * `xm-pool vm-migrate --dry-run` prints.
 */
static int vm_migrate_precheck(struct api_call_ctx *call,
                               const struct api_value *params,
                               struct api_value **result_r)
{
    const char *vm = xa_param_str(params, 1);
    const char *host = dest_host(api_array_get(params, 2));
    const struct api_value *vdi_map = api_array_get(params, 3);
    struct api_value *fails = NULL, *plan = NULL, *r;
    struct xa_xpool xp;
    int rc, other;

    if (!vm || !host || api_value_type(vdi_map) != API_STRUCT)
        return xt_error(call->xt, -EINVAL, "VM.migrate_precheck(session, "
                        "vm, dest, vdi_map, options)");
    rc = xa_db_fail(call, pool_db_check_ref(dbof(call), POOL_CLASS_VM, vm),
                    "VM", vm, result_r);
    other = rc ?: xa_xpool_of_dest(call, api_array_get(params, 2), &xp,
                                   result_r);
    rc = other < 0 ? other : 0;
    rc = rc ?: precheck(call, vm, host, vdi_map, other == 1 ? &xp : NULL,
                        &fails, &plan);
    if (rc < 0)
        return rc;
    r = api_struct();
    api_struct_add(r, "can_migrate", api_bool(api_value_count(fails) == 0));
    api_struct_add(r, "failures", fails);
    api_struct_add(r, "plan", plan);
    *result_r = r;
    return 0;
}

static int vm_assert_can_migrate(struct api_call_ctx *call,
                                 const struct api_value *params,
                                 struct api_value **result_r)
{
    const char *vm = xa_param_str(params, 1);
    const char *host = xa_param_str(params, 2);
    char *src = NULL;
    int rc;

    /* XAPI's form (session, vm, dest, live, vdi_map, vif_map, options):
     * the prechecks, the first failure raised. */
    if (api_value_count(params) == 7) {
        struct api_value *fails = NULL, *plan = NULL;
        const struct api_value *d;
        struct xa_xpool xp;
        int other;

        host = dest_host(api_array_get(params, 2));
        if (!vm || !host ||
            api_value_type(api_array_get(params, 4)) != API_STRUCT)
            return xt_error(call->xt, -EINVAL, "VM.assert_can_migrate("
                            "session, vm, dest, live, vdi_map, vif_map, "
                            "options)");
        other = xa_xpool_of_dest(call, api_array_get(params, 2), &xp,
                                 result_r);
        if (other < 0)
            return other;
        rc = precheck(call, vm, host, api_array_get(params, 4),
                      other ? &xp : NULL, &fails, &plan);
        if (rc == 0 && (d = api_array_get(fails, 0))) {
            *result_r = xa_failure_of_desc(d);
            rc = xt_error(call->xt, -EPERM, "VM %s cannot migrate: %s",
                          vm, api_value_string(api_array_get(d, 0)));
        } else if (rc == 0) {
            *result_r = api_void();
        }
        api_value_free(fails);
        api_value_free(plan);
        return rc;
    }

    if (!vm || !host)
        return xt_error(call->xt, -EINVAL, "VM.assert_can_migrate(session, "
                        "vm, host, options)");
    rc = migrate_check(call, vm, host, NULL, false, &src, NULL, result_r);
    free(src);
    if (rc == 0)
        *result_r = api_void();
    return rc;
}

/* The failure envelope of a migration, from the peer's or our error. */
static struct api_value *migrate_failure(struct api_call_ctx *call,
                                         const struct xa_pm *pm,
                                         struct api_value *peer)
{
    const char *code = peer ? api_failure_code(peer) : NULL;
    const struct api_value *d = peer ?
        api_struct_get(peer, "ErrorDescription") : NULL;
    const char *msg = call->xt->err_msg;
    struct api_value *r;

    if (code && !strcmp(code, "VM_MIGRATE_FAILED") && d &&
        api_value_string(api_array_get(d, 3)) &&
        *api_value_string(api_array_get(d, 3)))
        msg = api_value_string(api_array_get(d, 3));
    else if (code && d && api_value_string(api_array_get(d, 1)))
        msg = api_value_string(api_array_get(d, 1));
    r = api_failure("VM_MIGRATE_FAILED", pm->vm, pm->src, pm->dst, msg,
                    NULL);
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
    char why[512];
    int rc;

    *addr_r = NULL;
    if (!net)
        return 0;
    rc = pool_db_check_ref(db, POOL_CLASS_NETWORK, net);
    if (rc == -ENOENT)
        *result_r = api_failure("HANDLE_INVALID", "network", net, NULL);
    rc = rc ?: xa_net_address(db, net, host, addr_r);
    if (rc == -ENOMEM)
        return xt_error(call->xt, rc, "network address");
    if (rc == 0 && !*addr_r) {
        char *huuid = NULL;

        xa_field_str(db, POOL_CLASS_HOST, host, "uuid", &huuid);
        snprintf(why, sizeof(why), "network %s has no address for host "
                 "%s (other_config %s%s)", net, huuid ? huuid : host,
                 POOL_NET_OC_ADDRESS, huuid ? huuid : host);
        free(huuid);
        *result_r = api_failure("VM_MIGRATE_FAILED", vm, src, host, why,
                                NULL);
        rc = xt_error(call->xt, -EADDRNOTAVAIL, "%s", why);
    }
    return rc;
}

/* ---- VM.pool_migrate --------------------------------------------------- */

/* Ends a migration that never reached the source, answering env. */
static int give_up(struct api_call_ctx *call, struct migration *m, int rc,
                   struct api_value **result_r)
{
    struct xt_err e = { 0 };

    if (!*result_r)
        *result_r = migrate_failure(call, &m->pm, NULL);
    /* The disks' motion, then the other pool's import, are undone before
     * the task ends: a client may end its session there when it does. */
    xt_err_take(&e, call->xt, rc);
    if (m->sxm) {
        xa_sxm_abort(call, m->sxm);
        xa_sxm_free(m->sxm);
        m->sxm = NULL;
    }
    if (m->xp)
        xa_xpool_end(xa_call_of(call)->xa, call->xt, m->pm.op);
    xt_err_put(&e, call->xt);
    xa_pm_abandon(dbof(call), &m->pm, *result_r);
    return rc;
}

/* The task shows what moves where (task.cancel finds the source there). */
static void describe_task(struct api_call_ctx *call, const struct xa_pm *pm)
{
    struct pool_value oc = { .type = POOL_FT_MAP };
    const char *task = xa_call_of(call)->task;

    if (!task)
        return;
    pool_value_map_put(&oc, "xm:vm", pm->vm);
    pool_value_map_put(&oc, "xm:source", pm->src);
    pool_value_map_put(&oc, "xm:destination", pm->dst);
    pool_db_set_field(dbof(call), POOL_CLASS_TASK, task, "other_config", &oc,
                      POOL_DB_INTERNAL);
    pool_value_clear(&oc);
}

/* The checks of a migration of vm to another pool, this pool's (the VM
 * idle and running) and that pool's: every failure appended to fails. */
static int xpool_failures(struct api_call_ctx *call,
                          const struct xa_xpool *xp, const char *vm,
                          const struct api_value *vdi_map, char **src_r,
                          struct api_value *fails,
                          struct api_value **result_r)
{
    char *ps = NULL;
    int rc;

    *src_r = NULL;
    rc = check_idle(call, vm, result_r);
    rc = rc ?: xa_field_str(dbof(call), POOL_CLASS_VM, vm, "power_state",
                            &ps);
    if (rc == 0 && strcmp(ps, "Running") != 0) {
        *result_r = api_failure("VM_BAD_POWER_STATE", vm, "Running", ps,
                                NULL);
        rc = xt_error(call->xt, -EPERM, "VM %s is %s", vm, ps);
    }
    free(ps);
    return rc ?: xa_xpool_check(call, xp, vm, vdi_map, src_r, fails);
}

/* The same, the first failure raised. */
static int xpool_check(struct api_call_ctx *call, struct migration *m,
                       char **src_r, struct api_value **result_r)
{
    struct api_value *fails = api_array();
    const struct api_value *d;
    int rc = xpool_failures(call, m->xp, m->pm.vm, m->vdi_map, src_r,
                            fails, result_r);

    if (rc == 0 && (d = api_array_get(fails, 0))) {
        *result_r = xa_failure_of_desc(d);
        rc = xt_error(call->xt, -EPERM, "VM %s cannot migrate to pool %s: "
                      "%s", m->pm.vm, m->xp->pool,
                      api_value_string(api_array_get(d, 0)));
    }
    api_value_free(fails);
    if (rc < 0) {
        free(*src_r);
        *src_r = NULL;
    }
    return rc;
}

/* Checks, then claims the VM with the record "preparing" in one
 * transaction; reads what the next steps need. */
static int begin(struct api_call_ctx *call, struct migration *m,
                 const char *net, struct api_value **result_r)
{
    struct xa *xa = xa_call_of(call)->xa;
    struct pool_db *db = dbof(call);
    struct pool_value rec = { .type = POOL_FT_MAP };
    char *src = NULL, *uuid = NULL;
    int rc;

    if (m->xp) {
        rc = xpool_check(call, m, &src, result_r);
    } else {
        rc = migrate_check(call, m->pm.vm, m->pm.dst, m->vdi_map,
                           m->rollback, &src, &m->disks, result_r);
        rc = rc ?: network_address(call, m->pm.vm, src, m->pm.dst, net,
                                   &m->naddr, result_r);
    }
    if (rc < 0)
        goto out;
    snprintf(m->pm.src, sizeof(m->pm.src), "%s", src);
    pool_value_map_put(&rec, XA_MIG_STATE, XA_MIG_PREPARING);
    pool_value_map_put(&rec, XA_MIG_OP, m->pm.op);
    pool_value_map_put(&rec, XA_MIG_SOURCE, m->pm.src);
    pool_value_map_put(&rec, XA_MIG_DEST, m->pm.dst);
    /* The journal first: a claimed record always finds it. */
    if (m->xp) {
        pool_value_map_put(&rec, XA_MIG_POOL, m->xp->pool);
        rc = xa_xpool_save(call, m->pm.op, m->xp);
        if (rc < 0)
            goto out;
    }
    rc = xa_vm_claim(call, m->pm.vm, "Running", "pool_migrate", m->pm.op,
                     &rec, m->xp ? NULL : m->pm.dst, result_r);
    if (rc < 0) {
        if (m->xp)
            xa_xpool_drop(xa, m->pm.op);    /* nothing was made there */
        goto out;
    }
    describe_task(call, &m->pm);
    rc = xa_field_str(db, POOL_CLASS_VM, m->pm.vm, "uuid", &uuid);
    rc = rc ?: xa_field_int(db, POOL_CLASS_VM, m->pm.vm,
                            "memory_static_max", &m->pages);
    rc = rc ?: xa_field_int(db, POOL_CLASS_VM, m->pm.vm, "VCPUs_max",
                            &m->vcpus);
    rc = rc ?: xa_host_url(xa, db, m->pm.src, &m->surl);
    if (!m->xp)
        rc = rc ?: xa_host_url(xa, db, m->pm.dst, &m->durl);
    if (rc == 0)
        snprintf(m->pm.uuid, sizeof(m->pm.uuid), "%s", uuid);
    else
        give_up(call, m, rc, result_r);
out:
    pool_value_clear(&rec);
    free(src);
    free(uuid);
    return rc;
}

/* host_local.migrate_prepare on the target of this pool. */
static int prepare_here(struct api_call_ctx *call, struct migration *m,
                        struct api_value **fail_r)
{
    struct xa_call *xc = xa_call_of(call);
    struct api_value *p;

    if (xa_sxm_disks(m->sxm, m->disks) < 0)
        return xt_error(call->xt, -ENOMEM, "disks");
    p = api_array();
    api_array_append(p, api_string(m->pm.uuid));
    api_array_append(p, api_int(m->pages / HV_PAGE_SIZE));
    api_array_append(p, api_int(m->vcpus));
    if (m->naddr || api_value_count(m->disks))
        api_array_append(p, api_string(m->naddr ? m->naddr : ""));
    /* The target serves the VM's disks before the sender connects. */
    if (api_value_count(m->disks))
        api_array_append(p, api_value_copy(m->disks));
    return xa_host_call(xc->xa, call->xt, m->durl,
                        "host_local.migrate_prepare", p, HOST_CALL_TIMEOUT_S,
                        &m->prep, fail_r);
}

/* A receiver on the target (another pool's: through its master) and its
 * token.  A lost answer costs nothing: the receiver expires by itself. */
static int prepare(struct api_call_ctx *call, struct migration *m,
                   struct api_value **result_r)
{
    struct xa_call *xc = xa_call_of(call);
    struct api_value *fail = NULL;
    int rc;

    if (m->xp)
        rc = xa_xpool_receive(call, m->xp, &m->prep, &fail);
    else
        rc = prepare_here(call, m, &fail);
    if (rc < 0) {
        *result_r = migrate_failure(call, &m->pm, fail);
        return give_up(call, m, rc, result_r);
    }
    xa_task_progress(xc->xa, dbof(call), xc->task, 0.05);
    return 0;
}

/* migrate_send's parameters: the receiver, and the client's options the
 * source acts on (the rest are ours). */
static struct api_value *send_params(struct api_call_ctx *call,
                                     const struct migration *m,
                                     const struct api_value *opts)
{
    struct xa_call *xc = xa_call_of(call);
    struct api_value *so = api_struct(), *p = api_array();
    const struct api_value *ov;
    int64_t port = 0;
    size_t i;

    for (i = 0; i < api_value_count(opts); i++) {
        const char *k = api_struct_key(opts, i);

        ov = api_struct_value(opts, i);
        if ((!strcmp(k, "live") || !strcmp(k, "compress")) &&
            (api_value_type(ov) == API_STRING ||
             api_value_type(ov) == API_BOOL))
            api_struct_add(so, k, api_value_copy(ov));
    }
    if (xc->task)
        api_struct_add(so, "master_url", api_string(xc->xa->self_url));
    /* The disks' mirrors the source completes before it commits. */
    if (m->sxm)
        api_struct_add(so, "mirrors", xa_sxm_mirrors(m->sxm));
    /* The destination's key: the source pins it on the channel.  The
     * answer came over the master's pinned channel to that host. */
    api_struct_add(so, "pin", api_value_copy(api_struct_get(m->prep,
                                                            "pin")));
    api_value_get_int64(api_struct_get(m->prep, "port"), &port);
    api_array_append(p, api_string(m->pm.op));
    api_array_append(p, api_string(m->pm.uuid));
    api_array_append(p, api_value_copy(api_struct_get(m->prep, "address")));
    api_array_append(p, api_int(port));
    api_array_append(p, api_value_copy(api_struct_get(m->prep, "token")));
    api_array_append(p, so);
    return p;
}

/*
 * Tells the source to start.  "sending" is recorded first: from then on
 * the source may run the migration, whatever this call answers.  A
 * failure the source answers means nothing started (give up); no answer
 * is "unknown", left to the settling.
 */
static int start_send(struct api_call_ctx *call, struct migration *m,
                      const struct api_value *opts,
                      struct api_value **result_r)
{
    struct xa_call *xc = xa_call_of(call);
    struct api_value *res = NULL, *fail = NULL;
    enum xt_fault_action f;
    int rc;

    xt_fault(call->xt, "pd.master.prepared");
    /* task.cancel before the source was told anything (the fault point
     * first: a cancel while a test holds it counts) */
    if (xa_task_cancelling(dbof(call), xc->task)) {
        *result_r = api_failure("TASK_CANCELLED", xc->task, NULL);
        return give_up(call, m, xt_error(call->xt, -ECANCELED,
                                         "migration cancelled"), result_r);
    }
    rc = xa_pm_set_state(dbof(call), &m->pm, XA_MIG_SENDING);
    if (rc < 0)
        return give_up(call, m, rc, result_r);
    rc = xa_host_call(xc->xa, call->xt, m->surl, "host_local.migrate_send",
                      send_params(call, m, opts), SEND_TIMEOUT_S, &res,
                      &fail);
    f = xt_fault(call->xt, "pd.master.accepted");
    api_value_free(res);
    if (rc == 0 && (f == XT_FAULT_FAIL || f == XT_FAULT_DROP))
        rc = xt_error(call->xt, -ETIMEDOUT, "fault injection: the answer "
                      "of migrate_send is lost");
    if (rc < 0 && fail) {
        *result_r = migrate_failure(call, &m->pm, fail);
        return give_up(call, m, rc, result_r);
    }
    if (rc < 0) {
        xt_warn(xc->xa->log, "VM %s: migrate_send to %s got no answer (%s):"
                " the outcome is unknown, asking both hosts", m->pm.vm,
                m->pm.src, call->xt->err_msg);
        xa_pm_set_state(dbof(call), &m->pm, XA_MIG_UNKNOWN);
        xt_fault(call->xt, "pd.master.unknown");
    }
    return 0;
}

/* A migration of vm to host, with the disks of vdi_map (NULL: none)
 * moved to the SRs it names; on the option `network`, else the pool's
 * migration_network when it names one. */
static int migrate(struct api_call_ctx *call, const char *vm,
                   const char *host, const struct api_value *opts,
                   const struct api_value *vdi_map, struct xa_xpool *xp,
                   struct api_value **result_r)
{
    struct xa_call *xc = xa_call_of(call);
    const char *bps = api_value_string(api_struct_get(opts, "max_bps"));
    const char *net = api_value_string(api_struct_get(opts, "network"));
    const char *rb = api_value_string(api_struct_get(opts,
                                                     XA_EVAC_ROLLBACK_OF));
    struct migration m = { .vdi_map = vdi_map, .xp = xp };
    struct api_value *exports = NULL;
    char *pool_net = NULL;
    bool begun;
    int rc;

    if (!net && xa_pool_migration_network(dbof(call), &pool_net) == 0)
        net = pool_net;

    snprintf(m.pm.vm, sizeof(m.pm.vm), "%s", vm);
    snprintf(m.pm.dst, sizeof(m.pm.dst), "%s", host);
    m.pm.xpool = xp != NULL;
    m.so.max_bps = bps ? atoll(bps) : 0;
    m.so.keep_source = xa_opt_keep_source(opts);
    m.rollback = rb && !xp && xa_evac_rollback_ok(dbof(call), host, rb);
    xa_op_key(call, m.pm.op);
    /* This thread settles it; the reconciler leaves it alone. */
    rc = xa_settler_enter(xc->xa, m.pm.op);
    if (rc < 0)
        return xt_error(call->xt, rc, "operation %s", m.pm.op);
    rc = begin(call, &m, net, result_r);
    begun = rc == 0;
    free(pool_net);
    /* The disks first: their mirrors synced before the memory moves
     * (to another pool: to the VDIs its import makes). */
    if (rc == 0 && xp)
        rc = xa_xpool_begin(call, xp, m.pm.vm, m.pm.src, vdi_map, &exports,
                            result_r);
    m.so.xp = xp;
    m.so.exports = exports;
    if (rc == 0 && api_value_count(vdi_map))
        rc = xa_sxm_start(call, m.pm.vm, m.pm.dst, m.pm.op, vdi_map, &m.so,
                          &m.sxm, result_r);
    m.so.exports = NULL;
    api_value_free(exports);
    /* A mirror may have failed since it was synced (a dropped link):
     * resumed now rather than refused at the switch-over. */
    if (rc == 0 && m.sxm)
        rc = xa_sxm_recheck(call, m.sxm, result_r);
    if (rc < 0 && begun)
        give_up(call, &m, rc, result_r);
    rc = rc ?: prepare(call, &m, result_r);
    rc = rc ?: start_send(call, &m, opts, result_r);
    /* Nothing reached the source: give_up undid the disks' motion and
     * the other pool's import; once it may have, the settling decides. */
    if (rc == 0)
        rc = xa_settle_wait(xc->xa, call->xt, dbof(call), &m.pm, result_r,
                            &xc->task_open);
    xa_settler_leave(xc->xa, m.pm.op);
    migration_clear(&m);
    return rc;
}

static int vm_pool_migrate(struct api_call_ctx *call,
                           const struct api_value *params,
                           struct api_value **result_r)
{
    const char *vm = xa_param_str(params, 1);
    const char *host = xa_param_str(params, 2);
    const struct api_value *opts = api_array_get(params, 3);

    if (!vm || !host || api_value_type(opts) != API_STRUCT ||
        strlen(vm) > POOL_REF_STRLEN || strlen(host) > POOL_REF_STRLEN)
        return xt_error(call->xt, -EINVAL, "VM.pool_migrate(session, vm, "
                        "host, options)");
    return migrate(call, vm, host, opts, NULL, NULL, result_r);
}

/* Host.migrate_receive(session, host, network, options): what
 * VM.migrate_send needs to reach host (in this pool: its ref). */
static int host_migrate_receive(struct api_call_ctx *call,
                                const struct api_value *params,
                                struct api_value **result_r)
{
    const char *host = xa_param_str(params, 1);
    const char *net = xa_param_str(params, 2);
    struct xa_call *xc = xa_call_of(call);
    struct api_value *d;
    char *pool = NULL;
    int rc;

    if (!host || !net)
        return xt_error(call->xt, -EINVAL, "Host.migrate_receive(session, "
                        "host, network, options)");
    rc = xa_host_usable(call, host, result_r);
    if (rc < 0)
        return rc;
    rc = xa_pool_uuid(dbof(call), &pool);
    d = api_struct();
    rc = rc ?: api_struct_add(d, "xm:host", api_string(host));
    if (!pool_ref_is_null(net))
        rc = rc ?: api_struct_add(d, "xm:network", api_string(net));
    /* What another pool's master needs to reach this one (pd_xpool.c):
     * this master, with its pin, and the caller's session. */
    rc = rc ?: api_struct_add(d, "xm:pool", api_string(pool));
    rc = rc ?: api_struct_add(d, "xm:master", api_string(xc->xa->self_url));
    rc = rc ?: api_struct_add(d, "xm:session", api_string(xc->session ?
                                                           xc->session : ""));
    free(pool);
    if (rc < 0) {
        api_value_free(d);
        return xt_error(call->xt, -ENOMEM, "out of memory");
    }
    *result_r = d;
    return 0;
}

/* The entries of vdi_map that move a disk: one mapped to the SR it is
 * on stays where it is (the migration's usual checks apply to it). */
static int moving_disks(struct api_call_ctx *call,
                        const struct api_value *vdi_map,
                        struct api_value **moving_r,
                        struct api_value **result_r)
{
    struct api_value *mv = api_struct();
    size_t i;
    int rc = 0;

    for (i = 0; rc == 0 && i < api_value_count(vdi_map); i++) {
        const char *vdi = api_struct_key(vdi_map, i);
        const char *sr = api_value_string(api_struct_value(vdi_map, i));
        char *cur = NULL;

        rc = sr ? 0 : xt_error(call->xt, -EINVAL, "vdi_map: VDI -> SR");
        rc = rc ?: xa_db_fail(call, xa_field_str(dbof(call), POOL_CLASS_VDI,
                                                 vdi, "SR", &cur),
                              "VDI", vdi, result_r);
        rc = rc ?: xa_db_fail(call, pool_db_check_ref(dbof(call),
                                                      POOL_CLASS_SR, sr),
                              "SR", sr, result_r);
        if (rc == 0 && strcmp(cur, sr) != 0 &&
            api_struct_add(mv, vdi, api_string(sr)) < 0)
            rc = xt_error(call->xt, -ENOMEM, "out of memory");
        free(cur);
    }
    if (rc < 0) {
        api_value_free(mv);
        return rc;
    }
    *moving_r = mv;
    return 0;
}

/*
 * VM.migrate_send(session, vm, dest, live, vdi_map, vif_map, options):
 * a live migration to the host of dest (Host.migrate_receive's answer)
 * with the disks of vdi_map (VDI -> SR of that host) moved by storage
 * motion first.  Another pool's dest (pd_xpool.c): every disk moves to
 * the SRs of that pool vdi_map names, and the VM leaves this pool.
 */
static int vm_migrate_send(struct api_call_ctx *call,
                           const struct api_value *params,
                           struct api_value **result_r)
{
    const char *vm = xa_param_str(params, 1);
    const struct api_value *dest = api_array_get(params, 2);
    const struct api_value *vdi_map = api_array_get(params, 4);
    const struct api_value *vif_map = api_array_get(params, 5);
    const struct api_value *opts = api_array_get(params, 6);
    const char *host = api_value_string(api_struct_get(dest, "xm:host"));
    struct api_value *o = NULL, *moving = NULL;
    struct xa_xpool xp;
    bool live = true, other;
    int rc;

    if (!vm || api_value_type(dest) != API_STRUCT ||
        api_value_type(vdi_map) != API_STRUCT ||
        api_value_type(vif_map) != API_STRUCT ||
        api_value_type(opts) != API_STRUCT ||
        api_value_get_bool(api_array_get(params, 3), &live) < 0)
        return xt_error(call->xt, -EINVAL, "VM.migrate_send(session, vm, "
                        "dest, live, vdi_map, vif_map, options)");
    rc = xa_xpool_of_dest(call, dest, &xp, result_r);
    if (rc < 0)
        return rc;
    other = rc == 1;
    if (!host) {
        *result_r = api_failure("INVALID_VALUE", "dest", "not "
                                "Host.migrate_receive's answer", NULL);
        return xt_error(call->xt, -EINVAL, "dest names no host");
    }
    if (api_value_count(vif_map)) {
        *result_r = api_failure("NOT_IMPLEMENTED", "vif_map: xm-pool VMs "
                                "have no VIFs yet", NULL);
        return xt_error(call->xt, -ENOTSUP, "vif_map");
    }
    /* To another pool every disk moves; its SRs are that pool's. */
    rc = other ? ((moving = api_value_copy(vdi_map)) ? 0 :
                  xt_error(call->xt, -ENOMEM, "out of memory")) :
         moving_disks(call, vdi_map, &moving, result_r);
    if (rc < 0)
        return rc;
    /* live is migrate_send's own argument, the network dest's. */
    o = api_struct();
    rc = 0;
    for (size_t i = 0; rc == 0 && i < api_value_count(opts); i++) {
        const char *k = api_struct_key(opts, i);

        if (strcmp(k, "live") && strcmp(k, "network"))
            rc = api_struct_add(o, k, api_value_copy(api_struct_value(opts,
                                                                      i)));
    }
    rc = rc ?: api_struct_add(o, "live", api_string(live ? "true" :
                                                    "false"));
    if (rc == 0 && api_struct_get(dest, "xm:network"))
        rc = api_struct_add(o, "network",
                            api_value_copy(api_struct_get(dest,
                                                          "xm:network")));
    rc = rc < 0 ? xt_error(call->xt, -ENOMEM, "out of memory") :
         migrate(call, vm, host, o, moving, other ? &xp : NULL, result_r);
    api_value_free(o);
    api_value_free(moving);
    return rc;
}

const struct api_method xa_migrate_methods[] = {
    { "VM.assert_can_migrate", 4, 7, 0, vm_assert_can_migrate },
    { "VM.migrate_precheck", 5, 0, 0, vm_migrate_precheck },
    { "VM.pool_migrate", 4, 0, 0, vm_pool_migrate },
    { "VM.migrate_send", 7, 0, 0, vm_migrate_send },
    { "Host.migrate_receive", 4, 0, 0, host_migrate_receive },
    { NULL },
};
