/*
 * cli_upgrade.c - pool-rolling-upgrade hook=PROGRAM [move-back=true|false]
 * [host-timeout=SECONDS]: the pool's hosts upgraded one at a time, the
 * master first, every VM running throughout (docs/design/pool.md,
 * "Rolling pool upgrade").
 *
 * The client drives it, as XenCenter's wizard and Xen Orchestra do, with
 * the pool's own calls; its state is the pool's, so that running it again
 * resumes: a host whose version is already the newest of a pool of mixed
 * versions is done.  For each other host: its VMs are tagged with their
 * home (other_config xm:rpu-home), it is disabled (auto_enable false) and
 * evacuated, the hook upgrades it (PROGRAM HOST-UUID ADDRESS), and once
 * its daemon is back (a new start, a version no older than the newest
 * before) it is enabled.  A hook that fails stops the upgrade with that
 * host disabled and empty.  At the end the VMs go home (move-back).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define HOME_KEY        "xm:rpu-home"
#define BACK_WINDOW     3       /* moves home in flight at once */

struct rpu_host {
    char *ref, *uuid, *name, *address, *version, *started;
    bool enabled, live;
};

struct rpu {
    struct cli_ctx *cli;
    struct rpu_host *h;
    size_t n;
    char *newest;               /* the newest version when it started */
    bool mixed;                 /* the pool's versions differed */
    long timeout_s;
};

static void host_clear(struct rpu_host *h)
{
    free(h->ref);
    free(h->uuid);
    free(h->name);
    free(h->address);
    free(h->version);
    free(h->started);
    memset(h, 0, sizeof(*h));
}

static char *dup_str(const struct api_value *v)
{
    return strdup(api_value_string(v) ?: "");
}

/* One host's record into h (its ref kept). */
static int host_fill(struct rpu_host *h, const struct api_value *rec)
{
    const struct api_value *sw = api_struct_get(rec, "software_version");
    const struct api_value *oc = api_struct_get(rec, "other_config");

    free(h->uuid);
    free(h->name);
    free(h->address);
    free(h->version);
    free(h->started);
    h->uuid = dup_str(api_struct_get(rec, "uuid"));
    h->name = dup_str(api_struct_get(rec, "name_label"));
    h->address = dup_str(api_struct_get(rec, "address"));
    h->version = dup_str(api_struct_get(sw, "product_version"));
    h->started = dup_str(api_struct_get(oc, "xm:started"));
    h->enabled = h->live = false;
    api_value_get_bool(api_struct_get(rec, "enabled"), &h->enabled);
    api_value_get_bool(api_struct_get(rec, "live"), &h->live);
    return h->uuid && h->name && h->address && h->version && h->started ?
           0 : -ENOMEM;
}

/* The hosts, the master first; the newest version and whether they
 * differ. */
static int rpu_load(struct rpu *u)
{
    struct api_value *recs = NULL, *pools = NULL, *master = NULL;
    size_t i, k = 1;
    int rc;

    rc = cli_rpc_call(u->cli, "host.get_all_records", NULL, &recs);
    rc = rc ?: cli_rpc_call(u->cli, "pool.get_all", NULL, &pools);
    rc = rc ?: cli_rpc_call(u->cli, "pool.get_master",
                            cli_strings(api_value_string(
                                api_array_get(pools, 0)) ?: "", NULL),
                            &master);
    if (rc)
        goto out;
    u->h = calloc(api_value_count(recs) + 1, sizeof(*u->h));
    if (!u->h) {
        rc = -ENOMEM;
        goto out;
    }
    /* The master first (slot 0), the others in the pool's order. */
    for (i = 0; rc == 0 && i < api_value_count(recs); i++) {
        const char *ref = api_struct_key(recs, i);
        struct rpu_host *h = !strcmp(ref, api_value_string(master) ?: "") ?
                             &u->h[0] : &u->h[k++];

        h->ref = strdup(ref);
        rc = h->ref ? host_fill(h, api_struct_value(recs, i)) : -ENOMEM;
    }
    u->n = u->h[0].ref ? k : 0;     /* no master among them: nothing */
    for (i = 0; rc == 0 && i < u->n; i++) {
        if (!u->newest || xt_version_cmp(u->h[i].version, u->newest) > 0) {
            free(u->newest);
            u->newest = strdup(u->h[i].version);
        }
        if (i && xt_version_cmp(u->h[i].version, u->h[0].version))
            u->mixed = true;
    }
    if (rc == 0 && !u->newest)
        rc = -ENOMEM;
out:
    api_value_free(recs);
    api_value_free(pools);
    api_value_free(master);
    return rc;
}

/* METHOD(ref, extra...) with its value dropped. */
static int call_ref(struct cli_ctx *cli, const char *method, const char *ref,
                    struct api_value *extra)
{
    struct api_value *p = cli_strings(ref, NULL), *v = NULL;
    size_t i;
    int rc;

    for (i = 0; p && i < api_value_count(extra); i++)
        api_array_append(p, api_value_copy(api_array_get(extra, i)));
    api_value_free(extra);
    rc = p ? cli_rpc_call(cli, method, p, &v) : -ENOMEM;
    api_value_free(v);
    return rc;
}

/* The VMs of host h get their home (kept from an earlier run). */
static int tag_homes(struct rpu *u, const struct rpu_host *h)
{
    struct api_value *vms = NULL;
    size_t i;
    int rc = cli_rpc_call(u->cli, "host.get_resident_VMs",
                          cli_strings(h->ref, NULL), &vms);

    for (i = 0; rc == 0 && i < api_value_count(vms); i++) {
        const char *vm = api_value_string(api_array_get(vms, i)) ?: "";
        struct api_value *oc = NULL, *dom0 = NULL;
        bool is_dom0 = false;

        /* The host's control domain stays with it. */
        rc = cli_rpc_call(u->cli, "VM.get_is_control_domain",
                          cli_strings(vm, NULL), &dom0);
        if (rc == 0)
            api_value_get_bool(dom0, &is_dom0);
        api_value_free(dom0);
        if (rc == 0 && !is_dom0)
            rc = cli_rpc_call(u->cli, "VM.get_other_config",
                              cli_strings(vm, NULL), &oc);
        if (rc == 0 && !is_dom0 && !api_struct_get(oc, HOME_KEY))
            rc = call_ref(u->cli, "VM.add_to_other_config", vm,
                          cli_strings(HOME_KEY, h->uuid, NULL));
        api_value_free(oc);
    }
    api_value_free(vms);
    return rc;
}

/* Runs the hook for h: 0 when it exited 0. */
static int run_hook(struct rpu *u, const char *hook,
                    const struct rpu_host *h)
{
    pid_t pid;
    int st = 0;

    fflush(NULL);
    pid = fork();
    if (pid < 0)
        return cli_conn_error(u->cli, -errno, "cannot run %s", hook);
    if (pid == 0) {
        setenv("XM_POOL_HOST_UUID", h->uuid, 1);
        setenv("XM_POOL_HOST_ADDRESS", h->address, 1);
        setenv("XM_POOL_HOST_NAME", h->name, 1);
        execl(hook, hook, h->uuid, h->address, (char *)NULL);
        fprintf(stderr, "xm-pool: cannot run %s: %s\n", hook,
                strerror(errno));
        _exit(127);
    }
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    fprintf(u->cli->err, "xm-pool: the upgrade hook failed for host %s "
            "(%s %d): it stays disabled and empty, every VM runs "
            "elsewhere; run pool-rolling-upgrade again to resume\n", h->name,
            WIFEXITED(st) ? "exit status" : "signal",
            WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
    u->cli->status = CLI_EXIT_SERVER;
    return -EIO;
}

/* Waits until h's daemon is back after its hook: live, started again,
 * no older than the newest version before.  The master's restart drops
 * our session: we log in again. */
static int wait_back(struct rpu *u, struct rpu_host *h, const char *was)
{
    time_t end = time(NULL) + u->timeout_s;
    FILE *err = u->cli->err;
    int rc = -ETIMEDOUT;

    while (time(NULL) < end) {
        struct api_value *rec = NULL;
        int r;

        u->cli->err = fopen("/dev/null", "w") ?: err;
        if (!u->cli->conn)
            r = cli_rpc_login(u->cli);
        else
            r = 0;
        r = r ?: cli_rpc_call(u->cli, "host.get_record",
                              cli_strings(h->ref, NULL), &rec);
        if (u->cli->err != err)
            fclose(u->cli->err);
        u->cli->err = err;
        if (r) {
            /* The master restarting: a new connection next time. */
            cli_rpc_logout(u->cli);
            u->cli->status = 0;
        } else if (host_fill(h, rec) == 0 && h->live &&
                   strcmp(h->started, was) != 0) {
            api_value_free(rec);
            rc = xt_version_cmp(h->version, u->newest) >= 0 ? 0 : -EPROTO;
            break;
        }
        api_value_free(rec);
        sleep(1);
    }
    if (rc == -EPROTO)
        fprintf(err, "xm-pool: host %s came back with version %s, older "
                "than %s: it stays disabled\n", h->name, h->version,
                u->newest);
    else if (rc)
        fprintf(err, "xm-pool: host %s did not come back within %ld s: it "
                "stays disabled\n", h->name, u->timeout_s);
    if (rc)
        u->cli->status = CLI_EXIT_SERVER;
    return rc;
}

/* One host: disabled, emptied, upgraded by the hook, back, enabled. */
static int upgrade_one(struct rpu *u, const char *hook, struct rpu_host *h)
{
    struct api_value *task = NULL, *rec = NULL, *p;
    char *was = strdup(h->started);
    int rc = was ? 0 : -ENOMEM;

    fprintf(u->cli->out, "== host %s (%s, version %s)\n", h->name,
            h->address, h->version);
    rc = rc ?: tag_homes(u, h);
    if (rc == 0) {
        /* auto_enable false: enabled again only once checked. */
        p = api_array();
        api_array_append(p, api_bool(false));
        rc = call_ref(u->cli, "host.disable", h->ref, p);
    }
    if (rc == 0) {
        p = cli_strings(h->ref, "OpaqueRef:NULL", NULL);
        api_array_append(p, api_int(0));
        rc = cli_rpc_call(u->cli, "Async.host.evacuate", p, &task);
    }
    rc = rc ?: cli_task_wait(u->cli, api_value_string(task) ?: "", true,
                             &rec);
    if (rc == 0 && strcmp(api_value_string(api_struct_get(rec, "status")) ?:
                          "", "success") != 0) {
        rc = cli_task_failed(u->cli, rec);
        fprintf(u->cli->err, "xm-pool: host %s could not be emptied: it "
                "stays disabled\n", h->name);
    }
    if (rc == 0)
        fprintf(u->cli->out, "   emptied; running %s\n", hook);
    rc = rc ?: run_hook(u, hook, h);
    rc = rc ?: wait_back(u, h, was);
    rc = rc ?: call_ref(u->cli, "host.enable", h->ref, NULL);
    if (rc == 0)
        fprintf(u->cli->out, "   back with version %s, enabled\n",
                h->version);
    api_value_free(task);
    api_value_free(rec);
    free(was);
    return rc;
}

/* The VMs to move home: (vm, home host ref) pairs. */
struct homing {
    char *vm, *home;
    bool done;
};

static int homings(struct rpu *u, struct homing **hs_r, size_t *n_r)
{
    struct api_value *recs = NULL;
    struct homing *hs = NULL;
    size_t i, n = 0;
    int rc = cli_rpc_call(u->cli, "VM.get_all_records", NULL, &recs);

    hs = rc ? NULL : calloc(api_value_count(recs) + 1, sizeof(*hs));
    if (!rc && !hs)
        rc = -ENOMEM;
    for (i = 0; rc == 0 && i < api_value_count(recs); i++) {
        const struct api_value *r = api_struct_value(recs, i);
        const char *home = api_value_string(api_struct_get(
            api_struct_get(r, "other_config"), HOME_KEY));
        const char *on = api_value_string(api_struct_get(r, "resident_on"));
        struct api_value *href = NULL;

        if (!home)
            continue;
        if (cli_rpc_call(u->cli, "host.get_by_uuid",
                         cli_strings(home, NULL), &href) == 0) {
            hs[n].vm = strdup(api_struct_key(recs, i));
            hs[n].home = strdup(api_value_string(href) ?: "");
            hs[n].done = !strcmp(hs[n].home, on ?: "");
            n++;
        }
        api_value_free(href);
    }
    api_value_free(recs);
    *hs_r = hs;
    *n_r = n;
    return rc;
}

/* Waits for a move home: true when it succeeded. */
static bool moved(struct rpu *u, const char *task)
{
    struct api_value *t = NULL;
    bool ok = cli_task_wait(u->cli, task, false, &t) == 0 &&
              !strcmp(api_value_string(api_struct_get(t, "status")) ?: "",
                      "success");

    api_value_free(t);
    return ok;
}

/* One pass: the moves not done yet, BACK_WINDOW in flight at once. */
static void home_pass(struct rpu *u, struct homing *hs, size_t n)
{
    char *task[BACK_WINDOW];
    size_t who[BACK_WINDOW], nt = 0, i = 0;

    while (i < n || nt) {
        if (i < n && nt < BACK_WINDOW) {
            struct api_value *p, *t = NULL;

            if (hs[i].done) {
                i++;
                continue;
            }
            p = cli_strings(hs[i].vm, hs[i].home, NULL);
            api_array_append(p, api_struct());
            if (cli_rpc_call(u->cli, "Async.VM.pool_migrate", p, &t) == 0) {
                task[nt] = strdup(api_value_string(t) ?: "");
                who[nt++] = i;
            }
            api_value_free(t);
            i++;
            continue;
        }
        nt--;
        hs[who[0]].done = moved(u, task[0]);
        free(task[0]);
        memmove(task, task + 1, nt * sizeof(*task));
        memmove(who, who + 1, nt * sizeof(*who));
    }
}

/* Each VM with a home goes back to it (move), and loses its tag; one that
 * cannot is tried again once the others moved (free before fill), then
 * keeps its tag, where it runs. */
static int move_back(struct rpu *u, bool move)
{
    struct homing *hs = NULL;
    size_t i, n = 0, bad = 0;
    int rc = homings(u, &hs, &n);

    if (rc == 0 && move) {
        home_pass(u, hs, n);
        home_pass(u, hs, n);
    }
    for (i = 0; rc == 0 && i < n; i++) {
        if (move && !hs[i].done)
            bad++;
        else
            call_ref(u->cli, "VM.remove_from_other_config", hs[i].vm,
                     cli_strings(HOME_KEY, NULL));
    }
    for (i = 0; hs && i < n; i++) {
        free(hs[i].vm);
        free(hs[i].home);
    }
    free(hs);
    if (rc == 0 && bad) {
        fprintf(u->cli->err, "xm-pool: %zu VM(s) could not go home; they "
                "run where they are (tagged %s)\n", bad, HOME_KEY);
        u->cli->status = CLI_EXIT_SERVER;
        rc = -EIO;
    }
    if (rc == 0 && move && n)
        fprintf(u->cli->out, "== %zu VM(s) back home\n", n);
    return rc;
}

int cli_pool_rolling_upgrade(struct cli_ctx *cli)
{
    const char *hook = cli_arg(cli, "hook");
    const char *to = cli_arg(cli, "host-timeout");
    struct rpu u = { .cli = cli, .timeout_s = 600 };
    bool back = true;
    size_t i;
    int rc = cli_arg_bool(cli, "move-back", true, &back);

    if (rc)
        return rc;
    if (!hook || access(hook, X_OK) < 0)
        return cli_usage_error(cli, "pool-rolling-upgrade needs "
                               "hook=PROGRAM, an executable (%s)",
                               hook ? strerror(errno) : "none given");
    if (to && (u.timeout_s = atol(to)) <= 0)
        return cli_usage_error(cli, "host-timeout=%s: seconds", to);
    rc = rpu_load(&u);
    for (i = 0; rc == 0 && i < u.n; i++) {
        struct rpu_host *h = &u.h[i];

        if (u.mixed && xt_version_cmp(h->version, u.newest) >= 0) {
            fprintf(cli->out, "== host %s (%s): version %s already\n",
                    h->name, h->address, h->version);
            if (!h->enabled)
                rc = call_ref(cli, "host.enable", h->ref, NULL);
            continue;
        }
        rc = upgrade_one(&u, hook, h);
    }
    rc = rc ?: move_back(&u, back);
    if (rc == 0)
        fprintf(cli->out, "the pool's %zu hosts run version %s\n", u.n,
                u.n ? u.h[0].version : "?");
    for (i = 0; i < u.n; i++)
        host_clear(&u.h[i]);
    free(u.h);
    free(u.newest);
    return rc;
}
