/*
 * pd_import.c - the destination pool's half of a migration from another
 * pool: xm-pool's VM.xm_import_* calls, which the source pool's master
 * makes here with the session its client opened on this pool
 * (Host.migrate_receive, then the source's VM.migrate_send;
 * docs/design/storage-motion.md, "To another pool").
 *
 * An import is one VM record, made Halted with the source's uuid, a new
 * VDI per disk on the SR the vdi_map names and its VBD, all tagged with
 * the import's key (other_config xm:import-op), and the destination
 * host's exports of the new VDIs to the source host.  Its stages:
 * prepared (begin), receiving (receive: the host waits for the memory),
 * then it ends once, by the source's word (end): running (the record
 * says the VM runs on the host, the tags go) or failed (everything it
 * made is destroyed, never while the host runs the VM).  An end of an
 * import this pool does not have succeeds: the source repeats an end
 * whose answer it lost.  An import that is receiving also ends by itself
 * (xa_import_reconcile) once its host says what came of it, for a source
 * that cannot tell (its master stopped, the session it had here gone).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hv.h"
#include "pd_xenapi.h"

#define AGENT_TIMEOUT_S 60

#define IMPORT_OP    "xm:import-op"      /* VM and VDIs: the import's key */
#define IMPORT_HOST  "xm:import-host"    /* VM: the host it goes to */
#define IMPORT_PEER  "xm:import-peer"    /* VM: the source host's address */
#define IMPORT_STAGE "xm:import-stage"   /* VM: prepared, receiving */

static struct pool_db *dbof(struct api_call_ctx *call)
{
    return xa_call_of(call)->db;
}

/* ---- finding an import -------------------------------------------------- */

struct import {
    char *vm, *uuid, *host, *peer;
};

static void import_clear(struct import *im)
{
    free(im->vm);
    free(im->uuid);
    free(im->host);
    free(im->peer);
    memset(im, 0, sizeof(*im));
}

/* The import whose key is op: 0, -ENOENT when there is none. */
static int import_find(struct api_call_ctx *call, const char *op,
                       struct import *im)
{
    struct pool_record **vms = NULL;
    size_t n = 0, i;
    int rc = pool_db_get_all_records(dbof(call), POOL_CLASS_VM, &vms, &n);

    memset(im, 0, sizeof(*im));
    for (i = 0; rc == 0 && i < n && !im->vm; i++) {
        const struct pool_value *oc = pool_record_get(vms[i],
                                                      "other_config");
        const char *o = pool_value_map_get(oc, IMPORT_OP);
        const char *h = pool_value_map_get(oc, IMPORT_HOST);
        const char *p = pool_value_map_get(oc, IMPORT_PEER);

        if (!o || strcmp(o, op) || !h || !p)
            continue;
        im->vm = strdup(vms[i]->ref);
        im->uuid = strdup(pool_record_get(vms[i], "uuid")->s);
        im->host = strdup(h);
        im->peer = strdup(p);
        if (!im->vm || !im->uuid || !im->host || !im->peer)
            rc = -ENOMEM;
    }
    pool_records_free(vms, n);
    if (rc == 0 && !im->vm)
        rc = -ENOENT;
    if (rc < 0)
        import_clear(im);
    return rc;
}

/* As import_find, an absent one failing the call (HANDLE_INVALID). */
static int import_get(struct api_call_ctx *call, const char *op,
                      struct import *im, struct api_value **result_r)
{
    int rc = import_find(call, op, im);

    if (rc == -ENOENT) {
        *result_r = api_failure("HANDLE_INVALID", "import", op, NULL);
        return xt_error(call->xt, rc, "no import %s here", op);
    }
    return rc < 0 ? xt_error(call->xt, rc, "import %s", op) : 0;
}

/* host_local.METHOD(params...) on the import's host. */
static int on_host(struct api_call_ctx *call, const char *host,
                   const char *method, struct api_value *params,
                   struct api_value **v_r, struct api_value **result_r)
{
    struct xa *xa = xa_call_of(call)->xa;
    char *url = NULL;
    int rc = xa_host_url(xa, dbof(call), host, &url);

    if (rc < 0) {
        api_value_free(params);
        return rc;
    }
    rc = xa_host_call(xa, call->xt, url, method, params, AGENT_TIMEOUT_S,
                      v_r, result_r);
    free(url);
    return rc;
}

/* ---- the checks, every failure at once ----------------------------------- */

static void check_host(struct api_call_ctx *call, const char *host,
                       int64_t need, struct api_value *fails)
{
    struct pool_db *db = dbof(call);
    struct api_value *f = NULL;
    int64_t enabled = 0, avail = 0;
    char nb[32], ab[32];

    if (xa_host_usable(call, host, &f) < 0) {
        xa_add_failure(call, fails,
                       f ? f : api_failure("HOST_OFFLINE", host, NULL));
        return;
    }
    xa_field_int(db, POOL_CLASS_HOST, host, "enabled", &enabled);
    if (!enabled)
        xa_add_failure(call, fails, api_failure("HOST_OFFLINE", host, NULL));
    avail = xa_host_free(db, host, NULL);
    if (avail < need) {
        snprintf(nb, sizeof(nb), "%lld", (long long)need);
        snprintf(ab, sizeof(ab), "%lld", (long long)avail);
        xa_add_failure(call, fails, api_failure(
                           "HOST_NOT_ENOUGH_FREE_MEMORY", nb, ab, NULL));
    }
}

/* One disk { device, SR, virtual_size, ... }: its SR there, plugged on
 * host, with room. */
static void check_disk(struct api_call_ctx *call, const char *uuid,
                       const char *host, const struct api_value *d,
                       struct api_value *fails)
{
    struct pool_db *db = dbof(call);
    const char *sr = api_value_string(api_struct_get(d, "SR"));
    struct api_value *full;
    int64_t size = 0;
    char *pbd = NULL;

    api_value_get_int64(api_struct_get(d, "virtual_size"), &size);
    if (!sr || pool_db_check_ref(db, POOL_CLASS_SR, sr) < 0) {
        xt_error_clear(call->xt);
        xa_add_failure(call, fails, api_failure("HANDLE_INVALID", "SR",
                                                sr ? sr : "", NULL));
        return;
    }
    if (xa_pbd_on(db, sr, host, &pbd) < 0 || !pbd)
        xa_add_failure(call, fails, api_failure("VM_REQUIRES_SR", uuid, sr,
                                                NULL));
    free(pbd);
    if ((full = xa_sr_full(db, sr, size)))
        xa_add_failure(call, fails, full);
    xt_error_clear(call->xt);
}

/* Every check of an import of spec to host with disks: the failures as
 * [code, params...] (empty: it can come). */
static struct api_value *checks(struct api_call_ctx *call, const char *host,
                                const struct api_value *spec,
                                const struct api_value *disks)
{
    const char *uuid = api_value_string(api_struct_get(spec, "uuid"));
    struct api_value *fails = api_array();
    struct pool_strv same = { 0 };
    int64_t need = 0;
    size_t i;

    api_value_get_int64(api_struct_get(spec, "memory_static_max"), &need);
    check_host(call, host, need, fails);
    if (pool_db_find(dbof(call), POOL_CLASS_VM, "uuid", &POOL_V_STR(uuid),
                     &same) == 0 && same.n)
        xa_add_failure(call, fails, api_failure("UUID_ALREADY_EXISTS", "VM",
                                                uuid, NULL));
    pool_strv_free(&same);
    for (i = 0; i < api_value_count(disks); i++)
        check_disk(call, uuid, host, api_array_get(disks, i), fails);
    xt_error_clear(call->xt);
    return fails;
}

/* ---- making and unmaking ------------------------------------------------ */

/* The VM record, Halted, tagged, its memory reserved on host. */
static int make_vm(struct api_call_ctx *call, const char *op,
                   const char *host, const char *peer,
                   const struct api_value *spec, char **vm_r,
                   struct api_value **result_r)
{
    const struct pool_class *cls = pool_class_get(POOL_CLASS_VM);
    static const char *const fields[] = {
        "uuid", "name_label", "name_description", "memory_static_max",
        "VCPUs_max", "other_config", NULL
    };
    struct pool_field_init init[8];
    size_t i, n = 0;
    int rc = 0;

    for (i = 0; rc == 0 && fields[i]; i++) {
        const struct api_value *a = api_struct_get(spec, fields[i]);
        const struct pool_field *f = pool_class_field(cls, fields[i]);

        if (!a)
            continue;
        init[n].name = f->name;
        if (xa_value_from_api(f, a, &init[n++].value) < 0) {
            *result_r = api_failure("FIELD_TYPE_ERROR", f->name, NULL);
            rc = xt_error(call->xt, -EINVAL, "%s: wrong type", f->name);
        }
    }
    for (i = 0; rc == 0 && i < n; i++)
        if (!strcmp(init[i].name, "other_config") &&
            (pool_value_map_put(&init[i].value, IMPORT_OP, op) < 0 ||
             pool_value_map_put(&init[i].value, IMPORT_HOST, host) < 0 ||
             pool_value_map_put(&init[i].value, IMPORT_PEER, peer) < 0 ||
             pool_value_map_put(&init[i].value, IMPORT_STAGE,
                                "prepared") < 0))
            rc = xt_error(call->xt, -ENOMEM, "out of memory");
    if (rc == 0 && !api_struct_get(spec, "other_config"))
        rc = xt_error(call->xt, -EINVAL, "spec: other_config");
    rc = rc ?: pool_db_create(dbof(call), POOL_CLASS_VM, init, n, vm_r);
    rc = rc ?: xa_vm_metrics_sync(dbof(call), *vm_r, false);
    /* Its memory is promised to host until it runs there. */
    rc = rc ?: pool_db_set_field(dbof(call), POOL_CLASS_VM, *vm_r,
                                 "scheduled_to_be_resident_on",
                                 &POOL_V_REF(host), POOL_DB_INTERNAL);
    for (i = 0; i < n; i++)
        pool_value_clear(&init[i].value);
    return rc;
}

/* One disk: its VDI on the SR, tagged, and its VBD. */
static int make_disk(struct api_call_ctx *call, const char *op,
                     const char *vm, const struct api_value *d,
                     struct api_value **result_r)
{
    const char *sr = api_value_string(api_struct_get(d, "SR"));
    const char *name = api_value_string(api_struct_get(d, "name_label"));
    const char *mode = api_value_string(api_struct_get(d, "mode"));
    int64_t size = 0, num = -1;
    char ud[16], dev[16], *vdi = NULL;
    int rc;

    api_value_get_int64(api_struct_get(d, "virtual_size"), &size);
    api_value_get_int64(api_struct_get(d, "device"), &num);
    if (!sr || size <= 0 || num < 0 || num >= HV_MAX_DISKS)
        return xt_error(call->xt, -EINVAL, "disks: { device, SR, "
                        "virtual_size, name_label, mode }");
    rc = xa_vdi_create(call, sr, size, name ? name : "", &vdi, result_r);
    if (rc < 0)
        return rc;
    snprintf(ud, sizeof(ud), "%lld", (long long)num);
    snprintf(dev, sizeof(dev), "xvd%c", 'a' + (int)num);
    {
        struct pool_field_init init[] = {
            { "VM", POOL_V_REF(vm) }, { "VDI", POOL_V_REF(vdi) },
            { "userdevice", POOL_V_STR(ud) }, { "device", POOL_V_STR(dev) },
            { "mode", POOL_V_ENUM(mode && !strcmp(mode, "RO") ? "RO"
                                  : "RW") },
        };

        rc = pool_db_map_put(dbof(call), POOL_CLASS_VDI, vdi,
                             "other_config", IMPORT_OP, op,
                             POOL_DB_INTERNAL);
        rc = rc ?: pool_db_create(dbof(call), POOL_CLASS_VBD, init,
                                  sizeof(init) / sizeof(init[0]), NULL);
    }
    free(vdi);
    return rc;
}

/* Exports disk (an entry of xa_vm_disks) on host to peer: the mirror's
 * remote target { address, port, psk_identity, psk }. */
static int export_disk(struct api_call_ctx *call, const struct import *im,
                       const struct api_value *disk, struct api_value **v_r,
                       struct api_value **result_r)
{
    struct api_value *p = api_array(), *v = NULL;
    char *addr = NULL;
    int rc = xa_field_str(dbof(call), POOL_CLASS_HOST, im->host, "address",
                          &addr);

    if (rc == 0) {
        api_array_append(p, api_value_copy(disk));
        api_array_append(p, api_string(addr));
        api_array_append(p, api_string(im->peer));
        rc = on_host(call, im->host, "host_local.vdi_export", p, &v,
                     result_r);
        p = NULL;
    }
    if (rc == 0 && api_struct_add(v, "address", api_string(addr)) < 0)
        rc = xt_error(call->xt, -ENOMEM, "out of memory");
    api_value_free(p);
    free(addr);
    if (rc < 0) {
        api_value_free(v);
        return rc;
    }
    *v_r = v;
    return 0;
}

static void unexport(struct api_call_ctx *call, const struct import *im,
                     const struct api_value *disk)
{
    const char *vdi = api_value_string(api_struct_get(disk, "vdi"));
    struct api_value *p = api_array(), *v = NULL, *ignored = NULL;

    api_array_append(p, api_string(vdi ? vdi : ""));
    on_host(call, im->host, "host_local.vdi_unexport", p, &v, &ignored);
    api_value_free(v);
    api_value_free(ignored);
}

/* The import's disks as its host's agent takes them, by number. */
static int import_disks(struct api_call_ctx *call, const struct import *im,
                        struct api_value **disks_r,
                        struct api_value **result_r)
{
    return xa_vm_disks(call, im->vm, im->host, true, NULL, disks_r,
                       result_r);
}

/* Every export of the import goes (best effort: an export left over
 * serves nobody but the source host, whose key goes with the import). */
static void unexport_all(struct api_call_ctx *call, const struct import *im)
{
    struct api_value *disks = NULL, *ignored = NULL;
    size_t i;

    if (import_disks(call, im, &disks, &ignored) == 0)
        for (i = 0; i < api_value_count(disks); i++)
            unexport(call, im, api_array_get(disks, i));
    api_value_free(disks);
    api_value_free(ignored);
    xt_error_clear(call->xt);
}

/* Everything import op made goes: exports, VDIs, the VM (its VBDs with
 * it).  An error leaves the rest for the source's next end. */
static int unmake(struct api_call_ctx *call, const char *op,
                  const struct import *im)
{
    struct pool_db *db = dbof(call);
    struct pool_record **all = NULL;
    struct api_value *ignored = NULL;
    size_t i, n = 0;
    int rc;

    unexport_all(call, im);
    rc = pool_db_get_all_records(db, POOL_CLASS_VDI, &all, &n);
    for (i = 0; rc == 0 && i < n; i++) {
        const char *o = pool_value_map_get(pool_record_get(all[i],
                                           "other_config"), IMPORT_OP);

        if (o && !strcmp(o, op))
            rc = xa_vdi_destroy(call, all[i]->ref, &ignored);
        api_value_free(ignored);
        ignored = NULL;
    }
    pool_records_free(all, n);
    return rc ?: pool_db_destroy(db, POOL_CLASS_VM, im->vm);
}

/* ---- the calls --------------------------------------------------------- */

/* The exports of every disk of im: [{ device, vdi, remote }...]. */
static int export_all(struct api_call_ctx *call, const struct import *im,
                      struct api_value **out_r, struct api_value **result_r)
{
    struct api_value *disks = NULL, *out = api_array();
    size_t i;
    int rc = import_disks(call, im, &disks, result_r);

    for (i = 0; rc == 0 && i < api_value_count(disks); i++) {
        const struct api_value *d = api_array_get(disks, i);
        struct api_value *e = api_struct(), *remote = NULL;

        rc = export_disk(call, im, d, &remote, result_r);
        if (rc == 0) {
            api_struct_add(e, "device",
                           api_value_copy(api_struct_get(d, "device")));
            api_struct_add(e, "vdi",
                           api_value_copy(api_struct_get(d, "vdi")));
            api_struct_add(e, "remote", remote);
        }
        api_array_append(out, e);
    }
    api_value_free(disks);
    if (rc < 0) {
        api_value_free(out);
        return rc;
    }
    *out_r = out;
    return 0;
}

/* Makes the import: the VM, its disks, their exports. */
static int import_make(struct api_call_ctx *call, const char *op,
                       const char *host, const char *peer,
                       const struct api_value *spec,
                       const struct api_value *disks,
                       struct api_value **result_r)
{
    struct import im = { 0 };
    struct api_value *out = NULL, *r;
    struct xt_err e = { 0 };
    char *vm = NULL;
    size_t i;
    int rc;

    rc = make_vm(call, op, host, peer, spec, &vm, result_r);
    free(vm);
    if (rc < 0)
        return rc;
    rc = import_find(call, op, &im);
    for (i = 0; rc == 0 && i < api_value_count(disks); i++)
        rc = make_disk(call, op, im.vm, api_array_get(disks, i), result_r);
    rc = rc ?: export_all(call, &im, &out, result_r);
    if (rc < 0) {
        xt_err_take(&e, call->xt, rc);
        if (im.vm)
            unmake(call, op, &im);
        xt_error_clear(call->xt);
        import_clear(&im);
        return xt_err_put(&e, call->xt);
    }
    r = api_struct();
    api_struct_add(r, "VM", api_string(im.vm));
    api_struct_add(r, "disks", out);
    xt_info(call->xt, "import %s: VM %s (%s) prepared for host %s", op,
            im.vm, im.uuid, host);
    import_clear(&im);
    *result_r = r;
    return 0;
}

/*
 * VM.xm_import_begin(session, op, host, spec, disks, peer, precheck):
 * spec { uuid, name_label, name_description, memory_static_max,
 * VCPUs_max, other_config }, disks [{ device, SR, virtual_size,
 * name_label, mode }...], peer the address the source host connects
 * from.  precheck: the checks only, { failures: [[code, params...]...] }.
 * Else the first failure, or { VM, disks: [{ device, vdi, remote }...] }.
 */
static int import_begin(struct api_call_ctx *call,
                        const struct api_value *params,
                        struct api_value **result_r)
{
    const char *op = xa_param_str(params, 1);
    const char *host = xa_param_str(params, 2);
    const struct api_value *spec = api_array_get(params, 3);
    const struct api_value *disks = api_array_get(params, 4);
    const char *peer = xa_param_str(params, 5);
    const char *uuid = api_value_string(api_struct_get(spec, "uuid"));
    struct api_value *fails;
    struct import im;
    bool pre = false;
    int rc;

    if (!op || !host || !peer || !uuid ||
        api_value_type(spec) != API_STRUCT ||
        api_value_type(disks) != API_ARRAY ||
        api_value_get_bool(api_array_get(params, 6), &pre) < 0)
        return xt_error(call->xt, -EINVAL, "VM.xm_import_begin(session, "
                        "op, host, spec, disks, peer, precheck)");
    rc = xa_db_fail(call, pool_db_check_ref(dbof(call), POOL_CLASS_HOST,
                                            host), "host", host, result_r);
    if (rc < 0)
        return rc;
    fails = checks(call, host, spec, disks);
    if (pre) {
        *result_r = api_struct();
        api_struct_add(*result_r, "failures", fails);
        return 0;
    }
    if (api_value_count(fails)) {
        *result_r = xa_failure_of_desc(api_array_get(fails, 0));
        rc = xt_error(call->xt, -EPERM, "VM %s cannot come to host %s: %s",
                      uuid, host, api_value_string(api_array_get(
                          api_array_get(fails, 0), 0)));
    } else if (import_find(call, op, &im) == 0) {
        import_clear(&im);
        *result_r = api_failure("OTHER_OPERATION_IN_PROGRESS", "import", op,
                                NULL);
        rc = xt_error(call->xt, -EBUSY, "import %s exists", op);
    }
    api_value_free(fails);
    return rc ?: import_make(call, op, host, peer, spec, disks, result_r);
}

/* VM.xm_import_export(session, op, device): the disk's export made
 * again (a resumed mirror connects there), the old one gone. */
static int import_export(struct api_call_ctx *call,
                         const struct api_value *params,
                         struct api_value **result_r)
{
    const char *op = xa_param_str(params, 1);
    struct api_value *disks = NULL;
    struct import im;
    int64_t dev = -1, num;
    size_t i;
    int rc;

    if (!op || api_value_get_int64(api_array_get(params, 2), &dev) < 0)
        return xt_error(call->xt, -EINVAL, "VM.xm_import_export(session, "
                        "op, device)");
    rc = import_get(call, op, &im, result_r);
    rc = rc ?: import_disks(call, &im, &disks, result_r);
    for (i = 0; rc == 0 && i < api_value_count(disks); i++) {
        const struct api_value *d = api_array_get(disks, i);

        if (api_value_get_int64(api_struct_get(d, "device"), &num) < 0 ||
            num != dev)
            continue;
        unexport(call, &im, d);
        rc = export_disk(call, &im, d, result_r, result_r);
        break;
    }
    if (rc == 0 && i == api_value_count(disks)) {
        *result_r = api_failure("HANDLE_INVALID", "disk", "", NULL);
        rc = xt_error(call->xt, -ENOENT, "import %s has no disk %lld", op,
                      (long long)dev);
    }
    api_value_free(disks);
    import_clear(&im);
    return rc;
}


/* VM.xm_import_receive(session, op, network): the host's receiver for
 * the memory, { address, port, token, pin } (host_local.migrate_prepare),
 * on network when it is not OpaqueRef:NULL. */
static int import_receive(struct api_call_ctx *call,
                          const struct api_value *params,
                          struct api_value **result_r)
{
    const char *op = xa_param_str(params, 1);
    struct pool_db *db = dbof(call);
    struct api_value *p = NULL, *disks = NULL;
    int64_t mem = 0, vcpus = 0;
    char *naddr = NULL;
    struct import im;
    int rc;

    if (!op || !xa_param_str(params, 2))
        return xt_error(call->xt, -EINVAL, "VM.xm_import_receive(session, "
                        "op, network)");
    rc = import_get(call, op, &im, result_r);
    if (rc < 0)
        return rc;
    /* On the dest's network, when it named one (and it says where). */
    if (!pool_ref_is_null(xa_param_str(params, 2)) &&
        xa_net_address(db, xa_param_str(params, 2), im.host, &naddr) < 0)
        xt_error_clear(call->xt);
    rc = xa_field_int(db, POOL_CLASS_VM, im.vm, "memory_static_max", &mem);
    rc = rc ?: xa_field_int(db, POOL_CLASS_VM, im.vm, "VCPUs_max", &vcpus);
    rc = rc ?: import_disks(call, &im, &disks, result_r);
    if (rc == 0) {
        p = api_array();
        api_array_append(p, api_string(im.uuid));
        api_array_append(p, api_int(mem / HV_PAGE_SIZE));
        api_array_append(p, api_int(vcpus));
        api_array_append(p, api_string(naddr ? naddr : ""));
        api_array_append(p, disks);
        disks = NULL;
        rc = on_host(call, im.host, "host_local.migrate_prepare", p,
                     result_r, result_r);
    }
    /* A receiver exists from now on, until the VM came or it expired. */
    rc = rc ?: pool_db_map_put(db, POOL_CLASS_VM, im.vm, "other_config",
                               IMPORT_STAGE, "receiving", POOL_DB_INTERNAL);
    api_value_free(disks);
    free(naddr);
    import_clear(&im);
    return rc;
}

/* VM.xm_import_status(session, op): { known } and, when known, what the
 * host says of the VM (host_local.vm_status), NULL when it did not
 * answer. */
static int import_status(struct api_call_ctx *call,
                         const struct api_value *params,
                         struct api_value **result_r)
{
    const char *op = xa_param_str(params, 1);
    struct api_value *p, *v = NULL, *ignored = NULL, *r;
    struct import im;
    int rc;

    if (!op)
        return xt_error(call->xt, -EINVAL, "VM.xm_import_status(session, "
                        "op)");
    rc = import_find(call, op, &im);
    r = api_struct();
    api_struct_add(r, "known", api_bool(rc == 0));
    if (rc == 0) {
        p = api_array();
        api_array_append(p, api_string(im.uuid));
        if (on_host(call, im.host, "host_local.vm_status", p, &v,
                    &ignored) == 0)
            api_struct_add(r, "host", v);
        else
            api_value_free(v);
        api_value_free(ignored);
        xt_error_clear(call->xt);
    }
    import_clear(&im);
    if (rc < 0 && rc != -ENOENT) {
        api_value_free(r);
        return xt_error(call->xt, rc, "import %s", op);
    }
    *result_r = r;
    return 0;
}

/* The import's VM runs on its host: the record says so. */
static int end_running(struct api_call_ctx *call, const char *op,
                       const struct import *im, int64_t domid)
{
    static const char *const keys[] = {
        IMPORT_OP, IMPORT_HOST, IMPORT_PEER, IMPORT_STAGE, NULL
    };
    struct pool_db *db = dbof(call);
    struct pool_record **all = NULL;
    size_t i, n = 0;
    int rc;

    unexport_all(call, im);
    rc = pool_db_get_all_records(db, POOL_CLASS_VDI, &all, &n);
    rc = rc ?: pool_db_begin(db);
    rc = rc ?: xa_vm_set_running(db, im->vm, "Running", im->host, domid);
    rc = rc ?: xa_vbds_attach(db, im->vm, true);
    for (i = 0; rc == 0 && keys[i]; i++)
        rc = pool_db_map_remove(db, POOL_CLASS_VM, im->vm, "other_config",
                                keys[i], POOL_DB_INTERNAL);
    for (i = 0; rc == 0 && i < n; i++) {
        const char *o = pool_value_map_get(pool_record_get(all[i],
                                           "other_config"), IMPORT_OP);

        if (o && !strcmp(o, op))
            rc = pool_db_map_remove(db, POOL_CLASS_VDI, all[i]->ref,
                                    "other_config", IMPORT_OP,
                                    POOL_DB_INTERNAL);
    }
    rc = rc ?: pool_db_commit(db);
    if (rc < 0)
        pool_db_rollback(db);
    pool_records_free(all, n);
    return rc;
}

/* Whether the import's host has a domain of the VM or a receiver for
 * it: then no failed end may destroy its disks (a receiver ends by
 * itself, and the source repeats its end). */
static bool host_has_vm(struct api_call_ctx *call, const struct import *im)
{
    struct api_value *p = api_array(), *v = NULL, *ignored = NULL;
    bool domain = false, receiving = false;

    api_array_append(p, api_string(im->uuid));
    if (on_host(call, im->host, "host_local.vm_status", p, &v,
                &ignored) < 0) {
        /* Unknown: a host down has no domain; its disks' destruction then
         * fails and waits with the rest. */
        xt_error_clear(call->xt);
    }
    api_value_get_bool(api_struct_get(v, "running"), &domain);
    api_value_get_bool(api_struct_get(v, "receiving"), &receiving);
    api_value_free(v);
    api_value_free(ignored);
    return domain || receiving;
}

/* VM.xm_import_end(session, op, running, domid): the source's verdict.
 * running: the VM runs on the host (domid there); else it stayed on the
 * source and everything the import made goes. */
static int import_end(struct api_call_ctx *call,
                      const struct api_value *params,
                      struct api_value **result_r)
{
    const char *op = xa_param_str(params, 1);
    bool running = false;
    int64_t domid = -1;
    struct import im;
    int rc;

    if (!op || api_value_get_bool(api_array_get(params, 2), &running) < 0 ||
        api_value_get_int64(api_array_get(params, 3), &domid) < 0)
        return xt_error(call->xt, -EINVAL, "VM.xm_import_end(session, op, "
                        "running, domid)");
    rc = import_find(call, op, &im);
    if (rc == -ENOENT) {
        *result_r = api_void();         /* ended already */
        return 0;
    }
    if (rc < 0)
        return xt_error(call->xt, rc, "import %s", op);
    if (running) {
        rc = end_running(call, op, &im, domid);
    } else if (host_has_vm(call, &im)) {
        *result_r = api_failure("OPERATION_NOT_ALLOWED", "the VM runs on "
                                "the import's host", NULL);
        rc = xt_error(call->xt, -EBUSY, "import %s: host %s runs VM %s",
                      op, im.host, im.uuid);
    } else {
        rc = unmake(call, op, &im);
    }
    if (rc == 0) {
        xt_info(call->xt, "import %s of VM %s: %s", op, im.uuid, running ?
                "it runs here" : "undone");
        *result_r = api_void();
    }
    import_clear(&im);
    return rc;
}

/* ---- an import no source tells ------------------------------------------ */

/* One receiving import: running on its host (no receiver left, the domain
 * running: the commit came), or nothing there and no receiver (nothing
 * can come any more): ended as the source would. */
static void reconcile_one(struct api_call_ctx *call, const char *op,
                          const struct import *im)
{
    struct api_value *p = api_array(), *v = NULL, *ignored = NULL;
    bool domain = false, receiving = false;
    const char *st;
    int64_t domid = -1;

    api_array_append(p, api_string(im->uuid));
    if (on_host(call, im->host, "host_local.vm_status", p, &v,
                &ignored) < 0)
        goto out;               /* the host does not say: later */
    api_value_get_bool(api_struct_get(v, "running"), &domain);
    api_value_get_bool(api_struct_get(v, "receiving"), &receiving);
    api_value_get_int64(api_struct_get(v, "domid"), &domid);
    st = api_value_string(api_struct_get(v, "state"));
    if (receiving || (domain && (!st || strcmp(st, "running"))))
        goto out;
    xt_info(call->xt, "import %s of VM %s: no word from its source; its "
            "host %s", op, im->uuid, domain ? "runs it" : "has nothing of "
            "it");
    if (domain)
        end_running(call, op, im, domid);
    else
        unmake(call, op, im);
out:
    api_value_free(v);
    api_value_free(ignored);
    xt_error_clear(call->xt);
}

void xa_import_reconcile(struct xa *xa, struct pool_db *db,
                         struct xt_ctx *ctx)
{
    struct xa_call xc = { .api = { .xt = ctx }, .xa = xa, .db = db };
    struct pool_record **vms = NULL;
    size_t n = 0, i;

    xc.api.daemon = &xc;        /* a call of our own, for the helpers */
    if (pool_db_get_all_records(db, POOL_CLASS_VM, &vms, &n) < 0)
        return;
    for (i = 0; i < n && !xa->stopping; i++) {
        const struct pool_value *oc = pool_record_get(vms[i],
                                                      "other_config");
        const char *op = pool_value_map_get(oc, IMPORT_OP);
        const char *stage = pool_value_map_get(oc, IMPORT_STAGE);
        struct import im;

        if (!op || !stage || strcmp(stage, "receiving") ||
            import_find(&xc.api, op, &im) < 0)
            continue;
        reconcile_one(&xc.api, op, &im);
        import_clear(&im);
    }
    pool_records_free(vms, n);
}

const struct api_method xa_import_methods[] = {
    { "VM.xm_import_begin", 7, 0, API_METHOD_NO_ASYNC, import_begin },
    { "VM.xm_import_export", 3, 0, API_METHOD_NO_ASYNC, import_export },
    { "VM.xm_import_receive", 3, 0, API_METHOD_NO_ASYNC, import_receive },
    { "VM.xm_import_status", 2, 0, API_METHOD_NO_ASYNC, import_status },
    { "VM.xm_import_end", 4, 0, API_METHOD_NO_ASYNC, import_end },
    { NULL, 0, 0, 0, NULL },
};
