/*
 * pd_sr_agent.c - the host agent's storage calls (host_local.sr_* and
 * host_local.vdi_*): the master asks the host that reaches an SR's medium
 * to act on it through sr/.  Each call attaches the SR, acts and detaches:
 * a directory SR keeps no state on a host between calls (an SR whose
 * attach mounts something will keep it in a table here).
 *
 * The SR is named in every call by a spec struct: { type, uuid,
 * device_config (struct of strings), physical_size }.  Failures carry
 * XAPI's codes with uuids; the master puts its refs in (pd_methods_sr.c).
 * Answers carry the SR's figures ("sr": struct) so that the master keeps
 * its record current.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sr.h"
#include "pd_internal.h"
#include "pd_xenapi.h"

#define DC_MAX 16

struct spec_buf {
    struct sr_spec spec;
    struct sr_kv dc[DC_MAX];
};

/* The spec of params[i]; its strings point into params. */
static int spec_of(struct api_call_ctx *call, const struct api_value *params,
                   size_t i, struct spec_buf *sb)
{
    const struct api_value *st = api_array_get(params, i);
    const struct api_value *dc = api_struct_get(st, "device_config");
    const char *uuid = api_value_string(api_struct_get(st, "uuid"));
    int64_t size = 0;
    size_t k;

    memset(sb, 0, sizeof(*sb));
    sb->spec.type = api_value_string(api_struct_get(st, "type"));
    if (api_value_type(st) != API_STRUCT || !sb->spec.type || !uuid ||
        xt_uuid_parse(uuid, &sb->spec.uuid) < 0 ||
        api_value_type(dc) != API_STRUCT || api_value_count(dc) > DC_MAX)
        return xt_error(call->xt, -EINVAL, "bad SR spec");
    api_value_get_int64(api_struct_get(st, "physical_size"), &size);
    sb->spec.physical_size = size > 0 ? (uint64_t)size : 0;
    for (k = 0; k < api_value_count(dc); k++) {
        sb->dc[k].key = api_struct_key(dc, k);
        sb->dc[k].value = api_value_string(api_struct_value(dc, k));
        if (!sb->dc[k].value)
            return xt_error(call->xt, -EINVAL, "device_config %s: not a "
                            "string", sb->dc[k].key);
    }
    sb->spec.device_config = sb->dc;
    sb->spec.n_device_config = api_value_count(dc);
    return 0;
}

static int vdi_of(struct api_call_ctx *call, const struct api_value *params,
                  size_t i, struct xt_uuid *u)
{
    const char *s = xa_param_str(params, i);

    if (!s || xt_uuid_parse(s, u) < 0)
        return xt_error(call->xt, -EINVAL, "bad VDI uuid");
    return 0;
}

/* The failure XAPI gives for rc (reported already into call->xt). */
static struct api_value *failure_of(struct api_call_ctx *call, int rc,
                                    const char *type, const char *vdi,
                                    const char *op, uint64_t want,
                                    uint64_t free)
{
    char a[32], b[32], code[16];

    switch (rc) {
    case -ENODEV:
        return api_failure("SR_UNKNOWN_DRIVER", type, NULL);
    case -ENOSPC:
        if (!vdi)
            return api_failure("SR_BACKEND_FAILURE_44", "",
                               call->xt->err_msg, "", NULL);
        snprintf(a, sizeof(a), "%" PRIu64, want);
        snprintf(b, sizeof(b), "%" PRIu64, free);
        return api_failure("SR_FULL", a, b, NULL);
    case -EBUSY:
        return api_failure("VDI_IN_USE", vdi ? vdi : "", op, NULL);
    case -ENOTEMPTY:
        return api_failure("SR_NOT_EMPTY", NULL);
    case -ENOTSUP:
        return api_failure("SR_OPERATION_NOT_SUPPORTED", "", NULL);
    case -ENOENT:
        if (vdi)
            return api_failure("VDI_MISSING", "", vdi, NULL);
        break;
    }
    snprintf(code, sizeof(code), "%d", -rc);
    return api_failure("SR_BACKEND_FAILURE", code, call->xt->err_msg, "",
                       NULL);
}

static struct api_value *stat_value(const struct sr_stat *st)
{
    struct api_value *v = api_struct();

    if (api_struct_add(v, "physical_size",
                       api_int((int64_t)st->physical_size)) < 0 ||
        api_struct_add(v, "physical_utilisation",
                       api_int((int64_t)st->physical_utilisation)) < 0 ||
        api_struct_add(v, "virtual_allocation",
                       api_int((int64_t)st->virtual_allocation)) < 0 ||
        api_struct_add(v, "free", api_int((int64_t)st->free)) < 0 ||
        api_struct_add(v, "shared", api_bool(st->shared)) < 0) {
        api_value_free(v);
        return NULL;
    }
    return v;
}

static struct api_value *info_value(const struct sr_vdi_info *info)
{
    char u[XT_UUID_STRLEN + 1], of[XT_UUID_STRLEN + 1] = "";
    struct api_value *v = api_struct();

    xt_uuid_format(&info->uuid, u);
    if (info->is_a_snapshot)
        xt_uuid_format(&info->snapshot_of, of);
    if (api_struct_add(v, "uuid", api_string(u)) < 0 ||
        api_struct_add(v, "virtual_size",
                       api_int((int64_t)info->virtual_size)) < 0 ||
        api_struct_add(v, "physical_utilisation",
                       api_int((int64_t)info->physical_utilisation)) < 0 ||
        api_struct_add(v, "missing", api_bool(info->missing)) < 0 ||
        api_struct_add(v, "snapshot_of", api_string(of)) < 0) {
        api_value_free(v);
        return NULL;
    }
    return v;
}

/* { "sr": stat, key: extra } as the answer, or -ENOMEM. */
static int answer(struct api_call_ctx *call, struct sr *sr, const char *key,
                  struct api_value *extra, struct api_value **result_r)
{
    struct api_value *v = api_struct(), *s;
    struct sr_stat st;
    int rc = sr_stat(sr, &st);

    if (rc < 0) {
        api_value_free(extra);
        api_value_free(v);
        return rc;
    }
    s = stat_value(&st);
    rc = s ? api_struct_add(v, "sr", s) : -ENOMEM;
    if (rc == 0 && key)
        rc = extra ? api_struct_add(v, key, extra) : -ENOMEM;
    else
        api_value_free(extra);
    if (rc < 0) {
        api_value_free(v);
        return xt_error(call->xt, -ENOMEM, "out of memory");
    }
    *result_r = v;
    return 0;
}

/* Checks the secret, reads the spec (params[1]) and attaches. */
static int enter(struct api_call_ctx *call, const struct api_value *params,
                 struct spec_buf *sb, struct sr **sr_r,
                 struct api_value **result_r)
{
    int rc = xa_check_secret(call, params, result_r);

    *sr_r = NULL;
    rc = rc ?: spec_of(call, params, 1, sb);
    if (rc < 0)
        return rc;
    rc = sr_attach(call->xt, &sb->spec, sr_r);
    if (rc < 0)
        *result_r = failure_of(call, rc, sb->spec.type, NULL, "attach", 0,
                               0);
    return rc;
}

int xa_local_sr_create(struct api_call_ctx *call,
                       const struct api_value *params,
                       struct api_value **result_r)
{
    struct spec_buf sb;
    struct sr *sr = NULL;
    int rc = xa_check_secret(call, params, result_r);

    rc = rc ?: spec_of(call, params, 1, &sb);
    if (rc < 0)
        return rc;
    rc = sr_create(call->xt, &sb.spec);
    if (rc < 0) {
        *result_r = failure_of(call, rc, sb.spec.type, NULL, "create", 0, 0);
        return rc;
    }
    rc = sr_attach(call->xt, &sb.spec, &sr);
    rc = rc ?: answer(call, sr, NULL, NULL, result_r);
    sr_detach(sr);
    return rc;
}

/* Attach and scan: the SR's figures and its VDIs. */
int xa_local_sr_attach(struct api_call_ctx *call,
                       const struct api_value *params,
                       struct api_value **result_r)
{
    struct sr_vdi_info *vdis = NULL;
    struct api_value *list = NULL;
    struct spec_buf sb;
    struct sr *sr = NULL;
    size_t n = 0, i;
    int rc = enter(call, params, &sb, &sr, result_r);

    rc = rc ?: sr_scan(sr, &vdis, &n);
    if (rc < 0)
        goto out;
    list = api_array();
    for (i = 0; rc == 0 && i < n; i++) {
        struct api_value *v = info_value(&vdis[i]);

        rc = v ? api_array_append(list, v) : -ENOMEM;
    }
    if (rc < 0) {
        rc = xt_error(call->xt, rc, "out of memory");
        goto out;
    }
    rc = answer(call, sr, "vdis", list, result_r);
    list = NULL;
out:
    if (rc < 0 && !*result_r)
        *result_r = failure_of(call, rc, sb.spec.type, NULL, "scan", 0, 0);
    api_value_free(list);
    free(vdis);
    sr_detach(sr);
    return rc;
}

int xa_local_sr_destroy(struct api_call_ctx *call,
                        const struct api_value *params,
                        struct api_value **result_r)
{
    struct spec_buf sb;
    struct sr *sr = NULL;
    int rc = enter(call, params, &sb, &sr, result_r);

    if (rc < 0)
        return rc;
    rc = sr_destroy(sr);
    if (rc < 0) {
        *result_r = failure_of(call, rc, sb.spec.type, NULL, "destroy", 0, 0);
        sr_detach(sr);
        return rc;
    }
    *result_r = api_void();
    return 0;
}

/* vdi_create(secret, spec, vdi, size), vdi_resize(secret, spec, vdi,
 * size), vdi_destroy(secret, spec, vdi): the SR's figures and, but for a
 * destroy, the VDI's. */
static int vdi_op(struct api_call_ctx *call, const struct api_value *params,
                  const char *op, struct api_value **result_r)
{
    struct sr_vdi_info info;
    struct sr_stat st = { 0 };
    struct spec_buf sb;
    struct xt_uuid u;
    struct sr *sr = NULL;
    bool destroy = !strcmp(op, "destroy");
    int64_t size = 0;
    int rc = enter(call, params, &sb, &sr, result_r);

    rc = rc ?: vdi_of(call, params, 2, &u);
    if (rc == 0 && !destroy &&
        (api_value_get_int64(api_array_get(params, 3), &size) < 0 ||
         size <= 0))
        rc = xt_error(call->xt, -EINVAL, "vdi_%s: bad size", op);
    if (rc < 0)
        goto out;
    if (!strcmp(op, "create"))
        rc = sr_vdi_create(sr, &u, (uint64_t)size);
    else if (!strcmp(op, "resize"))
        rc = sr_vdi_resize(sr, &u, (uint64_t)size);
    else
        rc = sr_vdi_destroy(sr, &u);
    if (rc == -ENOSPC)
        sr_stat(sr, &st);
    if (rc == 0 && !destroy)
        rc = sr_vdi_info(sr, &u, &info);
    if (rc < 0) {
        *result_r = failure_of(call, rc, sb.spec.type, xa_param_str(params, 2),
                               op, (uint64_t)size, st.free);
        goto out;
    }
    rc = answer(call, sr, destroy ? NULL : "vdi",
                destroy ? NULL : info_value(&info), result_r);
out:
    sr_detach(sr);
    return rc;
}

int xa_local_vdi_create(struct api_call_ctx *call,
                        const struct api_value *params,
                        struct api_value **result_r)
{
    return vdi_op(call, params, "create", result_r);
}

int xa_local_vdi_resize(struct api_call_ctx *call,
                        const struct api_value *params,
                        struct api_value **result_r)
{
    return vdi_op(call, params, "resize", result_r);
}

int xa_local_vdi_destroy(struct api_call_ctx *call,
                         const struct api_value *params,
                         struct api_value **result_r)
{
    return vdi_op(call, params, "destroy", result_r);
}

/* vdi_clone / vdi_snapshot(secret, spec, src, dst): dst as a copy of src
 * (a snapshot records snapshot_of); the SR's figures and dst's. */
static int vdi_copy(struct api_call_ctx *call, const struct api_value *params,
                    bool snapshot, struct api_value **result_r)
{
    struct sr_vdi_info info = { 0 };
    struct sr_stat st = { 0 };
    struct xt_uuid src, dst;
    struct spec_buf sb;
    struct sr *sr = NULL;
    int rc = enter(call, params, &sb, &sr, result_r);

    rc = rc ?: vdi_of(call, params, 2, &src);
    rc = rc ?: vdi_of(call, params, 3, &dst);
    if (rc < 0)
        goto out;
    rc = snapshot ? sr_vdi_snapshot(sr, &src, &dst) :
                    sr_vdi_clone(sr, &src, &dst);
    if (rc == -ENOSPC) {
        sr_stat(sr, &st);
        sr_vdi_info(sr, &src, &info);
    }
    if (rc == 0)
        rc = sr_vdi_info(sr, &dst, &info);
    if (rc < 0) {
        *result_r = failure_of(call, rc, sb.spec.type, xa_param_str(params, 2),
                               snapshot ? "snapshot" : "clone",
                               info.virtual_size, st.free);
        goto out;
    }
    rc = answer(call, sr, "vdi", info_value(&info), result_r);
out:
    sr_detach(sr);
    return rc;
}

int xa_local_vdi_clone(struct api_call_ctx *call,
                       const struct api_value *params,
                       struct api_value **result_r)
{
    return vdi_copy(call, params, false, result_r);
}

int xa_local_vdi_snapshot(struct api_call_ctx *call,
                          const struct api_value *params,
                          struct api_value **result_r)
{
    return vdi_copy(call, params, true, result_r);
}

/* A sparse copy between two open VDIs: each allocated extent of src is
 * read and written at the same offset of dst, a fresh VDI whose holes
 * read as zeros already, so that holes stay holes. */
struct sparse_copy {
    struct xt_ctx *xt;
    struct sr_vdi *src, *dst;
    void *buf;
    bool hit;                   /* the fault point was passed */
    struct xa *xa;
    const char *task, *master;  /* where the progress goes, or NULL */
    uint64_t size, last_ns;
};

#define COPY_CHUNK  (1u << 20)
#define COPY_PROGRESS_NS 1000000000ull  /* at most one report a second */

/* The copy's progress to the master's task, by how far into the VDI it
 * is: 5% (the master's, once the VDI is made) to 95%. */
static void copy_progress(struct sparse_copy *c, uint64_t off)
{
    struct api_value *p, *v = NULL;
    uint64_t now = xt_now_ns();
    bool quiet = c->xt->quiet_errors;

    if (!c->task || !c->size || now - c->last_ns < COPY_PROGRESS_NS)
        return;
    c->last_ns = now;
    p = api_array();
    api_array_append(p, api_string(c->task));
    api_array_append(p, api_double(0.05 + 0.9 * (double)off /
                                   (double)c->size));
    c->xt->quiet_errors = true;
    if (xa_host_call(c->xa, c->xt, c->master, "host_local.task_progress", p,
                     2, &v, NULL) < 0)
        xt_error_clear(c->xt);  /* progress only: the copy goes on */
    c->xt->quiet_errors = quiet;
    api_value_free(v);
}

static int copy_extent(void *opaque, uint64_t off, uint64_t len, bool hole)
{
    struct sparse_copy *c = opaque;
    int rc = 0;

    if (hole)
        return 0;
    while (rc == 0 && len) {
        size_t n = len < COPY_CHUNK ? (size_t)len : COPY_CHUNK;

        rc = sr_vdi_pread(c->src, c->buf, n, off);
        rc = rc ?: sr_vdi_pwrite(c->dst, c->buf, n, off, false);
        off += n;
        len -= n;
        copy_progress(c, off);
    }
    /* Once, after the first data: a copy that fails half done. */
    if (rc == 0 && !c->hit) {
        c->hit = true;
        if (xt_fault(c->xt, "pd.vdi-copy.copying") == XT_FAULT_FAIL)
            rc = -EIO;
    }
    return rc;
}

/* vdi_copy(secret, spec, src, dst_spec, dst[, task, master_url]): the
 * allocated extents of VDI src (on spec's SR) into VDI dst (on
 * dst_spec's, made by the master with src's size), holding src read-only
 * (VDI_IN_USE against a writer) and dst read-write for the whole copy;
 * the progress to the master's task.  Answers dst's SR figures and
 * dst's. */
int xa_local_vdi_copy(struct api_call_ctx *call,
                      const struct api_value *params,
                      struct api_value **result_r)
{
    struct sparse_copy c = { .xt = call->xt, .xa = xa_call_of(call)->xa,
                             .task = xa_param_str(params, 5),
                             .master = xa_param_str(params, 6) };
    struct sr *sr = NULL, *dsr = NULL;
    struct sr_vdi_info info;
    struct spec_buf sb, db;
    struct xt_uuid src, dst;
    const char *fail_vdi = NULL;
    int rc = enter(call, params, &sb, &sr, result_r);

    rc = rc ?: vdi_of(call, params, 2, &src);
    rc = rc ?: spec_of(call, params, 3, &db);
    rc = rc ?: vdi_of(call, params, 4, &dst);
    if (rc < 0)
        goto out;
    fail_vdi = xa_param_str(params, 4);
    /* The same SR: one attach serves both sides. */
    if (xt_uuid_equal(&sb.spec.uuid, &db.spec.uuid))
        dsr = sr;
    else
        rc = sr_attach(call->xt, &db.spec, &dsr);
    rc = rc ?: sr_vdi_open(dsr, &dst, false, &c.dst);
    if (rc == 0) {
        fail_vdi = xa_param_str(params, 2);
        rc = sr_vdi_open(sr, &src, true, &c.src);
    }
    if (rc < 0)
        goto fail;
    if (sr_vdi_size(c.dst) < sr_vdi_size(c.src)) {
        rc = xt_error(call->xt, -EINVAL, "VDI %s is smaller than %s",
                      xa_param_str(params, 4), xa_param_str(params, 2));
        goto fail;
    }
    if (!c.master || !*c.task)
        c.task = NULL;
    c.size = sr_vdi_size(c.src);     /* the first report comes at once */
    if (!(c.buf = malloc(COPY_CHUNK))) {
        rc = xt_error(call->xt, -ENOMEM, "out of memory");
        goto fail;
    }
    rc = sr_vdi_extents(c.src, 0, sr_vdi_size(c.src), copy_extent, &c);
    rc = rc ?: sr_vdi_flush(c.dst);
    if (rc < 0) {
        rc = xt_error(call->xt, rc, "copying VDI %s to %s",
                      xa_param_str(params, 2), xa_param_str(params, 4));
        goto fail;
    }
    sr_vdi_close(c.dst);
    c.dst = NULL;
    rc = sr_vdi_info(dsr, &dst, &info);
    if (rc == 0) {
        rc = answer(call, dsr, "vdi", info_value(&info), result_r);
        goto out;
    }
fail:
    *result_r = failure_of(call, rc, sb.spec.type, fail_vdi, "copy", 0, 0);
out:
    sr_vdi_close(c.src);
    sr_vdi_close(c.dst);
    free(c.buf);
    if (dsr != sr)
        sr_detach(dsr);
    sr_detach(sr);
    return rc;
}

/* vdi_export(secret, disk, address, peer): serves the disk's VDI on TCP
 * at address for peer only, with TLS; answers { port, psk_identity, psk }
 * (the peer's client needs the key: it travels in this answer, over the
 * pool's TLS). */
int xa_local_vdi_export(struct api_call_ctx *call,
                        const struct api_value *params,
                        struct api_value **result_r)
{
    struct xa *xa = xa_call_of(call)->xa;
    const char *addr = xa_param_str(params, 2);
    const char *peer = xa_param_str(params, 3);
    struct xa_blk_export ex;
    struct api_value *r;
    int rc = xa_check_secret(call, params, result_r);

    if (rc < 0)
        return rc;
    if (!addr || !peer)
        return xt_error(call->xt, -EINVAL, "vdi_export(secret, disk, "
                        "address, peer)");
    rc = xa_blk_export(xa, call->xt, api_array_get(params, 1), addr, peer,
                       &ex);
    if (rc < 0)
        return rc;
    r = api_struct();
    rc = api_struct_add(r, "port", api_int(ex.port));
    rc = rc ?: api_struct_add(r, "psk_identity", api_string(ex.identity));
    rc = rc ?: api_struct_add(r, "psk", api_string(ex.psk));
    pd_wipe(ex.psk, sizeof(ex.psk));
    if (rc < 0) {
        api_value_free(r);
        return xt_error(call->xt, -ENOMEM, "vdi_export");
    }
    *result_r = r;
    return 0;
}

/* vdi_unexport(secret, vdi_uuid): ends an export (none: nothing to do). */
int xa_local_vdi_unexport(struct api_call_ctx *call,
                          const struct api_value *params,
                          struct api_value **result_r)
{
    int rc = xa_check_secret(call, params, result_r);

    rc = rc ?: xa_blk_unexport(xa_call_of(call)->xa, call->xt,
                               xa_param_str(params, 1) ?: "");
    if (rc == 0)
        *result_r = api_void();
    return rc;
}

