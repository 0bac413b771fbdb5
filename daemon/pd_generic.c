/*
 * pd_generic.c - the generic per-class methods (get_all,
 * get_all_records, get_record, get_by_uuid, get_by_name_label,
 * get_/set_<field>, add_to_/remove_from_<map>, add_/remove_<set>),
 * generated for each class from the pool model.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pd_internal.h"
#include "pd_xenapi.h"

/* ---- generic per-class methods ----------------------------------------- */

/* "VM.get_name_label" -> class VM, verb "get_name_label". */
static const struct pool_class *method_class(struct api_call_ctx *call,
                                             const char **verb_r)
{
    const char *name = call->m->name, *dot = strchr(name, '.');
    char cname[32];
    size_t n = dot ? (size_t)(dot - name) : 0;

    if (!dot || n >= sizeof(cname))
        return NULL;
    memcpy(cname, name, n);
    cname[n] = '\0';
    *verb_r = dot + 1;
    return pool_class_find(cname);
}

int xa_db_fail(struct api_call_ctx *call, int rc, const char *cls,
                   const char *ref, struct api_value **result_r)
{
    if (rc == -ENOENT)
        *result_r = api_failure("HANDLE_INVALID", cls, ref ? ref : "",
                                NULL);
    return rc;
}

static int m_get_all(struct api_call_ctx *call,
                     const struct api_value *params,
                     struct api_value **result_r)
{
    const char *verb;
    const struct pool_class *cls = method_class(call, &verb);
    struct pool_strv refs = { 0 };
    struct api_value *r;
    size_t i;
    int rc;

    rc = pool_db_get_all(xa_call_of(call)->db, cls->id, &refs);
    if (rc < 0)
        return rc;
    r = api_array();
    for (i = 0; r && i < refs.n; i++)
        if (api_array_append(r, api_string(refs.v[i])) < 0) {
            api_value_free(r);
            r = NULL;
        }
    pool_strv_free(&refs);
    if (!r)
        return xt_error(call->xt, -ENOMEM, "get_all");
    *result_r = r;
    return 0;
}

static int m_get_all_records(struct api_call_ctx *call,
                             const struct api_value *params,
                             struct api_value **result_r)
{
    const char *verb;
    const struct pool_class *cls = method_class(call, &verb);
    struct pool_record **recs = NULL;
    struct api_value *r;
    size_t i, n = 0;
    int rc;

    rc = pool_db_get_all_records(xa_call_of(call)->db, cls->id, &recs, &n);
    if (rc < 0)
        return rc;
    r = api_struct();
    for (i = 0; r && i < n; i++)
        if (api_struct_add_new(r, recs[i]->ref,
                               xa_record_value(recs[i])) < 0) {
            api_value_free(r);
            r = NULL;
        }
    pool_records_free(recs, n);
    if (!r)
        return xt_error(call->xt, -ENOMEM, "get_all_records");
    *result_r = r;
    return 0;
}

static int m_get_record(struct api_call_ctx *call,
                        const struct api_value *params,
                        struct api_value **result_r)
{
    const char *verb, *ref = xa_param_str(params, 1);
    const struct pool_class *cls = method_class(call, &verb);
    struct pool_record *rec = NULL;
    int rc;

    if (!ref)
        return xt_error(call->xt, -EINVAL, "the ref must be a string");
    rc = pool_db_get_record(xa_call_of(call)->db, cls->id, ref, &rec);
    if (rc < 0)
        return xa_db_fail(call, rc, cls->name, ref, result_r);
    *result_r = xa_record_value(rec);
    pool_record_free(rec);
    return *result_r ? 0 : xt_error(call->xt, -ENOMEM, "get_record");
}

static int m_get_by_uuid(struct api_call_ctx *call,
                         const struct api_value *params,
                         struct api_value **result_r)
{
    const char *verb, *uuid = xa_param_str(params, 1);
    const struct pool_class *cls = method_class(call, &verb);
    char *ref = NULL;
    int rc;

    if (!uuid)
        return xt_error(call->xt, -EINVAL, "the uuid must be a string");
    rc = pool_db_get_by_uuid(xa_call_of(call)->db, cls->id, uuid, &ref);
    if (rc == -ENOENT) {
        *result_r = api_failure("UUID_INVALID", cls->name, uuid, NULL);
        return rc;
    }
    if (rc < 0)
        return rc;
    *result_r = api_string(ref);
    free(ref);
    return 0;
}

static int m_get_by_name_label(struct api_call_ctx *call,
                               const struct api_value *params,
                               struct api_value **result_r)
{
    const char *verb, *label = xa_param_str(params, 1);
    const struct pool_class *cls = method_class(call, &verb);
    struct pool_strv refs = { 0 };
    struct api_value *r;
    size_t i;
    int rc;

    if (!label)
        return xt_error(call->xt, -EINVAL, "the label must be a string");
    rc = pool_db_get_by_name_label(xa_call_of(call)->db, cls->id, label,
                                   &refs);
    if (rc < 0)
        return rc;
    r = api_array();
    for (i = 0; r && i < refs.n; i++)
        if (api_array_append(r, api_string(refs.v[i])) < 0)
            r = NULL;
    pool_strv_free(&refs);
    if (!r)
        return xt_error(call->xt, -ENOMEM, "get_by_name_label");
    *result_r = r;
    return 0;
}

/* allowed_operations is derived from the whole record (pd_allowed.c). */
static int get_allowed(struct api_call_ctx *call, const struct pool_class *cls,
                       const char *ref, struct api_value **result_r)
{
    struct pool_record *rec = NULL;
    int rc;

    rc = pool_db_get_record(xa_call_of(call)->db, cls->id, ref, &rec);
    if (rc < 0)
        return xa_db_fail(call, rc, cls->name, ref, result_r);
    *result_r = xa_allowed_ops(rec);
    pool_record_free(rec);
    return *result_r ? 0 : xt_error(call->xt, -ENOMEM, "get");
}

static int m_get_field(struct api_call_ctx *call,
                       const struct api_value *params,
                       struct api_value **result_r)
{
    const char *verb, *ref = xa_param_str(params, 1);
    const struct pool_class *cls = method_class(call, &verb);
    struct pool_value v = { 0 };
    int rc;

    if (!ref)
        return xt_error(call->xt, -EINVAL, "the ref must be a string");
    if (!strcmp(verb, "get_allowed_operations"))
        return get_allowed(call, cls, ref, result_r);
    rc = pool_db_get_field(xa_call_of(call)->db, cls->id, ref,
                           verb + strlen("get_"), &v);
    if (rc < 0)
        return xa_db_fail(call, rc, cls->name, ref, result_r);
    *result_r = xa_pool_value(&v);
    pool_value_clear(&v);
    return *result_r ? 0 : xt_error(call->xt, -ENOMEM, "get");
}

static int m_set_field(struct api_call_ctx *call,
                       const struct api_value *params,
                       struct api_value **result_r)
{
    const char *verb, *ref = xa_param_str(params, 1), *fname;
    const struct pool_class *cls = method_class(call, &verb);
    const struct pool_field *f;
    struct pool_value v = { 0 };
    int rc;

    fname = verb + strlen("set_");
    f = pool_class_field(cls, fname);
    if (!ref)
        return xt_error(call->xt, -EINVAL, "the ref must be a string");
    rc = pool_db_check_ref(xa_call_of(call)->db, cls->id, ref);
    if (rc < 0)
        return xa_db_fail(call, rc, cls->name, ref, result_r);
    rc = xa_value_from_api(f, api_array_get(params, 2), &v);
    if (rc < 0) {
        pool_value_clear(&v);
        *result_r = api_failure("FIELD_TYPE_ERROR", fname, NULL);
        return xt_error(call->xt, -EINVAL, "%s: expected %s", fname,
                        pool_ftype_name(f->type));
    }
    rc = pool_db_set_field(xa_call_of(call)->db, cls->id, ref, fname, &v,
                           0);
    pool_value_clear(&v);
    if (rc == -EINVAL)
        *result_r = api_failure("FIELD_TYPE_ERROR", fname, NULL);
    if (rc < 0)
        return xa_db_fail(call, rc, cls->name, ref, result_r);
    *result_r = api_void();
    return 0;
}

/* <class>.add_to_<map>(session, ref, key, value) and
 * <class>.remove_from_<map>(session, ref, key) of a writable map field. */
static int m_map_edit(struct api_call_ctx *call,
                      const struct api_value *params,
                      struct api_value **result_r)
{
    const char *verb, *ref = xa_param_str(params, 1), *fname;
    const char *key = xa_param_str(params, 2);
    const char *val = xa_param_str(params, 3);
    const struct pool_class *cls = method_class(call, &verb);
    bool add = !strncmp(verb, "add_to_", strlen("add_to_"));
    int rc;

    fname = verb + (add ? strlen("add_to_") : strlen("remove_from_"));
    if (!ref || !key || (add && !val))
        return xt_error(call->xt, -EINVAL, "%s: ref, key%s must be strings",
                        verb, add ? " and value" : "");
    rc = pool_db_check_ref(xa_call_of(call)->db, cls->id, ref);
    if (rc < 0)
        return xa_db_fail(call, rc, cls->name, ref, result_r);
    if (add)
        rc = pool_db_map_put(xa_call_of(call)->db, cls->id, ref, fname, key,
                             val, 0);
    else
        rc = pool_db_map_remove(xa_call_of(call)->db, cls->id, ref, fname,
                                key, 0);
    if (rc < 0)
        return xa_db_fail(call, rc, cls->name, ref, result_r);
    *result_r = api_void();
    return 0;
}

/* add_<field>(ref, value) / remove_<field>(ref, value) of a set of
 * strings (VM.add_tags): read, changed, written in one transaction. */
static int m_set_edit(struct api_call_ctx *call,
                      const struct api_value *params,
                      struct api_value **result_r)
{
    struct pool_db *db = xa_call_of(call)->db;
    const char *verb, *ref = xa_param_str(params, 1), *fname;
    const char *item = xa_param_str(params, 2);
    const struct pool_class *cls = method_class(call, &verb);
    bool add = !strncmp(verb, "add_", strlen("add_"));
    struct pool_value v = { 0 }, nv = { .type = POOL_FT_STRING_SET };
    size_t i;
    int rc;

    fname = verb + (add ? strlen("add_") : strlen("remove_"));
    if (!ref || !item)
        return xt_error(call->xt, -EINVAL, "%s: ref and value must be "
                        "strings", verb);
    rc = pool_db_begin(db);
    rc = rc ?: pool_db_get_field(db, cls->id, ref, fname, &v);
    for (i = 0; rc == 0 && i < v.set.n; i++)
        if (strcmp(v.set.v[i], item))
            rc = pool_value_set_add(&nv, v.set.v[i]);
    if (rc == 0 && add)
        rc = pool_value_set_add(&nv, item);
    rc = rc ?: pool_db_set_field(db, cls->id, ref, fname, &nv, 0);
    if (rc == 0)
        rc = pool_db_commit(db);
    else
        pool_db_rollback(db);
    pool_value_clear(&v);
    pool_value_clear(&nv);
    if (rc < 0)
        return xa_db_fail(call, rc, cls->name, ref, result_r);
    *result_r = api_void();
    return 0;
}

/* The classes whose generic methods are served. */
static const enum pool_class_id generic_classes[] = {
    POOL_CLASS_POOL, POOL_CLASS_HOST, POOL_CLASS_VM, POOL_CLASS_NETWORK,
    POOL_CLASS_TASK, POOL_CLASS_SR, POOL_CLASS_VDI, POOL_CLASS_VBD,
    POOL_CLASS_VIF, POOL_CLASS_PBD, POOL_CLASS_SM, POOL_CLASS_MESSAGE,
    POOL_CLASS_SECRET, POOL_CLASS_ROLE, POOL_CLASS_HOST_METRICS,
    POOL_CLASS_HOST_CPU, POOL_CLASS_VM_METRICS, POOL_CLASS_VM_GUEST_METRICS,
    POOL_CLASS_CONSOLE, POOL_CLASS_PIF,
    POOL_CLASS_USER,            /* none: accounts are the daemon's store */
};

static int add(struct xa_table *t, const char *cls, const char *verb,
               int np, api_handler_fn fn)
{
    struct api_method m = { NULL, np, 0, API_METHOD_NO_ASYNC, fn };
    char *name;

    if (asprintf(&name, "%s.%s", cls, verb) < 0)
        return -ENOMEM;
    return xa_table_add(t, &m, name);
}

/* add() for a field's verb ("set_%s", ...) unless a static method of
 * that name (one that does more) is in the table already. */
static int add_field(struct xa_table *t, const struct pool_class *c,
                     const char *fmt, const char *field, int np,
                     api_handler_fn fn)
{
    char verb[128], full[160];

    snprintf(verb, sizeof(verb), fmt, field);
    snprintf(full, sizeof(full), "%s.%s", c->name, verb);
    if (xa_table_has(t, full))
        return 0;
    return add(t, c->name, verb, np, fn);
}

static int class_methods(struct xa_table *t, const struct pool_class *c)
{
    const struct pool_field *f;
    size_t k;
    int rc;

    rc = add(t, c->name, "get_all", 1, m_get_all);
    rc = rc ?: add(t, c->name, "get_all_records", 1, m_get_all_records);
    rc = rc ?: add(t, c->name, "get_record", 2, m_get_record);
    rc = rc ?: add(t, c->name, "get_by_uuid", 2, m_get_by_uuid);
    if (!rc && pool_class_field(c, "name_label"))
        rc = add(t, c->name, "get_by_name_label", 2, m_get_by_name_label);
    for (k = 0; !rc && k < c->nfields; k++) {
        f = &c->fields[k];
        if (f->internal)
            continue;
        rc = add_field(t, c, "get_%s", f->name, 2, m_get_field);
        if (rc || f->access != POOL_FA_RW)
            continue;
        if (f->type != POOL_FT_REF_SET)
            rc = add_field(t, c, "set_%s", f->name, 3, m_set_field);
        if (!rc && f->type == POOL_FT_MAP)
            rc = add_field(t, c, "add_to_%s", f->name, 4, m_map_edit);
        if (!rc && f->type == POOL_FT_MAP)
            rc = add_field(t, c, "remove_from_%s", f->name, 3, m_map_edit);
        if (!rc && f->type == POOL_FT_STRING_SET)
            rc = add_field(t, c, "add_%s", f->name, 3, m_set_edit);
        if (!rc && f->type == POOL_FT_STRING_SET)
            rc = add_field(t, c, "remove_%s", f->name, 3, m_set_edit);
    }
    return rc;
}

int xa_generic_methods(struct xa_table *t)
{
    size_t i;
    int rc = 0;

    for (i = 0; rc == 0 && i < sizeof(generic_classes) /
                               sizeof(*generic_classes); i++)
        rc = class_methods(t, pool_class_get(generic_classes[i]));
    return rc;
}
