/*
 * workload.c - the test guest's workload (see workload.h): portable C that
 * runs freestanding in the guest's ring 3 and hosted in the sim engine.
 * No libc, no inline assembly; the host is reached through struct xmg_env.
 */
#include "workload.h"

/* A counter a host reads while the workload runs (the sim engine's
 * GUEST_STATS, from another thread): stored whole, never torn.  One
 * writer, so a plain read of the old value is enough. */
#define PUBLISH(field, value) \
    __atomic_store_n(&(field), (value), __ATOMIC_RELAXED)

#define WORDS_PER_PAGE  (XMG_PAGE_SIZE / sizeof(uint64_t))
#define MAX_PAGES       (XMG_MAX_MEM_BYTES >> XMG_PAGE_SHIFT)
#define PAGES_PER_MIB   ((1u << 20) >> XMG_PAGE_SHIFT)
#define BLOCKS_PER_MIB  ((1u << 20) / XMG_DISK_BLOCK)
#define WORDS_PER_BLOCK (XMG_DISK_BLOCK / sizeof(uint64_t))
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
                       uint64_t *ws_mib_r, bool *ws_pages_set_r,
                       uint64_t *disk_ws_mib_r)
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
    } else if (str_is(tok, klen, "disk_rate_mib")) {
        if (str_is(val, vlen, "max"))
            cfg->disk_rate = XMG_RATE_MAX;
        else if (parse_range(val, vlen, 0, UINT32_MAX, &v))
            cfg->disk_rate = v * BLOCKS_PER_MIB;
        else
            return XMG_EXIT_BAD_PARAMS;
    } else if (str_is(tok, klen, "disk_ws_mib")) {
        if (!parse_range(val, vlen, 1, UINT32_MAX, disk_ws_mib_r))
            return XMG_EXIT_BAD_PARAMS;
    } else if (str_is(tok, klen, "disk_batch")) {
        if (!parse_range(val, vlen, 1, XMG_DISK_BATCH_MAX, &cfg->disk_batch))
            return XMG_EXIT_BAD_PARAMS;
    } else if (str_is(tok, klen, "disk_nonce")) {
        if (!parse_range(val, vlen, 1, UINT64_MAX, &cfg->disk_nonce))
            return XMG_EXIT_BAD_PARAMS;
    } else if (str_is(tok, klen, "disk_resume")) {
        if (!parse_u64(val, vlen, &cfg->disk_resume))
            return XMG_EXIT_BAD_PARAMS;
    } else if (str_is(tok, klen, "disk_stop_after")) {
        if (!parse_u64(val, vlen, &cfg->disk_stop_after))
            return XMG_EXIT_BAD_PARAMS;
    } else if (str_is(tok, klen, "disk_hp_stamp")) {
        if (!parse_range(val, vlen, 0, 1, &cfg->disk_hp_stamp))
            return XMG_EXIT_BAD_PARAMS;
    } else if (str_is(tok, klen, "prefill")) {
        if (!parse_range(val, vlen, 0, 1, &cfg->prefill))
            return XMG_EXIT_BAD_PARAMS;
    } else {
        return XMG_EXIT_BAD_PARAMS;
    }
    return 0;
}

/* The last "key=" token in cmdline (for an error about it). */
static const char *find_key(const char *cmdline, size_t max, const char *key)
{
    const char *found = cmdline;
    size_t i = 0;

    while (i < max && cmdline[i]) {
        size_t start, k = 0;

        while (i < max && cmdline[i] && is_space(cmdline[i]))
            i++;
        start = i;
        while (i < max && cmdline[i] && !is_space(cmdline[i]))
            i++;
        while (key[k] && start + k < i && cmdline[start + k] == key[k])
            k++;
        if (!key[k] && start + k < i && cmdline[start + k] == '=')
            found = cmdline + start;
    }
    return found;
}

int xmg_parse_cmdline(const char *cmdline, size_t max,
                      struct xmg_config *cfg, const char **bad_r)
{
    uint64_t ws_mib = XMG_DEFAULT_WS_MIB, disk_ws_mib = 0;
    bool ws_pages_set = false;
    size_t i = 0;

    cfg->ws_pages = 0;
    cfg->rate = 0;
    cfg->mode = XMG_MODE_SEQ;
    cfg->pattern = XMG_PATTERN_FILL;
    cfg->seed = XMG_DEFAULT_SEED;
    cfg->hb_us = XMG_DEFAULT_HB_US;
    cfg->tsc_khz = 0;
    cfg->disk_rate = 0;
    cfg->disk_ws_blocks = 0;
    cfg->disk_batch = XMG_DEFAULT_DISK_BATCH;
    cfg->disk_nonce = 0;
    cfg->disk_resume = 0;
    cfg->disk_stop_after = 0;
    cfg->prefill = 0;
    cfg->disk_hp_stamp = 0;

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
                         &ws_pages_set, &disk_ws_mib);
        if (rc) {
            if (bad_r)
                *bad_r = cmdline + start;
            return rc;
        }
    }
    if (!ws_pages_set)
        cfg->ws_pages = ws_mib * PAGES_PER_MIB;
    cfg->disk_ws_blocks = disk_ws_mib * BLOCKS_PER_MIB;
    /* Resuming an earlier boot's disk means knowing its nonce. */
    if (cfg->disk_resume && !cfg->disk_nonce) {
        if (bad_r)
            *bad_r = find_key(cmdline, max, "disk_resume");
        return XMG_EXIT_BAD_PARAMS;
    }
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

/* ---- latency histogram (section 6.6) ------------------------------------- */

unsigned xmg_lat_bucket(uint64_t ticks)
{
    unsigned e, b;

    if (ticks < XMG_LAT_SUB)
        return (unsigned)ticks;
    e = 63u - (unsigned)__builtin_clzll(ticks);     /* e >= SUB_BITS */
    b = (e - XMG_LAT_SUB_BITS + 1) * XMG_LAT_SUB +
        (unsigned)((ticks >> (e - XMG_LAT_SUB_BITS)) - XMG_LAT_SUB);
    return b < XMG_LAT_BUCKETS ? b : XMG_LAT_BUCKETS - 1;
}

uint64_t xmg_lat_lo(unsigned b)
{
    unsigned e;

    if (b < XMG_LAT_SUB)
        return b;
    e = b / XMG_LAT_SUB + XMG_LAT_SUB_BITS - 1;
    return (uint64_t)(XMG_LAT_SUB + b % XMG_LAT_SUB) << (e - XMG_LAT_SUB_BITS);
}

uint64_t xmg_lat_percentile(const uint64_t *hist, unsigned permille)
{
    uint64_t total = 0, rank, cum = 0;
    unsigned b;

    for (b = 0; b < XMG_LAT_BUCKETS; b++)
        total += hist[b];
    if (!total)
        return 0;
    if (permille > 1000)
        permille = 1000;
    /* the smallest rank r with r >= total * permille / 1000, at least 1 */
    rank = total / 1000 * permille + (total % 1000 * permille + 999) / 1000;
    if (!rank)
        rank = 1;
    for (b = 0; b < XMG_LAT_BUCKETS - 1; b++) {
        cum += hist[b];
        if (cum >= rank)
            break;
    }
    return xmg_lat_lo(b) + (xmg_lat_lo(b + 1) - xmg_lat_lo(b)) / 2;
}

/* ---- disk stamps --------------------------------------------------------- */

/* Word k of the stamp of (nonce, disk, block, gen >= 1). */
static uint64_t stamp_word(uint64_t seed, uint64_t nonce, uint64_t disk,
                           uint64_t block, uint32_t gen, size_t k)
{
    switch (k) {
    case 0:
        return XMG_DISK_MAGIC;
    case 1:
        return nonce;
    case 2:
        return disk;
    case 3:
        return block;
    case 4:
        return gen;
    case 5:
        return seed;
    default:
        return xmg_disk_word(seed, k);
    }
}

void xmg_disk_stamp(void *buf, uint64_t nonce, uint64_t disk,
                    uint64_t block, uint32_t gen)
{
    uint64_t seed = xmg_disk_seed(nonce, disk, block, gen);
    uint64_t *w = buf;
    size_t k;

    for (k = 0; k < WORDS_PER_BLOCK; k++)
        w[k] = stamp_word(seed, nonce, disk, block, gen, k);
}

bool xmg_disk_check(const void *buf, uint64_t nonce, uint64_t disk,
                    uint64_t block, uint32_t gen, size_t *word_r)
{
    const uint64_t *w = buf;
    uint64_t seed, acc = 0;
    size_t k;

    if (gen == 0) {
        /* Zeroes, an earlier boot's stamp, anything not ours. */
        if (w[0] != XMG_DISK_MAGIC || w[1] != nonce)
            return true;
        if (word_r)
            *word_r = 0;
        return false;
    }
    seed = xmg_disk_seed(nonce, disk, block, gen);
    for (k = 0; k < WORDS_PER_BLOCK; k++)
        acc |= w[k] ^ stamp_word(seed, nonce, disk, block, gen, k);
    if (acc == 0)
        return true;
    if (word_r) {
        for (k = 0; k < WORDS_PER_BLOCK; k++)
            if (w[k] != stamp_word(seed, nonce, disk, block, gen, k))
                break;
        *word_r = k;
    }
    return false;
}

uint32_t xmg_disk_resume_gen(uint64_t idx, uint64_t total, uint64_t writes)
{
    if (total == 0 || idx >= writes)
        return 0;
    return (uint32_t)((writes - 1 - idx) / total + 1);
}

void xmg_disk_locate(uint64_t idx, uint64_t nr, uint64_t ws_blocks,
                     uint64_t batch, uint64_t *k_r, uint64_t *block_r)
{
    uint64_t chunk = idx / batch;

    (void)ws_blocks;
    *k_r = chunk % nr;
    *block_r = (chunk / nr) * batch + idx % batch;
}

/* ---- status ------------------------------------------------------------ */

static uint64_t ledger_bytes(uint64_t ws_pages)
{
    return (ws_pages * sizeof(uint32_t) + XMG_PAGE_SIZE - 1) &
           ~(uint64_t)(XMG_PAGE_SIZE - 1);
}

/* The disk workload's part of a status page: off, or its ledger and
 * buffers after the working set and inside RAM, its indices in range. */
static bool disk_status_valid(const struct xmg_status *st,
                              uint64_t mem_bytes)
{
    uint64_t ws_end = (st->ws_first_pfn + st->ws_pages) << XMG_PAGE_SHIFT;
    uint64_t nr = st->nr_disks, wsb = st->disk_ws_blocks;
    uint64_t led = st->disk_ledger_gpa, buf = st->disk_buf_gpa;

    if (st->disk_phase == XMG_DISK_OFF)
        return true;
    if (st->disk_phase > XMG_DISK_FAILED || nr == 0 ||
        nr > XMG_MAX_DISKS || st->disk_batch == 0 ||
        st->disk_batch > XMG_DISK_BATCH_MAX || wsb == 0 ||
        wsb > (1ull << 32) || wsb % st->disk_batch ||
        st->disk_cursor >= nr * wsb)
        return false;
    if (led < ws_end || (led & (XMG_PAGE_SIZE - 1)) ||
        led > XMG_MAX_MEM_BYTES || buf > XMG_MAX_MEM_BYTES ||
        led + ledger_bytes(nr * wsb) > buf ||
        (buf & (XMG_PAGE_SIZE - 1)))
        return false;
    return buf + XMG_DISK_BATCH_MAX * XMG_DISK_BLOCK <= mem_bytes;
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
    if (((first + ws_pages) << XMG_PAGE_SHIFT) > mem_bytes)
        return false;
    if ((st->disk_hp_flags & XMG_HP_F_STAMP) &&
        (st->disk_hp_buf_gpa > XMG_MAX_MEM_BYTES ||
         st->disk_hp_buf_gpa + 2 * XMG_DISK_BLOCK > mem_bytes ||
         st->disk_hp_buf_gpa < ((first + ws_pages) << XMG_PAGE_SHIFT)))
        return false;
    return disk_status_valid(st, mem_bytes);
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

static bool have_disk_ops(const struct xmg_env *env)
{
    return env->nr_disks && env->disk_sectors && env->disk_flags &&
           env->blk_io;
}

static void disk_banner(const struct xmg_env *env,
                        const struct xmg_status *st)
{
    uint64_t k;

    con_puts(env, "xm-guest: disk workload on ");
    con_putu(env, st->nr_disks);
    con_puts(env, " disks (");
    for (k = 0; k < st->nr_disks; k++) {
        if (k)
            con_putc(env, ' ');
        con_putu(env, (st->disk_map >> (8 * k)) & 0xff);
        if (st->disk_flush_mask & (1ull << k))
            con_puts(env, "+flush");
    }
    con_puts(env, ") ws ");
    con_putu(env, st->disk_ws_blocks);
    con_puts(env, " blocks per disk rate ");
    if (st->disk_rate == XMG_RATE_MAX)
        con_puts(env, "max");
    else
        con_putu(env, st->disk_rate);
    con_puts(env, " batch ");
    con_putu(env, st->disk_batch);
    con_puts(env, " nonce ");
    con_putx(env, st->disk_nonce);
    con_puts(env, " ledger ");
    con_putx(env, st->disk_ledger_gpa);
    con_puts(env, " cursor ");
    con_putu(env, st->disk_cursor);
    con_putc(env, '\n');
}

/*
 * The disk workload's set-up (section 6.5), into *st (already zeroed and
 * holding the memory workload): picks the writable disks, sizes the
 * working set, lays the disk ledger and the buffers out after the memory
 * working set (ws_end) inside mem bytes, scrubs the ledger and fills it
 * for disk_resume.  0 or XMG_EXIT_*, said on the console.
 */
static int disk_setup(const struct xmg_env *env,
                      const struct xmg_config *cfg, struct xmg_status *st,
                      uint64_t ws_end, uint64_t mem)
{
    uint64_t nr = 0, wsb = cfg->disk_ws_blocks, total, lbytes, i;
    unsigned n = 0, d;
    uint32_t *led;

    if (cfg->disk_rate == 0)
        return 0;
    if (have_disk_ops(env))
        n = env->nr_disks(env->opaque);
    if (!wsb)
        wsb = (uint64_t)XMG_DEFAULT_DISK_WS_MIB * BLOCKS_PER_MIB;
    for (d = 0; d < n && nr < XMG_MAX_DISKS; d++) {
        unsigned fl = env->disk_flags(env->opaque, d);
        uint64_t blocks = env->disk_sectors(env->opaque, d) /
                          XMG_DISK_BLOCK_SECTORS;

        if (fl & XMG_BLK_F_ABSENT)
            continue;       /* a hole in the host's numbers */
        if ((fl & XMG_BLK_F_RO) || blocks < cfg->disk_batch) {
            con_puts(env, "xm-guest: disk ");
            con_putu(env, d);
            con_puts(env, (fl & XMG_BLK_F_RO) ? " is read-only"
                                               : " is too small");
            con_puts(env, ", not used\n");
            continue;
        }
        if (blocks < wsb)
            wsb = blocks;
        st->disk_map |= (uint64_t)d << (8 * nr);
        if (fl & XMG_BLK_F_FLUSH)
            st->disk_flush_mask |= 1ull << nr;
        nr++;
    }
    if (nr == 0) {
        con_puts(env, "xm-guest: disk_rate_mib given but no usable disk\n");
        return XMG_EXIT_NO_DISK;
    }
    if (wsb > (1ull << 32))
        wsb = 1ull << 32;
    wsb -= wsb % cfg->disk_batch;
    total = nr * wsb;
    if (cfg->disk_resume / total >= UINT32_MAX) {
        con_puts(env, "xm-guest: disk_resume too large\n");
        return XMG_EXIT_BAD_PARAMS;
    }
    lbytes = ledger_bytes(total);
    if (ws_end + lbytes + XMG_DISK_BATCH_MAX * XMG_DISK_BLOCK > mem) {
        con_puts(env, "xm-guest: disk ledger of ");
        con_putu(env, total);
        con_puts(env, " blocks does not fit in RAM\n");
        return XMG_EXIT_NO_MEMORY;
    }
    st->nr_disks = nr;
    st->disk_ws_blocks = wsb;
    st->disk_ledger_gpa = ws_end;
    st->disk_buf_gpa = ws_end + lbytes;
    st->disk_rate = cfg->disk_rate;
    st->disk_batch = cfg->disk_batch;
    st->disk_nonce = cfg->disk_nonce;
    if (!st->disk_nonce)
        st->disk_nonce = mix64(env->tsc(env->opaque) ^ XMG_DISK_MAGIC);
    if (!st->disk_nonce)
        st->disk_nonce = 1;
    st->disk_stop_after = cfg->disk_stop_after;
    st->disk_phase = XMG_DISK_CHECK;
    st->disk_cursor = cfg->disk_resume % total;
    led = gpa_ptr(env->mem_base, ws_end);
    if (!env->mem_zeroed)
        scrub(env, ws_end, lbytes >> XMG_PAGE_SHIFT);
    if (cfg->disk_resume)
        for (i = 0; i < total; i++)
            led[i] = xmg_disk_resume_gen(i, total, cfg->disk_resume);
    return 0;
}

/* ---- disk hot-plug: set-up (section 6.7) --------------------------------- */

static bool have_hp_ops(const struct xmg_env *env)
{
    return have_disk_ops(env) && env->hp_in && env->hp_out &&
           env->disk_attach && env->disk_forget && env->disk_slot;
}

/* A PRESENT that a controller may hold: slots 1..XMG_HP_SLOTS only (no
 * controller reads all ones). */
static bool hp_mask_ok(uint32_t present)
{
    return !(present & ~XMG_HP_SLOT_MASK);
}

/* The controller's GEN and PRESENT before the disks are probed, so that a
 * disk plugged meanwhile is seen at the first poll. */
static void hp_begin(const struct xmg_env *env, uint32_t *gen_r,
                     uint32_t *present_r)
{
    *gen_r = 0;
    *present_r = ~0u;
    if (!have_hp_ops(env))
        return;
    *gen_r = env->hp_in(env->opaque, XMG_HP_GEN);
    *present_r = env->hp_in(env->opaque, XMG_HP_PRESENT);
}

/*
 * The hot-plug part of *st: whether a controller answered, the disks the
 * guest uses now (those the disk workload's set-up found) and which of
 * them its ledger is on, and for disk_hp_stamp=1 the two block buffers
 * after everything else (from *end, which moves past them; 0 or
 * XMG_EXIT_NO_MEMORY, said on the console).
 */
static int hp_setup(const struct xmg_env *env, const struct xmg_config *cfg,
                    struct xmg_status *st, uint32_t gen, uint32_t present,
                    uint64_t *end, uint64_t mem)
{
    unsigned n = 0, d, slot;
    uint64_t k;

    if (!have_hp_ops(env) || !hp_mask_ok(present))
        return 0;
    st->disk_hp_flags = XMG_HP_F_ON;
    /* Not gen: an eject the host asked for while we booted is answered
     * at the first poll, not missed until the next change. */
    st->disk_hp_gen_seen = (uint32_t)~gen;
    if (st->disk_phase != XMG_DISK_OFF)
        n = env->nr_disks(env->opaque);
    for (d = 0; d < n; d++) {
        slot = env->disk_slot(env->opaque, d);
        if ((env->disk_flags(env->opaque, d) & XMG_BLK_F_ABSENT) ||
            slot < 1 || slot > XMG_HP_SLOTS)
            continue;
        st->disk_hp_slots |= 1ull << slot;
        st->disk_hp_map |= (uint64_t)(d + 1) << (8 * (slot - 1));
        for (k = 0; k < st->nr_disks; k++)
            if (((st->disk_map >> (8 * k)) & 0xff) == d)
                st->disk_hp_ledger |= 1ull << slot;
    }
    /* Ours lists every disk the probe found; another device at these
     * ports (QEMU's ACPI PCI hot-plug registers read 0 there) does not:
     * then there is no controller to follow. */
    if (st->disk_hp_slots & ~(uint64_t)present) {
        st->disk_hp_flags = 0;
        st->disk_hp_slots = st->disk_hp_map = st->disk_hp_ledger = 0;
        st->disk_hp_gen_seen = 0;
        return 0;
    }
    /* Present before the probe, or found by it: not new. */
    st->disk_hp_present = present | st->disk_hp_slots;
    if (!cfg->disk_hp_stamp)
        return 0;
    if (*end + 2 * XMG_DISK_BLOCK > mem) {
        con_puts(env, "xm-guest: no room for the hot-plug stamp buffers\n");
        return XMG_EXIT_NO_MEMORY;
    }
    st->disk_hp_flags |= XMG_HP_F_STAMP;
    st->disk_hp_buf_gpa = *end;
    *end += 2 * XMG_DISK_BLOCK;
    if (!st->disk_nonce)
        st->disk_nonce = mix64(env->tsc(env->opaque) ^ XMG_DISK_MAGIC);
    if (!st->disk_nonce)
        st->disk_nonce = 1;
    return 0;
}

int xmg_workload_init(const struct xmg_env *env, struct xmg_params *p,
                      struct xmg_status *st, uint64_t image_end)
{
    struct xmg_config cfg;
    const char *bad = NULL;
    uint64_t mem, ledger_gpa, ws_gpa, tsc_khz, hb_ticks, now, end;
    uint32_t hp_gen, hp_present;
    uint64_t *w;
    size_t i;
    int rc;

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
                      "seed hb_us tsc_khz disk_rate_mib disk_ws_mib disk_batch "
                      "disk_nonce disk_resume disk_stop_after "
                      "disk_hp_stamp prefill)\n");
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

    /* The magic first, atomically: a host reading the page meanwhile (the
     * sim engine's GUEST_STATS) looks at nothing else until it is set. */
    __atomic_store_n(&st->magic, 0, __ATOMIC_RELAXED);
    w = (uint64_t *)st;
    for (i = 1; i < sizeof(*st) / sizeof(uint64_t); i++)
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
    st->prefill_left = cfg.prefill ? cfg.ws_pages : 0;
    st->disk_credit_tsc = now;
    st->disk_hp_next_tsc = now;
    hp_begin(env, &hp_gen, &hp_present);
    end = ws_gpa + (cfg.ws_pages << XMG_PAGE_SHIFT);
    rc = disk_setup(env, &cfg, st, end, mem);
    if (st->disk_phase != XMG_DISK_OFF)
        end = st->disk_buf_gpa + XMG_DISK_BATCH_MAX * XMG_DISK_BLOCK;
    if (!rc)
        rc = hp_setup(env, &cfg, st, hp_gen, hp_present, &end, mem);
    if (rc)
        return init_fail(env, rc);
    __atomic_store_n(&st->magic, XMG_STATUS_MAGIC, __ATOMIC_RELEASE);

    banner(env, st, &cfg, mem);
    if (st->disk_phase != XMG_DISK_OFF)
        disk_banner(env, st);
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
        PUBLISH(st->last_mismatch_pfn, pfn);
        PUBLISH(st->mismatches, st->mismatches + 1);
        report_mismatch(env, st, w, pfn, gen);
    }
    gen++;
    if (gen == 0)
        gen = 1;
    xmg_page_write(w, pfn, gen, st->pattern);
    ledger[idx] = gen;
    PUBLISH(st->pages_written, st->pages_written + 1);
}

static void heartbeat(const struct xmg_env *env, struct xmg_status *st,
                      uint64_t now)
{
    PUBLISH(st->hb_seq, st->hb_seq + 1);
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

/* ---- the disk workload (section 6.5) ------------------------------------ */

static unsigned env_disk(const struct xmg_status *st, uint64_t k)
{
    return (unsigned)((st->disk_map >> (8 * k)) & 0xff);
}

/* The batch at the cursor: n blocks from global index idx, all on
 * workload disk *k_r from *block_r, never past the chunk nor past
 * disk_stop_after. */
static uint64_t disk_batch_at(const struct xmg_status *st, uint64_t *k_r,
                              uint64_t *block_r)
{
    uint64_t idx = st->disk_cursor, n;

    xmg_disk_locate(idx, st->nr_disks, st->disk_ws_blocks, st->disk_batch,
                    k_r, block_r);
    n = st->disk_batch - idx % st->disk_batch;
    if (st->disk_stop_after && st->disk_stop_after - st->disk_writes < n)
        n = st->disk_stop_after - st->disk_writes;
    return n;
}

static void disk_fail(const struct xmg_env *env, struct xmg_status *st,
                      unsigned disk, uint64_t block, const char *what,
                      int64_t why)
{
    PUBLISH(st->disk_errors, st->disk_errors + 1);
    st->disk_phase = XMG_DISK_FAILED;
    env->out(env->opaque, XMG_PORT_DISK_ERROR, disk);
    con_puts(env, "xm-guest: disk ");
    con_putu(env, disk);
    con_puts(env, " block ");
    con_putu(env, block);
    con_putc(env, ' ');
    con_puts(env, what);
    if (why < 0) {
        con_puts(env, " failed: error ");
        con_putu(env, (uint64_t)-why);
    } else {
        con_puts(env, " failed: status ");
        con_putu(env, (uint64_t)why);
    }
    con_puts(env, "; disk workload stopped\n");
}

/* One write batch's latency into the histogram; a TSC that went back
 * (the guest moved hosts meanwhile) counts as 0. */
static void lat_record(struct xmg_status *st, uint64_t ticks)
{
    if ((int64_t)ticks < 0)
        ticks = 0;
    st->disk_wlat_hist[xmg_lat_bucket(ticks)]++;
    st->disk_wlat_batches++;
    st->disk_wlat_sum += ticks;
    if (ticks > st->disk_wlat_max)
        st->disk_wlat_max = ticks;
}

/* Runs the requests, timing them (section 6.6); false (after disk_fail)
 * if any did not succeed. */
static bool disk_io(const struct xmg_env *env, struct xmg_status *st,
                    unsigned disk, uint64_t block, struct xmg_blk_req *r,
                    unsigned n, const char *what)
{
    uint64_t t0 = env->tsc(env->opaque), t1;
    int rc = env->blk_io(env->opaque, disk, r, n);
    unsigned i;

    t1 = env->tsc(env->opaque);
    if (!st->disk_t0_tsc)
        st->disk_t0_tsc = t0 ? t0 : 1;
    st->disk_t1_tsc = t1;
    if (rc < 0) {
        disk_fail(env, st, disk, block, what, rc);
        return false;
    }
    for (i = 0; i < n; i++) {
        if (r[i].status != XMG_BLK_S_OK) {
            disk_fail(env, st, disk, block + i, what, r[i].status);
            return false;
        }
    }
    if (r[0].type == XMG_BLK_T_OUT)
        lat_record(st, t1 - t0);
    return true;
}

static void disk_mismatch(const struct xmg_env *env, struct xmg_status *st,
                          unsigned disk, uint64_t block, uint32_t gen,
                          const uint64_t *w, size_t word)
{
    uint64_t seed = xmg_disk_seed(st->disk_nonce, disk, block, gen);

    PUBLISH(st->last_disk_mismatch_disk, disk);
    PUBLISH(st->last_disk_mismatch_block, block);
    PUBLISH(st->disk_mismatches, st->disk_mismatches + 1);
    env->out(env->opaque, XMG_PORT_DISK_MISMATCH, (uint32_t)block);
    con_puts(env, "xm-guest: disk ledger mismatch at disk ");
    con_putu(env, disk);
    con_puts(env, " block ");
    con_putu(env, block);
    con_puts(env, " gen ");
    con_putu(env, gen);
    con_puts(env, " word ");
    con_putu(env, word);
    con_puts(env, " is ");
    con_putx(env, w[word]);
    if (gen) {
        con_puts(env, " want ");
        con_putx(env, stamp_word(seed, st->disk_nonce, disk, block, gen,
                                 word));
    }
    if (w[0] == XMG_DISK_MAGIC && w[1] == st->disk_nonce) {
        con_puts(env, " (holds disk ");
        con_putu(env, w[2]);
        con_puts(env, " block ");
        con_putu(env, w[3]);
        con_puts(env, " gen ");
        con_putu(env, w[4]);
        con_putc(env, ')');
    }
    con_putc(env, '\n');
}

/* Reads the batch at the cursor and checks it against the ledger. */
static void disk_check(const struct xmg_env *env, struct xmg_status *st)
{
    struct xmg_blk_req r[XMG_DISK_BATCH_MAX];
    const uint32_t *led = gpa_ptr(env->mem_base, st->disk_ledger_gpa);
    uint64_t k, block, n = disk_batch_at(st, &k, &block), i;
    unsigned disk = env_disk(st, k);

    for (i = 0; i < n; i++) {
        r[i].type = XMG_BLK_T_IN;
        r[i].status = 0xff;
        r[i].sector = (block + i) * XMG_DISK_BLOCK_SECTORS;
        r[i].buf = gpa_ptr(env->mem_base,
                           st->disk_buf_gpa + i * XMG_DISK_BLOCK);
        r[i].len = XMG_DISK_BLOCK;
    }
    if (!disk_io(env, st, disk, block, r, (unsigned)n, "read"))
        return;
    for (i = 0; i < n; i++) {
        uint32_t gen = led[st->disk_cursor + i];
        size_t word = 0;

        if (!xmg_disk_check(r[i].buf, st->disk_nonce, disk, block + i, gen,
                            &word))
            disk_mismatch(env, st, disk, block + i, gen, r[i].buf, word);
    }
    PUBLISH(st->disk_reads, st->disk_reads + n);
    st->disk_phase = XMG_DISK_WRITE;
}

/* Writes the next generation of the batch at the cursor. */
static void disk_write(const struct xmg_env *env, struct xmg_status *st)
{
    struct xmg_blk_req r[XMG_DISK_BATCH_MAX];
    uint32_t *led = gpa_ptr(env->mem_base, st->disk_ledger_gpa);
    uint64_t k, block, n = disk_batch_at(st, &k, &block), i;
    unsigned disk = env_disk(st, k);

    for (i = 0; i < n; i++) {
        uint32_t gen = led[st->disk_cursor + i] + 1;

        r[i].type = XMG_BLK_T_OUT;
        r[i].status = 0xff;
        r[i].sector = (block + i) * XMG_DISK_BLOCK_SECTORS;
        r[i].buf = gpa_ptr(env->mem_base,
                           st->disk_buf_gpa + i * XMG_DISK_BLOCK);
        r[i].len = XMG_DISK_BLOCK;
        xmg_disk_stamp(r[i].buf, st->disk_nonce, disk, block + i,
                       gen ? gen : 1);
    }
    if (!disk_io(env, st, disk, block, r, (unsigned)n, "write"))
        return;
    for (i = 0; i < n; i++) {
        uint32_t gen = led[st->disk_cursor + i] + 1;

        led[st->disk_cursor + i] = gen ? gen : 1;
    }
    PUBLISH(st->disk_writes, st->disk_writes + n);
    st->disk_unflushed += n;
    st->disk_dirty_mask |= 1ull << k;
    st->disk_cursor += n;
    if (st->disk_cursor >= st->nr_disks * st->disk_ws_blocks)
        st->disk_cursor = 0;
    if (st->disk_stop_after && st->disk_writes >= st->disk_stop_after)
        st->disk_phase = (st->disk_dirty_mask & st->disk_flush_mask)
                         ? XMG_DISK_FLUSH : XMG_DISK_DONE;
    else if (st->disk_unflushed >= XMG_DISK_FLUSH_EVERY &&
             (st->disk_dirty_mask & st->disk_flush_mask))
        st->disk_phase = XMG_DISK_FLUSH;
    else
        st->disk_phase = XMG_DISK_CHECK;
}

/* Flushes the lowest written-to disk that has FLUSH; then CHECK (or DONE)
 * once none is left. */
static void disk_flush(const struct xmg_env *env, struct xmg_status *st)
{
    uint64_t todo = st->disk_dirty_mask & st->disk_flush_mask, k = 0;
    struct xmg_blk_req r = { .type = XMG_BLK_T_FLUSH, .status = 0xff };

    if (todo) {
        while (!(todo & (1ull << k)))
            k++;
        if (!disk_io(env, st, env_disk(st, k), 0, &r, 1, "flush"))
            return;
        st->disk_flushes++;
        todo &= ~(1ull << k);
    }
    /* Disks without FLUSH need none (their writes are durable). */
    st->disk_dirty_mask = todo;
    if (todo)
        return;
    st->disk_unflushed = 0;
    st->disk_phase = st->disk_stop_after &&
                     st->disk_writes >= st->disk_stop_after
                     ? XMG_DISK_DONE : XMG_DISK_CHECK;
}

static bool disk_active(const struct xmg_status *st)
{
    return st->disk_phase >= XMG_DISK_CHECK &&
           st->disk_phase <= XMG_DISK_FLUSH;
}

/* One disk operation if one is due (true), else false with *wake_r moved
 * to when the next write batch is paid for.  cap: see xmg_workload_run. */
static bool disk_op(const struct xmg_env *env, struct xmg_status *st,
                    uint64_t now, uint64_t cost, uint64_t cap,
                    uint64_t *wake_r)
{
    uint64_t k, block, n;

    switch (st->disk_phase) {
    case XMG_DISK_CHECK:
        disk_check(env, st);
        return true;
    case XMG_DISK_FLUSH:
        disk_flush(env, st);
        return true;
    case XMG_DISK_WRITE:
        break;
    default:
        return false;
    }
    n = disk_batch_at(st, &k, &block);
    if (cost) {
        if ((int64_t)(st->disk_credit_tsc - (now - cap)) < 0)
            st->disk_credit_tsc = now - cap;
        else if ((int64_t)(st->disk_credit_tsc - now) >
                 (int64_t)(n * cost))
            st->disk_credit_tsc = now;
        if ((int64_t)(st->disk_credit_tsc - now) > 0) {
            *wake_r = earlier(*wake_r, st->disk_credit_tsc);
            return false;
        }
        st->disk_credit_tsc += n * cost;
    }
    disk_write(env, st);
    return true;
}

/* ---- disk hot-plug: the controller's events (section 6.7) --------------- */

#define HP_POLL_MS      10u     /* how often GEN is read */
#define WL_ENODEV       19

static unsigned hp_disk(const struct xmg_status *st, unsigned slot)
{
    return (unsigned)((st->disk_hp_map >> (8 * (slot - 1))) & 0xff);
}

/* Lets the disk in slot go: never touched again. */
static void hp_forget(const struct xmg_env *env, struct xmg_status *st,
                      unsigned slot)
{
    unsigned d1 = hp_disk(st, slot);

    if (d1)
        env->disk_forget(env->opaque, d1 - 1);
    st->disk_hp_map &= ~(0xffull << (8 * (slot - 1)));
    PUBLISH(st->disk_hp_slots, st->disk_hp_slots & ~(1ull << slot));
}

static void hp_say(const struct xmg_env *env, unsigned slot, const char *what)
{
    con_puts(env, "xm-guest: disk in slot ");
    con_putu(env, slot);
    con_puts(env, what);
}

/* A request of the stamp that did not succeed: a disk error, counted and
 * reported as the disk workload's are; that workload goes on. */
static bool hp_io(const struct xmg_env *env, struct xmg_status *st,
                  unsigned d, unsigned slot, struct xmg_blk_req *r,
                  const char *what)
{
    int rc = env->blk_io(env->opaque, d, r, 1);

    if (rc == 0 && r->status == XMG_BLK_S_OK)
        return true;
    PUBLISH(st->disk_errors, st->disk_errors + 1);
    env->out(env->opaque, XMG_PORT_DISK_ERROR, d);
    hp_say(env, slot, ": stamp ");
    con_puts(env, what);
    con_puts(env, rc < 0 ? " failed: error " : " failed: status ");
    con_putu(env, rc < 0 ? (uint64_t)-rc : r->status);
    con_putc(env, '\n');
    return false;
}

/* Writes the stamp (nonce, disk = slot, block, gen 1) on block, flushes,
 * reads it back and checks it. */
static void hp_stamp(const struct xmg_env *env, struct xmg_status *st,
                     unsigned d, unsigned slot, uint64_t block,
                     unsigned flags)
{
    uint8_t *buf = gpa_ptr(env->mem_base, st->disk_hp_buf_gpa);
    struct xmg_blk_req r = {
        .type = XMG_BLK_T_OUT, .status = 0xff,
        .sector = block * XMG_DISK_BLOCK_SECTORS, .buf = buf,
        .len = XMG_DISK_BLOCK,
    };
    size_t word = 0;

    xmg_disk_stamp(buf, st->disk_nonce, slot, block, 1);
    if (!hp_io(env, st, d, slot, &r, "write"))
        return;
    r = (struct xmg_blk_req){ .type = XMG_BLK_T_FLUSH, .status = 0xff };
    if ((flags & XMG_BLK_F_FLUSH) && !hp_io(env, st, d, slot, &r, "flush"))
        return;
    r = (struct xmg_blk_req){
        .type = XMG_BLK_T_IN, .status = 0xff,
        .sector = block * XMG_DISK_BLOCK_SECTORS,
        .buf = buf + XMG_DISK_BLOCK, .len = XMG_DISK_BLOCK,
    };
    if (!hp_io(env, st, d, slot, &r, "read"))
        return;
    if (!xmg_disk_check(r.buf, st->disk_nonce, slot, block, 1, &word)) {
        disk_mismatch(env, st, slot, block, 1, r.buf, word);
        return;
    }
    PUBLISH(st->disk_hp_stamps, st->disk_hp_stamps + 1);
    hp_say(env, slot, ": stamped block ");
    con_putu(env, block);
    con_puts(env, ", flushed, read back\n");
}

/* A disk that appeared in slot: set it up, maybe stamp it.  It is never
 * part of the disk workload (whose striping is fixed at boot). */
static void hp_attach(const struct xmg_env *env, struct xmg_status *st,
                      unsigned slot)
{
    int d = env->disk_attach(env->opaque, slot);
    uint64_t sectors;
    unsigned flags;

    if (d < 0 || d > 0xfe) {
        hp_say(env, slot, " plugged, but not usable: error ");
        con_putu(env, (uint64_t)(d < 0 ? -d : d));
        con_putc(env, '\n');
        return;
    }
    sectors = env->disk_sectors(env->opaque, (unsigned)d);
    flags = env->disk_flags(env->opaque, (unsigned)d);
    st->disk_hp_map |= (uint64_t)(d + 1) << (8 * (slot - 1));
    PUBLISH(st->disk_hp_slots, st->disk_hp_slots | 1ull << slot);
    PUBLISH(st->disk_hp_attached, st->disk_hp_attached + 1);
    hp_say(env, slot, " plugged: disk ");
    con_putu(env, (uint64_t)d);
    con_puts(env, " sectors ");
    con_putu(env, sectors);
    con_puts(env, (flags & XMG_BLK_F_RO) ? " ro\n" : "\n");
    if ((st->disk_hp_flags & XMG_HP_F_STAMP) && !(flags & XMG_BLK_F_RO) &&
        sectors >= XMG_DISK_BLOCK_SECTORS)
        hp_stamp(env, st, (unsigned)d, slot,
                 sectors / XMG_DISK_BLOCK_SECTORS - 1, flags);
}

/* The host asks slot back: refused while the disk workload's ledger is on
 * it (and the workload not OFF or DONE), else let go and acknowledged. */
static void hp_eject(const struct xmg_env *env, struct xmg_status *st,
                     unsigned slot)
{
    if ((st->disk_hp_ledger & (1ull << slot)) &&
        st->disk_phase != XMG_DISK_OFF && st->disk_phase != XMG_DISK_DONE) {
        PUBLISH(st->disk_hp_refused, st->disk_hp_refused + 1);
        hp_say(env, slot, ": eject refused, the disk workload's ledger is "
               "on it\n");
        env->hp_out(env->opaque, XMG_HP_EJECT_REFUSE, 1u << slot);
        return;
    }
    hp_forget(env, st, slot);
    st->disk_hp_ledger &= ~(1ull << slot);
    PUBLISH(st->disk_hp_ejected, st->disk_hp_ejected + 1);
    hp_say(env, slot, ": released, eject acknowledged\n");
    env->hp_out(env->opaque, XMG_HP_EJECT_ACK, 1u << slot);
}

/* A disk gone without an eject (a forced removal).  Under the disk
 * workload, its requests would fail from now on: it stops at once, with
 * the error counted as for any failed request. */
static void hp_vanished(const struct xmg_env *env, struct xmg_status *st,
                        unsigned slot)
{
    unsigned d1 = hp_disk(st, slot);

    hp_say(env, slot, " vanished without an eject\n");
    if ((st->disk_hp_ledger & (1ull << slot)) && disk_active(st))
        disk_fail(env, st, d1 ? d1 - 1 : 0, 0, "request", -WL_ENODEV);
    st->disk_hp_ledger &= ~(1ull << slot);
    hp_forget(env, st, slot);
}

/* Every HP_POLL_MS: when GEN moved, what changed since the last look. */
static void hp_poll(const struct xmg_env *env, struct xmg_status *st,
                    uint64_t now, uint64_t *wake_r)
{
    uint64_t period = st->tsc_khz * HP_POLL_MS;
    uint32_t gen, present, req, bit;
    unsigned slot;

    if ((int64_t)(st->disk_hp_next_tsc - now) > (int64_t)period)
        st->disk_hp_next_tsc = now;     /* the TSC went back */
    if ((int64_t)(st->disk_hp_next_tsc - now) > 0) {
        *wake_r = earlier(*wake_r, st->disk_hp_next_tsc);
        return;
    }
    st->disk_hp_next_tsc = now + period;
    *wake_r = earlier(*wake_r, st->disk_hp_next_tsc);
    gen = env->hp_in(env->opaque, XMG_HP_GEN);
    if (gen == (uint32_t)st->disk_hp_gen_seen)
        return;
    /* GEN first: a change after this read is seen at the next poll. */
    present = env->hp_in(env->opaque, XMG_HP_PRESENT);
    req = env->hp_in(env->opaque, XMG_HP_EJECT_REQ) & present;
    PUBLISH(st->disk_hp_gen_seen, gen);
    if (!hp_mask_ok(present | req))
        return;
    for (slot = 1; slot <= XMG_HP_SLOTS; slot++) {
        bit = 1u << slot;
        if ((st->disk_hp_slots & bit) && !(present & bit))
            hp_vanished(env, st, slot);
        else if ((present & bit) && !(st->disk_hp_present & bit) &&
                 !(req & bit))
            hp_attach(env, st, slot);
        if (req & bit) {
            hp_eject(env, st, slot);
            if (!(st->disk_hp_slots & bit) && !(st->disk_hp_ledger & bit))
                present &= ~bit;    /* acknowledged: it leaves */
        }
    }
    st->disk_hp_present = present;
}

static uint64_t ticks_ns(const struct xmg_status *st, uint64_t ticks)
{
    return ticks / st->tsc_khz * 1000000 +
           ticks % st->tsc_khz * 1000000 / st->tsc_khz;
}

/* A write-latency quantile, never above the longest seen. */
static uint64_t lat_quantile(const struct xmg_status *st, unsigned permille)
{
    uint64_t q = xmg_lat_percentile(st->disk_wlat_hist, permille);

    return q < st->disk_wlat_max ? q : st->disk_wlat_max;
}

static void disk_summary(const struct xmg_env *env,
                         const struct xmg_status *st)
{
    con_puts(env, "xm-guest: disk writes ");
    con_putu(env, st->disk_writes);
    con_puts(env, " reads ");
    con_putu(env, st->disk_reads);
    con_puts(env, " flushes ");
    con_putu(env, st->disk_flushes);
    con_puts(env, " mismatches ");
    con_putu(env, st->disk_mismatches);
    con_puts(env, " errors ");
    con_putu(env, st->disk_errors);
    con_putc(env, '\n');
    if (!st->disk_wlat_batches || !st->tsc_khz)
        return;
    con_puts(env, "xm-guest: disk write batches ");
    con_putu(env, st->disk_wlat_batches);
    con_puts(env, " latency ns p50 ");
    con_putu(env, ticks_ns(st, lat_quantile(st, 500)));
    con_puts(env, " p99 ");
    con_putu(env, ticks_ns(st, lat_quantile(st, 990)));
    con_puts(env, " max ");
    con_putu(env, ticks_ns(st, st->disk_wlat_max));
    con_puts(env, " mean ");
    con_putu(env, ticks_ns(st, st->disk_wlat_sum / st->disk_wlat_batches));
    con_puts(env, " disk time us ");
    con_putu(env, ticks_ns(st, st->disk_t1_tsc - st->disk_t0_tsc) / 1000);
    con_putc(env, '\n');
}

void xmg_workload_run(const struct xmg_env *env, struct xmg_status *st)
{
    uint64_t hz = st->tsc_khz * 1000;
    uint64_t cost = 0, cap = st->tsc_khz * XMG_CREDIT_CAP_US / 1000;
    uint64_t disk_cost = 0;

    if (st->magic != XMG_STATUS_MAGIC || st->ws_pages == 0 ||
        st->disk_phase == XMG_DISK_DONE ||
        (st->disk_phase == XMG_DISK_FAILED && st->disk_stop_after))
        return;                     /* not initialised, or exited */
    /* TSC ticks one page operation pays for; 0 = no limit. */
    if (st->rate && st->rate != XMG_RATE_MAX)
        cost = hz / st->rate;
    /* TSC ticks one block write pays for; 0 = no limit. */
    if (st->disk_rate && st->disk_rate != XMG_RATE_MAX)
        disk_cost = hz / st->disk_rate;

    for (;;) {
        uint64_t now, wake;
        bool busy = false;

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
                if (st->disk_phase != XMG_DISK_OFF)
                    disk_summary(env, st);
                env->out(env->opaque, XMG_PORT_EXIT, XMG_EXIT_OK);
                return;
            }
        }
        wake = st->next_hb_tsc;

        if (st->rate && cost) {
            /* Owe at most cap ticks of writes (no burst after a pause);
             * paid at most one operation ahead (else the TSC went back). */
            if ((int64_t)(st->credit_tsc - (now - cap)) < 0)
                st->credit_tsc = now - cap;
            else if ((int64_t)(st->credit_tsc - now) > (int64_t)cost)
                st->credit_tsc = now;
            if ((int64_t)(st->credit_tsc - now) > 0) {
                wake = earlier(st->credit_tsc, wake);
            } else {
                st->credit_tsc += cost;
                busy = true;
            }
        } else if (st->rate) {
            busy = true;
        }
        /* prefill=1: the working set once, in order, before the rate. */
        if (st->prefill_left) {
            xmg_page_op(env, st, st->ws_pages - st->prefill_left);
            PUBLISH(st->prefill_left, st->prefill_left - 1);
            busy = true;
        } else if (busy) {
            xmg_page_op(env, st, xmg_next_index(st));
            advance(st);
        }

        if (st->disk_hp_flags & XMG_HP_F_ON) {
            hp_poll(env, st, now, &wake);
            /* A run that was to end by itself ends when its disk went. */
            if (st->disk_phase == XMG_DISK_FAILED && st->disk_stop_after) {
                disk_summary(env, st);
                env->out(env->opaque, XMG_PORT_EXIT, XMG_EXIT_DISK_ERROR);
                return;
            }
        }
        /* At most one disk operation per iteration, so a heartbeat waits
         * for at most one page and one request batch. */
        if (disk_active(st)) {
            if (disk_op(env, st, now, disk_cost, cap, &wake))
                busy = true;
            if (st->disk_phase == XMG_DISK_DONE) {
                con_puts(env, "xm-guest: disk_stop_after reached\n");
                disk_summary(env, st);
                env->out(env->opaque, XMG_PORT_EXIT, XMG_EXIT_OK);
                return;
            }
            /* A run that was to end by itself ends now, saying so. */
            if (st->disk_phase == XMG_DISK_FAILED && st->disk_stop_after) {
                disk_summary(env, st);
                env->out(env->opaque, XMG_PORT_EXIT, XMG_EXIT_DISK_ERROR);
                return;
            }
        }
        if (!busy)
            idle(env, wake);
    }
}
