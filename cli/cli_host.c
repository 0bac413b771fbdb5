/*
 * cli_host.c - the host commands: host-list.
 */
#include "config.h"

#include "cli.h"

static const char *const host_dflt[] = {
    "uuid", "name_label", "address", "enabled", NULL
};

int cli_host_list(struct cli_ctx *cli)
{
    return cli_list(cli, "host", host_dflt);
}
