/* exo-c-kernel: the exokernel operations of Exo's specification, in C11.
 *
 * The state and the operations are plain C with no JSON in them (kernel.c); the wire
 * protocol lives in wire.c and the timing harness in bench.c. Every operation cites the
 * clause of ../../spec it implements; the order of its checks is the clause's order.
 */
#ifndef EXO_C_KERNEL_H
#define EXO_C_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpf.h"
#include "dfilter.h"

#define FREE (-1)
#define NO_ENTRY (-1)
#define NUM_VECTORS 10

enum status {
    OK, INVALID_ARGUMENT, NO_SUCH_ENV, ENV_EXISTS, NOT_OWNER, BAD_CAPABILITY,
    NO_PERMISSION, IN_USE, NOT_RUNNING, NO_ENTRY_ST, BUSY, GUARANTEED, NO_REQUEST,
    TOO_EARLY, BAD_PROGRAM, OVERLAP, NO_SPACE, EMPTY, UNDECIDED, NO_TIME,
    N_STATUS
};

enum outcome {
    O_NONE, O_ACCESS, O_REFILL_STLB, O_REFILL_GUARANTEED, O_DELIVERED, O_KILLED,
    O_TICK, O_SLICE_END, O_NEXT_SLICE, O_EXCESS, O_RX_DELIVERED, O_RX_RING_FULL,
    O_RX_NO_MATCH
};

enum rights { R_NONE = 0, R_READ = 1, R_READWRITE = 2 };
enum exc_kind { X_TLB_MISS, X_UNALIGNED, X_OVERFLOW, X_COPROC, X_PROTECTION, X_REPOSSESSION };
enum vector {
    V_TLB_MISS, V_UNALIGNED, V_OVERFLOW, V_COPROC, V_PROTECTION, V_REPOSSESSION,
    V_SLICE_START, V_SLICE_END, V_PCT_SYNC, V_PCT_ASYNC
};
enum resource { RES_PAGE = 0, RES_SLICE = 1, RES_FILTER = 2 };

/* An integer as the interface has it: any size (GEN-1, CPU-6). Values that fit in 64
 * bits are exact in `v`; a larger one keeps its decimal text in `big` and `v` holds
 * INT64_MAX or INT64_MIN by its sign, which orders it correctly against every 64-bit
 * value and puts it outside every index range. */
typedef struct {
    int64_t v;
    const char *big;
} xint;

typedef struct {
    xint page, gen, rights;
} cap_t;

struct config {
    int64_t n_envs, n_pages, page_words, tlb_size, stlb_size, n_cids, n_slices,
        n_guaranteed, n_regs, slice_ticks, excess_limit, addr_limit, n_filters, ring_size;
};

/* A direct-mapped binding cache: the hardware TLB (TLB-6) or the STLB (TLB-7). Valid
 * slots are also threaded on a list per physical page, so freeing a page breaks its
 * bindings without a scan of the table. */
struct bindings {
    int64_t size;
    bool *valid, *write;
    int64_t *cid, *vpage, *page;
    int64_t *next, *prev; /* per-page list of valid slots, -1 ends */
    int64_t *head;        /* [page] -> first slot bound to it, or -1 */
};

struct kernel {
    struct config c;
    /* processor environments (ENV-1..ENV-5) */
    bool *env_alive;
    int64_t *env_cid, *cid_env, *entry; /* entry: [env * NUM_VECTORS + vector] */
    /* physical memory (MEM-1..MEM-6) */
    int64_t *owner, *gen, *rights;      /* rights: [env * n_pages + page] */
    xint *word;                         /* [page * page_words + offset] */
    struct bindings tlb, stlb;
    /* guaranteed mappings (TLB-4, TLB-5): [env * n_guaranteed + slot] */
    bool *gm_valid, *gm_write;
    int64_t *gm_vpage, *gm_page;
    /* CPU (CPU-1..CPU-7) */
    int64_t cur_env, hw_cid, pc, epc, cause, badvpage, now, cur_slice, slice_left;
    xint *regs;
    int64_t *slice_owner, *excess;
    /* revocation (REV-1..REV-5) */
    bool *rev_pending, *repo_exc;
    int64_t *rev_kind, *rev_target;
    xint *rev_deadline;
    bool *repo_page, *repo_slice;       /* [env * n_pages + page], [env * n_slices + q] */
    bool *repo_filter;                  /* [env * n_filters + f] */
    /* packet filters (NET-1, NET-2): per slot; the code is a verified program (FLT-2,
     * FLT-3) and its declarative form, read once at install (FLT-9) */
    bool *filter_valid;
    int64_t *filter_owner;
    bpf_insn **filter_code;
    size_t *filter_len;
    bool *filter_known;                 /* df_recognize accepted the program */
    df_filter *filter_df;               /* its canonical DFilter, when known */
    struct demux *demux;                /* NET-3: demux (demux.h): the filters merged */
    /* receive rings (NET-3, NET-4): [env * ring_size + slot] */
    int64_t *rx_head, *rx_count, *rx_drops;
    uint8_t **rx_pkt;
    size_t *rx_len;
    int64_t kernel_drops;
    /* the last OVERLAP witness (NET-1), freed at the next one */
    uint8_t *witness;
    /* the decimal texts of big integers held in the state, freed by kernel_free */
    char **texts;
    int64_t n_texts, cap_texts;
};

/* What an operation answers: a status and a value (an int, an outcome, a cap, or
 * bytes: packet_take's packet, filter_install's OVERLAP witness). The bytes belong to
 * the kernel and stay valid until its next operation. out_of_memory: the kernel could
 * not answer (the protocol loop replies with an error). */
struct result {
    enum status status;
    int64_t value;
    cap_t cap;
    const uint8_t *bytes;
    size_t n_bytes;
    bool out_of_memory;
};

const char *kernel_config_problem(const struct config *c);
bool kernel_init(struct kernel *k, const struct config *c);
void kernel_free(struct kernel *k);
const char *kernel_keep_text(struct kernel *k, const char *text);

struct result op_env_create(struct kernel *k, xint env, xint cid);
struct result op_env_destroy(struct kernel *k, xint env);
struct result op_set_exception_context(struct kernel *k, xint env, xint exc, xint entry);
struct result op_set_interrupt_context(struct kernel *k, xint env, xint which, xint entry);
struct result op_set_protected_entry(struct kernel *k, xint env, xint which, xint entry);
struct result op_alloc(struct kernel *k, xint env, xint page);
struct result op_dealloc(struct kernel *k, xint env, cap_t cap);
struct result op_grant(struct kernel *k, xint env, cap_t cap, xint grantee, xint rights);
struct result op_load(struct kernel *k, xint vpage, xint offset, xint reg);
struct result op_store(struct kernel *k, xint vpage, xint offset, xint reg);
struct result op_tlbwr(struct kernel *k, xint env, xint vpage, cap_t cap, bool writable);
struct result op_tlbvadelete(struct kernel *k, xint env, xint vpage);
struct result op_cid_switch(struct kernel *k, xint env, xint cid);
struct result op_gm_set(struct kernel *k, xint env, xint slot, xint vpage, cap_t cap,
                        bool writable);
struct result op_gm_clear(struct kernel *k, xint env, xint slot);
struct result op_slice_alloc(struct kernel *k, xint env, xint slice);
struct result op_slice_free(struct kernel *k, xint env, xint slice);
struct result op_yield_to(struct kernel *k, xint target);
struct result op_timer_tick(struct kernel *k);
struct result op_set_reg(struct kernel *k, xint reg, xint value);
struct result op_scall(struct kernel *k, xint callee);
struct result op_acall(struct kernel *k, xint callee);
struct result op_raise_exception(struct kernel *k, xint exc);
struct result op_revoke_request(struct kernel *k, xint env, xint resource, xint target,
                                xint deadline);
struct result op_abort(struct kernel *k, xint env);
struct result op_filter_install(struct kernel *k, xint env, const bpf_insn *prog, size_t n);
struct result op_filter_remove(struct kernel *k, xint env, xint filter);
struct result op_packet_arrive(struct kernel *k, const uint8_t *pkt, size_t len);
struct result op_packet_take(struct kernel *k, xint env);

static inline xint xsmall(int64_t v) { xint x = {v, 0}; return x; }

int bench_main(int argc, char **argv);

#endif
