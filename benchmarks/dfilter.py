"""The exact overlap of declarative filters (FLT-9, ``exo.model.dfilter.overlap``) against
FLT-6's Z3 overlap of the same filters as classic-BPF programs: do they agree, and what
does each cost.

    python benchmarks/dfilter.py --pairs 2000 [--seed 0] [--repeat 20]

For each random pair (1..3 conjunctions of 0..4 atoms at offsets 0..40, the distribution
of ``tests/test_dfilter.py``): the exact answer, then ``exo.model.filters.overlap`` on
``to_program`` of both, with both programs' terms built beforehand (a kernel keeps each
installed filter's term, FLT-6), so the Z3 time is the question alone. They agree when
both say "disjoint", or both find a packet and the exact witness is accepted by both
DFilters and by both programs. Z3 undecided counts as a disagreement. The exact time is
the mean of ``--repeat`` calls on the pair; the figures are medians over the pairs. The
same for two recognized port filters (``exo.cli.bench.port_filter``, 53 and 54 and 53
with itself). Exit 1 on any disagreement.

Measured on 2026-12-07 (2-core machine, under load), ``--pairs 2000``::

    pairs: 2000, agree: 2000 (overlap 1640, disjoint 360), disagree: 0, undecided: 0
    exact overlap: median 9.3 us per decision (max 57.0 us)
    Z3 overlap (FLT-6, terms cached): median 12381 us per question (max 27602 us)
    port filters 53/54 (disjoint): exact 6.9 us, Z3 5425 us
    port filters 53/53 (overlap): exact 8.1 us, Z3 9960 us

The exact decision is about 1,300 times faster than the Z3 question here, and needs no
budget: it cannot be undecided. The whole run took 30 s.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exo.cli.bench import port_filter
from exo.model import filters
from exo.model.dfilter import Atom, DFilter, accepts, overlap, recognize, to_program


def random_atom(rng: random.Random) -> Atom:
    """As ``tests/test_dfilter.py``'s ``make_atom``: offsets mostly 0..5 so atoms meet."""
    size = rng.choice((1, 2, 4))
    full = (1 << 8 * size) - 1
    kind = rng.randint(0, 4)
    mask = (0 if kind == 0 else full if kind <= 2 else 1 << rng.randint(0, 8 * size - 1)
            if kind == 3 else rng.randint(1, full))
    vkind = rng.randint(0, 3)
    value = (0 if vkind == 0 else mask if vkind == 1 else rng.randint(0, full)) & mask
    offset = rng.randint(0, 40) if rng.randint(0, 3) == 0 else rng.randint(0, 5)
    return Atom(offset, size, mask, value)


def random_dfilter(rng: random.Random) -> DFilter:
    return tuple(tuple(random_atom(rng) for _ in range(rng.randint(0, 4)))
                 for _ in range(rng.randint(1, 3)))


def exact_us(a: DFilter, b: DFilter, repeat: int) -> float:
    """Microseconds per ``overlap(a, b)``, the mean of ``repeat`` calls."""
    t0 = time.perf_counter()
    for _ in range(repeat):
        overlap(a, b)
    return (time.perf_counter() - t0) / repeat * 1e6


def z3_us(pa: filters.Program, pb: filters.Program) -> tuple[filters.Overlap, float]:
    """FLT-6's answer for the two programs and its microseconds, terms built first."""
    filters.verdict_term(pa)
    filters.verdict_term(pb)
    t0 = time.perf_counter()
    found = filters.overlap(pa, (pb,))
    return found, (time.perf_counter() - t0) * 1e6


def disagreement(a: DFilter, b: DFilter, found: filters.Overlap) -> str | None:
    """Why the exact answer and Z3's disagree, or None."""
    w = overlap(a, b)
    if isinstance(found, filters.Undecided):
        return "Z3 undecided"
    if (w is None) != (found is None):
        return f"exact {None if w is None else w.hex()}, Z3 {found!r}"
    if w is not None and not (accepts(a, w) and accepts(b, w)
                              and filters.evaluate(to_program(a), w) != 0
                              and filters.evaluate(to_program(b), w) != 0):
        return f"witness {w.hex()} not accepted by both"
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--pairs", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=20, help="exact calls timed per pair")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    exact: list[float] = []
    solver: list[float] = []
    agree = overlaps = undecided = 0
    problems: list[str] = []
    for i in range(args.pairs):
        a, b = random_dfilter(rng), random_dfilter(rng)
        exact.append(exact_us(a, b, args.repeat))
        found, us = z3_us(to_program(a), to_program(b))
        solver.append(us)
        undecided += isinstance(found, filters.Undecided)
        why = disagreement(a, b, found)
        if why is None:
            agree += 1
            overlaps += found is not None
        else:
            problems.append(f"pair {i}: {why}: {a!r} {b!r}")
        if (i + 1) % 200 == 0:
            print(f"  {i + 1}/{args.pairs} pairs, {len(problems)} disagreements",
                  file=sys.stderr, flush=True)
    print(f"pairs: {args.pairs}, agree: {agree} (overlap {overlaps}, disjoint "
          f"{agree - overlaps}), disagree: {len(problems)}, undecided: {undecided}")
    print(f"exact overlap: median {statistics.median(exact):.1f} us per decision "
          f"(max {max(exact):.1f} us)")
    print(f"Z3 overlap (FLT-6, terms cached): median {statistics.median(solver):.0f} us per "
          f"question (max {max(solver):.0f} us)")
    for x, y, what in ((53, 54, "disjoint"), (53, 53, "overlap")):
        pa, pb = port_filter(x), port_filter(y)
        da, db = recognize(pa), recognize(pb)
        assert da is not None and db is not None
        found, us = z3_us(pa, pb)
        why = disagreement(da, db, found)
        if why is not None:
            problems.append(f"port filters {x}/{y}: {why}")
        print(f"port filters {x}/{y} ({what}): exact "
              f"{statistics.median(exact_us(da, db, args.repeat) for _ in range(5)):.1f} us, "
              f"Z3 {us:.0f} us")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
