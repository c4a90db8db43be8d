"""Conformance campaigns: one ``exo check`` split into independent shards, run on every
core (``run_local``) or on a Dask cluster (``exo.kit.cluster``), their coverage merged
into one table.

A campaign is a list of ``Shard`` values (``plan``): shard 0 is the witness sweep (the
shipped witness programs over every configuration of the run, ``exo.kit.witnesses``);
every other shard is a normal seeded run of ``exo.kit.check.run_check`` without the
sweep — ``examples`` programs of up to ``steps`` steps at one configuration, generated
from the shard's own seed (``shard_seed``: the campaign's seed and the shard's index,
hashed). What a shard generates depends on its fields alone, never on which process or
machine runs it, nor on how many run beside it: ``exo check --config C --seed S
--examples E --steps K`` (``Shard.command``) runs it alone, the sweep of that one
configuration first (the sweep draws nothing from the seed).

The configurations take turns as ``exo.kit.configs.spread`` shares a run out: the first
(the user's sizes, or the defaults) gets every other shard, the others share the rest.
Swarm testing (``exo.kit.configs.GROUPS``) happens inside every shard, per program.

``run_local`` runs shards on ``jobs`` worker processes (or in this one for ``jobs`` 1)
and hands each ``ShardResult`` to the caller as it arrives; the caller's ``on_result``
returns False to stop the campaign (a shard failed): shards not yet started are never
started, and running ones are stopped (their processes ended). ``merge`` adds the
shards' coverage into one ``Coverage``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import hashlib
import math
import multiprocessing
import os
import queue
import re
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from exo.interface import Config
from exo.kit.check import CheckReport, run_check
from exo.kit.configs import KIT_CONFIGS
from exo.kit.coverage import UNREACHABLE, Coverage
from exo.kit.lockstep import Factory
from exo.kit.profiles import DEFAULT, OUTSIDE

__all__ = ["SHARD_PROGRAMS", "CampaignStats", "Runner", "Shard", "ShardResult",
           "config_text", "merge", "parse_duration", "plan", "report_progress", "run_local",
           "run_shard", "shard_seed"]

SHARD_PROGRAMS = 10
"""Programs per generated shard (``exo check --shard-size``). Small enough that two
workers finish within a shard's time of each other (a campaign of the default 200
programs is 20 shards), large enough that a shard's fixed cost — building the
Hypothesis machine, its first, simplest program — is a small part of it."""


@dataclass(frozen=True)
class Shard:
    """One independent part of a campaign: a normal seeded ``run_check``."""

    index: int  # 0: the witness sweep; 1, 2, ...: generated programs
    seed: int  # what the shard's programs are generated from (``shard_seed``)
    configs: tuple[Config, ...]  # one configuration (all of the run's for the sweep)
    examples: int  # programs to generate (0 for the sweep)
    steps: int  # steps per program
    ops: frozenset[str] | None = None  # --ops (bring-up), or None: every operation
    filters: str = DEFAULT  # the filter profile (exo.kit.profiles)
    workload: str | None = None  # --workload

    @property
    def sweep(self) -> bool:
        """The witness sweep: the shipped witness programs, nothing generated."""
        return self.index == 0

    def label(self) -> str:
        """``shard 3 (seed 123, n_envs=2,tlb_size=1, 10 x 50)`` or ``shard 0 (the witness
        sweep)``."""
        if self.sweep:
            return "shard 0 (the witness sweep)"
        return (f"shard {self.index} (seed {self.seed}, config "
                f"{config_text(self.configs[0]) or 'default'}, "
                f"{self.examples} examples x {self.steps} steps)")

    def command(self, impl_args: str) -> str:
        """The ``exo check`` command line that runs this shard alone (``impl_args``: how
        the implementation was named, e.g. ``--impl-cmd './k'``)."""
        parts = ["exo check"]
        if impl_args:
            parts.append(impl_args)
        if not self.sweep:  # --config even for the defaults: one configuration only
            cfg = config_text(self.configs[0]) or _first_size(self.configs[0])
            parts += [f"--seed {self.seed}", f"--examples {self.examples}",
                      f"--steps {self.steps}", f"--config {cfg}"]
        elif len(self.configs) == 1 and config_text(self.configs[0]):
            parts.append(f"--config {config_text(self.configs[0])} --examples 1")
        else:
            parts.append("--examples 1")
        if self.ops is not None:
            parts.append("--ops " + ",".join(sorted(self.ops)))
        if self.filters != DEFAULT:
            parts.append(f"--filters {self.filters}")
        if self.workload is not None:
            parts.append(f"--workload {self.workload}")
        return " ".join(parts)


def config_text(cfg: Config) -> str:
    """``cfg`` as ``exo check --config`` reads it: the sizes that differ from the
    defaults, ``name=N`` joined by commas ("" for the defaults)."""
    default = Config()
    return ",".join(f"{f.name}={getattr(cfg, f.name)}" for f in dataclasses.fields(cfg)
                    if getattr(cfg, f.name) != getattr(default, f.name))


def _first_size(cfg: Config) -> str:
    """``n_envs=4``: one size named, so that ``--config`` picks this one configuration
    even when every size is the default."""
    first = dataclasses.fields(cfg)[0].name
    return f"{first}={getattr(cfg, first)}"


def shard_seed(seed: int, index: int) -> int:
    """The seed of shard ``index`` of a campaign seeded with ``seed``: 32 bits of
    SHA-256 over both, so neighbouring shards share nothing and any shard's seed can be
    computed without the others."""
    digest = hashlib.sha256(f"exo-campaign:{seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def _turns(n: int) -> list[int]:
    """The configuration of each generated shard in turn: the first every other shard,
    the others in order between (``0, 1, 0, 2, 0, 3`` for four)."""
    if n == 1:
        return [0]
    out: list[int] = []
    for k in range(1, n):
        out += [0, k]
    return out


def plan(seed: int, configs: tuple[Config, ...] | None = None, steps: int = 50,
         programs: int | None = None, shard_programs: int = SHARD_PROGRAMS,
         ops: frozenset[str] | None = None, filters: str = DEFAULT,
         workload: str | None = None, sweep: bool = True) -> Iterator[Shard]:
    """The campaign's shards in order: the witness sweep (unless ``sweep`` is false),
    then generated shards of ``shard_programs`` programs (the last one smaller) until
    ``programs`` programs in all, or without end if ``programs`` is None (a campaign
    for a duration takes shards until its time is up). The same arguments give the
    same shards, whatever runs them."""
    if shard_programs < 1:
        raise ValueError("a shard needs at least one program")
    sizes = tuple(configs) if configs else KIT_CONFIGS
    if sweep:
        yield Shard(0, seed, sizes, 0, steps, ops, filters, workload)
    turns = _turns(len(sizes))
    index, left = 1, programs
    while left is None or left > 0:
        count = shard_programs if left is None else min(shard_programs, left)
        cfg = sizes[turns[(index - 1) % len(turns)]]
        yield Shard(index, shard_seed(seed, index), (cfg,), count, steps, ops, filters,
                    workload)
        index += 1
        if left is not None:
            left -= count


@dataclass
class ShardResult:
    """What one shard found: its ``CheckReport`` (coverage included), the lockstep
    calls it made and how long it ran, where (the worker's process id and host)."""

    shard: Shard
    report: CheckReport
    calls: int
    seconds: float
    worker: str = ""

    @property
    def passed(self) -> bool:
        return self.report.passed


def run_shard(shard: Shard, factory: Factory,
              on_progress: Callable[[int, int], None] | None = None) -> ShardResult:
    """Run ``shard`` against ``factory`` (a normal seeded ``run_check``; the sweep shard
    runs the witness programs only). ``on_progress(programs, calls)`` as programs start
    (default: ``report_progress``, to the campaign running it)."""
    calls = [0]

    def started(n: int) -> None:
        if on_progress is not None:
            on_progress(n, calls[0])
        else:
            report_progress(shard.index, n, calls[0])

    t0 = time.perf_counter()
    cfg = shard.configs[0] if len(shard.configs) == 1 else None
    report = run_check(factory, cfg, steps=shard.steps, examples=shard.examples,
                       on_progress=started, seed=shard.seed, ops=shard.ops,
                       workload=shard.workload, filters=shard.filters, probed=True,
                       sweep=shard.sweep, calls=calls)
    if shard.sweep and cfg is None:
        report.configs = list(shard.configs)
    return ShardResult(shard, report, report.calls, time.perf_counter() - t0,
                       f"{os.uname().nodename}:{os.getpid()}")


def merge(results: Iterable[ShardResult], ops: frozenset[str] | None = None,
          filters: str = DEFAULT, unreachable: frozenset[str] = frozenset(),
          beyond: frozenset[str] = frozenset()) -> Coverage:
    """One coverage table for a campaign: every shard's cells and counts added up, with
    the run's scope (``ops``, the filter profile, cells proved unreachable)."""
    merged = Coverage(ops=ops, unreachable=UNREACHABLE | unreachable, profile=filters,
                      outside=OUTSIDE[filters])
    merged.beyond = beyond
    for result in results:
        if result.report.coverage is not None:
            merged.merge(result.report.coverage)
    return merged


@dataclass
class CampaignStats:
    """A campaign's running totals, for progress lines and the final summary."""

    started: float = field(default_factory=time.monotonic)
    shards: int = 0  # shards finished
    programs: int = 0  # programs run by finished shards
    calls: int = 0  # lockstep calls made by finished shards
    live: dict[int, tuple[int, int]] = field(default_factory=dict)  # running: (programs, calls)
    cells: int = 0  # reachable cells hit so far (finished shards)
    total_cells: int = 0
    shard_seconds: float = 0.0  # the shards' own time, added up

    def add(self, result: ShardResult, coverage: Coverage) -> None:
        self.shards += 1
        self.programs += result.report.runs
        self.calls += result.calls
        self.shard_seconds += result.seconds
        self.live.pop(result.shard.index, None)
        self.cells, self.total_cells = coverage.summary()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def totals(self) -> tuple[int, int]:
        """(programs, calls) including what running shards have done so far."""
        return (self.programs + sum(p for p, _ in self.live.values()),
                self.calls + sum(c for _, c in self.live.values()))

    def line(self) -> str:
        programs, calls = self.totals()
        rate = calls / self.elapsed() if self.elapsed() > 0 else 0.0
        return (f"{programs} programs, {calls} steps, {rate:.0f} steps/s, "
                f"{self.cells}/{self.total_cells} cells, {self.shards} shards done")


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``8h``, ``1h30m`` or ``0.5h`` as seconds; ``ValueError``
    with a one-line message otherwise (zero included)."""
    raw = text.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if _BARE.fullmatch(raw):
        total = float(raw)
    elif _PARTS.fullmatch(raw):
        total = sum(float(n) * units[u] for n, u in _PART.findall(raw))
    else:
        raise ValueError(f"--campaign: cannot read {text!r} as a duration "
                         "(e.g. 90s, 15m, 8h, 1h30m)")
    if not math.isfinite(total) or total <= 0:
        raise ValueError(f"--campaign: {text!r} is not a positive duration")
    return total


_BARE = re.compile(r"\d+(?:\.\d+)?")
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_PARTS = re.compile(r"(?:\d+(?:\.\d+)?[smhd])+")


# --------------------------------------------------------------------------- local runs


Runner = Callable[[Shard], ShardResult]
"""What runs one shard in a worker: a picklable callable (a module-level function, or a
``functools.partial`` of one) that builds the implementation there and calls
``run_shard``."""

_PROGRESS: Any = None  # in a worker process: the queue its progress goes to
_SENT = 0.0  # when this process last reported progress (time.monotonic())

PROGRESS_EVERY = 0.5
"""Seconds between two progress reports of one worker: a report per program cost a
worker 5% of its time (the queue's feeder thread takes the interpreter lock)."""

T = TypeVar("T")
R = TypeVar("R")


def _worker_init(progress: Any, init: Callable[[], None] | None) -> None:
    global _PROGRESS
    _PROGRESS = progress
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    if init is not None:
        init()


class _Direct:
    """``run_local`` with one job: progress goes straight to the caller's callback."""

    def __init__(self, on_progress: Callable[[int, int, int], None] | None) -> None:
        self.on_progress = on_progress

    def put_nowait(self, item: tuple[int, int, int]) -> None:
        if self.on_progress is not None:
            self.on_progress(*item)


def report_progress(index: int, programs: int, calls: int) -> None:
    """Tell the campaign how far shard ``index`` has got (from a worker process, or from
    a shard ``run_local`` runs in its own process; nothing elsewhere)."""
    global _SENT
    now = time.monotonic()
    if _PROGRESS is not None and now - _SENT >= PROGRESS_EVERY:
        _SENT = now
        # progress is never worth a failure
        with contextlib.suppress(OSError, ValueError, queue.Full):
            _PROGRESS.put_nowait((index, programs, calls))


def _run_one(runner: Callable[[T], R], shard: T) -> R:
    return runner(shard)


def run_local(shards: Iterable[T], runner: Callable[[T], R], jobs: int,
              on_result: Callable[[R], bool],
              on_progress: Callable[[int, int, int], None] | None = None,
              init: Callable[[], None] | None = None) -> None:
    """Run ``shards`` with ``runner`` on ``jobs`` worker processes (``jobs`` 1: in this
    process, one after another), at most ``2 * jobs`` of them handed out at a time.
    ``on_result`` is called in this process as each shard finishes (in the order they
    finish); when it returns False, no further shard starts and the worker processes
    are ended (``init``, run in each worker at its start, may install what ends the
    kernels a worker started). ``on_progress(index, programs, calls)``: a running
    shard's progress. The
    shards may be anything picklable ``runner`` takes: campaign ``Shard`` values, or
    the shards of an exhaustive run (``exo.kit.exhaustive``)."""
    global _PROGRESS
    source = iter(shards)
    if jobs <= 1:
        before, _PROGRESS = _PROGRESS, _Direct(on_progress)
        try:
            for shard in source:
                if not on_result(runner(shard)):
                    return
        finally:
            _PROGRESS = before
        return
    context = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
    gc.freeze()  # what the workers inherit is not theirs to collect (nor to copy)
    progress = context.Queue()
    done: queue.Queue[tuple[bool, Any]] = queue.Queue()
    pool = context.Pool(jobs, initializer=_worker_init, initargs=(progress, init))
    outstanding = 0
    stopped = False
    try:
        def submit() -> bool:
            nonlocal outstanding
            shard = next(source, None)
            if shard is None:
                return False
            def failed(exc: BaseException, shard: T = shard) -> None:
                done.put((False, (shard, exc)))

            pool.apply_async(_run_one, (runner, shard),
                             callback=lambda r: done.put((True, r)), error_callback=failed)
            outstanding += 1
            return True

        while outstanding < 2 * jobs and submit():
            pass
        while outstanding > 0:
            try:
                ok, value = done.get(timeout=0.2)
            except queue.Empty:
                _drain(progress, on_progress)
                continue
            outstanding -= 1
            _drain(progress, on_progress)
            if not ok:
                shard, exc = value
                label = shard.label() if isinstance(shard, Shard) else repr(shard)
                raise RuntimeError(f"{label} could not run: "
                                   f"{type(exc).__name__}: {exc}") from exc
            if not on_result(value):
                stopped = True
                return
            while outstanding < 2 * jobs and submit():
                pass
    finally:
        if stopped or outstanding:
            pool.terminate()
        else:
            pool.close()
        pool.join()
        progress.close()
        gc.unfreeze()


def _drain(progress: Any, on_progress: Callable[[int, int, int], None] | None) -> None:
    while True:
        try:
            index, programs, calls = progress.get_nowait()
        except (queue.Empty, OSError, ValueError):
            return
        if on_progress is not None:
            on_progress(index, programs, calls)
