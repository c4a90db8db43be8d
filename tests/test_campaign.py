"""Campaigns (issue 27): ``exo check --jobs N`` / ``--programs`` / ``--campaign`` split a
run into seeded shards (``exo.kit.campaign``) run on local processes, one coverage table
merged from them; a failing shard is reported with the command that reruns it alone,
and kept for ``--replay``."""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
from itertools import islice
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis.database import DirectoryBasedExampleDatabase

from exo.cli import main
from exo.impl import Kernel
from exo.interface import Config
from exo.kit import campaign, lastfailure
from exo.kit.configs import KIT_CONFIGS
from exo.wire.campaign import run_named, worker_init

BROKEN = "tests.catalogue:YieldToOutOfRange"
"""A catalogue kernel the witness sweep misses (CPU-3: an out-of-range target), so a
generated shard is what catches it."""


def _check(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["check", *args])
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit), result.exception
    return result.exit_code, result.output


# --------------------------------------------------------------------------- the plan


def test_plan_is_the_same_whatever_runs_it() -> None:
    a = list(campaign.plan(7, programs=45, steps=20))
    b = list(campaign.plan(7, programs=45, steps=20))
    assert a == b
    assert a[0].sweep and a[0].examples == 0 and a[0].configs == KIT_CONFIGS
    generated = a[1:]
    assert [s.examples for s in generated] == [10, 10, 10, 10, 5]
    assert sum(s.examples for s in generated) == 45
    assert len({s.seed for s in generated}) == len(generated)
    assert all(s.seed == campaign.shard_seed(7, s.index) for s in generated)
    # the first configuration every other shard, the others in turn between
    assert [KIT_CONFIGS.index(s.configs[0]) for s in generated] == [0, 1, 0, 2, 0]
    assert list(campaign.plan(8, programs=45))[1].seed != generated[0].seed


def test_a_duration_campaign_plans_without_end_and_one_config_stays_put() -> None:
    cfg = Config(n_envs=2)
    shards = list(islice(campaign.plan(3, (cfg,), programs=None), 50))
    assert len(shards) == 50 and all(s.configs == (cfg,) for s in shards)


def test_a_shard_command_names_its_seed_budget_and_sizes() -> None:
    shard = list(campaign.plan(7, (KIT_CONFIGS[1],), programs=10, steps=30))[1]
    line = shard.command("--impl-cmd './k'")
    assert line.startswith("exo check --impl-cmd './k' ")
    assert f"--seed {shard.seed} --examples 10 --steps 30" in line
    assert "--config n_envs=2,n_pages=2" in line
    assert campaign.config_text(Config()) == ""


@pytest.mark.parametrize(("text", "seconds"), [("90", 90.0), ("90s", 90.0), ("15m", 900.0),
                                               ("1h30m", 5400.0), ("0.5h", 1800.0)])
def test_durations(text: str, seconds: float) -> None:
    assert campaign.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "-5m", "5x", "m", "1.2.3s", "nan"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="--campaign"):
        campaign.parse_duration(text)


# --------------------------------------------------------------------------- the runs


def _keep(into: list[campaign.ShardResult], result: campaign.ShardResult) -> bool:
    into.append(result)
    return True


def test_a_shard_generates_the_same_whichever_process_runs_it() -> None:
    """The same shard in this process and in a worker process: the same programs, so
    the same calls and the same cells, counted the same."""
    shard = list(campaign.plan(11, (KIT_CONFIGS[1],), programs=4, steps=15))[1]
    here = campaign.run_shard(shard, Kernel)
    there: list[campaign.ShardResult] = []
    runner = functools.partial(run_named, "exo.impl:Kernel", os.getcwd(), None)
    campaign.run_local([shard], runner, 2, functools.partial(_keep, there),
                       init=worker_init)
    assert len(there) == 1 and there[0].worker != here.worker
    assert here.passed and there[0].passed
    assert here.calls == there[0].calls > 0
    assert here.report.coverage is not None and there[0].report.coverage is not None
    assert here.report.coverage.counts == there[0].report.coverage.counts


def test_merged_coverage_is_every_shards_cells_added_up() -> None:
    results: list[campaign.ShardResult] = []
    shards = list(campaign.plan(5, programs=6, steps=10, shard_programs=3, sweep=False))
    campaign.run_local(shards, functools.partial(run_named, "exo.impl:Kernel", None, None),
                       1, functools.partial(_keep, results))
    merged = campaign.merge(results)
    assert len(results) == 2
    for r in results:
        assert r.report.coverage is not None
        for cid, n in r.report.coverage.counts.items():
            assert merged.counts[cid] >= n
    total = {cid: sum(r.report.coverage.counts.get(cid, 0) for r in results
                      if r.report.coverage is not None) for cid in merged.counts}
    assert merged.counts == total


def test_a_false_on_result_stops_the_campaign() -> None:
    seen: list[int] = []
    shards = campaign.plan(5, programs=None, steps=5, shard_programs=1, sweep=False)

    def first_only(r: campaign.ShardResult) -> bool:
        seen.append(r.shard.index)
        return False

    campaign.run_local(shards, functools.partial(run_named, "exo.impl:Kernel", None, None),
                       2, first_only, init=worker_init)
    assert len(seen) == 1  # an endless plan, stopped at the first result


def test_jobs_2_passes_with_one_merged_table_and_json(db: DirectoryBasedExampleDatabase,
                                                      tmp_path: Path) -> None:
    out = tmp_path / "c.json"
    code, text = _check("--jobs", "2", "--programs", "8", "--steps", "10", "--seed", "3",
                        "--shard-size", "4", "--json", str(out))
    assert code == 0, text
    assert "behaviour coverage: 408 of 408 reachable cells hit" in text
    assert text.count("behaviour coverage:") == 1  # one table, merged
    assert re.search(r"campaign: 3 shards on 2 local processes: \d+ programs", text)
    data = json.loads(out.read_text())
    assert data["verdict"] == "conformant"
    camp = data["campaign"]
    assert camp["jobs"] == 2 and camp["shards"] == 3
    assert [s["index"] for s in sorted(camp["per_shard"], key=lambda s: s["index"])] == [
        0, 1, 2]
    assert camp["steps"] == sum(s["steps"] for s in camp["per_shard"]) > 0
    assert len({s["worker"] for s in camp["per_shard"]}) == 2


def test_a_catalogue_kernel_is_caught_by_a_shard_that_reruns_alone(
        db: DirectoryBasedExampleDatabase) -> None:
    code, text = _check("--impl", BROKEN, "--jobs", "2", "--programs", "30", "--seed", "5",
                        "--steps", "30", "--repro", "campaign.py")
    assert code == 1, text
    found = re.search(r"found by shard (\d+) \(seed (\d+).*it runs alone with: (exo check .*)",
                      text)
    assert found is not None, text
    assert found.group(1) != "0"  # a generated shard: the witness sweep misses this bug
    error = re.search(r"not conformant \(found by the seeded search\): (.*)", text)
    assert error is not None and "yield_to" in error.group(1) and "CPU-3" in error.group(1)
    words = shlex.split(found.group(3))[2:]
    assert f"--seed {found.group(2)}" in found.group(3)
    recorded = lastfailure.load(db)
    assert recorded is not None and recorded.seed == int(found.group(2))
    alone_code, alone = _check(*words, "--repro", "alone.py")
    assert alone_code == 1, alone
    again = re.search(r"not conformant \(found by the seeded search\): (.*)", alone)
    assert again is not None and again.group(1) == error.group(1)
    replay_code, replayed = _check("--replay", "--repro", "replayed.py")
    assert replay_code == 1, replayed
    assert "the recorded failure still reproduces" in replayed


@pytest.mark.parametrize(("args", "words"), [
    (["--jobs", "2", "--replay"], "--replay runs the recorded failure"),
    (["--programs", "5", "--examples", "5"], "--programs or --examples"),
    (["--campaign", "soon"], "--campaign"),
    (["--shard-size", "3"], "--shard-size is for a campaign"),
    (["--scheduler", "tcp://127.0.0.1:1", "--jobs", "2"], "--jobs is for local"),
])
def test_campaign_usage_errors(db: DirectoryBasedExampleDatabase, args: list[str],
                               words: str) -> None:
    code, text = _check(*args)
    assert code == 2, text
    assert words in text and len(text.strip().splitlines()) == 1


def test_a_campaign_logs_its_progress(db: DirectoryBasedExampleDatabase,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """In a log (not a terminal) a campaign says every few seconds how far it is:
    programs, steps, steps per second, cells hit, shards done, elapsed."""
    import exo.cli.console

    monkeypatch.setattr(exo.cli.console, "HEARTBEAT_S", 0.2)
    code, text = _check("--jobs", "2", "--programs", "6", "--steps", "20", "--seed", "4",
                        "--shard-size", "2")
    assert code == 0, text
    beats = re.findall(r"campaign: (\d+) programs, (\d+) steps, \d+ steps/s, (\d+)/408 cells, "
                       r"(\d+) shards done: \d+/6, \d+ s", text)
    assert beats, text


def test_a_campaign_shorter_than_a_shard_still_generates(db: DirectoryBasedExampleDatabase,
                                                         tmp_path: Path) -> None:
    """``--campaign`` ends when its time is up, but never before one generated shard:
    the witness sweep alone is no campaign."""
    out = tmp_path / "short.json"
    code, text = _check("--campaign", "0.001s", "--steps", "5", "--shard-size", "2",
                        "--seed", "2", "--json", str(out))
    assert code == 0, text
    camp = json.loads(out.read_text())["campaign"]
    assert sorted(s["index"] for s in camp["per_shard"]) == [0, 1]
    assert json.loads(out.read_text())["examples"] == 2
