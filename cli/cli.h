/*
 * cli.h - xm-pool, the command-line client of the xm-pool API, in the
 * manner of xe:
 *
 *     xm-pool [-s host] [-p port] [-u user] [-pw password | -pwf file]
 *             [--minimal] [--http] [--no-verify] COMMAND key=value ...
 *
 * One command table (cli_main.c): name, handler, usage, help, keys.
 * Handlers are cli_<object>_<verb>(), one file per object class
 * (cli_pool.c, cli_host.c, cli_vm.c, cli_task.c); the XML-RPC transport is
 * cli_rpc.c, the migration progress display cli_progress.c.  The usage
 * text of the table and man/xm-pool.1 say the same thing.
 *
 * Errors are reported once, where they happen, with cli_usage_error(),
 * cli_server_error() or cli_conn_error(): each prints the message to
 * cli->err, records the exit status class in cli->status and returns a
 * negative errno which callers pass up.  main() exits with cli->status.
 *
 * Ownership: strings in struct cli_opts and struct cli_args are owned by
 * them and freed by cli_ctx_clear(); returned strings (char *) are the
 * caller's to free().
 */
#ifndef CLI_H
#define CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "xt.h"
#include "api.h"
#include "pool.h"

/* Exit statuses, documented in xm-pool(1). */
enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_SERVER = 1,    /* the server answered a failure */
    CLI_EXIT_USAGE = 2,     /* bad command line, nothing matched */
    CLI_EXIT_CONN = 3,      /* cannot connect, TLS or authentication */
};

#define CLI_DEFAULT_PORT_HTTPS 443
#define CLI_DEFAULT_PORT_HTTP  80
#define CLI_RC_NAME            ".xm-poolrc"

struct cli_opts {
    char *server;           /* default "localhost" */
    unsigned port;          /* 0: 443, or 80 with --http */
    char *user;             /* default "root" */
    char *password;
    char *password_file;
    bool minimal;
    bool http;              /* plain HTTP (loopback tests) */
    bool no_verify;         /* do not check the TLS certificate */
    char *rc_path;          /* ~/.xm-poolrc or $XM_POOLRC */
};

/* The command's arguments: key=value, --flag as flag=true, in order. */
struct cli_kv {
    char *key;
    char *value;
    bool used;              /* consumed by the handler or a selector */
};
struct cli_args {
    struct cli_kv *kv;
    size_t n;
};

struct cli_conn;            /* cli_rpc.c: the HTTP(S) session */
struct cli_command;

struct cli_ctx {
    struct xt_ctx *xt;
    struct cli_opts opts;
    struct cli_args args;
    const struct cli_command *cmd;
    const char *cmd_name;   /* as typed */
    FILE *out;              /* default stdout */
    FILE *err;              /* default stderr */
    bool tty;               /* out is a terminal */
    int status;             /* enum cli_exit of the first error */
    struct cli_conn *conn;  /* NULL until cli_rpc_login() */
    /* Each class's get_all_records once a ref of it was printed as its
     * uuid (cli_field_text); NULL until then. */
    struct api_value *uuid_cache[POOL_CLASS_COUNT];
};

typedef int (*cli_handler_fn)(struct cli_ctx *cli);

struct cli_command {
    const char *name;       /* "vm-list" */
    cli_handler_fn fn;
    const char *usage;      /* keys, e.g. "vm=<name-or-uuid> [--force]" */
    const char *help;       /* one line */
    const char *const *keys;/* accepted keys besides selectors, NULL-ended */
    const char *cls;        /* class whose fields select, or NULL;
                             * "*": the one class= names */
};

/* ---- cli_main.c: table, arguments, errors ------------------------------ */

const struct cli_command *cli_commands(size_t *n_r);
const struct cli_command *cli_command_find(const char *name);
/* Edit distance of a and b (insert, delete, substitute: 1 each). */
size_t cli_levenshtein(const char *a, const char *b);
/* The command closest to name, if close enough to be a typo; else NULL. */
const char *cli_suggest(const char *name);

/*
 * The text of v, a value of field f, as xe prints it: a ref as the uuid
 * of the object it names ("<not in database>" for OpaqueRef:NULL or a
 * dangling one), a set of refs as their uuids, "; " between items.  f
 * NULL: as it came.  Caller frees; NULL on ENOMEM.
 */
char *cli_field_text(struct cli_ctx *cli, const struct pool_field *f,
                     const struct api_value *v);
/* Forgets the listings cli_field_text keeps. */
void cli_uuid_cache_clear(struct cli_ctx *cli);

/* Initialises cli (out/err stdout/stderr); cli_ctx_clear() frees what it
 * holds (also logging out). */
void cli_ctx_init(struct cli_ctx *cli, struct xt_ctx *xt);
void cli_ctx_clear(struct cli_ctx *cli);

/*
 * Parses argv: global options, the command name (*cmd_r points into
 * argv, NULL when none) and its key=value / --flag arguments.  Options
 * given here win over the rc file, which cli_rc_load() reads afterwards
 * for what is still unset.  -EINVAL (usage error, reported).
 */
int cli_parse_argv(struct cli_ctx *cli, int argc, char **argv,
                   const char **cmd_r);
/* Reads the rc file (path: opts.rc_path, else $XM_POOLRC, else
 * ~/.xm-poolrc; missing is fine): server=, port=, username=, password=,
 * password_file=, and fingerprint.<host>:<port>= lines. */
int cli_rc_load(struct cli_ctx *cli);
/* Reads the password from opts.password_file if no password was given. */
int cli_password_load(struct cli_ctx *cli);

/* The value of key (or its '_' / '-' twin), NULL if absent; marks it used. */
const char *cli_arg(struct cli_ctx *cli, const char *key);
/* A boolean key: def when absent; "true/yes/1/on" or "false/no/0/off"
 * else -EINVAL (reported). */
int cli_arg_bool(struct cli_ctx *cli, const char *key, bool def, bool *b_r);
/* Checks every key is one of the command's or a field of its class;
 * else a usage error listing the valid keys. */
int cli_check_keys(struct cli_ctx *cli);

int cli_usage_error(struct cli_ctx *cli, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int cli_conn_error(struct cli_ctx *cli, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A failure envelope: code, its parameters, its meaning. */
int cli_server_error(struct cli_ctx *cli, const struct api_value *env);

/* ---- records, selectors, output (cli_main.c) ------------------------- */

/* "name-label" or "name_label" -> the field of cls, or NULL. */
const struct pool_field *cli_field_find(const struct pool_class *cls,
                                        const char *key);
/* The text of a value as xe prints it: sets "a; b", maps "k: v; k2: v2".
 * NULL on ENOMEM. */
char *cli_value_text(const struct api_value *v);
/* True when rec (a record struct) satisfies every selector among the
 * arguments: a key naming a field of cls must equal its text; name is the
 * object key ("vm") whose value matches uuid or name_label. */
bool cli_record_matches(struct cli_ctx *cli, const struct pool_class *cls,
                        const char *name, const struct api_value *rec);
/* Prints rec as "field ( RO): value" lines; params: NULL for dflt (a
 * NULL-ended list of wire names), "all", or "a,b,c". */
int cli_print_record(struct cli_ctx *cli, const struct pool_class *cls,
                     const struct api_value *rec, const char *params,
                     const char *const *dflt);
/* --minimal: the uuids of recs (n of them), comma-separated, a newline. */
void cli_print_minimal(struct cli_ctx *cli, const struct api_value *const *recs,
                       size_t n);

/*
 * The common list/select step: get_all_records of cls, keep the records
 * that match the selectors.  *refs_r and *recs_r (n_r of them) point into
 * *all_r, which the caller frees.  With name (e.g. "vm") and one_only,
 * exactly one match is required unless --multiple was given: none is a
 * usage error, several too.
 */
int cli_select(struct cli_ctx *cli, const struct pool_class *cls,
               const char *name, bool one_only, struct api_value **all_r,
               const char ***refs_r, const struct api_value ***recs_r,
               size_t *n_r);
/* The generic <class>-list handler body. */
int cli_list(struct cli_ctx *cli, const char *cls_name,
             const char *const *dflt);

/* An array of the strings given (NULL-ended), or NULL on ENOMEM. */
struct api_value *cli_strings(const char *first, ...)
    __attribute__((sentinel));
/* "4096", "256M", "1.5G", "2GiB" -> bytes; -EINVAL otherwise. */
int cli_parse_size(const char *s, int64_t *b_r);

/* ---- cli_rpc.c --------------------------------------------------------- */

/* Connects and logs in (TLS checked unless --http / --no-verify). */
int cli_rpc_login(struct cli_ctx *cli);
/* Calls method(session, params...) (params consumed, an array, NULL for
 * none); *value_r gets the Value of a success.  A failure is reported
 * with cli_server_error() and answers -EREMOTEIO; *env_r, if not NULL,
 * receives the failure envelope instead (not reported then). */
int cli_rpc_call(struct cli_ctx *cli, const char *method,
                 struct api_value *params, struct api_value **value_r);
int cli_rpc_call_env(struct cli_ctx *cli, const char *method,
                     struct api_value *params, struct api_value **env_r);
/* Logs out and closes; NULL-safe for a cli without connection. */
void cli_rpc_logout(struct cli_ctx *cli);
/* "AB:CD:..." SHA-256 of a DER certificate into buf (96 bytes). */
int cli_fingerprint_der(const void *der, size_t len, char buf[96]);

/* ---- cli_progress.c ---------------------------------------------------- */

struct cli_progress {
    double fraction;        /* 0..1, <0 unknown */
    int64_t bytes;          /* sent so far, -1 unknown */
    int64_t total_bytes;    /* -1 unknown */
    double rate;            /* bytes/s, <0 unknown */
    int64_t round;          /* pre-copy round, -1 unknown */
    double eta_s;           /* <0 unknown */
};

/* Fills p from a task record (progress and other_config). */
void cli_progress_from_task(const struct api_value *task,
                            struct cli_progress *p);
/* One line without newline: for a TTY a bar of width columns, else
 * "progress: 42% ..." key/value text.  Returns buf. */
char *cli_progress_format(const struct cli_progress *p, bool tty,
                          unsigned width, char *buf, size_t size);
/* Reads "key": number from the engine's JSON stats; false if absent. */
bool cli_json_number(const char *json, const char *key, double *v_r);
/* "migrated web01 to h2 in 1.23 s, guest-observed downtime 4.5 ms" */
char *cli_migrate_summary(const char *vm, const char *host,
                          const char *stats, char *buf, size_t size);

/* ---- handlers ---------------------------------------------------------- */

int cli_help(struct cli_ctx *cli);
int cli_pool_list(struct cli_ctx *cli);
int cli_pool_join(struct cli_ctx *cli);
int cli_pool_eject(struct cli_ctx *cli);
int cli_host_list(struct cli_ctx *cli);
int cli_host_disable(struct cli_ctx *cli);
int cli_host_enable(struct cli_ctx *cli);
int cli_host_compute_free_memory(struct cli_ctx *cli);
int cli_host_prevent_evacuation(struct cli_ctx *cli);
int cli_host_evacuate(struct cli_ctx *cli);
/* cli_upgrade.c */
int cli_pool_rolling_upgrade(struct cli_ctx *cli);
int cli_vm_list(struct cli_ctx *cli);
/* cli_param.c: X-param-get / -set / -list of the command's class. */
int cli_param_get(struct cli_ctx *cli);
int cli_param_set(struct cli_ctx *cli);
int cli_param_list(struct cli_ctx *cli);
int cli_vm_create(struct cli_ctx *cli);
int cli_vm_start(struct cli_ctx *cli);
int cli_vm_shutdown(struct cli_ctx *cli);
int cli_vm_migrate(struct cli_ctx *cli);
int cli_task_list(struct cli_ctx *cli);
int cli_event_wait(struct cli_ctx *cli);        /* cli_event.c */
/* The ref (free()) of the one object of cls whose uuid, name or (host)
 * address is key; *name_r (free(), may be NULL) its name.  cli_vm.c. */
int cli_find_one(struct cli_ctx *cli, const char *cls_name, const char *key,
                 char **ref_r, char **name_r);
/* cli_message.c */
int cli_message_list(struct cli_ctx *cli);
/* cli_sr.c */
int cli_sr_create(struct cli_ctx *cli);
int cli_sr_list(struct cli_ctx *cli);
int cli_sr_scan(struct cli_ctx *cli);
int cli_sr_destroy(struct cli_ctx *cli);
int cli_sr_forget(struct cli_ctx *cli);
int cli_pbd_list(struct cli_ctx *cli);
int cli_pbd_plug(struct cli_ctx *cli);
int cli_pbd_unplug(struct cli_ctx *cli);
int cli_vdi_create(struct cli_ctx *cli);
int cli_vdi_list(struct cli_ctx *cli);
int cli_vdi_destroy(struct cli_ctx *cli);
int cli_vdi_resize(struct cli_ctx *cli);
int cli_vdi_clone(struct cli_ctx *cli);
int cli_vdi_snapshot(struct cli_ctx *cli);
int cli_vbd_create(struct cli_ctx *cli);
int cli_vbd_list(struct cli_ctx *cli);
int cli_vbd_destroy(struct cli_ctx *cli);
int cli_vbd_plug(struct cli_ctx *cli);
int cli_vbd_unplug(struct cli_ctx *cli);
int cli_vm_disk_add(struct cli_ctx *cli);
/* Gives VM vm (named vm_name) a disk from the arguments: vdi-uuid= (an
 * existing VDI), or disk-size= [sr-uuid=] (a new VDI, destroyed again if
 * its VBD cannot be made); device=, mode=, bootable=.  Prints the VBD's
 * uuid. */
int cli_disk_add(struct cli_ctx *cli, const char *vm, const char *vm_name);
int cli_task_cancel(struct cli_ctx *cli);

/* A failed task's error_info, printed as the server's error (exit 1). */
int cli_task_failed(struct cli_ctx *cli, const struct api_value *task);
int cli_vdi_pool_migrate(struct cli_ctx *cli);
int cli_vdi_copy(struct cli_ctx *cli);
/* Waits for task ref to finish, showing progress when show; *rec_r gets
 * its last record. */
int cli_task_wait(struct cli_ctx *cli, const char *ref, bool show,
                  struct api_value **rec_r);
/* More lines under a task's progress: what fn writes into buf (size
 * bytes, lines ending in '\n') from the task's record rec. */
typedef void (*cli_task_lines_fn)(struct cli_ctx *cli,
                                  const struct api_value *rec, char *buf,
                                  size_t size);
/* cli_task_wait showing progress and fn's lines below it, redrawn in
 * place on a terminal, printed again when they change otherwise. */
int cli_task_watch(struct cli_ctx *cli, const char *ref,
                   cli_task_lines_fn fn, struct api_value **rec_r);

#endif /* CLI_H */
