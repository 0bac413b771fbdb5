/*
 * pd_blk.c - this host's block services: one nbdkit (our xmvdi plugin,
 * vdi/) per disk of a VM that runs or is being received here, serving its
 * VDI on a unix socket to the VM's xm-vmm (docs/design/storage.md).
 *
 * A backend is named by its VM, disk number and VDI, and all of its
 * state is in files: RUN_DIR/blk/VM.N.TAG.sock, .pid, .log, .ctl (the
 * mirror's control socket, docs/specs/mirror.md) and .switch (a storage
 * motion's switch-over journal, pd_motion.c), TAG the first 8
 * characters of the VDI's uuid.  (Two backends serve one disk while a
 * storage motion runs: the source's and the destination's.)  So a daemon
 * restart loses nothing (running VMs keep their disks: the backends are
 * not our children, they outlive us), and one function (xa_blk_reap)
 * decides from what runs here which backends are no longer needed.
 *
 * Backends lock their VDI per connection (lock=connection): the source
 * and the destination of a live migration both serve the VDI, and the
 * VMM that runs the guest holds it (xm-vmm lets go when it pauses).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pd_internal.h"
#include "pd_xenapi.h"
#include "sr.h"

#define BLK_START_MS    30000   /* nbdkit ready (its pid file written);
                                 * a loaded host may take seconds */
#define BLK_STOP_MS     5000    /* SIGTERM, then SIGKILL */
#define BLK_LINGER_MS   3000    /* fault point pd.blk.detach */

/* RUN_DIR/blk/VM.N.TAG.EXT */
static int blk_path(struct xa *xa, struct xt_ctx *ctx, const char *vm,
                    unsigned i, const char *vdi, const char *ext, char *buf,
                    size_t size)
{
    if ((size_t)snprintf(buf, size, "%s/blk/%s.%u.%.8s.%s",
                         xa->cfg->run_dir, vm, i, vdi, ext) >= size)
        return xt_error(ctx, -ENAMETOOLONG, "run_dir %s is too long for a "
                        "block service's socket", xa->cfg->run_dir);
    return 0;
}

static void plugin_path(char *buf, size_t size)
{
    const char *bdir = getenv("XM_BUILDDIR");

    if (bdir && *bdir)
        snprintf(buf, size, "%s/vdi/nbdkit-xmvdi-plugin.so", bdir);
    else
        snprintf(buf, size, "%s/nbdkit-xmvdi-plugin.so", XM_LIBEXECDIR);
}

/* The pid in a backend's pid file if that process is still the nbdkit
 * serving sock (a recycled pid is not), else 0. */
static pid_t backend_pid(const char *pidfile, const char *sock)
{
    char buf[4096], path[64];
    ssize_t n;
    long pid;
    int fd;

    fd = open(pidfile, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    pid = strtol(buf, NULL, 10);
    if (pid <= 1)
        return 0;
    snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    /* cmdline is NUL-separated: look at each argument. */
    for (ssize_t k = 0; k < n; k += (ssize_t)strlen(buf + k) + 1)
        if (!strcmp(buf + k, sock))
            return (pid_t)pid;
    return 0;
}

/* The last line of a backend's log, for an error message. */
static void log_tail(const char *log, char *buf, size_t size)
{
    char line[512];
    FILE *f = fopen(log, "re");

    snprintf(buf, size, "no message (see the log in %.300s)", log);
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        if (*line)
            snprintf(buf, size, "%s", line);
    }
    fclose(f);
}

/* One disk as the master describes it (xa_vm_disks in pd_methods_vbd.c):
 * its strings point into the API value. */
struct disk {
    const char *vdi, *sr_type, *sr_uuid, *location;
    bool ro;
    unsigned device;            /* its disk number (VBD userdevice) */
};

/* Disk v, the pos-th of its list: a master that names no device number
 * (an older one) means the list's order. */
static int disk_of(struct xt_ctx *ctx, const struct api_value *v,
                   unsigned pos, struct disk *d)
{
    const struct api_value *dc = api_struct_get(v, "device_config");
    const char *mode = api_value_string(api_struct_get(v, "mode"));
    const struct api_value *dev = api_struct_get(v, "device");
    int64_t num = pos;

    if (dev && (api_value_get_int64(dev, &num) < 0 || num < 0 ||
                num >= HV_MAX_DISKS))
        return xt_error(ctx, -EINVAL, "a disk's device: a number 0..%d",
                        HV_MAX_DISKS - 1);
    d->device = (unsigned)num;

    d->vdi = api_value_string(api_struct_get(v, "vdi"));
    d->sr_type = api_value_string(api_struct_get(v, "sr_type"));
    d->sr_uuid = api_value_string(api_struct_get(v, "sr_uuid"));
    d->location = api_value_string(api_struct_get(dc, "location"));
    d->ro = mode && !strcmp(mode, "RO");
    if (!d->vdi || !d->sr_type || !d->sr_uuid || !d->location || !mode)
        return xt_error(ctx, -EINVAL, "a disk needs vdi, sr_type, sr_uuid, "
                        "device_config.location and mode");
    return 0;
}

/* How a backend listens: on a unix socket (sock), or on a TCP socket we
 * bound (listen_fd, handed over by socket activation) with TLS (a PSK
 * file) for one peer address only, at most PEER_CONNS clients. */
struct blk_listen {
    const char *sock;
    int listen_fd;
    const char *psk_arg;        /* "--tls-psk=FILE" */
    const char *allow_arg;      /* "peer=ADDR" (our plugin checks it) */
    const char *ctl_arg;        /* "ctl=SOCKET" (unix socket only) */
};

#define PEER_CONNS "limit=4"

/* In the child that will exec nbdkit: stdin from /dev/null, stdout and
 * stderr into log, the pipe's write end wp as fd 3 (it lives as long as
 * nbdkit does) or, for a TCP export, as fd 4 with the listening socket
 * as fd 3 (socket activation); nothing else open. */
static void blk_child_fds(const struct blk_listen *l, const char *log,
                          int wp)
{
    char lpid[24];
    int ls = -1;

    xt_child_signals_reset();
    xt_child_stdio(log);
    /* Both moved high first, so that neither dup2 clobbers the other's
     * source. */
    wp = fcntl(wp, F_DUPFD, 64);
    if (!l->sock)
        ls = fcntl(l->listen_fd, F_DUPFD, 64);
    if (wp < 0 || (!l->sock && ls < 0) ||
        dup2(wp, l->sock ? 3 : 4) < 0 || (ls >= 0 && dup2(ls, 3) < 0))
        _exit(127);
    close_range(l->sock ? 4 : 5, ~0u, 0);
    if (!l->sock) {
        snprintf(lpid, sizeof(lpid), "%d", (int)getpid());
        setenv("LISTEN_PID", lpid, 1);
        setenv("LISTEN_FDS", "1", 1);
    }
}

/* Fault point pd.blk.detach: our detaching child, blocked reading
 * hold[0], goes once nbdkit wrote its pid file or BLK_LINGER_MS passed. */
static void linger_until_ready(const char *pidfile, int hold[2])
{
    struct stat sb;
    int waited;

    for (waited = 0; waited < BLK_LINGER_MS; waited += 10) {
        if (stat(pidfile, &sb) == 0 && sb.st_size > 0)
            break;
        poll(NULL, 0, 10);
    }
    close(hold[1]);
    hold[1] = -1;
    close(hold[0]);
    hold[0] = -1;
}

/* Forks nbdkit for one disk, detached (a grandchild: init reaps it), its
 * output in log; *ready_r gets a pipe that reads EOF once nbdkit is gone.
 *
 * nbdkit (1.32 at least) arms PR_SET_PDEATHSIG with SIGTERM as it
 * starts: had it started before its parent, our short-lived child, had
 * exited, that exit would stop it, silently.  So the grandchild execs
 * only once it belongs to init.  (Fault point pd.blk.detach=fail: that
 * child lingers until nbdkit is ready, at most BLK_LINGER_MS.) */
static int blk_fork(struct xt_ctx *ctx, const struct disk *d,
                    const struct blk_listen *l, const char *pidfile,
                    const char *log, int *ready_r)
{
    char plugin[PATH_MAX], a_type[64], a_sr[64], a_loc[PATH_MAX + 16];
    char a_vdi[64];
    const char *argv[32];
    int rc = 0, p[2], hold[2] = { -1, -1 }, n = 0, st;
    pid_t pid;

    if (xt_fault(ctx, "pd.blk.detach") == XT_FAULT_FAIL &&
        pipe2(hold, O_CLOEXEC) < 0)
        return xt_error(ctx, -errno, "pipe");
    plugin_path(plugin, sizeof(plugin));
    snprintf(a_type, sizeof(a_type), "sr_type=%s", d->sr_type);
    snprintf(a_sr, sizeof(a_sr), "sr_uuid=%s", d->sr_uuid);
    snprintf(a_loc, sizeof(a_loc), "location=%s", d->location);
    snprintf(a_vdi, sizeof(a_vdi), "vdi=%s", d->vdi);
    argv[n++] = "nbdkit";
    argv[n++] = "-f";               /* we detach it ourselves, keeping its
                                     * stderr in the log */
    argv[n++] = "--log=stderr";
    if (l->sock) {
        /* One thread per connection: the VM's requests are handled where
         * they arrive, with no hand-off to a worker.  On these 2-core
         * machines that made the guest's 4 KiB cycle 1.47x faster (p50
         * 100 -> 67 us, bench/nbd_cycle) and large copies no slower. */
        argv[n++] = "--threads=1";
        argv[n++] = "-U";
        argv[n++] = l->sock;
    } else {
        argv[n++] = "--tls=require";
        argv[n++] = l->psk_arg;
        argv[n++] = "--filter=limit";
    }
    argv[n++] = "--pidfile";
    argv[n++] = pidfile;
    if (d->ro)
        argv[n++] = "-r";
    argv[n++] = plugin;
    argv[n++] = a_type;
    argv[n++] = a_sr;
    argv[n++] = a_loc;
    argv[n++] = a_vdi;
    argv[n++] = d->ro ? "mode=ro" : "mode=rw";
    argv[n++] = "lock=connection";
    if (!l->sock) {
        argv[n++] = l->allow_arg;
        argv[n++] = PEER_CONNS;
    } else if (l->ctl_arg) {
        argv[n++] = l->ctl_arg;
    }
    argv[n] = NULL;
    if (pipe2(p, O_CLOEXEC) < 0) {
        rc = xt_error(ctx, -errno, "pipe");
        goto out;
    }
    pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        rc = xt_error(ctx, -errno, "fork");
        goto out;
    }
    if (pid == 0) {
        pid_t parent = getpid();

        setsid();
        if (hold[1] >= 0)
            close(hold[1]);
        if (fork() != 0) {
            if (hold[0] >= 0)
                (void)!read(hold[0], &st, 1);
            _exit(0);
        }
        while (getppid() == parent)
            poll(NULL, 0, 1);
        blk_child_fds(l, log, p[1]);
        execvp("nbdkit", (char *const *)argv);
        fprintf(stderr, "exec nbdkit: %s\n", strerror(errno));
        _exit(127);
    }
    close(p[1]);
    if (hold[1] >= 0)
        linger_until_ready(pidfile, hold);
    waitpid(pid, &st, 0);
    *ready_r = p[0];
out:
    if (hold[0] >= 0) {
        close(hold[0]);
        close(hold[1]);
    }
    return rc;
}

/* Waits until the backend forked by blk_fork wrote its pid file, or
 * failed (then its log's last line is the error, naming vdi). */
static int blk_wait(struct xt_ctx *ctx, int fd, const char *pidfile,
                    const char *log, const char *vdi)
{
    char why[1024];
    int waited = 0, rc = 0;

    for (;;) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        struct stat st;

        if (stat(pidfile, &st) == 0 && st.st_size > 0)
            break;
        if (poll(&pfd, 1, 10) > 0 || (waited += 10) >= BLK_START_MS) {
            log_tail(log, why, sizeof(why));
            rc = xt_error(ctx, strstr(why, "VDI_IN_USE") ? -EBUSY : -EIO,
                          "block service of VDI %s did not start (%s): %s",
                          vdi, waited >= BLK_START_MS ? "not ready in time"
                          : "it exited", why);
            break;
        }
    }
    close(fd);
    return rc;
}

static void blk_stop_one(struct xt_ctx *ctx, const char *pidfile);

/* Starts disk d of vm (files VM.DEVICE.TAG.*); fills uri.  A backend
 * left in its place (the VM's earlier run) is stopped first; on failure
 * none is left there. */
static int blk_start_one(struct xa *xa, struct xt_ctx *ctx, const char *vm,
                         const struct disk *d, char *uri, size_t uri_size)
{
    unsigned i = d->device;
    struct sockaddr_un sun;
    char sock[PATH_MAX], pidfile[PATH_MAX], log[PATH_MAX];
    char ctl[PATH_MAX + 8];
    int fd = -1, rc;

    rc = blk_path(xa, ctx, vm, i, d->vdi, "sock", sock, sizeof(sock));
    rc = rc ?: blk_path(xa, ctx, vm, i, d->vdi, "pid", pidfile,
                        sizeof(pidfile));
    rc = rc ?: blk_path(xa, ctx, vm, i, d->vdi, "log", log, sizeof(log));
    rc = rc ?: blk_path(xa, ctx, vm, i, d->vdi, "ctl", ctl + 4,
                        sizeof(ctl) - 4);
    if (rc < 0)
        return rc;
    if (strlen(sock) >= sizeof(sun.sun_path))
        return xt_error(ctx, -ENAMETOOLONG, "block service socket %s: over "
                        "%zu bytes", sock, sizeof(sun.sun_path) - 1);
    memcpy(ctl, "ctl=", 4);
    snprintf(uri, uri_size, "nbd+unix:///?socket=%s", sock);
    blk_stop_one(ctx, pidfile);
    rc = blk_fork(ctx, d, &(struct blk_listen){
                      .sock = sock, .ctl_arg = d->ro ? NULL : ctl },
                  pidfile, log, &fd);
    rc = rc ?: blk_wait(ctx, fd, pidfile, log, d->vdi);
    if (rc < 0)
        blk_stop_one(ctx, pidfile);
    else
        xt_info(ctx, "block service of VDI %s (VM %s disk %u) on %s",
                d->vdi, vm, i, sock);
    return rc;
}

int xa_blk_start(struct xa *xa, struct xt_ctx *ctx, const char *vm,
                 const struct api_value *disks, struct xa_blk_set *set)
{
    char dir[PATH_MAX];
    struct disk d;
    unsigned i, n = disks ? api_value_count(disks) : 0;
    int rc = 0;

    memset(set, 0, sizeof(*set));
    if (disks && api_value_type(disks) != API_ARRAY)
        return xt_error(ctx, -EINVAL, "disks: not an array");
    if (n > HV_MAX_DISKS)
        return xt_error(ctx, -E2BIG, "%u disks: at most %u", n,
                        HV_MAX_DISKS);
    /* The VM does not run here (the callers checked): backends left by
     * an earlier run (its VMM died, no reap yet) may serve other VDIs in
     * the same places.  They go before the new ones start. */
    xa_blk_stop(xa, ctx, vm);
    if (n == 0)
        return 0;
    snprintf(dir, sizeof(dir), "%s/blk", xa->cfg->run_dir);
    rc = pd_mkdir_p(ctx, dir, 0700);
    for (i = 0; rc == 0 && i < n; i++) {
        rc = disk_of(ctx, api_array_get(disks, i), i, &d);
        rc = rc ?: blk_start_one(xa, ctx, vm, &d, set->uri[i],
                                 sizeof(set->uri[i]));
        set->disks[i].uri = set->uri[i];
        set->disks[i].read_only = d.ro;
        set->disks[i].slot = d.device + 1;
    }
    if (rc < 0) {
        xa_blk_stop(xa, ctx, vm);
        memset(set, 0, sizeof(*set));
        return rc;
    }
    set->n = n;
    return 0;
}

int xa_blk_start_disk(struct xa *xa, struct xt_ctx *ctx, const char *vm,
                      const struct api_value *disk, struct hv_disk *hd,
                      char *uri, size_t uri_size)
{
    char dir[PATH_MAX];
    struct disk d;
    int rc = disk_of(ctx, disk, 0, &d);

    if (rc == 0 && !api_struct_get(disk, "device"))
        rc = xt_error(ctx, -EINVAL, "a hot-plugged disk needs its device "
                      "number");
    if (rc < 0)
        return rc;
    snprintf(dir, sizeof(dir), "%s/blk", xa->cfg->run_dir);
    rc = pd_mkdir_p(ctx, dir, 0700);
    rc = rc ?: blk_start_one(xa, ctx, vm, &d, uri, uri_size);
    if (rc < 0)
        return rc;
    hd->uri = uri;
    hd->read_only = d.ro;
    hd->slot = d.device + 1;
    return 0;
}


/* Is d's VDI held by a writer elsewhere (our own backends hold nothing
 * while no VMM is connected)? */
static bool vdi_held(struct xt_ctx *ctx, const struct disk *d)
{
    struct sr_kv dc = { "location", d->location };
    struct sr_spec spec = { .type = d->sr_type, .device_config = &dc,
                            .n_device_config = 1 };
    struct sr_vdi *v = NULL;
    struct xt_uuid u;
    struct sr *sr = NULL;
    bool held = false, quiet = ctx->quiet_errors;

    if (xt_uuid_parse(d->sr_uuid, &spec.uuid) < 0 ||
        xt_uuid_parse(d->vdi, &u) < 0)
        return false;
    ctx->quiet_errors = true;   /* a probe: its failures are the answer */
    if (sr_attach(ctx, &spec, &sr) == 0) {
        held = sr_vdi_open(sr, &u, true, &v) == -EBUSY;
        sr_vdi_close(v);
        sr_detach(sr);
    }
    ctx->quiet_errors = quiet;
    return held;
}

int xa_blk_held(struct xt_ctx *ctx, const struct api_value *disks,
                const char **vdi_r)
{
    unsigned i, n = disks ? api_value_count(disks) : 0;
    struct disk d;

    *vdi_r = NULL;
    for (i = 0; i < n; i++) {
        if (disk_of(ctx, api_array_get(disks, i), i, &d) < 0)
            continue;
        if (!d.ro && vdi_held(ctx, &d)) {
            *vdi_r = d.vdi;
            return 1;
        }
    }
    return 0;
}

/* Stops the backend of pidfile if it is still the process whose command
 * line holds marker. */
static void kill_backend(struct xt_ctx *ctx, const char *pidfile,
                         const char *marker)
{
    pid_t pid = backend_pid(pidfile, marker);
    int waited = 0;

    if (!pid)
        return;
    kill(pid, SIGTERM);
    while (kill(pid, 0) == 0 && backend_pid(pidfile, marker) &&
           waited < BLK_STOP_MS) {
        usleep(10000);
        waited += 10;
    }
    if (waited >= BLK_STOP_MS) {
        xt_warn(ctx, "block service %s ignored SIGTERM: killed", pidfile);
        kill(pid, SIGKILL);
    }
}

/* Stops one backend (its pid file names it) and removes its files, but
 * its log: the socket, the mirror's control socket, state file and key,
 * the switch journal. */
static void blk_stop_one(struct xt_ctx *ctx, const char *pidfile)
{
    static const char *const ext[] = { "ctl", "mirror", "psk", "switch",
                                       NULL };
    char path[PATH_MAX];
    size_t n = strlen(pidfile), i;

    if (n < 4 || n - 3 + sizeof("mirror") > sizeof(path))
        return;
    memcpy(path, pidfile, n - 3);
    strcpy(path + n - 3, "sock");
    kill_backend(ctx, pidfile, path);
    unlink(pidfile);
    unlink(path);
    for (i = 0; ext[i]; i++) {
        strcpy(path + n - 3, ext[i]);
        unlink(path);
    }
}

typedef void backend_fn(struct xa *xa, struct xt_ctx *ctx, const char *vm,
                        const char *pidfile, void *opaque);

/* Calls fn for each backend pid file in RUN_DIR/blk whose VM is vm (NULL:
 * every VM) and disk is device (-1: any), with the VM's uuid. */
static void for_each_backend(struct xa *xa, struct xt_ctx *ctx,
                             const char *vm, int device, backend_fn *fn,
                             void *opaque)
{
    char dir[PATH_MAX], path[PATH_MAX + 256], uuid[XT_UUID_STRLEN + 1];
    struct dirent *e;
    DIR *d;

    snprintf(dir, sizeof(dir), "%s/blk", xa->cfg->run_dir);
    d = opendir(dir);
    if (!d)
        return;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);

        if (n < XT_UUID_STRLEN + 5 || e->d_name[XT_UUID_STRLEN] != '.' ||
            strcmp(e->d_name + n - 4, ".pid") != 0)
            continue;
        memcpy(uuid, e->d_name, XT_UUID_STRLEN);
        uuid[XT_UUID_STRLEN] = '\0';
        if (vm && strcmp(vm, uuid) != 0)
            continue;
        if (device >= 0 &&
            strtol(e->d_name + XT_UUID_STRLEN + 1, NULL, 10) != device)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        fn(xa, ctx, uuid, path, opaque);
    }
    closedir(d);
}

static void stop_cb(struct xa *xa, struct xt_ctx *ctx, const char *vm,
                    const char *pidfile, void *opaque)
{
    (void)xa;
    (void)vm;
    (void)opaque;
    blk_stop_one(ctx, pidfile);
}

void xa_blk_stop(struct xa *xa, struct xt_ctx *ctx, const char *vm)
{
    for_each_backend(xa, ctx, vm, -1, stop_cb, NULL);
}

void xa_blk_stop_disk(struct xa *xa, struct xt_ctx *ctx, const char *vm,
                      unsigned device)
{
    for_each_backend(xa, ctx, vm, (int)device, stop_cb, NULL);
}

void xa_blk_stop_vdi(struct xa *xa, struct xt_ctx *ctx, const char *vm,
                     unsigned device, const char *vdi)
{
    char pidfile[PATH_MAX];

    if (blk_path(xa, ctx, vm, device, vdi, "pid", pidfile,
                 sizeof(pidfile)) == 0)
        blk_stop_one(ctx, pidfile);
}

int xa_blk_path(struct xa *xa, struct xt_ctx *ctx, const char *vm,
                unsigned device, const char *vdi, const char *ext, char *buf,
                size_t size)
{
    return blk_path(xa, ctx, vm, device, vdi, ext, buf, size);
}

struct reap {
    struct hv_handle *h;
    int stopped;
};

static void reap_cb(struct xa *xa, struct xt_ctx *ctx, const char *vm,
                    const char *pidfile, void *opaque)
{
    struct reap *r = opaque;
    uint32_t domid;

    if (xa_find_domain(r->h, vm, &domid, NULL) == 0 || xa_receiving(xa, vm))
        return;
    xt_info(ctx, "VM %s no longer runs here: stopping its block service "
            "%s", vm, pidfile);
    blk_stop_one(ctx, pidfile);
    r->stopped++;
}

int xa_blk_reap(struct xa *xa, struct xt_ctx *ctx)
{
    struct reap r = { 0 };
    int rc;

    pthread_mutex_lock(&xa->blk_lock);
    rc = xa_hv_open(xa, ctx, &r.h);
    if (rc == 0) {
        for_each_backend(xa, ctx, NULL, -1, reap_cb, &r);
        hv_close(r.h);
        rc = r.stopped;
    }
    pthread_mutex_unlock(&xa->blk_lock);
    return rc;
}

/* ---- exports for peers: TCP with TLS ----------------------------------- */

#define PSK_IDENTITY "xm-pool"

/* A listening TCP socket on addr, any port: *fd_r, *port_r. */
static int listen_any(struct xt_ctx *ctx, const char *addr, int *fd_r,
                      unsigned *port_r)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_NUMERICHOST | AI_PASSIVE };
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    struct addrinfo *ai = NULL;
    int fd = -1, one = 1, g;

    g = getaddrinfo(addr, "0", &hints, &ai);
    if (g)
        return xt_error(ctx, -EINVAL, "export address %s: %s", addr,
                        gai_strerror(g));
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
                             sizeof(one)) < 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 16) < 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
        g = -errno;
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return xt_error(ctx, g, "listening on %s", addr);
    }
    freeaddrinfo(ai);
    *port_r = ntohs(ss.ss_family == AF_INET6 ?
                    ((struct sockaddr_in6 *)&ss)->sin6_port :
                    ((struct sockaddr_in *)&ss)->sin_port);
    *fd_r = fd;
    return 0;
}

/* A fresh pre-shared key in path (0600), its hex in key (65 bytes). */
static int write_psk(struct xt_ctx *ctx, const char *path, char *key)
{
    unsigned char rnd[32];
    size_t i;
    int fd, rc = 0;

    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        return xt_error(ctx, -EIO, "getrandom");
    for (i = 0; i < sizeof(rnd); i++)
        sprintf(key + 2 * i, "%02x", rnd[i]);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || dprintf(fd, "%s:%s\n", PSK_IDENTITY, key) < 0)
        rc = xt_error(ctx, -errno, "%s", path);
    if (fd >= 0)
        close(fd);
    return rc;
}

static int export_paths(struct xa *xa, struct xt_ctx *ctx, const char *vdi,
                        char (*p)[PATH_MAX])
{
    static const char *const ext[] = { "pid", "log", "psk" };
    size_t i;

    for (i = 0; i < 3; i++)
        if ((size_t)snprintf(p[i], PATH_MAX, "%s/blk/export-%s.%s",
                             xa->cfg->run_dir, vdi, ext[i]) >= PATH_MAX)
            return xt_error(ctx, -ENAMETOOLONG, "run_dir too long");
    return 0;
}

int xa_blk_export(struct xa *xa, struct xt_ctx *ctx,
                  const struct api_value *disk, const char *addr,
                  const char *peer, struct xa_blk_export *ex)
{
    char p[3][PATH_MAX], psk_arg[PATH_MAX + 16], allow[80], dir[PATH_MAX];
    struct disk d;
    int lfd = -1, fd = -1, rc;

    memset(ex, 0, sizeof(*ex));
    rc = disk_of(ctx, disk, 0, &d);
    if (rc == 0 && (strlen(peer) > 64 || strchr(peer, ',')))
        rc = xt_error(ctx, -EINVAL, "peer address '%s'", peer);
    rc = rc ?: export_paths(xa, ctx, d.vdi, p);
    if (rc < 0)
        return rc;
    snprintf(psk_arg, sizeof(psk_arg), "--tls-psk=%s", p[2]);
    if (backend_pid(p[0], psk_arg))
        return xt_error(ctx, -EEXIST, "VDI %s is already exported", d.vdi);
    snprintf(dir, sizeof(dir), "%s/blk", xa->cfg->run_dir);
    snprintf(allow, sizeof(allow), "peer=%s", peer);
    rc = pd_mkdir_p(ctx, dir, 0700);
    rc = rc ?: write_psk(ctx, p[2], ex->psk);
    rc = rc ?: listen_any(ctx, addr, &lfd, &ex->port);
    if (rc < 0)
        goto out;
    unlink(p[0]);
    rc = blk_fork(ctx, &d, &(struct blk_listen){
                      .listen_fd = lfd, .psk_arg = psk_arg,
                      .allow_arg = allow }, p[0], p[1], &fd);
    close(lfd);
    rc = rc ?: blk_wait(ctx, fd, p[0], p[1], d.vdi);
    if (rc == 0) {
        snprintf(ex->identity, sizeof(ex->identity), "%s", PSK_IDENTITY);
        xt_info(ctx, "VDI %s exported to %s on %s port %u (TLS, PSK)",
                d.vdi, peer, addr, ex->port);
    }
out:
    if (rc < 0) {
        kill_backend(ctx, p[0], psk_arg);
        unlink(p[0]);
        unlink(p[2]);
        memset(ex, 0, sizeof(*ex));
    }
    return rc;
}

int xa_blk_unexport(struct xa *xa, struct xt_ctx *ctx, const char *vdi)
{
    char p[3][PATH_MAX], psk_arg[PATH_MAX + 16];
    struct xt_uuid u;
    int rc;

    if (xt_uuid_parse(vdi, &u) < 0)
        return xt_error(ctx, -EINVAL, "bad VDI uuid");
    rc = export_paths(xa, ctx, vdi, p);
    if (rc < 0)
        return rc;
    snprintf(psk_arg, sizeof(psk_arg), "--tls-psk=%s", p[2]);
    kill_backend(ctx, p[0], psk_arg);
    unlink(p[0]);
    unlink(p[2]);
    return 0;
}
