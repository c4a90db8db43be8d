"""Packet demultiplexing over downloaded classic-BPF filters, DPF style (spec/filters.md).

``Demux.classify(packet)`` answers: the owner of the first filter, in slot order, whose
program returns non-zero on ``packet`` (libpcap semantics: a load past the end of the
packet makes the *whole* filter return 0; division or modulo by X == 0 returns 0), or -1.
It must equal running the reference interpreter on every installed filter in slot order.
Programs are assumed to have passed the verifier before ``add``; nothing of the verifier
is re-implemented here, and this module imports nothing from the model.

How a packet is classified — all of it is generated Python source, compiled with
``compile()`` whenever the filter set changed (with a checker: at once, in ``add`` and
``remove``; without: lazily, at the next ``classify``), and returned verbatim by
``Demux.source()``:

1. **Per-filter code (the fallback, any verified program).** Each program becomes one
   straight-line function ``_f<slot>(p)``: one block per basic block, guarded by
   ``if L == <leader>:`` (jumps only go forward, so one pass in order is complete), every
   load preceded by its bounds check ``if n < end: return 0`` (the whole filter returns
   0), ``X == 0`` checked before division/modulo, 32-bit wrap-around on arithmetic. It
   returns exactly the reference's value, not only accept/reject.

2. **Merged trie (the mergeable subset).** A program is *merged* when symbolic execution
   of every path through it (at most ``MAX_PATHS`` accepting paths) uses only:
   ``ld{b,h,w} [k]``, ``ldxb 4*([k]&0xf)`` followed by ``ld{b,h,w} [x+k]``, ``ld len``,
   ``and #k`` on a loaded field, ``jeq/jgt/jge/jset #k`` on a (masked) field, ``ja`` and
   ``ret #k``. That covers tcpdump's ``port N``, ``[tcp|udp] [src|dst] port N``,
   ``portrange``, ``ether proto``, ``ip proto``, ``host``, ``net``, ``arp``, ``vlan``,
   ``greater``/``less`` and the optimized *and* unoptimized forms of most of them.
   Anything else (scratch memory, arithmetic, ``tax``/``txa``, ``ret a``, jumps on X, a
   test of A before any load, too many paths) uses the fallback.

   Each accepting path is a conjunction of *atoms* ``(field, mask, op, const)`` where a
   field is ``[k:size]``, ``[4*([m]&0xf)+k:size]`` or ``len``, plus an ``inb`` atom for
   every load the path executes. Every atom is a total predicate that is **false when its
   load is out of bounds**, so a path is a pure conjunction, its atoms may be tested in
   any order, and the filter accepts exactly when one of its accepting paths holds: the
   run of the program follows one path; if a load on it is out of bounds, that path needs
   it in bounds and every other path contradicts an earlier test of the run. This is
   where libpcap issue #430 is avoided: the optimizer there moved a load of one
   disjunct across another's out-of-bounds abort; here every path keeps the bounds
   checks of its own loads, and disjuncts never share an abort. Exact simplifications
   only: duplicate atoms dropped, paths with ``f == a`` and ``f == b`` (a != b) or
   ``f == a`` and ``f != a`` dropped, an ``inb`` implied by a load reaching further in the
   same path dropped, and ``f != c`` in a path replaced by ``inb(f)`` when another path of
   the same filter is a subset plus ``f == c`` (absorption: ``X∧e ∨ X∧¬e∧Y == X∧e ∨
   X∧Y``).

   **Declarative filters first.** Given FLT-9's recognizer (``declarative``; the bundled
   kernel passes ``exo.impl.filtercheck.declarative_form``), a program it recognizes is
   merged as its DFilter, DPF's form: each conjunction is a path, each atom
   ``[offset:size] & mask == value`` the equality atom on that field and a length atom
   (``mask == 0``) an ``inb`` atom (``declarative_paths``) — when that is no wider than
   the reading above. FLT-9's atoms sit at fixed offsets, so a field behind the IPv4
   header length is one conjunction per possible length: on the tcpdump corpus ``tcp
   port 80`` is 32 conjunctions against 4 paths read here (an indirect field stands for
   all the offsets), ``port 22`` 96 against 12, and those keep the reading. Fixed-offset
   filters (EtherType, IP protocol, ARP, addresses, the benchmark's port filters) are as
   narrow either way and go in from their DFilter: the form NET-1 decides overlap on,
   with the same FLT-8 check over the trie built from it (``declarative_slots``).

   The equality atoms of each path, sorted by ``(kind, offset, size, mask)``, are
   inserted into a trie: a node tests one field key per branch and dispatches through a
   hash table (``dict``) on the masked value; a field out of bounds skips the whole
   branch (every path below needs it). The remaining atoms (``!=``, ``>``, ``inb`` ...)
   are residual tests at the node where the path ends. ``classify`` takes the minimum
   slot over every satisfied path of the trie, then tries fallback filters with a lower
   slot, in slot order.

How equality with the reference is checked (FLT-8): the bundled kernel gives its
``Demux`` a checker, ``exo.proofs.demux.check_source`` (through ``exo.impl.filtercheck``),
which proves each generated module equal to the model's interpreter with Z3 — for every
packet, by symbolic execution of the generated text itself — when the filter set
changes, under a deterministic budget, before the module classifies a packet. A module
that is not proved (a finding, ``unknown``, the budget exhausted, any exception of the
checker) is never used: ``classify`` then runs ``interpret``, the plain BPF interpreter,
on each filter in slot order; it never calls the checker. ``tests/test_demux.py`` also
runs ``classify`` against the reference interpreter on corpus programs, port-filter sets
of 10 to 1000, random programs, scapy frames, their truncations and random bytes, and
the #430 witness; ``tests/test_demux_check.py`` shows the check refuting broken modules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

Insn = tuple[int, int, int, int]
Program = tuple[Insn, ...]

MASK32 = 0xFFFFFFFF
MAX_PATHS = 64
"""A program with more accepting paths than this is not merged (fallback)."""
MAX_STEPS = 20000
"""Symbolic-execution budget (instructions over all paths) before giving up on merging."""
MAX_EQ_ATOMS = 16
"""A path with more equality atoms than this is not merged (keeps nesting shallow)."""
MAX_PATH_ATOMS = 256
"""A program with a path of more atoms than this is not merged (bounds the install-time
cost of ``decompose``: each step compares a new atom with those of its path)."""
SMALL_TABLE = 3
"""Up to this many values a trie branch is an if/elif chain, above it a dict lookup."""
NONE = 1 << 62
"""'No accepting slot yet' in generated code (larger than any slot)."""

# classic BPF encoding (linux/filter.h)
_LD, _LDX, _ST, _STX, _ALU, _JMP, _RET, _MISC = range(8)
_SIZES = {0x00: 4, 0x08: 2, 0x10: 1}
_ABS, _IND, _MEM, _LEN, _MSH, _IMM = 0x20, 0x40, 0x60, 0x80, 0xA0, 0x00
_FULL = {1: 0xFF, 2: 0xFFFF, 4: MASK32}


class UnsupportedProgram(ValueError):
    """The program uses an encoding the verifier would have refused."""


# --------------------------------------------------------------------------- per-filter code


def _load_expr(base: str, size: int) -> str:
    """Big-endian load of ``size`` bytes at offset expression ``base`` (bounds checked
    before)."""
    def at(j: int) -> str:
        if j == 0:
            return f"p[{base}]"
        if base.isdigit():
            return f"p[{int(base) + j}]"
        return f"p[{base} + {j}]"
    if size == 1:
        return at(0)
    if size == 2:
        return f"({at(0)} << 8 | {at(1)})"
    return f"({at(0)} << 24 | {at(1)} << 16 | {at(2)} << 8 | {at(3)})"


def _leaders(prog: Program) -> list[int]:
    n = len(prog)
    out = {0}
    for pc, (code, jt, jf, k) in enumerate(prog):
        cls = code & 7
        if cls == _JMP:
            targets = [pc + 1 + k] if code == _JMP else [pc + 1 + jt, pc + 1 + jf]
            out.update(targets)
            out.add(pc + 1)
        elif cls == _RET:
            out.add(pc + 1)
    return sorted(t for t in out if t < n)


def _insn_lines(prog: Program, pc: int) -> list[str]:
    """Python lines for the non-jump, non-return instruction at ``pc``."""
    code, _jt, _jf, k = prog[pc]
    cls = code & 7
    if cls in (_LD, _LDX):
        mode, size = code & 0xE0, _SIZES.get(code & 0x18, 0)
        reg = "A" if cls == _LD else "X"
        if cls == _LD and mode == _ABS and size:
            return [f"if n < {k + size}: return 0", f"A = {_load_expr(str(k), size)}"]
        if cls == _LD and mode == _IND and size:
            return [f"o = X + {k}", f"if n < o + {size}: return 0", f"A = {_load_expr('o', size)}"]
        if cls == _LDX and mode == _MSH and size == 1:
            return [f"if n < {k + 1}: return 0", f"X = (p[{k}] & 15) << 2"]
        if mode == _IMM and code & 0x18 == 0:
            return [f"{reg} = {k & MASK32}"]
        if mode == _LEN and code & 0x18 == 0:
            return [f"{reg} = n"]
        if mode == _MEM and code & 0x18 == 0 and k < 16:
            return [f"{reg} = M{k}"]
        raise UnsupportedProgram(f"instruction {pc}: load opcode {code:#06x}")
    if cls in (_ST, _STX) and code in (_ST, _STX) and k < 16:
        return [f"M{k} = {'A' if cls == _ST else 'X'}"]
    if code == _MISC:
        return ["X = A"]
    if code == _MISC | 0x80:
        return ["A = X"]
    if cls == _ALU:
        op, src_x = code & 0xF0, bool(code & 0x08)
        src = "X" if src_x else str(k)
        if op == 0x00:
            return [f"A = (A + {src}) & {MASK32}"]
        if op == 0x10:
            return [f"A = (A - {src}) & {MASK32}"]
        if op == 0x20:
            return [f"A = (A * {src}) & {MASK32}"]
        if op in (0x30, 0x90):
            sym = "//" if op == 0x30 else "%"
            if src_x:
                return ["if X == 0: return 0", f"A = A {sym} X"]
            return [f"A = A {sym} {k}" if k else "A = 0"]
        if op == 0x40:
            return [f"A = A | {src}"]
        if op == 0x50:
            return [f"A = A & {src}"]
        if op == 0xA0:
            return [f"A = A ^ {src}"]
        # shifts: the reference shifts by the constant k (shift by X is refused, FLT-3.2)
        if op == 0x60:
            return [f"A = (A << {k}) & {MASK32}"]
        if op == 0x70:
            return [f"A = A >> {k}"]
        if op == 0x80 and not src_x:
            return [f"A = (-A) & {MASK32}"]
    raise UnsupportedProgram(f"instruction {pc}: opcode {code:#06x}")


def _goto(prog: Program, target: int) -> str:
    """A jump to ``target``: returns are inlined, anything else sets the block label."""
    code, _jt, _jf, k = prog[target]
    if code == _RET:
        return f"return {k & MASK32}"
    if code == _RET | 0x10:
        return "return A"
    return f"L = {target}"


def program_source(prog: Program, name: str) -> str:
    """Straight-line Python for one verified program: ``def name(p) -> int`` returning
    what the reference interpreter returns."""
    n = len(prog)
    if n == 0:
        raise UnsupportedProgram("empty program")
    used_mem = sorted({k for code, _, _, k in prog if code in (_ST, _STX, _LD | _MEM,
                                                               _LDX | _MEM) and k < 16})
    lines = [f"def {name}(p):", "    n = len(p)", "    A = 0", "    X = 0", "    L = 0"]
    lines += [f"    M{k} = 0" for k in used_mem]
    leaders = _leaders(prog)
    for bi, start in enumerate(leaders):
        end = leaders[bi + 1] if bi + 1 < len(leaders) else n
        if prog[start][0] & 7 == _RET and start != 0:
            continue  # returns are inlined at every jump to them
        ind = "    "
        if start != 0:
            lines.append(f"    if L == {start}:")
            ind = "        "
        body: list[str] = []
        finished = False
        for pc in range(start, end):
            code, jt, jf, k = prog[pc]
            cls = code & 7
            if cls == _RET:
                body.append(_goto(prog, pc))
                finished = True
                break
            if cls == _JMP:
                if code == _JMP:
                    body.append(_goto(prog, pc + 1 + k))
                else:
                    op = code & 0xF0
                    src = "X" if code & 0x08 else str(k)
                    cond = {0x10: f"A == {src}", 0x20: f"A > {src}", 0x30: f"A >= {src}",
                            0x40: f"A & {src}"}.get(op)
                    if cond is None:
                        raise UnsupportedProgram(f"instruction {pc}: opcode {code:#06x}")
                    body += [f"if {cond}:", f"    {_goto(prog, pc + 1 + jt)}", "else:",
                             f"    {_goto(prog, pc + 1 + jf)}"]
                finished = True
                break
            body += _insn_lines(prog, pc)
        if not finished:
            if end >= n:
                raise UnsupportedProgram("last instruction is not a return")
            body.append(_goto(prog, end))
        lines += [ind + b for b in body]
    lines.append("    return 0  # unreachable for a verified program")
    return "\n".join(lines) + "\n"


def compile_program(prog: Program) -> Callable[[bytes], int]:
    """The per-filter compiled function of ``prog`` (its return value on a packet)."""
    ns: dict[str, object] = {}
    exec(compile(program_source(prog, "f"), "<bpf>", "exec"), ns)
    return cast(Callable[[bytes], int], ns["f"])


# --------------------------------------------------------------------------- the plain interpreter


def interpret(prog: Program, p: bytes) -> int:
    """FLT-4, FLT-8: what a verified ``prog`` returns on packet ``p``, by running it one
    instruction at a time — the fallback that needs no proof: a direct reading of the
    libpcap semantics (a load past the end returns 0 from the whole filter, division or
    modulo by X == 0 returns 0, 32-bit wrap-around, forward jumps only), nothing
    generated, no simplification. At most ``len(prog)`` steps."""
    n = len(p)
    a = x = 0
    mem = [0] * 16
    pc = 0
    while 0 <= pc < len(prog):
        code, jt, jf, k = prog[pc]
        cls = code & 7
        pc += 1
        if cls == _RET:
            return k & MASK32 if code == _RET else a
        if cls in (_LD, _LDX):
            mode, size = code & 0xE0, _SIZES.get(code & 0x18, 0)
            if mode in (_ABS, _IND) and cls == _LD:
                off = k + (x if mode == _IND else 0)
                if off + size > n:
                    return 0
                v = int.from_bytes(p[off:off + size], "big")
            elif mode == _MSH:
                if k + 1 > n:
                    return 0
                v = (p[k] & 15) << 2
            else:
                v = k & MASK32 if mode == _IMM else n if mode == _LEN else mem[k]
            if cls == _LD:
                a = v
            else:
                x = v
        elif cls in (_ST, _STX):
            mem[k] = a if cls == _ST else x
        elif cls == _MISC:
            if code & 0xF8 == 0x80:
                a = x
            else:
                x = a
        elif cls == _ALU:
            op, src = code & 0xF0, (x if code & 0x08 else k & MASK32)
            if op in (0x30, 0x90) and src == 0:
                if code & 0x08:
                    return 0
                a = 0
            elif op == 0x00:
                a = (a + src) & MASK32
            elif op == 0x10:
                a = (a - src) & MASK32
            elif op == 0x20:
                a = (a * src) & MASK32
            elif op == 0x30:
                a //= src
            elif op == 0x90:
                a %= src
            elif op == 0x40:
                a |= src
            elif op == 0x50:
                a &= src
            elif op == 0xA0:
                a ^= src
            elif op == 0x60:
                a = (a << k) & MASK32
            elif op == 0x70:
                a >>= k
            else:
                a = (-a) & MASK32
        elif code == _JMP:
            pc += k
        else:
            op, src = code & 0xF0, (x if code & 0x08 else k & MASK32)
            taken = (a == src if op == 0x10 else a > src if op == 0x20
                     else a >= src if op == 0x30 else (a & src) != 0)
            pc += jt if taken else jf
    return 0  # unreachable for a verified program


# --------------------------------------------------------------------------- decomposition

# A field key: (kind, offset, size, msh_offset, mask); kind 0 = [offset:size],
# 1 = [4*([msh_offset]&0xf) + offset : size], 2 = len (never out of bounds).
Key = tuple[int, int, int, int, int]
# An atom: (key, op, const); op one of "eq", "ne", "gt", "le", "ge", "lt", "inb".
Atom = tuple[Key, str, int]
Path = frozenset[Atom]

_NEG = {"eq": "ne", "ne": "eq", "gt": "le", "le": "gt", "ge": "lt", "lt": "ge"}


def _base(key: Key) -> Key:
    """The key with a full mask: what an ``inb`` atom is about."""
    kind, off, size, m, _ = key
    return (kind, off, size, m, _FULL[size])


def _reach(key: Key) -> int:
    return key[1] + key[2]


def _implies_inb(strong: Key, weak: Key) -> bool:
    """True if ``strong`` in bounds implies ``weak`` in bounds (x = 4*([m]&15) >= 0)."""
    if weak[0] == 2:
        return True
    if strong[0] == 2:
        return False
    if weak[0] == 0:
        # an indirect field reads [m] and reaches at least offset+size
        return _reach(strong) >= _reach(weak) or (strong[0] == 1 and strong[3] >= _reach(weak) - 1)
    return strong[0] == 1 and strong[3] == weak[3] and _reach(strong) >= _reach(weak)


def _simplify(path: set[Atom]) -> Path | None:
    """Exact simplification of one conjunction; None if it is unsatisfiable."""
    eqs: dict[Key, int] = {}
    for key, op, c in path:
        if op == "eq" and eqs.setdefault(key, c) != c:
            return None
    out = set(path)
    for atom in path:
        key, op, c = atom
        if op == "ne" and key in eqs:
            if eqs[key] == c:
                return None
            out.discard(atom)  # implied by the equality on the same field
    for atom in list(out):
        key, op, _ = atom
        if op == "inb" and any(o is not atom and (o[1] != "inb" or o[0] != key)
                               and _implies_inb(o[0], key) for o in out):
            out.discard(atom)
    return frozenset(out)


def _consistent(atoms: set[Atom], atom: Atom) -> bool:
    """False if ``atoms ∧ atom`` is plainly unsatisfiable: ``f == a`` with ``f == b``
    (a != b), or ``f == a`` with ``f != a``."""
    key, op, c = atom
    if op == "eq":
        return (key, "ne", c) not in atoms and not any(
            o[0] == key and o[1] == "eq" and o[2] != c for o in atoms)
    if op == "ne":
        return (key, "eq", c) not in atoms
    return True


@dataclass
class _State:
    pc: int
    a: Key | None  # the (masked) field in A, None: A holds no field
    x: int | None  # X = 4*([x]&0xf), None: X unknown
    atoms: set[Atom]


def decompose(prog: Program) -> list[Path] | None:
    """The accepting paths of ``prog`` as conjunctions of atoms, or None if the program is
    outside the mergeable subset (see the module docstring)."""
    paths: list[Path] = []
    seen: set[Path] = set()
    stack = [_State(0, None, None, set())]
    n = len(prog)
    steps = 0
    while stack:
        st = stack.pop()
        while True:
            steps += 1
            if steps > MAX_STEPS or not 0 <= st.pc < n or len(st.atoms) > MAX_PATH_ATOMS:
                return None
            code, jt, jf, k = prog[st.pc]
            cls = code & 7
            if cls == _RET:
                if code != _RET:
                    return None
                if k:
                    simple = _simplify(st.atoms)
                    if simple is not None and simple not in seen:
                        seen.add(simple)
                        paths.append(simple)
                        if len(paths) > MAX_PATHS:
                            return None
                break
            size = _SIZES.get(code & 0x18, 0)
            if cls == _LD and code & 0xE0 == _ABS and size:
                key: Key = (0, k, size, 0, _FULL[size])
                st.atoms.add((key, "inb", 0))
                st.a, st.pc = key, st.pc + 1
            elif cls == _LD and code & 0xE0 == _IND and size:
                if st.x is None:
                    return None
                key = (1, k, size, st.x, _FULL[size])
                st.atoms.add((key, "inb", 0))
                st.a, st.pc = key, st.pc + 1
            elif code == _LDX | 0x10 | _MSH:
                st.atoms.add(((0, k, 1, 0, 0xFF), "inb", 0))
                st.x, st.pc = k, st.pc + 1
            elif code == _LD | _LEN:
                st.a, st.pc = (2, 0, 4, 0, MASK32), st.pc + 1
            elif code == _ALU | 0x50 and st.a is not None:
                kind, off, sz, m, mask = st.a
                st.a, st.pc = (kind, off, sz, m, mask & k), st.pc + 1
            elif code == _JMP:
                st.pc += 1 + k
            elif cls == _JMP and not code & 0x08 and st.a is not None:
                op = code & 0xF0
                kind, off, sz, m, mask = st.a
                if op == 0x40:  # jset: (field & mask & k) != 0
                    atom_t: Atom = ((kind, off, sz, m, mask & k), "ne", 0)
                else:
                    name = {0x10: "eq", 0x20: "gt", 0x30: "ge"}.get(op)
                    if name is None:
                        return None
                    atom_t = (st.a, name, k)
                    if name == "eq" and k & ~mask:  # a masked field never equals k
                        atom_t = (st.a, "eq", -1)
                atom_f: Atom = (atom_t[0], _NEG[atom_t[1]], atom_t[2])
                if _consistent(st.atoms, atom_f):  # prune only plain contradictions
                    stack.append(_State(st.pc + 1 + jf, st.a, st.x, st.atoms | {atom_f}))
                if not _consistent(st.atoms, atom_t):
                    break
                st.atoms = st.atoms | {atom_t}
                st.pc += 1 + jt
            else:
                return None
    return _absorb(paths)


def _absorb(paths: list[Path]) -> list[Path]:
    """Exact absorption within one filter: ``X∧(f==c)`` and ``X∧(f!=c)∧Y`` in the same
    disjunction: the second becomes ``X∧inb(f)∧Y``."""
    current = list(dict.fromkeys(paths))
    changed = True
    while changed:
        changed = False
        for i, p2 in enumerate(current):
            for atom in p2:
                key, op, c = atom
                if op != "ne":
                    continue
                eq: Atom = (key, "eq", c)
                rest = p2 - {atom}
                if any(j != i and eq in p1 and p1 - {eq} <= rest for j, p1 in enumerate(current)):
                    simple = _simplify(set(rest) | {(_base(key), "inb", 0)})
                    assert simple is not None  # rest was satisfiable with p2
                    current[i] = simple
                    changed = True
                    break
            if changed:
                break
    return list(dict.fromkeys(current))


# --------------------------------------------------------------------------- FLT-9

DAtom = tuple[int, int, int, int]
"""FLT-9's atom as plain ints: ``(offset, size, mask, value)``."""
Recognizer = Callable[[Program], "tuple[tuple[DAtom, ...], ...] | None"]
"""FLT-9's ``recognize``, as plain tuples: a program's conjunctions of atoms, or None."""


def declarative_paths(form: tuple[tuple[DAtom, ...], ...]) -> list[Path] | None:
    """A DFilter's conjunctions as accepting paths of the trie: the atom ``[offset:size]
    & mask == value`` is the equality atom on that field (false when the field is out of
    bounds, as FLT-9's atom is), and one with ``mask == 0`` (a pure length condition) is
    the field's ``inb`` atom. None if an atom is not of FLT-9's shape."""
    paths: list[Path] = []
    for conj in form:
        atoms: set[Atom] = set()
        for offset, size, mask, value in conj:
            if size not in _FULL or not 0 <= mask <= _FULL[size] or value & ~mask:
                return None
            if mask == 0:
                atoms.add(((0, offset, size, 0, _FULL[size]), "inb", 0))
            else:
                atoms.add(((0, offset, size, 0, mask), "eq", value))
        simple = _simplify(atoms)
        if simple is not None and simple not in paths:
            paths.append(simple)
    return paths if len(paths) <= MAX_PATHS else None


# --------------------------------------------------------------------------- the trie


@dataclass
class _Node:
    terms: list[tuple[int, tuple[Atom, ...]]] = field(default_factory=list)
    branches: dict[Key, dict[int, _Node]] = field(default_factory=dict)

    def insert(self, eqs: list[tuple[Key, int]], slot: int, residual: tuple[Atom, ...]) -> None:
        node = self
        for key, value in eqs:
            node = node.branches.setdefault(key, {}).setdefault(value, _Node())
        node.terms.append((slot, residual))

    def leaf_slot(self) -> int | None:
        """The slot this node accepts unconditionally, if it is a plain leaf."""
        if self.branches or any(r for _, r in self.terms):
            return None
        return min(s for s, _ in self.terms)


def _field_code(key: Key, var: str, ind: str) -> tuple[list[str], str, str]:
    """Lines computing field ``key`` into ``var`` under its bounds check: (lines, the
    indentation of the in-bounds code, …). The caller appends the in-bounds code."""
    kind, off, size, m, mask = key
    masked = "" if mask == _FULL[size] else f" & {mask}"
    if kind == 2:
        return [f"{ind}{var} = n{masked}"], ind, var
    if kind == 0:
        load = _load_expr(str(off), size)
        return ([f"{ind}if n >= {off + size}:", f"{ind}    {var} = {load}{masked}"],
                ind + "    ", var)
    o = "o" + var
    load = _load_expr(o, size)
    return ([f"{ind}if n > {m}:", f"{ind}    {o} = ((p[{m}] & 15) << 2) + {off}",
             f"{ind}    if n >= {o} + {size}:", f"{ind}        {var} = {load}{masked}"],
            ind + "        ", var)


_PY_OP = {"eq": "==", "ne": "!=", "gt": ">", "le": "<=", "ge": ">=", "lt": "<"}


def _atom_expr(atom: Atom) -> str:
    """One residual atom as a Python boolean expression (false when out of bounds)."""
    (kind, off, size, m, mask), op, c = atom
    masked = "" if mask == _FULL[size] else f" & {mask}"
    if kind == 2:
        return "True" if op == "inb" else f"(n{masked}) {_PY_OP[op]} {c}"
    if kind == 0:
        bound = f"n >= {off + size}"
        value = f"({_load_expr(str(off), size)}{masked})"
    else:
        bound = f"n > {m} and n >= (_o := ((p[{m}] & 15) << 2) + {off}) + {size}"
        value = f"({_load_expr('_o', size)}{masked})"
    if op == "inb":
        return f"({bound})"
    return f"({bound} and {value} {_PY_OP[op]} {c})"


class _Gen:
    """Emits the merged trie as Python source."""

    def __init__(self) -> None:
        self.tables: list[str] = []
        self.funcs: list[str] = []
        self.count = 0

    def fresh(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def node(self, node: _Node, ind: str, depth: int) -> list[str]:
        lines: list[str] = []
        for slot, residual in sorted(node.terms, key=lambda t: t[0]):
            conds = " and ".join([f"b > {slot}", *(_atom_expr(a) for a in residual)])
            lines += [f"{ind}if {conds}:", f"{ind}    b = {slot}"]
        for key in sorted(node.branches):
            table = node.branches[key]
            var = f"v{depth}"
            head, inner, _ = _field_code(key, var, ind)
            body: list[str] = []
            values = sorted(table)
            if len(values) <= SMALL_TABLE:
                for i, value in enumerate(values):
                    body.append(f"{inner}{'if' if i == 0 else 'elif'} {var} == {value}:")
                    body += self.node(table[value], inner + "    ", depth + 1)
            else:
                leaves = {v: table[v].leaf_slot() for v in values}
                if all(s is not None for s in leaves.values()):
                    name = self.fresh("_D")
                    self.tables.append(f"{name} = {leaves!r}")
                    body += [f"{inner}s = {name}.get({var}, {NONE})",
                             f"{inner}if s < b:", f"{inner}    b = s"]
                else:
                    name = self.fresh("_T")
                    entries = []
                    for value in values:
                        fname = self.fresh("_n")
                        fbody = self.node(table[value], "    ", depth + 1)
                        self.funcs.append("\n".join([f"def {fname}(p, n, b):", *fbody,
                                                     "    return b"]))
                        entries.append(f"{value}: {fname}")
                    self.tables.append(f"{name} = {{{', '.join(entries)}}}")
                    body += [f"{inner}f = {name}.get({var})", f"{inner}if f is not None:",
                             f"{inner}    b = f(p, n, b)"]
            lines += head + body
        return lines


# --------------------------------------------------------------------------- the demux


@dataclass
class _Filter:
    owner: int
    program: Program
    paths: list[Path] | None  # None: not mergeable
    declarative: bool = False  # the paths are the program's DFilter (FLT-9)


Installed = list[tuple[int, int, Program]]
"""The installed filters as (slot, owner, program), in slot order."""
MergeCheck = Callable[[str, dict[int, str], dict[int, int]], "str | None"]
"""FLT-8 by parts: the merged module, each slot's part, the owners: None when the merged
module decides exactly what its parts decide (``exo.proofs.demux_merge.merge_problem``)."""
Checker = Callable[[str, Installed], object]
"""FLT-8: checks generated source against the filters it was made from; returns None when
the source is proved equal to the reference, else a finding (its ``str`` is the report)."""


class DemuxCheckFailed(RuntimeError):
    """FLT-8: the checker found a packet on which the generated source is wrong (a bug in
    this module; the source is not used). Raised only by ``source()``, never by
    ``classify``."""


class Demux:
    """Filters in numbered slots; ``classify`` gives the owner of the first accepting one.

    With ``check`` (FLT-8), the module is regenerated and handed to the checker *when the
    filter set changes* (``add``, ``remove``), with the filters the demux holds, before it
    is compiled. If the checker proves it, ``classify`` runs it; otherwise — a finding,
    ``None`` not returned, any exception of the checker (unsupported source, ``unknown``,
    budget exhausted) — ``classify`` runs the plain interpreter (``interpret``) on every
    filter in slot order, which needs no proof. ``classify`` itself never calls the
    checker and never raises. The bundled kernel passes ``KernelState.check_demux``: the
    Z3 translation validation of ``exo.proofs.demux`` (through ``exo.impl.filtercheck``)
    against the kernel's own filter table, and that table as ``table``: what the
    interpreter runs (a demux whose copy of a program is wrong is not trusted either).
    Without ``check`` the module is generated and
    compiled lazily at the next ``classify`` and used unchecked."""

    def __init__(self, check: Checker | None = None,
                 table: Callable[[], Installed] | None = None,
                 declarative: Recognizer | None = None,
                 merge: MergeCheck | None = None, disjoint: bool = False) -> None:
        self._declarative_form = declarative
        self._merge = merge
        self._disjoint = disjoint
        self._parts: dict[tuple[int, Program], str] = {}
        self._filters: dict[int, _Filter] = {}
        self._table = table
        self._plain: Installed = []
        self._decomposed: dict[Program, tuple[list[Path] | None, bool]] = {}
        self._source: str | None = None
        self._classify: Callable[[bytes], int] | None = None
        self._check = check
        self._verdicts: dict[tuple[str, tuple[tuple[int, int, Program], ...]], str | None] = {}
        self.fallback_reason: str | None = None
        """Why the current filter set runs on the interpreter (None: the proved module,
        or no checker)."""

    def add(self, slot: int, owner: int, program: tuple[Insn, ...]) -> None:
        """Install ``program`` (already verified) in ``slot`` for ``owner``, replacing what
        the slot held."""
        prog: Program = tuple((int(c), int(jt), int(jf), int(k)) for c, jt, jf, k in program)
        program_source(prog, "_check")  # refuses encodings the verifier would refuse
        if prog not in self._decomposed:
            self._decomposed[prog] = self._paths(prog)
        paths, declarative = self._decomposed[prog]
        self._filters[slot] = _Filter(owner, prog, paths, declarative)
        self._changed()

    def _paths(self, prog: Program) -> tuple[list[Path] | None, bool]:
        """The accepting paths to merge, and whether they are the program's DFilter
        (FLT-9): the DFilter's when the program is recognized and its conjunctions are no
        more than the paths ``decompose`` reads (or it reads none), else ``decompose``'s."""
        read = decompose(prog)
        if self._declarative_form is not None:
            try:
                form = self._declarative_form(prog)
            except Exception:  # a recognizer that fails: the reading alone
                form = None
            paths = declarative_paths(form) if form is not None else None
            if paths is not None and (read is None or len(paths) <= len(read)):
                return paths, True
        return read, False

    def remove(self, slot: int) -> None:
        """Empty ``slot`` (nothing happens if it is empty)."""
        if self._filters.pop(slot, None) is not None:
            self._changed()

    def merged_slots(self) -> list[int]:
        """The slots whose filter is in the merged trie (the rest use per-filter code)."""
        return sorted(s for s, f in self._filters.items() if f.paths is not None)

    def declarative_slots(self) -> list[int]:
        """The merged slots whose paths are their program's DFilter (FLT-9)."""
        return sorted(s for s, f in self._filters.items() if f.declarative)

    def installed(self) -> Installed:
        """The installed filters as (slot, owner, program), in slot order."""
        return [(s, f.owner, f.program) for s, f in sorted(self._filters.items())]

    def source(self) -> str:
        """The generated Python module: per-filter functions, trie and ``classify``.
        With a checker, raises ``DemuxCheckFailed`` when the module was not proved (the
        reason is ``fallback_reason``)."""
        if self._source is None:
            self._source = self._generate()
        if self._check is not None and self.fallback_reason is not None:
            raise DemuxCheckFailed(self.fallback_reason)
        return self._source

    def classify(self, packet: bytes) -> int:
        """The owner of the lowest-slot filter accepting ``packet``, or -1. Never runs the
        checker (FLT-8: it ran when the filter set changed)."""
        fn = self._classify
        if fn is None:
            fn = self._interpret if self._check is not None else self._compile(self.source())
            self._classify = fn
        return fn(packet)

    def _interpret(self, packet: bytes) -> int:
        """FLT-8's fallback: every filter in slot order through ``interpret`` — the
        filters the check was about (``table``'s, when given), not the demux's copy."""
        for _slot, owner, prog in self._plain:
            if interpret(prog, packet) != 0:
                return owner
        return -1

    @staticmethod
    def _compile(source: str) -> Callable[[bytes], int]:
        ns: dict[str, object] = {}
        exec(compile(source, "<demux>", "exec"), ns)
        return cast(Callable[[bytes], int], ns["classify"])

    def _changed(self) -> None:
        """The filter set changed: forget the module; with a checker, regenerate it and
        validate it now (FLT-8), so that ``classify`` never has to."""
        self._source = self._classify = None
        self.fallback_reason = None
        if self._check is None:
            return
        self._plain = sorted(self._table()) if self._table is not None else self.installed()
        self._classify = self._interpret  # until proved, and for good if not
        try:
            if self._merge is not None:
                self._by_parts()
                return
            source = self._source = self._generate()
            self.fallback_reason = self._verdict(source, self._plain)
            if self.fallback_reason is None:
                self._classify = self._compile(source)
        except Exception as e:  # any failure of generation or checker: not proved
            self.fallback_reason = f"FLT-8: not proved ({type(e).__name__}: {e})"
            self._classify = self._interpret

    def _verdict(self, source: str, filters: Installed) -> str | None:
        """The checker's finding on ``source`` against ``filters`` (None: proved; an
        exception of the checker is a finding too), cached per text and filters."""
        key = (source, tuple(filters))
        if key not in self._verdicts:
            if len(self._verdicts) >= 4096:
                self._verdicts.clear()
            assert self._check is not None
            try:
                finding = self._check(source, list(filters))
                verdict = None if finding is None else str(finding)
            except Exception as e:  # unknown, the budget, unsupported source: not proved
                verdict = f"FLT-8: not proved ({type(e).__name__}: {e})"
            self._verdicts[key] = verdict
        return self._verdicts[key]

    def part_source(self, slot: int) -> str:
        """FLT-8: the module this generator makes from the filter in ``slot`` alone, in
        that slot, with the slot as its owner (its *part*: it returns the slot when the
        filter accepts, else -1; cached per slot and program)."""
        flt = self._filters[slot]
        key = (slot, flt.program)
        part = self._parts.get(key)
        if part is None:
            if len(self._parts) >= 8192:
                self._parts.clear()
            part = self._parts[key] = self._generate({slot: slot})
        return part

    def _by_parts(self) -> None:
        """FLT-8 by parts. Each filter's part is proved against the kernel table's program
        for its slot (``check``, once per program: the install pays for its own filter).
        The merged module of the proved slots is then checked, with no solver, to decide
        exactly what their parts decide (``merge``), and compiled. A slot whose part is not
        proved is interpreted (``interpret``), alone; if the merge check does not pass,
        every slot is. No solver runs on another environment's filter."""
        assert self._merge is not None
        table = {slot: (owner, prog) for slot, owner, prog in self._plain}
        if sorted(table) != sorted(self._filters):
            self.fallback_reason = "FLT-8: the filter table and the demux hold other slots"
            return
        proved: list[int] = []
        findings: dict[int, str] = {}
        for slot in sorted(self._filters):
            finding = self._verdict(self.part_source(slot), [(slot, slot, table[slot][1])])
            if finding is None:
                proved.append(slot)
            else:
                findings[slot] = finding
        owners = {slot: table[slot][0] for slot in proved}
        interpreted = [(slot, table[slot][0], table[slot][1]) for slot in sorted(findings)]
        # with a slot interpreted the module must say which slot it found: it returns the
        # slot (its owner table is the identity) and classify maps it to the owner
        module_owners = owners if not interpreted else {slot: slot for slot in proved}
        source = self._source = self._generate(module_owners)
        try:
            problem = self._merge(source, {slot: self.part_source(slot) for slot in proved},
                                  module_owners)
        except Exception as e:  # outside the subset the merge check reads: not shown
            problem = f"the merge was not checked ({type(e).__name__}: {e})"
        if problem is not None:
            self.fallback_reason = f"FLT-8: {problem}"
            return
        compiled = self._compile(source)
        if not interpreted:
            self._classify = compiled
            return
        first = min(findings)
        self.fallback_reason = (f"FLT-8: slot(s) {sorted(findings)} interpreted; slot "
                                f"{first}: {findings[first]}")
        self._classify = self._combine(compiled, owners, interpreted)

    def _combine(self, compiled: Callable[[bytes], int], owners: dict[int, int],
                 interpreted: Installed) -> Callable[[bytes], int]:
        """``classify`` from the proved module (which returns the least proved slot that
        accepts, or -1) and the interpreted filters, in slot order. With ``disjoint``
        (INV-13: filters of different environments accept no packet in common) a packet a
        proved filter accepts is that filter owner's, whatever the interpreted filters
        say: they are not run. Without it, the interpreted filters of lower slots are run
        first, as first-match order wants."""
        disjoint = self._disjoint

        def classify(packet: bytes) -> int:
            found = compiled(packet)
            if found >= 0 and disjoint:
                return owners[found]
            for slot, owner, prog in interpreted:
                if 0 <= found < slot:
                    break
                if interpret(prog, packet) != 0:
                    return owner
            return owners[found] if found >= 0 else -1

        return classify

    def _generate(self, owners: dict[int, int] | None = None) -> str:
        """The module of the filters in the slots of ``owners`` (slot -> the owner the
        module returns), or of every filter with its own owner."""
        if owners is None:
            owners = {s: f.owner for s, f in sorted(self._filters.items())}
        root = _Node()
        fallback: list[int] = []
        for slot in sorted(owners):
            flt = self._filters[slot]
            if flt.paths is None:
                fallback.append(slot)
                continue
            for path in flt.paths:
                eqs = sorted((key, c) for key, op, c in path if op == "eq" and key[0] != 2)
                residual = tuple(sorted(a for a in path if a[1] != "eq" or a[0][0] == 2))
                if len(eqs) > MAX_EQ_ATOMS:
                    eqs, residual = [], tuple(sorted(path))
                root.insert(eqs, slot, residual)
        gen = _Gen()
        body = gen.node(root, "    ", 0)
        out = ['"""Generated by exo.impl.demux: do not edit."""', ""]
        for slot in fallback:
            out.append(program_source(self._filters[slot].program, f"_f{slot}"))
        out += [f + "\n" for f in gen.funcs]  # before the tables that name them
        out += gen.tables
        out.append(f"_OWNER = {dict(sorted(owners.items()))!r}")
        out += ["", "", "def classify(p):", "    n = len(p)", f"    b = {NONE}"]
        out += body
        for slot in fallback:
            out += [f"    if b > {slot} and _f{slot}(p):", f"        b = {slot}"]
        out.append("    return _OWNER.get(b, -1)")
        return "\n".join(out) + "\n"
