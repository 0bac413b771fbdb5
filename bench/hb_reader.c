/*
 * hb_reader.c - timestamps a test guest's heartbeats under QEMU, for
 * bench/bench_migrate.sh.
 *
 *   hb_reader --listen SOCKET --out FILE
 *
 * QEMU routes the guest's heartbeat port to a chardev:
 *   -chardev socket,id=hb,path=SOCKET
 *   -device isa-debugcon,iobase=0xea,chardev=hb
 * and, with KVM, delivers one byte (the low byte of hb_seq) per heartbeat
 * (docs/specs/guest-abi.md section 7).  hb_reader listens on the Unix
 * socket SOCKET, prints {"event":"listening"} on stdout once QEMU may
 * connect, accepts one connection and writes one line per byte to FILE:
 * "<CLOCK_MONOTONIC ns> <byte>", the time being that of the read() that
 * returned the byte (bytes read together share it), flushed after every
 * read so that FILE can be read while the guest runs.  It stops at end of
 * file (QEMU quit) or on SIGTERM/SIGINT, flushing FILE, and exits 0.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        { "listen", required_argument, NULL, 'l' },
        { "out", required_argument, NULL, 'o' },
        { NULL, 0, NULL, 0 },
    };
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct sigaction sact;
    const char *path = NULL, *out = NULL;
    unsigned char buf[256];
    FILE *f = NULL;
    int opt, lfd = -1, fd = -1, rc = 1;
    ssize_t r, i;

    while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (opt) {
        case 'l': path = optarg; break;
        case 'o': out = optarg; break;
        default: goto usage;
        }
    }
    if (!path || !out || strlen(path) >= sizeof(sa.sun_path))
        goto usage;

    memset(&sact, 0, sizeof(sact));
    sact.sa_handler = on_signal;        /* no SA_RESTART: read() returns */
    sigaction(SIGTERM, &sact, NULL);
    sigaction(SIGINT, &sact, NULL);

    f = fopen(out, "w");
    if (!f) {
        perror("hb_reader: output");
        goto out;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    unlink(path);
    lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(lfd, 1) < 0) {
        perror("hb_reader: listen");
        goto out;
    }
    printf("{\"event\":\"listening\"}\n");
    fflush(stdout);
    while (!stop && fd < 0) {
        fd = accept(lfd, NULL, NULL);
        if (fd < 0 && errno != EINTR) {
            perror("hb_reader: accept");
            goto out;
        }
    }
    while (!stop) {
        r = read(fd, buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        {
            uint64_t t = now_ns();

            for (i = 0; i < r; i++)
                fprintf(f, "%llu %u\n", (unsigned long long)t, buf[i]);
            /* The bench reads FILE while we run. */
            fflush(f);
        }
    }
    rc = 0;
out:
    if (f && fclose(f) != 0)
        rc = 1;
    if (fd >= 0)
        close(fd);
    if (lfd >= 0) {
        close(lfd);
        unlink(path);
    }
    return rc;
usage:
    fprintf(stderr, "usage: hb_reader --listen SOCKET --out FILE\n");
    return 2;
}
