/*
 * test_db.c - the pool database on a real SQLite file: objects of every
 * class, field checks, derived sets, transactions, the event log, schema
 * migrations.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "pool.h"
#include "pool_internal.h"
#include "xt.h"
#include "../../tap.h"

struct fixture {
    struct xt_ctx *ctx;
    char *dir;
    char path[512];
    struct pool_db *db;
};

/* ---- helpers ----------------------------------------------------------- */

static void make_dir(struct fixture *fx)
{
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

    if (asprintf(&fx->dir, "%s/xm-pool-db-XXXXXX", tmp) < 0 ||
        !mkdtemp(fx->dir))
        tap_bail("cannot make a temporary directory");
}

static void remove_db(const char *path)
{
    char p[600];

    unlink(path);
    snprintf(p, sizeof(p), "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", path);
    unlink(p);
}

static void use_file(struct fixture *fx, const char *name)
{
    snprintf(fx->path, sizeof(fx->path), "%s/%s", fx->dir, name);
    remove_db(fx->path);
}

/* Checks rc, and that the error recorded mentions frag. */
static void expect_err(struct xt_ctx *ctx, int rc, int want, const char *frag,
                       const char *what)
{
    bool ok = rc == want && ctx->err_rc == want &&
              (!frag || strstr(ctx->err_msg, frag));

    if (!tap_ok(ok, "%s: %d%s%s", what, want, frag ? ", says " : "",
                frag ? frag : ""))
        tap_diag("  rc %d, err_rc %d, err_msg \"%s\"", rc, ctx->err_rc,
                 ctx->err_msg);
    xt_error_clear(ctx);
}

/* Runs SQL on the file through a connection of its own; one int result. */
static long long raw_int(const char *path, const char *sql)
{
    sqlite3 *sq = NULL;
    sqlite3_stmt *st = NULL;
    long long v = -1;

    if (sqlite3_open(path, &sq) != SQLITE_OK ||
        sqlite3_prepare_v2(sq, sql, -1, &st, NULL) != SQLITE_OK) {
        tap_diag("raw sql failed: %s", sqlite3_errmsg(sq));
    } else if (sqlite3_step(st) == SQLITE_ROW) {
        v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(sq);
    return v;
}

static int raw_exec(const char *path, const char *sql)
{
    sqlite3 *sq = NULL;
    int r;

    r = sqlite3_open(path, &sq);
    if (r == SQLITE_OK)
        r = sqlite3_exec(sq, sql, NULL, NULL, NULL);
    if (r != SQLITE_OK)
        tap_diag("raw exec failed: %s", sqlite3_errmsg(sq));
    sqlite3_close(sq);
    return r;
}

static char *create(struct pool_db *db, enum pool_class_id cls,
                    const struct pool_field_init *init, size_t n)
{
    char *ref = NULL;

    if (pool_db_create(db, cls, init, n, &ref) < 0)
        tap_bail("create failed");
    return ref;
}

static char *get_str(struct pool_db *db, enum pool_class_id cls,
                     const char *ref, const char *field)
{
    struct pool_value v = { 0 };
    char *s;

    if (pool_db_get_field(db, cls, ref, field, &v) < 0)
        return strdup("(error)");
    s = v.s;
    v.s = NULL;
    return s;
}

static int64_t get_int(struct pool_db *db, enum pool_class_id cls,
                       const char *ref, const char *field)
{
    struct pool_value v = { 0 };

    if (pool_db_get_field(db, cls, ref, field, &v) < 0)
        return -999;
    return v.type == POOL_FT_BOOL ? v.b : v.i;
}

static bool set_has(struct pool_db *db, enum pool_class_id cls,
                    const char *ref, const char *field, const char *item,
                    size_t *n_r)
{
    struct pool_value v = { 0 };
    bool has;

    if (pool_db_get_field(db, cls, ref, field, &v) < 0)
        return false;
    has = item ? pool_strv_contains(&v.set, item) : true;
    if (n_r)
        *n_r = v.set.n;
    pool_value_clear(&v);
    return has;
}

static size_t count_all(struct pool_db *db, enum pool_class_id cls)
{
    struct pool_strv refs = { 0 };
    size_t n;

    if (pool_db_get_all(db, cls, &refs) < 0)
        return (size_t)-1;
    n = refs.n;
    pool_strv_free(&refs);
    return n;
}

/* ---- values and model -------------------------------------------------- */

static void test_values(void)
{
    struct pool_value v = { 0 }, m = { .type = POOL_FT_MAP }, c;
    char buf[POOL_DATETIME_STRLEN + 1];
    time_t t;

    pool_datetime_format(1706709909, buf);
    tap_is_str(buf, "20240131T14:05:09Z", "datetime format");
    tap_ok(pool_datetime_parse("20240131T14:05:09Z", &t) == 0 &&
           t == 1706709909, "datetime parse round trip");
    tap_is_int(pool_datetime_parse("20240230T00:00:00Z", NULL), -EINVAL,
               "30 February refused");
    tap_is_int(pool_datetime_parse("2024-01-31T14:05:09Z", NULL), -EINVAL,
               "extended form refused");

    tap_ok(pool_value_parse(POOL_FT_INT, "-42", &v) == 0 && v.i == -42,
           "parse int");
    tap_is_int(pool_value_parse(POOL_FT_INT, "42x", &v), -EINVAL,
               "parse int with junk refused");
    tap_ok(pool_value_parse(POOL_FT_BOOL, "TRUE", &v) == 0 && v.b,
           "parse bool");
    tap_ok(pool_value_parse(POOL_FT_REF, "", &v) == 0 &&
           strcmp(v.s, POOL_NULL_REF) == 0, "empty ref parses as NULL ref");
    pool_value_clear(&v);
    tap_is_int(pool_value_parse(POOL_FT_MAP, "{}", &v), -EINVAL,
               "maps have no text form");

    pool_value_map_put(&m, "a", "1");
    pool_value_map_put(&m, "b", "2");
    pool_value_map_put(&m, "a", "3");
    tap_ok(m.map.n == 2 && strcmp(pool_value_map_get(&m, "a"), "3") == 0,
           "map put replaces in place");
    tap_ok(pool_value_copy(&c, &m) == 0 && c.map.n == 2 &&
           strcmp(c.map.keys[1], "b") == 0, "map deep copy");
    tap_ok(pool_value_map_remove(&m, "a") && m.map.n == 1 &&
           !pool_value_map_get(&m, "a"), "map remove");
    pool_value_clear(&m);
    pool_value_clear(&c);

    tap_ok(pool_class_find("vm") == pool_class_get(POOL_CLASS_VM),
           "class names are case-insensitive");
    tap_ok(pool_class_get(POOL_CLASS_SESSION)->events == false,
           "sessions are not in the event log");
}

/* ---- objects of every class ------------------------------------------- */

struct world {
    char *pool, *h1, *h2, *sr, *pbd, *vdi, *net, *vm, *vbd, *vif, *task,
         *user, *session, *sm, *msg, *secret, *hm, *cpu, *vmm, *gm, *con,
         *pif;
};

static void world_free(struct world *w)
{
    free(w->pool);
    free(w->h1);
    free(w->h2);
    free(w->sr);
    free(w->pbd);
    free(w->vdi);
    free(w->net);
    free(w->vm);
    free(w->vbd);
    free(w->vif);
    free(w->task);
    free(w->user);
    free(w->session);
    free(w->sm);
    free(w->msg);
    free(w->secret);
    free(w->hm);
    free(w->cpu);
    free(w->vmm);
    free(w->gm);
    free(w->con);
    free(w->pif);
}

static void build_world(struct pool_db *db, struct world *w)
{
    struct pool_value oc = { .type = POOL_FT_MAP };
    struct pool_value sv = { .type = POOL_FT_MAP };
    struct pool_value dc = { .type = POOL_FT_MAP };

    pool_value_map_put(&sv, "product_version", "0.1.0");
    w->h1 = create(db, POOL_CLASS_HOST, (struct pool_field_init[]){
        { "name_label", POOL_V_STR("host1") },
        { "address", POOL_V_STR("192.0.2.1") },
        { "memory_total", POOL_V_INT(8ll << 30) },
        { "memory_free", POOL_V_INT(6ll << 30) },
        { "live", POOL_V_BOOL(true) },
        { "software_version", sv },
    }, 6);
    w->h2 = create(db, POOL_CLASS_HOST, (struct pool_field_init[]){
        { "name_label", POOL_V_STR("host2") },
    }, 1);
    w->sr = create(db, POOL_CLASS_SR, (struct pool_field_init[]){
        { "name_label", POOL_V_STR("local") },
        { "type", POOL_V_STR("file") },
        { "physical_size", POOL_V_INT(1ll << 40) },
    }, 3);
    pool_value_map_put(&dc, "path", "/var/lib/xm-pool/sr");
    w->pbd = create(db, POOL_CLASS_PBD, (struct pool_field_init[]){
        { "host", POOL_V_REF(w->h1) },
        { "SR", POOL_V_REF(w->sr) },
        { "device_config", dc },
    }, 3);
    w->vdi = create(db, POOL_CLASS_VDI, (struct pool_field_init[]){
        { "name_label", POOL_V_STR("disk0") },
        { "SR", POOL_V_REF(w->sr) },
        { "virtual_size", POOL_V_INT(1ll << 30) },
        { "type", POOL_V_ENUM("User") },
    }, 4);
    w->net = create(db, POOL_CLASS_NETWORK, (struct pool_field_init[]){
        { "name_label", POOL_V_STR("net0") },
        { "bridge", POOL_V_STR("xmbr0") },
    }, 2);
    w->pool = create(db, POOL_CLASS_POOL, (struct pool_field_init[]){
        { "name_label", POOL_V_STR("pool0") },
        { "master", POOL_V_REF(w->h1) },
        { "default_SR", POOL_V_REF(w->sr) },
        { "migration_network", POOL_V_REF(w->net) },
    }, 4);
    pool_value_map_put(&oc, POOL_VM_OC_KERNEL, "/usr/lib/xm-pool/guest.elf");
    pool_value_map_put(&oc, POOL_VM_OC_CMDLINE, "hb=10");
    w->vm = create(db, POOL_CLASS_VM, (struct pool_field_init[]){
        { "name_label", POOL_V_STR("guest") },
        { "memory_static_max", POOL_V_INT(256ll << 20) },
        { "memory_dynamic_max", POOL_V_INT(256ll << 20) },
        { "memory_dynamic_min", POOL_V_INT(128ll << 20) },
        { "VCPUs_max", POOL_V_INT(2) },
        { "affinity", POOL_V_REF(w->h2) },
        { "other_config", oc },
    }, 7);
    w->vbd = create(db, POOL_CLASS_VBD, (struct pool_field_init[]){
        { "VM", POOL_V_REF(w->vm) },
        { "VDI", POOL_V_REF(w->vdi) },
        { "userdevice", POOL_V_STR("0") },
        { "bootable", POOL_V_BOOL(true) },
    }, 4);
    w->vif = create(db, POOL_CLASS_VIF, (struct pool_field_init[]){
        { "VM", POOL_V_REF(w->vm) },
        { "network", POOL_V_REF(w->net) },
        { "device", POOL_V_STR("0") },
        { "MAC", POOL_V_STR("00:16:3e:00:00:01") },
    }, 4);
    w->task = create(db, POOL_CLASS_TASK, (struct pool_field_init[]){
        { "name_label", POOL_V_STR("VM.start") },
        { "resident_on", POOL_V_REF(w->h1) },
    }, 2);
    w->user = create(db, POOL_CLASS_USER, (struct pool_field_init[]){
        { "short_name", POOL_V_STR("root") },
        { "password_hash", POOL_V_STR("$6$salt$hash") },
    }, 2);
    w->session = create(db, POOL_CLASS_SESSION, (struct pool_field_init[]){
        { "this_host", POOL_V_REF(w->h1) },
        { "this_user", POOL_V_REF(w->user) },
        { "is_local_superuser", POOL_V_BOOL(true) },
    }, 3);
    w->sm = create(db, POOL_CLASS_SM, (struct pool_field_init[]){
        { "type", POOL_V_STR("file") },
        { "name_label", POOL_V_STR("file") },
    }, 2);
    w->msg = create(db, POOL_CLASS_MESSAGE, (struct pool_field_init[]){
        { "name", POOL_V_STR("VM_MIGRATE_FAILED") },
        { "priority", POOL_V_INT(3) },
        { "cls", POOL_V_ENUM("VM") },
        { "obj_uuid", POOL_V_STR("00000000-0000-4000-8000-000000000009") },
    }, 4);
    w->secret = create(db, POOL_CLASS_SECRET, (struct pool_field_init[]){
        { "value", POOL_V_STR("s3cret") },
    }, 1);
    w->hm = create(db, POOL_CLASS_HOST_METRICS, (struct pool_field_init[]){
        { "host", POOL_V_REF(w->h1) },
        { "memory_total", POOL_V_INT(8ll << 30) },
        { "live", POOL_V_BOOL(true) },
    }, 3);
    pool_db_set_field(db, POOL_CLASS_HOST, w->h1, "metrics",
                      &POOL_V_REF(w->hm), POOL_DB_INTERNAL);
    w->cpu = create(db, POOL_CLASS_HOST_CPU, (struct pool_field_init[]){
        { "host", POOL_V_REF(w->h1) },
        { "number", POOL_V_INT(0) },
        { "vendor", POOL_V_STR("GenuineIntel") },
    }, 3);
    w->vmm = create(db, POOL_CLASS_VM_METRICS, (struct pool_field_init[]){
        { "VM", POOL_V_REF(w->vm) },
    }, 1);
    pool_db_set_field(db, POOL_CLASS_VM, w->vm, "metrics",
                      &POOL_V_REF(w->vmm), POOL_DB_INTERNAL);
    w->gm = create(db, POOL_CLASS_VM_GUEST_METRICS, NULL, 0);
    w->con = create(db, POOL_CLASS_CONSOLE, (struct pool_field_init[]){
        { "VM", POOL_V_REF(w->vm) },
        { "protocol", POOL_V_ENUM("rfb") },
    }, 2);
    w->pif = create(db, POOL_CLASS_PIF, (struct pool_field_init[]){
        { "host", POOL_V_REF(w->h1) },
        { "network", POOL_V_REF(w->net) },
        { "device", POOL_V_STR("xmbr0") },
    }, 3);
    pool_value_clear(&oc);
    pool_value_clear(&sv);
    pool_value_clear(&dc);
}

static void test_crud(struct fixture *fx)
{
    struct pool_db *db = fx->db;
    struct pool_record *rec = NULL;
    struct pool_value v = { 0 };
    const struct pool_value *rv;
    struct world w = { 0 };
    char *s, *ref = NULL;
    size_t c, n;
    bool every = true;
    time_t t;

    build_world(db, &w);
    for (c = 0; c < POOL_CLASS_COUNT; c++)
        every &= count_all(db, (enum pool_class_id)c) ==
                 (c == POOL_CLASS_HOST ? 2 : c == POOL_CLASS_ROLE ? 6 : 1);
    tap_ok(every, "one object of every class (two hosts, XAPI's six "
           "roles)");

    /* every class: the record starts with its uuid; get_by_uuid finds it */
    every = true;
    for (c = 0; c < POOL_CLASS_COUNT; c++) {
        struct pool_strv refs = { 0 };
        const struct pool_class *cls = pool_class_get(c);

        if (pool_db_get_all(db, c, &refs) < 0 ||
            pool_db_get_record(db, c, refs.v[0], &rec) < 0) {
            every = false;
        } else {
            struct xt_uuid u;

            /* Roles have XAPI's fixed refs, "OpaqueRef:<its uuid>". */
            every &= rec->fields[0].field == &cls->fields[0] &&
                     xt_uuid_parse(rec->fields[0].value.s, &u) == 0 &&
                     strlen(refs.v[0]) == POOL_REF_STRLEN &&
                     strncmp(refs.v[0], POOL_REF_PREFIX, 10) == 0 &&
                     (strstr(refs.v[0], rec->fields[0].value.s) == NULL) ==
                     (c != POOL_CLASS_ROLE);
            every &= pool_db_get_by_uuid(db, c, rec->fields[0].value.s,
                                         &ref) == 0 &&
                     strcmp(ref, refs.v[0]) == 0;
            free(ref);
            ref = NULL;
        }
        pool_record_free(rec);
        rec = NULL;
        pool_strv_free(&refs);
    }
    tap_ok(every, "records begin with the uuid; refs are OpaqueRef:<other "
           "uuid>; get_by_uuid finds each");

    /* the VM record: given, default and derived fields */
    tap_is_int(pool_db_get_record(db, POOL_CLASS_VM, w.vm, &rec), 0,
               "VM get_record");
    if (rec) {
        rv = pool_record_get(rec, "power_state");
        tap_is_str(rv ? rv->s : NULL, "Halted", "VM power_state default");
        rv = pool_record_get(rec, "domid");
        tap_ok(rv && rv->i == -1, "VM domid default -1");
        rv = pool_record_get(rec, "VCPUs_max");
        tap_ok(rv && rv->i == 2, "VM VCPUs_max given");
        rv = pool_record_get(rec, "VCPUs_at_startup");
        tap_ok(rv && rv->i == 1, "VM VCPUs_at_startup default");
        rv = pool_record_get(rec, "other_config");
        tap_is_str(rv ? pool_value_map_get(rv, POOL_VM_OC_KERNEL) : NULL,
                   "/usr/lib/xm-pool/guest.elf",
                   "VM other_config xm:kernel");
        rv = pool_record_get(rec, "resident_on");
        tap_is_str(rv ? rv->s : NULL, POOL_NULL_REF, "unset ref is NULL");
        rv = pool_record_get(rec, "VBDs");
        tap_ok(rv && rv->type == POOL_FT_REF_SET && rv->set.n == 1 &&
               strcmp(rv->set.v[0], w.vbd) == 0, "VM.VBDs derived");
        rv = pool_record_get(rec, "VIFs");
        tap_ok(rv && rv->set.n == 1 && strcmp(rv->set.v[0], w.vif) == 0,
               "VM.VIFs derived");
        tap_ok(rec->n == pool_class_get(POOL_CLASS_VM)->nfields,
               "VM record has every field");
    }
    pool_record_free(rec);
    rec = NULL;

    /* other classes */
    tap_ok(get_int(db, POOL_CLASS_VBD, w.vbd, "unpluggable") == 1,
           "VBD unpluggable default true");
    s = get_str(db, POOL_CLASS_VBD, w.vbd, "mode");
    tap_is_str(s, "RW", "VBD mode default");
    free(s);
    s = get_str(db, POOL_CLASS_VDI, w.vdi, "type");
    tap_is_str(s, "user", "enum stored as the table spells it");
    free(s);
    tap_ok(get_int(db, POOL_CLASS_NETWORK, w.net, "MTU") == 1500,
           "network MTU default");
    s = get_str(db, POOL_CLASS_TASK, w.task, "status");
    tap_is_str(s, "pending", "task status default");
    free(s);
    s = get_str(db, POOL_CLASS_TASK, w.task, "created");
    tap_ok(pool_datetime_parse(s, &t) == 0 && t > 1600000000,
           "task created defaults to now (%s)", s);
    free(s);
    tap_ok(pool_db_get_field(db, POOL_CLASS_TASK, w.task, "progress",
                             &v) == 0 && v.type == POOL_FT_FLOAT &&
           v.f == 0.0, "task progress float");
    tap_ok(pool_db_set_field(db, POOL_CLASS_TASK, w.task, "progress",
                             &POOL_V_FLOAT(0.5), POOL_DB_INTERNAL) == 0 &&
           pool_db_get_field(db, POOL_CLASS_TASK, w.task, "progress",
                             &v) == 0 && v.f == 0.5, "task progress set");
    s = get_str(db, POOL_CLASS_POOL, w.pool, "master");
    tap_is_str(s, w.h1, "pool master");
    free(s);
    s = get_str(db, POOL_CLASS_SESSION, w.session, "this_user");
    tap_is_str(s, w.user, "session this_user");
    free(s);
    tap_ok(get_int(db, POOL_CLASS_HOST, w.h1, "memory_total") == 8ll << 30,
           "host memory_total");

    /* the user's password hash: stored, never in a record */
    tap_ok(pool_db_get_record(db, POOL_CLASS_USER, w.user, &rec) == 0 &&
           !pool_record_get(rec, "password_hash") &&
           pool_record_get(rec, "short_name"),
           "internal field left out of the record");
    pool_record_free(rec);
    rec = NULL;
    s = get_str(db, POOL_CLASS_USER, w.user, "password_hash");
    tap_is_str(s, "$6$salt$hash", "internal field readable by the daemon");
    free(s);

    /* derived sets */
    tap_ok(set_has(db, POOL_CLASS_SR, w.sr, "VDIs", w.vdi, NULL) &&
           set_has(db, POOL_CLASS_SR, w.sr, "PBDs", w.pbd, NULL) &&
           set_has(db, POOL_CLASS_HOST, w.h1, "PBDs", w.pbd, NULL) &&
           set_has(db, POOL_CLASS_VDI, w.vdi, "VBDs", w.vbd, NULL) &&
           set_has(db, POOL_CLASS_NETWORK, w.net, "VIFs", w.vif, NULL),
           "SR.VDIs, SR.PBDs, host.PBDs, VDI.VBDs, network.VIFs");
    tap_ok(set_has(db, POOL_CLASS_HOST, w.h1, "resident_VMs", NULL, &n) &&
           n == 0, "host1 has no resident VMs yet");
    tap_is_int(pool_db_set_field(db, POOL_CLASS_VM, w.vm, "resident_on",
                                 &POOL_V_REF(w.h1), POOL_DB_INTERNAL), 0,
               "VM resident_on set (internal)");
    tap_ok(set_has(db, POOL_CLASS_HOST, w.h1, "resident_VMs", w.vm, &n) &&
           n == 1, "host1.resident_VMs follows VM.resident_on");
    {
        struct pool_strv refs = { 0 };

        tap_ok(pool_db_find(db, POOL_CLASS_VM, "resident_on",
                            &POOL_V_REF(w.h1), &refs) == 0 && refs.n == 1 &&
               strcmp(refs.v[0], w.vm) == 0, "find by ref field");
        pool_strv_free(&refs);
    }

    /* RW setters and maps */
    tap_is_int(pool_db_set_field(db, POOL_CLASS_VM, w.vm, "name_label",
                                 &POOL_V_STR("web"), 0), 0,
               "set VM name_label");
    s = get_str(db, POOL_CLASS_VM, w.vm, "name_label");
    tap_is_str(s, "web", "name_label read back");
    free(s);
    tap_is_int(pool_db_map_put(db, POOL_CLASS_VM, w.vm, "other_config",
                               POOL_VM_OC_CMDLINE, "hb=20", 0), 0,
               "add_to_other_config replaces a key");
    tap_is_int(pool_db_map_remove(db, POOL_CLASS_VM, w.vm, "other_config",
                                  POOL_VM_OC_KERNEL, 0), 0,
               "remove_from_other_config");
    tap_is_int(pool_db_map_remove(db, POOL_CLASS_VM, w.vm, "other_config",
                                  "absent", 0), 0, "removing a missing key");
    tap_ok(pool_db_get_field(db, POOL_CLASS_VM, w.vm, "other_config",
                             &v) == 0 && v.map.n == 1 &&
           strcmp(pool_value_map_get(&v, POOL_VM_OC_CMDLINE), "hb=20") == 0,
           "other_config now holds only xm:cmdline");
    pool_value_clear(&v);
    tap_is_int(pool_db_map_put(db, POOL_CLASS_VM, w.vm, "current_operations",
                               w.task, "start", POOL_DB_INTERNAL), 0,
               "current_operations entry by the daemon");
    {
        struct pool_value ops = { .type = POOL_FT_STRING_SET };

        pool_value_set_add(&ops, "start");
        pool_value_set_add(&ops, "destroy");
        tap_is_int(pool_db_set_field(db, POOL_CLASS_VM, w.vm,
                                     "allowed_operations", &ops,
                                     POOL_DB_INTERNAL), 0,
                   "allowed_operations set");
        pool_value_clear(&ops);
    }
    tap_ok(set_has(db, POOL_CLASS_VM, w.vm, "allowed_operations", "destroy",
                   &n) && n == 2, "allowed_operations read back");
    {
        struct pool_value err = { .type = POOL_FT_STRING_SET };

        pool_value_set_add(&err, "VM_BAD_POWER_STATE");
        pool_value_set_add(&err, "quote \" and \\ and \n");
        tap_ok(pool_db_set_field(db, POOL_CLASS_TASK, w.task, "error_info",
                                 &err, POOL_DB_INTERNAL) == 0 &&
               set_has(db, POOL_CLASS_TASK, w.task, "error_info",
                       "quote \" and \\ and \n", &n) && n == 2,
               "string list with escapes round-trips");
        pool_value_clear(&err);
    }

    /* destroy: cascade, SET NULL, RESTRICT */
    fx->ctx->quiet_errors = true;
    expect_err(fx->ctx, pool_db_destroy(db, POOL_CLASS_NETWORK, w.net),
               -EBUSY, "VIF", "network with a VIF cannot be destroyed");
    tap_is_int(pool_db_destroy(db, POOL_CLASS_HOST, w.h2), 0,
               "destroy host2");
    s = get_str(db, POOL_CLASS_VM, w.vm, "affinity");
    tap_is_str(s, POOL_NULL_REF, "VM.affinity cleared with its host");
    free(s);
    tap_is_int(pool_db_destroy(db, POOL_CLASS_VM, w.vm), 0, "destroy VM");
    tap_ok(count_all(db, POOL_CLASS_VBD) == 0 &&
           count_all(db, POOL_CLASS_VIF) == 0, "its VBD and VIF went too");
    tap_ok(set_has(db, POOL_CLASS_VDI, w.vdi, "VBDs", NULL, &n) && n == 0,
           "VDI.VBDs empty again");
    tap_is_int(pool_db_destroy(db, POOL_CLASS_NETWORK, w.net), 0,
               "network destroyed once unused");
    s = get_str(db, POOL_CLASS_POOL, w.pool, "migration_network");
    tap_is_str(s, POOL_NULL_REF, "pool.migration_network cleared");
    free(s);
    tap_is_int(pool_db_destroy(db, POOL_CLASS_SR, w.sr), 0, "destroy SR");
    tap_ok(count_all(db, POOL_CLASS_VDI) == 0 &&
           count_all(db, POOL_CLASS_PBD) == 0, "its VDIs and PBDs went too");
    tap_is_int(pool_db_destroy(db, POOL_CLASS_SESSION, w.session), 0,
               "destroy session");
    expect_err(fx->ctx, pool_db_check_ref(db, POOL_CLASS_SESSION, w.session),
               -ENOENT, "no session", "destroyed session is invalid");
    fx->ctx->quiet_errors = false;
    world_free(&w);
}

/* ---- checks on fields -------------------------------------------------- */

static void test_checks(struct fixture *fx)
{
    struct pool_db *db = fx->db;
    struct xt_ctx *ctx = fx->ctx;
    struct pool_strv refs = { 0 };
    struct pool_record *rec = NULL;
    struct pool_value v = { 0 };
    char *vm, *vm2, *vbd, *s, *ref = NULL;
    char msg[128];
    const char *bogus = "OpaqueRef:00000000-0000-4000-8000-000000000000";

    ctx->quiet_errors = true;
    vm = create(db, POOL_CLASS_VM, (struct pool_field_init[]){
        { "name_label", POOL_V_STR("twin") } }, 1);
    vm2 = create(db, POOL_CLASS_VM, (struct pool_field_init[]){
        { "name_label", POOL_V_STR("twin") } }, 1);
    vbd = create(db, POOL_CLASS_VBD, (struct pool_field_init[]){
        { "VM", POOL_V_REF(vm) } }, 1);

    /* types */
    expect_err(ctx, pool_db_set_field(db, POOL_CLASS_VM, vm,
                                      "memory_static_max",
                                      &POOL_V_STR("1G"), 0),
               -EINVAL, "memory_static_max has type int, not string",
               "string into an int field refused");
    expect_err(ctx, pool_db_set_field(db, POOL_CLASS_VM, vm, "name_label",
                                      &POOL_V_INT(3), 0),
               -EINVAL, "has type string", "int into a string field refused");
    expect_err(ctx, pool_db_set_field(db, POOL_CLASS_VM, vm, "is_a_template",
                                      &POOL_V_STR("true"), 0),
               -EINVAL, "bool", "string into a bool field refused");
    expect_err(ctx, pool_db_set_field(db, POOL_CLASS_VM, vm, "affinity",
                                      &POOL_V_STR(vm2), 0),
               -EINVAL, "has type ref", "string into a ref field refused");
    expect_err(ctx, pool_db_set_field(db, POOL_CLASS_VM, vm, "no_such",
                                      &POOL_V_STR("x"), 0),
               -EINVAL, "VM has no field no_such", "unknown field refused");
    expect_err(ctx, pool_db_create(db, POOL_CLASS_VM,
                                   (struct pool_field_init[]){
                                       { "VCPUs_max", POOL_V_STR("2") } },
                                   1, NULL),
               -EINVAL, "VCPUs_max", "create checks types too");
    expect_err(ctx, pool_db_set_field(db, POOL_CLASS_TASK, vm, "progress",
                                      &POOL_V_FLOAT(0.0 / 0.0),
                                      POOL_DB_INTERNAL),
               -ENOENT, "no task", "a VM ref is no task");

    /* enums */
    expect_err(ctx, pool_db_set_field(db, POOL_CLASS_VBD, vbd, "mode",
                                      &POOL_V_ENUM("RX"), 0),
               -EINVAL, "\"RX\" is not one of", "enum value outside the set");
    tap_is_int(pool_db_set_field(db, POOL_CLASS_VBD, vbd, "mode",
                                 &POOL_V_ENUM("ro"), 0), 0,
               "enum accepted in any case");
    s = get_str(db, POOL_CLASS_VBD, vbd, "mode");
    tap_is_str(s, "RO", "and stored as spelt in the model");
    free(s);
    expect_err(ctx, pool_db_set_field(db, POOL_CLASS_VBD, vbd, "mode",
                                      &POOL_V_STR("RO"), 0),
               -EINVAL, "has type enum", "enum wants an enum value");

    /* access */
    expect_err(ctx, pool_db_set_field(db, POOL_CLASS_VM, vm, "power_state",
                                      &POOL_V_ENUM("Running"), 0),
               -EPERM, "VM.power_state is read-only",
               "API setter on a read-only field refused");
    tap_is_int(pool_db_set_field(db, POOL_CLASS_VM, vm, "power_state",
                                 &POOL_V_ENUM("running"), POOL_DB_INTERNAL),
               0, "daemon sets power_state");
    s = get_str(db, POOL_CLASS_VM, vm, "power_state");
    tap_is_str(s, "Running", "power_state read back");
    free(s);
    expect_err(ctx, pool_db_set_field(db, POOL_CLASS_VM, vm, "uuid",
                                      &POOL_V_STR("x"), POOL_DB_INTERNAL),
               -EPERM, "VM.uuid is read-only", "uuid never settable");
    expect_err(ctx, pool_db_set_field(db, POOL_CLASS_VM, vm, "VBDs",
                                      &POOL_V_STR("x"), POOL_DB_INTERNAL),
               -EPERM, "derived from VBD.VM", "derived set not settable");
    expect_err(ctx, pool_db_map_put(db, POOL_CLASS_VM, vm,
                                    "current_operations", "t", "start", 0),
               -EPERM, "current_operations is read-only",
               "map of a read-only field refused to the API");
    expect_err(ctx, pool_db_map_put(db, POOL_CLASS_VM, vm, "name_label",
                                    "k", "v", 0),
               -EINVAL, "not map", "map op on a string field refused");
    expect_err(ctx, pool_db_create(db, POOL_CLASS_VM,
                                   (struct pool_field_init[]){
                                       { "VBDs", POOL_V_STR("x") } },
                                   1, NULL),
               -EPERM, "derived", "create refuses a derived field");
    expect_err(ctx, pool_db_set_field(db, POOL_CLASS_TASK, vm, "created",
                                      &POOL_V_DATETIME("yesterday"),
                                      POOL_DB_INTERNAL),
               -ENOENT, "no task", "wrong class is -ENOENT");

    /* invalid refs */
    expect_err(ctx, pool_db_get_record(db, POOL_CLASS_VM, bogus, &rec),
               -ENOENT, "no VM OpaqueRef:00000000", "get_record of a bad ref");
    snprintf(msg, sizeof(msg), "no VM %s", "OpaqueRef:garbage");
    expect_err(ctx, pool_db_get_field(db, POOL_CLASS_VM, "OpaqueRef:garbage",
                                      "name_label", &v),
               -ENOENT, msg, "get_field of a bad ref");
    expect_err(ctx, pool_db_set_field(db, POOL_CLASS_VM, bogus, "name_label",
                                      &POOL_V_STR("x"), 0),
               -ENOENT, "no VM", "set_field of a bad ref");
    expect_err(ctx, pool_db_destroy(db, POOL_CLASS_VM, bogus),
               -ENOENT, "no VM", "destroy of a bad ref");
    expect_err(ctx, pool_db_get_field(db, POOL_CLASS_VM, bogus, "VBDs", &v),
               -ENOENT, "no VM", "derived field of a bad ref");
    expect_err(ctx, pool_db_check_ref(db, POOL_CLASS_HOST, vm),
               -ENOENT, "no host", "a VM ref is no host");
    expect_err(ctx, pool_db_set_field(db, POOL_CLASS_VM, vm, "affinity",
                                      &POOL_V_REF(bogus), 0),
               -ENOENT, "no host OpaqueRef:", "ref to a missing host refused");
    expect_err(ctx, pool_db_create(db, POOL_CLASS_VBD,
                                   (struct pool_field_init[]){
                                       { "VM", POOL_V_REF(bogus) } },
                                   1, NULL),
               -ENOENT, "no VM", "create with a ref to a missing VM");
    expect_err(ctx, pool_db_get_by_uuid(db, POOL_CLASS_VM,
                                        "00000000-0000-4000-8000-00000000"
                                        "0001", &ref),
               -ENOENT, "no VM with uuid", "get_by_uuid of an unknown uuid");

    /* uniqueness */
    s = get_str(db, POOL_CLASS_VM, vm, "uuid");
    expect_err(ctx, pool_db_create(db, POOL_CLASS_VM,
                                   (struct pool_field_init[]){
                                       { "uuid", POOL_V_STR(s) } }, 1, NULL),
               -EEXIST, "UNIQUE", "duplicate uuid refused");
    free(s);
    expect_err(ctx, pool_db_create(db, POOL_CLASS_VM,
                                   (struct pool_field_init[]){
                                       { "uuid", POOL_V_STR("nope") } },
                                   1, NULL),
               -EINVAL, "not a uuid", "malformed uuid refused");
    tap_ok(pool_db_create(db, POOL_CLASS_VM, (struct pool_field_init[]){
               { "uuid",
                 POOL_V_STR("0BADC0DE-0000-4000-8000-000000000000") } },
               1, &ref) == 0 &&
           pool_db_get_by_uuid(db, POOL_CLASS_VM,
                               "0badc0de-0000-4000-8000-000000000000",
                               &s) == 0 && strcmp(s, ref) == 0,
           "given uuid stored in canonical form");
    free(s);
    pool_db_destroy(db, POOL_CLASS_VM, ref);
    free(ref);
    ref = NULL;
    tap_ok(pool_db_create(db, POOL_CLASS_USER, (struct pool_field_init[]){
               { "short_name", POOL_V_STR("alice") } }, 1, NULL) == 0,
           "user alice");
    expect_err(ctx, pool_db_create(db, POOL_CLASS_USER,
                                   (struct pool_field_init[]){
                                       { "short_name",
                                         POOL_V_STR("alice") } }, 1, NULL),
               -EEXIST, "short_name", "second alice refused");
    tap_ok(pool_db_find(db, POOL_CLASS_USER, "short_name",
                        &POOL_V_STR("alice"), &refs) == 0 && refs.n == 1,
           "find user by short_name");
    pool_strv_free(&refs);

    /* get_by_name_label */
    tap_ok(pool_db_get_by_name_label(db, POOL_CLASS_VM, "twin", &refs) == 0 &&
           refs.n == 2 && strcmp(refs.v[0], vm) == 0 &&
           strcmp(refs.v[1], vm2) == 0,
           "get_by_name_label finds both twins, in creation order");
    pool_strv_free(&refs);
    tap_ok(pool_db_get_by_name_label(db, POOL_CLASS_VM, "nobody",
                                     &refs) == 0 && refs.n == 0,
           "get_by_name_label of an unused label is empty");
    pool_strv_free(&refs);
    expect_err(ctx, pool_db_get_by_name_label(db, POOL_CLASS_SESSION, "x",
                                              &refs),
               -EINVAL, "session has no name_label",
               "get_by_name_label on a class without one");

    pool_db_destroy(db, POOL_CLASS_VM, vm);
    pool_db_destroy(db, POOL_CLASS_VM, vm2);
    free(vm);
    free(vm2);
    free(vbd);
    ctx->quiet_errors = false;
}

/* ---- transactions ------------------------------------------------------ */

static void test_transactions(struct fixture *fx)
{
    struct pool_db *db = fx->db;
    struct xt_ctx *ctx = fx->ctx;
    struct pool_strv refs = { 0 };
    char *a = NULL, *b = NULL;
    size_t before;

    ctx->quiet_errors = true;
    before = count_all(db, POOL_CLASS_VM);
    tap_is_int(pool_db_begin(db), 0, "begin");
    pool_db_create(db, POOL_CLASS_VM, NULL, 0, &a);
    pool_db_create(db, POOL_CLASS_VBD, (struct pool_field_init[]){
        { "VM", POOL_V_REF(a) } }, 1, NULL);
    expect_err(ctx, pool_db_begin(db), -EALREADY, "already open",
               "no nested transactions");
    tap_is_int(pool_db_rollback(db), 0, "rollback");
    tap_ok(count_all(db, POOL_CLASS_VM) == before &&
           count_all(db, POOL_CLASS_VBD) == 0, "rolled back: nothing left");
    free(a);
    a = NULL;

    tap_is_int(pool_db_begin(db), 0, "begin again");
    pool_db_create(db, POOL_CLASS_VM, NULL, 0, &a);
    expect_err(ctx, pool_db_set_field(db, POOL_CLASS_VM, a, "domid",
                                      &POOL_V_STR("7"), POOL_DB_INTERNAL),
               -EINVAL, "domid", "a failing call inside the transaction");
    pool_db_create(db, POOL_CLASS_VM, NULL, 0, &b);
    tap_is_int(pool_db_commit(db), 0, "commit after a failed call");
    tap_ok(pool_db_check_ref(db, POOL_CLASS_VM, a) == 0 &&
           pool_db_check_ref(db, POOL_CLASS_VM, b) == 0,
           "both objects committed");
    expect_err(ctx, pool_db_commit(db), -EINVAL, "without a transaction",
               "commit without begin");
    tap_is_int(pool_db_rollback(db), 0, "rollback without begin is a no-op");

    tap_is_int(pool_db_begin_read(db), 0, "begin_read");
    tap_ok(pool_db_get_all(db, POOL_CLASS_VM, &refs) == 0,
           "reads in a read transaction");
    expect_err(ctx, pool_db_destroy(db, POOL_CLASS_VM, a), -EINVAL,
               "read transaction", "writes refused in a read transaction");
    tap_is_int(pool_db_commit(db), 0, "end the read transaction");
    pool_strv_free(&refs);

    pool_db_destroy(db, POOL_CLASS_VM, a);
    pool_db_destroy(db, POOL_CLASS_VM, b);
    free(a);
    free(b);
    ctx->quiet_errors = false;
}

/* ---- events ------------------------------------------------------------ */

/* Events since token, filtered, as "op class" lines for comparison. */
static char *events_text(struct pool_db *db, const char *token,
                         const char *const *classes, size_t n, char **next_r)
{
    struct pool_event *ev = NULL;
    struct pool_sb sb = { 0 };
    char *next = NULL;
    size_t nev = 0, i;

    if (pool_db_events_since(db, token, classes, n, &ev, &nev, &next) < 0)
        return strdup("(error)");
    for (i = 0; i < nev; i++)
        pool_sb_addf(&sb, "%s%s %s", i ? ", " : "",
                     pool_event_op_name(ev[i].op), ev[i].cls->name);
    pool_events_free(ev, nev);
    if (next_r)
        *next_r = next;
    else
        free(next);
    return pool_sb_take(&sb);
}

static void test_events(struct fixture *fx)
{
    static const char *const only_vm[] = { "vm" };
    static const char *const only_vbd[] = { "VBD" };
    static const char *const all[] = { "*" };
    static const char *const bad[] = { "vm", "spaceship" };
    struct pool_db *db = fx->db;
    struct xt_ctx *ctx = fx->ctx;
    struct pool_event *ev = NULL;
    char *t0 = NULL, *t1 = NULL, *t2 = NULL, *s, *vm, *vbd;
    char filter[POOL_REF_STRLEN + 8];
    const char *one[1];
    size_t n = 0;
    int rc;

    ctx->quiet_errors = true;
    tap_is_int(pool_db_event_token(db, &t0), 0, "current token");
    vm = create(db, POOL_CLASS_VM, NULL, 0);
    pool_db_set_field(db, POOL_CLASS_VM, vm, "name_label",
                      &POOL_V_STR("ev"), 0);
    pool_db_set_field(db, POOL_CLASS_VM, vm, "name_label",
                      &POOL_V_STR("ev"), 0);  /* no change, no event */
    vbd = create(db, POOL_CLASS_VBD, (struct pool_field_init[]){
        { "VM", POOL_V_REF(vm) } }, 1);
    free(create(db, POOL_CLASS_SESSION, NULL, 0));

    s = events_text(db, t0, only_vm, 1, &t1);
    tap_is_str(s, "add VM, mod VM, mod VM",
               "VM events: add, set, VBDs changed");
    free(s);
    s = events_text(db, t0, only_vbd, 1, NULL);
    tap_is_str(s, "add VBD", "VBD filter");
    free(s);
    s = events_text(db, t0, all, 1, NULL);
    tap_ok(s && !strstr(s, "session"), "sessions never logged (%s)", s);
    free(s);
    snprintf(filter, sizeof(filter), "VM/%s", vm);
    one[0] = filter;
    s = events_text(db, t0, one, 1, NULL);
    tap_is_str(s, "add VM, mod VM, mod VM", "class/ref filter");
    free(s);
    s = events_text(db, t1, NULL, 0, &t2);
    tap_is_str(s, "", "nothing after the returned token");
    free(s);
    tap_is_str(t2, t1, "token unchanged when nothing happened");
    free(t2);
    t2 = NULL;

    pool_db_destroy(db, POOL_CLASS_VM, vm);
    s = events_text(db, t1, NULL, 0, NULL);
    tap_is_str(s, "del VBD, del VM",
               "cascade: the VBD's del, no mod of the dying VM");
    free(s);

    expect_err(ctx, pool_db_events_since(db, "12abc", NULL, 0, &ev, &n, &t2),
               -EINVAL, "malformed event token", "malformed token");
    expect_err(ctx, pool_db_events_since(db, "999999999", NULL, 0, &ev, &n,
                                         &t2),
               -ESTALE, "newer than the log", "token from the future");
    expect_err(ctx, pool_db_events_since(db, t0, bad, 2, &ev, &n, &t2),
               -EINVAL, "spaceship", "unknown class in the filter");

    tap_is_int(pool_db_events_trim(db, 2), 0, "trim to 2 events");
    expect_err(ctx, pool_db_events_since(db, t0, NULL, 0, &ev, &n, &t2),
               -ESTALE, "discarded", "trimmed token is stale");
    s = events_text(db, t1, NULL, 0, NULL);
    tap_is_str(s, "del VBD, del VM", "recent token still works");
    free(s);
    tap_is_int(pool_db_events_trim(db, 0), 0, "trim everything");
    free(t2);
    t2 = NULL;
    rc = pool_db_event_token(db, &t2);
    tap_ok(rc == 0 && atoll(t2) > atoll(t1),
           "token survives an empty log (%s)", t2 ? t2 : "?");
    s = events_text(db, t2, NULL, 0, NULL);
    tap_is_str(s, "", "current token valid on an empty log");
    free(s);

    free(t0);
    free(t1);
    free(t2);
    free(vm);
    free(vbd);
    ctx->quiet_errors = false;
}

/* ---- two connections on one file --------------------------------------- */

/* Schema version 3's classes: XAPI's roles, a bounded message log,
 * secrets kept out of the event log. */
static void test_v3_classes(struct fixture *fx)
{
    static const char *const all[] = { "*" };
    static const char *const only_secret[] = { "secret" };
    struct pool_db *db = fx->db;
    struct pool_strv refs = { 0 };
    struct pool_value v = { 0 };
    char *t0 = NULL, *s, *sec, *first = NULL, *m;
    uint64_t ndel = 9;
    int i, rc;

    rc = pool_db_get_by_name_label(db, POOL_CLASS_ROLE, "pool-admin",
                                   &refs);
    tap_ok(rc == 0 && refs.n == 1 && !strcmp(refs.v[0], "OpaqueRef:"
           "0165f154-ba3e-034e-6b27-5d271af109ba"),
           "role pool-admin has XAPI's ref");
    if (rc == 0 && refs.n == 1)
        pool_db_get_field(db, POOL_CLASS_ROLE, refs.v[0], "subroles", &v);
    tap_ok(v.type == POOL_FT_REF_SET && v.set.n == 0,
           "and no subroles (no permissions here)");
    pool_value_clear(&v);
    tap_ok(refs.n == 1 && pool_db_set_field(db, POOL_CLASS_ROLE, refs.v[0],
           "name_label", &POOL_V_STR("x"), 0) == -EPERM,
           "a client may not rename a role");
    xt_error_clear(fx->ctx);
    pool_strv_free(&refs);

    /* the event log has messages, never secrets */
    pool_db_event_token(db, &t0);
    sec = create(db, POOL_CLASS_SECRET, (struct pool_field_init[]){
        { "value", POOL_V_STR("hunter2") } }, 1);
    pool_db_set_field(db, POOL_CLASS_SECRET, sec, "value",
                      &POOL_V_STR("hunter3"), 0);
    s = get_str(db, POOL_CLASS_SECRET, sec, "value");
    tap_is_str(s, "hunter3", "a secret's value is set and read back");
    free(s);
    m = create(db, POOL_CLASS_MESSAGE, (struct pool_field_init[]){
        { "name", POOL_V_STR("HA_HOST_FAILED") },
        { "cls", POOL_V_ENUM("host") } }, 2);
    s = get_str(db, POOL_CLASS_MESSAGE, m, "cls");
    tap_is_str(s, "Host", "a message's cls as XAPI spells it");
    free(s);
    s = get_str(db, POOL_CLASS_MESSAGE, m, "timestamp");
    tap_ok(s && strcmp(s, POOL_DATETIME_EPOCH) > 0,
           "a message is stamped when made (%s)", s);
    free(s);
    pool_db_destroy(db, POOL_CLASS_SECRET, sec);
    s = events_text(db, t0, all, 1, NULL);
    tap_is_str(s, "add message", "the event log: the message, no secret");
    free(s);
    s = events_text(db, t0, only_secret, 1, NULL);
    tap_is_str(s, "", "nothing for a client following secrets");
    free(s);
    free(sec);
    free(m);

    /* keep the newest: the oldest go, with their del events */
    for (i = 0; i < 5; i++)
        free(create(db, POOL_CLASS_MESSAGE, NULL, 0));
    rc = pool_db_get_all(db, POOL_CLASS_MESSAGE, &refs);
    if (rc == 0 && refs.n)
        first = strdup(refs.v[0]);
    pool_strv_free(&refs);
    free(t0);
    pool_db_event_token(db, &t0);
    rc = pool_db_keep_newest(db, POOL_CLASS_MESSAGE, 3, &ndel);
    pool_db_get_all(db, POOL_CLASS_MESSAGE, &refs);
    tap_ok(rc == 0 && refs.n == 3 && ndel == 4,
           "keep_newest 3 of 7 destroys 4 (%d, %zu left)", rc, refs.n);
    tap_ok(first && pool_db_check_ref(db, POOL_CLASS_MESSAGE, first) ==
           -ENOENT, "the oldest went first");
    xt_error_clear(fx->ctx);
    s = events_text(db, t0, all, 1, NULL);
    tap_is_str(s, "del message, del message, del message, del message",
               "each with its del event");
    free(s);
    rc = pool_db_keep_newest(db, POOL_CLASS_MESSAGE, 3, &ndel);
    tap_ok(rc == 0 && ndel == 0, "nothing more to destroy");
    pool_strv_free(&refs);
    free(first);
    free(t0);
}

/* Schema version 4's classes: metrics that go with their host or VM, a
 * host's CPUs and PIFs in its derived sets, and in the network's. */
static void test_v4_classes(struct fixture *fx)
{
    static const char *const all[] = { "*" };
    struct pool_db *db = fx->db;
    char *h, *hm, *cpu, *net, *pif, *vm, *vmm, *t0 = NULL, *s;
    size_t n = 9;

    h = create(db, POOL_CLASS_HOST, (struct pool_field_init[]){
        { "name_label", POOL_V_STR("h4") } }, 1);
    net = create(db, POOL_CLASS_NETWORK, NULL, 0);
    hm = create(db, POOL_CLASS_HOST_METRICS, (struct pool_field_init[]){
        { "host", POOL_V_REF(h) } }, 1);
    tap_ok(pool_db_set_field(db, POOL_CLASS_HOST, h, "metrics",
                             &POOL_V_REF(hm), POOL_DB_INTERNAL) == 0,
           "host.metrics names its host_metrics");
    s = get_str(db, POOL_CLASS_HOST, h, "metrics");
    tap_is_str(s, hm, "and reads back");
    free(s);
    tap_ok(pool_db_set_field(db, POOL_CLASS_HOST, h, "metrics",
                             &POOL_V_REF(hm), 0) == -EPERM,
           "a client may not set it");
    xt_error_clear(fx->ctx);
    cpu = create(db, POOL_CLASS_HOST_CPU, (struct pool_field_init[]){
        { "host", POOL_V_REF(h) } }, 1);
    pif = create(db, POOL_CLASS_PIF, (struct pool_field_init[]){
        { "host", POOL_V_REF(h) }, { "network", POOL_V_REF(net) } }, 2);
    tap_ok(set_has(db, POOL_CLASS_HOST, h, "host_CPUs", cpu, &n) && n == 1,
           "host.host_CPUs: its CPU");
    tap_ok(set_has(db, POOL_CLASS_HOST, h, "PIFs", pif, &n) && n == 1 &&
           set_has(db, POOL_CLASS_NETWORK, net, "PIFs", pif, &n) && n == 1,
           "host.PIFs and network.PIFs: its PIF");
    tap_is_int(get_int(db, POOL_CLASS_PIF, pif, "currently_attached"), 1,
               "a PIF is attached unless told otherwise (XAPI's default)");

    /* the host goes: its metrics, CPUs and PIFs with it, each with its
     * del event */
    pool_db_event_token(db, &t0);
    tap_ok(pool_db_destroy(db, POOL_CLASS_HOST, h) == 0, "destroy the host");
    tap_ok(pool_db_check_ref(db, POOL_CLASS_HOST_METRICS, hm) == -ENOENT &&
           pool_db_check_ref(db, POOL_CLASS_HOST_CPU, cpu) == -ENOENT &&
           pool_db_check_ref(db, POOL_CLASS_PIF, pif) == -ENOENT,
           "its metrics, CPU and PIF went with it");
    xt_error_clear(fx->ctx);
    s = events_text(db, t0, all, 1, NULL);
    tap_ok(s && strstr(s, "del host_metrics") && strstr(s, "del host_cpu") &&
           strstr(s, "del PIF") && strstr(s, "del host"),
           "with their del events (%s)", s);
    free(s);
    free(t0);

    vm = create(db, POOL_CLASS_VM, NULL, 0);
    vmm = create(db, POOL_CLASS_VM_METRICS, (struct pool_field_init[]){
        { "VM", POOL_V_REF(vm) } }, 1);
    pool_db_set_field(db, POOL_CLASS_VM, vm, "metrics", &POOL_V_REF(vmm),
                      POOL_DB_INTERNAL);
    s = get_str(db, POOL_CLASS_VM_METRICS, vmm, "install_time");
    tap_ok(s && strcmp(s, POOL_DATETIME_EPOCH) > 0,
           "a VM_metrics' install_time is when it was made (%s)", s);
    free(s);
    tap_ok(set_has(db, POOL_CLASS_VM, vm, "consoles", NULL, &n) && n == 0,
           "VM.consoles: none");
    s = get_str(db, POOL_CLASS_VM, vm, "guest_metrics");
    tap_is_str(s, POOL_NULL_REF, "VM.guest_metrics: OpaqueRef:NULL");
    free(s);
    pool_db_destroy(db, POOL_CLASS_VM, vm);
    tap_ok(pool_db_check_ref(db, POOL_CLASS_VM_METRICS, vmm) == -ENOENT,
           "a VM's metrics go with it");
    xt_error_clear(fx->ctx);
    pool_db_destroy(db, POOL_CLASS_NETWORK, net);
    free(h);
    free(hm);
    free(cpu);
    free(net);
    free(pif);
    free(vm);
    free(vmm);
}

static void test_two_connections(struct fixture *fx)
{
    static const char *const only_vm[] = { "VM" };
    struct pool_db *other = NULL;
    struct pool_event *ev = NULL;
    char *token = NULL, *next = NULL, *vm = NULL, *vm2 = NULL, *s;
    size_t n = 0;

    if (pool_db_open(fx->ctx, fx->path, &other) < 0) {
        tap_skip(5, "second connection failed");
        return;
    }
    pool_db_event_token(other, &token);
    vm = create(fx->db, POOL_CLASS_VM, NULL, 0);
    tap_is_int(pool_db_check_ref(other, POOL_CLASS_VM, vm), 0,
               "a commit on one connection is seen by another");
    vm2 = create(other, POOL_CLASS_VM, NULL, 0);
    pool_db_set_field(fx->db, POOL_CLASS_VM, vm2, "name_label",
                      &POOL_V_STR("from db1"), 0);
    s = get_str(other, POOL_CLASS_VM, vm2, "name_label");
    tap_is_str(s, "from db1", "and the other way round");
    free(s);
    tap_ok(pool_db_events_since(fx->db, token, only_vm, 1, &ev, &n,
                                &next) == 0 && n == 3 &&
           strcmp(ev[0].ref, vm) == 0 && strcmp(ev[1].ref, vm2) == 0 &&
           ev[2].op == POOL_EV_MOD,
           "one event log, written by both connections");
    pool_events_free(ev, n);
    tap_is_int(pool_db_begin(other), 0, "a write transaction on one");
    pool_db_destroy(other, POOL_CLASS_VM, vm);
    tap_ok(pool_db_check_ref(fx->db, POOL_CLASS_VM, vm) == 0,
           "its uncommitted destroy is not seen by the other");
    pool_db_rollback(other);
    pool_db_close(other);
    pool_db_destroy(fx->db, POOL_CLASS_VM, vm);
    pool_db_destroy(fx->db, POOL_CLASS_VM, vm2);
    free(token);
    free(next);
    free(vm);
    free(vm2);
}

/* ---- the file ---------------------------------------------------------- */

static void test_file(struct fixture *fx)
{
    char wal[600];
    int version = 0, rc;

    rc = pool_db_schema_version(fx->db, &version);

    tap_ok(rc == 0 && version == POOL_DB_SCHEMA_VERSION, "schema version %d",
           version);
    tap_is_int(pool_db_integrity_check(fx->db), 0, "integrity check");
    snprintf(wal, sizeof(wal), "%s-wal", fx->path);
    tap_ok(access(wal, F_OK) == 0, "WAL file exists");
    tap_is_int(raw_int(fx->path, "PRAGMA application_id"),
               POOL_DB_APPLICATION_ID, "application_id is xm-pool's");
}

/* The next version, for the migration tests: adds a column, fills it. */
static int next_apply(struct pool_db *db)
{
    return pool_exec(db, "UPDATE \"VM\" SET test_col = 'migrated:' || "
                     "name_label");
}

#define CUR POOL_DB_SCHEMA_VERSION

static void test_migrations(struct fixture *fx)
{
    struct pool_migration migs[CUR + 1], bad[CUR + 1];
    struct xt_ctx *ctx = fx->ctx;
    struct pool_db *db = NULL;
    int version = 0, rc;
    char *ref = NULL, msg[96];

    /* this program's migrations, then a test one at CUR + 1 */
    memcpy(migs, pool_migrations, CUR * sizeof(migs[0]));
    migs[CUR] = (struct pool_migration){
        .version = CUR + 1, .what = "test column",
        .sql = "ALTER TABLE \"VM\" ADD COLUMN test_col TEXT NOT NULL "
               "DEFAULT ''",
        .apply = next_apply };
    ctx->quiet_errors = true;

    /* a file of the current version with a VM */
    use_file(fx, "migrate.db");
    rc = pool_db_open(ctx, fx->path, &db);
    tap_is_int(rc, 0, "a file of the current version created");
    if (rc == 0)
        pool_db_create(db, POOL_CLASS_VM, (struct pool_field_init[]){
            { "name_label", POOL_V_STR("old") } }, 1, &ref);
    pool_db_close(db);
    db = NULL;

    /* a failing next version leaves it where it was */
    memcpy(bad, migs, sizeof(bad));
    bad[CUR].sql = "ALTER TABLE \"VM\" ADD COLUMN x TEXT; SELECT nonsense()";
    bad[CUR].apply = NULL;
    rc = pool_db_open_migrations(ctx, fx->path, bad, CUR + 1, &db);
    tap_ok(rc < 0 && !db, "failing migration refuses the open (%d)", rc);
    xt_error_clear(ctx);
    tap_is_int(raw_int(fx->path, "SELECT max(version) FROM schema_version"),
               CUR, "and the file stays at the current version");
    tap_is_int(raw_int(fx->path, "SELECT count(*) FROM pragma_table_info"
                       "('VM') WHERE name = 'x'"), 0,
               "with no trace of the failed step");

    /* the code with the next version upgrades it */
    rc = pool_db_open_migrations(ctx, fx->path, migs, CUR + 1, &db);
    tap_is_int(rc, 0, "opened by code with one more migration");
    tap_ok(db && pool_db_schema_version(db, &version) == 0 &&
           version == CUR + 1, "upgraded to version %d", CUR + 1);
    tap_ok(db && pool_db_check_ref(db, POOL_CLASS_VM, ref) == 0,
           "the VM survived the migration");
    pool_db_close(db);
    db = NULL;
    tap_is_int(raw_int(fx->path, "SELECT count(*) FROM \"VM\" WHERE "
                       "test_col = 'migrated:old'"), 1,
               "the migration ran its SQL and its function");
    tap_is_int(raw_int(fx->path, "SELECT count(*) FROM schema_version"),
               CUR + 1, "schema_version keeps the history");

    /* this program refuses the newer file */
    rc = pool_db_open(ctx, fx->path, &db);
    snprintf(msg, sizeof(msg), "schema version %d is newer than this "
             "program supports (%d)", CUR + 1, CUR);
    expect_err(ctx, rc, -ENOTSUP, msg, "newer schema refused");
    tap_ok(!db, "no handle for a newer file");

    /* a new file goes straight to the last version */
    use_file(fx, "fresh2.db");
    rc = pool_db_open_migrations(ctx, fx->path, migs, CUR + 1, &db);
    tap_ok(rc == 0 && pool_db_schema_version(db, &version) == 0 &&
           version == CUR + 1, "new file created at version %d", CUR + 1);
    pool_db_close(db);
    db = NULL;
    free(ref);
    ref = NULL;

    /* a real version 1 file (a VDI in it) upgraded by this program: the
     * snapshot fields of version 2 take their defaults */
    use_file(fx, "v1.db");
    rc = pool_db_open_migrations(ctx, fx->path, pool_migrations, 1, &db);
    tap_ok(rc < 0 && !db, "code of version 1 alone does not fit this "
           "model (%d)", rc);
    xt_error_clear(ctx);
    tap_is_int(raw_int(fx->path, "SELECT max(version) FROM schema_version"),
               1, "but it wrote a version 1 file");
    raw_exec(fx->path, "INSERT INTO \"SR\" (ref, uuid) VALUES "
             "('OpaqueRef:sr1', '00000000-0000-4000-8000-000000000001');"
             "INSERT INTO \"VDI\" (ref, uuid, SR) VALUES "
             "('OpaqueRef:vdi1', '00000000-0000-4000-8000-000000000002', "
             "'OpaqueRef:sr1')");
    rc = pool_db_open(ctx, fx->path, &db);
    tap_ok(rc == 0 && pool_db_schema_version(db, &version) == 0 &&
           version == CUR, "this program upgrades it to version %d", CUR);
    if (db) {
        struct pool_value v = { 0 };

        tap_ok(pool_db_get_field(db, POOL_CLASS_VDI, "OpaqueRef:vdi1",
                                 "is_a_snapshot", &v) == 0 && !v.b,
               "its VDI is not a snapshot");
        pool_value_clear(&v);
        tap_ok(pool_db_get_field(db, POOL_CLASS_VDI, "OpaqueRef:vdi1",
                                 "snapshot_of", &v) == 0 &&
               pool_ref_is_null(v.s), "and is the snapshot of none");
        pool_value_clear(&v);
    }
    pool_db_close(db);
    db = NULL;

    /* a real version 2 file (a VM in it) upgraded by this program: the
     * tables of version 3, XAPI's roles in them */
    use_file(fx, "v2.db");
    rc = pool_db_open_migrations(ctx, fx->path, pool_migrations, 2, &db);
    tap_ok(rc < 0 && !db, "code of version 2 alone does not fit this "
           "model (%d)", rc);
    xt_error_clear(ctx);
    tap_is_int(raw_int(fx->path, "SELECT max(version) FROM schema_version"),
               2, "but it wrote a version 2 file");
    tap_is_int(raw_int(fx->path, "SELECT count(*) FROM sqlite_master WHERE "
                       "name IN ('message', 'secret', 'role')"), 0,
               "without the tables of version 3");
    raw_exec(fx->path, "INSERT INTO \"VM\" (ref, uuid, name_label) VALUES "
             "('OpaqueRef:vm2', '00000000-0000-4000-8000-000000000003', "
             "'v2vm')");
    rc = pool_db_open(ctx, fx->path, &db);
    tap_ok(rc == 0 && pool_db_schema_version(db, &version) == 0 &&
           version == CUR, "this program upgrades it to version %d", CUR);
    if (db) {
        struct pool_strv refs = { 0 };
        char *r = NULL, *s;

        s = get_str(db, POOL_CLASS_VM, "OpaqueRef:vm2", "name_label");
        tap_is_str(s, "v2vm", "its VM survived");
        free(s);
        tap_ok(pool_db_get_all(db, POOL_CLASS_ROLE, &refs) == 0 &&
               refs.n == 6, "XAPI's six static roles are there (%zu)",
               refs.n);
        pool_strv_free(&refs);
        tap_ok(pool_db_get_by_uuid(db, POOL_CLASS_ROLE,
                                   "7233b8e3-eacb-d7da-2c95-f2e581cdbf4e",
                                   &r) == 0 && r &&
               !strcmp(r, "OpaqueRef:7233b8e3-eacb-d7da-2c95-f2e581cdbf4e"),
               "read-only with XAPI's uuid and ref");
        free(r);
        r = NULL;
        s = get_str(db, POOL_CLASS_ROLE,
                    "OpaqueRef:7233b8e3-eacb-d7da-2c95-f2e581cdbf4e",
                    "name_description");
        tap_is_str(s, "The Read-Only role can log in with basic read-only "
                   "access", "and XAPI's description");
        free(s);
        tap_ok(pool_db_create(db, POOL_CLASS_MESSAGE, NULL, 0, &r) == 0 &&
               pool_db_create(db, POOL_CLASS_SECRET, NULL, 0, NULL) == 0,
               "messages and secrets can be made in it");
        free(r);
    }
    pool_db_close(db);
    db = NULL;

    /* a real version 3 file (a host and a VM in it) upgraded by this
     * program: each gets its metrics object */
    use_file(fx, "v3.db");
    rc = pool_db_open_migrations(ctx, fx->path, pool_migrations, 3, &db);
    tap_ok(rc < 0 && !db, "code of version 3 alone does not fit this "
           "model (%d)", rc);
    xt_error_clear(ctx);
    tap_is_int(raw_int(fx->path, "SELECT max(version) FROM schema_version"),
               3, "but it wrote a version 3 file");
    raw_exec(fx->path, "INSERT INTO \"host\" (ref, uuid, name_label, "
             "memory_total, memory_free, live) VALUES ('OpaqueRef:h3', "
             "'00000000-0000-4000-8000-000000000031', 'h3', 4096, 1024, 1)");
    raw_exec(fx->path, "INSERT INTO \"VM\" (ref, uuid, name_label) VALUES "
             "('OpaqueRef:vm3', '00000000-0000-4000-8000-000000000032', "
             "'v3vm')");
    rc = pool_db_open(ctx, fx->path, &db);
    tap_ok(rc == 0 && pool_db_schema_version(db, &version) == 0 &&
           version == CUR, "this program upgrades it to version %d", CUR);
    if (db) {
        char *hm, *vmm, *r = NULL;

        hm = get_str(db, POOL_CLASS_HOST, "OpaqueRef:h3", "metrics");
        tap_ok(pool_db_check_ref(db, POOL_CLASS_HOST_METRICS, hm) == 0,
               "its host has its host_metrics (%s)", hm);
        tap_ok(get_int(db, POOL_CLASS_HOST_METRICS, hm, "memory_total") ==
               4096 && get_int(db, POOL_CLASS_HOST_METRICS, hm,
                               "memory_free") == 1024 &&
               get_int(db, POOL_CLASS_HOST_METRICS, hm, "live") == 1,
               "with the host's memory and liveness");
        vmm = get_str(db, POOL_CLASS_VM, "OpaqueRef:vm3", "metrics");
        tap_ok(pool_db_check_ref(db, POOL_CLASS_VM_METRICS, vmm) == 0,
               "its VM has its VM_metrics (%s)", vmm);
        tap_ok(pool_db_create(db, POOL_CLASS_PIF, (struct pool_field_init[]){
                   { "host", POOL_V_REF("OpaqueRef:h3") } }, 1, &r) == 0 &&
               pool_db_destroy(db, POOL_CLASS_HOST, "OpaqueRef:h3") == 0 &&
               pool_db_check_ref(db, POOL_CLASS_HOST_METRICS, hm) == -ENOENT &&
               pool_db_check_ref(db, POOL_CLASS_PIF, r) == -ENOENT,
               "a PIF can be made; both go with the host");
        xt_error_clear(ctx);
        tap_ok(pool_db_destroy(db, POOL_CLASS_VM, "OpaqueRef:vm3") == 0 &&
               pool_db_check_ref(db, POOL_CLASS_VM_METRICS, vmm) == -ENOENT,
               "the VM_metrics goes with the VM");
        xt_error_clear(ctx);
        tap_is_int(pool_db_integrity_check(db), 0, "and the file is sound");
        free(hm);
        free(vmm);
        free(r);
    }
    pool_db_close(db);
    db = NULL;

    /* a column the model needs is missing */
    use_file(fx, "mismatch.db");
    rc = pool_db_open(ctx, fx->path, &db);
    pool_db_close(db);
    db = NULL;
    raw_exec(fx->path, "ALTER TABLE \"VM\" DROP COLUMN domid");
    expect_err(ctx, pool_db_open(ctx, fx->path, &db), -EIO,
               "no column for VM.domid", "schema drift detected");

    /* not ours */
    use_file(fx, "other.db");
    raw_exec(fx->path, "CREATE TABLE t (x)");
    expect_err(ctx, pool_db_open(ctx, fx->path, &db), -EINVAL,
               "not an xm-pool database", "foreign SQLite file refused");
    use_file(fx, "garbage.db");
    {
        int fd = open(fx->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        char junk[4096];

        memset(junk, 'x', sizeof(junk));
        if (fd < 0 || write(fd, junk, sizeof(junk)) < 0)
            tap_bail("cannot write a junk file");
        close(fd);
    }
    rc = pool_db_open(ctx, fx->path, &db);
    tap_ok(rc < 0 && !db && ctx->err_rc == rc,
           "junk file refused (%s)", ctx->err_msg);
    xt_error_clear(ctx);

    free(ref);
    ctx->quiet_errors = false;
}

int main(void)
{
    struct fixture fx = { 0 };
    char cmd[600];

    fx.ctx = xt_ctx_new("test_db");
    if (!fx.ctx)
        tap_bail("no context");
    fx.ctx->level = XT_LOG_WARN;
    make_dir(&fx);

    test_values();

    use_file(&fx, "pool.db");
    if (pool_db_open(fx.ctx, fx.path, &fx.db) < 0)
        tap_bail("cannot open the pool database");
    test_file(&fx);
    test_crud(&fx);
    test_checks(&fx);
    test_transactions(&fx);
    test_events(&fx);
    test_v3_classes(&fx);
    test_v4_classes(&fx);
    test_two_connections(&fx);
    tap_is_int(pool_db_integrity_check(fx.db), 0, "integrity at the end");
    pool_db_close(fx.db);

    test_migrations(&fx);

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx.dir);
    if (system(cmd) != 0)
        tap_diag("could not remove %s", fx.dir);
    free(fx.dir);
    xt_ctx_free(fx.ctx);
    return tap_done();
}
