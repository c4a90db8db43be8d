"""The double entry's obligations: the model is sound against the declarative text, and
the text is complete (spec/declarative.md).

* ``post/OP/sound``: the model's transition satisfies every conjunct of OP's text — a
  ``TwoState`` like the other postconditions, so it is built, discharged, concretized and
  replayed by ``exo.proofs.obligations`` and ``exo.proofs.counterexample``;
* ``post/OP/complete``: two results and post-states that both satisfy the text (from one
  pre-state satisfying the invariants, with the same arguments) are equal: the status, the
  value, and every field at every index. Stated per field: the goal is the disjunction of
  "field f differs at some key", each a separate existential Z3 skolemizes.

Together: the model and the text are two descriptions of one function. A refuted
obligation names the conjuncts (and their clause sentences) that fail on the replayed
step (sound) or the field the text leaves open (complete).
"""

from __future__ import annotations

from typing import Any

import z3

from exo.interface import OPERATIONS, Cap, Config, Result
from exo.logic import And, Not, Or, strict_symbolic
from exo.model.state import State, domains, symbolic
from exo.proofs.building import caching, on_cache_exit, symbolic_args
from exo.spec.declarative import TEXTS
from exo.spec.declarative.text import (
    ALL_FIELDS,
    Bound,
    Conjunct,
    equal,
    is_true,
    statements,
)
from exo.spec.invariants import all_hold
from exo.spec.twostate import TwoState


def _sound(op: str) -> Any:
    text = TEXTS[op]

    def holds(pre: State, args: tuple[Any, ...], res: Result, post: State) -> Any:
        return And(*[f for _, f in statements(text, pre, args, res, post)])

    return holds


def properties() -> list[TwoState]:
    """``post/OP/sound`` for every operation with a text."""
    return [TwoState(f"post/{op}/sound", OPERATIONS[op].clause, op, _sound(op))
            for op in OPERATIONS if op in TEXTS]


def complete_names() -> list[tuple[str, str, str]]:
    """(obligation name, clause, op) of every ``post/OP/complete``."""
    return [(f"post/{op}/complete", OPERATIONS[op].clause, op)
            for op in OPERATIONS if op in TEXTS]


def symbolic_result(op: str, prefix: str) -> Result:
    """An arbitrary result of ``op``'s kind."""
    status = z3.Int(f"{prefix}status")
    if OPERATIONS[op].result == "cap":
        value: Any = Cap(z3.Int(f"{prefix}page"), z3.Int(f"{prefix}gen"),
                         z3.Int(f"{prefix}rights"))
    else:
        value = z3.Int(f"{prefix}value")
    return Result(status, value)


def differs(a: State, b: State, name: str) -> Any:
    """Field ``name`` differs somewhere between ``a`` and ``b`` (a fresh key per field)."""
    dom = domains(a.cfg).get(name)
    x, y = getattr(a, name), getattr(b, name)
    if dom is None:
        return x != y
    keys = [z3.Int(f"diff_{name}_{i}") for i in range(len(dom))]
    inside = And(*[And(0 <= k, k < n) for k, n in zip(keys, dom, strict=True)])
    key = tuple(keys) if len(keys) > 1 else keys[0]
    return And(inside, x[key] != y[key])


def build_complete(op: str, cfg: Config, args: list[Any]) -> tuple[list[Any], Any, State,
                                                                    dict[str, Any]]:
    """Hypotheses and negated goal of ``post/OP/complete`` on ``cfg``; the pre-state; the
    terms of the two results and post-states (for a counterexample)."""
    text = TEXTS[op]
    with strict_symbolic() as ctx:
        pre, invariants = _assumed(cfg, ctx)
        one, two = symbolic(cfg, "one_"), symbolic(cfg, "two_")
        r1, r2 = symbolic_result(op, "one_"), symbolic_result(op, "two_")
        bound = Bound(text, pre, tuple(args))
        both = [stmt(r, s) for r, s in ((r1, one), (r2, two))
                for _, stmt in bound.conjuncts()]
        goal = Or(r1.status != r2.status, Not(equal(r1.value, r2.value)),
                  *[differs(one, two, f) for f in ALL_FIELDS])
        hyps = [cfg.size_constraints(), invariants, *both, ctx.assumption()]
    return hyps, goal, pre, {"one": one, "two": two, "r1": r1, "r2": r2}


class _AssumedCache(dict[str, tuple[State, Any, tuple[Any, ...], tuple[tuple[str, Any], ...],
                                   frozenset[str]]]):
    """Per process: an arbitrary state of a configuration and its invariants. Emptied
    like an ``lru_cache`` (``cache_clear``) by the mutation runs."""

    def cache_clear(self) -> None:
        self.clear()


_ASSUMED = _AssumedCache()
on_cache_exit(_ASSUMED.cache_clear)


def forget_assumed() -> None:
    """Empty the cache of assumed invariants (after replacing code in this process)."""
    _ASSUMED.cache_clear()


def _assumed(cfg: Config, ctx: Any) -> tuple[State, Any]:
    """An arbitrary state of ``cfg`` and its invariants (built once per process inside
    ``exo.proofs.building.caching_steps``); the oracle axioms and functions the invariants
    registered are put into ``ctx``."""
    key = repr(cfg)
    entry = _ASSUMED.get(key) if caching() else None
    if entry is None:
        with strict_symbolic() as own:
            pre = symbolic(cfg)
            invariants = all_hold(pre)
            assert not own.range_axioms, "the invariants introduce no index function"
            entry = (pre, invariants, tuple(own.axioms), tuple(own._functions.items()),
                     frozenset(own.oracle_axioms))
        if caching():
            _ASSUMED[key] = entry
    pre, invariants, axioms, functions, oracles = entry
    ctx.axioms.extend(axioms)
    ctx._functions.update(functions)
    ctx.oracle_axioms |= oracles
    return pre, invariants


def failing(op: str, pre: State, args: tuple[Any, ...], res: Result, post: State
            ) -> list[Conjunct]:
    """The conjuncts of ``op``'s text that are false of this concrete step."""
    return [c for c, f in statements(TEXTS[op], pre, args, res, post) if not is_true(f)]


def describe(conjuncts: list[Conjunct]) -> str:
    """Conjuncts in clause terms: name, clause, sentence."""
    return "; ".join(f"{c.name} ({c.cite.clause}: {c.cite.sentence})" for c in conjuncts)


def conjunct_index() -> dict[str, list[Conjunct]]:
    """Every conjunct of every text, by the clause it cites (for ``exo spec --conjuncts``).

    The texts are bound to a symbolic pre-state to learn which fields each case
    describes; nothing is solved."""
    out: dict[str, list[Conjunct]] = {}
    with strict_symbolic():
        pre = symbolic(Config.symbolic())
        for op, text in TEXTS.items():
            args = tuple(symbolic_args(OPERATIONS[op]))
            for c, _ in Bound(text, pre, args).conjuncts():
                for clause in dict.fromkeys(cite.clause for cite in c.cites):
                    out.setdefault(clause, []).append(c)
    return out
