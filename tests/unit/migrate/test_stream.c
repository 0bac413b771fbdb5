/*
 * test_stream.c - the migration stream (xl-migrate/mig_stream.c): page
 * batches round-tripped through every encoding, VM_CONFIG, records read
 * from real pipes and socketpairs, every malformed input rejected with the
 * right code and a message naming its offset, and a fuzz loop over
 * mutated batch bodies (run under ASan by the sanitizer build).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <xxhash.h>
#include <zlib.h>
#include <zstd.h>

#include "mig_chan.h"
#include "mig_stream.h"
#include "../../tap.h"

#define PAGE MIG_PAGE_SIZE
#define BODY_OFF 1000u      /* stream offset given to decoders */

enum fill {
    FILL_ZERO,
    FILL_RANDOM,
    FILL_TEXT,              /* compressible */
};

/* xorshift64*: deterministic test data. */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dull;
}

static void fill_page(uint8_t *p, enum fill f, uint64_t *seed, uint32_t i)
{
    size_t off, n;
    uint64_t v;
    char line[64];

    switch (f) {
    case FILL_ZERO:
        memset(p, 0, PAGE);
        break;
    case FILL_RANDOM:
        for (off = 0; off < PAGE; off += sizeof(v)) {
            v = rnd(seed);
            memcpy(p + off, &v, sizeof(v));
        }
        break;
    case FILL_TEXT:
        n = (size_t)snprintf(line, sizeof(line), "page %u: the quick brown "
                             "fox jumps over the lazy dog. ", i);
        for (off = 0; off < PAGE; off += n)
            memcpy(p + off, line, off + n > PAGE ? PAGE - off : n);
        break;
    }
}

/* count pages with fills taken in turn from fills[nfills]; pfn i*3+1. */
struct pageset {
    uint32_t count;
    uint8_t *mem;
    const void **pages;
    uint64_t *pfns;
};

static void pageset_make(struct pageset *ps, uint32_t count,
                         const enum fill *fills, size_t nfills,
                         uint64_t seed)
{
    uint32_t i;

    ps->count = count;
    ps->mem = aligned_alloc(PAGE, (size_t)count * PAGE);
    ps->pages = calloc(count, sizeof(*ps->pages));
    ps->pfns = calloc(count, sizeof(*ps->pfns));
    if (!ps->mem || !ps->pages || !ps->pfns)
        tap_bail("out of memory");
    for (i = 0; i < count; i++) {
        fill_page(ps->mem + (size_t)i * PAGE, fills[i % nfills], &seed, i);
        ps->pages[i] = ps->mem + (size_t)i * PAGE;
        ps->pfns[i] = (uint64_t)i * 3 + 1;
    }
}

static void pageset_free(struct pageset *ps)
{
    free(ps->mem);
    free(ps->pages);
    free(ps->pfns);
}

static bool is_zero(const uint8_t *p)
{
    static const uint8_t zero[PAGE];

    return memcmp(p, zero, PAGE) == 0;
}

/* Checks a decoded batch against the pages it was made from. */
static bool batch_matches(const struct mig_batch *mb, const struct pageset *ps)
{
    uint32_t i, k = 0;

    if (mb->count != ps->count)
        return false;
    for (i = 0; i < mb->count; i++) {
        if (mb->pfns[i] != ps->pfns[i])
            return false;
        if (mb->types[i] == MIG_PAGE_ZERO) {
            if (!is_zero(ps->pages[i]))
                return false;
            continue;
        }
        if (memcmp(mb->data + (size_t)k * PAGE, ps->pages[i], PAGE))
            return false;
        k++;
    }
    return k == mb->nonzero;
}

static uint32_t count_type(const struct mig_batch *mb, uint8_t type)
{
    uint32_t i, n = 0;

    for (i = 0; i < mb->count; i++)
        n += mb->types[i] == type;
    return n;
}

/* The body of the one record in b, copied into its own exact-size
 * allocation (so ASan sees any read past its end). */
static uint8_t *body_of(const struct mig_buf *b, size_t *len_r)
{
    struct mig_rec_hdr h;
    uint8_t *body;

    memcpy(&h, b->data, sizeof(h));
    *len_r = h.length;
    body = malloc(h.length ? h.length : 1);
    if (!body)
        tap_bail("out of memory");
    memcpy(body, b->data + sizeof(h), h.length);
    return body;
}

/* One check: rc as wanted and, for errors, the message holding needle. */
static void expect(struct xt_ctx *ctx, int rc, int want, const char *needle,
                   const char *name)
{
    bool good = rc == want;

    if (want < 0 && needle)
        good = good && strstr(ctx->err_msg, needle);
    if (!tap_ok(good, "%s", name)) {
        tap_diag("  rc %d (want %d), message \"%s\" (want \"%s\")", rc,
                 want, ctx->err_msg, needle ? needle : "");
    }
    xt_error_clear(ctx);
}

/* ---- round trips -------------------------------------------------------- */

struct rt_case {
    const char *name;
    uint32_t count;
    enum fill fills[3];
    size_t nfills;
    enum mig_compress comp;
    int level;
    bool checksum;
    /* expected */
    uint32_t zero, normal, compressed;
    bool shrinks;
};

static void round_trip(struct xt_ctx *ctx, const struct rt_case *c)
{
    struct mig_buf b = { 0 }, scratch = { 0 }, dscratch = { 0 };
    struct mig_batch_stats st;
    struct mig_batch mb;
    struct mig_batch_hdr bh;
    struct mig_rec_hdr rh;
    struct pageset ps;
    uint8_t *body = NULL;
    size_t len, payload_off;
    int rc;

    pageset_make(&ps, c->count, c->fills, c->nfills, 42);
    rc = mig_batch_encode(ctx, &b, &scratch, 7, ps.pfns, ps.pages, c->count,
                          c->comp, c->level, c->checksum, &st);
    if (!tap_is_int(rc, 0, c->name)) {
        tap_diag("  %s", ctx->err_msg);
        tap_skip(3, "encode failed");
        goto out;
    }
    memcpy(&rh, b.data, sizeof(rh));
    memcpy(&bh, b.data + sizeof(rh), sizeof(bh));
    body = body_of(&b, &len);
    tap_ok(rh.type == MIG_REC_PAGE_BATCH && b.len % 8 == 0 &&
           b.len == sizeof(rh) + ((len + 7) & ~(size_t)7) &&
           st.zero == c->zero && st.normal == c->normal &&
           st.compressed == c->compressed &&
           st.raw_bytes == (uint64_t)(c->normal + c->compressed) * PAGE &&
           st.wire_bytes == bh.payload_len &&
           (c->shrinks ? st.wire_bytes < st.raw_bytes
                       : st.wire_bytes == st.raw_bytes) &&
           bh.compression == (c->compressed ? c->comp : 0) &&
           bh.flags == (c->checksum ? MIG_BATCH_CHECKSUM : 0) &&
           (c->checksum || bh.checksum == 0),
           "%s: record and stats (zero %u normal %u compressed %u, "
           "%llu -> %llu bytes)", c->name, st.zero, st.normal,
           st.compressed, (unsigned long long)st.raw_bytes,
           (unsigned long long)st.wire_bytes);

    rc = mig_batch_decode(ctx, body, len, BODY_OFF, (uint64_t)c->count * 3 + 1,
                          &dscratch, &mb);
    if (!tap_is_int(rc, 0, "  decodes")) {
        tap_diag("  %s", ctx->err_msg);
        tap_skip(1, "decode failed");
        goto out;
    }
    payload_off = sizeof(bh) + (size_t)c->count * 8 +
                  ((c->count + 7) & ~7u);
    tap_ok(batch_matches(&mb, &ps) && mb.round == 7 &&
           count_type(&mb, MIG_PAGE_ZERO) == c->zero &&
           count_type(&mb, MIG_PAGE_NORMAL) == c->normal &&
           count_type(&mb, MIG_PAGE_COMPRESSED) == c->compressed &&
           (mb.nonzero ? mb.data != NULL : mb.data == NULL) &&
           (c->normal == 0 || mb.data == body + payload_off),
           "  pages, pfns and types come back%s",
           c->normal ? " (data in place in the body)" : "");

out:
    free(body);
    mig_buf_free(&b);
    mig_buf_free(&scratch);
    mig_buf_free(&dscratch);
    pageset_free(&ps);
}

static void test_round_trips(struct xt_ctx *ctx)
{
    static const struct rt_case cases[] = {
        { "all-zero batch", 64, { FILL_ZERO }, 1, MIG_COMPRESS_NONE, 0,
          true, 64, 0, 0, false },
        { "all-zero batch, zstd asked", 16, { FILL_ZERO }, 1,
          MIG_COMPRESS_ZSTD, 0, true, 16, 0, 0, false },
        { "all-normal random 1024 pages", 1024, { FILL_RANDOM }, 1,
          MIG_COMPRESS_NONE, 0, false, 0, 1024, 0, false },
        { "mixed, checksum", 30, { FILL_ZERO, FILL_RANDOM, FILL_TEXT }, 3,
          MIG_COMPRESS_NONE, 0, true, 10, 20, 0, false },
        { "mixed, no checksum", 31, { FILL_TEXT, FILL_ZERO }, 2,
          MIG_COMPRESS_NONE, 0, false, 15, 16, 0, false },
        { "zlib on compressible pages", 64, { FILL_TEXT }, 1,
          MIG_COMPRESS_ZLIB, 0, true, 0, 0, 64, true },
        { "zlib level 9, mixed", 33, { FILL_TEXT, FILL_ZERO, FILL_RANDOM },
          3, MIG_COMPRESS_ZLIB, 9, false, 11, 0, 22, true },
        { "zstd on compressible pages", 64, { FILL_TEXT }, 1,
          MIG_COMPRESS_ZSTD, 0, true, 0, 0, 64, true },
        { "zstd level 19, mixed, no checksum", 9,
          { FILL_ZERO, FILL_TEXT }, 2, MIG_COMPRESS_ZSTD, 19, false, 5, 0,
          4, true },
        { "zlib on random pages: sent raw", 32, { FILL_RANDOM }, 1,
          MIG_COMPRESS_ZLIB, 0, true, 0, 32, 0, false },
        { "zstd on random pages: sent raw", 32, { FILL_RANDOM, FILL_ZERO },
          2, MIG_COMPRESS_ZSTD, 0, true, 16, 16, 0, false },
        { "single random page, zstd", 1, { FILL_RANDOM }, 1,
          MIG_COMPRESS_ZSTD, 3, true, 0, 1, 0, false },
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        round_trip(ctx, &cases[i]);
}

static void test_encode_args(struct xt_ctx *ctx)
{
    static const enum fill f[] = { FILL_TEXT };
    struct mig_buf b = { 0 }, scratch = { 0 };
    struct pageset ps;
    int rc;

    pageset_make(&ps, MIG_BATCH_MAX + 1, f, 1, 1);
    rc = mig_batch_encode(ctx, &b, &scratch, 0, ps.pfns, ps.pages, 0,
                          MIG_COMPRESS_NONE, 0, false, NULL);
    expect(ctx, rc, -EINVAL, "0 pages", "encode: count 0 refused");
    rc = mig_batch_encode(ctx, &b, &scratch, 0, ps.pfns, ps.pages,
                          MIG_BATCH_MAX + 1, MIG_COMPRESS_NONE, 0, false,
                          NULL);
    expect(ctx, rc, -EINVAL, "1025 pages", "encode: count 1025 refused");
    rc = mig_batch_encode(ctx, &b, &scratch, 0, ps.pfns, ps.pages, 4,
                          MIG_COMPRESS_ZLIB, 10, false, NULL);
    expect(ctx, rc, -EINVAL, "zlib level 10", "encode: zlib level 10");
    rc = mig_batch_encode(ctx, &b, &scratch, 0, ps.pfns, ps.pages, 4,
                          MIG_COMPRESS_ZSTD, 20, false, NULL);
    expect(ctx, rc, -EINVAL, "zstd level 20", "encode: zstd level 20");
    rc = mig_batch_encode(ctx, &b, &scratch, 0, ps.pfns, ps.pages, 4,
                          (enum mig_compress)3, 0, false, NULL);
    expect(ctx, rc, -EINVAL, "unknown compression",
           "encode: unknown compression");
    tap_ok(b.len == 0, "encode errors leave b empty");

    /* Two batches appended to one buffer, both 8-aligned records. */
    rc = mig_batch_encode(ctx, &b, &scratch, 0, ps.pfns, ps.pages, 3,
                          MIG_COMPRESS_NONE, 0, false, NULL);
    rc = rc ? rc : mig_batch_encode(ctx, &b, &scratch, 1, ps.pfns,
                                    ps.pages, 5, MIG_COMPRESS_ZSTD, 0, true,
                                    NULL);
    tap_ok(rc == 0 && b.len % 8 == 0, "two batches appended (%zu bytes)",
           b.len);
    mig_buf_free(&b);
    mig_buf_free(&scratch);
    mig_buf_free(&b);       /* twice: harmless */
    mig_buf_free(NULL);
    pageset_free(&ps);
}

/* A body not 8-byte aligned still decodes (pfns copied to scratch). */
static void test_unaligned_body(struct xt_ctx *ctx)
{
    static const enum fill f[] = { FILL_RANDOM, FILL_ZERO };
    struct mig_buf b = { 0 }, scratch = { 0 }, ds = { 0 };
    struct pageset ps;
    struct mig_batch mb;
    uint8_t *body, *odd;
    size_t len;
    int rc;

    pageset_make(&ps, 10, f, 2, 5);
    rc = mig_batch_encode(ctx, &b, &scratch, 0, ps.pfns, ps.pages, 10,
                          MIG_COMPRESS_ZSTD, 0, true, NULL);
    body = body_of(&b, &len);
    odd = malloc(len + 1);
    if (!odd)
        tap_bail("out of memory");
    memcpy(odd + 1, body, len);
    rc = rc ? rc : mig_batch_decode(ctx, odd + 1, len, 0, 100, &ds, &mb);
    tap_ok(rc == 0 && batch_matches(&mb, &ps) &&
           (const uint8_t *)mb.pfns == ds.data,
           "unaligned body decodes, pfns from scratch");
    free(odd);
    free(body);
    mig_buf_free(&b);
    mig_buf_free(&scratch);
    mig_buf_free(&ds);
    pageset_free(&ps);
}

/* ---- VM_CONFIG ---------------------------------------------------------- */

static void test_vm_config(struct xt_ctx *ctx)
{
    static const char devices[] = "{\"disks\":[{\"vdi\":\"a\"}],\"nics\":[]}";
    struct mig_vm_config cfg = { .nr_pages = 262144, .nr_vcpus = 4 };
    struct mig_vm_config got, *c;
    struct mig_buf b = { 0 };
    char *name = NULL, *dev = NULL;
    char longname[300];
    uint8_t *body, *bad;
    size_t len;
    int rc;

    memcpy(cfg.uuid, "0123456789abcdef", 16);
    cfg.name_len = 999;     /* ignored: taken from the string */
    rc = mig_vm_config_append(&b, &cfg, "vm-01", devices);
    body = body_of(&b, &len);
    rc = rc ? rc : mig_vm_config_decode(ctx, body, len, 48, &got, &name,
                                        &dev);
    tap_ok(rc == 0 && memcmp(got.uuid, cfg.uuid, 16) == 0 &&
           got.nr_pages == 262144 && got.nr_vcpus == 4 &&
           got.name_len == 5 && got.devices_len == strlen(devices) &&
           b.len % 8 == 0, "VM_CONFIG round trip");
    tap_is_str(name, "vm-01", "  name");
    tap_is_str(dev, devices, "  devices");
    free(name);
    free(dev);
    free(body);

    b.len = 0;
    rc = mig_vm_config_append(&b, &cfg, "", NULL);
    body = body_of(&b, &len);
    rc = rc ? rc : mig_vm_config_decode(ctx, body, len, 48, &got, &name,
                                        &dev);
    tap_ok(rc == 0 && name && !*name && dev && !*dev && len == sizeof(cfg),
           "VM_CONFIG with empty name and no devices");
    free(name);
    free(dev);

    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    tap_is_int(mig_vm_config_append(&b, &cfg, longname, NULL), -EINVAL,
               "append: 299-byte name refused");
    free(body);

    /* Malformed bodies: a valid one, then each field broken. */
    b.len = 0;
    if (mig_vm_config_append(&b, &cfg, "vm-01", devices))
        tap_bail("VM_CONFIG append");
    body = body_of(&b, &len);
    bad = malloc(len);
    if (!bad)
        tap_bail("out of memory");
    c = (struct mig_vm_config *)(void *)bad;

#define VMC_CASE(mutate, blen, want, needle, what) do { \
        memcpy(bad, body, len); \
        mutate; \
        rc = mig_vm_config_decode(ctx, bad, (blen), 48, &got, &name, &dev); \
        expect(ctx, rc, (want), (needle), (what)); \
        tap_ok(!name && !dev, "  nothing returned"); \
    } while (0)

    VMC_CASE((void)0, sizeof(cfg) - 1, -EINVAL, "at offset 48",
             "VM_CONFIG: body shorter than the fixed part");
    VMC_CASE(c->name_len = 256, len, -EINVAL, "offset 76",
             "VM_CONFIG: name_len 256");
    VMC_CASE(c->devices_len = 0xffffffffu, len, -EINVAL, "offset 80",
             "VM_CONFIG: devices_len 2^32-1");
    VMC_CASE(c->devices_len += 1, len, -EINVAL, "offset 76",
             "VM_CONFIG: devices_len one past the body");
    VMC_CASE(c->name_len = 200, len, -EINVAL, "offset 76",
             "VM_CONFIG: name_len overflowing the body");
    VMC_CASE(c->devices_len -= 1, len, -EINVAL, "do not add up",
             "VM_CONFIG: a byte left over");
    VMC_CASE(c->nr_pages = 0, len, -EINVAL, "offset 64",
             "VM_CONFIG: nr_pages 0");
    VMC_CASE(c->nr_vcpus = 0, len, -EINVAL, "offset 72",
             "VM_CONFIG: nr_vcpus 0");
    VMC_CASE(c->reserved = 1, len, -EINVAL, "offset 84",
             "VM_CONFIG: reserved set");
    VMC_CASE(bad[sizeof(cfg) + 2] = 0, len, -EINVAL, "offset 88",
             "VM_CONFIG: NUL inside the name");
#undef VMC_CASE

    free(bad);
    free(body);
    mig_buf_free(&b);
}

/* ---- records through real file descriptors ------------------------------ */

struct writer {
    int fd;
    const uint8_t *data;
    size_t len;
    int rc;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;

    w->rc = xt_write_full(w->fd, w->data, w->len, -1);
    close(w->fd);
    return NULL;
}

/* A reader on the read end of a pipe (or socketpair) whose other end a
 * thread fills with data[len], then closes. */
struct feed {
    pthread_t thread;
    struct writer w;
    struct mig_reader r;
};

static void feed_start(struct feed *f, const void *data, size_t len,
                       bool socket)
{
    int fds[2];

    if (socket ? socketpair(AF_UNIX, SOCK_STREAM, 0, fds) : pipe(fds))
        tap_bail("pipe/socketpair");
    memset(f, 0, sizeof(*f));
    f->w.fd = fds[1];
    f->w.data = data;
    f->w.len = len;
    if (mig_chan_wrap(NULL, fds[0], 10000, &f->r.chan) < 0)
        tap_bail("mig_chan_wrap");
    if (pthread_create(&f->thread, NULL, writer_main, &f->w))
        tap_bail("pthread_create");
}

static void feed_finish(struct feed *f)
{
    mig_chan_close(f->r.chan);
    pthread_join(f->thread, NULL);
    mig_buf_free(&f->r.body);
}

static void append_image_hdr(struct mig_buf *b, uint64_t id)
{
    struct mig_image_hdr h;

    mig_image_hdr_init(&h, MIG_HV_KVM, id);
    if (mig_buf_reserve(b, sizeof(h)))
        tap_bail("out of memory");
    memcpy(b->data + b->len, &h, sizeof(h));
    b->len += sizeof(h);
}

static void append_raw(struct mig_buf *b, const void *p, size_t len)
{
    if (mig_buf_reserve(b, len))
        tap_bail("out of memory");
    memcpy(b->data + b->len, p, len);
    b->len += len;
}

static void test_reader_stream(struct xt_ctx *ctx, bool socket)
{
    static const enum fill f[] = { FILL_RANDOM, FILL_ZERO, FILL_TEXT };
    const char *via = socket ? "socketpair" : "pipe";
    struct mig_buf s = { 0 }, scratch = { 0 }, ds = { 0 };
    struct mig_stream_hello hello = { .migration_id = 77, .index = 0,
                                      .nstreams = 1 };
    struct mig_vm_config cfg = { .nr_pages = 4096, .nr_vcpus = 1 };
    struct mig_round_end re = { .round = 0, .pages = 1024 };
    struct mig_image_hdr ih;
    struct mig_rec_hdr h;
    struct mig_batch mb;
    struct pageset ps;
    struct feed fd;
    uint64_t off, batch_off = 0;
    uint8_t junk[13] = { 1, 2, 3 };
    uint32_t types[8];
    size_t n = 0;
    int rc;

    pageset_make(&ps, 1024, f, 3, 9);
    append_image_hdr(&s, 77);
    rc = mig_rec_append(&s, MIG_REC_STREAM_HELLO, 0, &hello, sizeof(hello));
    rc = rc ? rc : mig_vm_config_append(&s, &cfg, "guest", "{}");
    rc = rc ? rc : mig_rec_append(&s, 99, MIG_REC_OPTIONAL, junk,
                                  sizeof(junk));
    batch_off = s.len;
    rc = rc ? rc : mig_batch_encode(ctx, &s, &scratch, 0, ps.pfns, ps.pages,
                                    1024, MIG_COMPRESS_NONE, 0, true, NULL);
    rc = rc ? rc : mig_rec_append(&s, MIG_REC_ROUND_END, 0, &re, sizeof(re));
    rc = rc ? rc : mig_rec_append(&s, MIG_REC_END, 0, NULL, 0);
    if (rc)
        tap_bail("building a stream");

    feed_start(&fd, s.data, s.len, socket);
    rc = mig_read_image_hdr(ctx, &fd.r, &ih);
    tap_ok(rc == 0 && ih.migration_id == 77 && fd.r.offset == 32,
           "%s: image header read", via);
    for (;;) {
        rc = mig_read_record(ctx, &fd.r, &h, &off);
        if (rc < 0)
            break;
        if (n < 8)
            types[n] = h.type;
        n++;
        if (h.type == MIG_REC_PAGE_BATCH) {
            batch_off = off;
            rc = mig_batch_decode(ctx, fd.r.body.data, fd.r.body.len,
                                  off + sizeof(h), cfg.nr_pages * 3, &ds,
                                  &mb);
            tap_ok(rc == 0 && batch_matches(&mb, &ps),
                   "%s: 4 MiB page batch read and decoded", via);
        }
        if (h.type == MIG_REC_END)
            break;
    }
    tap_ok(rc == 0 && n == 5 && types[0] == MIG_REC_STREAM_HELLO &&
           types[1] == MIG_REC_VM_CONFIG && types[2] == MIG_REC_PAGE_BATCH &&
           types[3] == MIG_REC_ROUND_END && types[4] == MIG_REC_END,
           "%s: records in order, optional unknown record skipped", via);
    tap_ok(batch_off == 32 + 32 + 64 + 32 &&
           fd.r.offset == s.len, "%s: offsets (batch at %llu, end at %llu)",
           via, (unsigned long long)batch_off,
           (unsigned long long)fd.r.offset);
    rc = mig_read_record(ctx, &fd.r, &h, &off);
    expect(ctx, rc, -EPIPE, "truncated at offset", "read after END: -EPIPE");
    feed_finish(&fd);
    mig_buf_free(&s);
    mig_buf_free(&scratch);
    mig_buf_free(&ds);
    pageset_free(&ps);
}

/* Feeds image header + a good ROUND_END (so the bad part is at offset 64)
 * + bad[len]; returns the rc of reading the second record. */
static int read_bad(struct xt_ctx *ctx, const void *bad, size_t len,
                    struct mig_rec_hdr *h, uint64_t *off)
{
    struct mig_round_end re = { .round = 3, .pages = 1 };
    struct mig_buf s = { 0 };
    struct mig_image_hdr ih;
    struct feed fd;
    int rc;

    append_image_hdr(&s, 5);
    if (mig_rec_append(&s, MIG_REC_ROUND_END, 0, &re, sizeof(re)))
        tap_bail("append");
    append_raw(&s, bad, len);
    feed_start(&fd, s.data, s.len, false);
    rc = mig_read_image_hdr(ctx, &fd.r, &ih);
    rc = rc ? rc : mig_read_record(ctx, &fd.r, h, off);
    if (rc == 0 && h->type != MIG_REC_ROUND_END)
        rc = -EIO;
    rc = rc ? rc : mig_read_record(ctx, &fd.r, h, off);
    feed_finish(&fd);
    mig_buf_free(&s);
    return rc;
}

static void test_reader_bad(struct xt_ctx *ctx)
{
    struct mig_rec_hdr h, bh;
    struct mig_image_hdr ih;
    struct mig_buf s = { 0 };
    uint8_t buf[64];
    uint64_t off = 0;
    struct feed fd;
    int rc;

    h = (struct mig_rec_hdr){ .type = MIG_REC_STATE,
                              .length = MIG_REC_MAX + 1ull };
    rc = read_bad(ctx, &h, sizeof(h), &bh, &off);
    expect(ctx, rc, -EINVAL, "at offset 64: length 8388609",
           "record length over MIG_REC_MAX");
    h = (struct mig_rec_hdr){ .type = MIG_REC_STATE, .length = ~0ull };
    rc = read_bad(ctx, &h, sizeof(h), &bh, &off);
    expect(ctx, rc, -EINVAL, "at offset 64", "record length 2^64-1");
    h = (struct mig_rec_hdr){ .type = MIG_REC_END, .flags = 2 };
    rc = read_bad(ctx, &h, sizeof(h), &bh, &off);
    expect(ctx, rc, -EINVAL, "at offset 64: unknown flags 0x2",
           "record with unknown flags");
    h = (struct mig_rec_hdr){ .type = 99, .length = 8 };
    memset(buf, 0, sizeof(buf));
    memcpy(buf, &h, sizeof(h));
    rc = read_bad(ctx, buf, sizeof(h) + 8, &bh, &off);
    expect(ctx, rc, -EPROTO, "offset 64: unknown type 99",
           "unknown mandatory record type");

    /* Padding: ABORT with a 13-byte body, a stray byte in its padding. */
    h = (struct mig_rec_hdr){ .type = MIG_REC_ABORT, .length = 13 };
    memset(buf, 0, sizeof(buf));
    memcpy(buf, &h, sizeof(h));
    rc = read_bad(ctx, buf, sizeof(h) + 16, &bh, &off);
    tap_ok(rc == 0 && bh.type == MIG_REC_ABORT && bh.length == 13 &&
           off == 64, "13-byte record with zero padding read");
    buf[sizeof(h) + 14] = 0x80;
    rc = read_bad(ctx, buf, sizeof(h) + 16, &bh, &off);
    expect(ctx, rc, -EINVAL, "non-zero padding at offset 94",
           "non-zero padding");

    /* Optional unknown record, then END. */
    h = (struct mig_rec_hdr){ .type = 1000, .flags = MIG_REC_OPTIONAL,
                              .length = 3 };
    memset(buf, 0, sizeof(buf));
    memcpy(buf, &h, sizeof(h));
    h = (struct mig_rec_hdr){ .type = MIG_REC_END };
    memcpy(buf + 24, &h, sizeof(h));
    rc = read_bad(ctx, buf, 40, &bh, &off);
    tap_ok(rc == 0 && bh.type == MIG_REC_END && off == 88,
           "optional unknown record skipped, END at offset 88");
    h = (struct mig_rec_hdr){ .type = MIG_REC_COMMIT,
                              .flags = MIG_REC_OPTIONAL };
    rc = read_bad(ctx, &h, sizeof(h), &bh, &off);
    tap_ok(rc == 0 && bh.type == MIG_REC_COMMIT,
           "known record with the optional flag is returned");

    /* Truncations. */
    h = (struct mig_rec_hdr){ .type = MIG_REC_PAGE_BATCH, .length = 100 };
    memset(buf, 0, sizeof(buf));
    memcpy(buf, &h, sizeof(h));
    rc = read_bad(ctx, buf, sizeof(h) + 40, &bh, &off);
    expect(ctx, rc, -EPIPE, "truncated at offset 120 (in record PAGE_BATCH "
           "at offset 64)", "EOF mid-body: -EPIPE");
    rc = read_bad(ctx, buf, 8, &bh, &off);
    expect(ctx, rc, -EPIPE, "truncated at offset 72 (in the record header "
           "at offset 64)", "EOF mid-header: -EPIPE");
    h = (struct mig_rec_hdr){ .type = MIG_REC_ABORT, .length = 13 };
    memcpy(buf, &h, sizeof(h));
    rc = read_bad(ctx, buf, sizeof(h) + 13, &bh, &off);
    expect(ctx, rc, -EPIPE, "truncated at offset 93",
           "EOF in the padding: -EPIPE");

    append_image_hdr(&s, 5);
    feed_start(&fd, s.data, 10, true);
    rc = mig_read_image_hdr(ctx, &fd.r, &ih);
    expect(ctx, rc, -EPIPE, "truncated at offset 10 (in the image header)",
           "EOF in the image header: -EPIPE");
    feed_finish(&fd);
    mig_buf_free(&s);
}

static void test_image_hdr(struct xt_ctx *ctx)
{
    struct mig_image_hdr h;

#define IH_CASE(mutate, want, needle, what) do { \
        mig_image_hdr_init(&h, MIG_HV_XEN, 0x1234); \
        mutate; \
        expect(ctx, mig_image_hdr_check(ctx, &h), (want), (needle), \
               (what)); \
    } while (0)

    IH_CASE((void)0, 0, NULL, "image header: valid");
    IH_CASE(h.magic ^= 1, -EINVAL, "bad magic", "image header: bad magic");
    IH_CASE(h.version = 4, -EPROTO, "version 4 at offset 8",
            "image header: version 4");
    IH_CASE(h.version = 0, -EPROTO, "version 0 at offset 8",
            "image header: version 0");
    IH_CASE(h.version = 1, 0, NULL, "image header: version 1 (hosts not "
            "upgraded yet)");
    IH_CASE(h.version = 2, 0, NULL, "image header: version 2 (opaque "
            "mode's), no flag");
    IH_CASE((h.version = 2, h.flags = MIG_IMG_OPAQUE), 0, NULL,
            "image header: version 2 opaque");
    IH_CASE((h.version = 1, h.flags = MIG_IMG_OPAQUE), -EINVAL, "flags 0x1 "
            "at offset 16 for version 1", "image header: opaque flag in "
            "version 1");
    IH_CASE(h.flags = MIG_IMG_OPAQUE, 0, NULL, "image header: version 3 "
            "opaque");
    IH_CASE((h.version = 2, h.flags = 2), -EINVAL, "flags 0x2 at offset 16",
            "image header: unknown flag in version 2");
    IH_CASE(h.endianness = 2, -EINVAL, "endianness 2 at offset 12",
            "image header: big endian");
    IH_CASE(h.page_shift = 16, -EINVAL, "page shift 16 at offset 13",
            "image header: page shift 16");
    IH_CASE(h.hv_type = 0, -EINVAL, "hypervisor type 0 at offset 14",
            "image header: hv type 0");
    IH_CASE(h.flags = 4, -EINVAL, "flags 0x4 at offset 16",
            "image header: unknown flags");
    IH_CASE(h.reserved = 1, -EINVAL, "offset 20",
            "image header: reserved set");
    IH_CASE(h.migration_id = 0, -EINVAL, "offset 24",
            "image header: migration id 0");
#undef IH_CASE
}

/* ---- malformed page batches --------------------------------------------- */

/* A batch body built by hand: count pages with types[], payload. */
static uint8_t *make_body(uint32_t count, const uint8_t *types,
                          uint8_t compression, bool checksum,
                          const void *payload, size_t payload_len,
                          const void *raw, size_t raw_len, size_t *len_r)
{
    struct mig_batch_hdr bh = { .count = count, .compression = compression,
                                .payload_len = (uint32_t)payload_len };
    size_t poff = sizeof(bh) + count * 8 + ((count + 7) & ~7u);
    uint8_t *body;
    uint64_t pfn;
    uint32_t i;

    if (checksum) {
        /* The spec's definition, spelled out independently of the
         * encoder: XXH3 over the pages' own XXH3 hashes. */
        uint64_t ph[MIG_BATCH_MAX];
        size_t k;

        for (k = 0; k < raw_len / MIG_PAGE_SIZE; k++)
            ph[k] = XXH3_64bits(raw + k * MIG_PAGE_SIZE, MIG_PAGE_SIZE);
        bh.flags = MIG_BATCH_CHECKSUM;
        bh.checksum = XXH3_64bits(ph, k * sizeof(ph[0]));
    }
    *len_r = poff + payload_len;
    body = calloc(1, *len_r);
    if (!body)
        tap_bail("out of memory");
    memcpy(body, &bh, sizeof(bh));
    for (i = 0; i < count; i++) {
        pfn = i;
        memcpy(body + sizeof(bh) + i * 8, &pfn, 8);
    }
    memcpy(body + sizeof(bh) + count * 8, types, count);
    if (payload_len)
        memcpy(body + poff, payload, payload_len);
    return body;
}

static uint8_t *zlib_of(const void *raw, size_t len, size_t *clen_r)
{
    uLongf clen = compressBound(len);
    uint8_t *c = malloc(clen + 16);

    if (!c || compress2(c, &clen, raw, len, 6) != Z_OK)
        tap_bail("compress2");
    *clen_r = clen;
    return c;
}

static uint8_t *zstd_of(const void *raw, size_t len, bool with_size,
                        size_t *clen_r)
{
    size_t cap = ZSTD_compressBound(len);
    uint8_t *c = malloc(cap + 16);
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    size_t r;

    if (!c || !cc)
        tap_bail("zstd");
    ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, with_size);
    r = ZSTD_compress2(cc, c, cap, raw, len);
    if (ZSTD_isError(r))
        tap_bail("ZSTD_compress2");
    ZSTD_freeCCtx(cc);
    *clen_r = r;
    return c;
}

struct batch_fixture {
    struct pageset ps;      /* 3 text pages */
    uint8_t *normal;        /* encoded raw, with checksum */
    size_t normal_len;
    uint8_t *zstd;          /* encoded zstd, with checksum */
    size_t zstd_len;
    uint8_t *zlib;          /* encoded zlib, with checksum */
    size_t zlib_len;
    uint8_t *zero;          /* 9 zero pages, with checksum */
    size_t zero_len;
};

static uint8_t *encode_body(struct xt_ctx *ctx, const struct pageset *ps,
                            uint32_t count, enum mig_compress comp,
                            size_t *len_r)
{
    struct mig_buf b = { 0 }, scratch = { 0 };
    uint8_t *body;

    if (mig_batch_encode(ctx, &b, &scratch, 0, ps->pfns, ps->pages, count,
                         comp, 0, true, NULL))
        tap_bail("encode");
    body = body_of(&b, len_r);
    mig_buf_free(&b);
    mig_buf_free(&scratch);
    return body;
}

static void fixture_make(struct xt_ctx *ctx, struct batch_fixture *fx)
{
    static const enum fill text[] = { FILL_TEXT };
    static const enum fill zero[] = { FILL_ZERO };
    struct pageset zs;

    pageset_make(&fx->ps, 3, text, 1, 3);
    fx->normal = encode_body(ctx, &fx->ps, 3, MIG_COMPRESS_NONE,
                             &fx->normal_len);
    fx->zstd = encode_body(ctx, &fx->ps, 3, MIG_COMPRESS_ZSTD,
                           &fx->zstd_len);
    fx->zlib = encode_body(ctx, &fx->ps, 3, MIG_COMPRESS_ZLIB,
                           &fx->zlib_len);
    pageset_make(&zs, 9, zero, 1, 3);
    fx->zero = encode_body(ctx, &zs, 9, MIG_COMPRESS_NONE, &fx->zero_len);
    pageset_free(&zs);
}

static void fixture_free(struct batch_fixture *fx)
{
    pageset_free(&fx->ps);
    free(fx->normal);
    free(fx->zstd);
    free(fx->zlib);
    free(fx->zero);
}

/* Decodes a copy of body[len] (exact-size allocation) after mutate. */
#define BATCH_CASE(src, srclen, mutate, blen, nr, want, needle, what) do { \
        uint8_t *b_ = malloc(srclen); \
        struct mig_batch_hdr *h_ = (struct mig_batch_hdr *)(void *)b_; \
        if (!b_) \
            tap_bail("out of memory"); \
        memcpy(b_, (src), (srclen)); \
        (void)h_; \
        mutate; \
        rc = mig_batch_decode(ctx, b_, (blen), BODY_OFF, (nr), &ds, &mb); \
        expect(ctx, rc, (want), (needle), (what)); \
        free(b_); \
    } while (0)

static void test_batch_bad(struct xt_ctx *ctx)
{
    struct batch_fixture fx;
    struct mig_buf ds = { 0 };
    struct mig_batch mb;
    uint8_t *raw, *c, *body, types[3];
    size_t clen, len, nl, zl, half;
    int rc;

    fixture_make(ctx, &fx);
    nl = fx.normal_len;
    zl = fx.zstd_len;

    BATCH_CASE(fx.normal, nl, (void)0, nl, 10, 0, NULL,
               "batch fixture decodes");
    BATCH_CASE(fx.normal, nl, (void)0, 23, 10, -EINVAL,
               "page batch at offset 1000: body of 23 bytes",
               "batch: body shorter than its header");
    BATCH_CASE(fx.normal, nl, h_->count = 0, nl, 10, -EINVAL,
               "count 0 at offset 1000", "batch: count 0");
    BATCH_CASE(fx.normal, nl, h_->count = MIG_BATCH_MAX + 1, nl, 10,
               -EINVAL, "count 1025 at offset 1000", "batch: count 1025");
    BATCH_CASE(fx.normal, nl, h_->count = 4, nl, 10, -EINVAL,
               "payload_len", "batch: count one too many");
    BATCH_CASE(fx.normal, nl, h_->compression = 3, nl, 10, -EINVAL,
               "unknown compression 3 at offset 1008",
               "batch: unknown compression");
    BATCH_CASE(fx.normal, nl, h_->flags |= 0x40, nl, 10, -EINVAL,
               "unknown flags 0x41 at offset 1009", "batch: unknown flags");
    BATCH_CASE(fx.normal, nl, h_->reserved = 1, nl, 10, -EINVAL,
               "offset 1010", "batch: reserved set");
    BATCH_CASE(fx.normal, nl, h_->flags = 0, nl, 10, -EINVAL,
               "checksum at offset 1016 is set",
               "batch: checksum without its flag");
    BATCH_CASE(fx.normal, nl, (void)0, 3, 2, -EINVAL, "body of 3 bytes",
               "batch: 3-byte body");
    /* pfns are 1, 4, 7: nr_pages 7 puts pfn[2] out of range. */
    BATCH_CASE(fx.normal, nl, (void)0, nl, 7, -ERANGE,
               "pfn[2] 0x7 at offset 1040 is beyond the domain (7 pages)",
               "batch: pfn == nr_pages -> -ERANGE");
    BATCH_CASE(fx.normal, nl, memset(b_ + 24, 0xff, 8), nl, 10, -ERANGE,
               "pfn[0] 0xffffffffffffffff at offset 1024",
               "batch: pfn 2^64-1 -> -ERANGE");
    BATCH_CASE(fx.normal, nl, (void)0, nl, 0, -ERANGE, "pfn[0]",
               "batch: empty domain -> -ERANGE");
    BATCH_CASE(fx.normal, nl, b_[48 + 1] = 7, nl, 10, -EINVAL,
               "unknown type 7 of page 1 at offset 1049",
               "batch: unknown page type");
    BATCH_CASE(fx.normal, nl, b_[48 + 5] = 1, nl, 10, -EINVAL,
               "non-zero padding after the page types at offset 1053",
               "batch: non-zero type padding");
    BATCH_CASE(fx.normal, nl, b_[48 + 1] = MIG_PAGE_COMPRESSED, nl, 10,
               -EINVAL, "mixes NORMAL and COMPRESSED",
               "batch: NORMAL mixed with COMPRESSED (raw batch)");
    BATCH_CASE(fx.zstd, zl, b_[48 + 1] = MIG_PAGE_NORMAL, zl, 10, -EINVAL,
               "mixes NORMAL and COMPRESSED",
               "batch: NORMAL mixed with COMPRESSED (zstd batch)");
    BATCH_CASE(fx.normal, nl, memset(b_ + 48, MIG_PAGE_COMPRESSED, 3), nl,
               10, -EINVAL, "COMPRESSED pages but compression none",
               "batch: COMPRESSED pages, compression none");
    BATCH_CASE(fx.normal, nl, h_->compression = MIG_COMPRESS_ZSTD, nl, 10,
               -EINVAL, "compression zstd at offset 1008 but no COMPRESSED",
               "batch: compression set, NORMAL pages");
    BATCH_CASE(fx.normal, nl, h_->payload_len += 1, nl, 10, -EINVAL,
               "payload_len 12289 at offset 1012",
               "batch: payload_len one too large");
    BATCH_CASE(fx.normal, nl, (void)0, nl - 1, 10, -EINVAL,
               "payload_len 12288 at offset 1012 but the body holds 12287",
               "batch: body one byte short");
    BATCH_CASE(fx.normal, nl, (h_->payload_len -= 4096, b_[48 + 2] = 1,
                               h_->flags = 0, h_->checksum = 0),
               nl - 4096, 10, 0, NULL,
               "batch: last page made ZERO, payload cut: consistent");
    BATCH_CASE(fx.normal, nl, b_[48 + 2] = MIG_PAGE_ZERO, nl, 10, -EINVAL,
               "2 NORMAL pages take 8192",
               "batch: payload_len not matching the NORMAL pages");
    BATCH_CASE(fx.normal, nl, b_[nl - 1] ^= 1, nl, 10, -EBADMSG,
               "checksum mismatch", "batch: flipped payload bit -> -EBADMSG");
    BATCH_CASE(fx.normal, nl, h_->checksum ^= 1, nl, 10, -EBADMSG,
               "checksum at offset 1016", "batch: wrong checksum");
    BATCH_CASE(fx.zero, fx.zero_len, h_->checksum ^= 1, fx.zero_len, 100,
               -EBADMSG, "checksum mismatch",
               "batch: all-zero batch with a wrong checksum");
    BATCH_CASE(fx.normal, nl, (h_->flags = 0, h_->checksum = 0,
                               b_[nl - 1] ^= 1), nl, 10, 0, NULL,
               "batch: no checksum, flipped bit goes unnoticed");
    BATCH_CASE(fx.zstd, zl, b_[zl - 5] ^= 0x55, zl, 10, -EBADMSG, NULL,
               "batch: corrupted zstd data -> -EBADMSG");
    BATCH_CASE(fx.zstd, zl, memset(b_ + 56 + 12, 0xa5, 16), zl, 10,
               -EBADMSG, NULL, "batch: zstd block garbage -> -EBADMSG");
    BATCH_CASE(fx.zstd, zl, (h_->payload_len -= 3), zl - 3, 10, -EBADMSG,
               "bad zstd frame", "batch: truncated zstd frame");
    BATCH_CASE(fx.zstd, zl, memset(b_ + 56, 0, 4), zl, 10, -EBADMSG,
               "not a zstd frame", "batch: zstd magic gone");
    BATCH_CASE(fx.zlib, fx.zlib_len, b_[fx.zlib_len - 9] ^= 0x55,
               fx.zlib_len, 10, -EBADMSG, NULL,
               "batch: corrupted zlib data -> -EBADMSG");
    BATCH_CASE(fx.zlib, fx.zlib_len, (h_->payload_len -= 2),
               fx.zlib_len - 2, 10, -EBADMSG, "zlib stream ends early",
               "batch: zlib stream missing its last bytes");
    half = (fx.zlib_len - 56) / 2;
    BATCH_CASE(fx.zlib, fx.zlib_len, (h_->payload_len -= half),
               fx.zlib_len - half, 10, -EBADMSG, "zlib",
               "batch: zlib stream cut in the middle");

    /* Sizes that lie: 3 COMPRESSED pages whose block holds 2 or 4. */
    raw = malloc(4 * PAGE);
    if (!raw)
        tap_bail("out of memory");
    memcpy(raw, fx.ps.mem, 3 * PAGE);
    memcpy(raw + 3 * PAGE, fx.ps.mem, PAGE);
    memset(types, MIG_PAGE_COMPRESSED, 3);

#define LIE_CASE(cmp, block, blen_, want, needle, what) do { \
        body = make_body(3, types, (cmp), true, (block), (blen_), raw, \
                         3 * PAGE, &len); \
        rc = mig_batch_decode(ctx, body, len, BODY_OFF, 10, &ds, &mb); \
        expect(ctx, rc, (want), (needle), (what)); \
        free(body); \
    } while (0)

    c = zstd_of(raw, 3 * PAGE, true, &clen);
    LIE_CASE(MIG_COMPRESS_ZSTD, c, clen, 0, NULL,
             "hand-made zstd batch decodes");
    memset(c + clen, 0, 8);
    LIE_CASE(MIG_COMPRESS_ZSTD, c, clen + 8, -EBADMSG,
             "8 bytes after the zstd frame", "zstd: trailing bytes");
    free(c);
    c = zstd_of(raw, 2 * PAGE, true, &clen);
    LIE_CASE(MIG_COMPRESS_ZSTD, c, clen, -EBADMSG,
             "zstd frame holds 8192 bytes, its pages are 12288",
             "zstd: frame content size short");
    free(c);
    c = zstd_of(raw, 4 * PAGE, true, &clen);
    LIE_CASE(MIG_COMPRESS_ZSTD, c, clen, -EBADMSG,
             "zstd frame holds 16384 bytes",
             "zstd: frame content size long");
    free(c);
    c = zstd_of(raw, 3 * PAGE, false, &clen);
    LIE_CASE(MIG_COMPRESS_ZSTD, c, clen, -EBADMSG,
             "does not state its content size",
             "zstd: frame without a content size");
    free(c);
    c = zlib_of(raw, 3 * PAGE, &clen);
    LIE_CASE(MIG_COMPRESS_ZLIB, c, clen, 0, NULL,
             "hand-made zlib batch decodes");
    memcpy(c + clen, "junk", 4);
    LIE_CASE(MIG_COMPRESS_ZLIB, c, clen + 4, -EBADMSG,
             "4 bytes after the end of the zlib stream",
             "zlib: trailing bytes");
    free(c);
    c = zlib_of(raw, 2 * PAGE, &clen);
    LIE_CASE(MIG_COMPRESS_ZLIB, c, clen, -EBADMSG,
             "inflates to 8192 bytes, its pages are 12288",
             "zlib: output shorter");
    free(c);
    c = zlib_of(raw, 4 * PAGE, &clen);
    LIE_CASE(MIG_COMPRESS_ZLIB, c, clen, -EBADMSG,
             "inflates to more than the 12288 bytes", "zlib: output longer");
    free(c);
    c = zlib_of(raw, 3 * PAGE, &clen);
    LIE_CASE(MIG_COMPRESS_ZSTD, c, clen, -EBADMSG, "not a zstd frame",
             "zlib data labelled zstd");
    free(c);
    LIE_CASE(MIG_COMPRESS_ZSTD, raw, 0, -EBADMSG, "not a zstd frame",
             "zstd: empty payload");
#undef LIE_CASE

    free(raw);
    mig_buf_free(&ds);
    fixture_free(&fx);
}

/* ---- fuzz ---------------------------------------------------------------- */

static void test_fuzz(struct xt_ctx *ctx)
{
    struct batch_fixture fx;
    struct mig_buf ds = { 0 };
    struct mig_batch mb;
    const uint8_t *src;
    uint64_t seed = 0x5eed5eed12345678ull, sum = 0, v;
    unsigned int ok = 0, einval = 0, erange = 0, ebadmsg = 0, other = 0;
    unsigned int bad_out = 0, iter, k, nmut;
    size_t srclen, len, pos;
    uint32_t i, nz;
    uint8_t *b;
    int rc;

    fixture_make(ctx, &fx);
    for (iter = 0; iter < 2000; iter++) {
        switch (iter % 4) {
        case 0:
            src = fx.normal;
            srclen = fx.normal_len;
            break;
        case 1:
            src = fx.zstd;
            srclen = fx.zstd_len;
            break;
        case 2:
            src = fx.zlib;
            srclen = fx.zlib_len;
            break;
        default:
            src = fx.zero;
            srclen = fx.zero_len;
            break;
        }
        len = srclen;
        v = rnd(&seed);
        if (v % 8 == 0)             /* cut */
            len = (size_t)(rnd(&seed) % (srclen + 1));
        else if (v % 8 == 1)        /* grow */
            len = srclen + (size_t)(rnd(&seed) % 64);
        b = malloc(len ? len : 1);
        if (!b)
            tap_bail("out of memory");
        memcpy(b, src, len < srclen ? len : srclen);
        for (pos = srclen; pos < len; pos++)
            b[pos] = (uint8_t)rnd(&seed);
        nmut = (unsigned int)(rnd(&seed) % 6);
        for (k = 0; k < nmut && len; k++) {
            v = rnd(&seed);
            /* Half the hits in the headers, pfns and types. */
            pos = (v & 1) ? (size_t)((v >> 8) % (len < 96 ? len : 96))
                          : (size_t)((v >> 8) % len);
            switch ((v >> 1) % 4) {
            case 0:
                b[pos] ^= (uint8_t)(1u << ((v >> 40) % 8));
                break;
            case 1:
                b[pos] = (uint8_t)(v >> 48);
                break;
            case 2:
                b[pos] = 0;
                break;
            default:
                b[pos] = (uint8_t)(((v >> 48) % 4));
                break;
            }
        }
        rc = mig_batch_decode(ctx, b, len, BODY_OFF, 16, &ds, &mb);
        xt_error_clear(ctx);
        switch (rc) {
        case 0:
            ok++;
            nz = 0;
            for (i = 0; i < mb.count; i++) {
                if (mb.pfns[i] >= 16 || mb.types[i] > MIG_PAGE_COMPRESSED)
                    bad_out++;
                nz += mb.types[i] != MIG_PAGE_ZERO;
            }
            if (nz != mb.nonzero || (nz && !mb.data) || mb.count == 0 ||
                mb.count > MIG_BATCH_MAX)
                bad_out++;
            /* Touch every byte handed out (ASan checks the bounds). */
            for (pos = 0; pos < (size_t)mb.nonzero * PAGE; pos++)
                sum += mb.data[pos];
            break;
        case -EINVAL:
            einval++;
            break;
        case -ERANGE:
            erange++;
            break;
        case -EBADMSG:
            ebadmsg++;
            break;
        default:
            other++;
            break;
        }
        free(b);
    }
    tap_ok(other == 0 && bad_out == 0 && ok + einval + erange + ebadmsg ==
           2000, "fuzz: 2000 mutated batches decode or fail cleanly");
    tap_diag("fuzz: %u decoded, %u -EINVAL, %u -ERANGE, %u -EBADMSG, "
             "%u other, %u bad outputs (sum %llu)", ok, einval, erange,
             ebadmsg, other, bad_out, (unsigned long long)sum);
    mig_buf_free(&ds);
    fixture_free(&fx);
}

/* ---- names and digests --------------------------------------------------- */

static void test_misc(void)
{
    uint8_t *mem = aligned_alloc(PAGE, 3 * PAGE);
    uint64_t hashes[3], le[3];
    uint8_t bytes[24];
    uint64_t seed = 11;
    int i;

    if (!mem)
        tap_bail("out of memory");
    for (i = 0; i < 3; i++) {
        fill_page(mem + i * PAGE, (enum fill)i, &seed, (uint32_t)i);
        hashes[i] = mig_page_hash(mem + i * PAGE);
        le[i] = hashes[i];
    }
    /* The digest is over little-endian u64s: build the bytes by hand. */
    for (i = 0; i < 24; i++)
        bytes[i] = (uint8_t)(le[i / 8] >> (8 * (i % 8)));
    tap_ok(hashes[0] == XXH3_64bits(mem, PAGE) &&
           mig_digest(hashes, 3) == XXH3_64bits(bytes, sizeof(bytes)) &&
           mig_digest(hashes, 3) != mig_digest(hashes, 2),
           "page hash and digest as specified");
    tap_ok(strcmp(mig_rec_name(MIG_REC_PAGE_BATCH), "PAGE_BATCH") == 0 &&
           strcmp(mig_rec_name(MIG_REC_STREAM_HELLO), "STREAM_HELLO") == 0 &&
           strcmp(mig_rec_name(0), "unknown") == 0 &&
           strcmp(mig_rec_name(6), "unknown") == 0 &&
           strcmp(mig_rec_name(4000000000u), "unknown") == 0 &&
           mig_rec_type_known(MIG_REC_END) && !mig_rec_type_known(15),
           "record names");
    free(mem);
}

int main(void)
{
    struct xt_ctx *ctx = xt_ctx_new("test_stream");

    if (!ctx)
        tap_bail("xt_ctx_new");
    ctx->quiet_errors = true;
    ctx->level = XT_LOG_WARN;

    test_round_trips(ctx);
    test_encode_args(ctx);
    test_unaligned_body(ctx);
    test_vm_config(ctx);
    test_image_hdr(ctx);
    test_reader_stream(ctx, false);
    test_reader_stream(ctx, true);
    test_reader_bad(ctx);
    test_batch_bad(ctx);
    test_fuzz(ctx);
    test_misc();

    xt_ctx_free(ctx);
    return tap_done();
}
