/*
 * pd_methods_vbd.c - the master's VBD methods (VBD.create, destroy, plug,
 * unplug) and what a VM's start and migration need of its disks: the
 * disk list the host agent gets (xa_vm_disks) and the checks behind it.
 *
 * A VBD joins a VDI to a VM as its disk number userdevice (the disk's
 * slot on the VM's bus is that number + 1, for its whole life).  A VM
 * gets every VBD with a VDI when it starts; while it runs, VBD.plug adds
 * one (hot-plug) and VBD.unplug asks the guest to release one, which it
 * may refuse (DEVICE_DETACH_REJECTED); VBD.unplug_force takes it away.
 * currently_attached says which the VM has.  Each of these claims the VM
 * (no migration meanwhile) and is carried out by the agent of the host
 * the VM runs on (host_local.vm_disk_plug / vm_disk_unplug).
 *
 * VM.provision makes the disks a VM's other_config:disks asks for, as
 * XAPI does for a VM installed from a template:
 *   <provision><disk device="0" size="BYTES" sr="SR-UUID or empty"
 *    bootable="true"/>...</provision>
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "pd_xenapi.h"

#define MAX_DISKS HV_MAX_DISKS

static struct pool_db *dbof(struct api_call_ctx *call)
{
    return xa_call_of(call)->db;
}

/* userdevice as a disk number, -1 if it is not one. */
static int disk_number(const char *s)
{
    char *end;
    long n;

    if (!s || !*s)
        return -1;
    n = strtol(s, &end, 10);
    return *end || n < 0 || n >= MAX_DISKS ? -1 : (int)n;
}

/* The VBDs of vm with their disk numbers, sorted by number.  *n_r of
 * them in refs_r (caller frees with pool_strv_free). */
static int vm_vbds(struct pool_db *db, const char *vm,
                   struct pool_strv *vbds, int *nums)
{
    size_t i, j;
    int rc = pool_db_find(db, POOL_CLASS_VBD, "VM", &POOL_V_REF(vm), vbds);

    for (i = 0; rc == 0 && i < vbds->n; i++) {
        char *u = NULL;

        rc = xa_field_str(db, POOL_CLASS_VBD, vbds->v[i], "userdevice", &u);
        nums[i] = disk_number(u);
        free(u);
        if (i + 1 >= MAX_DISKS)
            break;
    }
    /* insertion sort: a handful of entries */
    for (i = 1; rc == 0 && i < vbds->n && i < MAX_DISKS; i++)
        for (j = i; j > 0 && nums[j - 1] > nums[j]; j--) {
            int t = nums[j];
            char *r = vbds->v[j];

            nums[j] = nums[j - 1];
            vbds->v[j] = vbds->v[j - 1];
            nums[j - 1] = t;
            vbds->v[j - 1] = r;
        }
    return rc;
}

int xa_pbd_on(struct pool_db *db, const char *sr, const char *host,
              char **pbd_r)
{
    struct pool_strv pbds = { 0 };
    size_t i;
    int rc = pool_db_find(db, POOL_CLASS_PBD, "SR", &POOL_V_REF(sr), &pbds);

    *pbd_r = NULL;
    for (i = 0; rc == 0 && i < pbds.n && !*pbd_r; i++) {
        char *h = NULL;
        int64_t att = 0;

        rc = xa_field_str(db, POOL_CLASS_PBD, pbds.v[i], "host", &h);
        rc = rc ?: xa_field_int(db, POOL_CLASS_PBD, pbds.v[i],
                                "currently_attached", &att);
        if (rc == 0 && att && !strcmp(h, host) &&
            !(*pbd_r = strdup(pbds.v[i])))
            rc = -ENOMEM;
        free(h);
    }
    pool_strv_free(&pbds);
    return rc;
}

int xa_vdi_check_free(struct api_call_ctx *call, const char *vm,
                      const char *vdi, bool ro, const char *op,
                      struct api_value **result_r)
{
    struct pool_db *db = dbof(call);
    struct pool_strv vbds = { 0 };
    size_t i;
    int rc = pool_db_find(db, POOL_CLASS_VBD, "VDI", &POOL_V_REF(vdi),
                          &vbds);

    for (i = 0; rc == 0 && i < vbds.n; i++) {
        char *other = NULL, *mode = NULL;
        int64_t att = 0;

        rc = xa_field_str(db, POOL_CLASS_VBD, vbds.v[i], "VM", &other);
        rc = rc ?: xa_field_int(db, POOL_CLASS_VBD, vbds.v[i],
                                "currently_attached", &att);
        rc = rc ?: xa_field_str(db, POOL_CLASS_VBD, vbds.v[i], "mode",
                                &mode);
        if (rc == 0 && att && (!vm || strcmp(other, vm)) &&
            !(ro && !strcmp(mode, "RO"))) {
            *result_r = api_failure("VDI_IN_USE", vdi, op, NULL);
            rc = xt_error(call->xt, -EBUSY, "VDI %s is attached to VM %s",
                          vdi, other);
        }
        free(other);
        free(mode);
    }
    pool_strv_free(&vbds);
    return rc;
}

int xa_disk_value(struct api_call_ctx *call, const char *vm,
                  const char *vdi, const char *mode, int num,
                  const char *host, const char *op,
                  struct api_value **disk_r, struct api_value **result_r)
{
    struct pool_db *db = dbof(call);
    struct pool_value dc = { 0 };
    char *sr = NULL, *pbd = NULL, *vdi_uuid = NULL, *sr_uuid = NULL;
    char *type = NULL;
    struct api_value *d = NULL;
    int rc;

    *disk_r = NULL;
    rc = xa_field_str(db, POOL_CLASS_VDI, vdi, "SR", &sr);
    rc = rc ?: xa_field_str(db, POOL_CLASS_VDI, vdi, "uuid", &vdi_uuid);
    rc = rc ?: xa_field_str(db, POOL_CLASS_SR, sr, "uuid", &sr_uuid);
    rc = rc ?: xa_field_str(db, POOL_CLASS_SR, sr, "type", &type);
    rc = rc ?: xa_pbd_on(db, sr, host, &pbd);
    if (rc < 0)
        goto out;
    if (!pbd) {
        *result_r = api_failure("VM_REQUIRES_SR", vm, sr, NULL);
        rc = xt_error(call->xt, -ENXIO, "VM %s needs SR %s, which host %s "
                      "has not plugged%s", vm, sr, host, op ? "" :
                      ": move its disks with storage migration");
        goto out;
    }
    if (op) {
        rc = xa_vdi_check_free(call, vm, vdi, !strcmp(mode, "RO"), op,
                               result_r);
        if (rc < 0)
            goto out;
    }
    rc = pool_db_get_field(db, POOL_CLASS_PBD, pbd, "device_config", &dc);
    if (rc < 0)
        goto out;
    d = api_struct();
    rc = api_struct_add(d, "vdi", api_string(vdi_uuid));
    rc = rc ?: api_struct_add(d, "sr_type", api_string(type));
    rc = rc ?: api_struct_add(d, "sr_uuid", api_string(sr_uuid));
    rc = rc ?: api_struct_add(d, "device_config", xa_pool_value(&dc));
    rc = rc ?: api_struct_add(d, "mode", api_string(mode));
    rc = rc ?: api_struct_add(d, "device", api_int(num));
    if (rc < 0) {
        rc = xt_error(call->xt, -ENOMEM, "out of memory");
        goto out;
    }
    *disk_r = d;
    d = NULL;
out:
    api_value_free(d);
    pool_value_clear(&dc);
    free(sr);
    free(pbd);
    free(vdi_uuid);
    free(sr_uuid);
    free(type);
    return rc;
}

/* The disk of VBD vbd (number num) for the agent: xa_disk_value of its
 * VDI; *disk_r NULL for an empty drive. */
static int disk_value(struct api_call_ctx *call, const char *vm,
                      const char *vbd, int num, const char *host,
                      const char *op, struct api_value **disk_r,
                      struct api_value **result_r)
{
    struct pool_db *db = dbof(call);
    char *vdi = NULL, *mode = NULL;
    int rc;

    *disk_r = NULL;
    rc = xa_field_str(db, POOL_CLASS_VBD, vbd, "VDI", &vdi);
    rc = rc ?: xa_field_str(db, POOL_CLASS_VBD, vbd, "mode", &mode);
    if (rc == 0 && !pool_ref_is_null(vdi))
        rc = xa_disk_value(call, vm, vdi, mode, num, host, op, disk_r,
                           result_r);
    free(vdi);
    free(mode);
    return rc;
}

int xa_vm_disks(struct api_call_ctx *call, const char *vm, const char *host,
                bool starting, const struct api_value *moving,
                struct api_value **disks_r, struct api_value **result_r)
{
    struct pool_db *db = dbof(call);
    struct pool_strv vbds = { 0 };
    struct api_value *arr = api_array(), *d = NULL;
    int nums[MAX_DISKS];
    size_t i;
    int rc;

    *disks_r = NULL;
    rc = vm_vbds(db, vm, &vbds, nums);
    for (i = 0; rc == 0 && i < vbds.n && i < MAX_DISKS; i++) {
        int64_t att = 1;

        /* A running VM has the disks it started with. */
        if (!starting)
            rc = xa_field_int(db, POOL_CLASS_VBD, vbds.v[i],
                              "currently_attached", &att);
        /* A disk a storage motion moves (moving: VDI ref -> SR) gets
         * its new VDI's entry from the motion. */
        if (rc == 0 && att && moving) {
            char *vdi = NULL;

            rc = xa_field_str(db, POOL_CLASS_VBD, vbds.v[i], "VDI", &vdi);
            if (rc == 0 && api_struct_get(moving, vdi))
                att = 0;
            free(vdi);
        }
        if (rc == 0 && att && nums[i] < 0)
            rc = xt_error(call->xt, -EINVAL, "VBD %s: userdevice is not a "
                          "disk number", vbds.v[i]);
        else if (rc == 0 && att)
            rc = disk_value(call, vm, vbds.v[i], nums[i], host,
                            starting ? "start" : NULL, &d, result_r);
        if (rc == 0 && d && api_array_append(arr, d) < 0)
            rc = xt_error(call->xt, -ENOMEM, "out of memory");
        d = NULL;
    }
    pool_strv_free(&vbds);
    if (rc < 0) {
        api_value_free(arr);
        return rc;
    }
    *disks_r = arr;
    return 0;
}

int xa_vbds_attach(struct pool_db *db, const char *vm, bool attached)
{
    struct pool_strv vbds = { 0 };
    size_t i;
    int rc = pool_db_find(db, POOL_CLASS_VBD, "VM", &POOL_V_REF(vm), &vbds);

    for (i = 0; rc == 0 && i < vbds.n; i++) {
        char *vdi = NULL;

        rc = xa_field_str(db, POOL_CLASS_VBD, vbds.v[i], "VDI", &vdi);
        if (rc == 0)
            rc = pool_db_set_field(db, POOL_CLASS_VBD, vbds.v[i],
                                   "currently_attached", &POOL_V_BOOL(
                                       attached && !pool_ref_is_null(vdi)),
                                   POOL_DB_INTERNAL);
        free(vdi);
    }
    pool_strv_free(&vbds);
    return rc;
}

/* ---- VBD.create / destroy ---------------------------------------------- */

static const char *const vbd_fields[] = {
    "bootable", "mode", "unpluggable", "other_config", NULL
};

/* The first free disk number of vm, or the one asked for: *num_r. */
static int pick_number(struct api_call_ctx *call, const char *vm,
                       const char *want, int *num_r,
                       struct api_value **result_r)
{
    struct pool_strv vbds = { 0 };
    int nums[MAX_DISKS], n;
    size_t i;
    bool used[MAX_DISKS] = { false };
    int rc = vm_vbds(dbof(call), vm, &vbds, nums);

    for (i = 0; rc == 0 && i < vbds.n && i < MAX_DISKS; i++)
        if (nums[i] >= 0)
            used[nums[i]] = true;
    pool_strv_free(&vbds);
    if (rc < 0)
        return rc;
    if (!want || !strcmp(want, "autodetect")) {
        for (n = 0; n < MAX_DISKS && used[n]; n++)
            ;
        if (n == MAX_DISKS) {
            *result_r = api_failure("OPERATION_NOT_ALLOWED", "the VM has "
                                    "all the disks it can take", NULL);
            return xt_error(call->xt, -ENOSPC, "VM %s has %d disks", vm,
                            MAX_DISKS);
        }
    } else if ((n = disk_number(want)) < 0) {
        *result_r = api_failure("INVALID_VALUE", "userdevice", want, NULL);
        return xt_error(call->xt, -EINVAL, "userdevice '%s': a disk number "
                        "0..%d or autodetect", want, MAX_DISKS - 1);
    } else if (used[n]) {
        *result_r = api_failure("DEVICE_ALREADY_EXISTS", want, NULL);
        return xt_error(call->xt, -EEXIST, "VM %s has a disk %d already",
                        vm, n);
    }
    *num_r = n;
    return 0;
}

static int vbd_create(struct api_call_ctx *call,
                      const struct api_value *params,
                      struct api_value **result_r)
{
    const struct api_value *rec = api_array_get(params, 1);
    const struct pool_class *cls = pool_class_get(POOL_CLASS_VBD);
    const char *vm = api_value_string(api_struct_get(rec, "VM"));
    const char *vdi = api_value_string(api_struct_get(rec, "VDI"));
    const char *type = api_value_string(api_struct_get(rec, "type"));
    struct pool_field_init init[12];
    char ud[16], dev[16], *ref = NULL;
    size_t i, n = 0, owned;
    int num = 0, rc;

    if (api_value_type(rec) != API_STRUCT || !vm || !vdi)
        return xt_error(call->xt, -EINVAL, "VBD.create(session, record "
                        "with VM and VDI)");
    rc = pool_db_check_ref(dbof(call), POOL_CLASS_VM, vm);
    rc = xa_db_fail(call, rc, "VM", vm, result_r);
    if (rc == 0 && type && strcmp(type, "Disk")) {
        *result_r = api_failure("INVALID_VALUE", "type", type, NULL);
        rc = xt_error(call->xt, -EINVAL, "VBD type %s: xm-pool VMs have "
                      "disks only", type);
    }
    if (rc == 0 && pool_ref_is_null(vdi)) {
        *result_r = api_failure("INVALID_VALUE", "VDI", vdi, NULL);
        rc = xt_error(call->xt, -EINVAL, "a disk needs a VDI (empty drives "
                      "are for CDs, which xm-pool VMs do not have)");
    }
    if (rc == 0)
        rc = xa_db_fail(call, pool_db_check_ref(dbof(call), POOL_CLASS_VDI,
                                                vdi), "VDI", vdi, result_r);
    rc = rc ?: pick_number(call, vm, api_value_string(
                               api_struct_get(rec, "userdevice")), &num,
                           result_r);
    for (i = 0; rc == 0 && vbd_fields[i]; i++) {
        const struct api_value *a = api_struct_get(rec, vbd_fields[i]);
        const struct pool_field *f = pool_class_field(cls, vbd_fields[i]);

        if (!a)
            continue;
        init[n].name = f->name;
        if (xa_value_from_api(f, a, &init[n++].value) < 0) {
            *result_r = api_failure("FIELD_TYPE_ERROR", f->name, NULL);
            rc = xt_error(call->xt, -EINVAL, "%s: wrong type", f->name);
        }
    }
    if (rc < 0)
        goto out;
    owned = n;                  /* the rest borrow their strings */
    snprintf(ud, sizeof(ud), "%d", num);
    snprintf(dev, sizeof(dev), "xvd%c", 'a' + num);
    init[n++] = (struct pool_field_init){ "VM", POOL_V_REF(vm) };
    init[n++] = (struct pool_field_init){ "VDI", POOL_V_REF(vdi) };
    init[n++] = (struct pool_field_init){ "userdevice", POOL_V_STR(ud) };
    init[n++] = (struct pool_field_init){ "device", POOL_V_STR(dev) };
    rc = pool_db_create(dbof(call), POOL_CLASS_VBD, init, n, &ref);
    if (rc == 0)
        *result_r = api_string(ref);
    n = owned;
out:
    for (i = 0; i < n; i++)
        pool_value_clear(&init[i].value);
    free(ref);
    return rc;
}

/* The VBD's attached flag and its VM's power state. */
static int vbd_state(struct api_call_ctx *call, const char *vbd,
                     int64_t *att_r, char **vm_r, char **ps_r,
                     struct api_value **result_r)
{
    struct pool_db *db = dbof(call);
    int rc;

    *vm_r = *ps_r = NULL;
    rc = xa_field_int(db, POOL_CLASS_VBD, vbd, "currently_attached", att_r);
    rc = xa_db_fail(call, rc, "VBD", vbd, result_r);
    rc = rc ?: xa_field_str(db, POOL_CLASS_VBD, vbd, "VM", vm_r);
    rc = rc ?: xa_field_str(db, POOL_CLASS_VM, *vm_r, "power_state", ps_r);
    return rc;
}

static int vbd_destroy(struct api_call_ctx *call,
                       const struct api_value *params,
                       struct api_value **result_r)
{
    const char *vbd = xa_param_str(params, 1);
    char *vm = NULL, *ps = NULL;
    int64_t att = 0;
    int rc;

    if (!vbd)
        return xt_error(call->xt, -EINVAL, "VBD.destroy(session, vbd)");
    rc = vbd_state(call, vbd, &att, &vm, &ps, result_r);
    if (rc == 0 && att) {
        *result_r = api_failure("DEVICE_ALREADY_ATTACHED", vbd, NULL);
        rc = xt_error(call->xt, -EBUSY, "VBD %s is attached to its running "
                      "VM", vbd);
    }
    rc = rc ?: pool_db_destroy(dbof(call), POOL_CLASS_VBD, vbd);
    if (rc == 0)
        *result_r = api_void();
    free(vm);
    free(ps);
    return rc;
}

/* ---- VBD.plug / unplug ------------------------------------------------- */

#define HOTPLUG_TIMEOUT_S   60      /* the agent's answer (the guest's has
                                     * its own bound, in the VMM) */

/* The agent's call for vbd (disk number num) of running vm: a plug, or an
 * unplug (forced or not).  *result_r holds the agent's failure. */
static int hotplug_call(struct api_call_ctx *call, const char *vbd,
                        const char *vm, int num, bool plug, bool force,
                        struct api_value **result_r)
{
    struct xa_call *xc = xa_call_of(call);
    struct pool_db *db = dbof(call);
    struct api_value *params = api_array(), *d = NULL, *v = NULL;
    char *host = NULL, *url = NULL, *uuid = NULL;
    int rc;

    rc = xa_field_str(db, POOL_CLASS_VM, vm, "resident_on", &host);
    rc = rc ?: xa_field_str(db, POOL_CLASS_VM, vm, "uuid", &uuid);
    rc = rc ?: xa_host_usable(call, host, result_r);
    rc = rc ?: xa_host_url(xc->xa, db, host, &url);
    if (rc == 0 && plug)
        rc = disk_value(call, vm, vbd, num, host, "plug", &d, result_r);
    if (rc < 0)
        goto out;
    rc = api_array_append(params, api_string(uuid));
    if (plug) {
        rc = rc ?: api_array_append(params, d);
        d = NULL;
    } else {
        rc = rc ?: api_array_append(params, api_int(num));
        rc = rc ?: api_array_append(params, api_bool(force));
        rc = rc ?: api_array_append(params, api_string(vbd));
    }
    if (rc < 0) {
        rc = xt_error(call->xt, -ENOMEM, "out of memory");
        goto out;
    }
    rc = xa_host_call(xc->xa, call->xt, url, plug ? "host_local.vm_disk_plug"
                      : "host_local.vm_disk_unplug", params,
                      HOTPLUG_TIMEOUT_S, &v, result_r);
    params = NULL;
    if (rc < 0 && plug)
        xa_vdi_in_use_ref(db, result_r, "plug");
    if (rc < 0)
        goto out;
    rc = pool_db_set_field(db, POOL_CLASS_VBD, vbd, "currently_attached",
                           &POOL_V_BOOL(plug), POOL_DB_INTERNAL);
out:
    api_value_free(params);
    api_value_free(d);
    api_value_free(v);
    free(host);
    free(url);
    free(uuid);
    return rc;
}

static int vbd_plug_op(struct api_call_ctx *call,
                       const struct api_value *params, bool plug, bool force,
                       struct api_value **result_r)
{
    const char *vbd = xa_param_str(params, 1);
    const char *name = plug ? "plug" : force ? "unplug_force" : "unplug";
    char *vm = NULL, *ps = NULL, *ud = NULL, key[POOL_REF_STRLEN + 1];
    int64_t att = 0, unpluggable = 1;
    bool claimed = false;
    int rc, num;

    if (!vbd)
        return xt_error(call->xt, -EINVAL, "VBD.%s(session, vbd)", name);
    rc = vbd_state(call, vbd, &att, &vm, &ps, result_r);
    rc = rc ?: xa_field_int(dbof(call), POOL_CLASS_VBD, vbd, "unpluggable",
                            &unpluggable);
    rc = rc ?: xa_field_str(dbof(call), POOL_CLASS_VBD, vbd, "userdevice",
                            &ud);
    if (rc < 0)
        goto out;
    num = disk_number(ud);
    if (plug && att) {
        *result_r = api_failure("DEVICE_ALREADY_ATTACHED", vbd, NULL);
        rc = xt_error(call->xt, -EBUSY, "VBD %s is attached", vbd);
    } else if (!plug && !att) {
        *result_r = api_failure("DEVICE_ALREADY_DETACHED", vbd, NULL);
        rc = xt_error(call->xt, -EINVAL, "VBD %s is not attached", vbd);
    } else if (strcmp(ps, "Running") != 0) {
        *result_r = api_failure("VM_BAD_POWER_STATE", vm, "Running", ps,
                                NULL);
        rc = xt_error(call->xt, -EPERM, "VM %s is %s: its disks attach "
                      "when it starts", vm, ps);
    } else if (!plug && !force && !unpluggable) {
        *result_r = api_failure("VBD_NOT_UNPLUGGABLE", vbd, NULL);
        rc = xt_error(call->xt, -EPERM, "VBD %s is not unpluggable", vbd);
    } else if (num < 0) {
        *result_r = api_failure("INVALID_VALUE", "userdevice", ud, NULL);
        rc = xt_error(call->xt, -EINVAL, "VBD %s: userdevice '%s' is not a "
                      "disk number", vbd, ud);
    }
    if (rc < 0)
        goto out;
    /* The VM is ours until the agent answers: no migration, no other
     * plug, no shutdown meanwhile. */
    xa_op_key(call, key);
    rc = xa_vm_claim(call, vm, "Running", plug ? "VBD.plug" : "VBD.unplug",
                     key, NULL, NULL, result_r);
    if (rc < 0)
        goto out;
    claimed = true;
    rc = hotplug_call(call, vbd, vm, num, plug, force, result_r);
    if (rc == 0)
        *result_r = api_void();
out:
    if (claimed)
        pool_db_map_remove(dbof(call), POOL_CLASS_VM, vm,
                           "current_operations", key, POOL_DB_INTERNAL);
    free(vm);
    free(ps);
    free(ud);
    return rc;
}

static int vbd_plug(struct api_call_ctx *call,
                    const struct api_value *params,
                    struct api_value **result_r)
{
    return vbd_plug_op(call, params, true, false, result_r);
}

static int vbd_unplug(struct api_call_ctx *call,
                      const struct api_value *params,
                      struct api_value **result_r)
{
    return vbd_plug_op(call, params, false, false, result_r);
}

static int vbd_unplug_force(struct api_call_ctx *call,
                            const struct api_value *params,
                            struct api_value **result_r)
{
    return vbd_plug_op(call, params, false, true, result_r);
}

/* ---- VM.provision ------------------------------------------------------ */

#define DISKS_XML_MAX   (64u << 10)

struct prov_disk {
    char device[8];
    int64_t size;
    char sr[XT_UUID_STRLEN + 1];    /* "" for the pool's default SR */
    bool bootable;
};

/* other_config:disks into d[] (*n_r of them); INVALID_VALUE if it is not
 * what XAPI writes there. */
static int parse_disks(struct api_call_ctx *call, const char *xml,
                       struct prov_disk *d, size_t *n_r,
                       struct api_value **result_r)
{
    xmlDocPtr doc = NULL;
    xmlNodePtr root, c;
    size_t n = 0;
    int rc = 0;

    *n_r = 0;
    if (strlen(xml) < DISKS_XML_MAX)
        doc = xmlReadMemory(xml, (int)strlen(xml), "disks.xml", NULL,
                            XML_PARSE_NONET | XML_PARSE_NOERROR |
                            XML_PARSE_NOWARNING);
    root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!root || xmlStrcmp(root->name, BAD_CAST "provision"))
        rc = -EINVAL;
    for (c = root ? root->children : NULL; rc == 0 && c; c = c->next) {
        xmlChar *dev, *size, *sr, *boot;
        char *end;

        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (xmlStrcmp(c->name, BAD_CAST "disk") || n == MAX_DISKS) {
            rc = -EINVAL;
            break;
        }
        dev = xmlGetProp(c, BAD_CAST "device");
        size = xmlGetProp(c, BAD_CAST "size");
        sr = xmlGetProp(c, BAD_CAST "sr");
        boot = xmlGetProp(c, BAD_CAST "bootable");
        memset(&d[n], 0, sizeof(d[n]));
        if (!dev || disk_number((const char *)dev) < 0 || !size ||
            (d[n].size = strtoll((const char *)size, &end, 10)) <= 0 ||
            *end || (sr && xmlStrlen(sr) > XT_UUID_STRLEN))
            rc = -EINVAL;
        if (rc == 0) {
            snprintf(d[n].device, sizeof(d[n].device), "%s",
                     (const char *)dev);
            snprintf(d[n].sr, sizeof(d[n].sr), "%s",
                     sr ? (const char *)sr : "");
            d[n].bootable = boot && !xmlStrcasecmp(boot, BAD_CAST "true");
            n++;
        }
        xmlFree(dev);
        xmlFree(size);
        xmlFree(sr);
        xmlFree(boot);
    }
    xmlFreeDoc(doc);
    if (rc < 0) {
        *result_r = api_failure("INVALID_VALUE", "other_config:disks", xml,
                                NULL);
        return xt_error(call->xt, rc, "other_config:disks is not "
                        "<provision><disk device= size= sr= bootable=/>"
                        "...</provision>");
    }
    *n_r = n;
    return 0;
}

/* The SR of a disk to provision: its uuid, else the pool's default. */
static int prov_sr(struct api_call_ctx *call, const struct prov_disk *d,
                   char **sr_r, struct api_value **result_r)
{
    struct pool_db *db = dbof(call);
    struct pool_strv v = { 0 };
    int rc;

    *sr_r = NULL;
    if (*d->sr) {
        rc = pool_db_find(db, POOL_CLASS_SR, "uuid", &POOL_V_STR(d->sr), &v);
        if (rc == 0 && v.n == 1 && !(*sr_r = strdup(v.v[0])))
            rc = -ENOMEM;
        pool_strv_free(&v);
        if (rc == 0 && !*sr_r) {
            *result_r = api_failure("UUID_INVALID", "SR", d->sr, NULL);
            rc = xt_error(call->xt, -ENOENT, "no SR %s", d->sr);
        }
        return rc;
    }
    rc = pool_db_get_all(db, POOL_CLASS_POOL, &v);
    if (rc == 0 && v.n)
        rc = xa_field_str(db, POOL_CLASS_POOL, v.v[0], "default_SR", sr_r);
    pool_strv_free(&v);
    if (rc == 0 && (!*sr_r || pool_ref_is_null(*sr_r))) {
        free(*sr_r);
        *sr_r = NULL;
        *result_r = api_failure("INVALID_VALUE", "other_config:disks",
                                "a disk with no sr, and the pool has no "
                                "default_SR", NULL);
        rc = xt_error(call->xt, -ENOENT, "disk %s: no SR given and no "
                      "default SR", d->device);
    }
    return rc;
}

/* One disk: its VDI, then its VBD; the VDI goes again if the VBD cannot
 * be made.  *vdi_r and *vbd_r: the caller's. */
static int prov_one(struct api_call_ctx *call, const char *vm,
                    const char *name, const struct prov_disk *d,
                    char **vdi_r, char **vbd_r, struct api_value **result_r)
{
    struct api_value *p = NULL, *rec, *r = NULL;
    char label[160], *sr = NULL;
    int rc;

    *vdi_r = *vbd_r = NULL;
    snprintf(label, sizeof(label), "%.140s %.8s", name, d->device);
    rc = prov_sr(call, d, &sr, result_r);
    rc = rc ?: xa_vdi_create(call, sr, d->size, label, vdi_r, result_r);
    free(sr);
    if (rc < 0)
        return rc;
    rec = api_struct();
    rc = api_struct_add(rec, "VM", api_string(vm));
    rc = rc ?: api_struct_add(rec, "VDI", api_string(*vdi_r));
    rc = rc ?: api_struct_add(rec, "userdevice", api_string(d->device));
    rc = rc ?: api_struct_add(rec, "bootable", api_bool(d->bootable));
    p = api_array();
    rc = rc ?: api_array_append(p, api_string(""));
    rc = rc ?: api_array_append(p, rec);
    if (rc < 0) {
        api_value_free(rec);
        rc = xt_error(call->xt, -ENOMEM, "out of memory");
    } else {
        rc = vbd_create(call, p, &r);
    }
    if (rc == 0 && !(*vbd_r = strdup(api_value_string(r) ?: "")))
        rc = xt_error(call->xt, -ENOMEM, "out of memory");
    if (rc < 0 && r && !*result_r) {
        *result_r = r;
        r = NULL;
    }
    if (rc < 0) {
        struct api_value *ignored = NULL;

        xa_vdi_destroy(call, *vdi_r, &ignored);
        api_value_free(ignored);
        free(*vdi_r);
        *vdi_r = NULL;
    }
    api_value_free(r);
    api_value_free(p);
    return rc;
}

static int vm_provision(struct api_call_ctx *call,
                        const struct api_value *params,
                        struct api_value **result_r)
{
    const char *vm = xa_param_str(params, 1);
    struct pool_db *db = dbof(call);
    struct pool_value oc = { 0 };
    struct prov_disk d[MAX_DISKS];
    char *name = NULL, *vdis[MAX_DISKS], *vbds[MAX_DISKS];
    char key[POOL_REF_STRLEN + 1];
    const char *xml;
    size_t i, n = 0, made = 0;
    bool claimed = false;
    int rc;

    if (!vm)
        return xt_error(call->xt, -EINVAL, "VM.provision(session, vm)");
    /* Halted and no other operation, until it is done. */
    xa_op_key(call, key);
    rc = xa_vm_claim(call, vm, "Halted", "provision", key, NULL, NULL,
                     result_r);
    if (rc < 0)
        return rc;
    claimed = true;
    rc = xa_field_str(db, POOL_CLASS_VM, vm, "name_label", &name);
    rc = rc ?: pool_db_get_field(db, POOL_CLASS_VM, vm, "other_config", &oc);
    if (rc < 0)
        goto out;
    xml = pool_value_map_get(&oc, "disks");
    rc = xml ? parse_disks(call, xml, d, &n, result_r) : 0;
    for (i = 0; rc == 0 && i < n; i++) {
        rc = prov_one(call, vm, name, &d[i], &vdis[i], &vbds[i], result_r);
        if (rc == 0)
            made++;
    }
    if (rc < 0) {
        /* All or nothing: no half-provisioned VM, no orphan VDI. */
        for (i = 0; i < made; i++) {
            struct api_value *ignored = NULL;

            pool_db_destroy(db, POOL_CLASS_VBD, vbds[i]);
            xa_vdi_destroy(call, vdis[i], &ignored);
            api_value_free(ignored);
        }
        goto out;
    }
    /* Provisioned once: the key goes, as XAPI does. */
    if (xml && pool_value_map_remove(&oc, "disks"))
        rc = pool_db_set_field(db, POOL_CLASS_VM, vm, "other_config", &oc,
                               POOL_DB_INTERNAL);
    if (rc == 0)
        *result_r = api_void();
out:
    if (claimed)
        pool_db_map_remove(db, POOL_CLASS_VM, vm, "current_operations", key,
                           POOL_DB_INTERNAL);
    for (i = 0; i < made; i++) {
        free(vdis[i]);
        free(vbds[i]);
    }
    pool_value_clear(&oc);
    free(name);
    return rc;
}

const struct api_method xa_vbd_methods[] = {
    { "VM.provision", 2, 0, 0, vm_provision },
    { "VBD.create", 2, 0, 0, vbd_create },
    { "VBD.destroy", 2, 0, 0, vbd_destroy },
    { "VBD.plug", 2, 0, 0, vbd_plug },
    { "VBD.unplug", 2, 0, 0, vbd_unplug },
    { "VBD.unplug_force", 2, 0, 0, vbd_unplug_force },
    { NULL, 0, 0, 0, NULL },
};
