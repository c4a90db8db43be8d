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

Measured on 2026-12-08 (2 cores; the catalogue two kernels at a time, so its seconds
are inflated by about a third). ``exo.impl:Kernel`` at ``TINY``, one core::

    depth   programs   states     new      steps      cells  seconds  verdict
        2       1100       24      20       1153   202/408       0.3  passed
        3       6643      200     176       8042   236/408       1.5  passed
        4      56290     1647    1447      78545   266/408      14.7  passed
        5     472804    12323   10676     750135   317/408     139.5  passed

    symmetry at depth 4 (model only): 8032 states unreduced, 1647 up to symmetry;
    images of the unreduced equal the reduced set (9.9 s)
    depth 4: one shard on one core 14.8 s (56290 programs, 1647 states); 2 shards in 2
    processes 7.5 s wall (shards 7.5 s and 7.5 s; 28167 + 28123 programs); merged
    states 1647 (the same set), cells 266 (whole run 266)
    depth 5: one shard on one core 153.4 s (472804 programs, 12323 states); 2 shards in
    2 processes 77.4 s wall (shards 77.4 s and 74.8 s; 236460 + 236344 programs);
    merged states 12323 (the same set), cells 317 (whole run 317)

The catalogue at depth 4 (``caught``: the level, ``-`` not within 4; ``kit``: length of
the kit's minimized failing program at ``TINY``, ``esc`` if it passed; ``in dom``: that
program's calls are calls of the domains; ``claim``: ``ok`` where the claim applies)::

    kernel                          clause  caught     s   kit in dom  claim
    AbortAtDeadline                 REV-3        -  14.9     7     no  -
    AbortFilterKeepsDemux           REV-3        -  14.5   esc     no  -
    AbortLeavesOwnerRunning         REV-3        -  14.2     9     no  -
    AbortNoRepossessionException    REV-4        -  17.4     8    yes  -
    AbortPageKeepsOwnedIndex        REV-3        -  21.8    29     no  -
    AbortSkipsRepoVector            REV-4        -  26.0     8    yes  -
    AbortSliceIdlesTransferee       REV-3        -  21.3   esc     no  -
    AbortSliceKeepsIndex            REV-3        -  17.2   esc     no  -
    AcallDonates                    PCT-2        -  15.1     8     no  -
    AcallIgnoresNoTime              PCT-2        -  17.0     8     no  -
    AllocSkipsOwned                 ENV-2        3   1.0     8     no  -
    BadvpageNotSet                  EXC-2        -  17.6     6     no  -
    CidSwitchKeepsStlb              TLB-3        4  11.3     4    yes  ok
    CidSwitchSameIdFreesIt          TLB-3        2   0.3     2    yes  ok
    CidSwitchStaleHwCid             TLB-3        -  17.3     5     no  -
    DeallocKeepsStlb                MEM-2        4  11.4     4    yes  ok
    DeallocLeavesGranteeStlb        MEM-2        -  16.2     6     no  -
    DeallocLeavesGranteeTlb         MEM-2        -  17.6     6     no  -
    DebtChargedWhileIdle            CPU-5        -  17.4   esc     no  -
    DebtConsumedSliceStarts         CPU-5        -  17.5   esc     no  -
    DemuxMemoSurvivesInstall        NET-3        4  17.9     8     no  -
    DestroyKeepsStlbOfCid           TLB-9        -  15.9     9     no  -
    DestroyResetsRingCountOnly      ENV-2        -  17.6     9     no  -
    EntryAtAddrLimit                GEN-3        2   0.3     2     no  -
    ExcessChargedToSliceOwner       CPU-4        -  16.5    10     no  -
    ExcessNotCharged                CPU-4        -  15.7   esc     no  -
    FilterHighestSlot               NET-1        2   0.3     2     no  -
    FilterInstallSkipsOverlap       NET-1        4   3.0     5     no  -
    FilterRemoveKeepsOwnerIndex     NET-2        3   1.3     3     no  -
    FilterRemoveStaleDemux          NET-2        4  14.4     4    yes  ok
    FilterSlotCursor                NET-1        4  13.9     8     no  -
    GmClearKeepsPageIndex           REV-1        -  14.2     5     no  -
    GmSetIgnoresRevocation          REV-5        4  11.0     4     no  -
    GmSetSkipsIndex                 TLB-9        4  12.4     4     no  -
    GrantAlsoToNext                 NI-2         -  16.8     6     no  -
    GrantClearsGranterRecord        MEM-3        -  16.4   esc     no  -
    GrantDowngrades                 MEM-3        3   1.0    12     no  -
    GrantSkipsHolders               MEM-2        -  16.4     5    yes  -
    GrantTooLargeRights             MEM-3        3   1.2     5    yes  -
    GuaranteedLastSlotWins          TLB-8        -  16.3   esc     no  -
    GuaranteedRefillFillsStlb       TLB-8        -  16.3     7     no  -
    KillOneTickEarly                CPU-4        -  17.5   esc     no  -
    NextSliceWrapsEarly             CPU-5        1   0.3     1    yes  ok
    NoHandlerNotKilled              EXC-2        -  17.7     5     no  -
    PacketBoundsOffByOne            NET-3        3   1.3     6     no  -
    PacketTakeEmptyOk               NET-4        2   0.3     2    yes  ok
    PctClearsRegisters              PCT-3        -  19.6     9     no  -
    ProtectionAsTlbMiss             MEM-5        -  19.5     9     no  -
    RaiseAcceptsTlbMiss             EXC-1        -  16.7     5     no  -
    RefillAtLookupSlot              TLB-8        -  17.2   esc     no  -
    RefillNotWrittenBack            TLB-8        -  19.3   esc     no  -
    RepossessionKeptWithoutHandler  CPU-5        -  20.0    26     no  -
    RevokeDeadlineNow               REV-1        1   0.3     4    yes  ok
    RevokeGuaranteedPage            REV-5        4  11.9     4     no  -
    RingFullNotCounted              NET-3        4  16.1     4     no  -
    RingOneShort                    NET-3        3   2.0     3     no  -
    RingOrderReversed               NET-4        -  16.6   esc     no  -
    RingRewindsOnDrain              NET-4        -  15.9   esc     no  -
    ScallKeepsCallerSliceIndex      PCT-1        -  22.9     9     no  -
    ScallNoDonation                 PCT-1        -  36.4     8     no  -
    SetRegChecksRunningFirst        CPU-6        1   0.6     1     no  -
    SliceEndUpcallsOwner            CPU-4        -  33.0     8     no  -
    SliceFreeEndsRunningSlice       CPU-2        -  34.3     5     no  -
    StlbDropKeepsPageIndex          TLB-9        -  25.6    12     no  -
    StlbWrongSlot                   TLB-7        -  16.0   esc     no  -
    StoreBeforeProtectionCheck      MEM-5        -  16.4    10     no  -
    TlbHitIgnoresCid                TLB-6        -  16.3     8     no  -
    TlbReplaceKeepsStaleIndex       TLB-9        -  19.0    12     no  -
    TlbvadeleteKeepsStlb            TLB-2        4  12.1     4     no  -
    TlbwrSkipsSameBinding           TLB-1        4  11.3     8     no  -
    TlbwrVpageAtLimit               TLB-1        1   0.4     1     no  -
    TrapIdleRunsForNobody           GEN-6        1   0.3     1     no  -
    TrapRunsEvents                  GEN-6        1   0.4     1     no  -
    TrapTakesCallerFromArgument     GEN-6        1   0.4     1     no  -
    ViewHidesOwnRights              GEN-7        2   0.3     2    yes  ok
    ViewShowsEveryWord              GEN-7        -  16.5   esc     no  -
    ViewShowsRegistersToAll         GEN-7        -  16.5     5     no  -
    YieldAfterSliceRanOut           CPU-3        -  17.4     9     no  -
    YieldSkipsRepossession          REV-4        -  18.3   esc     no  -
    YieldToOutOfRange               CPU-3        -  21.6     5     no  -

    30/80 caught within 4 calls. The kit's own failing program has at most 4 calls for
    22 kernels, 8 of them with calls of the domains; caught: all. Caught although the
    kit needed more than 4 calls or escaped: 8 (AllocSkipsOwned,
    DemuxMemoSurvivesInstall, FilterInstallSkipsOverlap, FilterSlotCursor,
    GrantDowngrades, GrantTooLargeRights, PacketBoundsOffByOne, TlbwrSkipsSameBinding)

Why the other 50 are not caught within 4 calls: at ``TINY`` an environment runs only
after 4 calls (``env_create``, its start-of-slice entry, ``slice_alloc``, a tick: CPU-5),
so every bug of a running environment's calls (loads and stores, PCT, exceptions,
``yield_to``, ``set_reg``, the trap of a running caller, its registers' view) needs 5 or
more; the abort protocol needs a request, two ticks past its deadline and the abort (6
or more); a grantee's stale binding needs two environments, a page, a grant and a
binding before the Dealloc (5 or more). Five cannot show at ``TINY`` at any depth: one
STLB slot (StlbWrongSlot), one TLB slot (RefillAtLookupSlot), one guaranteed mapping
(GuaranteedLastSlotWins), a ring of one packet (RingOrderReversed, RingRewindsOnDrain).
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
