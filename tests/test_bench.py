"""The benchmark harness (benchmarks/impl.py) runs and reports well-formed rows.

Structure only: timing targets are never asserted here (they depend on the machine).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmarks.impl import port_filter, run, udp_packet
from exo.cli import main
from exo.model import filters


def test_run_quick_rows_are_well_formed() -> None:
    rows = run(repeat=1, quick=True)
    assert len(rows) == 6
    for r in rows:
        assert {"name", "ratio", "target", "met"} <= r.keys()
        assert isinstance(r["name"], str) and r["name"]
        assert isinstance(r["target"], str) and r["target"]
        assert isinstance(r["met"], bool)
        assert isinstance(r["ratio"], float) and math.isfinite(r["ratio"]) and r["ratio"] > 0


def test_port_filter_and_packet_agree() -> None:
    assert filters.verify(port_filter(53)) == []
    assert filters.evaluate(port_filter(53), udp_packet(53)) == 0xFFFF
    assert filters.evaluate(port_filter(53), udp_packet(54)) == 0
    assert filters.evaluate(port_filter(53), udp_packet(53, proto=6)) == 0


def test_cli_bench_quick_exits_zero() -> None:
    res = CliRunner().invoke(main, ["bench", "--quick"])
    assert res.exit_code == 0, res.output
    assert "measured" in res.output and "target" in res.output


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
    import benchmarks.impl

    monkeypatch.setattr(benchmarks.impl, "plot_available", lambda: "--plot needs matplotlib")
    res = CliRunner().invoke(main, ["bench", "--quick", "--plot", str(tmp_path / "x.png")])
    assert res.exit_code == 2 and "needs matplotlib" in res.output
    assert not (tmp_path / "x.png").exists()
