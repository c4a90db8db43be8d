"""Proof obligations about packet filters themselves (spec/filters.md), for every program.

* ``flt/FLT-5/termination``: for any instruction of any verified program of any length,
  the next pc is strictly greater and still inside the program; so a verified program
  stops within its length in steps. Stated over symbolic fields (code kind, jt, jf, k), pc
  and length, with the verifier's own ``jump_ok`` and the interpreter's own ``next_pc``.
* ``flt/FLT-4/bounds-abs`` and ``flt/FLT-4/bounds-ind``: a load the interpreter lets
  through (its out-of-bounds test is false) reads only bytes inside the packet — checked
  against the mathematical offset, so a wrapping 32-bit test would be caught. Any packet
  length, any X, any offset the verifier admits (FLT-3.1), every load size.
"""

from __future__ import annotations

from typing import Any

import z3

from exo.model import filters

LEMMAS = ("flt/FLT-5/termination", "flt/FLT-4/bounds-abs", "flt/FLT-4/bounds-ind")


def build_lemma(name: str) -> tuple[list[Any], Any, dict[str, Any]]:
    """Hypotheses, negated goal, and the named constants of lemma ``name``."""
    if name == "flt/FLT-5/termination":
        pc, n, jt, jf, k = z3.Ints("pc n jt jf k")
        is_ja, is_cond, taken = z3.Bools("is_ja is_cond taken")
        hyps = [0 <= pc, pc < n, n <= filters.MAX_INSNS, 0 <= jt, jt <= 255, 0 <= jf,
                jf <= 255, 0 <= k, k < filters.PC_MODULUS, z3.Not(z3.And(is_ja, is_cond)),
                filters.jump_ok(is_ja, is_cond, jt, jf, k, pc, n),
                # the last instruction is a return (FLT-2.7): a fall-through is not last
                z3.Or(is_ja, is_cond, pc < n - 1)]
        nxt = filters.next_pc(is_ja, is_cond, jt, jf, k, pc, taken)
        goal = z3.Not(z3.And(pc < nxt, nxt < n))
        named = {"pc": pc, "n": n, "jt": jt, "jf": jf, "k": k, "is_ja": is_ja,
                 "is_cond": is_cond, "taken": taken, "next_pc": nxt}
        return hyps, goal, named
    indirect = name.endswith("ind")
    x = z3.BitVec("x", 32)
    k = z3.BitVec("k", 32)
    pkt = filters.Packet.symbolic("lemma")
    size = z3.Int("size")
    bounds_hyps: list[Any] = [z3.ULT(k, 1 << 31), z3.Or(size == 1, size == 2, size == 4)]
    goals = []
    for sz in (1, 2, 4):
        # the interpreter's own offset: X + k for indirect loads, k for absolute ones
        off = filters.indirect_offset(x, k) if indirect else k
        passed = z3.Not(pkt.out_of_bounds(off, sz))
        # the mathematical end of the read, in 64 bits where nothing wraps
        start = z3.ZeroExt(32, k) + (z3.ZeroExt(32, x) if indirect else 0)
        goals.append(z3.And(size == sz, passed,
                            z3.UGT(start + sz, z3.ZeroExt(32, pkt.length))))
    named = {"x": x, "k": k, "size": size, "length": pkt.length}
    return bounds_hyps, z3.Or(*goals), named


def replay(name: str, values: dict[str, Any]) -> bool:
    """Re-check a counterexample to lemma ``name`` with Python values through the same
    functions (True: the violation is confirmed)."""
    if name == "flt/FLT-5/termination":
        v = values
        ok = filters.jump_ok(v["is_ja"], v["is_cond"], v["jt"], v["jf"], v["k"], v["pc"],
                             v["n"])
        nxt = filters.next_pc(v["is_ja"], v["is_cond"], v["jt"], v["jf"], v["k"], v["pc"],
                              v["taken"])
        return bool(ok) and not (v["pc"] < nxt < v["n"])
    x = values["x"] if name.endswith("ind") else 0
    off = filters.indirect_offset(x, values["k"]) if name.endswith("ind") else values["k"]
    pkt = filters.Packet(values["length"], b"")
    size = values["size"]
    return not pkt.out_of_bounds(off, size) and x + values["k"] + size > values["length"]


def model_values(model: z3.ModelRef, named: dict[str, Any]) -> dict[str, Any]:
    """The named constants of a lemma in a Z3 model, as Python values."""
    out: dict[str, Any] = {}
    for key, term in named.items():
        v = model.eval(term, model_completion=True)
        out[key] = (z3.is_true(v) if z3.is_bool(v) else v.as_long())
    return out
