/*
 * nbdkit_xmvdi.c - the block service's backend: an nbdkit plugin that
 * serves one VDI of one SR, opened through sr/ (docs/design/storage.md).
 *
 *   nbdkit [-r] -U SOCKET nbdkit-xmvdi-plugin.so \
 *       sr_type=shared-file sr_uuid=UUID location=/srv/sr vdi=UUID [mode=ro]
 *
 * nbdkit speaks the protocol (fixed newstyle, structured replies, meta
 * contexts, TLS, several requests in flight, multi-conn); this file maps
 * its calls onto sr_vdi_*: WRITE with FUA, FLUSH, TRIM, WRITE_ZEROES with
 * and without NO_HOLE, BLOCK_STATUS base:allocation.  The VDI is opened
 * (and its lock taken) once, before the first connection; a VDI in use
 * elsewhere stops nbdkit at start with VDI_IN_USE's reason.
 *
 * nbdkit's plugin interface is a table of callbacks without a context
 * argument, so the served VDI is this file's one static state.
 */
#include "config.h"

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <errno.h>
#include <string.h>

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
    struct xt_ctx *ctx;
    struct sr *sr;
    struct sr_vdi *vdi;
} xv = { .spec = { .type = NULL } };

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

/* Attaches the SR and opens the VDI, taking its lock, before nbdkit
 * accepts anything. */
static int xv_get_ready(void)
{
    int rc;

    xv.ctx = xt_ctx_new("xmvdi");
    if (!xv.ctx) {
        nbdkit_error("out of memory");
        return -1;
    }
    xv.ctx->quiet_errors = true;    /* reported through nbdkit below */
    rc = sr_attach(xv.ctx, &xv.spec, &xv.sr);
    if (rc == 0)
        rc = sr_vdi_open(xv.sr, &xv.vdi_uuid, xv.read_only, &xv.vdi);
    if (rc < 0) {
        nbdkit_error("%s%s", rc == -EBUSY ? "VDI_IN_USE: " : "",
                     xv.ctx->err_msg);
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

static void *xv_open(int readonly)
{
    (void)readonly;
    return &xv;
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
                   "location=<dir> vdi=<uuid> [mode=ro|rw]",
    .get_ready = xv_get_ready,
    .unload = xv_unload,
    .open = xv_open,
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
