/*
 * sr_dir.h - the pieces of the directory drivers ("file", "shared-file")
 * that sr_file.c, sr_file_vdi.c and sr_fileio.c share.  Layout and crash
 * order: sr_file.c and docs/specs/sr-file-layout.md.
 */
#ifndef SR_DIR_H
#define SR_DIR_H

#include <limits.h>

#include "sr_internal.h"

/* sr->priv of an attached directory SR. */
struct dir_sr {
    char *path;
    int dirfd;                      /* the directory, O_RDONLY */
    uint64_t physical_size;         /* from the marker */
};

/* What <uuid>.meta holds. */
struct dir_meta {
    uint64_t virtual_size;
    bool is_a_snapshot;
    struct xt_uuid snapshot_of;
};

/* v->priv of an open VDI. */
struct dir_vdi {
    int fd;                         /* <uuid>.raw, holding the OFD lock */
};

/* "<uuid><ext>" into buf. */
void sr_dir_name(char *buf, size_t size, const struct xt_uuid *u,
                 const char *ext);
int sr_dir_sync(struct dir_sr *d);
int sr_dir_write_atomic(struct xt_ctx *ctx, int dirfd, const char *name,
                        const char *text, const char *fault);
bool sr_dir_exists(int dirfd, const char *name);
int sr_dir_unlink(int dirfd, const char *name);     /* ENOENT is fine */

/* An OFD lock on the whole file (F_RDLCK, F_WRLCK); -EBUSY when held. */
int sr_dir_ofd_lock(int fd, short type, bool wait);
/* The SR lock (see sr_file.c): *fd_r, released by sr_dir_unlock. */
int sr_dir_lock(struct sr *sr, int *fd_r);
void sr_dir_unlock(int fd);

/* -ENOENT (not reported) when the VDI does not exist. */
int sr_dir_meta_read(struct sr *sr, const struct xt_uuid *u,
                     struct dir_meta *m);
/* Commits m as u's metadata; fault is hit just before the commit. */
int sr_dir_meta_write(struct sr *sr, const struct xt_uuid *u,
                      const struct dir_meta *m, const char *fault);
/* Finishes or undoes what a crash left of u; under the SR lock. */
int sr_dir_settle(struct sr *sr, const struct xt_uuid *u);
/* fn for every uuid a file "<uuid><ext>" is named after (ext NULL: any
 * extension, so a uuid may come more than once); stops at an error. */
int sr_dir_each(struct sr *sr, const char *ext,
                int (*fn)(struct sr *, const struct xt_uuid *, void *),
                void *opaque);

/* The ops of the directory drivers (sr_file.c, sr_file_vdi.c). */
int sr_dir_create(struct xt_ctx *ctx, const struct sr_spec *spec);
int sr_dir_attach(struct sr *sr);
void sr_dir_detach(struct sr *sr);
int sr_dir_destroy(struct sr *sr);
int sr_dir_stat(struct sr *sr, struct sr_stat *st);
int sr_dir_scan(struct sr *sr, struct sr_vdi_info **vdis_r, size_t *n_r);
int sr_dir_vdi_create(struct sr *sr, const struct xt_uuid *vdi,
                      uint64_t size);
int sr_dir_vdi_destroy(struct sr *sr, const struct xt_uuid *vdi);
int sr_dir_vdi_info(struct sr *sr, const struct xt_uuid *vdi,
                    struct sr_vdi_info *info);
int sr_dir_vdi_resize(struct sr *sr, const struct xt_uuid *vdi,
                      uint64_t size);
int sr_dir_vdi_copy(struct sr *sr, const struct xt_uuid *src,
                    const struct xt_uuid *dst, bool snapshot);
int sr_dir_vdi_open(struct sr *sr, const struct xt_uuid *vdi,
                    bool read_only, struct sr_vdi *v);
void sr_dir_vdi_close(struct sr_vdi *v);

/* sr_fileio.c: I/O on an open raw file (v->priv is a struct dir_vdi). */
int sr_fd_pread(struct sr_vdi *v, void *buf, size_t len, uint64_t off);
int sr_fd_pwrite(struct sr_vdi *v, const void *buf, size_t len,
                 uint64_t off, bool fua);
int sr_fd_flush(struct sr_vdi *v);
int sr_fd_trim(struct sr_vdi *v, uint64_t off, uint64_t len);
int sr_fd_zero(struct sr_vdi *v, uint64_t off, uint64_t len, bool may_trim);
int sr_fd_extents(struct sr_vdi *v, uint64_t off, uint64_t len,
                  sr_extent_fn fn, void *opaque);

/* The ops table entries every directory driver shares (all but .type and
 * .shared). */
#define SR_DIR_OPS \
    .caps = 1u << SR_CAP_RESIZE | 1u << SR_CAP_SNAPSHOT | \
            1u << SR_CAP_CLONE | 1u << SR_CAP_TRIM | 1u << SR_CAP_EXTENTS, \
    .create = sr_dir_create, .attach = sr_dir_attach, \
    .detach = sr_dir_detach, .destroy = sr_dir_destroy, \
    .stat = sr_dir_stat, .scan = sr_dir_scan, \
    .vdi_create = sr_dir_vdi_create, .vdi_destroy = sr_dir_vdi_destroy, \
    .vdi_info = sr_dir_vdi_info, .vdi_resize = sr_dir_vdi_resize, \
    .vdi_copy = sr_dir_vdi_copy, .vdi_open = sr_dir_vdi_open, \
    .vdi_close = sr_dir_vdi_close, \
    .pread = sr_fd_pread, .pwrite = sr_fd_pwrite, .flush = sr_fd_flush, \
    .trim = sr_fd_trim, .zero = sr_fd_zero, .extents = sr_fd_extents

#endif /* SR_DIR_H */
