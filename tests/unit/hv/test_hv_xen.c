/*
 * test_hv_xen.c - the Xen driver without a hypervisor: open's refusal on a
 * machine without /dev/xen/privcmd, option parsing, argument checks (also
 * through the ops, which must refuse before calling into Xen), the Xen
 * dirty bitmap conversion, run state and guest type mapping, and the state
 * blob's framing and layout checks.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <xenctrl.h>
#include <xen/hvm/params.h>     /* after xenctrl.h: needs its types */

#include "hv.h"
#include "hv_internal.h"
#include "hv_xen_internal.h"
#include "../../tap.h"

static struct xt_ctx *ctx;

/* rc is want and the recorded message contains every needle given. */
static void is_err(int rc, int want, const char *name, const char *needle1,
                   const char *needle2)
{
    bool ok = rc == want && ctx->err_rc == want &&
              (!needle1 || strstr(ctx->err_msg, needle1)) &&
              (!needle2 || strstr(ctx->err_msg, needle2));

    if (!tap_ok(ok, "%s", name)) {
        tap_diag("  rc %d (want %d), message \"%s\"", rc, want,
                 ctx->err_msg);
        tap_diag("  want it to contain \"%s\"%s%s%s", needle1 ? needle1 : "",
                 needle2 ? " and \"" : "", needle2 ? needle2 : "",
                 needle2 ? "\"" : "");
    }
    xt_error_clear(ctx);
}

/* ---- open ---------------------------------------------------------------- */

static void test_open(void)
{
    const struct hv_ops *ops = hv_driver_exists("xen") ? &hv_xen_ops : NULL;
    struct hv_handle *h = (struct hv_handle *)&h;   /* poison */
    const char *want = "no Xen hypervisor: /dev/xen/privcmd missing";
    int rc;

    tap_ok(ops && !strcmp(ops->name, "xen"), "the xen driver is built in");
    tap_ok(strstr(hv_driver_names(), "xen") != NULL,
           "hv_driver_names lists xen (%s)", hv_driver_names());
    tap_ok(ops && ops->open && ops->close && ops->list && ops->info &&
           ops->create && ops->map_batch && ops->unmap && ops->logdirty &&
           ops->dirty_harvest && ops->pause && ops->unpause &&
           ops->state_save && ops->state_restore && ops->destroy,
           "every required op is there");
    tap_ok(ops && ops->dirty_peek && ops->suspend &&
           ops->resume_after_failure && ops->boot && !ops->throttle &&
           !ops->guest_stats,
           "optional ops: peek, suspend, resume, boot (xl create) yes; "
           "throttle, guest_stats no");

    if (access(HV_XEN_PRIVCMD, F_OK) == 0) {
        tap_skip(4, HV_XEN_PRIVCMD " exists: this is a Xen control domain, "
                 "opening is the Xen lane's test");
        return;
    }
    rc = hv_open(ctx, "xen", NULL, &h);
    tap_is_int(rc, -ENODEV, "open without " HV_XEN_PRIVCMD ": -ENODEV");
    tap_ok(h == NULL, "open failure leaves no handle");
    tap_ok(!strncmp(ctx->err_msg, want, strlen(want)),
           "message starts \"%s\" (\"%s\")", want, ctx->err_msg);
    xt_error_clear(ctx);
    /* The hypervisor check comes first, even before bad options. */
    h = NULL;
    rc = hv_open(ctx, "xen", "bogus=1", &h);
    tap_ok(rc == -ENODEV && h == NULL,
           "no hypervisor is reported before bad options (%d)", rc);
    xt_error_clear(ctx);
}

/* ---- options ------------------------------------------------------------- */

static void test_opts(void)
{
    struct hv_xen_opts o;
    int rc;

    rc = hv_xen_opts_parse(ctx, NULL, &o);
    tap_ok(rc == 0 && o.suspend_timeout_ms == 60000 &&
           o.populate == HV_XEN_POPULATE_LAZY && o.hap == HV_XEN_HAP_AUTO &&
           !o.tsc_mode_set, "NULL options: the defaults");
    rc = hv_xen_opts_parse(ctx, "", &o);
    tap_ok(rc == 0 && o.suspend_timeout_ms == 60000, "\"\": the defaults");

    rc = hv_xen_opts_parse(ctx, "suspend_timeout_ms=500,populate=eager,"
                           "hap=no,tsc_mode=native", &o);
    tap_ok(rc == 0 && o.suspend_timeout_ms == 500 &&
           o.populate == HV_XEN_POPULATE_EAGER && o.hap == HV_XEN_HAP_NO &&
           o.tsc_mode_set && o.tsc_mode == HV_XEN_TSC_MODE_NATIVE,
           "all four keys parsed");
    rc = hv_xen_opts_parse(ctx, "hap=yes,populate=lazy,tsc_mode="
                           "always_emulate", &o);
    tap_ok(rc == 0 && o.hap == HV_XEN_HAP_YES &&
           o.populate == HV_XEN_POPULATE_LAZY &&
           o.tsc_mode == HV_XEN_TSC_MODE_ALWAYS_EMULATE,
           "the other values");
    rc = hv_xen_opts_parse(ctx, "tsc_mode=native,tsc_mode=default,"
                           "suspend_timeout_ms=1,suspend_timeout_ms=3600000",
                           &o);
    tap_ok(rc == 0 && !o.tsc_mode_set && o.suspend_timeout_ms == 3600000,
           "a later key overrides an earlier one; bounds accepted");

    rc = hv_xen_opts_parse(ctx, "populate=eager,frobnicate=1", &o);
    is_err(rc, -EINVAL, "unknown key rejected, named", "'frobnicate'",
           NULL);
    rc = hv_xen_opts_parse(ctx, "populate", &o);
    is_err(rc, -EINVAL, "key without value rejected", "populate",
           "needs a value");
    rc = hv_xen_opts_parse(ctx, "populate=", &o);
    is_err(rc, -EINVAL, "empty value rejected", "populate", NULL);
    rc = hv_xen_opts_parse(ctx, "populate=sometimes", &o);
    is_err(rc, -EINVAL, "bad populate value rejected", "sometimes", NULL);
    rc = hv_xen_opts_parse(ctx, "hap=maybe", &o);
    is_err(rc, -EINVAL, "bad hap value rejected", "hap", NULL);
    rc = hv_xen_opts_parse(ctx, "tsc_mode=pvrdtscp", &o);
    is_err(rc, -EINVAL, "bad tsc_mode value rejected", "tsc_mode", NULL);
    rc = hv_xen_opts_parse(ctx, "suspend_timeout_ms=0", &o);
    is_err(rc, -EINVAL, "timeout 0 rejected", "suspend_timeout_ms", NULL);
    rc = hv_xen_opts_parse(ctx, "suspend_timeout_ms=3600001", &o);
    is_err(rc, -EINVAL, "timeout over an hour rejected",
           "suspend_timeout_ms", NULL);
    rc = hv_xen_opts_parse(ctx, "suspend_timeout_ms=-5", &o);
    is_err(rc, -EINVAL, "negative timeout rejected", "-5", NULL);
    rc = hv_xen_opts_parse(ctx, "suspend_timeout_ms=10s", &o);
    is_err(rc, -EINVAL, "timeout with a unit rejected", "10s", NULL);
    rc = hv_xen_opts_parse(ctx, "hap=yes,,populate=lazy", &o);
    is_err(rc, -EINVAL, "empty item rejected", "empty", NULL);
    rc = hv_xen_opts_parse(ctx, "hap=yes,", &o);
    is_err(rc, -EINVAL, "trailing comma rejected", "empty", NULL);
    rc = hv_xen_opts_parse(ctx, "=yes", &o);
    is_err(rc, -EINVAL, "option without a name rejected", "without a name",
           NULL);
}

/* ---- argument checks ----------------------------------------------------- */

static void test_checks(void)
{
    uint64_t pfns[4] = { 0, 1, 2, 3 }, bm[1], dirty;
    void *pages[4];
    struct hv_mapping *map;
    int rc;

    tap_is_int(hv_xen_check_domid(ctx, "info", 0, true), 0,
               "domain 0 allowed where asked");
    rc = hv_xen_check_domid(ctx, "pause", 0, false);
    is_err(rc, -EINVAL, "domain 0 refused otherwise, op named", "pause",
           "domain 0");
    rc = hv_xen_check_domid(ctx, "destroy", DOMID_FIRST_RESERVED, true);
    is_err(rc, -EINVAL, "DOMID_FIRST_RESERVED refused", "destroy", "32752");
    rc = hv_xen_check_domid(ctx, "info", 0xffffffffu, true);
    is_err(rc, -EINVAL, "domid 2^32-1 refused", "4294967295", NULL);
    tap_is_int(hv_xen_check_domid(ctx, "pause", DOMID_FIRST_RESERVED - 1,
                                  false), 0, "the highest ordinary domid");

    tap_is_int(hv_xen_check_batch(ctx, 5, HV_MAP_READ, pfns, 4, pages, &map),
               0, "batch of 4 readable pages accepted");
    tap_is_int(hv_xen_check_batch(ctx, 5, HV_MAP_READ | HV_MAP_WRITE, pfns,
                                  HV_XEN_MAP_MAX_PAGES, pages, &map), 0,
               "batch of the maximum size accepted");
    rc = hv_xen_check_batch(ctx, 5, HV_MAP_READ, pfns, 0, pages, &map);
    is_err(rc, -EINVAL, "batch of 0 pages refused", "domain 5", "no pages");
    rc = hv_xen_check_batch(ctx, 5, HV_MAP_READ, pfns,
                            (size_t)HV_XEN_MAP_MAX_PAGES + 1, pages, &map);
    is_err(rc, -EINVAL, "batch over the maximum refused", "domain 5",
           "at most");
    rc = hv_xen_check_batch(ctx, 5, 0, pfns, 4, pages, &map);
    is_err(rc, -EINVAL, "protection 0 refused", "domain 5", "protection");
    rc = hv_xen_check_batch(ctx, 5, HV_MAP_READ | 4, pfns, 4, pages, &map);
    is_err(rc, -EINVAL, "unknown protection bit refused", "domain 5",
           "0x5");
    rc = hv_xen_check_batch(ctx, 5, HV_MAP_WRITE, NULL, 4, pages, &map);
    is_err(rc, -EINVAL, "NULL pfn array refused", "pfn array", NULL);
    rc = hv_xen_check_batch(ctx, 5, HV_MAP_WRITE, pfns, 4, NULL, &map);
    is_err(rc, -EINVAL, "NULL page array refused", "page array", NULL);
    rc = hv_xen_check_batch(ctx, 0, HV_MAP_READ, pfns, 4, pages, &map);
    is_err(rc, -EINVAL, "mapping domain 0 refused", "map", "domain 0");
    tap_ok(hv_xen_prot(HV_MAP_READ) == PROT_READ &&
           hv_xen_prot(HV_MAP_WRITE) == PROT_WRITE &&
           hv_xen_prot(HV_MAP_READ | HV_MAP_WRITE) ==
           (PROT_READ | PROT_WRITE), "HV_MAP_* to PROT_*");

    tap_is_int(hv_xen_check_dirty(ctx, "dirty harvest", 5, bm, 64, &dirty),
               0, "dirty arguments accepted");
    tap_is_int(hv_xen_check_dirty(ctx, "dirty harvest", 5, bm,
                                  HV_XEN_MAX_PFNS, &dirty), 0,
               "the largest pfn space accepted");
    rc = hv_xen_check_dirty(ctx, "dirty harvest", 5, bm, 0, &dirty);
    is_err(rc, -EINVAL, "bitmap of 0 pages refused", "dirty harvest",
           "domain 5");
    rc = hv_xen_check_dirty(ctx, "dirty peek", 5, bm, HV_XEN_MAX_PFNS + 1,
                            &dirty);
    is_err(rc, -EINVAL, "bitmap over the maximum refused", "dirty peek",
           "domain 5");
    rc = hv_xen_check_dirty(ctx, "dirty peek", 5, NULL, 64, &dirty);
    is_err(rc, -EINVAL, "NULL bitmap refused", "bitmap", NULL);
    rc = hv_xen_check_dirty(ctx, "dirty peek", 0, bm, 64, &dirty);
    is_err(rc, -EINVAL, "dirty ops on domain 0 refused", "domain 0", NULL);
}

/*
 * The ops check their arguments before they touch the driver's state or
 * call into Xen: a handle with no private state shows it (a call that got
 * past its checks would crash on it).
 */
static void test_ops_refuse_early(void)
{
    struct hv_handle fake = { &hv_xen_ops, NULL, NULL, NULL };
    struct hv_create_spec spec;
    uint64_t pfns[1] = { 0 }, bm[1], dirty = 0;
    void *pages[1], *blob = NULL;
    struct hv_mapping *map = NULL;
    unsigned char junk[64];
    size_t len = 0;
    int rc;

    fake.ctx = ctx;
    rc = hv_xen_ops.pause(&fake, 0);
    is_err(rc, -EINVAL, "pause of domain 0 refused", "pause", "domain 0");
    rc = hv_xen_ops.unpause(&fake, DOMID_FIRST_RESERVED);
    is_err(rc, -EINVAL, "unpause of a reserved domid refused", "unpause",
           NULL);
    rc = hv_xen_ops.destroy(&fake, 0);
    is_err(rc, -EINVAL, "destroy of domain 0 refused", "destroy", NULL);
    rc = hv_xen_ops.info(&fake, 70000, &(struct hv_domain_info){ 0 });
    is_err(rc, -EINVAL, "info of domid 70000 refused", "info", "70000");
    rc = hv_xen_ops.logdirty(&fake, 0, true);
    is_err(rc, -EINVAL, "logdirty on for domain 0 refused", "logdirty on",
           NULL);
    rc = hv_xen_ops.suspend(&fake, 0);
    is_err(rc, -EINVAL, "suspend of domain 0 refused", "suspend", NULL);
    rc = hv_xen_ops.resume_after_failure(&fake, DOMID_FIRST_RESERVED);
    is_err(rc, -EINVAL, "resume of a reserved domid refused", "resume",
           NULL);
    rc = hv_xen_ops.dirty_harvest(&fake, 7, bm, 0, &dirty);
    is_err(rc, -EINVAL, "harvest into 0 pages refused", "dirty harvest",
           "domain 7");
    rc = hv_xen_ops.dirty_peek(&fake, 7, NULL, 64, &dirty);
    is_err(rc, -EINVAL, "peek into no bitmap refused", "dirty peek",
           "domain 7");
    rc = hv_xen_ops.map_batch(&fake, 7, HV_MAP_READ, pfns, 0, pages, &map);
    is_err(rc, -EINVAL, "map of 0 pages refused", "domain 7", NULL);
    rc = hv_xen_ops.map_batch(&fake, 7, 8, pfns, 1, pages, &map);
    is_err(rc, -EINVAL, "map with protection 8 refused", "domain 7", NULL);
    rc = hv_xen_ops.state_save(&fake, 0, &blob, &len);
    is_err(rc, -EINVAL, "state save of domain 0 refused", "state save",
           NULL);
    memset(junk, 0xa5, sizeof(junk));
    rc = hv_xen_ops.state_restore(&fake, 7, junk, sizeof(junk));
    is_err(rc, -EINVAL, "state restore of a junk blob refused", "magic",
           NULL);

    memset(&spec, 0, sizeof(spec));
    spec.nr_pages = 256;
    spec.nr_vcpus = 129;
    rc = hv_xen_ops.create(&fake, &spec, &(uint32_t){ 0 });
    is_err(rc, -EINVAL, "create with 129 vCPUs refused", "create",
           "129 vCPUs");
    spec.nr_vcpus = 1;
    spec.nr_pages = HV_XEN_MAX_PFNS + 1;
    rc = hv_xen_ops.create(&fake, &spec, &(uint32_t){ 0 });
    is_err(rc, -EINVAL, "create beyond the largest pfn space refused",
           "create", "pages");

    /* boot checks its spec before anything runs (no xl, no Xen here). */
    {
        struct hv_boot_spec bs = { .name = "b", .kernel = "/dev/null",
                                   .nr_pages = 256, .nr_vcpus = 1 };

        bs.guest_type = "hvm";
        rc = hv_xen_ops.boot(&fake, &bs, &(uint32_t){ 0 });
        is_err(rc, -EINVAL, "boot of guest type hvm refused", "hvm",
               "pv or pvh");
        bs.guest_type = "pvh";
        bs.nr_pages = 300;
        rc = hv_xen_ops.boot(&fake, &bs, &(uint32_t){ 0 });
        is_err(rc, -EINVAL, "boot of 300 pages (not whole MiB) refused",
               "300 pages", "MiB");
        bs.nr_pages = 256;
        bs.cmdline = "console=hvc0\" quiet";
        rc = hv_xen_ops.boot(&fake, &bs, &(uint32_t){ 0 });
        is_err(rc, -EINVAL, "boot with a quote in the command line refused",
               "command line", "quote");
        bs.cmdline = NULL;
        bs.ramdisk = "/nonexistent/initrd";
        rc = hv_xen_ops.boot(&fake, &bs, &(uint32_t){ 0 });
        is_err(rc, -ENOENT, "boot with a missing ramdisk refused",
               "ramdisk", "/nonexistent/initrd");
    }

    /* Missing optional ops answer -ENOTSUP through the wrappers. */
    rc = hv_throttle(&fake, 7, 10);
    is_err(rc, -ENOTSUP, "throttle: -ENOTSUP", "xen", "throttle");
    rc = hv_guest_stats(&fake, 7, &(struct hv_guest_stats){ 0 });
    is_err(rc, -ENOTSUP, "guest_stats: -ENOTSUP", "guest_stats", NULL);
}

/* ---- dirty bitmaps ------------------------------------------------------- */

/* A Xen bitmap of nr bits, word_bits-wide words, exactly as large as Xen's
 * sizing (so an over-read shows under ASan/valgrind), with bit p set when
 * (p * 7 + seed) % 5 < 2, including the bits past nr in the last word. */
static void *make_xen_bitmap(uint64_t nr, unsigned word_bits, unsigned seed)
{
    size_t bytes = hv_xen_bitmap_bytes(nr, word_bits);
    uint64_t bits = bytes * 8, p;
    unsigned char *b = calloc(1, bytes);

    if (!b)
        tap_bail("out of memory");
    for (p = 0; p < bits; p++) {
        if ((p * 7 + seed) % 5 >= 2)
            continue;
        if (word_bits == 64) {
            uint64_t w;

            memcpy(&w, b + p / 64 * 8, 8);
            w |= 1ull << (p % 64);
            memcpy(b + p / 64 * 8, &w, 8);
        } else {
            uint32_t w;

            memcpy(&w, b + p / 32 * 4, 4);
            w |= 1u << (p % 32);
            memcpy(b + p / 32 * 4, &w, 4);
        }
    }
    return b;
}

static void test_bitmap(void)
{
    static const uint64_t sizes[] = {
        1, 5, 31, 32, 33, 63, 64, 65, 95, 96, 100, 127, 128, 129, 1000,
        4097,
    };
    static const unsigned widths[] = { 64, 32 };
    size_t si, wi;

    tap_ok(hv_xen_bitmap_bytes(1, 64) == 8 &&
           hv_xen_bitmap_bytes(64, 64) == 8 &&
           hv_xen_bitmap_bytes(65, 64) == 16 &&
           hv_xen_bitmap_bytes(1, 32) == 4 &&
           hv_xen_bitmap_bytes(32, 32) == 4 &&
           hv_xen_bitmap_bytes(33, 32) == 8 &&
           hv_xen_bitmap_bytes(100, 32) == 16,
           "Xen bitmap sizes, 64- and 32-bit words");

    for (wi = 0; wi < 2; wi++) {
        for (si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
            uint64_t nr = sizes[si], words = XT_BITMAP_WORDS(nr), p;
            uint64_t want = 0, got, bad = 0;
            unsigned char *xbm = make_xen_bitmap(nr, widths[wi],
                                                 (unsigned)si);
            uint64_t *bm = malloc(words * 8);

            if (!bm)
                tap_bail("out of memory");
            memset(bm, 0xff, words * 8);        /* must be written whole */
            got = hv_xen_bitmap_to_xt(xbm, widths[wi], bm, nr);
            for (p = 0; p < words * 64; p++) {
                bool in = p < nr && (xbm[p / 8] >> (p % 8)) & 1;

                want += in;
                bad += xt_bitmap_test(bm, p) != in;
            }
            tap_ok(bad == 0 && got == want, "%u-bit words, %llu pages: "
                   "%llu set, bits past the end cleared", widths[wi],
                   (unsigned long long)nr, (unsigned long long)want);
            if (bad || got != want)
                tap_diag("  %llu wrong bits, count %llu",
                         (unsigned long long)bad, (unsigned long long)got);
            free(bm);
            free(xbm);
        }
    }

    {
        /* All ones in, exactly nr bits out. */
        uint64_t nr = 130, bm[3];
        unsigned char xbm[24];

        memset(xbm, 0xff, sizeof(xbm));
        tap_ok(hv_xen_bitmap_to_xt(xbm, 64, bm, nr) == nr &&
               bm[0] == ~0ull && bm[1] == ~0ull && bm[2] == 3,
               "full Xen bitmap of 130 pages: 130 bits");
    }
}

/* ---- run state, guest type, info ----------------------------------------- */

#define SD(reason)  (XEN_DOMINF_shutdown | \
                     ((uint32_t)(reason) << XEN_DOMINF_shutdownshift))

/* An independent statement of the mapping, for the exhaustive check. */
static enum hv_run_state expected_state(bool dying, bool shutdown,
                                        bool paused, unsigned reason)
{
    if (dying)
        return HV_STATE_DYING;
    if (shutdown && reason == SHUTDOWN_suspend)
        return HV_STATE_SUSPENDED;
    if (shutdown && reason == SHUTDOWN_crash)
        return HV_STATE_CRASHED;
    if (shutdown)
        return HV_STATE_SHUTDOWN;
    if (paused)
        return HV_STATE_PAUSED;
    return HV_STATE_RUNNING;
}

static void test_state(void)
{
    static const struct {
        uint32_t flags;
        enum hv_run_state want;
        const char *what;
    } cases[] = {
        { 0, HV_STATE_RUNNING, "no flags" },
        { XEN_DOMINF_running, HV_STATE_RUNNING, "running" },
        { XEN_DOMINF_blocked, HV_STATE_RUNNING, "blocked" },
        { XEN_DOMINF_paused, HV_STATE_PAUSED, "paused" },
        { XEN_DOMINF_paused | XEN_DOMINF_blocked, HV_STATE_PAUSED,
          "paused and blocked" },
        { SD(SHUTDOWN_suspend), HV_STATE_SUSPENDED, "shutdown: suspend" },
        { SD(SHUTDOWN_suspend) | XEN_DOMINF_paused, HV_STATE_SUSPENDED,
          "shutdown: suspend, and paused" },
        { SD(SHUTDOWN_crash), HV_STATE_CRASHED, "shutdown: crash" },
        { SD(SHUTDOWN_poweroff), HV_STATE_SHUTDOWN, "shutdown: poweroff" },
        { SD(SHUTDOWN_reboot), HV_STATE_SHUTDOWN, "shutdown: reboot" },
        { SD(SHUTDOWN_watchdog), HV_STATE_SHUTDOWN, "shutdown: watchdog" },
        { SD(SHUTDOWN_soft_reset), HV_STATE_SHUTDOWN,
          "shutdown: soft reset" },
        { XEN_DOMINF_dying, HV_STATE_DYING, "dying" },
        { XEN_DOMINF_dying | SD(SHUTDOWN_suspend), HV_STATE_DYING,
          "dying beats shutdown: suspend" },
        { XEN_DOMINF_dying | XEN_DOMINF_paused, HV_STATE_DYING,
          "dying beats paused" },
        { XEN_DOMINF_paused |
          ((uint32_t)SHUTDOWN_suspend << XEN_DOMINF_shutdownshift),
          HV_STATE_PAUSED, "a reason without the shutdown flag is ignored" },
    };
    size_t i;
    unsigned combo, reason, bad = 0, total = 0;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        tap_ok(hv_xen_run_state(cases[i].flags) == cases[i].want,
               "state: %s -> %s", cases[i].what,
               hv_run_state_name(cases[i].want));

    /* Every combination of dying, shutdown, paused, blocked, running, hvm
     * and each shutdown reason. */
    for (combo = 0; combo < 64; combo++) {
        for (reason = 0; reason <= SHUTDOWN_MAX; reason++) {
            uint32_t f = 0;

            if (combo & 1)  f |= XEN_DOMINF_dying;
            if (combo & 2)  f |= XEN_DOMINF_shutdown;
            if (combo & 4)  f |= XEN_DOMINF_paused;
            if (combo & 8)  f |= XEN_DOMINF_blocked;
            if (combo & 16) f |= XEN_DOMINF_running;
            if (combo & 32) f |= XEN_DOMINF_hvm_guest;
            f |= reason << XEN_DOMINF_shutdownshift;
            total++;
            if (hv_xen_run_state(f) !=
                expected_state(combo & 1, combo & 2, combo & 4, reason))
                bad++;
            if (hv_xen_is_suspended(f) !=
                (!(combo & 1) && (combo & 2) && reason == SHUTDOWN_suspend))
                bad++;
        }
    }
    tap_ok(bad == 0, "state and suspended: all %u flag combinations (%u "
           "wrong)", total, bad);
    tap_is_int(hv_xen_shutdown_reason(SD(SHUTDOWN_crash) |
                                      XEN_DOMINF_paused), SHUTDOWN_crash,
               "shutdown reason extracted");
}

static void test_info(void)
{
    xc_domaininfo_t di;
    struct hv_domain_info info;
    size_t i;

    memset(&di, 0, sizeof(di));
    tap_is_int(hv_xen_guest_type(&di), HV_XEN_GUEST_PV, "no hvm flag: PV");
    di.arch_config.emulation_flags = XEN_X86_EMU_LAPIC;
    tap_is_int(hv_xen_guest_type(&di), HV_XEN_GUEST_PV,
               "no hvm flag, LAPIC flag: still PV");
    di.flags = XEN_DOMINF_hvm_guest;
    tap_is_int(hv_xen_guest_type(&di), HV_XEN_GUEST_PVH,
               "hvm, LAPIC only: PVH");
    di.arch_config.emulation_flags = XEN_X86_EMU_ALL & ~XEN_X86_EMU_VPCI;
    tap_is_int(hv_xen_guest_type(&di), HV_XEN_GUEST_HVM,
               "hvm, all emulated devices: HVM");
    tap_is_str(hv_xen_guest_type_name(HV_XEN_GUEST_PVH), "PVH",
               "guest type name");

    memset(&di, 0, sizeof(di));
    di.domain = 7;
    di.flags = XEN_DOMINF_hvm_guest | XEN_DOMINF_paused;
    di.max_vcpu_id = 3;
    di.tot_pages = 1000;
    for (i = 0; i < sizeof(di.handle); i++)
        di.handle[i] = (uint8_t)(0x10 + i);
    memset(&info, 0, sizeof(info));
    strcpy(info.name, "kept");
    info.logdirty = true;
    hv_xen_fill_info(&di, 0xff000, &info);
    tap_ok(info.domid == 7 && info.nr_vcpus == 4 &&
           info.nr_pages == 0xff000 && info.state == HV_STATE_PAUSED &&
           info.uuid.b[0] == 0x10 && info.uuid.b[15] == 0x1f,
           "info from getdomaininfo: domid, vCPUs, pfn space, state, uuid");
    tap_ok(!strcmp(info.name, "kept") && info.logdirty,
           "name and logdirty left to the caller");
    di.max_vcpu_id = XEN_INVALID_MAX_VCPU_ID;
    hv_xen_fill_info(&di, 1, &info);
    tap_is_int(info.nr_vcpus, 0, "no vCPUs: 0");

    tap_ok(hv_xen_suspend_acked(NULL) && hv_xen_suspend_acked("") &&
           !hv_xen_suspend_acked("suspend") &&
           hv_xen_suspend_acked("poweroff"),
           "suspend ack: node gone, emptied or changed");

    {
        const char *none[] = { "suspend" };
        const char *some[] = { "vbd", "suspend", "vif" };
        char buf[64], tiny[4];

        tap_is_int(hv_xen_unmovable_devices(none, 0, buf, sizeof(buf)), 0,
                   "devices: an empty device/ is movable");
        tap_ok(hv_xen_unmovable_devices(none, 1, buf, sizeof(buf)) == 0 &&
               buf[0] == '\0', "devices: suspend alone is movable");
        tap_ok(hv_xen_unmovable_devices(some, 3, buf, sizeof(buf)) == 2 &&
               !strcmp(buf, "vbd, vif"),
               "devices: vbd and vif are refused and named");
        tap_ok(hv_xen_unmovable_devices(some, 3, tiny, sizeof(tiny)) == 2 &&
               !strcmp(tiny, "vbd"),
               "devices: a short buffer is truncated, the count is whole");
    }
}

/* ---- state blobs --------------------------------------------------------- */

#define CTX_LEN 100u

/* A good Xen blob: 2 params, a CPU policy of 3 leaves and 2 MSRs, CTX_LEN
 * bytes of context; caller frees. */
static unsigned char *make_blob(size_t *len_r, const char *driver,
                                uint32_t version)
{
    struct hv_xen_state st = {
        .guest_type = HV_XEN_GUEST_PVH, .nr_params = 2,
        .hvm_ctx_len = CTX_LEN, .tsc_mode = 2, .tsc_elapsed_nsec = 12345,
        .tsc_gtsc_khz = 2000000, .tsc_incarnation = 3,
        .nr_cpuid = 3, .nr_msrs = 2,
    };
    struct hv_xen_param prm[2] = {
        { HVM_PARAM_STORE_PFN, 0, 0xfeffc },
        { HVM_PARAM_CONSOLE_PFN, 0, 0xfeffd },
    };
    xen_cpuid_leaf_t leaves[3] = {
        { 0, XEN_CPUID_NO_SUBLEAF, 0xd, 0x68747541, 0x444d4163, 0x69746e65 },
        { 1, XEN_CPUID_NO_SUBLEAF, 0x663, 0x800, 0x80002001, 0x78bfbff },
        { 7, 0, 0, 0x209, 0, 0 },
    };
    xen_msr_entry_t msrs[2] = { { 0xce, 0, 0 }, { 0x10a, 0, 0x1 } };
    struct hv_xen_state_layout lay;
    size_t len = hv_xen_state_size(2, 3, 2, CTX_LEN, &lay), i;
    unsigned char *b = calloc(1, len);

    if (!b)
        tap_bail("out of memory");
    memcpy(b + sizeof(struct hv_state_hdr), &st, sizeof(st));
    memcpy(b + lay.params, prm, sizeof(prm));
    memcpy(b + lay.cpuid, leaves, sizeof(leaves));
    memcpy(b + lay.msrs, msrs, sizeof(msrs));
    for (i = 0; i < CTX_LEN; i++)
        b[lay.hvmctx + i] = (unsigned char)(i * 3 + 1);
    hv_state_seal(b, len, driver, version);
    *len_r = len;
    return b;
}

/* Rewrites the Xen header of a blob (and reseals it). */
static void patch_state(unsigned char *b, size_t len,
                        void (*patch)(struct hv_xen_state *))
{
    struct hv_xen_state st;

    memcpy(&st, b + sizeof(struct hv_state_hdr), sizeof(st));
    patch(&st);
    memcpy(b + sizeof(struct hv_state_hdr), &st, sizeof(st));
    hv_state_seal(b, len, "xen", HV_XEN_STATE_VERSION);
}

static void set_hvm_type(struct hv_xen_state *st)
{
    st->guest_type = HV_XEN_GUEST_HVM;
}

static void set_many_params(struct hv_xen_state *st)
{
    st->nr_params = HV_XEN_STATE_MAX_PARAMS + 1;
}

static void set_ctx_short(struct hv_xen_state *st)
{
    st->hvm_ctx_len = CTX_LEN - 1;
}

static void set_ctx_zero(struct hv_xen_state *st)
{
    st->hvm_ctx_len = 0;
}

static void set_no_cpuid(struct hv_xen_state *st)
{
    st->nr_cpuid = 0;
}

static void set_many_msrs(struct hv_xen_state *st)
{
    st->nr_msrs = HV_XEN_STATE_MAX_MSRS + 1;
}

/* A good blob whose Xen header patch rewrites must be refused by the
 * parser: -EINVAL, the message containing want. */
static void layout_refused(void (*patch)(struct hv_xen_state *),
                           const char *what, const char *want)
{
    struct hv_xen_state_layout lay;
    struct hv_xen_state st;
    size_t len;
    unsigned char *b = make_blob(&len, "xen", HV_XEN_STATE_VERSION);

    patch_state(b, len, patch);
    is_err(hv_xen_state_parse(ctx, b, len, &st, &lay), -EINVAL, what, want,
           NULL);
    free(b);
}

static void test_blob(void)
{
    struct hv_xen_state_layout lay;
    struct hv_xen_state st;
    struct hv_state_hdr hdr;
    size_t len;
    unsigned char *b;
    int rc;

    b = make_blob(&len, "xen", HV_XEN_STATE_VERSION);
    tap_is_int(hv_state_check(ctx, b, len, "xen", HV_XEN_STATE_VERSION), 0,
               "good blob accepted by hv_state_check");
    rc = hv_xen_state_parse(ctx, b, len, &st, &lay);
    tap_ok(rc == 0 && st.nr_params == 2 && st.hvm_ctx_len == CTX_LEN &&
           st.tsc_mode == 2 && st.tsc_elapsed_nsec == 12345 &&
           st.tsc_incarnation == 3 && st.nr_cpuid == 3 && st.nr_msrs == 2 &&
           lay.params == sizeof(struct hv_state_hdr) + sizeof(st) &&
           lay.cpuid == lay.params + 2 * sizeof(struct hv_xen_param) &&
           lay.msrs == lay.cpuid + 3 * sizeof(xen_cpuid_leaf_t) &&
           lay.hvmctx == lay.msrs + 2 * sizeof(xen_msr_entry_t) &&
           lay.hvmctx + CTX_LEN == len && b[lay.hvmctx] == 1,
           "good blob parsed: header, offsets (rc %d)", rc);
    {
        xen_cpuid_leaf_t l;
        xen_msr_entry_t m;

        memcpy(&l, b + lay.cpuid + sizeof(l), sizeof(l));
        memcpy(&m, b + lay.msrs + sizeof(m), sizeof(m));
        tap_ok(l.leaf == 1 && l.b == 0x800 && m.idx == 0x10a && m.val == 1,
               "the CPU policy's leaves and MSRs are where the layout says");
    }

    /* Unaligned: the blob is read with memcpy. */
    {
        unsigned char *u = malloc(len + 1);

        if (!u)
            tap_bail("out of memory");
        memcpy(u + 1, b, len);
        tap_is_int(hv_xen_state_parse(ctx, u + 1, len, &st, &lay),
                   0, "good blob at an odd address parsed");
        free(u);
    }

    memcpy(&hdr, b, sizeof(hdr));
    hdr.magic ^= 1;
    memcpy(b, &hdr, sizeof(hdr));
    rc = hv_state_check(ctx, b, len, "xen", HV_XEN_STATE_VERSION);
    is_err(rc, -EINVAL, "wrong magic refused", "magic", NULL);
    free(b);

    b = make_blob(&len, "kvm", HV_XEN_STATE_VERSION);
    rc = hv_state_check(ctx, b, len, "xen", HV_XEN_STATE_VERSION);
    is_err(rc, -EINVAL, "a kvm blob refused by xen", "'kvm'", "'xen'");
    rc = hv_xen_state_parse(ctx, b, len, &st, &lay);
    is_err(rc, -EINVAL, "... and by the xen parser", "'kvm'", NULL);
    free(b);

    b = make_blob(&len, "xen", HV_XEN_STATE_VERSION + 1);
    rc = hv_state_check(ctx, b, len, "xen", HV_XEN_STATE_VERSION);
    is_err(rc, -EPROTO, "wrong version: -EPROTO", "version 3", NULL);
    free(b);

    b = make_blob(&len, "xen", HV_XEN_STATE_VERSION);
    rc = hv_state_check(ctx, b, len - 1, "xen", HV_XEN_STATE_VERSION);
    is_err(rc, -EINVAL, "truncated by one byte refused", "header says",
           NULL);
    rc = hv_state_check(ctx, b, sizeof(struct hv_state_hdr) - 1, "xen",
                        HV_XEN_STATE_VERSION);
    is_err(rc, -EINVAL, "shorter than the header refused", "shorter",
           NULL);
    b[len - 7] ^= 0x40;
    rc = hv_state_check(ctx, b, len, "xen", HV_XEN_STATE_VERSION);
    is_err(rc, -EINVAL, "one corrupted byte: checksum mismatch", "checksum",
           NULL);
    free(b);

    /* The layout behind a good framing. */
    layout_refused(set_hvm_type, "layout: non-PVH guest type refused",
                   "guest type");
    layout_refused(set_many_params, "layout: too many params refused",
                   "33 HVM params");
    layout_refused(set_ctx_short, "layout: lengths that do not add up "
                   "refused", "make");
    layout_refused(set_ctx_zero, "layout: empty HVM context refused",
                   "HVM context");
    layout_refused(set_no_cpuid, "layout: a CPU policy without CPUID "
                   "leaves refused", "0 CPUID leaves");
    layout_refused(set_many_msrs, "layout: too many MSRs refused",
                   "1025 MSRs");

    b = make_blob(&len, "xen", HV_XEN_STATE_VERSION);
    hv_xen_state_size(2, 3, 2, CTX_LEN, &lay);
    {
        xen_msr_entry_t m = { 0x10a, 1, 0 };

        memcpy(b + lay.msrs + sizeof(m), &m, sizeof(m));
        hv_state_seal(b, len, "xen", HV_XEN_STATE_VERSION);
    }
    rc = hv_xen_state_parse(ctx, b, len, &st, &lay);
    is_err(rc, -EINVAL, "layout: an MSR entry with flags refused",
           "flags 0x1", NULL);
    free(b);

    b = make_blob(&len, "xen", HV_XEN_STATE_VERSION);
    {
        struct hv_xen_param prm = { HVM_PARAM_IOREQ_PFN, 0, 1 };

        memcpy(b + lay.params + sizeof(prm), &prm, sizeof(prm));
        hv_state_seal(b, len, "xen", HV_XEN_STATE_VERSION);
    }
    rc = hv_xen_state_parse(ctx, b, len, &st, &lay);
    is_err(rc, -EINVAL, "layout: a param we do not restore refused",
           "index 5", NULL);
    free(b);

    b = make_blob(&len, "xen", HV_XEN_STATE_VERSION);
    {
        struct hv_xen_param prm = { HVM_PARAM_STORE_PFN, 1, 1 };

        memcpy(b + lay.params, &prm, sizeof(prm));
        hv_state_seal(b, len, "xen", HV_XEN_STATE_VERSION);
    }
    rc = hv_xen_state_parse(ctx, b, len, &st, &lay);
    is_err(rc, -EINVAL, "layout: a non-zero pad refused", "pad", NULL);
    free(b);

    {
        unsigned char h_only[sizeof(struct hv_state_hdr) + 8];

        memset(h_only, 0, sizeof(h_only));
        hv_state_seal(h_only, sizeof(h_only), "xen", HV_XEN_STATE_VERSION);
        rc = hv_xen_state_parse(ctx, h_only, sizeof(h_only), &st, &lay);
        is_err(rc, -EINVAL, "layout: too short for the Xen header refused",
               "too short", NULL);
    }

    tap_ok(hv_xen_state_param_allowed(HVM_PARAM_STORE_PFN) &&
           hv_xen_state_param_allowed(HVM_PARAM_CONSOLE_PFN) &&
           !hv_xen_state_param_allowed(HVM_PARAM_STORE_EVTCHN) &&
           !hv_xen_state_param_allowed(HVM_PARAM_CALLBACK_IRQ),
           "params carried: pfns yes, event channels and callback no");
    tap_ok(hv_xen_state_nr_params <= HV_XEN_STATE_MAX_PARAMS,
           "a saved blob never exceeds the param bound");
}

int main(void)
{
    ctx = xt_ctx_new("test_hv_xen");
    if (!ctx)
        tap_bail("no context");
    ctx->quiet_errors = true;

    test_open();
    test_opts();
    test_checks();
    test_ops_refuse_early();
    test_bitmap();
    test_state();
    test_info();
    test_blob();

    xt_ctx_free(ctx);
    return tap_done();
}
