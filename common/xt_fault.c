/*
 * xt_fault.c - named fault points for tests (xt.h).  Nothing is kept
 * between hits: the arming is read from the environment and the file at
 * every hit (points sit at state changes, not in hot loops), and a "wait"
 * keeps its state in the files it creates and waits for.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xt.h"

#ifdef XM_FAULT_POINTS

#define SPEC_MAX        4096
#define WAIT_POLL_US    2000
#define WAIT_MAX_S      3600

/* The action armed for point in spec ("point=action" items separated by
 * commas or blanks), or NULL; *len_r its length. */
static const char *armed_in(const char *spec, const char *point,
                            size_t *len_r)
{
    size_t plen = strlen(point);
    const char *p = spec;

    while (p && *p) {
        size_t n;

        p += strspn(p, ", \t\n");
        n = strcspn(p, ", \t\n");
        if (n > plen + 1 && !strncmp(p, point, plen) && p[plen] == '=') {
            *len_r = n - plen - 1;
            return p + plen + 1;
        }
        p += n;
    }
    return NULL;
}

/* Reads the file of $XM_FAULT_FILE into buf (empty when there is none). */
static void read_spec_file(char *buf, size_t size)
{
    const char *path = getenv("XM_FAULT_FILE");
    ssize_t n = 0;
    int fd;

    buf[0] = '\0';
    if (!path || !*path)
        return;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    n = read(fd, buf, size - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
}

static bool exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

/* "wait": POINT.hit tells the test we are here; POINT.go lets us go. */
static void wait_here(struct xt_ctx *ctx, const char *point)
{
    const char *dir = getenv("XM_FAULT_DIR");
    char hit[4096], go[4096];
    uint64_t end = xt_now_ns() + WAIT_MAX_S * 1000000000ull;
    int fd;

    if (!dir || !*dir) {
        xt_warn(ctx, "fault injection: %s: wait needs $XM_FAULT_DIR; "
                "going on", point);
        return;
    }
    snprintf(hit, sizeof(hit), "%s/%s.hit", dir, point);
    snprintf(go, sizeof(go), "%s/%s.go", dir, point);
    fd = open(hit, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0)
        close(fd);
    while (!exists(go) && xt_now_ns() < end)
        usleep(WAIT_POLL_US);
    xt_warn(ctx, "fault injection: %s: released", point);
}

enum xt_fault_action xt_fault(struct xt_ctx *ctx, const char *point)
{
    char file[SPEC_MAX], act[16];
    const char *a = NULL, *env = getenv("XM_FAULT");
    size_t n = 0;

    if (env)
        a = armed_in(env, point, &n);
    if (!a) {
        read_spec_file(file, sizeof(file));
        a = armed_in(file, point, &n);
    }
    if (!a)
        return XT_FAULT_NONE;
    snprintf(act, sizeof(act), "%.*s", (int)(n < sizeof(act) ? n : 0), a);
    xt_warn(ctx, "fault injection: %s: %s", point, act);
    if (!strcmp(act, "kill")) {
        kill(getpid(), SIGKILL);
        pause();    /* SIGKILL is not blocked: never reached */
    }
    if (!strcmp(act, "wait")) {
        wait_here(ctx, point);
        return XT_FAULT_NONE;
    }
    if (!strcmp(act, "fail"))
        return XT_FAULT_FAIL;
    if (!strcmp(act, "drop"))
        return XT_FAULT_DROP;
    if (!strcmp(act, "corrupt"))
        return XT_FAULT_CORRUPT;
    xt_warn(ctx, "fault injection: %s: unknown action '%s' ignored", point,
            act);
    return XT_FAULT_NONE;
}

#endif /* XM_FAULT_POINTS */
