/*
 * mig_stream.h - the xm-pool migration stream, versions 1 to 3
 * (docs/specs/migration-stream.md): record framing, validation, page
 * batches with zero detection, per-batch compression, checksums and (3)
 * per-page hashes.
 * Internal to xl-migrate/ (the public header is mig.h).
 *
 * All integers little-endian; records are 8-byte aligned.
 *
 *   image header | record | record | ... | END
 *   record = struct mig_rec_hdr + body (length bytes) + pad to 8
 */
#ifndef MIG_STREAM_H
#define MIG_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "xt.h"

#define MIG_MAGIC           0x314749524d4d5Full  /* "_MMRIG1" */
#define MIG_VERSION         1u
/* Version 2 adds the opaque mode (image header flag MIG_IMG_OPAQUE, the
 * OPAQUE_DATA and OPAQUE_END records). */
#define MIG_VERSION_OPAQUE  2u
/* Version 3 adds page batches with per-page hashes (MIG_BATCH_PAGE_HASHES)
 * in place of one checksum per batch, so that pages can be sent from the
 * guest's memory while it runs; what senders of this engine write.
 * Receivers take versions 1 to 3, so that a host upgraded first receives
 * from hosts not upgraded yet. */
#define MIG_VERSION_HASHES  3u
#define MIG_VERSION_CURRENT MIG_VERSION_HASHES
#define MIG_IMG_OPAQUE      0x1u    /* image header flag, versions 2, 3 */
#define MIG_ENDIAN_LITTLE   1u
#define MIG_PAGE_SHIFT      12u
#define MIG_PAGE_SIZE       4096u
#define MIG_BATCH_MAX       1024u           /* pages in one batch */
#define MIG_REC_MAX         (8u << 20)      /* largest record body */
#define MIG_CONFIG_MAX      65536u          /* VM_CONFIG body limit */
#define MIG_ABORT_MSG_MAX   1024u           /* ABORT message bytes */

enum mig_hv_type {
    MIG_HV_KVM = 1,
    MIG_HV_SIM = 2,
    MIG_HV_XEN = 3,
};

struct mig_image_hdr {
    uint64_t magic;             /* MIG_MAGIC */
    uint32_t version;           /* MIG_VERSION */
    uint8_t endianness;         /* MIG_ENDIAN_LITTLE */
    uint8_t page_shift;         /* MIG_PAGE_SHIFT */
    uint16_t hv_type;           /* enum mig_hv_type of the source */
    uint32_t flags;             /* version 1: 0; version 2: MIG_IMG_OPAQUE
                                 * or 0 */
    uint32_t reserved;          /* 0 */
    uint64_t migration_id;      /* random, non-zero, names this migration */
};

/* Record types.  A receiver skips an unknown record only when it carries
 * MIG_REC_OPTIONAL; any other unknown record is an error. */
enum mig_rec_type {
    MIG_REC_VM_CONFIG = 1,
    MIG_REC_PAGE_BATCH = 2,
    MIG_REC_STATE = 3,
    MIG_REC_ROUND_END = 4,
    MIG_REC_END = 5,
    /* Receiver -> sender, and the commit handshake. */
    MIG_REC_READY = 16,
    MIG_REC_COMMIT = 17,
    MIG_REC_RESUMED = 18,
    MIG_REC_ABORT = 19,
    MIG_REC_QUERY = 20,
    MIG_REC_QUERY_REPLY = 21,
    MIG_REC_STREAM_HELLO = 22,  /* first record of every connection after
                                 * the image header (main: index 0) */
    MIG_REC_AUTH = 23,          /* sender -> receiver: one-time token */
    MIG_REC_STOPCOPY = 24,      /* optional marker: source paused, the
                                 * final round follows */
    MIG_REC_ROUND_ACK = 25,     /* optional, receiver -> sender: every
                                 * stream's pages of a round are applied
                                 * (body: struct mig_round_end) */
    /* Version 2, opaque mode only (mig_opaque.h). */
    MIG_REC_OPAQUE_DATA = 26,   /* a chunk of the hypervisor's own stream */
    MIG_REC_OPAQUE_END = 27,    /* that stream is complete */
    /* Version 3. */
    MIG_REC_DONE = 28,          /* optional, sender -> receiver: RESUMED
                                 * read, the source goes; nothing follows */
    MIG_REC_ACCEPTED = 29,      /* optional, receiver -> sender: VM_CONFIG
                                 * taken, the domain built: send */
};

#define MIG_REC_OPTIONAL    0x1u    /* flags: may be skipped if unknown */

struct mig_rec_hdr {
    uint32_t type;              /* enum mig_rec_type */
    uint32_t flags;             /* MIG_REC_OPTIONAL; other bits 0 */
    uint64_t length;            /* body bytes, <= MIG_REC_MAX */
};

/* VM_CONFIG body: fixed part, then name_len bytes of name, then
 * devices_len bytes of devices (a JSON text as the pool describes them). */
struct mig_vm_config {
    uint8_t uuid[16];
    uint64_t nr_pages;
    uint32_t nr_vcpus;
    uint32_t name_len;          /* <= 255 */
    uint32_t devices_len;       /* <= MIG_CONFIG_MAX - sizeof(this) - 255 */
    uint32_t reserved;
};

enum mig_page_type {
    MIG_PAGE_NORMAL = 0,        /* MIG_PAGE_SIZE bytes in the payload */
    MIG_PAGE_ZERO = 1,          /* no payload: the page is zero */
    MIG_PAGE_COMPRESSED = 2,    /* its bytes are in the compressed block */
};

enum mig_compress {
    MIG_COMPRESS_NONE = 0,
    MIG_COMPRESS_ZLIB = 1,
    MIG_COMPRESS_ZSTD = 2,
};

#define MIG_BATCH_CHECKSUM  0x1u    /* batch flags: checksum is set
                                     * (versions 1, 2) */
#define MIG_BATCH_PAGE_HASHES 0x2u  /* version 3: hash[] follows type[] */

/*
 * PAGE_BATCH body:
 *   struct mig_batch_hdr
 *   uint64_t pfn[count]
 *   uint8_t type[count], padded to 8
 *   uint64_t hash[nonzero]: version 3 with MIG_BATCH_PAGE_HASHES only, the
 *     XXH3-64 of each non-zero page as the sender read it, in order
 *   payload (payload_len bytes): the NORMAL pages' bytes in order, or, if
 *     any page is COMPRESSED, one compressed block holding all non-zero
 *     pages' bytes in order (then every non-zero page is COMPRESSED and
 *     raw_len = their count * MIG_PAGE_SIZE)
 * A batch never mixes NORMAL and COMPRESSED pages.
 */
struct mig_batch_hdr {
    uint32_t count;             /* 1..MIG_BATCH_MAX */
    uint32_t round;             /* pre-copy round the batch belongs to */
    uint8_t compression;        /* enum mig_compress */
    uint8_t flags;              /* MIG_BATCH_CHECKSUM */
    uint16_t reserved;
    uint32_t payload_len;       /* bytes of payload */
    uint64_t checksum;          /* XXH3-64 over the array of XXH3-64
                                 * hashes of the non-zero pages' bytes,
                                 * in order (u64, little-endian) */
};

/* ROUND_END body. */
struct mig_round_end {
    uint32_t round;
    uint32_t reserved;
    uint64_t pages;             /* pages sent in that round on this stream */
};

/* END body: none (length 0). STATE body: the hv driver's blob. */

/* READY body (receiver -> sender): everything received and applied,
 * domain restored and paused. */
struct mig_ready {
    int32_t status;             /* 0 ready, else -errno (then not ready) */
    uint32_t reserved;
    uint64_t digest;            /* XXH3 of the per-page XXH3 array */
    uint64_t pages_received;
};

/* COMMIT body: none.  RESUMED body (receiver -> sender): */
struct mig_resumed {
    int32_t status;             /* 0 resumed; -errno: failed to resume */
    uint32_t domid;             /* the destination's domain, 0 unknown */
    uint64_t resume_ns;         /* CLOCK_MONOTONIC when resumed */
    uint64_t hb_first_seq;      /* first heartbeat after resume, 0 if none */
    uint64_t hb_first_ns;
    uint64_t hb_max_gap_ns;     /* longest gap seen at the destination */
    uint64_t mismatches;        /* guest's ledger mismatch count */
};

/* ABORT body: int32 -errno, uint32 msg_len, then msg (either side). */
struct mig_abort {
    int32_t status;
    uint32_t msg_len;
};

/* QUERY body: migration_id.  QUERY_REPLY body: the receiver's state. */
enum mig_query_state {
    MIG_Q_UNKNOWN = 0,          /* no such migration */
    MIG_Q_IN_PROGRESS = 1,
    MIG_Q_ABORTED = 2,          /* never committed; partial domain gone */
    MIG_Q_RESUMED = 3,          /* committed and running here */
};

struct mig_query {
    uint64_t migration_id;
};

struct mig_query_reply {
    uint64_t migration_id;
    uint32_t state;             /* enum mig_query_state */
    uint32_t domid;             /* MIG_Q_RESUMED: the domain, else 0 */
};

/* STREAM_HELLO body: the first record on every data connection (after
 * the image header), the main one included, so the receiver knows from the
 * start how many streams the round barrier waits for. */
struct mig_stream_hello {
    uint64_t migration_id;      /* = the image header's */
    uint32_t index;             /* 0 on the main connection, else
                                 * 1..nstreams-1 */
    uint32_t nstreams;          /* 1..MIG_STREAMS_MAX */
};
#define MIG_STREAMS_MAX     16u

/* ---- encoding ----------------------------------------------------------- */

/* A growable byte buffer; start it as { 0 }, empty it with len = 0, free
 * with mig_buf_free (accepts NULL and an empty buffer). */
struct mig_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
};

void mig_buf_free(struct mig_buf *b);
/* Makes room for extra bytes after len: 0 or -ENOMEM (not reported). */
int mig_buf_reserve(struct mig_buf *b, size_t extra);

void mig_image_hdr_init(struct mig_image_hdr *h, enum mig_hv_type hv,
                        uint64_t migration_id);
/* Checks a received image header; reports what is wrong (offset 0):
 * -EPROTO for a stream version other than 1 and 2, -EINVAL for anything
 * else (flags other than MIG_IMG_OPAQUE in version 2, any in version 1). */
int mig_image_hdr_check(struct xt_ctx *ctx, const struct mig_image_hdr *h);

/* Appends a whole record (header, body, padding) to b.  0, -EINVAL (flags
 * other than MIG_REC_OPTIONAL), -EMSGSIZE (len > MIG_REC_MAX) or -ENOMEM;
 * not reported (no context): the caller reports. */
int mig_rec_append(struct mig_buf *b, uint32_t type, uint32_t flags,
                   const void *body, size_t len);

/*
 * Builds a PAGE_BATCH record from count pages (pages[i] the bytes of
 * pfns[i]) into b (appended).  Zero pages become MIG_PAGE_ZERO; if
 * compression != NONE the non-zero pages are compressed with it at level
 * (zlib 1..9, zstd 1..19; 0 = level 1, the fastest) and the batch is
 * sent raw when that does not shrink it.  checksum: set the XXH3 checksum.
 * st (may be NULL) receives the counts of zero, normal and compressed
 * pages, raw_bytes (uncompressed non-zero bytes) and wire_bytes (payload).
 * scratch: a caller-owned buffer reused between calls.  pfns are not
 * checked (the sender owns the domain).  -EINVAL (count, compression or
 * level out of range), -ENOMEM, -EIO (compressor failed), reported; on
 * error b->len is unchanged.
 */
struct mig_batch_stats {
    uint32_t zero;
    uint32_t normal;
    uint32_t compressed;
    uint64_t raw_bytes;
    uint64_t wire_bytes;
};
int mig_batch_encode(struct xt_ctx *ctx, struct mig_buf *b,
                     struct mig_buf *scratch, uint32_t round,
                     const uint64_t *pfns, const void *const *pages,
                     uint32_t count, enum mig_compress compression,
                     int level, bool checksum, struct mig_batch_stats *st);

/* ---- decoding ----------------------------------------------------------- */

/*
 * A decoded page batch: pointers into the record body (pfns, types, and
 * data when the pages were sent raw) or into the scratch buffer
 * (decompressed data; pfns too if the body was not 8-byte aligned); valid
 * while the body lives and until the next decode with the same scratch.
 */
struct mig_batch {
    uint32_t count;
    uint32_t round;
    const uint64_t *pfns;
    const uint8_t *types;
    /* data for non-zero page i is data + index_of_nonzero(i) * PAGE;
     * NULL when every page is zero */
    const uint8_t *data;
    uint32_t nonzero;
    /* XXH3-64 of non-zero page k (k-th in data), k < nonzero */
    uint64_t page_hash[MIG_BATCH_MAX];
};

/*
 * Validates and decodes a PAGE_BATCH body of len bytes that began at
 * stream offset `offset` (for messages): count in range, every pfn <
 * nr_pages, types known and not mixing NORMAL/COMPRESSED, lengths exact,
 * decompression yields exactly the expected bytes, checksum matches.
 * Nothing is written to guest memory here.  Errors: -EINVAL (malformed),
 * -ERANGE (pfn out of range), -EBADMSG (checksum / decompression), each
 * reported as "page batch at offset N: ...".
 */
int mig_batch_decode(struct xt_ctx *ctx, const void *body, size_t len,
                     uint64_t offset, uint64_t nr_pages,
                     struct mig_buf *scratch, struct mig_batch *out);

/* Validates and decodes VM_CONFIG (lengths add up exactly, limits, no NUL
 * in the texts, nr_pages and nr_vcpus non-zero, reserved 0: else -EINVAL
 * "VM_CONFIG at offset N: ..."); *name_r (NUL-terminated) and
 * *devices_r (NUL-terminated, may be "") are malloc'd, caller frees.
 * mig_vm_config_append takes name_len/devices_len from the strings (NULL
 * is ""); 0, -EINVAL (too long, zero sizes) or -ENOMEM, not reported. */
int mig_vm_config_decode(struct xt_ctx *ctx, const void *body, size_t len,
                         uint64_t offset, struct mig_vm_config *cfg_r,
                         char **name_r, char **devices_r);
int mig_vm_config_append(struct mig_buf *b, const struct mig_vm_config *cfg,
                         const char *name, const char *devices);

/* Readers of a stream from a channel (mig_chan.h; its timeout bounds each
 * wait), with the byte offset kept for error messages.  Start it as
 * { .chan = c }; free the body with mig_buf_free(&r->body). */
struct mig_chan;
struct mig_reader {
    struct mig_chan *chan;
    uint64_t offset;            /* bytes consumed so far */
    struct mig_buf body;        /* the last record's body */
};

/* Reads and checks the image header. */
int mig_read_image_hdr(struct xt_ctx *ctx, struct mig_reader *r,
                       struct mig_image_hdr *h);
/*
 * Reads the next record: header checked (length <= MIG_REC_MAX, flags
 * known), body into r->body (len = hdr.length), padding consumed and
 * checked to be zero.  *rec_offset_r = offset of the record header (may be
 * NULL); the body began at that + sizeof(struct mig_rec_hdr).  A record of
 * unknown type is skipped if it carries MIG_REC_OPTIONAL, else -EPROTO.
 * A truncated stream is -EPIPE "truncated at offset N (in record TYPE)";
 * bad flags, length or padding -EINVAL; also -ETIMEDOUT, -ENOMEM.
 */
int mig_read_record(struct xt_ctx *ctx, struct mig_reader *r,
                    struct mig_rec_hdr *hdr, uint64_t *rec_offset_r);

/*
 * The same in parts, for a body read where it belongs (a page batch's
 * payload straight into guest pages): mig_read_rec_hdr reads and checks
 * the next record header (an unknown optional record is left to the
 * caller: it is returned, see mig_rec_type_known); mig_read_rec_body the
 * whole body and padding into r->body; mig_read_into the next bytes of
 * the body into iov (what names the part for messages); mig_read_rec_pad
 * the padding after a body read in parts.
 */
int mig_read_rec_hdr(struct xt_ctx *ctx, struct mig_reader *r,
                     struct mig_rec_hdr *hdr, uint64_t *rec_offset_r);
int mig_read_rec_body(struct xt_ctx *ctx, struct mig_reader *r,
                      const struct mig_rec_hdr *hdr, uint64_t rec_off);
int mig_read_into(struct xt_ctx *ctx, struct mig_reader *r,
                  const struct iovec *iov, int n, const char *what,
                  uint64_t rec_off);
int mig_read_rec_pad(struct xt_ctx *ctx, struct mig_reader *r,
                     const struct mig_rec_hdr *hdr, uint64_t rec_off);

/* ---- version 3 page batches, in parts ----------------------------------- */

/*
 * A PAGE_BATCH body in parts.  The sender writes the record header and
 * the part before the payload with mig_batch_meta_append and sends the
 * payload from where the pages are, then mig_rec_pad(length) zero bytes.
 * The receiver reads the 24-byte batch header, then the mig_batch_meta_size
 * bytes that start with it (header, pfns, types), which
 * mig_batch_meta_decode checks (the rules of section 8: count, flags,
 * pfns, types, lengths against body_len) before any guest page is
 * touched; then hashes_len bytes of page hashes, then the payload.
 */
struct mig_batch_meta {
    uint32_t count;
    uint32_t round;
    uint32_t nonzero;           /* NORMAL or COMPRESSED pages */
    uint8_t compression;        /* enum mig_compress */
    uint32_t payload_len;
    size_t hashes_len;          /* page hashes after the types: 8 per
                                 * non-zero page, 0 without the flag */
    const uint64_t *pfns;       /* into the caller's buffer */
    const uint8_t *types;
};
size_t mig_rec_pad(size_t len);
int mig_batch_meta_size(struct xt_ctx *ctx, const struct mig_batch_hdr *bh,
                        uint64_t offset, size_t *size_r);
int mig_batch_meta_decode(struct xt_ctx *ctx, const void *meta,
                          size_t meta_len, size_t body_len, uint64_t offset,
                          uint64_t nr_pages, struct mig_batch_meta *out);
/* pfns[i] typed types[i]; hashes (NULL: none) of the nonzero non-ZERO
 * pages; payload_len bytes follow (raw: 4096 per NORMAL page).  0,
 * -EINVAL, -ENOMEM; not reported. */
int mig_batch_meta_append(struct mig_buf *b, uint32_t round,
                          const uint64_t *pfns, const uint8_t *types,
                          uint32_t count, const uint64_t *hashes,
                          uint32_t nonzero, enum mig_compress compression,
                          uint32_t payload_len);
/* Decompresses a version 3 compressed payload into exactly raw_len bytes
 * at dst (the rules of section 7); -EBADMSG, -ENOMEM, reported. */
int mig_batch_inflate(struct xt_ctx *ctx, enum mig_compress c,
                      uint64_t offset, const void *src, size_t src_len,
                      void *dst, size_t raw_len);
/* -EINVAL (reported) unless c is a method and level one of its levels
 * (zlib 0..9, zstd 0..19; 0 is the fastest). */
int mig_compression_check(struct xt_ctx *ctx, enum mig_compress c,
                          int level);
/* Compresses raw_len bytes into scratch (reused between calls);
 * *clen_r is 0 when that does not make them smaller (send them raw). */
int mig_batch_deflate(struct xt_ctx *ctx, enum mig_compress c, int level,
                      const void *src, size_t raw_len,
                      struct mig_buf *scratch, size_t *clen_r);

/* "PAGE_BATCH" ..., "unknown" for a type this version does not define. */
const char *mig_rec_name(uint32_t type);
bool mig_rec_type_known(uint32_t type);

/* Per-page hash used for memory digests: XXH3-64 of the page. */
uint64_t mig_page_hash(const void *page);
/* The digest of a guest: XXH3-64 over its array of per-page hashes. */
uint64_t mig_digest(const uint64_t *page_hashes, uint64_t nr_pages);

#endif /* MIG_STREAM_H */
