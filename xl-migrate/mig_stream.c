/*
 * mig_stream.c - the migration stream, versions 1 to 3
 * (docs/specs/migration-stream.md): image header, record framing, page
 * batches (zero detection, zlib/zstd per batch, XXH3 checksums or, in
 * version 3, per-page hashes, and the parts of a batch that is sent and
 * received without copying its pages), VM_CONFIG, and a reader that
 * checks every length before it allocates or copies.
 *
 * Everything a peer sends is untrusted: sizes are checked against the
 * limits and against each other before any buffer is touched, and
 * decompression is bounded to exactly the length the batch implies.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#define XXH_STATIC_LINKING_ONLY     /* XXH3_state_t on the stack */
#include <xxhash.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "mig_chan.h"
#include "mig_stream.h"

/* The wire is little-endian and the structs are its exact layout. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "the migration stream code assumes a little-endian host");
_Static_assert(sizeof(struct mig_image_hdr) == 32, "image header layout");
_Static_assert(sizeof(struct mig_rec_hdr) == 16, "record header layout");
_Static_assert(sizeof(struct mig_vm_config) == 40, "VM_CONFIG layout");
_Static_assert(sizeof(struct mig_batch_hdr) == 24, "batch header layout");
_Static_assert(sizeof(struct mig_round_end) == 16, "ROUND_END layout");
_Static_assert(sizeof(struct mig_ready) == 24, "READY layout");
_Static_assert(sizeof(struct mig_resumed) == 48, "RESUMED layout");
_Static_assert(sizeof(struct mig_abort) == 8, "ABORT layout");
_Static_assert(sizeof(struct mig_query) == 8, "QUERY layout");
_Static_assert(sizeof(struct mig_query_reply) == 16, "QUERY_REPLY layout");
_Static_assert(sizeof(struct mig_stream_hello) == 16, "STREAM_HELLO layout");
_Static_assert(MIG_PAGE_SIZE == 1u << MIG_PAGE_SHIFT, "page size");
/* The largest batch body fits in a record. */
_Static_assert(sizeof(struct mig_batch_hdr) + MIG_BATCH_MAX * 8 +
               MIG_BATCH_MAX + (uint64_t)MIG_BATCH_MAX * MIG_PAGE_SIZE <=
               MIG_REC_MAX, "MIG_BATCH_MAX pages fit in MIG_REC_MAX");

#define NAME_MAX_LEN        255u
#define DEVICES_MAX_LEN \
    (MIG_CONFIG_MAX - sizeof(struct mig_vm_config) - NAME_MAX_LEN)

static size_t align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

/* ---- buffers ------------------------------------------------------------ */

void mig_buf_free(struct mig_buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

int mig_buf_reserve(struct mig_buf *b, size_t extra)
{
    size_t need, cap;
    uint8_t *p;

    if (extra > SIZE_MAX - b->len)
        return -ENOMEM;
    need = b->len + extra;
    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 4096;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    p = realloc(b->data, cap);
    if (!p)
        return -ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

/* ---- image header and records ------------------------------------------- */

void mig_image_hdr_init(struct mig_image_hdr *h, enum mig_hv_type hv,
                        uint64_t migration_id)
{
    memset(h, 0, sizeof(*h));
    h->magic = MIG_MAGIC;
    h->version = MIG_VERSION_CURRENT;
    h->endianness = MIG_ENDIAN_LITTLE;
    h->page_shift = MIG_PAGE_SHIFT;
    h->hv_type = (uint16_t)hv;
    h->migration_id = migration_id;
}

int mig_image_hdr_check(struct xt_ctx *ctx, const struct mig_image_hdr *h)
{
    if (h->magic != MIG_MAGIC)
        return xt_error(ctx, -EINVAL, "image header at offset 0: bad magic "
                        "%#" PRIx64 " at offset %zu, not a migration stream",
                        h->magic, offsetof(struct mig_image_hdr, magic));
    if (h->version < MIG_VERSION || h->version > MIG_VERSION_CURRENT)
        return xt_error(ctx, -EPROTO, "image header at offset 0: stream "
                        "version %" PRIu32 " at offset %zu, this host speaks "
                        "versions %u to %u", h->version,
                        offsetof(struct mig_image_hdr, version), MIG_VERSION,
                        MIG_VERSION_CURRENT);
    if (h->endianness != MIG_ENDIAN_LITTLE)
        return xt_error(ctx, -EINVAL, "image header at offset 0: "
                        "endianness %u at offset %zu, only %u (little) is "
                        "defined", h->endianness,
                        offsetof(struct mig_image_hdr, endianness),
                        MIG_ENDIAN_LITTLE);
    if (h->page_shift != MIG_PAGE_SHIFT)
        return xt_error(ctx, -EINVAL, "image header at offset 0: page "
                        "shift %u at offset %zu, expected %u", h->page_shift,
                        offsetof(struct mig_image_hdr, page_shift),
                        MIG_PAGE_SHIFT);
    if (h->hv_type < MIG_HV_KVM || h->hv_type > MIG_HV_XEN)
        return xt_error(ctx, -EINVAL, "image header at offset 0: unknown "
                        "hypervisor type %u at offset %zu", h->hv_type,
                        offsetof(struct mig_image_hdr, hv_type));
    if (h->flags & ~(h->version >= MIG_VERSION_OPAQUE ? MIG_IMG_OPAQUE : 0))
        return xt_error(ctx, -EINVAL, "image header at offset 0: unknown "
                        "flags %#" PRIx32 " at offset %zu for version %"
                        PRIu32, h->flags,
                        offsetof(struct mig_image_hdr, flags), h->version);
    if (h->reserved)
        return xt_error(ctx, -EINVAL, "image header at offset 0: reserved "
                        "field at offset %zu is %#" PRIx32 ", not 0",
                        offsetof(struct mig_image_hdr, reserved),
                        h->reserved);
    if (!h->migration_id)
        return xt_error(ctx, -EINVAL, "image header at offset 0: "
                        "migration id at offset %zu is 0",
                        offsetof(struct mig_image_hdr, migration_id));
    return 0;
}

static const char *const rec_names[] = {
    [MIG_REC_VM_CONFIG] = "VM_CONFIG",
    [MIG_REC_PAGE_BATCH] = "PAGE_BATCH",
    [MIG_REC_STATE] = "STATE",
    [MIG_REC_ROUND_END] = "ROUND_END",
    [MIG_REC_END] = "END",
    [MIG_REC_READY] = "READY",
    [MIG_REC_COMMIT] = "COMMIT",
    [MIG_REC_RESUMED] = "RESUMED",
    [MIG_REC_ABORT] = "ABORT",
    [MIG_REC_QUERY] = "QUERY",
    [MIG_REC_QUERY_REPLY] = "QUERY_REPLY",
    [MIG_REC_STREAM_HELLO] = "STREAM_HELLO",
    [MIG_REC_AUTH] = "AUTH",
    [MIG_REC_STOPCOPY] = "STOPCOPY",
    [MIG_REC_ROUND_ACK] = "ROUND_ACK",
    [MIG_REC_OPAQUE_DATA] = "OPAQUE_DATA",
    [MIG_REC_OPAQUE_END] = "OPAQUE_END",
    [MIG_REC_DONE] = "DONE",
    [MIG_REC_ACCEPTED] = "ACCEPTED",
};

bool mig_rec_type_known(uint32_t type)
{
    return type < sizeof(rec_names) / sizeof(rec_names[0]) &&
           rec_names[type];
}

const char *mig_rec_name(uint32_t type)
{
    return mig_rec_type_known(type) ? rec_names[type] : "unknown";
}

int mig_rec_append(struct mig_buf *b, uint32_t type, uint32_t flags,
                   const void *body, size_t len)
{
    struct mig_rec_hdr hdr = { .type = type, .flags = flags, .length = len };
    size_t pad = align8(len) - len;
    uint8_t *p;
    int rc;

    if (flags & ~MIG_REC_OPTIONAL)
        return -EINVAL;
    if (len > MIG_REC_MAX)
        return -EMSGSIZE;
    if (len && !body)
        return -EINVAL;
    rc = mig_buf_reserve(b, sizeof(hdr) + len + pad);
    if (rc < 0)
        return rc;
    p = b->data + b->len;
    memcpy(p, &hdr, sizeof(hdr));
    if (len)
        memcpy(p + sizeof(hdr), body, len);
    memset(p + sizeof(hdr) + len, 0, pad);
    b->len += sizeof(hdr) + len + pad;
    return 0;
}

/* ---- page batches: encoding --------------------------------------------- */

/* Zero detection: the C library's memcmp (vectorised, leaves at the first
 * difference) against a zero page that stays in L1; measured faster than
 * an OR over 64-bit words compiled for baseline x86-64. */
static bool page_is_zero(const uint8_t *p)
{
    static const uint8_t zero_page[MIG_PAGE_SIZE];

    return memcmp(p, zero_page, MIG_PAGE_SIZE) == 0;
}

static const char *compress_name(unsigned int c)
{
    switch (c) {
    case MIG_COMPRESS_NONE:
        return "none";
    case MIG_COMPRESS_ZLIB:
        return "zlib";
    case MIG_COMPRESS_ZSTD:
        return "zstd";
    default:
        return "unknown";
    }
}

/*
 * Compresses raw_len bytes of src into scratch->data with method c.
 * *clen_r is the compressed size, or 0 when the result would not be
 * smaller than the input (the caller then sends the pages raw).
 */
static int compress_block(struct xt_ctx *ctx, enum mig_compress c, int level,
                          const uint8_t *src, size_t raw_len,
                          struct mig_buf *scratch, size_t *clen_r)
{
    size_t cap = raw_len - 1;   /* only worth it if it shrinks */
    uLongf zlen;
    size_t r;
    int zr, rc;

    *clen_r = 0;
    scratch->len = 0;
    rc = mig_buf_reserve(scratch, cap);
    if (rc < 0)
        return xt_error(ctx, rc, "page batch: no memory for a %zu-byte "
                        "compression buffer", cap);

    if (c == MIG_COMPRESS_ZLIB) {
        zlen = cap;
        zr = compress2(scratch->data, &zlen, src, raw_len,
                       level ? level : Z_BEST_SPEED);
        if (zr == Z_BUF_ERROR)
            return 0;
        if (zr == Z_MEM_ERROR)
            return xt_error(ctx, -ENOMEM, "page batch: zlib compression "
                            "out of memory");
        if (zr != Z_OK)
            return xt_error(ctx, -EIO, "page batch: zlib compression "
                            "failed (%d)", zr);
        *clen_r = zlen;
        return 0;
    }

    r = ZSTD_compress(scratch->data, cap, src, raw_len, level ? level : 1);
    if (ZSTD_isError(r)) {
        if (ZSTD_getErrorCode(r) == ZSTD_error_dstSize_tooSmall)
            return 0;
        if (ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation)
            return xt_error(ctx, -ENOMEM, "page batch: zstd compression "
                            "out of memory");
        return xt_error(ctx, -EIO, "page batch: zstd compression failed: "
                        "%s", ZSTD_getErrorName(r));
    }
    *clen_r = r;
    return 0;
}

int mig_compression_check(struct xt_ctx *ctx, enum mig_compress c,
                          int level)
{
    switch (c) {
    case MIG_COMPRESS_NONE:
        return 0;
    case MIG_COMPRESS_ZLIB:
        if (level < 0 || level > 9)
            return xt_error(ctx, -EINVAL, "zlib level %d: must be 0..9",
                            level);
        return 0;
    case MIG_COMPRESS_ZSTD:
        if (level < 0 || level > 19)
            return xt_error(ctx, -EINVAL, "zstd level %d: must be 0..19",
                            level);
        return 0;
    }
    return xt_error(ctx, -EINVAL, "unknown compression %d", (int)c);
}

int mig_batch_deflate(struct xt_ctx *ctx, enum mig_compress c, int level,
                      const void *src, size_t raw_len,
                      struct mig_buf *scratch, size_t *clen_r)
{
    int rc = c == MIG_COMPRESS_NONE ? xt_error(ctx, -EINVAL, "deflating "
                                               "with no compression")
                                    : mig_compression_check(ctx, c, level);

    *clen_r = 0;
    if (rc < 0 || !raw_len)
        return rc;
    return compress_block(ctx, c, level, src, raw_len, scratch, clen_r);
}

int mig_batch_encode(struct xt_ctx *ctx, struct mig_buf *b,
                     struct mig_buf *scratch, uint32_t round,
                     const uint64_t *pfns, const void *const *pages,
                     uint32_t count, enum mig_compress compression,
                     int level, bool checksum, struct mig_batch_stats *st)
{
    struct mig_rec_hdr rh = { .type = MIG_REC_PAGE_BATCH };
    struct mig_batch_hdr bh = { .count = count, .round = round };
    size_t types_off, payload_off, body_len, raw_len, clen, pad, start;
    uint8_t *rec, *body, *types, *payload, *dst;
    uint32_t i, nonzero = 0;
    uint64_t hashes[MIG_BATCH_MAX];
    int rc;

    if (st)
        memset(st, 0, sizeof(*st));
    if (count == 0 || count > MIG_BATCH_MAX)
        return xt_error(ctx, -EINVAL, "page batch: %" PRIu32 " pages, "
                        "must be 1..%u", count, MIG_BATCH_MAX);
    rc = mig_compression_check(ctx, compression, level);
    if (rc < 0)
        return rc;

    types_off = sizeof(bh) + (size_t)count * sizeof(uint64_t);
    payload_off = types_off + align8(count);
    /* Worst case: every page sent raw. */
    rc = mig_buf_reserve(b, sizeof(rh) + payload_off +
                         (size_t)count * MIG_PAGE_SIZE);
    if (rc < 0)
        return xt_error(ctx, rc, "page batch: no memory for %" PRIu32
                        " pages", count);
    start = b->len;
    rec = b->data + start;
    body = rec + sizeof(rh);
    types = body + types_off;
    payload = body + payload_off;

    /* pfns, types and the non-zero pages go straight into b. */
    memcpy(body + sizeof(bh), pfns, (size_t)count * sizeof(uint64_t));
    memset(types + count, 0, align8(count) - count);
    /* Each page is hashed just after it is copied, while it is in L1; the
     * checksum is the hash of those page hashes, which the receiver
     * computes anyway for the memory digest. */
    for (i = 0; i < count; i++) {
        if (page_is_zero(pages[i])) {
            types[i] = MIG_PAGE_ZERO;
            continue;
        }
        dst = payload + (size_t)nonzero * MIG_PAGE_SIZE;
        memcpy(dst, pages[i], MIG_PAGE_SIZE);
        if (checksum)
            hashes[nonzero] = mig_page_hash(dst);
        types[i] = MIG_PAGE_NORMAL;
        nonzero++;
    }
    raw_len = (size_t)nonzero * MIG_PAGE_SIZE;
    bh.payload_len = (uint32_t)raw_len;
    if (checksum) {
        bh.flags |= MIG_BATCH_CHECKSUM;
        bh.checksum = XXH3_64bits(hashes, (size_t)nonzero * sizeof(*hashes));
    }

    if (compression != MIG_COMPRESS_NONE && nonzero) {
        rc = compress_block(ctx, compression, level, payload, raw_len,
                            scratch, &clen);
        if (rc < 0)
            return rc;
        if (clen) {
            memcpy(payload, scratch->data, clen);
            bh.payload_len = (uint32_t)clen;
            bh.compression = (uint8_t)compression;
            for (i = 0; i < count; i++) {
                if (types[i] == MIG_PAGE_NORMAL)
                    types[i] = MIG_PAGE_COMPRESSED;
            }
        }
    }

    body_len = payload_off + bh.payload_len;
    pad = align8(body_len) - body_len;
    memset(body + body_len, 0, pad);    /* within the raw worst case */
    memcpy(body, &bh, sizeof(bh));
    rh.length = body_len;
    memcpy(rec, &rh, sizeof(rh));
    b->len = start + sizeof(rh) + body_len + pad;

    if (st) {
        st->zero = count - nonzero;
        if (bh.compression)
            st->compressed = nonzero;
        else
            st->normal = nonzero;
        st->raw_bytes = raw_len;
        st->wire_bytes = bh.payload_len;
    }
    return 0;
}

/* ---- page batches: decoding --------------------------------------------- */

/* Inflates exactly raw_len bytes of zlib data into dst. */
static int inflate_exact(struct xt_ctx *ctx, uint64_t off, const uint8_t *src,
                         size_t src_len, uint8_t *dst, size_t raw_len)
{
    uLongf dlen = raw_len;
    uLong slen = src_len;
    int zr;

    zr = uncompress2(dst, &dlen, src, &slen);
    switch (zr) {
    case Z_OK:
        break;
    case Z_BUF_ERROR:
        /* The output is full: more input means more output. */
        if (slen < src_len)
            return xt_error(ctx, -EBADMSG, "page batch at offset %" PRIu64
                            ": zlib data inflates to more than the %zu "
                            "bytes of its pages", off, raw_len);
        return xt_error(ctx, -EBADMSG, "page batch at offset %" PRIu64
                        ": zlib stream ends early", off);
    case Z_MEM_ERROR:
        return xt_error(ctx, -ENOMEM, "page batch at offset %" PRIu64
                        ": zlib out of memory", off);
    default:
        return xt_error(ctx, -EBADMSG, "page batch at offset %" PRIu64
                        ": corrupt zlib data (%d)", off, zr);
    }
    if (dlen != raw_len)
        return xt_error(ctx, -EBADMSG, "page batch at offset %" PRIu64
                        ": zlib data inflates to %lu bytes, its pages are "
                        "%zu", off, (unsigned long)dlen, raw_len);
    if (slen != src_len)
        return xt_error(ctx, -EBADMSG, "page batch at offset %" PRIu64
                        ": %zu bytes after the end of the zlib stream", off,
                        src_len - (size_t)slen);
    return 0;
}

/* Decompresses exactly raw_len bytes of one zstd frame into dst. */
static int unzstd_exact(struct xt_ctx *ctx, uint64_t off, const uint8_t *src,
                        size_t src_len, uint8_t *dst, size_t raw_len)
{
    unsigned long long fcs;
    size_t r;

    fcs = ZSTD_getFrameContentSize(src, src_len);
    if (fcs == ZSTD_CONTENTSIZE_ERROR)
        return xt_error(ctx, -EBADMSG, "page batch at offset %" PRIu64
                        ": payload is not a zstd frame", off);
    if (fcs == ZSTD_CONTENTSIZE_UNKNOWN)
        return xt_error(ctx, -EBADMSG, "page batch at offset %" PRIu64
                        ": zstd frame does not state its content size", off);
    if (fcs != raw_len)
        return xt_error(ctx, -EBADMSG, "page batch at offset %" PRIu64
                        ": zstd frame holds %llu bytes, its pages are %zu",
                        off, fcs, raw_len);
    r = ZSTD_findFrameCompressedSize(src, src_len);
    if (ZSTD_isError(r))
        return xt_error(ctx, -EBADMSG, "page batch at offset %" PRIu64
                        ": bad zstd frame: %s", off, ZSTD_getErrorName(r));
    if (r != src_len)
        return xt_error(ctx, -EBADMSG, "page batch at offset %" PRIu64
                        ": %zu bytes after the zstd frame", off,
                        src_len - r);
    r = ZSTD_decompress(dst, raw_len, src, src_len);
    if (ZSTD_isError(r)) {
        if (ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation)
            return xt_error(ctx, -ENOMEM, "page batch at offset %" PRIu64
                            ": zstd out of memory", off);
        return xt_error(ctx, -EBADMSG, "page batch at offset %" PRIu64
                        ": corrupt zstd data: %s", off,
                        ZSTD_getErrorName(r));
    }
    if (r != raw_len)
        return xt_error(ctx, -EBADMSG, "page batch at offset %" PRIu64
                        ": zstd frame decompressed to %zu bytes, its pages "
                        "are %zu", off, r, raw_len);
    return 0;
}

/* The 24-byte batch header's own rules; flags may hold only `allowed`. */
static int check_batch_hdr(struct xt_ctx *ctx, const struct mig_batch_hdr *bh,
                           uint64_t offset, unsigned allowed)
{
    if (bh->count == 0 || bh->count > MIG_BATCH_MAX)
        return xt_error(ctx, -EINVAL, "page batch at offset %" PRIu64
                        ": count %" PRIu32 " at offset %" PRIu64 " not in "
                        "1..%u", offset, bh->count,
                        offset + offsetof(struct mig_batch_hdr, count),
                        MIG_BATCH_MAX);
    if (bh->compression > MIG_COMPRESS_ZSTD)
        return xt_error(ctx, -EINVAL, "page batch at offset %" PRIu64
                        ": unknown compression %u at offset %" PRIu64,
                        offset, bh->compression,
                        offset + offsetof(struct mig_batch_hdr, compression));
    if (bh->flags & ~allowed)
        return xt_error(ctx, -EINVAL, "page batch at offset %" PRIu64
                        ": unknown flags %#x at offset %" PRIu64, offset,
                        bh->flags,
                        offset + offsetof(struct mig_batch_hdr, flags));
    if (bh->reserved)
        return xt_error(ctx, -EINVAL, "page batch at offset %" PRIu64
                        ": reserved field at offset %" PRIu64 " is %#x, "
                        "not 0", offset,
                        offset + offsetof(struct mig_batch_hdr, reserved),
                        bh->reserved);
    if (!(bh->flags & MIG_BATCH_CHECKSUM) && bh->checksum)
        return xt_error(ctx, -EINVAL, "page batch at offset %" PRIu64
                        ": checksum at offset %" PRIu64 " is set but the "
                        "checksum flag is not", offset,
                        offset + offsetof(struct mig_batch_hdr, checksum));
    return 0;
}

/*
 * The pfn and type arrays at p (the body's start) for a checked header:
 * pfns in range, types known, the padding zero, NORMAL and COMPRESSED not
 * mixed, COMPRESSED if and only if compressed; *nonzero_r the non-zero
 * pages, *raw_len_r their bytes.
 */
static int check_pages(struct xt_ctx *ctx, const uint8_t *p,
                       const struct mig_batch_hdr *bh, uint64_t offset,
                       uint64_t nr_pages, uint32_t *nonzero_r,
                       size_t *raw_len_r)
{
    size_t types_off = sizeof(*bh) + (size_t)bh->count * sizeof(uint64_t);
    const uint8_t *types = p + types_off;
    uint32_t i, normal = 0, compressed = 0;
    uint64_t pfn;

    for (i = 0; i < bh->count; i++) {
        memcpy(&pfn, p + sizeof(*bh) + (size_t)i * sizeof(pfn), sizeof(pfn));
        if (pfn >= nr_pages)
            return xt_error(ctx, -ERANGE, "page batch at offset %" PRIu64
                            ": pfn[%" PRIu32 "] %#" PRIx64 " at offset %"
                            PRIu64 " is beyond the domain (%" PRIu64
                            " pages)", offset, i, pfn,
                            offset + sizeof(*bh) + (uint64_t)i * sizeof(pfn),
                            nr_pages);
    }
    for (i = 0; i < bh->count; i++) {
        switch (types[i]) {
        case MIG_PAGE_ZERO:
            break;
        case MIG_PAGE_NORMAL:
            normal++;
            break;
        case MIG_PAGE_COMPRESSED:
            compressed++;
            break;
        default:
            return xt_error(ctx, -EINVAL, "page batch at offset %" PRIu64
                            ": unknown type %u of page %" PRIu32 " at "
                            "offset %" PRIu64, offset, types[i], i,
                            offset + types_off + i);
        }
    }
    for (i = bh->count; i < align8(bh->count); i++) {
        if (types[i])
            return xt_error(ctx, -EINVAL, "page batch at offset %" PRIu64
                            ": non-zero padding after the page types at "
                            "offset %" PRIu64, offset,
                            offset + types_off + i);
    }
    if (normal && compressed)
        return xt_error(ctx, -EINVAL, "page batch at offset %" PRIu64
                        ": mixes NORMAL and COMPRESSED pages (types at "
                        "offset %" PRIu64 ")", offset, offset + types_off);
    if (compressed && bh->compression == MIG_COMPRESS_NONE)
        return xt_error(ctx, -EINVAL, "page batch at offset %" PRIu64
                        ": COMPRESSED pages but compression none at offset "
                        "%" PRIu64, offset,
                        offset + offsetof(struct mig_batch_hdr, compression));
    if (!compressed && bh->compression != MIG_COMPRESS_NONE)
        return xt_error(ctx, -EINVAL, "page batch at offset %" PRIu64
                        ": compression %s at offset %" PRIu64 " but no "
                        "COMPRESSED page", offset,
                        compress_name(bh->compression),
                        offset + offsetof(struct mig_batch_hdr, compression));
    *raw_len_r = (size_t)(normal + compressed) * MIG_PAGE_SIZE;
    if (!compressed && bh->payload_len != *raw_len_r)
        return xt_error(ctx, -EINVAL, "page batch at offset %" PRIu64
                        ": payload_len %" PRIu32 " at offset %" PRIu64
                        " but %" PRIu32 " NORMAL pages take %zu bytes",
                        offset, bh->payload_len,
                        offset + offsetof(struct mig_batch_hdr, payload_len),
                        normal, *raw_len_r);
    *nonzero_r = normal + compressed;
    return 0;
}

/* The payload_len the header states against what the body holds after
 * its first prefix bytes. */
static int check_payload_len(struct xt_ctx *ctx,
                             const struct mig_batch_hdr *bh, size_t len,
                             size_t prefix, uint64_t offset)
{
    if (len < prefix)
        return xt_error(ctx, -EINVAL, "page batch at offset %" PRIu64
                        ": body of %zu bytes is too short for %" PRIu32
                        " pages (%zu bytes before the payload)", offset, len,
                        bh->count, prefix);
    if (len - prefix != bh->payload_len)
        return xt_error(ctx, -EINVAL, "page batch at offset %" PRIu64
                        ": payload_len %" PRIu32 " at offset %" PRIu64
                        " but the body holds %zu payload bytes", offset,
                        bh->payload_len,
                        offset + offsetof(struct mig_batch_hdr, payload_len),
                        len - prefix);
    return 0;
}

static int inflate_any(struct xt_ctx *ctx, unsigned c, uint64_t off,
                       const uint8_t *src, size_t src_len, uint8_t *dst,
                       size_t raw_len)
{
    if (c == MIG_COMPRESS_ZLIB)
        return inflate_exact(ctx, off, src, src_len, dst, raw_len);
    return unzstd_exact(ctx, off, src, src_len, dst, raw_len);
}

int mig_batch_decode(struct xt_ctx *ctx, const void *body, size_t len,
                     uint64_t offset, uint64_t nr_pages,
                     struct mig_buf *scratch, struct mig_batch *out)
{
    const uint8_t *p = body;
    const uint8_t *payload;
    struct mig_batch_hdr bh;
    size_t payload_off, raw_len, pfn_copy = 0;
    uint32_t i, nonzero;
    uint64_t hash;
    uint8_t *dst;
    int rc;

    memset(out, 0, sizeof(*out));
    if (len < sizeof(bh))
        return xt_error(ctx, -EINVAL, "page batch at offset %" PRIu64
                        ": body of %zu bytes is shorter than its %zu-byte "
                        "header", offset, len, sizeof(bh));
    memcpy(&bh, p, sizeof(bh));
    rc = check_batch_hdr(ctx, &bh, offset, MIG_BATCH_CHECKSUM);
    if (rc < 0)
        return rc;
    payload_off = sizeof(bh) + (size_t)bh.count * sizeof(uint64_t) +
                  align8(bh.count);
    rc = check_payload_len(ctx, &bh, len, payload_off, offset);
    if (rc == 0)
        rc = check_pages(ctx, p, &bh, offset, nr_pages, &nonzero, &raw_len);
    if (rc < 0)
        return rc;
    payload = p + payload_off;

    /* The pfn array is used in place when aligned (always, for a body
     * read by mig_read_record); otherwise it is copied to scratch. */
    if ((uintptr_t)(p + sizeof(bh)) % _Alignof(uint64_t))
        pfn_copy = (size_t)bh.count * sizeof(uint64_t);
    scratch->len = 0;
    if (pfn_copy || bh.compression) {
        rc = mig_buf_reserve(scratch, pfn_copy +
                             (bh.compression ? raw_len : 0));
        if (rc < 0)
            return xt_error(ctx, rc, "page batch at offset %" PRIu64
                            ": no memory for %" PRIu32 " pages", offset,
                            bh.count);
    }

    if (bh.compression) {
        dst = scratch->data + pfn_copy;
        rc = inflate_any(ctx, bh.compression, offset, payload,
                         bh.payload_len, dst, raw_len);
        if (rc < 0)
            return rc;
        out->data = dst;
        scratch->len = pfn_copy + raw_len;
    } else {
        out->data = nonzero ? payload : NULL;
        scratch->len = pfn_copy;
    }

    /* Per-page hashes (the receiver's memory digest needs them), then the
     * checksum over them. */
    for (i = 0; i < nonzero; i++)
        out->page_hash[i] = mig_page_hash(out->data +
                                          (size_t)i * MIG_PAGE_SIZE);
    if (bh.flags & MIG_BATCH_CHECKSUM) {
        hash = XXH3_64bits(out->page_hash,
                           (size_t)nonzero * sizeof(out->page_hash[0]));
        if (hash != bh.checksum) {
            out->data = NULL;
            return xt_error(ctx, -EBADMSG, "page batch at offset %" PRIu64
                            ": checksum mismatch: pages hash to %#" PRIx64
                            ", checksum at offset %" PRIu64 " says %#"
                            PRIx64, offset, hash,
                            offset + offsetof(struct mig_batch_hdr,
                                              checksum), bh.checksum);
        }
    }

    if (pfn_copy) {
        memcpy(scratch->data, p + sizeof(bh), pfn_copy);
        out->pfns = (const uint64_t *)(void *)scratch->data;
    } else {
        out->pfns = (const uint64_t *)(const void *)(p + sizeof(bh));
    }
    out->count = bh.count;
    out->round = bh.round;
    out->types = p + sizeof(bh) + (size_t)bh.count * sizeof(uint64_t);
    out->nonzero = nonzero;
    return 0;
}

/* ---- version 3 page batches, in parts ----------------------------------- */

size_t mig_rec_pad(size_t len)
{
    return align8(len) - len;
}

/* Bytes of the header, the pfns and the types with their padding. */
static size_t arrays_size(uint32_t count)
{
    return sizeof(struct mig_batch_hdr) + (size_t)count * sizeof(uint64_t) +
           align8(count);
}

int mig_batch_meta_size(struct xt_ctx *ctx, const struct mig_batch_hdr *bh,
                        uint64_t offset, size_t *size_r)
{
    int rc = check_batch_hdr(ctx, bh, offset, MIG_BATCH_PAGE_HASHES);

    *size_r = rc == 0 ? arrays_size(bh->count) : sizeof(*bh);
    return rc;
}

int mig_batch_meta_decode(struct xt_ctx *ctx, const void *meta,
                          size_t meta_len, size_t body_len, uint64_t offset,
                          uint64_t nr_pages, struct mig_batch_meta *out)
{
    const uint8_t *p = meta;
    struct mig_batch_hdr bh;
    size_t raw_len;
    uint32_t nonzero;
    int rc;

    memset(out, 0, sizeof(*out));
    if (meta_len < sizeof(bh))
        return xt_error(ctx, -EINVAL, "page batch at offset %" PRIu64
                        ": %zu bytes of its %zu-byte header", offset,
                        meta_len, sizeof(bh));
    memcpy(&bh, p, sizeof(bh));
    rc = check_batch_hdr(ctx, &bh, offset, MIG_BATCH_PAGE_HASHES);
    if (rc == 0 && meta_len != arrays_size(bh.count))
        rc = xt_error(ctx, -EINVAL, "page batch at offset %" PRIu64
                      ": %zu bytes of header and page arrays, %zu expected",
                      offset, meta_len, arrays_size(bh.count));
    if (rc == 0)
        rc = check_pages(ctx, p, &bh, offset, nr_pages, &nonzero, &raw_len);
    if (rc < 0)
        return rc;
    if (bh.flags & MIG_BATCH_PAGE_HASHES)
        out->hashes_len = (size_t)nonzero * sizeof(uint64_t);
    rc = check_payload_len(ctx, &bh, body_len, meta_len + out->hashes_len,
                           offset);
    if (rc < 0)
        return rc;
    out->count = bh.count;
    out->round = bh.round;
    out->nonzero = nonzero;
    out->compression = bh.compression;
    out->payload_len = bh.payload_len;
    out->pfns = (const uint64_t *)(const void *)(p + sizeof(bh));
    out->types = p + sizeof(bh) + (size_t)bh.count * sizeof(uint64_t);
    return 0;
}

int mig_batch_meta_append(struct mig_buf *b, uint32_t round,
                          const uint64_t *pfns, const uint8_t *types,
                          uint32_t count, const uint64_t *hashes,
                          uint32_t nonzero, enum mig_compress compression,
                          uint32_t payload_len)
{
    struct mig_batch_hdr bh = {
        .count = count,
        .round = round,
        .compression = (uint8_t)compression,
        .flags = hashes ? MIG_BATCH_PAGE_HASHES : 0,
        .payload_len = payload_len,
    };
    struct mig_rec_hdr rh = { .type = MIG_REC_PAGE_BATCH };
    size_t meta;
    uint8_t *p;
    int rc;

    if (!count || count > MIG_BATCH_MAX || nonzero > count)
        return -EINVAL;
    meta = arrays_size(count) + (hashes ? (size_t)nonzero * 8 : 0);
    rh.length = meta + payload_len;
    if (rh.length > MIG_REC_MAX)
        return -EMSGSIZE;
    rc = mig_buf_reserve(b, sizeof(rh) + meta);
    if (rc < 0)
        return rc;
    p = b->data + b->len;
    memcpy(p, &rh, sizeof(rh));
    p += sizeof(rh);
    memcpy(p, &bh, sizeof(bh));
    memcpy(p + sizeof(bh), pfns, (size_t)count * sizeof(uint64_t));
    memcpy(p + sizeof(bh) + (size_t)count * sizeof(uint64_t), types, count);
    memset(p + sizeof(bh) + (size_t)count * 9, 0, align8(count) - count);
    if (hashes)
        memcpy(p + arrays_size(count), hashes,
               (size_t)nonzero * sizeof(uint64_t));
    b->len += sizeof(rh) + meta;
    return 0;
}

int mig_batch_inflate(struct xt_ctx *ctx, enum mig_compress c,
                      uint64_t offset, const void *src, size_t src_len,
                      void *dst, size_t raw_len)
{
    return inflate_any(ctx, c, offset, src, src_len, dst, raw_len);
}

/* ---- VM_CONFIG ---------------------------------------------------------- */

int mig_vm_config_append(struct mig_buf *b, const struct mig_vm_config *cfg,
                         const char *name, const char *devices)
{
    struct mig_vm_config c = *cfg;
    size_t name_len = name ? strlen(name) : 0;
    size_t devices_len = devices ? strlen(devices) : 0;
    size_t body_len, pad, start;
    struct mig_rec_hdr rh = { .type = MIG_REC_VM_CONFIG };
    uint8_t *p;
    int rc;

    if (name_len > NAME_MAX_LEN || devices_len > DEVICES_MAX_LEN ||
        !c.nr_pages || c.nr_pages > UINT64_MAX >> MIG_PAGE_SHIFT ||
        !c.nr_vcpus)
        return -EINVAL;
    c.name_len = (uint32_t)name_len;
    c.devices_len = (uint32_t)devices_len;
    c.reserved = 0;
    body_len = sizeof(c) + name_len + devices_len;
    pad = align8(body_len) - body_len;
    rc = mig_buf_reserve(b, sizeof(rh) + body_len + pad);
    if (rc < 0)
        return rc;
    rh.length = body_len;
    start = b->len;
    p = b->data + start;
    memcpy(p, &rh, sizeof(rh));
    p += sizeof(rh);
    memcpy(p, &c, sizeof(c));
    p += sizeof(c);
    if (name_len)
        memcpy(p, name, name_len);
    p += name_len;
    if (devices_len)
        memcpy(p, devices, devices_len);
    p += devices_len;
    memset(p, 0, pad);
    b->len = start + sizeof(rh) + body_len + pad;
    return 0;
}

/* Copies len bytes of text into a new NUL-terminated string; the text
 * must hold no NUL of its own. */
static int text_dup(struct xt_ctx *ctx, const uint8_t *src, size_t len,
                    uint64_t offset, uint64_t field_off, const char *what,
                    char **str_r)
{
    char *s;

    if (memchr(src, '\0', len))
        return xt_error(ctx, -EINVAL, "VM_CONFIG at offset %" PRIu64
                        ": %s at offset %" PRIu64 " holds a NUL byte",
                        offset, what, field_off);
    s = malloc(len + 1);
    if (!s)
        return xt_error(ctx, -ENOMEM, "VM_CONFIG at offset %" PRIu64
                        ": no memory for its %s", offset, what);
    memcpy(s, src, len);
    s[len] = '\0';
    *str_r = s;
    return 0;
}

int mig_vm_config_decode(struct xt_ctx *ctx, const void *body, size_t len,
                         uint64_t offset, struct mig_vm_config *cfg_r,
                         char **name_r, char **devices_r)
{
    const uint8_t *p = body;
    struct mig_vm_config c;
    char *name = NULL, *devices = NULL;
    uint64_t name_off, devices_off;
    int rc;

    *name_r = NULL;
    *devices_r = NULL;
    memset(cfg_r, 0, sizeof(*cfg_r));
    if (len < sizeof(c) || len > MIG_CONFIG_MAX) {
        rc = xt_error(ctx, -EINVAL, "VM_CONFIG at offset %" PRIu64 ": body "
                      "of %zu bytes, must be %zu..%u", offset, len,
                      sizeof(c), MIG_CONFIG_MAX);
        goto out;
    }
    memcpy(&c, p, sizeof(c));
    if (c.name_len > NAME_MAX_LEN) {
        rc = xt_error(ctx, -EINVAL, "VM_CONFIG at offset %" PRIu64 ": "
                      "name_len %" PRIu32 " at offset %" PRIu64 " exceeds "
                      "%u", offset, c.name_len,
                      offset + offsetof(struct mig_vm_config, name_len),
                      NAME_MAX_LEN);
        goto out;
    }
    if (c.devices_len > DEVICES_MAX_LEN) {
        rc = xt_error(ctx, -EINVAL, "VM_CONFIG at offset %" PRIu64 ": "
                      "devices_len %" PRIu32 " at offset %" PRIu64
                      " exceeds %zu", offset, c.devices_len,
                      offset + offsetof(struct mig_vm_config, devices_len),
                      DEVICES_MAX_LEN);
        goto out;
    }
    /* Both lengths are bounded above: the sum cannot overflow. */
    if ((uint64_t)sizeof(c) + c.name_len + c.devices_len != len) {
        rc = xt_error(ctx, -EINVAL, "VM_CONFIG at offset %" PRIu64 ": "
                      "name_len %" PRIu32 " + devices_len %" PRIu32
                      " (at offset %" PRIu64 ") do not add up to the %zu "
                      "bytes after the %zu-byte fixed part", offset,
                      c.name_len, c.devices_len,
                      offset + offsetof(struct mig_vm_config, name_len),
                      len - sizeof(c), sizeof(c));
        goto out;
    }
    if (!c.nr_pages || c.nr_pages > UINT64_MAX >> MIG_PAGE_SHIFT) {
        rc = xt_error(ctx, -EINVAL, "VM_CONFIG at offset %" PRIu64 ": "
                      "nr_pages %" PRIu64 " at offset %" PRIu64 " is not a "
                      "usable size", offset, c.nr_pages,
                      offset + offsetof(struct mig_vm_config, nr_pages));
        goto out;
    }
    if (!c.nr_vcpus) {
        rc = xt_error(ctx, -EINVAL, "VM_CONFIG at offset %" PRIu64 ": "
                      "nr_vcpus at offset %" PRIu64 " is 0", offset,
                      offset + offsetof(struct mig_vm_config, nr_vcpus));
        goto out;
    }
    if (c.reserved) {
        rc = xt_error(ctx, -EINVAL, "VM_CONFIG at offset %" PRIu64 ": "
                      "reserved field at offset %" PRIu64 " is %#" PRIx32
                      ", not 0", offset,
                      offset + offsetof(struct mig_vm_config, reserved),
                      c.reserved);
        goto out;
    }
    name_off = sizeof(c);
    devices_off = name_off + c.name_len;
    rc = text_dup(ctx, p + name_off, c.name_len, offset, offset + name_off,
                  "name", &name);
    if (rc < 0)
        goto out;
    rc = text_dup(ctx, p + devices_off, c.devices_len, offset,
                  offset + devices_off, "devices", &devices);
    if (rc < 0)
        goto out;

    *cfg_r = c;
    *name_r = name;
    name = NULL;
    *devices_r = devices;
    devices = NULL;
    rc = 0;

out:
    free(name);
    free(devices);
    return rc;
}

/* ---- reading a stream --------------------------------------------------- */

/* Reports a failed read of `what` (the channel's rc); r->offset already
 * counts the bytes that did arrive. */
static int read_error(struct xt_ctx *ctx, const struct mig_reader *r, int rc,
                      const char *what)
{
    if (rc == -EPIPE)
        return xt_error(ctx, rc, "migration stream truncated at offset %"
                        PRIu64 " (in %s)", r->offset, what);
    if (rc == -ETIMEDOUT)
        return xt_error(ctx, rc, "migration stream: timed out at offset %"
                        PRIu64 " (in %s)", r->offset, what);
    return xt_error(ctx, rc, "migration stream: read failed at offset %"
                    PRIu64 " (in %s)", r->offset, what);
}

static int read_exact(struct xt_ctx *ctx, struct mig_reader *r,
                      const struct iovec *iov, int n, const char *what)
{
    size_t done = 0;
    int rc = mig_chan_readv(r->chan, iov, n, &done);

    r->offset += done;
    return rc < 0 ? read_error(ctx, r, rc, what) : 0;
}

int mig_read_image_hdr(struct xt_ctx *ctx, struct mig_reader *r,
                       struct mig_image_hdr *h)
{
    struct iovec iov = { h, sizeof(*h) };
    int rc = read_exact(ctx, r, &iov, 1, "the image header");

    return rc < 0 ? rc : mig_image_hdr_check(ctx, h);
}

int mig_read_rec_hdr(struct xt_ctx *ctx, struct mig_reader *r,
                     struct mig_rec_hdr *hdr, uint64_t *rec_offset_r)
{
    struct iovec iov = { hdr, sizeof(*hdr) };
    uint64_t rec_off = r->offset;
    char what[64];
    int rc;

    snprintf(what, sizeof(what), "the record header at offset %" PRIu64,
             rec_off);
    rc = read_exact(ctx, r, &iov, 1, what);
    if (rc < 0)
        return rc;
    if (rec_offset_r)
        *rec_offset_r = rec_off;
    if (hdr->flags & ~MIG_REC_OPTIONAL)
        return xt_error(ctx, -EINVAL, "record %s (type %" PRIu32 ") at "
                        "offset %" PRIu64 ": unknown flags %#" PRIx32,
                        mig_rec_name(hdr->type), hdr->type, rec_off,
                        hdr->flags);
    if (hdr->length > MIG_REC_MAX)
        return xt_error(ctx, -EINVAL, "record %s (type %" PRIu32 ") at "
                        "offset %" PRIu64 ": length %" PRIu64 " exceeds "
                        "the limit of %u bytes", mig_rec_name(hdr->type),
                        hdr->type, rec_off, hdr->length, MIG_REC_MAX);
    if (!mig_rec_type_known(hdr->type) && !(hdr->flags & MIG_REC_OPTIONAL))
        return xt_error(ctx, -EPROTO, "record at offset %" PRIu64 ": "
                        "unknown type %" PRIu32 " is not optional", rec_off,
                        hdr->type);
    return 0;
}

int mig_read_into(struct xt_ctx *ctx, struct mig_reader *r,
                  const struct iovec *iov, int n, const char *what,
                  uint64_t rec_off)
{
    char w[96];

    snprintf(w, sizeof(w), "%s of the record at offset %" PRIu64, what,
             rec_off);
    return read_exact(ctx, r, iov, n, w);
}

int mig_read_rec_pad(struct xt_ctx *ctx, struct mig_reader *r,
                     const struct mig_rec_hdr *hdr, uint64_t rec_off)
{
    uint8_t pad[8] = { 0 };
    struct iovec iov = { pad, mig_rec_pad(hdr->length) };
    size_t i;
    int rc;

    if (!iov.iov_len)
        return 0;
    rc = mig_read_into(ctx, r, &iov, 1, "the padding", rec_off);
    for (i = 0; rc == 0 && i < iov.iov_len; i++)
        if (pad[i])
            rc = xt_error(ctx, -EINVAL, "record %s at offset %" PRIu64
                          ": non-zero padding at offset %" PRIu64,
                          mig_rec_name(hdr->type), rec_off,
                          rec_off + sizeof(*hdr) + hdr->length + i);
    return rc;
}

int mig_read_rec_body(struct xt_ctx *ctx, struct mig_reader *r,
                      const struct mig_rec_hdr *hdr, uint64_t rec_off)
{
    size_t pad = mig_rec_pad(hdr->length), i;
    struct iovec iov;
    char what[64];
    int rc;

    /* Body and padding in one read. */
    r->body.len = 0;
    rc = mig_buf_reserve(&r->body, hdr->length + pad);
    if (rc < 0)
        return xt_error(ctx, rc, "record %s at offset %" PRIu64 ": no "
                        "memory for %" PRIu64 " bytes",
                        mig_rec_name(hdr->type), rec_off, hdr->length);
    iov.iov_base = r->body.data;
    iov.iov_len = hdr->length + pad;
    snprintf(what, sizeof(what), "record %s at offset %" PRIu64,
             mig_rec_name(hdr->type), rec_off);
    rc = read_exact(ctx, r, &iov, 1, what);
    if (rc < 0)
        return rc;
    for (i = hdr->length; i < hdr->length + pad; i++)
        if (r->body.data[i])
            return xt_error(ctx, -EINVAL, "record %s at offset %" PRIu64
                            ": non-zero padding at offset %" PRIu64,
                            mig_rec_name(hdr->type), rec_off,
                            rec_off + sizeof(*hdr) + i);
    r->body.len = hdr->length;
    return 0;
}

int mig_read_record(struct xt_ctx *ctx, struct mig_reader *r,
                    struct mig_rec_hdr *hdr, uint64_t *rec_offset_r)
{
    struct mig_rec_hdr h;
    uint64_t rec_off;
    int rc;

    for (;;) {
        rc = mig_read_rec_hdr(ctx, r, &h, &rec_off);
        if (rc == 0)
            rc = mig_read_rec_body(ctx, r, &h, rec_off);
        if (rc < 0)
            return rc;
        if (mig_rec_type_known(h.type))
            break;
        xt_debug(ctx, "skipping unknown optional record type %" PRIu32
                 " (%" PRIu64 " bytes) at offset %" PRIu64, h.type, h.length,
                 rec_off);
    }
    *hdr = h;
    if (rec_offset_r)
        *rec_offset_r = rec_off;
    return 0;
}

/* ---- digests ------------------------------------------------------------ */

uint64_t mig_page_hash(const void *page)
{
    return XXH3_64bits(page, MIG_PAGE_SIZE);
}

uint64_t mig_digest(const uint64_t *page_hashes, uint64_t nr_pages)
{
    /* The host is little-endian: the array is already the wire form. */
    return XXH3_64bits(page_hashes, nr_pages * sizeof(uint64_t));
}
