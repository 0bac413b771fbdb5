/*
 * tcp_copy.c - the raw-TCP baseline of bench/bench_migrate.sh: copies N MiB
 * of incompressible memory over one loopback TCP connection, between two
 * processes, and prints how long it took as one JSON line on stdout:
 *
 *   {"mode":"memfd","mib":1024,"ms":...,"mib_s":...}
 *
 * The sender (the parent) fills a memfd of N MiB with xorshift64* output
 * and faults it in before the clock starts, then writes it from that
 * mapping in chunks of --chunk-kib (default 4 MiB, one batch of the
 * migration stream).  The receiver (a forked child) reads each chunk
 * into a buffer, then, in mode "memfd", copies it into a fresh memfd of
 * N MiB mapped shared -- as our receiver copies each page of a batch into
 * the destination VM's memfd, including the first-touch faults of that
 * memfd -- or, in mode "discard", drops it.
 *
 * Mode "prefault" is the physical limit of the path: the receiver maps a
 * memfd of N MiB, writes every page of it once (so no page fault is
 * left to take), takes one untimed warm-up pass of the whole copy (see
 * warm_up()), then recv()s the timed copy straight into that mapping,
 * with no intermediate buffer.
 *
 * Mode "fresh" is the limit of the path into memory never touched before,
 * as a destination VM's is: the receiver allocates each chunk of a fresh
 * memfd in one call (fallocate, the cheapest way to back it: no page
 * fault per page) and recv()s the chunk straight into it.  What it takes
 * over mode prefault is the cost of first touch on this host.
 *
 * The time runs from connect() to the receiver's one-byte
 * acknowledgement, sent once the last byte is in place.  Both ends tune
 * their socket as xl-migrate/mig_net.c does (TCP_NODELAY, 4 MiB buffers)
 * unless --no-tune.  "cpu_ms" is the CPU time (user + system) both
 * processes spent on the copy: the sender's from connect() to the
 * acknowledgement; the receiver's whole life in modes memfd and discard,
 * and in mode prefault that from the accept() of the timed connection to
 * its acknowledgement (the pre-faulting and the warm-up pass are not the
 * copy), which the receiver measures itself and sends after the
 * acknowledgement.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum mode {
    MODE_MEMFD = 0,
    MODE_DISCARD,
    MODE_PREFAULT,
    MODE_FRESH,
};

static const char *const mode_names[] = {
    [MODE_MEMFD] = "memfd",
    [MODE_DISCARD] = "discard",
    [MODE_PREFAULT] = "prefault",
    [MODE_FRESH] = "fresh",
};

struct opts {
    enum mode mode;
    uint64_t bytes;
    size_t chunk;
    bool tune;
};

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void tune(int fd, const struct opts *o)
{
    int one = 1, buf = 4 << 20;

    if (!o->tune)
        return;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
}

/* A shared mapping of a fresh memfd of size bytes, or NULL; *fd_r (if
 * given) keeps the memfd open, else it is closed. */
static void *memfd_map_fd(const char *name, uint64_t size, int *fd_r)
{
    void *p;
    int fd = memfd_create(name, MFD_CLOEXEC);

    if (fd < 0) {
        perror("tcp_copy: memfd_create");
        return NULL;
    }
    if (ftruncate(fd, (off_t)size) < 0) {
        perror("tcp_copy: ftruncate");
        close(fd);
        return NULL;
    }
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        perror("tcp_copy: mmap");
        close(fd);
        return NULL;
    }
    if (fd_r)
        *fd_r = fd;
    else
        close(fd);
    return p;
}

static void *memfd_map(const char *name, uint64_t size)
{
    return memfd_map_fd(name, size, NULL);
}

static uint64_t cpu_ns(const struct rusage *ru)
{
    return (uint64_t)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) *
           1000000000ull +
           (uint64_t)(ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) * 1000ull;
}

static int read_full(int fd, void *buf, size_t len)
{
    char *p = buf;
    ssize_t r;

    while (len) {
        r = read(fd, p, len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        len -= (size_t)r;
    }
    return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    ssize_t r;

    while (len) {
        r = write(fd, p, len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        len -= (size_t)r;
    }
    return 0;
}

static int recv_full(int fd, char *dst, uint64_t len);

/* One chunk of n bytes at off: into buf then mem (memfd), into buf only
 * (discard), or allocated and received straight into mem (fresh). */
static int recv_chunk(int fd, const struct opts *o, char *buf, char *mem,
                      int memfd, uint64_t off, size_t n)
{
    if (o->mode == MODE_FRESH) {
        if (fallocate(memfd, 0, (off_t)off, (off_t)n) < 0) {
            perror("tcp_copy: fallocate");
            return -1;
        }
        return recv_full(fd, mem + off, n);
    }
    if (read_full(fd, buf, n) < 0)
        return -1;
    if (mem)
        memcpy(mem + off, buf, n);
    return 0;
}

/* The child in modes memfd, discard and fresh: accept one connection,
 * take o->bytes, acknowledge. */
static int receiver(int lfd, const struct opts *o)
{
    char *mem = NULL, *buf;
    uint64_t off;
    int fd, memfd = -1, rc = 1;

    buf = malloc(o->chunk);
    if (!buf)
        return 1;
    if (o->mode != MODE_DISCARD &&
        !(mem = memfd_map_fd("tcp-copy-dst", o->bytes, &memfd)))
        goto out_buf;
    fd = accept(lfd, NULL, NULL);
    if (fd < 0) {
        perror("tcp_copy: accept");
        goto out;
    }
    tune(fd, o);
    for (off = 0; off < o->bytes; off += o->chunk) {
        size_t n = o->bytes - off < o->chunk ? o->bytes - off : o->chunk;

        if (recv_chunk(fd, o, buf, mem, memfd, off, n) < 0) {
            fprintf(stderr, "tcp_copy: receiver: short read at %llu\n",
                    (unsigned long long)off);
            goto out_fd;
        }
    }
    if (write_full(fd, "k", 1) == 0)
        rc = 0;
out_fd:
    close(fd);
out:
    if (mem) {
        munmap(mem, o->bytes);
        close(memfd);
    }
out_buf:
    free(buf);
    return rc;
}

/*
 * Receives len bytes straight into dst; 0, or -1 on error or EOF.
 * MSG_WAITALL: one call takes it all, the kernel copying as data comes,
 * the fewest system calls; the loop is for a signal or a short return.
 */
static int recv_full(int fd, char *dst, uint64_t len)
{
    ssize_t r;

    while (len) {
        r = recv(fd, dst, len, MSG_WAITALL);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        dst += r;
        len -= (uint64_t)r;
    }
    return 0;
}

/* Writes one byte of every page of mem, so that each is faulted in. */
static void prefault(char *mem, uint64_t size)
{
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), off;

    for (off = 0; off < size; off += page)
        ((volatile char *)mem)[off] = 0;
}

/*
 * The child in mode prefault: pre-fault the destination, then take two
 * passes, the sender's warm-up and the timed one, each received whole
 * into the destination and acknowledged.  After the timed pass's
 * acknowledgement it sends, on the same connection, the CPU time (ns, in
 * host order: same host) it spent from that pass's accept() to the
 * acknowledgement.  The pre-faulting is done before the warm-up pass is
 * acknowledged, hence before the sender's clock starts.
 */
static int receiver_prefault(int lfd, const struct opts *o)
{
    struct rusage ru0, ru1;
    uint64_t cpu;
    char *mem;
    int pass, fd = -1, rc = 1;

    mem = memfd_map("tcp-copy-dst", o->bytes);
    if (!mem)
        return 1;
    prefault(mem, o->bytes);
    for (pass = 0; pass < 2; pass++) {
        getrusage(RUSAGE_SELF, &ru0);
        fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            perror("tcp_copy: accept");
            goto out;
        }
        tune(fd, o);
        if (recv_full(fd, mem, o->bytes) < 0) {
            fprintf(stderr, "tcp_copy: receiver: short read in pass %d\n",
                    pass);
            goto out;
        }
        getrusage(RUSAGE_SELF, &ru1);
        if (write_full(fd, "k", 1) < 0)
            goto out;
        if (pass == 0) {
            close(fd);
            fd = -1;
        }
    }
    cpu = cpu_ns(&ru1) - cpu_ns(&ru0);
    if (write_full(fd, &cpu, sizeof(cpu)) == 0)
        rc = 0;
out:
    if (fd >= 0)
        close(fd);
    munmap(mem, o->bytes);
    return rc;
}

static void fill_random(uint64_t *w, uint64_t words)
{
    uint64_t x = 0x9e3779b97f4a7c15ull, i;

    for (i = 0; i < words; i++) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        w[i] = x * 0x2545f4914f6cdd1dull;
    }
}

/* Writes the whole source to fd, o->chunk bytes per write(). */
static int send_src(int fd, const char *src, const struct opts *o)
{
    uint64_t off;

    for (off = 0; off < o->bytes; off += o->chunk) {
        size_t n = o->bytes - off < o->chunk ? o->bytes - off : o->chunk;

        if (write_full(fd, src + off, n) < 0)
            return -1;
    }
    return 0;
}

/*
 * Mode prefault's untimed warm-up: the whole copy once, on a connection
 * of its own, acknowledged like the timed one.  A full pass over the
 * connection rather than an untimed memcpy, because what it warms is the
 * path itself -- the kernel's socket buffer and skb allocations, the
 * page tables and TLB of both mappings, the CPUs' clocks -- so that the
 * timed pass measures the path in its steady state, not its first use.
 * Its acknowledgement also tells the sender that the receiver has
 * finished pre-faulting, which would otherwise run under the clock.
 */
static int warm_up(const struct sockaddr_in *sa, const char *src,
                   const struct opts *o)
{
    char ack;
    int fd, rc = -1;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("tcp_copy: socket");
        return -1;
    }
    tune(fd, o);
    if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0) {
        perror("tcp_copy: warm-up connect");
        goto out;
    }
    if (send_src(fd, src, o) < 0) {
        perror("tcp_copy: warm-up write");
        goto out;
    }
    if (read_full(fd, &ack, 1) < 0) {
        fprintf(stderr, "tcp_copy: no acknowledgement of the warm-up\n");
        goto out;
    }
    rc = 0;
out:
    close(fd);
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: tcp_copy [--mode memfd|discard|prefault|fresh] "
            "[--mib N] "
            "[--chunk-kib N] [--no-tune]\n");
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        { "mode", required_argument, NULL, 'm' },
        { "mib", required_argument, NULL, 'n' },
        { "chunk-kib", required_argument, NULL, 'c' },
        { "no-tune", no_argument, NULL, 't' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct opts o = {
        .mode = MODE_MEMFD,
        .bytes = 1024ull << 20,
        .chunk = 4u << 20,
        .tune = true,
    };
    struct sockaddr_in sa = { .sin_family = AF_INET };
    socklen_t sl = sizeof(sa);
    char *src = NULL, ack;
    struct rusage ru0, ru1, ru_child;
    uint64_t t0 = 0, t1 = 0, recv_cpu = 0, child_cpu;
    int opt, lfd = -1, fd = -1, status, rc = 1;
    size_t i;
    pid_t pid = -1;

    while ((opt = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (opt) {
        case 'm':
            for (i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++)
                if (!strcmp(optarg, mode_names[i]))
                    break;
            if (i == sizeof(mode_names) / sizeof(mode_names[0]))
                goto bad;
            o.mode = (enum mode)i;
            break;
        case 'n':
            o.bytes = strtoull(optarg, NULL, 10) << 20;
            if (!o.bytes || o.bytes > (64ull << 30))
                goto bad;
            break;
        case 'c':
            o.chunk = (size_t)strtoul(optarg, NULL, 10) << 10;
            if (!o.chunk || o.chunk > (256u << 20))
                goto bad;
            break;
        case 't':
            o.tune = false;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            goto bad;
        }
    }

    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(lfd, 1) < 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0) {
        perror("tcp_copy: listen");
        goto out;
    }
    pid = fork();
    if (pid < 0) {
        perror("tcp_copy: fork");
        goto out;
    }
    if (pid == 0)
        _exit(o.mode == MODE_PREFAULT ? receiver_prefault(lfd, &o)
                                      : receiver(lfd, &o));
    close(lfd);
    lfd = -1;

    src = memfd_map("tcp-copy-src", o.bytes);
    if (!src)
        goto out;
    fill_random((uint64_t *)(void *)src, o.bytes / 8);
    if (o.mode == MODE_PREFAULT && warm_up(&sa, src, &o) < 0)
        goto out;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto out;
    tune(fd, &o);
    getrusage(RUSAGE_SELF, &ru0);
    t0 = now_ns();
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        perror("tcp_copy: connect");
        goto out;
    }
    if (send_src(fd, src, &o) < 0) {
        perror("tcp_copy: write");
        goto out;
    }
    if (read_full(fd, &ack, 1) < 0) {
        fprintf(stderr, "tcp_copy: no acknowledgement\n");
        goto out;
    }
    t1 = now_ns();
    getrusage(RUSAGE_SELF, &ru1);
    if (o.mode == MODE_PREFAULT &&
        read_full(fd, &recv_cpu, sizeof(recv_cpu)) < 0) {
        fprintf(stderr, "tcp_copy: no CPU time from the receiver\n");
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (lfd >= 0)
        close(lfd);
    if (src)
        munmap(src, o.bytes);
    if (pid > 0) {
        if (rc)
            kill(pid, SIGKILL);
        memset(&ru_child, 0, sizeof(ru_child));
        if (wait4(pid, &status, 0, &ru_child) != pid ||
            !WIFEXITED(status) || WEXITSTATUS(status))
            rc = 1;
    }
    child_cpu = o.mode == MODE_PREFAULT ? recv_cpu : cpu_ns(&ru_child);
    if (rc == 0)
        printf("{\"mode\":\"%s\",\"mib\":%llu,\"chunk_kib\":%zu,"
               "\"tuned\":%s,\"ms\":%.3f,\"mib_s\":%.1f,"
               "\"cpu_ms\":%.1f}\n",
               mode_names[o.mode],
               (unsigned long long)(o.bytes >> 20), o.chunk >> 10,
               o.tune ? "true" : "false", (t1 - t0) / 1e6,
               (double)(o.bytes >> 20) * 1e9 / (double)(t1 - t0),
               (cpu_ns(&ru1) - cpu_ns(&ru0) + child_cpu) / 1e6);
    return rc;
bad:
    usage(stderr);
    return 2;
}
