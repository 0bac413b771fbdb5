/*
 * pd_value.c - values between the pool model (struct pool_value,
 * records) and the wire (struct api_value), and the parameter helpers of
 * handlers.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pd_internal.h"
#include "pd_xenapi.h"

/* ---- values ------------------------------------------------------------ */

const char *xa_param_str(const struct api_value *params, size_t i)
{
    const struct api_value *v = api_array_get(params, i);

    return v ? api_value_string(v) : NULL;
}

struct api_value *xa_pool_value(const struct pool_value *v)
{
    struct api_value *r;
    size_t i;

    switch (v->type) {
    case POOL_FT_STRING:
    case POOL_FT_ENUM:
    case POOL_FT_REF:
        return api_string(v->s ? v->s : "");
    case POOL_FT_DATETIME:
        return api_datetime(v->s ? v->s : POOL_DATETIME_EPOCH);
    case POOL_FT_INT:
        return api_int(v->i);
    case POOL_FT_BOOL:
        return api_bool(v->b);
    case POOL_FT_FLOAT:
        return api_double(v->f);
    case POOL_FT_REF_SET:
    case POOL_FT_STRING_SET:
        r = api_array();
        for (i = 0; r && i < v->set.n; i++)
            if (api_array_append(r, api_string(v->set.v[i])) < 0) {
                api_value_free(r);
                return NULL;
            }
        return r;
    case POOL_FT_MAP:
        r = api_struct();
        for (i = 0; r && i < v->map.n; i++)
            if (api_struct_add_new(r, v->map.keys[i],   /* unique */
                                   api_string(v->map.vals[i])) < 0) {
                api_value_free(r);
                return NULL;
            }
        return r;
    }
    return NULL;
}

struct api_value *xa_record_value(const struct pool_record *rec)
{
    struct api_value *r = api_struct();
    size_t i;

    for (i = 0; r && i < rec->n; i++)
        if (api_struct_add_new(r, rec->fields[i].field->name,
                               strcmp(rec->fields[i].field->name,
                                      "allowed_operations") ?
                               xa_pool_value(&rec->fields[i].value) :
                               xa_allowed_ops(rec)) < 0) {
            api_value_free(r);
            return NULL;
        }
    return r;
}

/* An API value into a pool value of field f's type; -EINVAL if it does
 * not fit.  *v_r owns its strings. */
int xa_value_from_api(const struct pool_field *f,
                      const struct api_value *a, struct pool_value *v_r)
{
    enum api_type t = api_value_type(a);
    size_t i;
    int rc;

    memset(v_r, 0, sizeof(*v_r));
    v_r->type = f->type;
    switch (f->type) {
    case POOL_FT_STRING:
    case POOL_FT_ENUM:
    case POOL_FT_REF:
    case POOL_FT_DATETIME:
        if (t != API_STRING && t != API_DATETIME)
            return -EINVAL;
        return pool_value_parse(f->type, api_value_string(a), v_r);
    case POOL_FT_INT:
        return api_value_get_int64(a, &v_r->i) < 0 ? -EINVAL : 0;
    case POOL_FT_BOOL:
        return api_value_get_bool(a, &v_r->b);
    case POOL_FT_FLOAT:
        return api_value_get_double(a, &v_r->f);
    case POOL_FT_STRING_SET:
        if (t != API_ARRAY)
            return -EINVAL;
        for (i = 0; i < api_value_count(a); i++) {
            const char *s = api_value_string(api_array_get(a, i));
            if (!s)
                return -EINVAL;
            rc = pool_value_set_add(v_r, s);
            if (rc < 0)
                return rc;
        }
        return 0;
    case POOL_FT_MAP:
        if (t != API_STRUCT)
            return -EINVAL;
        for (i = 0; i < api_value_count(a); i++) {
            const char *s = api_value_string(api_struct_value(a, i));
            if (!s)
                return -EINVAL;
            rc = pool_value_map_put(v_r, api_struct_key(a, i), s);
            if (rc < 0)
                return rc;
        }
        return 0;
    case POOL_FT_REF_SET:
        return -EINVAL;
    }
    return -EINVAL;
}
