"""ExOS-lite virtual memory (exo.libos.vm) on the reference model and on the bundled
implementation in the same test: the same program gives the same values, the same
upcalls and the same kernel calls on both."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from exo.impl import Kernel
from exo.interface import Config
from exo.libos.core import LibOS, Machine
from exo.libos.pagetable import PTE, Hashed, PageTable, TwoLevel
from exo.libos.vm import Process, SegFault
from exo.model.kernel import ModelImplementation

CFG = Config(n_envs=4, n_pages=16, page_words=4, tlb_size=4, stlb_size=8, n_slices=4,
             slice_ticks=50)
KERNELS: list[Callable[[Config], Any]] = [ModelImplementation, Kernel]
TABLES: list[Callable[[], PageTable]] = [TwoLevel, Hashed]


def entry(table: PageTable, vpage: int) -> PTE:
    pte = table.lookup(vpage)
    assert pte is not None, vpage
    return pte


def both(program: Callable[[Machine], Any], cfg: Config = CFG) -> Any:
    """Run ``program`` on the model and on exo.impl; both must give the same result
    and make the same kernel calls. Returns the model's result."""
    outs = []
    for make in KERNELS:
        m = Machine(make(cfg), cfg)
        outs.append((program(m), dict(m.calls)))
    assert outs[0] == outs[1], f"model {outs[0]} / impl {outs[1]}"
    return outs[0][0]


@pytest.mark.parametrize("table", TABLES)
def test_page_tables_keep_what_is_inserted(table: Callable[[], PageTable]) -> None:
    from exo.interface import Cap

    t = table()
    for v in (0, 1, 1023, 1024, 5000, 70000):
        t.insert(v, PTE(v % 7, Cap(v % 7, 0, 2), writable=bool(v & 1)))
    assert entry(t, 1024).page == 1024 % 7
    assert t.lookup(2) is None
    assert t.remove(5000) is not None and t.lookup(5000) is None
    assert sorted(v for v, _ in t.entries()) == [0, 1, 1023, 1024, 70000]


@pytest.mark.parametrize("table", TABLES)
def test_demand_paging_and_dirty_bits(table: Callable[[], PageTable]) -> None:
    """The first touch allocates (a miss upcall), the first write marks dirty (a
    protection upcall on the read-only clean mapping), a fresh page reads zero."""
    def program(m: Machine) -> Any:
        p = Process(LibOS(m, "A"), env=0, cid=0, slice_=1, table=table())
        fresh = p.load(7, 2)
        clean = p.dirty(7)
        p.store(7, 2, 41)
        p.store(9, 0, 5)
        return fresh, clean, p.dirty(7), p.load(7, 2), p.load(9, 0), dict(p.faults)

    fresh, clean, dirty, got, other, faults = both(program)
    assert (fresh, clean, dirty, got, other) == (0, False, True, 41, 5)
    assert faults["demand"] == 2 and faults["protection"] == 2


def test_protection_changes_refuse_writes_until_unprotected() -> None:
    def program(m: Machine) -> Any:
        p = Process(LibOS(m, "A"), env=0, cid=0, slice_=1, table=TwoLevel())
        for v in range(3):
            p.store(v, 0, 10 + v)
        p.protect(range(3), writable=False)
        refused = []
        for v in range(3):
            try:
                p.store(v, 0, 99)
            except SegFault:
                refused.append(v)
        p.protect(range(3), writable=True)
        p.store(1, 0, 7)
        return refused, [p.load(v, 0) for v in range(3)]

    assert both(program) == ([0, 1, 2], [10, 7, 12])


def test_copy_on_write_between_two_processes() -> None:
    """A grant shares the page read-only; the writer gets its own copy; the other side
    keeps the old contents (and can write its own copy later)."""
    def program(m: Machine) -> Any:
        lib = LibOS(m, "A")
        a = Process(lib, env=0, cid=0, slice_=1, table=TwoLevel())
        b = Process(lib, env=1, cid=1, slice_=2, table=Hashed())
        for w in range(4):
            a.store(3, w, 100 + w)
        a.share_cow(3, b, 8)
        seen = [b.load(8, w) for w in range(4)]
        b.store(8, 1, -1)
        after_b = ([a.load(3, w) for w in range(4)], [b.load(8, w) for w in range(4)])
        a.store(3, 0, 0)
        return seen, after_b, a.load(3, 0), b.load(8, 0), dict(b.faults), dict(a.faults)

    seen, (a_words, b_words), a0, b0, bf, af = both(program)
    assert seen == [100, 101, 102, 103]
    assert a_words == [100, 101, 102, 103] and b_words == [100, -1, 102, 103]
    assert (a0, b0) == (0, 100)
    assert bf["cow_copy"] == 1 and af["cow_copy"] == 1


def test_two_libraries_do_not_see_each_others_pages() -> None:
    """Library B's process touching the same virtual page gets its own zeroed page:
    its table has nothing of A's, and the kernel checks the capability (TLB-1)."""
    def program(m: Machine) -> Any:
        a = Process(LibOS(m, "A"), env=0, cid=0, slice_=1, table=TwoLevel())
        b = Process(LibOS(m, "B", page_order=range(15, -1, -1)), env=1, cid=1, slice_=2,
                    table=Hashed())
        a.store(4, 0, 1234)
        page_a = entry(a.table, 4).page
        seen_by_b = b.load(4, 0)
        page_b = entry(b.table, 4).page
        stolen = b.lib.sys(b.env, "tlbwr", 5, entry(a.table, 4).cap, False)
        return page_a, page_b, seen_by_b, stolen.status

    page_a, page_b, seen, status = both(program)
    assert page_a != page_b and seen == 0
    from exo.interface import Status

    assert status == Status.BAD_CAPABILITY
