/* The operations of spec/env.md, memory.md, tlb.md, cpu.md, pct.md, exceptions.md,
 * revocation.md and net.md, on the state of kernel.h. Each operation checks its clause's
 * requirements in order and changes nothing unless all of them hold (GEN-2). */
#define _POSIX_C_SOURCE 200809L
#include "kernel.h"
#include "demux.h"  /* NET-3: demux */

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ helpers */

static bool in_range(xint x, int64_t n) { return !x.big && x.v >= 0 && x.v < n; }
static bool idx_ok(int64_t x, int64_t n) { return x >= 0 && x < n; }

static struct result res(enum status st, int64_t value)
{
    struct result r;
    memset(&r, 0, sizeof r);
    r.status = st;
    r.value = st == OK ? value : 0;
    r.cap.page = xsmall(FREE);
    r.cap.gen = xsmall(FREE);
    r.cap.rights = xsmall(R_NONE);
    return r;
}

static struct result fail(enum status st) { return res(st, 0); }

static struct result cap_res(int64_t page, int64_t gen, int64_t rights)
{
    struct result r = res(OK, 0);
    r.cap.page = xsmall(page);
    r.cap.gen = xsmall(gen);
    r.cap.rights = xsmall(rights);
    return r;
}

/* Python's floor modulo (n > 0) */
static int64_t pymod(int64_t a, int64_t n)
{
    int64_t m = a % n;
    return m < 0 ? m + n : m;
}

/* (a + b) mod n without overflow: each term is reduced first, and n < 2^24
 * (kernel_config_problem), so the sum of two residues fits */
static int64_t addmod(int64_t a, int64_t b, int64_t n)
{
    return pymod(pymod(a, n) + pymod(b, n), n);
}

/* TLB-6: the hardware TLB slot of (cid, vpage): (vpage + 3 cid) mod n; the context ids
 * are below 2^24, so 3 cid fits */
static int64_t tlb_index(int64_t cid, int64_t vpage, int64_t n)
{
    return addmod(vpage, 3 * cid, n);
}

/* TLB-7: the STLB slot of (cid, vpage): (vpage + 7 cid + 1) mod n */
static int64_t stlb_index(int64_t cid, int64_t vpage, int64_t n)
{
    return addmod(vpage, 7 * cid + 1, n);
}

#define ENTRY(k, e, v) ((k)->entry[(e) * NUM_VECTORS + (v)])
#define RIGHTS(k, e, p) ((k)->rights[(e) * (k)->c.n_pages + (p)])
#define WORD(k, p, w) ((k)->word[(p) * (k)->c.page_words + (w)])
#define GM(k, field, e, g) ((k)->field[(e) * (k)->c.n_guaranteed + (g)])
#define REPO_PAGE(k, e, p) ((k)->repo_page[(e) * (k)->c.n_pages + (p)])
#define REPO_SLICE(k, e, q) ((k)->repo_slice[(e) * (k)->c.n_slices + (q)])
#define REPO_FILTER(k, e, f) ((k)->repo_filter[(e) * (k)->c.n_filters + (f)])
#define RX(k, field, e, r) ((k)->field[(e) * (k)->c.ring_size + (r)])

/* ENV-1: e names a live environment */
static bool live(const struct kernel *k, int64_t e)
{
    return idx_ok(e, k->c.n_envs) && k->env_alive[e];
}

/* MEM-6: a right a capability may carry */
static bool rights_ok(xint r) { return !r.big && r.v >= R_READ && r.v <= R_READWRITE; }

/* MEM-6: the right an access or a mapping needs */
static int64_t needed(bool write) { return write ? R_READWRITE : R_READ; }

/* MEM-6: cap is current (its generation) and env holds its rights */
static bool cap_valid(const struct kernel *k, int64_t env, cap_t cap)
{
    if (!in_range(cap.page, k->c.n_pages) || cap.gen.big || !rights_ok(cap.rights))
        return false;
    return cap.gen.v == k->gen[cap.page.v] && RIGHTS(k, env, cap.page.v) >= cap.rights.v;
}

/* GEN-3: NO_ENTRY or an address below addr_limit */
static bool entry_ok(const struct kernel *k, xint entry)
{
    return (!entry.big && entry.v == NO_ENTRY) || in_range(entry, k->c.addr_limit);
}

/* ------------------------------------------------------------------ state */

const char *kernel_config_problem(const struct config *c)
{
    const int64_t *f = &c->n_envs;
    static const char *names[] = {"n_envs", "n_pages", "page_words", "tlb_size",
        "stlb_size", "n_cids", "n_slices", "n_guaranteed", "n_regs", "slice_ticks",
        "excess_limit", "addr_limit", "n_filters", "ring_size"};
    for (int i = 0; i < 14; i++) {
        int64_t least = i == 10 ? 0 : 1;
        if (f[i] < least)
            return names[i];
    }
    /* this kernel keeps every table in memory: refuse what it cannot hold */
    const int64_t limit = (int64_t)1 << 24;
    if (c->n_envs > limit || c->n_pages > limit || c->page_words > limit
        || c->tlb_size > limit || c->stlb_size > limit || c->n_cids > limit
        || c->n_slices > limit || c->n_guaranteed > limit || c->n_regs > limit
        || c->n_filters > limit || c->ring_size > limit
        || c->n_envs * c->n_pages > limit || c->n_pages * c->page_words > limit
        || c->n_envs * c->n_guaranteed > limit || c->n_envs * c->n_slices > limit
        || c->n_envs * c->n_filters > limit || c->n_envs * c->ring_size > limit)
        return "a size too large for this kernel";
    return NULL;
}

static bool bindings_init(struct bindings *b, int64_t size, int64_t n_pages)
{
    b->size = size;
    b->valid = calloc(size, sizeof *b->valid);
    b->write = calloc(size, sizeof *b->write);
    b->cid = malloc(size * sizeof *b->cid);
    b->vpage = calloc(size, sizeof *b->vpage);
    b->page = malloc(size * sizeof *b->page);
    b->next = malloc(size * sizeof *b->next);
    b->prev = malloc(size * sizeof *b->prev);
    b->head = malloc(n_pages * sizeof *b->head);
    if (!b->valid || !b->write || !b->cid || !b->vpage || !b->page || !b->next
        || !b->prev || !b->head)
        return false;
    for (int64_t i = 0; i < size; i++) {
        b->cid[i] = FREE;
        b->page[i] = FREE;
        b->next[i] = b->prev[i] = -1;
    }
    for (int64_t p = 0; p < n_pages; p++)
        b->head[p] = -1;
    return true;
}

static void bindings_free(struct bindings *b)
{
    free(b->valid); free(b->write); free(b->cid); free(b->vpage); free(b->page);
    free(b->next); free(b->prev); free(b->head);
}

/* a valid slot leaves the list of its page */
static void unlink_slot(struct bindings *b, int64_t i)
{
    int64_t p = b->page[i];
    if (b->prev[i] >= 0)
        b->next[b->prev[i]] = b->next[i];
    else
        b->head[p] = b->next[i];
    if (b->next[i] >= 0)
        b->prev[b->next[i]] = b->prev[i];
    b->next[i] = b->prev[i] = -1;
}

static void slot_clear(struct bindings *b, int64_t i)
{
    if (b->valid[i]) {
        unlink_slot(b, i);
        b->valid[i] = false;
    }
}

/* TLB-6/TLB-7: write a binding into slot i, evicting whatever was there */
static void slot_put(struct bindings *b, int64_t i, int64_t cid, int64_t vpage,
                     int64_t page, bool write)
{
    slot_clear(b, i);
    b->valid[i] = true;
    b->cid[i] = cid;
    b->vpage[i] = vpage;
    b->page[i] = page;
    b->write[i] = write;
    b->prev[i] = -1;
    b->next[i] = b->head[page];
    if (b->head[page] >= 0)
        b->prev[b->head[page]] = i;
    b->head[page] = i;
}

bool kernel_init(struct kernel *k, const struct config *c)
{
    memset(k, 0, sizeof *k);
    k->c = *c;
    int64_t E = c->n_envs, P = c->n_pages, W = c->page_words;
    k->env_alive = calloc(E, sizeof *k->env_alive);
    k->env_cid = malloc(E * sizeof *k->env_cid);
    k->cid_env = malloc(c->n_cids * sizeof *k->cid_env);
    k->entry = malloc(E * NUM_VECTORS * sizeof *k->entry);
    k->owner = malloc(P * sizeof *k->owner);
    k->gen = calloc(P, sizeof *k->gen);
    k->rights = calloc(E * P, sizeof *k->rights);
    k->word = calloc(P * W, sizeof *k->word);
    k->gm_valid = calloc(E * c->n_guaranteed, sizeof *k->gm_valid);
    k->gm_write = calloc(E * c->n_guaranteed, sizeof *k->gm_write);
    k->gm_vpage = calloc(E * c->n_guaranteed, sizeof *k->gm_vpage);
    k->gm_page = malloc(E * c->n_guaranteed * sizeof *k->gm_page);
    k->regs = calloc(c->n_regs, sizeof *k->regs);
    k->slice_owner = malloc(c->n_slices * sizeof *k->slice_owner);
    k->excess = calloc(E, sizeof *k->excess);
    k->rev_pending = calloc(E, sizeof *k->rev_pending);
    k->repo_exc = calloc(E, sizeof *k->repo_exc);
    k->rev_kind = calloc(E, sizeof *k->rev_kind);
    k->rev_target = malloc(E * sizeof *k->rev_target);
    k->rev_deadline = calloc(E, sizeof *k->rev_deadline);
    k->repo_page = calloc(E * P, sizeof *k->repo_page);
    k->repo_slice = calloc(E * c->n_slices, sizeof *k->repo_slice);
    k->repo_filter = calloc(E * c->n_filters, sizeof *k->repo_filter);
    k->filter_valid = calloc(c->n_filters, sizeof *k->filter_valid);
    k->filter_owner = malloc(c->n_filters * sizeof *k->filter_owner);
    k->filter_code = calloc(c->n_filters, sizeof *k->filter_code);
    k->filter_len = calloc(c->n_filters, sizeof *k->filter_len);
    k->filter_known = calloc(c->n_filters, sizeof *k->filter_known);
    k->filter_df = calloc(c->n_filters, sizeof *k->filter_df);
    k->rx_head = calloc(E, sizeof *k->rx_head);
    k->rx_count = calloc(E, sizeof *k->rx_count);
    k->rx_drops = calloc(E, sizeof *k->rx_drops);
    k->rx_pkt = calloc(E * c->ring_size, sizeof *k->rx_pkt);
    k->rx_len = calloc(E * c->ring_size, sizeof *k->rx_len);
    if (!k->env_alive || !k->env_cid || !k->cid_env || !k->entry || !k->owner || !k->gen
        || !k->rights || !k->word || !k->gm_valid || !k->gm_write || !k->gm_vpage
        || !k->gm_page || !k->regs || !k->slice_owner || !k->excess || !k->rev_pending
        || !k->repo_exc || !k->rev_kind || !k->rev_target || !k->rev_deadline
        || !k->repo_page || !k->repo_slice || !k->repo_filter || !k->filter_valid
        || !k->filter_owner || !k->filter_code || !k->filter_len || !k->filter_known
        || !k->filter_df || !k->rx_head || !k->rx_count || !k->rx_drops || !k->rx_pkt
        || !k->rx_len
        || !bindings_init(&k->tlb, c->tlb_size, P)
        || !bindings_init(&k->stlb, c->stlb_size, P)
        || !demux_init(k)) {  /* NET-3: demux */
        kernel_free(k);
        return false;
    }
    /* INV-0: the boot state */
    for (int64_t e = 0; e < E; e++) {
        k->env_cid[e] = FREE;
        k->rev_target[e] = FREE;
        for (int v = 0; v < NUM_VECTORS; v++)
            ENTRY(k, e, v) = NO_ENTRY;
        for (int64_t g = 0; g < c->n_guaranteed; g++)
            GM(k, gm_page, e, g) = FREE;
    }
    for (int64_t i = 0; i < c->n_cids; i++)
        k->cid_env[i] = FREE;
    for (int64_t p = 0; p < P; p++)
        k->owner[p] = FREE;
    for (int64_t q = 0; q < c->n_slices; q++)
        k->slice_owner[q] = FREE;
    for (int64_t f = 0; f < c->n_filters; f++)
        k->filter_owner[f] = FREE;
    k->cur_env = FREE;
    k->hw_cid = FREE;
    k->cause = -1;
    return true;
}

void kernel_free(struct kernel *k)
{
    free(k->env_alive); free(k->env_cid); free(k->cid_env); free(k->entry);
    free(k->owner); free(k->gen); free(k->rights); free(k->word);
    free(k->gm_valid); free(k->gm_write); free(k->gm_vpage); free(k->gm_page);
    free(k->regs); free(k->slice_owner); free(k->excess); free(k->rev_pending);
    free(k->repo_exc); free(k->rev_kind); free(k->rev_target); free(k->rev_deadline);
    free(k->repo_page); free(k->repo_slice); free(k->repo_filter);
    for (int64_t f = 0; k->filter_code && f < k->c.n_filters; f++)
        free(k->filter_code[f]);
    for (int64_t f = 0; k->filter_df && k->filter_known && f < k->c.n_filters; f++)
        if (k->filter_known[f])
            df_free(&k->filter_df[f]);
    for (int64_t i = 0; k->rx_pkt && i < k->c.n_envs * k->c.ring_size; i++)
        free(k->rx_pkt[i]);
    free(k->filter_valid); free(k->filter_owner); free(k->filter_code); free(k->filter_len);
    free(k->filter_known); free(k->filter_df);
    free(k->rx_head); free(k->rx_count); free(k->rx_drops); free(k->rx_pkt); free(k->rx_len);
    free(k->witness);
    demux_free(k);  /* NET-3: demux */
    if (k->tlb.valid)
        bindings_free(&k->tlb);
    if (k->stlb.valid)
        bindings_free(&k->stlb);
    for (int64_t i = 0; i < k->n_texts; i++)
        free(k->texts[i]);
    free(k->texts);
    memset(k, 0, sizeof *k);
}

/* A copy of a big integer's text that lives as long as the kernel (or NULL). */
const char *kernel_keep_text(struct kernel *k, const char *text)
{
    if (k->n_texts == k->cap_texts) {
        int64_t n = k->cap_texts ? 2 * k->cap_texts : 16;
        char **t = realloc(k->texts, n * sizeof *t);
        if (!t)
            return NULL;
        k->texts = t;
        k->cap_texts = n;
    }
    char *copy = strdup(text);
    if (copy)
        k->texts[k->n_texts++] = copy;
    return copy;
}

/* ------------------------------------------------------------------ secure bindings */

/* TLB-9: the live env using context id cid holds page with the right write needs */
static bool authorized(const struct kernel *k, int64_t cid, int64_t page, bool write)
{
    if (!idx_ok(cid, k->c.n_cids))
        return false;
    int64_t e = k->cid_env[cid];
    return live(k, e) && k->env_cid[e] == cid && idx_ok(page, k->c.n_pages)
           && RIGHTS(k, e, page) >= needed(write);
}

static void revalidate_table(struct kernel *k, struct bindings *b)
{
    for (int64_t i = 0; i < b->size; i++)
        if (b->valid[i] && !authorized(k, b->cid[i], b->page[i], b->write[i]))
            slot_clear(b, i);
}

static void revalidate_gm(struct kernel *k)
{
    for (int64_t e = 0; e < k->c.n_envs; e++)
        for (int64_t g = 0; g < k->c.n_guaranteed; g++)
            if (GM(k, gm_valid, e, g)
                && !(live(k, e) && k->owner[GM(k, gm_page, e, g)] == e))
                GM(k, gm_valid, e, g) = false;
}

/* TLB-9: break every binding whose authority is gone */
static void revalidate(struct kernel *k)
{
    revalidate_table(k, &k->tlb);
    revalidate_table(k, &k->stlb);
    revalidate_gm(k);
}

/* TLB-9 after MEM-2: only the bindings of the freed page can have lost their authority
 * (nothing else changed), so only its lists are walked. */
static void revalidate_page(struct kernel *k, int64_t page)
{
#ifndef EXO_BROKEN
    while (k->tlb.head[page] >= 0)
        slot_clear(&k->tlb, k->tlb.head[page]);
#endif
    while (k->stlb.head[page] >= 0)
        slot_clear(&k->stlb, k->stlb.head[page]);
    revalidate_gm(k);
}

/* MEM-2: page becomes free: no owner, no holder, a new generation; its bindings go */
static void free_page(struct kernel *k, int64_t page)
{
    k->owner[page] = FREE;
    k->gen[page] += 1;
    for (int64_t e = 0; e < k->c.n_envs; e++)
        RIGHTS(k, e, page) = 0;
    revalidate_page(k, page);
}

/* REV-5: page is named by a pending page revocation of env */
static bool revocation_target(const struct kernel *k, int64_t env, int64_t page)
{
    return k->rev_pending[env] && k->rev_kind[env] == RES_PAGE && k->rev_target[env] == page;
}

/* REV-5: some guaranteed mapping of env binds page */
static bool guaranteed_page(const struct kernel *k, int64_t env, int64_t page)
{
    for (int64_t g = 0; g < k->c.n_guaranteed; g++)
        if (GM(k, gm_valid, env, g) && GM(k, gm_page, env, g) == page)
            return true;
    return false;
}

/* NET-2: the filter in slot f is gone; its owner and program keep stale values, which
 * the observation leaves out (GEN-5), and its DFilter is dropped */
static void remove_filter(struct kernel *k, int64_t f)
{
    k->filter_valid[f] = false;
    if (k->filter_known[f])
        df_free(&k->filter_df[f]);
    k->filter_known[f] = false;
    demux_removed(k, f);  /* NET-3: demux */
}

/* ENV-1, ENV-2: env's receive ring is empty, no drops counted, and no filter recorded
 * as repossessed from it */
static void reset_net(struct kernel *k, int64_t e)
{
    k->rx_head[e] = 0;
    k->rx_count[e] = 0;
    k->rx_drops[e] = 0;
    for (int64_t f = 0; f < k->c.n_filters; f++)
        REPO_FILTER(k, e, f) = false;
}

/* ------------------------------------------------------------------ environments */

/* ENV-2: return every resource of e and break every binding that depended on them */
static void destroy_env(struct kernel *k, int64_t e)
{
    const struct config *c = &k->c;
    k->cid_env[k->env_cid[e]] = FREE;
    k->env_alive[e] = false;
    k->env_cid[e] = FREE;
    for (int v = 0; v < NUM_VECTORS; v++)
        ENTRY(k, e, v) = NO_ENTRY;
    for (int64_t p = 0; p < c->n_pages; p++) {
        RIGHTS(k, e, p) = 0;
        REPO_PAGE(k, e, p) = false;
        if (k->owner[p] == e) {
            k->owner[p] = FREE;
            k->gen[p] += 1;
            for (int64_t x = 0; x < c->n_envs; x++)
                RIGHTS(k, x, p) = 0;
        }
    }
    for (int64_t g = 0; g < c->n_guaranteed; g++)
        GM(k, gm_valid, e, g) = false;
    for (int64_t q = 0; q < c->n_slices; q++) {
        if (k->slice_owner[q] == e)
            k->slice_owner[q] = FREE;
        REPO_SLICE(k, e, q) = false;
    }
    k->excess[e] = 0;
    k->rev_pending[e] = false;
    k->repo_exc[e] = false;
    for (int64_t f = 0; f < c->n_filters; f++)  /* its packet filters go (NET-2) */
        if (k->filter_valid[f] && k->filter_owner[f] == e)
            remove_filter(k, f);
    reset_net(k, e);
    if (k->cur_env == e) {
        k->cur_env = FREE;
        k->hw_cid = FREE;
    }
    revalidate(k);
}

/* ENV-1 */
struct result op_env_create(struct kernel *k, xint env, xint cid)
{
    if (!in_range(env, k->c.n_envs) || !in_range(cid, k->c.n_cids))
        return fail(INVALID_ARGUMENT);
    int64_t e = env.v;
    if (k->env_alive[e])
        return fail(ENV_EXISTS);
    if (k->cid_env[cid.v] != FREE)
        return fail(IN_USE);
    k->env_alive[e] = true;
    k->env_cid[e] = cid.v;
    k->cid_env[cid.v] = e;
    for (int v = 0; v < NUM_VECTORS; v++)
        ENTRY(k, e, v) = NO_ENTRY;
    for (int64_t g = 0; g < k->c.n_guaranteed; g++)
        GM(k, gm_valid, e, g) = false;
    k->excess[e] = 0;
    k->rev_pending[e] = false;
    for (int64_t p = 0; p < k->c.n_pages; p++)
        REPO_PAGE(k, e, p) = false;
    for (int64_t q = 0; q < k->c.n_slices; q++)
        REPO_SLICE(k, e, q) = false;
    k->repo_exc[e] = false;
    reset_net(k, e);
    return res(OK, e);
}

/* ENV-2 */
struct result op_env_destroy(struct kernel *k, xint env)
{
    if (!in_range(env, k->c.n_envs))
        return fail(INVALID_ARGUMENT);
    if (!k->env_alive[env.v])
        return fail(NO_SUCH_ENV);
    destroy_env(k, env.v);
    return res(OK, 0);
}

/* ENV-3..ENV-5: register entry as vector base + which of env */
static struct result set_vector(struct kernel *k, xint env, int base, int count, xint which,
                                xint entry)
{
    if (!in_range(env, k->c.n_envs) || !in_range(which, count) || !entry_ok(k, entry))
        return fail(INVALID_ARGUMENT);
    if (!k->env_alive[env.v])
        return fail(NO_SUCH_ENV);
    ENTRY(k, env.v, base + which.v) = entry.v;
    return res(OK, 0);
}

struct result op_set_exception_context(struct kernel *k, xint env, xint exc, xint entry)
{
    return set_vector(k, env, V_TLB_MISS, 6, exc, entry);
}

struct result op_set_interrupt_context(struct kernel *k, xint env, xint which, xint entry)
{
    return set_vector(k, env, V_SLICE_START, 2, which, entry);
}

struct result op_set_protected_entry(struct kernel *k, xint env, xint which, xint entry)
{
    return set_vector(k, env, V_PCT_SYNC, 2, which, entry);
}

/* ------------------------------------------------------------------ exceptions */

/* EXC-2: deliver exc to the running environment, or destroy it if it has no handler */
static int64_t deliver(struct kernel *k, int64_t exc, int64_t badvpage)
{
    int64_t e = k->cur_env;
    int64_t handler = ENTRY(k, e, exc);
    if (handler == NO_ENTRY) {
        destroy_env(k, e);
        return O_KILLED;
    }
    k->epc = k->pc;
    k->cause = exc;
    k->badvpage = badvpage;
    k->pc = handler;
    return O_DELIVERED;
}

/* EXC-1 */
struct result op_raise_exception(struct kernel *k, xint exc)
{
    if (exc.big || exc.v < X_UNALIGNED || exc.v > X_PROTECTION)
        return fail(INVALID_ARGUMENT);
    if (!live(k, k->cur_env))
        return fail(NOT_RUNNING);
    return res(OK, deliver(k, exc.v, k->badvpage));
}

/* ------------------------------------------------------------------ memory */

/* MEM-1 */
struct result op_alloc(struct kernel *k, xint env, xint page)
{
    if (!in_range(env, k->c.n_envs) || !in_range(page, k->c.n_pages))
        return fail(INVALID_ARGUMENT);
    int64_t e = env.v, p = page.v;
    if (!k->env_alive[e])
        return fail(NO_SUCH_ENV);
    if (k->owner[p] != FREE)
        return fail(IN_USE);
    k->owner[p] = e;
    RIGHTS(k, e, p) = R_READWRITE;
    for (int64_t w = 0; w < k->c.page_words; w++)
        WORD(k, p, w) = xsmall(0);
    REPO_PAGE(k, e, p) = false;
    return cap_res(p, k->gen[p], R_READWRITE);
}

/* MEM-2, REV-2 */
struct result op_dealloc(struct kernel *k, xint env, cap_t cap)
{
    if (!in_range(env, k->c.n_envs) || !in_range(cap.page, k->c.n_pages))
        return fail(INVALID_ARGUMENT);
    int64_t e = env.v, p = cap.page.v;
    if (!k->env_alive[e])
        return fail(NO_SUCH_ENV);
    if (k->owner[p] != e)
        return fail(NOT_OWNER);
    if (!cap_valid(k, e, cap))
        return fail(BAD_CAPABILITY);
    if (k->rev_kind[e] == RES_PAGE)
        k->rev_pending[e] = false;
    free_page(k, p);
    return res(OK, 0);
}

/* MEM-3 */
struct result op_grant(struct kernel *k, xint env, cap_t cap, xint grantee, xint rights)
{
    if (!in_range(env, k->c.n_envs) || !in_range(grantee, k->c.n_envs)
        || !in_range(cap.page, k->c.n_pages) || !rights_ok(rights))
        return fail(INVALID_ARGUMENT);
    if (!k->env_alive[env.v] || !k->env_alive[grantee.v])
        return fail(NO_SUCH_ENV);
    if (!cap_valid(k, env.v, cap))
        return fail(BAD_CAPABILITY);
    if (rights.v > cap.rights.v)
        return fail(NO_PERMISSION);
    int64_t p = cap.page.v, g = grantee.v;
    if (RIGHTS(k, g, p) < rights.v)
        RIGHTS(k, g, p) = rights.v;
    REPO_PAGE(k, g, p) = false;
    return cap_res(p, k->gen[p], rights.v);
}

/* MEM-4, MEM-5, TLB-8: translate vpage for the running environment (TLB, then STLB,
 * then its guaranteed mappings, refilling the TLB), then access, fault or miss */
static struct result access(struct kernel *k, xint vpage, xint offset, xint reg, bool write)
{
    if (!in_range(vpage, k->c.addr_limit) || !in_range(offset, k->c.page_words)
        || !in_range(reg, k->c.n_regs))
        return fail(INVALID_ARGUMENT);
    if (!live(k, k->cur_env))
        return fail(NOT_RUNNING);
    int64_t e = k->cur_env, cid = k->hw_cid, vp = vpage.v;
    struct bindings *t = &k->tlb, *s = &k->stlb;
    int64_t i = tlb_index(cid, vp, t->size);
    int64_t page, outcome;
    bool writable;
    if (t->valid[i] && t->cid[i] == cid && t->vpage[i] == vp) {
        page = t->page[i];
        writable = t->write[i];
        outcome = O_ACCESS;
    } else {
        int64_t j = stlb_index(cid, vp, s->size);
        if (s->valid[j] && s->cid[j] == cid && s->vpage[j] == vp) {
            page = s->page[j];
            writable = s->write[j];
            outcome = O_REFILL_STLB;
        } else {
            int64_t g = 0;
            while (g < k->c.n_guaranteed
                   && !(GM(k, gm_valid, e, g) && GM(k, gm_vpage, e, g) == vp))
                g++;
            if (g == k->c.n_guaranteed)  /* EXC-2: a miss everywhere */
                return res(OK, deliver(k, X_TLB_MISS, vp));
            page = GM(k, gm_page, e, g);
            writable = GM(k, gm_write, e, g);
            outcome = O_REFILL_GUARANTEED;
        }
        slot_put(t, i, cid, vp, page, writable);
    }
    if (write && !writable)  /* EXC-2: the refill stays */
        return res(OK, deliver(k, X_PROTECTION, vp));
    if (write)
        WORD(k, page, offset.v) = k->regs[reg.v];
    else
        k->regs[reg.v] = WORD(k, page, offset.v);
    return res(OK, outcome);
}

struct result op_load(struct kernel *k, xint vpage, xint offset, xint reg)
{
    return access(k, vpage, offset, reg, false);
}

struct result op_store(struct kernel *k, xint vpage, xint offset, xint reg)
{
    return access(k, vpage, offset, reg, true);
}

/* ------------------------------------------------------------------ TLB and mappings */

/* TLB-1 */
struct result op_tlbwr(struct kernel *k, xint env, xint vpage, cap_t cap, bool writable)
{
    if (!in_range(env, k->c.n_envs) || !in_range(vpage, k->c.addr_limit)
        || !in_range(cap.page, k->c.n_pages))
        return fail(INVALID_ARGUMENT);
    if (!k->env_alive[env.v])
        return fail(NO_SUCH_ENV);
    if (!cap_valid(k, env.v, cap))
        return fail(BAD_CAPABILITY);
    if (cap.rights.v < needed(writable))
        return fail(NO_PERMISSION);
    int64_t cid = k->env_cid[env.v];
    slot_put(&k->tlb, tlb_index(cid, vpage.v, k->tlb.size), cid, vpage.v, cap.page.v,
             writable);
    slot_put(&k->stlb, stlb_index(cid, vpage.v, k->stlb.size), cid, vpage.v, cap.page.v,
             writable);
    return res(OK, 0);
}

/* TLB-2 */
struct result op_tlbvadelete(struct kernel *k, xint env, xint vpage)
{
    if (!in_range(env, k->c.n_envs) || !in_range(vpage, k->c.addr_limit))
        return fail(INVALID_ARGUMENT);
    if (!k->env_alive[env.v])
        return fail(NO_SUCH_ENV);
    int64_t cid = k->env_cid[env.v], vp = vpage.v;
    int64_t i = tlb_index(cid, vp, k->tlb.size), j = stlb_index(cid, vp, k->stlb.size);
    if (k->tlb.cid[i] == cid && k->tlb.vpage[i] == vp)
        slot_clear(&k->tlb, i);
    if (k->stlb.cid[j] == cid && k->stlb.vpage[j] == vp)
        slot_clear(&k->stlb, j);
    return res(OK, 0);
}

/* TLB-3 */
struct result op_cid_switch(struct kernel *k, xint env, xint cid)
{
    if (!in_range(env, k->c.n_envs) || !in_range(cid, k->c.n_cids))
        return fail(INVALID_ARGUMENT);
    int64_t e = env.v;
    if (!k->env_alive[e])
        return fail(NO_SUCH_ENV);
    if (k->cid_env[cid.v] != FREE && k->cid_env[cid.v] != e)
        return fail(IN_USE);
    k->cid_env[k->env_cid[e]] = FREE;
    k->cid_env[cid.v] = e;
    k->env_cid[e] = cid.v;
    if (k->cur_env == e)
        k->hw_cid = cid.v;
    revalidate(k);
    return res(OK, 0);
}

/* TLB-4 */
struct result op_gm_set(struct kernel *k, xint env, xint slot, xint vpage, cap_t cap,
                        bool writable)
{
    if (!in_range(env, k->c.n_envs) || !in_range(slot, k->c.n_guaranteed)
        || !in_range(vpage, k->c.addr_limit) || !in_range(cap.page, k->c.n_pages))
        return fail(INVALID_ARGUMENT);
    int64_t e = env.v, p = cap.page.v;
    if (!k->env_alive[e])
        return fail(NO_SUCH_ENV);
    if (!cap_valid(k, e, cap))
        return fail(BAD_CAPABILITY);
    if (k->owner[p] != e)
        return fail(NOT_OWNER);
    if (cap.rights.v < needed(writable))
        return fail(NO_PERMISSION);
    if (revocation_target(k, e, p))
        return fail(BUSY);
    GM(k, gm_valid, e, slot.v) = true;
    GM(k, gm_vpage, e, slot.v) = vpage.v;
    GM(k, gm_page, e, slot.v) = p;
    GM(k, gm_write, e, slot.v) = writable;
    return res(OK, 0);
}

/* TLB-5 */
struct result op_gm_clear(struct kernel *k, xint env, xint slot)
{
    if (!in_range(env, k->c.n_envs) || !in_range(slot, k->c.n_guaranteed))
        return fail(INVALID_ARGUMENT);
    if (!k->env_alive[env.v])
        return fail(NO_SUCH_ENV);
    GM(k, gm_valid, env.v, slot.v) = false;
    return res(OK, 0);
}

/* ------------------------------------------------------------------ processor time */

/* CPU-5: live, with a start-of-slice entry to receive the CPU at */
static bool runnable(const struct kernel *k, int64_t e)
{
    return live(k, e) && ENTRY(k, e, V_SLICE_START) != NO_ENTRY;
}

/* CPU-5, CPU-7, REV-4: give the CPU to e, its processor state cleared; a waiting
 * repossession exception is delivered to its handler, or dropped without one */
static void start(struct kernel *k, int64_t e)
{
    int64_t handler = ENTRY(k, e, V_REPOSSESSION), begin = ENTRY(k, e, V_SLICE_START);
    bool repossessed = k->repo_exc[e] && handler != NO_ENTRY;
    for (int64_t r = 0; r < k->c.n_regs; r++)
        k->regs[r] = xsmall(0);
    k->cur_env = e;
    k->hw_cid = k->env_cid[e];
    k->pc = repossessed ? handler : begin;
    k->epc = repossessed ? begin : 0;
    k->cause = repossessed ? X_REPOSSESSION : -1;
    k->badvpage = 0;
    k->repo_exc[e] = false;
}

/* CPU-5, CPU-4: the next slice of the vector begins; its owner, if runnable, runs for
 * slice_ticks less the excess it still owes (a slice the debt eats is skipped) */
static void next_slice(struct kernel *k)
{
    int64_t q = k->cur_slice + 1 >= k->c.n_slices ? 0 : k->cur_slice + 1;
    int64_t o = k->slice_owner[q];
    bool owner_runnable = runnable(k, o);
    int64_t charge = 0;
    if (owner_runnable)
        charge = k->excess[o] < k->c.slice_ticks ? k->excess[o] : k->c.slice_ticks;
    k->cur_slice = q;
    k->slice_left = k->c.slice_ticks - charge;
    if (charge)
        k->excess[o] -= charge;
    if (owner_runnable && k->slice_left > 0) {
        start(k, o);
    } else {
        k->cur_env = FREE;
        k->hw_cid = FREE;
    }
}

/* CPU-1 */
struct result op_slice_alloc(struct kernel *k, xint env, xint slice)
{
    if (!in_range(env, k->c.n_envs) || !in_range(slice, k->c.n_slices))
        return fail(INVALID_ARGUMENT);
    if (!k->env_alive[env.v])
        return fail(NO_SUCH_ENV);
    if (k->slice_owner[slice.v] != FREE)
        return fail(IN_USE);
    k->slice_owner[slice.v] = env.v;
    REPO_SLICE(k, env.v, slice.v) = false;
    return res(OK, 0);
}

/* CPU-2, REV-2 */
struct result op_slice_free(struct kernel *k, xint env, xint slice)
{
    if (!in_range(env, k->c.n_envs) || !in_range(slice, k->c.n_slices))
        return fail(INVALID_ARGUMENT);
    if (!k->env_alive[env.v])
        return fail(NO_SUCH_ENV);
    if (k->slice_owner[slice.v] != env.v)
        return fail(NOT_OWNER);
    k->slice_owner[slice.v] = FREE;
    if (k->rev_kind[env.v] == RES_SLICE)
        k->rev_pending[env.v] = false;
    return res(OK, 0);
}

/* CPU-3 */
struct result op_yield_to(struct kernel *k, xint target)
{
    bool named = target.big || target.v != FREE;
    if (named && !in_range(target, k->c.n_envs))
        return fail(INVALID_ARGUMENT);
    if (!live(k, k->cur_env))
        return fail(NOT_RUNNING);
    if (named && !k->env_alive[target.v])
        return fail(NO_SUCH_ENV);
    if (named && !runnable(k, target.v))
        return fail(NO_ENTRY_ST);
    if (named && k->slice_left > 0) {
        start(k, target.v);
        return res(OK, O_NONE);
    }
    next_slice(k);
    return res(OK, O_NEXT_SLICE);
}

/* CPU-4 */
struct result op_timer_tick(struct kernel *k)
{
    int64_t e = k->cur_env;
    bool running = live(k, e);
    k->now += 1;
    if (k->slice_left > 0) {
        k->slice_left -= 1;
        if (k->slice_left > 0)
            return res(OK, O_TICK);
        if (running && ENTRY(k, e, V_SLICE_END) != NO_ENTRY) {
            k->pc = ENTRY(k, e, V_SLICE_END);
            return res(OK, O_SLICE_END);
        }
        next_slice(k);
        return res(OK, O_NEXT_SLICE);
    }
    if (!running) {
        next_slice(k);
        return res(OK, O_NEXT_SLICE);
    }
    int64_t owed = k->excess[e] + 1;
    if (owed > k->c.excess_limit) {
        destroy_env(k, e);
        next_slice(k);
        return res(OK, O_KILLED);
    }
    k->excess[e] = owed;
    return res(OK, O_EXCESS);
}

/* CPU-6 */
struct result op_set_reg(struct kernel *k, xint reg, xint value)
{
    if (!in_range(reg, k->c.n_regs))
        return fail(INVALID_ARGUMENT);
    if (!live(k, k->cur_env))
        return fail(NOT_RUNNING);
    k->regs[reg.v] = value;
    return res(OK, 0);
}

/* ------------------------------------------------------------------ protected control transfer */

/* PCT-1..PCT-3: control moves to callee's entry; the registers stay as they are */
static struct result transfer(struct kernel *k, xint callee, int vector, bool donate)
{
    int64_t caller = k->cur_env, q = k->cur_slice;
    if (!in_range(callee, k->c.n_envs))
        return fail(INVALID_ARGUMENT);
    if (!live(k, caller))
        return fail(NOT_RUNNING);
    int64_t to = callee.v;
    if (!k->env_alive[to])
        return fail(NO_SUCH_ENV);
    int64_t target = ENTRY(k, to, vector);
    if (target == NO_ENTRY)
        return fail(NO_ENTRY_ST);
    bool owns = k->slice_owner[q] == caller;
    bool revoking = k->rev_pending[caller] && k->rev_kind[caller] == RES_SLICE
                    && k->rev_target[caller] == q;
    if (donate && owns && revoking)
        return fail(BUSY);
    if (k->slice_left <= 0)
        return fail(NO_TIME);
    k->cur_env = to;
    k->hw_cid = k->env_cid[to];
    k->pc = target;
    if (donate && owns) {
        k->slice_owner[q] = to;
        REPO_SLICE(k, to, q) = false;
    }
    return res(OK, 0);
}

struct result op_scall(struct kernel *k, xint callee)
{
    return transfer(k, callee, V_PCT_SYNC, true);
}

struct result op_acall(struct kernel *k, xint callee)
{
    return transfer(k, callee, V_PCT_ASYNC, false);
}

/* ------------------------------------------------------------------ revocation */

/* REV-1 */
struct result op_revoke_request(struct kernel *k, xint env, xint resource, xint target,
                                xint deadline)
{
    const struct config *c = &k->c;
    bool is_page = !resource.big && resource.v == RES_PAGE;
    bool is_slice = !resource.big && resource.v == RES_SLICE;
    bool is_filter = !resource.big && resource.v == RES_FILTER;
    if (!in_range(env, c->n_envs) || !(is_page || is_slice || is_filter)
        || (is_page && !in_range(target, c->n_pages))
        || (is_slice && !in_range(target, c->n_slices))
        || (is_filter && !in_range(target, c->n_filters))
        || deadline.v <= k->now)
        return fail(INVALID_ARGUMENT);
    int64_t e = env.v, t = target.v;
    if (!k->env_alive[e])
        return fail(NO_SUCH_ENV);
    if (k->rev_pending[e])
        return fail(BUSY);
    if ((is_page && k->owner[t] != e) || (is_slice && k->slice_owner[t] != e)
        || (is_filter && !(k->filter_valid[t] && k->filter_owner[t] == e)))
        return fail(NOT_OWNER);
    if (is_page && guaranteed_page(k, e, t))
        return fail(GUARANTEED);
    k->rev_pending[e] = true;
    k->rev_kind[e] = resource.v;
    k->rev_target[e] = t;
    k->rev_deadline[e] = deadline;
    return res(OK, 0);
}

/* REV-4: delivered now if env runs and has a handler, else left waiting */
static void raise_repossession(struct kernel *k, int64_t env)
{
    int64_t handler = ENTRY(k, env, V_REPOSSESSION);
    if (k->cur_env == env && handler != NO_ENTRY) {
        k->epc = k->pc;
        k->cause = X_REPOSSESSION;
        k->pc = handler;
    } else {
        k->repo_exc[env] = true;
    }
}

/* REV-3 */
struct result op_abort(struct kernel *k, xint env)
{
    if (!in_range(env, k->c.n_envs))
        return fail(INVALID_ARGUMENT);
    int64_t e = env.v;
    if (!k->env_alive[e])
        return fail(NO_SUCH_ENV);
    if (!k->rev_pending[e])
        return fail(NO_REQUEST);
    if (k->now <= k->rev_deadline[e].v)
        return fail(TOO_EARLY);
    int64_t t = k->rev_target[e];
    k->rev_pending[e] = false;
    if (k->rev_kind[e] == RES_PAGE) {
        free_page(k, t);
        REPO_PAGE(k, e, t) = true;
    } else if (k->rev_kind[e] == RES_SLICE) {
        k->slice_owner[t] = FREE;
        REPO_SLICE(k, e, t) = true;
        if (k->cur_env == e && k->cur_slice == t) {
            k->cur_env = FREE;
            k->hw_cid = FREE;
        }
    } else {  /* a packet filter is removed (NET-2) */
        remove_filter(k, t);
        REPO_FILTER(k, e, t) = true;
    }
    raise_repossession(k, e);
    return res(OK, 0);
}

/* ------------------------------------------------------------------ packet filters */

/* NET-1: programs ordered as Python orders tuples: instruction by instruction, each as
 * (code, jt, jf, k), a proper prefix first. Negative when a comes first. */
static int program_cmp(const bpf_insn *a, size_t na, const bpf_insn *b, size_t nb)
{
    for (size_t i = 0; i < na && i < nb; i++) {
        if (a[i].code != b[i].code)
            return a[i].code < b[i].code ? -1 : 1;
        if (a[i].jt != b[i].jt)
            return a[i].jt < b[i].jt ? -1 : 1;
        if (a[i].jf != b[i].jf)
            return a[i].jf < b[i].jf ? -1 : 1;
        if (a[i].k != b[i].k)
            return a[i].k < b[i].k ? -1 : 1;
    }
    return na < nb ? -1 : na > nb ? 1 : 0;
}

static struct result out_of_memory(void)
{
    struct result r = fail(INVALID_ARGUMENT);
    r.out_of_memory = true;
    return r;
}

/* NET-1.5 for one installed filter f of another environment, decided by FLT-9 without a
 * solver: 1 when the two overlap (*witness set), 0 when they are disjoint, 2 when this
 * kernel cannot decide (a program outside FLT-9's class: UNDECIDED), -1 out of memory.
 * The pair is asked in one order, the smaller program first, as NET-1 asks FLT-6. */
static int clash(struct kernel *k, int64_t f, const bpf_insn *prog, size_t n, bool known,
                 const df_filter *mine, uint8_t **witness, size_t *len)
{
    if (!known || !k->filter_known[f])
        return 2;
    const df_filter *theirs = &k->filter_df[f];
    bool mine_first = program_cmp(prog, n, k->filter_code[f], k->filter_len[f]) <= 0;
    return df_overlap(mine_first ? mine : theirs, mine_first ? theirs : mine, witness, len);
}

/* NET-1 */
struct result op_filter_install(struct kernel *k, xint env, const bpf_insn *prog, size_t n)
{
    const struct config *c = &k->c;
    if (!in_range(env, c->n_envs))                          /* NET-1.1 */
        return fail(INVALID_ARGUMENT);
    int64_t e = env.v;
    if (!k->env_alive[e])                                   /* NET-1.2 */
        return fail(NO_SUCH_ENV);
    if (!bpf_verify(prog, n))                               /* NET-1.3: FLT-2, FLT-3 */
        return fail(BAD_PROGRAM);
    int64_t slot = 0;                                       /* NET-1.4: the lowest free */
    while (slot < c->n_filters && k->filter_valid[slot])
        slot++;
    if (slot == c->n_filters)
        return fail(NO_SPACE);
    /* NET-1.5, FLT-9: the program read as a DFilter, then each installed filter of
     * another environment in slot order; the first not proved disjoint decides */
    df_filter mine = {0, NULL};
    int known = df_recognize(prog, n, &mine);
    if (known < 0)
        return out_of_memory();
#ifdef EXO_BROKEN_FILTER
    int64_t first = 1;  /* planted: the check forgets the filter in slot 0 */
#else
    int64_t first = 0;
#endif
    for (int64_t f = first; f < c->n_filters; f++) {
        if (!k->filter_valid[f] || k->filter_owner[f] == e)
            continue;
        uint8_t *witness = NULL;
        size_t len = 0;
        int found = clash(k, f, prog, n, known == 1, &mine, &witness, &len);
        if (found == 0)
            continue;
        if (known == 1)
            df_free(&mine);
        if (found < 0)
            return out_of_memory();
        if (found == 2)
            return fail(UNDECIDED);
        free(k->witness);  /* OVERLAP: the witness is the value (NET-1 Returns) */
        k->witness = witness;
        struct result r = fail(OVERLAP);
        r.bytes = witness;
        r.n_bytes = len;
        return r;
    }
    bpf_insn *code = malloc((n ? n : 1) * sizeof *code);
    if (!code) {
        if (known == 1)
            df_free(&mine);
        return out_of_memory();
    }
    memcpy(code, prog, n * sizeof *code);
    free(k->filter_code[slot]);
    k->filter_valid[slot] = true;
    k->filter_owner[slot] = e;
    k->filter_code[slot] = code;
    k->filter_len[slot] = n;
    k->filter_known[slot] = known == 1;
    k->filter_df[slot] = mine;
    REPO_FILTER(k, e, slot) = false;
    demux_added(k, slot);  /* NET-3: demux */
    return res(OK, slot);
}

/* NET-2, REV-2 */
struct result op_filter_remove(struct kernel *k, xint env, xint filter)
{
    if (!in_range(env, k->c.n_envs) || !in_range(filter, k->c.n_filters))
        return fail(INVALID_ARGUMENT);
    int64_t e = env.v, f = filter.v;
    if (!k->env_alive[e])
        return fail(NO_SUCH_ENV);
    if (!(k->filter_valid[f] && k->filter_owner[f] == e))
        return fail(NOT_OWNER);
    remove_filter(k, f);
    if (k->rev_kind[e] == RES_FILTER)  /* REV-2: whatever filter the request named */
        k->rev_pending[e] = false;
    return res(OK, 0);
}

/* NET-3: the lowest installed filter that accepts the packet (FLT-4: non-zero) decides
 * whose it is; by INV-13 every accepting filter has the same owner. NET-3: demux: the
 * slot comes from the merged trie of the DFilters (demux.c), bpf_run for the others. */
struct result op_packet_arrive(struct kernel *k, const uint8_t *pkt, size_t len)
{
    const struct config *c = &k->c;
    int64_t f = demux_classify(k, pkt, len);  /* NET-3: demux */
    if (f < 0) {  /* no match: the kernel drops and counts it */
        k->kernel_drops += 1;
        return res(OK, O_RX_NO_MATCH);
    }
    int64_t e = k->filter_owner[f];
    if (k->rx_count[e] >= c->ring_size) {  /* ring full: dropped, counted against e */
        k->rx_drops[e] += 1;
        return res(OK, O_RX_RING_FULL);
    }
    int64_t at = k->rx_head[e] + k->rx_count[e];
    if (at >= c->ring_size)
        at -= c->ring_size;
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return out_of_memory();
    memcpy(copy, pkt, len);
    free(RX(k, rx_pkt, e, at));
    RX(k, rx_pkt, e, at) = copy;
    RX(k, rx_len, e, at) = len;
    k->rx_count[e] += 1;
    return res(OK, O_RX_DELIVERED);
}

/* NET-4 */
struct result op_packet_take(struct kernel *k, xint env)
{
    if (!in_range(env, k->c.n_envs))
        return fail(INVALID_ARGUMENT);
    int64_t e = env.v;
    if (!k->env_alive[e])
        return fail(NO_SUCH_ENV);
    if (k->rx_count[e] <= 0)
        return fail(EMPTY);
    int64_t head = k->rx_head[e];
    struct result r = res(OK, 0);
    r.bytes = RX(k, rx_pkt, e, head);  /* the slot's bytes stay in place */
    r.n_bytes = RX(k, rx_len, e, head);
    k->rx_head[e] = head + 1 >= k->c.ring_size ? 0 : head + 1;
    k->rx_count[e] -= 1;
    return r;
}
