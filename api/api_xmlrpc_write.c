/*
 * api_xmlrpc_write.c - XML-RPC output: responses (the daemon) and calls
 * (the client side).  Strings and int64s go out as bare text, as xapi
 * writes them; see api.h and docs/specs/api-wire.md.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "api_internal.h"

/* Appends s escaped for XML text (see api.h for the replacements). */
static void add_escaped(struct api_buf *b, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, run = 0, n;
    uint32_t cp;

    while (i < len) {
        unsigned char c = p[i];

        if (c >= 0x20 && c < 0x80 && c != '<' && c != '>' && c != '&' &&
            c != '"') {
            i++;
            run++;
            continue;
        }
        api_buf_add(b, (const char *)p + i - run, run);
        run = 0;
        n = api_utf8_decode(p + i, len - i, &cp);
        if (n == 0) {
            api_buf_add_utf8(b, 0xfffd);
            i++;
            continue;
        }
        i += n;
        switch (cp) {
        case '<':
            api_buf_adds(b, "&lt;");
            break;
        case '>':
            api_buf_adds(b, "&gt;");
            break;
        case '&':
            api_buf_adds(b, "&amp;");
            break;
        case '"':
            api_buf_adds(b, "&quot;");
            break;
        case '\r':
            api_buf_adds(b, "&#13;");   /* a raw CR would read back as LF */
            break;
        case '\t':
        case '\n':
            api_buf_addc(b, (char)cp);
            break;
        default:
            if (cp < 0x20 || cp == 0xfffe || cp == 0xffff)
                api_buf_add_utf8(b, 0xfffd);
            else
                api_buf_add(b, (const char *)p + i - n, n);
        }
    }
    api_buf_add(b, (const char *)p + i - run, run);
}

static int add_value(struct api_buf *b, const struct api_value *v,
                     unsigned depth)
{
    char num[32];
    size_t i;
    int rc = 0;

    if (depth > API_FORMAT_MAX_DEPTH)
        return -EINVAL;
    api_buf_adds(b, "<value>");
    switch (v->type) {
    case API_NIL:
        api_buf_adds(b, "<nil/>");
        break;
    case API_STRING:
        add_escaped(b, v->u.str.s, v->u.str.len);
        break;
    case API_INT:
        api_buf_addf(b, "%" PRId64, v->u.i);
        break;
    case API_DOUBLE:
        api_format_double(v->u.d, false, num);
        api_buf_addf(b, "<double>%s</double>", num);
        break;
    case API_BOOL:
        api_buf_adds(b, v->u.b ? "<boolean>1</boolean>"
                               : "<boolean>0</boolean>");
        break;
    case API_DATETIME:
        api_buf_adds(b, "<dateTime.iso8601>");
        add_escaped(b, v->u.str.s, v->u.str.len);
        api_buf_adds(b, "</dateTime.iso8601>");
        break;
    case API_ARRAY:
        api_buf_adds(b, "<array><data>");
        for (i = 0; i < v->u.arr.n && rc == 0; i++)
            rc = add_value(b, v->u.arr.v[i], depth + 1);
        api_buf_adds(b, "</data></array>");
        break;
    case API_STRUCT:
        api_buf_adds(b, "<struct>");
        for (i = 0; i < v->u.st.n && rc == 0; i++) {
            api_buf_adds(b, "<member><name>");
            add_escaped(b, v->u.st.m[i].key, strlen(v->u.st.m[i].key));
            api_buf_adds(b, "</name>");
            rc = add_value(b, v->u.st.m[i].val, depth + 1);
            api_buf_adds(b, "</member>");
        }
        api_buf_adds(b, "</struct>");
        break;
    }
    api_buf_adds(b, "</value>");
    return rc;
}

int api_xmlrpc_format_response(struct xt_ctx *ctx, const struct api_value *v,
                               char **out_r, size_t *len_r)
{
    struct api_buf b = { 0 };
    int rc;

    if (!v) {
        *out_r = NULL;
        *len_r = 0;
        return xt_error(ctx, -EINVAL, "XML-RPC response: no value");
    }
    api_buf_adds(&b, "<?xml version=\"1.0\"?>"
                     "<methodResponse><params><param>");
    rc = add_value(&b, v, 0);
    api_buf_adds(&b, "</param></params></methodResponse>\n");
    return api_buf_finish_report(ctx, &b, rc, "XML-RPC response", out_r,
                                 len_r);
}

int api_xmlrpc_format_value(struct xt_ctx *ctx, const struct api_value *v,
                            char **out_r, size_t *len_r)
{
    struct api_buf b = { 0 };
    int rc;

    if (!v) {
        *out_r = NULL;
        *len_r = 0;
        return xt_error(ctx, -EINVAL, "XML-RPC value: no value");
    }
    rc = add_value(&b, v, 0);
    return api_buf_finish_report(ctx, &b, rc, "XML-RPC value", out_r,
                                 len_r);
}

int api_xmlrpc_format_call(struct xt_ctx *ctx, const char *method,
                           const struct api_value *params,
                           char **out_r, size_t *len_r)
{
    struct api_buf b = { 0 };
    size_t i;
    int rc = 0;

    *out_r = NULL;
    *len_r = 0;
    if (!method || !api_method_name_valid(method, strlen(method)))
        return xt_error(ctx, -EINVAL, "XML-RPC call: bad method name");
    if (!params || params->type != API_ARRAY)
        return xt_error(ctx, -EINVAL, "XML-RPC call: params not an array");
    api_buf_adds(&b, "<?xml version=\"1.0\"?>\n<methodCall><methodName>");
    api_buf_adds(&b, method);
    api_buf_adds(&b, "</methodName><params>");
    for (i = 0; i < params->u.arr.n && rc == 0; i++) {
        api_buf_adds(&b, "<param>");
        rc = add_value(&b, params->u.arr.v[i], 1);
        api_buf_adds(&b, "</param>");
    }
    api_buf_adds(&b, "</params></methodCall>\n");
    return api_buf_finish_report(ctx, &b, rc, "XML-RPC call", out_r,
                                 len_r);
}
