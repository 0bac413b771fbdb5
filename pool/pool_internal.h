/*
 * pool_internal.h - shared by the files of pool/ (and its unit tests);
 * other modules include pool.h only.
 */
#ifndef POOL_INTERNAL_H
#define POOL_INTERNAL_H

#include <sqlite3.h>

#include "pool.h"

/* The application_id in the SQLite header: "xmpl". */
#define POOL_DB_APPLICATION_ID 0x786d706c

/*
 * One schema migration: takes the file from version - 1 to version.  Run
 * in its own write transaction, with foreign keys off and
 * PRAGMA foreign_key_check required clean before commit.  Migrations are
 * frozen once released: a change to the model is a new migration, never
 * an edit of an old one.
 */
struct pool_migration {
    int version;
    const char *what;                           /* one line, for the log */
    const char *sql;                            /* run first; may be NULL */
    int (*apply)(struct pool_db *db);           /* then this; may be NULL */
};

/* The migrations of this program, versions 1..POOL_DB_SCHEMA_VERSION. */
extern const struct pool_migration pool_migrations[];
extern const size_t pool_nmigrations;

enum pool_txn {
    POOL_TXN_NONE = 0,
    POOL_TXN_READ,
    POOL_TXN_WRITE,
};

struct pool_db {
    struct xt_ctx *ctx;         /* errors go here; not owned */
    sqlite3 *sq;
    char *path;
    enum pool_txn txn;          /* the caller's transaction */
    bool txn_lost;              /* SQLite rolled it back after an error */
    unsigned depth;             /* nesting of pool_op_begin() */
    bool began;                 /* the outermost op began a transaction */
    sqlite3_stmt *st_json;      /* json_each(?1), kept prepared */
    void (*on_commit)(void *);  /* pool_db_on_commit()'s */
    void *on_commit_opaque;
    int64_t changes_told;       /* sqlite3_total_changes64() when it ran */
};

/* After a COMMIT: runs on_commit if this connection changed rows since it
 * last ran. */
void pool_committed(struct pool_db *db);

/*
 * Opens with an explicit migration list (ascending, contiguous from 1):
 * the unit tests use it to add a version 2.
 */
int pool_db_open_migrations(struct xt_ctx *ctx, const char *path,
                            const struct pool_migration *migs, size_t nmigs,
                            struct pool_db **db_r);

/* Maps an SQLite result code to -errno. */
int pool_sq_errno(int sqrc);
/* Reports the connection's last SQLite error as "what: message" and
 * returns the mapped code. */
int pool_sq_error(struct pool_db *db, int sqrc, const char *what);
/* Prepares sql; reports failures.  0 or -errno. */
int pool_prepare(struct pool_db *db, const char *sql, sqlite3_stmt **st_r);
/* Runs statements without results; reports failures. */
int pool_exec(struct pool_db *db, const char *sql);

/*
 * Brackets one call so it is atomic on its own: a transaction (write:
 * BEGIN IMMEDIATE) at top level, a savepoint inside the caller's.
 * pool_op_end() commits or releases on rc == 0 and undoes otherwise; it
 * returns rc, or the commit's error.
 */
int pool_op_begin(struct pool_db *db, bool write);
int pool_op_end(struct pool_db *db, int rc);

/* Reports -ENOENT "no <class> <ref>" (the HANDLE_INVALID message). */
int pool_no_such_object(struct pool_db *db, const struct pool_class *cls,
                        const char *ref);

/* Fresh ref: "OpaqueRef:" and a random uuid, in buf. */
int pool_ref_generate(char buf[POOL_REF_STRLEN + 1]);

/* JSON text of a set or map value.  *json_r: free().  0 or -ENOMEM. */
int pool_json_encode(const struct pool_value *v, char **json_r);
/* Parses JSON text stored by pool_json_encode() into a set or map of the
 * given type.  Reports -EIO on text that is not one. */
int pool_json_decode(struct pool_db *db, const char *json,
                     enum pool_ftype type, struct pool_value *v_r);

/* A growing string; on ENOMEM it stays failed and sb_take() says so. */
struct pool_sb {
    char *p;
    size_t len;
    size_t cap;
    bool oom;
};
void pool_sb_add(struct pool_sb *sb, const char *s);
void pool_sb_addf(struct pool_sb *sb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Adds "name" with embedded quotes doubled (an SQL identifier). */
void pool_sb_ident(struct pool_sb *sb, const char *name);
/* The string (caller frees), or NULL after ENOMEM. */
char *pool_sb_take(struct pool_sb *sb);

/* True for field types stored in a column (all but POOL_FT_REF_SET). */
static inline bool pool_field_stored(const struct pool_field *f)
{
    return f->type != POOL_FT_REF_SET;
}

/*
 * A constant field a client may set (XAPI's RW): its default until set,
 * then the value kept in the row's POOL_SET_COLUMN, a JSON object of
 * field name -> text (a scalar's text form, a set's or map's JSON).
 */
#define POOL_SET_COLUMN "xm_set"
static inline bool pool_field_overridable(const struct pool_field *f)
{
    return f->constant && f->access == POOL_FA_RW;
}
/* Whether cls has such fields (then its table has POOL_SET_COLUMN). */
bool pool_class_overridable(const struct pool_class *cls);

#endif /* POOL_INTERNAL_H */
