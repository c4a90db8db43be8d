/* A driver for tests/test_c_bpf.py: bpf_verify and bpf_run (bpf.c) on cases read from
 * standard input, one line each:
 *
 *     PROGRAM PACKET PACKET ...
 *
 * PROGRAM is the WIRE-6 layout in hex (8 bytes per instruction, big-endian code, jt, jf,
 * k) and each PACKET is hex; "-" stands for an empty one. The answer, one line per case,
 * is the verdict (1 accepted, 0 refused), then, for an accepted program only, its return
 * value on each packet in decimal (FLT-4).
 */
#define _POSIX_C_SOURCE 200809L
#include "bpf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* hex text (or "-") into out; the number of bytes, or -1 */
static long unhex(const char *s, uint8_t *out, size_t cap)
{
    if (strcmp(s, "-") == 0)
        return 0;
    size_t n = strlen(s);
    if (n % 2 || n / 2 > cap)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = nibble(s[2 * i]), lo = nibble(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return (long)(n / 2);
}

int main(void)
{
    static uint8_t raw[8 * (BPF_MAX_INSNS + 64)], pkt[EXO_MAX_PACKET];
    static bpf_insn prog[BPF_MAX_INSNS + 64];
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, stdin)) > 0) {
        char *save = NULL, *word = strtok_r(line, " \n", &save);
        if (!word)
            continue;
        long nbytes = unhex(word, raw, sizeof raw);
        if (nbytes < 0 || nbytes % 8) {
            fprintf(stderr, "bad program: %s\n", word);
            return 2;
        }
        size_t n = (size_t)nbytes / 8;
        for (size_t i = 0; i < n; i++) {
            const uint8_t *b = raw + 8 * i;
            prog[i].code = (uint16_t)(b[0] << 8 | b[1]);
            prog[i].jt = b[2];
            prog[i].jf = b[3];
            prog[i].k = (uint32_t)b[4] << 24 | (uint32_t)b[5] << 16 | (uint32_t)b[6] << 8
                        | b[7];
        }
        int ok = bpf_verify(prog, n);
        printf("%d", ok);
        while ((word = strtok_r(NULL, " \n", &save)) != NULL) {
            long len = unhex(word, pkt, sizeof pkt);
            if (len < 0) {
                fprintf(stderr, "bad packet: %s\n", word);
                return 2;
            }
            if (ok)
                printf(" %lu", (unsigned long)bpf_run(prog, n, pkt, (size_t)len));
        }
        putchar('\n');
    }
    free(line);
    return fflush(stdout) == 0 ? 0 : 1;
}
