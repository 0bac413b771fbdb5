/*
 * pool_obj.c - objects: create, destroy, fields, records, lookups.
 *
 * SQL is built from the model (pool_model.c): one table per class named
 * as the class, one column per stored field named as the field.  Every
 * public call runs inside pool_op_begin()/pool_op_end(), so it is atomic
 * on its own and undoes only itself inside a caller's transaction.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pool_internal.h"

/* ---- lookups in the model ---------------------------------------------- */

static int get_class(struct pool_db *db, enum pool_class_id id,
                     const struct pool_class **cls_r)
{
    *cls_r = pool_class_get(id);
    if (!*cls_r)
        return xt_error(db->ctx, -EINVAL, "pool db: no class %d", (int)id);
    return 0;
}

static int get_field(struct pool_db *db, const struct pool_class *cls,
                     const char *name, const struct pool_field **f_r)
{
    *f_r = pool_class_field(cls, name);
    if (!*f_r)
        return xt_error(db->ctx, -EINVAL, "%s has no field %s", cls->name,
                        name ? name : "(null)");
    return 0;
}

/* The default of field f as a value (owned): f->def in text form, or
 * for a set or map as JSON text; the type's zero without one. */
static int default_value(struct pool_db *db, const struct pool_class *cls,
                         const struct pool_field *f, struct pool_value *v_r)
{
    const char *def = f->def;
    int rc;

    switch (f->type) {
    case POOL_FT_REF_SET:
    case POOL_FT_STRING_SET:
    case POOL_FT_MAP:
        if (!def) {
            *v_r = (struct pool_value){ .type = f->type };
            return 0;
        }
        return pool_json_decode(db, def, f->type, v_r);
    case POOL_FT_STRING:
    case POOL_FT_REF:
        def = def ? def : "";
        break;
    case POOL_FT_DATETIME:
        def = def ? def : POOL_DATETIME_EPOCH;
        break;
    case POOL_FT_ENUM:
        def = def ? def : f->enum_values[0];
        break;
    default:
        def = def ? def : "0";
        break;
    }
    rc = pool_value_parse(f->type, def, v_r);
    if (rc < 0)
        return xt_error(db->ctx, rc, "%s.%s: bad default \"%s\"", cls->name,
                        f->name, def);
    return 0;
}

/* Has f a column?  Derived sets and constant fields have none. */
static bool in_column(const struct pool_field *f)
{
    return pool_field_stored(f) && !f->constant;
}

bool pool_class_overridable(const struct pool_class *cls)
{
    size_t i;

    for (i = 0; i < cls->nfields; i++)
        if (pool_field_overridable(&cls->fields[i]))
            return true;
    return false;
}

/* May field f be written under flags? */
static int check_writable(struct pool_db *db, const struct pool_class *cls,
                          const struct pool_field *f, unsigned flags)
{
    if (f->constant && !pool_field_overridable(f))
        return xt_error(db->ctx, -EPERM, "%s.%s is read-only: xm-pool keeps "
                        "it at its default", cls->name, f->name);
    if (f->type == POOL_FT_REF_SET)
        return xt_error(db->ctx, -EPERM, "%s.%s is read-only: derived from "
                        "%s.%s", cls->name, f->name,
                        pool_class_get(f->target)->name, f->via);
    if (f == &cls->fields[0])
        return xt_error(db->ctx, -EPERM, "%s.uuid is read-only", cls->name);
    if (f->access != POOL_FA_RW && !(flags & POOL_DB_INTERNAL))
        return xt_error(db->ctx, -EPERM, "%s.%s is read-only", cls->name,
                        f->name);
    return 0;
}

/* ---- rows -------------------------------------------------------------- */

/* sb's statement (taken from it, ending in "WHERE ref = ?1") prepared
 * with ref bound: 0 and *st_r (caller finalizes), or -errno reported. */
static int prepare_by_ref(struct pool_db *db, struct pool_sb *sb,
                          const char *ref, sqlite3_stmt **st_r)
{
    char *sql = pool_sb_take(sb);
    int rc;

    *st_r = NULL;
    if (!sql)
        return xt_error(db->ctx, -ENOMEM, "pool db: building a query");
    rc = pool_prepare(db, sql, st_r);
    free(sql);
    if (rc == 0)
        sqlite3_bind_text(*st_r, 1, ref, -1, SQLITE_STATIC);
    return rc;
}

static int ref_exists(struct pool_db *db, const struct pool_class *cls,
                      const char *ref, bool *exists_r)
{
    struct pool_sb sb = { 0 };
    sqlite3_stmt *st = NULL;
    int rc, sqrc;

    pool_sb_add(&sb, "SELECT 1 FROM ");
    pool_sb_ident(&sb, cls->name);
    pool_sb_add(&sb, " WHERE ref = ?1");
    rc = prepare_by_ref(db, &sb, ref, &st);
    if (rc < 0)
        return rc;
    sqrc = sqlite3_step(st);
    if (sqrc == SQLITE_ROW || sqrc == SQLITE_DONE)
        *exists_r = sqrc == SQLITE_ROW;
    else
        rc = pool_sq_error(db, sqrc, "looking up a ref");
    sqlite3_finalize(st);
    return rc;
}

/* 0 if ref is an object of cls, else -ENOENT "no <class> <ref>". */
static int need_object(struct pool_db *db, const struct pool_class *cls,
                       const char *ref)
{
    bool exists = false;
    int rc;

    if (!ref || strncmp(ref, POOL_REF_PREFIX, strlen(POOL_REF_PREFIX)))
        return pool_no_such_object(db, cls, ref);
    rc = ref_exists(db, cls, ref, &exists);
    if (rc < 0)
        return rc;
    if (!exists)
        return pool_no_such_object(db, cls, ref);
    return 0;
}

/*
 * Checks v for field f of cls: type, enum membership (*canon_r gets the
 * spelling of the table), datetime form, existence of a referred object.
 */
static int check_value(struct pool_db *db, const struct pool_class *cls,
                       const struct pool_field *f, const struct pool_value *v,
                       const char **canon_r)
{
    const char *const *e;
    size_t i;

    *canon_r = NULL;
    if (!v)
        return xt_error(db->ctx, -EINVAL, "%s.%s: no value", cls->name,
                        f->name);
    if (v->type != f->type)
        return xt_error(db->ctx, -EINVAL, "%s.%s has type %s, not %s",
                        cls->name, f->name, pool_ftype_name(f->type),
                        pool_ftype_name(v->type));
    switch (f->type) {
    case POOL_FT_STRING:
        if (!v->s)
            return xt_error(db->ctx, -EINVAL, "%s.%s: NULL string",
                            cls->name, f->name);
        return 0;
    case POOL_FT_FLOAT:
        if (!isfinite(v->f))
            return xt_error(db->ctx, -EINVAL, "%s.%s: %g is not a finite "
                            "number", cls->name, f->name, v->f);
        return 0;
    case POOL_FT_DATETIME:
        if (pool_datetime_parse(v->s, NULL) < 0)
            return xt_error(db->ctx, -EINVAL, "%s.%s: \"%s\" is not a "
                            "datetime (YYYYMMDDTHH:MM:SSZ)", cls->name,
                            f->name, v->s ? v->s : "(null)");
        return 0;
    case POOL_FT_ENUM:
        for (e = f->enum_values; v->s && *e; e++)
            if (strcasecmp(*e, v->s) == 0) {
                *canon_r = *e;
                return 0;
            }
        return xt_error(db->ctx, -EINVAL, "%s.%s: \"%s\" is not one of its "
                        "values (%s, ...)", cls->name, f->name,
                        v->s ? v->s : "(null)", f->enum_values[0]);
    case POOL_FT_REF:
        if (pool_ref_is_null(v->s))
            return 0;
        return need_object(db, pool_class_get(f->target), v->s);
    case POOL_FT_STRING_SET:
        for (i = 0; i < v->set.n; i++)
            if (!v->set.v[i])
                return xt_error(db->ctx, -EINVAL, "%s.%s: NULL member",
                                cls->name, f->name);
        return 0;
    case POOL_FT_MAP:
        for (i = 0; i < v->map.n; i++)
            if (!v->map.keys[i] || !v->map.vals[i])
                return xt_error(db->ctx, -EINVAL, "%s.%s: NULL key or "
                                "value", cls->name, f->name);
        return 0;
    default:
        return 0;
    }
}

/* Binds v (already checked) in its stored form. */
static int bind_value(struct pool_db *db, sqlite3_stmt *st, int idx,
                      const struct pool_value *v, const char *canon)
{
    char *json = NULL;
    int rc, sqrc;

    switch (v->type) {
    case POOL_FT_STRING:
    case POOL_FT_DATETIME:
        sqrc = sqlite3_bind_text(st, idx, v->s, -1, SQLITE_TRANSIENT);
        break;
    case POOL_FT_ENUM:
        sqrc = sqlite3_bind_text(st, idx, canon ? canon : v->s, -1,
                                 SQLITE_TRANSIENT);
        break;
    case POOL_FT_REF:
        if (pool_ref_is_null(v->s))
            sqrc = sqlite3_bind_null(st, idx);
        else
            sqrc = sqlite3_bind_text(st, idx, v->s, -1, SQLITE_TRANSIENT);
        break;
    case POOL_FT_INT:
        sqrc = sqlite3_bind_int64(st, idx, v->i);
        break;
    case POOL_FT_BOOL:
        sqrc = sqlite3_bind_int(st, idx, v->b ? 1 : 0);
        break;
    case POOL_FT_FLOAT:
        sqrc = sqlite3_bind_double(st, idx, v->f);
        break;
    case POOL_FT_STRING_SET:
    case POOL_FT_MAP:
        rc = pool_json_encode(v, &json);
        if (rc < 0)
            return xt_error(db->ctx, rc, "pool db: encoding a %s",
                            pool_ftype_name(v->type));
        sqrc = sqlite3_bind_text(st, idx, json, -1, free);
        break;
    default:
        return xt_error(db->ctx, -EINVAL, "pool db: cannot store a %s",
                        pool_ftype_name(v->type));
    }
    if (sqrc != SQLITE_OK)
        return pool_sq_error(db, sqrc, "bind");
    return 0;
}

/* Reads column col of the current row as a value of field f. */
static int column_value(struct pool_db *db, sqlite3_stmt *st, int col,
                        const struct pool_field *f, struct pool_value *v_r)
{
    struct pool_value v = { .type = f->type };
    const char *text = (const char *)sqlite3_column_text(st, col);

    switch (f->type) {
    case POOL_FT_INT:
        v.i = sqlite3_column_int64(st, col);
        break;
    case POOL_FT_BOOL:
        v.b = sqlite3_column_int64(st, col) != 0;
        break;
    case POOL_FT_FLOAT:
        v.f = sqlite3_column_double(st, col);
        break;
    case POOL_FT_STRING_SET:
    case POOL_FT_MAP:
        return pool_json_decode(db, text ? text : (f->type == POOL_FT_MAP ?
                                                   "{}" : "[]"),
                                f->type, v_r);
    default:
        if (!text && f->type == POOL_FT_REF)
            text = POOL_NULL_REF;
        v.s = strdup(text ? text : "");
        if (!v.s)
            return xt_error(db->ctx, -ENOMEM, "pool db: reading %s",
                            f->name);
        break;
    }
    *v_r = v;
    return 0;
}

/* Steps st (prepared, bound; rc its set-up's result), a query of refs in
 * its first column, into *refs_r; finalizes st whatever happens. */
static int collect_refs(struct pool_db *db, const struct pool_class *cls,
                        sqlite3_stmt *st, int rc, const char *what,
                        struct pool_strv *refs_r)
{
    struct pool_value out = { .type = POOL_FT_REF_SET };
    int sqrc = SQLITE_DONE;

    while (rc == 0 && (sqrc = sqlite3_step(st)) == SQLITE_ROW) {
        rc = pool_value_set_add(&out,
                                (const char *)sqlite3_column_text(st, 0));
        if (rc < 0)
            rc = xt_error(db->ctx, rc, "pool db: listing %s", cls->name);
    }
    if (rc == 0 && sqrc != SQLITE_DONE)
        rc = pool_sq_error(db, sqrc, what);
    sqlite3_finalize(st);
    if (rc < 0) {
        pool_value_clear(&out);
        return rc;
    }
    *refs_r = out.set;
    return 0;
}

/* The refs of class cls whose column col IS the bound value. */
static int select_refs(struct pool_db *db, const struct pool_class *cls,
                       const char *col, const struct pool_value *v,
                       const char *canon, struct pool_strv *refs_r)
{
    struct pool_sb sb = { 0 };
    sqlite3_stmt *st = NULL;
    char *sql;
    int rc;

    pool_sb_add(&sb, "SELECT ref FROM ");
    pool_sb_ident(&sb, cls->name);
    if (col) {
        pool_sb_add(&sb, " WHERE ");
        pool_sb_ident(&sb, col);
        pool_sb_add(&sb, " IS ?1");
    }
    pool_sb_add(&sb, " ORDER BY rowid");
    sql = pool_sb_take(&sb);
    if (!sql)
        return xt_error(db->ctx, -ENOMEM, "pool db: building a query");
    rc = pool_prepare(db, sql, &st);
    free(sql);
    if (rc == 0 && col)
        rc = bind_value(db, st, 1, v, canon);
    return collect_refs(db, cls, st, rc, "listing refs", refs_r);
}

/* The derived set f of object ref. */
static int derived_value(struct pool_db *db, const struct pool_field *f,
                         const char *ref, struct pool_value *v_r)
{
    struct pool_value v = { .type = POOL_FT_REF_SET };
    int rc;

    rc = select_refs(db, pool_class_get(f->target), f->via,
                     &POOL_V_REF(ref), NULL, &v.set);
    if (rc < 0)
        return rc;
    *v_r = v;
    return 0;
}

/* A constant field's value: its entry in set (the row's POOL_SET_COLUMN,
 * decoded; NULL: none) if a client set it, else its default. */
static int constant_value(struct pool_db *db, const struct pool_class *cls,
                          const struct pool_field *f,
                          const struct pool_value *set,
                          struct pool_value *v_r)
{
    const char *text = set ? pool_value_map_get(set, f->name) : NULL;
    int rc;

    if (!text)
        return default_value(db, cls, f, v_r);
    if (f->type == POOL_FT_STRING_SET || f->type == POOL_FT_MAP ||
        f->type == POOL_FT_REF_SET)
        return pool_json_decode(db, text, f->type, v_r);
    rc = pool_value_parse(f->type, text, v_r);
    return rc < 0 ? xt_error(db->ctx, rc, "%s.%s: bad stored \"%s\"",
                             cls->name, f->name, text) : 0;
}

/* "SELECT ref, <stored fields>[, xm_set] FROM <class> WHERE ref = ?1" */
static char *select_row_sql(const struct pool_class *cls)
{
    struct pool_sb sb = { 0 };
    size_t i;

    pool_sb_add(&sb, "SELECT ref");
    for (i = 0; i < cls->nfields; i++) {
        if (!in_column(&cls->fields[i]))
            continue;
        pool_sb_add(&sb, ", ");
        pool_sb_ident(&sb, cls->fields[i].name);
    }
    if (pool_class_overridable(cls))
        pool_sb_add(&sb, ", " POOL_SET_COLUMN);
    pool_sb_add(&sb, " FROM ");
    pool_sb_ident(&sb, cls->name);
    pool_sb_add(&sb, " WHERE ref = ?1");
    return pool_sb_take(&sb);
}

/* How many columns select_row_sql gives before POOL_SET_COLUMN. */
static int ncols(const struct pool_class *cls)
{
    size_t i;
    int n = 1;

    for (i = 0; i < cls->nfields; i++)
        n += in_column(&cls->fields[i]);
    return n;
}

static int read_record(struct pool_db *db, const struct pool_class *cls,
                       const char *ref, struct pool_record **rec_r)
{
    struct pool_value set = { .type = POOL_FT_MAP };
    struct pool_record *rec = NULL;
    const struct pool_field *f;
    sqlite3_stmt *st = NULL;
    int rc, sqrc, col = 1;
    char *sql;
    size_t i;

    sql = select_row_sql(cls);
    if (!sql)
        return xt_error(db->ctx, -ENOMEM, "pool db: building a query");
    rc = pool_prepare(db, sql, &st);
    free(sql);
    if (rc < 0)
        goto out;
    sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
    sqrc = sqlite3_step(st);
    if (sqrc == SQLITE_DONE) {
        rc = pool_no_such_object(db, cls, ref);
        goto out;
    } else if (sqrc != SQLITE_ROW) {
        rc = pool_sq_error(db, sqrc, "reading a record");
        goto out;
    }
    rec = calloc(1, sizeof(*rec));
    if (rec) {
        rec->fields = calloc(cls->nfields, sizeof(*rec->fields));
        rec->ref = strdup(ref);
    }
    if (!rec || !rec->fields || !rec->ref) {
        rc = xt_error(db->ctx, -ENOMEM, "pool db: reading a record");
        goto out;
    }
    rec->cls = cls;
    if (pool_class_overridable(cls)) {
        const char *t = (const char *)sqlite3_column_text(st, ncols(cls));

        /* Mostly nothing was set: no JSON to read then. */
        if (t && strcmp(t, "{}") != 0 &&
            (rc = pool_json_decode(db, t, POOL_FT_MAP, &set)) < 0)
            goto out;
    }
    for (i = 0; i < cls->nfields; i++) {
        f = &cls->fields[i];
        if (f->constant) {
            if (f->internal)
                continue;
            rc = constant_value(db, cls, f, &set,
                                &rec->fields[rec->n].value);
        } else if (!pool_field_stored(f)) {
            rc = derived_value(db, f, ref, &rec->fields[rec->n].value);
        } else {
            col++;
            if (f->internal)
                continue;
            rc = column_value(db, st, col - 1, f,
                              &rec->fields[rec->n].value);
        }
        if (rc < 0)
            goto out;
        rec->fields[rec->n++].field = f;
    }
    *rec_r = rec;
    rec = NULL;
out:
    sqlite3_finalize(st);
    pool_record_free(rec);
    pool_value_clear(&set);
    return rc;
}

/* Reads one stored field of an existing object. */
static int read_field(struct pool_db *db, const struct pool_class *cls,
                      const char *ref, const struct pool_field *f,
                      struct pool_value *v_r)
{
    struct pool_value set = { .type = POOL_FT_MAP };
    struct pool_sb sb = { 0 };
    sqlite3_stmt *st = NULL;
    const char *t;
    int rc, sqrc;

    if (f->constant && !pool_field_overridable(f)) {
        rc = need_object(db, cls, ref);
        return rc ?: default_value(db, cls, f, v_r);
    }
    pool_sb_add(&sb, "SELECT ");
    if (f->constant)
        pool_sb_add(&sb, POOL_SET_COLUMN);
    else
        pool_sb_ident(&sb, f->name);
    pool_sb_add(&sb, " FROM ");
    pool_sb_ident(&sb, cls->name);
    pool_sb_add(&sb, " WHERE ref = ?1");
    rc = prepare_by_ref(db, &sb, ref, &st);
    if (rc < 0)
        return rc;
    sqrc = sqlite3_step(st);
    if (sqrc == SQLITE_ROW && f->constant) {
        t = (const char *)sqlite3_column_text(st, 0);
        rc = pool_json_decode(db, t ? t : "{}", POOL_FT_MAP, &set);
        rc = rc ?: constant_value(db, cls, f, &set, v_r);
    } else if (sqrc == SQLITE_ROW) {
        rc = column_value(db, st, 0, f, v_r);
    } else if (sqrc == SQLITE_DONE) {
        rc = pool_no_such_object(db, cls, ref);
    } else {
        rc = pool_sq_error(db, sqrc, "reading a field");
    }
    sqlite3_finalize(st);
    pool_value_clear(&set);
    return rc;
}

/* v as POOL_SET_COLUMN keeps it: a scalar's text, a set's or map's JSON.
 * *text_r: caller frees. */
static int set_text(struct pool_db *db, const struct pool_value *v,
                    char **text_r)
{
    int r;

    *text_r = NULL;
    switch (v->type) {
    case POOL_FT_STRING_SET:
    case POOL_FT_REF_SET:
    case POOL_FT_MAP:
        return pool_json_encode(v, text_r) < 0 ?
               xt_error(db->ctx, -ENOMEM, "pool db: encoding") : 0;
    case POOL_FT_INT:
        r = asprintf(text_r, "%lld", (long long)v->i);
        break;
    case POOL_FT_BOOL:
        r = asprintf(text_r, "%s", v->b ? "true" : "false");
        break;
    case POOL_FT_FLOAT:
        r = asprintf(text_r, "%.17g", v->f);
        break;
    default:
        r = asprintf(text_r, "%s", v->s ? v->s : "");
        break;
    }
    if (r < 0) {
        *text_r = NULL;
        return xt_error(db->ctx, -ENOMEM, "pool db: encoding");
    }
    return 0;
}

/* A constant field a client set: its entry in the row's POOL_SET_COLUMN
 * (unchanged: nothing written, no event). */
static int write_set(struct pool_db *db, const struct pool_class *cls,
                     const char *ref, const struct pool_field *f,
                     const struct pool_value *v, const char *canon)
{
    struct pool_value c = v->type == POOL_FT_ENUM && canon ?
                          POOL_V_ENUM(canon) : *v;
    struct pool_sb sb = { 0 };
    sqlite3_stmt *st = NULL;
    char *text = NULL, path[128];
    int rc, sqrc;

    rc = set_text(db, &c, &text);
    if (rc < 0)
        return rc;
    snprintf(path, sizeof(path), "$.\"%s\"", f->name);
    pool_sb_add(&sb, "UPDATE ");
    pool_sb_ident(&sb, cls->name);
    pool_sb_add(&sb, " SET " POOL_SET_COLUMN " = json_set(" POOL_SET_COLUMN
                ", ?3, ?1) WHERE ref = ?2 AND json_extract(" POOL_SET_COLUMN
                ", ?3) IS NOT ?1");
    rc = prepare_by_ref(db, &sb, ref, &st);
    if (rc == 0) {
        /* prepare_by_ref bound ?1; the parameters are ours to set. */
        sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, ref, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, path, -1, SQLITE_STATIC);
        sqrc = sqlite3_step(st);
        if (sqrc != SQLITE_DONE)
            rc = pool_sq_error(db, sqrc, "writing a field");
    }
    sqlite3_finalize(st);
    free(text);
    return rc;
}

/* Writes one stored field of an existing object (v already checked);
 * an unchanged value is not written, so it logs no event. */
static int write_field(struct pool_db *db, const struct pool_class *cls,
                       const char *ref, const struct pool_field *f,
                       const struct pool_value *v, const char *canon)
{
    struct pool_sb sb = { 0 };
    sqlite3_stmt *st = NULL;
    char *sql;
    int rc, sqrc;

    if (f->constant)
        return write_set(db, cls, ref, f, v, canon);
    pool_sb_add(&sb, "UPDATE ");
    pool_sb_ident(&sb, cls->name);
    pool_sb_add(&sb, " SET ");
    pool_sb_ident(&sb, f->name);
    pool_sb_add(&sb, " = ?1 WHERE ref = ?2 AND ");
    pool_sb_ident(&sb, f->name);
    pool_sb_add(&sb, " IS NOT ?1");
    sql = pool_sb_take(&sb);
    if (!sql)
        return xt_error(db->ctx, -ENOMEM, "pool db: building a query");
    rc = pool_prepare(db, sql, &st);
    free(sql);
    if (rc == 0)
        rc = bind_value(db, st, 1, v, canon);
    if (rc == 0) {
        sqlite3_bind_text(st, 2, ref, -1, SQLITE_STATIC);
        sqrc = sqlite3_step(st);
        if (sqrc != SQLITE_DONE)
            rc = pool_sq_error(db, sqrc, "writing a field");
    }
    sqlite3_finalize(st);
    return rc;
}

/* ---- public: fields and records ---------------------------------------- */

int pool_db_check_ref(struct pool_db *db, enum pool_class_id id,
                      const char *ref)
{
    const struct pool_class *cls;
    int rc;

    rc = get_class(db, id, &cls);
    if (rc < 0)
        return rc;
    rc = pool_op_begin(db, false);
    if (rc < 0)
        return rc;
    return pool_op_end(db, need_object(db, cls, ref));
}

int pool_db_get_field(struct pool_db *db, enum pool_class_id id,
                      const char *ref, const char *field,
                      struct pool_value *v_r)
{
    const struct pool_class *cls;
    const struct pool_field *f;
    int rc;

    rc = get_class(db, id, &cls);
    if (rc == 0)
        rc = get_field(db, cls, field, &f);
    if (rc < 0)
        return rc;
    rc = pool_op_begin(db, false);
    if (rc < 0)
        return rc;
    if (f->constant || pool_field_stored(f)) {
        rc = read_field(db, cls, ref, f, v_r);
    } else {
        rc = need_object(db, cls, ref);
        if (rc == 0)
            rc = derived_value(db, f, ref, v_r);
    }
    return pool_op_end(db, rc);
}

int pool_db_set_field(struct pool_db *db, enum pool_class_id id,
                      const char *ref, const char *field,
                      const struct pool_value *v, unsigned flags)
{
    const struct pool_class *cls;
    const struct pool_field *f = NULL;
    const char *canon;
    int rc;

    rc = get_class(db, id, &cls);
    if (rc == 0)
        rc = get_field(db, cls, field, &f);
    if (rc == 0)
        rc = check_writable(db, cls, f, flags);
    if (rc < 0)
        return rc;
    rc = pool_op_begin(db, true);
    if (rc < 0)
        return rc;
    rc = need_object(db, cls, ref);
    if (rc == 0)
        rc = check_value(db, cls, f, v, &canon);
    if (rc == 0)
        rc = write_field(db, cls, ref, f, v, canon);
    return pool_op_end(db, rc);
}

/* The row rewritten as it is: the log's update trigger records a "mod"
 * event of it (event.inject). */
static int touch_row(struct pool_db *db, const struct pool_class *cls,
                     const char *ref)
{
    struct pool_sb sb = { 0 };
    sqlite3_stmt *st = NULL;
    int rc, sqrc;

    pool_sb_add(&sb, "UPDATE ");
    pool_sb_ident(&sb, cls->name);
    pool_sb_add(&sb, " SET ref = ref WHERE ref = ?1");
    rc = prepare_by_ref(db, &sb, ref, &st);
    if (rc < 0)
        return rc;
    sqrc = sqlite3_step(st);
    if (sqrc != SQLITE_DONE)
        rc = pool_sq_error(db, sqrc, "touching a row");
    sqlite3_finalize(st);
    return rc;
}

int pool_db_touch(struct pool_db *db, enum pool_class_id id, const char *ref)
{
    const struct pool_class *cls;
    int rc = get_class(db, id, &cls);

    if (rc < 0)
        return rc;
    rc = pool_op_begin(db, true);
    if (rc < 0)
        return rc;
    rc = need_object(db, cls, ref);
    rc = rc ?: touch_row(db, cls, ref);
    return pool_op_end(db, rc);
}

/* Shared by map_put (val != NULL) and map_remove. */
static int map_edit(struct pool_db *db, enum pool_class_id id,
                    const char *ref, const char *field, const char *key,
                    const char *val, unsigned flags)
{
    struct pool_value map = { .type = POOL_FT_MAP };
    const struct pool_class *cls;
    const struct pool_field *f = NULL;
    const char *old, *canon = NULL;
    bool changed;
    int rc;

    rc = get_class(db, id, &cls);
    if (rc == 0)
        rc = get_field(db, cls, field, &f);
    if (rc == 0 && f->type != POOL_FT_MAP)
        rc = xt_error(db->ctx, -EINVAL, "%s.%s has type %s, not map",
                      cls->name, f->name, pool_ftype_name(f->type));
    if (rc == 0)
        rc = check_writable(db, cls, f, flags);
    if (rc == 0 && !key)
        rc = xt_error(db->ctx, -EINVAL, "%s.%s: NULL key", cls->name,
                      f->name);
    if (rc < 0)
        return rc;
    rc = pool_op_begin(db, true);
    if (rc < 0)
        return rc;
    rc = read_field(db, cls, ref, f, &map);
    if (rc < 0)
        goto out;
    if (val) {
        old = pool_value_map_get(&map, key);
        changed = !old || strcmp(old, val) != 0;
        if (changed && pool_value_map_put(&map, key, val) < 0) {
            rc = xt_error(db->ctx, -ENOMEM, "pool db: map");
            goto out;
        }
    } else {
        changed = pool_value_map_remove(&map, key);
    }
    if (changed)
        rc = check_value(db, cls, f, &map, &canon);
    if (changed && rc == 0)
        rc = write_field(db, cls, ref, f, &map, canon);
out:
    pool_value_clear(&map);
    return pool_op_end(db, rc);
}

int pool_db_map_put(struct pool_db *db, enum pool_class_id id,
                    const char *ref, const char *field, const char *key,
                    const char *val, unsigned flags)
{
    if (!val)
        return xt_error(db->ctx, -EINVAL, "%s: NULL map value",
                        field ? field : "(null)");
    return map_edit(db, id, ref, field, key, val, flags);
}

int pool_db_map_remove(struct pool_db *db, enum pool_class_id id,
                       const char *ref, const char *field, const char *key,
                       unsigned flags)
{
    return map_edit(db, id, ref, field, key, NULL, flags);
}

int pool_db_get_record(struct pool_db *db, enum pool_class_id id,
                       const char *ref, struct pool_record **rec_r)
{
    const struct pool_class *cls;
    int rc;

    rc = get_class(db, id, &cls);
    if (rc < 0)
        return rc;
    rc = pool_op_begin(db, false);
    if (rc < 0)
        return rc;
    return pool_op_end(db, read_record(db, cls, ref, rec_r));
}

int pool_db_get_all(struct pool_db *db, enum pool_class_id id,
                    struct pool_strv *refs_r)
{
    const struct pool_class *cls;
    int rc;

    rc = get_class(db, id, &cls);
    if (rc < 0)
        return rc;
    rc = pool_op_begin(db, false);
    if (rc < 0)
        return rc;
    return pool_op_end(db, select_refs(db, cls, NULL, NULL, NULL, refs_r));
}

int pool_db_count(struct pool_db *db, enum pool_class_id id, int64_t *n_r)
{
    const struct pool_class *cls;
    struct pool_sb sb = { 0 };
    sqlite3_stmt *st = NULL;
    char *sql;
    int rc, sqrc;

    *n_r = 0;
    rc = get_class(db, id, &cls);
    if (rc < 0)
        return rc;
    pool_sb_add(&sb, "SELECT count(*) FROM ");
    pool_sb_ident(&sb, cls->name);
    sql = pool_sb_take(&sb);
    if (!sql)
        return xt_error(db->ctx, -ENOMEM, "pool db: building a query");
    rc = pool_prepare(db, sql, &st);
    free(sql);
    if (rc == 0 && (sqrc = sqlite3_step(st)) == SQLITE_ROW)
        *n_r = sqlite3_column_int64(st, 0);
    else if (rc == 0)
        rc = pool_sq_error(db, sqrc, "counting");
    sqlite3_finalize(st);
    return rc;
}

int pool_db_get_all_records(struct pool_db *db, enum pool_class_id id,
                            struct pool_record ***recs_r, size_t *n_r)
{
    struct pool_strv refs = { 0 };
    struct pool_record **recs = NULL;
    const struct pool_class *cls;
    size_t i, n = 0;
    int rc;

    rc = get_class(db, id, &cls);
    if (rc < 0)
        return rc;
    rc = pool_op_begin(db, false);
    if (rc < 0)
        return rc;
    rc = select_refs(db, cls, NULL, NULL, NULL, &refs);
    if (rc < 0)
        goto out;
    recs = calloc(refs.n ? refs.n : 1, sizeof(*recs));
    if (!recs) {
        rc = xt_error(db->ctx, -ENOMEM, "pool db: reading records");
        goto out;
    }
    for (i = 0; i < refs.n; i++) {
        rc = read_record(db, cls, refs.v[i], &recs[n]);
        if (rc < 0)
            goto out;
        n++;
    }
    *recs_r = recs;
    *n_r = n;
    recs = NULL;
out:
    pool_records_free(recs, n);
    pool_strv_free(&refs);
    return pool_op_end(db, rc);
}

int pool_db_find(struct pool_db *db, enum pool_class_id id,
                 const char *field, const struct pool_value *v,
                 struct pool_strv *refs_r)
{
    const struct pool_class *cls;
    const struct pool_field *f = NULL;
    const char *const *e;
    const char *canon = NULL;
    int rc;

    rc = get_class(db, id, &cls);
    if (rc == 0)
        rc = get_field(db, cls, field, &f);
    if (rc == 0 && f->constant)
        rc = xt_error(db->ctx, -EINVAL, "%s.%s is not stored: cannot search "
                      "by it", cls->name, f->name);
    if (rc == 0 && (!pool_field_stored(f) || f->type == POOL_FT_MAP ||
                    f->type == POOL_FT_STRING_SET))
        rc = xt_error(db->ctx, -EINVAL, "%s.%s is a %s: cannot search by "
                      "it", cls->name, f->name, pool_ftype_name(f->type));
    if (rc == 0 && (!v || v->type != f->type))
        rc = xt_error(db->ctx, -EINVAL, "%s.%s has type %s, not %s",
                      cls->name, f->name, pool_ftype_name(f->type),
                      v ? pool_ftype_name(v->type) : "NULL");
    if (rc < 0)
        return rc;
    for (e = f->enum_values; f->type == POOL_FT_ENUM && v->s && *e; e++)
        if (strcasecmp(*e, v->s) == 0)
            canon = *e;
    if ((f->type == POOL_FT_STRING || f->type == POOL_FT_ENUM ||
         f->type == POOL_FT_DATETIME) && !v->s)
        return xt_error(db->ctx, -EINVAL, "%s.%s: NULL string", cls->name,
                        f->name);
    rc = pool_op_begin(db, false);
    if (rc < 0)
        return rc;
    return pool_op_end(db, select_refs(db, cls, f->name, v, canon, refs_r));
}

int pool_db_get_by_name_label(struct pool_db *db, enum pool_class_id id,
                              const char *label, struct pool_strv *refs_r)
{
    const struct pool_class *cls;
    int rc;

    rc = get_class(db, id, &cls);
    if (rc < 0)
        return rc;
    if (!pool_class_field(cls, "name_label"))
        return xt_error(db->ctx, -EINVAL, "%s has no name_label",
                        cls->name);
    return pool_db_find(db, id, "name_label", &POOL_V_STR(label), refs_r);
}

int pool_db_get_by_uuid(struct pool_db *db, enum pool_class_id id,
                        const char *uuid, char **ref_r)
{
    struct pool_strv refs = { 0 };
    const struct pool_class *cls;
    int rc;

    rc = get_class(db, id, &cls);
    if (rc < 0)
        return rc;
    if (!uuid)
        return xt_error(db->ctx, -ENOENT, "no %s with uuid (null)",
                        cls->name);
    rc = pool_op_begin(db, false);
    if (rc < 0)
        return rc;
    rc = select_refs(db, cls, "uuid", &POOL_V_STR(uuid), NULL, &refs);
    if (rc == 0 && refs.n == 0)
        rc = xt_error(db->ctx, -ENOENT, "no %s with uuid %s", cls->name,
                      uuid);
    if (rc == 0) {
        *ref_r = refs.v[0];
        refs.v[0] = NULL;
        refs.n = 0;         /* a uuid is unique: one ref at most */
    }
    pool_strv_free(&refs);
    return pool_op_end(db, rc);
}

/* ---- public: create and destroy ---------------------------------------- */

/* Finds the init entry for f; refuses unknown, derived and repeated
 * names. */
static int check_inits(struct pool_db *db, const struct pool_class *cls,
                       const struct pool_field_init *init, size_t n)
{
    const struct pool_field *f;
    size_t i, j;
    int rc;

    for (i = 0; i < n; i++) {
        rc = get_field(db, cls, init[i].name, &f);
        if (rc < 0)
            return rc;
        if (f->constant)
            return xt_error(db->ctx, -EPERM, "%s.%s has no column: it is "
                            "set once the object exists", cls->name,
                            f->name);
        if (!in_column(f))
            return check_writable(db, cls, f, POOL_DB_INTERNAL);
        for (j = 0; j < i; j++)
            if (strcmp(init[j].name, init[i].name) == 0)
                return xt_error(db->ctx, -EINVAL, "%s.%s given twice",
                                cls->name, f->name);
    }
    return 0;
}

static const struct pool_value *init_of(const struct pool_field_init *init,
                                        size_t n, const char *name)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcmp(init[i].name, name) == 0)
            return &init[i].value;
    return NULL;
}

/* The uuid of a new object: given (canonical, lowercase) or generated. */
static int new_uuid(struct pool_db *db, const struct pool_class *cls,
                    const struct pool_value *given,
                    char buf[XT_UUID_STRLEN + 1])
{
    struct xt_uuid u;
    int rc;

    if (given) {
        if (given->type != POOL_FT_STRING ||
            xt_uuid_parse(given->s, &u) < 0)
            return xt_error(db->ctx, -EINVAL, "%s.uuid: \"%s\" is not a "
                            "uuid", cls->name,
                            given->type == POOL_FT_STRING && given->s ?
                            given->s : "?");
    } else {
        rc = xt_uuid_generate(&u);
        if (rc < 0)
            return xt_error(db->ctx, rc, "generating a uuid");
    }
    xt_uuid_format(&u, buf);
    return 0;
}

int pool_db_create(struct pool_db *db, enum pool_class_id id,
                   const struct pool_field_init *init, size_t n,
                   char **ref_r)
{
    char ref[POOL_REF_STRLEN + 1], uuid[XT_UUID_STRLEN + 1];
    const struct pool_value *given;
    struct pool_value def = { 0 };
    const struct pool_class *cls;
    const struct pool_field *f;
    struct pool_sb sb = { 0 };
    sqlite3_stmt *st = NULL;
    char *sql = NULL, *copy = NULL;
    const char *canon;
    int rc, sqrc, idx;
    size_t i;

    rc = get_class(db, id, &cls);
    if (rc == 0 && n && !init)
        rc = xt_error(db->ctx, -EINVAL, "pool db: NULL fields");
    if (rc == 0)
        rc = check_inits(db, cls, init, n);
    if (rc == 0)
        rc = new_uuid(db, cls, init_of(init, n, "uuid"), uuid);
    if (rc == 0) {
        rc = pool_ref_generate(ref);
        if (rc < 0)
            rc = xt_error(db->ctx, rc, "generating a ref");
    }
    if (rc == 0 && ref_r) {
        copy = strdup(ref);
        if (!copy)
            rc = xt_error(db->ctx, -ENOMEM, "pool db: create");
    }
    if (rc < 0)
        return rc;

    pool_sb_add(&sb, "INSERT INTO ");
    pool_sb_ident(&sb, cls->name);
    pool_sb_add(&sb, " (ref");
    for (i = 0; i < cls->nfields; i++) {
        if (!in_column(&cls->fields[i]))
            continue;
        pool_sb_add(&sb, ", ");
        pool_sb_ident(&sb, cls->fields[i].name);
    }
    pool_sb_add(&sb, ") VALUES (?1");
    for (i = 0, idx = 2; i < cls->nfields; i++)
        if (in_column(&cls->fields[i]))
            pool_sb_addf(&sb, ", ?%d", idx++);
    pool_sb_add(&sb, ")");
    sql = pool_sb_take(&sb);
    if (!sql) {
        free(copy);
        return xt_error(db->ctx, -ENOMEM, "pool db: building a query");
    }

    rc = pool_op_begin(db, true);
    if (rc < 0)
        goto out_free;
    rc = pool_prepare(db, sql, &st);
    if (rc < 0)
        goto out;
    sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
    for (i = 0, idx = 2; i < cls->nfields; i++) {
        f = &cls->fields[i];
        if (!in_column(f))
            continue;
        canon = NULL;
        given = init_of(init, n, f->name);
        if (i == 0) {
            rc = bind_value(db, st, idx, &POOL_V_STR(uuid), NULL);
        } else if (given) {
            rc = check_value(db, cls, f, given, &canon);
            if (rc == 0)
                rc = bind_value(db, st, idx, given, canon);
        } else {
            rc = default_value(db, cls, f, &def);
            if (rc == 0)
                rc = bind_value(db, st, idx, &def, f->type == POOL_FT_ENUM ?
                                def.s : NULL);
            pool_value_clear(&def);
        }
        if (rc < 0)
            goto out;
        idx++;
    }
    sqrc = sqlite3_step(st);
    if (sqrc != SQLITE_DONE) {
        rc = pool_sq_errno(sqrc);
        rc = xt_error(db->ctx, rc ? rc : -EIO, "cannot create %s: %s",
                      cls->name, sqlite3_errmsg(db->sq));
    }
out:
    sqlite3_finalize(st);
    rc = pool_op_end(db, rc);
out_free:
    free(sql);
    if (rc == 0 && ref_r) {
        *ref_r = copy;
        copy = NULL;
    }
    free(copy);
    return rc;
}

/* -EBUSY if an object refers to ref through a POOL_DEL_RESTRICT field. */
static int check_restrict(struct pool_db *db, const struct pool_class *cls,
                          const char *ref)
{
    const struct pool_class *other;
    struct pool_strv refs = { 0 };
    const struct pool_field *f;
    size_t c, i;
    int rc = 0;

    for (c = 0; rc == 0 && c < POOL_CLASS_COUNT; c++) {
        other = pool_class_get((enum pool_class_id)c);
        for (i = 0; rc == 0 && i < other->nfields; i++) {
            f = &other->fields[i];
            if (f->type != POOL_FT_REF || !in_column(f) ||
                f->target != cls->id || f->ondelete != POOL_DEL_RESTRICT)
                continue;
            rc = select_refs(db, other, f->name, &POOL_V_REF(ref), NULL,
                             &refs);
            if (rc == 0 && refs.n)
                rc = xt_error(db->ctx, -EBUSY, "cannot destroy %s %s: %s "
                              "%s refers to it (%s)", cls->name, ref,
                              other->name, refs.v[0], f->name);
            pool_strv_free(&refs);
        }
    }
    return rc;
}

int pool_db_destroy(struct pool_db *db, enum pool_class_id id,
                    const char *ref)
{
    const struct pool_class *cls;
    struct pool_sb sb = { 0 };
    sqlite3_stmt *st = NULL;
    char *sql;
    int rc, sqrc;

    rc = get_class(db, id, &cls);
    if (rc < 0)
        return rc;
    pool_sb_add(&sb, "DELETE FROM ");
    pool_sb_ident(&sb, cls->name);
    pool_sb_add(&sb, " WHERE ref = ?1");
    sql = pool_sb_take(&sb);
    if (!sql)
        return xt_error(db->ctx, -ENOMEM, "pool db: building a query");
    rc = pool_op_begin(db, true);
    if (rc < 0)
        goto out_free;
    rc = need_object(db, cls, ref);
    if (rc == 0)
        rc = check_restrict(db, cls, ref);
    if (rc == 0)
        rc = pool_prepare(db, sql, &st);
    if (rc == 0) {
        sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
        sqrc = sqlite3_step(st);
        if (sqrc != SQLITE_DONE) {
            rc = pool_sq_errno(sqrc);
            rc = xt_error(db->ctx, rc ? rc : -EIO, "cannot destroy %s %s: "
                          "%s", cls->name, ref, sqlite3_errmsg(db->sq));
        }
    }
    sqlite3_finalize(st);
    rc = pool_op_end(db, rc);
out_free:
    free(sql);
    return rc;
}

/* The refs of cls beyond the newest keep, newest first. */
static int select_oldest(struct pool_db *db, const struct pool_class *cls,
                         uint64_t keep, struct pool_strv *refs_r)
{
    struct pool_sb sb = { 0 };
    sqlite3_stmt *st = NULL;
    char *sql;
    int rc;

    pool_sb_add(&sb, "SELECT ref FROM ");
    pool_sb_ident(&sb, cls->name);
    pool_sb_add(&sb, " ORDER BY rowid DESC LIMIT -1 OFFSET ?1");
    sql = pool_sb_take(&sb);
    if (!sql)
        return xt_error(db->ctx, -ENOMEM, "pool db: building a query");
    rc = pool_prepare(db, sql, &st);
    free(sql);
    if (rc == 0)
        sqlite3_bind_int64(st, 1, keep > INT64_MAX ? INT64_MAX
                                                   : (int64_t)keep);
    return collect_refs(db, cls, st, rc, "listing the oldest", refs_r);
}

int pool_db_keep_newest(struct pool_db *db, enum pool_class_id id,
                        uint64_t keep, uint64_t *ndel_r)
{
    const struct pool_class *cls;
    struct pool_strv refs = { 0 };
    size_t i;
    int rc;

    if (ndel_r)
        *ndel_r = 0;
    rc = get_class(db, id, &cls);
    if (rc < 0)
        return rc;
    rc = pool_op_begin(db, true);
    if (rc < 0)
        return rc;
    rc = select_oldest(db, cls, keep, &refs);
    for (i = refs.n; rc == 0 && i > 0; i--)
        rc = pool_db_destroy(db, id, refs.v[i - 1]);
    rc = pool_op_end(db, rc);
    if (rc == 0 && ndel_r)
        *ndel_r = refs.n;
    pool_strv_free(&refs);
    return rc;
}
