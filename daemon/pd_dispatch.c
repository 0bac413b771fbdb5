/*
 * pd_dispatch.c - the method table and a request's way through it:
 * parse (XML-RPC on "/" and "/xmlrpc", JSON-RPC on "/jsonrpc"), resolve,
 * session check, forwarding to the master (members), dispatch, the Async
 * task started, the answer formatted; system.listMethods and the other
 * system.* calls.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pd_internal.h"
#include "pd_xenapi.h"

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

/* The served method name (Async. stripped) params[0] names, or NULL. */
static const struct api_method *named(struct api_call_ctx *call,
                                      const struct api_value *params,
                                      bool *async_r)
{
    const char *name = xa_param_str(params, 0);
    const struct api_method *m;

    *async_r = name && !strncmp(name, "Async.", 6);
    if (*async_r)
        name += 6;
    for (m = xa_call_of(call)->xa->table; name && m->name; m++)
        if (!strcmp(m->name, name) &&
            strncmp(name, "host_local.", strlen("host_local.")) &&
            (!*async_r || !(m->flags & API_METHOD_NO_ASYNC)))
            return m;
    return NULL;
}

/*
 * system.methodHelp(name): what the table knows of a method: its
 * parameter count (the session first, unless it takes none) and whether
 * it has an Async form.  MESSAGE_METHOD_UNKNOWN for one not served.
 */
static int m_method_help(struct api_call_ctx *call,
                         const struct api_value *params,
                         struct api_value **result_r)
{
    const struct api_method *m;
    char n[32];
    bool async;

    m = named(call, params, &async);
    if (!m) {
        *result_r = api_failure("MESSAGE_METHOD_UNKNOWN",
                                xa_param_str(params, 0) ?: "", NULL);
        return xt_error(call->xt, -ENOENT, "no such method");
    }
    if (m->nparams_max)
        snprintf(n, sizeof(n), "%d to %d", m->nparams, m->nparams_max);
    else
        snprintf(n, sizeof(n), "%d", m->nparams);
    if (async)
        *result_r = api_stringf("%s: runs %s as a task and answers the "
                                "task's ref at once", xa_param_str(params, 0),
                                m->name);
    else
        *result_r = api_stringf("%s: %s parameter(s)%s%s", m->name, n,
                                m->flags & API_METHOD_NO_SESSION ? "" :
                                ", the session first",
                                m->flags & API_METHOD_NO_ASYNC ? "" :
                                "; also as Async.");
    return *result_r ? 0 : xt_error(call->xt, -ENOMEM, "out of memory");
}

/* system.methodSignature(name): the table has no parameter types, so
 * "undef", as the XML-RPC introspection convention says for a method
 * whose signature is not known (MESSAGE_METHOD_UNKNOWN: not served). */
static int m_method_signature(struct api_call_ctx *call,
                              const struct api_value *params,
                              struct api_value **result_r)
{
    bool async;

    if (!named(call, params, &async)) {
        *result_r = api_failure("MESSAGE_METHOD_UNKNOWN",
                                xa_param_str(params, 0) ?: "", NULL);
        return xt_error(call->xt, -ENOENT, "no such method");
    }
    *result_r = api_string("undef");
    return 0;
}

#define SYSTEM (API_METHOD_NO_ASYNC | API_METHOD_NO_SESSION | API_METHOD_LOCAL)

static const struct api_method system_methods[] = {
    { "system.listMethods", 0, 0, SYSTEM, m_list_methods },
    { "system.methodHelp", 1, 0, SYSTEM, m_method_help },
    { "system.methodSignature", 1, 0, SYSTEM, m_method_signature },
    { NULL },
};

/* ---- the method table -------------------------------------------------- */

int xa_table_add(struct xa_table *t, const struct api_method *m, char *name)
{
    struct api_method *nt;
    size_t cap;

    if (t->n + 1 >= t->cap) {
        cap = t->cap ? t->cap * 2 : 256;
        nt = realloc(t->m, cap * sizeof(*t->m));
        if (!nt) {
            free(name);
            return -ENOMEM;
        }
        t->m = nt;
        t->cap = cap;
    }
    t->m[t->n] = *m;
    if (name)
        t->m[t->n].name = name;
    t->n++;
    t->m[t->n] = (struct api_method){ NULL };
    return 0;
}

bool xa_table_has(const struct xa_table *t, const char *name)
{
    size_t i;

    for (i = 0; i < t->n; i++)
        if (!strcmp(t->m[i].name, name))
            return true;
    return false;
}

void xa_table_free(struct api_method *t, size_t nstatic)
{
    size_t i;

    if (!t)
        return;
    for (i = nstatic; t[i].name; i++)
        free((char *)t[i].name);
    free(t);
}

/* Every family of methods with static names, one table each. */
static const struct api_method *const families[] = {
    system_methods, xa_session_methods, xa_event_methods, xa_task_methods,
    xa_vm_methods, xa_migrate_methods, xa_pool_methods, xa_sr_methods,
    xa_vbd_methods, xa_motion_methods, xa_evacuate_methods,
    xa_import_methods, xa_host_local_methods, xa_message_methods,
    xa_secret_methods, xa_rpu_methods, NULL
};

int xa_table_build(struct api_method **t_r, size_t *nstatic_r)
{
    struct xa_table t = { NULL, 0, 0 };
    const struct api_method *m;
    size_t i;
    int rc = 0;

    for (i = 0; families[i]; i++)
        for (m = families[i]; m->name; m++)
            if ((rc = xa_table_add(&t, m, NULL)) < 0) {
                free(t.m);
                return rc;
            }
    *nstatic_r = t.n;
    rc = xa_generic_methods(&t);
    rc = rc ?: xa_session_getters(&t);
    if (rc < 0) {
        xa_table_free(t.m, *nstatic_r);
        return rc;
    }
    *t_r = t.m;
    return 0;
}

/* ---- forwarding (members) ---------------------------------------------- */

/*
 * A member forwards every call but session.login_with_password and
 * host_local.* to its master, as xapi's slaves do: the same method (Async.
 * ones too: the master makes the task) and parameters, with XML-RPC over
 * the pinned host-to-host client, whatever the client's format was.  The
 * master's answer goes back as it is, and so does its SESSION_INVALID.
 */
#define FORWARD_EVENT_SLACK_S 10 /* event.from: its timeout + this */

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

/* ---- the handler ------------------------------------------------------- */

int xa_handler(void *opaque, const char *path, const char *content_type,
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
    bool async = false, local;
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
    local = xc.api.m->flags & API_METHOD_LOCAL;
    if (!local && !xa_is_master(xa)) {
        env = forward(xa, t->ctx, method, xc.api.m, params);
        goto answer;
    }
    if (!(xc.api.m->flags & API_METHOD_NO_SESSION)) {
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
    if (!xc.db && !local) {
        env = api_failure("HOST_IS_SLAVE", xa->master_address ?
                          xa->master_address : "", NULL);
        goto answer;
    }
    /* A rolling upgrade: what would change the pool's shape waits. */
    if (xc.db && !local &&
        xa_upgrade_refuse(&xc.api, xc.api.m->name, &env) < 0)
        goto answer;
    rc = api_dispatch(xa->table, &xc.api, method, params, &env);
    if (rc == 0 && !env && xc.api.async) {
        rc = xa_async_start(&xc, xc.api.m->name, params, &env);
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

