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
    SR_DIR_OPS,
};
