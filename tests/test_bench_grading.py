"""``exo bench --quick`` is not graded against the targets of a full run.

A quick run has fewer packets and steps and one repeat, with cold caches a larger share
of it: its figures are not comparable with the targets (its lockstep rate is mostly the
fixed cost of the witness sweep). Its rows have ``met`` None, shown as "-"; a full run's
rows keep "yes" and "NO". No benchmark runs here: the rows are made up.
"""

from __future__ import annotations

from typing import Any

from click.testing import CliRunner

from exo.cli import main
from exo.cli.bench import grade, row, table


def _rows() -> list[dict[str, Any]]:
    rows = [row("lockstep run_check(exo.impl.Kernel) steps/s", 210.0, ">= 2000", False),
            row("impl demux: 1000 filters / 10 filters", 1.2, "<= 2", True)]
    for r in rows:
        r["demux_curve"] = {"filters": [10], "model_us": [1.0], "impl_us": [0.1]}
        r["flt8_check_s"] = {"10": 0.1}
    return rows


def _met_column(text: str) -> list[str]:
    return [line.split()[-1] for line in text.splitlines()
            if line.startswith(("lockstep", "impl demux"))]


def test_a_quick_run_is_not_graded() -> None:
    rows = grade(_rows(), quick=True)
    assert [r["met"] for r in rows] == [None, None]
    text = table(rows, 1, True)
    assert _met_column(text) == ["-", "-"]
    assert "not graded" in text.splitlines()[0]


def test_a_full_run_is_graded() -> None:
    rows = grade(_rows(), quick=False)
    assert [r["met"] for r in rows] == [False, True]
    text = table(rows, 5, False)
    assert _met_column(text) == ["NO", "yes"]
    assert "not graded" not in text


def test_the_help_says_quick_is_not_graded() -> None:
    out = CliRunner().invoke(main, ["bench", "--help"]).output
    words = " ".join(out.split())
    assert "--quick" in words and "a --quick run is not graded" in words
