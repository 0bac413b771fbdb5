/*
 * hv_internal.h - what the drivers of hv/ share; not for other modules.
 */
#ifndef HV_INTERNAL_H
#define HV_INTERNAL_H

#include "hv_driver.h"

extern const struct hv_ops hv_kvm_ops;
extern const struct hv_ops hv_sim_ops;
#ifdef HAVE_XEN
extern const struct hv_ops hv_xen_ops;
#endif

#endif /* HV_INTERNAL_H */
