"""Discharging one obligation: vacuity first (its hypotheses are satisfiable on a small
instance), then the proof for every size within an rlimit; on failure a search on small
instances, whose counterexample is made concrete and replayed on the executable model
(``exo.proofs.counterexample``). ``unknown`` is a failure, never a pass."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import z3

from exo.interface import Config, OpSig
from exo.model import Transition
from exo.proofs.counterexample import concrete_arg, concrete_state, concretize
from exo.proofs.filters import build_lemma, model_values
from exo.proofs.filters import replay as replay_lemma
from exo.proofs.noninterference import Runner, no_filters
from exo.proofs.noninterference import build as build_ni
from exo.proofs.noninterference import replay as replay_ni
from exo.proofs.obligations import (
    RLIMIT,
    SEARCH_RLIMIT,
    VACUITY_SIZE,
    Obligation,
    ProofResult,
    bounded_config,
    build,
    search_configs,
    solve,
)
from exo.proofs.obligations import Verdict as VerdictName
from exo.spec.flows import KERNEL, run

__all__ = ["Verdict", "discharge", "discharge_ni"]


def discharge(ob: Obligation, rlimit: int = RLIMIT, op: Transition | None = None
              ) -> ProofResult:
    """Prove ``ob`` for every size; on failure find, concretize and replay a counterexample.

    ``rlimit`` bounds the proof attempt; the vacuity check and the bounded searches have
    their own fixed budget. ``rlimit`` in the result is what the proof attempt used.
    """
    if ob.kind == "flt":
        return _discharge_lemma(ob, rlimit)
    if ob.kind in ("int", "ni"):
        v = discharge_ni(ob.name, rlimit)
        return ProofResult(ob, v.verdict, v.seconds, v.rlimit, v.detail, v.counterexample)
    start = time.perf_counter()
    if ob.kind != "init":
        q = build(ob, bounded_config(VACUITY_SIZE), op)
        answer, _, _ = solve(q.hypotheses, SEARCH_RLIMIT)
        if answer != z3.sat:
            return ProofResult(ob, "vacuous", time.perf_counter() - start, 0,
                               f"hypotheses not shown satisfiable ({answer})")
    q = build(ob, Config.symbolic(), op)
    answer, used, _ = solve([*q.hypotheses, q.goal], rlimit)
    if answer == z3.unsat:
        return ProofResult(ob, "proved", time.perf_counter() - start, used)
    for _, sizes in search_configs():
        small = build(ob, sizes, op)
        found, _, solver = z3.unknown, 0, z3.Solver()
        if small.pre is not None:  # first look for one without packet filters: replayable
            no_filters = [z3.Not(small.pre.filter_valid[f]) for f in range(sizes.n_filters)]
            found, _, solver = solve([*small.hypotheses, small.goal, *no_filters],
                                     SEARCH_RLIMIT)
        if found != z3.sat:
            found, _, solver = solve([*small.hypotheses, small.goal], SEARCH_RLIMIT)
        if found == z3.sat:
            cex = concretize(ob, sizes, small, solver.model(), op)
            detail = cex["summary"] if cex.get("replayed") else (
                "Z3 model did not replay on the executable model: " + cex["summary"])
            return ProofResult(ob, "counterexample", time.perf_counter() - start, used,
                               detail, cex)
    return ProofResult(ob, "unknown", time.perf_counter() - start, used,
                       f"proof: {answer} within rlimit {rlimit}; no counterexample at "
                       f"{'; '.join(label for label, _ in search_configs())}")


def _discharge_lemma(ob: Obligation, rlimit: int) -> ProofResult:
    """A lemma about every filter program (``exo.proofs.filters``): vacuity, proof, and on
    failure a counterexample whose values are re-checked with Python values."""
    start = time.perf_counter()
    hyps, goal, named = build_lemma(ob.name)
    answer, _, _ = solve(hyps, SEARCH_RLIMIT)
    if answer != z3.sat:
        return ProofResult(ob, "vacuous", time.perf_counter() - start, 0,
                           f"hypotheses not shown satisfiable ({answer})")
    answer, used, solver = solve([*hyps, goal], rlimit)
    if answer == z3.unsat:
        return ProofResult(ob, "proved", time.perf_counter() - start, used)
    if answer == z3.sat:
        values = model_values(solver.model(), named)
        confirmed = replay_lemma(ob.name, values)
        record = {"obligation": ob.name, "kind": ob.kind, "clause": ob.clause,
                  "values": values, "replayed": confirmed,
                  "summary": f"{ob.name} fails for {values}"}
        return ProofResult(ob, "counterexample", time.perf_counter() - start, used,
                           f"{record['summary']}{'' if confirmed else ' (NOT confirmed)'}",
                           record)
    return ProofResult(ob, "unknown", time.perf_counter() - start, used,
                       f"{answer} within rlimit {rlimit}")


@dataclass
class Verdict:
    """An obligation's verdict, cost and (for a counterexample) the replayed record."""

    name: str
    verdict: VerdictName
    seconds: float
    rlimit: int
    detail: str = ""
    counterexample: dict[str, Any] = field(default_factory=dict)


def discharge_ni(name: str, rlimit: int, runner: Runner = run,
              search: tuple[Config, ...] | None = None, signature: OpSig | None = None
              ) -> Verdict:
    """Vacuity (the hypotheses hold on a small instance), the proof for every size, and on
    failure a counterexample on small instances, replayed as two traces."""
    start = time.perf_counter()
    q = build_ni(name, bounded_config(VACUITY_SIZE), runner, signature)
    answer, _, _ = solve(q.hypotheses, SEARCH_RLIMIT)
    if answer != z3.sat:
        return Verdict(name, "vacuous", time.perf_counter() - start, 0,
                       f"hypotheses not shown satisfiable ({answer})")
    q = build_ni(name, Config.symbolic(), runner, signature)
    answer, used, _ = solve([*q.hypotheses, q.goal], rlimit)
    if answer == z3.unsat:
        return Verdict(name, "proved", time.perf_counter() - start, used)
    for cfg in search or tuple(c for _, c in search_configs()):
        small = build_ni(name, cfg, runner, signature)
        found, _, solver = solve([*small.hypotheses, small.goal, *no_filters(small, cfg)],
                                 SEARCH_RLIMIT)
        if found != z3.sat:
            continue
        m = solver.model()
        s = concrete_state(small.s, cfg, m)
        t = concrete_state(small.t, cfg, m) if small.t is not None else None
        args = tuple(concrete_arg(a, m) for a in small.args)
        observer = m.eval(small.observer, model_completion=True).as_long() if (
            small.observer is not None) else KERNEL
        record = replay_ni(name, cfg, s, t, args, observer, runner)
        detail = record["summary"] if record["replayed"] else (
            "Z3 model did not replay on the executable model: " + record["summary"])
        return Verdict(name, "counterexample", time.perf_counter() - start, used, detail,
                       record)
    return Verdict(name, "unknown", time.perf_counter() - start, used,
                   f"proof: {answer} within rlimit {rlimit}; no counterexample at "
                   f"{'; '.join(label for label, _ in search_configs())}")
