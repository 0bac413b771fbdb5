/*
 * test_sim_dirty.c - the sim engine's dirty log (vmm/vmm_wplog.c) on a real
 * memfd mapping, as xm-vmm maps guest RAM: pages written by another thread
 * show up, pages only read or never touched do not, a harvest clears and
 * re-protects (also when the result takes several PAGEMAP_SCAN calls), and
 * copying harvested pages while a writer runs ends with an exact copy.
 * Skips when the kernel lacks userfaultfd WP_ASYNC or PAGEMAP_SCAN.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm_wplog.h"
#include "xt.h"
#include "../../tap.h"

#define PAGE        4096u
#define NPAGES      16384u                  /* 64 MiB */
#define MEM_BYTES   ((size_t)NPAGES * PAGE)

struct writer {
    uint8_t *mem;
    const uint64_t *pages;      /* pages to write once, or NULL: */
    size_t n;
    volatile bool stop;         /* random writes until set */
    uint64_t writes;
};

static void *write_pages(void *arg)
{
    struct writer *w = arg;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    size_t i;

    if (w->pages) {
        for (i = 0; i < w->n; i++)
            w->mem[w->pages[i] * PAGE + (i * 8) % PAGE] ^= 0x5a;
        return NULL;
    }
    while (!__atomic_load_n(&w->stop, __ATOMIC_RELAXED)) {
        uint64_t pfn;

        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        pfn = x % NPAGES;
        ((volatile uint64_t *)(w->mem + pfn * PAGE))[x % (PAGE / 8)] = x;
        w->writes++;
    }
    return NULL;
}

/* Writes pages[0..n) from another thread, as the sim engine's writer. */
static void write_from_thread(uint8_t *mem, const uint64_t *pages, size_t n)
{
    struct writer w = { .mem = mem, .pages = pages, .n = n };
    pthread_t t;

    if (pthread_create(&t, NULL, write_pages, &w))
        tap_bail("pthread_create");
    pthread_join(t, NULL);
}

/* Does bitmap hold exactly pages[0..n) (duplicates allowed)? */
static bool bitmap_is(const uint64_t *bm, const uint64_t *pages, size_t n)
{
    uint64_t *want = xt_bitmap_alloc(NPAGES);
    bool same;
    size_t i;

    if (!want)
        tap_bail("out of memory");
    for (i = 0; i < n; i++)
        xt_bitmap_set(want, pages[i]);
    same = !memcmp(want, bm, XT_BITMAP_WORDS(NPAGES) * 8);
    if (!same) {
        uint64_t p;

        for (p = 0; p < NPAGES; p++)
            if (xt_bitmap_test(want, p) != xt_bitmap_test(bm, p))
                tap_diag("  page %llu: want %d got %d",
                         (unsigned long long)p, xt_bitmap_test(want, p),
                         xt_bitmap_test(bm, p));
    }
    free(want);
    return same;
}

static uint64_t scan(struct vmm_wplog *wl, uint64_t *bm, bool clear)
{
    uint64_t count = UINT64_MAX;
    int rc = vmm_wplog_scan(wl, bm, clear, &count);

    if (rc < 0) {
        tap_diag("vmm_wplog_scan: %d", rc);
        return UINT64_MAX;
    }
    return count;
}

static void test_basic(struct vmm_wplog *wl, uint8_t *mem, uint64_t *bm)
{
    /* 0..2: written before protecting; 5000, 16383: never touched before;
     * 8000..8099: one run of pages (one region). */
    uint64_t a[6 + 100] = { 0, 1, 2, 100, 5000, NPAGES - 1 };
    const uint64_t b[] = { 1, 5000, 7777 };
    volatile uint64_t sum = 0;
    size_t i;

    for (i = 0; i < 100; i++)
        a[6 + i] = 8000 + i;

    tap_is_u64(scan(wl, bm, false), 0, "nothing written after protecting");
    for (i = 0; i < NPAGES; i += 7)
        sum += mem[i * PAGE];
    tap_is_u64(scan(wl, bm, false), 0, "reading pages does not dirty them");

    write_from_thread(mem, a, 106);
    tap_is_u64(scan(wl, bm, false), 106, "peek: 106 written pages counted");
    tap_ok(bitmap_is(bm, a, 106), "peek: exactly the written pages (present "
           "and never-mapped ones)");
    tap_is_u64(scan(wl, bm, false), 106, "a second peek still sees them");
    tap_is_u64(scan(wl, bm, true), 106, "harvest: 106 pages");
    tap_ok(bitmap_is(bm, a, 106), "harvest: exactly the written pages");
    tap_is_u64(scan(wl, bm, true), 0, "a harvest clears");

    write_from_thread(mem, b, 3);
    tap_is_u64(scan(wl, bm, true), 3, "writes after a harvest show up again");
    tap_ok(bitmap_is(bm, b, 3), "and only they");
}

/* Every other page: 8192 regions, more than one PAGEMAP_SCAN call holds. */
static void test_fragmented(struct vmm_wplog *wl, uint8_t *mem, uint64_t *bm)
{
    uint64_t *pages = calloc(NPAGES / 2, sizeof(*pages));
    size_t i;

    if (!pages)
        tap_bail("out of memory");
    for (i = 0; i < NPAGES / 2; i++)
        pages[i] = 2 * i + 1;
    write_from_thread(mem, pages, NPAGES / 2);
    tap_is_u64(scan(wl, bm, false), NPAGES / 2, "fragmented: peek counts "
               "8192 pages in 8192 regions");
    tap_is_u64(scan(wl, bm, true), NPAGES / 2, "fragmented: harvest too");
    tap_ok(bitmap_is(bm, pages, NPAGES / 2), "fragmented: exactly those");
    tap_is_u64(scan(wl, bm, true), 0, "fragmented: all re-protected");
    free(pages);
}

/* Pre-copy as a migration does it, against a running writer: the copy made
 * from harvests must end equal to the memory. */
static void test_precopy(struct vmm_wplog *wl, uint8_t *mem, uint64_t *bm)
{
    struct writer w = { .mem = mem };
    uint8_t *shadow = malloc(MEM_BYTES);
    uint64_t copied = 0, t0, worst = 0;
    pthread_t t;
    int round;

    if (!shadow)
        tap_bail("out of memory");
    scan(wl, bm, true);
    memcpy(shadow, mem, MEM_BYTES);
    if (pthread_create(&t, NULL, write_pages, &w))
        tap_bail("pthread_create");
    for (round = 0; round <= 20; round++) {
        uint64_t p, n, dt;

        if (round == 20) {
            __atomic_store_n(&w.stop, true, __ATOMIC_RELAXED);
            pthread_join(t, NULL);
        } else {
            usleep(2000);
        }
        t0 = xt_now_ns();
        n = scan(wl, bm, true);
        dt = xt_now_ns() - t0;
        if (dt > worst)
            worst = dt;
        if (n == UINT64_MAX)
            break;
        for (p = xt_bitmap_find_next(bm, NPAGES, 0); p < NPAGES;
             p = xt_bitmap_find_next(bm, NPAGES, p + 1))
            memcpy(shadow + p * PAGE, mem + p * PAGE, PAGE);
        copied += n;
    }
    tap_ok(w.writes > 0 && copied > 0, "pre-copy: %llu writes, %llu page "
           "copies in 21 rounds", (unsigned long long)w.writes,
           (unsigned long long)copied);
    tap_ok(!memcmp(shadow, mem, MEM_BYTES), "pre-copy: the copy equals the "
           "memory (no write lost)");
    tap_diag("slowest harvest of 64 MiB: %llu us",
             (unsigned long long)worst / 1000);
    free(shadow);
}

static void test_off_on(struct vmm_wplog *wl, uint8_t *mem, uint64_t *bm)
{
    const uint64_t a[] = { 3, 9000 };

    tap_is_int(vmm_wplog_protect(wl, false), 0, "unprotect");
    write_from_thread(mem, a, 2);
    tap_is_int(vmm_wplog_protect(wl, true), 0, "protect again");
    tap_is_u64(scan(wl, bm, false), 0, "protecting again starts clean");
    write_from_thread(mem, a, 2);
    tap_is_u64(scan(wl, bm, true), 2, "and tracks again");
}

int main(void)
{
    struct xt_ctx *ctx = xt_ctx_new("test_sim_dirty");
    struct vmm_wplog *wl = NULL;
    char reason[XT_ERRMSG_MAX + 32] = "";
    uint64_t *bm;
    uint8_t *mem;
    int fd, rc;

    if (!ctx)
        tap_bail("xt_ctx_new");
    ctx->quiet_errors = true;
    bm = xt_bitmap_alloc(NPAGES);
    fd = memfd_create("test-guest-ram", MFD_CLOEXEC);
    if (!bm || fd < 0 || ftruncate(fd, MEM_BYTES) < 0)
        tap_bail("memfd");
    mem = mmap(NULL, MEM_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (mem == MAP_FAILED)
        tap_bail("mmap");
    /* The first pages present before tracking starts, the rest not. */
    memset(mem, 1, 1024 * PAGE);

    rc = vmm_wplog_open(ctx, mem, MEM_BYTES, &wl);
    if (rc == -ENOTSUP || rc == -EPERM) {
        /* An old kernel, a seccomp filter, or valgrind (3.19 does not
         * know userfaultfd(2)). */
        snprintf(reason, sizeof(reason), "kernel refuses: %s",
                 ctx->err_msg);
    } else if (tap_is_int(rc, 0, "open over a 64 MiB shared memfd mapping")) {
        tap_is_int(vmm_wplog_protect(wl, true), 0,
                   "write-protect everything");
        test_basic(wl, mem, bm);
        test_fragmented(wl, mem, bm);
        test_precopy(wl, mem, bm);
        test_off_on(wl, mem, bm);
    } else {
        tap_diag("%s", ctx->err_msg);
    }

    vmm_wplog_close(wl);
    munmap(mem, MEM_BYTES);
    close(fd);
    free(bm);
    xt_ctx_free(ctx);
    if (reason[0])
        tap_skip_all(reason);
    return tap_done();
}
