"""``exo bench``'s campaign row: the steps per second of ``exo check --jobs 2`` over
those of ``--jobs 1`` (``exo.kit.campaign``), the same shards in both (same seed, same
budget), each run a fresh ``exo check`` process, the ratio of their medians.

Each run's figure is the one its ``--json`` gives (``campaign.steps_per_s``: lockstep
steps over the campaign's own wall-clock time, worker start-up included, the imports
before it not), so the row measures what a user's campaign gets from a second core.
A full run: exo check's default budget, 200 programs of 50 steps (20 shards of 10 and the
witness sweep), three runs of each; a quick run: 20 programs of 20 steps in shards of
5, once.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from exo.cli.bench import row

__all__ = ["STAGES", "TARGET", "rows", "steps_per_s"]

STAGES = ("exo check --jobs 2 against --jobs 1",)
"""The part of an ``exo bench`` run this row is (progress)."""

TARGET = 1.8
"""How many times the steps per second of one job two jobs must reach (issue 27)."""


def steps_per_s(jobs: int, programs: int, steps: int, shard: int, seed: int = 1
                ) -> dict[str, Any]:
    """Run ``exo check --programs N --jobs J`` on the bundled ``exo.impl:Kernel`` in a
    new process; its ``--json`` campaign figures (``ValueError`` if it did not pass)."""
    with tempfile.TemporaryDirectory(prefix="exo-bench-campaign-") as tmp:
        out = Path(tmp) / "check.json"
        proc = subprocess.run(
            [sys.executable, "-m", "exo.cli", "check", "--impl", "exo.impl:Kernel",
             "--programs", str(programs), "--steps", str(steps), "--shard-size", str(shard),
             "--jobs", str(jobs), "--seed", str(seed), "--json", str(out),
             "--repro", str(Path(tmp) / "repro.py")],
            capture_output=True, text=True, cwd=tmp, check=False,
            env={**os.environ, "COLUMNS": "200"})
        if proc.returncode != 0 or not out.is_file():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ValueError(f"exo check --jobs {jobs} exited {proc.returncode}: {tail[0]}")
        data = json.loads(out.read_text(encoding="utf-8"))
    campaign = data["campaign"]
    return {"steps_per_s": float(campaign["steps_per_s"]), "steps": int(campaign["steps"]),
            "seconds": float(campaign["seconds"]), "programs": int(campaign["programs"])}


def rows(repeat: int, quick: bool) -> list[dict[str, Any]]:
    """The row (module docstring): runs of one job and of two alternate, so that a load
    that comes and goes falls on both."""
    programs, steps, shard = (20, 20, 5) if quick else (200, 50, 10)
    runs = 1 if quick else min(max(repeat, 1), 3)
    one: list[dict[str, Any]] = []
    two: list[dict[str, Any]] = []
    for _ in range(runs):
        one.append(steps_per_s(1, programs, steps, shard))
        two.append(steps_per_s(2, programs, steps, shard))
    if {r["steps"] for r in one} != {r["steps"] for r in two}:
        raise AssertionError("--jobs 1 and --jobs 2 ran different steps: the shards are "
                             "not the same")
    r1 = statistics.median(r["steps_per_s"] for r in one)
    r2 = statistics.median(r["steps_per_s"] for r in two)
    return [row(f"exo check --jobs 2 / --jobs 1, steps/s ({programs} programs, "
                f"{os.cpu_count()} cpus)", r2 / r1, f">= {TARGET:g}", r2 / r1 >= TARGET,
                jobs1_steps_per_s=r1, jobs2_steps_per_s=r2, steps=one[0]["steps"],
                runs=runs)]
