/*
 * pd_xenapi.c - the XenAPI request handler of xm-poold: parse (XML-RPC on
 * "/", JSON-RPC on "/jsonrpc"), session check, dispatch over one method
 * table, Async tasks, the generic per-class methods generated from the
 * pool model, session.*, event.from; and the service's init and fini.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hv.h"
#include "mig.h"
#include "pd_internal.h"
#include "pd_xenapi.h"

#define EVENT_POLL_MS 200

/* ---- threads ----------------------------------------------------------- */

static void thread_free(void *p)
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
        thread_free(t);
        return NULL;
    }
    return t;
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
    thread_free(pthread_getspecific(xa->thread_key));
    pthread_setspecific(xa->thread_key, NULL);
    xa_thread_leave(xa);
}

bool xa_sleep_locked(struct xa *xa, unsigned int ms)
{
    struct timespec ts;

    if (xa->stopping)
        return false;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
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

/* ---- values ------------------------------------------------------------ */

const char *xa_param_str(const struct api_value *params, size_t i)
{
    const struct api_value *v = api_array_get(params, i);

    return v ? api_value_string(v) : NULL;
}

struct api_value *xa_pool_value(const struct pool_value *v)
{
    struct api_value *r;
    size_t i;

    switch (v->type) {
    case POOL_FT_STRING:
    case POOL_FT_ENUM:
    case POOL_FT_REF:
        return api_string(v->s ? v->s : "");
    case POOL_FT_DATETIME:
        return api_datetime(v->s ? v->s : POOL_DATETIME_EPOCH);
    case POOL_FT_INT:
        return api_int(v->i);
    case POOL_FT_BOOL:
        return api_bool(v->b);
    case POOL_FT_FLOAT:
        return api_double(v->f);
    case POOL_FT_REF_SET:
    case POOL_FT_STRING_SET:
        r = api_array();
        for (i = 0; r && i < v->set.n; i++)
            if (api_array_append(r, api_string(v->set.v[i])) < 0) {
                api_value_free(r);
                return NULL;
            }
        return r;
    case POOL_FT_MAP:
        r = api_struct();
        for (i = 0; r && i < v->map.n; i++)
            if (api_struct_add(r, v->map.keys[i],
                               api_string(v->map.vals[i])) < 0) {
                api_value_free(r);
                return NULL;
            }
        return r;
    }
    return NULL;
}

struct api_value *xa_record_value(const struct pool_record *rec)
{
    struct api_value *r = api_struct();
    size_t i;

    for (i = 0; r && i < rec->n; i++)
        if (api_struct_add(r, rec->fields[i].field->name,
                           xa_pool_value(&rec->fields[i].value)) < 0) {
            api_value_free(r);
            return NULL;
        }
    return r;
}

/* An API value into a pool value of field f's type; -EINVAL if it does
 * not fit.  *v_r owns its strings. */
int xa_value_from_api(const struct pool_field *f,
                      const struct api_value *a, struct pool_value *v_r)
{
    enum api_type t = api_value_type(a);
    size_t i;
    int rc;

    memset(v_r, 0, sizeof(*v_r));
    v_r->type = f->type;
    switch (f->type) {
    case POOL_FT_STRING:
    case POOL_FT_ENUM:
    case POOL_FT_REF:
    case POOL_FT_DATETIME:
        if (t != API_STRING && t != API_DATETIME)
            return -EINVAL;
        return pool_value_parse(f->type, api_value_string(a), v_r);
    case POOL_FT_INT:
        return api_value_get_int64(a, &v_r->i) < 0 ? -EINVAL : 0;
    case POOL_FT_BOOL:
        return api_value_get_bool(a, &v_r->b);
    case POOL_FT_FLOAT:
        return api_value_get_double(a, &v_r->f);
    case POOL_FT_STRING_SET:
        if (t != API_ARRAY)
            return -EINVAL;
        for (i = 0; i < api_value_count(a); i++) {
            const char *s = api_value_string(api_array_get(a, i));
            if (!s)
                return -EINVAL;
            rc = pool_value_set_add(v_r, s);
            if (rc < 0)
                return rc;
        }
        return 0;
    case POOL_FT_MAP:
        if (t != API_STRUCT)
            return -EINVAL;
        for (i = 0; i < api_value_count(a); i++) {
            const char *s = api_value_string(api_struct_value(a, i));
            if (!s)
                return -EINVAL;
            rc = pool_value_map_put(v_r, api_struct_key(a, i), s);
            if (rc < 0)
                return rc;
        }
        return 0;
    case POOL_FT_REF_SET:
        return -EINVAL;
    }
    return -EINVAL;
}

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
        if (api_array_append(r, api_string(refs.v[i])) < 0)
            r = NULL;
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
        if (api_struct_add(r, recs[i]->ref, xa_record_value(recs[i])) < 0) {
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

/* ---- session ----------------------------------------------------------- */

static int m_login(struct api_call_ctx *call, const struct api_value *params,
                   struct api_value **result_r)
{
    struct xa_call *xc = xa_call_of(call);
    const char *user = xa_param_str(params, 0);
    const char *pw = xa_param_str(params, 1);
    char ref[PD_SESSION_REF_SIZE];
    int rc;

    if (!xa_is_master(xc->xa)) {
        pthread_mutex_lock(&xc->xa->lock);
        *result_r = api_failure("HOST_IS_SLAVE", xc->xa->master_address,
                                NULL);
        pthread_mutex_unlock(&xc->xa->lock);
        return xt_error(call->xt, -EPERM, "this host is a pool member");
    }
    if (!user || !pw)
        return xt_error(call->xt, -EINVAL, "user and password are strings");
    rc = pd_auth_login(xc->xa->auth, call->xt, user, pw, ref);
    if (rc == -EACCES) {
        *result_r = api_failure("SESSION_AUTHENTICATION_FAILED", user,
                                "Authentication failure", NULL);
        return rc;
    }
    if (rc < 0)
        return rc;
    *result_r = api_string(ref);
    return 0;
}

static int m_logout(struct api_call_ctx *call, const struct api_value *params,
                    struct api_value **result_r)
{
    struct xa_call *xc = xa_call_of(call);

    pd_auth_logout(xc->xa->auth, call->xt, xc->session);
    *result_r = api_void();
    return 0;
}

/* ---- tasks ------------------------------------------------------------- */

void xa_task_progress(struct xa *xa, struct pool_db *db, const char *task,
                      double progress)
{
    struct pool_value cur = { 0 };

    if (!task || !db)
        return;
    /* Never back: a storage motion's disks, then its memory, each
     * report their own share. */
    if (pool_db_get_field(db, POOL_CLASS_TASK, task, "progress", &cur) ==
        0 && cur.type == POOL_FT_FLOAT && cur.f >= progress)
        return;
    pool_db_set_field(db, POOL_CLASS_TASK, task, "progress",
                      &POOL_V_FLOAT(progress), POOL_DB_INTERNAL);
}

bool xa_task_cancelling(struct pool_db *db, const char *task)
{
    struct pool_value st = { 0 };
    bool r;

    if (!task || !db ||
        pool_db_get_field(db, POOL_CLASS_TASK, task, "status", &st) < 0)
        return false;
    r = st.s && !strcmp(st.s, "cancelling");
    pool_value_clear(&st);
    return r;
}

int xa_task_set_outcome(struct pool_db *db, const char *task,
                        const struct api_value *env)
{
    char now[POOL_DATETIME_STRLEN + 1];
    struct pool_value ei = { .type = POOL_FT_STRING_SET };
    struct pool_value st = { 0 };
    const struct api_value *desc, *val;
    const char *status = "success";
    size_t i;
    int rc;

    rc = pool_db_get_field(db, POOL_CLASS_TASK, task, "status", &st);
    if (rc < 0)
        return rc;
    if (strcmp(st.s, "pending") != 0 && strcmp(st.s, "cancelling") != 0) {
        pool_value_clear(&st);
        return 0;               /* ended already */
    }
    pool_value_clear(&st);
    if (!env || !api_is_success(env)) {
        status = "failure";
        desc = env ? api_struct_get(env, "ErrorDescription") : NULL;
        for (i = 0; desc && i < api_value_count(desc); i++) {
            const char *d = api_value_string(api_array_get(desc, i));
            pool_value_set_add(&ei, d ? d : "");
        }
        if (!desc)
            pool_value_set_add(&ei, "INTERNAL_ERROR");
        if (env && api_failure_code(env) &&
            !strcmp(api_failure_code(env), "TASK_CANCELLED"))
            status = "cancelled";
        rc = pool_db_set_field(db, POOL_CLASS_TASK, task, "error_info", &ei,
                               POOL_DB_INTERNAL);
    } else {
        val = api_struct_get(env, "Value");
        if (val && api_value_string(val))
            rc = pool_db_set_field(db, POOL_CLASS_TASK, task, "result",
                                   &POOL_V_STR(api_value_string(val)),
                                   POOL_DB_INTERNAL);
    }
    pool_datetime_now(now);
    rc = rc ?: pool_db_set_field(db, POOL_CLASS_TASK, task, "finished",
                                 &POOL_V_DATETIME(now), POOL_DB_INTERNAL);
    rc = rc ?: pool_db_set_field(db, POOL_CLASS_TASK, task, "progress",
                                 &POOL_V_FLOAT(1.0), POOL_DB_INTERNAL);
    rc = rc ?: pool_db_set_field(db, POOL_CLASS_TASK, task, "status",
                                 &POOL_V_ENUM(status), POOL_DB_INTERNAL);
    pool_value_clear(&ei);
    return rc;
}

/* Ends a task with the envelope env (success or failure), atomically. */
static void task_finish(struct pool_db *db, const char *task,
                        const struct api_value *env)
{
    if (pool_db_begin(db) < 0)
        return;
    if (xa_task_set_outcome(db, task, env) < 0 || pool_db_commit(db) < 0)
        pool_db_rollback(db);
}

struct async_job {
    struct xa *xa;
    const struct api_method *m;
    char *method;
    char *task;
    char *session;
    struct api_value *params;
};

static void job_free(struct async_job *j)
{
    if (!j)
        return;
    free(j->method);
    free(j->task);
    free(j->session);
    api_value_free(j->params);
    free(j);
}

static void *async_main(void *p)
{
    struct async_job *j = p;
    struct xa *xa;
    struct xa_thread *t = xa_thread(j->xa);
    struct xa_call xc = { .xa = j->xa, .session = j->session,
                          .task = j->task };
    struct api_value *env = NULL;

    if (!t || xa_db(j->xa, &xc.db) < 0)
        goto out;
    xc.api.xt = t->ctx;
    xc.api.daemon = &xc;
    xc.api.method = j->method;
    xc.api.async = true;
    api_invoke(j->m, &xc.api, j->params, &env);
    if (!xc.task_open)
        task_finish(xc.db, j->task, env);
out:
    api_value_free(env);
    xa = j->xa;
    job_free(j);
    /* This thread's db and ctx go now, while the service still exists. */
    xa_worker_done(xa);
    return NULL;
}

/* Creates a task for an Async call and starts its thread. */
static int start_async(struct xa_call *xc, const char *method,
                       const struct api_value *params,
                       struct api_value **env_r)
{
    struct async_job *j = calloc(1, sizeof(*j));
    struct pool_field_init init[2];
    char *self = NULL;
    pthread_t th;
    pthread_attr_t attr;
    int rc;

    if (!j)
        return -ENOMEM;
    j->xa = xc->xa;
    j->m = xc->api.m;
    j->method = strdup(method);
    j->session = strdup(xc->session ? xc->session : "");
    j->params = api_value_copy(params);
    if (!j->method || !j->session || !j->params) {
        rc = -ENOMEM;
        goto out;
    }
    xa_self_host(xc->xa, xc->db, &self);
    init[0] = (struct pool_field_init){ "name_label", POOL_V_STR(method) };
    init[1] = (struct pool_field_init){ "resident_on",
                                        POOL_V_REF(self ? self
                                                   : POOL_NULL_REF) };
    rc = pool_db_create(xc->db, POOL_CLASS_TASK, init, 2, &j->task);
    free(self);
    if (rc < 0)
        goto out;
    *env_r = api_success(api_string(j->task));
    xa_thread_enter(xc->xa);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = -pthread_create(&th, &attr, async_main, j);
    pthread_attr_destroy(&attr);
    if (rc < 0) {
        xa_thread_leave(xc->xa);
        xt_error(xc->api.xt, rc, "task thread");
        api_value_free(*env_r);
        *env_r = NULL;
        goto out;
    }
    return 0;
out:
    job_free(j);
    return rc;
}

/* ---- event.from -------------------------------------------------------- */

static struct api_value *event_value(struct pool_db *db,
                                     const struct pool_event *e)
{
    struct api_value *ev = api_struct();
    struct pool_record *rec = NULL;
    int rc;

    rc = api_struct_add(ev, "id", api_int(e->id));
    rc = rc ?: api_struct_add(ev, "timestamp",
                              api_stringf("%.6f", e->timestamp));
    rc = rc ?: api_struct_add(ev, "class", api_string(e->cls->name));
    rc = rc ?: api_struct_add(ev, "operation",
                              api_string(pool_event_op_name(e->op)));
    rc = rc ?: api_struct_add(ev, "ref", api_string(e->ref));
    if (!rc && e->op != POOL_EV_DEL &&
        pool_db_get_record(db, e->cls->id, e->ref, &rec) == 0) {
        rc = api_struct_add(ev, "snapshot", xa_record_value(rec));
        pool_record_free(rec);
    }
    if (rc) {
        api_value_free(ev);
        return NULL;
    }
    return ev;
}

/* Whether event.from's classes (none, or "*": all) name class c. */
static bool class_wanted(const struct pool_class *c,
                         const char *const *classes, size_t nc)
{
    size_t k;

    for (k = 0; k < nc; k++)
        if (!strcmp(classes[k], "*") || !strcasecmp(classes[k], c->name))
            return true;
    return nc == 0;
}

/* event.from's valid_ref_counts: each class asked for that has events,
 * by its name in lower case (as XAPI keys it), and how many objects of it
 * there are now. */
static struct api_value *ref_counts(struct pool_db *db,
                                    const char *const *classes, size_t nc)
{
    struct api_value *r = api_struct();
    char name[64];
    size_t i, k;

    for (i = 0; r && i < POOL_CLASS_COUNT; i++) {
        const struct pool_class *c = pool_class_get(i);
        struct pool_strv refs = { 0 };

        if (!c->events || !class_wanted(c, classes, nc) ||
            pool_db_get_all(db, c->id, &refs) < 0)
            continue;
        for (k = 0; c->name[k] && k < sizeof(name) - 1; k++)
            name[k] = (char)tolower((unsigned char)c->name[k]);
        name[k] = '\0';
        api_struct_add(r, name, api_int((int64_t)refs.n));
        pool_strv_free(&refs);
    }
    return r;
}

static int m_event_from(struct api_call_ctx *call,
                        const struct api_value *params,
                        struct api_value **result_r)
{
    struct xa_call *xc = xa_call_of(call);
    const struct api_value *cl = api_array_get(params, 1);
    const char *token = xa_param_str(params, 2);
    const char *classes[64];
    struct pool_event *evs = NULL;
    struct api_value *arr = NULL, *r = NULL;
    char *next = NULL;
    double timeout = 0;
    size_t i, n = 0, nc = 0;
    uint64_t deadline;
    int rc;

    if (api_value_type(cl) != API_ARRAY || !token ||
        api_value_get_double(api_array_get(params, 3), &timeout) < 0) {
        int64_t ti;
        if (api_value_type(cl) != API_ARRAY || !token ||
            api_value_get_int64(api_array_get(params, 3), &ti) < 0)
            return xt_error(call->xt, -EINVAL,
                            "event.from(session, classes, token, timeout)");
        timeout = (double)ti;
    }
    for (i = 0; i < api_value_count(cl) && nc < 64; i++) {
        const char *s = api_value_string(api_array_get(cl, i));
        if (s)
            classes[nc++] = s;
    }
    if (timeout < 0)
        timeout = 0;
    if (timeout > 3600)
        timeout = 3600;
    arr = api_array();
    if (!arr)
        return xt_error(call->xt, -ENOMEM, "event.from");
    if (!*token) {
        /* Current state: every object of the classes as an "add". */
        rc = pool_db_event_token(xc->db, &next);
        for (i = 0; rc == 0 && i < POOL_CLASS_COUNT; i++) {
            const struct pool_class *c = pool_class_get(i);
            struct pool_strv refs = { 0 };
            size_t j;

            if (!class_wanted(c, classes, nc) || !c->events)
                continue;
            rc = pool_db_get_all(xc->db, c->id, &refs);
            for (j = 0; rc == 0 && j < refs.n; j++) {
                struct pool_event e = { .cls = c, .ref = refs.v[j],
                                        .op = POOL_EV_ADD,
                                        .timestamp = (double)time(NULL) };
                rc = api_array_append(arr, event_value(xc->db, &e));
            }
            pool_strv_free(&refs);
        }
        if (rc < 0)
            goto out;
    } else {
        deadline = xt_now_ns() + (uint64_t)(timeout * 1e9);
        /* A test knows from here on that the call is ours to answer. */
        xt_fault(call->xt, "pd.event.waiting");
        for (;;) {
            rc = pool_db_events_since(xc->db, token, classes, nc, &evs, &n,
                                      &next);
            if (rc == -ESTALE) {
                *result_r = api_failure("EVENTS_LOST", NULL);
                goto out;
            }
            if (rc < 0)
                goto out;
            if (n || xt_now_ns() >= deadline || xc->xa->stopping)
                break;
            pool_events_free(evs, n);
            evs = NULL;
            free(next);
            next = NULL;
            /* Returns at once when the service stops. */
            xa_sleep(xc->xa, EVENT_POLL_MS);
        }
        for (i = 0; rc == 0 && i < n; i++)
            rc = api_array_append(arr, event_value(xc->db, &evs[i]));
        if (rc < 0)
            goto out;
    }
    r = api_struct();
    rc = api_struct_add(r, "events", arr);
    arr = NULL;
    rc = rc ?: api_struct_add(r, "valid_ref_counts",
                              ref_counts(xc->db, classes, nc));
    rc = rc ?: api_struct_add(r, "token", api_string(next));
    if (rc < 0) {
        api_value_free(r);
        r = NULL;
        xt_error(call->xt, rc, "event.from");
        goto out;
    }
    *result_r = r;
out:
    api_value_free(arr);
    pool_events_free(evs, n);
    free(next);
    return rc;
}

/* event.inject(session, class, ref): a "mod" event of the object
 * (pool_db_touch); the token after it. */
static int m_event_inject(struct api_call_ctx *call,
                          const struct api_value *params,
                          struct api_value **result_r)
{
    struct xa_call *xc = xa_call_of(call);
    const char *cls = xa_param_str(params, 1), *ref = xa_param_str(params, 2);
    const struct pool_class *c = cls ? pool_class_find(cls) : NULL;
    char *token = NULL;
    int rc;

    if (!cls || !ref)
        return xt_error(call->xt, -EINVAL, "event.inject(session, class, "
                        "ref)");
    rc = c && c->events ? pool_db_touch(xc->db, c->id, ref) : -ENOENT;
    if (rc == -ENOENT) {
        *result_r = api_failure("HANDLE_INVALID", cls, ref, NULL);
        return xt_error(call->xt, rc, "event.inject: no %s %s", cls, ref);
    }
    rc = rc ?: pool_db_event_token(xc->db, &token);
    if (rc < 0)
        return xt_error(call->xt, rc, "event.inject");
    *result_r = api_string(token);
    free(token);
    return 0;
}

static int m_host_get_self(struct api_call_ctx *call,
                           const struct api_value *params,
                           struct api_value **result_r)
{
    char *ref = NULL;
    int rc = xa_self_host(xa_call_of(call)->xa, xa_call_of(call)->db, &ref);

    if (rc < 0)
        return rc;
    *result_r = api_string(ref);
    free(ref);
    return 0;
}

/* system.listMethods(): every method a client may call, its Async. form
 * too where it has one, as XAPI lists them (so that a client can derive
 * the classes from the *.get_all_records it finds); not the host-to-host
 * host_local.* calls. */
static int m_list_methods(struct api_call_ctx *call,
                          const struct api_value *params,
                          struct api_value **result_r)
{
    const struct api_method *m;
    struct api_value *r = api_array();
    char buf[192];
    int rc = 0;

    (void)params;
    for (m = xa_call_of(call)->xa->table; rc == 0 && m->name; m++) {
        if (!strncmp(m->name, "host_local.", strlen("host_local.")))
            continue;
        rc = api_array_append(r, api_string(m->name));
        if (rc == 0 && !(m->flags & API_METHOD_NO_ASYNC)) {
            snprintf(buf, sizeof(buf), "Async.%s", m->name);
            rc = api_array_append(r, api_string(buf));
        }
    }
    if (rc < 0) {
        api_value_free(r);
        return xt_error(call->xt, -ENOMEM, "out of memory");
    }
    *result_r = r;
    return 0;
}

static const struct api_method base_methods[] = {
    { "system.listMethods", 0, 0, API_METHOD_NO_ASYNC, m_list_methods },
    { "session.login_with_password", 2, 4, API_METHOD_NO_ASYNC, m_login },
    { "session.logout", 1, 0, API_METHOD_NO_ASYNC, m_logout },
    { "event.from", 4, 0, API_METHOD_NO_ASYNC, m_event_from },
    { "event.inject", 3, 0, API_METHOD_NO_ASYNC, m_event_inject },
    { "host.get_self", 1, 0, API_METHOD_NO_ASYNC, m_host_get_self },
    { NULL },
};

/* ---- the method table -------------------------------------------------- */

static const enum pool_class_id generic_classes[] = {
    POOL_CLASS_POOL, POOL_CLASS_HOST, POOL_CLASS_VM, POOL_CLASS_NETWORK,
    POOL_CLASS_TASK, POOL_CLASS_SR, POOL_CLASS_VDI, POOL_CLASS_VBD,
    POOL_CLASS_VIF, POOL_CLASS_PBD, POOL_CLASS_SM,
};

static int table_add(struct api_method **t, size_t *n, size_t *cap,
                     const struct api_method *m, char *name)
{
    struct api_method *nt;

    if (*n + 1 >= *cap) {
        *cap = *cap ? *cap * 2 : 256;
        nt = realloc(*t, *cap * sizeof(**t));
        if (!nt) {
            free(name);
            return -ENOMEM;
        }
        *t = nt;
    }
    (*t)[*n] = *m;
    if (name)
        (*t)[*n].name = name;
    (*n)++;
    (*t)[*n] = (struct api_method){ NULL };
    return 0;
}

static int table_add_gen(struct api_method **t, size_t *n, size_t *cap,
                         const char *cls, const char *verb, int np,
                         api_handler_fn fn)
{
    struct api_method m = { NULL, np, 0, API_METHOD_NO_ASYNC, fn };
    char *name;

    if (asprintf(&name, "%s.%s", cls, verb) < 0)
        return -ENOMEM;
    return table_add(t, n, cap, &m, name);
}

static bool table_static_name(const struct api_method *fams[],
                              const char *name)
{
    const struct api_method *m;
    size_t i;

    for (i = 0; fams[i]; i++)
        for (m = fams[i]; m->name; m++)
            if (!strcmp(m->name, name))
                return true;
    return false;
}

static void table_free(struct api_method *t, size_t nstatic)
{
    size_t i;

    if (!t)
        return;
    for (i = nstatic; t[i].name; i++)
        free((char *)t[i].name);
    free(t);
}

/* The table: the static families, then the generic methods of each
 * class (names allocated); *nstatic_r: how many entries are static. */
static int table_build(struct api_method **t_r, size_t *nstatic_r)
{
    const struct api_method *fams[] = { base_methods, xa_vm_methods,
                                        xa_migrate_methods, xa_pool_methods,
                                        xa_agent_methods, xa_sr_methods,
                                        xa_vbd_methods, xa_motion_methods,
                                        xa_motion_agent_methods,
                                        xa_sr_agent_methods,
                                        xa_evacuate_methods,
                                        xa_import_methods, NULL };
    struct api_method *t = NULL;
    size_t n = 0, cap = 0, i, k;
    const struct api_method *m;
    char buf[160];
    int rc = 0;

    for (i = 0; fams[i]; i++)
        for (m = fams[i]; m->name; m++)
            if ((rc = table_add(&t, &n, &cap, m, NULL)) < 0) {
                free(t);
                return rc;
            }
    *nstatic_r = n;
    for (i = 0; i < sizeof(generic_classes) / sizeof(*generic_classes);
         i++) {
        const struct pool_class *c = pool_class_get(generic_classes[i]);
        bool has_label = pool_class_field(c, "name_label") != NULL;

        rc = table_add_gen(&t, &n, &cap, c->name, "get_all", 1, m_get_all);
        rc = rc ?: table_add_gen(&t, &n, &cap, c->name, "get_all_records",
                                 1, m_get_all_records);
        rc = rc ?: table_add_gen(&t, &n, &cap, c->name, "get_record", 2,
                                 m_get_record);
        rc = rc ?: table_add_gen(&t, &n, &cap, c->name, "get_by_uuid", 2,
                                 m_get_by_uuid);
        if (!rc && has_label)
            rc = table_add_gen(&t, &n, &cap, c->name, "get_by_name_label",
                               2, m_get_by_name_label);
        for (k = 0; !rc && k < c->nfields; k++) {
            const struct pool_field *f = &c->fields[k];
            if (f->internal)
                continue;
            snprintf(buf, sizeof(buf), "get_%s", f->name);
            rc = table_add_gen(&t, &n, &cap, c->name, buf, 2, m_get_field);
            snprintf(buf, sizeof(buf), "%s.set_%s", c->name, f->name);
            if (!rc && f->access == POOL_FA_RW &&
                f->type != POOL_FT_REF_SET && !table_static_name(fams, buf))
                rc = table_add_gen(&t, &n, &cap, c->name, buf +
                                   strlen(c->name) + 1, 3, m_set_field);
            snprintf(buf, sizeof(buf), "%s.add_to_%s", c->name, f->name);
            if (!rc && f->access == POOL_FA_RW && f->type == POOL_FT_MAP &&
                !table_static_name(fams, buf))
                rc = table_add_gen(&t, &n, &cap, c->name, buf +
                                   strlen(c->name) + 1, 4, m_map_edit);
            snprintf(buf, sizeof(buf), "%s.remove_from_%s", c->name,
                     f->name);
            if (!rc && f->access == POOL_FA_RW && f->type == POOL_FT_MAP &&
                !table_static_name(fams, buf))
                rc = table_add_gen(&t, &n, &cap, c->name, buf +
                                   strlen(c->name) + 1, 3, m_map_edit);
        }
        if (rc < 0)
            goto fail;
    }
    *t_r = t;
    return 0;
fail:
    table_free(t, *nstatic_r);
    return rc;
}

/* ---- the handler ------------------------------------------------------- */

static bool needs_session(const char *name)
{
    return strcmp(name, "session.login_with_password") != 0 &&
           strcmp(name, "system.listMethods") != 0 &&
           strncmp(name, "host_local.", strlen("host_local.")) != 0;
}

/* ---- forwarding (members) ---------------------------------------------- */

/*
 * A member forwards every call but session.login_with_password and
 * host_local.* to its master, as xapi's slaves do: the same method (Async.
 * ones too: the master makes the task) and parameters, with XML-RPC over
 * the pinned host-to-host client, whatever the client's format was.  The
 * master's answer goes back as it is, and so does its SESSION_INVALID.
 */
#define FORWARD_TIMEOUT_S        60 /* forward_timeout default */
#define FORWARD_EVENT_SLACK_S    10 /* event.from: its timeout + this */

static long forward_timeout(struct xa *xa, const struct api_method *m,
                            const struct api_value *params)
{
    long t = (long)xa->forward_timeout_s;
    double ev = 0;
    int64_t ti;

    if (strcmp(m->name, "event.from") != 0)
        return t;
    /* The master waits up to the call's timeout (at most 3600 s) before
     * it answers: the HTTP timeout must be longer. */
    if (api_value_get_double(api_array_get(params, 3), &ev) < 0) {
        if (api_value_get_int64(api_array_get(params, 3), &ti) < 0)
            return t;
        ev = (double)ti;
    }
    if (ev < 0)
        ev = 0;
    if (ev > 3600)
        ev = 3600;
    return (long)ev + 1 + FORWARD_EVENT_SLACK_S > t ?
           (long)ev + 1 + FORWARD_EVENT_SLACK_S : t;
}

static struct api_value *forward(struct xa *xa, struct xt_ctx *ctx,
                                 const char *method,
                                 const struct api_method *m,
                                 const struct api_value *params)
{
    struct api_value *v = NULL, *fail = NULL, *env;
    char *url, *addr;
    int rc;

    pthread_mutex_lock(&xa->lock);
    url = xa->master_url ? strdup(xa->master_url) : NULL;
    addr = strdup(xa->master_address ? xa->master_address : "");
    pthread_mutex_unlock(&xa->lock);
    if (!url || !addr) {
        env = api_failure("INTERNAL_ERROR", url ? "out of memory" :
                          "no URL of the master", NULL);
        goto out;
    }
    rc = xa_rpc_stoppable(ctx, url, method, api_value_copy(params),
                          forward_timeout(xa, m, params), &xa->stopping,
                          &v, &fail);
    if (rc == 0) {
        env = api_success(v);
        v = NULL;
    } else if (rc == -EREMOTEIO && fail) {
        env = fail;
        fail = NULL;
    } else {
        /* The master cannot be reached (refused, timed out, not the
         * pinned key, not an XML-RPC answer): CANNOT_CONTACT_HOST with
         * the master's address, xapi's error when a slave cannot forward
         * a call to its master ("The host cannot be contacted to forward
         * the request to"). */
        xt_warn(xa->log, "forwarding %s to the master: %s", method,
                ctx->err_msg);
        env = api_failure("CANNOT_CONTACT_HOST", addr, NULL);
    }
out:
    api_value_free(v);
    api_value_free(fail);
    free(url);
    free(addr);
    return env;
}

static int handler(void *opaque, const char *path, const char *content_type,
                   const char *body, size_t len, const char *peer_addr,
                   struct pd_response *resp)
{
    struct xa *xa = opaque;
    struct xa_thread *t = xa_thread(xa);
    struct xa_call xc = { .xa = xa };
    struct api_json_reqinfo info = { .version = API_JSONRPC_V2 };
    struct api_value *params = NULL, *env = NULL;
    char *method = NULL;
    bool json = path && !strcmp(path, "/jsonrpc");
    bool async = false;
    int rc;

    if (!t)
        return -ENOMEM;
    t->ctx->err_rc = 0;
    t->ctx->err_msg[0] = '\0';
    t->ctx->quiet_errors = true;
    xc.api.xt = t->ctx;
    xc.api.daemon = &xc;
    if (json)
        rc = api_json_parse_call(t->ctx, body, len, &xa->limits, &method,
                                 &params, &info, &env);
    else
        rc = api_xmlrpc_parse_call(t->ctx, body, len, &xa->limits, &method,
                                   &params, &env);
    if (rc < 0) {
        if (!env)
            env = api_failure_errno(rc, t->ctx->err_msg);
        goto answer;
    }
    rc = api_resolve(xa->table, method, params, &xc.api.m, &async, &env);
    if (rc < 0)
        goto answer;
    if (needs_session(xc.api.m->name) && !xa_is_master(xa)) {
        env = forward(xa, t->ctx, method, xc.api.m, params);
        goto answer;
    }
    if (needs_session(xc.api.m->name)) {
        xc.session = xa_param_str(params, 0);
        if (!xc.session ||
            pd_auth_validate(xa->auth, t->ctx, xc.session, NULL) < 0) {
            env = api_failure("SESSION_INVALID",
                              xc.session ? xc.session : "", NULL);
            goto answer;
        }
    }
    if (xa_is_master(xa) && (rc = xa_db(xa, &xc.db)) < 0) {
        env = api_failure_errno(rc, t->ctx->err_msg);
        goto answer;
    }
    if (!xc.db && needs_session(xc.api.m->name)) {
        env = api_failure("HOST_IS_SLAVE", xa->master_address ?
                          xa->master_address : "", NULL);
        goto answer;
    }
    /* A rolling upgrade: what would change the pool's shape waits. */
    if (xc.db && needs_session(xc.api.m->name) &&
        xa_upgrade_refuse(&xc.api, xc.api.m->name, &env) < 0)
        goto answer;
    rc = api_dispatch(xa->table, &xc.api, method, params, &env);
    if (rc == 0 && !env && xc.api.async) {
        rc = start_async(&xc, xc.api.m->name, params, &env);
        if (rc < 0 && !env)
            env = api_failure_errno(rc, t->ctx->err_msg);
    }
answer:
    if (!env)
        env = api_failure("INTERNAL_ERROR", "out of memory", NULL);
    if (json)
        rc = api_json_format_response(t->ctx, env, &info, &resp->body,
                                      &resp->len);
    else
        rc = api_xmlrpc_format_response(t->ctx, env, &resp->body,
                                        &resp->len);
    resp->status = 200;
    resp->content_type = json ? "application/json" : "text/xml";
    api_json_reqinfo_clear(&info);
    api_value_free(env);
    api_value_free(params);
    free(method);
    return rc < 0 ? rc : 0;
}

/* ---- host identity, first start, init/fini ------------------------------ */

void xa_memory(struct xa *xa, uint64_t *total_r, uint64_t *free_r)
{
    FILE *f = fopen("/proc/meminfo", "re");
    char line[256];
    unsigned long long kb;

    *total_r = *free_r = 0;
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
            *total_r = kb * 1024;
        else if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
            *free_r = kb * 1024;
    }
    fclose(f);
    if (xa->vm_memory && xa->vm_memory < *total_r)
        *total_r = xa->vm_memory;
    if (*free_r > *total_r)
        *free_r = *total_r;
}

int xa_self_host(struct xa *xa, struct pool_db *db, char **ref_r)
{
    *ref_r = NULL;
    if (!db)
        return -ENOENT;
    return pool_db_get_by_uuid(db, POOL_CLASS_HOST, xa->host_uuid, ref_r);
}

/* Reads or creates STATE_DIR/host.uuid. */
static int load_host_uuid(struct xa *xa, struct xt_ctx *ctx)
{
    char *path = NULL, *buf = NULL;
    struct xt_uuid u;
    int rc;

    if (asprintf(&path, "%s/host.uuid", xa->cfg->state_dir) < 0)
        return -ENOMEM;
    rc = pd_read_file(ctx, path, 256, true, &buf, NULL);
    if (rc == 0 && strlen(buf) >= XT_UUID_STRLEN) {
        memcpy(xa->host_uuid, buf, XT_UUID_STRLEN);
        xa->host_uuid[XT_UUID_STRLEN] = '\0';
    } else {
        rc = xt_uuid_generate(&u);
        if (rc == 0) {
            xt_uuid_format(&u, xa->host_uuid);
            rc = pd_write_file_atomic(ctx, path, xa->host_uuid,
                                      XT_UUID_STRLEN, 0644);
        }
    }
    free(buf);
    free(path);
    return rc;
}

/* Creates pool, host and network on a fresh master database. */
int xa_first_start(struct xa *xa, struct pool_db *db)
{
    struct pool_strv refs = { 0 };
    struct pool_value sw = { .type = POOL_FT_MAP };
    struct pool_value oc = { .type = POOL_FT_MAP };
    char *host = NULL, *pool = NULL, hostname[256] = "";
    uint64_t tot, fr;
    int rc;

    rc = pool_db_get_all(db, POOL_CLASS_POOL, &refs);
    if (rc < 0 || refs.n) {
        pool_strv_free(&refs);
        return rc;
    }
    gethostname(hostname, sizeof(hostname) - 1);
    xa_memory(xa, &tot, &fr);
    pool_value_map_put(&sw, "product_brand", "xm-pool");
    pool_value_map_put(&sw, "product_version", xa_version());
    pool_value_map_put(&oc, "xm:url", xa->self_url);
    rc = pool_db_begin(db);
    if (rc < 0)
        goto out;
    {
        struct pool_field_init h[] = {
            { "uuid", POOL_V_STR(xa->host_uuid) },
            { "name_label", POOL_V_STR(hostname) },
            { "hostname", POOL_V_STR(hostname) },
            { "address", POOL_V_STR(xa->role_address) },
            { "migration_address", POOL_V_STR(xa->role_address) },
            { "enabled", POOL_V_BOOL(true) },
            { "live", POOL_V_BOOL(true) },
            { "memory_total", POOL_V_INT((int64_t)tot) },
            { "memory_free", POOL_V_INT((int64_t)fr) },
            { "API_version_major", POOL_V_INT(XA_API_MAJOR) },
            { "API_version_minor", POOL_V_INT(XA_API_MINOR) },
            { "software_version", sw },
            { "other_config", oc },
        };
        rc = pool_db_create(db, POOL_CLASS_HOST, h,
                            sizeof(h) / sizeof(*h), &host);
    }
    if (rc == 0) {
        struct pool_field_init p[] = {
            { "name_label", POOL_V_STR("") },
            { "master", POOL_V_REF(host) },
        };
        rc = pool_db_create(db, POOL_CLASS_POOL, p, 2, &pool);
    }
    if (rc == 0) {
        struct pool_field_init n[] = {
            { "name_label", POOL_V_STR("Pool-wide network") },
            { "bridge", POOL_V_STR("xmbr0") },
        };
        rc = pool_db_create(db, POOL_CLASS_NETWORK, n, 2, NULL);
    }
    if (rc == 0)
        rc = pool_db_commit(db);
    if (rc < 0)
        pool_db_rollback(db);
out:
    pool_value_clear(&sw);
    pool_value_clear(&oc);
    free(host);
    free(pool);
    return rc;
}

static const char *raw_get(const struct pd_config *cfg, const char *key,
                           const char *def)
{
    const char *v = xt_config_get(cfg->raw, key);

    return v && *v ? v : def;
}

/*
 * The daemon begins to stop (before its server stops, then again from
 * fini): every wait ends at once (event.from, long polls, receivers
 * waiting for their sender, the reconciler), running senders are asked
 * to stop before their commit.  What is past its commit finishes; fini
 * waits for it (the bound is in xm-poold.service).
 */
static void svc_stop(void *opaque)
{
    struct xa *xa = opaque;
    uint64_t one = 1;

    if (!xa)
        return;
    pthread_mutex_lock(&xa->lock);
    if (!xa->stopping) {
        xa->stopping = true;
        xa_src_cancel_all(xa);
        if (xa->stop_fd >= 0 &&
            write(xa->stop_fd, &one, sizeof(one)) != sizeof(one))
            xt_warn(xa->log, "stop: eventfd: %s", strerror(errno));
    }
    pthread_cond_broadcast(&xa->changed);
    pthread_mutex_unlock(&xa->lock);
}

static void svc_fini(void *opaque)
{
    struct xa *xa = opaque;

    if (!xa)
        return;
    svc_stop(xa);
    xa_liveness_stop(xa);
    xa_settle_stop(xa);
    /* Every worker thread: senders past their commit finish. */
    pthread_mutex_lock(&xa->lock);
    while (xa->nthreads)
        pthread_cond_wait(&xa->threads_done, &xa->lock);
    pthread_mutex_unlock(&xa->lock);
    xa_src_free_all(xa);
    thread_free(pthread_getspecific(xa->thread_key));
    pthread_setspecific(xa->thread_key, NULL);
    pthread_key_delete(xa->thread_key);
    table_free(xa->table, xa->table_nstatic);
    if (xa->stop_fd >= 0)
        close(xa->stop_fd);
    free(xa->journal_dir);
    free(xa->db_path);
    free(xa->role_path);
    free(xa->role_address);
    free(xa->hv_driver);
    free(xa->hv_args);
    free(xa->guest_image);
    free(xa->master_address);
    free(xa->master_url);
    mig_limit_free(xa->link_limit);
    pthread_cond_destroy(&xa->changed);
    pthread_cond_destroy(&xa->threads_done);
    pthread_mutex_destroy(&xa->blk_lock);
    pthread_mutex_destroy(&xa->lock);
    free(xa);
    api_fini();
}

/* The lock, the conditions and the stop eventfd. */
static int sync_init(struct xa *xa, struct xt_ctx *ctx)
{
    pthread_condattr_t ca;
    int rc;

    pthread_mutex_init(&xa->lock, NULL);
    pthread_mutex_init(&xa->blk_lock, NULL);
    pthread_cond_init(&xa->threads_done, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&xa->changed, &ca);
    pthread_condattr_destroy(&ca);
    xa->stop_fd = eventfd(0, EFD_CLOEXEC);
    if (xa->stop_fd < 0)
        return xt_error(ctx, -errno, "eventfd");
    rc = -pthread_key_create(&xa->thread_key, thread_free);
    if (rc < 0)
        return xt_error(ctx, rc, "pthread_key_create");
    return 0;
}

/* The driver's options: hv_driver_args, after run_dir=RUN_DIR/vmm for
 * the drivers that run xm-vmm (kvm, sim; the xen driver has no run_dir
 * and refuses options it does not know).  xa->hv_args: NULL for none. */
static int hv_args_of(struct xa *xa, const struct pd_config *cfg)
{
    const char *extra = raw_get(cfg, "hv_driver_args", "");

    if (!strcmp(xa->hv_driver ? xa->hv_driver : "", "xen")) {
        xa->hv_args = *extra ? strdup(extra) : NULL;
        return *extra && !xa->hv_args ? -ENOMEM : 0;
    }
    return asprintf(&xa->hv_args, "run_dir=%s/vmm%s%s", cfg->run_dir,
                    *extra ? "," : "", extra) < 0 ? -ENOMEM : 0;
}

static int svc_init(struct xt_ctx *ctx, const struct pd_config *cfg,
                    struct pd_auth *auth, void **opaque_r)
{
    struct xa *xa = calloc(1, sizeof(*xa));
    struct pool_db *db = NULL;
    char *role = NULL, *murl = NULL, *self = NULL;
    uint64_t bw = 0;
    const char *addr, *maddr;
    int rc;

    if (!xa)
        return xt_error(ctx, -ENOMEM, "service");
    api_init();
    xa->cfg = cfg;
    xa->auth = auth;
    xa->log = ctx;
    rc = sync_init(xa, ctx);
    if (rc < 0) {
        if (xa->stop_fd >= 0)
            close(xa->stop_fd);
        free(xa);
        api_fini();
        return rc;
    }
    xa->limits.max_body = cfg->max_body;
    rc = xt_config_get_u64(ctx, cfg->raw, "host_check_interval", 5,
                           &xa->check_interval_s);
    if (rc == 0 && (xa->check_interval_s < 1 ||
                    xa->check_interval_s > 3600))
        rc = xt_error(ctx, -EINVAL, "host_check_interval: %llu s is not in "
                      "1..3600", (unsigned long long)xa->check_interval_s);
    {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        xa->started = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    }
    rc = rc ?: xt_config_get_u64(ctx, cfg->raw, "evacuation-batch-size",
                                 10, &xa->evacuation_batch);
    if (rc == 0 && (xa->evacuation_batch < 1 || xa->evacuation_batch > 64))
        rc = xt_error(ctx, -EINVAL, "evacuation-batch-size: %llu is not in "
                      "1..64", (unsigned long long)xa->evacuation_batch);
    rc = rc ?: xt_config_get_u64(ctx, cfg->raw, "evacuation-sr-copies", 2,
                                 &xa->evacuation_sr_copies);
    if (rc == 0 && (xa->evacuation_sr_copies < 1 ||
                    xa->evacuation_sr_copies > 64))
        rc = xt_error(ctx, -EINVAL, "evacuation-sr-copies: %llu is not in "
                      "1..64", (unsigned long long)xa->evacuation_sr_copies);
    rc = rc ?: xt_config_get_u64(ctx, cfg->raw, "vm-memory-mib", 0,
                                 &xa->vm_memory);
    if (rc == 0 && xa->vm_memory > (1ull << 32))
        rc = xt_error(ctx, -EINVAL, "vm-memory-mib: %llu is more than "
                      "4 PiB", (unsigned long long)xa->vm_memory);
    xa->vm_memory <<= 20;
    rc = rc ?: xt_config_get_u64(ctx, cfg->raw, "migration-bandwidth-mib",
                                 0, &bw);
    if (rc == 0 && bw > (1u << 20))
        rc = xt_error(ctx, -EINVAL, "migration-bandwidth-mib: %llu is more "
                      "than 1 TiB/s", (unsigned long long)bw);
    if (rc == 0 && bw && !(xa->link_limit = mig_limit_new(bw << 20)))
        rc = xt_error(ctx, -ENOMEM, "out of memory");
    rc = rc ?: xt_config_get_u64(ctx, cfg->raw, "forward_timeout",
                                 FORWARD_TIMEOUT_S, &xa->forward_timeout_s);
    if (rc == 0 && (xa->forward_timeout_s < 1 ||
                    xa->forward_timeout_s > 3600))
        rc = xt_error(ctx, -EINVAL, "forward_timeout: %llu s is not in "
                      "1..3600", (unsigned long long)xa->forward_timeout_s);
    if (rc < 0)
        goto fail;
    addr = raw_get(cfg, "role_address", cfg->listen_address);
    if (!strcmp(addr, "0.0.0.0") || !strcmp(addr, "::"))
        addr = "127.0.0.1";
    xa->role_address = strdup(addr);
    xa->hv_driver = strdup(raw_get(cfg, "hv_driver", "kvm"));
    xa->guest_image = strdup(raw_get(cfg, "guest_image",
                                     XM_PKGDATADIR "/xm-guest.elf"));
    if (hv_args_of(xa, cfg) < 0 ||
        asprintf(&xa->db_path, "%s/pool.db", cfg->state_dir) < 0 ||
        asprintf(&xa->role_path, "%s/role", cfg->state_dir) < 0 ||
        asprintf(&xa->journal_dir, "%s/migrations", cfg->state_dir) < 0 ||
        !xa->role_address || !xa->hv_driver || !xa->guest_image) {
        rc = xt_error(ctx, -ENOMEM, "service");
        goto fail;
    }
    if (!hv_driver_exists(xa->hv_driver)) {
        rc = xt_error(ctx, -EINVAL, "hv_driver %s: not one of %s",
                      xa->hv_driver, hv_driver_names());
        goto fail;
    }
    rc = xa_url_of(xa, ctx, xa->role_address, xa->self_url);
    if (rc < 0) {
        /* A pool of one still works: only host-to-host calls need it. */
        xt_warn(ctx, "no URL for other hosts: this host can neither join "
                "a pool nor take members");
        xa->self_url[0] = '\0';
    } else if (!strncmp(xa->self_url, "https://", 8)) {
        char pin[PD_TLS_PIN_STRLEN + 1];
        size_t n = strlen(xa->self_url);

        rc = pd_tls_pin_file(ctx, cfg->tls_cert, pin);
        if (rc < 0)
            goto fail;
        if (n + 1 + strlen(pin) >= XA_URL_MAX) {
            rc = xt_error(ctx, -ENAMETOOLONG, "URL %s", xa->self_url);
            goto fail;
        }
        snprintf(xa->self_url + n, XA_URL_MAX - n, "#%s", pin);
    }
    rc = load_host_uuid(xa, ctx);
    /* Migrations this host was sending when it stopped. */
    rc = rc ?: xa_src_recover(xa, ctx);
    if (rc < 0)
        goto fail;
    /* Block services of VMs that stopped or left while we were down. */
    if (xa_blk_reap(xa, ctx) < 0)
        xt_warn(ctx, "block services not checked: %s", ctx->err_msg);
    /* The role: a config master_address, else a joined member's record,
     * else this host is the master of its own pool. */
    maddr = raw_get(cfg, "master_address", NULL);
    if (!maddr && pd_read_file(ctx, xa->role_path, 4096, true, &role,
                               NULL) == 0 &&
        !strncmp(role, "member ", 7)) {
        /* "member ADDR\n" then "url URL\n" (the pinned URL; older
         * records have none: the URL is built from ADDR). */
        char *nl = strchr(role, '\n');

        maddr = role + 7;
        if (nl) {
            *nl = '\0';
            if (!strncmp(nl + 1, "url ", 4)) {
                murl = nl + 5;
                murl[strcspn(murl, "\n")] = '\0';
            }
        }
    }
    if (maddr) {
        char url[XA_URL_MAX];

        xa->master = false;
        xa->master_address = strdup(maddr);
        if (!murl && xa_url_of(xa, ctx, maddr, url) == 0)
            murl = url;
        xa->master_url = murl ? strdup(murl) : NULL;
        xt_info(ctx, "pool member of master %s (%s)", maddr,
                murl ? murl : "no URL");
    } else {
        xa->master = true;
        rc = xa_db(xa, &db);
        rc = rc ?: xa_first_start(xa, db);
        rc = rc ?: xa_sm_records(db);
        if (rc < 0)
            goto fail;
        xa_evacuate_reconcile(xa, db);
        xa_mem_reconcile(xa, db);
        xa_reconcile(xa, db);
        xa_motion_reconcile(xa, db, ctx);
        if (xa_self_host(xa, db, &self) == 0) {
            char st[24];

            xa_host_restarted(xa, db, self);
            /* What the liveness check keeps of the others: when it
             * started, its version (a rolling upgrade waits for both). */
            snprintf(st, sizeof(st), "%lld", (long long)xa->started);
            pool_db_map_put(db, POOL_CLASS_HOST, self, "other_config",
                            XA_HOST_STARTED, st, POOL_DB_INTERNAL);
            xa_host_version_seen(xa, db, self, xa_version());
            xa_upgrade_note(db);
        }
        free(self);
        xt_info(ctx, "pool master, host %s at %s", xa->host_uuid,
                xa->self_url);
    }
    free(role);
    role = NULL;
    rc = xa_liveness_start(xa);
    rc = rc ?: xa_settle_start(xa);
    if (rc < 0)
        goto fail;
    rc = table_build(&xa->table, &xa->table_nstatic);
    if (rc < 0) {
        xt_error(ctx, rc, "method table");
        goto fail;
    }
    *opaque_r = xa;
    return 0;
fail:
    free(role);
    svc_fini(xa);
    return rc;
}

static const char *const config_keys[] = {
    "role_address", "hv_driver", "hv_driver_args", "guest_image",
    "master_address", "host_check_interval", "forward_timeout",
    "evacuation-batch-size", "evacuation-sr-copies", "vm-memory-mib",
    "migration-bandwidth-mib", NULL
};

const struct pd_service xa_service = {
    .config_keys = config_keys,
    .init = svc_init,
    .handler = handler,
    .stop = svc_stop,
    .fini = svc_fini,
};
