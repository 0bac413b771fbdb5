/*
 * test_mirror.c - the mirror engine (vdi/mirror.h) on a real source VDI
 * (a shared-file SR in a scratch directory) and a real NBD target
 * (nbdkit's file plugin serving a raw file): writer threads write random
 * blocks through the engine while it copies, and after completion the
 * target holds exactly the source's bytes; a write-blocking write is on
 * the target when it returns; a target killed while synced fails the
 * mirror at the next write (not the write), the generation goes up,
 * complete(old gen) is refused, a resume to the target still down
 * leaves it failed and a resume to a restarted target ends identical; a
 * target that answers ENOSPC fails the mirror, which lets go of it at
 * once (its nbdkit stops on SIGTERM), and a resume to a target whose
 * limit filter still counts another client waits for that one to go.
 * Run under ThreadSanitizer too.
 */
#include "config.h"

#include <libnbd.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "../sr/sr_test.h"
#include "mirror.h"

#define MiB (1ull << 20)
#define SIZE (32 * MiB)
#define WRITERS 2

struct target {
    char file[512], sock[512], uri[600];
    /* guarded: nbdkit's limit filter (3 clients) and error filter
     * (ENOSPC while errfile exists), its messages in log */
    bool guarded;
    char errfile[512], log[512];
    pid_t pid;
};

/* nbdkit file FILE on a unix socket, our child; waits until it serves:
 * its pid file is written once it listens (the socket's file exists from
 * the bind on, before the listen: a connect then is refused). */
static void target_start(struct target *t)
{
    char pidf[600];
    struct stat st;
    int i;

    snprintf(pidf, sizeof(pidf), "%s.pid", t->sock);
    unlink(t->sock);
    unlink(pidf);
    t->pid = fork();
    if (t->pid == 0) {
        char ef[600];
        int fd = t->guarded ? open(t->log, O_WRONLY | O_CREAT | O_TRUNC,
                                   0644) : open("/dev/null", O_WRONLY);

        dup2(fd, 2);
        snprintf(ef, sizeof(ef), "error-file=%s", t->errfile);
        if (t->guarded)
            execlp("nbdkit", "nbdkit", "-f", "-U", t->sock, "--pidfile",
                   pidf, "--filter=limit", "--filter=error", "file",
                   t->file, "limit=3", "error=ENOSPC", "error-rate=100%",
                   ef, (char *)NULL);
        else
            execlp("nbdkit", "nbdkit", "-f", "-U", t->sock, "--pidfile",
                   pidf, "file", t->file, (char *)NULL);
        _exit(127);
    }
    for (i = 0; i < 3000 && (stat(pidf, &st) < 0 || st.st_size == 0); i++)
        usleep(10000);
    if (i == 3000)
        tap_bail("nbdkit did not start");
}

static void target_kill(struct target *t)
{
    kill(t->pid, SIGKILL);
    waitpid(t->pid, NULL, 0);
    t->pid = 0;
}

/* SIGTERM: whether nbdkit is gone within 5 s (it waits for its clients
 * to go); killed if not. */
static bool target_stop(struct target *t)
{
    int i;

    kill(t->pid, SIGTERM);
    for (i = 0; i < 500; i++) {
        if (waitpid(t->pid, NULL, WNOHANG) == t->pid) {
            t->pid = 0;
            return true;
        }
        usleep(10000);
    }
    target_kill(t);
    return false;
}

/* Whether the file holds text (waited for at most 10 s). */
static bool file_says(const char *path, const char *text)
{
    char buf[8192];

    for (int i = 0; i < 1000; i++) {
        FILE *fp = fopen(path, "r");
        size_t n = fp ? fread(buf, 1, sizeof(buf) - 1, fp) : 0;

        if (fp)
            fclose(fp);
        buf[n] = '\0';
        if (strstr(buf, text))
            return true;
        usleep(10000);
    }
    return false;
}

struct writer {
    struct mirror *m;
    unsigned seed;
    volatile bool *stop;
    unsigned writes;
    int errors;
};

/* Random 4..64 KiB writes anywhere, until told to stop. */
static void *writer_main(void *arg)
{
    struct writer *w = arg;
    char buf[64 << 10];

    while (!__atomic_load_n(w->stop, __ATOMIC_ACQUIRE)) {
        size_t len = 4096u * (1 + rand_r(&w->seed) % 16);
        uint64_t off = (uint64_t)(rand_r(&w->seed) % (SIZE / 4096)) * 4096;

        if (off + len > SIZE)
            off = SIZE - len;
        memset(buf, 'a' + rand_r(&w->seed) % 26, len);
        snprintf(buf, 64, "w%u %u", w->seed % 97, w->writes);
        if (mirror_pwrite(w->m, buf, len, off, false) < 0)
            w->errors++;
        w->writes++;
        if (w->writes % 64 == 0 && mirror_flush(w->m) < 0)
            w->errors++;
    }
    return NULL;
}

static bool same_files(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    char x[65536], y[65536];
    bool same = fa && fb;

    while (same) {
        size_t n = fread(x, 1, sizeof(x), fa), k = fread(y, 1, n, fb);

        same = n == k && memcmp(x, y, n) == 0;
        if (n < sizeof(x))
            break;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same;
}

static void wait_state(struct mirror *m, bool want_synced,
                       enum mirror_state want, struct mirror_status *st)
{
    for (int i = 0; i < 300; i++) {
        mirror_get_status(m, st);
        if (want_synced ? st->actively_synced : st->state == want)
            return;
        mirror_wait(m, st->state, st->gen, st->actively_synced, 100, st);
    }
}

/* Writers on, the copy runs; writers off, it completes: identical. */
static void test_copy_under_writes(struct sr_fixture *f, struct sr_vdi *v,
                                   const char *src_raw, struct target *t)
{
    /* Capped at 32 MiB/s, the copy of 16 MiB takes half a second: the
     * writers race it. */
    struct mirror_cfg cfg = { .uri = t->uri, .target_zeroed = true,
                              .granule = 64 << 10, .chunk = 256 << 10,
                              .conns = 2, .max_bps = 32 * MiB };
    struct writer w[WRITERS];
    pthread_t th[WRITERS];
    volatile bool stop = false;
    struct mirror_status st;
    struct mirror *m = NULL;
    unsigned i;
    int rc;

    rc = mirror_start(f->ctx, v, &cfg, &m);
    tap_is_int(rc, 0, "mirror_start to an NBD target");
    if (rc < 0)
        return;
    for (i = 0; i < WRITERS; i++) {
        w[i] = (struct writer){ .m = m, .seed = 7 + i, .stop = &stop };
        pthread_create(&th[i], NULL, writer_main, &w[i]);
    }
    wait_state(m, true, MIRROR_SYNCED, &st);
    tap_ok(st.state == MIRROR_SYNCED, "synced by itself under writes "
           "(%u passes, %llu bytes sent)", st.passes,
           (unsigned long long)st.sent_bytes);
    usleep(200000);             /* write-blocking writes, on both sides */
    __atomic_store_n(&stop, true, __ATOMIC_RELEASE);
    for (i = 0; i < WRITERS; i++)
        pthread_join(th[i], NULL);
    tap_ok(w[0].errors == 0 && w[1].errors == 0 && w[0].writes > 0,
           "%u + %u writes, no error", w[0].writes, w[1].writes);
    mirror_get_status(m, &st);
    tap_ok(st.writes[0] > 0 && st.writes[1] > 0, "%llu of them during the "
           "background copy, %llu write-blocking",
           (unsigned long long)st.writes[0],
           (unsigned long long)st.writes[1]);
    rc = mirror_complete(f->ctx, m, st.gen, 30000);
    tap_is_int(rc, 0, "complete");
    tap_ok(same_files(src_raw, t->file), "the target is the source, byte "
           "for byte");
    mirror_free(m);
}

/* A target lost while synced: the next write fails the mirror, not the
 * write; a resume to the restarted target completes. */
static void test_lost_target(struct sr_fixture *f, struct sr_vdi *v,
                             const char *src_raw, struct target *t)
{
    struct mirror_cfg cfg = { .uri = t->uri, .target_zeroed = false };
    struct mirror_status st;
    struct mirror *m = NULL;
    char buf[4096];
    int rc;

    tap_is_int(mirror_start(f->ctx, v, &cfg, &m), 0, "a second mirror");
    if (!m)
        return;
    wait_state(m, true, MIRROR_SYNCED, &st);
    tap_ok(st.actively_synced, "actively synced");
    memset(buf, 'Z', sizeof(buf));
    rc = mirror_pwrite(m, buf, sizeof(buf), 12 * MiB, true);
    tap_is_int(rc, 0, "a write-blocking FUA write");
    tap_ok(same_files(src_raw, t->file), "is on the target when it returns");
    target_kill(t);
    rc = mirror_pwrite(m, buf, sizeof(buf), 20 * MiB, false);
    mirror_get_status(m, &st);
    tap_is_int(rc, 0, "a write with the target gone succeeds");
    tap_ok(st.state == MIRROR_FAILED && st.gen == 1 && st.reason[0],
           "and the mirror is failed at once, generation 1 (%s)", st.reason);
    tap_is_int(mirror_complete(f->ctx, m, 0, 1000), -ESTALE,
               "complete(generation 0) is refused");
    rc = mirror_resume(f->ctx, m, NULL);
    mirror_get_status(m, &st);
    tap_ok(rc < 0 && st.state == MIRROR_FAILED && st.gen == 2 &&
           st.reason[0], "a resume to the target still gone fails, and "
           "leaves the mirror failed, generation 2 (%s)", st.reason);
    target_start(t);
    tap_is_int(mirror_resume(f->ctx, m, NULL), 0, "resume");
    wait_state(m, true, MIRROR_SYNCED, &st);
    tap_is_int(mirror_complete(f->ctx, m, 2, 30000), 0,
               "complete(generation 2)");
    tap_ok(same_files(src_raw, t->file), "the target is the source again");
    mirror_free(m);
}

struct resume {
    struct xt_ctx *ctx;
    struct mirror *m;
    int rc;
};

static void *resume_main(void *arg)
{
    struct resume *r = arg;

    r->rc = mirror_resume(r->ctx, r->m, NULL);
    return NULL;
}

/* A target that answers ENOSPC: the mirror fails, not the write, and
 * lets go of the target; a resume to a target that counts another
 * client against its limit waits for it to go, then completes. */
static void test_target_full(struct sr_fixture *f, struct sr_vdi *v,
                             const char *src_raw, struct target *t)
{
    /* two copy connections and the write-blocking one: the limit */
    struct mirror_cfg cfg = { .uri = t->uri, .conns = 2 };
    struct nbd_handle *other = NULL;
    struct resume r = { .ctx = f->ctx };
    struct mirror_status st;
    struct mirror *m = NULL;
    pthread_t th;
    char buf[4096];
    int fd, rc;

    tap_is_int(mirror_start(f->ctx, v, &cfg, &m), 0, "a mirror to a "
               "target of 3 clients at most");
    if (!m)
        return;
    wait_state(m, true, MIRROR_SYNCED, &st);
    tap_ok(st.actively_synced, "actively synced");
    fd = open(t->errfile, O_WRONLY | O_CREAT, 0644);
    if (fd < 0)
        tap_bail("error file");
    close(fd);
    memset(buf, 'F', sizeof(buf));
    rc = mirror_pwrite(m, buf, sizeof(buf), 8 * MiB, false);
    mirror_get_status(m, &st);
    tap_ok(rc == 0 && st.state == MIRROR_FAILED &&
           strstr(st.reason, "No space left"), "a write the target "
           "answers ENOSPC succeeds, the mirror fails (%s)", st.reason);
    unlink(t->errfile);
    tap_ok(target_stop(t), "the failed mirror has let go of the target: "
           "its nbdkit stops on SIGTERM");
    target_start(t);
    other = nbd_create();
    if (!other || nbd_connect_uri(other, t->uri) < 0)
        tap_bail("another client of the target");
    r.m = m;
    pthread_create(&th, NULL, resume_main, &r);
    tap_ok(file_says(t->log, "connection rejected"), "a resume meanwhile: "
           "the target's limit rejects one of its connections");
    nbd_shutdown(other, 0);
    nbd_close(other);
    pthread_join(th, NULL);
    mirror_get_status(m, &st);
    tap_ok(r.rc == 0, "the resume tries again until the other client has "
           "gone (%d: %s)", r.rc, st.reason);
    wait_state(m, true, MIRROR_SYNCED, &st);
    tap_is_int(mirror_complete(f->ctx, m, st.gen, 30000), 0, "complete");
    tap_ok(same_files(src_raw, t->file), "the target is the source");
    mirror_free(m);
}

int main(void)
{
    struct sr_fixture f;
    struct target t = { .pid = 0 }, g = { .guarded = true };
    struct xt_uuid u;
    struct sr_vdi *v = NULL;
    struct sr *sr = NULL;
    char src_raw[600];
    int fd;

    if (system("nbdkit file --version >/dev/null 2>&1") != 0)
        tap_skip_all("nbdkit's file plugin is missing");
    signal(SIGPIPE, SIG_IGN);
    fixture_init(&f, "shared-file", 0);
    if (sr_create(f.ctx, &f.spec) < 0 || sr_attach(f.ctx, &f.spec, &sr) < 0)
        tap_bail(f.ctx->err_msg);
    xt_uuid_generate(&u);
    if (sr_vdi_create(sr, &u, SIZE) < 0 ||
        sr_vdi_open(sr, &u, false, &v) < 0)
        tap_bail(f.ctx->err_msg);
    {
        char us[XT_UUID_STRLEN + 1];

        xt_uuid_format(&u, us);
        snprintf(src_raw, sizeof(src_raw), "%s/%s.raw", f.dir, us);
    }
    snprintf(t.file, sizeof(t.file), "%s/target.raw", f.dir);
    snprintf(t.sock, sizeof(t.sock), "%s/t.sock", f.dir);
    snprintf(t.uri, sizeof(t.uri), "nbd+unix:///?socket=%s", t.sock);
    fd = open(t.file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || ftruncate(fd, SIZE) < 0)
        tap_bail("target file");
    close(fd);
    /* The source holds 16 MiB of data before the mirror starts. */
    {
        char buf[65536];

        for (uint64_t off = 0; off < 16 * MiB; off += sizeof(buf)) {
            memset(buf, 'A' + (int)(off / MiB), sizeof(buf));
            if (sr_vdi_pwrite(v, buf, sizeof(buf), off, false) < 0)
                tap_bail("writing the source");
        }
    }
    target_start(&t);
    test_copy_under_writes(&f, v, src_raw, &t);
    test_lost_target(&f, v, src_raw, &t);
    if (t.pid)
        target_kill(&t);
    snprintf(g.file, sizeof(g.file), "%s/guarded.raw", f.dir);
    snprintf(g.sock, sizeof(g.sock), "%s/g.sock", f.dir);
    snprintf(g.uri, sizeof(g.uri), "nbd+unix:///?socket=%s", g.sock);
    snprintf(g.errfile, sizeof(g.errfile), "%s/g.enospc", f.dir);
    snprintf(g.log, sizeof(g.log), "%s/g.log", f.dir);
    fd = open(g.file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || ftruncate(fd, SIZE) < 0)
        tap_bail("target file");
    close(fd);
    target_start(&g);
    test_target_full(&f, v, src_raw, &g);
    if (g.pid)
        target_kill(&g);
    sr_vdi_close(v);
    sr_detach(sr);
    fixture_done(&f);
    return tap_done();
}
