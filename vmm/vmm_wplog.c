/*
 * vmm_wplog.c - dirty logging by userfaultfd asynchronous write protection
 * and PAGEMAP_SCAN (see vmm_wplog.h).
 *
 * Protecting: UFFDIO_WRITEPROTECT over the range.  WP_UNPOPULATED makes the
 * kernel leave a marker in page-table entries that map nothing yet, so a
 * first write to a page never touched here is caught too.  A write to a
 * protected page is resolved by the kernel (WP_ASYNC): the page becomes
 * writable and its entry loses the protection bit.  Harvesting:
 * PAGEMAP_SCAN asks for the pages whose entry lost the bit (PAGE_IS_WRITTEN)
 * and, with PM_SCAN_WP_MATCHING, sets the bit again on exactly the pages it
 * reports, under the page-table lock.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/userfaultfd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vmm_wplog.h"

/* Debian 12's kernel headers (6.1) predate these (uapi of Linux 6.7:
 * include/uapi/linux/userfaultfd.h and include/uapi/linux/fs.h). */
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY             1
#endif
#ifndef UFFD_FEATURE_WP_HUGETLBFS_SHMEM
#define UFFD_FEATURE_WP_HUGETLBFS_SHMEM (1 << 12)
#endif
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED     (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC           (1 << 15)
#endif
#ifndef PAGEMAP_SCAN
struct page_region {
    __u64 start;
    __u64 end;                  /* exclusive */
    __u64 categories;
};

struct pm_scan_arg {
    __u64 size;                 /* sizeof(struct pm_scan_arg) */
    __u64 flags;
    __u64 start;
    __u64 end;
    __u64 walk_end;             /* where the walk stopped (kernel) */
    __u64 vec;
    __u64 vec_len;
    __u64 max_pages;
    __u64 category_inverted;
    __u64 category_mask;
    __u64 category_anyof_mask;
    __u64 return_mask;
};

#define PAGEMAP_SCAN            _IOWR('f', 16, struct pm_scan_arg)
#endif
#ifndef PAGE_IS_WRITTEN
#define PAGE_IS_WRITTEN         (1 << 1)
#endif
#ifndef PM_SCAN_WP_MATCHING
#define PM_SCAN_WP_MATCHING     (1 << 0)
#endif
#ifndef PM_SCAN_CHECK_WPASYNC
#define PM_SCAN_CHECK_WPASYNC   (1 << 1)
#endif

_Static_assert(sizeof(struct pm_scan_arg) == 96, "pm_scan_arg ABI");
_Static_assert(sizeof(struct page_region) == 24, "page_region ABI");

#define WPLOG_FEATURES  (UFFD_FEATURE_WP_ASYNC | \
                         UFFD_FEATURE_WP_UNPOPULATED | \
                         UFFD_FEATURE_WP_HUGETLBFS_SHMEM)
#define WPLOG_PAGE      4096u
/* Regions per PAGEMAP_SCAN call; a fuller harvest takes more calls. */
#define WPLOG_VEC_LEN   512u
#define WPLOG_NEEDS     "sim: dirty tracking needs Linux >= 6.7 " \
                        "(userfaultfd WP_ASYNC + PAGEMAP_SCAN)"

struct vmm_wplog {
    struct xt_ctx *ctx;
    uintptr_t base;
    size_t len;
    int uffd;
    int pagemap;
    bool registered;
    struct page_region vec[WPLOG_VEC_LEN];
};

static int uffd_create(void)
{
    long r;

    /* User-mode-only faults are all we need, and such a descriptor is
     * allowed even where vm.unprivileged_userfaultfd is 0. */
    r = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
    if (r < 0 && errno == EINVAL)
        r = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    return (int)r;
}

/* Sets bits [first, end) of bm. */
static void set_range(uint64_t *bm, uint64_t first, uint64_t end)
{
    while (first < end && first % 64) {
        xt_bitmap_set(bm, first);
        first++;
    }
    for (; first + 64 <= end; first += 64)
        bm[first / 64] = ~0ull;
    for (; first < end; first++)
        xt_bitmap_set(bm, first);
}

/* The scan of the first len bytes of the range. */
static int scan(struct vmm_wplog *wl, size_t len, uint64_t *bitmap,
                bool clear, uint64_t *count_r)
{
    uint64_t npages = len / WPLOG_PAGE, count = 0;
    uintptr_t end = wl->base + len;
    struct pm_scan_arg arg;

    memset(&arg, 0, sizeof(arg));
    arg.size = sizeof(arg);
    /* CHECK_WPASYNC: fail rather than report nonsense if the range is not
     * (or no longer) under our asynchronous write protection. */
    arg.flags = PM_SCAN_CHECK_WPASYNC | (clear ? PM_SCAN_WP_MATCHING : 0);
    arg.start = wl->base;
    arg.end = end;
    arg.vec = (uintptr_t)wl->vec;
    arg.vec_len = WPLOG_VEC_LEN;
    arg.category_mask = PAGE_IS_WRITTEN;
    arg.return_mask = PAGE_IS_WRITTEN;

    xt_bitmap_zero(bitmap, npages);
    for (;;) {
        int r = ioctl(wl->pagemap, PAGEMAP_SCAN, &arg);
        int i;

        /* No retry on EINTR (only a fatal signal interrupts the walk): the
         * pages a failed call protected again would be lost. */
        if (r < 0) {
            if (errno == ENOTTY)
                return xt_error(wl->ctx, -ENOTSUP, "%s: no PAGEMAP_SCAN",
                                WPLOG_NEEDS);
            return xt_error(wl->ctx, -errno, "dirty log: PAGEMAP_SCAN of "
                            "%zu bytes", len);
        }
        for (i = 0; i < r; i++) {
            const struct page_region *pr = &wl->vec[i];

            if (pr->start < arg.start || pr->end > end ||
                pr->start >= pr->end)
                return xt_error(wl->ctx, -EIO, "dirty log: PAGEMAP_SCAN "
                                "returned region %#llx-%#llx outside "
                                "%#llx-%#llx",
                                (unsigned long long)pr->start,
                                (unsigned long long)pr->end,
                                (unsigned long long)arg.start,
                                (unsigned long long)end);
            set_range(bitmap, (pr->start - wl->base) / WPLOG_PAGE,
                      (pr->end - wl->base + WPLOG_PAGE - 1) / WPLOG_PAGE);
            count += (pr->end - pr->start + WPLOG_PAGE - 1) / WPLOG_PAGE;
        }
        if (arg.walk_end >= end)
            break;
        /* The vector filled up: go on from where the walk stopped. */
        if (arg.walk_end <= arg.start)
            return xt_error(wl->ctx, -EIO, "dirty log: PAGEMAP_SCAN made no "
                            "progress at %#llx",
                            (unsigned long long)arg.start);
        arg.start = arg.walk_end;
    }
    *count_r = count;
    return 0;
}

int vmm_wplog_open(struct xt_ctx *ctx, void *base, size_t len,
                   struct vmm_wplog **wl_r)
{
    struct uffdio_api api = { .api = UFFD_API, .features = WPLOG_FEATURES };
    struct uffdio_register reg;
    struct vmm_wplog *wl;
    uint64_t word, count;
    int rc;

    *wl_r = NULL;
    if (((uintptr_t)base | len) & (WPLOG_PAGE - 1) || len == 0)
        return xt_error(ctx, -EINVAL, "dirty log: range %p+%#zx not page "
                        "aligned", base, len);
    wl = calloc(1, sizeof(*wl));
    if (!wl)
        return xt_error(ctx, -ENOMEM, "dirty log");
    wl->ctx = ctx;
    wl->base = (uintptr_t)base;
    wl->len = len;
    wl->pagemap = -1;

    wl->uffd = uffd_create();
    if (wl->uffd < 0 && errno == ENOSYS) {
        rc = xt_error(ctx, -ENOTSUP, "%s: no userfaultfd(2)", WPLOG_NEEDS);
        goto out;
    }
    if (wl->uffd < 0) {
        rc = xt_error(ctx, -errno, "dirty log: userfaultfd(2) refused (a "
                      "seccomp filter? vm.unprivileged_userfaultfd?)");
        goto out;
    }
    if (ioctl(wl->uffd, UFFDIO_API, &api) < 0 ||
        (api.features & WPLOG_FEATURES) != WPLOG_FEATURES) {
        rc = xt_error(ctx, -ENOTSUP, "%s: UFFDIO_API refused features %#llx",
                      WPLOG_NEEDS, (unsigned long long)WPLOG_FEATURES);
        goto out;
    }
    memset(&reg, 0, sizeof(reg));
    reg.range.start = wl->base;
    reg.range.len = len;
    reg.mode = UFFDIO_REGISTER_MODE_WP;
    if (ioctl(wl->uffd, UFFDIO_REGISTER, &reg) < 0) {
        rc = xt_error(ctx, -errno, "dirty log: registering %zu bytes for "
                      "write protection (UFFDIO_REGISTER)", len);
        goto out;
    }
    wl->registered = true;
    if (!(reg.ioctls & (1ull << _UFFDIO_WRITEPROTECT))) {
        rc = xt_error(ctx, -ENOTSUP, "%s: no UFFDIO_WRITEPROTECT on this "
                      "mapping", WPLOG_NEEDS);
        goto out;
    }
    wl->pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (wl->pagemap < 0) {
        rc = xt_error(ctx, -errno, "dirty log: opening /proc/self/pagemap");
        goto out;
    }
    /* Ask PAGEMAP_SCAN once now (a look at one page): an older kernel
     * answers ENOTTY, better here than at the first harvest. */
    rc = scan(wl, WPLOG_PAGE, &word, false, &count);
    if (rc < 0)
        goto out;
    *wl_r = wl;
    return 0;
out:
    vmm_wplog_close(wl);
    return rc;
}

int vmm_wplog_protect(struct vmm_wplog *wl, bool enable)
{
    struct uffdio_writeprotect wp = {
        .range = { .start = wl->base, .len = wl->len },
        .mode = enable ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
    };

    if (ioctl(wl->uffd, UFFDIO_WRITEPROTECT, &wp) < 0)
        return xt_error(wl->ctx, -errno, "dirty log: %s %zu bytes "
                        "(UFFDIO_WRITEPROTECT)",
                        enable ? "write-protecting" : "unprotecting",
                        wl->len);
    return 0;
}

int vmm_wplog_scan(struct vmm_wplog *wl, uint64_t *bitmap, bool clear,
                   uint64_t *count_r)
{
    return scan(wl, wl->len, bitmap, clear, count_r);
}

void vmm_wplog_close(struct vmm_wplog *wl)
{
    if (!wl)
        return;
    if (wl->registered) {
        struct uffdio_writeprotect wp = {
            .range = { .start = wl->base, .len = wl->len },
        };

        /* Lift the protection, then unregister (closing the descriptor
         * would do both too); nothing to report: we are letting go. */
        ioctl(wl->uffd, UFFDIO_WRITEPROTECT, &wp);
        ioctl(wl->uffd, UFFDIO_UNREGISTER, &wp.range);
    }
    if (wl->uffd >= 0)
        close(wl->uffd);
    if (wl->pagemap >= 0)
        close(wl->pagemap);
    free(wl);
}
