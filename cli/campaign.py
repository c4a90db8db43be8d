"""``exo check --jobs N`` / ``--campaign DURATION`` / ``--programs N`` / ``--scheduler
ADDRESS``: one check split into shards (``exo.kit.campaign``), run on local worker
processes or a Dask cluster (``exo.kit.cluster``), with progress, one merged coverage
table and, on a failure, the failing shard's report and the command that reruns it
alone."""

from __future__ import annotations

import functools
import os
import shlex
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from exo.cli.console import Task
from exo.interface import Config
from exo.kit.campaign import (
    CampaignStats,
    Shard,
    ShardResult,
    merge,
    plan,
    run_local,
)
from exo.kit.check import CheckReport
from exo.kit.configs import KIT_CONFIGS
from exo.kit.witnesses import reach
from exo.wire.campaign import run_named, worker_init

__all__ = ["Campaign", "run_campaign"]


@dataclass
class Campaign:
    """What a campaign ran and found (the merged report is ``report``)."""

    report: CheckReport
    stats: CampaignStats
    jobs: int  # worker processes (local) or worker threads (a cluster)
    where: str  # "this process", "2 local processes", "the Dask cluster at ADDRESS"
    shards: list[ShardResult] = field(default_factory=list)
    failed: ShardResult | None = None
    planned: int | None = None  # generated programs asked for (None: a duration)
    seconds: float = 0.0

    def summary(self) -> str:
        """One line: shards, programs, steps, time and steps per second."""
        rate = self.stats.calls / self.seconds if self.seconds > 0 else 0.0
        return (f"campaign: {self.stats.shards} shards on {self.where}: "
                f"{self.stats.programs} programs, {self.stats.calls} steps in "
                f"{self.seconds:.1f} s ({rate:.0f} steps/s)")

    def as_json(self) -> dict[str, Any]:
        return {
            "jobs": self.jobs, "where": self.where, "seconds": self.seconds,
            "shards": self.stats.shards, "programs": self.stats.programs,
            "steps": self.stats.calls,
            "steps_per_s": self.stats.calls / self.seconds if self.seconds > 0 else 0.0,
            "planned_programs": self.planned,
            "failed_shard": None if self.failed is None else {
                "index": self.failed.shard.index, "seed": self.failed.shard.seed,
                "examples": self.failed.shard.examples, "steps": self.failed.shard.steps,
                "sweep": self.failed.shard.sweep},
            "per_shard": [{"index": r.shard.index, "seed": r.shard.seed,
                           "programs": r.report.runs, "steps": r.calls,
                           "seconds": r.seconds, "worker": r.worker,
                           "passed": r.passed} for r in self.shards],
        }


def run_campaign(task: Task, impl_spec: str, cfg: Config | None, steps: int,
                 programs: int | None, duration: float | None, jobs: int,
                 shard_programs: int, seed: int, ops: frozenset[str] | None,
                 filters: str, workload: str | None, scheduler: str | None,
                 step_timeout: float | None) -> Campaign:
    """Plan the shards, run them (locally on ``jobs`` processes, or on the cluster at
    ``scheduler``), merge what they found. Stops at the first failing shard, after
    ``programs`` generated programs, or once ``duration`` seconds have passed (no shard
    starts after that; running ones finish). ``ValueError``: a usage problem (a
    scheduler that cannot be reached); ``RuntimeError``: a shard could not run."""
    configs = (cfg,) if cfg is not None else KIT_CONFIGS
    shards = plan(seed, configs, steps=steps, programs=programs,
                  shard_programs=shard_programs, ops=ops, filters=filters,
                  workload=workload)
    beyond: frozenset[str] = frozenset()
    if ops is not None:  # as run_check: the cells the witness programs cut to ops reach
        reached = reach(ops, configs, filters)
        scope = merge([], ops, filters)
        beyond = frozenset(c.id for c in scope.in_scope() if c.id not in reached)
    stats = CampaignStats()
    results: list[ShardResult] = []
    failed: list[ShardResult] = []
    coverage = merge([], ops, filters, beyond=beyond)
    stats.cells, stats.total_cells = coverage.summary()
    deadline = time.monotonic() + duration if duration is not None else None
    shards = _until(shards, deadline)
    runner = functools.partial(run_named, impl_spec, os.getcwd(), step_timeout)

    def show() -> None:
        programs_now, _ = stats.totals()
        task.update(programs_now)
        task.describe(f"campaign: {stats.line()}")

    def on_progress(index: int, programs_now: int, calls: int) -> None:
        stats.live[index] = (programs_now, calls)
        show()

    def on_result(result: ShardResult) -> bool:
        results.append(result)
        if result.report.coverage is not None:
            coverage.merge(result.report.coverage)
        stats.add(result, coverage)
        show()
        if not result.passed:
            failed.append(result)
            return False
        return True

    where = "this process" if jobs <= 1 else f"{jobs} local processes"
    t0 = time.monotonic()
    if scheduler is not None:
        from exo.kit.cluster import run_dask

        seen: list[int] = []
        run_dask(scheduler, shards, runner, on_result, on_connect=seen.append)
        jobs = seen[0] if seen else jobs
        where = f"the Dask cluster at {scheduler} ({jobs} worker threads)"
    else:
        run_local(shards, runner, jobs, on_result, on_progress=on_progress,
                  init=worker_init)
    seconds = time.monotonic() - t0
    report = _merged_report(results, failed[0] if failed else None, coverage, configs,
                            steps, seed, ops, filters)
    return Campaign(report, stats, jobs, where, results, failed[0] if failed else None,
                    programs, seconds)


def _until(shards: Iterator[Shard], deadline: float | None) -> Iterator[Shard]:
    """``shards`` until ``deadline`` (``--campaign``), but always the witness sweep and
    one generated shard: a campaign too short for any generated program would otherwise
    be called conformant on the witness programs alone."""
    for count, shard in enumerate(shards):
        if deadline is not None and count >= 2 and time.monotonic() >= deadline:
            return
        yield shard


def _merged_report(results: list[ShardResult], failed: ShardResult | None,
                   coverage: Any, configs: tuple[Config, ...], steps: int, seed: int,
                   ops: frozenset[str] | None, filters: str) -> CheckReport:
    """The campaign as one ``CheckReport``: the failing shard's (its seed, its
    configuration, its shrunk program) with the merged coverage; or, when every shard
    passed, the programs run in all over the run's configurations, the campaign's seed."""
    programs = sum(r.report.runs for r in results)
    if failed is not None:
        report = failed.report
        report.coverage = coverage
        report.missing = [c.id for c in coverage.missing()]
        return report
    shares = [sum(r.shard.examples for r in results
                  if not r.shard.sweep and r.shard.configs[0] == c) for c in configs]
    ran = [sum(r.report.runs for r in results
               if not r.shard.sweep and r.shard.configs[0] == c) for c in configs]
    report = CheckReport(passed=True, examples=sum(shares), steps=steps,
                         coverage=coverage, seed=seed, ops=ops, filters=filters,
                         configs=list(configs), shares=shares, ran=ran, runs=programs)
    report.calls = sum(r.calls for r in results)
    report.missing = [c.id for c in coverage.missing()]
    return report


def impl_words(impl_spec: str, impl_cmd: str | None, impl_given: bool,
               step_timeout: float | None) -> str:
    """How ``exo check`` was told the implementation, for a rerun command."""
    words = []
    if impl_cmd is not None:
        words.append(f"--impl-cmd {shlex.quote(impl_cmd)}")
    elif impl_given:
        words.append(f"--impl {shlex.quote(impl_spec)}")
    if step_timeout is not None:
        words.append(f"--step-timeout {step_timeout:g}")
    return " ".join(words)


def rerun_line(shard: Shard, words: str) -> str:
    """``found by shard 3 (seed ...); it runs alone with: exo check ...``."""
    return f"found by {shard.label()}; it runs alone with: {shard.command(words)}"

