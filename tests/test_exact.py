"""Exact comparison (issue 22, GEN-1 for answers): a result or an observed value is equal
to the model's only if it is of the same kind — ``False`` is not ``0``, ``True`` is not
``1``, and a packet in hex has one form (lower case). In process, over the wire and in
the fixture suite, a kernel answering ``false`` for ``0`` is not conformant."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from exo.impl import Kernel
from exo.interface import Cap, Config, Outcome, Result, Status
from exo.kit import run_check
from exo.kit.conformance import exact_kind, same_outcome, same_result, same_value
from exo.model import initial
from exo.wire import WireKernel, fixtures

ROOT = Path(__file__).resolve().parent.parent
SMALL = Config(n_envs=2, n_pages=2, n_slices=2, tlb_size=2, stlb_size=2, n_filters=2)


class FalseForZero(Kernel):
    """Answers ``False``/``True`` where the value ``0``/``1`` is due."""

    def apply(self, name: str, *args: Any) -> Result:
        res = super().apply(name, *args)
        if type(res.value) is int and res.value in (0, 1):
            return Result(res.status, bool(res.value))
        return res


class StatusAsBool(Kernel):
    """Answers the status ``OK`` (0) as ``False``, its bool twin."""

    def apply(self, name: str, *args: Any) -> Result:
        res = super().apply(name, *args)
        if res.status == Status.OK:
            return Result(False, res.value)
        return res


def test_kinds() -> None:
    assert exact_kind(0) == exact_kind(Status.OK) == exact_kind(Outcome.ACCESS) == "int"
    assert exact_kind(False) is None and exact_kind(1.0) is None
    assert exact_kind(Cap(0, 0, 3)) == "cap" and exact_kind(Cap(0, False, 3)) is None
    assert not same_value(False, 0) and not same_value(True, 1) and not same_value(0, False)
    assert same_value(Status.OK, 0) and same_value(b"\x01", b"\x01")
    assert not same_value(Cap(0, 0, 3), Cap(0, False, 3))
    assert same_result(Result(Status.OK, 0), Result(0, 0))
    assert not same_result(Result(Status.OK, 0), Result(Status.OK, False))
    assert not same_result(Result(Status.OK, 0), Result(False, 0))
    assert not same_result(Result(Status.OK, 0), (0, 0))  # type: ignore[arg-type]


def test_upper_case_witness_is_refused() -> None:
    """NET-1's freedom (any packet both filters accept) holds for the one hex form only."""
    s = initial(SMALL)
    accept_all = ((0x06, 0, 0, 1),)
    from exo.model import REGISTRY

    s, res = REGISTRY["env_create"](s, 0, 0)
    s, res = REGISTRY["env_create"](s, 1, 1)
    s, res = REGISTRY["filter_install"](s, 0, accept_all)
    assert res.status == Status.OK
    _, want = REGISTRY["filter_install"](s, 1, accept_all)
    assert want.status == Status.OVERLAP and type(want.value) is str
    assert same_outcome(s, "filter_install", (1, accept_all), want, Result(Status.OVERLAP, "ab"))
    for bad in ("AB", "a b", "abc", " ab"):
        got = Result(Status.OVERLAP, bad)
        assert not same_outcome(s, "filter_install", (1, accept_all), want, got), bad


@pytest.mark.parametrize("impl", [FalseForZero, StatusAsBool])
def test_run_check_reports_bools_as_not_conformant(impl: Any) -> None:
    report = run_check(impl, SMALL, steps=10, examples=10, seed=1)
    assert not report.passed, report.text()
    assert "False" in report.text() or "True" in report.text()


@pytest.mark.parametrize("mode", ["false", "upper"])
def test_over_the_wire(mode: str) -> None:
    cmd = f"{sys.executable} {ROOT / 'tests' / 'wire_faults.py'} {mode} 1"
    report = run_check(WireKernel.factory(cmd), SMALL, steps=20, examples=20, seed=1)
    assert not report.passed, report.text()
    WireKernel.close_all()


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fx")
    fixtures.build(path, seed=0, extra=5, generated=4)
    return path


def test_fixtures_report_bools(suite: Path) -> None:
    outcomes = fixtures.run(suite, FalseForZero)
    failed = [o for o in outcomes if not o.passed]
    assert failed, "a kernel answering false for 0 passed every fixture"
    assert any("false" in o.detail for o in failed), failed[0].detail
    assert all(o.passed for o in fixtures.run(suite, Kernel))


def test_fixtures_over_the_wire_report_bools(suite: Path) -> None:
    cmd = f"{sys.executable} {ROOT / 'tests' / 'wire_faults.py'} false 1"
    outcomes = fixtures.run(suite, WireKernel.factory(cmd), keyword="witness")
    WireKernel.close_all()
    assert any(not o.passed for o in outcomes)
