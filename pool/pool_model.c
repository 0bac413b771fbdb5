/*
 * pool_model.c - the object model: classes and their fields, in XenAPI
 * record order, after xapi's datamodel: the fields xm-pool uses, stored,
 * and the rest of XAPI's record as constant fields (K*), so that every
 * field XAPI always sends is there (tests/data/xapi-fields.txt, checked
 * by tests/unit/pool/test_xapi_fields).
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

#define F_UUID     { FIELD("uuid", STRING, DRO) }
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

/* Constant fields (pool_field.constant): the rest of XAPI's record, that
 * xm-pool does not model.  No column of their own: every record has the
 * default, the type's zero or d (a set or map as JSON text), until a
 * client sets one XAPI lets it set (access RW: kept in the row's xm_set);
 * K_TO names the target of a ref or ref set when it is a modelled class. */
#define K(n, t, a)          { FIELD(n, t, a), .constant = true }
#define K_DEF(n, t, a, d)   { FIELD(n, t, a), .def = (d), .constant = true }
#define K_TO(n, t, a, cls) \
    { FIELD(n, t, a), .target = POOL_CLASS_##cls, .constant = true }
#define K_ENUM(n, a, values, d) \
    { FIELD(n, ENUM, a), .enum_values = (values), .def = (d), \
      .constant = true }

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
/* Enums of constant fields, as XAPI spells them. */
static const char *const e_telemetry_frequency[] = {
    "daily", "weekly", "monthly", NULL
};
static const char *const e_update_sync_frequency[] = {
    "daily", "weekly", NULL
};
static const char *const e_host_display[] = {
    "enabled", "disable_on_reboot", "disabled", "enable_on_reboot", NULL
};
static const char *const e_latest_synced_updates_applied_state[] = {
    "yes", "no", "unknown", NULL
};
static const char *const e_host_numa_affinity_policy[] = {
    "any", "best_effort", "default_policy", NULL
};
static const char *const e_host_ntp_mode[] = {
    "DHCP", "Custom", "Factory", "Disabled", NULL
};
static const char *const e_on_softreboot_behavior[] = {
    "soft_reboot", "destroy", "restart", "preserve", NULL
};
static const char *const e_on_normal_exit[] = { "destroy", "restart", NULL };
static const char *const e_on_crash_behaviour[] = {
    "destroy", "coredump_and_destroy", "restart", "coredump_and_restart",
    "preserve", "rename_restart", NULL
};
static const char *const e_domain_type[] = {
    "hvm", "pv", "pv_in_pvh", "pvh", "unspecified", NULL
};
static const char *const e_vm_secureboot_certificates_state[] = {
    "ok", "update_available", "update_on_boot", NULL
};
static const char *const e_on_boot[] = { "reset", "persist", NULL };
static const char *const e_network_default_locking_mode[] = {
    "unlocked", "disabled", NULL
};
static const char *const e_vif_locking_mode[] = {
    "network_default", "locked", "unlocked", "disabled", NULL
};
static const char *const e_vif_ipv4_configuration_mode[] = {
    "None", "Static", "DHCP", NULL
};
static const char *const e_vif_ipv6_configuration_mode[] = {
    "None", "Static", "Autoconf", NULL
};

static const struct pool_field pool_fields[] = {
    F_UUID,
    F_NAMES(RW),
    F_REF("master", DRO, HOST, SET_NULL),
    F_REF("default_SR", RW, SR, SET_NULL),
    K_TO("suspend_image_SR", REF, RW, SR),
    K_TO("crash_dump_SR", REF, RW, SR),
    F_OTHER,
    K("ha_enabled", BOOL, DRO),
    K("ha_configuration", MAP, DRO),
    K("ha_statefiles", STRING_SET, DRO),
    K("ha_host_failures_to_tolerate", INT, DRO),
    K("ha_plan_exists_for", INT, DRO),
    K("ha_allow_overcommit", BOOL, RW),
    K("ha_overcommitted", BOOL, DRO),
    K("blobs", MAP, DRO),
    K("tags", STRING_SET, RW),
    K("gui_config", MAP, RW),
    K("health_check_config", MAP, RW),
    K("wlb_url", STRING, DRO),
    K("wlb_username", STRING, DRO),
    K("wlb_enabled", BOOL, RW),
    K("wlb_verify_cert", BOOL, RW),
    K("redo_log_enabled", BOOL, DRO),
    K_TO("redo_log_vdi", REF, DRO, VDI),
    K("vswitch_controller", STRING, DRO),
    K("restrictions", MAP, DRO),
    K_TO("metadata_VDIs", REF_SET, DRO, VDI),
    K("ha_cluster_stack", STRING, DRO),
    K("allowed_operations", STRING_SET, DRO),
    K("current_operations", MAP, DRO),
    K("guest_agent_config", MAP, DRO),
    K("cpu_info", MAP, DRO),
    K("policy_no_vendor_device", BOOL, RW),
    K("live_patching_disabled", BOOL, RW),
    K("igmp_snooping_enabled", BOOL, DRO),
    K("uefi_certificates", STRING, SRO),
    K("custom_uefi_certificates", STRING, SRO),
    K("is_psr_pending", BOOL, RW),
    K("tls_verification_enabled", BOOL, DRO),
    K("repositories", REF_SET, DRO),
    K("client_certificate_auth_enabled", BOOL, DRO),
    K("client_certificate_auth_name", STRING, DRO),
    K("repository_proxy_url", STRING, DRO),
    K("repository_proxy_username", STRING, DRO),
    K_TO("repository_proxy_password", REF, DRO, SECRET),
    { FIELD("migration_compression", BOOL, RW) },
    K_DEF("coordinator_bias", BOOL, RW, "true"),
    K_DEF("local_auth_max_threads", INT, SRO, "8"),
    K_DEF("ext_auth_max_threads", INT, SRO, "1"),
    K_DEF("ext_auth_cache_enabled", BOOL, DRO, "true"),
    K_DEF("ext_auth_cache_size", INT, DRO, "50"),
    K_DEF("ext_auth_cache_expiry", INT, DRO, "300"),
    K_TO("telemetry_uuid", REF, DRO, SECRET),
    K_ENUM("telemetry_frequency", DRO, e_telemetry_frequency, "weekly"),
    K("telemetry_next_collection", DATETIME, DRO),
    K("last_update_sync", DATETIME, DRO),
    K_ENUM("update_sync_frequency", DRO, e_update_sync_frequency, "weekly"),
    K("update_sync_day", INT, DRO),
    K("update_sync_enabled", BOOL, DRO),
    K("recommendations", MAP, DRO),
    K("license_server", MAP, RW),
    K_DEF("ha_reboot_vm_on_internal_shutdown", BOOL, RW, "true"),
    K("limit_console_sessions", BOOL, RW),
    K("vm_console_idle_timeout", INT, RW),
    K("auto_update_vm_secureboot_certificates", BOOL, RW),
    /* xm-pool's own, not in XAPI's record */
    F_REF("migration_network", RW, NETWORK, SET_NULL),
};

static const struct pool_field host_fields[] = {
    F_UUID,
    F_NAMES(RW),
    K("memory_overhead", INT, DRO),
    F_OPS,
    { FIELD("API_version_major", INT, DRO) },
    { FIELD("API_version_minor", INT, DRO) },
    K("API_version_vendor", STRING, DRO),
    K("API_version_vendor_implementation", MAP, DRO),
    { FIELD("enabled", BOOL, DRO) },
    { FIELD("software_version", MAP, SRO) },
    F_OTHER,
    K("capabilities", STRING_SET, SRO),
    K("cpu_configuration", MAP, DRO),
    K("sched_policy", STRING, DRO),
    K("supported_bootloaders", STRING_SET, DRO),
    F_SET("resident_VMs", VM, "resident_on"),
    K("logging", MAP, RW),
    F_SET("PIFs", PIF, "host"),
    K_TO("suspend_image_sr", REF, RW, SR),
    K_TO("crash_dump_sr", REF, RW, SR),
    K("crashdumps", REF_SET, DRO),
    K("patches", REF_SET, DRO),
    K("updates", REF_SET, DRO),
    F_SET("PBDs", PBD, "host"),
    F_SET("host_CPUs", HOST_CPU, "host"),
    K("cpu_info", MAP, DRO),
    { FIELD("hostname", STRING, DRO) },
    { FIELD("address", STRING, SRO) },
    F_REF("metrics", DRO, HOST_METRICS, SET_NULL),
    K("license_params", MAP, DRO),
    K("ha_statefiles", STRING_SET, DRO),
    K("ha_network_peers", STRING_SET, DRO),
    K("blobs", MAP, DRO),
    K("tags", STRING_SET, RW),
    K("external_auth_type", STRING, DRO),
    K("external_auth_service_name", STRING, DRO),
    K("external_auth_configuration", MAP, DRO),
    K("edition", STRING, DRO),
    K_DEF("license_server", MAP, RW,
        "{\"address\":\"localhost\",\"port\":\"27000\"}"),
    K("bios_strings", MAP, DRO),
    K("power_on_mode", STRING, DRO),
    K("power_on_config", MAP, DRO),
    K_TO("local_cache_sr", REF, SRO, SR),
    K("chipset_info", MAP, DRO),
    K("PCIs", REF_SET, DRO),
    K("PGPUs", REF_SET, DRO),
    K("PUSBs", REF_SET, DRO),
    K_DEF("ssl_legacy", BOOL, SRO, "true"),
    K("guest_VCPUs_params", MAP, RW),
    K_ENUM("display", RW, e_host_display, "enabled"),
    K_DEF("virtual_hardware_platform_versions", STRING_SET, DRO, "[\"0\"]"),
    K_TO("control_domain", REF, DRO, VM),
    K("updates_requiring_reboot", REF_SET, DRO),
    K("features", REF_SET, DRO),
    K("iscsi_iqn", STRING, SRO),
    K("multipathing", BOOL, SRO),
    K("uefi_certificates", STRING, SRO),
    K("certificates", REF_SET, DRO),
    K("editions", STRING_SET, DRO),
    K("pending_guidances", STRING_SET, DRO),
    K("tls_verification_enabled", BOOL, DRO),
    K("last_software_update", DATETIME, DRO),
    K("https_only", BOOL, DRO),
    K_ENUM("latest_synced_updates_applied", DRO,
        e_latest_synced_updates_applied_state, "unknown"),
    K_ENUM("numa_affinity_policy", DRO, e_host_numa_affinity_policy,
        "default_policy"),
    K("pending_guidances_recommended", STRING_SET, DRO),
    K("pending_guidances_full", STRING_SET, DRO),
    K("last_update_hash", STRING, DRO),
    K_DEF("ssh_enabled", BOOL, DRO, "true"),
    K("ssh_enabled_timeout", INT, DRO),
    K("ssh_expiry", DATETIME, DRO),
    K("console_idle_timeout", INT, DRO),
    K("ssh_auto_mode", BOOL, DRO),
    K("max_cstate", STRING, DRO),
    K("secure_boot", BOOL, DRO),
    K_ENUM("ntp_mode", DRO, e_host_ntp_mode, "Factory"),
    K("ntp_custom_servers", STRING_SET, DRO),
    K_DEF("timezone", STRING, DRO, "UTC"),
    /* xm-pool's own, not in XAPI's record */
    { FIELD("live", BOOL, DRO) },
    { FIELD("memory_total", INT, DRO) },
    { FIELD("memory_free", INT, DRO) },
    { FIELD("migration_address", STRING, RW) },
};

static const struct pool_field vm_fields[] = {
    F_UUID,
    F_OPS,
    F_NAMES(RW),
    F_ENUM("power_state", SRO, vm_power_states, "Halted"),
    K("user_version", INT, RW),
    { FIELD("is_a_template", BOOL, RW) },
    K("is_default_template", BOOL, DRO),
    K_TO("suspend_VDI", REF, SRO, VDI),
    F_REF("resident_on", DRO, HOST, SET_NULL),
    F_REF("scheduled_to_be_resident_on", DRO, HOST, SET_NULL),
    F_REF("affinity", RW, HOST, SET_NULL),
    K("memory_overhead", INT, DRO),
    K("memory_target", INT, SRO),
    { FIELD("memory_static_max", INT, RW) },
    { FIELD("memory_dynamic_max", INT, RW) },
    { FIELD("memory_dynamic_min", INT, RW) },
    { FIELD("memory_static_min", INT, RW) },
    K("VCPUs_params", MAP, RW),
    { FIELD("VCPUs_max", INT, RW), .def = "1" },
    { FIELD("VCPUs_at_startup", INT, RW), .def = "1" },
    K_ENUM("actions_after_softreboot", RW, e_on_softreboot_behavior,
        "soft_reboot"),
    K_ENUM("actions_after_shutdown", RW, e_on_normal_exit, "destroy"),
    K_ENUM("actions_after_reboot", RW, e_on_normal_exit, "destroy"),
    K_ENUM("actions_after_crash", SRO, e_on_crash_behaviour, "destroy"),
    F_SET("consoles", CONSOLE, "VM"),
    F_SET("VIFs", VIF, "VM"),
    F_SET("VBDs", VBD, "VM"),
    K("VUSBs", REF_SET, DRO),
    K("crash_dumps", REF_SET, DRO),
    K("VTPMs", REF_SET, DRO),
    K("PV_bootloader", STRING, RW),
    K("PV_kernel", STRING, RW),
    K("PV_ramdisk", STRING, RW),
    K("PV_args", STRING, RW),
    K("PV_bootloader_args", STRING, RW),
    K("PV_legacy_args", STRING, RW),
    K("HVM_boot_policy", STRING, SRO),
    K("HVM_boot_params", MAP, RW),
    K_DEF("HVM_shadow_multiplier", FLOAT, SRO, "1.0"),
    K("platform", MAP, SRO),
    K("PCI_bus", STRING, RW),
    F_OTHER,
    { FIELD("domid", INT, DRO), .def = "-1" },
    K("domarch", STRING, DRO),
    K("last_boot_CPU_flags", MAP, SRO),
    { FIELD("is_control_domain", BOOL, DRO) },
    F_REF("metrics", DRO, VM_METRICS, SET_NULL),
    /* No guest agent: always OpaqueRef:NULL, as XAPI's for a VM without
     * tools. */
    K_TO("guest_metrics", REF, DRO, VM_GUEST_METRICS),
    K("last_booted_record", STRING, SRO),
    K("recommendations", STRING, RW),
    K("xenstore_data", MAP, RW),
    K("ha_always_run", BOOL, SRO),
    K("ha_restart_priority", STRING, SRO),
    K("is_a_snapshot", BOOL, DRO),
    K_TO("snapshot_of", REF, DRO, VM),
    K_TO("snapshots", REF_SET, DRO, VM),
    K("snapshot_time", DATETIME, DRO),
    K("transportable_snapshot_id", STRING, DRO),
    K("blobs", MAP, DRO),
    K("tags", STRING_SET, RW),
    K("blocked_operations", MAP, SRO),
    K("snapshot_info", MAP, DRO),
    K("snapshot_metadata", STRING, DRO),
    K_TO("parent", REF, DRO, VM),
    K_TO("children", REF_SET, DRO, VM),
    K("bios_strings", MAP, DRO),
    K("protection_policy", REF, SRO),
    K("is_snapshot_from_vmpp", BOOL, SRO),
    K("snapshot_schedule", REF, SRO),
    K("is_vmss_snapshot", BOOL, SRO),
    K("appliance", REF, SRO),
    K("start_delay", INT, SRO),
    K("shutdown_delay", INT, SRO),
    K("order", INT, SRO),
    K("VGPUs", REF_SET, DRO),
    K("attached_PCIs", REF_SET, DRO),
    K_TO("suspend_SR", REF, RW, SR),
    K("version", INT, SRO),
    K_DEF("generation_id", STRING, SRO, "0:0"),
    K("hardware_platform_version", INT, RW),
    K_DEF("has_vendor_device", BOOL, SRO, "true"),
    K("requires_reboot", BOOL, DRO),
    K("reference_label", STRING, SRO),
    K_ENUM("domain_type", SRO, e_domain_type, "unspecified"),
    K("NVRAM", MAP, SRO),
    K("pending_guidances", STRING_SET, DRO),
    K("pending_guidances_recommended", STRING_SET, DRO),
    K("pending_guidances_full", STRING_SET, DRO),
    K("groups", REF_SET, DRO),
    K_ENUM("secureboot_certificates_state", DRO,
        e_vm_secureboot_certificates_state, "ok"),
};

static const struct pool_field vbd_fields[] = {
    F_UUID,
    F_OPS,
    F_REF("VM", SRO, VM, CASCADE),
    F_REF("VDI", SRO, VDI, SET_NULL),
    { FIELD("device", STRING, SRO) },
    { FIELD("userdevice", STRING, RW) },
    { FIELD("bootable", BOOL, RW) },
    F_ENUM("mode", RW, vbd_modes, "RW"),
    F_ENUM("type", RW, vbd_types, "Disk"),
    { FIELD("unpluggable", BOOL, RW), .def = "true" },
    K("storage_lock", BOOL, DRO),
    { FIELD("empty", BOOL, SRO) },
    F_OTHER,
    { FIELD("currently_attached", BOOL, SRO) },
    K("status_code", INT, DRO),
    K("status_detail", STRING, DRO),
    K("runtime_properties", MAP, DRO),
    K("qos_algorithm_type", STRING, RW),
    K("qos_algorithm_params", MAP, RW),
    K("qos_supported_algorithms", STRING_SET, DRO),
    K("metrics", REF, DRO),
};

static const struct pool_field vdi_fields[] = {
    F_UUID,
    F_NAMES(RW),
    F_OPS,
    F_REF("SR", SRO, SR, CASCADE),
    F_SET("VBDs", VBD, "VDI"),
    K("crash_dumps", REF_SET, DRO),
    { FIELD("virtual_size", INT, SRO) },
    { FIELD("physical_utilisation", INT, DRO) },
    F_ENUM("type", SRO, vdi_types, "user"),
    { FIELD("sharable", BOOL, SRO) },
    { FIELD("read_only", BOOL, SRO) },
    F_OTHER,
    K("storage_lock", BOOL, DRO),
    { FIELD("location", STRING, DRO) },
    { FIELD("managed", BOOL, DRO), .def = "true" },
    { FIELD("missing", BOOL, DRO) },
    K_TO("parent", REF, DRO, VDI),
    K("xenstore_data", MAP, RW),
    { FIELD("sm_config", MAP, DRO) },
    /* schema version 2 */
    { FIELD("is_a_snapshot", BOOL, DRO) },
    F_REF("snapshot_of", DRO, VDI, SET_NULL),
    F_SET("snapshots", VDI, "snapshot_of"),
    { FIELD("snapshot_time", DATETIME, DRO) },
    K("tags", STRING_SET, RW),
    K("allow_caching", BOOL, DRO),
    K_ENUM("on_boot", DRO, e_on_boot, "persist"),
    K_TO("metadata_of_pool", REF, DRO, POOL),
    K("metadata_latest", BOOL, DRO),
    K("is_tools_iso", BOOL, DRO),
    K("cbt_enabled", BOOL, DRO),
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
    K("tags", STRING_SET, RW),
    { FIELD("sm_config", MAP, DRO) },
    K("blobs", MAP, DRO),
    K("local_cache_enabled", BOOL, DRO),
    K("introduced_by", REF, DRO),
    K("clustered", BOOL, DRO),
    K("is_tools_sr", BOOL, DRO),
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
    F_SET("PIFs", PIF, "network"),
    { FIELD("MTU", INT, RW), .def = "1500" },
    F_OTHER,
    { FIELD("bridge", STRING, SRO) },
    { FIELD("managed", BOOL, SRO), .def = "true" },
    K("blobs", MAP, DRO),
    K("tags", STRING_SET, RW),
    K_ENUM("default_locking_mode", DRO, e_network_default_locking_mode,
        "unlocked"),
    K("assigned_ips", MAP, DRO),
    K("purpose", STRING_SET, DRO),
};

static const struct pool_field vif_fields[] = {
    F_UUID,
    F_OPS,
    { FIELD("device", STRING, SRO) },
    F_REF("network", SRO, NETWORK, RESTRICT),
    F_REF("VM", SRO, VM, CASCADE),
    { FIELD("MAC", STRING, SRO) },
    { FIELD("MTU", INT, SRO), .def = "1500" },
    F_OTHER,
    { FIELD("currently_attached", BOOL, SRO) },
    K("status_code", INT, DRO),
    K("status_detail", STRING, DRO),
    K("runtime_properties", MAP, DRO),
    K("qos_algorithm_type", STRING, RW),
    K("qos_algorithm_params", MAP, RW),
    K("qos_supported_algorithms", STRING_SET, DRO),
    K("metrics", REF, DRO),
    { FIELD("MAC_autogenerated", BOOL, DRO) },
    K_ENUM("locking_mode", SRO, e_vif_locking_mode, "network_default"),
    K("ipv4_allowed", STRING_SET, SRO),
    K("ipv6_allowed", STRING_SET, SRO),
    K_ENUM("ipv4_configuration_mode", DRO, e_vif_ipv4_configuration_mode,
        "None"),
    K("ipv4_addresses", STRING_SET, DRO),
    K("ipv4_gateway", STRING, DRO),
    K_ENUM("ipv6_configuration_mode", DRO, e_vif_ipv6_configuration_mode,
        "None"),
    K("ipv6_addresses", STRING_SET, DRO),
    K("ipv6_gateway", STRING, DRO),
    K("trunks", STRING_SET, SRO),
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
    K("type", STRING, DRO),
    { FIELD("result", STRING, DRO) },
    { FIELD("error_info", STRING_SET, DRO) },
    F_OTHER,
    K_TO("subtask_of", REF, DRO, TASK),
    K_TO("subtasks", REF_SET, DRO, TASK),
    K_DEF("backtrace", STRING, DRO, "()"),
};

static const struct pool_field session_fields[] = {
    F_UUID,
    F_REF("this_host", DRO, HOST, SET_NULL),
    F_REF("this_user", DRO, USER, SET_NULL),
    { FIELD("last_active", DATETIME, DRO), .def = "now" },
    { FIELD("pool", BOOL, DRO) },
    F_OTHER,
    { FIELD("is_local_superuser", BOOL, DRO) },
    K("subject", REF, DRO),
    K("validation_time", DATETIME, DRO),
    K("auth_user_sid", STRING, DRO),
    { FIELD("auth_user_name", STRING, DRO) },
    K("rbac_permissions", STRING_SET, SRO),
    K_TO("tasks", REF_SET, DRO, TASK),
    K_TO("parent", REF, SRO, SESSION),
    K("originator", STRING, DRO),
    K("client_certificate", BOOL, DRO),
};

static const struct pool_field user_fields[] = {
    F_UUID,
    { FIELD("short_name", STRING, SRO) },
    { FIELD("fullname", STRING, RW) },
    F_OTHER,
    /* xm-pool's own, not in XAPI's record */
    /* The hash is computed elsewhere; never leaves the daemon. */
    { FIELD("password_hash", STRING, DRO), .internal = true },
};

#define CLASS(i, n, f, ev) \
    [POOL_CLASS_##i] = { .id = POOL_CLASS_##i, .name = (n), .fields = (f), \
                         .nfields = ARRAY_SIZE(f), .events = (ev) }

/* A storage driver, as XAPI lists its SM plugins (schema version 2). */
static const struct pool_field sm_fields[] = {
    F_UUID,
    F_NAMES(DRO),
    { FIELD("type", STRING, DRO) },
    { FIELD("vendor", STRING, DRO) },
    { FIELD("copyright", STRING, DRO) },
    { FIELD("version", STRING, DRO) },
    { FIELD("required_api_version", STRING, DRO) },
    { FIELD("configuration", MAP, DRO) },
    { FIELD("capabilities", STRING_SET, DRO) },
    { FIELD("features", MAP, DRO) },
    F_OTHER,
    { FIELD("driver_filename", STRING, DRO) },
    { FIELD("required_cluster_stack", STRING_SET, DRO) },
    K("supported_image_formats", STRING_SET, DRO),
};

/* Schema version 3: what management GUIs list.  A message (an alert):
 * written by the daemon or message.create, never changed; XAPI's cls
 * enum as it spells it. */
static const char *const message_classes[] = {
    "VM", "Host", "SR", "Pool", "VMPP", "VMSS", "PVS_proxy", "VDI",
    "Certificate", NULL
};

static const struct pool_field message_fields[] = {
    F_UUID,
    { FIELD("name", STRING, DRO) },
    { FIELD("priority", INT, DRO) },
    F_ENUM("cls", DRO, message_classes, "VM"),
    { FIELD("obj_uuid", STRING, DRO) },
    { FIELD("timestamp", DATETIME, DRO), .def = "now" },
    { FIELD("body", STRING, DRO) },
};

/* A secret: a value other objects name by uuid (a password).  Its value
 * is in its record, as XAPI's; the class has no events (see classes[]). */
static const struct pool_field secret_fields[] = {
    F_UUID,
    { FIELD("value", STRING, RW) },
    F_OTHER,
};

/* A role: XAPI's static roles, written by the migration to version 3
 * (pool_schema.c), read-only.  xm-pool has no permissions: subroles is
 * empty (XAPI lists the permissions there, as internal roles). */
static const struct pool_field role_fields[] = {
    F_UUID,
    F_NAMES(SRO),
    K_TO("subroles", REF_SET, SRO, ROLE),
    K("is_internal", BOOL, DRO),
};

/* Schema version 4: the rest of what management GUIs list.  A host's
 * metrics: one per host, made with it and gone with it (its internal
 * ref "host"); the host record's memory and liveness, copied when they
 * change (daemon/pd_metrics.c), last_updated then. */
static const struct pool_field host_metrics_fields[] = {
    F_UUID,
    { FIELD("memory_total", INT, DRO) },
    { FIELD("memory_free", INT, DRO) },
    { FIELD("live", BOOL, DRO) },
    { FIELD("last_updated", DATETIME, DRO) },
    F_OTHER,
    /* xm-pool's own, not in XAPI's record */
    { FIELD("host", REF, DRO), .target = POOL_CLASS_HOST,
      .ondelete = POOL_DEL_CASCADE, .internal = true },
};

/* One per processor of a host, from its /proc/cpuinfo as its daemon
 * says (host_local.hello).  No CPUID feature words (features) nor a
 * measured utilisation here: constants. */
static const struct pool_field host_cpu_fields[] = {
    F_UUID,
    F_REF("host", DRO, HOST, CASCADE),
    { FIELD("number", INT, DRO) },
    { FIELD("vendor", STRING, DRO) },
    { FIELD("speed", INT, DRO) },
    { FIELD("modelname", STRING, DRO) },
    { FIELD("family", INT, DRO) },
    { FIELD("model", INT, DRO) },
    { FIELD("stepping", STRING, DRO) },
    { FIELD("flags", STRING, DRO) },
    K("features", STRING, DRO),
    K("utilisation", FLOAT, DRO),
    F_OTHER,
};

/* A VM's metrics: one per VM, made with it and gone with it (internal
 * ref "VM"); what its power state says (xa_vm_set_running). */
static const struct pool_field vm_metrics_fields[] = {
    F_UUID,
    { FIELD("memory_actual", INT, DRO) },
    { FIELD("VCPUs_number", INT, DRO) },
    K("VCPUs_utilisation", MAP, DRO),
    K("VCPUs_CPU", MAP, DRO),
    K("VCPUs_params", MAP, DRO),
    K("VCPUs_flags", MAP, DRO),
    { FIELD("state", STRING_SET, DRO) },
    { FIELD("start_time", DATETIME, DRO) },
    { FIELD("install_time", DATETIME, DRO), .def = "now" },
    { FIELD("last_updated", DATETIME, DRO) },
    F_OTHER,
    K("hvm", BOOL, DRO),
    K("nested_virt", BOOL, DRO),
    K("nomigrate", BOOL, DRO),
    K_ENUM("current_domain_type", DRO, e_domain_type, "unspecified"),
    K("numa_optimised", BOOL, SRO),
    K("numa_nodes", INT, SRO),
    K("numa_node_memory", MAP, DRO),
    /* xm-pool's own, not in XAPI's record */
    { FIELD("VM", REF, DRO), .target = POOL_CLASS_VM,
      .ondelete = POOL_DEL_CASCADE, .internal = true },
};

/* What a guest agent reports.  xm-pool has none: the class is served
 * with no objects (VM.guest_metrics stays OpaqueRef:NULL, as XAPI's for
 * a VM without tools). */
static const char *const e_tristate[] = { "yes", "no", "unspecified", NULL };

static const struct pool_field vm_guest_metrics_fields[] = {
    F_UUID,
    K("os_version", MAP, DRO),
    K("netbios_name", MAP, DRO),
    K("PV_drivers_version", MAP, DRO),
    K("PV_drivers_up_to_date", BOOL, DRO),
    K("memory", MAP, DRO),
    K("disks", MAP, DRO),
    K("networks", MAP, DRO),
    K("other", MAP, DRO),
    K("last_updated", DATETIME, DRO),
    F_OTHER,
    K("live", BOOL, DRO),
    K_ENUM("can_use_hotplug_vbd", DRO, e_tristate, "unspecified"),
    K_ENUM("can_use_hotplug_vif", DRO, e_tristate, "unspecified"),
    K("PV_drivers_detected", BOOL, DRO),
    K("services", MAP, DRO),
};

/* A VM's console.  xm-pool's VMs have none: no objects (VM.consoles is
 * empty, as XAPI's for a VM without a console). */
static const char *const console_protocols[] = {
    "vt100", "rfb", "rdp", NULL
};

static const struct pool_field console_fields[] = {
    F_UUID,
    F_ENUM("protocol", DRO, console_protocols, "vt100"),
    { FIELD("location", STRING, DRO) },
    F_REF("VM", DRO, VM, CASCADE),
    F_OTHER,
};

/* A host's interface on a network.  xm-pool has no NIC model: one PIF
 * per host per network (every network is pool-wide), on the network's
 * bridge, with the host's address on it (daemon/pd_metrics.c); the
 * NIC's facts XAPI has (MAC, netmask, gateway, bonds, VLANs) are not
 * known: empty or constant. */
static const char *const e_ip_configuration_mode[] = {
    "None", "DHCP", "Static", NULL
};
static const char *const e_ipv6_configuration_mode[] = {
    "None", "DHCP", "Static", "Autoconf", NULL
};
static const char *const e_primary_address_type[] = { "IPv4", "IPv6", NULL };
static const char *const e_pif_igmp_status[] = {
    "enabled", "disabled", "unknown", NULL
};

static const struct pool_field pif_fields[] = {
    F_UUID,
    { FIELD("device", STRING, SRO) },
    F_REF("network", SRO, NETWORK, CASCADE),
    F_REF("host", SRO, HOST, CASCADE),
    { FIELD("MAC", STRING, SRO) },
    { FIELD("MTU", INT, SRO) },
    { FIELD("VLAN", INT, SRO) },
    K("metrics", REF, DRO),
    K("physical", BOOL, DRO),
    { FIELD("currently_attached", BOOL, DRO), .def = "true" },
    F_ENUM("ip_configuration_mode", DRO, e_ip_configuration_mode, "None"),
    { FIELD("IP", STRING, DRO) },
    K("netmask", STRING, DRO),
    K("gateway", STRING, DRO),
    K("DNS", STRING, DRO),
    K("bond_slave_of", REF, DRO),
    K("bond_master_of", REF_SET, DRO),
    K("VLAN_master_of", REF, DRO),
    K("VLAN_slave_of", REF_SET, DRO),
    { FIELD("management", BOOL, DRO) },
    F_OTHER,
    K("disallow_unplug", BOOL, DRO),
    K("tunnel_access_PIF_of", REF_SET, DRO),
    K("tunnel_transport_PIF_of", REF_SET, DRO),
    K_ENUM("ipv6_configuration_mode", DRO, e_ipv6_configuration_mode,
        "None"),
    K("IPv6", STRING_SET, DRO),
    K("ipv6_gateway", STRING, DRO),
    K_ENUM("primary_address_type", DRO, e_primary_address_type, "IPv4"),
    K_DEF("managed", BOOL, SRO, "true"),
    K("properties", MAP, DRO),
    K("capabilities", STRING_SET, DRO),
    K_ENUM("igmp_snooping_status", DRO, e_pif_igmp_status, "unknown"),
    K("sriov_physical_PIF_of", REF_SET, DRO),
    K("sriov_logical_PIF_of", REF_SET, DRO),
    K("PCI", REF, DRO),
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
    CLASS(MESSAGE, "message", message_fields, true),
    /* Nor do secrets: an event.from snapshot would carry the value to
     * every session following "*"; clients read them by their calls. */
    CLASS(SECRET, "secret", secret_fields, false),
    CLASS(ROLE, "role", role_fields, true),
    CLASS(HOST_METRICS, "host_metrics", host_metrics_fields, true),
    CLASS(HOST_CPU, "host_cpu", host_cpu_fields, true),
    CLASS(VM_METRICS, "VM_metrics", vm_metrics_fields, true),
    CLASS(VM_GUEST_METRICS, "VM_guest_metrics", vm_guest_metrics_fields,
          true),
    CLASS(CONSOLE, "console", console_fields, true),
    CLASS(PIF, "PIF", pif_fields, true),
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
