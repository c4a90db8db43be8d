"""How well ``exo check`` (``exo.kit.run_check``) catches the broken implementations of
``tests/catalogue.py``.

Measured on 2026-12-07 with exo check's default budget (``run_check(entry, None,
steps=50, examples=200)``: the witness sweep, then generation over KIT_CONFIGS), seeds
1-10, the catalogue in two halves (alternate entries) side by side on 2 cores, other
work running beside them (the seconds are inflated; the verdicts are not: budgets are
counted in programs)::

    python benchmarks/catalogue.py --seeds 10 --only TlbReplaceKeepsStaleIndex --only ...

Every entry (45 of the first catalogue, 28 optimizer bugs of tests/catalogue_optimizer.py)
was caught in 10 of 10 runs: 730 of 730.

Checked again after NET-1 began deciding declarative pairs by FLT-9 and the observation
comparison was sped up (a later session, same day): ``--seeds 1`` caught 73 of 73 (the
60 sweep entries do not depend on the seed), and ``--seeds 10 --only`` each of the 13
search entries caught 130 of 130. 60 entries are caught by the witness sweep
(``exo.kit.witnesses``), which runs first and does not depend on the seed; 13 by the
seeded search. *median s*: seconds to a verdict; *shrink s*: of those, from the first
failure to the verdict (Hypothesis's shrinking, then step deletion); *median steps*:
length of the minimized failing program::

    bug                             clause  caught  by      median s  shrink s  median steps
    ------------------------------  ------  ------  ------  --------  --------  ------------
    TlbReplaceKeepsStaleIndex       TLB-9   10/10   sweep   2.1       0.1       7
    StlbDropKeepsPageIndex          TLB-9   10/10   search  11.7      10.0      6
    GrantSkipsHolders               MEM-2   10/10   sweep   0.2       0.1       5
    GmSetSkipsIndex                 TLB-9   10/10   sweep   0.2       0.1       4
    AllocSkipsOwned                 ENV-2   10/10   sweep   0.4       0.1       6
    RefillNotWrittenBack            TLB-8   10/10   sweep   0.3       0.3       10
    StlbWrongSlot                   TLB-7   10/10   sweep   0.0       0.0       3
    TlbvadeleteKeepsStlb            TLB-2   10/10   sweep   1.3       0.2       4
    CidSwitchKeepsStlb              TLB-3   10/10   sweep   2.3       0.1       4
    DeallocKeepsStlb                MEM-2   10/10   sweep   0.2       0.1       4
    DeallocLeavesGranteeStlb        MEM-2   10/10   sweep   0.9       0.1       6
    DeallocLeavesGranteeTlb         MEM-2   10/10   sweep   1.1       0.1       6
    GrantTooLargeRights             MEM-3   10/10   sweep   0.2       0.1       5
    GrantDowngrades                 MEM-3   10/10   search  19.4      11.9      5
    RingFullNotCounted              NET-3   10/10   sweep   0.3       0.1       5
    RingOneShort                    NET-3   10/10   sweep   0.3       0.1       4
    RingOrderReversed               NET-4   10/10   sweep   14.3      13.3      5
    PacketTakeEmptyOk               NET-4   10/10   sweep   0.4       0.0       2
    ExcessNotCharged                CPU-4   10/10   sweep   2.3       2.2       21
    KillOneTickEarly                CPU-4   10/10   sweep   0.5       0.4       10
    ExcessChargedToSliceOwner       CPU-4   10/10   sweep   0.7       0.6       12
    SliceFreeEndsRunningSlice       CPU-2   10/10   sweep   1.2       0.1       5
    AbortLeavesOwnerRunning         REV-3   10/10   sweep   0.4       0.3       9
    AbortAtDeadline                 REV-3   10/10   sweep   2.4       0.2       7
    AbortSkipsRepoVector            REV-4   10/10   sweep   0.1       0.1       7
    AbortNoRepossessionException    REV-4   10/10   sweep   0.2       0.2       7
    ScallNoDonation                 PCT-1   10/10   sweep   0.3       0.3       7
    AcallDonates                    PCT-2   10/10   sweep   0.4       0.3       8
    PctClearsRegisters              PCT-3   10/10   sweep   0.7       0.6       13
    AcallIgnoresNoTime              PCT-2   10/10   sweep   0.9       0.2       9
    ProtectionAsTlbMiss             MEM-5   10/10   sweep   0.5       0.2       9
    BadvpageNotSet                  EXC-2   10/10   sweep   0.3       0.2       6
    NoHandlerNotKilled              EXC-2   10/10   sweep   1.0       0.1       5
    RaiseAcceptsTlbMiss             EXC-1   10/10   sweep   2.2       0.7       8
    FilterHighestSlot               NET-1   10/10   sweep   0.1       0.1       2
    FilterRemoveStaleDemux          NET-2   10/10   sweep   2.3       0.1       4
    PacketBoundsOffByOne            NET-3   10/10   sweep   1.3       0.3       3
    FilterInstallSkipsOverlap       NET-1   10/10   sweep   18.3      16.1      4
    SetRegChecksRunningFirst        CPU-6   10/10   sweep   1.4       0.0       1
    EntryAtAddrLimit                GEN-3   10/10   sweep   2.4       0.0       2
    TlbwrVpageAtLimit               TLB-1   10/10   sweep   1.1       0.0       1
    RevokeDeadlineNow               REV-1   10/10   sweep   1.2       0.1       4
    YieldToOutOfRange               CPU-3   10/10   search  16.4      11.1      14
    GmSetIgnoresRevocation          REV-5   10/10   sweep   0.2       0.1       4
    RevokeGuaranteedPage            REV-5   10/10   sweep   0.1       0.1       4
    NextSliceWrapsEarly             CPU-5   10/10   sweep   0.4       0.4       7
    DebtChargedWhileIdle            CPU-5   10/10   search  20.9      11.3      21
    DebtConsumedSliceStarts         CPU-5   10/10   sweep   3.1       0.6       11
    RepossessionKeptWithoutHandler  CPU-5   10/10   sweep   2.8       1.5       13
    YieldSkipsRepossession          REV-4   10/10   sweep   3.0       0.6       11
    YieldAfterSliceRanOut           CPU-3   10/10   sweep   3.1       0.6       10
    SliceEndUpcallsOwner            CPU-4   10/10   sweep   3.4       1.2       12
    RefillAtLookupSlot              TLB-8   10/10   sweep   3.8       0.2       7
    GuaranteedRefillFillsStlb       TLB-8   10/10   sweep   0.7       0.4       7
    GuaranteedLastSlotWins          TLB-8   10/10   sweep   4.1       0.5       9
    TlbHitIgnoresCid                TLB-6   10/10   sweep   0.6       0.4       8
    StoreBeforeProtectionCheck      MEM-5   10/10   search  22.9      19.0      18
    TlbwrSkipsSameBinding           TLB-1   10/10   search  20.3      15.7      4
    CidSwitchStaleHwCid             TLB-3   10/10   sweep   2.3       0.3       5
    CidSwitchSameIdFreesIt          TLB-3   10/10   sweep   0.6       0.0       2
    GmClearKeepsPageIndex           REV-1   10/10   sweep   0.3       0.2       5
    GrantClearsGranterRecord        MEM-3   10/10   sweep   3.2       0.5       10
    AbortPageKeepsOwnedIndex        REV-3   10/10   sweep   7.0       3.7       17
    AbortSliceKeepsIndex            REV-3   10/10   search  17.4      14.7      19
    AbortSliceIdlesTransferee       REV-3   10/10   sweep   3.6       0.6       11
    AbortFilterKeepsDemux           REV-3   10/10   search  16.0      10.6      17
    ScallKeepsCallerSliceIndex      PCT-1   10/10   search  41.4      22.0      17
    DestroyResetsRingCountOnly      ENV-2   10/10   search  10.2      7.5       6
    DestroyKeepsStlbOfCid           TLB-9   10/10   search  28.0      18.4      6
    FilterRemoveKeepsOwnerIndex     NET-2   10/10   search  34.8      27.7      6
    DemuxMemoSurvivesInstall        NET-3   10/10   search  7.2       4.8       4
    FilterSlotCursor                NET-1   10/10   sweep   0.7       0.2       5
    RingRewindsOnDrain              NET-4   10/10   sweep   0.4       0.1       4
    caught 730/730 runs; 73/73 entries in every run

Runs of the same command earlier that day, before four cells were added (REV-3's abort on
the deadline's own tick, TLB-8's lowest of several guaranteed slots, REV-3's slice run
by another environment, ENV-2's destroy after a repossessed page went to another), each
missed one entry at one seed: AbortAtDeadline (seed 6), GuaranteedLastSlotWins (9),
AbortPageKeepsOwnedIndex (8, then 10 after a rule change), AbortSliceIdlesTransferee (4).
Each is now caught by the sweep. The 2026-11-28 run of the first 45 entries caught 450 of
450.

For every catalogue entry and every seed S..S+N-1 (S = --start, default 1) it runs
``run_check(entry, Config(**CONFIG), steps=M, examples=N, seed=s)`` and prints one row
per entry: the bug, the clause it violates, runs caught / runs, the median seconds to a
verdict over the runs that caught it (generation and shrinking included) and the median
length in steps of the shrunk program (lines of ``report.program``). Progress goes to
stderr, one line per run. Exit code 0 if every entry was caught in every run, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exo.kit.check import CheckReport, run_check
from exo.kit.coverage import Coverage
from exo.kit.witnesses import sweep
from tests.catalogue import CATALOGUE, clause


@dataclass
class Row:
    """One entry's results over all seeds."""

    bug: str
    clause: str
    runs: int = 0
    caught: int = 0
    seconds: list[float] = field(default_factory=list)  # per run (caught or not)
    lengths: list[int] = field(default_factory=list)  # shrunk program, caught runs only
    missed_seeds: list[int] = field(default_factory=list)
    by_sweep: bool = False  # caught by the seed-independent witness sweep
    hits: list[bool] = field(default_factory=list)  # per run: caught
    shrink: list[float] = field(default_factory=list)  # caught runs: s from failure to verdict

    def median_seconds(self) -> float | None:
        hit = [s for s, ok in zip(self.seconds, self.hits, strict=True) if ok]
        return statistics.median(hit) if hit else None

    def median_length(self) -> float | None:
        return statistics.median(self.lengths) if self.lengths else None

    def median_shrink(self) -> float | None:
        return statistics.median(self.shrink) if self.shrink else None


def program_length(report: CheckReport) -> int:
    """The failure's length in calls: the replayed and minimized calls when the failure
    replays outside Hypothesis, else the non-empty lines of Hypothesis's shrunk program."""
    if report.trace is not None:
        return len(report.trace)
    return sum(1 for line in report.program.splitlines() if line.strip())


def measure(name: str, seeds: int, examples: int, steps: int, start: int = 1) -> Row:
    cls = CATALOGUE[name]
    row = Row(name, clause(cls))
    # The witness sweep runs first in every run and does not depend on the seed: if it
    # catches the entry, every seeded run catches it the same way, at the same time.
    t0 = time.perf_counter()
    swept = sweep(cls, Coverage())
    if swept is not None:
        report = run_check(cls, None, steps=steps, examples=examples, seed=start)
        dt = time.perf_counter() - t0
        assert not report.passed, f"{name}: caught by the sweep alone, not by run_check"
        row.by_sweep = True
        for _ in range(seeds):
            row.runs += 1
            row.caught += 1
            row.seconds.append(dt)
            row.hits.append(True)
            row.lengths.append(program_length(report))
            row.shrink.append(report.seconds_to_shrink or 0.0)
        print(f"{name}: caught by the witness sweep in every run, {program_length(report)} "
              f"steps ({dt:.1f} s)", file=sys.stderr, flush=True)
        return row
    for seed in range(start, start + seeds):
        t0 = time.perf_counter()
        # as `exo check` runs by default: spread over exo.kit.configs.KIT_CONFIGS
        report = run_check(cls, None, steps=steps, examples=examples, seed=seed)
        dt = time.perf_counter() - t0
        caught = not report.passed
        row.runs += 1
        row.seconds.append(dt)
        row.hits.append(caught)
        if caught:
            row.caught += 1
            row.lengths.append(program_length(report))
            row.shrink.append(report.seconds_to_shrink or 0.0)
        else:
            row.missed_seeds.append(seed)
        verdict = (f"caught, {program_length(report)} steps, shrunk in "
                   f"{report.seconds_to_shrink or 0.0:.1f} s" if caught else "MISSED")
        print(f"{name} seed {seed}: {verdict} ({dt:.1f} s)", file=sys.stderr, flush=True)
    return row


def fmt(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def table(rows: list[Row]) -> str:
    head = ("bug", "clause", "caught", "by", "median s", "shrink s", "median steps")
    body = [(r.bug, r.clause, f"{r.caught}/{r.runs}", "sweep" if r.by_sweep else "search",
             fmt(r.median_seconds(), ".1f"), fmt(r.median_shrink(), ".1f"),
             fmt(r.median_length(), ".0f")) for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(b, widths, strict=True)) for b in body]
    total = sum(r.runs for r in rows)
    caught = sum(r.caught for r in rows)
    always = sum(1 for r in rows if r.caught == r.runs)
    lines.append(f"caught {caught}/{total} runs; {always}/{len(rows)} entries in every run")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--seeds", type=int, default=3, help="seeds 1..N (default 3)")
    ap.add_argument("--start", type=int, default=1, help="first seed (default 1)")
    ap.add_argument("--examples", type=int, default=200, help="programs per run (200)")
    ap.add_argument("--steps", type=int, default=50, help="steps per program (50)")
    ap.add_argument("--only", action="append", metavar="NAME",
                    help="only this entry (repeatable)")
    ap.add_argument("--json", type=Path, metavar="PATH", help="also write the rows as JSON")
    a = ap.parse_args(argv)
    names = a.only or list(CATALOGUE)
    unknown = [n for n in names if n not in CATALOGUE]
    if unknown:
        ap.error(f"unknown entries: {', '.join(unknown)}")
    rows = [measure(n, a.seeds, a.examples, a.steps, a.start) for n in names]
    print(table(rows), flush=True)
    if a.json is not None:
        data = {"seeds": a.seeds, "start": a.start, "examples": a.examples, "steps": a.steps,
                "rows": [asdict(r) | {"median_seconds": r.median_seconds(),
                                      "median_shrink": r.median_shrink(),
                                      "median_length": r.median_length()} for r in rows]}
        a.json.write_text(json.dumps(data, indent=2) + "\n")
    return 0 if all(r.caught == r.runs for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
