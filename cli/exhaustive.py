"""``exo check --exhaustive DEPTH``: every program of up to DEPTH calls over the small
domains of ``exo.kit.exhaustive``, at a tiny configuration, in shards on local processes
or a Dask cluster; the programs, distinct states and cells it reached, and on a failure
the shortest failing program, minimized, a reproduction file and the record for
``exo check --replay``."""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from exo.cli.common import EXIT_FAIL, fail_usage
from exo.cli.console import Task, outside, print_table, visible
from exo.interface import Config
from exo.kit.campaign import config_text, run_local
from exo.kit.exhaustive import ExhaustiveReport, merge
from exo.wire.campaign import explore_named, worker_init

__all__ = ["report_exhaustive", "run_exhaustive"]


def run_exhaustive(task: Task, impl_spec: str, cfg: Config, depth: int, jobs: int,
                   ops: frozenset[str] | None, filters: str, scheduler: str | None,
                   step_timeout: float | None) -> tuple[ExhaustiveReport, float, str]:
    """Run the search in ``jobs`` shards on local processes (or one shard per worker
    thread of the cluster at ``scheduler``); the merged report, the seconds it took and
    where it ran. The first failing shard stops the others. ``ValueError``: a usage
    problem; ``RuntimeError``: a shard could not run."""
    results: list[ExhaustiveReport] = []
    live: dict[int, int] = {}

    def show() -> None:
        done = sum(r.programs for r in results) + sum(live.values())
        task.update(done)
        task.describe(f"exhaustive search to depth {depth}: {done} programs, "
                      f"{len(results)} shards done")

    def on_progress(index: int, programs: int, _calls: int) -> None:
        live[index] = programs
        show()

    def on_result(report: ExhaustiveReport) -> bool:
        results.append(report)
        live.pop(report.shard, None)
        show()
        return report.passed

    runner = functools.partial(explore_named, impl_spec, os.getcwd(), step_timeout, cfg,
                               depth, ops, filters)
    t0 = time.monotonic()
    if scheduler is not None:
        from exo.kit.cluster import map_unordered

        threads: list[int] = []

        def jobs_of_the_cluster() -> Iterator[tuple[int, int]]:
            of = threads[0] if threads else 1  # one shard per worker thread
            yield from ((i, of) for i in range(of))

        map_unordered(scheduler, runner, jobs_of_the_cluster(), on_result,
                      on_connect=threads.append, label=lambda j: f"exhaustive shard {j[0]}")
        where = f"the Dask cluster at {scheduler} ({threads[0] if threads else 0} shards)"
    else:
        run_local([(i, jobs) for i in range(jobs)], runner, jobs, on_result,
                  on_progress=on_progress, init=worker_init)
        where = ("this process" if jobs <= 1 else f"{jobs} local processes") + (
            f" ({jobs} shards)" if jobs > 1 else "")
    seconds = time.monotonic() - t0
    if not results:
        raise RuntimeError("no shard of the exhaustive search ran")
    merged = merge(sorted(results, key=lambda r: r.shard))
    return merged, seconds, where


def report_exhaustive(console: Any, report: ExhaustiveReport, seconds: float, where: str,
                      impl_spec: str, json_out: Path | None, repro_out: Path,
                      ops: frozenset[str] | None, filters: str,
                      step_timeout: float | None) -> None:
    """Print what the search did and found; write ``--json``; on a failure, the
    reproduction file and the record for ``--replay``, then exit 1. A search that found
    no difference exits 0: it states what it ran (every program of up to ``depth`` calls
    over the domains at these sizes), no more."""
    cfg = report.cfg
    sizes = config_text(cfg) or "the default sizes"
    print_table(console, f"exhaustive search: every program of up to {report.depth} calls "
                f"at {sizes}",
                ("depth", "programs", "new distinct states"),
                [(str(d), str(p), str(n)) for d, (p, n) in
                 enumerate(report.per_depth, start=1)])
    cov = report.coverage
    hit, total = cov.summary()
    print_table(console, f"behaviour coverage of the search: {hit} of {total} cells hit "
                "(a cell not hit needs more calls, larger sizes or other arguments than "
                "the search's domains: no claim is made about it)",
                ("clause", "hit", "reachable", "unreachable (proved)", "excluded"),
                [(k, str(h), str(r), str(u), str(x)) for k, h, r, u, x in cov.clauses()])
    rate = report.steps / seconds if seconds > 0 else 0.0
    console.print(f"exhaustive: {report.programs} programs, {len(report.states)} distinct "
                  f"states, {report.steps} steps in {seconds:.1f} s ({rate:.0f} steps/s) "
                  f"on {where}", markup=False)
    repro: Path | None = None
    if report.failure is not None:
        repro = _failure(console, report, impl_spec, repro_out, ops, filters, step_timeout)
    if json_out is not None:
        _write_json(json_out, report, seconds, where, repro)
    if report.failure is not None:
        sys.exit(EXIT_FAIL)
    if report.stopped:  # a shard stopped without a failure: never a verdict
        console.print("[red]the search stopped before it was done: no verdict[/red]")
        sys.exit(EXIT_FAIL)
    console.print(f"[green]no difference: every program of up to {report.depth} calls over "
                  f"the search's domains at {visible(sizes)} ran in lockstep "
                  f"({len(report.states)} distinct states)[/green]")


def _failure(console: Any, report: ExhaustiveReport, impl_spec: str, repro_out: Path,
             ops: frozenset[str] | None, filters: str,
             step_timeout: float | None) -> Path | None:
    from exo.kit import lastfailure
    from exo.kit.bringup import fields_for
    from exo.kit.reproduction import write_reproduction
    from exo.kit.text import describe
    from exo.wire.loader import CMD_PREFIX

    assert report.failure is not None
    calls, failure = report.failure
    error = failure.message.splitlines()[0]
    console.print(f"[red]not conformant (found by the exhaustive search, a program of "
                  f"{report.caught_at} calls): {outside(error)}[/red]")
    shown = "\n".join(f"  {describe(n, a)}" for n, a in calls)
    console.print(visible(f"the same failure in {len(calls)} calls (minimized, config "
                          f"{report.cfg!r}):\n{shown}\n{failure.message}", block=True),
                  markup=False)
    repro: Path | None = None
    try:
        repro = write_reproduction(
            repro_out, impl_spec, report.cfg, list(calls), failure, None,
            fields_for(ops) if ops is not None else None,
            step_timeout=step_timeout if impl_spec.startswith(CMD_PREFIX) else None)
        console.print(f"reproduction: {visible(str(repro))}  (run: python -m pytest "
                      f"{visible(str(repro))})", markup=False)
    except (ValueError, OSError) as exc:
        console.print(f"(no reproduction file: {visible(str(exc))})", markup=False)
    record = lastfailure.LastFailure(
        impl=impl_spec, cfg=report.cfg, seed=None, steps=report.depth, examples=1,
        ops=tuple(sorted(ops)) if ops is not None else None, error=error,
        calls=tuple(calls), config_given=True, when=time.time(), filters=filters)
    try:
        lastfailure.save(record)
        console.print("run it again after a fix: exo check --replay", markup=False)
    except (OSError, ValueError) as exc:
        console.print(f"(the failure is not kept for --replay: {visible(str(exc))})",
                      markup=False)
    return repro


def _write_json(path: Path, report: ExhaustiveReport, seconds: float, where: str,
                repro: Path | None) -> None:
    failure = report.failure
    coverage = report.coverage.as_json()
    # not "missing": a cell the search did not reach is no gap in what it claims
    coverage["not_reached"] = coverage.pop("missing")
    out: dict[str, Any] = {
        "mode": "exhaustive",
        "verdict": ("not conformant" if failure is not None else
                    "stopped" if report.stopped else "no difference"),
        "depth": report.depth,
        "config": {k: getattr(report.cfg, k) for k in report.cfg.__dataclass_fields__},
        "programs": report.programs, "distinct_states": len(report.states),
        "steps": report.steps, "seconds": seconds, "where": where,
        "per_depth": [{"depth": d, "programs": p, "new_states": n}
                      for d, (p, n) in enumerate(report.per_depth, start=1)],
        "caught_at": report.caught_at,
        "error": visible(failure[1].message.splitlines()[0]) if failure else "",
        "calls": len(failure[0]) if failure else None,
        "reproduction": visible(str(repro)) if repro else None,
        "coverage": coverage,
    }
    try:
        path.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        fail_usage(f"--json: cannot write {path}: {exc.strerror or exc}")
