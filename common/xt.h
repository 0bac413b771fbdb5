/*
 * xt.h - common helpers of xm-pool: context, logging, report-once errors,
 * UUIDs, config files, full I/O with timeouts, bitmaps.
 *
 * Conventions (see STYLE.md): actions return 0 or a negative errno;
 * predicates return bool; constructors return a pointer or NULL.
 */
#ifndef XT_H
#define XT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- context, logging, errors ------------------------------------------ */

enum xt_log_level {
    XT_LOG_ERROR = 0,
    XT_LOG_WARN  = 1,
    XT_LOG_INFO  = 2,
    XT_LOG_DEBUG = 3,
};

#define XT_ERRMSG_MAX 512

/*
 * The root context: owned by main() (or a test), passed to every call.
 * Holds the log sink and the last error reported into it.  Not shared
 * between threads without external locking; a thread that needs its own
 * error slot gets its own context from xt_ctx_new().
 */
struct xt_ctx {
    enum xt_log_level level;    /* messages above this are dropped */
    FILE *log;                  /* sink, default stderr; not owned */
    const char *prog;           /* prefix of log lines, e.g. "xm-vmm" */
    int err_rc;                 /* last reported error, 0 if none */
    char err_msg[XT_ERRMSG_MAX];/* its message */
    bool quiet_errors;          /* record errors without logging them
                                 * (tests that expect an error) */
};

/* Allocates a context logging to stderr at XT_LOG_INFO; NULL on ENOMEM.
 * Caller frees with xt_ctx_free() (NULL-safe). */
struct xt_ctx *xt_ctx_new(const char *prog);
void xt_ctx_free(struct xt_ctx *ctx);

/* Parses "error", "warn", "info", "debug" (or 0-3); -EINVAL otherwise. */
int xt_log_level_parse(const char *s, enum xt_log_level *level_r);

void xt_log(struct xt_ctx *ctx, enum xt_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define xt_warn(ctx, ...)  xt_log((ctx), XT_LOG_WARN, __VA_ARGS__)
#define xt_info(ctx, ...)  xt_log((ctx), XT_LOG_INFO, __VA_ARGS__)
#define xt_debug(ctx, ...) xt_log((ctx), XT_LOG_DEBUG, __VA_ARGS__)

/*
 * Reports an error once, where it happens: records rc and the message in
 * ctx (err_rc, err_msg) and logs it at XT_LOG_ERROR, with ": strerror(-rc)"
 * appended.  rc must be a negative errno.  Returns rc so callers can write
 * `return xt_error(ctx, -EINVAL, "bad %s", x);`.
 */
int xt_error(struct xt_ctx *ctx, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Clears the recorded error. */
void xt_error_clear(struct xt_ctx *ctx);

/*
 * An operation's error: the first one reported while it ran, kept apart
 * from the contexts its steps report into, so that what a cleanup reports
 * later (into the same context) cannot replace it.  Start it zeroed.
 * xt_err_take records rc, with ctx's last message when that message is
 * about rc (else strerror's), unless e holds an error already; xt_err_set
 * does the
 * same with a message of its own; both return e->rc (the first error).
 * xt_err_put makes e the last error of ctx again, without logging it a
 * second time (it was logged where it happened), and returns e->rc.
 * Not thread-safe: an operation shared by threads guards its xt_err.
 */
struct xt_err {
    int rc;                     /* 0: no error yet */
    char msg[XT_ERRMSG_MAX];
};
int xt_err_take(struct xt_err *e, const struct xt_ctx *ctx, int rc);
int xt_err_set(struct xt_err *e, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int xt_err_put(const struct xt_err *e, struct xt_ctx *ctx);

/* Monotonic clock in nanoseconds (CLOCK_MONOTONIC, comparable across
 * processes on one machine). */
uint64_t xt_now_ns(void);

/* ---- fault points (tests) -------------------------------------------- */

/*
 * A named fault point: a place in a long operation where a test makes a
 * failure happen at one state, every time, rather than after a delay.
 * Points are named "module.side.state" (e.g. "mig.send.commit-sent") and
 * listed with the operation's states in docs/specs and docs/design.  They
 * are armed by $XM_FAULT and by the file named by $XM_FAULT_FILE (read at
 * every hit, so that a test can arm a running daemon), both
 * "point=action[,point=action...]" (blanks and newlines separate too):
 *
 *   kill     the process dies at once (SIGKILL); xt_fault does not return
 *   wait     the point creates $XM_FAULT_DIR/POINT.hit and waits until the
 *            test creates $XM_FAULT_DIR/POINT.go, then goes on (NONE)
 *   fail     returns XT_FAULT_FAIL: the caller fails there (-EIO)
 *   drop     returns XT_FAULT_DROP: the caller shuts its connections down
 *   corrupt  returns XT_FAULT_CORRUPT: the caller corrupts what it sends
 *
 * Each hit that fires is logged as a warning into ctx.  A build configured
 * with --disable-fault-points has none: xt_fault is then always NONE.
 */
enum xt_fault_action {
    XT_FAULT_NONE = 0,
    XT_FAULT_FAIL,
    XT_FAULT_DROP,
    XT_FAULT_CORRUPT,
};
#ifdef XM_FAULT_POINTS
enum xt_fault_action xt_fault(struct xt_ctx *ctx, const char *point);
#else
static inline enum xt_fault_action xt_fault(struct xt_ctx *ctx,
                                            const char *point)
{
    (void)ctx;
    (void)point;
    return XT_FAULT_NONE;
}
#endif

/* ---- versions ---------------------------------------------------------- */

/* Versions ("0.1.10") compared number by number, a missing part being 0;
 * <0, 0 or >0.  A part that is no number compares the rest as text. */
int xt_version_cmp(const char *a, const char *b);

/* ---- UUIDs ------------------------------------------------------------- */

#define XT_UUID_STRLEN 36   /* without the NUL */

struct xt_uuid {
    uint8_t b[16];
};

/* Random version-4 UUID from getrandom(2). 0 or -errno. */
int xt_uuid_generate(struct xt_uuid *u);
/* Parses the canonical 8-4-4-4-12 form, either case; -EINVAL otherwise. */
int xt_uuid_parse(const char *s, struct xt_uuid *u);
/* Writes the lowercase canonical form and a NUL into buf[37]. */
void xt_uuid_format(const struct xt_uuid *u, char buf[XT_UUID_STRLEN + 1]);
bool xt_uuid_equal(const struct xt_uuid *a, const struct xt_uuid *b);
bool xt_uuid_is_nil(const struct xt_uuid *u);

/* ---- config files ------------------------------------------------------ */

#define XT_CONFIG_DEFAULT_PATH "/etc/xm-pool.conf"

struct xt_config;   /* opaque */

/*
 * Reads a `key = value` file: '#' starts a comment (whole line or after
 * white space), blank lines are ignored, keys are [A-Za-z0-9_.-]+, values
 * are trimmed and may be double-quoted (with \" and \\ escapes).  A later
 * key overrides an earlier one.  A malformed line fails the whole load with
 * -EINVAL and an error "PATH:LINE: what is wrong" reported into ctx.
 *
 * path NULL means: $XM_POOL_CONF if set, else XT_CONFIG_DEFAULT_PATH.  A
 * missing file is -ENOENT (reported) unless missing_ok, in which case an
 * empty config is returned.  Caller frees *cfg_r with xt_config_free().
 */
int xt_config_load(struct xt_ctx *ctx, const char *path, bool missing_ok,
                   struct xt_config **cfg_r);
/* Parses text as if it were a file called name (tests, overrides). */
int xt_config_parse(struct xt_ctx *ctx, const char *name, const char *text,
                    struct xt_config **cfg_r);
void xt_config_free(struct xt_config *cfg);

/* The value of key, or NULL.  Owned by cfg. */
const char *xt_config_get(const struct xt_config *cfg, const char *key);
/* Typed getters: def when the key is absent; -EINVAL (reported, naming the
 * file, line and key) when present but not a valid value. */
int xt_config_get_str(struct xt_ctx *ctx, const struct xt_config *cfg,
                      const char *key, const char *def, const char **val_r);
int xt_config_get_u64(struct xt_ctx *ctx, const struct xt_config *cfg,
                      const char *key, uint64_t def, uint64_t *val_r);
int xt_config_get_bool(struct xt_ctx *ctx, const struct xt_config *cfg,
                       const char *key, bool def, bool *val_r);
/* Reports -EINVAL as "PATH:LINE: key: message" naming where key was set
 * (without the line when key is absent or an override).  Returns -EINVAL,
 * for checks the typed getters cannot make (ranges, address forms). */
int xt_config_error(struct xt_ctx *ctx, const struct xt_config *cfg,
                    const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Fails with -EINVAL, reported as "PATH:LINE: unknown key 'k'", on the
 * first key of cfg (in file order) not in known, a NULL-terminated list. */
int xt_config_check_keys(struct xt_ctx *ctx, const struct xt_config *cfg,
                         const char *const *known);
/* Sets or replaces key (used for command-line overrides). 0 or -ENOMEM. */
int xt_config_set(struct xt_config *cfg, const char *key, const char *value);

/* ---- I/O --------------------------------------------------------------- */

/*
 * Reads exactly len bytes, retrying on EINTR and short reads, waiting with
 * poll(2) when the fd is non-blocking.  timeout_ms < 0 waits forever;
 * otherwise it bounds the whole call.  Returns 0, -ETIMEDOUT, -EPIPE on a
 * premature end of file (bytes read so far in *done_r if not NULL), or the
 * read(2) errno negated.  Does not report into a context: callers know what
 * was being read and report that.
 */
int xt_read_full(int fd, void *buf, size_t len, int timeout_ms, size_t *done_r);
/* Writes exactly len bytes; same rules (-EPIPE when the peer is gone; uses
 * send(MSG_NOSIGNAL) on sockets so no SIGPIPE). */
int xt_write_full(int fd, const void *buf, size_t len, int timeout_ms);

/*
 * In a child between fork and exec: no signal blocked, the default action
 * for every signal.  A service blocks the signals it takes with
 * sigtimedwait, and a child would inherit that mask through exec: a
 * block service or a VMM that cannot be stopped with SIGTERM.
 */
void xt_child_signals_reset(void);
/* In the same child: stdin from /dev/null, stdout and stderr appended to
 * the file log (created, truncated); what cannot be opened is left. */
void xt_child_stdio(const char *log);

/* ---- bitmaps over 64-bit words ----------------------------------------- */

#define XT_BITMAP_WORDS(nbits) (((nbits) + 63) / 64)

/* Allocates a zeroed bitmap of nbits; caller frees with free(). */
uint64_t *xt_bitmap_alloc(uint64_t nbits);
static inline void xt_bitmap_set(uint64_t *bm, uint64_t bit)
{
    bm[bit / 64] |= 1ull << (bit % 64);
}
static inline void xt_bitmap_clear(uint64_t *bm, uint64_t bit)
{
    bm[bit / 64] &= ~(1ull << (bit % 64));
}
static inline bool xt_bitmap_test(const uint64_t *bm, uint64_t bit)
{
    return (bm[bit / 64] >> (bit % 64)) & 1;
}
/* Index of the first set bit >= from, or nbits if none. */
uint64_t xt_bitmap_find_next(const uint64_t *bm, uint64_t nbits, uint64_t from);
/* Number of set bits among the first nbits. */
uint64_t xt_bitmap_popcount(const uint64_t *bm, uint64_t nbits);
/* dst |= src over nbits. */
void xt_bitmap_or(uint64_t *dst, const uint64_t *src, uint64_t nbits);
void xt_bitmap_zero(uint64_t *bm, uint64_t nbits);
void xt_bitmap_fill(uint64_t *bm, uint64_t nbits);   /* bits >= nbits stay 0 */

#endif /* XT_H */
