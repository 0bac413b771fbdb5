/*
 * vmm_kvm.c - the KVM engine of xm-vmm: one KVM VM with one memory slot
 * over the guest-RAM memfd, one thread per vCPU entered directly in 64-bit
 * ring 3 (PLATFORM.md: /dev/kvm here is PVM, ring 0 is emulated), dirty
 * logging with KVM_MEM_LOG_DIRTY_PAGES, and a state blob complete enough
 * to continue a running vCPU in another process.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "hv.h"
#include "vmm_internal.h"
#include "xmg_abi.h"

/* 2: the PCI bus and its disks' device state after the vCPUs.  3: each
 * device record carries its slot, the section the hot-plug controller's
 * state (vmm_pci_state_save); a version 2 blob is still taken. */
#define KVM_BLOB_VERSION    3u
#define KVM_BLOB_VERSION_V2 2u
#define KVM_MAX_VCPUS       8u
#define KVM_MAX_MSRS        256u
#define THROTTLE_PERIOD_NS  10000000ull     /* 10 ms */

struct kvm_vcpu_ctx {
    struct vmm *vm;
    unsigned idx;
    int fd;
    struct kvm_run *run;
    pthread_t thread;
    bool thread_started;
    bool throttle_due;          /* guarded by vm->lock */
};

struct kvm_priv {
    int kvm_fd;
    int vm_fd;
    size_t run_size;
    struct kvm_vcpu_ctx vcpus[KVM_MAX_VCPUS];
    struct kvm_cpuid2 *cpuid;
    uint32_t msr_list[KVM_MAX_MSRS];    /* MSRs saved in a blob */
    unsigned nr_msrs;
    uint64_t *acc;              /* dirty bits gathered, not yet harvested */
    bool manual_clear;          /* KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 on */
    /* guarded by vm->lock: */
    pthread_cond_t cv;
    bool pause_req;
    bool quit;
    unsigned parked;
    pthread_t throttle_thread;
    bool throttle_started;
};

/* One blob section per vCPU. */
struct kvm_blob_vcpu {
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    struct kvm_xsave xsave;
    struct kvm_xcrs xcrs;
    struct kvm_vcpu_events events;
    struct kvm_debugregs dregs;
    uint32_t nr_msrs;
    uint32_t pad;
    struct kvm_msr_entry msrs[KVM_MAX_MSRS];
};

struct kvm_blob {
    struct hv_state_hdr hdr;
    uint32_t nr_vcpus;
    uint32_t test_guest;
    uint64_t nr_pages;
    uint64_t tsc_khz;
    uint64_t params_gpa;
    uint64_t status_gpa;
    uint32_t nr_disks;
    uint32_t pad;
    uint64_t reserved[3];
    struct kvm_blob_vcpu vcpu[];
    /* then the device state, vmm_pci_state_size(nr_disks) bytes */
};

static struct kvm_priv *priv_of(struct vmm *vm)
{
    return vm->eng_priv;
}

static void kick_handler(int sig)
{
    (void)sig;  /* only interrupts KVM_RUN */
}

/* MSRs a vCPU's state needs, when this KVM knows them. */
static const uint32_t wanted_msrs[] = {
    0x00000174, 0x00000175, 0x00000176,     /* SYSENTER_CS/ESP/EIP */
    0x00000277,                             /* PAT */
    0x000001a0,                             /* MISC_ENABLE */
    0xc0000081, 0xc0000082, 0xc0000083, 0xc0000084,  /* STAR..SFMASK */
    0xc0000102,                             /* KERNEL_GS_BASE */
    0xc0000103,                             /* TSC_AUX */
    0x00000010,                             /* TSC: last, so the offset is
                                             * set after everything else */
};

static int pick_msrs(struct vmm *vm, struct kvm_priv *kp)
{
    struct kvm_msr_list *list;
    unsigned i, j;
    int rc = 0;

    list = calloc(1, sizeof(*list) + 1024 * sizeof(uint32_t));
    if (!list)
        return xt_error(vm->ctx, -ENOMEM, "MSR list");
    list->nmsrs = 1024;
    if (ioctl(kp->kvm_fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
        rc = xt_error(vm->ctx, -errno, "KVM_GET_MSR_INDEX_LIST");
        goto out;
    }
    kp->nr_msrs = 0;
    for (i = 0; i < sizeof(wanted_msrs) / sizeof(wanted_msrs[0]); i++)
        for (j = 0; j < list->nmsrs; j++)
            if (list->indices[j] == wanted_msrs[i]) {
                kp->msr_list[kp->nr_msrs++] = wanted_msrs[i];
                break;
            }
out:
    free(list);
    return rc;
}

/* Pages write-protected per KVM_CLEAR_DIRTY_LOG: KVM holds its MMU lock
 * for one call, so a vCPU that faults meanwhile waits at most that long
 * (the whole of 1 GiB at once stalled the guest for milliseconds). */
#define CLEAR_CHUNK_PAGES 4096u

/*
 * Manual dirty-log clearing (KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, initially
 * set): KVM_GET_DIRTY_LOG only reads, and write protection comes with
 * KVM_CLEAR_DIRTY_LOG a chunk at a time, instead of all of a slot at once
 * when logging starts and all of the dirty pages at each harvest.  Where
 * KVM lacks it, the classic mode stays.
 */
static void enable_manual_clear(struct vmm *vm, struct kvm_priv *kp)
{
    struct kvm_enable_cap cap = {
        .cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
        .args = { KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE |
                  KVM_DIRTY_LOG_INITIALLY_SET },
    };
    int have = ioctl(kp->vm_fd, KVM_CHECK_EXTENSION,
                     KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);

    kp->manual_clear = have > 0 &&
        ((unsigned)have & cap.args[0]) == cap.args[0] &&
        ioctl(kp->vm_fd, KVM_ENABLE_CAP, &cap) == 0;
    xt_debug(vm->ctx, "kvm: dirty log cleared %s",
             kp->manual_clear ? "a chunk at a time" : "by KVM_GET_DIRTY_LOG");
}

/* Clears (and write-protects) the pages set in bits, a chunk at a time;
 * chunks with no bit set are skipped. */
static int clear_dirty(struct vmm *vm, struct kvm_priv *kp, uint64_t *bits)
{
    uint64_t first, w;

    for (first = 0; first < vm->nr_pages; first += CLEAR_CHUNK_PAGES) {
        uint64_t n = vm->nr_pages - first < CLEAR_CHUNK_PAGES ?
                     vm->nr_pages - first : CLEAR_CHUNK_PAGES;
        struct kvm_clear_dirty_log c = {
            .slot = 0,
            .first_page = first,
            .num_pages = (uint32_t)n,
            .dirty_bitmap = bits + first / 64,
        };
        bool any = false;

        for (w = 0; w < (n + 63) / 64 && !any; w++)
            any = bits[first / 64 + w] != 0;
        if (any && ioctl(kp->vm_fd, KVM_CLEAR_DIRTY_LOG, &c) < 0)
            return xt_error(vm->ctx, -errno, "KVM_CLEAR_DIRTY_LOG of pages "
                            "%#llx+%llu", (unsigned long long)first,
                            (unsigned long long)n);
    }
    return 0;
}

/* Reads KVM's dirty bits into bitmap (nr_pages bits); with clear, they
 * are cleared in KVM too, the pages write-protected again. */
static int get_dirty(struct vmm *vm, struct kvm_priv *kp, uint64_t *bitmap,
                     bool clear)
{
    struct kvm_dirty_log log = { .slot = 0 };

    xt_bitmap_zero(bitmap, vm->nr_pages);
    log.dirty_bitmap = bitmap;
    if (ioctl(kp->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0)
        return xt_error(vm->ctx, -errno, "KVM_GET_DIRTY_LOG");
    return kp->manual_clear && clear ? clear_dirty(vm, kp, bitmap) : 0;
}

static int kvm_init(struct vmm *vm)
{
    struct kvm_userspace_memory_region region;
    struct kvm_priv *kp;
    unsigned i;
    int r, rc;

    if (vm->nr_vcpus == 0 || vm->nr_vcpus > KVM_MAX_VCPUS)
        return xt_error(vm->ctx, -EINVAL, "kvm: %u vCPUs (1..%u)",
                        vm->nr_vcpus, KVM_MAX_VCPUS);
    kp = calloc(1, sizeof(*kp));
    if (!kp)
        return xt_error(vm->ctx, -ENOMEM, "kvm engine");
    vm->eng_priv = kp;
    kp->kvm_fd = kp->vm_fd = -1;
    for (i = 0; i < KVM_MAX_VCPUS; i++)
        kp->vcpus[i].fd = -1;
    {
        /* Timed waits below use CLOCK_MONOTONIC deadlines. */
        pthread_condattr_t ca;

        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&kp->cv, &ca);
        pthread_condattr_destroy(&ca);
    }

    kp->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kp->kvm_fd < 0)
        return xt_error(vm->ctx, -errno, "kvm: cannot open /dev/kvm");
    r = ioctl(kp->kvm_fd, KVM_GET_API_VERSION, 0);
    if (r != KVM_API_VERSION)
        return xt_error(vm->ctx, -ENOTSUP, "kvm: API version %d, want %d",
                        r, KVM_API_VERSION);
    kp->vm_fd = ioctl(kp->kvm_fd, KVM_CREATE_VM, 0);
    if (kp->vm_fd < 0)
        return xt_error(vm->ctx, -errno, "KVM_CREATE_VM");
    r = ioctl(kp->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (r <= 0)
        return xt_error(vm->ctx, -errno, "KVM_GET_VCPU_MMAP_SIZE");
    kp->run_size = r;

    enable_manual_clear(vm, kp);
    memset(&region, 0, sizeof(region));
    region.slot = 0;
    region.guest_phys_addr = 0;
    region.memory_size = vm->mem_size;
    region.userspace_addr = (uintptr_t)vm->mem;
    if (ioctl(kp->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
        return xt_error(vm->ctx, -errno, "kvm: guest RAM slot of %zu bytes",
                        vm->mem_size);

    kp->acc = xt_bitmap_alloc(vm->nr_pages);
    if (!kp->acc)
        return xt_error(vm->ctx, -ENOMEM, "dirty bitmap");

    kp->cpuid = calloc(1, sizeof(*kp->cpuid) +
                       256 * sizeof(struct kvm_cpuid_entry2));
    if (!kp->cpuid)
        return xt_error(vm->ctx, -ENOMEM, "cpuid");
    kp->cpuid->nent = 256;
    if (ioctl(kp->kvm_fd, KVM_GET_SUPPORTED_CPUID, kp->cpuid) < 0)
        return xt_error(vm->ctx, -errno, "KVM_GET_SUPPORTED_CPUID");
    rc = pick_msrs(vm, kp);
    if (rc < 0)
        return rc;

    for (i = 0; i < vm->nr_vcpus; i++) {
        struct kvm_vcpu_ctx *vc = &kp->vcpus[i];

        vc->vm = vm;
        vc->idx = i;
        vc->fd = ioctl(kp->vm_fd, KVM_CREATE_VCPU, i);
        if (vc->fd < 0)
            return xt_error(vm->ctx, -errno, "KVM_CREATE_VCPU %u", i);
        vc->run = mmap(NULL, kp->run_size, PROT_READ | PROT_WRITE,
                       MAP_SHARED, vc->fd, 0);
        if (vc->run == MAP_FAILED) {
            vc->run = NULL;
            return xt_error(vm->ctx, -errno, "mapping kvm_run of vCPU %u", i);
        }
        if (ioctl(vc->fd, KVM_SET_CPUID2, kp->cpuid) < 0)
            return xt_error(vm->ctx, -errno, "KVM_SET_CPUID2 vCPU %u", i);
    }
    r = ioctl(kp->vcpus[0].fd, KVM_GET_TSC_KHZ, 0);
    if (r > 0)
        vm->tsc_khz = r;
    return 0;
}

/* Parks the calling vCPU thread while a pause or a non-running state
 * holds; returns false when the thread must end.  Called with vm->lock. */
static bool park(struct vmm *vm, struct kvm_priv *kp)
{
    while (!kp->quit && (kp->pause_req || vm->state != VMM_STATE_RUNNING)) {
        kp->parked++;
        pthread_cond_broadcast(&kp->cv);
        pthread_cond_wait(&kp->cv, &vm->lock);
        kp->parked--;
    }
    return !kp->quit;
}

/* The throttle: sleep pct% of a period, waking early for a pause. */
static void throttle_sleep(struct vmm *vm, struct kvm_priv *kp)
{
    struct timespec until;
    uint64_t ns = THROTTLE_PERIOD_NS * vm->throttle_pct / 100;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += ns % 1000000000ull;
    until.tv_sec += ns / 1000000000ull + until.tv_nsec / 1000000000;
    until.tv_nsec %= 1000000000;
    while (!kp->pause_req && !kp->quit &&
           pthread_cond_timedwait(&kp->cv, &vm->lock, &until) == 0)
        ;
}

static void crashed(struct vmm *vm, struct kvm_vcpu_ctx *vc, const char *why)
{
    struct kvm_regs regs;

    memset(&regs, 0, sizeof(regs));
    ioctl(vc->fd, KVM_GET_REGS, &regs);
    xt_log(vm->ctx, XT_LOG_ERROR, "vCPU %u: %s (rip %#llx rsp %#llx "
           "rflags %#llx)", vc->idx, why, (unsigned long long)regs.rip,
           (unsigned long long)regs.rsp, (unsigned long long)regs.rflags);
    pthread_mutex_lock(&vm->lock);
    vm->state = VMM_STATE_CRASHED;
    pthread_mutex_unlock(&vm->lock);
}

/* Port I/O exit; returns false when the guest stopped itself. */
static bool handle_io(struct vmm *vm, struct kvm_vcpu_ctx *vc)
{
    struct kvm_run *run = vc->run;
    uint8_t *data = (uint8_t *)run + run->io.data_offset;
    bool stop = false;
    uint32_t i;

    if (run->io.direction == KVM_EXIT_IO_IN) {
        /* Nothing behind a port reads all ones. */
        for (i = 0; i < run->io.count; i++) {
            uint32_t val = 0xffffffff;

            vmm_pci_port_in(vm->pci, run->io.port, run->io.size, &val);
            memcpy(data + i * run->io.size, &val, run->io.size);
        }
        return true;
    }
    if (run->io.port == XMG_PORT_IDLE && run->io.size == 4 &&
        run->io.count == 1) {
        uint32_t us;

        memcpy(&us, data, sizeof(us));
        vmm_guest_idle(vm, us);
        return true;
    }
    for (i = 0; i < run->io.count; i++) {
        uint32_t val = 0;

        memcpy(&val, data + i * run->io.size, run->io.size);
        if (!vmm_pci_port_out(vm->pci, run->io.port, run->io.size, val))
            stop |= vmm_guest_port_out(vm, run->io.port, val, run->io.size);
    }
    if (stop) {
        pthread_mutex_lock(&vm->lock);
        vm->state = VMM_STATE_SHUTDOWN;
        pthread_mutex_unlock(&vm->lock);
    }
    return !stop;
}

static void *vcpu_thread(void *arg)
{
    struct kvm_vcpu_ctx *vc = arg;
    struct vmm *vm = vc->vm;
    struct kvm_priv *kp = priv_of(vm);
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    /* The guest's idle waits end on time (the default slack is 50 us). */
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
    /* SIGTERM and SIGINT are the control thread's (its poll loop looks
     * at them); here they would only interrupt disk I/O. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    for (;;) {
        int r;

        pthread_mutex_lock(&vm->lock);
        if (!park(vm, kp)) {
            pthread_mutex_unlock(&vm->lock);
            break;
        }
        if (vc->throttle_due) {
            vc->throttle_due = false;
            if (vm->throttle_pct)
                throttle_sleep(vm, kp);
            pthread_mutex_unlock(&vm->lock);
            continue;   /* re-check pause before running */
        }
        pthread_mutex_unlock(&vm->lock);

        r = ioctl(vc->fd, KVM_RUN, 0);
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                /* The flag another thread sets to kick us (kick_all):
                 * both sides store atomically. */
                __atomic_store_n(&vc->run->immediate_exit, 0,
                                 __ATOMIC_RELAXED);
                continue;
            }
            crashed(vm, vc, "KVM_RUN failed");
            continue;
        }
        switch (vc->run->exit_reason) {
        case KVM_EXIT_IO:
            handle_io(vm, vc);
            break;
        case KVM_EXIT_INTR:
            break;
        case KVM_EXIT_HLT:
            crashed(vm, vc, "guest halted");
            break;
        case KVM_EXIT_SHUTDOWN:
            crashed(vm, vc, "guest triple fault");
            break;
        case KVM_EXIT_FAIL_ENTRY:
            crashed(vm, vc, "VM entry failed");
            break;
        case KVM_EXIT_INTERNAL_ERROR:
            crashed(vm, vc, "KVM internal error");
            break;
        case KVM_EXIT_MMIO:
            crashed(vm, vc, "guest touched memory outside its RAM");
            break;
        default:
            xt_warn(vm->ctx, "vCPU %u: unhandled exit %u", vc->idx,
                    vc->run->exit_reason);
            crashed(vm, vc, "unhandled exit");
            break;
        }
    }
    return NULL;
}

/* Makes every vCPU leave KVM_RUN soon.  Called with vm->lock. */
static void kick_all(struct vmm *vm, struct kvm_priv *kp)
{
    unsigned i;

    for (i = 0; i < vm->nr_vcpus; i++) {
        struct kvm_vcpu_ctx *vc = &kp->vcpus[i];

        if (!vc->thread_started)
            continue;
        __atomic_store_n(&vc->run->immediate_exit, 1, __ATOMIC_RELAXED);
        pthread_kill(vc->thread, SIGUSR1);
    }
    pthread_cond_broadcast(&kp->cv);
}

static void *throttle_thread(void *arg)
{
    struct vmm *vm = arg;
    struct kvm_priv *kp = priv_of(vm);
    struct timespec until;

    pthread_mutex_lock(&vm->lock);
    while (!kp->quit && vm->throttle_pct) {
        unsigned i;
        uint64_t ns = THROTTLE_PERIOD_NS * (100 - vm->throttle_pct) / 100;

        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += ns;
        until.tv_sec += until.tv_nsec / 1000000000;
        until.tv_nsec %= 1000000000;
        while (!kp->quit && vm->throttle_pct &&
               pthread_cond_timedwait(&kp->cv, &vm->lock, &until) == 0)
            ;
        if (kp->quit || !vm->throttle_pct)
            break;
        for (i = 0; i < vm->nr_vcpus; i++)
            kp->vcpus[i].throttle_due = true;
        kick_all(vm, kp);
        /* The vCPUs now sleep their share; wait it out too. */
        ns = THROTTLE_PERIOD_NS * vm->throttle_pct / 100;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += ns;
        until.tv_sec += until.tv_nsec / 1000000000;
        until.tv_nsec %= 1000000000;
        while (!kp->quit && vm->throttle_pct &&
               pthread_cond_timedwait(&kp->cv, &vm->lock, &until) == 0)
            ;
    }
    kp->throttle_started = false;
    pthread_mutex_unlock(&vm->lock);
    return NULL;
}

static int start_threads(struct vmm *vm)
{
    struct kvm_priv *kp = priv_of(vm);
    struct sigaction sa;
    unsigned i;
    int r;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = kick_handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    for (i = 0; i < vm->nr_vcpus; i++) {
        r = pthread_create(&kp->vcpus[i].thread, NULL, vcpu_thread,
                           &kp->vcpus[i]);
        if (r)
            return xt_error(vm->ctx, -r, "starting vCPU thread %u", i);
        kp->vcpus[i].thread_started = true;
    }
    return 0;
}

static void seg(struct kvm_segment *s, uint16_t sel, uint8_t type, bool code)
{
    memset(s, 0, sizeof(*s));
    s->base = 0;
    s->limit = 0xffffffff;
    s->selector = sel;
    s->type = type;
    s->present = 1;
    s->dpl = sel & 3;
    s->s = 1;
    s->l = code;
    s->db = !code;
    s->g = 1;
}

/*
 * A TSS whose I/O permission bitmap allows every port.  Under PVM the
 * guest's ring-3 code does not keep IOPL 3 (RFLAGS reads IOPL 0 once it
 * runs), so each in/out is emulated by KVM, which then checks the TSS
 * bitmap: without one, only ports whose bits happened to read as zero
 * (low ports, from whatever lay at address 0) worked, and 0xcf8 or a BAR
 * at 0xc000 faulted.  It lives in low memory, which the direct-entry
 * guest leaves to its loader (docs/specs/guest-abi.md 2).
 */
#define TSS_GPA         0x1000u
#define TSS_IOMAP       0x68u                   /* bitmap offset */
#define TSS_LIMIT       (TSS_IOMAP + 65536 / 8) /* + the 0xff end byte */

static int setup_tss(struct vmm *vm)
{
    uint16_t iomap = TSS_IOMAP;

    if (vm->mem_size < TSS_GPA + TSS_LIMIT + 1)
        return xt_error(vm->ctx, -ENOMEM, "kvm: no room for the TSS");
    memset(vm->mem + TSS_GPA, 0, TSS_LIMIT + 1);
    memcpy(vm->mem + TSS_GPA + 102, &iomap, sizeof(iomap));
    vm->mem[TSS_GPA + TSS_LIMIT] = 0xff;
    return 0;
}

static int kvm_start_boot(struct vmm *vm, uint64_t entry, uint64_t stack_top,
                          uint64_t pt_gpa)
{
    struct kvm_priv *kp = priv_of(vm);
    struct kvm_sregs sregs;
    struct kvm_regs regs;
    unsigned i;
    int rc;

    /* The disks are there before the guest's first instruction. */
    rc = vmm_pci_disks_connect(vm->pci);
    if (rc == 0)
        rc = setup_tss(vm);
    if (rc < 0)
        return rc;
    for (i = 0; i < vm->nr_vcpus; i++) {
        struct kvm_vcpu_ctx *vc = &kp->vcpus[i];

        if (ioctl(vc->fd, KVM_GET_SREGS, &sregs) < 0)
            return xt_error(vm->ctx, -errno, "KVM_GET_SREGS");
        /* Long mode, paging, ring 3: CR0 = PE|MP|ET|NE|WP|PG,
         * CR4 = PAE|OSFXSR|OSXMMEXCPT, EFER = LME|LMA. */
        sregs.cr0 = 0x80050033;
        sregs.cr4 = 0x620;
        sregs.efer = 0x500;
        sregs.cr3 = pt_gpa;
        seg(&sregs.cs, XMG_SEL_CODE64_U, 0xb, true);
        seg(&sregs.ss, XMG_SEL_DATA_U, 0x3, false);
        seg(&sregs.ds, XMG_SEL_DATA_U, 0x3, false);
        seg(&sregs.es, XMG_SEL_DATA_U, 0x3, false);
        seg(&sregs.fs, XMG_SEL_DATA_U, 0x3, false);
        seg(&sregs.gs, XMG_SEL_DATA_U, 0x3, false);
        memset(&sregs.tr, 0, sizeof(sregs.tr));
        sregs.tr.base = TSS_GPA;
        sregs.tr.limit = TSS_LIMIT;
        sregs.tr.type = 0xb;    /* busy 64-bit TSS */
        sregs.tr.present = 1;
        memset(&sregs.ldt, 0, sizeof(sregs.ldt));
        sregs.ldt.type = 0x2;
        sregs.ldt.unusable = 1;
        if (ioctl(vc->fd, KVM_SET_SREGS, &sregs) < 0)
            return xt_error(vm->ctx, -errno, "KVM_SET_SREGS (ring-3 entry)");
        memset(&regs, 0, sizeof(regs));
        regs.rip = entry;
        /* Each vCPU below the previous one's stack (one vCPU today). */
        regs.rsp = stack_top - (uint64_t)i * 65536;
        regs.rflags = 0x3002;   /* IOPL 3, reserved bit 1 */
        if (ioctl(vc->fd, KVM_SET_REGS, &regs) < 0)
            return xt_error(vm->ctx, -errno, "KVM_SET_REGS");
    }
    pthread_mutex_lock(&vm->lock);
    vm->state = VMM_STATE_RUNNING;
    pthread_mutex_unlock(&vm->lock);
    return start_threads(vm);
}

static int kvm_pause(struct vmm *vm)
{
    struct kvm_priv *kp = priv_of(vm);

    pthread_mutex_lock(&vm->lock);
    kp->pause_req = true;
    kick_all(vm, kp);
    while (kp->parked < vm->nr_vcpus && kp->vcpus[0].thread_started)
        pthread_cond_wait(&kp->cv, &vm->lock);
    if (vm->state == VMM_STATE_RUNNING)
        vm->state = VMM_STATE_PAUSED;
    pthread_mutex_unlock(&vm->lock);
    /* No request is in flight now (a notify completes before its vCPU
     * parks).  Hand the disks back: flushed, connections closed, so that
     * another VMM (a migration's destination) may take them. */
    return vmm_pci_disks_release(vm->pci);
}

static int kvm_resume(struct vmm *vm)
{
    struct kvm_priv *kp = priv_of(vm);
    enum vmm_state state;
    int rc = 0;

    pthread_mutex_lock(&vm->lock);
    state = vm->state;
    pthread_mutex_unlock(&vm->lock);
    if (state != VMM_STATE_PAUSED && state != VMM_STATE_RUNNING)
        return xt_error(vm->ctx, -EINVAL, "resume: the VM is %s",
                        vmm_state_name(state));
    /* The disks come back before any vCPU runs; without them the VM
     * stays paused (the error names the disk). */
    rc = vmm_pci_disks_connect(vm->pci);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&vm->lock);
    if (vm->state == VMM_STATE_PAUSED || vm->state == VMM_STATE_RUNNING) {
        kp->pause_req = false;
        vm->state = VMM_STATE_RUNNING;
        pthread_cond_broadcast(&kp->cv);
    } else {
        rc = -EINVAL;
    }
    pthread_mutex_unlock(&vm->lock);
    if (rc < 0)
        return xt_error(vm->ctx, rc, "resume: the VM is %s",
                        vmm_state_name(vm->state));
    if (!kp->vcpus[0].thread_started)
        return start_threads(vm);
    return 0;
}

static int kvm_logdirty(struct vmm *vm, bool enable)
{
    struct kvm_priv *kp = priv_of(vm);
    struct kvm_userspace_memory_region region = {
        .slot = 0,
        .flags = enable ? KVM_MEM_LOG_DIRTY_PAGES : 0,
        .guest_phys_addr = 0,
        .memory_size = vm->mem_size,
        .userspace_addr = (uintptr_t)vm->mem,
    };

    if (ioctl(kp->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
        return xt_error(vm->ctx, -errno, "kvm: %s dirty logging",
                        enable ? "enabling" : "disabling");
    xt_bitmap_zero(kp->acc, vm->nr_pages);
    vmm_pci_dirty_reset(vm->pci);
    /* Initially set: every page reads dirty until cleared.  Logging
     * starts clean, as in the classic mode (acc is scratch here). */
    if (enable && kp->manual_clear) {
        int rc = get_dirty(vm, kp, kp->acc, true);

        xt_bitmap_zero(kp->acc, vm->nr_pages);
        return rc;
    }
    return 0;
}

static int kvm_dirty(struct vmm *vm, uint64_t *bitmap, bool clear,
                     uint64_t *count_r)
{
    struct kvm_priv *kp = priv_of(vm);
    int rc;

    if (!vm->logdirty)
        return xt_error(vm->ctx, -EINVAL, "dirty bitmap: log-dirty mode is "
                        "off");
    /* KVM's bitmap is in unsigned longs, i.e. our 64-bit words.  A peek
     * (no clear) keeps what it saw in acc: in the classic mode KVM has
     * forgotten it, and a harvest must still return it. */
    rc = get_dirty(vm, kp, bitmap, clear);
    if (rc < 0)
        return rc;
    xt_bitmap_or(kp->acc, bitmap, vm->nr_pages);
    memcpy(bitmap, kp->acc, XT_BITMAP_WORDS(vm->nr_pages) * 8);
    if (clear)
        xt_bitmap_zero(kp->acc, vm->nr_pages);
    /* What devices wrote from user space, which KVM cannot see. */
    vmm_pci_dirty_merge(vm->pci, bitmap, clear);
    *count_r = xt_bitmap_popcount(bitmap, vm->nr_pages);
    return 0;
}

static int kvm_throttle(struct vmm *vm, unsigned pct)
{
    struct kvm_priv *kp = priv_of(vm);
    int r = 0;

    pthread_mutex_lock(&vm->lock);
    vm->throttle_pct = pct;
    pthread_cond_broadcast(&kp->cv);
    if (pct && !kp->throttle_started) {
        if (kp->throttle_thread)
            pthread_join(kp->throttle_thread, NULL);
        r = pthread_create(&kp->throttle_thread, NULL, throttle_thread, vm);
        kp->throttle_started = r == 0;
    }
    pthread_mutex_unlock(&vm->lock);
    if (r)
        return xt_error(vm->ctx, -r, "starting the throttle thread");
    return 0;
}

static size_t pci_state_size(unsigned nr_disks, uint32_t version)
{
    return version == KVM_BLOB_VERSION_V2 ? vmm_pci_state_size_v2(nr_disks)
                                          : vmm_pci_state_size(nr_disks);
}

static size_t blob_size(unsigned nr_vcpus, unsigned nr_disks,
                        uint32_t version)
{
    return sizeof(struct kvm_blob) + nr_vcpus * sizeof(struct kvm_blob_vcpu) +
           pci_state_size(nr_disks, version);
}

static int save_vcpu(struct vmm *vm, struct kvm_priv *kp,
                     struct kvm_vcpu_ctx *vc, struct kvm_blob_vcpu *b)
{
    struct {
        struct kvm_msrs h;
        struct kvm_msr_entry e[KVM_MAX_MSRS];
    } msrs;
    unsigned i;
    int r;

    if (ioctl(vc->fd, KVM_GET_REGS, &b->regs) < 0 ||
        ioctl(vc->fd, KVM_GET_SREGS, &b->sregs) < 0 ||
        ioctl(vc->fd, KVM_GET_XSAVE, &b->xsave) < 0 ||
        ioctl(vc->fd, KVM_GET_XCRS, &b->xcrs) < 0 ||
        ioctl(vc->fd, KVM_GET_VCPU_EVENTS, &b->events) < 0 ||
        ioctl(vc->fd, KVM_GET_DEBUGREGS, &b->dregs) < 0)
        return xt_error(vm->ctx, -errno, "saving vCPU %u registers",
                        vc->idx);
    memset(&msrs, 0, sizeof(msrs));
    msrs.h.nmsrs = kp->nr_msrs;
    for (i = 0; i < kp->nr_msrs; i++)
        msrs.e[i].index = kp->msr_list[i];
    r = ioctl(vc->fd, KVM_GET_MSRS, &msrs);
    if (r < 0 || (unsigned)r != kp->nr_msrs)
        return xt_error(vm->ctx, r < 0 ? -errno : -EIO, "saving vCPU %u "
                        "MSRs: %d of %u read", vc->idx, r, kp->nr_msrs);
    b->nr_msrs = kp->nr_msrs;
    memcpy(b->msrs, msrs.e, kp->nr_msrs * sizeof(msrs.e[0]));
    return 0;
}

static int kvm_state_save(struct vmm *vm, void **blob_r, size_t *len_r)
{
    struct kvm_priv *kp = priv_of(vm);
    size_t len = blob_size(vm->nr_vcpus, vmm_pci_nr_disks(vm->pci),
                           KVM_BLOB_VERSION);
    struct kvm_blob *b;
    unsigned i;
    int rc = 0;

    if (vm->state == VMM_STATE_RUNNING)
        return xt_error(vm->ctx, -EBUSY, "state save: pause the VM first");
    b = calloc(1, len);
    if (!b)
        return xt_error(vm->ctx, -ENOMEM, "state blob");
    b->nr_vcpus = vm->nr_vcpus;
    b->nr_pages = vm->nr_pages;
    b->tsc_khz = vm->tsc_khz;
    b->test_guest = vm->test_guest;
    b->params_gpa = vm->params_gpa;
    b->status_gpa = vm->status_gpa;
    b->nr_disks = vmm_pci_nr_disks(vm->pci);
    for (i = 0; i < vm->nr_vcpus && rc == 0; i++)
        rc = save_vcpu(vm, kp, &kp->vcpus[i], &b->vcpu[i]);
    vmm_pci_state_save(vm->pci, &b->vcpu[vm->nr_vcpus]);
    if (rc < 0) {
        free(b);
        return rc;
    }
    hv_state_seal(b, len, "kvm", KVM_BLOB_VERSION);
    *blob_r = b;
    *len_r = len;
    return 0;
}

static int restore_vcpu(struct vmm *vm, struct kvm_vcpu_ctx *vc,
                        const struct kvm_blob_vcpu *b)
{
    struct {
        struct kvm_msrs h;
        struct kvm_msr_entry e[KVM_MAX_MSRS];
    } msrs;
    int r;

    if (b->nr_msrs > KVM_MAX_MSRS)
        return xt_error(vm->ctx, -EINVAL, "state blob: vCPU %u has %u MSRs",
                        vc->idx, b->nr_msrs);
    /* Order: special registers (modes) before general ones; MSRs last so
     * the TSC offset is computed at the very end. */
    if (ioctl(vc->fd, KVM_SET_SREGS, &b->sregs) < 0)
        return xt_error(vm->ctx, -errno, "restoring vCPU %u sregs", vc->idx);
    if (ioctl(vc->fd, KVM_SET_XCRS, &b->xcrs) < 0)
        return xt_error(vm->ctx, -errno, "restoring vCPU %u XCRs", vc->idx);
    if (ioctl(vc->fd, KVM_SET_XSAVE, &b->xsave) < 0)
        return xt_error(vm->ctx, -errno, "restoring vCPU %u XSAVE", vc->idx);
    if (ioctl(vc->fd, KVM_SET_REGS, &b->regs) < 0)
        return xt_error(vm->ctx, -errno, "restoring vCPU %u regs", vc->idx);
    if (ioctl(vc->fd, KVM_SET_VCPU_EVENTS, &b->events) < 0)
        return xt_error(vm->ctx, -errno, "restoring vCPU %u events",
                        vc->idx);
    if (ioctl(vc->fd, KVM_SET_DEBUGREGS, &b->dregs) < 0)
        return xt_error(vm->ctx, -errno, "restoring vCPU %u debug regs",
                        vc->idx);
    memset(&msrs, 0, sizeof(msrs));
    msrs.h.nmsrs = b->nr_msrs;
    memcpy(msrs.e, b->msrs, b->nr_msrs * sizeof(msrs.e[0]));
    r = ioctl(vc->fd, KVM_SET_MSRS, &msrs);
    if (r < 0 || (unsigned)r != b->nr_msrs)
        return xt_error(vm->ctx, r < 0 ? -errno : -EIO, "restoring vCPU %u "
                        "MSRs: %d of %u set (MSR %#x refused)", vc->idx, r,
                        b->nr_msrs, r >= 0 && (unsigned)r < b->nr_msrs ?
                        b->msrs[r].index : 0);
    return 0;
}

/* The blob's version, when it is one we read (2 or 3); the rest of the
 * header is checked by hv_state_check. */
static int blob_version(struct vmm *vm, const void *blob, size_t len,
                        uint32_t *version_r)
{
    struct hv_state_hdr hdr = { 0 };

    memcpy(&hdr, blob, len < sizeof(hdr) ? len : sizeof(hdr));
    *version_r = len >= sizeof(hdr) && hdr.version == KVM_BLOB_VERSION_V2 ?
                 KVM_BLOB_VERSION_V2 : KVM_BLOB_VERSION;
    return hv_state_check(vm->ctx, blob, len, "kvm", *version_r);
}

/* Checks the blob's header fields against this VM. */
static int check_blob(struct vmm *vm, const struct kvm_blob *b, size_t len,
                      uint32_t version)
{
    if (len < sizeof(*b) || b->nr_vcpus != vm->nr_vcpus)
        return xt_error(vm->ctx, -EINVAL, "state blob: %u vCPUs in %zu "
                        "bytes, this VM has %u vCPUs", len >= sizeof(*b) ?
                        b->nr_vcpus : 0, len, vm->nr_vcpus);
    if (b->nr_disks != vmm_pci_nr_disks(vm->pci))
        return xt_error(vm->ctx, -EINVAL, "state blob: the guest had %u "
                        "disk(s), this VM has %u (--disk)", b->nr_disks,
                        vmm_pci_nr_disks(vm->pci));
    if (len != blob_size(b->nr_vcpus, b->nr_disks, version))
        return xt_error(vm->ctx, -EINVAL, "state blob: %zu bytes for %u "
                        "vCPUs and %u disk(s), want %zu", len, b->nr_vcpus,
                        b->nr_disks, blob_size(b->nr_vcpus, b->nr_disks,
                                               version));
    if (b->nr_pages != vm->nr_pages)
        return xt_error(vm->ctx, -EINVAL, "state blob: guest of %llu pages, "
                        "this VM has %llu",
                        (unsigned long long)b->nr_pages,
                        (unsigned long long)vm->nr_pages);
    if (b->test_guest && (b->status_gpa >= vm->mem_size ||
                          b->params_gpa >= vm->mem_size))
        return xt_error(vm->ctx, -EINVAL, "state blob: test-guest pages "
                        "outside RAM");
    return 0;
}

static int kvm_state_restore(struct vmm *vm, const void *blob, size_t len)
{
    struct kvm_priv *kp = priv_of(vm);
    const struct kvm_blob *b = blob;
    const void *pci_state;
    uint32_t version;
    unsigned i;
    int rc;

    if (vm->state == VMM_STATE_RUNNING)
        return xt_error(vm->ctx, -EBUSY, "state restore: the VM is running");
    rc = blob_version(vm, blob, len, &version);
    if (rc == 0)
        rc = check_blob(vm, b, len, version);
    if (rc < 0)
        return rc;
    /* The devices first: a blob they refuse (other slots, a read-only
     * flag on one side only) changes nothing. */
    pci_state = &b->vcpu[b->nr_vcpus];
    if (vm->pci && version == KVM_BLOB_VERSION_V2)
        rc = vmm_pci_state_restore_v2(vm->pci, pci_state,
                                      pci_state_size(b->nr_disks, version));
    else if (vm->pci)
        rc = vmm_pci_state_restore(vm->pci, pci_state,
                                   pci_state_size(b->nr_disks, version));
    if (rc < 0)
        return rc;
    for (i = 0; i < vm->nr_vcpus; i++) {
        rc = restore_vcpu(vm, &kp->vcpus[i], &b->vcpu[i]);
        if (rc < 0)
            return rc;
    }
    pthread_mutex_lock(&vm->lock);
    vm->test_guest = b->test_guest;
    vm->params_gpa = b->params_gpa;
    vm->status_gpa = b->status_gpa;
    if (vm->state == VMM_STATE_INCOMING)
        vm->state = VMM_STATE_PAUSED;
    pthread_mutex_unlock(&vm->lock);
    return 0;
}

static void kvm_fini(struct vmm *vm)
{
    struct kvm_priv *kp = priv_of(vm);
    unsigned i;

    if (!kp)
        return;
    pthread_mutex_lock(&vm->lock);
    kp->quit = true;
    kick_all(vm, kp);
    pthread_mutex_unlock(&vm->lock);
    for (i = 0; i < KVM_MAX_VCPUS; i++) {
        struct kvm_vcpu_ctx *vc = &kp->vcpus[i];

        if (vc->thread_started)
            pthread_join(vc->thread, NULL);
        if (vc->run)
            munmap(vc->run, kp->run_size);
        if (vc->fd >= 0)
            close(vc->fd);
    }
    if (kp->throttle_thread)
        pthread_join(kp->throttle_thread, NULL);
    if (kp->vm_fd >= 0)
        close(kp->vm_fd);
    if (kp->kvm_fd >= 0)
        close(kp->kvm_fd);
    free(kp->cpuid);
    free(kp->acc);
    pthread_cond_destroy(&kp->cv);
    free(kp);
    vm->eng_priv = NULL;
}

const struct vmm_engine_ops vmm_kvm_engine = {
    .name = "kvm",
    .init = kvm_init,
    .start_boot = kvm_start_boot,
    .pause = kvm_pause,
    .resume = kvm_resume,
    .logdirty = kvm_logdirty,
    .dirty = kvm_dirty,
    .throttle = kvm_throttle,
    .state_save = kvm_state_save,
    .state_restore = kvm_state_restore,
    .fini = kvm_fini,
};
