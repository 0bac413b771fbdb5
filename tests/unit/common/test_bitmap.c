/*
 * test_bitmap.c - bitmaps: single bits, searching, counting, whole-map
 * operations, and the bits past nbits staying zero.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "xt.h"
#include "../../tap.h"

/* A reference bitmap, one bool per bit, to compare against. */
static uint64_t ref_popcount(const bool *ref, uint64_t nbits)
{
    uint64_t i, n = 0;

    for (i = 0; i < nbits; i++)
        n += ref[i];
    return n;
}

static uint64_t ref_find_next(const bool *ref, uint64_t nbits, uint64_t from)
{
    for (; from < nbits; from++) {
        if (ref[from])
            return from;
    }
    return nbits;
}

/* True if no bit at or above nbits is set in the words of the map. */
static bool tail_clear(const uint64_t *bm, uint64_t nbits)
{
    uint64_t words = XT_BITMAP_WORDS(nbits);

    if (nbits % 64 == 0)
        return true;
    return (bm[words - 1] >> (nbits % 64)) == 0;
}

static void test_single_bits(void)
{
    uint64_t *bm = xt_bitmap_alloc(200);
    bool zero = true, only = true;
    uint64_t i;

    if (!bm)
        tap_bail("xt_bitmap_alloc failed");
    for (i = 0; i < 200; i++)
        zero = zero && !xt_bitmap_test(bm, i);
    tap_ok(zero, "alloc gives a zeroed map");

    xt_bitmap_set(bm, 0);
    xt_bitmap_set(bm, 63);
    xt_bitmap_set(bm, 64);
    xt_bitmap_set(bm, 199);
    tap_ok(xt_bitmap_test(bm, 0) && xt_bitmap_test(bm, 63) &&
           xt_bitmap_test(bm, 64) && xt_bitmap_test(bm, 199),
           "set bits test true (0, 63, 64, 199)");
    for (i = 0; i < 200; i++) {
        if (i != 0 && i != 63 && i != 64 && i != 199 && xt_bitmap_test(bm, i))
            only = false;
    }
    tap_ok(only, "no other bit set");
    tap_is_u64(bm[0], 0x8000000000000001ull, "word 0 layout (bit i = 1<<i)");
    tap_is_u64(bm[1], 1, "word 1 layout");

    xt_bitmap_set(bm, 63);
    tap_is_u64(xt_bitmap_popcount(bm, 200), 4, "setting twice is idempotent");
    xt_bitmap_clear(bm, 63);
    tap_ok(!xt_bitmap_test(bm, 63) && xt_bitmap_test(bm, 64) &&
           xt_bitmap_test(bm, 0), "clear only that bit");
    xt_bitmap_clear(bm, 63);
    tap_is_u64(xt_bitmap_popcount(bm, 200), 3, "clearing twice is harmless");
    free(bm);

    bm = xt_bitmap_alloc(0);
    tap_ok(bm != NULL, "alloc of 0 bits is not NULL");
    free(bm);
}

static void test_find_next(void)
{
    uint64_t nbits = 300;
    uint64_t *bm = xt_bitmap_alloc(nbits);
    static const uint64_t bits[] = { 5, 63, 64, 127, 128, 255, 299 };
    uint64_t i, at, want;
    bool seq_ok = true;

    if (!bm)
        tap_bail("xt_bitmap_alloc failed");
    tap_is_u64(xt_bitmap_find_next(bm, nbits, 0), nbits, "empty map: nbits");
    for (i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
        xt_bitmap_set(bm, bits[i]);

    /* Walking the set bits finds each one, in order. */
    at = 0;
    for (i = 0; i < sizeof(bits) / sizeof(bits[0]); i++) {
        at = xt_bitmap_find_next(bm, nbits, at);
        if (at != bits[i])
            seq_ok = false;
        at++;
    }
    tap_ok(seq_ok, "walk finds 5 63 64 127 128 255 299");
    tap_is_u64(xt_bitmap_find_next(bm, nbits, 300), nbits, "from == nbits");
    tap_is_u64(xt_bitmap_find_next(bm, nbits, 1000), nbits, "from > nbits");
    tap_is_u64(xt_bitmap_find_next(bm, nbits, 6), 63, "from inside word 0");
    tap_is_u64(xt_bitmap_find_next(bm, nbits, 65), 127,
               "from inside word 1 to its top bit");
    tap_is_u64(xt_bitmap_find_next(bm, nbits, 129), 255,
               "across a wholly empty word (word 2 to 3)");
    tap_is_u64(xt_bitmap_find_next(bm, nbits, 256), 299,
               "last bit of the map");
    xt_bitmap_clear(bm, 299);
    tap_is_u64(xt_bitmap_find_next(bm, nbits, 256), nbits,
               "nothing after: nbits");

    /* A stray bit past nbits (in the same word) is not reported. */
    xt_bitmap_set(bm, 310);
    tap_is_u64(xt_bitmap_find_next(bm, nbits, 256), nbits,
               "bit past nbits ignored");
    xt_bitmap_clear(bm, 310);

    /* Against the reference, from every position. */
    {
        bool ref[300] = { false };
        bool all_ok = true;

        xt_bitmap_zero(bm, nbits);
        for (i = 0; i < nbits; i++) {
            if ((i * 2654435761u) % 11 == 0) {
                ref[i] = true;
                xt_bitmap_set(bm, i);
            }
        }
        for (i = 0; i <= nbits; i++) {
            want = ref_find_next(ref, nbits, i);
            if (xt_bitmap_find_next(bm, nbits, i) != want)
                all_ok = false;
        }
        tap_ok(all_ok, "find_next matches the reference from every bit");
        tap_is_u64(xt_bitmap_popcount(bm, nbits), ref_popcount(ref, nbits),
                   "popcount matches the reference");
    }
    free(bm);
}

static void test_popcount(void)
{
    static const uint64_t sizes[] = { 1, 63, 64, 65, 100, 128, 129, 1000 };
    uint64_t *bm;
    size_t i;

    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        /* One word more than needed, all ones: bits past nbits must not
         * be counted. */
        bm = calloc(XT_BITMAP_WORDS(sizes[i]) + 1, sizeof(uint64_t));
        if (!bm)
            tap_bail("out of memory");
        memset(bm, 0xff, (XT_BITMAP_WORDS(sizes[i]) + 1) * sizeof(uint64_t));
        tap_ok(xt_bitmap_popcount(bm, sizes[i]) == sizes[i],
               "popcount of %llu ones, with ones past the end",
               (unsigned long long)sizes[i]);
        free(bm);
    }
    bm = xt_bitmap_alloc(64);
    tap_is_u64(xt_bitmap_popcount(bm, 0), 0, "popcount of 0 bits");
    free(bm);
}

static void test_whole_map(void)
{
    static const uint64_t sizes[] = { 1, 64, 70, 128, 191 };
    uint64_t *a, *b, n;
    size_t i;

    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        n = sizes[i];
        a = xt_bitmap_alloc(n);
        b = xt_bitmap_alloc(n);
        if (!a || !b)
            tap_bail("xt_bitmap_alloc failed");

        xt_bitmap_fill(a, n);
        tap_ok(xt_bitmap_popcount(a, n) == n && tail_clear(a, n) &&
               xt_bitmap_test(a, n - 1),
               "fill %llu: all set, none past the end",
               (unsigned long long)n);
        tap_ok(xt_bitmap_find_next(a, n, n - 1) == n - 1,
               "fill %llu: last bit found", (unsigned long long)n);

        xt_bitmap_zero(a, n);
        tap_ok(xt_bitmap_popcount(a, n) == 0 && a[0] == 0 &&
               a[XT_BITMAP_WORDS(n) - 1] == 0,
               "zero %llu: all clear", (unsigned long long)n);

        /* or: b has ones everywhere including its tail (as if dirty). */
        memset(b, 0xff, XT_BITMAP_WORDS(n) * sizeof(uint64_t));
        xt_bitmap_set(a, 0);
        xt_bitmap_or(a, b, n);
        tap_ok(xt_bitmap_popcount(a, n) == n && tail_clear(a, n),
               "or %llu: union, no bit past the end taken",
               (unsigned long long)n);

        xt_bitmap_zero(a, n);
        xt_bitmap_zero(b, n);
        xt_bitmap_set(a, 0);
        xt_bitmap_set(b, n - 1);
        xt_bitmap_or(a, b, n);
        tap_ok(xt_bitmap_test(a, 0) && xt_bitmap_test(a, n - 1) &&
               xt_bitmap_popcount(a, n) == (n > 1 ? 2 : 1) &&
               xt_bitmap_popcount(b, n) == 1 && xt_bitmap_test(b, n - 1),
               "or %llu: dst |= src, src unchanged",
               (unsigned long long)n);
        free(a);
        free(b);
    }
}

int main(void)
{
    test_single_bits();
    test_find_next();
    test_popcount();
    test_whole_map();
    return tap_done();
}
