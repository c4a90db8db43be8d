"""Benchmark rows for a kernel behind the wire protocol (``exo bench --c-kernel PATH``).

Five rows, each a ratio measured in one run:

1. lockstep against the process: ``exo.kit.run_check`` with
   ``WireKernel.factory(PATH)`` as ``exo check --impl-cmd PATH --filters declarative``
   runs it; operations applied per second (target >= 1,000);
2. a load that hits the hardware TLB: bundled ``exo.impl.Kernel`` / the C kernel;
3. a load that misses the TLB and refills from the STLB: the same ratio;
4. a Dealloc of a page with 8 bindings (TLB of 64, STLB of 1,000): the same ratio;
5. the demux with 1,000 installed 'udp dst port N' filters, per packet: exo.impl's
   ``Demux.classify`` timed as ``exo.cli.bench.demux_costs`` times it (the same filters
   and packets) / the C kernel's ``packet_arrive`` (NET-3 through its DPF-style trie,
   examples/c-kernel/demux.c, delivery into the ring included). The details give both
   sides at 10, 100 and 1,000 filters.

Rows 2-5 need the kernel's own timing mode: ``PATH --bench [--quick]`` prints one JSON
line ``{"tlb_hit_ns": .., "stlb_refill_ns": .., "dealloc8_ns": .., "demux10_ns": ..,
"demux100_ns": .., "demux1000_ns": ..}`` of medians measured inside the process
(examples/c-kernel/bench.c), on the configurations and call sequences the Python side
below uses. Targets: >= 50x faster for rows 2-4, where exo.impl runs a whole operation
in Python. Row 5's target is >= 1 (C at least as fast): exo.impl's demux is already a
merged trie compiled to Python source, whose work per packet is a few field reads and
dict lookups in one call, and the C side does the same reads and hash probes and also
copies the packet into its ring; the gap is the interpreter's overhead on a short
function, not on a whole operation.
"""

from __future__ import annotations

import json
import shlex
import statistics
import subprocess
import time
from collections.abc import Callable
from typing import Any

from exo.cli.bench import (
    BASE_PORT,
    FILTER_COUNTS,
    VP_A,
    VP_B,
    dealloc_cost,
    impl_demux,
    packets_for,
    per_item,
    refill_setup,
    row,
)
from exo.impl import Kernel
from exo.interface import Config, Outcome, Result
from exo.wire.client import WireKernel

C_FILTERS = "declarative"
"""The filter profile of the C kernel (``--filters``, ``exo.kit.profiles``): it implements
every operation, and decides pairs of filters by FLT-9 alone (it has no solver)."""

STAGES = ("C kernel: its own timing", "C kernel: the same operations on exo.impl",
          "C kernel: lockstep over the wire")
"""The parts of ``rows``, in order (each is passed to ``stage`` as it starts)."""

REFILL_CFG = Config(n_envs=2, n_pages=4, tlb_size=1, stlb_size=8, slice_ticks=3)
"""The configuration of the load rows (exo.cli.bench.refill_costs; bench.c refill_setup)."""


def impl_load_cost(hit: bool, repeat: int, quick: bool) -> float:
    """Median seconds per ``exo.impl.Kernel`` load: a TLB hit (always VP_B) or an STLB
    refill (VP_A and VP_B alternating in a 1-slot TLB); every outcome is checked."""
    kern = Kernel(REFILL_CFG)
    refill_setup(kern.apply, lambda: kern.state.cur_env, REFILL_CFG)
    n = 2000 if quick else 20000
    want = int(Outcome.ACCESS if hit else Outcome.REFILL_STLB)

    def run() -> None:
        apply = kern.apply
        for i in range(n):
            res = apply("load", VP_B if hit or i & 1 else VP_A, 0, 0)
            if res.value != want:
                raise AssertionError(f"impl load gave {res!r}, not {Outcome(want).name}")

    return per_item(run, n, repeat)


def impl_demux_cost(n_filters: int, repeat: int, quick: bool) -> float:
    """Median seconds per ``Demux.classify`` of exo.impl with ``n_filters`` port filters,
    as ``exo.cli.bench.demux_costs`` times it: the same filters (``impl_demux``), the same
    packets (``packets_for(n, 20000 or 2000, seed=n)``), classification alone. The slots
    are checked on the first packets (the port's filter, or -1)."""
    d = impl_demux(n_filters)
    pk = packets_for(n_filters, 2000 if quick else 20000, seed=n_filters)
    for p in pk[:50]:
        port = p[36] << 8 | p[37]
        want = port - BASE_PORT if port < BASE_PORT + n_filters else -1
        if d.classify(p) != want:
            raise AssertionError(f"impl demux gave {d.classify(p)} for port {port}")
    classify = d.classify

    def run() -> None:
        for p in pk:
            classify(p)

    return per_item(run, len(pk), repeat)


C_KEYS = ("tlb_hit", "stlb_refill", "dealloc8", *(f"demux{n}" for n in FILTER_COUNTS))
"""The medians ``PATH --bench`` prints, each as ``<key>_ns``."""


def c_costs(path: str, quick: bool) -> dict[str, float]:
    """The C kernel's own medians (``PATH --bench``), in seconds."""
    argv = [*shlex.split(path), "--bench", *(["--quick"] if quick else [])]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ValueError(f"cannot run {shlex.join(argv)}: {exc}") from None
    if done.returncode != 0:
        raise ValueError(f"{shlex.join(argv)} exited with {done.returncode}: "
                         f"{done.stderr.strip()[-300:]}")
    try:
        got = json.loads(done.stdout)
        return {k: float(got[f"{k}_ns"]) * 1e-9 for k in C_KEYS}
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"{shlex.join(argv)} did not print the timing line: "
                         f"{done.stdout.strip()[:200]!r}") from None


def lockstep_rate(path: str, repeat: int, quick: bool) -> dict[str, float]:
    """Operations per second ``run_check`` applies to the process (seeded, so every
    repeat runs the same programs); a non-conformant kernel is an error, not a figure."""
    from exo.kit.check import run_check

    calls = [0]
    make = WireKernel.factory(path)

    class Counting:
        def __init__(self, cfg: Config) -> None:
            self.inner = make(cfg)

        def apply(self, name: str, *args: Any) -> Result:
            calls[0] += 1
            return self.inner.apply(name, *args)

        def observe(self) -> dict[str, Any]:
            return self.inner.observe()

        def observe_changes(self) -> tuple[dict[str, Any], frozenset[str] | None]:
            return self.inner.observe_changes()

    examples = 5 if quick else 40
    rates = []
    try:
        for _ in range(max(repeat, 1)):
            calls[0] = 0
            t0 = time.perf_counter()
            report = run_check(Counting, None, steps=50, examples=examples, seed=0,
                               filters=C_FILTERS)
            dt = time.perf_counter() - t0
            if not report.passed:
                raise ValueError(f"{path} is not conformant: {report.error}")
            rates.append(calls[0] / dt)
    finally:
        WireKernel.close_all()
    return {"steps_per_s": statistics.median(rates), "examples": examples}


def rows(path: str, repeat: int, quick: bool,
         stage: Callable[[str], None] = lambda name: None) -> list[dict[str, Any]]:
    """The five rows (see the module docstring). Raises ValueError when the kernel cannot
    be run or timed."""
    stage(STAGES[0])
    c = c_costs(path, quick)
    stage(STAGES[1])
    hit = impl_load_cost(True, repeat, quick)
    refill = impl_load_cost(False, repeat, quick)
    dealloc = dealloc_cost(10**3, 8, repeat, quick)
    demux = {n: impl_demux_cost(n, repeat, quick) for n in FILTER_COUNTS}
    stage(STAGES[2])
    ls = lockstep_rate(path, repeat, quick)
    out = [row(f"lockstep run_check({path}) over the wire, steps/s", ls["steps_per_s"],
               ">= 2000", ls["steps_per_s"] >= 2000, examples=ls["examples"], steps=50)]
    for name, py, cs in (("TLB hit load", hit, c["tlb_hit"]),
                         ("STLB refill load", refill, c["stlb_refill"]),
                         ("dealloc, 8 bindings", dealloc, c["dealloc8"])):
        out.append(row(f"{name}: exo.impl / C kernel (x faster)", py / cs, ">= 50",
                       py / cs >= 50, impl_us=py * 1e6, c_us=cs * 1e6))
    ratio = demux[1000] / c["demux1000"]
    out.append(row("C demux per packet, 1000 filters: exo.impl / C (x)", ratio, ">= 1",
                   ratio >= 1, impl_us=demux[1000] * 1e6, c_us=c["demux1000"] * 1e6,
                   **{f"impl_{n}_us": demux[n] * 1e6 for n in FILTER_COUNTS},
                   **{f"c_{n}_us": c[f"demux{n}"] * 1e6 for n in FILTER_COUNTS}))
    return out
