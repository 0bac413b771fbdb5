/*
 * bench_hv.c - hypervisor driver benchmarks against a real test guest
 * (guest/xm-guest.elf), through struct hv_ops only.
 *
 * For each driver (default "kvm" then "sim"; --driver LIST picks):
 *   hv.dirty_rate  pages/s the guest achieves at a requested rate, with
 *                  log-dirty off, then on with a harvest every 10 ms (as a
 *                  pre-copy round would), so the write-protect cost is paid;
 *   hv.harvest     median cost of one hv_dirty_harvest (and hv.peek, of
 *                  one hv_dirty_peek) on a 1 GiB and a 4 GiB guest;
 *   hv.wp_fault    what one write-protect fault costs the guest (method
 *                  at wp_fault()).
 * One JSON object per line on stdout, nothing else; diagnostics go to
 * stderr.  A driver that cannot run here (no usable /dev/kvm) gets an
 * hv.skip line.  Exit status 1 if a driver that should run failed.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hv.h"
#include "xmg_abi.h"

#define MS                  1000000ull      /* ns */
#define HARVEST_PERIOD_NS   (10 * MS)
#define WINDOW_NS           (1000 * MS)
#define WARMUP_NS           (300 * MS)
#define RATE_GUEST_MIB      1024
/*
 * Large enough that the guest, at its fastest, takes longer than a harvest
 * period to come back to a page: every write in the log-dirty window is
 * then the first since a harvest and takes a write-protect fault.
 */
#define RATE_WS_MIB         256
#define HARVEST_WS_MIB      64
#define HARVEST_RATE        65536
#define HARVEST_SAMPLES     50
#define BOOT_TIMEOUT_NS     (20000 * MS)

/* Requested rates of hv.dirty_rate; XMG_RATE_MAX prints as "max". */
static const uint64_t rates[] = { 16384, 65536, 262144, XMG_RATE_MAX };
static const unsigned harvest_mibs[] = { 1024, 4096 };

struct bench {
    struct xt_ctx *ctx;
    struct hv_handle *h;        /* of the driver being measured */
    const char *driver;
    char guest[PATH_MAX];
    struct xmg_header hdr;      /* of the guest image */
};

/* One booted test guest. */
struct guest {
    uint32_t domid;
    bool booted;
    uint64_t nr_pages;
    uint64_t *bitmap;           /* nr_pages bits, for harvests */
    struct hv_mapping *map;     /* of the status page */
    const volatile struct xmg_status *st;
};

/* What one measuring window saw. */
struct window {
    uint64_t ns;                /* elapsed */
    uint64_t pages;             /* pages the guest wrote */
    uint64_t harvests;
    uint64_t dirty;             /* sum of the harvests' dirty counts */
    uint64_t dirty_ws;          /* of those, pages of the working set */
};

/* Results of the max-rate runs, for hv.wp_fault. */
struct max_run {
    bool done;
    struct window off, on;
};

static void sleep_until(uint64_t ns)
{
    struct timespec ts = {
        .tv_sec = (time_t)(ns / 1000000000ull),
        .tv_nsec = (long)(ns % 1000000000ull),
    };

    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
           EINTR)
        ;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static uint64_t median(uint64_t *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_u64);
    return n ? v[n / 2] : 0;
}

/* Set bits of bm among [first, first + n). */
static uint64_t count_range(const uint64_t *bm, uint64_t first, uint64_t n)
{
    uint64_t i, c = 0;

    for (i = first; i < first + n && i % 64; i++)
        c += xt_bitmap_test(bm, i);
    for (; i + 64 <= first + n; i += 64)
        c += (uint64_t)__builtin_popcountll(bm[i / 64]);
    for (; i < first + n; i++)
        c += xt_bitmap_test(bm, i);
    return c;
}

/* Why /dev/kvm cannot be used here, or NULL if it can. */
static const char *kvm_unusable(char *buf, size_t size)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    int r;

    if (fd < 0) {
        snprintf(buf, size, "/dev/kvm: %s", strerror(errno));
        return buf;
    }
    r = ioctl(fd, KVM_GET_API_VERSION, 0);
    if (r < 0)
        snprintf(buf, size, "/dev/kvm: KVM_GET_API_VERSION: %s",
                 strerror(errno));
    close(fd);
    if (r < 0)
        return buf;
    if (r != KVM_API_VERSION) {
        snprintf(buf, size, "/dev/kvm: API version %d, not %d", r,
                 KVM_API_VERSION);
        return buf;
    }
    return NULL;
}

static void guest_destroy(struct bench *b, struct guest *g)
{
    if (g->map)
        hv_unmap(b->h, g->map);
    if (g->booted)
        hv_destroy(b->h, g->domid);
    free(g->bitmap);
    memset(g, 0, sizeof(*g));
}

/*
 * Boots a test guest of mib MiB with cmdline and waits until its workload
 * runs (status page initialised, ready announced).
 */
static int guest_boot(struct bench *b, unsigned mib, const char *cmdline,
                      struct guest *g)
{
    struct hv_boot_spec spec = {
        .name = "bench-hv",
        .nr_pages = (uint64_t)mib << 8,
        .nr_vcpus = 1,
        .kernel = b->guest,
        .cmdline = cmdline,
    };
    uint64_t pfn = b->hdr.status_gpa >> HV_PAGE_SHIFT, deadline;
    struct hv_guest_stats gs;
    void *page = NULL;
    int rc;

    memset(g, 0, sizeof(*g));
    g->nr_pages = spec.nr_pages;
    g->bitmap = xt_bitmap_alloc(g->nr_pages);
    if (!g->bitmap)
        return xt_error(b->ctx, -ENOMEM, "dirty bitmap");
    xt_uuid_generate(&spec.uuid);
    rc = hv_boot(b->h, &spec, &g->domid);
    if (rc < 0)
        goto out;
    g->booted = true;
    rc = hv_map_batch(b->h, g->domid, HV_MAP_READ, &pfn, 1, &page, &g->map);
    if (rc < 0)
        goto out;
    g->st = page;
    deadline = xt_now_ns() + BOOT_TIMEOUT_NS;
    for (;;) {
        rc = hv_guest_stats(b->h, g->domid, &gs);
        if (rc < 0)
            goto out;
        if (gs.exited) {
            rc = xt_error(b->ctx, -EIO, "guest '%s' exited with code %u",
                          cmdline, gs.exit_code);
            goto out;
        }
        if (gs.ready && g->st->magic == XMG_STATUS_MAGIC)
            break;
        if (xt_now_ns() > deadline) {
            rc = xt_error(b->ctx, -ETIMEDOUT, "guest '%s' not ready",
                          cmdline);
            goto out;
        }
        usleep(1000);
    }
out:
    if (rc < 0)
        guest_destroy(b, g);
    return rc;
}

/* Harvests once, adding to w; the working-set share counted too. */
static int harvest_into(struct bench *b, struct guest *g, struct window *w)
{
    uint64_t dirty = 0;
    int rc;

    rc = hv_dirty_harvest(b->h, g->domid, g->bitmap, g->nr_pages, &dirty);
    if (rc < 0)
        return rc;
    w->harvests++;
    w->dirty += dirty;
    w->dirty_ws += count_range(g->bitmap, g->st->ws_first_pfn,
                               g->st->ws_pages);
    return 0;
}

/*
 * Lets the guest run for ns, harvesting every HARVEST_PERIOD_NS if
 * harvest; w receives what it wrote (from its status page) and what the
 * harvests saw.  A last harvest at the end of the window counts too: it
 * holds the pages of the window's final period.
 */
static int run_window(struct bench *b, struct guest *g, uint64_t ns,
                      bool harvest, struct window *w)
{
    uint64_t t0, p0, next, end;
    int rc = 0;

    memset(w, 0, sizeof(*w));
    t0 = xt_now_ns();
    p0 = g->st->pages_written;
    end = t0 + ns;
    if (harvest) {
        for (next = t0 + HARVEST_PERIOD_NS; next < end;
             next += HARVEST_PERIOD_NS) {
            sleep_until(next);
            rc = harvest_into(b, g, w);
            if (rc < 0)
                return rc;
        }
    }
    sleep_until(end);
    w->pages = g->st->pages_written - p0;
    w->ns = xt_now_ns() - t0;
    if (harvest)
        rc = harvest_into(b, g, w);
    return rc;
}

static double per_s(uint64_t n, uint64_t ns)
{
    return ns ? (double)n * 1e9 / (double)ns : 0.0;
}

static void print_rate(const struct bench *b, uint64_t rate, bool logdirty,
                       const struct window *w)
{
    char req[32];

    if (rate == XMG_RATE_MAX)
        snprintf(req, sizeof(req), "\"max\"");
    else
        snprintf(req, sizeof(req), "%llu", (unsigned long long)rate);
    printf("{\"bench\":\"hv.dirty_rate\",\"driver\":\"%s\",\"logdirty\":%s,"
           "\"requested_pages_s\":%s,\"achieved_pages_s\":%.0f",
           b->driver, logdirty ? "true" : "false", req,
           per_s(w->pages, w->ns));
    if (logdirty)
        printf(",\"harvested_pages_s\":%.0f", per_s(w->dirty, w->ns));
    printf("}\n");
    fflush(stdout);
}

/* hv.dirty_rate: one guest per requested rate, log-dirty off then on. */
static int dirty_rate(struct bench *b, struct max_run *max)
{
    struct window off, on, warm;
    struct guest g;
    char cmdline[128], rate_s[24];
    size_t i;
    int rc = 0;

    for (i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
        if (rates[i] == XMG_RATE_MAX)
            snprintf(rate_s, sizeof(rate_s), "max");
        else
            snprintf(rate_s, sizeof(rate_s), "%llu",
                     (unsigned long long)rates[i]);
        snprintf(cmdline, sizeof(cmdline), "ws_mib=%u rate=%s mode=seq",
                 RATE_WS_MIB, rate_s);
        fprintf(stderr, "bench-hv: %s: dirty rate, guest '%s'\n", b->driver,
                cmdline);
        rc = guest_boot(b, RATE_GUEST_MIB, cmdline, &g);
        if (rc < 0)
            return rc;
        /* Warm up: the first pass faults fresh memory in. */
        rc = run_window(b, &g, WARMUP_NS, false, &warm);
        if (rc == 0)
            rc = run_window(b, &g, WINDOW_NS, false, &off);
        if (rc == 0)
            rc = hv_logdirty(b->h, g.domid, true);
        /* Harvest once so tracking is armed everywhere, and let the
         * harvesting settle before the window. */
        if (rc == 0)
            rc = run_window(b, &g, 100 * MS, true, &warm);
        if (rc == 0)
            rc = run_window(b, &g, WINDOW_NS, true, &on);
        if (rc == 0)
            rc = hv_logdirty(b->h, g.domid, false);
        guest_destroy(b, &g);
        if (rc < 0)
            return rc;
        print_rate(b, rates[i], false, &off);
        print_rate(b, rates[i], true, &on);
        if (rates[i] == XMG_RATE_MAX) {
            max->done = true;
            max->off = off;
            max->on = on;
        }
    }
    return 0;
}

/*
 * hv.harvest / hv.peek: median cost of one call on a guest of each size,
 * HARVEST_SAMPLES calls HARVEST_PERIOD_NS apart (the guest dirtying
 * HARVEST_RATE pages/s in between, as in a pre-copy round).
 */
static int harvest_cost(struct bench *b)
{
    uint64_t us[2][HARVEST_SAMPLES], dirty[2][HARVEST_SAMPLES];
    char cmdline[128];
    struct window warm;
    struct guest g;
    size_t i, k;
    int rc = 0;

    snprintf(cmdline, sizeof(cmdline), "ws_mib=%u rate=%u mode=seq",
             HARVEST_WS_MIB, HARVEST_RATE);
    for (i = 0; i < sizeof(harvest_mibs) / sizeof(harvest_mibs[0]); i++) {
        unsigned mib = harvest_mibs[i];

        fprintf(stderr, "bench-hv: %s: harvest cost, %u MiB guest '%s'\n",
                b->driver, mib, cmdline);
        rc = guest_boot(b, mib, cmdline, &g);
        if (rc < 0)
            return rc;
        rc = hv_logdirty(b->h, g.domid, true);
        if (rc == 0)
            rc = run_window(b, &g, 100 * MS, true, &warm);
        /* k = 0: harvest, k = 1: peek (no clearing: the counts grow). */
        for (k = 0; rc == 0 && k < 2; k++) {
            uint64_t next = xt_now_ns(), t0, n = 0;
            size_t s;

            for (s = 0; rc == 0 && s < HARVEST_SAMPLES; s++) {
                next += HARVEST_PERIOD_NS;
                sleep_until(next);
                t0 = xt_now_ns();
                if (k == 0)
                    rc = hv_dirty_harvest(b->h, g.domid, g.bitmap,
                                          g.nr_pages, &n);
                else
                    rc = hv_dirty_peek(b->h, g.domid, g.bitmap,
                                       g.nr_pages, &n);
                us[k][s] = (xt_now_ns() - t0) / 1000;
                dirty[k][s] = n;
            }
            if (rc == -ENOTSUP && k == 1) {
                fprintf(stderr, "bench-hv: %s: no peek\n", b->driver);
                xt_error_clear(b->ctx);
                rc = 0;
                break;
            }
            if (rc < 0)
                break;
            printf("{\"bench\":\"hv.%s\",\"driver\":\"%s\",\"guest_mib\":%u,"
                   "\"us\":%llu,\"dirty_pages\":%llu}\n",
                   k == 0 ? "harvest" : "peek", b->driver, mib,
                   (unsigned long long)median(us[k], HARVEST_SAMPLES),
                   (unsigned long long)median(dirty[k], HARVEST_SAMPLES));
            fflush(stdout);
        }
        if (rc == 0)
            rc = hv_logdirty(b->h, g.domid, false);
        guest_destroy(b, &g);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/*
 * hv.wp_fault, from the rate=max runs of dirty_rate().  The guest's vCPU
 * spends a 1 s window writing pages as fast as it can: with log-dirty off
 * each page costs t_off = window / pages.  With log-dirty on and a harvest
 * every 10 ms, each harvest write-protects the pages again, and the first
 * write to a page after it takes a fault (the harvested working-set count
 * is exactly the number of such first writes; the working set is sized so
 * that nearly every write is one).  The time the on-window does not spend
 * on page work at the off speed, divided by those faults, is what one
 * fault costs the guest, everything included (exit, the hypervisor's
 * handling, the stalls harvests cause):
 *     ns_per_page = (window_on - pages_on * t_off) / faults.
 */
static void wp_fault(struct bench *b, const struct max_run *m)
{
    double t_off, extra, ns_per_page;

    if (!m->done || !m->off.pages || !m->on.dirty_ws)
        return;
    t_off = (double)m->off.ns / (double)m->off.pages;
    extra = (double)m->on.ns - (double)m->on.pages * t_off;
    ns_per_page = extra / (double)m->on.dirty_ws;
    printf("{\"bench\":\"hv.wp_fault\",\"driver\":\"%s\","
           "\"ns_per_page\":%.0f,\"max_off_pages_s\":%.0f,"
           "\"max_on_pages_s\":%.0f,\"faulting_share\":%.3f}\n",
           b->driver, ns_per_page, per_s(m->off.pages, m->off.ns),
           per_s(m->on.pages, m->on.ns),
           m->on.pages ? (double)m->on.dirty_ws / (double)m->on.pages : 0.0);
    fflush(stdout);
}

static int bench_driver(struct bench *b, const char *driver)
{
    struct max_run max = { .done = false };
    char why[256];
    int rc;

    b->driver = driver;
    if (!strcmp(driver, "kvm") && kvm_unusable(why, sizeof(why))) {
        fprintf(stderr, "bench-hv: skipping kvm: %s\n", why);
        printf("{\"bench\":\"hv.skip\",\"driver\":\"kvm\",\"reason\":\"%s\"}"
               "\n", why);
        fflush(stdout);
        return 0;
    }
    rc = hv_open(b->ctx, driver, NULL, &b->h);
    if (rc < 0)
        return rc;
    rc = dirty_rate(b, &max);
    if (rc == 0)
        wp_fault(b, &max);
    if (rc == 0)
        rc = harvest_cost(b);
    hv_close(b->h);
    b->h = NULL;
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f,
"usage: bench-hv [--driver LIST] [--guest ELF]\n"
"  --driver LIST  drivers to measure, comma separated (default kvm,sim)\n"
"  --guest ELF    the test guest (default $XM_BUILDDIR/guest/xm-guest.elf)\n"
"Prints one JSON object per line on stdout.  XM_VMM_RUN_DIR, if set, is\n"
"where the VMMs' sockets go (default: a directory of this run in /tmp).\n");
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        { "driver", required_argument, NULL, 'd' },
        { "guest", required_argument, NULL, 'g' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct bench b = { .ctx = NULL };
    const char *bdir = getenv("XM_BUILDDIR");
    const char *rdir = getenv("XM_VMM_RUN_DIR");
    char *drivers = NULL, *tok, *save = NULL, run_dir[64] = "";
    int c, rc = 0, failed = 0;

    b.guest[0] = '\0';
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'd':
            free(drivers);
            drivers = strdup(optarg);
            break;
        case 'g':
            snprintf(b.guest, sizeof(b.guest), "%s", optarg);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    if (!drivers)
        drivers = strdup("kvm,sim");
    if (!b.guest[0])
        snprintf(b.guest, sizeof(b.guest), "%s/guest/xm-guest.elf",
                 bdir && *bdir ? bdir : XM_BUILDDIR);
    b.ctx = xt_ctx_new("bench-hv");
    if (!drivers || !b.ctx) {
        fprintf(stderr, "bench-hv: out of memory\n");
        rc = 1;
        goto out;
    }
    if (hv_guest_image_header(b.guest, &b.hdr) < 0) {
        fprintf(stderr, "bench-hv: %s is not a test guest (not built?)\n",
                b.guest);
        rc = 1;
        goto out;
    }
    if (!rdir || !*rdir) {
        snprintf(run_dir, sizeof(run_dir), "/tmp/xm-bench-hv-%d",
                 (int)getpid());
        setenv("XM_VMM_RUN_DIR", run_dir, 1);
    }
    for (tok = strtok_r(drivers, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        uint64_t t0 = xt_now_ns();

        if (bench_driver(&b, tok) < 0) {
            fprintf(stderr, "bench-hv: %s failed: %s\n", tok,
                    b.ctx->err_msg);
            failed++;
        }
        fprintf(stderr, "bench-hv: %s took %.1f s\n", tok,
                (double)(xt_now_ns() - t0) / 1e9);
    }
    rc = failed ? 1 : 0;
out:
    if (run_dir[0])
        rmdir(run_dir);
    xt_ctx_free(b.ctx);
    free(drivers);
    return rc;
}
