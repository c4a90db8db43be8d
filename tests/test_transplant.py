"""Witness programs moved to the user's sizes (``exo check --config``,
``exo.kit.transplant``): an argument chosen out of range stays as far out of range, read
from the spec's ranges; the moved sweep reaches the failure cells the witnesses were made
for."""

from __future__ import annotations

import pytest

import exo.kit.witnesses as witnesses
from exo.interface import Cap, Config, Resource
from exo.kit.coverage import Coverage
from exo.kit.transplant import sizes_of, transplant
from exo.model.kernel import ModelImplementation

SMALL = Config(n_envs=3, n_pages=3, n_slices=3, n_filters=3)
USER = Config(n_envs=2, tlb_size=1, stlb_size=2)  # n_pages 8, n_slices 4, n_filters 4


def test_out_of_range_stays_as_far_out_and_the_rest_is_kept() -> None:
    calls = [("dealloc", (1, Cap(7, -1, 0))), ("alloc", (3, 2)), ("alloc", (0, -1)),
             ("yield_to", (4,)), ("set_reg", (9, 99)), ("timer_tick", ())]
    assert transplant(calls, SMALL, USER) == [
        ("dealloc", (1, Cap(12, -1, 0))),  # 4 past the end of 3 pages, 4 past 8
        ("alloc", (2, 2)),  # env 3 is the end of three: the end of two is 2
        ("alloc", (0, -1)),  # negative: kept
        ("yield_to", (3,)),
        ("set_reg", (9, 99)),  # reg 9 past n_regs 4 (both): kept; value: no range
        ("timer_tick", ())]
    assert transplant(calls, SMALL, SMALL) == calls


def test_a_revocation_target_follows_its_resource() -> None:
    calls = [("revoke_request", (0, int(Resource.PAGE), 3, 5)),
             ("revoke_request", (0, int(Resource.SLICE), 3, 5)),
             ("revoke_request", (0, int(Resource.FILTER), 4, 5)),
             ("revoke_request", (0, 7, 3, 5))]
    assert [a[2] for _, a in transplant(calls, SMALL, USER)] == [8, 4, 5, 3]


def test_the_sizes_come_from_the_spec_s_ranges() -> None:
    assert sizes_of("grant") == ("n_envs", "n_pages", "n_envs", None)
    assert sizes_of("gm_set") == ("n_envs", "n_guaranteed", "addr_limit", "n_pages", None)
    assert sizes_of("revoke_request")[2] is None


def test_the_moved_sweep_reaches_a_range_failure_at_the_user_s_sizes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``dealloc``'s page-in-range failure was reached by a witness made with three
    pages (page 7); on eight pages it is reached only once moved (page 12): with the
    programs kept as they are (``transplant`` as the identity) the cell is missed."""
    cell = "dealloc/requires/page-in-range"

    def reached() -> set[str]:
        coverage = Coverage()
        assert witnesses.sweep(ModelImplementation, coverage, [USER]) is None
        return set(coverage.counts)

    assert cell in reached()
    monkeypatch.setattr(witnesses, "transplant", lambda steps, old, new: list(steps))
    assert cell not in reached()
