/*
 * hv_vmmc.c - client of xm-vmm processes (see hv_vmmc.h).  Each domain is
 * one xm-vmm process; its domid is the pid and its control socket is
 * RUN_DIR/<domid>.sock.  Guest RAM is the VMM's memfd, mapped here once
 * per domain so that map_batch costs nothing.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hv_vmmc.h"
#include "vmm_proto.h"

#define CALL_TIMEOUT_MS     30000
#define SPAWN_TIMEOUT_MS    30000
#define DESTROY_TIMEOUT_MS  5000
#define DEFAULT_RUN_DIR     "/run/xm-pool/vmm"

/* A VMM we are connected to. */
struct vmmc_dom {
    uint32_t domid;
    int sock;
    uint32_t seq;
    pthread_mutex_t lock;       /* one request at a time on sock */
    uint8_t *mem;               /* guest RAM, mapped on first use */
    size_t mem_size;
    int memfd;                  /* kept for SEEK_DATA/SEEK_HOLE */
    uint64_t nr_pages;
    struct vmmc_dom *next;
};

struct vmmc {
    char engine[8];
    char run_dir[PATH_MAX - 32];
    char vmm_path[PATH_MAX];
    pthread_mutex_t lock;       /* guards doms */
    struct vmmc_dom *doms;
};

static struct vmmc *vmmc_of(struct hv_handle *h)
{
    return h->priv;
}

static int mkdir_p(const char *path)
{
    char buf[PATH_MAX];
    char *p;

    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return -ENAMETOOLONG;
    for (p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, 0755) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static void default_vmm_path(char *buf, size_t size)
{
    const char *env = getenv("XM_VMM");
    const char *bdir = getenv("XM_BUILDDIR");

    if (env && *env)
        snprintf(buf, size, "%s", env);
    else if (bdir && *bdir)
        snprintf(buf, size, "%s/vmm/xm-vmm", bdir);
    else
        snprintf(buf, size, "%s/xm-vmm", XM_LIBEXECDIR);
}

int vmmc_open(struct hv_handle *h, const char *engine, const char *args)
{
    struct vmmc *v;
    const char *env = getenv("XM_VMM_RUN_DIR");
    char *copy = NULL, *tok, *save = NULL;
    int rc = 0;

    v = calloc(1, sizeof(*v));
    if (!v)
        return xt_error(h->ctx, -ENOMEM, "%s driver", engine);
    snprintf(v->engine, sizeof(v->engine), "%s", engine);
    snprintf(v->run_dir, sizeof(v->run_dir), "%s",
             env && *env ? env : DEFAULT_RUN_DIR);
    default_vmm_path(v->vmm_path, sizeof(v->vmm_path));
    pthread_mutex_init(&v->lock, NULL);
    if (args && *args) {
        copy = strdup(args);
        if (!copy) {
            rc = xt_error(h->ctx, -ENOMEM, "driver options");
            goto out;
        }
        for (tok = strtok_r(copy, ",", &save); tok;
             tok = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(tok, '=');

            if (eq && !strncmp(tok, "run_dir", eq - tok) &&
                eq - tok == 7) {
                snprintf(v->run_dir, sizeof(v->run_dir), "%s", eq + 1);
            } else if (eq && eq - tok == 3 && !strncmp(tok, "vmm", 3)) {
                snprintf(v->vmm_path, sizeof(v->vmm_path), "%s", eq + 1);
            } else {
                rc = xt_error(h->ctx, -EINVAL, "%s driver: unknown option "
                              "'%s' (run_dir=PATH, vmm=PATH)", engine, tok);
                goto out;
            }
        }
    }
    rc = mkdir_p(v->run_dir);
    if (rc < 0) {
        xt_error(h->ctx, rc, "%s driver: run directory %s", engine,
                 v->run_dir);
        goto out;
    }
    h->priv = v;
    v = NULL;
out:
    free(copy);
    if (v) {
        pthread_mutex_destroy(&v->lock);
        free(v);
    }
    return rc;
}

static void dom_free(struct vmmc_dom *d)
{
    if (!d)
        return;
    if (d->mem)
        munmap(d->mem, d->mem_size);
    if (d->memfd >= 0)
        close(d->memfd);
    if (d->sock >= 0)
        close(d->sock);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

void vmmc_close(struct hv_handle *h)
{
    struct vmmc *v = vmmc_of(h);
    struct vmmc_dom *d, *next;

    if (!v)
        return;
    for (d = v->doms; d; d = next) {
        next = d->next;
        dom_free(d);
    }
    pthread_mutex_destroy(&v->lock);
    free(v);
    h->priv = NULL;
}

static int sock_path(struct vmmc *v, uint32_t domid, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s/%u.sock", v->run_dir, domid);

    return (n < 0 || (size_t)n >= size) ? -ENAMETOOLONG : 0;
}

static int connect_vmm(struct hv_handle *h, uint32_t domid, int *fd_r)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd, rc;

    rc = sock_path(vmmc_of(h), domid, sa.sun_path, sizeof(sa.sun_path));
    if (rc < 0)
        return xt_error(h->ctx, rc, "domain %u: socket path", domid);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return xt_error(h->ctx, -errno, "socket");
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        rc = -errno;
        close(fd);
        if (rc == -ENOENT || rc == -ECONNREFUSED)
            return xt_error(h->ctx, -ESRCH, "no %s domain %u (%s)",
                            vmmc_of(h)->engine, domid, sa.sun_path);
        return xt_error(h->ctx, rc, "connecting to domain %u", domid);
    }
    *fd_r = fd;
    return 0;
}

/* Finds or connects the domain; the returned pointer stays valid until
 * destroy/close (domains are never freed while in use by one thread). */
static int get_dom(struct hv_handle *h, uint32_t domid, struct vmmc_dom **d_r)
{
    struct vmmc *v = vmmc_of(h);
    struct vmmc_dom *d;
    int fd = -1, rc;

    pthread_mutex_lock(&v->lock);
    for (d = v->doms; d; d = d->next)
        if (d->domid == domid)
            break;
    pthread_mutex_unlock(&v->lock);
    if (d) {
        *d_r = d;
        return 0;
    }
    rc = connect_vmm(h, domid, &fd);
    if (rc < 0)
        return rc;
    d = calloc(1, sizeof(*d));
    if (!d) {
        close(fd);
        return xt_error(h->ctx, -ENOMEM, "domain %u", domid);
    }
    d->domid = domid;
    d->sock = fd;
    d->memfd = -1;
    pthread_mutex_init(&d->lock, NULL);
    pthread_mutex_lock(&v->lock);
    d->next = v->doms;
    v->doms = d;
    pthread_mutex_unlock(&v->lock);
    *d_r = d;
    return 0;
}

/* Forgets a domain (destroyed, or its connection broke). */
static void drop_dom(struct hv_handle *h, struct vmmc_dom *victim)
{
    struct vmmc *v = vmmc_of(h);
    struct vmmc_dom **pp;

    pthread_mutex_lock(&v->lock);
    for (pp = &v->doms; *pp; pp = &(*pp)->next)
        if (*pp == victim) {
            *pp = victim->next;
            break;
        }
    pthread_mutex_unlock(&v->lock);
    dom_free(victim);
}

/*
 * One request/reply on d's connection.  *reply_r (if not NULL) gets the
 * malloc'd reply payload after the status (caller frees), *rlen_r its
 * length.  A VMM-side failure is reported with the VMM's own message.
 */
static int call_dom(struct hv_handle *h, struct vmmc_dom *d, uint16_t cmd,
                    const void *req, uint32_t len, void **reply_r,
                    size_t *rlen_r, int *fd_r, bool *remote_r)
{
    struct vmm_reply_status rs;
    struct vmm_msg_hdr hdr;
    void *payload = NULL;
    int fd = -1;
    uint32_t seq;
    int rc;

    if (reply_r)
        *reply_r = NULL;
    if (rlen_r)
        *rlen_r = 0;
    pthread_mutex_lock(&d->lock);
    seq = ++d->seq;
    rc = vmm_msg_send(d->sock, cmd, seq, req, len, -1, CALL_TIMEOUT_MS);
    if (rc < 0) {
        pthread_mutex_unlock(&d->lock);
        return xt_error(h->ctx, rc, "domain %u: sending %s", d->domid,
                        vmm_cmd_name(cmd));
    }
    rc = vmm_msg_recv(h->ctx, d->sock, true, &hdr, &payload,
                      fd_r ? &fd : NULL, CALL_TIMEOUT_MS);
    pthread_mutex_unlock(&d->lock);
    if (rc < 0)
        goto out;
    if ((hdr.type & ~VMM_REPLY) != cmd || hdr.seq != seq ||
        hdr.len < sizeof(rs)) {
        rc = xt_error(h->ctx, -EPROTO, "domain %u: %s: reply does not match "
                      "the request", d->domid, vmm_cmd_name(cmd));
        goto out;
    }
    memcpy(&rs, payload, sizeof(rs));
    if (rs.status < 0) {
        /* The VMM refused the request; the connection itself is fine. */
        if (remote_r)
            *remote_r = true;
        size_t ml = rs.msg_len;

        if (ml > hdr.len - sizeof(rs))
            ml = hdr.len - sizeof(rs);
        rc = xt_error(h->ctx, rs.status > -4096 ? rs.status : -EPROTO,
                      "domain %u: %s: %.*s", d->domid, vmm_cmd_name(cmd),
                      (int)ml, (char *)payload + sizeof(rs));
        goto out;
    }
    if (reply_r) {
        size_t rl = hdr.len - sizeof(rs);

        if (rl) {
            *reply_r = malloc(rl);
            if (!*reply_r) {
                rc = xt_error(h->ctx, -ENOMEM, "reply");
                goto out;
            }
            memcpy(*reply_r, (char *)payload + sizeof(rs), rl);
        }
        *rlen_r = rl;
    }
    if (fd_r) {
        *fd_r = fd;
        fd = -1;
    }
out:
    free(payload);
    if (fd >= 0)
        close(fd);
    return rc;
}

static int call(struct hv_handle *h, uint32_t domid, uint16_t cmd,
                const void *req, uint32_t len, void **reply_r,
                size_t *rlen_r)
{
    struct vmmc_dom *d;
    bool remote = false;
    int rc = get_dom(h, domid, &d);

    if (rc < 0)
        return rc;
    rc = call_dom(h, d, cmd, req, len, reply_r, rlen_r, NULL, &remote);
    if (rc < 0 && !remote)
        drop_dom(h, d);     /* the connection is unusable now */
    return rc;
}

static int fetch_info(struct hv_handle *h, uint32_t domid,
                      struct vmm_info *in)
{
    void *r = NULL;
    size_t rl;
    int rc;

    rc = call(h, domid, VMM_CMD_INFO, NULL, 0, &r, &rl);
    if (rc < 0)
        return rc;
    if (rl != sizeof(*in)) {
        free(r);
        return xt_error(h->ctx, -EPROTO, "domain %u: info of %zu bytes",
                        domid, rl);
    }
    memcpy(in, r, sizeof(*in));
    free(r);
    return 0;
}

static enum hv_run_state map_state(uint32_t s)
{
    switch (s) {
    case VMM_STATE_RUNNING:  return HV_STATE_RUNNING;
    case VMM_STATE_PAUSED:   return HV_STATE_PAUSED;
    case VMM_STATE_INCOMING: return HV_STATE_PAUSED;
    case VMM_STATE_SHUTDOWN: return HV_STATE_SHUTDOWN;
    default:                 return HV_STATE_CRASHED;
    }
}

int vmmc_info(struct hv_handle *h, uint32_t domid,
              struct hv_domain_info *info_r)
{
    struct vmm_info in;
    int rc = fetch_info(h, domid, &in);

    if (rc < 0)
        return rc;
    if (strncmp(in.engine, vmmc_of(h)->engine, sizeof(in.engine)))
        return xt_error(h->ctx, -ESRCH, "domain %u runs on the %.8s engine, "
                        "not %s", domid, in.engine, vmmc_of(h)->engine);
    info_r->domid = domid;
    snprintf(info_r->name, sizeof(info_r->name), "%.*s",
             (int)sizeof(in.name), in.name);
    memcpy(info_r->uuid.b, in.uuid, sizeof(info_r->uuid.b));
    info_r->nr_pages = in.nr_pages;
    info_r->nr_vcpus = in.nr_vcpus;
    info_r->state = map_state(in.state);
    info_r->logdirty = in.logdirty;
    info_r->throttle_pct = in.throttle_pct;
    return 0;
}

int vmmc_list(struct hv_handle *h, struct hv_domain_info **infos_r,
              size_t *n_r)
{
    struct vmmc *v = vmmc_of(h);
    struct hv_domain_info *arr = NULL, info;
    struct dirent *de;
    size_t n = 0, cap = 0;
    DIR *dir;
    int rc = 0;

    dir = opendir(v->run_dir);
    if (!dir)
        return xt_error(h->ctx, -errno, "listing %s", v->run_dir);
    while ((de = readdir(dir))) {
        char *end;
        unsigned long id = strtoul(de->d_name, &end, 10);
        bool quiet = h->ctx->quiet_errors;

        if (end == de->d_name || strcmp(end, ".sock") || id > UINT32_MAX)
            continue;
        /* A socket left by a dead VMM, or another engine's VMM, is not
         * one of our domains: skip it without an error. */
        h->ctx->quiet_errors = true;
        rc = vmmc_info(h, (uint32_t)id, &info);
        h->ctx->quiet_errors = quiet;
        if (rc < 0) {
            xt_error_clear(h->ctx);
            rc = 0;
            continue;
        }
        if (n == cap) {
            struct hv_domain_info *na;

            cap = cap ? cap * 2 : 8;
            na = realloc(arr, cap * sizeof(*arr));
            if (!na) {
                rc = xt_error(h->ctx, -ENOMEM, "domain list");
                goto out;
            }
            arr = na;
        }
        arr[n++] = info;
    }
    *infos_r = arr;
    *n_r = n;
    arr = NULL;
out:
    closedir(dir);
    free(arr);
    return rc;
}

/* Reads the VMM's "ready <pid>" or "error <rc> <msg>" line. */
static int wait_ready(struct hv_handle *h, int fd, uint32_t *domid_r)
{
    char line[600];
    size_t len = 0;
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    uint64_t deadline = xt_now_ns() + SPAWN_TIMEOUT_MS * 1000000ull;

    while (len < sizeof(line) - 1) {
        int64_t left = (int64_t)(deadline - xt_now_ns()) / 1000000;
        ssize_t r;

        if (left <= 0 || poll(&pfd, 1, (int)left) == 0)
            return xt_error(h->ctx, -ETIMEDOUT, "xm-vmm did not start "
                            "within %d ms", SPAWN_TIMEOUT_MS);
        r = read(fd, line + len, sizeof(line) - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += r;
        if (memchr(line, '\n', len))
            break;
    }
    line[len] = '\0';
    line[strcspn(line, "\n")] = '\0';
    if (!strncmp(line, "ready ", 6)) {
        unsigned long pid = strtoul(line + 6, NULL, 10);

        if (pid == 0 || pid > UINT32_MAX)
            return xt_error(h->ctx, -EPROTO, "xm-vmm said '%s'", line);
        *domid_r = (uint32_t)pid;
        return 0;
    }
    if (!strncmp(line, "error ", 6)) {
        char *msg = strchr(line + 6, ' ');

        return xt_error(h->ctx, -EIO, "xm-vmm failed to start: %s",
                        msg ? msg + 1 : line + 6);
    }
    return xt_error(h->ctx, -EIO, "xm-vmm exited before it was ready "
                    "(see its log in %s)", vmmc_of(h)->run_dir);
}

/*
 * Starts an xm-vmm: argv after the common part.  The VMM gets its own
 * session (it outlives us), stdout/stderr to RUN_DIR/<pid>.log.
 */
static int spawn(struct hv_handle *h, const char *name,
                 const struct xt_uuid *uuid, uint64_t nr_pages,
                 uint32_t nr_vcpus, const char *kernel, const char *cmdline,
                 const struct hv_disk *disks, unsigned nr_disks,
                 uint32_t *domid_r)
{
    struct vmmc *v = vmmc_of(h);
    char mem[32], vcpus[16], uuid_s[XT_UUID_STRLEN + 1], fdarg[16];
    const char *argv[24 + 2 * HV_MAX_DISKS];
    char *dargs[HV_MAX_DISKS] = { NULL };
    int p[2] = { -1, -1 };
    unsigned i;
    pid_t pid;
    int n = 0, rc;

    if (nr_pages % 256)
        return xt_error(h->ctx, -EINVAL, "%s domain: %llu pages is not a "
                        "whole number of MiB", v->engine,
                        (unsigned long long)nr_pages);
    if (access(v->vmm_path, X_OK) < 0)
        return xt_error(h->ctx, -errno, "%s driver: VMM binary %s",
                        v->engine, v->vmm_path);
    if (pipe2(p, O_CLOEXEC) < 0)
        return xt_error(h->ctx, -errno, "pipe");
    snprintf(mem, sizeof(mem), "%llu", (unsigned long long)(nr_pages >> 8));
    snprintf(vcpus, sizeof(vcpus), "%u", nr_vcpus);
    snprintf(fdarg, sizeof(fdarg), "%d", 3);
    xt_uuid_format(uuid, uuid_s);
    argv[n++] = v->vmm_path;
    argv[n++] = "--engine";
    argv[n++] = v->engine;
    argv[n++] = "--run-dir";
    argv[n++] = v->run_dir;
    argv[n++] = "--mem-mib";
    argv[n++] = mem;
    argv[n++] = "--vcpus";
    argv[n++] = vcpus;
    argv[n++] = "--uuid";
    argv[n++] = uuid_s;
    argv[n++] = "--ready-fd";
    argv[n++] = fdarg;
    if (name && *name) {
        argv[n++] = "--name";
        argv[n++] = name;
    }
    if (kernel) {
        argv[n++] = "--kernel";
        argv[n++] = kernel;
        if (cmdline) {
            argv[n++] = "--cmdline";
            argv[n++] = cmdline;
        }
    } else {
        argv[n++] = "--incoming";
    }
    /* hv_create/hv_boot checked nr_disks <= HV_MAX_DISKS and the slots:
     * each disk goes in its slot, "--disk SLOT=URI". */
    for (i = 0; i < nr_disks; i++) {
        if (asprintf(&dargs[i], "%u=%s", disks[i].slot ? disks[i].slot :
                     i + 1, disks[i].uri) < 0) {
            dargs[i] = NULL;
            rc = xt_error(h->ctx, -ENOMEM, "disk arguments");
            goto out;
        }
        argv[n++] = disks[i].read_only ? "--disk-ro" : "--disk";
        argv[n++] = dargs[i];
    }
    argv[n] = NULL;

    pid = fork();
    if (pid < 0) {
        rc = xt_error(h->ctx, -errno, "fork");
        goto out;
    }
    if (pid == 0) {
        char log[PATH_MAX];

        setsid();
        xt_child_signals_reset();
        snprintf(log, sizeof(log), "%s/%d.log", v->run_dir, (int)getpid());
        xt_child_stdio(log);
        if (dup2(p[1], 3) < 0)
            _exit(127);
        /* Nothing of ours leaks into the VMM (it outlives us). */
        close_range(4, ~0u, 0);
        execv(v->vmm_path, (char *const *)argv);
        dprintf(3, "error %d exec %s: %s\n", -errno, v->vmm_path,
                strerror(errno));
        _exit(127);
    }
    close(p[1]);
    p[1] = -1;
    rc = wait_ready(h, p[0], domid_r);
    if (rc < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
out:
    for (i = 0; i < HV_MAX_DISKS; i++)
        free(dargs[i]);
    if (p[0] >= 0)
        close(p[0]);
    if (p[1] >= 0)
        close(p[1]);
    return rc;
}

int vmmc_create(struct hv_handle *h, const struct hv_create_spec *spec,
                uint32_t *domid_r)
{
    struct vmmc_dom *d;
    int rc;

    rc = spawn(h, spec->name, &spec->uuid, spec->nr_pages, spec->nr_vcpus,
               NULL, NULL, spec->disks, spec->nr_disks, domid_r);
    if (rc < 0)
        return rc;
    /* Connect now: this connection is the lease that keeps the incoming
     * VMM alive until it runs (see vmm_main.c). */
    rc = get_dom(h, *domid_r, &d);
    if (rc < 0)
        vmmc_destroy(h, *domid_r);
    return rc;
}

int vmmc_boot(struct hv_handle *h, const struct hv_boot_spec *spec,
              uint32_t *domid_r)
{
    /* xm-vmm loads one Multiboot ELF: a ramdisk or a guest type it
     * cannot honour is refused, never dropped. */
    if (spec->ramdisk || spec->guest_type)
        return xt_error(h->ctx, -ENOTSUP, "the %s driver boots a Multiboot "
                        "ELF alone: %s %s is not supported", h->ops->name,
                        spec->ramdisk ? "ramdisk" : "guest type",
                        spec->ramdisk ? spec->ramdisk : spec->guest_type);
    return spawn(h, spec->name, &spec->uuid, spec->nr_pages, spec->nr_vcpus,
                 spec->kernel, spec->cmdline, spec->disks, spec->nr_disks,
                 domid_r);
}

/* Maps the domain's RAM for good (first use; views on other threads may
 * race to it: the first mapping is published with release semantics, and
 * mem_size, nr_pages, memfd are set before it, so that a thread that sees
 * d->mem (acquire) sees them too). */
static int map_ram(struct hv_handle *h, struct vmmc_dom *d)
{
    struct vmm_info in;
    struct stat st;
    void *mem;
    int fd = -1, rc;

    if (__atomic_load_n(&d->mem, __ATOMIC_ACQUIRE))
        return 0;
    rc = fetch_info(h, d->domid, &in);
    if (rc < 0)
        return rc;
    rc = call_dom(h, d, VMM_CMD_GET_MEMFD, NULL, 0, NULL, NULL, &fd, NULL);
    if (rc < 0)
        return rc;
    if (fd < 0)
        return xt_error(h->ctx, -EPROTO, "domain %u: no memfd passed",
                        d->domid);
    if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != in.nr_pages << 12) {
        close(fd);
        return xt_error(h->ctx, -EPROTO, "domain %u: memfd size does not "
                        "match %llu pages", d->domid,
                        (unsigned long long)in.nr_pages);
    }
    mem = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (mem == MAP_FAILED) {
        close(fd);
        return xt_error(h->ctx, -errno, "domain %u: mapping guest RAM",
                        d->domid);
    }
    pthread_mutex_lock(&d->lock);
    if (d->mem) {
        munmap(mem, st.st_size);        /* another thread was faster */
        close(fd);
    } else {
        d->mem_size = st.st_size;
        d->nr_pages = in.nr_pages;
        d->memfd = fd;
        __atomic_store_n(&d->mem, (uint8_t *)mem, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&d->lock);
    return 0;
}

int vmmc_map_batch(struct hv_handle *h, uint32_t domid, int prot,
                   const uint64_t *pfns, size_t n, void **pages_r,
                   struct hv_mapping **map_r)
{
    struct vmmc_dom *d;
    size_t i;
    int rc;

    (void)prot;     /* the RAM mapping is read-write */
    *map_r = NULL;
    rc = get_dom(h, domid, &d);
    if (rc < 0)
        return rc;
    rc = map_ram(h, d);
    if (rc < 0)
        return rc;
    for (i = 0; i < n; i++) {
        if (pfns[i] < d->nr_pages) {
            pages_r[i] = d->mem + (pfns[i] << 12);
        } else {
            pages_r[i] = NULL;
            rc = -EFAULT;
        }
    }
    if (rc < 0)
        return xt_error(h->ctx, rc, "domain %u: map: pfn beyond its %llu "
                        "pages", domid, (unsigned long long)d->nr_pages);
    return 0;
}

void vmmc_unmap(struct hv_handle *h, struct hv_mapping *map)
{
    (void)h;
    (void)map;  /* RAM stays mapped until destroy/close */
}

int vmmc_logdirty(struct hv_handle *h, uint32_t domid, bool enable)
{
    struct vmm_req_u32 req = { .value = enable };

    return call(h, domid, VMM_CMD_LOGDIRTY, &req, sizeof(req), NULL, NULL);
}

static int dirty(struct hv_handle *h, uint32_t domid, uint16_t cmd,
                 uint64_t *bitmap, uint64_t nr_pages, uint64_t *dirty_r)
{
    struct vmm_req_u64 req = { .value = nr_pages };
    struct vmm_bitmap_reply br;
    size_t words = XT_BITMAP_WORDS(nr_pages);
    void *r = NULL;
    size_t rl;
    int rc;

    rc = call(h, domid, cmd, &req, sizeof(req), &r, &rl);
    if (rc < 0)
        return rc;
    if (rl != sizeof(br) + words * 8) {
        rc = xt_error(h->ctx, -EPROTO, "domain %u: %s reply of %zu bytes "
                      "for %llu pages", domid, vmm_cmd_name(cmd), rl,
                      (unsigned long long)nr_pages);
        goto out;
    }
    memcpy(&br, r, sizeof(br));
    if (br.nr_pages != nr_pages) {
        rc = xt_error(h->ctx, -EPROTO, "domain %u: bitmap of %llu pages",
                      domid, (unsigned long long)br.nr_pages);
        goto out;
    }
    memcpy(bitmap, (char *)r + sizeof(br), words * 8);
    *dirty_r = br.dirty;
out:
    free(r);
    return rc;
}

int vmmc_dirty_harvest(struct hv_handle *h, uint32_t domid, uint64_t *bitmap,
                       uint64_t nr_pages, uint64_t *dirty_r)
{
    return dirty(h, domid, VMM_CMD_HARVEST, bitmap, nr_pages, dirty_r);
}

int vmmc_dirty_peek(struct hv_handle *h, uint32_t domid, uint64_t *bitmap,
                    uint64_t nr_pages, uint64_t *dirty_r)
{
    return dirty(h, domid, VMM_CMD_PEEK, bitmap, nr_pages, dirty_r);
}

int vmmc_pause(struct hv_handle *h, uint32_t domid)
{
    return call(h, domid, VMM_CMD_PAUSE, NULL, 0, NULL, NULL);
}

int vmmc_unpause(struct hv_handle *h, uint32_t domid)
{
    return call(h, domid, VMM_CMD_RESUME, NULL, 0, NULL, NULL);
}

int vmmc_shutdown_request(struct hv_handle *h, uint32_t domid)
{
    return call(h, domid, VMM_CMD_SHUTDOWN_REQUEST, NULL, 0, NULL, NULL);
}

int vmmc_throttle(struct hv_handle *h, uint32_t domid, unsigned pct)
{
    struct vmm_req_u32 req = { .value = pct };

    return call(h, domid, VMM_CMD_THROTTLE, &req, sizeof(req), NULL, NULL);
}

int vmmc_state_save(struct hv_handle *h, uint32_t domid, void **blob_r,
                    size_t *len_r)
{
    int rc = call(h, domid, VMM_CMD_STATE_SAVE, NULL, 0, blob_r, len_r);

    if (rc == 0 && *len_r < sizeof(struct hv_state_hdr)) {
        free(*blob_r);
        *blob_r = NULL;
        return xt_error(h->ctx, -EPROTO, "domain %u: state blob of %zu "
                        "bytes", domid, *len_r);
    }
    return rc;
}

int vmmc_state_restore(struct hv_handle *h, uint32_t domid, const void *blob,
                       size_t len)
{
    if (len > VMM_MSG_MAX)
        return xt_error(h->ctx, -E2BIG, "domain %u: state blob of %zu bytes "
                        "is over the protocol's limit", domid, len);
    return call(h, domid, VMM_CMD_STATE_RESTORE, blob, len, NULL, NULL);
}

int vmmc_guest_stats(struct hv_handle *h, uint32_t domid, unsigned flags,
                     struct hv_guest_stats *s)
{
    struct vmm_req_u32 req = { .value = 0 };
    struct vmm_guest_stats gs;
    void *r = NULL;
    size_t rl;
    int rc;

    if (flags & HV_STATS_RESET_GAP)
        req.value |= VMM_STATS_RESET_GAP;
    rc = call(h, domid, VMM_CMD_GUEST_STATS, &req, sizeof(req), &r, &rl);
    if (rc < 0)
        return rc;
    if (rl != sizeof(gs)) {
        free(r);
        return xt_error(h->ctx, -EPROTO, "domain %u: guest stats of %zu "
                        "bytes", domid, rl);
    }
    memcpy(&gs, r, sizeof(gs));
    free(r);
    s->is_test_guest = gs.is_test_guest;
    s->ready = gs.ready;
    s->exited = gs.exited;
    s->exit_code = gs.exit_code;
    s->hb_count = gs.hb_count;
    s->hb_first_seq = gs.hb_first_seq;
    s->hb_first_ns = gs.hb_first_ns;
    s->hb_last_seq = gs.hb_last_seq;
    s->hb_last_ns = gs.hb_last_ns;
    s->hb_max_gap_ns = gs.hb_max_gap_ns;
    s->hb_seq_breaks = gs.hb_seq_breaks;
    s->mismatches = gs.mismatches;
    s->last_mismatch_pfn = gs.last_mismatch_pfn;
    s->pages_written = gs.pages_written;
    s->disk_writes = gs.disk_writes;
    s->disk_reads = gs.disk_reads;
    s->disk_mismatches = gs.disk_mismatches;
    s->last_disk_mismatch_block = gs.last_disk_mismatch_block;
    s->disk_errors = gs.disk_errors;
    s->disk_hp_attached = gs.disk_hp_attached;
    s->disk_hp_ejected = gs.disk_hp_ejected;
    s->disk_hp_refused = gs.disk_hp_refused;
    s->disk_hp_stamps = gs.disk_hp_stamps;
    s->disk_hp_slots = gs.disk_hp_slots;
    s->idle_sleeps = gs.idle_sleeps;
    s->idle_ns = gs.idle_ns;
    return 0;
}

/* A disk command: its request (len bytes, uri_len already set) followed
 * by the URI's bytes. */
static int call_uri(struct hv_handle *h, uint32_t domid, uint16_t cmd,
                    const void *req, size_t len, const char *uri,
                    const char *what)
{
    size_t ul = strlen(uri);
    uint8_t *buf;
    int rc;

    if (ul > VMM_DISK_URI_MAX)
        return xt_error(h->ctx, -ENAMETOOLONG, "domain %u: disk URI of %zu "
                        "bytes (at most %u)", domid, ul, VMM_DISK_URI_MAX);
    buf = malloc(len + ul);
    if (!buf)
        return xt_error(h->ctx, -ENOMEM, "%s", what);
    memcpy(buf, req, len);
    memcpy(buf + len, uri, ul);
    rc = call(h, domid, cmd, buf, len + ul, NULL, NULL);
    free(buf);
    return rc;
}

int vmmc_disk_plug(struct hv_handle *h, uint32_t domid,
                   const struct hv_disk *disk)
{
    struct vmm_disk_add req = {
        .slot = disk->slot,
        .flags = disk->read_only ? VMM_DISK_RO : 0,
        .uri_len = (uint32_t)strlen(disk->uri),
    };

    return call_uri(h, domid, VMM_CMD_DISK_ADD, &req, sizeof(req),
                    disk->uri, "disk plug");
}

int vmmc_disk_unplug(struct hv_handle *h, uint32_t domid, unsigned slot,
                     unsigned flags, unsigned wait_ms)
{
    struct vmm_disk_remove req = {
        .slot = slot,
        .flags = (flags & HV_UNPLUG_FORCE) ? VMM_DISK_FORCE : 0,
        .wait_ms = wait_ms,
    };

    /* The VMM answers within wait_ms (bounded below CALL_TIMEOUT_MS). */
    if (wait_ms > VMM_DISK_WAIT_MAX_MS)
        return xt_error(h->ctx, -EINVAL, "domain %u: unplug wait of %u ms "
                        "(at most %u)", domid, wait_ms, VMM_DISK_WAIT_MAX_MS);
    return call(h, domid, VMM_CMD_DISK_REMOVE, &req, sizeof(req), NULL,
                NULL);
}

int vmmc_disk_retarget(struct hv_handle *h, uint32_t domid, unsigned slot,
                       const char *uri)
{
    struct vmm_disk_retarget req = {
        .slot = slot,
        .uri_len = (uint32_t)strlen(uri),
        /* flags 0: the disk keeps its read-only flag; timeout_ms 0: and
         * its request timeout */
    };

    return call_uri(h, domid, VMM_CMD_DISK_RETARGET, &req, sizeof(req), uri,
                    "disk retarget");
}

int vmmc_populated(struct hv_handle *h, uint32_t domid, uint64_t first,
                   uint64_t nr, uint64_t *bitmap, uint64_t *count_r)
{
    struct vmmc_dom *d;
    off_t off, end, size;
    uint64_t p, last = first + nr, count = 0;
    int rc;

    rc = get_dom(h, domid, &d);
    if (rc == 0)
        rc = map_ram(h, d);
    if (rc < 0)
        return rc;
    if (last > d->nr_pages)
        return xt_error(h->ctx, -EINVAL, "domain %u: populated map of pfns "
                        "%#llx+%llu asked, it has %llu pages", domid,
                        (unsigned long long)first, (unsigned long long)nr,
                        (unsigned long long)d->nr_pages);
    xt_bitmap_zero(bitmap, nr);
    off = (off_t)(first << 12);
    size = (off_t)(last << 12);
    /* The memfd's data extents are exactly the pages ever written. */
    while (off < size) {
        off = lseek(d->memfd, off, SEEK_DATA);
        if (off < 0) {
            if (errno == ENXIO)
                break;      /* no data after off */
            return xt_error(h->ctx, -errno, "domain %u: SEEK_DATA", domid);
        }
        end = lseek(d->memfd, off, SEEK_HOLE);
        if (end < 0 || end > size)
            end = size;
        for (p = (uint64_t)off >> 12;
             p < ((uint64_t)end + 4095) >> 12 && p < last; p++) {
            xt_bitmap_set(bitmap, p - first);
            count++;
        }
        off = end;
    }
    *count_r = count;
    return 0;
}

/* Is pid gone (or a zombie nobody reaps)? */
static bool process_gone(pid_t pid)
{
    char path[64], buf[256];
    ssize_t r;
    char *p;
    int fd;

    waitpid(pid, NULL, WNOHANG);    /* reap it if it is our child */
    if (kill(pid, 0) < 0 && errno == ESRCH)
        return true;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return true;
    r = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (r <= 0)
        return true;
    buf[r] = '\0';
    p = strrchr(buf, ')');
    return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

int vmmc_destroy(struct hv_handle *h, uint32_t domid)
{
    struct vmmc *v = vmmc_of(h);
    struct vmmc_dom *d;
    char path[PATH_MAX];
    uint64_t deadline;
    bool quiet = h->ctx->quiet_errors;
    int rc;

    rc = get_dom(h, domid, &d);
    if (rc < 0)
        return rc;
    /* Ask nicely; a VMM that does not answer is killed. */
    h->ctx->quiet_errors = true;
    rc = call_dom(h, d, VMM_CMD_SHUTDOWN, NULL, 0, NULL, NULL, NULL, NULL);
    h->ctx->quiet_errors = quiet;
    xt_error_clear(h->ctx);
    drop_dom(h, d);
    deadline = xt_now_ns() + DESTROY_TIMEOUT_MS * 1000000ull;
    while (!process_gone(domid)) {
        if (xt_now_ns() > deadline) {
            xt_warn(h->ctx, "domain %u: VMM did not exit, killing it",
                    domid);
            kill(domid, SIGKILL);
            deadline = xt_now_ns() + DESTROY_TIMEOUT_MS * 1000000ull;
            while (!process_gone(domid) && xt_now_ns() < deadline)
                usleep(1000);
            break;
        }
        usleep(1000);
    }
    if (!process_gone(domid))
        return xt_error(h->ctx, -EBUSY, "domain %u: VMM survived SIGKILL",
                        domid);
    if (sock_path(v, domid, path, sizeof(path)) == 0)
        unlink(path);
    snprintf(path, sizeof(path), "%s/%u.log", v->run_dir, domid);
    unlink(path);
    (void)rc;
    return 0;
}

int vmmc_raw_exchange(struct hv_handle *h, uint32_t domid, const void *bytes,
                      size_t len, int *status_r, char *msg, size_t msg_size)
{
    struct vmm_reply_status rs;
    struct vmm_msg_hdr hdr;
    void *payload = NULL;
    int fd = -1, rc;

    *status_r = 0;
    if (msg_size)
        msg[0] = '\0';
    rc = connect_vmm(h, domid, &fd);
    if (rc < 0)
        return rc;
    rc = xt_write_full(fd, bytes, len, CALL_TIMEOUT_MS);
    if (rc < 0) {
        xt_error(h->ctx, rc, "raw exchange: send");
        goto out;
    }
    rc = vmm_msg_recv(h->ctx, fd, true, &hdr, &payload, NULL,
                      CALL_TIMEOUT_MS);
    if (rc < 0) {
        *status_r = rc;
        goto out;
    }
    if (hdr.len < sizeof(rs)) {
        rc = xt_error(h->ctx, -EPROTO, "raw exchange: short reply");
        goto out;
    }
    memcpy(&rs, payload, sizeof(rs));
    *status_r = rs.status;
    if (msg_size && rs.msg_len && rs.msg_len <= hdr.len - sizeof(rs))
        snprintf(msg, msg_size, "%.*s", (int)rs.msg_len,
                 (char *)payload + sizeof(rs));
out:
    free(payload);
    if (fd >= 0)
        close(fd);
    return rc;
}
