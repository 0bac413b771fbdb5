/*
 * sr_shared_file.c - the "shared-file" SR: the file SR's layout on a
 * directory that every host of the pool mounts (NFS in production; tests
 * give all hosts of one machine the same directory).
 *
 * Everything is the file SR's (sr_file.c): its locks are OFD locks, which
 * hold between processes and, on NFS, between hosts (the client passes
 * them to the server's lock manager), so the SR lock orders metadata
 * changes across the pool and a VDI's lock keeps a second host from
 * opening it for writing.  What differs is that the pool may attach it on
 * every host at once.
 */
#include "config.h"

#include "sr_dir.h"

const struct sr_ops sr_shared_file_ops = {
    .type = "shared-file",
    .shared = true,
    .caps = 1u << SR_CAP_RESIZE | 1u << SR_CAP_SNAPSHOT |
            1u << SR_CAP_CLONE | 1u << SR_CAP_TRIM | 1u << SR_CAP_EXTENTS,
    .create = sr_dir_create,
    .attach = sr_dir_attach,
    .detach = sr_dir_detach,
    .destroy = sr_dir_destroy,
    .stat = sr_dir_stat,
    .scan = sr_dir_scan,
    .vdi_create = sr_dir_vdi_create,
    .vdi_destroy = sr_dir_vdi_destroy,
    .vdi_info = sr_dir_vdi_info,
    .vdi_resize = sr_dir_vdi_resize,
    .vdi_copy = sr_dir_vdi_copy,
    .vdi_open = sr_dir_vdi_open,
    .vdi_close = sr_dir_vdi_close,
    .pread = sr_fd_pread,
    .pwrite = sr_fd_pwrite,
    .flush = sr_fd_flush,
    .trim = sr_fd_trim,
    .zero = sr_fd_zero,
    .extents = sr_fd_extents,
};
