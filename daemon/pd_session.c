/*
 * pd_session.c - session.*: login (a pool's, a host's own), logout, what a
 * session is (its record, its host, its user), its account's password.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "pd_internal.h"
#include "pd_xenapi.h"

/* ---- session ----------------------------------------------------------- */

/* A session of this host for params (user, password): *result_r its
 * ref, or SESSION_AUTHENTICATION_FAILED.  As the master's login, and as
 * session.slave_local_login_with_password (XAPI's emergency login) on
 * any host: a member's then serves the calls it answers itself
 * (session.local_logout); anything forwarded to the master is
 * SESSION_INVALID there. */
static int open_session(struct api_call_ctx *call,
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

static int m_login(struct api_call_ctx *call, const struct api_value *params,
                   struct api_value **result_r)
{
    struct xa_call *xc = xa_call_of(call);

    if (!xa_is_master(xc->xa)) {
        pthread_mutex_lock(&xc->xa->lock);
        *result_r = api_failure("HOST_IS_SLAVE", xc->xa->master_address,
                                NULL);
        pthread_mutex_unlock(&xc->xa->lock);
        return xt_error(call->xt, -EPERM, "this host is a pool member");
    }
    return open_session(call, params, result_r);
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


/* The session named by params[1] ("self"), open on this host. */
static int self_info(struct api_call_ctx *call, const struct api_value *params,
                     struct pd_session_info *info, struct api_value **result_r)
{
    const char *self = xa_param_str(params, 1);

    if (!self || pd_auth_peek(xa_call_of(call)->xa->auth, self, info) < 0) {
        *result_r = api_failure("HANDLE_INVALID", "session",
                                self ? self : "", NULL);
        return xt_error(call->xt, -ENOENT, "no such session");
    }
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

/* ---- session records -------------------------------------------------- */

/* A session's uuid: derived from its ref (a one-way hash, so the uuid
 * does not give the ref away), stable while it is open. */
static void session_uuid(const char *ref, char out[XT_UUID_STRLEN + 1])
{
    unsigned char h[32];
    char in[PD_SESSION_REF_SIZE + 32];

    snprintf(in, sizeof(in), "xm-pool session uuid:%s", ref);
    gnutls_hash_fast(GNUTLS_DIG_SHA256, in, strlen(in), h);
    h[6] = (h[6] & 0x0f) | 0x40;            /* version 4 */
    h[8] = (h[8] & 0x3f) | 0x80;            /* RFC 4122 variant */
    snprintf(out, XT_UUID_STRLEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x%02x%02x%02x%02x", h[0], h[1], h[2], h[3], h[4], h[5],
             h[6], h[7], h[8], h[9], h[10], h[11], h[12], h[13], h[14],
             h[15]);
}

/* A time on the auth's clock (xt_now_ns) as a XenAPI datetime. */
static struct api_value *wall_time(uint64_t mono_ns)
{
    char buf[POOL_DATETIME_STRLEN + 1];
    uint64_t now = xt_now_ns();
    time_t t = time(NULL) - (time_t)((now > mono_ns ? now - mono_ns : 0) /
                                     1000000000ull);

    pool_datetime_format(t, buf);
    return api_datetime(buf);
}

/*
 * The record of open session self, with XAPI's fields: what the daemon
 * knows of it (its host, account, last activity, whether a pool member
 * made it; no user object, accounts being the daemon's own store; every
 * account a local superuser, as XAPI's root), XAPI's defaults for the
 * rest; session.get_this_host and the other getters read it.  Sessions
 * are not objects of the database: there is no session.get_all, and only
 * a holder of the ref can read its record.
 */
static int session_record(struct api_call_ctx *call,
                          const struct api_value *params,
                          struct api_value **rec_r,
                          struct api_value **result_r)
{
    struct xa_call *xc = xa_call_of(call);
    struct pd_session_info info;
    char uuid[XT_UUID_STRLEN + 1], *host = NULL;
    struct api_value *r;
    int rc;

    *rec_r = NULL;
    rc = self_info(call, params, &info, result_r);
    rc = rc ?: xa_self_host(xc->xa, xc->db, &host);
    if (rc < 0)
        return rc;
    session_uuid(xa_param_str(params, 1), uuid);
    r = api_struct();
    rc = api_struct_add_new(r, "uuid", api_string(uuid));
    rc = rc ?: api_struct_add_new(r, "this_host", api_string(host));
    rc = rc ?: api_struct_add_new(r, "this_user", api_string(POOL_NULL_REF));
    rc = rc ?: api_struct_add_new(r, "last_active",
                                  wall_time(info.last_active_ns));
    rc = rc ?: api_struct_add_new(r, "pool", api_bool(info.pool));
    rc = rc ?: api_struct_add_new(r, "other_config", api_struct());
    rc = rc ?: api_struct_add_new(r, "is_local_superuser",
                                  api_bool(!info.pool));
    rc = rc ?: api_struct_add_new(r, "subject", api_string(POOL_NULL_REF));
    rc = rc ?: api_struct_add_new(r, "validation_time",
                                  wall_time(info.created_ns));
    rc = rc ?: api_struct_add_new(r, "auth_user_sid", api_string(""));
    rc = rc ?: api_struct_add_new(r, "auth_user_name",
                                  api_string(info.user));
    rc = rc ?: api_struct_add_new(r, "rbac_permissions", api_array());
    rc = rc ?: api_struct_add_new(r, "tasks", api_array());
    rc = rc ?: api_struct_add_new(r, "parent", api_string(POOL_NULL_REF));
    rc = rc ?: api_struct_add_new(r, "originator", api_string(""));
    rc = rc ?: api_struct_add_new(r, "client_certificate", api_bool(false));
    free(host);
    if (rc < 0) {
        api_value_free(r);
        return xt_error(call->xt, -ENOMEM, "session record");
    }
    *rec_r = r;
    return 0;
}

static int m_get_record(struct api_call_ctx *call,
                        const struct api_value *params,
                        struct api_value **result_r)
{
    struct api_value *rec = NULL;
    int rc = session_record(call, params, &rec, result_r);

    if (rc == 0)
        *result_r = rec;
    return rc;
}

/* session.get_<field>(self): that field of the record. */
static int m_get_field(struct api_call_ctx *call,
                       const struct api_value *params,
                       struct api_value **result_r)
{
    const char *field = strchr(call->m->name, '.') + 1 + strlen("get_");
    struct api_value *rec = NULL;
    int rc = session_record(call, params, &rec, result_r);

    if (rc < 0)
        return rc;
    *result_r = api_value_copy(api_struct_get(rec, field));
    api_value_free(rec);
    return *result_r ? 0 : xt_error(call->xt, -ENOMEM, "%s", call->m->name);
}

int xa_session_getters(struct xa_table *t)
{
    const struct pool_class *c = pool_class_get(POOL_CLASS_SESSION);
    struct api_method m = { NULL, 2, 0, API_METHOD_NO_ASYNC, m_get_record };
    char *name;
    size_t i;
    int rc;

    if (asprintf(&name, "session.get_record") < 0)
        return -ENOMEM;
    rc = xa_table_add(t, &m, name);
    m.fn = m_get_field;
    for (i = 0; rc == 0 && i < c->nfields; i++) {
        if (c->fields[i].internal)
            continue;
        if (asprintf(&name, "session.get_%s", c->fields[i].name) < 0)
            return -ENOMEM;
        if (xa_table_has(t, name)) {
            free(name);             /* get_this_host and the like */
            continue;
        }
        rc = xa_table_add(t, &m, name);
    }
    return rc;
}

#define NO_SESSION (API_METHOD_NO_ASYNC | API_METHOD_NO_SESSION | \
                    API_METHOD_LOCAL)

const struct api_method xa_session_methods[] = {
    { "session.login_with_password", 2, 4, NO_SESSION, m_login },
    { "session.slave_local_login_with_password", 2, 0, NO_SESSION,
      open_session },
    { "session.logout", 1, 0, API_METHOD_NO_ASYNC, m_logout },
    { "session.local_logout", 1, 0, API_METHOD_NO_ASYNC | API_METHOD_LOCAL,
      m_logout },
    { "session.change_password", 3, 0, API_METHOD_NO_ASYNC,
      m_change_password },
    { NULL },
};
