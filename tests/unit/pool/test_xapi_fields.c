/*
 * test_xapi_fields.c - the pool model against XAPI's record fields
 * (tests/data/xapi-fields.txt, from xen-api's datamodel by
 * scripts/xapi-fields.py).
 *
 * For each class we serve, one object is created in a real pool database
 * and its record read back: every field XAPI sends must be in it, with
 * XAPI's type, and a constant field (and a stored one whose default XAPI
 * declares) with XAPI's default; our access must be XAPI's; an enum has
 * XAPI's values.  A difference passes only when
 * tests/data/xapi-fields-allowed.txt lists it (class, field, kind), and
 * a listed difference that is no longer one fails too, so the list stays
 * the truth.  Classes we do not serve yet are skipped; those of served[]
 * must be served (a skip of one fails).
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pool.h"
#include "../../tap.h"

#define MAX_LINES 2048

struct xfield {
    char *cls, *name, *type, *def, *access, *origin;
};

struct xenum {
    char *name, *values;        /* comma-separated; "?" unknown */
};

struct allowed {
    char *cls, *name, *kind;
    bool used;
};

static struct xfield xf[MAX_LINES];
static size_t nxf;
static struct xenum xe[256];
static size_t nxe;
static struct allowed al[MAX_LINES];
static size_t nal;

/* Splits line at tabs into at most n fields; returns how many. */
static size_t split(char *line, char **out, size_t n)
{
    size_t k = 0;
    char *p = line, *tab;

    line[strcspn(line, "\r\n")] = '\0';
    while (k < n) {
        out[k++] = p;
        tab = strchr(p, '\t');
        if (!tab)
            break;
        *tab = '\0';
        p = tab + 1;
    }
    return k;
}

static FILE *open_data(const char *name)
{
    const char *src = getenv("XM_SRCDIR");
    char path[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s/tests/data/%s",
             src && *src ? src : XM_SRCDIR, name);
    f = fopen(path, "r");
    if (!f) {
        snprintf(path, sizeof(path), "cannot read tests/data/%s", name);
        tap_bail(path);
    }
    return f;
}

static void load(void)
{
    char line[8192], *col[8];
    FILE *f = open_data("xapi-fields.txt");
    size_t n;

    while (fgets(line, sizeof(line), f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        n = split(line, col, 8);
        if (n == 3 && strcmp(col[0], "enum") == 0 && nxe < 256) {
            xe[nxe].name = strdup(col[1]);
            xe[nxe++].values = strdup(col[2]);
        } else if (n == 7 && nxf < MAX_LINES) {
            xf[nxf] = (struct xfield){ strdup(col[0]), strdup(col[1]),
                                       strdup(col[2]), strdup(col[3]),
                                       strdup(col[4]), strdup(col[5]) };
            nxf++;
        } else {
            tap_bail("malformed line in xapi-fields.txt");
        }
    }
    fclose(f);
    f = open_data("xapi-fields-allowed.txt");
    while (fgets(line, sizeof(line), f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        n = split(line, col, 4);
        if (n != 4 || nal >= MAX_LINES)
            tap_bail("malformed line in xapi-fields-allowed.txt");
        al[nal++] = (struct allowed){ strdup(col[0]), strdup(col[1]),
                                      strdup(col[2]), false };
    }
    fclose(f);
    if (nxf < 100)
        tap_bail("xapi-fields.txt lists too few fields");
}

static struct allowed *find_allowed(const char *cls, const char *name,
                                    const char *kind)
{
    size_t i;

    for (i = 0; i < nal; i++)
        if (strcmp(al[i].cls, cls) == 0 && strcmp(al[i].name, name) == 0 &&
            strcmp(al[i].kind, kind) == 0)
            return &al[i];
    return NULL;
}

/* A difference of kind for cls.name: allowed if listed; else reported. */
static bool differs(const char *cls, const char *name, const char *kind,
                    const char *ours, const char *xapi)
{
    struct allowed *a = find_allowed(cls, name, kind);

    if (a) {
        a->used = true;
        return false;
    }
    tap_diag("%s.%s: %s differs: ours %s, XAPI %s", cls, name, kind, ours,
             xapi);
    return true;
}

/* Our type against XAPI's: maps are maps whatever XAPI's key and value
 * types (ours are string -> string; XML-RPC sends XAPI's ints as strings
 * too); a set of refs is a ref set, any other set a string set. */
static bool type_matches(const struct pool_field *f, const char *t)
{
    const struct pool_class *target;
    char inner[128];

    if (strncmp(t, "map(", 4) == 0)
        return f->type == POOL_FT_MAP;
    if (strncmp(t, "set(ref(", 8) == 0 || strncmp(t, "ref(", 4) == 0) {
        bool set = t[0] == 's';

        if (f->type != (set ? POOL_FT_REF_SET : POOL_FT_REF))
            return false;
        snprintf(inner, sizeof(inner), "%s", t + (set ? 8 : 4));
        inner[strcspn(inner, ")")] = '\0';
        target = pool_class_find(inner);
        /* A constant ref to a class we do not model has no target. */
        if (!target || strcmp(target->name, inner) != 0)
            return f->constant;
        return f->target == target->id;
    }
    if (strncmp(t, "set(", 4) == 0)
        return f->type == POOL_FT_STRING_SET;
    if (strncmp(t, "enum(", 5) == 0)
        return f->type == POOL_FT_ENUM;
    return strcmp(t, pool_ftype_name(f->type)) == 0;
}

static const char *access_name(enum pool_faccess a)
{
    return a == POOL_FA_RW ? "RW" : a == POOL_FA_STATIC_RO ? "SRO" : "DRO";
}

/* Appends s as a JSON string. */
static void json_str(char *buf, size_t size, const char *s)
{
    size_t len = strlen(buf);

    snprintf(buf + len, size - len, "\"%s\"", s ? s : "");
}

/* The value in the data file's form (see scripts/xapi-fields.py). */
static void render(const struct pool_value *v, char *buf, size_t size)
{
    size_t i, len;

    buf[0] = '\0';
    switch (v->type) {
    case POOL_FT_STRING:
    case POOL_FT_DATETIME:
    case POOL_FT_ENUM:
    case POOL_FT_REF:
        json_str(buf, size, v->s);
        break;
    case POOL_FT_INT:
        snprintf(buf, size, "%lld", (long long)v->i);
        break;
    case POOL_FT_BOOL:
        snprintf(buf, size, "%s", v->b ? "true" : "false");
        break;
    case POOL_FT_FLOAT:
        snprintf(buf, size, "%.17g", v->f);
        break;
    case POOL_FT_REF_SET:
    case POOL_FT_STRING_SET:
        snprintf(buf, size, "[");
        for (i = 0; i < v->set.n; i++) {
            if (i)
                strncat(buf, ",", size - strlen(buf) - 1);
            json_str(buf, size, v->set.v[i]);
        }
        strncat(buf, "]", size - strlen(buf) - 1);
        break;
    case POOL_FT_MAP:
        snprintf(buf, size, "{");
        for (i = 0; i < v->map.n; i++) {
            if (i)
                strncat(buf, ",", size - strlen(buf) - 1);
            json_str(buf, size, v->map.keys[i]);
            len = strlen(buf);
            snprintf(buf + len, size - len, ":");
            json_str(buf, size, v->map.vals[i]);
        }
        strncat(buf, "}", size - strlen(buf) - 1);
        break;
    }
}

/* Does our value equal XAPI's default text?  A ref "" is the null ref
 * (XAPI declares some ref defaults so); floats compare as numbers. */
static bool same_default(const struct pool_value *v, const char *ours,
                         const char *xapi)
{
    if (v->type == POOL_FT_FLOAT)
        return strtod(xapi, NULL) == v->f;
    if (v->type == POOL_FT_REF && strcmp(xapi, "\"\"") == 0)
        return pool_ref_is_null(v->s);
    return strcmp(ours, xapi) == 0;
}

/* Our enum values, comma-separated, against XAPI's. */
static bool enum_matches(const struct pool_field *f, const char *type,
                         char *ours, size_t size)
{
    char name[128];
    const char *const *e;
    size_t i;

    ours[0] = '\0';
    for (e = f->enum_values; e && *e; e++) {
        if (e != f->enum_values)
            strncat(ours, ",", size - strlen(ours) - 1);
        strncat(ours, *e, size - strlen(ours) - 1);
    }
    snprintf(name, sizeof(name), "%s", type + 5);
    name[strcspn(name, ")")] = '\0';
    for (i = 0; i < nxe; i++)
        if (strcmp(xe[i].name, name) == 0)
            return strcmp(xe[i].values, "?") == 0 ||
                   strcmp(xe[i].values, ours) == 0;
    return true;        /* XAPI's values not known */
}

/* Checks class cls's record rec against every XAPI field of it. */
static void check_class(const struct pool_class *cls,
                        const struct pool_record *rec)
{
    char ours[4096], enums[2048];
    const struct pool_value *v;
    const struct pool_field *f;
    size_t i, n = 0, nconst = 0, bad = 0;
    const struct xfield *x;

    for (i = 0; i < nxf; i++) {
        x = &xf[i];
        if (strcmp(x->cls, cls->name) != 0)
            continue;
        n++;
        f = pool_class_field(cls, x->name);
        v = pool_record_get(rec, x->name);
        if (!f || !v || f->internal) {
            tap_diag("%s.%s: missing (XAPI: %s, default %s)", cls->name,
                     x->name, x->type, x->def);
            bad++;
            continue;
        }
        nconst += f->constant;
        if (!type_matches(f, x->type))
            bad += differs(cls->name, x->name, "type",
                           pool_ftype_name(f->type), x->type);
        if (f->type == POOL_FT_ENUM &&
            !enum_matches(f, x->type, enums, sizeof(enums)))
            bad += differs(cls->name, x->name, "enum", enums, x->type);
        if (strcmp(access_name(f->access), x->access) != 0)
            bad += differs(cls->name, x->name, "access",
                           access_name(f->access), x->access);
        render(v, ours, sizeof(ours));
        if ((f->constant || strcmp(x->origin, "declared") == 0) &&
            !same_default(v, ours, x->def))
            bad += differs(cls->name, x->name, "default", ours, x->def);
    }
    tap_ok(n > 0 && bad == 0, "%s: the %zu fields XAPI sends, %zu of them "
           "constant, with XAPI's type, access and default", cls->name, n,
           nconst);
}

/* A constant field reads as its default; a read-only one is never
 * written; one XAPI lets a client set (RW) keeps what was set. */
static void check_constant(struct pool_db *db, struct xt_ctx *ctx,
                           const char *path)
{
    struct pool_value v = { 0 }, tags = { .type = POOL_FT_STRING_SET };
    struct pool_strv refs = { 0 };
    struct pool_record *rec = NULL;
    struct pool_db *again = NULL;
    char *vm = NULL, *k = NULL;
    int rc, rs, ri, rf;

    rc = pool_db_create(db, POOL_CLASS_VM, NULL, 0, &vm);
    rc = rc ?: pool_db_get_field(db, POOL_CLASS_VM, vm, "HVM_shadow_multiplier",
                                 &v);
    tap_ok(rc == 0 && v.type == POOL_FT_FLOAT && v.f == 1.0,
           "VM.get_HVM_shadow_multiplier: the constant 1.0");
    pool_value_clear(&v);
    rs = pool_db_set_field(db, POOL_CLASS_VM, vm, "memory_overhead",
                           &POOL_V_INT(1), 0);
    ri = pool_db_set_field(db, POOL_CLASS_VM, vm, "memory_overhead",
                           &POOL_V_INT(1), POOL_DB_INTERNAL);
    rf = pool_db_find(db, POOL_CLASS_VM, "PV_kernel", &POOL_V_STR(""),
                      &refs);
    tap_ok(rs == -EPERM && ri == -EPERM && rf == -EINVAL,
           "a read-only constant field is set neither by a client nor "
           "internally; no constant field is searched (%d %d %d: %s)", rs,
           ri, rf, ctx->err_msg);
    rc = pool_db_create(db, POOL_CLASS_VM, (struct pool_field_init[]){
                            { "PV_kernel", POOL_V_STR("x") } }, 1, NULL);
    tap_ok(rc == -EPERM, "nor given at create");

    /* XAPI's RW ones: a string, a set, a map key; kept across a reopen. */
    pool_value_set_add(&tags, "web");
    pool_value_set_add(&tags, "prod");
    rc = pool_db_set_field(db, POOL_CLASS_VM, vm, "PV_kernel",
                           &POOL_V_STR("/boot/vmlinuz"), 0);
    rc = rc ?: pool_db_set_field(db, POOL_CLASS_VM, vm, "tags", &tags, 0);
    rc = rc ?: pool_db_map_put(db, POOL_CLASS_VM, vm, "xenstore_data",
                               "vm-data/x", "1", 0);
    tap_is_int(rc, 0, "constant fields XAPI lets a client set: set");
    pool_db_close(db);
    if (pool_db_open(ctx, path, &again) < 0)
        tap_bail("reopen");
    rc = pool_db_get_record(again, POOL_CLASS_VM, vm, &rec);
    tap_ok(rc == 0 &&
           !strcmp(pool_record_get(rec, "PV_kernel")->s, "/boot/vmlinuz") &&
           pool_record_get(rec, "tags")->set.n == 2 &&
           !strcmp(pool_record_get(rec, "tags")->set.v[1], "prod") &&
           (k = (char *)pool_value_map_get(pool_record_get(rec,
                                           "xenstore_data"), "vm-data/x")) &&
           !strcmp(k, "1") &&
           !strcmp(pool_record_get(rec, "PV_ramdisk")->s, ""),
           "  kept in the record after a reopen, the others at their "
           "default");
    rc = pool_db_get_field(again, POOL_CLASS_VM, vm, "tags", &v);
    tap_ok(rc == 0 && v.set.n == 2, "  and by get_tags");
    pool_value_clear(&v);
    pool_record_free(rec);
    pool_db_close(again);
    pool_value_clear(&tags);
    pool_strv_free(&refs);
    free(vm);
}

/* The classes xm-pool serves: each must be in the model, never skipped
 * (message, secret and role since schema version 3, the metrics, CPUs,
 * PIFs, guest metrics and consoles since version 4, issue 14). */
static const char *const served[] = {
    "pool", "host", "VM", "VBD", "VDI", "SR", "PBD", "network", "VIF",
    "task", "session", "user", "SM", "message", "secret", "role",
    "host_metrics", "host_cpu", "VM_metrics", "VM_guest_metrics", "console",
    "PIF", NULL
};

static bool must_serve(const char *name)
{
    const char *const *s;

    for (s = served; *s; s++)
        if (strcmp(*s, name) == 0)
            return true;
    return false;
}

/* The classes of the data file, in its order. */
static size_t data_classes(const char **names, size_t max)
{
    size_t i, j, n = 0;

    for (i = 0; i < nxf; i++) {
        for (j = 0; j < n && strcmp(names[j], xf[i].cls) != 0; j++)
            ;
        if (j == n && n < max)
            names[n++] = xf[i].cls;
    }
    return n;
}

int main(void)
{
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    const char *names[64];
    struct pool_record *rec = NULL;
    const struct pool_class *cls;
    struct pool_db *db = NULL;
    struct xt_ctx *ctx;
    char dir[4096], path[4200];
    char *ref = NULL;
    size_t i, n, stale = 0;
    int rc;

    load();
    ctx = xt_ctx_new("test_xapi_fields");
    snprintf(dir, sizeof(dir), "%s/xm-pool-xf-XXXXXX", tmp);
    if (!ctx || !mkdtemp(dir))
        tap_bail("setup");
    snprintf(path, sizeof(path), "%s/pool.db", dir);
    if (pool_db_open(ctx, path, &db) < 0)
        tap_bail("cannot open a pool database");

    n = data_classes(names, 64);
    for (i = 0; i < n; i++) {
        cls = pool_class_find(names[i]);
        if ((!cls || strcmp(cls->name, names[i]) != 0) &&
            must_serve(names[i])) {
            tap_ok(false, "%s: served, yet not in the model", names[i]);
            continue;
        }
        if (!cls || strcmp(cls->name, names[i]) != 0) {
            printf("ok %d # SKIP %s: class not served yet\n",
                   ++tap_state.run, names[i]);
            continue;
        }
        rc = pool_db_create(db, cls->id, NULL, 0, &ref);
        if (rc == 0)
            rc = pool_db_get_record(db, cls->id, ref, &rec);
        if (rc < 0) {
            tap_ok(false, "%s: create and read a record (%s)", cls->name,
                   ctx->err_msg);
        } else {
            check_class(cls, rec);
        }
        pool_record_free(rec);
        rec = NULL;
        free(ref);
        ref = NULL;
    }
    check_constant(db, ctx, path);
    db = NULL;                  /* check_constant closed it */
    for (i = 0; i < nal; i++)
        if (!al[i].used) {
            tap_diag("allowed difference no longer one: %s.%s %s",
                     al[i].cls, al[i].name, al[i].kind);
            stale++;
        }
    tap_ok(stale == 0, "every listed difference is still one (%zu listed)",
           nal);

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
