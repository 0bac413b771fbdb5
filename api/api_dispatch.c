/*
 * api_dispatch.c - from a method name and its parameters to a handler of
 * the daemon's method table, and from what the handler answers to the
 * XenAPI envelope.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api_internal.h"

static const struct api_method *find(const struct api_method *table,
                                     const char *name)
{
    const struct api_method *m;

    for (m = table; m && m->name; m++) {
        if (strcmp(m->name, name) == 0)
            return m;
    }
    return NULL;
}

int api_resolve(const struct api_method *table, const char *method,
                const struct api_value *params, const struct api_method **m_r,
                bool *async_r, struct api_value **failure_r)
{
    const size_t plen = strlen(API_ASYNC_PREFIX);
    const struct api_method *m;
    const char *name = method ? method : "";
    size_t n = api_value_count(params);
    char expected[16], received[24];
    bool async = false;
    int max;

    *m_r = NULL;
    *async_r = false;
    *failure_r = NULL;
    if (strncmp(name, API_ASYNC_PREFIX, plen) == 0) {
        name += plen;
        async = true;
    }
    m = find(table, name);
    if (!m || !m->fn || (async && (m->flags & API_METHOD_NO_ASYNC))) {
        *failure_r = api_failure("MESSAGE_METHOD_UNKNOWN",
                                 method ? method : "", NULL);
        return *failure_r ? -ENOENT : -ENOMEM;
    }
    max = m->nparams_max > m->nparams ? m->nparams_max : m->nparams;
    if (n < (size_t)m->nparams || n > (size_t)max) {
        snprintf(expected, sizeof(expected), "%d",
                 n < (size_t)m->nparams ? m->nparams : max);
        snprintf(received, sizeof(received), "%zu", n);
        *failure_r = api_failure("MESSAGE_PARAMETER_COUNT_MISMATCH", method,
                                 expected, received, NULL);
        return *failure_r ? -EINVAL : -ENOMEM;
    }
    *m_r = m;
    *async_r = async;
    return 0;
}

int api_invoke(const struct api_method *m, struct api_call_ctx *call,
               const struct api_value *params, struct api_value **env_r)
{
    struct api_value *result = NULL;
    char msg[API_METHOD_NAME_MAX + 64];
    int rc;

    if (call->xt)
        xt_error_clear(call->xt);
    rc = m->fn(call, params, &result);
    if (rc == 0 && result) {
        *env_r = api_success(result);
    } else if (rc == 0) {
        /* a handler bug: say so rather than answer nothing */
        snprintf(msg, sizeof(msg), "%s answered no value", m->name);
        *env_r = api_failure("INTERNAL_ERROR", msg, NULL);
    } else if (api_failure_code(result)) {
        *env_r = result;
    } else {
        api_value_free(result);
        *env_r = api_failure_errno(rc < 0 ? rc : -EIO,
                                   call->xt && call->xt->err_rc ?
                                       call->xt->err_msg : NULL);
    }
    return *env_r ? 0 : -ENOMEM;
}

int api_dispatch(const struct api_method *table, struct api_call_ctx *call,
                 const char *method, const struct api_value *params,
                 struct api_value **env_r)
{
    const struct api_method *m;
    struct api_value *failure;
    bool async;
    int rc;

    *env_r = NULL;
    rc = api_resolve(table, method, params, &m, &async, &failure);
    call->method = method;
    call->m = m;
    call->async = async;
    if (rc == -ENOMEM)
        return rc;
    if (rc < 0) {
        *env_r = failure;
        return 0;
    }
    if (async)
        return 0;
    return api_invoke(m, call, params, env_r);
}
