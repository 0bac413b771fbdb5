/*
 * vmm_wplog.h - dirty logging of a mapping by the kernel's write
 * protection: a userfaultfd in asynchronous write-protect mode (a write to
 * a protected page is resolved by the kernel, no message, no handler
 * thread) and the PAGEMAP_SCAN ioctl of /proc/self/pagemap, which reports
 * the written pages and protects them again in one atomic walk.  Linux >=
 * 6.7.  Used by the sim engine (vmm_sim.c); inside xm-vmm only.
 *
 * Only writes through this process's page tables are seen: a write(2) to
 * the memfd, or another process writing through its own mapping, is not.
 */
#ifndef VMM_WPLOG_H
#define VMM_WPLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xt.h"

struct vmm_wplog;   /* opaque */

/*
 * Registers [base, base + len) (page aligned, one shared mapping) for
 * asynchronous write protection and opens the pagemap.  Nothing is
 * protected yet.  -ENOTSUP (reported into ctx) when the kernel lacks
 * userfaultfd WP_ASYNC or PAGEMAP_SCAN.  ctx must outlive the log; every
 * call comes from one thread at a time.  Free with vmm_wplog_close().
 */
int vmm_wplog_open(struct xt_ctx *ctx, void *base, size_t len,
                   struct vmm_wplog **wl_r);

/* Write-protects the whole range (a fresh start: nothing written), or
 * lifts the protection (every page writable, nothing tracked). */
int vmm_wplog_protect(struct vmm_wplog *wl, bool enable);

/*
 * Fills bitmap (one bit per page of the range, XT_BITMAP_WORDS(len / 4096)
 * words) with the pages written since they were last protected, and their
 * number in *count_r.  clear: protects those pages again in the same walk
 * (a write racing with the scan lands either in this result or in the
 * next); otherwise only looks.
 */
int vmm_wplog_scan(struct vmm_wplog *wl, uint64_t *bitmap, bool clear,
                   uint64_t *count_r);

/* Unregisters (the range becomes plainly writable) and frees; NULL-safe. */
void vmm_wplog_close(struct vmm_wplog *wl);

#endif /* VMM_WPLOG_H */
