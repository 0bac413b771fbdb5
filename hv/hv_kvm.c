/*
 * hv_kvm.c - the kvm driver: our xm-vmm processes running guests under
 * /dev/kvm (vmm/vmm_kvm.c), with hardware dirty logging.
 * Everything but the engine name is shared with its sibling in hv_vmmc.c.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "hv_internal.h"
#include "hv_vmmc.h"

static int kvm_open(struct hv_handle *h, const char *args)
{
    if (access("/dev/kvm", R_OK | W_OK) < 0)
        return xt_error(h->ctx, -errno, "kvm driver: /dev/kvm is not usable "
                        "(%s): no KVM on this machine, or not allowed",
                        strerror(errno));
    return vmmc_open(h, "kvm", args);
}

const struct hv_ops hv_kvm_ops = {
    .name = "kvm",
    .flags = HV_OPS_DISKS,
    .open = kvm_open,
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
