/*
 * test_hv_conformance.c - the hv conformance suite: the same behaviours,
 * through struct hv_ops only, against a real test guest on the driver named
 * by argv[1] ("kvm" or "sim").
 *
 * Boots the test guest, checks heartbeat, pause/resume, the dirty bitmap
 * against what the guest reports it wrote, save -> restore into a new
 * domain (the guest continues its sequence with a clean ledger), that a
 * corrupted page is caught by the ledger, throttling, bad control input,
 * a 4 GiB guest, destroy.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hv.h"
#include "hv_vmmc.h"
#include "vmm_proto.h"
#include "xmg_abi.h"
#include "../tap.h"

#define GUEST_MIB   64

struct suite {
    struct xt_ctx *ctx;
    struct hv_handle *h;
    const char *driver;
    char guest[4096];
    struct xmg_header hdr;      /* of the guest image */
    char run_dir[256];
};

static void bail(const char *fmt, const char *arg)
{
    char buf[512];

    snprintf(buf, sizeof(buf), fmt, arg);
    tap_bail(buf);
}

static void msleep(unsigned ms)
{
    usleep(ms * 1000);
}

static int boot(struct suite *s, uint64_t mib, const char *cmdline,
                uint32_t *domid)
{
    struct hv_boot_spec spec = {
        .name = "conformance",
        .nr_pages = mib << 8,
        .nr_vcpus = 1,
        .kernel = s->guest,
        .cmdline = cmdline,
    };

    xt_uuid_generate(&spec.uuid);
    return hv_boot(s->h, &spec, domid);
}

static const struct xmg_status *status_of(struct suite *s, uint32_t domid)
{
    uint64_t pfn = s->hdr.status_gpa >> 12;
    struct hv_mapping *m = NULL;
    void *page = NULL;

    if (hv_map_batch(s->h, domid, HV_MAP_READ, &pfn, 1, &page, &m) < 0)
        return NULL;
    hv_unmap(s->h, m);  /* kvm/sim: RAM stays mapped until destroy */
    return page;
}

/* Waits up to ms for the guest to have sent at least n heartbeats. */
static bool wait_hb(struct suite *s, uint32_t domid, uint64_t n, unsigned ms)
{
    struct hv_guest_stats gs;

    while (ms--) {
        if (hv_guest_stats(s->h, domid, &gs) == 0 && gs.hb_count >= n)
            return true;
        msleep(1);
    }
    return false;
}

static void test_boot_and_heartbeat(struct suite *s, uint32_t domid)
{
    struct hv_domain_info info, *list = NULL;
    struct hv_guest_stats a, b;
    size_t n = 0, i;
    bool found = false;

    tap_is_int(hv_info(s->h, domid, &info), 0, "info");
    tap_ok(info.state == HV_STATE_RUNNING, "state running (%s)",
           hv_run_state_name(info.state));
    tap_is_u64(info.nr_pages, GUEST_MIB << 8, "nr_pages");
    tap_is_int(info.nr_vcpus, 1, "one vCPU");
    tap_is_int(hv_list(s->h, &list, &n), 0, "list");
    for (i = 0; i < n; i++)
        found |= list[i].domid == domid;
    free(list);
    tap_ok(found, "list holds domain %u", domid);

    tap_ok(wait_hb(s, domid, 20, 5000), "heartbeats arrive");
    hv_guest_stats(s->h, domid, &a);
    tap_ok(wait_hb(s, domid, a.hb_count + 20, 5000), "heartbeat advances");
    hv_guest_stats(s->h, domid, &b);
    tap_ok(a.is_test_guest && a.ready, "test guest announced itself");
    tap_ok(b.hb_last_seq >= a.hb_last_seq + 20, "sequence numbers follow "
           "(%llu -> %llu)", (unsigned long long)a.hb_last_seq,
           (unsigned long long)b.hb_last_seq);
    tap_is_u64(b.hb_seq_breaks, 0, "no gap in the heartbeat sequence");
    tap_ok(b.pages_written > a.pages_written, "guest writes pages");
}

static void test_pause_resume(struct suite *s, uint32_t domid)
{
    struct hv_domain_info info;
    struct hv_guest_stats a, b;

    tap_is_int(hv_pause(s->h, domid), 0, "pause");
    hv_info(s->h, domid, &info);
    tap_ok(info.state == HV_STATE_PAUSED, "state paused");
    hv_guest_stats(s->h, domid, &a);
    msleep(100);
    hv_guest_stats(s->h, domid, &b);
    tap_is_u64(b.hb_count, a.hb_count, "no heartbeat while paused");
    tap_is_u64(b.pages_written, a.pages_written, "no write while paused");
    tap_is_int(hv_unpause(s->h, domid), 0, "unpause");
    tap_ok(wait_hb(s, domid, a.hb_count + 10, 5000), "heartbeat resumes");
    hv_guest_stats(s->h, domid, &b);
    tap_is_u64(b.hb_seq_breaks, 0, "sequence continues after pause");
}

/* Every page the guest wrote between two pauses is in the bitmap. */
static void test_dirty_bitmap(struct suite *s, uint32_t domid)
{
    uint64_t nr = GUEST_MIB << 8;
    uint64_t *bm = xt_bitmap_alloc(nr), *pk = xt_bitmap_alloc(nr);
    const struct xmg_status *st = status_of(s, domid);
    uint64_t dirty = 0, pdirty = 0, c0, c1, w0, w1, i, missing = 0;
    bool superset = true;

    tap_ok(st && st->magic == XMG_STATUS_MAGIC, "status page mapped");
    if (!st || !bm || !pk) {
        tap_skip(9, "no status page");
        goto out;
    }
    tap_is_int(hv_logdirty(s->h, domid, true), 0, "log-dirty on");
    tap_is_int(hv_pause(s->h, domid), 0, "pause");
    hv_dirty_harvest(s->h, domid, bm, nr, &dirty);
    c0 = st->cursor;
    w0 = st->pages_written;
    tap_is_int(hv_dirty_peek(s->h, domid, pk, nr, &pdirty), 0, "peek");
    tap_is_u64(pdirty, 0, "nothing dirty right after a harvest");
    hv_unpause(s->h, domid);
    msleep(100);
    tap_is_int(hv_dirty_peek(s->h, domid, pk, nr, &pdirty), 0, "peek again");
    hv_pause(s->h, domid);
    tap_is_int(hv_dirty_harvest(s->h, domid, bm, nr, &dirty), 0, "harvest");
    c1 = st->cursor;
    w1 = st->pages_written;
    for (i = 0; i < XT_BITMAP_WORDS(nr); i++)
        superset &= (pk[i] & ~bm[i]) == 0;
    tap_ok(pdirty > 0 && superset, "harvest holds all the peek saw (%llu "
           "peeked, %llu harvested)", (unsigned long long)pdirty,
           (unsigned long long)dirty);
    /* In seq mode the guest wrote ws[c0], ws[c0+1], ... ws[c1-1].  The
     * operation on ws[c0] may have been under way at the first pause (page
     * written, counters not yet): its page was then dirty before the
     * harvest, so the check starts at the second one. */
    tap_ok(w1 - w0 > 50 && w1 - w0 < st->ws_pages, "guest wrote %llu pages",
           (unsigned long long)(w1 - w0));
    for (i = 1; i < w1 - w0; i++) {
        uint64_t idx = (c0 + i) % st->ws_pages;

        if (!xt_bitmap_test(bm, st->ws_first_pfn + idx))
            missing++;
    }
    /* The cursor and the counter are two stores: a pause can fall
     * between them, at either end, so they may disagree by one each. */
    {
        uint64_t expect_c1 = (c0 + (w1 - w0)) % st->ws_pages;
        uint64_t d = (c1 + st->ws_pages - expect_c1) % st->ws_pages;

        tap_ok(d <= 2 || d >= st->ws_pages - 2, "cursor moved with the "
               "count of pages written (%llu -> %llu, %llu written)",
               (unsigned long long)c0, (unsigned long long)c1,
               (unsigned long long)(w1 - w0));
    }
    tap_ok(missing == 0, "every page the guest wrote is dirty (%llu "
           "missing)", (unsigned long long)missing);
    tap_ok(xt_bitmap_test(bm, s->hdr.status_gpa >> 12),
           "the status page is dirty");
    tap_ok(dirty < (w1 - w0) + 64, "bitmap is not everything (%llu dirty)",
           (unsigned long long)dirty);
    hv_unpause(s->h, domid);
out:
    free(bm);
    free(pk);
}

/*
 * Pauses src, copies its RAM and state into a new domain; corrupt_pfn (if
 * non-zero) gets one byte flipped in the copy.  Returns the new domid.
 */
static int clone_domain(struct suite *s, uint32_t src, uint64_t corrupt_pfn,
                        uint32_t *dst_r)
{
    struct hv_create_spec spec = { .name = "clone", .nr_vcpus = 1 };
    uint64_t nr = GUEST_MIB << 8, pfn;
    struct hv_mapping *m = NULL;
    void *blob = NULL;
    size_t len = 0;
    uint64_t *pfns = malloc(nr * sizeof(*pfns));
    void **a = malloc(nr * sizeof(*a)), **b = malloc(nr * sizeof(*b));
    int rc;

    spec.nr_pages = nr;
    xt_uuid_generate(&spec.uuid);
    rc = hv_pause(s->h, src);
    if (rc == 0)
        rc = hv_state_save(s->h, src, &blob, &len);
    if (rc == 0)
        rc = hv_create(s->h, &spec, dst_r);
    for (pfn = 0; pfn < nr; pfn++)
        pfns[pfn] = pfn;
    if (rc == 0)
        rc = hv_map_batch(s->h, src, HV_MAP_READ, pfns, nr, a, &m);
    hv_unmap(s->h, m);
    if (rc == 0)
        rc = hv_map_batch(s->h, *dst_r, HV_MAP_WRITE, pfns, nr, b, &m);
    hv_unmap(s->h, m);
    for (pfn = 0; rc == 0 && pfn < nr; pfn++)
        memcpy(b[pfn], a[pfn], HV_PAGE_SIZE);
    if (rc == 0 && corrupt_pfn)
        ((uint8_t *)b[corrupt_pfn])[100] ^= 0x40;
    if (rc == 0)
        rc = hv_state_restore(s->h, *dst_r, blob, len);
    free(blob);
    free(pfns);
    free(a);
    free(b);
    return rc;
}

static uint32_t test_save_restore(struct suite *s, uint32_t src)
{
    struct hv_guest_stats before, after;
    struct hv_domain_info info;
    uint32_t dst = 0;

    tap_is_int(clone_domain(s, src, 0, &dst), 0, "save, copy, restore");
    hv_guest_stats(s->h, src, &before);
    tap_is_int(hv_destroy(s->h, src), 0, "destroy the source");
    s->ctx->quiet_errors = true;
    tap_ok(hv_info(s->h, src, &info) == -ESRCH, "source gone");
    s->ctx->quiet_errors = false;
    tap_is_int(hv_unpause(s->h, dst), 0, "resume the copy");
    tap_ok(wait_hb(s, dst, 50, 5000), "copy sends heartbeats");
    hv_guest_stats(s->h, dst, &after);
    tap_is_u64(after.hb_first_seq, before.hb_last_seq + 1,
               "the guest continues its heartbeat sequence");
    tap_is_u64(after.hb_seq_breaks, 0, "without a break");
    tap_is_u64(after.mismatches, 0, "zero ledger mismatches");
    tap_ok(after.pages_written > before.pages_written,
           "and keeps writing (%llu -> %llu)",
           (unsigned long long)before.pages_written,
           (unsigned long long)after.pages_written);
    return dst;
}

static void test_corruption_detected(struct suite *s, uint32_t src)
{
    const struct xmg_status *st = status_of(s, src);
    struct hv_guest_stats gs;
    uint64_t pfn;
    uint32_t dst = 0;
    int i;

    hv_pause(s->h, src);
    /* A page the guest rewrites within the next few operations. */
    pfn = st->ws_first_pfn + (st->cursor + 5) % st->ws_pages;
    tap_is_int(clone_domain(s, src, pfn, &dst), 0, "copy with one bad page");
    hv_unpause(s->h, dst);
    for (i = 0; i < 3000; i++) {
        hv_guest_stats(s->h, dst, &gs);
        if (gs.mismatches)
            break;
        msleep(1);
    }
    tap_is_u64(gs.mismatches, 1, "the ledger catches the corrupted page");
    tap_is_u64(gs.last_mismatch_pfn, pfn, "and names it");
    hv_destroy(s->h, dst);
    hv_unpause(s->h, src);
}

/* CPU time the VMM process (domid = its pid) has used, in ns. */
static uint64_t vmm_cpu_ns(uint32_t pid)
{
    char path[320], line[128];
    uint64_t total = 0;
    struct dirent *de;
    DIR *d;

    snprintf(path, sizeof(path), "/proc/%u/task", pid);
    d = opendir(path);
    if (!d)
        return 0;
    while ((de = readdir(d))) {
        unsigned long long run = 0;
        FILE *f;

        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/%u/task/%s/schedstat", pid,
                 de->d_name);
        f = fopen(path, "r");
        if (f && fgets(line, sizeof(line), f) &&
            sscanf(line, "%llu", &run) == 1)
            total += run;
        if (f)
            fclose(f);
    }
    closedir(d);
    return total;
}

/*
 * Throttling takes CPU time away.  Asserted as upper bounds that hold
 * whatever else the machine runs (load only lowers them): the throttled
 * VMM uses well under its share of one CPU, and its heartbeats show the
 * periods it spends stopped.
 */
static void test_throttle(struct suite *s, uint32_t domid)
{
    struct hv_guest_stats gs;
    struct hv_domain_info info;
    uint64_t cpu0, cpu1, t0, t1, hb0;
    double share;

    tap_is_int(hv_throttle(s->h, domid, 80), 0, "throttle 80%");
    hv_info(s->h, domid, &info);
    tap_is_int(info.throttle_pct, 80, "info shows the throttle");
    msleep(50);
    hv_guest_stats_ex(s->h, domid, HV_STATS_RESET_GAP, &gs);
    hb0 = gs.hb_count;
    cpu0 = vmm_cpu_ns(domid);
    t0 = xt_now_ns();
    /* At least half a second, and at least a few heartbeats (a loaded
     * machine gives the throttled vCPU even less time). */
    do {
        msleep(100);
        hv_guest_stats(s->h, domid, &gs);
    } while ((xt_now_ns() - t0 < 500000000ull || gs.hb_count < hb0 + 3) &&
             xt_now_ns() - t0 < 5000000000ull);
    cpu1 = vmm_cpu_ns(domid);
    t1 = xt_now_ns();
    share = (double)(cpu1 - cpu0) / (double)(t1 - t0);
    tap_ok(cpu1 > cpu0 && share < 0.40, "throttled VMM used %.0f%% of a "
           "CPU (at most ~20%% + overhead allowed)", share * 100);
    tap_ok(gs.hb_max_gap_ns >= 5000000, "heartbeats pause while throttled "
           "(longest gap %.1f ms)", gs.hb_max_gap_ns / 1e6);
    tap_is_int(hv_throttle(s->h, domid, 0), 0, "unthrottle");
    s->ctx->quiet_errors = true;
    tap_is_int(hv_throttle(s->h, domid, 100), -EINVAL, "100% refused");
    s->ctx->quiet_errors = false;
}

static void send_raw(struct suite *s, uint32_t domid, const void *b,
                     size_t len, int want, const char *what)
{
    char msg[256];
    int status = 0;

    s->ctx->quiet_errors = true;
    vmmc_raw_exchange(s->h, domid, b, len, &status, msg, sizeof(msg));
    s->ctx->quiet_errors = false;
    tap_ok(status == want && msg[0], "%s: rejected (%d, \"%s\")", what,
           status, msg);
}

static void test_bad_input(struct suite *s, uint32_t domid)
{
    struct vmm_msg_hdr h = {
        .magic = VMM_PROTO_MAGIC, .version = VMM_PROTO_VERSION,
        .type = VMM_CMD_INFO, .len = 0, .seq = 1,
    };
    struct vmm_msg_hdr bad;
    struct hv_guest_stats a;
    struct hv_create_spec spec = { .nr_pages = GUEST_MIB << 8,
                                   .nr_vcpus = 1 };
    struct hv_state_hdr sh;
    uint8_t blob[4096];
    uint32_t dst = 0;

    hv_guest_stats(s->h, domid, &a);
    bad = h;
    bad.magic = 0xdeadbeef;
    send_raw(s, domid, &bad, sizeof(bad), -EPROTO, "bad magic");
    bad = h;
    bad.len = VMM_MSG_MAX + 1;
    send_raw(s, domid, &bad, sizeof(bad), -EPROTO, "oversized length");
    bad = h;
    bad.type = 77;
    send_raw(s, domid, &bad, sizeof(bad), -EPROTO, "unknown command");
    bad = h;
    bad.version = 9;
    send_raw(s, domid, &bad, sizeof(bad), -EPROTO, "wrong protocol version");
    bad = h;
    bad.type = VMM_CMD_LOGDIRTY;
    bad.len = 3;
    {
        uint8_t buf[sizeof(bad) + 3] = { 0 };

        memcpy(buf, &bad, sizeof(bad));
        send_raw(s, domid, buf, sizeof(buf), -EINVAL, "short payload");
    }
    tap_ok(wait_hb(s, domid, a.hb_count + 10, 5000), "the VM kept running");

    /* State blobs that must not be applied. */
    xt_uuid_generate(&spec.uuid);
    tap_is_int(hv_create(s->h, &spec, &dst), 0, "an empty domain");
    memset(blob, 0, sizeof(blob));
    hv_state_seal(blob, sizeof(blob), s->driver, 999);
    s->ctx->quiet_errors = true;
    tap_is_int(hv_state_restore(s->h, dst, blob, sizeof(blob)), -EPROTO,
               "state blob of the wrong version refused");
    tap_ok(strstr(s->ctx->err_msg, "version") != NULL, "and says so: %s",
           s->ctx->err_msg);
    /* The driver's own blob version, from a real blob of the VM. */
    {
        struct hv_state_hdr real = { .version = 1 };
        void *b = NULL;
        size_t bl = 0;

        if (hv_pause(s->h, domid) == 0) {
            if (hv_state_save(s->h, domid, &b, &bl) == 0 &&
                bl >= sizeof(real))
                memcpy(&real, b, sizeof(real));
            free(b);
            hv_unpause(s->h, domid);
        }
        hv_state_seal(blob, sizeof(blob), s->driver, real.version);
    }
    blob[sizeof(sh) + 10] ^= 1;
    tap_is_int(hv_state_restore(s->h, dst, blob, sizeof(blob)), -EINVAL,
               "corrupted state blob refused");
    hv_state_seal(blob, sizeof(blob), s->driver == NULL ? "x" :
                  (!strcmp(s->driver, "kvm") ? "sim" : "kvm"), 1);
    tap_is_int(hv_state_restore(s->h, dst, blob, sizeof(blob)), -EINVAL,
               "another driver's blob refused");
    s->ctx->quiet_errors = false;
    tap_is_int(hv_destroy(s->h, dst), 0, "destroy the empty domain");
}

static void test_big_guest(struct suite *s)
{
    uint64_t nr = 4096ull << 8;
    uint64_t *bm = xt_bitmap_alloc(nr);
    uint64_t dirty = 0;
    uint32_t domid = 0;
    int rc;

    rc = boot(s, 4096, "ws_mib=64 rate=5000", &domid);
    tap_is_int(rc, 0, "boot a 4 GiB guest");
    if (rc < 0) {
        tap_skip(3, "no 4 GiB guest");
        free(bm);
        return;
    }
    tap_ok(wait_hb(s, domid, 20, 5000), "4 GiB guest runs");
    hv_logdirty(s->h, domid, true);
    hv_dirty_harvest(s->h, domid, bm, nr, &dirty);
    msleep(50);
    tap_is_int(hv_dirty_harvest(s->h, domid, bm, nr, &dirty), 0,
               "harvest over 4 GiB");
    tap_ok(dirty > 0, "%llu pages dirty", (unsigned long long)dirty);
    hv_destroy(s->h, domid);
    free(bm);
}

/* A shutdown request makes the test guest stop itself with exit code 0,
 * and the domain reads as shut down (then destroy removes it). */
static void test_shutdown_request(struct suite *s)
{
    struct hv_domain_info info;
    struct hv_guest_stats gs;
    uint32_t domid = 0;
    bool stopped = false;
    int i, rc;

    rc = boot(s, GUEST_MIB, "ws_mib=4 rate=1000", &domid);
    tap_is_int(rc, 0, "boot a guest to shut down");
    if (rc < 0) {
        tap_skip(5, "no guest");
        return;
    }
    tap_ok(wait_hb(s, domid, 5, 5000), "the guest runs");
    tap_is_int(hv_shutdown_request(s->h, domid), 0, "shutdown request sent");
    for (i = 0; i < 500 && !stopped; i++) {
        if (hv_info(s->h, domid, &info) == 0 &&
            info.state == HV_STATE_SHUTDOWN &&
            hv_guest_stats(s->h, domid, &gs) == 0 && gs.exited)
            stopped = true;
        else
            msleep(10);
    }
    tap_ok(stopped, "the guest shut itself down");
    tap_is_int(stopped ? (int)gs.exit_code : -1, XMG_EXIT_OK,
               "with exit code 0");
    tap_is_int(hv_destroy(s->h, domid), 0, "destroy the shut-down domain");
}

int main(int argc, char **argv)
{
    struct suite s;
    const char *bdir = getenv("XM_BUILDDIR");
    uint32_t domid = 0, dst;
    struct hv_domain_info info;
    int rc;

    memset(&s, 0, sizeof(s));
    s.driver = argc > 1 ? argv[1] : "kvm";
    if (!strcmp(s.driver, "kvm") && access("/dev/kvm", R_OK | W_OK) < 0)
        tap_skip_all("no usable /dev/kvm on this machine");
    snprintf(s.guest, sizeof(s.guest), "%s/guest/xm-guest.elf",
             bdir ? bdir : ".");
    if (hv_guest_image_header(s.guest, &s.hdr) < 0)
        bail("test guest %s not built", s.guest);
    snprintf(s.run_dir, sizeof(s.run_dir), "/tmp/xm-conf-%s-%d", s.driver,
             (int)getpid());
    setenv("XM_VMM_RUN_DIR", s.run_dir, 1);
    s.ctx = xt_ctx_new("conformance");
    rc = hv_open(s.ctx, s.driver, NULL, &s.h);
    if (rc < 0)
        bail("cannot open the driver: %s", s.ctx->err_msg);
    tap_diag("driver %s, guest %s", s.driver, s.guest);

    rc = boot(&s, GUEST_MIB, "ws_mib=16 rate=20000 mode=seq", &domid);
    tap_is_int(rc, 0, "boot the test guest");
    if (rc < 0)
        bail("boot failed: %s", s.ctx->err_msg);
    test_boot_and_heartbeat(&s, domid);
    test_pause_resume(&s, domid);
    test_dirty_bitmap(&s, domid);
    test_bad_input(&s, domid);
    test_corruption_detected(&s, domid);
    dst = test_save_restore(&s, domid);
    hv_destroy(s.h, dst);

    rc = boot(&s, GUEST_MIB, "ws_mib=16 rate=max", &domid);
    tap_is_int(rc, 0, "boot a guest dirtying as fast as it can");
    if (rc == 0) {
        test_throttle(&s, domid);
        tap_is_int(hv_destroy(s.h, domid), 0, "destroy");
        s.ctx->quiet_errors = true;
        tap_is_int(hv_info(s.h, domid, &info), -ESRCH, "destroyed domain "
                   "is gone");
        s.ctx->quiet_errors = false;
    }
    test_shutdown_request(&s);
    test_big_guest(&s);

    hv_close(s.h);
    xt_ctx_free(s.ctx);
    rmdir(s.run_dir);
    return tap_done();
}
