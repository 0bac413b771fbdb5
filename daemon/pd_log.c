/*
 * pd_log.c - where the daemon's log lines go.
 *
 * common/ logs "prog: level: message" lines to a FILE.  For syslog, the
 * journal and log files that FILE is a stdio cookie stream that takes each
 * line apart again: the level becomes the syslog priority (or the
 * sd-daemon "<N>" prefix), and file lines get a UTC timestamp and the pid.
 * stdio locks the stream around each write, so the line buffer needs no
 * lock of its own.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "pd_internal.h"

#define LINE_MAX_BYTES (XT_ERRMSG_MAX + 256)

struct pd_log {
    struct xt_ctx *ctx;
    enum pd_log_target target;
    char *path;                 /* PD_LOG_FILE */
    int fd;                     /* PD_LOG_FILE, else -1 */
    FILE *stream;               /* the cookie stream, NULL for stderr */
    char line[LINE_MAX_BYTES];  /* the line being assembled */
    size_t len;
};

static const struct {
    const char *word;           /* as xt_log() writes it */
    int priority;
} levels[] = {
    { "error: ", LOG_ERR },
    { "warning: ", LOG_WARNING },
    { "info: ", LOG_INFO },
    { "debug: ", LOG_DEBUG },
};

/* Splits "prog: level: message" into a priority and the message. */
static const char *parse_line(const struct pd_log *log, const char *line,
                              int *priority_r)
{
    const char *prog = log->ctx->prog;
    size_t n = prog ? strlen(prog) : 0, i;

    if (n && strncmp(line, prog, n) == 0 && line[n] == ':' &&
        line[n + 1] == ' ')
        line += n + 2;
    for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        n = strlen(levels[i].word);
        if (strncmp(line, levels[i].word, n) == 0) {
            *priority_r = levels[i].priority;
            return line + n;
        }
    }
    *priority_r = LOG_INFO;
    return line;
}

static void emit_line(struct pd_log *log, const char *line)
{
    char out[LINE_MAX_BYTES + 64], stamp[32];
    const char *msg;
    struct timespec ts;
    struct tm tm;
    int priority, n;

    switch (log->target) {
    case PD_LOG_SYSLOG:
        msg = parse_line(log, line, &priority);
        syslog(priority, "%s", msg);
        break;
    case PD_LOG_JOURNAL:
        msg = parse_line(log, line, &priority);
        n = snprintf(out, sizeof(out), "<%d>%s\n", priority, msg);
        if (n > 0)
            (void)xt_write_full(STDERR_FILENO, out,
                                (size_t)n < sizeof(out) ? (size_t)n :
                                sizeof(out) - 1, -1);
        break;
    case PD_LOG_FILE:
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
        n = snprintf(out, sizeof(out), "%s.%03ldZ [%ld] %s\n", stamp,
                     ts.tv_nsec / 1000000, (long)getpid(), line);
        /* One write(2) per line: O_APPEND keeps lines whole. */
        if (n > 0)
            (void)xt_write_full(log->fd, out,
                                (size_t)n < sizeof(out) ? (size_t)n :
                                sizeof(out) - 1, -1);
        break;
    case PD_LOG_STDERR:
        break;
    }
}

static ssize_t cookie_write(void *cookie, const char *buf, size_t size)
{
    struct pd_log *log = cookie;
    size_t i;

    for (i = 0; i < size; i++) {
        if (buf[i] == '\n') {
            log->line[log->len] = '\0';
            emit_line(log, log->line);
            log->len = 0;
        } else if (log->len < sizeof(log->line) - 1) {
            log->line[log->len++] = buf[i];
        }
    }
    return (ssize_t)size;
}

static int open_file(struct xt_ctx *ctx, const char *path)
{
    int fd;

    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY,
              0640);
    if (fd < 0)
        return xt_error(ctx, -errno, "cannot open log file %s", path);
    return fd;
}

int pd_log_open(struct xt_ctx *ctx, const struct pd_config *cfg,
                struct pd_log **log_r)
{
    static const cookie_io_functions_t io = { .write = cookie_write };
    struct pd_log *log = NULL;
    int rc;

    *log_r = NULL;
    log = calloc(1, sizeof(*log));
    if (!log)
        return xt_error(ctx, -ENOMEM, "out of memory");
    log->ctx = ctx;
    log->target = cfg->log_target;
    log->fd = -1;

    if (log->target == PD_LOG_FILE) {
        log->path = strdup(cfg->log_file);
        if (!log->path) {
            rc = xt_error(ctx, -ENOMEM, "out of memory");
            goto out;
        }
        rc = open_file(ctx, log->path);
        if (rc < 0)
            goto out;
        log->fd = rc;
    }
    if (log->target != PD_LOG_STDERR) {
        log->stream = fopencookie(log, "w", io);
        if (!log->stream) {
            rc = xt_error(ctx, -errno, "cannot create the log stream");
            goto out;
        }
        setvbuf(log->stream, NULL, _IOLBF, 0);
    }
    if (log->target == PD_LOG_SYSLOG)
        openlog(ctx->prog, LOG_PID | LOG_NDELAY, LOG_DAEMON);

    ctx->log = log->stream ? log->stream : stderr;
    ctx->level = cfg->log_level;
    *log_r = log;
    log = NULL;
    rc = 0;

out:
    pd_log_close(log);
    return rc;
}

int pd_log_reopen(struct pd_log *log)
{
    int fd;

    if (!log || log->target != PD_LOG_FILE)
        return 0;
    fd = open(log->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
              O_NOCTTY, 0640);
    if (fd < 0) {
        /* Keep logging to the old file; say so there. */
        return xt_error(log->ctx, -errno, "cannot reopen log file %s",
                        log->path);
    }
    /* dup2() swaps the file under log->fd atomically for writers. */
    if (dup2(fd, log->fd) < 0) {
        close(fd);
        return xt_error(log->ctx, -errno, "cannot reopen log file %s",
                        log->path);
    }
    close(fd);
    return 0;
}

void pd_log_close(struct pd_log *log)
{
    if (!log)
        return;
    if (log->ctx && log->stream && log->ctx->log == log->stream)
        log->ctx->log = stderr;
    if (log->stream)
        fclose(log->stream);
    if (log->target == PD_LOG_SYSLOG)
        closelog();
    if (log->fd >= 0)
        close(log->fd);
    free(log->path);
    free(log);
}
