/*
 * cli_event.c - event-wait class=CLASS [timeout=SECONDS] FIELD=VALUE ...:
 * waits, as xe's event-wait does, until an object of CLASS has every
 * FIELD as given (FIELD=/=VALUE: anything but VALUE), following the pool
 * with event.from; the objects as they are now count too.  A reference
 * field compares with the referenced object's uuid, as it prints;
 * FIELD:KEY=VALUE looks at one key of a map field.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "xt.h"

#define POLL_S 30.0     /* one event.from waits at most this long */

/* Whether snapshot rec of cls meets every condition on the command line
 * (class= and timeout= are not conditions). */
static bool meets(struct cli_ctx *cli, const struct pool_class *cls,
                  const struct api_value *rec)
{
    size_t i;

    for (i = 0; i < cli->args.n; i++) {
        const struct cli_kv *kv = &cli->args.kv[i];
        const struct pool_field *f;
        const struct api_value *v;
        const char *want = kv->value;
        char base[128];
        bool neg = !strncmp(want, "/=", 2);
        char *t;
        bool eq;

        if (!strcmp(kv->key, "class") || !strcmp(kv->key, "timeout"))
            continue;
        /* FIELD:KEY names a key of a map field. */
        snprintf(base, sizeof(base), "%.*s", (int)strcspn(kv->key, ":"),
                 kv->key);
        f = cli_field_find(cls, base);
        if (!f)
            return false;
        v = api_struct_get(rec, f->name);
        if (kv->key[strlen(base)] == ':')
            v = f->type == POOL_FT_MAP ?
                api_struct_get(v, kv->key + strlen(base) + 1) : NULL;
        t = v ? cli_field_text(cli, kv->key[strlen(base)] == ':' ? NULL : f,
                               v) : NULL;
        eq = t && !strcasecmp(t, neg ? want + 2 : want);
        free(t);
        if (eq == neg)
            return false;
    }
    return true;
}

/* One event.from: 0 and *met when an event's snapshot meets the
 * conditions; *token follows. */
static int look(struct cli_ctx *cli, const struct pool_class *cls,
                char **token, double wait, bool *met)
{
    struct api_value *p = api_array(), *cl = api_array(), *v = NULL;
    const struct api_value *evs, *t;
    size_t i;
    int rc;

    rc = api_array_append(cl, api_string(cls->name));
    if (!rc)
        rc = api_array_append(p, cl);   /* cl consumed either way */
    else
        api_value_free(cl);
    rc = rc ?: api_array_append(p, api_string(*token ? *token : ""));
    rc = rc ?: api_array_append(p, api_double(wait));
    if (rc) {
        api_value_free(p);
        return rc;
    }
    rc = cli_rpc_call(cli, "event.from", p, &v);
    if (rc)
        return rc;
    /* The objects a reference may name are read again for this round
     * (one made since would not be in the listing of the last). */
    cli_uuid_cache_clear(cli);
    evs = api_struct_get(v, "events");
    for (i = 0; !*met && i < api_value_count(evs); i++) {
        const struct api_value *snap =
            api_struct_get(api_array_get(evs, i), "snapshot");

        if (snap && api_value_type(snap) == API_STRUCT)
            *met = meets(cli, cls, snap);
    }
    t = api_struct_get(v, "token");
    if (t && api_value_string(t)) {
        free(*token);
        *token = strdup(api_value_string(t));
        if (!*token)
            rc = -ENOMEM;
    }
    api_value_free(v);
    return rc;
}

int cli_event_wait(struct cli_ctx *cli)
{
    const char *name = cli_arg(cli, "class");
    const char *tmo = cli_arg(cli, "timeout");
    const struct pool_class *cls = name ? pool_class_find(name) : NULL;
    double timeout = 0, left;
    uint64_t deadline = 0;
    char *token = NULL, *end;
    bool met = false;
    int rc = 0;

    if (!name)
        return cli_usage_error(cli, "event-wait needs class=");
    if (!cls)
        return cli_usage_error(cli, "event-wait: no class '%s'", name);
    if (tmo) {
        timeout = strtod(tmo, &end);
        if (end == tmo || *end || timeout <= 0 || timeout > 86400)
            return cli_usage_error(cli, "event-wait: timeout= is seconds, "
                                   "more than 0 and at most 86400");
        deadline = xt_now_ns() + (uint64_t)(timeout * 1e9);
    }
    /* The first call (token "") answers every object as it is now. */
    while (!rc && !met) {
        left = POLL_S;
        if (deadline) {
            uint64_t now = xt_now_ns();

            if (token && now >= deadline)
                break;
            if ((double)(deadline - now) / 1e9 < left)
                left = (double)(deadline - now) / 1e9;
        }
        rc = look(cli, cls, &token, token ? left : 0, &met);
    }
    free(token);
    if (rc || met)
        return rc;
    fprintf(cli->err, "xm-pool: event-wait: no %s met the conditions "
            "within %g s\n", cls->name, timeout);
    if (!cli->status)
        cli->status = CLI_EXIT_SERVER;
    return -ETIMEDOUT;
}
