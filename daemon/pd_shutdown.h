/*
 * pd_shutdown.h - the host side of VM.clean_shutdown: ask the guest to
 * shut down and wait for it (the xenstore control/shutdown of xapi; here
 * hv_shutdown_request()).
 */
#ifndef PD_SHUTDOWN_H
#define PD_SHUTDOWN_H

#include "api.h"

/* Longest wait for a guest to acknowledge a clean shutdown. */
#define PD_CLEAN_SHUTDOWN_TIMEOUT_S 30
#define PD_MAX_SHUTDOWN_TIMEOUT_S   3600

struct xa;

/*
 * The work of host_local.vm_clean_shutdown on this host, for a caller
 * that is the resident host itself.  Returns 0 (the domain is gone), or
 * a negative errno reported into ctx, with *failure_r (caller frees, may
 * stay NULL) holding the XenAPI failure to answer.
 */
int xa_vm_clean_shutdown_here(struct xa *xa, struct xt_ctx *ctx,
                              const char *uuid, long timeout_s,
                              struct api_value **failure_r);

/*
 * host_local.vm_clean_shutdown(secret, uuid, timeout_s) on the host the
 * VM runs on (the master, when the VM runs there, calls
 * xa_vm_clean_shutdown_here() itself): asks the guest to shut down,
 * waits up to timeout_s seconds for its domain to stop by itself, then
 * destroys the domain.  A VM with
 * no domain here succeeds (nothing to do).  Fails with VM_LACKS_FEATURE
 * (-ENOTSUP) when the guest has no shutdown protocol, VM_SHUTDOWN_TIMEOUT
 * (-ETIMEDOUT) when it did not stop in time; the domain then runs on.
 */
int xa_local_vm_clean_shutdown(struct api_call_ctx *call,
                               const struct api_value *params,
                               struct api_value **result_r);

#endif /* PD_SHUTDOWN_H */
