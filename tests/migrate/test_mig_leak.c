/*
 * test_mig_leak.c - ten migrations in one process leave nothing behind.
 *
 * One process plays both hosts, A and B, each with its own hv handle and
 * context, like a daemon that serves migrations for as long as it lives:
 * ten times, a receiver thread (mig_receive on a fresh 127.0.0.1:0
 * listener) and mig_send of the current domain over TLS (the test
 * identity of tests/data/tls, pinned), A -> B, then B -> A.  Each
 * migration must succeed; afterwards this process holds as many file
 * descriptors and threads as before the first one, and neither its heap
 * (mallinfo2, one arena) nor its address space grew by more than a small
 * bound.
 *
 * The VMMs live in a private run directory.  A guard process, forked
 * first, waits for this one to end however it ends (a crash included),
 * then kills the VMMs of that directory and removes it.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include "hv.h"
#include "mig.h"
#include "../tap.h"

#define MIGRATIONS      10
#define GUEST_MIB       128
#define GUEST_CMDLINE   "ws_mib=32 rate_mib=16"
/* What one-time set-up may still take on the heap after the first
 * migration, and how much the address space may grow (glibc keeps the
 * stacks of joined threads for reuse): less than one guest's RAM, so
 * that a leaked mapping of a migrated-away guest shows. */
#define HEAP_SLACK      (256u << 10)
#define VM_SLACK_KIB    (64u << 10)

struct host {
    const char *name;
    struct xt_ctx *ctx;
    struct hv_handle *h;
};

struct recv_job {
    struct host *host;
    int listen_fd;
    struct mig_stats st;
    int rc;
};

/* The receivers' TLS identity and its pin (tests/data/tls/a.*). */
static char *tls_cert, *tls_key, tls_pin[MIG_PIN_STRLEN + 1];

static char *slurp(const char *dir, const char *name)
{
    char path[4096], *buf = calloc(1, 1 << 16);
    FILE *f;

    snprintf(path, sizeof(path), "%s/tests/data/tls/%s", dir, name);
    f = fopen(path, "re");
    if (!f || !buf || !fread(buf, 1, (1 << 16) - 1, f))
        tap_bail("cannot read the test TLS identity");
    fclose(f);
    return buf;
}

struct usage {
    unsigned fds;
    unsigned threads;
    size_t heap;                /* uordblks + hblkhd */
    uint64_t vm_kib;            /* VmSize */
};

static unsigned count_dir(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *de;
    unsigned n = 0;

    if (!d)
        return 0;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static uint64_t vm_size_kib(void)
{
    char line[256];
    uint64_t kib = 0;
    FILE *f = fopen("/proc/self/status", "re");

    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmSize: %llu", (unsigned long long *)&kib) == 1)
            break;
    fclose(f);
    return kib;
}

static void measure(struct usage *u)
{
    struct mallinfo2 mi = mallinfo2();

    /* Counted while the directory is open: the same one extra fd in
     * every reading. */
    u->fds = count_dir("/proc/self/fd");
    u->threads = count_dir("/proc/self/task");
    u->heap = mi.uordblks + mi.hblkhd;
    u->vm_kib = vm_size_kib();
}

/* Does /proc/PID/cmdline say "xm-vmm ... --run-dir DIR"? */
static bool is_vmm_of(const char *pid, const char *dir)
{
    char path[320], buf[8192];
    size_t len = 0, i;
    ssize_t r;
    int fd;
    const char *prev = NULL;

    snprintf(path, sizeof(path), "/proc/%s/cmdline", pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    while (len < sizeof(buf) - 1 &&
           (r = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
        len += r;
    close(fd);
    buf[len] = '\0';
    if (!len || !strstr(buf, "xm-vmm"))
        return false;
    for (i = 0; i < len; i += strlen(buf + i) + 1) {
        if (prev && !strcmp(prev, "--run-dir") && !strcmp(buf + i, dir))
            return true;
        prev = buf + i;
    }
    return false;
}

/* Kills the VMMs of run directory dir, then removes it. */
static void clean_run_dir(const char *dir)
{
    DIR *d;
    struct dirent *de;
    char path[4096];
    int tries;

    for (tries = 0; tries < 50; tries++) {
        bool any = false;

        d = opendir("/proc");
        while (d && (de = readdir(d))) {
            if (de->d_name[0] < '0' || de->d_name[0] > '9' ||
                !is_vmm_of(de->d_name, dir))
                continue;
            kill(atoi(de->d_name), SIGKILL);
            any = true;
        }
        if (d)
            closedir(d);
        if (!any)
            break;
        usleep(100000);
    }
    d = opendir(dir);
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

/* Forks the guard: it waits for EOF on a pipe whose write end only this
 * process holds (close-on-exec, so no VMM inherits it), then cleans up.
 * Returns the write end; *pid_r the guard. */
static int start_guard(const char *dir, pid_t *pid_r)
{
    int p[2];
    pid_t pid;

    if (pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -errno;
    }
    if (pid == 0) {
        char c;

        close(p[1]);
        while (read(p[0], &c, 1) > 0 || errno == EINTR)
            ;
        clean_run_dir(dir);
        _exit(0);
    }
    close(p[0]);
    *pid_r = pid;
    return p[1];
}

static bool hb_at_least(struct host *host, uint32_t domid, uint64_t n,
                        unsigned ms)
{
    struct hv_guest_stats gs;
    uint64_t end = xt_now_ns() + ms * 1000000ull;

    do {
        if (hv_guest_stats(host->h, domid, &gs) == 0 && gs.hb_count >= n)
            return true;
        usleep(10000);
    } while (xt_now_ns() < end);
    return false;
}

static void *recv_main(void *arg)
{
    struct recv_job *j = arg;
    struct mig_recv_opts o;

    mig_recv_opts_init(&o);
    o.chan.cert_pem = tls_cert;
    o.chan.key_pem = tls_key;
    j->rc = mig_receive(j->host->ctx, j->host->h, j->listen_fd, &o, &j->st);
    return NULL;
}

/* One migration of *domid from src to dst; *domid becomes the new one. */
static bool migrate(struct host *src, struct host *dst, uint32_t *domid,
                    int i)
{
    struct mig_send_opts so;
    struct mig_stats st;
    struct recv_job job;
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    pthread_t t;
    char port[16];
    bool ok;
    int rc, e;

    memset(&job, 0, sizeof(job));
    job.host = dst;
    job.listen_fd = -1;
    rc = mig_listen(dst->ctx, "127.0.0.1", "0", &job.listen_fd);
    if (rc < 0 || getsockname(job.listen_fd, (struct sockaddr *)&sa,
                              &sl) < 0) {
        tap_ok(false, "migration %d: listen: %s", i, dst->ctx->err_msg);
        if (job.listen_fd >= 0)
            close(job.listen_fd);
        return false;
    }
    snprintf(port, sizeof(port), "%u", ntohs(sa.sin_port));
    e = pthread_create(&t, NULL, recv_main, &job);
    if (e) {
        tap_ok(false, "migration %d: receiver thread: %s", i, strerror(e));
        close(job.listen_fd);
        return false;
    }
    mig_send_opts_init(&so);
    so.chan.pin = tls_pin;
    rc = mig_send(src->ctx, src->h, *domid, "127.0.0.1", port, &so, &st);
    pthread_join(t, NULL);
    close(job.listen_fd);

    ok = rc == 0 && job.rc == 0 && st.committed && st.tls &&
         st.hb_continuous &&
         st.mismatches == 0 && st.digest_checked && st.digest_equal &&
         job.st.dst_domid != 0 && job.st.dst_domid != *domid;
    tap_ok(ok, "migration %d, %s -> %s: domain %u -> %u (%llu rounds, "
           "downtime %.1f ms)", i, src->name, dst->name, *domid,
           job.st.dst_domid, (unsigned long long)st.rounds,
           st.downtime_ns / 1e6);
    if (!ok) {
        tap_diag("  send rc %d (%s), receive rc %d (%s)", rc,
                 rc ? src->ctx->err_msg : "ok", job.rc,
                 job.rc ? dst->ctx->err_msg : "ok");
        tap_diag("  committed %d hb_continuous %d mismatches %llu "
                 "digest_equal %d", st.committed, st.hb_continuous,
                 (unsigned long long)st.mismatches, st.digest_equal);
    }
    if (job.rc == 0)
        *domid = job.st.dst_domid;
    return ok;
}

static int open_host(struct host *host, const char *name, const char *driver,
                     const char *args)
{
    host->name = name;
    host->ctx = xt_ctx_new(name);
    if (!host->ctx)
        return -ENOMEM;
    host->ctx->level = XT_LOG_WARN;
    return hv_open(host->ctx, driver, args, &host->h);
}

int main(void)
{
    const char *bdir = getenv("XM_BUILDDIR");
    const char *sdir = getenv("XM_SRCDIR");
    const char *driver = getenv("XM_TEST_DRIVER");
    bool fallback = false;
    char run_dir[] = "/tmp/xm-mig-leak.XXXXXX";
    char guest[4096], args[256];
    struct host hosts[2];
    struct hv_boot_spec spec;
    struct usage u0, u1;
    uint32_t domid = 0;
    pid_t guard = -1;
    int guard_fd = -1, i, fd, rc;
    bool all_ok = true;

    memset(hosts, 0, sizeof(hosts));
    /* One malloc arena for every thread, so mallinfo2 sees all of the
     * heap.  Before any thread exists. */
    mallopt(M_ARENA_MAX, 1);
    signal(SIGPIPE, SIG_IGN);

    if (!driver || !*driver) {
        fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
        driver = fd >= 0 ? "kvm" : "sim";
        fallback = fd < 0;
        if (fd >= 0)
            close(fd);
        tap_diag("driver: %s (%s)", driver, fd >= 0 ? "/dev/kvm is usable"
                                                    : "no usable /dev/kvm");
    } else {
        tap_diag("driver: %s (XM_TEST_DRIVER)", driver);
    }
    snprintf(guest, sizeof(guest), "%s/guest/xm-guest.elf",
             bdir && *bdir ? bdir : XM_BUILDDIR);
    if (access(guest, R_OK) < 0)
        tap_bail("the test guest is not built (XM_BUILDDIR?)");
    tls_cert = slurp(sdir && *sdir ? sdir : XM_SRCDIR, "a.crt");
    tls_key = slurp(sdir && *sdir ? sdir : XM_SRCDIR, "a.key");
    if (mig_tls_pin(NULL, tls_cert, tls_pin) < 0)
        tap_bail("the test certificate has no pin");
    if (!mkdtemp(run_dir))
        tap_bail("mkdtemp failed");
    guard_fd = start_guard(run_dir, &guard);
    if (guard_fd < 0) {
        rmdir(run_dir);
        tap_bail("cannot fork the guard process");
    }
    snprintf(args, sizeof(args), "run_dir=%s", run_dir);
    if (open_host(&hosts[0], "A", driver, args) < 0 ||
        open_host(&hosts[1], "B", driver, args) < 0)
        tap_bail("cannot open the hv driver");

    memset(&spec, 0, sizeof(spec));
    spec.name = "leak";
    spec.nr_pages = (uint64_t)GUEST_MIB << 8;
    spec.nr_vcpus = 1;
    spec.kernel = guest;
    spec.cmdline = GUEST_CMDLINE;
    xt_uuid_generate(&spec.uuid);
    rc = hv_boot(hosts[0].h, &spec, &domid);
    if (rc < 0 && fallback) {
        /* The sim driver needs userfaultfd write-protect. */
        char why[XT_ERRMSG_MAX + 64];

        snprintf(why, sizeof(why), "no usable /dev/kvm, and the sim driver "
                 "cannot run here: %s", hosts[0].ctx->err_msg);
        tap_skip_all(why);
    }
    if (rc < 0)
        tap_bail("cannot boot the test guest");
    if (!hb_at_least(&hosts[0], domid, 20, 30000))
        tap_bail("the test guest sends no heartbeat");
    /* At the end the survivor is connected to, and its RAM mapped by, the
     * host that received it last: make the first reading hold the same,
     * a connection and a mapping of the guest on host A. */
    {
        uint64_t pfn = 0;
        void *page = NULL;
        struct hv_mapping *m = NULL;

        if (hv_map_batch(hosts[0].h, domid, HV_MAP_READ, &pfn, 1, &page,
                         &m) < 0)
            tap_bail("cannot map the guest's RAM");
        hv_unmap(hosts[0].h, m);
    }

    measure(&u0);
    tap_diag("before: %u fds, %u threads, heap %zu bytes, VmSize %llu KiB",
             u0.fds, u0.threads, u0.heap, (unsigned long long)u0.vm_kib);
    for (i = 1; i <= MIGRATIONS && all_ok; i++) {
        struct usage u;

        all_ok = migrate(&hosts[(i - 1) % 2], &hosts[i % 2], &domid, i);
        measure(&u);
#ifdef __SANITIZE_THREAD__
        /* ThreadSanitizer starts a thread of its own with the first
         * thread of ours: count from there. */
        if (i == 1)
            u0.threads = u.threads;
#endif
        tap_diag("  after %d: %u fds, %u threads, heap %zu bytes, "
                 "VmSize %llu KiB", i, u.fds, u.threads, u.heap,
                 (unsigned long long)u.vm_kib);
    }
    if (!all_ok)
        tap_skip(MIGRATIONS + 1 - i, "an earlier migration failed");

    measure(&u1);
    tap_ok(hb_at_least(&hosts[MIGRATIONS % 2], domid, 20, 10000),
           "the guest runs after %d migrations", MIGRATIONS);
    tap_is_int(u1.fds, u0.fds, "as many open fds as before");
    tap_is_int(u1.threads, u0.threads, "as many threads as before");
#if defined(__SANITIZE_ADDRESS__)
    /* Under AddressSanitizer malloc is not glibc's (mallinfo2 sees nothing)
     * and freed memory sits in its quarantine: LeakSanitizer checks for
     * leaks at exit instead. */
    tap_skip(2, "heap and address space are ASan's here; LeakSanitizer "
             "checks at exit");
#elif defined(__SANITIZE_THREAD__)
    /* ThreadSanitizer's allocator and shadow memory are its own. */
    tap_skip(2, "heap and address space are ThreadSanitizer's here");
#else
    tap_ok(u1.heap <= u0.heap + HEAP_SLACK, "heap grew by %lld bytes "
           "(at most %u)", (long long)u1.heap - (long long)u0.heap,
           HEAP_SLACK);
    tap_ok(u1.vm_kib <= u0.vm_kib + VM_SLACK_KIB, "address space grew by "
           "%lld KiB (at most %u, less than one guest's %u MiB)",
           (long long)u1.vm_kib - (long long)u0.vm_kib, VM_SLACK_KIB,
           GUEST_MIB);
#endif

    hv_destroy(hosts[MIGRATIONS % 2].h, domid);
    for (i = 0; i < 2; i++) {
        hv_close(hosts[i].h);
        xt_ctx_free(hosts[i].ctx);
    }
    close(guard_fd);
    waitpid(guard, NULL, 0);
    return tap_done();
}
