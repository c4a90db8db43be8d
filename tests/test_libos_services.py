"""ExOS-lite services beyond virtual memory, each on the reference model and on the
bundled implementation in the same test (same values, same kernel calls): the pager's
answer to a revocation request and the abort protocol, a pipe, an LRPC, and a stride
scheduler."""

from __future__ import annotations

from typing import Any

from exo.interface import Config, Resource
from exo.libos.core import LibOS, Machine
from exo.libos.ipc import LRPC, Pipe, PipeFull
from exo.libos.pagetable import Hashed, TwoLevel
from exo.libos.revoke import Pager
from exo.libos.sched import StrideScheduler, Task
from exo.libos.vm import Process
from tests.test_libos_vm import both, entry

CFG = Config(n_envs=4, n_pages=16, page_words=6, tlb_size=4, stlb_size=8, n_slices=4,
             slice_ticks=50)


def test_the_pager_releases_a_clean_page_first_and_pages_dirty_data_back() -> None:
    """REV-1/REV-2: the request is visible; the clean page goes first; a dirty page is
    written back, deallocated, and its words come back on the next touch."""
    def program(m: Machine) -> Any:
        p = Process(LibOS(m, "A"), env=0, cid=0, slice_=1, table=TwoLevel())
        pager = Pager(p)
        p.store(1, 0, 11)
        p.load(2, 0)  # page 2: touched, never written (clean)
        page_1 = entry(p.table, 1).page
        m.ok("revoke_request", 0, int(Resource.PAGE), page_1, 100)
        first = pager.answer()
        m.ok("revoke_request", 0, int(Resource.PAGE), page_1, 100)
        second = pager.answer()
        back = p.load(1, 0)
        return first, second, pager.released, back, dict(p.faults)

    first, second, released, back, faults = both(program, CFG)
    assert (first, second) == (2, 1)
    assert released == [(2, False), (1, True)] and back == 11
    assert faults["page_in"] == 1


def test_a_library_that_ignores_a_request_loses_the_page_and_repairs_its_table() -> None:
    """REV-3/REV-4: after the deadline the kernel takes the page; the library finds it in
    its repossession vector, drops it, and a new touch demand-pages a zeroed page."""
    def program(m: Machine) -> Any:
        p = Process(LibOS(m, "A"), env=0, cid=0, slice_=1, table=Hashed())
        pager = Pager(p)
        p.store(3, 0, 77)
        page = entry(p.table, 3).page
        now = m.state(p.env).get("now")
        m.ok("revoke_request", 0, int(Resource.PAGE), page, now + 1)
        for _ in range(2):
            m.tick()
        m.ok("abort", 0)
        lost = pager.repair()
        return lost, p.load(3, 0), pager.repair()

    assert both(program, CFG) == ([3], 0, [])


def test_a_pipe_carries_words_in_order_between_two_processes() -> None:
    def program(m: Machine) -> Any:
        lib = LibOS(m, "A")
        a = Process(lib, env=0, cid=0, slice_=1, table=TwoLevel())
        b = Process(lib, env=1, cid=1, slice_=2, table=TwoLevel())
        pipe = Pipe(a, b, vpage=9)
        got: list[int | None] = []
        for v in (5, 6, 7):
            pipe.write(v)
        got += [pipe.read(), pipe.read()]
        for v in (8, 9, 10):
            pipe.write(v)
        try:
            pipe.write(11)
            full = False
        except PipeFull:
            full = True
        while (x := pipe.read()) is not None:
            got.append(x)
        return got, full

    assert both(program, CFG) == ([5, 6, 7, 8, 9, 10], True)


def test_lrpc_passes_arguments_in_registers_and_donates_the_slice() -> None:
    """PCT-1/PCT-3: the server sees the client's registers and the slice in progress
    moves with the call, and back with the reply."""
    def program(m: Machine) -> Any:
        a = Process(LibOS(m, "client"), env=0, cid=0, slice_=1, table=TwoLevel())
        b = Process(LibOS(m, "server"), env=1, cid=1, slice_=2, table=Hashed())
        during: list[int] = []

        def server(args: list[int]) -> int:
            during.append(m.state(b.env).get("slice_owner", 1))  # the client's slice, 1
            return args[0] * 10 + args[1]

        rpc = LRPC(a, b, server)
        first = rpc.call(4, 2)
        owner_after = m.state(a.env).get("slice_owner", 1)
        return first, rpc.call(7, 1), during, owner_after

    assert both(program, CFG) == (42, 71, [1, 1], 0)


def test_a_stride_scheduler_shares_slices_three_two_one() -> None:
    cfg = Config(n_envs=4, n_pages=8, n_slices=4, slice_ticks=2)

    def program(m: Machine) -> Any:
        lib = LibOS(m, "A")
        for env in range(3):
            Process(lib, env=env, cid=env, slice_=env, table=TwoLevel())
        sched = StrideScheduler(lib, [Task(0, 3), Task(1, 2), Task(2, 1)])
        sched.run(60)
        return dict(sched.shares), sched.history[:6]

    shares, start = both(program, cfg)
    assert shares == {0: 30, 1: 20, 2: 10}
    assert start == [0, 1, 2, 0, 1, 0]  # passes 1/3, 1/2, 1, 2/3, 1, 1 (x 2^20)



def test_the_demo_prints_the_same_lines_on_the_model_and_the_implementation(
        capsys: Any) -> None:
    from exo.libos import demo

    assert demo.main(["--quiet"]) == 0
    out = capsys.readouterr().out
    assert "== page fault: store 42 at 5:0 (demand page, then dirty), load = 42" in out
    assert "add(20, 22) = 42" in out and "{0: 15, 1: 10, 2: 5}" in out
    assert "the same lines on the reference model and on exo.impl.Kernel" in out
