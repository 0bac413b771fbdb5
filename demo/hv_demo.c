/*
 * hv_demo.c - xm-hv-demo: boots the test guest under a hypervisor driver
 * and shows, live, what the guest does (heartbeats, pages it writes) next
 * to what the hypervisor sees (dirty pages harvested with log-dirty on).
 * At the end it pauses the guest (heartbeats and writes stop), resumes it
 * (they continue, without a break in the sequence) and destroys it.
 *
 * Everything goes through hv.h, as the migration engine does.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "hv.h"
#include "xmg_abi.h"

#define PROG            "xm-hv-demo"
#define MS              1000000ull      /* ns */
#define BOOT_TIMEOUT_NS (20000 * MS)
#define PAUSE_NS        (1000 * MS)     /* how long the end pause lasts */
#define RESUME_WAIT_NS  (2000 * MS)
#define MIN_MEM_MIB     16u
#define MAX_MEM_MIB     ((unsigned)(XMG_MAX_MEM_BYTES >> 20))
#define MAX_SAMPLES     4096            /* harvest timings kept */
#define DEFAULT_WS_MIB  64u

#ifndef XM_PKGDATADIR
#define XM_PKGDATADIR   "/usr/local/share/xm-pool"
#endif

struct demo_opts {
    const char *driver;
    const char *guest;          /* NULL: search */
    const char *run_dir;        /* NULL: the driver's default */
    unsigned mem_mib;
    unsigned ws_mib;
    uint64_t rate;              /* pages/s or XMG_RATE_MAX */
    double seconds;
    unsigned interval_ms;
};

struct demo {
    struct demo_opts o;
    struct xt_ctx *ctx;
    struct hv_handle *h;
    char guest[PATH_MAX];
    uint32_t domid;
    bool booted;
    uint64_t nr_pages;
    uint64_t *bitmap;
    bool tty;
    /* totals over the live part */
    uint64_t t_start, t_end;
    uint64_t hb_start, hb_end;
    uint64_t pw_start, pw_end;
    uint64_t gap_live;          /* longest heartbeat gap by then */
    uint64_t dirty_total;
    uint64_t harvest_us[MAX_SAMPLES];
    size_t n_harvests;
};

/*
 * Set by SIGINT/SIGTERM: the one piece of process-wide state, since a
 * signal handler has no context to write into.
 */
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
"usage: " PROG " [OPTIONS]\n"
"Boots the xm-pool test guest under a hypervisor driver and shows live what\n"
"it does and what the hypervisor sees; then pauses, resumes and destroys it.\n"
"\n"
"  --driver NAME     hypervisor driver: kvm (default) or sim\n"
"  --mem-mib N       guest memory in MiB (default 1024)\n"
"  --rate N|max      pages the guest rewrites per second (default 65536)\n"
"  --ws-mib N        the guest's working set in MiB (default 64)\n"
"  --seconds S       how long the live part lasts (default 5)\n"
"  --interval-ms N   time between live lines (default 250)\n"
"  --guest ELF       the test guest image (default: $XM_BUILDDIR/guest/\n"
"                    xm-guest.elf, else the installed one)\n"
"  --run-dir DIR     where the VMM sockets live (default $XM_VMM_RUN_DIR,\n"
"                    else /run/xm-pool/vmm)\n"
"  --help            this text\n"
"\n"
"Each live line shows: elapsed time; the last heartbeat sequence number,\n"
"heartbeats per second and the longest gap between two heartbeats so far;\n"
"pages the guest wrote per second (its own count); pages the hypervisor\n"
"found dirty per second (log-dirty on, one harvest per line: a page\n"
"rewritten twice between two harvests counts once, so this is at most the\n"
"working set per interval); ledger mismatches (pages whose content the\n"
"guest found wrong: always 0 unless something corrupts its memory).\n"
"On a terminal the line is rewritten in place.\n"
"Exit status: 0 if all went as expected, 1 if not, 2 on a usage error.\n");
}

static void sleep_until(uint64_t ns)
{
    struct timespec ts = {
        .tv_sec = (time_t)(ns / 1000000000ull),
        .tv_nsec = (long)(ns % 1000000000ull),
    };

    /* An interrupting signal ends the sleep early; the caller checks. */
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static bool parse_uint(const char *s, uint64_t min, uint64_t max,
                       uint64_t *v_r)
{
    unsigned long long v;
    char *end;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
        return false;
    *v_r = v;
    return true;
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
        snprintf(buf, size, "/dev/kvm: unexpected API version %d", r);
        return buf;
    }
    return NULL;
}

/* The guest image: --guest, else the first of the usual places. */
static int find_guest(struct demo *d)
{
    const char *bdir = getenv("XM_BUILDDIR");
    char tried[3][PATH_MAX];
    size_t i, n = 0;

    if (d->o.guest) {
        snprintf(d->guest, sizeof(d->guest), "%s", d->o.guest);
        if (access(d->guest, R_OK) < 0)
            return xt_error(d->ctx, -errno, "guest image %s", d->guest);
        return 0;
    }
    if (bdir && *bdir)
        snprintf(tried[n++], PATH_MAX, "%s/guest/xm-guest.elf", bdir);
    snprintf(tried[n++], PATH_MAX, "%s/xm-guest.elf", XM_PKGDATADIR);
    snprintf(tried[n++], PATH_MAX, "%s/guest/xm-guest.elf", XM_BUILDDIR);
    for (i = 0; i < n; i++) {
        if (access(tried[i], R_OK) == 0) {
            memcpy(d->guest, tried[i], sizeof(d->guest));
            return 0;
        }
    }
    return xt_error(d->ctx, -ENOENT, "no test guest image (tried %s%s%s%s%s)"
                    "; give one with --guest", tried[0], n > 1 ? ", " : "",
                    n > 1 ? tried[1] : "", n > 2 ? ", " : "",
                    n > 2 ? tried[2] : "");
}

static const char *exit_code_name(uint32_t code)
{
    switch (code) {
    case XMG_EXIT_OK:
        return "ok";
    case XMG_EXIT_BAD_PARAMS:
        return "bad parameters";
    case XMG_EXIT_NO_MEMORY:
        return "the working set does not fit in guest memory";
    default:
        return "unknown";
    }
}

/* Boots the guest and waits until its workload runs. */
static int boot(struct demo *d)
{
    struct hv_boot_spec spec = {
        .name = PROG,
        .nr_vcpus = 1,
        .kernel = d->guest,
    };
    struct hv_guest_stats gs;
    char cmdline[128], rate[24];
    uint64_t deadline;
    int rc;

    if (d->o.rate == XMG_RATE_MAX)
        snprintf(rate, sizeof(rate), "max");
    else
        snprintf(rate, sizeof(rate), "%llu", (unsigned long long)d->o.rate);
    snprintf(cmdline, sizeof(cmdline), "ws_mib=%u rate=%s", d->o.ws_mib,
             rate);
    spec.cmdline = cmdline;
    spec.nr_pages = (uint64_t)d->o.mem_mib << 8;
    d->nr_pages = spec.nr_pages;
    d->bitmap = xt_bitmap_alloc(d->nr_pages);
    if (!d->bitmap)
        return xt_error(d->ctx, -ENOMEM, "dirty bitmap");
    xt_uuid_generate(&spec.uuid);
    printf("booting %s under %s: %u MiB, cmdline '%s'\n", d->guest,
           d->o.driver, d->o.mem_mib, cmdline);
    fflush(stdout);
    rc = hv_boot(d->h, &spec, &d->domid);
    if (rc < 0)
        return rc;
    d->booted = true;
    deadline = xt_now_ns() + BOOT_TIMEOUT_NS;
    for (;;) {
        rc = hv_guest_stats(d->h, d->domid, &gs);
        if (rc < 0)
            return rc;
        if (!gs.is_test_guest)
            return xt_error(d->ctx, -EINVAL, "%s is not the xm-pool test "
                            "guest", d->guest);
        if (gs.exited)
            return xt_error(d->ctx, -EIO, "the guest stopped with code %u "
                            "(%s)", gs.exit_code,
                            exit_code_name(gs.exit_code));
        if (gs.ready && gs.hb_count > 0)
            break;
        if (interrupted)
            return -EINTR;
        if (xt_now_ns() > deadline)
            return xt_error(d->ctx, -ETIMEDOUT, "the guest sent no "
                            "heartbeat within %llu s",
                            (unsigned long long)(BOOT_TIMEOUT_NS / 1000 /
                                                 MS));
        usleep(1000);
    }
    printf("domain %u running\n", d->domid);
    fflush(stdout);
    return 0;
}

static int harvest(struct demo *d, uint64_t *dirty_r)
{
    uint64_t t0 = xt_now_ns();
    int rc;

    rc = hv_dirty_harvest(d->h, d->domid, d->bitmap, d->nr_pages, dirty_r);
    if (rc == 0 && d->n_harvests < MAX_SAMPLES)
        d->harvest_us[d->n_harvests++] = (xt_now_ns() - t0) / 1000;
    return rc;
}

static double per_s(uint64_t n, uint64_t ns)
{
    return ns ? (double)n * 1e9 / (double)ns : 0.0;
}

/* The live part: one line per interval until --seconds or a signal. */
static int live(struct demo *d)
{
    struct hv_guest_stats gs, prev;
    uint64_t interval = (uint64_t)d->o.interval_ms * MS, next, t, t_prev;
    uint64_t dirty = 0, end;
    char line[256];
    int rc;

    rc = hv_logdirty(d->h, d->domid, true);
    if (rc == 0)
        rc = harvest(d, &dirty);    /* start from a clean bitmap */
    if (rc == 0)
        rc = hv_guest_stats(d->h, d->domid, &prev);
    if (rc < 0)
        return rc;
    d->n_harvests = 0;
    t_prev = d->t_start = xt_now_ns();
    d->hb_start = prev.hb_count;
    d->pw_start = prev.pages_written;
    end = d->t_start + (uint64_t)(d->o.seconds * 1e9);
    for (next = d->t_start + interval; !interrupted; next += interval) {
        if (next > end)
            next = end;
        sleep_until(next);
        if (interrupted)
            break;
        rc = harvest(d, &dirty);
        if (rc == 0)
            rc = hv_guest_stats(d->h, d->domid, &gs);
        if (rc < 0)
            return rc;
        t = xt_now_ns();
        d->dirty_total += dirty;
        snprintf(line, sizeof(line),
                 "%6.2f s  hb #%-7llu %5.0f/s  max gap %6.1f ms  "
                 "guest %8.0f pages/s  dirty %8.0f pages/s %7.1f MiB/s  "
                 "mismatches %llu",
                 (double)(t - d->t_start) / 1e9,
                 (unsigned long long)gs.hb_last_seq,
                 per_s(gs.hb_count - prev.hb_count, t - t_prev),
                 (double)gs.hb_max_gap_ns / 1e6,
                 per_s(gs.pages_written - prev.pages_written, t - t_prev),
                 per_s(dirty, t - t_prev),
                 per_s(dirty * HV_PAGE_SIZE, t - t_prev) / (1 << 20),
                 (unsigned long long)gs.mismatches);
        if (d->tty)
            printf("\r%s\033[K", line);
        else
            printf("%s\n", line);
        fflush(stdout);
        if (gs.exited) {
            if (d->tty)
                printf("\n");
            return xt_error(d->ctx, -EIO, "the guest stopped with code %u "
                            "(%s)", gs.exit_code,
                            exit_code_name(gs.exit_code));
        }
        prev = gs;
        t_prev = t;
        d->t_end = t;
        d->hb_end = gs.hb_count;
        d->pw_end = gs.pages_written;
        d->gap_live = gs.hb_max_gap_ns;
        if (next >= end)
            break;
    }
    if (d->tty)
        printf("\n");
    return hv_logdirty(d->h, d->domid, false);
}

/*
 * Pauses the guest for PAUSE_NS and shows that nothing moves, then resumes
 * it and shows that the heartbeat continues its sequence.  *ok_r: it all
 * behaved.
 */
static int pause_resume(struct demo *d, bool *ok_r)
{
    struct hv_guest_stats a, b, c;
    uint64_t t0, t_resume, deadline;
    bool stopped, resumed = false;
    int rc;

    *ok_r = false;
    printf("pausing domain %u for %.1f s\n", d->domid,
           (double)PAUSE_NS / 1e9);
    rc = hv_pause(d->h, d->domid);
    if (rc == 0)
        rc = hv_guest_stats(d->h, d->domid, &a);
    if (rc < 0)
        return rc;
    t0 = xt_now_ns();
    sleep_until(t0 + PAUSE_NS);
    rc = hv_guest_stats(d->h, d->domid, &b);
    if (rc < 0)
        return rc;
    stopped = b.hb_count == a.hb_count && b.pages_written == a.pages_written;
    printf("  paused:  heartbeats %llu -> %llu, pages written %llu -> %llu"
           ": %s\n", (unsigned long long)a.hb_last_seq,
           (unsigned long long)b.hb_last_seq,
           (unsigned long long)a.pages_written,
           (unsigned long long)b.pages_written,
           stopped ? "the guest is stopped" : "THE GUEST KEPT RUNNING");
    fflush(stdout);

    rc = hv_unpause(d->h, d->domid);
    if (rc < 0)
        return rc;
    t_resume = xt_now_ns();
    deadline = t_resume + RESUME_WAIT_NS;
    do {
        usleep(1000);
        rc = hv_guest_stats(d->h, d->domid, &c);
        if (rc < 0)
            return rc;
        resumed = c.hb_count > b.hb_count + 10;
    } while (!resumed && xt_now_ns() < deadline && !interrupted);
    if (resumed)
        printf("  resumed: heartbeats %llu -> %llu within %.1f ms, %llu "
               "sequence breaks; longest gap now %.1f ms (the pause)\n",
               (unsigned long long)b.hb_last_seq,
               (unsigned long long)c.hb_last_seq,
               (double)(xt_now_ns() - t_resume) / 1e6,
               (unsigned long long)c.hb_seq_breaks,
               (double)c.hb_max_gap_ns / 1e6);
    else
        printf("  resumed: NO HEARTBEAT within %.1f s of resuming\n",
               (double)RESUME_WAIT_NS / 1e9);
    fflush(stdout);
    *ok_r = stopped && resumed && c.hb_seq_breaks == 0;
    return 0;
}

static void summary(struct demo *d, const struct hv_guest_stats *gs)
{
    uint64_t ns = d->t_end - d->t_start;
    uint64_t med = 0;

    if (d->n_harvests) {
        qsort(d->harvest_us, d->n_harvests, sizeof(d->harvest_us[0]),
              cmp_u64);
        med = d->harvest_us[d->n_harvests / 2];
    }
    printf("summary: %s driver, %u MiB guest, working set %u MiB, live "
           "%.2f s\n", d->o.driver, d->o.mem_mib, d->o.ws_mib,
           (double)ns / 1e9);
    printf("  heartbeats     %llu (%.0f/s), longest gap %.1f ms while live, "
           "%llu sequence breaks\n",
           (unsigned long long)(d->hb_end - d->hb_start),
           per_s(d->hb_end - d->hb_start, ns), (double)d->gap_live / 1e6,
           (unsigned long long)gs->hb_seq_breaks);
    printf("  pages written  %llu (%.0f/s)\n",
           (unsigned long long)(d->pw_end - d->pw_start),
           per_s(d->pw_end - d->pw_start, ns));
    printf("  dirty seen     %llu pages (%.0f/s, %.1f MiB/s) in %zu "
           "harvests, median %llu us each\n",
           (unsigned long long)d->dirty_total, per_s(d->dirty_total, ns),
           per_s(d->dirty_total * HV_PAGE_SIZE, ns) / (1 << 20),
           d->n_harvests, (unsigned long long)med);
    printf("  mismatches     %llu\n", (unsigned long long)gs->mismatches);
}

/* Parses argv into d->o; 0, or the exit status to return (2, or -1 for
 * --help, which exits 0). */
static int parse_args(struct demo *d, int argc, char **argv)
{
    static const struct option lo[] = {
        { "driver", required_argument, NULL, 'd' },
        { "mem-mib", required_argument, NULL, 'm' },
        { "rate", required_argument, NULL, 'r' },
        { "ws-mib", required_argument, NULL, 'w' },
        { "seconds", required_argument, NULL, 's' },
        { "interval-ms", required_argument, NULL, 'i' },
        { "guest", required_argument, NULL, 'g' },
        { "run-dir", required_argument, NULL, 'R' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *what = NULL;
    uint64_t v;
    char *end;
    int c;

    d->o.driver = "kvm";
    d->o.mem_mib = 1024;
    d->o.ws_mib = DEFAULT_WS_MIB;
    d->o.rate = 65536;
    d->o.seconds = 5;
    d->o.interval_ms = 250;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'd':
            d->o.driver = optarg;
            break;
        case 'm':
            what = "mem-mib";
            if (!parse_uint(optarg, MIN_MEM_MIB, MAX_MEM_MIB, &v))
                goto bad;
            d->o.mem_mib = (unsigned)v;
            break;
        case 'r':
            what = "rate";
            if (!strcmp(optarg, "max"))
                d->o.rate = XMG_RATE_MAX;
            else if (parse_uint(optarg, 0, UINT64_MAX - 1, &v))
                d->o.rate = v;
            else
                goto bad;
            break;
        case 'w':
            what = "ws-mib";
            if (!parse_uint(optarg, 1, MAX_MEM_MIB, &v))
                goto bad;
            d->o.ws_mib = (unsigned)v;
            break;
        case 's':
            what = "seconds";
            errno = 0;
            d->o.seconds = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(d->o.seconds > 0) ||
                d->o.seconds > 86400)
                goto bad;
            break;
        case 'i':
            what = "interval-ms";
            if (!parse_uint(optarg, 10, 60000, &v))
                goto bad;
            d->o.interval_ms = (unsigned)v;
            break;
        case 'g':
            d->o.guest = optarg;
            break;
        case 'R':
            d->o.run_dir = optarg;
            break;
        case 'h':
            usage(stdout);
            return -1;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, PROG ": unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (d->o.ws_mib >= d->o.mem_mib) {
        fprintf(stderr, PROG ": the working set (%u MiB) must be smaller "
                "than guest memory (%u MiB)\n", d->o.ws_mib, d->o.mem_mib);
        return 2;
    }
    return 0;
bad:
    fprintf(stderr, PROG ": bad value '%s' for --%s (see --help)\n", optarg,
            what);
    return 2;
}

int main(int argc, char **argv)
{
    struct sigaction sa = { .sa_handler = on_signal };
    struct hv_guest_stats gs = { .is_test_guest = false };
    struct demo *d;
    char why[256], args[PATH_MAX + 16];
    bool ok = false;
    int rc, status = 1;

    d = calloc(1, sizeof(*d));
    if (!d) {
        fprintf(stderr, PROG ": out of memory\n");
        return 1;
    }
    rc = parse_args(d, argc, argv);
    if (rc) {
        free(d);
        return rc < 0 ? 0 : rc;
    }
    d->tty = isatty(STDOUT_FILENO);
    d->ctx = xt_ctx_new(PROG);
    if (!d->ctx) {
        fprintf(stderr, PROG ": out of memory\n");
        goto out;
    }
    if (!hv_driver_exists(d->o.driver)) {
        fprintf(stderr, PROG ": unknown driver '%s' (built in: %s)\n",
                d->o.driver, hv_driver_names());
        status = 2;
        goto out;
    }
    if (!strcmp(d->o.driver, "kvm") && kvm_unusable(why, sizeof(why))) {
        fprintf(stderr, PROG ": %s: this machine cannot run KVM guests; try "
                "--driver sim (the same guest workload in a host thread)\n",
                why);
        goto out;
    }
    if (find_guest(d) < 0)
        goto out;

    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (d->o.run_dir)
        snprintf(args, sizeof(args), "run_dir=%s", d->o.run_dir);
    rc = hv_open(d->ctx, d->o.driver, d->o.run_dir ? args : NULL, &d->h);
    if (rc < 0)
        goto out;
    rc = boot(d);
    if (rc == 0)
        rc = live(d);
    if (interrupted)
        printf("interrupted\n");
    else if (rc == 0)
        rc = pause_resume(d, &ok);
    if (rc == 0)
        rc = hv_guest_stats(d->h, d->domid, &gs);
    if (rc == 0 && d->t_end > d->t_start)
        summary(d, &gs);
    if (rc == 0 && !interrupted && ok && gs.mismatches == 0)
        status = 0;
out:
    if (d->booted) {
        if (hv_destroy(d->h, d->domid) == 0)
            printf("domain %u destroyed\n", d->domid);
    }
    hv_close(d->h);
    xt_ctx_free(d->ctx);
    free(d->bitmap);
    free(d);
    return status;
}
