/*
 * xt_io.c - reading and writing exactly len bytes, with an optional bound
 * on the whole call.
 *
 * With a timeout, every read(2)/write(2) is preceded by poll(2), so the
 * call never waits past the deadline, even on a blocking fd: a readable fd
 * returns what it has, and writes to a non-socket are cut to PIPE_BUF,
 * which a writable pipe always takes without blocking.  Once the deadline
 * has passed, the fd is still polled once without waiting, so a timeout of
 * 0 means "only what can be done now".
 *
 * Sockets are written with send(MSG_NOSIGNAL), adding MSG_DONTWAIT when
 * bounded; other fds with SIGPIPE blocked in the calling thread, a SIGPIPE
 * raised by our own write being consumed before the mask is restored.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "xt.h"

/* Deadline in xt_now_ns() time, or 0 for none. */
static uint64_t deadline_of(int timeout_ms)
{
    if (timeout_ms < 0)
        return 0;
    return xt_now_ns() + (uint64_t)timeout_ms * 1000000ull;
}

/*
 * Waits until fd is ready for events or the deadline passes.  Returns 0
 * when the caller should try its read or write (ready, or an error or
 * hang-up that the syscall will report), -ETIMEDOUT, or -errno.
 */
static int wait_fd(int fd, short events, uint64_t deadline)
{
    struct pollfd pfd = { .fd = fd, .events = events };
    uint64_t now, left;
    int timeout, r;

    if (fd < 0)
        return -EBADF;      /* poll(2) would silently ignore it */
    for (;;) {
        timeout = -1;
        if (deadline) {
            /* Past the deadline, still look once without waiting: a
             * timeout of 0 means "what is there now". Round up so that
             * we never spin on a sub-millisecond rest. */
            now = xt_now_ns();
            left = now >= deadline ? 0 : (deadline - now + 999999) / 1000000;
            timeout = left > INT_MAX ? INT_MAX : (int)left;
        }
        r = poll(&pfd, 1, timeout);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0) {
            if (deadline && xt_now_ns() >= deadline)
                return -ETIMEDOUT;
            continue;
        }
        if (pfd.revents & POLLNVAL)
            return -EBADF;
        return 0;
    }
}

int xt_read_full(int fd, void *buf, size_t len, int timeout_ms, size_t *done_r)
{
    uint64_t deadline = deadline_of(timeout_ms);
    bool bounded = timeout_ms >= 0;
    char *p = buf;
    size_t done = 0;
    ssize_t r;
    int rc = 0;

    while (done < len) {
        if (bounded) {
            rc = wait_fd(fd, POLLIN, deadline);
            if (rc < 0)
                goto out;
        }
        r = read(fd, p + done, len - done);
        if (r > 0) {
            done += (size_t)r;
            continue;
        }
        if (r == 0) {
            rc = -EPIPE;
            goto out;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            rc = -errno;
            goto out;
        }
        /* Non-blocking fd and nothing there yet. */
        if (!bounded) {
            rc = wait_fd(fd, POLLIN, 0);
            if (rc < 0)
                goto out;
        }
    }
    rc = 0;

out:
    if (done_r)
        *done_r = done;
    return rc;
}

/*
 * Blocks SIGPIPE in this thread; *pending_r says whether one was already
 * pending (then it is not ours to consume).
 */
static void sigpipe_block(sigset_t *old_r, bool *pending_r)
{
    sigset_t pipe_set, pending;

    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigpending(&pending);
    *pending_r = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_set, old_r);
}

static void sigpipe_restore(const sigset_t *old, bool was_pending,
                            bool got_epipe)
{
    static const struct timespec zero;
    sigset_t pipe_set;

    if (got_epipe && !was_pending) {
        sigemptyset(&pipe_set);
        sigaddset(&pipe_set, SIGPIPE);
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, old, NULL);
}

int xt_write_full(int fd, const void *buf, size_t len, int timeout_ms)
{
    uint64_t deadline = deadline_of(timeout_ms);
    bool bounded = timeout_ms >= 0;
    bool is_socket = true, masked = false, was_pending = false;
    const char *p = buf;
    sigset_t old_mask;
    size_t done = 0, chunk;
    int saved_errno;
    ssize_t r;
    int rc = 0;

    while (done < len) {
        if (bounded) {
            rc = wait_fd(fd, POLLOUT, deadline);
            if (rc < 0)
                goto out;
        }
        chunk = len - done;
        if (is_socket) {
            r = send(fd, p + done, chunk,
                     MSG_NOSIGNAL | (bounded ? MSG_DONTWAIT : 0));
            if (r < 0 && errno == ENOTSOCK) {
                is_socket = false;
                sigpipe_block(&old_mask, &was_pending);
                masked = true;
                continue;
            }
        } else {
            if (bounded && chunk > PIPE_BUF)
                chunk = PIPE_BUF;
            r = write(fd, p + done, chunk);
        }
        if (r > 0) {
            done += (size_t)r;
            continue;
        }
        if (r == 0) {
            rc = -EIO;      /* no progress and no error: do not spin */
            goto out;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            rc = -errno;
            goto out;
        }
        if (!bounded) {
            rc = wait_fd(fd, POLLOUT, 0);
            if (rc < 0)
                goto out;
        }
    }
    rc = 0;

out:
    if (masked) {
        saved_errno = errno;
        sigpipe_restore(&old_mask, was_pending, rc == -EPIPE);
        errno = saved_errno;
    }
    return rc;
}

void xt_child_signals_reset(void)
{
    sigset_t none;
    int sig;

    for (sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

void xt_child_stdio(const char *log)
{
    int fd = open("/dev/null", O_RDONLY);

    if (fd >= 0 && fd != 0) {
        dup2(fd, 0);
        close(fd);
    }
    fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2)
            close(fd);
    }
}
