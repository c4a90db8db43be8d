"""NET-1's pair check (``exo.model.dfilter.program_overlap``) and the kit's filter profiles
(``exo.kit.profiles``): declarative pairs are decided by FLT-9 with the answer Z3 gives,
and a kernel that decides only declarative pairs conforms on the declarative profile and
is caught on the solver profile."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest

import exo.impl.net as impl_net
from exo.impl import Kernel
from exo.interface import Status
from exo.kit.bpf_samples import SAMPLES
from exo.kit.check import run_check
from exo.kit.profiles import OUTSIDE, admits, problem
from exo.kit.rules import ACCEPT_ALL, DIVISION_CHAIN
from exo.model import dfilter
from exo.model.dfilter import program_overlap, recognize
from exo.model.filters import UNDECIDED, Overlap, Program, Undecided, evaluate, parse_ddd

CORPUS = json.loads((Path(__file__).parent / "data" / "bpf_corpus.json").read_text())
DECLARATIVE: list[Program] = sorted(
    {p for p in (parse_ddd(e[f]) for e in CORPUS for f in ("ddd", "ddd_unoptimized"))
     if recognize(p) is not None})
"""The corpus programs FLT-9 recognizes."""


def _z3_says_overlap(a: Program, b: Program) -> bool | None:
    """FLT-6's own answer for the pair, asked in NET-1's order; None when undecided."""
    from exo.model.filters import overlap

    first, second = (a, b) if a <= b else (b, a)
    found = overlap(first, [second])
    return None if isinstance(found, Undecided) else found is not None


def _agreement(check: Callable[[Program, Program], Overlap],
               pairs: list[tuple[Program, Program]]) -> list[str]:
    """Where ``check`` (a pair check) differs from Z3, or gives a witness that does not
    replay on both programs, or gives UNDECIDED for a declarative pair."""
    problems = []
    for a, b in pairs:
        found = check(a, b)
        if isinstance(found, Undecided):
            problems.append(f"UNDECIDED for two declarative programs {a[:2]}..")
            continue
        z3_says = _z3_says_overlap(a, b)
        if z3_says is not None and z3_says != (found is not None):
            problems.append(f"FLT-9 says {found is not None}, Z3 {z3_says}")
        if found is not None and not (evaluate(a, found[1]) and evaluate(b, found[1])):
            problems.append("a witness that does not replay")
    return problems


def _pairs(count: int) -> list[tuple[Program, Program]]:
    rng = random.Random(9)
    every = list(itertools.combinations(DECLARATIVE, 2))
    return rng.sample(every, min(count, len(every)))


def test_declarative_pairs_are_decided_by_flt9_as_z3_decides_them() -> None:
    """NET-1.5 on 150 pairs of recognized corpus programs: never UNDECIDED, the same
    overlap answer as FLT-6's Z3 check, and a witness both programs accept; the answer
    does not depend on the order of the question."""
    pairs = _pairs(150)
    assert _agreement(program_overlap, pairs) == []
    overlapping = sum(program_overlap(a, b) is not None for a, b in pairs)
    assert 0 < overlapping < len(pairs)
    assert all(program_overlap(a, b) == program_overlap(b, a) for a, b in pairs)


@pytest.mark.parametrize("broken", ["always-disjoint", "first-conjunction-only",
                                    "undecided"])
def test_broken_pair_checks_are_caught(broken: str) -> None:
    """The agreement check fails for pair checks that get declarative pairs wrong."""
    def check(a: Program, b: Program) -> Overlap:
        if broken == "always-disjoint":
            return None
        if broken == "undecided":
            return UNDECIDED
        da, db = recognize(a), recognize(b)
        assert da is not None and db is not None
        packet = dfilter.overlap(da[:1], db[:1])
        return None if packet is None else (0, packet)

    assert _agreement(check, _pairs(150)) != []


def test_recognized_checks_the_exact_value_before_its_cache() -> None:
    """A program of bools equal to a cached one of ints is refused, not answered."""
    assert dfilter.recognized(ACCEPT_ALL) is not None
    with pytest.raises(ValueError):
        dfilter.recognized(((6, False, False, True),))


def test_the_witness_is_flt9s_on_the_ordered_pair() -> None:
    """The witness of a declarative pair is FLT-9's ``overlap`` of the two DFilters, the
    smaller program first (what a kernel in another language computes too)."""
    a, b = SAMPLES["tcp_port_80"], ACCEPT_ALL
    first, second = (a, b) if a <= b else (b, a)
    da, db = recognize(first), recognize(second)
    assert da is not None and db is not None
    assert program_overlap(a, b) == (0, dfilter.overlap(da, db))


def test_a_pair_outside_flt9_is_not_decided_by_flt9() -> None:
    """The 64 chained divisions are outside FLT-9, and too heavy for NET-1's solver
    (tests/test_pair_budget.py): undecided, with the pair's weight."""
    assert recognize(DIVISION_CHAIN) is None
    found = program_overlap(ACCEPT_ALL, DIVISION_CHAIN)
    assert isinstance(found, Undecided) and found.weight == 256


def test_profiles_admit_calls() -> None:
    unrecognized = SAMPLES["ip_len_div"]
    assert recognize(unrecognized) is None
    for profile in ("solver", "declarative"):
        assert admits(profile, "filter_install", (0, SAMPLES["arp"]))
        assert admits(profile, "filter_install", (0, ()))  # refused by the verifier
        assert admits(profile, "filter_install", (0, "not a program"))  # GEN-1
        assert admits(profile, "alloc", (0, 1))
    assert admits("solver", "filter_install", (0, unrecognized))
    assert not admits("declarative", "filter_install", (0, unrecognized))
    assert not admits("declarative", "filter_install", (0, DIVISION_CHAIN))
    assert problem("declarative") is None and problem("z3") is not None
    assert problem(True) is not None


def _solver_free(monkeypatch: pytest.MonkeyPatch) -> None:
    """exo.impl as a kernel without a solver: FLT-9 for declarative pairs, UNDECIDED for
    any other pair (it cannot decide it)."""
    def pair(a: Program, b: Program) -> Overlap:
        first, second = (a, b) if a <= b else (b, a)
        da, db = recognize(first), recognize(second)
        if da is None or db is None:
            return UNDECIDED
        packet = dfilter.overlap(da, db)
        return None if packet is None else (0, packet)

    monkeypatch.setattr(impl_net, "_pair", pair)


def test_a_kernel_without_a_solver_conforms_on_the_declarative_profile(
        monkeypatch: pytest.MonkeyPatch) -> None:
    _solver_free(monkeypatch)
    report = run_check(Kernel, None, steps=30, examples=40, seed=2, filters="declarative")
    assert report.passed, report.error
    assert report.complete, report.missing
    assert report.coverage is not None
    assert report.coverage.outside == OUTSIDE["declarative"]
    for cell in OUTSIDE["declarative"]:
        assert cell not in report.coverage.counts


def test_a_kernel_without_a_solver_is_caught_on_the_solver_profile(
        monkeypatch: pytest.MonkeyPatch) -> None:
    _solver_free(monkeypatch)
    report = run_check(Kernel, None, steps=30, examples=40, seed=2)
    assert not report.passed
    error = report.error or ""
    assert error.startswith("filter_install(") and (
        f"implementation returns {Status.UNDECIDED.name}" in error), error
