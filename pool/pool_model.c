/*
 * pool_model.c - the object model: classes and their fields, in XenAPI
 * record order, after xapi's datamodel (the fields xm-pool uses).
 *
 * Changing a stored field here needs a schema migration (pool_schema.c);
 * pool_db_open() refuses a file that lacks a column this table names.
 */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "pool_internal.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Field shorthands: name, type, access. */
#define FIELD(n, t, a) .name = (n), .type = POOL_FT_##t, .access = A_##a
#define A_RW       POOL_FA_RW
#define A_SRO      POOL_FA_STATIC_RO
#define A_DRO      POOL_FA_DYNAMIC_RO

#define F_UUID     { FIELD("uuid", STRING, SRO) }
#define F_NAMES(a) { FIELD("name_label", STRING, a) }, \
                   { FIELD("name_description", STRING, a) }
#define F_OPS      { FIELD("allowed_operations", STRING_SET, DRO) }, \
                   { FIELD("current_operations", MAP, DRO) }
#define F_OTHER    { FIELD("other_config", MAP, RW) }
#define F_REF(n, a, cls, del) \
    { FIELD(n, REF, a), .target = POOL_CLASS_##cls, \
      .ondelete = POOL_DEL_##del }
#define F_SET(n, cls, back) \
    { FIELD(n, REF_SET, DRO), .target = POOL_CLASS_##cls, .via = (back) }
#define F_ENUM(n, a, values, d) \
    { FIELD(n, ENUM, a), .enum_values = (values), .def = (d) }

static const char *const vm_power_states[] = {
    "Halted", "Paused", "Running", "Suspended", NULL
};
static const char *const task_statuses[] = {
    "pending", "success", "failure", "cancelling", "cancelled", NULL
};
static const char *const vbd_modes[] = { "RO", "RW", NULL };
static const char *const vbd_types[] = { "CD", "Disk", "Floppy", NULL };
static const char *const vdi_types[] = {
    "system", "user", "ephemeral", "suspend", "crashdump", "ha_statefile",
    "metadata", "redo_log", "rrd", "pvs_cache", "cbt_metadata", NULL
};

static const struct pool_field pool_fields[] = {
    F_UUID,
    F_NAMES(RW),
    F_REF("master", DRO, HOST, SET_NULL),
    F_REF("default_SR", RW, SR, SET_NULL),
    F_OTHER,
    { FIELD("migration_compression", BOOL, RW) },
    F_REF("migration_network", RW, NETWORK, SET_NULL),
};

static const struct pool_field host_fields[] = {
    F_UUID,
    F_NAMES(RW),
    F_OPS,
    { FIELD("address", STRING, SRO) },
    { FIELD("hostname", STRING, DRO) },
    { FIELD("enabled", BOOL, DRO) },
    { FIELD("live", BOOL, DRO) },
    { FIELD("memory_total", INT, DRO) },
    { FIELD("memory_free", INT, DRO) },
    { FIELD("API_version_major", INT, DRO) },
    { FIELD("API_version_minor", INT, DRO) },
    { FIELD("software_version", MAP, DRO) },
    F_OTHER,
    F_SET("resident_VMs", VM, "resident_on"),
    F_SET("PBDs", PBD, "host"),
    { FIELD("migration_address", STRING, RW) },
};

static const struct pool_field vm_fields[] = {
    F_UUID,
    F_OPS,
    F_NAMES(RW),
    F_ENUM("power_state", DRO, vm_power_states, "Halted"),
    { FIELD("is_a_template", BOOL, RW) },
    { FIELD("is_control_domain", BOOL, DRO) },
    { FIELD("domid", INT, DRO), .def = "-1" },
    { FIELD("memory_static_max", INT, RW) },
    { FIELD("memory_dynamic_max", INT, RW) },
    { FIELD("memory_dynamic_min", INT, RW) },
    { FIELD("memory_static_min", INT, RW) },
    { FIELD("VCPUs_max", INT, RW), .def = "1" },
    { FIELD("VCPUs_at_startup", INT, RW), .def = "1" },
    F_REF("resident_on", DRO, HOST, SET_NULL),
    F_REF("scheduled_to_be_resident_on", DRO, HOST, SET_NULL),
    F_REF("affinity", RW, HOST, SET_NULL),
    F_OTHER,
    F_SET("VBDs", VBD, "VM"),
    F_SET("VIFs", VIF, "VM"),
};

static const struct pool_field vbd_fields[] = {
    F_UUID,
    F_OPS,
    F_REF("VM", SRO, VM, CASCADE),
    F_REF("VDI", SRO, VDI, SET_NULL),
    { FIELD("device", STRING, DRO) },
    { FIELD("userdevice", STRING, RW) },
    { FIELD("bootable", BOOL, RW) },
    F_ENUM("mode", RW, vbd_modes, "RW"),
    F_ENUM("type", RW, vbd_types, "Disk"),
    { FIELD("unpluggable", BOOL, RW), .def = "true" },
    { FIELD("empty", BOOL, SRO) },
    { FIELD("currently_attached", BOOL, DRO) },
    F_OTHER,
};

static const struct pool_field vdi_fields[] = {
    F_UUID,
    F_NAMES(RW),
    F_OPS,
    F_REF("SR", SRO, SR, CASCADE),
    F_SET("VBDs", VBD, "VDI"),
    { FIELD("virtual_size", INT, SRO) },
    { FIELD("physical_utilisation", INT, DRO) },
    F_ENUM("type", SRO, vdi_types, "user"),
    { FIELD("sharable", BOOL, SRO) },
    { FIELD("read_only", BOOL, SRO) },
    F_OTHER,
    { FIELD("location", STRING, DRO) },
    { FIELD("managed", BOOL, DRO), .def = "true" },
    { FIELD("missing", BOOL, DRO) },
    { FIELD("sm_config", MAP, DRO) },
    /* schema version 2 */
    { FIELD("is_a_snapshot", BOOL, DRO) },
    F_REF("snapshot_of", DRO, VDI, SET_NULL),
    F_SET("snapshots", VDI, "snapshot_of"),
    { FIELD("snapshot_time", DATETIME, DRO) },
};

static const struct pool_field sr_fields[] = {
    F_UUID,
    F_NAMES(RW),
    F_OPS,
    F_SET("VDIs", VDI, "SR"),
    F_SET("PBDs", PBD, "SR"),
    { FIELD("virtual_allocation", INT, DRO) },
    { FIELD("physical_utilisation", INT, DRO) },
    { FIELD("physical_size", INT, SRO) },
    { FIELD("type", STRING, SRO) },
    { FIELD("content_type", STRING, SRO) },
    { FIELD("shared", BOOL, DRO) },
    F_OTHER,
    { FIELD("sm_config", MAP, DRO) },
};

static const struct pool_field pbd_fields[] = {
    F_UUID,
    F_REF("host", SRO, HOST, CASCADE),
    F_REF("SR", SRO, SR, CASCADE),
    { FIELD("device_config", MAP, SRO) },
    { FIELD("currently_attached", BOOL, DRO) },
    F_OTHER,
};

static const struct pool_field network_fields[] = {
    F_UUID,
    F_NAMES(RW),
    F_OPS,
    F_SET("VIFs", VIF, "network"),
    { FIELD("MTU", INT, RW), .def = "1500" },
    F_OTHER,
    { FIELD("bridge", STRING, SRO) },
    { FIELD("managed", BOOL, SRO), .def = "true" },
};

static const struct pool_field vif_fields[] = {
    F_UUID,
    F_OPS,
    { FIELD("device", STRING, SRO) },
    F_REF("network", SRO, NETWORK, RESTRICT),
    F_REF("VM", SRO, VM, CASCADE),
    { FIELD("MAC", STRING, SRO) },
    { FIELD("MTU", INT, SRO), .def = "1500" },
    { FIELD("currently_attached", BOOL, DRO) },
    F_OTHER,
    { FIELD("MAC_autogenerated", BOOL, DRO) },
};

static const struct pool_field task_fields[] = {
    F_UUID,
    F_NAMES(DRO),
    F_OPS,
    { FIELD("created", DATETIME, DRO), .def = "now" },
    { FIELD("finished", DATETIME, DRO) },
    F_ENUM("status", DRO, task_statuses, "pending"),
    F_REF("resident_on", DRO, HOST, SET_NULL),
    { FIELD("progress", FLOAT, DRO) },
    { FIELD("result", STRING, DRO) },
    { FIELD("error_info", STRING_SET, DRO) },
    F_OTHER,
};

static const struct pool_field session_fields[] = {
    F_UUID,
    F_REF("this_host", DRO, HOST, SET_NULL),
    F_REF("this_user", DRO, USER, SET_NULL),
    { FIELD("last_active", DATETIME, DRO), .def = "now" },
    { FIELD("pool", BOOL, DRO) },
    F_OTHER,
    { FIELD("is_local_superuser", BOOL, DRO) },
    { FIELD("auth_user_name", STRING, DRO) },
};

static const struct pool_field user_fields[] = {
    F_UUID,
    { FIELD("short_name", STRING, SRO) },
    { FIELD("fullname", STRING, RW) },
    /* The hash is computed elsewhere; never leaves the daemon. */
    { FIELD("password_hash", STRING, DRO), .internal = true },
    F_OTHER,
};

#define CLASS(i, n, f, ev) \
    [POOL_CLASS_##i] = { .id = POOL_CLASS_##i, .name = (n), .fields = (f), \
                         .nfields = ARRAY_SIZE(f), .events = (ev) }

/* A storage driver, as XAPI lists its SM plugins (schema version 2). */
static const struct pool_field sm_fields[] = {
    F_UUID,
    F_NAMES(SRO),
    { FIELD("type", STRING, SRO) },
    { FIELD("vendor", STRING, SRO) },
    { FIELD("copyright", STRING, SRO) },
    { FIELD("version", STRING, SRO) },
    { FIELD("required_api_version", STRING, SRO) },
    { FIELD("configuration", MAP, SRO) },
    { FIELD("capabilities", STRING_SET, SRO) },
    { FIELD("features", MAP, SRO) },
    F_OTHER,
    { FIELD("driver_filename", STRING, SRO) },
    { FIELD("required_cluster_stack", STRING_SET, SRO) },
};

static const struct pool_class classes[POOL_CLASS_COUNT] = {
    CLASS(POOL, "pool", pool_fields, true),
    CLASS(HOST, "host", host_fields, true),
    CLASS(VM, "VM", vm_fields, true),
    CLASS(VBD, "VBD", vbd_fields, true),
    CLASS(VDI, "VDI", vdi_fields, true),
    CLASS(SR, "SR", sr_fields, true),
    CLASS(PBD, "PBD", pbd_fields, true),
    CLASS(NETWORK, "network", network_fields, true),
    CLASS(VIF, "VIF", vif_fields, true),
    CLASS(TASK, "task", task_fields, true),
    /* Session refs are secrets: they never enter the event log. */
    CLASS(SESSION, "session", session_fields, false),
    CLASS(USER, "user", user_fields, false),
    CLASS(SM, "SM", sm_fields, true),
};

const struct pool_class *pool_class_get(enum pool_class_id id)
{
    if ((unsigned)id >= POOL_CLASS_COUNT)
        return NULL;
    return &classes[id];
}

const struct pool_class *pool_class_find(const char *name)
{
    size_t i;

    if (!name)
        return NULL;
    for (i = 0; i < POOL_CLASS_COUNT; i++)
        if (strcasecmp(classes[i].name, name) == 0)
            return &classes[i];
    return NULL;
}

const struct pool_field *pool_class_field(const struct pool_class *cls,
                                          const char *name)
{
    size_t i;

    if (!cls || !name)
        return NULL;
    for (i = 0; i < cls->nfields; i++)
        if (strcmp(cls->fields[i].name, name) == 0)
            return &cls->fields[i];
    return NULL;
}

const char *pool_ftype_name(enum pool_ftype type)
{
    static const char *const names[] = {
        [POOL_FT_STRING] = "string",
        [POOL_FT_INT] = "int",
        [POOL_FT_BOOL] = "bool",
        [POOL_FT_FLOAT] = "float",
        [POOL_FT_DATETIME] = "datetime",
        [POOL_FT_ENUM] = "enum",
        [POOL_FT_REF] = "ref",
        [POOL_FT_REF_SET] = "ref set",
        [POOL_FT_STRING_SET] = "string set",
        [POOL_FT_MAP] = "map",
    };

    if ((unsigned)type >= ARRAY_SIZE(names))
        return "unknown";
    return names[type];
}

bool pool_ref_is_null(const char *ref)
{
    return !ref || !*ref || strcmp(ref, POOL_NULL_REF) == 0;
}
