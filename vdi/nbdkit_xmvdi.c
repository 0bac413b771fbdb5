/*
 * nbdkit_xmvdi.c - the block service's backend: an nbdkit plugin that
 * serves one VDI of one SR, opened through sr/ (docs/design/storage.md).
 *
 *   nbdkit [-r] -U SOCKET nbdkit-xmvdi-plugin.so \
 *       sr_type=shared-file sr_uuid=UUID location=/srv/sr vdi=UUID [mode=ro]
 *       [lock=start|connection] [peer=ADDR]
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
 * nbdkit's plugin interface is a table of callbacks without a context
 * argument, so the served VDI is this file's one static state.
 */
#include "config.h"

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>

#include "sr.h"

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
} xv = { .spec = { .type = NULL }, .mutex = PTHREAD_MUTEX_INITIALIZER };

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

static void xv_unload(void)
{
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

static void *xv_open(int readonly)
{
    void *h = &xv;

    (void)readonly;
    if (!xv.lock_per_connection)
        return h;
    pthread_mutex_lock(&xv.mutex);
    if (xv.users == 0 && open_vdi() < 0)
        h = NULL;
    else
        xv.users++;
    pthread_mutex_unlock(&xv.mutex);
    return h;
}

static void xv_close(void *h)
{
    (void)h;
    if (!xv.lock_per_connection)
        return;
    pthread_mutex_lock(&xv.mutex);
    if (--xv.users == 0) {
        sr_vdi_close(xv.vdi);
        xv.vdi = NULL;
    }
    pthread_mutex_unlock(&xv.mutex);
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

static int xv_pwrite(void *h, const void *buf, uint32_t count,
                     uint64_t offset, uint32_t flags)
{
    (void)h;
    return result(sr_vdi_pwrite(xv.vdi, buf, count, offset,
                                flags & NBDKIT_FLAG_FUA));
}

static int xv_flush(void *h, uint32_t flags)
{
    (void)h;
    (void)flags;
    return result(sr_vdi_flush(xv.vdi));
}

static int xv_trim(void *h, uint32_t count, uint64_t offset, uint32_t flags)
{
    int rc;

    (void)h;
    rc = sr_vdi_trim(xv.vdi, offset, count);
    if (rc == 0 && (flags & NBDKIT_FLAG_FUA))
        rc = sr_vdi_flush(xv.vdi);
    return result(rc);
}

static int xv_zero(void *h, uint32_t count, uint64_t offset, uint32_t flags)
{
    int rc;

    (void)h;
    rc = sr_vdi_zero(xv.vdi, offset, count, flags & NBDKIT_FLAG_MAY_TRIM);
    if (rc == 0 && (flags & NBDKIT_FLAG_FUA))
        rc = sr_vdi_flush(xv.vdi);
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

static struct nbdkit_plugin plugin = {
    .name = "xmvdi",
    .longname = "xm-pool VDI block service",
    .version = PACKAGE_VERSION,
    .description = "serves one VDI of an xm-pool SR",
    .config = xv_config,
    .config_complete = xv_config_complete,
    .config_help = "sr_type=<file|shared-file> sr_uuid=<uuid> "
                   "location=<dir> vdi=<uuid> [mode=ro|rw] "
                   "[lock=start|connection] [peer=ADDR]",
    .get_ready = xv_get_ready,
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
