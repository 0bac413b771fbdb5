/*
 * sr-tool.c - sr/ from the shell, for the block service's tests:
 *
 *   sr-tool create   TYPE DIR SR_UUID [PHYSICAL_SIZE]
 *   sr-tool vdi-create TYPE DIR SR_UUID VDI_UUID SIZE
 *   sr-tool vdi-info TYPE DIR SR_UUID VDI_UUID    prints "size allocated"
 *
 * Exit status 0, or 1 with sr/'s message on stderr.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sr.h"
#include "xt.h"

static int usage(void)
{
    fprintf(stderr, "usage: sr-tool create|vdi-create|vdi-info TYPE DIR "
            "SR_UUID [VDI_UUID] [SIZE]\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct sr_kv dc[1];
    struct sr_spec spec = { 0 };
    struct sr_vdi_info info;
    struct xt_uuid vdi;
    struct xt_ctx *ctx;
    struct sr *sr = NULL;
    int rc = -1;

    if (argc < 5)
        return usage();
    ctx = xt_ctx_new("sr-tool");
    if (!ctx)
        return 1;
    dc[0] = (struct sr_kv){ "location", argv[3] };
    spec.type = argv[2];
    spec.device_config = dc;
    spec.n_device_config = 1;
    if (xt_uuid_parse(argv[4], &spec.uuid) < 0)
        return usage();
    if (strcmp(argv[1], "create") == 0) {
        spec.physical_size = argc > 5 ? strtoull(argv[5], NULL, 0) : 0;
        rc = sr_create(ctx, &spec);
    } else if (argc >= 6 && xt_uuid_parse(argv[5], &vdi) == 0) {
        rc = sr_attach(ctx, &spec, &sr);
        if (rc == 0 && strcmp(argv[1], "vdi-create") == 0 && argc == 7)
            rc = sr_vdi_create(sr, &vdi, strtoull(argv[6], NULL, 0));
        else if (rc == 0 && strcmp(argv[1], "vdi-info") == 0) {
            rc = sr_vdi_info(sr, &vdi, &info);
            if (rc == 0)
                printf("%llu %llu\n", (unsigned long long)info.virtual_size,
                       (unsigned long long)info.physical_utilisation);
        } else if (rc == 0) {
            rc = usage();
        }
        sr_detach(sr);
    } else {
        return usage();
    }
    xt_ctx_free(ctx);
    return rc == 0 ? 0 : rc == 2 ? 2 : 1;
}
