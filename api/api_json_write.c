/*
 * api_json_write.c - JSON-RPC output: responses in xapi's shapes for both
 * versions (the daemon) and calls (the client side).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "api_internal.h"

static void add_string(struct api_buf *b, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, run = 0, n;
    uint32_t cp;

    api_buf_addc(b, '"');
    while (i < len) {
        unsigned char c = p[i];

        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++;
            run++;
            continue;
        }
        api_buf_add(b, (const char *)p + i - run, run);
        run = 0;
        if (c >= 0x80) {
            n = api_utf8_decode(p + i, len - i, &cp);
            if (n == 0) {
                api_buf_add_utf8(b, 0xfffd);
                i++;
            } else {
                api_buf_add(b, (const char *)p + i, n);
                i += n;
            }
            continue;
        }
        i++;
        switch (c) {
        case '"':
            api_buf_adds(b, "\\\"");
            break;
        case '\\':
            api_buf_adds(b, "\\\\");
            break;
        case '\n':
            api_buf_adds(b, "\\n");
            break;
        case '\r':
            api_buf_adds(b, "\\r");
            break;
        case '\t':
            api_buf_adds(b, "\\t");
            break;
        case '\b':
            api_buf_adds(b, "\\b");
            break;
        case '\f':
            api_buf_adds(b, "\\f");
            break;
        default:
            api_buf_addf(b, "\\u%04x", c);
        }
    }
    api_buf_add(b, (const char *)p + i - run, run);
    api_buf_addc(b, '"');
}

static int add_value(struct api_buf *b, const struct api_value *v,
                     unsigned depth)
{
    char num[32];
    size_t i;
    int rc = 0;

    if (depth > API_FORMAT_MAX_DEPTH)
        return -EINVAL;
    switch (v->type) {
    case API_NIL:
        api_buf_adds(b, "null");
        break;
    case API_STRING:
    case API_DATETIME:
        add_string(b, v->u.str.s, v->u.str.len);
        break;
    case API_INT:
        api_buf_addf(b, "%" PRId64, v->u.i);
        break;
    case API_DOUBLE:
        api_format_double(v->u.d, true, num);
        api_buf_adds(b, num);
        break;
    case API_BOOL:
        api_buf_adds(b, v->u.b ? "true" : "false");
        break;
    case API_ARRAY:
        api_buf_addc(b, '[');
        for (i = 0; i < v->u.arr.n && rc == 0; i++) {
            if (i)
                api_buf_addc(b, ',');
            rc = add_value(b, v->u.arr.v[i], depth + 1);
        }
        api_buf_addc(b, ']');
        break;
    case API_STRUCT:
        api_buf_addc(b, '{');
        for (i = 0; i < v->u.st.n && rc == 0; i++) {
            if (i)
                api_buf_addc(b, ',');
            add_string(b, v->u.st.m[i].key, strlen(v->u.st.m[i].key));
            api_buf_addc(b, ':');
            rc = add_value(b, v->u.st.m[i].val, depth + 1);
        }
        api_buf_addc(b, '}');
        break;
    }
    return rc;
}

/* Appends the elements of arr from index `from`, comma-separated. */
static int add_elements(struct api_buf *b, const struct api_value *arr,
                        size_t from)
{
    size_t i;
    int rc = 0;

    for (i = from; i < arr->u.arr.n && rc == 0; i++) {
        if (i > from)
            api_buf_addc(b, ',');
        rc = add_value(b, arr->u.arr.v[i], 1);
    }
    return rc;
}

int api_json_format_response(struct xt_ctx *ctx, const struct api_value *env,
                             const struct api_json_reqinfo *info,
                             char **out_r, size_t *len_r)
{
    const struct api_value *value = NULL, *desc = NULL, *id;
    enum api_json_version version;
    struct api_buf b = { 0 };
    int rc = 0;

    *out_r = NULL;
    *len_r = 0;
    if (api_is_success(env))
        value = api_struct_get(env, "Value");
    else if (api_failure_code(env))
        desc = api_struct_get(env, "ErrorDescription");
    else
        return xt_error(ctx, -EINVAL,
                        "JSON-RPC response: not a XenAPI envelope");
    version = info ? info->version : API_JSONRPC_V2;
    id = info ? info->id : NULL;

    api_buf_addc(&b, '{');
    if (version == API_JSONRPC_V1) {
        api_buf_adds(&b, "\"result\":");
        if (value) {
            rc = add_value(&b, value, 1);
            api_buf_adds(&b, ",\"error\":null");
        } else {
            api_buf_adds(&b, "null,\"error\":[");
            rc = add_elements(&b, desc, 0);
            api_buf_addc(&b, ']');
        }
    } else {
        api_buf_adds(&b, "\"jsonrpc\":\"2.0\",");
        if (value) {
            api_buf_adds(&b, "\"result\":");
            rc = add_value(&b, value, 1);
        } else {
            /* xapi: code is unused but must not be 0 for some clients */
            api_buf_adds(&b, "\"error\":{\"code\":1,\"message\":");
            rc = add_value(&b, desc->u.arr.v[0], 1);
            api_buf_adds(&b, ",\"data\":[");
            if (rc == 0)
                rc = add_elements(&b, desc, 1);
            api_buf_adds(&b, "]}");
        }
    }
    api_buf_adds(&b, ",\"id\":");
    if (!id)
        api_buf_adds(&b, "null");
    else if (rc == 0)
        rc = add_value(&b, id, 1);
    api_buf_addc(&b, '}');
    return api_buf_finish_report(ctx, &b, rc, "JSON-RPC response", out_r,
                                 len_r);
}

int api_json_format_call(struct xt_ctx *ctx, enum api_json_version version,
                         const char *method, const struct api_value *params,
                         const struct api_value *id,
                         char **out_r, size_t *len_r)
{
    struct api_buf b = { 0 };
    int rc;

    *out_r = NULL;
    *len_r = 0;
    if (!method || !api_method_name_valid(method, strlen(method)))
        return xt_error(ctx, -EINVAL, "JSON-RPC call: bad method name");
    if (!params || params->type != API_ARRAY)
        return xt_error(ctx, -EINVAL, "JSON-RPC call: params not an array");
    if (!id || (id->type != API_INT && id->type != API_STRING))
        return xt_error(ctx, -EINVAL,
                        "JSON-RPC call: id not a string or an integer");
    api_buf_adds(&b, version == API_JSONRPC_V1 ? "{\"method\":"
                                               : "{\"jsonrpc\":\"2.0\","
                                                 "\"method\":");
    add_string(&b, method, strlen(method));
    api_buf_adds(&b, ",\"params\":");
    rc = add_value(&b, params, 1);
    api_buf_adds(&b, ",\"id\":");
    if (rc == 0)
        rc = add_value(&b, id, 1);
    api_buf_addc(&b, '}');
    return api_buf_finish_report(ctx, &b, rc, "JSON-RPC call", out_r,
                                 len_r);
}
