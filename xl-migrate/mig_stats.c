/*
 * mig_stats.c - a migration's figures as one JSON line.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>

#include "mig.h"

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

int mig_stats_json(const struct mig_stats *s, const char *role, char *buf,
                   size_t size)
{
    char guest[384], digest[160];
    const char *state = s->sender ? mig_src_state_name(s->src_state)
                                  : mig_dst_state_name(s->dst_state);
    int n;

    if (s->guest_measured)
        snprintf(guest, sizeof(guest),
                 "\"guest_downtime_ms\":%.3f,\"guest_src_gap_ms\":%.3f,"
                 "\"guest_switch_gap_ms\":%.3f,\"guest_dst_gap_ms\":%.3f,"
                 "\"hb_last_seq_src\":%llu,"
                 "\"hb_first_seq_dst\":%llu,\"hb_continuous\":%s,"
                 "\"mismatches\":%llu",
                 ms(s->guest_downtime_ns), ms(s->guest_src_gap_ns),
                 ms(s->guest_switch_gap_ns), ms(s->guest_dst_gap_ns),
                 (unsigned long long)s->hb_last_seq_src,
                 (unsigned long long)s->hb_first_seq_dst,
                 s->hb_continuous ? "true" : "false",
                 (unsigned long long)s->mismatches);
    else
        snprintf(guest, sizeof(guest), "\"guest_downtime_ms\":null,"
                 "\"mismatches\":null");
    if (s->digest_checked)
        snprintf(digest, sizeof(digest),
                 "\"digest_equal\":%s,\"digest_src\":\"%016llx\","
                 "\"digest_dst\":\"%016llx\"",
                 s->digest_equal ? "true" : "false",
                 (unsigned long long)s->digest_src,
                 (unsigned long long)s->digest_dst);
    else
        snprintf(digest, sizeof(digest), "\"digest_equal\":null");
    n = snprintf(buf, size,
                 "{\"role\":\"%s\",\"rc\":%d,\"state\":\"%s\","
                 "\"committed\":%s,\"in_doubt\":%s,\"tls\":%s,"
                 "\"ktls\":%s,"
                 "\"total_ms\":%.3f,\"setup_ms\":%.3f,"
                 "\"downtime_ms\":%.3f,%s,\"bytes_sent\":%llu,"
                 "\"pages_sent\":%llu,\"pages_normal\":%llu,"
                 "\"pages_zero\":%llu,\"pages_compressed\":%llu,"
                 "\"pages_deferred\":%llu,\"pages_torn\":%llu,"
                 "\"rounds\":%u,\"forced_stop\":%s,"
                 "\"final_dirty_pages_s\":%.0f,\"bandwidth_mib_s\":%.1f,"
                 "\"throttle_pct\":%u,\"compression_ratio\":%.3f,"
                 "\"streams\":%u,%s,\"dst_domid\":%u,\"mode\":\"%s\"}",
                 role, s->rc, state, s->committed ? "true" : "false",
                 s->in_doubt ? "true" : "false", s->tls ? "true" : "false",
                 s->ktls ? "true" : "false",
                 ms(s->total_ns),
                 ms(s->setup_ns), ms(s->downtime_ns), guest,
                 (unsigned long long)s->bytes_sent,
                 (unsigned long long)s->pages_sent,
                 (unsigned long long)s->pages_normal,
                 (unsigned long long)s->pages_zero,
                 (unsigned long long)s->pages_compressed,
                 (unsigned long long)s->pages_deferred,
                 (unsigned long long)s->pages_torn, s->rounds,
                 s->forced_stop ? "true" : "false", s->final_dirty_pages_s,
                 s->bandwidth_bytes_s / (1024.0 * 1024.0), s->throttle_pct,
                 s->compression_ratio, s->nstreams, digest, s->dst_domid,
                 s->opaque ? "opaque" : "pages");
    return (n < 0 || (size_t)n >= size) ? -ENOSPC : 0;
}
