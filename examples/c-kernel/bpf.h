/* exo-c-kernel: classic BPF as Exo's filter clauses define it (../../spec/filters.md).
 *
 * FLT-1 gives the instruction layout, FLT-2 and FLT-3 the verifier, FLT-4 the reference
 * semantics. bpf.c implements them; dfilter.c (FLT-9) reads verified programs.
 */
#ifndef EXO_BPF_H
#define EXO_BPF_H

#include <stddef.h>
#include <stdint.h>

/* FLT-1: one instruction, fields in their ranges (code u16, jt and jf u8, k u32). */
typedef struct {
    uint16_t code;
    uint8_t jt;
    uint8_t jf;
    uint32_t k;
} bpf_insn;

#define BPF_MAX_INSNS 4096   /* FLT-2.1: BPF_MAXINSNS */
#define EXO_MAX_PACKET 65535 /* GEN-1, NET-3: MAX_PACKET */

/* FLT-2 and FLT-3: 1 when the verifier accepts the program, 0 when it refuses it. */
int bpf_verify(const bpf_insn *prog, size_t n);

/* FLT-4: the program's return value on the packet (0 when a load reads past the end,
 * as the reference interpreter says). Only for programs bpf_verify accepts. */
uint32_t bpf_run(const bpf_insn *prog, size_t n, const uint8_t *pkt, size_t len);

#endif
