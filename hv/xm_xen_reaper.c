/*
 * xm-xen-reaper - destroys the Xen domains a process created and never
 * ran, once that process is gone.
 *
 * The Xen driver (hv_xen.c) starts one reaper per handle at its first
 * create and keeps the write end of a pipe to it (our stdin).  It writes
 * "+<domid>\n" when it has created a domain and "-<domid>\n" once that
 * domain runs (hv_unpause) or is destroyed.  When the pipe closes -- the
 * handle closed, or its process exited or was killed -- every domain still
 * listed is half built (an incoming migration that never committed): the
 * reaper destroys it and removes its xenstore directory, then exits.  So a
 * receiver killed mid-migration leaves no domain behind, which Xen itself
 * would not do (domains outlive their creator).
 *
 * Usage: xm-xen-reaper (stdin: the pipe).  Exit 0, or 1 when a destroy
 * failed (reported on stderr).
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xenctrl.h>
#include <xenstore.h>

#define REAPER_MAX_DOMS 1024u

int main(void)
{
    uint32_t doms[REAPER_MAX_DOMS];
    size_t n = 0, i;
    char line[32];
    xc_interface *xch = NULL;
    struct xs_handle *xsh = NULL;
    int rc = 0;

    /* Hold nothing of our creator's but the pipe: a migration socket kept
     * open here would hide the creator's death from its peer. */
    close_range(3, ~0u, 0);
    setsid();

    while (fgets(line, sizeof(line), stdin)) {
        char *end;
        unsigned long d = strtoul(line + 1, &end, 10);

        if ((line[0] != '+' && line[0] != '-') || end == line + 1 ||
            d >= DOMID_FIRST_RESERVED)
            continue;               /* not ours to act on */
        if (line[0] == '+') {
            if (n < REAPER_MAX_DOMS)
                doms[n++] = (uint32_t)d;
            continue;
        }
        for (i = 0; i < n; i++) {
            if (doms[i] == d) {
                doms[i] = doms[--n];
                break;
            }
        }
    }
    if (!n)
        return 0;

    xch = xc_interface_open(NULL, NULL, 0);
    if (!xch) {
        fprintf(stderr, "xm-xen-reaper: xc_interface_open failed: %s; "
                "%zu half-built domain(s) left\n", strerror(errno), n);
        return 1;
    }
    xsh = xs_open(0);
    for (i = 0; i < n; i++) {
        char path[64];

        if (xc_domain_destroy(xch, doms[i]) < 0 && errno != ESRCH) {
            fprintf(stderr, "xm-xen-reaper: destroying half-built domain "
                    "%u failed: %s\n", doms[i], strerror(errno));
            rc = 1;
            continue;
        }
        fprintf(stderr, "xm-xen-reaper: destroyed half-built domain %u "
                "(its creator went away before it ran)\n", doms[i]);
        if (xsh) {
            snprintf(path, sizeof(path), "/local/domain/%u", doms[i]);
            xs_rm(xsh, XBT_NULL, path);
        }
    }
    if (xsh)
        xs_close(xsh);
    xc_interface_close(xch);
    return rc;
}
