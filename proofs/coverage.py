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
from exo.proofs.obligations import bounded_config
from exo.spec.cells import Cell
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
    is a model found with every size 2 or 3 (``bounded_config``). A case cell is refused
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
    for n in (2, 3):
        small = _query(cell, bounded_config(n), rlimit)
        if small.check() == z3.sat:
            return Reach(cell.id, "possible", f"a state with every size {n}")
    return Reach(cell.id, "undecided", f"symbolic sizes: {answer} "
                 f"({solver.reason_unknown()}); no model at sizes 2 and 3")
