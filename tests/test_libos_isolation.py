"""Two library OSes on one kernel: nothing library B does through any service reads or
changes library A's pages, and B never comes to hold a right to them or a binding of
them (MEM-6, TLB-9). Run on the model and on exo.impl in the same test."""

from __future__ import annotations

from typing import Any

from exo.interface import Config, Resource, Status
from exo.libos.core import LibOS, Machine
from exo.libos.ipc import LRPC, Pipe
from exo.libos.net import Socket, udp_frame
from exo.libos.pagetable import Hashed, TwoLevel
from exo.libos.revoke import Pager
from exo.libos.sched import StrideScheduler, Task
from exo.libos.vm import Process
from tests.test_libos_vm import both, entry

CFG = Config(n_envs=5, n_pages=24, page_words=4, tlb_size=4, stlb_size=8, n_cids=6,
             n_slices=5, slice_ticks=40, n_filters=4, ring_size=4)
SECRET = 0x5EC12E7


def test_a_library_cannot_reach_another_librarys_pages_through_any_service() -> None:
    def program(m: Machine) -> Any:
        lib_a = LibOS(m, "A")
        a = Process(lib_a, env=0, cid=0, slice_=0, table=TwoLevel())
        for v in range(4):
            a.store(v, 0, SECRET + v)
        pages_a = {entry(a.table, v).page: entry(a.table, v).cap for v in range(4)}

        lib_b = LibOS(m, "B", page_order=range(CFG.n_pages - 1, -1, -1))
        b1 = Process(lib_b, env=1, cid=1, slice_=1, table=Hashed())
        b2 = Process(lib_b, env=2, cid=2, slice_=2, table=TwoLevel())
        b3 = Process(lib_b, env=3, cid=3, slice_=3, table=Hashed())
        seen: list[int] = []
        # virtual memory: the same virtual pages, copy-on-write, protection
        for v in range(6):
            seen.append(b1.load(v, 0))
            b1.store(v, 1, -v)
        b1.share_cow(0, b2, 0)
        seen.append(b2.load(0, 0))
        b2.store(0, 0, 1)
        b1.protect(range(6), writable=False)
        b1.protect(range(6), writable=True)
        # revocation and the abort protocol on B's own pages
        pager = Pager(b1)
        m.ok("revoke_request", 1, int(Resource.PAGE), entry(b1.table, 1).page,
             m.state(1).get("now") + 5)
        pager.answer()
        m.ok("revoke_request", 1, int(Resource.PAGE), entry(b1.table, 2).page,
             m.state(1).get("now") + 1)
        m.tick()
        m.tick()
        m.ok("abort", 1)
        pager.repair()
        seen += [b1.load(v, 0) for v in range(6)]
        # IPC inside B, and an LRPC into A (A's server sees only registers)
        pipe = Pipe(b1, b2, vpage=9)
        pipe.write(3)
        seen.append(pipe.read() or 0)
        seen.append(LRPC(b1, a, lambda args: args[0] + 1).call(5))
        # networking and scheduling
        sock = Socket(b3, 9000)
        m.call("packet_arrive", udp_frame(9000, b"b"))
        assert sock.recv() == b"b"
        StrideScheduler(lib_b, [Task(1, 2), Task(2, 1), Task(3, 1)]).run(8)
        # forgeries with A's capabilities, trapped by B's process (it can name no other
        # caller: the trap layer supplies it, GEN-6)
        forged = set()
        for cap in pages_a.values():
            forged.add(lib_b.sys(1, "tlbwr", 30, cap, False).status)
            forged.add(lib_b.sys(1, "grant", cap, 2, 1).status)
            forged.add(lib_b.sys(1, "gm_set", 0, 31, cap, False).status)
            forged.add(lib_b.sys(1, "dealloc", cap).status)
        b_envs, b_cids = (1, 2, 3), (1, 2, 3)
        rights = [m.state(e).get("rights", (e, p)) for e in b_envs for p in pages_a]
        s = m.state(1)  # the translation caches are public (GEN-7)
        bindings = [s.get(f"{t}_page", i) for t, n in (("tlb", CFG.tlb_size),
                                                       ("stlb", CFG.stlb_size))
                    for i in range(n)
                    if s.get(f"{t}_valid", i) and s.get(f"{t}_cid", i) in b_cids]
        kept = [a.load(v, 0) for v in range(4)]
        return seen, sorted(forged), rights, bindings, list(pages_a), kept

    seen, forged, rights, bindings, pages_a, kept = both(program, CFG)
    assert not {SECRET + v for v in range(4)} & set(seen)
    assert forged == sorted({Status.BAD_CAPABILITY, Status.NOT_OWNER})
    assert rights == [0] * len(rights)
    assert not set(bindings) & set(pages_a)
    assert kept == [SECRET + v for v in range(4)]
