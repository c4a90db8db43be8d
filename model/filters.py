"""Downloaded packet filters: classic BPF, its verifier and its reference interpreter
(spec/filters.md).

Paper: "Secure bindings" (downloading code into the kernel: packet filters). The language
is classic BPF as tcpdump/libpcap emit it (``struct sock_filter {u16 code; u8 jt; u8 jf;
u32 k}``). Three readers (``tcpdump -ddd`` text, ``tcpdump -dd`` C text, raw bytes), the
verifier (Linux ``bpf_check_classic`` rules plus FLT-3's stricter ones), and one
interpreter with libpcap's semantics written over the logic layer: on Python values it
runs a packet, on Z3 terms it gives the filter's verdict on *every* packet, which is how
overlap (FLT-6) and equivalence (FLT-7) are decided.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import z3

from exo.logic import (
    And,
    BoolV,
    If,
    Implies,
    Not,
    Or,
    wadd,
    wconst,
    wdiv,
    wge,
    wgt,
    wmod,
    wmul,
    wneg,
    wshl,
    wshr,
    wsub,
)

Insn = tuple[int, int, int, int]
"""One instruction: (code, jt, jf, k)."""
Program = tuple[Insn, ...]

MAX_INSNS = 4096  # BPF_MAXINSNS
PC_MODULUS = 1 << 32  # the program counter is a 32-bit machine word
MEMWORDS = 16  # BPF_MEMWORDS
MAX_PACKET = 65535
"""Longest packet the symbolic interpreter considers (FLT-6)."""

# instruction classes, sizes, modes, operations (linux/filter.h)
LD, LDX, ST, STX, ALU, JMP, RET, MISC = range(8)
W, H, B = 0x00, 0x08, 0x10
IMM, ABS, IND, MEM, LEN, MSH = 0x00, 0x20, 0x40, 0x60, 0x80, 0xA0
ADD, SUB, MUL, DIV, OR_, AND_, LSH, RSH, NEG, MOD, XOR = (
    0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xA0)
JA, JEQ, JGT, JGE, JSET = 0x00, 0x10, 0x20, 0x30, 0x40
K, X = 0x00, 0x08
RET_K, RET_A = RET | 0x00, RET | 0x10
TAX, TXA = MISC | 0x00, MISC | 0x80

ALU_OPS = (ADD, SUB, MUL, DIV, OR_, AND_, LSH, RSH, MOD, XOR)
JMP_CONDS = (JEQ, JGT, JGE, JSET)

VALID_CODES: frozenset[int] = frozenset(
    [ALU | op | src for op in ALU_OPS for src in (K, X)] + [ALU | NEG]
    + [LD | W | ABS, LD | H | ABS, LD | B | ABS, LD | W | LEN, LD | W | IND, LD | H | IND,
       LD | B | IND, LD | IMM, LD | MEM]
    + [LDX | W | LEN, LDX | B | MSH, LDX | IMM, LDX | MEM, ST, STX, TAX, TXA, RET_K, RET_A]
    + [JMP | JA] + [JMP | c | src for c in JMP_CONDS for src in (K, X)]
)
"""FLT-2: the opcodes Linux's classic verifier accepts."""

SIZE = {W: 4, H: 2, B: 1}


# --------------------------------------------------------------------------- reading (FLT-1)


class FilterSyntaxError(ValueError):
    """A program text or byte string that is not a cBPF program: says where and what."""

    def __init__(self, where: str, what: str) -> None:
        super().__init__(f"{where}: {what}")
        self.where, self.what = where, what


def _field(text: str, where: str, lo: int, hi: int, name: str) -> int:
    try:
        v = int(text, 0)
    except ValueError:
        raise FilterSyntaxError(where, f"{name} {_shown(text)} is not a number") from None
    if not lo <= v <= hi:
        raise FilterSyntaxError(where, f"{name} {v} out of range {lo}..{hi}")
    return v


def _insn(parts: list[str], where: str) -> Insn:
    if len(parts) != 4:
        raise FilterSyntaxError(where, f"expected 4 fields (code jt jf k), found {len(parts)}")
    return (_field(parts[0], where, 0, 0xFFFF, "code"), _field(parts[1], where, 0, 0xFF, "jt"),
            _field(parts[2], where, 0, 0xFF, "jf"), _field(parts[3], where, 0, 0xFFFFFFFF, "k"))


def parse_ddd(text: str, name: str = "<text>") -> Program:
    """FLT-1: ``tcpdump -ddd`` output: a count line, then ``code jt jf k`` in decimal."""
    lines = [(i, ln.strip()) for i, ln in enumerate(text.splitlines(), 1) if ln.strip()]
    if not lines:
        raise FilterSyntaxError(name, "empty program text")
    first_no, first = lines[0]
    count = _field(first, f"{name}:{first_no}", 0, 1 << 20, "instruction count")
    body = lines[1:]
    if count != len(body):
        raise FilterSyntaxError(f"{name}:{first_no}",
                                f"count says {count} instructions, {len(body)} follow")
    return tuple(_insn(ln.split(), f"{name}:{no}") for no, ln in body)


def _dd_fields(line: str) -> list[str] | None:
    """The four fields of one ``-dd`` instruction line (already stripped), or None if it
    is not ``{ a, b, c, d }`` with an optional trailing comma. One pass over the line:
    no backtracking, so a long line costs time linear in its length."""
    body = line.rstrip(",")
    if not (body.startswith("{") and body.endswith("}")) or len(body) < 2:
        return None
    parts = [p.strip() for p in body[1:-1].split(",")]
    if len(parts) != 4 or any(not p or "{" in p or "}" in p for p in parts):
        return None
    return parts


def parse_dd(text: str, name: str = "<text>") -> Program:
    """FLT-1: ``tcpdump -dd`` output: ``{ 0x28, 0, 0, 0x0000000c },`` lines (C array)."""
    out: list[Insn] = []
    for no, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped:
            continue
        fields = _dd_fields(stripped)
        if fields is None:
            raise FilterSyntaxError(f"{name}:{no}", "expected '{ code, jt, jf, k },', found "
                                                    f"{_shown(stripped)}")
        out.append(_insn(fields, f"{name}:{no}"))
    if not out:
        raise FilterSyntaxError(name, "no instructions")
    return tuple(out)


def parse_raw(data: bytes, name: str = "<bytes>") -> Program:
    """FLT-1: raw ``struct sock_filter`` array, 8 bytes per instruction, little-endian
    (x86 and arm64 host order: u16 code, u8 jt, u8 jf, u32 k)."""
    if not data:
        raise FilterSyntaxError(name, "empty: no instructions")
    if len(data) % 8:
        raise FilterSyntaxError(name, f"{len(data)} bytes is not a positive multiple of 8: "
                                      f"raw instruction {len(data) // 8} is cut short "
                                      f"({len(data) % 8} of 8 bytes)")
    return tuple(struct.unpack_from("<HBBI", data, off) for off in range(0, len(data), 8))


def to_raw(prog: Program) -> bytes:
    """The raw little-endian form of ``prog`` (what ``parse_raw`` reads)."""
    return b"".join(struct.pack("<HBBI", *i) for i in prog)


def to_ddd(prog: Program) -> str:
    """The ``tcpdump -ddd`` form of ``prog``."""
    return "\n".join([str(len(prog)), *(" ".join(map(str, i)) for i in prog)]) + "\n"


def parse_any(data: bytes, name: str = "<input>") -> Program:
    """FLT-1: read any of the three formats: ``-dd`` C text (has braces), ``-ddd`` text
    (digits and blanks only), else raw 8-byte instructions.

    Errors name the input and, for text, the line and the offending token: a text that is
    neither format (a typo such as ``4O 0 0 12``) is reported at its first token that is
    not a decimal number; bytes that cannot be raw instructions (not a multiple of 8) but
    read as text are reported at their first character no program text has."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return _raw_or_text(data, name)
    if not all(c.isprintable() or c.isspace() for c in text):
        return _raw_or_text(data, name)
    if not text.strip():
        raise FilterSyntaxError(name, "empty: no instructions")
    if "{" in text:
        return parse_dd(text, name)
    if all(c.isdigit() or c.isspace() for c in text):
        return parse_ddd(text, name)
    raise _not_decimal(text, name)


_DDD_FIELDS = ("code", "jt", "jf", "k")


def _not_decimal(text: str, name: str) -> FilterSyntaxError:
    """The first token of ``text`` that is not a decimal number, as an error at its line
    (``text`` has one: the caller found a character that is not a digit or a blank)."""
    first = True
    for no, line in enumerate(text.splitlines(), 1):
        tokens = line.split()
        for i, tok in enumerate(tokens):
            if not tok.isdigit():
                field = ("instruction count" if first
                         else _DDD_FIELDS[i] if i < len(_DDD_FIELDS) else f"field {i + 1}")
                return FilterSyntaxError(
                    f"{name}:{no}", f"{field} {_shown(tok)} is not a decimal number "
                    "(tcpdump -ddd text is decimal numbers; -dd text has braces; raw "
                    "programs are 8-byte instructions)")
        first = first and not tokens
    return FilterSyntaxError(name, "neither tcpdump -ddd text, tcpdump -dd text, nor raw "
                                   "8-byte instructions")


def _raw_or_text(data: bytes, name: str) -> Program:
    """Raw instructions. If ``data`` cannot be (its length is not a multiple of 8) and reads
    as program text with a few stray characters (valid utf-8, several lines, at most one
    character in 20 neither printable ASCII nor a blank), the error says where the first
    one is instead of only counting bytes. What parses as raw is unchanged."""
    if data and len(data) % 8 == 0:
        return parse_raw(data, name)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return parse_raw(data, name)
    odd = [i for i, c in enumerate(text) if not (c.isascii() and (c.isprintable()
                                                                 or c.isspace()))]
    if not odd or len(odd) > max(3, len(text) // 20) or "\n" not in text.strip():
        return parse_raw(data, name)
    at = odd[0]
    line = text.count("\n", 0, at) + 1
    raise FilterSyntaxError(f"{name}:{line}", f"character {text[at]!r} cannot appear in "
                            "tcpdump -ddd or -dd program text")


def _shown(text: str) -> str:
    """``repr`` of a token, cut to one short line."""
    r = repr(text)
    return r if len(r) <= 40 else r[:37] + "..."


def parse_packet_hex(text: str, name: str = "--packet") -> bytes:
    """A packet written in hex, as ``exo filter eval --packet`` takes it.

    Two hex digits per byte, either case, optionally after one leading ``0x``. Blanks and
    ``:`` may separate groups of whole bytes (``00:1b:21``, ``4500 003c``, or tcpdump
    ``-x`` lines); a group with an odd number of digits is refused, since it would split a
    byte. An empty text is the empty packet. At most ``MAX_PACKET`` bytes (NET-3).
    Raises ``FilterSyntaxError`` naming ``name``: the first character that is not a hex
    digit or separator with its position (counting from 1), or the odd digit count.
    """
    body, offset = text, 0
    if body[:2] in ("0x", "0X"):
        body, offset = body[2:], 2
    groups: list[tuple[int, str]] = []
    start = None
    for i, c in enumerate(body + " "):
        if c in " \t\r\n:":
            if start is not None:
                groups.append((start, body[start:i]))
                start = None
        elif c in "0123456789abcdefABCDEF":
            if start is None:
                start = i
        else:
            raise FilterSyntaxError(name, f"character {c!r} at position {offset + i + 1} "
                                          "is not a hex digit")
    digits = sum(len(g) for _, g in groups)
    if digits % 2:
        if len(groups) == 1:
            raise FilterSyntaxError(name, f"odd number of hex digits ({digits}): a byte "
                                          "needs two")
        pos, group = next((p, g) for p, g in groups if len(g) % 2)
        raise FilterSyntaxError(name, f"odd number of hex digits ({digits}): the group "
                                      f"{_shown(group)} at position {offset + pos + 1} "
                                      "splits a byte")
    odd = next(((p, g) for p, g in groups if len(g) % 2), None)
    if odd is not None:
        raise FilterSyntaxError(name, f"the group {_shown(odd[1])} at position "
                                      f"{offset + odd[0] + 1} has an odd number of hex "
                                      f"digits ({len(odd[1])}): separators go between "
                                      "whole bytes")
    if digits // 2 > MAX_PACKET:
        raise FilterSyntaxError(name, f"{digits // 2:,} bytes, longer than the "
                                      f"{MAX_PACKET:,} a packet may have (NET-3)")
    return bytes.fromhex("".join(g for _, g in groups))


# --------------------------------------------------------------------------- verifier (FLT-2/3)


@dataclass(frozen=True)
class Rejection:
    """Why a program is refused: the instruction index (or -1: the whole program) and the
    rule, in words."""

    index: int
    rule: str
    words: str

    def __str__(self) -> str:
        at = "program" if self.index < 0 else f"instruction {self.index}"
        return f"{at}: {self.words} [{self.rule}]"


def _cls(code: int) -> int:
    return code & 0x07


def verify(prog: Program) -> list[Rejection]:
    """FLT-2/FLT-3: every reason to refuse ``prog`` (empty list: accepted).

    Linux ``bpf_check_classic`` rules (FLT-2) and Exo's stricter ones (FLT-3), in program
    order; the first is the verdict's reason.
    """
    n = len(prog)
    if n == 0 or n > MAX_INSNS:
        return [Rejection(-1, "FLT-2.1", f"length {n} is not between 1 and {MAX_INSNS}")]
    out: list[Rejection] = []
    for pc, (code, jt, jf, k) in enumerate(prog):
        if code not in VALID_CODES:
            out.append(Rejection(pc, "FLT-2.2", f"unknown opcode {code:#06x}"))
            continue
        cls = _cls(code)
        if cls == ALU and (code & 0xF0) in (DIV, MOD) and (code & X) == K and k == 0:
            out.append(Rejection(pc, "FLT-2.3", "division or modulo by constant 0"))
        if cls == ALU and (code & 0xF0) in (LSH, RSH) and (code & X) == K and k >= 32:
            out.append(Rejection(pc, "FLT-2.4", f"constant shift by {k} (32 or more)"))
        if code in (LD | MEM, LDX | MEM, ST, STX) and k >= MEMWORDS:
            out.append(Rejection(pc, "FLT-2.5", f"scratch memory index {k} (16 or more)"))
        is_ja, is_cond = code == JMP | JA, cls == JMP and code != JMP | JA
        if not jump_ok(is_ja, is_cond, jt, jf, k, pc, n):
            what = f"jump by {k}" if is_ja else f"branch ({jt}, {jf})"
            out.append(Rejection(pc, "FLT-2.6", f"{what} leaves the program"))
        if ((code & 0xE0 in (ABS, IND) and cls == LD) or code == LDX | B | MSH) and k >= 1 << 31:
            out.append(Rejection(pc, "FLT-3.1",
                                 f"negative or ancillary load offset {k:#x} (Exo refuses)"))
        if cls == ALU and (code & 0xF0) in (LSH, RSH) and (code & X) == X:
            out.append(Rejection(pc, "FLT-3.2", "shift by register X (Exo refuses)"))
    if _cls(prog[-1][0]) != RET or prog[-1][0] not in VALID_CODES:
        out.append(Rejection(n - 1, "FLT-2.7", "last instruction is not a return"))
    if not out:
        out += _scratch_reads(prog)
    return sorted(out, key=lambda r: r.index)


def _scratch_reads(prog: Program) -> list[Rejection]:
    """FLT-2.8: a scratch slot read before it is surely written — Linux's own linear pass
    (``check_load_and_stores``): the set of written slots flows to the next instruction
    (also past a return, and through unreachable code) and is intersected at jump
    targets; a jump resets it for the instruction after it."""
    n = len(prog)
    everything = (1 << MEMWORDS) - 1
    masks = [everything] * n
    valid = 0
    for pc, (code, jt, jf, k) in enumerate(prog):
        valid &= masks[pc]
        if code in (ST, STX):
            valid |= 1 << k
        elif code in (LD | MEM, LDX | MEM):
            if not valid >> k & 1:
                return [Rejection(pc, "FLT-2.8", f"scratch slot {k} may be read before written")]
        elif code == JMP | JA:
            masks[pc + 1 + k] &= valid
            valid = everything
        elif _cls(code) == JMP:
            masks[pc + 1 + jt] &= valid
            masks[pc + 1 + jf] &= valid
            valid = everything
    return []


# --------------------------------------------------------------------------- interpreter (FLT-4)


@dataclass(frozen=True)
class Packet:
    """A packet for the interpreter: concrete bytes, or Z3 terms for every packet."""

    length: Any  # int, or a 32-bit Z3 term
    data: Any  # bytes, or a Z3 array from 32-bit index to 8-bit byte

    @staticmethod
    def of(raw: bytes) -> Packet:
        return Packet(len(raw), bytes(raw))

    @staticmethod
    def symbolic(prefix: str = "pkt") -> Packet:
        return Packet(z3.BitVec(f"{prefix}_len", 32),
                      z3.Array(f"{prefix}_bytes", z3.BitVecSort(32), z3.BitVecSort(8)))

    def concrete(self) -> bool:
        return isinstance(self.length, int)

    def byte(self, i: Any) -> Any:
        if self.concrete():
            return self.data[i] if 0 <= i < self.length else 0
        return z3.ZeroExt(24, z3.Select(self.data, i))

    def load(self, off: Any, size: int) -> Any:
        """``size`` bytes at ``off``, big-endian (network order), as a 32-bit word."""
        if self.concrete():
            v = 0
            for j in range(size):
                v = (v << 8) | self.byte(off + j)
            return v
        parts = [z3.Select(self.data, off + j) for j in range(size)]
        word = parts[0] if size == 1 else z3.Concat(*parts)
        return z3.ZeroExt(32 - 8 * size, word) if size < 4 else word

    def out_of_bounds(self, off: Any, size: int) -> BoolV:
        """FLT-4: ``off + size > length``, computed without wrap-around."""
        if self.concrete() and isinstance(off, int):
            return off + size > self.length
        if isinstance(off, z3.BitVecRef):
            off64 = z3.ZeroExt(64 - off.size(), off) if off.size() < 64 else off
        else:
            off64 = z3.BitVecVal(off, 64)
        return z3.UGT(off64 + size, z3.ZeroExt(32, self.length))


@dataclass(frozen=True)
class Regs:
    """The machine: accumulator, index register, 16 scratch words."""

    a: Any
    x: Any
    mem: tuple[Any, ...]


def jump_ok(is_ja: BoolV, is_cond: BoolV, jt: Any, jf: Any, k: Any, pc: Any, n: Any
            ) -> BoolV:
    """FLT-2.6: a jump at ``pc`` stays inside a program of ``n`` instructions (all jumps go
    forward: offsets are unsigned). Shared by ``verify`` and the termination proof."""
    return And(Implies(is_ja, k < n - pc - 1),
               Implies(is_cond, And(pc + jt + 1 < n, pc + jf + 1 < n)))


def next_pc(is_ja: BoolV, is_cond: BoolV, jt: Any, jf: Any, k: Any, pc: Any, taken: BoolV
            ) -> Any:
    """FLT-5: the pc after a non-return instruction at ``pc`` (``taken``: the condition of
    a conditional jump), computed as the machine does, modulo 2**32 — so a jump offset the
    verifier let through could go backward. Shared by the interpreter and the termination
    proof."""
    target = If(is_ja, pc + 1 + k, If(is_cond, If(taken, pc + 1 + jt, pc + 1 + jf), pc + 1))
    return target % PC_MODULUS


def run(prog: Program, pkt: Packet) -> Any:
    """FLT-4: the value ``prog`` returns on ``pkt`` (libpcap semantics): 0 drops the packet.

    On concrete bytes this is the filter's answer; on ``Packet.symbolic()`` it is a Z3
    term giving the answer for every packet. The program is always concrete; it must
    have passed ``verify`` (forward jumps only, defined scratch reads, no division by a
    constant 0), which is what makes one pass over the instructions complete.
    """
    n = len(prog)
    zero = wconst(0, pkt.length)
    incoming: list[list[tuple[BoolV, Regs]]] = [[] for _ in range(n)]
    incoming[0].append((True, Regs(zero, zero, (zero,) * MEMWORDS)))
    results: list[tuple[BoolV, Any]] = []
    for pc in range(n):
        if not incoming[pc]:
            continue
        reach = Or(*[c for c, _ in incoming[pc]])
        if reach is False:
            continue
        r = incoming[pc][0][1]
        for c, other in incoming[pc][1:]:
            r = If(c, other, r)
        code, jt, jf, k = prog[pc]
        kw = wconst(k, pkt.length)

        def goto(target: int, cond: BoolV, regs: Regs) -> None:
            incoming[target].append((cond, regs))

        def done(cond: BoolV, value: Any) -> None:
            results.append((cond, value))

        cls = code & 0x07
        if cls == RET:
            done(reach, kw if code == RET_K else r.a)
            continue
        if code in (LD | W | ABS, LD | H | ABS, LD | B | ABS, LD | W | IND, LD | H | IND,
                    LD | B | IND, LDX | B | MSH):
            size = SIZE[code & 0x18]
            off = k if code & 0xE0 in (ABS, MSH) else indirect_offset(r.x, k)
            bad = pkt.out_of_bounds(off, size)
            done(And(reach, bad), zero)
            ok = And(reach, Not(bad))
            if code == LDX | B | MSH:
                goto(pc + 1, ok, Regs(r.a, wshl(pkt.byte(off) & 0xF, 2), r.mem))
            else:
                goto(pc + 1, ok, Regs(pkt.load(_idx(off, pkt), size), r.x, r.mem))
            continue
        if cls in (LD, LDX):
            mode = code & 0xE0
            v = kw if mode == IMM else pkt.length if mode == LEN else r.mem[k]
            goto(pc + 1, reach, Regs(v, r.x, r.mem) if cls == LD else Regs(r.a, v, r.mem))
            continue
        if cls in (ST, STX):
            mem = tuple((r.a if cls == ST else r.x) if i == k else m for i, m in enumerate(r.mem))
            goto(pc + 1, reach, Regs(r.a, r.x, mem))
            continue
        if code == TAX:
            goto(pc + 1, reach, Regs(r.a, r.a, r.mem))
            continue
        if code == TXA:
            goto(pc + 1, reach, Regs(r.x, r.x, r.mem))
            continue
        if cls == ALU:
            op, src = code & 0xF0, (r.x if code & X else kw)
            if op in (DIV, MOD) and code & X:
                zero_div = src == zero
                done(And(reach, zero_div), zero)
                reach = And(reach, Not(zero_div))
            goto(next_pc(False, False, jt, jf, k, pc, False), reach,
                 Regs(_alu(op, r.a, src, k), r.x, r.mem))
            continue
        # jumps: the targets come from next_pc, the same text the termination proof runs
        if code == JMP | JA:
            goto(next_pc(True, False, jt, jf, k, pc, True), reach, r)
            continue
        src = r.x if code & X else kw
        op = code & 0xF0
        taken = (r.a == src if op == JEQ else wgt(r.a, src) if op == JGT
                 else wge(r.a, src) if op == JGE else (r.a & src) != zero)
        goto(next_pc(False, True, jt, jf, k, pc, True), And(reach, taken), r)
        goto(next_pc(False, True, jt, jf, k, pc, False), And(reach, Not(taken)), r)
    value: Any = zero
    for cond, v in reversed(results):
        value = If(cond, v, value)
    return value


def indirect_offset(x: Any, k: Any) -> Any:
    """FLT-4: the offset of an indirect load, X + k, without wrap-around (libpcap; Linux
    wraps modulo 2**32) — 64 bits on Z3 terms. Shared with the bounds proof."""
    if isinstance(x, int) and isinstance(k, int):
        return x + k
    kk = z3.ZeroExt(32, k) if isinstance(k, z3.BitVecRef) else k
    return z3.ZeroExt(32, x) + kk


def _idx(off: Any, pkt: Packet) -> Any:
    """A load offset as a packet index (the low 32 bits; only used when in bounds)."""
    if isinstance(off, int):
        return off if pkt.concrete() else z3.BitVecVal(off & 0xFFFFFFFF, 32)
    return z3.Extract(31, 0, off) if off.size() > 32 else off


def _alu(op: int, a: Any, b: Any, k: int) -> Any:
    if op == ADD:
        return wadd(a, b)
    if op == SUB:
        return wsub(a, b)
    if op == MUL:
        return wmul(a, b)
    if op == DIV:
        return wdiv(a, b)
    if op == MOD:
        return wmod(a, b)
    if op == AND_:
        return a & b
    if op == OR_:
        return a | b
    if op == XOR:
        return a ^ b
    if op == LSH:
        return wshl(a, k)
    if op == RSH:
        return wshr(a, k)
    return wneg(a)


def evaluate(prog: Program, packet: bytes) -> int:
    """FLT-4: the filter's return value on concrete bytes."""
    value: int = run(prog, Packet.of(packet))
    return value


# --------------------------------------------------------------------------- Z3 questions


SYMBOLIC_PACKET = Packet.symbolic("p")
"""The one symbolic packet every Z3 question about filters is asked on (FLT-6..FLT-8)."""


@lru_cache(maxsize=8192)
def verdict_term(prog: Program) -> Any:
    """The return value of ``prog`` on the symbolic packet, built once per program."""
    return run(prog, SYMBOLIC_PACKET)


def witness_bytes(model: z3.ModelRef) -> bytes:
    """The bytes of ``SYMBOLIC_PACKET`` in a Z3 model of the main context (its length,
    then each byte). A ``Question``'s model is read with ``Question.witness``."""
    return _packet_in(model, SYMBOLIC_PACKET.length, SYMBOLIC_PACKET.data)


def _packet_in(model: z3.ModelRef, length: Any, data: Any) -> bytes:
    n = model.eval(length, model_completion=True).as_long()
    ctx = length.ctx
    return bytes(model.eval(z3.Select(data, z3.BitVecVal(i, 32, ctx)),
                            model_completion=True).as_long() for i in range(n))


FILTER_RLIMIT = 1_000_000
"""FLT-6, FLT-7: Z3's resource budget (``rlimit``, counted in Z3's own steps, not in
seconds) for the first check of one overlap or equivalence question. A question not
decided within it is undecided (``Undecided``), never "no overlap" and never "equal"."""

SHRINK_RLIMIT = FILTER_RLIMIT // 4
"""FLT-6: the budget of each of the (at most four) checks for a shorter witness (a
quarter of the question's budget)."""

SOLVER_WEIGHTS: dict[int, int] = {
    ALU | DIV | X: 4, ALU | MOD | X: 4, ALU | MUL | X: 2,
    LD | W | IND: 1, LD | H | IND: 1, LD | B | IND: 1,
}
"""FLT-6, *The weight of a program*: what an instruction adds to ``solver_weight``. These
are the instructions whose Z3 terms cost work that the ``rlimit`` does not count (a 32-bit
divider or multiplier circuit per division, remainder or product by ``X``; an array read
at a packet-dependent offset per indirect load). Every other instruction weighs 0."""


def solver_weight(prog: Program) -> int:
    """FLT-6: the sum of ``SOLVER_WEIGHTS`` over the program's instructions. ``prog`` is
    a program value (any tuple of ``(code, jt, jf, k)`` tuples; unknown codes weigh 0)."""
    return sum(SOLVER_WEIGHTS.get(insn[0], 0) for insn in prog)

_NO_TIMEOUT = 4294967295
"""Z3's "no timeout": set on every solver here, so a global ``timeout`` that an embedding
program set with ``z3.set_param`` cannot make an answer depend on the clock."""


@dataclass(frozen=True)
class Undecided:
    """FLT-6, FLT-7: Z3 answered neither sat nor unsat within the budget: the question is
    not decided. Neither "disjoint" nor "equal"."""

    rlimit: int = FILTER_RLIMIT
    weight: int | None = None
    """Set when the question was not asked: the pair's ``solver_weight`` was over its
    limit (NET-1's pair check, FLT-9 *Deciding two programs*)."""

    def __str__(self) -> str:
        if self.weight is not None:
            return f"undecided: solver weight {self.weight} over the pair's limit"
        return f"undecided within budget (rlimit {self.rlimit})"


UNDECIDED = Undecided()


class Question:
    """FLT-6..FLT-8: one budgeted Z3 question, asked in a Z3 context of its own.

    Z3 counts ``rlimit`` steps in its own deterministic units, but how many steps a query
    takes depends on what its context has seen before (term identifiers, simplifier
    caches): the same question asked in the main context after other work took 504,018
    steps in a fresh process and 581,140 after the bundled samples' pairs (measured with
    ``statistics()["rlimit count"]``). Near the budget that turns "undecided" into "overlap"
    depending on history. A fresh context, into which the question's terms are translated
    in one fixed order, makes the answer a function of the question alone (FLT-6: the model
    stays a function of its state). The packet's length is bounded by MAX_PACKET."""

    def __init__(self, constraints: list[Any], rlimit: int) -> None:
        self.ctx = z3.Context()
        self.rlimit = rlimit
        self._steps = 0
        self.length = SYMBOLIC_PACKET.length.translate(self.ctx)
        self.data = SYMBOLIC_PACKET.data.translate(self.ctx)
        self.solver = z3.Solver(ctx=self.ctx)
        self.solver.set("rlimit", rlimit)
        self.solver.set("timeout", _NO_TIMEOUT)
        self.solver.add(z3.ULE(self.length, z3.BitVecVal(MAX_PACKET, 32, self.ctx)))
        self.solver.add(*[self.here(c) for c in constraints])

    def here(self, term: Any) -> Any:
        """``term`` (built in the main context) in this question's context."""
        return term.translate(self.ctx)

    def check(self) -> z3.CheckSatResult:
        before = self._count()
        verdict = self.solver.check()
        self._steps += self._count() - before
        return verdict

    def _count(self) -> int:
        stats = self.solver.statistics()
        return int(stats.get_key_value("rlimit count")) if "rlimit count" in stats.keys() else 0

    def steps(self) -> int:
        """The ``rlimit`` steps this question's checks have used."""
        return self._steps

    def holds(self, model: z3.ModelRef, term: Any) -> bool:
        """Whether the main-context formula ``term`` is true in ``model``."""
        truth: bool = z3.is_true(model.eval(self.here(term), model_completion=True))
        return truth

    def witness(self, model: z3.ModelRef) -> bytes:
        """The packet of a model of this question."""
        return _packet_in(model, self.length, self.data)


def _solve(*constraints: Any, rlimit: int = FILTER_RLIMIT) -> bytes | Undecided | None:
    """A packet (at most MAX_PACKET bytes) satisfying ``constraints``, None if there is
    none, ``Undecided`` if Z3 says anything else within ``rlimit`` (``FILTER_RLIMIT``
    unless the caller asks a pair of NET-1, FLT-9 *Deciding two programs*)."""
    q = Question(list(constraints), rlimit)
    verdict = q.check()
    if verdict == z3.unsat:
        return None
    if verdict != z3.sat:
        return UNDECIDED if rlimit == FILTER_RLIMIT else Undecided(rlimit)
    # prefer a short witness: shrink the length bound while still satisfiable; a capped
    # check that is not decided within a quarter of the budget (SHRINK_RLIMIT for
    # FILTER_RLIMIT) keeps the witness already found
    model = q.solver.model()
    q.solver.set("rlimit", rlimit // 4)
    for cap in (64, 128, 256, 1514):
        if model.eval(q.length).as_long() <= cap:
            break
        q.solver.push()
        q.solver.add(z3.ULE(q.length, z3.BitVecVal(cap, 32, q.ctx)))
        if q.check() == z3.sat:
            model = q.solver.model()
            q.solver.pop()
            break
        q.solver.pop()
    return q.witness(model)


class WitnessError(RuntimeError):
    """Z3 produced a packet that the concrete interpreter does not confirm (a bug)."""


def _exact_program(prog: object, what: str) -> Program:
    """``prog`` itself if it is exactly a program value: a ``tuple`` of ``tuple``s of four
    ``int``s, each judged by its own type (no subclass, no ``bool``). Cached answers are
    keyed on it, so a value that only compares equal to a program (``True`` for ``1``,
    ``1.0``, an ``int`` subclass) must never reach a cache. Anything else: TypeError."""
    if type(prog) is not tuple or not all(
            type(i) is tuple and len(i) == 4 and all(type(f) is int for f in i) for i in prog):
        raise TypeError(f"{what}: a program is a tuple of (code, jt, jf, k) tuples of int")
    program: Program = prog
    return program


Overlap = tuple[int, bytes] | Undecided | None
"""FLT-6's answer: (index, packet), None (disjoint) or ``Undecided``."""


def overlap(a: Program, others: list[Program] | tuple[Program, ...]) -> Overlap:
    """FLT-6: a packet ``a`` and one of ``others`` both accept, replayed on the reference
    interpreter, as (index into ``others``, packet); None if there is none; ``UNDECIDED``
    if Z3 decides neither within ``FILTER_RLIMIT``. Answers are cached per question (keyed
    on the exact program values): the same question always gets the same answer (Z3 may
    choose another model for a repeated query), so the model stays a function of its
    state. Both programs must have passed the verifier."""
    if type(others) not in (list, tuple):
        raise TypeError("overlap: others is a list or tuple of programs")
    return _overlap(_exact_program(a, "overlap"),
                    tuple(_exact_program(b, "overlap") for b in others))


@lru_cache(maxsize=65536)
def _overlap(a: Program, others: tuple[Program, ...], rlimit: int = FILTER_RLIMIT) -> Overlap:
    """``overlap`` of exact program values, within ``rlimit`` (NET-1's pairs ask with a
    smaller one, FLT-9 *Deciding two programs*)."""
    if not others:
        return None
    fa = verdict_term(a)
    zero = z3.BitVecVal(0, 32)
    pkt = _solve(fa != zero, z3.Or(*[verdict_term(b) != zero for b in others]),
                 rlimit=rlimit)
    if pkt is None or isinstance(pkt, Undecided):
        return pkt
    if evaluate(a, pkt) == 0:
        raise WitnessError("overlap witness not accepted by the new filter on replay")
    for i, b in enumerate(others):
        if evaluate(b, pkt) != 0:
            return i, pkt
    raise WitnessError("overlap witness not accepted by any installed filter on replay")


def difference(a: Program, b: Program) -> bytes | Undecided | None:
    """FLT-7: a packet on which ``a`` and ``b`` return different values (replayed), None
    if they are equal on every packet, ``UNDECIDED`` if Z3 decides neither within
    ``FILTER_RLIMIT``. Cached per question like ``overlap``."""
    return _difference(_exact_program(a, "difference"), _exact_program(b, "difference"))


@lru_cache(maxsize=65536)
def _difference(a: Program, b: Program) -> bytes | Undecided | None:
    pkt = _solve(verdict_term(a) != verdict_term(b))
    if pkt is None or isinstance(pkt, Undecided):
        return pkt
    if evaluate(a, pkt) == evaluate(b, pkt):
        raise WitnessError("difference witness gives equal results on replay")
    return pkt


Checker = Callable[[Program], list[Rejection]]
