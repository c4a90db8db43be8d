/* The wire protocol of spec/protocol.md (WIRE-1..WIRE-8) around kernel.c: JSON lines on
 * standard input and output, parsed and written with Jansson (the hex of packets and
 * programs too: Jansson builds every JSON string). */
#define _POSIX_C_SOURCE 200809L
#include "kernel.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *STATUS_NAMES[N_STATUS] = {
    "OK", "INVALID_ARGUMENT", "NO_SUCH_ENV", "ENV_EXISTS", "NOT_OWNER", "BAD_CAPABILITY",
    "NO_PERMISSION", "IN_USE", "NOT_RUNNING", "NO_ENTRY", "BUSY", "GUARANTEED",
    "NO_REQUEST", "TOO_EARLY", "BAD_PROGRAM", "OVERLAP", "NO_SPACE", "EMPTY", "UNDECIDED",
    "NO_TIME"};

static const char *OUTCOME_NAMES[] = {
    "NONE", "ACCESS", "REFILL_STLB", "REFILL_GUARANTEED", "DELIVERED", "KILLED", "TICK",
    "SLICE_END", "NEXT_SLICE", "EXCESS", "RX_DELIVERED", "RX_RING_FULL", "RX_NO_MATCH"};

/* ------------------------------------------------------------------ WIRE-6 values */

/* An integer argument: a JSON integer, or {"int": DIGITS} for one outside 64 bits.
 * Anything else is not an integer (INVALID_ARGUMENT, GEN-1). A big value's text is kept
 * by the kernel, since the state may hold it (a register, a word, a deadline). */
static bool get_int(struct kernel *k, json_t *j, xint *out)
{
    if (json_is_integer(j)) {
        *out = xsmall(json_integer_value(j));
        return true;
    }
    if (!json_is_object(j) || json_object_size(j) != 1)
        return false;
    const char *s = json_string_value(json_object_get(j, "int"));
    if (!s)
        return false;
    const char *d = s[0] == '-' ? s + 1 : s;
    if (d[0] < '1' || d[0] > '9')
        return false;
    for (const char *p = d; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno != ERANGE)
        return false;  /* fits in 64 bits: must have come as a JSON integer */
    const char *kept = kernel_keep_text(k, s);
    if (!kept)
        return false;
    out->v = v;  /* strtoll saturates: LLONG_MAX or LLONG_MIN by the sign */
    out->big = kept;
    return true;
}

/* A capability: {"cap": [page, gen, rights]} and nothing else (a look-alike is refused) */
static bool get_cap(struct kernel *k, json_t *j, cap_t *out)
{
    if (!json_is_object(j) || json_object_size(j) != 1)
        return false;
    json_t *a = json_object_get(j, "cap");
    if (!json_is_array(a) || json_array_size(a) != 3)
        return false;
    return get_int(k, json_array_get(a, 0), &out->page)
           && get_int(k, json_array_get(a, 1), &out->gen)
           && get_int(k, json_array_get(a, 2), &out->rights);
}

static json_t *int_json(xint x)
{
    if (x.big)
        return json_pack("{s:s}", "int", x.big);
    return json_integer(x.v);
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;  /* upper case too: WIRE-6 has one form, lower-case */
}

/* The bytes of {TAG: "hex"}: lower-case hex, two digits a byte, and nothing else in the
 * object. malloc'd into *out (the caller frees it); false for anything else. */
static bool get_hex(json_t *j, const char *tag, uint8_t **out, size_t *len)
{
    if (!json_is_object(j) || json_object_size(j) != 1)
        return false;
    json_t *s = json_object_get(j, tag);
    if (!json_is_string(s))
        return false;
    const char *text = json_string_value(s);
    size_t n = json_string_length(s);
    if (n % 2)
        return false;
    uint8_t *bytes = malloc(n / 2 ? n / 2 : 1);
    if (!bytes)
        return false;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hex_digit(text[2 * i]), lo = hex_digit(text[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(bytes);
            return false;
        }
        bytes[i] = (uint8_t)(hi << 4 | lo);
    }
    *out = bytes;
    *len = n / 2;
    return true;
}

/* A packet: {"hex": …} of at most MAX_PACKET bytes (NET-3, GEN-1) */
static bool get_packet(json_t *j, uint8_t **out, size_t *len)
{
    if (!get_hex(j, "hex", out, len))
        return false;
    if (*len <= EXO_MAX_PACKET)
        return true;
    free(*out);
    *out = NULL;
    return false;
}

/* A program: {"program": …}, 8 bytes per instruction, code (2), jt, jf, k (4), each
 * big-endian: any number of instructions, the verifier judges them (NET-1.3) */
static bool get_program(json_t *j, bpf_insn **out, size_t *n)
{
    uint8_t *raw;
    size_t len;
    if (!get_hex(j, "program", &raw, &len))
        return false;
    if (len % 8) {
        free(raw);
        return false;
    }
    bpf_insn *prog = malloc((len / 8 ? len / 8 : 1) * sizeof *prog);
    if (!prog) {
        free(raw);
        return false;
    }
    for (size_t i = 0; i < len / 8; i++) {
        const uint8_t *b = raw + 8 * i;
        prog[i].code = (uint16_t)(b[0] << 8 | b[1]);
        prog[i].jt = b[2];
        prog[i].jf = b[3];
        prog[i].k = (uint32_t)b[4] << 24 | (uint32_t)b[5] << 16 | (uint32_t)b[6] << 8 | b[7];
    }
    free(raw);
    *out = prog;
    *n = len / 8;
    return true;
}

/* {"hex": …} of the bytes, lower-case */
static json_t *hex_json(const uint8_t *bytes, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    char *text = malloc(2 * len + 1);
    if (!text)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        text[2 * i] = digits[bytes[i] >> 4];
        text[2 * i + 1] = digits[bytes[i] & 0xf];
    }
    json_t *v = json_pack("{s:s%}", "hex", text, 2 * len);
    free(text);
    return v;
}

/* {"program": …} of the instructions (WIRE-6) */
static json_t *program_json(const bpf_insn *prog, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char *text = malloc(16 * n + 1);
    if (!text)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        uint8_t b[8] = {(uint8_t)(prog[i].code >> 8), (uint8_t)prog[i].code, prog[i].jt,
                        prog[i].jf, (uint8_t)(prog[i].k >> 24), (uint8_t)(prog[i].k >> 16),
                        (uint8_t)(prog[i].k >> 8), (uint8_t)prog[i].k};
        for (int j = 0; j < 8; j++) {
            text[16 * i + 2 * j] = digits[b[j] >> 4];
            text[16 * i + 2 * j + 1] = digits[b[j] & 0xf];
        }
    }
    json_t *v = json_pack("{s:s%}", "program", text, 16 * n);
    free(text);
    return v;
}

/* ------------------------------------------------------------------ WIRE-3 apply */

enum kind { K_INT, K_BOOL, K_CAP };

struct opdef {
    const char *name;
    /* one letter per argument: i int, b bool, c cap, p program, k packet */
    const char *args;
    /* R_SLOT: an int, or the witness packet on OVERLAP; R_PACKET: a packet on OK */
    enum { R_INT, R_OUTCOME, R_CAP, R_SLOT, R_PACKET } result;
    /* GEN-6: T_CALLER, a system call whose first argument names its caller (the trap
       layer supplies it from cur_env); T_RUNNING, a system call that acts for the running
       environment already (yield_to, scall, acall); T_NONE, not a system call (a hardware
       event or a kernel operation: not a trap) */
    enum trap_kind { T_NONE, T_CALLER, T_RUNNING } trap;
};

static const struct opdef OPS[] = {
    {"env_create", "ii", R_INT, T_NONE},
    {"env_destroy", "i", R_INT, T_NONE},
    {"set_exception_context", "iii", R_INT, T_CALLER},
    {"set_interrupt_context", "iii", R_INT, T_CALLER},
    {"set_protected_entry", "iii", R_INT, T_CALLER},
    {"alloc", "ii", R_CAP, T_CALLER},
    {"dealloc", "ic", R_INT, T_CALLER},
    {"grant", "icii", R_CAP, T_CALLER},
    {"load", "iii", R_OUTCOME, T_NONE},
    {"store", "iii", R_OUTCOME, T_NONE},
    {"tlbwr", "iicb", R_INT, T_CALLER},
    {"tlbvadelete", "ii", R_INT, T_CALLER},
    {"cid_switch", "ii", R_INT, T_CALLER},
    {"gm_set", "iiicb", R_INT, T_CALLER},
    {"gm_clear", "ii", R_INT, T_CALLER},
    {"slice_alloc", "ii", R_INT, T_CALLER},
    {"slice_free", "ii", R_INT, T_CALLER},
    {"yield_to", "i", R_OUTCOME, T_RUNNING},
    {"timer_tick", "", R_OUTCOME, T_NONE},
    {"set_reg", "ii", R_INT, T_NONE},
    {"scall", "i", R_INT, T_RUNNING},
    {"acall", "i", R_INT, T_RUNNING},
    {"raise_exception", "i", R_OUTCOME, T_NONE},
    {"revoke_request", "iiii", R_INT, T_NONE},
    {"abort", "i", R_INT, T_NONE},
    {"filter_install", "ip", R_SLOT, T_CALLER},
    {"filter_remove", "ii", R_INT, T_CALLER},
    {"packet_arrive", "k", R_OUTCOME, T_NONE},
    {"packet_take", "i", R_PACKET, T_CALLER},
};
#define N_OPS (sizeof OPS / sizeof OPS[0])

/* The arguments of one apply, each in the slot of its position. */
struct args {
    xint i[5];
    bool b[5];
    cap_t c[5];
    bpf_insn *prog; /* malloc'd, freed after the operation */
    size_t n_prog;
    uint8_t *pkt;   /* malloc'd, freed after the operation */
    size_t n_pkt;
};

static struct result dispatch(struct kernel *k, size_t op, const struct args *a)
{
    const xint *i = a->i;
    const bool *b = a->b;
    const cap_t *c = a->c;
    switch (op) {
    case 0: return op_env_create(k, i[0], i[1]);
    case 1: return op_env_destroy(k, i[0]);
    case 2: return op_set_exception_context(k, i[0], i[1], i[2]);
    case 3: return op_set_interrupt_context(k, i[0], i[1], i[2]);
    case 4: return op_set_protected_entry(k, i[0], i[1], i[2]);
    case 5: return op_alloc(k, i[0], i[1]);
    case 6: return op_dealloc(k, i[0], c[1]);
    case 7: return op_grant(k, i[0], c[1], i[2], i[3]);
    case 8: return op_load(k, i[0], i[1], i[2]);
    case 9: return op_store(k, i[0], i[1], i[2]);
    case 10: return op_tlbwr(k, i[0], i[1], c[2], b[3]);
    case 11: return op_tlbvadelete(k, i[0], i[1]);
    case 12: return op_cid_switch(k, i[0], i[1]);
    case 13: return op_gm_set(k, i[0], i[1], i[2], c[3], b[4]);
    case 14: return op_gm_clear(k, i[0], i[1]);
    case 15: return op_slice_alloc(k, i[0], i[1]);
    case 16: return op_slice_free(k, i[0], i[1]);
    case 17: return op_yield_to(k, i[0]);
    case 18: return op_timer_tick(k);
    case 19: return op_set_reg(k, i[0], i[1]);
    case 20: return op_scall(k, i[0]);
    case 21: return op_acall(k, i[0]);
    case 22: return op_raise_exception(k, i[0]);
    case 23: return op_revoke_request(k, i[0], i[1], i[2], i[3]);
    case 24: return op_abort(k, i[0]);
    case 25: return op_filter_install(k, i[0], a->prog, a->n_prog);
    case 26: return op_filter_remove(k, i[0], i[1]);
    case 27: return op_packet_arrive(k, a->pkt, a->n_pkt);
    default: return op_packet_take(k, i[0]);
    }
}

static json_t *error_reply(const char *message)
{
    return json_pack("{s:s, s:s}", "type", "error", "message", message);
}

static json_t *result_reply(const struct opdef *d, struct result r)
{
    json_t *value;
    if (r.out_of_memory)
        return error_reply("out of memory");
    bool bytes = (d->result == R_SLOT && r.status == OVERLAP)
                 || (d->result == R_PACKET && r.status == OK);
    if (bytes) {  /* NET-1's witness, NET-4's packet */
        value = hex_json(r.bytes, r.n_bytes);
        if (!value)
            return error_reply("out of memory");
    } else if (d->result == R_OUTCOME)
        value = json_string(OUTCOME_NAMES[r.status == OK ? r.value : O_NONE]);
    else if (d->result == R_CAP)
        value = json_pack("{s:[o,o,o]}", "cap", int_json(r.cap.page), int_json(r.cap.gen),
                          int_json(r.cap.rights));
    else
        value = json_integer(r.value);
    return json_pack("{s:s, s:s, s:o}", "type", "result", "status",
                     STATUS_NAMES[r.status], "value", value);
}

/* Reads `args` into `a` by the kinds of `d`, skipping the first `skip` of them (the
   trap layer's `env`, which it fills in itself): each into the slot of its position. False
   when the count or a kind is wrong (GEN-1: INVALID_ARGUMENT, never an error). */
static bool read_args(struct kernel *k, const struct opdef *d, size_t skip, json_t *args,
                      struct args *a)
{
    size_t n = strlen(d->args);
    if (json_array_size(args) != n - skip)  /* GEN-1: wrong count is INVALID_ARGUMENT */
        return false;
    for (size_t i = skip; i < n; i++) {
        json_t *v = json_array_get(args, i - skip);
        bool ok;
        switch (d->args[i]) {
        case 'i': ok = get_int(k, v, &a->i[i]); break;
        case 'b':
            ok = json_is_boolean(v);
            a->b[i] = json_is_true(v);
            break;
        case 'c': ok = get_cap(k, v, &a->c[i]); break;
        case 'p': ok = get_program(v, &a->prog, &a->n_prog); break;
        default: ok = get_packet(v, &a->pkt, &a->n_pkt); break;
        }
        if (!ok)
            return false;
    }
    return true;
}

/* A failure before the operation runs: `status` with the operation's null value (GEN-1:
   0, the null capability for alloc and grant, "NONE" for an outcome) */
static struct result refused(enum status status)
{
    struct result r;
    memset(&r, 0, sizeof r);
    r.status = status;
    r.cap.page = r.cap.gen = xsmall(FREE);
    return r;
}

/* The operation `req` names (its "op" and "args"), or an error reply in *reply */
static const struct opdef *named_op(json_t *req, const char *what, json_t **reply)
{
    const char *name = json_string_value(json_object_get(req, "op"));
    if (!name || !json_is_array(json_object_get(req, "args"))) {
        char msg[96];
        snprintf(msg, sizeof msg, "%s needs \"op\" (a string) and \"args\" (a list)", what);
        *reply = error_reply(msg);
        return NULL;
    }
    for (size_t op = 0; op < N_OPS; op++)
        if (strcmp(OPS[op].name, name) == 0)
            return &OPS[op];
    *reply = error_reply("unknown operation");
    return NULL;
}

static json_t *apply(struct kernel *k, json_t *req)
{
    json_t *reply;
    const struct opdef *d = named_op(req, "apply", &reply);
    if (!d)
        return reply;
    struct args a;
    memset(&a, 0, sizeof a);
    struct result r = read_args(k, d, 0, json_object_get(req, "args"), &a)
                      ? dispatch(k, (size_t)(d - OPS), &a) : refused(INVALID_ARGUMENT);
    reply = result_reply(d, r);
    free(a.prog);
    free(a.pkt);
    return reply;
}

/* ------------------------------------------------------------------ WIRE-7 trap */

/* GEN-6, in its order: a system call's name (else INVALID_ARGUMENT, 0), its arguments
   without `env` (else INVALID_ARGUMENT, null), a running environment (else NOT_RUNNING,
   null), then the system call for cur_env with its own checks. The reply is apply's. */
static json_t *trap(struct kernel *k, json_t *req)
{
    json_t *reply;
    const struct opdef *d = named_op(req, "trap", &reply);
    if (!d)
        return reply;
    struct args a;
    memset(&a, 0, sizeof a);
    struct result r;
    size_t skip = d->trap == T_CALLER ? 1 : 0;  /* the caller's `env` */
    if (d->trap == T_NONE)
        r = refused(INVALID_ARGUMENT);
    else if (!read_args(k, d, skip, json_object_get(req, "args"), &a))
        r = refused(INVALID_ARGUMENT);
    else if (k->cur_env == FREE)
        r = refused(NOT_RUNNING);  /* the CPU idles: there is no caller */
    else {
        if (skip)
            a.i[0] = xsmall(k->cur_env);
        r = dispatch(k, (size_t)(d - OPS), &a);
    }
    reply = result_reply(d, r);
    free(a.prog);
    free(a.pkt);
    return reply;
}

/* ------------------------------------------------------------------ WIRE-4 observe */

static void row1(json_t *rows, int64_t i, json_t *v)
{
    json_array_append_new(rows, json_pack("[I,o]", (json_int_t)i, v));
}

static void row2(json_t *rows, int64_t i, int64_t j, json_t *v)
{
    json_array_append_new(rows, json_pack("[I,I,o]", (json_int_t)i, (json_int_t)j, v));
}

static void put_bindings(json_t *f, const char *prefix, const struct bindings *b)
{
    static const char *names[] = {"valid", "cid", "vpage", "page", "write"};
    json_t *rows[5];
    for (int n = 0; n < 5; n++)
        rows[n] = json_array();
    for (int64_t i = 0; i < b->size; i++) {
        if (!b->valid[i])
            continue;  /* GEN-5: an invalid slot's tags carry no meaning */
        row1(rows[0], i, json_true());
        row1(rows[1], i, json_integer(b->cid[i]));
        row1(rows[2], i, json_integer(b->vpage[i]));
        row1(rows[3], i, json_integer(b->page[i]));
        row1(rows[4], i, json_boolean(b->write[i]));
    }
    char key[32];
    for (int n = 0; n < 5; n++) {
        snprintf(key, sizeof key, "%s_%s", prefix, names[n]);
        json_object_set_new(f, key, rows[n]);
    }
}

/* Whom fields_of observes for: the kernel itself, every field (GEN-5) */
#define ALL (-1)

/* GEN-5 in its sparse form: every entry that differs from boot (INV-0). For an
   environment slot `as` (not ALL), only the entries in its view (GEN-7): the public part
   (allocation, the clock, who runs, the translation caches), its own rows, the words of
   the pages it holds READ on, and the processor while it runs. Nothing else is sent. */
static json_t *fields_of(const struct kernel *k, int64_t as)
{
    const struct config *c = &k->c;
    const bool all = as == ALL;
    const bool cpu = all || k->cur_env == as;  /* GEN-7: the processor is the runner's */
    json_t *f = json_object();
    json_object_set_new(f, "cur_env", json_integer(k->cur_env));
    json_object_set_new(f, "hw_cid", json_integer(k->hw_cid));
    if (cpu) {
        json_object_set_new(f, "pc", json_integer(k->pc));
        json_object_set_new(f, "epc", json_integer(k->epc));
        json_object_set_new(f, "cause", json_integer(k->cause));
        json_object_set_new(f, "badvpage", json_integer(k->badvpage));
    }
    json_object_set_new(f, "now", json_integer(k->now));
    json_object_set_new(f, "cur_slice", json_integer(k->cur_slice));
    json_object_set_new(f, "slice_left", json_integer(k->slice_left));

    if (all)  /* GEN-7: the kernel's own count, in nobody's view */
        json_object_set_new(f, "kernel_drops", json_integer(k->kernel_drops));

    json_t *alive = json_array(), *env_cid = json_array(), *excess = json_array(),
           *pending = json_array(), *kind = json_array(), *target = json_array(),
           *deadline = json_array(), *repo_exc = json_array(), *entry = json_array(),
           *rights = json_array(), *repo_page = json_array(), *repo_slice = json_array(),
           *gm_valid = json_array(), *gm_vpage = json_array(), *gm_page = json_array(),
           *gm_write = json_array(), *repo_filter = json_array(), *rx_head = json_array(),
           *rx_count = json_array(), *rx_drops = json_array(), *rx_pkt = json_array();
    for (int64_t e = 0; e < c->n_envs; e++) {
        if (k->env_alive[e])
            row1(alive, e, json_true());
        if (k->env_cid[e] != FREE)
            row1(env_cid, e, json_integer(k->env_cid[e]));
        if (!all && e != as)
            continue;  /* GEN-7: the rest of row e is e's own */
        if (k->excess[e])
            row1(excess, e, json_integer(k->excess[e]));
        if (k->rev_pending[e]) {  /* GEN-5: kind, target, deadline mean nothing else */
            row1(pending, e, json_true());
            row1(kind, e, json_integer(k->rev_kind[e]));
            row1(target, e, json_integer(k->rev_target[e]));
            row1(deadline, e, int_json(k->rev_deadline[e]));
        }
        if (k->repo_exc[e])
            row1(repo_exc, e, json_true());
        for (int v = 0; v < NUM_VECTORS; v++)
            if (k->entry[e * NUM_VECTORS + v] != NO_ENTRY)
                row2(entry, e, v, json_integer(k->entry[e * NUM_VECTORS + v]));
        for (int64_t p = 0; p < c->n_pages; p++) {
            if (k->rights[e * c->n_pages + p])
                row2(rights, e, p, json_integer(k->rights[e * c->n_pages + p]));
            if (k->repo_page[e * c->n_pages + p])
                row2(repo_page, e, p, json_true());
        }
        for (int64_t q = 0; q < c->n_slices; q++)
            if (k->repo_slice[e * c->n_slices + q])
                row2(repo_slice, e, q, json_true());
        for (int64_t x = 0; x < c->n_filters; x++)
            if (k->repo_filter[e * c->n_filters + x])
                row2(repo_filter, e, x, json_true());
        if (k->rx_head[e])
            row1(rx_head, e, json_integer(k->rx_head[e]));
        if (k->rx_count[e])
            row1(rx_count, e, json_integer(k->rx_count[e]));
        if (k->rx_drops[e])
            row1(rx_drops, e, json_integer(k->rx_drops[e]));
        for (int64_t i = 0; i < k->rx_count[e]; i++) {  /* GEN-5: the waiting packets */
            int64_t r = (k->rx_head[e] + i) % c->ring_size, x = e * c->ring_size + r;
            row2(rx_pkt, e, r, hex_json(k->rx_pkt[x], k->rx_len[x]));
        }
        for (int64_t g = 0; g < c->n_guaranteed; g++) {
            int64_t x = e * c->n_guaranteed + g;
            if (!k->gm_valid[x])
                continue;
            row2(gm_valid, e, g, json_true());
            row2(gm_vpage, e, g, json_integer(k->gm_vpage[x]));
            row2(gm_page, e, g, json_integer(k->gm_page[x]));
            row2(gm_write, e, g, json_boolean(k->gm_write[x]));
        }
    }
    json_object_set_new(f, "env_alive", alive);
    json_object_set_new(f, "env_cid", env_cid);
    json_object_set_new(f, "excess", excess);
    json_object_set_new(f, "rev_pending", pending);
    json_object_set_new(f, "rev_kind", kind);
    json_object_set_new(f, "rev_target", target);
    json_object_set_new(f, "rev_deadline", deadline);
    json_object_set_new(f, "repo_exc", repo_exc);
    json_object_set_new(f, "entry", entry);
    json_object_set_new(f, "rights", rights);
    json_object_set_new(f, "repo_page", repo_page);
    json_object_set_new(f, "repo_slice", repo_slice);
    json_object_set_new(f, "gm_valid", gm_valid);
    json_object_set_new(f, "gm_vpage", gm_vpage);
    json_object_set_new(f, "gm_page", gm_page);
    json_object_set_new(f, "gm_write", gm_write);
    json_object_set_new(f, "repo_filter", repo_filter);
    json_object_set_new(f, "rx_head", rx_head);
    json_object_set_new(f, "rx_count", rx_count);
    json_object_set_new(f, "rx_drops", rx_drops);
    json_object_set_new(f, "rx_pkt", rx_pkt);

    json_t *filter_valid = json_array(), *filter_owner = json_array(),
           *filter_code = json_array();
    for (int64_t x = 0; x < c->n_filters; x++) {
        if (!k->filter_valid[x])
            continue;  /* GEN-5: a free slot's owner and program carry no meaning */
        row1(filter_valid, x, json_true());
        row1(filter_owner, x, json_integer(k->filter_owner[x]));
        if (all || k->filter_owner[x] == as)  /* GEN-7: a program is its owner's */
            row1(filter_code, x, program_json(k->filter_code[x], k->filter_len[x]));
    }
    json_object_set_new(f, "filter_valid", filter_valid);
    json_object_set_new(f, "filter_owner", filter_owner);
    json_object_set_new(f, "filter_code", filter_code);

    json_t *cid_env = json_array();
    for (int64_t i = 0; i < c->n_cids; i++)
        if (k->cid_env[i] != FREE)
            row1(cid_env, i, json_integer(k->cid_env[i]));
    json_object_set_new(f, "cid_env", cid_env);

    json_t *owner = json_array(), *gen = json_array(), *word = json_array();
    for (int64_t p = 0; p < c->n_pages; p++) {
        if (k->owner[p] != FREE)
            row1(owner, p, json_integer(k->owner[p]));
        if (k->gen[p])
            row1(gen, p, json_integer(k->gen[p]));
        if (all ? k->owner[p] == FREE : k->rights[as * c->n_pages + p] < R_READ)
            continue;  /* GEN-5: a free page's words carry no meaning; GEN-7: nor are
                          the words of a page `as` cannot read in its view */
        for (int64_t w = 0; w < c->page_words; w++) {
            xint x = k->word[p * c->page_words + w];
            if (x.big || x.v)
                row2(word, p, w, int_json(x));
        }
    }
    json_object_set_new(f, "owner", owner);
    json_object_set_new(f, "gen", gen);
    json_object_set_new(f, "word", word);

    put_bindings(f, "tlb", &k->tlb);
    put_bindings(f, "stlb", &k->stlb);

    if (cpu) {
        json_t *regs = json_array();
        for (int64_t r = 0; r < c->n_regs; r++)
            if (k->regs[r].big || k->regs[r].v)
                row1(regs, r, int_json(k->regs[r]));
        json_object_set_new(f, "regs", regs);
    }
    json_t *slice_owner = json_array();
    for (int64_t q = 0; q < c->n_slices; q++)
        if (k->slice_owner[q] != FREE)
            row1(slice_owner, q, json_integer(k->slice_owner[q]));
    json_object_set_new(f, "slice_owner", slice_owner);
    return f;
}

/* WIRE-4: the state reply */
static json_t *observe(const struct kernel *k)
{
    return json_pack("{s:s, s:o}", "type", "state", "fields", fields_of(k, ALL));
}

/* ------------------------------------------------------------------ WIRE-8 observe_as */

/* GEN-7: environment "env"'s view, or "fields": null when "env" is not a JSON integer
   naming an environment slot (a boolean, a float, an {"int": …} all fall outside).
   Changes nothing, not even the fields WIRE-3's "changed" compares with. */
static json_t *observe_as(const struct kernel *k, json_t *req)
{
    json_t *env = json_object_get(req, "env");
    if (!env)
        return error_reply("observe_as needs \"env\"");
    json_t *fields = json_null();
    if (json_is_integer(env) && json_integer_value(env) >= 0
        && json_integer_value(env) < k->c.n_envs)
        fields = fields_of(k, json_integer_value(env));
    return json_pack("{s:s, s:o}", "type", "view", "fields", fields);
}

/* WIRE-3 "changed": the fields sent last since the reset (NULL: none yet) */
static json_t *last_fields;

/* The fields of `state` (a state reply, taken) to send: all of them, or with `changed`
   (and something sent since the reset) only those whose value differs from the one sent
   last; either way they become the fields sent last. */
static json_t *fields_to_send(json_t *state, bool changed)
{
    json_t *all = json_incref(json_object_get(state, "fields"));
    json_decref(state);
    json_t *out = all;
    if (changed && last_fields) {
        out = json_object();
        const char *name;
        json_t *v;
        json_object_foreach(all, name, v)
            if (!json_equal(v, json_object_get(last_fields, name)))
                json_object_set(out, name, v);
    } else {
        json_incref(out);
    }
    json_decref(last_fields);
    last_fields = all;
    return out;
}

/* ------------------------------------------------------------------ WIRE-2 reset */

static json_t *reset(struct kernel *k, bool *booted, json_t *req)
{
    static const char *names[] = {"n_envs", "n_pages", "page_words", "tlb_size",
        "stlb_size", "n_cids", "n_slices", "n_guaranteed", "n_regs", "slice_ticks",
        "excess_limit", "addr_limit", "n_filters", "ring_size"};
    json_t *cfg = json_object_get(req, "config");
    if (!json_is_object(cfg))
        return error_reply("reset needs \"config\" (an object)");
    struct config c;
    int64_t *f = &c.n_envs;
    for (int i = 0; i < 14; i++) {
        json_t *v = json_object_get(cfg, names[i]);
        if (!json_is_integer(v)) {
            char msg[96];
            snprintf(msg, sizeof msg, "config field %s missing or not an integer", names[i]);
            return error_reply(msg);
        }
        f[i] = json_integer_value(v);
    }
    const char *problem = kernel_config_problem(&c);
    if (problem) {
        char msg[128];
        snprintf(msg, sizeof msg, "cannot run this configuration: %s", problem);
        return error_reply(msg);
    }
    if (*booted)
        kernel_free(k);
    json_decref(last_fields);  /* WIRE-3: the first fields after a reset are complete */
    last_fields = NULL;
    *booted = kernel_init(k, &c);
    if (!*booted)
        return error_reply("out of memory for this configuration");
    /* WIRE-2: this kernel returns the state with a result when asked, and only the
       fields that changed when asked (WIRE-3); it answers traps (WIRE-7) and views
       (WIRE-8) */
    return json_pack("{s:s,s:[s,s,s,s]}", "type", "ready", "features", "observe", "changed",
                     "trap", "view");
}

/* ------------------------------------------------------------------ WIRE-1 the loop */

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
    json_t *version = json_object_get(req, "exo");
    const char *type = json_string_value(json_object_get(req, "type"));
    if (!json_is_object(req) || !json_is_integer(version) || !type)
        reply = error_reply("a request is an object with \"exo\" and \"type\"");
    else if (json_integer_value(version) != 1)
        reply = error_reply("unsupported protocol version (this kernel speaks 1)");
    else if (strcmp(type, "reset") == 0)
        reply = reset(k, booted, req);
    else if (strcmp(type, "goodbye") == 0) {
        *bye = true;
        reply = json_pack("{s:s}", "type", "bye");
    } else if (!*booted)
        reply = error_reply("no configuration yet: send reset first");
    else if (strcmp(type, "apply") == 0 || strcmp(type, "trap") == 0) {
        /* WIRE-7: a trap replies as an apply does, the state included */
        reply = strcmp(type, "apply") == 0 ? apply(k, req) : trap(k, req);
        /* WIRE-3: "observe": true asks for the state after the call with the result */
        const char *kind = json_string_value(json_object_get(reply, "type"));
        if (json_is_true(json_object_get(req, "observe")) && kind
            && strcmp(kind, "result") == 0)
            json_object_set_new(reply, "fields", fields_to_send(
                observe(k), json_is_true(json_object_get(req, "changed"))));
    }
    else if (strcmp(type, "observe") == 0)
        reply = json_pack("{s:s, s:o}", "type", "state", "fields",
                          fields_to_send(observe(k), false));
    else if (strcmp(type, "observe_as") == 0)
        reply = observe_as(k, req);
    else
        reply = error_reply("unknown request type");
    json_decref(req);
    return reply;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--bench") == 0)
        return bench_main(argc - 1, argv + 1);
    if (argc > 1) {
        fprintf(stderr, "usage: %s            speak the Exo wire protocol on stdin/stdout\n"
                        "       %s --bench    time loads, a Dealloc, the demux\n",
                argv[0], argv[0]);
        return 2;
    }
    struct kernel k;
    memset(&k, 0, sizeof k);
    bool booted = false, bye = false;
    char *line = NULL;
    size_t cap = 0;
    while (!bye && getline(&line, &cap, stdin) > 0) {
        json_t *reply = handle(&k, &booted, line, &bye);
        char *text = json_dumps(reply, JSON_COMPACT);
        json_decref(reply);
        if (!text || fputs(text, stdout) == EOF || fputc('\n', stdout) == EOF
            || fflush(stdout) == EOF) {
            free(text);
            break;
        }
        free(text);
    }
    free(line);
    json_decref(last_fields);
    if (booted)
        kernel_free(&k);
    return 0;
}
