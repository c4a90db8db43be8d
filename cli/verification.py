"""The checks behind ``exo verify``: each returns ``(passed, one-line detail)``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import z3

from exo.interface import OPERATIONS, Config
from exo.kit.explore import random_walk
from exo.logic import strict_symbolic
from exo.model import REGISTRY, initial, symbolic
from exo.proofs.obligations import Obligation, ProofResult
from exo.spec.invariants import INVARIANTS, all_hold, check

BOOT_CONFIGS: dict[str, Config] = {
    "smallest": Config(n_envs=1, n_pages=1, page_words=1, tlb_size=1, stlb_size=1, n_cids=1,
                       n_slices=1, n_guaranteed=1, n_regs=1, slice_ticks=1, excess_limit=0),
    "default": Config(),
    "aegis-like": Config(n_envs=8, n_pages=64, page_words=4, tlb_size=64, stlb_size=256,
                         n_cids=64, n_slices=8, n_guaranteed=4, n_regs=8),
}
"""Sizes on which the boot state is checked concretely (the proofs cover every size)."""

WALK_CONFIGS: dict[str, Config] = {
    "default sizes": Config(),
    "crowded (collisions)": Config(n_envs=3, n_pages=3, page_words=2, tlb_size=1,
                                   stlb_size=2, n_cids=3, n_slices=2, n_guaranteed=1,
                                   n_regs=2, slice_ticks=2, excess_limit=1),
}
"""Sizes of the random walks: the default, and one small enough that slots collide."""


def check_spec_index() -> tuple[bool, str]:
    from exo.spec.clauses import index, problems

    issues = problems()
    if issues:
        more = f" (+{len(issues) - 1} more)" if len(issues) > 1 else ""
        return False, issues[0] + more
    clauses = index()
    return True, f"{len(clauses)} clauses, each with its home in the model"


def check_boot_states() -> tuple[bool, str]:
    for name, cfg in BOOT_CONFIGS.items():
        broken = check(initial(cfg))
        if broken:
            return False, f"{name}: {', '.join(broken)} violated"
    return True, (f"{len(INVARIANTS)} invariants hold at boot for "
                  f"{len(BOOT_CONFIGS)} configurations")


def check_walk(cfg: Config, steps: int, seed: int,
               on_step: Callable[[int], None] | None = None) -> tuple[bool, str]:
    walk = random_walk(cfg, steps, seed, on_step)
    if walk.failure is not None:
        return False, walk.failure
    ok = sum(n for (_, st), n in walk.statuses.items() if st == "OK")
    kinds = Counter(op for (op, st) in walk.statuses if st == "OK")
    return True, (f"{walk.steps} steps, {ok} succeeded, {len(kinds)}/{len(REGISTRY)} "
                  f"operations succeeded at least once, invariants held after every step")


def check_symbolic_run() -> tuple[bool, str]:
    from exo.proofs.building import symbolic_args

    for name, op in REGISTRY.items():
        try:
            with strict_symbolic():
                s = symbolic()
                post, _ = op(s, *symbolic_args(OPERATIONS[name]))
                if not isinstance(all_hold(post), z3.BoolRef):
                    return False, f"{name}: invariants did not build a Z3 formula"
        except (TypeError, RuntimeError, z3.Z3Exception) as exc:
            return False, f"{name}: {exc}"
    return True, f"all {len(REGISTRY)} operations ran on Z3 terms without a Python branch"


def check_demux() -> tuple[bool, str]:
    """FLT-8: the implementation's generated demultiplexer, for each bundled tcpdump
    program alone and for all of them together, proved equal to the model's interpreter."""
    from exo.impl.demux import Demux
    from exo.kit.bpf_samples import SAMPLES
    from exo.proofs.demux import UnsupportedSource, ValidationError, check_source

    sets = [[(0, 1, prog)] for prog in SAMPLES.values()]
    sets.append([(slot, slot % 3, prog) for slot, prog in enumerate(SAMPLES.values())])
    merged = 0
    for filters in sets:
        demux = Demux()
        for slot, owner, prog in filters:
            demux.add(slot, owner, prog)
        merged += len(demux.merged_slots())
        try:
            finding = check_source(demux.source(), demux.installed())
        except (UnsupportedSource, ValidationError) as exc:
            return False, f"{type(exc).__name__}: {exc}"
        if finding is not None:
            return False, str(finding)
    return True, (f"{len(sets)} generated modules ({len(SAMPLES)} tcpdump programs alone and "
                  f"together; {merged} merged filters) proved equal to the reference")


def check_proofs(obs: list[Obligation], jobs: int, on_result: Callable[[ProofResult], None]
                 ) -> tuple[bool, str]:
    from exo.proofs import runner

    try:
        manifest = runner.load_manifest(runner.default_manifest_path())
    except runner.ManifestError as exc:  # a broken install: a failed check, not a crash
        return False, str(exc)
    results = runner.run_parallel(obs, manifest, jobs, on_result)
    mismatches = runner.compare(results, manifest, complete=True)
    bad = sorted((r for r in results if not r.ok), key=lambda r: r.obligation.name)
    if bad:
        first = bad[0]
        return False, (f"{len(bad)} of {len(results)} not proved; first: "
                       f"{first.obligation.name} {first.verdict}: {first.detail} "
                       f"(details: exo prove -k {first.obligation.name})")
    if mismatches:
        return False, (f"all proved but {len(mismatches)} differ from the manifest; first: "
                       f"{mismatches[0].name}: {mismatches[0].problem}")
    slowest = max(results, key=lambda r: r.seconds)
    return True, (f"{len(results)} obligations proved for all sizes, manifest matched "
                  f"(slowest {slowest.obligation.name}, {slowest.seconds:.2f}s)")
