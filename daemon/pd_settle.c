/*
 * pd_settle.c - how the master learns the outcome of a pool migration and
 * makes the database say it (docs/design/pool.md, "VM.pool_migrate" and
 * "Reconciliation").
 *
 * Only a positive answer ends a migration.  Each pass asks the source
 * (host_local.migrate_status, a long poll while its engine runs) and,
 * when that is not enough, the destination (host_local.vm_status) and
 * then the source's hypervisor; pd_decide() (pd_verdict.c) alone turns
 * what they said into a verdict.  A verdict is applied in one transaction
 * (the VM's resident_on, domid and power_state, its current_operations,
 * the task), then the source is told (migrate_resolve for a copy in doubt,
 * migrate_forget) and the record goes.  A migration to another pool
 * (XA_MIG_POOL) asks that pool's master for its destination's word and
 * tells it the verdict before applying it (pd_xpool.c); the VM's record
 * goes with the migration's.  The thread that started a
 * migration settles it; the reconciler thread settles every other one (a
 * restarted master's, one whose thread stopped) and finishes cleanups,
 * continuously, as long as this host is the master.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pd_verdict.h"
#include "pd_xenapi.h"

#define ASK_TIMEOUT_S   5       /* one question, on top of a long poll */
#define STATUS_WAIT_S   2       /* the long poll of a running sender */
#define RETRY_MS        1000    /* between passes that got no answer */
#define RECONCILE_MS    1000    /* between the reconciler's rounds */
#define MOTION_RETRY_ROUNDS 5   /* left-over storage motions: tried again
                                 * every so many rounds */

/* A migration a live thread of this master settles. */
struct xa_settler {
    struct xa_settler *next;
    char op[POOL_REF_STRLEN + 1];
};

int xa_settler_enter(struct xa *xa, const char *op)
{
    struct xa_settler *s;
    int rc = 0;

    pthread_mutex_lock(&xa->lock);
    for (s = xa->settling; s; s = s->next)
        if (!strcmp(s->op, op))
            rc = -EBUSY;
    s = rc ? NULL : calloc(1, sizeof(*s));
    if (!rc && !s)
        rc = -ENOMEM;
    if (s) {
        snprintf(s->op, sizeof(s->op), "%s", op);
        s->next = xa->settling;
        xa->settling = s;
    }
    pthread_mutex_unlock(&xa->lock);
    return rc;
}

void xa_settler_leave(struct xa *xa, const char *op)
{
    struct xa_settler **pp, *s;

    pthread_mutex_lock(&xa->lock);
    for (pp = &xa->settling; *pp; pp = &(*pp)->next)
        if (!strcmp((*pp)->op, op)) {
            s = *pp;
            *pp = s->next;
            free(s);
            break;
        }
    pthread_mutex_unlock(&xa->lock);
}

/* ---- the record --------------------------------------------------------- */

int xa_mig_recorded(struct pool_db *db, const char *op)
{
    struct pool_record **vms = NULL;
    size_t n = 0, i;
    int rc = pool_db_get_all_records(db, POOL_CLASS_VM, &vms, &n), found = 0;

    for (i = 0; rc == 0 && i < n && !found; i++) {
        const char *o = pool_value_map_get(pool_record_get(vms[i],
                                           "other_config"), XA_MIG_OP);

        found = o && !strcmp(o, op);
    }
    pool_records_free(vms, n);
    return rc < 0 ? rc : found;
}

int xa_pm_set_state(struct pool_db *db, const struct xa_pm *pm,
                    const char *state)
{
    return pool_db_map_put(db, POOL_CLASS_VM, pm->vm, "other_config",
                           XA_MIG_STATE, state, POOL_DB_INTERNAL);
}

static int record_remove(struct pool_db *db, const char *vm)
{
    static const char *const keys[] = {
        XA_MIG_STATE, XA_MIG_OP, XA_MIG_SOURCE, XA_MIG_DEST, NULL
    };
    size_t i;
    int rc = 0;

    for (i = 0; rc == 0 && keys[i]; i++)
        rc = pool_db_map_remove(db, POOL_CLASS_VM, vm, "other_config",
                                keys[i], POOL_DB_INTERNAL);
    return rc;
}

/* The task of the operation, when it is one. */
static int task_outcome(struct pool_db *db, const char *op,
                        const struct api_value *env)
{
    if (pool_db_check_ref(db, POOL_CLASS_TASK, op) < 0)
        return 0;
    return xa_task_set_outcome(db, op, env);
}

int xa_pm_abandon(struct pool_db *db, const struct xa_pm *pm,
                  const struct api_value *env)
{
    int rc = pool_db_begin(db);

    if (rc < 0)
        return rc;
    rc = pool_db_map_remove(db, POOL_CLASS_VM, pm->vm, "current_operations",
                            pm->op, POOL_DB_INTERNAL);
    rc = rc ?: record_remove(db, pm->vm);
    if (rc == 0)
        xa_mem_release(db, pm->vm);
    rc = rc ?: task_outcome(db, pm->op, env);
    rc = rc ?: pool_db_commit(db);
    if (rc < 0)
        pool_db_rollback(db);
    else
        xa_message_migration(db, pm, env);
    return rc;
}

/* ---- what the hosts say ------------------------------------------------- */

static void facts_clear(struct facts *f)
{
    free(f->src.stats);
    memset(f, 0, sizeof(*f));
}

static void copy_str(char *dst, size_t size, const struct api_value *v)
{
    const char *s = api_value_string(v);

    snprintf(dst, size, "%s", s ? s : "");
}

static void parse_src(const struct api_value *v, struct src_facts *s)
{
    const char *stats = api_value_string(api_struct_get(v, "stats"));

    s->answered = true;
    api_value_get_bool(api_struct_get(v, "known"), &s->known);
    api_value_get_bool(api_struct_get(v, "running"), &s->running);
    api_value_get_bool(api_struct_get(v, "cancelled"), &s->cancelled);
    api_value_get_int64(api_struct_get(v, "domid"), &s->domid);
    api_value_get_int64(api_struct_get(v, "dst_domid"), &s->dst_domid);
    copy_str(s->state, sizeof(s->state), api_struct_get(v, "state"));
    copy_str(s->error, sizeof(s->error), api_struct_get(v, "error"));
    s->stats = stats && *stats ? strdup(stats) : NULL;
}

static void parse_vm(const struct api_value *v, struct vm_facts *f)
{
    const char *st = api_value_string(api_struct_get(v, "state"));

    f->answered = true;
    api_value_get_bool(api_struct_get(v, "running"), &f->domain);
    api_value_get_bool(api_struct_get(v, "sending"), &f->sending);
    api_value_get_bool(api_struct_get(v, "receiving"), &f->receiving);
    api_value_get_int64(api_struct_get(v, "domid"), &f->domid);
    f->running = f->domain && st && !strcmp(st, "running");
}

/* A question to host: *v_r its answer, or NULL when there was none. */
static void ask(struct xa *xa, struct xt_ctx *ctx, struct pool_db *db,
                const char *host, const char *method, struct api_value *p,
                long timeout_s, struct api_value **v_r)
{
    char *url = NULL;

    *v_r = NULL;
    if (xa_host_url(xa, db, host, &url) < 0 || !*url) {
        api_value_free(p);
        free(url);
        return;
    }
    if (xa_host_ask(xa, ctx, url, method, p, timeout_s, v_r, NULL) < 0)
        *v_r = NULL;
    free(url);
}

static void ask_src(struct xa *xa, struct xt_ctx *ctx, struct pool_db *db,
                    const struct xa_pm *pm, int wait_s, struct src_facts *s)
{
    struct api_value *p = api_array(), *v;

    api_array_append(p, api_string(pm->op));
    api_array_append(p, api_int(wait_s));
    ask(xa, ctx, db, pm->src, "host_local.migrate_status", p,
        wait_s + ASK_TIMEOUT_S, &v);
    if (v)
        parse_src(v, s);
    api_value_free(v);
}

static void ask_vm(struct xa *xa, struct xt_ctx *ctx, struct pool_db *db,
                   const char *host, const char *uuid, struct vm_facts *f)
{
    struct api_value *p = api_array(), *v;

    api_array_append(p, api_string(uuid));
    ask(xa, ctx, db, host, "host_local.vm_status", p, ASK_TIMEOUT_S, &v);
    if (v)
        parse_vm(v, f);
    api_value_free(v);
}

/* The destination of another pool: asked through its master. */
static void ask_other_pool(struct xa *xa, struct xt_ctx *ctx,
                           const struct xa_pm *pm, struct vm_facts *f)
{
    struct api_value *v = NULL;

    if (xa_xpool_status(xa, ctx, pm->op, &v) == 0)
        parse_vm(v, f);
    api_value_free(v);
}

/* Asks what pd_decide() needs, in order: the source, the destination, the
 * source's hypervisor. */
static void gather(struct xa *xa, struct xt_ctx *ctx, struct pool_db *db,
                   const struct xa_pm *pm, int wait_s, struct facts *f)
{
    ask_src(xa, ctx, db, pm, wait_s, &f->src);
    if (pd_src_decides(&f->src))
        return;
    if (pm->xpool)
        ask_other_pool(xa, ctx, pm, &f->dst);
    else
        ask_vm(xa, ctx, db, pm->dst, pm->uuid, &f->dst);
    if (pd_need_srcvm(f))
        ask_vm(xa, ctx, db, pm->src, pm->uuid, &f->srcvm);
}

/* The record's state after a pass that decided nothing. */
static const char *pending_state(const struct facts *f)
{
    if (!f->src.answered)
        return XA_MIG_UNKNOWN;
    return pd_src_paused(&f->src) ? XA_MIG_IN_DOUBT : XA_MIG_SENDING;
}

/* ---- applying a verdict ------------------------------------------------- */

/* What the operation answers: the stats, or its failure. */
static struct api_value *outcome_env(const struct xa_pm *pm,
                                     enum verdict v, const struct facts *f)
{
    const char *why = f->src.error[0] ? f->src.error :
                      "the migration did not complete";

    if (v == V_ON_DEST)
        return api_success(api_string(f->src.stats && pd_src_is(&f->src,
                           "handed-over") ? f->src.stats :
                           "{\"committed\":true}"));
    if (v == V_ON_SOURCE && f->src.cancelled)
        return api_failure("TASK_CANCELLED", pm->op, NULL);
    if (v == V_NOWHERE)
        why = "the VM runs on neither host any more";
    return api_failure("VM_MIGRATE_FAILED", pm->vm, pm->src, pm->dst, why,
                       NULL);
}

/* Where the VM is after verdict v: host, domid, power state. */
static void placement(const struct xa_pm *pm, enum verdict v,
                      const struct facts *f, const char **host_r,
                      int64_t *domid_r, const char **state_r)
{
    *state_r = "Running";
    if (v == V_ON_DEST) {
        *host_r = pm->dst;
        *domid_r = f->dst.answered && f->dst.running ? f->dst.domid :
                   f->src.dst_domid;
    } else if (v == V_ON_SOURCE) {
        *host_r = pm->src;
        *domid_r = f->src.known ? f->src.domid : f->srcvm.domid;
    } else {
        *host_r = POOL_NULL_REF;
        *domid_r = -1;
        *state_r = "Halted";
    }
}

/* One transaction: the VM, its operation, the task, the record's cleanup
 * state. */
static int apply(struct pool_db *db, const struct xa_pm *pm, enum verdict v,
                 const struct facts *f, const struct api_value *env)
{
    const char *host, *state;
    int64_t domid;
    int rc;

    placement(pm, v, f, &host, &domid, &state);
    /* Gone to another pool: it runs nowhere here, and its record goes
     * once the source forgot the migration (cleanup). */
    if (pm->xpool && v == V_ON_DEST) {
        host = POOL_NULL_REF;
        domid = -1;
        state = "Halted";
    }
    rc = pool_db_begin(db);
    if (rc < 0)
        return rc;
    rc = xa_vm_set_running(db, pm->vm, state, host, domid);
    /* ... and nothing may start it here meanwhile: the operation stays. */
    if (!pm->xpool || v != V_ON_DEST)
        rc = rc ?: pool_db_map_remove(db, POOL_CLASS_VM, pm->vm,
                                      "current_operations", pm->op,
                                      POOL_DB_INTERNAL);
    rc = rc ?: task_outcome(db, pm->op, env);
    /* Disks moved with it: the VM's VBDs follow it (storage motion). */
    rc = rc ?: xa_sxm_apply_db(db, pm->op, v == V_ON_DEST);
    rc = rc ?: xa_pm_set_state(db, pm, v == V_ON_DEST ? XA_MIG_CLEANUP_DST
                               : XA_MIG_CLEANUP_SRC);
    rc = rc ?: pool_db_commit(db);
    if (rc < 0)
        pool_db_rollback(db);
    return rc;
}

/* A resolution or forget call to the source: 0 when it was done. */
static int tell_src(struct xa *xa, struct xt_ctx *ctx, struct pool_db *db,
                    const struct xa_pm *pm, const char *method,
                    const char *verdict, struct src_facts *s_r)
{
    struct api_value *p = api_array(), *v = NULL;
    char *url = NULL;
    int rc;

    api_array_append(p, api_string(pm->op));
    if (verdict)
        api_array_append(p, api_string(verdict));
    rc = xa_host_url(xa, db, pm->src, &url);
    if (rc == 0)
        rc = xa_host_call(xa, ctx, url, method, p, ASK_TIMEOUT_S, &v, NULL);
    else
        api_value_free(p);
    if (rc == 0 && s_r)
        parse_src(v, s_r);
    api_value_free(v);
    free(url);
    return rc;
}

/* The record goes; a VM that went to another pool goes with it (its
 * VBDs with it, its VDIs went when the migration settled). */
static int gone(struct pool_db *db, const struct xa_pm *pm, bool on_dest)
{
    if (pm->xpool && on_dest)
        return pool_db_destroy(db, POOL_CLASS_VM, pm->vm);
    return record_remove(db, pm->vm);
}

/*
 * After the verdict the source forgets the migration: a copy still in
 * doubt there is destroyed first when the destination has the VM.  Until
 * the source says it is done, the record stays ("cleanup-...") and a new
 * migration of the VM waits.
 */
static int cleanup(struct xa *xa, struct xt_ctx *ctx, struct pool_db *db,
                   const struct xa_pm *pm, bool on_dest)
{
    struct src_facts s = { 0 };
    int rc = 0;

    /* Another pool hears the outcome first: until it knows, the record
     * stays and the reconciler tells it again. */
    if (pm->xpool && xa_xpool_tell(xa, ctx, pm->op, on_dest) < 0)
        return -EAGAIN;
    if (pool_db_check_ref(db, POOL_CLASS_HOST, pm->src) == -ENOENT)
        return gone(db, pm, on_dest);   /* the host left the pool */
    if (on_dest)
        rc = tell_src(xa, ctx, db, pm, "host_local.migrate_resolve",
                      "destination-runs", &s);
    free(s.stats);
    rc = rc ?: tell_src(xa, ctx, db, pm, "host_local.migrate_forget", NULL,
                        NULL);
    return rc ?: gone(db, pm, on_dest);
}

/*
 * One pass: 1 when the verdict is applied (*env_r the operation's
 * outcome), 0 when it is not known yet (*waited_r: the source's long poll
 * took the time), or an error.
 */
static int settle_pass(struct xa *xa, struct xt_ctx *ctx, struct pool_db *db,
                       const struct xa_pm *pm, int wait_s, const char **state,
                       struct api_value **env_r, bool *waited_r)
{
    struct facts f = { 0 };
    enum verdict v;
    int rc = 0;

    gather(xa, ctx, db, pm, wait_s, &f);
    *waited_r = f.src.answered && f.src.running && wait_s > 0;
    v = pd_decide(&f);
    if (v == V_RESUME) {
        /* The destination has neither the VM nor a receiver for it. */
        xt_info(xa->log, "VM %s: the destination never took it; the "
                "source resumes its copy", pm->vm);
        tell_src(xa, ctx, db, pm, "host_local.migrate_resolve",
                 "destination-has-none", NULL);
        v = V_PENDING;
    }
    if (v == V_PENDING) {
        if (strcmp(*state, pending_state(&f)) != 0) {
            *state = pending_state(&f);
            xa_pm_set_state(db, pm, *state);
        }
        if (!strcmp(*state, XA_MIG_UNKNOWN))
            xt_fault(ctx, "pd.master.unknown");
        goto out;
    }
    xt_fault(ctx, "pd.master.decided");
    *env_r = outcome_env(pm, v, &f);
    if (pm->xpool) {
        const char *h, *ps;
        int64_t domid;

        /* What the other pool is to hear, kept, then told before this
         * pool's database (and the task) says it: a client that ends its
         * session there once the task ends leaves nothing untold.  Not
         * told now: the cleanup tells it. */
        placement(pm, v, &f, &h, &domid, &ps);
        rc = xa_xpool_verdict(xa, ctx, pm->op, v == V_ON_DEST, domid);
        if (rc < 0)
            goto out;
        if (xa_xpool_tell(xa, ctx, pm->op, v == V_ON_DEST) < 0)
            xt_error_clear(ctx);
    }
    rc = apply(db, pm, v, &f, *env_r);
    if (rc < 0)
        goto out;
    xt_info(xa->log, "VM %s: migration %s settled: %s", pm->vm, pm->op,
            v == V_ON_DEST ? "on the destination" : v == V_ON_SOURCE ?
            "on the source" : "running nowhere");
    xa_message_migration(db, pm, *env_r);
    xt_fault(ctx, "pd.master.applied");
    /* The VDIs the VM no longer uses go, the exports with them. */
    xa_sxm_settled(xa, ctx, db, pm->op);
    if (cleanup(xa, ctx, db, pm, v == V_ON_DEST) < 0)
        xt_warn(xa->log, "VM %s: the source has not forgotten migration %s "
                "yet: the reconciler tells it", pm->vm, pm->op);
    rc = 1;
out:
    if (rc < 1) {
        api_value_free(*env_r);
        *env_r = NULL;
    }
    facts_clear(&f);
    return rc;
}

/* The handler's answer from the outcome envelope. */
static int answer(struct xt_ctx *ctx, struct api_value *env,
                  struct api_value **result_r)
{
    int rc = 0;

    if (api_is_success(env)) {
        *result_r = api_value_copy(api_struct_get(env, "Value"));
        api_value_free(env);
        return *result_r ? 0 : xt_error(ctx, -ENOMEM, "pool_migrate");
    }
    rc = !strcmp(api_failure_code(env), "TASK_CANCELLED") ? -ECANCELED
                                                          : -EIO;
    *result_r = env;
    return xt_error(ctx, rc, "%s", rc == -ECANCELED ? "migration cancelled"
                    : "migration failed");
}

int xa_settle_wait(struct xa *xa, struct xt_ctx *ctx, struct pool_db *db,
                   const struct xa_pm *pm, struct api_value **result_r,
                   bool *open_r)
{
    struct api_value *env = NULL;
    const char *state = "";     /* the first pass writes what it finds */
    bool waited;
    int rc;

    for (;;) {
        rc = settle_pass(xa, ctx, db, pm, STATUS_WAIT_S, &state, &env,
                         &waited);
        if (rc == 1)
            return answer(ctx, env, result_r);
        if (xa->stopping) {
            /* The next start's reconciler settles it. */
            *open_r = true;
            *result_r = api_failure("INTERNAL_ERROR", "the master stops: "
                                    "the migration's outcome is settled "
                                    "when it starts again", NULL);
            return xt_error(ctx, -ESHUTDOWN, "VM %s: migration left to the "
                            "reconciler", pm->vm);
        }
        if (!waited)
            xa_sleep(xa, RETRY_MS);
    }
}

/* ---- the reconciler ---------------------------------------------------- */

/* The record of rec, if it has one: 0 and *pm_r, *state_r (in rec). */
static int record_of(const struct pool_record *rec, struct xa_pm *pm_r,
                     const char **state_r)
{
    const struct pool_value *oc = pool_record_get(rec, "other_config");
    const char *state = pool_value_map_get(oc, XA_MIG_STATE);
    const char *op = pool_value_map_get(oc, XA_MIG_OP);
    const char *src = pool_value_map_get(oc, XA_MIG_SOURCE);
    const char *dst = pool_value_map_get(oc, XA_MIG_DEST);

    if (!state || !op || !src || !dst)
        return -ENOENT;
    memset(pm_r, 0, sizeof(*pm_r));
    pm_r->xpool = pool_value_map_get(oc, XA_MIG_POOL) != NULL;
    snprintf(pm_r->vm, sizeof(pm_r->vm), "%s", rec->ref);
    snprintf(pm_r->op, sizeof(pm_r->op), "%s", op);
    snprintf(pm_r->src, sizeof(pm_r->src), "%s", src);
    snprintf(pm_r->dst, sizeof(pm_r->dst), "%s", dst);
    snprintf(pm_r->uuid, sizeof(pm_r->uuid), "%s",
             pool_record_get(rec, "uuid")->s);
    *state_r = state;
    return 0;
}

/* One migration no live thread settles. */
static void reconcile_one(struct xa *xa, struct xt_ctx *ctx,
                          struct pool_db *db, const struct xa_pm *pm,
                          const char *state)
{
    struct api_value *env = NULL;
    bool waited;

    if (!strcmp(state, XA_MIG_PREPARING)) {
        /* The source was never told: nothing moved. */
        env = api_failure("VM_MIGRATE_FAILED", pm->vm, pm->src, pm->dst,
                          "the master stopped before the migration began",
                          NULL);
        /* Disks it was moving first (storage motion): undone too. */
        /* Another pool's import first (xa_xpool_retry if it fails):
         * its client's session may end with the task. */
        if (pm->xpool)
            xa_xpool_end(xa, ctx, pm->op);
        if (xa_pm_abandon(db, pm, env) == 0 &&
            xa_sxm_apply_db(db, pm->op, false) == 0)
            xa_sxm_settled(xa, ctx, db, pm->op);
    } else if (!strcmp(state, XA_MIG_CLEANUP_DST) ||
               !strcmp(state, XA_MIG_CLEANUP_SRC)) {
        if (cleanup(xa, ctx, db, pm, !strcmp(state, XA_MIG_CLEANUP_DST)) ==
            0)
            xt_info(xa->log, "VM %s: the source forgot migration %s",
                    pm->vm, pm->op);
    } else {
        settle_pass(xa, ctx, db, pm, 0, &state, &env, &waited);
    }
    api_value_free(env);
}

static void reconcile_round(struct xa *xa, struct xt_ctx *ctx,
                            struct pool_db *db)
{
    struct pool_record **vms = NULL;
    const char *state;
    struct xa_pm pm;
    size_t n = 0, i;

    if (pool_db_get_all_records(db, POOL_CLASS_VM, &vms, &n) < 0)
        return;
    for (i = 0; i < n && !xa->stopping; i++) {
        if (record_of(vms[i], &pm, &state) < 0 ||
            xa_settler_enter(xa, pm.op) < 0)
            continue;
        reconcile_one(xa, ctx, db, &pm, state);
        xa_settler_leave(xa, pm.op);
    }
    pool_records_free(vms, n);
}

static void *reconcile_main(void *p)
{
    struct xa *xa = p;
    struct xa_thread *t = xa_thread(xa);
    struct pool_db *db;
    unsigned round;

    for (round = 0; t && !xa->stopping; round++) {
        if (xa_is_master(xa) && xa_db(xa, &db) == 0) {
            reconcile_round(xa, t->ctx, db);
            if (round % MOTION_RETRY_ROUNDS == 0) {
                xa_motion_retry(xa, db, t->ctx);
                xa_xpool_retry(xa, db, t->ctx);
                xa_import_reconcile(xa, db, t->ctx);
            }
        }
        xa_sleep(xa, RECONCILE_MS);
    }
    return NULL;
}

int xa_settle_start(struct xa *xa)
{
    int rc = -pthread_create(&xa->reconciler, NULL, reconcile_main, xa);

    if (rc < 0)
        return xt_error(xa->log, rc, "reconciler thread");
    xa->reconciler_started = true;
    return 0;
}

void xa_settle_stop(struct xa *xa)
{
    if (!xa->reconciler_started)
        return;
    pthread_mutex_lock(&xa->lock);
    xa->stopping = true;
    pthread_cond_broadcast(&xa->changed);
    pthread_mutex_unlock(&xa->lock);
    pthread_join(xa->reconciler, NULL);
    xa->reconciler_started = false;
}
