/*
 * vmm_main.c - xm-vmm: one process per VM.  Guest RAM in a memfd that
 * clients map too; a Unix control socket speaking vmm_proto.h
 * (docs/specs/vmm-control.md); the CPU is an engine (kvm or sim).
 *
 *   xm-vmm --engine kvm|sim --run-dir DIR --mem-mib N [--vcpus N]
 *          [--name NAME] [--uuid UUID] [--ready-fd FD] [--log-level L]
 *          [--disk [SLOT=]URI | --disk-ro [SLOT=]URI]...
 *          (--kernel ELF [--cmdline STR] | --incoming)
 *
 * Each --disk (--disk-ro: read-only) is a libnbd URI, e.g.
 * nbd+unix:///?socket=PATH or nbd://HOST:PORT/EXPORT, in slot SLOT (1..8,
 * its PCI device number for the kvm engine, vmm_pci.h) or, without one,
 * in the lowest slot no other --disk names; at most 8.  More come and go
 * while the VM runs (DISK_ADD, DISK_REMOVE: vmm_hotplug.c); a paused
 * VM's disk can be pointed at another export (DISK_RETARGET).
 * The control socket is DIR/<pid>.sock; the domain id is the pid.  Once the
 * socket listens and the guest is started (or waits for an incoming
 * migration), "ready <pid>\n" is written to FD.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "vmm_internal.h"
#include "xmg_abi.h"

#define MAX_CLIENTS     16
#define IO_TIMEOUT_MS   10000

struct opts {
    const char *engine;
    const char *run_dir;
    const char *name;
    const char *uuid;
    const char *kernel;
    const char *cmdline;
    uint64_t mem_mib;
    uint32_t vcpus;
    int ready_fd;
    bool incoming;
    enum xt_log_level level;
    struct vmm_disk_cfg disks[VMM_MAX_DISKS];
    unsigned nr_disks;
    unsigned disk_timeout_ms;   /* 0: the default */
};

struct server {
    struct vmm *vm;
    int listen_fd;
    int clients[MAX_CLIENTS];
    char sock_path[PATH_MAX];
    bool quit;
    /* An incoming VM belongs to whoever builds it until it first runs:
     * when its last client leaves before that (a receiver that crashed or
     * gave up), nobody can finish it and the VMM exits.  So does one that
     * nobody connects to within LEASE_TIMEOUT_MS. */
    bool lease;
    bool discard;               /* abandoned: leave no trace */
    bool had_client;
    uint64_t lease_deadline_ns;
};

#define LEASE_TIMEOUT_MS 60000

/* Set by SIGTERM/SIGINT; the poll loop notices.  The only global: a
 * signal handler has no other way to talk to main(). */
static volatile sig_atomic_t got_term;

static void on_term(int sig)
{
    (void)sig;
    got_term = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
"usage: xm-vmm --engine kvm|sim --run-dir DIR --mem-mib N [--vcpus N]\n"
"              [--name NAME] [--uuid UUID] [--ready-fd FD] [--log-level L]\n"
"              [--disk [SLOT=]URI | --disk-ro [SLOT=]URI]...\n"
"              [--disk-timeout-ms MS]\n"
"              (--kernel ELF [--cmdline STR] | --incoming)\n"
"\n"
"  --disk [SLOT=]URI  a virtio-blk disk on the NBD export at URI, a\n"
"                  libnbd URI (nbd+unix:///?socket=PATH,\n"
"                  nbd://HOST:PORT/NAME), in slot SLOT (1..%u, its PCI\n"
"                  device number) or else the lowest slot left free\n"
"  --disk-ro [SLOT=]URI  the same, read-only for the guest\n"
"  --disk-timeout-ms MS  a disk request the server does not answer for\n"
"                  MS fails with IOERR and its connection is dropped\n"
"                  (default %u)\n", VMM_MAX_DISKS, VMM_DISK_TIMEOUT_MS);
}

static int parse_u64(const char *s, uint64_t *v)
{
    char *end;

    errno = 0;
    *v = strtoull(s, &end, 10);
    return (errno || end == s || *end || s[0] == '-') ? -EINVAL : 0;
}

/* "[SLOT=]URI": a decimal slot prefix, or none (URIs start with "nbd",
 * so the two never mix up).  Slot 0 means "pick one" (free_slots). */
static int parse_disk(struct xt_ctx *ctx, const char *arg,
                      struct vmm_disk_cfg *d)
{
    size_t n = strspn(arg, "0123456789");
    char num[8];
    uint64_t v;

    d->slot = 0;
    d->uri = arg;
    if (n && arg[n] == '=') {
        if (n >= sizeof(num))
            return xt_error(ctx, -EINVAL, "--disk: slot in '%s' (1..%u)",
                            arg, VMM_MAX_DISKS);
        memcpy(num, arg, n);
        num[n] = '\0';
        if (parse_u64(num, &v) < 0 || v < 1 || v > VMM_MAX_DISKS)
            return xt_error(ctx, -EINVAL, "--disk: slot in '%s' (1..%u)",
                            arg, VMM_MAX_DISKS);
        d->slot = (unsigned)v;
        d->uri = arg + n + 1;
    }
    if (!*d->uri)
        return xt_error(ctx, -EINVAL, "--disk: an empty URI");
    return 0;
}

/* Disks without a slot get the lowest ones no --disk names; a slot given
 * twice is refused. */
static int free_slots(struct xt_ctx *ctx, struct opts *o)
{
    uint32_t used = 0;
    unsigned i, s = 1;

    for (i = 0; i < o->nr_disks; i++) {
        if (!o->disks[i].slot)
            continue;
        if (used & (1u << o->disks[i].slot))
            return xt_error(ctx, -EINVAL, "--disk: slot %u given twice",
                            o->disks[i].slot);
        used |= 1u << o->disks[i].slot;
    }
    for (i = 0; i < o->nr_disks; i++) {
        if (o->disks[i].slot)
            continue;
        while (used & (1u << s))
            s++;
        o->disks[i].slot = s;
        used |= 1u << s;
    }
    return 0;
}

static int parse_args(struct xt_ctx *ctx, int argc, char **argv,
                      struct opts *o)
{
    static const struct option lo[] = {
        { "engine", required_argument, NULL, 'e' },
        { "run-dir", required_argument, NULL, 'r' },
        { "mem-mib", required_argument, NULL, 'm' },
        { "vcpus", required_argument, NULL, 'c' },
        { "name", required_argument, NULL, 'n' },
        { "uuid", required_argument, NULL, 'u' },
        { "kernel", required_argument, NULL, 'k' },
        { "cmdline", required_argument, NULL, 'a' },
        { "ready-fd", required_argument, NULL, 'f' },
        { "incoming", no_argument, NULL, 'i' },
        { "log-level", required_argument, NULL, 'l' },
        { "disk", required_argument, NULL, 'd' },
        { "disk-ro", required_argument, NULL, 'D' },
        { "disk-timeout-ms", required_argument, NULL, 'T' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    uint64_t v;
    int c, rc;

    memset(o, 0, sizeof(*o));
    o->engine = "kvm";
    o->vcpus = 1;
    o->ready_fd = -1;
    o->level = XT_LOG_INFO;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'e': o->engine = optarg; break;
        case 'r': o->run_dir = optarg; break;
        case 'n': o->name = optarg; break;
        case 'u': o->uuid = optarg; break;
        case 'k': o->kernel = optarg; break;
        case 'a': o->cmdline = optarg; break;
        case 'i': o->incoming = true; break;
        case 'd':
        case 'D':
            if (o->nr_disks == VMM_MAX_DISKS)
                return xt_error(ctx, -EINVAL, "--disk: at most %u disks",
                                VMM_MAX_DISKS);
            rc = parse_disk(ctx, optarg, &o->disks[o->nr_disks]);
            if (rc < 0)
                return rc;
            o->disks[o->nr_disks++].ro = c == 'D';
            break;
        case 'T':
            if (parse_u64(optarg, &v) < 0 || v < 10 || v > 3600000)
                return xt_error(ctx, -EINVAL, "--disk-timeout-ms: '%s' "
                                "(10..3600000)", optarg);
            o->disk_timeout_ms = (unsigned)v;
            break;
        case 'm':
            if (parse_u64(optarg, &o->mem_mib) < 0 || !o->mem_mib ||
                o->mem_mib > (1u << 20))
                return xt_error(ctx, -EINVAL, "--mem-mib: '%s' is not a "
                                "size in MiB (1..1048576)", optarg);
            break;
        case 'c':
            if (parse_u64(optarg, &v) < 0 || !v || v > 64)
                return xt_error(ctx, -EINVAL, "--vcpus: '%s' (1..64)",
                                optarg);
            o->vcpus = v;
            break;
        case 'f':
            if (parse_u64(optarg, &v) < 0 || v > INT_MAX)
                return xt_error(ctx, -EINVAL, "--ready-fd: '%s'", optarg);
            o->ready_fd = (int)v;
            break;
        case 'l':
            if (xt_log_level_parse(optarg, &o->level) < 0)
                return xt_error(ctx, -EINVAL, "--log-level: '%s'", optarg);
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -EINVAL;
        }
    }
    if (optind < argc)
        return xt_error(ctx, -EINVAL, "unexpected argument '%s'",
                        argv[optind]);
    if (!o->run_dir || !o->mem_mib)
        return xt_error(ctx, -EINVAL, "--run-dir and --mem-mib are needed");
    if (!!o->kernel == o->incoming)
        return xt_error(ctx, -EINVAL, "give exactly one of --kernel and "
                        "--incoming");
    return free_slots(ctx, o);
}

static int reply(struct server *srv, int fd, const struct vmm_msg_hdr *req,
                 int status, const void *data, size_t len, int pass_fd)
{
    struct vmm_reply_status rs = { .status = status };
    const char *msg = srv->vm->ctx->err_msg;
    size_t total;
    char *buf;
    int rc;

    if (status < 0) {
        data = msg;
        len = strlen(msg);
        rs.msg_len = len;
    }
    total = sizeof(rs) + len;
    buf = malloc(total);
    if (!buf)
        return -ENOMEM;
    memcpy(buf, &rs, sizeof(rs));
    if (len)
        memcpy(buf + sizeof(rs), data, len);
    rc = vmm_msg_send(fd, req->type | VMM_REPLY, req->seq, buf, total,
                      pass_fd, IO_TIMEOUT_MS);
    free(buf);
    return rc;
}

static void fill_info(struct vmm *vm, struct vmm_info *in)
{
    memset(in, 0, sizeof(*in));
    /* Fixed-size, NUL-padded fields. */
    memcpy(in->engine, vm->eng->name,
           strnlen(vm->eng->name, sizeof(in->engine) - 1));
    memcpy(in->name, vm->name, strnlen(vm->name, sizeof(in->name) - 1));
    memcpy(in->uuid, vm->uuid.b, sizeof(in->uuid));
    in->nr_pages = vm->nr_pages;
    in->nr_vcpus = vm->nr_vcpus;
    pthread_mutex_lock(&vm->lock);
    in->state = vm->state;
    in->logdirty = vm->logdirty;
    in->throttle_pct = vm->throttle_pct;
    pthread_mutex_unlock(&vm->lock);
    in->pid = getpid();
    in->tsc_khz = vm->tsc_khz;
}

/* Payload size a request must have. */
static int expect_len(struct vmm *vm, const struct vmm_msg_hdr *h,
                      size_t want)
{
    if (h->len != want)
        return xt_error(vm->ctx, -EINVAL, "%s: payload of %u bytes, want "
                        "%zu", vmm_cmd_name(h->type), h->len, want);
    return 0;
}

static int do_dirty(struct server *srv, int fd, const struct vmm_msg_hdr *h,
                    const void *p, bool clear)
{
    struct vmm *vm = srv->vm;
    struct vmm_req_u64 req;
    struct vmm_bitmap_reply *br = NULL;
    size_t words = XT_BITMAP_WORDS(vm->nr_pages);
    uint64_t count = 0;
    int rc;

    rc = expect_len(vm, h, sizeof(req));
    if (rc < 0)
        goto out;
    memcpy(&req, p, sizeof(req));
    if (req.value != vm->nr_pages) {
        rc = xt_error(vm->ctx, -EINVAL, "%s: bitmap of %llu pages asked, the "
                      "guest has %llu", vmm_cmd_name(h->type),
                      (unsigned long long)req.value,
                      (unsigned long long)vm->nr_pages);
        goto out;
    }
    br = malloc(sizeof(*br) + words * 8);
    if (!br) {
        rc = xt_error(vm->ctx, -ENOMEM, "dirty bitmap reply");
        goto out;
    }
    rc = vm->eng->dirty(vm, (uint64_t *)(br + 1), clear, &count);
    if (rc < 0)
        goto out;
    br->nr_pages = vm->nr_pages;
    br->dirty = count;
    rc = reply(srv, fd, h, 0, br, sizeof(*br) + words * 8, -1);
    free(br);
    return rc;
out:
    free(br);
    return reply(srv, fd, h, rc, NULL, 0, -1);
}

/* Asks the test guest to shut down: the shutdown request word of its
 * params page (guest/xmg_abi.h), which the workload reads at its next
 * heartbeat (in the guest, or in the sim engine's writer thread). */
static int shutdown_request(struct vmm *vm)
{
    uint64_t *req;
    enum vmm_state state;

    if (!vm->test_guest)
        return xt_error(vm->ctx, -ENOTSUP, "shutdown request: the guest "
                        "is not a test guest (no shutdown protocol)");
    pthread_mutex_lock(&vm->lock);
    state = vm->state;
    pthread_mutex_unlock(&vm->lock);
    if (state != VMM_STATE_RUNNING && state != VMM_STATE_PAUSED)
        return xt_error(vm->ctx, -EINVAL, "shutdown request: the VM is %s",
                        vmm_state_name(state));
    if (vm->params_gpa > vm->mem_size ||
        vm->mem_size - vm->params_gpa < sizeof(struct xmg_params))
        return xt_error(vm->ctx, -EINVAL, "shutdown request: params page "
                        "%#llx is outside guest RAM",
                        (unsigned long long)vm->params_gpa);
    req = (uint64_t *)(vm->mem + vm->params_gpa +
                       offsetof(struct xmg_params, shutdown_req));
    __atomic_store_n(req, XMG_SHUTDOWN_MAGIC, __ATOMIC_RELEASE);
    xt_log(vm->ctx, XT_LOG_INFO, "shutdown requested from the guest");
    return 0;
}

/* Handles one request; returns < 0 when the connection must close. */
static int dispatch(struct server *srv, int fd, const struct vmm_msg_hdr *h,
                    const void *p)
{
    struct vmm *vm = srv->vm;
    struct vmm_info info;
    struct vmm_guest_stats gs;
    struct vmm_disk_list dl;
    struct vmm_req_u32 r32;
    void *blob = NULL;
    size_t blen = 0;
    int rc = 0;

    xt_error_clear(vm->ctx);
    switch (h->type) {
    case VMM_CMD_HELLO:
    case VMM_CMD_INFO:
        fill_info(vm, &info);
        return reply(srv, fd, h, 0, &info, sizeof(info), -1);
    case VMM_CMD_GET_MEMFD:
        return reply(srv, fd, h, 0, NULL, 0, vm->memfd);
    case VMM_CMD_PAUSE:
        if (vm->state == VMM_STATE_INCOMING)
            rc = 0;
        else if (vm->state != VMM_STATE_RUNNING &&
                 vm->state != VMM_STATE_PAUSED)
            rc = xt_error(vm->ctx, -EINVAL, "pause: the VM is %s",
                          vmm_state_name(vm->state));
        else
            rc = vm->eng->pause(vm);
        break;
    case VMM_CMD_RESUME:
        if (vm->state == VMM_STATE_INCOMING)
            rc = xt_error(vm->ctx, -EINVAL, "resume: no state restored yet");
        else
            rc = vm->eng->resume(vm);
        if (rc == 0)
            srv->lease = false;     /* the VM runs: it stands on its own */
        break;
    case VMM_CMD_LOGDIRTY:
        rc = expect_len(vm, h, sizeof(r32));
        if (rc < 0)
            break;
        memcpy(&r32, p, sizeof(r32));
        if (r32.value > 1) {
            rc = xt_error(vm->ctx, -EINVAL, "logdirty: value %u (0 or 1)",
                          r32.value);
            break;
        }
        rc = vm->eng->logdirty(vm, r32.value);
        if (rc == 0) {
            pthread_mutex_lock(&vm->lock);
            vm->logdirty = r32.value;
            pthread_mutex_unlock(&vm->lock);
        }
        break;
    case VMM_CMD_HARVEST:
    case VMM_CMD_PEEK:
        return do_dirty(srv, fd, h, p, h->type == VMM_CMD_HARVEST);
    case VMM_CMD_THROTTLE:
        rc = expect_len(vm, h, sizeof(r32));
        if (rc < 0)
            break;
        memcpy(&r32, p, sizeof(r32));
        if (r32.value > 99) {
            rc = xt_error(vm->ctx, -EINVAL, "throttle: %u%% (0..99)",
                          r32.value);
            break;
        }
        rc = vm->eng->throttle(vm, r32.value);
        break;
    case VMM_CMD_STATE_SAVE:
        rc = vm->eng->state_save(vm, &blob, &blen);
        if (rc == 0) {
            rc = reply(srv, fd, h, 0, blob, blen, -1);
            free(blob);
            return rc;
        }
        break;
    case VMM_CMD_STATE_RESTORE:
        rc = vm->eng->state_restore(vm, p, h->len);
        if (rc == 0)
            vmm_guest_stats_reset(vm);
        break;
    case VMM_CMD_GUEST_STATS:
        /* Optional payload: VMM_STATS_RESET_GAP restarts the longest-gap
         * measurement after this reading. */
        if (h->len && (rc = expect_len(vm, h, sizeof(r32))) < 0)
            break;
        if (h->len)
            memcpy(&r32, p, sizeof(r32));
        vmm_guest_stats_get(vm, &gs);
        if (h->len && (r32.value & VMM_STATS_RESET_GAP)) {
            pthread_mutex_lock(&vm->lock);
            vm->gs.hb_max_gap_ns = 0;
            pthread_mutex_unlock(&vm->lock);
        }
        return reply(srv, fd, h, 0, &gs, sizeof(gs), -1);
    case VMM_CMD_SHUTDOWN:
        srv->quit = true;
        break;
    case VMM_CMD_SHUTDOWN_REQUEST:
        rc = expect_len(vm, h, 0);
        if (rc == 0)
            rc = shutdown_request(vm);
        break;
    case VMM_CMD_DISK_ADD:
        rc = vmm_disk_add(vm, p, h->len);
        break;
    case VMM_CMD_DISK_REMOVE:
        rc = vmm_disk_remove(vm, p, h->len);
        break;
    case VMM_CMD_DISK_LIST:
        rc = expect_len(vm, h, 0);
        if (rc < 0)
            break;
        vmm_disk_list(vm, &dl);
        return reply(srv, fd, h, 0, &dl, sizeof(dl), -1);
    case VMM_CMD_DISK_RETARGET:
        rc = vmm_disk_retarget(vm, p, h->len);
        break;
    default:
        rc = xt_error(vm->ctx, -EOPNOTSUPP, "unknown command %u", h->type);
        break;
    }
    return reply(srv, fd, h, rc, NULL, 0, -1);
}

/* One request from client fd; < 0 closes the connection. */
static int serve_one(struct server *srv, int fd)
{
    struct vmm *vm = srv->vm;
    struct vmm_msg_hdr h;
    void *payload = NULL;
    int rc;

    xt_error_clear(vm->ctx);
    rc = vmm_msg_recv(vm->ctx, fd, false, &h, &payload, NULL, IO_TIMEOUT_MS);
    if (rc == -EPIPE)
        return rc;      /* client left */
    if (rc < 0) {
        /* A malformed request: answer with the reason when the header is
         * readable enough to address a reply, then drop the connection
         * (its framing can no longer be trusted).  The VM is untouched. */
        struct vmm_msg_hdr bad = h;

        bad.type &= ~VMM_REPLY;
        if (bad.type == 0 || bad.type >= VMM_CMD_MAX_)
            bad.type = VMM_CMD_HELLO;
        reply(srv, fd, &bad, rc, NULL, 0, -1);
        return rc;
    }
    rc = dispatch(srv, fd, &h, payload);
    free(payload);
    return rc;
}

static int listen_on(struct server *srv, const char *run_dir)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct xt_ctx *ctx = srv->vm->ctx;
    int n;

    if (mkdir(run_dir, 0700) < 0 && errno != EEXIST)
        return xt_error(ctx, -errno, "creating run directory %s", run_dir);
    n = snprintf(srv->sock_path, sizeof(srv->sock_path), "%s/%d.sock",
                 run_dir, (int)getpid());
    if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
        return xt_error(ctx, -ENAMETOOLONG, "socket path in %s", run_dir);
    strcpy(sa.sun_path, srv->sock_path);
    unlink(srv->sock_path);
    srv->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (srv->listen_fd < 0)
        return xt_error(ctx, -errno, "control socket");
    if (bind(srv->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(srv->listen_fd, 8) < 0)
        return xt_error(ctx, -errno, "listening on %s", srv->sock_path);
    return 0;
}

static bool lease_expired(struct server *srv)
{
    int i;

    for (i = 0; i < MAX_CLIENTS; i++)
        if (srv->clients[i] >= 0) {
            srv->had_client = true;
            return false;
        }
    return srv->had_client || xt_now_ns() > srv->lease_deadline_ns;
}

static void serve(struct server *srv)
{
    struct pollfd pfd[MAX_CLIENTS + 1];
    int i;

    while (!srv->quit && !got_term) {
        int n = 0;

        pfd[n].fd = srv->listen_fd;
        pfd[n++].events = POLLIN;
        for (i = 0; i < MAX_CLIENTS; i++) {
            pfd[n].fd = srv->clients[i];
            pfd[n++].events = POLLIN;
        }
        if (poll(pfd, n, 500) <= 0)
            continue;
        if (pfd[0].revents & POLLIN) {
            int c = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC);

            for (i = 0; c >= 0 && i < MAX_CLIENTS; i++)
                if (srv->clients[i] < 0) {
                    srv->clients[i] = c;
                    srv->had_client = true;
                    c = -1;
                }
            if (c >= 0) {
                xt_warn(srv->vm->ctx, "control: more than %d clients, "
                        "refusing one", MAX_CLIENTS);
                close(c);
            }
        }
        for (i = 0; i < MAX_CLIENTS; i++) {
            if (srv->clients[i] < 0 || !pfd[i + 1].revents)
                continue;
            if (serve_one(srv, srv->clients[i]) < 0 || srv->quit) {
                close(srv->clients[i]);
                srv->clients[i] = -1;
            }
        }
        if (srv->lease && lease_expired(srv)) {
            xt_warn(srv->vm->ctx, "incoming VM abandoned by its builder "
                    "before it ran: discarding it");
            srv->quit = true;
            srv->discard = true;
        }
    }
}

static int setup_memory(struct vmm *vm, uint64_t mem_mib)
{
    vm->mem_size = mem_mib << 20;
    vm->nr_pages = vm->mem_size >> 12;
    vm->memfd = memfd_create("xm-guest-ram", MFD_CLOEXEC);
    if (vm->memfd < 0)
        return xt_error(vm->ctx, -errno, "memfd for guest RAM");
    if (ftruncate(vm->memfd, vm->mem_size) < 0)
        return xt_error(vm->ctx, -errno, "sizing guest RAM to %llu MiB",
                        (unsigned long long)mem_mib);
    vm->mem = mmap(NULL, vm->mem_size, PROT_READ | PROT_WRITE, MAP_SHARED,
                   vm->memfd, 0);
    if (vm->mem == MAP_FAILED) {
        vm->mem = NULL;
        return xt_error(vm->ctx, -errno, "mapping guest RAM");
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct xt_ctx *ctx = xt_ctx_new("xm-vmm");
    struct server srv;
    struct vmm vm;
    struct opts o;
    struct sigaction sa;
    uint64_t entry, stack, pt;
    int i, rc;

    if (!ctx)
        return 1;
    memset(&vm, 0, sizeof(vm));
    memset(&srv, 0, sizeof(srv));
    srv.listen_fd = -1;
    for (i = 0; i < MAX_CLIENTS; i++)
        srv.clients[i] = -1;
    srv.vm = &vm;
    vm.ctx = ctx;
    vm.memfd = -1;
    pthread_mutex_init(&vm.lock, NULL);

    rc = parse_args(ctx, argc, argv, &o);
    if (rc < 0)
        goto out;
    ctx->level = o.level;
    if (!strcmp(o.engine, "kvm")) {
        vm.eng = &vmm_kvm_engine;
    } else if (!strcmp(o.engine, "sim")) {
        vm.eng = &vmm_sim_engine;
    } else {
        rc = xt_error(ctx, -EINVAL, "--engine: '%s' (kvm or sim)", o.engine);
        goto out;
    }
    snprintf(vm.name, sizeof(vm.name), "%s", o.name ? o.name : "");
    if (o.uuid && xt_uuid_parse(o.uuid, &vm.uuid) < 0) {
        rc = xt_error(ctx, -EINVAL, "--uuid: '%s' is not a UUID", o.uuid);
        goto out;
    }
    if (!o.uuid && (rc = xt_uuid_generate(&vm.uuid)) < 0) {
        xt_error(ctx, rc, "generating a UUID");
        goto out;
    }
    vm.nr_vcpus = o.vcpus;
    vm.state = o.incoming ? VMM_STATE_INCOMING : VMM_STATE_PAUSED;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    rc = setup_memory(&vm, o.mem_mib);
    if (rc < 0)
        goto out;
    for (unsigned d = 0; d < o.nr_disks; d++)
        o.disks[d].timeout_ms = o.disk_timeout_ms;
    vm.disk_timeout_ms = o.disk_timeout_ms;
    vm.pci = vmm_pci_new(ctx, vm.mem, vm.mem_size, o.disks, o.nr_disks);
    if (!vm.pci) {
        rc = ctx->err_rc < 0 ? ctx->err_rc : -ENOMEM;
        goto out;
    }
    rc = vm.eng->init(&vm);
    if (rc < 0)
        goto out;
    srv.lease = o.incoming;
    srv.lease_deadline_ns = xt_now_ns() + LEASE_TIMEOUT_MS * 1000000ull;
    rc = listen_on(&srv, o.run_dir);
    if (rc < 0)
        goto out;
    if (o.kernel) {
        rc = vmm_guest_load(&vm, o.kernel, o.cmdline, &entry, &stack, &pt);
        if (rc < 0)
            goto out;
        rc = vm.eng->start_boot(&vm, entry, stack, pt);
        if (rc < 0)
            goto out;
    }
    xt_info(ctx, "%s VM '%s' pid %d: %llu MiB, %u vCPU(s), %u disk(s), %s, "
            "socket %s", vm.eng->name, vm.name, (int)getpid(),
            (unsigned long long)o.mem_mib, vm.nr_vcpus, o.nr_disks,
            o.incoming ? "waiting for an incoming migration" : "running",
            srv.sock_path);
    if (o.ready_fd >= 0) {
        char line[32];
        int n = snprintf(line, sizeof(line), "ready %d\n", (int)getpid());

        if (xt_write_full(o.ready_fd, line, n, 1000) < 0)
            xt_warn(ctx, "could not tell the parent we are ready");
        close(o.ready_fd);
        o.ready_fd = -1;
    }
    serve(&srv);
    xt_info(ctx, "shutting down (%s)", got_term ? "signal" : "requested");
    rc = 0;
out:
    if (o.ready_fd >= 0) {
        /* Tell a waiting parent why we failed. */
        dprintf(o.ready_fd, "error %d %s\n", rc, ctx->err_msg);
        close(o.ready_fd);
    }
    if (vm.eng)
        vm.eng->fini(&vm);
    vmm_pci_free(vm.pci);   /* after the vCPUs: flushes the disks */
    for (i = 0; i < MAX_CLIENTS; i++)
        if (srv.clients[i] >= 0)
            close(srv.clients[i]);
    if (srv.listen_fd >= 0) {
        close(srv.listen_fd);
        unlink(srv.sock_path);
    }
    if (srv.discard && o.run_dir) {
        /* Nobody will destroy an abandoned domain, so nobody would remove
         * the log its spawner opened for it. */
        char log[PATH_MAX];

        snprintf(log, sizeof(log), "%s/%d.log", o.run_dir, (int)getpid());
        unlink(log);
    }
    if (vm.mem)
        munmap(vm.mem, vm.mem_size);
    if (vm.memfd >= 0)
        close(vm.memfd);
    pthread_mutex_destroy(&vm.lock);
    xt_ctx_free(ctx);
    return rc < 0 ? 1 : 0;
}
