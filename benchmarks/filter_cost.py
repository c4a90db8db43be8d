"""Benchmark (NET-1..NET-3, FLT-8 by parts): what one environment's filters cost another
environment's calls on exo.impl.

Run from any folder:  python benchmarks/filter_cost.py [--others 1000] [--repeat 5]

Environment 0 installs its filters first (not timed: it pays for its own). Then the
victim, environment 1, installs a new port filter and removes it again, ``--repeat``
times (each install proves its own filter's part, FLT-8: the victim's own cost); the
medians are set against the same calls with nothing of environment 0 installed, as
ratios. Rows:

* ``others`` port filters of environment 0 (``exo.cli.bench.port_filter``);
* two budget-filling filters of environment 0: 16 chained divisions by a byte of the
  packet each (``solver_weight`` 64, the most NET-1 gives to Z3 with a port filter:
  each pair runs Z3 to ``PAIR_RLIMIT`` and is undecided);
* two filters of the attack of issue 24: 570 chained divisions each (then the two
  together were just under FLT-8's ``MAX_SOURCE_NODES``; now far over ``PAIR_WEIGHT``:
  undecided without a question);
* two guarded weight-64 filters of environment 0: the 16 divisions behind a test of an
  EtherType no port filter accepts, so Z3 decides each pair with a port filter
  (disjoint) and the victim's install asks both pairs and succeeds.

Where environment 0's filters leave the victim no install (the first three: every pair
with them is ``UNDECIDED``), the victim cannot hold a filter beside them either (its
filters would have made environment 0's installs ``UNDECIDED``), so no removal is timed
there; the victim's removals are timed with its filters installed first, in the 1,000
port filter and the guarded rows.
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
from exo.model.dfilter import PAIR_WEIGHT
from exo.model.filters import SOLVER_WEIGHTS, Program, solver_weight, verify

VICTIM = port_filter(40_000)


def divisions(k: int, first: int) -> Program:
    """``ldb [first]; tax; ldb [first+1]; div x`` k times; ``ret a``: each division guarded
    against X == 0 in its generated code."""
    return ((0x30, 0, 0, first), (0x07, 0, 0, 0), (0x30, 0, 0, first + 1),
            *((0x3C, 0, 0, 0),) * k, (0x16, 0, 0, 0))


def budget_filling(first: int) -> Program:
    """16 chained divisions: weight 64 (``PAIR_WEIGHT``), so its pair with a port filter
    (weight 0) is asked, and Z3 runs out of ``PAIR_RLIMIT`` on it."""
    prog = divisions(PAIR_WEIGHT // SOLVER_WEIGHTS[0x3C], first)
    assert verify(prog) == [] and solver_weight(prog) == PAIR_WEIGHT
    return prog


def guarded(first: int) -> Program:
    """``budget_filling`` behind ``ldh [12]; jeq #0x88B5``: weight 64, disjoint from every
    IPv4 filter, which Z3 shows within its budget."""
    body = budget_filling(first)
    prog = ((0x28, 0, 0, 12), (0x15, 0, len(body), 0x88B5), *body, (0x06, 0, 0, 0))
    assert verify(prog) == [] and solver_weight(prog) == PAIR_WEIGHT
    return prog


def attack(first: int) -> Program:
    """570 chained divisions, the attack's size: then the whole module of two of them was
    just under ``MAX_SOURCE_NODES`` and every change re-proved it (about 19 CPU s each),
    and each pair with it ran Z3 to ``FILTER_RLIMIT`` (about 5 s)."""
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


def kernel(others: list[Program], own: int = 0) -> Kernel:
    """Environments 0 and 1; environment 1 (the victim) installs ``own`` port filters
    first, then environment 0 installs ``others`` (paying for its own pairs)."""
    k = Kernel(Config(n_envs=2, n_filters=len(others) + own + 2))
    assert k.apply("env_create", 0, 0).status == Status.OK
    assert k.apply("env_create", 1, 1).status == Status.OK
    for i in range(own):
        assert k.apply("filter_install", 1, port_filter(41_000 + i)).status == Status.OK
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


def install_remove(k: Kernel, repeat: int, own: int) -> tuple[float, float | None, str]:
    """Medians of the victim's install of a new port filter each time (so each install
    proves its own part and asks its own pairs: the victim's own cost), and of its
    removal of the ``own`` port filters it installed before the others (slots 0 ..
    own-1; None when it has none); the last install's status. An install NET-1 refuses
    (``UNDECIDED``) is timed like any other."""
    ins: list[float] = []
    rem: list[float] = []
    status = ""
    for r in range(repeat):
        t0 = time.perf_counter()
        res = k.apply("filter_install", 1, port_filter(40_001 + r))
        ins.append(time.perf_counter() - t0)
        status = Status(res.status).name
        if res.status == Status.OK:
            assert k.apply("filter_remove", 1, int(res.value)).status == Status.OK
    for slot in range(own):
        t0 = time.perf_counter()
        assert k.apply("filter_remove", 1, slot).status == Status.OK
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
    alone = install_remove(kernel([], a.repeat), a.repeat, a.repeat)
    assert alone[1] is not None
    setups = [(f"{a.others} port filters", [port_filter(1000 + i) for i in range(a.others)],
               a.repeat),
              ("two budget-filling filters", [budget_filling(0), budget_filling(2)], 0),
              ("two 570-division filters", [attack(0), attack(2)], 0),
              ("two guarded weight-64 filters", [guarded(0), guarded(2)], a.repeat)]
    for name, others, own in setups:
        t0 = time.perf_counter()
        k = kernel(others, own)
        setup = time.perf_counter() - t0
        ins, rem, status = install_remove(k, a.repeat, own)
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
