/* exo-c-kernel: declarative filters, FLT-9 of ../../spec/filters.md.
 *
 * Read it with the clause at hand: each function quotes the sentence it implements.
 * model/dfilter.py is the reference; tests/test_c_dfilter.py checks that this file gives
 * the same answers, value for value (the same canonical DFilter, the same witness bytes).
 *
 * Byte constraints ("byte form") are kept as arrays of packed words, ascending offsets:
 *     offset << 16 | mask byte << 8 | value byte
 * Every atom ends by 65535, so an offset fits in 16 bits, and sorting the words sorts the
 * offsets. A mask byte is never 0 in such an array.
 *
 * df_recognize trusts its caller that the program passed the verifier (FLT-2, FLT-3), as
 * the clause requires; it still refuses (0) a jump past the end rather than read there.
 *
 * Planted bugs, for the test that shows the agreement check can fail:
 *     -DDF_BROKEN_WITNESS  overlap looks only at the first conjunction of b;
 *     -DDF_BROKEN_JSET     "jset not taken" keeps the whole mask instead of mask & k.
 */
#include "dfilter.h"

#include <stdlib.h>
#include <string.h>

/* FLT-9 *Recognizing a program*: "The result is None when more than MAX_STATES = 65536
 * path states are created, or when more than MAX_CONJUNCTIONS = 1024 different accepting
 * paths are found." */
#define DF_MAX_STATES 65536u
#define DF_MAX_CONJUNCTIONS 1024u

/* The opcodes of the recognized class (FLT-1's code field; model/filters.py). */
enum {
    OP_LD_IMM = 0x00,     /* ld #k */
    OP_LDX_IMM = 0x01,    /* ldx #k */
    OP_JA = 0x05,         /* ja k */
    OP_RET_K = 0x06,      /* ret #k */
    OP_JEQ_K = 0x15,      /* jeq #k, jt, jf */
    OP_RET_A = 0x16,      /* ret a */
    OP_LD_W_ABS = 0x20,   /* ld [k] */
    OP_JGT_K = 0x25,      /* jgt #k, jt, jf */
    OP_LD_H_ABS = 0x28,   /* ldh [k] */
    OP_LD_B_ABS = 0x30,   /* ldb [k] */
    OP_JGE_K = 0x35,      /* jge #k, jt, jf */
    OP_LD_W_IND = 0x40,   /* ld [x + k] */
    OP_JSET_K = 0x45,     /* jset #k, jt, jf */
    OP_LD_H_IND = 0x48,   /* ldh [x + k] */
    OP_LD_B_IND = 0x50,   /* ldb [x + k] */
    OP_AND_K = 0x54,      /* and #k */
    OP_LDX_B_MSH = 0xb1,  /* ldxb 4*([k]&0xf) */
};

/* ------------------------------------------------------------------ small helpers */

static uint32_t c_pack(uint32_t offset, uint32_t mask, uint32_t value)
{
    return offset << 16 | mask << 8 | value;
}

static uint32_t c_off(uint32_t c) { return c >> 16; }
static uint32_t c_mask(uint32_t c) { return c >> 8 & 0xFFu; }
static uint32_t c_val(uint32_t c) { return c & 0xFFu; }

/* buf grown to hold at least need elements of size bytes (doubling); NULL when memory ran
 * out, buf and *cap then unchanged. need is at least 1. */
static void *grow(void *buf, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return buf;
    size_t c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    void *p = realloc(buf, c * size);
    if (p != NULL)
        *cap = c;
    return p;
}

/* A 32-bit hash (MurmurHash3's mixing): only used to find equal values again, so any
 * hash gives the same answers. */
static uint32_t mix(uint32_t h, uint32_t w)
{
    w *= 0xcc9e2d51u;
    w = w << 15 | w >> 17;
    w *= 0x1b873593u;
    h ^= w;
    h = h << 13 | h >> 19;
    return h * 5u + 0xe6546b64u;
}

static uint32_t finish(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    return h ^ h >> 16;
}

static uint32_t hash_cons(uint32_t h, const uint32_t *cons, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = mix(h, cons[i]);
    return h;
}

/* ------------------------------------------------------------------ byte form */

/* FLT-9 *Byte form*: "Byte j of an atom (0 <= j < size) constrains packet offset
 * offset + j with the mask byte (mask >> 8*(size-1-j)) & 0xFF and the value byte
 * (value >> 8*(size-1-j)) & 0xFF; a mask byte 0 constrains nothing."
 * Writes the atom's constraints to out, ascending offsets; returns how many (0..4). */
static size_t atom_bytes(uint32_t offset, uint32_t size, uint32_t mask, uint32_t value,
                         uint32_t out[4])
{
    size_t n = 0;
    for (uint32_t j = 0; j < size; j++) {
        uint32_t shift = 8 * (size - 1 - j);
        uint32_t mb = mask >> shift & 0xFFu;
        if (mb != 0)
            out[n++] = c_pack(offset + j, mb, value >> shift & 0xFFu);
    }
    return n;
}

/* FLT-9 *Byte form*: "The constraints at one offset combine: the masks are ORed and the
 * values ORed, after checking that they agree on the bits both masks have
 * ((M1 & M2) & (V1 ^ V2) == 0). If they do not, the conjunction is inconsistent."
 * Combines c into *into (same offset); 0 when they disagree. */
static int combine(uint32_t *into, uint32_t c)
{
    uint32_t m1 = c_mask(*into), v1 = c_val(*into), m2 = c_mask(c), v2 = c_val(c);
    if (m1 & m2 & (v1 ^ v2))
        return 0;
    *into = c_pack(c_off(c), m1 | m2, v1 | v2);
    return 1;
}

/* Two ascending constraint arrays combined into out (room for na + nb), ascending, one
 * word per offset; *nout its length. 0 when some offset's constraints disagree. */
static int merge_cons(const uint32_t *a, size_t na, const uint32_t *b, size_t nb,
                      uint32_t *out, size_t *nout)
{
    size_t i = 0, j = 0, n = 0;
    while (i < na || j < nb) {
        if (j == nb || (i < na && c_off(a[i]) < c_off(b[j]))) {
            out[n++] = a[i++];
        } else if (i == na || c_off(b[j]) < c_off(a[i])) {
            out[n++] = b[j++];
        } else {
            out[n] = a[i++];
            if (!combine(&out[n++], b[j++]))
                return 0;
        }
    }
    *nout = n;
    return 1;
}

static int cmp_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return (a > b) - (a < b);
}

/* One conjunction in byte form. */
typedef struct {
    int consistent;
    uint32_t minlen;   /* L */
    size_t n;          /* constrained offsets */
    uint32_t *cons;    /* ascending offsets */
} df_bytes;

/* FLT-9 *Byte form*: "A conjunction is read byte by byte (decompose). Its minimum length
 * L is the largest offset + size of its atoms (0 if it has none)." The constraints of
 * every atom are gathered in cons (room for the sum of the atom sizes), sorted by offset
 * and combined offset by offset; the result is inconsistent when two disagree. */
static void decompose(const df_conj *conj, uint32_t *cons, df_bytes *out)
{
    size_t n = 0;
    out->minlen = 0;
    for (size_t i = 0; i < conj->n_atoms; i++) {
        const df_atom *a = &conj->atoms[i];
        if (a->offset + a->size > out->minlen)
            out->minlen = a->offset + a->size;
        n += atom_bytes(a->offset, a->size, a->mask, a->value, cons + n);
    }
    if (n <= 16) { /* insertion sort: conjunctions are short */
        for (size_t i = 1; i < n; i++) {
            uint32_t c = cons[i];
            size_t j = i;
            for (; j > 0 && cons[j - 1] > c; j--)
                cons[j] = cons[j - 1];
            cons[j] = c;
        }
    } else {
        qsort(cons, n, sizeof *cons, cmp_u32);
    }
    size_t m = 0;
    out->consistent = 1;
    for (size_t i = 0; i < n; i++) {
        if (m > 0 && c_off(cons[m - 1]) == c_off(cons[i])) {
            if (!combine(&cons[m - 1], cons[i]))
                out->consistent = 0;
        } else {
            cons[m++] = cons[i];
        }
    }
    out->n = m;
    out->cons = cons;
}

/* Every conjunction of f in byte form: *bytes (one per conjunction) and *pool (their
 * constraints), both malloc'd. 0 when memory ran out. */
static int decompose_all(const df_filter *f, df_bytes **bytes, uint32_t **pool)
{
    size_t total = 0;
    for (size_t i = 0; i < f->n_conjs; i++)
        for (size_t j = 0; j < f->conjs[i].n_atoms; j++)
            total += f->conjs[i].atoms[j].size;
    *bytes = malloc((f->n_conjs ? f->n_conjs : 1) * sizeof **bytes);
    *pool = malloc((total ? total : 1) * sizeof **pool);
    if (*bytes == NULL || *pool == NULL) {
        free(*bytes);
        free(*pool);
        return 0;
    }
    size_t at = 0;
    for (size_t i = 0; i < f->n_conjs; i++) {
        decompose(&f->conjs[i], *pool + at, &(*bytes)[i]);
        for (size_t j = 0; j < f->conjs[i].n_atoms; j++)
            at += f->conjs[i].atoms[j].size;
    }
    return 1;
}

/* ------------------------------------------------------------------ the form, overlap */

/* FLT-9 *The form*: "An atom holds on a packet p when len(p) >= offset + size and the
 * size bytes at offset, read big-endian, ANDed with mask, equal value. [...] A
 * conjunction holds when all of its atoms hold. A DFilter accepts a packet when one of
 * them holds (the empty one accepts nothing)." */
int df_accepts(const df_filter *f, const uint8_t *pkt, size_t len)
{
    for (size_t i = 0; i < f->n_conjs; i++) {
        const df_conj *c = &f->conjs[i];
        size_t j = 0;
        for (; j < c->n_atoms; j++) {
            const df_atom *a = &c->atoms[j];
            if ((size_t)a->offset + a->size > len)
                break;
            uint32_t word = 0;
            for (uint32_t b = 0; b < a->size; b++)
                word = word << 8 | pkt[a->offset + b];
            if ((word & a->mask) != a->value)
                break;
        }
        if (j == c->n_atoms)
            return 1;
    }
    return 0;
}

/* FLT-9 *Overlap*: "A pair is compatible when at every offset both constrain,
 * (M^a_o & M^b_o) & (V^a_o ^ V^b_o) == 0." One walk over the two ascending arrays. */
static int compatible(const df_bytes *x, const df_bytes *y)
{
    size_t i = 0, j = 0;
    while (i < x->n && j < y->n) {
        uint32_t ox = c_off(x->cons[i]), oy = c_off(y->cons[j]);
        if (ox < oy) {
            i++;
        } else if (oy < ox) {
            j++;
        } else {
            uint32_t cx = x->cons[i++], cy = y->cons[j++];
            if (c_mask(cx) & c_mask(cy) & (c_val(cx) ^ c_val(cy)))
                return 0;
        }
    }
    return 1;
}

/* FLT-9 *Overlap*: "It tries the pairs (i, j) in order: i over the conjunctions of a, and
 * for each i, j over those of b. It skips inconsistent conjunctions. [...] The first
 * compatible pair gives the witness: its length is max(L_i, L_j); at every offset that
 * either conjunction constrains, the byte is V^a_o | V^b_o [...]; every other byte is 0." */
int df_overlap(const df_filter *a, const df_filter *b, uint8_t **witness, size_t *len)
{
    df_bytes *da, *db;
    uint32_t *pa, *pb;
    *witness = NULL;
    *len = 0;
    if (!decompose_all(a, &da, &pa))
        return -1;
    if (!decompose_all(b, &db, &pb)) {
        free(da);
        free(pa);
        return -1;
    }
    int found = 0;
    for (size_t i = 0; i < a->n_conjs && !found; i++) {
        if (!da[i].consistent)
            continue;
#ifdef DF_BROKEN_WITNESS
        size_t nb = b->n_conjs ? 1 : 0; /* planted bug: the first conjunction of b only */
#else
        size_t nb = b->n_conjs;
#endif
        for (size_t j = 0; j < nb && !found; j++) {
            if (!db[j].consistent || !compatible(&da[i], &db[j]))
                continue;
            size_t n = da[i].minlen > db[j].minlen ? da[i].minlen : db[j].minlen;
            uint8_t *w = calloc(n ? n : 1, 1);
            if (w == NULL) {
                found = -1;
                break;
            }
            for (size_t t = 0; t < da[i].n; t++)
                w[c_off(da[i].cons[t])] |= (uint8_t)c_val(da[i].cons[t]);
            for (size_t t = 0; t < db[j].n; t++)
                w[c_off(db[j].cons[t])] |= (uint8_t)c_val(db[j].cons[t]);
            *witness = w;
            *len = n;
            found = 1;
        }
    }
    free(da);
    free(pa);
    free(db);
    free(pb);
    return found;
}

/* ------------------------------------------------------------------ canonical form */

/* One consistent conjunction in byte form, its constraints in a pool. */
typedef struct {
    uint32_t minlen, n_cons, cons_at, hash;
} conj_ref;

/* FLT-9 *Canonical form* 2: q "implies another one [p] [...]: its L is at least the
 * other's, and at every offset the other constrains, its mask has all of the other's
 * bits with the same values." */
static int implies(const conj_ref *q, const conj_ref *p, const uint32_t *pool)
{
    if (q->minlen < p->minlen || q->n_cons < p->n_cons)
        return 0;
    const uint32_t *qc = pool + q->cons_at, *pc = pool + p->cons_at;
    size_t i = 0;
    for (size_t j = 0; j < p->n_cons; j++) {
        while (i < q->n_cons && c_off(qc[i]) < c_off(pc[j]))
            i++;
        if (i == q->n_cons || c_off(qc[i]) != c_off(pc[j]))
            return 0;
        uint32_t pm = c_mask(pc[j]);
        if ((c_mask(qc[i]) & pm) != pm || (c_val(qc[i]) & pm) != c_val(pc[j]))
            return 0;
    }
    return 1;
}

/* FLT-9 *Canonical form* 3: "Its constrained offsets, in ascending order, are cut into
 * maximal runs of consecutive offsets. Each run is cut from its start into atoms of 4
 * bytes while at least 4 bytes remain, then one of 2, then one of 1; an atom's mask and
 * value are its bytes' masks and values, big-endian. If L is larger than the end of the
 * last atom (0 if there is none), the length atom (L - 1, 1, 0, 0) follows."
 * Writes the atoms to out unless it is NULL; returns how many. */
static size_t atoms_of(uint32_t minlen, const uint32_t *cons, size_t n, df_atom *out)
{
    size_t count = 0, i = 0;
    uint32_t end = 0;
    while (i < n) {
        size_t run = 1;
        while (i + run < n && c_off(cons[i + run]) == c_off(cons[i]) + run)
            run++;
        while (run > 0) {
            uint32_t size = run >= 4 ? 4 : run >= 2 ? 2 : 1, mask = 0, value = 0;
            for (uint32_t j = 0; j < size; j++) {
                mask = mask << 8 | c_mask(cons[i + j]);
                value = value << 8 | c_val(cons[i + j]);
            }
            if (out != NULL)
                out[count] = (df_atom){c_off(cons[i]), size, mask, value};
            count++;
            end = c_off(cons[i]) + size;
            i += size;
            run -= size;
        }
    }
    if (minlen > end) {
        if (out != NULL)
            out[count] = (df_atom){minlen - 1, 1, 0, 0};
        count++;
    }
    return count;
}

/* FLT-9 *Canonical form* 4: "The conjunctions are sorted by their sequences of (offset,
 * size, mask, value) tuples, lexicographically (a proper prefix first)." */
static int cmp_conj(const void *x, const void *y)
{
    const df_conj *a = x, *b = y;
    for (size_t i = 0; i < a->n_atoms && i < b->n_atoms; i++) {
        const df_atom *p = &a->atoms[i], *q = &b->atoms[i];
        uint32_t u[4] = {p->offset, p->size, p->mask, p->value};
        uint32_t v[4] = {q->offset, q->size, q->mask, q->value};
        for (int f = 0; f < 4; f++)
            if (u[f] != v[f])
                return u[f] < v[f] ? -1 : 1;
    }
    return (a->n_atoms > b->n_atoms) - (a->n_atoms < b->n_atoms);
}

void df_free(df_filter *f)
{
    for (size_t i = 0; i < f->n_conjs; i++)
        free(f->conjs[i].atoms);
    free(f->conjs);
    f->n_conjs = 0;
    f->conjs = NULL;
}

/* FLT-9 *Canonical form*, for the accepting paths of a program (each consistent, no two
 * equal): "A conjunction is dropped when it implies another one that is left [...]
 * exactly the maximal ones are kept, whatever the order." Then steps 3 and 4. 1, or -1
 * when memory ran out. */
static int canonical_of(const conj_ref *forms, size_t m, const uint32_t *pool,
                        df_filter *out)
{
    unsigned char *dropped = calloc(m ? m : 1, 1);
    if (dropped == NULL)
        return -1;
    size_t kept = m;
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < m; j++)
            if (j != i && implies(&forms[i], &forms[j], pool)) {
                dropped[i] = 1;
                kept--;
                break;
            }
    if (kept > 0) {
        out->conjs = calloc(kept, sizeof *out->conjs);
        if (out->conjs == NULL) {
            free(dropped);
            return -1;
        }
    }
    for (size_t i = 0; i < m; i++) {
        if (dropped[i])
            continue;
        const uint32_t *cons = pool + forms[i].cons_at;
        size_t na = atoms_of(forms[i].minlen, cons, forms[i].n_cons, NULL);
        df_conj *c = &out->conjs[out->n_conjs++];
        if (na > 0) {
            c->atoms = malloc(na * sizeof *c->atoms);
            if (c->atoms == NULL) {
                free(dropped);
                df_free(out);
                return -1;
            }
            c->n_atoms = atoms_of(forms[i].minlen, cons, forms[i].n_cons, c->atoms);
        }
    }
    free(dropped);
    if (out->n_conjs > 1)
        qsort(out->conjs, out->n_conjs, sizeof *out->conjs, cmp_conj);
    return 1;
}

/* ------------------------------------------------------------------ the recognizer */

/* FLT-9 *Recognizing a program*: "A path state holds: A, either a constant or the field
 * load(offset, size) & mask, with a non-zero mask that fits the size; X, either a
 * constant or the nibble 4 * (P[k] & 0xF); the path's minimum length and its byte
 * constraints." Two states are the same when every field and every constraint is. */
enum { ACC_CONST, ACC_FIELD };
enum { IDX_CONST, IDX_NIBBLE };

#define NONE UINT32_MAX      /* no state: the end of a list */
#define IN_SCRATCH UINT32_MAX /* cons_at of a candidate whose constraints are in scratch */

typedef struct {
    uint32_t pc;
    uint32_t acc_kind;  /* ACC_CONST or ACC_FIELD */
    uint32_t acc_value; /* the constant, or the field's offset */
    uint32_t acc_size;  /* the field's size (0 for a constant) */
    uint32_t acc_mask;  /* the field's mask (0 for a constant) */
    uint32_t idx_kind;  /* IDX_CONST or IDX_NIBBLE */
    uint32_t idx_value; /* the constant, or the offset k of the nibble's byte */
    uint32_t minlen;
    uint32_t n_cons, cons_at; /* the constraints: pool[cons_at], n_cons of them */
    uint32_t hash;
    uint32_t next;      /* the next state at the same pc, in the order they came */
} path_state;

typedef struct {
    const bpf_insn *prog;
    size_t n;
    path_state *states; /* every state created, at every pc */
    size_t n_states, cap_states;
    uint32_t *slots;    /* hash table of states: index + 1, 0 when empty */
    size_t n_slots;
    uint32_t *first, *last; /* per pc: the first and last state that came to it */
    uint32_t *pool;     /* constraints; a state's never change once stored */
    size_t n_pool, cap_pool;
    uint32_t *scratch;  /* the constraints of a candidate state */
    size_t cap_scratch;
    conj_ref *accepted; /* distinct (minlen, constraints) of the accepting paths */
    size_t n_accepted, cap_accepted;
    uint32_t *acc_slots; /* hash table of accepted: index + 1, 0 when empty */
    size_t n_acc_slots;
} recognizer;

/* The step result: STEP_ON to go on; STEP_NONE when the answer is None (outside the
 * class, or over a cap); STEP_NOMEM when memory ran out. */
enum { STEP_NOMEM = -1, STEP_NONE = 0, STEP_ON = 1 };

static const uint32_t *cons_of(const recognizer *r, const path_state *s)
{
    return s->cons_at == IN_SCRATCH ? r->scratch : r->pool + s->cons_at;
}

static uint32_t state_hash(const recognizer *r, const path_state *s)
{
    uint32_t h = 0;
    uint32_t w[8] = {s->pc, s->acc_kind, s->acc_value, s->acc_size, s->acc_mask,
                     s->idx_kind, s->idx_value, s->minlen};
    h = hash_cons(h, w, 8);
    return finish(hash_cons(mix(h, s->n_cons), cons_of(r, s), s->n_cons));
}

static int same_state(const recognizer *r, const path_state *a, const path_state *b)
{
    return a->hash == b->hash && a->pc == b->pc && a->acc_kind == b->acc_kind
           && a->acc_value == b->acc_value && a->acc_size == b->acc_size
           && a->acc_mask == b->acc_mask && a->idx_kind == b->idx_kind
           && a->idx_value == b->idx_value && a->minlen == b->minlen
           && a->n_cons == b->n_cons
           && (a->n_cons == 0
               || memcmp(cons_of(r, a), cons_of(r, b), a->n_cons * sizeof(uint32_t)) == 0);
}

/* An open-addressing table of indexes (index + 1, 0 empty) doubled and rebuilt when half
 * full; hash_at gives an entry's stored hash. NULL when memory ran out. */
static uint32_t *rehash(uint32_t *slots, size_t *n_slots, size_t count,
                        uint32_t (*hash_at)(const void *, uint32_t), const void *items)
{
    if (2 * (count + 1) <= *n_slots)
        return slots;
    size_t n = *n_slots ? *n_slots * 2 : 256;
    uint32_t *fresh = calloc(n, sizeof *fresh);
    if (fresh == NULL)
        return NULL;
    for (uint32_t i = 0; i < count; i++) {
        size_t s = hash_at(items, i) & (n - 1);
        while (fresh[s] != 0)
            s = (s + 1) & (n - 1);
        fresh[s] = i + 1;
    }
    free(slots);
    *n_slots = n;
    return fresh;
}

static uint32_t state_hash_at(const void *items, uint32_t i)
{
    return ((const path_state *)items)[i].hash;
}

static uint32_t conj_hash_at(const void *items, uint32_t i)
{
    return ((const conj_ref *)items)[i].hash;
}

/* FLT-9 *Recognizing a program*: "identical path states at one pc are kept once." The
 * candidate s (pc set; constraints in the pool, or in scratch when s->cons_at is
 * IN_SCRATCH) is stored and queued at its pc unless an identical state came there
 * before. Counted as the reference counts: "more than MAX_STATES path states created",
 * the first state included. */
static int add_state(recognizer *r, path_state *s)
{
    uint32_t *slots = rehash(r->slots, &r->n_slots, r->n_states, state_hash_at, r->states);
    if (slots == NULL)
        return STEP_NOMEM;
    r->slots = slots;
    s->hash = state_hash(r, s);
    size_t at = s->hash & (r->n_slots - 1);
    for (; r->slots[at] != 0; at = (at + 1) & (r->n_slots - 1))
        if (same_state(r, &r->states[r->slots[at] - 1], s))
            return STEP_ON; /* kept once */
    if (s->cons_at == IN_SCRATCH) {
        uint32_t *pool = grow(r->pool, &r->cap_pool, r->n_pool + s->n_cons + 1, sizeof *pool);
        if (pool == NULL)
            return STEP_NOMEM;
        r->pool = pool;
        memcpy(r->pool + r->n_pool, r->scratch, s->n_cons * sizeof *r->pool);
        s->cons_at = (uint32_t)r->n_pool;
        r->n_pool += s->n_cons;
    }
    path_state *states = grow(r->states, &r->cap_states, r->n_states + 1, sizeof *states);
    if (states == NULL)
        return STEP_NOMEM;
    r->states = states;
    uint32_t index = (uint32_t)r->n_states++;
    s->next = NONE;
    r->states[index] = *s;
    r->slots[at] = index + 1;
    if (r->first[s->pc] == NONE)
        r->first[s->pc] = index;
    else
        r->states[r->last[s->pc]].next = index;
    r->last[s->pc] = index;
    return r->n_states > DF_MAX_STATES ? STEP_NONE : STEP_ON;
}

/* The candidate s goes on at target. A target past the end never happens for a verified
 * program (FLT-2.6, FLT-2.7); it is refused rather than read. */
static int go(recognizer *r, uint64_t target, path_state *s)
{
    if (target >= r->n)
        return STEP_NONE;
    s->pc = (uint32_t)target;
    return add_state(r, s);
}

/* FLT-9 *Recognizing a program*: "Each accepting path contributes its minimum length and
 * its constraints as one conjunction"; None "when more than MAX_CONJUNCTIONS = 1024
 * different accepting paths are found". */
static int accept(recognizer *r, const path_state *s)
{
    uint32_t *slots = rehash(r->acc_slots, &r->n_acc_slots, r->n_accepted, conj_hash_at,
                             r->accepted);
    if (slots == NULL)
        return STEP_NOMEM;
    r->acc_slots = slots;
    const uint32_t *cons = r->pool + s->cons_at;
    uint32_t h = finish(hash_cons(mix(mix(0, s->minlen), s->n_cons), cons, s->n_cons));
    size_t at = h & (r->n_acc_slots - 1);
    for (; r->acc_slots[at] != 0; at = (at + 1) & (r->n_acc_slots - 1)) {
        const conj_ref *c = &r->accepted[r->acc_slots[at] - 1];
        if (c->hash == h && c->minlen == s->minlen && c->n_cons == s->n_cons
            && (c->n_cons == 0
                || memcmp(r->pool + c->cons_at, cons, c->n_cons * sizeof *cons) == 0))
            return STEP_ON;
    }
    conj_ref *acc = grow(r->accepted, &r->cap_accepted, r->n_accepted + 1, sizeof *acc);
    if (acc == NULL)
        return STEP_NOMEM;
    r->accepted = acc;
    r->accepted[r->n_accepted] = (conj_ref){s->minlen, s->n_cons, s->cons_at, h};
    r->acc_slots[at] = (uint32_t)++r->n_accepted;
    return r->n_accepted > DF_MAX_CONJUNCTIONS ? STEP_NONE : STEP_ON;
}

/* FLT-9 *Recognizing a program*: the path condition with one more atom, "with the
 * combining rule of the byte form. A path whose constraints become inconsistent is
 * dropped: no packet takes it." s becomes the successor: its minimum length at least
 * offset + size, its constraints (when the mask is not 0) in scratch. STEP_ON, or
 * STEP_NONE when the path is dropped, or STEP_NOMEM. */
static int with_atom(recognizer *r, path_state *s, uint32_t offset, uint32_t size,
                     uint32_t mask, uint32_t value)
{
    if (offset + size > s->minlen)
        s->minlen = offset + size;
    if (mask == 0)
        return STEP_ON;
    uint32_t bytes[4];
    size_t nb = atom_bytes(offset, size, mask, value, bytes), n;
    uint32_t *scratch = grow(r->scratch, &r->cap_scratch, s->n_cons + nb + 1, sizeof *scratch);
    if (scratch == NULL)
        return STEP_NOMEM;
    r->scratch = scratch;
    /* s's constraints are in the pool (a state taken from a pc), never in scratch */
    if (!merge_cons(r->pool + s->cons_at, s->n_cons, bytes, nb, r->scratch, &n))
        return STEP_NONE;
    s->n_cons = (uint32_t)n;
    s->cons_at = IN_SCRATCH;
    return STEP_ON;
}

/* FLT-9: "ld, ldh, ldb [k] (codes 0x20, 0x28, 0x30). If k + size > 65535, no packet
 * passes the load and the path rejects. Otherwise the path's length becomes at least
 * k + size (a shorter packet aborts, FLT-4) and A becomes the field (k, size, all ones)." */
static int load(recognizer *r, uint64_t target, path_state *s, uint64_t offset,
                uint32_t size)
{
    if (offset + size > EXO_MAX_PACKET)
        return STEP_ON; /* the path rejects */
    s->acc_kind = ACC_FIELD;
    s->acc_value = (uint32_t)offset;
    s->acc_size = size;
    s->acc_mask = size == 4 ? 0xFFFFFFFFu : (1u << 8 * size) - 1;
    if (offset + size > s->minlen)
        s->minlen = (uint32_t)(offset + size);
    return go(r, target, s);
}

/* FLT-9 *Accepting at once*: "A target accepts at once when, after any ja, it is a
 * ret #k with k != 0, or a ret a with A a non-zero constant." */
static int accepts_at_once(const recognizer *r, uint64_t target, const path_state *s)
{
    while (target < r->n && r->prog[target].code == OP_JA)
        target += 1 + (uint64_t)r->prog[target].k;
    if (target >= r->n)
        return 0;
    const bpf_insn *ins = &r->prog[target];
    return (ins->code == OP_RET_K && ins->k != 0)
           || (ins->code == OP_RET_A && s->acc_kind == ACC_CONST && s->acc_value != 0);
}

/* One atom (offset, size, b, value) per bit b of mask, highest bit first: value b when
 * set is 1 (jset taken), ~k & b when set is 0 (jeq not taken: the bit differs from k's). */
static size_t bit_atoms(uint32_t offset, uint32_t size, uint32_t mask, int set, uint32_t k,
                        df_atom *out)
{
    size_t n = 0;
    for (int i = 31; i >= 0; i--) {
        uint32_t b = 1u << i;
        if (mask & b)
            out[n++] = (df_atom){offset, size, b, set ? b : ~k & b};
    }
    return n;
}

/* FLT-9 (jgt, jge): "An interval [lo, hi] becomes prefix atoms: from lo up, take each
 * time the largest block of 2^s numbers that starts at lo, with lo a multiple of 2^s
 * (any s when lo is 0), and that ends at or before hi. The atom is (2^w - 2^s, lo). This
 * needs at most 2w atoms, and the whole range is the single atom with mask 0." */
static size_t prefix_atoms(int64_t lo, int64_t hi, uint32_t offset, uint32_t size,
                           df_atom *out)
{
    const unsigned w = 8 * size;
    const int64_t full = ((int64_t)1 << w) - 1;
    size_t n = 0;
    while (lo <= hi) {
        int64_t block = lo != 0 ? (lo & -lo) : (int64_t)1 << w;
        while (block > hi - lo + 1)
            block >>= 1;
        out[n++] = (df_atom){offset, size, (uint32_t)(full & ~(block - 1)), (uint32_t)lo};
        lo += block;
    }
    return n;
}

#define MAX_ALTS 66 /* at most 2w = 64 prefix atoms, 32 bits */

/* FLT-9 (branch_atoms): "When A is a field F = load(offset, size) & mask, each branch is
 * a disjunction of atoms at (offset, size), and the path splits into one path per atom,
 * on that branch's target". Fills the taken and not-taken atoms (a mask-0 atom is
 * "always", none is "impossible"); 0 when the program is outside the class. */
static int branch_atoms(uint32_t op, uint32_t offset, uint32_t size, uint32_t mask, uint32_t k,
                        df_atom *taken, size_t *nt, df_atom *not_taken, size_t *nf)
{
    const df_atom always = {offset, size, 0, 0};
    const uint32_t full = size == 4 ? 0xFFFFFFFFu : (1u << 8 * size) - 1;
    switch (op) {
    case OP_JEQ_K:
        if (k & ~mask) { /* "jeq taken: (mask, k) if k & ~mask == 0, else nothing" */
            *nt = 0;
            not_taken[0] = always; /* "jeq not taken: if k & ~mask != 0, always" */
            *nf = 1;
        } else {
            taken[0] = (df_atom){offset, size, mask, k};
            *nt = 1;
            /* "Otherwise, for each bit b of mask, from the highest, (b, ~k & b)" */
            *nf = bit_atoms(offset, size, mask, 0, k, not_taken);
        }
        return 1;
    case OP_JSET_K:
        /* "jset taken: for each bit b of mask & k, from the highest, (b, b).
         *  jset not taken: (mask & k, 0)." */
        *nt = bit_atoms(offset, size, mask & k, 1, k, taken);
#ifdef DF_BROKEN_JSET
        not_taken[0] = (df_atom){offset, size, mask, 0}; /* planted bug */
#else
        not_taken[0] = (df_atom){offset, size, mask & k, 0};
#endif
        *nf = 1;
        return 1;
    default: {
        /* "jgt and jge only on a whole load (mask all ones, w = 8*size bits), otherwise
         *  the program is outside the class. Taken is the interval [t, 2^w - 1] and not
         *  taken is [0, t - 1], with t = k + 1 for jgt and t = k for jge (clipped to
         *  [0, 2^w - 1]; an empty interval is impossible)." */
        if (mask != full)
            return 0;
        int64_t t = op == OP_JGT_K ? (int64_t)k + 1 : (int64_t)k;
        int64_t below = t - 1 < (int64_t)full ? t - 1 : (int64_t)full;
        *nt = prefix_atoms(t, full, offset, size, taken);
        *nf = prefix_atoms(0, below, offset, size, not_taken);
        return 1;
    }
    }
}

/* FLT-9: "When A is a constant, the jump is decided." */
static int const_taken(uint32_t op, uint32_t a, uint32_t k)
{
    switch (op) {
    case OP_JEQ_K: return a == k;
    case OP_JGT_K: return a > k;
    case OP_JGE_K: return a >= k;
    default: return (a & k) != 0; /* jset */
    }
}

/* FLT-9: "jeq, jgt, jge, jset #k (0x15, 0x25, 0x35, 0x45). When jt == jf, the path goes
 * on unchanged. When A is a constant, the jump is decided. When A is a field [...] the
 * path splits into one path per atom, on that branch's target", after *Accepting at
 * once*: "If one branch's target accepts at once, the other branch's condition is
 * replaced by 'always', when that condition is not impossible." */
static int branch(recognizer *r, const path_state *st, const bpf_insn *ins)
{
    const uint64_t on_true = (uint64_t)st->pc + 1 + ins->jt;
    const uint64_t on_false = (uint64_t)st->pc + 1 + ins->jf;
    path_state s = *st;
    if (ins->jt == ins->jf)
        return go(r, on_true, &s);
    if (st->acc_kind == ACC_CONST)
        return go(r, const_taken(ins->code, st->acc_value, ins->k) ? on_true : on_false, &s);
    df_atom taken[MAX_ALTS], not_taken[MAX_ALTS];
    size_t nt, nf;
    if (!branch_atoms(ins->code, st->acc_value, st->acc_size, st->acc_mask, ins->k, taken,
                      &nt, not_taken, &nf))
        return STEP_NONE; /* jgt or jge on a masked load: outside the class */
    const df_atom always = {st->acc_value, st->acc_size, 0, 0};
    if (nt > 0 && accepts_at_once(r, on_false, st)) {
        taken[0] = always;
        nt = 1;
    }
    if (nf > 0 && accepts_at_once(r, on_true, st)) {
        not_taken[0] = always;
        nf = 1;
    }
    for (int side = 0; side < 2; side++) {
        const df_atom *alts = side == 0 ? taken : not_taken;
        size_t count = side == 0 ? nt : nf;
        for (size_t i = 0; i < count; i++) {
            s = *st;
            int rc = with_atom(r, &s, alts[i].offset, alts[i].size, alts[i].mask,
                               alts[i].value);
            if (rc == STEP_NONE)
                continue; /* inconsistent: no packet takes this path */
            if (rc == STEP_NOMEM || (rc = go(r, side == 0 ? on_true : on_false, &s)) != STEP_ON)
                return rc;
        }
    }
    return STEP_ON;
}

static uint32_t load_size(uint16_t code)
{
    switch (code & 0x18) {
    case 0x00: return 4; /* W */
    case 0x08: return 2; /* H */
    default: return 1;   /* B */
    }
}

/* FLT-9 *Recognizing a program*: one path state at its pc, instruction by instruction.
 * "Every other instruction reached by a path (ld len, scratch memory, other ALU
 * operations, tax, txa, jumps that compare with X, ret a on a field) puts the program
 * outside the class." */
static int step(recognizer *r, const path_state *st)
{
    const bpf_insn *ins = &r->prog[st->pc];
    const uint64_t next = (uint64_t)st->pc + 1;
    const uint32_t k = ins->k;
    path_state s = *st;
    switch (ins->code) {
    case OP_RET_K:
        /* "ret #k (0x06) accepts the path when k != 0 and rejects it otherwise." */
        return k != 0 ? accept(r, st) : STEP_ON;
    case OP_RET_A:
        /* "ret a (0x16) does the same with a constant A." */
        if (st->acc_kind != ACC_CONST)
            return STEP_NONE; /* ret a on a field: outside the class */
        return st->acc_value != 0 ? accept(r, st) : STEP_ON;
    case OP_LD_W_ABS:
    case OP_LD_H_ABS:
    case OP_LD_B_ABS:
        return load(r, next, &s, k, load_size(ins->code));
    case OP_LD_W_IND:
    case OP_LD_H_IND:
    case OP_LD_B_IND:
        /* "With a constant X this is the absolute load at X + k. With the nibble of byte
         *  k', the path splits into 16 paths, n = 0..15. Each adds the atom
         *  (k', 1, 0x0F, n), sets X = 4n and is the absolute load at 4n + k." */
        if (st->idx_kind == IDX_CONST)
            return load(r, next, &s, (uint64_t)st->idx_value + k, load_size(ins->code));
        for (uint32_t n = 0; n < 16; n++) {
            s = *st;
            int rc = with_atom(r, &s, st->idx_value, 1, 0x0F, n);
            if (rc == STEP_NONE)
                continue;
            s.idx_kind = IDX_CONST;
            s.idx_value = 4 * n;
            if (rc == STEP_NOMEM
                || (rc = load(r, next, &s, (uint64_t)4 * n + k, load_size(ins->code))) != STEP_ON)
                return rc;
        }
        return STEP_ON;
    case OP_LDX_B_MSH:
        /* "ldxb 4*([k]&0xf) (0xb1): the length becomes at least k + 1 (the path rejects
         *  if k + 1 > 65535); X becomes the nibble of k." */
        if ((uint64_t)k + 1 > EXO_MAX_PACKET)
            return STEP_ON;
        s.idx_kind = IDX_NIBBLE;
        s.idx_value = k;
        if (k + 1 > s.minlen)
            s.minlen = k + 1;
        return go(r, next, &s);
    case OP_LD_IMM: /* "ld #k, ldx #k (0x00, 0x01) set a constant." */
        s.acc_kind = ACC_CONST;
        s.acc_value = k;
        s.acc_size = s.acc_mask = 0;
        return go(r, next, &s);
    case OP_LDX_IMM:
        s.idx_kind = IDX_CONST;
        s.idx_value = k;
        return go(r, next, &s);
    case OP_AND_K:
        /* "and #k (0x54): on a constant, the constant A & k; on a field, the mask becomes
         *  mask & k, or A becomes the constant 0 if that is 0." */
        if (st->acc_kind == ACC_CONST) {
            s.acc_value = st->acc_value & k;
        } else if ((st->acc_mask & k) == 0) {
            s.acc_kind = ACC_CONST;
            s.acc_value = s.acc_size = s.acc_mask = 0;
        } else {
            s.acc_mask = st->acc_mask & k;
        }
        return go(r, next, &s);
    case OP_JA: /* "ja goes to its target." */
        return go(r, next + k, &s);
    case OP_JEQ_K:
    case OP_JGT_K:
    case OP_JGE_K:
    case OP_JSET_K:
        return branch(r, st, ins);
    default:
        return STEP_NONE; /* outside the class */
    }
}

static void recognizer_free(recognizer *r)
{
    free(r->states);
    free(r->slots);
    free(r->first);
    free(r->last);
    free(r->pool);
    free(r->scratch);
    free(r->accepted);
    free(r->acc_slots);
}

/* FLT-9 *Recognizing a program*: "The program must pass the verifier. Its paths are then
 * followed from pc 0, pc by pc in increasing order (verified jumps go forward), and
 * identical path states at one pc are kept once. [...] The first state is A = 0, X = 0,
 * length 0, no constraints. [...] Each accepting path contributes its minimum length and
 * its constraints as one conjunction, and the result is their canonical form. The caps
 * count in a fixed order, so the answer is deterministic."
 * The states at a pc are stepped in the order they came, each one's successors in the
 * clause's order (taken atoms, then not-taken atoms; nibble values 0..15): the reference's
 * order. */
int df_recognize(const bpf_insn *prog, size_t n, df_filter *out)
{
    out->n_conjs = 0;
    out->conjs = NULL;
    if (prog == NULL || n == 0 || n > BPF_MAX_INSNS)
        return 0; /* not a verified program (FLT-2.1) */
    recognizer r;
    memset(&r, 0, sizeof r);
    r.prog = prog;
    r.n = n;
    r.first = malloc(n * sizeof *r.first);
    r.last = malloc(n * sizeof *r.last);
    if (r.first == NULL || r.last == NULL) {
        recognizer_free(&r);
        return -1;
    }
    for (size_t pc = 0; pc < n; pc++)
        r.first[pc] = r.last[pc] = NONE;
    path_state start;
    memset(&start, 0, sizeof start);
    start.acc_kind = ACC_CONST;
    start.idx_kind = IDX_CONST;
    int rc = go(&r, 0, &start);
    for (size_t pc = 0; pc < n && rc == STEP_ON; pc++) {
        for (uint32_t i = r.first[pc]; i != NONE && rc == STEP_ON;) {
            path_state st = r.states[i]; /* a copy: stepping may move the array */
            i = st.next;
            rc = step(&r, &st);
        }
    }
    if (rc == STEP_ON)
        rc = canonical_of(r.accepted, r.n_accepted, r.pool, out);
    recognizer_free(&r);
    return rc;
}
