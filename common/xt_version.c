/*
 * xt_version.c - software versions compared as a person reads them.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "xt.h"

int xt_version_cmp(const char *a, const char *b)
{
    while (*a || *b) {
        char *ea, *eb;
        unsigned long x = strtoul(a, &ea, 10), y = strtoul(b, &eb, 10);

        if (x != y)
            return x < y ? -1 : 1;
        /* Not a number on one side: the rest compared as text. */
        if ((ea == a && *a) || (eb == b && *b))
            return strcmp(a, b) < 0 ? -1 : strcmp(a, b) > 0;
        a = *ea == '.' ? ea + 1 : ea;
        b = *eb == '.' ? eb + 1 : eb;
    }
    return 0;
}
