/*
 * test_db_commit.c - what event waiters build on: pool_db_on_commit()
 * runs after each commit that changed rows and only then,
 * pool_db_data_version() moves when another connection commits, and
 * pool_db_count() counts; on a real SQLite file.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pool.h"
#include "xt.h"
#include "../../tap.h"

static void count_commit(void *opaque)
{
    (*(int *)opaque)++;
}

int main(void)
{
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    struct xt_ctx *ctx = xt_ctx_new("test_db_commit");
    struct pool_db *db = NULL, *other = NULL;
    struct pool_record *rec = NULL;
    struct pool_field_init init[1];
    char dir[256], path[300], *vm = NULL, *vm2 = NULL;
    int64_t n = -1, v0 = 0, v1 = 0;
    int commits = 0;

    snprintf(dir, sizeof(dir), "%s/xm-pool-commit-XXXXXX", tmp);
    if (!ctx || !mkdtemp(dir))
        tap_bail("set-up");
    snprintf(path, sizeof(path), "%s/pool.db", dir);
    if (pool_db_open(ctx, path, &db) < 0 ||
        pool_db_open(ctx, path, &other) < 0)
        tap_bail(ctx->err_msg);
    pool_db_on_commit(db, count_commit, &commits);

    init[0] = (struct pool_field_init){ "name_label", POOL_V_STR("a") };
    tap_is_int(pool_db_create(db, POOL_CLASS_VM, init, 1, &vm), 0,
               "a write outside a transaction");
    tap_is_int(commits, 1, "runs the hook once");
    pool_db_get_record(db, POOL_CLASS_VM, vm, &rec);
    pool_record_free(rec);
    pool_db_count(db, POOL_CLASS_VM, &n);
    tap_is_int(commits, 1, "reads do not");

    pool_db_begin(db);
    pool_db_set_field(db, POOL_CLASS_VM, vm, "name_label",
                      &POOL_V_STR("b"), 0);
    pool_db_create(db, POOL_CLASS_VM, init, 1, &vm2);
    tap_is_int(commits, 1, "nothing before the transaction commits");
    tap_is_int(pool_db_commit(db), 0, "a transaction of two writes");
    tap_is_int(commits, 2, "runs it once, at its commit");

    pool_db_begin(db);
    pool_db_set_field(db, POOL_CLASS_VM, vm, "name_label",
                      &POOL_V_STR("c"), 0);
    pool_db_rollback(db);
    tap_is_int(commits, 2, "a rolled back one does not");
    tap_ok(pool_db_set_field(db, POOL_CLASS_VM, vm, "no_such_field",
                             &POOL_V_STR("x"), 0) < 0 && commits == 2,
           "nor a write that fails");
    ctx->err_rc = 0;

    tap_is_int(pool_db_count(db, POOL_CLASS_VM, &n), 0, "count");
    tap_is_int(n, 2, "counts the objects");
    pool_db_count(db, POOL_CLASS_SR, &n);
    tap_is_int(n, 0, "of each class");

    pool_db_data_version(other, &v0);
    pool_db_data_version(other, &v1);
    tap_ok(v0 == v1, "data_version stays while nothing is committed");
    pool_db_set_field(db, POOL_CLASS_VM, vm2, "name_label",
                      &POOL_V_STR("d"), 0);
    pool_db_data_version(other, &v1);
    tap_ok(v0 != v1, "and moves when another connection commits");
    tap_is_int(commits, 3, "(which ran the hook)");

    free(vm);
    free(vm2);
    pool_db_close(other);
    pool_db_close(db);
    unlink(path);
    snprintf(path, sizeof(path), "%s/pool.db-wal", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/pool.db-shm", dir);
    unlink(path);
    rmdir(dir);
    xt_ctx_free(ctx);
    return tap_done();
}
