/*
 * nbdkit_xmvdi.c - the block service's backend: an nbdkit plugin that
 * serves one VDI of one SR, opened through sr/ (docs/design/storage.md).
 *
 *   nbdkit [-r] -U SOCKET nbdkit-xmvdi-plugin.so \
 *       sr_type=shared-file sr_uuid=UUID location=/srv/sr vdi=UUID [mode=ro]
 *       [lock=start|connection] [peer=ADDR] [ctl=SOCKET]
 *
 * nbdkit speaks the protocol (fixed newstyle, structured replies, meta
 * contexts, TLS, several requests in flight, multi-conn); this file maps
 * its calls onto sr_vdi_*: WRITE with FUA, FLUSH, TRIM, WRITE_ZEROES with
 * and without NO_HOLE, BLOCK_STATUS base:allocation.
 *
 * lock=start (the default): the VDI is opened (and its lock taken) once,
 * before the first connection; a VDI in use elsewhere stops nbdkit at
 * start with VDI_IN_USE's reason.  lock=connection: the VDI is opened
 * when the first connection opens and closed (its lock dropped) when the
 * last one closes; a connection that finds it in use elsewhere is
 * refused with VDI_IN_USE.  That is how a live migration hands a VDI on
 * a shared SR over: both hosts run a backend, and the VMM that runs the
 * guest is the one connected (docs/design/storage.md).
 *
 * peer=ADDR (a numeric IPv4 or IPv6 address): only a client from that
 * address is let in, checked when it connects, before TLS and before
 * anything is read from it (the export of a VDI for one peer host).
 *
 * ctl=SOCKET: a unix socket where the daemon drives a mirror of the VDI
 * (vdi/mirror.h, the protocol in mirror_ctl.h): while one exists, every
 * write goes through it.  A mirror holds the VDI open (lock=connection)
 * while no client is connected, so the copy goes on while a VM pauses.
 * One control client is served at a time (the daemon), each read bounded
 * so that an idle one cannot keep the socket.
 *
 * nbdkit's plugin interface is a table of callbacks without a context
 * argument, so the served VDI is this file's one static state.
 */
#include "config.h"

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "mirror_ctl.h"
#include "sr.h"

#define CTL_IDLE_MS 10000       /* a control client's silence ends it */

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL
#define MAX_REQUEST (32u << 20)     /* nbdkit's own limit */

static struct {
    struct sr_kv dc[1];
    struct sr_spec spec;
    const char *location;
    struct xt_uuid vdi_uuid;
    bool have_sr_uuid, have_vdi;
    bool read_only;
    bool lock_per_connection;
    /* peer=: the one client address let in (family 0: any) */
    int peer_family;
    unsigned char peer_addr[16];
    struct xt_ctx *ctx;
    struct sr *sr;
    /* lock=connection: open while users > 0; both guarded by mutex (the
     * I/O callbacks run only inside an open connection, so they read vdi
     * without it). */
    pthread_mutex_t mutex;
    unsigned users;
    struct sr_vdi *vdi;
    /* ctl=: the control socket and its thread; the mirror, read by the
     * I/O callbacks under mlock's read side, set and cleared (by the
     * control thread only) under its write side */
    const char *ctl_path;
    int ctl_fd;
    pthread_t ctl_th;
    bool ctl_started;
    volatile bool quit;
    pthread_rwlock_t mlock;
    struct mirror *mirror;
} xv = { .spec = { .type = NULL }, .mutex = PTHREAD_MUTEX_INITIALIZER,
         .ctl_fd = -1, .mlock = PTHREAD_RWLOCK_INITIALIZER };

static int parse_uuid(const char *key, const char *value, struct xt_uuid *u)
{
    if (xt_uuid_parse(value, u) < 0) {
        nbdkit_error("%s: '%s' is not a uuid", key, value);
        return -1;
    }
    return 0;
}

static int xv_config(const char *key, const char *value)
{
    if (strcmp(key, "sr_type") == 0) {
        if (!sr_type_known(value)) {
            nbdkit_error("SR_UNKNOWN_DRIVER: no SR driver of type '%s'",
                         value);
            return -1;
        }
        xv.spec.type = value;
    } else if (strcmp(key, "sr_uuid") == 0) {
        xv.have_sr_uuid = true;
        return parse_uuid(key, value, &xv.spec.uuid);
    } else if (strcmp(key, "location") == 0) {
        xv.location = value;
    } else if (strcmp(key, "vdi") == 0) {
        xv.have_vdi = true;
        return parse_uuid(key, value, &xv.vdi_uuid);
    } else if (strcmp(key, "mode") == 0) {
        if (strcmp(value, "ro") != 0 && strcmp(value, "rw") != 0) {
            nbdkit_error("mode: 'ro' or 'rw', not '%s'", value);
            return -1;
        }
        xv.read_only = strcmp(value, "ro") == 0;
    } else if (strcmp(key, "peer") == 0) {
        if (inet_pton(AF_INET, value, xv.peer_addr) == 1) {
            xv.peer_family = AF_INET;
        } else if (inet_pton(AF_INET6, value, xv.peer_addr) == 1) {
            xv.peer_family = AF_INET6;
        } else {
            nbdkit_error("peer: '%s' is not a numeric IP address", value);
            return -1;
        }
    } else if (strcmp(key, "lock") == 0) {
        if (strcmp(value, "start") != 0 && strcmp(value, "connection") != 0) {
            nbdkit_error("lock: 'start' or 'connection', not '%s'", value);
            return -1;
        }
        xv.lock_per_connection = strcmp(value, "connection") == 0;
    } else if (strcmp(key, "ctl") == 0) {
        struct sockaddr_un sun;

        if (!*value || strlen(value) >= sizeof(sun.sun_path)) {
            nbdkit_error("ctl: a unix socket path of 1..%zu bytes",
                         sizeof(sun.sun_path) - 1);
            return -1;
        }
        xv.ctl_path = value;
    } else {
        nbdkit_error("unknown parameter '%s'", key);
        return -1;
    }
    return 0;
}

static int xv_config_complete(void)
{
    if (!xv.spec.type || !xv.have_sr_uuid || !xv.location ||
        !xv.have_vdi) {
        nbdkit_error("sr_type, sr_uuid, location and vdi are required");
        return -1;
    }
    xv.dc[0] = (struct sr_kv){ "location", xv.location };
    xv.spec.device_config = xv.dc;
    xv.spec.n_device_config = 1;
    return 0;
}

/* Opens the VDI (taking its lock); errors through nbdkit. */
static int open_vdi(void)
{
    int rc = sr_vdi_open(xv.sr, &xv.vdi_uuid, xv.read_only, &xv.vdi);

    if (rc < 0)
        nbdkit_error("%s%s", rc == -EBUSY ? "VDI_IN_USE: " : "",
                     xv.ctx->err_msg);
    return rc;
}

/* Attaches the SR and, unless locking per connection, opens the VDI
 * before nbdkit accepts anything; a VDI that does not exist stops nbdkit
 * in both modes. */
static int xv_get_ready(void)
{
    struct sr_vdi_info info;
    int rc;

    xv.ctx = xt_ctx_new("xmvdi");
    if (!xv.ctx) {
        nbdkit_error("out of memory");
        return -1;
    }
    xv.ctx->quiet_errors = true;    /* reported through nbdkit below */
    rc = sr_attach(xv.ctx, &xv.spec, &xv.sr);
    if (rc < 0) {
        nbdkit_error("%s", xv.ctx->err_msg);
        return -1;
    }
    if (!xv.lock_per_connection)
        return open_vdi() < 0 ? -1 : 0;
    rc = sr_vdi_info(xv.sr, &xv.vdi_uuid, &info);
    if (rc < 0) {
        nbdkit_error("%s", xv.ctx->err_msg);
        return -1;
    }
    return 0;
}

static void ctl_stop(void);

static void xv_unload(void)
{
    ctl_stop();
    sr_vdi_close(xv.vdi);
    sr_detach(xv.sr);
    xt_ctx_free(xv.ctx);
}

/* peer=: refuses a client from any other address, before TLS. */
static int xv_preconnect(int readonly)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    const void *a = NULL;
    char buf[INET6_ADDRSTRLEN] = "?";

    (void)readonly;
    if (!xv.peer_family)
        return 0;
    if (nbdkit_peer_name((struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET)
            a = &((struct sockaddr_in *)&ss)->sin_addr;
        else if (ss.ss_family == AF_INET6)
            a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
    }
    if (a && ss.ss_family == xv.peer_family &&
        memcmp(a, xv.peer_addr, xv.peer_family == AF_INET ? 4 : 16) == 0)
        return 0;
    if (a)
        inet_ntop(ss.ss_family, a, buf, sizeof(buf));
    nbdkit_error("client %s refused: this export is for one peer only",
                 buf);
    return -1;
}

/*
 * A user of the VDI, a connection or a mirror: with lock=connection the
 * first opens it (taking its lock) and the last closes it.  A failure is
 * reported through nbdkit, and into ctx when there is one.
 */
static int vdi_hold(struct xt_ctx *ctx)
{
    int rc = 0;

    if (!xv.lock_per_connection)
        return 0;
    pthread_mutex_lock(&xv.mutex);
    if (xv.users == 0 && (rc = open_vdi()) < 0 && ctx)
        xt_error(ctx, rc, "%s%s", rc == -EBUSY ? "VDI_IN_USE: " : "",
                 xv.ctx->err_msg);
    if (rc == 0)
        xv.users++;
    pthread_mutex_unlock(&xv.mutex);
    return rc;
}

static void vdi_release(void)
{
    if (!xv.lock_per_connection)
        return;
    pthread_mutex_lock(&xv.mutex);
    if (--xv.users == 0) {
        sr_vdi_close(xv.vdi);
        xv.vdi = NULL;
    }
    pthread_mutex_unlock(&xv.mutex);
}

static void *xv_open(int readonly)
{
    (void)readonly;
    return vdi_hold(NULL) < 0 ? NULL : &xv;
}

static void xv_close(void *h)
{
    (void)h;
    vdi_release();
}

static int64_t xv_get_size(void *h)
{
    (void)h;
    return (int64_t)sr_vdi_size(xv.vdi);
}

static int xv_can_write(void *h)
{
    (void)h;
    return !xv.read_only;
}

static int xv_can_yes(void *h)
{
    (void)h;
    return 1;
}

static int xv_can_fua(void *h)
{
    (void)h;
    return NBDKIT_FUA_NATIVE;
}

static int xv_block_size(void *h, uint32_t *minimum, uint32_t *preferred,
                         uint32_t *maximum)
{
    (void)h;
    *minimum = 1;
    *preferred = 4096;
    *maximum = MAX_REQUEST;
    return 0;
}

/* nbdkit wants -1 and errno set. */
static int result(int rc)
{
    if (rc >= 0)
        return 0;
    nbdkit_set_error(-rc);
    return -1;
}

static int xv_pread(void *h, void *buf, uint32_t count, uint64_t offset,
                    uint32_t flags)
{
    (void)h;
    (void)flags;
    return result(sr_vdi_pread(xv.vdi, buf, count, offset));
}

/* The writes go through the mirror while there is one. */
static int xv_pwrite(void *h, const void *buf, uint32_t count,
                     uint64_t offset, uint32_t flags)
{
    bool fua = flags & NBDKIT_FLAG_FUA;
    int rc;

    (void)h;
    pthread_rwlock_rdlock(&xv.mlock);
    rc = xv.mirror ? mirror_pwrite(xv.mirror, buf, count, offset, fua) :
                     sr_vdi_pwrite(xv.vdi, buf, count, offset, fua);
    pthread_rwlock_unlock(&xv.mlock);
    return result(rc);
}

static int xv_flush(void *h, uint32_t flags)
{
    int rc;

    (void)h;
    (void)flags;
    pthread_rwlock_rdlock(&xv.mlock);
    rc = xv.mirror ? mirror_flush(xv.mirror) : sr_vdi_flush(xv.vdi);
    pthread_rwlock_unlock(&xv.mlock);
    return result(rc);
}

static int xv_trim(void *h, uint32_t count, uint64_t offset, uint32_t flags)
{
    bool fua = flags & NBDKIT_FLAG_FUA;
    int rc;

    (void)h;
    pthread_rwlock_rdlock(&xv.mlock);
    if (xv.mirror) {
        rc = mirror_trim(xv.mirror, offset, count, fua);
    } else {
        rc = sr_vdi_trim(xv.vdi, offset, count);
        if (rc == 0 && fua)
            rc = sr_vdi_flush(xv.vdi);
    }
    pthread_rwlock_unlock(&xv.mlock);
    return result(rc);
}

static int xv_zero(void *h, uint32_t count, uint64_t offset, uint32_t flags)
{
    bool fua = flags & NBDKIT_FLAG_FUA;
    bool may_trim = flags & NBDKIT_FLAG_MAY_TRIM;
    int rc;

    (void)h;
    pthread_rwlock_rdlock(&xv.mlock);
    if (xv.mirror) {
        rc = mirror_zero(xv.mirror, offset, count, may_trim, fua);
    } else {
        rc = sr_vdi_zero(xv.vdi, offset, count, may_trim);
        if (rc == 0 && fua)
            rc = sr_vdi_flush(xv.vdi);
    }
    pthread_rwlock_unlock(&xv.mlock);
    return result(rc);
}

static int add_extent(void *opaque, uint64_t off, uint64_t len, bool hole)
{
    return nbdkit_add_extent(opaque, off, len, hole ?
                             NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO : 0) < 0 ?
           -EIO : 0;
}

static int xv_extents(void *h, uint32_t count, uint64_t offset,
                      uint32_t flags, struct nbdkit_extents *extents)
{
    (void)h;
    (void)flags;    /* REQ_ONE: nbdkit trims the answer itself */
    return result(sr_vdi_extents(xv.vdi, offset, count, add_extent,
                                 extents));
}

/* ---- ctl=: the mirror's control --------------------------------------- */

/* start: the mirror enters the write path before its copy begins, so no
 * write escapes it. */
static int ctl_start(struct xt_ctx *ctx, const struct mirror_ctl_req *req)
{
    struct mirror_cfg cfg;
    struct mirror *m = NULL;
    char why[256];
    int rc;

    if (xv.mirror)
        return xt_error(ctx, -EBUSY, "a mirror exists: stop it first");
    if (xv.read_only)
        return xt_error(ctx, -EROFS, "a read-only export has no mirror");
    rc = mirror_ctl_cfg(req, &cfg, why, sizeof(why));
    if (rc < 0)
        return xt_error(ctx, rc, "%s", why);
    rc = vdi_hold(ctx);
    if (rc < 0)
        return rc;
    pthread_rwlock_wrlock(&xv.mlock);
    rc = mirror_prepare(ctx, xv.vdi, &cfg, &m);
    xv.mirror = m;
    pthread_rwlock_unlock(&xv.mlock);
    if (rc < 0) {
        vdi_release();
        return rc;
    }
    nbdkit_debug("mirror to %s started", cfg.uri);
    return mirror_run(ctx, m);
}

/* stop: an ended mirror leaves the write path. */
static int ctl_stop_mirror(struct xt_ctx *ctx)
{
    struct mirror_status st;
    struct mirror *m = xv.mirror;

    mirror_get_status(m, &st);
    if (st.state == MIRROR_COPYING || st.state == MIRROR_SYNCED)
        return xt_error(ctx, -EBUSY, "the mirror is %s: cancel or complete "
                        "it first", mirror_state_name(st.state));
    pthread_rwlock_wrlock(&xv.mlock);
    xv.mirror = NULL;
    pthread_rwlock_unlock(&xv.mlock);
    mirror_free(m);
    vdi_release();
    return 0;
}

static int ctl_wait(struct xt_ctx *ctx, const struct mirror_ctl_req *req)
{
    const char *sname = mirror_ctl_get(req, "state");
    enum mirror_state s = MIRROR_COPYING;
    struct mirror_status st;
    uint64_t gen, ms, synced;
    char why[128];
    int rc;

    rc = mirror_ctl_u64(req, "gen", 0, &gen, why, sizeof(why));
    rc = rc ?: mirror_ctl_u64(req, "synced", 0, &synced, why, sizeof(why));
    rc = rc ?: mirror_ctl_u64(req, "timeout_ms", 1000, &ms, why,
                              sizeof(why));
    if (rc == 0 && (!sname || mirror_state_parse(sname, &s) < 0)) {
        snprintf(why, sizeof(why), "wait: state= a mirror state");
        rc = -EINVAL;
    }
    if (rc < 0)
        return xt_error(ctx, rc, "%s", why);
    mirror_wait(xv.mirror, s, gen, synced != 0,
                ms > 10000 ? 10000 : (unsigned)ms, &st);
    return 0;
}

/* One request line: the reply into out. */
static void ctl_handle(struct xt_ctx *ctx, char *line, char *out,
                       size_t size)
{
    struct mirror_ctl_req req;
    struct mirror_status st;
    char why[256];
    uint64_t gen, ms;
    int rc = mirror_ctl_parse(line, &req, why, sizeof(why));

    xt_error_clear(ctx);
    if (rc < 0)
        rc = xt_error(ctx, rc, "%s", why);
    else if (req.cmd == MIRROR_CTL_START)
        rc = ctl_start(ctx, &req);
    else if (!xv.mirror)
        rc = xt_error(ctx, -ENOENT, "no mirror");
    else if (req.cmd == MIRROR_CTL_WAIT)
        rc = ctl_wait(ctx, &req);
    else if (req.cmd == MIRROR_CTL_COMPLETE) {
        rc = mirror_ctl_u64(&req, "gen", 0, &gen, why, sizeof(why));
        rc = rc ?: mirror_ctl_u64(&req, "timeout_ms", 30000, &ms, why,
                                  sizeof(why));
        rc = rc < 0 ? xt_error(ctx, rc, "%s", why) :
             mirror_complete(ctx, xv.mirror, gen, (unsigned)ms);
    } else if (req.cmd == MIRROR_CTL_CANCEL)
        mirror_cancel(xv.mirror);
    else if (req.cmd == MIRROR_CTL_RESUME)
        rc = mirror_resume(ctx, xv.mirror, mirror_ctl_get(&req, "uri"));
    else if (req.cmd == MIRROR_CTL_STOP) {
        rc = ctl_stop_mirror(ctx);
        if (rc == 0) {
            snprintf(out, size, "ok\n");
            return;
        }
    }
    if (rc < 0) {
        snprintf(out, size, "error %d %s\n", -rc, ctx->err_msg);
        return;
    }
    mirror_get_status(xv.mirror, &st);
    mirror_ctl_format_status(&st, out, size);
}

static void ctl_serve(int fd)
{
    char line[MIRROR_CTL_LINE_MAX], out[MIRROR_CTL_LINE_MAX];
    struct xt_ctx *ctx = xt_ctx_new("xmvdi-ctl");

    if (!ctx)
        return;
    ctx->quiet_errors = true;       /* they go back to the client */
    while (!xv.quit &&
           mirror_ctl_read_line(fd, line, sizeof(line), CTL_IDLE_MS) == 0) {
        ctl_handle(ctx, line, out, sizeof(out));
        if (xt_write_full(fd, out, strlen(out), CTL_IDLE_MS) < 0)
            break;
    }
    xt_ctx_free(ctx);
}

static void *ctl_main(void *arg)
{
    (void)arg;
    while (!xv.quit) {
        struct pollfd pfd = { .fd = xv.ctl_fd, .events = POLLIN };
        int fd;

        if (poll(&pfd, 1, 200) <= 0)
            continue;
        fd = accept4(xv.ctl_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        ctl_serve(fd);
        close(fd);
    }
    return NULL;
}

/* After nbdkit's fork: the control socket and its thread. */
static int xv_after_fork(void)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int rc;

    if (!xv.ctl_path)
        return 0;
    strcpy(sun.sun_path, xv.ctl_path);
    unlink(xv.ctl_path);
    xv.ctl_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (xv.ctl_fd < 0 ||
        bind(xv.ctl_fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
        chmod(xv.ctl_path, 0600) < 0 || listen(xv.ctl_fd, 4) < 0) {
        nbdkit_error("ctl=%s: %s", xv.ctl_path, strerror(errno));
        return -1;
    }
    rc = pthread_create(&xv.ctl_th, NULL, ctl_main, NULL);
    if (rc) {
        nbdkit_error("ctl thread: %s", strerror(rc));
        return -1;
    }
    xv.ctl_started = true;
    return 0;
}

/* At unload: a mirror still going keeps its state file (a restarted
 * service goes on from it). */
static void ctl_stop(void)
{
    xv.quit = true;
    if (xv.ctl_started)
        pthread_join(xv.ctl_th, NULL);
    xv.ctl_started = false;
    if (xv.ctl_fd >= 0) {
        close(xv.ctl_fd);
        unlink(xv.ctl_path);
        xv.ctl_fd = -1;
    }
    if (xv.mirror) {
        mirror_free(xv.mirror);
        xv.mirror = NULL;
        vdi_release();
    }
}

static struct nbdkit_plugin plugin = {
    .name = "xmvdi",
    .longname = "xm-pool VDI block service",
    .version = PACKAGE_VERSION,
    .description = "serves one VDI of an xm-pool SR",
    .config = xv_config,
    .config_complete = xv_config_complete,
    .config_help = "sr_type=<file|shared-file> sr_uuid=<uuid> "
                   "location=<dir> vdi=<uuid> [mode=ro|rw] "
                   "[lock=start|connection] [peer=ADDR] [ctl=SOCKET]",
    .get_ready = xv_get_ready,
    .after_fork = xv_after_fork,
    .unload = xv_unload,
    .preconnect = xv_preconnect,
    .open = xv_open,
    .close = xv_close,
    .get_size = xv_get_size,
    .block_size = xv_block_size,
    .can_write = xv_can_write,
    .can_flush = xv_can_yes,
    .can_trim = xv_can_yes,
    .can_zero = xv_can_yes,
    .can_fua = xv_can_fua,
    .can_multi_conn = xv_can_yes,
    .can_extents = xv_can_yes,
    .pread = xv_pread,
    .pwrite = xv_pwrite,
    .flush = xv_flush,
    .trim = xv_trim,
    .zero = xv_zero,
    .extents = xv_extents,
    .errno_is_preserved = 0,
};

NBDKIT_REGISTER_PLUGIN(plugin)
