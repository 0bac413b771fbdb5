/*
 * pd_agent.c - host-local work of xm-poold: the host_local.* methods the
 * master calls on a host (authenticated with the pool secret, all in one
 * table; the source side of a migration is pd_migsrc.c), the hv driver and
 * the migration receiver behind them, and the host-to-host XML-RPC client
 * (libcurl).
 *
 * Domains are found by VM uuid through hv_list(): the hypervisor is the
 * record of what runs here, so nothing is kept that could disagree.
 */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hv.h"
#include "mig.h"
#include "pd_internal.h"
#include "pd_xenapi.h"

#define MIG_TOKEN_TTL_MS   60000

/* A migration this host receives, registered while its receiver runs. */
struct xa_mig {
    struct xa_mig *next;
    char vm[XT_UUID_STRLEN + 1];
};

/* ---- the client -------------------------------------------------------- */

struct growbuf {
    char *p;
    size_t n;
};

static size_t curl_write(char *data, size_t size, size_t nmemb, void *op)
{
    struct growbuf *b = op;
    size_t n = size * nmemb;
    char *np;

    if (b->n + n > (64u << 20))
        return 0;
    np = realloc(b->p, b->n + n + 1);
    if (!np)
        return 0;
    memcpy(np + b->n, data, n);
    b->p = np;
    b->n += n;
    b->p[b->n] = '\0';
    return n;
}

/*
 * Splits url into the address curl is given (*base_r, caller frees) and the
 * pin after '#' (*pin_r, points into url; NULL when none).  HTTPS needs a
 * pin unless tofu: the certificate's key is all that is trusted.
 */
static int split_url(struct xt_ctx *ctx, const char *url, bool tofu,
                     char **base_r, const char **pin_r)
{
    const char *hash = strchr(url, '#');
    bool tls = !strncmp(url, "https://", 8);

    *base_r = NULL;
    *pin_r = hash ? hash + 1 : NULL;
    if (!tls && strncmp(url, "http://", 7) != 0)
        return xt_error(ctx, -EINVAL, "%s: not an http(s) URL", url);
    if (tls && !tofu && (!*pin_r || strncmp(*pin_r, "sha256//", 8) != 0))
        return xt_error(ctx, -EPERM, "%s: no certificate pin for this "
                        "host", url);
    *base_r = strndup(url, hash ? (size_t)(hash - url) : strlen(url));
    return *base_r ? 0 : xt_error(ctx, -ENOMEM, "%s", url);
}

/* The options common to every host-to-host request. */
static void setup_curl(CURL *c, const char *base, const char *pin,
                       long timeout_s)
{
    curl_easy_setopt(c, CURLOPT_URL, base);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (!strncmp(base, "https://", 8)) {
        /* Self-signed certificates: the pinned key replaces the CA. */
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
        if (pin)
            curl_easy_setopt(c, CURLOPT_PINNEDPUBLICKEY, pin);
    }
}

/* libcurl's progress callback: non-zero gives the transfer up. */
static int curl_stop(void *op, curl_off_t dt, curl_off_t dn, curl_off_t ut,
                     curl_off_t un)
{
    const volatile bool *stop = op;

    (void)dt;
    (void)dn;
    (void)ut;
    (void)un;
    return stop && *stop;
}

int xa_rpc(struct xt_ctx *ctx, const char *url, const char *method,
           struct api_value *params, long timeout_s,
           struct api_value **value_r, struct api_value **failure_r)
{
    return xa_rpc_stoppable(ctx, url, method, params, timeout_s, NULL,
                            value_r, failure_r);
}

int xa_rpc_task(struct xt_ctx *ctx, const char *url, const char *method,
                struct api_value *params, long timeout_s, char **task_r,
                struct api_value **failure_r)
{
    struct api_value *res = NULL;
    int rc = xa_rpc(ctx, url, method, params, timeout_s, &res, failure_r);

    *task_r = NULL;
    if (rc == 0 && !api_value_string(res))
        rc = xt_error(ctx, -EPROTO, "%s answered no task", method);
    if (rc == 0 && !(*task_r = strdup(api_value_string(res))))
        rc = xt_error(ctx, -ENOMEM, "out of memory");
    api_value_free(res);
    return rc;
}

int xa_rpc_stoppable(struct xt_ctx *ctx, const char *url, const char *method,
                     struct api_value *params, long timeout_s,
                     const volatile bool *stop, struct api_value **value_r,
                     struct api_value **failure_r)
{
    struct growbuf resp = { NULL, 0 };
    struct curl_slist *hdr = NULL;
    struct api_value *env = NULL;
    char *body = NULL, *base = NULL;
    const char *pin;
    size_t len = 0;
    CURL *c = NULL;
    CURLcode cr;
    long status = 0;
    int rc;

    *value_r = NULL;
    if (failure_r)
        *failure_r = NULL;
    if (!params)
        return xt_error(ctx, -ENOMEM, "%s", method);
    rc = split_url(ctx, url, false, &base, &pin);
    if (rc < 0)
        goto out;
    rc = api_xmlrpc_format_call(ctx, method, params, &body, &len);
    if (rc < 0)
        goto out;
    c = curl_easy_init();
    if (!c) {
        rc = xt_error(ctx, -ENOMEM, "curl_easy_init");
        goto out;
    }
    hdr = curl_slist_append(NULL, "Content-Type: text/xml");
    setup_curl(c, base, pin, timeout_s);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, curl_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
    if (stop) {
        /* Called at least once a second, idle or not. */
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, curl_stop);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)stop);
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    }
    cr = curl_easy_perform(c);
    if (cr == CURLE_ABORTED_BY_CALLBACK) {
        rc = xt_error(ctx, -ESHUTDOWN, "%s %s: given up, the service "
                      "stops", base, method);
        goto out;
    }
    if (cr == CURLE_SSL_PINNEDPUBKEYNOTMATCH) {
        rc = xt_error(ctx, -EHOSTUNREACH, "%s %s: the host's certificate "
                      "key is not the one recorded for it (%s)", base,
                      method, pin);
        goto out;
    }
    if (cr != CURLE_OK) {
        rc = xt_error(ctx, -EHOSTUNREACH, "%s %s: %s", base, method,
                      curl_easy_strerror(cr));
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200 || !resp.p) {
        rc = xt_error(ctx, -EPROTO, "%s %s: HTTP %ld", base, method, status);
        goto out;
    }
    rc = api_xmlrpc_parse_response(ctx, resp.p, resp.n, NULL, &env);
    if (rc < 0)
        goto out;
    if (api_is_success(env)) {
        *value_r = api_value_copy(api_struct_get(env, "Value"));
        rc = *value_r ? 0 : xt_error(ctx, -ENOMEM, "%s", method);
    } else {
        rc = xt_error(ctx, -EREMOTEIO, "%s %s: %s", base, method,
                      api_failure_code(env) ? api_failure_code(env)
                      : "malformed answer");
        if (failure_r) {
            *failure_r = env;
            env = NULL;
        }
    }
out:
    api_value_free(params);
    api_value_free(env);
    curl_slist_free_all(hdr);
    if (c)
        curl_easy_cleanup(c);
    free(resp.p);
    free(body);
    free(base);
    return rc;
}

int xa_peer_pin(struct xt_ctx *ctx, const char *url,
                char pin[PD_TLS_PIN_STRLEN + 1])
{
    struct growbuf resp = { NULL, 0 };
    struct curl_certinfo *ci = NULL;
    struct curl_slist *sl;
    const char *nopin, *pem = NULL;
    char *base = NULL;
    CURL *c = NULL;
    CURLcode cr;
    int rc;

    rc = split_url(ctx, url, true, &base, &nopin);
    if (rc < 0)
        goto out;
    c = curl_easy_init();
    if (!c) {
        rc = xt_error(ctx, -ENOMEM, "curl_easy_init");
        goto out;
    }
    setup_curl(c, base, NULL, 10L);
    curl_easy_setopt(c, CURLOPT_CERTINFO, 1L);
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, curl_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
    cr = curl_easy_perform(c);
    if (cr != CURLE_OK) {
        rc = xt_error(ctx, -EHOSTUNREACH, "%s: %s", base,
                      curl_easy_strerror(cr));
        goto out;
    }
    if (curl_easy_getinfo(c, CURLINFO_CERTINFO, &ci) == CURLE_OK && ci &&
        ci->num_of_certs > 0)
        for (sl = ci->certinfo[0]; sl && !pem; sl = sl->next)
            if (!strncmp(sl->data, "Cert:", 5))
                pem = sl->data + 5;
    if (!pem) {
        rc = xt_error(ctx, -EPROTO, "%s: no certificate", base);
        goto out;
    }
    rc = pd_tls_pin_pem(ctx, base, pem, pin);
out:
    if (c)
        curl_easy_cleanup(c);
    free(resp.p);
    free(base);
    return rc;
}

int xa_url_of(struct xa *xa, struct xt_ctx *ctx, const char *addr,
              char url[XA_URL_MAX])
{
    const struct pd_config *cfg = xa->cfg;
    bool has_port = strchr(addr, ':') && !strchr(strchr(addr, ':') + 1, ':');
    bool tls = !cfg->http_enabled;
    unsigned port = tls ? cfg->port : cfg->http_port;
    int n;

    if (!port)
        return xt_error(ctx, -ENOTSUP, "host-to-host calls need a fixed "
                        "%s", tls ? "port" : "http_port");
    if (has_port)
        n = snprintf(url, XA_URL_MAX, "%s://%s/", tls ? "https" : "http",
                     addr);
    else
        n = snprintf(url, XA_URL_MAX, "%s://%s:%u/", tls ? "https" : "http",
                     addr, port);
    if (n < 0 || n >= XA_URL_MAX)
        return xt_error(ctx, -ENAMETOOLONG, "address %s", addr);
    return 0;
}

int xa_host_url(struct xa *xa, struct pool_db *db, const char *host,
                char **url_r)
{
    struct pool_value oc = { 0 };
    const char *u;
    int rc;

    *url_r = NULL;
    rc = pool_db_get_field(db, POOL_CLASS_HOST, host, "other_config", &oc);
    if (rc < 0)
        return rc;
    u = pool_value_map_get(&oc, "xm:url");
    *url_r = strdup(u ? u : "");
    pool_value_clear(&oc);
    return *url_r ? 0 : -ENOMEM;
}

/* ---- hv helpers -------------------------------------------------------- */

int xa_hv_open(struct xa *xa, struct xt_ctx *ctx, struct hv_handle **h_r)
{
    return hv_open(ctx, xa->hv_driver, xa->hv_args, h_r);
}

int xa_find_domain(struct hv_handle *h, const char *vm_uuid,
                   uint32_t *domid_r, enum hv_run_state *state_r)
{
    struct hv_domain_info *infos = NULL;
    char u[XT_UUID_STRLEN + 1];
    size_t i, n = 0;
    int rc;

    rc = hv_list(h, &infos, &n);
    if (rc < 0)
        return rc;
    rc = -ENOENT;
    for (i = 0; i < n; i++) {
        xt_uuid_format(&infos[i].uuid, u);
        if (!strcasecmp(u, vm_uuid) && infos[i].state != HV_STATE_DYING &&
            infos[i].state != HV_STATE_SHUTDOWN) {
            *domid_r = infos[i].domid;
            if (state_r)
                *state_r = infos[i].state;
            rc = 0;
            break;
        }
    }
    free(infos);
    return rc;
}

int xa_check_secret(struct api_call_ctx *call,
                    const struct api_value *params,
                    struct api_value **result_r)
{
    const char *s = xa_param_str(params, 0);

    if (!s || !pd_pool_secret_check(xa_call_of(call)->xa->auth, s)) {
        *result_r = api_failure("PERMISSION_DENIED", "pool secret", NULL);
        return xt_error(call->xt, -EACCES, "wrong pool secret");
    }
    return 0;
}

static int int_member(const struct api_value *st, const char *key,
                      int64_t *v_r)
{
    const struct api_value *v = api_struct_get(st, key);

    return v ? api_value_get_int64(v, v_r) : -ENOENT;
}

static void mig_register(struct xa *xa, struct xa_mig *m)
{
    pthread_mutex_lock(&xa->lock);
    m->next = xa->migs;
    xa->migs = m;
    pthread_mutex_unlock(&xa->lock);
}

static void mig_unregister(struct xa *xa, struct xa_mig *m)
{
    struct xa_mig **pp;

    pthread_mutex_lock(&xa->lock);
    for (pp = &xa->migs; *pp; pp = &(*pp)->next)
        if (*pp == m) {
            *pp = m->next;
            break;
        }
    pthread_mutex_unlock(&xa->lock);
}

bool xa_receiving(struct xa *xa, const char *uuid)
{
    struct xa_mig *m;
    bool r = false;

    pthread_mutex_lock(&xa->lock);
    for (m = xa->migs; m; m = m->next)
        if (!strcasecmp(m->vm, uuid))
            r = true;
    pthread_mutex_unlock(&xa->lock);
    return r;
}

/* ---- host_local.* ------------------------------------------------------ */

int xa_local_hello(struct api_call_ctx *call, const struct api_value *params,
                   struct api_value **result_r)
{
    struct xa *xa = xa_call_of(call)->xa;
    struct api_value *r, *cpu = NULL;
    uint64_t tot, fr;
    int rc = xa_check_secret(call, params, result_r);

    if (rc < 0)
        return rc;
    xa_memory(xa, &tot, &fr);
    r = api_struct();
    rc = api_struct_add(r, "uuid", api_string(xa->host_uuid));
    rc = rc ?: api_struct_add(r, "address", api_string(xa->role_address));
    rc = rc ?: api_struct_add(r, "url", api_string(xa->self_url));
    rc = rc ?: api_struct_add(r, "memory_total", api_int((int64_t)tot));
    rc = rc ?: api_struct_add(r, "memory_free", api_int((int64_t)fr));
    rc = rc ?: api_struct_add(r, "version", api_string(xa_version()));
    rc = rc ?: api_struct_add(r, "migration_bandwidth",
                              api_int((int64_t)mig_limit_rate(
                                  xa->link_limit)));
    rc = rc ?: api_struct_add(r, "started", api_int(xa->started));
    /* Its processors (host_cpu), when it can say. */
    if (rc == 0 && xa_cpu_info(call->xt, &cpu) == 0)
        rc = api_struct_add(r, "cpu_info", cpu);
    else if (rc == 0)
        xt_error_clear(call->xt);
    if (rc < 0) {
        api_value_free(r);
        return xt_error(call->xt, rc, "hello");
    }
    *result_r = r;
    return 0;
}

int xa_local_vm_start(struct api_call_ctx *call,
                      const struct api_value *params,
                      struct api_value **result_r)
{
    struct xa *xa = xa_call_of(call)->xa;
    const char *uuid = xa_param_str(params, 1);
    const struct api_value *spec = api_array_get(params, 2);
    const char *kernel = NULL, *cmdline = NULL, *name = NULL;
    struct hv_boot_spec bs = { 0 };
    struct hv_handle *h = NULL;
    struct xa_blk_set set;
    const char *held = NULL;
    int64_t mem = 0, vcpus = 1;
    uint32_t domid;
    int rc = xa_check_secret(call, params, result_r);

    if (rc < 0)
        return rc;
    if (!uuid || xt_uuid_parse(uuid, &bs.uuid) < 0 ||
        api_value_type(spec) != API_STRUCT)
        return xt_error(call->xt, -EINVAL, "vm_start(secret, uuid, spec)");
    kernel = api_value_string(api_struct_get(spec, "kernel"));
    cmdline = api_value_string(api_struct_get(spec, "cmdline"));
    name = api_value_string(api_struct_get(spec, "name"));
    int_member(spec, "memory", &mem);
    int_member(spec, "vcpus", &vcpus);
    if (mem < (int64_t)HV_PAGE_SIZE * 256 || vcpus < 1 || vcpus > 64)
        return xt_error(call->xt, -EINVAL, "memory %lld, vcpus %lld",
                        (long long)mem, (long long)vcpus);
    bs.name = name;
    bs.nr_pages = (uint64_t)mem / HV_PAGE_SIZE;
    bs.nr_vcpus = (uint32_t)vcpus;
    bs.kernel = kernel && *kernel ? kernel : xa->guest_image;
    bs.cmdline = cmdline;
    bs.ramdisk = api_value_string(api_struct_get(spec, "ramdisk"));
    bs.guest_type = api_value_string(api_struct_get(spec, "guest_type"));
    rc = xa_hv_open(xa, call->xt, &h);
    if (rc < 0)
        return rc;
    if (xa_find_domain(h, uuid, &domid, NULL) == 0) {
        rc = xt_error(call->xt, -EEXIST, "VM %s already runs here as "
                      "domain %u", uuid, domid);
        goto out;
    }
    /* Its disks' block services first; the lock keeps a reap from
     * stopping them before the VM runs. */
    pthread_mutex_lock(&xa->blk_lock);
    rc = xa_blk_start(xa, call->xt, uuid, api_struct_get(spec, "disks"),
                      &set);
    bs.disks = set.disks;
    bs.nr_disks = set.n;
    rc = rc ?: hv_boot(h, &bs, &domid);
    if (rc < 0)
        xa_blk_stop(xa, call->xt, uuid);
    pthread_mutex_unlock(&xa->blk_lock);
    /* A disk another host's VM writes (a start that raced the master's
     * check): the VMM could not connect; say which, as XAPI does. */
    if (rc < 0 && xa_blk_held(call->xt, api_struct_get(spec, "disks"),
                              &held) == 1) {
        /* The boot's own error stays reported; the answer names why. */
        *result_r = api_failure("VDI_IN_USE", held, "start", NULL);
        xt_info(call->xt, "VM %s: its VDI %s is in use elsewhere", uuid,
                held);
    }
    if (rc < 0)
        goto out;
    *result_r = api_int(domid);
out:
    hv_close(h);
    return rc;
}

int xa_local_vm_shutdown(struct api_call_ctx *call,
                         const struct api_value *params,
                         struct api_value **result_r)
{
    struct xa *xa = xa_call_of(call)->xa;
    const char *uuid = xa_param_str(params, 1);
    struct hv_handle *h = NULL;
    uint32_t domid;
    int rc = xa_check_secret(call, params, result_r);

    if (rc < 0)
        return rc;
    if (!uuid)
        return xt_error(call->xt, -EINVAL, "vm_shutdown(secret, uuid, hard)");
    rc = xa_hv_open(xa, call->xt, &h);
    if (rc < 0)
        return rc;
    /* No guest shutdown protocol exists yet: clean and hard both destroy
     * the domain. */
    if (xa_find_domain(h, uuid, &domid, NULL) == 0)
        rc = hv_destroy(h, domid);
    hv_close(h);
    /* The disks' block services go with the domain (after it: the
     * VMM has flushed and let go). */
    if (rc == 0)
        xa_blk_stop(xa, call->xt, uuid);
    if (rc == 0)
        *result_r = api_void();
    return rc;
}

int xa_domain_here(struct api_call_ctx *call, const char *vm,
                   enum hv_cap cap, const char *cannot,
                   struct hv_handle **h_r, uint32_t *domid_r,
                   struct api_value **result_r)
{
    struct xa *xa = xa_call_of(call)->xa;
    char why[160];
    int rc = xa_hv_open(xa, call->xt, h_r);

    if (rc < 0)
        return rc;
    if (xa_find_domain(*h_r, vm, domid_r, NULL) < 0) {
        rc = xt_error(call->xt, -ENOENT, "VM %s does not run here", vm);
    } else if (!hv_has(*h_r, cap)) {
        snprintf(why, sizeof(why), "this host's hypervisor driver cannot "
                 "%s", cannot);
        *result_r = api_failure("OPERATION_NOT_ALLOWED", why, NULL);
        rc = xt_error(call->xt, -ENOTSUP, "driver %s cannot %s",
                      hv_name(*h_r), cannot);
    }
    if (rc < 0) {
        hv_close(*h_r);
        *h_r = NULL;
    }
    return rc;
}

/*
 * host_local.vm_disk_plug(secret, vm, disk): a disk for VM vm, running
 * here, while it runs: its block service, then the VMM shows it to the
 * guest.  disk is one of xa_vm_disks' list, with its device number.
 */
int xa_local_vm_disk_plug(struct api_call_ctx *call,
                          const struct api_value *params,
                          struct api_value **result_r)
{
    struct xa *xa = xa_call_of(call)->xa;
    const char *uuid = xa_param_str(params, 1);
    const struct api_value *disk = api_array_get(params, 2);
    char uri[PATH_MAX + 32];
    struct hv_handle *h = NULL;
    struct hv_disk hd = { 0 };
    const char *held = NULL;
    uint32_t domid;
    int rc = xa_check_secret(call, params, result_r);

    if (rc < 0)
        return rc;
    if (!uuid || api_value_type(disk) != API_STRUCT)
        return xt_error(call->xt, -EINVAL, "vm_disk_plug(secret, uuid, "
                        "disk)");
    rc = xa_domain_here(call, uuid, HV_CAP_DISK_HOTPLUG, "hot-plug disks",
                        &h, &domid, result_r);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&xa->blk_lock);
    rc = xa_blk_start_disk(xa, call->xt, uuid, disk, &hd, uri, sizeof(uri));
    rc = rc ?: hv_disk_plug(h, domid, &hd);
    if (rc < 0 && hd.slot)
        xa_blk_stop_disk(xa, call->xt, uuid, hd.slot - 1);
    pthread_mutex_unlock(&xa->blk_lock);
    if (rc < 0 && (rc == -EBUSY || rc == -ECONNREFUSED || rc == -EIO)) {
        struct api_value *one = api_array();

        /* A writer elsewhere holds the VDI: say which, as XAPI does. */
        if (api_array_append(one, api_value_copy(disk)) == 0 &&
            xa_blk_held(call->xt, one, &held) == 1)
            *result_r = api_failure("VDI_IN_USE", held, "plug", NULL);
        api_value_free(one);
    }
    if (rc == 0) {
        xt_info(call->xt, "VM %s: disk %u plugged (%s)", uuid, hd.slot - 1,
                hd.uri);
        *result_r = api_void();
    }
    hv_close(h);
    return rc;
}

/*
 * host_local.vm_disk_unplug(secret, vm, device, force, vbd): asks the
 * guest of VM vm to release disk number device (force: takes it away at
 * once), then stops its block service.  vbd names the disk in the
 * failures.
 */
int xa_local_vm_disk_unplug(struct api_call_ctx *call,
                            const struct api_value *params,
                            struct api_value **result_r)
{
    struct xa *xa = xa_call_of(call)->xa;
    const char *uuid = xa_param_str(params, 1);
    const char *vbd = xa_param_str(params, 4);
    struct hv_handle *h = NULL;
    int64_t device = -1;
    bool force = false;
    uint32_t domid;
    int rc = xa_check_secret(call, params, result_r);

    if (rc < 0)
        return rc;
    if (!uuid || !vbd ||
        api_value_get_int64(api_array_get(params, 2), &device) < 0 ||
        api_value_get_bool(api_array_get(params, 3), &force) < 0 ||
        device < 0 || device >= HV_MAX_DISKS)
        return xt_error(call->xt, -EINVAL, "vm_disk_unplug(secret, uuid, "
                        "device, force, vbd)");
    rc = xa_domain_here(call, uuid, HV_CAP_DISK_HOTPLUG, "hot-unplug disks",
                        &h, &domid, result_r);
    if (rc < 0)
        return rc;
    rc = hv_disk_unplug(h, domid, (unsigned)device + 1,
                        force ? HV_UNPLUG_FORCE : 0, 0);
    if (rc == -ENODEV) {
        /* Gone already (an earlier unplug whose answer was lost). */
        xt_error_clear(call->xt);
        rc = 0;
    }
    if (rc == -EBUSY)
        *result_r = api_failure("DEVICE_DETACH_REJECTED", "VBD", vbd,
                                call->xt->err_msg, NULL);
    else if (rc == -ETIMEDOUT)
        *result_r = api_failure("DEVICE_DETACH_TIMEOUT", "VBD", vbd, NULL);
    if (rc < 0)
        goto out;
    /* The VMM has flushed and closed it: the backend can go. */
    pthread_mutex_lock(&xa->blk_lock);
    xa_blk_stop_disk(xa, call->xt, uuid, (unsigned)device);
    pthread_mutex_unlock(&xa->blk_lock);
    xt_info(call->xt, "VM %s: disk %lld unplugged%s", uuid,
            (long long)device, force ? " (forced)" : "");
    *result_r = api_void();
out:
    hv_close(h);
    return rc;
}

int xa_local_vm_status(struct api_call_ctx *call,
                       const struct api_value *params,
                       struct api_value **result_r)
{
    struct xa *xa = xa_call_of(call)->xa;
    const char *uuid = xa_param_str(params, 1);
    struct hv_guest_stats gs = { 0 };
    enum hv_run_state st = HV_STATE_SHUTDOWN;
    struct hv_domain_info info;
    struct hv_handle *h = NULL;
    struct api_value *r;
    uint32_t domid = 0;
    bool running, logdirty = false, sending, receiving;
    int rc = xa_check_secret(call, params, result_r);

    if (rc < 0)
        return rc;
    if (!uuid)
        return xt_error(call->xt, -EINVAL, "vm_status(secret, uuid)");
    rc = xa_hv_open(xa, call->xt, &h);
    if (rc < 0)
        return rc;
    running = xa_find_domain(h, uuid, &domid, &st) == 0;
    if (running && hv_has(h, HV_CAP_GUEST_STATS))
        hv_guest_stats(h, domid, &gs);
    if (running && hv_info(h, domid, &info) == 0)
        logdirty = info.logdirty;
    hv_close(h);
    sending = xa_src_sending(xa, uuid);
    receiving = xa_receiving(xa, uuid);
    r = api_struct();
    rc = api_struct_add(r, "running", api_bool(running));
    rc = rc ?: api_struct_add(r, "domid",
                              api_int(running ? (int64_t)domid : -1));
    rc = rc ?: api_struct_add(r, "state", api_string(running ?
                              hv_run_state_name(st) : "none"));
    rc = rc ?: api_struct_add(r, "heartbeats", api_int((int64_t)
                                                       gs.hb_count));
    rc = rc ?: api_struct_add(r, "hb_last_seq",
                              api_int((int64_t)gs.hb_last_seq));
    rc = rc ?: api_struct_add(r, "hb_seq_breaks",
                              api_int((int64_t)gs.hb_seq_breaks));
    rc = rc ?: api_struct_add(r, "mismatches",
                              api_int((int64_t)gs.mismatches));
    rc = rc ?: api_struct_add(r, "pages_written",
                              api_int((int64_t)gs.pages_written));
    rc = rc ?: api_struct_add(r, "disk_writes",
                              api_int((int64_t)gs.disk_writes));
    rc = rc ?: api_struct_add(r, "disk_reads",
                              api_int((int64_t)gs.disk_reads));
    rc = rc ?: api_struct_add(r, "disk_mismatches",
                              api_int((int64_t)gs.disk_mismatches));
    rc = rc ?: api_struct_add(r, "disk_errors",
                              api_int((int64_t)gs.disk_errors));
    rc = rc ?: api_struct_add(r, "disk_hp_attached",
                              api_int((int64_t)gs.disk_hp_attached));
    rc = rc ?: api_struct_add(r, "disk_hp_ejected",
                              api_int((int64_t)gs.disk_hp_ejected));
    rc = rc ?: api_struct_add(r, "disk_hp_refused",
                              api_int((int64_t)gs.disk_hp_refused));
    rc = rc ?: api_struct_add(r, "disk_hp_stamps",
                              api_int((int64_t)gs.disk_hp_stamps));
    rc = rc ?: api_struct_add(r, "disk_hp_slots",
                              api_int((int64_t)gs.disk_hp_slots));
    rc = rc ?: api_struct_add(r, "idle_sleeps",
                              api_int((int64_t)gs.idle_sleeps));
    rc = rc ?: api_struct_add(r, "idle_ms",
                              api_int((int64_t)(gs.idle_ns / 1000000)));
    rc = rc ?: api_struct_add(r, "logdirty", api_bool(logdirty));
    rc = rc ?: api_struct_add(r, "sending", api_bool(sending));
    rc = rc ?: api_struct_add(r, "receiving", api_bool(receiving));
    rc = rc ?: api_struct_add(r, "migrating", api_bool(sending ||
                                                       receiving));
    if (rc < 0) {
        api_value_free(r);
        return xt_error(call->xt, rc, "vm_status");
    }
    *result_r = r;
    return 0;
}

/* The receiver of one migration, on its own thread. */
struct recv_job {
    struct xa_mig mig;              /* registered while it runs */
    struct xa *xa;
    struct hv_handle *h;
    int fd;
    char token[2 * 16 + 1];
    struct xt_uuid vm_uuid;         /* what the token is good for */
    uint64_t nr_pages;
    char *cert_pem, *key_pem;       /* this host's TLS identity */
    struct xa_blk_set disks;        /* the VM's block services here */
};

static void recv_job_free(struct recv_job *j)
{
    if (!j)
        return;
    if (j->fd >= 0)
        close(j->fd);
    hv_close(j->h);
    free(j->cert_pem);
    if (j->key_pem)
        pd_wipe(j->key_pem, strlen(j->key_pem));
    free(j->key_pem);
    free(j);
}

static void *recv_main(void *p)
{
    struct recv_job *j = p;
    struct xa *xa = j->xa;
    struct xt_ctx *ctx = xa_thread(xa) ? xa_thread(xa)->ctx : NULL;
    struct mig_recv_opts o;
    struct mig_stats st = { 0 };
    struct hv_handle *view = NULL;
    int rc;

    mig_recv_opts_init(&o);
    o.token = j->token;
    o.vm_uuid = j->vm_uuid;
    o.nr_pages = j->nr_pages;
    o.chan.cert_pem = j->cert_pem;
    o.chan.key_pem = j->key_pem;
    o.accept_ms = MIG_TOKEN_TTL_MS;
    /* The service's stop ends the wait for the sender, and the receive
     * itself up to COMMIT. */
    o.stop_fd = xa->stop_fd;
    o.disks = j->disks.disks;
    o.nr_disks = j->disks.n;
    /* The handle was opened by the request's thread: this thread works
     * on a view of it that reports into its own context. */
    if (ctx && hv_view(j->h, ctx, &view) == 0) {
        rc = mig_receive(ctx, view, j->fd, &o, &st);
        xt_info(ctx, "migration received: rc %d, domain %u", rc,
                st.dst_domid);
    }
    mig_unregister(xa, &j->mig);
    hv_close(view);
    /* A VM not received leaves no block service behind. */
    if (ctx && j->disks.n)
        xa_blk_reap(xa, ctx);
    recv_job_free(j);
    xa_worker_done(xa);
    return NULL;
}

int xa_local_migrate_prepare(struct api_call_ctx *call,
                             const struct api_value *params,
                             struct api_value **result_r)
{
    struct xa *xa = xa_call_of(call)->xa;
    struct recv_job *j = NULL;
    const char *laddr = xa->role_address;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    unsigned char rnd[16];
    struct api_value *r = NULL;
    char pin[MIG_PIN_STRLEN + 1];
    pthread_attr_t attr;
    pthread_t th;
    unsigned port = 0;
    int64_t pages = 0;
    size_t i;
    int rc = xa_check_secret(call, params, result_r);

    if (rc < 0)
        return rc;
    j = calloc(1, sizeof(*j));
    if (!j)
        return xt_error(call->xt, -ENOMEM, "migrate_prepare");
    j->xa = xa;
    j->fd = -1;
    if (!xa_param_str(params, 1) ||
        xt_uuid_parse(xa_param_str(params, 1), &j->vm_uuid) < 0 ||
        api_value_get_int64(api_array_get(params, 2), &pages) < 0 ||
        pages <= 0) {
        free(j);
        return xt_error(call->xt, -EINVAL, "migrate_prepare(secret, "
                        "vm_uuid, nr_pages, vcpus)");
    }
    /* The token is good for this VM, of this size, only. */
    j->nr_pages = (uint64_t)pages;
    snprintf(j->mig.vm, sizeof(j->mig.vm), "%s", xa_param_str(params, 1));
    if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
        rc = xt_error(call->xt, -EIO, "getrandom");
        goto fail;
    }
    for (i = 0; i < sizeof(rnd); i++)
        sprintf(j->token + 2 * i, "%02x", rnd[i]);
    if (api_value_count(params) > 4) {
        laddr = xa_param_str(params, 4);
        if (!laddr || strlen(laddr) > 255) {
            rc = xt_error(call->xt, -EINVAL, "migrate_prepare: address");
            goto fail;
        }
        if (!*laddr)
            laddr = xa->role_address;
    }
    /* The channel is TLS with this host's identity, whose key the sender
     * pins (the master hands it the pin we answer). */
    rc = pd_read_file(call->xt, xa->cfg->tls_cert, 64 << 10, false,
                      &j->cert_pem, NULL);
    rc = rc ?: pd_read_file(call->xt, xa->cfg->tls_key, 64 << 10, false,
                            &j->key_pem, NULL);
    rc = rc ?: mig_tls_pin(call->xt, j->cert_pem, pin);
    rc = rc ?: xa_hv_open(xa, call->xt, &j->h);
    rc = rc ?: mig_listen(call->xt, laddr, "0", &j->fd);
    if (rc < 0)
        goto fail;
    if (getsockname(j->fd, (struct sockaddr *)&ss, &sl) < 0) {
        rc = xt_error(call->xt, -errno, "getsockname");
        goto fail;
    }
    port = ntohs(ss.ss_family == AF_INET6 ?
                 ((struct sockaddr_in6 *)&ss)->sin6_port :
                 ((struct sockaddr_in *)&ss)->sin_port);
    xt_info(call->xt, "migration receiver for VM %s listening on %s "
            "port %u", j->mig.vm, laddr, port);
    r = api_struct();
    rc = api_struct_add(r, "address", api_string(laddr));
    rc = rc ?: api_struct_add(r, "port", api_int(port));
    rc = rc ?: api_struct_add(r, "token", api_string(j->token));
    rc = rc ?: api_struct_add(r, "pin", api_string(pin));
    if (rc < 0) {
        xt_error(call->xt, rc, "migrate_prepare");
        goto fail;
    }
    /* The VM's disks are served here before its sender connects; once
     * registered as received, a reap leaves them alone. */
    pthread_mutex_lock(&xa->blk_lock);
    rc = xa_blk_start(xa, call->xt, j->mig.vm, api_array_get(params, 5),
                      &j->disks);
    if (rc == 0)
        mig_register(xa, &j->mig);
    pthread_mutex_unlock(&xa->blk_lock);
    if (rc < 0)
        goto fail;
    xa_thread_enter(xa);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = -pthread_create(&th, &attr, recv_main, j);
    pthread_attr_destroy(&attr);
    if (rc < 0) {
        xa_thread_leave(xa);
        mig_unregister(xa, &j->mig);
        xt_error(call->xt, rc, "receiver thread");
        goto fail;
    }
    *result_r = r;
    return 0;
fail:
    if (j->disks.n)
        xa_blk_stop(xa, call->xt, j->mig.vm);
    api_value_free(r);
    recv_job_free(j);
    return rc;
}

/* On the master: a source reports a migration's progress. */
int xa_local_task_progress(struct api_call_ctx *call,
                           const struct api_value *params,
                           struct api_value **result_r)
{
    struct xa_call *xc = xa_call_of(call);
    const char *task = xa_param_str(params, 1);
    double p;
    int rc = xa_check_secret(call, params, result_r);

    if (rc < 0)
        return rc;
    if (!task || api_value_get_double(api_array_get(params, 2), &p) < 0 ||
        !(p >= 0 && p <= 1))
        return xt_error(call->xt, -EINVAL, "task_progress(secret, task, p)");
    if (!xc->db)
        return xt_error(call->xt, -EPERM, "not the master");
    xa_task_progress(xc->xa, xc->db, task, p);
    /* Optional figures (bytes, rate, round, ETA) into other_config. */
    if (api_value_count(params) > 3) {
        const struct api_value *d = api_array_get(params, 3);
        size_t i;

        for (i = 0; i < api_value_count(d); i++) {
            const char *k = api_struct_key(d, i);
            const char *v = api_value_string(api_struct_value(d, i));

            if (k && v && !strncmp(k, "mig:", 4))
                pool_db_map_put(xc->db, POOL_CLASS_TASK, task,
                                "other_config", k, v, POOL_DB_INTERNAL);
        }
    }
    *result_r = api_void();
    return 0;
}

static int host_call(struct xa *xa, struct xt_ctx *ctx, const char *url,
                     const char *method, struct api_value *params,
                     long timeout_s, const volatile bool *stop,
                     struct api_value **value_r,
                     struct api_value **failure_r)
{
    char secret[PD_POOL_SECRET_LEN + 1];
    struct api_value *full = api_array();
    size_t i;
    int rc;

    pd_pool_secret_get(xa->auth, secret);
    rc = api_array_append(full, api_string(secret));
    pd_wipe(secret, sizeof(secret));
    for (i = 0; rc == 0 && i < api_value_count(params); i++)
        rc = api_array_append(full,
                              api_value_copy(api_array_get(params, i)));
    api_value_free(params);
    if (rc < 0) {
        api_value_free(full);
        *value_r = NULL;
        if (failure_r)
            *failure_r = NULL;
        return xt_error(ctx, -ENOMEM, "%s", method);
    }
    if (!strcmp(url, xa->self_url)) {
        /* Ourselves: run the agent method without HTTP. */
        const struct api_method *m;
        struct xa_call xc = { .xa = xa };
        struct api_value *env = NULL;

        for (m = xa_host_local_methods; m->name; m++)
            if (!strcmp(m->name, method))
                break;
        xc.api.xt = ctx;
        xc.api.daemon = &xc;
        xc.api.method = method;
        if (!m->name || api_value_count(full) < (size_t)m->nparams ||
            api_value_count(full) > (size_t)(m->nparams_max ?
                                             m->nparams_max : m->nparams)) {
            api_value_free(full);
            return xt_error(ctx, -EINVAL, "%s: bad local call", method);
        }
        if (xa_is_master(xa))
            xa_db(xa, &xc.db);
        rc = api_invoke(m, &xc.api, full, &env);
        api_value_free(full);
        *value_r = NULL;
        if (failure_r)
            *failure_r = NULL;
        if (rc < 0)
            return rc;
        if (api_is_success(env)) {
            *value_r = api_value_copy(api_struct_get(env, "Value"));
            api_value_free(env);
            return 0;
        }
        rc = ctx->err_rc ? ctx->err_rc : -EREMOTEIO;
        if (failure_r)
            *failure_r = env;
        else
            api_value_free(env);
        return rc < 0 ? rc : -EREMOTEIO;
    }
    return xa_rpc_stoppable(ctx, url, method, full, timeout_s, stop,
                            value_r, failure_r);
}

int xa_host_call(struct xa *xa, struct xt_ctx *ctx, const char *url,
                 const char *method, struct api_value *params,
                 long timeout_s, struct api_value **value_r,
                 struct api_value **failure_r)
{
    return host_call(xa, ctx, url, method, params, timeout_s, NULL, value_r,
                     failure_r);
}

int xa_host_ask(struct xa *xa, struct xt_ctx *ctx, const char *url,
                const char *method, struct api_value *params,
                long timeout_s, struct api_value **value_r,
                struct api_value **failure_r)
{
    return host_call(xa, ctx, url, method, params, timeout_s, &xa->stopping,
                     value_r, failure_r);
}
