/*
 * pd_host_local.c - the one table of host_local.* methods: what the master
 * (and a peer host) asks a host to do with its own hypervisor, block
 * services and SRs.  Each call's first parameter is the pool secret
 * instead of a session; a client never sees them (system.listMethods
 * leaves them out).  xa_host_call() runs one of ours without HTTP.
 */
#include "config.h"

#include "pd_internal.h"
#include "pd_shutdown.h"
#include "pd_xenapi.h"

#define M(name, np, npmax, fn) \
    { "host_local." name, np, npmax, API_METHOD_NO_ASYNC | \
      API_METHOD_NO_SESSION | API_METHOD_LOCAL, fn }

const struct api_method xa_host_local_methods[] = {
    /* liveness and VMs (pd_agent.c, pd_shutdown.c) */
    M("hello", 1, 0, xa_local_hello),
    M("vm_start", 3, 0, xa_local_vm_start),
    M("vm_shutdown", 3, 0, xa_local_vm_shutdown),
    M("vm_clean_shutdown", 3, 0, xa_local_vm_clean_shutdown),
    M("vm_status", 2, 0, xa_local_vm_status),
    M("vm_disk_plug", 3, 0, xa_local_vm_disk_plug),
    M("vm_disk_unplug", 5, 0, xa_local_vm_disk_unplug),
    M("task_progress", 3, 4, xa_local_task_progress),
    /* a migration's destination (pd_agent.c) and source (pd_migsrc.c) */
    M("migrate_prepare", 4, 6, xa_local_migrate_prepare),
    M("migrate_send", 7, 0, xa_src_migrate_send),
    M("migrate_status", 3, 0, xa_src_migrate_status),
    M("migrate_resolve", 3, 0, xa_src_migrate_resolve),
    M("migrate_forget", 2, 0, xa_src_migrate_forget),
    M("migrate_cancel", 2, 0, xa_src_migrate_cancel),
    /* pool membership (pd_methods_pool.c) */
    M("join_request", 3, 0, xa_pool_join_request),
    M("ejected", 1, 0, xa_pool_ejected),
    /* SRs and VDIs (pd_sr_agent.c) */
    M("vdi_export", 4, 0, xa_local_vdi_export),
    M("vdi_unexport", 2, 0, xa_local_vdi_unexport),
    M("sr_create", 2, 0, xa_local_sr_create),
    M("sr_attach", 2, 0, xa_local_sr_attach),
    M("sr_destroy", 2, 0, xa_local_sr_destroy),
    M("vdi_create", 4, 0, xa_local_vdi_create),
    M("vdi_resize", 4, 0, xa_local_vdi_resize),
    M("vdi_destroy", 3, 0, xa_local_vdi_destroy),
    M("vdi_clone", 4, 0, xa_local_vdi_clone),
    M("vdi_snapshot", 4, 0, xa_local_vdi_snapshot),
    M("vdi_copy", 5, 7, xa_local_vdi_copy),
    /* a storage motion's hosts (pd_motion.c) */
    M("vdi_motion_start", 7, 8, xa_local_vdi_motion_start),
    M("vdi_motion_status", 8, 0, xa_local_vdi_motion_status),
    M("vdi_motion_resume", 6, 0, xa_local_vdi_motion_resume),
    M("vdi_motion_switch", 6, 0, xa_local_vdi_motion_switch),
    M("vdi_motion_cancel", 5, 0, xa_local_vdi_motion_cancel),
    { NULL, 0, 0, 0, NULL },
};
