/*
 * pool_value.c - typed values, records, datetimes, refs, the JSON text of
 * sets and maps, and a string builder.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pool_internal.h"

/* ---- values ------------------------------------------------------------ */

static bool type_has_string(enum pool_ftype type)
{
    return type == POOL_FT_STRING || type == POOL_FT_DATETIME ||
           type == POOL_FT_ENUM || type == POOL_FT_REF;
}

static bool type_is_set(enum pool_ftype type)
{
    return type == POOL_FT_REF_SET || type == POOL_FT_STRING_SET;
}

void pool_strv_free(struct pool_strv *sv)
{
    size_t i;

    if (!sv)
        return;
    for (i = 0; i < sv->n; i++)
        free(sv->v[i]);
    free(sv->v);
    sv->v = NULL;
    sv->n = 0;
}

bool pool_strv_contains(const struct pool_strv *sv, const char *item)
{
    size_t i;

    for (i = 0; i < sv->n; i++)
        if (strcmp(sv->v[i], item) == 0)
            return true;
    return false;
}

void pool_value_clear(struct pool_value *v)
{
    enum pool_ftype type;
    size_t i;

    if (!v)
        return;
    type = v->type;
    if (type_has_string(type)) {
        free(v->s);
    } else if (type_is_set(type)) {
        pool_strv_free(&v->set);
    } else if (type == POOL_FT_MAP) {
        for (i = 0; i < v->map.n; i++) {
            free(v->map.keys[i]);
            free(v->map.vals[i]);
        }
        free(v->map.keys);
        free(v->map.vals);
    }
    memset(v, 0, sizeof(*v));
    v->type = type;
}

int pool_value_copy(struct pool_value *dst, const struct pool_value *src)
{
    struct pool_value tmp = { .type = src->type };
    size_t i;
    int rc = 0;

    if (type_has_string(src->type)) {
        tmp.s = strdup(src->s ? src->s : "");
        if (!tmp.s)
            rc = -ENOMEM;
    } else if (type_is_set(src->type)) {
        for (i = 0; i < src->set.n && rc == 0; i++)
            rc = pool_value_set_add(&tmp, src->set.v[i]);
    } else if (src->type == POOL_FT_MAP) {
        for (i = 0; i < src->map.n && rc == 0; i++)
            rc = pool_value_map_put(&tmp, src->map.keys[i],
                                    src->map.vals[i]);
    } else {
        tmp = *src;
    }
    if (rc < 0) {
        pool_value_clear(&tmp);
        return rc;
    }
    *dst = tmp;
    return 0;
}

int pool_value_set_add(struct pool_value *v, const char *item)
{
    char **nv;
    char *copy;

    copy = strdup(item);
    if (!copy)
        return -ENOMEM;
    nv = realloc(v->set.v, (v->set.n + 1) * sizeof(*nv));
    if (!nv) {
        free(copy);
        return -ENOMEM;
    }
    nv[v->set.n++] = copy;
    v->set.v = nv;
    return 0;
}

static ssize_t map_index(const struct pool_value *v, const char *key)
{
    size_t i;

    for (i = 0; i < v->map.n; i++)
        if (strcmp(v->map.keys[i], key) == 0)
            return (ssize_t)i;
    return -1;
}

int pool_value_map_put(struct pool_value *v, const char *key,
                       const char *val)
{
    char *k = NULL, *vv = NULL, **nk, **nvals;
    ssize_t at = map_index(v, key);

    vv = strdup(val);
    if (!vv)
        return -ENOMEM;
    if (at >= 0) {
        free(v->map.vals[at]);
        v->map.vals[at] = vv;
        return 0;
    }
    k = strdup(key);
    if (!k)
        goto oom;
    nk = realloc(v->map.keys, (v->map.n + 1) * sizeof(*nk));
    if (!nk)
        goto oom;
    v->map.keys = nk;
    nvals = realloc(v->map.vals, (v->map.n + 1) * sizeof(*nvals));
    if (!nvals)
        goto oom;
    v->map.vals = nvals;
    v->map.keys[v->map.n] = k;
    v->map.vals[v->map.n] = vv;
    v->map.n++;
    return 0;

oom:
    free(k);
    free(vv);
    return -ENOMEM;
}

bool pool_value_map_remove(struct pool_value *v, const char *key)
{
    ssize_t at = map_index(v, key);
    size_t rest;

    if (at < 0)
        return false;
    free(v->map.keys[at]);
    free(v->map.vals[at]);
    rest = v->map.n - (size_t)at - 1;
    memmove(&v->map.keys[at], &v->map.keys[at + 1], rest * sizeof(char *));
    memmove(&v->map.vals[at], &v->map.vals[at + 1], rest * sizeof(char *));
    v->map.n--;
    return true;
}

const char *pool_value_map_get(const struct pool_value *v, const char *key)
{
    ssize_t at = map_index(v, key);

    return at < 0 ? NULL : v->map.vals[at];
}

/* ---- datetimes --------------------------------------------------------- */

void pool_datetime_format(time_t t, char buf[POOL_DATETIME_STRLEN + 1])
{
    struct tm tm;

    if (!gmtime_r(&t, &tm) || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900 ||
        strftime(buf, POOL_DATETIME_STRLEN + 1, "%Y%m%dT%H:%M:%SZ", &tm) !=
            POOL_DATETIME_STRLEN)
        memcpy(buf, POOL_DATETIME_EPOCH, POOL_DATETIME_STRLEN + 1);
}

void pool_datetime_now(char buf[POOL_DATETIME_STRLEN + 1])
{
    pool_datetime_format(time(NULL), buf);
}

/* n decimal digits at s; -1 if any is not one. */
static int digits(const char *s, int n)
{
    int v = 0;

    while (n-- > 0) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (*s++ - '0');
    }
    return v;
}

int pool_datetime_parse(const char *s, time_t *t_r)
{
    static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
                                 30, 31 };
    struct tm tm = { 0 };
    int y, mo, d, h, mi, se;
    time_t t;

    if (!s || strlen(s) != POOL_DATETIME_STRLEN || s[8] != 'T' ||
        s[11] != ':' || s[14] != ':' || s[17] != 'Z')
        return -EINVAL;
    y = digits(s, 4);
    mo = digits(s + 4, 2);
    d = digits(s + 6, 2);
    h = digits(s + 9, 2);
    mi = digits(s + 12, 2);
    se = digits(s + 15, 2);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
        h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 || se > 59)
        return -EINVAL;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    t = timegm(&tm);
    if (tm.tm_mday != d)        /* 30 February and the like */
        return -EINVAL;
    if (t_r)
        *t_r = t;
    return 0;
}

/* ---- text form --------------------------------------------------------- */

int pool_value_parse(enum pool_ftype type, const char *text,
                     struct pool_value *v_r)
{
    struct pool_value v = { .type = type };
    char buf[POOL_DATETIME_STRLEN + 1];
    char *end;

    if (!text)
        return -EINVAL;
    errno = 0;
    switch (type) {
    case POOL_FT_STRING:
    case POOL_FT_ENUM:
        break;
    case POOL_FT_REF:
        if (!*text)
            text = POOL_NULL_REF;
        break;
    case POOL_FT_DATETIME:
        if (strcmp(text, "now") == 0) {
            pool_datetime_now(buf);
            text = buf;
        } else if (pool_datetime_parse(text, NULL) < 0) {
            return -EINVAL;
        }
        break;
    case POOL_FT_INT:
        v.i = strtoll(text, &end, 10);
        if (errno || end == text || *end)
            return -EINVAL;
        break;
    case POOL_FT_FLOAT:
        v.f = strtod(text, &end);
        if (errno || end == text || *end)
            return -EINVAL;
        break;
    case POOL_FT_BOOL:
        if (strcasecmp(text, "true") == 0 || strcmp(text, "1") == 0)
            v.b = true;
        else if (strcasecmp(text, "false") == 0 || strcmp(text, "0") == 0)
            v.b = false;
        else
            return -EINVAL;
        break;
    default:
        return -EINVAL;     /* sets and maps have no text form */
    }
    if (type_has_string(type)) {
        v.s = strdup(text);
        if (!v.s)
            return -ENOMEM;
    }
    *v_r = v;
    return 0;
}

/* ---- records ----------------------------------------------------------- */

void pool_record_free(struct pool_record *rec)
{
    size_t i;

    if (!rec)
        return;
    for (i = 0; i < rec->n; i++)
        pool_value_clear(&rec->fields[i].value);
    free(rec->fields);
    free(rec->ref);
    free(rec);
}

void pool_records_free(struct pool_record **recs, size_t n)
{
    size_t i;

    if (!recs)
        return;
    for (i = 0; i < n; i++)
        pool_record_free(recs[i]);
    free(recs);
}

const struct pool_value *pool_record_get(const struct pool_record *rec,
                                         const char *field)
{
    size_t i;

    for (i = 0; i < rec->n; i++)
        if (strcmp(rec->fields[i].field->name, field) == 0)
            return &rec->fields[i].value;
    return NULL;
}

/* ---- refs -------------------------------------------------------------- */

int pool_ref_generate(char buf[POOL_REF_STRLEN + 1])
{
    char text[XT_UUID_STRLEN + 1];
    struct xt_uuid u;
    int rc;

    rc = xt_uuid_generate(&u);      /* getrandom(2) */
    if (rc < 0)
        return rc;
    xt_uuid_format(&u, text);
    snprintf(buf, POOL_REF_STRLEN + 1, "%s%s", POOL_REF_PREFIX, text);
    return 0;
}

/* ---- string builder ---------------------------------------------------- */

static void sb_grow(struct pool_sb *sb, size_t more)
{
    size_t cap;
    char *p;

    if (sb->oom || sb->len + more + 1 <= sb->cap)
        return;
    cap = sb->cap ? sb->cap : 64;
    while (cap < sb->len + more + 1)
        cap *= 2;
    p = realloc(sb->p, cap);
    if (!p) {
        sb->oom = true;
        return;
    }
    sb->p = p;
    sb->cap = cap;
}

static void sb_addn(struct pool_sb *sb, const char *s, size_t n)
{
    sb_grow(sb, n);
    if (sb->oom)
        return;
    memcpy(sb->p + sb->len, s, n);
    sb->len += n;
    sb->p[sb->len] = '\0';
}

void pool_sb_add(struct pool_sb *sb, const char *s)
{
    sb_addn(sb, s, strlen(s));
}

void pool_sb_addf(struct pool_sb *sb, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        sb->oom = true;
        return;
    }
    sb_grow(sb, (size_t)n);
    if (sb->oom)
        return;
    va_start(ap, fmt);
    vsnprintf(sb->p + sb->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb->len += (size_t)n;
}

void pool_sb_ident(struct pool_sb *sb, const char *name)
{
    const char *q;

    sb_addn(sb, "\"", 1);
    while ((q = strchr(name, '"'))) {
        sb_addn(sb, name, (size_t)(q - name) + 1);
        sb_addn(sb, "\"", 1);
        name = q + 1;
    }
    pool_sb_add(sb, name);
    sb_addn(sb, "\"", 1);
}

char *pool_sb_take(struct pool_sb *sb)
{
    char *p = sb->p;

    if (sb->oom || !p) {
        free(p);
        p = sb->oom ? NULL : strdup("");
    }
    sb->p = NULL;
    sb->len = sb->cap = 0;
    sb->oom = false;
    return p;
}

/* ---- JSON text of sets and maps ---------------------------------------- */

static void json_string(struct pool_sb *sb, const char *s)
{
    const unsigned char *p;

    sb_addn(sb, "\"", 1);
    for (p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            sb_addn(sb, "\\", 1);
            sb_addn(sb, (const char *)p, 1);
        } else if (*p < 0x20) {
            pool_sb_addf(sb, "\\u%04x", *p);
        } else {
            sb_addn(sb, (const char *)p, 1);
        }
    }
    sb_addn(sb, "\"", 1);
}

int pool_json_encode(const struct pool_value *v, char **json_r)
{
    struct pool_sb sb = { 0 };
    size_t i;
    char *p;

    if (v->type == POOL_FT_MAP) {
        pool_sb_add(&sb, "{");
        for (i = 0; i < v->map.n; i++) {
            if (i)
                pool_sb_add(&sb, ",");
            json_string(&sb, v->map.keys[i]);
            pool_sb_add(&sb, ":");
            json_string(&sb, v->map.vals[i]);
        }
        pool_sb_add(&sb, "}");
    } else {
        pool_sb_add(&sb, "[");
        for (i = 0; i < v->set.n; i++) {
            if (i)
                pool_sb_add(&sb, ",");
            json_string(&sb, v->set.v[i]);
        }
        pool_sb_add(&sb, "]");
    }
    p = pool_sb_take(&sb);
    if (!p)
        return -ENOMEM;
    *json_r = p;
    return 0;
}
