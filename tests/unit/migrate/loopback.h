/*
 * loopback.h - one whole migration in one process between two drivers
 * given by their tables (tests' fake drivers): a receiver thread on a
 * fresh 127.0.0.1 listener, mig_send in the caller's thread, both ends'
 * results.  Shared by the engine's unit tests.
 */
#ifndef TEST_MIG_LOOPBACK_H
#define TEST_MIG_LOOPBACK_H

#include "hv_driver.h"
#include "mig.h"

struct loop_side {
    const struct hv_ops *ops;
    void *priv;                 /* the fake driver's state (h->priv) */
};

struct loop_result {
    int src_rc, dst_rc;
    struct mig_stats src, dst;
    char src_msg[XT_ERRMSG_MAX], dst_msg[XT_ERRMSG_MAX];
};

/*
 * Migrates domain domid of src to dst.  so and ro may be NULL (defaults
 * with 5 s timeouts and no linger); their channel fields are set here.
 * Errors are recorded, not logged (quiet contexts).  Bails out (TAP) when
 * the harness itself cannot run.
 */
void loop_migrate(const struct loop_side *src, uint32_t domid,
                  const struct loop_side *dst,
                  const struct mig_send_opts *so,
                  const struct mig_recv_opts *ro, struct loop_result *out);

#endif /* TEST_MIG_LOOPBACK_H */
