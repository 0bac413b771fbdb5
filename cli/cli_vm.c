/*
 * cli_vm.c - the VM commands: vm-list, vm-create, vm-start, vm-shutdown,
 * vm-migrate (vm-param-* are cli_param.c's).
 */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

static const char *const vm_dflt[] = {
    "uuid", "name_label", "power_state", NULL
};

int cli_vm_list(struct cli_ctx *cli)
{
    return cli_list(cli, "VM", vm_dflt);
}

/* params: an array of the strings that follow, ended by NULL. */
struct api_value *cli_strings(const char *first, ...)
{
    struct api_value *a = api_array();
    const char *s;
    va_list ap;
    int rc = 0;

    va_start(ap, first);
    for (s = first; s && !rc; s = va_arg(ap, const char *))
        rc = api_array_append(a, api_string(s));
    va_end(ap);
    if (rc) {
        api_value_free(a);
        return NULL;
    }
    return a;
}

/* A call that may fall back: *mismatch_r true when the server does not
 * know the method or its parameter count (nothing reported then). */
static int call_try(struct cli_ctx *cli, const char *method,
                    struct api_value *params, struct api_value **v_r,
                    bool *mismatch_r)
{
    struct api_value *env = NULL;
    const char *code;
    int rc;

    *v_r = NULL;
    *mismatch_r = false;
    rc = cli_rpc_call_env(cli, method, params, &env);
    if (rc)
        return rc;
    if (api_is_success(env)) {
        *v_r = api_value_copy(api_struct_get(env, "Value"));
        api_value_free(env);
        return *v_r ? 0 : -ENOMEM;
    }
    code = api_failure_code(env);
    if (code && (!strcmp(code, "MESSAGE_PARAMETER_COUNT_MISMATCH") ||
                 !strcmp(code, "MESSAGE_METHOD_UNKNOWN"))) {
        *mismatch_r = true;
        api_value_free(env);
        return -ENOTSUP;
    }
    rc = cli_server_error(cli, env);
    api_value_free(env);
    return rc;
}

int cli_find_one(struct cli_ctx *cli, const char *cls_name,
                 const char *key, char **ref_r, char **name_r)
{
    struct api_value *all = NULL;
    const char *found = NULL, *fname = NULL;
    char method[64];
    size_t i, n, k = 0;
    int rc;

    *ref_r = NULL;
    if (name_r)
        *name_r = NULL;
    snprintf(method, sizeof(method), "%s.get_all_records", cls_name);
    rc = cli_rpc_call(cli, method, NULL, &all);
    if (rc)
        return rc;
    n = api_value_count(all);
    for (i = 0; i < n; i++) {
        const struct api_value *r = api_struct_value(all, i);
        const char *u = api_value_string(api_struct_get(r, "uuid"));
        const char *l = api_value_string(api_struct_get(r, "name_label"));
        const char *a = api_value_string(api_struct_get(r, "address"));

        /* hosts also by address */
        if ((u && !strcmp(u, key)) || (l && !strcmp(l, key)) ||
            (a && !strcmp(a, key))) {
            found = api_struct_key(all, i);
            fname = l && *l ? l : u;
            k++;
        }
    }
    if (k == 1) {
        *ref_r = strdup(found);
        if (name_r)
            *name_r = strdup(fname ? fname : key);
        rc = *ref_r && (!name_r || *name_r) ? 0 : -ENOMEM;
    } else if (k == 0) {
        rc = cli_usage_error(cli, "no %s is called or has the uuid '%s'",
                             cls_name, key);
    } else {
        rc = cli_usage_error(cli, "%zu %ss are called '%s'; give the uuid",
                             k, cls_name, key);
    }
    api_value_free(all);
    return rc;
}

/* The VMs the vm= (and other) selectors name; one unless --multiple. */
static int select_vms(struct cli_ctx *cli, struct api_value **all_r,
                      const char ***refs_r,
                      const struct api_value ***recs_r, size_t *n_r)
{
    if (!cli_arg(cli, "vm") && !cli_arg(cli, "uuid") &&
        !cli_arg(cli, "name-label"))
        return cli_usage_error(cli, "%s needs vm=NAME|UUID", cli->cmd->name);
    return cli_select(cli, pool_class_find("VM"), "vm", true, all_r, refs_r,
                      recs_r, n_r);
}

/* "512M", "2G", "1048576" -> bytes */
int cli_parse_size(const char *s, int64_t *b_r)
{
    char *end;
    double d;

    errno = 0;
    d = strtod(s, &end);
    if (errno || end == s || d < 0)
        return -EINVAL;
    switch (toupper((unsigned char)*end)) {
    case '\0': break;
    case 'K': d *= 1024; end++; break;
    case 'M': d *= 1024 * 1024; end++; break;
    case 'G': d *= 1024.0 * 1024 * 1024; end++; break;
    case 'T': d *= 1024.0 * 1024 * 1024 * 1024; end++; break;
    default: return -EINVAL;
    }
    if (*end == 'i' || *end == 'B')
        end += *end == 'i' ? 1 : 0;
    if (*end == 'B')
        end++;
    if (*end || d > 9.0e18)
        return -EINVAL;
    *b_r = (int64_t)d;
    return 0;
}

int cli_vm_create(struct cli_ctx *cli)
{
    const char *name = cli_arg(cli, "name-label");
    const char *desc = cli_arg(cli, "name-description");
    const char *mem = cli_arg(cli, "memory");
    const char *vcpus = cli_arg(cli, "vcpus");
    const char *kernel = cli_arg(cli, "kernel");
    const char *cmdline = cli_arg(cli, "cmdline");
    struct api_value *rec = NULL, *oc = NULL, *params, *ref = NULL, *u = NULL;
    int64_t bytes = 0;
    long n = 1;
    int rc;

    if (!name || !mem)
        return cli_usage_error(cli, "vm-create needs name-label= and "
                               "memory=");
    if (cli_parse_size(mem, &bytes) || bytes <= 0)
        return cli_usage_error(cli, "memory=%s: expected bytes or a size "
                               "like 256M, 1G", mem);
    if (vcpus) {
        char *end;

        n = strtol(vcpus, &end, 10);
        if (end == vcpus || *end || n < 1 || n > 4096)
            return cli_usage_error(cli, "vcpus=%s: expected 1-4096", vcpus);
    }
    rec = api_struct();
    oc = api_struct();
    rc = api_struct_add(rec, "name_label", api_string(name));
    if (!rc)
        rc = api_struct_add(rec, "name_description",
                            api_string(desc ? desc : ""));
    if (!rc)
        rc = api_struct_add(rec, "memory_static_max", api_int(bytes));
    if (!rc)
        rc = api_struct_add(rec, "memory_dynamic_max", api_int(bytes));
    if (!rc)
        rc = api_struct_add(rec, "memory_dynamic_min", api_int(bytes));
    if (!rc)
        rc = api_struct_add(rec, "memory_static_min", api_int(bytes));
    if (!rc)
        rc = api_struct_add(rec, "VCPUs_max", api_int(n));
    if (!rc)
        rc = api_struct_add(rec, "VCPUs_at_startup", api_int(n));
    if (!rc && kernel)
        rc = api_struct_add(oc, POOL_VM_OC_KERNEL, api_string(kernel));
    if (!rc && cmdline)
        rc = api_struct_add(oc, POOL_VM_OC_CMDLINE, api_string(cmdline));
    if (!rc) {
        rc = api_struct_add(rec, "other_config", oc);
        oc = NULL;
    }
    params = api_array();
    if (!rc) {
        rc = api_array_append(params, rec);
        rec = NULL;
    }
    if (rc) {
        api_value_free(params);
        goto out;
    }
    rc = cli_rpc_call(cli, "VM.create", params, &ref);
    if (!rc)
        rc = cli_rpc_call(cli, "VM.get_uuid",
                          cli_strings(api_value_string(ref) ?: "", NULL), &u);
    if (!rc && (cli_arg(cli, "disk-size") || cli_arg(cli, "vdi-uuid"))) {
        /* Its disk, quietly (the VM's uuid is what vm-create prints); a
         * VM whose disk cannot be made is not left behind. */
        FILE *out = cli->out;

        cli->out = fopen("/dev/null", "w");
        rc = cli->out ? cli_disk_add(cli, api_value_string(ref) ?: "",
                                     name) : -errno;
        if (cli->out)
            fclose(cli->out);
        cli->out = out;
        if (rc) {
            struct api_value *v = NULL;

            cli_rpc_call(cli, "VM.destroy",
                         cli_strings(api_value_string(ref) ?: "", NULL), &v);
            api_value_free(v);
        }
    }
    if (!rc)
        fprintf(cli->out, "%s\n", api_value_string(u) ?: "");
out:
    api_value_free(rec);
    api_value_free(oc);
    api_value_free(ref);
    api_value_free(u);
    return rc;
}

static struct api_value *start_params(const char *vm, const char *host)
{
    struct api_value *p = host ? cli_strings(vm, host, NULL) :
                                 cli_strings(vm, NULL);

    if (p && (api_array_append(p, api_bool(false)) ||
              api_array_append(p, api_bool(false)))) {
        api_value_free(p);
        return NULL;
    }
    return p;
}

int cli_vm_start(struct cli_ctx *cli)
{
    const char *on = cli_arg(cli, "on");
    struct api_value *all = NULL, *v = NULL;
    const char **refs = NULL;
    const struct api_value **recs = NULL;
    char *host = NULL;
    size_t i, n;
    bool mismatch;
    int rc;

    rc = select_vms(cli, &all, &refs, &recs, &n);
    if (!rc && on)
        rc = cli_find_one(cli, "host", on, &host, NULL);
    for (i = 0; i < n && !rc; i++) {
        if (host) {
            rc = call_try(cli, "VM.start_on", start_params(refs[i], host),
                          &v, &mismatch);
            if (mismatch) {
                /* a server without start_on: pin, then start */
                struct api_value *p = cli_strings(refs[i], host, NULL);

                rc = cli_rpc_call(cli, "VM.set_affinity", p, &v);
                api_value_free(v);
                v = NULL;
                if (rc)
                    break;
            }
        }
        if (!host || mismatch) {
            rc = call_try(cli, "VM.start", start_params(refs[i], NULL), &v,
                          &mismatch);
            if (mismatch)
                rc = cli_rpc_call(cli, "VM.start", cli_strings(refs[i], NULL),
                                  &v);
        }
        api_value_free(v);
        v = NULL;
    }
    free(host);
    free(refs);
    free(recs);
    api_value_free(all);
    return rc;
}

int cli_vm_shutdown(struct cli_ctx *cli)
{
    struct api_value *all = NULL, *v = NULL;
    const char **refs = NULL;
    const struct api_value **recs = NULL;
    bool force = false;
    size_t i, n = 0;
    int rc;

    rc = cli_arg_bool(cli, "force", false, &force);
    if (!rc)
        rc = select_vms(cli, &all, &refs, &recs, &n);
    for (i = 0; i < n && !rc; i++) {
        rc = cli_rpc_call(cli, force ? "VM.hard_shutdown" :
                          "VM.clean_shutdown", cli_strings(refs[i], NULL), &v);
        api_value_free(v);
        v = NULL;
    }
    free(refs);
    free(recs);
    api_value_free(all);
    return rc;
}

/* The task's error_info as a failure envelope, reported. */
int cli_task_failed(struct cli_ctx *cli, const struct api_value *task)
{
    const struct api_value *info = api_struct_get(task, "error_info");
    size_t i, n = info ? api_value_count(info) : 0;
    const char **p;
    struct api_value *env;
    int rc;

    if (n == 0) {
        fprintf(cli->err, "xm-pool: the task failed without error_info\n");
        cli->status = cli->status ? cli->status : CLI_EXIT_SERVER;
        return -EREMOTEIO;
    }
    p = calloc(n, sizeof(*p));
    if (!p)
        return -ENOMEM;
    for (i = 1; i < n; i++)
        p[i - 1] = api_value_string(api_array_get(info, i)) ?: "";
    env = api_failure_array(api_value_string(api_array_get(info, 0)) ?: "?",
                            p, n - 1);
    free(p);
    if (!env)
        return -ENOMEM;
    rc = cli_server_error(cli, env);
    api_value_free(env);
    return rc;
}

/* The arguments vdi:VDI-UUID=SR-UUID as a vdi_map (VDI ref -> SR ref),
 * the SRs looked up on dc (the destination's pool: cli, or another
 * pool's connection). */
static int vdi_map_args(struct cli_ctx *cli, struct cli_ctx *dc,
                        struct api_value **map_r)
{
    struct api_value *map = api_struct();
    size_t i;
    int rc = 0;

    for (i = 0; rc == 0 && i < cli->args.n; i++) {
        const char *k = cli->args.kv[i].key;
        struct api_value *vdi = NULL, *sr = NULL;

        if (strncmp(k, "vdi:", 4) != 0)
            continue;
        rc = cli_rpc_call(cli, "VDI.get_by_uuid", cli_strings(k + 4, NULL),
                          &vdi);
        rc = rc ?: cli_rpc_call(dc, "SR.get_by_uuid",
                                cli_strings(cli->args.kv[i].value, NULL),
                                &sr);
        if (rc == 0 && api_struct_add(map, api_value_string(vdi) ?: "",
                                      api_string(api_value_string(sr) ?:
                                                 "")) < 0)
            rc = -ENOMEM;
        api_value_free(vdi);
        api_value_free(sr);
    }
    if (rc) {
        api_value_free(map);
        return rc;
    }
    *map_r = map;
    return 0;
}

/* A name for ref of cls: its name_label, else its uuid. */
static void name_of(struct cli_ctx *cli, const char *cls, const char *ref,
                    char *buf, size_t size)
{
    struct api_value *v = NULL;
    char m[64];

    snprintf(m, sizeof(m), "%s.get_name_label", cls);
    snprintf(buf, size, "%s", ref);
    if (cli_rpc_call(cli, m, cli_strings(ref, NULL), &v) == 0 &&
        api_value_string(v) && *api_value_string(v))
        snprintf(buf, size, "%s", api_value_string(v));
    api_value_free(v);
}

/* vm-migrate --dry-run: every check at once (VM.migrate_precheck), and
 * where each disk would go; exit 1 when the migration cannot go. */
static int migrate_dry_run(struct cli_ctx *cli, struct cli_ctx *dc,
                           const char *vm, const char *vmname,
                           const char *hname, struct api_value *dest,
                           struct api_value *map)
{
    struct api_value *p = cli_strings(vm, NULL), *r = NULL;
    const struct api_value *plan, *fails;
    bool ok = false;
    size_t i;
    int rc;

    if (!p || api_array_append(p, dest) < 0 ||
        api_array_append(p, map) < 0 ||
        api_array_append(p, api_struct()) < 0)
        return -ENOMEM;
    rc = cli_rpc_call(cli, "VM.migrate_precheck", p, &r);
    if (rc)
        return rc;
    plan = api_struct_get(r, "plan");
    fails = api_struct_get(r, "failures");
    api_value_get_bool(api_struct_get(r, "can_migrate"), &ok);
    fprintf(cli->out, "plan: %s to %s\n", vmname, hname);
    for (i = 0; i < api_value_count(plan); i++) {
        const struct api_value *d = api_array_get(plan, i);
        char from[128], to[128];
        bool moves = false;

        name_of(cli, "SR", api_value_string(api_struct_get(d, "SR")) ?: "",
                from, sizeof(from));
        name_of(dc, "SR", api_value_string(api_struct_get(d, "to_SR")) ?:
                "", to, sizeof(to));
        api_value_get_bool(api_struct_get(d, "moves"), &moves);
        fprintf(cli->out, "  disk %s: on %s%s%s\n",
                api_value_string(api_struct_get(d, "device")) ?: "?", from,
                moves ? " -> " : " (stays)", moves ? to : "");
    }
    for (i = 0; i < api_value_count(fails); i++) {
        const struct api_value *f = api_array_get(fails, i);
        const char *code = api_value_string(api_array_get(f, 0)) ?: "?";
        const char *meaning = api_error_meaning(code);
        size_t k;

        fprintf(cli->out, "  cannot: %s", code);
        for (k = 1; k < api_value_count(f); k++)
            fprintf(cli->out, " %s",
                    api_value_string(api_array_get(f, k)) ?: "");
        fprintf(cli->out, "%s%s\n", meaning ? " - " : "",
                meaning ? meaning : "");
    }
    fprintf(cli->out, "%s\n", ok ? "the migration can go" :
            "the migration cannot go");
    if (!ok)
        cli->status = cli->status ? cli->status : CLI_EXIT_SERVER;
    api_value_free(r);
    return ok ? 0 : -EPERM;
}

/*
 * vm-migrate remote-master=ADDR[:PORT]: the other pool's connection *r,
 * logged in to its master as remote-username= (default root) with
 * remote-password=, as xe does; its certificate is pinned in the rc file
 * as any server's.
 */
static int remote_login(struct cli_ctx *cli, const char *master,
                        struct cli_ctx *r)
{
    const char *user = cli_arg(cli, "remote-username");
    const char *pw = cli_arg(cli, "remote-password");
    const char *colon = strchr(master, ':');

    cli_ctx_init(r, cli->xt);
    r->out = cli->out;
    r->err = cli->err;
    r->opts.http = cli->opts.http;
    r->opts.no_verify = cli->opts.no_verify;
    r->opts.port = cli->opts.port;
    if (colon && !strchr(colon + 1, ':')) {
        char *end;
        unsigned long p = strtoul(colon + 1, &end, 10);

        if (*end || !p || p > 65535)
            return cli_usage_error(cli, "remote-master=%s: a bad port",
                                   master);
        r->opts.port = (unsigned)p;
        r->opts.server = strndup(master, (size_t)(colon - master));
    } else {
        r->opts.server = strdup(master);
    }
    if (!pw)
        return cli_usage_error(cli, "remote-master= needs remote-password=");
    r->opts.user = strdup(user ? user : "root");
    r->opts.password = strdup(pw);
    r->opts.rc_path = cli->opts.rc_path ? strdup(cli->opts.rc_path) : NULL;
    if (!r->opts.server || !r->opts.user || !r->opts.password ||
        (cli->opts.rc_path && !r->opts.rc_path))
        return -ENOMEM;
    return cli_rpc_login(r);
}

int cli_vm_migrate(struct cli_ctx *cli)
{
    const char *hostarg = cli_arg(cli, "host");
    const char *hostuuid = cli_arg(cli, "host-uuid");
    const char *compress = cli_arg(cli, "compress");
    const char *netuuid = cli_arg(cli, "network-uuid");
    const char *rmaster = cli_arg(cli, "remote-master");
    struct cli_ctx rcli, *dc = cli;     /* the destination's pool */
    struct api_value *all = NULL, *opts = NULL, *params = NULL;
    struct api_value *task = NULL, *rec = NULL, *net = NULL;
    const char **refs = NULL;
    const struct api_value **recs = NULL;
    char *host = NULL, *hname = NULL, line[256];
    struct api_value *map = NULL, *dest = NULL, *sopts = NULL;
    const char *vmname, *status;
    bool live = true, dry = false, keep = false;
    size_t n = 0;
    int rc;

    if (!hostarg && !hostuuid)
        return cli_usage_error(cli, "vm-migrate needs host= or host-uuid=");
    if (compress && strcmp(compress, "zlib") && strcmp(compress, "zstd") &&
        strcmp(compress, "true") && strcmp(compress, "false"))
        return cli_usage_error(cli, "compress=%s: expected zlib, zstd, true "
                               "or false", compress);
    cli_ctx_init(&rcli, cli->xt);
    rc = cli_arg_bool(cli, "live", true, &live);
    rc = rc ?: cli_arg_bool(cli, "keep-source", false, &keep);
    if (!rc)
        rc = select_vms(cli, &all, &refs, &recs, &n);
    if (!rc && n != 1)
        rc = cli_usage_error(cli, "vm-migrate moves one VM at a time");
    if (!rc && rmaster) {
        dc = &rcli;
        rc = remote_login(cli, rmaster, &rcli);
    }
    if (!rc)
        rc = cli_find_one(dc, "host", hostuuid ? hostuuid : hostarg, &host,
                          &hname);
    if (!rc && netuuid)
        rc = cli_rpc_call(dc, "network.get_by_uuid",
                          cli_strings(netuuid, NULL), &net);
    if (rc)
        goto out;
    opts = api_struct();
    rc = api_struct_add(opts, "live", api_string(live ? "true" : "false"));
    if (!rc && compress)
        rc = api_struct_add(opts, "compress", api_string(compress));
    if (!rc && keep)
        rc = api_struct_add(opts, "keep_source", api_string("true"));
    if (!rc && net)
        rc = api_struct_add(opts, "network",
                            api_string(api_value_string(net) ?: ""));
    params = cli_strings(refs[0], host, NULL);
    if (!rc && params) {
        rc = api_array_append(params, opts);
        opts = NULL;
    } else if (!rc) {
        rc = -ENOMEM;
    }
    if (rc) {
        api_value_free(params);
        goto out;
    }
    vmname = api_value_string(api_struct_get(recs[0], "name_label"));
    if (!vmname || !*vmname)
        vmname = api_value_string(api_struct_get(recs[0], "uuid")) ?: "?";
    rc = cli_arg_bool(cli, "dry-run", false, &dry);
    rc = rc ?: vdi_map_args(cli, dc, &map);
    if (rc) {
        api_value_free(params);
        goto out;
    }
    if (dry || api_value_count(map) || rmaster) {
        /* Disks moved with it (or the checks only, or to another pool):
         * XAPI's pair Host.migrate_receive (on the destination's pool) +
         * VM.migrate_send. */
        struct api_value *rp = cli_strings(host, NULL);

        if (rp)
            api_array_append(rp, api_string(net ? api_value_string(net) :
                                            "OpaqueRef:NULL"));
        if (rp)
            api_array_append(rp, api_struct());
        rc = cli_rpc_call(dc, "Host.migrate_receive", rp, &dest);
        if (!rc && dry) {
            rc = migrate_dry_run(cli, dc, refs[0], vmname, hname, dest,
                                 map);
            dest = map = NULL;
            api_value_free(params);
            goto out;
        }
        sopts = api_value_copy(api_array_get(params, 2));
        api_value_free(params);
        params = rc ? NULL : cli_strings(refs[0], NULL);
        if (!rc && (!params || api_array_append(params, dest) < 0 ||
                    api_array_append(params, api_bool(live)) < 0 ||
                    api_array_append(params, map) < 0 ||
                    api_array_append(params, api_struct()) < 0 ||
                    api_array_append(params, sopts) < 0))
            rc = -ENOMEM;
        dest = map = sopts = NULL;
        rc = rc ?: cli_rpc_call(cli, "Async.VM.migrate_send", params, &task);
    } else {
        rc = cli_rpc_call(cli, "Async.VM.pool_migrate", params, &task);
    }
    if (rc)
        goto out;
    rc = cli_task_wait(cli, api_value_string(task) ?: "", true, &rec);
    if (rc)
        goto out;
    status = api_value_string(api_struct_get(rec, "status")) ?: "";
    if (!strcmp(status, "success")) {
        fprintf(cli->out, "%s\n", cli_migrate_summary(vmname, hname,
                api_value_string(api_struct_get(rec, "result")), line,
                sizeof(line)));
    } else if (!strcmp(status, "cancelled")) {
        fprintf(cli->err, "xm-pool: the migration of %s was cancelled; it "
                "still runs where it was\n", vmname);
        cli->status = cli->status ? cli->status : CLI_EXIT_SERVER;
        rc = -ECANCELED;
    } else {
        rc = cli_task_failed(cli, rec);
    }
out:
    /* The other pool's session lasts until the task ended: its master
     * was told the outcome before (pd_settle.c). */
    if (dc != cli && !cli->status)
        cli->status = dc->status;
    cli_ctx_clear(&rcli);
    free(host);
    free(hname);
    free(refs);
    free(recs);
    api_value_free(all);
    api_value_free(opts);
    api_value_free(map);
    api_value_free(dest);
    api_value_free(sopts);
    api_value_free(task);
    api_value_free(rec);
    api_value_free(net);
    return rc;
}
