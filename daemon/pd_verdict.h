/*
 * pd_verdict.h - what the hosts said of a pool migration, and the one
 * function that decides from it where the VM is (docs/design/pool.md,
 * "Settling: who runs the VM").  Pure: no I/O, no state (pd_settle.c asks
 * the hosts and applies the verdict; tests/unit/daemon/test_verdict.c
 * checks the table).
 */
#ifndef PD_VERDICT_H
#define PD_VERDICT_H

#include <stdbool.h>
#include <stdint.h>

#include "xt.h"

#define PD_SRC_STATE_MAX 24

/* The source's word on the migration (host_local.migrate_status). */
struct src_facts {
    bool answered;
    bool known;                 /* it has the migration */
    bool running;               /* its engine (or a resolution) runs */
    char state[PD_SRC_STATE_MAX];   /* sending, sole-running, sole-paused,
                                     * commit-sent, in-doubt, handed-over,
                                     * gone */
    bool cancelled;
    int64_t domid, dst_domid;
    char error[XT_ERRMSG_MAX];
    char *stats;                /* the engine's JSON line, or NULL */
};

/* A host's word on the VM (host_local.vm_status). */
struct vm_facts {
    bool answered;
    bool domain;                /* a domain of the VM */
    bool running;               /* ... that runs (not paused) */
    bool sending, receiving;
    int64_t domid;
};

/* What a pass learnt; what was not asked is not answered. */
struct facts {
    struct src_facts src;
    struct vm_facts dst;        /* the destination */
    struct vm_facts srcvm;      /* the source's hypervisor */
};

enum verdict {
    V_PENDING = 0,      /* not known yet: ask again */
    V_ON_DEST,          /* the destination runs the VM: success */
    V_ON_SOURCE,        /* it stayed on the source: failure */
    V_RESUME,           /* a paused source copy the destination never
                         * took: the source is told to resume it */
    V_NOWHERE,          /* it runs on neither host */
};

/* Whether the source said it is done in state (one of its names). */
bool pd_src_is(const struct src_facts *s, const char *state);
/* Whether the source keeps a paused copy only the master can settle. */
bool pd_src_paused(const struct src_facts *s);
/* Whether the source's word alone decides (then the destination is not
 * asked). */
bool pd_src_decides(const struct src_facts *s);
/* Whether the source's hypervisor must be asked too: the source knows
 * nothing of the migration and the destination has nothing of the VM. */
bool pd_need_srcvm(const struct facts *f);
/* The verdict. */
enum verdict pd_decide(const struct facts *f);

#endif /* PD_VERDICT_H */
