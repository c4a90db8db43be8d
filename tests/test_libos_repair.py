"""The pager's repair after the abort protocol (REV-3, REV-4), when the same physical page
is lost again and again, on the reference model and on the bundled implementation in the
same test (same values, same kernel calls).

A process that ignores a revocation request loses the page: the kernel takes it by force
(REV-3) and records the loss in the repossession vector (REV-4). ``Pager.repair`` drops
the lost page from the table; the next touch demand-pages a fresh one, which the library
takes from the lowest free physical pages, so it is the very page it lost. Lose that page
again and the repair must drop it again, every time; a table entry left holding the stale
capability would make the next touch fail in the kernel (``KernelError``) instead of
paging in.
"""

from __future__ import annotations

from typing import Any

import pytest

from exo.interface import Config, Resource
from exo.libos.core import LibOS, Machine
from exo.libos.pagetable import Hashed, TwoLevel
from exo.libos.revoke import Pager
from exo.libos.vm import Process
from tests.test_libos_vm import both, entry

CFG = Config(n_envs=4, n_pages=16, page_words=6, tlb_size=4, stlb_size=8, n_slices=4,
             slice_ticks=50)


def take(m: Machine, env: int, page: int) -> None:
    """A revocation request for ``page`` that the library ignores, then the abort."""
    now = m.state().get("now")
    m.ok("revoke_request", env, int(Resource.PAGE), page, now + 1)
    for _ in range(2):
        m.tick()
    m.ok("abort", env)


@pytest.mark.parametrize("times", [2, 3, 5])
def test_the_same_page_lost_again_is_repaired_every_time_REV_4(times: int) -> None:
    """REV-3/REV-4: the same physical page, lost ``times`` times at the same virtual
    page, is dropped by each repair; each load after it pages in a zeroed page; a second
    repair with nothing new taken drops nothing."""
    def program(m: Machine) -> Any:
        p = Process(LibOS(m, "A"), env=0, cid=0, slice_=1, table=Hashed())
        pager = Pager(p)
        seen = []
        for round_ in range(times):
            p.store(3, 0, 70 + round_)
            page = entry(p.table, 3).page
            take(m, 0, page)
            lost = pager.repair()
            again = pager.repair()
            value = p.load(3, 0)
            seen.append((page, lost, again, value, p.load(3, 0) == 0))
        return seen, pager.lost

    seen, lost = both(program, CFG)
    pages = {page for page, *_ in seen}
    assert len(pages) == 1, seen  # the same physical page every round
    assert [(lost_, again, value) for _, lost_, again, value, _ in seen] == (
        [([3], [], 0)] * times)
    assert lost == [3] * times


def test_a_page_taken_and_handed_out_again_before_the_repair_is_repaired_REV_4() -> None:
    """REV-3/MEM-1: the page is taken, and before the library repairs, a demand page of
    its own gets the same physical page (its record cleared by that alloc); the entry of
    the first virtual page still holds the stale capability and is dropped, the second
    keeps its page, and both load."""
    def program(m: Machine) -> Any:
        p = Process(LibOS(m, "A"), env=0, cid=0, slice_=1, table=TwoLevel())
        pager = Pager(p)
        p.store(3, 0, 5)
        page = entry(p.table, 3).page
        take(m, 0, page)
        p.store(4, 0, 6)  # demand-pages the lowest free page: the one just taken
        reused = entry(p.table, 4).page == page
        lost = pager.repair()
        return reused, lost, p.load(3, 0), p.load(4, 0)

    assert both(program, CFG) == (True, [3], 0, 6)


def test_a_repair_drops_only_what_was_taken_REV_4() -> None:
    """REV-4: of three pages, only the one taken is dropped; the others keep their data,
    through two losses of the same page."""
    def program(m: Machine) -> Any:
        p = Process(LibOS(m, "A"), env=0, cid=0, slice_=1, table=TwoLevel())
        pager = Pager(p)
        for v in (1, 2, 3):
            p.store(v, 0, 10 * v)
        out = []
        for _ in range(2):
            take(m, 0, entry(p.table, 2).page)
            out.append((pager.repair(), p.load(1, 0), p.load(2, 0), p.load(3, 0)))
        return out

    assert both(program, CFG) == [([2], 10, 0, 30)] * 2
