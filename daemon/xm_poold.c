/*
 * xm_poold.c - main() of xm-poold: the daemon core (libpoold.a) serving
 * the XenAPI service (pd_xenapi.h, pd_service.c).
 */
#include "config.h"

#include <curl/curl.h>

#include "poold.h"

extern const struct pd_service xa_service;

int main(int argc, char **argv)
{
    int status;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    status = pd_main(argc, argv, &xa_service);
    curl_global_cleanup();
    return status;
}
