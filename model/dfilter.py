"""Declarative packet filters whose overlap is decided without a solver (spec/filters.md
FLT-9).

Paper: "Secure bindings" and the packet filter section. DPF (Engler and Kaashoek,
SIGCOMM '96) writes a filter as a list of atoms "the bytes at offset o, masked, equal v";
two such filters overlap exactly when their atoms agree wherever they meet, which a
kernel decides by comparing atoms, in time linear in their number, with no solver and no
budget. This module is that form: ``Atom``, a conjunction (a tuple of atoms) and a
``DFilter`` (a tuple of conjunctions, disjunctive normal form), with

* ``accepts``: the concrete meaning;
* ``overlap``: the exact overlap decision, with a witness packet fixed byte for byte;
* ``canonical``: a canonical form;
* ``to_program``: a classic-BPF program with the same meaning (FLT-2 verified);
* ``recognize``: the exact translation of a class of classic-BPF programs (the ones
  tcpdump emits for header tests) into this form, or None — never an approximation;
* ``agrees``: Z3's check (FLT-6's budgeted machinery) that a program and a DFilter accept
  the same packets, which is how the model checks ``recognize``.

NET-1 decides a pair of recognized programs with ``overlap`` (``program_overlap``), and
exo.impl's demultiplexer merges a recognized program as its DFilter where that is no
wider than its own reading of the program (NET-3, FLT-8).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import z3

from exo.model.filters import (
    ABS,
    ALU,
    AND_,
    IMM,
    IND,
    JA,
    JEQ,
    JGE,
    JGT,
    JMP,
    JSET,
    LD,
    LDX,
    MAX_INSNS,
    MAX_PACKET,
    MSH,
    RET_A,
    RET_K,
    SIZE,
    SYMBOLIC_PACKET,
    B,
    H,
    K,
    Overlap,
    Program,
    Undecided,
    W,
    WitnessError,
    _overlap,
    _solve,
    evaluate,
    solver_weight,
    verdict_term,
    verify,
)

ACCEPT = 0xFFFF
"""What a program made by ``to_program`` returns on a packet it accepts."""

MAX_CONJUNCTIONS = 1024
"""FLT-9: ``recognize`` gives up (None) on a program with more distinct accepting
conjunctions than this."""

MAX_STATES = 1 << 16
"""FLT-9: ``recognize`` gives up (None) when it would create more distinct path states."""

_SIZES = (1, 2, 4)
_LOAD_CODE = {4: LD | W | ABS, 2: LD | H | ABS, 1: LD | B | ABS}
_AND_K = ALU | AND_ | K
_JA = JMP | JA
_JEQ_K, _JGT_K, _JGE_K, _JSET_K = (JMP | JEQ | K, JMP | JGT | K, JMP | JGE | K,
                                   JMP | JSET | K)


# --------------------------------------------------------------------------- the form


@dataclass(frozen=True)
class Atom:
    """FLT-9: one test, "the packet has at least ``offset + size`` bytes and the
    big-endian ``size``-byte word at ``offset``, masked with ``mask``, equals ``value``".

    Every field is exactly an ``int`` (not a ``bool``, not an ``int`` subclass, not a
    ``float``): anything else raises ``TypeError``. An ``int`` out of its range raises
    ``ValueError``: ``size`` in {1, 2, 4}; ``0 <= offset`` and ``offset + size <=
    MAX_PACKET``; ``0 <= mask < 2**(8*size)``; ``value & ~mask == 0``. ``mask == 0`` is a
    pure length condition."""

    offset: int
    size: int
    mask: int
    value: int

    def __post_init__(self) -> None:
        problem = _atom_problem(self)
        if problem is not None:
            raise (TypeError if problem[0] else ValueError)(f"Atom: {problem[1]}")


def _atom_problem(a: Atom) -> tuple[bool, str] | None:
    """Why ``a`` is not a well-formed atom: (is a type error, what), or None."""
    for name in ("offset", "size", "mask", "value"):
        if type(getattr(a, name)) is not int:
            return True, f"{name} must be an int, not {type(getattr(a, name)).__name__}"
    if a.size not in _SIZES:
        return False, f"size {a.size} is not 1, 2 or 4"
    if a.offset < 0 or a.offset + a.size > MAX_PACKET:
        return False, f"bytes {a.offset}..{a.offset + a.size - 1} are not inside a packet " \
                      f"of at most {MAX_PACKET} bytes"
    if not 0 <= a.mask < 1 << 8 * a.size:
        return False, f"mask {a.mask:#x} does not fit in {a.size} bytes"
    if a.value & ~a.mask:
        return False, f"value {a.value:#x} has bits outside mask {a.mask:#x}"
    return None


Conjunction = tuple[Atom, ...]
"""All of its atoms hold (the empty conjunction: every packet)."""
DFilter = tuple[Conjunction, ...]
"""Some conjunction holds (the empty DFilter: no packet)."""

Bytes = tuple[int, dict[int, tuple[int, int]]]
"""A consistent conjunction, byte by byte: (minimum length, {offset: (mask, value)}), every
mask byte non-zero."""


def _checked(df: object, what: str) -> DFilter:
    """``df`` itself if it is exactly a DFilter of well-formed atoms; else ValueError."""
    if type(df) is not tuple:
        raise ValueError(f"{what}: a DFilter is a tuple of conjunctions, not "
                         f"{type(df).__name__}")
    for conj in df:
        if type(conj) is not tuple:
            raise ValueError(f"{what}: a conjunction is a tuple of Atom, not "
                             f"{type(conj).__name__}")
        for a in conj:
            if type(a) is not Atom:
                raise ValueError(f"{what}: not an Atom: {type(a).__name__}")
            problem = _atom_problem(a)  # an Atom whose fields were changed after the fact
            if problem is not None:
                raise ValueError(f"{what}: malformed atom: {problem[1]}")
    checked: DFilter = df
    return checked


def _merge(cons: dict[int, tuple[int, int]], offset: int, size: int, mask: int,
           value: int) -> bool:
    """Add the byte constraints of one atom to ``cons`` (big-endian); False if a bit both
    constrain gets two values (``cons`` is then partly updated: discard it)."""
    for j in range(size):
        shift = 8 * (size - 1 - j)
        mb = (mask >> shift) & 0xFF
        if not mb:
            continue
        vb = (value >> shift) & 0xFF
        o = offset + j
        old = cons.get(o)
        if old is None:
            cons[o] = (mb, vb)
        else:
            om, ov = old
            if om & mb & (ov ^ vb):
                return False
            cons[o] = (om | mb, ov | vb)
    return True


def decompose(conj: Conjunction) -> Bytes | None:
    """FLT-9: a conjunction as byte constraints: its minimum length (the largest
    ``offset + size`` of its atoms, 0 if none) and, for every byte offset some atom
    constrains, the union of the mask bits there with their values; None when two atoms
    give one bit two values (no packet satisfies the conjunction)."""
    minlen = 0
    cons: dict[int, tuple[int, int]] = {}
    for a in conj:
        end = a.offset + a.size
        if end > minlen:
            minlen = end
        if a.mask and not _merge(cons, a.offset, a.size, a.mask, a.value):
            return None
    return minlen, cons


def accepts(df: DFilter, packet: bytes) -> bool:
    """FLT-9: whether ``df`` accepts ``packet``: some conjunction whose atoms all hold
    (each atom: ``len(packet) >= offset + size`` and the big-endian word there, masked,
    equals the value). ``packet`` is exactly ``bytes`` of at most ``MAX_PACKET``; malformed
    input raises ValueError."""
    _checked(df, "accepts")
    if type(packet) is not bytes:
        raise ValueError(f"accepts: a packet is bytes, not {type(packet).__name__}")
    if len(packet) > MAX_PACKET:
        raise ValueError(f"accepts: {len(packet)} bytes is longer than {MAX_PACKET}")
    n = len(packet)
    return any(all(a.offset + a.size <= n
                   and int.from_bytes(packet[a.offset:a.offset + a.size], "big") & a.mask
                   == a.value for a in conj) for conj in df)


def _compatible(x: dict[int, tuple[int, int]], y: dict[int, tuple[int, int]]) -> bool:
    if len(y) < len(x):
        x, y = y, x
    for o, (m, v) in x.items():
        other = y.get(o)
        if other is not None and m & other[0] & (v ^ other[1]):
            return False
    return True


def _witness(x: Bytes, y: Bytes) -> bytes:
    out = bytearray(max(x[0], y[0]))
    for o, (_, v) in x[1].items():
        out[o] |= v
    for o, (_, v) in y[1].items():
        out[o] |= v
    return bytes(out)


def overlap(a: DFilter, b: DFilter) -> bytes | None:
    """FLT-9: exactly decided, a packet both ``a`` and ``b`` accept, or None if there is
    none. The pairs (i, j) of a conjunction of ``a`` and one of ``b`` are tried in order
    (i outer, j inner); the first pair whose byte constraints (``decompose``) agree on
    every bit both constrain gives the witness: as long as the longer of the two minimum
    lengths, each constrained bit set to its value, every other bit 0. Malformed input
    raises ValueError."""
    da = [decompose(c) for c in _checked(a, "overlap")]
    db = [decompose(c) for c in _checked(b, "overlap")]
    for x in da:
        if x is None:
            continue
        for y in db:
            if y is not None and _compatible(x[1], y[1]):
                return _witness(x, y)
    return None


# --------------------------------------------------------------------------- canonical form


def _implies(q: Bytes, p: Bytes) -> bool:
    """Every packet satisfying ``q`` satisfies ``p``."""
    if q[0] < p[0] or len(q[1]) < len(p[1]):
        return False
    for o, (pm, pv) in p[1].items():
        mine = q[1].get(o)
        if mine is None or mine[0] & pm != pm or mine[1] & pm != pv:
            return False
    return True


def atoms_of(x: Bytes) -> Conjunction:
    """FLT-9: the canonical atoms of a consistent conjunction: the constrained offsets in
    ascending order, cut into maximal runs of consecutive offsets, each run cut from its
    start into atoms of 4 bytes while at least 4 remain, then 2, then 1 (mask and value
    the bytes' masks and values, big-endian); then, if the minimum length is larger than
    the end of the last atom (0 if none), the length atom ``(minlen - 1, 1, 0, 0)``."""
    minlen, cons = x
    offsets = sorted(cons)
    out: list[Atom] = []
    i = 0
    while i < len(offsets):
        run = 1
        while i + run < len(offsets) and offsets[i + run] == offsets[i] + run:
            run += 1
        while run:
            size = 4 if run >= 4 else 2 if run >= 2 else 1
            mask = value = 0
            for o in offsets[i:i + size]:
                mask, value = mask << 8 | cons[o][0], value << 8 | cons[o][1]
            out.append(Atom(offsets[i], size, mask, value))
            i, run = i + size, run - size
    end = out[-1].offset + out[-1].size if out else 0
    if minlen > end:
        out.append(Atom(minlen - 1, 1, 0, 0))
    return tuple(out)


def _key(conj: Conjunction) -> tuple[tuple[int, int, int, int], ...]:
    return tuple((a.offset, a.size, a.mask, a.value) for a in conj)


def _canonical_of(forms: list[Bytes]) -> DFilter:
    """The canonical DFilter of consistent conjunctions in byte form (see ``canonical``)."""
    unique: dict[tuple[int, tuple[tuple[int, int, int], ...]], Bytes] = {}
    for x in forms:
        unique.setdefault((x[0], tuple(sorted((o, m, v) for o, (m, v) in x[1].items()))), x)
    kept = list(unique.values())
    # absorption: drop a conjunction that implies another (distinct) one; distinct byte
    # forms never imply each other both ways, so the kept ones are the maximal ones
    kept = [q for i, q in enumerate(kept)
            if not any(j != i and _implies(q, p) for j, p in enumerate(kept))]
    return tuple(sorted((atoms_of(x) for x in kept), key=_key))


def canonical(df: DFilter) -> DFilter:
    """FLT-9: the canonical form of ``df``, same meaning. Each conjunction is put in byte
    form (``decompose``); inconsistent ones are dropped, then repeated ones, then every
    one that implies another (its packets are all accepted by that one: its minimum
    length is at least the other's and its constraints include the other's bits with the
    same values). Each one left is written as ``atoms_of`` says, and the conjunctions are
    sorted by their atoms' ``(offset, size, mask, value)`` tuples, lexicographically.
    Idempotent; filters of equal meaning may have different canonical forms. Malformed
    input raises ValueError."""
    forms = [x for x in (decompose(c) for c in _checked(df, "canonical")) if x is not None]
    return _canonical_of(forms)


# --------------------------------------------------------------------------- to cBPF


def _conjunction_code(conj: Conjunction, long_jumps: bool) -> list[tuple[int, int, int, int]]:
    """The code of one conjunction, ending in ``ret #ACCEPT``; every failed test jumps to
    the instruction after it. A test is a jump whose ``jf`` is patched here."""
    body: list[tuple[int, int, int, int]] = []
    tests: list[int] = []

    def test(code: int, k: int) -> None:
        tests.append(len(body))
        if long_jumps:  # jt skips the ja that goes to the next conjunction
            body.extend([(code, 1, 0, k), (_JA, 0, 0, 0)])
        else:
            body.append((code, 0, 0, k))

    minlen = max((a.offset + a.size for a in conj), default=0)
    if minlen > max((a.offset + a.size for a in conj if a.mask), default=0):
        body.append((_LOAD_CODE[1], 0, 0, minlen - 1))  # the length probe (to_program)
    for a in conj:
        if not a.mask:
            continue
        body.append((_LOAD_CODE[a.size], 0, 0, a.offset))
        if a.mask != (1 << 8 * a.size) - 1:
            body.append((_AND_K, 0, 0, a.mask))
        test(_JEQ_K, a.value)
    body.append((RET_K, 0, 0, ACCEPT))
    fail = len(body)
    for t in tests:
        if long_jumps:
            body[t + 1] = (_JA, 0, 0, fail - (t + 2))
        else:
            code, _, _, k = body[t]
            body[t] = (code, 0, fail - (t + 1), k)
    return body


def _length_order(df: DFilter) -> list[Conjunction]:
    """The conjunctions in ascending order of minimum length, ties in their order."""
    return sorted(df, key=lambda c: max((a.offset + a.size for a in c), default=0))


def to_program(df: DFilter) -> Program:
    """FLT-9: a classic-BPF program (FLT-2 verified) that returns ``ACCEPT`` (0xFFFF) on
    the packets ``df`` accepts and 0 on the others, and that ``recognize`` takes back.
    Conjunction by conjunction, in ascending order of minimum length (stable): when no
    atom with a non-zero mask reaches the minimum length L, ``ldb [L-1]`` (a probe whose
    value is not used); then for each atom with a non-zero mask ``ld[bhw] [offset]``,
    ``and #mask`` (unless the mask is all ones), ``jeq #value``; then ``ret #ACCEPT``. A
    load past the end aborts the whole program (FLT-4), not only its conjunction; in this
    order it happens only on a packet shorter than every conjunction still to come needs,
    so the program's answer, 0, is the DFilter's. A failed test jumps past the ``ret`` to
    the next conjunction; when a conjunction's code is too long for an 8-bit jump offset
    its tests jump over a ``ja`` (32-bit offset) instead. The program ends with ``ret
    #0``. A program longer than ``MAX_INSNS`` raises ValueError, as does malformed
    input."""
    out: list[tuple[int, int, int, int]] = []
    for conj in _length_order(_checked(df, "to_program")):
        code = _conjunction_code(conj, long_jumps=False)
        if any(jf > 0xFF for _, _, jf, _ in code):
            code = _conjunction_code(conj, long_jumps=True)
        out.extend(code)
        if len(out) >= MAX_INSNS:
            break
    out.append((RET_K, 0, 0, 0))
    if len(out) > MAX_INSNS:
        raise ValueError(f"to_program: the program would have more than {MAX_INSNS} "
                         "instructions")
    return tuple(out)


# --------------------------------------------------------------------------- recognizer

_CONST, _LOAD, _NIBBLE = 0, 1, 2
Acc = tuple[int, int, int, int]
"""The accumulator on a path: ``(_CONST, value, 0, 0)`` or ``(_LOAD, offset, size, mask)``
meaning ``load(offset, size) & mask`` (mask non-zero, inside the size)."""
Idx = tuple[int, int]
"""The index register on a path: ``(_CONST, value)`` or ``(_NIBBLE, k)``: 4 * (P[k] & 0xF)."""
Cons = tuple[tuple[int, int, int], ...]
"""Byte constraints (offset, mask, value), ascending offsets, masks non-zero."""
PathState = tuple[Acc, Idx, int, Cons]
"""(A, X, minimum length, byte constraints) at a pc: the path condition is the constraints."""
Alternatives = list[tuple[int, int, int, int]]
"""A disjunction of atoms (offset, size, mask, value); empty: false; mask 0: true."""


class _Outside(Exception):
    """The program leaves the recognized class (recognize gives None); says where."""


def _with(minlen: int, cons: Cons, offset: int, size: int, mask: int, value: int
          ) -> tuple[int, Cons] | None:
    """The path condition with one more atom, or None if no packet satisfies it."""
    table = {o: (m, v) for o, m, v in cons}
    if mask and not _merge(table, offset, size, mask, value):
        return None
    return (max(minlen, offset + size),
            tuple(sorted((o, m, v) for o, (m, v) in table.items())))


def _bits(mask: int) -> list[int]:
    """The single bits of ``mask``, highest first."""
    return [1 << i for i in range(mask.bit_length() - 1, -1, -1) if mask >> i & 1]


def _prefixes(lo: int, hi: int, width: int) -> list[tuple[int, int]]:
    """The interval [lo, hi] of ``width``-bit numbers as (mask, value) prefixes:
    from ``lo`` up, each time the largest aligned block (a power of two in size, starting
    at a multiple of its size) that starts at ``lo`` and ends at or before ``hi``. At most
    2 * width prefixes; none if lo > hi."""
    full = (1 << width) - 1
    out: list[tuple[int, int]] = []
    while lo <= hi:
        block = lo & -lo if lo else 1 << width
        while block > hi - lo + 1:
            block >>= 1
        out.append((full & ~(block - 1), lo))
        lo += block
    return out


def branch_atoms(op: int, offset: int, size: int, mask: int, k: int
                 ) -> tuple[Alternatives, Alternatives]:
    """FLT-9: the (taken, not taken) conditions of ``j<op> #k`` on the field
    ``F = load(offset, size) & mask`` as disjunctions of atoms (see ``Alternatives``).
    ``jgt``/``jge`` only on a whole load (mask all ones), else ``_Outside``."""
    full = (1 << 8 * size) - 1
    always: Alternatives = [(offset, size, 0, 0)]
    if op == JEQ:
        if k & ~mask:
            return [], always
        return [(offset, size, mask, k)], [(offset, size, b, ~k & b) for b in _bits(mask)]
    if op == JSET:
        on = mask & k
        return ([(offset, size, b, b) for b in _bits(on)], [(offset, size, on, 0)])
    if mask != full:
        raise _Outside(f"j{'gt' if op == JGT else 'ge'} on a masked load (mask {mask:#x})")
    first_taken = k + 1 if op == JGT else k  # F > k  <=>  F >= k + 1
    return ([(offset, size, m, v) for m, v in _prefixes(first_taken, full, 8 * size)],
            [(offset, size, m, v) for m, v in _prefixes(0, min(first_taken - 1, full),
                                                         8 * size)])


def _const_taken(op: int, a: int, k: int) -> bool:
    if op == JEQ:
        return a == k
    if op == JGT:
        return a > k
    if op == JGE:
        return a >= k
    return a & k != 0


_ACCEPTED = -1


def _load(nxt: int, acc_idx: Idx, minlen: int, cons: Cons, offset: int, size: int
          ) -> list[tuple[int, PathState]]:
    """An absolute load: out of bounds for every packet (the path rejects) or in bounds
    on the path's packets of length at least ``offset + size``."""
    if offset + size > MAX_PACKET:
        return []
    return [(nxt, ((_LOAD, offset, size, (1 << 8 * size) - 1), acc_idx,
                   max(minlen, offset + size), cons))]


def _accepts_at_once(program: Program, target: int, acc: Acc) -> bool:
    """Whether a path arriving at ``target`` with accumulator ``acc`` is accepted whatever
    the packet: after any ``ja``, a ``ret #k`` with k non-zero, or ``ret a`` with A a known
    non-zero constant."""
    code, _, _, k = program[target]
    while code == _JA:
        target += 1 + k
        code, _, _, k = program[target]
    return (code == RET_K and k != 0) or (code == RET_A and acc[0] == _CONST and acc[1] != 0)


def _step(program: Program, pc: int, st: PathState) -> list[tuple[int, PathState]]:
    """The successors of one path state: (next pc or ``_ACCEPTED``, state), or
    ``_Outside`` when the instruction is outside the recognized class."""
    code, jt, jf, k = program[pc]
    acc, idx, minlen, cons = st
    if code == RET_K:
        return [(_ACCEPTED, st)] if k else []
    if code == RET_A:
        if acc[0] != _CONST:
            raise _Outside(f"instruction {pc}: ret a on a loaded value")
        return [(_ACCEPTED, st)] if acc[1] else []
    if code in (LD | W | ABS, LD | H | ABS, LD | B | ABS):
        return _load(pc + 1, idx, minlen, cons, k, SIZE[code & 0x18])
    if code in (LD | W | IND, LD | H | IND, LD | B | IND):
        size = SIZE[code & 0x18]
        if idx[0] == _CONST:
            return _load(pc + 1, idx, minlen, cons, idx[1] + k, size)
        out: list[tuple[int, PathState]] = []
        for n in range(16):  # the nibble behind X, value by value
            r = _with(minlen, cons, idx[1], 1, 0x0F, n)
            if r is not None:
                out += _load(pc + 1, (_CONST, 4 * n), r[0], r[1], 4 * n + k, size)
        return out
    if code == LDX | B | MSH:
        if k + 1 > MAX_PACKET:
            return []
        return [(pc + 1, (acc, (_NIBBLE, k), max(minlen, k + 1), cons))]
    if code == LD | IMM:
        return [(pc + 1, ((_CONST, k, 0, 0), idx, minlen, cons))]
    if code == LDX | IMM:
        return [(pc + 1, (acc, (_CONST, k), minlen, cons))]
    if code == _AND_K:
        if acc[0] == _CONST or not acc[3] & k:
            new: Acc = (_CONST, acc[1] & k if acc[0] == _CONST else 0, 0, 0)
        else:
            new = (_LOAD, acc[1], acc[2], acc[3] & k)
        return [(pc + 1, (new, idx, minlen, cons))]
    if code == _JA:
        return [(pc + 1 + k, st)]
    if code not in (_JEQ_K, _JGT_K, _JGE_K, _JSET_K):
        raise _Outside(f"instruction {pc}: opcode {code:#04x} is outside the class")
    op = code & 0xF0
    if jt == jf:
        return [(pc + 1 + jt, st)]
    if acc[0] == _CONST:
        return [(pc + 1 + (jt if _const_taken(op, acc[1], k) else jf), st)]
    taken, not_taken = branch_atoms(op, acc[1], acc[2], acc[3], k)
    # a branch whose target accepts every packet at once makes the other branch's own
    # condition redundant in the union: (R and C) or (R and not C and S) is
    # (R and C) or (R and S), since R and C and S lies inside R and C
    always: Alternatives = [(acc[1], acc[2], 0, 0)]
    if taken and _accepts_at_once(program, pc + 1 + jf, acc):
        taken = always
    if not_taken and _accepts_at_once(program, pc + 1 + jt, acc):
        not_taken = always
    out = []
    for target, alternatives in ((pc + 1 + jt, taken), (pc + 1 + jf, not_taken)):
        for offset, size, mask, value in alternatives:
            r = _with(minlen, cons, offset, size, mask, value)
            if r is not None:
                out.append((target, (acc, idx, r[0], r[1])))
    return out


def _program(prog: object, what: str) -> Program:
    """``prog`` itself if it is exactly a program value (a tuple of tuples of four
    ``int``); else ValueError."""
    if type(prog) is not tuple or not all(
            type(i) is tuple and len(i) == 4 and all(type(f) is int for f in i) for i in prog):
        raise ValueError(f"{what}: a program is a tuple of (code, jt, jf, k) tuples of int")
    program: Program = prog
    return program


def recognize(prog: Program) -> DFilter | None:
    """FLT-9: the DFilter (``canonical``) accepting exactly the packets on which ``prog``
    returns non-zero, for programs of the recognized class; None for any other program
    (one that fails ``verify``, reaches an instruction outside the class, or needs more
    than ``MAX_STATES`` path states or ``MAX_CONJUNCTIONS`` accepting conjunctions). Never
    an approximation. A value that is not a program raises ValueError.

    The paths from pc 0 are followed pc by pc (verified jumps go forward), identical path
    states at a pc merged. A path carries A (a constant or ``load & mask``), X (a constant
    or the ``ldxb 4*([k]&0xf)`` nibble), its minimum length and its byte constraints. A
    conditional jump on a load splits the path per atom of ``branch_atoms``; an indirect
    load with X a nibble splits it over the 16 nibble values. ``why_not`` says why a
    program is not recognized."""
    found = _recognize(_program(prog, "recognize"))
    return None if isinstance(found, str) else found


def why_not(prog: Program) -> str | None:
    """FLT-9: why ``recognize(prog)`` is None, in words; None when it is not."""
    found = _recognize(_program(prog, "why_not"))
    return found if isinstance(found, str) else None


def _recognize(program: Program) -> DFilter | str:
    rejections = verify(program)
    if rejections:
        return f"not verified: {rejections[0]}"
    n = len(program)
    incoming: list[dict[PathState, None]] = [{} for _ in range(n)]
    incoming[0][((_CONST, 0, 0, 0), (_CONST, 0), 0, ())] = None
    created = 1
    accepted: dict[tuple[int, Cons], None] = {}
    try:
        for pc in range(n):
            states, incoming[pc] = incoming[pc], {}
            for st in states:
                for target, nxt in _step(program, pc, st):
                    if target == _ACCEPTED:
                        accepted[(nxt[2], nxt[3])] = None
                        if len(accepted) > MAX_CONJUNCTIONS:
                            return f"more than {MAX_CONJUNCTIONS} accepting conjunctions"
                    elif nxt not in incoming[target]:
                        incoming[target][nxt] = None
                        created += 1
                        if created > MAX_STATES:
                            return f"more than {MAX_STATES} path states"
    except _Outside as exc:
        return str(exc)
    return _canonical_of([(minlen, {o: (m, v) for o, m, v in cons})
                          for minlen, cons in accepted])


# --------------------------------------------------------------------------- Z3 check


def accepts_term(df: DFilter) -> Any:
    """FLT-9: ``accepts(df, p)`` as a Z3 formula over ``SYMBOLIC_PACKET`` (the packet FLT-6
    and FLT-7 ask about)."""
    pkt = SYMBOLIC_PACKET
    conjs = []
    for conj in _checked(df, "accepts_term"):
        atoms = []
        for a in conj:
            word = pkt.load(z3.BitVecVal(a.offset, 32), a.size)
            atoms.append(z3.And(z3.Not(pkt.out_of_bounds(a.offset, a.size)),
                                word & a.mask == a.value))
        conjs.append(z3.And(*atoms) if atoms else z3.BoolVal(True))
    return z3.Or(*conjs) if conjs else z3.BoolVal(False)


def agrees(prog: Program, df: DFilter) -> bool | bytes | Undecided:
    """FLT-9: Z3's answer to "for every packet of at most ``MAX_PACKET`` bytes,
    ``evaluate(prog, p) != 0`` exactly when ``accepts(df, p)``", asked as FLT-7 asks its
    questions (``FILTER_RLIMIT``, a context of its own, a short witness preferred): True
    when proved; else a packet on which they differ, replayed on both (a packet that does
    not replay raises ``WitnessError``); ``UNDECIDED`` when Z3 decides neither. ``prog``
    must pass ``verify`` (else ValueError)."""
    program = _program(prog, "agrees")
    if verify(program):
        raise ValueError("agrees: the program does not pass the verifier")
    term = accepts_term(df)
    found = _solve(z3.Xor(verdict_term(program) != z3.BitVecVal(0, 32), term))
    if found is None:
        return True
    if isinstance(found, Undecided):
        return found
    if (evaluate(program, found) != 0) == accepts(df, found):
        raise WitnessError("agrees: the counterexample does not replay")
    return found


# --------------------------------------------------------------------------- NET-1


def recognized(program: Program) -> DFilter | None:
    """``recognize``, once per program value (NET-1 asks it of every pair). The value is
    checked before the cache is asked: ``(True, 0, 0, 1)`` hashes and compares like
    ``(1, 0, 0, 1)``, and must not find its answer (ValueError, as ``recognize``)."""
    return _recognized(_program(program, "recognized"))


@lru_cache(maxsize=8192)
def _recognized(program: Program) -> DFilter | None:
    return recognize(program)


PAIR_RLIMIT = 200_000
"""NET-1, FLT-9 *Deciding two programs*: Z3's budget for a pair that FLT-9 does not decide
(a fifth of ``FILTER_RLIMIT``; each check for a shorter witness gets a quarter of it). It
bounds what one installed filter can make another environment's ``filter_install`` pay:
every pair of the bundled tcpdump corpus is decided within 93,000 steps."""

PAIR_WEIGHT = 64
"""NET-1, FLT-9 *Deciding two programs*: the largest ``solver_weight`` (FLT-6) of a pair
that is given to Z3. A heavier pair is ``UNDECIDED`` without a question: the work its terms
cost before Z3 counts a step grows with the weight (570 chained divisions: 4.6 s before
the 100,000th step)."""


def program_overlap(a: Program, b: Program) -> Overlap:
    """FLT-9 *Deciding two programs*, the check NET-1 makes of a pair of verified
    programs. They are asked in one order, the smaller program tuple first. When
    ``recognize`` gives a DFilter for both, ``overlap`` of the two DFilters decides,
    exactly: ``(0, witness)`` or None, never ``UNDECIDED``; the witness is replayed on
    ``evaluate`` against both programs (a witness that does not replay is a bug of the
    recognizer and raises ``WitnessError``). Otherwise FLT-6 decides (Z3, within
    ``PAIR_RLIMIT``) when the two programs' ``solver_weight`` together is at most
    ``PAIR_WEIGHT``; a heavier pair is undecided without asking (``Undecided`` with its
    weight). Cached per pair."""
    a, b = _program(a, "program_overlap"), _program(b, "program_overlap")
    return _program_overlap(*((a, b) if a <= b else (b, a)))


@lru_cache(maxsize=65536)
def _program_overlap(first: Program, second: Program) -> Overlap:
    da, db = recognized(first), recognized(second)
    if da is None or db is None:
        weight = solver_weight(first) + solver_weight(second)
        if weight > PAIR_WEIGHT:
            return Undecided(PAIR_RLIMIT, weight)
        return _overlap(first, (second,), PAIR_RLIMIT)
    packet = overlap(da, db)
    if packet is None:
        return None
    if evaluate(first, packet) == 0 or evaluate(second, packet) == 0:
        raise WitnessError("program_overlap: the FLT-9 witness does not replay on both "
                           "programs (a recognizer bug)")
    return 0, packet
