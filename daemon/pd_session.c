/*
 * pd_session.c - session.*: login (a pool's, a host's own), logout, what a
 * session is (its host, its user), its account's password.
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

    (void)params;
    pd_auth_logout(xc->xa->auth, call->xt, xc->session);
    *result_r = api_void();
    return 0;
}

/*
 * session.slave_local_login_with_password(user, pw): a session of this
 * host alone, on a member too (XAPI's emergency login): it serves the
 * calls this host answers itself (session.local_logout); anything
 * forwarded to the master is SESSION_INVALID there.
 */
static int m_local_login(struct api_call_ctx *call,
                         const struct api_value *params,
                         struct api_value **result_r)
{
    struct xa_call *xc = xa_call_of(call);
    const char *user = xa_param_str(params, 0);
    const char *pw = xa_param_str(params, 1);
    char ref[PD_SESSION_REF_SIZE];
    int rc;

    if (!user || !pw)
        return xt_error(call->xt, -EINVAL, "user and password are strings");
    rc = pd_auth_login(xc->xa->auth, call->xt, user, pw, ref);
    if (rc == -EACCES)
        *result_r = api_failure("SESSION_AUTHENTICATION_FAILED", user,
                                "Authentication failure", NULL);
    if (rc < 0)
        return rc;
    *result_r = api_string(ref);
    return 0;
}

/* The session named by params[1] ("self"), open on this host. */
static int self_info(struct api_call_ctx *call, const struct api_value *params,
                     struct pd_session_info *info, struct api_value **result_r)
{
    const char *self = xa_param_str(params, 1);

    if (!self ||
        pd_auth_validate(xa_call_of(call)->xa->auth, call->xt, self,
                         info) < 0) {
        *result_r = api_failure("HANDLE_INVALID", "session",
                                self ? self : "", NULL);
        return xt_error(call->xt, -ENOENT, "no such session");
    }
    return 0;
}

static int m_get_this_host(struct api_call_ctx *call,
                           const struct api_value *params,
                           struct api_value **result_r)
{
    struct xa_call *xc = xa_call_of(call);
    struct pd_session_info info;
    char *ref = NULL;
    int rc;

    rc = self_info(call, params, &info, result_r);
    rc = rc ?: xa_self_host(xc->xa, xc->db, &ref);
    if (rc < 0)
        return rc;
    *result_r = api_string(ref);
    free(ref);
    return 0;
}

/* Users are the daemon's own store, not objects: no user ref. */
static int m_get_this_user(struct api_call_ctx *call,
                           const struct api_value *params,
                           struct api_value **result_r)
{
    struct pd_session_info info;
    int rc = self_info(call, params, &info, result_r);

    if (rc < 0)
        return rc;
    *result_r = api_string(POOL_NULL_REF);
    return 0;
}

static int m_get_auth_user_name(struct api_call_ctx *call,
                                const struct api_value *params,
                                struct api_value **result_r)
{
    struct pd_session_info info;
    int rc = self_info(call, params, &info, result_r);

    if (rc < 0)
        return rc;
    *result_r = api_string(info.user);
    return 0;
}

/* Every account of ours may do everything, as XAPI's local root. */
static int m_get_is_local_superuser(struct api_call_ctx *call,
                                    const struct api_value *params,
                                    struct api_value **result_r)
{
    struct pd_session_info info;
    int rc = self_info(call, params, &info, result_r);

    if (rc < 0)
        return rc;
    *result_r = api_bool(!info.pool);
    return 0;
}

/* session.change_password(old, new): the session's own account. */
static int m_change_password(struct api_call_ctx *call,
                             const struct api_value *params,
                             struct api_value **result_r)
{
    struct xa_call *xc = xa_call_of(call);
    const char *old = xa_param_str(params, 1);
    const char *new = xa_param_str(params, 2);
    struct pd_session_info info;
    char check[PD_SESSION_REF_SIZE];
    int rc;

    if (!old || !new)
        return xt_error(call->xt, -EINVAL, "passwords are strings");
    rc = pd_auth_validate(xc->xa->auth, call->xt, xc->session, &info);
    if (rc < 0)
        return rc;
    if (info.pool) {
        *result_r = api_failure("PERMISSION_DENIED", "a pool session has "
                                "no password", NULL);
        return xt_error(call->xt, -EPERM, "pool session");
    }
    /* The old password is checked by logging in with it. */
    rc = pd_auth_login(xc->xa->auth, call->xt, info.user, old, check);
    if (rc == -EACCES)
        *result_r = api_failure("SESSION_AUTHENTICATION_FAILED", info.user,
                                "Authentication failure", NULL);
    if (rc < 0)
        return rc;
    pd_auth_logout(xc->xa->auth, call->xt, check);
    rc = pd_auth_user_set_password(xc->xa->auth, call->xt, info.user, new);
    if (rc == 0)
        *result_r = api_void();
    return rc;
}

#define NO_SESSION (API_METHOD_NO_ASYNC | API_METHOD_NO_SESSION | \
                    API_METHOD_LOCAL)

const struct api_method xa_session_methods[] = {
    { "session.login_with_password", 2, 4, NO_SESSION, m_login },
    { "session.slave_local_login_with_password", 2, 0, NO_SESSION,
      m_local_login },
    { "session.logout", 1, 0, API_METHOD_NO_ASYNC, m_logout },
    { "session.local_logout", 1, 0, API_METHOD_NO_ASYNC | API_METHOD_LOCAL,
      m_logout },
    { "session.get_this_host", 2, 0, API_METHOD_NO_ASYNC, m_get_this_host },
    { "session.get_this_user", 2, 0, API_METHOD_NO_ASYNC, m_get_this_user },
    { "session.get_auth_user_name", 2, 0, API_METHOD_NO_ASYNC,
      m_get_auth_user_name },
    { "session.get_is_local_superuser", 2, 0, API_METHOD_NO_ASYNC,
      m_get_is_local_superuser },
    { "session.change_password", 3, 0, API_METHOD_NO_ASYNC,
      m_change_password },
    { NULL },
};
