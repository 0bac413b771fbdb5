/*
 * api_test.h - helpers shared by the api/ unit tests: a sample value with
 * every type, checks of failure envelopes, and a printable form of values
 * for diagnostics.  Header-only; include after tap.h.
 */
#ifndef API_TEST_H
#define API_TEST_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

/* Aborts the run when a constructor fails while building test data. */
static inline struct api_value *must(struct api_value *v)
{
    if (!v)
        tap_bail("out of memory building test data");
    return v;
}

static inline void must_rc(int rc)
{
    if (rc < 0)
        tap_bail("building test data failed");
}

/*
 * Every type, nested: the parameters of a call.  XML-RPC carries int64s
 * as strings of digits (the XenAPI convention) and JSON datetimes as
 * strings, so SAMPLE_XMLRPC and SAMPLE_JSON build those as the
 * API_STRINGs the other end reads back.
 */
enum sample_form {
    SAMPLE_NATIVE,
    SAMPLE_XMLRPC,
    SAMPLE_JSON,
};

static inline struct api_value *sample_datetime(enum sample_form form,
                                                const char *s)
{
    return form == SAMPLE_JSON ? api_string(s) : api_datetime(s);
}

static inline struct api_value *sample_params(enum sample_form form)
{
    bool ints_as_strings = form == SAMPLE_XMLRPC;
    static const int64_t ints[] = {
        0, 1, -1, 42, INT32_MAX, (int64_t)INT32_MAX + 1, INT64_MAX,
        INT64_MIN,
    };
    static const double doubles[] = {
        0.0, 0.1, -2.5, 2.0, 1e300, -1.7976931348623157e308, 5e-324,
        3.141592653589793,
    };
    struct api_value *params = must(api_array());
    struct api_value *ints_arr = must(api_array());
    struct api_value *dbl_arr = must(api_array());
    struct api_value *rec = must(api_struct());
    struct api_value *inner = must(api_struct());
    struct api_value *nested = must(api_array());
    char buf[32];
    size_t i;

    must_rc(api_array_append(params, api_string(
        "OpaqueRef:5f4c1e8a-9f1b-4d6e-8a55-3c1f2e7b9d00")));
    must_rc(api_array_append(params, api_string("")));
    must_rc(api_array_append(params, api_string(
        "<tag> & \"quotes\" 'apos' \t tab\nnewline\r\nCRLF ]]> end")));
    must_rc(api_array_append(params, api_string(
        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe4\xb8\xad")));
    must_rc(api_array_append(params, api_string("  leading and trailing  ")));
    for (i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        if (ints_as_strings) {
            snprintf(buf, sizeof(buf), "%lld", (long long)ints[i]);
            must_rc(api_array_append(ints_arr, api_string(buf)));
        } else {
            must_rc(api_array_append(ints_arr, api_int(ints[i])));
        }
    }
    must_rc(api_array_append(params, ints_arr));
    for (i = 0; i < sizeof(doubles) / sizeof(doubles[0]); i++)
        must_rc(api_array_append(dbl_arr, api_double(doubles[i])));
    must_rc(api_array_append(params, dbl_arr));
    must_rc(api_array_append(params, api_bool(true)));
    must_rc(api_array_append(params, api_bool(false)));
    must_rc(api_array_append(params,
                                    sample_datetime(form,
                                                    "20240131T12:34:56Z")));
    must_rc(api_array_append(params, api_nil()));
    must_rc(api_array_append(params, must(api_array())));
    must_rc(api_array_append(params, must(api_struct())));

    must_rc(api_struct_add(inner, "memory_static_max",
                           ints_as_strings ? api_string("4294967296")
                                           : api_int(4294967296LL)));
    must_rc(api_struct_add(inner, "", api_string("empty key")));
    must_rc(api_struct_add(inner, "key <&>", api_string("special key")));
    must_rc(api_array_append(nested, must(api_array())));
    must_rc(api_array_append(nested, api_nil()));
    must_rc(api_array_append(nested, api_double(-0.5)));
    must_rc(api_struct_add(rec, "uuid",
                           api_string("5f4c1e8a-9f1b-4d6e-8a55-3c1f2e7b9d00")));
    must_rc(api_struct_add(rec, "name_label", api_string("vm 1")));
    must_rc(api_struct_add(rec, "power_state", api_string("Running")));
    must_rc(api_struct_add(rec, "is_a_template", api_bool(false)));
    must_rc(api_struct_add(rec, "other_config", inner));
    must_rc(api_struct_add(rec, "nested", nested));
    must_rc(api_struct_add(rec, "last_boot",
                           sample_datetime(form, "19700101T00:00:00Z")));
    must_rc(api_array_append(params, rec));
    return params;
}

/* Prints v to the TAP diagnostics (as JSON). */
static inline void diag_value(struct xt_ctx *ctx, const char *what,
                              const struct api_value *v)
{
    struct api_value *wrap = api_array(), *id = api_int(0);
    char *text = NULL;
    size_t len;

    if (wrap && v && api_array_append(wrap, api_value_copy(v)) == 0 &&
        api_json_format_call(ctx, API_JSONRPC_V2, "dump", wrap, id, &text,
                             &len) == 0)
        tap_diag("  %s: %s", what, text);
    else
        tap_diag("  %s: (none)", what);
    free(text);
    api_value_free(wrap);
    api_value_free(id);
}

static inline bool is_equal(struct xt_ctx *ctx, const struct api_value *got,
                            const struct api_value *want, const char *name)
{
    if (tap_ok(api_value_equal(got, want), "%s", name))
        return true;
    diag_value(ctx, "got ", got);
    diag_value(ctx, "want", want);
    return false;
}

/* Checks that env is a failure [code, params...] with n params, and the
 * given leading ones (NULL: not checked). */
static inline bool is_failure(struct xt_ctx *ctx, const struct api_value *env,
                              const char *code, size_t n, const char *p1,
                              const char *p2, const char *name)
{
    const struct api_value *desc =
        api_struct_get(env, "ErrorDescription");
    const char *c = api_failure_code(env);
    bool ok = c && strcmp(c, code) == 0 && api_value_count(desc) == n + 1;
    const char *got1 = api_value_string(api_array_get(desc, 1));
    const char *got2 = api_value_string(api_array_get(desc, 2));

    if (ok && p1)
        ok = got1 && strcmp(got1, p1) == 0;
    if (ok && p2)
        ok = got2 && strcmp(got2, p2) == 0;
    if (tap_ok(ok, "%s", name))
        return true;
    diag_value(ctx, "got ", env);
    tap_diag("  want %s with %zu params", code, n);
    return false;
}

#endif /* API_TEST_H */
