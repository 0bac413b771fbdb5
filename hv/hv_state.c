/*
 * hv_state.c - framing of hypervisor state blobs (struct hv_state_hdr),
 * shared by the drivers and by xm-vmm, which seals the blobs it saves.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <xxhash.h>

#include "hv.h"

void hv_state_seal(void *blob, size_t len, const char *driver,
                   uint32_t version)
{
    struct hv_state_hdr *hdr = blob;

    hdr->magic = HV_STATE_MAGIC;
    hdr->version = version;
    memset(hdr->driver, 0, sizeof(hdr->driver));
    strncpy(hdr->driver, driver, sizeof(hdr->driver) - 1);
    hdr->length = len;
    hdr->checksum = XXH3_64bits((const char *)blob + sizeof(*hdr),
                                len - sizeof(*hdr));
}

int hv_state_check(struct xt_ctx *ctx, const void *blob, size_t len,
                   const char *driver, uint32_t version)
{
    struct hv_state_hdr hdr;

    if (len < sizeof(hdr))
        return xt_error(ctx, -EINVAL, "state blob: %zu bytes, shorter than "
                        "its %zu-byte header", len, sizeof(hdr));
    memcpy(&hdr, blob, sizeof(hdr));
    if (hdr.magic != HV_STATE_MAGIC)
        return xt_error(ctx, -EINVAL, "state blob: bad magic %#x",
                        hdr.magic);
    if (strncmp(hdr.driver, driver, sizeof(hdr.driver)))
        return xt_error(ctx, -EINVAL, "state blob: made by driver '%.8s', "
                        "this is '%s'", hdr.driver, driver);
    if (hdr.version != version)
        return xt_error(ctx, -EPROTO, "state blob: version %u, this %s "
                        "driver reads version %u", hdr.version, driver,
                        version);
    if (hdr.length != len)
        return xt_error(ctx, -EINVAL, "state blob: header says %llu bytes, "
                        "got %zu", (unsigned long long)hdr.length, len);
    if (hdr.checksum != XXH3_64bits((const char *)blob + sizeof(hdr),
                                    len - sizeof(hdr)))
        return xt_error(ctx, -EINVAL, "state blob: checksum mismatch");
    return 0;
}
