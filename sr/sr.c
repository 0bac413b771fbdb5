/*
 * sr.c - the generic layer of sr.h: the driver table, argument checks,
 * -ENOTSUP for optional ops a driver lacks.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sr_internal.h"

static const struct sr_ops *const drivers[] = {
    &sr_file_ops,
    &sr_shared_file_ops,
};

#define N_DRIVERS (sizeof(drivers) / sizeof(drivers[0]))

static const char *const type_names[N_DRIVERS + 1] = {
    "file", "shared-file", NULL,
};

const char *const *sr_types(void)
{
    return type_names;
}

static const struct sr_ops *driver_of(const char *type)
{
    size_t i;

    for (i = 0; type && i < N_DRIVERS; i++) {
        if (strcmp(drivers[i]->type, type) == 0)
            return drivers[i];
    }
    return NULL;
}

bool sr_type_known(const char *type)
{
    return driver_of(type) != NULL;
}

bool sr_type_has(const char *type, enum sr_cap cap)
{
    const struct sr_ops *ops = driver_of(type);

    return ops && (ops->caps & (1u << cap));
}

bool sr_type_shared(const char *type)
{
    const struct sr_ops *ops = driver_of(type);

    return ops && ops->shared;
}

const char *sr_spec_get(const struct sr_spec *spec, const char *key)
{
    size_t i;

    for (i = 0; i < spec->n_device_config; i++) {
        if (spec->device_config[i].key &&
            strcmp(spec->device_config[i].key, key) == 0)
            return spec->device_config[i].value;
    }
    return NULL;
}

static int check_spec(struct xt_ctx *ctx, const struct sr_spec *spec,
                      const struct sr_ops **ops_r)
{
    size_t i;

    *ops_r = driver_of(spec->type);
    if (!*ops_r)
        return xt_error(ctx, -ENODEV, "no SR driver of type '%s'",
                        spec->type ? spec->type : "");
    if (xt_uuid_is_nil(&spec->uuid))
        return xt_error(ctx, -EINVAL, "an SR needs a uuid");
    for (i = 0; i < spec->n_device_config; i++) {
        if (!spec->device_config[i].key || !spec->device_config[i].value)
            return xt_error(ctx, -EINVAL, "device_config entry %zu is "
                            "incomplete", i);
    }
    return 0;
}

int sr_create(struct xt_ctx *ctx, const struct sr_spec *spec)
{
    const struct sr_ops *ops;
    int rc;

    rc = check_spec(ctx, spec, &ops);
    if (rc < 0)
        return rc;
    if (spec->physical_size % SR_SECTOR)
        return xt_error(ctx, -EINVAL, "physical_size %llu is not a "
                        "multiple of %u", (unsigned long long)
                        spec->physical_size, SR_SECTOR);
    return ops->create(ctx, spec);
}

/* Frees sr and its copy of the spec; the driver's part is gone already. */
static void sr_free(struct sr *sr)
{
    size_t i;

    if (!sr)
        return;
    for (i = 0; sr->dc && i < sr->spec.n_device_config; i++) {
        free((char *)sr->dc[i].key);
        free((char *)sr->dc[i].value);
    }
    free(sr->dc);
    free((char *)sr->spec.type);
    free(sr);
}

static int copy_spec(struct sr *sr, const struct sr_spec *spec)
{
    size_t i, n = spec->n_device_config;

    sr->spec = *spec;
    sr->spec.type = strdup(spec->type);
    sr->dc = calloc(n ? n : 1, sizeof(*sr->dc));
    sr->spec.device_config = sr->dc;
    if (!sr->spec.type || !sr->dc) {
        sr->spec.n_device_config = 0;
        return -ENOMEM;
    }
    for (i = 0; i < n; i++) {
        sr->dc[i].key = strdup(spec->device_config[i].key);
        sr->dc[i].value = strdup(spec->device_config[i].value);
        if (!sr->dc[i].key || !sr->dc[i].value)
            return -ENOMEM;
    }
    return 0;
}

int sr_attach(struct xt_ctx *ctx, const struct sr_spec *spec,
              struct sr **sr_r)
{
    const struct sr_ops *ops;
    struct sr *sr = NULL;
    int rc;

    *sr_r = NULL;
    rc = check_spec(ctx, spec, &ops);
    if (rc < 0)
        return rc;
    sr = calloc(1, sizeof(*sr));
    if (!sr)
        return xt_error(ctx, -ENOMEM, "out of memory");
    sr->ops = ops;
    sr->ctx = ctx;
    rc = copy_spec(sr, spec);
    if (rc < 0) {
        xt_error(ctx, rc, "out of memory");
        goto out;
    }
    rc = ops->attach(sr);
    if (rc < 0)
        goto out;
    *sr_r = sr;
    sr = NULL;
out:
    sr_free(sr);
    return rc;
}

void sr_detach(struct sr *sr)
{
    if (!sr)
        return;
    sr->ops->detach(sr);
    sr_free(sr);
}

int sr_destroy(struct sr *sr)
{
    int rc = sr->ops->destroy(sr);

    if (rc < 0)
        return rc;
    sr_detach(sr);
    return 0;
}

bool sr_has(const struct sr *sr, enum sr_cap cap)
{
    return sr->ops->caps & (1u << cap);
}

int sr_stat(struct sr *sr, struct sr_stat *st)
{
    memset(st, 0, sizeof(*st));
    st->shared = sr->ops->shared;
    return sr->ops->stat(sr, st);
}

int sr_scan(struct sr *sr, struct sr_vdi_info **vdis_r, size_t *n_r)
{
    *vdis_r = NULL;
    *n_r = 0;
    return sr->ops->scan(sr, vdis_r, n_r);
}

static int check_vdi(struct sr *sr, const struct xt_uuid *vdi)
{
    if (!vdi || xt_uuid_is_nil(vdi))
        return xt_error(sr->ctx, -EINVAL, "a VDI needs a uuid");
    return 0;
}

/* Rounds a size up to SR_SECTOR; -EINVAL for 0 or one that overflows. */
static int round_size(struct sr *sr, uint64_t size, uint64_t *size_r)
{
    if (size == 0 || size > UINT64_MAX - SR_SECTOR)
        return xt_error(sr->ctx, -EINVAL, "virtual size %llu is out of "
                        "range", (unsigned long long)size);
    *size_r = (size + SR_SECTOR - 1) / SR_SECTOR * SR_SECTOR;
    return 0;
}

int sr_vdi_create(struct sr *sr, const struct xt_uuid *vdi,
                  uint64_t virtual_size)
{
    uint64_t size = 0;
    int rc;

    rc = check_vdi(sr, vdi);
    if (rc == 0)
        rc = round_size(sr, virtual_size, &size);
    if (rc < 0)
        return rc;
    return sr->ops->vdi_create(sr, vdi, size);
}

int sr_vdi_destroy(struct sr *sr, const struct xt_uuid *vdi)
{
    int rc = check_vdi(sr, vdi);

    return rc < 0 ? rc : sr->ops->vdi_destroy(sr, vdi);
}

int sr_vdi_info(struct sr *sr, const struct xt_uuid *vdi,
                struct sr_vdi_info *info)
{
    int rc = check_vdi(sr, vdi);

    memset(info, 0, sizeof(*info));
    return rc < 0 ? rc : sr->ops->vdi_info(sr, vdi, info);
}

int sr_vdi_resize(struct sr *sr, const struct xt_uuid *vdi,
                  uint64_t new_size)
{
    uint64_t size = 0;
    int rc;

    if (!sr->ops->vdi_resize)
        return xt_error(sr->ctx, -ENOTSUP, "SR type '%s' cannot resize a "
                        "VDI", sr->ops->type);
    rc = check_vdi(sr, vdi);
    if (rc == 0)
        rc = round_size(sr, new_size, &size);
    if (rc < 0)
        return rc;
    return sr->ops->vdi_resize(sr, vdi, size);
}

static int vdi_copy(struct sr *sr, const struct xt_uuid *src,
                    const struct xt_uuid *dst, bool snapshot)
{
    int rc;

    if (!sr->ops->vdi_copy)
        return xt_error(sr->ctx, -ENOTSUP, "SR type '%s' cannot %s a VDI",
                        sr->ops->type, snapshot ? "snapshot" : "clone");
    rc = check_vdi(sr, src);
    if (rc == 0)
        rc = check_vdi(sr, dst);
    if (rc == 0 && xt_uuid_equal(src, dst))
        rc = xt_error(sr->ctx, -EINVAL, "a copy needs a uuid of its own");
    return rc < 0 ? rc : sr->ops->vdi_copy(sr, src, dst, snapshot);
}

int sr_vdi_snapshot(struct sr *sr, const struct xt_uuid *src,
                    const struct xt_uuid *dst)
{
    return vdi_copy(sr, src, dst, true);
}

int sr_vdi_clone(struct sr *sr, const struct xt_uuid *src,
                 const struct xt_uuid *dst)
{
    return vdi_copy(sr, src, dst, false);
}

int sr_vdi_open(struct sr *sr, const struct xt_uuid *vdi, bool read_only,
                struct sr_vdi **v_r)
{
    struct sr_vdi *v;
    int rc;

    *v_r = NULL;
    rc = check_vdi(sr, vdi);
    if (rc < 0)
        return rc;
    v = calloc(1, sizeof(*v));
    if (!v)
        return xt_error(sr->ctx, -ENOMEM, "out of memory");
    v->ops = sr->ops;
    v->uuid = *vdi;
    v->read_only = read_only;
    rc = sr->ops->vdi_open(sr, vdi, read_only, v);
    if (rc < 0) {
        free(v);
        return rc;
    }
    *v_r = v;
    return 0;
}

void sr_vdi_close(struct sr_vdi *v)
{
    if (!v)
        return;
    v->ops->vdi_close(v);
    free(v);
}

uint64_t sr_vdi_size(const struct sr_vdi *v)
{
    return v->size;
}

static bool in_range(const struct sr_vdi *v, uint64_t off, uint64_t len)
{
    return off <= v->size && len <= v->size - off;
}

int sr_vdi_pread(struct sr_vdi *v, void *buf, size_t len, uint64_t off)
{
    if (!in_range(v, off, len))
        return -EINVAL;
    return v->ops->pread(v, buf, len, off);
}

int sr_vdi_pwrite(struct sr_vdi *v, const void *buf, size_t len,
                  uint64_t off, bool fua)
{
    if (v->read_only)
        return -EROFS;
    if (!in_range(v, off, len))
        return -EINVAL;
    return v->ops->pwrite(v, buf, len, off, fua);
}

int sr_vdi_flush(struct sr_vdi *v)
{
    return v->read_only ? 0 : v->ops->flush(v);
}

int sr_vdi_trim(struct sr_vdi *v, uint64_t off, uint64_t len)
{
    if (v->read_only)
        return -EROFS;
    if (!in_range(v, off, len))
        return -EINVAL;
    return v->ops->trim ? v->ops->trim(v, off, len) : 0;
}

int sr_vdi_zero(struct sr_vdi *v, uint64_t off, uint64_t len, bool may_trim)
{
    if (v->read_only)
        return -EROFS;
    if (!in_range(v, off, len))
        return -EINVAL;
    return v->ops->zero(v, off, len, may_trim);
}

int sr_vdi_extents(struct sr_vdi *v, uint64_t off, uint64_t len,
                   sr_extent_fn fn, void *opaque)
{
    if (!in_range(v, off, len))
        return -EINVAL;
    if (!v->ops->extents)
        return len ? fn(opaque, off, len, false) : 0;
    return v->ops->extents(v, off, len, fn, opaque);
}
