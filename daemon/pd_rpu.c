/*
 * pd_rpu.c - pool.rolling_upgrade(session, options): the pool's hosts
 * upgraded one at a time by the master's own upgrade hook (config
 * upgrade-hook: PROGRAM HOST-UUID ADDRESS; a client never names a
 * program), the master first, every VM running throughout; the API call
 * beside xm-pool pool-rolling-upgrade (cli/cli_upgrade.c), for GUIs.
 * docs/design/pool.md, "Rolling pool upgrade".
 *
 * For each host: its VMs are tagged with their home (other_config
 * xm:rpu-home), it is disabled (auto_enable false) and evacuated, the
 * hook upgrades it, and once its daemon is back (a new start, a version
 * no older than the newest before) it is enabled.  At the end the VMs go
 * home (option move_back, default true), RPU_WINDOW at a time.
 *
 * The driver is the task's thread.  Its state is in the task's
 * other_config (the hosts done, the step in flight, the newest version at
 * the start), because the master's own hook restarts this daemon: the
 * new daemon finds the pool's RPU_KEY naming the pending task
 * (xa_rpu_resume) and goes on from there with a pool session of its own.
 * A hook that fails ends the task with HOST_UPGRADE_HOOK_FAILED, that
 * host disabled and empty; calling again resumes (a host already at the
 * newest version of a mixed pool is done).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pd_internal.h"
#include "pd_xenapi.h"

#define RPU_KEY         "xm:rolling-upgrade"    /* pool: the task */
#define HOME_KEY        "xm:rpu-home"           /* VM: its host's uuid */
#define T_DONE          "xm:rpu-done"           /* task: refs, ',' */
#define T_STEP          "xm:rpu-hook"           /* task: host in its hook */
#define T_WAS           "xm:rpu-was"            /* task: its xm:started */
#define T_OLD           "xm:rpu-old"            /* task: its version */
#define T_NEWEST        "xm:rpu-newest"         /* task: at the start */
#define T_MIXED         "xm:rpu-mixed"
#define T_BACK          "xm:rpu-move-back"
#define T_TIMEOUT       "xm:rpu-host-timeout"
#define RPU_WINDOW      3       /* moves home in flight at once */
#define CALL_TIMEOUT_S  120
#define TIMEOUT_DEFAULT 600     /* a host's hook and return, s */

struct rpu {
    struct xa *xa;
    struct xt_ctx *ctx;
    struct pool_db *db;
    char task[POOL_REF_STRLEN + 1];
    char session[PD_SESSION_REF_SIZE];
    char *newest;
    bool mixed;
    long timeout_s;
    bool move_back;
};

/* ---- the task's state ------------------------------------------------ */

static const char *tget(struct rpu *r, const char *key, struct pool_value *oc)
{
    pool_value_clear(oc);
    if (pool_db_get_field(r->db, POOL_CLASS_TASK, r->task, "other_config",
                          oc) < 0)
        return NULL;
    return pool_value_map_get(oc, key);
}

static void tput(struct rpu *r, const char *key, const char *v)
{
    if (v)
        pool_db_map_put(r->db, POOL_CLASS_TASK, r->task, "other_config", key,
                        v, POOL_DB_INTERNAL);
    else
        pool_db_map_remove(r->db, POOL_CLASS_TASK, r->task, "other_config",
                           key, POOL_DB_INTERNAL);
}

static bool done_has(struct rpu *r, const char *host)
{
    struct pool_value oc = { 0 };
    const char *d = tget(r, T_DONE, &oc);
    bool has = d && strstr(d, host) != NULL;

    pool_value_clear(&oc);
    return has;
}

static void done_add(struct rpu *r, const char *host)
{
    struct pool_value oc = { 0 };
    const char *d = tget(r, T_DONE, &oc);
    char *nd = NULL;

    if (asprintf(&nd, "%s%s%s", d ? d : "", d && *d ? "," : "", host) > 0)
        tput(r, T_DONE, nd);
    free(nd);
    pool_value_clear(&oc);
}

/* The task's progress: the hosts done of all, the move home the last
 * share. */
static void progress(struct rpu *r)
{
    struct pool_value oc = { 0 };
    const char *d = tget(r, T_DONE, &oc);
    int64_t hosts = 0;
    size_t done = 0;

    done = d && *d ? 1 : 0;
    for (; d && *d; d++)
        done += *d == ',';
    if (pool_db_count(r->db, POOL_CLASS_HOST, &hosts) == 0 && hosts > 0)
        xa_task_progress(r->xa, r->db, r->task,
                         (double)done / (double)(hosts + 1));
    pool_value_clear(&oc);
}

/* ---- calls to this master ------------------------------------------- */

/* The driver's own pool session (again: one idle through a long hook
 * may have expired). */
static int login(struct rpu *r)
{
    char secret[PD_POOL_SECRET_LEN + 1];
    int rc;

    if (r->session[0])
        pd_auth_logout(r->xa->auth, r->ctx, r->session);
    pd_pool_secret_get(r->xa->auth, secret);
    rc = pd_auth_login_pool(r->xa->auth, r->ctx, secret, r->session);
    pd_wipe(secret, sizeof(secret));
    if (rc < 0)
        r->session[0] = '\0';
    return rc;
}

/* method(session, params...) here: *v_r its value, or on a failure
 * *fail_r (if not NULL) its ErrorDescription.  Retried while this master
 * is not yet serving (a resumed driver starts with the daemon), and once
 * with a new session when the old one is gone. */
static int call(struct rpu *r, const char *method, struct api_value *params,
                struct api_value **v_r, struct api_value **fail_r)
{
    struct api_value *p, *env = NULL;
    bool relogged = false;
    size_t i;
    int rc, tries;

    for (tries = 0;; tries++) {
        p = api_array();
        api_array_append(p, api_string(r->session));
        for (i = 0; i < api_value_count(params); i++)
            api_array_append(p, api_value_copy(api_array_get(params, i)));
        api_value_free(env);
        env = NULL;
        rc = xa_rpc_stoppable(r->ctx, r->xa->self_url, method, p,
                              CALL_TIMEOUT_S, &r->xa->stopping, v_r, &env);
        if (rc == -EREMOTEIO && !relogged && env &&
            !strcmp(api_failure_code(env) ?: "", "SESSION_INVALID")) {
            relogged = true;
            if (login(r) == 0)
                continue;
        }
        if (rc != -EHOSTUNREACH || tries >= 30 || !xa_sleep(r->xa, 1000))
            break;
    }
    if (fail_r && env)
        *fail_r = api_value_copy(api_struct_get(env, "ErrorDescription"));
    api_value_free(env);
    api_value_free(params);
    return rc;
}

static struct api_value *refs(const char *a, const char *b)
{
    struct api_value *p = api_array();

    api_array_append(p, api_string(a));
    if (b)
        api_array_append(p, api_string(b));
    return p;
}

/* Waits for task t (of this master) to end: 0 on success, else -EIO with
 * *fail_r its failure; -ESHUTDOWN when the service stops. */
static int wait_task(struct rpu *r, const char *t, struct api_value **fail_r)
{
    struct pool_value st = { 0 }, ei = { 0 };
    int rc = -ESHUTDOWN;
    size_t i;

    while (xa_sleep(r->xa, 200)) {
        if (pool_db_get_field(r->db, POOL_CLASS_TASK, t, "status", &st) < 0) {
            rc = -EIO;
            break;
        }
        if (strcmp(st.s, "pending") && strcmp(st.s, "cancelling")) {
            rc = strcmp(st.s, "success") ? -EIO : 0;
            break;
        }
        pool_value_clear(&st);
    }
    if (rc == -EIO && fail_r &&
        pool_db_get_field(r->db, POOL_CLASS_TASK, t, "error_info", &ei) == 0) {
        *fail_r = api_array();
        for (i = 0; i < ei.set.n; i++)
            api_array_append(*fail_r, api_string(ei.set.v[i]));
    }
    pool_value_clear(&st);
    pool_value_clear(&ei);
    return rc;
}

/* ---- one host --------------------------------------------------------- */

/* host's VMs (not its control domain) get their home, kept if set. */
static void tag_homes(struct rpu *r, const char *host)
{
    struct pool_strv on = { 0 };
    struct pool_value oc = { 0 };
    char *uuid = NULL;
    size_t i;

    xa_field_str(r->db, POOL_CLASS_HOST, host, "uuid", &uuid);
    pool_db_find(r->db, POOL_CLASS_VM, "resident_on", &POOL_V_REF(host), &on);
    for (i = 0; uuid && i < on.n; i++) {
        if (xa_is_control_domain(r->db, on.v[i]) ||
            pool_db_get_field(r->db, POOL_CLASS_VM, on.v[i], "other_config",
                              &oc) < 0)
            continue;
        if (!pool_value_map_get(&oc, HOME_KEY))
            pool_db_map_put(r->db, POOL_CLASS_VM, on.v[i], "other_config",
                            HOME_KEY, uuid, POOL_DB_INTERNAL);
        pool_value_clear(&oc);
    }
    pool_strv_free(&on);
    free(uuid);
}

/* Disabled (auto_enable false: enabled again once checked), emptied. */
static int empty(struct rpu *r, const char *host, struct api_value **fail_r)
{
    struct api_value *p = refs(host, NULL), *v = NULL;
    char *t = NULL;
    int rc;

    api_array_append(p, api_bool(false));
    rc = call(r, "host.disable", p, &v, fail_r);
    api_value_free(v);
    v = NULL;
    if (rc == 0) {
        p = refs(host, POOL_NULL_REF);
        api_array_append(p, api_int(0));
        rc = call(r, "Async.host.evacuate", p, &v, fail_r);
        t = v && api_value_string(v) ? strdup(api_value_string(v)) : NULL;
        if (rc == 0 && !t)
            rc = xt_error(r->ctx, -EPROTO, "host.evacuate gave no task");
        rc = rc ?: wait_task(r, t, fail_r);
    }
    api_value_free(v);
    free(t);
    return rc;
}

/* PROGRAM HOST-UUID ADDRESS, in a session of its own (the master's hook
 * stops this daemon, which then leaves it running): 0 once it exited 0,
 * -ESHUTDOWN when the service stopped first, else -EIO with *fail_r. */
static int run_hook(struct rpu *r, const char *host, struct api_value **fail_r)
{
    char *uuid = NULL, *addr = NULL, why[96], log[PATH_MAX];
    int st = 0, rc = -EIO;
    pid_t pid, w = 0;

    xa_field_str(r->db, POOL_CLASS_HOST, host, "uuid", &uuid);
    xa_field_str(r->db, POOL_CLASS_HOST, host, "address", &addr);
    snprintf(log, sizeof(log), "%s/upgrade-hook.log", r->xa->cfg->state_dir);
    pid = uuid && addr ? fork() : -1;
    if (pid == 0) {
        /* Its own session, signals as a fresh process has them, its
         * output in STATE_DIR/upgrade-hook.log, none of our fds. */
        setsid();
        xt_child_signals_reset();
        xt_child_stdio(log);
        close_range(3, ~0u, 0);
        execl(r->xa->upgrade_hook, r->xa->upgrade_hook, uuid, addr,
              (char *)NULL);
        _exit(127);
    }
    while (pid > 0 && (w = waitpid(pid, &st, WNOHANG)) == 0)
        if (!xa_sleep(r->xa, 200)) {
            rc = -ESHUTDOWN;
            break;
        }
    if (pid > 0 && rc != -ESHUTDOWN && w == pid && WIFEXITED(st) &&
        WEXITSTATUS(st) == 0)
        rc = 0;
    if (rc == -EIO) {
        if (pid < 0 || w < 0)
            snprintf(why, sizeof(why), "cannot run or wait for it: %s",
                     strerror(errno));
        else
            snprintf(why, sizeof(why), WIFEXITED(st) ? "exit status %d" :
                     "signal %d", WIFEXITED(st) ? WEXITSTATUS(st) :
                     WTERMSIG(st));
        *fail_r = api_array();
        api_array_append(*fail_r, api_string("HOST_UPGRADE_HOOK_FAILED"));
        api_array_append(*fail_r, api_string(host));
        api_array_append(*fail_r, api_string(why));
    }
    free(uuid);
    free(addr);
    return rc;
}

/* Waits until host's daemon is back after its hook: live, started again
 * (xm:started not was), then newer than it was (old) and no older than
 * the newest before; a daemon merely restarted is not upgraded. */
static int wait_back(struct rpu *r, const char *host, const char *was,
                     const char *old, struct api_value **fail_r)
{
    uint64_t end = xt_now_ns() + (uint64_t)r->timeout_s * 1000000000ull;
    struct pool_value oc = { 0 };
    char *v = NULL;
    int64_t live = 0;
    const char *st;
    int rc = -ETIMEDOUT;

    while (xt_now_ns() < end) {
        if (pool_db_get_field(r->db, POOL_CLASS_HOST, host, "other_config",
                              &oc) == 0 &&
            xa_field_int(r->db, POOL_CLASS_HOST, host, "live", &live) == 0 &&
            live && (st = pool_value_map_get(&oc, XA_HOST_STARTED)) &&
            strcmp(st, was)) {
            rc = xa_host_version(r->db, host, &v) == 0 &&
                 xt_version_cmp(v, old) > 0 &&
                 xt_version_cmp(v, r->newest) >= 0 ? 0 : -EPROTO;
            break;
        }
        pool_value_clear(&oc);
        if (!xa_sleep(r->xa, 500)) {
            rc = -ESHUTDOWN;
            break;
        }
    }
    if (rc == -EPROTO || rc == -ETIMEDOUT) {
        *fail_r = api_array();
        api_array_append(*fail_r, api_string("HOST_UPGRADE_HOOK_FAILED"));
        api_array_append(*fail_r, api_string(host));
        api_array_append(*fail_r, api_string(rc == -EPROTO ?
                         "it came back with no newer version" :
                         "it did not come back in time"));
    }
    pool_value_clear(&oc);
    free(v);
    return rc;
}

/* From the hook on (where a resumed driver starts too): back, enabled. */
static int finish_host(struct rpu *r, const char *host, const char *was,
                       const char *old, struct api_value **fail_r)
{
    struct api_value *v = NULL;
    int rc = wait_back(r, host, was, old, fail_r);

    rc = rc ?: call(r, "host.enable", refs(host, NULL), &v, fail_r);
    api_value_free(v);
    if (rc == 0) {
        done_add(r, host);
        tput(r, T_STEP, NULL);
        tput(r, T_WAS, NULL);
        tput(r, T_OLD, NULL);
        xt_info(r->ctx, "rolling upgrade: host %s done", host);
        progress(r);
    }
    return rc;
}

static int upgrade_one(struct rpu *r, const char *host,
                       struct api_value **fail_r)
{
    struct pool_value oc = { 0 };
    const char *was;
    char *w = NULL, *old = NULL;
    int rc;

    xt_info(r->ctx, "rolling upgrade: host %s", host);
    tag_homes(r, host);
    rc = empty(r, host, fail_r);
    rc = rc ?: xa_host_version(r->db, host, &old);
    if (rc == 0 && pool_db_get_field(r->db, POOL_CLASS_HOST, host,
                                     "other_config", &oc) == 0) {
        was = pool_value_map_get(&oc, XA_HOST_STARTED);
        w = strdup(was ? was : "");
        /* Kept before the hook: the master's restarts this daemon. */
        tput(r, T_WAS, w);
        tput(r, T_OLD, old);
        tput(r, T_STEP, host);
    }
    rc = rc ?: w ? run_hook(r, host, fail_r) : -ENOMEM;
    rc = rc ?: finish_host(r, host, w, old, fail_r);
    pool_value_clear(&oc);
    free(w);
    free(old);
    return rc;
}

/* ---- home again ------------------------------------------------------ */

struct homing {
    char *vm, *home, *task;
};

/* The tagged VMs, where they should be (*hs_r, caller frees); VMs not
 * running lose their tag at once (they have nowhere to move from). */
static size_t homings(struct rpu *r, struct homing **hs_r)
{
    struct pool_record **vms = NULL;
    struct homing *hs;
    size_t n = 0, k = 0, i;
    char *home = NULL;

    *hs_r = NULL;
    if (pool_db_get_all_records(r->db, POOL_CLASS_VM, &vms, &n) < 0)
        return 0;
    hs = calloc(n ? n : 1, sizeof(*hs));
    for (i = 0; hs && i < n; i++) {
        const char *h = pool_value_map_get(pool_record_get(vms[i],
                                           "other_config"), HOME_KEY);
        const char *on = pool_record_get(vms[i], "resident_on")->s;

        if (!h || pool_db_get_by_uuid(r->db, POOL_CLASS_HOST, h, &home) < 0 ||
            strcmp(pool_record_get(vms[i], "power_state")->s, "Running") ||
            (on && !strcmp(on, home))) {
            if (h)
                pool_db_map_remove(r->db, POOL_CLASS_VM, vms[i]->ref,
                                   "other_config", HOME_KEY,
                                   POOL_DB_INTERNAL);
            free(home);
            home = NULL;
            continue;
        }
        hs[k].vm = strdup(vms[i]->ref);
        hs[k++].home = home;
        home = NULL;
    }
    pool_records_free(vms, n);
    *hs_r = hs;
    return k;
}

/* Every tagged VM home, RPU_WINDOW moves at a time; how many stayed. */
static size_t move_back(struct rpu *r)
{
    struct homing *hs;
    size_t n = homings(r, &hs), next = 0, busy = 0, left = 0, i;
    struct api_value *p, *v;

    while (next < n || busy) {
        while (next < n && busy < RPU_WINDOW) {
            p = refs(hs[next].vm, hs[next].home);
            api_array_append(p, api_struct());
            v = NULL;
            if (call(r, "Async.VM.pool_migrate", p, &v, NULL) == 0 &&
                api_value_string(v)) {
                hs[next].task = strdup(api_value_string(v));
                busy++;
            } else {
                left++;
            }
            api_value_free(v);
            next++;
        }
        for (i = 0; i < next && busy; i++) {
            if (!hs[i].task)
                continue;
            if (wait_task(r, hs[i].task, NULL) == 0)
                pool_db_map_remove(r->db, POOL_CLASS_VM, hs[i].vm,
                                   "other_config", HOME_KEY,
                                   POOL_DB_INTERNAL);
            else
                left++;
            free(hs[i].task);
            hs[i].task = NULL;
            busy--;
            if (r->xa->stopping)
                break;
        }
        if (r->xa->stopping)
            break;
    }
    for (i = 0; i < n; i++) {
        free(hs[i].vm);
        free(hs[i].home);
        free(hs[i].task);
    }
    free(hs);
    return left;
}

/* ---- the driver ------------------------------------------------------- */

/* The pool's ref: *ref_r, caller frees. */
static int pool_ref(struct rpu *r, char **ref_r)
{
    struct pool_strv pools = { 0 };
    int rc = pool_db_get_all(r->db, POOL_CLASS_POOL, &pools);

    *ref_r = rc == 0 && pools.n ? strdup(pools.v[0]) : NULL;
    pool_strv_free(&pools);
    return rc < 0 ? rc : *ref_r ? 0 : -ENOENT;
}

/* The hosts, the master first. */
static int host_order(struct rpu *r, struct pool_strv *order)
{
    struct pool_value o = { .type = POOL_FT_STRING_SET };
    struct pool_strv all = { 0 };
    char *pool = NULL, *master = NULL;
    size_t i;
    int rc;

    rc = pool_ref(r, &pool);
    rc = rc ?: xa_field_str(r->db, POOL_CLASS_POOL, pool, "master", &master);
    rc = rc ?: pool_db_get_all(r->db, POOL_CLASS_HOST, &all);
    rc = rc ?: pool_value_set_add(&o, master);
    for (i = 0; rc == 0 && i < all.n; i++)
        if (strcmp(all.v[i], master))
            rc = pool_value_set_add(&o, all.v[i]);
    if (rc == 0)
        *order = o.set;
    else
        pool_value_clear(&o);
    free(pool);
    free(master);
    pool_strv_free(&all);
    return rc;
}

/* 0 when every host is done (and the VMs went home), -ESHUTDOWN when the
 * daemon stops (the task stays pending: the next start resumes it), else
 * the failure in *fail_r. */
static int drive(struct rpu *r, struct api_value **fail_r)
{
    struct pool_strv order = { 0 };
    struct pool_value oc = { 0 };
    const char *step;
    char *v = NULL, *was = NULL;
    size_t i;
    int rc;

    step = tget(r, T_STEP, &oc);
    if (step) {
        const char *w = pool_value_map_get(&oc, T_WAS);
        const char *o = pool_value_map_get(&oc, T_OLD);
        char *host = strdup(step), *old = strdup(o ? o : "0");

        was = strdup(w ? w : "");
        rc = host && was && old ? finish_host(r, host, was, old, fail_r) :
             -ENOMEM;
        free(host);
        free(was);
        free(old);
        if (rc < 0)
            goto out;
    }
    rc = host_order(r, &order);
    for (i = 0; rc == 0 && i < order.n; i++) {
        if (done_has(r, order.v[i]))
            continue;
        if (r->mixed && xa_host_version(r->db, order.v[i], &v) == 0 &&
            xt_version_cmp(v, r->newest) >= 0) {
            done_add(r, order.v[i]);    /* upgraded by an earlier run */
        } else {
            rc = upgrade_one(r, order.v[i], fail_r);
        }
        free(v);
        v = NULL;
    }
out:
    pool_strv_free(&order);
    pool_value_clear(&oc);
    return rc;
}

/* Loads the task's settings, drives, and ends the task (not when the
 * daemon stops: then it stays pending for the next start). */
static void run(struct rpu *r)
{
    struct pool_value oc = { 0 };
    struct api_value *fail = NULL, *env;
    char report[64], *pool = NULL;
    const char *s;
    size_t stayed = 0;
    int rc;

    rc = login(r);
    s = tget(r, T_NEWEST, &oc);
    r->newest = strdup(s ? s : "0");
    r->mixed = (s = pool_value_map_get(&oc, T_MIXED)) && !strcmp(s, "true");
    r->move_back = !(s = pool_value_map_get(&oc, T_BACK)) ||
                   strcmp(s, "false");
    s = pool_value_map_get(&oc, T_TIMEOUT);
    r->timeout_s = s ? strtol(s, NULL, 10) : TIMEOUT_DEFAULT;
    rc = rc ?: r->newest ? drive(r, &fail) : -ENOMEM;
    if (rc == 0 && r->move_back)
        stayed = move_back(r);
    if (rc != -ESHUTDOWN && !r->xa->stopping) {
        snprintf(report, sizeof(report), "{\"not_home\":%zu}", stayed);
        env = rc == 0 ? api_success(api_string(report)) :
              fail ? xa_failure_of_desc(fail) :
              api_failure("INTERNAL_ERROR", r->ctx->err_msg, NULL);
        /* The outcome and the pool's word of it go together. */
        if (pool_db_begin(r->db) < 0 || pool_ref(r, &pool) < 0 ||
            xa_task_set_outcome(r->db, r->task, env) < 0 ||
            pool_db_map_remove(r->db, POOL_CLASS_POOL, pool, "other_config",
                               RPU_KEY, POOL_DB_INTERNAL) < 0 ||
            pool_db_commit(r->db) < 0) {
            pool_db_rollback(r->db);
            xt_warn(r->ctx, "rolling upgrade: task %s: its outcome could "
                    "not be written", r->task);
        }
        api_value_free(env);
        free(pool);
    }
    if (r->session[0])
        pd_auth_logout(r->xa->auth, r->ctx, r->session);
    api_value_free(fail);
    pool_value_clear(&oc);
    free(r->newest);
}

/* ---- pool.rolling_upgrade and its resumption --------------------------- */

/* The newest version among the hosts, and whether they differ. */
static int versions(struct pool_db *db, char **newest_r, bool *mixed_r)
{
    struct pool_strv hosts = { 0 };
    char *v = NULL;
    size_t i;
    int rc = pool_db_get_all(db, POOL_CLASS_HOST, &hosts);

    *newest_r = NULL;
    *mixed_r = false;
    for (i = 0; rc == 0 && i < hosts.n; i++) {
        rc = xa_host_version(db, hosts.v[i], &v);
        if (rc < 0)
            break;
        if (*newest_r && xt_version_cmp(v, *newest_r))
            *mixed_r = true;
        if (!*newest_r || xt_version_cmp(v, *newest_r) > 0) {
            free(*newest_r);
            *newest_r = v;
        } else {
            free(v);
        }
        v = NULL;
    }
    pool_strv_free(&hosts);
    return rc < 0 ? rc : *newest_r ? 0 : -ENOENT;
}

/* The pool names this task as its rolling upgrade, unless another one
 * still runs (OTHER_OPERATION_IN_PROGRESS); one transaction. */
static int claim(struct api_call_ctx *call, struct rpu *r,
                 struct api_value **result_r)
{
    struct pool_value oc = { 0 }, st = { 0 };
    const char *cur;
    char *pool = NULL;
    int rc;

    rc = pool_db_begin(r->db);
    rc = rc ?: pool_ref(r, &pool);
    rc = rc ?: pool_db_get_field(r->db, POOL_CLASS_POOL, pool, "other_config",
                                 &oc);
    cur = rc == 0 ? pool_value_map_get(&oc, RPU_KEY) : NULL;
    if (cur && pool_db_get_field(r->db, POOL_CLASS_TASK, cur, "status",
                                 &st) == 0 && !strcmp(st.s, "pending")) {
        *result_r = api_failure("OTHER_OPERATION_IN_PROGRESS", "pool", pool,
                                NULL);
        rc = xt_error(call->xt, -EBUSY, "a rolling upgrade runs: task %s",
                      cur);
    }
    rc = rc ?: pool_db_map_put(r->db, POOL_CLASS_POOL, pool, "other_config",
                               RPU_KEY, r->task, POOL_DB_INTERNAL);
    if (rc == 0)
        rc = pool_db_commit(r->db);
    else
        pool_db_rollback(r->db);
    pool_value_clear(&oc);
    pool_value_clear(&st);
    free(pool);
    return rc;
}

/* Options: move_back "true" (default) or "false"; host_timeout, seconds a
 * host may take from its hook to its return (default 600). */
static int options(struct api_call_ctx *call, const struct api_value *o,
                   const char **back_r, long *timeout_r,
                   struct api_value **result_r)
{
    const char *mb = api_value_string(api_struct_get(o, "move_back"));
    const char *to = api_value_string(api_struct_get(o, "host_timeout"));
    char *end = NULL;

    *back_r = mb && !strcmp(mb, "false") ? "false" : "true";
    *timeout_r = to ? strtol(to, &end, 10) : TIMEOUT_DEFAULT;
    if (mb && strcmp(mb, "true") && strcmp(mb, "false")) {
        *result_r = api_failure("INVALID_VALUE", "move_back", mb, NULL);
        return xt_error(call->xt, -EINVAL, "move_back is true or false");
    }
    if (to && (!*to || *end || *timeout_r < 1 || *timeout_r > 86400)) {
        *result_r = api_failure("INVALID_VALUE", "host_timeout", to, NULL);
        return xt_error(call->xt, -EINVAL, "host_timeout: 1..86400 s");
    }
    return 0;
}

static int pool_rolling_upgrade(struct api_call_ctx *call,
                                const struct api_value *params,
                                struct api_value **result_r)
{
    struct xa_call *xc = xa_call_of(call);
    struct rpu r = { .xa = xc->xa, .ctx = call->xt, .db = xc->db };
    const char *back;
    char *newest = NULL, num[24];
    bool mixed;
    long to;
    int rc;

    if (!xc->xa->upgrade_hook) {
        *result_r = api_failure("OPERATION_NOT_ALLOWED", "the master has "
                                "no upgrade-hook in its configuration",
                                NULL);
        return xt_error(call->xt, -EPERM, "no upgrade-hook");
    }
    if (!call->async || !xc->task) {
        *result_r = api_failure("OPERATION_NOT_ALLOWED", "call Async.pool."
                                "rolling_upgrade: it outlives the master's "
                                "restart", NULL);
        return xt_error(call->xt, -EPERM, "pool.rolling_upgrade: not Async");
    }
    rc = options(call, api_array_get(params, 1), &back, &to, result_r);
    if (rc < 0)
        return rc;
    snprintf(r.task, sizeof(r.task), "%s", xc->task);
    rc = versions(r.db, &newest, &mixed);
    if (rc < 0)
        xt_error(call->xt, rc, "the hosts' versions");
    rc = rc ?: claim(call, &r, result_r);
    if (rc < 0)
        goto out;
    snprintf(num, sizeof(num), "%ld", to);
    tput(&r, T_NEWEST, newest);
    tput(&r, T_MIXED, mixed ? "true" : "false");
    tput(&r, T_BACK, back);
    tput(&r, T_TIMEOUT, num);
    tput(&r, XA_TASK_RESUMABLE, "true");
    xc->task_open = true;       /* run() ends it, or a later start's */
    run(&r);
    *result_r = api_void();
out:
    free(newest);
    return rc;
}

struct resume {
    struct xa *xa;
    char task[POOL_REF_STRLEN + 1];
};

static void *resume_main(void *p)
{
    struct resume *rs = p;
    struct xa *xa = rs->xa;
    struct xa_thread *t = xa_thread(xa);
    struct rpu r = { .xa = xa };

    if (t && xa_db(xa, &r.db) == 0) {
        r.ctx = t->ctx;
        snprintf(r.task, sizeof(r.task), "%s", rs->task);
        xt_info(r.ctx, "rolling upgrade: task %s goes on", r.task);
        run(&r);
    }
    free(rs);
    xa_worker_done(xa);
    return NULL;
}

void xa_rpu_resume(struct xa *xa, struct pool_db *db)
{
    struct rpu r = { .xa = xa, .db = db };
    struct pool_value oc = { 0 }, st = { 0 };
    struct resume *rs = NULL;
    const char *task;
    char *pool = NULL;
    pthread_attr_t attr;
    pthread_t th;

    if (pool_ref(&r, &pool) < 0 ||
        pool_db_get_field(db, POOL_CLASS_POOL, pool, "other_config", &oc) < 0 ||
        !(task = pool_value_map_get(&oc, RPU_KEY)) ||
        pool_db_get_field(db, POOL_CLASS_TASK, task, "status", &st) < 0 ||
        strcmp(st.s, "pending") || !(rs = calloc(1, sizeof(*rs))))
        goto out;
    rs->xa = xa;
    snprintf(rs->task, sizeof(rs->task), "%s", task);
    xa_thread_enter(xa);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &attr, resume_main, rs) != 0) {
        xa_thread_leave(xa);
        xt_warn(xa->log, "rolling upgrade: cannot resume task %s", task);
        free(rs);
    }
    pthread_attr_destroy(&attr);
out:
    pool_value_clear(&oc);
    pool_value_clear(&st);
    free(pool);
}

const struct api_method xa_rpu_methods[] = {
    { "pool.rolling_upgrade", 2, 0, 0, pool_rolling_upgrade },
    { NULL },
};
