"""Which coverage cells no run can hit: Z3 proofs, for every size, about the model's code.

``exo.spec.cells`` reads the (operation, status) and (operation, outcome) cells from the
spec's text. A cell the kit never hits is either a gap in generation or a behaviour no
state allows. ``decide(cell)`` asks Z3, on the model's own transition run on a symbolic
state that satisfies every invariant (symbolic sizes, symbolic arguments — the same set-up
as the step obligations of ``exo.proofs.obligations``):

* ``unsat``: no state satisfying the invariants, with any arguments, gives that status or
  outcome — the cell is *unreachable*, proved for every size;
* ``sat``: some invariant-satisfying state does (the invariants over-approximate what is
  reachable from boot, so this alone is not a concrete trace; the kit's runs give those);
* anything else: undecided, reported as such (never as unreachable).

The check can fail: for every cell the kit hits, Z3 must answer ``sat`` (a test asks it for
cells with concrete traces), so an ``unsat`` here is not a vacuous answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import z3

from exo.interface import OPERATIONS, Config, Outcome, Status
from exo.logic import strict_symbolic
from exo.model import REGISTRY, symbolic
from exo.proofs.building import symbolic_args
from exo.proofs.obligations import bounded_config, search_configs
from exo.spec.cells import SENTENCE_KINDS, Cell
from exo.spec.declarative import TEXTS
from exo.spec.declarative.text import Bound, recording
from exo.spec.invariants import all_hold

RLIMIT = 5_000_000
"""Z3's step budget for each question about one cell."""


@dataclass(frozen=True)
class Reach:
    """Z3's answer for one cell: "unreachable", "possible" or "undecided"."""

    cell: str
    verdict: str
    detail: str = ""


def _query(cell: Cell, cfg: Config, rlimit: int, goal_too: bool = True) -> z3.Solver:
    parts = cell.id.split("/")
    name, status = parts[0], Status[parts[1]]
    outcome = Outcome[parts[2]] if len(parts) > 2 else None
    with strict_symbolic() as ctx:
        pre = symbolic(cfg)
        args = symbolic_args(OPERATIONS[name])
        _, res = REGISTRY[name](pre, *args)
        goal = res.status == int(status)
        if outcome is not None:
            goal = z3.And(goal, res.value == int(outcome))
        hyps = [cfg.size_constraints(), all_hold(pre), ctx.assumption()]
    solver = z3.Solver()
    solver.set("rlimit", rlimit)
    solver.add(*hyps, *([goal] if goal_too else []))
    return solver


def decide(cell: Cell, rlimit: int = RLIMIT) -> Reach:
    """Whether any invariant-satisfying state lets the cell's operation give its status
    (and outcome): "unreachable" is proved with symbolic sizes (every size, a fifth of
    ``rlimit``: the refusals are proved in a fraction of a second); "possible"
    is a model found at one of the small ``search_configs()``. A case cell is refused
    with ValueError."""
    if cell.kind not in ("status", "outcome"):
        raise ValueError(f"{cell.id}: only status and outcome cells are decided here")
    solver = _query(cell, Config.symbolic(), rlimit // 5)
    answer = solver.check()
    if answer == z3.unsat:
        # not vacuous: the same hypotheses (invariants, sizes, the transition's side
        # conditions) have a model without the goal
        if _query(cell, bounded_config(2), rlimit, goal_too=False).check() != z3.sat:
            return Reach(cell.id, "undecided", "hypotheses not shown satisfiable")
        return Reach(cell.id, "unreachable")
    for label, sizes in search_configs():
        if _query(cell, sizes, rlimit).check() == z3.sat:
            return Reach(cell.id, "possible", f"a state with {label}")
    return Reach(cell.id, "undecided", f"symbolic sizes: {answer} "
                 f"({solver.reason_unknown()}); no model at the probe sizes")


# --------------------------------------------------------------------------- sentence cells


def _sentence_query(cell: Cell, cfg: Config, rlimit: int, goal_too: bool = True
                    ) -> z3.Solver:
    """The hypotheses (sizes, invariants, the text's side conditions) and, with
    ``goal_too``, the cell's condition on the declarative text bound to an arbitrary
    state and arguments: the requirement fails (no earlier one does), the case applies,
    or the branch's sentence speaks with the side the cell names in some case."""
    op, kind, rest = cell.id.split("/", 2)
    text = TEXTS[op]
    with strict_symbolic() as ctx:
        pre = symbolic(cfg)
        args = tuple(symbolic_args(OPERATIONS[op]))
        bound = Bound(text, pre, args)
        if kind == "requires":
            k = [r.label for r in text.requires].index(rest)
            goal = z3.And(*[z3.Not(f) for f in bound.failed[:k]], bound.failed[k])
        elif kind == "case":
            k = [c.label for c in text.cases].index(rest)
            goal = z3.And(bound.passes(), bound.applies(k))
        else:
            label, _, side = rest.rpartition("=")
            options = []
            for k, case in enumerate(text.cases):
                with recording() as taken:
                    case.post(pre, args)
                    case.value(pre, args)
                for b, cond, within in taken:
                    if b.label == label:
                        options.append(z3.And(bound.passes(), bound.applies(k), within,
                                              cond if side == "yes" else z3.Not(cond)))
            goal = z3.Or(*options) if options else z3.BoolVal(False)
        hyps = [cfg.size_constraints(), all_hold(pre), ctx.assumption()]
    solver = z3.Solver()
    solver.set("rlimit", rlimit)
    solver.add(*hyps, *([goal] if goal_too else []))
    return solver


def decide_sentence(cell: Cell, rlimit: int = RLIMIT) -> Reach:
    """As ``decide``, for a cell of the declarative text (``exo.spec.cells``): whether
    any state satisfying the invariants, with any arguments, exercises it."""
    if cell.kind not in SENTENCE_KINDS:
        raise ValueError(f"{cell.id}: not a cell of the declarative text")
    answer = _sentence_query(cell, Config.symbolic(), rlimit // 5).check()
    if answer == z3.unsat:
        if _sentence_query(cell, bounded_config(2), rlimit, goal_too=False).check() != z3.sat:
            return Reach(cell.id, "undecided", "hypotheses not shown satisfiable")
        return Reach(cell.id, "unreachable")
    for label, sizes in search_configs():
        if _sentence_query(cell, sizes, rlimit).check() == z3.sat:
            return Reach(cell.id, "possible", f"a state with {label}")
    return Reach(cell.id, "undecided", f"symbolic sizes: {answer}")


def decide_at(cell: Cell, cfg: Config, rlimit: int = RLIMIT) -> Reach:
    """Whether a state of the sizes ``cfg`` (satisfying the invariants) can produce
    ``cell``: "unreachable" (unsat), "possible" (sat) or "undecided" (unknown, or a named
    case, which is not a formula). For a run of one configuration, ``exo check --config``,
    whose missing cells may be out of reach of its sizes (no wrap with one slice)."""
    if cell.kind in SENTENCE_KINDS:
        query = _sentence_query
    elif cell.kind in ("status", "outcome"):
        query = _query
    else:
        return Reach(cell.id, "undecided", "a named case is not decided")
    answer = query(cell, cfg, rlimit).check()
    if answer == z3.unsat:
        if query(cell, cfg, rlimit, goal_too=False).check() != z3.sat:
            return Reach(cell.id, "undecided", "hypotheses not shown satisfiable")
        return Reach(cell.id, "unreachable", f"no state of {cfg!r}")
    if answer == z3.sat:
        return Reach(cell.id, "possible", f"a state of {cfg!r}")
    return Reach(cell.id, "undecided", f"{answer} within rlimit {rlimit}")
