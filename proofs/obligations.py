"""Proof obligations over the model's own transitions, for any sizes.

Kinds (spec/invariants.md, spec/postconditions.md, spec/theorems.md):

* ``init/INV-k``: the boot state satisfies invariant k for every configuration (INV-0);
* ``step/OP/INV-k``: if every invariant holds in an arbitrary state of arbitrary sizes,
  invariant k holds after OP with arbitrary arguments;
* ``post/OP/{failure,frame,effect}``: OP's postconditions (GEN-2 and OP's own clause);
* ``thm/THM-n/OP``: the theorems THM-1..THM-4 for the operations they speak of;
* ``int/OP``, ``ni/OP/{output,respect,consistency}``: integrity and the unwinding
  conditions of noninterference (``exo.proofs.noninterference``, spec/noninterference.md).

The transition is the very function the tests run, executed on Z3 terms
(``exo.logic.strict_symbolic``); only the invariants of the pre-state are assumed. Each
obligation also shows its hypotheses satisfiable on a small instance (vacuity), and a
failed proof is retried on small instances, where a counterexample is made concrete and
replayed on the executable model (``exo.proofs.counterexample``). ``unknown`` is a failure,
never a pass. Budgets are Z3 resource limits (``rlimit``), deterministic unlike time.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import z3

from exo.interface import OPERATIONS, Config
from exo.logic import SymbolicContext, strict_symbolic
from exo.model import REGISTRY, State, Transition, initial, symbolic
from exo.proofs.building import caching, on_cache_exit, symbolic_args
from exo.proofs.building import caching_steps as caching_steps  # re-exported (moved)
from exo.proofs.declarative import build_complete, complete_names
from exo.proofs.declarative import properties as declarative_properties
from exo.proofs.filters import LEMMAS
from exo.proofs.noninterference import names as ni_names
from exo.spec.invariants import BY_ID, INVARIANTS, all_hold
from exo.spec.postconditions import postconditions
from exo.spec.theorems import theorems
from exo.spec.twostate import TwoState

RLIMIT = 4_000_000
"""Budget of a proof attempt when the manifest names none."""

SEARCH_RLIMIT = 20_000_000
"""Budget of each vacuity check and bounded counterexample search."""

BOUNDED_SIZES = (1, 2, 3)
"""Small instances for counterexamples: every size = n."""

VACUITY_SIZE = 2
"""The instance on which hypotheses are shown satisfiable."""

Kind = Literal["init", "step", "post", "thm", "flt", "int", "ni"]
Verdict = Literal["proved", "counterexample", "unknown", "vacuous"]


@dataclass(frozen=True)
class Obligation:
    """One proof obligation."""

    kind: Kind
    name: str
    clause: str
    op: str | None = None
    invariant: str | None = None


@dataclass
class ProofResult:
    """An obligation's verdict and cost; for a counterexample, the replayed witness."""

    obligation: Obligation
    verdict: Verdict
    seconds: float
    rlimit: int
    detail: str = ""
    counterexample: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.verdict == "proved"


PROPERTIES: dict[str, TwoState] = {
    p.name: p for p in [*postconditions(), *declarative_properties(), *theorems()]}
"""Every two-state property by obligation name."""


def obligations() -> list[Obligation]:
    """Every obligation, in a stable order."""
    out = [Obligation("init", f"init/{inv.id}", inv.id, invariant=inv.id) for inv in INVARIANTS]
    out += [Obligation("step", f"step/{op}/{inv.id}", inv.id, op=op, invariant=inv.id)
            for op in REGISTRY for inv in INVARIANTS]
    for prop in PROPERTIES.values():
        kind: Kind = "post" if prop.name.startswith("post/") else "thm"
        out.append(Obligation(kind, prop.name, prop.clause, op=prop.op))
    out += [Obligation("post", name, clause, op=op) for name, clause, op in complete_names()]
    out += [Obligation("flt", name, name.split("/")[1]) for name in LEMMAS]
    out += [Obligation("int" if name.startswith("int/") else "ni", name, clause, op=op)
            for name, clause, op in ni_names()]
    return out


BY_NAME: dict[str, Obligation] = {ob.name: ob for ob in obligations()}


def bounded_config(n: int) -> Config:
    """A small instance: every size ``n`` (two registers and words, slices of 2 ticks)."""
    return Config(n_envs=n, n_pages=n, page_words=2, tlb_size=n, stlb_size=n, n_cids=n,
                  n_slices=n, n_guaranteed=n, n_regs=2, slice_ticks=2, excess_limit=1,
                  addr_limit=16, n_filters=n, ring_size=n)


def search_configs() -> tuple[tuple[str, Config], ...]:
    """The small instances a counterexample (or a witness state) is looked for at, in
    order: every size 1, 2 and 3 (``bounded_config``), then sizes 2 with an excess limit
    as long as a slice. ``bounded_config`` owes at most one tick (``excess_limit`` 1 <
    ``slice_ticks`` 2), and INV-10 keeps a debt within the limit, so a debt that takes a
    whole slice (CPU-5) needs the last instance."""
    return (*((f"every size {n}", bounded_config(n)) for n in BOUNDED_SIZES),
            ("sizes 2, excess_limit 2", replace(bounded_config(2), excess_limit=2)))


@dataclass
class Query:
    """The formulas of one obligation on one configuration, and the terms they speak of."""

    hypotheses: list[Any]
    goal: Any  # the negated conclusion
    pre: State | None = None
    args: list[Any] = field(default_factory=list)


def build(ob: Obligation, cfg: Config, op: Transition | None = None) -> Query:
    """The hypotheses and negated goal of ``ob`` on ``cfg`` (symbolic or concrete sizes).

    ``op`` replaces the registered transition (the sensitivity tests pass broken ones).
    """
    sizes = cfg.size_constraints()
    if ob.kind == "init":
        assert ob.invariant is not None
        with strict_symbolic():
            return Query([sizes], z3.Not(BY_ID[ob.invariant].holds(initial(cfg))))
    assert ob.op is not None
    if ob.name.endswith("/complete"):
        with strict_symbolic():
            args = symbolic_args(OPERATIONS[ob.op])
            hyps, goal, pre_, _ = build_complete(ob.op, cfg, args)
        return Query(hyps, goal, pre_, args)
    step = stepped(ob.op, cfg, op)
    with strict_symbolic(step.context()) as ctx:
        if ob.kind == "step":
            assert ob.invariant is not None
            goal = z3.Not(BY_ID[ob.invariant].holds(step.post))
        else:
            goal = z3.Not(PROPERTIES[ob.name].holds(step.pre, tuple(step.args), step.res,
                                                    step.post))
        hyps = [sizes, step.invariants, ctx.assumption()]
    return Query(hyps, goal, step.pre, step.args)


@dataclass(frozen=True)
class Stepped:
    """One operation run on an arbitrary state (symbolic sizes or small concrete ones):
    the terms every obligation about the operation shares, and the symbolic context they
    were built in (its axioms, functions and fresh-name counter)."""

    pre: State
    args: list[Any]
    post: State
    res: Any
    invariants: Any
    axioms: tuple[Any, ...]
    functions: tuple[tuple[str, Any], ...]
    range_axioms: frozenset[str]
    oracle_axioms: frozenset[str]
    next_fresh: int

    def context(self) -> SymbolicContext:
        """A context that continues where the step left off (goals built in it add their
        own axioms and never reuse a fresh name of the step)."""
        ctx = SymbolicContext()
        ctx.axioms = list(self.axioms)
        ctx._functions = dict(self.functions)
        ctx.range_axioms = set(self.range_axioms)
        ctx.oracle_axioms = set(self.oracle_axioms)
        ctx._counter = itertools.count(self.next_fresh)
        return ctx


class _StepCache(dict[tuple[str, str], Stepped]):
    """The steps built in this process, by (operation, configuration). ``cache_clear``
    as on an ``lru_cache``: the mutation runs empty every such cache in a forked mutant
    process (scripts/mutation_pytest_plugin.py), so no step of unmutated code survives."""

    def cache_clear(self) -> None:
        self.clear()


_STEPPED = _StepCache()
on_cache_exit(_STEPPED.cache_clear)


def stepped(name: str, cfg: Config, op: Transition | None = None) -> Stepped:
    """Operation ``name`` (or its replacement ``op``) on an arbitrary state of ``cfg``,
    with the invariants of that state. Inside ``caching_steps`` a registered
    transition's step is built once, since every obligation about it uses the same
    terms."""
    key = (name, repr(cfg))
    keep = op is None and caching()
    if keep and key in _STEPPED:
        return _STEPPED[key]
    with strict_symbolic() as ctx:
        pre: State = symbolic(cfg)
        invariants = all_hold(pre)
        args = symbolic_args(OPERATIONS[name])
        post, res = (op or REGISTRY[name])(pre, *args)
        step = Stepped(pre, args, post, res, invariants, tuple(ctx.axioms),
                       tuple(ctx._functions.items()), frozenset(ctx.range_axioms),
                       frozenset(ctx.oracle_axioms), next(ctx._counter))
    if keep:
        _STEPPED[key] = step
    return step


def solve(formulas: list[Any], rlimit: int) -> tuple[z3.CheckSatResult, int, z3.Solver]:
    """Check ``formulas`` in a fresh solver with a resource limit; the rlimit it used."""
    solver = z3.Solver()
    solver.set("rlimit", rlimit)
    solver.add(*formulas)
    before = _rlimit_count()
    answer = solver.check()
    return answer, _rlimit_count() - before, solver


def _rlimit_count() -> int:
    """Z3's resource counter (it only grows, so a difference is what a check used)."""
    probe = z3.Solver()
    probe.check()
    stats = probe.statistics()
    return int(stats.get_key_value("rlimit count")) if "rlimit count" in stats.keys() else 0


def __getattr__(name: str) -> Any:
    """``discharge`` moved to ``exo.proofs.discharge`` (so this module never imports the
    counterexample code that imports it); the old name still works, with a warning."""
    if name == "discharge":
        import importlib
        import warnings

        warnings.warn("exo.proofs.obligations.discharge has moved: import it from "
                      "exo.proofs.discharge", DeprecationWarning, stacklevel=2)
        return importlib.import_module("exo.proofs.discharge").discharge
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
