"""Two-state properties: relations between a pre-state, an operation's arguments, its
result and the post-state. The postconditions (spec/postconditions.py) and theorems
(spec/theorems.py) are lists of these; each is proved for the model's transition, for all
sizes, assuming only the invariants of the pre-state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from exo.interface import Result, Status
from exo.logic import And, BoolV, Implies, IntV, Not, forall
from exo.model.state import State, domains

Relation = Callable[[State, tuple[Any, ...], Result, State], BoolV]


@dataclass(frozen=True)
class TwoState:
    """A property of one operation's steps: ``holds(pre, args, result, post)``."""

    name: str  # e.g. "post/alloc/effect", "thm/T1/store"
    clause: str  # the spec clause it states
    op: str  # the operation it is about
    holds: Relation


def ok(res: Result) -> BoolV:
    """GEN-1: the operation succeeded."""
    return res.status == Status.OK


def same(pre: State, post: State, field: str) -> BoolV:
    """GEN-2: ``field`` has the same value in both states (maps: at every key of the domain)."""
    a, b = getattr(pre, field), getattr(post, field)
    dom = domains(pre.cfg).get(field)
    if dom is None:
        return a == b
    return forall(dom, lambda *k: b[k] == a[k], name=f"k_{field}_")


def unchanged(pre: State, post: State, fields: list[str]) -> BoolV:
    """GEN-2: every field in ``fields`` keeps its value."""
    return And(*[same(pre, post, f) for f in fields])


def no_binding_of_page(s: State, page: IntV) -> BoolV:
    """THM-2: no TLB entry, STLB entry or guaranteed mapping (of anyone) refers to ``page``."""
    c = s.cfg
    return And(
        forall((c.tlb_size,), lambda i: Not(And(s.tlb_valid[i], s.tlb_page[i] == page))),
        forall((c.stlb_size,), lambda j: Not(And(s.stlb_valid[j], s.stlb_page[j] == page))),
        forall((c.n_envs, c.n_guaranteed),
               lambda e, g: Not(And(s.gm_valid[e, g], s.gm_page[e, g] == page))),
    )


def no_binding_tagged(s: State, cid: IntV) -> BoolV:
    """THM-2: no TLB or STLB entry carries the context id ``cid``."""
    c = s.cfg
    return And(
        forall((c.tlb_size,), lambda i: Not(And(s.tlb_valid[i], s.tlb_cid[i] == cid))),
        forall((c.stlb_size,), lambda j: Not(And(s.stlb_valid[j], s.stlb_cid[j] == cid))),
    )


def when_ok(res: Result, fact: BoolV) -> BoolV:
    """``fact`` on success."""
    return Implies(ok(res), fact)
