/*
 * xm-lane-regcheck - does this machine keep a process's SSE registers and
 * its memory intact?
 *
 *   xm-lane-regcheck SECONDS MIB
 *
 * A diagnostic of the Xen lane, to tell faults of ours from the emulated
 * machine's.  Two checks run in turn until SECONDS have passed:
 *  - registers: xmm0..xmm15 are loaded with a known pattern, the CPU
 *    spins on general-purpose registers only (long enough for the vCPU to
 *    be descheduled and other domains to run), then the sixteen registers
 *    are stored and compared with the pattern;
 *  - memory: MIB MiB are filled and re-checked with general-purpose
 *    loads and stores only (this file is built with -mgeneral-regs-only,
 *    so the compiler uses no vector register for it).
 * Prints one line: checks done and mismatches of each kind; exit 0 only
 * when nothing mismatched.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define SPINS 2000000ul

static uint64_t now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec;
}

/* Loads in[0..31] into xmm0..15, spins, stores them to out[0..31]. */
static void reg_round(const uint64_t *in, uint64_t *out, unsigned long spins)
{
    __asm__ volatile(
        "movdqu   0(%[i]), %%xmm0\n\t"  "movdqu  16(%[i]), %%xmm1\n\t"
        "movdqu  32(%[i]), %%xmm2\n\t"  "movdqu  48(%[i]), %%xmm3\n\t"
        "movdqu  64(%[i]), %%xmm4\n\t"  "movdqu  80(%[i]), %%xmm5\n\t"
        "movdqu  96(%[i]), %%xmm6\n\t"  "movdqu 112(%[i]), %%xmm7\n\t"
        "movdqu 128(%[i]), %%xmm8\n\t"  "movdqu 144(%[i]), %%xmm9\n\t"
        "movdqu 160(%[i]), %%xmm10\n\t" "movdqu 176(%[i]), %%xmm11\n\t"
        "movdqu 192(%[i]), %%xmm12\n\t" "movdqu 208(%[i]), %%xmm13\n\t"
        "movdqu 224(%[i]), %%xmm14\n\t" "movdqu 240(%[i]), %%xmm15\n\t"
        "1: dec %[n]\n\t"
        "jnz 1b\n\t"
        "movdqu %%xmm0,    0(%[o])\n\t" "movdqu %%xmm1,   16(%[o])\n\t"
        "movdqu %%xmm2,   32(%[o])\n\t" "movdqu %%xmm3,   48(%[o])\n\t"
        "movdqu %%xmm4,   64(%[o])\n\t" "movdqu %%xmm5,   80(%[o])\n\t"
        "movdqu %%xmm6,   96(%[o])\n\t" "movdqu %%xmm7,  112(%[o])\n\t"
        "movdqu %%xmm8,  128(%[o])\n\t" "movdqu %%xmm9,  144(%[o])\n\t"
        "movdqu %%xmm10, 160(%[o])\n\t" "movdqu %%xmm11, 176(%[o])\n\t"
        "movdqu %%xmm12, 192(%[o])\n\t" "movdqu %%xmm13, 208(%[o])\n\t"
        "movdqu %%xmm14, 224(%[o])\n\t" "movdqu %%xmm15, 240(%[o])\n\t"
        : [n] "+r"(spins)
        : [i] "r"(in), [o] "r"(out)
        : "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5",
          "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",
          "xmm13", "xmm14", "xmm15");
}

static uint64_t word(uint64_t i, uint64_t gen)
{
    return (i * 0x9e3779b97f4a7c15ull) ^ (gen << 48) ^ gen;
}

int main(int argc, char **argv)
{
    uint64_t in[32], out[32], end, gen, i, n, reg_checks = 0, reg_bad = 0;
    uint64_t mem_checks = 0, mem_bad = 0, first_bad = 0;
    volatile uint64_t *mem;
    int k;

    if (argc != 3) {
        fprintf(stderr, "usage: xm-lane-regcheck SECONDS MIB\n");
        return 2;
    }
    end = now_s() + strtoull(argv[1], NULL, 10);
    n = strtoull(argv[2], NULL, 10) << 17;      /* 8-byte words */
    mem = malloc(n * sizeof(*mem));
    if (!mem) {
        fprintf(stderr, "xm-lane-regcheck: no memory\n");
        return 2;
    }
    for (i = 0; i < n; i++)
        mem[i] = word(i, 0);
    for (gen = 1; now_s() < end; gen++) {
        for (k = 0; k < 32; k++) {
            in[k] = word((uint64_t)k, gen) | 1;
            out[k] = 0;
        }
        reg_round(in, out, SPINS);
        reg_checks++;
        for (k = 0; k < 32; k++) {
            if (out[k] != in[k]) {
                if (!reg_bad)
                    fprintf(stderr, "xmm%d: wrote %#llx, read %#llx\n", k / 2,
                            (unsigned long long)in[k],
                            (unsigned long long)out[k]);
                reg_bad++;
            }
        }
        for (i = 0; i < n; i++) {
            if (mem[i] != word(i, gen - 1)) {
                if (!mem_bad)
                    first_bad = i * 8;
                mem_bad++;
            }
            mem[i] = word(i, gen);
        }
        mem_checks++;
    }
    printf("regcheck: %llu register rounds, %llu bad words; %llu memory "
           "passes, %llu bad words (first at byte %llu)\n",
           (unsigned long long)reg_checks, (unsigned long long)reg_bad,
           (unsigned long long)mem_checks, (unsigned long long)mem_bad,
           (unsigned long long)first_bad);
    return reg_bad || mem_bad;
}
