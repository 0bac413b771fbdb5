/*
 * test_hv_xen_stream.c - the pure part of the Xen driver's opaque streams
 * (hv/hv_xen_stream.c): libxenguest's pre-copy questions answered through
 * struct hv_stream_policy.  No hypervisor needed.
 */
#include "config.h"

#include <errno.h>

#include "hv_xen_stream.h"
#include "../../tap.h"

struct spy {
    int answer;
    unsigned calls;
    unsigned round;
    uint64_t dirty, sent;
};

static int spy_precopy(void *arg, unsigned round, uint64_t dirty_pages,
                       uint64_t sent_pages)
{
    struct spy *s = arg;

    s->calls++;
    s->round = round;
    s->dirty = dirty_pages;
    s->sent = sent_pages;
    return s->answer;
}

static int ask(struct spy *s, int answer, unsigned iteration, long dirty,
               unsigned long written)
{
    struct hv_stream_policy p = { .precopy = spy_precopy, .arg = s };
    struct precopy_stats st = {
        .iteration = iteration,
        .total_written = written,
        .dirty_count = dirty,
    };

    s->answer = answer;
    return hv_xen_precopy_decide(&st, &p);
}

int main(void)
{
    struct spy s = { 0 };

    tap_is_int(ask(&s, HV_STREAM_CONTINUE, 0, 262144, 0),
               XGS_POLICY_CONTINUE_PRECOPY, "continue maps to "
               "XGS_POLICY_CONTINUE_PRECOPY");
    tap_ok(s.calls == 1 && s.round == 0 && s.dirty == 262144 && s.sent == 0,
           "the first question reaches the policy as round 0 with every "
           "pfn dirty");
    tap_is_int(ask(&s, HV_STREAM_STOP, 1, -1, 262144),
               XGS_POLICY_CONTINUE_PRECOPY, "dirty count unknown (-1): "
               "continue without asking");
    tap_is_int(s.calls, 1, "... and the policy was not called");
    tap_is_int(ask(&s, HV_STREAM_STOP, 3, 42, 300000),
               XGS_POLICY_STOP_AND_COPY, "stop maps to "
               "XGS_POLICY_STOP_AND_COPY");
    tap_ok(s.calls == 2 && s.round == 3 && s.dirty == 42 &&
           s.sent == 300000, "round, dirty and sent pages passed on");
    tap_is_int(ask(&s, HV_STREAM_ABORT, 4, 10, 300042), XGS_POLICY_ABORT,
               "abort maps to XGS_POLICY_ABORT");
    tap_is_int(ask(&s, 7, 5, 10, 300052), XGS_POLICY_ABORT,
               "an unknown answer aborts");
    tap_is_int(ask(&s, -EIO, 5, 10, 300052), XGS_POLICY_ABORT,
               "an error as answer aborts");
    tap_is_int(ask(&s, HV_STREAM_CONTINUE, 6, 0, 300062),
               XGS_POLICY_CONTINUE_PRECOPY, "a known zero dirty count is "
               "asked about too");
    tap_is_int(s.calls, 6, "every known count was asked");
    return tap_done();
}
