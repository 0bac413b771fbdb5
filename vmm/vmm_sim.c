/*
 * vmm_sim.c - the sim engine of xm-vmm, for hosts without /dev/kvm and for
 * simulating many VMs: no CPU, the guest RAM memfd plus one writer thread
 * running the test guest's workload (guest/workload.c) hosted over that
 * memory.  All workload state lives in the guest's status page, so pausing
 * is letting xmg_workload_run() return and parking the thread, resuming is
 * calling it again, and a migration moves the RAM and a small blob.
 *
 * The guest's TSC is virtual: nanoseconds (1 GHz) of CLOCK_MONOTONIC minus
 * an offset, which a restore sets so the guest's time goes on from the
 * value saved.  Dirty pages are found by the kernel, never by the writer
 * marking them: vmm_wplog.c (userfaultfd write protection + PAGEMAP_SCAN).
 *
 * Disks (--disk): the workload's disk operations go straight to the
 * devices' NBD connections (vmm_pci_disk_io, no vring), handed over at
 * pause and resume as in the kvm engine; the workload's disk number is
 * the slot - 1.  It sees the same hot-plug controller as a kvm guest
 * (vmm_pci_hp_read/write instead of port I/O).  The blob carries their
 * number, their slots and the controller's GEN: the hosted workload keeps
 * no other disk state outside guest RAM.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hv.h"
#include "vmm_blk.h"
#include "vmm_internal.h"
#include "vmm_wplog.h"
#include "workload.h"
#include "xmg_abi.h"

#define SIM_BLOB_VERSION    1u
#define SIM_TSC_KHZ         1000000u        /* one tick per nanosecond */
#define THROTTLE_PERIOD_NS  10000000ull     /* 10 ms */

struct sim_priv {
    struct vmm *vm;
    struct xmg_env env;
    struct vmm_wplog *wl;       /* while log-dirty mode is on */
    /* Virtual TSC = CLOCK_MONOTONIC ns - tsc_offset.  Written by the
     * control thread only while the writer is parked or not started. */
    uint64_t tsc_offset;
    pthread_t thread;
    bool thread_started;        /* control thread only */
    /* Set under vm->lock by the control thread when it wants the writer
     * back (pause, quit, new throttle); read lock-free by the writer
     * between page operations; cleared under vm->lock by the writer once
     * it looked at the requests. */
    bool attention;
    /* guarded by vm->lock: */
    pthread_cond_t cv;          /* CLOCK_MONOTONIC */
    bool pause_req;
    bool quit;
    bool parked;                /* the writer waits in park() */
    bool done;                  /* the writer has ended */
    bool initialised;           /* xmg_workload_init() ran: status valid */
    bool mem_fresh;             /* RAM past the image is still zero */
    /* writer thread only: */
    bool guest_stopped;         /* the guest wrote the exit port */
    uint64_t run_until_ns;      /* throttle: end of this run share, or 0 */
    unsigned run_pct;           /* the throttle run_until_ns is for */
};

/* The state blob.  Integers in host order (one x86-64 host family). */
struct sim_blob {
    struct hv_state_hdr hdr;
    uint64_t tsc;               /* virtual TSC at save */
    uint64_t tsc_khz;           /* SIM_TSC_KHZ */
    uint64_t nr_pages;
    uint64_t params_gpa;
    uint64_t status_gpa;
    uint64_t image_end;
    uint32_t test_guest;        /* 1: the sim runs nothing else */
    uint32_t initialised;       /* 0 or 1 */
    /* The VM's disks (--disk).  It was reserved[0], which version 1
     * requires to be zero: a VM without disks has the same blob, and a
     * reader that predates disks refuses a blob with some. */
    uint64_t nr_disks;
    /* Hot-plug, in what was reserved[0..1], the same way: the
     * controller's GEN (0 until a disk came or went), and the slots of
     * the disks unless they are 1..nr_disks (0 then). */
    uint64_t hp_gen;
    uint64_t slots;
    uint64_t reserved[1];       /* zero */
};
_Static_assert(sizeof(struct sim_blob) == 120, "sim blob layout");

static struct sim_priv *priv_of(struct vmm *vm)
{
    return vm->eng_priv;
}

static uint64_t mono_ns(void)
{
    return xt_now_ns();
}

static struct timespec ns_to_ts(uint64_t ns)
{
    struct timespec ts = {
        .tv_sec = ns / 1000000000ull,
        .tv_nsec = ns % 1000000000ull,
    };

    return ts;
}

/* Is [gpa, gpa + len) inside guest RAM? */
static bool in_ram(const struct vmm *vm, uint64_t gpa, uint64_t len)
{
    return gpa <= vm->mem_size && len <= vm->mem_size - gpa;
}

/* ---- the workload's host (struct xmg_env), all on the writer thread --- */

static uint64_t env_tsc(void *opaque)
{
    struct sim_priv *sp = opaque;

    return mono_ns() - sp->tsc_offset;
}

static void env_out(void *opaque, uint16_t port, uint32_t val)
{
    struct sim_priv *sp = opaque;

    if (vmm_guest_port_out(sp->vm, port, val,
                           port == XMG_PORT_CONSOLE ? 1 : 4))
        sp->guest_stopped = true;
}

static bool env_stop(void *opaque)
{
    struct sim_priv *sp = opaque;

    if (sp->guest_stopped || __atomic_load_n(&sp->attention, __ATOMIC_ACQUIRE))
        return true;
    return sp->run_until_ns && mono_ns() >= sp->run_until_ns;
}

/* Sleeps until the TSC reaches until_tsc, the throttle's run share ends,
 * or the control thread wants the writer back. */
static void env_idle(void *opaque, uint64_t until_tsc)
{
    struct sim_priv *sp = opaque;
    struct vmm *vm = sp->vm;
    uint64_t until = until_tsc + sp->tsc_offset;
    struct timespec ts;

    if (sp->run_until_ns && sp->run_until_ns < until)
        until = sp->run_until_ns;
    if ((int64_t)(until - mono_ns()) <= 0)
        return;
    ts = ns_to_ts(until);
    pthread_mutex_lock(&vm->lock);
    if (!__atomic_load_n(&sp->attention, __ATOMIC_RELAXED))
        pthread_cond_timedwait(&sp->cv, &vm->lock, &ts);
    pthread_mutex_unlock(&vm->lock);
}

static uint64_t env_tsc_khz(void *opaque)
{
    (void)opaque;
    return SIM_TSC_KHZ;
}

/* Disk numbers are slots - 1: up to the highest slot present (the
 * others absent). */
static unsigned env_nr_disks(void *opaque)
{
    struct sim_priv *sp = opaque;
    uint32_t slots = vmm_pci_slots(sp->vm->pci);

    return slots ? 32 - (unsigned)__builtin_clz(slots) - 1 : 0;
}

static uint64_t env_disk_sectors(void *opaque, unsigned disk)
{
    struct sim_priv *sp = opaque;

    return vmm_pci_disk_sectors(sp->vm->pci, disk);
}

static unsigned env_disk_flags(void *opaque, unsigned disk)
{
    struct sim_priv *sp = opaque;

    if (!(vmm_pci_slots(sp->vm->pci) & (1u << (disk + 1))))
        return XMG_BLK_F_ABSENT;
    /* FLUSH always works (a no-op on a server that cannot flush), as
     * the virtio device always offers it. */
    return XMG_BLK_F_FLUSH |
           (vmm_pci_disk_read_only(sp->vm->pci, disk) ? XMG_BLK_F_RO : 0);
}

static int env_blk_io(void *opaque, unsigned disk, struct xmg_blk_req *reqs,
                      unsigned n)
{
    struct sim_priv *sp = opaque;
    struct vmm_blk_io io[16];
    unsigned done, i, k;
    int rc = 0;

    for (done = 0; done < n && rc == 0; done += k) {
        k = n - done < 16 ? n - done : 16;
        for (i = 0; i < k; i++)
            io[i] = (struct vmm_blk_io){ .type = reqs[done + i].type,
                                         .sector = reqs[done + i].sector,
                                         .buf = reqs[done + i].buf,
                                         .len = reqs[done + i].len };
        rc = vmm_pci_disk_io(sp->vm->pci, disk, io, k);
        for (i = 0; i < k; i++)
            reqs[done + i].status = io[i].status;
    }
    return rc;
}

static uint32_t env_hp_in(void *opaque, unsigned reg)
{
    struct sim_priv *sp = opaque;

    return vmm_pci_hp_read(sp->vm->pci, reg);
}

static void env_hp_out(void *opaque, unsigned reg, uint32_t val)
{
    struct sim_priv *sp = opaque;

    vmm_pci_hp_write(sp->vm->pci, reg, val);
}

/* Nothing to set up without PCI: the disk in slot is disk slot - 1. */
static int env_disk_attach(void *opaque, unsigned slot)
{
    struct sim_priv *sp = opaque;

    if (slot < 1 || slot > VMM_MAX_DISKS ||
        !(vmm_pci_slots(sp->vm->pci) & (1u << slot)))
        return -ENODEV;
    return (int)slot - 1;
}

static void env_disk_forget(void *opaque, unsigned disk)
{
    (void)opaque;   /* the bus takes the device away */
    (void)disk;
}

static unsigned env_disk_slot(void *opaque, unsigned disk)
{
    (void)opaque;
    return disk + 1;
}

/* ---- the writer thread ------------------------------------------------- */

/* Parks the writer while a pause or a non-running state holds; false when
 * it must end.  Called with vm->lock. */
static bool park(struct vmm *vm, struct sim_priv *sp)
{
    while (!sp->quit && (sp->pause_req || vm->state != VMM_STATE_RUNNING)) {
        sp->parked = true;
        pthread_cond_broadcast(&sp->cv);
        pthread_cond_wait(&sp->cv, &vm->lock);
    }
    sp->parked = false;
    __atomic_store_n(&sp->attention, false, __ATOMIC_RELEASE);
    return !sp->quit;
}

/*
 * The throttle: once the writer has run (100 - pct)% of a 10 ms period it
 * sleeps the other pct%, waking early for a pause, a quit or a new
 * throttle.  Returns true when it slept (the caller looks at the requests
 * again).  Called with vm->lock.
 */
static bool throttle_sleep(struct vmm *vm, struct sim_priv *sp)
{
    unsigned pct = vm->throttle_pct;
    uint64_t now = mono_ns(), until;
    struct timespec ts;

    if (!pct) {
        sp->run_until_ns = 0;
        return false;
    }
    if (!sp->run_until_ns || sp->run_pct != pct) {
        sp->run_until_ns = now + THROTTLE_PERIOD_NS * (100 - pct) / 100;
        sp->run_pct = pct;
        return false;
    }
    if (now < sp->run_until_ns)
        return false;
    until = now + THROTTLE_PERIOD_NS * pct / 100;
    ts = ns_to_ts(until);
    while (!sp->quit && !sp->pause_req && vm->throttle_pct == pct &&
           mono_ns() < until)
        pthread_cond_timedwait(&sp->cv, &vm->lock, &ts);
    sp->run_until_ns = 0;
    return true;
}

/* The first run: xmg_workload_init() over the loader's params.  0;
 * -EIO when the workload refused to start (it wrote the exit port, the
 * guest stopped); -EINVAL when the params page is unusable. */
static int workload_init(struct vmm *vm, struct sim_priv *sp,
                         struct xmg_params *params, struct xmg_status *st,
                         uint64_t image_end, bool fresh)
{
    struct xmg_env env = sp->env;

    /* The workload sizes its working set by params->mem_bytes: never past
     * this RAM (a restored params page came from a peer). */
    if (params->mem_bytes > vm->mem_size) {
        xt_log(vm->ctx, XT_LOG_ERROR, "sim: guest params claim %llu bytes "
               "of RAM, the VM has %zu",
               (unsigned long long)params->mem_bytes, vm->mem_size);
        return -EINVAL;
    }
    env.mem_zeroed = fresh;
    if (xmg_workload_init(&env, params, st, image_end) != 0)
        return -EIO;
    return 0;
}

static void *writer_thread(void *arg)
{
    struct vmm *vm = arg;
    struct sim_priv *sp = priv_of(vm);
    sigset_t set;

    /* SIGTERM and SIGINT are the control thread's (its poll loop looks
     * at them); here they would only interrupt disk I/O. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    pthread_mutex_lock(&vm->lock);
    for (;;) {
        struct xmg_params *params;
        struct xmg_status *st;
        uint64_t image_end;
        bool init, fresh, crashed = false;

        if (!park(vm, sp))
            break;
        if (throttle_sleep(vm, sp))
            continue;
        init = !sp->initialised;
        fresh = sp->mem_fresh;
        params = (struct xmg_params *)(vm->mem + vm->params_gpa);
        st = (struct xmg_status *)(vm->mem + vm->status_gpa);
        image_end = vm->image_end;
        pthread_mutex_unlock(&vm->lock);

        if (init && workload_init(vm, sp, params, st, image_end, fresh) < 0) {
            crashed = !sp->guest_stopped;
        } else if (!xmg_status_valid(st, vm->mem_size)) {
            /* Checked before every run: the status page is guest memory,
             * written by a migration peer after a restore, and its offsets
             * steer every write of the workload. */
            xt_log(vm->ctx, XT_LOG_ERROR, "sim: the guest's status page at "
                   "%#llx is not a valid workload inside %zu bytes of RAM",
                   (unsigned long long)vm->status_gpa, vm->mem_size);
            crashed = true;
        } else {
            struct xmg_env env = sp->env;

            env.params = params;    /* the shutdown request word */
            xmg_workload_run(&env, st);
        }

        pthread_mutex_lock(&vm->lock);
        if (init && !crashed && !sp->guest_stopped)
            sp->initialised = true;
        if (sp->guest_stopped || crashed) {
            vm->state = crashed ? VMM_STATE_CRASHED : VMM_STATE_SHUTDOWN;
            break;
        }
    }
    sp->done = true;
    pthread_cond_broadcast(&sp->cv);
    pthread_mutex_unlock(&vm->lock);
    return NULL;
}

static int start_writer(struct vmm *vm, struct sim_priv *sp)
{
    int r = pthread_create(&sp->thread, NULL, writer_thread, vm);

    if (r)
        return xt_error(vm->ctx, -r, "sim: starting the writer thread");
    sp->thread_started = true;
    return 0;
}

/* Makes the writer come back to its loop soon.  Called with vm->lock. */
static void call_writer(struct sim_priv *sp)
{
    __atomic_store_n(&sp->attention, true, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&sp->cv);
}

/* ---- the engine ops ---------------------------------------------------- */

static int sim_init(struct vmm *vm)
{
    pthread_condattr_t ca;
    struct sim_priv *sp;

    sp = calloc(1, sizeof(*sp));
    if (!sp)
        return xt_error(vm->ctx, -ENOMEM, "sim engine");
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&sp->cv, &ca);
    pthread_condattr_destroy(&ca);
    sp->vm = vm;
    sp->mem_fresh = true;
    sp->tsc_offset = mono_ns();     /* the TSC starts at 0 */
    sp->env = (struct xmg_env) {
        .mem_base = (uintptr_t)vm->mem,
        .tsc = env_tsc,
        .out = env_out,
        .stop = env_stop,
        .idle = env_idle,
        .tsc_khz = env_tsc_khz,
        .opaque = sp,
        .nr_disks = env_nr_disks,
        .disk_sectors = env_disk_sectors,
        .disk_flags = env_disk_flags,
        .blk_io = env_blk_io,
        .hp_in = env_hp_in,
        .hp_out = env_hp_out,
        .disk_attach = env_disk_attach,
        .disk_forget = env_disk_forget,
        .disk_slot = env_disk_slot,
    };
    vm->eng_priv = sp;
    vm->tsc_khz = SIM_TSC_KHZ;
    if (vm->nr_vcpus != 1)
        xt_debug(vm->ctx, "sim: %u vCPUs asked, one writer thread runs the "
                 "workload", vm->nr_vcpus);
    return 0;
}

/* Are the test-guest pages where the workload needs them? */
static bool guest_pages_ok(const struct vmm *vm, uint64_t params_gpa,
                           uint64_t status_gpa, uint64_t image_end)
{
    return in_ram(vm, params_gpa, XMG_PAGE_SIZE) &&
           in_ram(vm, status_gpa, XMG_PAGE_SIZE) &&
           image_end <= vm->mem_size;
}

static int sim_start_boot(struct vmm *vm, uint64_t entry, uint64_t stack_top,
                          uint64_t pt_gpa)
{
    struct sim_priv *sp = priv_of(vm);
    int rc;

    (void)entry;                /* no CPU: the workload runs hosted */
    (void)stack_top;
    (void)pt_gpa;
    if (!vm->test_guest ||
        !guest_pages_ok(vm, vm->params_gpa, vm->status_gpa, vm->image_end))
        return xt_error(vm->ctx, -ENOEXEC, "sim: runs only the xm test "
                        "guest, with its pages inside RAM");
    rc = vmm_pci_disks_connect(vm->pci);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&vm->lock);
    vm->state = VMM_STATE_RUNNING;
    pthread_mutex_unlock(&vm->lock);
    return start_writer(vm, sp);
}

static int sim_pause(struct vmm *vm)
{
    struct sim_priv *sp = priv_of(vm);

    pthread_mutex_lock(&vm->lock);
    sp->pause_req = true;
    call_writer(sp);
    while (sp->thread_started && !sp->parked && !sp->done)
        pthread_cond_wait(&sp->cv, &vm->lock);
    if (vm->state == VMM_STATE_RUNNING)
        vm->state = VMM_STATE_PAUSED;
    pthread_mutex_unlock(&vm->lock);
    /* The writer is parked, its disk requests all complete: hand the
     * disks back (vmm_kvm.c does the same). */
    return vmm_pci_disks_release(vm->pci);
}

static int sim_resume(struct vmm *vm)
{
    struct sim_priv *sp = priv_of(vm);
    enum vmm_state state;
    int rc = 0;

    pthread_mutex_lock(&vm->lock);
    state = vm->state;
    pthread_mutex_unlock(&vm->lock);
    if (state != VMM_STATE_PAUSED && state != VMM_STATE_RUNNING)
        return xt_error(vm->ctx, -EINVAL, "resume: the VM is %s",
                        vmm_state_name(state));
    /* The disks first: without them the VM stays paused. */
    rc = vmm_pci_disks_connect(vm->pci);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&vm->lock);
    if (vm->state == VMM_STATE_PAUSED || vm->state == VMM_STATE_RUNNING) {
        sp->pause_req = false;
        vm->state = VMM_STATE_RUNNING;
        pthread_cond_broadcast(&sp->cv);
    } else {
        rc = -EINVAL;
    }
    pthread_mutex_unlock(&vm->lock);
    if (rc < 0)
        return xt_error(vm->ctx, rc, "resume: the VM is %s",
                        vmm_state_name(vm->state));
    if (!sp->thread_started)
        return start_writer(vm, sp);
    return 0;
}

static int sim_logdirty(struct vmm *vm, bool enable)
{
    struct sim_priv *sp = priv_of(vm);
    int rc;

    if (!enable) {
        /* Closing lifts the protection and unregisters the range. */
        vmm_wplog_close(sp->wl);
        sp->wl = NULL;
        return 0;
    }
    if (!sp->wl) {
        rc = vmm_wplog_open(vm->ctx, vm->mem, vm->mem_size, &sp->wl);
        if (rc < 0)
            return rc;
    }
    /* Enabling again starts afresh: nothing written, as with KVM. */
    vmm_pci_dirty_reset(vm->pci);
    return vmm_wplog_protect(sp->wl, true);
}

static int sim_dirty(struct vmm *vm, uint64_t *bitmap, bool clear,
                     uint64_t *count_r)
{
    struct sim_priv *sp = priv_of(vm);

    int rc;

    if (!vm->logdirty || !sp->wl)
        return xt_error(vm->ctx, -EINVAL, "dirty bitmap: log-dirty mode is "
                        "off");
    rc = vmm_wplog_scan(sp->wl, bitmap, clear, count_r);
    if (rc < 0 || !vmm_pci_nr_disks(vm->pci))
        return rc;
    /* The pages the disks' reads wrote, in case the write protection
     * missed the kernel's copy into them. */
    vmm_pci_dirty_merge(vm->pci, bitmap, clear);
    *count_r = xt_bitmap_popcount(bitmap, vm->nr_pages);
    return 0;
}

static int sim_throttle(struct vmm *vm, unsigned pct)
{
    struct sim_priv *sp = priv_of(vm);

    if (pct > 99)
        return xt_error(vm->ctx, -EINVAL, "throttle: %u%% (0..99)", pct);
    pthread_mutex_lock(&vm->lock);
    vm->throttle_pct = pct;
    call_writer(sp);
    pthread_mutex_unlock(&vm->lock);
    return 0;
}

/* The slots of n disks given without any (1..n), as a mask. */
static uint32_t default_slots(uint64_t n)
{
    return n ? (uint32_t)(((1ull << n) - 1) << 1) : 0;
}

static int sim_state_save(struct vmm *vm, void **blob_r, size_t *len_r)
{
    struct sim_priv *sp = priv_of(vm);
    struct sim_blob *b;

    if (vm->state == VMM_STATE_RUNNING)
        return xt_error(vm->ctx, -EBUSY, "state save: pause the VM first");
    b = calloc(1, sizeof(*b));
    if (!b)
        return xt_error(vm->ctx, -ENOMEM, "state blob");
    pthread_mutex_lock(&vm->lock);
    b->tsc = mono_ns() - sp->tsc_offset;
    b->tsc_khz = SIM_TSC_KHZ;
    b->nr_pages = vm->nr_pages;
    b->params_gpa = vm->params_gpa;
    b->status_gpa = vm->status_gpa;
    b->image_end = vm->image_end;
    b->test_guest = vm->test_guest;
    b->initialised = sp->initialised;
    b->nr_disks = vmm_pci_nr_disks(vm->pci);
    b->hp_gen = vmm_pci_hp_read(vm->pci, XMG_HP_GEN);
    if (vmm_pci_slots(vm->pci) != default_slots(b->nr_disks))
        b->slots = vmm_pci_slots(vm->pci);
    pthread_mutex_unlock(&vm->lock);
    hv_state_seal(b, sizeof(*b), "sim", SIM_BLOB_VERSION);
    *blob_r = b;
    *len_r = sizeof(*b);
    return 0;
}

static int sim_state_restore(struct vmm *vm, const void *blob, size_t len)
{
    struct sim_priv *sp = priv_of(vm);
    struct sim_blob b;
    unsigned i;
    int rc;

    /* Paused means the writer is parked (or never started): it reads
     * what is set below only when it runs again. */
    if (vm->state != VMM_STATE_INCOMING && vm->state != VMM_STATE_PAUSED)
        return xt_error(vm->ctx, vm->state == VMM_STATE_RUNNING ? -EBUSY :
                        -EINVAL, "state restore: the VM is %s",
                        vmm_state_name(vm->state));
    rc = hv_state_check(vm->ctx, blob, len, "sim", SIM_BLOB_VERSION);
    if (rc < 0)
        return rc;
    if (len != sizeof(b))
        return xt_error(vm->ctx, -EINVAL, "state blob: %zu bytes, a sim "
                        "blob has %zu", len, sizeof(b));
    memcpy(&b, blob, sizeof(b));
    for (i = 0; i < sizeof(b.reserved) / sizeof(b.reserved[0]); i++)
        if (b.reserved[i])
            return xt_error(vm->ctx, -EINVAL, "state blob: reserved field "
                            "%u is set", i);
    if (b.nr_disks != vmm_pci_nr_disks(vm->pci))
        return xt_error(vm->ctx, -EINVAL, "state blob: the guest had %llu "
                        "disk(s), this VM has %u (--disk)",
                        (unsigned long long)b.nr_disks,
                        vmm_pci_nr_disks(vm->pci));
    if (b.nr_disks > VMM_MAX_DISKS || b.hp_gen > UINT32_MAX ||
        (b.slots ? b.slots : default_slots(b.nr_disks)) !=
        vmm_pci_slots(vm->pci))
        return xt_error(vm->ctx, -EINVAL, "state blob: the guest had disks "
                        "in slots %#llx, this VM has %#x (--disk "
                        "[SLOT=]URI)", (unsigned long long)(b.slots ? b.slots
                        : default_slots(b.nr_disks)),
                        vmm_pci_slots(vm->pci));
    if (b.tsc_khz != SIM_TSC_KHZ)
        return xt_error(vm->ctx, -EINVAL, "state blob: TSC of %llu kHz, the "
                        "sim's runs at %u", (unsigned long long)b.tsc_khz,
                        SIM_TSC_KHZ);
    if (b.nr_pages != vm->nr_pages)
        return xt_error(vm->ctx, -EINVAL, "state blob: guest of %llu pages, "
                        "this VM has %llu", (unsigned long long)b.nr_pages,
                        (unsigned long long)vm->nr_pages);
    if (b.test_guest != 1 || b.initialised > 1)
        return xt_error(vm->ctx, -EINVAL, "state blob: test_guest %u, "
                        "initialised %u (the sim runs only the test guest)",
                        b.test_guest, b.initialised);
    if (!guest_pages_ok(vm, b.params_gpa, b.status_gpa, b.image_end))
        return xt_error(vm->ctx, -EINVAL, "state blob: params %#llx, status "
                        "%#llx or image end %#llx outside %zu bytes of RAM",
                        (unsigned long long)b.params_gpa,
                        (unsigned long long)b.status_gpa,
                        (unsigned long long)b.image_end, vm->mem_size);

    pthread_mutex_lock(&vm->lock);
    /* The guest's time goes on from the value saved. */
    sp->tsc_offset = mono_ns() - b.tsc;
    sp->initialised = b.initialised;
    sp->mem_fresh = false;      /* RAM came from the peer */
    vmm_pci_hp_set_gen(vm->pci, (uint32_t)b.hp_gen);
    vm->test_guest = true;
    vm->params_gpa = b.params_gpa;
    vm->status_gpa = b.status_gpa;
    vm->image_end = b.image_end;
    if (vm->state == VMM_STATE_INCOMING)
        vm->state = VMM_STATE_PAUSED;
    pthread_mutex_unlock(&vm->lock);
    return 0;
}

static void sim_fini(struct vmm *vm)
{
    struct sim_priv *sp = priv_of(vm);

    if (!sp)
        return;
    pthread_mutex_lock(&vm->lock);
    sp->quit = true;
    call_writer(sp);
    pthread_mutex_unlock(&vm->lock);
    if (sp->thread_started)
        pthread_join(sp->thread, NULL);
    vmm_wplog_close(sp->wl);
    pthread_cond_destroy(&sp->cv);
    free(sp);
    vm->eng_priv = NULL;
}

const struct vmm_engine_ops vmm_sim_engine = {
    .name = "sim",
    .init = sim_init,
    .start_boot = sim_start_boot,
    .pause = sim_pause,
    .resume = sim_resume,
    .logdirty = sim_logdirty,
    .dirty = sim_dirty,
    .throttle = sim_throttle,
    .state_save = sim_state_save,
    .state_restore = sim_state_restore,
    .fini = sim_fini,
};
