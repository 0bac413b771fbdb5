/*
 * test_hv_hotplug.c - disk hot-plug end to end through the hv API (the
 * kvm or sim driver, real xm-vmm processes, the real test guest, real
 * nbdkit exports that admit one client at a time, as a shared SR admits
 * one writer):
 *
 *   - a disk plugged into a running VM is attached by the guest, whose
 *     stamp (disk_hp_stamp=1) lands on the export's last block in the
 *     backing file; the VMM holds the export;
 *   - a plug into a used slot is -EEXIST, into a bad slot -EINVAL;
 *   - unplugging the disk the guest's ledger is on is refused (-EBUSY),
 *     the disk stays and the ledger stays clean;
 *   - unplugging another disk: the guest acknowledges, the disk is gone
 *     and its export is free again; once more, -ENODEV;
 *   - a plug into a paused VM is -EAGAIN;
 *   - a migration by hand after a hot-plug (state_save on one VMM, RAM
 *     copied, restore into a new VMM created with the same slots) keeps
 *     working; a VMM with other slots refuses the blob;
 *   - a forced unplug of the ledger disk: the guest keeps running and
 *     heart-beating, its disk workload stops with the error counted.
 *
 * Built twice: test_hv_hotplug (kvm; skipped without /dev/kvm) and
 * test_hv_hotplug_sim (sim).  Both skip without nbdkit or the built
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
#include "xmg_abi.h"
#include "xt.h"
#include "../../tap.h"
#include "hv_disk_test.h"

#ifndef HOTPLUG_ENGINE
#define HOTPLUG_ENGINE "kvm"
#endif

#define MEM_MIB     128u
#define WAIT_MS     20000
#define FILE_BYTES  (16u << 20)
#define CMDLINE     "ws_mib=8 disk_ws_mib=4 disk_rate_mib=max hb_us=1000 " \
                    "disk_hp_stamp=1"

static const char *const engine = HOTPLUG_ENGINE;
static struct xt_ctx *ctx;
static struct hv_handle *h;
static char dir[40], file[64], uri_a[96], uri_b[96], uri_c[96];

/* ---- helpers ------------------------------------------------------------ */

/* Bails out saying what failed and the driver's reason. */
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

/* Polls the guest's figures until pred holds (at most WAIT_MS). */
static bool wait_stats(uint32_t domid, bool (*pred)(const struct
                       hv_guest_stats *, uint64_t), uint64_t arg)
{
    uint64_t t_end = xt_now_ns() + (uint64_t)WAIT_MS * 1000000;
    struct hv_guest_stats gs;

    do {
        gs = stats(domid);
        if (pred(&gs, arg))
            return true;
        usleep(5000);
    } while (xt_now_ns() < t_end);
    return false;
}

/* (ready is this host's record of the guest's ready port: a restored
 * guest does not say it again.) */
static bool writes_over(const struct hv_guest_stats *gs, uint64_t n)
{
    return gs->disk_writes > n;
}

static bool attached(const struct hv_guest_stats *gs, uint64_t n)
{
    return gs->disk_hp_attached >= n && gs->disk_hp_stamps >= n;
}

static bool errors(const struct hv_guest_stats *gs, uint64_t n)
{
    return gs->disk_errors >= n;
}

static bool beats_over(const struct hv_guest_stats *gs, uint64_t n)
{
    return gs->hb_last_seq > n;
}

/* The stamp of (any nonce, disk = slot, block, gen 1) in the file? */
static bool stamp_in_file(unsigned slot, uint64_t block)
{
    uint64_t w[XMG_DISK_BLOCK / 8], seed;
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    bool ok;
    size_t k;

    if (fd < 0)
        return false;
    ok = pread(fd, w, sizeof(w), (off_t)block * XMG_DISK_BLOCK) ==
         (ssize_t)sizeof(w);
    close(fd);
    if (!ok || w[0] != XMG_DISK_MAGIC || w[2] != slot || w[3] != block ||
        w[4] != 1)
        return false;
    seed = xmg_disk_seed(w[1], slot, block, 1);
    if (w[5] != seed)
        return false;
    for (k = XMG_STAMP_HDR_WORDS; k < XMG_DISK_BLOCK / 8; k++)
        if (w[k] != xmg_disk_word(seed, k))
            return false;
    return true;
}

static int boot(uint32_t *domid_r)
{
    struct hv_disk disks[] = { { uri_a, false, 1 } };
    struct hv_boot_spec spec = {
        .name = "hotplug",
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

/* An incoming domain with these disks. */
static int create(const struct hv_disk *disks, unsigned n, uint32_t *domid_r)
{
    struct hv_create_spec spec = {
        .name = "hotplug-dest",
        .nr_pages = (uint64_t)MEM_MIB << 8,
        .nr_vcpus = 1,
        .disks = disks,
        .nr_disks = n,
    };

    xt_uuid_generate(&spec.uuid);
    return hv_create(h, &spec, domid_r);
}

static bool copy_ram(uint32_t from, uint32_t to)
{
    size_t n = (size_t)MEM_MIB << 8, i;
    uint64_t *pfns = calloc(n, sizeof(*pfns));
    void **a = calloc(n, sizeof(*a)), **b = calloc(n, sizeof(*b));
    struct hv_mapping *ma = NULL, *mb = NULL;
    bool ok = false;

    if (!pfns || !a || !b)
        tap_bail("out of memory");
    for (i = 0; i < n; i++)
        pfns[i] = i;
    if (hv_map_batch(h, from, HV_MAP_READ, pfns, n, a, &ma) == 0 &&
        hv_map_batch(h, to, HV_MAP_WRITE, pfns, n, b, &mb) == 0) {
        for (i = 0; i < n; i++)
            memcpy(b[i], a[i], HV_PAGE_SIZE);
        ok = true;
    }
    hv_unmap(h, ma);
    hv_unmap(h, mb);
    free(pfns);
    free(a);
    free(b);
    return ok;
}

/* ---- the test ----------------------------------------------------------- */

/* Plug and unplug on a running VM; returns its domid. */
static uint32_t plug_unplug(void)
{
    struct hv_disk b = { uri_b, false, 3 }, c = { uri_c, false, 2 };
    struct hv_guest_stats gs;
    uint64_t block = FILE_BYTES / XMG_DISK_BLOCK - 1, w;
    uint32_t domid = 0;
    int rc;

    if (boot(&domid) < 0)
        bail("boot");
    tap_ok(hv_has(h, HV_CAP_DISK_HOTPLUG), "the %s driver hot-plugs disks",
           engine);
    tap_ok(wait_stats(domid, writes_over, 100), "the guest writes its ledger "
           "disk (slot 1)");

    tap_is_int(hv_disk_plug(h, domid, &b), 0, "plug a disk into slot 3");
    tap_ok(wait_stats(domid, attached, 1), "the guest attaches it and "
           "stamps it");
    gs = stats(domid);
    tap_is_u64(gs.disk_hp_slots, (1u << 1) | (1u << 3), "it uses slots 1 "
               "and 3");
    tap_ok(stamp_in_file(3, block), "the stamp (disk 3, block %llu) is in "
           "the backing file", (unsigned long long)block);
    tap_ok(!export_free(uri_b, 0), "the VMM holds the plugged export");

    rc = hv_disk_plug(h, domid, &b);
    tap_is_int(rc, -EEXIST, "a plug into a used slot: -EEXIST");
    b.slot = 9;
    tap_is_int(hv_disk_plug(h, domid, &b), -EINVAL, "into slot 9: -EINVAL");
    b.slot = 3;

    w = stats(domid).disk_writes;
    rc = hv_disk_unplug(h, domid, 1, 0, 0);
    tap_is_int(rc, -EBUSY, "unplugging the ledger disk is refused");
    tap_ok(strstr(ctx->err_msg, "refused") != NULL, "saying so: %s",
           ctx->err_msg);
    tap_ok(wait_stats(domid, writes_over, w + 100), "the ledger disk stays "
           "and is written");
    gs = stats(domid);
    tap_ok(gs.disk_hp_refused == 1 && (gs.disk_hp_slots & (1u << 1)) &&
           gs.disk_mismatches == 0 && gs.disk_errors == 0, "refused once, "
           "slot 1 still used, ledger clean");

    tap_is_int(hv_disk_unplug(h, domid, 3, 0, 0), 0, "unplug slot 3: the "
               "guest lets it go");
    gs = stats(domid);
    tap_ok(gs.disk_hp_ejected == 1 && gs.disk_hp_slots == (1u << 1),
           "the guest acknowledged it (slots %#x)", gs.disk_hp_slots);
    tap_ok(export_free(uri_b, 5000), "its export is free again");
    tap_is_int(hv_disk_unplug(h, domid, 3, 0, 0), -ENODEV, "slot 3 again: "
               "-ENODEV");

    tap_is_int(hv_disk_plug(h, domid, &c), 0, "plug another disk, slot 2");
    tap_ok(wait_stats(domid, attached, 2), "attached and stamped");
    return domid;
}

/* The migration by hand, then the forced unplug at the destination. */
static void migrate_force(uint32_t src)
{
    struct hv_disk same[] = { { uri_a, false, 1 }, { uri_c, false, 2 } };
    struct hv_disk other[] = { { uri_a, false, 1 }, { uri_c, false, 3 } };
    struct hv_disk d = { uri_b, false, 4 };
    struct hv_domain_info info;
    struct hv_guest_stats gs;
    uint32_t bad = 0, dst = 0;
    void *blob = NULL;
    size_t len = 0;
    uint64_t w;

    tap_is_int(hv_pause(h, src), 0, "source: pause");
    tap_is_int(hv_disk_plug(h, src, &d), -EAGAIN, "a plug while paused: "
               "-EAGAIN");
    tap_is_int(hv_state_save(h, src, &blob, &len), 0, "source: state save");
    w = stats(src).disk_writes;

    if (create(other, 2, &bad) < 0)
        bail("create");
    tap_ok(copy_ram(src, bad), "RAM copied");
    tap_is_int(hv_state_restore(h, bad, blob, len), -EINVAL, "a VMM with "
               "the disk in slot 3 refuses the blob");
    tap_ok(strstr(ctx->err_msg, "slot") != NULL, "saying so: %s",
           ctx->err_msg);
    hv_destroy(h, bad);

    if (create(same, 2, &dst) < 0)
        bail("create");
    tap_ok(copy_ram(src, dst), "RAM copied");
    tap_is_int(hv_state_restore(h, dst, blob, len), 0, "the VMM with the "
               "same slots takes it");
    hv_destroy(h, src);
    tap_is_int(hv_unpause(h, dst), 0, "destination: unpause");
    tap_ok(wait_stats(dst, writes_over, w + 100), "the guest's disk writes "
           "go on");
    gs = stats(dst);
    tap_ok(gs.disk_hp_slots == ((1u << 1) | (1u << 2)) &&
           gs.disk_hp_attached == 2 && gs.disk_mismatches == 0 &&
           gs.mismatches == 0, "its hot-plug state came along (slots %#x), "
           "ledgers clean", gs.disk_hp_slots);
    tap_is_int(hv_disk_unplug(h, dst, 2, 0, 0), 0, "unplug slot 2 at the "
               "destination");
    tap_ok(export_free(uri_c, 5000), "its export is free");

    tap_is_int(hv_disk_unplug(h, dst, 1, HV_UNPLUG_FORCE, 0), 0, "forced "
               "unplug of the ledger disk");
    tap_ok(wait_stats(dst, errors, 1), "the guest counts the lost disk");
    gs = stats(dst);
    tap_ok(wait_stats(dst, beats_over, gs.hb_last_seq + 50), "and keeps "
           "heart-beating");
    tap_ok(hv_info(h, dst, &info) == 0 && info.state == HV_STATE_RUNNING,
           "it is running");
    gs = stats(dst);
    tap_ok(gs.disk_hp_slots == 0 && gs.mismatches == 0 &&
           gs.disk_mismatches == 0, "no disk left, no mismatch");
    tap_ok(export_free(uri_a, 5000), "the ledger export is free");
    free(blob);
    hv_destroy(h, dst);
}

int main(void)
{
    char run[64], args[256], sa[64], sb[64], sc[64];
    pid_t pa, pb, pc;
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
    snprintf(dir, sizeof(dir), "/tmp/test_hv_hotplug.XXXXXX");
    if (!mkdtemp(dir))
        tap_bail("mkdtemp");
    snprintf(run, sizeof(run), "%s/run", dir);
    snprintf(file, sizeof(file), "%s/b.img", dir);
    snprintf(sa, sizeof(sa), "%s/a.sock", dir);
    snprintf(sb, sizeof(sb), "%s/b.sock", dir);
    snprintf(sc, sizeof(sc), "%s/c.sock", dir);
    snprintf(uri_a, sizeof(uri_a), "nbd+unix:///?socket=%s", sa);
    snprintf(uri_b, sizeof(uri_b), "nbd+unix:///?socket=%s", sb);
    snprintf(uri_c, sizeof(uri_c), "nbd+unix:///?socket=%s", sc);
    fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || ftruncate(fd, FILE_BYTES) < 0)
        tap_bail("backing file");
    close(fd);
    signal(SIGPIPE, SIG_IGN);
    pa = start_nbdkit(sa, "memory", "64M");
    pb = start_nbdkit(sb, "file", file);
    pc = start_nbdkit(sc, "memory", "16M");
    if (pa < 0 || pb < 0 || pc < 0)
        tap_bail("nbdkit did not start");
    ctx = xt_ctx_new("test_hv_hotplug");
    if (!ctx)
        tap_bail("context");
    ctx->quiet_errors = true;
    snprintf(args, sizeof(args), "run_dir=%s,vmm=%s/vmm/xm-vmm", run,
             XM_BUILDDIR);
    if (hv_open(ctx, engine, args, &h) < 0)
        bail("hv_open");

    migrate_force(plug_unplug());

    hv_close(h);
    kill(pa, SIGTERM);
    kill(pb, SIGTERM);
    kill(pc, SIGTERM);
    waitpid(pa, NULL, 0);
    waitpid(pb, NULL, 0);
    waitpid(pc, NULL, 0);
    unlink(sa);
    unlink(sb);
    unlink(sc);
    unlink(file);
    rmdir(run);
    rmdir(dir);
    xt_ctx_free(ctx);
    return tap_done();
}
