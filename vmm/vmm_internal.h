/*
 * vmm_internal.h - inside xm-vmm: the VM process state and the engine ops
 * (kvm: vmm_kvm.c, sim: vmm_sim.c).  Not for other modules.
 */
#ifndef VMM_INTERNAL_H
#define VMM_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm_pci.h"
#include "vmm_proto.h"
#include "xt.h"

struct vmm;

/*
 * An execution engine.  All ops run on the control thread; pause must
 * return only once no vCPU (or writer thread) touches guest state any
 * more; state_save/state_restore need the VM paused or incoming.
 */
struct vmm_engine_ops {
    const char *name;
    /* Sets up the engine over vm->mem (already allocated). */
    int (*init)(struct vmm *vm);
    /* Boot path: the guest image is loaded; start at the entry point. */
    int (*start_boot)(struct vmm *vm, uint64_t entry, uint64_t stack_top,
                      uint64_t pt_gpa);
    int (*pause)(struct vmm *vm);
    int (*resume)(struct vmm *vm);
    int (*logdirty)(struct vmm *vm, bool enable);
    /* Fills bitmap (XT_BITMAP_WORDS(vm->nr_pages) words) with the pages
     * written since the last clearing harvest; clears when clear. */
    int (*dirty)(struct vmm *vm, uint64_t *bitmap, bool clear,
                 uint64_t *count_r);
    int (*throttle)(struct vmm *vm, unsigned pct);
    /* *blob_r malloc'd, sealed with hv_state_seal; caller frees. */
    int (*state_save)(struct vmm *vm, void **blob_r, size_t *len_r);
    int (*state_restore)(struct vmm *vm, const void *blob, size_t len);
    /* Stops everything and frees the engine (NULL-safe on half init). */
    void (*fini)(struct vmm *vm);
};

extern const struct vmm_engine_ops vmm_kvm_engine;
extern const struct vmm_engine_ops vmm_sim_engine;

struct vmm {
    struct xt_ctx *ctx;
    const struct vmm_engine_ops *eng;
    void *eng_priv;

    char name[64];
    struct xt_uuid uuid;
    uint64_t nr_pages;
    uint32_t nr_vcpus;
    uint64_t tsc_khz;           /* guest TSC frequency */

    int memfd;                  /* guest RAM */
    uint8_t *mem;               /* its mapping in this process */
    size_t mem_size;

    /* PCI bus 0 and its disks (--disk), set up before the engine starts;
     * it locks itself (disks come and go by hot-plug, vmm_hotplug.c).
     * Both engines connect the disks before the guest first runs and at
     * each RESUME, and release them at each PAUSE; the sim engine uses
     * the disks without PCI (vmm_pci_disk_io). */
    struct vmm_pci *pci;
    unsigned disk_timeout_ms;   /* --disk-timeout-ms (0: the default), for
                                 * disks plugged later */

    /* Guarded by lock: written by vCPU threads and the control thread. */
    pthread_mutex_t lock;
    enum vmm_state state;
    bool logdirty;
    unsigned throttle_pct;

    /* The test guest (guest/xmg_abi.h), when the image is one. */
    bool test_guest;
    uint64_t params_gpa;
    uint64_t status_gpa;
    uint64_t image_end;         /* first free byte after the image */
    struct vmm_guest_stats gs;  /* guarded by lock */
    char con_line[256];         /* console line being assembled */
    size_t con_len;
};

/* vmm_guest.c: loading the test guest, and its port I/O. */

/*
 * Loads the Multiboot ELF at path into vm->mem, finds its xmg_header,
 * builds page tables, fills params (cmdline may be NULL).  Sets
 * vm->test_guest/params_gpa/status_gpa; returns the entry, stack and page
 * table root in *entry_r, *stack_r, *pt_r.
 */
int vmm_guest_load(struct vmm *vm, const char *path, const char *cmdline,
                   uint64_t *entry_r, uint64_t *stack_r, uint64_t *pt_r);
/*
 * A guest wrote val to port (size 1, 2 or 4 bytes).  Stamps heartbeats
 * with CLOCK_MONOTONIC, counts mismatches, collects console lines.
 * Returns true when the guest asked to stop (exit port).  Thread-safe.
 */
/* The guest's idle port (XMG_PORT_IDLE): the calling vCPU thread sleeps
 * up to us microseconds (at most XMG_IDLE_MAX_US), less when a signal
 * kicks it (a pause, a stop); counted in the guest's stats.  Called
 * without vm->lock. */
void vmm_guest_idle(struct vmm *vm, uint32_t us);
bool vmm_guest_port_out(struct vmm *vm, uint16_t port, uint32_t val,
                        unsigned size);
/* Snapshot of the stats (takes the lock). */
void vmm_guest_stats_get(struct vmm *vm, struct vmm_guest_stats *gs);
/* Forgets heartbeat history (after a restore: this host starts fresh). */
void vmm_guest_stats_reset(struct vmm *vm);

/* vmm_hotplug.c: the DISK_* commands, on the control thread (payload p of
 * len bytes, checked here); 0 or -errno, reported into vm->ctx. */
int vmm_disk_add(struct vmm *vm, const void *p, size_t len);
int vmm_disk_remove(struct vmm *vm, const void *p, size_t len);
void vmm_disk_list(struct vmm *vm, struct vmm_disk_list *l);
/* DISK_RETARGET: another export for a disk of a paused or incoming VM
 * (vmm_pci_retarget); -EBUSY while running. */
int vmm_disk_retarget(struct vmm *vm, const void *p, size_t len);

#endif /* VMM_INTERNAL_H */
