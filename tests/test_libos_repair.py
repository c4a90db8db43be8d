"""The pager's repair after the abort protocol (REV-3, REV-4), when the same physical page
is lost again and again, on the reference model and on the bundled implementation in the
same test (same values, same kernel calls); and the text of the error a library raises
when a kernel call it needed failed.

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

from exo.interface import NULL_CAP, Config, Resource, Result, Status
from exo.libos.core import KernelError, LibOS, Machine
from exo.libos.pagetable import Hashed, TwoLevel
from exo.libos.revoke import Pager
from exo.libos.vm import Process
from tests.test_libos_vm import both, entry

CFG = Config(n_envs=4, n_pages=16, page_words=6, tlb_size=4, stlb_size=8, n_slices=4,
             slice_ticks=50)


def take(m: Machine, env: int, page: int) -> None:
    """A revocation request for ``page`` that the library ignores, then the abort."""
    now = m.state(env).get("now")
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


def test_a_kernel_error_names_the_operation_its_arguments_and_the_status() -> None:
    """A failed kernel call the library needed reads as the call and its answer: the
    operation, each argument by its name in the interface, and the status by name; the
    error keeps all three as attributes. Raised for real, by the library, on both
    kernels (the same text)."""
    def program(m: Machine) -> Any:
        p = Process(LibOS(m, "A"), env=0, cid=0, slice_=1, table=TwoLevel())
        p.store(3, 0, 1)
        stale = entry(p.table, 3).cap
        m.sys_ok(0, "dealloc", stale)
        texts = []
        for name, args in (("dealloc", (stale,)), ("load", (1 << 40, 0, 0)),
                           ("tlbwr", (3, stale, True))):
            trapped = name != "load"  # a system call traps; a load is a hardware event
            with pytest.raises(KernelError) as info:
                if trapped:
                    m.sys_ok(0, name, *args)
                else:
                    m.ok(name, *args)
            err = info.value
            again = m.sys(0, name, *args) if trapped else m.call(name, *args)
            assert (err.name, err.call_args, err.result.status) == (
                name, (0, *args) if trapped else args, again.status)
            texts.append(str(err))
        return texts

    page = "Cap(p0, g0, r2)"
    assert both(program, CFG) == [
        f"dealloc(env=0, cap={page}) -> NOT_OWNER",
        f"load(vpage={1 << 40}, offset=0, reg=0) -> INVALID_ARGUMENT",
        f"tlbwr(env=0, vpage=3, cap={page}, writable=True) -> BAD_CAPABILITY",
    ]


def test_a_kernel_error_outside_the_interface_or_with_a_value() -> None:
    """A call that is not an interface operation shows its arguments by position; a
    status that is none of ``Status`` shows as its number; a value other than the null
    value follows the status."""
    assert str(KernelError("run", (2,), Result(Status.NOT_RUNNING, 0))) == (
        "run(2) -> NOT_RUNNING")
    assert str(KernelError("alloc", (1,), Result(Status.IN_USE, NULL_CAP))) == (
        "alloc(env=1) -> IN_USE")
    assert str(KernelError("scall", (1, 9), Result(99, "0a"))) == (
        "scall(callee=1, 9) -> 99 (value '0a')")
