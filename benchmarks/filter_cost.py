"""Benchmark (NET-1..NET-3, FLT-8 by parts, FLT-9 *What one pair can cost*): what one
environment's filters cost another environment's calls on exo.impl, with details.

Run from any folder:  python benchmarks/filter_cost.py [--others 1000] [--repeat 5]

The programs and measurements are ``exo.cli.bench_filters``'s (its docstring says how
the victim's calls are timed); ``exo bench`` shows them as graded rows. Rows here:

* ``others`` port filters of environment 0 (``exo.cli.bench.port_filter``);
* two budget-filling filters of environment 0: 16 chained divisions by a byte of the
  packet each (``solver_weight`` 64, the most NET-1 gives to Z3 with a port filter:
  its pair runs Z3 to ``PAIR_RLIMIT`` and is undecided);
* two filters of the attack of issue 24: 570 chained divisions each (then the two
  together were just under FLT-8's ``MAX_SOURCE_NODES``; now far over ``PAIR_WEIGHT``:
  undecided without a question);
* two guarded weight-64 filters of environment 0: the 16 divisions behind a test of an
  EtherType no port filter accepts, so Z3 decides each pair with a port filter
  (disjoint) and the victim's install asks both pairs and succeeds;
* the victim's packet: ``packet_arrive`` of a packet its filter accepts, with three
  4,094-instruction filters of environment 0 installed (parts over the budget, so they
  are interpreted), against none.

Medians of one run, as seconds and as ratios to the same calls with nothing of
environment 0 installed, printed and written with ``--json``; nothing here is a test.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: the repository's exo, wherever run from
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exo.cli.bench import port_filter
from exo.cli.bench_filters import (
    attack,
    budget_filling,
    guarded,
    install_remove,
    kernel,
    long_filter,
    measure,
    packet_cost,
)


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
        m = measure(others, own, a.repeat)
        rem = m["remove_s"]
        rows.append({"others": name, **m, "install_ratio": m["install_s"] / alone[0],
                     "remove_ratio": None if rem is None else rem / alone[1]})
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
