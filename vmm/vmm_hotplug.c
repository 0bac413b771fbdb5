/*
 * vmm_hotplug.c - the control thread's side of disk hot-plug
 * (docs/specs/vmm-control.md "Disks", docs/design/vmm-disks.md): DISK_ADD
 * connects a disk and shows it to the guest, DISK_REMOVE asks the guest
 * for it back through the hot-plug controller and waits for its answer
 * (or, forced, takes it away at once), DISK_LIST says which slots hold
 * one.  The same for both engines: the kvm guest reaches the controller
 * through port I/O, the sim engine's hosted workload through its env.
 *
 * Everything here runs on the control thread, one request at a time, so
 * no two hot-plug operations ever overlap; the bus (vmm_pci.c) keeps the
 * vCPUs safe from them.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm_internal.h"

#define POLL_US     1000        /* how often a removal looks for an answer */

static bool running(struct vmm *vm)
{
    bool r;

    pthread_mutex_lock(&vm->lock);
    r = vm->state == VMM_STATE_RUNNING;
    pthread_mutex_unlock(&vm->lock);
    return r;
}

/* Hot-plug happens to a running VM only: a paused one holds no
 * connection, an incoming one no guest yet. */
static int check_running(struct vmm *vm, const char *what)
{
    enum vmm_state state;

    pthread_mutex_lock(&vm->lock);
    state = vm->state;
    pthread_mutex_unlock(&vm->lock);
    if (state != VMM_STATE_RUNNING)
        return xt_error(vm->ctx, -EAGAIN, "%s: the VM is %s, not running",
                        what, vmm_state_name(state));
    return 0;
}

int vmm_disk_add(struct vmm *vm, const void *p, size_t len)
{
    struct vmm_disk_add req;
    struct vmm_disk_cfg cfg;
    char *uri = NULL;
    int rc;

    if (len < sizeof(req))
        return xt_error(vm->ctx, -EINVAL, "disk-add: payload of %zu bytes",
                        len);
    memcpy(&req, p, sizeof(req));
    if (req.uri_len == 0 || req.uri_len > VMM_DISK_URI_MAX ||
        len != sizeof(req) + req.uri_len || (req.flags & ~VMM_DISK_RO))
        return xt_error(vm->ctx, -EINVAL, "disk-add: a URI of %u bytes in "
                        "%zu, flags %#x", req.uri_len, len, req.flags);
    uri = strndup((const char *)p + sizeof(req), req.uri_len);
    if (!uri)
        return xt_error(vm->ctx, -ENOMEM, "disk-add");
    if (strlen(uri) != req.uri_len) {
        rc = xt_error(vm->ctx, -EINVAL, "disk-add: a NUL inside the URI");
        goto out;
    }
    rc = check_running(vm, "disk-add");
    if (rc < 0)
        goto out;
    cfg = (struct vmm_disk_cfg){
        .uri = uri,
        .ro = req.flags & VMM_DISK_RO,
        .timeout_ms = req.timeout_ms ? req.timeout_ms : vm->disk_timeout_ms,
        .slot = req.slot,
    };
    rc = vmm_pci_plug(vm->pci, &cfg);
    if (rc == 0)
        xt_info(vm->ctx, "disk %u (slot %u) plugged: %s%s", req.slot - 1,
                req.slot, uri, cfg.ro ? ", read-only" : "");
out:
    free(uri);
    return rc;
}

/*
 * Waits (bounded by wait_ms) for the guest's answer to the eject request
 * of slot.  0 once it let the disk go; -EBUSY when it refused, -ETIMEDOUT
 * when it did not answer, -EAGAIN when the VM stopped running meanwhile:
 * then the request is withdrawn and the disk stays.
 */
static int await_eject(struct vmm *vm, unsigned slot, unsigned wait_ms)
{
    uint64_t deadline = xt_now_ns() + (uint64_t)wait_ms * 1000000ull;
    bool late = false, stopped = false;
    enum vmm_eject e;

    for (;;) {
        late = xt_now_ns() >= deadline;
        stopped = !late && !running(vm);
        /* The last look withdraws the request in the same step, so an
         * answer that comes meanwhile is still seen. */
        e = vmm_pci_eject_poll(vm->pci, slot, late || stopped);
        if (e == VMM_EJECT_ACKED)
            return 0;
        if (e == VMM_EJECT_REFUSED)
            return xt_error(vm->ctx, -EBUSY, "the guest refused to release "
                            "disk %u (slot %u): it is using it (the test "
                            "guest: its disk workload's ledger is on it)",
                            slot - 1, slot);
        if (late || stopped)
            break;
        usleep(POLL_US);
    }
    if (stopped)
        return check_running(vm, "disk-remove: while waiting for the guest");
    return xt_error(vm->ctx, -ETIMEDOUT, "the guest did not answer the "
                    "eject request of disk %u (slot %u) within %u ms: the "
                    "request is withdrawn, the disk stays", slot - 1, slot,
                    wait_ms);
}

int vmm_disk_remove(struct vmm *vm, const void *p, size_t len)
{
    struct vmm_disk_remove req;
    unsigned wait_ms;
    int rc;

    if (len != sizeof(req))
        return xt_error(vm->ctx, -EINVAL, "disk-remove: payload of %zu "
                        "bytes, want %zu", len, sizeof(req));
    memcpy(&req, p, sizeof(req));
    wait_ms = req.wait_ms ? req.wait_ms : VMM_DISK_WAIT_MS;
    if ((req.flags & ~VMM_DISK_FORCE) || wait_ms > VMM_DISK_WAIT_MAX_MS)
        return xt_error(vm->ctx, -EINVAL, "disk-remove: flags %#x, wait "
                        "%u ms (at most %u)", req.flags, wait_ms,
                        VMM_DISK_WAIT_MAX_MS);
    rc = check_running(vm, "disk-remove");
    if (rc < 0)
        return rc;
    if (!(vmm_pci_slots(vm->pci) & (1u << (req.slot & 31))) ||
        req.slot < 1 || req.slot > VMM_MAX_DISKS)
        return xt_error(vm->ctx, -ENODEV, "disk-remove: slot %u holds no "
                        "disk", req.slot);
    if (!(req.flags & VMM_DISK_FORCE)) {
        rc = vmm_pci_eject_request(vm->pci, req.slot);
        if (rc == 0)
            rc = await_eject(vm, req.slot, wait_ms);
        if (rc < 0)
            return rc;
    }
    rc = vmm_pci_unplug(vm->pci, req.slot);
    xt_info(vm->ctx, "disk %u (slot %u) %s%s", req.slot - 1, req.slot,
            req.flags & VMM_DISK_FORCE ? "removed (forced)" :
            "released by the guest and removed",
            rc < 0 ? ", but its last flush failed" : "");
    return rc;
}

void vmm_disk_list(struct vmm *vm, struct vmm_disk_list *l)
{
    memset(l, 0, sizeof(*l));
    l->slots = vmm_pci_slots(vm->pci);
    l->ro_slots = vmm_pci_ro_slots(vm->pci) & l->slots;
}
