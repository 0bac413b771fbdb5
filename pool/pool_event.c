/*
 * pool_event.c - reading the event log (the triggers of pool_db.c write
 * it) for XenAPI event.from.
 *
 * Ids come from AUTOINCREMENT: never reused, and as SQLite has one writer
 * at a time they become visible in id order, so "everything after token"
 * is well defined.  The highest id ever given is in sqlite_sequence even
 * when the log has been trimmed empty; pool_meta.events_trimmed_upto says
 * up to where events were discarded.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool_internal.h"

const char *pool_event_op_name(enum pool_event_op op)
{
    switch (op) {
    case POOL_EV_ADD:
        return "add";
    case POOL_EV_MOD:
        return "mod";
    case POOL_EV_DEL:
        return "del";
    default:
        return "?";
    }
}

void pool_events_free(struct pool_event *events, size_t n)
{
    size_t i;

    if (!events)
        return;
    for (i = 0; i < n; i++)
        free(events[i].ref);
    free(events);
}

static int parse_token(struct pool_db *db, const char *token, int64_t *id_r)
{
    long long v;
    char *end;

    if (!token || !*token) {
        *id_r = 0;
        return 0;
    }
    errno = 0;
    v = strtoll(token, &end, 10);
    if (errno || *end || token[0] < '0' || token[0] > '9')
        return xt_error(db->ctx, -EINVAL, "malformed event token \"%.40s\"",
                        token);
    *id_r = v;
    return 0;
}

static int query_i64(struct pool_db *db, const char *sql, int64_t *v_r)
{
    sqlite3_stmt *st = NULL;
    int rc, sqrc;

    rc = pool_prepare(db, sql, &st);
    if (rc < 0)
        return rc;
    sqrc = sqlite3_step(st);
    if (sqrc == SQLITE_ROW)
        *v_r = sqlite3_column_int64(st, 0);
    else if (sqrc == SQLITE_DONE)
        *v_r = 0;
    else
        rc = pool_sq_error(db, sqrc, "reading the event log");
    sqlite3_finalize(st);
    return rc;
}

/* The id of the newest event ever logged, and where trimming stopped. */
static int log_bounds(struct pool_db *db, int64_t *last_r, int64_t *trimmed_r)
{
    int rc;

    rc = query_i64(db, "SELECT seq FROM sqlite_sequence "
                   "WHERE name = 'event'", last_r);
    if (rc == 0 && trimmed_r)
        rc = query_i64(db, "SELECT CAST(value AS INTEGER) FROM pool_meta "
                       "WHERE key = 'events_trimmed_upto'", trimmed_r);
    return rc;
}

static int format_token(struct pool_db *db, int64_t id, char **token_r)
{
    if (asprintf(token_r, "%lld", (long long)id) < 0) {
        *token_r = NULL;
        return xt_error(db->ctx, -ENOMEM, "pool db: event token");
    }
    return 0;
}

/* One entry of the class filter, parsed. */
struct filter {
    const struct pool_class *cls;   /* NULL: every class */
    const char *ref;                /* NULL: every object of cls */
    size_t reflen;
};

static int parse_filter(struct pool_db *db, const char *const *classes,
                        size_t n, struct filter **filters_r)
{
    struct filter *fl;
    const char *slash;
    char name[64];
    size_t i, len;

    fl = calloc(n ? n : 1, sizeof(*fl));
    if (!fl)
        return xt_error(db->ctx, -ENOMEM, "pool db: event filter");
    for (i = 0; i < n; i++) {
        if (!classes[i] || strcmp(classes[i], "*") == 0)
            continue;
        slash = strchr(classes[i], '/');
        len = slash ? (size_t)(slash - classes[i]) : strlen(classes[i]);
        if (len < sizeof(name)) {
            memcpy(name, classes[i], len);
            name[len] = '\0';
            fl[i].cls = pool_class_find(name);
        }
        if (!fl[i].cls) {
            free(fl);
            return xt_error(db->ctx, -EINVAL, "event filter: no class "
                            "\"%.*s\"", (int)(len < 64 ? len : 64),
                            classes[i]);
        }
        if (slash) {
            fl[i].ref = slash + 1;
            fl[i].reflen = strlen(slash + 1);
        }
    }
    *filters_r = fl;
    return 0;
}

static bool filter_match(const struct filter *fl, size_t n,
                         const struct pool_class *cls, const char *ref)
{
    size_t i;

    if (n == 0)
        return true;
    for (i = 0; i < n; i++) {
        if (!fl[i].cls)
            return true;
        if (fl[i].cls != cls)
            continue;
        if (!fl[i].ref || strcmp(fl[i].ref, ref) == 0)
            return true;
    }
    return false;
}

static int parse_op(const char *s, enum pool_event_op *op_r)
{
    if (!s)
        return -EINVAL;
    if (strcmp(s, "add") == 0)
        *op_r = POOL_EV_ADD;
    else if (strcmp(s, "mod") == 0)
        *op_r = POOL_EV_MOD;
    else if (strcmp(s, "del") == 0)
        *op_r = POOL_EV_DEL;
    else
        return -EINVAL;
    return 0;
}

/* Appends the events after since that pass the filter. */
static int read_events(struct pool_db *db, int64_t since,
                       const struct filter *fl, size_t nfl,
                       struct pool_event **events_r, size_t *n_r)
{
    struct pool_event *ev = NULL, *nev;
    const struct pool_class *cls;
    sqlite3_stmt *st = NULL;
    size_t n = 0, cap = 0;
    const char *ref;
    enum pool_event_op op;
    int rc, sqrc;

    rc = pool_prepare(db, "SELECT id, class, ref, op, ts FROM event "
                      "WHERE id > ?1 ORDER BY id", &st);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, since);
    while ((sqrc = sqlite3_step(st)) == SQLITE_ROW) {
        cls = pool_class_find((const char *)sqlite3_column_text(st, 1));
        ref = (const char *)sqlite3_column_text(st, 2);
        if (!cls || !ref ||
            parse_op((const char *)sqlite3_column_text(st, 3), &op) < 0) {
            rc = xt_error(db->ctx, -EIO, "pool db %s: malformed event %lld",
                          db->path, (long long)sqlite3_column_int64(st, 0));
            goto out;
        }
        if (!filter_match(fl, nfl, cls, ref))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            nev = realloc(ev, cap * sizeof(*ev));
            if (!nev) {
                rc = xt_error(db->ctx, -ENOMEM, "pool db: events");
                goto out;
            }
            ev = nev;
        }
        ev[n].id = sqlite3_column_int64(st, 0);
        ev[n].cls = cls;
        ev[n].op = op;
        ev[n].timestamp = sqlite3_column_double(st, 4);
        ev[n].ref = strdup(ref);
        if (!ev[n].ref) {
            rc = xt_error(db->ctx, -ENOMEM, "pool db: events");
            goto out;
        }
        n++;
    }
    if (sqrc != SQLITE_DONE) {
        rc = pool_sq_error(db, sqrc, "reading events");
        goto out;
    }
    *events_r = ev;
    *n_r = n;
    ev = NULL;
    n = 0;
out:
    sqlite3_finalize(st);
    pool_events_free(ev, n);
    return rc;
}

int pool_db_events_since(struct pool_db *db, const char *token,
                         const char *const *classes, size_t nclasses,
                         struct pool_event **events_r, size_t *n_r,
                         char **token_r)
{
    struct pool_event *ev = NULL;
    struct filter *fl = NULL;
    int64_t since = 0, last = 0, trimmed = 0;
    char *next = NULL;
    size_t n = 0;
    int rc;

    rc = parse_token(db, token, &since);
    if (rc == 0)
        rc = parse_filter(db, classes, nclasses, &fl);
    if (rc < 0)
        return rc;
    rc = pool_op_begin(db, false);
    if (rc < 0)
        goto out_free;
    rc = log_bounds(db, &last, &trimmed);
    if (rc < 0)
        goto out;
    if (since < trimmed) {
        rc = xt_error(db->ctx, -ESTALE, "events after token %lld were "
                      "discarded (the log starts after %lld)",
                      (long long)since, (long long)trimmed);
        goto out;
    }
    if (since > last) {
        rc = xt_error(db->ctx, -ESTALE, "event token %lld is newer than "
                      "the log (%lld): the database was replaced?",
                      (long long)since, (long long)last);
        goto out;
    }
    rc = read_events(db, since, fl, nclasses, &ev, &n);
    if (rc == 0)
        rc = format_token(db, last, &next);
out:
    rc = pool_op_end(db, rc);
out_free:
    free(fl);
    if (rc < 0) {
        pool_events_free(ev, n);
        free(next);
        return rc;
    }
    *events_r = ev;
    *n_r = n;
    *token_r = next;
    return 0;
}

int pool_db_event_token(struct pool_db *db, char **token_r)
{
    int64_t last;
    int rc;

    *token_r = NULL;
    rc = pool_op_begin(db, false);
    if (rc < 0)
        return rc;
    rc = log_bounds(db, &last, NULL);
    if (rc == 0)
        rc = format_token(db, last, token_r);
    rc = pool_op_end(db, rc);
    if (rc < 0 && *token_r) {
        free(*token_r);
        *token_r = NULL;
    }
    return rc;
}

int pool_db_events_trim(struct pool_db *db, uint64_t keep)
{
    sqlite3_stmt *st = NULL;
    int64_t last, cut;
    int rc, sqrc;

    rc = pool_op_begin(db, true);
    if (rc < 0)
        return rc;
    rc = log_bounds(db, &last, NULL);
    if (rc < 0 || keep >= (uint64_t)last)
        goto out;
    cut = last - (int64_t)keep;
    rc = pool_prepare(db, "DELETE FROM event WHERE id <= ?1; ", &st);
    if (rc < 0)
        goto out;
    sqlite3_bind_int64(st, 1, cut);
    sqrc = sqlite3_step(st);
    sqlite3_finalize(st);
    st = NULL;
    if (sqrc != SQLITE_DONE) {
        rc = pool_sq_error(db, sqrc, "trimming events");
        goto out;
    }
    rc = pool_prepare(db, "UPDATE pool_meta SET value = max(CAST(value AS "
                      "INTEGER), ?1) WHERE key = 'events_trimmed_upto'", &st);
    if (rc < 0)
        goto out;
    sqlite3_bind_int64(st, 1, cut);
    sqrc = sqlite3_step(st);
    if (sqrc != SQLITE_DONE)
        rc = pool_sq_error(db, sqrc, "trimming events");
out:
    sqlite3_finalize(st);
    return pool_op_end(db, rc);
}

int pool_db_data_version(struct pool_db *db, int64_t *version_r)
{
    sqlite3_stmt *st = NULL;
    int rc, sqrc;

    *version_r = 0;
    rc = pool_prepare(db, "PRAGMA data_version", &st);
    if (rc < 0)
        return rc;
    sqrc = sqlite3_step(st);
    if (sqrc == SQLITE_ROW)
        *version_r = sqlite3_column_int64(st, 0);
    else
        rc = pool_sq_error(db, sqrc, "data_version");
    sqlite3_finalize(st);
    return rc;
}
