/*
 * cli_main.c - xm-pool: global options, the command table, arguments,
 * selectors, record output, error reporting and exit statuses.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"

/* ---- the command table ------------------------------------------------- */

static const char *const k_none[] = { NULL };
static const char *const k_help[] = { "command", NULL };
static const char *const k_list[] = { "params", "multiple", NULL };
static const char *const k_join[] = {
    "master-address", "master-username", "master-password", NULL
};
static const char *const k_eject[] = { "host-uuid", NULL };
static const char *const k_param_get[] = {
    "uuid", "param-name", "param-key", NULL
};
static const char *const k_create[] = {
    "name-label", "name-description", "memory", "vcpus", "kernel",
    "cmdline", "disk-size", "sr-uuid", "vdi-uuid", NULL
};
static const char *const k_start[] = { "vm", "on", "multiple", NULL };
static const char *const k_shutdown[] = { "vm", "force", "multiple", NULL };
static const char *const k_migrate[] = {
    "vm", "host", "host-uuid", "live", "compress", "network-uuid",
    "dry-run", "vdi:", "remote-master", "remote-username", "remote-password",
    "keep-source", NULL
};
static const char *const k_cancel[] = { "uuid", NULL };
static const char *const k_event_wait[] = { "class", "timeout", NULL };
static const char *const k_rpu[] = {
    "hook", "move-back", "host-timeout", NULL
};
static const char *const k_host[] = { "host", "uuid", NULL };
static const char *const k_host_disable[] = {
    "host", "uuid", "auto-enable", NULL
};
static const char *const k_evacuate[] = {
    "host", "uuid", "network-uuid", "batch-size", "on-failure",
    "on-cancel", "storage-motion", "plan", NULL
};
static const char *const k_uuid[] = { "uuid", NULL };
static const char *const k_vbd_unplug[] = { "uuid", "force", NULL };
static const char *const k_vdi_pool_migrate[] = {
    "uuid", "sr-uuid", "max-bps", "keep-source", NULL
};
static const char *const k_vdi_copy[] = { "uuid", "sr-uuid", NULL };
static const char *const k_sr_create[] = {
    "host-uuid", "name-label", "name-description", "type", "content-type",
    "shared", "physical-size", "device-config:location", NULL
};
static const char *const k_vdi_create[] = {
    "sr-uuid", "name-label", "name-description", "virtual-size", "type", NULL
};
static const char *const k_vdi_resize[] = { "uuid", "disk-size", NULL };
static const char *const k_vdi_clone[] = { "uuid", "new-name-label", NULL };
/* vm-param-set: uuid= and the fields of VM */
static const char *const k_param_set[] = { "uuid", NULL };
static const char *const k_vbd_create[] = {
    "vm-uuid", "vdi-uuid", "device", "mode", "bootable", NULL
};
static const char *const k_disk_add[] = {
    "vm", "disk-size", "sr-uuid", "device", "mode", "bootable", NULL
};

/* X-param-get / -set / -list of class CLS (the class is the name's
 * prefix for get and list, which take no field selectors). */
#define PARAM_GET(x, what) \
    { x "-param-get", cli_param_get, \
      "uuid=UUID param-name=FIELD [param-key=KEY]", \
      "print one field of " what " (one key of a map field)", \
      k_param_get, NULL }
#define PARAM_LIST(x, what) \
    { x "-param-list", cli_param_list, "uuid=UUID", \
      "print every field of " what, k_cancel, NULL }
#define PARAM_SET(x, cls, what) \
    { x "-param-set", cli_param_set, "uuid=UUID FIELD=VALUE ...", \
      "set writable fields of " what " (map keys as FIELD:KEY=VALUE)", \
      k_param_set, cls }
#define PARAMS(x, cls, what) \
    PARAM_GET(x, what), PARAM_SET(x, cls, what), PARAM_LIST(x, what)

static const struct cli_command commands[] = {
    { "help", cli_help, "[COMMAND]",
      "list the commands, or describe one", k_help, NULL },
    { "pool-list", cli_pool_list, "[params=all|FIELD,...] [FIELD=VALUE ...]",
      "list the pool", k_list, "pool" },
    { "pool-param-set", cli_param_set, "uuid=UUID FIELD=VALUE ...",
      "set writable fields of the pool (default_SR=SR-UUID, ...)",
      k_param_set, "pool" },
    { "pool-join", cli_pool_join,
      "master-address=ADDRESS master-username=USER master-password=PASSWORD",
      "make the host join the pool of the master", k_join, NULL },
    { "pool-eject", cli_pool_eject, "host-uuid=UUID",
      "remove a member host from the pool", k_eject, NULL },
    { "pool-rolling-upgrade", cli_pool_rolling_upgrade,
      "hook=PROGRAM [move-back=true|false] [host-timeout=SECONDS]",
      "upgrade the hosts one at a time, the master first: each disabled, "
      "evacuated, upgraded by PROGRAM HOST-UUID ADDRESS, back with its new "
      "version, enabled; then the VMs go home (move-back); run again to "
      "resume", k_rpu, NULL },
    { "host-list", cli_host_list, "[params=all|FIELD,...] [FIELD=VALUE ...]",
      "list the hosts of the pool", k_list, "host" },
    { "host-disable", cli_host_disable,
      "host=NAME|UUID|uuid=UUID [auto-enable=true|false]",
      "no VM starts on or migrates to the host; auto-enable=false: it "
      "stays so when its daemon restarts", k_host_disable, NULL },
    { "host-enable", cli_host_enable, "host=NAME|UUID|uuid=UUID",
      "the host takes VMs again", k_host, NULL },
    { "host-compute-free-memory", cli_host_compute_free_memory,
      "host=NAME|UUID|uuid=UUID", "print the host's free memory (bytes)",
      k_host, NULL },
    { "host-get-vms-which-prevent-evacuation", cli_host_prevent_evacuation,
      "host=NAME|UUID|uuid=UUID",
      "print each VM that no other host can take, with why", k_host,
      NULL },
    { "host-evacuate", cli_host_evacuate,
      "host=NAME|UUID|uuid=UUID [network-uuid=UUID] [batch-size=N|auto] "
      "[on-failure=continue|stop|rollback] [on-cancel=finish|abort] "
      "[storage-motion=true|false] [--plan]",
      "live-migrate every VM of the host to other hosts, at most N at a "
      "time (default: the master's evacuation-batch-size), showing "
      "progress; prints what moved where (JSON); --plan prints what it "
      "would do and its ETA, moving nothing", k_evacuate, NULL },
    { "vm-list", cli_vm_list, "[params=all|FIELD,...] [FIELD=VALUE ...]",
      "list the VMs", k_list, "VM" },
    { "vm-param-get", cli_param_get,
      "uuid=UUID param-name=FIELD [param-key=KEY]",
      "print one field of a VM (one key of a map field)", k_param_get,
      NULL },
    { "vm-param-set", cli_param_set, "uuid=UUID FIELD=VALUE ...",
      "set writable fields of a VM (map keys as FIELD:KEY=VALUE)",
      k_param_set, "VM" },
    { "vm-create", cli_vm_create,
      "name-label=NAME memory=SIZE [vcpus=N] [kernel=PATH] [cmdline=TEXT] "
      "[name-description=TEXT] [disk-size=SIZE [sr-uuid=UUID] | "
      "vdi-uuid=UUID]",
      "create a halted VM, with a disk 0 if asked (a new VDI on sr-uuid= "
      "or the default SR, or an existing one); prints its uuid (SIZE: "
      "bytes or K/M/G/T suffix; kernel: default the host's guest image)",
      k_create, NULL },
    { "vm-start", cli_vm_start, "vm=NAME|UUID [on=HOST] [--multiple]",
      "start a VM, on a given host or the master", k_start, "VM" },
    { "vm-shutdown", cli_vm_shutdown, "vm=NAME|UUID [--force] [--multiple]",
      "shut a VM down (--force: hard shutdown)", k_shutdown, "VM" },
    { "vm-migrate", cli_vm_migrate,
      "vm=NAME|UUID host=NAME|UUID|host-uuid=UUID [live=true|false] "
      "[compress=zlib|zstd|true|false] [network-uuid=UUID] "
      "[vdi:VDI-UUID=SR-UUID ...] [remote-master=ADDR[:PORT] "
      "[remote-username=USER] remote-password=PW] [keep-source=true] "
      "[--dry-run]",
      "migrate a running VM to another host of the pool, showing progress; "
      "vdi: moves those disks to SRs of that host with it (storage live "
      "migration); remote-master: to a host of another pool, every disk "
      "moving; --dry-run checks everything and prints the plan",
      k_migrate, "VM" },
    { "task-list", cli_task_list, "[params=all|FIELD,...] [FIELD=VALUE ...]",
      "list the tasks", k_list, "task" },
    { "task-cancel", cli_task_cancel, "uuid=UUID",
      "cancel a task (a migration stops before its commit)", k_cancel,
      NULL },
    { "event-wait", cli_event_wait,
      "class=CLASS [timeout=SECONDS] FIELD=VALUE|FIELD=/=VALUE ...",
      "wait until an object of CLASS has every FIELD as given (=/=: "
      "anything but); exit 1 when timeout= passes first", k_event_wait,
      "*" },
    { "message-list", cli_message_list,
      "[params=all|FIELD,...] [FIELD=VALUE ...]",
      "list the pool's messages (alerts), oldest first", k_list, "message" },
    { "sr-create", cli_sr_create,
      "host-uuid=UUID name-label=NAME type=file|shared-file "
      "device-config:location=DIR [physical-size=SIZE] [shared=true|false] "
      "[content-type=TYPE] [name-description=TEXT]",
      "create a storage repository and plug it; prints its uuid", k_sr_create,
      NULL },
    { "sr-list", cli_sr_list, "[params=all|FIELD,...] [FIELD=VALUE ...]",
      "list the storage repositories", k_list, "SR" },
    { "sr-scan", cli_sr_scan, "uuid=UUID",
      "bring the database's view of an SR's disks up to date", k_uuid,
      NULL },
    { "sr-destroy", cli_sr_destroy, "uuid=UUID",
      "destroy an unplugged, empty SR on its medium", k_uuid, NULL },
    { "sr-forget", cli_sr_forget, "uuid=UUID",
      "forget an unplugged SR, keeping it on its medium", k_uuid, NULL },
    { "pbd-list", cli_pbd_list, "[params=all|FIELD,...] [FIELD=VALUE ...]",
      "list the PBDs (an SR on a host)", k_list, "PBD" },
    { "pbd-plug", cli_pbd_plug, "uuid=UUID",
      "attach an SR on the PBD's host", k_uuid, NULL },
    { "pbd-unplug", cli_pbd_unplug, "uuid=UUID",
      "detach an SR from the PBD's host", k_uuid, NULL },
    { "vdi-create", cli_vdi_create,
      "sr-uuid=UUID name-label=NAME virtual-size=SIZE [type=user] "
      "[name-description=TEXT]",
      "create a virtual disk; prints its uuid", k_vdi_create, NULL },
    { "vdi-list", cli_vdi_list, "[params=all|FIELD,...] [FIELD=VALUE ...]",
      "list the virtual disks", k_list, "VDI" },
    { "vdi-destroy", cli_vdi_destroy, "uuid=UUID",
      "destroy a virtual disk that is not in use", k_uuid, NULL },
    { "vdi-resize", cli_vdi_resize, "uuid=UUID disk-size=SIZE",
      "grow a virtual disk", k_vdi_resize, NULL },
    { "vdi-clone", cli_vdi_clone, "uuid=UUID [new-name-label=NAME]",
      "copy a virtual disk into a new one of the same SR; prints its uuid",
      k_vdi_clone, NULL },
    { "vdi-snapshot", cli_vdi_snapshot, "uuid=UUID [new-name-label=NAME]",
      "snapshot a virtual disk that no running VM holds; prints the "
      "snapshot's uuid", k_vdi_clone, NULL },
    { "vbd-create", cli_vbd_create,
      "vm-uuid=UUID vdi-uuid=UUID [device=0-7] [mode=RW|RO] "
      "[bootable=true|false]",
      "give a VM a virtual disk as its disk DEVICE (the first free one by "
      "default); prints the VBD's uuid", k_vbd_create, NULL },
    { "vbd-list", cli_vbd_list, "[params=all|FIELD,...] [FIELD=VALUE ...]",
      "list the VBDs (a disk of a VM)", k_list, "VBD" },
    { "vbd-destroy", cli_vbd_destroy, "uuid=UUID",
      "remove a disk from a VM (its VDI stays)", k_uuid, NULL },
    { "vbd-plug", cli_vbd_plug, "uuid=UUID",
      "hot-plug a disk into its running VM", k_uuid, NULL },
    { "vbd-unplug", cli_vbd_unplug, "uuid=UUID [force=true|false]",
      "ask a running VM's guest to release a disk (force: take it away "
      "without asking)", k_vbd_unplug, NULL },
    { "vdi-copy", cli_vdi_copy, "uuid=UUID sr-uuid=UUID",
      "copy a virtual disk that no running VM writes into a new one on an "
      "SR (holes stay holes); prints the new VDI's uuid", k_vdi_copy, NULL },
    { "vdi-pool-migrate", cli_vdi_pool_migrate,
      "uuid=UUID sr-uuid=UUID [max-bps=RATE] [keep-source=true]",
      "move a running VM's disk to another SR while the VM runs (storage "
      "live migration); prints the new VDI's uuid; keep-source keeps the "
      "old VDI", k_vdi_pool_migrate,
      NULL },
    { "vm-disk-add", cli_vm_disk_add,
      "vm=NAME|UUID disk-size=SIZE [sr-uuid=UUID] [device=0-7] "
      "[mode=RW|RO]",
      "create a virtual disk on an SR (the pool's default SR if none is "
      "given) and give it to a VM; prints the VBD's uuid", k_disk_add,
      NULL },
    /* The *-param-* forms of the other classes (cli_param.c). */
    PARAM_GET("pool", "the pool"), PARAM_LIST("pool", "the pool"),
    PARAM_LIST("vm", "a VM"),
    PARAMS("host", "host", "a host"), PARAMS("sr", "SR", "an SR"),
    PARAMS("vdi", "VDI", "a VDI"), PARAMS("vbd", "VBD", "a VBD"),
    PARAMS("pbd", "PBD", "a PBD"), PARAMS("network", "network", "a network"),
    PARAMS("vif", "VIF", "a VIF"), PARAMS("task", "task", "a task"),
    PARAM_GET("message", "a message"), PARAM_LIST("message", "a message"),
};

static const char *const *command_keys(const struct cli_command *c)
{
    return c->keys ? c->keys : k_none;
}

const struct cli_command *cli_commands(size_t *n_r)
{
    *n_r = sizeof(commands) / sizeof(commands[0]);
    return commands;
}

const struct cli_command *cli_command_find(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

size_t cli_levenshtein(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), i, j, *row, r;

    row = calloc(lb + 1, sizeof(*row));
    if (!row)
        return (size_t)-1;
    for (j = 0; j <= lb; j++)
        row[j] = j;
    for (i = 1; i <= la; i++) {
        size_t diag = row[0];

        row[0] = i;
        for (j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);

            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    r = row[lb];
    free(row);
    return r;
}

/* Closest of words (NULL-ended) within max(2, len/3) edits. */
static const char *closest(const char *name, const char *const *words,
                           size_t n)
{
    size_t i, best = (size_t)-1, limit = strlen(name) / 3;
    const char *found = NULL;

    if (limit < 2)
        limit = 2;
    for (i = 0; i < n && words[i]; i++) {
        size_t d = cli_levenshtein(name, words[i]);

        if (d < best) {
            best = d;
            found = words[i];
        }
    }
    return best <= limit ? found : NULL;
}

const char *cli_suggest(const char *name)
{
    const char *names[sizeof(commands) / sizeof(commands[0])];
    size_t i, n = sizeof(commands) / sizeof(commands[0]);

    for (i = 0; i < n; i++)
        names[i] = commands[i].name;
    return closest(name, names, n);
}

/* ---- context ----------------------------------------------------------- */

void cli_ctx_init(struct cli_ctx *cli, struct xt_ctx *xt)
{
    memset(cli, 0, sizeof(*cli));
    cli->xt = xt;
    cli->out = stdout;
    cli->err = stderr;
}

static void args_clear(struct cli_args *a)
{
    size_t i;

    for (i = 0; i < a->n; i++) {
        free(a->kv[i].key);
        free(a->kv[i].value);
    }
    free(a->kv);
    a->kv = NULL;
    a->n = 0;
}

void cli_uuid_cache_clear(struct cli_ctx *cli)
{
    size_t i;

    for (i = 0; i < POOL_CLASS_COUNT; i++) {
        api_value_free(cli->uuid_cache[i]);
        cli->uuid_cache[i] = NULL;
    }
}

void cli_ctx_clear(struct cli_ctx *cli)
{
    cli_uuid_cache_clear(cli);
    cli_rpc_logout(cli);
    args_clear(&cli->args);
    free(cli->opts.server);
    free(cli->opts.user);
    if (cli->opts.password)
        explicit_bzero(cli->opts.password, strlen(cli->opts.password));
    free(cli->opts.password);
    free(cli->opts.password_file);
    free(cli->opts.rc_path);
    memset(&cli->opts, 0, sizeof(cli->opts));
}

/* ---- errors ------------------------------------------------------------ */

static int report(struct cli_ctx *cli, int status, int rc, const char *fmt,
                  va_list ap)
{
    fputs("xm-pool: ", cli->err);
    vfprintf(cli->err, fmt, ap);
    fputc('\n', cli->err);
    if (!cli->status)
        cli->status = status;
    return rc;
}

int cli_usage_error(struct cli_ctx *cli, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = report(cli, CLI_EXIT_USAGE, -EINVAL, fmt, ap);
    va_end(ap);
    return rc;
}

int cli_conn_error(struct cli_ctx *cli, int rc, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    rc = report(cli, CLI_EXIT_CONN, rc, fmt, ap);
    va_end(ap);
    return rc;
}

int cli_server_error(struct cli_ctx *cli, const struct api_value *env)
{
    const struct api_value *desc = api_struct_get(env, "ErrorDescription");
    const char *code = api_failure_code(env);
    const struct api_error_info *info;
    size_t i, n = desc ? api_value_count(desc) : 0;

    if (!code)
        code = "(malformed failure)";
    info = api_error_lookup(code);
    fprintf(cli->err, "xm-pool: the server failed: %s\n", code);
    for (i = 1; i < n; i++) {
        char *t = cli_value_text(api_array_get(desc, i));
        const char *pname = NULL;
        char namebuf[64] = "";

        if (info && info->params) {
            /* the i-th name of "vm, expected, actual" */
            const char *p = info->params;
            size_t k;

            for (k = 1; k < i && p; k++) {
                p = strchr(p, ',');
                if (p)
                    p += strspn(p, ", ");
            }
            if (p) {
                size_t l = strcspn(p, ",");

                if (l >= sizeof(namebuf))
                    l = sizeof(namebuf) - 1;
                memcpy(namebuf, p, l);
                namebuf[l] = '\0';
                pname = namebuf;
            }
        }
        if (pname && *pname)
            fprintf(cli->err, "  %s: %s\n", pname, t ? t : "?");
        else
            fprintf(cli->err, "  param %zu: %s\n", i, t ? t : "?");
        free(t);
    }
    if (info && info->meaning)
        fprintf(cli->err, "  meaning: %s\n", info->meaning);
    if (!cli->status)
        cli->status = CLI_EXIT_SERVER;
    return -EREMOTEIO;
}

/* ---- arguments --------------------------------------------------------- */

static int set_str(char **dst, const char *s)
{
    char *c = strdup(s);

    if (!c)
        return -ENOMEM;
    free(*dst);
    *dst = c;
    return 0;
}

static int args_add(struct cli_args *a, const char *key, size_t klen,
                    const char *value)
{
    struct cli_kv *kv = realloc(a->kv, (a->n + 1) * sizeof(*kv));

    if (!kv)
        return -ENOMEM;
    a->kv = kv;
    kv = &a->kv[a->n];
    memset(kv, 0, sizeof(*kv));
    kv->key = strndup(key, klen);
    kv->value = strdup(value);
    if (!kv->key || !kv->value) {
        free(kv->key);
        free(kv->value);
        return -ENOMEM;
    }
    a->n++;
    return 0;
}

static int parse_port(struct cli_ctx *cli, const char *s, unsigned *port_r)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v == 0 || v > 65535)
        return cli_usage_error(cli, "bad port '%s' (1-65535)", s);
    *port_r = (unsigned)v;
    return 0;
}

int cli_parse_argv(struct cli_ctx *cli, int argc, char **argv,
                   const char **cmd_r)
{
    int i, rc = 0;

    *cmd_r = NULL;
    for (i = 1; i < argc && rc == 0; i++) {
        const char *a = argv[i];
        const char *eq;
        bool has_next = i + 1 < argc;

        if (!*cmd_r) {
            /* global options, before the command */
            if (!strcmp(a, "-s") || !strcmp(a, "-p") || !strcmp(a, "-u") ||
                !strcmp(a, "-pw") || !strcmp(a, "-pwf")) {
                if (!has_next)
                    return cli_usage_error(cli, "option %s needs a value",
                                           a);
                i++;
                if (!strcmp(a, "-s"))
                    rc = set_str(&cli->opts.server, argv[i]);
                else if (!strcmp(a, "-p"))
                    rc = parse_port(cli, argv[i], &cli->opts.port);
                else if (!strcmp(a, "-u"))
                    rc = set_str(&cli->opts.user, argv[i]);
                else if (!strcmp(a, "-pw"))
                    rc = set_str(&cli->opts.password, argv[i]);
                else
                    rc = set_str(&cli->opts.password_file, argv[i]);
                continue;
            }
            if (!strcmp(a, "--minimal")) {
                cli->opts.minimal = true;
                continue;
            }
            if (!strcmp(a, "--http")) {
                cli->opts.http = true;
                continue;
            }
            if (!strcmp(a, "--no-verify")) {
                cli->opts.no_verify = true;
                continue;
            }
            if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
                *cmd_r = "help";
                continue;
            }
            if (a[0] == '-')
                return cli_usage_error(cli, "unknown option '%s' (see "
                                       "'xm-pool help')", a);
            *cmd_r = a;
            continue;
        }
        /* the command's arguments */
        if (!strcmp(a, "--minimal")) {
            cli->opts.minimal = true;
        } else if (a[0] == '-' && a[1] == '-' && a[2]) {
            eq = strchr(a + 2, '=');
            if (eq)
                rc = args_add(&cli->args, a + 2, (size_t)(eq - a - 2),
                              eq + 1);
            else
                rc = args_add(&cli->args, a + 2, strlen(a + 2), "true");
        } else if ((eq = strchr(a, '=')) && eq != a) {
            rc = args_add(&cli->args, a, (size_t)(eq - a), eq + 1);
        } else if (!strcmp(*cmd_r, "help") && cli->args.n == 0) {
            rc = args_add(&cli->args, "command", 7, a);
        } else {
            return cli_usage_error(cli, "argument '%s' is not key=value "
                                   "or --flag", a);
        }
    }
    if (rc == -ENOMEM)
        return cli_usage_error(cli, "out of memory");
    return rc;
}

static char *trim(char *s)
{
    char *e;

    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

int cli_rc_load(struct cli_ctx *cli)
{
    const char *env = getenv("XM_POOLRC"), *home = getenv("HOME");
    char line[1024];
    FILE *f;
    int rc = 0, lineno = 0;

    if (!cli->opts.rc_path) {
        if (env && *env)
            rc = set_str(&cli->opts.rc_path, env);
        else if (home && *home &&
                 asprintf(&cli->opts.rc_path, "%s/%s", home,
                          CLI_RC_NAME) < 0)
            rc = -ENOMEM;
        if (rc)
            return rc;
        if (!cli->opts.rc_path)
            return 0;
    }
    f = fopen(cli->opts.rc_path, "r");
    if (!f)
        return 0;
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        char *k = trim(line), *v;

        lineno++;
        if (!*k || *k == '#')
            continue;
        v = strchr(k, '=');
        if (!v) {
            rc = cli_usage_error(cli, "%s:%d: expected key=value",
                                 cli->opts.rc_path, lineno);
            break;
        }
        *v++ = '\0';
        k = trim(k);
        v = trim(v);
        if (!strcmp(k, "server") && !cli->opts.server)
            rc = set_str(&cli->opts.server, v);
        else if (!strcmp(k, "port") && !cli->opts.port)
            rc = parse_port(cli, v, &cli->opts.port);
        else if (!strcmp(k, "username") && !cli->opts.user)
            rc = set_str(&cli->opts.user, v);
        else if (!strcmp(k, "password") && !cli->opts.password &&
                 !cli->opts.password_file)
            rc = set_str(&cli->opts.password, v);
        else if (!strcmp(k, "password_file") && !cli->opts.password &&
                 !cli->opts.password_file)
            rc = set_str(&cli->opts.password_file, v);
        /* fingerprint.* lines are read by cli_rpc.c; others ignored */
    }
    fclose(f);
    return rc;
}

int cli_password_load(struct cli_ctx *cli)
{
    char buf[1024];
    FILE *f;
    size_t len;

    if (cli->opts.password || !cli->opts.password_file)
        return 0;
    f = fopen(cli->opts.password_file, "r");
    if (!f)
        return cli_usage_error(cli, "cannot read password file %s: %s",
                               cli->opts.password_file, strerror(errno));
    if (!fgets(buf, sizeof(buf), f))
        buf[0] = '\0';
    fclose(f);
    len = strcspn(buf, "\r\n");
    buf[len] = '\0';
    cli->opts.password = strdup(buf);
    explicit_bzero(buf, sizeof(buf));
    return cli->opts.password ? 0 : -ENOMEM;
}

/* "name-label" and "name_label" are the same key. */
static bool key_eq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char ca = *a == '-' ? '_' : *a, cb = *b == '-' ? '_' : *b;

        if (ca != cb)
            return false;
    }
    return *a == *b;
}

const char *cli_arg(struct cli_ctx *cli, const char *key)
{
    size_t i;

    for (i = 0; i < cli->args.n; i++)
        if (key_eq(cli->args.kv[i].key, key)) {
            cli->args.kv[i].used = true;
            return cli->args.kv[i].value;
        }
    return NULL;
}

int cli_arg_bool(struct cli_ctx *cli, const char *key, bool def, bool *b_r)
{
    const char *v = cli_arg(cli, key);

    *b_r = def;
    if (!v)
        return 0;
    if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") ||
        !strcmp(v, "1") || !strcasecmp(v, "on"))
        *b_r = true;
    else if (!strcasecmp(v, "false") || !strcasecmp(v, "no") ||
             !strcmp(v, "0") || !strcasecmp(v, "off"))
        *b_r = false;
    else
        return cli_usage_error(cli, "%s=%s: expected true or false", key, v);
    return 0;
}

const struct pool_field *cli_field_find(const struct pool_class *cls,
                                        const char *key)
{
    size_t i;

    if (!cls)
        return NULL;
    for (i = 0; i < cls->nfields; i++)
        if (!cls->fields[i].internal && key_eq(cls->fields[i].name, key))
            return &cls->fields[i];
    return NULL;
}

/* "name_label" -> "name-label" into buf */
static const char *cli_name(const char *wire, char *buf, size_t size)
{
    size_t i;

    for (i = 0; wire[i] && i + 1 < size; i++)
        buf[i] = wire[i] == '_' ? '-' : wire[i];
    buf[i] = '\0';
    return buf;
}

int cli_check_keys(struct cli_ctx *cli)
{
    const struct cli_command *c = cli->cmd;
    const char *const *keys = command_keys(c);
    const struct pool_class *cls;
    size_t i, j;

    /* cls "*": the class the command's class= names (event-wait). */
    cls = !c->cls ? NULL : strcmp(c->cls, "*") ? pool_class_find(c->cls) :
          pool_class_find(cli_arg(cli, "class"));
    for (i = 0; i < cli->args.n; i++) {
        const char *k = cli->args.kv[i].key;
        bool ok = false;
        char *list = NULL;
        size_t len = 0;
        FILE *m;
        char nb[64];
        const char *s;

        /* "PREFIX:" in a command's keys takes any PREFIX:NAME. */
        for (j = 0; keys[j] && !ok; j++)
            ok = key_eq(keys[j], k) ||
                 (keys[j][0] && keys[j][strlen(keys[j]) - 1] == ':' &&
                  !strncmp(keys[j], k, strlen(keys[j])) &&
                  k[strlen(keys[j])]);
        if (!ok && cls) {
            char base[128];

            /* FIELD:KEY for maps in vm-param-set */
            snprintf(base, sizeof(base), "%.*s", (int)strcspn(k, ":"), k);
            ok = cli_field_find(cls, base) != NULL;
        }
        if (ok)
            continue;
        m = open_memstream(&list, &len);
        if (!m)
            return -ENOMEM;
        for (j = 0; keys[j]; j++)
            fprintf(m, "%s%s", j ? ", " : "", keys[j]);
        if (cls) {
            fprintf(m, "%sand selectors on any field of %s: ",
                    keys[0] ? "; " : "", cls->name);
            for (j = 0; j < cls->nfields; j++)
                if (!cls->fields[j].internal)
                    fprintf(m, "%s%s", j ? ", " : "",
                            cli_name(cls->fields[j].name, nb, sizeof(nb)));
        }
        if (!keys[0] && !cls)
            fputs("(none)", m);
        fclose(m);
        s = NULL;
        {
            const char *cand[64];
            size_t n = 0;

            for (j = 0; keys[j] && n < 64; j++)
                cand[n++] = keys[j];
            s = closest(k, cand, n);
        }
        if (s)
            cli_usage_error(cli, "%s: unknown key '%s'. Did you mean '%s'? "
                            "Valid keys: %s", c->name, k, s, list);
        else
            cli_usage_error(cli, "%s: unknown key '%s'. Valid keys: %s",
                            c->name, k, list);
        free(list);
        return -EINVAL;
    }
    return 0;
}

/* ---- values and records ------------------------------------------------ */

static void value_write(FILE *m, const struct api_value *v)
{
    size_t i, n;

    if (!v)
        return;
    switch (api_value_type(v)) {
    case API_NIL:
        break;
    case API_STRING:
    case API_DATETIME:
        fputs(api_value_string(v), m);
        break;
    case API_INT: {
        int64_t x = 0;

        api_value_get_int64(v, &x);
        fprintf(m, "%lld", (long long)x);
        break;
    }
    case API_DOUBLE: {
        double d = 0;

        api_value_get_double(v, &d);
        fprintf(m, "%g", d);
        break;
    }
    case API_BOOL: {
        bool b = false;

        api_value_get_bool(v, &b);
        fputs(b ? "true" : "false", m);
        break;
    }
    case API_ARRAY:
        n = api_value_count(v);
        for (i = 0; i < n; i++) {
            if (i)
                fputs("; ", m);
            value_write(m, api_array_get(v, i));
        }
        break;
    case API_STRUCT:
        n = api_value_count(v);
        for (i = 0; i < n; i++) {
            fprintf(m, "%s%s: ", i ? "; " : "", api_struct_key(v, i));
            value_write(m, api_struct_value(v, i));
        }
        break;
    }
}

char *cli_value_text(const struct api_value *v)
{
    char *s = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&s, &len);

    if (!m)
        return NULL;
    value_write(m, v);
    if (fclose(m) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

#define NOT_IN_DB "<not in database>"

/* The uuid of ref, an object of class target; NULL for none (or one
 * gone); ref itself when the class could not be listed. */
static const char *ref_uuid(struct cli_ctx *cli, enum pool_class_id target,
                            const char *ref)
{
    struct api_value **all = &cli->uuid_cache[target];
    const struct api_value *rec;
    char method[64];

    if (!ref || !*ref || !strcmp(ref, "OpaqueRef:NULL"))
        return NULL;
    if (!*all) {
        snprintf(method, sizeof(method), "%s.get_all_records",
                 pool_class_get(target)->name);
        if (cli_rpc_call(cli, method, NULL, all) != 0)
            *all = api_array();  /* "not listed" (reported): refs as are */
    }
    if (api_value_type(*all) != API_STRUCT)
        return ref;
    rec = api_struct_get(*all, ref);
    return rec ? api_value_string(api_struct_get(rec, "uuid")) : NULL;
}

char *cli_field_text(struct cli_ctx *cli, const struct pool_field *f,
                     const struct api_value *v)
{
    char *s = NULL;
    size_t len = 0, i, n;
    const char *u, *ref;
    FILE *m;

    if (!f || (f->type != POOL_FT_REF && f->type != POOL_FT_REF_SET))
        return cli_value_text(v);
    m = open_memstream(&s, &len);
    if (!m)
        return NULL;
    n = f->type == POOL_FT_REF ? 1 : api_value_count(v);
    for (i = 0; i < n; i++) {
        ref = api_value_string(f->type == POOL_FT_REF ? v :
                               api_array_get(v, i));
        u = ref_uuid(cli, f->target, ref);
        fprintf(m, "%s%s", i ? "; " : "", u ? u : NOT_IN_DB);
    }
    if (fclose(m) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

/* Whether rec's field wire reads want: its text, or for a ref its uuid
 * (as printed) or the ref itself. */
static bool field_equals(struct cli_ctx *cli, const struct pool_field *f,
                         const struct api_value *rec, const char *wire,
                         const char *want)
{
    const struct api_value *v = api_struct_get(rec, wire);
    char *t = cli_value_text(v);
    bool eq = t && strcmp(t, want) == 0;

    free(t);
    if (!eq && f && f->type == POOL_FT_REF) {
        t = cli_field_text(cli, f, v);
        eq = t && strcmp(t, want) == 0;
        free(t);
    }
    return eq;
}

bool cli_record_matches(struct cli_ctx *cli, const struct pool_class *cls,
                        const char *name, const struct api_value *rec)
{
    size_t i;

    for (i = 0; i < cli->args.n; i++) {
        struct cli_kv *kv = &cli->args.kv[i];
        const struct pool_field *f;

        if (name && key_eq(kv->key, name)) {
            kv->used = true;
            if (!field_equals(cli, NULL, rec, "uuid", kv->value) &&
                !field_equals(cli, NULL, rec, "name_label", kv->value))
                return false;
            continue;
        }
        f = cli_field_find(cls, kv->key);
        if (!f)
            continue;
        kv->used = true;
        if (!field_equals(cli, f, rec, f->name, kv->value))
            return false;
    }
    return true;
}

static bool in_list(const char *list, const char *wire)
{
    const char *p = list;

    while (*p) {
        size_t l = strcspn(p, ",");
        char one[128];

        snprintf(one, sizeof(one), "%.*s", (int)l, p);
        if (key_eq(trim(one), wire))
            return true;
        p += l;
        if (*p == ',')
            p++;
    }
    return false;
}

int cli_print_record(struct cli_ctx *cli, const struct pool_class *cls,
                     const struct api_value *rec, const char *params,
                     const char *const *dflt)
{
    size_t i, j, n = api_value_count(rec), width = 0;
    bool all = params && !strcmp(params, "all");
    char nb[128];

    for (int pass = 0; pass < 2; pass++) {
        for (i = 0; i < n; i++) {
            const char *wire = api_struct_key(rec, i);
            const struct pool_field *f = cli_field_find(cls, wire);
            bool show = all;
            size_t w;

            if (!all && params)
                show = in_list(params, wire);
            else if (!all)
                for (j = 0; dflt && dflt[j] && !show; j++)
                    show = !strcmp(dflt[j], wire);
            if (!show)
                continue;
            cli_name(wire, nb, sizeof(nb));
            w = strlen(nb) + 5;     /* " ( RO)" minus one */
            if (pass == 0) {
                if (w > width)
                    width = w;
                continue;
            }
            {
                char label[192];
                char *t = cli_field_text(cli, f, api_struct_value(rec, i));
                const char *acc = f && f->access == POOL_FA_RW ? "RW" : "RO";

                snprintf(label, sizeof(label), "%s ( %s)", nb, acc);
                fprintf(cli->out, "%*s: %s\n", (int)width + 1, label,
                        t ? t : "");
                free(t);
            }
        }
    }
    fputc('\n', cli->out);
    return 0;
}

void cli_print_minimal(struct cli_ctx *cli,
                       const struct api_value *const *recs, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        const struct api_value *u = api_struct_get(recs[i], "uuid");

        fprintf(cli->out, "%s%s", i ? "," : "",
                u && api_value_string(u) ? api_value_string(u) : "");
    }
    fputc('\n', cli->out);
}

int cli_select(struct cli_ctx *cli, const struct pool_class *cls,
               const char *name, bool one_only, struct api_value **all_r,
               const char ***refs_r, const struct api_value ***recs_r,
               size_t *n_r)
{
    struct api_value *all = NULL;
    const char **refs = NULL;
    const struct api_value **recs = NULL;
    size_t i, n, k = 0;
    char method[64];
    bool multiple = false;
    int rc;

    *all_r = NULL;
    *refs_r = NULL;
    *recs_r = NULL;
    *n_r = 0;
    rc = cli_arg_bool(cli, "multiple", false, &multiple);
    if (rc)
        return rc;
    snprintf(method, sizeof(method), "%s.get_all_records", cls->name);
    rc = cli_rpc_call(cli, method, NULL, &all);
    if (rc)
        return rc;
    n = api_value_count(all);
    refs = calloc(n + 1, sizeof(*refs));
    recs = calloc(n + 1, sizeof(*recs));
    if (!refs || !recs) {
        rc = -ENOMEM;
        goto out;
    }
    for (i = 0; i < n; i++) {
        const struct api_value *r = api_struct_value(all, i);

        if (cli_record_matches(cli, cls, name, r)) {
            refs[k] = api_struct_key(all, i);
            recs[k++] = r;
        }
    }
    if (one_only && k == 0) {
        const char *want = name ? cli_arg(cli, name) : NULL;

        rc = cli_usage_error(cli, "no %s matches%s%s", cls->name,
                             want ? " " : " the selectors",
                             want ? want : "");
        goto out;
    }
    if (one_only && k > 1 && !multiple) {
        rc = cli_usage_error(cli, "%zu %ss match; add --multiple to act on "
                             "all of them, or select by uuid=", k,
                             cls->name);
        goto out;
    }
    *all_r = all;
    *refs_r = refs;
    *recs_r = recs;
    *n_r = k;
    return 0;
out:
    free(refs);
    free(recs);
    api_value_free(all);
    return rc;
}

/* vm-list leaves out the hosts' control domains unless
 * is-control-domain= asks for them (xe lists them among the VMs). */
static size_t without_control_domains(const struct api_value **recs, size_t n)
{
    size_t i, k = 0;
    bool dom0;

    for (i = 0; i < n; i++)
        if (api_value_get_bool(api_struct_get(recs[i], "is_control_domain"),
                               &dom0) < 0 || !dom0)
            recs[k++] = recs[i];
    return k;
}

int cli_list(struct cli_ctx *cli, const char *cls_name,
             const char *const *dflt)
{
    const struct pool_class *cls = pool_class_find(cls_name);
    struct api_value *all = NULL;
    const char **refs = NULL;
    const struct api_value **recs = NULL;
    const char *params = cli_arg(cli, "params");
    size_t i, n;
    int rc;

    rc = cli_select(cli, cls, NULL, false, &all, &refs, &recs, &n);
    if (rc)
        return rc;
    if (!strcmp(cls->name, "VM") && !cli_arg(cli, "is-control-domain"))
        n = without_control_domains(recs, n);
    if (cli->opts.minimal)
        cli_print_minimal(cli, recs, n);
    else
        for (i = 0; i < n; i++)
            cli_print_record(cli, cls, recs[i], params, dflt);
    free(refs);
    free(recs);
    api_value_free(all);
    return 0;
}

/* ---- help and main ----------------------------------------------------- */

int cli_help(struct cli_ctx *cli)
{
    const char *name = cli_arg(cli, "command");
    const struct cli_command *c;
    size_t i;

    if (name) {
        c = cli_command_find(name);
        if (!c) {
            const char *s = cli_suggest(name);

            if (s)
                return cli_usage_error(cli, "unknown command '%s'. Did you "
                                       "mean '%s'?", name, s);
            return cli_usage_error(cli, "unknown command '%s'", name);
        }
        fprintf(cli->out, "usage: xm-pool %s %s\n  %s\n", c->name, c->usage,
                c->help);
        return 0;
    }
    fputs("usage: xm-pool [-s host] [-p port] [-u user] "
          "[-pw password | -pwf file]\n"
          "               [--minimal] [--http] [--no-verify] "
          "COMMAND key=value ...\n\ncommands:\n", cli->out);
    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(cli->out, "  %-14s %s\n", commands[i].name, commands[i].help);
    fputs("\n'xm-pool help COMMAND' shows a command's keys; see xm-pool(1).\n",
          cli->out);
    return 0;
}

#ifndef CLI_NO_MAIN
int main(int argc, char **argv)
{
    struct xt_ctx *xt = xt_ctx_new("xm-pool");
    struct cli_ctx cli;
    const char *name = NULL;
    int rc, status;

    if (!xt) {
        fputs("xm-pool: out of memory\n", stderr);
        return CLI_EXIT_USAGE;
    }
    xt->quiet_errors = true;
    api_init();
    cli_ctx_init(&cli, xt);
    cli.tty = isatty(STDOUT_FILENO);
    rc = cli_parse_argv(&cli, argc, argv, &name);
    if (rc)
        goto out;
    if (!name)
        name = "help";
    cli.cmd_name = name;
    cli.cmd = cli_command_find(name);
    if (!cli.cmd) {
        const char *s = cli_suggest(name);

        if (s)
            rc = cli_usage_error(&cli, "unknown command '%s'. Did you mean "
                                 "'%s'?", name, s);
        else
            rc = cli_usage_error(&cli, "unknown command '%s' (see "
                                 "'xm-pool help')", name);
        goto out;
    }
    rc = cli_check_keys(&cli);
    if (rc)
        goto out;
    if (cli.cmd->fn != cli_help) {
        rc = cli_rc_load(&cli);
        if (!rc)
            rc = cli_password_load(&cli);
        if (!rc)
            rc = cli_rpc_login(&cli);
        if (rc)
            goto out;
    }
    rc = cli.cmd->fn(&cli);
out:
    if (rc && !cli.status) {
        fprintf(stderr, "xm-pool: %s\n", strerror(-rc));
        cli.status = CLI_EXIT_SERVER;
    }
    status = rc ? cli.status : CLI_EXIT_OK;
    cli_ctx_clear(&cli);
    api_fini();
    xt_ctx_free(xt);
    return status;
}
#endif
