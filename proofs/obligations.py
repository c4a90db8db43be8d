"""Proof obligations over the model's own transitions, for any sizes.

* ``init/INV-k``: the boot state satisfies invariant k, for every configuration
  (INV-0; sizes are Z3 integers, the maps constant functions).
* ``step/OP/INV-k``: if every invariant holds in an arbitrary state of arbitrary sizes,
  invariant k holds after OP with arbitrary arguments. The transition is the very function
  the tests run, executed on Z3 terms (``exo.logic.strict_symbolic``).

Each obligation's hypotheses are also shown satisfiable (vacuity check) on a small bounded
instance, where Z3 finds models quickly; a failed unbounded proof is retried on bounded
instances to produce a counterexample. ``unknown`` is a failure, never a pass. Budgets are
Z3 resource limits (``rlimit``), deterministic unlike wall-clock timeouts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import z3

from exo.interface import OPERATIONS, Cap, Config, OpSig
from exo.logic import strict_symbolic
from exo.model import REGISTRY, State, Transition, initial, symbolic
from exo.spec.invariants import BY_ID, INVARIANTS, all_hold

RLIMIT = 5_000_000
"""Default resource budget of one solver call (the obligations here use well under 1/10)."""

BOUNDED_SIZES = (1, 2, 3)
"""Bounded instances tried for vacuity checks and counterexamples: every size = n."""

Verdict = Literal["proved", "counterexample", "unknown", "vacuous"]


@dataclass(frozen=True)
class Obligation:
    """One proof obligation."""

    kind: Literal["init", "step"]
    invariant: str
    op: str | None = None

    @property
    def name(self) -> str:
        return f"init/{self.invariant}" if self.op is None else f"step/{self.op}/{self.invariant}"


@dataclass
class ProofResult:
    """An obligation's verdict, its cost, and for a counterexample a readable model."""

    obligation: Obligation
    verdict: Verdict
    seconds: float
    rlimit: int
    detail: str = ""
    counterexample: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.verdict == "proved"


def obligations() -> list[Obligation]:
    """Every obligation: the boot state × invariants, then operations × invariants."""
    out = [Obligation("init", inv.id) for inv in INVARIANTS]
    out += [Obligation("step", inv.id, op) for op in REGISTRY for inv in INVARIANTS]
    return out


def symbolic_args(sig: OpSig) -> list[Any]:
    """Arbitrary arguments for an operation: one Z3 constant per argument."""
    args: list[Any] = []
    for name, kind in sig.args:
        if kind == "int":
            args.append(z3.Int(f"arg_{name}"))
        elif kind == "bool":
            args.append(z3.Bool(f"arg_{name}"))
        else:
            args.append(Cap(z3.Int(f"arg_{name}_page"), z3.Int(f"arg_{name}_gen"),
                            z3.Int(f"arg_{name}_rights")))
    return args


def bounded_config(n: int) -> Config:
    """A small instance: every size ``n`` (two registers and words, slices of 2 ticks)."""
    return Config(n_envs=n, n_pages=n, page_words=2, tlb_size=n, stlb_size=n, n_cids=n,
                  n_slices=n, n_guaranteed=n, n_regs=2, slice_ticks=2, excess_limit=1,
                  addr_limit=16)


@dataclass
class Query:
    """The formulas of one obligation on one configuration."""

    hypotheses: list[Any]
    goal: Any  # the negated conclusion


def build(ob: Obligation, cfg: Config, op: Transition | None = None) -> Query:
    """The hypotheses and negated goal of ``ob`` on configuration ``cfg``.

    ``op`` replaces the registered transition (the sensitivity tests pass broken ones).
    """
    inv = BY_ID[ob.invariant]
    sizes = cfg.size_constraints()
    with strict_symbolic() as ctx:
        if ob.kind == "init":
            return Query([sizes], z3.Not(inv.holds(initial(cfg))))
        assert ob.op is not None
        transition = op or REGISTRY[ob.op]
        pre: State = symbolic(cfg)
        post, _ = transition(pre, *symbolic_args(OPERATIONS[ob.op]))
        hyps = [sizes, all_hold(pre)]
        goal = z3.Not(inv.holds(post))
        hyps.append(ctx.assumption())
    return Query(hyps, goal)


def _solve(formulas: list[Any], rlimit: int) -> tuple[z3.CheckSatResult, int, z3.Solver]:
    solver = z3.Solver()
    solver.set("rlimit", rlimit)
    solver.add(*formulas)
    before = _rlimit_count()
    answer = solver.check()
    return answer, _rlimit_count() - before, solver


def _rlimit_count() -> int:
    probe = z3.Solver()
    probe.check()
    stats = probe.statistics()
    return int(stats.get_key_value("rlimit count")) if "rlimit count" in stats.keys() else 0


def discharge(ob: Obligation, rlimit: int = RLIMIT, op: Transition | None = None) -> ProofResult:
    """Prove ``ob`` for every size; on failure look for a counterexample on small sizes."""
    start = time.perf_counter()
    used = 0
    # vacuity: the hypotheses must have a model (found on a bounded instance)
    if ob.kind == "step":
        q = build(ob, bounded_config(2), op)
        answer, cost, _ = _solve(q.hypotheses, rlimit)
        used += cost
        if answer != z3.sat:
            return ProofResult(ob, "vacuous", time.perf_counter() - start, used,
                          f"hypotheses not shown satisfiable ({answer})")
    q = build(ob, Config.symbolic(), op)
    answer, cost, _ = _solve([*q.hypotheses, q.goal], rlimit)
    used += cost
    if answer == z3.unsat:
        return ProofResult(ob, "proved", time.perf_counter() - start, used)
    for n in BOUNDED_SIZES:
        q = build(ob, bounded_config(n), op)
        small, cost, solver = _solve([*q.hypotheses, q.goal], rlimit)
        used += cost
        if small == z3.sat:
            model = solver.model()
            return ProofResult(ob, "counterexample", time.perf_counter() - start, used,
                          f"violated with every size = {n}", _summary(model))
    return ProofResult(ob, "unknown", time.perf_counter() - start, used,
                  f"unbounded proof: {answer}; no counterexample up to size {BOUNDED_SIZES[-1]}")


def _summary(model: z3.ModelRef) -> dict[str, Any]:
    """The arguments of a counterexample (the full state rendering is the proof issue's)."""
    out: dict[str, Any] = {}
    for d in model.decls():
        if d.arity() == 0 and d.name().startswith("arg_"):
            out[d.name()[4:]] = str(model[d])
    return out


def run(selected: list[Obligation] | None = None, rlimit: int = RLIMIT,
        on_result: Callable[[ProofResult], None] | None = None) -> Iterator[ProofResult]:
    """Discharge obligations one after the other, reporting each result."""
    for ob in selected if selected is not None else obligations():
        res = discharge(ob, rlimit)
        if on_result is not None:
            on_result(res)
        yield res
