/*
 * pd_util.c - files written atomically, small files read whole,
 * directories, constant-time comparison, systemd readiness.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "pd_internal.h"

/* fsync(2) of the directory holding path, so a rename is durable. */
static int sync_parent(struct xt_ctx *ctx, const char *path)
{
    char *copy = NULL;
    int fd = -1;
    int rc;

    copy = strdup(path);
    if (!copy) {
        rc = xt_error(ctx, -ENOMEM, "out of memory");
        goto out;
    }
    fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0) {
        rc = xt_error(ctx, -errno, "cannot sync the directory of %s", path);
        goto out;
    }
    rc = 0;

out:
    if (fd >= 0)
        close(fd);
    free(copy);
    return rc;
}

int pd_write_file_atomic(struct xt_ctx *ctx, const char *path,
                         const void *data, size_t len, mode_t mode)
{
    char *tmp = NULL;
    int fd = -1;
    int rc;

    if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0) {
        tmp = NULL;
        rc = xt_error(ctx, -ENOMEM, "out of memory");
        goto out;
    }
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        rc = xt_error(ctx, -errno, "cannot create a temporary file for %s",
                      path);
        free(tmp);
        tmp = NULL;
        goto out;
    }
    if (fchmod(fd, mode) < 0) {
        rc = xt_error(ctx, -errno, "cannot set the mode of %s", tmp);
        goto out;
    }
    rc = xt_write_full(fd, data, len, -1);
    if (rc < 0) {
        xt_error(ctx, rc, "cannot write %s", tmp);
        goto out;
    }
    if (fsync(fd) < 0) {
        rc = xt_error(ctx, -errno, "cannot sync %s", tmp);
        goto out;
    }
    if (close(fd) < 0) {
        fd = -1;
        rc = xt_error(ctx, -errno, "cannot close %s", tmp);
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) < 0) {
        rc = xt_error(ctx, -errno, "cannot rename %s to %s", tmp, path);
        goto out;
    }
    free(tmp);
    tmp = NULL;
    rc = sync_parent(ctx, path);

out:
    if (fd >= 0)
        close(fd);
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    return rc;
}

int pd_read_file(struct xt_ctx *ctx, const char *path, size_t max,
                 bool missing_ok, char **buf_r, size_t *len_r)
{
    struct stat st;
    char *buf = NULL;
    size_t done = 0;
    int fd = -1;
    int rc;

    *buf_r = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        rc = -errno;
        if (rc != -ENOENT || !missing_ok)
            xt_error(ctx, rc, "cannot open %s", path);
        goto out;
    }
    if (fstat(fd, &st) < 0) {
        rc = xt_error(ctx, -errno, "cannot stat %s", path);
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = xt_error(ctx, -EINVAL, "%s is not a regular file", path);
        goto out;
    }
    if ((uint64_t)st.st_size > max) {
        rc = xt_error(ctx, -EFBIG, "%s is larger than %zu bytes", path, max);
        goto out;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        rc = xt_error(ctx, -ENOMEM, "out of memory");
        goto out;
    }
    rc = xt_read_full(fd, buf, (size_t)st.st_size, -1, &done);
    if (rc == -EPIPE) {
        rc = 0;     /* shrank meanwhile: take what was there */
    } else if (rc < 0) {
        xt_error(ctx, rc, "cannot read %s", path);
        goto out;
    } else {
        done = (size_t)st.st_size;
    }
    buf[done] = '\0';
    *buf_r = buf;
    buf = NULL;
    if (len_r)
        *len_r = done;

out:
    free(buf);
    if (fd >= 0)
        close(fd);
    return rc;
}

int pd_mkdir_p(struct xt_ctx *ctx, const char *dir, mode_t mode)
{
    char *copy = NULL, *p;
    struct stat st;
    int rc;

    copy = strdup(dir);
    if (!copy)
        return xt_error(ctx, -ENOMEM, "out of memory");
    for (p = copy + 1; ; p++) {
        bool last = *p == '\0';

        if (*p != '/' && !last)
            continue;
        *p = '\0';
        if (mkdir(copy, last ? mode : 0755) < 0 && errno != EEXIST) {
            rc = xt_error(ctx, -errno, "cannot create directory %s", copy);
            goto out;
        }
        if (last)
            break;
        *p = '/';
    }
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        rc = xt_error(ctx, -ENOTDIR, "%s is not a directory", dir);
        goto out;
    }
    rc = 0;

out:
    free(copy);
    return rc;
}

bool pd_ct_equal(const void *a, const void *b, size_t n)
{
    const volatile unsigned char *x = a, *y = b;
    unsigned char d = 0;
    size_t i;

    for (i = 0; i < n; i++)
        d |= x[i] ^ y[i];
    return d == 0;
}

void pd_wipe(void *p, size_t n)
{
    if (p)
        explicit_bzero(p, n);
}

bool pd_addr_is_loopback(const char *addr)
{
    struct in6_addr a6;
    struct in_addr a4;

    if (inet_pton(AF_INET, addr, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, addr, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}

void pd_sd_notify(const char *path, const char *state)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    size_t len;
    int fd;

    if (!path || (path[0] != '/' && path[0] != '@'))
        return;
    len = strlen(path);
    if (len >= sizeof(sa.sun_path))
        return;
    memcpy(sa.sun_path, path, len);
    if (path[0] == '@')
        sa.sun_path[0] = '\0';  /* abstract namespace */
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    (void)sendto(fd, state, strlen(state), MSG_NOSIGNAL,
                 (struct sockaddr *)&sa,
                 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
    close(fd);
}
