/*
 * cli_sr.c - the storage commands, in xe's syntax: sr-create, sr-list,
 * sr-scan, sr-destroy, sr-forget, pbd-list, pbd-plug, pbd-unplug,
 * vdi-create, vdi-list, vdi-destroy, vdi-resize, vdi-clone, vdi-snapshot,
 * vdi-copy, vbd-create,
 * vbd-list, vbd-destroy, vbd-plug, vbd-unplug, vm-disk-add.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *const sr_dflt[] = {
    "uuid", "name_label", "name_description", "type", "content_type",
    "shared", NULL
};
static const char *const pbd_dflt[] = {
    "uuid", "host", "SR", "device_config", "currently_attached", NULL
};
static const char *const vdi_dflt[] = {
    "uuid", "name_label", "name_description", "SR", "virtual_size",
    "sharable", "read_only", NULL
};

static const char *const vbd_dflt[] = {
    "uuid", "VM", "VDI", "userdevice", "device", "mode", "bootable",
    "currently_attached", NULL
};

int cli_sr_list(struct cli_ctx *cli)
{
    return cli_list(cli, "SR", sr_dflt);
}

int cli_pbd_list(struct cli_ctx *cli)
{
    return cli_list(cli, "PBD", pbd_dflt);
}

int cli_vdi_list(struct cli_ctx *cli)
{
    return cli_list(cli, "VDI", vdi_dflt);
}

int cli_vbd_list(struct cli_ctx *cli)
{
    return cli_list(cli, "VBD", vbd_dflt);
}

/* cls.get_by_uuid(arg key), the ref in *ref_r (the caller frees it). */
static int ref_of(struct cli_ctx *cli, const char *cls, const char *key,
                  struct api_value **ref_r)
{
    const char *uuid = cli_arg(cli, key);
    char method[64];

    *ref_r = NULL;
    if (!uuid)
        return cli_usage_error(cli, "%s needs %s=UUID", cli->cmd->name, key);
    snprintf(method, sizeof(method), "%s.get_by_uuid", cls);
    return cli_rpc_call(cli, method, cli_strings(uuid, NULL), ref_r);
}

/* Prints the uuid of cls ref. */
static int print_uuid(struct cli_ctx *cli, const char *cls,
                      const struct api_value *ref)
{
    struct api_value *u = NULL;
    char method[64];
    int rc;

    snprintf(method, sizeof(method), "%s.get_uuid", cls);
    rc = cli_rpc_call(cli, method,
                      cli_strings(api_value_string(ref) ?: "", NULL), &u);
    if (!rc)
        fprintf(cli->out, "%s\n", api_value_string(u) ?: "");
    api_value_free(u);
    return rc;
}

/* method(ref of cls uuid=): the commands that act on one object. */
static int on_one(struct cli_ctx *cli, const char *cls, const char *method)
{
    struct api_value *ref = NULL, *v = NULL;
    int rc = ref_of(cli, cls, "uuid", &ref);

    if (!rc)
        rc = cli_rpc_call(cli, method,
                          cli_strings(api_value_string(ref) ?: "", NULL), &v);
    api_value_free(ref);
    api_value_free(v);
    return rc;
}

int cli_sr_scan(struct cli_ctx *cli)
{
    return on_one(cli, "SR", "SR.scan");
}

int cli_sr_destroy(struct cli_ctx *cli)
{
    return on_one(cli, "SR", "SR.destroy");
}

int cli_sr_forget(struct cli_ctx *cli)
{
    return on_one(cli, "SR", "SR.forget");
}

int cli_pbd_plug(struct cli_ctx *cli)
{
    return on_one(cli, "PBD", "PBD.plug");
}

int cli_pbd_unplug(struct cli_ctx *cli)
{
    return on_one(cli, "PBD", "PBD.unplug");
}

int cli_vdi_destroy(struct cli_ctx *cli)
{
    return on_one(cli, "VDI", "VDI.destroy");
}

int cli_vbd_destroy(struct cli_ctx *cli)
{
    return on_one(cli, "VBD", "VBD.destroy");
}

int cli_vbd_plug(struct cli_ctx *cli)
{
    return on_one(cli, "VBD", "VBD.plug");
}

int cli_vbd_unplug(struct cli_ctx *cli)
{
    bool force = false;
    int rc = cli_arg_bool(cli, "force", false, &force);

    return rc ?: on_one(cli, "VBD", force ? "VBD.unplug_force" :
                                            "VBD.unplug");
}

/* A size argument: bytes or 256M, 1G ... */
static int size_arg(struct cli_ctx *cli, const char *key, bool need,
                    int64_t *b_r)
{
    const char *s = cli_arg(cli, key);

    *b_r = 0;
    if (!s && !need)
        return 0;
    if (!s)
        return cli_usage_error(cli, "%s needs %s=SIZE", cli->cmd->name, key);
    if (cli_parse_size(s, b_r) < 0 || (need && *b_r <= 0))
        return cli_usage_error(cli, "%s=%s: expected bytes or a size like "
                               "256M, 10G", key, s);
    return 0;
}

/* The SR.create parameters after the session. */
static int sr_create_params(struct cli_ctx *cli, const char *host,
                            int64_t size, bool shared,
                            struct api_value **p_r)
{
    const char *loc = cli_arg(cli, "device-config:location");
    const char *type = cli_arg(cli, "type");
    const char *desc = cli_arg(cli, "name-description");
    const char *ct = cli_arg(cli, "content-type");
    struct api_value *dc = api_struct(), *p = api_array(), *sm = api_struct();
    int rc;

    rc = loc ? api_struct_add(dc, "location", api_string(loc)) : 0;
    rc = rc ?: api_array_append(p, api_string(host));
    rc = rc ?: api_array_append(p, dc);
    dc = NULL;
    rc = rc ?: api_array_append(p, api_int(size));
    rc = rc ?: api_array_append(p, api_string(cli_arg(cli, "name-label")));
    rc = rc ?: api_array_append(p, api_string(desc ? desc : ""));
    rc = rc ?: api_array_append(p, api_string(type));
    rc = rc ?: api_array_append(p, api_string(ct ? ct : "user"));
    rc = rc ?: api_array_append(p, api_bool(shared));
    rc = rc ?: api_array_append(p, sm);
    sm = NULL;
    api_value_free(dc);
    api_value_free(sm);
    if (rc) {
        api_value_free(p);
        return -ENOMEM;
    }
    *p_r = p;
    return 0;
}

int cli_sr_create(struct cli_ctx *cli)
{
    struct api_value *host = NULL, *p = NULL, *ref = NULL;
    const char *type = cli_arg(cli, "type");
    int64_t size = 0;
    bool shared = false;
    int rc;

    if (!cli_arg(cli, "name-label") || !type)
        return cli_usage_error(cli, "sr-create needs name-label= and type=");
    rc = size_arg(cli, "physical-size", false, &size);
    rc = rc ?: cli_arg_bool(cli, "shared", strcmp(type, "shared-file") == 0,
                            &shared);
    rc = rc ?: ref_of(cli, "host", "host-uuid", &host);
    rc = rc ?: sr_create_params(cli, api_value_string(host) ?: "", size,
                                shared, &p);
    rc = rc ?: cli_rpc_call(cli, "SR.create", p, &ref);
    rc = rc ?: print_uuid(cli, "SR", ref);
    api_value_free(host);
    api_value_free(ref);
    return rc;
}

int cli_vdi_create(struct cli_ctx *cli)
{
    struct api_value *sr = NULL, *rec = NULL, *p = NULL, *ref = NULL;
    const char *desc = cli_arg(cli, "name-description");
    const char *type = cli_arg(cli, "type");
    int64_t size = 0;
    int rc;

    if (!cli_arg(cli, "name-label"))
        return cli_usage_error(cli, "vdi-create needs name-label=");
    rc = size_arg(cli, "virtual-size", true, &size);
    rc = rc ?: ref_of(cli, "SR", "sr-uuid", &sr);
    if (rc)
        goto out;
    rec = api_struct();
    rc = api_struct_add(rec, "SR", api_string(api_value_string(sr) ?: ""));
    rc = rc ?: api_struct_add(rec, "virtual_size", api_int(size));
    rc = rc ?: api_struct_add(rec, "name_label",
                              api_string(cli_arg(cli, "name-label")));
    rc = rc ?: api_struct_add(rec, "name_description",
                              api_string(desc ? desc : ""));
    rc = rc ?: api_struct_add(rec, "type", api_string(type ? type : "user"));
    p = api_array();
    rc = rc ?: api_array_append(p, rec);
    rec = NULL;
    if (rc) {
        api_value_free(p);
        rc = -ENOMEM;
        goto out;
    }
    rc = cli_rpc_call(cli, "VDI.create", p, &ref);
    rc = rc ?: print_uuid(cli, "VDI", ref);
out:
    api_value_free(sr);
    api_value_free(rec);
    api_value_free(ref);
    return rc;
}

int cli_vdi_resize(struct cli_ctx *cli)
{
    struct api_value *ref = NULL, *p = NULL, *v = NULL;
    int64_t size = 0;
    int rc = size_arg(cli, "disk-size", true, &size);

    rc = rc ?: ref_of(cli, "VDI", "uuid", &ref);
    if (!rc) {
        p = cli_strings(api_value_string(ref) ?: "", NULL);
        rc = p ? api_array_append(p, api_int(size)) : -ENOMEM;
    }
    if (!rc) {
        rc = cli_rpc_call(cli, "VDI.resize", p, &v);
        p = NULL;
    }
    api_value_free(p);
    api_value_free(ref);
    api_value_free(v);
    return rc;
}

/* VDI.clone or VDI.snapshot of uuid=, named new-name-label= if given;
 * prints the copy's uuid. */
static int vdi_copy(struct cli_ctx *cli, const char *method)
{
    const char *name = cli_arg(cli, "new-name-label");
    struct api_value *ref = NULL, *p = NULL, *copy = NULL, *v = NULL;
    int rc = ref_of(cli, "VDI", "uuid", &ref);

    if (!rc) {
        p = cli_strings(api_value_string(ref) ?: "", NULL);
        rc = p ? api_array_append(p, api_struct()) : -ENOMEM;
    }
    if (!rc) {
        rc = cli_rpc_call(cli, method, p, &copy);
        p = NULL;
    }
    if (!rc && name)
        rc = cli_rpc_call(cli, "VDI.set_name_label",
                          cli_strings(api_value_string(copy) ?: "", name,
                                      NULL), &v);
    rc = rc ?: print_uuid(cli, "VDI", copy);
    api_value_free(p);
    api_value_free(ref);
    api_value_free(copy);
    api_value_free(v);
    return rc;
}

int cli_vdi_clone(struct cli_ctx *cli)
{
    return vdi_copy(cli, "VDI.clone");
}

int cli_vdi_snapshot(struct cli_ctx *cli)
{
    return vdi_copy(cli, "VDI.snapshot");
}

/* Runs Async.METHOD(params, taken) and waits for its task (with the
 * progress bar when show); prints the new VDI's uuid it answers, or the
 * task's failure. */
static int vdi_task(struct cli_ctx *cli, const char *method,
                    struct api_value *params, bool show)
{
    struct api_value *task = NULL, *rec = NULL;
    const char *status;
    char async[64];
    int rc;

    snprintf(async, sizeof(async), "Async.%s", method);
    rc = cli_rpc_call(cli, async, params, &task);
    rc = rc ?: cli_task_wait(cli, api_value_string(task) ?: "", show, &rec);
    if (rc == 0) {
        status = api_value_string(api_struct_get(rec, "status")) ?: "";
        rc = !strcmp(status, "success") ?
             print_uuid(cli, "VDI", api_struct_get(rec, "result")) :
             cli_task_failed(cli, rec);
    }
    api_value_free(task);
    api_value_free(rec);
    return rc;
}

/* vdi-copy uuid= sr-uuid=: a sparse copy of a VDI into a new one on
 * another SR (or the same), through Async.VDI.copy; prints the new VDI's
 * uuid. */
int cli_vdi_copy(struct cli_ctx *cli)
{
    struct api_value *vdi = NULL, *sr = NULL;
    int rc;

    if (!cli_arg(cli, "uuid") || !cli_arg(cli, "sr-uuid"))
        return cli_usage_error(cli, "vdi-copy needs uuid=UUID and "
                               "sr-uuid=UUID");
    rc = ref_of(cli, "VDI", "uuid", &vdi);
    rc = rc ?: ref_of(cli, "SR", "sr-uuid", &sr);
    rc = rc ?: vdi_task(cli, "VDI.copy",
                        cli_strings(api_value_string(vdi) ?: "",
                                    api_value_string(sr) ?: "", NULL),
                        false);
    api_value_free(vdi);
    api_value_free(sr);
    return rc;
}

/* VBD.create of vdi as disk device (NULL: the first free) of vm, with
 * the mode= and bootable= arguments; prints the VBD's uuid. */
static int vbd_create(struct cli_ctx *cli, const char *vm, const char *vdi,
                      const char *device)
{
    const char *mode = cli_arg(cli, "mode");
    struct api_value *rec = api_struct(), *p = NULL, *ref = NULL;
    bool bootable = false;
    int rc;

    if (mode && strcmp(mode, "RW") && strcmp(mode, "RO")) {
        api_value_free(rec);
        return cli_usage_error(cli, "mode=%s: RW or RO", mode);
    }
    rc = cli_arg_bool(cli, "bootable", false, &bootable);
    if (rc) {
        api_value_free(rec);
        return rc;
    }
    rc = api_struct_add(rec, "VM", api_string(vm));
    rc = rc ?: api_struct_add(rec, "VDI", api_string(vdi));
    rc = rc ?: api_struct_add(rec, "userdevice",
                              api_string(device ? device : "autodetect"));
    rc = rc ?: api_struct_add(rec, "mode", api_string(mode ? mode : "RW"));
    rc = rc ?: api_struct_add(rec, "type", api_string("Disk"));
    rc = rc ?: api_struct_add(rec, "bootable", api_bool(bootable));
    p = api_array();
    rc = rc ?: api_array_append(p, rec);
    if (rc) {
        api_value_free(rec);
        api_value_free(p);
        return -ENOMEM;
    }
    rc = cli_rpc_call(cli, "VBD.create", p, &ref);
    rc = rc ?: print_uuid(cli, "VBD", ref);
    api_value_free(ref);
    return rc;
}

int cli_vbd_create(struct cli_ctx *cli)
{
    struct api_value *vm = NULL, *vdi = NULL;
    int rc = ref_of(cli, "VM", "vm-uuid", &vm);

    rc = rc ?: ref_of(cli, "VDI", "vdi-uuid", &vdi);
    rc = rc ?: vbd_create(cli, api_value_string(vm) ?: "",
                          api_value_string(vdi) ?: "",
                          cli_arg(cli, "device"));
    api_value_free(vm);
    api_value_free(vdi);
    return rc;
}

/* The SR of sr-uuid=, else the pool's default SR (*sr_r: its ref). */
static int disk_sr(struct cli_ctx *cli, struct api_value **sr_r)
{
    struct api_value *pools = NULL;
    const char *p;
    int rc;

    if (cli_arg(cli, "sr-uuid"))
        return ref_of(cli, "SR", "sr-uuid", sr_r);
    rc = cli_rpc_call(cli, "pool.get_all", NULL, &pools);
    p = api_value_string(api_array_get(pools, 0));
    rc = rc ?: cli_rpc_call(cli, "pool.get_default_SR",
                            cli_strings(p ? p : "", NULL), sr_r);
    api_value_free(pools);
    if (rc == 0 && (!api_value_string(*sr_r) ||
                    !strncmp(api_value_string(*sr_r), "OpaqueRef:NULL", 14)))
        rc = cli_usage_error(cli, "vm-disk-add needs sr-uuid=: the pool has "
                             "no default SR (pool-param-set "
                             "default-SR=UUID sets one)");
    return rc;
}

int cli_disk_add(struct cli_ctx *cli, const char *vm, const char *vm_name)
{
    struct api_value *sr = NULL, *rec = NULL, *p = NULL, *vdi = NULL;
    char label[160];
    int64_t size = 0;
    int rc;

    if (cli_arg(cli, "vdi-uuid")) {
        rc = ref_of(cli, "VDI", "vdi-uuid", &vdi);
        rc = rc ?: vbd_create(cli, vm, api_value_string(vdi) ?: "",
                              cli_arg(cli, "device"));
        api_value_free(vdi);
        return rc;
    }
    rc = size_arg(cli, "disk-size", true, &size);
    rc = rc ?: disk_sr(cli, &sr);
    if (rc)
        goto out;
    snprintf(label, sizeof(label), "%s disk", vm_name);
    rec = api_struct();
    rc = api_struct_add(rec, "SR", api_string(api_value_string(sr) ?: ""));
    rc = rc ?: api_struct_add(rec, "virtual_size", api_int(size));
    rc = rc ?: api_struct_add(rec, "name_label", api_string(label));
    p = api_array();
    rc = rc ?: api_array_append(p, rec);
    rec = NULL;
    if (rc) {
        api_value_free(p);
        rc = -ENOMEM;
        goto out;
    }
    rc = cli_rpc_call(cli, "VDI.create", p, &vdi);
    rc = rc ?: vbd_create(cli, vm, api_value_string(vdi) ?: "",
                          cli_arg(cli, "device"));
    if (rc && vdi) {
        /* No VBD: the new disk would be an orphan. */
        struct api_value *v = NULL;

        cli_rpc_call(cli, "VDI.destroy",
                     cli_strings(api_value_string(vdi) ?: "", NULL), &v);
        api_value_free(v);
    }
out:
    api_value_free(sr);
    api_value_free(rec);
    api_value_free(vdi);
    return rc;
}

int cli_vm_disk_add(struct cli_ctx *cli)
{
    const char *vmkey = cli_arg(cli, "vm");
    char *vm = NULL, *name = NULL;
    int rc;

    if (!vmkey)
        return cli_usage_error(cli, "vm-disk-add needs vm=NAME|UUID");
    rc = cli_find_one(cli, "VM", vmkey, &vm, &name);
    rc = rc ?: cli_disk_add(cli, vm, name);
    free(vm);
    free(name);
    return rc;
}

/* vdi-pool-migrate uuid= sr-uuid= [max-bps=] [keep-source=]: a running
 * VM's disk to another SR, live (Async.VDI.pool_migrate, with the
 * progress bar); prints the new VDI's uuid. */
int cli_vdi_pool_migrate(struct cli_ctx *cli)
{
    const char *bps = cli_arg(cli, "max-bps");
    struct api_value *vdi = NULL, *sr = NULL, *params = NULL, *opts = NULL;
    bool keep = false;
    int64_t b = 0;
    int rc = 0;

    if (bps && (cli_parse_size(bps, &b) < 0 || b <= 0))
        return cli_usage_error(cli, "max-bps=%s: a rate in bytes/s (K, M, "
                               "G allowed)", bps);
    rc = cli_arg_bool(cli, "keep-source", false, &keep);
    if (rc)
        return rc;
    rc = ref_of(cli, "VDI", "uuid", &vdi);
    rc = rc ?: ref_of(cli, "SR", "sr-uuid", &sr);
    if (rc)
        goto out;
    opts = api_struct();
    if (bps) {
        char num[32];

        snprintf(num, sizeof(num), "%lld", (long long)b);
        rc = api_struct_add(opts, "max_bps", api_string(num));
    }
    if (!rc && keep)
        rc = api_struct_add(opts, "keep_source", api_string("true"));
    params = cli_strings(api_value_string(vdi) ?: "",
                         api_value_string(sr) ?: "", NULL);
    if (rc || !params || api_array_append(params, opts) < 0) {
        rc = -ENOMEM;
        goto out;
    }
    opts = NULL;
    rc = vdi_task(cli, "VDI.pool_migrate", params, true);
    params = NULL;
out:
    api_value_free(vdi);
    api_value_free(sr);
    api_value_free(params);
    api_value_free(opts);
    return rc;
}
