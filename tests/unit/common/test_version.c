/*
 * test_version.c - xt_version_cmp: number by number, a missing part is 0.
 */
#include "config.h"

#include <stdio.h>

#include "xt.h"
#include "../../tap.h"

int main(void)
{
    static const struct {
        const char *a, *b;
        int want;
    } cases[] = {
        { "0.1.0", "0.1.0", 0 },
        { "0.1.0", "0.1.0.1", -1 },
        { "0.1.0.1", "0.1.0", 1 },
        { "1.10", "1.9", 1 },
        { "1.2", "1.2.0", 0 },
        { "2", "10", -1 },
        { "", "0", 0 },
        { "1.2rc1", "1.2rc2", -1 },
    };
    char name[64];
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(name, sizeof(name), "'%s' vs '%s'", cases[i].a, cases[i].b);
        tap_is_int(xt_version_cmp(cases[i].a, cases[i].b), cases[i].want,
                   name);
    }
    return tap_done();
}
