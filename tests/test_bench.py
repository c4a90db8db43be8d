"""The benchmark harness (exo/bench.py) runs and reports well-formed rows.

Structure only: timing targets are never asserted here (they depend on the machine).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from exo.cli import main
from exo.cli.bench import port_filter, run, udp_packet
from exo.model import filters


def test_run_quick_rows_are_well_formed() -> None:
    rows = run(repeat=1, quick=True)
    assert len(rows) == 6  # exo bench adds exo.cli.bench_filters' rows (extra)
    for r in rows:
        assert {"name", "ratio", "target", "met"} <= r.keys()
        assert isinstance(r["name"], str) and r["name"]
        assert isinstance(r["target"], str) and r["target"]
        assert r["met"] is None  # a quick run is not graded (exo.cli.bench.grade)
        assert isinstance(r["ratio"], float) and math.isfinite(r["ratio"]) and r["ratio"] > 0


def test_port_filter_and_packet_agree() -> None:
    assert filters.verify(port_filter(53)) == []
    assert filters.evaluate(port_filter(53), udp_packet(53)) == 0xFFFF
    assert filters.evaluate(port_filter(53), udp_packet(54)) == 0
    assert filters.evaluate(port_filter(53), udp_packet(53, proto=6)) == 0


def test_cli_bench_quick_runs_outside_the_repository_and_writes_json_and_png(
        tmp_path: Path) -> None:
    """`exo bench` needs only the installed package: run it from an empty folder with no
    PYTHONPATH (the repository's benchmarks/ folder is not importable there). One run
    (each costs about 40 s of a worker) also checks --json and --plot."""
    out_json, out_png = tmp_path / "bench.json", tmp_path / "demux.png"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-m", "exo.cli", "bench", "--quick",
                           "--json", str(out_json), "--plot", str(out_png)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "measured" in proc.stdout and "target" in proc.stdout
    assert "FLT-8 Z3 check" in proc.stdout
    # progress in a log: a line as each stage starts, on standard error
    assert "exo bench: lockstep run_check ..." in proc.stderr
    rows = json.loads(out_json.read_text())
    from exo.cli.bench_filters import rows as filter_rows

    expected = [r["name"] for r in run(repeat=1, quick=True, echo=False)]
    expected += [r["name"] for r in filter_rows(1, True)]
    assert [r["name"] for r in rows[:-1]] == expected
    campaign = rows[-1]  # exo.cli.bench_campaign: --jobs 2 against --jobs 1, same shards
    assert campaign["name"].startswith("exo check --jobs 2 / --jobs 1, steps/s")
    assert campaign["met"] is None and campaign["steps"] > 0
    assert campaign["ratio"] == pytest.approx(
        campaign["jobs2_steps_per_s"] / campaign["jobs1_steps_per_s"])
    assert set(rows[0]["flt8_check_s"]) == {"10", "100"}
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_bench_plot_without_matplotlib_is_a_usage_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import exo.cli.bench

    monkeypatch.setattr(exo.cli.bench, "plot_available", lambda: "--plot needs matplotlib")
    res = CliRunner().invoke(main, ["bench", "--quick", "--plot", str(tmp_path / "x.png")])
    assert res.exit_code == 2 and "needs matplotlib" in res.output
    assert not (tmp_path / "x.png").exists()


def test_the_filter_cost_programs_are_what_their_rows_say() -> None:
    """exo.cli.bench_filters: the budget-filling filter weighs exactly PAIR_WEIGHT, is
    asked and runs out (UNDECIDED, a question); the attack weighs more and is not asked;
    the guarded one is decided disjoint from a port filter; the long filters are outside
    FLT-9 and accept the packets of their tag only. The victim's calls give the statuses
    the rows report."""
    from exo.cli.bench_filters import (
        VICTIM,
        attack,
        budget_filling,
        guarded,
        long_filter,
        measure,
    )
    from exo.model.dfilter import PAIR_WEIGHT, program_overlap, recognized
    from exo.model.filters import Undecided, solver_weight

    filling, heavy, fenced = budget_filling(0), attack(0), guarded(0)
    assert solver_weight(filling) == solver_weight(fenced) == PAIR_WEIGHT
    assert solver_weight(heavy) > PAIR_WEIGHT
    found = program_overlap(VICTIM, filling)
    assert isinstance(found, Undecided) and found.weight is None
    found = program_overlap(VICTIM, heavy)
    assert isinstance(found, Undecided) and found.weight == solver_weight(heavy)
    assert program_overlap(VICTIM, fenced) is None
    long = long_filter(0xE0)
    assert len(long) == 4094 and recognized(long) is None
    tagged = bytes([0xE0]) + bytes(11) + b"\x88\xb5" + bytes(50)
    assert filters.evaluate(long, tagged) != 0
    assert filters.evaluate(long, bytes([0xE1]) + tagged[1:]) == 0
    assert measure([filling], 0, 1)["install_status"] == "UNDECIDED"
    ok = measure([fenced], 1, 1)
    assert ok["install_status"] == "OK" and ok["remove_s"] is not None
