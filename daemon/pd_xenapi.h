/*
 * pd_xenapi.h - the XenAPI service of xm-poold (internal to daemon/): the
 * service context, the per-call context handed to method handlers, the
 * host agent (host_local.*) and the host-to-host XML-RPC client.
 *
 * One struct xa per daemon, made by the service's init and freed by its
 * fini; no other mutable state exists outside it.  Handlers run on the
 * server's threads and on task threads; each thread has its own pool_db
 * connection and xt_ctx (xa_thread()).
 *
 * Prefixes: xa_ is the XenAPI service (this header: what one file of it
 * offers the others); pd_ is the daemon process around it (pd_internal.h:
 * HTTP, TLS, auth, config, logs).  Files are pd_<concern>.c:
 *   pd_service.c   life cycle (init, fini), host identity, first start
 *   pd_thread.c    per-thread state, worker counts, sleeps
 *   pd_value.c     values between the pool model and the wire
 *   pd_dispatch.c  the method table, a request's way through it,
 *                  forwarding to the master, system.*
 *   pd_generic.c   the per-class methods generated from the pool model
 *   pd_session.c   session.*          pd_task.c    Async.*, task.*
 *   pd_event.c     event.*            pd_host_local.c  host_local.*
 *   pd_methods_*.c, pd_migrate.c, pd_evacuate.c, ...: one family each.
 */
#ifndef PD_XENAPI_H
#define PD_XENAPI_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "api.h"
#include "hv.h"
#include "pool.h"
#include "poold.h"

#define XA_API_MAJOR 2
#define XA_API_MINOR 21
#define XA_URL_MAX   300
#define XA_FORWARD_TIMEOUT_S 60     /* a member forwards a call: its
                                     * HTTP timeout, s */

struct xa_mig;      /* a migration this host receives (pd_agent.c) */
struct xa_send;     /* a migration this host sends (pd_migsrc.c) */
struct xa_settler;  /* a migration the master settles (pd_settle.c) */
struct xa_evreg;    /* a session's event.register (pd_event.c) */

struct xa {
    const struct pd_config *cfg;    /* borrowed from pd_main */
    struct pd_auth *auth;           /* borrowed */
    struct xt_ctx *log;             /* main thread's ctx: logging only */
    char *db_path;                  /* STATE_DIR/pool.db */
    char *role_path;                /* STATE_DIR/role: "member ADDR" */
    char *role_address;
    char *hv_driver;
    char *hv_args;                  /* "run_dir=RUN_DIR/vmm" */
    char *guest_image;
    char *upgrade_hook;             /* upgrade-hook, or NULL */
    char self_url[XA_URL_MAX];      /* how other hosts reach this one,
                                     * with our pin when https */
    char host_uuid[XT_UUID_STRLEN + 1];
    struct api_limits limits;
    struct api_method *table;       /* ONE method table, NULL-terminated */
    size_t table_nstatic;           /* its entries with static names */
    pthread_key_t thread_key;       /* struct xa_thread */

    pthread_mutex_t lock;           /* guards what follows */
    bool master;
    char *master_address;           /* "ADDR:PORT" when member */
    char *master_url;               /* the master's URL (with its pin when
                                     * https) when member: calls are
                                     * forwarded there */
    struct xa_mig *migs;            /* receivers */
    struct xa_send *sends;          /* senders, from migrate_send until
                                     * the master forgets them */
    struct xa_settler *settling;    /* migrations a live thread of this
                                     * master settles */

    unsigned int nthreads;          /* task, sender, receiver threads */
    pthread_cond_t threads_done;    /* signalled when nthreads drops */
    pthread_cond_t changed;         /* CLOCK_MONOTONIC; broadcast when a
                                     * sender ends and when the service
                                     * stops (xa_sleep) */
    /* Its own lock, as a commit may happen with xa->lock held. */
    pthread_mutex_t db_lock;        /* guards db_gen */
    pthread_cond_t db_changed;      /* CLOCK_MONOTONIC, with db_lock;
                                     * broadcast when a connection of ours
                                     * committed a change (db_gen++) and
                                     * at stop */
    uint64_t db_gen;
    unsigned int ev_waiters;        /* event.from/next waiting (db_lock) */
    int stop_fd;                    /* eventfd, readable once stopping */
    char *journal_dir;              /* STATE_DIR/migrations */

    pthread_t reconciler;           /* the master's reconciler of
                                     * migrations (pd_settle.c) */
    bool reconciler_started;
    volatile bool stopping;         /* the service stops: every wait and
                                     * loop ends, senders are cancelled */

    /* Held while block services start for a VM that is not yet running
     * or received here, and while xa_blk_reap looks (pd_blk.c). */
    pthread_mutex_t blk_lock;

    pthread_t checker;              /* host liveness (pd_liveness.c) */
    bool checker_started;
    uint64_t check_interval_s;      /* host_check_interval */
    uint64_t forward_timeout_s;     /* forward_timeout (default
                                     * XA_FORWARD_TIMEOUT_S) */
    uint64_t evacuation_batch;      /* evacuation-batch-size */
    uint64_t evacuation_sr_copies;  /* evacuation-sr-copies */
    uint64_t vm_memory;             /* vm-memory-mib, bytes; 0: all */
    struct mig_limit *link_limit;   /* migration-bandwidth-mib: what every
                                     * migration this host sends shares;
                                     * NULL: none */
    struct xa_evreg *evregs;        /* event.register's sessions, newest
                                     * first (pd_event.c) */
    int64_t started;                /* this daemon's start (ns since the
                                     * epoch): host_local.hello says it, the
                                     * master sees a restart */
};

/* What each thread keeps: its error slot and database connection. */
struct xa_thread {
    struct xt_ctx *ctx;
    struct pool_db *db;             /* NULL until needed; master only */
};

/* Returns this thread's state (created on first use), NULL on ENOMEM. */
struct xa_thread *xa_thread(struct xa *xa);
/* Frees one (the thread key's destructor); NULL is fine. */
void xa_thread_free(void *p);
/* This thread's database connection, opened on demand; reports. */
int xa_db(struct xa *xa, struct pool_db **db_r);
/* How many of our commits changed the database so far. */
uint64_t xa_db_gen(struct xa *xa);
/* Waits up to ms for a commit after gen (xa_db_gen's); whether one came.
 * Returns at once when the service stops. */
bool xa_db_wait(struct xa *xa, uint64_t gen, unsigned int ms);

/* Per call: embeds api_call_ctx (call->daemon points to the xa_call). */
struct xa_call {
    struct api_call_ctx api;
    struct xa *xa;
    struct pool_db *db;             /* master only, else NULL */
    const char *session;            /* params[0] when a session call */
    char *task;                     /* the task ref of an Async call */
    bool task_open;                 /* set by the handler: the task stays
                                     * pending, someone else ends it (a
                                     * migration left to the reconciler) */
};

static inline struct xa_call *xa_call_of(struct api_call_ctx *c)
{
    return c->daemon;
}

/* A detached worker thread (task, migration receiver) starts and ends:
 * fini waits for every one that started. */
void xa_thread_enter(struct xa *xa);
void xa_thread_leave(struct xa *xa);
/* A worker thread's last call: frees its xa_thread (db, ctx) while the
 * service exists, then xa_thread_leave(). */
void xa_worker_done(struct xa *xa);
/* Waits up to ms for xa->changed (a sender ended, the service stops);
 * false when the service stops.  Takes xa->lock itself. */
bool xa_sleep(struct xa *xa, unsigned int ms);
/* The same with xa->lock held by the caller. */
bool xa_sleep_locked(struct xa *xa, unsigned int ms);

/* ---- the method table (pd_dispatch.c, pd_generic.c) ----------------- */

/* A table being built: m[n] is always the NULL terminator. */
struct xa_table {
    struct api_method *m;
    size_t n, cap;
};
/* Appends m, named name (taken; NULL: m's static name). */
int xa_table_add(struct xa_table *t, const struct api_method *m, char *name);
bool xa_table_has(const struct xa_table *t, const char *name);
/* ONE table: every family's static entries, then the generic methods of
 * each class; *nstatic_r: how many entries have static names. */
int xa_table_build(struct api_method **t_r, size_t *nstatic_r);
void xa_table_free(struct api_method *t, size_t nstatic);
/* Appends the generic methods of every served class, except those a
 * static entry already names (pd_generic.c). */
int xa_generic_methods(struct xa_table *t);
/* Appends session.get_record and session.get_<field> (pd_session.c:
 * sessions are not database objects). */
int xa_session_getters(struct xa_table *t);
/* The service's request handler (struct pd_service's). */
int xa_handler(void *opaque, const char *path, const char *content_type,
               const char *body, size_t len, const char *peer_addr,
               struct pd_response *resp);
/* The families. */
extern const struct api_method xa_session_methods[];   /* pd_session.c */
extern const struct api_method xa_event_methods[];     /* pd_event.c */
extern const struct api_method xa_task_methods[];      /* pd_task.c */
extern const struct api_method xa_host_local_methods[];/* pd_host_local.c */
extern const struct api_method xa_message_methods[];   /* pd_message.c */
extern const struct api_method xa_secret_methods[];    /* pd_message.c */

/* pool.rolling_upgrade (pd_rpu.c); a master's start resumes the one its
 * pool names, if its task is pending. */
extern const struct api_method xa_rpu_methods[];
void xa_rpu_resume(struct xa *xa, struct pool_db *db);

/* Frees the event registrations (fini; pd_event.c). */
void xa_evregs_free(struct xa *xa);
#define XA_EVREG_MAX 256        /* sessions registered at once */

/* An Async call (xc's method, found; params copied): a task record and a
 * thread that runs the handler and ends the task; *env_r the success
 * with the task's ref (pd_task.c). */
int xa_async_start(struct xa_call *xc, const char *method,
                   const struct api_value *params, struct api_value **env_r);

/* ---- host_local.* handlers (the table: pd_host_local.c) ------------- */

#define XA_LOCAL(name) \
    int xa_local_##name(struct api_call_ctx *call, \
                        const struct api_value *params, \
                        struct api_value **result_r)
XA_LOCAL(hello);                /* pd_agent.c */
XA_LOCAL(vm_start);
XA_LOCAL(vm_shutdown);
XA_LOCAL(vm_status);
XA_LOCAL(vm_disk_plug);
XA_LOCAL(vm_disk_unplug);
XA_LOCAL(task_progress);
XA_LOCAL(migrate_prepare);
XA_LOCAL(vdi_export);           /* pd_sr_agent.c */
XA_LOCAL(vdi_unexport);
XA_LOCAL(sr_create);
XA_LOCAL(sr_attach);
XA_LOCAL(sr_destroy);
XA_LOCAL(vdi_create);
XA_LOCAL(vdi_resize);
XA_LOCAL(vdi_destroy);
XA_LOCAL(vdi_clone);
XA_LOCAL(vdi_snapshot);
XA_LOCAL(vdi_copy);
XA_LOCAL(vdi_motion_start);     /* pd_motion.c */
XA_LOCAL(vdi_motion_status);
XA_LOCAL(vdi_motion_resume);
XA_LOCAL(vdi_motion_switch);
XA_LOCAL(vdi_motion_cancel);
#undef XA_LOCAL

/* rec's allowed_operations, derived from its fields (pd_allowed.c); NULL
 * on ENOMEM.  xa_record_value() sends it in place of the stored one. */
struct api_value *xa_allowed_ops(const struct pool_record *rec);

/* Helpers for handlers (pd_value.c, pd_generic.c, pd_task.c). */
const char *xa_param_str(const struct api_value *params, size_t i);
struct api_value *xa_record_value(const struct pool_record *rec);
struct api_value *xa_pool_value(const struct pool_value *v);
/* An API value as a value of field f; -EINVAL when it does not fit (not
 * reported).  *v_r: caller clears, also on failure. */
int xa_value_from_api(const struct pool_field *f, const struct api_value *a,
                      struct pool_value *v_r);
/* rc, with *result_r HANDLE_INVALID [cls, ref] when it is -ENOENT (a
 * lookup of ref failed); for rc = pool_db_...(ref) in one step. */
int xa_db_fail(struct api_call_ctx *call, int rc, const char *cls,
               const char *ref, struct api_value **result_r);
/* Raises a task's progress (0..1; never lowers it); best effort. */
void xa_task_progress(struct xa *xa, struct pool_db *db, const char *task,
                      double progress);
/* Whether task.cancel was called on task (NULL: no task, false). */
bool xa_task_cancelling(struct pool_db *db, const char *task);
/* A task's other_config key: task.cancel only marks it "cancelling", the
 * operation (on this master) looks (host.evacuate). */
#define XA_TASK_CANCELLABLE "xm:cancellable"
/* A task's other_config key: an operation that goes on after a master's
 * restart (pool.rolling_upgrade): the start leaves it pending. */
#define XA_TASK_RESUMABLE "xm:resumable"
/* Ends a pending (or cancelling) task with the envelope env: success with
 * its Value as result, failure (cancelled for TASK_CANCELLED) with its
 * ErrorDescription.  A task already ended is left as it is.  No
 * transaction of its own: the caller's, or each write on its own. */
int xa_task_set_outcome(struct pool_db *db, const char *task,
                        const struct api_value *env);
/* What a task's result (XAPI's XML-RPC text of the answer) holds: the
 * caller's value, NULL when it is "" (void) or unreadable (not
 * reported). */
struct api_value *xa_task_result(struct xt_ctx *ctx, const char *result);
/* Finds this host's object in the DB (master): *ref_r, caller frees. */
int xa_self_host(struct xa *xa, struct pool_db *db, char **ref_r);
/* Memory this host offers VMs (its machine's, /proc/meminfo, or
 * vm-memory-mib when less) and what of it the machine has available now,
 * bytes. */
void xa_memory(struct xa *xa, uint64_t *total_r, uint64_t *free_r);

/* A migration's option: the key of the evacuation (its entry in the
 * evacuated host's current_operations) whose rollback this move is; that
 * host may take the VM though it is disabled. */
#define XA_EVAC_ROLLBACK_OF "xm:rollback-of"
/* Whether an evacuation of host runs under key (pd_evacuate.c). */
bool xa_evac_rollback_ok(struct pool_db *db, const char *host,
                         const char *key);

/* ---- an evacuation's storage motion (pd_evac_sxm.c) ---------------- */

/* For an evacuation moving vm to host: each attached disk that host
 * cannot reach, given an SR host has plugged with room for it (the pool's
 * default SR first, else the one with most room, counting the disks
 * placed before).  0 and *map_r (VDI -> SR, caller frees; NULL when host
 * reaches every disk) and *bytes_r (if not NULL: what the copies move),
 * or -ENOENT when a disk finds no SR. */
int xa_evac_vdi_map(struct pool_db *db, const char *vm, const char *host,
                    struct api_value **map_r, int64_t *bytes_r);
/* Starts vm's move to host with its disks (map, consumed): our
 * Host.migrate_receive on net (NULL: none), then Async.VM.migrate_send
 * with the caller's session, rollback_of (NULL: none) as its option
 * XA_EVAC_ROLLBACK_OF.  0 and *task_r (caller frees), or the call's error
 * with *fail_r (if not NULL) the envelope. */
int xa_evac_start_sxm(struct api_call_ctx *call, const char *session,
                      const char *vm, const char *host, const char *net,
                      struct api_value *map, const char *rollback_of,
                      char **task_r, struct api_value **fail_r);

/* ---- memory and reservations (pd_memory.c) ------------------------- */

/* What host may still give a VM, bytes: the smaller of its memory_free
 * and its memory_total less what the VMs it runs and those scheduled to
 * arrive (scheduled_to_be_resident_on) take; vm's own reservation is not
 * held against it (vm NULL: every one is). */
int64_t xa_host_free(struct pool_db *db, const char *host, const char *vm);
/* Whether vm fits on host (xa_host_free): 0, or -ENOMEM with *result_r
 * HOST_NOT_ENOUGH_FREE_MEMORY [needed, available]. */
int xa_mem_check(struct api_call_ctx *call, struct pool_db *db,
                 const char *vm, const char *host,
                 struct api_value **result_r);
/* xa_mem_check, then vm's memory reserved on host (its
 * scheduled_to_be_resident_on).  In the caller's transaction, so that two
 * claims cannot both take the last of a host's memory. */
int xa_mem_reserve(struct api_call_ctx *call, struct pool_db *db,
                   const char *vm, const char *host,
                   struct api_value **result_r);
/* Ends vm's reservation (xa_vm_set_running does when it lands). */
void xa_mem_release(struct pool_db *db, const char *vm);
/* A host's memory as its hello says, kept in its record. */
void xa_host_memory_seen(struct pool_db *db, const char *host,
                         int64_t total, int64_t free_now);
/* A master's start: reservations no operation holds any more (an
 * evacuation a stopped master left) are released. */
void xa_mem_reconcile(struct xa *xa, struct pool_db *db);
/* Whether this daemon is the master (taken under the lock). */
bool xa_is_master(struct xa *xa);

/* ---- metrics, host CPUs, PIFs (pd_metrics.c) ------------------------ */

/* host's host_metrics (made and linked when it has none) takes the host
 * record's memory_total, memory_free and live; last_updated when one
 * changed.  Call where a host is made and where those fields change. */
int xa_host_metrics_sync(struct pool_db *db, const char *host);
/* vm's VM_metrics (made and linked when it has none) takes what its
 * power state says: memory_actual, VCPUs_number, state; start_time now
 * when started (it was Halted).  Call where a VM is made and where its
 * power state changes (xa_vm_set_running). */
int xa_vm_metrics_sync(struct pool_db *db, const char *vm, bool started);

/* ---- control domains (pd_dom0.c) ------------------------------------ */

/* host's control domain VM record, made when it has none. */
int xa_control_domain_sync(struct pool_db *db, const char *host);
/* It: *vm_r (caller frees), NULL when none. */
int xa_control_domain_of(struct pool_db *db, const char *host, char **vm_r);
bool xa_is_control_domain(struct pool_db *db, const char *vm);
/* This machine's processors as host_local.hello says (cpu_info): a
 * struct of count and the first processor's vendor, modelname, speed
 * (MHz), family, model, stepping and flags, from /proc/cpuinfo.  *v_r:
 * caller frees. */
int xa_cpu_info(struct xt_ctx *ctx, struct api_value **v_r);
/* host's host_cpu objects follow info (xa_cpu_info's, from its hello):
 * made again when the count or the description differs.  Reports
 * nothing: a hello without cpu_info changes nothing. */
void xa_host_cpus_seen(struct pool_db *db, const char *host,
                       const struct api_value *info);
/* The same for host, this daemon's own machine. */
void xa_host_cpus_local(struct xa *xa, struct pool_db *db, const char *host);
/* One PIF per host per network, following the hosts' addresses and the
 * networks' bridges and MTUs (docs/specs/api-wire.md). */
void xa_pifs_sync(struct pool_db *db);
/* A master's start: every host and VM has its metrics, in step; this
 * host's CPUs; the PIFs. */
void xa_metrics_reconcile(struct xa *xa, struct pool_db *db);

/* ---- the host-to-host client (pd_agent.c) -------------------------- */

/*
 * Calls method with params (consumed) at url with XML-RPC over HTTP(S).
 * An https:// url carries the peer's public-key pin after '#'
 * ("https://ADDR:PORT/#sha256//BASE64"): the peer's certificate is
 * trusted when its key has that pin, and only then (a missing pin is
 * -EPERM, another key -EHOSTUNREACH before anything is sent).  0
 * with *value_r the Value of a success; -EREMOTEIO when the peer answered
 * a failure (then *failure_r, if not NULL, the envelope); -EHOSTUNREACH
 * when it could not be reached.  timeout_s bounds the whole call.
 */
int xa_rpc(struct xt_ctx *ctx, const char *url, const char *method,
           struct api_value *params, long timeout_s,
           struct api_value **value_r, struct api_value **failure_r);
/* An Async.* call the same way: 0 and *task_r (its task, caller frees),
 * or the call's error (-EPROTO when it answered no task). */
int xa_rpc_task(struct xt_ctx *ctx, const char *url, const char *method,
                struct api_value *params, long timeout_s, char **task_r,
                struct api_value **failure_r);
/* The same, given up (-ESHUTDOWN) within a second once *stop is true:
 * for questions whose answer may be lost (a forward, a long poll). */
int xa_rpc_stoppable(struct xt_ctx *ctx, const char *url, const char *method,
                     struct api_value *params, long timeout_s,
                     const volatile bool *stop, struct api_value **value_r,
                     struct api_value **failure_r);
/* The URL of a host object (other_config xm:url); caller frees. */
int xa_host_url(struct xa *xa, struct pool_db *db, const char *host,
                char **url_r);
/* Builds the URL of an "ADDR[:PORT]" without a pin: "https://ADDR:PORT/"
 * (default: our port) when plain HTTP is off, else "http://ADDR:PORT/"
 * (default: our http_port).  -ENOTSUP when that port is not fixed. */
int xa_url_of(struct xa *xa, struct xt_ctx *ctx, const char *addr,
              char url[XA_URL_MAX]);

/* Trust on first use: connects to url (https, any pin ignored) without
 * sending anything and gives the pin of the key its certificate holds. */
int xa_peer_pin(struct xt_ctx *ctx, const char *url,
                char pin[PD_TLS_PIN_STRLEN + 1]);

/* ---- the host agent (pd_agent.c) ----------------------------------- */

/* SR, PBD, VDI on the master (pd_methods_sr.c). */
extern const struct api_method xa_sr_methods[];
/* VDI.create on sr (a new sparse VDI of size bytes named name; *ref_r
 * the caller's) and VDI.destroy, for other methods (VM.provision). */
int xa_vdi_create(struct api_call_ctx *call, const char *sr, int64_t size,
                  const char *name, char **ref_r,
                  struct api_value **result_r);
int xa_vdi_destroy(struct api_call_ctx *call, const char *vdi,
                   struct api_value **result_r);
/* Makes an SM record for each SR driver that has none (master start). */
int xa_sm_records(struct pool_db *db);
/* Runs host_local.<method> of this host directly (no HTTP) when url is
 * our own, else through xa_rpc(); the secret is added in front. */
int xa_host_call(struct xa *xa, struct xt_ctx *ctx, const char *url,
                 const char *method, struct api_value *params,
                 long timeout_s, struct api_value **value_r,
                 struct api_value **failure_r);
/* The same for a question (never an action whose answer matters): given
 * up when the service stops. */
int xa_host_ask(struct xa *xa, struct xt_ctx *ctx, const char *url,
                const char *method, struct api_value *params,
                long timeout_s, struct api_value **value_r,
                struct api_value **failure_r);
/* Opens this host's hv driver; caller hv_close()s. */
int xa_hv_open(struct xa *xa, struct xt_ctx *ctx, struct hv_handle **h_r);
/* The driver (*h_r, caller closes) and domain of VM vm, which runs here
 * (-ENOENT otherwise), on a driver that has cap (else
 * OPERATION_NOT_ALLOWED saying it cannot do `cannot`, and no handle). */
int xa_domain_here(struct api_call_ctx *call, const char *vm,
                   enum hv_cap cap, const char *cannot,
                   struct hv_handle **h_r, uint32_t *domid_r,
                   struct api_value **result_r);

/* pd_blk.c: this host's block services, one per disk of a VM here. */
struct xa_blk_set {
    unsigned n;
    struct hv_disk disks[HV_MAX_DISKS];     /* uris point into uri */
    char uri[HV_MAX_DISKS][PATH_MAX + 32];
};
/*
 * Starts the block services of VM vm's disks, an API array of { vdi,
 * sr_type, sr_uuid, device_config, mode } from the master, and fills
 * *set; vm must not run here: its old backends, if any, are stopped
 * first.  The caller holds xa->blk_lock until the VM
 * runs or is registered as being received, so that xa_blk_reap leaves
 * them alone.  On failure none of the VM's backends is left.
 */
int xa_blk_start(struct xa *xa, struct xt_ctx *ctx, const char *vm,
                 const struct api_value *disks, struct xa_blk_set *set);
/*
 * Starts the block service of one disk of running VM vm (a hot-plug:
 * disk as in xa_blk_start's list, with its "device" number) and fills
 * *hd, its uri written into uri.  A backend left in that disk's place is
 * replaced.  Caller holds xa->blk_lock.
 */
int xa_blk_start_disk(struct xa *xa, struct xt_ctx *ctx, const char *vm,
                      const struct api_value *disk, struct hv_disk *hd,
                      char *uri, size_t uri_size);
/* Stops the block services of vm's disk number device. */
void xa_blk_stop_disk(struct xa *xa, struct xt_ctx *ctx, const char *vm,
                      unsigned device);
/* Stops the one serving VDI vdi as that disk, if it runs. */
void xa_blk_stop_vdi(struct xa *xa, struct xt_ctx *ctx, const char *vm,
                     unsigned device, const char *vdi);
/* A file of that backend, RUN_DIR/blk/VM.N.TAG.EXT: "sock" (NBD),
 * "ctl" (the mirror's control, docs/specs/mirror.md), "mirror" (its
 * state file), "psk" (a remote mirror target's key). */
int xa_blk_path(struct xa *xa, struct xt_ctx *ctx, const char *vm,
                unsigned device, const char *vdi, const char *ext, char *buf,
                size_t size);
/* After a VM failed to start: 1 with *vdi_r (pointing into disks) the
 * uuid of a read-write disk that a writer elsewhere holds, else 0. */
int xa_blk_held(struct xt_ctx *ctx, const struct api_value *disks,
                const char **vdi_r);
/* An export of a VDI over TCP for a peer host (the mirror of a storage
 * migration writes through it): TLS with a fresh pre-shared key, only
 * the peer's address let in, a few connections at most. */
struct xa_blk_export {
    unsigned port;
    char identity[16];          /* the PSK identity */
    char psk[65];               /* the key, hex */
};
/* Exports disk (as xa_blk_start's) on addr for peer; -EEXIST if that VDI
 * is exported already.  The export lives until xa_blk_unexport. */
int xa_blk_export(struct xa *xa, struct xt_ctx *ctx,
                  const struct api_value *disk, const char *addr,
                  const char *peer, struct xa_blk_export *ex);
int xa_blk_unexport(struct xa *xa, struct xt_ctx *ctx, const char *vdi);
/* Stops every block service of VM vm. */
void xa_blk_stop(struct xa *xa, struct xt_ctx *ctx, const char *vm);
/* Stops the block services of VMs that neither run nor are being
 * received here; the number stopped, or -errno. */
int xa_blk_reap(struct xa *xa, struct xt_ctx *ctx);
/* The domain of VM vm_uuid on h (not a dying or shut-down one): 0 with
 * *domid_r and *state_r (may be NULL), -ENOENT (not reported), or an hv
 * error. */
int xa_find_domain(struct hv_handle *h, const char *vm_uuid,
                   uint32_t *domid_r, enum hv_run_state *state_r);
/* Whether this host receives a migration of VM uuid. */
bool xa_receiving(struct xa *xa, const char *uuid);

/* ---- the source of a migration (pd_migsrc.c) ------------------------ */

/* host_local.migrate_send / _status / _resolve / _forget / _cancel:
 * entries of xa_host_local_methods. */
int xa_src_migrate_send(struct api_call_ctx *call,
                        const struct api_value *params,
                        struct api_value **result_r);
int xa_src_migrate_status(struct api_call_ctx *call,
                          const struct api_value *params,
                          struct api_value **result_r);
int xa_src_migrate_resolve(struct api_call_ctx *call,
                           const struct api_value *params,
                           struct api_value **result_r);
int xa_src_migrate_forget(struct api_call_ctx *call,
                          const struct api_value *params,
                          struct api_value **result_r);
int xa_src_migrate_cancel(struct api_call_ctx *call,
                          const struct api_value *params,
                          struct api_value **result_r);
/* Whether this host sends a migration of VM uuid, or keeps a paused copy
 * of one whose outcome is not settled. */
bool xa_src_sending(struct xa *xa, const char *uuid);
/* At start: the journals of STATE_DIR/migrations become entries again,
 * each in the state its domain shows (pool.md, "Crash consistency"). */
int xa_src_recover(struct xa *xa, struct xt_ctx *ctx);
/* Stop: every running sender is asked to stop before its commit; called
 * with xa->lock held. */
void xa_src_cancel_all(struct xa *xa);
/* Fini, once no sender thread runs: frees the entries. */
void xa_src_free_all(struct xa *xa);

/* ---- method families --------------------------------------------------- */

extern const struct api_method xa_vm_methods[];     /* pd_methods_vm.c */
extern const struct api_method xa_pool_methods[];   /* pd_methods_pool.c */
extern const struct api_method xa_migrate_methods[];/* pd_migrate.c */
/* Master start: fixes VMs and tasks left by the previous run that no
 * migration record covers (pool.md, "Crash consistency"). */
int xa_reconcile(struct xa *xa, struct pool_db *db);

/* Helpers of the VM methods (pd_methods_vm.c). */
int xa_field_str(struct pool_db *db, enum pool_class_id c, const char *ref,
                 const char *field, char **s_r);
int xa_field_int(struct pool_db *db, enum pool_class_id c, const char *ref,
                 const char *field, int64_t *i_r);
/* The key of this call's entry in current_operations. */
void xa_op_key(struct api_call_ctx *call, char key[POOL_REF_STRLEN + 1]);
/*
 * Claims vm for operation op under key, in one transaction: no other
 * operation runs (OTHER_OPERATION_IN_PROGRESS), then the power state is
 * want (NULL: any).  record (NULL: none) is a map put into the VM's
 * other_config in the same transaction, and then no migration record may
 * be there already.  host (NULL: none) is where the operation takes the
 * VM: its memory is reserved there in the same transaction
 * (xa_mem_reserve).  Fails with the XenAPI envelope set.
 */
int xa_vm_claim(struct api_call_ctx *call, const char *vm, const char *want,
                const char *op, const char *key,
                const struct pool_value *record, const char *host,
                struct api_value **result_r);
/* An agent names a VDI in use by its uuid: *fail (a VDI_IN_USE
 * failure, else left alone) becomes the one with its ref, for op. */
void xa_vdi_in_use_ref(struct pool_db *db, struct api_value **fail,
                       const char *op);
/* pd_methods_vbd.c: a VM's disks. */
extern const struct api_method xa_vbd_methods[];
/* pd_motion.c: VDI.pool_migrate. */
extern const struct api_method xa_motion_methods[];
/* pd_evacuate.c: host.disable/enable, host.evacuate and its checks. */
extern const struct api_method xa_evacuate_methods[];
/* A host's daemon started again: enabled, unless it was disabled with
 * auto_enable false (pd_liveness.c, and the master's own at its start). */
void xa_host_restarted(struct xa *xa, struct pool_db *db, const char *host);
/* The pool's migration_network: 0 and *net_r (caller frees) when it
 * names one, else -ENOENT. */
int xa_pool_migration_network(struct pool_db *db, char **net_r);
/* A host's other_config: when its daemon started (ns since the epoch, as
 * host_local.hello says): the liveness check compares. */
#define XA_HOST_STARTED "xm:started"
/* A master's start: the evacuations a stopped master left end, their
 * tasks saying which VMs moved, are moving and stayed. */
void xa_evacuate_reconcile(struct xa *xa, struct pool_db *db);
/* A master's start: the storage motions a stopped master left are
 * finished (switched) or undone (docs/design/storage-motion.md). */
void xa_motion_reconcile(struct xa *xa, struct pool_db *db,
                         struct xt_ctx *ctx);
/* While the master runs (its reconciler, pd_settle.c): the motions whose
 * undo or finish could not reach a host (stages undo, finish) are tried
 * again once their hosts are live. */
void xa_motion_retry(struct xa *xa, struct pool_db *db, struct xt_ctx *ctx);
/*
 * A VM migration that moves some of the VM's disks to the destination
 * host's SRs (VM.migrate_send's vdi_map: VDI ref -> SR ref).  Before the
 * migration: xa_sxm_start makes each new VDI (tagged with the migration's
 * key op), has the destination host export it and the source mirror to
 * it, and returns once every mirror is actively synced (or undoes all);
 * xa_sxm_disks appends the new VDIs to the destination's disk list and
 * xa_sxm_mirrors gives the source what its precommit completes.  When
 * the migration settles: xa_sxm_apply_db (in the settling's transaction)
 * points the VBDs at the new VDIs if the VM is on the destination, and
 * xa_sxm_settled then destroys the VDIs the VM no longer uses.  abort:
 * undo before the migration started.
 */
struct xa_sxm;
struct xa_xpool;
struct xa_sxm_opts {
    int64_t max_bps;                    /* the mirrors' cap, bytes/s; 0 */
    bool keep_source;                   /* the old VDIs stay (untagged) */
    /* To another pool: xp, and exports (xa_xpool_begin's) instead of
     * new VDIs made here; NULL, NULL otherwise. */
    const struct xa_xpool *xp;
    const struct api_value *exports;
};
int xa_sxm_start(struct api_call_ctx *call, const char *vm,
                 const char *dst_host, const char *op,
                 const struct api_value *vdi_map,
                 const struct xa_sxm_opts *o, struct xa_sxm **sxm_r,
                 struct api_value **result_r);
/* The option keep_source ("true") of VDI.pool_migrate and migrate_send:
 * the VDIs a motion moved away from are kept, not destroyed. */
bool xa_opt_keep_source(const struct api_value *opts);
/* Just before the memory moves: every mirror still actively synced, one
 * that failed since resumed from its bitmap (its generation taken anew);
 * MIRROR_FAILED when one cannot be. */
int xa_sxm_recheck(struct api_call_ctx *call, struct xa_sxm *x,
                   struct api_value **result_r);
void xa_sxm_abort(struct api_call_ctx *call, struct xa_sxm *x);
void xa_sxm_free(struct xa_sxm *x);
int xa_sxm_disks(const struct xa_sxm *x, struct api_value *disks);
struct api_value *xa_sxm_mirrors(const struct xa_sxm *x);
int xa_sxm_apply_db(struct pool_db *db, const char *op, bool on_dest);
void xa_sxm_settled(struct xa *xa, struct xt_ctx *ctx, struct pool_db *db,
                    const char *op);
/*
 * The disks of vm for host's agent (an API array, *disks_r the caller's,
 * see xa_blk_start), in disk-number order: every VBD with a VDI when
 * starting (then VDI_IN_USE if another running VM holds one), the
 * attached ones otherwise (a migration).  VM_REQUIRES_SR when host has
 * not plugged a disk's SR.  The VDIs that are keys of moving (NULL: none),
 * a storage motion's vdi_map, are left out.
 */
int xa_vm_disks(struct api_call_ctx *call, const char *vm, const char *host,
                bool starting, const struct api_value *moving,
                struct api_value **disks_r, struct api_value **result_r);
/* The PBD of sr that host has plugged: *pbd_r (caller frees), NULL if
 * none. */
int xa_pbd_on(struct pool_db *db, const char *sr, const char *host,
              char **pbd_r);
/* VDI_IN_USE [vdi, op] when a VM other than vm (NULL: any VM) has a VBD
 * of vdi attached, unless both that VBD and the caller (ro) are read
 * only. */
int xa_vdi_check_free(struct api_call_ctx *call, const char *vm,
                      const char *vdi, bool ro, const char *op,
                      struct api_value **result_r);
/*
 * One disk for host's agent: { vdi, sr_type, sr_uuid, device_config,
 * mode, device } of VDI vdi as disk number num of vm, its SR reached
 * through a PBD plugged on host (else VM_REQUIRES_SR).  op ("start",
 * "plug", ...): vm is about to take it, so no other VM may hold it
 * (VDI_IN_USE); NULL: it has it already.
 */
int xa_disk_value(struct api_call_ctx *call, const char *vm,
                  const char *vdi, const char *mode, int num,
                  const char *host, const char *op,
                  struct api_value **disk_r, struct api_value **result_r);
/* Marks vm's VBDs with a VDI attached (or none); in the caller's
 * transaction. */
int xa_vbds_attach(struct pool_db *db, const char *vm, bool attached);
/* HANDLE_INVALID / HOST_OFFLINE unless host exists and is live. */
int xa_host_usable(struct api_call_ctx *call, const char *host,
                   struct api_value **result_r);
/* Sets the VM's power_state, resident_on and domid, and its VBDs'
 * currently_attached: all from Halted (a start), none to Halted,
 * unchanged otherwise (a migration keeps what is plugged).  No
 * transaction. */
int xa_vm_set_running(struct pool_db *db, const char *vm, const char *state,
                      const char *host, int64_t domid);

/* ---- versions and the rolling upgrade (pd_version.c, pd_upgrade.c) -- */

/* This daemon's version (its hello, its host's software_version). */
const char *xa_version(void);
/* host's software_version product_version: *v_r, caller frees. */
int xa_host_version(struct pool_db *db, const char *host, char **v_r);
/* Upgrade mode: the hosts say different versions. */
bool xa_upgrade_mode(struct pool_db *db);
/* In upgrade mode, NOT_SUPPORTED_DURING_UPGRADE for a VM of host src
 * going to an older host dst. */
int xa_upgrade_check_target(struct api_call_ctx *call, const char *src,
                            const char *dst, struct api_value **result_r);
/* In upgrade mode, NOT_SUPPORTED_DURING_UPGRADE for the methods that
 * change the pool's shape (pool.join, SR.create, ...). */
int xa_upgrade_refuse(struct api_call_ctx *call, const char *method,
                      struct api_value **result_r);
/* A host's daemon said its version (hello, a master's start): its
 * software_version follows, and when it changed the pool's
 * rolling_upgrade_in_progress (xa_upgrade_note, which a master's start
 * calls too). */
void xa_host_version_seen(struct xa *xa, struct pool_db *db,
                          const char *host, const char *version);
void xa_upgrade_note(struct pool_db *db);

/* ---- a migration to another pool ------------------------------------ */

/* The other pool's half (pd_import.c): VM.xm_import_*, and the
 * reconciler's pass over receiving imports no source tells the outcome
 * of (ended as their host says). */
extern const struct api_method xa_import_methods[];
void xa_import_reconcile(struct xa *xa, struct pool_db *db,
                         struct xt_ctx *ctx);
/* The failure envelope of an ErrorDescription [code, params...]. */
struct api_value *xa_failure_of_desc(const struct api_value *d);
/* Appends failure f (taken; NULL: an error without one, from call's
 * ctx) to fails as [code, params...], and clears the ctx's error. */
void xa_add_failure(struct api_call_ctx *call, struct api_value *fails,
                    struct api_value *f);
/* SR_FULL [size, free] when sr has less than size bytes free, else
 * NULL (also when it does not say). */
struct api_value *xa_sr_full(struct pool_db *db, const char *sr,
                             int64_t size);
/* host's address on network net (its other_config
 * POOL_NET_OC_ADDRESS<host uuid>): 0 and *addr_r (caller frees; NULL when
 * it has none), or an error. */
int xa_net_address(struct pool_db *db, const char *net, const char *host,
                   char **addr_r);

#define XA_XPOOL_SESSION_MAX 128
#define XA_XPOOL_OP_MAX (XT_UUID_STRLEN + POOL_REF_STRLEN + 2)
/*
 * The source's half (pd_xpool.c): VM.migrate_send with the dest of
 * another pool's Host.migrate_receive.  What it needs of that pool is
 * persisted in a journal (JOURNAL_DIR/xpool.OP, 0600: it holds the
 * session the client opened there), written before the VM is claimed
 * and removed once that pool was told the outcome; the VM's record
 * carries XA_MIG_POOL.
 */
struct xa_xpool {
    char url[XA_URL_MAX];               /* its master, with its pin */
    char session[XA_XPOOL_SESSION_MAX];
    char pool[XT_UUID_STRLEN + 1];
    char host[POOL_REF_STRLEN + 1];     /* the destination there */
    char network[POOL_REF_STRLEN + 1];  /* a network there, or "" */
    char op[XA_XPOOL_OP_MAX];           /* the import's key there */
    char end[32];                       /* the outcome still to tell it:
                                         * "", "failed", "running DOMID" */
};
#define XA_MIG_POOL "xm:migration-pool" /* the record: the other pool */
/* This pool's uuid: *uuid_r, caller frees. */
int xa_pool_uuid(struct pool_db *db, char **uuid_r);
/* 1 and *xp when dest (Host.migrate_receive's) is another pool's, 0
 * when it is this pool's, else the failure set. */
int xa_xpool_of_dest(struct api_call_ctx *call, const struct api_value *dest,
                     struct xa_xpool *xp, struct api_value **result_r);
/* The journal: saved for op (xp->op derived from it), loaded, removed. */
int xa_xpool_save(struct api_call_ctx *call, const char *op,
                  struct xa_xpool *xp);
int xa_xpool_load(struct xa *xa, struct xt_ctx *ctx, const char *op,
                  struct xa_xpool *xp);
void xa_xpool_drop(struct xa *xa, const char *op);
/*
 * The source's checks of a migration of vm with vdi_map (VDI ref -> SR
 * ref of that pool) and the other pool's (no side effect): every
 * failure appended to fails as [code, params...].  *src_r: the VM's
 * host (caller frees).
 */
int xa_xpool_check(struct api_call_ctx *call, const struct xa_xpool *xp,
                   const char *vm, const struct api_value *vdi_map,
                   char **src_r, struct api_value *fails);
/* The import there: the VM, its new VDIs and their exports to the source
 * host src; *exports_r [{ device, vdi, remote }...]. */
int xa_xpool_begin(struct api_call_ctx *call, const struct xa_xpool *xp,
                   const char *vm, const char *src,
                   const struct api_value *vdi_map,
                   struct api_value **exports_r,
                   struct api_value **result_r);
/* A disk's export there made again (a mirror resumes): *remote_r. */
int xa_xpool_export(struct api_call_ctx *call, const struct xa_xpool *xp,
                    int device, struct api_value **remote_r,
                    struct api_value **result_r);
/* The receiver there: *prep_r { address, port, token, pin }. */
int xa_xpool_receive(struct api_call_ctx *call, const struct xa_xpool *xp,
                     struct api_value **prep_r, struct api_value **fail_r);
/* What the destination host says of the VM: 0 and *v_r its
 * host_local.vm_status (an empty struct when that pool has no import of
 * op: nothing there), else no answer. */
int xa_xpool_status(struct xa *xa, struct xt_ctx *ctx, const char *op,
                    struct api_value **v_r);
/* Records in the journal the outcome the other pool is to be told
 * (running: the VM on its host as domid), before the verdict is applied. */
int xa_xpool_verdict(struct xa *xa, struct xt_ctx *ctx, const char *op,
                     bool running, int64_t domid);
/* Tells it the outcome recorded (none: running when on_dest, else
 * failed); the journal goes once it knows.  0 when told or when there is
 * no journal (told before). */
int xa_xpool_tell(struct xa *xa, struct xt_ctx *ctx, const char *op,
                  bool on_dest);
/* Both: a migration that never reached the source ends there. */
int xa_xpool_end(struct xa *xa, struct xt_ctx *ctx, const char *op);
/* The reconciler: journals no migration record or live thread owns are
 * told again. */
void xa_xpool_retry(struct xa *xa, struct pool_db *db, struct xt_ctx *ctx);

/* ---- the master's record of a migration (pd_settle.c) ---------------- */

/* VM other_config keys: the migration's state on the master and what the
 * reconciler needs to settle it after a restart (pool.md). */
#define XA_MIG_STATE    "xm:migration"
#define XA_MIG_OP       "xm:migration-op"
#define XA_MIG_SOURCE   "xm:migration-source"
#define XA_MIG_DEST     "xm:migration-destination"
/* Its states, in the order they come. */
#define XA_MIG_PREPARING    "preparing"     /* nothing sent to the source */
#define XA_MIG_SENDING      "sending"       /* migrate_send may have
                                             * reached the source */
#define XA_MIG_UNKNOWN      "unknown"       /* the last question got no
                                             * answer */
#define XA_MIG_IN_DOUBT     "in-doubt"      /* the source is paused after
                                             * COMMIT: the destination
                                             * decides */
#define XA_MIG_CLEANUP_DST  "cleanup-destination"   /* decided: on the
                                             * destination; the source is
                                             * still to forget it */
#define XA_MIG_CLEANUP_SRC  "cleanup-source"        /* decided: on the
                                             * source, to forget it */

struct xa_pm {
    char vm[POOL_REF_STRLEN + 1];
    char op[POOL_REF_STRLEN + 1];       /* current_operations key; the
                                         * task when it is one */
    char uuid[XT_UUID_STRLEN + 1];
    char src[POOL_REF_STRLEN + 1];
    char dst[POOL_REF_STRLEN + 1];     /* with xpool: a ref there */
    bool xpool;                         /* to another pool (XA_MIG_POOL) */
};

/* Registers pm->op as settled by this thread (the reconciler leaves it
 * alone); -EBUSY when another thread settles it. */
int xa_settler_enter(struct xa *xa, const char *op);
void xa_settler_leave(struct xa *xa, const char *op);
/* 1 when a VM's migration record names op (its key), 0 when none does,
 * or an error. */
int xa_mig_recorded(struct pool_db *db, const char *op);
/* Sets the VM's XA_MIG_STATE (one write). */
int xa_pm_set_state(struct pool_db *db, const struct xa_pm *pm,
                    const char *state);
/*
 * Waits until the migration's outcome is known, asking both hosts, then
 * applies it (VM, task, current_operations in one transaction) and tells
 * the source to forget it.  0 with *result_r the stats (JSON string), or
 * the failure with *result_r its envelope.  When the service stops first,
 * -ESHUTDOWN with *open_r set: the migration is left to the reconciler of
 * the next start.
 */
int xa_settle_wait(struct xa *xa, struct xt_ctx *ctx, struct pool_db *db,
                   const struct xa_pm *pm, struct api_value **result_r,
                   bool *open_r);
/* Ends a migration that never reached the source: drops the operation
 * and the record, the task (if any) gets env. */
int xa_pm_abandon(struct pool_db *db, const struct xa_pm *pm,
                  const struct api_value *env);
/* The reconciler thread (any host; it works while master). */
int xa_settle_start(struct xa *xa);
void xa_settle_stop(struct xa *xa);
/* The master's liveness check of its hosts (pd_liveness.c): a thread
 * that pings every other host each check_interval_s and keeps host.live.
 * Stop sets xa->stopping and joins it (no-op when not started). */
int xa_liveness_start(struct xa *xa);
void xa_liveness_stop(struct xa *xa);
/* Creates the pool, this host and the network in a database without a
 * pool (a master's first start, an ejected member's new pool). */
int xa_first_start(struct xa *xa, struct pool_db *db);
/* Fails the call with PERMISSION_DENIED unless params[0] is the pool
 * secret (host_local.* methods). */
int xa_check_secret(struct api_call_ctx *call,
                    const struct api_value *params,
                    struct api_value **result_r);
/* host_local.ejected(secret) on a member that pool.eject removes: it
 * becomes the master of a new pool of one. */
int xa_pool_ejected(struct api_call_ctx *call,
                    const struct api_value *params,
                    struct api_value **result_r);
/* Called by pool.join on the master to register a member. */
int xa_pool_join_request(struct api_call_ctx *call,
                         const struct api_value *params,
                         struct api_value **result_r);

/* ---- messages, the daemon's alerts (pd_message.c) ------------------- */

/* The messages kept: the oldest go beyond it (XAPI's message_limit). */
#define XA_MESSAGE_LIMIT 10000
/* The daemon's alert names.  HA_HOST_FAILED is XAPI's (its HA declaring
 * a host dead: our liveness check's nearest); XAPI has none for a failed
 * migration or evacuation: those two are ours, named after the errors. */
#define XA_MSG_HOST_FAILED          "HA_HOST_FAILED"
#define XA_MSG_VM_MIGRATE_FAILED    "VM_MIGRATE_FAILED"
#define XA_MSG_HOST_EVACUATE_FAILED "HOST_EVACUATE_FAILED"
/* Records a message (cls as XAPI spells it; obj_uuid an object of it),
 * keeping the newest XA_MESSAGE_LIMIT.  Best effort: a failure is logged
 * as a warning and leaves db's context as it was (its error, if any,
 * stays the operation's); returns 0 or the failure. */
int xa_message_add(struct pool_db *db, const char *name, int64_t priority,
                   const char *cls, const char *obj_uuid, const char *body);
/* The hooks' helpers, each one xa_message_add: */
/* a migration ended with env: VM_MIGRATE_FAILED unless it succeeded or
 * was cancelled (pd_settle.c); */
void xa_message_migration(struct pool_db *db, const struct xa_pm *pm,
                          const struct api_value *env);
/* host (its record) was marked not live after misses missed hellos
 * (pd_liveness.c); */
void xa_message_host_lost(struct pool_db *db,
                          const struct pool_record *host, unsigned misses);
/* an evacuation of host ended with VMs still on it, report its report
 * (pd_evacuate.c). */
void xa_message_evacuation(struct pool_db *db, const char *host,
                           const char *report);

#endif /* PD_XENAPI_H */
