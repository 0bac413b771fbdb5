/*
 * cli_pool.c - the pool commands: pool-list, pool-join, pool-eject.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *const pool_dflt[] = {
    "uuid", "name_label", "master", NULL
};

int cli_pool_list(struct cli_ctx *cli)
{
    return cli_list(cli, "pool", pool_dflt);
}

int cli_pool_join(struct cli_ctx *cli)
{
    const char *addr = cli_arg(cli, "master-address");
    const char *user = cli_arg(cli, "master-username");
    const char *pw = cli_arg(cli, "master-password");
    struct api_value *params, *v = NULL;
    int rc;

    if (!addr || !user || !pw)
        return cli_usage_error(cli, "pool-join needs master-address=, "
                               "master-username= and master-password=");
    params = api_array();
    rc = api_array_append(params, api_string(addr));
    if (!rc)
        rc = api_array_append(params, api_string(user));
    if (!rc)
        rc = api_array_append(params, api_string(pw));
    if (rc) {
        api_value_free(params);
        return rc;
    }
    rc = cli_rpc_call(cli, "pool.join", params, &v);
    api_value_free(v);
    return rc;
}

/* host uuid -> ref (*ref_r: free()) */
static int host_ref(struct cli_ctx *cli, const char *uuid, char **ref_r)
{
    struct api_value *params = api_array(), *v = NULL;
    int rc;

    *ref_r = NULL;
    rc = api_array_append(params, api_string(uuid));
    if (rc) {
        api_value_free(params);
        return rc;
    }
    rc = cli_rpc_call(cli, "host.get_by_uuid", params, &v);
    if (!rc && !(*ref_r = strdup(api_value_string(v) ?: "")))
        rc = -ENOMEM;
    api_value_free(v);
    return rc;
}

int cli_pool_eject(struct cli_ctx *cli)
{
    const char *uuid = cli_arg(cli, "host-uuid");
    struct api_value *params, *v = NULL;
    char *ref = NULL;
    int rc;

    if (!uuid)
        return cli_usage_error(cli, "pool-eject needs host-uuid=");
    rc = host_ref(cli, uuid, &ref);
    if (rc)
        return rc;
    params = api_array();
    rc = api_array_append(params, api_string(ref));
    free(ref);
    if (rc) {
        api_value_free(params);
        return rc;
    }
    rc = cli_rpc_call(cli, "pool.eject", params, &v);
    api_value_free(v);
    return rc;
}
