/*
 * test_fault.c - named fault points (xt_fault): what each action does,
 * arming from $XM_FAULT and from the file of $XM_FAULT_FILE, and that an
 * unarmed point never fires.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "xt.h"
#include "../../tap.h"

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    if (!f)
        tap_bail(path);
    fputs(text, f);
    fclose(f);
}

static bool exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

struct waiter {
    struct xt_ctx *ctx;
    enum xt_fault_action a;
    bool done;
};

static void *wait_main(void *arg)
{
    struct waiter *w = arg;

    w->a = xt_fault(w->ctx, "t.wait");
    __atomic_store_n(&w->done, true, __ATOMIC_SEQ_CST);
    return NULL;
}

int main(void)
{
    struct xt_ctx *ctx = xt_ctx_new("test_fault");
    char dir[] = "/tmp/test_fault.XXXXXX", file[256], hit[256], go[256];
    struct waiter w = { 0 };
    pthread_t t;
    pid_t pid;
    int st, i;

#ifndef XM_FAULT_POINTS
    tap_skip_all("built with --disable-fault-points");
#endif
    tap_plan(14);
    if (!ctx || !mkdtemp(dir))
        tap_bail("set-up");
    ctx->level = XT_LOG_ERROR;
    unsetenv("XM_FAULT");
    unsetenv("XM_FAULT_FILE");
    tap_ok(xt_fault(ctx, "t.none") == XT_FAULT_NONE, "unarmed: nothing");

    setenv("XM_FAULT", "t.a=fail, t.b=drop t.c=corrupt", 1);
    tap_ok(xt_fault(ctx, "t.a") == XT_FAULT_FAIL, "env: fail");
    tap_ok(xt_fault(ctx, "t.b") == XT_FAULT_DROP, "env: drop");
    tap_ok(xt_fault(ctx, "t.c") == XT_FAULT_CORRUPT, "env: corrupt");
    tap_ok(xt_fault(ctx, "t") == XT_FAULT_NONE &&
           xt_fault(ctx, "t.a.x") == XT_FAULT_NONE,
           "env: a name is matched whole");
    setenv("XM_FAULT", "t.d=frobnicate", 1);
    tap_ok(xt_fault(ctx, "t.d") == XT_FAULT_NONE,
           "an unknown action is ignored");
    unsetenv("XM_FAULT");

    snprintf(file, sizeof(file), "%s/faults", dir);
    setenv("XM_FAULT_FILE", file, 1);
    tap_ok(xt_fault(ctx, "t.f") == XT_FAULT_NONE, "file: missing, nothing");
    write_file(file, "t.f=fail\n");
    tap_ok(xt_fault(ctx, "t.f") == XT_FAULT_FAIL, "file: armed at a hit");
    write_file(file, "\n");
    tap_ok(xt_fault(ctx, "t.f") == XT_FAULT_NONE, "file: disarmed");

    /* kill: the process dies of SIGKILL at the point. */
    write_file(file, "t.kill=kill\n");
    pid = fork();
    if (pid == 0) {
        xt_fault(ctx, "t.kill");
        _exit(0);
    }
    waitpid(pid, &st, 0);
    tap_ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "kill: SIGKILL");

    /* wait: holds until the test says go. */
    setenv("XM_FAULT_DIR", dir, 1);
    write_file(file, "t.wait=wait\n");
    snprintf(hit, sizeof(hit), "%s/t.wait.hit", dir);
    snprintf(go, sizeof(go), "%s/t.wait.go", dir);
    w.ctx = xt_ctx_new("waiter");
    w.ctx->level = XT_LOG_ERROR;
    if (pthread_create(&t, NULL, wait_main, &w))
        tap_bail("thread");
    for (i = 0; i < 5000 && !exists(hit); i++)
        usleep(1000);
    tap_ok(exists(hit), "wait: the point says it is there");
    usleep(20000);
    tap_ok(!__atomic_load_n(&w.done, __ATOMIC_SEQ_CST),
           "wait: it holds before go");
    write_file(go, "");
    pthread_join(t, NULL);
    tap_ok(w.done && w.a == XT_FAULT_NONE, "wait: goes on after go");
    tap_ok(xt_fault(ctx, "t.wait") == XT_FAULT_NONE,
           "wait: a later hit passes at once");

    unlink(go);
    unlink(hit);
    unlink(file);
    rmdir(dir);
    xt_ctx_free(w.ctx);
    xt_ctx_free(ctx);
    return tap_done();
}
