/*
 * test_json.c - JSON-RPC: round trips of every type, version 1.0 and 2.0
 * requests as XenAPI clients send them, exact responses (xapi's shapes),
 * and broken or hostile bodies, each refused with a clear error.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "../../tap.h"
#include "api_test.h"

struct parsed {
    int rc;
    char *method;
    struct api_value *params;
    struct api_json_reqinfo info;
    struct api_value *failure;
};

static void parsed_clear(struct parsed *p)
{
    free(p->method);
    api_value_free(p->params);
    api_value_free(p->failure);
    api_json_reqinfo_clear(&p->info);
    memset(p, 0, sizeof(*p));
}

static void parse(struct xt_ctx *ctx, const char *body, size_t len,
                  const struct api_limits *lim, struct parsed *p)
{
    memset(p, 0, sizeof(*p));
    xt_error_clear(ctx);
    p->rc = api_json_parse_call(ctx, body, len, lim, &p->method, &p->params,
                                &p->info, &p->failure);
}

static bool parse_ok(struct xt_ctx *ctx, const char *body,
                     const char *method, size_t nparams,
                     enum api_json_version version, struct parsed *p,
                     const char *name)
{
    parse(ctx, body, strlen(body), NULL, p);
    if (tap_ok(p->rc == 0 && p->method && strcmp(p->method, method) == 0 &&
               api_value_count(p->params) == nparams &&
               p->info.version == version && p->info.id && !p->failure,
               "%s", name))
        return true;
    tap_diag("  rc %d: %s", p->rc, ctx->err_msg);
    return false;
}

static void parse_bad(struct xt_ctx *ctx, const char *body, size_t len,
                      const struct api_limits *lim, int want_rc,
                      const char *frag, const char *name)
{
    struct parsed p;
    bool ok;

    parse(ctx, body, len, lim, &p);
    ok = p.rc == want_rc && !p.method && !p.params &&
         strstr(ctx->err_msg, frag) &&
         strstr(ctx->err_msg, "JSON-RPC request: expected ") &&
         api_failure_code(p.failure) &&
         strcmp(api_failure_code(p.failure),
                "JSONRPC_UNMARSHAL_FAILURE") == 0 &&
         api_value_count(api_struct_get(p.failure, "ErrorDescription")) == 3;
    if (!tap_ok(ok, "%s", name))
        tap_diag("  rc %d (want %d): %s", p.rc, want_rc, ctx->err_msg);
    parsed_clear(&p);
}

static void bad(struct xt_ctx *ctx, const char *body, int want_rc,
                const char *frag, const char *name)
{
    parse_bad(ctx, body, strlen(body), NULL, want_rc, frag, name);
}

/* A 2.0 call whose only parameter is the JSON text `param`. */
static void bad_param(struct xt_ctx *ctx, const char *param, int want_rc,
                      const char *frag, const char *name)
{
    char *body;

    if (asprintf(&body, "{\"jsonrpc\":\"2.0\",\"method\":\"VM.x\","
                        "\"params\":[%s],\"id\":1}", param) < 0)
        tap_bail("asprintf");
    bad(ctx, body, want_rc, frag, name);
    free(body);
}

static void test_round_trip(struct xt_ctx *ctx)
{
    struct api_value *params = sample_params(SAMPLE_NATIVE);
    struct api_value *want = sample_params(SAMPLE_JSON);
    struct api_value *id = must(api_string("req-7")), *env, *back = NULL;
    struct api_json_reqinfo info = { API_JSONRPC_V1, NULL };
    struct parsed p;
    char *body = NULL;
    size_t len;
    int rc;

    rc = api_json_format_call(ctx, API_JSONRPC_V2, "VM.test", params, id,
                              &body, &len);
    tap_ok(rc == 0 && body && len == strlen(body), "format a 2.0 call");
    parse(ctx, body, len, NULL, &p);
    tap_ok(p.rc == 0 && strcmp(p.method, "VM.test") == 0 &&
           p.info.version == API_JSONRPC_V2 &&
           api_value_equal(p.info.id, id), "parse it back, id kept");
    is_equal(ctx, p.params, want,
             "every type round-trips (int64s as JSON integers, datetimes "
             "as strings)");
    tap_ok(api_value_type(api_array_get(api_array_get(p.params, 6), 3)) ==
           API_DOUBLE, "2.0 stays a double");
    parsed_clear(&p);
    free(body);

    rc = api_json_format_call(ctx, API_JSONRPC_V1, "VM.test", params, id,
                              &body, &len);
    parse(ctx, body, len, NULL, &p);
    tap_ok(rc == 0 && p.rc == 0 && p.info.version == API_JSONRPC_V1 &&
           api_value_equal(p.params, want), "a 1.0 call round-trips");
    parsed_clear(&p);
    free(body);

    /* Responses, both versions, success and failure. */
    env = must(api_success(api_value_copy(params)));
    for (int v = 1; v <= 2; v++) {
        info.version = (enum api_json_version)v;
        info.id = id;
        rc = api_json_format_response(ctx, env, &info, &body, &len);
        rc = rc ? rc : api_json_parse_response(ctx, body, len, NULL, &back);
        tap_ok(rc == 0 && api_is_success(back) &&
               api_value_equal(api_struct_get(back, "Value"), want),
               "a %d.0 success response round-trips", v);
        free(body);
        api_value_free(back);
        back = NULL;
    }
    api_value_free(env);
    env = must(api_failure("HOST_IS_SLAVE", "10.0.0.1", NULL));
    for (int v = 1; v <= 2; v++) {
        info.version = (enum api_json_version)v;
        rc = api_json_format_response(ctx, env, &info, &body, &len);
        rc = rc ? rc : api_json_parse_response(ctx, body, len, NULL, &back);
        tap_ok(rc == 0 && api_value_equal(back, env),
               "a %d.0 failure response round-trips", v);
        free(body);
        api_value_free(back);
        back = NULL;
    }
    api_value_free(env);
    api_value_free(params);
    api_value_free(want);
    api_value_free(id);
}

static void test_xapi_requests(struct xt_ctx *ctx)
{
    static const char login2[] =
        "{\"jsonrpc\": \"2.0\", \"method\": \"session.login_with_password\","
        " \"params\": [\"root\", \"pa\\\"ss\"], \"id\": 0}";
    static const char login3_v1[] =
        "{\"method\":\"session.login_with_password\","
        "\"params\":[\"root\",\"pw\",\"2.4\"],\"id\":\"xyz\"}";
    static const char login4[] =
        "{\n  \"jsonrpc\": \"2.0\",\n  \"method\": "
        "\"session.login_with_password\",\n  \"params\": [\"root\", \"pw\","
        " \"1.0\", \"xm-pool-cli/0.1\"],\n  \"id\": 3\n}\n";
    static const char records[] =
        "{\"jsonrpc\":\"2.0\",\"method\":\"VM.get_all_records\","
        "\"params\":[\"OpaqueRef:c90cd28f-37ec-4dbf-88e6-f697ccb28b39\"],"
        "\"id\":\"a1\",\"extra\":true}";
    static const char set_ram[] =
        "{\"jsonrpc\":\"2.0\",\"method\":\"VM.set_memory_limits\","
        "\"params\":[\"OpaqueRef:s\",\"OpaqueRef:vm\",1073741824,"
        "\"2147483648\",-9223372036854775808],\"id\":9}";
    static const char obj_params[] =
        "{\"jsonrpc\":\"2.0\",\"method\":\"x.y\","
        "\"params\":{\"a\":1},\"id\":1}";
    static const char no_params[] =
        "{\"jsonrpc\":\"2.0\",\"method\":\"system.listMethods\",\"id\":1}";
    static const char null_params[] =
        "{\"jsonrpc\":\"2.0\",\"method\":\"system.listMethods\","
        "\"params\":null,\"id\":1}";
    struct parsed p;
    int64_t i;

    if (parse_ok(ctx, login2, "session.login_with_password", 2,
                 API_JSONRPC_V2, &p, "2.0 login_with_password, 2 params"))
        tap_is_str(api_value_string(api_array_get(p.params, 1)), "pa\"ss",
                   "  escaped password read");
    else
        tap_skip(1, "parse failed");
    parsed_clear(&p);
    if (parse_ok(ctx, login3_v1, "session.login_with_password", 3,
                 API_JSONRPC_V1, &p, "1.0 login_with_password, 3 params"))
        tap_is_str(api_value_string(p.info.id), "xyz", "  string id kept");
    else
        tap_skip(1, "parse failed");
    parsed_clear(&p);
    if (parse_ok(ctx, login4, "session.login_with_password", 4,
                 API_JSONRPC_V2, &p, "2.0 login_with_password, 4 params"))
        tap_ok(api_value_get_int64(p.info.id, &i) == 0 && i == 3,
               "  integer id kept");
    else
        tap_skip(1, "parse failed");
    parsed_clear(&p);
    parse_ok(ctx, records, "VM.get_all_records", 1, API_JSONRPC_V2, &p,
             "VM.get_all_records, unknown members ignored");
    parsed_clear(&p);
    if (parse_ok(ctx, set_ram, "VM.set_memory_limits", 5, API_JSONRPC_V2,
                 &p, "int64s as numbers and as strings"))
        tap_ok(api_value_get_int64(api_array_get(p.params, 2), &i) == 0 &&
               i == 1073741824 &&
               api_value_get_int64(api_array_get(p.params, 3), &i) == 0 &&
               i == 2147483648LL &&
               api_value_get_int64(api_array_get(p.params, 4), &i) == 0 &&
               i == INT64_MIN, "  all read as int64");
    else
        tap_skip(1, "parse failed");
    parsed_clear(&p);
    if (parse_ok(ctx, obj_params, "x.y", 1, API_JSONRPC_V2, &p,
                 "2.0 params as an object: one struct parameter"))
        tap_ok(api_value_type(api_array_get(p.params, 0)) == API_STRUCT,
               "  the struct");
    else
        tap_skip(1, "parse failed");
    parsed_clear(&p);
    parse_ok(ctx, no_params, "system.listMethods", 0, API_JSONRPC_V2, &p,
             "2.0 without params");
    parsed_clear(&p);
    parse_ok(ctx, null_params, "system.listMethods", 0, API_JSONRPC_V2, &p,
             "2.0 with params null");
    parsed_clear(&p);
}

static void test_responses(struct xt_ctx *ctx)
{
    struct api_json_reqinfo info = { API_JSONRPC_V2, NULL };
    struct api_value *arr = must(api_array()), *ok, *fail, *back = NULL;
    const char *text;
    char *out = NULL;
    size_t len;
    int rc;

    must_rc(api_array_append(arr, api_string("OpaqueRef:a")));
    must_rc(api_array_append(arr, api_int(4294967296LL)));
    must_rc(api_array_append(arr, api_double(2)));
    must_rc(api_array_append(arr, api_bool(false)));
    must_rc(api_array_append(arr, api_nil()));
    must_rc(api_array_append(arr, api_datetime("20240131T12:00:00Z")));
    must_rc(api_array_append(arr, api_string("\"\\/\b\f\n\r\t\x01\x7f")));
    ok = must(api_success(arr));
    fail = must(api_failure("SESSION_INVALID", "OpaqueRef:x", NULL));

    info.id = must(api_int(3));
    rc = api_json_format_response(ctx, ok, &info, &out, &len);
    tap_is_str(rc == 0 ? out : NULL,
               "{\"jsonrpc\":\"2.0\",\"result\":[\"OpaqueRef:a\",4294967296,"
               "2.0,false,null,\"20240131T12:00:00Z\","
               "\"\\\"\\\\/\\b\\f\\n\\r\\t\\u0001\x7f\"],\"id\":3}",
               "2.0 success, exact text");
    free(out);
    rc = api_json_format_response(ctx, fail, &info, &out, &len);
    tap_is_str(rc == 0 ? out : NULL,
               "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":1,"
               "\"message\":\"SESSION_INVALID\",\"data\":[\"OpaqueRef:x\"]},"
               "\"id\":3}", "2.0 failure, xapi's error object");
    free(out);
    api_json_reqinfo_clear(&info);

    info.version = API_JSONRPC_V1;
    info.id = must(api_string("xyz"));
    rc = api_json_format_response(ctx, fail, &info, &out, &len);
    tap_is_str(rc == 0 ? out : NULL,
               "{\"result\":null,\"error\":[\"SESSION_INVALID\","
               "\"OpaqueRef:x\"],\"id\":\"xyz\"}", "1.0 failure");
    free(out);
    api_value_free(ok);
    ok = must(api_success(api_void()));
    rc = api_json_format_response(ctx, ok, &info, &out, &len);
    tap_is_str(rc == 0 ? out : NULL,
               "{\"result\":\"\",\"error\":null,\"id\":\"xyz\"}",
               "1.0 success, void as \"\"");
    free(out);
    api_json_reqinfo_clear(&info);

    rc = api_json_format_response(ctx, fail, NULL, &out, &len);
    tap_ok(rc == 0 && strstr(out, "\"id\":null") &&
           strncmp(out, "{\"jsonrpc\":\"2.0\"", 16) == 0,
           "no request info: 2.0 with \"id\":null");
    free(out);
    xt_error_clear(ctx);
    tap_is_int(api_json_format_response(ctx, api_struct_get(fail, "Status"),
                                        NULL, &out, &len),
               -EINVAL, "a value that is no envelope is refused");

    text = "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":1,"
           "\"message\":\"TOO_BUSY\"},\"id\":1}";
    rc = api_json_parse_response(ctx, text, strlen(text), NULL, &back);
    is_failure(ctx, rc == 0 ? back : NULL, "TOO_BUSY", 0, NULL, NULL,
               "a 2.0 error without data read back");
    api_value_free(back);
    xt_error_clear(ctx);
    text = "{\"result\":1,\"error\":[\"X\"],\"id\":1}";
    rc = api_json_parse_response(ctx, text, strlen(text), NULL, &back);
    tap_ok(rc == -EINVAL && !back, "a 1.0 response with both refused");
    api_value_free(ok);
    api_value_free(fail);
}

static void test_output_sanitised(struct xt_ctx *ctx)
{
    struct api_value *params = must(api_array()), *id = must(api_int(1));
    struct parsed p;
    char *out = NULL;
    size_t len;
    int rc;

    must_rc(api_array_append(params, api_string("a\xff" "b\xc3" "c\xed\xa0"
                                                "\x80" "d\x1f")));
    rc = api_json_format_call(ctx, API_JSONRPC_V2, "x.y", params, id, &out,
                              &len);
    parse(ctx, out, len, NULL, &p);
    tap_ok(rc == 0 && p.rc == 0, "bad UTF-8 and controls: valid JSON out");
    tap_is_str(api_value_string(api_array_get(p.params, 0)),
               "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\xef\xbf\xbd\xef\xbf\xbd"
               "\xef\xbf\xbd" "d\x1f", "  bad bytes became U+FFFD");
    parsed_clear(&p);
    free(out);
    xt_error_clear(ctx);
    tap_is_int(api_json_format_call(ctx, API_JSONRPC_V2, "x.y", params,
                                    NULL, &out, &len), -EINVAL,
               "a call needs an id");
    api_value_free(params);
    api_value_free(id);
}

static void test_malformed(struct xt_ctx *ctx)
{
    static const char good[] =
        "{\"jsonrpc\":\"2.0\",\"method\":\"VM.start\",\"params\":"
        "[\"OpaqueRef:s\",{\"a\":[1,2.5,true,null,\"x\\u00e9\"]}],\"id\":7}";
    const char *text;
    struct parsed p;
    size_t n, refused = 0;

    bad(ctx, "", -EINVAL, "the end of the body", "empty body");
    bad(ctx, "   ", -EINVAL, "expected a value", "blank body");
    bad(ctx, "{\"method\":\"a\",\"params\":[],\"id\":1} x", -EINVAL,
        "the end of the body", "trailing garbage");
    bad(ctx, "[1,2]", -EINVAL, "a request object", "not an object");
    bad(ctx, "{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"params\":[]}",
        -EINVAL, "\"id\"", "no id (a notification)");
    bad(ctx, "{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"id\":null}", -EINVAL,
        "\"id\"", "null id");
    bad(ctx, "{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"id\":true}", -EINVAL,
        "\"id\"", "boolean id");
    bad(ctx, "{\"jsonrpc\":\"1.0\",\"method\":\"a\",\"id\":1}", -EINVAL,
        "\"jsonrpc\": \"2.0\"", "jsonrpc other than 2.0");
    bad(ctx, "{\"jsonrpc\":\"2.0\",\"params\":[],\"id\":1}", -EINVAL,
        "\"method\"", "no method");
    bad(ctx, "{\"jsonrpc\":\"2.0\",\"method\":7,\"id\":1}", -EINVAL,
        "\"method\"", "method not a string");
    bad(ctx, "{\"jsonrpc\":\"2.0\",\"method\":\"a b\",\"id\":1}", -EINVAL,
        "method name", "bad method name");
    bad(ctx, "{\"method\":\"a\",\"id\":1}", -EINVAL, "\"params\"",
        "1.0 without params");
    bad(ctx, "{\"method\":\"a\",\"params\":{},\"id\":1}", -EINVAL,
        "\"params\"", "1.0 with object params");
    bad(ctx, "{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"params\":\"x\","
             "\"id\":1}", -EINVAL, "\"params\"", "params a string");
    bad(ctx, "{\"a\":1,}", -EINVAL, "a string key", "trailing comma");
    bad(ctx, "{'method':'a'}", -EINVAL, "a string key", "single quotes");
    bad(ctx, "/* c */ {}", -EINVAL, "a value", "a comment");
    bad(ctx, "\xef\xbb\xbf{}", -EINVAL, "byte 0xef", "a byte order mark");
    bad(ctx, "{\"a\" 1}", -EINVAL, "':'", "missing colon");
    bad(ctx, "{\"a\":1 \"b\":2}", -EINVAL, "',' or '}'", "missing comma");
    bad(ctx, "{\"method\":\"a", -EINVAL, "closing '\"'", "open string");

    /* Parse the info as far as it goes: the id is there for the answer. */
    text = "{\"jsonrpc\":\"2.0\",\"method\":\"a b\",\"id\":42}";
    parse(ctx, text, strlen(text), NULL, &p);
    tap_ok(p.rc == -EINVAL && p.info.version == API_JSONRPC_V2 &&
           p.info.id && api_value_type(p.info.id) == API_INT,
           "a failed request still gives its id for the answer");
    parsed_clear(&p);

    for (n = 0; n < strlen(good); n++) {
        parse(ctx, good, n, NULL, &p);
        if (p.rc < 0 && !p.method && !p.params && p.failure)
            refused++;
        parsed_clear(&p);
    }
    tap_is_u64(refused, strlen(good), "all truncations of a request refused");
}

static void test_bad_values(struct xt_ctx *ctx)
{
    bad_param(ctx, "9223372036854775808", -ERANGE, "int64 range",
              "integer above int64 (json-c would clamp)");
    bad_param(ctx, "-9223372036854775809", -ERANGE, "int64 range",
              "integer below int64");
    bad_param(ctx, "123456789012345678901234567890", -ERANGE, "int64 range",
              "a 30-digit integer");
    bad_param(ctx, "1e400", -ERANGE, "range of a double", "double overflow");
    bad_param(ctx, "01", -EINVAL, "',' or ']'", "leading zero");
    bad_param(ctx, "1.", -EINVAL, "a digit after '.'", "\"1.\"");
    bad_param(ctx, ".5", -EINVAL, "a value", "\".5\"");
    bad_param(ctx, "-", -EINVAL, "a digit", "a lone minus");
    bad_param(ctx, "+1", -EINVAL, "a value", "a plus sign");
    bad_param(ctx, "1e", -EINVAL, "exponent", "empty exponent");
    bad_param(ctx, "NaN", -EINVAL, "a value", "NaN");
    bad_param(ctx, "Infinity", -EINVAL, "a value", "Infinity");
    bad_param(ctx, "tru", -EINVAL, "a value", "truncated literal");
    bad_param(ctx, "\"a\\u0000b\"", -EINVAL, "no NUL", "\\u0000");
    bad_param(ctx, "\"\\ud800\"", -EINVAL, "low surrogate",
              "lone high surrogate");
    bad_param(ctx, "\"\\udc00\"", -EINVAL, "high surrogate",
              "lone low surrogate");
    bad_param(ctx, "\"\\ud800\\u0041\"", -EINVAL, "low surrogate",
              "high surrogate then no low one");
    bad_param(ctx, "\"\\x41\"", -EINVAL, "after '\\'", "bad escape");
    bad_param(ctx, "\"\\u12g4\"", -EINVAL, "hexadecimal", "bad \\u digits");
    bad_param(ctx, "\"a\tb\"", -EINVAL, "control character",
              "raw tab in a string");
    bad_param(ctx, "\"\xff\"", -EINVAL, "UTF-8", "invalid UTF-8");
    bad_param(ctx, "\"\xc0\xaf\"", -EINVAL, "UTF-8", "overlong UTF-8");
    bad_param(ctx, "\"\xed\xa0\x80\"", -EINVAL, "UTF-8",
              "a surrogate encoded in UTF-8");
    bad_param(ctx, "\"\xf4\x90\x80\x80\"", -EINVAL, "UTF-8",
              "a code point above U+10FFFF");
    bad_param(ctx, "{\"a\":1,\"a\":2}", -EINVAL, "unique keys",
              "duplicate keys (json-c keeps the last)");
}

static void lim_bad(struct xt_ctx *ctx, const char *body,
                    const struct api_limits *lim, int want_rc,
                    const char *frag, const char *name)
{
    parse_bad(ctx, body, strlen(body), lim, want_rc, frag, name);
}

static void test_limits(struct xt_ctx *ctx)
{
    static const char head[] = "{\"jsonrpc\":\"2.0\",\"method\":\"a\","
                               "\"id\":1,\"params\":[";
    const size_t huge = 100u << 20;
    struct api_limits lim = { 0 };
    struct timespec t0, t1;
    struct parsed p;
    size_t i, depth;
    char *body, *q;
    double secs;

    body = malloc(huge);
    if (!body)
        tap_bail("no memory for the 100 MiB body");
    memset(body, ' ', huge);
    body[0] = '{';
    clock_gettime(CLOCK_MONOTONIC, &t0);
    parse_bad(ctx, body, huge, NULL, -EMSGSIZE, "at most 16777216 bytes",
              "100 MiB body refused by the size limit");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = (double)(t1.tv_sec - t0.tv_sec) +
           (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    tap_ok(secs < 0.1, "  before parsing (%.6f s)", secs);
    free(body);

    depth = 10000;
    body = malloc(2 * depth + 256);
    if (!body)
        tap_bail("no memory");
    q = body + sprintf(body, "%s", head);
    for (i = 0; i < depth; i++)
        *q++ = '[';
    for (i = 0; i < depth; i++)
        *q++ = ']';
    strcpy(q, "]}");
    parse_bad(ctx, body, strlen(body), NULL, -E2BIG, "nested at most 64",
              "nesting 10 000 deep refused");
    for (depth = 63; depth <= 64; depth++) {
        q = body + sprintf(body, "%s", head);
        for (i = 0; i < depth; i++)
            *q++ = '[';
        for (i = 0; i < depth; i++)
            *q++ = ']';
        strcpy(q, "]}");
        parse(ctx, body, strlen(body), NULL, &p);
        if (depth == 63)
            tap_ok(p.rc == 0, "63 arrays in params: 64 levels, ok");
        else
            tap_ok(p.rc == -E2BIG, "64 arrays in params: 65 levels, refused");
        parsed_clear(&p);
    }
    /* Nested objects too. */
    q = body + sprintf(body, "%s", head);
    for (i = 0; i < 3000; i++)
        q += sprintf(q, "{\"a\":");
    strcpy(q, "1");
    parse_bad(ctx, body, strlen(body), NULL, -E2BIG, "nested at most 64",
              "3000 nested objects refused");
    free(body);

    lim.max_elements = 5;
    lim_bad(ctx, "{\"method\":\"a\",\"id\":1,\"params\":[1,2,3]}", &lim,
            -E2BIG, "at most 5 values", "value count limit");
    lim.max_elements = 0;
    lim.max_string = 4;
    lim_bad(ctx, "{\"method\":\"a\",\"id\":1,\"params\":[\"12345\"]}",
            &lim, -E2BIG, "at most 4 bytes", "string length limit");
    lim_bad(ctx, "{\"method\":\"a\",\"id\":1,\"params\":[\"\\u00e9\\u00e9"
                 "\\u00e9\"]}", &lim, -E2BIG, "at most 4 bytes",
            "string length limit counts decoded bytes");
    lim.max_string = 0;
    lim.max_body = 10;
    lim_bad(ctx, "{\"method\":\"a\",\"id\":1,\"params\":[]}", &lim,
            -EMSGSIZE, "at most 10 bytes", "body limit set by the caller");
}

int main(void)
{
    struct xt_ctx *ctx = xt_ctx_new("test_json");

    if (!ctx)
        tap_bail("no context");
    ctx->quiet_errors = true;
    test_round_trip(ctx);
    test_xapi_requests(ctx);
    test_responses(ctx);
    test_output_sanitised(ctx);
    test_malformed(ctx);
    test_bad_values(ctx);
    test_limits(ctx);
    xt_ctx_free(ctx);
    return tap_done();
}
