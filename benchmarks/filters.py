"""Benchmark: filter_install with the Z3 overlap check against 10, 100 and 1,000 installed
filters of another environment (NET-1), and the reference interpreter per packet.

Run from the repository root:  python -m benchmarks.filters [--repeat 5] [--json out.json]
Each install is timed cold (the installed filters' formulas not yet built) and warm (built
and cached, the steady state of a kernel that keeps each filter's formula). Medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from exo.interface import Config, Status
from exo.model import REGISTRY, State, filters, initial


def port_filter(port: int) -> filters.Program:
    """'udp dst port PORT' on IPv4 over Ethernet (hand-assembled, like tcpdump's)."""
    return ((0x28, 0, 0, 12), (0x15, 0, 5, 0x0800), (0x30, 0, 0, 23), (0x15, 0, 3, 17),
            (0x28, 0, 0, 36), (0x15, 0, 1, port), (0x06, 0, 0, 0xFFFF), (0x06, 0, 0, 0))


def installed(n: int) -> State:
    s = initial(Config(n_envs=2, n_filters=n + 1))
    s, _ = REGISTRY["env_create"](s, 0, 0)
    s, _ = REGISTRY["env_create"](s, 1, 1)
    for i in range(n):
        s, res = REGISTRY["filter_install"](s, 0, port_filter(1000 + i))
        assert res.status == Status.OK
    return s


def time_install(s: State, prog: filters.Program, expect: Status) -> float:
    t0 = time.perf_counter()
    _, res = REGISTRY["filter_install"](s, 1, prog)
    dt = time.perf_counter() - t0
    assert res.status == expect, res
    return dt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    rows: list[dict[str, Any]] = []
    for n in (10, 100, 1000):
        s = installed(n)
        filters.verdict_term.cache_clear()
        cold = time_install(s, port_filter(5), Status.OK)
        warm = statistics.median(time_install(s, port_filter(7 + i), Status.OK)
                                 for i in range(a.repeat))
        clash = statistics.median(time_install(s, port_filter(1000 + n // 2), Status.OVERLAP)
                                  for _ in range(a.repeat))
        rows.append({"installed": n, "cold_s": cold, "warm_s": warm, "overlap_found_s": clash})
    pkt = bytes.fromhex("ffffffffffff000000000001080045000020000100004011"
                        "00000a0000010a00000203e8000500080000")
    prog = port_filter(5)
    t0 = time.perf_counter()
    for _ in range(2000):
        filters.evaluate(prog, pkt)
    per_packet = (time.perf_counter() - t0) / 2000
    print(f"{'installed filters':>18} {'cold (s)':>9} {'warm (s)':>9} {'clash (s)':>10}")
    for r in rows:
        print(f"{r['installed']:>18} {r['cold_s']:9.3f} {r['warm_s']:9.3f} "
              f"{r['overlap_found_s']:10.3f}")
    w10, w1000 = rows[0]["warm_s"], rows[-1]["warm_s"]
    print(f"warm install, 1000 vs 10 filters: {w1000 / w10:.1f}x")
    print(f"reference interpreter: {per_packet * 1e6:.1f} us per packet (8-instruction filter)")
    if a.json:
        a.json.write_text(json.dumps({"install": rows, "interpreter_us": per_packet * 1e6},
                                     indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
