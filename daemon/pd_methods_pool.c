/*
 * pd_methods_pool.c - pool membership: pool.join on the host that joins,
 * host_local.join_request on the master it joins, pool.eject, host.get_self;
 * and the master's reconciliation of VMs and tasks at its start (pool.md,
 * "Crash consistency"; migrations are pd_settle.c's).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "pd_internal.h"
#include "pd_xenapi.h"

#define JOIN_TIMEOUT_S      30
#define RECONCILE_TIMEOUT_S 5
#define EJECT_TIMEOUT_S     10

/* pool.join(session, master_address, master_username, master_password) */
static int pool_join(struct api_call_ctx *call, const struct api_value *params,
                     struct api_value **result_r)
{
    struct xa_call *xc = xa_call_of(call);
    struct xa *xa = xc->xa;
    const char *addr = xa_param_str(params, 1);
    const char *user = xa_param_str(params, 2);
    const char *pw = xa_param_str(params, 3);
    struct api_value *p = NULL, *info = NULL, *v = NULL, *fail = NULL;
    struct pool_value run = POOL_V_ENUM("Running");
    struct pool_strv running = { 0 };
    char url[XA_URL_MAX], hostname[256] = "", *role = NULL;
    const char *secret;
    uint64_t tot, fr;
    bool others;
    size_t i;
    int rc;

    if (!addr || !user || !pw)
        return xt_error(call->xt, -EINVAL, "pool.join(session, "
                        "master_address, master_username, master_password)");
    rc = pool_db_find(xc->db, POOL_CLASS_VM, "power_state", &run, &running);
    if (rc < 0)
        return rc;
    /* Its control domain runs, as every host's does. */
    for (i = 0; i < running.n && xa_is_control_domain(xc->db,
                                                      running.v[i]); i++)
        ;
    others = i < running.n;
    pool_strv_free(&running);
    if (others) {
        *result_r = api_failure(
            "POOL_JOINING_HOST_CANNOT_HAVE_RUNNING_VMS", NULL);
        return xt_error(call->xt, -EPERM, "running VMs");
    }
    rc = xa_url_of(xa, call->xt, addr, url);
    if (rc < 0)
        return rc;
    if (!strncmp(url, "https://", 8)) {
        /* Trust on first use: the master's key is pinned before the
         * password goes out, and for every later call. */
        char pin[PD_TLS_PIN_STRLEN + 1];
        size_t n = strlen(url);

        rc = xa_peer_pin(call->xt, url, pin);
        if (rc < 0) {
            *result_r = api_failure("POOL_JOINING_HOST_CONNECTION_FAILED",
                                    NULL);
            return rc;
        }
        if (n + 1 + strlen(pin) >= sizeof(url))
            return xt_error(call->xt, -ENAMETOOLONG, "URL %s", url);
        snprintf(url + n, sizeof(url) - n, "#%s", pin);
        xt_info(xa->log, "master %s: certificate key %s (trusted on first "
                "use)", addr, pin);
    }
    xa_memory(xa, &tot, &fr);
    gethostname(hostname, sizeof(hostname) - 1);
    info = api_struct();
    rc = api_struct_add(info, "uuid", api_string(xa->host_uuid));
    rc = rc ?: api_struct_add(info, "address",
                              api_string(xa->role_address));
    rc = rc ?: api_struct_add(info, "url", api_string(xa->self_url));
    rc = rc ?: api_struct_add(info, "hostname", api_string(hostname));
    rc = rc ?: api_struct_add(info, "memory_total", api_int((int64_t)tot));
    rc = rc ?: api_struct_add(info, "memory_free", api_int((int64_t)fr));
    rc = rc ?: api_struct_add(info, "started", api_int(xa->started));
    p = api_array();
    rc = rc ?: api_array_append(p, api_string(user));
    rc = rc ?: api_array_append(p, api_string(pw));
    rc = rc ?: api_array_append(p, info);
    info = NULL;
    if (rc < 0) {
        xt_error(call->xt, rc, "pool.join");
        goto out;
    }
    rc = xa_rpc(call->xt, url, "host_local.join_request", p, JOIN_TIMEOUT_S,
                &v, &fail);
    p = NULL;
    if (rc == -EREMOTEIO && fail) {
        *result_r = fail;
        fail = NULL;
        goto out;
    }
    if (rc < 0) {
        *result_r = api_failure("POOL_JOINING_HOST_CONNECTION_FAILED", NULL);
        goto out;
    }
    secret = api_value_string(api_struct_get(v, "secret"));
    if (!secret) {
        rc = xt_error(call->xt, -EPROTO, "join_request: no secret");
        goto out;
    }
    rc = pd_pool_secret_set(xa->auth, call->xt, secret);
    if (rc < 0)
        goto out;
    /* The role: the master's address, then the URL (with the pin) the
     * member forwards calls to. */
    if (asprintf(&role, "member %s\nurl %s\n", addr, url) < 0) {
        rc = xt_error(call->xt, -ENOMEM, "pool.join");
        goto out;
    }
    rc = pd_write_file_atomic(call->xt, xa->role_path, role, strlen(role),
                              0600);
    if (rc < 0)
        goto out;
    pthread_mutex_lock(&xa->lock);
    free(xa->master_address);
    xa->master_address = strdup(addr);
    free(xa->master_url);
    xa->master_url = strdup(url);
    xa->master = false;
    pthread_mutex_unlock(&xa->lock);
    xt_info(xa->log, "joined the pool of %s", addr);
    *result_r = api_void();
out:
    pool_strv_free(&running);
    api_value_free(p);
    api_value_free(info);
    api_value_free(v);
    api_value_free(fail);
    free(role);
    return rc;
}

static int int_of(const struct api_value *st, const char *key)
{
    int64_t i = 0;

    api_value_get_int64(api_struct_get(st, key), &i);
    return (int)(i > 0 ? 1 : 0);
}

/* host_local.join_request(user, password, info) on the master. */
int xa_pool_join_request(struct api_call_ctx *call,
                         const struct api_value *params,
                         struct api_value **result_r)
{
    struct xa_call *xc = xa_call_of(call);
    struct xa *xa = xc->xa;
    const char *user = xa_param_str(params, 0);
    const char *pw = xa_param_str(params, 1);
    const struct api_value *info = api_array_get(params, 2);
    const char *uuid, *addr, *url, *hn;
    char sref[PD_SESSION_REF_SIZE], secret[PD_POOL_SECRET_LEN + 1];
    struct pool_value sw = { .type = POOL_FT_MAP };
    struct pool_value oc = { .type = POOL_FT_MAP };
    char *ref = NULL;
    int64_t tot = 0, fr = 0, started = 0;
    char st[24];
    struct api_value *r;
    int rc;

    (void)int_of;
    if (!xc->db) {
        *result_r = api_failure("POOL_JOINING_HOST_CANNOT_BE_MASTER_OF_"
                                "OTHER_HOSTS", NULL);
        return xt_error(call->xt, -EPERM, "not a master");
    }
    if (!user || !pw || api_value_type(info) != API_STRUCT)
        return xt_error(call->xt, -EINVAL, "join_request(user, password, "
                        "info)");
    rc = pd_auth_login(xa->auth, call->xt, user, pw, sref);
    if (rc == -EACCES) {
        *result_r = api_failure("SESSION_AUTHENTICATION_FAILED", user,
                                "Authentication failure", NULL);
        return rc;
    }
    if (rc < 0)
        return rc;
    pd_auth_logout(xa->auth, call->xt, sref);
    uuid = api_value_string(api_struct_get(info, "uuid"));
    addr = api_value_string(api_struct_get(info, "address"));
    url = api_value_string(api_struct_get(info, "url"));
    hn = api_value_string(api_struct_get(info, "hostname"));
    api_value_get_int64(api_struct_get(info, "memory_total"), &tot);
    api_value_get_int64(api_struct_get(info, "memory_free"), &fr);
    api_value_get_int64(api_struct_get(info, "started"), &started);
    if (!uuid || !addr || !url || strncmp(url, "http", 4) != 0)
        return xt_error(call->xt, -EINVAL, "join_request: bad host info");
    pool_value_map_put(&sw, "product_brand", "xm-pool");
    /* The member's own (an older one does not say: ours). */
    pool_value_map_put(&sw, "product_version",
                       api_value_string(api_struct_get(info, "version")) ?:
                       PACKAGE_VERSION);
    pool_value_map_put(&oc, "xm:url", url);
    snprintf(st, sizeof(st), "%lld", (long long)started);
    if (started)                /* an older member does not say */
        pool_value_map_put(&oc, XA_HOST_STARTED, st);
    if (pool_db_get_by_uuid(xc->db, POOL_CLASS_HOST, uuid, &ref) == 0) {
        /* A host joining again (after a lost answer): refresh it. */
        rc = pool_db_set_field(xc->db, POOL_CLASS_HOST, ref, "live",
                               &POOL_V_BOOL(true), POOL_DB_INTERNAL);
    } else {
        struct pool_field_init h[] = {
            { "uuid", POOL_V_STR(uuid) },
            { "name_label", POOL_V_STR(hn ? hn : addr) },
            { "hostname", POOL_V_STR(hn ? hn : "") },
            { "address", POOL_V_STR(addr) },
            { "migration_address", POOL_V_STR(addr) },
            { "enabled", POOL_V_BOOL(true) },
            { "live", POOL_V_BOOL(true) },
            { "memory_total", POOL_V_INT(tot) },
            { "memory_free", POOL_V_INT(fr) },
            { "API_version_major", POOL_V_INT(XA_API_MAJOR) },
            { "API_version_minor", POOL_V_INT(XA_API_MINOR) },
            { "software_version", sw },
            { "other_config", oc },
        };
        rc = pool_db_create(xc->db, POOL_CLASS_HOST, h,
                            sizeof(h) / sizeof(*h), &ref);
    }
    rc = rc ?: xa_host_metrics_sync(xc->db, ref);
    rc = rc ?: xa_control_domain_sync(xc->db, ref);
    pool_value_clear(&sw);
    pool_value_clear(&oc);
    free(ref);
    if (rc < 0)
        return rc;
    pd_pool_secret_get(xa->auth, secret);
    r = api_struct();
    rc = api_struct_add(r, "secret", api_string(secret));
    pd_wipe(secret, sizeof(secret));
    rc = rc ?: api_struct_add(r, "master_url", api_string(xa->self_url));
    if (rc < 0) {
        api_value_free(r);
        return xt_error(call->xt, rc, "join_request");
    }
    xt_info(xa->log, "host %s (%s) joined the pool", uuid, url);
    *result_r = r;
    return 0;
}

/* Tells an ejected host so that it becomes a pool of one; a host that
 * cannot be reached is ejected all the same (with a warning). */
static void tell_ejected(struct api_call_ctx *call, const char *host)
{
    struct xa_call *xc = xa_call_of(call);
    struct api_value *v = NULL;
    char *url = NULL;

    if (xa_host_url(xc->xa, xc->db, host, &url) < 0 ||
        xa_host_call(xc->xa, call->xt, url, "host_local.ejected",
                     api_array(), EJECT_TIMEOUT_S, &v, NULL) < 0)
        xt_warn(xc->xa->log, "ejecting host %s: it was not told (%s); it "
                "still believes it is a member", host, call->xt->err_msg);
    api_value_free(v);
    free(url);
}

/* Classes emptied when an ejected host starts a pool of its own, in an
 * order that no RESTRICT reference refuses (users and sessions stay). */
static const enum pool_class_id eject_wipe[] = {
    POOL_CLASS_VM, POOL_CLASS_SR, POOL_CLASS_NETWORK, POOL_CLASS_TASK,
    POOL_CLASS_POOL, POOL_CLASS_HOST,
};

static int wipe_pool(struct pool_db *db)
{
    struct pool_strv refs = { 0 };
    size_t c, i;
    int rc = pool_db_begin(db);

    for (c = 0; rc == 0 && c < sizeof(eject_wipe) / sizeof(*eject_wipe);
         c++) {
        rc = pool_db_get_all(db, eject_wipe[c], &refs);
        for (i = 0; rc == 0 && i < refs.n; i++) {
            rc = pool_db_destroy(db, eject_wipe[c], refs.v[i]);
            if (rc == -ENOENT)      /* gone with a cascade */
                rc = 0;
        }
        pool_strv_free(&refs);
    }
    rc = rc ?: pool_db_commit(db);
    if (rc < 0)
        pool_db_rollback(db);
    return rc;
}

int xa_pool_ejected(struct api_call_ctx *call,
                    const struct api_value *params,
                    struct api_value **result_r)
{
    struct xa *xa = xa_call_of(call)->xa;
    struct pool_db *db = NULL;
    unsigned char rnd[PD_POOL_SECRET_LEN / 2];
    char secret[PD_POOL_SECRET_LEN + 1];
    size_t i;
    int rc = xa_check_secret(call, params, result_r);

    if (rc < 0)
        return rc;
    if (xa_is_master(xa)) {
        *result_r = api_failure("OPERATION_NOT_ALLOWED",
                                "this host is a pool master", NULL);
        return xt_error(call->xt, -EPERM, "ejected: this host is a master");
    }
    if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
        return xt_error(call->xt, -EIO, "getrandom");
    for (i = 0; i < sizeof(rnd); i++)
        sprintf(secret + 2 * i, "%02x", rnd[i]);
    pd_wipe(rnd, sizeof(rnd));
    /* A fresh pool first: until the role changes, nothing reads it. */
    rc = xa_db(xa, &db);
    rc = rc ?: wipe_pool(db);
    rc = rc ?: xa_first_start(xa, db);
    if (rc < 0)
        goto out;
    if (unlink(xa->role_path) < 0 && errno != ENOENT) {
        rc = xt_error(call->xt, -errno, "%s", xa->role_path);
        goto out;
    }
    rc = pd_pool_secret_set(xa->auth, call->xt, secret);
    if (rc < 0)
        goto out;
    pthread_mutex_lock(&xa->lock);
    xa->master = true;
    free(xa->master_address);
    xa->master_address = NULL;
    free(xa->master_url);
    xa->master_url = NULL;
    pthread_mutex_unlock(&xa->lock);
    xt_info(xa->log, "ejected from the pool: master of a new pool of one, "
            "host %s at %s", xa->host_uuid, xa->self_url);
    *result_r = api_void();
out:
    pd_wipe(secret, sizeof(secret));
    return rc;
}

/* Whether a migration to or from host is not decided yet: the master must
 * still ask that host (a decided one, left to clean up, does not hold). */
static bool host_in_migration(struct pool_db *db, const char *host)
{
    struct pool_record **vms = NULL;
    size_t n = 0, i;
    bool r = false;

    if (pool_db_get_all_records(db, POOL_CLASS_VM, &vms, &n) < 0)
        return false;
    for (i = 0; i < n && !r; i++) {
        const struct pool_value *oc = pool_record_get(vms[i],
                                                      "other_config");
        const char *st = pool_value_map_get(oc, XA_MIG_STATE);
        const char *src = pool_value_map_get(oc, XA_MIG_SOURCE);
        const char *dst = pool_value_map_get(oc, XA_MIG_DEST);

        r = st && strncmp(st, "cleanup", 7) != 0 &&
            ((src && !strcmp(src, host)) || (dst && !strcmp(dst, host)));
    }
    pool_records_free(vms, n);
    return r;
}

/* pool.eject(session, host) */
static int pool_eject(struct api_call_ctx *call,
                      const struct api_value *params,
                      struct api_value **result_r)
{
    struct xa_call *xc = xa_call_of(call);
    const char *host = xa_param_str(params, 1);
    struct pool_value res = { 0 };
    char *self = NULL, *dom0 = NULL;
    int rc;

    if (!host)
        return xt_error(call->xt, -EINVAL, "pool.eject(session, host)");
    rc = pool_db_get_field(xc->db, POOL_CLASS_HOST, host, "resident_VMs",
                           &res);
    if (rc == -ENOENT)
        *result_r = api_failure("HANDLE_INVALID", "host", host, NULL);
    if (rc < 0)
        return rc;
    xa_self_host(xc->xa, xc->db, &self);
    xa_control_domain_of(xc->db, host, &dom0);
    if (self && !strcmp(self, host)) {
        *result_r = api_failure("HOST_CANNOT_DESTROY_SELF", host, NULL);
        rc = xt_error(call->xt, -EPERM, "the master cannot eject itself");
    } else if (res.set.n > (dom0 ? 1u : 0u)) {
        *result_r = api_failure("OPERATION_NOT_ALLOWED",
                                "the host has resident VMs", NULL);
        rc = xt_error(call->xt, -EPERM, "host %s has resident VMs", host);
    } else if (host_in_migration(xc->db, host)) {
        *result_r = api_failure("OTHER_OPERATION_IN_PROGRESS", "host", host,
                                NULL);
        rc = xt_error(call->xt, -EBUSY, "host %s: a migration to or from it "
                      "is not settled", host);
    } else {
        tell_ejected(call, host);
        rc = dom0 ? pool_db_destroy(xc->db, POOL_CLASS_VM, dom0) : 0;
        rc = rc ?: pool_db_destroy(xc->db, POOL_CLASS_HOST, host);
        if (rc == 0)
            *result_r = api_void();
    }
    free(self);
    free(dom0);
    pool_value_clear(&res);
    return rc;
}

static int host_get_self(struct api_call_ctx *call,
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

const struct api_method xa_pool_methods[] = {
    { "pool.join", 4, 0, 0, pool_join },
    { "pool.eject", 2, 0, 0, pool_eject },
    { "host.get_self", 1, 0, API_METHOD_NO_ASYNC, host_get_self },
    { NULL },
};

/* ---- reconciliation at a master's start --------------------------------- */

static void fail_task(struct pool_db *db, const char *task, const char *why)
{
    struct api_value *env = api_failure("INTERNAL_ERROR", why, NULL);

    xa_task_set_outcome(db, task, env);
    api_value_free(env);
}

/* Where a VM runs, as the hosts say. */
struct where {
    const char *host;           /* the host that runs it, or NULL */
    int64_t domid;
    bool running;               /* ... not paused */
    bool unknown;               /* its resident host did not answer */
    bool moving;                /* a host migrates it */
};

/* Asks host k (reach[k] turns false when it does not answer). */
static void ask_host(struct xa *xa, struct xt_ctx *ctx,
                     const struct pool_record *host, const char *uuid,
                     const char *res, bool *reach, struct where *w)
{
    const char *url = pool_value_map_get(pool_record_get(host,
                                                         "other_config"),
                                         "xm:url");
    struct api_value *p, *v = NULL;
    bool running = false, moving = false, isrun;
    const char *st;
    int64_t d = -1;

    if (!url || !*reach) {
        w->unknown = w->unknown || !strcmp(host->ref, res);
        return;
    }
    p = api_array();
    api_array_append(p, api_string(uuid));
    if (xa_host_call(xa, ctx, url, "host_local.vm_status", p,
                     RECONCILE_TIMEOUT_S, &v, NULL) < 0) {
        *reach = false;
        w->unknown = w->unknown || !strcmp(host->ref, res);
        return;
    }
    api_value_get_bool(api_struct_get(v, "running"), &running);
    api_value_get_bool(api_struct_get(v, "migrating"), &moving);
    api_value_get_int64(api_struct_get(v, "domid"), &d);
    st = api_value_string(api_struct_get(v, "state"));
    isrun = st && !strcmp(st, "running");
    w->moving = w->moving || moving;
    /* One that runs beats a paused one; the resident host breaks ties. */
    if (running && (!w->host || (isrun && !w->running) ||
                    (!w->running && !isrun && !strcmp(host->ref, res)))) {
        w->host = host->ref;
        w->running = isrun;
        w->domid = d;
    }
    api_value_free(v);
}

/* Drops the operations left on a VM: a migration whose destination now
 * runs it committed, anything else failed. */
static void drop_ops(struct pool_db *db, const struct pool_record *vm,
                     const struct where *w)
{
    const struct pool_value *ops = pool_record_get(vm, "current_operations");
    const char *res = pool_record_get(vm, "resident_on")->s;
    size_t j;

    for (j = 0; j < ops->map.n; j++) {
        const char *task = ops->map.keys[j];
        struct pool_value toc = { 0 };
        const char *dst = NULL;
        struct api_value *ok;

        if (pool_db_get_field(db, POOL_CLASS_TASK, task, "other_config",
                              &toc) == 0)
            dst = pool_value_map_get(&toc, "xm:destination");
        if (w->host && dst && !strcmp(dst, w->host) && strcmp(dst, res)) {
            ok = api_success(api_string("{\"committed\":true}"));
            xa_task_set_outcome(db, task, ok);
            api_value_free(ok);
        } else if (pool_db_check_ref(db, POOL_CLASS_TASK, task) == 0) {
            fail_task(db, task, "master restarted");
        }
        pool_value_clear(&toc);
        pool_db_map_remove(db, POOL_CLASS_VM, vm->ref, "current_operations",
                           task, POOL_DB_INTERNAL);
    }
}

/* Makes the database say what the hosts said, in one transaction. */
static void fix_vm(struct xa *xa, struct pool_db *db,
                   const struct pool_record *vm, const struct where *w)
{
    const char *uuid = pool_record_get(vm, "uuid")->s;

    if (pool_db_begin(db) < 0)
        return;
    drop_ops(db, vm, w);
    if (w->host)
        xa_vm_set_running(db, vm->ref, "Running", w->host, w->domid);
    else if (!w->unknown)
        xa_vm_set_running(db, vm->ref, "Halted", POOL_NULL_REF, -1);
    if (pool_db_commit(db) < 0)
        pool_db_rollback(db);
    xt_info(xa->log, "reconciled VM %s: %s", uuid, w->host ? w->host :
            w->unknown ? "host unreachable, unchanged" :
            "not running anywhere");
}

/* Whether op is the operation of a migration record (pd_settle.c settles
 * those, its task too). */
static bool op_recorded(struct pool_record **vms, size_t nv, const char *op)
{
    size_t i;

    for (i = 0; i < nv; i++) {
        const char *r = pool_value_map_get(pool_record_get(vms[i],
                                                           "other_config"),
                                           XA_MIG_OP);
        if (r && !strcmp(r, op))
            return true;
    }
    return false;
}

static void fail_stale_tasks(struct pool_db *db, struct pool_record **vms,
                             size_t nv)
{
    struct pool_record **tasks = NULL;
    size_t nt = 0, i;

    if (pool_db_get_all_records(db, POOL_CLASS_TASK, &tasks, &nt) < 0)
        return;
    for (i = 0; i < nt; i++)
        if (!op_recorded(vms, nv, tasks[i]->ref) &&
            !pool_value_map_get(pool_record_get(tasks[i], "other_config"),
                                XA_TASK_RESUMABLE))
            fail_task(db, tasks[i]->ref, "master restarted");
    pool_records_free(tasks, nt);
}

int xa_reconcile(struct xa *xa, struct pool_db *db)
{
    struct xt_ctx *ctx = xa_thread(xa) ? xa_thread(xa)->ctx : xa->log;
    struct pool_record **vms = NULL, **hosts = NULL;
    size_t nv = 0, nh = 0, i, k;
    bool *reach = NULL;

    if (pool_db_get_all_records(db, POOL_CLASS_VM, &vms, &nv) < 0 ||
        pool_db_get_all_records(db, POOL_CLASS_HOST, &hosts, &nh) < 0)
        goto out;
    reach = calloc(nh ? nh : 1, sizeof(*reach));
    if (!reach)
        goto out;
    for (k = 0; k < nh; k++)
        reach[k] = true;
    for (i = 0; i < nv; i++) {
        const struct pool_value *oc = pool_record_get(vms[i],
                                                      "other_config");
        struct where w = { .domid = -1 };

        if (pool_record_get(vms[i], "is_control_domain")->b ||
            pool_value_map_get(oc, XA_MIG_STATE) ||
            (strcmp(pool_record_get(vms[i], "power_state")->s,
                    "Running") != 0 &&
             !pool_record_get(vms[i], "current_operations")->map.n))
            continue;
        for (k = 0; k < nh; k++)
            ask_host(xa, ctx, hosts[k], pool_record_get(vms[i], "uuid")->s,
                     pool_record_get(vms[i], "resident_on")->s, &reach[k],
                     &w);
        if (w.moving)
            xt_warn(xa->log, "VM %s is being migrated without a record of "
                    "this master: left as it is", vms[i]->ref);
        else
            fix_vm(xa, db, vms[i], &w);
    }
    fail_stale_tasks(db, vms, nv);
    for (k = 0; k < nh; k++)
        pool_db_set_field(db, POOL_CLASS_HOST, hosts[k]->ref, "live",
                          &POOL_V_BOOL(reach[k]), POOL_DB_INTERNAL);
out:
    free(reach);
    pool_records_free(vms, nv);
    pool_records_free(hosts, nh);
    return 0;
}
