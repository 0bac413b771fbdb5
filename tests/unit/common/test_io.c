/*
 * test_io.c - xt_read_full()/xt_write_full() over real socketpairs, pipes
 * and files: short reads and writes, timeouts, end of file, a vanished
 * peer.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "xt.h"
#include "../../tap.h"

#define BIG (1024 * 1024 + 17)
#define MS 1000000ull

static uint8_t pattern_byte(size_t i)
{
    return (uint8_t)(i * 131 + (i >> 9));
}

static void fill_pattern(uint8_t *buf, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        buf[i] = pattern_byte(i);
}

static bool check_pattern(const uint8_t *buf, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (buf[i] != pattern_byte(i))
            return false;
    }
    return true;
}

/* The peer: writes the pattern with raw write(2) in small uneven pieces,
 * pausing now and then, then closes its end. */
struct trickle {
    int fd;
    size_t len;
    int rc;
};

static void *trickle_writer(void *arg)
{
    struct trickle *t = arg;
    struct timespec pause = { .tv_sec = 0, .tv_nsec = 200 * 1000 };
    uint8_t *buf = malloc(t->len);
    size_t done = 0, piece, n = 0;
    ssize_t r;

    t->rc = 0;
    if (!buf) {
        t->rc = -ENOMEM;
        goto out;
    }
    fill_pattern(buf, t->len);
    while (done < t->len) {
        piece = 1 + (n * 7919) % 4093;
        if (piece > t->len - done)
            piece = t->len - done;
        r = write(t->fd, buf + done, piece);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            t->rc = -errno;
            goto out;
        }
        done += (size_t)r;
        if (++n % 64 == 0)
            nanosleep(&pause, NULL);
    }

out:
    free(buf);
    close(t->fd);
    return NULL;
}

/* The peer: reads everything with raw read(2) in small pieces. */
struct drain {
    int fd;
    bool close_at_end;  /* close fd when done: a peer that goes away */
    size_t got;
    uint8_t *buf;
    size_t cap;
};

static void *drain_reader(void *arg)
{
    struct drain *d = arg;
    size_t piece;
    ssize_t r;

    for (;;) {
        piece = 1 + d->got % 3001;
        if (piece > d->cap - d->got)
            piece = d->cap - d->got;
        if (piece == 0)
            break;
        r = read(d->fd, d->buf + d->got, piece);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        d->got += (size_t)r;
    }
    if (d->close_at_end)
        close(d->fd);
    return NULL;
}

/* Reads BIG bytes from a peer that trickles them, with the given fds. */
static void read_from_trickle(const char *kind, int rfd, int wfd,
                              int timeout_ms)
{
    struct trickle t = { .fd = wfd, .len = BIG };
    uint8_t *buf = malloc(BIG);
    size_t done = 0;
    pthread_t th;
    int rc;

    if (!buf || pthread_create(&th, NULL, trickle_writer, &t) != 0)
        tap_bail("cannot start the writer");
    rc = xt_read_full(rfd, buf, BIG, timeout_ms, &done);
    pthread_join(th, NULL);
    tap_is_int(t.rc, 0, "writer wrote everything");
    tap_ok(rc == 0 && done == BIG, "%s: read %d bytes from many short "
           "writes, timeout %d (rc %d done %zu)", kind, BIG, timeout_ms, rc,
           done);
    tap_ok(check_pattern(buf, BIG), "%s: bytes intact and in order", kind);
    free(buf);
    close(rfd);
}

/* Writes BIG bytes to a peer that drains them in small reads. */
static void write_to_drain(const char *kind, int wfd, int rfd,
                           int timeout_ms)
{
    struct drain d = { .fd = rfd, .cap = BIG };
    uint8_t *buf = malloc(BIG);
    pthread_t th;
    int rc;

    d.buf = malloc(BIG);
    if (!buf || !d.buf || pthread_create(&th, NULL, drain_reader, &d) != 0)
        tap_bail("cannot start the reader");
    fill_pattern(buf, BIG);
    rc = xt_write_full(wfd, buf, BIG, timeout_ms);
    close(wfd);
    pthread_join(th, NULL);
    tap_is_int(rc, 0, kind);
    tap_ok(d.got == BIG && check_pattern(d.buf, BIG),
           "%s: peer got all %d bytes in order (%zu)", kind, BIG, d.got);
    free(buf);
    free(d.buf);
    close(rfd);
}

static void make_socketpair(int sv[2])
{
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        tap_bail("socketpair failed");
}

static void make_pipe(int p[2])
{
    if (pipe2(p, O_CLOEXEC) < 0)
        tap_bail("pipe failed");
}

static void set_nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void test_full_transfers(void)
{
    int sv[2], p[2];

    make_socketpair(sv);
    read_from_trickle("socketpair, blocking", sv[0], sv[1], -1);
    make_socketpair(sv);
    read_from_trickle("socketpair, bounded", sv[0], sv[1], 20000);
    make_socketpair(sv);
    set_nonblock(sv[0]);
    read_from_trickle("socketpair, non-blocking", sv[0], sv[1], -1);
    make_pipe(p);
    read_from_trickle("pipe, blocking", p[0], p[1], -1);
    make_pipe(p);
    set_nonblock(p[0]);
    read_from_trickle("pipe, non-blocking, bounded", p[0], p[1], 20000);

    make_socketpair(sv);
    write_to_drain("socketpair write, blocking", sv[0], sv[1], -1);
    make_socketpair(sv);
    set_nonblock(sv[0]);
    write_to_drain("socketpair write, non-blocking", sv[0], sv[1], -1);
    make_pipe(p);
    write_to_drain("pipe write, bounded", p[1], p[0], 20000);
    make_pipe(p);
    set_nonblock(p[1]);
    write_to_drain("pipe write, non-blocking", p[1], p[0], -1);
}

/* Runs a call that must time out after about 200 ms. */
static void check_timeout(const char *what, int rc, uint64_t t0)
{
    uint64_t ms = (xt_now_ns() - t0) / MS;

    tap_is_int(rc, -ETIMEDOUT, what);
    tap_ok(ms >= 199 && ms < 2000, "%s: returned after %llu ms (bound 200)",
           what, (unsigned long long)ms);
}

static void test_timeouts(void)
{
    uint8_t *big = calloc(1, 16 * 1024 * 1024);
    uint8_t buf[64];
    size_t done = 99;
    uint64_t t0;
    int sv[2], p[2];
    int rc;

    if (!big)
        tap_bail("out of memory");

    make_socketpair(sv);
    t0 = xt_now_ns();
    rc = xt_read_full(sv[0], buf, sizeof(buf), 200, &done);
    check_timeout("read from a silent socket peer", rc, t0);
    tap_is_int((long long)done, 0, "nothing read");

    tap_is_int(write(sv[1], "abc", 3), 3, "peer sends 3 bytes");
    t0 = xt_now_ns();
    rc = xt_read_full(sv[0], buf, sizeof(buf), 200, &done);
    check_timeout("read of 64 when 3 come", rc, t0);
    tap_ok(done == 3 && memcmp(buf, "abc", 3) == 0, "done_r is 3, bytes kept");

    t0 = xt_now_ns();
    rc = xt_read_full(sv[0], buf, 1, 0, &done);
    tap_ok(rc == -ETIMEDOUT && (xt_now_ns() - t0) / MS < 100,
           "timeout 0 without data: -ETIMEDOUT at once");
    tap_is_int(write(sv[1], "z", 1), 1, "peer sends 1 byte");
    tap_ok(xt_read_full(sv[0], buf, 1, 0, NULL) == 0 && buf[0] == 'z',
           "timeout 0 with data: read");

    /* The peer never reads: the socket buffers fill up. */
    t0 = xt_now_ns();
    rc = xt_write_full(sv[0], big, 16 * 1024 * 1024, 200);
    check_timeout("write to a socket peer that does not read", rc, t0);
    close(sv[0]);
    close(sv[1]);

    /* A blocking pipe: its writes must be cut so they cannot block. */
    make_pipe(p);
    t0 = xt_now_ns();
    rc = xt_write_full(p[1], big, 16 * 1024 * 1024, 200);
    check_timeout("write to a full blocking pipe", rc, t0);
    t0 = xt_now_ns();
    rc = xt_read_full(p[0], big, 16 * 1024 * 1024, 200, &done);
    check_timeout("read more than the pipe held", rc, t0);
    tap_ok(done > 0 && done < 16 * 1024 * 1024,
           "what the pipe held was read (%zu)", done);
    close(p[0]);
    close(p[1]);
    free(big);
}

static void test_eof(void)
{
    uint8_t buf[10];
    size_t done = 99;
    char path[] = "/tmp/xt-io-XXXXXX";
    int sv[2], p[2], fd;
    int rc;

    make_socketpair(sv);
    tap_is_int(write(sv[1], "hello", 5), 5, "peer sends 5 bytes");
    close(sv[1]);
    rc = xt_read_full(sv[0], buf, sizeof(buf), 1000, &done);
    tap_ok(rc == -EPIPE && done == 5 && memcmp(buf, "hello", 5) == 0,
           "socket EOF after 5 of 10: -EPIPE, done_r 5 (rc %d done %zu)",
           rc, done);
    rc = xt_read_full(sv[0], buf, sizeof(buf), -1, &done);
    tap_ok(rc == -EPIPE && done == 0, "socket at EOF, unbounded: -EPIPE, 0");
    close(sv[0]);

    make_pipe(p);
    tap_is_int(write(p[1], "abcdefg", 7), 7, "pipe gets 7 bytes");
    close(p[1]);
    rc = xt_read_full(p[0], buf, sizeof(buf), -1, &done);
    tap_ok(rc == -EPIPE && done == 7, "pipe EOF after 7 of 10: -EPIPE, 7");
    close(p[0]);

    fd = mkstemp(path);
    if (fd < 0)
        tap_bail("mkstemp failed");
    unlink(path);
    tap_is_int(xt_write_full(fd, "0123456789", 10, 1000), 0,
               "write a regular file");
    lseek(fd, 0, SEEK_SET);
    tap_ok(xt_read_full(fd, buf, 4, 1000, &done) == 0 && done == 4 &&
           memcmp(buf, "0123", 4) == 0, "read part of a regular file");
    rc = xt_read_full(fd, buf, 10, -1, &done);
    tap_ok(rc == -EPIPE && done == 6, "regular file ends: -EPIPE, 6");
    close(fd);

    tap_is_int(xt_read_full(sv[0], buf, 0, 100, NULL), 0,
               "len 0 is done at once, even on a closed fd");
    tap_is_int(xt_read_full(-1, buf, 1, 100, NULL), -EBADF,
               "fd -1 bounded: -EBADF");
    tap_is_int(xt_read_full(-1, buf, 1, -1, NULL), -EBADF,
               "fd -1 unbounded: -EBADF");
    tap_is_int(xt_write_full(-1, buf, 1, 100), -EBADF,
               "write fd -1: -EBADF");
}

static bool sigpipe_in(int how)
{
    sigset_t set;

    if (how == 0)
        sigpending(&set);
    else
        pthread_sigmask(SIG_BLOCK, NULL, &set);
    return sigismember(&set, SIGPIPE) == 1;
}

static void test_closed_peer(void)
{
    static const char data[100000];
    int sv[2], p[2];
    int rc;

    /* SIGPIPE keeps its default action: if it were raised, the test
     * would die here. */
    signal(SIGPIPE, SIG_DFL);

    make_socketpair(sv);
    close(sv[1]);
    rc = xt_write_full(sv[0], data, sizeof(data), -1);
    tap_is_int(rc, -EPIPE, "write to a closed socket peer: -EPIPE");
    rc = xt_write_full(sv[0], data, 10, 500);
    tap_is_int(rc, -EPIPE, "again, bounded: -EPIPE");
    close(sv[0]);

    make_pipe(p);
    close(p[0]);
    rc = xt_write_full(p[1], data, sizeof(data), -1);
    tap_is_int(rc, -EPIPE, "write to a pipe without reader: -EPIPE");
    rc = xt_write_full(p[1], data, 10, 500);
    tap_is_int(rc, -EPIPE, "again, bounded: -EPIPE");
    tap_ok(!sigpipe_in(0), "no SIGPIPE left pending");
    tap_ok(!sigpipe_in(1), "signal mask restored");
    close(p[1]);

    /* A peer that reads a little, then goes away mid-write. */
    make_socketpair(sv);
    {
        struct drain d = { .fd = sv[1], .cap = 5000, .close_at_end = true };
        uint8_t *big = calloc(1, 8 * 1024 * 1024);
        pthread_t th;

        d.buf = malloc(d.cap);
        if (!big || !d.buf ||
            pthread_create(&th, NULL, drain_reader, &d) != 0)
            tap_bail("cannot start the reader");
        rc = xt_write_full(sv[0], big, 8 * 1024 * 1024, 5000);
        pthread_join(th, NULL);
        tap_ok(d.got == 5000, "peer read 5000 bytes before going away");
        tap_is_int(rc, -EPIPE, "peer gone mid-stream: -EPIPE");
        free(big);
        free(d.buf);
    }
    close(sv[0]);
    tap_ok(true, "still alive after writing to vanished peers");
}

int main(void)
{
    /* A hung call fails the test instead of hanging the suite. */
    alarm(120);
    test_full_transfers();
    test_timeouts();
    test_eof();
    test_closed_peer();
    return tap_done();
}
