/*
 * test_workload.c - the test guest's workload (guest/workload.c), built
 * hosted and run over malloc'd "guest RAM" with a fake TSC: command-line
 * parsing, set-up, patterns and ledger, mismatch detection, the seq cursor,
 * idle mode, the rate limiter and heartbeats, stop and resume.
 */
#include <stdlib.h>
#include <string.h>

#include "../../tap.h"
#include "workload.h"

#define MEM_BYTES   (2u << 20)
#define IMAGE_END   0x2800u             /* ledger at 0x3000 */
#define TSC_KHZ     1000u               /* 1 MHz: 1000 ticks per ms */

/* The host side: guest RAM, a TSC that moves 1 tick per read and jumps in
 * idle(), port output recorded, stop conditions. */
struct fake {
    uint8_t *mem;
    struct xmg_params params;
    struct xmg_status st;
    uint64_t tsc;
    uint64_t cpuid_khz;
    char con[16384];
    size_t con_len;
    unsigned hb_count, mismatch_count, ready_count, exit_count;
    uint32_t last_hb, last_mismatch, ready_val, exit_val;
    /* stop when any is reached (0 = not used) */
    uint64_t stop_at_pages;
    uint64_t stop_at_tsc;
    unsigned stop_after_calls;
    unsigned stop_calls;
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
    case XMG_PORT_HEARTBEAT:
        f->hb_count++;
        f->last_hb = val;
        break;
    case XMG_PORT_MISMATCH:
        f->mismatch_count++;
        f->last_mismatch = val;
        break;
    case XMG_PORT_READY:
        f->ready_count++;
        f->ready_val = val;
        break;
    case XMG_PORT_EXIT:
        f->exit_count++;
        f->exit_val = val;
        break;
    default:
        tap_bail("write to an unknown port");
    }
}

static bool fake_stop(void *opaque)
{
    struct fake *f = opaque;

    f->stop_calls++;
    return (f->stop_at_pages && f->st.pages_written >= f->stop_at_pages) ||
           (f->stop_at_tsc && f->tsc >= f->stop_at_tsc) ||
           (f->stop_after_calls && f->stop_calls >= f->stop_after_calls);
}

static void fake_idle(void *opaque, uint64_t until_tsc)
{
    struct fake *f = opaque;

    /* a host wakes up for its own deadline too */
    if (f->stop_at_tsc && (int64_t)(until_tsc - f->stop_at_tsc) > 0)
        until_tsc = f->stop_at_tsc;
    if ((int64_t)(until_tsc - f->tsc) > 0)
        f->tsc = until_tsc;
}

static uint64_t fake_tsc_khz(void *opaque)
{
    struct fake *f = opaque;

    return f->cpuid_khz;
}

static struct xmg_env fake_env(struct fake *f)
{
    struct xmg_env env = {
        .mem_base = (uintptr_t)f->mem,
        .tsc = fake_tsc,
        .out = fake_out,
        .stop = fake_stop,
        .idle = fake_idle,
        .tsc_khz = fake_tsc_khz,
        .opaque = f,
        .params = &f->params,
        .mem_zeroed = false,
    };

    return env;
}

static struct fake *fake_new(const char *cmdline, uint64_t params_khz)
{
    struct fake *f = calloc(1, sizeof(*f));

    if (!f || !(f->mem = calloc(1, MEM_BYTES)))
        tap_bail("out of memory");
    f->params.magic = XMG_PARAMS_MAGIC;
    f->params.mem_bytes = MEM_BYTES;
    f->params.tsc_khz = params_khz;
    snprintf(f->params.cmdline, sizeof(f->params.cmdline), "%s", cmdline);
    f->tsc = 1000000;
    return f;
}

static void fake_free(struct fake *f)
{
    if (!f)
        return;
    free(f->mem);
    free(f);
}

static int fake_init(struct fake *f)
{
    struct xmg_env env = fake_env(f);

    return xmg_workload_init(&env, &f->params, &f->st, IMAGE_END);
}

static void fake_run(struct fake *f)
{
    struct xmg_env env = fake_env(f);

    f->stop_calls = 0;
    xmg_workload_run(&env, &f->st);
}

static void *page(struct fake *f, uint64_t pfn)
{
    return f->mem + (pfn << XMG_PAGE_SHIFT);
}

static uint32_t *ledger(struct fake *f)
{
    return (uint32_t *)(f->mem + f->st.ledger_gpa);
}

static bool page_zero(const void *p)
{
    const uint8_t *b = p;
    size_t i;

    for (i = 0; i < XMG_PAGE_SIZE; i++)
        if (b[i])
            return false;
    return true;
}

/* ---- command line ------------------------------------------------------ */

static void test_parse_defaults(void)
{
    struct xmg_config c;

    tap_is_int(xmg_parse_cmdline("", 1, &c, NULL), 0, "empty cmdline");
    tap_ok(c.ws_pages == 64 * 256 && c.rate == 0 &&
           c.mode == XMG_MODE_SEQ && c.pattern == XMG_PATTERN_FILL &&
           c.seed == 1 && c.hb_us == 1000 && c.tsc_khz == 0,
           "defaults: 64 MiB, idle, seq, fill, seed 1, 1 ms, no tsc_khz");
}

static void test_parse_valid(void)
{
    struct xmg_config c;
    const char *bad = NULL;

    tap_is_int(xmg_parse_cmdline("  ws_mib=2\trate=500 mode=random "
                                 "pattern=random seed=0x10 hb_us=250 "
                                 "tsc_khz=1000000  ", XMG_CMDLINE_MAX, &c,
                                 &bad), 0, "every key");
    tap_ok(c.ws_pages == 512 && c.rate == 500 &&
           c.mode == XMG_MODE_RANDOM && c.pattern == XMG_PATTERN_RANDOM &&
           c.seed == 16 && c.hb_us == 250 && c.tsc_khz == 1000000,
           "every key parsed");
    xmg_parse_cmdline("ws_pages=7 ws_mib=3", XMG_CMDLINE_MAX, &c, NULL);
    tap_is_u64(c.ws_pages, 7, "ws_pages overrides ws_mib");
    xmg_parse_cmdline("rate=max", XMG_CMDLINE_MAX, &c, NULL);
    tap_ok(c.rate == XMG_RATE_MAX, "rate=max");
    xmg_parse_cmdline("rate=max rate_mib=4", XMG_CMDLINE_MAX, &c, NULL);
    tap_is_u64(c.rate, 1024, "rate_mib in pages, the last rate wins");
    /* max bounds the string: "ws_mib=12" read as "ws_mib=1" */
    xmg_parse_cmdline("ws_mib=12", 8, &c, NULL);
    tap_is_u64(c.ws_pages, 256, "parsing stops at max bytes");
}

static void test_parse_errors(void)
{
    static const char *const bad_lines[] = {
        "foo=1", "ws_mib=", "ws_mib=0", "ws_mib=abc", "ws_mib=1x",
        "ws_mib=99999999999999999999", "ws_mib=0x", "ws_pages=0",
        "rate=fast", "rate=-1", "rate_mib=1.5", "mode=zigzag",
        "pattern=zero", "seed=", "hb_us=0", "hb_us=1000000001",
        "tsc_khz=0", "tsc_khz=100000001", "justaword", "=5", "mode",
        "Mode=seq",
    };
    const char *line = "ws_mib=2 foo=1 rate=3";
    struct xmg_config c;
    const char *bad = NULL;
    size_t i;

    for (i = 0; i < sizeof(bad_lines) / sizeof(bad_lines[0]); i++) {
        char buf[64];

        bad = NULL;
        snprintf(buf, sizeof(buf), "rate=1 %s", bad_lines[i]);
        tap_ok(xmg_parse_cmdline(buf, sizeof(buf), &c, &bad) ==
               XMG_EXIT_BAD_PARAMS && bad == buf + 7,
               "rejects '%s' and points at it", bad_lines[i]);
    }
    bad = NULL;
    xmg_parse_cmdline(line, XMG_CMDLINE_MAX, &c, &bad);
    tap_ok(bad == line + 9, "points at the bad token mid-line");
}

/* ---- set-up ------------------------------------------------------------ */

static void test_init_errors(void)
{
    struct fake *f = fake_new("ws_mib=1 foo=bar", 1000);

    tap_is_int(fake_init(f), XMG_EXIT_BAD_PARAMS, "unknown key: bad params");
    tap_ok(f->exit_count == 1 && f->exit_val == XMG_EXIT_BAD_PARAMS &&
           f->ready_count == 0, "exit port told, no ready");
    tap_ok(strstr(f->con, "bad parameter 'foo=bar'") != NULL,
           "console names the bad token");
    fake_free(f);

    f = fake_new("", 1000);
    f->params.magic = 0;
    tap_is_int(fake_init(f), XMG_EXIT_BAD_PARAMS, "params without magic");
    fake_free(f);

    f = fake_new("ws_mib=2", 1000);       /* 2 MiB + ledger > 2 MiB */
    tap_is_int(fake_init(f), XMG_EXIT_NO_MEMORY, "too big: no memory");
    tap_ok(f->exit_count == 1 && f->exit_val == XMG_EXIT_NO_MEMORY &&
           strstr(f->con, "does not fit") != NULL, "exit port and console");
    fake_free(f);

    f = fake_new("ws_pages=18446744073709551615", 1000);
    tap_is_int(fake_init(f), XMG_EXIT_NO_MEMORY, "huge ws_pages: no memory");
    fake_free(f);

    /* exactly fits: 2 MiB - 3 pages (image) - 1 ledger page */
    f = fake_new("ws_pages=508", 1000);
    tap_is_int(fake_init(f), 0, "a working set that just fits");
    tap_is_u64(f->st.ws_first_pfn + f->st.ws_pages, MEM_BYTES >> 12,
               "it ends at the end of RAM");
    fake_free(f);
    f = fake_new("ws_pages=509", 1000);
    tap_is_int(fake_init(f), XMG_EXIT_NO_MEMORY, "one page more does not");
    fake_free(f);
}

static void test_init_ok(void)
{
    struct fake *f = fake_new("ws_pages=64 rate=max hb_us=500", 3000);
    uint8_t *ws;
    int rc;

    /* garbage where the ledger and working set go: init must clear it */
    memset(f->mem + 0x3000, 0xa5, MEM_BYTES - 0x3000);
    rc = fake_init(f);
    tap_is_int(rc, 0, "init");
    tap_ok(f->st.magic == XMG_STATUS_MAGIC &&
           f->st.version == XMG_ABI_VERSION, "status magic and version");
    tap_is_u64(f->st.ledger_gpa, 0x3000, "ledger at image_end, page aligned");
    tap_is_u64(f->st.ws_first_pfn, 4, "working set after a 1-page ledger");
    tap_ok(f->st.ws_pages == 64 && f->st.rate == XMG_RATE_MAX &&
           f->st.mode == XMG_MODE_SEQ && f->st.pattern == XMG_PATTERN_FILL,
           "configuration in status");
    tap_is_u64(f->st.tsc_khz, 3000, "params tsc_khz used");
    tap_is_u64(f->st.hb_ticks, 1500, "hb_ticks = hb_us * tsc_khz / 1000");
    tap_ok(f->ready_count == 1 && f->ready_val == XMG_ABI_VERSION &&
           f->exit_count == 0, "ready port got the ABI version");
    tap_ok(strstr(f->con, "xm-guest: abi 4 ws 64 pages") != NULL &&
           strchr(f->con, '\n') == f->con + f->con_len - 1,
           "a one-line banner");
    ws = page(f, 4);
    tap_ok(page_zero(f->mem + 0x3000) && page_zero(ws) &&
           page_zero(ws + 63 * XMG_PAGE_SIZE), "ledger and working set zeroed");
    tap_ok(ws[64 * XMG_PAGE_SIZE] == 0xa5, "nothing beyond them touched");
    tap_ok(xmg_status_valid(&f->st, MEM_BYTES), "status valid");
    fake_free(f);

    /* mem_zeroed: init trusts the host and reads nothing */
    f = fake_new("ws_pages=4", 3000);
    memset(f->mem + 0x4000, 0xa5, XMG_PAGE_SIZE);
    {
        struct xmg_env env = fake_env(f);

        env.mem_zeroed = true;
        xmg_workload_init(&env, &f->params, &f->st, IMAGE_END);
    }
    tap_ok(f->mem[0x4000] == 0xa5, "mem_zeroed: no scrub");
    fake_free(f);
}

static void test_tsc_khz_choice(void)
{
    struct fake *f = fake_new("ws_pages=4 tsc_khz=2000", 0);

    f->cpuid_khz = 5000;
    fake_init(f);
    tap_is_u64(f->st.tsc_khz, 2000, "cmdline tsc_khz when params has none");
    fake_free(f);

    f = fake_new("ws_pages=4 tsc_khz=2000", 7000);
    fake_init(f);
    tap_is_u64(f->st.tsc_khz, 7000, "params tsc_khz wins over cmdline");
    fake_free(f);

    f = fake_new("ws_pages=4", 0);
    f->cpuid_khz = 5000;
    fake_init(f);
    tap_is_u64(f->st.tsc_khz, 5000, "the platform's (CPUID) next");
    fake_free(f);

    f = fake_new("ws_pages=4", 0);
    fake_init(f);
    tap_ok(f->st.tsc_khz == XMG_FALLBACK_TSC_KHZ &&
           strstr(f->con, "warning: TSC frequency unknown") != NULL,
           "else 2 GHz, with a warning");
    fake_free(f);
}

/* ---- patterns ---------------------------------------------------------- */

static void test_patterns(void)
{
    uint64_t *p = malloc(XMG_PAGE_SIZE);
    bool ok = true;
    size_t i;

    if (!p)
        tap_bail("out of memory");
    memset(p, 0, XMG_PAGE_SIZE);
    tap_ok(xmg_page_verify(p, 5, 0), "gen 0: a zero page");
    tap_ok(!xmg_page_verify(p, 5, 1), "a zero page is not gen 1");

    xmg_page_write(p, 5, 3, XMG_PATTERN_FILL);
    for (i = 0; i < XMG_PAGE_SIZE / 8; i++)
        ok = ok && p[i] == xmg_fill_word(5, 3);
    tap_ok(ok, "fill: every word is xmg_fill_word(pfn, gen)");
    tap_ok(xmg_page_verify(p, 5, 3) &&
           xmg_page_check(p, 5, 3, XMG_PATTERN_FILL) &&
           !xmg_page_check(p, 5, 3, XMG_PATTERN_RANDOM),
           "fill verifies as fill only");
    tap_ok(!xmg_page_verify(p, 6, 3) && !xmg_page_verify(p, 5, 4) &&
           !xmg_page_verify(p, 5, 0), "wrong pfn or gen does not verify");

    xmg_page_write(p, 5, 3, XMG_PATTERN_RANDOM);
    {
        uint64_t x = xmg_random_seed(5, 3);

        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        tap_is_u64(p[0], x * 0x2545f4914f6cdd1dull,
                   "random: word 0 is the first xorshift64* output");
    }
    tap_ok(p[0] != p[1] && xmg_page_verify(p, 5, 3) &&
           !xmg_page_check(p, 5, 3, XMG_PATTERN_FILL) &&
           !xmg_page_verify(p, 5, 2), "random verifies as random only");
    p[511] ^= 1;
    tap_ok(!xmg_page_verify(p, 5, 3), "one flipped bit in the last word");
    free(p);
}

/* ---- the loop ---------------------------------------------------------- */

static void test_seq_run(void)
{
    struct fake *f = fake_new("ws_pages=64 rate=max", TSC_KHZ);
    uint64_t bad = 99, first = 99, i;
    bool ok = true;
    uint32_t *led;

    fake_init(f);
    led = ledger(f);
    f->stop_at_pages = 10;
    fake_run(f);
    tap_is_u64(f->st.pages_written, 10, "stop() ends the run after 10 ops");
    tap_is_u64(f->st.cursor, 10, "seq cursor advanced");
    for (i = 0; i < 64; i++) {
        uint32_t want = i < 10 ? 1 : 0;

        ok = ok && led[i] == want &&
             xmg_page_check(page(f, 4 + i), 4 + i, want, XMG_PATTERN_FILL);
    }
    tap_ok(ok, "pages 0-9 at gen 1 (ledger and pattern), the rest zero");
    tap_ok(f->hb_count >= 1 && f->st.hb_seq == f->hb_count &&
           f->last_hb == f->st.hb_seq, "heartbeats on the port match hb_seq");

    /* resume: a second run continues from status, wrapping around */
    f->stop_at_pages = 10 + 64 + 5;
    fake_run(f);
    tap_is_u64(f->st.cursor, 15, "second run continued and wrapped");
    ok = true;
    for (i = 0; i < 64; i++)
        ok = ok && led[i] == (i < 15 ? 2u : 1u);
    tap_ok(ok, "pages 0-14 at gen 2, 15-63 at gen 1");
    tap_is_int(xmg_workload_verify((uintptr_t)f->mem, MEM_BYTES, &f->st,
                                   &bad, &first), 0, "verify runs");
    tap_ok(bad == 0 && first == 0 && f->st.mismatches == 0 &&
           f->mismatch_count == 0, "no bad page, no mismatch");

    /* corrupt index 20 (pfn 24, gen 1): one mismatch when it comes round */
    ((uint8_t *)page(f, 24))[100] ^= 0x40;
    xmg_workload_verify((uintptr_t)f->mem, MEM_BYTES, &f->st, &bad, &first);
    tap_ok(bad == 1 && first == 24, "host-side verify finds the bad pfn");
    f->stop_at_pages = f->st.pages_written + 64;
    fake_run(f);
    tap_ok(f->st.mismatches == 1 && f->st.last_mismatch_pfn == 24,
           "status: one mismatch at pfn 24");
    tap_ok(f->mismatch_count == 1 && f->last_mismatch == 24,
           "mismatch port: pfn 24, once");
    tap_ok(strstr(f->con, "ledger mismatch at pfn 0x18 gen 1 word 12") !=
           NULL, "console line names pfn, gen and word");
    xmg_workload_verify((uintptr_t)f->mem, MEM_BYTES, &f->st, &bad, &first);
    tap_ok(bad == 0 && led[20] == 2, "the page was rewritten anyway");

    /* generation wrap skips 0 */
    led[0] = UINT32_MAX;
    xmg_page_write(page(f, 4), 4, UINT32_MAX, XMG_PATTERN_FILL);
    {
        struct xmg_env env = fake_env(f);

        xmg_page_op(&env, &f->st, 0);
    }
    tap_ok(led[0] == 1 && xmg_page_verify(page(f, 4), 4, 1) &&
           f->st.mismatches == 1, "gen wraps from 2^32-1 to 1");

    /* stop() at once: nothing happens */
    i = f->st.pages_written;
    f->stop_at_pages = 0;
    f->stop_after_calls = 1;
    fake_run(f);
    tap_ok(f->st.pages_written == i && f->stop_calls == 1,
           "stop() true at once: run returns before any op");
    fake_free(f);
}

static void test_random_run(void)
{
    struct fake *f = fake_new("ws_pages=100 rate=max mode=random "
                              "pattern=random seed=7", TSC_KHZ);
    uint64_t bad = 99, sum = 0, rng0, i;
    unsigned touched = 0;
    uint32_t *led;
    struct xmg_status copy;

    fake_init(f);
    led = ledger(f);
    rng0 = f->st.rng;
    tap_ok(rng0 != 0, "rng seeded, not 0");
    tap_is_u64(xmg_next_index(&f->st), rng0 % 100, "index = rng % ws_pages");
    f->stop_at_pages = 1000;
    fake_run(f);
    for (i = 0; i < 100; i++) {
        sum += led[i];
        touched += led[i] != 0;
    }
    tap_is_u64(sum, 1000, "ledger generations add up to pages_written");
    tap_ok(touched > 90, "random mode spreads over the working set (%u)",
           touched);
    xmg_workload_verify((uintptr_t)f->mem, MEM_BYTES, &f->st, &bad, NULL);
    tap_ok(bad == 0 && f->st.mismatches == 0, "all pages verify");
    tap_ok(!xmg_page_check(page(f, f->st.ws_first_pfn), f->st.ws_first_pfn,
                           led[0], XMG_PATTERN_FILL) || led[0] == 0,
           "pages hold the random pattern, not fill");

    /* same seed, same sequence */
    copy = f->st;
    fake_free(f);
    f = fake_new("ws_pages=100 rate=max mode=random pattern=random seed=7",
                 TSC_KHZ);
    fake_init(f);
    f->stop_at_pages = 1000;
    fake_run(f);
    tap_ok(f->st.rng == copy.rng, "deterministic for a seed");
    fake_free(f);
}

static void test_idle(void)
{
    struct fake *f = fake_new("ws_pages=16 hb_us=1000", TSC_KHZ);
    bool zero = true;
    uint64_t i;

    fake_init(f);
    f->stop_at_tsc = f->tsc + 100 * 1000;       /* 100 ms */
    fake_run(f);
    for (i = 0; i < 16; i++)
        zero = zero && page_zero(page(f, f->st.ws_first_pfn + i));
    tap_ok(f->st.pages_written == 0 && zero, "rate 0: nothing written");
    tap_ok(f->hb_count >= 99 && f->hb_count <= 102,
           "rate 0: heartbeats every 1 ms (%u in 100 ms)", f->hb_count);
    fake_free(f);
}

static void test_prefill(void)
{
    struct fake *f = fake_new("ws_pages=16 hb_us=1000 prefill=1", TSC_KHZ);
    bool once = true;
    uint64_t i;
    uint32_t *led;

    fake_init(f);
    tap_is_u64(f->st.prefill_left, 16, "prefill=1: 16 pages to write first");
    led = ledger(f);
    f->stop_at_tsc = f->tsc + 100 * 1000;       /* 100 ms */
    fake_run(f);
    for (i = 0; i < 16; i++)
        once = once && led[i] == 1 &&
               xmg_page_check(page(f, f->st.ws_first_pfn + i),
                              f->st.ws_first_pfn + i, 1, XMG_PATTERN_FILL);
    tap_ok(f->st.pages_written == 16 && f->st.prefill_left == 0 && once,
           "prefill, rate 0: every page written once, then nothing");
    tap_ok(f->hb_count >= 99 && f->hb_count <= 102,
           "  and heartbeats every 1 ms (%u in 100 ms)", f->hb_count);
    fake_free(f);
}

static void test_shutdown_request(void)
{
    struct fake *f = fake_new("ws_pages=16 rate=1000 hb_us=1000", TSC_KHZ);
    uint64_t hb;

    fake_init(f);
    /* Not the magic: no request. */
    f->params.shutdown_req = 1;
    f->stop_at_tsc = f->tsc + 10 * 1000;        /* 10 ms */
    fake_run(f);
    tap_ok(f->exit_count == 0 && f->hb_count >= 9,
           "shutdown_req without the magic is ignored");

    /* Asked: stops at the next heartbeat with exit code 0. */
    f->params.shutdown_req = XMG_SHUTDOWN_MAGIC;
    f->stop_at_tsc = f->tsc + 1000 * 1000;      /* safety: 1 s */
    hb = f->hb_count;
    fake_run(f);
    tap_is_int((int)f->exit_count, 1, "shutdown request: exit port written");
    tap_is_u64(f->exit_val, XMG_EXIT_OK, "shutdown request: exit code 0");
    tap_ok(f->hb_count <= hb + 1 && f->tsc < f->stop_at_tsc,
           "shutdown request: seen at the next heartbeat");
    tap_ok(strstr(f->con, "xm-guest: shutdown requested\n") != NULL,
           "shutdown request: printed on the console");
    fake_free(f);
}

static void test_rate(void)
{
    struct fake *f = fake_new("ws_pages=64 rate=1000 hb_us=1000", TSC_KHZ);
    uint64_t n, hb;

    fake_init(f);
    f->stop_at_tsc = f->tsc + TSC_KHZ * 1000;   /* 1 s */
    fake_run(f);
    tap_ok(f->st.pages_written >= 995 && f->st.pages_written <= 1005,
           "rate 1000: ~1000 pages in 1 s (%llu)",
           (unsigned long long)f->st.pages_written);
    tap_ok(f->hb_count >= 995 && f->hb_count <= 1005,
           "1000 heartbeats in 1 s (%u)", f->hb_count);

    /* a 10 s pause (the vCPU was stopped): bounded burst, one heartbeat */
    f->tsc += 10ull * TSC_KHZ * 1000;
    n = f->st.pages_written;
    hb = f->st.hb_seq;
    f->stop_at_tsc = f->tsc + 500;              /* half a page's time */
    fake_run(f);
    n = f->st.pages_written - n;
    tap_ok(n >= 10 && n <= 12, "after a pause at most ~10 ms of writes "
           "(%llu pages)", (unsigned long long)n);
    tap_is_u64(f->st.hb_seq - hb, 1, "one late heartbeat, not 10000");
    tap_ok((int64_t)(f->st.next_hb_tsc - f->tsc) > 0,
           "next heartbeat scheduled from now (%lld)",
           (long long)(f->st.next_hb_tsc - f->tsc));

    /* the TSC goes back 10 s (another host): heartbeats go on */
    f->tsc -= 10ull * TSC_KHZ * 1000;
    hb = f->st.hb_seq;
    n = f->st.pages_written;
    f->stop_at_tsc = f->tsc + 10 * 1000;        /* 10 ms */
    fake_run(f);
    tap_ok(f->st.hb_seq - hb >= 9 && f->st.hb_seq - hb <= 12,
           "TSC went back: heartbeats continue (%llu in 10 ms)",
           (unsigned long long)(f->st.hb_seq - hb));
    tap_ok(f->st.pages_written - n >= 9 && f->st.pages_written - n <= 12,
           "and so do the page writes (%llu in 10 ms)",
           (unsigned long long)(f->st.pages_written - n));
    fake_free(f);
}

static void test_status_valid(void)
{
    struct fake *f = fake_new("ws_pages=64", TSC_KHZ);
    struct xmg_status s;

    fake_init(f);
    s = f->st;
    tap_ok(xmg_status_valid(&s, MEM_BYTES), "valid status");
    tap_ok(!xmg_status_valid(&s, (4 + 63) << 12), "ws past RAM rejected");
    s.ledger_gpa = 0x4000;
    tap_ok(!xmg_status_valid(&s, MEM_BYTES), "ledger over ws rejected");
    s = f->st;
    s.ws_first_pfn = UINT64_MAX >> 4;
    tap_ok(!xmg_status_valid(&s, MEM_BYTES), "huge pfn rejected");
    s = f->st;
    s.magic = 0;
    tap_is_int(xmg_workload_verify((uintptr_t)f->mem, MEM_BYTES, &s, NULL,
                                   NULL), -22, "verify refuses a bad status");
    fake_free(f);
}

int main(void)
{
    test_parse_defaults();
    test_parse_valid();
    test_parse_errors();
    test_init_errors();
    test_init_ok();
    test_tsc_khz_choice();
    test_patterns();
    test_seq_run();
    test_random_run();
    test_idle();
    test_prefill();
    test_shutdown_request();
    test_rate();
    test_status_valid();
    return tap_done();
}
