"""``exo check --exhaustive DEPTH`` on the command line (``exo.cli.exhaustive``, issue 27):
its shards on local processes, its tables, its verdict, and a failure as a single run
reports one — the shortest program minimized, a reproduction file, ``--replay``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis.database import DirectoryBasedExampleDatabase

from exo.cli import main
from exo.kit import lastfailure
from exo.kit.exhaustive import TINY

BROKEN = "tests.catalogue:GrantDowngrades"
"""MEM-3: a grant lowers the grantee's rights; the shortest program that shows it at
``TINY`` has three calls (tests/test_exhaustive.py's ``CAUGHT``)."""


def _check(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["check", *args])
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_the_bundled_kernel_shows_no_difference(db: DirectoryBasedExampleDatabase,
                                                tmp_path: Path) -> None:
    out = tmp_path / "x.json"
    code, text = _check("--exhaustive", "3", "--jobs", "2", "--json", str(out))
    assert code == 0, text
    assert "no difference: every program of up to 3 calls" in text
    assert re.search(r"exhaustive: 6643 programs, 200 distinct states, \d+ steps", text)
    data = json.loads(out.read_text())
    assert data["mode"] == "exhaustive" and data["verdict"] == "no difference"
    assert [d["programs"] for d in data["per_depth"]] == [275, 825, 5543]
    assert sum(d["new_states"] for d in data["per_depth"]) + 1 == data["distinct_states"]
    assert data["config"]["n_envs"] == TINY.n_envs
    cov = data["coverage"]
    hit = sum(1 for c in cov["table"] if c["hits"] > 0 and c["reachable"])
    assert hit == cov["hit"] > 200
    assert "missing" not in cov and len(cov["not_reached"]) == cov["reachable"] - hit


def test_one_shard_and_two_explore_the_same(db: DirectoryBasedExampleDatabase,
                                            tmp_path: Path) -> None:
    one, two = tmp_path / "1.json", tmp_path / "2.json"
    assert _check("--exhaustive", "2", "--json", str(one))[0] == 0
    assert _check("--exhaustive", "2", "--jobs", "2", "--json", str(two))[0] == 0
    a, b = json.loads(one.read_text()), json.loads(two.read_text())
    assert a["distinct_states"] == b["distinct_states"]
    assert a["per_depth"] == b["per_depth"]
    assert a["coverage"] == b["coverage"]


def test_a_catalogue_kernel_is_caught_at_its_depth_and_replays(
        db: DirectoryBasedExampleDatabase, tmp_path: Path) -> None:
    code, text = _check("--impl", BROKEN, "--exhaustive", "2", "--jobs", "2")
    assert code == 0, text  # two calls cannot show it: the search says what it ran
    code, text = _check("--impl", BROKEN, "--exhaustive", "3", "--jobs", "2",
                        "--repro", "repro.py")
    assert code == 1, text
    assert "not conformant (found by the exhaustive search, a program of 3 calls)" in text
    assert "MEM-3" in text and "grant" in text
    recorded = lastfailure.load(db)
    assert recorded is not None and recorded.impl == BROKEN and recorded.cfg == TINY
    assert recorded.calls is not None and len(recorded.calls) == 3
    replayed = CliRunner().invoke(main, ["check", "--replay", "--repro", "again.py"])
    assert replayed.exit_code == 1 and "still reproduces" in replayed.output
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(tmp_path / "repro.py")], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent.parent, timeout=300,
                          check=False)
    assert proc.returncode == 1, proc.stdout[-2000:]  # the reproduction fails, as it must


@pytest.mark.parametrize(("args", "words"), [
    (["--exhaustive", "2", "--seed", "3"], "drop --seed"),
    (["--exhaustive", "2", "--programs", "3"], "drop --programs"),
    (["--exhaustive", "2", "--campaign", "1m"], "drop --campaign"),
    (["--exhaustive", "0"], "--exhaustive"),
    (["--exhaustive", "2", "--config", "n_envs=0"], "n_envs"),
])
def test_exhaustive_usage_errors(db: DirectoryBasedExampleDatabase, args: list[str],
                                 words: str) -> None:
    code, text = _check(*args)
    assert code == 2, text
    assert words in text and len(text.strip().splitlines()) == 1
