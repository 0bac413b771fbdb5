/*
 * api_internal.h - what the files of api/ share and nobody else sees: the
 * layout of values, an output buffer, UTF-8 helpers, limits and the
 * "expected X, received Y" error record of the parsers.
 */
#ifndef API_INTERNAL_H
#define API_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"

struct api_member {
    char *key;
    struct api_value *val;
};

struct api_value {
    enum api_type type;
    union {
        struct {
            char *s;                /* NUL-terminated, no NUL inside */
            size_t len;
        } str;                      /* API_STRING, API_DATETIME */
        int64_t i;
        double d;
        bool b;
        struct {
            struct api_value **v;
            size_t n, cap;
        } arr;
        struct {
            struct api_member *m;
            size_t n, cap;
        } st;
    } u;
};

/* A string value taking over s (malloc'd, len bytes plus a NUL); frees s
 * and returns NULL on ENOMEM. */
struct api_value *api_string_take(char *s, size_t len, enum api_type type);
/* Appends key (taken over, freed on failure) -> val (consumed) without
 * looking for duplicates: for the parsers, which check them all at once
 * with api_struct_find_dup(). */
int api_struct_append(struct api_value *st, char *key, struct api_value *val);
/* Wraps desc (an array [CODE, params...], consumed) in a failure
 * envelope; NULL on ENOMEM. */
struct api_value *api_failure_of(struct api_value *desc);
/* A key present twice in st, or NULL.  O(n log n); -ENOMEM in *rc_r. */
const char *api_struct_find_dup(const struct api_value *st, int *rc_r);

/* ---- an output buffer that remembers running out of memory ------------- */

struct api_buf {
    char *p;
    size_t len, cap;
    bool oom;
};

void api_buf_add(struct api_buf *b, const char *s, size_t n);
void api_buf_adds(struct api_buf *b, const char *s);
void api_buf_addc(struct api_buf *b, char c);
void api_buf_addf(struct api_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Hands the NUL-terminated text over; -ENOMEM (buffer freed) if any add
 * failed. */
int api_buf_finish(struct api_buf *b, char **out_r, size_t *len_r);
/* The formatters' end: hands the text over, or reports what went wrong
 * ("<what>: value nested more than ... deep" for an rc < 0 from the
 * formatting, "<what>: out of memory") and frees the buffer. */
int api_buf_finish_report(struct xt_ctx *ctx, struct api_buf *b, int rc,
                          const char *what, char **out_r, size_t *len_r);
void api_buf_free(struct api_buf *b);

/* ---- text -------------------------------------------------------------- */

/*
 * Decodes the UTF-8 sequence at s (n bytes available): its length (1-4)
 * and code point in *cp, or 0 if it is not valid UTF-8 (overlong forms,
 * surrogates and code points above U+10FFFF are not).
 */
size_t api_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);
/* Appends cp in UTF-8. */
void api_buf_add_utf8(struct api_buf *b, uint32_t cp);

/* XML-RPC's rule for method names: [A-Za-z0-9_.:/]+, at most
 * API_METHOD_NAME_MAX bytes. */
bool api_method_name_valid(const char *s, size_t len);

/* Writes into buf a printable, quoted rendering of s[0..len), cut to fit
 * (size - 6 bytes of s at most), for error messages ("\"abc...\""). */
void api_describe_text(char *buf, size_t size, const char *s, size_t len);

/* Shortest text that reads back as the same double, in buf[32]; with
 * json, "2" becomes "2.0" so it reads back as a double. */
void api_format_double(double d, bool json, char buf[32]);

/* ---- limits and parse errors ------------------------------------------- */

/* Copies lim (NULL: defaults), replacing zero fields by their defaults. */
void api_limits_resolve(const struct api_limits *lim, struct api_limits *out);

#define API_PERR_TEXT 160

struct api_perr {
    const char *proto;      /* "XML-RPC request", ... */
    int rc;
    char expected[API_PERR_TEXT];
    char received[API_PERR_TEXT];
};

/*
 * Records the first parse error (later ones are consequences) and reports
 * it into ctx as "<proto>: expected <expected>, received <received>".
 * Returns the recorded rc.
 */
int api_perr_set(struct xt_ctx *ctx, struct api_perr *pe, int rc,
                 const char *expected, const char *received_fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Reports ENOMEM once. */
int api_perr_nomem(struct xt_ctx *ctx, struct api_perr *pe);
/* The failure envelope for pe: code [expected, received], or
 * INTERNAL_ERROR for -ENOMEM.  NULL on ENOMEM. */
struct api_value *api_perr_failure(const struct api_perr *pe,
                                   const char *code);

/*
 * Parses an XML body into *doc_r (xmlFreeDoc()) behind the pre-scan and
 * the SAX guards of api_xml_guard.c; errors recorded into pe.  Checks
 * lim->max_body first.
 */
struct _xmlDoc;
int api_xml_read(struct xt_ctx *ctx, struct api_perr *pe, const char *body,
                 size_t len, const struct api_limits *lim,
                 struct _xmlDoc **doc_r);

/* Recursion bound of the formatters (values built by us are shallower). */
#define API_FORMAT_MAX_DEPTH 1024u

#endif /* API_INTERNAL_H */
