/*
 * api_text.c - helpers shared by the XML-RPC and JSON-RPC code: an output
 * buffer, UTF-8, method names, number formatting, limits and the parsers'
 * error record.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"

/* ---- output buffer ----------------------------------------------------- */

/* Room for n more bytes and a NUL; false (and b->oom) when there is none. */
static bool buf_reserve(struct api_buf *b, size_t n)
{
    size_t need, ncap;
    char *np = NULL;

    if (b->oom)
        return false;
    if (n <= SIZE_MAX - b->len - 1) {
        need = b->len + n + 1;
        if (need <= b->cap)
            return true;
        ncap = b->cap ? b->cap : 256;
        while (ncap < need)
            ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
        np = realloc(b->p, ncap);
    }
    if (!np) {
        b->oom = true;
        return false;
    }
    b->p = np;
    b->cap = ncap;
    return true;
}

void api_buf_add(struct api_buf *b, const char *s, size_t n)
{
    if (!buf_reserve(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void api_buf_adds(struct api_buf *b, const char *s)
{
    api_buf_add(b, s, strlen(s));
}

void api_buf_addc(struct api_buf *b, char c)
{
    api_buf_add(b, &c, 1);
}

void api_buf_addf(struct api_buf *b, const char *fmt, ...)
{
    char small[64];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = true;
        return;
    }
    if ((size_t)n < sizeof(small)) {
        api_buf_add(b, small, (size_t)n);
        return;
    }
    if (!buf_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

int api_buf_finish(struct api_buf *b, char **out_r, size_t *len_r)
{
    if (!b->oom && !b->p && buf_reserve(b, 0))
        b->p[0] = '\0';
    if (b->oom) {
        api_buf_free(b);
        *out_r = NULL;
        *len_r = 0;
        return -ENOMEM;
    }
    *out_r = b->p;
    *len_r = b->len;
    b->p = NULL;
    b->len = b->cap = 0;
    return 0;
}

int api_buf_finish_report(struct xt_ctx *ctx, struct api_buf *b, int rc,
                          const char *what, char **out_r, size_t *len_r)
{
    *out_r = NULL;
    *len_r = 0;
    if (rc < 0) {
        api_buf_free(b);
        return xt_error(ctx, rc, "%s: value nested more than %u deep", what,
                        API_FORMAT_MAX_DEPTH);
    }
    rc = api_buf_finish(b, out_r, len_r);
    if (rc < 0)
        return xt_error(ctx, rc, "%s: out of memory", what);
    return 0;
}

void api_buf_free(struct api_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* ---- text -------------------------------------------------------------- */

size_t api_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    uint32_t c, min;
    size_t len, i;

    if (n == 0)
        return 0;
    c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        c &= 0x1f;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        c &= 0x0f;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        c &= 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return len;
}

void api_buf_add_utf8(struct api_buf *b, uint32_t cp)
{
    char out[4];

    if (cp < 0x80) {
        out[0] = (char)cp;
        api_buf_add(b, out, 1);
    } else if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        api_buf_add(b, out, 2);
    } else if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        api_buf_add(b, out, 3);
    } else {
        out[0] = (char)(0xf0 | (cp >> 18));
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[3] = (char)(0x80 | (cp & 0x3f));
        api_buf_add(b, out, 4);
    }
}

bool api_method_name_valid(const char *s, size_t len)
{
    size_t i;

    if (len == 0 || len > API_METHOD_NAME_MAX)
        return false;
    for (i = 0; i < len; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':' ||
              c == '/'))
            return false;
    }
    return true;
}

void api_describe_text(char *buf, size_t size, const char *s, size_t len)
{
    size_t i, o = 0, max;

    if (size < 8) {
        if (size)
            buf[0] = '\0';
        return;
    }
    max = size - 6;     /* quotes, "..." and the NUL */
    buf[o++] = '"';
    for (i = 0; i < len && i < max && o + 5 < size; i++) {
        unsigned char c = (unsigned char)s[i];

        buf[o++] = c >= 0x20 && c < 0x7f && c != '"' ? (char)c : '?';
    }
    buf[o++] = '"';
    if (i < len && o + 3 < size) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
}

void api_format_double(double d, bool json, char buf[32])
{
    int prec;

    for (prec = 15; prec <= 17; prec++) {
        snprintf(buf, 32, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    if (json && !strpbrk(buf, ".eE"))
        strcat(buf, ".0");
}

/* ---- limits and parse errors ------------------------------------------- */

void api_limits_resolve(const struct api_limits *lim, struct api_limits *out)
{
    static const struct api_limits defaults = {
        .max_body = API_DEFAULT_MAX_BODY,
        .max_depth = API_DEFAULT_MAX_DEPTH,
        .max_elements = API_DEFAULT_MAX_ELEMENTS,
        .max_string = API_DEFAULT_MAX_STRING,
    };

    *out = lim ? *lim : defaults;
    if (!out->max_body)
        out->max_body = defaults.max_body;
    if (!out->max_depth)
        out->max_depth = defaults.max_depth;
    if (!out->max_elements)
        out->max_elements = defaults.max_elements;
    if (!out->max_string)
        out->max_string = defaults.max_string;
}

int api_perr_set(struct xt_ctx *ctx, struct api_perr *pe, int rc,
                 const char *expected, const char *received_fmt, ...)
{
    va_list ap;

    if (pe->rc)
        return pe->rc;
    pe->rc = rc < 0 ? rc : -EINVAL;
    snprintf(pe->expected, sizeof(pe->expected), "%s", expected);
    va_start(ap, received_fmt);
    vsnprintf(pe->received, sizeof(pe->received), received_fmt, ap);
    va_end(ap);
    return xt_error(ctx, pe->rc, "%s: expected %s, received %s", pe->proto,
                    pe->expected, pe->received);
}

int api_perr_nomem(struct xt_ctx *ctx, struct api_perr *pe)
{
    if (pe->rc)
        return pe->rc;
    pe->rc = -ENOMEM;
    return xt_error(ctx, -ENOMEM, "%s: out of memory", pe->proto);
}

struct api_value *api_perr_failure(const struct api_perr *pe,
                                   const char *code)
{
    char msg[2 * API_PERR_TEXT + 64];

    if (pe->rc == -ENOMEM) {
        snprintf(msg, sizeof(msg), "%s: out of memory", pe->proto);
        return api_failure("INTERNAL_ERROR", msg, NULL);
    }
    return api_failure(code, pe->expected, pe->received, NULL);
}
