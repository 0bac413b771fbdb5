/*
 * pd_internal.h - helpers shared by the files of daemon/ (not for other
 * modules: they include poold.h).
 */
#ifndef PD_INTERNAL_H
#define PD_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "poold.h"

/*
 * Replaces path with len bytes of data, atomically: a temporary file in the
 * same directory with the given mode, written, fsync'd, renamed over path,
 * then the directory fsync'd.  Reports errors.
 */
int pd_write_file_atomic(struct xt_ctx *ctx, const char *path,
                         const void *data, size_t len, mode_t mode);

/*
 * Reads a whole file of at most max bytes into a NUL-terminated buffer
 * (*len_r, may be NULL, excludes the NUL; the caller frees *buf_r).  A
 * missing file is -ENOENT, reported only when !missing_ok.
 */
int pd_read_file(struct xt_ctx *ctx, const char *path, size_t max,
                 bool missing_ok, char **buf_r, size_t *len_r);

/* Creates dir and its missing parents (parents 0755, dir with mode). */
int pd_mkdir_p(struct xt_ctx *ctx, const char *dir, mode_t mode);

/* Whether the n bytes at a and b are equal, in time independent of them. */
bool pd_ct_equal(const void *a, const void *b, size_t n);

/* Zeroes n bytes in a way the compiler keeps. */
void pd_wipe(void *p, size_t n);

/* Whether addr (numeric) is 127.0.0.0/8 or ::1. */
bool pd_addr_is_loopback(const char *addr);

/* The PEM texts of tls, for the server; owned by tls. */
const char *pd_tls_cert_pem(const struct pd_tls *tls);
const char *pd_tls_key_pem(const struct pd_tls *tls);

/* Sends state ("READY=1", "STOPPING=1") to systemd's notification
 * socket (the sd_notify(3) protocol, without libsystemd); socket is the
 * value $NOTIFY_SOCKET had, NULL for none.  Best effort. */
void pd_sd_notify(const char *socket, const char *state);

#endif /* PD_INTERNAL_H */
