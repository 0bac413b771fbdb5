/*
 * pd_evacuate.c - emptying a host on the master (docs/design/pool.md,
 * "Host evacuation"): host.disable and host.enable, host.compute_free_memory,
 * host.get_vms_which_prevent_evacuation, host.assert_can_evacuate,
 * host.evacuate and host.evacuate_plan.
 *
 * The plan: every running VM of the host and every other host checked as
 * a migration's prechecks would (live, enabled, on the migration network,
 * the VM's disks reachable there or able to move with it, pd_evac_sxm.c),
 * then pool_evac_plan() (pool/) places them, largest first, by the memory
 * each host may still give (pd_memory.c).  The plan's memory is reserved
 * on its destinations before the first move.  The evacuation runs the
 * plan through the pool's own VM.pool_migrate, or VM.migrate_send for a
 * VM whose disks move (an Async call to ourselves with the caller's
 * session: each move is a task, settled as any migration), at most
 * `batch` in flight and at most its
 * share on one destination, a new one starting as soon as one ends.  A
 * move that fails is planned again once, on another host; task.cancel
 * (and, with the option on_failure=stop, a VM that failed for good)
 * starts no new move and lets those in flight end.  What happened is the
 * report, a JSON string: the evacuation's result, and its task's
 * other_config xm:evacuation.  A master that stopped mid-evacuation ends
 * its task at the next start with what happened (xa_evacuate_reconcile),
 * from the VMs its task names (xm:evacuation-vms).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pd_xenapi.h"

#define EVAC_OP         "evacuate"
#define EVAC_AUTO_TARGET_MS 100.0   /* batch auto: the pause no move may
                                     * exceed (guest-observed) */
#define EVAC_POLL_MS    200
#define EVAC_ATTEMPTS   2       /* a move that failed: once more elsewhere */
#define RPC_TIMEOUT_S   60
#define HELLO_TIMEOUT_S 5

static struct pool_db *dbof(struct api_call_ctx *call)
{
    return xa_call_of(call)->db;
}

/* ---- host.disable / host.enable ---------------------------------------- */

#define AUTO_ENABLE     "xm:auto_enable"

static int host_param(struct api_call_ctx *call, const struct api_value *p,
                      const char **host_r, struct api_value **result_r)
{
    *host_r = xa_param_str(p, 1);
    if (!*host_r)
        return xt_error(call->xt, -EINVAL, "(session, host, ...)");
    return xa_db_fail(call, pool_db_check_ref(dbof(call), POOL_CLASS_HOST,
                                              *host_r), "host", *host_r,
                      result_r);
}

/* host.disable(session, host[, auto_enable]): no VM starts or arrives
 * there; auto_enable false: it stays so when its daemon restarts. */
static int host_disable(struct api_call_ctx *call,
                        const struct api_value *params,
                        struct api_value **result_r)
{
    struct pool_db *db = dbof(call);
    const char *host;
    bool autoen = true;
    int rc = host_param(call, params, &host, result_r);

    if (rc == 0 && api_value_count(params) > 2 &&
        api_value_get_bool(api_array_get(params, 2), &autoen) < 0)
        rc = xt_error(call->xt, -EINVAL, "host.disable: auto_enable is a "
                      "boolean");
    rc = rc ?: pool_db_begin(db);
    if (rc < 0)
        return rc;
    rc = pool_db_set_field(db, POOL_CLASS_HOST, host, "enabled",
                           &POOL_V_BOOL(false), POOL_DB_INTERNAL);
    rc = rc ?: autoen ? pool_db_map_remove(db, POOL_CLASS_HOST, host,
                                           "other_config", AUTO_ENABLE,
                                           POOL_DB_INTERNAL)
                      : pool_db_map_put(db, POOL_CLASS_HOST, host,
                                        "other_config", AUTO_ENABLE,
                                        "false", POOL_DB_INTERNAL);
    rc = rc ?: pool_db_commit(db);
    if (rc < 0) {
        pool_db_rollback(db);
        return rc;
    }
    *result_r = api_void();
    return 0;
}

static int host_enable(struct api_call_ctx *call,
                       const struct api_value *params,
                       struct api_value **result_r)
{
    const char *host;
    int rc = host_param(call, params, &host, result_r);

    rc = rc ?: pool_db_set_field(dbof(call), POOL_CLASS_HOST, host,
                                 "enabled", &POOL_V_BOOL(true),
                                 POOL_DB_INTERNAL);
    rc = rc ?: pool_db_map_remove(dbof(call), POOL_CLASS_HOST, host,
                                  "other_config", AUTO_ENABLE,
                                  POOL_DB_INTERNAL);
    if (rc == 0)
        *result_r = api_void();
    return rc;
}

void xa_host_restarted(struct xa *xa, struct pool_db *db, const char *host)
{
    struct pool_value oc = { 0 };
    int64_t enabled = 1;

    if (xa_field_int(db, POOL_CLASS_HOST, host, "enabled", &enabled) < 0 ||
        enabled ||
        pool_db_get_field(db, POOL_CLASS_HOST, host, "other_config",
                          &oc) < 0)
        return;
    if (!pool_value_map_get(&oc, AUTO_ENABLE) &&
        pool_db_set_field(db, POOL_CLASS_HOST, host, "enabled",
                          &POOL_V_BOOL(true), POOL_DB_INTERNAL) == 0)
        xt_info(xa->log, "host %s: its daemon restarted: enabled again",
                host);
    pool_value_clear(&oc);
}

int xa_pool_migration_network(struct pool_db *db, char **net_r)
{
    struct pool_strv pools = { 0 };
    char *net = NULL;
    int rc = pool_db_get_all(db, POOL_CLASS_POOL, &pools);

    *net_r = NULL;
    if (rc == 0 && pools.n)
        rc = xa_field_str(db, POOL_CLASS_POOL, pools.v[0],
                          "migration_network", &net);
    pool_strv_free(&pools);
    if (rc < 0 || !net || pool_ref_is_null(net)) {
        free(net);
        return -ENOENT;
    }
    *net_r = net;
    return 0;
}

/* What host says now (host_local.hello), or NULL when it does not
 * answer; caller frees. */
static struct api_value *host_hello(struct api_call_ctx *call,
                                    const char *host)
{
    struct xa *xa = xa_call_of(call)->xa;
    struct api_value *v = NULL;
    char *url = NULL;

    if (xa_host_url(xa, dbof(call), host, &url) == 0)
        xa_host_ask(xa, call->xt, url, "host_local.hello", api_array(),
                    HELLO_TIMEOUT_S, &v, NULL);
    xt_error_clear(call->xt);
    free(url);
    return v;
}

/* What host may still give a VM (xa_host_free), its memory first
 * refreshed from what it says now (host_local.hello): its record's when
 * it does not answer. */
static int64_t host_free(struct api_call_ctx *call, const char *host)
{
    struct api_value *v = host_hello(call, host);
    int64_t tot = 0, fr = 0;

    if (api_value_get_int64(api_struct_get(v, "memory_total"), &tot) == 0 &&
        api_value_get_int64(api_struct_get(v, "memory_free"), &fr) == 0)
        xa_host_memory_seen(dbof(call), host, tot, fr);
    api_value_free(v);
    return xa_host_free(dbof(call), host, NULL);
}

/* ---- the plan ------------------------------------------------------------ */

/* EV_BACK: moved, then back where it was (on_failure=rollback). */
enum evac_state { EV_WAIT, EV_MOVING, EV_DONE, EV_FAILED, EV_BACK };

/* What host.evacuate's options ask. */
struct evac_opts {
    bool stop;                  /* on_failure=stop */
    bool rollback;              /* on_failure=rollback */
    bool abort;                 /* on_cancel=abort: cancel moves in flight */
};

struct evac_vm {
    char *ref, *uuid;
    uint64_t need;
    long long prio;             /* other_config migration-priority */
    bool *can;                  /* [nh] */
    bool *motion;               /* [nh]: its disks move with it there */
    struct api_value *back;     /* when they did: VBD -> the SR its disk
                                 * was on, for a rollback */
    struct api_value *why;      /* a check's failure: its ErrorDescription */
    struct pool_evac_vm plan;
    int resv;                   /* the host its memory is reserved on by
                                 * this evacuation, -1 none */
    enum evac_state st;
    int attempts;
    char *task;                 /* its move's */
    struct api_value *fail;     /* the last move's ErrorDescription */
    uint64_t t0, t1;            /* ns, from the evacuation's start */
};

struct evac {
    struct api_call_ctx *call;
    const char *host;
    struct pool_evac_auto *auto_; /* batch-size=auto, else NULL */
    char windows[256];          /* auto: the window after each epoch */
    char *net;                  /* the moves' network, or NULL */
    bool keep_disks;            /* option storage_motion false: a VM whose
                                 * disks a host cannot reach stays */
    bool aborting;              /* on_cancel=abort: the moves in flight
                                 * were asked to stop */
    bool rolled;                /* on_failure=rollback ran */
    /* The live view, in the evacuation's task (evac_publish): the ETA
     * model's inputs, measured at the start, and what was said last. */
    struct pool_evac_eta_vm *eta;
    double stream, link;
    char *moves_said;
    double eta_s, eta_t;        /* the ETA, when it was computed (s) */
    long eta_said;
    char **hosts;               /* the other hosts */
    size_t nh;
    uint64_t *free_bytes;
    struct evac_vm *vms;
    size_t nv;
};

static void evac_clear(struct evac *ev)
{
    size_t i;

    for (i = 0; i < ev->nh; i++)
        free(ev->hosts[i]);
    for (i = 0; i < ev->nv; i++) {
        free(ev->vms[i].ref);
        free(ev->vms[i].uuid);
        free(ev->vms[i].can);
        free(ev->vms[i].motion);
        api_value_free(ev->vms[i].back);
        free(ev->vms[i].task);
        api_value_free(ev->vms[i].why);
        api_value_free(ev->vms[i].fail);
    }
    free(ev->hosts);
    free(ev->free_bytes);
    free(ev->eta);
    free(ev->moves_said);
    free(ev->vms);
    free(ev->net);
}

/* The order moves start in: the highest migration-priority first, then
 * the largest, then by ref (the plan's placement is largest first). */
static int by_need(const void *a, const void *b)
{
    const struct evac_vm *x = a, *y = b;

    if (x->prio != y->prio)
        return x->prio > y->prio ? -1 : 1;
    if (x->need != y->need)
        return x->need > y->need ? -1 : 1;
    return strcmp(x->ref, y->ref);
}

/* The host's VMs that run (paused ones too), largest first, and the
 * other hosts. */
static int evac_load(struct evac *ev)
{
    struct pool_db *db = dbof(ev->call);
    struct pool_record **r = NULL;
    size_t n = 0, i;
    int rc = pool_db_get_all_records(db, POOL_CLASS_HOST, &r, &n);

    ev->hosts = calloc(n ? n : 1, sizeof(*ev->hosts));
    ev->free_bytes = calloc(n ? n : 1, sizeof(*ev->free_bytes));
    for (i = 0; rc == 0 && i < n; i++)
        if (strcmp(r[i]->ref, ev->host) != 0 && ev->hosts)
            ev->hosts[ev->nh++] = strdup(r[i]->ref);
    pool_records_free(r, n);
    r = NULL;
    rc = rc ?: pool_db_get_all_records(db, POOL_CLASS_VM, &r, &n);
    ev->vms = calloc(n ? n : 1, sizeof(*ev->vms));
    if (rc == 0 && (!ev->hosts || !ev->free_bytes || !ev->vms))
        rc = xt_error(ev->call->xt, -ENOMEM, "out of memory");
    for (i = 0; rc == 0 && i < n; i++) {
        const char *on = pool_record_get(r[i], "resident_on")->s;
        const char *ps = pool_record_get(r[i], "power_state")->s;
        const char *prio;
        struct evac_vm *v = &ev->vms[ev->nv];

        if (!on || strcmp(on, ev->host) != 0 ||
            pool_record_get(r[i], "is_control_domain")->b ||
            (strcmp(ps, "Running") != 0 && strcmp(ps, "Paused") != 0))
            continue;
        ev->nv++;
        v->ref = strdup(r[i]->ref);
        v->uuid = strdup(pool_record_get(r[i], "uuid")->s);
        v->need = (uint64_t)pool_record_get(r[i], "memory_static_max")->i;
        prio = pool_value_map_get(pool_record_get(r[i], "other_config"),
                                  "migration-priority");
        v->prio = prio ? strtoll(prio, NULL, 10) : 0;
        v->can = calloc(ev->nh ? ev->nh : 1, sizeof(*v->can));
        v->motion = calloc(ev->nh ? ev->nh : 1, sizeof(*v->motion));
        v->resv = -1;
        if (!v->ref || !v->uuid || !v->can || !v->motion)
            rc = xt_error(ev->call->xt, -ENOMEM, "out of memory");
    }
    pool_records_free(r, n);
    if (rc == 0)
        qsort(ev->vms, ev->nv, sizeof(*ev->vms), by_need);
    return rc;
}

/* What each other host may give the VMs still waiting: what it has free
 * (host_free: moves in flight have their memory reserved) and what this
 * evacuation reserved there for those waiting, to be planned again. */
static void evac_free(struct evac *ev)
{
    size_t h, i;

    for (h = 0; h < ev->nh; h++) {
        int64_t fr = host_free(ev->call, ev->hosts[h]);

        ev->free_bytes[h] = fr > 0 ? (uint64_t)fr : 0;
    }
    for (i = 0; i < ev->nv; i++)
        if (ev->vms[i].st == EV_WAIT && ev->vms[i].resv >= 0)
            ev->free_bytes[ev->vms[i].resv] += ev->vms[i].need;
}

/* The plan's memory reserved on each destination in one transaction
 * (VM.scheduled_to_be_resident_on), so that nothing else takes it; the
 * reservation of a VM that lost its destination is released.  A VM its
 * host can no longer take (a start got there first) loses its place:
 * how many did, for the caller to plan them again. */
static size_t evac_reserve(struct evac *ev)
{
    struct pool_db *db = dbof(ev->call);
    size_t i, lost = 0;

    if (pool_db_begin(db) < 0)
        return 0;
    for (i = 0; i < ev->nv; i++) {
        struct evac_vm *v = &ev->vms[i];
        struct api_value *f = NULL;

        if (v->st != EV_WAIT)
            continue;
        if (v->plan.dest >= 0 &&
            xa_mem_reserve(ev->call, db, v->ref, ev->hosts[v->plan.dest],
                           &f) == 0) {
            v->resv = v->plan.dest;
        } else {
            if (v->resv >= 0)
                xa_mem_release(db, v->ref);
            v->resv = -1;
            lost += v->plan.dest >= 0;
            v->plan.dest = -1;
        }
        api_value_free(f);
        xt_error_clear(ev->call->xt);
    }
    if (pool_db_commit(db) < 0)
        pool_db_rollback(db);
    return lost;
}

/* At the end: what this evacuation still holds for VMs that did not
 * move is given back. */
static void evac_unreserve(struct evac *ev)
{
    size_t i;

    for (i = 0; i < ev->nv; i++)
        if (ev->vms[i].resv >= 0 && ev->vms[i].st != EV_DONE &&
            ev->vms[i].st != EV_MOVING)
            xa_mem_release(dbof(ev->call), ev->vms[i].ref);
}

/* Whether the migration network has an address of host (its
 * other_config xm:address:<host uuid>, as VM.pool_migrate wants). */
static bool net_reaches(struct pool_db *db, const char *net,
                        const char *host)
{
    char *a = NULL;
    bool ok = xa_net_address(db, net, host, &a) == 0 && a;

    free(a);
    return ok;
}

/* Whether vm's disks are there for host h, or, unless keep_disks, may
 * move with it (motion[h]): VM_REQUIRES_SR in *fail_r when neither. */
static bool evac_disks(struct evac *ev, struct evac_vm *v, size_t h,
                       struct api_value **fail_r)
{
    struct api_value *disks = NULL, *map = NULL;
    const char *code;
    bool ok;

    v->motion[h] = false;
    ok = xa_vm_disks(ev->call, v->ref, ev->hosts[h], false, NULL, &disks,
                     fail_r) == 0;
    code = *fail_r ? api_failure_code(*fail_r) : NULL;
    if (!ok && !ev->keep_disks && code && !strcmp(code, "VM_REQUIRES_SR") &&
        xa_evac_vdi_map(dbof(ev->call), v->ref, ev->hosts[h], &map,
                        NULL) == 0 && map) {
        api_value_free(disks);
        disks = NULL;
        api_value_free(*fail_r);
        *fail_r = NULL;
        ok = xa_vm_disks(ev->call, v->ref, ev->hosts[h], false, map, &disks,
                         fail_r) == 0;
        v->motion[h] = ok;
    }
    xt_error_clear(ev->call->xt);
    api_value_free(disks);
    api_value_free(map);
    return ok;
}

/* Whether vm may go to host h (but memory): live, enabled, on the
 * migration network, its disks there or moving with it; the first
 * failure is kept. */
static bool evac_can(struct evac *ev, struct evac_vm *v, size_t h)
{
    struct pool_db *db = dbof(ev->call);
    struct api_value *fail = NULL;
    int64_t live = 0, enabled = 0;
    bool ok;

    xa_field_int(db, POOL_CLASS_HOST, ev->hosts[h], "live", &live);
    xa_field_int(db, POOL_CLASS_HOST, ev->hosts[h], "enabled", &enabled);
    if (!live || !enabled)
        return false;
    /* A rolling upgrade: only to a host as new as this one. */
    if (xa_upgrade_check_target(ev->call, ev->host, ev->hosts[h],
                                &fail) < 0) {
        if (!v->why)
            v->why = api_value_copy(api_struct_get(fail,
                                                   "ErrorDescription"));
        api_value_free(fail);
        fail = NULL;
        xt_error_clear(ev->call->xt);
        return false;
    }
    if (ev->net && !net_reaches(db, ev->net, ev->hosts[h])) {
        if (!v->why) {
            v->why = api_array();
            api_array_append(v->why, api_string("VM_REQUIRES_NETWORK"));
            api_array_append(v->why, api_string(v->ref));
            api_array_append(v->why, api_string(ev->net));
        }
        return false;
    }
    ok = evac_disks(ev, v, h, &fail);
    if (!ok && !v->why && fail)
        v->why = api_value_copy(api_struct_get(fail, "ErrorDescription"));
    api_value_free(fail);
    return ok;
}

/* Plans the VMs still waiting, against what the hosts have free now
 * (evac_free); a host a VM's move failed on (can[] false since) is not
 * tried again for it. */
static int evac_plan(struct evac *ev)
{
    struct pool_evac_vm *p = calloc(ev->nv ? ev->nv : 1, sizeof(*p));
    size_t i, h, n = 0;
    int rc;

    if (!p)
        return xt_error(ev->call->xt, -ENOMEM, "out of memory");
    evac_free(ev);
    for (i = 0; i < ev->nv; i++) {
        struct evac_vm *v = &ev->vms[i];

        if (v->st != EV_WAIT)
            continue;
        for (h = 0; h < ev->nh; h++)
            if (v->attempts == 0 || v->can[h])
                v->can[h] = evac_can(ev, v, h);
        p[n] = (struct pool_evac_vm){ .need = v->need, .can = v->can };
        n++;
    }
    rc = pool_evac_plan(ev->free_bytes, ev->nh, p, n);
    for (i = 0, n = 0; rc == 0 && i < ev->nv; i++)
        if (ev->vms[i].st == EV_WAIT)
            ev->vms[i].plan = p[n++];
    free(p);
    return rc < 0 ? xt_error(ev->call->xt, rc, "evacuation plan") : 0;
}

/* The VMs still waiting planned (evac_plan) and reserved, once more if
 * a reservation lost its place to a VM started meanwhile. */
static void evac_replan(struct evac *ev)
{
    if (evac_plan(ev) == 0 && evac_reserve(ev) > 0 && evac_plan(ev) == 0)
        evac_reserve(ev);
}

/* Why vm cannot go anywhere: [code, params...]. */
static struct api_value *evac_blocker(const struct evac_vm *v)
{
    struct api_value *d = api_array();
    char a[32], b[32];

    if (v->plan.room > 0) {
        snprintf(a, sizeof(a), "%" PRIu64, v->need);
        snprintf(b, sizeof(b), "%" PRIu64, v->plan.room);
        api_array_append(d, api_string("HOST_NOT_ENOUGH_FREE_MEMORY"));
        api_array_append(d, api_string(a));
        api_array_append(d, api_string(b));
        return d;
    }
    api_value_free(d);
    if (v->why)
        return api_value_copy(v->why);
    d = api_array();
    api_array_append(d, api_string("NO_HOSTS_AVAILABLE"));
    return d;
}

/* Whether options (a map, or NULL) say storage_motion false. */
static bool keep_disks(const struct api_value *options)
{
    const char *m = api_value_string(api_struct_get(options,
                                                    "storage_motion"));

    return m && !strcmp(m, "false");
}

/* The plan for host, its moves on net (NULL: the pool's migration
 * network, if any), and its blockers (VM ref -> [code, params...]).
 * options: storage_motion false keeps a VM whose disks no other host
 * reaches (NULL: they move with it). */
static int evac_prepare(struct api_call_ctx *call, const char *host,
                        const char *net, const struct api_value *options,
                        struct evac *ev, struct api_value **blockers_r)
{
    size_t i;
    int rc;

    memset(ev, 0, sizeof(*ev));
    ev->call = call;
    ev->host = host;
    ev->keep_disks = keep_disks(options);
    if (net)
        ev->net = strdup(net);
    else
        xa_pool_migration_network(dbof(call), &ev->net);
    *blockers_r = api_struct();
    rc = evac_load(ev);
    rc = rc ?: evac_plan(ev);
    for (i = 0; rc == 0 && i < ev->nv; i++)
        if (ev->vms[i].plan.dest < 0)
            api_struct_add(*blockers_r, ev->vms[i].ref,
                           evac_blocker(&ev->vms[i]));
    if (rc < 0) {
        api_value_free(*blockers_r);
        *blockers_r = NULL;
        evac_clear(ev);
    }
    return rc;
}

static int host_prevent_evacuation(struct api_call_ctx *call,
                                   const struct api_value *params,
                                   struct api_value **result_r)
{
    struct evac ev;
    const char *host;
    int rc = host_param(call, params, &host, result_r);

    rc = rc ?: evac_prepare(call, host, NULL, NULL, &ev, result_r);
    if (rc == 0)
        evac_clear(&ev);
    return rc;
}

/* CANNOT_EVACUATE_HOST with every blocker in its message, when any. */
static int evac_assert(struct api_call_ctx *call, const char *host,
                       const struct api_value *blockers,
                       struct api_value **result_r)
{
    char msg[2048] = "";
    size_t i, n = api_value_count(blockers), len = 0;

    if (!n)
        return 0;
    for (i = 0; i < n && len < sizeof(msg) - 1; i++) {
        const struct api_value *d = api_struct_value(blockers, i);

        len += (size_t)snprintf(msg + len, sizeof(msg) - len, "%s%s: %s",
                                i ? "; " : "", api_struct_key(blockers, i),
                                api_value_string(api_array_get(d, 0)) ?:
                                "?");
    }
    *result_r = api_failure("CANNOT_EVACUATE_HOST", msg, NULL);
    return xt_error(call->xt, -EBUSY, "host %s cannot be evacuated: %s",
                    host, msg);
}

static int host_assert_can_evacuate(struct api_call_ctx *call,
                                    const struct api_value *params,
                                    struct api_value **result_r)
{
    struct api_value *blockers = NULL;
    struct evac ev;
    const char *host;
    int rc = host_param(call, params, &host, result_r);

    rc = rc ?: evac_prepare(call, host, NULL, NULL, &ev, &blockers);
    if (rc < 0)
        return rc;
    evac_clear(&ev);
    rc = evac_assert(call, host, blockers, result_r);
    api_value_free(blockers);
    if (rc == 0)
        *result_r = api_void();
    return rc;
}

static int host_compute_free_memory(struct api_call_ctx *call,
                                    const struct api_value *params,
                                    struct api_value **result_r)
{
    const char *host;
    int rc = host_param(call, params, &host, result_r);

    if (rc < 0)
        return rc;
    *result_r = api_int(host_free(call, host));
    return 0;
}

/* ---- host.evacuate_plan -------------------------------------------------- */

/* A number of a move's stats (JSON), 0 when it has none. */
static double stat_of(const char *json, const char *key)
{
    char k[48];
    const char *p;

    snprintf(k, sizeof(k), "\"%s\":", key);
    p = json ? strstr(json, k) : NULL;
    return p ? strtod(p + strlen(k), NULL) : 0;
}

static int by_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* What the pool's migrations so far say, for the ETA model
 * (pool_evac_eta): *stream_r the fastest a move went (bytes/s, its bytes
 * over its time; 0 when none yet), and eta[i] for ev's VM i from its last
 * move: the rate its guest dirtied memory (the last round's), the data it
 * copies once (what it sent less what that rate dirtied during the move,
 * at least a quarter of what it sent) and its set-up.  A VM never moved
 * counts its memory as data, with the median set-up. */
static void measured(struct evac *ev, double *stream_r,
                     struct pool_evac_eta_vm *eta)
{
    struct pool_record **t = NULL;
    struct api_value *rv = NULL;
    size_t n = 0, i, k, nset = 0;
    double setups[64];
    char last[64][POOL_DATETIME_STRLEN + 1];
    bool seen[64] = { false };

    *stream_r = 0;
    memset(last, 0, sizeof(last));
    for (k = 0; k < ev->nv; k++)
        eta[k] = (struct pool_evac_eta_vm){ (double)ev->vms[k].need, 0, 0 };
    if (pool_db_get_all_records(dbof(ev->call), POOL_CLASS_TASK, &t,
                                &n) < 0)
        return;
    for (i = 0; i < n; i++) {
        const char *name = pool_record_get(t[i], "name_label")->s;
        const char *st = pool_record_get(t[i], "status")->s;
        const char *fin = pool_record_get(t[i], "finished")->s;
        const char *vm = pool_value_map_get(pool_record_get(t[i],
                                            "other_config"), "xm:vm");
        const char *res;
        double tms, sent, setup, dirty, data;

        api_value_free(rv);     /* the last one's: every path frees it */
        rv = xa_task_result(ev->call->xt,
                            pool_record_get(t[i], "result")->s);
        res = api_value_string(rv);
        tms = stat_of(res, "total_ms");
        sent = stat_of(res, "bytes_sent");
        if (!name || (strcmp(name, "VM.pool_migrate") &&
                      strcmp(name, "VM.migrate_send")) || !st ||
            strcmp(st, "success") || tms <= 0 || sent <= 0 || !vm)
            continue;
        if (sent * 1000 / tms > *stream_r)
            *stream_r = sent * 1000 / tms;
        setup = stat_of(res, "setup_ms") / 1000;
        dirty = stat_of(res, "final_dirty_pages_s") * 4096;
        data = sent - dirty * tms / 1000;
        if (nset < 64)
            setups[nset++] = setup;
        for (k = 0; fin && k < ev->nv && k < 64; k++) {
            if (strcmp(ev->vms[k].ref, vm) || strcmp(fin, last[k]) <= 0)
                continue;
            snprintf(last[k], sizeof(last[k]), "%s", fin);
            eta[k] = (struct pool_evac_eta_vm){
                data > sent / 4 ? data : sent / 4, dirty, setup };
            seen[k] = true;
        }
    }
    api_value_free(rv);
    pool_records_free(t, n);
    qsort(setups, nset, sizeof(*setups), by_double);
    for (k = 0; nset && k < ev->nv && k < 64; k++)
        if (!seen[k])
            eta[k].setup_s = setups[nset / 2];
}

/* The evacuation's time (pool_evac_eta) for the planned moves in the
 * order they start; link_bps the evacuated host's limit.  -1 when no
 * move was measured yet. */
static double plan_eta(const struct evac *ev, struct pool_evac_eta_vm *eta,
                       double stream, double link_bps, size_t batch)
{
    size_t i, n = 0;

    for (i = 0; i < ev->nv; i++)
        if (ev->vms[i].plan.dest >= 0)
            eta[n++] = eta[i];
    return pool_evac_eta(eta, n, (unsigned)batch, link_bps, stream);
}

/* The limit on what host sends (its hello's migration_bandwidth,
 * bytes/s), 0 when none or it does not say. */
static double host_link(struct api_call_ctx *call, const char *host)
{
    struct api_value *v = host_hello(call, host);
    int64_t bw = 0;

    api_value_get_int64(api_struct_get(v, "migration_bandwidth"), &bw);
    api_value_free(v);
    return (double)bw;
}

/* host.evacuate_plan(session, host, options), xm-pool's: what
 * host.evacuate would do, nothing done: { can_evacuate, batch, bytes,
 * bandwidth (the fastest move's, bytes/s, 0 unknown), eta_s (-1
 * unknown), moves: [{ VM, host, bytes, order, wave, storage_motion[,
 * disks: { VDI: SR }] }], blockers: { VM: [code, ...] } }.  options:
 * batch_size, storage_motion ("false": a VM whose disks no host reaches
 * is a blocker).  The ETA (plan_eta, pool_evac_eta) models the moves
 * sharing the host's link (its migration_bandwidth) from what each VM's
 * last move measured: its data, its guest's dirty rate, its set-up. */
static int host_evacuate_plan(struct api_call_ctx *call,
                              const struct api_value *params,
                              struct api_value **result_r)
{
    struct xa_call *xc = xa_call_of(call);
    const char *bs = api_value_string(api_struct_get(api_array_get(params,
                                                                   2),
                                                     "batch_size"));
    struct api_value *blockers = NULL, *moves, *r, *map = NULL;
    long batch = bs ? strtol(bs, NULL, 10) : 0;
    int64_t moved, disk_bytes = 0;
    uint64_t bytes = 0;
    struct pool_evac_eta_vm *eta;
    double bw, eta_s;
    struct evac ev;
    const char *host;
    size_t i, k = 0;
    int rc = host_param(call, params, &host, result_r);

    if (rc == 0 && (batch < 0 || batch > 64))
        rc = xt_error(call->xt, -EINVAL, "batch_size: 0..64");
    rc = rc ?: evac_prepare(call, host, NULL, api_array_get(params, 2), &ev,
                            &blockers);
    if (rc < 0)
        return rc;
    if (!batch)
        batch = (long)xc->xa->evacuation_batch;
    moves = api_array();
    for (i = 0; i < ev.nv; i++) {
        struct evac_vm *v = &ev.vms[i];
        struct api_value *m;

        if (v->plan.dest < 0)
            continue;
        m = api_struct();
        api_struct_add(m, "VM", api_string(v->ref));
        api_struct_add(m, "host", api_string(ev.hosts[v->plan.dest]));
        moved = (int64_t)v->need;
        if (v->motion[v->plan.dest] &&
            xa_evac_vdi_map(dbof(call), v->ref, ev.hosts[v->plan.dest],
                            &map, &disk_bytes) == 0 && map) {
            api_struct_add(m, "disks", map);
            moved += disk_bytes;
        }
        api_struct_add(m, "storage_motion",
                       api_bool(v->motion[v->plan.dest]));
        api_struct_add(m, "bytes", api_int(moved));
        api_struct_add(m, "order", api_int((int64_t)k));
        api_struct_add(m, "wave", api_int((int64_t)(k / (size_t)batch)));
        api_array_append(moves, m);
        bytes += (uint64_t)moved;
        k++;
    }
    eta = calloc(ev.nv ? ev.nv : 1, sizeof(*eta));
    if (!eta) {
        api_value_free(moves);
        api_value_free(blockers);
        evac_clear(&ev);
        return xt_error(call->xt, -ENOMEM, "out of memory");
    }
    measured(&ev, &bw, eta);
    eta_s = plan_eta(&ev, eta, bw, host_link(call, host), (size_t)batch);
    free(eta);
    r = api_struct();
    api_struct_add(r, "can_evacuate", api_bool(!api_value_count(blockers)));
    api_struct_add(r, "batch", api_int(batch));
    api_struct_add(r, "bytes", api_int((int64_t)bytes));
    api_struct_add(r, "bandwidth", api_int((int64_t)bw));
    api_struct_add(r, "eta_s", api_double(eta_s));
    api_struct_add(r, "moves", moves);
    api_struct_add(r, "blockers", blockers);
    evac_clear(&ev);
    *result_r = r;
    return 0;
}

/* ---- host.evacuate ----------------------------------------------------- */

/* Where the disks of map (VDI -> SR) are now, by VBD, in v->back. */
static void evac_note_disks(struct evac *ev, struct evac_vm *v,
                            const struct api_value *map)
{
    struct pool_db *db = dbof(ev->call);
    size_t i;

    api_value_free(v->back);
    v->back = api_struct();
    for (i = 0; i < api_value_count(map); i++) {
        struct pool_strv vbds = { 0 };
        char *sr = NULL;

        if (pool_db_find(db, POOL_CLASS_VBD, "VDI",
                         &POOL_V_REF(api_struct_key(map, i)), &vbds) == 0 &&
            vbds.n == 1 &&
            xa_field_str(db, POOL_CLASS_VDI, api_struct_key(map, i), "SR",
                         &sr) == 0)
            api_struct_add(v->back, vbds.v[0], api_string(sr));
        pool_strv_free(&vbds);
        free(sr);
    }
}

/* The task of a move of v to host: with map (VDI -> SR, consumed; NULL:
 * memory only) an Async.VM.migrate_send (xa_evac_start_sxm), else an
 * Async.VM.pool_migrate of ours, with the caller's session; rb (NULL:
 * none) the key of the evacuation this move rolls back.  0 and *task_r,
 * or the call's error (*fail_r the envelope, if any). */
static int evac_move(struct evac *ev, struct evac_vm *v, const char *host,
                     const char *session, const char *net,
                     struct api_value *map, const char *rb, char **task_r,
                     struct api_value **fail_r)
{
    struct xa *xa = xa_call_of(ev->call)->xa;
    struct api_value *p, *o;

    *task_r = NULL;
    if (map)
        return xa_evac_start_sxm(ev->call, session, v->ref, host, net, map,
                                 rb, task_r, fail_r);
    p = api_array();
    o = api_struct();
    if (net)
        api_struct_add(o, "network", api_string(net));
    if (rb)
        api_struct_add(o, XA_EVAC_ROLLBACK_OF, api_string(rb));
    api_array_append(p, api_string(session));
    api_array_append(p, api_string(v->ref));
    api_array_append(p, api_string(host));
    api_array_append(p, o);
    return xa_rpc_task(ev->call->xt, xa->self_url, "Async.VM.pool_migrate",
                       p, RPC_TIMEOUT_S, task_r, fail_r);
}

/* The task of vm's move to its planned host (evac_move), its disks with
 * it when they must (their SRs noted for a rollback). */
static int evac_call(struct evac *ev, struct evac_vm *v, const char *host,
                     const char *session, const char *net, char **task_r,
                     struct api_value **fail_r)
{
    struct api_value *map = NULL;
    int rc;

    if (v->motion[v->plan.dest]) {
        rc = xa_evac_vdi_map(dbof(ev->call), v->ref, host, &map, NULL);
        if (rc < 0 || !map)
            return xt_error(ev->call->xt, rc < 0 ? rc : -ENOENT, "VM %s: "
                            "no SR on host %s for its disks", v->uuid, host);
        evac_note_disks(ev, v, map);
    }
    return evac_move(ev, v, host, session, net, map, NULL, task_r, fail_r);
}

/* Starts vm's move to its planned host (evac_call). */
static void evac_start(struct evac *ev, struct evac_vm *v,
                       const char *session, const char *net, uint64_t t0)
{
    struct api_value *fail = NULL;

    v->attempts++;
    v->t0 = xt_now_ns() - t0;
    if (evac_call(ev, v, ev->hosts[v->plan.dest], session, net, &v->task,
                  &fail) == 0 && v->task) {
        v->st = EV_MOVING;
    } else {
        api_value_free(v->fail);
        v->fail = fail ? api_value_copy(api_struct_get(fail,
                                                       "ErrorDescription"))
                       : NULL;
        v->st = EV_FAILED;
    }
    xt_error_clear(ev->call->xt);
    api_value_free(fail);
}

/* batch-size=auto: a move that ended tells the window its bytes and its
 * guest's pause (as the guest saw it, else the engine's). */
static void evac_auto_ended(struct evac *ev, struct evac_vm *v)
{
    struct api_value *rv;
    const char *stats;
    char *res = NULL;
    double down;
    unsigned before = ev->auto_->window, w;

    xa_field_str(dbof(ev->call), POOL_CLASS_TASK, v->task, "result", &res);
    rv = xa_task_result(ev->call->xt, res);
    free(res);
    stats = api_value_string(rv);
    down = stat_of(stats, "guest_downtime_ms");
    if (down <= 0)
        down = stat_of(stats, "downtime_ms");
    w = pool_evac_auto_ended(ev->auto_,
                             (uint64_t)stat_of(stats, "bytes_sent"), down,
                             xt_now_ns());
    api_value_free(rv);
    if (w != before || !ev->windows[0]) {
        size_t n = strlen(ev->windows);

        snprintf(ev->windows + n, sizeof(ev->windows) - n, "%s%u",
                 n ? "," : "", w);
        xt_info(ev->call->xt, "host %s: batch auto: %u move(s) in flight "
                "from now", ev->host, w);
    }
}

/* A move that ended: done, or failed (then *retry when it may be tried
 * once more elsewhere). */
static void evac_ended(struct evac *ev, struct evac_vm *v, const char *st,
                       uint64_t t0, bool *retry)
{
    struct pool_db *db = dbof(ev->call);
    struct pool_value ei = { 0 };

    v->t1 = xt_now_ns() - t0;
    if (!strcmp(st, "success")) {
        v->st = EV_DONE;
        if (ev->auto_)
            evac_auto_ended(ev, v);
        return;
    }
    if (pool_db_get_field(db, POOL_CLASS_TASK, v->task, "error_info",
                          &ei) == 0) {
        size_t i;

        api_value_free(v->fail);
        v->fail = api_array();
        for (i = 0; i < ei.set.n; i++)
            api_array_append(v->fail, api_string(ei.set.v[i]));
    }
    pool_value_clear(&ei);
    free(v->task);
    v->task = NULL;
    /* Not that host again; its reservation ended with the move. */
    v->can[v->plan.dest] = false;
    v->resv = -1;
    v->st = (v->attempts < EVAC_ATTEMPTS && strcmp(st, "cancelled") != 0) ||
            (ev->aborting && !strcmp(st, "cancelled")) ? EV_WAIT : EV_FAILED;
    *retry = *retry || v->st == EV_WAIT;
}

/* The moves in flight that ended; *inflight_r those still moving. */
static void evac_poll(struct evac *ev, uint64_t t0, size_t *inflight_r,
                      bool *retry)
{
    size_t i;

    *inflight_r = 0;
    for (i = 0; i < ev->nv; i++) {
        struct evac_vm *v = &ev->vms[i];
        char *st = NULL;

        if (v->st != EV_MOVING)
            continue;
        if (xa_field_str(dbof(ev->call), POOL_CLASS_TASK, v->task, "status",
                         &st) == 0 && strcmp(st, "pending") != 0 &&
            strcmp(st, "cancelling") != 0)
            evac_ended(ev, v, st, t0, retry);
        else
            (*inflight_r)++;
        free(st);
    }
}

/* Starts what may start now: at most batch moves in flight, at most
 * their share on one destination (pool_evac_next), and at most
 * evacuation-sr-copies disk copies from one SR; *inflight_r counts. */
/* Whether v's disks would move with it now (its planned host does not
 * reach them) while one of the SRs they are on already feeds
 * evacuation-sr-copies copies of the moves in flight. */
static bool evac_sr_busy(struct evac *ev, const struct evac_vm *v)
{
    struct pool_db *db = dbof(ev->call);
    unsigned limit = (unsigned)xa_call_of(ev->call)->xa->evacuation_sr_copies;
    struct pool_strv vbds = { 0 };
    bool busy = false;
    size_t i, k, j;

    if (v->plan.dest < 0 || !v->motion[v->plan.dest] ||
        pool_db_find(db, POOL_CLASS_VBD, "VM", &POOL_V_REF(v->ref),
                     &vbds) < 0)
        return false;
    for (i = 0; i < vbds.n && !busy; i++) {
        char *vdi = NULL, *sr = NULL;
        unsigned n = 0;

        if (xa_field_str(db, POOL_CLASS_VBD, vbds.v[i], "VDI", &vdi) == 0 &&
            !pool_ref_is_null(vdi) &&
            xa_field_str(db, POOL_CLASS_VDI, vdi, "SR", &sr) == 0)
            for (k = 0; k < ev->nv; k++) {
                const struct evac_vm *w = &ev->vms[k];

                for (j = 0; w->st == EV_MOVING &&
                            j < api_value_count(w->back); j++)
                    if (!strcmp(api_value_string(api_struct_value(
                                    w->back, j)) ?: "", sr)) {
                        n++;
                        break;
                    }
            }
        busy = sr && n >= limit;
        free(vdi);
        free(sr);
    }
    pool_strv_free(&vbds);
    return busy;
}

static void evac_start_some(struct evac *ev, const char *session,
                            const char *net, size_t batch, uint64_t t0,
                            size_t *inflight_r)
{
    struct pool_evac_vm *p = calloc(ev->nv ? ev->nv : 1, sizeof(*p));
    bool *waiting = calloc(ev->nv ? ev->nv : 1, sizeof(*waiting));
    unsigned *in = calloc(ev->nh ? ev->nh : 1, sizeof(*in)), share;
    size_t i;
    int next;

    for (i = 0; p && waiting && in && i < ev->nv; i++) {
        p[i] = ev->vms[i].plan;
        waiting[i] = ev->vms[i].st == EV_WAIT;
        if (ev->vms[i].st == EV_MOVING)
            in[ev->vms[i].plan.dest]++;
    }
    share = p && waiting && in ?
            pool_evac_per_host(p, waiting, ev->nv, ev->nh, (unsigned)batch)
            : 0;
    while (share && *inflight_r < batch &&
           (next = pool_evac_next(p, waiting, ev->nv, in, ev->nh,
                                  share)) >= 0) {
        struct evac_vm *v = &ev->vms[next];

        waiting[next] = false;
        if (evac_sr_busy(ev, v))
            continue;           /* its turn comes when a copy ends */
        evac_start(ev, v, session, net, t0);
        if (v->st == EV_MOVING) {
            in[v->plan.dest]++;
            (*inflight_r)++;
        }
    }
    free(p);
    free(waiting);
    free(in);
}

/* The option plan: host.evacuate_plan's moves [{VM, host}...], run as
 * they are.  EVACUATION_PLAN_CHANGED [host, why] when the pool changed
 * since: a VM the host runs is not in it (or it names one it does not
 * run), a destination may no longer take its VM, or has less memory free
 * than the plan gives it. */
static int evac_follow(struct evac *ev, const struct api_value *plan,
                       struct api_value **result_r)
{
    uint64_t *given = calloc(ev->nh ? ev->nh : 1, sizeof(*given));
    char why[256] = "";
    size_t i, k, h;

    if (!given)
        return xt_error(ev->call->xt, -ENOMEM, "out of memory");
    if (api_value_count(plan) != ev->nv)
        snprintf(why, sizeof(why), "the plan moves %zu VMs, the host runs "
                 "%zu", api_value_count(plan), ev->nv);
    for (i = 0; !why[0] && i < ev->nv; i++) {
        struct evac_vm *v = &ev->vms[i];
        const char *to = NULL;

        for (k = 0; k < api_value_count(plan) && !to; k++) {
            const struct api_value *m = api_array_get(plan, k);
            const char *vm = api_value_string(api_struct_get(m, "VM"));

            if (vm && !strcmp(vm, v->ref))
                to = api_value_string(api_struct_get(m, "host")) ?: "";
        }
        for (h = 0; to && h < ev->nh && strcmp(ev->hosts[h], to); h++)
            ;
        if (!to)
            snprintf(why, sizeof(why), "VM %s is not in the plan", v->uuid);
        else if (h == ev->nh || !v->can[h])
            snprintf(why, sizeof(why), "host %s may not take VM %s now",
                     to, v->uuid);
        else {
            v->plan.dest = (int)h;
            given[h] += v->need;
        }
    }
    evac_free(ev);
    for (h = 0; !why[0] && h < ev->nh; h++)
        if (given[h] > ev->free_bytes[h])
            snprintf(why, sizeof(why), "host %s has %" PRIu64 " bytes "
                     "free, the plan gives it %" PRIu64, ev->hosts[h],
                     ev->free_bytes[h], given[h]);
    free(given);
    if (!why[0])
        return 0;
    *result_r = api_failure("EVACUATION_PLAN_CHANGED", ev->host, why, NULL);
    return xt_error(ev->call->xt, -ESTALE, "host %s: the plan is stale: %s",
                    ev->host, why);
}

/* Whether a VM failed for good. */
static bool evac_any_failed(const struct evac *ev)
{
    size_t i;

    for (i = 0; i < ev->nv; i++)
        if (ev->vms[i].st == EV_FAILED)
            return true;
    return false;
}

/* The whole evacuation's time left (pool_evac_eta): the moves in flight
 * with what their tasks say is left of them, then those waiting; -1
 * unknown. */
static double evac_eta_left(struct evac *ev, size_t window)
{
    struct pool_evac_eta_vm *e = calloc(ev->nv ? ev->nv : 1, sizeof(*e));
    size_t i, n = 0, pass;
    double left;

    if (!e || !ev->eta) {
        free(e);
        return -1;
    }
    for (pass = 0; pass < 2; pass++)
        for (i = 0; i < ev->nv; i++) {
            struct evac_vm *v = &ev->vms[i];
            struct pool_value pr = { 0 };
            double done = 0;

            if (v->st != (pass ? EV_WAIT : EV_MOVING) ||
                (pass && v->plan.dest < 0))
                continue;
            if (!pass && pool_db_get_field(dbof(ev->call), POOL_CLASS_TASK,
                                           v->task, "progress", &pr) == 0 &&
                pr.type == POOL_FT_FLOAT)
                done = pr.f;
            e[n] = ev->eta[i];
            e[n].data *= 1 - done;
            if (!pass)
                e[n].setup_s = 0;
            n++;
            pool_value_clear(&pr);
        }
    left = pool_evac_eta(e, n, (unsigned)window, ev->link, ev->stream);
    free(e);
    return left;
}

/* The live view the CLI draws, in the evacuation's task's other_config:
 * xm:evac-moves, the moves in flight ("VM-UUID=TASK,..."), and mig:eta,
 * the whole evacuation's time left (s): computed again when the moves in
 * flight change, counted down in between; each written when it
 * changed. */
static void evac_publish(struct evac *ev, size_t window, double now_s)
{
    struct xa_call *xc = xa_call_of(ev->call);
    char moves[4096] = "", eta[32];
    size_t i, len = 0;
    long left;

    if (!xc->task)
        return;
    for (i = 0; i < ev->nv && len < sizeof(moves) - 128; i++)
        if (ev->vms[i].st == EV_MOVING && ev->vms[i].task)
            len += (size_t)snprintf(moves + len, sizeof(moves) - len,
                                    "%s%s=%s", len ? "," : "",
                                    ev->vms[i].uuid, ev->vms[i].task);
    if (!ev->moves_said || strcmp(moves, ev->moves_said)) {
        free(ev->moves_said);
        ev->moves_said = strdup(moves);
        pool_db_map_put(dbof(ev->call), POOL_CLASS_TASK, xc->task,
                        "other_config", "xm:evac-moves", moves,
                        POOL_DB_INTERNAL);
        ev->eta_s = evac_eta_left(ev, window);
        ev->eta_t = now_s;
    }
    left = ev->eta_s < 0 ? -1 : (long)(ev->eta_s - (now_s - ev->eta_t) + 0.5);
    if (ev->eta_s >= 0 && left < 0)
        left = 0;
    if (left == ev->eta_said)
        return;
    ev->eta_said = left;
    snprintf(eta, sizeof(eta), "%ld", left);
    if (left >= 0)
        pool_db_map_put(dbof(ev->call), POOL_CLASS_TASK, xc->task,
                        "other_config", "mig:eta", eta, POOL_DB_INTERNAL);
}

/* on_cancel=abort: each move in flight is asked to stop (task.cancel: it
 * ends before its commit, its source running on), once. */
static void evac_abort(struct evac *ev, const char *session)
{
    struct xa *xa = xa_call_of(ev->call)->xa;
    size_t i;

    ev->aborting = true;
    for (i = 0; i < ev->nv; i++) {
        struct api_value *p, *res = NULL;

        if (ev->vms[i].st != EV_MOVING)
            continue;
        p = api_array();
        api_array_append(p, api_string(session));
        api_array_append(p, api_string(ev->vms[i].task));
        xa_rpc(ev->call->xt, xa->self_url, "task.cancel", p, RPC_TIMEOUT_S,
               &res, NULL);
        xt_error_clear(ev->call->xt);
        api_value_free(res);
    }
    xt_info(ev->call->xt, "host %s: evacuation cancelled, its moves in "
            "flight asked to stop", ev->host);
}

/* The sliding window until every VM has moved or failed (or, cancelled,
 * or stopped by a failure with on_failure stop or rollback, until the
 * moves in flight end: on_cancel=abort asks them to stop first). */
static void evac_run(struct evac *ev, const char *session, const char *net,
                     size_t batch, const struct evac_opts *o,
                     bool *cancelled_r)
{
    struct pool_evac_auto a;
    struct xa_call *xc = xa_call_of(ev->call);
    uint64_t t0 = xt_now_ns();
    size_t inflight = 0, i, done;
    bool retry, halt = false, stop = o->stop || o->rollback;

    *cancelled_r = false;
    /* batch 0 here: auto, at most the configured batch in flight. */
    if (!batch) {
        pool_evac_auto_init(&a, (unsigned)xc->xa->evacuation_batch,
                            EVAC_AUTO_TARGET_MS, t0);
        ev->auto_ = &a;
        snprintf(ev->windows, sizeof(ev->windows), "1");
    }
    for (;;) {
        retry = false;
        evac_poll(ev, t0, &inflight, &retry);
        if (retry && !halt)
            evac_replan(ev);
        *cancelled_r = *cancelled_r || xa_task_cancelling(dbof(ev->call),
                                                          xc->task);
        if (*cancelled_r && o->abort && !ev->aborting)
            evac_abort(ev, session);
        for (i = 0; i < ev->nv; i++)
            if (ev->vms[i].st == EV_WAIT && ev->vms[i].plan.dest < 0)
                ev->vms[i].st = EV_FAILED;
        if (!halt && stop && evac_any_failed(ev))
            xt_info(ev->call->xt, "host %s: a VM failed to move and "
                    "on_failure is %s: no other move starts", ev->host,
                    o->rollback ? "rollback" : "stop");
        halt = *cancelled_r || (stop && evac_any_failed(ev));
        if (!halt)
            evac_start_some(ev, session, net, ev->auto_ ? ev->auto_->window
                            : batch, t0, &inflight);
        evac_publish(ev, ev->auto_ ? ev->auto_->window : batch,
                     (double)(xt_now_ns() - t0) / 1e9);
        for (i = 0, done = 0; i < ev->nv; i++)
            done += ev->vms[i].st == EV_DONE || ev->vms[i].st == EV_FAILED ||
                    (halt && ev->vms[i].st == EV_WAIT);
        xa_task_progress(xc->xa, dbof(ev->call), xc->task,
                         ev->nv ? (double)done / (double)ev->nv : 1.0);
        if (done == ev->nv || xc->xa->stopping) {
            ev->auto_ = NULL;           /* a's life ends here */
            return;
        }
        xa_sleep(xc->xa, EVAC_POLL_MS);
    }
}

/* The map taking v's moved disks back: the VDI each noted VBD has now
 * -> the SR it was on (NULL: memory only). */
static struct api_value *evac_back_map(struct evac *ev,
                                       const struct evac_vm *v)
{
    struct api_value *map;
    size_t i;

    if (!api_value_count(v->back))
        return NULL;
    map = api_struct();
    for (i = 0; i < api_value_count(v->back); i++) {
        char *vdi = NULL;

        if (xa_field_str(dbof(ev->call), POOL_CLASS_VBD,
                         api_struct_key(v->back, i), "VDI", &vdi) == 0)
            api_struct_add(map, vdi, api_value_copy(api_struct_value(
                                         v->back, i)));
        free(vdi);
    }
    return map;
}

/* Waits until task ends: its status, caller frees (NULL: the daemon
 * stops). */
static char *evac_wait(struct evac *ev, const char *task)
{
    struct xa *xa = xa_call_of(ev->call)->xa;
    char *st = NULL;

    while (!xa->stopping) {
        free(st);
        st = NULL;
        if (xa_field_str(dbof(ev->call), POOL_CLASS_TASK, task, "status",
                         &st) < 0 || (strcmp(st, "pending") &&
                                      strcmp(st, "cancelling")))
            return st;
        xa_sleep(xa, EVAC_POLL_MS);
    }
    free(st);
    return NULL;
}

/* on_failure=rollback, once the moves in flight ended: each VM that
 * moved goes back to the evacuated host, one at a time (that host,
 * though disabled, takes it: key names this evacuation), its disks to
 * the SRs they were on; EV_BACK when it did. */
static void evac_rollback(struct evac *ev, const char *session,
                          const char *net, const char *key)
{
    size_t i;

    ev->rolled = true;
    for (i = 0; i < ev->nv; i++) {
        struct evac_vm *v = &ev->vms[i];
        struct api_value *fail = NULL;
        char *task = NULL, *st = NULL;

        if (v->st != EV_DONE)
            continue;
        if (evac_move(ev, v, ev->host, session, net, evac_back_map(ev, v),
                      key, &task, &fail) == 0 && task)
            st = evac_wait(ev, task);
        if (st && !strcmp(st, "success"))
            v->st = EV_BACK;
        else
            xt_warn(ev->call->xt, "host %s: VM %s could not go back (%s)",
                    ev->host, v->uuid, st ? st : "not started");
        xt_error_clear(ev->call->xt);
        api_value_free(fail);
        free(task);
        free(st);
    }
}

/* The report: {"migrated": [{vm, host, start_s, end_s}], "failed":
 * [{vm, error, attempts}], "resident": [vm...]}, uuids and [code, ...]. */
static char *evac_report(struct evac *ev)
{
    struct pool_db *db = dbof(ev->call);
    size_t i, k, len = 0, cap = 4096;
    char *out = malloc(cap), *hu;
    int pass;

    static const char *const names[] = { "migrated", "failed", "resident" };
#define EMIT(...) do {                                                   \
        int n_ = snprintf(NULL, 0, __VA_ARGS__);                         \
        char *o_;                                                        \
        if (!out || n_ < 0)                                              \
            break;                                                       \
        if (len + (size_t)n_ + 1 > cap) {                                \
            cap = (len + (size_t)n_ + 1) * 2;                            \
            o_ = realloc(out, cap);                                      \
            if (!o_) { free(out); out = NULL; break; }                   \
            out = o_;                                                    \
        }                                                                \
        len += (size_t)snprintf(out + len, cap - len, __VA_ARGS__);      \
    } while (0)
    EMIT("{");
    for (pass = 0; pass < 3; pass++) {
        bool first = true;

        EMIT("%s\"%s\": [", pass ? ", " : "", names[pass]);
        for (i = 0; i < ev->nv; i++) {
            struct evac_vm *v = &ev->vms[i];
            enum evac_state want = pass == 0 ? EV_DONE :
                                   pass == 1 ? EV_FAILED : EV_WAIT;

            if (v->st != want && !(pass == 2 && (v->st == EV_MOVING ||
                                                 v->st == EV_BACK)))
                continue;
            EMIT("%s", first ? "" : ", ");
            first = false;
            if (pass == 2) {
                EMIT("\"%s\"", v->uuid);
                continue;
            }
            if (pass == 0) {
                hu = NULL;
                xa_field_str(db, POOL_CLASS_HOST, ev->hosts[v->plan.dest],
                             "uuid", &hu);
                EMIT("{\"vm\": \"%s\", \"host\": \"%s\", "
                     "\"start_s\": %.3f, \"end_s\": %.3f}", v->uuid,
                     hu ? hu : "", v->t0 / 1e9, v->t1 / 1e9);
                free(hu);
                continue;
            }
            EMIT("{\"vm\": \"%s\", \"attempts\": %d, \"error\": [",
                 v->uuid, v->attempts);
            {
                struct api_value *d = v->fail ? v->fail : evac_blocker(v);

                for (k = 0; k < api_value_count(d); k++)
                    EMIT("%s\"%s\"", k ? ", " : "",
                         api_value_string(api_array_get(d, k)) ?: "");
                if (!v->fail)
                    api_value_free(d);
            }
            EMIT("]}");
        }
        EMIT("]");
    }
    if (ev->rolled) {
        bool first = true;

        EMIT(", \"rolled_back\": [");
        for (i = 0; i < ev->nv; i++)
            if (ev->vms[i].st == EV_BACK) {
                EMIT("%s\"%s\"", first ? "" : ", ", ev->vms[i].uuid);
                first = false;
            }
        EMIT("]");
    }
    if (ev->windows[0])
        EMIT(", \"batch_auto\": [%s]", ev->windows);
    EMIT("}");
#undef EMIT
    return out;
}

bool xa_evac_rollback_ok(struct pool_db *db, const char *host,
                         const char *key)
{
    struct pool_value ops = { 0 };
    const char *op;
    bool ok;

    if (pool_db_get_field(db, POOL_CLASS_HOST, host, "current_operations",
                          &ops) < 0)
        return false;
    op = pool_value_map_get(&ops, key);
    ok = op && !strcmp(op, EVAC_OP);
    pool_value_clear(&ops);
    return ok;
}

/* The evacuation holds the host (current_operations): one at a time. */
static int evac_claim(struct api_call_ctx *call, const char *host,
                      const char *key, struct api_value **result_r)
{
    struct pool_db *db = dbof(call);
    struct pool_value ops = { 0 };
    size_t i;
    int rc = pool_db_begin(db);

    rc = rc ?: pool_db_get_field(db, POOL_CLASS_HOST, host,
                                 "current_operations", &ops);
    for (i = 0; rc == 0 && i < ops.map.n; i++)
        if (!strcmp(ops.map.vals[i], EVAC_OP)) {
            *result_r = api_failure("HOST_EVACUATE_IN_PROGRESS", host,
                                    NULL);
            rc = xt_error(call->xt, -EBUSY, "host %s: an evacuation runs",
                          host);
        }
    rc = rc ?: pool_db_map_put(db, POOL_CLASS_HOST, host,
                               "current_operations", key, EVAC_OP,
                               POOL_DB_INTERNAL);
    rc = rc ?: pool_db_commit(db);
    if (rc < 0)
        pool_db_rollback(db);
    pool_value_clear(&ops);
    return rc;
}

/* The answer: the report when every VM moved, else the first failure
 * (TASK_CANCELLED when cancelled); the report in the task either way. */
static int evac_answer(struct evac *ev, bool cancelled,
                       struct api_value **result_r)
{
    struct xa_call *xc = xa_call_of(ev->call);
    char *rep = evac_report(ev);
    const struct evac_vm *bad = NULL;
    size_t i;

    if (!rep)
        return xt_error(ev->call->xt, -ENOMEM, "out of memory");
    if (xc->task)
        pool_db_map_put(dbof(ev->call), POOL_CLASS_TASK, xc->task,
                        "other_config", "xm:evacuation", rep,
                        POOL_DB_INTERNAL);
    xt_info(ev->call->xt, "host %s evacuated%s: %s", ev->host,
            cancelled ? " (cancelled)" : "", rep);
    for (i = 0; i < ev->nv && !bad; i++)
        if (ev->vms[i].st == EV_FAILED)
            bad = &ev->vms[i];
    for (i = 0; i < ev->nv && !bad; i++)
        if (ev->vms[i].st != EV_DONE)
            bad = &ev->vms[i];
    if (!bad) {
        *result_r = api_string(rep);
        free(rep);
        return 0;
    }
    if (!cancelled)
        xa_message_evacuation(dbof(ev->call), ev->host, rep);
    free(rep);
    if (cancelled) {
        *result_r = api_failure("TASK_CANCELLED", xc->task ? xc->task : "",
                                NULL);
        return xt_error(ev->call->xt, -ECANCELED, "evacuation cancelled");
    }
    {
        const char *p[8];
        size_t n = api_value_count(bad->fail), k;

        for (k = 1; k < n && k <= 8; k++)
            p[k - 1] = api_value_string(api_array_get(bad->fail, k)) ?: "";
        *result_r = n ? api_failure_array(
                            api_value_string(api_array_get(bad->fail, 0)) ?:
                            "VM_MIGRATE_FAILED", p, k - 1)
                      : api_failure("VM_MIGRATE_FAILED", bad->ref,
                                    ev->host, "", "no host could take it",
                                    NULL);
    }
    return xt_error(ev->call->xt, -EIO, "host %s: VM %s did not move",
                    ev->host, bad->uuid);
}

/* The journal a master restart reads (xa_evacuate_reconcile): the VMs
 * the evacuation moves, in its task's other_config. */
#define EVAC_VMS        "xm:evacuation-vms"

static void evac_journal(struct evac *ev, const char *task)
{
    size_t i, len = 0, cap = ev->nv * (XT_UUID_STRLEN + 1) + 1;
    char *list = calloc(1, cap);

    for (i = 0; list && i < ev->nv; i++)
        len += (size_t)snprintf(list + len, cap - len, "%s%s", i ? "," : "",
                                ev->vms[i].uuid);
    if (list)
        pool_db_map_put(dbof(ev->call), POOL_CLASS_TASK, task,
                        "other_config", EVAC_VMS, list, POOL_DB_INTERNAL);
    free(list);
}

/* One VM of an interrupted evacuation: 0 moved, 1 moving (its migration
 * settles by itself), 2 still on the host, -1 gone. */
static int evac_where(struct pool_db *db, const char *uuid, const char *host)
{
    struct pool_value oc = { 0 };
    char *ref = NULL, *on = NULL;
    int r = -1;

    if (pool_db_get_by_uuid(db, POOL_CLASS_VM, uuid, &ref) == 0 &&
        xa_field_str(db, POOL_CLASS_VM, ref, "resident_on", &on) == 0 &&
        pool_db_get_field(db, POOL_CLASS_VM, ref, "other_config", &oc) == 0)
        r = pool_value_map_get(&oc, XA_MIG_STATE) ? 1 :
            strcmp(on, host) ? 0 : 2;
    pool_value_clear(&oc);
    free(ref);
    free(on);
    return r;
}

/* An evacuation a stopped master left (its op on host, key its task):
 * the task ends with what happened, the host is free again. */
static void evac_interrupted(struct xa *xa, struct pool_db *db,
                             const char *host, const char *task)
{
    static const char *const names[] = { "migrated", "moving", "resident" };
    struct pool_value oc = { 0 };
    char rep[8192], why[160];
    size_t len = 0, n[3] = { 0 };
    const char *vms;
    int k;

    if (pool_db_get_field(db, POOL_CLASS_TASK, task, "other_config",
                          &oc) < 0)
        goto out;
    vms = pool_value_map_get(&oc, EVAC_VMS);
    len += (size_t)snprintf(rep, sizeof(rep), "{\"interrupted\": true");
    for (k = 0; k < 3; k++) {
        const char *p = vms ? vms : "";

        len += (size_t)snprintf(rep + len, sizeof(rep) - len, ", \"%s\": [",
                                names[k]);
        while (*p && len < sizeof(rep) - 64) {
            char uuid[XT_UUID_STRLEN + 1];
            size_t l = strcspn(p, ",");

            snprintf(uuid, sizeof(uuid), "%.*s", (int)l, p);
            p += l + (p[l] == ',');
            if (evac_where(db, uuid, host) != k)
                continue;
            len += (size_t)snprintf(rep + len, sizeof(rep) - len,
                                    "%s\"%s\"", n[k]++ ? ", " : "", uuid);
        }
        len += (size_t)snprintf(rep + len, sizeof(rep) - len, "]");
    }
    snprintf(rep + len, sizeof(rep) - len, "}");
    pool_db_map_put(db, POOL_CLASS_TASK, task, "other_config",
                    "xm:evacuation", rep, POOL_DB_INTERNAL);
    snprintf(why, sizeof(why), "the master restarted mid-evacuation: %zu "
             "moved, %zu moving, %zu still on the host", n[0], n[1], n[2]);
    {
        struct api_value *env = api_failure("INTERNAL_ERROR", why, NULL);

        xa_task_set_outcome(db, task, env);
        api_value_free(env);
    }
    xt_info(xa->log, "host %s: %s: %s", host, why, rep);
out:
    pool_value_clear(&oc);
}

void xa_evacuate_reconcile(struct xa *xa, struct pool_db *db)
{
    struct pool_record **hosts = NULL;
    size_t nh = 0, i, j;

    if (pool_db_get_all_records(db, POOL_CLASS_HOST, &hosts, &nh) < 0)
        return;
    for (i = 0; i < nh; i++) {
        const struct pool_value *ops =
            pool_record_get(hosts[i], "current_operations");

        for (j = 0; j < ops->map.n; j++) {
            if (strcmp(ops->map.vals[j], EVAC_OP) != 0)
                continue;
            if (pool_db_check_ref(db, POOL_CLASS_TASK,
                                  ops->map.keys[j]) == 0)
                evac_interrupted(xa, db, hosts[i]->ref, ops->map.keys[j]);
            pool_db_map_remove(db, POOL_CLASS_HOST, hosts[i]->ref,
                               "current_operations", ops->map.keys[j],
                               POOL_DB_INTERNAL);
        }
    }
    pool_records_free(hosts, nh);
}

/* host.evacuate's batch_size (0 the default, -1 auto: xm-pool's, else
 * 1..64; *batch_r 0 for auto) and xm-pool's options: on_failure
 * continue (the default), stop or rollback; on_cancel finish (the
 * default) or abort; storage_motion (evac_prepare). */
static int evac_options(struct api_call_ctx *call,
                        const struct api_value *params, size_t *batch_r,
                        struct evac_opts *o, struct api_value **result_r)
{
    const struct api_value *opts = api_array_get(params, 4);
    const char *onf = api_value_string(api_struct_get(opts, "on_failure"));
    const char *onc = api_value_string(api_struct_get(opts, "on_cancel"));
    int64_t batch = 0;

    memset(o, 0, sizeof(*o));
    if (api_value_count(params) > 3 &&
        (api_value_get_int64(api_array_get(params, 3), &batch) < 0 ||
         batch < -1 || batch > 64))
        return xt_error(call->xt, -EINVAL, "host.evacuate: batch_size is "
                        "0..64, or -1 for auto");
    if (onf && strcmp(onf, "continue") && strcmp(onf, "stop") &&
        strcmp(onf, "rollback")) {
        *result_r = api_failure("INVALID_VALUE", "on_failure", onf, NULL);
        return xt_error(call->xt, -EINVAL, "host.evacuate: on_failure is "
                        "continue, stop or rollback");
    }
    if (onc && strcmp(onc, "finish") && strcmp(onc, "abort")) {
        *result_r = api_failure("INVALID_VALUE", "on_cancel", onc, NULL);
        return xt_error(call->xt, -EINVAL, "host.evacuate: on_cancel is "
                        "finish or abort");
    }
    o->stop = onf && !strcmp(onf, "stop");
    o->rollback = onf && !strcmp(onf, "rollback");
    o->abort = onc && !strcmp(onc, "abort");
    if (!batch)
        batch = (int64_t)xa_call_of(call)->xa->evacuation_batch;
    *batch_r = batch < 0 ? 0 : (size_t)batch;
    return 0;
}

/* host.evacuate(session, host[, network[, batch_size[, options]]]):
 * OpaqueRef:NULL and 0 are the defaults (no network: the hosts'
 * addresses; the batch: evacuation-batch-size); options evac_options'. */
static int host_evacuate(struct api_call_ctx *call,
                         const struct api_value *params,
                         struct api_value **result_r)
{
    struct xa_call *xc = xa_call_of(call);
    const char *session = xa_param_str(params, 0);
    const char *net = xa_param_str(params, 2);
    const struct api_value *opts = api_array_get(params, 4);
    struct api_value *blockers = NULL;
    char key[POOL_REF_STRLEN + 1];
    struct evac_opts o;
    struct evac ev;
    const char *host;
    size_t batch = 0;
    bool cancelled;
    int rc = host_param(call, params, &host, result_r);

    rc = rc ?: evac_options(call, params, &batch, &o, result_r);
    if (rc < 0)
        return rc;
    if (net && (!*net || pool_ref_is_null(net)))
        net = NULL;
    xa_op_key(call, key);
    if (xc->task)
        pool_db_map_put(dbof(call), POOL_CLASS_TASK, xc->task,
                        "other_config", XA_TASK_CANCELLABLE, "true",
                        POOL_DB_INTERNAL);
    rc = evac_claim(call, host, key, result_r);
    if (rc < 0)
        return rc;
    rc = evac_prepare(call, host, net, opts, &ev, &blockers);
    if (rc == 0 && api_struct_get(opts, "plan") &&
        evac_follow(&ev, api_struct_get(opts, "plan"), result_r) < 0) {
        rc = -ESTALE;
        evac_clear(&ev);
    } else if (rc == 0 && evac_assert(call, host, blockers, result_r) < 0) {
        rc = -EBUSY;
        evac_clear(&ev);
    }
    api_value_free(blockers);
    if (rc == 0 && xc->task)
        evac_journal(&ev, xc->task);
    if (rc == 0) {
        /* The live view's ETA model, measured once. */
        ev.eta = calloc(ev.nv ? ev.nv : 1, sizeof(*ev.eta));
        if (ev.eta)
            measured(&ev, &ev.stream, ev.eta);
        ev.link = host_link(call, host);
        ev.eta_said = -2;
        if (evac_reserve(&ev) > 0)
            evac_replan(&ev);
        evac_run(&ev, session, net, batch, &o, &cancelled);
        evac_unreserve(&ev);
        if (o.rollback && !cancelled && evac_any_failed(&ev))
            evac_rollback(&ev, session, net, key);
        rc = evac_answer(&ev, cancelled, result_r);
        evac_clear(&ev);
    }
    pool_db_map_remove(dbof(call), POOL_CLASS_HOST, host,
                       "current_operations", key, POOL_DB_INTERNAL);
    return rc;
}

const struct api_method xa_evacuate_methods[] = {
    { "host.disable", 2, 3, 0, host_disable },
    { "host.enable", 2, 0, 0, host_enable },
    { "host.compute_free_memory", 2, 0, 0, host_compute_free_memory },
    { "host.get_vms_which_prevent_evacuation", 2, 0, 0,
      host_prevent_evacuation },
    { "host.assert_can_evacuate", 2, 0, 0, host_assert_can_evacuate },
    { "host.evacuate", 2, 5, 0, host_evacuate },
    { "host.evacuate_plan", 3, 0, 0, host_evacuate_plan },
    { NULL },
};
