/*
 * guest_main.c - the test guest's C entry, in 64-bit ring 3: wraps the
 * instructions the portable workload may not use (rdtsc, out, cpuid,
 * pause) into a struct xmg_env and runs the workload over guest-physical
 * memory, which the identity map makes our virtual memory.
 */
#include <stddef.h>

#include "boot.h"
#include "virtio_blk.h"
#include "workload.h"

/* A request batch not done in this long breaks its disk. */
#define BLK_TIMEOUT_S   10u

/* boot.S spells these as numbers; they must match the ABI. */
_Static_assert(BOOT_ABI_VERSION == XMG_ABI_VERSION, "abi version");
_Static_assert(BOOT_HEADER_MAGIC == XMG_HEADER_MAGIC, "header magic");
_Static_assert(BOOT_HEADER_SIZE == sizeof(struct xmg_header), "header size");
_Static_assert(((uint64_t)BOOT_PARAMS_MAGIC_HI << 32 | BOOT_PARAMS_MAGIC_LO)
               == XMG_PARAMS_MAGIC, "params magic");
_Static_assert(BOOT_PARAMS_OFF_MAGIC == offsetof(struct xmg_params, magic),
               "params.magic");
_Static_assert(BOOT_PARAMS_OFF_MEM == offsetof(struct xmg_params, mem_bytes),
               "params.mem_bytes");
_Static_assert(BOOT_PARAMS_OFF_TSC_KHZ ==
               offsetof(struct xmg_params, tsc_khz), "params.tsc_khz");
_Static_assert(BOOT_PARAMS_OFF_CMDLINE ==
               offsetof(struct xmg_params, cmdline), "params.cmdline");
_Static_assert(BOOT_CMDLINE_MAX == XMG_CMDLINE_MAX, "cmdline size");
_Static_assert(sizeof(struct xmg_params) <= BOOT_PAGE_SIZE, "params page");
_Static_assert(sizeof(struct xmg_status) <= BOOT_PAGE_SIZE, "status page");
_Static_assert(BOOT_PAGE_SIZE == XMG_PAGE_SIZE, "page size");
_Static_assert(BOOT_PT_PDS == XMG_PT_PDS, "page directories");
_Static_assert(BOOT_PT_PAGES == XMG_PT_PAGES, "page-table pages");
_Static_assert(BOOT_SEL_CODE64_K == XMG_SEL_CODE64_K, "kernel code");
_Static_assert(BOOT_SEL_DATA_K == XMG_SEL_DATA_K, "kernel data");
_Static_assert(BOOT_SEL_CODE64_U == XMG_SEL_CODE64_U, "user code");
_Static_assert(BOOT_SEL_DATA_U == XMG_SEL_DATA_U, "user data");
_Static_assert(BOOT_SEL_TSS == XMG_SEL_TSS, "tss selector");
_Static_assert(BOOT_TSS_LIMIT == XMG_TSS_LIMIT, "tss limit");
_Static_assert(BOOT_PORT_CONSOLE == XMG_PORT_CONSOLE, "console port");
_Static_assert(BOOT_PORT_EXIT == XMG_PORT_EXIT, "exit port");
_Static_assert(BOOT_EXIT_BAD_PARAMS == XMG_EXIT_BAD_PARAMS, "exit code");
_Static_assert(BOOT_STACK_SIZE % 16 == 0, "stack alignment");

/* boot.S and guest.ld */
extern struct xmg_params xmg_params;
extern struct xmg_status xmg_status;
extern char image_end[];

static uint64_t guest_tsc(void *opaque)
{
    uint32_t lo, hi;

    (void)opaque;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t)hi << 32 | lo;
}

static void guest_out(void *opaque, uint16_t port, uint32_t val)
{
    (void)opaque;
    if (port == XMG_PORT_CONSOLE)
        __asm__ volatile("outb %b0, %w1" : : "a"(val), "Nd"(port)
                         : "memory");
    else
        __asm__ volatile("outl %0, %w1" : : "a"(val), "Nd"(port)
                         : "memory");
}

/* Nothing to do until until_tsc: a wait long enough is handed to the
 * host through the idle port (it may sleep the vCPU), a short one spins;
 * either way the loop looks at the TSC again when it returns. */
static void guest_idle(void *opaque, uint64_t until_tsc)
{
    uint64_t khz = xmg_status.tsc_khz, now = guest_tsc(opaque), us;

    if (!khz || (int64_t)(until_tsc - now) <= 0) {
        __asm__ volatile("pause");
        return;
    }
    us = (until_tsc - now) * 1000 / khz;
    if (us < XMG_IDLE_MIN_US) {
        __asm__ volatile("pause");
        return;
    }
    __asm__ volatile("outl %0, %w1"
                     : : "a"((uint32_t)(us < XMG_IDLE_MAX_US ? us :
                                        XMG_IDLE_MAX_US)),
                     "Nd"(XMG_PORT_IDLE) : "memory");
}

static void cpuid(uint32_t leaf, uint32_t r[4])
{
    __asm__ volatile("cpuid"
                     : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
                     : "a"(leaf), "c"(0));
}

/* The TSC frequency from CPUID, 0 if it does not say: leaf 0x15 (crystal
 * ratio, exact), the hypervisor timing leaf 0x40000010 (VMware's, also
 * offered by KVM/QEMU with vmware-cpuid-freq), leaf 0x16 (nominal base
 * frequency, an approximation). */
static uint64_t guest_tsc_khz(void *opaque)
{
    uint32_t r[4], max;

    (void)opaque;
    cpuid(0, r);
    max = r[0];
    if (max >= 0x15) {
        cpuid(0x15, r);
        if (r[0] && r[1] && r[2])
            return (uint64_t)r[2] * r[1] / r[0] / 1000;
    }
    cpuid(1, r);
    if (r[2] & (1u << 31)) {            /* a hypervisor is present */
        cpuid(0x40000000, r);
        if (r[0] >= 0x40000010 && r[0] < 0x40000100) {
            cpuid(0x40000010, r);
            if (r[0])
                return r[0];
        }
    }
    if (max >= 0x16) {
        cpuid(0x16, r);
        if (r[0] & 0xffff)
            return (uint64_t)(r[0] & 0xffff) * 1000;
    }
    return 0;
}

/* The disks, found the first time the workload asks (only when it runs a
 * disk workload: a guest without one touches no PCI port). */
static unsigned guest_nr_disks(void *opaque)
{
    return vblk_probe(opaque);
}

static uint64_t guest_disk_sectors(void *opaque, unsigned disk)
{
    struct vblk_set *s = opaque;

    return disk < s->nr ? s->disk[disk].sectors : 0;
}

static unsigned guest_disk_flags(void *opaque, unsigned disk)
{
    return vblk_flags(opaque, disk);
}

static int guest_blk_io(void *opaque, unsigned disk, struct xmg_blk_req *r,
                        unsigned n)
{
    struct vblk_set *s = opaque;

    /* The workload has chosen its TSC frequency by now. */
    if (!s->timeout_ticks)
        s->timeout_ticks = (xmg_status.tsc_khz ? xmg_status.tsc_khz
                                               : XMG_FALLBACK_TSC_KHZ) *
                           1000ull * BLK_TIMEOUT_S;
    /* Waits end early for a device the controller no longer lists. */
    s->hp = xmg_status.disk_hp_flags & XMG_HP_F_ON;
    return vblk_io(s, disk, r, n);
}

static uint32_t guest_hp_in(void *opaque, unsigned reg)
{
    uint32_t v;

    (void)opaque;
    __asm__ volatile("inl %w1, %0" : "=a"(v)
                     : "Nd"((uint16_t)(XMG_PORT_HP + reg)) : "memory");
    return v;
}

static void guest_hp_out(void *opaque, unsigned reg, uint32_t val)
{
    (void)opaque;
    __asm__ volatile("outl %0, %w1" : : "a"(val),
                     "Nd"((uint16_t)(XMG_PORT_HP + reg)) : "memory");
}

static int guest_disk_attach(void *opaque, unsigned slot)
{
    return vblk_attach(opaque, slot);
}

static void guest_disk_forget(void *opaque, unsigned disk)
{
    vblk_forget(opaque, disk);
}

static unsigned guest_disk_slot(void *opaque, unsigned disk)
{
    struct vblk_set *s = opaque;

    return disk < s->nr ? s->disk[disk].slot : 0;
}

void xmg_guest_main(void)
{
    /* The driver's memory: bss, below image_end. */
    static struct vblk_set disks;
    const struct xmg_env env = {
        .mem_base = 0,
        .tsc = guest_tsc,
        .out = guest_out,
        .stop = NULL,
        .idle = guest_idle,
        .tsc_khz = guest_tsc_khz,
        .opaque = &disks,
        .params = &xmg_params,
        .mem_zeroed = false,
        .nr_disks = guest_nr_disks,
        .disk_sectors = guest_disk_sectors,
        .disk_flags = guest_disk_flags,
        .blk_io = guest_blk_io,
        .hp_in = guest_hp_in,
        .hp_out = guest_hp_out,
        .disk_attach = guest_disk_attach,
        .disk_forget = guest_disk_forget,
        .disk_slot = guest_disk_slot,
    };

    if (xmg_workload_init(&env, &xmg_params, &xmg_status,
                          (uint64_t)(uintptr_t)image_end) == 0)
        xmg_workload_run(&env, &xmg_status);
    /* Stopped (init wrote the exit code): ring 3 cannot hlt. */
    for (;;)
        __asm__ volatile("pause");
}
