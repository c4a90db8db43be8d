/* exo-c-kernel: a line-protocol driver for dfilter.c (FLT-9), used by
 * tests/test_c_dfilter.py to compare it with model/dfilter.py.
 *
 *     cc -std=c11 -O2 -Wall -Wextra -Wpedantic -Werror -o dfilter-test dfilter_test.c dfilter.c
 *
 * One command per line on stdin, one answer line each on stdout (flushed):
 *     R <program>            -> NONE | <dfilter>       df_recognize
 *     O <dfilter> ; <dfilter> -> NONE | <hex>           df_overlap (the witness, may be empty)
 *     A <dfilter> ; <hex>     -> 1 | 0                  df_accepts
 *     TR <reps> <program>     -> <ns per df_recognize>  timing
 *     TO <reps> <dfilter> ; <dfilter> -> <ns per df_overlap>
 * A malformed command answers "ERR <why>", a failed allocation "NOMEM".
 *
 * <program>: 16 hex digits per instruction, code (2 bytes), jt (1), jf (1), k (4), each
 * big-endian (the wire protocol's program form, WIRE-6).
 * <dfilter>: "F" for the empty DFilter; else its conjunctions separated by "|", each "T"
 * (the empty conjunction) or its atoms separated by blanks, an atom being
 * "offset,size,mask,value" in decimal. df_recognize's answer is written the same way.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dfilter.h"

/* One line of stdin without its newline, malloc'd; NULL at the end of input. */
static char *read_line(void)
{
    size_t cap = 256, len = 0;
    char *buf = malloc(cap);
    if (buf == NULL)
        return NULL;
    int c;
    while ((c = getchar()) != EOF && c != '\n') {
        if (len + 1 == cap) {
            char *p = realloc(buf, cap *= 2);
            if (p == NULL) {
                free(buf);
                return NULL;
            }
            buf = p;
        }
        buf[len++] = (char)c;
    }
    if (c == EOF && len == 0) {
        free(buf);
        return NULL;
    }
    if (len > 0 && buf[len - 1] == '\r')
        len--;
    buf[len] = '\0';
    return buf;
}

static int hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The bytes of a hex string (malloc'd, at least 1 byte); NULL when it is not hex. */
static uint8_t *parse_hex(const char *s, size_t *len)
{
    size_t n = strlen(s);
    if (n % 2 != 0)
        return NULL;
    uint8_t *out = malloc(n / 2 ? n / 2 : 1);
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hex_digit((unsigned char)s[2 * i]), lo = hex_digit((unsigned char)s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(out);
            return NULL;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    *len = n / 2;
    return out;
}

/* A program in WIRE-6's hex form (malloc'd); NULL when malformed. */
static bpf_insn *parse_program(const char *s, size_t *n)
{
    size_t len;
    uint8_t *b = parse_hex(s, &len);
    if (b == NULL || len == 0 || len % 8 != 0) {
        free(b);
        return NULL;
    }
    bpf_insn *prog = malloc(len / 8 * sizeof *prog);
    if (prog != NULL) {
        for (size_t i = 0; i < len / 8; i++) {
            const uint8_t *p = b + 8 * i;
            prog[i].code = (uint16_t)(p[0] << 8 | p[1]);
            prog[i].jt = p[2];
            prog[i].jf = p[3];
            prog[i].k = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
        }
        *n = len / 8;
    }
    free(b);
    return prog;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

/* One decimal field of an atom, up to the separator sep; 0 when malformed. */
static int parse_u32(char **s, char sep, uint32_t *out)
{
    if (!isdigit((unsigned char)**s))
        return 0;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(*s, &end, 10);
    if (errno != 0 || v > UINT32_MAX || (sep != '\0' && *end != sep)
        || (sep == '\0' && *end != '\0'))
        return 0;
    *out = (uint32_t)v;
    *s = sep != '\0' ? end + 1 : end;
    return 1;
}

/* FLT-9 *The form*: the ranges of a well-formed atom. */
static int atom_ok(const df_atom *a)
{
    if (a->size != 1 && a->size != 2 && a->size != 4)
        return 0;
    if ((uint64_t)a->offset + a->size > EXO_MAX_PACKET)
        return 0;
    if (a->size < 4 && a->mask >> 8 * a->size != 0)
        return 0;
    return (a->value & ~a->mask) == 0;
}

static int parse_conjs(char *text, df_filter *f);

/* A DFilter in the text form above (text is changed): 1, to be freed with df_free; else
 * 0 when malformed, -1 when memory ran out, *f then empty. */
static int parse_dfilter(char *text, df_filter *f)
{
    int rc = parse_conjs(text, f);
    if (rc != 1)
        df_free(f);
    return rc;
}

static int parse_conjs(char *text, df_filter *f)
{
    f->n_conjs = 0;
    f->conjs = NULL;
    text = trim(text);
    if (strcmp(text, "F") == 0)
        return 1;
    size_t n = 1;
    for (const char *p = text; *p; p++)
        n += *p == '|';
    f->conjs = calloc(n, sizeof *f->conjs);
    if (f->conjs == NULL)
        return -1;
    char *rest = text;
    for (size_t i = 0; i < n; i++) {
        char *bar = strchr(rest, '|');
        if (bar != NULL)
            *bar = '\0';
        char *conj = trim(rest);
        rest = bar != NULL ? bar + 1 : rest + strlen(rest);
        df_conj *c = &f->conjs[f->n_conjs++];
        if (strcmp(conj, "T") == 0)
            continue;
        size_t na = 0;
        for (char *tok = strtok(conj, " \t"); tok != NULL; tok = strtok(NULL, " \t")) {
            df_atom *atoms = realloc(c->atoms, (na + 1) * sizeof *atoms);
            if (atoms == NULL)
                return -1;
            c->atoms = atoms;
            df_atom *a = &c->atoms[na++];
            c->n_atoms = na;
            if (!parse_u32(&tok, ',', &a->offset) || !parse_u32(&tok, ',', &a->size)
                || !parse_u32(&tok, ',', &a->mask) || !parse_u32(&tok, '\0', &a->value)
                || !atom_ok(a))
                return 0;
        }
        if (na == 0)
            return 0; /* an empty conjunction is written "T" */
    }
    return 1;
}

static void print_dfilter(const df_filter *f)
{
    if (f->n_conjs == 0)
        fputs("F", stdout);
    for (size_t i = 0; i < f->n_conjs; i++) {
        const df_conj *c = &f->conjs[i];
        if (i > 0)
            putchar('|');
        if (c->n_atoms == 0)
            putchar('T');
        for (size_t j = 0; j < c->n_atoms; j++)
            printf("%s%" PRIu32 ",%" PRIu32 ",%" PRIu32 ",%" PRIu32, j ? " " : "",
                   c->atoms[j].offset, c->atoms[j].size, c->atoms[j].mask, c->atoms[j].value);
    }
    putchar('\n');
}

static double now_ns(void)
{
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* "R <program>" and "TR <reps> <program>". */
static void cmd_recognize(char *arg, long reps)
{
    size_t n;
    bpf_insn *prog = parse_program(trim(arg), &n);
    if (prog == NULL) {
        puts("ERR program");
        return;
    }
    df_filter f;
    int rc = 0;
    double start = now_ns();
    for (long i = 0; i < (reps > 0 ? reps : 1); i++) {
        if (i > 0)
            df_free(&f);
        rc = df_recognize(prog, n, &f);
        if (rc < 0)
            break;
    }
    double ns = (now_ns() - start) / (double)(reps > 0 ? reps : 1);
    if (rc < 0)
        puts("NOMEM");
    else if (reps > 0)
        printf("%.1f\n", ns);
    else if (rc == 0)
        puts("NONE");
    else
        print_dfilter(&f);
    df_free(&f);
    free(prog);
}

/* Splits "X ; Y" at its " ; "; NULL when there is none. */
static char *split(char *arg)
{
    char *semi = strchr(arg, ';');
    if (semi == NULL)
        return NULL;
    *semi = '\0';
    return semi + 1;
}

/* "O <a> ; <b>" and "TO <reps> <a> ; <b>". */
static void cmd_overlap(char *arg, long reps)
{
    char *second = split(arg);
    df_filter a = {0, NULL}, b = {0, NULL};
    int rc = second == NULL ? 0 : parse_dfilter(arg, &a);
    if (rc == 1)
        rc = parse_dfilter(second, &b);
    if (rc != 1) {
        puts(rc < 0 ? "NOMEM" : "ERR dfilter");
        df_free(&a);
        return;
    }
    uint8_t *w = NULL;
    size_t len = 0;
    double start = now_ns();
    for (long i = 0; i < (reps > 0 ? reps : 1); i++) {
        free(w);
        rc = df_overlap(&a, &b, &w, &len);
        if (rc < 0)
            break;
    }
    double ns = (now_ns() - start) / (double)(reps > 0 ? reps : 1);
    if (rc < 0) {
        puts("NOMEM");
    } else if (reps > 0) {
        printf("%.1f\n", ns);
    } else if (rc == 0) {
        puts("NONE");
    } else {
        for (size_t i = 0; i < len; i++)
            printf("%02x", w[i]);
        putchar('\n');
    }
    free(w);
    df_free(&a);
    df_free(&b);
}

/* "A <dfilter> ; <packet hex>". */
static void cmd_accepts(char *arg)
{
    char *second = split(arg);
    df_filter f;
    int rc = second == NULL ? 0 : parse_dfilter(arg, &f);
    if (rc != 1) {
        puts(rc < 0 ? "NOMEM" : "ERR dfilter");
        return;
    }
    size_t len;
    uint8_t *pkt = parse_hex(trim(second), &len);
    if (pkt == NULL || len > EXO_MAX_PACKET)
        puts("ERR packet");
    else
        printf("%d\n", df_accepts(&f, pkt, len));
    free(pkt);
    df_free(&f);
}

int main(void)
{
    char *line;
    while ((line = read_line()) != NULL) {
        char *cmd = trim(line), *arg = cmd;
        while (*arg && !isspace((unsigned char)*arg))
            arg++;
        if (*arg)
            *arg++ = '\0';
        long reps = 0;
        if (cmd[0] == 'T' && cmd[1] != '\0') { /* TR, TO: a repetition count first */
            char *end;
            reps = strtol(arg, &end, 10);
            arg = end;
        }
        if (strcmp(cmd, "R") == 0 || (strcmp(cmd, "TR") == 0 && reps > 0))
            cmd_recognize(arg, reps);
        else if (strcmp(cmd, "O") == 0 || (strcmp(cmd, "TO") == 0 && reps > 0))
            cmd_overlap(arg, reps);
        else if (strcmp(cmd, "A") == 0)
            cmd_accepts(arg);
        else
            puts("ERR command");
        fflush(stdout);
        free(line);
    }
    return 0;
}
