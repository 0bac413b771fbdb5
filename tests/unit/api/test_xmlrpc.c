/*
 * test_xmlrpc.c - XML-RPC: round trips of every type, requests as XenAPI
 * clients send them, exact responses, and hostile or broken bodies, each
 * refused with a clear error (run under ASan/UBSan for "no crash, no
 * leak").
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "../../tap.h"
#include "api_test.h"

/* Parses body as a call expecting success; the params, or NULL. */
static struct api_value *parse_ok(struct xt_ctx *ctx, const char *body,
                                  const char *want_method, const char *name)
{
    struct api_value *params = NULL, *failure = NULL;
    char *method = NULL;
    int rc;

    rc = api_xmlrpc_parse_call(ctx, body, strlen(body), NULL, &method,
                               &params, &failure);
    if (!tap_ok(rc == 0 && method && strcmp(method, want_method) == 0 &&
                params && !failure, "%s", name))
        tap_diag("  rc %d: %s", rc, ctx->err_msg);
    free(method);
    api_value_free(failure);
    return params;
}

/*
 * Parses body expecting rc; checks that the error names `frag`, that the
 * failure envelope is XMLRPC_UNMARSHAL_FAILURE [expected, received] and
 * that nothing was handed out.
 */
static void parse_bad(struct xt_ctx *ctx, const char *body, size_t len,
                      const struct api_limits *lim, int want_rc,
                      const char *frag, const char *name)
{
    struct api_value *params = NULL, *failure = NULL;
    char *method = (char *)"untouched";
    bool ok;
    int rc;

    xt_error_clear(ctx);
    rc = api_xmlrpc_parse_call(ctx, body, len, lim, &method, &params,
                               &failure);
    ok = rc == want_rc && !method && !params &&
         strstr(ctx->err_msg, frag) &&
         strstr(ctx->err_msg, "XML-RPC request: expected ") &&
         api_failure_code(failure) &&
         strcmp(api_failure_code(failure), "XMLRPC_UNMARSHAL_FAILURE") == 0 &&
         api_value_count(api_struct_get(failure, "ErrorDescription")) == 3;
    if (!tap_ok(ok, "%s", name))
        tap_diag("  rc %d (want %d): %s", rc, want_rc, ctx->err_msg);
    api_value_free(failure);
}

static void bad(struct xt_ctx *ctx, const char *body, int want_rc,
                const char *frag, const char *name)
{
    parse_bad(ctx, body, strlen(body), NULL, want_rc, frag, name);
}

/* A call whose only parameter is `value` (the inside of <value>). */
static char *call_with(const char *value)
{
    char *s;

    if (asprintf(&s, "<?xml version=\"1.0\"?><methodCall><methodName>"
                     "VM.set_memory</methodName><params><param><value>%s"
                     "</value></param></params></methodCall>", value) < 0)
        tap_bail("asprintf");
    return s;
}

static void bad_value(struct xt_ctx *ctx, const char *value, int want_rc,
                      const char *frag, const char *name)
{
    char *body = call_with(value);

    bad(ctx, body, want_rc, frag, name);
    free(body);
}

/* The single parameter of a call with `value`, or NULL. */
static struct api_value *one_value(struct xt_ctx *ctx, const char *value,
                                   const char *name)
{
    struct api_value *params, *v = NULL;
    char *body = call_with(value);

    params = parse_ok(ctx, body, "VM.set_memory", name);
    if (params && api_value_count(params) == 1)
        v = api_value_copy(api_array_get(params, 0));
    api_value_free(params);
    free(body);
    return v;
}

static void test_round_trip(struct xt_ctx *ctx)
{
    struct api_value *params = sample_params(SAMPLE_NATIVE);
    struct api_value *want = sample_params(SAMPLE_XMLRPC);
    struct api_value *got = NULL, *env, *back = NULL;
    char *body = NULL, *method = NULL;
    size_t len;
    int64_t i;
    int rc;

    rc = api_xmlrpc_format_call(ctx, "VM.test", params, &body, &len);
    tap_ok(rc == 0 && body && len == strlen(body), "format a call");
    rc = api_xmlrpc_parse_call(ctx, body, len, NULL, &method, &got, NULL);
    tap_ok(rc == 0 && method && strcmp(method, "VM.test") == 0,
           "parse it back");
    is_equal(ctx, got, want, "every type round-trips (int64s as strings)");
    tap_ok(api_value_get_int64(api_array_get(api_array_get(got, 5), 7),
                               &i) == 0 && i == INT64_MIN,
           "an int64 read back from its string");
    free(body);
    free(method);
    api_value_free(got);

    /* The response side. */
    env = api_success(api_value_copy(params));
    rc = api_xmlrpc_format_response(ctx, env, &body, &len);
    tap_ok(rc == 0 && body, "format a response");
    rc = api_xmlrpc_parse_response(ctx, body, len, NULL, &back);
    tap_ok(rc == 0 && api_is_success(back), "parse the response back");
    is_equal(ctx, api_struct_get(back, "Value"), want,
             "the response's Value round-trips");
    free(body);
    api_value_free(env);
    api_value_free(back);
    api_value_free(params);
    api_value_free(want);
}

static void test_typed_values(struct xt_ctx *ctx)
{
    static const struct {
        const char *xml;
        enum api_type type;
        const char *text;       /* string form, or NULL */
        int64_t i;
    } cases[] = {
        { "<int>42</int>", API_INT, NULL, 42 },
        { "<i4>-2147483648</i4>", API_INT, NULL, INT32_MIN },
        { "<i8>9223372036854775807</i8>", API_INT, NULL, INT64_MAX },
        { "<int> +7 </int>", API_INT, NULL, 7 },
        { "<int>-9223372036854775808</int>", API_INT, NULL, INT64_MIN },
        { "4294967296", API_STRING, "4294967296", 0 },
        { "", API_STRING, "", 0 },
        { "<string/>", API_STRING, "", 0 },
        { "<string>  a  </string>", API_STRING, "  a  ", 0 },
        { "a<!-- note -->b", API_STRING, "ab", 0 },
        { "<string><![CDATA[<raw> & ]]></string>", API_STRING,
          "<raw> & ", 0 },
        { "&lt;&amp;&gt;&#233;&#x1F600;", API_STRING,
          "<&>\xc3\xa9\xf0\x9f\x98\x80", 0 },
        { "<dateTime.iso8601>20240131T12:00:00Z</dateTime.iso8601>",
          API_DATETIME, "20240131T12:00:00Z", 0 },
        { "<boolean>1</boolean>", API_BOOL, NULL, 1 },
        { "<boolean>0</boolean>", API_BOOL, NULL, 0 },
        { "<nil/>", API_NIL, NULL, 0 },
        { " <!-- c --> <nil/> ", API_NIL, NULL, 0 },
        { "<array/>", API_ARRAY, NULL, 0 },
        { "<array><data/></array>", API_ARRAY, NULL, 0 },
        { "<struct/>", API_STRUCT, NULL, 0 },
    };
    struct api_value *v;
    int64_t i;
    bool b;
    size_t k;

    for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        v = one_value(ctx, cases[k].xml, cases[k].xml);
        if (!v) {
            tap_skip(1, "parse failed");
            continue;
        }
        if (cases[k].type == API_INT)
            tap_ok(api_value_type(v) == API_INT &&
                   api_value_get_int64(v, &i) == 0 && i == cases[k].i,
                   "  is int %lld", (long long)cases[k].i);
        else if (cases[k].type == API_BOOL)
            tap_ok(api_value_get_bool(v, &b) == 0 && b == !!cases[k].i,
                   "  is bool %d", (int)cases[k].i);
        else if (cases[k].text)
            tap_ok(api_value_type(v) == cases[k].type &&
                   strcmp(api_value_string(v), cases[k].text) == 0,
                   "  is %s \"%s\"", api_type_name(cases[k].type),
                   cases[k].text);
        else
            tap_ok(api_value_type(v) == cases[k].type &&
                   api_value_count(v) == 0, "  is an empty %s",
                   api_type_name(cases[k].type));
        api_value_free(v);
    }
    v = one_value(ctx, "<double>-1.5e3</double>", "<double>-1.5e3</double>");
    tap_ok(v && api_value_type(v) == API_DOUBLE, "  is a double");
    api_value_free(v);
}

/* Requests as XenAPI clients (Python's xmlrpc.client, xe) send them. */
static void test_xapi_requests(struct xt_ctx *ctx)
{
    static const char login2[] =
        "<?xml version='1.0'?>\n"
        "<methodCall>\n"
        "<methodName>session.login_with_password</methodName>\n"
        "<params>\n"
        "<param>\n<value><string>root</string></value>\n</param>\n"
        "<param>\n<value><string>s3cr&lt;t</string></value>\n</param>\n"
        "</params>\n"
        "</methodCall>\n";
    static const char login4[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
        "<methodCall><methodName>session.login_with_password</methodName>"
        "<params><param><value>root</value></param>"
        "<param><value>pw</value></param>"
        "<param><value>1.0</value></param>"
        "<param><value>xm-pool-cli/0.1</value></param>"
        "</params></methodCall>";
    static const char login3[] =
        "<methodCall><methodName>session.login_with_password</methodName>"
        "<params><param><value>root</value></param><param><value/></param>"
        "<param><value><string>2.4</string></value></param></params>"
        "</methodCall>";
    static const char records[] =
        "<?xml version='1.0'?>\n"
        "<methodCall>\n"
        "  <methodName>VM.get_all_records</methodName>\n"
        "  <params>\n"
        "    <param>\n"
        "      <value>OpaqueRef:c90cd28f-37ec-4dbf-88e6-f697ccb28b39</value>\n"
        "    </param>\n"
        "  </params>\n"
        "</methodCall>\n";
    static const char set_ram[] =
        "<methodCall><methodName>Async.VM.set_memory_limits</methodName>"
        "<params><param><value>OpaqueRef:s</value></param>"
        "<param><value>OpaqueRef:vm</value></param>"
        "<param><value>1073741824</value></param>"
        "<param><value><i8>2147483648</i8></value></param>"
        "<param><value><struct>\n"
        "  <member><name>key</name><value>v</value></member>\n"
        "  <member>\n    <name>n</name>\n    <value><int>3</int></value>\n"
        "  </member>\n"
        "</struct></value></param></params></methodCall>";
    static const char no_params[] =
        "<methodCall><methodName>system.listMethods</methodName>"
        "</methodCall>";
    struct api_value *p;
    int64_t i;

    p = parse_ok(ctx, login2, "session.login_with_password",
                 "login_with_password, 2 params (Python xmlrpc.client)");
    tap_ok(api_value_count(p) == 2 &&
           strcmp(api_value_string(api_array_get(p, 1)), "s3cr<t") == 0,
           "  user and password read");
    api_value_free(p);
    p = parse_ok(ctx, login3, "session.login_with_password",
                 "login_with_password, 3 params");
    tap_ok(api_value_count(p) == 3 &&
           strcmp(api_value_string(api_array_get(p, 1)), "") == 0,
           "  empty <value/> is the empty string");
    api_value_free(p);
    p = parse_ok(ctx, login4, "session.login_with_password",
                 "login_with_password, 4 params (version, originator)");
    tap_ok(api_value_count(p) == 4 &&
           strcmp(api_value_string(api_array_get(p, 3)),
                  "xm-pool-cli/0.1") == 0, "  originator read");
    api_value_free(p);
    p = parse_ok(ctx, records, "VM.get_all_records",
                 "VM.get_all_records, pretty-printed");
    tap_ok(api_value_count(p) == 1 &&
           strcmp(api_value_string(api_array_get(p, 0)),
                  "OpaqueRef:c90cd28f-37ec-4dbf-88e6-f697ccb28b39") == 0,
           "  the session reference read, blanks around values ignored");
    api_value_free(p);
    p = parse_ok(ctx, set_ram, "Async.VM.set_memory_limits",
                 "an Async call mixing string and typed int64s");
    tap_ok(api_value_count(p) == 5 &&
           api_value_get_int64(api_array_get(p, 2), &i) == 0 &&
           i == 1073741824 &&
           api_value_get_int64(api_array_get(p, 3), &i) == 0 &&
           i == 2147483648LL &&
           api_value_get_int64(api_struct_get(api_array_get(p, 4), "n"),
                               &i) == 0 && i == 3,
           "  int64 as string, <i8> and <int> in a struct all read");
    api_value_free(p);
    p = parse_ok(ctx, no_params, "system.listMethods",
                 "a call without <params>");
    tap_ok(p && api_value_type(p) == API_ARRAY && api_value_count(p) == 0,
           "  no parameters");
    api_value_free(p);
}

static void test_responses(struct xt_ctx *ctx)
{
    static const char want_ok[] =
        "<?xml version=\"1.0\"?>"
        "<methodResponse><params><param><value><struct>"
        "<member><name>Status</name><value>Success</value></member>"
        "<member><name>Value</name><value><array><data>"
        "<value>OpaqueRef:a</value><value>4294967296</value>"
        "<value><boolean>1</boolean></value><value><double>0.5</double>"
        "</value><value><nil/></value><value><dateTime.iso8601>"
        "20240131T12:00:00Z</dateTime.iso8601></value>"
        "<value>&lt;&amp;&gt;&quot;&#13;</value>"
        "</data></array></value></member>"
        "</struct></value></param></params></methodResponse>\n";
    static const char want_fail[] =
        "<?xml version=\"1.0\"?>"
        "<methodResponse><params><param><value><struct>"
        "<member><name>Status</name><value>Failure</value></member>"
        "<member><name>ErrorDescription</name><value><array><data>"
        "<value>SESSION_INVALID</value><value>OpaqueRef:x</value>"
        "</data></array></value></member>"
        "</struct></value></param></params></methodResponse>\n";
    static const char want_void[] =
        "<?xml version=\"1.0\"?>"
        "<methodResponse><params><param><value><struct>"
        "<member><name>Status</name><value>Success</value></member>"
        "<member><name>Value</name><value></value></member>"
        "</struct></value></param></params></methodResponse>\n";
    static const char fault[] =
        "<methodResponse><fault><value><struct>"
        "<member><name>faultCode</name><value><int>4</int></value></member>"
        "<member><name>faultString</name><value>Too many params</value>"
        "</member></struct></value></fault></methodResponse>";
    struct api_value *arr = must(api_array()), *env, *back = NULL;
    char *out = NULL;
    size_t len;
    int rc;

    must_rc(api_array_append(arr, api_string("OpaqueRef:a")));
    must_rc(api_array_append(arr, api_int(4294967296LL)));
    must_rc(api_array_append(arr, api_bool(true)));
    must_rc(api_array_append(arr, api_double(0.5)));
    must_rc(api_array_append(arr, api_nil()));
    must_rc(api_array_append(arr, api_datetime("20240131T12:00:00Z")));
    must_rc(api_array_append(arr, api_string("<&>\"\r")));
    env = must(api_success(arr));
    rc = api_xmlrpc_format_response(ctx, env, &out, &len);
    tap_ok(rc == 0, "format a success");
    tap_is_str(out, want_ok, "  exact text: int64 as a string, escapes");
    free(out);
    api_value_free(env);

    env = must(api_failure("SESSION_INVALID", "OpaqueRef:x", NULL));
    rc = api_xmlrpc_format_response(ctx, env, &out, &len);
    tap_is_str(rc == 0 ? out : NULL, want_fail, "failure, exact text");
    rc = api_xmlrpc_parse_response(ctx, out, len, NULL, &back);
    is_failure(ctx, rc == 0 ? back : NULL, "SESSION_INVALID", 1,
               "OpaqueRef:x", NULL, "  and read back");
    free(out);
    api_value_free(back);
    api_value_free(env);

    env = must(api_success(api_void()));
    rc = api_xmlrpc_format_response(ctx, env, &out, &len);
    tap_is_str(rc == 0 ? out : NULL, want_void, "void is \"\"");
    free(out);
    api_value_free(env);

    rc = api_xmlrpc_parse_response(ctx, fault, strlen(fault), NULL, &back);
    is_failure(ctx, rc == 0 ? back : NULL, "XMLRPC_FAULT", 2, "4",
               "Too many params", "an XML-RPC <fault> read as a failure");
    api_value_free(back);
    xt_error_clear(ctx);
    tap_is_int(api_xmlrpc_format_response(ctx, NULL, &out, &len), -EINVAL,
               "formatting nothing is refused");
}

/* Output of strings that are not clean UTF-8 stays well-formed. */
static void test_output_sanitised(struct xt_ctx *ctx)
{
    static const char dirty[] = "a\x01" "b\xff" "c\xc3" "d\x7f" "e\xed\xa0\x80";
    struct api_value *params = must(api_array()), *got = NULL;
    char *out = NULL, *method = NULL;
    size_t len;
    int rc;

    must_rc(api_array_append(params, api_string(dirty)));
    rc = api_xmlrpc_format_call(ctx, "x.y", params, &out, &len);
    tap_ok(rc == 0, "format a string with control bytes and bad UTF-8");
    rc = api_xmlrpc_parse_call(ctx, out, len, NULL, &method, &got, NULL);
    tap_ok(rc == 0, "  the output is well-formed XML");
    tap_is_str(api_value_string(api_array_get(got, 0)),
               "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\xef\xbf\xbd" "d\x7f"
               "e\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd",
               "  each bad byte became U+FFFD");
    free(out);
    free(method);
    api_value_free(got);
    xt_error_clear(ctx);
    tap_is_int(api_xmlrpc_format_call(ctx, "bad name", params, &out, &len),
               -EINVAL, "a call with a bad method name is refused");
    api_value_free(params);
}

static void test_malformed(struct xt_ctx *ctx)
{
    static const char good[] =
        "<?xml version=\"1.0\"?><methodCall><methodName>VM.start"
        "</methodName><params><param><value>OpaqueRef:s</value></param>"
        "<param><value><struct><member><name>a</name><value><int>1</int>"
        "</value></member></struct></value></param></params></methodCall>";
    struct api_value *params = NULL;
    char *method = NULL;
    size_t n, bad_prefixes = 0;
    int rc;

    bad(ctx, "", -EINVAL, "empty body", "empty body");
    bad(ctx, "<methodCall><methodName>x</methodName>", -EINVAL,
        "malformed XML", "unterminated document");
    bad(ctx, "<methodCall><methodName>x</methodName></methodcall>",
        -EINVAL, "malformed XML", "mismatched tag");
    bad(ctx, "not xml at all", -EINVAL, "malformed XML", "plain text");
    bad(ctx, "<methodCall><methodName>x</methodName><params><param>"
             "<value>&foo;</value></param></params></methodCall>",
        -EINVAL, "malformed XML", "undefined entity reference");
    bad(ctx, "<methodResponse><params/></methodResponse>", -EINVAL,
        "<methodResponse>", "wrong root element");
    bad(ctx, "<x:methodCall xmlns:x=\"urn:x\"><methodName>a</methodName>"
             "</x:methodCall>", -EINVAL, "without attributes",
        "namespace declaration refused (an attribute)");
    bad(ctx, "<x:methodCall><methodName>a</methodName></x:methodCall>",
        -EINVAL, "<methodCall>", "undeclared prefix on the root");
    bad(ctx, "<methodCall id=\"1\"><methodName>a</methodName>"
             "</methodCall>", -EINVAL, "without attributes",
        "an attribute refused");
    bad(ctx, "<methodCall><methodName>a</methodName><params><param>"
             "<value a='<'>x</value></param></params></methodCall>",
        -EINVAL, "without attributes", "an attribute deep inside refused");
    bad(ctx, "<methodCall><params/></methodCall>", -EINVAL, "<methodName>",
        "no <methodName>");
    bad(ctx, "<methodCall><methodName>VM start</methodName></methodCall>",
        -EINVAL, "method name", "method name with a space");
    bad(ctx, "<methodCall><methodName></methodName></methodCall>",
        -EINVAL, "method name", "empty method name");
    bad(ctx, "<methodCall><methodName>a</methodName><params/><params/>"
             "</methodCall>", -EINVAL, "end of <methodCall>",
        "two <params>");
    bad(ctx, "<methodCall><methodName>a</methodName><params><value>x"
             "</value></params></methodCall>", -EINVAL, "<param>",
        "<value> without <param>");
    bad(ctx, "<methodCall><methodName>a</methodName><params><param>"
             "<value>1</value><value>2</value></param></params>"
             "</methodCall>", -EINVAL, "end of <param>",
        "two values in a <param>");
    bad(ctx, "<methodCall><methodName>a</methodName>junk<params/>"
             "</methodCall>", -EINVAL, "text \"junk\"", "stray text");
    parse_bad(ctx, "<methodCall>\0</methodCall>", 26, NULL, -EINVAL,
              "a NUL byte at byte 12", "a NUL byte refused");
    parse_bad(ctx, "\xff\xfe<\0m\0/\0>\0", 10, NULL, -EINVAL, "NUL byte",
              "a UTF-16 body refused");
    params = parse_ok(ctx, "<?xml version=\"1.0\"?>\n<!-- a comment -->\n"
                           "<?pi stuff?><methodCall ><methodName >a"
                           "</methodName ><params\n/></methodCall\n>",
                      "a", "comments, PIs, blanks inside tags are fine");
    api_value_free(params);
    params = NULL;

    /* Every truncation of a good request is refused cleanly. */
    for (n = 0; n < strlen(good); n++) {
        rc = api_xmlrpc_parse_call(ctx, good, n, NULL, &method, &params,
                                   NULL);
        if (rc < 0 && !method && !params)
            bad_prefixes++;
        free(method);
        api_value_free(params);
        method = NULL;
        params = NULL;
    }
    tap_is_u64(bad_prefixes, strlen(good),
               "all truncations of a request refused");
}

static void test_hostile(struct xt_ctx *ctx)
{
    static const char laughs[] =
        "<?xml version=\"1.0\"?>\n"
        "<!DOCTYPE lolz [\n"
        " <!ENTITY lol \"lol\">\n"
        " <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
        " <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
        " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
        " <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"
        " <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n"
        " <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n"
        " <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n"
        " <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n"
        " <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n"
        "]>\n"
        "<methodCall><methodName>VM.start</methodName><params><param>"
        "<value>&lol9;</value></param></params></methodCall>";
    static const char xxe[] =
        "<?xml version=\"1.0\"?><!DOCTYPE m [<!ENTITY e SYSTEM "
        "\"file:///etc/passwd\">]><methodCall><methodName>a</methodName>"
        "<params><param><value>&e;</value></param></params></methodCall>";
    static const char doctype_only[] =
        "<!DOCTYPE methodCall SYSTEM \"http://example.com/x.dtd\">"
        "<methodCall><methodName>a</methodName></methodCall>";
    static const char pe[] =
        "<?xml version=\"1.0\"?><!DOCTYPE m [<!ENTITY % p SYSTEM "
        "\"http://127.0.0.1:1/x\"> %p;]><methodCall><methodName>a"
        "</methodName></methodCall>";
    const size_t huge = 100u << 20;
    struct api_limits lim = { 0 };
    struct timespec t0, t1;
    char *body, *p;
    double secs;
    size_t i, depth;

    bad(ctx, laughs, -EINVAL, "no DOCTYPE",
        "billion laughs: the DOCTYPE is refused before any entity");
    bad(ctx, xxe, -EINVAL, "no DOCTYPE", "external entity (XXE) refused");
    bad(ctx, doctype_only, -EINVAL, "no DOCTYPE",
        "a DOCTYPE without entities is refused too");
    bad(ctx, pe, -EINVAL, "no DOCTYPE", "parameter entity refused");
    bad(ctx, "<methodCall><!ELEMENT x ANY></methodCall>", -EINVAL,
        "no DOCTYPE", "markup declarations refused anywhere");

    /* 40 000 attributes take libxml2 2.9 minutes: refused up front. */
    body = malloc(40000 * 12 + 128);
    if (!body)
        tap_bail("no memory");
    p = body + sprintf(body, "<methodCall");
    for (i = 0; i < 40000; i++)
        p += sprintf(p, " a%zu=\"\"", i);
    sprintf(p, "><methodName>x</methodName></methodCall>");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bad(ctx, body, -EINVAL, "without attributes", "40 000 attributes refused");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = (double)(t1.tv_sec - t0.tv_sec) +
           (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    tap_ok(secs < 0.1, "  at once (%.6f s)", secs);
    free(body);

    /* 2 million comments: no tree nodes, so no blow-up. */
    body = malloc(2000000 * 7 + 128);
    if (!body)
        tap_bail("no memory");
    p = body + sprintf(body, "<methodCall><methodName>a</methodName>");
    for (i = 0; i < 2000000; i++)
        p += sprintf(p, "<!---->");
    sprintf(p, "</methodCall>");
    {
        struct api_value *params = NULL;
        char *method = NULL;
        int rc;

        clock_gettime(CLOCK_MONOTONIC, &t0);
        rc = api_xmlrpc_parse_call(ctx, body, strlen(body), NULL, &method,
                                   &params, NULL);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        secs = (double)(t1.tv_sec - t0.tv_sec) +
               (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        tap_ok(rc == 0 && secs < 2.0, "14 MB of comments parsed (%.3f s)",
               secs);
        free(method);
        api_value_free(params);
    }
    free(body);

    /* 100 MiB, refused on its size before any parsing. */
    body = malloc(huge);
    if (!body)
        tap_bail("no memory for the 100 MiB body");
    memset(body, ' ', huge);
    memcpy(body, "<methodCall>", 12);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    parse_bad(ctx, body, huge, NULL, -EMSGSIZE, "at most 16777216 bytes",
              "100 MiB body refused by the size limit");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = (double)(t1.tv_sec - t0.tv_sec) +
           (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    tap_ok(secs < 0.1, "  before parsing (%.6f s)", secs);
    free(body);

    /* 10 000 nested arrays. */
    depth = 10000;
    body = malloc(depth * 64 + 256);
    if (!body)
        tap_bail("no memory");
    p = body + sprintf(body, "<methodCall><methodName>a</methodName><params>"
                             "<param><value>");
    for (i = 0; i < depth; i++)
        p += sprintf(p, "<array><data><value>");
    for (i = 0; i < depth; i++)
        p += sprintf(p, "</value></data></array>");
    sprintf(p, "</value></param></params></methodCall>");
    parse_bad(ctx, body, strlen(body), NULL, -E2BIG, "nested at most 64",
              "nesting 10 000 deep refused");

    /* Right at the limit: 63 arrays inside a parameter (levels 2..64). */
    for (depth = 63; depth <= 64; depth++) {
        struct api_value *params = NULL;
        char *method = NULL;
        int rc;

        p = body + sprintf(body, "<methodCall><methodName>a</methodName>"
                                 "<params><param><value>");
        for (i = 0; i < depth; i++)
            p += sprintf(p, "<array><data><value>");
        p += sprintf(p, "x");
        for (i = 0; i < depth; i++)
            p += sprintf(p, "</value></data></array>");
        sprintf(p, "</value></param></params></methodCall>");
        rc = api_xmlrpc_parse_call(ctx, body, strlen(body), NULL, &method,
                                   &params, NULL);
        if (depth == 63)
            tap_ok(rc == 0, "63 nested arrays in a parameter: 64 levels, ok");
        else
            tap_ok(rc == -E2BIG && strstr(ctx->err_msg, "nested 65 deep"),
                   "64 nested arrays: 65 levels, refused (%s)",
                   ctx->err_msg);
        free(method);
        api_value_free(params);
    }
    free(body);

    /* Limits set by the caller. */
    lim.max_elements = 10;  /* 7 to reach <data>, then 8 <value>s */
    body = call_with("<array><data><value>1</value><value>2</value>"
                     "<value>3</value><value>4</value><value>5</value>"
                     "<value>6</value><value>7</value><value>8</value>"
                     "</data></array>");
    parse_bad(ctx, body, strlen(body), &lim, -E2BIG, "at most 10 elements",
              "element count limit");
    free(body);
    lim.max_elements = 0;
    lim.max_string = 8;
    body = call_with("<string>123456789</string>");
    parse_bad(ctx, body, strlen(body), &lim, -E2BIG, "at most 8 bytes",
              "string length limit");
    free(body);
    body = call_with("<struct><member><name>123456789</name><value>x"
                     "</value></member></struct>");
    parse_bad(ctx, body, strlen(body), &lim, -E2BIG, "at most 8 bytes",
              "member name length limit");
    free(body);
    body = call_with("1234<!-- split -->56789");
    parse_bad(ctx, body, strlen(body), &lim, -E2BIG, "at most 8 bytes",
              "string split by a comment still limited");
    free(body);
    lim.max_string = 0;
    lim.max_body = 64;
    body = call_with("x");
    parse_bad(ctx, body, strlen(body), &lim, -EMSGSIZE, "at most 64 bytes",
              "body size limit set by the caller");
    free(body);
    lim.max_body = 0;
    lim.max_depth = 1;
    body = call_with("<array><data/></array>");
    parse_bad(ctx, body, strlen(body), &lim, -E2BIG, "nested at most 1",
              "max_depth 1 allows scalars only");
    free(body);
}

static void test_bad_values(struct xt_ctx *ctx)
{
    bad_value(ctx, "<base64>aGk=</base64>", -EINVAL, "received <base64>",
              "unsupported type <base64>");
    bad_value(ctx, "<float>1</float>", -EINVAL, "one of string, int",
              "unknown type tag");
    bad_value(ctx, "<int>9223372036854775808</int>", -ERANGE,
              "an int64 in <int>", "<int> above int64");
    bad_value(ctx, "<i8>-9223372036854775809</i8>", -ERANGE,
              "an int64 in <i8>", "<i8> below int64");
    bad_value(ctx, "<i4>2147483648</i4>", -ERANGE, "an int32 in <i4>",
              "<i4> above int32");
    bad_value(ctx, "<int>12abc</int>", -EINVAL, "decimal digits",
              "<int> with letters");
    bad_value(ctx, "<int></int>", -EINVAL, "decimal digits", "empty <int>");
    bad_value(ctx, "<int>0x10</int>", -EINVAL, "decimal digits",
              "hexadecimal <int>");
    bad_value(ctx, "<boolean>true</boolean>", -EINVAL, "0 or 1",
              "<boolean>true</boolean>");
    bad_value(ctx, "<boolean>2</boolean>", -EINVAL, "0 or 1",
              "<boolean>2</boolean>");
    bad_value(ctx, "<double>abc</double>", -EINVAL, "decimal number",
              "<double> not a number");
    bad_value(ctx, "<double>nan</double>", -EINVAL, "decimal number",
              "<double>nan</double>");
    bad_value(ctx, "<double>1e999</double>", -ERANGE, "finite",
              "<double> overflow");
    bad_value(ctx, "<dateTime.iso8601>today at noon</dateTime.iso8601>",
              -EINVAL, "ISO 8601", "bad datetime");
    bad_value(ctx, "<nil>x</nil>", -EINVAL, "nothing more",
              "<nil> with content");
    bad_value(ctx, "<string><b>x</b></string>", -EINVAL, "text inside",
              "element inside <string>");
    bad_value(ctx, "text<int>1</int>", -EINVAL, "nothing but one element",
              "text and an element mixed in <value>");
    bad_value(ctx, "<int>1</int><int>2</int>", -EINVAL, "one element",
              "two elements in <value>");
    bad_value(ctx, "<array><value>1</value></array>", -EINVAL, "<data>",
              "<array> without <data>");
    bad_value(ctx, "<array><data><int>1</int></data></array>", -EINVAL,
              "<value>", "<data> with a bare <int>");
    bad_value(ctx, "<array><data/><data/></array>", -EINVAL,
              "end of <array>", "two <data>");
    bad_value(ctx, "<struct><member><value>1</value></member></struct>",
              -EINVAL, "<name>", "<member> without <name>");
    bad_value(ctx, "<struct><member><name>a</name></member></struct>",
              -EINVAL, "<value>", "<member> without <value>");
    bad_value(ctx, "<struct><member><value>1</value><name>a</name>"
                   "</member></struct>", -EINVAL, "<name>",
              "<value> before <name>");
    bad_value(ctx, "<struct><value>1</value></struct>", -EINVAL,
              "<member>", "<struct> with a bare <value>");
    bad_value(ctx, "<struct><member><name>a</name><value>1</value></member>"
                   "<member><name>a</name><value>2</value></member>"
                   "</struct>", -EINVAL, "unique member names",
              "duplicate member names");
    bad_value(ctx, "<x:int>1</x:int>", -EINVAL, "one of string",
              "prefixed type element");
}

int main(void)
{
    struct xt_ctx *ctx = xt_ctx_new("test_xmlrpc");

    if (!ctx)
        tap_bail("no context");
    ctx->quiet_errors = true;
    api_init();
    test_round_trip(ctx);
    test_typed_values(ctx);
    test_xapi_requests(ctx);
    test_responses(ctx);
    test_output_sanitised(ctx);
    test_malformed(ctx);
    test_hostile(ctx);
    test_bad_values(ctx);
    api_fini();
    xt_ctx_free(ctx);
    return tap_done();
}
