/* `exo-c-kernel --bench`: what one operation costs this kernel, timed in-process (no
 * protocol), on the configurations exo.cli.bench uses for the bundled Python implementation,
 * so `exo bench --c-kernel` can put the two side by side as ratios of one run:
 *   tlb_hit      a load whose binding is in the hardware TLB (outcome ACCESS);
 *   stlb_refill  loads alternating between two pages in a 1-slot TLB, so every one
 *                misses the TLB and refills from the STLB (REFILL_STLB);
 *   dealloc8     a Dealloc of a page bound at 8 virtual pages (8 TLB + 8 STLB entries),
 *                TLB of 64 and STLB of 1,000 slots.
 * Prints one JSON line of medians in nanoseconds. Every timed call's result is checked;
 * a wrong one exits 1. */
#define _POSIX_C_SOURCE 200809L
#include "kernel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void must(struct result r, const char *what)
{
    if (r.status != OK) {
        fprintf(stderr, "bench setup: %s failed with status %d\n", what, r.status);
        exit(1);
    }
}

static struct config base_config(void)
{
    struct config c = {4, 8, 4, 4, 8, 6, 4, 2, 4, 3, 2, (int64_t)1 << 32, 4, 2};
    return c;
}

enum { VP_A = 5, VP_B = 6 };

/* exo.cli.bench.refill_setup: env 0 running, VP_A -> page 0 and VP_B -> page 1 written in
 * that order into a 1-slot TLB (VP_A then lives in the STLB only) */
static void refill_setup(struct kernel *k)
{
    struct config c = base_config();
    c.n_envs = 2; c.n_pages = 4; c.tlb_size = 1; c.stlb_size = 8; c.slice_ticks = 3;
    if (!kernel_init(k, &c))
        exit(1);
    must(op_env_create(k, xsmall(0), xsmall(0)), "env_create");
    struct result a = op_alloc(k, xsmall(0), xsmall(0)), b = op_alloc(k, xsmall(0), xsmall(1));
    must(a, "alloc");
    must(b, "alloc");
    must(op_slice_alloc(k, xsmall(0), xsmall(1)), "slice_alloc");
    must(op_set_interrupt_context(k, xsmall(0), xsmall(0), xsmall(100)), "set_interrupt");
    for (int i = 0; i < 64 && k->cur_env != 0; i++)
        op_timer_tick(k);
    if (k->cur_env != 0) {
        fprintf(stderr, "bench setup: env 0 never started running\n");
        exit(1);
    }
    must(op_tlbwr(k, xsmall(0), xsmall(VP_A), a.cap, true), "tlbwr");
    must(op_tlbwr(k, xsmall(0), xsmall(VP_B), b.cap, true), "tlbwr");
}

static double time_loads(struct kernel *k, int n, bool alternate, enum outcome want)
{
    double t0 = now_ns();
    for (int i = 0; i < n; i++) {
        int64_t vp = alternate && !(i & 1) ? VP_A : VP_B;
        struct result r = op_load(k, xsmall(vp), xsmall(0), xsmall(0));
        if (r.status != OK || r.value != want) {
            fprintf(stderr, "bench: load gave status %d value %lld\n", r.status,
                    (long long)r.value);
            exit(1);
        }
    }
    return (now_ns() - t0) / n;
}

static double dealloc8(int rounds)
{
    struct config c = base_config();
    c.n_envs = 2; c.n_pages = 4; c.tlb_size = 64; c.stlb_size = 1000;
    struct kernel k;
    if (!kernel_init(&k, &c))
        exit(1);
    must(op_env_create(&k, xsmall(0), xsmall(0)), "env_create");
    double *t = malloc(rounds * sizeof *t);
    for (int r = 0; r < rounds; r++) {
        struct result a = op_alloc(&k, xsmall(0), xsmall(0));
        must(a, "alloc");
        for (int b = 0; b < 8; b++)
            must(op_tlbwr(&k, xsmall(0), xsmall((r * 8) % 512 + b), a.cap, true), "tlbwr");
        double t0 = now_ns();
        struct result d = op_dealloc(&k, xsmall(0), a.cap);
        t[r] = now_ns() - t0;
        if (d.status != OK || k.stlb.head[0] >= 0 || k.tlb.head[0] >= 0) {
            fprintf(stderr, "bench: dealloc left bindings of page 0\n");
            exit(1);
        }
    }
    double m = median(t, rounds);
    free(t);
    kernel_free(&k);
    return m;
}

int bench_main(int argc, char **argv)
{
    int repeat = 7, n = 200000;
    if (argc > 1 && strcmp(argv[1], "--quick") == 0) {
        repeat = 3;
        n = 20000;
    }
    double hit[16], refill[16];
    struct kernel k;
    refill_setup(&k);
    for (int r = 0; r < repeat; r++)
        hit[r] = time_loads(&k, n, false, O_ACCESS);
    for (int r = 0; r < repeat; r++)
        refill[r] = time_loads(&k, n, true, O_REFILL_STLB);
    kernel_free(&k);
    printf("{\"tlb_hit_ns\": %.2f, \"stlb_refill_ns\": %.2f, \"dealloc8_ns\": %.2f, "
           "\"repeat\": %d, \"loads\": %d}\n",
           median(hit, repeat), median(refill, repeat), dealloc8(n / 40 * repeat / 7 + 100),
           repeat, n);
    return 0;
}
