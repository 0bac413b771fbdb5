/*
 * hv.c - driver registry and the checked wrappers around struct hv_ops.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hv_internal.h"
#include "xmg_abi.h"

static const struct hv_ops *const drivers[] = {
    &hv_kvm_ops,
    &hv_sim_ops,
#ifdef HAVE_XEN
    &hv_xen_ops,
#endif
};

const char *hv_run_state_name(enum hv_run_state s)
{
    switch (s) {
    case HV_STATE_RUNNING:   return "running";
    case HV_STATE_PAUSED:    return "paused";
    case HV_STATE_SUSPENDED: return "suspended";
    case HV_STATE_SHUTDOWN:  return "shutdown";
    case HV_STATE_CRASHED:   return "crashed";
    case HV_STATE_DYING:     return "dying";
    }
    return "unknown";
}

static const struct hv_ops *driver_find(const char *name)
{
    size_t i;

    if (!name)
        return NULL;
    for (i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++)
        if (!strcmp(drivers[i]->name, name))
            return drivers[i];
    return NULL;
}

bool hv_driver_exists(const char *name)
{
    return driver_find(name) != NULL;
}

const char *hv_driver_names(void)
{
#ifdef HAVE_XEN
    return "kvm sim xen";
#else
    return "kvm sim";
#endif
}

int hv_open_ops(struct xt_ctx *ctx, const struct hv_ops *ops,
                const char *args, void *priv, struct hv_handle **h_r)
{
    struct hv_handle *h = NULL;
    int rc;

    *h_r = NULL;
    h = calloc(1, sizeof(*h));
    if (h)
        h->conn = calloc(1, sizeof(*h->conn));
    if (!h || !h->conn) {
        rc = xt_error(ctx, -ENOMEM, "allocating the %s driver", ops->name);
        goto out;
    }
    atomic_init(&h->conn->refs, 1);
    h->ops = ops;
    h->ctx = ctx;
    h->priv = priv;
    rc = ops->open ? ops->open(h, args) : 0;
    if (rc < 0)
        goto out;
    *h_r = h;
    h = NULL;
out:
    if (h)
        free(h->conn);
    free(h);
    return rc;
}

int hv_open(struct xt_ctx *ctx, const char *name, const char *args,
            struct hv_handle **h_r)
{
    const struct hv_ops *ops = driver_find(name);

    *h_r = NULL;
    if (!ops)
        return xt_error(ctx, -ENOENT, "unknown hypervisor driver '%s' "
                        "(built: %s)", name ? name : "(null)",
                        hv_driver_names());
    return hv_open_ops(ctx, ops, args, NULL, h_r);
}

int hv_view(struct hv_handle *h, struct xt_ctx *ctx,
            struct hv_handle **view_r)
{
    struct hv_handle *v = calloc(1, sizeof(*v));

    *view_r = NULL;
    if (!v)
        return xt_error(ctx, -ENOMEM, "a view of the %s driver",
                        h->ops->name);
    *v = *h;
    v->ctx = ctx;
    atomic_fetch_add(&h->conn->refs, 1);
    *view_r = v;
    return 0;
}

void hv_close(struct hv_handle *h)
{
    if (!h)
        return;
    if (atomic_fetch_sub(&h->conn->refs, 1) == 1) {
        if (h->ops->close)
            h->ops->close(h);
        free(h->conn);
    }
    free(h);
}

const char *hv_name(const struct hv_handle *h)
{
    return h->ops->name;
}

bool hv_is_sparse(const struct hv_handle *h)
{
    return h->ops->flags & HV_OPS_SPARSE;
}

bool hv_has(const struct hv_handle *h, enum hv_cap cap)
{
    const struct hv_ops *o = h->ops;

    switch (cap) {
    case HV_CAP_BOOT:               return o->boot;
    case HV_CAP_DIRTY_PEEK:         return o->dirty_peek;
    case HV_CAP_THROTTLE:           return o->throttle;
    case HV_CAP_GUEST_STATS:        return o->guest_stats;
    case HV_CAP_POPULATED:          return o->populated;
    case HV_CAP_SHUTDOWN_REQUEST:   return o->shutdown_request;
    case HV_CAP_OPAQUE_STREAM:      return o->stream_save && o->stream_restore;
    case HV_CAP_DISKS:              return o->flags & HV_OPS_DISKS;
    case HV_CAP_DISK_HOTPLUG:       return o->disk_plug && o->disk_unplug;
    case HV_CAP_DISK_RETARGET:      return o->disk_retarget;
    }
    return false;
}

/* A missing optional op. */
static int notsup(struct hv_handle *h, const char *op)
{
    return xt_error(h->ctx, -ENOTSUP, "the %s driver does not support %s",
                    h->ops->name, op);
}

int hv_list(struct hv_handle *h, struct hv_domain_info **infos_r, size_t *n_r)
{
    *infos_r = NULL;
    *n_r = 0;
    return h->ops->list(h, infos_r, n_r);
}

int hv_info(struct hv_handle *h, uint32_t domid, struct hv_domain_info *info_r)
{
    memset(info_r, 0, sizeof(*info_r));
    return h->ops->info(h, domid, info_r);
}

/* Disks given to a driver that takes none, or too many. */
static int check_disks(struct hv_handle *h, const struct hv_disk *disks,
                       unsigned n)
{
    uint32_t used = 0;
    unsigned i;

    if (n && !(h->ops->flags & HV_OPS_DISKS))
        return xt_error(h->ctx, -ENOTSUP, "the %s driver does not give "
                        "domains disks yet (%u asked for)", h->ops->name, n);
    if (n > HV_MAX_DISKS)
        return xt_error(h->ctx, -E2BIG, "%u disks: at most %u", n,
                        HV_MAX_DISKS);
    for (i = 0; i < n; i++) {
        unsigned slot = disks[i].slot ? disks[i].slot : i + 1;

        if (!disks[i].uri || !*disks[i].uri)
            return xt_error(h->ctx, -EINVAL, "disk %u has no URI", i);
        if (slot > HV_MAX_DISKS)
            return xt_error(h->ctx, -EINVAL, "disk %u: slot %u (1..%u)", i,
                            slot, HV_MAX_DISKS);
        if (used & (1u << slot))
            return xt_error(h->ctx, -EINVAL, "disk %u: slot %u is taken by "
                            "another disk", i, slot);
        used |= 1u << slot;
    }
    return 0;
}

int hv_create(struct hv_handle *h, const struct hv_create_spec *spec,
              uint32_t *domid_r)
{
    int rc;

    if (!spec->nr_pages || !spec->nr_vcpus)
        return xt_error(h->ctx, -EINVAL, "create: a domain needs pages "
                        "and vCPUs (%llu pages, %u vCPUs)",
                        (unsigned long long)spec->nr_pages, spec->nr_vcpus);
    rc = check_disks(h, spec->disks, spec->nr_disks);
    if (rc < 0)
        return rc;
    return h->ops->create(h, spec, domid_r);
}

int hv_boot(struct hv_handle *h, const struct hv_boot_spec *spec,
            uint32_t *domid_r)
{
    int rc;

    if (!h->ops->boot)
        return notsup(h, "boot");
    if (!spec->nr_pages || !spec->nr_vcpus || !spec->kernel)
        return xt_error(h->ctx, -EINVAL, "boot: a domain needs pages, "
                        "vCPUs and a kernel");
    rc = check_disks(h, spec->disks, spec->nr_disks);
    if (rc < 0)
        return rc;
    return h->ops->boot(h, spec, domid_r);
}

int hv_map_batch(struct hv_handle *h, uint32_t domid, int prot,
                 const uint64_t *pfns, size_t n, void **pages_r,
                 struct hv_mapping **map_r)
{
    *map_r = NULL;
    if (!n)
        return 0;
    if (!(prot & (HV_MAP_READ | HV_MAP_WRITE)) ||
        (prot & ~(HV_MAP_READ | HV_MAP_WRITE)))
        return xt_error(h->ctx, -EINVAL, "map: bad protection %#x", prot);
    return h->ops->map_batch(h, domid, prot, pfns, n, pages_r, map_r);
}

void hv_unmap(struct hv_handle *h, struct hv_mapping *map)
{
    if (map)
        h->ops->unmap(h, map);
}

int hv_logdirty(struct hv_handle *h, uint32_t domid, bool enable)
{
    return h->ops->logdirty(h, domid, enable);
}

int hv_can_migrate(struct hv_handle *h, uint32_t domid)
{
    return h->ops->can_migrate ? h->ops->can_migrate(h, domid) : 0;
}

int hv_dirty_harvest(struct hv_handle *h, uint32_t domid, uint64_t *bitmap,
                     uint64_t nr_pages, uint64_t *dirty_r)
{
    *dirty_r = 0;
    return h->ops->dirty_harvest(h, domid, bitmap, nr_pages, dirty_r);
}

int hv_dirty_peek(struct hv_handle *h, uint32_t domid, uint64_t *bitmap,
                  uint64_t nr_pages, uint64_t *dirty_r)
{
    *dirty_r = 0;
    if (!h->ops->dirty_peek)
        return notsup(h, "dirty_peek");
    return h->ops->dirty_peek(h, domid, bitmap, nr_pages, dirty_r);
}

int hv_pause(struct hv_handle *h, uint32_t domid)
{
    return h->ops->pause(h, domid);
}

int hv_unpause(struct hv_handle *h, uint32_t domid)
{
    return h->ops->unpause(h, domid);
}

int hv_throttle(struct hv_handle *h, uint32_t domid, unsigned pct)
{
    if (!h->ops->throttle)
        return notsup(h, "throttle");
    if (pct > 99)
        return xt_error(h->ctx, -EINVAL, "throttle: %u%% is over 99%%", pct);
    return h->ops->throttle(h, domid, pct);
}

int hv_suspend(struct hv_handle *h, uint32_t domid)
{
    if (!h->ops->suspend)
        return h->ops->pause(h, domid);
    return h->ops->suspend(h, domid);
}

int hv_resume_after_failure(struct hv_handle *h, uint32_t domid)
{
    if (!h->ops->resume_after_failure)
        return h->ops->unpause(h, domid);
    return h->ops->resume_after_failure(h, domid);
}

int hv_state_save(struct hv_handle *h, uint32_t domid, void **blob_r,
                  size_t *len_r)
{
    *blob_r = NULL;
    *len_r = 0;
    return h->ops->state_save(h, domid, blob_r, len_r);
}

int hv_state_restore(struct hv_handle *h, uint32_t domid, const void *blob,
                     size_t len)
{
    if (!blob || len < sizeof(struct hv_state_hdr))
        return xt_error(h->ctx, -EINVAL, "state blob of %zu bytes is "
                        "shorter than its header", len);
    return h->ops->state_restore(h, domid, blob, len);
}

int hv_guest_stats_ex(struct hv_handle *h, uint32_t domid, unsigned flags,
                      struct hv_guest_stats *stats_r)
{
    memset(stats_r, 0, sizeof(*stats_r));
    if (!h->ops->guest_stats)
        return notsup(h, "guest_stats");
    if (flags & ~HV_STATS_RESET_GAP)
        return xt_error(h->ctx, -EINVAL, "guest_stats: flags %#x", flags);
    return h->ops->guest_stats(h, domid, flags, stats_r);
}

int hv_guest_stats(struct hv_handle *h, uint32_t domid,
                   struct hv_guest_stats *stats_r)
{
    return hv_guest_stats_ex(h, domid, 0, stats_r);
}

int hv_shutdown_request(struct hv_handle *h, uint32_t domid)
{
    if (!h->ops->shutdown_request)
        return notsup(h, "shutdown_request");
    return h->ops->shutdown_request(h, domid);
}

int hv_populated(struct hv_handle *h, uint32_t domid, uint64_t first,
                 uint64_t nr, uint64_t *bitmap, uint64_t *count_r)
{
    *count_r = 0;
    if (!h->ops->populated)
        return notsup(h, "populated");
    if (!nr || first + nr < first)
        return xt_error(h->ctx, -EINVAL, "populated of domain %u: pfns "
                        "%#llx+%llu", domid, (unsigned long long)first,
                        (unsigned long long)nr);
    return h->ops->populated(h, domid, first, nr, bitmap, count_r);
}

int hv_disk_plug(struct hv_handle *h, uint32_t domid,
                 const struct hv_disk *disk)
{
    if (!h->ops->disk_plug)
        return notsup(h, "disk hot-plug");
    if (!disk || !disk->uri || !*disk->uri)
        return xt_error(h->ctx, -EINVAL, "disk plug into domain %u: no URI",
                        domid);
    if (disk->slot < 1 || disk->slot > HV_MAX_DISKS)
        return xt_error(h->ctx, -EINVAL, "disk plug into domain %u: slot %u "
                        "(1..%u)", domid, disk->slot, HV_MAX_DISKS);
    return h->ops->disk_plug(h, domid, disk);
}

int hv_disk_unplug(struct hv_handle *h, uint32_t domid, unsigned slot,
                   unsigned flags, unsigned wait_ms)
{
    if (!h->ops->disk_unplug)
        return notsup(h, "disk hot-unplug");
    if (slot < 1 || slot > HV_MAX_DISKS || (flags & ~HV_UNPLUG_FORCE))
        return xt_error(h->ctx, -EINVAL, "disk unplug from domain %u: slot "
                        "%u (1..%u), flags %#x", domid, slot, HV_MAX_DISKS,
                        flags);
    return h->ops->disk_unplug(h, domid, slot, flags, wait_ms);
}

int hv_disk_retarget(struct hv_handle *h, uint32_t domid, unsigned slot,
                     const char *uri)
{
    if (!h->ops->disk_retarget)
        return notsup(h, "disk retarget");
    if (!uri || !*uri)
        return xt_error(h->ctx, -EINVAL, "disk retarget in domain %u: no "
                        "URI", domid);
    if (slot < 1 || slot > HV_MAX_DISKS)
        return xt_error(h->ctx, -EINVAL, "disk retarget in domain %u: slot "
                        "%u (1..%u)", domid, slot, HV_MAX_DISKS);
    return h->ops->disk_retarget(h, domid, slot, uri);
}

int hv_destroy(struct hv_handle *h, uint32_t domid)
{
    return h->ops->destroy(h, domid);
}

int hv_stream_save(struct hv_handle *h, uint32_t domid, int fd,
                   const struct hv_stream_policy *policy)
{
    if (!h->ops->stream_save)
        return notsup(h, "stream_save");
    if (fd < 0 || !policy || !policy->precopy)
        return xt_error(h->ctx, -EINVAL, "stream_save of domain %u: %s",
                        domid, fd < 0 ? "no fd" : "no precopy policy");
    return h->ops->stream_save(h, domid, fd, policy);
}

int hv_stream_restore(struct hv_handle *h, const struct hv_create_spec *spec,
                      int fd, uint32_t *domid_r)
{
    *domid_r = 0;
    if (!h->ops->stream_restore)
        return notsup(h, "stream_restore");
    if (fd < 0 || !spec)
        return xt_error(h->ctx, -EINVAL, "stream_restore: %s",
                        fd < 0 ? "no fd" : "no spec");
    return h->ops->stream_restore(h, spec, fd, domid_r);
}

int hv_guest_image_header(const char *path, struct xmg_header *hdr_r)
{
    const size_t max = 1u << 20;
    char *buf = NULL;
    ssize_t n = 0;
    size_t off;
    int fd = -1, rc = -ENOENT;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    buf = malloc(max);
    if (!buf) {
        rc = -ENOMEM;
        goto out;
    }
    n = read(fd, buf, max);
    if (n < 0) {
        rc = -errno;
        goto out;
    }
    for (off = 0; off + sizeof(*hdr_r) <= (size_t)n; off += 8) {
        uint64_t magic;

        memcpy(&magic, buf + off, sizeof(magic));
        if (magic == XMG_HEADER_MAGIC) {
            memcpy(hdr_r, buf + off, sizeof(*hdr_r));
            rc = 0;
            break;
        }
    }
out:
    free(buf);
    close(fd);
    return rc;
}
