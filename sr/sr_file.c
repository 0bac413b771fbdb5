/*
 * sr_file.c - the "file" SR: a local directory of sparse raw VDIs
 * (docs/specs/sr-file-layout.md).  Also the body of every driver built on
 * a directory ("shared-file", sr_shared_file.c).
 *
 * Crash safety: a VDI exists exactly when its metadata file <uuid>.meta
 * exists.  Every change is ordered so that one rename is its commit point
 * and an fsync of the directory makes it durable; sr_dir_settle() (run
 * under the SR lock before anything looks at a VDI) finishes or undoes
 * whatever a crash left half-done:
 *   create/copy  <uuid>.raw written and synced, then .meta.tmp -> .meta;
 *                a .raw without .meta is an undone create: removed
 *   resize       .meta.tmp (new size) -> .meta, then the .raw grown;
 *                a .raw shorter than its .meta is grown
 *   destroy      .meta -> .meta.dead, then .raw and .meta.dead removed;
 *                a .meta.dead is a committed destroy: finished
 * Operations that change metadata hold the SR lock: an OFD write lock on
 * the marker file .xm-sr, so hosts sharing the directory (over NFS: the
 * NFS lock manager) never interleave them.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "sr_dir.h"

#define MARKER      ".xm-sr"
#define META_MAX    512

/* ---- small file helpers ------------------------------------------------ */

void sr_dir_name(char *buf, size_t size, const struct xt_uuid *u,
                     const char *ext)
{
    char s[XT_UUID_STRLEN + 1];

    xt_uuid_format(u, s);
    snprintf(buf, size, "%s%s", s, ext);
}

int sr_dir_sync(struct dir_sr *d)
{
    return fsync(d->dirfd) < 0 ? -errno : 0;
}

/* Writes text to name through name.tmp: written, synced, renamed, the
 * directory synced.  fault is hit between the sync and the rename. */
int sr_dir_write_atomic(struct xt_ctx *ctx, int dirfd, const char *name,
                        const char *text, const char *fault)
{
    char tmp[NAME_MAX + 1];
    size_t len = strlen(text);
    int fd = -1, rc;

    snprintf(tmp, sizeof(tmp), "%s.tmp", name);
    fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = xt_error(ctx, -errno, "cannot create %s", tmp);
        goto out;
    }
    rc = xt_write_full(fd, text, len, -1);
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    if (rc < 0) {
        xt_error(ctx, rc, "cannot write %s", tmp);
        goto out;
    }
    if (fault && xt_fault(ctx, fault) == XT_FAULT_FAIL) {
        rc = xt_error(ctx, -EIO, "fault %s", fault);
        goto out;
    }
    if (renameat(dirfd, tmp, dirfd, name) < 0 || fsync(dirfd) < 0) {
        rc = xt_error(ctx, -errno, "cannot commit %s", name);
        goto out;
    }
out:
    if (fd >= 0)
        close(fd);
    if (rc < 0)
        unlinkat(dirfd, tmp, 0);
    return rc;
}

/* Reads a small text file (at most META_MAX - 1 bytes) into buf. */
static int read_small(int dirfd, const char *name, char *buf)
{
    size_t n = 0;
    int fd, rc;

    fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    rc = xt_read_full(fd, buf, META_MAX - 1, -1, &n);
    close(fd);
    if (rc < 0 && rc != -EPIPE)
        return rc;
    if (n == META_MAX - 1)
        return -EFBIG;
    buf[n] = '\0';
    return 0;
}

/* The value of "key value" line key in text, copied to val. */
static bool field(const char *text, const char *key, char *val, size_t size)
{
    size_t klen = strlen(key);
    const char *p = text;

    while (p && *p) {
        if (strncmp(p, key, klen) == 0 && p[klen] == ' ') {
            size_t n = strcspn(p + klen + 1, "\n");

            if (n >= size)
                return false;
            memcpy(val, p + klen + 1, n);
            val[n] = '\0';
            return true;
        }
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    return false;
}

static bool parse_u64(const char *s, uint64_t *v)
{
    char *end;

    if (!*s || *s == '-')
        return false;
    errno = 0;
    *v = strtoull(s, &end, 10);
    return errno == 0 && *end == '\0';
}

/* ---- the SR lock -------------------------------------------------------- */

int sr_dir_ofd_lock(int fd, short type, bool wait)
{
    struct flock fl = { .l_type = type, .l_whence = SEEK_SET };

    if (fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) < 0)
        return errno == EAGAIN || errno == EACCES ? -EBUSY : -errno;
    return 0;
}

/* Takes the SR lock, waiting for other holders; *fd_r closes to drop it. */
int sr_dir_lock(struct sr *sr, int *fd_r)
{
    struct dir_sr *d = sr->priv;
    int fd, rc;

    *fd_r = -1;
    fd = openat(d->dirfd, MARKER, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return xt_error(sr->ctx, -errno, "%s: cannot open %s", d->path,
                        MARKER);
    rc = sr_dir_ofd_lock(fd, F_WRLCK, true);
    if (rc < 0) {
        close(fd);
        return xt_error(sr->ctx, rc, "%s: cannot take the SR lock",
                        d->path);
    }
    *fd_r = fd;
    return 0;
}

void sr_dir_unlock(int fd)
{
    if (fd >= 0)
        close(fd);
}

/* ---- VDI metadata ------------------------------------------------------- */

static int meta_format(char *buf, size_t size, const struct dir_meta *m)
{
    char of[XT_UUID_STRLEN + 1] = "-";

    if (m->is_a_snapshot)
        xt_uuid_format(&m->snapshot_of, of);
    return snprintf(buf, size, "xm-vdi %d\nvirtual_size %" PRIu64
                    "\nsnapshot_of %s\n", SR_VERSION, m->virtual_size, of) <
           (int)size ? 0 : -EOVERFLOW;
}

/* Reads <uuid>.meta: -ENOENT when the VDI does not exist, -EBADMSG when the
 * file is not ours. */
int sr_dir_meta_read(struct sr *sr, const struct xt_uuid *u,
                     struct dir_meta *m)
{
    struct dir_sr *d = sr->priv;
    char name[NAME_MAX + 1], text[META_MAX], val[64];
    int rc;

    memset(m, 0, sizeof(*m));
    sr_dir_name(name, sizeof(name), u, ".meta");
    rc = read_small(d->dirfd, name, text);
    if (rc == -ENOENT)
        return rc;
    if (rc < 0)
        return xt_error(sr->ctx, rc, "%s: cannot read %s", d->path, name);
    if (!field(text, "xm-vdi", val, sizeof(val)) || strcmp(val, "1") != 0 ||
        !field(text, "virtual_size", val, sizeof(val)) ||
        !parse_u64(val, &m->virtual_size) || m->virtual_size == 0 ||
        m->virtual_size % SR_SECTOR ||
        !field(text, "snapshot_of", val, sizeof(val)))
        return xt_error(sr->ctx, -EBADMSG, "%s: %s is not VDI metadata of "
                        "version %d", d->path, name, SR_VERSION);
    if (strcmp(val, "-") != 0) {
        if (xt_uuid_parse(val, &m->snapshot_of) < 0)
            return xt_error(sr->ctx, -EBADMSG, "%s: %s: bad snapshot_of",
                            d->path, name);
        m->is_a_snapshot = true;
    }
    return 0;
}

int sr_dir_meta_write(struct sr *sr, const struct xt_uuid *u,
                      const struct dir_meta *m, const char *fault)
{
    struct dir_sr *d = sr->priv;
    char name[NAME_MAX + 1], text[META_MAX];
    int rc;

    sr_dir_name(name, sizeof(name), u, ".meta");
    rc = meta_format(text, sizeof(text), m);
    if (rc < 0)
        return xt_error(sr->ctx, rc, "metadata of %s too long", name);
    return sr_dir_write_atomic(sr->ctx, d->dirfd, name, text, fault);
}

/* ---- settle: finish or undo what a crash left --------------------------- */

bool sr_dir_exists(int dirfd, const char *name)
{
    struct stat st;

    return fstatat(dirfd, name, &st, 0) == 0;
}

int sr_dir_unlink(int dirfd, const char *name)
{
    return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
}

/* Brings VDI u to a committed state (see the top of the file).  Run under
 * the SR lock; returns 0 whether or not the VDI exists afterwards. */
int sr_dir_settle(struct sr *sr, const struct xt_uuid *u)
{
    struct dir_sr *d = sr->priv;
    char raw[NAME_MAX + 1], meta[NAME_MAX + 1], tmp[NAME_MAX + 1];
    char dead[NAME_MAX + 1];
    struct dir_meta m;
    struct stat st;
    int rc = 0, fd;

    sr_dir_name(raw, sizeof(raw), u, ".raw");
    sr_dir_name(meta, sizeof(meta), u, ".meta");
    sr_dir_name(tmp, sizeof(tmp), u, ".meta.tmp");
    sr_dir_name(dead, sizeof(dead), u, ".meta.dead");
    rc = sr_dir_unlink(d->dirfd, tmp);
    if (rc == 0 && sr_dir_exists(d->dirfd, dead)) {
        rc = sr_dir_unlink(d->dirfd, raw);
        if (rc == 0)
            rc = sr_dir_unlink(d->dirfd, meta);
        if (rc == 0)
            rc = sr_dir_unlink(d->dirfd, dead);
        xt_debug(sr->ctx, "%s: finished the destroy of %s", d->path, raw);
    } else if (rc == 0 && !sr_dir_exists(d->dirfd, meta)) {
        if (sr_dir_exists(d->dirfd, raw))
            xt_debug(sr->ctx, "%s: removed %s, an unfinished create",
                    d->path, raw);
        rc = sr_dir_unlink(d->dirfd, raw);
    } else if (rc == 0 && sr_dir_meta_read(sr, u, &m) == 0 &&
               fstatat(d->dirfd, raw, &st, 0) == 0 &&
               (uint64_t)st.st_size < m.virtual_size) {
        fd = openat(d->dirfd, raw, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || ftruncate(fd, (off_t)m.virtual_size) < 0 ||
            fsync(fd) < 0)
            rc = -errno;
        if (fd >= 0)
            close(fd);
        xt_debug(sr->ctx, "%s: finished the resize of %s", d->path, raw);
    }
    if (rc == 0)
        rc = sr_dir_sync(d);
    if (rc < 0)
        return xt_error(sr->ctx, rc, "%s: cannot settle %s", d->path, raw);
    return 0;
}

/* ---- the SR ------------------------------------------------------------- */

static int marker_text(char *buf, size_t size, const struct sr_spec *spec,
                       uint64_t physical_size)
{
    char u[XT_UUID_STRLEN + 1];

    xt_uuid_format(&spec->uuid, u);
    return snprintf(buf, size, "xm-sr %d\nuuid %s\ntype %s\n"
                    "physical_size %" PRIu64 "\n", SR_VERSION, u,
                    spec->type, physical_size) < (int)size ? 0 : -EOVERFLOW;
}

/* The directory of a spec: device_config "location", absolute. */
static int location_of(struct xt_ctx *ctx, const struct sr_spec *spec,
                       const char **path_r)
{
    size_t i;

    for (i = 0; i < spec->n_device_config; i++) {
        if (strcmp(spec->device_config[i].key, "location") != 0)
            return xt_error(ctx, -EINVAL, "SR type '%s' takes no "
                            "device_config key '%s'", spec->type,
                            spec->device_config[i].key);
    }
    *path_r = sr_spec_get(spec, "location");
    if (!*path_r || (*path_r)[0] != '/')
        return xt_error(ctx, -EINVAL, "SR type '%s' needs device_config "
                        "location=<absolute directory>", spec->type);
    return 0;
}

int sr_dir_create(struct xt_ctx *ctx, const struct sr_spec *spec)
{
    char text[META_MAX];
    struct statvfs vfs;
    uint64_t fs_size, size = spec->physical_size;
    const char *path;
    int dirfd = -1, rc;

    rc = location_of(ctx, spec, &path);
    if (rc < 0)
        return rc;
    dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0 || fstatvfs(dirfd, &vfs) < 0) {
        rc = xt_error(ctx, -errno, "SR location %s", path);
        goto out;
    }
    fs_size = (uint64_t)vfs.f_blocks * vfs.f_frsize / SR_SECTOR * SR_SECTOR;
    if (size == 0)
        size = fs_size;
    if (size > fs_size) {
        rc = xt_error(ctx, -ENOSPC, "physical_size %" PRIu64 " is larger "
                      "than the filesystem of %s (%" PRIu64 " bytes)", size,
                      path, fs_size);
        goto out;
    }
    if (sr_dir_exists(dirfd, MARKER)) {
        rc = xt_error(ctx, -EEXIST, "%s holds an SR already", path);
        goto out;
    }
    rc = marker_text(text, sizeof(text), spec, size);
    if (rc == 0)
        rc = sr_dir_write_atomic(ctx, dirfd, MARKER, text, "sr.create.marker");
out:
    if (dirfd >= 0)
        close(dirfd);
    return rc;
}

/* Checks the marker against the spec; d->physical_size from it. */
static int check_marker(struct sr *sr, struct dir_sr *d)
{
    char text[META_MAX], val[64], want[XT_UUID_STRLEN + 1];
    int rc;

    rc = read_small(d->dirfd, MARKER, text);
    if (rc == -ENOENT)
        return xt_error(sr->ctx, -ENOENT, "no SR at %s", d->path);
    if (rc < 0)
        return xt_error(sr->ctx, rc, "%s: cannot read %s", d->path, MARKER);
    xt_uuid_format(&sr->spec.uuid, want);
    if (!field(text, "xm-sr", val, sizeof(val)) || strcmp(val, "1") != 0)
        return xt_error(sr->ctx, -EBADMSG, "%s: %s is not an SR marker of "
                        "version %d", d->path, MARKER, SR_VERSION);
    if (!field(text, "uuid", val, sizeof(val)) || strcmp(val, want) != 0)
        return xt_error(sr->ctx, -EINVAL, "%s holds SR %s, not %s",
                        d->path, val, want);
    if (!field(text, "type", val, sizeof(val)) ||
        strcmp(val, sr->ops->type) != 0)
        return xt_error(sr->ctx, -EINVAL, "%s holds an SR of type '%s', "
                        "not '%s'", d->path, val, sr->ops->type);
    if (!field(text, "physical_size", val, sizeof(val)) ||
        !parse_u64(val, &d->physical_size))
        return xt_error(sr->ctx, -EBADMSG, "%s: %s: bad physical_size",
                        d->path, MARKER);
    return 0;
}

int sr_dir_attach(struct sr *sr)
{
    struct dir_sr *d;
    const char *path;
    int rc;

    rc = location_of(sr->ctx, &sr->spec, &path);
    if (rc < 0)
        return rc;
    d = calloc(1, sizeof(*d));
    if (!d || !(d->path = strdup(path))) {
        free(d);
        return xt_error(sr->ctx, -ENOMEM, "out of memory");
    }
    sr->priv = d;
    d->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d->dirfd < 0)
        rc = xt_error(sr->ctx, -errno, "SR location %s", path);
    else
        rc = check_marker(sr, d);
    if (rc < 0)
        sr_dir_detach(sr);
    return rc;
}

void sr_dir_detach(struct sr *sr)
{
    struct dir_sr *d = sr->priv;

    if (!d)
        return;
    if (d->dirfd >= 0)
        close(d->dirfd);
    free(d->path);
    free(d);
    sr->priv = NULL;
}

/* Calls fn for each uuid a file of the directory is named after: any such
 * file when ext is NULL (a uuid may then come more than once), else only
 * files named exactly "<uuid><ext>". */
int sr_dir_each(struct sr *sr, const char *ext,
                int (*fn)(struct sr *, const struct xt_uuid *, void *),
                void *opaque)
{
    struct dir_sr *d = sr->priv;
    char s[XT_UUID_STRLEN + 1];
    struct xt_uuid u;
    struct dirent *de;
    DIR *dir;
    int fd, rc = 0;

    fd = openat(d->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    dir = fd >= 0 ? fdopendir(fd) : NULL;
    if (!dir) {
        rc = xt_error(sr->ctx, -errno, "%s: cannot list", d->path);
        if (fd >= 0)
            close(fd);
        return rc;
    }
    while (rc == 0 && (de = readdir(dir))) {
        if (strlen(de->d_name) <= XT_UUID_STRLEN ||
            de->d_name[XT_UUID_STRLEN] != '.' ||
            (ext && strcmp(de->d_name + XT_UUID_STRLEN, ext) != 0))
            continue;
        memcpy(s, de->d_name, XT_UUID_STRLEN);
        s[XT_UUID_STRLEN] = '\0';
        if (xt_uuid_parse(s, &u) == 0)
            rc = fn(sr, &u, opaque);
    }
    closedir(dir);
    return rc;
}

static int settle_one(struct sr *sr, const struct xt_uuid *u, void *opaque)
{
    (void)opaque;
    return sr_dir_settle(sr, u);
}

static int count_one(struct sr *sr, const struct xt_uuid *u, void *opaque)
{
    struct dir_meta m;

    if (sr_dir_meta_read(sr, u, &m) == 0)
        (*(size_t *)opaque)++;
    return 0;
}

int sr_dir_destroy(struct sr *sr)
{
    struct dir_sr *d = sr->priv;
    size_t n = 0;
    int lock = -1, rc;

    rc = sr_dir_lock(sr, &lock);
    if (rc == 0)
        rc = sr_dir_each(sr, NULL, settle_one, NULL);
    if (rc == 0)
        rc = sr_dir_each(sr, ".meta", count_one, &n);
    if (rc == 0 && n)
        rc = xt_error(sr->ctx, -ENOTEMPTY, "%s still holds %zu VDI%s",
                      d->path, n, n == 1 ? "" : "s");
    if (rc == 0 && (unlinkat(d->dirfd, MARKER, 0) < 0 ||
                    sr_dir_sync(d) < 0))
        rc = xt_error(sr->ctx, -errno, "%s: cannot remove %s", d->path,
                      MARKER);
    sr_dir_unlock(lock);
    return rc;
}

const struct sr_ops sr_file_ops = {
    .type = "file",
    .shared = false,
    SR_DIR_OPS,
};
