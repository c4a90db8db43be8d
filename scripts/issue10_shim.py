"""Shim for running the issue-10 tests against the code before issue 10 (commit 691afd1).

It only ADDS names the issue-10 tests import or touch and that do not exist at 691afd1;
it changes no existing function. Each added name has the old behaviour: the old code never
returns, raises or calls it. Used by scripts/issue10-before.md, loaded in every Python
process (pytest and the children the tests start) through a ``sitecustomize.py`` on
PYTHONPATH:

    mkdir -p /tmp/shim10
    printf 'import runpy\\nrunpy.run_path("/work/main/scripts/issue10_shim.py")\\n' \\
        > /tmp/shim10/sitecustomize.py
    PYTHONPATH=/tmp/old10:/tmp/shim10 python -m pytest ...

It refuses to patch anything unless ``exo`` is imported from /tmp/old10.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import exo

if not exo.__file__.startswith("/tmp/old10/"):
    raise SystemExit(f"issue10_shim: exo is {exo.__file__}, not the old tree /tmp/old10")

import z3

import exo.impl.demux as impl_demux
import exo.impl.net as impl_net
import exo.model.filters as filters
import exo.model.net as net_mod
import exo.proofs.demux as proofs_demux
from exo.interface import Status


def _add_status(name: str, value: int) -> None:
    """A new Status member the old code never returns (not added to iteration order)."""
    if name in Status.__members__:
        return
    m = int.__new__(Status, value)
    m._name_ = name
    m._value_ = value
    setattr(Status, name, m)
    Status._member_map_[name] = m
    Status._value2member_map_[value] = m


_add_status("UNDECIDED", 18)  # values as at HEAD
_add_status("NO_TIME", 19)

# --------------------------------------------------------------------------- model/filters

filters.FILTER_RLIMIT = 1_000_000  # HEAD's values; the old code reads neither
filters.SHRINK_RLIMIT = filters.FILTER_RLIMIT // 4


@dataclass(frozen=True)
class Undecided:
    """As at HEAD; the old code never produces one."""

    rlimit: int = 1_000_000

    def __str__(self) -> str:
        return f"undecided within budget (rlimit {self.rlimit})"


filters.Undecided = Undecided
filters.UNDECIDED = Undecided()


@functools.lru_cache(maxsize=1)
def _difference_unused(*_args: Any) -> None:
    """Only for the tests' ``filters._difference.cache_clear()``: old ``difference`` is
    not cached and never calls this."""


filters._difference = _difference_unused


class Question:
    """HEAD's interface, with the old ``_solve``'s solver: one ``z3.Solver()`` in the main
    (shared) context, no translation. The rlimit the caller passes is set on it (the old
    ``_solve`` had no budget at all) and its timeout pinned to none, as at HEAD; steps()
    is the growth of the solver's ``rlimit count`` over this question's checks."""

    def __init__(self, constraints: list[Any], rlimit: int) -> None:
        self.rlimit = rlimit
        self._steps = 0
        self.length = filters.SYMBOLIC_PACKET.length
        self.data = filters.SYMBOLIC_PACKET.data
        self.solver = z3.Solver()
        self.solver.set("rlimit", rlimit)
        self.solver.set("timeout", 4294967295)
        self.solver.add(z3.ULE(self.length, filters.MAX_PACKET))
        self.solver.add(*constraints)

    def here(self, term: Any) -> Any:
        return term

    def check(self) -> z3.CheckSatResult:
        before = self._count()
        verdict = self.solver.check()
        self._steps += self._count() - before
        return verdict

    def _count(self) -> int:
        stats = self.solver.statistics()
        return int(stats.get_key_value("rlimit count")) if "rlimit count" in stats.keys() else 0

    def steps(self) -> int:
        return self._steps

    def holds(self, model: z3.ModelRef, term: Any) -> bool:
        return bool(z3.is_true(model.eval(term, model_completion=True)))

    def witness(self, model: z3.ModelRef) -> bytes:
        return filters.witness_bytes(model)


filters.Question = Question

# --------------------------------------------------------------------------- model/net, impl/net


@functools.lru_cache(maxsize=1)
def _pair_unused(*_args: Any) -> None:
    """Only for the tests' ``_pair.cache_clear()``; the old code never calls it."""


net_mod._pair = _pair_unused
impl_net._pair = _pair_unused
net_mod._undecided_concrete = lambda a, b: False  # the old check is never undecided
net_mod.undecided = lambda a, b: False

# --------------------------------------------------------------------------- demux (FLT-8)

impl_demux.MAX_PATH_ATOMS = 256  # HEAD's value; the old code reads no such limit
proofs_demux.CHECK_RLIMIT = 20_000_000
proofs_demux.MAX_SOURCE_NODES = 20_000


class BudgetExhausted(Exception):
    """As at HEAD (a failed validation); the old checker never raises it."""


proofs_demux.BudgetExhausted = BudgetExhausted


def interpret(prog: Any, p: bytes) -> int:
    """The old code has no fallback interpreter: the tests of it cannot run."""
    raise NotImplementedError("impl.demux.interpret does not exist at 691afd1 (shim stub)")


impl_demux.interpret = interpret

# The old Demux never falls back to an interpreter: its fallback_reason is always None.
impl_demux.Demux.fallback_reason = None
