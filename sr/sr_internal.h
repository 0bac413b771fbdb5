/*
 * sr_internal.h - what an SR driver implements (sr/ only).
 *
 * The generic layer (sr.c) checks arguments, picks the driver by type and
 * answers -ENOTSUP for a missing optional op; a driver reports its errors
 * into sr->ctx where they happen.  Required: everything but the ops marked
 * optional.  The I/O ops report nothing (see sr.h).
 */
#ifndef SR_INTERNAL_H
#define SR_INTERNAL_H

#include "sr.h"

struct sr_ops {
    const char *type;
    bool shared;                    /* attachable on every host at once */
    unsigned int caps;              /* 1u << enum sr_cap */

    int (*create)(struct xt_ctx *ctx, const struct sr_spec *spec);
    int (*attach)(struct sr *sr);   /* sets sr->priv */
    void (*detach)(struct sr *sr);  /* frees sr->priv */
    int (*destroy)(struct sr *sr);
    int (*stat)(struct sr *sr, struct sr_stat *st);
    int (*scan)(struct sr *sr, struct sr_vdi_info **vdis_r, size_t *n_r);

    int (*vdi_create)(struct sr *sr, const struct xt_uuid *vdi,
                      uint64_t size);
    int (*vdi_destroy)(struct sr *sr, const struct xt_uuid *vdi);
    int (*vdi_info)(struct sr *sr, const struct xt_uuid *vdi,
                    struct sr_vdi_info *info);
    int (*vdi_resize)(struct sr *sr, const struct xt_uuid *vdi,
                      uint64_t size);                       /* optional */
    int (*vdi_copy)(struct sr *sr, const struct xt_uuid *src,
                    const struct xt_uuid *dst, bool snapshot); /* optional */

    int (*vdi_open)(struct sr *sr, const struct xt_uuid *vdi,
                    bool read_only, struct sr_vdi *v);   /* sets v->priv */
    void (*vdi_close)(struct sr_vdi *v);

    int (*pread)(struct sr_vdi *v, void *buf, size_t len, uint64_t off);
    int (*pwrite)(struct sr_vdi *v, const void *buf, size_t len,
                  uint64_t off, bool fua);
    int (*flush)(struct sr_vdi *v);
    int (*trim)(struct sr_vdi *v, uint64_t off, uint64_t len);
    int (*zero)(struct sr_vdi *v, uint64_t off, uint64_t len,
                bool may_trim);
    int (*extents)(struct sr_vdi *v, uint64_t off, uint64_t len,
                   sr_extent_fn fn, void *opaque);
};

struct sr {
    const struct sr_ops *ops;
    struct xt_ctx *ctx;             /* borrowed */
    struct sr_spec spec;            /* device_config deep-copied */
    struct sr_kv *dc;               /* spec.device_config, owned */
    void *priv;                     /* the driver's */
};

struct sr_vdi {
    const struct sr_ops *ops;
    struct xt_uuid uuid;
    uint64_t size;                  /* bytes, fixed while open */
    bool read_only;
    void *priv;                     /* the driver's */
};

extern const struct sr_ops sr_file_ops;
extern const struct sr_ops sr_shared_file_ops;

#endif /* SR_INTERNAL_H */
