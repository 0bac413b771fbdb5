/*
 * api_value.c - the value model (strings, int64s, doubles, booleans,
 * datetimes, arrays, ordered structs, nil) and the XenAPI envelopes.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"

static const char *const type_names[] = {
    [API_NIL]      = "nil",
    [API_STRING]   = "string",
    [API_INT]      = "int",
    [API_DOUBLE]   = "double",
    [API_BOOL]     = "bool",
    [API_DATETIME] = "datetime",
    [API_ARRAY]    = "array",
    [API_STRUCT]   = "struct",
};

const char *api_type_name(enum api_type t)
{
    if ((unsigned)t >= sizeof(type_names) / sizeof(type_names[0]))
        return "unknown";
    return type_names[t];
}

static struct api_value *value_new(enum api_type type)
{
    struct api_value *v = calloc(1, sizeof(*v));

    if (v)
        v->type = type;
    return v;
}

struct api_value *api_nil(void)
{
    return value_new(API_NIL);
}

struct api_value *api_string_take(char *s, size_t len, enum api_type type)
{
    struct api_value *v = value_new(type);

    if (!v) {
        free(s);
        return NULL;
    }
    v->u.str.s = s;
    v->u.str.len = len;
    return v;
}

static struct api_value *string_copy(const char *s, size_t len,
                                     enum api_type type)
{
    char *copy;

    if (!s || memchr(s, '\0', len))
        return NULL;
    copy = malloc(len + 1);
    if (!copy)
        return NULL;
    memcpy(copy, s, len);
    copy[len] = '\0';
    return api_string_take(copy, len, type);
}

struct api_value *api_string(const char *s)
{
    return s ? string_copy(s, strlen(s), API_STRING) : NULL;
}

struct api_value *api_string_n(const char *s, size_t len)
{
    return string_copy(s, len, API_STRING);
}

struct api_value *api_stringf(const char *fmt, ...)
{
    va_list ap;
    char *s;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    return api_string_take(s, (size_t)n, API_STRING);
}

struct api_value *api_void(void)
{
    return api_string("");
}

struct api_value *api_datetime(const char *iso8601)
{
    return iso8601 ? string_copy(iso8601, strlen(iso8601), API_DATETIME)
                   : NULL;
}

struct api_value *api_int(int64_t i)
{
    struct api_value *v = value_new(API_INT);

    if (v)
        v->u.i = i;
    return v;
}

struct api_value *api_double(double d)
{
    struct api_value *v;

    if (!isfinite(d))
        return NULL;
    v = value_new(API_DOUBLE);
    if (v)
        v->u.d = d;
    return v;
}

struct api_value *api_bool(bool b)
{
    struct api_value *v = value_new(API_BOOL);

    if (v)
        v->u.b = b;
    return v;
}

struct api_value *api_array(void)
{
    return value_new(API_ARRAY);
}

struct api_value *api_struct(void)
{
    return value_new(API_STRUCT);
}

void api_value_free(struct api_value *v)
{
    size_t i;

    if (!v)
        return;
    switch (v->type) {
    case API_STRING:
    case API_DATETIME:
        free(v->u.str.s);
        break;
    case API_ARRAY:
        for (i = 0; i < v->u.arr.n; i++)
            api_value_free(v->u.arr.v[i]);
        free(v->u.arr.v);
        break;
    case API_STRUCT:
        for (i = 0; i < v->u.st.n; i++) {
            free(v->u.st.m[i].key);
            api_value_free(v->u.st.m[i].val);
        }
        free(v->u.st.m);
        break;
    default:
        break;
    }
    free(v);
}

/* items with room for element n (reallocated when full, *cap updated), or
 * NULL with items untouched. */
static void *reserve(void *items, size_t *cap, size_t n, size_t sz)
{
    size_t ncap;
    void *np;

    if (n < *cap)
        return items;
    ncap = *cap ? *cap * 2 : 4;
    if (ncap > SIZE_MAX / sz)
        return NULL;
    np = realloc(items, ncap * sz);
    if (np)
        *cap = ncap;
    return np;
}

int api_array_append(struct api_value *arr, struct api_value *item)
{
    struct api_value **items;
    int rc = 0;

    if (!item)
        return -ENOMEM;
    if (!arr || arr->type != API_ARRAY) {
        rc = -EINVAL;
        goto out;
    }
    items = reserve(arr->u.arr.v, &arr->u.arr.cap, arr->u.arr.n,
                    sizeof(arr->u.arr.v[0]));
    if (!items) {
        rc = -ENOMEM;
        goto out;
    }
    arr->u.arr.v = items;
    arr->u.arr.v[arr->u.arr.n++] = item;
    item = NULL;

out:
    api_value_free(item);
    return rc;
}

int api_struct_append(struct api_value *st, char *key, struct api_value *val)
{
    struct api_member *members;
    int rc = 0;

    if (!key || !val) {
        rc = -ENOMEM;
        goto out;
    }
    if (!st || st->type != API_STRUCT) {
        rc = -EINVAL;
        goto out;
    }
    members = reserve(st->u.st.m, &st->u.st.cap, st->u.st.n,
                      sizeof(st->u.st.m[0]));
    if (!members) {
        rc = -ENOMEM;
        goto out;
    }
    st->u.st.m = members;
    st->u.st.m[st->u.st.n].key = key;
    st->u.st.m[st->u.st.n].val = val;
    st->u.st.n++;
    key = NULL;
    val = NULL;

out:
    free(key);
    api_value_free(val);
    return rc;
}

int api_struct_add(struct api_value *st, const char *key,
                   struct api_value *val)
{
    if (!val)
        return -ENOMEM;
    if (!st || st->type != API_STRUCT || !key) {
        api_value_free(val);
        return -EINVAL;
    }
    if (api_struct_get(st, key)) {
        api_value_free(val);
        return -EEXIST;
    }
    return api_struct_add_new(st, key, val);
}

int api_struct_add_new(struct api_value *st, const char *key,
                       struct api_value *val)
{
    char *copy;

    if (!val)
        return -ENOMEM;
    if (!st || st->type != API_STRUCT || !key) {
        api_value_free(val);
        return -EINVAL;
    }
    copy = strdup(key);
    if (!copy) {
        api_value_free(val);
        return -ENOMEM;
    }
    return api_struct_append(st, copy, val);
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const char *api_struct_find_dup(const struct api_value *st, int *rc_r)
{
    const char **keys = NULL;
    const char *dup = NULL;
    size_t i, n = api_value_count(st);

    *rc_r = 0;
    if (st->type != API_STRUCT || n < 2)
        return NULL;
    keys = malloc(n * sizeof(*keys));
    if (!keys) {
        *rc_r = -ENOMEM;
        return NULL;
    }
    for (i = 0; i < n; i++)
        keys[i] = st->u.st.m[i].key;
    qsort(keys, n, sizeof(*keys), cmp_keys);
    for (i = 1; i < n && !dup; i++) {
        if (strcmp(keys[i - 1], keys[i]) == 0)
            dup = keys[i];
    }
    free(keys);
    return dup;
}

struct api_value *api_value_copy(const struct api_value *v)
{
    struct api_value *c = NULL;
    size_t i;
    int rc = 0;

    if (!v)
        return NULL;
    switch (v->type) {
    case API_NIL:
        return api_nil();
    case API_STRING:
    case API_DATETIME:
        return string_copy(v->u.str.s, v->u.str.len, v->type);
    case API_INT:
        return api_int(v->u.i);
    case API_DOUBLE:
        return api_double(v->u.d);
    case API_BOOL:
        return api_bool(v->u.b);
    case API_ARRAY:
        c = api_array();
        for (i = 0; c && i < v->u.arr.n && rc == 0; i++)
            rc = api_array_append(c, api_value_copy(v->u.arr.v[i]));
        break;
    case API_STRUCT:
        c = api_struct();
        for (i = 0; c && i < v->u.st.n && rc == 0; i++)
            rc = api_struct_append(c, strdup(v->u.st.m[i].key),
                                   api_value_copy(v->u.st.m[i].val));
        break;
    }
    if (rc < 0) {
        api_value_free(c);
        c = NULL;
    }
    return c;
}

bool api_value_equal(const struct api_value *a, const struct api_value *b)
{
    size_t i;

    if (!a || !b)
        return a == b;
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case API_NIL:
        return true;
    case API_STRING:
    case API_DATETIME:
        return a->u.str.len == b->u.str.len &&
               memcmp(a->u.str.s, b->u.str.s, a->u.str.len) == 0;
    case API_INT:
        return a->u.i == b->u.i;
    case API_DOUBLE:
        return a->u.d == b->u.d;
    case API_BOOL:
        return a->u.b == b->u.b;
    case API_ARRAY:
        if (a->u.arr.n != b->u.arr.n)
            return false;
        for (i = 0; i < a->u.arr.n; i++) {
            if (!api_value_equal(a->u.arr.v[i], b->u.arr.v[i]))
                return false;
        }
        return true;
    case API_STRUCT:
        if (a->u.st.n != b->u.st.n)
            return false;
        for (i = 0; i < a->u.st.n; i++) {
            if (strcmp(a->u.st.m[i].key, b->u.st.m[i].key) != 0 ||
                !api_value_equal(a->u.st.m[i].val, b->u.st.m[i].val))
                return false;
        }
        return true;
    }
    return false;
}

enum api_type api_value_type(const struct api_value *v)
{
    return v->type;
}

const char *api_value_string(const struct api_value *v)
{
    if (!v || (v->type != API_STRING && v->type != API_DATETIME))
        return NULL;
    return v->u.str.s;
}

size_t api_value_count(const struct api_value *v)
{
    if (!v)
        return 0;
    if (v->type == API_ARRAY)
        return v->u.arr.n;
    if (v->type == API_STRUCT)
        return v->u.st.n;
    return 0;
}

const struct api_value *api_array_get(const struct api_value *arr, size_t i)
{
    if (!arr || arr->type != API_ARRAY || i >= arr->u.arr.n)
        return NULL;
    return arr->u.arr.v[i];
}

const char *api_struct_key(const struct api_value *st, size_t i)
{
    if (!st || st->type != API_STRUCT || i >= st->u.st.n)
        return NULL;
    return st->u.st.m[i].key;
}

const struct api_value *api_struct_value(const struct api_value *st,
                                         size_t i)
{
    if (!st || st->type != API_STRUCT || i >= st->u.st.n)
        return NULL;
    return st->u.st.m[i].val;
}

const struct api_value *api_struct_get(const struct api_value *st,
                                       const char *key)
{
    size_t i;

    if (!st || st->type != API_STRUCT || !key)
        return NULL;
    for (i = 0; i < st->u.st.n; i++) {
        if (strcmp(st->u.st.m[i].key, key) == 0)
            return st->u.st.m[i].val;
    }
    return NULL;
}

int api_value_get_int64(const struct api_value *v, int64_t *out)
{
    const char *s;
    uint64_t acc = 0, limit = INT64_MAX;
    bool neg = false;
    size_t digits = 0;

    if (!v)
        return -EINVAL;
    if (v->type == API_INT) {
        *out = v->u.i;
        return 0;
    }
    if (v->type != API_STRING)
        return -EINVAL;
    s = v->u.str.s;
    if (*s == '-') {
        neg = true;
        limit = (uint64_t)INT64_MAX + 1;
        s++;
    }
    for (; *s >= '0' && *s <= '9'; s++, digits++) {
        if (acc > (limit - (uint64_t)(*s - '0')) / 10)
            return -ERANGE;
        acc = acc * 10 + (uint64_t)(*s - '0');
    }
    if (*s || digits == 0)
        return -EINVAL;
    if (neg)
        *out = acc == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)acc;
    else
        *out = (int64_t)acc;
    return 0;
}

int api_value_get_double(const struct api_value *v, double *out)
{
    if (!v || v->type != API_DOUBLE)
        return -EINVAL;
    *out = v->u.d;
    return 0;
}

int api_value_get_bool(const struct api_value *v, bool *out)
{
    if (!v || v->type != API_BOOL)
        return -EINVAL;
    *out = v->u.b;
    return 0;
}

/* ---- envelopes --------------------------------------------------------- */

struct api_value *api_success(struct api_value *value)
{
    struct api_value *env;

    if (!value)
        return NULL;
    env = api_struct();
    if (!env) {
        api_value_free(value);
        return NULL;
    }
    if (api_struct_add(env, "Status", api_string("Success")) < 0 ||
        api_struct_add(env, "Value", value) < 0) {
        api_value_free(env);
        return NULL;
    }
    return env;
}

struct api_value *api_failure_of(struct api_value *desc)
{
    struct api_value *env;

    if (!desc)
        return NULL;
    env = api_struct();
    if (!env) {
        api_value_free(desc);
        return NULL;
    }
    if (api_struct_add(env, "Status", api_string("Failure")) < 0 ||
        api_struct_add(env, "ErrorDescription", desc) < 0) {
        api_value_free(env);
        return NULL;
    }
    return env;
}

struct api_value *api_failure_array(const char *code,
                                    const char *const *params, size_t n)
{
    struct api_value *desc;
    size_t i;
    int rc;

    if (!code)
        return NULL;
    desc = api_array();
    rc = api_array_append(desc, api_string(code));
    for (i = 0; i < n && rc == 0; i++)
        rc = api_array_append(desc, api_string(params[i] ? params[i] : ""));
    if (rc < 0) {
        api_value_free(desc);
        return NULL;
    }
    return api_failure_of(desc);
}

struct api_value *api_failurev(const char *code, va_list ap)
{
    struct api_value *desc;
    const char *p;
    int rc;

    if (!code)
        return NULL;
    desc = api_array();
    rc = api_array_append(desc, api_string(code));
    while (rc == 0 && (p = va_arg(ap, const char *)) != NULL)
        rc = api_array_append(desc, api_string(p));
    if (rc < 0) {
        api_value_free(desc);
        return NULL;
    }
    return api_failure_of(desc);
}

struct api_value *api_failure(const char *code, ...)
{
    struct api_value *env;
    va_list ap;

    va_start(ap, code);
    env = api_failurev(code, ap);
    va_end(ap);
    return env;
}

/* The Status of a two-member envelope, or NULL. */
static const char *envelope_status(const struct api_value *env)
{
    const struct api_value *status;

    if (!env || env->type != API_STRUCT || env->u.st.n != 2)
        return NULL;
    status = api_struct_get(env, "Status");
    return status && status->type == API_STRING ? status->u.str.s : NULL;
}

bool api_is_success(const struct api_value *env)
{
    const char *status = envelope_status(env);

    return status && strcmp(status, "Success") == 0 &&
           api_struct_get(env, "Value");
}

const char *api_failure_code(const struct api_value *env)
{
    const char *status = envelope_status(env);
    const struct api_value *desc;

    if (!status || strcmp(status, "Failure") != 0)
        return NULL;
    desc = api_struct_get(env, "ErrorDescription");
    return api_value_string(api_array_get(desc, 0));
}
