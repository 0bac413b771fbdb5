/*
 * cli_host.c - the host commands: host-list, host-disable, host-enable,
 * host-compute-free-memory, host-get-vms-which-prevent-evacuation and
 * host-evacuate.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *const host_dflt[] = {
    "uuid", "name_label", "address", "enabled", NULL
};

int cli_host_list(struct cli_ctx *cli)
{
    return cli_list(cli, "host", host_dflt);
}

/* The host of host= (name, uuid or address) or uuid=: *ref_r (free()). */
static int the_host(struct cli_ctx *cli, const char *cmd, char **ref_r)
{
    const char *key = cli_arg(cli, "host") ?: cli_arg(cli, "uuid");

    *ref_r = NULL;
    if (!key)
        return cli_usage_error(cli, "%s needs host=NAME|UUID or uuid=UUID",
                               cmd);
    return cli_find_one(cli, "host", key, ref_r, NULL);
}

/* METHOD(host, extra...) (extra taken, may be NULL); *v_r its value. */
static int host_call(struct cli_ctx *cli, const char *cmd,
                     const char *method, struct api_value *extra,
                     struct api_value **v_r)
{
    struct api_value *p = api_array();
    char *host = NULL;
    size_t i;
    int rc = the_host(cli, cmd, &host);

    rc = rc ?: api_array_append(p, api_string(host));
    for (i = 0; rc == 0 && i < api_value_count(extra); i++)
        rc = api_array_append(p, api_value_copy(api_array_get(extra, i)));
    api_value_free(extra);
    free(host);
    if (rc) {
        api_value_free(p);
        return rc;
    }
    return cli_rpc_call(cli, method, p, v_r);
}

int cli_host_disable(struct cli_ctx *cli)
{
    struct api_value *extra = api_array(), *v = NULL;
    bool autoen = true;
    int rc = cli_arg_bool(cli, "auto-enable", true, &autoen);

    if (rc) {
        api_value_free(extra);
        return rc;
    }
    api_array_append(extra, api_bool(autoen));
    rc = host_call(cli, "host-disable", "host.disable", extra, &v);
    api_value_free(v);
    return rc;
}

int cli_host_enable(struct cli_ctx *cli)
{
    struct api_value *v = NULL;
    int rc = host_call(cli, "host-enable", "host.enable", NULL, &v);

    api_value_free(v);
    return rc;
}

int cli_host_compute_free_memory(struct cli_ctx *cli)
{
    struct api_value *v = NULL;
    int64_t fr = 0;
    int rc = host_call(cli, "host-compute-free-memory",
                       "host.compute_free_memory", NULL, &v);

    if (rc == 0 && api_value_get_int64(v, &fr) == 0)
        fprintf(cli->out, "%lld\n", (long long)fr);
    api_value_free(v);
    return rc;
}

/* A VM ref as its uuid, for printing (the ref when that fails). */
static void print_vm(struct cli_ctx *cli, const char *ref)
{
    struct api_value *p = api_array(), *u = NULL;

    api_array_append(p, api_string(ref));
    if (cli_rpc_call(cli, "VM.get_uuid", p, &u) == 0 && api_value_string(u))
        fprintf(cli->out, "%s:", api_value_string(u));
    else
        fprintf(cli->out, "%s:", ref);
    api_value_free(u);
}

int cli_host_prevent_evacuation(struct cli_ctx *cli)
{
    struct api_value *v = NULL;
    size_t i, k;
    int rc = host_call(cli, "host-get-vms-which-prevent-evacuation",
                       "host.get_vms_which_prevent_evacuation", NULL, &v);

    for (i = 0; rc == 0 && i < api_value_count(v); i++) {
        const struct api_value *d = api_struct_value(v, i);

        print_vm(cli, api_struct_key(v, i));
        for (k = 0; k < api_value_count(d); k++)
            fprintf(cli->out, " %s",
                    api_value_string(api_array_get(d, k)) ?: "");
        fputc('\n', cli->out);
    }
    api_value_free(v);
    return rc;
}

/* A field of an object, for printing ("?" when it cannot be read). */
static void print_field(struct cli_ctx *cli, const char *cls,
                        const char *field, const char *ref)
{
    struct api_value *p = api_array(), *v = NULL;
    char method[64];

    snprintf(method, sizeof(method), "%s.get_%s", cls, field);
    api_array_append(p, api_string(ref));
    fputs(cli_rpc_call(cli, method, p, &v) == 0 && api_value_string(v) ?
          api_value_string(v) : "?", cli->out);
    api_value_free(v);
}

/* host-evacuate --plan: host.evacuate_plan, printed. */
static int evacuate_plan(struct cli_ctx *cli, long batch, const char *sm)
{
    struct api_value *extra = api_array(), *o = api_struct(), *v = NULL;
    const struct api_value *moves, *bl;
    int64_t bytes = 0, bw = 0, b = 0, wave = 0, n;
    double eta = -1;
    size_t i, k;
    char bsz[24];
    int rc;

    snprintf(bsz, sizeof(bsz), "%ld", batch);
    api_struct_add(o, "batch_size", api_string(bsz));
    if (sm)
        api_struct_add(o, "storage_motion", api_string(sm));
    api_array_append(extra, o);
    rc = host_call(cli, "host-evacuate", "host.evacuate_plan", extra, &v);
    if (rc)
        return rc;
    moves = api_struct_get(v, "moves");
    bl = api_struct_get(v, "blockers");
    api_value_get_int64(api_struct_get(v, "bytes"), &bytes);
    api_value_get_int64(api_struct_get(v, "bandwidth"), &bw);
    api_value_get_int64(api_struct_get(v, "batch"), &b);
    api_value_get_double(api_struct_get(v, "eta_s"), &eta);
    fprintf(cli->out, "plan: %zu move(s), %lld MiB, %lld at a time; ",
            api_value_count(moves), (long long)(bytes >> 20), (long long)b);
    if (eta >= 0)
        fprintf(cli->out, "ETA %.1f s (from each VM's last move, its "
                "data and dirty rate; the fastest stream %lld MiB/s)\n",
                eta, (long long)(bw >> 20));
    else
        fprintf(cli->out, "ETA unknown (no migration measured yet)\n");
    for (i = 0; i < api_value_count(moves); i++) {
        const struct api_value *m = api_array_get(moves, i);

        api_value_get_int64(api_struct_get(m, "wave"), &wave);
        api_value_get_int64(api_struct_get(m, "bytes"), &n);
        fprintf(cli->out, "  wave %lld: ", (long long)wave);
        print_field(cli, "VM", "name_label",
                    api_value_string(api_struct_get(m, "VM")) ?: "");
        fputs(" -> ", cli->out);
        print_field(cli, "host", "name_label",
                    api_value_string(api_struct_get(m, "host")) ?: "");
        fprintf(cli->out, " (%lld MiB%s)\n", (long long)(n >> 20),
                api_struct_get(m, "disks") ? ", with its disks" : "");
    }
    for (i = 0; i < api_value_count(bl); i++) {
        const struct api_value *d = api_struct_value(bl, i);

        fputs("  cannot move: ", cli->out);
        print_field(cli, "VM", "name_label", api_struct_key(bl, i));
        for (k = 0; k < api_value_count(d); k++)
            fprintf(cli->out, " %s",
                    api_value_string(api_array_get(d, k)) ?: "");
        fputc('\n', cli->out);
    }
    api_value_free(v);
    return 0;
}

/* host-evacuate's live view under its progress line: a line per move in
 * flight (VM, phase, bytes, rate, round, ETA), from the evacuation
 * task's xm:evac-moves ("VM-UUID=TASK,...") and each move's task. */
static void evac_lines(struct cli_ctx *cli, const struct api_value *rec,
                       char *buf, size_t size)
{
    const char *m = api_value_string(api_struct_get(
        api_struct_get(rec, "other_config"), "xm:evac-moves"));
    size_t len = 0;

    buf[0] = '\0';
    while (m && *m && len < size - 1) {
        size_t l = strcspn(m, ","), u = strcspn(m, "=");
        struct api_value *p = api_array(), *t = NULL;
        struct cli_progress pr;
        char task[128], line[256];
        const char *phase;

        if (u >= l || l - u - 1 >= sizeof(task))
            break;
        snprintf(task, sizeof(task), "%.*s", (int)(l - u - 1), m + u + 1);
        api_array_append(p, api_string(task));
        if (cli_rpc_call(cli, "task.get_record", p, &t) == 0) {
            cli_progress_from_task(t, &pr);
            cli_progress_format(&pr, false, 0, line, sizeof(line));
            phase = api_value_string(api_struct_get(
                api_struct_get(t, "other_config"), "mig:phase"));
            len += (size_t)snprintf(buf + len, size - len,
                                    "  VM %.8s %-9s %s\n", m,
                                    phase ? phase : "starting",
                                    line + strlen("progress: "));
        }
        api_value_free(t);
        m += l + (m[l] == ',');
    }
    if (len >= size)
        buf[size - 1] = '\0';
}

/* host-evacuate host= [network-uuid=] [batch-size=] [on-failure=]
 * [on-cancel=] [storage-motion=] [--plan]: Async.host.evacuate with its
 * progress; prints its report (JSON).  --plan: what it would do, nothing
 * done. */
int cli_host_evacuate(struct cli_ctx *cli)
{
    const char *net = cli_arg(cli, "network-uuid");
    const char *bs = cli_arg(cli, "batch-size");
    const char *onf = cli_arg(cli, "on-failure");
    const char *sm = cli_arg(cli, "storage-motion");
    const char *onc = cli_arg(cli, "on-cancel");
    struct api_value *extra = api_array(), *task = NULL, *rec = NULL;
    char *netref = NULL, *end = NULL;
    long batch = 0;
    bool plan = false;
    int rc = cli_arg_bool(cli, "plan", false, &plan);

    /* auto: -1, the server adapts the window (not for --plan). */
    if (rc == 0 && bs && !strcmp(bs, "auto") && !plan)
        batch = -1;
    else if (rc == 0 && bs && (batch = strtol(bs, &end, 10), !*bs || *end ||
                               batch < 1 || batch > 64))
        rc = cli_usage_error(cli, "batch-size=%s: a number 1..64 (or auto)",
                             bs);
    if (rc == 0 && onf && strcmp(onf, "continue") && strcmp(onf, "stop") &&
        strcmp(onf, "rollback"))
        rc = cli_usage_error(cli, "on-failure=%s: continue, stop or "
                             "rollback", onf);
    if (rc == 0 && onc && strcmp(onc, "finish") && strcmp(onc, "abort"))
        rc = cli_usage_error(cli, "on-cancel=%s: finish or abort", onc);
    if (rc == 0 && sm && strcmp(sm, "true") && strcmp(sm, "false"))
        rc = cli_usage_error(cli, "storage-motion=%s: true or false", sm);
    if (rc == 0 && plan) {
        api_value_free(extra);
        return evacuate_plan(cli, batch, sm);
    }
    if (rc == 0 && net)
        rc = cli_find_one(cli, "network", net, &netref, NULL);
    if (rc) {
        api_value_free(extra);
        return rc;
    }
    api_array_append(extra, api_string(netref ? netref : "OpaqueRef:NULL"));
    api_array_append(extra, api_int(batch));
    if (onf || onc || sm) {
        struct api_value *o = api_struct();

        if (onf)
            api_struct_add(o, "on_failure", api_string(onf));
        if (onc)
            api_struct_add(o, "on_cancel", api_string(onc));
        if (sm)
            api_struct_add(o, "storage_motion", api_string(sm));
        api_array_append(extra, o);
    }
    free(netref);
    rc = host_call(cli, "host-evacuate", "Async.host.evacuate", extra, &task);
    rc = rc ?: cli_task_watch(cli, api_value_string(task) ?: "", evac_lines,
                              &rec);
    if (rc == 0) {
        const char *st = api_value_string(api_struct_get(rec, "status"));

        if (st && !strcmp(st, "success"))
            fprintf(cli->out, "%s\n", api_value_string(
                        api_struct_get(rec, "result")) ?: "");
        else
            rc = cli_task_failed(cli, rec);
    }
    api_value_free(task);
    api_value_free(rec);
    return rc;
}
