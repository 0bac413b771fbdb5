/*
 * cli_message.c - the message commands, in xe's syntax: message-list,
 * the pool's alerts (the newest the master keeps).
 */
#include "config.h"

#include "cli.h"

/* xe message-list's fields (xe calls cls "class"). */
static const char *const message_dflt[] = {
    "uuid", "name", "priority", "cls", "obj_uuid", "timestamp", "body",
    NULL
};

int cli_message_list(struct cli_ctx *cli)
{
    return cli_list(cli, "message", message_dflt);
}
