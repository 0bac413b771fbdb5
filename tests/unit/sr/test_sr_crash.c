/*
 * test_sr_crash.c - a directory SR killed (SIGKILL, by a fault point, so
 * at the same state every time) at every step of every change: SR create,
 * VDI create, destroy, resize, snapshot.  After each kill the SR is
 * attached and scanned again, and the change must be all there or not at
 * all: the data and the metadata never disagree, nothing is left over,
 * nothing committed is lost.
 */
#include "config.h"

#include <signal.h>
#include <sys/wait.h>

#include "sr_test.h"

#define MiB (1ull << 20)
#define BLOCK_A 10                  /* pattern blocks of the source VDI */
#define BLOCK_B 200

enum op { OP_CREATE, OP_DESTROY, OP_RESIZE, OP_SNAPSHOT };

struct crash_case {
    const char *point;
    enum op op;
    bool done;                      /* committed at the point */
};

static const struct crash_case cases[] = {
    { "sr.vdi-create.data",        OP_CREATE,   false },
    { "sr.vdi-create.meta",        OP_CREATE,   false },
    { "sr.vdi-destroy.committed",  OP_DESTROY,  true  },
    { "sr.vdi-resize.meta",        OP_RESIZE,   false },
    { "sr.vdi-resize.committed",   OP_RESIZE,   true  },
    { "sr.vdi-copy.copying",       OP_SNAPSHOT, false },
    { "sr.vdi-copy.data",          OP_SNAPSHOT, false },
    { "sr.vdi-copy.meta",          OP_SNAPSHOT, false },
};

#define N_CASES (sizeof(cases) / sizeof(cases[0]))

static void pattern(char *buf, int block)
{
    memset(buf, 'A' + block % 26, 4096);
    snprintf(buf, 32, "block %d", block);
}

/* The source VDI a: 1 MiB, two blocks written and flushed. */
static void make_source(struct sr *sr, const struct xt_uuid *a)
{
    struct sr_vdi *v = NULL;
    char buf[4096];

    if (sr_vdi_create(sr, a, MiB) < 0 || sr_vdi_open(sr, a, false, &v) < 0)
        tap_bail("cannot make the source VDI");
    pattern(buf, BLOCK_A);
    sr_vdi_pwrite(v, buf, 4096, BLOCK_A * 4096ull, false);
    pattern(buf, BLOCK_B);
    sr_vdi_pwrite(v, buf, 4096, BLOCK_B * 4096ull, false);
    if (sr_vdi_flush(v) < 0)
        tap_bail("flush");
    sr_vdi_close(v);
}

/* True if VDI u holds the source's two blocks. */
static bool holds_pattern(struct sr *sr, const struct xt_uuid *u)
{
    struct sr_vdi *v = NULL;
    char buf[4096], want[4096];
    bool ok;

    if (sr_vdi_open(sr, u, true, &v) < 0)
        return false;
    pattern(want, BLOCK_A);
    ok = sr_vdi_pread(v, buf, 4096, BLOCK_A * 4096ull) == 0 &&
         memcmp(buf, want, 4096) == 0;
    pattern(want, BLOCK_B);
    ok = ok && sr_vdi_pread(v, buf, 4096, BLOCK_B * 4096ull) == 0 &&
         memcmp(buf, want, 4096) == 0;
    sr_vdi_close(v);
    return ok;
}

/* The child: runs the op with the point armed to kill; never returns. */
static void victim(struct sr_fixture *f, const struct crash_case *c,
                   const struct xt_uuid *a, const struct xt_uuid *b)
{
    char spec[128];
    struct sr *sr = NULL;

    snprintf(spec, sizeof(spec), "%s=kill", c->point);
    setenv("XM_FAULT", spec, 1);
    if (sr_attach(f->ctx, &f->spec, &sr) < 0)
        _exit(2);
    switch (c->op) {
    case OP_CREATE:
        sr_vdi_create(sr, b, 4 * MiB);
        break;
    case OP_DESTROY:
        sr_vdi_destroy(sr, a);
        break;
    case OP_RESIZE:
        sr_vdi_resize(sr, a, 2 * MiB);
        break;
    case OP_SNAPSHOT:
        sr_vdi_snapshot(sr, a, b);
        break;
    }
    _exit(0);       /* the point was never hit */
}

/* Every file is the marker or half of a <uuid>.raw/.meta pair whose sizes
 * agree, and the scan lists exactly the pairs. */
static bool consistent(struct sr_fixture *f, struct sr *sr, size_t *n_r,
                       char *why, size_t size)
{
    struct sr_vdi_info *v = NULL;
    size_t n = 0, i;
    bool ok = true;
    int files;

    if (sr_scan(sr, &v, &n) < 0) {
        snprintf(why, size, "scan: %s", f->ctx->err_msg);
        return false;
    }
    files = dir_files(f->dir, why, size);
    for (i = 0; i < n; i++) {
        ok = ok && !v[i].missing &&
             file_size(f->dir, &v[i].uuid, ".raw") ==
             (long long)v[i].virtual_size;
    }
    ok = ok && files == 1 + 2 * (int)n;
    free(v);
    *n_r = n;
    return ok;
}

static void run_case(const struct crash_case *c)
{
    struct xt_uuid a = new_uuid(), b = new_uuid();
    struct sr_vdi_info info;
    struct sr_fixture f;
    struct sr *sr;
    char why[1024];
    int status = 0;
    size_t n = 0;
    bool ok;
    pid_t pid;

    fixture_init(&f, "shared-file", 0);
    if (sr_create(f.ctx, &f.spec) < 0 || sr_attach(f.ctx, &f.spec, &sr) < 0)
        tap_bail("cannot set up the SR");
    make_source(sr, &a);
    fflush(stdout);
    pid = fork();
    if (pid == 0)
        victim(&f, c, &a, &b);
    waitpid(pid, &status, 0);
    tap_ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
           "%s: killed there", c->point);
    ok = consistent(&f, sr, &n, why, sizeof(why));
    tap_ok(ok, "%s: data and metadata agree, nothing left over (%s)",
           c->point, why);
    switch (c->op) {
    case OP_CREATE:
    case OP_SNAPSHOT:
        tap_ok(n == 1 && sr_vdi_info(sr, &b, &info) == -ENOENT,
               "%s: the new VDI does not exist", c->point);
        break;
    case OP_DESTROY:
        tap_ok(n == 0 && sr_vdi_info(sr, &a, &info) == -ENOENT,
               "%s: the destroy is finished", c->point);
        break;
    case OP_RESIZE:
        sr_vdi_info(sr, &a, &info);
        tap_is_u64(info.virtual_size, c->done ? 2 * MiB : MiB, c->done ?
                   "the resize is finished" : "the resize did not happen");
        break;
    }
    if (c->op != OP_DESTROY)
        tap_ok(holds_pattern(sr, &a), "%s: the source's data is intact",
               c->point);
    sr_detach(sr);
    fixture_done(&f);
}

/* Killed before the marker is committed: no SR, and create works again. */
static void sr_create_case(void)
{
    struct sr_fixture f;
    struct sr *sr = NULL;
    int status = 0;
    pid_t pid;

    fixture_init(&f, "file", 0);
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        setenv("XM_FAULT", "sr.create.marker=kill", 1);
        sr_create(f.ctx, &f.spec);
        _exit(0);
    }
    waitpid(pid, &status, 0);
    tap_ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
           "sr.create.marker: killed there");
    tap_is_int(sr_attach(f.ctx, &f.spec, &sr), -ENOENT, "sr.create.marker: "
               "no SR");
    tap_is_int(sr_create(f.ctx, &f.spec), 0, "sr.create.marker: create "
               "again works");
    tap_is_int(sr_attach(f.ctx, &f.spec, &sr), 0, "and attaches");
    sr_detach(sr);
    fixture_done(&f);
}

int main(void)
{
    size_t i;

#ifndef XM_FAULT_POINTS
    tap_skip_all("built with --disable-fault-points");
#endif
    tap_plan(4 * (int)N_CASES - 1 + 4);
    for (i = 0; i < N_CASES; i++)
        run_case(&cases[i]);
    sr_create_case();
    return tap_done();
}
