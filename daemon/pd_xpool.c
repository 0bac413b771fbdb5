/*
 * pd_xpool.c - the source pool's half of a migration to another pool
 * (VM.migrate_send with the dest of that pool's Host.migrate_receive;
 * docs/design/storage-motion.md, "To another pool").
 *
 * The master drives it as a migration of its own pool (pd_migrate.c,
 * pd_motion.c, pd_settle.c) whose destination's side is that pool's
 * master, called with the session its client opened there: VM.xm_import_*
 * (pd_import.c) makes the VM record, the new VDIs and their exports,
 * gives the receiver, says what the destination host has, and hears the
 * outcome once.  The journal JOURNAL_DIR/xpool.OP keeps what is needed
 * to reach that pool and the outcome still to tell it, so that a
 * restarted master tells it.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pd_xenapi.h"

#define XPOOL_TIMEOUT_S 60
#define JOURNAL_PREFIX  "xpool."

static struct pool_db *dbof(struct api_call_ctx *call)
{
    return xa_call_of(call)->db;
}

int xa_pool_uuid(struct pool_db *db, char **uuid_r)
{
    struct pool_strv pools = { 0 };
    int rc = pool_db_get_all(db, POOL_CLASS_POOL, &pools);

    if (rc == 0 && pools.n != 1)
        rc = -ENOENT;
    rc = rc ?: xa_field_str(db, POOL_CLASS_POOL, pools.v[0], "uuid",
                            uuid_r);
    pool_strv_free(&pools);
    return rc;
}

static bool fits(const char *s, size_t size)
{
    return s && *s && strlen(s) < size && !strchr(s, '\n');
}

int xa_xpool_of_dest(struct api_call_ctx *call, const struct api_value *dest,
                     struct xa_xpool *xp, struct api_value **result_r)
{
    const char *pool = api_value_string(api_struct_get(dest, "xm:pool"));
    const char *url = api_value_string(api_struct_get(dest, "xm:master"));
    const char *ses = api_value_string(api_struct_get(dest, "xm:session"));
    const char *host = api_value_string(api_struct_get(dest, "xm:host"));
    const char *net = api_value_string(api_struct_get(dest, "xm:network"));
    char *ours = NULL;
    int rc;

    if (!pool)
        return 0;               /* a dest of this pool */
    rc = xa_pool_uuid(dbof(call), &ours);
    if (rc < 0)
        return xt_error(call->xt, rc, "this pool's uuid");
    rc = strcmp(pool, ours) != 0;
    free(ours);
    if (!rc)
        return 0;
    if (!fits(url, sizeof(xp->url)) || !fits(ses, sizeof(xp->session)) ||
        !fits(pool, sizeof(xp->pool)) || !fits(host, sizeof(xp->host)) ||
        (net && !fits(net, sizeof(xp->network)))) {
        *result_r = api_failure("INVALID_VALUE", "dest", "another pool's "
                                "Host.migrate_receive names its master, "
                                "session and host", NULL);
        return xt_error(call->xt, -EINVAL, "dest: xm:master, xm:session, "
                        "xm:host");
    }
    memset(xp, 0, sizeof(*xp));
    snprintf(xp->url, sizeof(xp->url), "%s", url);
    snprintf(xp->session, sizeof(xp->session), "%s", ses);
    snprintf(xp->pool, sizeof(xp->pool), "%s", pool);
    snprintf(xp->host, sizeof(xp->host), "%s", host);
    snprintf(xp->network, sizeof(xp->network), "%s", net ? net : "");
    return 1;
}

/* ---- the journal --------------------------------------------------------- */

static int journal_path(struct xa *xa, const char *op, char *buf,
                        size_t size)
{
    if (strchr(op, '/') || *op == '.' ||
        (size_t)snprintf(buf, size, "%s/" JOURNAL_PREFIX "%s",
                         xa->journal_dir, op) >= size)
        return -EINVAL;
    return 0;
}

static int journal_write(struct xa *xa, struct xt_ctx *ctx, const char *op,
                         const struct xa_xpool *xp)
{
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    int fd, rc = journal_path(xa, op, path, sizeof(path));

    if (rc < 0)
        return xt_error(ctx, rc, "journal of %s", op);
    mkdir(xa->journal_dir, 0700);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return xt_error(ctx, -errno, "%s", tmp);
    if (dprintf(fd, "url %s\nsession %s\npool %s\nhost %s\nnetwork %s\n"
                "op %s\nend %s\n", xp->url, xp->session, xp->pool, xp->host,
                xp->network, xp->op, xp->end) < 0 || fsync(fd) < 0)
        rc = -errno;
    close(fd);
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc < 0) {
        unlink(tmp);
        return xt_error(ctx, rc, "%s", path);
    }
    return 0;
}

int xa_xpool_save(struct api_call_ctx *call, const char *op,
                  struct xa_xpool *xp)
{
    char *ours = NULL;
    int rc = xa_pool_uuid(dbof(call), &ours);

    if (rc < 0)
        return xt_error(call->xt, rc, "this pool's uuid");
    /* The import's key there: ours would not be unique across pools. */
    snprintf(xp->op, sizeof(xp->op), "%s/%s", ours, op);
    free(ours);
    return journal_write(xa_call_of(call)->xa, call->xt, op, xp);
}

int xa_xpool_load(struct xa *xa, struct xt_ctx *ctx, const char *op,
                  struct xa_xpool *xp)
{
    static const struct {
        const char *key;
        size_t off, size;
    } keys[] = {
#define K(k, f) { k, offsetof(struct xa_xpool, f), \
                  sizeof(((struct xa_xpool *)0)->f) }
        K("url", url), K("session", session), K("pool", pool),
        K("host", host), K("network", network), K("op", op), K("end", end),
#undef K
    };
    char path[PATH_MAX], line[XA_URL_MAX + 32];
    FILE *f;
    size_t i;
    int rc = journal_path(xa, op, path, sizeof(path));

    if (rc < 0)
        return xt_error(ctx, rc, "journal of %s", op);
    f = fopen(path, "re");
    if (!f)
        return -errno;          /* ENOENT: none (told already) */
    memset(xp, 0, sizeof(*xp));
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
            size_t k = strlen(keys[i].key);

            if (!strncmp(line, keys[i].key, k) && line[k] == ' ')
                snprintf((char *)xp + keys[i].off, keys[i].size, "%s",
                         line + k + 1);
        }
    }
    fclose(f);
    if (!xp->url[0] || !xp->session[0] || !xp->op[0] || !xp->host[0])
        return xt_error(ctx, -EBADMSG, "%s: incomplete", path);
    return 0;
}

void xa_xpool_drop(struct xa *xa, const char *op)
{
    char path[PATH_MAX];

    if (journal_path(xa, op, path, sizeof(path)) == 0)
        unlink(path);
}

/* ---- calls to the other pool ------------------------------------------- */

/* METHOD(session, op, params...) on its master; params taken. */
static int rcall(struct xt_ctx *ctx, const struct xa_xpool *xp,
                 const char *method, struct api_value *params,
                 struct api_value **v_r, struct api_value **fail_r)
{
    struct api_value *full = api_array();
    size_t i;
    int rc;

    rc = api_array_append(full, api_string(xp->session));
    rc = rc ?: api_array_append(full, api_string(xp->op));
    for (i = 0; rc == 0 && params && i < api_value_count(params); i++)
        rc = api_array_append(full, api_value_copy(api_array_get(params,
                                                                 i)));
    api_value_free(params);
    if (rc < 0) {
        api_value_free(full);
        *v_r = NULL;
        return xt_error(ctx, -ENOMEM, "%s", method);
    }
    return xa_rpc(ctx, xp->url, method, full, XPOOL_TIMEOUT_S, v_r, fail_r);
}

/* ---- what the import needs, and the checks ----------------------------- */

/* One disk of the VM for the import: { device, SR, virtual_size,
 * name_label, mode }, or its failure appended. */
static struct api_value *import_disk(struct api_call_ctx *call,
                                     const char *vbd,
                                     const struct api_value *vdi_map,
                                     struct api_value *fails)
{
    struct pool_db *db = dbof(call);
    char *vdi = NULL, *ud = NULL, *mode = NULL, *name = NULL;
    struct api_value *d = NULL;
    const char *sr;
    int64_t att = 0, size = 0;

    xa_field_str(db, POOL_CLASS_VBD, vbd, "VDI", &vdi);
    xa_field_int(db, POOL_CLASS_VBD, vbd, "currently_attached", &att);
    if (!vdi || pool_ref_is_null(vdi))
        goto out;
    sr = api_value_string(api_struct_get(vdi_map, vdi));
    if (!sr) {
        /* Every disk goes with it: that pool cannot reach ours. */
        xa_add_failure(call, fails, api_failure("VDI_NOT_IN_MAP", vdi,
                                                NULL));
        goto out;
    }
    if (!att) {
        xa_add_failure(call, fails, api_failure(
                           "OPERATION_NOT_ALLOWED", "a disk not plugged has "
                           "no mirror: plug it or destroy its VBD", NULL));
        goto out;
    }
    xa_field_str(db, POOL_CLASS_VBD, vbd, "userdevice", &ud);
    xa_field_str(db, POOL_CLASS_VBD, vbd, "mode", &mode);
    xa_field_str(db, POOL_CLASS_VDI, vdi, "name_label", &name);
    xa_field_int(db, POOL_CLASS_VDI, vdi, "virtual_size", &size);
    d = api_struct();
    api_struct_add(d, "device", api_int(ud ? atoi(ud) : 0));
    api_struct_add(d, "SR", api_string(sr));
    api_struct_add(d, "virtual_size", api_int(size));
    api_struct_add(d, "name_label", api_string(name ? name : ""));
    api_struct_add(d, "mode", api_string(mode ? mode : "RW"));
out:
    free(vdi);
    free(ud);
    free(mode);
    free(name);
    return d;
}

/* The VM as the import makes it: *spec_r { uuid, name_label,
 * name_description, memory_static_max, VCPUs_max, other_config (without
 * this pool's migration record) } and *disks_r; failures appended. */
static int import_args(struct api_call_ctx *call, const char *vm,
                       const struct api_value *vdi_map,
                       struct api_value **spec_r, struct api_value **disks_r,
                       struct api_value *fails)
{
    static const char *const fields[] = {
        "uuid", "name_label", "name_description", "memory_static_max",
        "VCPUs_max", NULL
    };
    struct pool_db *db = dbof(call);
    struct api_value *spec = api_struct(), *disks = api_array(), *d;
    struct pool_strv vbds = { 0 };
    struct pool_value v = { 0 }, oc = { .type = POOL_FT_MAP };
    size_t i;
    int rc = 0;

    for (i = 0; rc == 0 && fields[i]; i++) {
        rc = pool_db_get_field(db, POOL_CLASS_VM, vm, fields[i], &v);
        if (rc == 0)
            api_struct_add(spec, fields[i], xa_pool_value(&v));
        pool_value_clear(&v);
    }
    rc = rc ?: pool_db_get_field(db, POOL_CLASS_VM, vm, "other_config", &v);
    for (i = 0; rc == 0 && i < v.map.n; i++)
        if (strncmp(v.map.keys[i], "xm:migration", 12) != 0)
            rc = pool_value_map_put(&oc, v.map.keys[i], v.map.vals[i]);
    if (rc == 0)
        api_struct_add(spec, "other_config", xa_pool_value(&oc));
    pool_value_clear(&v);
    pool_value_clear(&oc);
    rc = rc ?: pool_db_find(db, POOL_CLASS_VBD, "VM", &POOL_V_REF(vm),
                            &vbds);
    for (i = 0; rc == 0 && i < vbds.n; i++)
        if ((d = import_disk(call, vbds.v[i], vdi_map, fails)))
            api_array_append(disks, d);
    pool_strv_free(&vbds);
    if (rc < 0) {
        api_value_free(spec);
        api_value_free(disks);
        return xt_error(call->xt, rc, "VM %s", vm);
    }
    *spec_r = spec;
    *disks_r = disks;
    return 0;
}

/* The address the source host's mirrors come from, as the destination's
 * export lets them in (hosts on one machine's loopback, as in tests and
 * a demo, all connect from 127.0.0.1). */
static int peer_of(struct api_call_ctx *call, const char *src, char **peer_r)
{
    char *a = NULL;
    int rc = xa_field_str(dbof(call), POOL_CLASS_HOST, src, "address", &a);

    if (rc == 0 && !strncmp(a, "127.", 4)) {
        free(a);
        a = strdup("127.0.0.1");
        rc = a ? 0 : -ENOMEM;
    }
    *peer_r = a;
    return rc;
}

/* VM.xm_import_begin there; *v_r its answer. */
static int import_call(struct api_call_ctx *call, const struct xa_xpool *xp,
                       const char *vm, const char *src,
                       const struct api_value *vdi_map, bool precheck,
                       struct api_value *fails, struct api_value **v_r,
                       struct api_value **fail_r)
{
    struct api_value *spec = NULL, *disks = NULL, *p;
    char *peer = NULL;
    int rc;

    *v_r = NULL;
    rc = import_args(call, vm, vdi_map, &spec, &disks, fails);
    rc = rc ?: peer_of(call, src, &peer);
    if (rc < 0) {
        api_value_free(spec);
        api_value_free(disks);
        return xt_error(call->xt, rc, "VM %s", vm);
    }
    p = api_array();
    api_array_append(p, api_string(xp->host));
    api_array_append(p, spec);
    api_array_append(p, disks);
    api_array_append(p, api_string(peer));
    api_array_append(p, api_bool(precheck));
    free(peer);
    return rcall(call->xt, xp, "VM.xm_import_begin", p, v_r, fail_r);
}

int xa_xpool_check(struct api_call_ctx *call, const struct xa_xpool *xp,
                   const char *vm, const struct api_value *vdi_map,
                   char **src_r, struct api_value *fails)
{
    struct api_value *v = NULL, *fail = NULL;
    const struct api_value *there;
    size_t i;
    int rc;

    rc = xa_field_str(dbof(call), POOL_CLASS_VM, vm, "resident_on", src_r);
    if (rc < 0)
        return xt_error(call->xt, rc, "VM %s", vm);
    rc = import_call(call, xp, vm, *src_r, vdi_map, true, fails, &v, &fail);
    if (rc < 0 && fail) {
        /* A failure there that is no check's (a session gone, ...). */
        xa_add_failure(call, fails, fail);
        xt_error_clear(call->xt);
        rc = 0;
    } else if (rc < 0) {
        xa_add_failure(call, fails, api_failure("CANNOT_CONTACT_HOST",
                                                xp->url, NULL));
        rc = 0;
    }
    there = api_struct_get(v, "failures");
    for (i = 0; i < api_value_count(there); i++)
        api_array_append(fails, api_value_copy(api_array_get(there, i)));
    api_value_free(v);
    return rc;
}

int xa_xpool_begin(struct api_call_ctx *call, const struct xa_xpool *xp,
                   const char *vm, const char *src,
                   const struct api_value *vdi_map,
                   struct api_value **exports_r,
                   struct api_value **result_r)
{
    struct api_value *fails = api_array(), *v = NULL;
    int rc;

    rc = import_call(call, xp, vm, src, vdi_map, false, fails, &v,
                     result_r);
    if (rc == 0 && api_value_count(fails)) {
        *result_r = xa_failure_of_desc(api_array_get(fails, 0));
        rc = xt_error(call->xt, -EPERM, "VM %s cannot go to pool %s", vm,
                      xp->pool);
    }
    if (rc == 0) {
        *exports_r = api_value_copy(api_struct_get(v, "disks"));
        xt_info(call->xt, "VM %s: pool %s made its import (VM %s there)",
                vm, xp->pool, api_value_string(api_struct_get(v, "VM")) ?:
                "?");
    }
    api_value_free(fails);
    api_value_free(v);
    return rc;
}

int xa_xpool_export(struct api_call_ctx *call, const struct xa_xpool *xp,
                    int device, struct api_value **remote_r,
                    struct api_value **result_r)
{
    struct api_value *p = api_array();

    api_array_append(p, api_int(device));
    return rcall(call->xt, xp, "VM.xm_import_export", p, remote_r,
                 result_r);
}

int xa_xpool_receive(struct api_call_ctx *call, const struct xa_xpool *xp,
                     struct api_value **prep_r, struct api_value **fail_r)
{
    struct api_value *p = api_array();

    api_array_append(p, api_string(xp->network[0] ? xp->network :
                                   POOL_NULL_REF));
    return rcall(call->xt, xp, "VM.xm_import_receive", p, prep_r, fail_r);
}

int xa_xpool_status(struct xa *xa, struct xt_ctx *ctx, const char *op,
                    struct api_value **v_r)
{
    struct xa_xpool xp;
    struct api_value *v = NULL;
    bool known = false;
    int rc;

    *v_r = NULL;
    rc = xa_xpool_load(xa, ctx, op, &xp);
    rc = rc ?: rcall(ctx, &xp, "VM.xm_import_status", NULL, &v, NULL);
    if (rc < 0)
        return rc;
    api_value_get_bool(api_struct_get(v, "known"), &known);
    if (!known)
        *v_r = api_struct();
    else if (api_struct_get(v, "host"))
        *v_r = api_value_copy(api_struct_get(v, "host"));
    else
        rc = -EHOSTUNREACH;     /* its host did not answer */
    api_value_free(v);
    return rc;
}

/* ---- the outcome --------------------------------------------------------- */

int xa_xpool_verdict(struct xa *xa, struct xt_ctx *ctx, const char *op,
                     bool running, int64_t domid)
{
    struct xa_xpool xp;
    int rc = xa_xpool_load(xa, ctx, op, &xp);

    if (rc < 0)
        return rc == -ENOENT ? 0 : rc;
    if (running)
        snprintf(xp.end, sizeof(xp.end), "running %lld", (long long)domid);
    else
        snprintf(xp.end, sizeof(xp.end), "failed");
    return journal_write(xa, ctx, op, &xp);
}

int xa_xpool_tell(struct xa *xa, struct xt_ctx *ctx, const char *op,
                  bool on_dest)
{
    struct xa_xpool xp;
    struct api_value *p, *v = NULL, *fail = NULL;
    long long domid = -1;
    bool running = on_dest;
    int rc = xa_xpool_load(xa, ctx, op, &xp);

    if (rc == -ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    if (!strcmp(xp.end, "failed"))
        running = false;
    else if (sscanf(xp.end, "running %lld", &domid) == 1)
        running = true;
    p = api_array();
    api_array_append(p, api_bool(running));
    api_array_append(p, api_int(domid));
    if (xt_fault(ctx, "pd.xpool.tell") == XT_FAULT_FAIL) {
        api_value_free(p);
        rc = xt_error(ctx, -EHOSTUNREACH, "fault injection: pool %s "
                      "unreachable", xp.pool);
    } else {
        rc = rcall(ctx, &xp, "VM.xm_import_end", p, &v, &fail);
    }
    api_value_free(v);
    if (rc < 0 && fail && api_failure_code(fail) &&
        !strcmp(api_failure_code(fail), "SESSION_INVALID")) {
        /* No way to tell it any more: its reconciler ends a receiving
         * import as its host says (pd_import.c). */
        xt_warn(ctx, "migration %s: the session on pool %s is gone; that "
                "pool ends its import by itself", op, xp.pool);
        api_value_free(fail);
        xa_xpool_drop(xa, op);
        return 0;
    }
    api_value_free(fail);
    if (rc < 0) {
        xt_warn(ctx, "migration %s: pool %s is not told yet that the VM %s"
                " (%s): told again later", op, xp.pool, running ? "runs "
                "there" : "stayed here", ctx->err_msg);
        return rc;
    }
    xa_xpool_drop(xa, op);
    xt_info(ctx, "migration %s: pool %s knows the VM %s", op, xp.pool,
            running ? "runs there" : "stayed here");
    return 0;
}

int xa_xpool_end(struct xa *xa, struct xt_ctx *ctx, const char *op)
{
    int rc = xa_xpool_verdict(xa, ctx, op, false, -1);

    return rc ?: xa_xpool_tell(xa, ctx, op, false);
}

void xa_xpool_retry(struct xa *xa, struct pool_db *db, struct xt_ctx *ctx)
{
    DIR *d = opendir(xa->journal_dir);
    struct dirent *e;
    bool quiet = ctx->quiet_errors;

    if (!d)
        return;
    while ((e = readdir(d)) && !xa->stopping) {
        const char *op = e->d_name + strlen(JOURNAL_PREFIX);

        if (strncmp(e->d_name, JOURNAL_PREFIX, strlen(JOURNAL_PREFIX)) ||
            strstr(op, ".tmp") || xa_settler_enter(xa, op) < 0)
            continue;
        /* With a record (or when we cannot tell), its settling or cleanup
         * tells. */
        if (xa_mig_recorded(db, op) == 0) {
            ctx->quiet_errors = true;
            xa_xpool_tell(xa, ctx, op, false);
            ctx->quiet_errors = quiet;
            xt_error_clear(ctx);
        }
        xa_settler_leave(xa, op);
    }
    closedir(d);
}
