/*
 * test_dispatch.c - method dispatch (unknown methods, parameter counts,
 * the Async. prefix, what handlers answer), the error-code table, and one
 * request from body to response through both wire formats.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "../../tap.h"
#include "api_test.h"

struct daemon {
    int calls;
};

static int h_login(struct api_call_ctx *call, const struct api_value *params,
                   struct api_value **result_r)
{
    const char *user = api_value_string(api_array_get(params, 0));
    const char *pass = api_value_string(api_array_get(params, 1));

    ((struct daemon *)call->daemon)->calls++;
    if (!user || !pass) {
        *result_r = api_failure("FIELD_TYPE_ERROR", "uname", NULL);
        return xt_error(call->xt, -EINVAL, "user name is not a string");
    }
    if (strcmp(pass, "pw") != 0) {
        *result_r = api_failure("SESSION_AUTHENTICATION_FAILED", user,
                                "Authentication failure", NULL);
        return xt_error(call->xt, -EACCES, "bad password for %s", user);
    }
    *result_r = api_string("OpaqueRef:session-1");
    return 0;
}

static int h_records(struct api_call_ctx *call,
                     const struct api_value *params,
                     struct api_value **result_r)
{
    struct api_value *all = api_struct(), *rec = api_struct();

    ((struct daemon *)call->daemon)->calls++;
    if (api_struct_add(rec, "name_label", api_string("vm1")) < 0 ||
        api_struct_add(rec, "memory_target", api_int(1073741824)) < 0 ||
        api_struct_add(all, "OpaqueRef:vm1", rec) < 0) {
        api_value_free(all);
        return xt_error(call->xt, -ENOMEM, "out of memory");
    }
    *result_r = all;
    return 0;
}

static int h_start(struct api_call_ctx *call, const struct api_value *params,
                   struct api_value **result_r)
{
    ((struct daemon *)call->daemon)->calls++;
    *result_r = api_void();
    return 0;
}

static int h_busy(struct api_call_ctx *call, const struct api_value *params,
                  struct api_value **result_r)
{
    return xt_error(call->xt, -EBUSY, "VM is being migrated");
}

static int h_power(struct api_call_ctx *call, const struct api_value *params,
                   struct api_value **result_r)
{
    *result_r = api_failure("VM_BAD_POWER_STATE", "OpaqueRef:vm1", "halted",
                            "running", NULL);
    return xt_error(call->xt, -EINVAL, "VM is running");
}

static int h_nothing(struct api_call_ctx *call,
                     const struct api_value *params,
                     struct api_value **result_r)
{
    return 0;
}

static int h_silent(struct api_call_ctx *call, const struct api_value *params,
                    struct api_value **result_r)
{
    return -EIO;    /* forgot to report: the envelope still says something */
}

static const struct api_method methods[] = {
    { .name = "session.login_with_password", .nparams = 2, .nparams_max = 4,
      .flags = API_METHOD_NO_ASYNC, .fn = h_login },
    { .name = "VM.get_all_records", .nparams = 1, .fn = h_records },
    { .name = "VM.start", .nparams = 4, .fn = h_start },
    { .name = "VM.busy", .nparams = 0, .fn = h_busy },
    { .name = "VM.power", .nparams = 0, .fn = h_power },
    { .name = "VM.nothing", .nparams = 0, .fn = h_nothing },
    { .name = "VM.silent", .nparams = 0, .fn = h_silent },
    { .name = "VM.no_handler", .nparams = 0 },
    { .name = NULL },
};

/* An array of n strings "p0", "p1", ... */
static struct api_value *n_params(size_t n)
{
    struct api_value *arr = must(api_array());
    size_t i;

    for (i = 0; i < n; i++)
        must_rc(api_array_append(arr, api_stringf("p%zu", i)));
    return arr;
}

static struct api_value *dispatch(struct xt_ctx *ctx, struct daemon *d,
                                  const char *method, size_t n,
                                  struct api_call_ctx *call)
{
    struct api_value *params = n_params(n), *env = NULL;
    int rc;

    memset(call, 0, sizeof(*call));
    call->xt = ctx;
    call->daemon = d;
    rc = api_dispatch(methods, call, method, params, &env);
    if (rc < 0)
        tap_diag("  api_dispatch: %d", rc);
    api_value_free(params);
    return env;
}

static void test_dispatch(struct xt_ctx *ctx)
{
    struct daemon d = { 0 };
    struct api_call_ctx call;
    struct api_value *env, *params;
    int rc;

    env = dispatch(ctx, &d, "VM.frobnicate", 1, &call);
    is_failure(ctx, env, "MESSAGE_METHOD_UNKNOWN", 1, "VM.frobnicate", NULL,
               "unknown method");
    api_value_free(env);
    env = dispatch(ctx, &d, "Async.VM.frobnicate", 1, &call);
    is_failure(ctx, env, "MESSAGE_METHOD_UNKNOWN", 1, "Async.VM.frobnicate",
               NULL, "unknown Async method echoes the name as called");
    api_value_free(env);
    env = dispatch(ctx, &d, "Async.", 0, &call);
    is_failure(ctx, env, "MESSAGE_METHOD_UNKNOWN", 1, "Async.", NULL,
               "\"Async.\" alone is unknown");
    api_value_free(env);
    env = dispatch(ctx, &d, "vm.start", 4, &call);
    is_failure(ctx, env, "MESSAGE_METHOD_UNKNOWN", 1, "vm.start", NULL,
               "names are case-sensitive");
    api_value_free(env);
    env = dispatch(ctx, &d, "VM.no_handler", 0, &call);
    is_failure(ctx, env, "MESSAGE_METHOD_UNKNOWN", 1, NULL, NULL,
               "an entry without a handler is unknown");
    api_value_free(env);

    env = dispatch(ctx, &d, "VM.start", 3, &call);
    is_failure(ctx, env, "MESSAGE_PARAMETER_COUNT_MISMATCH", 3, "VM.start",
               "4", "too few parameters");
    tap_is_str(api_value_string(api_array_get(
                   api_struct_get(env, "ErrorDescription"), 3)), "3",
               "  received count");
    api_value_free(env);
    env = dispatch(ctx, &d, "VM.start", 5, &call);
    is_failure(ctx, env, "MESSAGE_PARAMETER_COUNT_MISMATCH", 3, "VM.start",
               "4", "too many parameters");
    api_value_free(env);
    env = dispatch(ctx, &d, "session.login_with_password", 1, &call);
    is_failure(ctx, env, "MESSAGE_PARAMETER_COUNT_MISMATCH", 3,
               "session.login_with_password", "2",
               "login with 1 parameter: expected 2");
    api_value_free(env);
    env = dispatch(ctx, &d, "session.login_with_password", 5, &call);
    is_failure(ctx, env, "MESSAGE_PARAMETER_COUNT_MISMATCH", 3,
               "session.login_with_password", "4",
               "login with 5 parameters: expected 4");
    api_value_free(env);
    tap_is_int(d.calls, 0, "no handler ran for any of those");

    /* 2, 3 and 4 parameters reach the handler. */
    for (size_t n = 2; n <= 4; n++) {
        params = n_params(n);
        memset(&call, 0, sizeof(call));
        call.xt = ctx;
        call.daemon = &d;
        env = NULL;
        rc = api_dispatch(methods, &call, "session.login_with_password",
                          params, &env);
        is_failure(ctx, rc == 0 ? env : NULL,
                   "SESSION_AUTHENTICATION_FAILED", 2, "p0",
                   "Authentication failure",
                   "login with 2-4 params reaches the handler");
        api_value_free(env);
        api_value_free(params);
    }
    tap_is_int(d.calls, 3, "  three calls");

    env = dispatch(ctx, &d, "VM.get_all_records", 1, &call);
    tap_ok(api_is_success(env) &&
           api_struct_get(api_struct_get(env, "Value"), "OpaqueRef:vm1"),
           "a handler's value is wrapped in Success");
    tap_ok(!call.async && call.m == &methods[1] &&
           strcmp(call.method, "VM.get_all_records") == 0,
           "  call context filled (method, entry, not async)");
    api_value_free(env);

    /* Async: resolved, not run. */
    d.calls = 0;
    params = n_params(4);
    memset(&call, 0, sizeof(call));
    call.xt = ctx;
    call.daemon = &d;
    env = (struct api_value *)&call;    /* must be reset */
    rc = api_dispatch(methods, &call, "Async.VM.start", params, &env);
    tap_ok(rc == 0 && !env && call.async && call.m == &methods[2] &&
           strcmp(call.method, "Async.VM.start") == 0 && d.calls == 0,
           "Async.VM.start: flagged, entry given, handler not run");
    rc = api_invoke(call.m, &call, params, &env);
    tap_ok(rc == 0 && api_is_success(env) && d.calls == 1,
           "  api_invoke runs it later (the daemon's task)");
    api_value_free(env);
    api_value_free(params);
    env = dispatch(ctx, &d, "Async.VM.start", 2, &call);
    is_failure(ctx, env, "MESSAGE_PARAMETER_COUNT_MISMATCH", 3,
               "Async.VM.start", "4", "Async calls are counted too");
    api_value_free(env);
    env = dispatch(ctx, &d, "Async.session.login_with_password", 2, &call);
    is_failure(ctx, env, "MESSAGE_METHOD_UNKNOWN", 1,
               "Async.session.login_with_password", NULL,
               "no Async for a NO_ASYNC method");
    api_value_free(env);

    /* What handlers answer on failure. */
    env = dispatch(ctx, &d, "VM.busy", 0, &call);
    is_failure(ctx, env, "OTHER_OPERATION_IN_PROGRESS", 2,
               "VM is being migrated", "",
               "-EBUSY with a message: default code, message, padding");
    api_value_free(env);
    env = dispatch(ctx, &d, "VM.power", 0, &call);
    is_failure(ctx, env, "VM_BAD_POWER_STATE", 3, "OpaqueRef:vm1", "halted",
               "a handler's own failure is answered as is");
    api_value_free(env);
    env = dispatch(ctx, &d, "VM.nothing", 0, &call);
    is_failure(ctx, env, "INTERNAL_ERROR", 1, "VM.nothing answered no value",
               NULL, "0 without a value: INTERNAL_ERROR");
    api_value_free(env);
    xt_error(ctx, -EPERM, "stale error of an earlier call");
    env = dispatch(ctx, &d, "VM.silent", 0, &call);
    is_failure(ctx, env, "INTERNAL_ERROR", 1, "Input/output error", NULL,
               "an unreported error: strerror, not a stale message");
    api_value_free(env);
}

static void test_errors(struct xt_ctx *ctx)
{
    static const struct {
        const char *code;
        int nparams;
    } wanted[] = {
        { "SESSION_AUTHENTICATION_FAILED", 2 }, { "SESSION_INVALID", 1 },
        { "HOST_IS_SLAVE", 1 }, { "MESSAGE_METHOD_UNKNOWN", 1 },
        { "MESSAGE_PARAMETER_COUNT_MISMATCH", 3 },
        { "FIELD_TYPE_ERROR", 1 }, { "HANDLE_INVALID", 2 },
        { "UUID_INVALID", 2 }, { "VM_BAD_POWER_STATE", 3 },
        { "HOST_NOT_ENOUGH_FREE_MEMORY", 2 }, { "HOST_OFFLINE", 1 },
        { "OTHER_OPERATION_IN_PROGRESS", 2 },
        { "OPERATION_NOT_ALLOWED", 1 }, { "VM_MIGRATE_FAILED", 4 },
        { "TASK_CANCELLED", 1 }, { "INTERNAL_ERROR", 1 },
        { "XMLRPC_UNMARSHAL_FAILURE", 2 },
        { "JSONRPC_UNMARSHAL_FAILURE", 2 },
        { "POOL_JOINING_HOST_CANNOT_CONTAIN_SHARED_SRS", 0 },
        { "POOL_JOINING_HOST_MUST_HAVE_SAME_API_VERSION", 2 },
        { "VM_HOST_INCOMPATIBLE_VERSION", 2 },
        { "VM_HOST_INCOMPATIBLE_VERSION_MIGRATE", 2 },
    };
    static const struct {
        int rc;
        const char *code;
    } errnos[] = {
        { -EACCES, "PERMISSION_DENIED" }, { -EPERM, "OPERATION_NOT_ALLOWED" },
        { -ENOTSUP, "NOT_IMPLEMENTED" }, { -ENOSYS, "NOT_IMPLEMENTED" },
        { -ENOENT, "HANDLE_INVALID" }, { -EINVAL, "INVALID_VALUE" },
        { -EBUSY, "OTHER_OPERATION_IN_PROGRESS" }, { -EAGAIN, "TOO_BUSY" },
        { -ECANCELED, "TASK_CANCELLED" }, { -EHOSTUNREACH, "HOST_OFFLINE" },
        { -ECONNREFUSED, "HOST_OFFLINE" }, { -ENOMEM, "INTERNAL_ERROR" },
        { -EIO, "INTERNAL_ERROR" }, { 0, "INTERNAL_ERROR" },
    };
    const struct api_error_info *table, *e;
    size_t n, i, sorted = 1, complete = 1, counted = 1;
    struct api_value *env;

    table = api_error_table(&n);
    for (i = 1; i < n; i++) {
        if (strcmp(table[i - 1].code, table[i].code) >= 0) {
            sorted = 0;
            tap_diag("  out of order: %s, %s", table[i - 1].code,
                     table[i].code);
        }
    }
    tap_ok(sorted, "the table is sorted and without duplicates (%zu codes)",
           n);
    for (i = 0; i < n; i++) {
        size_t commas = 0;
        const char *p;

        for (p = table[i].params; *p; p++)
            commas += *p == ',';
        if (!table[i].meaning || !*table[i].meaning ||
            strchr(table[i].meaning, '\n'))
            complete = 0;
        if ((table[i].nparams == 0) != (*table[i].params == '\0') ||
            (table[i].nparams > 0 &&
             commas + 1 != (size_t)table[i].nparams)) {
            counted = 0;
            tap_diag("  %s: %d params but \"%s\"", table[i].code,
                     table[i].nparams, table[i].params);
        }
    }
    tap_ok(complete, "every code has a one-line meaning");
    tap_ok(counted, "parameter counts match the parameter names");
    for (i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++) {
        e = api_error_lookup(wanted[i].code);
        tap_ok(e && e->nparams == wanted[i].nparams &&
               api_error_meaning(wanted[i].code) == e->meaning,
               "%s: %d params", wanted[i].code, wanted[i].nparams);
    }
    tap_ok(!api_error_lookup("NO_SUCH_CODE") && !api_error_lookup(NULL) &&
           !api_error_meaning("AAA") && !api_error_meaning("ZZZ"),
           "unknown codes: NULL");
    for (i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
        tap_is_str(api_errno_code(errnos[i].rc), errnos[i].code,
                   "errno default code");
    for (i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++) {
        e = api_error_lookup(api_errno_code(errnos[i].rc));
        env = api_failure_errno(errnos[i].rc, NULL);
        if (!tap_ok(e && env &&
                    api_value_count(api_struct_get(env, "ErrorDescription"))
                    == (size_t)e->nparams + 1,
                    "api_failure_errno(%d) has %d params", errnos[i].rc,
                    e ? e->nparams : -1))
            diag_value(ctx, "got", env);
        api_value_free(env);
    }
    env = api_failure_errno(-ENOENT, "no VM 42");
    is_failure(ctx, env, "HANDLE_INVALID", 2, "no VM 42", "",
               "message first, then padding");
    api_value_free(env);
    env = api_failure_errno(-EAGAIN, "dropped");
    is_failure(ctx, env, "TOO_BUSY", 0, NULL, NULL,
               "a code without params drops the message");
    api_value_free(env);
}

/* From a request body to the response body, both formats. */
static void test_end_to_end(struct xt_ctx *ctx)
{
    static const char xml[] =
        "<?xml version='1.0'?><methodCall><methodName>"
        "session.login_with_password</methodName><params>"
        "<param><value><string>root</string></value></param>"
        "<param><value><string>pw</string></value></param>"
        "<param><value><string>1.0</string></value></param>"
        "</params></methodCall>";
    static const char json[] =
        "{\"jsonrpc\":\"2.0\",\"method\":\"VM.get_all_records\","
        "\"params\":[\"OpaqueRef:session-1\"],\"id\":5}";
    static const char json_bad[] = "{\"jsonrpc\":\"2.0\",\"method\":";
    struct api_json_reqinfo info = { 0 };
    struct api_value *params = NULL, *env = NULL, *back = NULL;
    struct daemon d = { 0 };
    struct api_call_ctx call = { .xt = ctx, .daemon = &d };
    char *method = NULL, *out = NULL;
    size_t len;
    int rc;

    rc = api_xmlrpc_parse_call(ctx, xml, strlen(xml), NULL, &method,
                               &params, NULL);
    rc = rc ? rc : api_dispatch(methods, &call, method, params, &env);
    rc = rc ? rc : api_xmlrpc_format_response(ctx, env, &out, &len);
    tap_ok(rc == 0 && strstr(out, "<value>OpaqueRef:session-1</value>"),
           "XML-RPC login: body to body");
    free(out);
    free(method);
    api_value_free(params);
    api_value_free(env);

    rc = api_json_parse_call(ctx, json, strlen(json), NULL, &method, &params,
                             &info, NULL);
    rc = rc ? rc : api_dispatch(methods, &call, method, params, &env);
    rc = rc ? rc : api_json_format_response(ctx, env, &info, &out, &len);
    tap_is_str(rc == 0 ? out : NULL,
               "{\"jsonrpc\":\"2.0\",\"result\":{\"OpaqueRef:vm1\":"
               "{\"name_label\":\"vm1\",\"memory_target\":1073741824}},"
               "\"id\":5}", "JSON-RPC get_all_records: body to body");
    free(out);
    free(method);
    api_value_free(params);
    api_value_free(env);
    api_json_reqinfo_clear(&info);
    method = NULL;
    params = NULL;
    env = NULL;

    /* A broken request still gets a XenAPI answer. */
    rc = api_json_parse_call(ctx, json_bad, strlen(json_bad), NULL, &method,
                             &params, &info, &env);
    rc = rc < 0 && env ? api_json_format_response(ctx, env, &info, &out,
                                                  &len) : -1;
    back = NULL;
    if (rc == 0)
        rc = api_json_parse_response(ctx, out, len, NULL, &back);
    is_failure(ctx, back, "JSONRPC_UNMARSHAL_FAILURE", 2, "a value", NULL,
               "a truncated JSON request is answered with a failure");
    free(out);
    api_value_free(env);
    api_value_free(back);
    api_json_reqinfo_clear(&info);
}

int main(void)
{
    struct xt_ctx *ctx = xt_ctx_new("test_dispatch");

    if (!ctx)
        tap_bail("no context");
    ctx->quiet_errors = true;
    api_init();
    test_dispatch(ctx);
    test_errors(ctx);
    test_end_to_end(ctx);
    api_fini();
    xt_ctx_free(ctx);
    return tap_done();
}
