"""``run_check`` says how a failing run's time splits: the search up to the first failing
example, then shrinking and step deletion (``benchmarks/catalogue.py`` reports the
shrink column from these; issue 11 asks shrinking a filter failure to take <= 30 s)."""

from __future__ import annotations

from exo.impl import Kernel
from exo.interface import Config
from exo.kit.check import run_check
from tests.catalogue import TlbReplaceKeepsStaleIndex


def test_a_failure_reports_its_search_and_shrink_time() -> None:
    report = run_check(TlbReplaceKeepsStaleIndex, None, steps=20, examples=4, seed=1)
    assert not report.passed
    assert report.seconds_to_find is not None and report.seconds_to_find >= 0
    assert report.seconds_to_shrink is not None and report.seconds_to_shrink >= 0


def test_a_pass_has_no_split() -> None:
    cfg = Config(n_envs=2, n_pages=2, tlb_size=1, stlb_size=2)
    report = run_check(Kernel, cfg, steps=5, examples=2, seed=1)
    assert report.passed
    assert report.seconds_to_find is None and report.seconds_to_shrink is None
