/*
 * mig_internal.h - what the files of xl-migrate/ share.  Internal.
 */
#ifndef MIG_INTERNAL_H
#define MIG_INTERNAL_H

#include <string.h>

#include "hv.h"
#include "mig_stream.h"

/* The stream's hypervisor type for a driver. */
static inline enum mig_hv_type mig_hv_type_of(const struct hv_handle *h)
{
    if (!strcmp(hv_name(h), "xen"))
        return MIG_HV_XEN;
    if (!strcmp(hv_name(h), "sim"))
        return MIG_HV_SIM;
    return MIG_HV_KVM;
}

#endif /* MIG_INTERNAL_H */
