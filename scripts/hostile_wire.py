"""Measure ``exo serve`` on hostile input (WIRE-1's limits): for each case, a fresh server
(after one ``reset`` of the default configuration), the time from sending the case to
its reply, and the server's peak resident memory (``VmHWM``) after it. Prints the median
of ``--repeat`` runs per case. Nothing is asserted (tests/test_wire_hostile.py checks the
replies; machines are shared, so times are for reading, not for tests).

Run as ``python scripts/hostile_wire.py [--repeat N]`` (Linux: reads /proc).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import IO, Any

from exo.interface import Config
from exo.limits import MAX_LINE_BYTES
from exo.wire.codec import config_json, request
from exo.wire.server import MAX_STATE_ENTRIES, state_entries

SERVE = [sys.executable, "-c", "from exo.cli import main; main()", "serve"]
CFG = config_json(Config())


def _line(message: Any) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def _reset(**fields: int) -> bytes:
    return _line(request("reset", config={**CFG, **fields}))


def _pages_at_bound() -> int:
    n = 1
    while state_entries(Config(n_envs=64, n_pages=n + 1)) <= MAX_STATE_ENTRIES:
        n += 1
    return n


def _stream(total: int) -> Callable[[IO[bytes]], None]:
    """Write ``total`` bytes of one line (no newline until the end) in 1 MiB blocks."""
    def send(out: IO[bytes]) -> None:
        block = b"x" * (1 << 20)
        left = total
        while left > 0:
            out.write(block[:min(left, len(block))])
            left -= len(block)
        out.write(b"\n")
    return send


CASES: dict[str, tuple[tuple[str, ...], bytes | Callable[[IO[bytes]], None]]] = {
    "nested 100,000 deep": ((), b"[" * 100_000 + b"]" * 100_000 + b"\n"),
    "op a list": ((), _line({"exo": 1, "type": "apply", "op": ["alloc"], "args": []})),
    "invalid utf-8": ((), b'{"exo":1,"type":"\xff"}\n'),
    "n_pages 10**8": ((), _reset(n_pages=10**8)),
    "n_regs 2**64": ((), _reset(n_regs=2**64)),
    "n_envs = n_pages = 4096": ((), _reset(n_envs=4096, n_pages=4096)),
    "observe padded to MAX_LINE_BYTES": ((), _line(request("observe"))[:-1].ljust(
        MAX_LINE_BYTES) + b"\n"),
    "line of MAX_LINE_BYTES + 1": ((), _stream(MAX_LINE_BYTES + 1)),
    "line of 1 GiB": ((), _stream(1 << 30)),
    "reset at the bound, 4096 envs (impl)": ((), _reset(n_envs=4096)),
    "reset at the bound, 4096 envs (model)": (("--impl", "exo.kit:ModelImplementation"),
                                              _reset(n_envs=4096)),
    "reset at the bound, 64 envs x pages (impl)": ((), _reset(n_envs=64,
                                                            n_pages=_pages_at_bound())),
    "reset at the bound, 64 envs x pages (model)": (
        ("--impl", "exo.kit:ModelImplementation"), _reset(n_envs=64,
                                                          n_pages=_pages_at_bound())),
}


def _peak_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure(extra: tuple[str, ...], case: bytes | Callable[[IO[bytes]], None]
            ) -> tuple[float, float, str]:
    """Seconds to the case's reply, peak MB of the server, the reply's type."""
    proc = subprocess.Popen([*SERVE, *extra], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(_reset())
    proc.stdin.flush()
    proc.stdout.readline()
    start = time.perf_counter()
    if isinstance(case, bytes):
        proc.stdin.write(case)
    else:
        case(proc.stdin)
    proc.stdin.flush()
    reply = json.loads(proc.stdout.readline())
    seconds = time.perf_counter() - start
    peak = _peak_mb(proc.pid)
    proc.stdin.close()
    proc.wait()
    return seconds, peak, str(reply.get("type"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'case':46} {'reply':6} {'median ms':>10} {'median peak MB':>15}")
    for name, (extra, case) in CASES.items():
        runs = [measure(extra, case) for _ in range(args.repeat)]
        kinds = {r[2] for r in runs}
        print(f"{name:46} {'/'.join(sorted(kinds)):6} "
              f"{1000 * statistics.median(r[0] for r in runs):10.1f} "
              f"{statistics.median(r[1] for r in runs):15.1f}")


if __name__ == "__main__":
    main()
