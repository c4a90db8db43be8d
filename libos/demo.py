"""``python -m exo.libos.demo``: ExOS-lite on the reference model and on exo.impl.Kernel,
side by side. Each scene prints what the library did and the kernel calls it made. The
two runs must print the same lines (the command exits 1 if they differ).

Scenes: a page fault served at application level, a revocation answered by the pager,
a page lost to the abort protocol, a pipe, an LRPC, a stride scheduler, two libraries on
one kernel, datagram sockets with generated packet filters, and a page table kept on a
guaranteed mapping."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from exo.interface import Config, Resource
from exo.libos.core import LibOS, Machine
from exo.libos.ipc import LRPC, Pipe
from exo.libos.net import PortInUse, Socket, udp_frame
from exo.libos.pagetable import Hashed, TwoLevel
from exo.libos.revoke import Pager
from exo.libos.sched import StrideScheduler, Task
from exo.libos.vm import TABLE_VPAGE, Process

CFG = Config(n_envs=4, n_pages=16, page_words=6, tlb_size=4, stlb_size=8, n_slices=4,
             slice_ticks=50, n_filters=4, ring_size=4)


def folded(lines: list[str]) -> list[str]:
    """``lines`` with each run of one line repeated shown once, with its count (the
    clock ticking through other environments' slices)."""
    out: list[str] = []
    run = 0
    for i, line in enumerate(lines):
        run += 1
        if i + 1 < len(lines) and lines[i + 1] == line:
            continue
        out.append(line if run == 1 else f"{line}  ({run} times)")
        run = 0
    return out


def _scene(m: Machine, out: list[str], title: str, body: Callable[[], str],
           calls: bool) -> None:
    m.trace = []
    line = body()
    out.append(f"== {title}: {line}")
    if calls:
        out.extend(f"   {c}" for c in folded(m.trace))
    else:
        out.append(f"   {len(m.trace)} kernel calls")
    m.trace = None


def scenes(make: Callable[[Config], Any], calls: bool = True) -> list[str]:
    """The demo on a kernel made by ``make``: its printed lines."""
    m = Machine(make(CFG), CFG)
    out: list[str] = []
    lib = LibOS(m, "A")
    a = Process(lib, env=0, cid=0, slice_=1, table=TwoLevel())
    b = Process(lib, env=1, cid=1, slice_=2, table=Hashed())
    pager = Pager(a)
    a.load(0, 0)  # a running start: env 0 on the CPU, one page touched

    def fault() -> str:
        a.store(5, 0, 42)
        return f"store 42 at 5:0 (demand page, then dirty), load = {a.load(5, 0)}"

    _scene(m, out, "page fault", fault, calls)

    def ask_for(vpage: int, ticks: int) -> int:
        """REV-1: the kernel asks env 0 for the page behind ``vpage`` within ``ticks``."""
        pte = a.table.lookup(vpage)
        assert pte is not None
        m.ok("revoke_request", 0, int(Resource.PAGE), pte.page, m.state(0).get("now") + ticks)
        return pte.page

    def revoke() -> str:
        page = ask_for(5, 10)
        return f"asked for page {page}; the pager released virtual page {pager.answer()}"

    _scene(m, out, "revocation", revoke, calls)

    def abort() -> str:
        ask_for(5, 1)
        m.tick()
        m.tick()
        m.ok("abort", 0)
        return f"ignored a request: lost {pager.repair()}, page 5 reads {a.load(5, 0)}"

    _scene(m, out, "abort protocol", abort, calls)

    def pipe() -> str:
        p = Pipe(a, b, vpage=9)
        for v in (1, 2, 3):
            p.write(v)
        return f"wrote 1 2 3, read {p.read()} {p.read()} {p.read()}"

    _scene(m, out, "pipe", pipe, calls)

    rpc = LRPC(a, b, lambda args: args[0] + args[1])
    _scene(m, out, "LRPC", lambda: f"add(20, 22) = {rpc.call(20, 22)}", calls)

    def stride() -> str:
        c = Process(lib, env=2, cid=2, slice_=3, table=TwoLevel())
        sched = StrideScheduler(lib, [Task(0, 3), Task(1, 2), Task(c.env, 1)])
        sched.run(30)
        return f"slices over 30: {dict(sorted(sched.shares.items()))} for tickets 3:2:1"

    _scene(m, out, "stride scheduler", stride, False)

    other = LibOS(m, "B", page_order=range(CFG.n_pages - 1, -1, -1))
    d = Process(other, env=3, cid=3, slice_=0, table=Hashed())

    def two_libraries() -> str:
        d.store(5, 0, 9)
        mapped = d.table.lookup(5)
        where = "unmapped" if mapped is None else mapped.page  # the store just mapped it
        return (f"B's page 5 reads {d.load(5, 0)} (A's reads {a.load(5, 0)}); "
                f"B's pages start at the top: {where}")

    _scene(m, out, "two libraries", two_libraries, False)

    def sockets() -> str:
        mine = Socket(a, 7000)
        try:
            Socket(d, 7000)
            clash = "B got port 7000 too"
        except PortInUse as exc:
            clash = f"B's claim on 7000 refused (witness of {len(exc.witness) // 2} bytes)"
        theirs = Socket(d, 7001)
        for port, data in ((7000, b"for A"), (7001, b"for B"), (7002, b"nobody")):
            m.call("packet_arrive", udp_frame(port, data))
        got_b = theirs.recv()  # B runs now; A takes its datagram when its slice comes
        got_a = mine.recv()
        return f"{clash}; A received {got_a!r}, B received {got_b!r}"

    _scene(m, out, "datagram sockets", sockets, calls)

    def pinned() -> str:
        page = a.pin_tables(slot=0)
        a.store(12, 0, 1)
        m.sys_ok(0, "tlbvadelete", TABLE_VPAGE)
        a.store(13, 0, 1)
        return (f"A's page table image on guaranteed page {page}: "
                f"{a.load(TABLE_VPAGE, 0)} entries, no upcall for it")

    _scene(m, out, "page table on a guaranteed mapping", pinned, calls)
    out.append(f"kernel calls in all: {m.kernel_ops()}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quiet", action="store_true", help="count the calls, do not list them")
    a = ap.parse_args(argv)
    from exo.impl import Kernel
    from exo.model.kernel import ModelImplementation

    model = scenes(ModelImplementation, not a.quiet)
    impl = scenes(Kernel, not a.quiet)
    print("\n".join(model))
    if model != impl:
        diff = next(i for i, (x, y) in enumerate(zip(model, impl, strict=False)) if x != y)
        print(f"exo.impl differs from the model at line {diff + 1}: {impl[diff]!r}",
              file=sys.stderr)
        return 1
    print("the same lines on the reference model and on exo.impl.Kernel")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
