/*
 * sr_fileio.c - I/O on a VDI that is one raw file (v->priv: struct
 * dir_vdi), for any thread: pread/pwrite loops, FUA by RWF_DSYNC, trim and
 * zeroing by fallocate, allocation by SEEK_DATA/SEEK_HOLE.  Nothing is
 * reported here: the caller reports the errno returned.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "sr_dir.h"

#define ZERO_CHUNK (1u << 20)

static int fd_of(const struct sr_vdi *v)
{
    return ((const struct dir_vdi *)v->priv)->fd;
}

int sr_fd_pread(struct sr_vdi *v, void *buf, size_t len, uint64_t off)
{
    char *p = buf;
    ssize_t r;

    while (len) {
        r = pread(fd_of(v), p, len, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0) {           /* past the file's end: reads as zeros */
            memset(p, 0, len);
            break;
        }
        p += r;
        off += (uint64_t)r;
        len -= (size_t)r;
    }
    return 0;
}

int sr_fd_pwrite(struct sr_vdi *v, const void *buf, size_t len,
                 uint64_t off, bool fua)
{
    const char *p = buf;
    struct iovec iov;
    ssize_t r;

    while (len) {
        iov = (struct iovec){ .iov_base = (void *)p, .iov_len = len };
        r = pwritev2(fd_of(v), &iov, 1, (off_t)off, fua ? RWF_DSYNC : 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == EOPNOTSUPP && fua) {
            r = pwrite(fd_of(v), p, len, (off_t)off);
            if (r > 0 && fdatasync(fd_of(v)) < 0)
                return -errno;
        }
        if (r < 0)
            return -errno;
        if (r == 0)
            return -EIO;
        p += r;
        off += (uint64_t)r;
        len -= (size_t)r;
    }
    return 0;
}

int sr_fd_flush(struct sr_vdi *v)
{
    return fdatasync(fd_of(v)) < 0 ? -errno : 0;
}

/* Advisory: a filesystem that cannot punch holes keeps the data. */
int sr_fd_trim(struct sr_vdi *v, uint64_t off, uint64_t len)
{
    if (len && fallocate(fd_of(v), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                         (off_t)off, (off_t)len) < 0 && errno != EOPNOTSUPP)
        return -errno;
    return 0;
}

static int write_zeros(struct sr_vdi *v, uint64_t off, uint64_t len)
{
    void *z = calloc(1, ZERO_CHUNK);
    int rc = z ? 0 : -ENOMEM;

    while (rc == 0 && len) {
        size_t n = len < ZERO_CHUNK ? (size_t)len : ZERO_CHUNK;

        rc = sr_fd_pwrite(v, z, n, off, false);
        off += n;
        len -= n;
    }
    free(z);
    return rc;
}

/* Zeros [off, off+len): freed with may_trim, else kept allocated (NBD's
 * NO_HOLE), by the cheapest means the filesystem has. */
int sr_fd_zero(struct sr_vdi *v, uint64_t off, uint64_t len, bool may_trim)
{
    int fd = fd_of(v);

    if (!len)
        return 0;
    if (may_trim && fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                              (off_t)off, (off_t)len) == 0)
        return 0;
    if (fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
                  (off_t)off, (off_t)len) == 0)
        return 0;
    if (errno != EOPNOTSUPP)
        return -errno;
    if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                  (off_t)off, (off_t)len) == 0 &&
        fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
        return 0;
    return write_zeros(v, off, len);
}

int sr_fd_extents(struct sr_vdi *v, uint64_t off, uint64_t len,
                  sr_extent_fn fn, void *opaque)
{
    uint64_t end = off + len, next;
    off_t data, hole;
    int rc = 0;

    while (rc == 0 && off < end) {
        data = lseek(fd_of(v), (off_t)off, SEEK_DATA);
        if (data < 0 && errno != ENXIO)
            return -errno;
        if (data < 0 || (uint64_t)data >= end)
            return fn(opaque, off, end - off, true);
        if ((uint64_t)data > off) {
            rc = fn(opaque, off, (uint64_t)data - off, true);
            off = (uint64_t)data;
            continue;
        }
        hole = lseek(fd_of(v), data, SEEK_HOLE);
        if (hole < 0)
            return -errno;
        next = (uint64_t)hole < end ? (uint64_t)hole : end;
        rc = fn(opaque, off, next - off, false);
        off = next;
    }
    return rc;
}
