"""Exhaustive small-scope checking (``exo.kit.exhaustive``, issue 27): how far it goes at
``TINY`` and which broken kernels of the catalogues it catches within 4 calls.

Three tables, each printed as it is done::

    python -m benchmarks.exhaustive                       # depths 2-4, shards, catalogue
    python -m benchmarks.exhaustive --depths 2,3,4,5 --no-catalogue
    python -m benchmarks.exhaustive --no-depths --jobs 2 --only CidSwitchKeepsStlb

* **depths**: ``explore(exo.impl:Kernel, TINY, d)`` for each depth, one after another on
  one core: programs, distinct states (the new ones at the last level), lockstep steps
  (replays included), coverage cells hit of the reachable ones, seconds;
* **symmetry** (``--symmetry D``): the reduction loses no state within ``D`` calls (the
  model-only search without it, its states' canonical images against the reduced set);
* **shards**: ``--shard-depth`` (4) run whole on one core, then as 2 shards in
  2 processes side by side (wall time, and the merged distinct states, which must equal
  the whole run's);
* **catalogue**: every broken kernel of ``tests/catalogue.py`` (with the optimizer
  bugs) and ``tests/catalogue_views.py`` at depth ``--depth`` (4): the level at which
  the exhaustive run catches it, or ``-`` (not within the depth); and, independently of
  the engine, the minimized failing program of the ordinary kit run at ``TINY``
  (``run_check(kernel, TINY, seed=1)``, exo check's default budget): its length, and
  whether its calls lie in the exhaustive domains (``within_domains``). The claim checked
  in the last column: every kernel the kit shows failing within ``--depth`` calls of the
  domains is caught by the exhaustive run at a level no deeper (``ok``; ``MISSED``
  otherwise, and the exit status is 1). ``--jobs`` kernels at a time.

Seconds are wall-clock on a shared machine: they vary with its load; programs, states,
cells and verdicts do not.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exo.impl import Kernel
from exo.kit.check import run_check
from exo.kit.exhaustive import TINY, canonical, explore, merge, reach, within_domains
from exo.kit.lockstep import Step
from exo.kit.text import plain


def kernels() -> dict[str, Any]:
    """Every broken kernel of the three catalogues, by name."""
    from tests.catalogue import CATALOGUE
    from tests.catalogue_views import CATALOGUE as VIEWS
    return {**CATALOGUE, **VIEWS}


def clause_of(cls: Any) -> str:
    return str(getattr(cls, "CLAUSE", ""))


# --------------------------------------------------------------------------- depths


def depth_row(depth: int) -> tuple[int, int, int, int, int, int, int, float, bool]:
    """(depth, programs, distinct states, new at the last level, steps, cells hit,
    reachable cells, seconds, passed) of ``explore(Kernel, TINY, depth)``."""
    start = time.perf_counter()
    r = explore(Kernel, TINY, depth)
    seconds = time.perf_counter() - start
    hit, reachable = r.coverage.summary()
    return (depth, r.programs, len(r.states), r.per_depth[-1][1], r.steps, hit, reachable,
            seconds, r.passed)


def depths_table(depths: list[int]) -> None:
    print(f"exo.impl:Kernel at TINY ({TINY}), one core")
    print(f"{'depth':>5}  {'programs':>9}  {'states':>7}  {'new':>6}  {'steps':>9}  "
          f"{'cells':>9}  {'seconds':>7}  verdict")
    for d in depths:
        depth, programs, states, new, steps, hit, reachable, seconds, passed = depth_row(d)
        print(f"{depth:>5}  {programs:>9}  {states:>7}  {new:>6}  {steps:>9}  "
              f"{hit:>4}/{reachable:<4}  {seconds:>7.1f}  {'passed' if passed else 'FAILED'}",
              flush=True)


def symmetry_check(depth: int) -> None:
    """The reduction loses no state within ``depth`` calls: the canonical images of every
    state the unreduced search reaches (on the model alone) are the reduced search's."""
    start = time.perf_counter()
    every = reach(TINY, depth, symmetry=False)
    reduced = reach(TINY, depth)
    images = {canonical(s) for s in every.values()}
    print(f"symmetry at depth {depth} (model only): {len(every)} states unreduced, "
          f"{len(reduced)} up to symmetry; images of the unreduced "
          f"{'equal' if images == set(reduced) else 'DIFFER FROM'} the reduced set "
          f"({time.perf_counter() - start:.1f} s)", flush=True)


# --------------------------------------------------------------------------- shards


def shard_run(depth: int, shard: int, of: int) -> tuple[Any, float]:
    start = time.perf_counter()
    r = explore(Kernel, TINY, depth, shard=shard, of=of)
    return r, time.perf_counter() - start


def shards_table(depth: int) -> None:
    whole, alone = shard_run(depth, 0, 1)
    start = time.perf_counter()
    with ProcessPoolExecutor(2) as pool:
        parts = list(pool.map(shard_run, [depth, depth], [0, 1], [2, 2]))
    wall = time.perf_counter() - start
    merged = merge([r for r, _ in parts])
    same = merged.states == whole.states
    print(f"depth {depth}: one shard on one core {alone:.1f} s ({whole.programs} programs, "
          f"{len(whole.states)} states); 2 shards in 2 processes {wall:.1f} s wall "
          f"(shards {parts[0][1]:.1f} s and {parts[1][1]:.1f} s; "
          f"{parts[0][0].programs} + {parts[1][0].programs} programs); merged states "
          f"{len(merged.states)} ({'the same set' if same else 'DIFFERENT'}), cells "
          f"{merged.coverage.summary()[0]} (whole run {whole.coverage.summary()[0]})",
          flush=True)


# --------------------------------------------------------------------------- catalogue


@dataclass
class Row:
    name: str
    clause: str
    caught_at: int | None
    program: list[Step]
    seconds: float
    kit_length: int | None  # length of the kit's minimized failing program (None: escaped)
    kit_within: bool  # that program's calls lie in the exhaustive domains
    kit_program: list[Step]

    def verdict(self, depth: int) -> str:
        """The claim for this kernel: ``-`` when the kit's failing program does not lie
        within ``depth`` calls of the domains (nothing claimed), else ``ok`` if the
        exhaustive run caught the kernel at that program's length or less, ``MISSED``
        if not."""
        if self.kit_length is None or self.kit_length > depth or not self.kit_within:
            return "-"
        caught = self.caught_at is not None and self.caught_at <= self.kit_length
        return "ok" if caught else "MISSED"


def catalogue_row(name: str, depth: int, examples: int, steps: int) -> Row:
    cls = kernels()[name]
    start = time.perf_counter()
    r = explore(cls, TINY, depth)
    seconds = time.perf_counter() - start
    kit = run_check(cls, TINY, steps=steps, examples=examples, seed=1)
    trace = [] if kit.passed else [(n, tuple(plain(a) for a in args))
                                   for n, args in (kit.trace or [])]
    return Row(name, clause_of(cls), r.caught_at, r.failure[0] if r.failure else [],
               seconds, None if kit.passed else len(trace),
               bool(trace) and within_domains(trace, TINY, r.traps), trace)


def catalogue_table(names: list[str], depth: int, jobs: int, examples: int,
                    steps: int) -> int:
    print(f"catalogue at TINY, exhaustive depth {depth}; kit: run_check(kernel, TINY, "
          f"seed=1, examples={examples}, steps={steps})")
    print(f"{'kernel':<32} {'clause':<7} {'caught':>6} {'s':>5}  {'kit':>4} {'in dom':>6}  "
          "claim  exhaustive program (minimized)")
    rows: list[Row] = []
    with ProcessPoolExecutor(jobs) as pool:
        for row in pool.map(catalogue_row, names, [depth] * len(names),
                            [examples] * len(names), [steps] * len(names)):
            rows.append(row)
            level = str(row.caught_at) if row.caught_at is not None else "-"
            kit = str(row.kit_length) if row.kit_length is not None else "esc"
            shown = "; ".join(f"{n}{tuple(a)}" for n, a in row.program)
            print(f"{row.name:<32} {row.clause:<7} {level:>6} {row.seconds:>5.1f}  "
                  f"{kit:>4} {'yes' if row.kit_within else 'no':>6}  "
                  f"{row.verdict(depth):<5}  {shown}", flush=True)
    caught = sum(1 for r in rows if r.caught_at is not None)
    short = [r for r in rows if r.kit_length is not None and r.kit_length <= depth]
    reachable = [r for r in short if r.kit_within]
    missed = [r.name for r in rows if r.verdict(depth) == "MISSED"]
    short_missed = [r.name for r in short if r.caught_at is None]
    beyond = [r.name for r in rows if r.caught_at is not None
              and (r.kit_length is None or r.kit_length > depth)]
    print(f"{caught}/{len(rows)} caught within {depth} calls. The kit's own failing "
          f"program has at most {depth} calls for {len(short)} kernels, "
          f"{len(reachable)} of them with calls of the domains; caught: "
          f"{'all' if not short_missed else 'NOT ' + ', '.join(short_missed)}. Caught "
          f"although the kit needed more than {depth} calls or escaped: {len(beyond)} "
          f"({', '.join(beyond) or 'none'})")
    return 1 if missed else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Exhaustive small-scope checking at TINY: depth table, shards, "
                    "catalogue table (benchmarks/exhaustive.py's docstring says more).")
    ap.add_argument("--depths", default="2,3,4", metavar="D,D,...",
                    help="depths of the first table (default 2,3,4; 5 takes minutes)")
    ap.add_argument("--no-depths", action="store_true", help="leave out the depth table")
    ap.add_argument("--shard-depth", type=int, default=4, metavar="D",
                    help="depth of the shards table (default 4; 0 leaves it out)")
    ap.add_argument("--symmetry", type=int, default=0, metavar="D",
                    help="also check the symmetry reduction loses no state within D calls "
                         "(model only; 4 takes a minute)")
    ap.add_argument("--no-catalogue", action="store_true",
                    help="leave out the catalogue table")
    ap.add_argument("--depth", type=int, default=4, help="catalogue depth (default 4)")
    ap.add_argument("--jobs", type=int, default=2, help="catalogue kernels at a time (2)")
    ap.add_argument("--examples", type=int, default=200,
                    help="the kit run's programs per kernel (200)")
    ap.add_argument("--steps", type=int, default=50,
                    help="the kit run's steps per program (50)")
    ap.add_argument("--only", action="append", metavar="NAME",
                    help="only this catalogue kernel (repeatable)")
    a = ap.parse_args(argv)
    try:
        depths = [int(d) for d in a.depths.split(",") if d.strip()]
    except ValueError:
        ap.error(f"--depths: {a.depths!r} is not a list of integers")
    names = a.only or sorted(kernels())
    unknown = [n for n in names if n not in kernels()]
    if unknown:
        ap.error(f"unknown kernels: {', '.join(unknown)}")
    if not a.no_depths:
        depths_table(depths)
    if a.symmetry > 0:
        symmetry_check(a.symmetry)
    if a.shard_depth > 0:
        shards_table(a.shard_depth)
    status = 0
    if not a.no_catalogue:
        status = catalogue_table(names, a.depth, max(1, a.jobs), a.examples, a.steps)
    return status


if __name__ == "__main__":
    sys.exit(main())
