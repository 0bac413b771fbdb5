/*
 * pd_task.c - tasks: the Async.* calls (a task record and a thread that
 * runs the call), their progress and outcome, task.cancel.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pd_internal.h"
#include "pd_xenapi.h"

#define CANCEL_TIMEOUT_S 60 /* host_local.migrate_cancel on the source */

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

/* A task's result as XAPI keeps it: the call's answer as XML-RPC text,
 * <value>...</value> (clients parse it so), "" for void. */
static int result_text(struct pool_db *db, const struct api_value *val,
                       char **text_r)
{
    const char *s = val ? api_value_string(val) : NULL;
    size_t len;

    *text_r = NULL;
    if (!val || (s && !*s))
        return 0;
    return api_xmlrpc_format_value(pool_db_ctx(db), val, text_r, &len);
}

struct api_value *xa_task_result(struct xt_ctx *ctx, const char *result)
{
    struct api_value *v = NULL;

    if (!result || !*result)
        return NULL;
    if (api_xmlrpc_parse_value(ctx, result, strlen(result), NULL, &v) < 0) {
        ctx->err_rc = 0;
        ctx->err_msg[0] = '\0';
        return NULL;
    }
    return v;
}

int xa_task_set_outcome(struct pool_db *db, const char *task,
                        const struct api_value *env)
{
    char now[POOL_DATETIME_STRLEN + 1];
    struct pool_value ei = { .type = POOL_FT_STRING_SET };
    struct pool_value st = { 0 };
    const struct api_value *desc, *val;
    const char *status = "success";
    char *text = NULL;
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
        rc = result_text(db, val, &text);
        rc = rc ?: pool_db_set_field(db, POOL_CLASS_TASK, task, "result",
                                     &POOL_V_STR(text ? text : ""),
                                     POOL_DB_INTERNAL);
        free(text);
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

int xa_async_start(struct xa_call *xc, const char *method,
                   const struct api_value *params, struct api_value **env_r)
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
        /* No one would end it: the task goes (its ref was not given). */
        pool_db_destroy(xc->db, POOL_CLASS_TASK, j->task);
        goto out;
    }
    return 0;
out:
    job_free(j);
    return rc;
}

/* ---- task.cancel ------------------------------------------------------- */

/* Marks task cancelling if it may be cancelled (a pending migration of a
 * source, or an operation of this master that looks: XA_TASK_CANCELLABLE),
 * in one transaction, so that a task that ends meanwhile stays ended.
 * *src_r: the migration's source host (caller frees), NULL for the
 * master's own operation. */
static int mark_cancelling(struct api_call_ctx *call, const char *task,
                           char **src_r, struct api_value **result_r)
{
    struct pool_db *db = xa_call_of(call)->db;
    struct pool_value oc = { 0 }, st = { 0 };
    const char *src;
    int rc;

    *src_r = NULL;
    rc = pool_db_begin(db);
    if (rc < 0)
        return rc;
    rc = pool_db_get_field(db, POOL_CLASS_TASK, task, "status", &st);
    rc = rc ?: pool_db_get_field(db, POOL_CLASS_TASK, task, "other_config",
                                 &oc);
    if (rc == -ENOENT)
        *result_r = api_failure("HANDLE_INVALID", "task", task, NULL);
    src = rc == 0 ? pool_value_map_get(&oc, "xm:source") : NULL;
    if (rc == 0 && (strcmp(st.s, "pending") != 0 ||
                    (!src && !pool_value_map_get(&oc, XA_TASK_CANCELLABLE)))) {
        *result_r = api_failure("OPERATION_NOT_ALLOWED",
                                "only a pending VM.pool_migrate or "
                                "host.evacuate task can be cancelled", NULL);
        rc = xt_error(call->xt, -EPERM, "task %s cannot be cancelled", task);
    }
    /* Seen by the master before it tells the source to start, by the
     * source until its commit, by an operation of this master. */
    rc = rc ?: pool_db_set_field(db, POOL_CLASS_TASK, task, "status",
                                 &POOL_V_ENUM("cancelling"),
                                 POOL_DB_INTERNAL);
    if (rc == 0 && src && !(*src_r = strdup(src)))
        rc = xt_error(call->xt, -ENOMEM, "out of memory");
    if (rc == 0)
        rc = pool_db_commit(db);
    else
        pool_db_rollback(db);
    pool_value_clear(&oc);
    pool_value_clear(&st);
    return rc;
}

static int task_cancel(struct api_call_ctx *call,
                       const struct api_value *params,
                       struct api_value **result_r)
{
    struct xa_call *xc = xa_call_of(call);
    const char *task = xa_param_str(params, 1);
    struct api_value *p, *v = NULL;
    char *src = NULL, *url = NULL;
    int rc;

    if (!task)
        return xt_error(call->xt, -EINVAL, "task.cancel(session, task)");
    rc = mark_cancelling(call, task, &src, result_r);
    if (rc == 0 && !src) {
        *result_r = api_void();
        return 0;
    }
    rc = rc ?: xa_host_url(xc->xa, xc->db, src, &url);
    if (rc == 0) {
        p = api_array();
        api_array_append(p, api_string(task));
        rc = xa_host_call(xc->xa, call->xt, url, "host_local.migrate_cancel",
                          p, CANCEL_TIMEOUT_S, &v, NULL);
    }
    if (rc == 0)
        *result_r = api_void();
    api_value_free(v);
    free(src);
    free(url);
    return rc;
}

/* task.destroy(task): an ended task's record goes (a pending one is the
 * operation's, which ends it: OPERATION_NOT_ALLOWED). */
static int task_destroy(struct api_call_ctx *call,
                        const struct api_value *params,
                        struct api_value **result_r)
{
    struct pool_db *db = xa_call_of(call)->db;
    const char *task = xa_param_str(params, 1);
    struct pool_value st = { 0 };
    int rc;

    if (!task)
        return xt_error(call->xt, -EINVAL, "task.destroy(session, task)");
    rc = pool_db_get_field(db, POOL_CLASS_TASK, task, "status", &st);
    if (rc < 0)
        return xa_db_fail(call, rc, "task", task, result_r);
    if (!strcmp(st.s, "pending") || !strcmp(st.s, "cancelling")) {
        *result_r = api_failure("OPERATION_NOT_ALLOWED", "the task has not "
                                "ended: cancel it, or wait", NULL);
        rc = xt_error(call->xt, -EBUSY, "task %s is %s", task, st.s);
        goto out;
    }
    rc = pool_db_destroy(db, POOL_CLASS_TASK, task);
    if (rc < 0)
        rc = xa_db_fail(call, rc, "task", task, result_r);
    else
        *result_r = api_void();
out:
    pool_value_clear(&st);
    return rc;
}

const struct api_method xa_task_methods[] = {
    { "task.cancel", 2, 0, API_METHOD_NO_ASYNC, task_cancel },
    { "task.destroy", 2, 0, API_METHOD_NO_ASYNC, task_destroy },
    { NULL },
};
