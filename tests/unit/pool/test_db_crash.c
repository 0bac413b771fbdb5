/*
 * test_db_crash.c - durability of the pool database under SIGKILL.
 *
 * A child writes objects in a loop: each round of the loop one
 * transaction (a VM and its VBD), and every few rounds a network created
 * by a single call; after each commit returns it reports the refs through
 * a pipe.  The parent kills it with SIGKILL at a random moment (a fixed
 * seed makes the run repeatable), reopens the file and checks: it opens,
 * integrity_check is clean, every reported object is there, no
 * transaction is half there, and the event log holds one "add" per VM.
 * Twenty rounds on the same file.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pool.h"
#include "xt.h"
#include "../../tap.h"

#define ROUNDS      20
#define SEED        0x9e3779b97f4a7c15ull
#define REC_SIZE    96          /* < PIPE_BUF: each report arrives whole */
#define MAX_REPORTS 100000

/* One report: kind 'V' (VM + VBD, one transaction) or 'N' (network). */
struct report {
    char kind;
    char ref1[POOL_REF_STRLEN + 1];
    char ref2[POOL_REF_STRLEN + 1];
};

_Static_assert(1 + 2 * (POOL_REF_STRLEN + 1) <= REC_SIZE, "report fits");

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* The child: never returns. */
static void writer(const char *path, int fd, int round)
{
    struct pool_db *db = NULL;
    struct xt_ctx *ctx;
    char rec[REC_SIZE], name[64];
    char *vm = NULL, *vbd = NULL, *net = NULL;
    int i, rc;

    ctx = xt_ctx_new("crash-writer");
    if (!ctx || pool_db_open(ctx, path, &db) < 0)
        _exit(2);
    for (i = 0;; i++) {
        snprintf(name, sizeof(name), "r%d-%d", round, i);
        rc = pool_db_begin(db);
        if (rc == 0)
            rc = pool_db_create(db, POOL_CLASS_VM, (struct pool_field_init[]){
                { "name_label", POOL_V_STR(name) },
                { "memory_static_max", POOL_V_INT(1ll << 28) },
            }, 2, &vm);
        if (rc == 0)
            rc = pool_db_create(db, POOL_CLASS_VBD, (struct pool_field_init[]){
                { "VM", POOL_V_REF(vm) },
                { "userdevice", POOL_V_STR("0") },
            }, 2, &vbd);
        if (rc == 0)
            rc = pool_db_commit(db);
        if (rc < 0)
            _exit(3);
        memset(rec, 0, sizeof(rec));
        rec[0] = 'V';
        memcpy(rec + 1, vm, POOL_REF_STRLEN);
        memcpy(rec + 2 + POOL_REF_STRLEN, vbd, POOL_REF_STRLEN);
        if (xt_write_full(fd, rec, sizeof(rec), -1) < 0)
            _exit(4);
        free(vm);
        free(vbd);
        vm = vbd = NULL;

        if (i % 7 == 3) {
            rc = pool_db_create(db, POOL_CLASS_NETWORK,
                                (struct pool_field_init[]){
                                    { "name_label", POOL_V_STR(name) } },
                                1, &net);
            if (rc < 0)
                _exit(5);
            memset(rec, 0, sizeof(rec));
            rec[0] = 'N';
            memcpy(rec + 1, net, POOL_REF_STRLEN);
            if (xt_write_full(fd, rec, sizeof(rec), -1) < 0)
                _exit(4);
            free(net);
            net = NULL;
        }
    }
}

/* Reads one report; false at end of file. */
static bool read_report(int fd, struct report *r)
{
    char rec[REC_SIZE];
    size_t done = 0;
    int rc;

    rc = xt_read_full(fd, rec, sizeof(rec), 20000, &done);
    if (rc == -EPIPE && done == 0)
        return false;
    if (rc < 0)
        tap_bail("reading the writer's reports failed");
    r->kind = rec[0];
    memcpy(r->ref1, rec + 1, POOL_REF_STRLEN);
    r->ref1[POOL_REF_STRLEN] = '\0';
    memcpy(r->ref2, rec + 2 + POOL_REF_STRLEN, POOL_REF_STRLEN);
    r->ref2[POOL_REF_STRLEN] = '\0';
    return true;
}

struct tally {
    struct report *reports;
    size_t n;
};

static void add_report(struct tally *t, const struct report *r)
{
    if (t->n == MAX_REPORTS)
        tap_bail("too many reports");
    t->reports[t->n++] = *r;
}

/* Runs one child and kills it; returns how many reports it sent. */
static size_t run_round(const char *path, int round, uint64_t *seed,
                        struct tally *t)
{
    size_t before = t->n, wait_for;
    struct report r;
    useconds_t delay;
    int fds[2], status;
    pid_t pid;

    wait_for = rnd(seed) % 32;          /* 0: may die while opening */
    delay = (useconds_t)(rnd(seed) % 4000);
    if (pipe(fds) < 0)
        tap_bail("pipe failed");
    fflush(stdout);
    pid = fork();
    if (pid < 0)
        tap_bail("fork failed");
    if (pid == 0) {
        close(fds[0]);
        writer(path, fds[1], round);
    }
    close(fds[1]);
    while (t->n - before < wait_for && read_report(fds[0], &r))
        add_report(t, &r);
    usleep(delay);
    kill(pid, SIGKILL);
    if (waitpid(pid, &status, 0) != pid)
        tap_bail("waitpid failed");
    /* Whatever it reported before dying was committed. */
    while (read_report(fds[0], &r))
        add_report(t, &r);
    close(fds[0]);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
        tap_diag("round %d: the writer exited by itself (status 0x%x)",
                 round, status);
    return t->n - before;
}

static size_t count(struct pool_db *db, enum pool_class_id cls)
{
    struct pool_strv refs = { 0 };
    size_t n;

    if (pool_db_get_all(db, cls, &refs) < 0)
        return (size_t)-1;
    n = refs.n;
    pool_strv_free(&refs);
    return n;
}

/* VMs whose VBD set is not exactly one VBD (a torn transaction). */
static size_t torn_vms(struct pool_db *db)
{
    struct pool_strv vms = { 0 };
    struct pool_value v = { 0 };
    size_t i, torn = 0;

    if (pool_db_get_all(db, POOL_CLASS_VM, &vms) < 0)
        return (size_t)-1;
    for (i = 0; i < vms.n; i++) {
        if (pool_db_get_field(db, POOL_CLASS_VM, vms.v[i], "VBDs", &v) < 0 ||
            v.set.n != 1)
            torn++;
        pool_value_clear(&v);
    }
    pool_strv_free(&vms);
    return torn;
}

static size_t vm_add_events(struct pool_db *db)
{
    static const char *const vm_only[] = { "VM" };
    struct pool_event *ev = NULL;
    char *token = NULL;
    size_t n = 0, i, adds = 0;

    if (pool_db_events_since(db, "0", vm_only, 1, &ev, &n, &token) < 0)
        return (size_t)-1;
    for (i = 0; i < n; i++)
        adds += ev[i].op == POOL_EV_ADD;
    pool_events_free(ev, n);
    free(token);
    return adds;
}

int main(void)
{
    struct tally t = { 0 };
    struct pool_db *db = NULL;
    struct xt_ctx *ctx;
    uint64_t seed = SEED;
    size_t i, reported, missing, vms, nets, vm_reports = 0, net_reports = 0;
    char *dir, path[512], cmd[600];
    int round, rc;

    ctx = xt_ctx_new("test_db_crash");
    t.reports = calloc(MAX_REPORTS, sizeof(*t.reports));
    if (!ctx || !t.reports)
        tap_bail("out of memory");
    if (asprintf(&dir, "%s/xm-pool-crash-XXXXXX",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp") < 0 ||
        !mkdtemp(dir))
        tap_bail("cannot make a temporary directory");
    snprintf(path, sizeof(path), "%s/pool.db", dir);
    tap_plan(ROUNDS * 4);
    tap_diag("seed 0x%llx, file %s", (unsigned long long)SEED, path);

    for (round = 0; round < ROUNDS; round++) {
        reported = run_round(path, round, &seed, &t);

        rc = pool_db_open(ctx, path, &db);
        tap_ok(rc == 0, "round %d: killed after %zu reports; the file opens",
               round, reported);
        if (rc < 0) {
            tap_skip(3, "no database");
            continue;
        }
        tap_is_int(pool_db_integrity_check(db), 0, "integrity check");

        missing = 0;
        vm_reports = net_reports = 0;
        for (i = 0; i < t.n; i++) {
            if (t.reports[i].kind == 'V') {
                vm_reports++;
                missing += pool_db_check_ref(db, POOL_CLASS_VM,
                                             t.reports[i].ref1) < 0;
                missing += pool_db_check_ref(db, POOL_CLASS_VBD,
                                             t.reports[i].ref2) < 0;
            } else {
                net_reports++;
                missing += pool_db_check_ref(db, POOL_CLASS_NETWORK,
                                             t.reports[i].ref1) < 0;
            }
        }
        vms = count(db, POOL_CLASS_VM);
        nets = count(db, POOL_CLASS_NETWORK);
        /* At most one commit per round can land unreported. */
        tap_ok(missing == 0 && vms >= vm_reports &&
               vms <= vm_reports + (size_t)round + 1 && nets >= net_reports &&
               nets <= net_reports + (size_t)round + 1,
               "every reported commit present (%zu VMs for %zu reports, "
               "%zu networks for %zu, %zu missing)", vms, vm_reports, nets,
               net_reports, missing);
        tap_ok(torn_vms(db) == 0 && count(db, POOL_CLASS_VBD) == vms &&
               vm_add_events(db) == vms,
               "no torn transaction; one add event per VM");
        pool_db_close(db);
        db = NULL;
    }

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        tap_diag("could not remove %s", dir);
    free(dir);
    free(t.reports);
    xt_ctx_free(ctx);
    return tap_done();
}
