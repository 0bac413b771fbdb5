/*
 * api_errors.c - the one table of XenAPI error codes xm-pool answers with,
 * and the default code of an errno.
 *
 * Codes and parameter lists follow xapi's (ocaml/idl/datamodel_errors.ml),
 * so that existing XenAPI clients recognise them; the meanings are ours.
 * JSONRPC_UNMARSHAL_FAILURE is an xm-pool code: xapi answers a malformed
 * JSON-RPC request with HTTP 500, we answer it like a malformed XML-RPC one.
 * Keep the table sorted by code: api_error_lookup() searches it by halves,
 * and a unit test checks the order.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"

#define E(code_, n_, params_, meaning_) \
    { .code = code_, .nparams = n_, .params = params_, .meaning = meaning_ }

static const struct api_error_info errors[] = {
    E("CANNOT_CONTACT_HOST", 1, "host",
      "The host cannot be contacted to forward the request to"),
    E("DB_UNIQUENESS_CONSTRAINT_VIOLATION", 3, "table, field, value",
      "The operation would have made two objects share a unique value"),
    E("DEVICE_ALREADY_ATTACHED", 1, "device",
      "The device is already attached to a VM"),
    E("DEVICE_ALREADY_DETACHED", 1, "device",
      "The device is not attached to a VM"),
    E("DEVICE_ALREADY_EXISTS", 1, "device",
      "A device with that name already exists on the VM"),
    E("DEVICE_ATTACH_TIMEOUT", 2, "type, ref",
      "The VM did not take the device in time"),
    E("DEVICE_DETACH_REJECTED", 3, "type, ref, msg",
      "The VM refused to release the device"),
    E("DEVICE_DETACH_TIMEOUT", 2, "type, ref",
      "The VM did not release the device in time"),
    E("EVENTS_LOST", 0, "",
      "Events were missed: the registration starts again from now"),
    E("FIELD_TYPE_ERROR", 1, "field",
      "A parameter or field has the wrong type"),
    E("HANDLE_INVALID", 2, "class, handle",
      "The object reference is invalid; the object may have been deleted"),
    E("HOST_CANNOT_DESTROY_SELF", 1, "host",
      "The pool master cannot be removed from its own pool"),
    E("HOST_DISABLED", 1, "host",
      "The host is disabled and takes no new VMs"),
    E("HOST_EVACUATE_IN_PROGRESS", 1, "host",
      "The host is being evacuated"),
    E("HOST_HAS_RESIDENT_VMS", 1, "host",
      "The host still runs VMs"),
    E("HOST_IS_SLAVE", 1, "master address",
      "This host is a pool member: send API calls to the pool master"),
    E("HOST_MASTER_CANNOT_TALK_BACK", 1, "ip",
      "The master cannot reach this host at its management address"),
    E("HOST_NOT_ENOUGH_FREE_MEMORY", 2, "needed, available",
      "The host does not have enough free memory for the operation"),
    E("HOST_NOT_LIVE", 0, "",
      "The host is not live"),
    E("HOST_OFFLINE", 1, "host",
      "The host involved in the operation cannot be contacted"),
    E("HOST_STILL_BOOTING", 0, "",
      "The toolstack of the host is still starting: try again shortly"),
    E("HOST_UNKNOWN_TO_MASTER", 1, "host",
      "The pool master does not know this host"),
    E("HOST_UPGRADE_HOOK_FAILED", 2, "host, why",
      "The upgrade hook failed for the host: it stays disabled and empty"),
    E("INTERNAL_ERROR", 1, "message",
      "The server failed to handle the request (see the message)"),
    E("INVALID_VALUE", 2, "field, value",
      "The value given is invalid"),
    E("JSONRPC_UNMARSHAL_FAILURE", 2, "expected, received",
      "The JSON-RPC request could not be read (xm-pool code)"),
    E("MAP_DUPLICATE_KEY", 4, "type, param_name, uuid, key",
      "The key is already in the map"),
    E("MESSAGE_DEPRECATED", 0, "",
      "This call is deprecated"),
    E("MESSAGE_METHOD_UNKNOWN", 1, "method",
      "No such API method"),
    E("MESSAGE_PARAMETER_COUNT_MISMATCH", 3, "method, expected, received",
      "The method was called with the wrong number of parameters"),
    E("MESSAGE_REMOVED", 0, "",
      "This call is no longer available"),
    E("MIRROR_FAILED", 2, "vdi, reason",
      "Mirroring the disk to the destination failed"),
    E("NOT_IMPLEMENTED", 1, "function",
      "The function is not implemented"),
    E("NO_HOSTS_AVAILABLE", 0, "",
      "No host is available to complete the operation"),
    E("OBJECT_NOLONGER_EXISTS", 0, "",
      "The object no longer exists"),
    E("OPERATION_NOT_ALLOWED", 1, "reason",
      "The operation is not allowed (see the reason)"),
    E("OTHER_OPERATION_IN_PROGRESS", 2, "class, object",
      "Another operation on the object is in progress"),
    E("PERMISSION_DENIED", 1, "message",
      "The caller is not allowed to perform this operation"),
    E("POOL_HOSTS_NOT_COMPATIBLE", 0, "",
      "The hosts of the pool are not compatible"),
    E("POOL_HOSTS_NOT_HOMOGENEOUS", 1, "reason",
      "The hosts of the pool are not homogeneous"),
    E("POOL_JOINING_HOST_CANNOT_BE_MASTER_OF_OTHER_HOSTS", 0, "",
      "The joining host is already the master of other hosts"),
    E("POOL_JOINING_HOST_CANNOT_CONTAIN_SHARED_SRS", 0, "",
      "The joining host must not have shared storage"),
    E("POOL_JOINING_HOST_CANNOT_HAVE_RUNNING_OR_SUSPENDED_VMS", 0, "",
      "The joining host must not have running or suspended VMs"),
    E("POOL_JOINING_HOST_CANNOT_HAVE_RUNNING_VMS", 0, "",
      "The joining host must not have running VMs"),
    E("POOL_JOINING_HOST_CANNOT_HAVE_VMS_WITH_CURRENT_OPERATIONS", 0, "",
      "The joining host must not have VMs with operations in progress"),
    E("POOL_JOINING_HOST_CONNECTION_FAILED", 0, "",
      "The joining host could not connect to the pool master"),
    E("POOL_JOINING_HOST_MUST_HAVE_SAME_API_VERSION", 2,
      "host_api_version, master_api_version",
      "The joining host must have the API version of the master"),
    E("POOL_JOINING_HOST_MUST_HAVE_SAME_DB_SCHEMA", 2,
      "host_db_schema, master_db_schema",
      "The joining host must have the database schema of the master"),
    E("POOL_JOINING_HOST_MUST_HAVE_SAME_PRODUCT_VERSION", 0, "",
      "The joining host must run the product version of the master"),
    E("POOL_JOINING_HOST_SERVICE_FAILED", 0, "",
      "The pool master did not answer the joining host properly"),
    E("SESSION_AUTHENTICATION_FAILED", 2, "username, message",
      "The credentials are wrong: no session was created"),
    E("SESSION_INVALID", 1, "handle",
      "The session is invalid or expired: log in again"),
    E("SESSION_NOT_REGISTERED", 1, "handle",
      "The session is not registered for events"),
    E("SR_BACKEND_FAILURE", 3, "status, stdout, stderr",
      "The storage backend failed"),
    E("SR_DOES_NOT_SUPPORT_MIGRATION", 1, "sr",
      "The storage repository does not support migrating disks"),
    E("SR_FULL", 2, "requested, maximum",
      "The storage repository has not enough space for the disk"),
    E("SR_HAS_PBD", 1, "sr",
      "The storage repository is still plugged on a host: unplug it first"),
    E("SR_NOT_ATTACHED", 1, "sr",
      "The storage repository is plugged on no live host"),
    E("SR_NOT_EMPTY", 0, "",
      "The storage repository still holds virtual disks"),
    E("SR_OPERATION_NOT_SUPPORTED", 1, "sr",
      "The storage repository's driver cannot do this"),
    E("SR_UNKNOWN_DRIVER", 1, "driver",
      "There is no storage driver of that type"),
    E("TASK_CANCELLED", 1, "task",
      "The task was cancelled"),
    E("TLS_CONNECTION_FAILED", 2, "address, port",
      "The other host cannot be reached over TLS"),
    E("TOO_BUSY", 0, "",
      "The server is too busy: try again later"),
    E("TOO_MANY_PENDING_TASKS", 0, "",
      "The server has too many pending tasks: try again later"),
    E("TOO_MANY_STORAGE_MIGRATES", 1, "number",
      "Too many VMs with storage are migrating at once"),
    E("UUID_INVALID", 2, "type, uuid",
      "The UUID is invalid or names no such object"),
    E("VBD_NOT_UNPLUGGABLE", 1, "vbd",
      "The VBD is marked as not unpluggable"),
    E("VDI_IN_USE", 2, "vdi, operation",
      "The virtual disk is in use by another operation"),
    E("VDI_MISSING", 2, "sr, vdi",
      "The virtual disk cannot be found on its storage"),
    E("VDI_NOT_IN_MAP", 1, "vdi",
      "The virtual disk has no destination storage in the migration map"),
    E("VIF_NOT_IN_MAP", 1, "vif",
      "The network interface has no destination network in the map"),
    E("VM_BAD_POWER_STATE", 3, "vm, expected, actual",
      "The VM is not in the power state the operation needs"),
    E("VM_HAS_CHECKPOINT", 1, "vm",
      "The VM has a checkpoint and cannot be migrated"),
    E("VM_HAS_PCI_ATTACHED", 1, "vm",
      "The VM has PCI devices passed through"),
    E("VM_HAS_TOO_MANY_SNAPSHOTS", 1, "vm",
      "The VM has too many snapshots to be migrated"),
    E("VM_HOST_INCOMPATIBLE_VERSION", 2, "host, vm",
      "The host runs an older version that cannot take this VM operation"),
    E("VM_HOST_INCOMPATIBLE_VERSION_MIGRATE", 2, "host, vm",
      "The destination host is older than the source host"),
    E("VM_INCOMPATIBLE_WITH_THIS_HOST", 3, "vm, host, reason",
      "The VM is incompatible with the CPU features of the host"),
    E("VM_IS_TEMPLATE", 1, "vm",
      "The operation is not valid for a template"),
    E("VM_LACKS_FEATURE", 1, "vm",
      "The VM lacks a feature the operation needs"),
    E("VM_MIGRATE_CONTACT_REMOTE_SERVICE_FAILED", 0, "",
      "The migration service of the destination host cannot be reached"),
    E("VM_MIGRATE_FAILED", 4, "vm, source, destination, msg",
      "The migration failed; the VM still runs on the source"),
    E("VM_NOT_RESIDENT_HERE", 2, "vm, host",
      "The VM does not run on this host"),
    E("VM_REQUIRES_NET", 2, "vm, network",
      "The host has no interface on a network the VM needs"),
    E("VM_REQUIRES_SR", 2, "vm, sr",
      "The host cannot reach a storage repository the VM needs"),
    E("VM_SHUTDOWN_TIMEOUT", 2, "vm, timeout",
      "The VM did not shut down within the timeout"),
    E("XMLRPC_UNMARSHAL_FAILURE", 2, "expected, received",
      "The XML-RPC request could not be read"),
};

#undef E

const struct api_error_info *api_error_table(size_t *n_r)
{
    *n_r = sizeof(errors) / sizeof(errors[0]);
    return errors;
}

const struct api_error_info *api_error_lookup(const char *code)
{
    size_t lo = 0, hi = sizeof(errors) / sizeof(errors[0]);

    if (!code)
        return NULL;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(code, errors[mid].code);

        if (c == 0)
            return &errors[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const char *api_error_meaning(const char *code)
{
    const struct api_error_info *e = api_error_lookup(code);

    return e ? e->meaning : NULL;
}

const char *api_errno_code(int rc)
{
    switch (-rc) {
    case EACCES:
        return "PERMISSION_DENIED";
    case EPERM:
        return "OPERATION_NOT_ALLOWED";
    case ENOSYS:
    case ENOTSUP:
#if EOPNOTSUPP != ENOTSUP
    case EOPNOTSUPP:
#endif
        return "NOT_IMPLEMENTED";
    case ENOENT:
        return "HANDLE_INVALID";
    case EINVAL:
        return "INVALID_VALUE";
    case EBUSY:
        return "OTHER_OPERATION_IN_PROGRESS";
    case EAGAIN:
        return "TOO_BUSY";
    case ECANCELED:
        return "TASK_CANCELLED";
    case EHOSTDOWN:
    case EHOSTUNREACH:
    case ECONNREFUSED:
        return "HOST_OFFLINE";
    default:
        return "INTERNAL_ERROR";
    }
}

struct api_value *api_failure_errno(int rc, const char *msg)
{
    const char *code = api_errno_code(rc);
    const struct api_error_info *e = api_error_lookup(code);
    const char *params[4] = { "", "", "", "" };
    size_t n = e ? (size_t)e->nparams : 1;
    char buf[128];

    if (n > sizeof(params) / sizeof(params[0]))
        n = sizeof(params) / sizeof(params[0]);
    if (n > 0)
        params[0] = msg && *msg ? msg
                                : strerror_r(rc < 0 ? -rc : EIO, buf,
                                             sizeof(buf));
    return api_failure_array(code, params, n);
}
