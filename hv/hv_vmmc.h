/*
 * hv_vmmc.h - the client side of xm-vmm (vmm/vmm_proto.h), shared by the
 * kvm and sim drivers: they differ only in the engine the VMM runs.
 * Internal to hv/.
 */
#ifndef HV_VMMC_H
#define HV_VMMC_H

#include "hv_driver.h"

/* Opens h->priv for VMMs running `engine` ("kvm" or "sim"); args as in
 * hv_open(): run_dir=PATH, vmm=PATH. */
int vmmc_open(struct hv_handle *h, const char *engine, const char *args);
void vmmc_close(struct hv_handle *h);

int vmmc_list(struct hv_handle *h, struct hv_domain_info **infos_r,
              size_t *n_r);
int vmmc_info(struct hv_handle *h, uint32_t domid,
              struct hv_domain_info *info_r);
int vmmc_create(struct hv_handle *h, const struct hv_create_spec *spec,
                uint32_t *domid_r);
int vmmc_boot(struct hv_handle *h, const struct hv_boot_spec *spec,
              uint32_t *domid_r);
int vmmc_map_batch(struct hv_handle *h, uint32_t domid, int prot,
                   const uint64_t *pfns, size_t n, void **pages_r,
                   struct hv_mapping **map_r);
void vmmc_unmap(struct hv_handle *h, struct hv_mapping *map);
int vmmc_logdirty(struct hv_handle *h, uint32_t domid, bool enable);
int vmmc_dirty_harvest(struct hv_handle *h, uint32_t domid, uint64_t *bitmap,
                       uint64_t nr_pages, uint64_t *dirty_r);
int vmmc_dirty_peek(struct hv_handle *h, uint32_t domid, uint64_t *bitmap,
                    uint64_t nr_pages, uint64_t *dirty_r);
int vmmc_pause(struct hv_handle *h, uint32_t domid);
int vmmc_unpause(struct hv_handle *h, uint32_t domid);
int vmmc_throttle(struct hv_handle *h, uint32_t domid, unsigned pct);
int vmmc_state_save(struct hv_handle *h, uint32_t domid, void **blob_r,
                    size_t *len_r);
int vmmc_state_restore(struct hv_handle *h, uint32_t domid, const void *blob,
                       size_t len);
int vmmc_shutdown_request(struct hv_handle *h, uint32_t domid);
int vmmc_guest_stats(struct hv_handle *h, uint32_t domid, unsigned flags,
                     struct hv_guest_stats *stats_r);
int vmmc_populated(struct hv_handle *h, uint32_t domid, uint64_t first,
                   uint64_t nr, uint64_t *bitmap, uint64_t *count_r);
int vmmc_disk_plug(struct hv_handle *h, uint32_t domid,
                   const struct hv_disk *disk);
int vmmc_disk_unplug(struct hv_handle *h, uint32_t domid, unsigned slot,
                     unsigned flags, unsigned wait_ms);
int vmmc_disk_retarget(struct hv_handle *h, uint32_t domid, unsigned slot,
                       const char *uri);
int vmmc_destroy(struct hv_handle *h, uint32_t domid);

/*
 * Low level, for tests of the VMM's protocol handling: sends a raw byte
 * string on a fresh connection to domid's VMM and reads one reply.
 * *status_r gets the reply status (or the receive error); the reply
 * message (if any) is copied into msg (NUL-terminated, msg_size bytes).
 */
int vmmc_raw_exchange(struct hv_handle *h, uint32_t domid, const void *bytes,
                      size_t len, int *status_r, char *msg, size_t msg_size);

#endif /* HV_VMMC_H */
