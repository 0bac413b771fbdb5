/*
 * pd_message.c - what management GUIs list besides the objects
 * (issue 14): message.* (alerts), secret.*, role.*, and the daemon's own
 * alerts (xa_message_add and the hooks' helpers).
 *
 * Messages are records of the pool database, as XAPI's fields say
 * (pool/pool_model.c); the newest XA_MESSAGE_LIMIT are kept, the oldest
 * destroyed as a new one comes (XAPI keeps its message_limit, 10 000, the
 * same way).  A message's add and del are in event.from's "message"
 * class.  Secrets are records too, read and written by their calls only:
 * their class has no events, so that no event.from snapshot carries a
 * value, and no handler here logs one.  Roles are XAPI's six static
 * roles, written by the schema migration to version 3, read-only: only
 * the generic getters (pd_generic.c) serve them.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pd_xenapi.h"

static struct pool_db *dbof(struct api_call_ctx *call)
{
    return xa_call_of(call)->db;
}

/* ---- messages ----------------------------------------------------------- */

/* A message's cls (XAPI's spelling, any case) -> the class whose uuid
 * obj_uuid is; POOL_CLASS_COUNT for the cls values xm-pool has no class
 * of (VMPP, VMSS, PVS_proxy, Certificate: no object can be named). */
static int cls_class(const char *cls, enum pool_class_id *id_r)
{
    static const struct {
        const char *cls;
        enum pool_class_id id;
    } map[] = {
        { "VM", POOL_CLASS_VM }, { "Host", POOL_CLASS_HOST },
        { "SR", POOL_CLASS_SR }, { "Pool", POOL_CLASS_POOL },
        { "VDI", POOL_CLASS_VDI },
    };
    const struct pool_field *f;
    const char *const *e;
    size_t i;

    f = pool_class_field(pool_class_get(POOL_CLASS_MESSAGE), "cls");
    for (e = f->enum_values; *e && strcasecmp(*e, cls); e++)
        ;
    if (!*e)
        return -EINVAL;
    *id_r = POOL_CLASS_COUNT;
    for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (!strcasecmp(map[i].cls, cls))
            *id_r = map[i].id;
    return 0;
}

/* Makes the message and keeps the newest XA_MESSAGE_LIMIT.  -EINVAL for
 * a cls not XAPI's, -ENOENT when obj_uuid names no object of cls (both
 * reported). */
static int message_create(struct pool_db *db, const char *name,
                          int64_t priority, const char *cls,
                          const char *obj_uuid, const char *body,
                          char **ref_r)
{
    struct xt_ctx *ctx = pool_db_ctx(db);
    enum pool_class_id id;
    char *obj = NULL;
    int rc;

    if (cls_class(cls, &id) < 0)
        return xt_error(ctx, -EINVAL, "message cls %s is not one of "
                        "XAPI's", cls);
    if (id == POOL_CLASS_COUNT)
        return xt_error(ctx, -ENOENT, "no %s with uuid %s", cls, obj_uuid);
    rc = pool_db_get_by_uuid(db, id, obj_uuid, &obj);
    free(obj);
    if (rc < 0)
        return rc;
    rc = pool_db_create(db, POOL_CLASS_MESSAGE, (struct pool_field_init[]){
            { "name", POOL_V_STR(name) },
            { "priority", POOL_V_INT(priority) },
            { "cls", POOL_V_ENUM(cls) },
            { "obj_uuid", POOL_V_STR(obj_uuid) },
            { "body", POOL_V_STR(body) },
        }, 5, ref_r);
    if (rc < 0)
        return rc;
    /* The oldest go; a failure leaves one too many until the next. */
    pool_db_keep_newest(db, POOL_CLASS_MESSAGE, XA_MESSAGE_LIMIT, NULL);
    return 0;
}

int xa_message_add(struct pool_db *db, const char *name, int64_t priority,
                   const char *cls, const char *obj_uuid, const char *body)
{
    struct xt_ctx *ctx = pool_db_ctx(db);
    struct xt_err first = { 0 };
    int rc;

    /* Best effort: the operation's own error stays the context's. */
    if (ctx->err_rc)
        xt_err_take(&first, ctx, ctx->err_rc);
    rc = message_create(db, name, priority, cls, obj_uuid, body, NULL);
    if (rc < 0)
        xt_warn(ctx, "message %s about %s %s not recorded: %s", name, cls,
                obj_uuid, ctx->err_msg);
    xt_error_clear(ctx);
    if (first.rc)
        xt_err_put(&first, ctx);
    return rc;
}

void xa_message_migration(struct pool_db *db, const struct xa_pm *pm,
                          const struct api_value *env)
{
    const struct api_value *d = api_struct_get(env, "ErrorDescription");
    const char *code = api_failure_code(env);
    const char *why = api_value_string(api_array_get(d, 4));
    char *uuid = NULL, *src = NULL, *dst = NULL, *body = NULL;

    if (!code || !strcmp(code, "TASK_CANCELLED"))
        return;         /* it moved, or the client asked it to stop */
    if (!pm->uuid[0])
        xa_field_str(db, POOL_CLASS_VM, pm->vm, "uuid", &uuid);
    xa_field_str(db, POOL_CLASS_HOST, pm->src, "uuid", &src);
    if (!pm->xpool)
        xa_field_str(db, POOL_CLASS_HOST, pm->dst, "uuid", &dst);
    if (strcmp(code, "VM_MIGRATE_FAILED") || !why || !*why)
        why = code;
    if (asprintf(&body, "The migration of VM %s from host %s to %s%s "
                 "failed: %s", pm->uuid[0] ? pm->uuid : uuid ? uuid :
                 pm->vm, src ? src : pm->src, pm->xpool ?
                 "another pool's host " : "host ", dst ? dst : pm->dst,
                 why) < 0)
        body = NULL;
    if (body)
        xa_message_add(db, XA_MSG_VM_MIGRATE_FAILED, 3, "VM",
                       pm->uuid[0] ? pm->uuid : uuid ? uuid : "", body);
    free(body);
    free(uuid);
    free(src);
    free(dst);
}

void xa_message_host_lost(struct pool_db *db,
                          const struct pool_record *host, unsigned misses)
{
    const struct pool_value *name = pool_record_get(host, "name_label");
    const struct pool_value *addr = pool_record_get(host, "address");
    const struct pool_value *uuid = pool_record_get(host, "uuid");
    char *body = NULL;

    if (!uuid || asprintf(&body, "Host '%s' (%s) is not live: it did not "
                          "answer the master's liveness check %u times in "
                          "a row", name ? name->s : "", addr ? addr->s : "",
                          misses) < 0)
        return;
    xa_message_add(db, XA_MSG_HOST_FAILED, 3, "Host", uuid->s, body);
    free(body);
}

void xa_message_evacuation(struct pool_db *db, const char *host,
                           const char *report)
{
    char *uuid = NULL, *body = NULL;

    if (xa_field_str(db, POOL_CLASS_HOST, host, "uuid", &uuid) == 0 &&
        asprintf(&body, "The evacuation of host %s ended with VMs still "
                 "on it: %s", uuid, report) >= 0) {
        xa_message_add(db, XA_MSG_HOST_EVACUATE_FAILED, 3, "Host", uuid,
                       body);
        free(body);
    }
    free(uuid);
}

/* A map of ref -> record of the messages that keep(rec, arg) keeps. */
static int message_map(struct api_call_ctx *call,
                       bool (*keep)(const struct pool_record *,
                                    const void *),
                       const void *arg, struct api_value **result_r)
{
    struct pool_record **recs = NULL;
    struct api_value *r;
    size_t i, n = 0;
    int rc;

    rc = pool_db_get_all_records(dbof(call), POOL_CLASS_MESSAGE, &recs, &n);
    if (rc < 0)
        return rc;
    r = api_struct();
    for (i = 0; r && i < n; i++)
        if (keep(recs[i], arg) &&
            api_struct_add(r, recs[i]->ref, xa_record_value(recs[i])) < 0) {
            api_value_free(r);
            r = NULL;
        }
    pool_records_free(recs, n);
    if (!r)
        return xt_error(call->xt, -ENOMEM, "messages");
    *result_r = r;
    return 0;
}

/* A datetime parameter: XAPI's form, or without its Z as Python's
 * xmlrpc.client sends it.  -EINVAL (reported) otherwise. */
static int param_time(struct api_call_ctx *call, const struct api_value *v,
                      time_t *t_r)
{
    const char *s = v ? api_value_string(v) : NULL;
    char buf[POOL_DATETIME_STRLEN + 1];

    if (s && strlen(s) == POOL_DATETIME_STRLEN - 1) {
        snprintf(buf, sizeof(buf), "%sZ", s);
        s = buf;
    }
    if (!s || pool_datetime_parse(s, t_r) < 0)
        return xt_error(call->xt, -EINVAL, "since: not a datetime");
    return 0;
}

static bool newer(const struct pool_record *rec, const void *arg)
{
    const struct pool_value *ts = pool_record_get(rec, "timestamp");
    time_t t;

    return ts && pool_datetime_parse(ts->s, &t) == 0 &&
           t > *(const time_t *)arg;
}

struct about {
    const char *cls, *obj_uuid;
    time_t since;
};

static bool about(const struct pool_record *rec, const void *arg)
{
    const struct about *a = arg;

    return newer(rec, &a->since) &&
           !strcasecmp(pool_record_get(rec, "cls")->s, a->cls) &&
           !strcmp(pool_record_get(rec, "obj_uuid")->s, a->obj_uuid);
}

/* message.create(session, name, priority, cls, obj_uuid, body) -> ref */
static int m_create(struct api_call_ctx *call, const struct api_value *params,
                    struct api_value **result_r)
{
    const char *name = xa_param_str(params, 1);
    const char *cls = xa_param_str(params, 3);
    const char *obj_uuid = xa_param_str(params, 4);
    const char *body = xa_param_str(params, 5);
    char *ref = NULL;
    int64_t prio;
    int rc;

    if (!name || !cls || !obj_uuid || !body ||
        api_value_get_int64(api_array_get(params, 2), &prio) < 0)
        return xt_error(call->xt, -EINVAL, "message.create(session, name, "
                        "priority, cls, obj_uuid, body)");
    rc = message_create(dbof(call), name, prio, cls, obj_uuid, body, &ref);
    if (rc == -EINVAL)
        *result_r = api_failure("INVALID_VALUE", "cls", cls, NULL);
    else if (rc == -ENOENT)
        *result_r = api_failure("UUID_INVALID", cls, obj_uuid, NULL);
    if (rc < 0)
        return rc;
    *result_r = api_string(ref);
    free(ref);
    return 0;
}

static int m_destroy(struct api_call_ctx *call,
                     const struct api_value *params,
                     struct api_value **result_r)
{
    const char *ref = xa_param_str(params, 1);
    const char *cls = strncmp(call->m->name, "secret.", 7) ? "message"
                                                            : "secret";
    int rc;

    if (!ref)
        return xt_error(call->xt, -EINVAL, "%s.destroy(session, self)",
                        cls);
    rc = pool_db_destroy(dbof(call), cls[0] == 's' ? POOL_CLASS_SECRET
                                                   : POOL_CLASS_MESSAGE, ref);
    if (rc < 0)
        return xa_db_fail(call, rc, cls, ref, result_r);
    *result_r = api_void();
    return 0;
}

/* message.destroy_many(session, messages): all or none. */
static int m_destroy_many(struct api_call_ctx *call,
                          const struct api_value *params,
                          struct api_value **result_r)
{
    const struct api_value *set = api_array_get(params, 1);
    struct pool_db *db = dbof(call);
    const char *ref = NULL;
    size_t i;
    int rc;

    if (api_value_type(set) != API_ARRAY)
        return xt_error(call->xt, -EINVAL, "message.destroy_many(session, "
                        "messages)");
    rc = pool_db_begin(db);
    for (i = 0; rc == 0 && i < api_value_count(set); i++) {
        ref = api_value_string(api_array_get(set, i));
        rc = ref ? pool_db_destroy(db, POOL_CLASS_MESSAGE, ref)
                 : xt_error(call->xt, -EINVAL, "a message ref is a string");
    }
    rc = rc ?: pool_db_commit(db);
    if (rc < 0) {
        pool_db_rollback(db);
        return xa_db_fail(call, rc, "message", ref, result_r);
    }
    *result_r = api_void();
    return 0;
}

/* message.get_since(session, since): those newer than since (to the
 * second: our timestamps have no fraction). */
static int m_get_since(struct api_call_ctx *call,
                       const struct api_value *params,
                       struct api_value **result_r)
{
    time_t since;
    int rc;

    rc = param_time(call, api_array_get(params, 1), &since);
    if (rc < 0)
        return rc;
    return message_map(call, newer, &since, result_r);
}

/* message.get(session, cls, obj_uuid, since): those about one object. */
static int m_get(struct api_call_ctx *call, const struct api_value *params,
                 struct api_value **result_r)
{
    struct about a = { xa_param_str(params, 1), xa_param_str(params, 2), 0 };
    enum pool_class_id id = POOL_CLASS_COUNT;
    char *obj = NULL;
    int rc;

    if (!a.cls || !a.obj_uuid)
        return xt_error(call->xt, -EINVAL, "message.get(session, cls, "
                        "obj_uuid, since)");
    rc = param_time(call, api_array_get(params, 3), &a.since);
    if (rc < 0)
        return rc;
    if (cls_class(a.cls, &id) < 0) {
        *result_r = api_failure("INVALID_VALUE", "cls", a.cls, NULL);
        return xt_error(call->xt, -EINVAL, "cls %s", a.cls);
    }
    rc = id == POOL_CLASS_COUNT ? -ENOENT :
         pool_db_get_by_uuid(dbof(call), id, a.obj_uuid, &obj);
    free(obj);
    if (rc == -ENOENT) {
        *result_r = api_failure("UUID_INVALID", a.cls, a.obj_uuid, NULL);
        return xt_error(call->xt, rc, "no %s with uuid %s", a.cls,
                        a.obj_uuid);
    }
    if (rc < 0)
        return rc;
    return message_map(call, about, &a, result_r);
}

const struct api_method xa_message_methods[] = {
    { "message.create", 6, 0, 0, m_create },
    { "message.destroy", 2, 0, 0, m_destroy },
    { "message.destroy_many", 2, 0, 0, m_destroy_many },
    { "message.get_since", 2, 0, API_METHOD_NO_ASYNC, m_get_since },
    { "message.get", 4, 0, API_METHOD_NO_ASYNC, m_get },
    { NULL },
};

/* ---- secrets ------------------------------------------------------------ */

/* Makes a secret (uuid NULL: a new one).  Never logs the value. */
static int secret_make(struct api_call_ctx *call, const char *uuid,
                       const struct api_value *value,
                       const struct api_value *oc,
                       struct api_value **result_r)
{
    const struct pool_class *c = pool_class_get(POOL_CLASS_SECRET);
    struct pool_field_init init[3] = {
        { "value", { .type = POOL_FT_STRING } },
        { "other_config", { .type = POOL_FT_MAP } },
        { "uuid", POOL_V_STR(uuid) },
    };
    char *ref = NULL;
    int rc;

    if (!value || api_value_type(value) != API_STRING) {
        *result_r = api_failure("FIELD_TYPE_ERROR", "value", NULL);
        return xt_error(call->xt, -EINVAL, "secret: value is a string");
    }
    init[0].value.s = (char *)api_value_string(value);
    if (oc && xa_value_from_api(pool_class_field(c, "other_config"), oc,
                                &init[1].value) < 0) {
        pool_value_clear(&init[1].value);
        *result_r = api_failure("FIELD_TYPE_ERROR", "other_config", NULL);
        return xt_error(call->xt, -EINVAL, "secret: other_config is a map");
    }
    rc = pool_db_create(dbof(call), POOL_CLASS_SECRET, init, uuid ? 3 : 2,
                        &ref);
    pool_value_clear(&init[1].value);
    if (rc == -EEXIST || (rc == -EINVAL && uuid))
        *result_r = api_failure("UUID_INVALID", "secret", uuid, NULL);
    if (rc < 0)
        return rc;
    *result_r = api_string(ref);
    free(ref);
    return 0;
}

/* secret.create(session, {value, other_config}) -> ref */
static int s_create(struct api_call_ctx *call, const struct api_value *params,
                    struct api_value **result_r)
{
    const struct api_value *args = api_array_get(params, 1);

    if (api_value_type(args) != API_STRUCT)
        return xt_error(call->xt, -EINVAL, "secret.create(session, args)");
    return secret_make(call, NULL, api_struct_get(args, "value"),
                       api_struct_get(args, "other_config"), result_r);
}

/* secret.introduce(session, uuid, value, other_config) -> ref */
static int s_introduce(struct api_call_ctx *call,
                       const struct api_value *params,
                       struct api_value **result_r)
{
    const char *uuid = xa_param_str(params, 1);

    if (!uuid)
        return xt_error(call->xt, -EINVAL, "secret.introduce(session, "
                        "uuid, value, other_config)");
    return secret_make(call, uuid, api_array_get(params, 2),
                       api_array_get(params, 3), result_r);
}

const struct api_method xa_secret_methods[] = {
    { "secret.create", 2, 0, 0, s_create },
    { "secret.introduce", 4, 0, 0, s_introduce },
    { "secret.destroy", 2, 0, 0, m_destroy },
    { NULL },
};
