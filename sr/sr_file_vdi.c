/*
 * sr_file_vdi.c - the VDIs of a directory SR: space, scan, create,
 * destroy, resize, snapshot/clone, open.  Commit order: sr_file.c.
 *
 * Space: the SR never promises more than it holds.  A VDI fits when its
 * virtual size fits both in physical_size less the virtual sizes of the
 * VDIs there already, and in the filesystem's free space less what those
 * VDIs may still allocate (virtual size less what they hold now), so that
 * every VDI can be written to its end without ENOSPC from this SR's files.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "sr_dir.h"

#define COPY_CHUNK  (8u << 20)

/* ---- space -------------------------------------------------------------- */

struct space {
    uint64_t virtual_allocation;
    uint64_t utilisation;
    uint64_t unwritten;             /* promised, not allocated yet */
};

static uint64_t allocated(int dirfd, const struct xt_uuid *u)
{
    char raw[NAME_MAX + 1];
    struct stat st;

    sr_dir_name(raw, sizeof(raw), u, ".raw");
    return fstatat(dirfd, raw, &st, 0) == 0 ? (uint64_t)st.st_blocks * 512 :
           0;
}

static int add_space(struct sr *sr, const struct xt_uuid *u, void *opaque)
{
    struct dir_sr *d = sr->priv;
    struct space *sp = opaque;
    struct dir_meta m;
    uint64_t a;

    if (sr_dir_meta_read(sr, u, &m) < 0)
        return 0;       /* a leftover of another kind: settle's business */
    a = allocated(d->dirfd, u);
    sp->virtual_allocation += m.virtual_size;
    sp->utilisation += a;
    sp->unwritten += a < m.virtual_size ? m.virtual_size - a : 0;
    return 0;
}

static int space_of(struct sr *sr, struct space *sp, uint64_t *free_r)
{
    struct dir_sr *d = sr->priv;
    struct statvfs vfs;
    uint64_t fs_free, by_size, by_fs;
    int rc;

    memset(sp, 0, sizeof(*sp));
    rc = sr_dir_each(sr, ".meta", add_space, sp);
    if (rc < 0)
        return rc;
    if (fstatvfs(d->dirfd, &vfs) < 0)
        return xt_error(sr->ctx, -errno, "%s: statvfs", d->path);
    fs_free = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    by_size = d->physical_size > sp->virtual_allocation ?
              d->physical_size - sp->virtual_allocation : 0;
    by_fs = fs_free > sp->unwritten ? fs_free - sp->unwritten : 0;
    *free_r = (by_size < by_fs ? by_size : by_fs) / SR_SECTOR * SR_SECTOR;
    return 0;
}

/* -ENOSPC (reported as SR_FULL's reason) unless size fits. */
static int check_fits(struct sr *sr, uint64_t size)
{
    struct dir_sr *d = sr->priv;
    struct space sp;
    uint64_t free;
    int rc;

    rc = space_of(sr, &sp, &free);
    if (rc < 0)
        return rc;
    if (size > free)
        return xt_error(sr->ctx, -ENOSPC, "SR %s is full: %" PRIu64
                        " bytes free, %" PRIu64 " needed", d->path, free,
                        size);
    return 0;
}

int sr_dir_stat(struct sr *sr, struct sr_stat *st)
{
    struct dir_sr *d = sr->priv;
    struct space sp;
    int lock = -1, rc;

    rc = sr_dir_lock(sr, &lock);
    if (rc == 0)
        rc = space_of(sr, &sp, &st->free);
    sr_dir_unlock(lock);
    if (rc < 0)
        return rc;
    st->physical_size = d->physical_size;
    st->physical_utilisation = sp.utilisation;
    st->virtual_allocation = sp.virtual_allocation;
    return 0;
}

/* ---- scan --------------------------------------------------------------- */

struct scan {
    struct sr_vdi_info *v;
    size_t n, cap;
};

static int fill_info(struct sr *sr, const struct xt_uuid *u,
                     const struct dir_meta *m, struct sr_vdi_info *info)
{
    struct dir_sr *d = sr->priv;
    char raw[NAME_MAX + 1];

    memset(info, 0, sizeof(*info));
    info->uuid = *u;
    info->virtual_size = m->virtual_size;
    info->is_a_snapshot = m->is_a_snapshot;
    info->snapshot_of = m->snapshot_of;
    sr_dir_name(raw, sizeof(raw), u, ".raw");
    info->missing = !sr_dir_exists(d->dirfd, raw);
    info->physical_utilisation = allocated(d->dirfd, u);
    return 0;
}

static int settle_one(struct sr *sr, const struct xt_uuid *u, void *opaque)
{
    (void)opaque;
    return sr_dir_settle(sr, u);
}

static int scan_one(struct sr *sr, const struct xt_uuid *u, void *opaque)
{
    struct scan *sc = opaque;
    struct dir_meta m;
    int rc;

    rc = sr_dir_meta_read(sr, u, &m);
    if (rc == -ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    if (sc->n == sc->cap) {
        size_t cap = sc->cap ? 2 * sc->cap : 16;
        struct sr_vdi_info *v = realloc(sc->v, cap * sizeof(*v));

        if (!v)
            return xt_error(sr->ctx, -ENOMEM, "out of memory");
        sc->v = v;
        sc->cap = cap;
    }
    return fill_info(sr, u, &m, &sc->v[sc->n++]);
}

int sr_dir_scan(struct sr *sr, struct sr_vdi_info **vdis_r, size_t *n_r)
{
    struct scan sc = { 0 };
    int lock = -1, rc;

    rc = sr_dir_lock(sr, &lock);
    if (rc == 0)
        rc = sr_dir_each(sr, NULL, settle_one, NULL);
    if (rc == 0)
        rc = sr_dir_each(sr, ".meta", scan_one, &sc);
    sr_dir_unlock(lock);
    if (rc < 0) {
        free(sc.v);
        return rc;
    }
    *vdis_r = sc.v;
    *n_r = sc.n;
    return 0;
}

/* ---- create, destroy, info, resize -------------------------------------- */

/* Creates <uuid>.raw of size bytes, O_EXCL, synced; its fd in *fd_r. */
static int new_raw(struct sr *sr, const struct xt_uuid *u, uint64_t size,
                   int *fd_r)
{
    struct dir_sr *d = sr->priv;
    char raw[NAME_MAX + 1];
    int fd;

    sr_dir_name(raw, sizeof(raw), u, ".raw");
    fd = openat(d->dirfd, raw, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return xt_error(sr->ctx, -errno, "%s: cannot create %s", d->path,
                        raw);
    if (ftruncate(fd, (off_t)size) < 0) {
        int rc = xt_error(sr->ctx, -errno, "%s: cannot size %s", d->path,
                          raw);

        close(fd);
        sr_dir_unlink(d->dirfd, raw);
        return rc;
    }
    *fd_r = fd;
    return 0;
}

/* Settles u and fails -EEXIST if it is a VDI (or -ENOENT with !want). */
static int settle_expect(struct sr *sr, const struct xt_uuid *u, bool want,
                         struct dir_meta *m)
{
    struct dir_sr *d = sr->priv;
    char s[XT_UUID_STRLEN + 1];
    int rc;

    rc = sr_dir_settle(sr, u);
    if (rc < 0)
        return rc;
    rc = sr_dir_meta_read(sr, u, m);
    xt_uuid_format(u, s);
    if (rc == -ENOENT && want)
        return xt_error(sr->ctx, -ENOENT, "%s: no VDI %s", d->path, s);
    if (rc == 0 && !want)
        return xt_error(sr->ctx, -EEXIST, "%s: VDI %s exists already",
                        d->path, s);
    return rc == -ENOENT ? 0 : rc;
}

/* Syncs fd and the directory, then commits m; fault_data is hit when the
 * data is durable, before the metadata is written. */
static int commit_new(struct sr *sr, const struct xt_uuid *u, int fd,
                      const struct dir_meta *m, const char *fault_data,
                      const char *fault_meta)
{
    struct dir_sr *d = sr->priv;
    int rc = 0;

    if (fsync(fd) < 0 || sr_dir_sync(d) < 0)
        return xt_error(sr->ctx, -errno, "%s: cannot sync a new VDI",
                        d->path);
    if (xt_fault(sr->ctx, fault_data) == XT_FAULT_FAIL)
        rc = xt_error(sr->ctx, -EIO, "fault %s", fault_data);
    if (rc == 0)
        rc = sr_dir_meta_write(sr, u, m, fault_meta);
    return rc;
}

int sr_dir_vdi_create(struct sr *sr, const struct xt_uuid *vdi,
                      uint64_t size)
{
    struct dir_meta m = { .virtual_size = size };
    int lock = -1, fd = -1, rc;

    rc = sr_dir_lock(sr, &lock);
    if (rc == 0)
        rc = settle_expect(sr, vdi, false, &m);
    m = (struct dir_meta){ .virtual_size = size };
    if (rc == 0)
        rc = check_fits(sr, size);
    if (rc == 0)
        rc = new_raw(sr, vdi, size, &fd);
    if (rc == 0)
        rc = commit_new(sr, vdi, fd, &m, "sr.vdi-create.data",
                        "sr.vdi-create.meta");
    if (fd >= 0)
        close(fd);
    if (rc < 0 && fd >= 0)
        sr_dir_settle(sr, vdi);     /* removes the uncommitted data */
    sr_dir_unlock(lock);
    return rc;
}

/* Opens <uuid>.raw and takes its lock without waiting: -EBUSY (reported,
 * as VDI_IN_USE's reason) when someone holds it against us. */
static int take_vdi(struct sr *sr, const struct xt_uuid *u, bool read_only,
                    int *fd_r)
{
    struct dir_sr *d = sr->priv;
    char raw[NAME_MAX + 1];
    int fd, rc;

    *fd_r = -1;
    sr_dir_name(raw, sizeof(raw), u, ".raw");
    fd = openat(d->dirfd, raw, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0)
        return xt_error(sr->ctx, -errno, "%s: cannot open %s", d->path, raw);
    rc = sr_dir_ofd_lock(fd, read_only ? F_RDLCK : F_WRLCK, false);
    if (rc < 0) {
        close(fd);
        return xt_error(sr->ctx, rc, "%s: VDI %.*s is in use (open %s)",
                        d->path, XT_UUID_STRLEN, raw,
                        read_only ? "for writing elsewhere" : "elsewhere");
    }
    *fd_r = fd;
    return 0;
}

int sr_dir_vdi_destroy(struct sr *sr, const struct xt_uuid *vdi)
{
    struct dir_sr *d = sr->priv;
    char meta[NAME_MAX + 1], dead[NAME_MAX + 1], raw[NAME_MAX + 1];
    struct dir_meta m;
    int lock = -1, fd = -1, rc;

    sr_dir_name(meta, sizeof(meta), vdi, ".meta");
    sr_dir_name(dead, sizeof(dead), vdi, ".meta.dead");
    rc = sr_dir_lock(sr, &lock);
    if (rc == 0)
        rc = settle_expect(sr, vdi, true, &m);
    sr_dir_name(raw, sizeof(raw), vdi, ".raw");
    if (rc == 0 && sr_dir_exists(d->dirfd, raw))    /* else: missing */
        rc = take_vdi(sr, vdi, false, &fd);
    if (rc == 0 && (renameat(d->dirfd, meta, d->dirfd, dead) < 0 ||
                    sr_dir_sync(d) < 0))
        rc = xt_error(sr->ctx, -errno, "%s: cannot commit the destroy of "
                      "%s", d->path, meta);
    if (rc == 0)
        xt_fault(sr->ctx, "sr.vdi-destroy.committed");
    if (rc == 0)
        rc = sr_dir_settle(sr, vdi);    /* removes the data, then .dead */
    if (fd >= 0)
        close(fd);
    sr_dir_unlock(lock);
    return rc;
}

int sr_dir_vdi_info(struct sr *sr, const struct xt_uuid *vdi,
                    struct sr_vdi_info *info)
{
    struct dir_meta m;
    int lock = -1, rc;

    rc = sr_dir_lock(sr, &lock);
    if (rc == 0)
        rc = settle_expect(sr, vdi, true, &m);
    if (rc == 0)
        rc = fill_info(sr, vdi, &m, info);
    sr_dir_unlock(lock);
    return rc;
}

int sr_dir_vdi_resize(struct sr *sr, const struct xt_uuid *vdi,
                      uint64_t size)
{
    struct dir_sr *d = sr->priv;
    struct dir_meta m;
    int lock = -1, rc;

    rc = sr_dir_lock(sr, &lock);
    if (rc == 0)
        rc = settle_expect(sr, vdi, true, &m);
    if (rc == 0 && size < m.virtual_size)
        rc = xt_error(sr->ctx, -EINVAL, "%s: a VDI only grows (%" PRIu64
                      " < %" PRIu64 ")", d->path, size, m.virtual_size);
    if (rc == 0 && size > m.virtual_size)
        rc = check_fits(sr, size - m.virtual_size);
    if (rc == 0 && size > m.virtual_size) {
        m.virtual_size = size;
        rc = sr_dir_meta_write(sr, vdi, &m, "sr.vdi-resize.meta");
        if (rc == 0)
            xt_fault(sr->ctx, "sr.vdi-resize.committed");
        if (rc == 0)
            rc = sr_dir_settle(sr, vdi);    /* grows the data */
    }
    sr_dir_unlock(lock);
    return rc;
}

/* ---- snapshot and clone: a full, sparse copy ---------------------------- */

/* Copies [data, hole) of src into dst. */
static int copy_extent(int src, int dst, off_t data, off_t hole)
{
    while (data < hole) {
        loff_t in = data, out = data;
        size_t n = (uint64_t)(hole - data) < COPY_CHUNK ?
                   (size_t)(hole - data) : COPY_CHUNK;
        ssize_t r = copy_file_range(src, &in, dst, &out, n, 0);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? -errno : -EIO;
        data += r;
    }
    return 0;
}

/* Copies the data extents of src into dst (both size bytes): a reflink
 * where the filesystem shares extents, else extent by extent.  The fault
 * point "sr.vdi-copy.copying" is hit once: after the first extent, with
 * the copy under way (or after the reflink). */
static int copy_data(int src, int dst, uint64_t size, struct xt_ctx *ctx)
{
    bool hit = false;
    uint64_t off = 0;
    off_t data, hole;
    int rc = 0;

    if (ioctl(dst, FICLONE, src) == 0)
        return xt_fault(ctx, "sr.vdi-copy.copying") == XT_FAULT_FAIL ?
               -EIO : 0;
    while (rc == 0 && off < size) {
        data = lseek(src, (off_t)off, SEEK_DATA);
        if (data < 0 && errno == ENXIO)
            break;                      /* only a hole from off on */
        hole = data < 0 ? data : lseek(src, data, SEEK_HOLE);
        if (hole < 0)
            return -errno;
        rc = copy_extent(src, dst, data, hole);
        if (rc == 0 && !hit) {
            hit = true;
            if (xt_fault(ctx, "sr.vdi-copy.copying") == XT_FAULT_FAIL)
                rc = -EIO;
        }
        off = (uint64_t)hole;
    }
    return rc;
}

int sr_dir_vdi_copy(struct sr *sr, const struct xt_uuid *src,
                    const struct xt_uuid *dst, bool snapshot)
{
    struct dir_sr *d = sr->priv;
    char raw[NAME_MAX + 1];
    struct dir_meta m, dm;
    int lock = -1, in = -1, out = -1, rc;

    rc = sr_dir_lock(sr, &lock);
    if (rc == 0)
        rc = settle_expect(sr, src, true, &m);
    if (rc == 0)
        rc = settle_expect(sr, dst, false, &dm);
    if (rc == 0)
        rc = check_fits(sr, m.virtual_size);
    sr_dir_name(raw, sizeof(raw), src, ".raw");
    if (rc == 0 && (in = openat(d->dirfd, raw, O_RDONLY | O_CLOEXEC)) < 0)
        rc = xt_error(sr->ctx, -errno, "%s: cannot open %s", d->path, raw);
    if (rc == 0)
        rc = new_raw(sr, dst, m.virtual_size, &out);
    if (rc == 0) {
        rc = copy_data(in, out, m.virtual_size, sr->ctx);
        if (rc < 0)
            xt_error(sr->ctx, rc, "%s: cannot copy %s", d->path, raw);
    }
    dm = (struct dir_meta){ .virtual_size = m.virtual_size,
                            .is_a_snapshot = snapshot };
    if (snapshot)
        dm.snapshot_of = *src;
    if (rc == 0)
        rc = commit_new(sr, dst, out, &dm, "sr.vdi-copy.data",
                        "sr.vdi-copy.meta");
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    if (rc < 0 && out >= 0)
        sr_dir_settle(sr, dst);     /* removes the uncommitted copy */
    sr_dir_unlock(lock);
    return rc;
}

/* ---- open --------------------------------------------------------------- */

int sr_dir_vdi_open(struct sr *sr, const struct xt_uuid *vdi,
                    bool read_only, struct sr_vdi *v)
{
    struct dir_vdi *dv;
    struct dir_meta m;
    int lock = -1, fd = -1, rc;

    dv = calloc(1, sizeof(*dv));
    if (!dv)
        return xt_error(sr->ctx, -ENOMEM, "out of memory");
    rc = sr_dir_lock(sr, &lock);
    if (rc == 0)
        rc = settle_expect(sr, vdi, true, &m);
    if (rc == 0)
        rc = take_vdi(sr, vdi, read_only, &fd);
    sr_dir_unlock(lock);
    if (rc < 0) {
        free(dv);
        return rc;
    }
    dv->fd = fd;
    v->priv = dv;
    v->size = m.virtual_size;
    return 0;
}

void sr_dir_vdi_close(struct sr_vdi *v)
{
    struct dir_vdi *dv = v->priv;

    if (!dv)
        return;
    close(dv->fd);      /* drops the lock */
    free(dv);
    v->priv = NULL;
}
