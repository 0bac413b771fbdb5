/*
 * pd_xenapi.h - the XenAPI service of xm-poold (internal to daemon/): the
 * service context, the per-call context handed to method handlers, the
 * host agent (host_local.*) and the host-to-host XML-RPC client.
 *
 * One struct xa per daemon, made by the service's init and freed by its
 * fini; no other mutable state exists outside it.  Handlers run on the
 * server's threads and on task threads; each thread has its own pool_db
 * connection and xt_ctx (xa_thread()).
 */
#ifndef PD_XENAPI_H
#define PD_XENAPI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "api.h"
#include "pool.h"
#include "poold.h"

#define XA_API_MAJOR 2
#define XA_API_MINOR 21
#define XA_URL_MAX   300

struct xa_mig;      /* a migration this host sends or receives */

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
    struct xa_mig *migs;            /* list */

    unsigned int nthreads;          /* task and receiver threads */
    pthread_cond_t threads_done;    /* signalled when nthreads drops */

    pthread_t reconciler;           /* runs after a master start */
    bool reconciler_started;
    volatile bool stopping;         /* fini: the reconciler stops */

    pthread_t checker;              /* host liveness (pd_liveness.c) */
    bool checker_started;
    uint64_t check_interval_s;      /* host_check_interval */
    uint64_t forward_timeout_s;     /* forward_timeout */
};

/* What each thread keeps: its error slot and database connection. */
struct xa_thread {
    struct xt_ctx *ctx;
    struct pool_db *db;             /* NULL until needed; master only */
};

/* Returns this thread's state (created on first use), NULL on ENOMEM. */
struct xa_thread *xa_thread(struct xa *xa);
/* This thread's database connection, opened on demand; reports. */
int xa_db(struct xa *xa, struct pool_db **db_r);

/* Per call: embeds api_call_ctx (call->daemon points to the xa_call). */
struct xa_call {
    struct api_call_ctx api;
    struct xa *xa;
    struct pool_db *db;             /* master only, else NULL */
    const char *session;            /* params[0] when a session call */
    char *task;                     /* the task ref of an Async call */
};

static inline struct xa_call *xa_call_of(struct api_call_ctx *c)
{
    return c->daemon;
}

/* A detached worker thread (task, migration receiver) starts and ends:
 * fini waits for every one that started. */
void xa_thread_enter(struct xa *xa);
void xa_thread_leave(struct xa *xa);

/* Helpers for handlers (pd_xenapi.c). */
const char *xa_param_str(const struct api_value *params, size_t i);
struct api_value *xa_record_value(const struct pool_record *rec);
struct api_value *xa_pool_value(const struct pool_value *v);
/* An API value as a value of field f; -EINVAL when it does not fit (not
 * reported).  *v_r: caller clears, also on failure. */
int xa_value_from_api(const struct pool_field *f, const struct api_value *a,
                      struct pool_value *v_r);
/* Sets a task's progress (0..1); best effort. */
void xa_task_progress(struct xa *xa, struct pool_db *db, const char *task,
                      double progress);
/* Finds this host's object in the DB (master): *ref_r, caller frees. */
int xa_self_host(struct xa *xa, struct pool_db *db, char **ref_r);
/* Memory of this machine (from /proc/meminfo), bytes. */
void xa_memory(uint64_t *total_r, uint64_t *free_r);
/* Whether this daemon is the master (taken under the lock). */
bool xa_is_master(struct xa *xa);

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

/* host_local.* entries for the method table. */
extern const struct api_method xa_agent_methods[];
/* Runs host_local.<method> of this host directly (no HTTP) when url is
 * our own, else through xa_rpc(); the secret is added in front. */
int xa_host_call(struct xa *xa, struct xt_ctx *ctx, const char *url,
                 const char *method, struct api_value *params,
                 long timeout_s, struct api_value **value_r,
                 struct api_value **failure_r);
/* Sets the cancel flag of every migration; called with xa->lock held. */
void xa_agent_cancel_all(struct xa *xa);

/* ---- method families --------------------------------------------------- */

extern const struct api_method xa_vm_methods[];     /* pd_methods_vm.c */
extern const struct api_method xa_pool_methods[];   /* pd_methods_pool.c */
/* Master start: fixes VMs and tasks after a restart (pool.md).  Returns
 * how many VMs are still being migrated between hosts (to try again). */
int xa_reconcile(struct xa *xa, struct pool_db *db);
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

#endif /* PD_XENAPI_H */
