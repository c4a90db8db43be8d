/* exo-c-kernel: the packet demultiplexer of NET-3 (../../spec/net.md), DPF style.
 *
 * NET-3: "the lowest installed filter that accepts the packet decides whose it is". A
 * filter accepts when its program returns non-zero (FLT-4). For a program FLT-9
 * recognizes, that is exactly df_accepts on its DFilter (FLT-9: recognize "never
 * approximates"), and the kernel already keeps that DFilter per slot (op_filter_install).
 *
 * The trie. Every conjunction of every recognized filter is a path: its atoms in their
 * canonical order (FLT-9 *Canonical form*: ascending offsets, a length atom
 * (L - 1, 1, 0, 0) last when the minimum length L reaches past the last byte test).
 * Paths with a common prefix share it, as DPF merges filters (Engler and Kaashoek,
 * SIGCOMM '96):
 *   - a node holds `here`, the lowest slot of a conjunction whose path ends at it, and
 *     `below`, the lowest slot ending at it or under it;
 *   - a node's outgoing edges are grouped by the (offset, size, mask) they test. A group
 *     reads the packet once, `word = load(offset, size) & mask`, and finds the one child
 *     whose atom has value == word in a hash table (open addressing). With 1,000
 *     'udp dst port N' filters the trie is one chain, ethertype then protocol, then one
 *     group on (36, 2, 0xffff) whose table has 1,000 children: three probes a packet.
 * An atom holds when len(p) >= offset + size and the masked word equals its value
 * (FLT-9 *The form*), so a group is skipped on a packet shorter than offset + size; a
 * length atom has mask 0 and word 0, which makes it the length test alone. A conjunction
 * holds exactly when its whole path is followed, and then the packet is at least its
 * minimum length L, which its atoms carry (*Byte form*). An empty conjunction (it holds
 * on every packet) ends at the root.
 *
 * classify walks every edge whose atom holds, depth first, keeping the lowest `here`
 * met; a node whose `below` is not lower than the best slot so far is not entered. The
 * result is the lowest recognized slot that accepts. Filters FLT-9 does not recognize
 * (no DFilter) are kept in an ascending list and run with bpf_run, in slot order, only
 * below that slot: the first that accepts wins. So the answer is NET-3's: the lowest
 * slot overall.
 *
 * Updates: an install inserts the new filter's conjunctions (the trie only grows); a
 * removal (NET-2: filter_remove, REV-2's abort of a filter, ENV-2's destroy) marks the
 * trie stale, and it is rebuilt from the installed filters at its next use. If memory
 * runs out, classify answers with the plain loop of NET-3 (bpf_run on every installed
 * filter in slot order): the answer never depends on memory.
 *
 * Planted bug, for the check that it is caught: -DEXO_BROKEN_DEMUX follows only the
 * first group of edges at each node, as if every filter tested the same fields in the
 * same order. A conjunction whose path leaves a node by another group is never reached:
 * 'tcp port 80' (32 conjunctions that part at the IP header length, then at the port's
 * offset) then misses packets it accepts, and they are dropped as NO_MATCH.
 */
#include "demux.h"

#include <stdlib.h>
#include <string.h>

#include "kernel.h"

#define NONE UINT32_MAX      /* no node, no group; an empty table entry */
#define NO_SLOT INT64_MAX    /* no slot: above every slot */

typedef struct {
    uint32_t value; /* the atom's value */
    uint32_t child; /* the node its path goes on to; NONE: the entry is empty */
} dm_entry;

typedef struct {
    uint32_t offset, size, mask; /* the test every edge of the group shares */
    uint32_t next;               /* the node's next group, or NONE */
    uint32_t cap, count;         /* the table's size (a power of two) and entries */
    dm_entry *table;
} dm_group;

typedef struct {
    int64_t here;    /* lowest slot of a conjunction ending here, or NO_SLOT */
    int64_t below;   /* lowest slot ending here or under this node, or NO_SLOT */
    uint32_t groups; /* the first group of edges, or NONE */
} dm_node;

struct demux {
    dm_node *nodes;  /* nodes[0] is the root */
    size_t n_nodes, cap_nodes;
    dm_group *groups;
    size_t n_groups, cap_groups;
    int64_t *unknown; /* installed slots without a DFilter, ascending */
    size_t n_unknown; /* the array holds n_filters */
    bool stale;       /* a filter went: rebuild before the next use */
};

/* ------------------------------------------------------------------ the hash tables */

static uint32_t hash(uint32_t value)
{
    uint32_t h = value * 0x9E3779B1u; /* Fibonacci hashing, high bits folded down */
    return h ^ h >> 16;
}

static uint32_t table_find(const dm_group *g, uint32_t value)
{
    uint32_t m = g->cap - 1;
    for (uint32_t i = hash(value) & m;; i = (i + 1) & m) {
        const dm_entry *e = &g->table[i];
        if (e->child == NONE || e->value == value)
            return e->child;
    }
}

/* value -> child into a table with room (count < cap / 2 keeps probes short) */
static void table_put(dm_entry *table, uint32_t cap, uint32_t value, uint32_t child)
{
    uint32_t m = cap - 1, i = hash(value) & m;
    while (table[i].child != NONE)
        i = (i + 1) & m;
    table[i].value = value;
    table[i].child = child;
}

static bool table_add(dm_group *g, uint32_t value, uint32_t child)
{
    if (2 * (g->count + 1) > g->cap) {
        if (g->cap > UINT32_MAX / 4)
            return false;
        uint32_t cap = g->cap ? 2 * g->cap : 4;
        dm_entry *t = malloc(cap * sizeof *t);
        if (!t)
            return false;
        for (uint32_t i = 0; i < cap; i++)
            t[i].child = NONE;
        for (uint32_t i = 0; i < g->cap; i++)
            if (g->table[i].child != NONE)
                table_put(t, cap, g->table[i].value, g->table[i].child);
        free(g->table);
        g->table = t;
        g->cap = cap;
    }
    table_put(g->table, g->cap, value, child);
    g->count++;
    return true;
}

/* ------------------------------------------------------------------ building */

static uint32_t new_node(struct demux *d)
{
    if (d->n_nodes == d->cap_nodes) {
        size_t cap = d->cap_nodes ? 2 * d->cap_nodes : 64;
        dm_node *p = cap < NONE ? realloc(d->nodes, cap * sizeof *p) : NULL;
        if (!p)
            return NONE;
        d->nodes = p;
        d->cap_nodes = cap;
    }
    dm_node *n = &d->nodes[d->n_nodes];
    n->here = NO_SLOT;
    n->below = NO_SLOT;
    n->groups = NONE;
    return (uint32_t)d->n_nodes++;
}

/* the group of node n that tests (offset, size, mask), made if there is none */
static uint32_t group_of(struct demux *d, uint32_t n, const df_atom *a)
{
    for (uint32_t g = d->nodes[n].groups; g != NONE; g = d->groups[g].next) {
        const dm_group *x = &d->groups[g];
        if (x->offset == a->offset && x->size == a->size && x->mask == a->mask)
            return g;
    }
    if (d->n_groups == d->cap_groups) {
        size_t cap = d->cap_groups ? 2 * d->cap_groups : 64;
        dm_group *p = cap < NONE ? realloc(d->groups, cap * sizeof *p) : NULL;
        if (!p)
            return NONE;
        d->groups = p;
        d->cap_groups = cap;
    }
    uint32_t g = (uint32_t)d->n_groups++;
    dm_group *x = &d->groups[g];
    x->offset = a->offset;
    x->size = a->size;
    x->mask = a->mask;
    x->cap = x->count = 0;
    x->table = NULL;
    x->next = d->nodes[n].groups; /* newest first: the order does not change answers */
    d->nodes[n].groups = g;
    return g;
}

static void lower(int64_t *at, int64_t slot)
{
    if (slot < *at)
        *at = slot;
}

/* one conjunction of the filter in slot as a path from the root; false: out of memory */
static bool insert_conj(struct demux *d, int64_t slot, const df_conj *c)
{
    uint32_t n = 0;
    lower(&d->nodes[n].below, slot);
    for (size_t i = 0; i < c->n_atoms; i++) {
        const df_atom *a = &c->atoms[i];
        uint32_t g = group_of(d, n, a);
        if (g == NONE)
            return false;
        uint32_t child = d->groups[g].count ? table_find(&d->groups[g], a->value) : NONE;
        if (child == NONE) {
            child = new_node(d);
            if (child == NONE || !table_add(&d->groups[g], a->value, child))
                return false;
        }
        n = child;
        lower(&d->nodes[n].below, slot);
    }
    lower(&d->nodes[n].here, slot);
    return true;
}

static bool insert_filter(struct demux *d, int64_t slot, const df_filter *f)
{
    for (size_t i = 0; i < f->n_conjs; i++)
        if (!insert_conj(d, slot, &f->conjs[i]))
            return false;
    return true;
}

static void clear(struct demux *d)
{
    for (size_t g = 0; g < d->n_groups; g++)
        free(d->groups[g].table);
    d->n_groups = 0;
    d->n_nodes = 0;
    d->n_unknown = 0;
}

/* the trie and the list of unknown slots from the installed filters; false: memory */
static bool rebuild(struct kernel *k)
{
    struct demux *d = k->demux;
    clear(d);
    if (new_node(d) == NONE)  /* the root */
        return false;
    for (int64_t f = 0; f < k->c.n_filters; f++) {
        if (!k->filter_valid[f])
            continue;
        if (!k->filter_known[f])
            d->unknown[d->n_unknown++] = f;
        else if (!insert_filter(d, f, &k->filter_df[f]))
            return false;
    }
    d->stale = false;
    return true;
}

bool demux_init(struct kernel *k)
{
    struct demux *d = calloc(1, sizeof *d);
    k->demux = d;
    if (!d)
        return false;
    d->unknown = malloc((k->c.n_filters ? k->c.n_filters : 1) * sizeof *d->unknown);
    return d->unknown && rebuild(k);
}

void demux_free(struct kernel *k)
{
    struct demux *d = k->demux;
    if (!d)
        return;
    clear(d);
    free(d->nodes);
    free(d->groups);
    free(d->unknown);
    free(d);
    k->demux = NULL;
}

void demux_added(struct kernel *k, int64_t slot)
{
    struct demux *d = k->demux;
    if (d->stale)
        return;  /* the rebuild will read it */
    if (k->filter_known[slot]) {
        if (!insert_filter(d, slot, &k->filter_df[slot]))
            d->stale = true;  /* half inserted: rebuild at the next use */
        return;
    }
    size_t i = d->n_unknown;  /* keep the list ascending */
    while (i > 0 && d->unknown[i - 1] > slot) {
        d->unknown[i] = d->unknown[i - 1];
        i--;
    }
    d->unknown[i] = slot;
    d->n_unknown++;
}

void demux_removed(struct kernel *k, int64_t slot)
{
    (void)slot;
    k->demux->stale = true;
}

/* ------------------------------------------------------------------ classifying */

static uint32_t load(const uint8_t *p, uint32_t size)
{
    switch (size) {
    case 1:
        return p[0];
    case 2:
        return (uint32_t)p[0] << 8 | p[1];
    default:
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    }
}

/* FLT-9 *The form*, edge by edge: the lowest slot ending on a path from node n whose
 * atoms all hold, if lower than *best. Depth is at most a conjunction's atom count. */
static void visit(const struct demux *d, uint32_t n, const uint8_t *pkt, size_t len,
                  int64_t *best)
{
    const dm_node *node = &d->nodes[n];
    if (node->below >= *best)
        return;  /* nothing under n can improve the answer */
    lower(best, node->here);
    for (uint32_t g = node->groups; g != NONE; g = d->groups[g].next) {
#ifdef EXO_BROKEN_DEMUX
        if (g != node->groups)
            break;  /* planted: only the node's first group of edges is followed */
#endif
        const dm_group *x = &d->groups[g];
        if ((size_t)x->offset + x->size > len)  /* FLT-9: needs len >= offset + size */
            continue;
        uint32_t word = x->mask ? load(pkt + x->offset, x->size) & x->mask : 0;
        uint32_t child = table_find(x, word);
        if (child != NONE)
            visit(d, child, pkt, len, best);
    }
}

int64_t demux_classify(struct kernel *k, const uint8_t *pkt, size_t len)
{
    struct demux *d = k->demux;
    if (d->stale && !rebuild(k)) {
        d->stale = true;  /* NET-3 as written: every installed filter in slot order */
        for (int64_t f = 0; f < k->c.n_filters; f++)
            if (k->filter_valid[f]
                && bpf_run(k->filter_code[f], k->filter_len[f], pkt, len) != 0)
                return f;
        return -1;
    }
    int64_t best = NO_SLOT;
    visit(d, 0, pkt, len, &best);
    /* NET-3: a filter FLT-9 does not read is run (FLT-4) if its slot is lower */
    for (size_t i = 0; i < d->n_unknown && d->unknown[i] < best; i++) {
        int64_t f = d->unknown[i];
        if (bpf_run(k->filter_code[f], k->filter_len[f], pkt, len) != 0)
            return f;
    }
    return best == NO_SLOT ? -1 : best;
}
