/*
 * test_disk.c - the test guest's disk workload (guest/workload.c, guest ABI
 * 2, docs/specs/guest-abi.md section 6.5), built hosted: its command-line
 * keys, the block stamp and the ledger arithmetic as pure functions, then
 * whole runs over disks held in memory by the host side (what the sim
 * engine could give it): stop after N writes, a corrupted, a stale and a
 * misdirected block found, a failed request reported, disk_resume; the
 * write-latency histogram (section 6.6): its buckets and quantiles, and
 * the write batches a run times.
 */
#include <stdlib.h>
#include <string.h>

#include "../../tap.h"
#include "workload.h"

#define MEM_BYTES   (4u << 20)
#define IMAGE_END   0x2800u
#define TSC_KHZ     1000u
#define MAX_SECTORS (2048u * 8u)        /* 8 MiB disks at most */
#define WORDS       (XMG_DISK_BLOCK / sizeof(uint64_t))

struct fdisk {
    uint8_t *data;
    uint64_t sectors;
    unsigned flags;
    uint64_t fail_write_sector;         /* IOERR on this write, or 0 */
};

struct fake {
    uint8_t *mem;
    struct xmg_params params;
    struct xmg_status st;
    uint64_t tsc;
    struct fdisk disk[XMG_MAX_DISKS];
    unsigned nr_disks;
    char con[32768];
    size_t con_len;
    unsigned disk_mismatch_count, disk_error_count, exit_count;
    uint32_t last_disk_mismatch, exit_val;
    unsigned io_calls, max_batch, flushes;
    uint64_t write_ticks;               /* a batch with writes takes this */
};

static uint64_t fake_tsc(void *opaque)
{
    struct fake *f = opaque;

    return ++f->tsc;
}

static void fake_out(void *opaque, uint16_t port, uint32_t val)
{
    struct fake *f = opaque;

    switch (port) {
    case XMG_PORT_CONSOLE:
        if (f->con_len + 1 < sizeof(f->con))
            f->con[f->con_len++] = (char)val;
        f->con[f->con_len] = '\0';
        break;
    case XMG_PORT_DISK_MISMATCH:
        f->disk_mismatch_count++;
        f->last_disk_mismatch = val;
        break;
    case XMG_PORT_DISK_ERROR:
        f->disk_error_count++;
        break;
    case XMG_PORT_EXIT:
        f->exit_count++;
        f->exit_val = val;
        break;
    case XMG_PORT_HEARTBEAT:
    case XMG_PORT_READY:
    case XMG_PORT_MISMATCH:
        break;
    default:
        tap_bail("write to an unknown port");
    }
}

static void fake_idle(void *opaque, uint64_t until_tsc)
{
    struct fake *f = opaque;

    if ((int64_t)(until_tsc - f->tsc) > 0)
        f->tsc = until_tsc;
}

static unsigned fake_nr_disks(void *opaque)
{
    struct fake *f = opaque;

    return f->nr_disks;
}

static uint64_t fake_disk_sectors(void *opaque, unsigned disk)
{
    struct fake *f = opaque;

    return f->disk[disk].sectors;
}

static unsigned fake_disk_flags(void *opaque, unsigned disk)
{
    struct fake *f = opaque;

    return f->disk[disk].flags;
}

/* A disk in memory, completing the requests last to first (the workload
 * must not rely on the order). */
static int fake_blk_io(void *opaque, unsigned disk, struct xmg_blk_req *r,
                       unsigned n)
{
    struct fake *f = opaque;
    struct fdisk *d = &f->disk[disk];
    unsigned i;

    if (disk >= f->nr_disks)
        tap_bail("blk_io on a disk that does not exist");
    f->io_calls++;
    if (n > f->max_batch)
        f->max_batch = n;
    if (r[0].type == XMG_BLK_T_OUT)
        f->tsc += f->write_ticks;
    for (i = n; i-- > 0;) {
        uint64_t off = r[i].sector * 512;

        if (r[i].type == XMG_BLK_T_FLUSH) {
            f->flushes++;
            r[i].status = (d->flags & XMG_BLK_F_FLUSH) ? XMG_BLK_S_OK
                                                       : XMG_BLK_S_UNSUPP;
            continue;
        }
        if (r[i].sector + r[i].len / 512 > d->sectors) {
            r[i].status = XMG_BLK_S_IOERR;
            continue;
        }
        if (r[i].type == XMG_BLK_T_OUT && d->fail_write_sector &&
            r[i].sector == d->fail_write_sector) {
            r[i].status = XMG_BLK_S_IOERR;
            continue;
        }
        if (r[i].type == XMG_BLK_T_OUT)
            memcpy(d->data + off, r[i].buf, r[i].len);
        else
            memcpy(r[i].buf, d->data + off, r[i].len);
        r[i].status = XMG_BLK_S_OK;
    }
    return 0;
}

static struct xmg_env fake_env(struct fake *f)
{
    struct xmg_env env = {
        .mem_base = (uintptr_t)f->mem,
        .tsc = fake_tsc,
        .out = fake_out,
        .idle = fake_idle,
        .opaque = f,
        .params = &f->params,
        .nr_disks = fake_nr_disks,
        .disk_sectors = fake_disk_sectors,
        .disk_flags = fake_disk_flags,
        .blk_io = fake_blk_io,
    };

    return env;
}

static struct fake *fake_new(unsigned nr_disks, uint64_t sectors)
{
    struct fake *f = calloc(1, sizeof(*f));
    unsigned i;

    if (!f || !(f->mem = calloc(1, MEM_BYTES)))
        tap_bail("out of memory");
    for (i = 0; i < XMG_MAX_DISKS; i++) {
        f->disk[i].data = calloc(1, MAX_SECTORS * 512);
        if (!f->disk[i].data)
            tap_bail("out of memory");
        f->disk[i].sectors = sectors;
        f->disk[i].flags = XMG_BLK_F_FLUSH;
    }
    f->nr_disks = nr_disks;
    f->tsc = 1000000;
    return f;
}

static void fake_free(struct fake *f)
{
    unsigned i;

    if (!f)
        return;
    for (i = 0; i < XMG_MAX_DISKS; i++)
        free(f->disk[i].data);
    free(f->mem);
    free(f);
}

/* A fresh boot over the same disks: RAM, status and console cleared. */
static int fake_boot(struct fake *f, const char *cmdline)
{
    struct xmg_env env = fake_env(f);

    memset(f->mem, 0, MEM_BYTES);
    memset(&f->st, 0, sizeof(f->st));
    memset(&f->params, 0, sizeof(f->params));
    f->params.magic = XMG_PARAMS_MAGIC;
    f->params.mem_bytes = MEM_BYTES;
    f->params.tsc_khz = TSC_KHZ;
    snprintf(f->params.cmdline, sizeof(f->params.cmdline), "%s", cmdline);
    f->con_len = 0;
    f->con[0] = '\0';
    f->exit_count = 0;
    f->disk_mismatch_count = 0;
    f->disk_error_count = 0;
    f->io_calls = 0;
    f->max_batch = 0;
    f->flushes = 0;
    return xmg_workload_init(&env, &f->params, &f->st, IMAGE_END);
}

static void fake_run(struct fake *f)
{
    struct xmg_env env = fake_env(f);

    xmg_workload_run(&env, &f->st);
}

static uint8_t *block(struct fake *f, unsigned disk, uint64_t b)
{
    return f->disk[disk].data + b * XMG_DISK_BLOCK;
}

/* ---- command line ------------------------------------------------------ */

static void test_parse(void)
{
    struct xmg_config cfg;
    const char *bad = NULL;
    const char *line;

    tap_is_int(xmg_parse_cmdline("", 1, &cfg, NULL), 0, "empty line");
    tap_ok(cfg.disk_rate == 0 && cfg.disk_ws_blocks == 0 &&
           cfg.disk_batch == XMG_DEFAULT_DISK_BATCH && cfg.disk_nonce == 0 &&
           cfg.disk_resume == 0 && cfg.disk_stop_after == 0,
           "disk defaults: no disk workload, batch 4");
    line = "disk_rate_mib=8 disk_ws_mib=2 disk_batch=8 disk_nonce=0x1234 "
           "disk_resume=100 disk_stop_after=50";
    tap_is_int(xmg_parse_cmdline(line, strlen(line) + 1, &cfg, NULL), 0,
               "every disk key");
    tap_ok(cfg.disk_rate == 8 * 256 && cfg.disk_ws_blocks == 512 &&
           cfg.disk_batch == 8 && cfg.disk_nonce == 0x1234 &&
           cfg.disk_resume == 100 && cfg.disk_stop_after == 50,
           "values: 2048 blocks/s, 512 blocks, batch 8, nonce, resume, stop");
    tap_is_int(xmg_parse_cmdline("disk_rate_mib=max", 64, &cfg, NULL), 0,
               "disk_rate_mib=max");
    tap_ok(cfg.disk_rate == XMG_RATE_MAX, "max is XMG_RATE_MAX");

    static const char *const bads[] = {
        "disk_batch=0", "disk_batch=9", "disk_nonce=0", "disk_ws_mib=0",
        "disk_rate_mib=fast", "disk_stop_after=-1",
    };
    for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
        bad = NULL;
        tap_ok(xmg_parse_cmdline(bads[i], strlen(bads[i]) + 1, &cfg, &bad) ==
                   XMG_EXIT_BAD_PARAMS && bad == bads[i],
               "'%s' refused", bads[i]);
    }
    line = "disk_rate_mib=1 disk_resume=5 disk_ws_mib=1";
    tap_ok(xmg_parse_cmdline(line, strlen(line) + 1, &cfg, &bad) ==
               XMG_EXIT_BAD_PARAMS && bad == line + 16,
           "disk_resume without disk_nonce refused, pointing at it");
}

/* ---- stamps and ledger arithmetic -------------------------------------- */

static void test_stamp(void)
{
    static uint64_t a[WORDS], b[WORDS];
    size_t word = 99;

    xmg_disk_stamp(a, 0x1234, 1, 77, 5);
    tap_ok(a[0] == XMG_DISK_MAGIC && a[1] == 0x1234 && a[2] == 1 &&
           a[3] == 77 && a[4] == 5 &&
           a[5] == xmg_disk_seed(0x1234, 1, 77, 5) &&
           a[6] == xmg_disk_word(a[5], 6), "stamp layout: header, seed, fill");
    tap_ok(xmg_disk_check(a, 0x1234, 1, 77, 5, &word), "own stamp checks");

    memcpy(b, a, sizeof(b));
    ((uint8_t *)b)[300 * 8 + 3] ^= 0x10;
    tap_ok(!xmg_disk_check(b, 0x1234, 1, 77, 5, &word) && word == 300,
           "one flipped bit found (word %zu)", word);

    /* torn: the first sector of gen 6, the rest still gen 5 */
    xmg_disk_stamp(b, 0x1234, 1, 77, 6);
    memcpy((uint8_t *)b + 512, (uint8_t *)a + 512, sizeof(b) - 512);
    tap_ok(!xmg_disk_check(b, 0x1234, 1, 77, 6, &word) && word == 64,
           "torn write found where the old sectors start (word %zu)", word);
    tap_ok(!xmg_disk_check(b, 0x1234, 1, 77, 5, &word) && word == 4,
           "and it is not gen 5 either (word %zu)", word);

    tap_ok(!xmg_disk_check(a, 0x1234, 1, 77, 6, &word) && word == 4,
           "stale block (gen 5 where 6 is due) found at the gen word");
    tap_ok(!xmg_disk_check(a, 0x1234, 1, 78, 5, &word) && word == 3,
           "misdirected block (77 read as 78) found");
    tap_ok(!xmg_disk_check(a, 0x1234, 0, 77, 5, &word) && word == 2,
           "block of another disk found");
    tap_ok(!xmg_disk_check(a, 0x9999, 1, 77, 5, &word) && word == 1,
           "block of another boot found when a gen is due");

    /* gen 0: never written by this boot */
    memset(b, 0, sizeof(b));
    tap_ok(xmg_disk_check(b, 0x1234, 1, 77, 0, NULL), "gen 0: zeros pass");
    tap_ok(xmg_disk_check(a, 0x9999, 1, 77, 0, NULL),
           "gen 0: an earlier boot's stamp passes");
    memset(b, 0xa5, sizeof(b));
    tap_ok(xmg_disk_check(b, 0x1234, 1, 77, 0, NULL),
           "gen 0: foreign data passes");
    tap_ok(!xmg_disk_check(a, 0x1234, 1, 77, 0, &word) && word == 0,
           "gen 0: a stamp of this boot is a mismatch");
}

static void test_ledger_math(void)
{
    uint64_t k = 9, blk = 9;
    bool ok = true;
    uint64_t i;

    for (i = 0; i < 8; i++)
        ok = ok && xmg_disk_resume_gen(i, 8, 20) == (i < 4 ? 3u : 2u);
    tap_ok(ok, "after 20 writes over 8 blocks: 0-3 at gen 3, 4-7 at gen 2");
    tap_ok(xmg_disk_resume_gen(5, 8, 5) == 0 &&
           xmg_disk_resume_gen(4, 8, 5) == 1 &&
           xmg_disk_resume_gen(0, 8, 0) == 0, "never written: gen 0");

    xmg_disk_locate(0, 2, 8, 4, &k, &blk);
    ok = k == 0 && blk == 0;
    xmg_disk_locate(5, 2, 8, 4, &k, &blk);
    ok = ok && k == 1 && blk == 1;
    xmg_disk_locate(10, 2, 8, 4, &k, &blk);
    ok = ok && k == 0 && blk == 6;
    xmg_disk_locate(15, 2, 8, 4, &k, &blk);
    ok = ok && k == 1 && blk == 7;
    tap_ok(ok, "global index to disk and block: batches alternate disks");
}

/* ---- whole runs -------------------------------------------------------- */

static void test_no_disk(void)
{
    struct fake *f = fake_new(0, 0);
    struct xmg_env env;

    tap_is_int(fake_boot(f, "ws_pages=16"), 0,
               "no disk workload asked: boots without disks");
    tap_ok(f->st.disk_phase == XMG_DISK_OFF && f->st.nr_disks == 0 &&
           f->st.disk_ledger_gpa == 0, "status: disk workload off");
    tap_is_int(fake_boot(f, "ws_pages=16 disk_rate_mib=1"),
               XMG_EXIT_NO_DISK, "disk_rate_mib without a disk: exit 3");
    tap_ok(f->exit_count == 1 && f->exit_val == XMG_EXIT_NO_DISK &&
           strstr(f->con, "no usable disk"), "said on console and exit port");

    /* A host without the ops (the sim engine today) is "no disks". */
    env = fake_env(f);
    env.nr_disks = NULL;
    env.disk_sectors = NULL;
    env.disk_flags = NULL;
    env.blk_io = NULL;
    memset(&f->st, 0, sizeof(f->st));
    snprintf(f->params.cmdline, sizeof(f->params.cmdline),
             "ws_pages=16 disk_rate_mib=1");
    tap_is_int(xmg_workload_init(&env, &f->params, &f->st, IMAGE_END),
               XMG_EXIT_NO_DISK, "NULL disk ops: no disks");

    f->nr_disks = 1;
    f->disk[0].flags = XMG_BLK_F_RO;
    tap_is_int(fake_boot(f, "ws_pages=16 disk_rate_mib=1"),
               XMG_EXIT_NO_DISK, "a read-only disk is not used");
    tap_ok(strstr(f->con, "disk 0 is read-only, not used") != NULL,
           "and the console says so");
    fake_free(f);
}

static void test_run(void)
{
    /* 2 disks of 1 MiB, 32 blocks each used: 64 blocks in all */
    struct fake *f = fake_new(2, 2048);
    const char *cmd = "ws_pages=16 disk_rate_mib=max disk_ws_mib=1 "
                      "disk_nonce=0x77 disk_batch=4 disk_stop_after=160";
    static uint8_t saved[XMG_DISK_BLOCK];
    bool ok = true;
    uint64_t b;

    f->disk[1].flags = 0;               /* no FLUSH on disk 1 */
    tap_is_int(fake_boot(f, cmd), 0, "boot with two disks");
    tap_ok(f->st.nr_disks == 2 && f->st.disk_ws_blocks == 256 &&
           f->st.disk_flush_mask == 1 && f->st.disk_nonce == 0x77 &&
           f->st.disk_phase == XMG_DISK_CHECK,
           "status: 2 disks of 256 blocks, disk 0 flushes");
    tap_ok(xmg_status_valid(&f->st, MEM_BYTES), "status valid with disks");
    tap_ok(f->st.disk_ledger_gpa >=
               (f->st.ws_first_pfn + f->st.ws_pages) << XMG_PAGE_SHIFT &&
           f->st.disk_buf_gpa >= f->st.disk_ledger_gpa + 512 * 4,
           "disk ledger and buffers after the working set");
    tap_ok(strstr(f->con, "xm-guest: disk workload on 2 disks (0+flush 1)") !=
           NULL, "disk banner");
    fake_run(f);
    tap_ok(f->exit_count == 1 && f->exit_val == XMG_EXIT_OK &&
           strstr(f->con, "disk_stop_after reached"),
           "stops by itself after 160 writes, exit 0");
    tap_ok(f->st.disk_writes == 160 && f->st.disk_reads == 160 &&
           f->st.disk_mismatches == 0 && f->st.disk_errors == 0,
           "160 writes, each block read first, no mismatch");
    tap_ok(f->max_batch == 4 && f->flushes >= 1 && f->st.disk_flushes >= 1,
           "requests went 4 at a time; disk 0 was flushed");
    /* 160 = 40 batches alternating: disk 0 got blocks 0-79, disk 1 too */
    for (b = 0; b < 80; b++)
        ok = ok && xmg_disk_check(block(f, 0, b), 0x77, 0, b, 1, NULL) &&
             xmg_disk_check(block(f, 1, b), 0x77, 1, b, 1, NULL);
    ok = ok && xmg_disk_check(block(f, 0, 80), 0x77, 0, 80, 0, NULL) &&
         block(f, 0, 80)[0] == 0;
    tap_ok(ok, "disks hold gen-1 stamps of blocks 0-79, nothing after");
    fake_run(f);
    tap_ok(f->exit_count == 1 && f->st.disk_writes == 160,
           "a run after the stop does nothing");

    /* A second boot resuming the first: every block re-read clean. */
    tap_is_int(fake_boot(f, "ws_pages=16 disk_rate_mib=max disk_ws_mib=1 "
                            "disk_nonce=0x77 disk_resume=160 "
                            "disk_stop_after=512"), 0, "resume boot");
    tap_ok(f->st.disk_cursor == 160, "cursor resumes at 160");
    fake_run(f);
    tap_ok(f->st.disk_writes == 512 && f->st.disk_mismatches == 0,
           "512 more writes (every block checked) and no mismatch");

    /* Third boot: corrupt, restore a stale copy, misdirect. */
    memcpy(saved, block(f, 1, 10), sizeof(saved));  /* gen 2 */
    tap_is_int(fake_boot(f, "ws_pages=16 disk_rate_mib=max disk_ws_mib=1 "
                            "disk_nonce=0x77 disk_resume=672 "
                            "disk_stop_after=512"), 0, "third boot");
    block(f, 0, 33)[4000] ^= 1;                     /* corrupted */
    memcpy(block(f, 0, 40), block(f, 0, 41), XMG_DISK_BLOCK); /* misdirected */
    fake_run(f);
    tap_ok(f->st.disk_mismatches == 2 && f->disk_mismatch_count == 2,
           "two mismatches counted and signalled");
    tap_ok(strstr(f->con, "disk ledger mismatch at disk 0 block 33 gen 2 "
                          "word 500") != NULL,
           "the corrupted block named, with its word");
    tap_ok(strstr(f->con, "disk ledger mismatch at disk 0 block 40 gen 2 "
                          "word 3 is 0x29 want 0x28 (holds disk 0 block 41 "
                          "gen 2)") != NULL,
           "the misdirected block named, with what it holds");
    tap_ok(f->st.last_disk_mismatch_disk == 0 &&
           f->st.last_disk_mismatch_block == 40 &&
           f->last_disk_mismatch == 40, "last mismatch: disk 0 block 40");

    /* A lost write: disk 1 block 10 goes back to its older content. */
    tap_is_int(fake_boot(f, "ws_pages=16 disk_rate_mib=max disk_ws_mib=1 "
                            "disk_nonce=0x77 disk_resume=1184 "
                            "disk_stop_after=512"), 0, "fourth boot");
    memcpy(block(f, 1, 10), saved, sizeof(saved));
    fake_run(f);
    tap_ok(f->st.disk_mismatches == 1 &&
           f->st.last_disk_mismatch_disk == 1 &&
           f->st.last_disk_mismatch_block == 10 &&
           strstr(f->con, "block 10 gen 3 word 4 is 0x2 want 0x3") != NULL,
           "a stale block (gen 2 where 3 is due) found");
    fake_free(f);
}

static void test_io_error(void)
{
    struct fake *f = fake_new(1, 2048);

    f->disk[0].fail_write_sector = 5 * XMG_DISK_BLOCK_SECTORS;
    tap_is_int(fake_boot(f, "ws_pages=16 disk_rate_mib=max disk_ws_mib=1 "
                            "disk_stop_after=100"), 0, "boot");
    tap_ok(f->st.disk_nonce != 0, "a nonce was picked");
    fake_run(f);
    tap_ok(f->st.disk_errors == 1 && f->disk_error_count == 1 &&
           f->st.disk_phase == XMG_DISK_FAILED,
           "the failed write is counted, signalled, the workload stops");
    tap_ok(f->exit_count == 1 && f->exit_val == XMG_EXIT_DISK_ERROR,
           "with disk_stop_after the guest exits with code 4");
    tap_ok(strstr(f->con, "disk 0 block 5 write failed: status 1") != NULL,
           "the console names block and status");
    tap_ok(f->st.disk_writes == 4, "the batch before it was written");
    fake_free(f);
}

static void test_rate(void)
{
    /* 1 MiB/s = 256 blocks/s; TSC 1 MHz: one block per 3906 ticks */
    struct fake *f = fake_new(1, 2048);
    uint64_t t0, ticks;

    tap_is_int(fake_boot(f, "ws_pages=16 disk_rate_mib=1 disk_ws_mib=1 "
                            "disk_stop_after=256 hb_us=1000"), 0, "boot");
    t0 = f->tsc;
    fake_run(f);
    ticks = f->tsc - t0;
    tap_ok(f->st.disk_writes == 256 && ticks > 900000 && ticks < 1100000,
           "256 blocks at 1 MiB/s took about a second (%llu ticks)",
           (unsigned long long)ticks);
    tap_ok(f->st.hb_seq >= 900, "heartbeats went on meanwhile (%llu)",
           (unsigned long long)f->st.hb_seq);
    fake_free(f);
}

/* ---- write-latency histogram ------------------------------------------ */

static void test_lat_buckets(void)
{
    bool ok = true, narrow = true;
    uint64_t v;
    unsigned b;

    for (v = 0; v < 8; v++)
        ok = ok && xmg_lat_bucket(v) == v && xmg_lat_lo((unsigned)v) == v;
    tap_ok(ok, "ticks 0-7: a bucket each");
    tap_ok(xmg_lat_bucket(8) == 8 && xmg_lat_bucket(15) == 15 &&
           xmg_lat_bucket(16) == 16 && xmg_lat_bucket(17) == 16 &&
           xmg_lat_bucket(18) == 17 && xmg_lat_bucket(31) == 23 &&
           xmg_lat_bucket(32) == 24 && xmg_lat_bucket(1000) == 63,
           "8 buckets per power of two (1000 ticks: bucket 63)");
    tap_ok(xmg_lat_lo(63) == 960 && xmg_lat_lo(64) == 1024,
           "bucket 63 is [960, 1024)");
    /* every bucket's bounds map back to it, none wider than lo / 8 */
    for (b = 0; b < XMG_LAT_BUCKETS; b++) {
        uint64_t lo = xmg_lat_lo(b), hi = xmg_lat_lo(b + 1);

        narrow = narrow && hi > lo && (b < 8 || (hi - lo) * 8 <= lo);
        ok = ok && xmg_lat_bucket(lo) == b && xmg_lat_bucket(hi - 1) == b;
    }
    tap_ok(ok && narrow, "every bucket's bounds fall in it, width <= lo/8");
    tap_ok(xmg_lat_lo(XMG_LAT_BUCKETS) == 16ull << 30 &&
           xmg_lat_bucket(16ull << 30) == XMG_LAT_BUCKETS - 1 &&
           xmg_lat_bucket(UINT64_MAX) == XMG_LAT_BUCKETS - 1,
           "past 16 << 30 ticks: the last bucket");
}

static void test_lat_percentile(void)
{
    static uint64_t h[XMG_LAT_BUCKETS];
    unsigned i;

    tap_ok(xmg_lat_percentile(h, 500) == 0, "empty histogram: 0");
    h[xmg_lat_bucket(1000)] = 1;
    tap_ok(xmg_lat_percentile(h, 0) == 992 &&
           xmg_lat_percentile(h, 500) == 992 &&
           xmg_lat_percentile(h, 1000) == 992,
           "one sample of 1000: every quantile is its bucket's middle");
    /* 990 samples of 100 ticks, 10 of 10000: p99 is still 100's bucket,
     * p99.1 the 10000 one's */
    memset(h, 0, sizeof(h));
    h[xmg_lat_bucket(100)] = 990;
    h[xmg_lat_bucket(10000)] = 10;
    tap_ok(xmg_lat_percentile(h, 500) == 100 &&
           xmg_lat_percentile(h, 990) == 100,
           "p50 and p99 of 990 x 100 + 10 x 10000: 100's bucket [96, 104)");
    tap_ok(xmg_lat_percentile(h, 991) == 9728,
           "p99.1: 10000's bucket [9216, 10240), its middle");
    memset(h, 0, sizeof(h));
    h[2] = 2;
    h[3] = 1;
    tap_ok(xmg_lat_percentile(h, 666) == 2 && xmg_lat_percentile(h, 667) == 3,
           "3 samples: the 2nd is p66.6, the 3rd p66.7");
    /* the estimate is within 1/16 of any value in the bucket */
    for (i = 9; i < 100000; i += 37) {
        uint64_t q;

        memset(h, 0, sizeof(h));
        h[xmg_lat_bucket(i)] = 1;
        q = xmg_lat_percentile(h, 500);
        if ((q > i ? q - i : i - q) * 16 > i)
            break;
    }
    tap_ok(i >= 100000, "a single sample comes back within 1/16 (%u)", i);
    memset(h, 0, sizeof(h));
    h[XMG_LAT_BUCKETS - 1] = 5;
    tap_ok(xmg_lat_percentile(h, 990) == (31ull << 29),
           "the last bucket: its lower bound plus half its width");
}

/* A run times every write batch and nothing else: each takes write_ticks
 * + 1 (the fake TSC ticks once per read). */
static void test_lat_run(void)
{
    struct fake *f = fake_new(1, 2048);
    uint64_t sum = 0;
    unsigned b;

    f->write_ticks = 999;
    tap_is_int(fake_boot(f, "ws_pages=16 disk_rate_mib=max disk_ws_mib=1 "
                            "disk_batch=4 disk_stop_after=400"), 0, "boot");
    tap_ok(f->st.disk_wlat_batches == 0 && f->st.disk_t0_tsc == 0,
           "nothing timed before the run");
    fake_run(f);
    for (b = 0; b < XMG_LAT_BUCKETS; b++)
        sum += f->st.disk_wlat_hist[b];
    tap_ok(f->st.disk_writes == 400 && f->st.disk_wlat_batches == 100 &&
           sum == 100, "100 write batches of 4, each counted once");
    tap_ok(f->st.disk_wlat_hist[xmg_lat_bucket(1000)] == 100 &&
           f->st.disk_wlat_max == 1000 && f->st.disk_wlat_sum == 100000,
           "each took 1000 ticks (reads and flushes not counted)");
    tap_ok(f->st.disk_t0_tsc != 0 && f->st.disk_t1_tsc - f->st.disk_t0_tsc >
           100000 && f->st.disk_t1_tsc <= f->tsc,
           "disk time spans the writes, ends before the run did");
    tap_ok(strstr(f->con, "xm-guest: disk write batches 100 latency ns p50 "
                          "992000 p99 992000 max 1000000 mean 1000000 "
                          "disk time us ") != NULL,
           "the summary gives them in ns (TSC 1 MHz)");
    fake_free(f);
}

int main(void)
{
    test_parse();
    test_stamp();
    test_ledger_math();
    test_no_disk();
    test_run();
    test_io_error();
    test_rate();
    test_lat_buckets();
    test_lat_percentile();
    test_lat_run();
    return tap_done();
}
