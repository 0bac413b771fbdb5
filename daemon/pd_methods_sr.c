/*
 * pd_methods_sr.c - SR.*, PBD.* and VDI.* on the master
 * (docs/design/storage.md): the database's records, kept true by asking
 * the host that reaches each SR's medium (host_local.sr_* / vdi_*,
 * pd_sr_agent.c).
 *
 * A change on the medium comes first and its record after: a failure on
 * the host leaves the database as it was; every answer carries the SR's
 * figures, written into its record.  An SR is plugged on a host when the
 * host attached and scanned it (PBD.plug); VDI calls go to a live host
 * where it is plugged, this one first.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sr.h"
#include "pd_xenapi.h"

#define SR_CALL_TIMEOUT_S   120

static struct pool_db *dbof(struct api_call_ctx *call)
{
    return xa_call_of(call)->db;
}

/* ---- what the agent is told and answers -------------------------------- */

/* The agent's spec of SR sr as reached through PBD pbd. */
static int spec_value(struct api_call_ctx *call, const char *sr,
                      const char *pbd, struct api_value **spec_r)
{
    struct pool_db *db = dbof(call);
    struct pool_value dc = { 0 };
    char *type = NULL, *uuid = NULL;
    struct api_value *st = NULL;
    int64_t size = 0;
    int rc;

    *spec_r = NULL;
    rc = xa_field_str(db, POOL_CLASS_SR, sr, "type", &type);
    rc = rc ?: xa_field_str(db, POOL_CLASS_SR, sr, "uuid", &uuid);
    rc = rc ?: xa_field_int(db, POOL_CLASS_SR, sr, "physical_size", &size);
    rc = rc ?: pool_db_get_field(db, POOL_CLASS_PBD, pbd, "device_config",
                                 &dc);
    if (rc < 0)
        goto out;
    st = api_struct();
    rc = api_struct_add(st, "type", api_string(type));
    rc = rc ?: api_struct_add(st, "uuid", api_string(uuid));
    rc = rc ?: api_struct_add(st, "physical_size", api_int(size));
    rc = rc ?: api_struct_add(st, "device_config", xa_pool_value(&dc));
    if (rc < 0) {
        rc = xt_error(call->xt, -ENOMEM, "out of memory");
        goto out;
    }
    *spec_r = st;
    st = NULL;
out:
    api_value_free(st);
    pool_value_clear(&dc);
    free(type);
    free(uuid);
    return rc;
}

/* The host's answer ("sr" figures) into SR sr's record. */
static int apply_stat(struct pool_db *db, const char *sr,
                      const struct api_value *ans)
{
    static const char *const fields[] = {
        "physical_size", "physical_utilisation", "virtual_allocation", NULL
    };
    const struct api_value *st = api_struct_get(ans, "sr");
    int64_t v;
    int rc = 0;
    size_t i;

    for (i = 0; rc == 0 && fields[i]; i++)
        if (api_value_get_int64(api_struct_get(st, fields[i]), &v) == 0)
            rc = pool_db_set_field(db, POOL_CLASS_SR, sr, fields[i],
                                   &POOL_V_INT(v), POOL_DB_INTERNAL);
    return rc;
}

/* A failure from the agent, with the master's refs where it named uuids. */
static void with_refs(struct api_value **fail, const char *sr,
                      const char *vdi)
{
    const struct api_value *desc = api_struct_get(*fail, "ErrorDescription");
    const char *code = api_failure_code(*fail), *op;
    struct api_value *n = NULL;

    if (!code)
        return;
    op = api_value_string(api_array_get(desc, 2));
    if (!strcmp(code, "VDI_IN_USE") && vdi)
        n = api_failure(code, vdi, op ? op : "", NULL);
    else if (!strcmp(code, "VDI_MISSING") && vdi)
        n = api_failure(code, sr, vdi, NULL);
    else if (!strcmp(code, "SR_OPERATION_NOT_SUPPORTED"))
        n = api_failure(code, sr, NULL);
    if (n) {
        api_value_free(*fail);
        *fail = n;
    }
}

/* Calls the agent of host about SR sr (through PBD pbd): method(secret,
 * spec, extra...), given timeout_s to answer.  extra is consumed.
 * *ans_r: the caller's. */
static int sr_call_timed(struct api_call_ctx *call, const char *sr,
                         const char *pbd, const char *host, const char *vdi,
                         const char *method, struct api_value *extra,
                         long timeout_s, struct api_value **ans_r,
                         struct api_value **result_r)
{
    struct xa_call *xc = xa_call_of(call);
    struct api_value *params = api_array(), *spec = NULL;
    char *url = NULL;
    size_t i;
    int rc;

    *ans_r = NULL;
    rc = xa_host_usable(call, host, result_r);
    rc = rc ?: xa_host_url(xc->xa, dbof(call), host, &url);
    rc = rc ?: spec_value(call, sr, pbd, &spec);
    if (rc < 0)
        goto out;
    rc = api_array_append(params, spec);
    for (i = 0; rc == 0 && extra && i < api_value_count(extra); i++)
        rc = api_array_append(params,
                              api_value_copy(api_array_get(extra, i)));
    if (rc < 0) {
        rc = xt_error(call->xt, -ENOMEM, "out of memory");
        goto out;
    }
    rc = xa_host_call(xc->xa, call->xt, url, method, params, timeout_s,
                      ans_r, result_r);
    params = NULL;
    if (rc < 0 && *result_r)
        with_refs(result_r, sr, vdi);
out:
    api_value_free(params);
    api_value_free(extra);
    free(url);
    return rc;
}

static int sr_call(struct api_call_ctx *call, const char *sr,
                   const char *pbd, const char *host, const char *vdi,
                   const char *method, struct api_value *extra,
                   struct api_value **ans_r, struct api_value **result_r)
{
    return sr_call_timed(call, sr, pbd, host, vdi, method, extra,
                         SR_CALL_TIMEOUT_S, ans_r, result_r);
}

/* ---- PBDs --------------------------------------------------------------- */

/* A PBD of sr on a live host, plugged (or not: plugged false), this host's
 * first.  SR_NOT_ATTACHED when there is none. */
static int pick_pbd(struct api_call_ctx *call, const char *sr, bool plugged,
                    char **pbd_r, char **host_r, struct api_value **result_r)
{
    struct pool_db *db = dbof(call);
    struct pool_strv pbds = { 0 };
    char *self = NULL, *host = NULL;
    int64_t att, live;
    size_t i;
    int rc, pass;

    *pbd_r = *host_r = NULL;
    rc = pool_db_find(db, POOL_CLASS_PBD, "SR", &POOL_V_REF(sr), &pbds);
    if (rc < 0)
        return rc;
    xa_self_host(xa_call_of(call)->xa, db, &self);
    for (pass = 0; pass < 2 && !*pbd_r; pass++)
        for (i = 0; i < pbds.n && !*pbd_r; i++) {
            free(host);
            host = NULL;
            if (xa_field_int(db, POOL_CLASS_PBD, pbds.v[i],
                             "currently_attached", &att) < 0 ||
                xa_field_str(db, POOL_CLASS_PBD, pbds.v[i], "host",
                             &host) < 0 ||
                xa_field_int(db, POOL_CLASS_HOST, host, "live", &live) < 0)
                continue;
            if (!live || (plugged && !att) ||
                (pass == 0 && (!self || strcmp(host, self) != 0)))
                continue;
            *pbd_r = strdup(pbds.v[i]);
            *host_r = host;
            host = NULL;
        }
    free(host);
    free(self);
    pool_strv_free(&pbds);
    if (!*pbd_r) {
        *result_r = api_failure("SR_NOT_ATTACHED", sr, NULL);
        return xt_error(call->xt, -ENXIO, "SR %s is plugged on no live "
                        "host", sr);
    }
    return 0;
}

/* The ref of the VDI of uuid u, or NULL (no error reported). */
static int find_uuid(struct pool_db *db, const char *u, char **ref_r)
{
    struct pool_strv refs = { 0 };
    int rc = pool_db_find(db, POOL_CLASS_VDI, "uuid", &POOL_V_STR(u), &refs);

    *ref_r = NULL;
    if (rc == 0 && refs.n && !(*ref_r = strdup(refs.v[0])))
        rc = -ENOMEM;
    pool_strv_free(&refs);
    return rc;
}

/* The VDI records of sr made to match the host's scan: new ones created,
 * sizes and "missing" updated, those gone removed (as XAPI's scan). */
static int reconcile(struct pool_db *db, const char *sr,
                     const struct api_value *vdis)
{
    struct pool_strv have = { 0 };
    char *ref = NULL, *uuid = NULL;
    size_t i, k;
    int rc = pool_db_find(db, POOL_CLASS_VDI, "SR", &POOL_V_REF(sr), &have);

    for (i = 0; rc == 0 && i < api_value_count(vdis); i++) {
        const struct api_value *v = api_array_get(vdis, i);
        const char *u = api_value_string(api_struct_get(v, "uuid"));
        int64_t size = 0, used = 0;
        bool missing = false;

        api_value_get_int64(api_struct_get(v, "virtual_size"), &size);
        api_value_get_int64(api_struct_get(v, "physical_utilisation"),
                            &used);
        api_value_get_bool(api_struct_get(v, "missing"), &missing);
        free(ref);
        ref = NULL;
        if (!u)
            continue;
        rc = find_uuid(db, u, &ref);
        if (rc == 0 && !ref)
            rc = pool_db_create(db, POOL_CLASS_VDI, (struct pool_field_init[]){
                { "uuid", POOL_V_STR(u) }, { "SR", POOL_V_REF(sr) },
                { "location", POOL_V_STR(u) },
            }, 3, &ref);
        rc = rc ?: pool_db_set_field(db, POOL_CLASS_VDI, ref, "virtual_size",
                                     &POOL_V_INT(size), POOL_DB_INTERNAL);
        rc = rc ?: pool_db_set_field(db, POOL_CLASS_VDI, ref,
                                     "physical_utilisation",
                                     &POOL_V_INT(used), POOL_DB_INTERNAL);
        rc = rc ?: pool_db_set_field(db, POOL_CLASS_VDI, ref, "missing",
                                     &POOL_V_BOOL(missing), POOL_DB_INTERNAL);
    }
    for (k = 0; rc == 0 && k < have.n; k++) {
        bool seen = false;

        if (xa_field_str(db, POOL_CLASS_VDI, have.v[k], "uuid", &uuid) < 0)
            continue;
        for (i = 0; !seen && i < api_value_count(vdis); i++)
            seen = !strcmp(uuid, api_value_string(api_struct_get(
                api_array_get(vdis, i), "uuid")) ?: "");
        free(uuid);
        uuid = NULL;
        if (!seen)
            rc = pool_db_destroy(db, POOL_CLASS_VDI, have.v[k]);
    }
    free(ref);
    pool_strv_free(&have);
    return rc;
}

/* Attaches sr on pbd's host and records what it found, in one
 * transaction. */
static int plug(struct api_call_ctx *call, const char *sr, const char *pbd,
                struct api_value **result_r)
{
    struct pool_db *db = dbof(call);
    struct api_value *ans = NULL;
    char *host = NULL;
    int rc;

    rc = xa_field_str(db, POOL_CLASS_PBD, pbd, "host", &host);
    rc = rc ?: sr_call(call, sr, pbd, host, NULL, "host_local.sr_attach",
                       NULL, &ans, result_r);
    rc = rc ?: pool_db_begin(db);
    if (rc < 0)
        goto out;
    rc = apply_stat(db, sr, ans);
    rc = rc ?: reconcile(db, sr, api_struct_get(ans, "vdis"));
    rc = rc ?: pool_db_set_field(db, POOL_CLASS_PBD, pbd,
                                 "currently_attached", &POOL_V_BOOL(true),
                                 POOL_DB_INTERNAL);
    rc = rc ?: pool_db_commit(db);
    if (rc < 0)
        pool_db_rollback(db);
out:
    api_value_free(ans);
    free(host);
    return rc;
}

static int pbd_plug(struct api_call_ctx *call, const struct api_value *params,
                    struct api_value **result_r)
{
    const char *pbd = xa_param_str(params, 1);
    char *sr = NULL;
    int rc;

    if (!pbd)
        return xt_error(call->xt, -EINVAL, "PBD.plug(session, pbd)");
    rc = xa_field_str(dbof(call), POOL_CLASS_PBD, pbd, "SR", &sr);
    rc = xa_db_fail(call, rc, "PBD", pbd, result_r);
    rc = rc ?: plug(call, sr, pbd, result_r);
    if (rc == 0)
        *result_r = api_void();
    free(sr);
    return rc;
}

/* VDI_IN_USE while a VM on the PBD's host has a disk of its SR attached:
 * unplugging would cut a running VM's disk off. */
static int check_no_disks(struct api_call_ctx *call, const char *pbd,
                          struct api_value **result_r)
{
    struct pool_db *db = dbof(call);
    struct pool_strv vdis = { 0 };
    char *sr = NULL, *host = NULL;
    size_t i, j;
    int rc;

    rc = xa_field_str(db, POOL_CLASS_PBD, pbd, "SR", &sr);
    rc = rc ?: xa_field_str(db, POOL_CLASS_PBD, pbd, "host", &host);
    rc = rc ?: pool_db_find(db, POOL_CLASS_VDI, "SR", &POOL_V_REF(sr),
                            &vdis);
    for (i = 0; rc == 0 && i < vdis.n && !*result_r; i++) {
        struct pool_strv vbds = { 0 };

        rc = pool_db_find(db, POOL_CLASS_VBD, "VDI", &POOL_V_REF(vdis.v[i]),
                          &vbds);
        for (j = 0; rc == 0 && j < vbds.n && !*result_r; j++) {
            char *vm = NULL, *on = NULL;
            int64_t att = 0;

            rc = xa_field_int(db, POOL_CLASS_VBD, vbds.v[j],
                              "currently_attached", &att);
            rc = rc ?: xa_field_str(db, POOL_CLASS_VBD, vbds.v[j], "VM", &vm);
            rc = rc ?: xa_field_str(db, POOL_CLASS_VM, vm, "resident_on",
                                    &on);
            if (rc == 0 && att && !strcmp(on, host)) {
                *result_r = api_failure("VDI_IN_USE", vdis.v[i], "unplug",
                                        NULL);
                rc = xt_error(call->xt, -EBUSY, "VM %s on the PBD's host "
                              "has VDI %s of this SR attached", vm,
                              vdis.v[i]);
            }
            free(vm);
            free(on);
        }
        pool_strv_free(&vbds);
    }
    pool_strv_free(&vdis);
    free(sr);
    free(host);
    return rc;
}

static int pbd_unplug(struct api_call_ctx *call,
                      const struct api_value *params,
                      struct api_value **result_r)
{
    const char *pbd = xa_param_str(params, 1);
    int rc;

    if (!pbd)
        return xt_error(call->xt, -EINVAL, "PBD.unplug(session, pbd)");
    rc = pool_db_check_ref(dbof(call), POOL_CLASS_PBD, pbd);
    rc = xa_db_fail(call, rc, "PBD", pbd, result_r);
    rc = rc ?: check_no_disks(call, pbd, result_r);
    rc = rc ?: pool_db_set_field(dbof(call), POOL_CLASS_PBD, pbd,
                                 "currently_attached", &POOL_V_BOOL(false),
                                 POOL_DB_INTERNAL);
    if (rc == 0)
        *result_r = api_void();
    return rc;
}

/* ---- SR.create / destroy / forget / scan ------------------------------- */

struct sr_args {
    const char *host, *type, *content_type, *name, *desc;
    const struct api_value *dc;
    int64_t size;
    bool shared;
};

static int sr_args(struct api_call_ctx *call, const struct api_value *params,
                   struct sr_args *a)
{
    a->host = xa_param_str(params, 1);
    a->dc = api_array_get(params, 2);
    a->name = xa_param_str(params, 4);
    a->desc = xa_param_str(params, 5);
    a->type = xa_param_str(params, 6);
    a->content_type = xa_param_str(params, 7);
    if (!a->host || api_value_type(a->dc) != API_STRUCT || !a->name ||
        !a->desc || !a->type || !a->content_type ||
        api_value_get_int64(api_array_get(params, 3), &a->size) < 0 ||
        api_value_get_bool(api_array_get(params, 8), &a->shared) < 0 ||
        a->size < 0)
        return xt_error(call->xt, -EINVAL, "SR.create(session, host, "
                        "device_config, physical_size, name_label, "
                        "name_description, type, content_type, shared, "
                        "sm_config)");
    return 0;
}

/* The SR's records: the SR, one PBD per host if shared, else on host. */
static int sr_records(struct api_call_ctx *call, const struct sr_args *a,
                      const char *uuid, const struct api_value *ans,
                      char **sr_r)
{
    struct pool_db *db = dbof(call);
    const struct pool_field *f = pool_class_field(
        pool_class_get(POOL_CLASS_PBD), "device_config");
    struct pool_value dc = { 0 };
    struct pool_strv hosts = { 0 };
    size_t i;
    int rc;

    rc = xa_value_from_api(f, a->dc, &dc);
    rc = rc ?: pool_db_begin(db);
    if (rc < 0)
        goto out;
    rc = pool_db_create(db, POOL_CLASS_SR, (struct pool_field_init[]){
        { "uuid", POOL_V_STR(uuid) }, { "name_label", POOL_V_STR(a->name) },
        { "name_description", POOL_V_STR(a->desc) },
        { "type", POOL_V_STR(a->type) },
        { "content_type", POOL_V_STR(a->content_type) },
        { "shared", POOL_V_BOOL(a->shared) },
    }, 6, sr_r);
    rc = rc ?: apply_stat(db, *sr_r, ans);
    if (rc == 0 && a->shared)
        rc = pool_db_get_all(db, POOL_CLASS_HOST, &hosts);
    for (i = 0; rc == 0 && i < (a->shared ? hosts.n : 1); i++)
        rc = pool_db_create(db, POOL_CLASS_PBD, (struct pool_field_init[]){
            { "host", POOL_V_REF(a->shared ? hosts.v[i] : a->host) },
            { "SR", POOL_V_REF(*sr_r) }, { "device_config", dc },
        }, 3, NULL);
    rc = rc ?: pool_db_commit(db);
    if (rc < 0)
        pool_db_rollback(db);
out:
    pool_strv_free(&hosts);
    pool_value_clear(&dc);
    return rc;
}

/* The records of a new SR could not be written: its creation on the
 * medium is undone, so that no SR is left that the pool does not know.
 * *params (the create's) is consumed. */
static void undo_create(struct api_call_ctx *call, const char *url,
                        struct api_value **params)
{
    struct xa_call *xc = xa_call_of(call);
    struct api_value *v = NULL, *fail = NULL;
    struct xt_err first = { 0 };

    xt_err_take(&first, call->xt, call->xt->err_rc);
    if (xa_host_call(xc->xa, call->xt, url, "host_local.sr_destroy", *params,
                     SR_CALL_TIMEOUT_S, &v, &fail) < 0)
        xt_warn(call->xt, "a new SR is left on the medium at %s: %s", url,
                call->xt->err_msg);
    *params = NULL;
    xt_err_put(&first, call->xt);
    api_value_free(v);
    api_value_free(fail);
}

/* Creates the SR on host's medium, then its records, then plugs every
 * PBD (a host that cannot plug it leaves its PBD unplugged). */
static int m_sr_create(struct api_call_ctx *call,
                       const struct api_value *params,
                       struct api_value **result_r)
{
    struct xa_call *xc = xa_call_of(call);
    struct api_value *p = NULL, *spec = NULL, *ans = NULL, *undo = NULL;
    struct pool_strv pbds = { 0 };
    char u[XT_UUID_STRLEN + 1], *sr = NULL, *url = NULL;
    struct sr_args a;
    struct xt_uuid uuid;
    size_t i;
    int rc = sr_args(call, params, &a);

    if (rc < 0)
        return rc;
    if (!sr_type_known(a.type)) {
        *result_r = api_failure("SR_UNKNOWN_DRIVER", a.type, NULL);
        return xt_error(call->xt, -ENODEV, "no SR driver '%s'", a.type);
    }
    if (a.shared != sr_type_shared(a.type)) {
        *result_r = api_failure("INVALID_VALUE", "shared",
                                a.shared ? "true" : "false", NULL);
        return xt_error(call->xt, -EINVAL, "SR type '%s' is %sshared",
                        a.type, a.shared ? "not " : "");
    }
    xt_uuid_generate(&uuid);
    xt_uuid_format(&uuid, u);
    spec = api_struct();
    rc = api_struct_add(spec, "type", api_string(a.type));
    rc = rc ?: api_struct_add(spec, "uuid", api_string(u));
    rc = rc ?: api_struct_add(spec, "physical_size", api_int(a.size));
    rc = rc ?: api_struct_add(spec, "device_config", api_value_copy(a.dc));
    p = api_array();
    rc = rc ?: api_array_append(p, spec);
    spec = NULL;
    rc = rc ?: xa_host_usable(call, a.host, result_r);
    rc = rc ?: xa_host_url(xc->xa, dbof(call), a.host, &url);
    if (rc < 0)
        goto out;
    undo = api_value_copy(p);
    rc = xa_host_call(xc->xa, call->xt, url, "host_local.sr_create", p,
                      SR_CALL_TIMEOUT_S, &ans, result_r);
    p = NULL;
    if (rc == 0 && xt_fault(call->xt, "pd.sr-create.records") ==
        XT_FAULT_FAIL)
        rc = xt_error(call->xt, -EIO, "fault pd.sr-create.records");
    else if (rc == 0)
        rc = sr_records(call, &a, u, ans, &sr);
    if (rc < 0 && ans)
        undo_create(call, url, &undo);
    rc = rc ?: pool_db_find(dbof(call), POOL_CLASS_PBD, "SR",
                            &POOL_V_REF(sr), &pbds);
    for (i = 0; rc == 0 && i < pbds.n; i++) {
        struct api_value *fail = NULL;

        if (plug(call, sr, pbds.v[i], &fail) < 0)
            xt_warn(call->xt, "SR %s: PBD %s not plugged: %s", sr,
                    pbds.v[i], call->xt->err_msg);
        api_value_free(fail);
    }
    if (rc == 0)
        *result_r = api_string(sr);
out:
    api_value_free(spec);
    api_value_free(p);
    api_value_free(undo);
    api_value_free(ans);
    pool_strv_free(&pbds);
    free(sr);
    free(url);
    return rc;
}

/* SR_HAS_PBD while a PBD of sr is plugged. */
static int check_unplugged(struct api_call_ctx *call, const char *sr,
                           struct api_value **result_r)
{
    struct pool_strv pbds = { 0 };
    int64_t att = 0;
    size_t i;
    int rc = pool_db_find(dbof(call), POOL_CLASS_PBD, "SR", &POOL_V_REF(sr),
                          &pbds);

    for (i = 0; rc == 0 && i < pbds.n && !att; i++)
        rc = xa_field_int(dbof(call), POOL_CLASS_PBD, pbds.v[i],
                          "currently_attached", &att);
    pool_strv_free(&pbds);
    if (rc == 0 && att) {
        *result_r = api_failure("SR_HAS_PBD", sr, NULL);
        rc = xt_error(call->xt, -EBUSY, "SR %s is plugged", sr);
    }
    return rc;
}

static int m_sr_destroy(struct api_call_ctx *call,
                        const struct api_value *params,
                        struct api_value **result_r)
{
    const char *sr = xa_param_str(params, 1);
    struct pool_strv vdis = { 0 };
    struct api_value *ans = NULL;
    char *pbd = NULL, *host = NULL;
    int rc;

    if (!sr)
        return xt_error(call->xt, -EINVAL, "SR.destroy(session, sr)");
    rc = pool_db_check_ref(dbof(call), POOL_CLASS_SR, sr);
    rc = xa_db_fail(call, rc, "SR", sr, result_r);
    rc = rc ?: check_unplugged(call, sr, result_r);
    rc = rc ?: pool_db_find(dbof(call), POOL_CLASS_VDI, "SR",
                            &POOL_V_REF(sr), &vdis);
    if (rc == 0 && vdis.n) {
        *result_r = api_failure("SR_NOT_EMPTY", NULL);
        rc = xt_error(call->xt, -ENOTEMPTY, "SR %s holds %zu VDIs", sr,
                      vdis.n);
    }
    rc = rc ?: pick_pbd(call, sr, false, &pbd, &host, result_r);
    rc = rc ?: sr_call(call, sr, pbd, host, NULL, "host_local.sr_destroy",
                       NULL, &ans, result_r);
    rc = rc ?: pool_db_destroy(dbof(call), POOL_CLASS_SR, sr);
    if (rc == 0)
        *result_r = api_void();
    pool_strv_free(&vdis);
    api_value_free(ans);
    free(pbd);
    free(host);
    return rc;
}

static int m_sr_forget(struct api_call_ctx *call,
                       const struct api_value *params,
                       struct api_value **result_r)
{
    const char *sr = xa_param_str(params, 1);
    int rc;

    if (!sr)
        return xt_error(call->xt, -EINVAL, "SR.forget(session, sr)");
    rc = pool_db_check_ref(dbof(call), POOL_CLASS_SR, sr);
    rc = xa_db_fail(call, rc, "SR", sr, result_r);
    rc = rc ?: check_unplugged(call, sr, result_r);
    rc = rc ?: pool_db_destroy(dbof(call), POOL_CLASS_SR, sr);
    if (rc == 0)
        *result_r = api_void();
    return rc;
}

static int m_sr_scan(struct api_call_ctx *call,
                     const struct api_value *params,
                     struct api_value **result_r)
{
    const char *sr = xa_param_str(params, 1);
    char *pbd = NULL, *host = NULL;
    int rc;

    if (!sr)
        return xt_error(call->xt, -EINVAL, "SR.scan(session, sr)");
    rc = pool_db_check_ref(dbof(call), POOL_CLASS_SR, sr);
    rc = xa_db_fail(call, rc, "SR", sr, result_r);
    rc = rc ?: pick_pbd(call, sr, true, &pbd, &host, result_r);
    rc = rc ?: plug(call, sr, pbd, result_r);
    if (rc == 0)
        *result_r = api_void();
    free(pbd);
    free(host);
    return rc;
}

/* ---- VDI.create / destroy / resize -------------------------------------- */

static const char *const vdi_fields[] = {
    "name_label", "name_description", "type", "sharable", "read_only",
    "other_config", "sm_config", NULL
};

/* The record's fields a client may give, as field inits (n in *n_r). */
static int vdi_inits(struct api_call_ctx *call, const struct api_value *rec,
                     struct pool_field_init *init, size_t *n_r,
                     struct api_value **result_r)
{
    const struct pool_class *cls = pool_class_get(POOL_CLASS_VDI);
    size_t i;

    *n_r = 0;
    for (i = 0; vdi_fields[i]; i++) {
        const struct api_value *a = api_struct_get(rec, vdi_fields[i]);
        const struct pool_field *f = pool_class_field(cls, vdi_fields[i]);

        if (!a)
            continue;
        init[*n_r].name = f->name;
        if (xa_value_from_api(f, a, &init[(*n_r)++].value) < 0) {
            *result_r = api_failure("FIELD_TYPE_ERROR", f->name, NULL);
            return xt_error(call->xt, -EINVAL, "%s: wrong type", f->name);
        }
    }
    return 0;
}

/* The VDI's record once the host created it (ans: its answer). */
static int vdi_record(struct api_call_ctx *call, const char *sr,
                      const struct api_value *ans,
                      struct pool_field_init *init, size_t n, char **ref_r)
{
    struct pool_db *db = dbof(call);
    const struct api_value *v = api_struct_get(ans, "vdi");
    const char *u = api_value_string(api_struct_get(v, "uuid"));
    int64_t size = 0, used = 0;
    int rc;

    api_value_get_int64(api_struct_get(v, "virtual_size"), &size);
    api_value_get_int64(api_struct_get(v, "physical_utilisation"), &used);
    init[n++] = (struct pool_field_init){ "uuid", POOL_V_STR(u) };
    init[n++] = (struct pool_field_init){ "SR", POOL_V_REF(sr) };
    init[n++] = (struct pool_field_init){ "virtual_size", POOL_V_INT(size) };
    init[n++] = (struct pool_field_init){ "physical_utilisation",
                                          POOL_V_INT(used) };
    init[n++] = (struct pool_field_init){ "location", POOL_V_STR(u) };
    rc = pool_db_begin(db);
    rc = rc ?: pool_db_create(db, POOL_CLASS_VDI, init, n, ref_r);
    rc = rc ?: apply_stat(db, sr, ans);
    rc = rc ?: pool_db_commit(db);
    if (rc < 0)
        pool_db_rollback(db);
    return rc;
}

static int vdi_create(struct api_call_ctx *call,
                      const struct api_value *params,
                      struct api_value **result_r)
{
    const struct api_value *rec = api_array_get(params, 1);
    struct pool_field_init init[16];
    struct api_value *extra = NULL, *ans = NULL;
    char u[XT_UUID_STRLEN + 1], *pbd = NULL, *host = NULL, *ref = NULL;
    const char *sr = api_value_string(api_struct_get(rec, "SR"));
    struct xt_uuid uuid;
    int64_t size = 0;
    size_t n = 0, i;
    int rc;

    if (api_value_type(rec) != API_STRUCT || !sr ||
        api_value_get_int64(api_struct_get(rec, "virtual_size"), &size) < 0)
        return xt_error(call->xt, -EINVAL, "VDI.create(session, record "
                        "with SR and virtual_size)");
    rc = pool_db_check_ref(dbof(call), POOL_CLASS_SR, sr);
    rc = xa_db_fail(call, rc, "SR", sr, result_r);
    rc = rc ?: vdi_inits(call, rec, init, &n, result_r);
    rc = rc ?: pick_pbd(call, sr, true, &pbd, &host, result_r);
    if (rc < 0)
        goto out;
    xt_uuid_generate(&uuid);
    xt_uuid_format(&uuid, u);
    extra = api_array();
    rc = api_array_append(extra, api_string(u));
    rc = rc ?: api_array_append(extra, api_int(size));
    rc = rc ?: sr_call(call, sr, pbd, host, NULL, "host_local.vdi_create",
                       extra, &ans, result_r);
    extra = NULL;
    rc = rc ?: vdi_record(call, sr, ans, init, n, &ref);
    if (rc == 0)
        *result_r = api_string(ref);
out:
    for (i = 0; i < n; i++)
        pool_value_clear(&init[i].value);
    api_value_free(extra);
    api_value_free(ans);
    free(pbd);
    free(host);
    free(ref);
    return rc;
}

/* VDI_IN_USE while a VBD of vdi is plugged. */
static int check_unused(struct api_call_ctx *call, const char *vdi,
                        const char *op, struct api_value **result_r)
{
    struct pool_strv vbds = { 0 };
    int64_t att = 0;
    size_t i;
    int rc = pool_db_find(dbof(call), POOL_CLASS_VBD, "VDI",
                          &POOL_V_REF(vdi), &vbds);

    for (i = 0; rc == 0 && i < vbds.n && !att; i++)
        rc = xa_field_int(dbof(call), POOL_CLASS_VBD, vbds.v[i],
                          "currently_attached", &att);
    pool_strv_free(&vbds);
    if (rc == 0 && att) {
        *result_r = api_failure("VDI_IN_USE", vdi, op, NULL);
        rc = xt_error(call->xt, -EBUSY, "VDI %s is plugged", vdi);
    }
    return rc;
}

/* VDI.destroy and VDI.resize: the host acts, then the record follows. */
static int vdi_change(struct api_call_ctx *call, const char *vdi,
                      const char *op, int64_t size,
                      struct api_value **result_r)
{
    struct pool_db *db = dbof(call);
    struct api_value *extra = api_array(), *ans = NULL;
    char *sr = NULL, *uuid = NULL, *pbd = NULL, *host = NULL;
    char method[40];
    int rc;

    rc = xa_field_str(db, POOL_CLASS_VDI, vdi, "SR", &sr);
    rc = xa_db_fail(call, rc, "VDI", vdi, result_r);
    rc = rc ?: xa_field_str(db, POOL_CLASS_VDI, vdi, "uuid", &uuid);
    rc = rc ?: check_unused(call, vdi, op, result_r);
    rc = rc ?: pick_pbd(call, sr, true, &pbd, &host, result_r);
    rc = rc ?: api_array_append(extra, api_string(uuid));
    if (rc == 0 && size)
        rc = api_array_append(extra, api_int(size));
    snprintf(method, sizeof(method), "host_local.vdi_%s", op);
    rc = rc ?: sr_call(call, sr, pbd, host, vdi, method, extra, &ans,
                       result_r);
    extra = NULL;
    rc = rc ?: pool_db_begin(db);
    if (rc < 0)
        goto out;
    if (size) {
        int64_t v = size;

        api_value_get_int64(api_struct_get(api_struct_get(ans, "vdi"),
                                           "virtual_size"), &v);
        rc = pool_db_set_field(db, POOL_CLASS_VDI, vdi, "virtual_size",
                               &POOL_V_INT(v), POOL_DB_INTERNAL);
    } else {
        rc = pool_db_destroy(db, POOL_CLASS_VDI, vdi);
    }
    rc = rc ?: apply_stat(db, sr, ans);
    rc = rc ?: pool_db_commit(db);
    if (rc < 0)
        pool_db_rollback(db);
    if (rc == 0)
        *result_r = api_void();
out:
    api_value_free(extra);
    api_value_free(ans);
    free(sr);
    free(uuid);
    free(pbd);
    free(host);
    return rc;
}

int xa_vdi_create(struct api_call_ctx *call, const char *sr, int64_t size,
                  const char *name, char **ref_r, struct api_value **result_r)
{
    struct api_value *params = api_array(), *rec = api_struct(), *r = NULL;
    int rc;

    *ref_r = NULL;
    rc = api_struct_add(rec, "SR", api_string(sr));
    rc = rc ?: api_struct_add(rec, "virtual_size", api_int(size));
    rc = rc ?: api_struct_add(rec, "name_label", api_string(name));
    rc = rc ?: api_array_append(params, api_string(""));
    rc = rc ?: api_array_append(params, rec);
    if (rc < 0) {
        api_value_free(params);
        api_value_free(rec);
        return xt_error(call->xt, -ENOMEM, "out of memory");
    }
    rc = vdi_create(call, params, &r);
    if (rc == 0 && !(*ref_r = strdup(api_value_string(r) ?: "")))
        rc = xt_error(call->xt, -ENOMEM, "out of memory");
    if (rc == 0)
        api_value_free(r);
    else if (r && !*result_r)
        *result_r = r;
    else
        api_value_free(r);
    api_value_free(params);
    return rc;
}

int xa_vdi_destroy(struct api_call_ctx *call, const char *vdi,
                   struct api_value **result_r)
{
    struct api_value *r = NULL;
    int rc = vdi_change(call, vdi, "destroy", 0, &r);

    if (rc < 0 && r && !*result_r)
        *result_r = r;
    else
        api_value_free(r);
    return rc;
}

static int vdi_destroy(struct api_call_ctx *call,
                       const struct api_value *params,
                       struct api_value **result_r)
{
    const char *vdi = xa_param_str(params, 1);

    if (!vdi)
        return xt_error(call->xt, -EINVAL, "VDI.destroy(session, vdi)");
    return vdi_change(call, vdi, "destroy", 0, result_r);
}

static int vdi_resize(struct api_call_ctx *call,
                      const struct api_value *params,
                      struct api_value **result_r)
{
    const char *vdi = xa_param_str(params, 1);
    int64_t size = 0;

    if (!vdi || api_value_get_int64(api_array_get(params, 2), &size) < 0 ||
        size <= 0)
        return xt_error(call->xt, -EINVAL, "VDI.resize(session, vdi, size)");
    return vdi_change(call, vdi, "resize", size, result_r);
}

/* VDI.clone(vdi, driver_params): a new VDI of the same SR holding a full
 * copy; its name and description are the source's, as XAPI's. */
/* VDI.clone and VDI.snapshot: a copy on the same SR.  The copy is of the
 * medium, so a VDI a running VM holds is refused (VDI_IN_USE) rather than
 * copied torn. */
static int vdi_copy(struct api_call_ctx *call, const struct api_value *params,
                    bool snapshot, struct api_value **result_r)
{
    const char *vdi = xa_param_str(params, 1);
    const char *op = snapshot ? "snapshot" : "clone";
    struct pool_db *db = dbof(call);
    struct pool_field_init init[16];
    struct api_value *extra = NULL, *ans = NULL;
    char u[XT_UUID_STRLEN + 1], *sr = NULL, *src = NULL, *pbd = NULL;
    char *host = NULL, *ref = NULL, *name = NULL, *desc = NULL;
    char now[POOL_DATETIME_STRLEN + 1], method[32];
    struct xt_uuid uuid;
    size_t n = 0;
    int rc;

    if (!vdi)
        return xt_error(call->xt, -EINVAL, "VDI.%s(session, vdi, "
                        "driver_params)", op);
    rc = xa_field_str(db, POOL_CLASS_VDI, vdi, "SR", &sr);
    rc = xa_db_fail(call, rc, "VDI", vdi, result_r);
    rc = rc ?: check_unused(call, vdi, op, result_r);
    rc = rc ?: xa_field_str(db, POOL_CLASS_VDI, vdi, "uuid", &src);
    rc = rc ?: xa_field_str(db, POOL_CLASS_VDI, vdi, "name_label", &name);
    rc = rc ?: xa_field_str(db, POOL_CLASS_VDI, vdi, "name_description",
                            &desc);
    rc = rc ?: pick_pbd(call, sr, true, &pbd, &host, result_r);
    if (rc < 0)
        goto out;
    xt_uuid_generate(&uuid);
    xt_uuid_format(&uuid, u);
    extra = api_array();
    rc = api_array_append(extra, api_string(src));
    rc = rc ?: api_array_append(extra, api_string(u));
    snprintf(method, sizeof(method), "host_local.vdi_%s", op);
    rc = rc ?: sr_call(call, sr, pbd, host, vdi, method, extra, &ans,
                       result_r);
    extra = NULL;
    if (rc < 0)
        goto out;
    init[n].name = "name_label";
    init[n++].value = POOL_V_STR(name);
    init[n].name = "name_description";
    init[n++].value = POOL_V_STR(desc);
    if (snapshot) {
        pool_datetime_now(now);
        init[n].name = "is_a_snapshot";
        init[n++].value = POOL_V_BOOL(true);
        init[n].name = "snapshot_of";
        init[n++].value = POOL_V_REF(vdi);
        init[n].name = "snapshot_time";
        init[n++].value = POOL_V_DATETIME(now);
    }
    rc = vdi_record(call, sr, ans, init, n, &ref);
    if (rc == 0)
        *result_r = api_string(ref);
out:
    api_value_free(extra);
    api_value_free(ans);
    free(sr);
    free(src);
    free(pbd);
    free(host);
    free(ref);
    free(name);
    free(desc);
    return rc;
}

static int vdi_clone(struct api_call_ctx *call,
                     const struct api_value *params,
                     struct api_value **result_r)
{
    return vdi_copy(call, params, false, result_r);
}

static int vdi_snapshot(struct api_call_ctx *call,
                        const struct api_value *params,
                        struct api_value **result_r)
{
    return vdi_copy(call, params, true, result_r);
}

/* ---- VDI.copy: a sparse copy to any SR --------------------------------- */

#define COPY_OF         "xm:copy-of"
#define COPY_MIN_BPS    (16 << 20)  /* the slowest copy the timeout allows */

/* A live host that has plugged both src_sr and dst_sr (this one first):
 * *host_r and the PBDs there.  SR_NOT_ATTACHED when one is plugged
 * nowhere, OPERATION_NOT_ALLOWED when no host has both. */
static int pick_both(struct api_call_ctx *call, const char *src_sr,
                     const char *dst_sr, char **src_pbd_r, char **dst_pbd_r,
                     char **host_r, struct api_value **result_r)
{
    struct pool_db *db = dbof(call);
    struct pool_strv hosts = { 0 };
    char *self = NULL, *pbd = NULL, *host = NULL;
    size_t i;
    int rc, pass;

    *src_pbd_r = *dst_pbd_r = *host_r = NULL;
    rc = pick_pbd(call, src_sr, true, &pbd, &host, result_r);
    free(pbd);
    free(host);
    pbd = host = NULL;
    rc = rc ?: pick_pbd(call, dst_sr, true, &pbd, &host, result_r);
    free(pbd);
    free(host);
    rc = rc ?: pool_db_get_all(db, POOL_CLASS_HOST, &hosts);
    if (rc < 0)
        goto out;
    xa_self_host(xa_call_of(call)->xa, db, &self);
    for (pass = 0; pass < 2 && !*host_r; pass++)
        for (i = 0; i < hosts.n && !*host_r; i++) {
            int64_t live = 0;

            if ((pass == 0) != (self && !strcmp(hosts.v[i], self)) ||
                xa_field_int(db, POOL_CLASS_HOST, hosts.v[i], "live",
                             &live) < 0 || !live ||
                xa_pbd_on(db, src_sr, hosts.v[i], src_pbd_r) < 0 ||
                !*src_pbd_r)
                continue;
            if (xa_pbd_on(db, dst_sr, hosts.v[i], dst_pbd_r) < 0 ||
                !*dst_pbd_r) {
                free(*src_pbd_r);
                *src_pbd_r = NULL;
                continue;
            }
            *host_r = strdup(hosts.v[i]);
        }
    if (!*host_r) {
        free(*src_pbd_r);
        free(*dst_pbd_r);
        *src_pbd_r = *dst_pbd_r = NULL;
        *result_r = api_failure("OPERATION_NOT_ALLOWED", "no live host has "
                                "plugged both SRs: a copy across hosts is "
                                "not supported yet", NULL);
        rc = xt_error(call->xt, -EXDEV, "no live host has plugged both SR "
                      "%s and SR %s", src_sr, dst_sr);
    }
out:
    free(self);
    pool_strv_free(&hosts);
    return rc;
}

/* The copy's VDI on sr, through VDI.create (SR_FULL when it does not
 * fit): vdi's size, name and description, tagged COPY_OF vdi until the
 * copy is done.  *ref_r: the caller's. */
static int copy_create(struct api_call_ctx *call, const char *vdi,
                       const char *sr, char **ref_r,
                       struct api_value **result_r)
{
    struct pool_db *db = dbof(call);
    struct api_value *params = api_array(), *rec = api_struct(), *oc;
    struct api_value *r = NULL;
    char *name = NULL, *desc = NULL;
    int64_t size = 0;
    int rc;

    *ref_r = NULL;
    rc = xa_field_int(db, POOL_CLASS_VDI, vdi, "virtual_size", &size);
    rc = rc ?: xa_field_str(db, POOL_CLASS_VDI, vdi, "name_label", &name);
    rc = rc ?: xa_field_str(db, POOL_CLASS_VDI, vdi, "name_description",
                            &desc);
    if (rc < 0)
        goto out;
    oc = api_struct();
    rc = api_struct_add(oc, COPY_OF, api_string(vdi));
    rc = rc ?: api_struct_add(rec, "other_config", oc);
    rc = rc ?: api_struct_add(rec, "SR", api_string(sr));
    rc = rc ?: api_struct_add(rec, "virtual_size", api_int(size));
    rc = rc ?: api_struct_add(rec, "name_label", api_string(name));
    rc = rc ?: api_struct_add(rec, "name_description", api_string(desc));
    rc = rc ?: api_array_append(params, api_string(""));
    rc = rc ?: api_array_append(params, rec);
    if (rc < 0) {
        rc = xt_error(call->xt, -ENOMEM, "out of memory");
        goto out;
    }
    rec = NULL;
    rc = vdi_create(call, params, &r);
    if (rc == 0 && !(*ref_r = strdup(api_value_string(r) ?: "")))
        rc = xt_error(call->xt, -ENOMEM, "out of memory");
    if (rc < 0 && r && !*result_r) {
        *result_r = r;
        r = NULL;
    }
out:
    api_value_free(r);
    api_value_free(rec);
    api_value_free(params);
    free(name);
    free(desc);
    return rc;
}

/* The copy failed: its VDI goes, the first error stays.  A VDI that
 * cannot be destroyed (the agent may still hold it, its answer lost)
 * keeps its COPY_OF tag, so that it can be found. */
static void copy_undo(struct api_call_ctx *call, const char *dst)
{
    struct api_value *ignored = NULL;
    struct xt_err first = { 0 };
    bool quiet = call->xt->quiet_errors;

    xt_err_take(&first, call->xt, call->xt->err_rc);
    call->xt->quiet_errors = true;
    if (vdi_change(call, dst, "destroy", 0, &ignored) < 0)
        xt_warn(call->xt, "VDI %s, a failed copy, is left (other_config "
                "%s): %s", dst, COPY_OF, call->xt->err_msg);
    call->xt->quiet_errors = quiet;
    api_value_free(ignored);
    xt_err_put(&first, call->xt);
}

/* The copy is on the medium: dst's record and its SR's follow, and the
 * tag goes, in one transaction. */
static int copy_done(struct api_call_ctx *call, const char *sr,
                     const char *dst, const struct api_value *ans)
{
    struct pool_db *db = dbof(call);
    int64_t used = 0;
    int rc;

    api_value_get_int64(api_struct_get(api_struct_get(ans, "vdi"),
                                       "physical_utilisation"), &used);
    rc = pool_db_begin(db);
    rc = rc ?: pool_db_set_field(db, POOL_CLASS_VDI, dst,
                                 "physical_utilisation", &POOL_V_INT(used),
                                 POOL_DB_INTERNAL);
    rc = rc ?: apply_stat(db, sr, ans);
    rc = rc ?: pool_db_map_remove(db, POOL_CLASS_VDI, dst, "other_config",
                                  COPY_OF, POOL_DB_INTERNAL);
    rc = rc ?: pool_db_commit(db);
    if (rc < 0) {
        pool_db_rollback(db);
        rc = xt_error(call->xt, rc, "VDI %s: the copy's record", dst);
    }
    return rc;
}

/*
 * VDI.copy(session, vdi, sr[, base_vdi, into_vdi]): a new VDI on sr with
 * vdi's size, name and description holding a sparse copy of it (only the
 * allocated extents are read and written), made by the agent of a host
 * that has plugged both SRs.  Refused while a running VM writes vdi.  The
 * copy's VDI is tagged COPY_OF before the copy starts and untagged when
 * it is done; a failure destroys it.  XAPI's base_vdi and into_vdi (a
 * delta into an existing VDI) are not supported.
 */
static int vdi_copy_sr(struct api_call_ctx *call,
                       const struct api_value *params,
                       struct api_value **result_r)
{
    const char *vdi = xa_param_str(params, 1), *sr = xa_param_str(params, 2);
    const char *base = xa_param_str(params, 3);
    const char *into = xa_param_str(params, 4);
    struct xa_call *xc = xa_call_of(call);
    struct pool_db *db = dbof(call);
    struct api_value *extra = NULL, *spec = NULL, *ans = NULL;
    char *src_sr = NULL, *src_pbd = NULL, *dst_pbd = NULL, *host = NULL;
    char *src = NULL, *dst = NULL, *dst_uuid = NULL;
    int64_t size = 0;
    int rc;

    if (!vdi || !sr)
        return xt_error(call->xt, -EINVAL, "VDI.copy(session, vdi, sr)");
    if (!pool_ref_is_null(base) || !pool_ref_is_null(into)) {
        *result_r = api_failure("OPERATION_NOT_ALLOWED", "VDI.copy with "
                                "base_vdi or into_vdi is not supported: "
                                "give both as OpaqueRef:NULL for a copy "
                                "into a new VDI", NULL);
        return xt_error(call->xt, -ENOTSUP, "VDI.copy: base_vdi and "
                        "into_vdi are not supported");
    }
    rc = xa_field_str(db, POOL_CLASS_VDI, vdi, "SR", &src_sr);
    rc = xa_db_fail(call, rc, "VDI", vdi, result_r);
    rc = rc ?: xa_db_fail(call, pool_db_check_ref(db, POOL_CLASS_SR, sr),
                          "SR", sr, result_r);
    rc = rc ?: xa_field_str(db, POOL_CLASS_VDI, vdi, "uuid", &src);
    rc = rc ?: xa_field_int(db, POOL_CLASS_VDI, vdi, "virtual_size", &size);
    /* A copy of a disk being written would be torn; readers may stay. */
    rc = rc ?: xa_vdi_check_free(call, NULL, vdi, true, "copy", result_r);
    rc = rc ?: pick_both(call, src_sr, sr, &src_pbd, &dst_pbd, &host,
                         result_r);
    rc = rc ?: copy_create(call, vdi, sr, &dst, result_r);
    if (rc < 0)
        goto out;
    xa_task_progress(xc->xa, db, xc->task, 0.05);
    rc = xa_field_str(db, POOL_CLASS_VDI, dst, "uuid", &dst_uuid);
    rc = rc ?: spec_value(call, sr, dst_pbd, &spec);
    if (rc == 0) {
        extra = api_array();
        rc = api_array_append(extra, api_string(src));
        rc = rc ?: api_array_append(extra, spec);
        spec = NULL;
        rc = rc ?: api_array_append(extra, api_string(dst_uuid));
        /* The copy's progress to our task. */
        if (xc->task) {
            rc = rc ?: api_array_append(extra, api_string(xc->task));
            rc = rc ?: api_array_append(extra,
                                        api_string(xc->xa->self_url));
        }
        if (rc < 0)
            rc = xt_error(call->xt, -ENOMEM, "out of memory");
    }
    if (rc == 0 && xt_fault(call->xt, "pd.vdi-copy.created") ==
        XT_FAULT_FAIL)
        rc = xt_error(call->xt, -EIO, "fault pd.vdi-copy.created");
    rc = rc ?: sr_call_timed(call, src_sr, src_pbd, host, vdi,
                             "host_local.vdi_copy", extra,
                             SR_CALL_TIMEOUT_S + size / COPY_MIN_BPS, &ans,
                             result_r);
    extra = NULL;
    rc = rc ?: copy_done(call, sr, dst, ans);
    if (rc < 0) {
        copy_undo(call, dst);
        goto out;
    }
    *result_r = api_string(dst);
out:
    api_value_free(extra);
    api_value_free(spec);
    api_value_free(ans);
    free(src_sr);
    free(src_pbd);
    free(dst_pbd);
    free(host);
    free(src);
    free(dst);
    free(dst_uuid);
    return rc;
}

/* ---- SM: the drivers --------------------------------------------------- */

/* XAPI's capability names for what a driver can do. */
static const struct {
    const char *name;
    int cap;                    /* enum sr_cap, or -1: every driver */
} sm_caps[] = {
    { "SR_SCAN", -1 }, { "VDI_CREATE", -1 }, { "VDI_DELETE", -1 },
    { "VDI_ATTACH", -1 }, { "VDI_DETACH", -1 },
    { "VDI_RESIZE", SR_CAP_RESIZE }, { "VDI_SNAPSHOT", SR_CAP_SNAPSHOT },
    { "VDI_CLONE", SR_CAP_CLONE }, { "SR_TRIM", SR_CAP_TRIM },
};

static int sm_record(struct pool_db *db, const char *type)
{
    struct pool_value caps = { .type = POOL_FT_STRING_SET };
    struct pool_value feats = { .type = POOL_FT_MAP };
    struct pool_value conf = { .type = POOL_FT_MAP };
    char desc[160];
    size_t i;
    int rc = 0;

    for (i = 0; rc == 0 && i < sizeof(sm_caps) / sizeof(sm_caps[0]); i++)
        if (sm_caps[i].cap < 0 || sr_type_has(type, sm_caps[i].cap)) {
            rc = pool_value_set_add(&caps, sm_caps[i].name);
            /* features: XAPI's map to a version number, here as text */
            rc = rc ?: pool_value_map_put(&feats, sm_caps[i].name, "1");
        }
    rc = rc ?: pool_value_map_put(&conf, "location", "the SR's directory "
                                  "(an absolute path)");
    snprintf(desc, sizeof(desc), "xm-pool's %s SR driver (%s)", type,
             sr_type_shared(type) ? "shared: every host of the pool "
             "reaches its medium" : "local to one host");
    if (rc == 0) {
        struct pool_field_init init[] = {
            { "name_label", POOL_V_STR(type) },
            { "name_description", POOL_V_STR(desc) },
            { "type", POOL_V_STR(type) },
            { "vendor", POOL_V_STR("xm-pool") },
            { "copyright", POOL_V_STR("the xm-pool developers") },
            { "version", POOL_V_STR(PACKAGE_VERSION) },
            { "required_api_version", POOL_V_STR("1.0") },
            { "configuration", conf },
            { "capabilities", caps },
            { "features", feats },
            { "driver_filename", POOL_V_STR("sr/") },
        };
        rc = pool_db_create(db, POOL_CLASS_SM, init,
                            sizeof(init) / sizeof(init[0]), NULL);
    }
    pool_value_clear(&caps);
    pool_value_clear(&feats);
    pool_value_clear(&conf);
    return rc;
}

int xa_sm_records(struct pool_db *db)
{
    const char *const *types = sr_types();
    size_t i;
    int rc = 0;

    for (i = 0; rc == 0 && types[i]; i++) {
        struct pool_strv have = { 0 };

        rc = pool_db_find(db, POOL_CLASS_SM, "type", &POOL_V_STR(types[i]),
                          &have);
        if (rc == 0 && have.n == 0)
            rc = sm_record(db, types[i]);
        pool_strv_free(&have);
    }
    return rc;
}

const struct api_method xa_sr_methods[] = {
    { "SR.create", 9, 10, 0, m_sr_create },
    { "SR.destroy", 2, 0, 0, m_sr_destroy },
    { "SR.forget", 2, 0, 0, m_sr_forget },
    { "SR.scan", 2, 0, 0, m_sr_scan },
    { "PBD.plug", 2, 0, 0, pbd_plug },
    { "PBD.unplug", 2, 0, 0, pbd_unplug },
    { "VDI.create", 2, 0, 0, vdi_create },
    { "VDI.destroy", 2, 0, 0, vdi_destroy },
    { "VDI.resize", 3, 0, 0, vdi_resize },
    { "VDI.clone", 2, 3, 0, vdi_clone },
    { "VDI.snapshot", 2, 3, 0, vdi_snapshot },
    { "VDI.copy", 3, 5, 0, vdi_copy_sr },
    { NULL, 0, 0, 0, NULL },
};
