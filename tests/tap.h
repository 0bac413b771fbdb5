/*
 * tap.h - a small header-only TAP producer for the unit tests, read by
 * automake's tap-driver.sh.
 *
 *     tap_plan(3);                     or no plan: tap_done() prints it
 *     tap_ok(x > 0, "x positive (%d)", x);
 *     tap_is_int(rc, -EINVAL, "bad input rejected");
 *     tap_is_str(s, "abc", "formatted");
 *     return tap_done();
 *
 * tap_skip_all(reason) prints "1..0 # SKIP reason" and exits 0.  The
 * counters live in a static struct: acceptable in a test helper only (the
 * product code keeps no global mutable state).  Not thread-safe: report
 * from the main thread.
 */
#ifndef TAP_H
#define TAP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static __attribute__((unused)) struct {
    int planned;        /* -1 until tap_plan() */
    int run;
    int failed;
} tap_state = { -1, 0, 0 };

static inline void tap_plan(int n)
{
    tap_state.planned = n;
    printf("1..%d\n", n);
    fflush(stdout);
}

static inline __attribute__((format(printf, 1, 2)))
void tap_diag(const char *fmt, ...)
{
    va_list ap;

    fputs("# ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

static inline bool tap_vok(bool cond, const char *fmt, va_list ap)
{
    tap_state.run++;
    if (!cond)
        tap_state.failed++;
    printf("%sok %d - ", cond ? "" : "not ", tap_state.run);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    fflush(stdout);
    return cond;
}

/* One test point; returns cond so callers can add diagnostics. */
static inline __attribute__((format(printf, 2, 3)))
bool tap_ok(bool cond, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    tap_vok(cond, fmt, ap);
    va_end(ap);
    return cond;
}

static inline bool tap_is_int(long long got, long long want, const char *name)
{
    if (tap_ok(got == want, "%s", name))
        return true;
    tap_diag("  got  %lld", got);
    tap_diag("  want %lld", want);
    return false;
}

static inline bool tap_is_u64(uint64_t got, uint64_t want, const char *name)
{
    if (tap_ok(got == want, "%s", name))
        return true;
    tap_diag("  got  %llu (0x%llx)", (unsigned long long)got,
             (unsigned long long)got);
    tap_diag("  want %llu (0x%llx)", (unsigned long long)want,
             (unsigned long long)want);
    return false;
}

/* NULL equals only NULL. */
static inline bool tap_is_str(const char *got, const char *want,
                              const char *name)
{
    bool same = (!got && !want) || (got && want && strcmp(got, want) == 0);

    if (tap_ok(same, "%s", name))
        return true;
    if (got)
        tap_diag("  got  \"%s\"", got);
    else
        tap_diag("  got  NULL");
    if (want)
        tap_diag("  want \"%s\"", want);
    else
        tap_diag("  want NULL");
    return false;
}

/* Counts n test points as passed-by-skipping. */
static inline void tap_skip(int n, const char *reason)
{
    while (n-- > 0) {
        tap_state.run++;
        printf("ok %d # SKIP %s\n", tap_state.run, reason);
    }
    fflush(stdout);
}

static inline __attribute__((noreturn))
void tap_skip_all(const char *reason)
{
    printf("1..0 # SKIP %s\n", reason);
    fflush(stdout);
    exit(0);
}

/* Aborts the whole run (a setup step failed). */
static inline __attribute__((noreturn))
void tap_bail(const char *reason)
{
    printf("Bail out! %s\n", reason);
    fflush(stdout);
    exit(1);
}

/* Prints the plan if none was given; the exit status for main(). */
static inline int tap_done(void)
{
    if (tap_state.planned < 0) {
        printf("1..%d\n", tap_state.run);
        tap_state.planned = tap_state.run;
    } else if (tap_state.planned != tap_state.run) {
        tap_diag("planned %d tests but ran %d", tap_state.planned,
                 tap_state.run);
        fflush(stdout);
        return 1;
    }
    if (tap_state.failed)
        tap_diag("failed %d of %d tests", tap_state.failed, tap_state.run);
    fflush(stdout);
    return tap_state.failed ? 1 : 0;
}

#endif /* TAP_H */
