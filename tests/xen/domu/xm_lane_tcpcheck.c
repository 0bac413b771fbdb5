/*
 * xm-lane-tcpcheck - does loopback TCP carry bytes intact on this machine?
 *
 *   xm-lane-tcpcheck PORT MIB
 *
 * Forks a sender that writes MIB MiB of a deterministic byte pattern in
 * 1 MiB writes to 127.0.0.1:PORT; the parent accepts and checks every
 * byte.  Prints one line (bytes received, bad bytes, first bad offset);
 * exit 0 only when everything arrived intact.  A diagnostic of the Xen
 * lane, to tell our engine's faults from the machine's: it has no code of
 * ours in the data path.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static uint8_t pat(uint64_t i) { return (uint8_t)((i * 2654435761u) >> 13); }

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: xm-lane-tcpcheck PORT MIB\n");
        return 2;
    }
    int port, one = 1, l, c;
    uint64_t total, i, got = 0, bad = 0, first = ~0ull;
    struct sockaddr_in a = { .sin_family = AF_INET };
    static uint8_t buf[1 << 20];
    pid_t pid;

    port = atoi(argv[1]);
    total = strtoull(argv[2], NULL, 10) << 20;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    l = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(l, (void *)&a, sizeof(a)) || listen(l, 1)) { perror("bind"); return 2; }
    pid = fork();
    if (pid == 0) {
        c = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(c, (void *)&a, sizeof(a))) { perror("connect"); _exit(2); }
        for (i = 0; i < total; i += sizeof(buf)) {
            uint64_t k;
            for (k = 0; k < sizeof(buf); k++) buf[k] = pat(i + k);
            for (k = 0; k < sizeof(buf); ) {
                ssize_t n = write(c, buf + k, sizeof(buf) - k);
                if (n <= 0) { perror("write"); _exit(2); }
                k += n;
            }
        }
        _exit(0);
    }
    c = accept(l, NULL, NULL);
    for (;;) {
        ssize_t n = read(c, buf, sizeof(buf)), k;
        if (n <= 0) break;
        for (k = 0; k < n; k++)
            if (buf[k] != pat(got + k)) { if (first == ~0ull) first = got + k; bad++; }
        got += n;
    }
    waitpid(pid, NULL, 0);
    printf("tcpcheck: %llu of %llu bytes received, %llu bad, first bad at %lld\n",
           (unsigned long long)got, (unsigned long long)total, (unsigned long long)bad,
           first == ~0ull ? -1LL : (long long)first);
    return bad || got != total;
}
