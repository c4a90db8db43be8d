/* Classic BPF as spec/filters.md defines it: the verifier (FLT-2, FLT-3) and the
 * reference semantics (FLT-4). The Python reference is exo.model.filters (verify,
 * VALID_CODES, _scratch_reads, run, evaluate); tests/test_c_bpf.py compares the two.
 *
 * Built with -DEXO_BPF_PLANTED, bpf_run differs from FLT-4 in one place (an indirect
 * load's offset wraps at 2^32, as Linux computes it): the test's proof that its
 * comparison can fail.
 */
#include "bpf.h"

#include <stdbool.h>

/* instruction classes, sizes, modes, operations (linux/filter.h) */
enum { LD = 0x00, LDX = 0x01, ST = 0x02, STX = 0x03, ALU = 0x04, JMP = 0x05, RET = 0x06,
       MISC = 0x07 };
enum { SZ_W = 0x00, SZ_H = 0x08, SZ_B = 0x10 };
enum { M_IMM = 0x00, M_ABS = 0x20, M_IND = 0x40, M_MEM = 0x60, M_LEN = 0x80, M_MSH = 0xa0 };
enum { OP_ADD = 0x00, OP_SUB = 0x10, OP_MUL = 0x20, OP_DIV = 0x30, OP_OR = 0x40,
       OP_AND = 0x50, OP_LSH = 0x60, OP_RSH = 0x70, OP_NEG = 0x80, OP_MOD = 0x90,
       OP_XOR = 0xa0 };
enum { J_JA = 0x00, J_JEQ = 0x10, J_JGT = 0x20, J_JGE = 0x30, J_JSET = 0x40 };
enum { SRC_K = 0x00, SRC_X = 0x08 };
enum { RET_K = RET | 0x00, RET_A = RET | 0x10, TAX = MISC | 0x00, TXA = MISC | 0x80 };

#define MEMWORDS 16 /* BPF_MEMWORDS */
#define ALL_WORDS 0xffffu

static int cls(uint16_t code) { return code & 0x07; }

/* FLT-2.2: the opcodes Linux's classic verifier accepts (VALID_CODES) */
static bool valid_code(uint16_t code)
{
    switch (code) {
    /* ALU: ADD SUB MUL DIV OR AND LSH RSH MOD XOR with K or X, and NEG */
    case ALU | OP_ADD | SRC_K: case ALU | OP_ADD | SRC_X:
    case ALU | OP_SUB | SRC_K: case ALU | OP_SUB | SRC_X:
    case ALU | OP_MUL | SRC_K: case ALU | OP_MUL | SRC_X:
    case ALU | OP_DIV | SRC_K: case ALU | OP_DIV | SRC_X:
    case ALU | OP_OR | SRC_K: case ALU | OP_OR | SRC_X:
    case ALU | OP_AND | SRC_K: case ALU | OP_AND | SRC_X:
    case ALU | OP_LSH | SRC_K: case ALU | OP_LSH | SRC_X:
    case ALU | OP_RSH | SRC_K: case ALU | OP_RSH | SRC_X:
    case ALU | OP_MOD | SRC_K: case ALU | OP_MOD | SRC_X:
    case ALU | OP_XOR | SRC_K: case ALU | OP_XOR | SRC_X:
    case ALU | OP_NEG:
    /* LD */
    case LD | SZ_W | M_ABS: case LD | SZ_H | M_ABS: case LD | SZ_B | M_ABS:
    case LD | SZ_W | M_LEN:
    case LD | SZ_W | M_IND: case LD | SZ_H | M_IND: case LD | SZ_B | M_IND:
    case LD | M_IMM: case LD | M_MEM:
    /* LDX, stores, register moves, returns */
    case LDX | SZ_W | M_LEN: case LDX | SZ_B | M_MSH: case LDX | M_IMM: case LDX | M_MEM:
    case ST: case STX: case TAX: case TXA: case RET_K: case RET_A:
    /* jumps */
    case JMP | J_JA:
    case JMP | J_JEQ | SRC_K: case JMP | J_JEQ | SRC_X:
    case JMP | J_JGT | SRC_K: case JMP | J_JGT | SRC_X:
    case JMP | J_JGE | SRC_K: case JMP | J_JGE | SRC_X:
    case JMP | J_JSET | SRC_K: case JMP | J_JSET | SRC_X:
        return true;
    default:
        return false;
    }
}

/* FLT-2.6 (jump_ok): a jump at pc stays inside a program of n instructions */
static bool jump_ok(const bpf_insn *in, int64_t pc, int64_t n)
{
    if (cls(in->code) != JMP)
        return true;
    if (in->code == (JMP | J_JA))
        return (int64_t)in->k < n - pc - 1;
    return pc + in->jt + 1 < n && pc + in->jf + 1 < n;
}

/* FLT-2.3..FLT-2.6, FLT-3.1, FLT-3.2 for one instruction whose opcode is valid */
static bool insn_ok(const bpf_insn *in, int64_t pc, int64_t n)
{
    uint16_t code = in->code;
    int c = cls(code), op = code & 0xf0, mode = code & 0xe0;
    bool by_k = (code & SRC_X) == SRC_K;
    if (c == ALU && (op == OP_DIV || op == OP_MOD) && by_k && in->k == 0)
        return false;                                           /* FLT-2.3 */
    if (c == ALU && (op == OP_LSH || op == OP_RSH) && by_k && in->k >= 32)
        return false;                                           /* FLT-2.4 */
    if ((code == (LD | M_MEM) || code == (LDX | M_MEM) || code == ST || code == STX)
        && in->k >= MEMWORDS)
        return false;                                           /* FLT-2.5 */
    if (!jump_ok(in, pc, n))
        return false;                                           /* FLT-2.6 */
    if (((c == LD && (mode == M_ABS || mode == M_IND)) || code == (LDX | SZ_B | M_MSH))
        && in->k >= UINT32_C(0x80000000))
        return false;                                           /* FLT-3.1 */
    if (c == ALU && (op == OP_LSH || op == OP_RSH) && !by_k)
        return false;                                           /* FLT-3.2 */
    return true;
}

/* FLT-2.8 (_scratch_reads): Linux's linear pass check_load_and_stores. The set of
 * written words flows to the next instruction (also past a return and through code no
 * path reaches), is intersected with what every jump into an instruction carries, and
 * is reset to "everything" after a jump. Runs only on programs whose jumps are in range. */
static bool scratch_reads_ok(const bpf_insn *prog, size_t n)
{
    uint16_t masks[BPF_MAX_INSNS];
    for (size_t i = 0; i < n; i++)
        masks[i] = ALL_WORDS;
    uint16_t valid = 0;
    for (size_t pc = 0; pc < n; pc++) {
        const bpf_insn *in = &prog[pc];
        valid &= masks[pc];
        if (in->code == ST || in->code == STX) {
            valid |= (uint16_t)(1u << in->k);
        } else if (in->code == (LD | M_MEM) || in->code == (LDX | M_MEM)) {
            if (!(valid >> in->k & 1u))
                return false;
        } else if (in->code == (JMP | J_JA)) {
            masks[pc + 1 + in->k] &= valid;
            valid = ALL_WORDS;
        } else if (cls(in->code) == JMP) {
            masks[pc + 1 + in->jt] &= valid;
            masks[pc + 1 + in->jf] &= valid;
            valid = ALL_WORDS;
        }
    }
    return true;
}

/* FLT-2, FLT-3: verify */
int bpf_verify(const bpf_insn *prog, size_t n)
{
    if (n == 0 || n > BPF_MAX_INSNS)                            /* FLT-2.1 */
        return 0;
    for (size_t pc = 0; pc < n; pc++)
        if (!valid_code(prog[pc].code) || !insn_ok(&prog[pc], (int64_t)pc, (int64_t)n))
            return 0;                                           /* FLT-2.2..FLT-3.2 */
    if (prog[n - 1].code != RET_K && prog[n - 1].code != RET_A)
        return 0;                                               /* FLT-2.7 */
    return scratch_reads_ok(prog, n) ? 1 : 0;                   /* FLT-2.8 */
}

/* FLT-4: size bytes at off, big-endian; false when off + size > len (no wrap-around) */
static bool load(const uint8_t *pkt, size_t len, uint64_t off, unsigned size, uint32_t *out)
{
    if (off + size > (uint64_t)len)
        return false;
    uint32_t v = 0;
    for (unsigned j = 0; j < size; j++)
        v = v << 8 | pkt[off + j];
    *out = v;
    return true;
}

static unsigned size_of(uint16_t code)
{
    switch (code & 0x18) {
    case SZ_H: return 2;
    case SZ_B: return 1;
    default: return 4;
    }
}

/* FLT-4: run, evaluate (libpcap's semantics). The program passed bpf_verify, so every
 * jump goes forward and stays inside it, every scratch read has a write before it and no
 * division is by a constant 0: one pass from pc 0 ends at a return or an abort. */
uint32_t bpf_run(const bpf_insn *prog, size_t n, const uint8_t *pkt, size_t len)
{
    uint32_t a = 0, x = 0, mem[MEMWORDS] = {0};
    size_t pc = 0;
    while (pc < n) {
        const bpf_insn *in = &prog[pc];
        uint16_t code = in->code;
        uint32_t k = in->k;
        int c = cls(code);
        pc += 1;
        switch (c) {
        case RET:
            return code == RET_K ? k : a;
        case LD:
        case LDX: {
            int mode = code & 0xe0;
            if (mode == M_ABS || mode == M_IND || mode == M_MSH) {
                uint64_t off = k;
                if (mode == M_IND) {
#ifdef EXO_BPF_PLANTED
                    off = (uint32_t)(x + k);  /* planted: Linux's 32-bit sum */
#else
                    off = (uint64_t)x + k;    /* X + k without wrap-around */
#endif
                }
                uint32_t v;
                if (!load(pkt, len, off, size_of(code), &v))
                    return 0;                 /* out of bounds: the whole filter is 0 */
                if (mode == M_MSH)
                    x = (v & 0xf) << 2;
                else
                    a = v;
                break;
            }
            uint32_t v = mode == M_IMM ? k : mode == M_LEN ? (uint32_t)len : mem[k & 0xf];
            if (c == LD)
                a = v;
            else
                x = v;
            break;
        }
        case ST:
            mem[k & 0xf] = a;
            break;
        case STX:
            mem[k & 0xf] = x;
            break;
        case MISC:
            if (code == TAX)
                x = a;
            else
                a = x;
            break;
        case ALU: {
            int op = code & 0xf0;
            uint32_t src = code & SRC_X ? x : k;
            switch (op) {
            case OP_ADD: a += src; break;
            case OP_SUB: a -= src; break;
            case OP_MUL: a *= src; break;
            case OP_DIV:
                if (src == 0)
                    return 0;                 /* division by X == 0 */
                a /= src;
                break;
            case OP_MOD:
                if (src == 0)
                    return 0;
                a %= src;
                break;
            case OP_AND: a &= src; break;
            case OP_OR: a |= src; break;
            case OP_XOR: a ^= src; break;
            case OP_LSH: a = k < 32 ? a << k : 0; break;  /* constant shifts (FLT-3.2) */
            case OP_RSH: a = k < 32 ? a >> k : 0; break;
            default: a = (uint32_t)0 - a; break;          /* NEG */
            }
            break;
        }
        default: { /* JMP */
            if (code == (JMP | J_JA)) {
                pc += k;
                break;
            }
            uint32_t src = code & SRC_X ? x : k;
            bool taken;
            switch (code & 0xf0) {
            case J_JEQ: taken = a == src; break;
            case J_JGT: taken = a > src; break;
            case J_JGE: taken = a >= src; break;
            default: taken = (a & src) != 0; break;       /* JSET */
            }
            pc += taken ? in->jt : in->jf;
            break;
        }
        }
    }
    return 0; /* not reached for a verified program (FLT-5) */
}
