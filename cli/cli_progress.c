/*
 * cli_progress.c - the migration progress display and summary.
 *
 * The server keeps a migration task's progress (0..1) in the task's
 * progress field and details in its other_config, as far as the engine
 * reports them: bytes sent (mig:bytes / bytes), total (mig:total_bytes /
 * total_bytes), rate in bytes/s (mig:rate / rate), pre-copy round
 * (mig:round / round) and ETA in seconds (mig:eta / eta).  What is absent
 * is not shown.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* other_config[key] as a number, trying each alias. */
static bool oc_number(const struct api_value *oc, const char *const *keys,
                      double *v_r)
{
    size_t i;

    for (i = 0; oc && keys[i]; i++) {
        const char *s = api_value_string(api_struct_get(oc, keys[i]));
        char *end;
        double d;

        if (!s || !*s)
            continue;
        d = strtod(s, &end);
        if (end != s && isfinite(d)) {
            *v_r = d;
            return true;
        }
    }
    return false;
}

void cli_progress_from_task(const struct api_value *task,
                            struct cli_progress *p)
{
    static const char *const k_bytes[] = { "mig:bytes", "bytes",
                                           "bytes_sent", NULL };
    static const char *const k_total[] = { "mig:total_bytes", "total_bytes",
                                           NULL };
    static const char *const k_rate[] = { "mig:rate", "rate", NULL };
    static const char *const k_round[] = { "mig:round", "round", NULL };
    static const char *const k_eta[] = { "mig:eta", "eta", "eta_s", NULL };
    const struct api_value *oc = api_struct_get(task, "other_config");
    const struct api_value *pv = api_struct_get(task, "progress");
    double d;

    p->fraction = -1;
    p->bytes = p->total_bytes = p->round = -1;
    p->rate = p->eta_s = -1;
    if (pv && api_value_get_double(pv, &d) == 0 && d >= 0)
        p->fraction = d > 1 ? 1 : d;
    if (oc_number(oc, k_bytes, &d))
        p->bytes = (int64_t)d;
    if (oc_number(oc, k_total, &d))
        p->total_bytes = (int64_t)d;
    if (oc_number(oc, k_rate, &d))
        p->rate = d;
    if (oc_number(oc, k_round, &d))
        p->round = (int64_t)d;
    if (oc_number(oc, k_eta, &d))
        p->eta_s = d;
}

static const char *human(double b, char *buf, size_t size)
{
    static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    size_t u = 0;

    while (b >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
        b /= 1024;
        u++;
    }
    snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", b, units[u]);
    return buf;
}

char *cli_progress_format(const struct cli_progress *p, bool tty,
                          unsigned width, char *buf, size_t size)
{
    char tail[160] = "", h[32];
    size_t t = 0;

#define TAIL(...) \
    t += (size_t)snprintf(tail + t, t < sizeof(tail) ? sizeof(tail) - t : 0, \
                          __VA_ARGS__)
    if (p->bytes >= 0) {
        TAIL(tty ? "  %s" : " sent=%s", human((double)p->bytes, h,
                                               sizeof(h)));
        if (p->total_bytes > 0)
            TAIL("/%s", human((double)p->total_bytes, h, sizeof(h)));
    }
    if (p->rate >= 0)
        TAIL(tty ? "  %s/s" : " rate=%s/s", human(p->rate, h, sizeof(h)));
    if (p->round >= 0)
        TAIL(tty ? "  round %lld" : " round=%lld", (long long)p->round);
    if (p->eta_s >= 0)
        TAIL(tty ? "  ETA %.0f s" : " eta=%.0fs", p->eta_s);
#undef TAIL
    if (t >= sizeof(tail))
        tail[sizeof(tail) - 1] = '\0';
    if (!tty) {
        if (p->fraction >= 0)
            snprintf(buf, size, "progress: %3.0f%%%s", p->fraction * 100,
                     tail);
        else
            snprintf(buf, size, "progress: ?%s", tail);
        return buf;
    }
    {
        /* [#######.......]  42%  sent  rate  round  ETA */
        size_t used = strlen(tail) + 8, bar, fill, i, o = 0;
        char b[256];

        if (width > sizeof(b) - 1)
            width = sizeof(b) - 1;
        bar = width > used + 12 ? width - used - 3 : 10;
        if (bar > 40)
            bar = 40;
        fill = p->fraction >= 0 ? (size_t)(p->fraction * (double)bar) : 0;
        b[o++] = '[';
        for (i = 0; i < bar; i++)
            b[o++] = i < fill ? '#' : (p->fraction >= 0 ? '.' : '?');
        b[o++] = ']';
        b[o] = '\0';
        if (p->fraction >= 0)
            snprintf(buf, size, "%s %3.0f%%%s", b, p->fraction * 100, tail);
        else
            snprintf(buf, size, "%s   ?%s", b, tail);
    }
    return buf;
}

bool cli_json_number(const char *json, const char *key, double *v_r)
{
    char pat[80];
    const char *p;
    char *end;
    double d;

    if (!json)
        return false;
    snprintf(pat, sizeof(pat), "\"%s\"", key);
    p = strstr(json, pat);
    if (!p)
        return false;
    p += strlen(pat);
    p += strspn(p, " \t\r\n");
    if (*p != ':')
        return false;
    p++;
    d = strtod(p, &end);
    if (end == p || !isfinite(d))
        return false;
    *v_r = d;
    return true;
}

char *cli_migrate_summary(const char *vm, const char *host,
                          const char *stats, char *buf, size_t size)
{
    double total, down;
    size_t o;

    o = (size_t)snprintf(buf, size, "migrated %s to %s", vm, host);
    if (o < size && cli_json_number(stats, "total_ms", &total))
        o += (size_t)snprintf(buf + o, size - o, " in %.2f s",
                              total / 1000.0);
    if (o < size && cli_json_number(stats, "guest_downtime_ms", &down))
        snprintf(buf + o, size - o, ", guest-observed downtime %g ms", down);
    else if (o < size && cli_json_number(stats, "downtime_ms", &down))
        snprintf(buf + o, size - o, ", downtime %g ms", down);
    return buf;
}
