/*
 * api_json_read.c - reading JSON-RPC requests and responses, with a strict
 * RFC 8259 parser of our own (api_json_write.c writes them).
 *
 * Why not json-c: it silently clamps integers beyond int64 (a memory size
 * of 2^64 would read as INT64_MAX, -2^63-1 as INT64_MIN), keeps the last of
 * duplicate keys without a word, turns lone surrogates into U+FFFD and
 * takes "1." or 1e400 in strict mode.  A request is untrusted input: we
 * want each of those refused with a clear error, and the depth, the value
 * count and string lengths bounded as we go, which is a few hundred lines.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"

#define NUMBER_MAX 1024u    /* characters of one number */

/* ---- the parser -------------------------------------------------------- */

struct jparser {
    struct xt_ctx *ctx;
    struct api_perr *pe;
    struct api_limits lim;
    const unsigned char *start, *p, *end;
    size_t values;
};

static size_t offset(const struct jparser *jp)
{
    return (size_t)(jp->p - jp->start);
}

/* Reports that `expected` was not found at the current position. */
static int unexpected(struct jparser *jp, const char *expected)
{
    unsigned char c;

    if (jp->p >= jp->end)
        return api_perr_set(jp->ctx, jp->pe, -EINVAL, expected,
                            "the end of the body at byte %zu", offset(jp));
    c = *jp->p;
    if (c >= 0x20 && c < 0x7f)
        return api_perr_set(jp->ctx, jp->pe, -EINVAL, expected,
                            "'%c' at byte %zu", c, offset(jp));
    return api_perr_set(jp->ctx, jp->pe, -EINVAL, expected,
                        "byte 0x%02x at byte %zu", c, offset(jp));
}

static void skip_ws(struct jparser *jp)
{
    while (jp->p < jp->end && (*jp->p == ' ' || *jp->p == '\t' ||
                               *jp->p == '\n' || *jp->p == '\r'))
        jp->p++;
}

static int hex4(const unsigned char *p, uint32_t *out)
{
    uint32_t v = 0;
    int i;

    for (i = 0; i < 4; i++) {
        unsigned char c = p[i];

        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return -EINVAL;
    }
    *out = v;
    return 0;
}

/* The \uXXXX escape at jp->p (after the backslash and 'u'), a surrogate
 * pair included, into *cp. */
static int unicode_escape(struct jparser *jp, uint32_t *cp)
{
    uint32_t lo;

    if (jp->end - jp->p < 4 || hex4(jp->p, cp) < 0)
        return unexpected(jp, "4 hexadecimal digits after \\u");
    jp->p += 4;
    if (*cp >= 0xdc00 && *cp <= 0xdfff)
        return api_perr_set(jp->ctx, jp->pe, -EINVAL,
                            "a high surrogate before a low one",
                            "a lone \\u%04" PRIx32 " at byte %zu", *cp,
                            offset(jp) - 6);
    if (*cp >= 0xd800 && *cp <= 0xdbff) {
        if (jp->end - jp->p < 6 || jp->p[0] != '\\' || jp->p[1] != 'u' ||
            hex4(jp->p + 2, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
            return api_perr_set(jp->ctx, jp->pe, -EINVAL,
                                "a low surrogate after a high one",
                                "a lone \\u%04" PRIx32 " at byte %zu", *cp,
                                offset(jp) - 6);
        jp->p += 6;
        *cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    if (*cp == 0)
        return api_perr_set(jp->ctx, jp->pe, -EINVAL,
                            "no NUL character in a string",
                            "\\u0000 at byte %zu", offset(jp) - 6);
    return 0;
}

/* A string at jp->p (on its opening quote), malloc'd into *s_r. */
static int parse_string(struct jparser *jp, char **s_r, size_t *len_r)
{
    struct api_buf b = { 0 };
    const unsigned char *run;
    char expected[64];
    uint32_t cp;
    size_t n;
    int rc = 0;

    jp->p++;
    for (;;) {
        run = jp->p;
        while (jp->p < jp->end && *jp->p >= 0x20 && *jp->p < 0x80 &&
               *jp->p != '"' && *jp->p != '\\')
            jp->p++;
        api_buf_add(&b, (const char *)run, (size_t)(jp->p - run));
        if (b.len > jp->lim.max_string) {
            snprintf(expected, sizeof(expected),
                     "a string of at most %zu bytes", jp->lim.max_string);
            rc = api_perr_set(jp->ctx, jp->pe, -E2BIG, expected,
                              "a longer one at byte %zu", offset(jp));
            goto out;
        }
        if (jp->p >= jp->end) {
            rc = unexpected(jp, "the closing '\"' of a string");
            goto out;
        }
        if (*jp->p == '"') {
            jp->p++;
            break;
        }
        if (*jp->p < 0x20) {
            rc = unexpected(jp, "no control character in a string");
            goto out;
        }
        if (*jp->p >= 0x80) {
            n = api_utf8_decode(jp->p, (size_t)(jp->end - jp->p), &cp);
            if (n == 0) {
                rc = unexpected(jp, "UTF-8 text");
                goto out;
            }
            api_buf_add(&b, (const char *)jp->p, n);
            jp->p += n;
            continue;
        }
        /* a backslash */
        jp->p++;
        if (jp->p >= jp->end) {
            rc = unexpected(jp, "an escape after '\\'");
            goto out;
        }
        switch (*jp->p++) {
        case '"':
            api_buf_addc(&b, '"');
            break;
        case '\\':
            api_buf_addc(&b, '\\');
            break;
        case '/':
            api_buf_addc(&b, '/');
            break;
        case 'b':
            api_buf_addc(&b, '\b');
            break;
        case 'f':
            api_buf_addc(&b, '\f');
            break;
        case 'n':
            api_buf_addc(&b, '\n');
            break;
        case 'r':
            api_buf_addc(&b, '\r');
            break;
        case 't':
            api_buf_addc(&b, '\t');
            break;
        case 'u':
            rc = unicode_escape(jp, &cp);
            if (rc < 0)
                goto out;
            api_buf_add_utf8(&b, cp);
            break;
        default:
            jp->p--;
            rc = unexpected(jp, "one of \" \\ / b f n r t u after '\\'");
            goto out;
        }
    }
    if (api_buf_finish(&b, s_r, len_r) < 0)
        return api_perr_nomem(jp->ctx, jp->pe);
    return 0;

out:
    api_buf_free(&b);
    return rc;
}

static bool is_digit(const struct jparser *jp)
{
    return jp->p < jp->end && *jp->p >= '0' && *jp->p <= '9';
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?: API_INT without fraction
 * and exponent, else API_DOUBLE. */
static int parse_number(struct jparser *jp, struct api_value **v_r)
{
    const unsigned char *s = jp->p;
    char text[NUMBER_MAX + 1], expected[64];
    bool integer = true, neg = false;
    uint64_t acc = 0, limit = INT64_MAX;
    size_t len;
    double d;

    if (*jp->p == '-') {
        neg = true;
        limit = (uint64_t)INT64_MAX + 1;
        jp->p++;
    }
    if (!is_digit(jp))
        return unexpected(jp, "a digit");
    if (*jp->p == '0') {
        jp->p++;
    } else {
        while (is_digit(jp)) {
            unsigned digit = (unsigned)(*jp->p - '0');

            if (acc > (limit - digit) / 10)
                acc = UINT64_MAX;   /* out of range, unless a double */
            else
                acc = acc * 10 + digit;
            jp->p++;
        }
    }
    if (jp->p < jp->end && *jp->p == '.') {
        integer = false;
        jp->p++;
        if (!is_digit(jp))
            return unexpected(jp, "a digit after '.'");
        while (is_digit(jp))
            jp->p++;
    }
    if (jp->p < jp->end && (*jp->p == 'e' || *jp->p == 'E')) {
        integer = false;
        jp->p++;
        if (jp->p < jp->end && (*jp->p == '+' || *jp->p == '-'))
            jp->p++;
        if (!is_digit(jp))
            return unexpected(jp, "a digit in the exponent");
        while (is_digit(jp))
            jp->p++;
    }
    len = (size_t)(jp->p - s);
    if (len > NUMBER_MAX) {
        snprintf(expected, sizeof(expected),
                 "a number of at most %u characters", NUMBER_MAX);
        return api_perr_set(jp->ctx, jp->pe, -E2BIG, expected,
                            "%zu at byte %zu", len, (size_t)(s - jp->start));
    }
    memcpy(text, s, len);
    text[len] = '\0';
    if (integer) {
        if (acc == UINT64_MAX)
            return api_perr_set(jp->ctx, jp->pe, -ERANGE,
                                "an integer in the int64 range",
                                "%.40s%s at byte %zu", text,
                                len > 40 ? "..." : "",
                                (size_t)(s - jp->start));
        if (!neg)
            *v_r = api_int((int64_t)acc);
        else if (acc == (uint64_t)INT64_MAX + 1)
            *v_r = api_int(INT64_MIN);
        else
            *v_r = api_int(-(int64_t)acc);
    } else {
        d = strtod(text, NULL);
        if (!isfinite(d))
            return api_perr_set(jp->ctx, jp->pe, -ERANGE,
                                "a number in the range of a double",
                                "%.40s%s at byte %zu", text,
                                len > 40 ? "..." : "",
                                (size_t)(s - jp->start));
        *v_r = api_double(d);
    }
    return *v_r ? 0 : api_perr_nomem(jp->ctx, jp->pe);
}

/* The literal word at jp->p. */
static bool take_word(struct jparser *jp, const char *word)
{
    size_t n = strlen(word);

    if ((size_t)(jp->end - jp->p) < n || memcmp(jp->p, word, n) != 0)
        return false;
    jp->p += n;
    return true;
}

static int parse_value(struct jparser *jp, unsigned depth,
                       struct api_value **v_r);

/* Checks the nesting of a container at depth. */
static int check_depth(struct jparser *jp, unsigned depth)
{
    char expected[64];

    if (depth <= jp->lim.max_depth)
        return 0;
    snprintf(expected, sizeof(expected), "values nested at most %u deep",
             jp->lim.max_depth);
    return api_perr_set(jp->ctx, jp->pe, -E2BIG, expected,
                        "deeper nesting at byte %zu", offset(jp));
}

static int parse_array(struct jparser *jp, unsigned depth,
                       struct api_value **v_r)
{
    struct api_value *arr, *item = NULL;
    int rc;

    rc = check_depth(jp, depth);
    if (rc < 0)
        return rc;
    arr = api_array();
    if (!arr)
        return api_perr_nomem(jp->ctx, jp->pe);
    jp->p++;
    skip_ws(jp);
    if (jp->p < jp->end && *jp->p == ']') {
        jp->p++;
        goto out;
    }
    for (;;) {
        rc = parse_value(jp, depth + 1, &item);
        if (rc < 0)
            goto out;
        if (api_array_append(arr, item) < 0) {
            rc = api_perr_nomem(jp->ctx, jp->pe);
            goto out;
        }
        skip_ws(jp);
        if (jp->p < jp->end && *jp->p == ',') {
            jp->p++;
            continue;
        }
        if (jp->p < jp->end && *jp->p == ']') {
            jp->p++;
            break;
        }
        rc = unexpected(jp, "',' or ']' in an array");
        goto out;
    }

out:
    if (rc < 0)
        api_value_free(arr);
    else
        *v_r = arr;
    return rc;
}

static int parse_object(struct jparser *jp, unsigned depth,
                        struct api_value **v_r)
{
    struct api_value *st, *val = NULL;
    const char *dup;
    char *key = NULL, shown[64];
    size_t keylen;
    int rc;

    rc = check_depth(jp, depth);
    if (rc < 0)
        return rc;
    st = api_struct();
    if (!st)
        return api_perr_nomem(jp->ctx, jp->pe);
    jp->p++;
    skip_ws(jp);
    if (jp->p < jp->end && *jp->p == '}') {
        jp->p++;
        goto out;
    }
    for (;;) {
        skip_ws(jp);
        if (jp->p >= jp->end || *jp->p != '"') {
            rc = unexpected(jp, "a string key in an object");
            goto out;
        }
        rc = parse_string(jp, &key, &keylen);
        if (rc < 0)
            goto out;
        skip_ws(jp);
        if (jp->p >= jp->end || *jp->p != ':') {
            free(key);
            rc = unexpected(jp, "':' after a key");
            goto out;
        }
        jp->p++;
        rc = parse_value(jp, depth + 1, &val);
        if (rc < 0) {
            free(key);
            goto out;
        }
        if (api_struct_append(st, key, val) < 0) {
            rc = api_perr_nomem(jp->ctx, jp->pe);
            goto out;
        }
        skip_ws(jp);
        if (jp->p < jp->end && *jp->p == ',') {
            jp->p++;
            continue;
        }
        if (jp->p < jp->end && *jp->p == '}') {
            jp->p++;
            break;
        }
        rc = unexpected(jp, "',' or '}' in an object");
        goto out;
    }
    dup = api_struct_find_dup(st, &rc);
    if (rc < 0) {
        rc = api_perr_nomem(jp->ctx, jp->pe);
    } else if (dup) {
        api_describe_text(shown, sizeof(shown), dup, strlen(dup));
        rc = api_perr_set(jp->ctx, jp->pe, -EINVAL,
                          "unique keys in an object", "%s twice", shown);
    }

out:
    if (rc < 0)
        api_value_free(st);
    else
        *v_r = st;
    return rc;
}

/* Any value, with the blanks before it; depth: that of the value if it is
 * an array or an object. */
static int parse_value(struct jparser *jp, unsigned depth,
                       struct api_value **v_r)
{
    char expected[64], *s;
    size_t len;
    int rc;

    *v_r = NULL;
    skip_ws(jp);
    if (++jp->values > jp->lim.max_elements) {
        snprintf(expected, sizeof(expected), "at most %zu values",
                 jp->lim.max_elements);
        return api_perr_set(jp->ctx, jp->pe, -E2BIG, expected,
                            "more at byte %zu", offset(jp));
    }
    if (jp->p >= jp->end)
        return unexpected(jp, "a value");
    switch (*jp->p) {
    case '{':
        return parse_object(jp, depth, v_r);
    case '[':
        return parse_array(jp, depth, v_r);
    case '"':
        rc = parse_string(jp, &s, &len);
        if (rc < 0)
            return rc;
        *v_r = api_string_take(s, len, API_STRING);
        break;
    case 't':
        if (!take_word(jp, "true"))
            return unexpected(jp, "a value");
        *v_r = api_bool(true);
        break;
    case 'f':
        if (!take_word(jp, "false"))
            return unexpected(jp, "a value");
        *v_r = api_bool(false);
        break;
    case 'n':
        if (!take_word(jp, "null"))
            return unexpected(jp, "a value");
        *v_r = api_nil();
        break;
    default:
        if (*jp->p == '-' || (*jp->p >= '0' && *jp->p <= '9'))
            return parse_number(jp, v_r);
        return unexpected(jp, "a value");
    }
    return *v_r ? 0 : api_perr_nomem(jp->ctx, jp->pe);
}

/* The whole body as one JSON value (the top one at depth 0). */
static int parse_document(struct xt_ctx *ctx, struct api_perr *pe,
                          const char *body, size_t len,
                          const struct api_limits *lim,
                          struct api_value **v_r)
{
    struct jparser jp = { .ctx = ctx, .pe = pe };
    struct api_value *v = NULL;
    char expected[64];
    int rc;

    *v_r = NULL;
    api_limits_resolve(lim, &jp.lim);
    if (len > jp.lim.max_body) {
        snprintf(expected, sizeof(expected), "a body of at most %zu bytes",
                 jp.lim.max_body);
        return api_perr_set(ctx, pe, -EMSGSIZE, expected, "%zu bytes", len);
    }
    jp.start = jp.p = (const unsigned char *)body;
    jp.end = jp.start + len;
    rc = parse_value(&jp, 0, &v);
    if (rc < 0)
        return rc;
    skip_ws(&jp);
    if (jp.p < jp.end) {
        api_value_free(v);
        return unexpected(&jp, "the end of the body");
    }
    *v_r = v;
    return 0;
}

/* ---- requests ---------------------------------------------------------- */

void api_json_reqinfo_clear(struct api_json_reqinfo *info)
{
    if (!info)
        return;
    api_value_free(info->id);
    info->id = NULL;
    info->version = API_JSONRPC_V2;
}

/* Describes v for "received ...". */
static const char *what_is(const struct api_value *v)
{
    return v ? api_type_name(api_value_type(v)) : "nothing";
}

/* Reads version and id of the request object req into info. */
static int read_envelope(struct xt_ctx *ctx, struct api_perr *pe,
                         const struct api_value *req,
                         struct api_json_reqinfo *info)
{
    const struct api_value *version, *id;

    version = api_struct_get(req, "jsonrpc");
    if (!version) {
        info->version = API_JSONRPC_V1;
    } else if (api_value_string(version) &&
               strcmp(api_value_string(version), "2.0") == 0) {
        info->version = API_JSONRPC_V2;
    } else {
        return api_perr_set(ctx, pe, -EINVAL, "\"jsonrpc\": \"2.0\"",
                            "a %s", what_is(version));
    }
    id = api_struct_get(req, "id");
    if (!id || (id->type != API_STRING && id->type != API_INT))
        return api_perr_set(ctx, pe, -EINVAL,
                            "an \"id\" (a string or an integer)", "%s",
                            id ? what_is(id) : "no id");
    info->id = api_value_copy(id);
    return info->id ? 0 : api_perr_nomem(ctx, pe);
}

/* Takes the value of key out of the struct st (leaving NULL there). */
static struct api_value *take_member(struct api_value *st, const char *key)
{
    struct api_value *v;
    size_t i;

    for (i = 0; i < st->u.st.n; i++) {
        if (strcmp(st->u.st.m[i].key, key) == 0) {
            v = st->u.st.m[i].val;
            st->u.st.m[i].val = NULL;
            return v;
        }
    }
    return NULL;
}

int api_json_parse_call(struct xt_ctx *ctx, const char *body, size_t len,
                        const struct api_limits *lim, char **method_r,
                        struct api_value **params_r,
                        struct api_json_reqinfo *info,
                        struct api_value **failure_r)
{
    struct api_perr pe = { .proto = "JSON-RPC request" };
    struct api_value *req = NULL, *params = NULL, *wrapped;
    const struct api_value *method, *p;
    char *name = NULL, shown[64];
    int rc;

    *method_r = NULL;
    *params_r = NULL;
    if (failure_r)
        *failure_r = NULL;
    info->version = API_JSONRPC_V2;
    info->id = NULL;

    rc = parse_document(ctx, &pe, body, len, lim, &req);
    if (rc < 0)
        goto out;
    if (req->type != API_STRUCT) {
        rc = api_perr_set(ctx, &pe, -EINVAL, "a request object", "a %s",
                          what_is(req));
        goto out;
    }
    rc = read_envelope(ctx, &pe, req, info);
    if (rc < 0)
        goto out;

    method = api_struct_get(req, "method");
    if (!api_value_string(method)) {
        rc = api_perr_set(ctx, &pe, -EINVAL, "a \"method\" string", "%s",
                          method ? what_is(method) : "no method");
        goto out;
    }
    if (!api_method_name_valid(method->u.str.s, method->u.str.len)) {
        api_describe_text(shown, sizeof(shown), method->u.str.s,
                          method->u.str.len);
        rc = api_perr_set(ctx, &pe, -EINVAL,
                          "a method name of [A-Za-z0-9_.:/]", "%s", shown);
        goto out;
    }

    /* params is taken out of req rather than copied: a body can be big */
    p = api_struct_get(req, "params");
    if (p && (p->type == API_ARRAY ||
              (info->version == API_JSONRPC_V2 && p->type == API_STRUCT))) {
        params = take_member(req, "params");
        if (params && params->type == API_STRUCT) {
            wrapped = api_array();
            if (api_array_append(wrapped, params) < 0)
                wrapped = NULL;     /* freed by the failed append */
            params = wrapped;
        }
    } else if (info->version == API_JSONRPC_V2 &&
               (!p || p->type == API_NIL)) {
        params = api_array();
    } else {
        rc = api_perr_set(ctx, &pe, -EINVAL,
                          info->version == API_JSONRPC_V1 ?
                              "\"params\", an array" :
                              "\"params\", an array, an object or null",
                          "%s", p ? what_is(p) : "no params");
        goto out;
    }
    name = strdup(method->u.str.s);
    if (!params || !name) {
        rc = api_perr_nomem(ctx, &pe);
        goto out;
    }
    *method_r = name;
    *params_r = params;
    name = NULL;
    params = NULL;

out:
    free(name);
    api_value_free(params);
    api_value_free(req);
    if (rc < 0 && failure_r)
        *failure_r = api_perr_failure(&pe, "JSONRPC_UNMARSHAL_FAILURE");
    return rc;
}

/* ---- responses (the client side) --------------------------------------- */

/* A failure envelope of code and the strings of data[from..]. */
static int failure_from(struct xt_ctx *ctx, struct api_perr *pe,
                        const struct api_value *code,
                        const struct api_value *data, size_t from,
                        struct api_value **env_r)
{
    struct api_value *desc;
    size_t i;
    int rc;

    if (!api_value_string(code))
        return api_perr_set(ctx, pe, -EINVAL, "an error code string",
                            "a %s", what_is(code));
    if (data && data->type != API_ARRAY)
        return api_perr_set(ctx, pe, -EINVAL, "error parameters in an array",
                            "a %s", what_is(data));
    for (i = from; i < api_value_count(data); i++) {
        if (!api_value_string(api_array_get(data, i)))
            return api_perr_set(ctx, pe, -EINVAL,
                                "error parameters as strings", "a %s",
                                what_is(api_array_get(data, i)));
    }
    desc = api_array();
    rc = api_array_append(desc, api_value_copy(code));
    for (i = from; i < api_value_count(data) && rc == 0; i++)
        rc = api_array_append(desc, api_value_copy(api_array_get(data, i)));
    *env_r = rc == 0 ? api_failure_of(desc) : NULL;
    if (rc < 0)
        api_value_free(desc);
    return *env_r ? 0 : api_perr_nomem(ctx, pe);
}

int api_json_parse_response(struct xt_ctx *ctx, const char *body,
                            size_t len, const struct api_limits *lim,
                            struct api_value **env_r)
{
    struct api_perr pe = { .proto = "JSON-RPC response" };
    const struct api_value *result, *error, *version;
    struct api_value *resp = NULL;
    int rc;

    *env_r = NULL;
    rc = parse_document(ctx, &pe, body, len, lim, &resp);
    if (rc < 0)
        goto out;
    if (resp->type != API_STRUCT) {
        rc = api_perr_set(ctx, &pe, -EINVAL, "a response object", "a %s",
                          what_is(resp));
        goto out;
    }
    version = api_struct_get(resp, "jsonrpc");
    result = api_struct_get(resp, "result");
    error = api_struct_get(resp, "error");
    if (version) {      /* 2.0: one of result and error */
        if (!api_value_string(version) ||
            strcmp(api_value_string(version), "2.0") != 0) {
            rc = api_perr_set(ctx, &pe, -EINVAL, "\"jsonrpc\": \"2.0\"",
                              "a %s", what_is(version));
        } else if (result && !error) {
            *env_r = api_success(api_value_copy(result));
            rc = *env_r ? 0 : api_perr_nomem(ctx, &pe);
        } else if (error && !result && error->type == API_STRUCT) {
            rc = failure_from(ctx, &pe, api_struct_get(error, "message"),
                              api_struct_get(error, "data"), 0, env_r);
        } else {
            rc = api_perr_set(ctx, &pe, -EINVAL,
                              "either \"result\" or an \"error\" object",
                              "something else");
        }
    } else {            /* 1.0: result and error, one of them null */
        if (result && error && error->type == API_NIL) {
            *env_r = api_success(api_value_copy(result));
            rc = *env_r ? 0 : api_perr_nomem(ctx, &pe);
        } else if (result && result->type == API_NIL && error &&
                   error->type == API_ARRAY && api_value_count(error)) {
            rc = failure_from(ctx, &pe, api_array_get(error, 0), error, 1,
                              env_r);
        } else {
            rc = api_perr_set(ctx, &pe, -EINVAL,
                              "\"result\" and \"error\", one of them null",
                              "something else");
        }
    }

out:
    api_value_free(resp);
    return rc;
}
