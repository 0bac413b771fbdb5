/*
 * workload.c - the test guest's workload (see workload.h): portable C that
 * runs freestanding in the guest's ring 3 and hosted in the sim engine.
 * No libc, no inline assembly; the host is reached through struct xmg_env.
 */
#include "workload.h"

#define WORDS_PER_PAGE  (XMG_PAGE_SIZE / sizeof(uint64_t))
#define MAX_PAGES       (XMG_MAX_MEM_BYTES >> XMG_PAGE_SHIFT)
#define PAGES_PER_MIB   ((1u << 20) >> XMG_PAGE_SHIFT)
#define RANDOM_MUL      0x2545f4914f6cdd1dull
/* EINVAL on Linux; a freestanding build has no <errno.h>. */
#define WL_EINVAL       22

/* ---- console ----------------------------------------------------------- */

static void con_putc(const struct xmg_env *env, char c)
{
    env->out(env->opaque, XMG_PORT_CONSOLE, (uint8_t)c);
}

static void con_puts(const struct xmg_env *env, const char *s)
{
    while (*s)
        con_putc(env, *s++);
}

static void con_putu(const struct xmg_env *env, uint64_t v)
{
    char buf[20];
    int n = 0;

    do {
        buf[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        con_putc(env, buf[--n]);
}

static void con_putx(const struct xmg_env *env, uint64_t v)
{
    char buf[16];
    int n = 0;

    do {
        buf[n++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    con_puts(env, "0x");
    while (n)
        con_putc(env, buf[--n]);
}

/* ---- command line ------------------------------------------------------ */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Decimal, or hexadecimal with 0x; the whole of s[0, n); no overflow. */
static bool parse_u64(const char *s, size_t n, uint64_t *v_r)
{
    unsigned base = 10;
    uint64_t v = 0;
    size_t i = 0;

    if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        i = 2;
    }
    if (i == n)
        return false;
    for (; i < n; i++) {
        char c = s[i];
        unsigned d;

        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (base == 16 && c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (base == 16 && c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return false;
        if (v > (UINT64_MAX - d) / base)
            return false;
        v = v * base + d;
    }
    *v_r = v;
    return true;
}

static bool str_is(const char *s, size_t n, const char *lit)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (lit[i] != s[i])
            return false;
    return lit[n] == '\0';
}

/* val in [lo, hi] */
static bool parse_range(const char *s, size_t n, uint64_t lo, uint64_t hi,
                        uint64_t *v_r)
{
    uint64_t v;

    if (!parse_u64(s, n, &v) || v < lo || v > hi)
        return false;
    *v_r = v;
    return true;
}

/* One "key=value" token: 0 or XMG_EXIT_BAD_PARAMS. */
static int parse_token(const char *tok, size_t len, struct xmg_config *cfg,
                       uint64_t *ws_mib_r, bool *ws_pages_set_r)
{
    const char *val;
    size_t klen = 0, vlen;
    uint64_t v;

    while (klen < len && tok[klen] != '=')
        klen++;
    if (klen == len)
        return XMG_EXIT_BAD_PARAMS;
    val = tok + klen + 1;
    vlen = len - klen - 1;

    if (str_is(tok, klen, "ws_mib")) {
        if (!parse_range(val, vlen, 1, UINT64_MAX / PAGES_PER_MIB, &v))
            return XMG_EXIT_BAD_PARAMS;
        *ws_mib_r = v;
    } else if (str_is(tok, klen, "ws_pages")) {
        if (!parse_range(val, vlen, 1, UINT64_MAX, &v))
            return XMG_EXIT_BAD_PARAMS;
        cfg->ws_pages = v;
        *ws_pages_set_r = true;
    } else if (str_is(tok, klen, "rate")) {
        if (str_is(val, vlen, "max"))
            cfg->rate = XMG_RATE_MAX;
        else if (parse_u64(val, vlen, &v))
            cfg->rate = v;
        else
            return XMG_EXIT_BAD_PARAMS;
    } else if (str_is(tok, klen, "rate_mib")) {
        if (str_is(val, vlen, "max"))
            cfg->rate = XMG_RATE_MAX;
        else if (parse_range(val, vlen, 0, UINT64_MAX / PAGES_PER_MIB, &v))
            cfg->rate = v * PAGES_PER_MIB;
        else
            return XMG_EXIT_BAD_PARAMS;
    } else if (str_is(tok, klen, "mode")) {
        if (str_is(val, vlen, "seq"))
            cfg->mode = XMG_MODE_SEQ;
        else if (str_is(val, vlen, "random"))
            cfg->mode = XMG_MODE_RANDOM;
        else
            return XMG_EXIT_BAD_PARAMS;
    } else if (str_is(tok, klen, "pattern")) {
        if (str_is(val, vlen, "fill"))
            cfg->pattern = XMG_PATTERN_FILL;
        else if (str_is(val, vlen, "random"))
            cfg->pattern = XMG_PATTERN_RANDOM;
        else
            return XMG_EXIT_BAD_PARAMS;
    } else if (str_is(tok, klen, "seed")) {
        if (!parse_u64(val, vlen, &cfg->seed))
            return XMG_EXIT_BAD_PARAMS;
    } else if (str_is(tok, klen, "hb_us")) {
        if (!parse_range(val, vlen, 1, XMG_MAX_HB_US, &cfg->hb_us))
            return XMG_EXIT_BAD_PARAMS;
    } else if (str_is(tok, klen, "tsc_khz")) {
        if (!parse_range(val, vlen, 1, XMG_MAX_TSC_KHZ, &cfg->tsc_khz))
            return XMG_EXIT_BAD_PARAMS;
    } else {
        return XMG_EXIT_BAD_PARAMS;
    }
    return 0;
}

int xmg_parse_cmdline(const char *cmdline, size_t max,
                      struct xmg_config *cfg, const char **bad_r)
{
    uint64_t ws_mib = XMG_DEFAULT_WS_MIB;
    bool ws_pages_set = false;
    size_t i = 0;

    cfg->ws_pages = 0;
    cfg->rate = 0;
    cfg->mode = XMG_MODE_SEQ;
    cfg->pattern = XMG_PATTERN_FILL;
    cfg->seed = XMG_DEFAULT_SEED;
    cfg->hb_us = XMG_DEFAULT_HB_US;
    cfg->tsc_khz = 0;

    for (;;) {
        size_t start;
        int rc;

        while (i < max && cmdline[i] && is_space(cmdline[i]))
            i++;
        if (i == max || !cmdline[i])
            break;
        start = i;
        while (i < max && cmdline[i] && !is_space(cmdline[i]))
            i++;
        rc = parse_token(cmdline + start, i - start, cfg, &ws_mib,
                         &ws_pages_set);
        if (rc) {
            if (bad_r)
                *bad_r = cmdline + start;
            return rc;
        }
    }
    if (!ws_pages_set)
        cfg->ws_pages = ws_mib * PAGES_PER_MIB;
    return 0;
}

/* ---- patterns ---------------------------------------------------------- */

static uint64_t xorshift64star_next(uint64_t *x)
{
    uint64_t s = *x;

    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    *x = s;
    return s * RANDOM_MUL;
}

/* The random-mode index generator (xorshift64; never reaches 0). */
static uint64_t xorshift64(uint64_t x)
{
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
}

static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static bool page_is_fill(const uint64_t *w, uint64_t v)
{
    uint64_t acc = 0;
    size_t i;

    for (i = 0; i < WORDS_PER_PAGE; i++)
        acc |= w[i] ^ v;
    return acc == 0;
}

static bool page_is_random(const uint64_t *w, uint64_t x)
{
    uint64_t acc = 0;
    size_t i;

    for (i = 0; i < WORDS_PER_PAGE; i++)
        acc |= w[i] ^ xorshift64star_next(&x);
    return acc == 0;
}

/* The first word where page w differs from pfn's pattern at gen, with the
 * word expected there; WORDS_PER_PAGE if none (diagnostics only). */
static size_t first_diff(const uint64_t *w, uint64_t pfn, uint32_t gen,
                         uint64_t pattern, uint64_t *want_r)
{
    uint64_t x = xmg_random_seed(pfn, gen), want = 0;
    size_t i;

    for (i = 0; i < WORDS_PER_PAGE; i++) {
        if (gen == 0)
            want = 0;
        else if (pattern == XMG_PATTERN_FILL)
            want = xmg_fill_word(pfn, gen);
        else
            want = xorshift64star_next(&x);
        if (w[i] != want)
            break;
    }
    *want_r = want;
    return i;
}

void xmg_page_write(void *page, uint64_t pfn, uint32_t gen,
                    uint64_t pattern)
{
    uint64_t *w = page;
    size_t i;

    if (gen == 0) {
        for (i = 0; i < WORDS_PER_PAGE; i++)
            w[i] = 0;
    } else if (pattern == XMG_PATTERN_FILL) {
        uint64_t v = xmg_fill_word(pfn, gen);

        for (i = 0; i < WORDS_PER_PAGE; i++)
            w[i] = v;
    } else {
        uint64_t x = xmg_random_seed(pfn, gen);

        for (i = 0; i < WORDS_PER_PAGE; i++)
            w[i] = xorshift64star_next(&x);
    }
}

bool xmg_page_check(const void *page, uint64_t pfn, uint32_t gen,
                    uint64_t pattern)
{
    if (gen == 0)
        return page_is_fill(page, 0);
    if (pattern == XMG_PATTERN_FILL)
        return page_is_fill(page, xmg_fill_word(pfn, gen));
    return page_is_random(page, xmg_random_seed(pfn, gen));
}

bool xmg_page_verify(const void *page, uint64_t pfn, uint32_t gen)
{
    return xmg_page_check(page, pfn, gen, XMG_PATTERN_FILL) ||
           (gen && xmg_page_check(page, pfn, gen, XMG_PATTERN_RANDOM));
}

/* ---- status ------------------------------------------------------------ */

static uint64_t ledger_bytes(uint64_t ws_pages)
{
    return (ws_pages * sizeof(uint32_t) + XMG_PAGE_SIZE - 1) &
           ~(uint64_t)(XMG_PAGE_SIZE - 1);
}

bool xmg_status_valid(const struct xmg_status *st, uint64_t mem_bytes)
{
    uint64_t ws_pages = st->ws_pages, first = st->ws_first_pfn;
    uint64_t ledger = st->ledger_gpa;

    if (st->magic != XMG_STATUS_MAGIC || st->version != XMG_ABI_VERSION)
        return false;
    if (st->mode > XMG_MODE_RANDOM || st->pattern > XMG_PATTERN_RANDOM)
        return false;
    if (ws_pages == 0 || ws_pages > MAX_PAGES || first > MAX_PAGES ||
        ledger > XMG_MAX_MEM_BYTES || (ledger & (XMG_PAGE_SIZE - 1)))
        return false;
    /* The ledger lies below the working set, which ends inside RAM. */
    if (ledger + ledger_bytes(ws_pages) > (first << XMG_PAGE_SHIFT))
        return false;
    return ((first + ws_pages) << XMG_PAGE_SHIFT) <= mem_bytes;
}

static void *gpa_ptr(uintptr_t mem_base, uint64_t gpa)
{
    return (void *)(mem_base + (uintptr_t)gpa);
}

int xmg_workload_verify(uintptr_t mem_base, uint64_t mem_bytes,
                        const struct xmg_status *st, uint64_t *bad_r,
                        uint64_t *first_bad_pfn_r)
{
    const uint32_t *ledger;
    uint64_t i, bad = 0, first_bad = 0;

    if (!xmg_status_valid(st, mem_bytes))
        return -WL_EINVAL;
    ledger = gpa_ptr(mem_base, st->ledger_gpa);
    for (i = 0; i < st->ws_pages; i++) {
        uint64_t pfn = st->ws_first_pfn + i;

        if (xmg_page_check(gpa_ptr(mem_base, pfn << XMG_PAGE_SHIFT), pfn,
                           ledger[i], st->pattern))
            continue;
        if (!bad++)
            first_bad = pfn;
    }
    if (bad_r)
        *bad_r = bad;
    if (first_bad_pfn_r)
        *first_bad_pfn_r = first_bad;
    return 0;
}

/* ---- set-up ------------------------------------------------------------ */

static int init_fail(const struct xmg_env *env, int code)
{
    env->out(env->opaque, XMG_PORT_EXIT, (uint32_t)code);
    return code;
}

/* Zeroes the pages [gpa, gpa + n pages) that are not zero already (so a
 * host's fresh, untouched memory stays untouched). */
static void scrub(const struct xmg_env *env, uint64_t gpa, uint64_t n)
{
    uint64_t i;

    for (i = 0; i < n; i++) {
        uint64_t *w = gpa_ptr(env->mem_base, gpa + (i << XMG_PAGE_SHIFT));

        if (!page_is_fill(w, 0))
            xmg_page_write(w, 0, 0, XMG_PATTERN_FILL);
    }
}

static uint64_t pick_tsc_khz(const struct xmg_env *env,
                             const struct xmg_params *p,
                             const struct xmg_config *cfg)
{
    uint64_t khz = 0;

    if (p->tsc_khz && p->tsc_khz <= XMG_MAX_TSC_KHZ)
        return p->tsc_khz;
    if (cfg->tsc_khz)
        return cfg->tsc_khz;
    if (env->tsc_khz)
        khz = env->tsc_khz(env->opaque);
    if (khz && khz <= XMG_MAX_TSC_KHZ)
        return khz;
    con_puts(env, "xm-guest: warning: TSC frequency unknown, assuming ");
    con_putu(env, XMG_FALLBACK_TSC_KHZ);
    con_puts(env, " kHz (pass tsc_khz=N)\n");
    return XMG_FALLBACK_TSC_KHZ;
}

static void banner(const struct xmg_env *env, const struct xmg_status *st,
                   const struct xmg_config *cfg, uint64_t mem_bytes)
{
    con_puts(env, "xm-guest: abi ");
    con_putu(env, XMG_ABI_VERSION);
    con_puts(env, " ws ");
    con_putu(env, st->ws_pages);
    con_puts(env, " pages at pfn ");
    con_putx(env, st->ws_first_pfn);
    con_puts(env, " ledger ");
    con_putx(env, st->ledger_gpa);
    con_puts(env, " rate ");
    if (st->rate == XMG_RATE_MAX)
        con_puts(env, "max");
    else
        con_putu(env, st->rate);
    con_puts(env, st->mode == XMG_MODE_SEQ ? " mode seq" : " mode random");
    con_puts(env, st->pattern == XMG_PATTERN_FILL ? " pattern fill"
                                                  : " pattern random");
    con_puts(env, " hb_us ");
    con_putu(env, cfg->hb_us);
    con_puts(env, " tsc_khz ");
    con_putu(env, st->tsc_khz);
    con_puts(env, " mem_mib ");
    con_putu(env, mem_bytes >> 20);
    con_putc(env, '\n');
}

int xmg_workload_init(const struct xmg_env *env, struct xmg_params *p,
                      struct xmg_status *st, uint64_t image_end)
{
    struct xmg_config cfg;
    const char *bad = NULL;
    uint64_t mem, ledger_gpa, ws_gpa, tsc_khz, hb_ticks, now;
    uint64_t *w;
    size_t i;

    if (p->magic != XMG_PARAMS_MAGIC) {
        con_puts(env, "xm-guest: no parameters (bad params magic)\n");
        return init_fail(env, XMG_EXIT_BAD_PARAMS);
    }
    if (xmg_parse_cmdline(p->cmdline, XMG_CMDLINE_MAX, &cfg, &bad)) {
        con_puts(env, "xm-guest: bad parameter '");
        for (; bad < p->cmdline + XMG_CMDLINE_MAX && *bad && !is_space(*bad);
             bad++)
            con_putc(env, *bad);
        con_puts(env, "' (keys: ws_mib ws_pages rate rate_mib mode pattern "
                      "seed hb_us tsc_khz)\n");
        return init_fail(env, XMG_EXIT_BAD_PARAMS);
    }
    tsc_khz = pick_tsc_khz(env, p, &cfg);

    /* Ledger at image_end, working set right after it, all inside RAM and
     * inside what the page tables map.  Sizes are bounded first, so none of
     * the sums below overflows. */
    mem = p->mem_bytes < XMG_MAX_MEM_BYTES ? p->mem_bytes : XMG_MAX_MEM_BYTES;
    ledger_gpa = (image_end + XMG_PAGE_SIZE - 1) &
                 ~(uint64_t)(XMG_PAGE_SIZE - 1);
    if (cfg.ws_pages > MAX_PAGES || image_end > XMG_MAX_MEM_BYTES ||
        ledger_gpa + ledger_bytes(cfg.ws_pages) +
            (cfg.ws_pages << XMG_PAGE_SHIFT) > mem) {
        con_puts(env, "xm-guest: working set of ");
        con_putu(env, cfg.ws_pages);
        con_puts(env, " pages does not fit in ");
        con_putu(env, mem >> 20);
        con_puts(env, " MiB of RAM\n");
        return init_fail(env, XMG_EXIT_NO_MEMORY);
    }
    ws_gpa = ledger_gpa + ledger_bytes(cfg.ws_pages);
    if (!env->mem_zeroed) {
        scrub(env, ledger_gpa, ledger_bytes(cfg.ws_pages) >> XMG_PAGE_SHIFT);
        scrub(env, ws_gpa, cfg.ws_pages);
    }

    hb_ticks = cfg.hb_us * tsc_khz / 1000;
    if (!hb_ticks)
        hb_ticks = 1;
    now = env->tsc(env->opaque);

    w = (uint64_t *)st;
    for (i = 0; i < sizeof(*st) / sizeof(uint64_t); i++)
        w[i] = 0;
    st->version = XMG_ABI_VERSION;
    st->ws_first_pfn = ws_gpa >> XMG_PAGE_SHIFT;
    st->ws_pages = cfg.ws_pages;
    st->ledger_gpa = ledger_gpa;
    st->rate = cfg.rate;
    st->mode = cfg.mode;
    st->pattern = cfg.pattern;
    st->hb_ticks = hb_ticks;
    st->tsc_khz = tsc_khz;
    st->next_hb_tsc = now;          /* the first heartbeat at once */
    st->cursor = 0;
    st->rng = mix64(cfg.seed);
    if (!st->rng)
        st->rng = 1;
    st->credit_tsc = now;
    __atomic_store_n(&st->magic, XMG_STATUS_MAGIC, __ATOMIC_RELEASE);

    banner(env, st, &cfg, mem);
    env->out(env->opaque, XMG_PORT_READY, XMG_ABI_VERSION);
    return 0;
}

/* ---- the loop ---------------------------------------------------------- */

uint64_t xmg_next_index(const struct xmg_status *st)
{
    if (st->mode == XMG_MODE_RANDOM)
        return st->rng % st->ws_pages;
    return st->cursor < st->ws_pages ? st->cursor : 0;
}

static void advance(struct xmg_status *st)
{
    if (st->mode == XMG_MODE_RANDOM) {
        st->rng = xorshift64(st->rng ? st->rng : 1);
    } else {
        st->cursor++;
        if (st->cursor >= st->ws_pages)
            st->cursor = 0;
    }
}

static void report_mismatch(const struct xmg_env *env,
                            const struct xmg_status *st, const uint64_t *w,
                            uint64_t pfn, uint32_t gen)
{
    uint64_t want;
    size_t i = first_diff(w, pfn, gen, st->pattern, &want);

    env->out(env->opaque, XMG_PORT_MISMATCH, (uint32_t)pfn);
    con_puts(env, "xm-guest: ledger mismatch at pfn ");
    con_putx(env, pfn);
    con_puts(env, " gen ");
    con_putu(env, gen);
    if (i < WORDS_PER_PAGE) {
        con_puts(env, " word ");
        con_putu(env, i);
        con_puts(env, " is ");
        con_putx(env, w[i]);
        con_puts(env, " want ");
        con_putx(env, want);
    }
    con_putc(env, '\n');
}

void xmg_page_op(const struct xmg_env *env, struct xmg_status *st,
                 uint64_t idx)
{
    uint32_t *ledger = gpa_ptr(env->mem_base, st->ledger_gpa);
    uint64_t pfn = st->ws_first_pfn + idx;
    uint64_t *w = gpa_ptr(env->mem_base, pfn << XMG_PAGE_SHIFT);
    uint32_t gen = ledger[idx];

    if (!xmg_page_check(w, pfn, gen, st->pattern)) {
        st->mismatches++;
        st->last_mismatch_pfn = pfn;
        report_mismatch(env, st, w, pfn, gen);
    }
    gen++;
    if (gen == 0)
        gen = 1;
    xmg_page_write(w, pfn, gen, st->pattern);
    ledger[idx] = gen;
    st->pages_written++;
}

static void heartbeat(const struct xmg_env *env, struct xmg_status *st,
                      uint64_t now)
{
    st->hb_seq++;
    env->out(env->opaque, XMG_PORT_HEARTBEAT, (uint32_t)st->hb_seq);
    st->next_hb_tsc += st->hb_ticks;
    /* More than a period late (a paused vCPU): the next one from now. */
    if ((int64_t)(st->next_hb_tsc - now) <= 0)
        st->next_hb_tsc = now + st->hb_ticks;
}

/* Did the host ask for a clean shutdown?  (The word is written by the
 * host while we run: read it once, atomically.) */
static bool shutdown_requested(const struct xmg_env *env)
{
    return env->params &&
           __atomic_load_n(&env->params->shutdown_req, __ATOMIC_ACQUIRE) ==
               XMG_SHUTDOWN_MAGIC;
}

static void idle(const struct xmg_env *env, uint64_t until)
{
    if (env->idle)
        env->idle(env->opaque, until);
}

static uint64_t earlier(uint64_t a, uint64_t b)
{
    return (int64_t)(a - b) < 0 ? a : b;
}

void xmg_workload_run(const struct xmg_env *env, struct xmg_status *st)
{
    uint64_t hz = st->tsc_khz * 1000;
    uint64_t cost = 0, cap = st->tsc_khz * XMG_CREDIT_CAP_US / 1000;

    if (st->magic != XMG_STATUS_MAGIC || st->ws_pages == 0)
        return;                     /* not initialised */
    /* TSC ticks one page operation pays for; 0 = no limit. */
    if (st->rate && st->rate != XMG_RATE_MAX)
        cost = hz / st->rate;

    for (;;) {
        uint64_t now;

        if (env->stop && env->stop(env->opaque))
            return;
        now = env->tsc(env->opaque);

        /* A TSC that went back (another host) must not stall us. */
        if ((int64_t)(st->next_hb_tsc - now) > (int64_t)st->hb_ticks)
            st->next_hb_tsc = now;
        if ((int64_t)(now - st->next_hb_tsc) >= 0) {
            heartbeat(env, st, now);
            if (shutdown_requested(env)) {
                con_puts(env, "xm-guest: shutdown requested\n");
                env->out(env->opaque, XMG_PORT_EXIT, XMG_EXIT_OK);
                return;
            }
        }

        if (st->rate == 0) {
            idle(env, st->next_hb_tsc);
            continue;
        }
        if (cost) {
            /* Owe at most cap ticks of writes (no burst after a pause);
             * paid at most one operation ahead (else the TSC went back). */
            if ((int64_t)(st->credit_tsc - (now - cap)) < 0)
                st->credit_tsc = now - cap;
            else if ((int64_t)(st->credit_tsc - now) > (int64_t)cost)
                st->credit_tsc = now;
            if ((int64_t)(st->credit_tsc - now) > 0) {
                idle(env, earlier(st->credit_tsc, st->next_hb_tsc));
                continue;
            }
            st->credit_tsc += cost;
        }
        xmg_page_op(env, st, xmg_next_index(st));
        advance(st);
    }
}
