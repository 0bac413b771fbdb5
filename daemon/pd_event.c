/*
 * pd_event.c - event.from and event.inject over the pool database's event log.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pd_internal.h"
#include "pd_xenapi.h"

#define EVENT_POLL_MS 200

/* ---- event.from -------------------------------------------------------- */

static struct api_value *event_value(struct pool_db *db,
                                     const struct pool_event *e)
{
    struct api_value *ev = api_struct();
    struct pool_record *rec = NULL;
    int rc;

    rc = api_struct_add(ev, "id", api_int(e->id));
    rc = rc ?: api_struct_add(ev, "timestamp",
                              api_stringf("%.6f", e->timestamp));
    rc = rc ?: api_struct_add(ev, "class", api_string(e->cls->name));
    rc = rc ?: api_struct_add(ev, "operation",
                              api_string(pool_event_op_name(e->op)));
    rc = rc ?: api_struct_add(ev, "ref", api_string(e->ref));
    if (!rc && e->op != POOL_EV_DEL &&
        pool_db_get_record(db, e->cls->id, e->ref, &rec) == 0) {
        rc = api_struct_add(ev, "snapshot", xa_record_value(rec));
        pool_record_free(rec);
    }
    if (rc) {
        api_value_free(ev);
        return NULL;
    }
    return ev;
}

/* Whether event.from's classes (none, or "*": all) name class c. */
static bool class_wanted(const struct pool_class *c,
                         const char *const *classes, size_t nc)
{
    size_t k;

    for (k = 0; k < nc; k++)
        if (!strcmp(classes[k], "*") || !strcasecmp(classes[k], c->name))
            return true;
    return nc == 0;
}

/* event.from's valid_ref_counts: each class asked for that has events,
 * by its name in lower case (as XAPI keys it), and how many objects of it
 * there are now. */
static struct api_value *ref_counts(struct pool_db *db,
                                    const char *const *classes, size_t nc)
{
    struct api_value *r = api_struct();
    char name[64];
    size_t i, k;

    for (i = 0; r && i < POOL_CLASS_COUNT; i++) {
        const struct pool_class *c = pool_class_get(i);
        struct pool_strv refs = { 0 };

        if (!c->events || !class_wanted(c, classes, nc) ||
            pool_db_get_all(db, c->id, &refs) < 0)
            continue;
        for (k = 0; c->name[k] && k < sizeof(name) - 1; k++)
            name[k] = (char)tolower((unsigned char)c->name[k]);
        name[k] = '\0';
        api_struct_add(r, name, api_int((int64_t)refs.n));
        pool_strv_free(&refs);
    }
    return r;
}

static int m_event_from(struct api_call_ctx *call,
                        const struct api_value *params,
                        struct api_value **result_r)
{
    struct xa_call *xc = xa_call_of(call);
    const struct api_value *cl = api_array_get(params, 1);
    const char *token = xa_param_str(params, 2);
    const char *classes[64];
    struct pool_event *evs = NULL;
    struct api_value *arr = NULL, *r = NULL;
    char *next = NULL;
    double timeout = 0;
    size_t i, n = 0, nc = 0;
    uint64_t deadline;
    int rc;

    if (api_value_type(cl) != API_ARRAY || !token ||
        api_value_get_double(api_array_get(params, 3), &timeout) < 0) {
        int64_t ti;
        if (api_value_type(cl) != API_ARRAY || !token ||
            api_value_get_int64(api_array_get(params, 3), &ti) < 0)
            return xt_error(call->xt, -EINVAL,
                            "event.from(session, classes, token, timeout)");
        timeout = (double)ti;
    }
    for (i = 0; i < api_value_count(cl) && nc < 64; i++) {
        const char *s = api_value_string(api_array_get(cl, i));
        if (s)
            classes[nc++] = s;
    }
    if (timeout < 0)
        timeout = 0;
    if (timeout > 3600)
        timeout = 3600;
    arr = api_array();
    if (!arr)
        return xt_error(call->xt, -ENOMEM, "event.from");
    if (!*token) {
        /* Current state: every object of the classes as an "add". */
        rc = pool_db_event_token(xc->db, &next);
        for (i = 0; rc == 0 && i < POOL_CLASS_COUNT; i++) {
            const struct pool_class *c = pool_class_get(i);
            struct pool_strv refs = { 0 };
            size_t j;

            if (!class_wanted(c, classes, nc) || !c->events)
                continue;
            rc = pool_db_get_all(xc->db, c->id, &refs);
            for (j = 0; rc == 0 && j < refs.n; j++) {
                struct pool_event e = { .cls = c, .ref = refs.v[j],
                                        .op = POOL_EV_ADD,
                                        .timestamp = (double)time(NULL) };
                rc = api_array_append(arr, event_value(xc->db, &e));
            }
            pool_strv_free(&refs);
        }
        if (rc < 0)
            goto out;
    } else {
        deadline = xt_now_ns() + (uint64_t)(timeout * 1e9);
        /* A test knows from here on that the call is ours to answer. */
        xt_fault(call->xt, "pd.event.waiting");
        for (;;) {
            rc = pool_db_events_since(xc->db, token, classes, nc, &evs, &n,
                                      &next);
            if (rc == -ESTALE) {
                *result_r = api_failure("EVENTS_LOST", NULL);
                goto out;
            }
            if (rc < 0)
                goto out;
            if (n || xt_now_ns() >= deadline || xc->xa->stopping)
                break;
            pool_events_free(evs, n);
            evs = NULL;
            free(next);
            next = NULL;
            /* Returns at once when the service stops. */
            xa_sleep(xc->xa, EVENT_POLL_MS);
        }
        for (i = 0; rc == 0 && i < n; i++)
            rc = api_array_append(arr, event_value(xc->db, &evs[i]));
        if (rc < 0)
            goto out;
    }
    r = api_struct();
    rc = api_struct_add(r, "events", arr);
    arr = NULL;
    rc = rc ?: api_struct_add(r, "valid_ref_counts",
                              ref_counts(xc->db, classes, nc));
    rc = rc ?: api_struct_add(r, "token", api_string(next));
    if (rc < 0) {
        api_value_free(r);
        r = NULL;
        xt_error(call->xt, rc, "event.from");
        goto out;
    }
    *result_r = r;
out:
    api_value_free(arr);
    pool_events_free(evs, n);
    free(next);
    return rc;
}

/* event.inject(session, class, ref): a "mod" event of the object
 * (pool_db_touch); the token after it. */
static int m_event_inject(struct api_call_ctx *call,
                          const struct api_value *params,
                          struct api_value **result_r)
{
    struct xa_call *xc = xa_call_of(call);
    const char *cls = xa_param_str(params, 1), *ref = xa_param_str(params, 2);
    const struct pool_class *c = cls ? pool_class_find(cls) : NULL;
    char *token = NULL;
    int rc;

    if (!cls || !ref)
        return xt_error(call->xt, -EINVAL, "event.inject(session, class, "
                        "ref)");
    rc = c && c->events ? pool_db_touch(xc->db, c->id, ref) : -ENOENT;
    if (rc == -ENOENT) {
        *result_r = api_failure("HANDLE_INVALID", cls, ref, NULL);
        return xt_error(call->xt, rc, "event.inject: no %s %s", cls, ref);
    }
    rc = rc ?: pool_db_event_token(xc->db, &token);
    if (rc < 0)
        return xt_error(call->xt, rc, "event.inject");
    *result_r = api_string(token);
    free(token);
    return 0;
}

const struct api_method xa_event_methods[] = {
    { "event.from", 4, 0, API_METHOD_NO_ASYNC, m_event_from },
    { "event.inject", 3, 0, API_METHOD_NO_ASYNC, m_event_inject },
    { NULL },
};
