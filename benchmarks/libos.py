"""Benchmark: ExOS-lite (exo.libos) in the shape of the paper's experiments.

Run from any folder, with exo installed (``pip install .``; ``--plots`` needs
matplotlib: ``pip install '.[bench]'``):
    python path/to/benchmarks/libos.py [--repeat 5] [--json out.json] [--plots DIR]
or, from the repository root, ``python -m benchmarks.libos`` with the same options.

1. Kernel operations per library operation: the paper's virtual-memory and IPC rows
   (a page fault served at application level, prot1, prot100, unprot100, trap, the
   Appel-Li composite, a pipe round trip, an LRPC round trip). The calls are counted on
   the reference model and, as a check, on exo.impl.Kernel (they must agree); the time
   of one library operation is the median over ``repeat`` runs on exo.impl.Kernel.
2. The stride scheduler's shares against 3:2:1 as the slices go by (plot).
3. A working set larger than the TLB, cycled through: how the accesses were served
   (TLB, STLB refill, upcall) with an STLB of 64 slots and with a 1-slot STLB.
No figure is asserted; the command prints the tables and writes the plots.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from exo.impl import Kernel
from exo.interface import Config, Outcome
from exo.libos.core import LibOS, Machine
from exo.libos.ipc import LRPC, Pipe
from exo.libos.pagetable import TwoLevel
from exo.libos.sched import StrideScheduler, Task
from exo.libos.vm import Process, SegFault
from exo.model.kernel import ModelImplementation

CFG = Config(n_envs=4, n_pages=256, page_words=8, tlb_size=64, stlb_size=512,
             n_slices=4, slice_ticks=10**6)
"""Room for 100-page protection runs; slices long enough that no measured operation
meets the end of one."""

Step = Callable[[], object]
Setup = Callable[[Machine], tuple[Step, Step]]
"""A row's setup: on a fresh machine, it returns ``(prepare, op)``. ``prepare`` runs
before each measurement, uncounted and untimed; ``op`` is the library operation."""


def _nothing() -> None:
    return None


def _procs(m: Machine) -> tuple[Process, Process]:
    lib = LibOS(m, "A")
    a = Process(lib, env=0, cid=0, slice_=1, table=TwoLevel())
    b = Process(lib, env=1, cid=1, slice_=2, table=TwoLevel())
    return a, b


def _mapped(m: Machine, n: int) -> Process:
    """A running process with ``n`` dirty pages at virtual pages 0..n-1."""
    a, _ = _procs(m)
    for v in range(n):
        a.store(v, 0, v)
    return a


def page_fault(m: Machine) -> tuple[Step, Step]:
    """A store to a page never touched: miss upcall, allocation, clean binding, write
    fault, dirty binding, the store."""
    a = _mapped(m, 1)
    fresh = iter(range(1000, 2000))
    return _nothing, lambda: a.store(next(fresh), 0, 1)


def prot(n: int) -> Setup:
    """Write-protect ``n`` writable pages (each loses its binding: TLB-2)."""
    def setup(m: Machine) -> tuple[Step, Step]:
        a = _mapped(m, n)
        return (lambda: a.protect(range(n), writable=True),
                lambda: a.protect(range(n), writable=False))
    return setup


def unprot(n: int) -> Setup:
    """Make ``n`` protected pages writable again (the table only: the next write
    faults and upgrades the binding)."""
    def setup(m: Machine) -> tuple[Step, Step]:
        a = _mapped(m, n)
        return (lambda: a.protect(range(n), writable=False),
                lambda: a.protect(range(n), writable=True))
    return setup


def trap(m: Machine) -> tuple[Step, Step]:
    """The first write to a clean page: the protection upcall and its handler."""
    a = _mapped(m, 1)
    fresh = iter(range(1000, 2000))
    page = [0]

    def prepare() -> None:
        page[0] = next(fresh)
        a.load(page[0], 0)  # mapped clean, read-only

    return prepare, lambda: a.store(page[0], 0, 1)


def appel_li(m: Machine) -> tuple[Step, Step]:
    """Appel and Li's composite: protect a page, touch it, and in the fault handler
    unprotect it (prot1 + trap + unprot)."""
    a = _mapped(m, 1)

    def op() -> None:
        a.protect([0], writable=False)
        try:
            a.store(0, 0, 5)
        except SegFault:
            a.protect([0], writable=True)
            a.store(0, 0, 5)
    return _nothing, op


def pipe_round_trip(m: Machine) -> tuple[Step, Step]:
    """A word from A to B and one back, through two pipes."""
    a, b = _procs(m)
    there, back = Pipe(a, b, vpage=50), Pipe(b, a, vpage=51)

    def op() -> None:
        there.write(1)
        assert there.read() == 1
        back.write(2)
        assert back.read() == 2
    return _nothing, op


def lrpc_round_trip(m: Machine) -> tuple[Step, Step]:
    a, b = _procs(m)
    rpc = LRPC(a, b, lambda args: args[0] + 1)
    return _nothing, lambda: rpc.call(41)


ROWS: list[tuple[str, Setup]] = [
    ("page fault (application level)", page_fault), ("prot1", prot(1)),
    ("prot100", prot(100)), ("unprot100", unprot(100)), ("trap", trap),
    ("appel-li (prot1 + trap + unprot)", appel_li), ("pipe round trip", pipe_round_trip),
    ("lrpc round trip", lrpc_round_trip),
]


def measure(name: str, setup: Setup, repeat: int) -> dict[str, Any]:
    """The row ``name``: its kernel calls on the model and on exo.impl (they must be the
    same), and the median time of the operation on exo.impl."""
    counts = []
    for make in (ModelImplementation, Kernel):
        m = Machine(make(CFG), CFG)
        prepare, op = setup(m)
        prepare()
        op()  # warm: the first run may set things up
        prepare()
        start, looks = Counter(m.calls), m.observes
        op()
        calls = Counter(m.calls)
        calls.subtract(start)
        calls = +calls
        counts.append((sum(calls.values()), dict(calls), m.observes - looks))
    if counts[0] != counts[1]:
        raise AssertionError(f"{name}: model {counts[0]} / exo.impl {counts[1]}")
    m = Machine(Kernel(CFG), CFG)
    prepare, op = setup(m)
    prepare()
    op()
    times = []
    for _ in range(repeat):
        prepare()
        t0 = time.perf_counter()
        op()
        times.append(time.perf_counter() - t0)
    total, by_op, looks = counts[0]
    return {"name": name, "kernel_calls": total, "by_operation": by_op,
            "observes": looks, "impl_us": statistics.median(times) * 1e6}


def stride_shares(slices: int = 120) -> dict[str, Any]:
    cfg = Config(n_envs=4, n_pages=8, n_slices=4, slice_ticks=2)
    m = Machine(Kernel(cfg), cfg)
    lib = LibOS(m, "A")
    for env in range(3):
        Process(lib, env=env, cid=env, slice_=env, table=TwoLevel())
    sched = StrideScheduler(lib, [Task(0, 3), Task(1, 2), Task(2, 1)])
    sched.run(slices)
    return {"history": sched.history, "shares": dict(sched.shares)}


def working_set(stlb_size: int, pages: int = 24, rounds: int = 20) -> dict[str, Any]:
    """Cycle through ``pages`` pages (more than the 8-slot TLB holds) ``rounds`` times;
    how the kernel served each access (the load's outcome, an upcall as DELIVERED)."""
    cfg = Config(n_envs=2, n_pages=32, tlb_size=8, stlb_size=stlb_size, slice_ticks=10**6)
    m = Machine(Kernel(cfg), cfg)
    a = Process(LibOS(m, "A"), env=0, cid=0, slice_=1, table=TwoLevel())
    for v in range(pages):
        a.load(v, 0)
    m.trace = []
    for _ in range(rounds):
        for v in range(pages):
            a.load(v, 0)
    served: Counter[str] = Counter()
    retry = False  # the load after an upcall is the same access, retried
    for line in m.trace:
        if not line.startswith("load("):
            continue
        outcome = line.rsplit(":", 1)[1]
        if not retry:
            served[outcome] += 1
        retry = outcome == Outcome.DELIVERED.name
    accesses = pages * rounds
    return {"stlb_size": stlb_size, "accesses": accesses,
            "tlb_hits": served[Outcome.ACCESS.name],
            "stlb_refills": served[Outcome.REFILL_STLB.name],
            "upcalls": served[Outcome.DELIVERED.name]}


def table(rows: list[dict[str, Any]]) -> str:
    w = max(len(r["name"]) for r in rows)
    out = [f"{'library operation':<{w}}  kernel calls  observes  exo.impl (us)  "
           "calls by operation",
           "-" * (w + 60)]
    for r in rows:
        ops = ", ".join(f"{k} {v}" for k, v in sorted(r["by_operation"].items()))
        out.append(f"{r['name']:<{w}}  {r['kernel_calls']:>12}  {r['observes']:>8}  "
                   f"{r['impl_us']:>13.1f}  {ops}")
    return "\n".join(out)


def _finish(fig: Any, ax: Any, path: Path, xlabel: str, ylabel: str, title: str) -> Path:
    import matplotlib.pyplot as plt

    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plots(directory: Path, stride: dict[str, Any], ws: list[dict[str, Any]]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 4))
    hist = stride["history"]
    for env, tickets in ((0, 3), (1, 2), (2, 1)):
        got = [sum(1 for e in hist[:i + 1] if e == env) / (i + 1) for i in range(len(hist))]
        ax.plot(range(1, len(hist) + 1), got, label=f"env {env}, {tickets} tickets")
        ax.axhline(tickets / 6, linestyle=":", color="grey")
    first = _finish(fig, ax, directory / "stride.png", "slices given", "share so far",
                    "Stride scheduler at application level (3:2:1)")
    fig, ax = plt.subplots(figsize=(6, 4))
    labels = [f"STLB {w['stlb_size']}" for w in ws]
    bottom = [0.0] * len(ws)
    for key in ("tlb_hits", "stlb_refills", "upcalls"):
        vals = [w[key] / w["accesses"] for w in ws]
        ax.bar(labels, vals, bottom=bottom, label=key.replace("_", " "))
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    second = _finish(fig, ax, directory / "stlb.png", "", "share of accesses",
                     "24-page working set, 8-slot TLB")
    return [first, second]


PLOTS_NEED = "--plots needs matplotlib: pip install 'exo-reference[bench]'"
"""The one line said, before any measurement, when ``--plots`` is given without
matplotlib."""


def _usage(message: str) -> int:
    """One line on standard error, exit status 2 (a usage error: nothing was run)."""
    print(f"libos.py: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5,
                    help="runs per row; the time shown is their median (default 5)")
    ap.add_argument("--json", type=Path, help="also write everything as JSON here")
    ap.add_argument("--plots", type=Path, help="write stride.png and stlb.png here "
                    "(needs matplotlib: pip install 'exo-reference[bench]')")
    a = ap.parse_args(argv)
    if a.repeat < 1:
        return _usage(f"--repeat must be at least 1, got {a.repeat}")
    if a.plots is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            return _usage(PLOTS_NEED)
    if a.json is not None and not a.json.parent.is_dir():
        return _usage(f"--json {a.json}: no folder {a.json.parent}")
    rows = [measure(name, setup, a.repeat) for name, setup in ROWS]
    print(table(rows))
    stride = stride_shares()
    print(f"\nstride scheduler, 120 slices, tickets 3:2:1: {stride['shares']}")
    ws = [working_set(512), working_set(1)]
    print("\nworking set of 24 pages, TLB of 8 slots, 20 rounds:")
    for w in ws:
        print(f"  STLB {w['stlb_size']:>3}: {w['tlb_hits']} TLB hits, {w['stlb_refills']} "
              f"STLB refills, {w['upcalls']} upcalls of {w['accesses']} accesses")
    try:
        if a.json:
            a.json.write_text(json.dumps({"rows": rows, "stride": stride,
                                          "working_set": ws}, indent=1) + "\n")
        if a.plots:
            for path in plots(a.plots, stride, ws):
                print(f"plot written to {path}")
    except OSError as exc:
        return _usage(f"cannot write {exc.filename}: {exc.strerror}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
