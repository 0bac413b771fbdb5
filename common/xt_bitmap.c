/*
 * xt_bitmap.c - bitmaps over 64-bit words.  Bits at or above nbits in the
 * last word are kept zero by every function that writes whole words.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "xt.h"

/* XT_BITMAP_WORDS() without its overflow at the top of the range. */
static uint64_t words_of(uint64_t nbits)
{
    return nbits / 64 + (nbits % 64 != 0);
}

/* Mask of the valid bits of the last word (all ones if it is full). */
static uint64_t last_word_mask(uint64_t nbits)
{
    return nbits % 64 ? (1ull << (nbits % 64)) - 1 : ~0ull;
}

uint64_t *xt_bitmap_alloc(uint64_t nbits)
{
    uint64_t words = words_of(nbits);

    if (words > SIZE_MAX / sizeof(uint64_t)) {
        errno = ENOMEM;
        return NULL;
    }
    /* At least one word, so that 0 bits is not mistaken for ENOMEM. */
    return calloc(words ? (size_t)words : 1, sizeof(uint64_t));
}

uint64_t xt_bitmap_find_next(const uint64_t *bm, uint64_t nbits, uint64_t from)
{
    uint64_t i, w, nwords = words_of(nbits);
    unsigned int bit;

    if (from >= nbits)
        return nbits;
    i = from / 64;
    w = bm[i] & (~0ull << (from % 64));
    for (;;) {
        if (w) {
            bit = (unsigned int)__builtin_ctzll(w);
            return i * 64 + bit < nbits ? i * 64 + bit : nbits;
        }
        if (++i >= nwords)
            return nbits;
        w = bm[i];
    }
}

uint64_t xt_bitmap_popcount(const uint64_t *bm, uint64_t nbits)
{
    uint64_t i, full = nbits / 64, count = 0;

    for (i = 0; i < full; i++)
        count += (uint64_t)__builtin_popcountll(bm[i]);
    if (nbits % 64)
        count += (uint64_t)__builtin_popcountll(bm[full] &
                                                last_word_mask(nbits));
    return count;
}

void xt_bitmap_or(uint64_t *dst, const uint64_t *src, uint64_t nbits)
{
    uint64_t i, nwords = words_of(nbits);

    if (nwords == 0)
        return;
    for (i = 0; i < nwords - 1; i++)
        dst[i] |= src[i];
    dst[i] |= src[i] & last_word_mask(nbits);
}

void xt_bitmap_zero(uint64_t *bm, uint64_t nbits)
{
    memset(bm, 0, (size_t)words_of(nbits) * sizeof(uint64_t));
}

void xt_bitmap_fill(uint64_t *bm, uint64_t nbits)
{
    uint64_t nwords = words_of(nbits);

    if (nwords == 0)
        return;
    memset(bm, 0xff, (size_t)nwords * sizeof(uint64_t));
    bm[nwords - 1] = last_word_mask(nbits);
}
