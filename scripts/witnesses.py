"""Write kit/witnesses.json: short concrete programs that together hit every reachable
cell of exo.kit.coverage (see exo.kit.witnesses).

    python scripts/witnesses.py [--seeds 6] [--examples 400] [--steps 50] [--keep]

Runs the kit on the model (exo.kit.ModelImplementation) over exo.kit.configs.KIT_CONFIGS with
several seeds, keeps for each cell the shortest prefix of the example that first hit it,
replays each prefix to learn every cell it hits, and keeps a greedy cover. Prints the cells
no run hit (they must be in exo.kit.coverage.UNREACHABLE, or the generation needs work).
``--keep``: keep the shipped witnesses as they are and add programs only for the cells they
miss (a new cell of exo.kit.coverage), so the catalogue's sweep results stay comparable.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from exo.interface import OPERATIONS, Config
from exo.kit.configs import KIT_CONFIGS
from exo.kit.coverage import UNREACHABLE, Coverage, all_cells
from exo.kit.lockstep import Step
from exo.kit.machine import lockstep_machine
from exo.kit.witnesses import Witness, shipped, sweep, to_json
from exo.model.kernel import ModelImplementation

OUT = Path(__file__).resolve().parent.parent / "kit" / "witnesses.json"


NET_FREE = frozenset(op for op, sig in OPERATIONS.items() if not sig.clause.startswith("NET"))
"""The operations of a kernel without packet filters (examples/c-kernel, ``--ops
ENV,MEM,TLB,CPU,PCT,EXC,REV``): the witnesses cut to them must still set up every cell
those operations can reach."""


def _key(steps: list[Step]) -> tuple[bool, int]:
    """Prefer programs that call no packet-filter operation, then shorter ones."""
    return any(name not in NET_FREE for name, _ in steps), len(steps)


def collect(seeds: int, examples: int, steps: int) -> dict[str, tuple[Config, list[Step]]]:
    found: dict[str, tuple[Config, list[Step]]] = {}
    for cfg in KIT_CONFIGS:
        base = lockstep_machine(ModelImplementation, cfg)

        def apply(self: Any, name: str, args: Any, _cfg: Config = cfg,
                  _super: Any = base._apply) -> Any:
            before = set(self.cells)
            res = _super(self, name, args)
            for cell in self.cells - before:
                if cell not in found or _key(found[cell][1]) > _key(self.trace):
                    found[cell] = (_cfg, list(self.trace))
            return res

        collector = type(base.__name__, (base,), {"_apply": apply})
        for seed in range(1, seeds + 1):
            run_machine(collector, cfg, examples, steps, seed)
            print(f"{cfg.n_envs} envs, tlb {cfg.tlb_size}, seed {seed}: {len(found)} cells",
                  file=sys.stderr, flush=True)
    return found


def run_machine(machine: Any, cfg: Config, examples: int, steps: int, seed: int) -> None:
    from hypothesis import Phase, settings
    from hypothesis import core as hypothesis_core
    from hypothesis.stateful import run_state_machine_as_test

    from exo.kit.machine import HEALTH
    hypothesis_core.global_force_seed = seed  # type: ignore[assignment]
    coverage = Coverage()
    machine.coverage = coverage
    run_state_machine_as_test(machine, settings=settings(
        max_examples=examples, stateful_step_count=steps, deadline=None,
        suppress_health_check=HEALTH, database=None, phases=(Phase.generate,)))


def cells_hit(cfg: Config, steps: tuple[Step, ...]) -> Witness:
    """The witness of these calls with the cells its replay on the model hits."""
    cov = Coverage()
    w = Witness(cfg, steps, ())
    assert sweep(ModelImplementation, cov, witnesses=(w,)) is None
    return Witness(cfg, steps, tuple(sorted(cov.counts)))


def cover(found: dict[str, tuple[Config, list[Step]]],
          kept: list[Witness]) -> list[Witness]:
    candidates: list[Witness] = []
    seen: set[tuple[Any, ...]] = set()
    for cfg, steps in found.values():
        key = (cfg, tuple(steps))
        if key in seen:
            continue
        seen.add(key)
        candidates.append(cells_hit(cfg, tuple(steps)))
    need = {c.id for c in all_cells()} - UNREACHABLE
    chosen: list[Witness] = list(kept)
    for w in kept:
        need -= set(w.cells)
    _greedy(candidates, need, chosen)
    # cut to the operations of a kernel without filters, the chosen programs must still
    # reach what programs without filter calls reach
    net_free = [w for w in candidates if all(n in NET_FREE for n, _ in w.steps)]
    cut = Coverage()
    assert sweep(ModelImplementation, cut, witnesses=tuple(chosen), ops=NET_FREE) is None
    _greedy(net_free, {c for w in net_free for c in w.cells} - set(cut.counts), chosen)
    return chosen


def _greedy(candidates: list[Witness], need: set[str], chosen: list[Witness]) -> None:
    """Add to ``chosen`` the candidates that hit most of ``need`` (shortest first on a
    tie) until nothing more of it can be hit."""
    while need and candidates:
        best = max(candidates, key=lambda w: (len(need & set(w.cells)), -len(w.steps)))
        gain = need & set(best.cells)
        if not gain:
            break
        chosen.append(best)
        need -= gain


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--examples", type=int, default=400)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--keep", action="store_true",
                    help="keep the shipped witnesses; add programs for missing cells only")
    a = ap.parse_args()
    kept = [cells_hit(w.cfg, w.steps) for w in shipped()] if a.keep else []
    found = collect(a.seeds, a.examples, a.steps)
    chosen = cover(found, kept)
    covered = {c for w in chosen for c in w.cells}
    outside = sorted(set(found) - {c.id for c in all_cells()})
    if outside:  # a status or outcome an operation gave that its clause does not name
        print(f"hit but not in the spec's cells: {', '.join(outside)}", file=sys.stderr)
    missing = [c.id for c in all_cells() if c.id not in covered and c.id not in UNREACHABLE]
    OUT.write_text(to_json(chosen))
    print(f"{len(chosen)} witnesses, {sum(len(w.steps) for w in chosen)} calls, "
          f"{len(covered)} cells; written to {OUT}", file=sys.stderr)
    if missing:
        print(f"not hit by any run: {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
