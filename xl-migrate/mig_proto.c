/*
 * mig_proto.c - what both sides of the engine use around records: waiting
 * for one record of a type, the peer's ABORT as an error, the named fault
 * points, helper threads' contexts.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mig_internal.h"

struct xt_ctx *mig_thread_ctx(const struct xt_ctx *parent, const char *prog)
{
    struct xt_ctx *c = xt_ctx_new(prog);

    if (!c)
        return NULL;
    c->level = parent->level;
    c->log = parent->log;
    c->quiet_errors = parent->quiet_errors;
    return c;
}

int mig_fault(struct xt_ctx *ctx, const char *point, struct mig_chan **chans,
              unsigned n)
{
    unsigned i;

    switch (xt_fault(ctx, point)) {
    case XT_FAULT_FAIL:
        return xt_error(ctx, -EIO, "fault injected at %s", point);
    case XT_FAULT_DROP:
        for (i = 0; i < n; i++)
            mig_chan_abort(chans[i]);
        /* Said once done, so that a test can wait for it. */
        return xt_error(ctx, -ECONNABORTED, "fault injection: %s: the "
                        "connections are dropped", point);
    default:
        return 0;
    }
}

int mig_abort_error(struct xt_ctx *ctx, const void *body, size_t len,
                    const char *who)
{
    struct mig_abort ab;
    size_t ml;

    if (len < sizeof(ab))
        return xt_error(ctx, -EIO, "%s aborted (no reason given)", who);
    memcpy(&ab, body, sizeof(ab));
    ml = len - sizeof(ab);
    if (ab.msg_len < ml)
        ml = ab.msg_len;
    return xt_error(ctx, ab.status < 0 && ab.status > -4096 ? ab.status
                    : -EIO, "%s aborted: %.*s", who, (int)ml,
                    (const char *)body + sizeof(ab));
}

int mig_expect(struct xt_ctx *ctx, struct mig_reader *r, uint32_t type,
               void *body, size_t len, bool *aborted_r)
{
    struct mig_rec_hdr hdr;
    uint64_t off;
    int rc;

    if (aborted_r)
        *aborted_r = false;
    do {
        rc = mig_read_record(ctx, r, &hdr, &off);
        if (rc < 0)
            return rc;
        /* Round acknowledgements may precede what we wait for. */
    } while (hdr.type == MIG_REC_ROUND_ACK && type != MIG_REC_ROUND_ACK);
    if (hdr.type == MIG_REC_ABORT && type != MIG_REC_ABORT) {
        if (aborted_r)
            *aborted_r = true;
        return mig_abort_error(ctx, r->body.data, hdr.length, "the peer");
    }
    if (hdr.type != type || hdr.length != len)
        return xt_error(ctx, -EPROTO, "expected %s, got %s of %llu bytes "
                        "at offset %llu", mig_rec_name(type),
                        mig_rec_name(hdr.type),
                        (unsigned long long)hdr.length,
                        (unsigned long long)off);
    if (len)
        memcpy(body, r->body.data, len);
    return 0;
}
