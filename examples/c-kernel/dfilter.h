/* exo-c-kernel: declarative filters, FLT-9 of ../../spec/filters.md.
 *
 * A DFilter is a disjunction of conjunctions of atoms (offset, size, mask, value).
 * df_recognize turns a verified classic-BPF program of the clause's class into its
 * canonical DFilter; df_overlap decides exactly whether two DFilters accept a common
 * packet and builds the clause's witness. No solver, no budget.
 */
#ifndef EXO_DFILTER_H
#define EXO_DFILTER_H

#include <stddef.h>
#include <stdint.h>

#include "bpf.h"

typedef struct {
    uint32_t offset; /* 0 <= offset, offset + size <= 65535 */
    uint32_t size;   /* 1, 2 or 4 */
    uint32_t mask;   /* < 2^(8*size) */
    uint32_t value;  /* value & ~mask == 0 */
} df_atom;

typedef struct {
    size_t n_atoms;
    df_atom *atoms;
} df_conj;

typedef struct {
    size_t n_conjs; /* 0: accepts nothing */
    df_conj *conjs;
} df_filter;

/* FLT-9 *Recognizing a program*: for a program that bpf_verify accepts, 1 with *out set
 * to the canonical DFilter (the clause's *Canonical form*, conjunctions in its order),
 * 0 when the program is outside the class or over a cap (MAX_STATES, MAX_CONJUNCTIONS),
 * -1 when memory ran out. *out is left empty (n_conjs 0, conjs NULL) unless 1. */
int df_recognize(const bpf_insn *prog, size_t n, df_filter *out);

/* FLT-9 *Overlap*: 1 when a packet both accept exists, with *witness (malloc'd, the
 * caller frees it) and *len set to the clause's witness; 0 when there is none; -1 when
 * memory ran out. Pairs are tried in the clause's order: conjunctions of a first. */
int df_overlap(const df_filter *a, const df_filter *b, uint8_t **witness, size_t *len);

/* FLT-9 *The form*: 1 when the DFilter accepts the packet, else 0. */
int df_accepts(const df_filter *f, const uint8_t *pkt, size_t len);

/* Frees what df_recognize allocated and leaves *f empty. */
void df_free(df_filter *f);

#endif
