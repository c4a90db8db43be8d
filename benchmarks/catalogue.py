"""How well ``exo check`` (``exo.kit.run_check``) catches the broken implementations of
``tests/catalogue.py``.

Measured on 2026-11-28 with exo check's default budget (``run_check(entry, None,
steps=50, examples=200)``: the witness sweep, then generation over KIT_CONFIGS), seeds
1-10, two halves of the catalogue side by side on 2 cores::

    python benchmarks/catalogue.py --seeds 10 --only TlbReplaceKeepsStaleIndex --only ...

Every entry was caught in 10 of 10 runs: 450 of 450. 37 entries are caught by the witness
sweep (``exo.kit.witnesses``), which runs first and does not depend on the seed; 8 by the
seeded search. *median s*: seconds to a verdict; *shrink s*: of those, from the first
failure to the verdict (Hypothesis's shrinking, at most 8 s, then step deletion, at most
15 s); *median steps*: length of the minimized failing program::

    bug                           clause  caught  by      median s  shrink s  median steps
    ----------------------------  ------  ------  ------  --------  --------  ------------
    TlbReplaceKeepsStaleIndex     TLB-9   10/10   sweep   2.9       0.1       7
    GrantSkipsHolders             MEM-2   10/10   sweep   0.2       0.1       5
    AllocSkipsOwned               ENV-2   10/10   sweep   0.6       0.2       6
    StlbWrongSlot                 TLB-7   10/10   sweep   0.0       0.0       3
    CidSwitchKeepsStlb            TLB-3   10/10   sweep   2.3       0.0       4
    DeallocLeavesGranteeStlb      MEM-2   10/10   sweep   0.8       0.1       6
    GrantTooLargeRights           MEM-3   10/10   sweep   0.2       0.1       5
    RingFullNotCounted            NET-3   10/10   sweep   0.4       0.2       5
    RingOrderReversed             NET-4   10/10   sweep   12.7      11.6      5
    ExcessNotCharged              CPU-4   10/10   sweep   2.5       2.5       21
    ExcessChargedToSliceOwner     CPU-4   10/10   sweep   0.7       0.6       12
    AbortLeavesOwnerRunning       REV-3   10/10   sweep   0.4       0.2       9
    AbortSkipsRepoVector          REV-4   10/10   sweep   0.2       0.2       7
    ScallNoDonation               PCT-1   10/10   sweep   0.3       0.3       7
    PctClearsRegisters            PCT-3   10/10   sweep   0.8       0.7       13
    ProtectionAsTlbMiss           MEM-5   10/10   sweep   0.5       0.3       9
    NoHandlerNotKilled            EXC-2   10/10   sweep   0.8       0.1       5
    FilterHighestSlot             NET-1   10/10   sweep   0.1       0.1       2
    PacketBoundsOffByOne          NET-3   10/10   sweep   1.4       0.3       3
    SetRegChecksRunningFirst      CPU-6   10/10   search  9.3       8.0       1
    TlbwrVpageAtLimit             TLB-1   10/10   search  9.0       6.6       1
    YieldToOutOfRange             CPU-3   10/10   search  11.9      9.5       14
    RevokeGuaranteedPage          REV-5   10/10   sweep   0.2       0.1       4
    StlbDropKeepsPageIndex        TLB-9   10/10   search  5.2       3.6       6
    GmSetSkipsIndex               TLB-9   10/10   sweep   0.1       0.1       4
    RefillNotWrittenBack          TLB-8   10/10   sweep   0.4       0.3       10
    TlbvadeleteKeepsStlb          TLB-2   10/10   sweep   1.0       0.1       4
    DeallocKeepsStlb              MEM-2   10/10   sweep   0.2       0.1       4
    DeallocLeavesGranteeTlb       MEM-2   10/10   sweep   0.9       0.1       6
    GrantDowngrades               MEM-3   10/10   search  11.4      8.4       3
    RingOneShort                  NET-3   10/10   sweep   0.4       0.1       4
    PacketTakeEmptyOk             NET-4   10/10   sweep   0.3       0.1       2
    KillOneTickEarly              CPU-4   10/10   sweep   0.6       0.5       10
    SliceFreeEndsRunningSlice     CPU-2   10/10   sweep   1.2       0.1       5
    AbortAtDeadline               REV-3   10/10   search  14.8      10.0      14
    AbortNoRepossessionException  REV-4   10/10   sweep   0.3       0.2       7
    AcallDonates                  PCT-2   10/10   sweep   0.4       0.3       8
    AcallIgnoresNoTime            PCT-2   10/10   sweep   0.8       0.3       9
    BadvpageNotSet                EXC-2   10/10   sweep   0.3       0.2       6
    RaiseAcceptsTlbMiss           EXC-1   10/10   sweep   2.1       0.6       8
    FilterRemoveStaleDemux        NET-2   10/10   search  11.4      8.8       4
    FilterInstallSkipsOverlap     NET-1   10/10   sweep   9.9       8.5       4
    EntryAtAddrLimit              GEN-3   10/10   search  8.1       6.5       2
    RevokeDeadlineNow             REV-1   10/10   sweep   0.6       0.1       4
    GmSetIgnoresRevocation        REV-5   10/10   sweep   0.2       0.1       4
    caught 450/450 runs; 45/45 entries in every run

The same run at commit 320915f (before the cases of a ring of different packets, the
slice in progress freed, and kernel-only exception kinds, with their witnesses) caught
446 of 450: RingOrderReversed (seed 8), SliceFreeEndsRunningSlice (seed 10) and
RaiseAcceptsTlbMiss (seeds 6, 9) escaped. Partial runs before the scenarios scheduled an
environment first missed StlbDropKeepsPageIndex (seeds 5, 7) and CidSwitchKeepsStlb
(seed 6).

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
