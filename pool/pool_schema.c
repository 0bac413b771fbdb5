/*
 * pool_schema.c - the schema migrations of the pool database, in order.
 *
 * A released migration is frozen: to change the model, add the field to
 * pool_model.c AND a migration here (ALTER TABLE ... ADD COLUMN with a
 * default, or a table rebuild), then raise POOL_DB_SCHEMA_VERSION.
 * pool_db_open() checks every stored model field against the columns
 * and refuses a file where one is missing.
 *
 * Column conventions (pool_obj.c reads and writes them): every class
 * table has ref (primary key) and uuid (unique); strings, enums and
 * datetimes are TEXT; ints and bools INTEGER; floats REAL; a ref is TEXT
 * that is NULL for OpaqueRef:NULL, with a foreign key whose ON DELETE is
 * the field's pool_ondelete; string sets and maps are JSON text.
 * Derived sets have no column; the referring columns are indexed.
 *
 * The event triggers are not part of the schema: pool_db.c installs them
 * as TEMP triggers on every open, from the model.
 */
#include "config.h"

#include <stdlib.h>

#include "pool_internal.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define OPS \
    "allowed_operations TEXT NOT NULL DEFAULT '[]', " \
    "current_operations TEXT NOT NULL DEFAULT '{}', "
#define NAMES \
    "name_label TEXT NOT NULL DEFAULT '', " \
    "name_description TEXT NOT NULL DEFAULT '', "
#define OTHER "other_config TEXT NOT NULL DEFAULT '{}'"
#define BOOL(n, d) n " INTEGER NOT NULL DEFAULT " #d \
    " CHECK (" n " IN (0, 1)), "
#define INT(n, d) n " INTEGER NOT NULL DEFAULT " #d ", "
#define TEXTF(n) n " TEXT NOT NULL DEFAULT '', "
#define REF(n, t, del) n " TEXT REFERENCES \"" t "\"(ref) ON DELETE " del ", "
#define HEAD \
    "ref TEXT PRIMARY KEY NOT NULL, " \
    "uuid TEXT NOT NULL UNIQUE, "

static const char v1_sql[] =
    "PRAGMA application_id = 2020438124;\n"   /* POOL_DB_APPLICATION_ID */
    "CREATE TABLE pool_meta (key TEXT PRIMARY KEY NOT NULL, value TEXT);\n"
    "INSERT INTO pool_meta VALUES ('events_trimmed_upto', '0');\n"
    "CREATE TABLE event ("
        "id INTEGER PRIMARY KEY AUTOINCREMENT, "
        "class TEXT NOT NULL, "
        "ref TEXT NOT NULL, "
        "op TEXT NOT NULL CHECK (op IN ('add', 'mod', 'del')), "
        "ts REAL NOT NULL);\n"

    "CREATE TABLE \"pool\" (" HEAD NAMES
        REF("master", "host", "SET NULL")
        REF("default_SR", "SR", "SET NULL")
        BOOL("migration_compression", 0)
        REF("migration_network", "network", "SET NULL")
        OTHER ");\n"

    "CREATE TABLE \"host\" (" HEAD NAMES OPS
        TEXTF("address")
        TEXTF("hostname")
        BOOL("enabled", 0)
        BOOL("live", 0)
        INT("memory_total", 0)
        INT("memory_free", 0)
        INT("API_version_major", 0)
        INT("API_version_minor", 0)
        "software_version TEXT NOT NULL DEFAULT '{}', "
        TEXTF("migration_address")
        OTHER ");\n"

    "CREATE TABLE \"VM\" (" HEAD OPS NAMES
        "power_state TEXT NOT NULL DEFAULT 'Halted', "
        BOOL("is_a_template", 0)
        BOOL("is_control_domain", 0)
        INT("domid", -1)
        INT("memory_static_max", 0)
        INT("memory_dynamic_max", 0)
        INT("memory_dynamic_min", 0)
        INT("memory_static_min", 0)
        INT("VCPUs_max", 1)
        INT("VCPUs_at_startup", 1)
        REF("resident_on", "host", "SET NULL")
        REF("scheduled_to_be_resident_on", "host", "SET NULL")
        REF("affinity", "host", "SET NULL")
        OTHER ");\n"
    "CREATE INDEX VM_resident_on ON \"VM\"(resident_on);\n"
    "CREATE INDEX VM_scheduled ON \"VM\"(scheduled_to_be_resident_on);\n"
    "CREATE INDEX VM_affinity ON \"VM\"(affinity);\n"

    "CREATE TABLE \"VBD\" (" HEAD OPS
        REF("VM", "VM", "CASCADE")
        REF("VDI", "VDI", "SET NULL")
        TEXTF("device")
        TEXTF("userdevice")
        BOOL("bootable", 0)
        "mode TEXT NOT NULL DEFAULT 'RW', "
        "type TEXT NOT NULL DEFAULT 'Disk', "
        BOOL("unpluggable", 1)
        BOOL("empty", 0)
        BOOL("currently_attached", 0)
        OTHER ");\n"
    "CREATE INDEX VBD_VM ON \"VBD\"(VM);\n"
    "CREATE INDEX VBD_VDI ON \"VBD\"(VDI);\n"

    "CREATE TABLE \"VDI\" (" HEAD NAMES OPS
        REF("SR", "SR", "CASCADE")
        INT("virtual_size", 0)
        INT("physical_utilisation", 0)
        "type TEXT NOT NULL DEFAULT 'user', "
        BOOL("sharable", 0)
        BOOL("read_only", 0)
        TEXTF("location")
        BOOL("managed", 1)
        BOOL("missing", 0)
        "sm_config TEXT NOT NULL DEFAULT '{}', "
        OTHER ");\n"
    "CREATE INDEX VDI_SR ON \"VDI\"(SR);\n"

    "CREATE TABLE \"SR\" (" HEAD NAMES OPS
        INT("virtual_allocation", 0)
        INT("physical_utilisation", 0)
        INT("physical_size", 0)
        TEXTF("type")
        TEXTF("content_type")
        BOOL("shared", 0)
        "sm_config TEXT NOT NULL DEFAULT '{}', "
        OTHER ");\n"

    "CREATE TABLE \"PBD\" (" HEAD
        REF("host", "host", "CASCADE")
        REF("SR", "SR", "CASCADE")
        "device_config TEXT NOT NULL DEFAULT '{}', "
        BOOL("currently_attached", 0)
        OTHER ");\n"
    "CREATE INDEX PBD_host ON \"PBD\"(host);\n"
    "CREATE INDEX PBD_SR ON \"PBD\"(SR);\n"

    "CREATE TABLE \"network\" (" HEAD NAMES OPS
        INT("MTU", 1500)
        TEXTF("bridge")
        BOOL("managed", 1)
        OTHER ");\n"

    "CREATE TABLE \"VIF\" (" HEAD OPS
        TEXTF("device")
        REF("network", "network", "RESTRICT")
        REF("VM", "VM", "CASCADE")
        TEXTF("MAC")
        INT("MTU", 1500)
        BOOL("currently_attached", 0)
        BOOL("MAC_autogenerated", 0)
        OTHER ");\n"
    "CREATE INDEX VIF_network ON \"VIF\"(network);\n"
    "CREATE INDEX VIF_VM ON \"VIF\"(VM);\n"

    "CREATE TABLE \"task\" (" HEAD NAMES OPS
        "created TEXT NOT NULL DEFAULT '" POOL_DATETIME_EPOCH "', "
        "finished TEXT NOT NULL DEFAULT '" POOL_DATETIME_EPOCH "', "
        "status TEXT NOT NULL DEFAULT 'pending', "
        REF("resident_on", "host", "SET NULL")
        "progress REAL NOT NULL DEFAULT 0, "
        TEXTF("result")
        "error_info TEXT NOT NULL DEFAULT '[]', "
        OTHER ");\n"
    "CREATE INDEX task_resident_on ON \"task\"(resident_on);\n"

    "CREATE TABLE \"session\" (" HEAD
        REF("this_host", "host", "SET NULL")
        REF("this_user", "user", "SET NULL")
        "last_active TEXT NOT NULL DEFAULT '" POOL_DATETIME_EPOCH "', "
        BOOL("pool", 0)
        BOOL("is_local_superuser", 0)
        TEXTF("auth_user_name")
        OTHER ");\n"
    "CREATE INDEX session_this_host ON \"session\"(this_host);\n"
    "CREATE INDEX session_this_user ON \"session\"(this_user);\n"

    "CREATE TABLE \"user\" (" HEAD
        "short_name TEXT NOT NULL UNIQUE, "
        TEXTF("fullname")
        TEXTF("password_hash")
        OTHER ");\n"

    /* get_by_name_label */
    "CREATE INDEX pool_name ON \"pool\"(name_label);\n"
    "CREATE INDEX host_name ON \"host\"(name_label);\n"
    "CREATE INDEX VM_name ON \"VM\"(name_label);\n"
    "CREATE INDEX VDI_name ON \"VDI\"(name_label);\n"
    "CREATE INDEX SR_name ON \"SR\"(name_label);\n"
    "CREATE INDEX network_name ON \"network\"(name_label);\n"
    "CREATE INDEX task_name ON \"task\"(name_label);\n";

/* VDI snapshots (VDI.snapshot): XAPI's three fields; snapshots is the
 * derived set over snapshot_of.  The SM class: one record per SR driver. */
static const char v2_sql[] =
    "CREATE TABLE \"SM\" (" HEAD NAMES
        TEXTF("type")
        TEXTF("vendor")
        TEXTF("copyright")
        TEXTF("version")
        TEXTF("required_api_version")
        "configuration TEXT NOT NULL DEFAULT '{}', "
        "capabilities TEXT NOT NULL DEFAULT '[]', "
        "features TEXT NOT NULL DEFAULT '{}', "
        TEXTF("driver_filename")
        "required_cluster_stack TEXT NOT NULL DEFAULT '[]', "
        OTHER ");\n"
    "ALTER TABLE \"VDI\" ADD COLUMN is_a_snapshot INTEGER NOT NULL "
        "DEFAULT 0 CHECK (is_a_snapshot IN (0, 1));\n"
    "ALTER TABLE \"VDI\" ADD COLUMN snapshot_of TEXT REFERENCES \"VDI\"(ref) "
        "ON DELETE SET NULL;\n"
    "ALTER TABLE \"VDI\" ADD COLUMN snapshot_time TEXT NOT NULL DEFAULT '"
        POOL_DATETIME_EPOCH "';\n"
    "CREATE INDEX VDI_snapshot_of ON \"VDI\"(snapshot_of);\n";

/*
 * What management GUIs list: messages (alerts; the daemon keeps the
 * newest XA_MESSAGE_LIMIT), secrets, and XAPI's six static roles with
 * XAPI's uuids (the MD5 of the name as a uuid, as xen-api's gen_rbac.ml
 * makes them; pool-admin's is its Constants.rbac_pool_admin_uuid, the
 * same) and refs ("OpaqueRef:<uuid>"), names and descriptions, from
 * ocaml/idl/datamodel_roles.ml.  Written here, once: a new file and an
 * upgraded one get the same.
 */
#define ROLE(uuid, name, desc) \
    "('OpaqueRef:" uuid "', '" uuid "', '" name "', '" desc "')"

static const char v3_sql[] =
    "CREATE TABLE \"message\" (" HEAD
        TEXTF("name")
        INT("priority", 0)
        "cls TEXT NOT NULL DEFAULT 'VM', "
        TEXTF("obj_uuid")
        "timestamp TEXT NOT NULL DEFAULT '" POOL_DATETIME_EPOCH "', "
        "body TEXT NOT NULL DEFAULT '');\n"
    "CREATE INDEX message_timestamp ON \"message\"(timestamp);\n"
    "CREATE TABLE \"secret\" (" HEAD
        TEXTF("value")
        OTHER ");\n"
    "CREATE TABLE \"role\" (" HEAD
        "name_label TEXT NOT NULL DEFAULT '', "
        "name_description TEXT NOT NULL DEFAULT '');\n"
    "CREATE INDEX role_name ON \"role\"(name_label);\n"
    "INSERT INTO \"role\" (ref, uuid, name_label, name_description) "
    "VALUES "
    ROLE("0165f154-ba3e-034e-6b27-5d271af109ba", "pool-admin",
         "The Pool Administrator role has full access to all features and "
         "settings, including accessing Dom0 and managing subjects, roles "
         "and external authentication") ", "
    ROLE("b9ce9791-0604-50cd-0649-09b3284c7dfd", "pool-operator",
         "The Pool Operator role manages host- and pool-wide resources, "
         "including setting up storage, creating resource pools and "
         "managing patches, high availability (HA) and workload balancing "
         "(WLB)") ", "
    ROLE("7955168d-7bec-10ed-105f-c6a7e6e63249", "vm-power-admin",
         "The VM Power Administrator role has full access to VM and "
         "template management and can choose where to start VMs and use "
         "the dynamic memory control and VM snapshot features") ", "
    ROLE("aaa00ab5-7340-bfbc-0d1b-7cf342639a6e", "vm-admin",
         "The VM Administrator role can manage VMs and templates") ", "
    ROLE("fb8d4ff9-310c-a959-0613-54101535d3d5", "vm-operator",
         "The VM Operator role can use VMs and interact with VM consoles")
    ", "
    ROLE("7233b8e3-eacb-d7da-2c95-f2e581cdbf4e", "read-only",
         "The Read-Only role can log in with basic read-only access") ";\n";


/*
 * The rest of what management GUIs list: host and VM metrics (one each,
 * gone with its host or VM: their internal back refs cascade), a host's
 * CPUs, its PIFs (one per host per network, see pool_model.c), and the
 * classes served with no objects (guest metrics, consoles).  host.metrics
 * and VM.metrics become real refs; v4_metrics() gives every host and VM
 * of an upgraded file its metrics object.
 */
#define EPOCH_COL(n) n " TEXT NOT NULL DEFAULT '" POOL_DATETIME_EPOCH "', "

static const char v4_sql[] =
    "CREATE TABLE \"host_metrics\" (" HEAD
        INT("memory_total", 0)
        INT("memory_free", 0)
        BOOL("live", 0)
        EPOCH_COL("last_updated")
        REF("host", "host", "CASCADE")
        OTHER ");\n"
    "CREATE INDEX host_metrics_host ON \"host_metrics\"(host);\n"
    "CREATE TABLE \"host_cpu\" (" HEAD
        REF("host", "host", "CASCADE")
        INT("number", 0)
        TEXTF("vendor")
        INT("speed", 0)
        TEXTF("modelname")
        INT("family", 0)
        INT("model", 0)
        TEXTF("stepping")
        TEXTF("flags")
        OTHER ");\n"
    "CREATE INDEX host_cpu_host ON \"host_cpu\"(host);\n"
    "CREATE TABLE \"VM_metrics\" (" HEAD
        INT("memory_actual", 0)
        INT("VCPUs_number", 0)
        "state TEXT NOT NULL DEFAULT '[]', "
        EPOCH_COL("start_time")
        EPOCH_COL("install_time")
        EPOCH_COL("last_updated")
        REF("VM", "VM", "CASCADE")
        OTHER ");\n"
    "CREATE INDEX VM_metrics_VM ON \"VM_metrics\"(VM);\n"
    "CREATE TABLE \"VM_guest_metrics\" (" HEAD OTHER ");\n"
    "CREATE TABLE \"console\" (" HEAD
        "protocol TEXT NOT NULL DEFAULT 'vt100', "
        TEXTF("location")
        REF("VM", "VM", "CASCADE")
        OTHER ");\n"
    "CREATE INDEX console_VM ON \"console\"(VM);\n"
    "CREATE TABLE \"PIF\" (" HEAD
        TEXTF("device")
        REF("network", "network", "CASCADE")
        REF("host", "host", "CASCADE")
        TEXTF("MAC")
        INT("MTU", 0)
        INT("VLAN", 0)
        BOOL("currently_attached", 1)
        "ip_configuration_mode TEXT NOT NULL DEFAULT 'None', "
        TEXTF("IP")
        BOOL("management", 0)
        OTHER ");\n"
    "CREATE INDEX PIF_host ON \"PIF\"(host);\n"
    "CREATE INDEX PIF_network ON \"PIF\"(network);\n"
    "ALTER TABLE \"host\" ADD COLUMN metrics TEXT REFERENCES "
        "\"host_metrics\"(ref) ON DELETE SET NULL;\n"
    "ALTER TABLE \"VM\" ADD COLUMN metrics TEXT REFERENCES "
        "\"VM_metrics\"(ref) ON DELETE SET NULL;\n";

/* The refs of the rows of sql's one column. */
static int select_refs(struct pool_db *db, const char *sql,
                       struct pool_strv *refs_r)
{
    struct pool_value out = { .type = POOL_FT_REF_SET };
    sqlite3_stmt *st = NULL;
    int rc, sqrc = SQLITE_DONE;

    rc = pool_prepare(db, sql, &st);
    while (rc == 0 && (sqrc = sqlite3_step(st)) == SQLITE_ROW) {
        rc = pool_value_set_add(&out,
                                (const char *)sqlite3_column_text(st, 0));
        if (rc < 0)
            rc = xt_error(db->ctx, rc, "pool db: listing for version 4");
    }
    if (rc == 0 && sqrc != SQLITE_DONE)
        rc = pool_sq_error(db, sqrc, "listing for version 4");
    sqlite3_finalize(st);
    if (rc < 0) {
        pool_value_clear(&out);
        return rc;
    }
    *refs_r = out.set;
    return 0;
}

/* Runs sql with ?1 a fresh ref, ?2 a fresh uuid, ?3 owner, ?4 now; then
 * link with ?1 and ?3. */
static int make_one(struct pool_db *db, const char *sql, const char *link,
                    const char *owner)
{
    char ref[POOL_REF_STRLEN + 1], uuid[XT_UUID_STRLEN + 1];
    char now[POOL_DATETIME_STRLEN + 1];
    const char *const sqls[] = { sql, link };
    sqlite3_stmt *st = NULL;
    struct xt_uuid u;
    int rc, sqrc;
    size_t i;

    rc = pool_ref_generate(ref);
    rc = rc ?: xt_uuid_generate(&u);
    if (rc < 0)
        return xt_error(db->ctx, rc, "pool db: a new uuid");
    xt_uuid_format(&u, uuid);
    pool_datetime_now(now);
    for (i = 0; rc == 0 && i < 2; i++) {
        rc = pool_prepare(db, sqls[i], &st);
        if (rc < 0)
            break;
        sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
        if (i == 0) {
            sqlite3_bind_text(st, 2, uuid, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 4, now, -1, SQLITE_STATIC);
        }
        sqlite3_bind_text(st, 3, owner, -1, SQLITE_STATIC);
        sqrc = sqlite3_step(st);
        if (sqrc != SQLITE_DONE)
            rc = pool_sq_error(db, sqrc, "making metrics for version 4");
        sqlite3_finalize(st);
        st = NULL;
    }
    return rc;
}

/*
 * Every host and VM of the file gets its metrics object: a host's with
 * its record's memory and liveness, a VM's empty (the master's start
 * fills it from the VM's state, xa_metrics_reconcile).  Raw SQL, as a
 * frozen migration must be: not the model of a later program.
 */
static int v4_metrics(struct pool_db *db)
{
    static const struct {
        const char *list, *make, *link;
    } k[] = {
        { "SELECT ref FROM \"host\" WHERE metrics IS NULL",
          "INSERT INTO \"host_metrics\" (ref, uuid, host, memory_total, "
          "memory_free, live, last_updated) SELECT ?1, ?2, ref, "
          "memory_total, memory_free, live, ?4 FROM \"host\" WHERE ref = ?3",
          "UPDATE \"host\" SET metrics = ?1 WHERE ref = ?3" },
        { "SELECT ref FROM \"VM\" WHERE metrics IS NULL",
          "INSERT INTO \"VM_metrics\" (ref, uuid, VM, last_updated) "
          "VALUES (?1, ?2, ?3, ?4)",
          "UPDATE \"VM\" SET metrics = ?1 WHERE ref = ?3" },
    };
    struct pool_strv refs = { 0 };
    size_t i, j;
    int rc = 0;

    for (i = 0; rc == 0 && i < ARRAY_SIZE(k); i++) {
        rc = select_refs(db, k[i].list, &refs);
        for (j = 0; rc == 0 && j < refs.n; j++)
            rc = make_one(db, k[i].make, k[i].link, refs.v[j]);
        pool_strv_free(&refs);
    }
    return rc;
}

/* The constant fields a client may set (XAPI's RW ones we do not model)
 * keep what it set in one JSON column of their class's table. */
#define SET_COL(t) "ALTER TABLE \"" t "\" ADD COLUMN xm_set TEXT NOT NULL " \
    "DEFAULT '{}';\n"
static const char v5_sql[] =
    SET_COL("pool") SET_COL("host") SET_COL("VM") SET_COL("VBD")
    SET_COL("VDI") SET_COL("SR") SET_COL("network") SET_COL("VIF");

const struct pool_migration pool_migrations[] = {
    { .version = 1, .what = "create the pool database", .sql = v1_sql },
    { .version = 2, .what = "VDI snapshots, the SM class", .sql = v2_sql },
    { .version = 3, .what = "messages, secrets, XAPI's static roles",
      .sql = v3_sql },
    { .version = 4, .what = "metrics, host CPUs, PIFs, consoles",
      .sql = v4_sql, .apply = v4_metrics },
    { .version = 5, .what = "the constant fields a client may set",
      .sql = v5_sql },
};
const size_t pool_nmigrations = ARRAY_SIZE(pool_migrations);

_Static_assert(ARRAY_SIZE(pool_migrations) == POOL_DB_SCHEMA_VERSION,
               "one migration per schema version");
_Static_assert(POOL_DB_APPLICATION_ID == 2020438124,
               "v1_sql spells the application id in decimal");
