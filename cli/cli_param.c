/*
 * cli_param.c - the *-param-* commands of every class, as xe has them:
 * X-param-get uuid= param-name= [param-key=], X-param-set uuid=
 * FIELD=VALUE ... (FIELD:KEY=VALUE for one key of a map), X-param-list
 * uuid= (every field).  The class is the command's (cli_main.c's table).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

/* The command's class: its name's prefix ("vm-param-get": VM). */
static const struct pool_class *cmd_class(struct cli_ctx *cli)
{
    char x[32];

    snprintf(x, sizeof(x), "%.*s", (int)strcspn(cli->cmd->name, "-"),
             cli->cmd->name);
    return pool_class_find(x);
}

static int ref_by_uuid(struct cli_ctx *cli, const struct pool_class *cls,
                       const char *uuid, struct api_value **ref_r)
{
    char method[64];

    if (!uuid)
        return cli_usage_error(cli, "%s needs uuid=", cli->cmd->name);
    snprintf(method, sizeof(method), "%s.get_by_uuid", cls->name);
    return cli_rpc_call(cli, method, cli_strings(uuid, NULL), ref_r);
}

int cli_param_get(struct cli_ctx *cli)
{
    const struct pool_class *cls = cmd_class(cli);
    char method[64];
    const char *uuid = cli_arg(cli, "uuid");
    const char *name = cli_arg(cli, "param-name");
    const char *key = cli_arg(cli, "param-key");
    const struct pool_field *f;
    struct api_value *ref = NULL, *rec = NULL;
    const struct api_value *v;
    char *t;
    int rc;

    if (!name)
        return cli_usage_error(cli, "%s needs param-name=", cli->cmd->name);
    f = cli_field_find(cls, name);
    if (!f)
        return cli_usage_error(cli, "%s has no field '%s' (see %.*s-list "
                               "params=all)", cls->name, name,
                               (int)strcspn(cli->cmd->name, "-"),
                               cli->cmd->name);
    rc = ref_by_uuid(cli, cls, uuid, &ref);
    snprintf(method, sizeof(method), "%s.get_record", cls->name);
    if (!rc)
        rc = cli_rpc_call(cli, method,
                          cli_strings(api_value_string(ref) ?: "", NULL), &rec);
    if (rc)
        goto out;
    v = api_struct_get(rec, f->name);
    if (key) {
        if (!v || api_value_type(v) != API_STRUCT) {
            rc = cli_usage_error(cli, "param-key= needs a map field");
            goto out;
        }
        v = api_struct_get(v, key);
        if (!v) {
            rc = cli_usage_error(cli, "%s has no key '%s'", name, key);
            goto out;
        }
    }
    t = key ? cli_value_text(v) : cli_field_text(cli, f, v);
    fprintf(cli->out, "%s\n", t ? t : "");
    free(t);
out:
    api_value_free(ref);
    api_value_free(rec);
    return rc;
}

/* The wire value of text for field f (ints, bools, floats typed). */
static int typed_value(struct cli_ctx *cli, const struct pool_field *f,
                       const char *text, struct api_value **v_r)
{
    char *end;

    *v_r = NULL;
    switch (f->type) {
    case POOL_FT_INT: {
        long long x;

        errno = 0;
        x = strtoll(text, &end, 10);
        if (errno || end == text || *end)
            return cli_usage_error(cli, "%s: '%s' is not an integer",
                                   f->name, text);
        *v_r = api_int(x);
        break;
    }
    case POOL_FT_BOOL:
        if (!strcasecmp(text, "true") || !strcmp(text, "1"))
            *v_r = api_bool(true);
        else if (!strcasecmp(text, "false") || !strcmp(text, "0"))
            *v_r = api_bool(false);
        else
            return cli_usage_error(cli, "%s: expected true or false",
                                   f->name);
        break;
    case POOL_FT_FLOAT: {
        double d = strtod(text, &end);

        if (end == text || *end)
            return cli_usage_error(cli, "%s: '%s' is not a number",
                                   f->name, text);
        *v_r = api_double(d);
        break;
    }
    case POOL_FT_STRING_SET:
    case POOL_FT_REF_SET:
    case POOL_FT_MAP:
        return cli_usage_error(cli, "%s is a set or map: set one key with "
                               "%s:KEY=VALUE", f->name, f->name);
    case POOL_FT_REF: {
        /* given as the object's uuid ("" for none), sent as its ref */
        const struct pool_class *t = pool_class_get(f->target);
        char method[96];

        if (!*text) {
            *v_r = api_string("OpaqueRef:NULL");
            break;
        }
        snprintf(method, sizeof(method), "%s.get_by_uuid", t->name);
        return cli_rpc_call(cli, method, cli_strings(text, NULL), v_r);
    }
    default:
        *v_r = api_string(text);
        break;
    }
    return *v_r ? 0 : -ENOMEM;
}

/* cls-param-set uuid=UUID FIELD=VALUE ...: each RW field through
 * cls.set_FIELD. */
static int param_set(struct cli_ctx *cli, const char *cls_name)
{
    const struct pool_class *cls = pool_class_find(cls_name);
    const char *uuid = cli_arg(cli, "uuid");
    struct api_value *ref = NULL, *rec = NULL, *v = NULL, *params;
    char getter[64];
    const char *r;
    size_t i, nset = 0;
    int rc;

    if (!uuid)
        return cli_usage_error(cli, "%s needs uuid=", cli->cmd->name);
    snprintf(getter, sizeof(getter), "%s.get_by_uuid", cls_name);
    rc = cli_rpc_call(cli, getter, cli_strings(uuid, NULL), &ref);
    if (rc)
        return rc;
    r = api_value_string(ref) ?: "";
    for (i = 0; i < cli->args.n && !rc; i++) {
        struct cli_kv *kv = &cli->args.kv[i];
        char field[128], method[192];
        const char *colon = strchr(kv->key, ':');
        const struct pool_field *f;

        if (!strcmp(kv->key, "uuid"))
            continue;
        snprintf(field, sizeof(field), "%.*s", (int)strcspn(kv->key, ":"),
                 kv->key);
        f = cli_field_find(cls, field);
        if (!f || f->access != POOL_FA_RW) {
            rc = cli_usage_error(cli, "%s field '%s' is %s", cls_name,
                                 field, f ? "read-only" : "unknown");
            break;
        }
        snprintf(method, sizeof(method), "%s.set_%s", cls_name, f->name);
        if (colon) {
            /* one key of a map: read, change, write back */
            struct api_value *map;
            size_t j, n;

            if (f->type != POOL_FT_MAP) {
                rc = cli_usage_error(cli, "%s is not a map", f->name);
                break;
            }
            snprintf(method, sizeof(method), "%s.get_record", cls_name);
            if (!rec)
                rc = cli_rpc_call(cli, method, cli_strings(r, NULL), &rec);
            snprintf(method, sizeof(method), "%s.set_%s", cls_name,
                     f->name);
            if (rc)
                break;
            map = api_struct();
            n = api_value_count(api_struct_get(rec, f->name));
            for (j = 0; j < n && !rc; j++) {
                const struct api_value *m = api_struct_get(rec, f->name);

                if (strcmp(api_struct_key(m, j), colon + 1))
                    rc = api_struct_add(map, api_struct_key(m, j),
                                        api_value_copy(
                                            api_struct_value(m, j)));
            }
            if (!rc && *kv->value)
                rc = api_struct_add(map, colon + 1, api_string(kv->value));
            v = map;
        } else {
            rc = typed_value(cli, f, kv->value, &v);
        }
        if (rc) {
            api_value_free(v);
            break;
        }
        params = cli_strings(r, NULL);
        rc = params ? api_array_append(params, v) : -ENOMEM;
        v = NULL;
        if (!rc)
            rc = cli_rpc_call(cli, method, params, &v);
        else
            api_value_free(params);
        api_value_free(v);
        v = NULL;
        /* The next key of a map starts from what was just written. */
        api_value_free(rec);
        rec = NULL;
        nset++;
    }
    if (!rc && nset == 0)
        rc = cli_usage_error(cli, "%s: nothing to set (give FIELD=VALUE)",
                             cli->cmd->name);
    api_value_free(ref);
    api_value_free(rec);
    return rc;
}

int cli_param_set(struct cli_ctx *cli)
{
    return param_set(cli, cmd_class(cli)->name);
}

/* X-param-list uuid=UUID: every field of the object, as xe prints it. */
int cli_param_list(struct cli_ctx *cli)
{
    const struct pool_class *cls = cmd_class(cli);
    struct api_value *ref = NULL, *rec = NULL;
    char method[64];
    int rc;

    rc = ref_by_uuid(cli, cls, cli_arg(cli, "uuid"), &ref);
    snprintf(method, sizeof(method), "%s.get_record", cls->name);
    if (!rc)
        rc = cli_rpc_call(cli, method,
                          cli_strings(api_value_string(ref) ?: "", NULL),
                          &rec);
    if (!rc)
        rc = cli_print_record(cli, cls, rec, "all", NULL);
    api_value_free(ref);
    api_value_free(rec);
    return rc;
}
