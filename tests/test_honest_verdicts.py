"""``exo check`` reports say what was checked (issue 24): the mode of the run, the budget
a generated run actually had (examples, steps, seed, configurations), the calls a replay
ran again, the operations ``--ops`` included and excluded, and the filter profile. A
replay is never reported as a generated run's ``"conformant": true`` with examples and
steps it did not run, in the JSON or in the text."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from hypothesis.database import DirectoryBasedExampleDatabase

from exo.cli import main
from exo.interface import OPERATIONS
from exo.kit import lastfailure
from exo.kit.bringup import parse_ops
from exo.kit.configs import KIT_CONFIGS
from exo.kit.profiles import OUTSIDE

BROKEN = "tests.catalogue:TlbReplaceKeepsStaleIndex"  # caught by the witness sweep


def _check(*args: str) -> tuple[int, str, dict[str, Any]]:
    result = CliRunner().invoke(main, ["check", *args, "--json", "check.json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        result.exception
    return result.exit_code, result.output, json.loads(Path("check.json").read_text())


def test_a_generated_run_records_its_budget(db: DirectoryBasedExampleDatabase) -> None:
    code, out, report = _check("--examples", "3", "--steps", "5", "--seed", "1")
    assert code == 0, out
    assert report["mode"] == "generated" and report["verdict"] == "conformant"
    assert report["conformant"] is True
    budget = report["budget"]
    assert (budget["examples"], budget["steps"], budget["seed"]) == (3, 5, 1)
    assert len(budget["configs"]) == len(KIT_CONFIGS)
    assert sum(c["examples"] for c in budget["configs"]) == 3
    assert sum(c["programs_run"] for c in budget["configs"]) == budget["programs_run"] >= 3
    assert report["ops"] is None and report["replay"] is None
    assert report["filters"] == "solver" and report["outside_filters"] == []
    assert f"conformant: 3 examples x 5 steps (seed 1) over {len(KIT_CONFIGS)} " \
        "configurations" in out


def test_an_ops_run_records_what_it_left_out(db: DirectoryBasedExampleDatabase) -> None:
    code, out, report = _check("--ops", "ENV,MEM", "--filters", "declarative",
                               "--examples", "2", "--steps", "5", "--seed", "1")
    assert code == 0, out
    chosen = parse_ops("ENV,MEM")
    assert report["mode"] == "generated" and report["conformant"] is True
    assert report["ops"] == {"included": sorted(chosen),
                             "excluded": sorted(set(OPERATIONS) - chosen)}
    assert report["ops"]["excluded"]
    assert report["filters"] == "declarative"
    assert report["outside_filters"] == sorted(OUTSIDE["declarative"])
    # the text says the same: the verdict line names the restriction
    verdict = next(ln for ln in out.splitlines() if ln.startswith("conformant: "))
    assert f"only {len(chosen)} of {len(OPERATIONS)} operations called" in verdict
    assert "excluded: " + ", ".join(report["ops"]["excluded"]) in verdict
    assert "filter profile declarative" in verdict


def test_a_replay_says_it_replayed_and_claims_no_budget(
        db: DirectoryBasedExampleDatabase) -> None:
    code, out, _ = _check("--impl", BROKEN, "--examples", "4", "--steps", "10",
                          "--seed", "2")
    assert code == 1, out
    recorded = lastfailure.load(db)
    assert recorded is not None and recorded.calls

    code, out, report = _check("--replay", "--impl", "exo.impl:Kernel")
    assert code == 0, out
    assert report["mode"] == "replay" and report["verdict"] == "no difference"
    assert report["conformant"] is None
    assert report["examples"] is None and report["steps"] is None
    assert report["budget"] is None and report["coverage"] is None
    assert report["replay"]["calls"] == len(recorded.calls)
    assert report["recorded"]["examples"] == 4 and report["recorded"]["steps"] == 10
    assert f"replayed {len(recorded.calls)} recorded calls" in out
    assert "no difference" in out and "not a conformance verdict" in out
    assert "conformant:" not in out


def test_a_replayed_search_says_so(db: DirectoryBasedExampleDatabase) -> None:
    """A recorded failure without plain calls runs its seeded search again: the budget
    is the recorded one, and it is still a replay, not a conformance verdict."""
    lastfailure.save(lastfailure.LastFailure(
        impl="exo.impl:Kernel", cfg=None, ops=None, seed=5, steps=4, examples=2,
        error="a failure", calls=None, config_given=False, when=time.time()), db)
    code, out, report = _check("--replay")
    assert code == 0, out
    assert report["mode"] == "replay-search" and report["conformant"] is None
    assert report["verdict"] == "no difference"
    assert (report["examples"], report["steps"], report["seed"]) == (2, 4, 5)
    assert report["budget"]["examples"] == 2 and report["replay"] is None
    assert "ran the recorded seeded search again (2 examples x 4 steps (seed 5)" in out
    assert "conformant:" not in out
