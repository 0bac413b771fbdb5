/*
 * mirror_ctl.c - the mirror control protocol's codec and its client
 * (mirror_ctl.h, docs/specs/mirror.md).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "mirror_ctl.h"

static const struct {
    const char *name;
    enum mirror_ctl_cmd cmd;
} cmds[] = {
    { "start", MIRROR_CTL_START },
    { "status", MIRROR_CTL_STATUS },
    { "wait", MIRROR_CTL_WAIT },
    { "complete", MIRROR_CTL_COMPLETE },
    { "cancel", MIRROR_CTL_CANCEL },
    { "resume", MIRROR_CTL_RESUME },
    { "stop", MIRROR_CTL_STOP },
};

int mirror_ctl_parse(char *line, struct mirror_ctl_req *req, char *why,
                     size_t why_size)
{
    size_t len = strlen(line);
    char *save = NULL, *tok;
    unsigned i;

    memset(req, 0, sizeof(*req));
    if (len == 0 || line[len - 1] != '\n') {
        snprintf(why, why_size, "a request is one line ending in a newline");
        return -EINVAL;
    }
    line[len - 1] = '\0';
    tok = strtok_r(line, " ", &save);
    for (i = 0; tok && i < sizeof(cmds) / sizeof(cmds[0]); i++)
        if (!strcmp(tok, cmds[i].name))
            req->cmd = cmds[i].cmd;
    if (!req->cmd) {
        snprintf(why, why_size, "unknown command '%.64s'", tok ? tok : "");
        return -EINVAL;
    }
    while ((tok = strtok_r(NULL, " ", &save))) {
        char *eq = strchr(tok, '=');

        if (!eq || eq == tok || req->n == MIRROR_CTL_KV_MAX) {
            snprintf(why, why_size, eq && eq != tok ? "too many arguments" :
                     "'%.64s' is not KEY=VALUE", tok);
            return -EINVAL;
        }
        *eq = '\0';
        if (mirror_ctl_get(req, tok)) {
            snprintf(why, why_size, "%.64s= given twice", tok);
            return -EINVAL;
        }
        req->key[req->n] = tok;
        req->val[req->n++] = eq + 1;
    }
    return 0;
}

const char *mirror_ctl_get(const struct mirror_ctl_req *req, const char *key)
{
    for (unsigned i = 0; i < req->n; i++)
        if (!strcmp(req->key[i], key))
            return req->val[i];
    return NULL;
}

int mirror_ctl_u64(const struct mirror_ctl_req *req, const char *key,
                   uint64_t def, uint64_t *v_r, char *why, size_t why_size)
{
    const char *s = mirror_ctl_get(req, key);
    char *end;

    *v_r = def;
    if (!s)
        return 0;
    errno = 0;
    *v_r = strtoull(s, &end, 10);
    if (!*s || *end || errno || *s == '-') {
        snprintf(why, why_size, "%s=%.64s: not a number", key, s);
        return -EINVAL;
    }
    return 0;
}

int mirror_ctl_cfg(const struct mirror_ctl_req *req, struct mirror_cfg *cfg,
                   char *why, size_t why_size)
{
    static const char *const known[] = {
        "uri", "granule", "chunk", "conns", "max_bps", "stall_ms",
        "target_zeroed", "state_file", NULL
    };
    uint64_t g, c, n, bps, stall, z;
    int rc;

    memset(cfg, 0, sizeof(*cfg));
    for (unsigned i = 0; i < req->n; i++) {
        unsigned k;

        for (k = 0; known[k] && strcmp(known[k], req->key[i]); k++)
            ;
        if (!known[k]) {
            snprintf(why, why_size, "start: unknown key %.64s=",
                     req->key[i]);
            return -EINVAL;
        }
    }
    cfg->uri = mirror_ctl_get(req, "uri");
    cfg->state_file = mirror_ctl_get(req, "state_file");
    rc = mirror_ctl_u64(req, "granule", 0, &g, why, why_size);
    rc = rc ?: mirror_ctl_u64(req, "chunk", 0, &c, why, why_size);
    rc = rc ?: mirror_ctl_u64(req, "conns", 0, &n, why, why_size);
    rc = rc ?: mirror_ctl_u64(req, "max_bps", 0, &bps, why, why_size);
    rc = rc ?: mirror_ctl_u64(req, "stall_ms", 0, &stall, why, why_size);
    rc = rc ?: mirror_ctl_u64(req, "target_zeroed", 0, &z, why, why_size);
    if (rc < 0)
        return rc;
    if (!cfg->uri || g > UINT32_MAX || c > UINT32_MAX || n > 64 ||
        stall > UINT32_MAX || z > 1) {
        snprintf(why, why_size, "start: %s", !cfg->uri ? "uri= is needed" :
                 "a value is out of range");
        return -EINVAL;
    }
    cfg->granule = (uint32_t)g;
    cfg->chunk = (uint32_t)c;
    cfg->conns = (unsigned)n;
    cfg->max_bps = bps;
    cfg->stall_ms = (unsigned)stall;
    cfg->target_zeroed = z == 1;
    return 0;
}

void mirror_ctl_format_status(const struct mirror_status *st, char *buf,
                              size_t size)
{
    snprintf(buf, size, "ok state=%s gen=%" PRIu64 " size=%" PRIu64
             " dirty=%" PRIu64 " inflight=%" PRIu64 " sent=%" PRIu64
             " zeroed=%" PRIu64 " requests=%" PRIu64 " passes=%u"
             " synced=%d writes_copying=%" PRIu64 " wlat_copying_ns=%" PRIu64
             " wmax_copying_ns=%" PRIu64 " writes_synced=%" PRIu64
             " wlat_synced_ns=%" PRIu64 " wmax_synced_ns=%" PRIu64
             " reason=%s\n",
             mirror_state_name(st->state), st->gen, st->size,
             st->dirty_bytes, st->inflight_bytes, st->sent_bytes,
             st->zero_bytes, st->requests, st->passes,
             st->actively_synced ? 1 : 0, st->writes[0], st->write_ns[0],
             st->write_max_ns[0], st->writes[1], st->write_ns[1],
             st->write_max_ns[1], st->reason);
}

int mirror_ctl_parse_status(const char *reply, struct mirror_status *st)
{
    char state[16];
    const char *r;
    int synced, n;
    enum mirror_state s;

    memset(st, 0, sizeof(*st));
    n = sscanf(reply, "ok state=%15s gen=%" SCNu64 " size=%" SCNu64
               " dirty=%" SCNu64 " inflight=%" SCNu64 " sent=%" SCNu64
               " zeroed=%" SCNu64 " requests=%" SCNu64 " passes=%u"
               " synced=%d writes_copying=%" SCNu64 " wlat_copying_ns=%"
               SCNu64 " wmax_copying_ns=%" SCNu64 " writes_synced=%" SCNu64
               " wlat_synced_ns=%" SCNu64 " wmax_synced_ns=%" SCNu64,
               state, &st->gen, &st->size, &st->dirty_bytes,
               &st->inflight_bytes, &st->sent_bytes, &st->zero_bytes,
               &st->requests, &st->passes, &synced, &st->writes[0],
               &st->write_ns[0], &st->write_max_ns[0], &st->writes[1],
               &st->write_ns[1], &st->write_max_ns[1]);
    if (n != 16)
        return -EPROTO;
    if (mirror_state_parse(state, &s) < 0)
        return -EPROTO;
    st->state = s;
    st->actively_synced = synced == 1;
    r = strstr(reply, " reason=");
    if (r)
        snprintf(st->reason, sizeof(st->reason), "%.*s",
                 (int)strcspn(r + 8, "\n"), r + 8);
    return 0;
}

int mirror_state_parse(const char *name, enum mirror_state *s_r)
{
    for (enum mirror_state s = MIRROR_COPYING; s <= MIRROR_CANCELLED; s++)
        if (!strcmp(name, mirror_state_name(s))) {
            *s_r = s;
            return 0;
        }
    return -EINVAL;
}

int mirror_ctl_read_line(int fd, char *buf, size_t size, int timeout_ms)
{
    size_t n = 0;

    while (n + 1 < size) {
        int rc = xt_read_full(fd, buf + n, 1, timeout_ms, NULL);

        if (rc < 0)
            return rc;
        if (buf[n++] == '\n') {
            buf[n] = '\0';
            return 0;
        }
    }
    return -EMSGSIZE;
}

int mirror_ctl_call(struct xt_ctx *ctx, const char *path,
                    const char *request, char *reply, size_t size,
                    int timeout_ms)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    char line[MIRROR_CTL_LINE_MAX];
    int fd = -1, rc, e;

    reply[0] = '\0';
    if (strlen(path) >= sizeof(sun.sun_path) ||
        (size_t)snprintf(line, sizeof(line), "%s\n", request) >= sizeof(line))
        return xt_error(ctx, -ENAMETOOLONG, "mirror control: path or "
                        "request too long");
    strcpy(sun.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return xt_error(ctx, -errno, "mirror control socket");
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        rc = xt_error(ctx, -errno, "mirror control: connecting to %s", path);
        goto out;
    }
    rc = xt_write_full(fd, line, strlen(line), timeout_ms);
    rc = rc ?: mirror_ctl_read_line(fd, reply, size, timeout_ms);
    if (rc < 0) {
        xt_error(ctx, rc, "mirror control %s: '%s'", path, request);
        goto out;
    }
    if (!strncmp(reply, "ok", 2) && (reply[2] == ' ' || reply[2] == '\n'))
        goto out;
    if (sscanf(reply, "error %d", &e) == 1 && e > 0) {
        const char *msg = strchr(reply + 6, ' ');

        rc = xt_error(ctx, -e, "mirror: %.*s", msg ?
                      (int)strcspn(msg + 1, "\n") : 0, msg ? msg + 1 : "");
    } else {
        rc = xt_error(ctx, -EPROTO, "mirror control: bad reply '%.100s'",
                      reply);
    }
out:
    close(fd);
    return rc;
}
