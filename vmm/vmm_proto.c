/*
 * vmm_proto.c - framing of the xm-vmm control protocol (vmm_proto.h).
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vmm_proto.h"

static const char *const cmd_names[VMM_CMD_MAX_] = {
    [VMM_CMD_HELLO] = "hello",
    [VMM_CMD_INFO] = "info",
    [VMM_CMD_GET_MEMFD] = "get-memfd",
    [VMM_CMD_PAUSE] = "pause",
    [VMM_CMD_RESUME] = "resume",
    [VMM_CMD_LOGDIRTY] = "logdirty",
    [VMM_CMD_HARVEST] = "harvest",
    [VMM_CMD_PEEK] = "peek",
    [VMM_CMD_THROTTLE] = "throttle",
    [VMM_CMD_STATE_SAVE] = "state-save",
    [VMM_CMD_STATE_RESTORE] = "state-restore",
    [VMM_CMD_GUEST_STATS] = "guest-stats",
    [VMM_CMD_SHUTDOWN] = "shutdown",
    [VMM_CMD_SHUTDOWN_REQUEST] = "shutdown_request",
    [VMM_CMD_DISK_ADD] = "disk-add",
    [VMM_CMD_DISK_REMOVE] = "disk-remove",
    [VMM_CMD_DISK_LIST] = "disk-list",
    [VMM_CMD_DISK_RETARGET] = "disk-retarget",
};

const char *vmm_cmd_name(uint16_t type)
{
    type &= ~VMM_REPLY;
    if (type == 0 || type >= VMM_CMD_MAX_)
        return "unknown";
    return cmd_names[type];
}

const char *vmm_state_name(enum vmm_state s)
{
    switch (s) {
    case VMM_STATE_RUNNING:  return "running";
    case VMM_STATE_PAUSED:   return "paused";
    case VMM_STATE_INCOMING: return "incoming";
    case VMM_STATE_SHUTDOWN: return "shutdown";
    case VMM_STATE_CRASHED:  return "crashed";
    }
    return "unknown";
}

int vmm_hdr_check(struct xt_ctx *ctx, const struct vmm_msg_hdr *hdr,
                  bool reply)
{
    uint16_t cmd = hdr->type & ~VMM_REPLY;

    if (hdr->magic != VMM_PROTO_MAGIC)
        return xt_error(ctx, -EPROTO, "control message: bad magic %#x",
                        hdr->magic);
    if (hdr->version != VMM_PROTO_VERSION)
        return xt_error(ctx, -EPROTO, "control message: protocol version "
                        "%u, this end speaks %u", hdr->version,
                        VMM_PROTO_VERSION);
    if (hdr->len > VMM_MSG_MAX)
        return xt_error(ctx, -EPROTO, "control message %s: length %u over "
                        "the %u-byte limit", vmm_cmd_name(hdr->type),
                        hdr->len, VMM_MSG_MAX);
    if (!!(hdr->type & VMM_REPLY) != reply)
        return xt_error(ctx, -EPROTO, "control message: expected a %s, got "
                        "type %#x", reply ? "reply" : "request", hdr->type);
    if (cmd == 0 || cmd >= VMM_CMD_MAX_)
        return xt_error(ctx, -EPROTO, "control message: unknown command %u",
                        cmd);
    return 0;
}

int vmm_msg_send(int sock, uint16_t type, uint32_t seq, const void *payload,
                 uint32_t len, int fd_to_pass, int timeout_ms)
{
    struct vmm_msg_hdr hdr = {
        .magic = VMM_PROTO_MAGIC,
        .version = VMM_PROTO_VERSION,
        .type = type,
        .len = len,
        .seq = seq,
    };
    union {
        struct cmsghdr c;
        char buf[CMSG_SPACE(sizeof(int))];
    } cm;
    struct iovec iov = { .iov_base = &hdr, .iov_len = sizeof(hdr) };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
    ssize_t r;

    if (fd_to_pass >= 0) {
        memset(&cm, 0, sizeof(cm));
        mh.msg_control = cm.buf;
        mh.msg_controllen = sizeof(cm.buf);
        cm.c.cmsg_level = SOL_SOCKET;
        cm.c.cmsg_type = SCM_RIGHTS;
        cm.c.cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(&cm.c), &fd_to_pass, sizeof(int));
    }
    /* The header goes in one sendmsg (with the fd); it is 16 bytes and a
     * stream socket with an empty buffer takes it whole. */
    do {
        r = sendmsg(sock, &mh, MSG_NOSIGNAL);
    } while (r < 0 && errno == EINTR);
    if (r < 0)
        return errno == ECONNRESET ? -EPIPE : -errno;
    if ((size_t)r != sizeof(hdr)) {
        int rc = xt_write_full(sock, (char *)&hdr + r, sizeof(hdr) - r,
                               timeout_ms);
        if (rc < 0)
            return rc;
    }
    if (len)
        return xt_write_full(sock, payload, len, timeout_ms);
    return 0;
}

int vmm_msg_recv(struct xt_ctx *ctx, int sock, bool reply,
                 struct vmm_msg_hdr *hdr_r, void **payload_r, int *fd_r,
                 int timeout_ms)
{
    union {
        struct cmsghdr c;
        char buf[CMSG_SPACE(sizeof(int))];
    } cm;
    struct iovec iov = { .iov_base = hdr_r, .iov_len = sizeof(*hdr_r) };
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1,
        .msg_control = cm.buf, .msg_controllen = sizeof(cm.buf),
    };
    struct cmsghdr *c;
    void *payload = NULL;
    int fd = -1;
    ssize_t r;
    int rc;

    *payload_r = NULL;
    if (fd_r)
        *fd_r = -1;
    if (timeout_ms >= 0) {
        struct pollfd pfd = { .fd = sock, .events = POLLIN };

        do {
            r = poll(&pfd, 1, timeout_ms);
        } while (r < 0 && errno == EINTR);
        if (r == 0)
            return xt_error(ctx, -ETIMEDOUT, "control socket: no message "
                            "within %d ms", timeout_ms);
    }
    do {
        r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
    } while (r < 0 && errno == EINTR);
    if (r < 0)
        return xt_error(ctx, -errno, "control socket: receive");
    if (r == 0) {
        rc = -EPIPE;
        if (!reply)
            return rc;  /* a client hung up between requests: not an error */
        return xt_error(ctx, rc, "control socket: peer closed");
    }
    for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
            c->cmsg_len == CMSG_LEN(sizeof(int)))
            memcpy(&fd, CMSG_DATA(c), sizeof(int));
    if ((size_t)r < sizeof(*hdr_r)) {
        rc = xt_read_full(sock, (char *)hdr_r + r, sizeof(*hdr_r) - r,
                          timeout_ms, NULL);
        if (rc < 0) {
            xt_error(ctx, rc, "control socket: truncated header");
            goto out;
        }
    }
    rc = vmm_hdr_check(ctx, hdr_r, reply);
    if (rc < 0)
        goto out;
    if (hdr_r->len) {
        payload = malloc(hdr_r->len);
        if (!payload) {
            rc = xt_error(ctx, -ENOMEM, "control message: %u bytes",
                          hdr_r->len);
            goto out;
        }
        rc = xt_read_full(sock, payload, hdr_r->len, timeout_ms, NULL);
        if (rc < 0) {
            xt_error(ctx, rc, "control message %s: payload of %u bytes",
                     vmm_cmd_name(hdr_r->type), hdr_r->len);
            goto out;
        }
    }
    *payload_r = payload;
    payload = NULL;
    if (fd_r) {
        *fd_r = fd;
        fd = -1;
    }
out:
    free(payload);
    if (fd >= 0)
        close(fd);
    return rc;
}
