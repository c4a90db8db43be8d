"""CrossHair targets: small pure functions of the implementation under PEP 316 contracts,
and (reference interpreter, generated code) pairs for ``crosshair diffbehavior``.

Run by ``tests/test_crosshair.py`` (bounded, in CI) and ``scripts/crosshair.sh`` (longer
bounds, by hand). Every function here is pure and small so that CrossHair's symbolic
execution can cover it within a few seconds:

* slot functions ``tlb_index``/``stlb_index`` (TLB-6/TLB-7): the slot is in ``[0, n)``
  and depends only on the residues of ``cid``/``vpage`` modulo ``n``;
* rights checks (MEM-6): ``rights_ok``/``needed``/``in_range`` and the monotonicity of
  "holds the right an access needs" in the held right;
* atom matching (``impl.demux._atom_expr``): the generated boolean expression of an atom
  equals evaluating a small BPF program testing the same atom with the reference
  interpreter ``exo.model.filters.evaluate``;
* ``ref_<name>``/``gen_<name>``: for a few corpus filters, the reference interpreter and
  the per-filter compiled function (``impl.demux.compile_program``) of the same program.
  ``gen_broken_tcp_port_80_ipv4`` is deliberately wrong (off by one on packets longer
  than 20 bytes) so the tests can show ``diffbehavior`` is not vacuous.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path

from exo.impl.demux import Atom, Key, _atom_expr, compile_program
from exo.impl.ops import in_range, needed, rights_ok
from exo.interface import Rights, stlb_index, tlb_index
from exo.model.filters import Insn, Program, evaluate, parse_ddd

CONTRACT_NAMES = (Rights,)
"""Names the docstring contracts below refer to."""

CORPUS_PATH = Path(__file__).resolve().parent / "data" / "bpf_corpus.json"

# --------------------------------------------------------------------------- slot functions


def tlb_slot_in_range(cid: int, vpage: int, n: int) -> int:
    """TLB-6: the hardware TLB slot of ``(cid, vpage)`` lies in ``[0, n)``.

    pre: n > 0
    post: 0 <= __return__ < n
    """
    return tlb_index(cid, vpage, n)


def stlb_slot_in_range(cid: int, vpage: int, n: int) -> int:
    """TLB-7: the STLB slot of ``(cid, vpage)`` lies in ``[0, n)``.

    pre: n > 0
    post: 0 <= __return__ < n
    """
    return stlb_index(cid, vpage, n)


def stlb_slot_periodic(cid: int, vpage: int, n: int) -> int:
    """TLB-7: the STLB slot depends only on ``cid`` and ``vpage`` modulo ``n``.

    pre: n > 0
    post: __return__ == stlb_index(cid % n, vpage % n, n)
    """
    return stlb_index(cid, vpage, n)


def tlb_slot_periodic(cid: int, vpage: int, n: int) -> int:
    """TLB-6: the TLB slot depends only on ``cid`` and ``vpage`` modulo ``n``.

    pre: n > 0
    post: __return__ == tlb_index(cid % n, vpage % n, n)
    """
    return tlb_index(cid, vpage, n)


def stlb_slot_next_vpage(cid: int, vpage: int, n: int) -> int:
    """TLB-7: consecutive virtual pages of one context take consecutive slots (mod n).

    pre: n > 0
    post: stlb_index(cid, vpage + 1, n) == (__return__ + 1) % n
    """
    return stlb_index(cid, vpage, n)


# --------------------------------------------------------------------------- rights checks


def range_check(k: int, n: int) -> bool:
    """``in_range`` is exactly ``0 <= k < n``.

    post: __return__ == (0 <= k and k < n)
    """
    return in_range(k, n)


def capability_right(r: int) -> bool:
    """MEM-6: a capability may carry READ or READWRITE and nothing else.

    post: __return__ == (r == Rights.READ or r == Rights.READWRITE)
    """
    return rights_ok(r)


def needed_right(write: bool) -> int:
    """MEM-6: an access needs a right a capability may carry; writing needs READWRITE.

    post: rights_ok(__return__)
    post: __return__ == (Rights.READWRITE if write else Rights.READ)
    post: needed(False) <= __return__
    """
    return needed(write)


def access_allowed(held: int, write: bool) -> bool:
    """MEM-6: the access check, ``held >= needed(write)`` as ``tlbwr``/``cap_valid`` do.

    post: __return__ == (held >= needed(write))
    post: implies(__return__, access_allowed(held + 1, write))
    post: implies(write and __return__, access_allowed(held, False))
    """
    return held >= needed(write)


def implies(a: bool, b: bool) -> bool:
    """Material implication (a helper for the contracts above)."""
    return (not a) or b


# --------------------------------------------------------------------------- atom matching

# BPF opcodes (linux/filter.h): LD|W/H/B|ABS, LD|W/H/B|IND, LD|W|LEN, LDX|B|MSH, ALU|AND|K,
# JMP|JEQ/JGT/JGE|K, RET|K.
_LD_ABS = {4: 0x20, 2: 0x28, 1: 0x30}
_LD_IND = {4: 0x40, 2: 0x48, 1: 0x50}
_LD_LEN, _LDX_MSH, _AND_K, _RET_K = 0x80, 0xB1, 0x54, 0x06
_JEQ, _JGT, _JGE = 0x15, 0x25, 0x35
# op -> (jump, accept when the jump is taken)
_JUMP = {"eq": (_JEQ, True), "ne": (_JEQ, False), "gt": (_JGT, True), "le": (_JGT, False),
         "ge": (_JGE, True), "lt": (_JGE, False)}
_FULL = {1: 0xFF, 2: 0xFFFF, 4: 0xFFFFFFFF}

# Field keys (kind, offset, size, msh_offset, mask) as the demux builds them from the
# corpus: the ethertype, the IPv4 fragment field, the IP protocol byte, a TCP port behind
# the IP header (indirect), a 32-bit word, and the packet length.
ATOM_KEYS: tuple[Key, ...] = (
    (0, 12, 2, 0, 0xFFFF),
    (0, 20, 2, 0, 0x1FFF),
    (0, 23, 1, 0, 0xFF),
    (1, 16, 2, 14, 0xFFFF),
    (0, 26, 4, 0, 0xFFFFFFFF),
    (2, 0, 4, 0, 0xFFFFFFFF),
)
ATOM_OPS = ("eq", "ne", "gt", "le", "ge", "lt", "inb")
ATOM_CONSTS = (0, 1, 6, 80, 0x800, 0x1FFF, 0xFFFF)


def atom_program(atom: Atom) -> Program:
    """A BPF program accepting (returning 1) exactly the packets on which ``atom`` holds."""
    (kind, off, size, m, mask), op, c = atom
    load: list[Insn]
    if kind == 2:
        load = [(_LD_LEN, 0, 0, 0)]
    elif kind == 0:
        load = [(_LD_ABS[size], 0, 0, off)]
    else:
        load = [(_LDX_MSH, 0, 0, m), (_LD_IND[size], 0, 0, off)]
    if mask != _FULL[size]:
        load.append((_AND_K, 0, 0, mask))
    if op == "inb":
        return (*load, (_RET_K, 0, 0, 1))
    jump, taken = _JUMP[op]
    jt, jf = (0, 1) if taken else (1, 0)
    return (*load, (jump, jt, jf, c), (_RET_K, 0, 0, 1), (_RET_K, 0, 0, 0))


@cache
def _atom_fn(atom: Atom) -> Callable[[bytes, int], bool]:
    src = f"lambda p, n: bool({_atom_expr(atom)})"
    fn: Callable[[bytes, int], bool] = eval(compile(src, "<atom>", "eval"), {})
    return fn


def atom_matches(key: int, op: int, const: int, packet: bytes) -> bool:
    """The demux's generated test of one atom (``_atom_expr``) equals running the atom as
    a BPF program through the reference interpreter (out of bounds: the atom is false).

    pre: 0 <= key < len(ATOM_KEYS)
    pre: 0 <= op < len(ATOM_OPS)
    pre: 0 <= const < len(ATOM_CONSTS)
    pre: len(packet) <= 64
    post: __return__ == (evaluate(atom_program(atom_of(key, op, const)), packet) != 0)
    """
    return _atom_fn(atom_of(key, op, const))(packet, len(packet))


def atom_of(key: int, op: int, const: int) -> Atom:
    """The atom named by indices into ``ATOM_KEYS``/``ATOM_OPS``/``ATOM_CONSTS``."""
    return (ATOM_KEYS[key], ATOM_OPS[op], ATOM_CONSTS[const])


CONTRACTS: tuple[str, ...] = (
    "tlb_slot_in_range", "stlb_slot_in_range", "tlb_slot_periodic", "stlb_slot_periodic",
    "stlb_slot_next_vpage", "range_check", "capability_right", "needed_right",
    "access_allowed", "atom_matches",
)
"""The functions ``crosshair check`` must find no counterexample for."""


def broken_stlb_slot(cid: int, vpage: int, n: int) -> int:
    """Deliberately wrong (modulus off by one), never in ``CONTRACTS``: ``crosshair check``
    must report it, which shows the contract check is not vacuous.

    pre: n > 0
    post: 0 <= __return__ < n
    """
    return (vpage + 7 * cid + 1) % (n + 1)


# --------------------------------------------------------------------------- diffbehavior pairs


@cache
def corpus_program(expr: str) -> Program:
    """The optimized (``tcpdump -ddd``) program of corpus filter ``expr``."""
    for entry in json.loads(CORPUS_PATH.read_text()):
        if entry["expr"] == expr:
            return parse_ddd(entry["ddd"])
    raise KeyError(expr)


@cache
def compiled(expr: str) -> Callable[[bytes], int]:
    """The impl's per-filter compiled function for corpus filter ``expr``."""
    return compile_program(corpus_program(expr))


PAIRS: dict[str, str] = {
    "tcp_port_80": "tcp port 80",
    "udp_dhcp": "udp and (port 67 or port 68)",
    "ip_fragment": "ip[6:2] & 0x1fff != 0",
    "tcp_syn": "tcp[tcpflags] & tcp-syn != 0",
}
"""Pair name -> corpus expression; each has ``ref_<name>`` and ``gen_<name>`` below."""


def ref_tcp_port_80(packet: bytes) -> int:
    return evaluate(corpus_program(PAIRS["tcp_port_80"]), packet)


def gen_tcp_port_80(packet: bytes) -> int:
    return compiled(PAIRS["tcp_port_80"])(packet)


def ref_udp_dhcp(packet: bytes) -> int:
    return evaluate(corpus_program(PAIRS["udp_dhcp"]), packet)


def gen_udp_dhcp(packet: bytes) -> int:
    return compiled(PAIRS["udp_dhcp"])(packet)


def ref_ip_fragment(packet: bytes) -> int:
    return evaluate(corpus_program(PAIRS["ip_fragment"]), packet)


def gen_ip_fragment(packet: bytes) -> int:
    return compiled(PAIRS["ip_fragment"])(packet)


def ref_tcp_syn(packet: bytes) -> int:
    return evaluate(corpus_program(PAIRS["tcp_syn"]), packet)


def gen_tcp_syn(packet: bytes) -> int:
    return compiled(PAIRS["tcp_syn"])(packet)


IPV4_PREFIX = bytes(12) + b"\x08\x00" + b"\x45" + bytes(5)
"""Ethernet header with ethertype IPv4 and the first 6 bytes of an IPv4 header (IHL 5):
the ``*_ipv4`` pairs append a symbolic tail from byte 20 (fragment field, protocol,
addresses, ports), so CrossHair's few paths reach the filters' deeper branches."""


def ref_tcp_port_80_ipv4(tail: bytes) -> int:
    return evaluate(corpus_program(PAIRS["tcp_port_80"]), IPV4_PREFIX + tail)


def gen_tcp_port_80_ipv4(tail: bytes) -> int:
    return compiled(PAIRS["tcp_port_80"])(IPV4_PREFIX + tail)


def ref_udp_dhcp_ipv4(tail: bytes) -> int:
    return evaluate(corpus_program(PAIRS["udp_dhcp"]), IPV4_PREFIX + tail)


def gen_udp_dhcp_ipv4(tail: bytes) -> int:
    return compiled(PAIRS["udp_dhcp"])(IPV4_PREFIX + tail)


PREFIXED_PAIRS: tuple[str, ...] = ("tcp_port_80_ipv4", "udp_dhcp_ipv4")
"""Pairs over ``IPV4_PREFIX + tail`` (``ref_<name>(tail)``/``gen_<name>(tail)``)."""


def gen_broken_tcp_port_80_ipv4(tail: bytes) -> int:
    """Deliberately wrong: one more than the real answer on packets longer than 20 bytes
    (``IPV4_PREFIX`` is 20 bytes, so: on any non-empty tail)."""
    packet = IPV4_PREFIX + tail
    value = compiled(PAIRS["tcp_port_80"])(packet)
    return value + 1 if len(packet) > 20 else value
