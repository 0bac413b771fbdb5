/*
 * pd_shutdown.c - the host side of VM.clean_shutdown (see pd_shutdown.h).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

#include "hv.h"
#include "pd_shutdown.h"
#include "pd_xenapi.h"

#define POLL_MS             50

static void sleep_ms(unsigned ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

/* The domain of VM vm_uuid here (a shut-down one too, not a dying one):
 * 0 with *domid_r and *state_r, or -ENOENT (silent). */
static int find_dom(struct hv_handle *h, const char *vm_uuid,
                    uint32_t *domid_r, enum hv_run_state *state_r)
{
    struct hv_domain_info *infos = NULL;
    char u[XT_UUID_STRLEN + 1];
    size_t i, n = 0;
    int rc;

    rc = hv_list(h, &infos, &n);
    if (rc < 0)
        return rc;
    rc = -ENOENT;
    for (i = 0; i < n; i++) {
        xt_uuid_format(&infos[i].uuid, u);
        if (!strcasecmp(u, vm_uuid) && infos[i].state != HV_STATE_DYING) {
            *domid_r = infos[i].domid;
            *state_r = infos[i].state;
            rc = 0;
            break;
        }
    }
    free(infos);
    return rc;
}

/* Waits up to timeout_s for domid of h (which reports into ctx) to stop
 * by itself: 0, or -ETIMEDOUT (silent), or an hv error. */
static int wait_stopped(struct xt_ctx *ctx, struct hv_handle *h,
                        uint32_t domid, long timeout_s)
{
    uint64_t end = xt_now_ns() + (uint64_t)timeout_s * 1000000000ull;
    struct hv_domain_info info;
    int rc;

    for (;;) {
        rc = hv_info(h, domid, &info);
        if (rc < 0)
            return rc;
        if (info.state == HV_STATE_SHUTDOWN)
            return 0;
        if (info.state == HV_STATE_CRASHED)
            return xt_error(ctx, -EIO, "domain %u crashed while shutting "
                            "down", domid);
        if (xt_now_ns() >= end)
            return -ETIMEDOUT;
        sleep_ms(POLL_MS);
    }
}

int xa_vm_clean_shutdown_here(struct xa *xa, struct xt_ctx *ctx,
                              const char *uuid, long timeout_s,
                              struct api_value **failure_r)
{
    struct hv_handle *h = NULL;
    enum hv_run_state state;
    uint32_t domid;
    char tbuf[32];
    int rc;

    *failure_r = NULL;
    rc = hv_open(ctx, xa->hv_driver, xa->hv_args, &h);
    if (rc < 0)
        return rc;
    if (find_dom(h, uuid, &domid, &state) < 0) {
        rc = 0;                     /* not here: nothing to stop */
        goto out;
    }
    if (state != HV_STATE_SHUTDOWN) {
        rc = hv_shutdown_request(h, domid);
        if (rc == -ENOTSUP)
            *failure_r = api_failure("VM_LACKS_FEATURE", uuid, NULL);
        if (rc < 0)
            goto out;
        rc = wait_stopped(ctx, h, domid, timeout_s);
        if (rc == -ETIMEDOUT) {
            snprintf(tbuf, sizeof(tbuf), "%ld", timeout_s);
            *failure_r = api_failure("VM_SHUTDOWN_TIMEOUT", uuid, tbuf, NULL);
            rc = xt_error(ctx, -ETIMEDOUT, "VM %s did not shut down within "
                          "%s s", uuid, tbuf);
        }
        if (rc < 0)
            goto out;
        xt_info(ctx, "VM %s: the guest acknowledged the shutdown request "
                "(domain %u shut down)", uuid, domid);
    }
    rc = hv_destroy(h, domid);
out:
    hv_close(h);
    return rc;
}

int xa_local_vm_clean_shutdown(struct api_call_ctx *call,
                               const struct api_value *params,
                               struct api_value **result_r)
{
    const char *uuid = xa_param_str(params, 1);
    struct api_value *failure = NULL;
    int64_t timeout_s = 0;
    int rc = xa_check_secret(call, params, result_r);

    if (rc < 0)
        return rc;
    if (!uuid ||
        api_value_get_int64(api_array_get(params, 2), &timeout_s) < 0 ||
        timeout_s < 1 || timeout_s > PD_MAX_SHUTDOWN_TIMEOUT_S)
        return xt_error(call->xt, -EINVAL, "vm_clean_shutdown(secret, uuid, "
                        "timeout_s 1..%d)", PD_MAX_SHUTDOWN_TIMEOUT_S);
    rc = xa_vm_clean_shutdown_here(xa_call_of(call)->xa, call->xt, uuid,
                                   (long)timeout_s, &failure);
    if (failure)
        *result_r = failure;
    else if (rc == 0)
        *result_r = api_void();
    return rc;
}
