/*
 * xm_poold.c - main() of xm-poold until the XenAPI layer is wired in: the
 * daemon core with a service that answers every request "503 Service
 * Unavailable", saying that no API is linked.  The program that links
 * libpoold.a with api/ and pool/ replaces this file's service.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "poold.h"

static int unavailable(void *opaque, const char *path,
                       const char *content_type, const char *body,
                       size_t len, const char *peer_addr,
                       struct pd_response *resp)
{
    static const char msg[] = "no XenAPI service is linked into this "
                              "xm-poold\n";

    resp->status = 503;
    resp->content_type = "text/plain; charset=utf-8";
    resp->body = strdup(msg);
    if (!resp->body)
        return -ENOMEM;
    resp->len = sizeof(msg) - 1;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct pd_service svc = {
        .handler = unavailable,
    };

    return pd_main(argc, argv, &svc);
}
