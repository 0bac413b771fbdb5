/*
 * sr.h - storage repositories: the SR drivers behind struct sr_ops
 * (sr_internal.h), seen from the pool's daemon and the block service.
 *
 * An SR is created once (sr_create), then attached on each host that uses
 * it (sr_attach: XAPI's PBD plugged).  An attached SR creates, destroys,
 * resizes, snapshots and clones VDIs, scans itself (finishing or undoing
 * what a crash interrupted) and opens VDIs for I/O.  An open VDI holds the
 * lock that keeps every other opener, on this host or another, from
 * writing it (sr_vdi_open).  Drivers: "file" (a local directory of sparse
 * raw files) and "shared-file" (the same on a directory every host of the
 * pool mounts); docs/design/storage.md says how others fit and
 * docs/specs/sr-file-layout.md gives the on-disk layout.
 *
 * Errors are reported once, into the context given to sr_attach (or to
 * sr_create), where they happen.  The codes the API maps to XAPI's errors:
 *   -ENODEV     no driver of that type            SR_UNKNOWN_DRIVER
 *   -ENOSPC     the VDI does not fit              SR_FULL
 *   -EBUSY      the VDI is open elsewhere         VDI_IN_USE
 *   -ENOTEMPTY  the SR still holds VDIs           SR_NOT_EMPTY
 *   -ENOENT     no such VDI                       UUID_INVALID / VDI_MISSING
 *   -ENOTSUP    the driver cannot do this         SR_OPERATION_NOT_SUPPORTED
 *   others      SR_BACKEND_FAILURE, with the context's message
 * The I/O calls on an open VDI (sr_vdi_pread ...) report nothing: they may
 * run on any thread and return a negative errno for the caller to report.
 */
#ifndef SR_H
#define SR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xt.h"

#define SR_VERSION      1           /* of the on-disk layouts */
#define SR_SECTOR       512u        /* sizes are multiples of this */

/* One device_config entry (XAPI's map of strings). */
struct sr_kv {
    const char *key;
    const char *value;
};

/* What an SR is: its uuid, type and device_config (file SRs: "location",
 * the directory).  physical_size is only read by sr_create. */
struct sr_spec {
    const char *type;               /* "file", "shared-file" */
    struct xt_uuid uuid;
    const struct sr_kv *device_config;
    size_t n_device_config;
    uint64_t physical_size;         /* 0: the whole filesystem */
};

struct sr_stat {
    uint64_t physical_size;         /* capacity, bytes */
    uint64_t physical_utilisation;  /* bytes the VDIs occupy on the medium */
    uint64_t virtual_allocation;    /* sum of the VDIs' virtual sizes */
    uint64_t free;                  /* largest VDI sr_vdi_create accepts */
    bool shared;                    /* every host of the pool may attach */
};

struct sr_vdi_info {
    struct xt_uuid uuid;
    uint64_t virtual_size;          /* bytes, a multiple of SR_SECTOR */
    uint64_t physical_utilisation;  /* bytes allocated on the medium */
    bool is_a_snapshot;
    struct xt_uuid snapshot_of;     /* nil unless is_a_snapshot */
    bool missing;                   /* metadata without data (see scan) */
};

/* What a driver can do beyond the required ops (sr_has). */
enum sr_cap {
    SR_CAP_RESIZE,                  /* sr_vdi_resize (grow) */
    SR_CAP_SNAPSHOT,                /* sr_vdi_snapshot */
    SR_CAP_CLONE,                   /* sr_vdi_clone */
    SR_CAP_TRIM,                    /* sr_vdi_trim frees space */
    SR_CAP_EXTENTS,                 /* sr_vdi_extents tells holes apart */
};

struct sr;          /* an SR attached on this host; opaque */
struct sr_vdi;      /* a VDI open for I/O, holding its lock; opaque */

/* The driver types, NULL-terminated; static. */
const char *const *sr_types(void);
/* True if a driver of that type exists. */
bool sr_type_known(const char *type);
/* True if SRs of that type may be attached on every host at once. */
bool sr_type_shared(const char *type);
/* Whether drivers of type have cap (false for an unknown type). */
bool sr_type_has(const char *type, enum sr_cap cap);
/* The device_config value for key, or NULL. */
const char *sr_spec_get(const struct sr_spec *spec, const char *key);

/* Creates the SR's on-disk structure.  -ENOSPC when physical_size is
 * larger than the medium, -EEXIST when an SR is there already. */
int sr_create(struct xt_ctx *ctx, const struct sr_spec *spec);

/* Attaches the SR on this host: checks that the medium holds the SR of
 * that uuid and type.  *sr_r is the caller's, freed by sr_detach; ctx is
 * borrowed and must outlive it.  spec is copied. */
int sr_attach(struct xt_ctx *ctx, const struct sr_spec *spec,
              struct sr **sr_r);
/* Detaches (NULL-safe).  VDIs still open stay valid until closed. */
void sr_detach(struct sr *sr);
/* Removes an empty SR from its medium (-ENOTEMPTY if it holds VDIs) and
 * detaches it: on success sr is freed; on failure it stays attached. */
int sr_destroy(struct sr *sr);

bool sr_has(const struct sr *sr, enum sr_cap cap);
int sr_stat(struct sr *sr, struct sr_stat *st);
/* Finds the SR's VDIs, first finishing what a crash interrupted (a
 * create is undone, a destroy or resize finished): the database's view is
 * then repaired from *vdis_r, an array of *n_r the caller frees. */
int sr_scan(struct sr *sr, struct sr_vdi_info **vdis_r, size_t *n_r);

/* VDIs.  virtual_size is rounded up to SR_SECTOR.  Space is checked
 * before anything is written: -ENOSPC and nothing on the medium. */
int sr_vdi_create(struct sr *sr, const struct xt_uuid *vdi,
                  uint64_t virtual_size);
/* -EBUSY while the VDI is open anywhere. */
int sr_vdi_destroy(struct sr *sr, const struct xt_uuid *vdi);
int sr_vdi_info(struct sr *sr, const struct xt_uuid *vdi,
                struct sr_vdi_info *info);
/* Grows the VDI (-EINVAL to shrink); new bytes read as zeros. */
int sr_vdi_resize(struct sr *sr, const struct xt_uuid *vdi,
                  uint64_t new_size);
/* A new VDI dst with src's contents; a snapshot records snapshot_of.  The
 * copy is of what the medium holds: a caller copying a VDI that is being
 * written flushes and holds its writes first. */
int sr_vdi_snapshot(struct sr *sr, const struct xt_uuid *src,
                    const struct xt_uuid *dst);
int sr_vdi_clone(struct sr *sr, const struct xt_uuid *src,
                 const struct xt_uuid *dst);

/* Opens a VDI for I/O: read-write takes it exclusively, read-only shares
 * it with other readers; either fails -EBUSY against a writer (any host,
 * any process, or this one).  *v_r is freed by sr_vdi_close (NULL-safe),
 * which releases the lock. */
int sr_vdi_open(struct sr *sr, const struct xt_uuid *vdi, bool read_only,
                struct sr_vdi **v_r);
void sr_vdi_close(struct sr_vdi *v);
uint64_t sr_vdi_size(const struct sr_vdi *v);

/* I/O on an open VDI, from any thread: 0 or a negative errno, nothing
 * reported.  Ranges must lie inside the VDI (-EINVAL otherwise).  A write
 * with fua is on stable storage when it returns; others after sr_vdi_flush.
 * sr_vdi_zero makes the range read as zeros, freeing it when may_trim. */
int sr_vdi_pread(struct sr_vdi *v, void *buf, size_t len, uint64_t off);
int sr_vdi_pwrite(struct sr_vdi *v, const void *buf, size_t len,
                  uint64_t off, bool fua);
int sr_vdi_flush(struct sr_vdi *v);
int sr_vdi_trim(struct sr_vdi *v, uint64_t off, uint64_t len);
int sr_vdi_zero(struct sr_vdi *v, uint64_t off, uint64_t len, bool may_trim);
/* Calls fn for consecutive extents covering [off, off + len): allocated
 * (data) or a hole that reads as zeros.  Stops at fn's first non-zero
 * return, which it returns. */
typedef int (*sr_extent_fn)(void *opaque, uint64_t off, uint64_t len,
                            bool hole);
int sr_vdi_extents(struct sr_vdi *v, uint64_t off, uint64_t len,
                   sr_extent_fn fn, void *opaque);

#endif /* SR_H */
