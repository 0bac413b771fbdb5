/*
 * vmm_hotplug.c - the control thread's side of disk hot-plug
 * (docs/specs/vmm-control.md "Disks", docs/design/vmm-disks.md): DISK_ADD
 * connects a disk and shows it to the guest, DISK_REMOVE asks the guest
 * for it back through the hot-plug controller and waits for its answer
 * (or, forced, takes it away at once), DISK_LIST says which slots hold
 * one.  The same for both engines: the kvm guest reaches the controller
 * through port I/O, the sim engine's hosted workload through its env.
 * DISK_RETARGET is no hot-plug but lives with it: it changes the export
 * of a paused VM's disk, which the guest does not see at all.
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
/* A retarget's request timeout: the range of --disk-timeout-ms. */
#define RETARGET_TIMEOUT_MIN_MS 10u
#define RETARGET_TIMEOUT_MAX_MS 3600000u

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

/*
 * The URI that follows a request header of hdr bytes in payload p of len
 * bytes, said to be uri_len bytes: 1..VMM_DISK_URI_MAX, exactly the rest
 * of the payload, no NUL.  *uri_r: malloc'd, caller frees.
 */
static int take_uri(struct vmm *vm, const char *what, const void *p,
                    size_t len, size_t hdr, uint32_t uri_len, char **uri_r)
{
    char *uri;

    *uri_r = NULL;
    if (uri_len == 0 || uri_len > VMM_DISK_URI_MAX || len != hdr + uri_len)
        return xt_error(vm->ctx, -EINVAL, "%s: a URI of %u bytes in %zu "
                        "(1..%u)", what, uri_len, len, VMM_DISK_URI_MAX);
    uri = strndup((const char *)p + hdr, uri_len);
    if (!uri)
        return xt_error(vm->ctx, -ENOMEM, "%s", what);
    if (strlen(uri) != uri_len) {
        free(uri);
        return xt_error(vm->ctx, -EINVAL, "%s: a NUL inside the URI", what);
    }
    *uri_r = uri;
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
    if (req.flags & ~VMM_DISK_RO)
        return xt_error(vm->ctx, -EINVAL, "disk-add: flags %#x", req.flags);
    rc = take_uri(vm, "disk-add", p, len, sizeof(req), req.uri_len, &uri);
    if (rc < 0)
        goto out;
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

/*
 * A retarget needs the VM stopped with its disks released: paused (PAUSE
 * released them) or incoming (never connected).  Running: -EBUSY, the
 * caller must pause first; shut down or crashed: -EINVAL, nothing will
 * ever connect again.
 */
static int check_stopped(struct vmm *vm)
{
    enum vmm_state state;

    pthread_mutex_lock(&vm->lock);
    state = vm->state;
    pthread_mutex_unlock(&vm->lock);
    if (state == VMM_STATE_PAUSED || state == VMM_STATE_INCOMING)
        return 0;
    if (state == VMM_STATE_RUNNING)
        return xt_error(vm->ctx, -EBUSY, "pause first: a running disk "
                        "cannot change its export");
    return xt_error(vm->ctx, -EINVAL, "the VM is %s: its disks will not "
                    "connect again", vmm_state_name(state));
}

int vmm_disk_retarget(struct vmm *vm, const void *p, size_t len)
{
    struct vmm_disk_retarget req;
    char *uri = NULL;
    int rc;

    if (len < sizeof(req))
        return xt_error(vm->ctx, -EINVAL, "payload of %zu bytes", len);
    memcpy(&req, p, sizeof(req));
    if (req.flags || req.slot < 1 || req.slot > VMM_MAX_DISKS ||
        (req.timeout_ms && (req.timeout_ms < RETARGET_TIMEOUT_MIN_MS ||
                            req.timeout_ms > RETARGET_TIMEOUT_MAX_MS)))
        return xt_error(vm->ctx, -EINVAL, "slot %u (1..%u), flags %#x (none "
                        "defined), timeout %u ms (0 or %u..%u)", req.slot,
                        VMM_MAX_DISKS, req.flags, req.timeout_ms,
                        RETARGET_TIMEOUT_MIN_MS, RETARGET_TIMEOUT_MAX_MS);
    rc = take_uri(vm, "disk-retarget", p, len, sizeof(req), req.uri_len,
                  &uri);
    if (rc < 0)
        goto out;
    /* The state cannot change under us: only this (control) thread
     * resumes a paused VM, and a stopped VM's vCPUs do nothing. */
    rc = check_stopped(vm);
    if (rc < 0)
        goto out;
    rc = vmm_pci_retarget(vm->pci, req.slot, uri, req.timeout_ms);
    if (rc == 0)
        xt_info(vm->ctx, "disk %u (slot %u) retargeted to %s: the next "
                "resume connects it there", req.slot - 1, req.slot, uri);
out:
    free(uri);
    return rc;
}
