/*
 * pool_db.c - the pool database file: opening (pragmas, migrations,
 * checking the schema against the model, event triggers), transactions,
 * SQLite errors.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "pool_internal.h"

/* ---- errors ------------------------------------------------------------ */

int pool_sq_errno(int sqrc)
{
    switch (sqrc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        return -EEXIST;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        return -EBUSY;
    default:
        break;
    }
    switch (sqrc & 0xff) {
    case SQLITE_OK:
        return 0;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EAGAIN;
    case SQLITE_NOMEM:
        return -ENOMEM;
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_READONLY:
        return -EROFS;
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return -EACCES;
    case SQLITE_TOOBIG:
        return -E2BIG;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
    case SQLITE_NOTADB:
        return -EINVAL;
    default:
        return -EIO;
    }
}

int pool_sq_error(struct pool_db *db, int sqrc, const char *what)
{
    int rc = pool_sq_errno(sqrc);

    if (rc == 0)
        rc = -EIO;
    return xt_error(db->ctx, rc, "pool db %s: %s: %s", db->path, what,
                    db->sq ? sqlite3_errmsg(db->sq) : sqlite3_errstr(sqrc));
}

int pool_prepare(struct pool_db *db, const char *sql, sqlite3_stmt **st_r)
{
    int sqrc;

    sqrc = sqlite3_prepare_v2(db->sq, sql, -1, st_r, NULL);
    if (sqrc != SQLITE_OK)
        return pool_sq_error(db, sqrc, "prepare");
    return 0;
}

int pool_exec(struct pool_db *db, const char *sql)
{
    char what[64];
    int sqrc;

    sqrc = sqlite3_exec(db->sq, sql, NULL, NULL, NULL);
    if (sqrc == SQLITE_OK)
        return 0;
    /* The statement, cut short: enough to tell which. */
    snprintf(what, sizeof(what), "%s", sql);
    if (strlen(sql) >= sizeof(what))
        memcpy(what + sizeof(what) - 4, "...", 4);
    return pool_sq_error(db, sqrc, what);
}

int pool_no_such_object(struct pool_db *db, const struct pool_class *cls,
                        const char *ref)
{
    return xt_error(db->ctx, -ENOENT, "no %s %s", cls->name,
                    ref ? ref : "(null)");
}

/* One integer from a query without parameters. */
static int query_int(struct pool_db *db, const char *sql, int64_t *v_r)
{
    sqlite3_stmt *st = NULL;
    int rc, sqrc;

    rc = pool_prepare(db, sql, &st);
    if (rc < 0)
        goto out;
    sqrc = sqlite3_step(st);
    if (sqrc == SQLITE_ROW) {
        *v_r = sqlite3_column_int64(st, 0);
    } else if (sqrc == SQLITE_DONE) {
        *v_r = 0;
    } else {
        rc = pool_sq_error(db, sqrc, sql);
        goto out;
    }
    rc = 0;
out:
    sqlite3_finalize(st);
    return rc;
}

/* ---- transactions ------------------------------------------------------ */

/* Notices a transaction SQLite rolled back by itself after an error. */
static void note_lost_txn(struct pool_db *db)
{
    if (db->txn != POOL_TXN_NONE && sqlite3_get_autocommit(db->sq))
        db->txn_lost = true;
}

void pool_committed(struct pool_db *db)
{
    int64_t n = sqlite3_total_changes64(db->sq);

    if (n != db->changes_told && db->on_commit) {
        db->changes_told = n;
        db->on_commit(db->on_commit_opaque);
    }
}

void pool_db_on_commit(struct pool_db *db, void (*fn)(void *), void *opaque)
{
    db->on_commit = fn;
    db->on_commit_opaque = opaque;
    db->changes_told = sqlite3_total_changes64(db->sq);
}

int pool_op_begin(struct pool_db *db, bool write)
{
    int rc;

    if (write && db->txn == POOL_TXN_READ)
        return xt_error(db->ctx, -EINVAL,
                        "pool db: write inside a read transaction");
    if (db->txn_lost)
        return xt_error(db->ctx, -EIO, "pool db: the transaction was "
                        "rolled back after an earlier error");
    if (db->depth == 0 && db->txn == POOL_TXN_NONE) {
        rc = pool_exec(db, write ? "BEGIN IMMEDIATE" : "BEGIN");
        if (rc < 0)
            return rc;
        db->began = true;
    } else {
        rc = pool_exec(db, "SAVEPOINT pool_op");
        if (rc < 0)
            return rc;
    }
    db->depth++;
    return 0;
}

int pool_op_end(struct pool_db *db, int rc)
{
    int sqrc;

    db->depth--;
    if (db->depth == 0 && db->began) {
        db->began = false;
        if (sqlite3_get_autocommit(db->sq))
            return rc < 0 ? rc : pool_sq_error(db, SQLITE_ABORT, "commit");
        if (rc == 0) {
            sqrc = sqlite3_exec(db->sq, "COMMIT", NULL, NULL, NULL);
            if (sqrc == SQLITE_OK) {
                pool_committed(db);
                return 0;
            }
            rc = pool_sq_error(db, sqrc, "commit");
        }
        sqlite3_exec(db->sq, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    if (sqlite3_get_autocommit(db->sq)) {
        note_lost_txn(db);
        return rc < 0 ? rc : pool_sq_error(db, SQLITE_ABORT, "release");
    }
    if (rc < 0)
        sqlite3_exec(db->sq, "ROLLBACK TO pool_op", NULL, NULL, NULL);
    sqrc = sqlite3_exec(db->sq, "RELEASE pool_op", NULL, NULL, NULL);
    if (sqrc != SQLITE_OK && rc == 0)
        rc = pool_sq_error(db, sqrc, "release savepoint");
    return rc;
}

static int begin(struct pool_db *db, enum pool_txn kind)
{
    int rc;

    if (db->txn != POOL_TXN_NONE || db->depth)
        return xt_error(db->ctx, -EALREADY,
                        "pool db: a transaction is already open");
    rc = pool_exec(db, kind == POOL_TXN_WRITE ? "BEGIN IMMEDIATE"
                                              : "BEGIN DEFERRED");
    if (rc < 0)
        return rc;
    db->txn = kind;
    db->txn_lost = false;
    return 0;
}

int pool_db_begin(struct pool_db *db)
{
    return begin(db, POOL_TXN_WRITE);
}

int pool_db_begin_read(struct pool_db *db)
{
    return begin(db, POOL_TXN_READ);
}

int pool_db_commit(struct pool_db *db)
{
    bool lost = db->txn_lost;
    int sqrc, rc;

    if (db->txn == POOL_TXN_NONE)
        return xt_error(db->ctx, -EINVAL, "pool db: commit without a "
                        "transaction");
    db->txn = POOL_TXN_NONE;
    db->txn_lost = false;
    if (lost || sqlite3_get_autocommit(db->sq))
        return xt_error(db->ctx, -EIO, "pool db: the transaction was "
                        "rolled back after an earlier error");
    sqrc = sqlite3_exec(db->sq, "COMMIT", NULL, NULL, NULL);
    if (sqrc == SQLITE_OK) {
        pool_committed(db);
        return 0;
    }
    rc = pool_sq_error(db, sqrc, "commit");
    sqlite3_exec(db->sq, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

int pool_db_rollback(struct pool_db *db)
{
    int sqrc;

    if (db->txn == POOL_TXN_NONE)
        return 0;
    db->txn = POOL_TXN_NONE;
    db->txn_lost = false;
    if (sqlite3_get_autocommit(db->sq))
        return 0;
    sqrc = sqlite3_exec(db->sq, "ROLLBACK", NULL, NULL, NULL);
    if (sqrc != SQLITE_OK)
        return pool_sq_error(db, sqrc, "rollback");
    return 0;
}

/* ---- JSON sets and maps ------------------------------------------------ */

int pool_json_decode(struct pool_db *db, const char *json,
                     enum pool_ftype type, struct pool_value *v_r)
{
    struct pool_value v = { .type = type };
    sqlite3_stmt *st = db->st_json;
    const char *key, *val, *vtype;
    bool is_map = type == POOL_FT_MAP;
    int rc = 0, sqrc;

    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, json, -1, SQLITE_STATIC);
    while ((sqrc = sqlite3_step(st)) == SQLITE_ROW) {
        key = (const char *)sqlite3_column_text(st, 0);
        val = (const char *)sqlite3_column_text(st, 1);
        vtype = (const char *)sqlite3_column_text(st, 2);
        if ((sqlite3_column_type(st, 0) == SQLITE_TEXT) != is_map || !val ||
            !vtype || strcmp(vtype, "text") != 0) {
            rc = xt_error(db->ctx, -EIO, "pool db %s: stored %s is not "
                          "one: %.60s", db->path, pool_ftype_name(type),
                          json);
            goto out;
        }
        rc = is_map ? pool_value_map_put(&v, key, val)
                    : pool_value_set_add(&v, val);
        if (rc < 0) {
            rc = xt_error(db->ctx, rc, "pool db: decoding a %s",
                          pool_ftype_name(type));
            goto out;
        }
    }
    if (sqrc != SQLITE_DONE) {
        rc = pool_sq_error(db, sqrc, "decoding JSON");
        goto out;
    }
out:
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc < 0)
        pool_value_clear(&v);
    else
        *v_r = v;
    return rc;
}

/* ---- migrations -------------------------------------------------------- */

/* The schema version in the file; 0 for a new, empty file. */
static int read_version(struct pool_db *db, int *version_r)
{
    int64_t n;
    int rc;

    rc = query_int(db, "SELECT count(*) FROM sqlite_master WHERE "
                   "type = 'table' AND name = 'schema_version'", &n);
    if (rc < 0)
        return rc;
    if (n == 0) {
        rc = query_int(db, "SELECT count(*) FROM sqlite_master", &n);
        if (rc < 0)
            return rc;
        if (n > 0)
            return xt_error(db->ctx, -EINVAL, "pool db %s: not an "
                            "xm-pool database (no schema_version table)",
                            db->path);
        *version_r = 0;
        return 0;
    }
    rc = query_int(db, "SELECT max(version) FROM schema_version", &n);
    if (rc < 0)
        return rc;
    *version_r = (int)n;
    return 0;
}

static int check_foreign_keys(struct pool_db *db, const char *when)
{
    sqlite3_stmt *st = NULL;
    int rc, sqrc;

    rc = pool_prepare(db, "PRAGMA foreign_key_check", &st);
    if (rc < 0)
        return rc;
    sqrc = sqlite3_step(st);
    if (sqrc == SQLITE_ROW)
        rc = xt_error(db->ctx, -EIO, "pool db %s: %s: table %s row %lld "
                      "refers to a missing %s", db->path, when,
                      (const char *)sqlite3_column_text(st, 0),
                      (long long)sqlite3_column_int64(st, 1),
                      (const char *)sqlite3_column_text(st, 2));
    else if (sqrc != SQLITE_DONE)
        rc = pool_sq_error(db, sqrc, "foreign_key_check");
    sqlite3_finalize(st);
    return rc;
}

static int record_version(struct pool_db *db, const struct pool_migration *m)
{
    char now[POOL_DATETIME_STRLEN + 1];
    sqlite3_stmt *st = NULL;
    int rc, sqrc;

    rc = pool_prepare(db, "INSERT INTO schema_version (version, applied, "
                      "what) VALUES (?1, ?2, ?3)", &st);
    if (rc < 0)
        return rc;
    pool_datetime_now(now);
    sqlite3_bind_int(st, 1, m->version);
    sqlite3_bind_text(st, 2, now, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, m->what, -1, SQLITE_STATIC);
    sqrc = sqlite3_step(st);
    if (sqrc != SQLITE_DONE)
        rc = pool_sq_error(db, sqrc, "recording the schema version");
    sqlite3_finalize(st);
    return rc;
}

/*
 * Applies the migrations the file lacks, one transaction each (so a crash
 * leaves the file at some version, never between two).  The version is
 * read again under the write lock: another process may have migrated.
 */
static int migrate(struct pool_db *db, const struct pool_migration *migs,
                   size_t nmigs)
{
    int version, target = (int)nmigs, rc;
    const struct pool_migration *m;
    size_t i;

    for (i = 0; i < nmigs; i++)
        if (migs[i].version != (int)i + 1)
            return xt_error(db->ctx, -EINVAL, "pool db: migration %zu has "
                            "version %d, want %zu", i, migs[i].version,
                            i + 1);
    for (;;) {
        rc = pool_exec(db, "BEGIN IMMEDIATE");
        if (rc < 0)
            return rc;
        rc = read_version(db, &version);
        if (rc < 0)
            goto fail;
        if (version > target) {
            rc = xt_error(db->ctx, -ENOTSUP, "pool db %s: schema version "
                          "%d is newer than this program supports (%d): "
                          "refusing to open it; upgrade xm-pool", db->path,
                          version, target);
            goto fail;
        }
        if (version == target)
            return pool_exec(db, "COMMIT");
        m = &migs[version];
        rc = pool_exec(db, "CREATE TABLE IF NOT EXISTS schema_version ("
                       "version INTEGER PRIMARY KEY, applied TEXT NOT NULL, "
                       "what TEXT)");
        if (rc == 0 && m->sql)
            rc = pool_exec(db, m->sql);
        if (rc == 0 && m->apply)
            rc = m->apply(db);
        if (rc == 0)
            rc = check_foreign_keys(db, m->what);
        if (rc == 0)
            rc = record_version(db, m);
        if (rc == 0)
            rc = pool_exec(db, "COMMIT");
        if (rc < 0)
            goto fail;
        xt_info(db->ctx, "pool db %s: schema version %d: %s", db->path,
                m->version, m->what);
    }

fail:
    if (!sqlite3_get_autocommit(db->sq))
        sqlite3_exec(db->sq, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* ---- the schema against the model -------------------------------------- */

static const char *ondelete_sql(enum pool_ondelete d)
{
    switch (d) {
    case POOL_DEL_CASCADE:
        return "CASCADE";
    case POOL_DEL_RESTRICT:
        return "RESTRICT";
    default:
        return "SET NULL";
    }
}

/* Is column `name` in the table (case-insensitively, as SQLite is)? */
static int has_column(struct pool_db *db, sqlite3_stmt *cols,
                      const char *table, const char *name, bool *has_r)
{
    const char *col;
    int sqrc;

    *has_r = false;
    sqlite3_reset(cols);
    sqlite3_bind_text(cols, 1, table, -1, SQLITE_STATIC);
    while ((sqrc = sqlite3_step(cols)) == SQLITE_ROW) {
        col = (const char *)sqlite3_column_text(cols, 0);
        if (col && strcasecmp(col, name) == 0)
            *has_r = true;
    }
    if (sqrc != SQLITE_DONE)
        return pool_sq_error(db, sqrc, "table_info");
    return 0;
}

/* Does the foreign key of column `from` go to `to` with `del`? */
static int check_fk(struct pool_db *db, sqlite3_stmt *fks, const char *table,
                    const struct pool_field *f)
{
    const struct pool_class *to = pool_class_get(f->target);
    const char *del = ondelete_sql(f->ondelete);
    const char *from, *tab, *ondel;
    bool found = false;
    int sqrc;

    sqlite3_reset(fks);
    sqlite3_bind_text(fks, 1, table, -1, SQLITE_STATIC);
    while ((sqrc = sqlite3_step(fks)) == SQLITE_ROW) {
        from = (const char *)sqlite3_column_text(fks, 0);
        tab = (const char *)sqlite3_column_text(fks, 1);
        ondel = (const char *)sqlite3_column_text(fks, 2);
        if (from && tab && ondel && strcasecmp(from, f->name) == 0 &&
            strcasecmp(tab, to->name) == 0 && strcasecmp(ondel, del) == 0)
            found = true;
    }
    if (sqrc != SQLITE_DONE)
        return pool_sq_error(db, sqrc, "foreign_key_list");
    if (!found)
        return xt_error(db->ctx, -EIO, "pool db %s: %s.%s has no foreign "
                        "key to %s ON DELETE %s (a model change without "
                        "its migration?)", db->path, table, f->name,
                        to->name, del);
    return 0;
}

static int check_schema(struct pool_db *db)
{
    sqlite3_stmt *cols = NULL, *fks = NULL;
    static const char *const fixed[] = { "ref", "uuid", POOL_SET_COLUMN };
    const struct pool_class *cls;
    const struct pool_field *f;
    size_t c, i;
    bool has;
    int rc;

    rc = pool_prepare(db, "SELECT name FROM pragma_table_info(?1)", &cols);
    if (rc == 0)
        rc = pool_prepare(db, "SELECT \"from\", \"table\", on_delete "
                          "FROM pragma_foreign_key_list(?1)", &fks);
    for (c = 0; rc == 0 && c < POOL_CLASS_COUNT; c++) {
        cls = pool_class_get((enum pool_class_id)c);
        for (i = 0; rc == 0 && i < 3; i++) {
            if (i == 2 && !pool_class_overridable(cls))
                break;
            rc = has_column(db, cols, cls->name, fixed[i], &has);
            if (rc == 0 && !has)
                rc = xt_error(db->ctx, -EIO, "pool db %s: table %s lacks "
                              "column %s", db->path, cls->name, fixed[i]);
        }
        for (i = 0; rc == 0 && i < cls->nfields; i++) {
            f = &cls->fields[i];
            if (!pool_field_stored(f) || f->constant)
                continue;
            rc = has_column(db, cols, cls->name, f->name, &has);
            if (rc == 0 && !has)
                rc = xt_error(db->ctx, -EIO, "pool db %s: no column for "
                              "%s.%s (a model change without its "
                              "migration?)", db->path, cls->name, f->name);
            if (rc == 0 && f->type == POOL_FT_REF)
                rc = check_fk(db, fks, cls->name, f);
        }
    }
    sqlite3_finalize(cols);
    sqlite3_finalize(fks);
    return rc;
}

/* ---- event triggers ---------------------------------------------------- */

#define EV_NOW "(julianday('now') - 2440587.5) * 86400.0"

/* "CREATE TEMP TRIGGER name AFTER what [OF col] ON main.table" */
static void trigger_head(struct pool_sb *sb, const char *cls,
                         const char *name, const char *what,
                         const char *col, const char *table)
{
    pool_sb_addf(sb, "CREATE TEMP TRIGGER \"xm_ev_%s_%s\" AFTER %s ", cls,
                 name, what);
    if (col) {
        pool_sb_add(sb, "OF ");
        pool_sb_ident(sb, col);
    }
    pool_sb_add(sb, " ON main.");
    pool_sb_ident(sb, table);
}

/* Logs "mod" of parent object `col` (old or new row) if it still exists. */
static void trigger_parent_mod(struct pool_sb *sb, const char *parent,
                               const char *row, const char *col)
{
    pool_sb_addf(sb, " INSERT INTO event (class, ref, op, ts) SELECT '%s', "
                 "%s.", parent, row);
    pool_sb_ident(sb, col);
    pool_sb_addf(sb, ", 'mod', " EV_NOW " WHERE %s.", row);
    pool_sb_ident(sb, col);
    pool_sb_add(sb, " IS NOT NULL AND EXISTS (SELECT 1 FROM ");
    pool_sb_ident(sb, parent);
    pool_sb_addf(sb, " WHERE ref = %s.", row);
    pool_sb_ident(sb, col);
    pool_sb_add(sb, ");");
}

/*
 * For each class with events: add/mod/del of its own rows; and for each
 * derived set (VM.VBDs via VBD.VM) a "mod" of the parent whenever a child
 * row joins or leaves it.  Cascaded deletes and SET NULL updates fire
 * these too.  TEMP triggers: they follow the model of the running
 * program, not of a migration.
 */
static int install_triggers(struct pool_db *db)
{
    static const struct {
        const char *name, *what, *row, *op;
    } own[] = {
        { "add", "INSERT", "new", "add" },
        { "mod", "UPDATE", "new", "mod" },
        { "del", "DELETE", "old", "del" },
    };
    const struct pool_class *cls, *child;
    const struct pool_field *f;
    struct pool_sb sb = { 0 };
    char name[128];
    char *sql;
    size_t c, i, k;
    int rc;

    for (c = 0; c < POOL_CLASS_COUNT; c++) {
        cls = pool_class_get((enum pool_class_id)c);
        if (!cls->events)
            continue;
        for (k = 0; k < 3; k++) {
            trigger_head(&sb, cls->name, own[k].name, own[k].what, NULL,
                         cls->name);
            pool_sb_addf(&sb, " BEGIN INSERT INTO event (class, ref, op, "
                         "ts) VALUES ('%s', %s.ref, '%s', " EV_NOW "); "
                         "END;\n", cls->name, own[k].row, own[k].op);
        }
        for (i = 0; i < cls->nfields; i++) {
            f = &cls->fields[i];
            if (f->type != POOL_FT_REF_SET || f->constant)
                continue;
            child = pool_class_get(f->target);
            snprintf(name, sizeof(name), "%s_add", f->name);
            trigger_head(&sb, cls->name, name, "INSERT", NULL,
                         child->name);
            pool_sb_add(&sb, " BEGIN");
            trigger_parent_mod(&sb, cls->name, "new", f->via);
            pool_sb_add(&sb, " END;\n");

            snprintf(name, sizeof(name), "%s_mod", f->name);
            trigger_head(&sb, cls->name, name, "UPDATE", f->via,
                         child->name);
            pool_sb_add(&sb, " WHEN old.");
            pool_sb_ident(&sb, f->via);
            pool_sb_add(&sb, " IS NOT new.");
            pool_sb_ident(&sb, f->via);
            pool_sb_add(&sb, " BEGIN");
            trigger_parent_mod(&sb, cls->name, "old", f->via);
            trigger_parent_mod(&sb, cls->name, "new", f->via);
            pool_sb_add(&sb, " END;\n");

            snprintf(name, sizeof(name), "%s_del", f->name);
            trigger_head(&sb, cls->name, name, "DELETE", NULL,
                         child->name);
            pool_sb_add(&sb, " BEGIN");
            trigger_parent_mod(&sb, cls->name, "old", f->via);
            pool_sb_add(&sb, " END;\n");
        }
    }
    sql = pool_sb_take(&sb);
    if (!sql)
        return xt_error(db->ctx, -ENOMEM, "pool db: building triggers");
    rc = pool_exec(db, sql);
    free(sql);
    return rc;
}

/* ---- open and close ---------------------------------------------------- */

/* Makes the directory entry of a newly created file durable. */
static int sync_dir(struct pool_db *db)
{
    char *copy;
    int fd, rc = 0;

    copy = strdup(db->path);
    if (!copy)
        return xt_error(db->ctx, -ENOMEM, "pool db: path");
    fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0)
        rc = xt_error(db->ctx, -errno, "pool db %s: syncing its directory",
                      db->path);
    if (fd >= 0)
        close(fd);
    free(copy);
    return rc;
}

static int set_pragmas(struct pool_db *db)
{
    sqlite3_stmt *st = NULL;
    const char *mode;
    int64_t appid;
    int rc, sqrc;

    rc = query_int(db, "PRAGMA application_id", &appid);
    if (rc < 0)
        return rc;
    if (appid != 0 && appid != POOL_DB_APPLICATION_ID)
        return xt_error(db->ctx, -EINVAL, "pool db %s: not an xm-pool "
                        "database (application_id 0x%llx)", db->path,
                        (unsigned long long)appid);
    rc = pool_prepare(db, "PRAGMA journal_mode = WAL", &st);
    if (rc < 0)
        return rc;
    sqrc = sqlite3_step(st);
    mode = sqrc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0)
                              : NULL;
    if (sqrc != SQLITE_ROW)
        rc = pool_sq_error(db, sqrc, "journal_mode");
    else if (!mode || strcasecmp(mode, "wal") != 0)
        rc = xt_error(db->ctx, -EIO, "pool db %s: cannot use WAL "
                      "(journal mode stays %s)", db->path,
                      mode ? mode : "?");
    sqlite3_finalize(st);
    if (rc < 0)
        return rc;
    return pool_exec(db, "PRAGMA synchronous = FULL; "
                     "PRAGMA temp_store = MEMORY; "
                     "PRAGMA trusted_schema = OFF; "
                     "PRAGMA foreign_keys = OFF");
}

int pool_db_open_migrations(struct xt_ctx *ctx, const char *path,
                            const struct pool_migration *migs, size_t nmigs,
                            struct pool_db **db_r)
{
    struct pool_db *db;
    int64_t fk;
    int rc, sqrc;

    db = calloc(1, sizeof(*db));
    if (!db)
        return xt_error(ctx, -ENOMEM, "pool db: allocating");
    db->ctx = ctx;
    db->path = strdup(path);
    if (!db->path) {
        rc = xt_error(ctx, -ENOMEM, "pool db: allocating");
        goto out;
    }
    sqrc = sqlite3_open_v2(path, &db->sq, SQLITE_OPEN_READWRITE |
                           SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW, NULL);
    if (sqrc != SQLITE_OK) {
        rc = sqlite3_system_errno(db->sq) ? -sqlite3_system_errno(db->sq)
                                          : pool_sq_errno(sqrc);
        rc = xt_error(ctx, rc ? rc : -EIO, "pool db %s: cannot open: %s",
                      path, db->sq ? sqlite3_errmsg(db->sq)
                                   : sqlite3_errstr(sqrc));
        goto out;
    }
    sqlite3_extended_result_codes(db->sq, 1);
    sqlite3_busy_timeout(db->sq, POOL_DB_BUSY_TIMEOUT_MS);
    sqlite3_db_config(db->sq, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);

    rc = set_pragmas(db);
    if (rc == 0)
        rc = migrate(db, migs, nmigs);
    if (rc == 0)
        rc = pool_exec(db, "PRAGMA foreign_keys = ON");
    if (rc == 0)
        rc = query_int(db, "PRAGMA foreign_keys", &fk);
    if (rc == 0 && fk != 1)
        rc = xt_error(ctx, -ENOTSUP, "pool db %s: this SQLite has no "
                      "foreign keys", path);
    if (rc == 0)
        rc = check_schema(db);
    if (rc == 0)
        rc = install_triggers(db);
    if (rc == 0)
        rc = pool_prepare(db, "SELECT key, value, type FROM json_each(?1)",
                          &db->st_json);
    if (rc == 0)
        rc = sync_dir(db);
    if (rc < 0)
        goto out;
    *db_r = db;
    db = NULL;
out:
    pool_db_close(db);
    return rc;
}

int pool_db_open(struct xt_ctx *ctx, const char *path, struct pool_db **db_r)
{
    return pool_db_open_migrations(ctx, path, pool_migrations,
                                   pool_nmigrations, db_r);
}

void pool_db_close(struct pool_db *db)
{
    if (!db)
        return;
    if (db->sq && !sqlite3_get_autocommit(db->sq))
        sqlite3_exec(db->sq, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_finalize(db->st_json);
    sqlite3_close_v2(db->sq);
    free(db->path);
    free(db);
}

struct xt_ctx *pool_db_ctx(struct pool_db *db)
{
    return db->ctx;
}

int pool_db_schema_version(struct pool_db *db, int *version_r)
{
    int rc;

    rc = pool_op_begin(db, false);
    if (rc < 0)
        return rc;
    return pool_op_end(db, read_version(db, version_r));
}

int pool_db_integrity_check(struct pool_db *db)
{
    sqlite3_stmt *st = NULL;
    const char *res;
    int rc, sqrc;

    rc = pool_op_begin(db, false);
    if (rc < 0)
        return rc;
    rc = pool_prepare(db, "PRAGMA integrity_check", &st);
    if (rc < 0)
        goto out;
    sqrc = sqlite3_step(st);
    res = sqrc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0)
                             : NULL;
    if (sqrc != SQLITE_ROW)
        rc = pool_sq_error(db, sqrc, "integrity_check");
    else if (!res || strcmp(res, "ok") != 0)
        rc = xt_error(db->ctx, -EIO, "pool db %s: integrity check: %s",
                      db->path, res ? res : "?");
    if (rc == 0)
        rc = check_foreign_keys(db, "integrity check");
out:
    sqlite3_finalize(st);
    return pool_op_end(db, rc);
}
