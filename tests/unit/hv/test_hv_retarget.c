/*
 * test_hv_retarget.c - the switch-over of a storage live migration through
 * the hv API (the kvm or sim driver, real xm-vmm processes, the real test
 * guest and its disk workload, real nbdkit file exports that admit one
 * client at a time, as a shared SR admits one writer):
 *
 *   - a running VM's disk cannot be retargeted (-EBUSY, "pause first");
 *   - paused, its disk in slot 1 on export A, A's file copied into B's
 *     (what a completed mirror leaves), the disk retargeted to B: the
 *     unpaused guest goes on with its disk ledger clean through a whole
 *     pass of its working set (every block written before the switch is
 *     read back from B and checked), the VMM holds B and not A, A's file
 *     stays as it was at the switch and B's takes the new writes;
 *   - an empty slot is -ENODEV, a slot out of range -EINVAL;
 *   - retargeted to a URI nothing serves, or to an export of another
 *     size, the unpause fails naming the disk and the VM stays paused
 *     holding nothing; retargeted back to B it runs on, ledger clean;
 *   - an incoming (created, not yet restored) domain's disk is
 *     retargeted too.
 *
 * Built twice: test_hv_retarget (kvm; skipped without /dev/kvm) and
 * test_hv_retarget_sim (sim).  Both skip without nbdkit or the built
 * guest.  Waits are for states and counters (bounded), never sleeps that
 * decide a result.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libnbd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hv.h"
#include "xt.h"
#include "../../tap.h"
#include "hv_disk_test.h"

#ifndef RETARGET_ENGINE
#define RETARGET_ENGINE "kvm"
#endif

#define MEM_MIB     128u
#define WAIT_MS     30000
#define FILE_BYTES  (16u << 20)
#define WS_BLOCKS   512u        /* disk_ws_mib=2: 4 KiB blocks per pass */
#define CMDLINE     "ws_mib=8 disk_ws_mib=2 disk_rate_mib=max hb_us=1000"

static const char *const engine = RETARGET_ENGINE;
static struct xt_ctx *ctx;
static struct hv_handle *h;
static char dir[40], file_a[64], file_b[64];
static char uri_a[96], uri_b[96], uri_none[96], uri_small[96];

/* ---- helpers ------------------------------------------------------------ */

static void bail(const char *what)
{
    tap_diag("%s: %s", what, ctx->err_msg);
    tap_bail(what);
}

static struct hv_guest_stats stats(uint32_t domid)
{
    struct hv_guest_stats gs;

    if (hv_guest_stats(h, domid, &gs) < 0)
        memset(&gs, 0, sizeof(gs));
    return gs;
}

/* Polls the guest's disk writes until they pass n (at most WAIT_MS). */
static bool wait_writes(uint32_t domid, uint64_t n)
{
    uint64_t t_end = xt_now_ns() + (uint64_t)WAIT_MS * 1000000;

    do {
        if (stats(domid).disk_writes > n)
            return true;
        usleep(5000);
    } while (xt_now_ns() < t_end);
    return false;
}

static bool ledger_clean(uint32_t domid)
{
    struct hv_guest_stats gs = stats(domid);

    if (gs.disk_mismatches || gs.disk_errors || gs.mismatches)
        tap_diag("disk mismatches %llu (last block %llu), disk errors %llu, "
                 "page mismatches %llu",
                 (unsigned long long)gs.disk_mismatches,
                 (unsigned long long)gs.last_disk_mismatch_block,
                 (unsigned long long)gs.disk_errors,
                 (unsigned long long)gs.mismatches);
    return gs.is_test_guest && !gs.disk_mismatches && !gs.disk_errors &&
           !gs.mismatches;
}

static enum hv_run_state state_of(uint32_t domid)
{
    struct hv_domain_info info;

    if (hv_info(h, domid, &info) < 0)
        return HV_STATE_DYING;
    return info.state;
}

/* The whole of a backing file (FILE_BYTES, malloc'd), or NULL. */
static uint8_t *slurp(const char *path)
{
    uint8_t *buf = malloc(FILE_BYTES);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t done = 0;
    ssize_t r = 1;

    while (buf && fd >= 0 && done < FILE_BYTES && r > 0) {
        r = pread(fd, buf + done, FILE_BYTES - done, (off_t)done);
        if (r > 0)
            done += (size_t)r;
    }
    if (fd >= 0)
        close(fd);
    if (done != FILE_BYTES) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* What a mirror that has converged leaves: B's file equal to A's.  In
 * place (B's nbdkit keeps its descriptor on the same file). */
static bool copy_file(const char *from, const char *to)
{
    uint8_t *buf = slurp(from);
    int fd = open(to, O_WRONLY | O_CLOEXEC);
    bool ok = buf && fd >= 0 &&
              pwrite(fd, buf, FILE_BYTES, 0) == (ssize_t)FILE_BYTES &&
              fsync(fd) == 0;

    if (fd >= 0)
        close(fd);
    free(buf);
    return ok;
}

static bool file_equals(const char *path, const uint8_t *want)
{
    uint8_t *got = slurp(path);
    bool eq = got && memcmp(got, want, FILE_BYTES) == 0;

    free(got);
    return eq;
}

static int boot(uint32_t *domid_r)
{
    struct hv_disk disks[] = { { uri_a, false, 1 } };
    struct hv_boot_spec spec = {
        .name = "retarget",
        .nr_pages = (uint64_t)MEM_MIB << 8,
        .nr_vcpus = 1,
        .kernel = XM_BUILDDIR "/guest/xm-guest.elf",
        .cmdline = CMDLINE,
        .disks = disks,
        .nr_disks = 1,
    };

    xt_uuid_generate(&spec.uuid);
    return hv_boot(h, &spec, domid_r);
}

/* ---- the test ----------------------------------------------------------- */

/* Boot on A, switch over to B; returns the domid, running on B. */
static uint32_t switch_over(void)
{
    uint8_t *at_switch = NULL;
    uint32_t domid = 0;
    uint64_t w;
    int rc;

    if (boot(&domid) < 0)
        bail("boot");
    tap_ok(hv_has(h, HV_CAP_DISK_RETARGET), "the %s driver retargets "
           "disks", engine);
    /* A whole pass: every block of the working set has a stamp on A. */
    tap_ok(wait_writes(domid, WS_BLOCKS + 64), "the guest writes its "
           "ledger disk on A (a whole pass)");

    rc = hv_disk_retarget(h, domid, 1, uri_b);
    tap_is_int(rc, -EBUSY, "retarget while running: -EBUSY");
    tap_ok(strstr(ctx->err_msg, "pause first") != NULL, "saying so: %s",
           ctx->err_msg);
    w = stats(domid).disk_writes;
    tap_ok(wait_writes(domid, w + 64), "the VM runs on, on A");

    tap_is_int(hv_pause(h, domid), 0, "pause");
    tap_ok(export_free(uri_a, 5000), "the paused VMM released A");
    tap_is_int(hv_disk_retarget(h, domid, 2, uri_b), -ENODEV, "retarget "
               "of an empty slot: -ENODEV");
    tap_is_int(hv_disk_retarget(h, domid, 9, uri_b), -EINVAL, "of slot 9: "
               "-EINVAL");
    tap_is_int(hv_disk_retarget(h, domid, 1, ""), -EINVAL, "to an empty "
               "URI: -EINVAL");

    /* The mirror's completion: B now equals A. */
    tap_ok(copy_file(file_a, file_b), "A's file copied into B's");
    at_switch = slurp(file_a);
    if (!at_switch)
        tap_bail("reading A's file");
    w = stats(domid).disk_writes;
    tap_is_int(hv_disk_retarget(h, domid, 1, uri_b), 0, "retarget slot 1 "
               "to B");
    tap_ok(state_of(domid) == HV_STATE_PAUSED, "still paused");
    tap_is_int(hv_unpause(h, domid), 0, "unpause");
    tap_ok(wait_writes(domid, w + WS_BLOCKS + 64), "the guest goes on "
           "writing, a whole pass after the switch");
    tap_ok(ledger_clean(domid), "its disk ledger is clean: B held every "
           "block written before the switch");
    tap_ok(!export_free(uri_b, 0), "the VMM holds B");
    tap_ok(export_free(uri_a, 0), "and not A");
    tap_ok(file_equals(file_a, at_switch), "A's file has not changed "
           "since the switch");
    tap_ok(!file_equals(file_b, at_switch), "B's file took the new "
           "writes");
    free(at_switch);
    return domid;
}

/* A retarget to nothing, then to the wrong size: the VM stays paused;
 * back to B: it runs. */
static void bad_target(uint32_t domid)
{
    uint64_t w;
    int rc;

    tap_is_int(hv_pause(h, domid), 0, "pause again");
    tap_is_int(hv_disk_retarget(h, domid, 1, uri_none), 0, "retarget to a "
               "URI nothing serves: not contacted yet");
    rc = hv_unpause(h, domid);
    tap_ok(rc < 0, "unpause fails (%d)", rc);
    tap_ok(strstr(ctx->err_msg, "disk 0") != NULL &&
           strstr(ctx->err_msg, "none.sock") != NULL, "naming the disk "
           "and its URI: %s", ctx->err_msg);
    tap_ok(state_of(domid) == HV_STATE_PAUSED, "the VM stays paused");
    tap_ok(export_free(uri_b, 5000), "holding nothing");

    tap_is_int(hv_disk_retarget(h, domid, 1, uri_small), 0, "retarget to "
               "an export of 8 MiB");
    rc = hv_unpause(h, domid);
    tap_is_int(rc, -EINVAL, "unpause fails: not the disk's size");
    tap_ok(strstr(ctx->err_msg, "sectors") != NULL, "saying so: %s",
           ctx->err_msg);
    tap_ok(state_of(domid) == HV_STATE_PAUSED, "the VM stays paused");

    w = stats(domid).disk_writes;
    tap_is_int(hv_disk_retarget(h, domid, 1, uri_b), 0, "retarget back to "
               "B");
    tap_is_int(hv_unpause(h, domid), 0, "unpause");
    tap_ok(state_of(domid) == HV_STATE_RUNNING, "it runs");
    tap_ok(wait_writes(domid, w + WS_BLOCKS + 64), "the guest goes on "
           "writing, a whole pass");
    tap_ok(ledger_clean(domid), "its disk ledger is clean");
    tap_ok(!export_free(uri_b, 0), "the VMM holds B");
}

/* A migration's destination, created but not restored: its disks can be
 * pointed elsewhere before it first runs. */
static void incoming(void)
{
    struct hv_disk disks[] = { { uri_none, false, 1 } };
    struct hv_create_spec spec = {
        .name = "retarget-dest",
        .nr_pages = (uint64_t)MEM_MIB << 8,
        .nr_vcpus = 1,
        .disks = disks,
        .nr_disks = 1,
    };
    uint32_t domid = 0;

    xt_uuid_generate(&spec.uuid);
    if (hv_create(h, &spec, &domid) < 0)
        bail("create");
    tap_is_int(hv_disk_retarget(h, domid, 1, uri_a), 0, "an incoming "
               "domain's disk is retargeted");
    tap_is_int(hv_disk_retarget(h, domid, 3, uri_a), -ENODEV, "its empty "
               "slot 3: -ENODEV");
    hv_destroy(h, domid);
}

int main(void)
{
    char run[64], args[256], sa[64], sb[64], ss[64];
    pid_t pa, pb, ps;
    uint32_t domid;
    int fd;

    if (!strcmp(engine, "kvm")) {
        fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
        if (fd < 0)
            tap_skip_all("/dev/kvm cannot be opened");
        close(fd);
    }
    if (access(XM_BUILDDIR "/guest/xm-guest.elf", R_OK) < 0)
        tap_skip_all("guest/xm-guest.elf is not built");
    if (system("nbdkit --version >/dev/null 2>&1") != 0)
        tap_skip_all("nbdkit is not installed (Debian package nbdkit)");
    snprintf(dir, sizeof(dir), "/tmp/test_hv_retarget.XXXXXX");
    if (!mkdtemp(dir))
        tap_bail("mkdtemp");
    snprintf(run, sizeof(run), "%s/run", dir);
    snprintf(file_a, sizeof(file_a), "%s/a.img", dir);
    snprintf(file_b, sizeof(file_b), "%s/b.img", dir);
    snprintf(sa, sizeof(sa), "%s/a.sock", dir);
    snprintf(sb, sizeof(sb), "%s/b.sock", dir);
    snprintf(ss, sizeof(ss), "%s/small.sock", dir);
    snprintf(uri_a, sizeof(uri_a), "nbd+unix:///?socket=%s", sa);
    snprintf(uri_b, sizeof(uri_b), "nbd+unix:///?socket=%s", sb);
    snprintf(uri_small, sizeof(uri_small), "nbd+unix:///?socket=%s", ss);
    snprintf(uri_none, sizeof(uri_none), "nbd+unix:///?socket=%s/none.sock",
             dir);
    fd = open(file_a, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || ftruncate(fd, FILE_BYTES) < 0)
        tap_bail("backing file A");
    close(fd);
    fd = open(file_b, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || ftruncate(fd, FILE_BYTES) < 0)
        tap_bail("backing file B");
    close(fd);
    signal(SIGPIPE, SIG_IGN);
    pa = start_nbdkit(sa, "file", file_a);
    pb = start_nbdkit(sb, "file", file_b);
    ps = start_nbdkit(ss, "memory", "8M");
    if (pa < 0 || pb < 0 || ps < 0)
        tap_bail("nbdkit did not start");
    ctx = xt_ctx_new("test_hv_retarget");
    if (!ctx)
        tap_bail("context");
    ctx->quiet_errors = true;
    snprintf(args, sizeof(args), "run_dir=%s,vmm=%s/vmm/xm-vmm", run,
             XM_BUILDDIR);
    if (hv_open(ctx, engine, args, &h) < 0)
        bail("hv_open");

    domid = switch_over();
    bad_target(domid);
    hv_destroy(h, domid);
    incoming();

    hv_close(h);
    kill(pa, SIGTERM);
    kill(pb, SIGTERM);
    kill(ps, SIGTERM);
    waitpid(pa, NULL, 0);
    waitpid(pb, NULL, 0);
    waitpid(ps, NULL, 0);
    unlink(sa);
    unlink(sb);
    unlink(ss);
    unlink(file_a);
    unlink(file_b);
    rmdir(run);
    rmdir(dir);
    xt_ctx_free(ctx);
    return tap_done();
}
