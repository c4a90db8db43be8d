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
    assert len(rows) == 6
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


def test_cli_bench_quick_runs_outside_the_repository(tmp_path: Path) -> None:
    """`exo bench` needs only the installed package: run it from an empty folder with no
    PYTHONPATH (the repository's benchmarks/ folder is not importable there)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-m", "exo.cli", "bench", "--quick"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "measured" in proc.stdout and "target" in proc.stdout
    # progress in a log: a line as each stage starts, on standard error
    assert "exo bench: lockstep run_check ..." in proc.stderr


def test_cli_bench_writes_json_and_png(tmp_path: Path) -> None:
    out_json, out_png = tmp_path / "bench.json", tmp_path / "demux.png"
    res = CliRunner().invoke(main, ["bench", "--quick", "--json", str(out_json),
                                    "--plot", str(out_png)])
    assert res.exit_code == 0, res.output
    rows = json.loads(out_json.read_text())
    assert [r["name"] for r in rows] == [r["name"] for r in run(repeat=1, quick=True,
                                                                 echo=False)]
    assert set(rows[0]["flt8_check_s"]) == {"10", "100"}
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "FLT-8 Z3 check" in res.output


def test_cli_bench_plot_without_matplotlib_is_a_usage_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import exo.cli.bench

    monkeypatch.setattr(exo.cli.bench, "plot_available", lambda: "--plot needs matplotlib")
    res = CliRunner().invoke(main, ["bench", "--quick", "--plot", str(tmp_path / "x.png")])
    assert res.exit_code == 2 and "needs matplotlib" in res.output
    assert not (tmp_path / "x.png").exists()
