/*
 * pd_session.c - session.*: login, logout.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pd_internal.h"
#include "pd_xenapi.h"

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

const struct api_method xa_session_methods[] = {
    { "session.login_with_password", 2, 4, API_METHOD_NO_ASYNC, m_login },
    { "session.logout", 1, 0, API_METHOD_NO_ASYNC, m_logout },
    { NULL },
};
