/*
 * nbd_cycle.c - the test guest's disk cycle (guest-abi.md 6.5) done by a
 * plain libnbd client, no VM: per batch of B blocks, B reads, then B
 * writes of the same blocks, a FLUSH every 256 writes; N writes in all
 * over a working set of the export's first WS bytes.  bench_storage.py
 * runs it against the same backend as the guest, so that storage.io can
 * tell the NBD path's own cost from the VM's.
 *
 *   nbd_cycle URI BATCH WRITES WS_BYTES
 *
 * Prints one JSON object: writes, write MiB/s (writes x 4 KiB / the whole
 * cycle's time, reads and flushes included, as the guest's figure), and
 * the write batches' latency p50/p99 in microseconds.
 */
#include "config.h"

#include <libnbd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BLOCK   4096u
#define MAX_B   64u

static double now_us(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int done(void *user_data, int *error)
{
    int *pending = user_data;

    if (*error)
        pending[1] = *error;
    pending[0]--;
    return 1;
}

/* B requests at block first..first+B-1 (mod the working set), awaited. */
static int batch(struct nbd_handle *h, uint8_t *buf, unsigned b,
                 uint64_t first, uint64_t blocks, int write)
{
    int pending[2] = { 0, 0 };
    unsigned i;

    for (i = 0; i < b; i++) {
        nbd_completion_callback cb = { .callback = done,
                                       .user_data = pending };
        uint64_t off = (first + i) % blocks * BLOCK;
        int64_t c = write ?
            nbd_aio_pwrite(h, buf + i * BLOCK, BLOCK, off, cb, 0) :
            nbd_aio_pread(h, buf + i * BLOCK, BLOCK, off, cb, 0);

        if (c < 0)
            return -1;
        pending[0]++;
    }
    while (pending[0] > 0)
        if (nbd_poll(h, -1) < 0)
            return -1;
    return pending[1] ? -1 : 0;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    struct nbd_handle *h;
    unsigned b;
    uint64_t writes, blocks, nb, i, done_w = 0;
    double *lat, t0, t;
    uint8_t *buf;

    if (argc != 5 || !(b = (unsigned)atoi(argv[2])) || b > MAX_B ||
        !(writes = strtoull(argv[3], NULL, 10)) ||
        !(blocks = strtoull(argv[4], NULL, 10) / BLOCK)) {
        fprintf(stderr, "usage: nbd_cycle URI BATCH WRITES WS_BYTES\n");
        return 2;
    }
    nb = (writes + b - 1) / b;
    buf = calloc(b, BLOCK);
    lat = calloc(nb, sizeof(*lat));
    h = nbd_create();
    if (!buf || !lat || !h || nbd_connect_uri(h, argv[1]) < 0) {
        fprintf(stderr, "nbd_cycle: %s\n", nbd_get_error());
        return 1;
    }
    memset(buf, 0x5a, (size_t)b * BLOCK);
    t0 = now_us();
    for (i = 0; i < nb; i++) {
        uint64_t first = i * b;

        if (batch(h, buf, b, first, blocks, 0) < 0)
            goto fail;
        t = now_us();
        if (batch(h, buf, b, first, blocks, 1) < 0)
            goto fail;
        lat[i] = now_us() - t;
        if ((done_w + b) / 256 != done_w / 256 && nbd_flush(h, 0) < 0)
            goto fail;
        done_w += b;
    }
    t = now_us() - t0;
    qsort(lat, nb, sizeof(*lat), cmp);
    printf("{\"writes\": %llu, \"write_mib_s\": %.1f, \"p50_us\": %.1f, "
           "\"p99_us\": %.1f}\n", (unsigned long long)done_w,
           done_w * BLOCK / (t / 1e6) / (1 << 20), lat[nb / 2],
           lat[nb * 99 / 100]);
    nbd_shutdown(h, 0);
    nbd_close(h);
    free(buf);
    free(lat);
    return 0;
fail:
    fprintf(stderr, "nbd_cycle: %s\n", nbd_get_error());
    nbd_close(h);
    return 1;
}
