"""Exhaustive small-scope checking (``exo.kit.exhaustive``, issue 27): the bundled kernel
passes and covers what it should, runs are deterministic per shard, shards add up to
the whole run, the symmetry reduction loses no state, and the catalogue kernels within
reach are caught at the shortest program that shows them.

The whole catalogue at depth 4 takes minutes: ``python -m benchmarks.exhaustive`` prints
it (30 of 80 kernels caught within 4 calls). Here: every kernel it catches within 3
calls, at its level, and one of those caught at 4; and short failing programs found
without the engine, each within reach and caught.
"""

from __future__ import annotations

from typing import Any

import pytest

from exo.impl import Kernel
from exo.interface import Cap, Config
from exo.kit.exhaustive import (
    FILTERS,
    TINY,
    ExhaustiveReport,
    canonical,
    explore,
    merge,
    model_step,
    reach,
    shards,
    within_domains,
)
from exo.kit.lockstep import Step
from exo.kit.replay import replay
from exo.model import initial
from tests.catalogue import CATALOGUE
from tests.catalogue_views import CATALOGUE as VIEWS

KERNELS: dict[str, Any] = {**CATALOGUE, **VIEWS}

PROGRAMS_AT_3 = 6643
STATES_AT_3 = 200
CELLS_AT_3 = 236
"""What ``explore(Kernel, TINY, 3)`` does: programs (275, 825 and 5543 at levels 1-3),
distinct states up to the symmetries, and coverage cells hit (of 408 reachable)."""


@pytest.fixture(scope="module")
def depth3() -> ExhaustiveReport:
    return explore(Kernel, TINY, 3)


def test_kernel_passes_and_covers(depth3: ExhaustiveReport) -> None:
    """The bundled kernel passes at depth 3; the cells come out of the run's
    ``Coverage``, more than half of the reachable ones."""
    r = depth3
    assert r.passed and r.failure is None and not r.stopped
    assert r.programs == PROGRAMS_AT_3 == sum(p for p, _ in r.per_depth)
    assert r.per_depth == [(275, 3), (825, 20), (5543, 176)]
    assert len(r.states) == STATES_AT_3 == 1 + sum(n for _, n in r.per_depth)
    assert r.steps > r.programs  # prefixes replayed, and counted
    hit, reachable = r.coverage.summary()
    assert hit == CELLS_AT_3 == sum(1 for c in r.coverage.in_scope()
                                    if c.id in r.coverage.counts)
    assert 2 * hit > reachable
    # calls the bundled kernel refuses and calls it makes, through the trap layer too
    for cell in ("alloc/OK", "alloc/IN_USE", "alloc/INVALID_ARGUMENT", "tlbwr/OK",
                 "tlbwr/NO_PERMISSION", "filter_install/OK", "packet_arrive/OK/RX_DELIVERED",
                 "case/GEN-6/idle", "case/GEN-6/not-a-system-call", "case/GEN-1/wrong-type"):
        assert cell in r.coverage.counts, cell


def test_deterministic_per_shard() -> None:
    """The same shard gives the same programs, states and cells, run after run."""
    a = explore(Kernel, TINY, 3, shard=1, of=2)
    b = explore(Kernel, TINY, 3, shard=1, of=2)
    assert (a.programs, a.steps, a.per_depth) == (b.programs, b.steps, b.per_depth)
    assert a.states == b.states and a.first == b.first
    assert a.coverage.counts == b.coverage.counts


def test_shards_add_up(depth3: ExhaustiveReport) -> None:
    """Two shards make the whole run: every program once, the same distinct states."""
    parts = [explore(Kernel, TINY, 3, shard=i, of=2) for i in range(2)]
    assert all(p.programs for p in parts)
    whole = merge(parts)
    assert whole.states == depth3.states
    assert whole.per_depth == depth3.per_depth
    assert whole.programs == depth3.programs
    assert whole.coverage.summary() == depth3.coverage.summary()
    planned = shards(TINY, 2, 4)  # levels 1-3 split by index, then their 176 new states
    assert [len(s.programs) for s in planned] == [3322, 3321]
    assert [len(s.roots) for s in planned] == [88, 88]
    planned = shards(TINY, 2, 3)  # levels 1-2, then the 20 new states of level 2
    assert [len(s.programs) for s in planned] == [550, 550]
    assert [len(s.roots) for s in planned] == [10, 10]
    assert not any(s.roots for s in shards(TINY, 2, 1))


def test_symmetry_loses_no_state(depth3: ExhaustiveReport) -> None:
    """Without the reduction, breadth first on the model over the same domains, every
    state within 3 calls is reached; their canonical images are exactly the states the
    reduced run reached (so the permutations are symmetries of the model and of the
    domains), and the reduction saves most of them. (``benchmarks/exhaustive.py
    --symmetry 4`` makes the same comparison at depth 4, on the model alone.)"""
    seen = reach(TINY, 3, symmetry=False)
    images = {canonical(s) for s in seen.values()}
    assert images == depth3.states
    assert len(seen) > 4 * len(depth3.states)  # 863 states, 200 up to symmetry
    # the unreduced lockstep run agrees with the model-only search at depth 2
    plain2 = explore(Kernel, TINY, 2, symmetry=False)
    assert plain2.passed and len(plain2.states) == 1 + 6 + 73


def test_canonical_names_equivalent_states() -> None:
    """Environment 0 with page 1 and environment 1 with page 0 are one state up to the
    symmetries; with different numbers of pages they are not."""
    a: list[Step] = [("env_create", (0, 0)), ("alloc", (0, 1))]
    b: list[Step] = [("env_create", (1, 1)), ("alloc", (1, 0))]
    c: list[Step] = [("env_create", (1, 1)), ("alloc", (1, 0)), ("alloc", (1, 1))]

    def run(program: list[Step]) -> Any:
        s = initial(TINY)
        for step in program:
            s = model_step(s, step)
        return s
    assert canonical(run(a)) == canonical(run(b))
    assert canonical(run(a), symmetry=False) != canonical(run(b), symmetry=False)
    assert canonical(run(a)) != canonical(run(c))
    # with two TLB slots, context ids pick the slot (TLB-6): not a symmetry then
    wide = Config(**{**TINY.__dict__, "tlb_size": 2})
    assert canonical(run_at(wide, [("env_create", (0, 0))])) != canonical(
        run_at(wide, [("env_create", (0, 1))]))
    assert canonical(run(a[:1])) == canonical(run([("env_create", (0, 1))]))


def run_at(cfg: Config, program: list[Step]) -> Any:
    s = initial(cfg)
    for step in program:
        s = model_step(s, step)
    return s


def test_bad_arguments_refused() -> None:
    for kwargs in ({"depth": 0}, {"shard": 2, "of": 2}, {"filters": "none"}):
        with pytest.raises(ValueError):
            explore(Kernel, TINY, **kwargs)
    with pytest.raises(ValueError):
        shards(TINY, 0)


def test_stop_and_progress() -> None:
    """``stop()`` ends the run between programs; ``on_progress`` counts them."""
    seen: list[int] = []
    r = explore(Kernel, TINY, 3, on_progress=seen.append, stop=lambda: len(seen) >= 2)
    assert r.stopped and r.passed and r.programs == 128
    assert seen == [64, 128, 128]


# --------------------------------------------------------------------------- catalogue

CAP = Cap(0, 0, 2)

CAUGHT: dict[str, int] = {
    "NextSliceWrapsEarly": 1, "RevokeDeadlineNow": 1, "SetRegChecksRunningFirst": 1,
    "TlbwrVpageAtLimit": 1, "TrapIdleRunsForNobody": 1, "TrapRunsEvents": 1,
    "TrapTakesCallerFromArgument": 1,
    "CidSwitchSameIdFreesIt": 2, "EntryAtAddrLimit": 2, "FilterHighestSlot": 2,
    "PacketTakeEmptyOk": 2, "ViewHidesOwnRights": 2,
    "AllocSkipsOwned": 3, "FilterRemoveKeepsOwnerIndex": 3, "GrantDowngrades": 3,
    "GrantTooLargeRights": 3, "PacketBoundsOffByOne": 3, "RingOneShort": 3,
    "CidSwitchKeepsStlb": 4,
}
"""The level at which ``explore(kernel, TINY, 4)`` catches each catalogue kernel it
catches within 3 calls (every one: ``python -m benchmarks.exhaustive`` prints the whole
table), and one of the 12 caught at 4."""

SHORT: dict[str, list[Step]] = {
    "NextSliceWrapsEarly": [("timer_tick", ())],
    "CidSwitchSameIdFreesIt": [("env_create", (0, 0)), ("cid_switch", (0, 0))],
    "EntryAtAddrLimit": [("env_create", (0, 0)), ("set_exception_context", (0, 0, 2**32))],
    "FilterHighestSlot": [("env_create", (0, 0)), ("filter_install", (0, FILTERS[0]))],
    "PacketTakeEmptyOk": [("env_create", (0, 0)), ("packet_take", (0,))],
    "GrantTooLargeRights": [("env_create", (0, 0)), ("alloc", (0, 0)),
                            ("grant", (0, Cap(0, 0, 1), 0, 2))],
    "AllocSkipsOwned": [("env_create", (0, 0)), ("alloc", (0, 0)), ("env_destroy", (0,))],
    "FilterRemoveKeepsOwnerIndex": [("env_create", (0, 0)),
                                    ("filter_install", (0, FILTERS[0])),
                                    ("filter_remove", (0, 0))],
    "CidSwitchKeepsStlb": [("env_create", (0, 0)), ("alloc", (0, 0)),
                           ("tlbwr", (0, 0, CAP, True)), ("cid_switch", (0, 1))],
}
"""Short failing programs at ``TINY``, known without the exhaustive engine (the kit's own
minimized programs at ``TINY``, or the catalogue's witnesses, written with the domains'
values): each fails on its kernel when replayed plainly, passes on the bundled kernel
and lies in the exhaustive domains, so the kernel is reachable within its length; the
exhaustive run must catch it at that length or less (breadth first)."""


def _level(name: str) -> tuple[int, str]:
    return CAUGHT[name], name


CAUGHT_NAMES: list[str] = sorted(CAUGHT, key=_level)


@pytest.mark.parametrize("name", CAUGHT_NAMES)
def test_catalogue_caught_at_its_level(name: str) -> None:
    """The kernel is caught at its level and not before; the failing program reported
    (minimized) fails again when replayed plainly, outside the engine."""
    cls = KERNELS[name]
    level = CAUGHT[name]
    r = explore(cls, TINY, level)
    assert r.failure is not None, f"{name} escaped depth {level}"
    assert r.caught_at == level  # breadth first: the shortest
    found, failure = r.failure
    assert len(found) <= level and replay(cls, TINY, found) is not None
    assert replay(Kernel, TINY, found) is None
    assert failure.kind in ("result", "state", "view", "invariant")


@pytest.mark.parametrize("name", sorted(SHORT))
def test_catalogue_within_reach_is_caught(name: str) -> None:
    """Every kernel shown failing within a few calls of the domains, independently, is
    caught by a run that deep (``CAUGHT``, checked by the test above)."""
    program = SHORT[name]
    assert replay(Kernel, TINY, program) is None
    assert replay(KERNELS[name], TINY, program) is not None  # reachable: plain replay
    assert within_domains(program, TINY)
    assert name in CAUGHT and CAUGHT[name] <= len(program)


def test_catalogue_beyond_reach_passes_depth_2() -> None:
    """A kernel whose bug needs a running environment (4 calls to set up at TINY: an
    environment, its start-of-slice entry, a slice and a tick) passes a shallow run: the
    engine flags only what it reached."""
    cls = KERNELS["YieldToOutOfRange"]
    r = explore(cls, TINY, 2)
    assert r.passed and r.programs == 1100


def test_catalogue_kernels_registered() -> None:
    """The catalogues the benchmark reports on: all three, every entry a kernel class."""
    assert len(KERNELS) == len(CATALOGUE) + len(VIEWS) >= 80
    assert set(SHORT) <= set(CAUGHT) <= set(KERNELS)
