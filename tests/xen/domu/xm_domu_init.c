/*
 * xm-domu-init - the init (PID 1) of the Xen lane's test domUs.
 *
 * Runs in an initramfs of its own under Debian's kernel, as a PV or PVH
 * domU.  It keeps a working set of WS_PAGES pages dirty and checks its own
 * memory while doing so: page i always holds the 64-bit words
 * (i << 32 | gen[i]) with gen[i] its ledger entry, and every write first
 * verifies the page against the ledger.  A page a migration lost (a stale
 * copy) or corrupted shows up as a mismatch.  Each full pass over the
 * working set also verifies every page.
 *
 * On the console (hvc0), once per TICK_MS of guest time:
 *   xm-domu tick=<n> pass=<p> bad=<mismatches> gap_ms=<longest stall>
 * tick counts up by one each line, so a test reading the console log sees
 * the guest keep running across a migration (the line numbers continue)
 * and that its memory stayed intact (bad=0).  gap_ms is the longest time
 * between two iterations of the loop, as the guest's clock saw it.
 *
 * The working set defaults to 16 MiB; "xm_ws_mib=N" on the kernel command
 * line (the kernel passes unknown key=value words to init's environment)
 * changes it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PAGE            4096u
#define WORDS           (PAGE / 8u)
#define TICK_MS         500u
#define PAGES_PER_STEP  64u     /* pages rewritten between clock reads */

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void console(void)
{
    int fd;

    mkdir("/dev", 0755);
    mkdir("/proc", 0755);
    mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
    mount("proc", "/proc", "proc", 0, NULL);
    fd = open("/dev/hvc0", O_WRONLY | O_NOCTTY);
    if (fd < 0)
        fd = open("/dev/console", O_WRONLY | O_NOCTTY);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2)
            close(fd);
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
}

/* Verifies page i against its ledger entry; 1 if it does not match. */
static unsigned check(const uint64_t *page, uint64_t i, uint32_t gen)
{
    uint64_t want = i << 32 | gen;
    unsigned w;

    for (w = 0; w < WORDS; w++)
        if (page[w] != want)
            return 1;
    return 0;
}

static void fill(uint64_t *page, uint64_t i, uint32_t gen)
{
    uint64_t v = i << 32 | gen;
    unsigned w;

    for (w = 0; w < WORDS; w++)
        page[w] = v;
}

int main(void)
{
    const char *ws = getenv("xm_ws_mib");
    uint64_t nr = (ws ? strtoull(ws, NULL, 10) : 16) * (1u << 20) / PAGE;
    uint64_t tick = 0, pass = 0, bad = 0, pos = 0, i, gap = 0;
    uint64_t last, t, next_tick;
    uint32_t *gen;
    uint8_t *mem;

    if (!getenv("XM_DOMU_NO_CONSOLE"))
        console();
    if (!nr)
        nr = 1;
    mem = mmap(NULL, nr * PAGE, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    gen = calloc(nr, sizeof(*gen));
    if (mem == MAP_FAILED || !gen) {
        printf("xm-domu error: cannot allocate %llu pages: %s\n",
               (unsigned long long)nr, strerror(errno));
        for (;;)
            pause();
    }
    for (i = 0; i < nr; i++)
        fill((uint64_t *)(mem + i * PAGE), i, 0);
    printf("xm-domu ready pages=%llu\n", (unsigned long long)nr);

    last = now_ms();
    next_tick = last + TICK_MS;
    for (;;) {
        for (i = 0; i < PAGES_PER_STEP; i++) {
            uint64_t *page = (uint64_t *)(mem + pos * PAGE);

            bad += check(page, pos, gen[pos]);
            gen[pos]++;
            fill(page, pos, gen[pos]);
            if (++pos == nr) {
                pos = 0;
                pass++;
            }
        }
        /* A short sleep keeps the dirty rate modest under emulation. */
        usleep(2000);
        t = now_ms();
        if (t - last > gap)
            gap = t - last;
        last = t;
        if (t >= next_tick) {
            printf("xm-domu tick=%llu pass=%llu bad=%llu gap_ms=%llu\n",
                   (unsigned long long)++tick, (unsigned long long)pass,
                   (unsigned long long)bad, (unsigned long long)gap);
            next_tick = t + TICK_MS;
        }
    }
}
