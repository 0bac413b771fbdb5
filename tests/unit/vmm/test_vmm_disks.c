/*
 * test_vmm_disks.c - xm-vmm's disks end to end: the real test guest (its
 * virtio-blk driver and disk workload, guest ABI 2) in a real kvm VMM, or
 * its workload hosted by the sim engine, with --disk on a real nbdkit
 * that admits one connection at a time (the limit filter), as a shared SR
 * admits one writer.  Driven over the control
 * socket (vmm_proto.h):
 *
 *   - a booted VMM holds the export (another client is refused) and the
 *     guest's disk writes advance with no mismatch;
 *   - PAUSE releases it (another client gets in), and no disk write
 *     happens while paused;
 *   - RESUME while another client holds it fails, naming the disk, and
 *     the VM stays paused; once released, RESUME succeeds;
 *   - a migration by hand (PAUSE, STATE_SAVE, RAM copy, STATE_RESTORE,
 *     RESUME) into an --incoming VMM: that VMM does not connect before its
 *     RESUME; after it the guest's disk workload goes on, ledger clean;
 *   - a blob of a VMM with one disk is refused by one without --disk.
 *
 * Built twice: test_vmm_disks runs the kvm engine (skipped without
 * /dev/kvm), test_vmm_disks_sim (VMM_DISKS_ENGINE "sim") the sim engine.
 * Both skip without nbdkit or the built guest.  Waits are for
 * states (bounded), never fixed sleeps that decide a result.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libnbd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmm_proto.h"
#include "xt.h"
#include "../../tap.h"

#define MEM_MIB     128u
#define IO_MS       20000
#define CMDLINE     "ws_mib=8 disk_ws_mib=4 disk_rate_mib=max hb_us=1000"

struct vmm_proc {
    pid_t pid;
    int sock;
};

static struct xt_ctx *ctx;
static char dir[40], run_dir[48], uri[96];
#ifndef VMM_DISKS_ENGINE
#define VMM_DISKS_ENGINE "kvm"
#endif
static const char *const engine = VMM_DISKS_ENGINE;
static uint32_t seq;

/* ---- processes ---------------------------------------------------------- */

static pid_t start_nbdkit(const char *sock)
{
    struct stat st;
    pid_t pid = fork();
    int i;

    if (pid < 0)
        tap_bail("fork");
    if (pid == 0) {
        execlp("nbdkit", "nbdkit", "-f", "--exit-with-parent", "-U", sock,
               "--filter=limit", "memory", "64M", "limit=1", (char *)NULL);
        _exit(127);
    }
    for (i = 0; i < 500; i++) {
        if (stat(sock, &st) == 0)
            return pid;
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return -1;
        usleep(10000);
    }
    return -1;
}

/* Starts xm-vmm with args (NULL-terminated, after the common ones) and
 * connects to its control socket; pid -1 when it failed. */
static struct vmm_proc start_vmm(const char *const *args)
{
    struct vmm_proc v = { -1, -1 };
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    char line[256], fdbuf[16];
    int pfd[2];
    size_t n = 0;
    ssize_t r;

    if (pipe(pfd) < 0)
        tap_bail("pipe");
    v.pid = fork();
    if (v.pid < 0)
        tap_bail("fork");
    if (v.pid == 0) {
        const char *argv[32] = { XM_BUILDDIR "/vmm/xm-vmm", "--engine", engine,
                                 "--run-dir", run_dir, "--mem-mib", "128",
                                 "--log-level", "warn", "--ready-fd" };
        int k = 10, i;

        close(pfd[0]);
        snprintf(fdbuf, sizeof(fdbuf), "%d", pfd[1]);
        argv[k++] = fdbuf;
        for (i = 0; args[i] && k < 31; i++)
            argv[k++] = args[i];
        argv[k] = NULL;
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pfd[1]);
    while (n < sizeof(line) - 1 &&
           (r = read(pfd[0], line + n, sizeof(line) - 1 - n)) > 0) {
        n += r;
        if (memchr(line, '\n', n))
            break;
    }
    close(pfd[0]);
    line[n] = 0;
    if (strncmp(line, "ready ", 6)) {
        tap_diag("xm-vmm: %s", n ? line : "(nothing on the ready fd)");
        waitpid(v.pid, NULL, 0);
        v.pid = -1;
        return v;
    }
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%ld.sock", run_dir,
             strtol(line + 6, NULL, 10));
    v.sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (v.sock < 0 || connect(v.sock, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        tap_bail("connecting to the VMM's control socket");
    return v;
}

static void stop_vmm(struct vmm_proc *v)
{
    if (v->sock >= 0)
        close(v->sock);
    if (v->pid > 0) {
        kill(v->pid, SIGTERM);
        waitpid(v->pid, NULL, 0);
    }
    v->sock = v->pid = -1;
}

/* ---- control requests --------------------------------------------------- */

/*
 * One request; returns the reply's status.  Reply data (after the status)
 * goes to *data_r (malloc'd, caller frees) if not NULL, the error message
 * to ctx->err_msg, a passed fd to *fd_r.
 */
static int request(struct vmm_proc *v, uint16_t type, const void *payload,
                   uint32_t len, void **data_r, size_t *dlen_r, int *fd_r)
{
    struct vmm_msg_hdr h;
    struct vmm_reply_status rs;
    void *p = NULL;
    int rc;

    rc = vmm_msg_send(v->sock, type, ++seq, payload, len, -1, IO_MS);
    if (rc < 0)
        return rc;
    rc = vmm_msg_recv(ctx, v->sock, true, &h, &p, fd_r, IO_MS);
    if (rc < 0)
        return rc;
    if (h.len < sizeof(rs)) {
        free(p);
        return -EPROTO;
    }
    memcpy(&rs, p, sizeof(rs));
    if (rs.status < 0) {
        size_t m = rs.msg_len < h.len - sizeof(rs) ? rs.msg_len :
                   h.len - sizeof(rs);

        if (m >= sizeof(ctx->err_msg))
            m = sizeof(ctx->err_msg) - 1;
        memcpy(ctx->err_msg, (char *)p + sizeof(rs), m);
        ctx->err_msg[m] = 0;
    } else if (data_r) {
        *dlen_r = h.len - sizeof(rs);
        *data_r = malloc(*dlen_r ? *dlen_r : 1);
        if (!*data_r)
            tap_bail("out of memory");
        memcpy(*data_r, (char *)p + sizeof(rs), *dlen_r);
    }
    free(p);
    return rs.status;
}

static int cmd(struct vmm_proc *v, uint16_t type)
{
    return request(v, type, NULL, 0, NULL, NULL, NULL);
}

static struct vmm_guest_stats stats(struct vmm_proc *v)
{
    struct vmm_guest_stats gs;
    void *d = NULL;
    size_t n = 0;

    memset(&gs, 0, sizeof(gs));
    if (request(v, VMM_CMD_GUEST_STATS, NULL, 0, &d, &n, NULL) == 0)
        memcpy(&gs, d, n < sizeof(gs) ? n : sizeof(gs));
    free(d);
    return gs;
}

static uint32_t state(struct vmm_proc *v)
{
    struct vmm_info in;
    void *d = NULL;
    size_t n = 0;

    memset(&in, 0, sizeof(in));
    in.state = 99;
    if (request(v, VMM_CMD_INFO, NULL, 0, &d, &n, NULL) == 0)
        memcpy(&in, d, n < sizeof(in) ? n : sizeof(in));
    free(d);
    return in.state;
}

/* Waits (at most ms) until the guest's disk writes exceed min. */
static bool writes_exceed(struct vmm_proc *v, uint64_t min, int ms)
{
    uint64_t t_end = xt_now_ns() + (uint64_t)ms * 1000000;

    do {
        if (stats(v).disk_writes > min)
            return true;
        usleep(10000);
    } while (xt_now_ns() < t_end);
    return false;
}

/* ---- another NBD client ------------------------------------------------- */

/* A connection of our own, or NULL when the server refused it. */
static struct nbd_handle *other_client(void)
{
    struct nbd_handle *h = nbd_create();

    if (h && nbd_connect_uri(h, uri) == 0)
        return h;
    if (h)
        nbd_close(h);
    return NULL;
}

/* Gets in within ms: the server may take a moment to forget a client that
 * has just gone (the VMM waits for the socket's close, the limit filter
 * counts a little later). */
static struct nbd_handle *other_client_wait(int ms)
{
    uint64_t t_end = xt_now_ns() + (uint64_t)ms * 1000000;
    struct nbd_handle *h;

    do {
        if ((h = other_client()))
            return h;
        usleep(10000);
    } while (xt_now_ns() < t_end);
    return NULL;
}

static void drop_client(struct nbd_handle *h)
{
    if (h) {
        nbd_shutdown(h, 0);
        nbd_close(h);
    }
}

static int resume_wait(struct vmm_proc *v, int ms)
{
    uint64_t t_end = xt_now_ns() + (uint64_t)ms * 1000000;
    int rc;

    do {
        if ((rc = cmd(v, VMM_CMD_RESUME)) == 0)
            return 0;
        usleep(10000);
    } while (xt_now_ns() < t_end);
    return rc;
}

/* ---- the test ----------------------------------------------------------- */

static bool copy_ram(struct vmm_proc *from, struct vmm_proc *to)
{
    int f1 = -1, f2 = -1;
    size_t len = (size_t)MEM_MIB << 20;
    void *a = MAP_FAILED, *b = MAP_FAILED;
    bool ok = false;

    if (request(from, VMM_CMD_GET_MEMFD, NULL, 0, NULL, NULL, &f1) == 0 &&
        request(to, VMM_CMD_GET_MEMFD, NULL, 0, NULL, NULL, &f2) == 0 &&
        f1 >= 0 && f2 >= 0) {
        a = mmap(NULL, len, PROT_READ, MAP_SHARED, f1, 0);
        b = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, f2, 0);
        if (a != MAP_FAILED && b != MAP_FAILED) {
            memcpy(b, a, len);
            ok = true;
        }
    }
    if (a != MAP_FAILED)
        munmap(a, len);
    if (b != MAP_FAILED)
        munmap(b, len);
    if (f1 >= 0)
        close(f1);
    if (f2 >= 0)
        close(f2);
    return ok;
}

static void run(void)
{
    const char *boot[] = { "--kernel", XM_BUILDDIR "/guest/xm-guest.elf",
                           "--cmdline", CMDLINE, "--disk", uri, NULL };
    const char *incoming[] = { "--incoming", "--disk", uri, NULL };
    const char *nodisk[] = { "--incoming", NULL };
    struct vmm_proc a, b, c;
    struct vmm_guest_stats gs, gs2;
    struct nbd_handle *h;
    void *blob = NULL;
    size_t blen = 0;
    uint64_t t0;
    int rc;

    a = start_vmm(boot);
    if (a.pid < 0)
        tap_bail("xm-vmm --kernel --disk did not start");
    tap_ok(writes_exceed(&a, 200, 20000), "the guest writes its disk");
    h = other_client();
    tap_ok(h == NULL, "while the VMM runs, it holds the export (another "
           "client is refused)");
    drop_client(h);

    t0 = xt_now_ns();
    tap_is_int(cmd(&a, VMM_CMD_PAUSE), 0, "PAUSE");
    tap_diag("PAUSE with one disk (flush, disconnect) took %.3f ms",
             (xt_now_ns() - t0) / 1e6);
    h = other_client_wait(5000);
    tap_ok(h != NULL, "after PAUSE the export is free");
    gs = stats(&a);
    usleep(100000);
    gs2 = stats(&a);
    tap_ok(gs.disk_writes == gs2.disk_writes, "no disk write while paused "
           "(%llu)", (unsigned long long)gs.disk_writes);

    rc = cmd(&a, VMM_CMD_RESUME);
    tap_ok(rc < 0, "RESUME while another client holds the export fails "
           "(%d)", rc);
    tap_ok(strstr(ctx->err_msg, "disk 0") != NULL, "naming the disk: %s",
           ctx->err_msg);
    tap_is_int(state(&a), VMM_STATE_PAUSED, "the VM stays paused");
    drop_client(h);
    tap_is_int(resume_wait(&a, 5000), 0, "RESUME once the export is free");
    tap_ok(writes_exceed(&a, gs.disk_writes + 200, 20000), "disk writes go "
           "on");
    h = other_client();
    tap_ok(h == NULL, "the VMM holds the export again");
    drop_client(h);

    /* A migration by hand into an --incoming VMM. */
    b = start_vmm(incoming);
    if (b.pid < 0)
        tap_bail("xm-vmm --incoming --disk did not start");
    tap_is_int(cmd(&a, VMM_CMD_PAUSE), 0, "source: PAUSE");
    rc = request(&a, VMM_CMD_STATE_SAVE, NULL, 0, &blob, &blen, NULL);
    tap_ok(rc == 0 && blen > 0, "source: STATE_SAVE (%d, %zu bytes)", rc,
           blen);
    h = other_client_wait(5000);
    tap_ok(h != NULL, "the incoming VMM has not connected its disk");
    drop_client(h);
    tap_ok(copy_ram(&a, &b), "guest RAM copied");
    tap_is_int(request(&b, VMM_CMD_STATE_RESTORE, blob, blen, NULL, NULL,
                       NULL), 0, "destination: STATE_RESTORE");
    h = other_client_wait(5000);
    tap_ok(h != NULL, "still not connected after the restore");
    drop_client(h);
    gs = stats(&a);
    t0 = xt_now_ns();
    tap_is_int(resume_wait(&b, 5000), 0, "destination: RESUME");
    tap_diag("RESUME with one disk (connect) took %.3f ms (with retries "
             "while nbdkit forgets our own client)", (xt_now_ns() - t0) / 1e6);
    tap_ok(writes_exceed(&b, gs.disk_writes + 200, 20000), "the guest's disk "
           "writes go on at the destination");
    gs2 = stats(&b);
    tap_ok(gs2.disk_mismatches == 0 && gs2.disk_errors == 0 &&
           gs2.mismatches == 0, "disk and memory ledgers clean (%llu disk "
           "reads checked)", (unsigned long long)gs2.disk_reads);
    h = other_client();
    tap_ok(h == NULL, "the destination holds the export");
    drop_client(h);
    rc = cmd(&a, VMM_CMD_RESUME);
    tap_ok(rc < 0, "the source cannot take it back while the destination "
           "runs (%d)", rc);

    c = start_vmm(nodisk);
    if (c.pid < 0)
        tap_bail("xm-vmm --incoming did not start");
    rc = request(&c, VMM_CMD_STATE_RESTORE, blob, blen, NULL, NULL, NULL);
    tap_is_int(rc, -EINVAL, "a blob with one disk into a VMM without "
               "--disk: refused");
    tap_ok(strstr(ctx->err_msg, "--disk") != NULL, "saying so: %s",
           ctx->err_msg);

    free(blob);
    stop_vmm(&c);
    stop_vmm(&b);
    stop_vmm(&a);
}

int main(void)
{
    char sock[64];
    pid_t srv;
    int fd;

    if (!strcmp(engine, "kvm")) {
        fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
        if (fd < 0)
            tap_skip_all("/dev/kvm cannot be opened");
        close(fd);
    }
    if (access(XM_BUILDDIR "/guest/xm-guest.elf", R_OK) < 0)
        tap_skip_all("guest/xm-guest.elf is not built");
    if (system("nbdkit --version >/dev/null 2>&1") != 0)
        tap_skip_all("nbdkit is not installed (Debian package nbdkit)");
    snprintf(dir, sizeof(dir), "/tmp/test_vmm_disks.XXXXXX");
    if (!mkdtemp(dir))
        tap_bail("mkdtemp");
    snprintf(run_dir, sizeof(run_dir), "%s/run", dir);
    snprintf(sock, sizeof(sock), "%s/disk.sock", dir);
    snprintf(uri, sizeof(uri), "nbd+unix:///?socket=%s", sock);
    ctx = xt_ctx_new("test_vmm_disks");
    if (!ctx)
        tap_bail("context");
    ctx->quiet_errors = true;
    signal(SIGPIPE, SIG_IGN);
    srv = start_nbdkit(sock);
    if (srv < 0)
        tap_bail("nbdkit did not start");

    run();

    kill(srv, SIGTERM);
    waitpid(srv, NULL, 0);
    unlink(sock);
    rmdir(run_dir);
    rmdir(dir);
    xt_ctx_free(ctx);
    return tap_done();
}
