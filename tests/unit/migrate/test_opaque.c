/*
 * test_opaque.c - the opaque mode of the migration stream
 * (xl-migrate/mig_opaque.c): the OPAQUE_DATA / OPAQUE_END codec with every
 * malformed, truncated, oversized and corrupt input; the convergence
 * policy as the hypervisor's library asks it; the hv_stream_* wrappers'
 * checks (a driver without the ops, the sim driver); and whole migrations
 * over loopback TCP between mig_send and mig_receive with a fake driver
 * whose "library" writes a self-delimiting stream, as libxenguest does:
 * success, a save that fails before and after the suspend, a corrupted
 * chunk, a restore that fails, a receiver that cannot restore.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hv_driver.h"
#include "mig.h"
#include "mig_opaque.h"
#include "mig_chan.h"
#include "mig_stream.h"
#include "loopback.h"
#include "../../tap.h"

#define BODY_OFF 4096u      /* stream offset given to the decoders */

static void expect(struct xt_ctx *ctx, int rc, int want, const char *needle,
                   const char *name)
{
    bool good = rc == want;

    if (want < 0 && needle)
        good = good && strstr(ctx->err_msg, needle);
    if (!tap_ok(good, "%s", name))
        tap_diag("  rc %d (want %d), message \"%s\" (want \"%s\")", rc,
                 want, ctx->err_msg, needle ? needle : "");
    xt_error_clear(ctx);
}

/* Byte i of the fake library's stream payload. */
static uint8_t pattern(uint64_t i)
{
    return (uint8_t)(i * 131 + (i >> 9) + 7);
}

static void fill(uint8_t *p, size_t n, uint64_t start)
{
    size_t i;

    for (i = 0; i < n; i++)
        p[i] = pattern(start + i);
}

/* ---- codec -------------------------------------------------------------- */

/* The record at b->data + at: header and body. */
static const uint8_t *rec_body(const struct mig_buf *b, size_t at,
                               struct mig_rec_hdr *h)
{
    memcpy(h, b->data + at, sizeof(*h));
    return b->data + at + sizeof(*h);
}

static void test_codec(struct xt_ctx *ctx)
{
    static const size_t sizes[] = { 1, 7, 8, 4096, 65537,
                                    MIG_OPAQUE_CHUNK_MAX };
    struct mig_opaque_tally tx, rx;
    struct mig_buf b = { 0 };
    struct mig_rec_hdr h;
    uint8_t *data = malloc(MIG_OPAQUE_CHUNK_MAX + 1);
    const uint8_t *got;
    size_t i, len, at = 0, offs[6];
    uint64_t start = 0;
    uint32_t rounds = 0;
    bool same = true;
    int rc;

    if (!data)
        tap_bail("no memory");
    tap_is_int(mig_opaque_tally_init(&tx), 0, "tally init");
    mig_opaque_tally_init(&rx);
    for (i = 0; i < 6; i++) {
        fill(data, sizes[i], start);
        offs[i] = b.len;
        rc = mig_opaque_data_append(&b, &tx, data, sizes[i]);
        if (rc < 0)
            break;
        start += sizes[i];
    }
    tap_is_int(rc, 0, "six chunks encoded, 1 byte to the largest");
    tap_is_u64(tx.bytes, start, "the sender's tally counts them");
    tap_ok(b.len % 8 == 0, "records are padded to 8 bytes");
    tap_is_int(mig_opaque_end_append(&b, &tx, 5), 0, "OPAQUE_END encoded");

    start = 0;
    for (i = 0; i < 6; i++) {
        const uint8_t *body = rec_body(&b, offs[i], &h);

        rc = mig_opaque_data_decode(ctx, body, h.length, BODY_OFF, &rx,
                                    &got, &len);
        if (rc < 0 || h.type != MIG_REC_OPAQUE_DATA || len != sizes[i])
            break;
        fill(data, len, start);
        same = same && !memcmp(got, data, len);
        start += len;
    }
    tap_is_int(rc, 0, "every chunk decodes");
    tap_ok(same && i == 6, "payloads come back in order, byte for byte");
    at = offs[5] + sizeof(h) + sizeof(struct mig_opaque_data) + sizes[5];
    at += (8 - at % 8) % 8;
    rec_body(&b, at, &h);
    tap_is_int(h.type, MIG_REC_OPAQUE_END, "OPAQUE_END follows");
    rc = mig_opaque_end_check(ctx, b.data + at + sizeof(h), h.length,
                              BODY_OFF, &rx, &rounds);
    tap_is_int(rc, 0, "OPAQUE_END matches what arrived");
    tap_is_int(rounds, 5, "it carries the rounds");
    tap_is_u64(mig_opaque_tally_digest(&rx), mig_opaque_tally_digest(&tx),
               "both tallies hash the same");

    /* Oversized and empty chunks are not encoded. */
    len = b.len;
    tap_is_int(mig_opaque_data_append(&b, &tx, data, 0), -EINVAL,
               "an empty chunk is refused");
    tap_is_int(mig_opaque_data_append(&b, &tx, data,
                                      MIG_OPAQUE_CHUNK_MAX + 1), -EINVAL,
               "a chunk over MIG_OPAQUE_CHUNK_MAX is refused");
    tap_ok(b.len == len && tx.bytes == start,
           "a refused chunk changes neither buffer nor tally");

    mig_buf_free(&b);
    mig_opaque_tally_free(&tx);
    mig_opaque_tally_free(&rx);
    free(data);
}

/* Decode one body mutated by fn; the tally must stay where it was. */
static void bad_data(struct xt_ctx *ctx, void (*fn)(uint8_t *body,
                                                    size_t *len),
                     uint64_t tally_bytes, int want, const char *needle,
                     const char *name)
{
    struct mig_opaque_tally enc, dec;
    struct mig_buf b = { 0 };
    struct mig_rec_hdr h;
    uint8_t data[100], *body;
    const uint8_t *got;
    size_t len, glen;

    fill(data, sizeof(data), 0);
    mig_opaque_tally_init(&enc);
    mig_opaque_tally_init(&dec);
    enc.bytes = 0;
    mig_opaque_data_append(&b, &enc, data, sizeof(data));
    body = (uint8_t *)rec_body(&b, 0, &h);
    len = h.length;
    if (fn)
        fn(body, &len);
    dec.bytes = tally_bytes;
    expect(ctx, mig_opaque_data_decode(ctx, body, len, BODY_OFF, &dec, &got,
                                       &glen), want, needle, name);
    if (want < 0 && dec.bytes != tally_bytes)
        tap_diag("  the tally moved to %llu",
                 (unsigned long long)dec.bytes);
    mig_buf_free(&b);
    mig_opaque_tally_free(&enc);
    mig_opaque_tally_free(&dec);
}

static void m_short(uint8_t *body, size_t *len)
{
    (void)body;
    *len = 23;
}

static void m_len0(uint8_t *body, size_t *len)
{
    (void)len;
    memset(body + 8, 0, 4);
}

static void m_len_big(uint8_t *body, size_t *len)
{
    uint32_t v = MIG_OPAQUE_CHUNK_MAX + 1;

    (void)len;
    memcpy(body + 8, &v, 4);
}

static void m_len_body(uint8_t *body, size_t *len)
{
    (void)body;
    *len -= 1;          /* the payload is one byte short of len */
}

static void m_reserved(uint8_t *body, size_t *len)
{
    (void)len;
    body[12] = 1;
}

static void m_payload(uint8_t *body, size_t *len)
{
    (void)len;
    body[24 + 50] ^= 0x20;
}

static void m_checksum(uint8_t *body, size_t *len)
{
    (void)len;
    body[16] ^= 1;
}

static void test_codec_errors(struct xt_ctx *ctx)
{
    struct mig_opaque_tally t;
    struct mig_opaque_end e;
    uint8_t data[64];

    bad_data(ctx, NULL, 0, 0, NULL, "a good chunk decodes");
    bad_data(ctx, m_short, 0, -EINVAL, "shorter than its 24-byte header",
             "OPAQUE_DATA: body shorter than the header");
    bad_data(ctx, m_len0, 0, -EINVAL, "len 0 at offset 4120",
             "OPAQUE_DATA: len 0");
    bad_data(ctx, m_len_big, 0, -EINVAL, "is not 1..1048576",
             "OPAQUE_DATA: len over the limit (oversized)");
    bad_data(ctx, m_len_body, 0, -EINVAL, "the body holds 99 bytes",
             "OPAQUE_DATA: len disagrees with the body (truncated body)");
    bad_data(ctx, m_reserved, 0, -EINVAL, "reserved field at offset 4124",
             "OPAQUE_DATA: reserved set");
    bad_data(ctx, NULL, 100, -EPROTO, "but 100 bytes came before it",
             "OPAQUE_DATA: chunk out of sequence (a lost chunk)");
    bad_data(ctx, m_payload, 0, -EBADMSG, "checksum mismatch",
             "OPAQUE_DATA: corrupt payload");
    bad_data(ctx, m_checksum, 0, -EBADMSG, "checksum at offset 4128",
             "OPAQUE_DATA: corrupt checksum");

    /* OPAQUE_END against a receiver's tally of 64 bytes. */
    fill(data, sizeof(data), 0);
    mig_opaque_tally_init(&t);
    {
        /* The encoder's tally is what a receiver's would be. */
        struct mig_buf b = { 0 };

        mig_opaque_data_append(&b, &t, data, sizeof(data));
        mig_buf_free(&b);
    }
    memset(&e, 0, sizeof(e));
    e.total = 64;
    e.digest = mig_opaque_tally_digest(&t);
    expect(ctx, mig_opaque_end_check(ctx, &e, sizeof(e), BODY_OFF, &t, NULL),
           0, NULL, "OPAQUE_END: good");
    expect(ctx, mig_opaque_end_check(ctx, &e, sizeof(e) - 8, BODY_OFF, &t,
                                     NULL), -EINVAL, "16 bytes, must be 24",
           "OPAQUE_END: wrong size");
    e.reserved = 3;
    expect(ctx, mig_opaque_end_check(ctx, &e, sizeof(e), BODY_OFF, &t, NULL),
           -EINVAL, "reserved field at offset 4132", "OPAQUE_END: reserved");
    e.reserved = 0;
    e.total = 128;
    expect(ctx, mig_opaque_end_check(ctx, &e, sizeof(e), BODY_OFF, &t, NULL),
           -EPROTO, "was 128 bytes (total at offset 4112), 64 arrived",
           "OPAQUE_END: chunks missing (truncated opaque stream)");
    e.total = 64;
    e.digest ^= 1;
    expect(ctx, mig_opaque_end_check(ctx, &e, sizeof(e), BODY_OFF, &t, NULL),
           -EBADMSG, "digest at offset 4120",
           "OPAQUE_END: digest mismatch");
    mig_opaque_tally_free(&t);
}

/* A stream cut inside an OPAQUE_DATA record is a truncation, with its
 * offset. */
static void test_truncated(struct xt_ctx *ctx)
{
    struct mig_opaque_tally t;
    struct mig_buf b = { 0 };
    struct mig_reader r = { 0 };
    struct mig_rec_hdr h;
    uint8_t data[5000];
    uint64_t off;
    int sv[2], rc;

    fill(data, sizeof(data), 0);
    mig_opaque_tally_init(&t);
    mig_opaque_data_append(&b, &t, data, sizeof(data));
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        tap_bail("socketpair");
    /* Header and half the body, then end of file. */
    xt_write_full(sv[1], b.data, 16 + 2500, 1000);
    close(sv[1]);
    if (mig_chan_wrap(ctx, sv[0], 2000, &r.chan) < 0)
        tap_bail("mig_chan_wrap");
    rc = mig_read_record(ctx, &r, &h, &off);
    expect(ctx, rc, -EPIPE, "truncated at offset 2516 (in record "
           "OPAQUE_DATA at offset 0)", "a cut OPAQUE_DATA is -EPIPE with "
           "its offset");
    mig_chan_close(r.chan);
    mig_buf_free(&r.body);
    mig_buf_free(&b);
    mig_opaque_tally_free(&t);
}

/* ---- policy ------------------------------------------------------------- */

static struct mig_round_info seen;

static void spy_policy(const struct mig_send_opts *o,
                       const struct mig_round_info *r, struct mig_decision *d)
{
    seen = *r;
    mig_policy_default(o, r, d);
}

static void test_policy(void)
{
    const uint64_t ms = 1000000ull, t0 = 1000 * ms;
    struct mig_send_opts o;
    struct mig_opaque_policy p;
    int d;

    mig_send_opts_init(&o);
    o.policy = spy_policy;

    mig_opaque_policy_init(&p, &o, t0);
    d = mig_opaque_policy_decide(&p, 0, 262144, 0, t0, false);
    tap_is_int(d, HV_STREAM_CONTINUE, "round 0 (the full pass) continues");
    /* Round 0 moved 1 GiB in 1 s; 100000 pages are dirty: 400 ms to send,
     * far over the 10 ms target. */
    d = mig_opaque_policy_decide(&p, 1, 100000, 262144, t0 + 1000 * ms,
                                 false);
    tap_is_int(d, HV_STREAM_CONTINUE, "a big dirty set continues");
    tap_ok(seen.round == 1 && seen.dirty_pages == 100000 &&
           seen.prev_dirty_pages == 262144 &&
           seen.bandwidth_bytes_s > 1.07e9 && seen.bandwidth_bytes_s < 1.08e9 &&
           seen.dirty_pages_s > 99999 && seen.dirty_pages_s < 100001 &&
           seen.elapsed_ns == 1000 * ms,
           "the policy sees round, dirty pages, bandwidth and dirty rate "
           "(%.0f B/s, %.0f pages/s)", seen.bandwidth_bytes_s,
           seen.dirty_pages_s);
    /* 100000 pages in 400 ms, then 10 dirty: well within the target. */
    d = mig_opaque_policy_decide(&p, 2, 10, 362144, t0 + 1400 * ms, false);
    tap_is_int(d, HV_STREAM_STOP, "a small dirty set stops");
    tap_ok(p.stopped && !p.dec.forced && p.rounds == 4,
           "stopped, not forced; 4 rounds: 0, 1, 2 live, the suspended one "
           "(%u)", p.rounds);
    tap_ok(seen.bandwidth_bytes_s > 1.0e9,
           "a short round's bandwidth is the last bulk round's");

    /* The caps. */
    o.max_rounds = 3;
    mig_opaque_policy_init(&p, &o, t0);
    mig_opaque_policy_decide(&p, 0, 262144, 0, t0, false);
    d = HV_STREAM_CONTINUE;
    for (unsigned r = 1; r < 10 && d == HV_STREAM_CONTINUE; r++)
        d = mig_opaque_policy_decide(&p, r, 200000, 262144 + r * 200000,
                                     t0 + r * 1000 * ms, false);
    tap_ok(d == HV_STREAM_STOP && p.dec.forced && p.rounds == 5,
           "max_rounds 3 forces a stop at round 3 (rounds %u)", p.rounds);

    /* Cancel aborts, whatever the round. */
    mig_opaque_policy_init(&p, &o, t0);
    d = mig_opaque_policy_decide(&p, 0, 262144, 0, t0, true);
    tap_ok(d == HV_STREAM_ABORT && p.cancelled, "cancel aborts");
}

/* ---- hv_stream_* wrappers ----------------------------------------------- */

static int dummy_precopy(void *arg, unsigned round, uint64_t dirty,
                         uint64_t sent)
{
    (void)arg;
    (void)round;
    (void)dirty;
    (void)sent;
    return HV_STREAM_CONTINUE;
}

static int calls;

static int count_save(struct hv_handle *h, uint32_t domid, int fd,
                      const struct hv_stream_policy *policy)
{
    (void)h;
    (void)domid;
    (void)fd;
    (void)policy;
    calls++;
    return 0;
}

static int count_restore(struct hv_handle *h,
                         const struct hv_create_spec *spec, int fd,
                         uint32_t *domid_r)
{
    (void)h;
    (void)spec;
    (void)fd;
    calls++;
    *domid_r = 9;
    return 0;
}

static void test_wrappers(struct xt_ctx *ctx)
{
    struct hv_stream_policy pol = { .precopy = dummy_precopy };
    struct hv_stream_policy nopol = { 0 };
    struct hv_create_spec spec = { .nr_pages = 1, .nr_vcpus = 1 };
    struct hv_ops ops = { .name = "count", .stream_save = count_save,
                          .stream_restore = count_restore };
    struct hv_handle *fh = NULL;
    struct hv_handle *h = NULL;
    char dir[] = "/tmp/test_opaque.XXXXXX", args[64];
    uint32_t domid = 5;
    int rc;

    /* The sim driver has neither op. */
    if (!mkdtemp(dir))
        tap_bail("mkdtemp");
    snprintf(args, sizeof(args), "run_dir=%s", dir);
    rc = hv_open(ctx, "sim", args, &h);
    if (rc < 0) {
        tap_skip(3, "the sim driver does not open here");
    } else {
        expect(ctx, hv_stream_save(h, 1, 0, &pol), -ENOTSUP,
               "does not support stream_save",
               "sim: stream_save is -ENOTSUP");
        expect(ctx, hv_stream_restore(h, &spec, 0, &domid), -ENOTSUP,
               "does not support stream_restore",
               "sim: stream_restore is -ENOTSUP");
        tap_is_int(domid, 0, "sim: *domid_r is 0 after a failed restore");
        hv_close(h);
    }
    rmdir(dir);

    /* A driver with both: the arguments are checked first. */
    if (hv_open_ops(ctx, &ops, NULL, NULL, &fh) < 0)
        tap_bail("opening the counting driver");
    expect(ctx, hv_stream_save(fh, 1, -1, &pol), -EINVAL, "no fd",
           "stream_save: fd -1 is -EINVAL");
    expect(ctx, hv_stream_save(fh, 1, 0, NULL), -EINVAL,
           "no precopy policy", "stream_save: no policy is -EINVAL");
    expect(ctx, hv_stream_save(fh, 1, 0, &nopol), -EINVAL,
           "no precopy policy", "stream_save: no precopy is -EINVAL");
    expect(ctx, hv_stream_restore(fh, NULL, 0, &domid), -EINVAL, "no spec",
           "stream_restore: no spec is -EINVAL");
    expect(ctx, hv_stream_restore(fh, &spec, -1, &domid), -EINVAL, "no fd",
           "stream_restore: fd -1 is -EINVAL");
    tap_is_int(calls, 0, "the driver was never called with bad arguments");
    expect(ctx, hv_stream_save(fh, 1, 0, &pol), 0, NULL,
           "stream_save: good arguments reach the driver");
    expect(ctx, hv_stream_restore(fh, &spec, 0, &domid), 0, NULL,
           "stream_restore: good arguments reach the driver");
    tap_ok(calls == 2 && domid == 9, "both ops called once, domid passed");
    hv_close(fh);
}

/* ---- whole migrations with a fake driver -------------------------------- */

#define FAKE_MAGIC  0x4d525453454b4146ull  /* "FAKESTRM" */
#define FAKE_PAGES  1024u

/*
 * The fake library's stream: 16 bytes (magic, payload length), then the
 * payload, pattern() bytes.  Its restore reads exactly that, not to end of
 * file, as libxenguest stops at its END record.
 */
struct fake {
    pthread_mutex_t lock;
    /* source */
    uint64_t payload;           /* payload bytes the save writes */
    uint64_t fail_after;        /* save fails after this many, 0 never */
    enum hv_run_state state;
    bool resumed, destroyed;
    /* destination */
    bool restore_fail;          /* fail after reading the header */
    bool restored, unpaused, dst_destroyed;
};

static struct fake *F(struct hv_handle *h)
{
    return h->priv;
}

static int fake_info(struct hv_handle *h, uint32_t domid,
                     struct hv_domain_info *info)
{
    struct fake *f = F(h);

    memset(info, 0, sizeof(*info));
    info->domid = domid;
    snprintf(info->name, sizeof(info->name), "fake-pv");
    info->nr_pages = FAKE_PAGES;
    info->nr_vcpus = 1;
    pthread_mutex_lock(&f->lock);
    info->state = f->state;
    pthread_mutex_unlock(&f->lock);
    info->opaque_stream = true;
    return 0;
}

static int write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;

    while (n) {
        ssize_t r = write(fd, b, n);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? -errno : -EIO;
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Writes payload bytes [*done, upto), failing at f->fail_after. */
static int fake_write(struct hv_handle *h, int fd, uint64_t *done,
                      uint64_t upto)
{
    struct fake *f = F(h);
    uint8_t buf[65536];
    int rc;

    while (*done < upto) {
        size_t n = upto - *done < sizeof(buf) ? upto - *done : sizeof(buf);

        if (f->fail_after && *done + n > f->fail_after) {
            n = f->fail_after - *done;
            fill(buf, n, *done);
            write_all(fd, buf, n);
            return xt_error(h->ctx, -EIO, "fake save failed at byte %llu",
                            (unsigned long long)f->fail_after);
        }
        fill(buf, n, *done);
        rc = write_all(fd, buf, n);
        if (rc < 0)
            return xt_error(h->ctx, rc, "fake save: write");
        *done += n;
    }
    return 0;
}

static int fake_save(struct hv_handle *h, uint32_t domid, int fd,
                     const struct hv_stream_policy *policy)
{
    struct fake *f = F(h);
    uint64_t hdr[2] = { FAKE_MAGIC, f->payload }, done = 0, sent = 0;
    uint64_t dirty = FAKE_PAGES, upto;
    unsigned round;
    int d, rc;

    (void)domid;
    rc = write_all(fd, hdr, sizeof(hdr));
    if (rc < 0)
        return xt_error(h->ctx, rc, "fake save: header");
    /* Round 0 takes 3/4 of the payload, each later round an eighth of
     * what is left; the suspended round the rest. */
    for (round = 0;; round++) {
        d = policy->precopy(policy->arg, round, dirty, sent);
        if (d == HV_STREAM_ABORT)
            return xt_error(h->ctx, -ECANCELED, "fake save: aborted");
        upto = round == 0 ? f->payload * 3 / 4
                          : done + (f->payload - done) / 8;
        rc = fake_write(h, fd, &done, upto);
        if (rc < 0)
            return rc;
        sent += dirty;
        dirty = dirty / 8 + 1;
        if (d == HV_STREAM_STOP)
            break;
    }
    pthread_mutex_lock(&f->lock);
    f->state = HV_STATE_SUSPENDED;
    pthread_mutex_unlock(&f->lock);
    usleep(20000);      /* the time a guest takes to suspend */
    return fake_write(h, fd, &done, f->payload);
}

static int read_all(int fd, void *p, size_t n)
{
    uint8_t *b = p;

    while (n) {
        ssize_t r = read(fd, b, n);

        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            return -EPIPE;
        if (r < 0)
            return -errno;
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

static int fake_restore(struct hv_handle *h, const struct hv_create_spec *spec,
                        int fd, uint32_t *domid_r)
{
    struct fake *f = F(h);
    uint64_t hdr[2], done = 0;
    uint8_t buf[65536], want[65536];
    int rc;

    if (spec->nr_pages != FAKE_PAGES || strcmp(spec->name, "fake-pv"))
        return xt_error(h->ctx, -EINVAL, "fake restore: wrong spec");
    rc = read_all(fd, hdr, sizeof(hdr));
    if (rc < 0 || hdr[0] != FAKE_MAGIC)
        return xt_error(h->ctx, rc < 0 ? rc : -EINVAL, "fake restore: "
                        "header");
    if (f->restore_fail)
        return xt_error(h->ctx, -ENOMEM, "fake restore: out of memory");
    while (done < hdr[1]) {
        size_t n = hdr[1] - done < sizeof(buf) ? hdr[1] - done : sizeof(buf);

        rc = read_all(fd, buf, n);
        if (rc < 0)
            return xt_error(h->ctx, rc, "fake restore: truncated at %llu",
                            (unsigned long long)done);
        fill(want, n, done);
        if (memcmp(buf, want, n))
            return xt_error(h->ctx, -EBADMSG, "fake restore: wrong bytes "
                            "at %llu", (unsigned long long)done);
        done += n;
    }
    f->restored = true;
    *domid_r = 7;
    return 0;
}

static int fake_resume(struct hv_handle *h, uint32_t domid)
{
    struct fake *f = F(h);

    (void)domid;
    pthread_mutex_lock(&f->lock);
    f->resumed = f->state == HV_STATE_SUSPENDED;
    f->state = HV_STATE_RUNNING;
    pthread_mutex_unlock(&f->lock);
    return 0;
}

static int fake_unpause(struct hv_handle *h, uint32_t domid)
{
    (void)domid;
    F(h)->unpaused = true;
    return 0;
}

static int fake_destroy(struct hv_handle *h, uint32_t domid)
{
    struct fake *f = F(h);

    if (domid == 7)
        f->dst_destroyed = true;
    else
        f->destroyed = true;
    return 0;
}

static const struct hv_ops fake_ops = {
    .name = "fake",
    .info = fake_info,
    .unpause = fake_unpause,
    .resume_after_failure = fake_resume,
    .stream_save = fake_save,
    .stream_restore = fake_restore,
    .destroy = fake_destroy,
};

static const struct hv_ops fake_ops_norestore = {
    .name = "fake",
    .info = fake_info,
    .unpause = fake_unpause,
    .destroy = fake_destroy,
};

struct run {
    int src_rc, dst_rc;
    struct mig_stats src, dst;
    char src_msg[XT_ERRMSG_MAX], dst_msg[XT_ERRMSG_MAX];
};

/* The default policy, but stopping after round 1 whatever the timing
 * (the bandwidth of a fake stream says nothing): 3 rounds every time. */
static void stop_after_round1(const struct mig_send_opts *o,
                              const struct mig_round_info *r,
                              struct mig_decision *d)
{
    mig_policy_default(o, r, d);
    d->stop_and_copy = r->round >= 1;
    d->forced = false;
}

/* One migration from src (fake source) to dst (fake destination). */
static void migrate(struct fake *src, struct fake *dst,
                    const struct hv_ops *dst_ops, const char *fault,
                    struct run *out)
{
    struct loop_side s = { .ops = &fake_ops, .priv = src };
    struct loop_side d = { .ops = dst_ops, .priv = dst };
    struct mig_send_opts so;
    struct loop_result lr;

    mig_send_opts_init(&so);
    so.timeout_ms = 5000;
    so.policy = stop_after_round1;
    if (fault)
        setenv("XM_FAULT", fault, 1);
    loop_migrate(&s, 3, &d, &so, NULL, &lr);
    unsetenv("XM_FAULT");
    out->src_rc = lr.src_rc;
    out->dst_rc = lr.dst_rc;
    out->src = lr.src;
    out->dst = lr.dst;
    snprintf(out->src_msg, sizeof(out->src_msg), "%s", lr.src_msg);
    snprintf(out->dst_msg, sizeof(out->dst_msg), "%s", lr.dst_msg);
}

static void fake_init(struct fake *f, uint64_t payload)
{
    memset(f, 0, sizeof(*f));
    pthread_mutex_init(&f->lock, NULL);
    f->payload = payload;
    f->state = HV_STATE_RUNNING;
}

static void test_migrations(void)
{
    struct fake src, dst;
    struct run r;
    char json[2048];

    fake_init(&src, 3u << 20);
    fake_init(&dst, 0);
    migrate(&src, &dst, &fake_ops, NULL, &r);
    if (!tap_ok(r.src_rc == 0 && r.dst_rc == 0, "a 3 MiB opaque stream "
                "migrates (sender %d, receiver %d)", r.src_rc, r.dst_rc))
        tap_diag("  sender: %s / receiver: %s", r.src_msg, r.dst_msg);
    tap_ok(dst.restored && dst.unpaused && !dst.dst_destroyed,
           "the destination restored every byte and runs");
    tap_ok(src.destroyed && !src.resumed, "the source is destroyed after "
           "the commit, never resumed");
    tap_ok(r.src.committed && r.src.opaque && r.dst.opaque &&
           r.dst.dst_domid == 7, "both sides say committed, opaque mode, "
           "domain 7");
    tap_ok(r.src.digest_checked && r.src.digest_equal,
           "the stream digests agree (%016llx)",
           (unsigned long long)r.src.digest_src);
    tap_ok(r.src.bytes_sent > (3u << 20) && r.src.rounds == 3 &&
           r.dst.rounds == 3, "bytes %llu > 3 MiB, 3 rounds on both sides "
           "(%u, %u)", (unsigned long long)r.src.bytes_sent, r.src.rounds,
           r.dst.rounds);
    tap_ok(r.src.downtime_ns >= 15000000ull &&
           r.src.downtime_ns < 5000000000ull,
           "downtime runs from the suspend (%.1f ms, the fake suspends "
           "for 20 ms)", r.src.downtime_ns / 1e6);
    tap_ok(mig_stats_json(&r.src, "send", json, sizeof(json)) == 0 &&
           strstr(json, "\"mode\":\"opaque\"") &&
           strstr(json, "\"rounds\":3"), "the JSON line says so");

    /* The save fails in round 0: nothing to resume, nothing left. */
    fake_init(&src, 3u << 20);
    src.fail_after = 1u << 20;
    fake_init(&dst, 0);
    migrate(&src, &dst, &fake_ops, NULL, &r);
    tap_ok(r.src_rc == -EIO && strstr(r.src_msg, "fake save failed"),
           "a failed save is the sender's error (%d: %s)", r.src_rc,
           r.src_msg);
    tap_ok(r.dst_rc < 0 && !dst.restored && !dst.dst_destroyed,
           "the receiver fails with nothing built (%d: %s)", r.dst_rc,
           r.dst_msg);
    tap_ok(!src.destroyed && !src.resumed &&
           src.state == HV_STATE_RUNNING, "the source keeps running");

    /* The save fails after the suspend: the source is resumed. */
    fake_init(&src, 3u << 20);
    src.fail_after = (3u << 20) - 1000;
    fake_init(&dst, 0);
    migrate(&src, &dst, &fake_ops, NULL, &r);
    tap_ok(r.src_rc == -EIO && r.dst_rc < 0 && !dst.restored,
           "a save failing after the suspend fails both sides (%d, %d)",
           r.src_rc, r.dst_rc);
    tap_ok(src.resumed && !src.destroyed && src.state == HV_STATE_RUNNING,
           "the suspended source is resumed");

    /* A chunk corrupted on the way. */
    fake_init(&src, 3u << 20);
    fake_init(&dst, 0);
    migrate(&src, &dst, &fake_ops, "mig.send.batch=corrupt", &r);
    tap_ok(r.dst_rc == -EBADMSG && strstr(r.dst_msg, "checksum mismatch"),
           "the receiver catches a corrupt chunk (%d: %s)", r.dst_rc,
           r.dst_msg);
    tap_ok(r.src_rc < 0 && !dst.restored && !src.destroyed &&
           src.state == HV_STATE_RUNNING, "the sender fails (%s), the "
           "source runs", r.src_msg);

    /* The restore fails. */
    fake_init(&src, 3u << 20);
    fake_init(&dst, 0);
    dst.restore_fail = true;
    migrate(&src, &dst, &fake_ops, NULL, &r);
    tap_ok(r.dst_rc == -ENOMEM && strstr(r.dst_msg, "out of memory"),
           "a failed restore is the receiver's error (%d: %s)", r.dst_rc,
           r.dst_msg);
    tap_ok(r.src_rc < 0 && !src.destroyed && src.state == HV_STATE_RUNNING,
           "the sender fails (%s), the source runs", r.src_msg);

    /* A receiver whose driver has no stream_restore. */
    fake_init(&src, 1u << 20);
    fake_init(&dst, 0);
    migrate(&src, &dst, &fake_ops_norestore, NULL, &r);
    tap_ok(r.dst_rc == -EPROTO && strstr(r.dst_msg, "cannot restore"),
           "a receiver that cannot restore the stream refuses it (%s)",
           r.dst_msg);
    tap_ok(r.src_rc < 0 && !src.destroyed && src.state == HV_STATE_RUNNING,
           "the sender fails (%s), the source runs", r.src_msg);
}

int main(void)
{
    struct xt_ctx *ctx = xt_ctx_new("test_opaque");

    if (!ctx)
        tap_bail("no memory");
    ctx->quiet_errors = true;
    test_codec(ctx);
    test_codec_errors(ctx);
    test_truncated(ctx);
    test_policy();
    test_wrappers(ctx);
    test_migrations();
    xt_ctx_free(ctx);
    return tap_done();
}
