/*
 * test_value.c - the value model: constructors, accessors, ownership of
 * consumed arguments, copies, equality, int64 reads, envelopes.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "../../tap.h"
#include "api_test.h"

static void test_scalars(void)
{
    struct api_value *v;
    int64_t i = 0;
    double d = 0;
    bool b = false;

    v = must(api_nil());
    tap_ok(api_value_type(v) == API_NIL, "nil has type nil");
    tap_ok(api_value_string(v) == NULL && api_value_count(v) == 0,
           "nil is no string and holds nothing");
    api_value_free(v);

    v = must(api_string("abc"));
    tap_is_str(api_value_string(v), "abc", "string text");
    tap_is_int(api_value_get_bool(v, &b), -EINVAL, "a string is no bool");
    api_value_free(v);
    tap_ok(api_string(NULL) == NULL, "api_string(NULL) is NULL");
    tap_ok(api_string_n("a\0b", 3) == NULL, "a NUL inside a string refused");
    v = must(api_string_n("abcdef", 3));
    tap_is_str(api_value_string(v), "abc", "api_string_n copies len bytes");
    api_value_free(v);
    v = must(api_stringf("%s-%d", "x", 7));
    tap_is_str(api_value_string(v), "x-7", "api_stringf");
    api_value_free(v);
    v = must(api_void());
    tap_ok(api_value_type(v) == API_STRING && !*api_value_string(v),
           "void is the empty string");
    api_value_free(v);

    v = must(api_int(INT64_MIN));
    tap_ok(api_value_get_int64(v, &i) == 0 && i == INT64_MIN, "int64 min");
    api_value_free(v);
    v = must(api_double(-2.5));
    tap_ok(api_value_get_double(v, &d) == 0 && d == -2.5, "double");
    tap_is_int(api_value_get_int64(v, &i), -EINVAL, "a double is no int");
    api_value_free(v);
    tap_ok(api_double(NAN) == NULL && api_double(INFINITY) == NULL,
           "NaN and infinity refused");
    v = must(api_bool(true));
    tap_ok(api_value_get_bool(v, &b) == 0 && b, "bool");
    api_value_free(v);
    v = must(api_datetime("20240131T12:00:00Z"));
    tap_ok(api_value_type(v) == API_DATETIME &&
           strcmp(api_value_string(v), "20240131T12:00:00Z") == 0,
           "datetime keeps its string form");
    api_value_free(v);
    api_value_free(NULL);
    tap_ok(true, "api_value_free(NULL) is fine");
    tap_is_str(api_type_name(API_STRUCT), "struct", "type names");
}

static void test_int64_strings(void)
{
    static const struct {
        const char *s;
        int rc;
        int64_t v;
    } cases[] = {
        { "0", 0, 0 },
        { "42", 0, 42 },
        { "-17", 0, -17 },
        { "9223372036854775807", 0, INT64_MAX },
        { "-9223372036854775808", 0, INT64_MIN },
        { "9223372036854775808", -ERANGE, 0 },
        { "-9223372036854775809", -ERANGE, 0 },
        { "99999999999999999999999", -ERANGE, 0 },
        { "", -EINVAL, 0 },
        { "-", -EINVAL, 0 },
        { "+5", -EINVAL, 0 },
        { "12a", -EINVAL, 0 },
        { " 1", -EINVAL, 0 },
        { "0x10", -EINVAL, 0 },
    };
    struct api_value *v;
    int64_t got;
    size_t i;
    int rc;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        v = must(api_string(cases[i].s));
        got = 12345;
        rc = api_value_get_int64(v, &got);
        tap_ok(rc == cases[i].rc && (rc < 0 ? got == 12345
                                            : got == cases[i].v),
               "int64 from string \"%s\": %d", cases[i].s, cases[i].rc);
        api_value_free(v);
    }
}

static void test_containers(void)
{
    struct api_value *arr = must(api_array()), *st = must(api_struct());
    struct api_value *nil = must(api_nil()), *copy;
    const struct api_value *got;

    tap_is_int(api_array_append(arr, api_string("a")), 0, "append");
    tap_is_int(api_array_append(arr, api_int(2)), 0, "append again");
    tap_is_int(api_array_append(arr, NULL), -ENOMEM,
               "appending a failed constructor's NULL is -ENOMEM");
    tap_is_int(api_array_append(nil, api_string("x")), -EINVAL,
               "append to a non-array: -EINVAL (item freed, see ASan)");
    tap_is_u64(api_value_count(arr), 2, "two elements");
    tap_is_str(api_value_string(api_array_get(arr, 0)), "a", "element 0");
    tap_ok(api_array_get(arr, 2) == NULL, "out of range is NULL");

    tap_is_int(api_struct_add(st, "b", api_string("1")), 0, "add b");
    tap_is_int(api_struct_add(st, "a", api_string("2")), 0, "add a");
    tap_is_int(api_struct_add(st, "b", api_string("3")), -EEXIST,
               "duplicate key -EEXIST (value freed)");
    tap_is_int(api_struct_add(st, NULL, api_string("3")), -EINVAL,
               "NULL key -EINVAL");
    tap_is_int(api_struct_add(arr, "k", api_string("3")), -EINVAL,
               "add to a non-struct -EINVAL");
    tap_is_int(api_struct_add(st, "c", NULL), -ENOMEM, "NULL value -ENOMEM");
    tap_ok(api_value_count(st) == 2 &&
           strcmp(api_struct_key(st, 0), "b") == 0 &&
           strcmp(api_struct_key(st, 1), "a") == 0, "order of insertion kept");
    got = api_struct_get(st, "a");
    tap_is_str(api_value_string(got), "2", "get by key");
    tap_ok(api_struct_get(st, "zz") == NULL && api_struct_get(arr, "a") ==
           NULL, "absent key, non-struct: NULL");
    tap_is_str(api_value_string(api_struct_value(st, 0)), "1",
               "member value by index");

    tap_is_int(api_array_append(arr, st), 0, "a struct inside an array");
    copy = api_value_copy(arr);
    tap_ok(copy && copy != arr && api_value_equal(copy, arr),
           "deep copy is equal");
    tap_is_int(api_struct_add((struct api_value *)api_array_get(copy, 2),
                              "new", api_nil()), 0, "change the copy");
    tap_ok(!api_value_equal(copy, arr), "the original is independent");
    tap_ok(api_value_copy(NULL) == NULL, "copy of NULL");
    tap_ok(api_value_equal(NULL, NULL) && !api_value_equal(arr, NULL),
           "equality with NULL");
    api_value_free(copy);
    api_value_free(arr);
    api_value_free(nil);
}

static void test_sample(void)
{
    struct api_value *a = sample_params(SAMPLE_NATIVE);
    struct api_value *b = sample_params(SAMPLE_NATIVE);
    struct api_value *c = sample_params(SAMPLE_XMLRPC), *copy;

    tap_ok(api_value_equal(a, b), "two samples equal");
    tap_ok(!api_value_equal(a, c), "ints and strings differ");
    copy = api_value_copy(c);
    tap_ok(api_value_equal(copy, c), "copy of the sample equal");
    api_value_free(a);
    api_value_free(b);
    api_value_free(c);
    api_value_free(copy);
}

static void test_envelopes(struct xt_ctx *ctx)
{
    static const char *const params[] = { "VM", NULL, "x" };
    struct api_value *env;

    env = api_success(api_string("OpaqueRef:1"));
    tap_ok(env && api_is_success(env) && !api_failure_code(env),
           "success envelope");
    tap_is_str(api_value_string(api_struct_get(env, "Status")), "Success",
               "Status Success");
    tap_is_str(api_value_string(api_struct_get(env, "Value")),
               "OpaqueRef:1", "Value");
    api_value_free(env);
    tap_ok(api_success(NULL) == NULL, "api_success(NULL) is NULL");

    env = api_failure("VM_BAD_POWER_STATE", "OpaqueRef:1", "Halted",
                      "Running", NULL);
    tap_ok(!api_is_success(env), "failure is no success");
    is_failure(ctx, env, "VM_BAD_POWER_STATE", 3, "OpaqueRef:1", "Halted",
               "failure envelope with its params");
    api_value_free(env);
    env = api_failure_array("HANDLE_INVALID", params, 3);
    is_failure(ctx, env, "HANDLE_INVALID", 3, "VM", "",
               "failure from an array, NULL param as \"\"");
    api_value_free(env);
    tap_ok(api_failure(NULL, NULL) == NULL, "no code, no envelope");
    env = must(api_string("x"));
    tap_ok(!api_is_success(env) && !api_failure_code(env),
           "a string is no envelope");
    api_value_free(env);
}

int main(void)
{
    struct xt_ctx *ctx = xt_ctx_new("test_value");

    if (!ctx)
        tap_bail("no context");
    test_scalars();
    test_int64_strings();
    test_containers();
    test_sample();
    test_envelopes(ctx);
    xt_ctx_free(ctx);
    return tap_done();
}
