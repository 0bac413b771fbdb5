/*
 * pd_migsrc.c - the source host of a pool migration (pool.md,
 * "VM.pool_migrate" and "Crash consistency").
 *
 * host_local.migrate_send checks what it is given, writes a journal of
 * the migration in STATE_DIR/migrations, starts the engine on a thread of
 * its own and answers at once.  The migration then stays here, as an
 * entry and its journal, until the master has learnt its outcome
 * (migrate_status, a long poll) and says so (migrate_forget).  A source
 * left paused after COMMIT without an answer (in doubt) is neither resumed
 * nor destroyed until the master, having asked the destination, says
 * which (migrate_resolve).  A restarted daemon takes each journal up in
 * the state its domain shows: running (nothing was committed), paused (in
 * doubt) or gone.
 *
 * Entries are guarded by xa->lock; xa->changed is broadcast when a sender
 * ends or a copy is resolved.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "hv.h"
#include "mig.h"
#include "mirror_ctl.h"
#include "pd_internal.h"
#include "pd_xenapi.h"

#define PROGRESS_PERIOD_NS  500000000ull
#define STATUS_WAIT_MAX_S   10
#define JOURNAL_SUFFIX      ".journal"
#define DEST_MAX            300
#define STATS_MAX           4096

/* A migration this host sends, from migrate_send until the master forgets
 * it.  The fields after `lock:` are read and written under xa->lock. */
struct xa_send {
    struct xa_send *next;
    struct xa *xa;
    char op[POOL_REF_STRLEN + 1];       /* the master's operation key */
    char vm[XT_UUID_STRLEN + 1];
    uint32_t domid;                     /* the source domain */
    char dest[DEST_MAX];                /* "ADDR:PORT" */
    volatile bool cancel;               /* stop before the commit */
    /* lock: */
    bool running;                       /* the engine runs */
    bool acting;                        /* a resolve acts on the copy */
    bool recovered;                     /* taken up from a journal */
    bool gone;                          /* recovered: no source domain */
    enum mig_src_state state;           /* once !running */
    bool cancelled;
    int rc;
    char error[XT_ERRMSG_MAX];
    char stats[STATS_MAX];              /* the engine's JSON line */
    uint32_t dst_domid;
    /* the sender thread's: */
    char *host, *port, *token, *pin, *master_url;
    enum mig_compression compression;
    bool live;
    uint64_t last_progress_ns;
    /* the disks' mirrors to complete before COMMIT (storage motion) */
    unsigned nmirrors;
    struct {
        unsigned device;
        char vdi[XT_UUID_STRLEN + 1];
        int64_t gen;
    } mirrors[HV_MAX_DISKS];
};

static void send_free(struct xa_send *s)
{
    if (!s)
        return;
    free(s->host);
    free(s->port);
    if (s->token)
        pd_wipe(s->token, strlen(s->token));
    free(s->token);
    free(s->pin);
    free(s->master_url);
    free(s);
}

/* The entry of op; xa->lock held. */
static struct xa_send *find_op(struct xa *xa, const char *op)
{
    struct xa_send *s;

    for (s = xa->sends; s; s = s->next)
        if (!strcmp(s->op, op))
            return s;
    return NULL;
}

/* A paused source copy whose outcome only the master can settle. */
static bool unsettled(const struct xa_send *s)
{
    return !s->running && !s->gone &&
           (s->state == MIG_SRC_IN_DOUBT || s->state == MIG_SRC_SOLE_PAUSED ||
            s->state == MIG_SRC_COMMIT_SENT);
}

/* The entry of VM uuid that still holds the VM here; xa->lock held. */
static struct xa_send *find_vm(struct xa *xa, const char *uuid)
{
    struct xa_send *s;

    for (s = xa->sends; s; s = s->next)
        if (!strcasecmp(s->vm, uuid) && (s->running || s->acting ||
                                         unsettled(s)))
            return s;
    return NULL;
}

bool xa_src_sending(struct xa *xa, const char *uuid)
{
    bool r;

    pthread_mutex_lock(&xa->lock);
    r = find_vm(xa, uuid) != NULL;
    pthread_mutex_unlock(&xa->lock);
    return r;
}

static void unlink_entry(struct xa *xa, struct xa_send *s)
{
    struct xa_send **pp;

    for (pp = &xa->sends; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            return;
        }
}

/* ---- journals ---------------------------------------------------------- */

/* STATE_DIR/migrations/<uuid of op>.journal; -EINVAL for an op that is
 * not "OpaqueRef:<uuid>" (it names a file). */
static int journal_path(struct xa *xa, const char *op, char *buf,
                        size_t size)
{
    struct xt_uuid u;
    const char *p = op + strlen(PD_SESSION_PREFIX);

    if (strncmp(op, PD_SESSION_PREFIX, strlen(PD_SESSION_PREFIX)) != 0 ||
        xt_uuid_parse(p, &u) < 0 || strlen(p) != XT_UUID_STRLEN)
        return -EINVAL;
    if ((size_t)snprintf(buf, size, "%s/%s" JOURNAL_SUFFIX, xa->journal_dir,
                         p) >= size)
        return -ENAMETOOLONG;
    return 0;
}

/* Written (and synced) before the engine starts, never during it. */
static int journal_write(struct xa *xa, struct xt_ctx *ctx,
                         const struct xa_send *s)
{
    char path[4096], text[1024];
    int rc, n;

    rc = journal_path(xa, s->op, path, sizeof(path));
    if (rc < 0)
        return xt_error(ctx, rc, "journal of %s", s->op);
    n = snprintf(text, sizeof(text), "# xm-poold: a migration this host "
                 "sends (pool.md)\nop %s\nvm %s\ndomid %u\ndestination %s\n",
                 s->op, s->vm, s->domid, s->dest);
    if (n < 0 || (size_t)n >= sizeof(text))
        return xt_error(ctx, -ENAMETOOLONG, "journal of %s", s->op);
    return pd_write_file_atomic(ctx, path, text, (size_t)n, 0600);
}

/* The master knows the outcome: the journal goes (no sync needed: one
 * that comes back after a crash is taken up again and forgotten again). */
static void journal_remove(struct xa *xa, struct xt_ctx *ctx,
                           const struct xa_send *s)
{
    char path[4096];

    if (journal_path(xa, s->op, path, sizeof(path)) == 0 &&
        unlink(path) < 0 && errno != ENOENT)
        xt_warn(ctx, "%s: %s", path, strerror(errno));
}

/* Parses a journal's text into a new entry; NULL when it is malformed. */
static struct xa_send *journal_parse(struct xa *xa, char *text)
{
    struct xa_send *s = calloc(1, sizeof(*s));
    struct xt_uuid u;
    char *line, *save = NULL;
    unsigned domid = 0;
    bool have_domid = false;

    if (!s)
        return NULL;
    s->xa = xa;
    for (line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        if (!strncmp(line, "op ", 3))
            snprintf(s->op, sizeof(s->op), "%s", line + 3);
        else if (!strncmp(line, "vm ", 3))
            snprintf(s->vm, sizeof(s->vm), "%s", line + 3);
        else if (sscanf(line, "domid %u", &domid) == 1)
            have_domid = true;
        else if (!strncmp(line, "destination ", 12))
            snprintf(s->dest, sizeof(s->dest), "%s", line + 12);
    }
    s->domid = domid;
    if (!have_domid || !s->op[0] || xt_uuid_parse(s->vm, &u) < 0) {
        free(s);
        return NULL;
    }
    return s;
}

/* Stops what a migration may have left on a source domain that runs:
 * log-dirty and throttling. */
static void stop_tracking(struct hv_handle *h, uint32_t domid)
{
    struct hv_domain_info info;

    if (hv_info(h, domid, &info) < 0)
        return;
    if (info.logdirty)
        hv_logdirty(h, domid, false);
    if (info.throttle_pct && hv_has(h, HV_CAP_THROTTLE))
        hv_throttle(h, domid, 0);
}

/* A journal's entry takes the state its domain shows. */
static void recover_state(struct xt_ctx *ctx, struct hv_handle *h,
                          struct xa_send *s)
{
    enum hv_run_state st;
    uint32_t domid;

    s->recovered = true;
    s->rc = -EINTR;
    if (!h || xa_find_domain(h, s->vm, &domid, &st) < 0 ||
        domid != s->domid) {
        s->gone = true;
        snprintf(s->error, sizeof(s->error), "the source daemon stopped "
                 "during the migration; the source domain is gone");
    } else if (st == HV_STATE_RUNNING) {
        /* It runs: nothing was committed (after COMMIT the engine never
         * resumes it without the destination's word). */
        stop_tracking(h, domid);
        s->state = MIG_SRC_SOLE_RUNNING;
        snprintf(s->error, sizeof(s->error), "the source daemon stopped "
                 "before the commit; the VM runs on here");
    } else {
        s->state = MIG_SRC_IN_DOUBT;
        snprintf(s->error, sizeof(s->error), "the source daemon stopped "
                 "during the migration; the source domain %u is paused",
                 domid);
    }
    xt_warn(ctx, "migration %s of VM %s (domain %u to %s) taken up from "
            "its journal: %s", s->op, s->vm, s->domid, s->dest, s->error);
}

/* One journal file of the directory. */
static void recover_one(struct xa *xa, struct xt_ctx *ctx,
                        struct hv_handle *h, const char *name)
{
    struct xa_send *s;
    char path[4096], *text = NULL;

    if ((size_t)snprintf(path, sizeof(path), "%s/%s", xa->journal_dir,
                         name) >= sizeof(path) ||
        pd_read_file(ctx, path, 4096, false, &text, NULL) < 0)
        return;
    s = journal_parse(xa, text);
    free(text);
    if (!s) {
        xt_warn(ctx, "%s: not a migration journal; left alone", path);
        return;
    }
    recover_state(ctx, h, s);
    pthread_mutex_lock(&xa->lock);
    s->next = xa->sends;
    xa->sends = s;
    pthread_mutex_unlock(&xa->lock);
}

int xa_src_recover(struct xa *xa, struct xt_ctx *ctx)
{
    struct hv_handle *h = NULL;
    struct dirent *de;
    DIR *d;
    size_t n, sl = strlen(JOURNAL_SUFFIX);
    int rc;

    rc = pd_mkdir_p(ctx, xa->journal_dir, 0700);
    if (rc < 0)
        return rc;
    d = opendir(xa->journal_dir);
    if (!d)
        return xt_error(ctx, -errno, "%s", xa->journal_dir);
    while ((de = readdir(d))) {
        n = strlen(de->d_name);
        if (n <= sl || strcmp(de->d_name + n - sl, JOURNAL_SUFFIX) != 0)
            continue;
        /* The hypervisor says what became of each domain. */
        if (!h && xa_hv_open(xa, ctx, &h) < 0)
            xt_warn(ctx, "migration journals: no hypervisor (%s); their "
                    "domains count as gone", ctx->err_msg);
        recover_one(xa, ctx, h, de->d_name);
    }
    closedir(d);
    hv_close(h);
    return 0;
}

/* ---- the sender thread ------------------------------------------------- */

static bool send_cancelled(void *opaque)
{
    return ((struct xa_send *)opaque)->cancel;
}

/* The figures the CLI's progress bar shows (task other_config). */
static struct api_value *progress_figures(const struct mig_progress *p)
{
    struct api_value *d = api_struct();
    double eta = p->bandwidth_bytes_s > 0 ?
                 (double)p->remaining_pages * HV_PAGE_SIZE /
                 p->bandwidth_bytes_s : 0.0;

    api_struct_add(d, "mig:bytes", api_stringf("%llu",
                   (unsigned long long)p->bytes_sent));
    api_struct_add(d, "mig:total_bytes", api_stringf("%llu",
                   (unsigned long long)p->nr_pages * HV_PAGE_SIZE));
    api_struct_add(d, "mig:rate", api_stringf("%.0f", p->bandwidth_bytes_s));
    api_struct_add(d, "mig:round", api_stringf("%u", p->round));
    api_struct_add(d, "mig:eta", api_stringf("%.3f", eta));
    api_struct_add(d, "mig:phase", api_string(mig_phase_name(p->phase)));
    return d;
}

/* On the engine's reporter thread: best effort, to the master's task. */
static void send_progress(const struct mig_progress *p, void *opaque)
{
    struct xa_send *s = opaque;
    struct xa_thread *t = xa_thread(s->xa);
    struct api_value *params, *v = NULL;
    char secret[PD_POOL_SECRET_LEN + 1];
    uint64_t now = xt_now_ns();

    if (!t || !s->master_url ||
        now - s->last_progress_ns < PROGRESS_PERIOD_NS)
        return;
    s->last_progress_ns = now;
    pd_pool_secret_get(s->xa->auth, secret);
    params = api_array();
    api_array_append(params, api_string(secret));
    api_array_append(params, api_string(s->op));
    api_array_append(params, api_double(p->percent / 100.0 * 0.95));
    api_array_append(params, progress_figures(p));
    pd_wipe(secret, sizeof(secret));
    if (xa_rpc_stoppable(t->ctx, s->master_url, "host_local.task_progress",
                         params, 2, &s->xa->stopping, &v, NULL) == 0)
        api_value_free(v);
}

/* Publishes the engine's outcome: the master's next question gets it. */
static void send_publish(struct xa_send *s, struct xt_ctx *ctx, int rc,
                         const struct mig_stats *st)
{
    struct xa *xa = s->xa;

    pthread_mutex_lock(&xa->lock);
    s->running = false;
    s->rc = rc;
    s->state = rc == 0 ? MIG_SRC_HANDED_OVER : st->src_state;
    /* Cancelled by task.cancel; one the daemon's stop cancelled failed. */
    s->cancelled = rc < 0 && s->cancel && !xa->stopping &&
                   s->state == MIG_SRC_SOLE_RUNNING;
    s->dst_domid = st->dst_domid;
    snprintf(s->error, sizeof(s->error), "%s", rc < 0 ? ctx->err_msg : "");
    mig_stats_json(st, "source", s->stats, sizeof(s->stats));
    pthread_cond_broadcast(&xa->changed);
    pthread_mutex_unlock(&xa->lock);
    xt_info(ctx, "migration %s of VM %s: %s%s%s", s->op, s->vm,
            mig_src_state_name(s->state), rc < 0 ? ": " : "",
            rc < 0 ? ctx->err_msg : "");
}

/*
 * opts.precommit: the VM paused, its VMM has handed its disks back, so
 * nothing writes them: each mirror drains into the destination's VDI at
 * the generation the master saw synced (a mirror that failed since says
 * no: the source runs on), then lets go of it, so that the destination's
 * own block service can take the VDI when its VM resumes.
 */
static int send_precommit(struct xt_ctx *ctx, void *opaque)
{
    struct xa_send *s = opaque;
    char path[4096], req[64], reply[MIRROR_CTL_LINE_MAX];
    unsigned i;
    int rc = 0;

    for (i = 0; rc == 0 && i < s->nmirrors; i++) {
        rc = xa_blk_path(s->xa, ctx, s->vm, s->mirrors[i].device,
                         s->mirrors[i].vdi, "ctl", path, sizeof(path));
        snprintf(req, sizeof(req), "complete gen=%lld",
                 (long long)s->mirrors[i].gen);
        rc = rc ?: mirror_ctl_call(ctx, path, req, reply, sizeof(reply),
                                   30000);
    }
    if (rc == 0)
        xt_fault(ctx, "pd.source.mirrors-completed");
    for (i = 0; rc == 0 && i < s->nmirrors; i++) {
        xa_blk_path(s->xa, ctx, s->vm, s->mirrors[i].device,
                    s->mirrors[i].vdi, "ctl", path, sizeof(path));
        rc = mirror_ctl_call(ctx, path, "stop", reply, sizeof(reply),
                             30000);
    }
    return rc;
}

static void *send_main(void *p)
{
    struct xa_send *s = p;
    struct xa *xa = s->xa;
    struct xa_thread *t = xa_thread(xa);
    struct xt_ctx *ctx = t ? t->ctx : xa->log;
    struct mig_stats st = { .src_state = MIG_SRC_SOLE_RUNNING };
    struct hv_handle *h = NULL;
    struct mig_send_opts o;
    int rc;

    mig_send_opts_init(&o);
    o.compression = s->compression;
    if (!s->live)
        o.max_rounds = 1;
    o.token = s->token;
    o.chan.pin = s->pin;
    o.limit = xa->link_limit;
    o.cancel = send_cancelled;
    o.progress = send_progress;
    if (s->nmirrors)
        o.precommit = send_precommit;
    o.opaque = s;
    rc = t ? xa_hv_open(xa, ctx, &h) : -ENOMEM;
    if (rc == 0 && s->cancel)
        rc = xt_error(ctx, -ECANCELED, "migration cancelled");
    if (rc == 0)
        rc = mig_send(ctx, h, s->domid, s->host, s->port, &o, &st);
    if (rc < 0 && s->cancel && st.src_state == MIG_SRC_SOLE_RUNNING)
        rc = xa->stopping ? xt_error(ctx, -ECANCELED, "the source daemon "
                                     "stops: migration cancelled before "
                                     "the commit") : -ECANCELED;
    hv_close(h);
    /* The outcome is known here, not yet to the master. */
    xt_fault(ctx, "pd.source.done");
    send_publish(s, ctx, rc, &st);
    /* A VM handed over leaves its block services here behind. */
    if (t)
        xa_blk_reap(xa, ctx);
    xa_worker_done(xa);
    return NULL;
}

/* ---- host_local.migrate_send ------------------------------------------- */

/* options.mirrors: [{ device, vdi, gen }], the disks' mirrors the
 * precommit completes. */
static int send_mirrors(struct api_call_ctx *call, struct xa_send *s,
                        const struct api_value *ms)
{
    size_t i, n = ms ? api_value_count(ms) : 0;

    if (n > HV_MAX_DISKS)
        return xt_error(call->xt, -EINVAL, "mirrors: %zu of them", n);
    for (i = 0; i < n; i++) {
        const struct api_value *m = api_array_get(ms, i);
        const char *vdi = api_value_string(api_struct_get(m, "vdi"));
        int64_t dev = -1, gen = -1;
        struct xt_uuid u;

        api_value_get_int64(api_struct_get(m, "device"), &dev);
        api_value_get_int64(api_struct_get(m, "gen"), &gen);
        if (!vdi || xt_uuid_parse(vdi, &u) < 0 || dev < 0 ||
            dev >= HV_MAX_DISKS || gen < 0)
            return xt_error(call->xt, -EINVAL, "mirrors: { device, vdi, "
                            "gen }");
        s->mirrors[i].device = (unsigned)dev;
        snprintf(s->mirrors[i].vdi, sizeof(s->mirrors[i].vdi), "%s", vdi);
        s->mirrors[i].gen = gen;
    }
    s->nmirrors = (unsigned)n;
    return 0;
}

/* The entry migrate_send's parameters describe (not registered). */
static int send_new(struct api_call_ctx *call, const struct api_value *params,
                    struct xa_send **s_r)
{
    const char *op = xa_param_str(params, 1), *uuid = xa_param_str(params, 2);
    const char *addr = xa_param_str(params, 3);
    const char *token = xa_param_str(params, 5), *comp, *pin, *murl;
    const struct api_value *opts = api_array_get(params, 6);
    struct xa_send *s;
    char path[4096];
    struct xt_uuid u;
    int64_t port;

    *s_r = NULL;
    if (!op || !uuid || xt_uuid_parse(uuid, &u) < 0 || !addr ||
        strlen(addr) > 255 || !token ||
        api_value_get_int64(api_array_get(params, 4), &port) < 0 ||
        port <= 0 || port > 65535 || api_value_type(opts) != API_STRUCT ||
        strlen(op) > POOL_REF_STRLEN ||
        journal_path(xa_call_of(call)->xa, op, path, sizeof(path)) < 0)
        return xt_error(call->xt, -EINVAL, "migrate_send(secret, op, "
                        "vm_uuid, address, port, token, options)");
    s = calloc(1, sizeof(*s));
    if (!s)
        return xt_error(call->xt, -ENOMEM, "migrate_send");
    s->xa = xa_call_of(call)->xa;
    snprintf(s->op, sizeof(s->op), "%s", op);
    snprintf(s->vm, sizeof(s->vm), "%s", uuid);
    snprintf(s->dest, sizeof(s->dest), "%s:%d", addr, (int)port);
    comp = api_value_string(api_struct_get(opts, "compress"));
    if (comp && !strcmp(comp, "zlib"))
        s->compression = MIG_COMP_ZLIB;
    else if (comp && (!strcmp(comp, "zstd") || !strcmp(comp, "true")))
        s->compression = MIG_COMP_ZSTD;
    s->live = true;
    if (api_struct_get(opts, "live"))
        api_value_get_bool(api_struct_get(opts, "live"), &s->live);
    /* The receiver's key, as its host answered migrate_prepare. */
    pin = api_value_string(api_struct_get(opts, "pin"));
    murl = api_value_string(api_struct_get(opts, "master_url"));
    s->host = strdup(addr);
    s->port = malloc(16);
    s->token = strdup(token);
    s->pin = pin ? strdup(pin) : NULL;
    s->master_url = murl ? strdup(murl) : NULL;
    if (!s->host || !s->port || !s->token || (pin && !s->pin) ||
        (murl && !s->master_url)) {
        send_free(s);
        return xt_error(call->xt, -ENOMEM, "migrate_send");
    }
    snprintf(s->port, 16, "%d", (int)port);
    if (send_mirrors(call, s, api_struct_get(opts, "mirrors")) < 0) {
        send_free(s);
        return -EINVAL;
    }
    *s_r = s;
    return 0;
}

/* The source domain: it must be here, and not held by another migration. */
static int send_check(struct api_call_ctx *call, struct xa_send *s,
                      struct api_value **result_r)
{
    struct xa *xa = xa_call_of(call)->xa;
    struct hv_handle *h = NULL;
    int rc;

    if (xa_src_sending(xa, s->vm)) {
        *result_r = api_failure("VM_MIGRATE_FAILED", s->vm, "", "",
                                "this host is migrating the VM already, or "
                                "keeps a copy of it in doubt", NULL);
        return xt_error(call->xt, -EBUSY, "VM %s: a migration is not "
                        "settled here", s->vm);
    }
    rc = xa_hv_open(xa, call->xt, &h);
    if (rc < 0)
        return rc;
    if (xa_find_domain(h, s->vm, &s->domid, NULL) < 0) {
        *result_r = api_failure("VM_MIGRATE_FAILED", s->vm, "", "",
                                "the VM does not run here", NULL);
        rc = xt_error(call->xt, -ENOENT, "VM %s does not run here", s->vm);
    }
    hv_close(h);
    return rc;
}

/* Registers s and starts its thread; on failure nothing is left. */
static int send_start(struct api_call_ctx *call, struct xa_send *s)
{
    struct xa *xa = s->xa;
    pthread_attr_t attr;
    pthread_t th;
    int rc;

    s->running = true;
    pthread_mutex_lock(&xa->lock);
    s->next = xa->sends;
    xa->sends = s;
    pthread_mutex_unlock(&xa->lock);
    /* Journaled, the engine not started: the answer is not sent yet. */
    xt_fault(call->xt, "pd.source.journaled");
    xa_thread_enter(xa);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = -pthread_create(&th, &attr, send_main, s);
    pthread_attr_destroy(&attr);
    if (rc < 0) {
        xa_thread_leave(xa);
        pthread_mutex_lock(&xa->lock);
        unlink_entry(xa, s);
        pthread_mutex_unlock(&xa->lock);
        journal_remove(xa, call->xt, s);
        return xt_error(call->xt, rc, "sender thread");
    }
    return 0;
}

static struct api_value *accepted(const char *op, uint32_t domid)
{
    struct api_value *r = api_struct();

    if (api_struct_add(r, "accepted", api_bool(true)) < 0 ||
        api_struct_add(r, "op", api_string(op)) < 0 ||
        api_struct_add(r, "domid", api_int(domid)) < 0) {
        api_value_free(r);
        return NULL;
    }
    return r;
}

int xa_src_migrate_send(struct api_call_ctx *call,
                        const struct api_value *params,
                        struct api_value **result_r)
{
    struct xa *xa = xa_call_of(call)->xa;
    struct xa_send *s = NULL, *old;
    uint32_t domid = 0;
    int rc = xa_check_secret(call, params, result_r);

    if (rc < 0)
        return rc;
    rc = send_new(call, params, &s);
    if (rc < 0)
        return rc;
    /* The same operation again (its first answer was lost): accepted. */
    pthread_mutex_lock(&xa->lock);
    old = find_op(xa, s->op);
    if (old)
        domid = old->domid;
    pthread_mutex_unlock(&xa->lock);
    if (!old) {
        rc = send_check(call, s, result_r);
        rc = rc ?: journal_write(xa, call->xt, s);
        rc = rc ?: send_start(call, s);
        if (rc < 0)
            goto out;
        domid = s->domid;
        s = NULL;               /* the thread's now */
    }
    *result_r = accepted(xa_param_str(params, 1), domid);
    if (!*result_r)
        rc = xt_error(call->xt, -ENOMEM, "migrate_send");
out:
    send_free(s);
    return rc;
}

/* ---- what the master asks and says -------------------------------------- */

/* The entry as the master sees it; xa->lock held. */
static struct api_value *status_of(const struct xa_send *s)
{
    struct api_value *r = api_struct();
    const char *state = !s ? "none" : s->running ? "sending" :
                        s->gone ? "gone" : mig_src_state_name(s->state);
    int rc;

    rc = api_struct_add(r, "known", api_bool(s != NULL));
    rc = rc ?: api_struct_add(r, "running", api_bool(s && (s->running ||
                                                           s->acting)));
    rc = rc ?: api_struct_add(r, "state", api_string(state));
    if (s) {
        rc = rc ?: api_struct_add(r, "recovered", api_bool(s->recovered));
        rc = rc ?: api_struct_add(r, "cancelled", api_bool(s->cancelled));
        rc = rc ?: api_struct_add(r, "rc", api_int(s->rc));
        rc = rc ?: api_struct_add(r, "error", api_string(s->error));
        rc = rc ?: api_struct_add(r, "domid", api_int(s->domid));
        rc = rc ?: api_struct_add(r, "dst_domid", api_int(s->dst_domid));
        rc = rc ?: api_struct_add(r, "stats", api_string(s->stats));
    }
    if (rc < 0) {
        api_value_free(r);
        return NULL;
    }
    return r;
}

/* The status of op, *result_r, reporting ENOMEM. */
static int answer_status(struct api_call_ctx *call, const char *op,
                         struct api_value **result_r)
{
    struct xa *xa = xa_call_of(call)->xa;

    pthread_mutex_lock(&xa->lock);
    *result_r = status_of(find_op(xa, op));
    pthread_mutex_unlock(&xa->lock);
    return *result_r ? 0 : xt_error(call->xt, -ENOMEM, "migrate_status");
}

/* host_local.migrate_status(secret, op, wait_s): waits up to wait_s while
 * the engine runs (a long poll), then says where the migration is. */
int xa_src_migrate_status(struct api_call_ctx *call,
                          const struct api_value *params,
                          struct api_value **result_r)
{
    struct xa *xa = xa_call_of(call)->xa;
    const char *op = xa_param_str(params, 1);
    struct xa_send *s;
    int64_t wait_s = 0;
    uint64_t end;
    int rc = xa_check_secret(call, params, result_r);

    if (rc < 0)
        return rc;
    if (!op || api_value_get_int64(api_array_get(params, 2), &wait_s) < 0 ||
        wait_s < 0 || wait_s > STATUS_WAIT_MAX_S)
        return xt_error(call->xt, -EINVAL, "migrate_status(secret, op, "
                        "wait_s 0..%d)", STATUS_WAIT_MAX_S);
    end = xt_now_ns() + (uint64_t)wait_s * 1000000000ull;
    pthread_mutex_lock(&xa->lock);
    while ((s = find_op(xa, op)) && (s->running || s->acting) &&
           !xa->stopping && xt_now_ns() < end)
        xa_sleep_locked(xa, (unsigned)((end - xt_now_ns()) / 1000000) + 1);
    pthread_mutex_unlock(&xa->lock);
    return answer_status(call, op, result_r);
}

/* The paused copy the destination took: destroyed.  The one it never
 * took: log-dirty and throttling off, resumed. */
static int act_on_copy(struct xt_ctx *ctx, struct xa_send *s, bool taken,
                       enum mig_src_state *state_r, bool *gone_r)
{
    struct hv_handle *h = NULL;
    enum hv_run_state st;
    uint32_t domid;
    int rc;

    rc = xa_hv_open(s->xa, ctx, &h);
    if (rc < 0)
        return rc;
    if (xa_find_domain(h, s->vm, &domid, &st) < 0 || domid != s->domid) {
        /* Nothing left to act on. */
        *gone_r = !taken;
        *state_r = MIG_SRC_HANDED_OVER;
    } else if (st == HV_STATE_RUNNING) {
        rc = xt_error(ctx, -EBUSY, "VM %s: the source domain %u runs; a "
                      "running domain is never destroyed or resumed by a "
                      "migration's resolution", s->vm, domid);
    } else if (taken) {
        rc = hv_destroy(h, domid);
        *state_r = MIG_SRC_HANDED_OVER;
    } else {
        stop_tracking(h, domid);
        rc = hv_resume_after_failure(h, domid);
        *state_r = MIG_SRC_SOLE_RUNNING;
    }
    hv_close(h);
    if (rc == 0 && taken)
        xa_blk_reap(s->xa, ctx);
    if (rc == 0)
        xt_info(ctx, "migration %s of VM %s settled by the master: the "
                "destination %s it: %s", s->op, s->vm, taken ? "runs" :
                "never took", taken ? "source copy destroyed" :
                *gone_r ? "no source copy left" : "source resumed");
    return rc;
}

/* host_local.migrate_resolve(secret, op, verdict): acts on a copy in
 * doubt only; verdict "destination-runs" or "destination-has-none".
 * Answers the status after it. */
int xa_src_migrate_resolve(struct api_call_ctx *call,
                           const struct api_value *params,
                           struct api_value **result_r)
{
    struct xa *xa = xa_call_of(call)->xa;
    const char *op = xa_param_str(params, 1);
    const char *verdict = xa_param_str(params, 2);
    enum mig_src_state state = MIG_SRC_IN_DOUBT;
    struct xa_send *s;
    bool taken, gone = false;
    int rc = xa_check_secret(call, params, result_r);

    if (rc < 0)
        return rc;
    if (!op || !verdict || (strcmp(verdict, "destination-runs") != 0 &&
                            strcmp(verdict, "destination-has-none") != 0))
        return xt_error(call->xt, -EINVAL, "migrate_resolve(secret, op, "
                        "destination-runs|destination-has-none)");
    taken = !strcmp(verdict, "destination-runs");
    pthread_mutex_lock(&xa->lock);
    s = find_op(xa, op);
    if (!s || !unsettled(s) || s->acting) {
        pthread_mutex_unlock(&xa->lock);
        return answer_status(call, op, result_r);
    }
    s->acting = true;
    pthread_mutex_unlock(&xa->lock);
    rc = act_on_copy(call->xt, s, taken, &state, &gone);
    pthread_mutex_lock(&xa->lock);
    s->acting = false;
    if (rc == 0) {
        s->state = state;
        s->gone = gone;
    }
    pthread_cond_broadcast(&xa->changed);
    pthread_mutex_unlock(&xa->lock);
    return rc < 0 ? rc : answer_status(call, op, result_r);
}

/* host_local.migrate_forget(secret, op): the master applied the outcome;
 * refused while the engine runs or a copy is in doubt. */
int xa_src_migrate_forget(struct api_call_ctx *call,
                          const struct api_value *params,
                          struct api_value **result_r)
{
    struct xa *xa = xa_call_of(call)->xa;
    const char *op = xa_param_str(params, 1);
    struct xa_send *s;
    int rc = xa_check_secret(call, params, result_r);

    if (rc < 0)
        return rc;
    if (!op)
        return xt_error(call->xt, -EINVAL, "migrate_forget(secret, op)");
    pthread_mutex_lock(&xa->lock);
    s = find_op(xa, op);
    if (s && (s->running || s->acting || unsettled(s))) {
        pthread_mutex_unlock(&xa->lock);
        *result_r = api_failure("OTHER_OPERATION_IN_PROGRESS", "migration",
                                op, NULL);
        return xt_error(call->xt, -EBUSY, "migration %s is not settled "
                        "here", op);
    }
    if (s)
        unlink_entry(xa, s);
    pthread_mutex_unlock(&xa->lock);
    if (s) {
        journal_remove(xa, call->xt, s);
        xt_info(call->xt, "migration %s of VM %s forgotten", op, s->vm);
    }
    send_free(s);
    *result_r = api_void();
    return 0;
}

/* host_local.migrate_cancel(secret, op): honoured before the commit. */
int xa_src_migrate_cancel(struct api_call_ctx *call,
                          const struct api_value *params,
                          struct api_value **result_r)
{
    struct xa *xa = xa_call_of(call)->xa;
    const char *op = xa_param_str(params, 1);
    struct xa_send *s;
    bool found;
    int rc = xa_check_secret(call, params, result_r);

    if (rc < 0)
        return rc;
    if (!op)
        return xt_error(call->xt, -EINVAL, "migrate_cancel(secret, task)");
    pthread_mutex_lock(&xa->lock);
    s = find_op(xa, op);
    found = s && s->running;
    if (found)
        s->cancel = true;
    pthread_mutex_unlock(&xa->lock);
    *result_r = api_bool(found);
    return 0;
}

void xa_src_cancel_all(struct xa *xa)
{
    struct xa_send *s;

    for (s = xa->sends; s; s = s->next)
        if (s->running)
            s->cancel = true;
}

void xa_src_free_all(struct xa *xa)
{
    struct xa_send *s;

    while ((s = xa->sends)) {
        xa->sends = s->next;
        send_free(s);
    }
}
