/*
 * hv_sim.c - the sim driver: xm-vmm processes whose guest is the test workload
 * run by a host thread over the guest-RAM memfd (vmm/vmm_sim.c), dirty
 * tracking by userfaultfd write-protect: for machines without /dev/kvm
 * and for scale simulation.
 * Everything but the engine name is shared with its sibling in hv_vmmc.c.
 */
#include "config.h"


#include "hv_internal.h"
#include "hv_vmmc.h"

static int sim_open(struct hv_handle *h, const char *args)
{
    return vmmc_open(h, "sim", args);
}

const struct hv_ops hv_sim_ops = {
    .name = "sim",
    .flags = HV_OPS_DISKS,
    .open = sim_open,
    .close = vmmc_close,
    .list = vmmc_list,
    .info = vmmc_info,
    .create = vmmc_create,
    .boot = vmmc_boot,
    .map_batch = vmmc_map_batch,
    .unmap = vmmc_unmap,
    .logdirty = vmmc_logdirty,
    .dirty_harvest = vmmc_dirty_harvest,
    .dirty_peek = vmmc_dirty_peek,
    .pause = vmmc_pause,
    .unpause = vmmc_unpause,
    .throttle = vmmc_throttle,
    .state_save = vmmc_state_save,
    .state_restore = vmmc_state_restore,
    .guest_stats = vmmc_guest_stats,
    .shutdown_request = vmmc_shutdown_request,
    .populated = vmmc_populated,
    .disk_plug = vmmc_disk_plug,
    .disk_unplug = vmmc_disk_unplug,
    .disk_retarget = vmmc_disk_retarget,
    .destroy = vmmc_destroy,
};
