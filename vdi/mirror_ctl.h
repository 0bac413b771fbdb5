/*
 * mirror_ctl.h - the mirror control protocol (docs/specs/mirror.md): how
 * the daemon drives the mirror inside a block service, over the
 * service's control socket (nbdkit-xmvdi-plugin ctl=PATH).  One codec:
 * the plugin and its clients (the daemon, tests) parse and format here.
 *
 * A stream of lines (at most MIRROR_CTL_LINE_MAX bytes with the '\n');
 * each request line gets one reply line:
 *   request  COMMAND [KEY=VALUE]...   (values have no blanks)
 *   reply    "ok" [KEY=VALUE]... [reason=REST OF LINE]
 *            "error" ERRNO-NUMBER MESSAGE
 */
#ifndef VDI_MIRROR_CTL_H
#define VDI_MIRROR_CTL_H

#include <stddef.h>

#include "mirror.h"
#include "xt.h"

#define MIRROR_CTL_VERSION  1
#define MIRROR_CTL_LINE_MAX 4096
#define MIRROR_CTL_KV_MAX   16

enum mirror_ctl_cmd {
    MIRROR_CTL_START = 1,   /* uri= [granule= chunk= conns= max_bps=
                             * stall_ms= target_zeroed=0|1 state_file=] */
    MIRROR_CTL_STATUS,
    MIRROR_CTL_WAIT,        /* state= gen= synced= timeout_ms= */
    MIRROR_CTL_COMPLETE,    /* gen= [timeout_ms=] */
    MIRROR_CTL_CANCEL,
    MIRROR_CTL_RESUME,      /* [uri=] */
    MIRROR_CTL_STOP,        /* forget an ended mirror */
};

struct mirror_ctl_req {
    enum mirror_ctl_cmd cmd;
    unsigned n;
    char *key[MIRROR_CTL_KV_MAX];
    char *val[MIRROR_CTL_KV_MAX];
};

/*
 * Parses line (modified in place: req points into it).  -EINVAL with the
 * reason in why for an unknown command, a malformed or repeated key, too
 * many keys, or a line that does not end in '\n'.
 */
int mirror_ctl_parse(char *line, struct mirror_ctl_req *req, char *why,
                     size_t why_size);
/* The value of key, or NULL. */
const char *mirror_ctl_get(const struct mirror_ctl_req *req, const char *key);
/* A numeric value: 0 (def when absent), or -EINVAL naming the key. */
int mirror_ctl_u64(const struct mirror_ctl_req *req, const char *key,
                   uint64_t def, uint64_t *v_r, char *why, size_t why_size);
/* Fills cfg from a START request; its strings point into req. */
int mirror_ctl_cfg(const struct mirror_ctl_req *req, struct mirror_cfg *cfg,
                   char *why, size_t why_size);

/* enum mirror_state of its name: 0, or -EINVAL. */
int mirror_state_parse(const char *name, enum mirror_state *s_r);
/* Reads one line (with its '\n') from fd into buf, NUL-terminated,
 * waiting at most timeout_ms per byte; -EMSGSIZE when it does not fit. */
int mirror_ctl_read_line(int fd, char *buf, size_t size, int timeout_ms);

/* "ok state=... gen=... ..." for st, with '\n'. */
void mirror_ctl_format_status(const struct mirror_status *st, char *buf,
                              size_t size);
/* The reverse, for clients: -EPROTO on a reply that is not one. */
int mirror_ctl_parse_status(const char *reply, struct mirror_status *st);

/*
 * A client's exchange: connects to the control socket at path, sends
 * request (a line without its '\n'), reads the reply line into reply.  An
 * "error" reply is reported into ctx and answered as its -errno.  Waits
 * at most timeout_ms in all.
 */
int mirror_ctl_call(struct xt_ctx *ctx, const char *path,
                    const char *request, char *reply, size_t size,
                    int timeout_ms);

#endif /* VDI_MIRROR_CTL_H */
