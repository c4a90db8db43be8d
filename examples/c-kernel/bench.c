/* `exo-c-kernel --bench`: what one operation costs this kernel, timed in-process (no
 * protocol), on the configurations exo.cli.bench uses for the bundled Python implementation,
 * so `exo bench --c-kernel` can put the two side by side as ratios of one run:
 *   tlb_hit      a load whose binding is in the hardware TLB (outcome ACCESS);
 *   stlb_refill  loads alternating between two pages in a 1-slot TLB, so every one
 *                misses the TLB and refills from the STLB (REFILL_STLB);
 *   dealloc8     a Dealloc of a page bound at 8 virtual pages (8 TLB + 8 STLB entries),
 *                TLB of 64 and STLB of 1,000 slots;
 *   demuxN       a packet_arrive (NET-3) with N = 10, 100, 1,000 installed 'udp dst port
 *                P' filters (exo.cli.bench.port_filter, P = 1000 + slot, installed by
 *                op_filter_install, so the demux is the kernel's own: demux.c), on the
 *                packet mix of exo.cli.bench.packets_for: 90% to an installed port, 10% to
 *                none. The ring holds every packet of a pass, so a packet is delivered
 *                (copied into the ring) or dropped as NO_MATCH, never as RING_FULL; the
 *                ring is drained between passes, outside the timing.
 * Prints one JSON line of medians in nanoseconds. Every timed call's result is checked;
 * a wrong one exits 1. */
#define _POSIX_C_SOURCE 200809L
#include "kernel.h"
#include "demux.h"

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

/* ------------------------------------------------------------------ demux (NET-3) */

enum { BASE_PORT = 1000, UDP_LEN = 52, CHUNK = 1000 };

/* exo.cli.bench.port_filter: tcpdump's 'udp dst port PORT' on IPv4 over Ethernet */
static void port_filter(bpf_insn *p, uint32_t port)
{
    const bpf_insn prog[8] = {
        {0x28, 0, 0, 12}, {0x15, 0, 5, 0x0800}, {0x30, 0, 0, 23}, {0x15, 0, 3, 17},
        {0x28, 0, 0, 36}, {0x15, 0, 1, port}, {0x06, 0, 0, 0xFFFF}, {0x06, 0, 0, 0}};
    memcpy(p, prog, sizeof prog);
}

/* exo.cli.bench.udp_packet(dport): Ethernet/IPv4/UDP from port 1234, 10 bytes of 'x' */
static void udp_packet(uint8_t *p, uint32_t dport)
{
    static const uint8_t head[UDP_LEN - 10] = {
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0x08, 0x00,  /* Ethernet */
        0x45, 0, 0, 38, 0, 1, 0, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1,  /* IPv4 */
        0x04, 0xd2, 0, 0, 0, 18, 0, 0};                                    /* UDP */
    memcpy(p, head, sizeof head);
    p[36] = (uint8_t)(dport >> 8);
    p[37] = (uint8_t)dport;
    memset(p + sizeof head, 'x', 10);
}

/* splitmix64: the packet mix is drawn as exo.cli.bench.packets_for draws it (same
 * proportions and port ranges, another generator) */
static uint64_t next_random(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15u);
    z = (z ^ z >> 30) * 0xBF58476D1CE4E5B9u;
    z = (z ^ z >> 27) * 0x94D049BB133111EBu;
    return z ^ z >> 31;
}

static void bad_demux(const char *what, int64_t i, long long got, long long want)
{
    fprintf(stderr, "bench: demux %s on packet %lld: got %lld, want %lld\n", what,
            (long long)i, got, want);
    exit(1);
}

/* NET-3 as written: the lowest installed slot whose program accepts, or -1 */
static int64_t slot_loop(const struct kernel *k, const uint8_t *pkt, size_t len)
{
    for (int64_t f = 0; f < k->c.n_filters; f++)
        if (k->filter_valid[f] && bpf_run(k->filter_code[f], k->filter_len[f], pkt, len))
            return f;
    return -1;
}

/* median nanoseconds per packet_arrive with n_filters port filters of one environment
 * installed: `passes` passes over `count` packets, timed in chunks of CHUNK packets (a
 * chunk is ~0.1 ms, so a machine loaded by other processes preempts few of them and
 * the median over all chunks stays the packet's cost) */
static double demux_cost(int64_t n_filters, int count, int passes)
{
    struct config c = base_config();
    c.n_envs = 1; c.n_filters = n_filters; c.ring_size = count;
    struct kernel k;
    if (!kernel_init(&k, &c))
        exit(1);
    must(op_env_create(&k, xsmall(0), xsmall(0)), "env_create");
    for (int64_t i = 0; i < n_filters; i++) {
        bpf_insn prog[8];
        port_filter(prog, (uint32_t)(BASE_PORT + i));
        struct result r = op_filter_install(&k, xsmall(0), prog, 8);
        must(r, "filter_install");
        if (r.value != i)
            bad_demux("install slot", i, r.value, i);
    }
    uint8_t *pkts = malloc((size_t)count * UDP_LEN);
    int64_t *want = malloc((size_t)count * sizeof *want);
    int chunks = (count + CHUNK - 1) / CHUNK, n_t = 0;
    double *t = malloc((size_t)passes * chunks * sizeof *t);
    if (!pkts || !want || !t)
        exit(1);
    uint64_t seed = (uint64_t)n_filters;
    int delivered = 0;
    for (int i = 0; i < count; i++) {
        int64_t port = (double)(next_random(&seed) >> 11) * 0x1p-53 < 0.9
            ? BASE_PORT + (int64_t)(next_random(&seed) % (uint64_t)n_filters)
            : BASE_PORT + n_filters + (int64_t)(next_random(&seed) % 1000);
        uint8_t *p = pkts + (size_t)i * UDP_LEN;
        udp_packet(p, (uint32_t)port);
        want[i] = port < BASE_PORT + n_filters ? port - BASE_PORT : -1;
        delivered += want[i] >= 0;
        /* the demux answers the filters' own answer: the slot whose port it is */
        int64_t got = demux_classify(&k, p, UDP_LEN);
        if (got != want[i])
            bad_demux("slot", i, got, want[i]);
        if (i < 200 && slot_loop(&k, p, UDP_LEN) != got)
            bad_demux("slot against the loop", i, slot_loop(&k, p, UDP_LEN), got);
    }
    for (int r = 0; r < passes; r++) {
        for (int from = 0; from < count; from += CHUNK) {
            int to = from + CHUNK < count ? from + CHUNK : count;
            double t0 = now_ns();
            for (int i = from; i < to; i++) {
                struct result a = op_packet_arrive(&k, pkts + (size_t)i * UDP_LEN, UDP_LEN);
                int64_t outcome = want[i] >= 0 ? O_RX_DELIVERED : O_RX_NO_MATCH;
                if (a.status != OK || a.value != outcome)
                    bad_demux("outcome", i, a.value, outcome);
            }
            t[n_t++] = (now_ns() - t0) / (to - from);
        }
        /* outside the timing: the ring holds the delivered packets, in order */
        if (k.rx_count[0] != delivered)
            bad_demux("ring count", r, k.rx_count[0], delivered);
        for (int i = 0; i < count; i++) {
            if (want[i] < 0)
                continue;
            struct result g = op_packet_take(&k, xsmall(0));
            if (g.status != OK || g.n_bytes != UDP_LEN
                || memcmp(g.bytes, pkts + (size_t)i * UDP_LEN, UDP_LEN) != 0)
                bad_demux("delivered bytes", i, g.status, OK);
        }
    }
    double m = median(t, n_t);
    free(pkts);
    free(want);
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
    double dealloc = dealloc8(n / 40 * repeat / 7 + 100);
    int packets = n / 10;  /* exo.cli.bench.demux_costs: 20,000 (--quick 2,000) packets */
    double demux10 = demux_cost(10, packets, repeat);
    double demux100 = demux_cost(100, packets, repeat);
    double demux1000 = demux_cost(1000, packets, repeat);
    printf("{\"tlb_hit_ns\": %.2f, \"stlb_refill_ns\": %.2f, \"dealloc8_ns\": %.2f, "
           "\"demux10_ns\": %.2f, \"demux100_ns\": %.2f, \"demux1000_ns\": %.2f, "
           "\"repeat\": %d, \"loads\": %d, \"packets\": %d}\n",
           median(hit, repeat), median(refill, repeat), dealloc, demux10, demux100,
           demux1000, repeat, n, packets);
    return 0;
}
