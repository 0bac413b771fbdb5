/*
 * pd_event.c - event.from, event.inject and the legacy event.register /
 * next / unregister, over the pool database's event log.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "pd_internal.h"
#include "pd_xenapi.h"

/*
 * A waiting event.from or event.next sleeps until one of this daemon's
 * connections commits a change (xa_db_wait: no polling), then reads the
 * log.  Only the master's daemon writes its database; in case anything
 * else does, it also looks every EVENT_CHECK_MS whether another
 * connection committed (pool_db_data_version).
 */
#define EVENT_CHECK_MS 1000

/*
 * At most half of max_connections event.from / event.next calls wait at
 * once: a flood of them (each holds a connection for its timeout) must
 * leave connections for everything else.  One over the limit answers at
 * once, as with timeout 0: what has happened since its token, if
 * anything; the client calls again.
 */
static bool waiter_enter(struct xa *xa)
{
    unsigned int max = xa->cfg->max_connections / 2;
    bool ok;

    pthread_mutex_lock(&xa->db_lock);
    ok = xa->ev_waiters < (max ? max : 1);
    if (ok)
        xa->ev_waiters++;
    pthread_mutex_unlock(&xa->db_lock);
    if (!ok)
        xt_debug(xa->log, "event waiters: %u already, one answers at once",
                max);
    return ok;
}

static void waiter_leave(struct xa *xa)
{
    pthread_mutex_lock(&xa->db_lock);
    xa->ev_waiters--;
    pthread_mutex_unlock(&xa->db_lock);
}

/* Sleeps until db changed since *ver (which follows), the deadline (ns,
 * xt_now_ns) passed or the service stops. */
static void wait_change(struct xa *xa, struct pool_db *db, int64_t *ver,
                        uint64_t *gen, uint64_t deadline)
{
    uint64_t now;
    int64_t v;

    while (!xa->stopping && (now = xt_now_ns()) < deadline) {
        uint64_t left = (deadline - now) / 1000000 + 1;

        if (xa_db_wait(xa, *gen, left < EVENT_CHECK_MS ?
                                 (unsigned int)left : EVENT_CHECK_MS)) {
            *gen = xa_db_gen(xa);
            return;
        }
        if (pool_db_data_version(db, &v) < 0 || v != *ver) {
            *ver = v;
            return;
        }
    }
}

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
        int64_t count;

        if (!c->events || !class_wanted(c, classes, nc) ||
            pool_db_count(db, c->id, &count) < 0)
            continue;
        for (k = 0; c->name[k] && k < sizeof(name) - 1; k++)
            name[k] = (char)tolower((unsigned char)c->name[k]);
        name[k] = '\0';
        api_struct_add(r, name, api_int(count));
    }
    return r;
}

/* event.from with token "": every object of the classes as an "add",
 * appended to arr; *next_r the log's end. */
static int current_state(struct xa_call *xc, const char *const *classes,
                         size_t nc, struct api_value *arr, char **next_r)
{
    size_t i, j;
    int rc = pool_db_event_token(xc->db, next_r);

    for (i = 0; rc == 0 && i < POOL_CLASS_COUNT; i++) {
        const struct pool_class *c = pool_class_get(i);
        struct pool_strv refs = { 0 };

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
    return rc;
}

/* event.from with a token: the events after it, waiting for one up to
 * timeout (not at all past the waiter limit), appended to arr; *next_r
 * the token after them.  EVENTS_LOST for a token the log does not have. */
static int events_after(struct api_call_ctx *call, const char *token,
                        const char *const *classes, size_t nc,
                        double timeout, struct api_value *arr,
                        char **next_r, struct api_value **result_r)
{
    struct xa_call *xc = xa_call_of(call);
    bool waiting = waiter_enter(xc->xa);
    uint64_t deadline = xt_now_ns() + (waiting ? (uint64_t)(timeout * 1e9)
                                               : 0);
    struct pool_event *evs = NULL;
    size_t i, n = 0;
    int64_t ver = 0;
    uint64_t gen;
    int rc;

    /* A test knows from here on that the call is ours to answer. */
    if (waiting)
        xt_fault(call->xt, "pd.event.waiting");
    pool_db_data_version(xc->db, &ver);
    gen = xa_db_gen(xc->xa);
    for (;;) {
        rc = pool_db_events_since(xc->db, token, classes, nc, &evs, &n,
                                  next_r);
        if (rc == -ESTALE)
            *result_r = api_failure("EVENTS_LOST", NULL);
        if (rc < 0 || n || xt_now_ns() >= deadline || xc->xa->stopping)
            break;
        pool_events_free(evs, n);
        evs = NULL;
        free(*next_r);
        *next_r = NULL;
        wait_change(xc->xa, xc->db, &ver, &gen, deadline);
    }
    for (i = 0; rc == 0 && i < n; i++)
        rc = api_array_append(arr, event_value(xc->db, &evs[i]));
    if (waiting)
        waiter_leave(xc->xa);
    pool_events_free(evs, n);
    return rc;
}

static int m_event_from(struct api_call_ctx *call,
                        const struct api_value *params,
                        struct api_value **result_r)
{
    struct xa_call *xc = xa_call_of(call);
    const struct api_value *cl = api_array_get(params, 1);
    const char *token = xa_param_str(params, 2);
    const char *classes[64];
    struct api_value *arr = NULL, *r = NULL;
    char *next = NULL;
    double timeout = 0;
    size_t i, nc = 0;
    int64_t ti;
    int rc;

    if (api_value_type(cl) != API_ARRAY || !token ||
        (api_value_get_double(api_array_get(params, 3), &timeout) < 0 &&
         api_value_get_int64(api_array_get(params, 3), &ti) < 0))
        return xt_error(call->xt, -EINVAL,
                        "event.from(session, classes, token, timeout)");
    if (api_value_type(api_array_get(params, 3)) != API_DOUBLE &&
        api_value_get_int64(api_array_get(params, 3), &ti) == 0)
        timeout = (double)ti;
    for (i = 0; i < api_value_count(cl) && nc < 64; i++) {
        const char *s = api_value_string(api_array_get(cl, i));
        if (s)
            classes[nc++] = s;
    }
    timeout = timeout < 0 ? 0 : timeout > 3600 ? 3600 : timeout;
    arr = api_array();
    if (!arr)
        return xt_error(call->xt, -ENOMEM, "event.from");
    rc = *token ? events_after(call, token, classes, nc, timeout, arr, &next,
                               result_r) :
                  current_state(xc, classes, nc, arr, &next);
    if (rc < 0)
        goto out;
    r = api_struct();
    rc = api_struct_add(r, "events", arr);
    arr = NULL;
    rc = rc ?: api_struct_add(r, "valid_ref_counts",
                              ref_counts(xc->db, classes, nc));
    rc = rc ?: api_struct_add(r, "token", api_string(next));
    if (rc < 0) {
        api_value_free(r);
        xt_error(call->xt, rc, "event.from");
        goto out;
    }
    *result_r = r;
out:
    api_value_free(arr);
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

/* ---- event.register / next / unregister (XAPI's legacy API) ---------- */

/*
 * A session's registration: the classes it follows and where it is in
 * the log.  Kept in memory on the master (a restart loses them; a client
 * then gets SESSION_NOT_REGISTERED or SESSION_INVALID and starts again),
 * at most XA_EVREG_MAX: registering another drops those whose session
 * has closed, then the oldest.
 */
#define EVREG_CLASSES   64
#define EVENT_NEXT_S    30      /* event.next answers [] after this long */

struct xa_evreg {
    struct xa_evreg *next;
    char session[PD_SESSION_REF_SIZE];
    char *classes[EVREG_CLASSES];
    size_t nc;
    char *token;                /* NULL: the log's end when it registered */
};

static void evreg_free(struct xa_evreg *r)
{
    size_t i;

    if (!r)
        return;
    for (i = 0; i < r->nc; i++)
        free(r->classes[i]);
    free(r->token);
    free(r);
}

void xa_evregs_free(struct xa *xa)
{
    struct xa_evreg *r;

    while ((r = xa->evregs)) {
        xa->evregs = r->next;
        evreg_free(r);
    }
}

/* The registration of session; caller holds xa->lock. */
static struct xa_evreg **evreg_find(struct xa *xa, const char *session)
{
    struct xa_evreg **p;

    for (p = &xa->evregs; *p; p = &(*p)->next)
        if (!strcmp((*p)->session, session))
            return p;
    return NULL;
}

/* Room for one more: the closed sessions' go, then the oldest (last). */
static void evreg_trim(struct xa *xa)
{
    struct xa_evreg **p = &xa->evregs, *r;
    size_t n = 0;

    while ((r = *p)) {
        if (pd_auth_peek(xa->auth, r->session, NULL) < 0) {
            *p = r->next;
            evreg_free(r);
            continue;
        }
        if (++n >= XA_EVREG_MAX) {
            *p = NULL;
            while (r) {
                struct xa_evreg *nx = r->next;
                evreg_free(r);
                r = nx;
            }
            break;
        }
        p = &r->next;
    }
}

/* Adds (add) or removes classes of the call's session's registration. */
static int evreg_edit(struct api_call_ctx *call, const struct api_value *cl,
                      bool add)
{
    struct xa_call *xc = xa_call_of(call);
    struct xa *xa = xc->xa;
    struct xa_evreg **p, *r;
    char *token = NULL;
    size_t i, k;
    int rc = 0;

    /* Where a new registration starts: read before the lock is taken. */
    if (add && (rc = pool_db_event_token(xc->db, &token)) < 0)
        return rc;
    pthread_mutex_lock(&xa->lock);
    p = evreg_find(xa, xc->session);
    if (!p && add) {
        evreg_trim(xa);
        r = calloc(1, sizeof(*r));
        if (!r) {
            rc = xt_error(call->xt, -ENOMEM, "event registration");
            goto out;
        }
        r->token = token;
        token = NULL;
        snprintf(r->session, sizeof(r->session), "%s", xc->session);
        r->next = xa->evregs;
        xa->evregs = r;
        p = &xa->evregs;
    }
    r = p ? *p : NULL;
    for (i = 0; r && i < api_value_count(cl); i++) {
        const char *c = api_value_string(api_array_get(cl, i));

        if (!c)
            continue;
        for (k = 0; k < r->nc && strcasecmp(r->classes[k], c); k++)
            ;
        if (add && k == r->nc && r->nc < EVREG_CLASSES) {
            if (!(r->classes[r->nc] = strdup(c))) {
                rc = xt_error(call->xt, -ENOMEM, "event registration");
                goto out;
            }
            r->nc++;
        } else if (!add && k < r->nc) {
            free(r->classes[k]);
            r->classes[k] = r->classes[--r->nc];
        }
    }
out:
    pthread_mutex_unlock(&xa->lock);
    free(token);
    return rc;
}

/* event.register(classes) and event.unregister(classes). */
static int m_event_register(struct api_call_ctx *call,
                            const struct api_value *params,
                            struct api_value **result_r)
{
    const struct api_value *cl = api_array_get(params, 1);
    bool add = !strcmp(call->m->name, "event.register");
    int rc;

    if (api_value_type(cl) != API_ARRAY)
        return xt_error(call->xt, -EINVAL, "%s(session, classes)",
                        call->m->name);
    rc = evreg_edit(call, cl, add);
    if (rc == 0)
        *result_r = api_void();
    return rc;
}

/* Copies what the session follows: 0, or -ENOENT (not registered). */
static int evreg_get(struct xa *xa, const char *session, char **classes,
                     size_t *nc_r, char **token_r)
{
    struct xa_evreg **p;
    size_t i;
    int rc = -ENOENT;

    pthread_mutex_lock(&xa->lock);
    p = evreg_find(xa, session);
    if (p) {
        rc = 0;
        for (i = 0; i < (*p)->nc; i++)
            if (!(classes[i] = strdup((*p)->classes[i])))
                rc = -ENOMEM;
        *nc_r = (*p)->nc;
        *token_r = (*p)->token ? strdup((*p)->token) : NULL;
        if ((*p)->token && !*token_r)
            rc = -ENOMEM;
    }
    pthread_mutex_unlock(&xa->lock);
    return rc;
}

/* The session's place in the log moves to token (NULL: taken). */
static void evreg_advance(struct xa *xa, const char *session, char *token)
{
    struct xa_evreg **p;

    pthread_mutex_lock(&xa->lock);
    p = evreg_find(xa, session);
    if (p) {
        free((*p)->token);
        (*p)->token = token;
        token = NULL;
    }
    pthread_mutex_unlock(&xa->lock);
    free(token);
}

/* event.next's record of an event: event.from's, with obj_uuid. */
static struct api_value *next_value(struct pool_db *db,
                                    const struct pool_event *e)
{
    struct api_value *ev = event_value(db, e);
    const struct api_value *snap = api_struct_get(ev, "snapshot");
    const struct api_value *uuid = api_struct_get(snap, "uuid");

    if (ev && api_struct_add(ev, "obj_uuid", api_string(
            uuid && api_value_string(uuid) ? api_value_string(uuid) : "")))
        ev = (api_value_free(ev), NULL);
    return ev;
}

/*
 * event.next(session): the events of the registered classes since the
 * last call (or the registration), waiting for one up to EVENT_NEXT_S
 * (XAPI waits on; an empty set here is a call to make again).
 * SESSION_NOT_REGISTERED without event.register; EVENTS_LOST when the
 * log was trimmed past the session's place (it starts again from now).
 */
static int m_event_next(struct api_call_ctx *call,
                        const struct api_value *params,
                        struct api_value **result_r)
{
    struct xa_call *xc = xa_call_of(call);
    char *classes[EVREG_CLASSES] = { NULL }, *token = NULL, *next = NULL;
    struct pool_event *evs = NULL;
    struct api_value *arr = NULL;
    uint64_t deadline = xt_now_ns() + EVENT_NEXT_S * 1000000000ull;
    size_t i, n = 0, nc = 0;
    int64_t ver = 0;
    uint64_t gen;
    bool waiting = false;
    int rc;

    (void)params;
    pool_db_data_version(xc->db, &ver);
    gen = xa_db_gen(xc->xa);
    rc = evreg_get(xc->xa, xc->session, classes, &nc, &token);
    if (rc == -ENOENT) {
        *result_r = api_failure("SESSION_NOT_REGISTERED", xc->session,
                                NULL);
        rc = xt_error(call->xt, rc, "event.next without event.register");
        goto out;
    }
    waiting = rc == 0 && waiter_enter(xc->xa);
    if (!waiting)
        deadline = 0;
    /* Registered for nothing: nothing comes, the wait is the timeout's
     * (as XAPI's, which blocks), not a client spinning on []. */
    if (rc == 0 && !nc)
        while (xt_now_ns() < deadline && xa_sleep(xc->xa, EVENT_CHECK_MS))
            ;
    for (; rc == 0 && nc;) {
        rc = pool_db_events_since(xc->db, token, (const char *const *)classes,
                                  nc, &evs, &n, &next);
        if (rc == -ESTALE) {
            *result_r = api_failure("EVENTS_LOST", NULL);
            pool_db_event_token(xc->db, &next);
            evreg_advance(xc->xa, xc->session, next);
            next = NULL;
            goto out;
        }
        if (rc < 0 || n || xt_now_ns() >= deadline || xc->xa->stopping)
            break;
        pool_events_free(evs, n);
        evs = NULL;
        free(next);
        next = NULL;
        wait_change(xc->xa, xc->db, &ver, &gen, deadline);
    }
    if (rc < 0)
        goto out;
    arr = api_array();
    for (i = 0; arr && rc == 0 && i < n; i++)
        rc = api_array_append(arr, next_value(xc->db, &evs[i]));
    if (!arr || rc < 0) {
        rc = xt_error(call->xt, -ENOMEM, "event.next");
        goto out;
    }
    if (next)
        evreg_advance(xc->xa, xc->session, next);
    next = NULL;
    *result_r = arr;
    arr = NULL;
out:
    if (waiting)
        waiter_leave(xc->xa);
    for (i = 0; i < nc; i++)
        free(classes[i]);
    api_value_free(arr);
    pool_events_free(evs, n);
    free(token);
    free(next);
    return rc;
}

const struct api_method xa_event_methods[] = {
    { "event.from", 4, 0, API_METHOD_NO_ASYNC, m_event_from },
    { "event.inject", 3, 0, API_METHOD_NO_ASYNC, m_event_inject },
    { "event.register", 2, 0, API_METHOD_NO_ASYNC, m_event_register },
    { "event.unregister", 2, 0, API_METHOD_NO_ASYNC, m_event_register },
    { "event.next", 1, 0, API_METHOD_NO_ASYNC, m_event_next },
    { NULL },
};
