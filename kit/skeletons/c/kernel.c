/* kernel.c: my exokernel, a starting point written by `exo new-kernel --lang c`.
 *
 * It speaks Exo's wire protocol (spec/protocol.md): one JSON request per line on standard
 * input, one JSON reply per line on standard output (Jansson reads and writes them).
 * What is here: the processor environments (spec/env.md, ENV-1..ENV-5), written for
 * real, and the state they keep, as `observe` returns it (spec/observe.md, GEN-5).
 * Every other operation is not written yet: this kernel answers it with an `error` reply
 * (WIRE-1), which `exo check` reports as a failure, so a stage that includes it fails
 * until you write it. GUIDE.md gives the order; each stage names its `--ops`.
 *
 *     make && exo check --impl-cmd ./kernel --ops ENV
 *
 * Every operation's positional arguments, its result and its null value on failure are
 * in spec/signatures.md. Standard error is yours, for logs.
 */
#define _POSIX_C_SOURCE 200809L
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FREE (-1)      /* no environment; the context id of a dead one */
#define NO_ENTRY (-1)  /* no entry point registered (GEN-3) */
#define NUM_EXCEPTIONS 6
#define NUM_VECTORS 10 /* 0..5 exceptions, 6/7 slice start/end, 8/9 PCT sync/async */
#define V_SLICE_START 6
#define V_PCT_SYNC 8

/* GEN-1: the statuses, in exo.interface.Status's order; over the wire by name */
enum status {
    OK, INVALID_ARGUMENT, NO_SUCH_ENV, ENV_EXISTS, NOT_OWNER, BAD_CAPABILITY,
    NO_PERMISSION, IN_USE, NOT_RUNNING, NO_ENTRY_STATUS, BUSY, GUARANTEED, NO_REQUEST,
    TOO_EARLY, BAD_PROGRAM, OVERLAP, NO_SPACE, EMPTY, UNDECIDED, NO_TIME
};
static const char *STATUS_NAMES[] = {
    "OK", "INVALID_ARGUMENT", "NO_SUCH_ENV", "ENV_EXISTS", "NOT_OWNER", "BAD_CAPABILITY",
    "NO_PERMISSION", "IN_USE", "NOT_RUNNING", "NO_ENTRY", "BUSY", "GUARANTEED",
    "NO_REQUEST", "TOO_EARLY", "BAD_PROGRAM", "OVERLAP", "NO_SPACE", "EMPTY", "UNDECIDED",
    "NO_TIME"};

/* GEN-4 / WIRE-2: the configuration, every field an integer */
static const char *CONFIG_NAMES[] = {
    "n_envs", "n_pages", "page_words", "tlb_size", "stlb_size", "n_cids", "n_slices",
    "n_guaranteed", "n_regs", "slice_ticks", "excess_limit", "addr_limit", "n_filters",
    "ring_size"};
enum { N_CONFIG = 14, C_N_ENVS = 0, C_N_CIDS = 5, C_EXCESS_LIMIT = 10, C_ADDR_LIMIT = 11 };
#define MAX_SIZE 4096 /* WIRE-1's bound on a size */

struct kernel {
    long long c[N_CONFIG];  /* the configuration, by CONFIG_NAMES' order */
    /* ENV-1: which slots are alive and the context id of each (FREE while dead) */
    bool *env_alive;        /* [n_envs] */
    long long *env_cid;     /* [n_envs] */
    long long *cid_env;     /* [n_cids]: the live env using the id, or FREE */
    /* ENV-3..ENV-5: entry[env * NUM_VECTORS + vector], NO_ENTRY when none */
    long long *entry;
};

#define N_ENVS(k) ((k)->c[C_N_ENVS])
#define N_CIDS(k) ((k)->c[C_N_CIDS])
#define ENTRY(k, e, v) ((k)->entry[(e) * NUM_VECTORS + (v)])

static bool in_range(long long x, long long n) { return 0 <= x && x < n; }

/* GEN-3: an entry point is NO_ENTRY or an address in [0, addr_limit) */
static bool entry_ok(const struct kernel *k, long long entry)
{
    return entry == NO_ENTRY || in_range(entry, k->c[C_ADDR_LIMIT]);
}

/* ------------------------------------------------------------------ ENV (spec/env.md) */

/* ENV-1: env_create(env, cid) -> int; OK with the value env */
static enum status env_create(struct kernel *k, const long long *a, long long *value)
{
    long long env = a[0], cid = a[1];
    if (!in_range(env, N_ENVS(k)) || !in_range(cid, N_CIDS(k)))
        return INVALID_ARGUMENT;
    if (k->env_alive[env])
        return ENV_EXISTS;
    if (k->cid_env[cid] != FREE)
        return IN_USE;
    k->env_alive[env] = true;
    k->env_cid[env] = cid;
    k->cid_env[cid] = env;
    /* ENV-1 also resets the new environment's entry points (and, once you have them,
       its guaranteed mappings, excess time, request, repossession vector and ring) */
    for (int v = 0; v < NUM_VECTORS; v++)
        ENTRY(k, env, v) = NO_ENTRY;
    *value = env;
    return OK;
}

/* ENV-2: env_destroy(env) -> int. This one grows with every stage: ENV-2 lists all an
   environment gives back (pages, rights, slices, bindings, filters, ring...), and if it
   was running the CPU idles. */
static enum status env_destroy(struct kernel *k, const long long *a, long long *value)
{
    long long env = a[0];
    if (!in_range(env, N_ENVS(k)))
        return INVALID_ARGUMENT;
    if (!k->env_alive[env])
        return NO_SUCH_ENV;
    k->env_alive[env] = false;
    k->cid_env[k->env_cid[env]] = FREE;
    k->env_cid[env] = FREE;
    for (int v = 0; v < NUM_VECTORS; v++)
        ENTRY(k, env, v) = NO_ENTRY;
    *value = 0;
    return OK;
}

/* ENV-3..ENV-5 check the same things in the same order: env in range, the index in
   range (`count` of them), the entry an address, env alive */
static enum status set_vector(struct kernel *k, const long long *a, long long count,
                              int first, long long *value)
{
    long long env = a[0], which = a[1], entry = a[2];
    if (!in_range(env, N_ENVS(k)) || !in_range(which, count) || !entry_ok(k, entry))
        return INVALID_ARGUMENT;
    if (!k->env_alive[env])
        return NO_SUCH_ENV;
    ENTRY(k, env, first + which) = entry;
    *value = 0;
    return OK;
}

/* ENV-3: set_exception_context(env, exc, entry): vectors 0..5 */
static enum status set_exception_context(struct kernel *k, const long long *a,
                                         long long *value)
{
    return set_vector(k, a, NUM_EXCEPTIONS, 0, value);
}

/* ENV-4: set_interrupt_context(env, which, entry): vectors 6 (start), 7 (end) */
static enum status set_interrupt_context(struct kernel *k, const long long *a,
                                         long long *value)
{
    return set_vector(k, a, 2, V_SLICE_START, value);
}

/* ENV-5: set_protected_entry(env, which, entry): vectors 8 (sync), 9 (async) */
static enum status set_protected_entry(struct kernel *k, const long long *a,
                                       long long *value)
{
    return set_vector(k, a, 2, V_PCT_SYNC, value);
}

/* ------------------------------------------------------------------ the operations */

typedef enum status (*handler)(struct kernel *, const long long *, long long *);

/* Every operation of spec/signatures.md: its name, clause, number of arguments, the kind
 * of its result ('i' int, 'c' capability, 'o' outcome: for the null value of a failure,
 * WIRE-6) and its handler, NULL while it is not written. The handlers here take integer
 * arguments only; when you write one that takes a capability, a boolean, a program or a
 * packet, or can hold an integer beyond 64 bits (a register, CPU-6), read its arguments
 * by kind as WIRE-6 says (examples/c-kernel/wire.c shows one way). */
static const struct op {
    const char *name, *clause;
    int n_args;
    char result;
    handler run;
} OPS[] = {
    {"env_create", "ENV-1", 2, 'i', env_create},
    {"env_destroy", "ENV-2", 1, 'i', env_destroy},
    {"set_exception_context", "ENV-3", 3, 'i', set_exception_context},
    {"set_interrupt_context", "ENV-4", 3, 'i', set_interrupt_context},
    {"set_protected_entry", "ENV-5", 3, 'i', set_protected_entry},
    {"alloc", "MEM-1", 2, 'c', NULL},
    {"dealloc", "MEM-2", 2, 'i', NULL},
    {"grant", "MEM-3", 4, 'c', NULL},
    {"load", "MEM-4", 3, 'o', NULL},
    {"store", "MEM-5", 3, 'o', NULL},
    {"tlbwr", "TLB-1", 4, 'i', NULL},
    {"tlbvadelete", "TLB-2", 2, 'i', NULL},
    {"cid_switch", "TLB-3", 2, 'i', NULL},
    {"gm_set", "TLB-4", 5, 'i', NULL},
    {"gm_clear", "TLB-5", 2, 'i', NULL},
    {"slice_alloc", "CPU-1", 2, 'i', NULL},
    {"slice_free", "CPU-2", 2, 'i', NULL},
    {"yield_to", "CPU-3", 1, 'o', NULL},
    {"timer_tick", "CPU-4", 0, 'o', NULL},
    {"set_reg", "CPU-6", 2, 'i', NULL},
    {"scall", "PCT-1", 1, 'i', NULL},
    {"acall", "PCT-2", 1, 'i', NULL},
    {"raise_exception", "EXC-1", 1, 'o', NULL},
    {"revoke_request", "REV-1", 4, 'i', NULL},
    {"abort", "REV-3", 1, 'i', NULL},
    {"filter_install", "NET-1", 2, 'i', NULL},
    {"filter_remove", "NET-2", 2, 'i', NULL},
    {"packet_arrive", "NET-3", 1, 'o', NULL},
    {"packet_take", "NET-4", 1, 'i', NULL},
};
#define N_OPS (sizeof OPS / sizeof OPS[0])

/* ------------------------------------------------------------------ the wire */

static json_t *error_reply(const char *message)
{
    return json_pack("{s:s, s:s}", "type", "error", "message", message);
}

/* WIRE-3: {"type": "result", "status": NAME, "value": VALUE}; a failure carries the
   operation's null value (GEN-1): 0, the null capability, or the outcome "NONE" */
static json_t *result_reply(const struct op *op, enum status st, long long value)
{
    json_t *v;
    if (op->result == 'c')  /* a Cap result; only failures come from this skeleton */
        v = json_pack("{s:[i,i,i]}", "cap", -1, -1, 0);
    else if (op->result == 'o')
        v = json_string("NONE");
    else
        v = json_integer(st == OK ? value : 0);
    return json_pack("{s:s, s:s, s:o}", "type", "result", "status", STATUS_NAMES[st],
                     "value", v);
}

static json_t *apply(struct kernel *k, json_t *req)
{
    const char *name = json_string_value(json_object_get(req, "op"));
    json_t *args = json_object_get(req, "args");
    if (!name || !json_is_array(args))
        return error_reply("apply needs \"op\" (a string) and \"args\" (a list)");
    const struct op *op = NULL;
    for (size_t i = 0; i < N_OPS; i++)
        if (strcmp(OPS[i].name, name) == 0)
            op = &OPS[i];
    if (!op)
        return error_reply("unknown operation");
    if (!op->run) {
        char msg[160];
        snprintf(msg, sizeof msg, "%s (%s) is not written yet: see spec/signatures.md#op-%s",
                 op->name, op->clause, op->name);
        return error_reply(msg);
    }
    /* GEN-1: the wrong number of arguments, or one not of its kind, is INVALID_ARGUMENT
       (never an error reply). The kit sends such arguments on purpose: true for an
       integer, {"foreign": "float"}, {"int": "DIGITS"} for one beyond 64 bits (WIRE-6).
       Every argument of the operations written so far is an index or an address, and an
       integer beyond 64 bits is outside every such range: INVALID_ARGUMENT too. */
    long long a[8] = {0};
    if (json_array_size(args) != (size_t)op->n_args)
        return result_reply(op, INVALID_ARGUMENT, 0);
    for (int i = 0; i < op->n_args; i++) {
        json_t *x = json_array_get(args, (size_t)i);
        if (!json_is_integer(x))
            return result_reply(op, INVALID_ARGUMENT, 0);
        a[i] = json_integer_value(x);
    }
    long long value = 0;
    enum status st = op->run(k, a, &value);
    return result_reply(op, st, value);
}

/* WIRE-4: the state (GEN-5) as rows [key, value] or [key1, key2, value]; a row left out
   is at its boot value, so only what differs from boot is sent */
static json_t *observe(const struct kernel *k)
{
    json_t *alive = json_array(), *env_cid = json_array(), *cid_env = json_array(),
           *entry = json_array();
    for (long long e = 0; e < N_ENVS(k); e++) {
        if (k->env_alive[e]) {
            json_array_append_new(alive, json_pack("[I,b]", (json_int_t)e, 1));
            json_array_append_new(env_cid, json_pack("[I,I]", (json_int_t)e,
                                                     (json_int_t)k->env_cid[e]));
        }
        for (int v = 0; v < NUM_VECTORS; v++)
            if (ENTRY(k, e, v) != NO_ENTRY)
                json_array_append_new(entry, json_pack("[I,i,I]", (json_int_t)e, v,
                                                       (json_int_t)ENTRY(k, e, v)));
    }
    for (long long c = 0; c < N_CIDS(k); c++)
        if (k->cid_env[c] != FREE)
            json_array_append_new(cid_env, json_pack("[I,I]", (json_int_t)c,
                                                     (json_int_t)k->cid_env[c]));
    return json_pack("{s:s, s:{s:o, s:o, s:o, s:o}}", "type", "state", "fields",
                     "env_alive", alive, "env_cid", env_cid, "cid_env", cid_env,
                     "entry", entry);
}

static void kernel_free(struct kernel *k)
{
    free(k->env_alive);
    free(k->env_cid);
    free(k->cid_env);
    free(k->entry);
    memset(k, 0, sizeof *k);
}

/* WIRE-2: discard everything and boot (INV-0) with the configuration */
static json_t *reset(struct kernel *k, bool *booted, json_t *req)
{
    json_t *cfg = json_object_get(req, "config");
    if (!json_is_object(cfg))
        return error_reply("reset needs \"config\" (an object)");
    long long c[N_CONFIG];
    for (int i = 0; i < N_CONFIG; i++) {
        json_t *v = json_object_get(cfg, CONFIG_NAMES[i]);
        if (!json_is_integer(v) || json_integer_value(v) < (i == C_EXCESS_LIMIT ? 0 : 1)) {
            char msg[96];
            snprintf(msg, sizeof msg, "config field %s missing or out of range",
                     CONFIG_NAMES[i]);
            return error_reply(msg);
        }
        c[i] = json_integer_value(v);
    }
    if (c[C_N_ENVS] > MAX_SIZE || c[C_N_CIDS] > MAX_SIZE)
        return error_reply("cannot run this configuration: a size above 4096");
    if (*booted)
        kernel_free(k);
    memcpy(k->c, c, sizeof c);
    k->env_alive = calloc((size_t)c[C_N_ENVS], sizeof *k->env_alive);
    k->env_cid = malloc((size_t)c[C_N_ENVS] * sizeof *k->env_cid);
    k->cid_env = malloc((size_t)c[C_N_CIDS] * sizeof *k->cid_env);
    k->entry = malloc((size_t)(c[C_N_ENVS] * NUM_VECTORS) * sizeof *k->entry);
    *booted = k->env_alive && k->env_cid && k->cid_env && k->entry;
    if (!*booted) {
        kernel_free(k);
        return error_reply("out of memory for this configuration");
    }
    for (long long e = 0; e < c[C_N_ENVS]; e++) {
        k->env_cid[e] = FREE;
        for (int v = 0; v < NUM_VECTORS; v++)
            ENTRY(k, e, v) = NO_ENTRY;
    }
    for (long long i = 0; i < c[C_N_CIDS]; i++)
        k->cid_env[i] = FREE;
    /* No optional features yet (WIRE-2): the client sends a separate `observe` after
       every call. Later: "observe", "changed" (WIRE-3), "trap" (WIRE-7), "view"
       (WIRE-8), each once you answer it. */
    return json_pack("{s:s}", "type", "ready");
}

/* WIRE-1: one reply for every request, in order */
static json_t *handle(struct kernel *k, bool *booted, const char *line, bool *bye)
{
    json_error_t err;
    json_t *req = json_loads(line, JSON_REJECT_DUPLICATES, &err);
    if (!req) {
        char msg[200];
        snprintf(msg, sizeof msg, "not JSON: %s", err.text);
        return error_reply(msg);
    }
    json_t *reply;
    const char *type = json_string_value(json_object_get(req, "type"));
    json_t *version = json_object_get(req, "exo");
    if (!json_is_object(req) || !json_is_integer(version) || !type)
        reply = error_reply("a request is an object with \"exo\" and \"type\"");
    else if (json_integer_value(version) != 1)
        reply = error_reply("unsupported protocol version (this kernel speaks 1)");
    else if (strcmp(type, "reset") == 0)
        reply = reset(k, booted, req);
    else if (strcmp(type, "goodbye") == 0) {  /* WIRE-5 */
        *bye = true;
        reply = json_pack("{s:s}", "type", "bye");
    } else if (!*booted)
        reply = error_reply("no configuration yet: send reset first");
    else if (strcmp(type, "apply") == 0)
        reply = apply(k, req);
    else if (strcmp(type, "observe") == 0)
        reply = observe(k);
    else
        reply = error_reply("unknown request type");
    json_decref(req);
    return reply;
}

int main(void)
{
    struct kernel k;
    memset(&k, 0, sizeof k);
    bool booted = false, bye = false;
    char *line = NULL;
    size_t cap = 0;
    while (!bye && getline(&line, &cap, stdin) > 0) {
        json_t *reply = handle(&k, &booted, line, &bye);
        char *text = reply ? json_dumps(reply, JSON_COMPACT) : NULL;
        json_decref(reply);
        if (!text || fputs(text, stdout) == EOF || fputc('\n', stdout) == EOF
            || fflush(stdout) == EOF) {
            free(text);
            break;
        }
        free(text);
    }
    free(line);
    if (booted)
        kernel_free(&k);
    return 0;
}
