/*
 * xt_uuid.c - random (version 4) UUIDs and their canonical text form.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "xt.h"

/* Offsets of the dashes in the 8-4-4-4-12 form. */
static bool is_dash_pos(size_t i)
{
    return i == 8 || i == 13 || i == 18 || i == 23;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int xt_uuid_generate(struct xt_uuid *u)
{
    size_t done = 0;
    ssize_t r;

    while (done < sizeof(u->b)) {
        r = getrandom(u->b + done, sizeof(u->b) - done, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        done += (size_t)r;
    }
    u->b[6] = (u->b[6] & 0x0f) | 0x40;  /* version 4 */
    u->b[8] = (u->b[8] & 0x3f) | 0x80;  /* variant 10xx (RFC 4122) */
    return 0;
}

int xt_uuid_parse(const char *s, struct xt_uuid *u)
{
    struct xt_uuid tmp;
    size_t i, n = 0;
    int hi, lo;

    if (!s || strlen(s) != XT_UUID_STRLEN)
        return -EINVAL;
    for (i = 0; i < XT_UUID_STRLEN; ) {
        if (is_dash_pos(i)) {
            if (s[i] != '-')
                return -EINVAL;
            i++;
            continue;
        }
        /* Two hex digits, never split by a dash: dashes sit at even
         * offsets within the digits. */
        hi = hex_value(s[i]);
        lo = hex_value(s[i + 1]);
        if (hi < 0 || lo < 0)
            return -EINVAL;
        tmp.b[n++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    *u = tmp;
    return 0;
}

void xt_uuid_format(const struct xt_uuid *u, char buf[XT_UUID_STRLEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    size_t i, n = 0;

    for (i = 0; i < sizeof(u->b); i++) {
        if (is_dash_pos(n))
            buf[n++] = '-';
        buf[n++] = digits[u->b[i] >> 4];
        buf[n++] = digits[u->b[i] & 0x0f];
    }
    buf[n] = '\0';
}

bool xt_uuid_equal(const struct xt_uuid *a, const struct xt_uuid *b)
{
    return memcmp(a->b, b->b, sizeof(a->b)) == 0;
}

bool xt_uuid_is_nil(const struct xt_uuid *u)
{
    static const struct xt_uuid nil;

    return xt_uuid_equal(u, &nil);
}
