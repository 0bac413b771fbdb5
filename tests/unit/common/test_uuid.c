/*
 * test_uuid.c - UUID generation, parsing and formatting.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "xt.h"
#include "../../tap.h"

#define N_GENERATED 256

static void test_generate(void)
{
    struct xt_uuid u[N_GENERATED];
    char s[XT_UUID_STRLEN + 1];
    bool version_ok = true, variant_ok = true, unique = true, text_ok = true;
    size_t i, j;
    int rc = 0;

    for (i = 0; i < N_GENERATED && rc == 0; i++)
        rc = xt_uuid_generate(&u[i]);
    tap_is_int(rc, 0, "generate 256 UUIDs");

    for (i = 0; i < N_GENERATED; i++) {
        if ((u[i].b[6] >> 4) != 4)
            version_ok = false;
        if ((u[i].b[8] & 0xc0) != 0x80)
            variant_ok = false;
        xt_uuid_format(&u[i], s);
        if (s[14] != '4' || !strchr("89ab", s[19]))
            text_ok = false;
        for (j = 0; j < i; j++) {
            if (xt_uuid_equal(&u[i], &u[j]))
                unique = false;
        }
    }
    tap_ok(version_ok, "version nibble is 4");
    tap_ok(variant_ok, "variant bits are 10");
    tap_ok(text_ok, "text form shows version 4 and variant 8-b");
    tap_ok(unique, "all distinct");
    tap_ok(!xt_uuid_is_nil(&u[0]), "generated UUID is not nil");
}

static void test_round_trip(void)
{
    static const char text[] = "0123abcd-4567-89ef-a0b1-c2d3e4f5a6b7";
    static const char upper[] = "0123ABCD-4567-89EF-A0B1-C2D3E4F5A6B7";
    static const uint8_t bytes[16] = {
        0x01, 0x23, 0xab, 0xcd, 0x45, 0x67, 0x89, 0xef,
        0xa0, 0xb1, 0xc2, 0xd3, 0xe4, 0xf5, 0xa6, 0xb7,
    };
    struct xt_uuid u, v, g;
    char s[XT_UUID_STRLEN + 2];

    tap_is_int(xt_uuid_parse(text, &u), 0, "parse lowercase");
    tap_ok(memcmp(u.b, bytes, 16) == 0, "parsed bytes in order");
    memset(s, 'X', sizeof(s));
    xt_uuid_format(&u, s);
    tap_is_str(s, text, "format gives back the text");
    tap_is_int(s[XT_UUID_STRLEN], '\0', "NUL at offset 36");
    tap_is_int(s[XT_UUID_STRLEN + 1], 'X', "nothing written past 37 bytes");

    tap_is_int(xt_uuid_parse(upper, &v), 0, "parse uppercase");
    tap_ok(xt_uuid_equal(&u, &v), "case does not matter");
    xt_uuid_format(&v, s);
    tap_is_str(s, text, "formatted lowercase");

    xt_uuid_generate(&g);
    xt_uuid_format(&g, s);
    tap_ok(xt_uuid_parse(s, &v) == 0 && xt_uuid_equal(&g, &v),
           "generated -> text -> parsed is equal");

    tap_is_int(xt_uuid_parse("00000000-0000-0000-0000-000000000000", &v), 0,
               "parse nil");
    tap_ok(xt_uuid_is_nil(&v), "nil is nil");
    xt_uuid_format(&v, s);
    tap_is_str(s, "00000000-0000-0000-0000-000000000000", "format nil");
    v.b[15] = 1;
    tap_ok(!xt_uuid_is_nil(&v), "one bit set is not nil");
}

static void test_malformed(void)
{
    static const char *const bad[] = {
        "",
        "0123abcd-4567-89ef-a0b1-c2d3e4f5a6b",      /* 35 chars */
        "0123abcd-4567-89ef-a0b1-c2d3e4f5a6b70",    /* 37 chars */
        "0123abcd-4567-89ef-a0b1-c2d3e4f5a6bg",     /* bad hex */
        "0123abcd-4567-89ef-a0b1-c2d3e4f5a6 7",     /* space */
        "x123abcd-4567-89ef-a0b1-c2d3e4f5a6b7",
        "0123abc-d4567-89ef-a0b1-c2d3e4f5a6b7",     /* dash moved */
        "0123abcd-456-789ef-a0b1-c2d3e4f5a6b7",
        "0123abcd-4567-89efa-0b1-c2d3e4f5a6b7",
        "0123abcd-4567-89ef-a0b1c-2d3e4f5a6b7",
        "0123abcd:4567-89ef-a0b1-c2d3e4f5a6b7",     /* not a dash */
        "0123abcd045670089ef0a0b10c2d3e4f5a6b7",    /* no dashes, 37 */
        "0123abcd4567-89ef-a0b1-c2d3e4f5a6b7-",
        "{123abcd-4567-89ef-a0b1-c2d3e4f5a6b7",
        "0123abcd-4567-89ef-a0b1-c2d3e4f5a6b7 ",
        "-0123abcd-4567-89ef-a0b1-c2d3e4f5a6b",
        "0x23abcd-4567-89ef-a0b1-c2d3e4f5a6b7",
    };
    struct xt_uuid u, before;
    size_t i;

    xt_uuid_generate(&u);
    before = u;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        tap_ok(xt_uuid_parse(bad[i], &u) == -EINVAL, "rejects \"%s\"",
               bad[i]);
    tap_ok(xt_uuid_equal(&u, &before), "rejected input leaves *u alone");
    tap_is_int(xt_uuid_parse(NULL, &u), -EINVAL, "NULL rejected");
}

int main(void)
{
    test_generate();
    test_round_trip();
    test_malformed();
    return tap_done();
}
