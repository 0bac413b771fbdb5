/*
 * hv_xen_stream.h - the pure part of hv_xen_stream.c (Xen PV guests moved
 * as libxenguest's own stream): how libxenguest's pre-copy questions map
 * onto struct hv_stream_policy.  No Xen calls, so tests/unit/hv/
 * test_hv_xen_stream.c runs it without a hypervisor.  Built only when
 * HAVE_XEN; not for other modules.
 */
#ifndef HV_XEN_STREAM_H
#define HV_XEN_STREAM_H

#include <xenctrl.h>
#include <xenguest.h>

#include "hv.h"

/*
 * xc_domain_save's precopy_policy in terms of ours.  libxenguest asks
 * before each round with the pages dirty now (the first time: every pfn,
 * iteration 0), and once more after each round with dirty_count -1 (not
 * harvested yet).  The second kind is answered XGS_POLICY_CONTINUE_PRECOPY
 * without asking: the policy decides on a known dirty count.  The first
 * asks policy->precopy(arg, iteration, dirty_count, total_written) and
 * maps HV_STREAM_CONTINUE, HV_STREAM_STOP and HV_STREAM_ABORT to
 * XGS_POLICY_CONTINUE_PRECOPY, XGS_POLICY_STOP_AND_COPY and
 * XGS_POLICY_ABORT; any other answer aborts.  A stop makes libxenguest
 * send the pages dirty now while the guest runs, then suspend it and send
 * what that round dirtied.
 */
int hv_xen_precopy_decide(const struct precopy_stats *stats,
                          const struct hv_stream_policy *policy);

#endif /* HV_XEN_STREAM_H */
