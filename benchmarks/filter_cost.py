"""Benchmark (NET-1..NET-3, FLT-8 by parts): what one environment's filters cost another
environment's calls on exo.impl.

Run from any folder:  python benchmarks/filter_cost.py [--others 1000] [--repeat 5]

Environment 0 installs its filters first (not timed: it pays for its own). Then the
victim, environment 1, installs a new port filter and removes it again, ``--repeat``
times (each install proves its own filter's part, FLT-8: the victim's own cost); the
medians are set against the same calls with nothing of environment 0 installed, as
ratios. Rows:

* ``others`` port filters of environment 0 (``exo.cli.bench.port_filter``);
* two budget-filling filters of environment 0: 570 chained divisions by a byte of the
  packet each (the size the attack used: the two together just under FLT-8's
  ``MAX_SOURCE_NODES``);
* the victim's packet: ``packet_arrive`` of a packet its filter accepts, with three
  4,094-instruction filters of environment 0 installed (parts over the budget, so they
  are interpreted), against none.

Figures are medians of one run, printed and written with ``--json``; nothing here is a
test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: the repository's exo, wherever run from
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exo.cli.bench import port_filter, udp_packet
from exo.impl import Kernel
from exo.interface import Config, Status
from exo.model.filters import Program, verify

VICTIM = port_filter(40_000)


def divisions(k: int, first: int) -> Program:
    """``ldb [first]; tax; ldb [first+1]; div x`` k times; ``ret a``: each division guarded
    against X == 0 in its generated code."""
    return ((0x30, 0, 0, first), (0x07, 0, 0, 0), (0x30, 0, 0, first + 1),
            *((0x3C, 0, 0, 0),) * k, (0x16, 0, 0, 0))


def budget_filling(first: int) -> Program:
    """570 chained divisions, the attack's size: then the whole module of two of them was
    just under ``MAX_SOURCE_NODES`` and every change re-proved it (about 19 CPU s each)."""
    prog = divisions(570, first)
    assert verify(prog) == []
    return prog


def long_filter(tag: int) -> Program:
    """4,094 instructions, outside FLT-9's class (``ld len``), accepting packets of at
    least 64 bytes of EtherType 0x88B5 (local experimental) whose first byte is ``tag``
    (so no IPv4 filter overlaps it, NET-1): its part is over the budget."""
    prog = tuple(insn for i in range(2043) for insn in ((0x30, 0, 0, i % 64), (0x15, 0, 0, i)))
    prog += ((0x80, 0, 0, 0), (0x15, 0, 0, 0), (0x28, 0, 0, 12), (0x15, 0, 3, 0x88B5),
             (0x30, 0, 0, 0), (0x15, 0, 1, tag), (0x06, 0, 0, 1), (0x06, 0, 0, 0))
    assert len(prog) == 4094 and verify(prog) == []
    return prog


def kernel(others: list[Program]) -> Kernel:
    k = Kernel(Config(n_envs=2, n_filters=len(others) + 2))
    assert k.apply("env_create", 0, 0).status == Status.OK
    assert k.apply("env_create", 1, 1).status == Status.OK
    for prog in others:
        res = k.apply("filter_install", 0, prog)
        assert res.status == Status.OK, res
    return k


def median_time(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def install_remove(k: Kernel, repeat: int) -> tuple[float, float | None, str]:
    """Medians of the victim's install and removal of a new port filter each time (so
    each install proves its own part: the victim's own cost), and the last install's
    status. An install NET-1 refuses (``UNDECIDED`` against a filter Z3 cannot decide
    within its budget) has no removal."""
    ins: list[float] = []
    rem: list[float] = []
    status = ""
    for r in range(repeat):
        t0 = time.perf_counter()
        res = k.apply("filter_install", 1, port_filter(40_001 + r))
        ins.append(time.perf_counter() - t0)
        status = Status(res.status).name
        if res.status != Status.OK:
            continue
        t0 = time.perf_counter()
        assert k.apply("filter_remove", 1, int(res.value)).status == Status.OK
        rem.append(time.perf_counter() - t0)
    return statistics.median(ins), (statistics.median(rem) if rem else None), status


def packet_cost(k: Kernel, repeat: int) -> float:
    res = k.apply("filter_install", 1, VICTIM)
    assert res.status == Status.OK, res
    packet = udp_packet(40_000)

    def burst() -> None:
        for _ in range(200):
            k.apply("packet_arrive", packet)
            k.apply("packet_take", 1)

    return median_time(burst, repeat) / 200


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--others", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    rows: list[dict[str, Any]] = []
    alone = install_remove(kernel([]), a.repeat)
    assert alone[1] is not None
    setups = [(f"{a.others} port filters", [port_filter(1000 + i) for i in range(a.others)]),
              ("two budget-filling filters", [budget_filling(0), budget_filling(2)])]
    for name, others in setups:
        t0 = time.perf_counter()
        k = kernel(others)
        setup = time.perf_counter() - t0
        ins, rem, status = install_remove(k, a.repeat)
        rows.append({"others": name, "install_status": status, "install_s": ins,
                     "remove_s": rem, "install_ratio": ins / alone[0],
                     "remove_ratio": None if rem is None else rem / alone[1],
                     "others_setup_s": setup})
    base = packet_cost(kernel([]), a.repeat)
    hostile = packet_cost(kernel([long_filter(0xE0 + i) for i in range(3)]), a.repeat)
    rows.append({"others": "three 4,094-instruction filters", "packet_s": hostile,
                 "packet_alone_s": base, "packet_ratio": hostile / base})
    print(f"victim alone: install {alone[0] * 1e3:.1f} ms, remove {alone[1] * 1e3:.1f} ms")
    for r in rows:
        print(json.dumps(r))
    if a.json:
        a.json.write_text(json.dumps({"alone": alone, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
