/*
 * pd_service.c - the XenAPI service's life cycle: host identity, first
 * start, init and fini, the config keys it reads.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hv.h"
#include "mig.h"
#include "pd_internal.h"
#include "pd_xenapi.h"

/* ---- host identity, first start, init/fini ------------------------------ */

void xa_memory(struct xa *xa, uint64_t *total_r, uint64_t *free_r)
{
    FILE *f = fopen("/proc/meminfo", "re");
    char line[256];
    unsigned long long kb;

    *total_r = *free_r = 0;
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
            *total_r = kb * 1024;
        else if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
            *free_r = kb * 1024;
    }
    fclose(f);
    if (xa->vm_memory && xa->vm_memory < *total_r)
        *total_r = xa->vm_memory;
    if (*free_r > *total_r)
        *free_r = *total_r;
}

int xa_self_host(struct xa *xa, struct pool_db *db, char **ref_r)
{
    *ref_r = NULL;
    if (!db)
        return -ENOENT;
    return pool_db_get_by_uuid(db, POOL_CLASS_HOST, xa->host_uuid, ref_r);
}

/* Reads or creates STATE_DIR/host.uuid. */
static int load_host_uuid(struct xa *xa, struct xt_ctx *ctx)
{
    char *path = NULL, *buf = NULL;
    struct xt_uuid u;
    int rc;

    if (asprintf(&path, "%s/host.uuid", xa->cfg->state_dir) < 0)
        return -ENOMEM;
    rc = pd_read_file(ctx, path, 256, true, &buf, NULL);
    if (rc == 0 && strlen(buf) >= XT_UUID_STRLEN) {
        memcpy(xa->host_uuid, buf, XT_UUID_STRLEN);
        xa->host_uuid[XT_UUID_STRLEN] = '\0';
    } else {
        rc = xt_uuid_generate(&u);
        if (rc == 0) {
            xt_uuid_format(&u, xa->host_uuid);
            rc = pd_write_file_atomic(ctx, path, xa->host_uuid,
                                      XT_UUID_STRLEN, 0644);
        }
    }
    free(buf);
    free(path);
    return rc;
}

/* Creates pool, host and network on a fresh master database. */
int xa_first_start(struct xa *xa, struct pool_db *db)
{
    struct pool_strv refs = { 0 };
    struct pool_value sw = { .type = POOL_FT_MAP };
    struct pool_value oc = { .type = POOL_FT_MAP };
    char *host = NULL, *pool = NULL, hostname[256] = "";
    uint64_t tot, fr;
    int rc;

    rc = pool_db_get_all(db, POOL_CLASS_POOL, &refs);
    if (rc < 0 || refs.n) {
        pool_strv_free(&refs);
        return rc;
    }
    gethostname(hostname, sizeof(hostname) - 1);
    xa_memory(xa, &tot, &fr);
    pool_value_map_put(&sw, "product_brand", "xm-pool");
    pool_value_map_put(&sw, "product_version", xa_version());
    pool_value_map_put(&oc, "xm:url", xa->self_url);
    rc = pool_db_begin(db);
    if (rc < 0)
        goto out;
    {
        struct pool_field_init h[] = {
            { "uuid", POOL_V_STR(xa->host_uuid) },
            { "name_label", POOL_V_STR(hostname) },
            { "hostname", POOL_V_STR(hostname) },
            { "address", POOL_V_STR(xa->role_address) },
            { "migration_address", POOL_V_STR(xa->role_address) },
            { "enabled", POOL_V_BOOL(true) },
            { "live", POOL_V_BOOL(true) },
            { "memory_total", POOL_V_INT((int64_t)tot) },
            { "memory_free", POOL_V_INT((int64_t)fr) },
            { "API_version_major", POOL_V_INT(XA_API_MAJOR) },
            { "API_version_minor", POOL_V_INT(XA_API_MINOR) },
            { "software_version", sw },
            { "other_config", oc },
        };
        rc = pool_db_create(db, POOL_CLASS_HOST, h,
                            sizeof(h) / sizeof(*h), &host);
    }
    rc = rc ?: xa_host_metrics_sync(db, host);
    rc = rc ?: xa_control_domain_sync(db, host);
    if (rc == 0) {
        struct pool_field_init p[] = {
            { "name_label", POOL_V_STR("") },
            { "master", POOL_V_REF(host) },
        };
        rc = pool_db_create(db, POOL_CLASS_POOL, p, 2, &pool);
    }
    if (rc == 0) {
        struct pool_field_init n[] = {
            { "name_label", POOL_V_STR("Pool-wide network") },
            { "bridge", POOL_V_STR("xmbr0") },
        };
        rc = pool_db_create(db, POOL_CLASS_NETWORK, n, 2, NULL);
    }
    if (rc == 0)
        rc = pool_db_commit(db);
    if (rc < 0)
        pool_db_rollback(db);
out:
    pool_value_clear(&sw);
    pool_value_clear(&oc);
    free(host);
    free(pool);
    return rc;
}

static const char *raw_get(const struct pd_config *cfg, const char *key,
                           const char *def)
{
    const char *v = xt_config_get(cfg->raw, key);

    return v && *v ? v : def;
}

/*
 * The daemon begins to stop (before its server stops, then again from
 * fini): every wait ends at once (event.from, long polls, receivers
 * waiting for their sender, the reconciler), running senders are asked
 * to stop before their commit.  What is past its commit finishes; fini
 * waits for it (the bound is in xm-poold.service).
 */
static void svc_stop(void *opaque)
{
    struct xa *xa = opaque;
    uint64_t one = 1;

    if (!xa)
        return;
    pthread_mutex_lock(&xa->lock);
    if (!xa->stopping) {
        xa->stopping = true;
        xa_src_cancel_all(xa);
        if (xa->stop_fd >= 0 &&
            write(xa->stop_fd, &one, sizeof(one)) != sizeof(one))
            xt_warn(xa->log, "stop: eventfd: %s", strerror(errno));
    }
    pthread_cond_broadcast(&xa->changed);
    pthread_mutex_unlock(&xa->lock);
    pthread_mutex_lock(&xa->db_lock);
    pthread_cond_broadcast(&xa->db_changed);
    pthread_mutex_unlock(&xa->db_lock);
}

static void svc_fini(void *opaque)
{
    struct xa *xa = opaque;

    if (!xa)
        return;
    svc_stop(xa);
    xa_liveness_stop(xa);
    xa_settle_stop(xa);
    /* Every worker thread: senders past their commit finish. */
    pthread_mutex_lock(&xa->lock);
    while (xa->nthreads)
        pthread_cond_wait(&xa->threads_done, &xa->lock);
    pthread_mutex_unlock(&xa->lock);
    xa_src_free_all(xa);
    xa_evregs_free(xa);
    xa_thread_free(pthread_getspecific(xa->thread_key));
    pthread_setspecific(xa->thread_key, NULL);
    pthread_key_delete(xa->thread_key);
    xa_table_free(xa->table, xa->table_nstatic);
    if (xa->stop_fd >= 0)
        close(xa->stop_fd);
    free(xa->journal_dir);
    free(xa->db_path);
    free(xa->role_path);
    free(xa->role_address);
    free(xa->hv_driver);
    free(xa->hv_args);
    free(xa->guest_image);
    free(xa->upgrade_hook);
    free(xa->master_address);
    free(xa->master_url);
    mig_limit_free(xa->link_limit);
    pthread_cond_destroy(&xa->changed);
    pthread_cond_destroy(&xa->db_changed);
    pthread_mutex_destroy(&xa->db_lock);
    pthread_cond_destroy(&xa->threads_done);
    pthread_mutex_destroy(&xa->blk_lock);
    pthread_mutex_destroy(&xa->lock);
    free(xa);
    api_fini();
}

/* The lock, the conditions and the stop eventfd. */
static int sync_init(struct xa *xa, struct xt_ctx *ctx)
{
    pthread_condattr_t ca;
    int rc;

    pthread_mutex_init(&xa->lock, NULL);
    pthread_mutex_init(&xa->blk_lock, NULL);
    pthread_mutex_init(&xa->db_lock, NULL);
    pthread_cond_init(&xa->threads_done, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&xa->changed, &ca);
    pthread_cond_init(&xa->db_changed, &ca);
    pthread_condattr_destroy(&ca);
    xa->stop_fd = eventfd(0, EFD_CLOEXEC);
    if (xa->stop_fd < 0)
        return xt_error(ctx, -errno, "eventfd");
    rc = -pthread_key_create(&xa->thread_key, xa_thread_free);
    if (rc < 0)
        return xt_error(ctx, rc, "pthread_key_create");
    return 0;
}

/* The driver's options: hv_driver_args, after run_dir=RUN_DIR/vmm for
 * the drivers that run xm-vmm (kvm, sim; the xen driver has no run_dir
 * and refuses options it does not know).  xa->hv_args: NULL for none. */
static int hv_args_of(struct xa *xa, const struct pd_config *cfg)
{
    const char *extra = raw_get(cfg, "hv_driver_args", "");

    if (!strcmp(xa->hv_driver ? xa->hv_driver : "", "xen")) {
        xa->hv_args = *extra ? strdup(extra) : NULL;
        return *extra && !xa->hv_args ? -ENOMEM : 0;
    }
    return asprintf(&xa->hv_args, "run_dir=%s/vmm%s%s", cfg->run_dir,
                    *extra ? "," : "", extra) < 0 ? -ENOMEM : 0;
}

static int svc_init(struct xt_ctx *ctx, const struct pd_config *cfg,
                    struct pd_auth *auth, void **opaque_r)
{
    struct xa *xa = calloc(1, sizeof(*xa));
    struct pool_db *db = NULL;
    char *role = NULL, *murl = NULL, *self = NULL;
    uint64_t bw = 0;
    const char *addr, *maddr;
    int rc;

    if (!xa)
        return xt_error(ctx, -ENOMEM, "service");
    api_init();
    xa->cfg = cfg;
    xa->auth = auth;
    xa->log = ctx;
    rc = sync_init(xa, ctx);
    if (rc < 0) {
        if (xa->stop_fd >= 0)
            close(xa->stop_fd);
        free(xa);
        api_fini();
        return rc;
    }
    xa->limits.max_body = cfg->max_body;
    rc = xt_config_get_u64(ctx, cfg->raw, "host_check_interval", 5,
                           &xa->check_interval_s);
    if (rc == 0 && (xa->check_interval_s < 1 ||
                    xa->check_interval_s > 3600))
        rc = xt_error(ctx, -EINVAL, "host_check_interval: %llu s is not in "
                      "1..3600", (unsigned long long)xa->check_interval_s);
    {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        xa->started = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    }
    rc = rc ?: xt_config_get_u64(ctx, cfg->raw, "evacuation-batch-size",
                                 10, &xa->evacuation_batch);
    if (rc == 0 && (xa->evacuation_batch < 1 || xa->evacuation_batch > 64))
        rc = xt_error(ctx, -EINVAL, "evacuation-batch-size: %llu is not in "
                      "1..64", (unsigned long long)xa->evacuation_batch);
    rc = rc ?: xt_config_get_u64(ctx, cfg->raw, "evacuation-sr-copies", 2,
                                 &xa->evacuation_sr_copies);
    if (rc == 0 && (xa->evacuation_sr_copies < 1 ||
                    xa->evacuation_sr_copies > 64))
        rc = xt_error(ctx, -EINVAL, "evacuation-sr-copies: %llu is not in "
                      "1..64", (unsigned long long)xa->evacuation_sr_copies);
    rc = rc ?: xt_config_get_u64(ctx, cfg->raw, "vm-memory-mib", 0,
                                 &xa->vm_memory);
    if (rc == 0 && xa->vm_memory > (1ull << 32))
        rc = xt_error(ctx, -EINVAL, "vm-memory-mib: %llu is more than "
                      "4 PiB", (unsigned long long)xa->vm_memory);
    xa->vm_memory <<= 20;
    rc = rc ?: xt_config_get_u64(ctx, cfg->raw, "migration-bandwidth-mib",
                                 0, &bw);
    if (rc == 0 && bw > (1u << 20))
        rc = xt_error(ctx, -EINVAL, "migration-bandwidth-mib: %llu is more "
                      "than 1 TiB/s", (unsigned long long)bw);
    if (rc == 0 && bw && !(xa->link_limit = mig_limit_new(bw << 20)))
        rc = xt_error(ctx, -ENOMEM, "out of memory");
    rc = rc ?: xt_config_get_u64(ctx, cfg->raw, "forward_timeout",
                                 XA_FORWARD_TIMEOUT_S, &xa->forward_timeout_s);
    if (rc == 0 && (xa->forward_timeout_s < 1 ||
                    xa->forward_timeout_s > 3600))
        rc = xt_error(ctx, -EINVAL, "forward_timeout: %llu s is not in "
                      "1..3600", (unsigned long long)xa->forward_timeout_s);
    if (rc < 0)
        goto fail;
    addr = raw_get(cfg, "role_address", cfg->listen_address);
    if (!strcmp(addr, "0.0.0.0") || !strcmp(addr, "::"))
        addr = "127.0.0.1";
    xa->role_address = strdup(addr);
    xa->hv_driver = strdup(raw_get(cfg, "hv_driver", "kvm"));
    xa->guest_image = strdup(raw_get(cfg, "guest_image",
                                     XM_PKGDATADIR "/xm-guest.elf"));
    if (*raw_get(cfg, "upgrade-hook", ""))
        xa->upgrade_hook = strdup(raw_get(cfg, "upgrade-hook", ""));
    if (hv_args_of(xa, cfg) < 0 ||
        asprintf(&xa->db_path, "%s/pool.db", cfg->state_dir) < 0 ||
        asprintf(&xa->role_path, "%s/role", cfg->state_dir) < 0 ||
        asprintf(&xa->journal_dir, "%s/migrations", cfg->state_dir) < 0 ||
        !xa->role_address || !xa->hv_driver || !xa->guest_image) {
        rc = xt_error(ctx, -ENOMEM, "service");
        goto fail;
    }
    if (!hv_driver_exists(xa->hv_driver)) {
        rc = xt_error(ctx, -EINVAL, "hv_driver %s: not one of %s",
                      xa->hv_driver, hv_driver_names());
        goto fail;
    }
    rc = xa_url_of(xa, ctx, xa->role_address, xa->self_url);
    if (rc < 0) {
        /* A pool of one still works: only host-to-host calls need it. */
        xt_warn(ctx, "no URL for other hosts: this host can neither join "
                "a pool nor take members");
        xa->self_url[0] = '\0';
    } else if (!strncmp(xa->self_url, "https://", 8)) {
        char pin[PD_TLS_PIN_STRLEN + 1];
        size_t n = strlen(xa->self_url);

        rc = pd_tls_pin_file(ctx, cfg->tls_cert, pin);
        if (rc < 0)
            goto fail;
        if (n + 1 + strlen(pin) >= XA_URL_MAX) {
            rc = xt_error(ctx, -ENAMETOOLONG, "URL %s", xa->self_url);
            goto fail;
        }
        snprintf(xa->self_url + n, XA_URL_MAX - n, "#%s", pin);
    }
    rc = load_host_uuid(xa, ctx);
    /* Migrations this host was sending when it stopped. */
    rc = rc ?: xa_src_recover(xa, ctx);
    if (rc < 0)
        goto fail;
    /* Block services of VMs that stopped or left while we were down. */
    if (xa_blk_reap(xa, ctx) < 0)
        xt_warn(ctx, "block services not checked: %s", ctx->err_msg);
    /* The role: a config master_address, else a joined member's record,
     * else this host is the master of its own pool. */
    maddr = raw_get(cfg, "master_address", NULL);
    if (!maddr && pd_read_file(ctx, xa->role_path, 4096, true, &role,
                               NULL) == 0 &&
        !strncmp(role, "member ", 7)) {
        /* "member ADDR\n" then "url URL\n" (the pinned URL; older
         * records have none: the URL is built from ADDR). */
        char *nl = strchr(role, '\n');

        maddr = role + 7;
        if (nl) {
            *nl = '\0';
            if (!strncmp(nl + 1, "url ", 4)) {
                murl = nl + 5;
                murl[strcspn(murl, "\n")] = '\0';
            }
        }
    }
    if (maddr) {
        char url[XA_URL_MAX];

        xa->master = false;
        xa->master_address = strdup(maddr);
        if (!murl && xa_url_of(xa, ctx, maddr, url) == 0)
            murl = url;
        xa->master_url = murl ? strdup(murl) : NULL;
        xt_info(ctx, "pool member of master %s (%s)", maddr,
                murl ? murl : "no URL");
    } else {
        xa->master = true;
        rc = xa_db(xa, &db);
        rc = rc ?: xa_first_start(xa, db);
        rc = rc ?: xa_sm_records(db);
        if (rc < 0)
            goto fail;
        xa_evacuate_reconcile(xa, db);
        xa_mem_reconcile(xa, db);
        xa_reconcile(xa, db);
        xa_motion_reconcile(xa, db, ctx);
        xa_metrics_reconcile(xa, db);
        xa_rpu_resume(xa, db);
        if (xa_self_host(xa, db, &self) == 0) {
            char st[24];

            xa_host_restarted(xa, db, self);
            /* What the liveness check keeps of the others: when it
             * started, its version (a rolling upgrade waits for both). */
            snprintf(st, sizeof(st), "%lld", (long long)xa->started);
            pool_db_map_put(db, POOL_CLASS_HOST, self, "other_config",
                            XA_HOST_STARTED, st, POOL_DB_INTERNAL);
            xa_host_version_seen(xa, db, self, xa_version());
            xa_upgrade_note(db);
        }
        free(self);
        xt_info(ctx, "pool master, host %s at %s", xa->host_uuid,
                xa->self_url);
    }
    free(role);
    role = NULL;
    rc = xa_liveness_start(xa);
    rc = rc ?: xa_settle_start(xa);
    if (rc < 0)
        goto fail;
    rc = xa_table_build(&xa->table, &xa->table_nstatic);
    if (rc < 0) {
        xt_error(ctx, rc, "method table");
        goto fail;
    }
    *opaque_r = xa;
    return 0;
fail:
    free(role);
    svc_fini(xa);
    return rc;
}

static const char *const config_keys[] = {
    "role_address", "hv_driver", "hv_driver_args", "guest_image",
    "master_address", "host_check_interval", "forward_timeout",
    "evacuation-batch-size", "evacuation-sr-copies", "vm-memory-mib",
    "migration-bandwidth-mib", "upgrade-hook", NULL
};

const struct pd_service xa_service = {
    .config_keys = config_keys,
    .init = svc_init,
    .handler = xa_handler,
    .stop = svc_stop,
    .fini = svc_fini,
};

