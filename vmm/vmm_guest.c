/*
 * vmm_guest.c - loading the test guest (a 32-bit Multiboot ELF holding
 * 64-bit code, guest/xmg_abi.h) for direct entry in 64-bit ring 3, and the
 * guest's port I/O: console, heartbeat, ledger mismatches (memory and
 * disk), disk errors, exit.
 */
#include "config.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vmm_internal.h"
#include "xmg_abi.h"

#define PTE_P   0x1ull
#define PTE_W   0x2ull
#define PTE_U   0x4ull
#define PTE_PS  0x80ull

/* Is [gpa, gpa + len) inside guest RAM? */
static bool in_ram(const struct vmm *vm, uint64_t gpa, uint64_t len)
{
    return gpa <= vm->mem_size && len <= vm->mem_size - gpa;
}

static int load_elf(struct vmm *vm, const char *path, const uint8_t *img,
                    size_t size, uint64_t *lo_r)
{
    const Elf32_Ehdr *eh = (const Elf32_Ehdr *)img;
    uint64_t lo = UINT64_MAX;
    unsigned i;

    if (size < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
        eh->e_ident[EI_CLASS] != ELFCLASS32 || eh->e_machine != EM_386)
        return xt_error(vm->ctx, -ENOEXEC, "%s: not a 32-bit x86 ELF "
                        "(Multiboot) image", path);
    if (eh->e_phentsize != sizeof(Elf32_Phdr) || eh->e_phnum == 0 ||
        eh->e_phoff > size ||
        (size - eh->e_phoff) / sizeof(Elf32_Phdr) < eh->e_phnum)
        return xt_error(vm->ctx, -ENOEXEC, "%s: bad program headers", path);
    for (i = 0; i < eh->e_phnum; i++) {
        const Elf32_Phdr *ph = (const Elf32_Phdr *)(img + eh->e_phoff) + i;

        if (ph->p_type != PT_LOAD || ph->p_memsz == 0)
            continue;
        if (ph->p_filesz > ph->p_memsz || ph->p_offset > size ||
            ph->p_filesz > size - ph->p_offset)
            return xt_error(vm->ctx, -ENOEXEC, "%s: segment %u lies outside "
                            "the file", path, i);
        if (!in_ram(vm, ph->p_paddr, ph->p_memsz))
            return xt_error(vm->ctx, -ENOMEM, "%s: segment %u at %#x+%#x "
                            "does not fit in %zu bytes of guest RAM", path,
                            i, ph->p_paddr, ph->p_memsz, vm->mem_size);
        memcpy(vm->mem + ph->p_paddr, img + ph->p_offset, ph->p_filesz);
        if (ph->p_paddr < lo)
            lo = ph->p_paddr;
    }
    if (lo == UINT64_MAX)
        return xt_error(vm->ctx, -ENOEXEC, "%s: no loadable segment", path);
    *lo_r = lo;
    return 0;
}

static int find_header(struct vmm *vm, const char *path, uint64_t lo,
                       struct xmg_header *hdr_r)
{
    uint64_t off;

    for (off = lo; off < lo + XMG_HEADER_SEARCH; off += 8) {
        uint64_t magic;

        if (!in_ram(vm, off, sizeof(*hdr_r)))
            break;
        memcpy(&magic, vm->mem + off, sizeof(magic));
        if (magic != XMG_HEADER_MAGIC)
            continue;
        memcpy(hdr_r, vm->mem + off, sizeof(*hdr_r));
        if (hdr_r->version != XMG_ABI_VERSION ||
            hdr_r->size < sizeof(*hdr_r))
            return xt_error(vm->ctx, -EPROTO, "%s: guest ABI version %u "
                            "(size %u), this VMM speaks %u", path,
                            hdr_r->version, hdr_r->size, XMG_ABI_VERSION);
        return 0;
    }
    return xt_error(vm->ctx, -ENOEXEC, "%s: no xm guest header in its first "
                    "%u bytes: our VMM enters only xm test guests", path,
                    XMG_HEADER_SEARCH);
}

static int build_page_tables(struct vmm *vm, uint64_t pt_gpa)
{
    uint64_t *pml4, *pdpt;
    uint64_t gib = (vm->mem_size + (1ull << 30) - 1) >> 30;
    uint64_t pages2m = (vm->mem_size + (2ull << 20) - 1) >> 21;
    uint64_t i;

    if (gib > XMG_PT_PDS)
        return xt_error(vm->ctx, -E2BIG, "guest RAM of %zu bytes is over "
                        "the test guest's %llu GiB", vm->mem_size,
                        (unsigned long long)XMG_PT_PDS);
    if (!in_ram(vm, pt_gpa, (uint64_t)XMG_PT_PAGES * XMG_PAGE_SIZE) ||
        (pt_gpa & (XMG_PAGE_SIZE - 1)))
        return xt_error(vm->ctx, -EINVAL, "page-table area %#llx outside "
                        "guest RAM or unaligned",
                        (unsigned long long)pt_gpa);
    memset(vm->mem + pt_gpa, 0, (size_t)XMG_PT_PAGES * XMG_PAGE_SIZE);
    pml4 = (uint64_t *)(vm->mem + pt_gpa);
    pdpt = (uint64_t *)(vm->mem + pt_gpa + XMG_PAGE_SIZE);
    pml4[0] = (pt_gpa + XMG_PAGE_SIZE) | PTE_P | PTE_W | PTE_U;
    for (i = 0; i < gib; i++)
        pdpt[i] = (pt_gpa + (2 + i) * XMG_PAGE_SIZE) | PTE_P | PTE_W | PTE_U;
    for (i = 0; i < pages2m; i++) {
        uint64_t *pd = (uint64_t *)(vm->mem + pt_gpa +
                                    (2 + i / 512) * XMG_PAGE_SIZE);

        pd[i % 512] = (i << 21) | PTE_P | PTE_W | PTE_U | PTE_PS;
    }
    return 0;
}

int vmm_guest_load(struct vmm *vm, const char *path, const char *cmdline,
                   uint64_t *entry_r, uint64_t *stack_r, uint64_t *pt_r)
{
    struct xmg_header hdr;
    struct xmg_params *params;
    struct stat st;
    uint8_t *img = MAP_FAILED;
    uint64_t lo = 0;
    int fd = -1;
    int rc;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = xt_error(vm->ctx, -errno, "guest image %s", path);
        goto out;
    }
    if (fstat(fd, &st) < 0 || st.st_size == 0 || st.st_size > (64 << 20)) {
        rc = xt_error(vm->ctx, -ENOEXEC, "guest image %s: empty, unreadable "
                      "or over 64 MiB", path);
        goto out;
    }
    img = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (img == MAP_FAILED) {
        rc = xt_error(vm->ctx, -errno, "mapping guest image %s", path);
        goto out;
    }
    rc = load_elf(vm, path, img, st.st_size, &lo);
    if (rc < 0)
        goto out;
    rc = find_header(vm, path, lo, &hdr);
    if (rc < 0)
        goto out;
    if (!in_ram(vm, hdr.params_gpa, XMG_PAGE_SIZE) ||
        !in_ram(vm, hdr.status_gpa, XMG_PAGE_SIZE) ||
        !in_ram(vm, hdr.entry64, 1) || !in_ram(vm, hdr.stack_top - 16, 16) ||
        hdr.image_end > vm->mem_size) {
        rc = xt_error(vm->ctx, -ENOEXEC, "%s: guest header points outside "
                      "%zu bytes of RAM", path, vm->mem_size);
        goto out;
    }
    rc = build_page_tables(vm, hdr.pt_gpa);
    if (rc < 0)
        goto out;
    params = (struct xmg_params *)(vm->mem + hdr.params_gpa);
    memset(params, 0, sizeof(*params));
    params->magic = XMG_PARAMS_MAGIC;
    params->mem_bytes = vm->mem_size;
    params->tsc_khz = vm->tsc_khz;
    if (cmdline) {
        if (strlen(cmdline) >= XMG_CMDLINE_MAX) {
            rc = xt_error(vm->ctx, -E2BIG, "guest command line over %u "
                          "bytes", XMG_CMDLINE_MAX - 1);
            goto out;
        }
        strcpy(params->cmdline, cmdline);
    }
    vm->test_guest = true;
    vm->params_gpa = hdr.params_gpa;
    vm->status_gpa = hdr.status_gpa;
    vm->image_end = hdr.image_end;
    *entry_r = hdr.entry64;
    *stack_r = hdr.stack_top;
    *pt_r = hdr.pt_gpa;
out:
    if (img != MAP_FAILED)
        munmap(img, st.st_size);
    if (fd >= 0)
        close(fd);
    return rc;
}

/* A status-page counter the guest (or the sim engine's workload thread)
 * writes while we read it: read whole (guest/workload.c PUBLISH). */
#define PEEK(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

/* The guest's status page, or NULL when this is not a test guest. */
static const struct xmg_status *status_page(const struct vmm *vm)
{
    if (!vm->test_guest || !in_ram(vm, vm->status_gpa, XMG_PAGE_SIZE))
        return NULL;
    return (const struct xmg_status *)(vm->mem + vm->status_gpa);
}

static void heartbeat(struct vmm *vm, uint32_t val)
{
    const struct xmg_status *st = status_page(vm);
    struct vmm_guest_stats *gs = &vm->gs;
    uint64_t now = xt_now_ns();
    uint64_t seq = val;

    /* The full 64-bit sequence is in the status page; the port carries
     * its low half, which must agree. */
    if (st && (uint32_t)PEEK(st->hb_seq) == val)
        seq = PEEK(st->hb_seq);
    if (gs->hb_count) {
        if (now - gs->hb_last_ns > gs->hb_max_gap_ns)
            gs->hb_max_gap_ns = now - gs->hb_last_ns;
        if (seq != gs->hb_last_seq + 1)
            gs->hb_seq_breaks++;
    } else {
        gs->hb_first_seq = seq;
        gs->hb_first_ns = now;
    }
    gs->hb_count++;
    gs->hb_last_seq = seq;
    gs->hb_last_ns = now;
}

static void console_char(struct vmm *vm, char c)
{
    if (c == '\n' || vm->con_len == sizeof(vm->con_line) - 1) {
        vm->con_line[vm->con_len] = '\0';
        xt_info(vm->ctx, "guest: %s", vm->con_line);
        vm->con_len = 0;
        if (c == '\n')
            return;
    }
    if (c != '\r')
        vm->con_line[vm->con_len++] = c;
}

#define IDLE_MARGIN_US 30      /* the host's wake-up latency, about */

void vmm_guest_idle(struct vmm *vm, uint32_t us)
{
    struct timespec ts;
    uint64_t t0 = xt_now_ns(), t1;

    if (us > XMG_IDLE_MAX_US)
        us = XMG_IDLE_MAX_US;
    /* Woken a little early rather than late: the guest's heartbeat is
     * due at the end of its wait, and it spins the rest. */
    ts.tv_sec = 0;
    ts.tv_nsec = (long)(us > 2 * IDLE_MARGIN_US ? us - IDLE_MARGIN_US : us) *
                 1000;
    /* A kick (SIGUSR1) ends it early: the vCPU is needed. */
    clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
    t1 = xt_now_ns();
    pthread_mutex_lock(&vm->lock);
    vm->gs.idle_sleeps++;
    vm->gs.idle_ns += t1 - t0;
    pthread_mutex_unlock(&vm->lock);
}

bool vmm_guest_port_out(struct vmm *vm, uint16_t port, uint32_t val,
                        unsigned size)
{
    bool stop = false;

    pthread_mutex_lock(&vm->lock);
    switch (port) {
    case XMG_PORT_CONSOLE:
        console_char(vm, (char)val);
        break;
    case XMG_PORT_HEARTBEAT:
        if (size == 4)
            heartbeat(vm, val);
        break;
    case XMG_PORT_MISMATCH: {
        const struct xmg_status *st = status_page(vm);

        vm->gs.mismatches++;
        vm->gs.last_mismatch_pfn = st ? PEEK(st->last_mismatch_pfn) : val;
        xt_warn(vm->ctx, "guest reports ledger mismatch at pfn %#llx",
                (unsigned long long)vm->gs.last_mismatch_pfn);
        break;
    }
    case XMG_PORT_DISK_MISMATCH: {
        const struct xmg_status *st = status_page(vm);

        vm->gs.disk_mismatches++;
        vm->gs.last_disk_mismatch_block = st ? st->last_disk_mismatch_block
                                             : val;
        vm->gs.last_disk_mismatch_disk = st ? st->last_disk_mismatch_disk
                                            : 0;
        xt_warn(vm->ctx, "guest reports disk ledger mismatch at disk %llu "
                "block %llu",
                (unsigned long long)vm->gs.last_disk_mismatch_disk,
                (unsigned long long)vm->gs.last_disk_mismatch_block);
        break;
    }
    case XMG_PORT_DISK_ERROR:
        vm->gs.disk_errors++;
        xt_warn(vm->ctx, "guest reports a failed request on its disk %u; "
                "its disk workload stopped", val);
        break;
    case XMG_PORT_READY:
        vm->gs.ready = 1;
        break;
    case XMG_PORT_EXIT:
        vm->gs.exited = 1;
        vm->gs.exit_code = val;
        xt_info(vm->ctx, "guest exited with code %u", val);
        stop = true;
        break;
    default:
        xt_debug(vm->ctx, "guest wrote %#x to unknown port %#x", val, port);
        break;
    }
    pthread_mutex_unlock(&vm->lock);
    return stop;
}

void vmm_guest_stats_get(struct vmm *vm, struct vmm_guest_stats *gs)
{
    const struct xmg_status *st;

    pthread_mutex_lock(&vm->lock);
    *gs = vm->gs;
    gs->is_test_guest = vm->test_guest;
    st = status_page(vm);
    if (st && __atomic_load_n(&st->magic, __ATOMIC_ACQUIRE) ==
              XMG_STATUS_MAGIC) {
        /* The guest's own counters travel with it across migrations. */
        gs->pages_written = PEEK(st->pages_written);
        gs->mismatches = PEEK(st->mismatches);
        gs->last_mismatch_pfn = PEEK(st->last_mismatch_pfn);
        gs->disk_writes = PEEK(st->disk_writes);
        gs->disk_reads = PEEK(st->disk_reads);
        gs->disk_mismatches = PEEK(st->disk_mismatches);
        gs->last_disk_mismatch_block = PEEK(st->last_disk_mismatch_block);
        gs->last_disk_mismatch_disk = PEEK(st->last_disk_mismatch_disk);
        gs->disk_errors = PEEK(st->disk_errors);
        gs->disk_hp_attached = PEEK(st->disk_hp_attached);
        gs->disk_hp_ejected = PEEK(st->disk_hp_ejected);
        gs->disk_hp_refused = PEEK(st->disk_hp_refused);
        gs->disk_hp_stamps = PEEK(st->disk_hp_stamps);
        gs->disk_hp_slots = (uint32_t)PEEK(st->disk_hp_slots);
    }
    pthread_mutex_unlock(&vm->lock);
}

void vmm_guest_stats_reset(struct vmm *vm)
{
    pthread_mutex_lock(&vm->lock);
    memset(&vm->gs, 0, sizeof(vm->gs));
    pthread_mutex_unlock(&vm->lock);
}
